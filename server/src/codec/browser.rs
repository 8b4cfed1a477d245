//! The browser side of a session: which subprotocol, and what its frames mean.
//!
//! Porthole's own `v1.porthole` is preferred (it carries resize, flow control,
//! exit status and the end reason); GitLab's `terminal.gitlab.com` and
//! `base64.terminal.gitlab.com` work as GitLab's frontend expects (bytes only).

use axum::http::HeaderMap;
use bytes::Bytes;
use shared::gitlab::{self, Encoding};
use shared::porthole::{self, ClientEvent, ClientMessage, ServerMessage, TerminalSize};
use shared::close::End;
use shared::{DecodeError, Frame};

/// Largest message accepted from a browser-side client (4 MiB: a 1 MiB
/// paste in base64 fits with room to spare).
pub const MAX_BROWSER_MESSAGE: usize = 4 << 20;

/// Largest single WebSocket frame read from a browser-side client
/// (16 MiB, tungstenite's default). Larger than [`MAX_BROWSER_MESSAGE`] on
/// purpose: a frame is read whole before the message limit refuses it, so
/// the client's bytes are consumed and the 1009 Close reaches it instead of
/// a TCP reset. A frame over this cap is refused from its header and the
/// connection may end with a reset.
pub const MAX_BROWSER_FRAME: usize = 16 << 20;

/// The browser's subprotocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowserCodec {
    /// `v1.porthole`.
    Porthole,
    /// `terminal.gitlab.com` or `base64.terminal.gitlab.com`.
    Gitlab(Encoding),
}

/// What a browser frame asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrowserEvent {
    /// Bytes for stdin.
    Input(Bytes),
    /// A new terminal size.
    Resize(TerminalSize),
    /// Output bytes the terminal has processed.
    Ack(u64),
}

/// Why the browser's subprotocol offer was refused (400 before the upgrade).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedSubprotocols(pub Vec<String>);

impl BrowserCodec {
    /// Subprotocols the relay speaks to browsers, in order of preference.
    pub const SUBPROTOCOLS: [&'static str; 3] = [porthole::SUBPROTOCOL, gitlab::TERMINAL, gitlab::BASE64_TERMINAL];

    /// Picks the preferred subprotocol among those offered in
    /// `Sec-WebSocket-Protocol`; the returned name is echoed in the upgrade.
    ///
    /// With no header, a `subprotocol=<name>` query parameter may name one
    /// instead (not echoed): for proxies that do not pass the header back,
    /// such as `trunk serve`'s. With neither, the session speaks
    /// `terminal.gitlab.com` without naming it, as Workhorse relays an
    /// unnamed session raw.
    pub fn negotiate(headers: &HeaderMap, query: &str) -> Result<(BrowserCodec, Option<&'static str>), UnsupportedSubprotocols> {
        let offered = super::wsframe::offered_subprotocols(headers);
        if offered.is_empty() {
            let from_query = url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "subprotocol").map(|(_, v)| v);
            return match from_query {
                None => Ok((BrowserCodec::Gitlab(Encoding::Binary), None)),
                Some(name) => match Self::SUBPROTOCOLS.into_iter().find(|p| *p == name) {
                    Some(name) => Ok((Self::for_name(name), None)),
                    None => Err(UnsupportedSubprotocols(vec![name.into_owned()])),
                },
            };
        }
        let name = Self::SUBPROTOCOLS
            .into_iter()
            .find(|name| offered.iter().any(|o| o == name))
            .ok_or(UnsupportedSubprotocols(offered))?;
        Ok((Self::for_name(name), Some(name)))
    }

    /// The codec for one of [`Self::SUBPROTOCOLS`].
    fn for_name(name: &str) -> BrowserCodec {
        match Encoding::from_subprotocol(name) {
            Some(encoding) => BrowserCodec::Gitlab(encoding),
            None => BrowserCodec::Porthole,
        }
    }

    /// True when the browser acknowledges output (flow control applies).
    pub fn acknowledges_output(self) -> bool {
        self == BrowserCodec::Porthole
    }

    /// Decodes a frame from the browser.
    pub fn decode(self, frame: Frame) -> Result<BrowserEvent, DecodeError> {
        match self {
            BrowserCodec::Gitlab(encoding) => gitlab::decode(encoding, frame).map(BrowserEvent::Input),
            BrowserCodec::Porthole => Ok(match porthole::decode_client(frame)? {
                ClientEvent::Input(bytes) => BrowserEvent::Input(bytes),
                ClientEvent::Control(ClientMessage::Resize { cols, rows }) => {
                    BrowserEvent::Resize(TerminalSize::new(cols.into(), rows.into())?)
                }
                ClientEvent::Control(ClientMessage::Ack { bytes }) => BrowserEvent::Ack(bytes),
                // Only a resuming connection's first message, read by the relay's handshake.
                ClientEvent::Control(ClientMessage::Resume { .. }) => return Err(DecodeError::OutOfPlace("a resume message")),
            }),
        }
    }

    /// Encodes output bytes for the browser.
    pub fn output(self, bytes: Bytes) -> Frame {
        match self {
            BrowserCodec::Porthole => Frame::Binary(bytes),
            BrowserCodec::Gitlab(encoding) => gitlab::encode(encoding, bytes),
        }
    }

    /// How `end` is said to the browser: the frames to send first — the
    /// exit status and the end reason, on `v1.porthole` only — then the
    /// Close frame's code (4xxx) and reason ([`End::close`]).
    pub fn goodbye(self, end: &End) -> (Vec<Frame>, u16, String) {
        let (code, reason) = end.close();
        let mut frames = Vec::new();
        if let End::Exited(exit) = end {
            frames.extend(self.control(&ServerMessage::Exit { code: *exit }));
        }
        frames.extend(self.control(&ServerMessage::End { code: code.code(), reason: reason.clone() }));
        (frames, code.code(), reason)
    }

    /// Encodes a control message; `None` where the subprotocol has none.
    pub fn control(self, msg: &ServerMessage) -> Option<Frame> {
        match self {
            BrowserCodec::Porthole => Some(porthole::encode_server(msg)),
            BrowserCodec::Gitlab(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("sec-websocket-protocol", value.parse().unwrap());
        h
    }

    #[test]
    fn negotiation_prefers_porthole_then_gitlab_binary() {
        assert_eq!(
            BrowserCodec::negotiate_header(&offer("base64.terminal.gitlab.com, terminal.gitlab.com")),
            Ok((BrowserCodec::Gitlab(Encoding::Binary), Some("terminal.gitlab.com")))
        );
        assert_eq!(
            BrowserCodec::negotiate_header(&offer("terminal.gitlab.com, v1.porthole")),
            Ok((BrowserCodec::Porthole, Some("v1.porthole")))
        );
        assert_eq!(
            BrowserCodec::negotiate_header(&offer("base64.terminal.gitlab.com")),
            Ok((BrowserCodec::Gitlab(Encoding::Base64), Some("base64.terminal.gitlab.com")))
        );
        assert_eq!(BrowserCodec::negotiate(&HeaderMap::new(), ""), Ok((BrowserCodec::Gitlab(Encoding::Binary), None)));
        assert_eq!(BrowserCodec::negotiate_header(&offer("chat, mqtt")), Err(UnsupportedSubprotocols(vec!["chat".into(), "mqtt".into()])));
    }

    impl BrowserCodec {
        fn negotiate_header(h: &HeaderMap) -> Result<(BrowserCodec, Option<&'static str>), UnsupportedSubprotocols> {
            BrowserCodec::negotiate(h, "cols=80&rows=24")
        }
    }

    #[test]
    fn a_query_parameter_may_name_the_subprotocol_when_no_header_does() {
        let none = HeaderMap::new();
        assert_eq!(BrowserCodec::negotiate(&none, "cols=80&rows=24&subprotocol=v1.porthole"), Ok((BrowserCodec::Porthole, None)));
        assert!(BrowserCodec::negotiate(&none, "subprotocol=chat").is_err());
        // The header wins: the query is only a fallback.
        assert_eq!(
            BrowserCodec::negotiate(&offer("terminal.gitlab.com"), "subprotocol=v1.porthole"),
            Ok((BrowserCodec::Gitlab(Encoding::Binary), Some("terminal.gitlab.com")))
        );
    }

    #[test]
    fn porthole_frames() {
        let c = BrowserCodec::Porthole;
        assert_eq!(c.decode(Frame::Binary(Bytes::from_static(b"ls\r"))), Ok(BrowserEvent::Input(Bytes::from_static(b"ls\r"))));
        assert_eq!(
            c.decode(Frame::Text(r#"{"type":"resize","cols":100,"rows":30}"#.into())),
            Ok(BrowserEvent::Resize(TerminalSize { cols: 100, rows: 30 }))
        );
        assert_eq!(c.decode(Frame::Text(r#"{"type":"ack","bytes":5}"#.into())), Ok(BrowserEvent::Ack(5)));
        assert!(c.decode(Frame::Text("ls".into())).is_err());
        assert!(c.control(&ServerMessage::Exit { code: 1 }).is_some());
        assert!(c.acknowledges_output());
    }

    #[test]
    fn goodbyes_carry_the_exit_status_and_the_reason() {
        let (frames, code, reason) = BrowserCodec::Porthole.goodbye(&End::Exited(3));
        assert_eq!((code, reason.as_str()), (4000, "the process exited with exit status 3"));
        let messages: Vec<ServerMessage> = frames
            .into_iter()
            .map(|f| match f {
                Frame::Text(t) => porthole::decode_server(&t).unwrap(),
                Frame::Binary(_) => panic!("control messages are text"),
            })
            .collect();
        assert_eq!(messages, [ServerMessage::Exit { code: 3 }, ServerMessage::End { code: 4000, reason }]);
        let (frames, code, _) = BrowserCodec::Gitlab(Encoding::Binary).goodbye(&End::Shutdown);
        assert!(frames.is_empty());
        assert_eq!(code, 4008);
    }

    #[test]
    fn gitlab_frames_carry_bytes_only() {
        let c = BrowserCodec::Gitlab(Encoding::Base64);
        assert_eq!(c.decode(Frame::Text("bHMNCg==".into())), Ok(BrowserEvent::Input(Bytes::from_static(b"ls\r\n"))));
        assert_eq!(c.output(Bytes::from_static(b"hi")), Frame::Text("aGk=".into()));
        assert_eq!(c.control(&ServerMessage::Exit { code: 1 }), None);
        assert!(c.decode(Frame::Text("%%%".into())).is_err());
        assert!(!c.acknowledges_output());
    }
}
