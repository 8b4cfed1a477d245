//! `v1.porthole`: Porthole's own browser ↔ relay subprotocol.
//!
//! - Binary frames carry raw terminal bytes: keystrokes up, output down. They
//!   are never decoded as text on the way (a UTF-8 sequence may be split
//!   across two frames; xterm.js reassembles it).
//! - Text frames carry one JSON control message each, tagged by `"type"`:
//!   [`ClientMessage`] up, [`ServerMessage`] down.
//! - The initial terminal size travels in the connect URL as
//!   `?cols=<n>&rows=<n>` ([`TerminalSize::from_query`]), so the PTY has the
//!   right size before the shell prints its first prompt.
//! - Flow control: the browser acknowledges output bytes once xterm.js has
//!   parsed them ([`ClientMessage::Ack`]); the relay stops reading from the
//!   upstream while more than [`FLOW_WINDOW`] bytes are unacknowledged.
//! - A session ends with [`ServerMessage::End`] and then a Close frame with the
//!   same 4xxx code ([`crate::close::CloseCode`]).
//! - Resume: `connected` carries a [`ResumeTicket`] (session id, secret
//!   token, grace). After a WebSocket drops without a Close, the page opens
//!   the same terminal URL with `?resume=<id>` ([`RESUME_PARAM`]; the id is
//!   not a secret) and sends [`ClientMessage::Resume`] first (the token never
//!   travels in a URL, which proxies log). The relay answers
//!   [`ServerMessage::Resumed`] and replays the output from the page's
//!   offset — or from the oldest byte it still holds, saying how many were
//!   lost — then goes on live.
//! - Viewers: `?view=<id>` watches a session read-only (anyone the app lets
//!   open that terminal): `connected`, then [`ServerMessage::Viewing`], the
//!   output the relay still holds, then live output. A viewer's keystrokes
//!   and resizes are dropped by the relay. The session's own page hears
//!   [`ServerMessage::Viewers`] whenever the count changes.

use crate::{DecodeError, Frame};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// The subprotocol name offered in `Sec-WebSocket-Protocol`.
pub const SUBPROTOCOL: &str = "v1.porthole";

/// Unacknowledged output bytes the relay allows in flight to the browser
/// before it stops reading from the upstream (1 MiB).
pub const FLOW_WINDOW: u64 = 1 << 20;

/// The browser acknowledges at least every this many parsed bytes (64 KiB),
/// and whenever xterm.js has caught up with everything received.
pub const ACK_EVERY: u64 = 64 << 10;

/// The largest number of columns or rows accepted in a resize.
pub const MAX_TERMINAL_SIDE: u16 = 1000;

/// The reason of the Close frame (code 1000) a page sends when the person
/// ends this session to start a new one: the audit log then says so, not
/// "the browser closed the terminal".
pub const RESTART_REASON: &str = "new session requested";

/// The connect URL's query parameter naming the session to resume.
pub const RESUME_PARAM: &str = "resume";

/// The connect URL's (and the terminal page's) query parameter naming a
/// session to watch read-only: `?view=<session id>`.
pub const VIEW_PARAM: &str = "view";

/// What a page needs to resume its session after its WebSocket drops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeTicket {
    /// The session's id (URL-safe; not a secret).
    pub id: String,
    /// The secret the resuming page must send in [`ClientMessage::Resume`];
    /// only the page it was given to knows it.
    pub token: String,
    /// How long the relay keeps the session after its browser is lost, in
    /// seconds (`--resume-grace`).
    pub grace_seconds: u64,
}

/// The visible notice for output that was lost across a reconnection:
/// `… 12 345 bytes of output were lost …` (digits grouped by thin spaces).
pub fn lost_notice(bytes: u64) -> String {
    let digits = bytes.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push('\u{2009}');
        }
        grouped.push(c);
    }
    let words = if bytes == 1 { "byte of output was" } else { "bytes of output were" };
    format!("… {grouped} {words} lost …")
}

/// A terminal size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalSize {
    /// Columns, 1..=[`MAX_TERMINAL_SIDE`].
    pub cols: u16,
    /// Rows, 1..=[`MAX_TERMINAL_SIDE`].
    pub rows: u16,
}

impl TerminalSize {
    /// A checked size: both sides within 1..=[`MAX_TERMINAL_SIDE`].
    pub fn new(cols: u32, rows: u32) -> Result<TerminalSize, DecodeError> {
        let ok = |n: u32| (1..=u32::from(MAX_TERMINAL_SIDE)).contains(&n);
        if ok(cols) && ok(rows) {
            Ok(TerminalSize { cols: cols as u16, rows: rows as u16 })
        } else {
            Err(DecodeError::BadSize { cols, rows })
        }
    }

    /// The size from a connect URL's query string (`cols=120&rows=40`, in any
    /// order, among other parameters). `Ok(None)` when neither is present; an
    /// error when only one is, or either is not a valid side.
    pub fn from_query(query: &str) -> Result<Option<TerminalSize>, DecodeError> {
        let mut cols = None;
        let mut rows = None;
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "cols" => cols = Some(value),
                "rows" => rows = Some(value),
                _ => {}
            }
        }
        let bad = || DecodeError::BadQuerySize { cols: cols.unwrap_or("").to_string(), rows: rows.unwrap_or("").to_string() };
        match (cols, rows) {
            (None, None) => Ok(None),
            (Some(c), Some(r)) => {
                let (c, r) = (c.parse::<u32>().map_err(|_| bad())?, r.parse::<u32>().map_err(|_| bad())?);
                TerminalSize::new(c, r).map(Some).map_err(|_| bad())
            }
            _ => Err(bad()),
        }
    }

    /// The query string form, `cols=<n>&rows=<n>`.
    pub fn to_query(self) -> String {
        format!("cols={}&rows={}", self.cols, self.rows)
    }
}

/// A control message from the browser (a text frame).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// The terminal's new size: `{"type":"resize","cols":120,"rows":40}`.
    Resize {
        /// Columns.
        cols: u16,
        /// Rows.
        rows: u16,
    },
    /// Output bytes xterm.js has parsed since the previous ack:
    /// `{"type":"ack","bytes":65536}`.
    Ack {
        /// Bytes, counted as received in binary frames.
        bytes: u64,
    },
    /// The first message of a resuming connection (`?resume=<id>`):
    /// `{"type":"resume","token":"…","offset":123456}`.
    Resume {
        /// The [`ResumeTicket::token`].
        token: String,
        /// Output bytes the page has handed to its terminal since the
        /// session began (replays, not notices, included; xterm.js parses
        /// all it is handed): the relay sends what follows.
        offset: u64,
    },
}

/// A control message from the relay (a text frame).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Sent once, first, when the upstream is connected:
    /// `{"type":"connected","pod":"web-1","container":"app","expires_at":null}`.
    Connected {
        /// The pod's name, when the upstream is a Kubernetes exec.
        pod: Option<String>,
        /// The container's name, when the upstream is a Kubernetes exec.
        container: Option<String>,
        /// When the relay will end the session (Channel `MaxSessionTime`), in
        /// milliseconds since the Unix epoch; `null` when there is no limit.
        expires_at: Option<u64>,
        /// How to resume this session after a dropped connection; absent
        /// when the relay does not keep sessions (`--resume-grace 0`, or a
        /// `connected` that only announces a new `expires_at`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<ResumeTicket>,
    },
    /// To a viewer, after `connected`: whose session this is; the output
    /// it still holds follows, then live output.
    /// `{"type":"viewing","owner":"maintainer"}`.
    Viewing {
        /// The session's user; `null` when signed out.
        owner: Option<String>,
    },
    /// The relay is shutting down: the session ends at `ends_at` unless it
    /// ends by itself first (`--shutdown-grace`).
    /// `{"type":"draining","ends_at":1764860000000}`.
    Draining {
        /// Milliseconds since the Unix epoch.
        ends_at: u64,
    },
    /// Nothing was typed and no output came for a while (Channel
    /// `IdleTimeout`): the session ends at `ends_at` (close code 4012)
    /// unless something is typed or printed first; the page shows it until
    /// then. `{"type":"idle","ends_at":1764860000000}`.
    Idle {
        /// Milliseconds since the Unix epoch.
        ends_at: u64,
    },
    /// To the session's own page: how many watch it now.
    /// `{"type":"viewers","count":2}`.
    Viewers {
        /// Viewers attached now.
        count: u32,
    },
    /// The answer to [`ClientMessage::Resume`]; binary output from byte
    /// `offset` of the session follows:
    /// `{"type":"resumed","offset":123456,"lost":0}`.
    Resumed {
        /// The session offset of the first byte that follows.
        offset: u64,
        /// Bytes between the page's offset and `offset` that the relay no
        /// longer holds (its buffer is `--resume-buffer` bytes): show
        /// [`lost_notice`].
        lost: u64,
    },
    /// The process exited: `{"type":"exit","code":3}`. A code above 128 is
    /// "killed by signal code-128", as container runtimes report it.
    Exit {
        /// The exit code, 0..=255.
        code: i32,
    },
    /// The session is over; a Close frame with the same code follows:
    /// `{"type":"end","code":4000,"reason":"process exited with status 3"}`.
    End {
        /// The close code, see [`crate::close::CloseCode`].
        code: u16,
        /// Why, in words for the person at the terminal.
        reason: String,
    },
}

/// What a browser frame means to the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// Keystrokes or pasted bytes for the process's stdin.
    Input(Bytes),
    /// A control message.
    Control(ClientMessage),
}

/// Decodes a frame from the browser.
pub fn decode_client(frame: Frame) -> Result<ClientEvent, DecodeError> {
    match frame {
        Frame::Binary(bytes) => Ok(ClientEvent::Input(bytes)),
        Frame::Text(text) => {
            let msg: ClientMessage =
                serde_json::from_str(&text).map_err(|e| DecodeError::BadJson(e.to_string()))?;
            if let ClientMessage::Resize { cols, rows } = msg {
                TerminalSize::new(cols.into(), rows.into())?;
            }
            Ok(ClientEvent::Control(msg))
        }
    }
}

/// Encodes a control message from the browser.
pub fn encode_client(msg: &ClientMessage) -> Frame {
    Frame::Text(serde_json::to_string(msg).expect("control messages always serialize"))
}

/// Encodes a control message from the relay.
pub fn encode_server(msg: &ServerMessage) -> Frame {
    Frame::Text(serde_json::to_string(msg).expect("control messages always serialize"))
}

/// Decodes a control message from the relay (the browser's side).
pub fn decode_server(text: &str) -> Result<ServerMessage, DecodeError> {
    serde_json::from_str(text).map_err(|e| DecodeError::BadJson(e.to_string()))
}

/// Words for an exit code, as the status line shows them:
/// `exit status 3`, `exit status 137 (killed by signal 9)`.
pub fn describe_exit(code: i32) -> String {
    if (129..=128 + 64).contains(&code) {
        format!("exit status {code} (killed by signal {})", code - 128)
    } else {
        format!("exit status {code}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_frames_are_input_bytes_untouched() {
        let raw = Bytes::from_static(b"\xff\xfe\x00ls\r");
        assert_eq!(decode_client(Frame::Binary(raw.clone())), Ok(ClientEvent::Input(raw)));
    }

    #[test]
    fn control_messages_round_trip() {
        for msg in [
            ClientMessage::Resize { cols: 120, rows: 40 },
            ClientMessage::Ack { bytes: 65536 },
            ClientMessage::Resume { token: "t".into(), offset: 7 },
        ] {
            let Frame::Text(text) = encode_client(&msg) else { panic!("control is text") };
            assert_eq!(decode_client(Frame::Text(text)), Ok(ClientEvent::Control(msg)));
        }
        for msg in [
            ServerMessage::Connected { pod: Some("web-1".into()), container: Some("app".into()), expires_at: None, resume: None },
            ServerMessage::Connected {
                pod: None,
                container: None,
                expires_at: Some(1),
                resume: Some(ResumeTicket { id: "s1".into(), token: "t".into(), grace_seconds: 60 }),
            },
            ServerMessage::Resumed { offset: 10, lost: 3 },
            ServerMessage::Viewing { owner: Some("maintainer".into()) },
            ServerMessage::Viewers { count: 2 },
            ServerMessage::Draining { ends_at: 5 },
            ServerMessage::Idle { ends_at: 6 },
            ServerMessage::Exit { code: 42 },
            ServerMessage::End { code: 4000, reason: "process exited with status 42".into() },
        ] {
            let Frame::Text(text) = encode_server(&msg) else { panic!("control is text") };
            assert_eq!(decode_server(&text), Ok(msg));
        }
    }

    #[test]
    fn wire_shapes_are_stable() {
        assert_eq!(
            encode_client(&ClientMessage::Resize { cols: 80, rows: 24 }),
            Frame::Text(r#"{"type":"resize","cols":80,"rows":24}"#.into())
        );
        assert_eq!(
            encode_server(&ServerMessage::Exit { code: 3 }),
            Frame::Text(r#"{"type":"exit","code":3}"#.into())
        );
    }

    #[test]
    fn malformed_control_messages_are_errors() {
        for bad in ["", "{", r#"{"type":"nope"}"#, r#"{"type":"resize","cols":-1,"rows":2}"#, "[]"] {
            assert!(matches!(decode_client(Frame::Text(bad.into())), Err(DecodeError::BadJson(_))), "{bad}");
        }
        for (cols, rows) in [(0, 24), (80, 0), (1001, 24), (80, 65535)] {
            let text = format!(r#"{{"type":"resize","cols":{cols},"rows":{rows}}}"#);
            assert_eq!(decode_client(Frame::Text(text)), Err(DecodeError::BadSize { cols, rows }));
        }
    }

    #[test]
    fn size_from_query() {
        assert_eq!(TerminalSize::from_query("cols=120&rows=40"), Ok(Some(TerminalSize { cols: 120, rows: 40 })));
        assert_eq!(TerminalSize::from_query("x=1&rows=5&cols=7"), Ok(Some(TerminalSize { cols: 7, rows: 5 })));
        assert_eq!(TerminalSize::from_query(""), Ok(None));
        assert!(TerminalSize::from_query("cols=80").is_err());
        assert!(TerminalSize::from_query("cols=80&rows=abc").is_err());
        assert!(TerminalSize::from_query("cols=0&rows=10").is_err());
        assert_eq!(TerminalSize { cols: 9, rows: 3 }.to_query(), "cols=9&rows=3");
    }

    #[test]
    fn connected_without_a_ticket_keeps_its_shape() {
        let msg = ServerMessage::Connected { pod: None, container: None, expires_at: None, resume: None };
        assert_eq!(encode_server(&msg), Frame::Text(r#"{"type":"connected","pod":null,"container":null,"expires_at":null}"#.into()));
    }

    #[test]
    fn lost_notices_group_digits() {
        assert_eq!(lost_notice(1), "… 1 byte of output was lost …");
        assert_eq!(lost_notice(999), "… 999 bytes of output were lost …");
        assert_eq!(lost_notice(12345), "… 12\u{2009}345 bytes of output were lost …");
        assert_eq!(lost_notice(1234567), "… 1\u{2009}234\u{2009}567 bytes of output were lost …");
    }

    #[test]
    fn exit_descriptions() {
        assert_eq!(describe_exit(0), "exit status 0");
        assert_eq!(describe_exit(3), "exit status 3");
        assert_eq!(describe_exit(137), "exit status 137 (killed by signal 9)");
        assert_eq!(describe_exit(255), "exit status 255");
    }
}
