//! What the status line says about the session.

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
    },
    /// The session ended with a reason (and maybe an exit status).
    Ended {
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
    /// The status line's text.
    pub fn text(&self) -> String {
        match self {
            Status::Connecting => "Connecting…".into(),
            Status::Connected { pod: Some(pod), container: Some(container) } => {
                format!("Connected to pod {pod}, container {container}")
            }
            Status::Connected { pod: Some(pod), container: None } => format!("Connected to pod {pod}"),
            Status::Connected { .. } => "Connected".into(),
            Status::Ended { reason, exit: Some(code) } if !reason.contains("exit status") => {
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
            Status::Connecting => "status connecting",
            Status::Connected { .. } => "status connected",
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
            Status::Connected { pod: Some("web-1".into()), container: Some("app".into()) }.text(),
            "Connected to pod web-1, container app"
        );
        assert_eq!(
            Status::Ended { reason: "the process exited with exit status 3".into(), exit: Some(3) }.text(),
            "Ended: the process exited with exit status 3"
        );
        assert_eq!(Status::Ended { reason: "pod terminated".into(), exit: Some(137) }.text(), "Ended: pod terminated, exit status 137 (killed by signal 9)");
        assert_eq!(Status::Failed.text(), "Connection failed");
        assert!(Status::Failed.is_over() && !Status::Connecting.is_over());
    }
}
