//! `GET /api/v1/namespaces/{ns}/pods/{pod}/exec` over WebSocket, as the
//! kubelet and API server serve it (see `shared::k8s` for the framing).
//!
//! Order of events on one exec:
//! 1. refuse before the upgrade: a missing pod (404), a bad container or
//!    command (400), no WebSocket upgrade (400), or no supported subprotocol
//!    offered (400) — each with a `metav1.Status` body;
//! 2. upgrade with the first subprotocol the client offered that we support;
//! 3. serve the command with [`crate::exec_server`] over the Kubernetes
//!    channel wire ([`KubeWire`]): the empty "connected" frame on the lowest
//!    writable channel, the wait for the first resize with a TTY (kubectl
//!    sends its size first), output on channels 1 and 2 (one with a TTY),
//!    stdin on 0, resize on 4, the v5 close of stdin on 255;
//! 4. at the end, the status on channel 3 (JSON on v4/v5; text on failure
//!    only on v1) and a Close frame; a deleted pod kills its execs at once
//!    and reports exit code 137.

use super::state::ClusterState;
use super::status::{bad_request, status_response};
use crate::exec_server::process::Streams;
use crate::exec_server::{self, ClientFrame, DEFAULT_SIZE, ExecWire, Halt, Options, Stop};
use crate::pty::Spec;
use crate::sandbox::Enclosure;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use shared::k8s::{self, Outcome, Protocol, ResizeMessage, Status};
use shared::porthole::TerminalSize;
use shared::{DecodeError, Frame};
use std::sync::Arc;
use std::time::Duration;

/// How long an exec waits for the client's first resize before it starts the
/// process at the default size.
pub const INITIAL_RESIZE_WAIT: Duration = Duration::from_millis(300);

/// Largest frame accepted from a client (4 MiB).
const MAX_MESSAGE: usize = 4 << 20;

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

/// The first subprotocol the client offered that is supported; `Ok(None)` when
/// it offered none (the empty subprotocol means `channel.k8s.io`).
fn negotiate(headers: &HeaderMap) -> Result<Option<Protocol>, String> {
    let offered = crate::codec::wsframe::offered_subprotocols(headers);
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
    let enclosure = state.sandbox.enclosure(&pod.name);
    let mut env = pod.exec_env(&container, &Enclosure::home(enclosure.as_ref(), &pod.dir));
    if !query.tty {
        env.retain(|(k, _)| k != "TERM");
    }
    let spec = Spec {
        argv: query.command.clone(),
        env,
        cwd: pod.dir.clone(),
        size: DEFAULT_SIZE,
        user: state.sandbox.user,
        enclosure,
    };
    // With a terminal, stderr is merged into it and channel 2 is not used
    // (the kubelet: "exec with tty and stderr is not supported, bypassing stderr").
    let streams = Streams { stdin: query.stdin, stdout: query.stdout, stderr: query.stderr && !query.tty, tty: query.tty };
    let mut pod_gone = pod.gone.subscribe();
    let options = Options { streams, initial_resize_wait: INITIAL_RESIZE_WAIT, kill_grace: state.kill_grace };
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
        .read_buffer_size(crate::codec::wsframe::READ_BUFFER)
        .on_upgrade(move |socket| async move {
            live.send_modify(|n| *n += 1);
            let wire = KubeWire { protocol: protocol.unwrap_or(Protocol::V1), streams };
            let grace = options.kill_grace;
            let halt = async move {
                tokio::select! {
                    // The container is killed: its execs end as SIGKILLed processes do.
                    _ = pod_gone.wait_for(|gone| *gone) => Halt { why: Halted::PodDeleted, kill_within: Some(Duration::ZERO) },
                    // The process is about to exit: no background task would
                    // outlive it to finish the job.
                    () = shutdown.wait() => Halt { why: Halted::Shutdown, kill_within: Some(grace.min(Duration::from_millis(500))) },
                }
            };
            match exec_server::serve(socket, wire, spec, options, halt).await {
                Stop::Exited(code) => tracing::info!(code, "exec finished"),
                Stop::ClientGone => tracing::info!("exec client went away; its session was hung up"),
                Stop::Halted(why) => tracing::info!(?why, "exec halted"),
                Stop::CannotStart(e) => tracing::info!(error = e, "exec could not start"),
            }
            live.send_modify(|n| *n -= 1);
        })
}

/// Why the local cluster halts an exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Halted {
    /// The pod was deleted.
    PodDeleted,
    /// The local cluster is shutting down.
    Shutdown,
}

/// The Kubernetes exec channel protocols, for [`exec_server::serve`].
struct KubeWire {
    protocol: Protocol,
    streams: Streams,
}

impl ExecWire for KubeWire {
    type Why = Halted;

    /// The "connected" signal: an empty frame on the lowest writable channel.
    fn hello(&self) -> Option<Frame> {
        let s = self.streams;
        let first = if s.stdout { k8s::STDOUT } else if s.stderr { k8s::STDERR } else { k8s::STATUS };
        Some(k8s::encode(self.protocol, first, b""))
    }

    fn waits_for_size(&self) -> bool {
        true
    }

    fn decode(&self, frame: Frame) -> Result<ClientFrame, DecodeError> {
        let (channel, payload) = k8s::decode(self.protocol, frame)?;
        Ok(match channel {
            k8s::STDIN => ClientFrame::Stdin(payload),
            k8s::RESIZE => match ResizeMessage::parse_last(&payload) {
                Ok(Some(size)) => match TerminalSize::new(size.width.into(), size.height.into()) {
                    Ok(size) => ClientFrame::Resize(size),
                    Err(e) => {
                        tracing::info!(error = %e, "ignoring resize");
                        ClientFrame::Nothing
                    }
                },
                Ok(None) => ClientFrame::Nothing,
                Err(e) => {
                    tracing::info!(error = %e, "ignoring malformed resize");
                    ClientFrame::Nothing
                }
            },
            k8s::CLOSE if self.protocol.has_close_signal() => match payload.as_ref() {
                [k8s::STDIN] => ClientFrame::CloseStdin,
                [_] => ClientFrame::Nothing,
                _ => return Err(DecodeError::WrongFrameType("a close signal is one byte")),
            },
            other => {
                tracing::debug!(channel = other, "ignoring frame on a channel the client may not write");
                ClientFrame::Nothing
            }
        })
    }

    fn output(&self, stream: u8, bytes: &[u8]) -> Frame {
        k8s::encode(self.protocol, stream, bytes)
    }

    /// The status on channel 3, then a normal Close.
    fn goodbye(&self, stop: &Stop<Halted>) -> (Vec<Frame>, u16, String) {
        let status = match stop {
            Stop::Exited(code) => Status::for_exit_code(*code),
            Stop::Halted(Halted::PodDeleted) => Status::non_zero_exit(137),
            Stop::Halted(Halted::Shutdown) => Status::internal_error("the local cluster is shutting down"),
            Stop::CannotStart(e) => Status::internal_error(e.clone()),
            Stop::ClientGone => return (Vec::new(), 1000, String::new()),
        };
        let frames = k8s::encode_status(self.protocol, &status)
            .map(|payload| {
                debug_assert!(matches!(k8s::parse_status(self.protocol, &payload), Outcome::Exited(_) | Outcome::Failed(_)));
                k8s::encode(self.protocol, k8s::STATUS, &payload)
            })
            .into_iter()
            .collect();
        (frames, 1000, String::new())
    }
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
