//! `GET /session/<id>/exec`: the job's terminal, a shell in the job's folder.
//!
//! Checks, in GitLab Runner's order: the session exists (404), the
//! `Authorization` header equals its token (401, constant-time), the request
//! is a WebSocket upgrade (405), the job's environment is ready within
//! `terminal_wait` (503), no terminal is attached (423). It speaks the same
//! subprotocols a relay offers browsers, with the same codec
//! ([`crate::relay::browser::BrowserCodec`]): `v1.porthole` (resize, exit
//! status and end reason), `terminal.gitlab.com`, `base64.terminal.gitlab.com`.

use super::{ServerState, Session};
use crate::local_cluster::constant_time_eq;
use crate::pty::{self, Spec};
use crate::relay::browser::{BrowserCodec, BrowserEvent};
use crate::wsframe::{axum_close, from_axum, to_axum};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use shared::close::CloseCode;
use shared::porthole::{ServerMessage, TerminalSize};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The shell a job terminal runs: bash when the job's environment has it.
const SHELL: [&str; 3] = ["sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi"];

fn refuse(status: StatusCode, message: &str) -> Response {
    tracing::info!(status = status.as_u16(), message, "job terminal refused");
    (status, format!("{message}\n")).into_response()
}

/// Frees the session's one terminal slot when the terminal ends (or never starts).
struct Attached(Arc<Session>);

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
    let grace = state.kill_grace;
    tracing::info!(job = session.job_id, ?codec, "job terminal attached");
    let upgrade = match protocol {
        Some(name) => upgrade.protocols([name]),
        None => upgrade,
    };
    upgrade.max_message_size(crate::relay::MAX_BROWSER_MESSAGE).on_upgrade(move |socket| async move {
        run(socket, codec, &attached.0, grace).await;
        drop(attached);
    })
}

/// How a terminal ended.
enum Stop {
    Exited(i32),
    ClientGone,
    SessionClosed(String),
}

async fn run(socket: WebSocket, codec: BrowserCodec, session: &Session, grace: Duration) {
    let (mut sink, mut stream) = socket.split();
    let mut size = crate::local_cluster::DEFAULT_SIZE;
    let mut early = Vec::new();
    if codec.acknowledges_output() {
        // A Porthole relay sends the size first: start the shell at it.
        let deadline = tokio::time::Instant::now() + crate::local_cluster::INITIAL_RESIZE_WAIT;
        while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, stream.next()).await {
            let Some(frame) = from_axum(msg) else { continue };
            match codec.decode(frame) {
                Ok(BrowserEvent::Resize(s)) => {
                    size = s;
                    break;
                }
                Ok(BrowserEvent::Input(bytes)) if early.len() < 64 => early.push(bytes),
                _ => {}
            }
        }
    }
    let spec = Spec { argv: SHELL.map(String::from).to_vec(), env: super::job::job_env(session), cwd: session.dir.clone(), size };
    let mut process = match pty::spawn(&spec) {
        Ok(p) => p,
        Err(e) => {
            let reason = format!("cannot start a shell: {e}");
            let _ = sink.send(axum_close(CloseCode::UpstreamError.code(), &reason)).await;
            return;
        }
    };
    for bytes in early {
        let _ = process.writer.write_all(&bytes).await;
    }
    let mut closing = session.closing.subscribe();
    let stop = tokio::select! {
        code = output(&mut sink, &mut process.reader, &mut process.child, codec) => code.map_or(Stop::ClientGone, Stop::Exited),
        () = input(&mut stream, &mut process.writer, codec) => Stop::ClientGone,
        reason = closing.wait_for(Option::is_some) => {
            Stop::SessionClosed(reason.map(|r| r.clone().unwrap_or_default()).unwrap_or_default())
        }
    };
    let pty::PtyProcess { child, pid, reader, writer } = process;
    drop((reader, writer));
    pty::hang_up(child, pid, grace);
    let (code, reason, exit) = match stop {
        Stop::ClientGone => return,
        Stop::Exited(c) => (CloseCode::ProcessExited, format!("the process exited with {}", shared::porthole::describe_exit(c)), Some(c)),
        Stop::SessionClosed(reason) => (CloseCode::UpstreamClosed, reason, None),
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        if let Some(frame) = exit.and_then(|c| codec.control(&ServerMessage::Exit { code: c })) {
            sink.send(to_axum(frame)).await?;
        }
        if let Some(frame) = codec.control(&ServerMessage::End { code: code.code(), reason: reason.clone() }) {
            sink.send(to_axum(frame)).await?;
        }
        sink.send(axum_close(code.code(), &reason)).await
    })
    .await;
}

/// PTY → client until the shell has exited and its output is drained (or
/// went quiet); `None` when the client is gone.
async fn output(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    reader: &mut pty_process::OwnedReadPty,
    child: &mut tokio::process::Child,
    codec: BrowserCodec,
) -> Option<i32> {
    let mut buf = vec![0u8; 32 << 10];
    let mut exit = None;
    let mut drain_until = tokio::time::Instant::now();
    loop {
        let exited = exit.is_some();
        tokio::select! {
            read = async {
                if exited {
                    // Until quiet, and at most 2 s: a background job may write forever.
                    let quiet = (tokio::time::Instant::now() + Duration::from_millis(150)).min(drain_until);
                    tokio::time::timeout_at(quiet, reader.read(&mut buf)).await.unwrap_or(Ok(0))
                } else {
                    reader.read(&mut buf).await
                }
            } => match read {
                Ok(n) if n > 0 => {
                    let frame = codec.output(bytes::Bytes::copy_from_slice(&buf[..n]));
                    if sink.send(to_axum(frame)).await.is_err() {
                        return None;
                    }
                }
                _ => return Some(match exit {
                    Some(code) => code,
                    None => child.wait().await.map(pty::exit_code).unwrap_or(255),
                }),
            },
            status = child.wait(), if !exited => {
                exit = Some(status.map(pty::exit_code).unwrap_or(255));
                drain_until = tokio::time::Instant::now() + Duration::from_secs(2);
            }
        }
    }
}

/// Client → PTY until the client goes away or breaks its subprotocol.
async fn input(stream: &mut futures_util::stream::SplitStream<WebSocket>, writer: &mut pty_process::OwnedWritePty, codec: BrowserCodec) {
    while let Some(Ok(msg)) = stream.next().await {
        if matches!(msg, Message::Close(_)) {
            return;
        }
        let Some(frame) = from_axum(msg) else { continue };
        match codec.decode(frame) {
            Ok(BrowserEvent::Input(bytes)) => {
                // A shell that stopped reading breaks its input, not the
                // terminal: its exit status still follows.
                if let Err(e) = writer.write_all(&bytes).await {
                    tracing::debug!(error = %e, "job terminal input broken");
                }
            }
            Ok(BrowserEvent::Resize(size)) => {
                let _ = writer.resize(pty::to_pty_size(TerminalSize { cols: size.cols, rows: size.rows }));
            }
            Ok(BrowserEvent::Ack(_)) => {}
            Err(e) => {
                tracing::info!(error = %e, "bad frame on a job terminal; closing");
                return;
            }
        }
    }
}
