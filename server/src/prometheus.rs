//! Prometheus metrics (`metrics` facade, `metrics-exporter-prometheus`
//! recorder), served on `--metrics-listen` at `/metrics` — never on the
//! public listener. One recorder per process; every name is here.
//!
//! | name | type | labels |
//! |---|---|---|
//! | `porthole_sessions_active` | gauge | `kind` (environment, job) |
//! | `porthole_sessions_opened_total` | counter | `kind` |
//! | `porthole_sessions_refused_total` | counter | `status` (HTTP) |
//! | `porthole_sessions_ended_total` | counter | `close_code` |
//! | `porthole_sessions_resumed_total` | counter | |
//! | `porthole_viewers_active` | gauge | |
//! | `porthole_session_bytes_in_total`, `…_out_total` | counter | |
//! | `porthole_authorize_duration_seconds` | histogram | |
//! | `porthole_upstream_dial_duration_seconds` | histogram | |
//! | `porthole_reauthorizations_total` | counter | `outcome` (ok, limit_changed, settings_changed, refused, unreachable) |
//! | `porthole_browser_pings_missed_total` | counter | |
//! | `porthole_sign_in_failures_total` | counter | |
//! | `porthole_sign_in_rate_limited_total` | counter | |
//! | `porthole_database_errors_total` | counter | |

use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// Active terminal sessions (gauge), by `kind`.
pub const SESSIONS_ACTIVE: &str = "porthole_sessions_active";
/// Terminal sessions upgraded (counter), by `kind`.
pub const SESSIONS_OPENED: &str = "porthole_sessions_opened_total";
/// Terminal requests refused before the upgrade (counter), by `status`.
pub const SESSIONS_REFUSED: &str = "porthole_sessions_refused_total";
/// Terminal sessions ended (counter), by `close_code`.
pub const SESSIONS_ENDED: &str = "porthole_sessions_ended_total";
/// Sessions resumed after a dropped connection (counter).
pub const SESSIONS_RESUMED: &str = "porthole_sessions_resumed_total";
/// Read-only viewers watching (gauge).
pub const VIEWERS_ACTIVE: &str = "porthole_viewers_active";
/// Bytes typed into sessions (counter).
pub const BYTES_IN: &str = "porthole_session_bytes_in_total";
/// Bytes of session output (counter).
pub const BYTES_OUT: &str = "porthole_session_bytes_out_total";
/// How long the first authorize of a session took (histogram, seconds).
pub const AUTHORIZE_SECONDS: &str = "porthole_authorize_duration_seconds";
/// How long dialing the upstream took (histogram, seconds).
pub const DIAL_SECONDS: &str = "porthole_upstream_dial_duration_seconds";
/// Re-authorizations of running sessions (counter), by `outcome`.
pub const REAUTHORIZATIONS: &str = "porthole_reauthorizations_total";
/// Browsers gone silent: pings unanswered for two intervals (counter).
pub const PINGS_MISSED: &str = "porthole_browser_pings_missed_total";
/// Failed sign-ins (counter).
pub const SIGN_IN_FAILURES: &str = "porthole_sign_in_failures_total";
/// Sign-ins refused by the rate limits (counter).
pub const SIGN_IN_RATE_LIMITED: &str = "porthole_sign_in_rate_limited_total";
/// Database errors the app answered 503 for (counter).
pub const DATABASE_ERRORS: &str = "porthole_database_errors_total";

/// Histogram buckets for durations, in seconds (1 ms to 10 s).
const SECONDS_BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's recorder, once; later calls return the same
/// handle. `None` when another recorder was installed first.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new().set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS).ok()?;
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            Some(handle)
        })
        .clone()
}

fn describe() {
    // Counters without labels start at 0, so a first scrape lists them.
    for name in [SESSIONS_RESUMED, BYTES_IN, BYTES_OUT, PINGS_MISSED, SIGN_IN_FAILURES, SIGN_IN_RATE_LIMITED, DATABASE_ERRORS] {
        metrics::counter!(name).absolute(0);
    }
    metrics::gauge!(VIEWERS_ACTIVE).set(0.0);
    metrics::describe_gauge!(SESSIONS_ACTIVE, "Terminal sessions running now, by kind.");
    metrics::describe_counter!(SESSIONS_OPENED, "Terminal sessions upgraded, by kind.");
    metrics::describe_counter!(SESSIONS_REFUSED, "Terminal requests refused before the upgrade, by HTTP status.");
    metrics::describe_counter!(SESSIONS_ENDED, "Terminal sessions ended, by close code.");
    metrics::describe_counter!(SESSIONS_RESUMED, "Sessions resumed after a dropped connection.");
    metrics::describe_gauge!(VIEWERS_ACTIVE, "Read-only viewers watching now.");
    metrics::describe_counter!(BYTES_IN, metrics::Unit::Bytes, "Bytes typed into terminal sessions.");
    metrics::describe_counter!(BYTES_OUT, metrics::Unit::Bytes, "Bytes of terminal output.");
    metrics::describe_histogram!(AUTHORIZE_SECONDS, metrics::Unit::Seconds, "Time to authorize a new terminal session.");
    metrics::describe_histogram!(DIAL_SECONDS, metrics::Unit::Seconds, "Time to dial a session's upstream.");
    metrics::describe_counter!(REAUTHORIZATIONS, "Re-authorizations of running sessions, by outcome.");
    metrics::describe_counter!(PINGS_MISSED, "Browsers gone silent (pings unanswered).");
    metrics::describe_counter!(SIGN_IN_FAILURES, "Failed sign-ins.");
    metrics::describe_counter!(SIGN_IN_RATE_LIMITED, "Sign-ins refused by the rate limits.");
    metrics::describe_counter!(DATABASE_ERRORS, "Database errors answered with 503.");
}

/// `GET /metrics` in the Prometheus text format.
pub fn router(handle: PrometheusHandle) -> axum::Router {
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let handle = handle.clone();
            async move { ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response() }
        }),
    )
}
