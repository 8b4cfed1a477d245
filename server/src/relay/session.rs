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
//!   error, the max session time, the idle timeout, re-authorization,
//!   shutdown) decides the
//!   [`End`]; then the
//!   upstream is told goodbye (v5 close or EOT) and closed, and the browser
//!   gets the exit status, the end reason and a Close frame with a 4xxx code.
//! - Durable sessions ([`super::resume`]): with `v1.porthole`, every output
//!   byte also goes to the [`OutputLog`]. A browser lost without a Close
//!   (read error, silence, a stalled write) does not end the session: the
//!   loop goes on without one for the grace period — reading output into
//!   the log until it holds `--resume-buffer` unacknowledged bytes (less a
//!   frame's room), then letting the process wait — until a resumed browser
//!   is attached and sent what it missed. The flow window of a resumable
//!   session is never larger than the log, so what a lost page had not
//!   parsed is still there (a page that resumes from further back hears how
//!   much is gone). A process that exits meanwhile is kept as
//!   finished, so the returning page still sees its last output and status.

use super::dial::Upstream;
use super::fanout::Viewers;
use super::flow::FlowWindow;
use super::goodbye::{refuse, tell_browser};
use super::heartbeat::{self, Heard};
use super::idle::{self, Activity, Idle};
use super::output_log::OutputLog;
use super::recheck::{Reauthorize, Recheck};
use super::recording::{Recorder, Recording};
use super::resume::{Attachment, Registration};
use crate::codec::browser::{BrowserCodec, BrowserEvent, MAX_BROWSER_MESSAGE};
use crate::codec::upstream::{UpstreamCodec, UpstreamEvent};
use crate::codec::wsframe::{from_axum, from_tungstenite, to_axum, to_tungstenite};
use crate::shutdown::Shutdown;
use axum::extract::ws::{Message, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use shared::close::End;
use shared::k8s::Outcome;
use shared::porthole::{FLOW_WINDOW, ResumeTicket, ServerMessage, TerminalSize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as TungMessage;

/// Frames of stdin and resizes queued for the upstream, at most this many
/// (each stdin frame is at most 32 KiB: 8 MiB in all). Browser frames keep
/// being read while the upstream is slow, so acks are never stuck behind a
/// paste; a browser that sends more than this faster than the process reads
/// it ends the session (4003).
pub const INPUT_QUEUE_FRAMES: usize = 256;

/// The flow window of a resumable session with a resume buffer of
/// `buffer` bytes: [`FLOW_WINDOW`], or less so that everything in flight
/// stays in the buffer (1 MiB − 64 KiB with the default buffer).
pub fn resumable_window(buffer: usize) -> u64 {
    (buffer as u64 - frame_room(buffer)).clamp(1, FLOW_WINDOW)
}

/// Room kept in a resume buffer of `buffer` bytes for the upstream frame
/// read after the flow window's check: 64 KiB (upstream frames are
/// smaller), or half of a smaller buffer.
fn frame_room(buffer: usize) -> u64 {
    (64u64 << 10).min(buffer as u64 / 2)
}

/// A write to the browser that takes longer than this ends the session: the
/// browser stopped reading.
pub const BROWSER_WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// What the session loop needs besides the two sockets.
pub struct SessionParams {
    /// The size from the connect URL, sent upstream first.
    pub initial_size: Option<TerminalSize>,
    /// The pod, for the `connected` message.
    pub pod: Option<String>,
    /// The container, for the `connected` message.
    pub container: Option<String>,
    /// Channel `MaxSessionTime`: seconds, 0 = no limit.
    pub max_session_time: u64,
    /// Channel `IdleTimeout`: seconds without keystrokes or output, 0 = never.
    pub idle_timeout: u64,
    /// How often to ping the browser.
    pub ping_interval: Duration,
    /// How this session outlives its WebSocket; `None` = it does not.
    pub resume: Option<Resumable>,
    /// Where output and resizes are recorded; `None` = not recorded.
    pub recording: Option<Recorder>,
    /// The relay's drain signal and grace: the page is told when the
    /// session will end.
    pub draining: Option<(Shutdown, Duration)>,
}

/// A session that a page may resume ([`super::resume`]).
pub struct Resumable {
    /// For the page, in `connected`.
    pub ticket: ResumeTicket,
    /// How long to wait for a lost browser.
    pub grace: Duration,
    /// Output bytes kept for replay.
    pub buffer: usize,
    /// Where resumed browsers arrive.
    pub attachments: mpsc::Receiver<Attachment>,
    /// The registry entry, removed when the session ends.
    pub registration: Registration,
}

impl SessionParams {
    /// The `connected` message, with the end time under a `MaxSessionTime`
    /// of `max` seconds (0 = none) counted from `started`.
    fn connected(&self, started: SystemTime, max: u64, resume: Option<ResumeTicket>) -> ServerMessage {
        let expires_at = (max > 0)
            .then(|| started.checked_add(Duration::from_secs(max)))
            .flatten()
            .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        ServerMessage::Connected { pod: self.pod.clone(), container: self.container.clone(), expires_at, resume }
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

/// [`Traffic`], counted while the session runs, and when it last moved.
#[derive(Debug, Default)]
struct Counters {
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    activity: Activity,
}

impl Counters {
    fn typed(&self, bytes: usize) {
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
        self.activity.touch();
    }

    fn printed(&self, bytes: usize) {
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
        self.activity.touch();
    }

    fn total(&self) -> Traffic {
        Traffic { bytes_in: self.bytes_in.load(Ordering::Relaxed), bytes_out: self.bytes_out.load(Ordering::Relaxed) }
    }
}

type BrowserSink = SplitSink<WebSocket, Message>;
type BrowserStream = SplitStream<WebSocket>;
type UpstreamSink = SplitSink<Upstream, TungMessage>;
type UpstreamStream = SplitStream<Upstream>;

/// The browser attached to the session now.
struct Browser {
    sink: BrowserSink,
    stream: BrowserStream,
}

/// What ended one turn of the session loop.
enum Step {
    /// The session is over.
    End(End),
    /// The browser went away without a Close: resumable. Words for the log.
    Lost(&'static str),
    /// A resumed browser arrived.
    Attach(Attachment),
    /// A viewer left.
    ViewerLeft,
    /// The relay began draining.
    Draining,
    /// The idle timeout is near: the session ends after this long.
    IdleWarning(Duration),
}

/// Runs a session to its end and returns how it ended and what it moved.
pub async fn run(
    browser: WebSocket,
    upstream: Upstream,
    browser_codec: BrowserCodec,
    upstream_codec: UpstreamCodec,
    mut params: SessionParams,
    recheck: Recheck<impl Reauthorize>,
    shutdown: Shutdown,
) -> (End, Traffic) {
    let (mut usink, mut ustream) = upstream.split();
    let started = SystemTime::now();
    let counters = Counters::default();
    // Only `v1.porthole` pages can resume: they count what they parsed.
    let mut resume = params.resume.take().filter(|_| browser_codec == BrowserCodec::Porthole);
    let mut log = OutputLog::new(resume.as_ref().map_or(0, |r| r.buffer));
    let recording = Recording::new(params.recording.take());
    let mut viewers = Viewers::default();
    // A resumable session keeps everything in flight in its log: the window
    // never outgrows the log, less a frame's room.
    let window = match &resume {
        Some(r) => FlowWindow::with_limit(true, resumable_window(r.buffer)),
        None => FlowWindow::new(browser_codec.acknowledges_output()),
    };
    let (input_tx, mut input_rx) = mpsc::channel(INPUT_QUEUE_FRAMES);
    let (limits_tx, mut limits_rx) = mpsc::channel(4);
    let watch = recheck.watch(Instant::now(), limits_tx);
    tokio::pin!(watch);

    let (sink, stream) = browser.split();
    let mut browser = Some(Browser { sink, stream });
    let mut first = None;
    if let Some(frame) = params.initial_size.and_then(|size| upstream_codec.resize(size)) {
        if let Err(e) = usink.send(to_tungstenite(frame)).await {
            first = Some(End::UpstreamError(e.to_string()));
        }
    }
    let connected = params.connected(started, params.max_session_time, resume.as_ref().map(|r| r.ticket.clone()));
    if let (Some(frame), Some(b)) = (browser_codec.control(&connected), browser.as_mut()) {
        if b.sink.send(to_axum(frame)).await.is_err() {
            first = Some(End::BrowserGone);
        }
    }

    // The upstream's end while no browser was attached, told to the next.
    let mut finished: Option<End> = None;
    let draining = params.draining.take();
    let mut drain_told = false;
    let mut lost_at = Instant::now();
    let idle_timeout = Duration::from_secs(params.idle_timeout);
    let mut idle_warned = None;
    let end = match first {
        Some(end) => end,
        None => loop {
            let step = match browser.as_mut() {
                Some(b) => {
                    let heard = Heard::new();
                    let left = viewers.left();
                    let d = Downstream {
                        codec: browser_codec,
                        window: &window,
                        ping_interval: params.ping_interval,
                        heard: &heard,
                        counters: &counters,
                        limits: &mut limits_rx,
                        connected: &|max| params.connected(started, max, None),
                        log: &mut log,
                        recording: &recording,
                        viewers: &mut viewers,
                    };
                    tokio::select! {
                        step = downstream(&mut ustream, &mut b.sink, upstream_codec, d) => step,
                        step = read_browser(&mut b.stream, &input_tx, upstream_codec, browser_codec, &window, &heard, &counters, &recording) => step,
                        end = write_upstream(&mut usink, &mut input_rx) => Step::End(end),
                        end = &mut watch => Step::End(end),
                        () = shutdown.wait() => Step::End(End::Shutdown),
                        Some(a) = next_attachment(&mut resume) => Step::Attach(a),
                        () = left.notified() => Step::ViewerLeft,
                        () = drain_signal(&draining), if !drain_told => Step::Draining,
                        idle = idle::next(&counters.activity, idle_timeout, &mut idle_warned) => match idle {
                            Idle::Warn(left) => Step::IdleWarning(left),
                            Idle::TimedOut => Step::End(End::Idle(params.idle_timeout)),
                        },
                    }
                }
                None => {
                    let Some(r) = resume.as_mut() else { break End::BrowserGone };
                    let grace = r.grace;
                    tokio::select! {
                        end = read_detached(&mut ustream, upstream_codec, (&mut log, &recording, &mut viewers), &window, r.buffer, &counters), if finished.is_none() => {
                            tracing::info!(end = ?end, "the process ended while its browser was away");
                            finished = Some(end);
                            continue;
                        }
                        end = write_upstream(&mut usink, &mut input_rx), if finished.is_none() => Step::End(end),
                        // An exit while away stays the end: it is what happened.
                        end = &mut watch => Step::End(finished.take().unwrap_or(end)),
                        () = shutdown.wait() => Step::End(finished.take().unwrap_or(End::Shutdown)),
                        () = tokio::time::sleep_until(lost_at + grace) => {
                            Step::End(finished.take().unwrap_or(End::ResumeExpired(grace.as_secs())))
                        }
                        Some(a) = r.attachments.recv() => Step::Attach(a),
                        idle = idle::next(&counters.activity, idle_timeout, &mut idle_warned), if finished.is_none() => match idle {
                            Idle::TimedOut => Step::End(End::Idle(params.idle_timeout)),
                            // Nobody to warn: only the end applies.
                            Idle::Warn(_) => continue,
                        },
                    }
                }
            };
            match step {
                Step::End(end) => break end,
                Step::Lost(why) if resume.is_some() => {
                    tracing::info!(why, "browser lost; keeping the session for a resume");
                    browser = None;
                    lost_at = Instant::now();
                }
                Step::Lost(why) => {
                    tracing::info!(why, "browser lost");
                    break End::BrowserGone;
                }
                Step::Draining => {
                    drain_told = true;
                    let grace = draining.as_ref().map_or(Duration::ZERO, |(_, grace)| *grace);
                    if let Some(b) = browser.as_mut() {
                        tell(&mut b.sink, browser_codec, &ServerMessage::Draining { ends_at: epoch_ms_after(grace) }).await;
                    }
                }
                Step::IdleWarning(left) => {
                    if let Some(b) = browser.as_mut() {
                        tell(&mut b.sink, browser_codec, &ServerMessage::Idle { ends_at: epoch_ms_after(left) }).await;
                    }
                }
                Step::ViewerLeft => {
                    if let (true, Some(b)) = (viewers.prune(), browser.as_mut()) {
                        tell(&mut b.sink, browser_codec, &ServerMessage::Viewers { count: viewers.count() }).await;
                    }
                }
                Step::Attach(Attachment::Viewer { feed }) => {
                    // The viewer sees what the relay still holds, then live output.
                    let replay = log.replay(log.start()).map(|r| r.frames).unwrap_or_default();
                    let _ = feed.send(viewers.join(replay));
                    if let Some(b) = browser.as_mut() {
                        tell(&mut b.sink, browser_codec, &ServerMessage::Viewers { count: viewers.count() }).await;
                    }
                }
                Step::Attach(Attachment::Resume { browser: socket, offset, size }) => {
                    let replay = match log.replay(offset) {
                        Ok(replay) => replay,
                        Err(ahead) => {
                            tracing::info!(asked = ahead.asked, end = ahead.end, "a resume asked for output beyond the session's");
                            let why = End::BrowserProtocol("the resume offset is beyond the session's output".into());
                            tokio::spawn(refuse(socket, browser_codec, why));
                            continue;
                        }
                    };
                    if let Some(mut old) = browser.take() {
                        tokio::spawn(async move {
                            tell_browser(&mut old.sink, &mut old.stream, browser_codec, &End::ResumedElsewhere).await;
                        });
                    }
                    if let Some(size) = size {
                        recording.resize(size);
                        if let Some(frame) = upstream_codec.resize(size) {
                            let _ = input_tx.try_send(frame);
                        }
                    }
                    tracing::info!(offset, from = replay.from, lost = replay.lost, "browser resumed the session");
                    window.reset(log.end() - replay.from);
                    let (mut sink, stream) = socket.split();
                    let replayed = tokio::time::timeout(BROWSER_WRITE_TIMEOUT, send_replay(&mut sink, browser_codec, replay)).await;
                    if replayed == Ok(true) {
                        metrics::counter!(crate::prometheus::SESSIONS_RESUMED).increment(1);
                        if viewers.count() > 0 {
                            tell(&mut sink, browser_codec, &ServerMessage::Viewers { count: viewers.count() }).await;
                        }
                        browser = Some(Browser { sink, stream });
                        // A warning given while it was away is warned again.
                        idle_warned = None;
                        if let Some(end) = finished.take() {
                            break end;
                        }
                    } else {
                        lost_at = Instant::now();
                    }
                }
            }
        },
    };
    // No resume or viewer from here on.
    drop(resume);

    let end = if end.may_be_pod_gone() && recheck.terminal_is_gone().await { End::PodTerminated } else { end };
    tracing::debug!(end = ?end, "the session loop ended");
    recording.finish(&end.close().1);
    viewers.end(&end);
    // Goodbye upstream: the process must not outlive the session.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        for frame in upstream_codec.goodbye() {
            let _ = usink.send(to_tungstenite(frame)).await;
        }
        let _ = usink.close().await;
    })
    .await;
    if let Some(mut b) = browser {
        if matches!(end, End::BrowserGone | End::Restarted) {
            // Flushes the reply to the browser's Close, if it sent one.
            let _ = tokio::time::timeout(Duration::from_secs(1), b.sink.close()).await;
        } else {
            tell_browser(&mut b.sink, &mut b.stream, browser_codec, &end).await;
        }
    }
    (end, counters.total())
}

/// Milliseconds since the Unix epoch, `after` from now (for the page's
/// countdowns).
fn epoch_ms_after(after: Duration) -> u64 {
    let at = SystemTime::now().checked_add(after).and_then(|t| t.duration_since(UNIX_EPOCH).ok());
    at.map_or(u64::MAX, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Resolves when the relay starts draining (never without a drain signal).
async fn drain_signal(draining: &Option<(Shutdown, Duration)>) {
    match draining {
        Some((signal, _)) => signal.wait().await,
        None => std::future::pending().await,
    }
}

/// The next resumed browser, or never for a session that cannot resume.
async fn next_attachment(resume: &mut Option<Resumable>) -> Option<Attachment> {
    match resume {
        Some(r) => r.attachments.recv().await,
        None => std::future::pending().await,
    }
}

/// Sends the session's page a control message (`viewers`, `draining`);
/// a failure is the next write's to find.
async fn tell(sink: &mut BrowserSink, codec: BrowserCodec, msg: &ServerMessage) {
    if let Some(frame) = codec.control(msg) {
        let _ = tokio::time::timeout(Duration::from_secs(5), sink.send(to_axum(frame))).await;
    }
}

/// Sends a resumed browser `resumed` and the output it missed; false when
/// the browser is lost on the way. The caller bounds the whole replay
/// (the loop waits for it).
async fn send_replay(sink: &mut BrowserSink, codec: BrowserCodec, replay: super::output_log::Replay) -> bool {
    let resumed = ServerMessage::Resumed { offset: replay.from, lost: replay.lost };
    let frames = codec.control(&resumed).into_iter().chain(replay.frames.into_iter().map(|bytes| codec.output(bytes)));
    for frame in frames {
        if sink.send(to_axum(frame)).await.is_err() {
            return false;
        }
    }
    true
}

/// What the downstream direction needs besides the sockets.
struct Downstream<'a> {
    codec: BrowserCodec,
    window: &'a FlowWindow,
    ping_interval: Duration,
    heard: &'a Heard,
    counters: &'a Counters,
    /// New `MaxSessionTime`s to tell the browser about.
    limits: &'a mut mpsc::Receiver<u64>,
    /// The `connected` message for a `MaxSessionTime`.
    connected: &'a (dyn Fn(u64) -> ServerMessage + Sync),
    /// Every output byte, for a resume.
    log: &'a mut OutputLog,
    /// Every output byte, for the recording.
    recording: &'a Recording,
    /// Every output byte, for the viewers.
    viewers: &'a mut Viewers,
}

/// What one upstream message means: output, nothing, or the session's end.
fn upstream_output(
    msg: Option<Result<TungMessage, tokio_tungstenite::tungstenite::Error>>,
    ucodec: UpstreamCodec,
) -> Result<Option<bytes::Bytes>, End> {
    let msg = match msg {
        None => return Err(End::UpstreamClosed),
        Some(Err(e)) => return Err(End::UpstreamError(e.to_string())),
        Some(Ok(TungMessage::Close(frame))) => {
            let normal = frame.as_ref().is_none_or(|f| u16::from(f.code) == 1000);
            return Err(if normal && ucodec.silent_success() { End::Exited(0) } else { End::UpstreamClosed });
        }
        Some(Ok(msg)) => msg,
    };
    let Some(frame) = from_tungstenite(msg) else { return Ok(None) };
    match ucodec.decode(frame) {
        Ok(UpstreamEvent::Output(bytes)) => Ok(Some(bytes)),
        Ok(UpstreamEvent::Finished(Outcome::Exited(code))) => Err(End::Exited(code)),
        Ok(UpstreamEvent::Finished(Outcome::Failed(message))) => Err(End::Failed(message)),
        Ok(UpstreamEvent::Ended(reason)) => Err(End::UpstreamEnded(reason)),
        Ok(UpstreamEvent::Nothing) => Ok(None),
        Err(e) => Err(End::UpstreamError(format!("bad frame from the upstream: {e}"))),
    }
}

/// Upstream → browser, with pings, until the upstream finishes or a side fails.
async fn downstream(ustream: &mut UpstreamStream, bsink: &mut BrowserSink, ucodec: UpstreamCodec, d: Downstream<'_>) -> Step {
    let Downstream { codec: bcodec, window, ping_interval, heard, counters, limits, connected, log, recording, viewers } = d;
    let mut ping = tokio::time::interval_at(Instant::now() + ping_interval, ping_interval);
    loop {
        let open = window.is_open();
        tokio::select! {
            _ = ping.tick() => {
                // Browsers answer pings by themselves: silence for two
                // intervals means the browser (or the network) is gone.
                if heartbeat::is_gone(heard.since(), ping_interval) {
                    metrics::counter!(crate::prometheus::PINGS_MISSED).increment(1);
                    return Step::Lost("no answer to pings");
                }
                let sent = tokio::time::timeout(Duration::from_secs(5), bsink.send(Message::Ping(Default::default()))).await;
                if !matches!(sent, Ok(Ok(()))) {
                    return Step::Lost("a ping could not be sent");
                }
            }
            () = window.acked.notified(), if !open => {}
            Some(max) = limits.recv() => {
                if let Some(frame) = bcodec.control(&connected(max)) {
                    if bsink.send(to_axum(frame)).await.is_err() {
                        return Step::Lost("writing to the browser failed");
                    }
                }
            }
            msg = ustream.next(), if open => {
                let bytes = match upstream_output(msg, ucodec) {
                    Ok(Some(bytes)) => bytes,
                    Ok(None) => continue,
                    Err(end) => return Step::End(end),
                };
                // Logged and counted before the write: if this write is cut
                // short by a resume, the replay carries these bytes.
                log.append(&bytes);
                recording.output(&bytes);
                if viewers.output(&bytes) {
                    tell(bsink, bcodec, &ServerMessage::Viewers { count: viewers.count() }).await;
                }
                window.sent(bytes.len());
                counters.printed(bytes.len());
                let sent = tokio::time::timeout(BROWSER_WRITE_TIMEOUT, bsink.send(to_axum(bcodec.output(bytes)))).await;
                match sent {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return Step::Lost("writing to the browser failed"),
                    Err(_) => return Step::Lost("the browser stopped reading"),
                }
            }
        }
    }
}

/// Reads output into the log while no browser is attached, until the log
/// holds `limit` unacknowledged bytes (then the process waits); returns
/// when the upstream ends.
async fn read_detached(
    ustream: &mut UpstreamStream,
    ucodec: UpstreamCodec,
    (log, recording, viewers): (&mut OutputLog, &Recording, &mut Viewers),
    window: &FlowWindow,
    limit: usize,
    counters: &Counters,
) -> End {
    loop {
        if window.unacked() + frame_room(limit) >= limit as u64 {
            return std::future::pending().await;
        }
        match upstream_output(ustream.next().await, ucodec) {
            Ok(Some(bytes)) => {
                log.append(&bytes);
                recording.output(&bytes);
                viewers.output(&bytes);
                window.sent(bytes.len());
                counters.printed(bytes.len());
            }
            Ok(None) => {}
            Err(end) => return end,
        }
    }
}

/// Reads the browser until it goes away or breaks the protocol: acks apply
/// at once, stdin and resizes are queued in order for [`write_upstream`].
/// A Close from the browser ends the session; a connection that breaks
/// without one is [`Step::Lost`].
async fn read_browser(
    bstream: &mut BrowserStream,
    input: &mpsc::Sender<shared::Frame>,
    ucodec: UpstreamCodec,
    bcodec: BrowserCodec,
    window: &FlowWindow,
    heard: &Heard,
    counters: &Counters,
    recording: &Recording,
) -> Step {
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
                return Step::End(End::MessageTooBig(MAX_BROWSER_MESSAGE));
            }
            Some(Ok(Message::Close(Some(frame)))) if frame.reason.as_str() == shared::porthole::RESTART_REASON => {
                return Step::End(End::Restarted);
            }
            Some(Ok(Message::Close(_))) => return Step::End(End::BrowserGone),
            None => return Step::Lost("the connection closed without a Close frame"),
            Some(Err(_)) => return Step::Lost("reading from the browser failed"),
            Some(Ok(msg)) => msg,
        };
        heard.now();
        let Some(frame) = from_axum(msg) else { continue };
        let queued = match bcodec.decode(frame) {
            Ok(BrowserEvent::Input(bytes)) => {
                counters.typed(bytes.len());
                ucodec.stdin(&bytes).try_for_each(queue)
            }
            Ok(BrowserEvent::Resize(size)) => {
                recording.resize(size);
                ucodec.resize(size).map_or(Ok(()), queue)
            }
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
            return Step::End(end);
        }
    }
}

/// True when reading failed because a message was over the size limit.
fn is_too_big(error: &axum::Error) -> bool {
    use tokio_tungstenite::tungstenite::Error;
    let inner = std::error::Error::source(error).and_then(|e| e.downcast_ref::<Error>());
    matches!(inner, Some(Error::Capacity(_)))
}

/// Writes queued stdin and resizes to the upstream, in order. Cancel-safe:
/// a frame leaves the queue only once the sink has room for it, so a
/// browser swapped mid-write loses no keystroke.
async fn write_upstream(usink: &mut UpstreamSink, input: &mut mpsc::Receiver<shared::Frame>) -> End {
    loop {
        if let Err(e) = std::future::poll_fn(|cx| usink.poll_ready_unpin(cx)).await {
            return End::UpstreamError(e.to_string());
        }
        let Some(frame) = input.recv().await else {
            // The reader dropped its sender: it has ended, and its End wins.
            return std::future::pending().await;
        };
        if let Err(e) = usink.start_send_unpin(to_tungstenite(frame)) {
            return End::UpstreamError(e.to_string());
        }
        if let Err(e) = usink.flush().await {
            return End::UpstreamError(e.to_string());
        }
    }
}
