//! The audit log of terminal sessions over `/api/v4`: admins read it
//! (`GET /api/v4/audit_events`), the relay closes its entries
//! (`POST /api/v4/internal/terminal_sessions/:id`, signed with the
//! relay's JWT). Entries are opened by authorize ([`super::authorize`]).

use super::error::{AppError, db_error};
use super::extract::{ApiJson, ApiQuery};
use super::state::App;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use shared::api::{RelaySession, SessionEnded};
use std::sync::Arc;
use tower_sessions::Session;

/// Audit log entries a page holds by default, and at most (GitLab's
/// `per_page` default is 20, its maximum 100).
pub const AUDIT_PER_PAGE: (u32, u32) = (100, 100);

type ApiResult<T> = Result<T, AppError>;

/// GitLab's pagination parameters.
#[derive(Debug, serde::Deserialize)]
pub struct Page {
    /// 1-based page number (default 1).
    pub page: Option<u64>,
    /// Entries a page (default and maximum [`AUDIT_PER_PAGE`]).
    pub per_page: Option<u32>,
}

/// `GET /api/v4/audit_events?page=&per_page=`: terminal sessions, newest
/// first, with GitLab's `X-Page`, `X-Per-Page` and `X-Next-Page` (empty on
/// the last page) headers.
pub async fn audit_events(
    State(app): State<Arc<App>>,
    session: Session,
    ApiQuery(page): ApiQuery<Page>,
) -> ApiResult<Response> {
    app.require_admin(Some(&session)).await?;
    let (default, max) = AUDIT_PER_PAGE;
    let per_page = page.per_page.unwrap_or(default).clamp(1, max);
    let number = page.page.unwrap_or(1).max(1);
    let offset = (number - 1).saturating_mul(u64::from(per_page));
    // One more than asked says whether there is a next page.
    let mut events = app.db.audit_events(per_page + 1, offset).await.map_err(db_error)?;
    let next = (events.len() > per_page as usize).then(|| (number + 1).to_string()).unwrap_or_default();
    events.truncate(per_page as usize);
    for event in &mut events {
        event.recording = app.has_recording(&event.id);
    }
    let headers = [("x-page", number.to_string()), ("x-per-page", per_page.to_string()), ("x-next-page", next)];
    Ok((headers, Json(events)).into_response())
}

/// `POST /api/v4/internal/terminal_sessions/:id`: the relay reports how a
/// session ended (signed with its JWT, like authorize); 204, 404 when no
/// such session is open.
pub async fn session_ended(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(ended): ApiJson<SessionEnded>,
) -> ApiResult<StatusCode> {
    relay_only(&app, &headers)?;
    if app.db.audit_end(&id, &ended).await.map_err(db_error)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound("no open terminal session with this id".into()))
    }
}

/// Checks the relay JWT of an internal request.
fn relay_only(app: &App, headers: &HeaderMap) -> ApiResult<()> {
    let token = headers.get(shared::channel::API_REQUEST_HEADER).and_then(|v| v.to_str().ok());
    app.secret.verify(token).map_err(AppError::Unauthorized)
}

/// `PUT /api/v4/internal/relay_sessions/:id` (relays): where a resumable
/// session runs; 204.
pub async fn put_relay_session(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(session): ApiJson<RelaySession>,
) -> ApiResult<StatusCode> {
    relay_only(&app, &headers)?;
    app.db.put_relay_session(&id, &session).await.map_err(db_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v4/internal/relay_sessions/:id` (relays): where it runs; 404
/// when it is not registered.
pub async fn get_relay_session(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Json<RelaySession>> {
    relay_only(&app, &headers)?;
    let found = app.db.relay_session(&id).await.map_err(db_error)?;
    found.map(Json).ok_or_else(|| AppError::NotFound("no such relay session".into()))
}

/// `DELETE /api/v4/internal/relay_sessions/:id` (relays): the session
/// ended; 204 (also when it was not registered).
pub async fn delete_relay_session(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<StatusCode> {
    relay_only(&app, &headers)?;
    app.db.delete_relay_session(&id).await.map_err(db_error)?;
    Ok(StatusCode::NO_CONTENT)
}
