//! Every terminal session's end reaches the app's audit log exactly once:
//! [`Audit`] reports it (bytes each way, close code, reason, exit status),
//! or its drop does; [`Pending`] lets shutdown wait for the reports.

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
}

impl Audit {
    /// Reports to `authorizer`'s app under `id` (nothing without one);
    /// counted in `pending` until reported.
    pub fn new(authorizer: Authorizer, id: Option<String>, pending: Pending) -> Audit {
        if id.is_some() {
            pending.add();
        }
        Audit { authorizer, id, pending }
    }

    /// Reports the end in the background (the session is over either way).
    pub fn ended(mut self, end: End, traffic: Traffic) {
        self.report(&end, traffic);
    }

    fn report(&mut self, end: &End, traffic: Traffic) {
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

