//! Where a chunk of terminal output may be cut without splitting a UTF-8
//! character.
//!
//! Output is bytes end to end, and a PTY read (hence a WebSocket frame) may
//! end inside a character. xterm.js 6 loses a 3-byte character whose first
//! two bytes end one `write` (case-005), so the browser holds back an
//! incomplete tail ([`incomplete_tail`]) and writes it with the next frame.
//! Invalid bytes are not held: they are passed on for the terminal to show
//! as it does.

/// How many bytes at the end of `bytes` (0 to 3) begin a UTF-8 character
/// that is not complete yet: a lead byte (2-, 3- or 4-byte form) followed
/// by fewer continuation bytes than it announces. 0 when the chunk ends on
/// a character boundary or in bytes that can never become a character.
pub fn incomplete_tail(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let byte = bytes[bytes.len() - back];
        let needs = match byte {
            0x80..=0xBF => continue, // a continuation: look further back
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return 0, // ASCII, or a byte no character starts with
        };
        return if back < needs { back } else { 0 };
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_split_of_every_length_is_found() {
        for text in ["é", "—", "😀"] {
            let bytes = text.as_bytes();
            for cut in 1..bytes.len() {
                let mut chunk = b"A".to_vec();
                chunk.extend_from_slice(&bytes[..cut]);
                assert_eq!(incomplete_tail(&chunk), cut, "{text} cut after {cut}");
            }
            let mut whole = b"A".to_vec();
            whole.extend_from_slice(bytes);
            assert_eq!(incomplete_tail(&whole), 0, "{text} whole");
        }
    }

    #[test]
    fn boundaries_and_invalid_bytes_are_not_held() {
        assert_eq!(incomplete_tail(b""), 0);
        assert_eq!(incomplete_tail(b"abc"), 0);
        assert_eq!(incomplete_tail(&[0xFF]), 0);
        assert_eq!(incomplete_tail(&[0xC0]), 0, "overlong lead");
        assert_eq!(incomplete_tail(&[0x80, 0x80, 0x80]), 0, "stray continuations");
        assert_eq!(incomplete_tail(&[0xF0]), 1);
        assert_eq!(incomplete_tail(&[b'x', 0xE2, 0x80]), 2);
    }
}
