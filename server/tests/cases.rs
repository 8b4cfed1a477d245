//! The cases in `shared/cases/README.md`, one test each, named after the case.

mod common;

use common::*;
use shared::porthole::ServerMessage;
use std::time::{Duration, Instant};

/// 13,000 lines: an 8-digit line number, a space, 70 `x` (≈1 MiB).
fn paste_text() -> Vec<u8> {
    paste_lines(13_000)
}

fn paste_lines(lines: usize) -> Vec<u8> {
    let mut text = Vec::with_capacity(lines * 80);
    for n in 1..=lines {
        text.extend_from_slice(format!("{n:08} {}\n", "x".repeat(70)).as_bytes());
    }
    text
}

fn md5_of(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paste");
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new("md5sum").arg(&path).output().unwrap();
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_string()
}

/// A file name no other test uses, in the pod's own folder (the shell's
/// working directory): the pod's user may write nowhere else of ours.
fn file_in_pod(name: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{name}-{}-{n}", std::process::id())
}

/// Pastes `text` into `cat > file` in `chunk`-sized messages, then checks md5sum.
async fn paste_and_check(client: &mut Client, text: &[u8], chunk: usize, file: &str, want_md5: &str) {
    client.run(&format!("cat > {file}"), &format!("cat > {file}\r\n")).await;
    for part in text.chunks(chunk) {
        client.send_input(part).await;
    }
    // Ctrl-D at the start of a line ends cat's input.
    client.send_input(b"\x04").await;
    let out = client.run(&format!("md5sum {file}"), &format!("  {file}\r\n")).await;
    assert!(out.contains(&format!("{want_md5}  {file}")), "md5 mismatch for {chunk}-byte messages: {out:?}");
}

#[tokio::test]
async fn case_001_a_large_paste_arrives_whole_and_does_not_stall_anyone() {
    let porthole = start().await;
    let text = paste_text();
    assert!(text.len() > 1_000_000);
    let want = md5_of(&text);
    let file = file_in_pod("p");

    let mut other = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    other.expect_prompt().await;

    let mut paster = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    paster.expect_prompt().await;
    let pasting = tokio::spawn(async move {
        paste_and_check(&mut paster, &text, text.len(), &file, &want).await;
        paste_and_check(&mut paster, &text, 4096, &file, &want).await;
        paster.send_input(b"echo still-open\r").await;
        paster.expect_output("still-open\r\n").await;
        paster
    });

    // While the paste runs, another session answers promptly.
    let mut slowest = Duration::ZERO;
    let mut pings = 0;
    while !pasting.is_finished() || pings < 3 {
        let sent = Instant::now();
        // `$((…))` keeps the echoed command line from matching the output.
        other.run(&format!("echo ping-$(({pings}+1000))"), &format!("ping-{}\r\n", pings + 1000)).await;
        slowest = slowest.max(sent.elapsed());
        pings += 1;
    }
    let paster = pasting.await.unwrap();
    println!("case-001: {pings} pings during the paste, slowest round trip {slowest:?}");
    assert!(slowest < Duration::from_millis(200), "echo ping took {slowest:?} during the paste");
    assert!(paster.close.is_none(), "the pasting session closed: {:?}", paster.close);
}

#[tokio::test]
async fn case_003_how_a_shell_ends_is_what_the_user_sees() {
    // The demo's own command: a shell that exits non-zero must not start another.
    let porthole = start().await;
    for (command, status) in [("exit 1", 1), ("exit 0", 0)] {
        let mut client = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
        client.expect_prompt().await;
        client.send_input(format!("{command}\r").as_bytes()).await;
        let (code, reason) = client.expect_close().await;
        assert_eq!(code, 4000, "{command}: {reason}");
        assert_eq!(reason, format!("the process exited with exit status {status}"));
        assert!(client.controls.contains(&ServerMessage::Exit { code: status }), "{command}: {:?}", client.controls);
    }

    // A session command killed by a signal.
    let (porthole, rails) = start_with_fake_rails().await;
    rails.set(porthole.channel(&["v5.channel.k8s.io"], &["sh", "-c", "kill -9 $$"]));
    let mut client = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    let (code, reason) = client.expect_close().await;
    assert_eq!((code, reason.as_str()), (4000, "the process exited with exit status 137 (killed by signal 9)"));
    assert!(client.controls.contains(&ServerMessage::Exit { code: 137 }));
}

#[tokio::test]
async fn case_004_binary_and_invalid_utf8_output() {
    let porthole = start().await;
    for protocol in ["v1.porthole", "base64.terminal.gitlab.com", "terminal.gitlab.com"] {
        let mut client = Client::connect(&porthole.ws_url(ENV_WS), protocol).await;
        client.expect_prompt().await;
        let from = client.output.len();
        // `$((…))` keeps the markers out of the echoed command line.
        client
            .send_input(b"printf '\\377\\376\\300\\200\\n'; echo ALIVE$((0+1)); head -c 300000 /dev/urandom; printf '\\033c'; echo ALIVE$((1+1))\r")
            .await;
        let alive1 = client.expect_output_after(from, "ALIVE1\r\n").await;
        client.expect_output_after(alive1, "ALIVE2\r\n").await;
        // The invalid UTF-8 arrived as the bytes it was, right before ALIVE1.
        assert!(client.output[from..alive1].windows(6).any(|w| w == b"\xff\xfe\xc0\x80\r\n"), "{protocol}: raw bytes lost");
        let from = client.output.len();
        client.send_input(b"echo typed\r").await;
        // First the echo of the command line, then the command's output.
        let echoed = client.expect_output_after(from, "typed\r\n").await;
        client.expect_output_after(echoed, "typed\r\n").await;
        assert!(client.close.is_none(), "{protocol}: closed: {:?}", client.close);
        client.close().await;
    }
}

#[tokio::test]
async fn unacknowledged_output_stops_at_the_flow_window_and_resumes_on_ack() {
    use shared::porthole::FLOW_WINDOW;
    // Sessions that cannot resume: the protocol's window.
    let porthole = start_configured(|c| c.resume.grace = Duration::ZERO).await;
    stops_at_the_window_and_resumes_on_ack(&porthole, FLOW_WINDOW).await;
    // Resumable sessions: no more in flight than the resume buffer keeps.
    let porthole = start().await;
    let window = server::relay::session::resumable_window(server::relay::resume::ResumeSettings::default().buffer);
    assert!(window < FLOW_WINDOW && window >= FLOW_WINDOW - (64 << 10));
    stops_at_the_window_and_resumes_on_ack(&porthole, window).await;
}

async fn stops_at_the_window_and_resumes_on_ack(porthole: &TestPorthole, window: u64) {
    use shared::porthole::ClientMessage;
    let mut client = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    client.expect_prompt().await;
    client.auto_ack = false;
    let from = client.output.len();
    client.send_input(b"seq 1 2000000; echo DONE\r").await;
    client.read_until("a window of output", |c| (c.output.len() - from) as u64 >= window).await;
    // Nothing more arrives until the client acknowledges: the relay stopped reading.
    let stalled = tokio::time::timeout(Duration::from_millis(700), async {
        while client.read_one().await {}
    })
    .await;
    assert!(stalled.is_err(), "the session ended while stalled: {:?}", client.close);
    let received = (client.output.len() - from) as u64;
    // At most one more PTY read (32 KiB) than the window.
    assert!(received <= window + (32 << 10), "received {received} bytes unacknowledged");
    client.send_control(&ClientMessage::Ack { bytes: client.output.len() as u64 }).await;
    client.auto_ack = true;
    client.expect_output_after(from, "\r\nDONE\r\n").await;
}

#[tokio::test]
async fn a_paste_larger_than_the_flow_window_does_not_stall() {
    // 3.2 MB in one message: its echo alone overruns the 1 MiB window, so the
    // acks must get through while the paste is still being written.
    let porthole = start().await;
    let text = paste_lines(40_000);
    assert!(text.len() as u64 > 3 * shared::porthole::FLOW_WINDOW);
    let want = md5_of(&text);
    let file = file_in_pod("big");
    let mut client = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    client.expect_prompt().await;
    paste_and_check(&mut client, &text, text.len(), &file, &want).await;
}
