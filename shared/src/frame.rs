//! A WebSocket data message, independent of the WebSocket library.
//!
//! The server converts its tungstenite messages to [`Frame`]s and the browser
//! app converts `MessageEvent`s; the codecs in this crate only see frames.

use bytes::Bytes;

/// One WebSocket data message (control frames — ping, pong, close — are the
/// transport's business and never reach a codec).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A text message (opcode 1); always valid UTF-8.
    Text(String),
    /// A binary message (opcode 2).
    Binary(Bytes),
}

impl Frame {
    /// The payload length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Frame::Text(t) => t.len(),
            Frame::Binary(b) => b.len(),
        }
    }

    /// True when the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a frame could not be decoded. The relay answers it with close code
/// [`crate::close::CloseCode::ProtocolError`] and logs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// A text frame where the subprotocol allows only binary, or the reverse.
    WrongFrameType(&'static str),
    /// A base64 payload that does not decode (standard alphabet, padded).
    BadBase64,
    /// A frame too short to carry its header (for example an empty channel frame).
    TooShort,
    /// A channel number the protocol does not define.
    UnknownChannel(u8),
    /// A JSON control message that does not parse, with serde's message.
    BadJson(String),
    /// `cols`/`rows` in a connect URL that are missing, not numbers, or out
    /// of range, as given.
    BadQuerySize {
        /// The `cols` value ("" when absent).
        cols: String,
        /// The `rows` value ("" when absent).
        rows: String,
    },
    /// A control message that is valid but not at this point of the
    /// session (a `resume` after the first message).
    OutOfPlace(&'static str),
    /// A terminal size outside 1..=[`crate::porthole::MAX_TERMINAL_SIDE`].
    BadSize {
        /// Columns asked for.
        cols: u32,
        /// Rows asked for.
        rows: u32,
    },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::WrongFrameType(what) => write!(f, "wrong frame type: {what}"),
            DecodeError::BadBase64 => f.write_str("invalid base64 payload"),
            DecodeError::TooShort => f.write_str("frame too short"),
            DecodeError::UnknownChannel(c) => write!(f, "unknown channel {c}"),
            DecodeError::BadJson(e) => write!(f, "invalid control message: {e}"),
            DecodeError::OutOfPlace(what) => write!(f, "{what} is not allowed here"),
            DecodeError::BadSize { cols, rows } => write!(f, "invalid terminal size {cols}x{rows}"),
            DecodeError::BadQuerySize { cols, rows } => write!(
                f,
                "cols={cols:?} and rows={rows:?} must both be given, as whole numbers from 1 to {}",
                crate::porthole::MAX_TERMINAL_SIDE
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

impl DecodeError {
    /// Words for the peer: the [`Display`](std::fmt::Display) text, but
    /// without a parser's details (which go to the log only).
    pub fn public(&self) -> String {
        match self {
            DecodeError::BadJson(_) => "bad control message".into(),
            other => other.to_string(),
        }
    }
}
