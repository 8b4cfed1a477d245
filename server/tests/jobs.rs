//! CI job terminals: the session server (runner side), the app's job
//! authorize, and the relay between them.

mod common;

use common::*;
use server::session_server::SessionServerConfig;
use shared::channel::ChannelSettings;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn session_server(timeout_secs: u64) -> SessionServerConfig {
    let mut ss = SessionServerConfig::new("127.0.0.1:0".parse().unwrap());
    ss.session_timeout = timeout_secs;
    ss.terminal_wait = Duration::from_millis(500);
    ss.poll_interval = Duration::from_millis(100);
    ss
}

async fn start_jobs(timeout_secs: u64) -> TestPorthole {
    start_configured(|c| c.session_server = Some(session_server(timeout_secs))).await
}

/// Starts a job and waits until a runner has it and its terminal is up.
async fn run_job(porthole: &TestPorthole, script: &str, prepare_seconds: u64) -> u64 {
    let id = post_job(porthole, script, prepare_seconds).await;
    wait_for_job(porthole, id, |j| j["has_terminal"] == true).await;
    id
}

async fn job_json(porthole: &TestPorthole, id: u64) -> serde_json::Value {
    http_get(&format!("{}/api/v4/projects/1/jobs/{id}", porthole.url())).await.json().await.unwrap()
}

async fn wait_for_job(porthole: &TestPorthole, id: u64, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let job = job_json(porthole, id).await;
        if pred(&job) {
            return job;
        }
        assert!(tokio::time::Instant::now() < deadline, "job never got there: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the app answers the relay for a job's terminal.
async fn job_channel(porthole: &TestPorthole, id: u64) -> ChannelSettings {
    let url = format!("{}/demo/shop/-/jobs/{id}/terminal.ws/authorize", porthole.url());
    let response = porthole.http().get(url).header("Gitlab-Workhorse-Api-Request", porthole.secret().sign()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let parsed: shared::channel::AuthorizeResponse = response.json().await.unwrap();
    parsed.channel
}

/// Dials the session server directly, as a relay would; `Err` holds the HTTP status.
async fn dial_session(url: &str, token: &str, ca_pem: &str) -> Result<(), u16> {
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("authorization", token.parse().unwrap());
    request.headers_mut().insert("sec-websocket-protocol", "terminal.gitlab.com".parse().unwrap());
    let connector = tokio_tungstenite::Connector::Rustls(server::tls::client_config(ca_pem).unwrap());
    match tokio_tungstenite::connect_async_tls_with_config(request, None, false, Some(connector)).await {
        Ok(_) => Ok(()),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("dial failed: {e}"),
    }
}

/// A plain HTTPS GET (no upgrade) to a `wss://` URL; returns the status.
async fn plain_get_status(wss_url: &str, token: &str, ca_pem: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let url = url::Url::parse(wss_url).unwrap();
    let addr = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from(url.host_str().unwrap().to_string()).unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(server::tls::client_config(ca_pem).unwrap()).connect(name, tcp).await.unwrap();
    let request = format!("GET {} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {token}\r\nConnection: close\r\n\r\n", url.path());
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(DEADLINE, tls.read_to_end(&mut response)).await;
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status in {text:?}"))
}

#[tokio::test]
async fn a_job_terminal_through_the_relay_with_resize_and_exit_status() {
    let porthole = start_jobs(60).await;
    let id = run_job(&porthole, "echo built", 0).await;
    let url = format!("{}?cols=91&rows=27", porthole.ws_url(&format!("/demo/shop/-/jobs/{id}/terminal.ws")));
    let mut client = Client::connect(&url, "v1.porthole").await;
    client.expect_prompt().await;
    client.run("echo in-job-$CI_JOB_ID", &format!("in-job-{id}\r\n")).await;
    client.run("stty size", "27 91\r\n").await;
    client.send_input(b"exit 4\r").await;
    let (code, reason) = client.expect_close().await;
    assert_eq!((code, reason.as_str()), (4000, "the process exited with exit status 4"));
    assert!(client.controls.contains(&shared::porthole::ServerMessage::Exit { code: 4 }));

    // GitLab's own subprotocol works too (bytes only).
    let url = porthole.ws_url(&format!("/demo/shop/-/jobs/{id}/terminal.ws"));
    let mut client = Client::connect(&url, "terminal.gitlab.com").await;
    client.expect_prompt().await;
    client.run("echo gitlab-$((1+1))", "gitlab-2\r\n").await;
}

#[tokio::test]
async fn the_session_server_answers_each_status_code() {
    let porthole = start_jobs(60).await;
    let id = run_job(&porthole, "true", 0).await;
    let channel = job_channel(&porthole, id).await;
    let token = &channel.header["Authorization"][0];
    assert_eq!(token.len(), 32);
    assert!(channel.url.starts_with("wss://127.0.0.1:") && channel.url.ends_with("/exec"), "{}", channel.url);
    let session_id = channel.url.rsplit('/').nth(1).unwrap();
    assert_eq!(session_id.len(), 32);

    assert_eq!(dial_session(&channel.url, "wrong-token", &channel.ca_pem).await, Err(401));
    let unknown = channel.url.replace(session_id, "0123456789abcdef0123456789abcdef");
    assert_eq!(dial_session(&unknown, token, &channel.ca_pem).await, Err(404));
    // Not an upgrade: 405.
    assert_eq!(plain_get_status(&channel.url, token, &channel.ca_pem).await, 405);

    // One terminal at a time: 423 while one is attached.
    let url = porthole.ws_url(&format!("/demo/shop/-/jobs/{id}/terminal.ws"));
    let mut first = Client::connect(&url, "v1.porthole").await;
    first.expect_prompt().await;
    assert_eq!(dial_session(&channel.url, token, &channel.ca_pem).await, Err(423));
    first.close().await;
    // Free again once it is gone.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while dial_session(&channel.url, token, &channel.ca_pem).await == Err(423) {
        assert!(tokio::time::Instant::now() < deadline, "the terminal slot was never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_terminal_not_ready_in_time_is_503() {
    let porthole = start_jobs(60).await;
    // The executor needs 30 s to prepare; the server waits 0.5 s.
    let id = run_job(&porthole, "true", 30).await;
    let channel = job_channel(&porthole, id).await;
    assert_eq!(dial_session(&channel.url, &channel.header["Authorization"][0], &channel.ca_pem).await, Err(503));
}

#[tokio::test]
async fn the_terminal_stays_for_session_timeout_and_no_longer() {
    let porthole = start_jobs(2).await;
    let id = run_job(&porthole, "echo done", 0).await;
    let channel = job_channel(&porthole, id).await;
    // Within the window the terminal opens…
    let url = porthole.ws_url(&format!("/demo/shop/-/jobs/{id}/terminal.ws"));
    let mut client = Client::connect(&url, "v1.porthole").await;
    client.expect_prompt().await;
    // …and when it ends, the terminal is closed with the runner's reason.
    let (code, reason) = client.expect_close().await;
    assert_eq!((code, reason.as_str()), (4001, "terminal session timed out (maximum time allowed - 2s)"));
    let job = wait_for_job(&porthole, id, |j| j["status"] == "success").await;
    assert_eq!(job["has_terminal"], false);
    assert!(job["trace"].as_str().unwrap().contains("done"), "{job}");
    // The session URL is dead, and the app no longer authorizes the terminal.
    assert_eq!(dial_session(&channel.url, &channel.header["Authorization"][0], &channel.ca_pem).await, Err(404));
    let err = Client::try_connect(&url, "v1.porthole").await.err().expect("refused");
    assert!(err.to_string().contains("404"), "{err}");
}

#[tokio::test]
async fn the_relay_pins_the_session_servers_certificate() {
    let (porthole, rails) = start_with_fake_rails().await;
    let id = run_job(&porthole, "true", 0).await;
    let mut channel = job_channel(&porthole, id).await;
    // Another self-signed certificate for the same host: pinning refuses it.
    channel.ca_pem = server::tls::self_signed("127.0.0.1").unwrap().0;
    rails.set(channel);
    let mut client = Client::connect(&porthole.ws_url(&format!("/demo/shop/-/jobs/{id}/terminal.ws")), "v1.porthole").await;
    let (code, reason) = client.expect_close().await;
    assert_eq!((code, reason.as_str()), (4002, "TLS failure connecting to the job's session server (check its CA certificate)"));
}

#[tokio::test]
async fn porthole_session_server_runs_apart_from_the_app() {
    // An app with job terminals disabled in-process (its config file has no
    // [session_server] section)…
    let dir = tempfile::tempdir().unwrap();
    // The runner's data dir is in here: its jobs' user must pass through
    // (tempdir makes it 0700; a home dir is usually 0711 or 0755).
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o711)).unwrap();
    let app_config = dir.path().join("app.toml");
    std::fs::write(&app_config, "demo = true\n").unwrap();
    let porthole = start_configured(|c| c.config_file = Some(app_config.clone())).await;
    assert!(porthole.porthole.session_server.is_none());

    // …and `porthole session-server` as its own process, like a runner.
    let runner_config = dir.path().join("runner.toml");
    std::fs::write(
        &runner_config,
        "[session_server]\nlisten_address = \"127.0.0.1:0\"\nsession_timeout = 60\npoll_interval = 0.1\n",
    )
    .unwrap();
    let mut runner = tokio::process::Command::new(env!("CARGO_BIN_EXE_porthole"))
        .arg("session-server")
        .arg("--config")
        .arg(&runner_config)
        .arg("--data-dir")
        .arg(dir.path().join("runner-data"))
        .arg("--app-url")
        .arg(porthole.url())
        .arg("--runner-token-file")
        .arg(porthole.data.path().join("runner_token"))
        .env("PORTHOLE_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let id = run_job(&porthole, "true", 0).await;
    let mut client = Client::connect(&porthole.ws_url(&format!("/demo/shop/-/jobs/{id}/terminal.ws")), "v1.porthole").await;
    client.expect_prompt().await;
    client.run("echo apart-$((2*3))", "apart-6\r\n").await;
    client.close().await;
    let _ = runner.kill().await;

    // Without the section, job terminals are disabled: it refuses to start.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_porthole"))
        .args(["session-server", "--app-url", "http://127.0.0.1:1", "--runner-token-file", "/dev/null", "--config"])
        .arg(&app_config)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no [session_server] section"), "{}", String::from_utf8_lossy(&out.stderr));
}
