//! `make bench`: Porthole against a baseline, driven like a browser.
//!
//! Starts the release `porthole` binary (demo configuration, its own data
//! dir, a free port) and a **baseline** — this file's own few dozen lines
//! serving bash in a PTY straight over one WebSocket, no authorize, no
//! relay hop — each as a separate process, and measures both with the same
//! client (`v1.porthole`: binary output, acks as text every 64 KiB):
//!
//! - connect → WebSocket open → first output byte, p50/p99 over 30 connects;
//! - echo latency, p50/p99 over 300 keys through `cat` in raw mode;
//! - throughput of 100 MB of output;
//! - 50 sessions × 2 MB at once, every byte delivered;
//! - server RSS idle, with 100 idle sessions, per session; peak RSS;
//! - Porthole only: 1,000 idle sessions on one fresh process — RSS, and
//!   the echo latency of one more session while they are open;
//! - Porthole only: the cost of durable sessions — RSS per idle session
//!   with resuming off (`--resume-grace 0`) beside the default (a 1 MiB
//!   resume buffer each, filled only as output comes), and the 100 MB
//!   throughput while 1 and 10 read-only viewers watch (each viewer gets
//!   every byte).
//!
//! Prints a table with the ratio to the baseline, and JSON to
//! `target/bench.json`. Speed is reported, never asserted: it is not part
//! of `make test`.

use futures_util::{SinkExt, StreamExt};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const CONNECTS: usize = 30;
const KEYS: usize = 300;
const BIG_OUTPUT: u64 = 100_000_000;
const SESSIONS: usize = 50;
const SESSION_OUTPUT: u64 = 2_000_000;
const IDLE_SESSIONS: usize = 100;
/// Sessions one process holds at once in the last step.
const MANY_SESSIONS: usize = 1_000;
/// Any single wait; a bench that hangs is a failed bench.
const DEADLINE: Duration = Duration::from_secs(120);

fn main() {
    // `cargo bench` passes `--bench`; the baseline is this binary again.
    if std::env::args().any(|a| a == "--serve-baseline") {
        return tokio::runtime::Runtime::new().unwrap().block_on(baseline::serve());
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let porthole = Target::porthole().await;
        let baseline = Target::baseline().await;
        let mut rows = Vec::new();
        for target in [&porthole, &baseline] {
            eprintln!("bench: measuring {}", target.name);
            rows.push(measure(target).await);
        }
        let durable = durable_costs(&porthole).await;
        drop(porthole);
        // Idle memory on fresh processes, with and without resuming.
        let mut per_session = [0; 2];
        for (i, args) in [&[][..], &["--resume-grace", "0"][..]].into_iter().enumerate() {
            let fresh = Target::porthole_with(args).await;
            eprintln!("bench: idle sessions on a fresh porthole {args:?}");
            let (mut warm, _) = Session::open(&fresh).await;
            warm.read().await;
            warm.close().await;
            per_session[i] = idle_sessions(&fresh).await.1;
        }
        let [per_session_resume_on, per_session_resume_off] = per_session;
        let fresh = Target::porthole().await;
        eprintln!("bench: {MANY_SESSIONS} idle sessions on a fresh porthole");
        let many = many_sessions(&fresh).await;
        drop(fresh);
        report(&rows[0], &rows[1], &Durable { per_session_resume_on, per_session_resume_off, ..durable }, &many);
    });
}

/// A server under test, and how to open a terminal on it.
struct Target {
    name: &'static str,
    url: String,
    headers: Vec<(&'static str, String)>,
    process: Child,
    _data: Option<tempfile::TempDir>,
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Target {
    async fn porthole() -> Target {
        Target::porthole_with(&[]).await
    }

    async fn porthole_with(args: &[&str]) -> Target {
        let data = tempfile::tempdir().unwrap();
        let port = free_port();
        let process = Command::new(env!("CARGO_BIN_EXE_porthole"))
            .args(["--listen", &format!("127.0.0.1:{port}"), "--dist-dir", "/nonexistent"])
            .args(args)
            .arg("--data-dir")
            .arg(data.path())
            .env("PORTHOLE_DEMO_PASSWORD", "bench-password")
            .env("PORTHOLE_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("the porthole binary");
        let base = format!("http://127.0.0.1:{port}");
        wait_listening(port).await;
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let response = http
            .post(format!("{base}/users/sign_in"))
            .form(&[("username", "maintainer"), ("password", "bench-password")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 303, "sign-in");
        let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
        Target {
            name: "porthole",
            // As a page connects: its size in the query.
            url: format!("ws://127.0.0.1:{port}/demo/shop/-/environments/1/terminal.ws?cols=80&rows=24"),
            headers: vec![("cookie", cookie), ("origin", base)],
            process,
            _data: Some(data),
        }
    }

    async fn baseline() -> Target {
        let mut process = Command::new(std::env::current_exe().unwrap())
            .arg("--serve-baseline")
            .stdout(Stdio::piped())
            .spawn()
            .expect("the baseline");
        let mut line = String::new();
        BufReader::new(process.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port: u16 = line.trim().parse().expect("the baseline's port");
        Target { name: "baseline", url: format!("ws://127.0.0.1:{port}/"), headers: vec![], process, _data: None }
    }

    fn rss_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.process.id())).unwrap_or_default();
        let field = |name: &str| {
            status.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// Open file descriptors of the server process.
    fn descriptors(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.process.id())).map_or(0, Iterator::count)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn wait_listening(port: u16) {
    let deadline = Instant::now() + DEADLINE;
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "porthole never listened on {port}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One terminal session, read like xterm.js reads it: every binary frame is
/// output, acknowledged every 64 KiB.
struct Session {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    received: u64,
    unacked: u64,
    /// The last bytes received, to find markers in.
    tail: Vec<u8>,
    /// The session's id, from `connected` (Porthole's, when resumable).
    id: Option<String>,
}

impl Session {
    async fn open(target: &Target) -> (Session, Duration) {
        Session::open_url(target, &target.url).await
    }

    async fn open_url(target: &Target, url: &str) -> (Session, Duration) {
        let started = Instant::now();
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert("sec-websocket-protocol", "v1.porthole".parse().unwrap());
        for (name, value) in &target.headers {
            request.headers_mut().insert(*name, value.parse().unwrap());
        }
        let connected = tokio::time::timeout(DEADLINE, tokio_tungstenite::connect_async(request)).await.expect("connected in time");
        let (ws, _) = connected.expect("connect");
        (Session { ws, received: 0, unacked: 0, tail: Vec::new(), id: None }, started.elapsed())
    }

    /// Reads one message; true for output.
    async fn read(&mut self) -> bool {
        self.read_or_end().await.expect("the session ended")
    }

    /// Reads one message: `Some(true)` for output, `None` once the session
    /// has ended (a viewer that fell behind is dropped with 4011).
    async fn read_or_end(&mut self) -> Option<bool> {
        let msg = tokio::time::timeout(DEADLINE, self.ws.next()).await.expect("output in time");
        match msg {
            Some(Ok(Message::Binary(bytes))) => {
                self.received += bytes.len() as u64;
                self.unacked += bytes.len() as u64;
                self.tail.extend_from_slice(&bytes);
                if self.tail.len() > 4096 {
                    self.tail.drain(..self.tail.len() - 4096);
                }
                if self.unacked >= 64 << 10 {
                    let ack = format!(r#"{{"type":"ack","bytes":{}}}"#, std::mem::take(&mut self.unacked));
                    self.ws.send(Message::Text(ack.into())).await.unwrap();
                }
                Some(true)
            }
            Some(Ok(Message::Text(text))) => {
                if let Ok(shared::porthole::ServerMessage::Connected { resume: Some(ticket), .. }) = shared::porthole::decode_server(&text) {
                    self.id = Some(ticket.id);
                }
                Some(false)
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => None,
            Some(Ok(_)) => Some(false),
        }
    }

    async fn until(&mut self, marker: &[u8]) {
        self.tail.clear();
        while !self.tail.windows(marker.len()).any(|w| w == marker) {
            self.read().await;
        }
    }

    /// Ends the session with a Close, as a page does (a resumable session
    /// dropped without one would wait for its page for a minute).
    async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.ws.send(Message::Binary(bytes.to_vec().into())).await.unwrap();
    }

    /// Runs `command` and waits for its output to end with `DONE-2`.
    async fn run(&mut self, command: &str) {
        self.send(format!("{command}; echo DONE-$((1+1))\r").as_bytes()).await;
        self.until(b"DONE-2").await;
    }
}

#[derive(Debug, Default, serde::Serialize)]
struct Figures {
    target: &'static str,
    open_p50_ms: f64,
    first_byte_p50_ms: f64,
    first_byte_p99_ms: f64,
    echo_p50_us: f64,
    echo_p99_us: f64,
    throughput_mb_s: f64,
    aggregate_mb_s: f64,
    every_byte_delivered: bool,
    rss_idle_kib: u64,
    rss_idle_sessions_kib: u64,
    per_session_kib: u64,
    peak_rss_kib: u64,
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

async fn measure(target: &Target) -> Figures {
    let mut f = Figures { target: target.name, ..Figures::default() };
    // Warm up: the first connection pays for first-time work of both.
    let (mut warm, _) = Session::open(target).await;
    warm.read().await;
    warm.close().await;
    f.rss_idle_kib = target.rss_kib().0;

    let (mut opens, mut firsts) = (Vec::new(), Vec::new());
    for _ in 0..CONNECTS {
        let started = Instant::now();
        let (mut s, open) = Session::open(target).await;
        while !s.read().await {}
        firsts.push(started.elapsed());
        opens.push(open);
        let _ = s.ws.close(None).await;
    }
    f.open_p50_ms = percentile(&mut opens, 0.5).as_secs_f64() * 1e3;
    f.first_byte_p50_ms = percentile(&mut firsts, 0.5).as_secs_f64() * 1e3;
    f.first_byte_p99_ms = percentile(&mut firsts, 0.99).as_secs_f64() * 1e3;

    (f.echo_p50_us, f.echo_p99_us) = echo_latency(target).await;

    let (mut s, _) = Session::open(target).await;
    s.run("echo ready").await;
    let (from, started) = (s.received, Instant::now());
    s.run(&format!("head -c {BIG_OUTPUT} /dev/zero | tr '\\0' x")).await;
    f.throughput_mb_s = (s.received - from) as f64 / started.elapsed().as_secs_f64() / 1e6;
    s.close().await;

    let mut sessions = Vec::new();
    for _ in 0..SESSIONS {
        let (mut s, _) = Session::open(target).await;
        s.run("echo ready").await;
        sessions.push(s);
    }
    let started = Instant::now();
    let runs = sessions.into_iter().map(|mut s| {
        tokio::spawn(async move {
            let from = s.received;
            s.run(&format!("head -c {SESSION_OUTPUT} /dev/zero | tr '\\0' x")).await;
            let delivered = s.received - from;
            s.close().await;
            delivered
        })
    });
    let delivered: Vec<u64> = futures_util::future::join_all(runs).await.into_iter().map(Result::unwrap).collect();
    f.aggregate_mb_s = delivered.iter().sum::<u64>() as f64 / started.elapsed().as_secs_f64() / 1e6;
    f.every_byte_delivered = delivered.iter().all(|n| *n >= SESSION_OUTPUT);

    (f.rss_idle_sessions_kib, f.per_session_kib) = idle_sessions(target).await;
    f.peak_rss_kib = target.rss_kib().1;
    f
}

/// Echo latency p50/p99 (µs) over [`KEYS`] keys through `cat` in raw mode,
/// in a session of its own.
async fn echo_latency(target: &Target) -> (f64, f64) {
    let (mut s, _) = Session::open(target).await;
    s.send(b"stty raw -echo; echo READY-$((4*4)); cat\r").await;
    s.until(b"READY-16").await;
    let mut echoes = Vec::new();
    for i in 0..KEYS {
        let key = [b'a' + (i % 26) as u8];
        let started = Instant::now();
        s.tail.clear();
        s.send(&key).await;
        while !s.tail.contains(&key[0]) {
            s.read().await;
        }
        echoes.push(started.elapsed());
    }
    s.close().await;
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    (us(percentile(&mut echoes, 0.5)), us(percentile(&mut echoes, 0.99)))
}

/// [`MANY_SESSIONS`] idle sessions held by one process at once.
#[derive(Debug, Default, serde::Serialize)]
struct Many {
    /// Sessions opened, each answering a command.
    held: usize,
    /// Seconds to open them all, one after the other.
    open_seconds: f64,
    /// RSS with them open, and per session (KiB).
    rss_kib: u64,
    per_session_kib: u64,
    /// The server's open descriptors with them open.
    descriptors: usize,
    /// Echo latency in one more session meanwhile (µs).
    echo_p50_us: f64,
    echo_p99_us: f64,
}

/// Opens [`MANY_SESSIONS`] sessions on `target` (each runs a command),
/// measures RSS and the echo of one more session while they are all open,
/// then closes them. Every wait is bounded by [`DEADLINE`].
async fn many_sessions(target: &Target) -> Many {
    // As for the other fresh processes: the first connection's one-time
    // costs are not a session's.
    let (mut warm, _) = Session::open(target).await;
    warm.read().await;
    warm.close().await;
    let before = target.rss_kib().0;
    let started = Instant::now();
    let mut open = Vec::with_capacity(MANY_SESSIONS);
    for i in 0..MANY_SESSIONS {
        let (mut s, _) = Session::open(target).await;
        s.run("echo ready").await;
        open.push(s);
        if (i + 1) % 250 == 0 {
            eprintln!("bench: {} sessions open", i + 1);
        }
    }
    let open_seconds = started.elapsed().as_secs_f64();
    let rss_kib = target.rss_kib().0;
    let descriptors = target.descriptors();
    let (echo_p50_us, echo_p99_us) = echo_latency(target).await;
    let held = open.len();
    futures_util::future::join_all(open.into_iter().map(Session::close)).await;
    let per_session_kib = rss_kib.saturating_sub(before) / held as u64;
    Many { held, open_seconds, rss_kib, per_session_kib, descriptors, echo_p50_us, echo_p99_us }
}

/// RSS with 100 idle sessions open, and per session (KiB). The sessions
/// are closed with a Close (a resumable one would otherwise wait for its
/// page).
async fn idle_sessions(target: &Target) -> (u64, u64) {
    let before = target.rss_kib().0;
    let mut idle = Vec::new();
    for _ in 0..IDLE_SESSIONS {
        let (mut s, _) = Session::open(target).await;
        s.run("echo ready").await;
        idle.push(s);
    }
    let with_idle = target.rss_kib().0;
    for s in idle {
        s.close().await;
    }
    (with_idle, with_idle.saturating_sub(before) / IDLE_SESSIONS as u64)
}

/// What durable sessions cost, measured on Porthole alone.
#[derive(Debug, Default, serde::Serialize)]
struct Durable {
    /// 100 MB throughput (MB/s) with 1 and with 10 viewers watching.
    viewers_1_mb_s: f64,
    viewers_10_mb_s: f64,
    /// Viewers that got every byte (the others fell behind and were dropped, 4011).
    kept_up_1: usize,
    kept_up_10: usize,
    /// RSS per idle session on a fresh process, resuming on (the default)
    /// and with `--resume-grace 0` (KiB).
    per_session_resume_on: u64,
    per_session_resume_off: u64,
}

async fn durable_costs(target: &Target) -> Durable {
    eprintln!("bench: measuring viewers");
    let (viewers_1_mb_s, kept_up_1) = with_viewers(target, 1).await;
    let (viewers_10_mb_s, kept_up_10) = with_viewers(target, 10).await;
    Durable { viewers_1_mb_s, viewers_10_mb_s, kept_up_1, kept_up_10, ..Durable::default() }
}

/// The 100 MB throughput of a session while `n` viewers watch it; every
/// viewer reads to the end.
async fn with_viewers(target: &Target, n: usize) -> (f64, usize) {
    let (mut s, _) = Session::open(target).await;
    s.run("echo ready").await;
    let id = s.id.clone().expect("a resumable session's id");
    let mut viewers = Vec::new();
    for _ in 0..n {
        let (mut v, _) = Session::open_url(target, &format!("{}&view={id}", target.url)).await;
        // Joined: the held output (the prompt) has come.
        while !v.read().await {}
        viewers.push(tokio::spawn(async move {
            v.tail.clear();
            while !v.tail.windows(8).any(|w| w == b"VIEWED-7") {
                if v.read_or_end().await.is_none() {
                    break;
                }
            }
            v.received
        }));
    }
    let (from, started) = (s.received, Instant::now());
    s.send(format!("head -c {BIG_OUTPUT} /dev/zero | tr '\\0' x; echo VIEWED-$((3+4))\r").as_bytes()).await;
    s.until(b"VIEWED-7").await;
    let mb_s = (s.received - from) as f64 / started.elapsed().as_secs_f64() / 1e6;
    // A viewer that fell behind was dropped (4011): it received less.
    let mut kept_up = 0;
    for v in viewers {
        kept_up += usize::from(matches!(v.await, Ok(n) if n >= BIG_OUTPUT));
    }
    eprintln!("bench: {kept_up} of {n} viewers kept up");
    s.close().await;
    (mb_s, kept_up)
}

fn report(porthole: &Figures, baseline: &Figures, durable: &Durable, many: &Many) {
    let ratio = |a: f64, b: f64| if b > 0.0 { format!("{:.2}×", a / b) } else { "-".into() };
    let rows: [(&str, f64, f64); 11] = [
        ("WebSocket open p50 (ms)", porthole.open_p50_ms, baseline.open_p50_ms),
        ("connect → first byte p50 (ms)", porthole.first_byte_p50_ms, baseline.first_byte_p50_ms),
        ("connect → first byte p99 (ms)", porthole.first_byte_p99_ms, baseline.first_byte_p99_ms),
        ("echo p50 (µs)", porthole.echo_p50_us, baseline.echo_p50_us),
        ("echo p99 (µs)", porthole.echo_p99_us, baseline.echo_p99_us),
        ("throughput, 100 MB (MB/s)", porthole.throughput_mb_s, baseline.throughput_mb_s),
        ("50 sessions × 2 MB (MB/s)", porthole.aggregate_mb_s, baseline.aggregate_mb_s),
        ("RSS idle (KiB)", porthole.rss_idle_kib as f64, baseline.rss_idle_kib as f64),
        ("RSS with 100 idle sessions (KiB)", porthole.rss_idle_sessions_kib as f64, baseline.rss_idle_sessions_kib as f64),
        ("RSS per idle session (KiB)", porthole.per_session_kib as f64, baseline.per_session_kib as f64),
        ("peak RSS (KiB)", porthole.peak_rss_kib as f64, baseline.peak_rss_kib as f64),
    ];
    println!("| figure | porthole | baseline | ratio |");
    println!("|---|---|---|---|");
    for (name, p, b) in rows {
        println!("| {name} | {p:.1} | {b:.1} | {} |", ratio(p, b));
    }
    println!("| every byte delivered | {} | {} | |", porthole.every_byte_delivered, baseline.every_byte_delivered);
    println!();
    println!("| durable sessions (porthole) | |");
    println!("|---|---|");
    println!("| throughput, 100 MB, 1 viewer (MB/s) | {:.1} ({} of 1 got every byte) |", durable.viewers_1_mb_s, durable.kept_up_1);
    println!("| throughput, 100 MB, 10 viewers (MB/s) | {:.1} ({} of 10 got every byte) |", durable.viewers_10_mb_s, durable.kept_up_10);
    println!("| RSS per idle session, fresh process, resume on (KiB) | {} |", durable.per_session_resume_on);
    println!("| RSS per idle session, fresh process, --resume-grace 0 (KiB) | {} |", durable.per_session_resume_off);
    println!();
    println!("| {MANY_SESSIONS} idle sessions (porthole, fresh process) | |");
    println!("|---|---|");
    println!("| held, each answering a command | {} (opened in {:.1} s) |", many.held, many.open_seconds);
    println!("| RSS with them open (KiB) | {} ({} per session) |", many.rss_kib, many.per_session_kib);
    println!("| the server's open descriptors | {} |", many.descriptors);
    println!("| echo p50 / p99 in one more session (µs) | {:.1} / {:.1} |", many.echo_p50_us, many.echo_p99_us);
    let json = serde_json::json!({ "porthole": porthole, "baseline": baseline, "durable": durable, "many_sessions": many });
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench.json");
    if std::fs::write(path, serde_json::to_string_pretty(&json).unwrap()).is_ok() {
        println!("\nJSON: target/bench.json");
    }
}

/// The baseline: bash in a PTY over one WebSocket, nothing else.
mod baseline {
    use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
    use futures_util::{SinkExt, StreamExt};
    use server::pty::{self, Spec};
    use shared::porthole::TerminalSize;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    pub async fn serve() {
        let app = axum::Router::new()
            .route("/", axum::routing::get(|ws: WebSocketUpgrade| async { ws.protocols(["v1.porthole"]).on_upgrade(session) }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap().port());
        axum::serve(listener, app).await.unwrap();
    }

    async fn session(ws: WebSocket) {
        let spec = Spec {
            argv: vec!["bash".into()],
            env: vec![("PATH".into(), "/usr/bin:/bin".into()), ("TERM".into(), "xterm-256color".into()), ("HOME".into(), "/tmp".into())],
            cwd: std::env::temp_dir(),
            size: TerminalSize { cols: 80, rows: 24 },
            user: None,
            enclosure: None,
        };
        let Ok(mut process) = pty::spawn(&spec) else { return };
        let (mut sink, mut stream) = ws.split();
        let mut buf = vec![0u8; 32 << 10];
        loop {
            tokio::select! {
                read = process.reader.read(&mut buf) => match read {
                    Ok(n) if n > 0 => {
                        if sink.send(Message::Binary(buf[..n].to_vec().into())).await.is_err() { break }
                    }
                    _ => break,
                },
                msg = stream.next() => match msg {
                    Some(Ok(Message::Binary(bytes))) => {
                        if process.writer.write_all(&bytes).await.is_err() { break }
                    }
                    Some(Ok(_)) => {}
                    _ => break,
                },
            }
        }
        pty::hang_up_now(process.child, process.pid, std::time::Duration::from_millis(200)).await;
    }
}
