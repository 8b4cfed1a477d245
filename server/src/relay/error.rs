//! Why a terminal request was refused before the upgrade: one HTTP status
//! and a log line each; details that name the upstream or the app's
//! internal URL go to the log only.

use super::dial::{DialError, Failure};
use crate::codec::browser::{BrowserCodec, UnsupportedSubprotocols};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Why a terminal request was refused before the upgrade; each is logged.
#[derive(Debug)]
pub enum RelayError {
    /// 400: not a valid WebSocket upgrade (axum's reason).
    NotWebSocket(String),
    /// 400: none of the offered subprotocols is spoken here.
    UnsupportedSubprotocols(UnsupportedSubprotocols),
    /// 403: the browser's `Origin` is neither this host nor allowed.
    ForbiddenOrigin(String),
    /// 400: `cols`/`rows` in the URL are not a valid size.
    BadSize(shared::DecodeError),
    /// 403: a request marked as forwarded by a relay without a valid
    /// relay JWT.
    BadHop,
    /// 503: the relay is draining: no new terminals.
    Draining,
    /// 400: `?resume=`/`?view=` with something that is no session id.
    BadSessionId,
    /// 400: `?resume=` over a subprotocol that cannot resume (only
    /// `v1.porthole` counts the output it parsed).
    ResumeUnsupported,
    /// The app refused: its status, content type and body (≤ 32 KiB) pass through.
    Refused {
        /// The app's status.
        status: StatusCode,
        /// The app's content type.
        content_type: Option<HeaderValue>,
        /// The app's body, cut at [`super::authorize::FAILURE_BODY_LIMIT`].
        body: bytes::Bytes,
    },
    /// 502: the app could not be reached.
    AuthorizeUnreachable(String),
    /// 500: the Channel settings are unusable.
    InvalidChannel(String),
    /// 502: the upstream could not be dialed, or chose no usable subprotocol.
    Dial(DialError),
}

impl IntoResponse for RelayError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            RelayError::Refused { status, content_type, body } => {
                tracing::info!(status = status.as_u16(), "authorize refused the terminal");
                let mut response = (status, body).into_response();
                if let Some(ct) = content_type {
                    response.headers_mut().insert(header::CONTENT_TYPE, ct);
                }
                return response;
            }
            RelayError::NotWebSocket(e) => (StatusCode::BAD_REQUEST, format!("not a WebSocket handshake: {e}")),
            RelayError::UnsupportedSubprotocols(UnsupportedSubprotocols(offered)) => (
                StatusCode::BAD_REQUEST,
                format!("unsupported subprotocols {offered:?}; this endpoint speaks {:?}", BrowserCodec::SUBPROTOCOLS),
            ),
            RelayError::BadSize(e) => (StatusCode::BAD_REQUEST, format!("bad terminal size in the URL: {e}")),
            RelayError::BadHop => (StatusCode::FORBIDDEN, "a forwarded terminal request needs a valid relay token".to_string()),
            RelayError::Draining => {
                (StatusCode::SERVICE_UNAVAILABLE, "the server is restarting: open the terminal again in a moment".to_string())
            }
            RelayError::BadSessionId => (StatusCode::BAD_REQUEST, "resume= and view= take a session id".to_string()),
            RelayError::ResumeUnsupported => {
                (StatusCode::BAD_REQUEST, format!("only the {} subprotocol can resume or watch a session", shared::porthole::SUBPROTOCOL))
            }
            RelayError::ForbiddenOrigin(origin) if origin.is_empty() => (
                StatusCode::FORBIDDEN,
                "a WebSocket with the login cookie but no Origin header is refused (browsers always send one; \
                 see --allow-missing-origin)"
                    .to_string(),
            ),
            RelayError::ForbiddenOrigin(origin) => {
                (StatusCode::FORBIDDEN, format!("cross-origin WebSocket from {origin:?} refused: the origin must match the host"))
            }
            // reqwest's words name the app's internal URL: log them only.
            RelayError::AuthorizeUnreachable(e) => {
                tracing::warn!(error = e, "authorize request failed");
                (StatusCode::BAD_GATEWAY, "authorize request failed".to_string())
            }
            // The details name the upstream: they go to the log, not the browser.
            RelayError::InvalidChannel(e) => {
                tracing::warn!(error = %e, "invalid channel settings");
                (StatusCode::INTERNAL_SERVER_ERROR, "invalid channel settings".to_string())
            }
            RelayError::Dial(e) => {
                tracing::warn!(error = e.detail, "dialing the upstream failed");
                (StatusCode::BAD_GATEWAY, format!("connecting to the terminal failed: {}", e.public))
            }
        };
        tracing::warn!(status = status.as_u16(), reason = %message, "terminal request refused");
        (status, format!("{message}\n")).into_response()
    }
}

impl From<Failure> for RelayError {
    fn from(failure: Failure) -> RelayError {
        match failure {
            Failure::InvalidChannel(e) => RelayError::InvalidChannel(e),
            Failure::Dial(e) => RelayError::Dial(e),
        }
    }
}
