//! GitLab's terminal subprotocols, `terminal.gitlab.com` and
//! `base64.terminal.gitlab.com` (Workhorse `doc/development/workhorse/channel.md`,
//! `workhorse/internal/channel/wrappers.go`).
//!
//! Only terminal bytes travel: input up, output down; there is no resize and no
//! control message. `terminal.gitlab.com` uses binary frames; the base64
//! variant uses text frames holding standard, padded base64. Like Workhorse's
//! `gitlabWrapper`, decoding accepts either frame type.

use crate::{DecodeError, Frame};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;

/// `terminal.gitlab.com`: raw bytes in binary frames.
pub const TERMINAL: &str = "terminal.gitlab.com";
/// `base64.terminal.gitlab.com`: base64 of the bytes in text frames.
pub const BASE64_TERMINAL: &str = "base64.terminal.gitlab.com";

/// Which of the two GitLab subprotocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `terminal.gitlab.com`.
    Binary,
    /// `base64.terminal.gitlab.com`.
    Base64,
}

impl Encoding {
    /// The encoding a subprotocol name stands for.
    pub fn from_subprotocol(name: &str) -> Option<Encoding> {
        match name {
            TERMINAL => Some(Encoding::Binary),
            BASE64_TERMINAL => Some(Encoding::Base64),
            _ => None,
        }
    }

    /// The subprotocol name.
    pub fn subprotocol(self) -> &'static str {
        match self {
            Encoding::Binary => TERMINAL,
            Encoding::Base64 => BASE64_TERMINAL,
        }
    }
}

/// Encodes terminal bytes as one frame.
pub fn encode(encoding: Encoding, bytes: Bytes) -> Frame {
    match encoding {
        Encoding::Binary => Frame::Binary(bytes),
        Encoding::Base64 => Frame::Text(STANDARD.encode(&bytes)),
    }
}

/// Decodes one frame into terminal bytes.
pub fn decode(encoding: Encoding, frame: Frame) -> Result<Bytes, DecodeError> {
    match (encoding, frame) {
        (Encoding::Binary, Frame::Binary(bytes)) => Ok(bytes),
        (Encoding::Binary, Frame::Text(text)) => Ok(Bytes::from(text.into_bytes())),
        (Encoding::Base64, Frame::Text(text)) => decode_base64(text.as_bytes()),
        (Encoding::Base64, Frame::Binary(bytes)) => decode_base64(&bytes),
    }
}

fn decode_base64(text: &[u8]) -> Result<Bytes, DecodeError> {
    STANDARD.decode(text).map(Bytes::from).map_err(|_| DecodeError::BadBase64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"\x1b[31mred\xff\xfe\r\n";

    #[test]
    fn both_encodings_round_trip_any_bytes() {
        for enc in [Encoding::Binary, Encoding::Base64] {
            let frame = encode(enc, Bytes::from_static(SAMPLE));
            assert_eq!(decode(enc, frame), Ok(Bytes::from_static(SAMPLE)));
            assert_eq!(Encoding::from_subprotocol(enc.subprotocol()), Some(enc));
        }
    }

    #[test]
    fn frame_types_on_the_wire() {
        assert_eq!(encode(Encoding::Binary, Bytes::from_static(b"hi")), Frame::Binary(Bytes::from_static(b"hi")));
        assert_eq!(encode(Encoding::Base64, Bytes::from_static(b"hi")), Frame::Text("aGk=".into()));
    }

    #[test]
    fn lenient_like_workhorse() {
        assert_eq!(decode(Encoding::Binary, Frame::Text("ls\r".into())), Ok(Bytes::from_static(b"ls\r")));
        assert_eq!(decode(Encoding::Base64, Frame::Binary(Bytes::from_static(b"aGk="))), Ok(Bytes::from_static(b"hi")));
    }

    #[test]
    fn malformed_base64_is_an_error() {
        for bad in ["not base64!", "aGk", "a"] {
            assert_eq!(decode(Encoding::Base64, Frame::Text(bad.into())), Err(DecodeError::BadBase64), "{bad}");
        }
        assert_eq!(Encoding::from_subprotocol("chat"), None);
    }
}
