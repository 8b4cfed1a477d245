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
    /// 4009: the session cannot be resumed: it ended, its grace period
    /// passed, or the relay does not know it (or the token was wrong).
    NotResumable,
    /// 4010: another connection resumed this session; this one is no
    /// longer attached (another tab, or the same page after a blip the
    /// relay had not noticed yet).
    ResumedElsewhere,
    /// 4011: a read-only viewer fell too far behind the session's output
    /// (the session never waits for its viewers).
    ViewerBehind,
    /// 4012: nothing was typed and no output came for the application
    /// setting `terminal_idle_timeout`.
    IdleTimeout,
    /// 1009 (RFC 6455 "message too big"): the browser sent a message over
    /// the relay's limit; the reason names the limit.
    MessageTooBig,
}

impl CloseCode {
    /// Every code, for tables and tests.
    pub const ALL: [CloseCode; 14] = [
        CloseCode::ProcessExited,
        CloseCode::UpstreamClosed,
        CloseCode::UpstreamError,
        CloseCode::ProtocolError,
        CloseCode::AccessRevoked,
        CloseCode::SettingsChanged,
        CloseCode::SessionExpired,
        CloseCode::PodTerminated,
        CloseCode::RelayShutdown,
        CloseCode::NotResumable,
        CloseCode::ResumedElsewhere,
        CloseCode::ViewerBehind,
        CloseCode::IdleTimeout,
        CloseCode::MessageTooBig,
    ];

    /// The WebSocket close code: 4000..=4012, or 1009.
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
            CloseCode::NotResumable => 4009,
            CloseCode::ResumedElsewhere => 4010,
            CloseCode::ViewerBehind => 4011,
            CloseCode::IdleTimeout => 4012,
            CloseCode::MessageTooBig => 1009,
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
            CloseCode::NotResumable => "this session can no longer be resumed",
            CloseCode::ResumedElsewhere => "this session was resumed from another connection",
            CloseCode::ViewerBehind => "you fell too far behind the session's output: reload to watch again",
            CloseCode::IdleTimeout => "closed after a time without activity",
            CloseCode::MessageTooBig => "the browser sent a message larger than the server accepts",
        }
    }
}

/// How a terminal session ended, on any side that serves one (the relay,
/// the session server): each maps to one close code and the words the user
/// reads ([`End::close`]), in this one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The process exited with this code.
    Exited(i32),
    /// The exec failed without an exit code; the upstream's message.
    Failed(String),
    /// The upstream closed without a status.
    UpstreamClosed,
    /// Reading from or writing to the upstream failed, or it sent a bad frame.
    UpstreamError(String),
    /// The browser closed or went away.
    BrowserGone,
    /// The person ended this session to start a new one (a Close with
    /// [`crate::porthole::RESTART_REASON`]).
    Restarted,
    /// The browser broke its subprotocol; fixed words for it (the detail
    /// goes to the log only).
    BrowserProtocol(String),
    /// The browser sent a message over this many bytes.
    MessageTooBig(usize),
    /// `MaxSessionTime` (seconds) was reached.
    Expired(u64),
    /// Nothing typed and no output for this many seconds (the application
    /// setting `terminal_idle_timeout`).
    Idle(u64),
    /// The relay is shutting down.
    Shutdown,
    /// The pod went away during the session.
    PodTerminated,
    /// The upstream could not be reached; words for the user.
    Unreachable(String),
    /// The upstream ended the session and said why.
    UpstreamEnded(String),
    /// Re-authorization was refused.
    AccessRevoked,
    /// Re-authorization could not be done (the app did not answer).
    AccessUnchecked,
    /// Re-authorization answered different Channel settings.
    SettingsChanged,
    /// The browser was lost and did not resume within the grace period
    /// (seconds, `--resume-grace`); the process was ended.
    ResumeExpired(u64),
    /// A resume named a session that is over or unknown, or gave a wrong
    /// token (one answer for all: it tells a guesser nothing).
    NotResumable,
    /// Another connection resumed the session (the end of this attachment,
    /// not of the session).
    ResumedElsewhere,
    /// A viewer asked for a session that is over or unknown.
    NotViewable,
    /// A viewer fell too far behind and was dropped.
    ViewerBehind,
    /// The relay that holds the session could not be reached (from a
    /// relay that forwards to it).
    OwnerGone,
}

impl End {
    /// The close code and the reason shown to the user.
    pub fn close(&self) -> (CloseCode, String) {
        match self {
            End::Exited(code) => (CloseCode::ProcessExited, format!("the process exited with {}", crate::porthole::describe_exit(*code))),
            End::Failed(message) => (CloseCode::UpstreamError, format!("the terminal could not run: {message}")),
            End::UpstreamClosed => (CloseCode::UpstreamClosed, CloseCode::UpstreamClosed.default_reason().into()),
            End::UpstreamError(e) => (CloseCode::UpstreamError, format!("the connection to the pod failed: {e}")),
            End::BrowserGone => (CloseCode::ProcessExited, "the browser closed the terminal".into()),
            End::Restarted => (CloseCode::ProcessExited, "the user started a new session".into()),
            End::BrowserProtocol(e) => (CloseCode::ProtocolError, format!("bad message from the browser: {e}")),
            End::MessageTooBig(limit) => {
                (CloseCode::MessageTooBig, format!("message too big: the limit is {limit} bytes ({} MiB)", limit >> 20))
            }
            End::Expired(secs) => {
                (CloseCode::SessionExpired, format!("Session expired: the maximum session time is {secs} seconds"))
            }
            End::Idle(secs) => (CloseCode::IdleTimeout, format!("closed after {} without activity", describe_duration(*secs))),
            End::Shutdown => (CloseCode::RelayShutdown, CloseCode::RelayShutdown.default_reason().into()),
            End::PodTerminated => (CloseCode::PodTerminated, CloseCode::PodTerminated.default_reason().into()),
            End::Unreachable(why) => (CloseCode::UpstreamError, why.clone()),
            End::UpstreamEnded(why) => (CloseCode::UpstreamClosed, why.clone()),
            End::AccessRevoked => (CloseCode::AccessRevoked, CloseCode::AccessRevoked.default_reason().into()),
            End::AccessUnchecked => (CloseCode::AccessRevoked, "your access to this terminal could not be re-checked".into()),
            End::SettingsChanged => (CloseCode::SettingsChanged, CloseCode::SettingsChanged.default_reason().into()),
            End::ResumeExpired(secs) => {
                (CloseCode::NotResumable, format!("the browser did not reconnect within {secs} seconds; the process was ended"))
            }
            End::NotResumable => (CloseCode::NotResumable, CloseCode::NotResumable.default_reason().into()),
            End::ResumedElsewhere => (CloseCode::ResumedElsewhere, CloseCode::ResumedElsewhere.default_reason().into()),
            End::NotViewable => (CloseCode::NotResumable, "this session has ended: there is nothing to watch".into()),
            End::ViewerBehind => (CloseCode::ViewerBehind, CloseCode::ViewerBehind.default_reason().into()),
            End::OwnerGone => (CloseCode::NotResumable, "the relay holding this session went away; start a new session".into()),
        }
    }

    /// Ends that may mean the pod itself went away (its process was killed,
    /// or the exec stream broke): worth asking authorize again.
    pub fn may_be_pod_gone(&self) -> bool {
        matches!(self, End::Failed(_) | End::UpstreamClosed | End::UpstreamError(_) | End::Exited(137))
    }
}

/// `secs` in words, exactly: "1 second", "90 seconds", "1 minute", "15
/// minutes", "2 hours", "1 hour 30 minutes" (seconds unless whole minutes).
pub fn describe_duration(secs: u64) -> String {
    let plural = |n: u64, unit: &str| if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") };
    if secs == 0 || secs % 60 != 0 {
        return plural(secs, "second");
    }
    let (hours, minutes) = (secs / 3600, secs % 3600 / 60);
    match (hours, minutes) {
        (0, m) => plural(m, "minute"),
        (h, 0) => plural(h, "hour"),
        (h, m) => format!("{} {}", plural(h, "hour"), plural(m, "minute")),
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
            assert!((4000..5000).contains(&c.code()) || c == CloseCode::MessageTooBig);
            assert!(seen.insert(c.code()));
            assert_eq!(CloseCode::from_code(c.code()), Some(c));
        }
        assert_eq!(CloseCode::from_code(1006), None);
    }

    #[test]
    fn durations_read_as_words() {
        let cases = [
            (1, "1 second"),
            (45, "45 seconds"),
            (60, "1 minute"),
            (90, "90 seconds"),
            (120, "2 minutes"),
            (150, "150 seconds"),
            (3650, "3650 seconds"),
            (3600, "1 hour"),
            (5400, "1 hour 30 minutes"),
            (7260, "2 hours 1 minute"),
        ];
        for (secs, words) in cases {
            assert_eq!(describe_duration(secs), words, "{secs} s");
        }
    }

    #[test]
    fn every_end_has_an_application_close_code_and_a_reason() {
        for end in [
            End::Exited(3),
            End::Failed("x".into()),
            End::UpstreamClosed,
            End::UpstreamError("x".into()),
            End::BrowserGone,
            End::Restarted,
            End::BrowserProtocol("x".into()),
            End::MessageTooBig(4 << 20),
            End::Expired(3),
            End::Idle(900),
            End::Shutdown,
            End::PodTerminated,
            End::Unreachable("x".into()),
            End::UpstreamEnded("x".into()),
            End::AccessRevoked,
            End::AccessUnchecked,
            End::SettingsChanged,
            End::ResumeExpired(60),
            End::NotResumable,
            End::ResumedElsewhere,
            End::NotViewable,
            End::ViewerBehind,
            End::OwnerGone,
        ] {
            let (code, reason) = end.close();
            assert!((4000..5000).contains(&code.code()) || code == CloseCode::MessageTooBig);
            assert!(!reason.is_empty());
        }
        assert_eq!(End::Exited(3).close().1, "the process exited with exit status 3");
        assert_eq!(End::Expired(3).close().1, "Session expired: the maximum session time is 3 seconds");
        assert_eq!(End::Idle(900).close(), (CloseCode::IdleTimeout, "closed after 15 minutes without activity".into()));
        assert_eq!(End::MessageTooBig(4 << 20).close(), (CloseCode::MessageTooBig, "message too big: the limit is 4194304 bytes (4 MiB)".into()));
        assert!(End::Exited(137).may_be_pod_gone() && !End::Exited(1).may_be_pod_gone());
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
