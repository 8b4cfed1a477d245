//! Why the app refused, as an HTTP status and GitLab's `{"message": …}`
//! JSON, with a log line.

use crate::jwt::JwtError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use shared::api::ErrorJson;

/// Why the app refused; each answer is logged.
#[derive(Debug)]
pub enum AppError {
    /// 401: the request is not signed by the relay.
    Unauthorized(JwtError),
    /// 404, with what was not found.
    NotFound(String),
    /// 502: the cluster's API failed or refused; the words for the page.
    Cluster(String),
    /// 401: nobody is signed in.
    Unauthenticated,
    /// 403, with the role it takes.
    Forbidden(String),
    /// 400, with what is wrong with the input.
    BadRequest(String),
    /// 409, with what already exists.
    Conflict(String),
    /// 413: the request body is over the limit; the limit in words.
    TooLarge(String),
    /// 503: the database failed.
    Database(String),
}

impl AppError {
    /// The HTTP status and the words for the person.
    pub fn status_and_message(&self) -> (StatusCode, String) {
        match self {
            // jsonwebtoken's words (accepted algorithms, …) go to the log only.
            AppError::Unauthorized(e) => (StatusCode::UNAUTHORIZED, e.public().to_string()),
            AppError::NotFound(what) => (StatusCode::NOT_FOUND, what.clone()),
            AppError::Cluster(e) => (StatusCode::BAD_GATEWAY, e.clone()),
            AppError::Unauthenticated => (StatusCode::UNAUTHORIZED, "You need to sign in before continuing.".to_string()),
            AppError::Forbidden(why) => (StatusCode::FORBIDDEN, why.clone()),
            AppError::BadRequest(why) => (StatusCode::BAD_REQUEST, why.clone()),
            AppError::Conflict(why) => (StatusCode::CONFLICT, why.clone()),
            AppError::TooLarge(why) => (StatusCode::PAYLOAD_TOO_LARGE, why.clone()),
            AppError::Database(_) => (StatusCode::SERVICE_UNAVAILABLE, "the database is unavailable".to_string()),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match &self {
            AppError::Database(e) => tracing::error!(error = e, "database failed"),
            AppError::Unauthorized(e) => tracing::warn!(error = %e, "a request not signed by a relay"),
            _ => {}
        }
        let (status, message) = self.status_and_message();
        tracing::info!(status = status.as_u16(), reason = %message, "app refused");
        (status, Json(ErrorJson { message })).into_response()
    }
}

/// A database failure, as a 503.
pub fn db_error(e: impl std::fmt::Display) -> AppError {
    metrics::counter!(crate::prometheus::DATABASE_ERRORS).increment(1);
    AppError::Database(e.to_string())
}

/// A refusal outside [`AppError`]'s cases (the runner API, `/api/v4`'s
/// 404): `status` with `{"message": message}`.
pub fn refusal(status: StatusCode, message: &str) -> Response {
    (status, Json(ErrorJson { message: message.to_string() })).into_response()
}
