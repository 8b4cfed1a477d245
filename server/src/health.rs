//! Health endpoints, as GitLab's: `GET /-/liveness` (the process serves
//! HTTP) and `GET /-/readiness` (it can take new terminals: the database
//! answers and no shutdown has begun). Both answer JSON:
//! `{"status":"ok","checks":{"database":"ok","shutdown":"ok"}}`, and a failed
//! readiness is 503 with the failed check's words.

use crate::app::db::Database;
use crate::shutdown::Shutdown;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};
use std::time::Duration;

/// How long the database may take to answer a readiness check.
pub const DATABASE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What readiness looks at.
#[derive(Clone)]
pub struct Health {
    /// The app's database.
    pub db: Database,
    /// Begins when the process starts shutting down.
    pub shutdown: Shutdown,
}

/// The two routes, on any router.
pub fn router<S: Clone + Send + Sync + 'static>(health: Health) -> axum::Router<S> {
    axum::Router::new().route("/-/liveness", get(liveness)).route("/-/readiness", get(readiness)).with_state(health)
}

/// `GET /-/liveness`: 200 while the process serves HTTP.
async fn liveness() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /-/readiness`: 200 when every check passes, else 503; each check
/// says `ok` or why not.
async fn readiness(State(health): State<Health>) -> (StatusCode, Json<Value>) {
    let database = match tokio::time::timeout(DATABASE_CHECK_TIMEOUT, health.db.ping()).await {
        Ok(Ok(())) => "ok".to_string(),
        Ok(Err(e)) => format!("failed: {e}"),
        Err(_) => format!("failed: no answer within {} s", DATABASE_CHECK_TIMEOUT.as_secs()),
    };
    let shutdown = if health.shutdown.is_triggered() { "failed: shutting down".to_string() } else { "ok".to_string() };
    let ok = database == "ok" && shutdown == "ok";
    if !ok {
        tracing::warn!(database, shutdown, "not ready");
    }
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({ "status": if ok { "ok" } else { "failed" }, "checks": { "database": database, "shutdown": shutdown } })))
}
