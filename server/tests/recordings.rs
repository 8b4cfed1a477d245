//! Session recordings: every session is recorded as asciicast v2 by
//! default, admins read it from the audit log (whole, by range, or as a
//! download), `asciinema play` plays it, and the setting turns it off.

mod common;

use common::*;
use shared::api::{ApplicationSettings, AuditEvent, AuditOutcome};
use shared::asciicast::Event;
use shared::porthole::ClientMessage;
use std::time::Duration;

/// The ended audit entry, once the relay has reported it.
async fn ended_event(root: &reqwest::Client, base: &str) -> AuditEvent {
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        let events: Vec<AuditEvent> = root.get(format!("{base}/api/v4/audit_events")).send().await.unwrap().json().await.unwrap();
        if let Some(e) = events.into_iter().find(|e| e.outcome == AuditOutcome::Ended) {
            return e;
        }
        assert!(std::time::Instant::now() < deadline, "no ended session in the audit log");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn recorded_session(porthole: &TestPorthole) {
    let mut client = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    client.expect_prompt().await;
    client.run("echo rec-$((40+2))", "rec-42").await;
    client.send_control(&ClientMessage::Resize { cols: 100, rows: 30 }).await;
    client.send_input(b"exit 3\r").await;
    assert_eq!(client.expect_close().await.0, 4000);
}

#[tokio::test]
async fn a_session_is_recorded_and_plays_in_asciinema() {
    let porthole = start().await;
    let base = porthole.url();
    recorded_session(&porthole).await;
    let root = client_with_cookie(&sign_in(&base, "root").await);
    let event = ended_event(&root, &base).await;
    assert!(event.recording, "{event:?}");

    let url = format!("{base}/api/v4/audit_events/{}/recording", event.id);
    let response = root.get(&url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-asciicast");
    let text = response.text().await.unwrap();
    let (header, events) = shared::asciicast::parse(&text).expect("asciicast v2");
    assert_eq!(
        header.title.as_deref(),
        Some("demo/shop · environment production · pod shop-web-7c9d5b8f4-q2x7z · container web")
    );
    let output: String = events.iter().filter_map(|(_, e)| if let Event::Output(t) = e { Some(t.as_str()) } else { None }).collect();
    assert!(output.contains("rec-42"), "{output:?}");
    assert!(events.iter().any(|(_, e)| *e == Event::Resize(100, 30)), "{events:?}");
    assert_eq!(events.last().map(|(_, e)| e), Some(&Event::Marker("the process exited with exit status 3".into())));
    assert!(events.windows(2).all(|w| w[0].0 <= w[1].0), "times only grow");
    // Input is not recorded: the command line appears only as the shell's echo.
    assert!(!text.contains("\"i\""));

    // A player can read the start before the rest.
    let partial = root.get(&url).header("range", "bytes=0-99").send().await.unwrap();
    assert_eq!(partial.status().as_u16(), 206);
    assert_eq!(partial.bytes().await.unwrap().len(), 100);

    // The download plays in asciinema.
    let download = root.get(format!("{url}?download=true")).send().await.unwrap();
    let disposition = download.headers()["content-disposition"].to_str().unwrap().to_string();
    assert_eq!(disposition, format!("attachment; filename=\"porthole-{}.cast\"", event.id));
    let file = porthole.data.path().join("downloaded.cast");
    std::fs::write(&file, download.bytes().await.unwrap()).unwrap();
    let asciinema = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/asciinema");
    assert!(asciinema.exists(), "asciinema is installed by scripts/install-tools.sh");
    let played = tokio::process::Command::new(&asciinema)
        .args(["play", "--speed", "8", "--idle-time-limit", "0.1"])
        .arg(&file)
        .stdin(std::process::Stdio::null())
        .output();
    let played = tokio::time::timeout(DEADLINE, played).await.expect("asciinema finished").unwrap();
    assert!(played.status.success(), "{}", String::from_utf8_lossy(&played.stderr));
    assert!(String::from_utf8_lossy(&played.stdout).contains("rec-42"));

    // Only admins read recordings.
    let maintainer = client_with_cookie(&sign_in(&base, "maintainer").await);
    assert_eq!(maintainer.get(&url).send().await.unwrap().status().as_u16(), 403);
    assert_eq!(root.get(format!("{base}/api/v4/audit_events/nope/recording")).send().await.unwrap().status().as_u16(), 404);
    assert_eq!(root.get(format!("{base}/api/v4/audit_events/..%2Fx/recording")).send().await.unwrap().status().as_u16(), 404);
}

#[tokio::test]
async fn recording_can_be_turned_off_and_retention_set() {
    let porthole = start().await;
    let base = porthole.url();
    let root = client_with_cookie(&sign_in(&base, "root").await);
    let settings_url = format!("{base}/api/v4/application/settings");
    let defaults: ApplicationSettings = root.get(&settings_url).send().await.unwrap().json().await.unwrap();
    assert!(defaults.terminal_recording);
    assert_eq!(defaults.recording_retention_days, 30);
    let update = serde_json::json!({"terminal_recording": false, "recording_retention_days": 7});
    let changed: ApplicationSettings = root.put(&settings_url).json(&update).send().await.unwrap().json().await.unwrap();
    assert!(!changed.terminal_recording);
    assert_eq!(changed.recording_retention_days, 7);
    let too_long = serde_json::json!({"recording_retention_days": 100_000});
    assert_eq!(root.put(&settings_url).json(&too_long).send().await.unwrap().status().as_u16(), 400);

    recorded_session(&porthole).await;
    let event = ended_event(&root, &base).await;
    assert!(!event.recording, "{event:?}");
    assert_eq!(std::fs::read_dir(porthole.data.path().join("recordings")).unwrap().count(), 0);
}
