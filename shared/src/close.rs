//! The close codes a terminal session ends with.
//!
//! RFC 6455 leaves 4000–4999 to applications. Porthole always ends a browser
//! session with one of these and a human-readable reason (never the reserved
//! 1006, which GitLab Workhorse's bare TCP close produces). The reason in the
//! Close frame is cut to fit 123 bytes; the full text also travels in the
//! [`crate::porthole::ServerMessage::End`] control message.

/// Why a session ended; `code()` is the WebSocket close code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseCode {
    /// 4000: the process in the pod exited; the exit status travels separately.
    ProcessExited,
    /// 4001: the upstream (Kubernetes, session server) closed without a status.
    UpstreamClosed,
    /// 4002: the upstream failed (read/write error, bad frame from it).
    UpstreamError,
    /// 4003: the browser sent something its subprotocol does not allow.
    ProtocolError,
    /// 4004: re-authorization answered anything but 200: access was revoked.
    AccessRevoked,
    /// 4005: re-authorization answered different Channel settings.
    SettingsChanged,
    /// 4006: the Channel's `MaxSessionTime` was reached.
    SessionExpired,
    /// 4007: the pod running the session went away.
    PodTerminated,
    /// 4008: the relay is shutting down.
    RelayShutdown,
}

impl CloseCode {
    /// Every code, for tables and tests.
    pub const ALL: [CloseCode; 9] = [
        CloseCode::ProcessExited,
        CloseCode::UpstreamClosed,
        CloseCode::UpstreamError,
        CloseCode::ProtocolError,
        CloseCode::AccessRevoked,
        CloseCode::SettingsChanged,
        CloseCode::SessionExpired,
        CloseCode::PodTerminated,
        CloseCode::RelayShutdown,
    ];

    /// The WebSocket close code, 4000..=4008.
    pub fn code(self) -> u16 {
        match self {
            CloseCode::ProcessExited => 4000,
            CloseCode::UpstreamClosed => 4001,
            CloseCode::UpstreamError => 4002,
            CloseCode::ProtocolError => 4003,
            CloseCode::AccessRevoked => 4004,
            CloseCode::SettingsChanged => 4005,
            CloseCode::SessionExpired => 4006,
            CloseCode::PodTerminated => 4007,
            CloseCode::RelayShutdown => 4008,
        }
    }

    /// The code for a WebSocket close code, if it is one of Porthole's.
    pub fn from_code(code: u16) -> Option<CloseCode> {
        CloseCode::ALL.into_iter().find(|c| c.code() == code)
    }

    /// A reason to show when nothing more specific is known.
    pub fn default_reason(self) -> &'static str {
        match self {
            CloseCode::ProcessExited => "the process exited",
            CloseCode::UpstreamClosed => "the terminal connection was closed by the pod's side",
            CloseCode::UpstreamError => "the connection to the pod failed",
            CloseCode::ProtocolError => "the browser sent a message the terminal protocol does not allow",
            CloseCode::AccessRevoked => "your access to this terminal was revoked",
            CloseCode::SettingsChanged => "the terminal's connection details changed",
            CloseCode::SessionExpired => "session expired",
            CloseCode::PodTerminated => "pod terminated",
            CloseCode::RelayShutdown => "the server is shutting down",
        }
    }
}

/// The longest reason a Close frame may carry: 125 bytes of payload less the
/// 2-byte code (RFC 6455 §5.5).
pub const MAX_CLOSE_REASON: usize = 123;

/// `reason` cut to at most [`MAX_CLOSE_REASON`] bytes on a UTF-8 boundary.
pub fn truncate_reason(reason: &str) -> &str {
    if reason.len() <= MAX_CLOSE_REASON {
        return reason;
    }
    let mut end = MAX_CLOSE_REASON;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_application_codes() {
        let mut seen = std::collections::HashSet::new();
        for c in CloseCode::ALL {
            assert!((4000..5000).contains(&c.code()));
            assert!(seen.insert(c.code()));
            assert_eq!(CloseCode::from_code(c.code()), Some(c));
        }
        assert_eq!(CloseCode::from_code(1006), None);
    }

    #[test]
    fn reasons_are_cut_on_char_boundaries() {
        assert_eq!(truncate_reason("short"), "short");
        let long = "é".repeat(100); // 200 bytes
        let cut = truncate_reason(&long);
        assert!(cut.len() <= MAX_CLOSE_REASON);
        assert_eq!(cut.len(), 122);
    }
}
