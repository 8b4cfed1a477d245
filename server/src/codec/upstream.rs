//! The upstream side of a session: what the relay writes to, and reads from,
//! a Kubernetes exec (any of the five channel protocols) or a GitLab-style
//! terminal server. The session loop only sees [`UpstreamEvent`]s.

use bytes::Bytes;
use shared::gitlab::{self, Encoding};
use shared::k8s::{self, Outcome, Protocol, ResizeMessage};
use shared::porthole::{self, ClientMessage, ServerMessage, TerminalSize};
use shared::{DecodeError, Frame};

/// Stdin is forwarded in frames of at most this many bytes (32 KiB), so a
/// large paste does not become one huge upstream message.
pub const MAX_STDIN_FRAME: usize = 32 << 10;

/// The upstream's negotiated subprotocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamCodec {
    /// A Kubernetes exec.
    Kube(Protocol),
    /// A runner-style session server (`terminal.gitlab.com`, base64 variant).
    Gitlab(Encoding),
    /// A Porthole session server (`v1.porthole`): bytes, resize, exit status.
    Porthole,
}

/// What an upstream frame means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamEvent {
    /// Terminal output (stdout or stderr).
    Output(Bytes),
    /// The process ended: exit code, or a failure message.
    Finished(Outcome),
    /// The upstream ended the session, with its reason (no exit status).
    Ended(String),
    /// Nothing for the browser (the empty "connected" frame, unknown channels).
    Nothing,
}

impl UpstreamCodec {
    /// The codec for a negotiated subprotocol name.
    pub fn from_subprotocol(name: &str) -> Option<UpstreamCodec> {
        if name == porthole::SUBPROTOCOL {
            return Some(UpstreamCodec::Porthole);
        }
        Protocol::from_name(name)
            .map(UpstreamCodec::Kube)
            .or_else(|| Encoding::from_subprotocol(name).map(UpstreamCodec::Gitlab))
    }

    /// Frames carrying `input` to stdin, each at most [`MAX_STDIN_FRAME`] bytes.
    pub fn stdin(self, input: &[u8]) -> impl Iterator<Item = Frame> {
        input.chunks(MAX_STDIN_FRAME).map(move |chunk| match self {
            UpstreamCodec::Kube(p) => k8s::encode(p, k8s::STDIN, chunk),
            UpstreamCodec::Gitlab(e) => gitlab::encode(e, Bytes::copy_from_slice(chunk)),
            UpstreamCodec::Porthole => Frame::Binary(Bytes::copy_from_slice(chunk)),
        })
    }

    /// A resize frame; `None` where the protocol cannot resize.
    pub fn resize(self, size: TerminalSize) -> Option<Frame> {
        match self {
            UpstreamCodec::Kube(p) => {
                Some(k8s::encode(p, k8s::RESIZE, &ResizeMessage { width: size.cols, height: size.rows }.to_json()))
            }
            UpstreamCodec::Gitlab(_) => None,
            UpstreamCodec::Porthole => Some(porthole::encode_client(&ClientMessage::Resize { cols: size.cols, rows: size.rows })),
        }
    }

    /// Decodes an upstream frame.
    pub fn decode(self, frame: Frame) -> Result<UpstreamEvent, DecodeError> {
        match self {
            UpstreamCodec::Kube(p) => {
                let (channel, payload) = k8s::decode(p, frame)?;
                Ok(match channel {
                    k8s::STDOUT | k8s::STDERR if !payload.is_empty() => UpstreamEvent::Output(payload),
                    k8s::STATUS if !payload.is_empty() => UpstreamEvent::Finished(k8s::parse_status(p, &payload)),
                    _ => UpstreamEvent::Nothing,
                })
            }
            UpstreamCodec::Gitlab(e) => {
                let bytes = gitlab::decode(e, frame)?;
                Ok(if bytes.is_empty() { UpstreamEvent::Nothing } else { UpstreamEvent::Output(bytes) })
            }
            UpstreamCodec::Porthole => Ok(match frame {
                Frame::Binary(bytes) if bytes.is_empty() => UpstreamEvent::Nothing,
                Frame::Binary(bytes) => UpstreamEvent::Output(bytes),
                Frame::Text(text) => match porthole::decode_server(&text)? {
                    ServerMessage::Exit { code } => UpstreamEvent::Finished(Outcome::Exited(code)),
                    ServerMessage::End { reason, .. } => UpstreamEvent::Ended(reason),
                    // A relay upstream replays by itself; its offsets are its own.
                    ServerMessage::Connected { .. }
                    | ServerMessage::Resumed { .. }
                    | ServerMessage::Viewing { .. }
                    | ServerMessage::Viewers { .. }
                    | ServerMessage::Draining { .. }
                    | ServerMessage::Idle { .. } => UpstreamEvent::Nothing,
                },
            }),
        }
    }

    /// What to send before closing: EOT on stdin (Workhorse's teardown: a
    /// shell at its prompt exits), then on v5 the close signal for stdin.
    pub fn goodbye(self) -> Vec<Frame> {
        match self {
            UpstreamCodec::Kube(p) if p.has_close_signal() => {
                vec![k8s::encode(p, k8s::STDIN, b"\x04"), k8s::close_signal(k8s::STDIN)]
            }
            UpstreamCodec::Kube(p) => vec![k8s::encode(p, k8s::STDIN, b"\x04")],
            UpstreamCodec::Gitlab(e) => vec![gitlab::encode(e, Bytes::from_static(b"\x04"))],
            UpstreamCodec::Porthole => vec![Frame::Binary(Bytes::from_static(b"\x04"))],
        }
    }

    /// True when a v1 Kubernetes upstream closing without a status means
    /// success (v1 writes nothing on success).
    pub fn silent_success(self) -> bool {
        matches!(self, UpstreamCodec::Kube(p) if !p.has_json_status())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_stdin_is_chunked_on_channel_0() {
        let codec = UpstreamCodec::Kube(Protocol::V5);
        let input = vec![b'x'; MAX_STDIN_FRAME * 2 + 1];
        let frames: Vec<Frame> = codec.stdin(&input).collect();
        assert_eq!(frames.len(), 3);
        for f in &frames {
            let (ch, payload) = k8s::decode(Protocol::V5, f.clone()).unwrap();
            assert_eq!(ch, k8s::STDIN);
            assert!(payload.len() <= MAX_STDIN_FRAME);
        }
    }

    #[test]
    fn kube_events() {
        let c = UpstreamCodec::Kube(Protocol::V4Base64);
        assert_eq!(c.decode(k8s::encode(Protocol::V4Base64, 1, b"")), Ok(UpstreamEvent::Nothing));
        assert_eq!(c.decode(k8s::encode(Protocol::V4Base64, 2, b"err")), Ok(UpstreamEvent::Output(Bytes::from_static(b"err"))));
        let status = k8s::encode_status(Protocol::V4Base64, &k8s::Status::for_exit_code(42)).unwrap();
        assert_eq!(c.decode(k8s::encode(Protocol::V4Base64, 3, &status)), Ok(UpstreamEvent::Finished(Outcome::Exited(42))));
        assert_eq!(c.decode(k8s::encode(Protocol::V4Base64, 9, b"?")), Ok(UpstreamEvent::Nothing));
        // An empty status frame is not a status (the "connected" signal may use channel 3).
        assert_eq!(c.decode(k8s::encode(Protocol::V4Base64, 3, b"")), Ok(UpstreamEvent::Nothing));
        assert!(c.decode(Frame::Binary(Bytes::from_static(b"\x01x"))).is_err());
    }

    #[test]
    fn resize_and_goodbye() {
        let k = UpstreamCodec::Kube(Protocol::V5);
        assert_eq!(k.resize(TerminalSize { cols: 100, rows: 30 }), Some(Frame::Binary(Bytes::from_static(b"\x04{\"Width\":100,\"Height\":30}"))));
        assert_eq!(k.goodbye(), [Frame::Binary(Bytes::from_static(&[0, 4])), Frame::Binary(Bytes::from_static(&[255, 0]))]);
        assert_eq!(UpstreamCodec::Kube(Protocol::V1).goodbye(), [Frame::Binary(Bytes::from_static(&[0, 4]))]);
        let g = UpstreamCodec::Gitlab(Encoding::Binary);
        assert_eq!(g.resize(TerminalSize { cols: 1, rows: 1 }), None);
        assert_eq!(g.goodbye(), [Frame::Binary(Bytes::from_static(b"\x04"))]);
        assert_eq!(UpstreamCodec::from_subprotocol("terminal.gitlab.com"), Some(g));
        assert_eq!(UpstreamCodec::from_subprotocol("chat"), None);
    }

    #[test]
    fn porthole_upstream_events() {
        let p = UpstreamCodec::from_subprotocol("v1.porthole").unwrap();
        assert_eq!(p.decode(Frame::Binary(Bytes::from_static(b"hi"))), Ok(UpstreamEvent::Output(Bytes::from_static(b"hi"))));
        assert_eq!(p.decode(Frame::Text(r#"{"type":"exit","code":4}"#.into())), Ok(UpstreamEvent::Finished(Outcome::Exited(4))));
        assert_eq!(
            p.decode(Frame::Text(r#"{"type":"end","code":4001,"reason":"timed out"}"#.into())),
            Ok(UpstreamEvent::Ended("timed out".into()))
        );
        assert!(p.decode(Frame::Text("nope".into())).is_err());
        assert_eq!(p.resize(TerminalSize { cols: 3, rows: 2 }), Some(Frame::Text(r#"{"type":"resize","cols":3,"rows":2}"#.into())));
    }
}
