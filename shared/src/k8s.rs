//! The Kubernetes exec channel protocols (`pods/{name}/exec` over WebSocket).
//!
//! Sources: `k8s.io/apimachinery/pkg/util/remotecommand/constants.go`,
//! `.../httpstream/wsstream/conn.go`, client-go `tools/remotecommand/{v4,v5,resize}.go`.
//!
//! Every frame is `[channel][payload]`: binary, or for the base64 variants a
//! text frame of `'0'+channel` followed by base64 of the payload. Channels:
//! 0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize, 255 close (v5 only).
//! Right after the upgrade the server sends an empty frame on the lowest
//! writable channel (stdout) to say it is ready.

use crate::{DecodeError, Frame};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

/// Stdin, client → server.
pub const STDIN: u8 = 0;
/// Stdout, server → client.
pub const STDOUT: u8 = 1;
/// Stderr, server → client (dropped by the server when tty=true).
pub const STDERR: u8 = 2;
/// Status ("error" channel), server → client: plain text on v1, `metav1.Status` JSON on v4/v5.
pub const STATUS: u8 = 3;
/// Resize, client → server: `{"Width":w,"Height":h}`.
pub const RESIZE: u8 = 4;
/// Close signal (v5): `[255, channel]` half-closes a stream.
pub const CLOSE: u8 = 255;

/// A negotiated exec subprotocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `v5.channel.k8s.io`: binary, JSON status, close signal.
    V5,
    /// `v4.channel.k8s.io`: binary, JSON status.
    V4,
    /// `v4.base64.channel.k8s.io`: base64 text, JSON status.
    V4Base64,
    /// `channel.k8s.io` (also the empty subprotocol): binary, text status on failure only.
    V1,
    /// `base64.channel.k8s.io`: base64 text, text status on failure only.
    V1Base64,
}

impl Protocol {
    /// Every protocol, in the order a client should prefer them.
    pub const ALL: [Protocol; 5] = [Protocol::V5, Protocol::V4, Protocol::V4Base64, Protocol::V1, Protocol::V1Base64];

    /// What a relay offers by default, in order (KEP-4006's advice for version skew).
    pub const DEFAULT_OFFER: [Protocol; 3] = [Protocol::V5, Protocol::V4, Protocol::V1];

    /// The `Sec-WebSocket-Protocol` name.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::V5 => "v5.channel.k8s.io",
            Protocol::V4 => "v4.channel.k8s.io",
            Protocol::V4Base64 => "v4.base64.channel.k8s.io",
            Protocol::V1 => "channel.k8s.io",
            Protocol::V1Base64 => "base64.channel.k8s.io",
        }
    }

    /// The protocol a name stands for.
    pub fn from_name(name: &str) -> Option<Protocol> {
        Protocol::ALL.into_iter().find(|p| p.name() == name)
    }

    /// True for the text/base64 variants.
    pub fn is_base64(self) -> bool {
        matches!(self, Protocol::V4Base64 | Protocol::V1Base64)
    }

    /// True when channel 3 carries `metav1.Status` JSON (v4, v5).
    pub fn has_json_status(self) -> bool {
        !matches!(self, Protocol::V1 | Protocol::V1Base64)
    }

    /// True when the close signal (channel 255) exists (v5 only).
    pub fn has_close_signal(self) -> bool {
        self == Protocol::V5
    }
}

/// Encodes one frame on `channel`.
pub fn encode(protocol: Protocol, channel: u8, payload: &[u8]) -> Frame {
    if protocol.is_base64() {
        let mut text = String::with_capacity(1 + payload.len().div_ceil(3) * 4);
        text.push(char::from(b'0' + channel));
        STANDARD.encode_string(payload, &mut text);
        Frame::Text(text)
    } else {
        let mut buf = BytesMut::with_capacity(1 + payload.len());
        buf.put_u8(channel);
        buf.put_slice(payload);
        Frame::Binary(buf.freeze())
    }
}

/// Decodes one frame into its channel and payload. An empty binary frame is
/// [`DecodeError::TooShort`]; the payload is a zero-copy slice of the frame.
pub fn decode(protocol: Protocol, frame: Frame) -> Result<(u8, Bytes), DecodeError> {
    match (protocol.is_base64(), frame) {
        (false, Frame::Binary(bytes)) => {
            let channel = *bytes.first().ok_or(DecodeError::TooShort)?;
            Ok((channel, bytes.slice(1..)))
        }
        (true, Frame::Text(text)) => {
            let digit = *text.as_bytes().first().ok_or(DecodeError::TooShort)?;
            if !digit.is_ascii_digit() {
                return Err(DecodeError::UnknownChannel(digit));
            }
            let payload = STANDARD.decode(&text.as_bytes()[1..]).map_err(|_| DecodeError::BadBase64)?;
            Ok((digit - b'0', Bytes::from(payload)))
        }
        (false, Frame::Text(_)) => Err(DecodeError::WrongFrameType("text frame on a binary channel protocol")),
        (true, Frame::Binary(_)) => Err(DecodeError::WrongFrameType("binary frame on a base64 channel protocol")),
    }
}

/// The resize payload, client-go's `TerminalSize` (Go field names, no tags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResizeMessage {
    /// Columns.
    #[serde(rename = "Width")]
    pub width: u16,
    /// Rows.
    #[serde(rename = "Height")]
    pub height: u16,
}

impl ResizeMessage {
    /// The JSON payload for channel 4.
    pub fn to_json(self) -> Vec<u8> {
        serde_json::to_vec(&self).expect("resize always serializes")
    }

    /// Parses every JSON object in a channel-4 payload (the server reads the
    /// channel as a stream of objects, so one frame may hold several); the
    /// last one wins.
    pub fn parse_last(payload: &[u8]) -> Result<Option<ResizeMessage>, DecodeError> {
        let mut last = None;
        for item in serde_json::Deserializer::from_slice(payload).into_iter::<ResizeMessage>() {
            last = Some(item.map_err(|e| DecodeError::BadJson(e.to_string()))?);
        }
        Ok(last)
    }
}

/// `metav1.Status`, as written on channel 3 by v4/v5 servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Status {
    /// Always `{}` here.
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// `"Success"` or `"Failure"`.
    #[serde(default)]
    pub status: String,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Machine-readable reason, e.g. `"NonZeroExitCode"`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Causes; for a non-zero exit one cause `{"reason":"ExitCode","message":"<n>"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<StatusDetails>,
    /// HTTP-like code for failures other than an exit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
}

/// `metav1.StatusDetails` (only the causes are used).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct StatusDetails {
    /// The causes.
    #[serde(default)]
    pub causes: Vec<StatusCause>,
}

/// `metav1.StatusCause`; its Go field `Type` is serialized as `"reason"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct StatusCause {
    /// e.g. `"ExitCode"`.
    #[serde(default)]
    pub reason: String,
    /// e.g. `"42"`.
    #[serde(default)]
    pub message: String,
}

impl Status {
    /// `{"metadata":{},"status":"Success"}`.
    pub fn success() -> Status {
        Status { status: "Success".into(), ..Status::default() }
    }

    /// The kubelet's status for a non-zero exit code.
    pub fn non_zero_exit(code: i32) -> Status {
        Status {
            status: "Failure".into(),
            message: format!("command terminated with non-zero exit code: exit status {code}"),
            reason: "NonZeroExitCode".into(),
            details: Some(StatusDetails {
                causes: vec![StatusCause { reason: "ExitCode".into(), message: code.to_string() }],
            }),
            code: None,
            metadata: serde_json::Map::new(),
        }
    }

    /// The status for an exit code: success for 0.
    pub fn for_exit_code(code: i32) -> Status {
        if code == 0 { Status::success() } else { Status::non_zero_exit(code) }
    }

    /// A failure that is not an exit code (`apierrors.NewInternalError`).
    pub fn internal_error(message: impl Into<String>) -> Status {
        Status { status: "Failure".into(), message: message.into(), reason: "InternalError".into(), code: Some(500), ..Status::default() }
    }
}

/// How an exec ended, read from channel 3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The command exited with this code.
    Exited(i32),
    /// The exec failed for another reason; the message says why.
    Failed(String),
}

/// Reads a channel-3 payload the way client-go does: JSON `Status` on v4/v5
/// (Success → exit 0; NonZeroExitCode → the `ExitCode` cause), plain text on
/// v1 (an exit code is taken from a trailing `exit code N`/`exit status N`).
pub fn parse_status(protocol: Protocol, payload: &[u8]) -> Outcome {
    if protocol.has_json_status() {
        match serde_json::from_slice::<Status>(payload) {
            Ok(status) if status.status == "Success" => Outcome::Exited(0),
            Ok(status) => {
                let code = (status.reason == "NonZeroExitCode")
                    .then(|| status.details.iter().flat_map(|d| &d.causes).find(|c| c.reason == "ExitCode"))
                    .flatten()
                    .and_then(|c| c.message.trim().parse::<i32>().ok());
                match code {
                    Some(code) => Outcome::Exited(code),
                    None if status.message.is_empty() => Outcome::Failed(format!("exec failed: {}", status.reason)),
                    None => Outcome::Failed(status.message),
                }
            }
            Err(_) => Outcome::Failed(format!("unreadable exec status: {}", String::from_utf8_lossy(payload))),
        }
    } else {
        let text = String::from_utf8_lossy(payload).trim().to_string();
        let code = ["exit status ", "exit code "]
            .iter()
            .find_map(|marker| text.rsplit_once(marker).and_then(|(_, n)| n.trim().parse::<i32>().ok()));
        match code {
            Some(code) => Outcome::Exited(code),
            None => Outcome::Failed(text),
        }
    }
}

/// Encodes a status payload for channel 3: JSON on v4/v5; on v1 nothing for
/// success (`None`) and the message text for a failure.
pub fn encode_status(protocol: Protocol, status: &Status) -> Option<Vec<u8>> {
    if protocol.has_json_status() {
        Some(serde_json::to_vec(status).expect("status always serializes"))
    } else if status.status == "Success" {
        None
    } else {
        Some(status.message.clone().into_bytes())
    }
}

/// kubectl's short ages: `45s`, `12m`, `3h`, `2d` (negative counts as 0).
pub fn human_age(secs: i64) -> String {
    match secs.max(0) {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 2 * 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// The v5 close signal for `channel`: binary `[255, channel]`.
pub fn close_signal(channel: u8) -> Frame {
    Frame::Binary(Bytes::from(vec![CLOSE, channel]))
}

/// The pod annotation naming a pod's GitLab project (its slug); GitLab
/// finds an environment's pods by it and [`ENV_ANNOTATION`].
pub const APP_ANNOTATION: &str = "app.gitlab.com/app";
/// The pod annotation naming a pod's GitLab environment (its slug).
pub const ENV_ANNOTATION: &str = "app.gitlab.com/env";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_framing() {
        assert_eq!(encode(Protocol::V5, STDIN, b"foo\n"), Frame::Binary(Bytes::from_static(b"\x00foo\n")));
        assert_eq!(decode(Protocol::V4, Frame::Binary(Bytes::from_static(b"\x01\n"))), Ok((STDOUT, Bytes::from_static(b"\n"))));
        assert_eq!(decode(Protocol::V1, Frame::Binary(Bytes::from_static(b"\x01"))), Ok((STDOUT, Bytes::new())));
    }

    #[test]
    fn base64_framing() {
        assert_eq!(encode(Protocol::V1Base64, STDIN, b"foo\n"), Frame::Text("0Zm9vCg==".into()));
        assert_eq!(decode(Protocol::V4Base64, Frame::Text("1Zm9vCg==".into())), Ok((STDOUT, Bytes::from_static(b"foo\n"))));
        assert_eq!(decode(Protocol::V4Base64, Frame::Text("1".into())), Ok((STDOUT, Bytes::new())));
    }

    #[test]
    fn every_protocol_round_trips_every_channel() {
        let payload = b"\xff\x00\x1b[0m".as_slice();
        for p in Protocol::ALL {
            for ch in [STDIN, STDOUT, STDERR, STATUS, RESIZE] {
                assert_eq!(decode(p, encode(p, ch, payload)), Ok((ch, Bytes::copy_from_slice(payload))), "{p:?} {ch}");
            }
            assert_eq!(Protocol::from_name(p.name()), Some(p));
        }
    }

    #[test]
    fn malformed_frames() {
        assert_eq!(decode(Protocol::V5, Frame::Binary(Bytes::new())), Err(DecodeError::TooShort));
        assert_eq!(decode(Protocol::V1Base64, Frame::Text(String::new())), Err(DecodeError::TooShort));
        assert_eq!(decode(Protocol::V1Base64, Frame::Text("1***".into())), Err(DecodeError::BadBase64));
        assert_eq!(decode(Protocol::V1Base64, Frame::Text("xZm9v".into())), Err(DecodeError::UnknownChannel(b'x')));
        assert!(matches!(decode(Protocol::V5, Frame::Text("1".into())), Err(DecodeError::WrongFrameType(_))));
        assert!(matches!(decode(Protocol::V4Base64, Frame::Binary(Bytes::from_static(b"\x01"))), Err(DecodeError::WrongFrameType(_))));
        assert_eq!(Protocol::from_name("v6.channel.k8s.io"), None);
    }

    #[test]
    fn resize_json_matches_client_go() {
        assert_eq!(ResizeMessage { width: 120, height: 40 }.to_json(), br#"{"Width":120,"Height":40}"#);
        assert_eq!(
            ResizeMessage::parse_last(br#"{"Width":1,"Height":2}{"Width":3,"Height":4}"#),
            Ok(Some(ResizeMessage { width: 3, height: 4 }))
        );
        assert_eq!(ResizeMessage::parse_last(b""), Ok(None));
        assert!(ResizeMessage::parse_last(br#"{"Width":-1}"#).is_err());
    }

    #[test]
    fn status_json_matches_the_kubelet() {
        let json = String::from_utf8(encode_status(Protocol::V4, &Status::non_zero_exit(42)).unwrap()).unwrap();
        assert_eq!(
            json,
            r#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: exit status 42","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"42"}]}}"#
        );
        assert_eq!(
            String::from_utf8(encode_status(Protocol::V5, &Status::success()).unwrap()).unwrap(),
            r#"{"metadata":{},"status":"Success"}"#
        );
        assert_eq!(encode_status(Protocol::V1, &Status::success()), None);
    }

    #[test]
    fn status_parsing() {
        for p in [Protocol::V4, Protocol::V5, Protocol::V4Base64] {
            assert_eq!(parse_status(p, &encode_status(p, &Status::for_exit_code(0)).unwrap()), Outcome::Exited(0));
            assert_eq!(parse_status(p, &encode_status(p, &Status::for_exit_code(137)).unwrap()), Outcome::Exited(137));
            assert_eq!(
                parse_status(p, &encode_status(p, &Status::internal_error("no such container")).unwrap()),
                Outcome::Failed("no such container".into())
            );
            assert!(matches!(parse_status(p, b"garbage"), Outcome::Failed(_)));
        }
        let v1 = encode_status(Protocol::V1, &Status::non_zero_exit(7)).unwrap();
        assert_eq!(parse_status(Protocol::V1, &v1), Outcome::Exited(7));
        assert_eq!(parse_status(Protocol::V1, b"container not found"), Outcome::Failed("container not found".into()));
    }

    #[test]
    fn ages_like_kubectl() {
        assert_eq!(human_age(-5), "0s");
        assert_eq!(human_age(59), "59s");
        assert_eq!(human_age(600), "10m");
        assert_eq!(human_age(3 * 3600), "3h");
        assert_eq!(human_age(5 * 86400), "5d");
    }

    #[test]
    fn close_signal_is_two_bytes() {
        assert_eq!(close_signal(STDIN), Frame::Binary(Bytes::from_static(&[255, 0])));
    }
}
