//! Durable sessions: a page whose WebSocket drops without a Close resumes
//! the same shell, with exactly the output it missed, once; or hears how
//! much was lost. Only the same user with the token may resume, only while
//! authorized, and only within the grace period, which then ends the process.

mod common;

use common::*;
use shared::api::AuditOutcome;
use shared::porthole::{ClientMessage, ServerMessage};
use std::time::Duration;

/// Fails unless `lines` is exactly `first..=last`, naming the first gap.
fn assert_consecutive(lines: &[u64], first: u64, last: u64) {
    let expected: Vec<u64> = (first..=last).collect();
    if lines != expected {
        let at = lines.iter().zip(&expected).position(|(a, b)| a != b).unwrap_or(lines.len().min(expected.len()));
        panic!(
            "{} lines where {} were expected; first difference at index {at}: got {:?}, expected {:?}",
            lines.len(),
            expected.len(),
            lines.get(at.saturating_sub(2)..(at + 3).min(lines.len())),
            expected.get(at.saturating_sub(2)..(at + 3).min(expected.len())),
        );
    }
}

fn resumed(client: &Client) -> (u64, u64) {
    match client.controls.first() {
        Some(ServerMessage::Resumed { offset, lost }) => (*offset, *lost),
        other => panic!("expected a resumed message first, got {other:?}"),
    }
}

#[tokio::test]
async fn a_dropped_connection_resumes_with_every_line_once_in_order() {
    let porthole = start().await;
    let url = porthole.ws_url(ENV_WS);
    let mut first = Client::connect(&url, "v1.porthole").await;
    first.expect_prompt().await;
    let ticket = first.ticket();
    assert_eq!(ticket.grace_seconds, 60);
    first.send_input(b"seq 1 200000; echo DO''NE\r").await;
    first.read_until("200 KB of output", |c| c.output.len() > 200_000).await;
    // xterm.js may not have parsed all it received: resume a little earlier.
    let offset = first.output.len() as u64 - 1000;
    let mut seen = first.output.clone();
    seen.truncate(offset as usize);
    first.drop_connection();

    let mut second = Client::resume(&url, &ticket, offset, &[]).await;
    second.expect_output("DONE").await;
    assert_eq!(resumed(&second), (offset, 0));
    seen.extend_from_slice(&second.output);
    assert_consecutive(&numbered_lines(&seen), 1, 200_000);
    // The same shell goes on.
    second.run("echo $((6*7))", "42").await;
}

#[tokio::test]
async fn output_older_than_the_buffer_is_reported_lost_and_the_rest_follows() {
    let porthole = start_configured(|c| c.resume.buffer = 64 << 10).await;
    let url = porthole.ws_url(ENV_WS);
    let mut first = Client::connect(&url, "v1.porthole").await;
    first.expect_prompt().await;
    let ticket = first.ticket();
    first.send_input(b"seq 1 200000; echo DO''NE\r").await;
    first.read_until("400 KB of output", |c| c.output.len() > 400_000).await;
    let received = first.output.clone();
    first.drop_connection();

    // A page that lost its screen and asks from byte 100: only the newest
    // 64 KiB are still held.
    let mut second = Client::resume(&url, &ticket, 100, &[]).await;
    second.expect_output("DONE").await;
    let (from, lost) = resumed(&second);
    assert!(lost > 0 && from == 100 + lost, "from {from}, lost {lost}");
    assert!(from + (64 << 10) >= received.len() as u64, "the newest 64 KiB are kept: from {from}, received {}", received.len());
    // The replay agrees with what the first connection got at the same offsets.
    if (from as usize) < received.len() {
        assert_eq!(second.output[..received.len() - from as usize], received[from as usize..]);
    }
    // From the first whole line on, nothing more is lost.
    let lines = numbered_lines(&second.output[second.output.iter().position(|&b| b == b'\n').unwrap() + 1..]);
    assert_consecutive(&lines, lines[0], 200_000);
}

#[tokio::test]
async fn the_grace_period_ends_the_process_and_is_audited() {
    let porthole = start_configured(|c| c.resume.grace = Duration::from_secs(1)).await;
    let url = porthole.ws_url(ENV_WS);
    let mut first = Client::connect(&url, "v1.porthole").await;
    first.expect_prompt().await;
    let ticket = first.ticket();
    first.send_input(b"sleep 3777\r").await;
    eventually("sleep to start", DEADLINE, || !pids_running(&["sleep", "3777"]).is_empty()).await;
    first.drop_connection();
    eventually("the grace period to end the process", DEADLINE, || pids_running(&["sleep", "3777"]).is_empty()).await;

    let mut late = Client::resume(&url, &ticket, 0, &[]).await;
    assert_eq!(late.expect_close().await, (4009, "this session can no longer be resumed".to_string()));
    let db = server::app::db::Database::connect(&format!("sqlite://{}", porthole.data.path().join("porthole.db").display())).await.unwrap();
    let mut ended = None;
    let deadline = std::time::Instant::now() + DEADLINE;
    while ended.is_none() {
        assert!(std::time::Instant::now() < deadline, "no ended session in the audit log");
        ended = db.audit_events(10, 0).await.unwrap().into_iter().find(|e| e.outcome == AuditOutcome::Ended);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ended = ended.unwrap();
    assert_eq!(ended.close_code, Some(4009));
    assert_eq!(ended.reason.as_deref(), Some("the browser did not reconnect within 1 seconds; the process was ended"));
}

#[tokio::test]
async fn only_the_same_user_with_the_token_may_resume() {
    let porthole = start().await;
    let url = porthole.ws_url(ENV_WS);
    let mut first = Client::connect(&url, "v1.porthole").await;
    first.expect_prompt().await;
    let ticket = first.ticket();
    let offset = first.output.len() as u64;
    first.drop_connection();

    // An admin may open this terminal, but this session is not theirs.
    let root = sign_in(&porthole.url(), "root").await;
    let mut other = Client::resume(&url, &ticket, offset, &[("cookie", &root)]).await;
    assert_eq!(other.expect_close().await.0, 4009);
    // The right user with a wrong token: the same answer.
    let wrong = shared::porthole::ResumeTicket { token: "x".repeat(43), ..ticket.clone() };
    let mut guess = Client::resume(&url, &wrong, offset, &[]).await;
    assert_eq!(guess.expect_close().await.0, 4009);
    // A signed-out resume is refused by authorize, as a new session would be.
    let mut anonymous = Client::resume(&url, &ticket, offset, &[("cookie", "")]).await;
    assert_eq!(anonymous.expect_close().await.0, 4004);
    // None of that harmed the session.
    let mut owner = Client::resume(&url, &ticket, offset, &[]).await;
    owner.run("echo still-$((1+1))", "still-2").await;
}

#[tokio::test]
async fn a_revoked_user_cannot_resume() {
    let (porthole, rails) = start_with_fake_rails().await;
    rails.set(porthole.channel(&["v5.channel.k8s.io"], &["bash"]));
    let url = porthole.ws_url(ENV_WS);
    let mut first = Client::connect(&url, "v1.porthole").await;
    first.expect_prompt().await;
    let ticket = first.ticket();
    first.drop_connection();
    rails.revoke();
    let mut second = Client::resume(&url, &ticket, 0, &[]).await;
    assert_eq!(second.expect_close().await, (4004, "your access to this terminal was revoked".to_string()));
}

#[tokio::test]
async fn a_resume_takes_over_a_connection_the_relay_still_thinks_open() {
    let porthole = start().await;
    let url = porthole.ws_url(ENV_WS);
    let mut first = Client::connect(&url, "v1.porthole").await;
    first.expect_prompt().await;
    let ticket = first.ticket();
    let mut second = Client::resume(&url, &ticket, first.output.len() as u64, &[]).await;
    assert_eq!(first.expect_close().await, (4010, "this session was resumed from another connection".to_string()));
    second.run("echo taken-$((2+2))", "taken-4").await;
}

#[tokio::test]
async fn a_process_that_exits_while_the_page_is_away_still_reports_its_status() {
    let porthole = start().await;
    let url = porthole.ws_url(ENV_WS);
    let mut first = Client::connect(&url, "v1.porthole").await;
    first.expect_prompt().await;
    let ticket = first.ticket();
    // Where the pod's user may write (it may not write the data dir).
    let marker = std::path::PathBuf::from(format!("/tmp/porthole-resume-test-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    first.send_input(format!("echo BY''E; touch {}; exit 3\r", marker.display()).as_bytes()).await;
    let offset = first.output.len() as u64;
    first.drop_connection();
    eventually("the process to finish", DEADLINE, || marker.exists()).await;

    let mut second = Client::resume(&url, &ticket, offset, &[]).await;
    second.expect_output("BYE").await;
    assert_eq!(second.expect_close().await.0, 4000);
    assert!(second.controls.contains(&ServerMessage::Exit { code: 3 }), "{:?}", second.controls);
    let _ = std::fs::remove_file(&marker);
}

#[tokio::test]
async fn a_close_from_the_page_ends_the_session_at_once() {
    let porthole = start().await;
    let url = porthole.ws_url(ENV_WS);
    let mut first = Client::connect(&url, "v1.porthole").await;
    first.expect_prompt().await;
    let ticket = first.ticket();
    first.close().await;
    eventually("the session to be unregistered", DEADLINE, || porthole.porthole.relay_sessions() == 0).await;
    let mut second = Client::resume(&url, &ticket, 0, &[]).await;
    assert_eq!(second.expect_close().await.0, 4009);
}

#[tokio::test]
async fn bad_resumes_are_refused_with_a_reason() {
    let porthole = start().await;
    let url = porthole.ws_url(ENV_WS);
    let mut first = Client::connect(&url, "v1.porthole").await;
    first.expect_prompt().await;
    let ticket = first.ticket();
    let end = first.output.len() as u64;
    first.drop_connection();

    // An offset beyond the output: a protocol error for that connection only.
    let mut ahead = Client::resume(&url, &ticket, end + 1_000_000, &[]).await;
    assert_eq!(ahead.expect_close().await.0, 4003);
    // A first message that is not a resume.
    let mut confused = Client::try_connect(&format!("{url}?resume={}", ticket.id), "v1.porthole").await.unwrap();
    confused.send_control(&ClientMessage::Ack { bytes: 1 }).await;
    assert_eq!(confused.expect_close().await.0, 4003);
    // A resume message inside a session.
    let mut owner = Client::resume(&url, &ticket, end, &[]).await;
    owner.send_control(&ClientMessage::Resume { token: ticket.token.clone(), offset: 0 }).await;
    assert_eq!(owner.expect_close().await.0, 4003);
    // GitLab's subprotocols count no output: they cannot resume.
    let refused = Client::try_connect(&format!("{url}?resume={}", ticket.id), "terminal.gitlab.com").await;
    assert!(refused.err().expect("refused").to_string().contains("400"));
}

#[tokio::test]
async fn resumes_and_viewers_are_authorized_for_the_session_s_own_terminal() {
    let porthole = start().await;
    let url = porthole.ws_url(ENV_WS);
    let mut first = Client::connect(&url, "v1.porthole").await;
    first.expect_prompt().await;
    first.run("export MARK=own-terminal", "$ ").await;
    let ticket = first.ticket();
    let offset = first.output.len() as u64;
    first.drop_connection();
    // The path a request names does not choose what is authorized: the
    // session's own terminal is (here another path would be a 404).
    let elsewhere = porthole.ws_url("/demo/shop/-/environments/999/terminal.ws");
    let mut second = Client::resume(&elsewhere, &ticket, offset, &[]).await;
    second.run("echo $MARK", "own-terminal\r\n").await;
    let root = sign_in(&porthole.url(), "root").await;
    let mut viewer = Client::try_connect_with(&format!("{elsewhere}?view={}", ticket.id), "v1.porthole", &[("cookie", &root)]).await.unwrap();
    viewer.expect_output("own-terminal").await;
    let db = server::app::db::Database::connect(&format!("sqlite://{}", porthole.data.path().join("porthole.db").display())).await.unwrap();
    let targets: Vec<String> = db.audit_events(10, 0).await.unwrap().into_iter().map(|e| e.target).collect();
    assert_eq!(targets, ["environment production (read-only view)", "environment production"]);
}
