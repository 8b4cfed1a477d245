//! case-002 — a flood of output arrives whole, with bounded memory. Runs the
//! real `porthole` binary so that its memory can be read from /proc.

mod common;

use common::binary::Binary;
use std::time::{Duration, Instant};

/// A field of /proc/<pid>/status, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn case_002_a_flood_of_output_arrives_whole_with_bounded_memory() {
    let porthole = Binary::start(&[], "warn");
    let pid = porthole.child.id();
    let mut client = porthole.connect("v1.porthole").await;
    client.expect_prompt().await;
    let baseline = status_kib(pid, "VmRSS:");
    let from = client.output.len();
    let started = Instant::now();
    client.send_input(b"seq 1 3000000; echo END\r").await;
    let end = client.expect_output_after(from, "3000000\r\nEND\r\n").await;
    let elapsed = started.elapsed();

    // Every line, in order: 1 … 3000000, then END.
    let text = std::str::from_utf8(&client.output[from..end]).expect("seq prints ASCII");
    let first = text.find("\r1\r\n2\r\n").or_else(|| text.find("\n1\r\n2\r\n")).expect("the first lines of seq") + 1;
    let mut lines = text[first..].split("\r\n");
    for n in 1..=3_000_000u32 {
        assert_eq!(lines.next(), Some(n.to_string().as_str()), "line {n}");
    }
    assert_eq!(lines.next(), Some("END"));

    let peak = status_kib(pid, "VmHWM:");
    let bytes = end - from;
    println!(
        "case-002: {bytes} bytes in {elapsed:?} ({:.1} MB/s); relay RSS before {baseline} KiB, peak {peak} KiB",
        bytes as f64 / elapsed.as_secs_f64() / 1e6
    );
    // Bounded: far less than the 20+ MB that went through.
    assert!(peak < baseline + 16 * 1024, "peak RSS {peak} KiB grew more than 16 MiB over {baseline} KiB");
}

#[tokio::test]
async fn case_002_a_slow_reader_does_not_grow_relay_memory() {
    let porthole = Binary::start(&[], "warn");
    let pid = porthole.child.id();
    // terminal.gitlab.com has no acks: only TCP backpressure slows the relay.
    let mut client = porthole.connect("terminal.gitlab.com").await;
    client.expect_prompt().await;
    client.send_input(b"seq 1 3000000; echo END\r").await;

    // Read at about 1 MB/s for 6 s, sampling the relay's RSS after 2 s and at the end.
    let started = Instant::now();
    let mut read_at_2s = None;
    let mut rss_at_2s = 0;
    while started.elapsed() < Duration::from_secs(6) {
        let before = client.output.len();
        assert!(client.read_one().await, "session closed early: {:?}", client.close);
        let n = client.output.len() - before;
        tokio::time::sleep(Duration::from_micros(n as u64)).await; // 1 byte per µs = 1 MB/s
        if read_at_2s.is_none() && started.elapsed() >= Duration::from_secs(2) {
            read_at_2s = Some(client.output.len());
            rss_at_2s = status_kib(pid, "VmRSS:");
        }
    }
    let rss_end = status_kib(pid, "VmRSS:");
    let read_between = client.output.len() - read_at_2s.unwrap();
    println!("case-002 slow reader: read {read_between} bytes between 2 s and 6 s; relay RSS {rss_at_2s} KiB → {rss_end} KiB");
    // Only that it kept reading (its pace depends on the machine's load).
    assert!(read_between > 500_000, "the reader was not reading: {read_between} bytes");
    assert!(rss_end < rss_at_2s + 4 * 1024, "relay RSS grew from {rss_at_2s} KiB to {rss_end} KiB while output was held back");
    client.close().await;
}
