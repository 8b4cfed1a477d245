//! Read-only viewers: anyone who may open a terminal may watch a running
//! session of it; they see what the relay holds, then live output; their
//! keystrokes never reach the shell; a slow one never slows the session.

mod common;

use common::*;
use shared::porthole::ServerMessage;

fn viewers_told(client: &Client) -> Vec<u32> {
    client.controls.iter().filter_map(|m| if let ServerMessage::Viewers { count } = m { Some(*count) } else { None }).collect()
}

#[tokio::test]
async fn a_viewer_watches_read_only_and_the_owner_sees_the_count() {
    let porthole = start().await;
    let url = porthole.ws_url(ENV_WS);
    let mut owner = Client::connect(&url, "v1.porthole").await;
    owner.expect_prompt().await;
    owner.run("echo first-$((1+1))", "first-2").await;
    let ticket = owner.ticket();

    let root = sign_in(&porthole.url(), "root").await;
    let view_url = format!("{url}?view={}", ticket.id);
    let mut viewer = Client::try_connect_with(&view_url, "v1.porthole", &[("cookie", &root)]).await.unwrap();
    viewer.expect_output("first-2").await;
    assert!(viewer.controls.contains(&ServerMessage::Viewing { owner: Some("maintainer".into()) }), "{:?}", viewer.controls);
    owner.read_until("the viewer count", |c| viewers_told(c).contains(&1)).await;

    owner.run("echo live-$((2+3))", "live-5").await;
    viewer.expect_output("live-5").await;
    // A viewer's keystrokes are dropped by the relay, whatever its page does.
    viewer.send_input(b"echo hacked-$((3*3))\r").await;
    viewer.send_control(&shared::porthole::ClientMessage::Resize { cols: 20, rows: 5 }).await;
    let from = owner.output.len();
    owner.run("echo after-$((4*4)); stty size", "after-16").await;
    owner.expect_output_after(from, "24 80").await;
    assert!(!owner.output_text().contains("hacked-9"));

    // The owner's end is the viewer's, with the same words.
    owner.send_input(b"exit 5\r").await;
    assert_eq!(owner.expect_close().await.0, 4000);
    assert_eq!(viewer.expect_close().await, (4000, "the process exited with exit status 5".to_string()));
}

#[tokio::test]
async fn viewers_need_the_same_access_and_a_running_session() {
    let porthole = start().await;
    let url = porthole.ws_url(ENV_WS);
    let mut owner = Client::connect(&url, "v1.porthole").await;
    owner.expect_prompt().await;
    let ticket = owner.ticket();
    let view_url = format!("{url}?view={}", ticket.id);
    // The developer may not open this environment's terminal: nor watch it.
    let developer = sign_in(&porthole.url(), "developer").await;
    let refused = Client::try_connect_with(&view_url, "v1.porthole", &[("cookie", &developer)]).await;
    assert!(refused.err().expect("refused").to_string().contains("403"));
    let mut unknown = Client::connect(&format!("{url}?view=nope"), "v1.porthole").await;
    assert_eq!(unknown.expect_close().await, (4009, "this session has ended: there is nothing to watch".to_string()));
    let gitlab = Client::try_connect(&view_url, "terminal.gitlab.com").await;
    assert!(gitlab.err().expect("refused").to_string().contains("400"));
    // Only session ids: nothing that could walk to another URL.
    let odd = Client::try_connect(&format!("{url}?view=..%2F..%2Fx"), "v1.porthole").await;
    assert!(odd.err().expect("refused").to_string().contains("400"));
    // A viewer that leaves is counted out at once, output or not.
    let viewer = Client::connect(&view_url, "v1.porthole").await;
    owner.read_until("one viewer", |c| viewers_told(c).last() == Some(&1)).await;
    viewer.close().await;
    owner.read_until("no viewer", |c| viewers_told(c).last() == Some(&0)).await;
}

#[tokio::test]
async fn a_slow_viewer_is_dropped_and_never_slows_the_session() {
    let porthole = start().await;
    let url = porthole.ws_url(ENV_WS);
    let mut owner = Client::connect(&url, "v1.porthole").await;
    owner.expect_prompt().await;
    let ticket = owner.ticket();
    // A viewer that reads nothing while 7 MB go by (more than loopback
    // socket buffers hold).
    let mut viewer = Client::connect(&format!("{url}?view={}", ticket.id), "v1.porthole").await;
    owner.read_until("one viewer", |c| viewers_told(c).last() == Some(&1)).await;
    owner.send_input(b"seq 1 1000000; echo DO''NE\r").await;
    owner.expect_output("DONE").await;
    owner.read_until("the viewer dropped", |c| viewers_told(c).last() == Some(&0)).await;
    let (code, _) = viewer.expect_close().await;
    assert_eq!(code, 4011);
}

#[tokio::test]
async fn a_viewer_whose_access_is_revoked_stops_watching() {
    let porthole = start_configured(|c| c.reauthorize_interval = std::time::Duration::from_millis(300)).await;
    let url = porthole.ws_url(ENV_WS);
    let mut owner = Client::connect(&url, "v1.porthole").await;
    owner.expect_prompt().await;
    let ticket = owner.ticket();
    // The developer is made a Maintainer, watches, and is made a Developer again.
    let root = client_with_cookie(&sign_in(&porthole.url(), "root").await);
    let members = format!("{}/api/v4/projects/1/members", porthole.url());
    let grant = |level: u32| root.post(&members).json(&serde_json::json!({"username": "developer", "access_level": level})).send();
    assert!(grant(40).await.unwrap().status().is_success());
    let developer = sign_in(&porthole.url(), "developer").await;
    let mut viewer = Client::try_connect_with(&format!("{url}?view={}", ticket.id), "v1.porthole", &[("cookie", &developer)]).await.unwrap();
    owner.read_until("one viewer", |c| viewers_told(c).last() == Some(&1)).await;
    assert!(grant(30).await.unwrap().status().is_success());
    assert_eq!(viewer.expect_close().await, (4004, "your access to this terminal was revoked".to_string()));
    // The owner's session goes on.
    owner.run("echo still-$((2+2))", "still-4").await;
}
