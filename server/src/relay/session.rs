//! One relayed session: two directions, one window, one ending.
//!
//! - Downstream (upstream → browser): read an upstream frame, decode it, send
//!   the output to the browser and wait until it is written — so a slow
//!   browser slows the reading, and nothing queues in the relay. With
//!   `v1.porthole`, reading also pauses while more than
//!   [`shared::porthole::FLOW_WINDOW`] bytes are unacknowledged by xterm.js.
//!   It also pings the browser every `ping_interval`.
//! - Upstream (browser → upstream): keystrokes to stdin, resizes, acks.
//! - Every `reauthorize_interval` the relay asks authorize again: a refusal
//!   ends the session (4004), different Channel settings too (4005); a new
//!   `MaxSessionTime` alone applies at once (4006 when already past it).
//! - Whichever ends first (exit status, a closed or broken side, a protocol
//!   error, the max session time, re-authorization, shutdown) decides the
//!   [`End`]; then the
//!   upstream is told goodbye (v5 close or EOT) and closed, and the browser
//!   gets the exit status, the end reason and a Close frame with a 4xxx code.

use super::dial::Upstream;
use super::flow::FlowWindow;
use super::heartbeat::{self, Heard};
use super::recheck::{Reauthorize, Recheck};
use crate::codec::browser::{BrowserCodec, BrowserEvent, MAX_BROWSER_MESSAGE};
use crate::codec::upstream::{UpstreamCodec, UpstreamEvent};
use crate::codec::wsframe::{axum_close, from_axum, from_tungstenite, say_goodbye, to_axum, to_tungstenite};
use crate::shutdown::Shutdown;
use axum::extract::ws::{Message, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use shared::close::End;
use shared::k8s::Outcome;
use shared::porthole::{ServerMessage, TerminalSize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as TungMessage;

/// Frames of stdin and resizes queued for the upstream, at most this many
/// (each stdin frame is at most 32 KiB: 8 MiB in all). Browser frames keep
/// being read while the upstream is slow, so acks are never stuck behind a
/// paste; a browser that sends more than this faster than the process reads
/// it ends the session (4003).
pub const INPUT_QUEUE_FRAMES: usize = 256;

/// A write to the browser that takes longer than this ends the session: the
/// browser stopped reading.
pub const BROWSER_WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// What the session loop needs besides the two sockets.
#[derive(Debug, Clone)]
pub struct SessionParams {
    /// The size from the connect URL, sent upstream first.
    pub initial_size: Option<TerminalSize>,
    /// The pod, for the `connected` message.
    pub pod: Option<String>,
    /// The container, for the `connected` message.
    pub container: Option<String>,
    /// Channel `MaxSessionTime`: seconds, 0 = no limit.
    pub max_session_time: u64,
    /// How often to ping the browser.
    pub ping_interval: Duration,
}

impl SessionParams {
    /// The `connected` message, with the end time under a `MaxSessionTime`
    /// of `max` seconds (0 = none) counted from `started`.
    fn connected(&self, started: SystemTime, max: u64) -> ServerMessage {
        let expires_at = (max > 0)
            .then(|| started.checked_add(Duration::from_secs(max)))
            .flatten()
            .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        ServerMessage::Connected { pod: self.pod.clone(), container: self.container.clone(), expires_at }
    }
}

/// Bytes relayed in each direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Bytes typed (browser → terminal stdin).
    pub bytes_in: u64,
    /// Bytes of output (terminal → browser).
    pub bytes_out: u64,
}

/// [`Traffic`], counted while the session runs.
#[derive(Debug, Default)]
struct Counters {
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

impl Counters {
    fn total(&self) -> Traffic {
        Traffic { bytes_in: self.bytes_in.load(Ordering::Relaxed), bytes_out: self.bytes_out.load(Ordering::Relaxed) }
    }
}

/// Upgrades a browser only to tell it why there is no session.
pub async fn refuse(browser: WebSocket, codec: BrowserCodec, end: End) {
    let (mut bsink, mut bstream) = browser.split();
    tell_browser(&mut bsink, &mut bstream, codec, &end).await;
}

type BrowserSink = SplitSink<WebSocket, Message>;
type BrowserStream = SplitStream<WebSocket>;
type UpstreamSink = SplitSink<Upstream, TungMessage>;
type UpstreamStream = SplitStream<Upstream>;

/// Runs a session to its end and returns how it ended and what it moved.
pub async fn run(
    browser: WebSocket,
    upstream: Upstream,
    browser_codec: BrowserCodec,
    upstream_codec: UpstreamCodec,
    params: SessionParams,
    recheck: Recheck<impl Reauthorize>,
    shutdown: Shutdown,
) -> (End, Traffic) {
    let (mut bsink, mut bstream) = browser.split();
    let (mut usink, mut ustream) = upstream.split();
    let started = SystemTime::now();
    let started_instant = tokio::time::Instant::now();
    let counters = Counters::default();

    let mut end = None;
    if let Some(frame) = params.initial_size.and_then(|size| upstream_codec.resize(size)) {
        if let Err(e) = usink.send(to_tungstenite(frame)).await {
            end = Some(End::UpstreamError(e.to_string()));
        }
    }
    let connected = params.connected(started, params.max_session_time);
    if let Some(frame) = browser_codec.control(&connected) {
        if bsink.send(to_axum(frame)).await.is_err() {
            end = Some(End::BrowserGone);
        }
    }

    let window = FlowWindow::new(browser_codec.acknowledges_output());
    let end = match end {
        Some(end) => end,
        None => {
            let (input_tx, input_rx) = mpsc::channel(INPUT_QUEUE_FRAMES);
            let (limits_tx, limits_rx) = mpsc::channel(4);
            let heard = Heard::new();
            let browser = Downstream {
                codec: browser_codec,
                window: &window,
                ping_interval: params.ping_interval,
                heard: &heard,
                counters: &counters,
                limits: limits_rx,
                connected: &|max| params.connected(started, max),
            };
            tokio::select! {
                end = downstream(&mut ustream, &mut bsink, upstream_codec, browser) => end,
                end = read_browser(&mut bstream, input_tx, upstream_codec, browser_codec, &window, &heard, &counters) => end,
                end = write_upstream(&mut usink, input_rx) => end,
                end = recheck.watch(started_instant, limits_tx) => end,
                () = shutdown.wait() => End::Shutdown,
            }
        }
    };

    let end = if end.may_be_pod_gone() && recheck.terminal_is_gone().await { End::PodTerminated } else { end };
    tracing::info!(end = ?end, "session ended");
    // Goodbye upstream: the process must not outlive the session.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        for frame in upstream_codec.goodbye() {
            let _ = usink.send(to_tungstenite(frame)).await;
        }
        let _ = usink.close().await;
    })
    .await;
    if matches!(end, End::BrowserGone | End::Restarted) {
        // Flushes the reply to the browser's Close, if it sent one.
        let _ = tokio::time::timeout(Duration::from_secs(1), bsink.close()).await;
    } else {
        tell_browser(&mut bsink, &mut bstream, browser_codec, &end).await;
    }
    (end, counters.total())
}

/// Sends the exit status and end reason, then a Close frame, and waits
/// briefly for the browser's Close.
async fn tell_browser(bsink: &mut BrowserSink, bstream: &mut BrowserStream, codec: BrowserCodec, end: &End) {
    let (frames, code, reason) = codec.goodbye(end);
    say_goodbye(bsink, bstream, frames, axum_close(code, &reason), Duration::from_secs(5)).await;
}

/// What the downstream direction needs besides the sockets.
struct Downstream<'a> {
    codec: BrowserCodec,
    window: &'a FlowWindow,
    ping_interval: Duration,
    heard: &'a Heard,
    counters: &'a Counters,
    /// New `MaxSessionTime`s to tell the browser about.
    limits: mpsc::Receiver<u64>,
    /// The `connected` message for a `MaxSessionTime`.
    connected: &'a (dyn Fn(u64) -> ServerMessage + Sync),
}

/// Upstream → browser, with pings, until the upstream finishes or a side fails.
async fn downstream(ustream: &mut UpstreamStream, bsink: &mut BrowserSink, ucodec: UpstreamCodec, mut d: Downstream<'_>) -> End {
    let Downstream { codec: bcodec, window, ping_interval, heard, .. } = d;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_interval, ping_interval);
    loop {
        let open = window.is_open();
        tokio::select! {
            _ = ping.tick() => {
                // Browsers answer pings by themselves: silence for two
                // intervals means the browser (or the network) is gone.
                if heartbeat::is_gone(heard.since(), ping_interval) {
                    return End::BrowserGone;
                }
                let sent = tokio::time::timeout(Duration::from_secs(5), bsink.send(Message::Ping(Default::default()))).await;
                if !matches!(sent, Ok(Ok(()))) {
                    return End::BrowserGone;
                }
            }
            () = window.acked.notified(), if !open => {}
            Some(max) = d.limits.recv() => {
                if let Some(frame) = bcodec.control(&(d.connected)(max)) {
                    if bsink.send(to_axum(frame)).await.is_err() {
                        return End::BrowserGone;
                    }
                }
            }
            msg = ustream.next(), if open => {
                let msg = match msg {
                    None => return End::UpstreamClosed,
                    Some(Err(e)) => return End::UpstreamError(e.to_string()),
                    Some(Ok(TungMessage::Close(frame))) => {
                        let normal = frame.as_ref().is_none_or(|f| u16::from(f.code) == 1000);
                        return if normal && ucodec.silent_success() { End::Exited(0) } else { End::UpstreamClosed };
                    }
                    Some(Ok(msg)) => msg,
                };
                let Some(frame) = from_tungstenite(msg) else { continue };
                match ucodec.decode(frame) {
                    Ok(UpstreamEvent::Output(bytes)) => {
                        window.sent(bytes.len());
                        d.counters.bytes_out.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                        let sent = tokio::time::timeout(BROWSER_WRITE_TIMEOUT, bsink.send(to_axum(bcodec.output(bytes)))).await;
                        if !matches!(sent, Ok(Ok(()))) {
                            return End::BrowserGone;
                        }
                    }
                    Ok(UpstreamEvent::Finished(Outcome::Exited(code))) => return End::Exited(code),
                    Ok(UpstreamEvent::Finished(Outcome::Failed(message))) => return End::Failed(message),
                    Ok(UpstreamEvent::Ended(reason)) => return End::UpstreamEnded(reason),
                    Ok(UpstreamEvent::Nothing) => {}
                    Err(e) => return End::UpstreamError(format!("bad frame from the upstream: {e}")),
                }
            }
        }
    }
}

/// Reads the browser until it goes away or breaks the protocol: acks apply
/// at once, stdin and resizes are queued in order for [`write_upstream`].
async fn read_browser(
    bstream: &mut BrowserStream,
    input: mpsc::Sender<shared::Frame>,
    ucodec: UpstreamCodec,
    bcodec: BrowserCodec,
    window: &FlowWindow,
    heard: &Heard,
    counters: &Counters,
) -> End {
    let queue = |frame| match input.try_send(frame) {
        Ok(()) => Ok(()),
        Err(mpsc::error::TrySendError::Full(_)) => Err(End::BrowserProtocol(format!(
            "input arrives faster than the terminal reads it (more than {INPUT_QUEUE_FRAMES} frames queued)"
        ))),
        // The writer has ended; its own End wins the select.
        Err(mpsc::error::TrySendError::Closed(_)) => Ok(()),
    };
    loop {
        let msg = match bstream.next().await {
            Some(Err(e)) if is_too_big(&e) => {
                tracing::info!(limit = MAX_BROWSER_MESSAGE, "the browser sent a message over the limit");
                return End::MessageTooBig(MAX_BROWSER_MESSAGE);
            }
            Some(Ok(Message::Close(Some(frame)))) if frame.reason.as_str() == shared::porthole::RESTART_REASON => return End::Restarted,
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return End::BrowserGone,
            Some(Ok(msg)) => msg,
        };
        heard.now();
        let Some(frame) = from_axum(msg) else { continue };
        let queued = match bcodec.decode(frame) {
            Ok(BrowserEvent::Input(bytes)) => {
                counters.bytes_in.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                ucodec.stdin(&bytes).try_for_each(queue)
            }
            Ok(BrowserEvent::Resize(size)) => ucodec.resize(size).map_or(Ok(()), queue),
            Ok(BrowserEvent::Ack(bytes)) => {
                window.ack(bytes);
                Ok(())
            }
            Err(e) => {
                tracing::info!(error = %e, "browser broke the subprotocol");
                Err(End::BrowserProtocol(e.public()))
            }
        };
        if let Err(end) = queued {
            return end;
        }
    }
}

/// True when reading failed because a message was over the size limit.
fn is_too_big(error: &axum::Error) -> bool {
    use tokio_tungstenite::tungstenite::Error;
    let inner = std::error::Error::source(error).and_then(|e| e.downcast_ref::<Error>());
    matches!(inner, Some(Error::Capacity(_)))
}

/// Writes queued stdin and resizes to the upstream, in order.
async fn write_upstream(usink: &mut UpstreamSink, mut input: mpsc::Receiver<shared::Frame>) -> End {
    while let Some(frame) = input.recv().await {
        if let Err(e) = usink.send(to_tungstenite(frame)).await {
            return End::UpstreamError(e.to_string());
        }
    }
    // The reader dropped its sender: it has ended, and its End wins.
    std::future::pending().await
}

