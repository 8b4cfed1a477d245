//! The session server's registry: each job's session, and the settings
//! every handler shares.

use super::config::SessionServerConfig;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One job's session: its terminal's token, folder and state (GitLab
/// Runner's `session.Session`).
pub struct JobSession {
    /// The token a relay must present as `Authorization`.
    pub token: String,
    /// The job.
    pub job_id: u64,
    /// The job's folder, where its script and terminal run.
    pub dir: PathBuf,
    /// True once the job's environment exists.
    pub ready: tokio::sync::watch::Sender<bool>,
    /// True while a terminal is attached (one at a time).
    pub attached: std::sync::atomic::AtomicBool,
    /// Set when the session ends: attached terminals close with this reason.
    pub closing: tokio::sync::watch::Sender<Option<String>>,
}

/// The registry and settings every handler shares.
pub struct ServerState {
    /// Job sessions by id (the last path segment of their URL).
    pub sessions: Mutex<HashMap<String, Arc<JobSession>>>,
    /// The server's configuration.
    pub config: SessionServerConfig,
    /// After SIGHUP, how long before SIGKILL.
    pub kill_grace: Duration,
    /// Where jobs run, and as whom.
    pub sandbox: crate::sandbox::Sandbox,
    /// Jobs not yet reported finished.
    pub live_jobs: tokio::sync::watch::Sender<usize>,
}

impl ServerState {
    /// The job session `id`.
    pub fn session(&self, id: &str) -> Option<Arc<JobSession>> {
        self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(id).cloned()
    }
}
