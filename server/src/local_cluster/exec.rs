//! `GET /api/v1/namespaces/{ns}/pods/{pod}/exec` over WebSocket, as the
//! kubelet and API server serve it (see `shared::k8s` for the framing).
//!
//! Order of events on one exec:
//! 1. refuse before the upgrade: a missing pod (404), a bad container or
//!    command (400), no WebSocket upgrade (400), or no supported subprotocol
//!    offered (400) — each with a `metav1.Status` body;
//! 2. upgrade with the first subprotocol the client offered that we support,
//!    and send the empty "connected" frame on the lowest writable channel;
//! 3. with a TTY, wait up to [`INITIAL_RESIZE_WAIT`] for the client's first
//!    resize, so the shell starts at the right size (kubectl sends its size
//!    first);
//! 4. run the command ([`super::process`]): in a PTY with `tty=true` (output
//!    on stdout, resize (4) applied, the v5 close of stdin delivered as EOT),
//!    else with pipes (stdout on 1, stderr on 2, the v5 close of stdin closes
//!    the pipe); a stdin that breaks is dropped, not the session;
//! 5. when the process exits: drain its output (boundedly), write the status
//!    on channel 3 (JSON on v4/v5; text on failure only on v1), send a Close
//!    frame; when the client goes first: hang up the process's session; when
//!    the pod is deleted: kill it and report exit code 137.

use super::ClusterState;
use crate::shutdown::Shutdown;
use super::process::{self, Input, Output, Process, Streams};
use crate::pty::{self, Spec};
use crate::wsframe::{from_axum, to_axum};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use shared::k8s::{self, Outcome, Protocol, ResizeMessage, Status};
use shared::porthole::TerminalSize;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// How long an exec waits for the client's first resize before it starts the
/// process at the default size.
pub const INITIAL_RESIZE_WAIT: Duration = Duration::from_millis(300);

/// The size a PTY starts at when the client sends none (the runtimes' default).
pub const DEFAULT_SIZE: TerminalSize = TerminalSize { cols: 80, rows: 24 };

/// After the process exits, output still arriving is forwarded until the PTY
/// is quiet this long (a background job may hold the terminal open).
const DRAIN_IDLE: Duration = Duration::from_millis(150);

/// Largest frame accepted from a client (4 MiB).
const MAX_MESSAGE: usize = 4 << 20;

/// Stdin that arrives before the first resize is kept up to this many bytes;
/// past that the process starts at once.
const MAX_EARLY_INPUT: usize = 64 << 10;

/// After the process exits, output is drained for at most this long (a
/// background job may keep writing to the terminal forever).
const DRAIN_MAX: Duration = Duration::from_secs(2);

/// The exec query: `command` repeated, `container`, and the stream flags.
#[derive(Debug, Default, PartialEq)]
struct ExecQuery {
    command: Vec<String>,
    container: Option<String>,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    tty: bool,
}

impl ExecQuery {
    fn parse(query: &str) -> ExecQuery {
        let mut q = ExecQuery::default();
        let flag = |v: &str| matches!(v, "true" | "1" | "True" | "TRUE");
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "command" => q.command.push(value.into_owned()),
                "container" => q.container = Some(value.into_owned()),
                "stdin" => q.stdin = flag(&value),
                "stdout" => q.stdout = flag(&value),
                "stderr" => q.stderr = flag(&value),
                "tty" => q.tty = flag(&value),
                _ => {}
            }
        }
        q
    }
}

/// An error before the upgrade, answered as a `metav1.Status` body.
pub(super) fn status_response(code: StatusCode, reason: &str, message: impl Into<String>) -> Response {
    let message = message.into();
    tracing::info!(status = code.as_u16(), %message, "local cluster refused a request");
    let body = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code.as_u16(),
    });
    (code, axum::Json(body)).into_response()
}

fn bad_request(message: impl Into<String>) -> Response {
    status_response(StatusCode::BAD_REQUEST, "BadRequest", message)
}

/// The first subprotocol the client offered that is supported; `Ok(None)` when
/// it offered none (the empty subprotocol means `channel.k8s.io`).
fn negotiate(headers: &HeaderMap) -> Result<Option<Protocol>, String> {
    let offered = crate::wsframe::offered_subprotocols(headers);
    if offered.is_empty() {
        return Ok(None);
    }
    offered
        .iter()
        .find_map(|name| Protocol::from_name(name))
        .map(Some)
        .ok_or_else(|| format!("none of the offered subprotocols {offered:?} is supported"))
}

/// The exec handler.
pub(super) async fn exec(
    State(state): State<Arc<ClusterState>>,
    Path((namespace, pod_name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let query = ExecQuery::parse(query.as_deref().unwrap_or(""));
    let Some(pod) = state.pod(&namespace, &pod_name) else {
        return status_response(StatusCode::NOT_FOUND, "NotFound", format!("pods \"{pod_name}\" not found"));
    };
    let container = match &query.container {
        Some(c) if pod.containers.contains(c) => c.clone(),
        Some(c) => return bad_request(format!("container {c} is not valid for pod {pod_name}")),
        None if pod.containers.len() == 1 => pod.containers[0].clone(),
        None => {
            return bad_request(format!(
                "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                pod.containers.join(" ")
            ));
        }
    };
    if query.command.is_empty() {
        return bad_request("you must specify at least one command for the container");
    }
    if !(query.stdin || query.stdout || query.stderr) {
        return bad_request("you must specify at least one of stdin, stdout, stderr");
    }
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return bad_request(format!("exec needs a WebSocket upgrade: {rejection}")),
    };
    let protocol = match negotiate(&headers) {
        Ok(p) => p,
        Err(message) => return bad_request(message),
    };
    let mut env = pod.exec_env(&container);
    if !query.tty {
        env.retain(|(k, _)| k != "TERM");
    }
    let spec = Spec { argv: query.command.clone(), env, cwd: pod.dir.clone(), size: DEFAULT_SIZE };
    // With a terminal, stderr is merged into it and channel 2 is not used
    // (the kubelet: "exec with tty and stderr is not supported, bypassing stderr").
    let streams = Streams { stdin: query.stdin, stdout: query.stdout, stderr: query.stderr && !query.tty, tty: query.tty };
    let pod_gone = pod.gone.subscribe();
    let grace = state.kill_grace;
    let shutdown = state.shutdown.clone();
    let live = state.live_execs.clone();
    tracing::info!(namespace, pod = pod_name, container, command = ?query.command, protocol = ?protocol, "exec");
    let upgrade = match protocol {
        Some(p) => upgrade.protocols([p.name()]),
        None => upgrade,
    };
    upgrade
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .on_upgrade(move |socket| async move {
            live.send_modify(|n| *n += 1);
            let exec = Exec { protocol: protocol.unwrap_or(Protocol::V1), spec, streams, grace, shutdown, pod_gone };
            run(socket, exec).await;
            live.send_modify(|n| *n -= 1);
        })
}

type Sink = SplitSink<WebSocket, Message>;
type Stream = SplitStream<WebSocket>;

async fn send(sink: &mut Sink, protocol: Protocol, channel: u8, payload: &[u8]) -> Result<(), axum::Error> {
    sink.send(to_axum(k8s::encode(protocol, channel, payload))).await
}

/// Everything one exec needs after the upgrade.
struct Exec {
    protocol: Protocol,
    spec: Spec,
    streams: Streams,
    grace: Duration,
    shutdown: Shutdown,
    pod_gone: tokio::sync::watch::Receiver<bool>,
}

/// Why an exec's process stopped being served.
enum Stop {
    /// The process exited with this code.
    Exited(i32),
    /// The client closed or broke the connection.
    ClientGone,
    /// The pod was deleted.
    PodDeleted,
    /// The local cluster is shutting down.
    Shutdown,
}

/// One exec, from the upgrade to the end.
async fn run(socket: WebSocket, mut exec: Exec) {
    let protocol = exec.protocol;
    let (mut sink, mut stream) = socket.split();
    // The "connected" signal: an empty frame on the lowest writable channel.
    let first = if exec.streams.stdout { k8s::STDOUT } else if exec.streams.stderr { k8s::STDERR } else { k8s::STATUS };
    if send(&mut sink, protocol, first, b"").await.is_err() {
        return;
    }
    let early_input = if exec.streams.tty {
        match wait_for_initial_size(&mut stream, protocol, &mut exec.spec).await {
            Some(early) => early,
            None => return,
        }
    } else {
        Vec::new()
    };
    let Process { mut child, pid, mut input, mut outputs } = match process::start(&exec.spec, exec.streams) {
        Ok(p) => p,
        Err(e) => {
            let status = Status::internal_error(format!("failed to start {:?}: {e}", exec.spec.argv));
            finish(&mut sink, &mut stream, protocol, &status).await;
            return;
        }
    };
    process::replay(&mut input, early_input).await;
    let stop = tokio::select! {
        code = pump_output(&mut sink, &mut outputs, &mut child, protocol) => code.map_or(Stop::ClientGone, Stop::Exited),
        () = pump_input(&mut stream, &mut input, protocol, exec.streams.stdin) => Stop::ClientGone,
        _ = exec.pod_gone.wait_for(|gone| *gone) => Stop::PodDeleted,
        () = exec.shutdown.wait() => Stop::Shutdown,
    };
    drop((input, outputs));
    let status = match stop {
        Stop::Exited(code) => {
            tracing::info!(code, "exec finished");
            pty::hang_up(child, pid, exec.grace);
            Status::for_exit_code(code)
        }
        Stop::ClientGone => {
            tracing::info!("exec client went away; hanging up its session");
            pty::hang_up(child, pid, exec.grace);
            return;
        }
        // The container is killed: its execs end as SIGKILLed processes do.
        Stop::PodDeleted => {
            tracing::info!("pod deleted; killing its exec");
            pty::hang_up_now(child, pid, Duration::ZERO).await;
            Status::non_zero_exit(137)
        }
        // The process is about to exit: no background task would outlive it
        // to finish the job, so end the session here and now.
        Stop::Shutdown => {
            pty::hang_up_now(child, pid, exec.grace.min(Duration::from_millis(500))).await;
            Status::internal_error("the local cluster is shutting down")
        }
    };
    finish(&mut sink, &mut stream, protocol, &status).await;
}

/// Reads frames until the first resize (applied to `spec.size`) or until
/// [`INITIAL_RESIZE_WAIT`]; returns the stdin bytes that came first, or
/// `None` when the client went away.
async fn wait_for_initial_size(stream: &mut Stream, protocol: Protocol, spec: &mut Spec) -> Option<Vec<bytes::Bytes>> {
    let deadline = tokio::time::Instant::now() + INITIAL_RESIZE_WAIT;
    let mut early: Vec<bytes::Bytes> = Vec::new();
    while early.iter().map(bytes::Bytes::len).sum::<usize>() < MAX_EARLY_INPUT {
        let msg = match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => break,
            Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return None,
            Ok(Some(Ok(msg))) => msg,
        };
        let Some(frame) = from_axum(msg) else { continue };
        match k8s::decode(protocol, frame) {
            Ok((k8s::RESIZE, payload)) => {
                if let Ok(Some(size)) = ResizeMessage::parse_last(&payload) {
                    if let Ok(size) = TerminalSize::new(size.width.into(), size.height.into()) {
                        spec.size = size;
                    }
                    break;
                }
            }
            Ok((k8s::STDIN, payload)) => early.push(payload),
            Ok(_) => {}
            Err(e) => {
                tracing::info!(error = %e, "bad frame from exec client");
                return None;
            }
        }
    }
    Some(early)
}

/// Reads one output stream into its buffer; never resolves for a closed one.
async fn read_output(output: &mut Option<Output>, buf: &mut [u8]) -> (u8, std::io::Result<usize>) {
    match output {
        Some(o) => (o.channel, o.reader.read(buf).await),
        None => std::future::pending().await,
    }
}

/// Forwards output (stdout, stderr) until the process has exited and its
/// output is drained; returns the exit code, or `None` when the client is gone.
async fn pump_output(
    sink: &mut Sink,
    outputs: &mut Vec<Output>,
    child: &mut tokio::process::Child,
    protocol: Protocol,
) -> Option<i32> {
    let mut sources: [Option<Output>; 2] = [outputs.pop(), outputs.pop()];
    let (mut buf_a, mut buf_b) = (vec![0u8; 32 << 10], vec![0u8; 32 << 10]);
    let mut exit: Option<i32> = None;
    let mut drain_until = tokio::time::Instant::now();
    loop {
        if sources.iter().all(Option::is_none) {
            return match exit {
                Some(code) => Some(code),
                None => Some(child.wait().await.map(pty::exit_code).unwrap_or(255)),
            };
        }
        let exited = exit.is_some();
        // After the exit, output is forwarded until it pauses or the drain ends.
        let quiet = (tokio::time::Instant::now() + DRAIN_IDLE).min(drain_until);
        let [a, b] = &mut sources;
        let (index, channel, read) = tokio::select! {
            (channel, read) = read_output(a, &mut buf_a) => (0, channel, read),
            (channel, read) = read_output(b, &mut buf_b) => (1, channel, read),
            status = child.wait(), if !exited => {
                exit = Some(status.map(pty::exit_code).unwrap_or(255));
                drain_until = tokio::time::Instant::now() + DRAIN_MAX;
                continue;
            }
            () = tokio::time::sleep_until(quiet), if exited => return exit,
        };
        let buf = if index == 0 { &buf_a } else { &buf_b };
        match read {
            Ok(n) if n > 0 => {
                if send(sink, protocol, channel, &buf[..n]).await.is_err() {
                    return None;
                }
            }
            // EOF, or EIO from a PTY once every holder of the terminal is gone.
            _ => sources[index] = None,
        }
    }
}

/// Applies client frames until the client goes away (or breaks the protocol).
async fn pump_input(stream: &mut Stream, input: &mut Input, protocol: Protocol, stdin: bool) {
    while let Some(Ok(msg)) = stream.next().await {
        if matches!(msg, Message::Close(_)) {
            return;
        }
        let Some(frame) = from_axum(msg) else { continue };
        let (channel, payload) = match k8s::decode(protocol, frame) {
            Ok(decoded) => decoded,
            Err(e) => {
                tracing::info!(error = %e, "bad frame from exec client; closing");
                return;
            }
        };
        match channel {
            k8s::STDIN if stdin => {
                // A process that stopped reading (`head -c1`, an exited
                // shell) breaks its stdin, not the exec: its output and
                // status still follow.
                if let Err(e) = input.write(&payload).await {
                    tracing::debug!(error = %e, "stdin broken; dropping it");
                    input.close_broken();
                }
            }
            k8s::RESIZE => match ResizeMessage::parse_last(&payload) {
                Ok(Some(size)) => match TerminalSize::new(size.width.into(), size.height.into()) {
                    Ok(size) => input.resize(size),
                    Err(e) => tracing::info!(error = %e, "ignoring resize"),
                },
                Ok(None) => {}
                Err(e) => tracing::info!(error = %e, "ignoring malformed resize"),
            },
            k8s::CLOSE if protocol.has_close_signal() => {
                if payload.len() != 1 {
                    tracing::info!(len = payload.len(), "malformed close signal; closing");
                    return;
                }
                if payload[0] == k8s::STDIN && stdin && input.close().await.is_err() {
                    input.close_broken();
                }
            }
            other => tracing::debug!(channel = other, "ignoring frame on a channel the client may not write"),
        }
    }
}

/// Writes the status on channel 3, closes the WebSocket and waits briefly for
/// the client's Close, so that buffered output is not cut off.
async fn finish(sink: &mut Sink, stream: &mut Stream, protocol: Protocol, status: &Status) {
    if let Some(payload) = k8s::encode_status(protocol, status) {
        debug_assert!(matches!(k8s::parse_status(protocol, &payload), Outcome::Exited(_) | Outcome::Failed(_)));
        let _ = send(sink, protocol, k8s::STATUS, &payload).await;
    }
    let _ = sink.send(Message::Close(Some(axum::extract::ws::CloseFrame { code: 1000, reason: "".into() }))).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(msg)) = stream.next().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_like_gitlab_builds_it() {
        let q = ExecQuery::parse("container=web&stderr=true&stdin=true&stdout=true&tty=true&command=sh&command=-c&command=bash+%7C%7C+sh");
        assert_eq!(q.command, ["sh", "-c", "bash || sh"]);
        assert_eq!(q.container.as_deref(), Some("web"));
        assert!(q.stdin && q.stdout && q.stderr && q.tty);
        assert_eq!(ExecQuery::parse(""), ExecQuery::default());
    }

    #[test]
    fn negotiation_takes_the_first_supported_offer() {
        let mut h = HeaderMap::new();
        assert_eq!(negotiate(&h), Ok(None));
        h.insert("sec-websocket-protocol", "chat, v4.channel.k8s.io, v5.channel.k8s.io".parse().unwrap());
        assert_eq!(negotiate(&h), Ok(Some(Protocol::V4)));
        h.insert("sec-websocket-protocol", "chat".parse().unwrap());
        assert!(negotiate(&h).is_err());
    }
}
