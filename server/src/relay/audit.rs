//! Every terminal session's end reaches the app's audit log exactly once:
//! [`Audit`] reports it (bytes each way, close code, reason, exit status),
//! or its drop does; [`Pending`] lets shutdown wait for the reports. The
//! same report writes the session's one end-of-session log line
//! ([`Subject`]), for log shippers (`--log-format json`).

use super::authorize::Authorizer;
use super::session::Traffic;
use shared::close::End;
use std::time::Duration;

/// Where the app recorded this session, to report its end to. Every path
/// out of a session reports exactly once: [`Audit::ended`] with how it
/// ended, or — when the session is dropped on the way (the browser left
/// during the dial, the upgrade failed) — the drop, as "the browser closed
/// the terminal".
pub struct Audit {
    authorizer: Authorizer,
    /// The audit log entry, when the app recorded one.
    pub id: Option<String>,
    pending: Pending,
    /// Whom and what the log line names; `None` once it is written.
    subject: Option<Subject>,
}

/// Who used which terminal: the fields of the `session ended` log line.
#[derive(Debug, Clone)]
pub struct Subject {
    /// `"terminal"` (who types) or `"viewer"` (who watches).
    pub role: &'static str,
    /// The user the app granted it to; `None` when signed out.
    pub user: Option<String>,
    /// The project and environment or job, from the terminal's path.
    pub target: Option<shared::paths::TerminalTarget>,
    /// The pod and container of a Kubernetes exec, when the relay dialed one.
    pub pod: Option<String>,
    /// See `pod`.
    pub container: Option<String>,
    /// When the browser was authorized, for the duration.
    pub started: std::time::Instant,
}

impl Subject {
    /// A subject for the terminal at `path` (e.g.
    /// `/demo/shop/-/environments/1/terminal.ws`) granted to `user`,
    /// starting now.
    pub fn new(role: &'static str, user: Option<String>, path: &str) -> Subject {
        let target = shared::paths::TerminalTarget::parse_as(path, shared::paths::Suffix::TerminalWs);
        Subject { role, user, target, pod: None, container: None, started: std::time::Instant::now() }
    }

    /// Writes the one `session ended` line: `user`, `project`,
    /// `environment` or `job` (ids), `pod`, `container`, `duration_ms`,
    /// `bytes_in`, `bytes_out`, `close_code`, `reason`, `exit_code`.
    fn log(&self, end: &End, traffic: Traffic, audit_id: Option<&str>) {
        let (code, reason) = end.close();
        let project = self.target.as_ref().map(|t| t.project.as_str());
        let id = |kind| self.target.as_ref().filter(|t| t.kind == kind).map(|t| t.id);
        tracing::info!(
            role = self.role,
            user = self.user.as_deref(),
            project,
            environment = id(shared::paths::TerminalKind::Environment),
            job = id(shared::paths::TerminalKind::Job),
            pod = self.pod.as_deref(),
            container = self.container.as_deref(),
            duration_ms = self.started.elapsed().as_millis() as u64,
            bytes_in = traffic.bytes_in,
            bytes_out = traffic.bytes_out,
            close_code = code.code(),
            reason,
            exit_code = match end {
                End::Exited(code) => Some(*code),
                _ => None,
            },
            audit_id,
            "session ended"
        );
    }
}

impl Audit {
    /// Reports to `authorizer`'s app under `id` (nothing without one);
    /// counted in `pending` until reported.
    pub fn new(authorizer: Authorizer, id: Option<String>, pending: Pending, subject: Subject) -> Audit {
        if id.is_some() {
            pending.add();
        }
        Audit { authorizer, id, pending, subject: Some(subject) }
    }

    /// Names the pod and container the relay dialed, for the log line.
    pub fn dialed(&mut self, pod: Option<String>, container: Option<String>) {
        if let Some(subject) = &mut self.subject {
            (subject.pod, subject.container) = (pod, container);
        }
    }

    /// Reports the end in the background (the session is over either way).
    pub fn ended(mut self, end: End, traffic: Traffic) {
        self.report(&end, traffic);
    }

    fn report(&mut self, end: &End, traffic: Traffic) {
        if let Some(subject) = self.subject.take() {
            subject.log(end, traffic, self.id.as_deref());
        }
        let Some(id) = self.id.take() else { return };
        let (code, reason) = end.close();
        let ended = shared::api::SessionEnded {
            bytes_in: traffic.bytes_in,
            bytes_out: traffic.bytes_out,
            close_code: code.code(),
            reason,
            exit_code: match end {
                End::Exited(code) => Some(*code),
                _ => None,
            },
        };
        let authorizer = self.authorizer.clone();
        let pending = self.pending.clone();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            pending.done();
            return;
        };
        runtime.spawn(async move {
            authorizer.report_end(&id, &ended).await;
            pending.done();
        });
    }
}

impl Drop for Audit {
    fn drop(&mut self) {
        self.report(&End::BrowserGone, Traffic::default());
    }
}

/// Sessions whose end is not reported to the app yet: shutdown waits for
/// them before the app stops listening.
#[derive(Debug, Clone)]
pub struct Pending(std::sync::Arc<tokio::sync::watch::Sender<usize>>);

impl Default for Pending {
    fn default() -> Self {
        Pending(std::sync::Arc::new(tokio::sync::watch::Sender::new(0)))
    }
}

impl Pending {
    fn add(&self) {
        self.0.send_modify(|n| *n += 1);
    }

    fn done(&self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }

    /// Waits until every end is reported, or `timeout` passes.
    pub async fn reported(&self, timeout: Duration) {
        let mut rx = self.0.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|n| *n == 0)).await;
    }
}

