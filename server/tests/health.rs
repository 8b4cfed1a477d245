//! GitLab's health endpoints: liveness while the process serves, readiness
//! only while the database answers — checked by taking a real PostgreSQL
//! database away.

mod common;

use common::*;
use serde_json::Value;

async fn get_json(url: &str) -> (u16, Value) {
    let response = reqwest::get(url).await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn liveness_and_readiness_answer_json() {
    let porthole = start().await;
    let (status, body) = get_json(&format!("{}/-/liveness", porthole.url())).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, body) = get_json(&format!("{}/-/readiness", porthole.url())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["shutdown"], "ok");
}

#[tokio::test]
async fn readiness_fails_while_the_database_is_gone() {
    let db = TestDatabase::create().await;
    let url = db.url();
    let porthole = start_configured(|c| c.database_url = Some(url)).await;
    let readiness = format!("{}/-/readiness", porthole.url());
    assert_eq!(get_json(&readiness).await.0, 200);
    db.drop_it().await;
    let (status, body) = get_json(&readiness).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "failed");
    let database = body["checks"]["database"].as_str().unwrap();
    assert!(database.starts_with("failed: "), "{database}");
    assert_eq!(body["checks"]["shutdown"], "ok");
    // Liveness is about the process, not its dependencies.
    assert_eq!(get_json(&format!("{}/-/liveness", porthole.url())).await.0, 200);
}
