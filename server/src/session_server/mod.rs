//! The session server, in GitLab Runner's role (`session/server.go`,
//! `session/session.go`): interactive web terminals for running CI jobs.
//!
//! - At every start it makes a fresh self-signed certificate for its
//!   advertise host ([`crate::tls::self_signed`]) and serves `wss` with it.
//! - It asks the app for jobs (`POST /api/v4/jobs/request`, with its runner
//!   token); with each request it sends a new session — URL
//!   `https://<advertise>/session/<32 random chars>`, the certificate, and a
//!   32-character token — the shape GitLab Runner sends.
//! - It runs each job's script in a real PTY ([`job`]); after the script
//!   ends, the job's terminal stays available for `session_timeout`, then the
//!   job finishes (`PUT /api/v4/jobs/<id>`) and its session is discarded.
//! - `GET /session/<id>/exec` ([`terminal`]): unknown id 404, a wrong
//!   `Authorization` 401, no WebSocket upgrade 405, the terminal not ready
//!   within [`SessionServerConfig::terminal_wait`] 503, a terminal already
//!   attached 423; then a shell in the job's directory over
//!   `v1.porthole`, `terminal.gitlab.com` or `base64.terminal.gitlab.com`.

pub mod job;
pub mod terminal;

use crate::shutdown::Shutdown;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// GitLab Runner's `[session_server]` section, plus how to reach the app.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionServerConfig {
    /// `listen_address`: where to listen, e.g. `127.0.0.1:8093` (port 0: any).
    pub listen_address: SocketAddr,
    /// `advertise_address`: `host:port` the app's relay dials, without a
    /// scheme; default the listen address (with the bound port).
    #[serde(default)]
    pub advertise_address: Option<String>,
    /// `session_timeout`: seconds the terminal stays available after the
    /// script ends (and the job waits for it); default 1800.
    #[serde(default = "default_session_timeout")]
    pub session_timeout: u64,
    /// How long an exec request waits for the job's terminal to be ready
    /// before answering 503 (GitLab Runner: 1 minute).
    #[serde(default = "default_terminal_wait", with = "seconds")]
    pub terminal_wait: Duration,
    /// How often to ask the app for a job.
    #[serde(default = "default_poll", with = "seconds")]
    pub poll_interval: Duration,
}

fn default_session_timeout() -> u64 {
    1800
}

fn default_terminal_wait() -> Duration {
    Duration::from_secs(60)
}

fn default_poll() -> Duration {
    Duration::from_secs(2)
}

mod seconds {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Duration::try_from_secs_f64(f64::deserialize(d)?).map_err(|e| serde::de::Error::custom(format!("seconds: {e}")))
    }
}

impl SessionServerConfig {
    /// Defaults on `listen_address`.
    pub fn new(listen_address: SocketAddr) -> SessionServerConfig {
        SessionServerConfig {
            listen_address,
            advertise_address: None,
            session_timeout: default_session_timeout(),
            terminal_wait: default_terminal_wait(),
            poll_interval: default_poll(),
        }
    }
}

/// What GitLab Runner sends as `session` in `POST /api/v4/jobs/request`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// `https://<advertise>/session/<id>`.
    pub url: String,
    /// The server's certificate, PEM (pinned by the relay as `CAPem`).
    pub certificate: String,
    /// The token the relay must send as `Authorization` (no "Bearer").
    pub authorization: String,
}

/// A job as the app hands it to a runner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    /// Job id.
    pub id: u64,
    /// Job name.
    pub name: String,
    /// Shell script (run by `sh -c`).
    pub script: String,
    /// Seconds the executor needs before the job's environment exists and a
    /// terminal can attach (like pulling an image); usually 0.
    #[serde(default)]
    pub prepare_seconds: u64,
}

/// One job's terminal session.
pub(crate) struct Session {
    pub token: String,
    pub job_id: u64,
    pub dir: PathBuf,
    /// True once the job's environment exists.
    pub ready: tokio::sync::watch::Sender<bool>,
    /// True while a terminal is attached (one at a time).
    pub attached: std::sync::atomic::AtomicBool,
    /// Set when the session ends: attached terminals close with this reason.
    pub closing: tokio::sync::watch::Sender<Option<String>>,
}

/// The registry and settings every handler shares.
pub(crate) struct ServerState {
    pub sessions: Mutex<HashMap<String, Arc<Session>>>,
    pub config: SessionServerConfig,
    pub kill_grace: Duration,
    /// Jobs not yet reported finished.
    pub live_jobs: tokio::sync::watch::Sender<usize>,
}

impl ServerState {
    pub fn session(&self, id: &str) -> Option<Arc<Session>> {
        self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(id).cloned()
    }
}

/// A running session server.
#[derive(Clone)]
pub struct SessionServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `host:port` it advertises.
    pub advertise: String,
    /// Its self-signed certificate, PEM.
    pub certificate: String,
    state: Arc<ServerState>,
}

impl std::fmt::Debug for SessionServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionServer").field("addr", &self.addr).field("advertise", &self.advertise).finish_non_exhaustive()
    }
}

/// A random string of `n` characters from `[a-z0-9]`.
pub fn random_id(n: usize) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..n).map(|_| CHARS[rng.random_range(0..CHARS.len())] as char).collect()
}

impl SessionServer {
    /// After shutdown: waits (at most `limit`) until every job has reported
    /// its end to the app.
    pub async fn jobs_ended(&self, limit: Duration) {
        let mut live = self.state.live_jobs.subscribe();
        let _ = tokio::time::timeout(limit, live.wait_for(|n| *n == 0)).await;
    }

    /// Starts serving and asking `app_url` for jobs with `runner_token`; jobs
    /// run in folders under `jobs_dir`.
    pub async fn start(
        config: SessionServerConfig,
        app_url: url::Url,
        runner_token: String,
        jobs_dir: PathBuf,
        kill_grace: Duration,
        shutdown: Shutdown,
    ) -> anyhow::Result<SessionServer> {
        let listener = tokio::net::TcpListener::bind(config.listen_address).await?;
        let addr = listener.local_addr()?;
        let advertise = config.advertise_address.clone().unwrap_or_else(|| addr.to_string());
        anyhow::ensure!(!advertise.contains("://"), "advertise_address {advertise:?}: url not valid, scheme defined");
        let host = advertise.rsplit_once(':').map(|(h, _)| h).unwrap_or(&advertise).trim_matches(['[', ']']);
        let (certificate, key) = crate::tls::self_signed(host)?;
        let tls = crate::tls::server_config(&certificate, &key)?;
        let state = Arc::new(ServerState {
            sessions: Mutex::default(),
            config,
            kill_grace,
            live_jobs: tokio::sync::watch::Sender::new(0),
        });
        let router = axum::Router::new()
            .route("/session/{id}/exec", axum::routing::any(terminal::exec))
            .fallback(|| async { (http::StatusCode::NOT_FOUND, "Not Found\n") })
            .with_state(state.clone());
        tokio::spawn(crate::tls::serve_tls(listener, tls, router, shutdown.clone()));
        let server = SessionServer { addr, advertise, certificate, state: state.clone() };
        tokio::spawn(job::request_jobs(state, server.clone(), app_url, runner_token, jobs_dir, shutdown));
        tracing::info!(%addr, advertise = server.advertise, "session server listening");
        Ok(server)
    }
}
