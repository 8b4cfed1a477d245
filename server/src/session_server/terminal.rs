//! `GET /session/<id>/exec`: the job's terminal, a shell in the job's folder.
//!
//! Checks, in GitLab Runner's order: the session exists (404), the
//! `Authorization` header equals its token (401, constant-time), the request
//! is a WebSocket upgrade (405), the job's environment is ready within
//! `terminal_wait` (503), no terminal is attached (423). It speaks the same
//! subprotocols a relay offers browsers, with the same codec
//! ([`crate::codec::browser::BrowserCodec`]), served by [`crate::exec_server`]: `v1.porthole` (resize, exit
//! status and end reason), `terminal.gitlab.com`, `base64.terminal.gitlab.com`.

use super::registry::{JobSession, ServerState};
use crate::codec::browser::{BrowserCodec, BrowserEvent, MAX_BROWSER_MESSAGE};
use crate::exec_server::process::Streams;
use crate::exec_server::{self, ClientFrame, DEFAULT_SIZE, ExecWire, Halt, Options, Stop};
use crate::pty::Spec;
use crate::secrets::constant_time_eq;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use shared::close::End;
use shared::{DecodeError, Frame};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How long a `v1.porthole` terminal waits for the relay's first resize.
const INITIAL_RESIZE_WAIT: Duration = Duration::from_millis(300);

/// The shell a job terminal runs: bash when the job's environment has it.
const SHELL: [&str; 3] = ["sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi"];

fn refuse(status: StatusCode, message: &str) -> Response {
    tracing::info!(status = status.as_u16(), reason = message, "job terminal refused");
    (status, format!("{message}\n")).into_response()
}

/// Frees the session's one terminal slot when the terminal ends (or never starts).
struct Attached(Arc<JobSession>);

impl Drop for Attached {
    fn drop(&mut self) {
        self.0.attached.store(false, Ordering::Release);
    }
}

/// The exec handler.
pub(crate) async fn exec(
    State(state): State<Arc<ServerState>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let Some(session) = state.session(&id) else { return refuse(StatusCode::NOT_FOUND, "Not Found") };
    let presented = headers.get(http::header::AUTHORIZATION).map(|v| v.as_bytes()).unwrap_or_default();
    if !constant_time_eq(presented, session.token.as_bytes()) {
        return refuse(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let Ok(upgrade) = upgrade else { return refuse(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed: not a WebSocket upgrade") };
    let Ok((codec, protocol)) = BrowserCodec::negotiate(&headers, query.as_deref().unwrap_or("")) else {
        return refuse(StatusCode::BAD_REQUEST, "unsupported subprotocol");
    };
    let mut ready = session.ready.subscribe();
    if tokio::time::timeout(state.config.terminal_wait, ready.wait_for(|r| *r)).await.is_err() {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable: the job's terminal is not ready");
    }
    if session.attached.swap(true, Ordering::AcqRel) {
        return refuse(StatusCode::LOCKED, "Terminal already connected, revoking connection");
    }
    let attached = Attached(session.clone());
    tracing::info!(job = session.job_id, ?codec, "job terminal attached");
    let upgrade = match protocol {
        Some(name) => upgrade.protocols([name]),
        None => upgrade,
    };
    upgrade.max_message_size(MAX_BROWSER_MESSAGE).read_buffer_size(crate::codec::wsframe::READ_BUFFER).on_upgrade(move |socket| async move {
        run(socket, codec, &attached.0, &state).await;
        drop(attached);
    })
}

/// The browser subprotocols, for [`exec_server::serve`]: the session
/// server is a server of what relays offer browsers.
struct JobTerminalWire(BrowserCodec);

impl ExecWire for JobTerminalWire {
    /// The job session ended; its words.
    type Why = String;

    /// A Porthole relay sends the size first: start the shell at it.
    fn waits_for_size(&self) -> bool {
        self.0.acknowledges_output()
    }

    fn decode(&self, frame: Frame) -> Result<ClientFrame, DecodeError> {
        Ok(match self.0.decode(frame)? {
            BrowserEvent::Input(bytes) => ClientFrame::Stdin(bytes),
            BrowserEvent::Resize(size) => ClientFrame::Resize(size),
            BrowserEvent::Ack(_) => ClientFrame::Nothing,
        })
    }

    fn output(&self, _stream: u8, bytes: &[u8]) -> Frame {
        self.0.output(bytes::Bytes::copy_from_slice(bytes))
    }

    fn goodbye(&self, stop: &Stop<String>) -> (Vec<Frame>, u16, String) {
        let end = match stop {
            Stop::Exited(code) => End::Exited(*code),
            Stop::CannotStart(e) => End::Failed(e.clone()),
            Stop::Halted(reason) => End::UpstreamEnded(reason.clone()),
            Stop::ClientGone => End::BrowserGone,
        };
        self.0.goodbye(&end)
    }
}

async fn run(socket: WebSocket, codec: BrowserCodec, session: &JobSession, state: &ServerState) {
    let kill_grace = state.kill_grace;
    let enclosure = state.sandbox.enclosure(&super::job::job_hostname(session.job_id));
    let spec = Spec {
        argv: SHELL.map(String::from).to_vec(),
        env: super::job::job_env(session, enclosure.as_ref()),
        cwd: session.dir.clone(),
        size: DEFAULT_SIZE,
        user: state.sandbox.user,
        enclosure,
    };
    let streams = Streams { stdin: true, stdout: true, stderr: false, tty: true };
    let options = Options { streams, initial_resize_wait: INITIAL_RESIZE_WAIT, kill_grace };
    let mut closing = session.closing.subscribe();
    let halt = async move {
        let reason = closing.wait_for(Option::is_some).await.map(|r| r.clone().unwrap_or_default()).unwrap_or_default();
        Halt { why: reason, kill_within: None }
    };
    let stop = exec_server::serve(socket, JobTerminalWire(codec), spec, options, halt).await;
    tracing::info!(job = session.job_id, ?stop, "job terminal ended");
}
