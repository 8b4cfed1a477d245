//! Test harness: a real porthole on ephemeral loopback ports, a stand-in for
//! GitLab Rails that answers authorize with any Channel we want, and a
//! WebSocket client that speaks every browser subprotocol.
#![allow(dead_code)]

pub mod binary;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use server::jwt::WorkhorseSecret;
use server::{Config, Porthole};
use shared::channel::{API_REQUEST_HEADER, AuthorizeResponse, ChannelSettings, WORKHORSE_CONTENT_TYPE};
use shared::porthole::{self, ClientMessage, ServerMessage};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Session cookies of signed-in test users, by server address (`127.0.0.1:port`):
/// every porthole a test starts signs `maintainer` in, and the helpers below
/// send that cookie unless told otherwise.
static COOKIES: std::sync::LazyLock<Mutex<std::collections::HashMap<String, String>>> = std::sync::LazyLock::new(Default::default);

fn cookie_for(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    let key = format!("{}:{}", url.host_str()?, url.port()?);
    COOKIES.lock().unwrap().get(&key).cloned()
}

/// Signs `user` in with the demo password; returns the cookie (`name=value`).
pub async fn sign_in(base_url: &str, user: &str) -> String {
    sign_in_with(base_url, user, DEMO_PASSWORD).await
}

/// Signs `user` in with `password`; returns the cookie (`name=value`).
pub async fn sign_in_with(base_url: &str, user: &str, password: &str) -> String {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = client
        .post(format!("{base_url}/users/sign_in"))
        .form(&[("username", user), ("password", password)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303, "sign-in of {user}");
    let cookie = response.headers().get("set-cookie").expect("a session cookie").to_str().unwrap();
    cookie.split(';').next().unwrap().to_string()
}

/// Makes sure the demo users exist (a `demo = false` configuration has
/// none: the test adds them, as an admin would), then signs `maintainer` in.
async fn sign_in_maintainer(porthole: &Porthole, config: &Config) {
    let url = config.database_url.clone().unwrap_or_else(|| format!("sqlite://{}", config.data_dir.join("porthole.db").display()));
    let db = server::app::users::Database::connect(&url).await.unwrap();
    server::app::users::create_demo_users(&db, Some(DEMO_PASSWORD)).await.unwrap();
    let cookie = sign_in(&porthole.url(), "maintainer").await;
    COOKIES.lock().unwrap().insert(porthole.addr.to_string(), cookie);
}

/// GET with the signed-in test user's cookie for that server.
pub async fn http_get(url: &str) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(url);
    if let Some(cookie) = cookie_for(url) {
        request = request.header("cookie", cookie);
    }
    request.send().await.unwrap()
}

/// A client that sends `cookie` on every request.
pub fn client_with_cookie(cookie: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("cookie", cookie.parse().unwrap());
    reqwest::Client::builder().default_headers(headers).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// How long any single wait in a test may take before it fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

pub struct TestPorthole {
    pub porthole: Porthole,
    pub data: tempfile::TempDir,
}

impl TestPorthole {
    pub fn url(&self) -> String {
        self.porthole.url()
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.porthole.addr)
    }

    /// A client signed in as `maintainer`.
    pub fn http(&self) -> reqwest::Client {
        client_with_cookie(&cookie_for(&self.url()).expect("signed in at start"))
    }

    pub fn secret(&self) -> WorkhorseSecret {
        WorkhorseSecret::load_or_create(&self.data.path().join("workhorse_secret")).unwrap()
    }

    /// The Channel the demo app would answer, with other subprotocols and command.
    pub fn channel(&self, subprotocols: &[&str], command: &[&str]) -> ChannelSettings {
        let cluster = &self.porthole.cluster.as_ref().unwrap();
        let mut url = url::Url::parse(&format!(
            "wss://{}/api/v1/namespaces/shop-production/pods/shop-web-7c9d5b8f4-q2x7z/exec",
            cluster.addr
        ))
        .unwrap();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("container", "web");
            for flag in ["stderr", "stdin", "stdout", "tty"] {
                q.append_pair(flag, "true");
            }
            for part in command {
                q.append_pair("command", part);
            }
        }
        ChannelSettings {
            subprotocols: subprotocols.iter().map(|s| s.to_string()).collect(),
            url: url.to_string(),
            header: [("Authorization".to_string(), vec![format!("Bearer {}", cluster.token)])].into(),
            ca_pem: cluster.ca_pem.clone(),
            max_session_time: 0,
            idle_timeout: 0,
        }
    }
}

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("PORTHOLE_LOG").unwrap_or_else(|_| "warn".into()))
        .with_test_writer()
        .try_init();
}

pub fn test_config(data: &std::path::Path) -> Config {
    // As the `porthole` binary does: stand-bys run as the small binary.
    server::sandbox::enclosure::relaunch_stand_bys(std::path::Path::new(env!("CARGO_BIN_EXE_porthole-standby")));
    let mut config = Config::new(data);
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.kill_grace = Duration::from_millis(500);
    // Shutdown ends sessions at once unless a test drains.
    config.shutdown_grace = Duration::ZERO;
    config.demo_password = Some(DEMO_PASSWORD.into());
    config
}

/// The demo users' password in tests.
pub const DEMO_PASSWORD: &str = "demo-password";

/// A porthole with its own app.
pub async fn start() -> TestPorthole {
    start_configured(|_| {}).await
}

/// A porthole with its own app, configured further by `tweak`.
pub async fn start_configured(tweak: impl FnOnce(&mut Config)) -> TestPorthole {
    init_tracing();
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    tweak(&mut config);
    let porthole = Porthole::start(config.clone()).await.unwrap();
    sign_in_maintainer(&porthole, &config).await;
    TestPorthole { porthole, data }
}

/// Queues a job in `demo/shop` as the signed-in test user; returns its id.
pub async fn post_job(porthole: &TestPorthole, script: &str, prepare_seconds: u64) -> u64 {
    let job: serde_json::Value = porthole
        .http()
        .post(format!("{}/api/v4/projects/1/jobs", porthole.url()))
        .json(&serde_json::json!({"name": "test", "script": script, "prepare_seconds": prepare_seconds}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    job["id"].as_u64().expect("a job id")
}

/// A stand-in for Rails: verifies the relay's JWT like the app does and
/// answers the Channel currently set.
pub struct FakeRails {
    pub channel: Arc<Mutex<Option<ChannelSettings>>>,
    /// Authorize requests answered so far.
    pub asked: Arc<std::sync::atomic::AtomicUsize>,
}

impl FakeRails {
    pub fn set(&self, channel: ChannelSettings) {
        *self.channel.lock().unwrap() = Some(channel);
    }

    /// Waits (at most [`DEADLINE`]) until `more` authorize requests beyond
    /// those answered so far have been answered.
    pub async fn answered(&self, more: usize) {
        use std::sync::atomic::Ordering;
        let target = self.asked.load(Ordering::SeqCst) + more;
        tokio::time::timeout(DEADLINE, async {
            while self.asked.load(Ordering::SeqCst) < target {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("authorize asked again in time");
    }

    /// From now on, authorize answers 404.
    pub fn revoke(&self) {
        *self.channel.lock().unwrap() = None;
    }
}

/// A porthole whose relay authorizes against a [`FakeRails`].
pub async fn start_with_fake_rails() -> (TestPorthole, FakeRails) {
    start_with_fake_rails_configured(|_| {}).await
}

/// [`start_with_fake_rails`], configured further by `tweak`.
pub async fn start_with_fake_rails_configured(tweak: impl FnOnce(&mut Config)) -> (TestPorthole, FakeRails) {
    init_tracing();
    let data = tempfile::tempdir().unwrap();
    let secret = WorkhorseSecret::load_or_create(&data.path().join("workhorse_secret")).unwrap();
    let channel: Arc<Mutex<Option<ChannelSettings>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rails_url = format!("http://{}", listener.local_addr().unwrap());
    let shared_channel = channel.clone();
    let asked: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
    let counter = asked.clone();
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
        let channel = shared_channel.lock().unwrap().clone();
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let secret = secret.clone();
        async move {
            use axum::response::IntoResponse;
            let token = headers.get(API_REQUEST_HEADER).and_then(|v| v.to_str().ok());
            if secret.verify(token).is_err() {
                return (axum::http::StatusCode::UNAUTHORIZED, "bad jwt").into_response();
            }
            match channel {
                Some(channel) => (
                    [(axum::http::header::CONTENT_TYPE, WORKHORSE_CONTENT_TYPE)],
                    axum::Json(AuthorizeResponse { channel }),
                )
                    .into_response(),
                None => (axum::http::StatusCode::NOT_FOUND, "Not found").into_response(),
            }
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut config = test_config(data.path());
    config.app_url = Some(rails_url.parse().unwrap());
    tweak(&mut config);
    let porthole = Porthole::start(config.clone()).await.unwrap();
    sign_in_maintainer(&porthole, &config).await;
    (TestPorthole { porthole, data }, FakeRails { channel, asked })
}

pub const ENV_WS: &str = "/demo/shop/-/environments/1/terminal.ws";

/// A browser-like WebSocket client.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub protocol: String,
    /// Every output byte received so far.
    pub output: Vec<u8>,
    pub controls: Vec<ServerMessage>,
    pub close: Option<(u16, String)>,
    /// Pings received from the relay.
    pub pings: usize,
    /// Acknowledge output (v1.porthole flow control), as the frontend does.
    pub auto_ack: bool,
    /// The relay that answered the upgrade (`Porthole-Relay`), when it says.
    pub relay: Option<String>,
}

impl Client {
    pub async fn connect(url: &str, protocol: &str) -> Client {
        Client::try_connect(url, protocol).await.unwrap_or_else(|e| panic!("connect {url}: {e}"))
    }

    pub async fn try_connect(url: &str, protocol: &str) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
        Client::try_connect_with(url, protocol, &[]).await
    }

    pub async fn try_connect_with(
        url: &str,
        protocol: &str,
        headers: &[(&'static str, &str)],
    ) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
        let mut request = url.into_client_request().unwrap();
        if let Some(cookie) = cookie_for(url).filter(|_| !headers.iter().any(|(n, _)| *n == "cookie")) {
            request.headers_mut().insert("cookie", cookie.parse().unwrap());
        }
        // A browser's page of this host, unless the test says otherwise.
        if !headers.iter().any(|(n, _)| *n == "origin") {
            let page = url.replacen("ws://", "http://", 1).replacen("wss://", "https://", 1);
            let origin = url::Url::parse(&page).unwrap().origin().ascii_serialization();
            request.headers_mut().insert("origin", origin.parse().unwrap());
        }
        for (name, value) in headers {
            // ("origin", ""), ("cookie", ""): no such header at all.
            if value.is_empty() {
                continue;
            }
            request.headers_mut().insert(*name, value.parse().unwrap());
        }
        if !protocol.is_empty() {
            request.headers_mut().insert("sec-websocket-protocol", protocol.parse().unwrap());
        }
        let (ws, response) = tokio_tungstenite::connect_async(request).await?;
        let relay = response.headers().get("porthole-relay").and_then(|v| v.to_str().ok()).map(str::to_string);
        Ok(Client { ws, protocol: protocol.to_string(), output: vec![], controls: vec![], close: None, pings: 0, auto_ack: true, relay })
    }

    pub fn output_text(&self) -> String {
        String::from_utf8_lossy(&self.output).into_owned()
    }

    /// The output's last 4 KiB, as text (for prompt checks on long sessions).
    pub fn output_tail(&self) -> String {
        String::from_utf8_lossy(&self.output[self.output.len().saturating_sub(4096)..]).into_owned()
    }

    pub async fn send_input(&mut self, bytes: &[u8]) {
        let msg = match self.protocol.as_str() {
            "base64.terminal.gitlab.com" => Message::Text(STANDARD.encode(bytes).into()),
            _ => Message::Binary(Bytes::copy_from_slice(bytes)),
        };
        self.ws.send(msg).await.unwrap();
    }

    pub async fn send_control(&mut self, msg: &ClientMessage) {
        let shared::Frame::Text(text) = porthole::encode_client(msg) else { unreachable!() };
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    pub async fn send_raw(&mut self, msg: Message) {
        self.ws.send(msg).await.unwrap();
    }

    /// Reads one message; false once the connection is closed.
    pub async fn read_one(&mut self) -> bool {
        if self.close.is_some() {
            return false;
        }
        match self.ws.next().await {
            Some(Ok(Message::Binary(bytes))) => {
                let n = bytes.len() as u64;
                self.output.extend_from_slice(&bytes);
                if self.auto_ack && self.protocol == porthole::SUBPROTOCOL {
                    self.send_control(&ClientMessage::Ack { bytes: n }).await;
                }
            }
            Some(Ok(Message::Text(text))) => {
                if self.protocol == porthole::SUBPROTOCOL {
                    self.controls.push(porthole::decode_server(&text).expect("valid control message"));
                } else {
                    self.output.extend(STANDARD.decode(text.as_bytes()).expect("valid base64"));
                }
            }
            Some(Ok(Message::Close(frame))) => {
                self.close = Some(frame.map(|f| (u16::from(f.code), f.reason.to_string())).unwrap_or((1005, String::new())));
                return false;
            }
            Some(Ok(Message::Ping(_))) => self.pings += 1,
            Some(Ok(_)) => {}
            None | Some(Err(_)) => {
                self.close.get_or_insert((1006, String::new()));
                return false;
            }
        }
        true
    }

    /// Reads until `pred` holds for the client, or fails the test at the deadline.
    pub async fn read_until(&mut self, what: &str, pred: impl Fn(&Client) -> bool) {
        let deadline = Instant::now() + DEADLINE;
        while !pred(self) {
            match tokio::time::timeout_at(deadline, self.read_one()).await {
                Ok(true) => {}
                Ok(false) => {
                    if pred(self) {
                        return;
                    }
                    panic!("closed ({:?}) before {what}; output: {:?}", self.close, tail(&self.output_tail()))
                }
                Err(_) => panic!("timed out waiting for {what}; output: {:?}", tail(&self.output_tail())),
            }
        }
    }

    /// Reads until the output contains `needle` after byte `from`; returns
    /// where it ends. Only new bytes are searched, so a flood stays linear.
    pub async fn expect_output_after(&mut self, from: usize, needle: &str) -> usize {
        let needle = needle.as_bytes();
        let mut scanned = from;
        let deadline = Instant::now() + DEADLINE;
        loop {
            let start = scanned.saturating_sub(needle.len()).max(from);
            if let Some(at) = self.output[start..].windows(needle.len()).position(|w| w == needle) {
                return start + at + needle.len();
            }
            scanned = self.output.len();
            match tokio::time::timeout_at(deadline, self.read_one()).await {
                Ok(true) => {}
                Ok(false) if self.output.len() > scanned => {}
                Ok(false) => panic!(
                    "closed ({:?}) before {:?}; output: {:?}",
                    self.close,
                    String::from_utf8_lossy(needle),
                    tail(&self.output_tail())
                ),
                Err(_) => panic!("timed out waiting for {:?}; output: {:?}", String::from_utf8_lossy(needle), tail(&self.output_tail())),
            }
        }
    }

    pub async fn expect_output(&mut self, needle: &str) -> usize {
        self.expect_output_after(0, needle).await
    }

    /// Waits for the shell's first prompt (`$ ` or `# `).
    pub async fn expect_prompt(&mut self) {
        self.read_until("a prompt", |c| {
            let t = c.output_tail();
            t.trim_end_matches(' ').ends_with('$') || t.trim_end_matches(' ').ends_with('#')
        })
        .await;
    }

    /// Runs a command and returns the output that follows it, up to `marker`.
    pub async fn run(&mut self, command: &str, marker: &str) -> String {
        let from = self.output.len();
        self.send_input(format!("{command}\r").as_bytes()).await;
        self.expect_output_after(from, marker).await;
        String::from_utf8_lossy(&self.output[from..]).into_owned()
    }

    /// Reads until the server closes; returns the close code and reason.
    pub async fn expect_close(&mut self) -> (u16, String) {
        self.read_until("the close frame", |c| c.close.is_some()).await;
        self.close.clone().unwrap()
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }

    /// The resume ticket from the `connected` message.
    pub fn ticket(&self) -> porthole::ResumeTicket {
        self.controls
            .iter()
            .find_map(|m| match m {
                ServerMessage::Connected { resume: Some(ticket), .. } => Some(ticket.clone()),
                _ => None,
            })
            .expect("a connected message with a resume ticket")
    }

    /// Drops the TCP connection without a Close frame, as a network blip
    /// or a closed laptop lid does.
    pub fn drop_connection(self) {
        drop(self.ws);
    }

    /// Opens `url` (no query) as a resume of `ticket` from output byte
    /// `offset`, with `headers` as in [`Client::try_connect_with`], and
    /// sends the resume message.
    pub async fn resume(url: &str, ticket: &porthole::ResumeTicket, offset: u64, headers: &[(&'static str, &str)]) -> Client {
        let url = format!("{url}?cols=80&rows=24&resume={}", ticket.id);
        let mut client = Client::try_connect_with(&url, porthole::SUBPROTOCOL, headers).await.unwrap_or_else(|e| panic!("resume: {e}"));
        client.send_control(&ClientMessage::Resume { token: ticket.token.clone(), offset }).await;
        client
    }

    /// Closes with code 1000 and `reason`, as a page does.
    pub async fn close_with(mut self, reason: &str) {
        use tokio_tungstenite::tungstenite::protocol::{CloseFrame, frame::coding::CloseCode};
        let _ = self.ws.close(Some(CloseFrame { code: CloseCode::Normal, reason: reason.into() })).await;
    }
}

fn tail(s: &str) -> String {
    s.chars().rev().take(600).collect::<Vec<_>>().into_iter().rev().collect()
}

/// Waits until `cond` holds, polling, or panics at `deadline` from now.
pub async fn eventually(what: &str, deadline: Duration, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + deadline;
    while !cond() {
        assert!(Instant::now() < until, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Pids whose command line is exactly `argv`.
pub fn pids_running(argv: &[&str]) -> Vec<i32> {
    let want: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
        .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).map(|c| c == want).unwrap_or(false))
        .collect()
}

/// A database of its own on the machine's PostgreSQL, dropped at the end.
pub struct TestDatabase {
    pub name: String,
}

pub const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        let name = format!("porthole_test_{}_{}", std::process::id(), rand_suffix());
        let admin = sqlx::PgPool::connect(&format!("{POSTGRES}/postgres")).await.expect("PostgreSQL on 127.0.0.1:5432");
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.unwrap();
        TestDatabase { name }
    }

    pub fn url(&self) -> String {
        format!("{POSTGRES}/{}", self.name)
    }

    pub async fn drop_it(self) {
        let admin = sqlx::PgPool::connect(&format!("{POSTGRES}/postgres")).await.unwrap();
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).execute(&admin).await;
    }
}

fn rand_suffix() -> String {
    format!("{:08x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos())
}

/// The numbers of the lines that are only digits (`seq`'s output). What
/// a line's last carriage return overwrites does not count (bash ends
/// bracketed paste with `ESC[?2004l` and `\r` before the command's output).
pub fn numbered_lines(output: &[u8]) -> Vec<u64> {
    String::from_utf8_lossy(output)
        .split("\r\n")
        .filter_map(|l| l.rsplit('\r').next())
        .filter(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
        .map(|l| l.parse().unwrap())
        .collect()
}
