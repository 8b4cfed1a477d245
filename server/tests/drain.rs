//! Shutdown drains: readiness fails and new terminals get 503 at once;
//! running sessions are told when they will end and may end by themselves
//! meanwhile; the rest end with 4008 after the grace period.

mod common;

use common::*;
use shared::api::AuditOutcome;
use shared::porthole::ServerMessage;
use std::time::Duration;

fn told_draining(client: &Client) -> bool {
    client.controls.iter().any(|m| matches!(m, ServerMessage::Draining { .. }))
}

#[tokio::test]
async fn a_draining_relay_refuses_new_terminals_and_lets_running_ones_finish() {
    let porthole = start_configured(|c| c.shutdown_grace = Duration::from_secs(30)).await;
    let (url, base) = (porthole.ws_url(ENV_WS), porthole.url());
    let mut client = Client::connect(&url, "v1.porthole").await;
    client.expect_prompt().await;
    let TestPorthole { porthole, data } = porthole;
    let started = std::time::Instant::now();
    let stopping = tokio::spawn(porthole.shutdown());
    client.read_until("the drain notice", told_draining).await;
    let readiness = reqwest::get(format!("{base}/-/readiness")).await.unwrap();
    assert_eq!(readiness.status().as_u16(), 503);
    let refused = Client::try_connect(&url, "v1.porthole").await;
    assert!(refused.err().expect("refused").to_string().contains("503"));
    // The running session ends by itself, as it would have.
    client.send_input(b"exit 3\r").await;
    assert_eq!(client.expect_close().await, (4000, "the process exited with exit status 3".to_string()));
    tokio::time::timeout(DEADLINE, stopping).await.expect("shutdown once the session ended").unwrap();
    assert!(started.elapsed() < Duration::from_secs(30), "no need to wait out the grace");
    let db = server::app::db::Database::connect(&format!("sqlite://{}", data.path().join("porthole.db").display())).await.unwrap();
    let events = db.audit_events(10, 0).await.unwrap();
    assert_eq!((events[0].outcome, events[0].exit_code, events[0].close_code), (AuditOutcome::Ended, Some(3), Some(4000)));
}

#[tokio::test]
async fn sessions_left_at_the_end_of_the_grace_end_with_4008() {
    let porthole = start_configured(|c| c.shutdown_grace = Duration::from_secs(1)).await;
    let mut client = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    client.expect_prompt().await;
    let TestPorthole { porthole, data: _data } = porthole;
    let (_, closed) = tokio::join!(porthole.shutdown(), client.expect_close());
    assert!(told_draining(&client), "{:?}", client.controls);
    assert_eq!(closed, (4008, "the server is shutting down".to_string()));
}
