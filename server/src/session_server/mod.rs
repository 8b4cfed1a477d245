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

pub mod config;
pub mod job;
pub mod registry;
pub mod terminal;

pub use config::SessionServerConfig;
pub use shared::jobs::{JobSpec, SessionInfo};
use registry::ServerState;

use crate::shutdown::Shutdown;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

impl SessionServer {
    /// After shutdown: waits (at most `limit`) until every job has reported
    /// its end to the app.
    pub async fn jobs_ended(&self, limit: Duration) {
        let mut live = self.state.live_jobs.subscribe();
        let _ = tokio::time::timeout(limit, live.wait_for(|n| *n == 0)).await;
    }

    /// Starts serving and asking `app_url` for jobs with `runner_token`; jobs
    /// run in folders under `<sandbox>/jobs`, as the sandbox user.
    pub async fn start(
        config: SessionServerConfig,
        app_url: url::Url,
        runner_token: String,
        sandbox: crate::sandbox::Sandbox,
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
            sandbox: sandbox.clone(),
            live_jobs: tokio::sync::watch::Sender::new(0),
        });
        let router = axum::Router::new()
            .route("/session/{id}/exec", axum::routing::any(terminal::exec))
            .fallback(|| async { (http::StatusCode::NOT_FOUND, "Not Found\n") })
            .with_state(state.clone());
        tokio::spawn(crate::tls::serve_tls(listener, tls, router, shutdown.clone()));
        let server = SessionServer { addr, advertise, certificate, state: state.clone() };
        let runner = job::Runner { advertise: server.advertise.clone(), certificate: server.certificate.clone(), app_url, runner_token, jobs_dir: sandbox.dir.join("jobs") };
        tokio::spawn(job::request_jobs(state, runner, shutdown));
        tracing::info!(%addr, advertise = server.advertise, "session server listening");
        Ok(server)
    }
}
