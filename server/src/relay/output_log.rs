//! The resume buffer: the last `capacity` bytes of a session's output, with
//! their offsets in the session's output stream (byte 0 is the first byte
//! the process wrote).
//!
//! A page that reconnects says how many output bytes it has parsed; the
//! relay replays from there ([`OutputLog::replay`]), or from the oldest byte
//! it still holds and says how many are gone. Memory grows with the output,
//! never past `capacity`: an idle session costs nothing here.

/// Bytes sent to a browser in one replayed frame.
pub const REPLAY_FRAME: usize = 32 << 10;

/// A ring of the last `capacity` output bytes.
#[derive(Debug)]
pub struct OutputLog {
    capacity: usize,
    /// Held bytes: while filling, in order from index 0; once full, the
    /// oldest is at `head`.
    ring: Vec<u8>,
    head: usize,
    /// Offset just past the newest byte: every byte ever appended.
    end: u64,
}

/// What a resume gets from the log.
#[derive(Debug, PartialEq, Eq)]
pub struct Replay {
    /// The session offset of the first byte of `bytes`.
    pub from: u64,
    /// Bytes between the asked offset and `from` no longer held.
    pub lost: u64,
    /// The bytes from `from` to the end, in frames of at most
    /// [`REPLAY_FRAME`] bytes.
    pub frames: Vec<bytes::Bytes>,
}

/// A resume asked for output beyond what the session has produced.
#[derive(Debug, PartialEq, Eq)]
pub struct AheadOfOutput {
    /// The offset asked for.
    pub asked: u64,
    /// The session's output so far.
    pub end: u64,
}

impl OutputLog {
    /// A log holding at most `capacity` bytes (`--resume-buffer`); 0 keeps
    /// nothing but still counts offsets.
    pub fn new(capacity: usize) -> OutputLog {
        OutputLog { capacity, ring: Vec::new(), head: 0, end: 0 }
    }

    /// Offset just past the newest byte (all output so far).
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Offset of the oldest byte held.
    pub fn start(&self) -> u64 {
        self.end - self.ring.len() as u64
    }

    /// Appends output, dropping the oldest bytes beyond the capacity.
    pub fn append(&mut self, mut data: &[u8]) {
        self.end += data.len() as u64;
        let cap = self.capacity;
        if cap == 0 {
            return;
        }
        if data.len() > cap {
            data = &data[data.len() - cap..];
        }
        if self.ring.len() < cap {
            let n = (cap - self.ring.len()).min(data.len());
            // Grow by doubling, but never past the capacity.
            let want = self.ring.len() + n;
            if want > self.ring.capacity() {
                let target = (self.ring.capacity() * 2).clamp(want, cap);
                self.ring.reserve_exact(target - self.ring.len());
            }
            self.ring.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
        while !data.is_empty() {
            let n = (cap - self.head).min(data.len());
            self.ring[self.head..self.head + n].copy_from_slice(&data[..n]);
            self.head = (self.head + n) % cap;
            data = &data[n..];
        }
    }

    /// The held bytes in order, as two slices.
    fn held(&self) -> (&[u8], &[u8]) {
        let (newer, older) = self.ring.split_at(self.head);
        (older, newer)
    }

    /// Everything from `offset` on that is still held, and how much before
    /// it is not.
    pub fn replay(&self, offset: u64) -> Result<Replay, AheadOfOutput> {
        if offset > self.end {
            return Err(AheadOfOutput { asked: offset, end: self.end });
        }
        let from = offset.max(self.start());
        let skip = (from - self.start()) as usize;
        let (a, b) = self.held();
        let (a, b) = if skip <= a.len() { (&a[skip..], b) } else { (&a[a.len()..], &b[skip - a.len()..]) };
        let mut frames = Vec::new();
        for part in [a, b] {
            frames.extend(part.chunks(REPLAY_FRAME).map(bytes::Bytes::copy_from_slice));
        }
        Ok(Replay { from, lost: from - offset, frames })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replayed(log: &OutputLog, offset: u64) -> (u64, u64, Vec<u8>) {
        let r = log.replay(offset).unwrap();
        (r.from, r.lost, r.frames.concat())
    }

    #[test]
    fn holds_everything_until_full() {
        let mut log = OutputLog::new(10);
        log.append(b"hello");
        log.append(b" you");
        assert_eq!((log.start(), log.end()), (0, 9));
        assert_eq!(replayed(&log, 0), (0, 0, b"hello you".to_vec()));
        assert_eq!(replayed(&log, 6), (6, 0, b"you".to_vec()));
        assert_eq!(replayed(&log, 9), (9, 0, vec![]));
        assert_eq!(log.replay(10), Err(AheadOfOutput { asked: 10, end: 9 }));
    }

    #[test]
    fn keeps_the_newest_bytes_across_the_wrap() {
        let mut log = OutputLog::new(8);
        let mut all = Vec::new();
        for i in 0..50u8 {
            let chunk: Vec<u8> = (0..(i % 5 + 1)).map(|j| i.wrapping_mul(7).wrapping_add(j)).collect();
            log.append(&chunk);
            all.extend_from_slice(&chunk);
            let end = all.len() as u64;
            assert_eq!(log.end(), end);
            assert_eq!(log.start(), end.saturating_sub(8));
            for offset in 0..=end {
                let (from, lost, bytes) = replayed(&log, offset);
                assert_eq!(from, offset.max(log.start()));
                assert_eq!(lost, from - offset);
                assert_eq!(bytes, all[from as usize..]);
            }
        }
        assert!(log.ring.capacity() <= 8);
    }

    #[test]
    fn an_append_larger_than_the_capacity_keeps_its_tail() {
        let mut log = OutputLog::new(4);
        log.append(b"ab");
        log.append(b"0123456789");
        assert_eq!(replayed(&log, 0), (8, 8, b"6789".to_vec()));
    }

    #[test]
    fn capacity_zero_counts_offsets_only() {
        let mut log = OutputLog::new(0);
        log.append(b"abc");
        assert_eq!(replayed(&log, 1), (3, 2, vec![]));
    }

    #[test]
    fn replays_in_bounded_frames() {
        let mut log = OutputLog::new(100_000);
        log.append(&vec![b'x'; 70_000]);
        let r = log.replay(0).unwrap();
        assert_eq!(r.frames.iter().map(|f| f.len()).collect::<Vec<_>>(), [REPLAY_FRAME, REPLAY_FRAME, 70_000 - 2 * REPLAY_FRAME]);
    }
}
