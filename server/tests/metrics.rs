//! Prometheus metrics on their own listener: a scrape after a session, a
//! refusal and a failed sign-in shows the counters moved.

mod common;

use common::*;

/// The sum of every sample of `name` whose labels contain `labels`.
fn value(text: &str, name: &str, labels: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(series, _)| {
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            metric == name && rest.contains(labels)
        })
        .filter_map(|(_, v)| v.parse::<f64>().ok())
        .sum()
}

async fn scrape(url: &str) -> String {
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    response.text().await.unwrap()
}

#[tokio::test]
async fn counters_move_with_sessions_refusals_and_sign_ins() {
    let porthole = start_configured(|c| c.metrics_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    let metrics = format!("http://{}/metrics", porthole.porthole.metrics_addr.expect("a metrics listener"));
    // Not on the public listener.
    let public = reqwest::get(format!("{}/metrics", porthole.url())).await.unwrap().text().await.unwrap();
    assert!(!public.contains("porthole_"), "{public}");
    let before = scrape(&metrics).await;

    let mut client = Client::connect(&porthole.ws_url(ENV_WS), "v1.porthole").await;
    client.expect_prompt().await;
    let during = scrape(&metrics).await;
    assert_eq!(value(&during, "porthole_sessions_active", r#"kind="environment""#) - value(&before, "porthole_sessions_active", r#"kind="environment""#), 1.0);
    client.send_input(b"echo metered; exit 3\r").await;
    assert_eq!(client.expect_close().await.0, 4000);
    let developer = sign_in(&porthole.url(), "developer").await;
    assert!(Client::try_connect_with(&porthole.ws_url(ENV_WS), "v1.porthole", &[("cookie", &developer)]).await.is_err());
    let failed = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    failed.post(format!("{}/users/sign_in", porthole.url())).form(&[("username", "developer"), ("password", "wrong")]).send().await.unwrap();

    let mut after = scrape(&metrics).await;
    let deadline = std::time::Instant::now() + DEADLINE;
    // The session's end is counted when its loop returns.
    while value(&after, "porthole_sessions_ended_total", r#"close_code="4000""#) <= value(&before, "porthole_sessions_ended_total", r#"close_code="4000""#) {
        assert!(std::time::Instant::now() < deadline, "the end was not counted: {after}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        after = scrape(&metrics).await;
    }
    let moved = |name: &str, labels: &str| value(&after, name, labels) - value(&before, name, labels);
    assert!(moved("porthole_sessions_opened_total", r#"kind="environment""#) >= 1.0);
    assert!(moved("porthole_sessions_refused_total", r#"status="403""#) >= 1.0);
    assert!(moved("porthole_session_bytes_in_total", "") >= "echo metered; exit 3\r".len() as f64);
    assert!(moved("porthole_session_bytes_out_total", "") >= client.output.len() as f64);
    assert!(moved("porthole_authorize_duration_seconds_count", "") >= 2.0, "{after}");
    assert!(moved("porthole_upstream_dial_duration_seconds_count", "") >= 1.0);
    assert!(moved("porthole_sign_in_failures_total", "") >= 1.0);
    assert_eq!(value(&after, "porthole_sessions_active", r#"kind="environment""#), value(&before, "porthole_sessions_active", r#"kind="environment""#));
    assert!(after.contains("# TYPE porthole_authorize_duration_seconds histogram"), "{after}");
}
