//! The relay end to end over real sockets: browser subprotocols × upstream
//! subprotocols, exit status, resize, refusals, and hang-up on close.

mod common;

use common::*;
use shared::k8s::Protocol;
use shared::porthole::{ClientMessage, ServerMessage};
use std::time::Duration;

const BROWSER_PROTOCOLS: [&str; 3] = ["v1.porthole", "terminal.gitlab.com", "base64.terminal.gitlab.com"];
const SHELL: [&str; 1] = ["bash"];

#[tokio::test]
async fn every_browser_subprotocol_with_every_upstream_subprotocol() {
    let (porthole, rails) = start_with_fake_rails().await;
    for upstream in Protocol::ALL {
        rails.set(porthole.channel(&[upstream.name()], &SHELL));
        for browser in BROWSER_PROTOCOLS {
            let case = format!("{browser} over {}", upstream.name());
            let mut client = Client::connect(&porthole.ws_url(ENV_WS), browser).await;
            client.expect_prompt().await;
            client.run("echo hello-$((6*7))", "hello-42\r\n").await;
            client.send_input(b"exit 42\r").await;
            let (code, reason) = client.expect_close().await;
            if upstream.has_json_status() {
                assert_eq!(code, 4000, "{case}: {reason}");
                assert_eq!(reason, "the process exited with exit status 42", "{case}");
                if browser == "v1.porthole" {
                    assert!(client.controls.contains(&ServerMessage::Exit { code: 42 }), "{case}: {:?}", client.controls);
                }
            } else {
                // v1 reports a failure as text only; the relay still reads the code out of it.
                assert_eq!((code, reason.as_str()), (4000, "the process exited with exit status 42"), "{case}");
            }
        }
    }
}

#[tokio::test]
async fn demo_environment_exit_status_reaches_the_client() {
    let porthole = start().await;
    let mut client = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    client.expect_prompt().await;
    match &client.controls[0] {
        ServerMessage::Connected { pod, container, expires_at, resume } => {
            assert_eq!(pod.as_deref(), Some("shop-web-7c9d5b8f4-q2x7z"));
            assert_eq!(container.as_deref(), Some("web"));
            assert_eq!(*expires_at, None);
            assert!(resume.as_ref().is_some_and(|t| t.grace_seconds == 60 && t.token.len() >= 32), "{resume:?}");
        }
        other => panic!("first control message was {other:?}"),
    }
    client.send_input(b"exit 42\r").await;
    let (code, reason) = client.expect_close().await;
    assert_eq!((code, reason.as_str()), (4000, "the process exited with exit status 42"));
    let n = client.controls.len();
    assert_eq!(client.controls[n - 2], ServerMessage::Exit { code: 42 });
    assert_eq!(client.controls[n - 1], ServerMessage::End { code: 4000, reason: "the process exited with exit status 42".into() });
}

#[tokio::test]
async fn initial_size_and_resize_reach_stty() {
    let porthole = start().await;
    let url = format!("{}?cols=101&rows=31", porthole.ws_url(ENV_WS));
    let mut client = Client::connect(&url, "v1.porthole").await;
    client.expect_prompt().await;
    client.run("stty size", "31 101\r\n").await;
    client.send_control(&ClientMessage::Resize { cols: 120, rows: 40 }).await;
    // The resize and the next keystrokes travel in order on one connection.
    client.run("stty size", "40 120\r\n").await;
    client.close().await;
}

#[tokio::test]
async fn closing_the_client_kills_the_shell() {
    let porthole = start().await;
    let mut client = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    client.expect_prompt().await;
    client.send_input(b"sleep 31337\r").await;
    eventually("sleep 31337 to start", DEADLINE, || !pids_running(&["sleep", "31337"]).is_empty()).await;
    client.close().await;
    eventually("sleep 31337 to be gone", Duration::from_secs(10), || pids_running(&["sleep", "31337"]).is_empty()).await;
}

async fn get(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let client = reqwest::Client::new();
    let mut request = client.get(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn terminal_ws_without_upgrade_headers_is_400() {
    let porthole = start().await;
    let (status, _) = get(&format!("{}{ENV_WS}", porthole.url()), &[]).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn upgrade_to_any_other_path_is_400() {
    let porthole = start().await;
    for path in ["/", "/api/v4/projects", "/demo/shop/-/environments/1/terminal", "/demo/shop/-/environments/1/terminal.ws/authorize"] {
        let (status, body) = get(
            &format!("{}{path}", porthole.url()),
            &[("connection", "Upgrade"), ("upgrade", "websocket"), ("sec-websocket-version", "13"), ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")],
        )
        .await;
        assert_eq!((status, body.as_str()), (400, "websocket upgrade not allowed\n"), "{path}");
    }
}

#[tokio::test]
async fn unsupported_subprotocols_and_bad_sizes_are_refused_before_the_upgrade() {
    let porthole = start().await;
    let err = Client::try_connect(&porthole.ws_url(ENV_WS), "chat").await.err().expect("must be refused");
    assert!(err.to_string().contains("400"), "{err}");
    let url = format!("{}?cols=0&rows=24", porthole.ws_url(ENV_WS));
    let err = Client::try_connect(&url, "v1.porthole").await.err().expect("must be refused");
    assert!(err.to_string().contains("400"), "{err}");
}

#[tokio::test]
async fn an_unknown_environment_is_refused_with_the_apps_404() {
    let porthole = start().await;
    let err = Client::try_connect(&porthole.ws_url("/demo/shop/-/environments/99/terminal.ws"), "v1.porthole")
        .await
        .err()
        .expect("must be refused");
    assert!(err.to_string().contains("404"), "{err}");
}

#[tokio::test]
async fn authorize_requires_a_fresh_relay_jwt() {
    let porthole = start().await;
    let url = format!("{}{ENV_WS}/authorize", porthole.url());
    assert_eq!(get(&url, &[]).await.0, 401);
    assert_eq!(get(&url, &[("Gitlab-Workhorse-Api-Request", "garbage")]).await.0, 401);
    let forged = server::jwt::WorkhorseSecret::from_bytes(vec![1; 32]).sign();
    assert_eq!(get(&url, &[("Gitlab-Workhorse-Api-Request", &forged)]).await.0, 401);
    let stale = stale_token(&porthole.secret());
    assert_eq!(get(&url, &[("Gitlab-Workhorse-Api-Request", &stale)]).await.0, 401);

    let good = porthole.secret().sign();
    let response = porthole.http().get(&url).header("Gitlab-Workhorse-Api-Request", good).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "application/vnd.gitlab-workhorse+json");
    let json: serde_json::Value = response.json().await.unwrap();
    let channel = &json["Channel"];
    assert_eq!(channel["Subprotocols"], serde_json::json!(["v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io"]));
    assert!(channel["Url"].as_str().unwrap().starts_with("wss://127.0.0.1:"));
    assert!(channel["Url"].as_str().unwrap().contains("/pods/shop-web-7c9d5b8f4-q2x7z/exec?container=web&"));
    assert_eq!(channel["Header"]["Authorization"][0], format!("Bearer {}", porthole.porthole.cluster.as_ref().unwrap().token));
    assert!(channel["CAPem"].as_str().unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(channel["MaxSessionTime"], 0);
}

/// A correctly signed token whose `iat` is 120 s old.
fn stale_token(secret: &server::jwt::WorkhorseSecret) -> String {
    secret.sign_at(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 120)
}

#[tokio::test]
async fn a_browser_that_breaks_the_subprotocol_gets_4003() {
    let porthole = start().await;
    let mut client = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    client.expect_prompt().await;
    client.send_raw(tokio_tungstenite::tungstenite::Message::Text("{not json".into())).await;
    let (code, reason) = client.expect_close().await;
    assert_eq!(code, 4003, "{reason}");
    // The parser's words (line, column, expected token) stay in the log.
    assert_eq!(reason, "bad message from the browser: bad control message", "{reason}");
}

#[tokio::test]
async fn an_oversized_browser_message_gets_1009_with_the_limit() {
    let porthole = start().await;
    let mut client = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    client.expect_prompt().await;
    let too_big = vec![b'x'; server::codec::browser::MAX_BROWSER_MESSAGE + 1];
    client.send_raw(tokio_tungstenite::tungstenite::Message::Binary(too_big.into())).await;
    let (code, reason) = client.expect_close().await;
    assert_eq!(code, 1009, "{reason}");
    assert!(reason.contains(&server::codec::browser::MAX_BROWSER_MESSAGE.to_string()), "{reason}");
    // Another session is unharmed.
    let mut other = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    other.expect_prompt().await;
    other.close().await;
}

#[tokio::test]
async fn a_refused_relay_token_gets_fixed_words_not_the_jwt_library_s() {
    let porthole = start().await;
    let url = format!("{}{ENV_WS}/authorize", porthole.url());
    for token in ["garbage".to_string(), server::jwt::WorkhorseSecret::from_bytes(vec![1; 32]).sign()] {
        let (status, body) = get(&url, &[("Gitlab-Workhorse-Api-Request", &token)]).await;
        assert_eq!(status, 401);
        assert!(body.contains("invalid token"), "{body}");
        assert!(!body.to_lowercase().contains("signature") && !body.contains("Base64"), "{body}");
    }
}

#[tokio::test]
async fn the_relay_pings_the_browser() {
    let porthole = start_configured(|c| c.browser_ping_interval = Duration::from_millis(100)).await;
    let mut client = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    client.expect_prompt().await;
    // An idle session: only pings arrive.
    client.read_until("three pings", |c| c.pings >= 3).await;
    client.close().await;
}

#[tokio::test]
async fn shutdown_ends_sessions_with_4008() {
    let porthole = start().await;
    let mut client = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    client.expect_prompt().await;
    let TestPorthole { porthole, data: _data } = porthole;
    let stopping = tokio::spawn(porthole.shutdown());
    let (code, reason) = client.expect_close().await;
    assert_eq!((code, reason.as_str()), (4008, "the server is shutting down"));
    stopping.await.unwrap();
}

#[tokio::test]
async fn a_foreign_origin_is_refused_with_403() {
    let porthole = start().await;
    let url = porthole.ws_url(ENV_WS);
    let err = Client::try_connect_with(&url, "v1.porthole", &[("origin", "https://evil.example")]).await.err().expect("refused");
    assert!(err.to_string().contains("403"), "{err}");
    // The page's own origin is fine.
    let own = porthole.url();
    let mut client = Client::try_connect_with(&url, "v1.porthole", &[("origin", &own)]).await.unwrap();
    client.expect_prompt().await;
}

#[tokio::test]
async fn origins_are_compared_exactly_and_a_missing_one_is_refused_with_cookies() {
    let porthole = start().await;
    let url = porthole.ws_url(ENV_WS);
    let own = porthole.url();
    for origin in ["", &format!("{own}/"), &own.to_uppercase(), "null"] {
        let err = Client::try_connect_with(&url, "v1.porthole", &[("origin", origin)]).await.err();
        assert!(err.expect("refused").to_string().contains("403"), "{origin:?}");
    }
    // Without cookies a missing Origin is no cross-site risk: the app says 401.
    let err = Client::try_connect_with(&url, "v1.porthole", &[("origin", ""), ("cookie", "")]).await.err().expect("refused");
    assert!(err.to_string().contains("401"), "{err}");
    // An operator may let non-browser clients in.
    let relaxed = start_configured(|c| c.allow_missing_origin = true).await;
    let mut client = Client::try_connect_with(&relaxed.ws_url(ENV_WS), "v1.porthole", &[("origin", "")]).await.unwrap();
    client.expect_prompt().await;
    client.close().await;
}

#[tokio::test]
async fn a_cross_site_write_without_origin_is_refused() {
    let porthole = start().await;
    let post = |site: &'static str| {
        porthole
            .http()
            .post(format!("{}/api/v4/projects/1/jobs", porthole.url()))
            .header("sec-fetch-site", site)
            .json(&serde_json::json!({"name": "x", "script": "true"}))
    };
    assert_eq!(post("cross-site").send().await.unwrap().status().as_u16(), 403);
    assert_ne!(post("same-origin").send().await.unwrap().status().as_u16(), 403);
}

#[tokio::test]
async fn a_dial_failure_is_explained_to_a_porthole_browser() {
    let (porthole, rails) = start_with_fake_rails().await;
    let mut channel = porthole.channel(&["v5.channel.k8s.io"], &["bash"]);
    channel.header.insert("Authorization".into(), vec!["Bearer wrong-token".into()]);
    rails.set(channel);
    let mut client = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    let (code, reason) = client.expect_close().await;
    assert_eq!((code, reason.as_str()), (4002, "the cluster rejected the relay's credentials (401 Unauthorized)"));
    // GitLab's subprotocols get the plain HTTP status.
    let err = Client::try_connect(&porthole.ws_url(ENV_WS), "terminal.gitlab.com").await.err().expect("refused");
    assert!(err.to_string().contains("502"), "{err}");
}

async fn reauthorizing() -> (TestPorthole, FakeRails) {
    start_with_fake_rails_configured(|c| c.reauthorize_interval = Duration::from_millis(300)).await
}

#[tokio::test]
async fn a_revoked_access_ends_the_session_at_the_next_reauthorization() {
    let (porthole, rails) = reauthorizing().await;
    rails.set(porthole.channel(&["v5.channel.k8s.io"], &SHELL));
    let mut client = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    client.expect_prompt().await;
    rails.revoke();
    let closed = tokio::time::timeout(Duration::from_secs(3), client.expect_close()).await.expect("closed within one poll");
    assert_eq!(closed, (4004, "your access to this terminal was revoked".to_string()));
}

#[tokio::test]
async fn changed_channel_settings_end_the_session() {
    let (porthole, rails) = reauthorizing().await;
    let channel = porthole.channel(&["v5.channel.k8s.io"], &SHELL);
    rails.set(channel.clone());
    let mut client = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    client.expect_prompt().await;
    // Sessions outlive unchanged answers…
    client.run("echo still-$((1+1))", "still-2\r\n").await;
    // …and a rotated cluster token (projected tokens are replaced hourly):
    // the credentials changed, not where the session goes.
    let mut rotated = channel.clone();
    rotated.header.insert("Authorization".into(), vec!["Bearer rotated".into()]);
    rails.set(rotated);
    rails.answered(2).await;
    client.run("echo rotated-$((1+1))", "rotated-2\r\n").await;
    // Another pod is other settings: the session ends.
    let moved = shared::channel::ChannelSettings { url: channel.url.replace("shop-web-7c9d5b8f4-q2x7z", "shop-web-7c9d5b8f4-m8k3p"), ..channel };
    rails.set(moved);
    let closed = tokio::time::timeout(Duration::from_secs(3), client.expect_close()).await.expect("closed within one poll");
    assert_eq!(closed, (4005, "the terminal's connection details changed".to_string()));
}

#[tokio::test]
async fn a_new_max_session_time_applies_at_the_next_reauthorization() {
    let (porthole, rails) = reauthorizing().await;
    let channel = porthole.channel(&["v5.channel.k8s.io"], &SHELL);
    rails.set(channel.clone());
    let mut client = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    client.expect_prompt().await;
    // A limit the session is not past yet: it goes on, and the page hears
    // the new end time.
    rails.set(shared::channel::ChannelSettings { max_session_time: 600, ..channel.clone() });
    client
        .read_until("a connected message with an end time", |c| {
            c.controls.iter().any(|m| matches!(m, ServerMessage::Connected { expires_at: Some(_), .. }))
        })
        .await;
    client.run("echo alive-$((1+1))", "alive-2\r\n").await;
    // Back to no limit: the countdown goes away again.
    rails.set(channel.clone());
    client
        .read_until("a connected message without an end time", |c| {
            c.controls.iter().filter(|m| matches!(m, ServerMessage::Connected { expires_at: None, .. })).count() == 2
        })
        .await;
    // A limit it is already past: it ends, with the new limit as the reason.
    rails.set(shared::channel::ChannelSettings { max_session_time: 1, ..channel });
    let closed = tokio::time::timeout(Duration::from_secs(3), client.expect_close()).await.expect("closed within one poll");
    assert_eq!(closed, (4006, "Session expired: the maximum session time is 1 seconds".to_string()));
}

#[tokio::test]
async fn the_max_session_time_ends_the_session_on_time() {
    let (porthole, rails) = start_with_fake_rails().await;
    rails.set(shared::channel::ChannelSettings { max_session_time: 3, ..porthole.channel(&["v5.channel.k8s.io"], &SHELL) });
    let started = std::time::Instant::now();
    let mut client = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    client.expect_prompt().await;
    match &client.controls[0] {
        ServerMessage::Connected { expires_at: Some(at), .. } => {
            let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
            assert!(at.abs_diff(now_ms + 3000) < 1500, "expires_at {at} vs now {now_ms}");
        }
        other => panic!("{other:?}"),
    }
    let (code, reason) = client.expect_close().await;
    let elapsed = started.elapsed();
    assert_eq!((code, reason.as_str()), (4006, "Session expired: the maximum session time is 3 seconds"));
    assert!(elapsed >= Duration::from_secs(2) && elapsed <= Duration::from_secs(4), "{elapsed:?}");
}

#[tokio::test]
async fn an_idle_session_is_warned_then_closed_and_typing_keeps_it() {
    let (porthole, rails) = start_with_fake_rails().await;
    // 4 s: the warning comes half way (2 s) after the last keystroke or output.
    rails.set(shared::channel::ChannelSettings { idle_timeout: 4, ..porthole.channel(&["v5.channel.k8s.io"], &SHELL) });
    let mut client = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    client.expect_prompt().await;
    let warnings = |c: &Client| c.controls.iter().filter(|m| matches!(m, ServerMessage::Idle { .. })).count();
    client.read_until("an idle warning", |c| warnings(c) == 1).await;
    // Typing after the warning starts the count again: the session lives on
    // past the first warning's end, and a new quiet spell is warned anew.
    let first_end = client.controls.iter().find_map(|m| match m { ServerMessage::Idle { ends_at } => Some(*ends_at), _ => None });
    client.run("echo still-$((20+1))", "still-21\r\n").await;
    client.read_until("a second idle warning", |c| warnings(c) == 2).await;
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    // The second warning comes 2 s after the last output, which came after
    // the first warning: the first end has passed and the session lives.
    assert!(first_end.is_some_and(|end| now_ms + 200 >= end), "the first end {first_end:?} had passed (now {now_ms})");
    let (code, reason) = client.expect_close().await;
    assert_eq!((code, reason.as_str()), (4012, "closed after 4 seconds without activity"));
}
