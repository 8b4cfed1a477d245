//! Refusals as the API server words them: a `metav1.Status` body with the
//! HTTP status, and a log line.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An error before the upgrade, answered as a `metav1.Status` body.
pub fn status_response(code: StatusCode, reason: &str, message: impl Into<String>) -> Response {
    let message = message.into();
    tracing::info!(status = code.as_u16(), reason = %message, "local cluster refused a request");
    let body = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code.as_u16(),
    });
    (code, axum::Json(body)).into_response()
}

/// 400 `BadRequest`.
pub fn bad_request(message: impl Into<String>) -> Response {
    status_response(StatusCode::BAD_REQUEST, "BadRequest", message)
}
