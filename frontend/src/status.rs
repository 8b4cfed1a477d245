//! What the status line says about the session.

use shared::close::CloseCode;
use shared::porthole::describe_exit;

/// The session's state as the person at the terminal sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// The WebSocket is opening (authorize, dial, upgrade).
    Connecting,
    /// The relay said `connected`.
    Connected {
        /// Pod, when known.
        pod: Option<String>,
        /// Container, when known.
        container: Option<String>,
        /// When the relay will end the session (ms since the epoch), if a
        /// max session time applies.
        expires_at: Option<u64>,
        /// When the relay will end the session for inactivity (ms since the
        /// epoch), once it has warned; cleared by a keystroke or output.
        idle_ends_at: Option<u64>,
        /// Read-only viewers watching now.
        viewers: u32,
    },
    /// Watching someone's session, read-only (`?view=`).
    Viewing {
        /// Whose session; `None` when signed out.
        owner: Option<String>,
    },
    /// The WebSocket dropped without an end; the page is resuming the same
    /// session (attempt `n`, with backoff, within the relay's grace period).
    Reconnecting {
        /// Attempts so far, from 1.
        attempt: u32,
    },
    /// The session ended with a reason (and maybe an exit status).
    Ended {
        /// The close code, when the relay sent one of Porthole's.
        code: Option<u16>,
        /// Why, in the relay's words.
        reason: String,
        /// The process's exit code, if it exited.
        exit: Option<i32>,
    },
    /// The WebSocket never opened: refused before the upgrade, or unreachable.
    Failed,
    /// No session can be opened, and why (no pods, the cluster's error, a
    /// pod that is not a terminal of the environment).
    Unavailable(String),
}

impl Status {
    /// The status line's text, without a countdown.
    pub fn text(&self) -> String {
        self.text_at(None)
    }

    /// The status line's text at `now_ms` (ms since the epoch): while a max
    /// session time applies, with the time left.
    pub fn text_at(&self, now_ms: Option<f64>) -> String {
        match self {
            Status::Connecting => "Connecting…".into(),
            Status::Reconnecting { attempt } => format!("Reconnecting… ({attempt})"),
            Status::Viewing { owner: Some(owner) } => format!("Viewing {owner}'s session, read-only"),
            Status::Viewing { owner: None } => "Viewing a session, read-only".into(),
            Status::Connected { pod, container, expires_at, idle_ends_at, viewers } => {
                let mut text = match (pod, container) {
                    (Some(pod), Some(container)) => format!("Connected to pod {pod}, container {container}"),
                    (Some(pod), None) => format!("Connected to pod {pod}"),
                    _ => "Connected".into(),
                };
                match viewers {
                    0 => {}
                    1 => text.push_str(" · 1 watching"),
                    n => text.push_str(&format!(" · {n} watching")),
                }
                let left = |at: u64, now: f64| {
                    let left = ((at as f64 - now) / 1000.0).round().max(0.0) as u64;
                    format!("{}:{:02}", left / 60, left % 60)
                };
                if let (Some(at), Some(now)) = (expires_at, now_ms) {
                    text.push_str(&format!(" · session ends in {}", left(*at, now)));
                }
                if let (Some(at), Some(now)) = (idle_ends_at, now_ms) {
                    text.push_str(&format!(" · closes in {} without activity: type to keep it", left(*at, now)));
                }
                text
            }
            // The expiry reason stands on its own ("Session expired: …").
            Status::Ended { code: Some(code), reason, .. } if *code == CloseCode::SessionExpired.code() => reason.clone(),
            Status::Ended { reason, exit: Some(code), .. } if !reason.contains("exit status") => {
                format!("Ended: {reason}, {}", describe_exit(*code))
            }
            Status::Ended { reason, .. } => format!("Ended: {reason}"),
            Status::Failed => "Connection failed".into(),
            Status::Unavailable(why) => why.clone(),
        }
    }

    /// A CSS class for the state.
    pub fn class(&self) -> &'static str {
        match self {
            Status::Connecting | Status::Reconnecting { .. } => "status connecting",
            // The idle timeout is near: a warning, not a plain "connected".
            Status::Connected { idle_ends_at: Some(_), .. } => "status connected warning",
            Status::Connected { .. } | Status::Viewing { .. } => "status connected",
            Status::Ended { exit: Some(0), .. } => "status ended",
            Status::Ended { .. } => "status ended abnormal",
            Status::Failed | Status::Unavailable(_) => "status failed",
        }
    }

    /// True once the session is over (Reconnect is offered).
    pub fn is_over(&self) -> bool {
        matches!(self, Status::Ended { .. } | Status::Failed | Status::Unavailable(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts() {
        assert_eq!(Status::Connecting.text(), "Connecting…");
        assert_eq!(
            Status::Connected { pod: Some("web-1".into()), container: Some("app".into()), expires_at: None, idle_ends_at: None, viewers: 0 }.text(),
            "Connected to pod web-1, container app"
        );
        assert_eq!(
            Status::Ended { code: Some(4000), reason: "the process exited with exit status 3".into(), exit: Some(3) }.text(),
            "Ended: the process exited with exit status 3"
        );
        assert_eq!(
            Status::Ended { code: Some(4007), reason: "pod terminated".into(), exit: Some(137) }.text(),
            "Ended: pod terminated, exit status 137 (killed by signal 9)"
        );
        let expired = "Session expired: the maximum session time is 60 seconds";
        assert_eq!(Status::Ended { code: Some(4006), reason: expired.into(), exit: None }.text(), expired);
        assert_eq!(Status::Failed.text(), "Connection failed");
        assert!(Status::Failed.is_over() && !Status::Connecting.is_over());
        assert_eq!(Status::Reconnecting { attempt: 3 }.text(), "Reconnecting… (3)");
        assert_eq!(Status::Viewing { owner: Some("maintainer".into()) }.text(), "Viewing maintainer's session, read-only");
        let watched = Status::Connected { pod: Some("web-1".into()), container: None, expires_at: None, idle_ends_at: None, viewers: 2 };
        assert_eq!(watched.text(), "Connected to pod web-1 · 2 watching");
        assert!(!Status::Reconnecting { attempt: 3 }.is_over());
    }

    #[test]
    fn countdown() {
        let s = Status::Connected { pod: None, container: None, expires_at: Some(100_000), idle_ends_at: None, viewers: 0 };
        assert_eq!(s.text_at(Some(100_000.0 - 61_600.0)), "Connected · session ends in 1:02");
        assert_eq!(s.text_at(Some(100_000.0 - 19_990.0)), "Connected · session ends in 0:20");
        assert_eq!(s.text_at(Some(200_000.0)), "Connected · session ends in 0:00");
        assert_eq!(s.text_at(None), "Connected");
        let idle = Status::Connected { pod: None, container: None, expires_at: None, idle_ends_at: Some(100_000), viewers: 0 };
        assert_eq!(idle.text_at(Some(40_000.0)), "Connected · closes in 1:00 without activity: type to keep it");
    }
}
