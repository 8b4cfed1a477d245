//! Recording a session as asciicast v2 ([`shared::asciicast`]) while the
//! relay relays it: output (`o`) and resizes (`r`) as they happen, and a
//! marker (`m`) with the end reason. Input is never recorded (passwords).
//!
//! The app asks for a recording in its authorize answer
//! ([`shared::api::RECORDING_HEADER`], with the title); the file is
//! `<dir>/<audit id>.cast`, written through a buffer. A recording that
//! reaches its size cap stops with a marker; one whose disk fails stops
//! with a log line. Neither ever ends or slows the session beyond the write.

use shared::asciicast::{Event, Header};
use shared::porthole::TerminalSize;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Where recordings go and how large each may grow.
#[derive(Debug, Clone)]
pub struct RecordingSettings {
    /// The recordings directory (`--recordings-dir`).
    pub dir: PathBuf,
    /// Bytes per recording at most (`--recording-max-bytes`).
    pub max_bytes: u64,
}

/// One session's recording file.
pub struct Recorder {
    file: std::io::BufWriter<std::fs::File>,
    started: Instant,
    written: u64,
    max_bytes: u64,
    /// The start of a UTF-8 character the last output ended in.
    held: Vec<u8>,
    stopped: bool,
}

impl Recorder {
    /// Creates `<dir>/<audit_id>.cast` with its header.
    pub fn create(settings: &RecordingSettings, audit_id: &str, size: TerminalSize, title: Option<String>) -> std::io::Result<Recorder> {
        let Some(name) = shared::asciicast::file_name(audit_id) else {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "the audit id cannot name a file"));
        };
        let path = settings.dir.join(name);
        let file = std::fs::File::options().write(true).create_new(true).open(&path)?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let mut recorder = Recorder {
            file: std::io::BufWriter::with_capacity(16 << 10, file),
            started: Instant::now(),
            written: 0,
            max_bytes: settings.max_bytes,
            held: Vec::new(),
            stopped: false,
        };
        recorder.write(Header::new(size.cols, size.rows, now, title).line());
        Ok(recorder)
    }

    /// Records output; a character split across calls is recorded whole.
    pub fn output(&mut self, bytes: &[u8]) {
        if self.stopped {
            return;
        }
        let mut joined = std::mem::take(&mut self.held);
        joined.extend_from_slice(bytes);
        let keep = shared::utf8::incomplete_tail(&joined);
        self.held = joined.split_off(joined.len() - keep);
        if !joined.is_empty() {
            self.event(Event::Output(String::from_utf8_lossy(&joined).into_owned()));
        }
    }

    /// Records a resize.
    pub fn resize(&mut self, size: TerminalSize) {
        self.event(Event::Resize(size.cols, size.rows));
    }

    /// Records the end (`m` with `reason`) and flushes the file.
    pub fn finish(&mut self, reason: &str) {
        if !self.held.is_empty() {
            let held = std::mem::take(&mut self.held);
            self.event(Event::Output(String::from_utf8_lossy(&held).into_owned()));
        }
        self.event(Event::Marker(reason.to_string()));
        if let Err(e) = self.file.flush() {
            tracing::warn!(error = %e, "writing a recording failed");
        }
    }

    fn event(&mut self, event: Event) {
        if self.stopped {
            return;
        }
        let line = event.line(self.started.elapsed().as_secs_f64());
        if self.written + line.len() as u64 > self.max_bytes {
            let cap = format!("recording stopped: the {} byte limit was reached", self.max_bytes);
            let marker = Event::Marker(cap).line(self.started.elapsed().as_secs_f64());
            self.write(marker);
            self.stopped = true;
            tracing::info!(max_bytes = self.max_bytes, "a recording reached its size limit");
            return;
        }
        self.write(line);
    }

    fn write(&mut self, line: String) {
        match self.file.write_all(line.as_bytes()) {
            Ok(()) => self.written += line.len() as u64,
            Err(e) => {
                tracing::warn!(error = %e, "writing a recording failed; it stops here");
                self.stopped = true;
            }
        }
    }
}

/// A session's recording, if it has one, shared by the loop's directions.
#[derive(Default)]
pub struct Recording(Mutex<Option<Recorder>>);

impl Recording {
    /// A recording that writes through `recorder` (`None`: records nothing).
    pub fn new(recorder: Option<Recorder>) -> Recording {
        Recording(Mutex::new(recorder))
    }

    fn with(&self, f: impl FnOnce(&mut Recorder)) {
        if let Ok(mut guard) = self.0.lock() {
            if let Some(recorder) = guard.as_mut() {
                f(recorder);
            }
        }
    }

    /// See [`Recorder::output`].
    pub fn output(&self, bytes: &[u8]) {
        self.with(|r| r.output(bytes));
    }

    /// See [`Recorder::resize`].
    pub fn resize(&self, size: TerminalSize) {
        self.with(|r| r.resize(size));
    }

    /// See [`Recorder::finish`].
    pub fn finish(&self, reason: &str) {
        self.with(|r| r.finish(reason));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: &std::path::Path, max_bytes: u64) -> RecordingSettings {
        RecordingSettings { dir: dir.to_path_buf(), max_bytes }
    }

    #[test]
    fn records_output_resizes_and_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Recorder::create(&settings(dir.path(), 1 << 20), "a1", TerminalSize { cols: 80, rows: 24 }, Some("t".into())).unwrap();
        r.output(b"caf\xc3");
        r.output(b"\xa9\r\n");
        r.resize(TerminalSize { cols: 100, rows: 30 });
        r.finish("the process exited with exit status 0");
        let text = std::fs::read_to_string(dir.path().join("a1.cast")).unwrap();
        let (header, events) = shared::asciicast::parse(&text).unwrap();
        assert_eq!((header.width, header.height, header.title.as_deref()), (80, 24, Some("t")));
        let events: Vec<Event> = events.into_iter().map(|(_, e)| e).collect();
        assert_eq!(
            events,
            [
                Event::Output("caf".into()),
                Event::Output("é\r\n".into()),
                Event::Resize(100, 30),
                Event::Marker("the process exited with exit status 0".into())
            ]
        );
    }

    #[test]
    fn stops_at_the_size_cap_with_a_marker() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Recorder::create(&settings(dir.path(), 300), "b2", TerminalSize { cols: 80, rows: 24 }, None).unwrap();
        for _ in 0..20 {
            r.output(b"0123456789");
        }
        r.finish("end");
        let text = std::fs::read_to_string(dir.path().join("b2.cast")).unwrap();
        let events = shared::asciicast::parse(&text).unwrap().1;
        assert!(matches!(&events.last().unwrap().1, Event::Marker(m) if m == "recording stopped: the 300 byte limit was reached"));
        assert!(text.len() < 400, "{}", text.len());
    }

    #[test]
    fn ids_that_are_not_file_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "../x", "a/b"] {
            assert!(Recorder::create(&settings(dir.path(), 1000), bad, TerminalSize { cols: 1, rows: 1 }, None).is_err());
        }
    }
}
