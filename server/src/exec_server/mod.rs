//! Serving a process over a WebSocket, as a kubelet serves an exec: one
//! loop for both servers of this kind in Porthole — the local cluster's
//! `pods/exec` (Kubernetes channel protocols) and the session server's job
//! terminals (the browser subprotocols). What differs between them is the
//! wire ([`ExecWire`]): how a client frame decodes, how output encodes, and
//! what the last words are.
//!
//! One served process, in order:
//! 1. the wire's hello, if it has one (Kubernetes: an empty frame on the
//!    lowest writable channel);
//! 2. with a terminal, wait up to `initial_resize_wait` for the client's
//!    first resize, so the shell draws its first prompt at the right size;
//!    stdin that comes first is kept (up to [`MAX_EARLY_INPUT`]) and replayed;
//! 3. run the process ([`process`]): in a PTY, or with pipes; a stdin that
//!    breaks is dropped, not the session;
//! 4. whichever comes first — the process exits (its output is then
//!    drained, boundedly: [`DRAIN_IDLE`], [`DRAIN_MAX`]), the client goes
//!    away or breaks the protocol, or the server halts it (pod deleted, job
//!    session over, shutdown) — decides the [`Stop`];
//! 5. the process's session is hung up (SIGHUP, then SIGKILL after the
//!    grace), and unless the client went away, the wire's goodbye is sent
//!    and the client's Close awaited ([`crate::codec::wsframe::say_goodbye`]).

pub mod process;

use crate::codec::wsframe::{from_axum, say_goodbye, to_axum};
use crate::pty::{self, Spec};
use axum::extract::ws::{Message, WebSocket};
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use process::{Input, Output, Process, Streams};
use shared::porthole::TerminalSize;
use shared::{DecodeError, Frame};
use std::future::Future;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// The size a PTY starts at when the client sends none (the runtimes' default).
pub const DEFAULT_SIZE: TerminalSize = TerminalSize { cols: 80, rows: 24 };

/// After the process exits, output still arriving is forwarded until the PTY
/// is quiet this long (a background job may hold the terminal open).
pub const DRAIN_IDLE: Duration = Duration::from_millis(150);

/// After the process exits, output is drained for at most this long (a
/// background job may keep writing to the terminal forever).
pub const DRAIN_MAX: Duration = Duration::from_secs(2);

/// Stdin that arrives before the first resize is kept up to this many bytes;
/// past that the process starts at once.
pub const MAX_EARLY_INPUT: usize = 64 << 10;

/// How long the goodbye (last frames, Close, the client's Close) may take.
pub const GOODBYE_LIMIT: Duration = Duration::from_secs(5);

/// Output is read in chunks of at most this many bytes, per stream.
const READ_CHUNK: usize = 32 << 10;

/// What a client frame asks of the served process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    /// Bytes for stdin.
    Stdin(Bytes),
    /// A new terminal size.
    Resize(TerminalSize),
    /// Close stdin (Kubernetes v5 close signal): EOF on a pipe, EOT on a PTY.
    CloseStdin,
    /// Nothing for the process (an ack, a frame on a read-only channel, a
    /// malformed resize, which is logged by the wire).
    Nothing,
}

/// Why a served process stopped being served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop<H> {
    /// The process exited with this code (after its output was drained).
    Exited(i32),
    /// The process could not be started; the error in words.
    CannotStart(String),
    /// The client closed, went away or broke its protocol.
    ClientGone,
    /// The server halted it (see [`Halt`]).
    Halted(H),
}

/// The server ends a served process on its own: why (the wire's words for
/// it), and how hard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Halt<H> {
    /// Why, for the wire's goodbye.
    pub why: H,
    /// `None`: hang up with the usual grace, in the background. `Some(d)`:
    /// hang up now and SIGKILL what is left after `d`, before the goodbye
    /// (a deleted pod's processes die at once; at shutdown nothing would
    /// outlive the process to finish the job).
    pub kill_within: Option<Duration>,
}

/// One kind of client of a served process.
pub trait ExecWire: Send + Sync + 'static {
    /// Why the server may halt a process, in this wire's terms.
    type Why: Send;

    /// The frame to send right after the upgrade, if any.
    fn hello(&self) -> Option<Frame> {
        None
    }

    /// True when the process starts only after the client's first resize
    /// (or [`Options::initial_resize_wait`]).
    fn waits_for_size(&self) -> bool;

    /// Decodes a client frame; an error ends the session as the client's fault.
    fn decode(&self, frame: Frame) -> Result<ClientFrame, DecodeError>;

    /// Encodes output read from the process's stream `stream` (1 stdout, 2 stderr).
    fn output(&self, stream: u8, bytes: &[u8]) -> Frame;

    /// The last frames, then the Close frame's code and reason.
    fn goodbye(&self, stop: &Stop<Self::Why>) -> (Vec<Frame>, u16, String);
}

/// How a process is served.
#[derive(Debug, Clone)]
pub struct Options {
    /// Which streams, and whether there is a terminal.
    pub streams: Streams,
    /// How long to wait for the client's first resize (with a terminal).
    pub initial_resize_wait: Duration,
    /// After SIGHUP, how long before SIGKILL.
    pub kill_grace: Duration,
}

type Sink = SplitSink<WebSocket, Message>;
type Stream = SplitStream<WebSocket>;

/// Serves `spec` to the client on `socket` until it stops (see the module
/// doc); `halt` resolves when the server ends it on its own. Returns why it
/// stopped.
pub async fn serve<W: ExecWire>(
    socket: WebSocket,
    wire: W,
    mut spec: Spec,
    options: Options,
    halt: impl Future<Output = Halt<W::Why>>,
) -> Stop<W::Why> {
    let (mut sink, mut stream) = socket.split();
    if let Some(frame) = wire.hello() {
        if sink.send(to_axum(frame)).await.is_err() {
            return Stop::ClientGone;
        }
    }
    let early_input = if options.streams.tty && wire.waits_for_size() {
        match wait_for_initial_size(&mut stream, &wire, &mut spec, options.initial_resize_wait).await {
            Some(early) => early,
            None => return Stop::ClientGone,
        }
    } else {
        Vec::new()
    };
    let Process { mut child, pid, mut input, mut outputs } = match process::start(&spec, options.streams) {
        Ok(p) => p,
        Err(e) => {
            let stop = Stop::CannotStart(format!("failed to start {:?}: {e}", spec.argv));
            goodbye(&mut sink, &mut stream, &wire, &stop).await;
            return stop;
        }
    };
    process::replay(&mut input, early_input).await;
    let ended = tokio::select! {
        code = pump_output(&mut sink, &mut outputs, &mut child, &wire) => Ok(code.map_or(Stop::ClientGone, Stop::Exited)),
        () = pump_input(&mut stream, &mut input, &wire, options.streams.stdin) => Ok(Stop::ClientGone),
        halt = halt => Err(halt),
    };
    drop((input, outputs));
    let stop = match ended {
        Ok(stop) => {
            pty::hang_up(child, pid, options.kill_grace);
            stop
        }
        Err(Halt { why, kill_within: Some(within) }) => {
            pty::hang_up_now(child, pid, within).await;
            Stop::Halted(why)
        }
        Err(Halt { why, kill_within: None }) => {
            pty::hang_up(child, pid, options.kill_grace);
            Stop::Halted(why)
        }
    };
    if !matches!(stop, Stop::ClientGone) {
        goodbye(&mut sink, &mut stream, &wire, &stop).await;
    }
    stop
}

async fn goodbye<W: ExecWire>(sink: &mut Sink, stream: &mut Stream, wire: &W, stop: &Stop<W::Why>) {
    let (frames, code, reason) = wire.goodbye(stop);
    say_goodbye(sink, stream, frames, crate::codec::wsframe::axum_close(code, &reason), GOODBYE_LIMIT).await;
}

/// Reads frames until the first resize (applied to `spec.size`) or until
/// `wait`; returns the stdin bytes that came first, or `None` when the
/// client went away.
async fn wait_for_initial_size<W: ExecWire>(stream: &mut Stream, wire: &W, spec: &mut Spec, wait: Duration) -> Option<Vec<Bytes>> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut early: Vec<Bytes> = Vec::new();
    while early.iter().map(Bytes::len).sum::<usize>() < MAX_EARLY_INPUT {
        let msg = match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => break,
            Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return None,
            Ok(Some(Ok(msg))) => msg,
        };
        let Some(frame) = from_axum(msg) else { continue };
        match wire.decode(frame) {
            Ok(ClientFrame::Resize(size)) => {
                spec.size = size;
                break;
            }
            Ok(ClientFrame::Stdin(bytes)) => early.push(bytes),
            Ok(_) => {}
            Err(e) => {
                tracing::info!(error = %e, "bad frame from an exec client");
                return None;
            }
        }
    }
    Some(early)
}

/// Reads one output stream into its buffer; never resolves for a closed one.
async fn read_output(output: &mut Option<Output>, buf: &mut [u8]) -> (u8, std::io::Result<usize>) {
    match output {
        Some(o) => (o.stream, o.reader.read(buf).await),
        None => std::future::pending().await,
    }
}

/// Forwards output (stdout, stderr) until the process has exited and its
/// output is drained; returns the exit code, or `None` when the client is gone.
async fn pump_output<W: ExecWire>(sink: &mut Sink, outputs: &mut Vec<Output>, child: &mut tokio::process::Child, wire: &W) -> Option<i32> {
    let mut sources: [Option<Output>; 2] = [outputs.pop(), outputs.pop()];
    // A PTY has one output: no second buffer held for the whole session.
    let buffer = |source: &Option<Output>| vec![0u8; if source.is_some() { READ_CHUNK } else { 0 }];
    let (mut buf_a, mut buf_b) = (buffer(&sources[0]), buffer(&sources[1]));
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
        let (index, stream, read) = tokio::select! {
            (stream, read) = read_output(a, &mut buf_a) => (0, stream, read),
            (stream, read) = read_output(b, &mut buf_b) => (1, stream, read),
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
                if sink.send(to_axum(wire.output(stream, &buf[..n]))).await.is_err() {
                    return None;
                }
            }
            // EOF, or EIO from a PTY once every holder of the terminal is gone.
            _ => sources[index] = None,
        }
    }
}

/// Applies client frames until the client goes away (or breaks the protocol).
async fn pump_input<W: ExecWire>(stream: &mut Stream, input: &mut Input, wire: &W, stdin: bool) {
    while let Some(Ok(msg)) = stream.next().await {
        if matches!(msg, Message::Close(_)) {
            return;
        }
        let Some(frame) = from_axum(msg) else { continue };
        match wire.decode(frame) {
            Ok(ClientFrame::Stdin(bytes)) if stdin => {
                // A process that stopped reading (`head -c1`, an exited
                // shell) breaks its stdin, not the session: its output and
                // status still follow.
                if let Err(e) = input.write(&bytes).await {
                    tracing::debug!(error = %e, "stdin broken; dropping it");
                    input.close_broken();
                }
            }
            Ok(ClientFrame::Resize(size)) => input.resize(size),
            Ok(ClientFrame::CloseStdin) if stdin => {
                if input.close().await.is_err() {
                    input.close_broken();
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::info!(error = %e, "bad frame from an exec client; closing");
                return;
            }
        }
    }
}
