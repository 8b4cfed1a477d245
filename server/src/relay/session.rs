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

use super::browser::{BrowserCodec, BrowserEvent};
use super::dial::Upstream;
use super::upstream::{UpstreamCodec, UpstreamEvent};
use crate::shutdown::Shutdown;
use crate::wsframe::{axum_close, from_axum, from_tungstenite, to_axum, to_tungstenite};
use axum::extract::ws::{Message, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use shared::close::CloseCode;
use shared::k8s::Outcome;
use shared::porthole::{FLOW_WINDOW, ServerMessage, TerminalSize, describe_exit};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{Notify, mpsc};
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
pub struct SessionInfo {
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

impl SessionInfo {
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

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The process exited with this code.
    Exited(i32),
    /// The exec failed without an exit code; the upstream's message.
    Failed(String),
    /// The upstream closed without a status.
    UpstreamClosed,
    /// Reading from or writing to the upstream failed, or it sent a bad frame.
    UpstreamError(String),
    /// The browser closed or went away.
    BrowserGone,
    /// The browser broke its subprotocol.
    BrowserProtocol(String),
    /// `MaxSessionTime` (seconds) was reached.
    Expired(u64),
    /// The relay is shutting down.
    Shutdown,
    /// The pod went away during the session.
    PodTerminated,
    /// The upstream could not be reached; words for the user.
    Unreachable(String),
    /// The upstream ended the session and said why.
    UpstreamEnded(String),
    /// Re-authorization was refused.
    AccessRevoked,
    /// Re-authorization could not be done (the app did not answer).
    AccessUnchecked,
    /// Re-authorization answered different Channel settings.
    SettingsChanged,
}

impl End {
    /// The close code and the reason shown to the user.
    pub fn close(&self) -> (CloseCode, String) {
        match self {
            End::Exited(code) => (CloseCode::ProcessExited, format!("the process exited with {}", describe_exit(*code))),
            End::Failed(message) => (CloseCode::UpstreamError, format!("the terminal could not run: {message}")),
            End::UpstreamClosed => (CloseCode::UpstreamClosed, CloseCode::UpstreamClosed.default_reason().into()),
            End::UpstreamError(e) => (CloseCode::UpstreamError, format!("the connection to the pod failed: {e}")),
            End::BrowserGone => (CloseCode::ProcessExited, "the browser closed the terminal".into()),
            End::BrowserProtocol(e) => (CloseCode::ProtocolError, format!("bad message from the browser: {e}")),
            End::Expired(secs) => {
                (CloseCode::SessionExpired, format!("Session expired: the maximum session time is {secs} seconds"))
            }
            End::Shutdown => (CloseCode::RelayShutdown, CloseCode::RelayShutdown.default_reason().into()),
            End::PodTerminated => (CloseCode::PodTerminated, CloseCode::PodTerminated.default_reason().into()),
            End::Unreachable(why) => (CloseCode::UpstreamError, why.clone()),
            End::UpstreamEnded(why) => (CloseCode::UpstreamClosed, why.clone()),
            End::AccessRevoked => (CloseCode::AccessRevoked, CloseCode::AccessRevoked.default_reason().into()),
            End::AccessUnchecked => (CloseCode::AccessRevoked, "your access to this terminal could not be re-checked".into()),
            End::SettingsChanged => (CloseCode::SettingsChanged, CloseCode::SettingsChanged.default_reason().into()),
        }
    }

    /// Ends that may mean the pod itself went away (its process was killed,
    /// or the exec stream broke): worth asking authorize again.
    fn may_be_pod_gone(&self) -> bool {
        matches!(self, End::Failed(_) | End::UpstreamClosed | End::UpstreamError(_) | End::Exited(137))
    }
}

/// How to ask authorize again about this session (Workhorse's
/// `auth_checker.go`).
pub struct Recheck {
    /// The relay's authorizer.
    pub authorizer: super::authorize::Authorizer,
    /// The original request.
    pub request: super::authorize::AuthorizeRequest,
    /// The Channel settings the session started with.
    pub channel: shared::channel::ChannelSettings,
    /// How often to ask.
    pub interval: Duration,
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

/// The same Channel but for its `MaxSessionTime`.
fn same_but_max_session_time(a: &shared::channel::ChannelSettings, b: &shared::channel::ChannelSettings) -> bool {
    let strip = |c: &shared::channel::ChannelSettings| shared::channel::ChannelSettings { max_session_time: 0, ..c.clone() };
    strip(a) == strip(b)
}

impl Recheck {
    /// Ends the session at its `MaxSessionTime` (counted from `started`),
    /// and asks authorize every `interval`; resolves when the time is up or
    /// the answer is not the same 200. A changed `MaxSessionTime` alone is
    /// the admin's new limit: a session already past it ends (4006), others
    /// go on under it, and the browser hears the new end time on `limits`.
    async fn watch(&self, started: tokio::time::Instant, limits: mpsc::Sender<u64>) -> End {
        let mut max = self.channel.max_session_time;
        let mut next_check = tokio::time::Instant::now() + self.interval;
        loop {
            // A limit too far away to represent is no limit.
            let deadline = (max > 0).then(|| started.checked_add(Duration::from_secs(max))).flatten();
            tokio::select! {
                () = sleep_until_some(deadline) => return End::Expired(max),
                () = tokio::time::sleep_until(next_check) => {}
            }
            next_check += self.interval;
            let answer = tokio::time::timeout(Duration::from_secs(30), self.authorizer.authorize(&self.request)).await;
            match answer {
                Ok(Ok(new)) if same_but_max_session_time(&new.channel, &self.channel) => {
                    if new.channel.max_session_time == max {
                        continue;
                    }
                    max = new.channel.max_session_time;
                    tracing::info!(max_session_time = max, "the maximum session time changed");
                    if max > 0 && started.elapsed() >= Duration::from_secs(max) {
                        return End::Expired(max);
                    }
                    let _ = limits.try_send(max);
                }
                Ok(Ok(_)) => return End::SettingsChanged,
                Ok(Err(super::RelayError::Refused { status, .. })) => {
                    tracing::info!(status = status.as_u16(), "re-authorization refused");
                    return End::AccessRevoked;
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = ?e, "re-authorization failed");
                    return End::AccessUnchecked;
                }
                Err(_) => return End::AccessUnchecked,
            }
        }
    }

    /// True when authorize now answers 404: the terminal (its pod) is gone.
    async fn terminal_is_gone(&self) -> bool {
        matches!(
            tokio::time::timeout(Duration::from_secs(10), self.authorizer.authorize(&self.request)).await,
            Ok(Err(super::RelayError::Refused { status, .. })) if status == http::StatusCode::NOT_FOUND
        )
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until_some(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Upgrades a browser only to tell it why there is no session.
pub async fn refuse(browser: WebSocket, codec: BrowserCodec, end: End) {
    let (mut bsink, mut bstream) = browser.split();
    tell_browser(&mut bsink, &mut bstream, codec, &end).await;
}

/// Output bytes in flight to the browser but not yet acknowledged.
struct FlowWindow {
    enabled: bool,
    unacked: AtomicU64,
    acked: Notify,
}

impl FlowWindow {
    fn new(enabled: bool) -> FlowWindow {
        FlowWindow { enabled, unacked: AtomicU64::new(0), acked: Notify::new() }
    }

    fn is_open(&self) -> bool {
        !self.enabled || self.unacked.load(Ordering::Acquire) < FLOW_WINDOW
    }

    fn sent(&self, bytes: usize) {
        self.unacked.fetch_add(bytes as u64, Ordering::AcqRel);
    }

    /// Idempotent and saturating: acking more than was sent only empties the window.
    fn ack(&self, bytes: u64) {
        let _ = self.unacked.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| Some(n.saturating_sub(bytes)));
        // notify_one keeps a permit if the reader is not waiting yet, so an
        // ack between its check and its wait is not lost.
        self.acked.notify_one();
    }
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
    info: SessionInfo,
    recheck: Recheck,
    shutdown: Shutdown,
) -> (End, Traffic) {
    let (mut bsink, mut bstream) = browser.split();
    let (mut usink, mut ustream) = upstream.split();
    let started = SystemTime::now();
    let started_instant = tokio::time::Instant::now();
    let counters = Counters::default();

    let mut end = None;
    if let Some(frame) = info.initial_size.and_then(|size| upstream_codec.resize(size)) {
        if let Err(e) = usink.send(to_tungstenite(frame)).await {
            end = Some(End::UpstreamError(e.to_string()));
        }
    }
    let connected = info.connected(started, info.max_session_time);
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
                ping_interval: info.ping_interval,
                heard: &heard,
                counters: &counters,
                limits: limits_rx,
                connected: &|max| info.connected(started, max),
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
    if end == End::BrowserGone {
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
    let (code, reason) = end.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        if let End::Exited(exit) = end {
            if let Some(frame) = codec.control(&ServerMessage::Exit { code: *exit }) {
                bsink.send(to_axum(frame)).await?;
            }
        }
        if let Some(frame) = codec.control(&ServerMessage::End { code: code.code(), reason: reason.clone() }) {
            bsink.send(to_axum(frame)).await?;
        }
        bsink.send(axum_close(code.code(), &reason)).await?;
        while let Some(Ok(msg)) = bstream.next().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
        Ok::<(), axum::Error>(())
    })
    .await;
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
                if heard.since() > ping_interval * 2 + Duration::from_secs(5) {
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

/// When the browser was last heard from (any frame, pongs included).
struct Heard(std::sync::Mutex<tokio::time::Instant>);

impl Heard {
    fn new() -> Heard {
        Heard(std::sync::Mutex::new(tokio::time::Instant::now()))
    }

    fn now(&self) {
        if let Ok(mut at) = self.0.lock() {
            *at = tokio::time::Instant::now();
        }
    }

    fn since(&self) -> Duration {
        self.0.lock().map(|at| at.elapsed()).unwrap_or_default()
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
                Err(End::BrowserProtocol(e.to_string()))
            }
        };
        if let Err(end) = queued {
            return end;
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_opens_and_closes_idempotently() {
        let w = FlowWindow::new(true);
        assert!(w.is_open());
        w.sent(FLOW_WINDOW as usize);
        assert!(!w.is_open());
        w.ack(1);
        assert!(w.is_open());
        w.ack(u64::MAX);
        w.ack(u64::MAX);
        assert!(w.is_open());
        assert_eq!(w.unacked.load(Ordering::Acquire), 0);
        let off = FlowWindow::new(false);
        off.sent(usize::MAX / 2);
        assert!(off.is_open());
    }

    #[test]
    fn every_end_has_an_application_close_code_and_a_reason() {
        for end in [
            End::Exited(3),
            End::Failed("x".into()),
            End::UpstreamClosed,
            End::UpstreamError("x".into()),
            End::BrowserProtocol("x".into()),
            End::Expired(3),
            End::Shutdown,
            End::PodTerminated,
            End::Unreachable("x".into()),
            End::UpstreamEnded("x".into()),
            End::AccessRevoked,
            End::AccessUnchecked,
            End::SettingsChanged,
        ] {
            let (code, reason) = end.close();
            assert!((4000..5000).contains(&code.code()));
            assert!(!reason.is_empty());
        }
        assert_eq!(End::Exited(3).close().1, "the process exited with exit status 3");
        assert_eq!(End::Expired(3).close().1, "Session expired: the maximum session time is 3 seconds");
    }
}
