//! The relay's side of the authorize contract: ask the app
//! `GET <request path>/authorize` with the browser's headers and a fresh JWT,
//! exactly as Workhorse asks Rails (`internal/api/api.go` `PreAuthorize`).
//!
//! Only `200` with content type `application/vnd.gitlab-workhorse+json` is an
//! authorization. Any other answer is passed back to the browser (status and
//! up to 32 KiB of body), so the app's 401/403/404 reach the user unchanged.

use super::error::RelayError;
use super::recheck::{Reauthorize, Refusal};
use crate::jwt::WorkhorseSecret;
use axum::http::{HeaderMap, HeaderName, StatusCode, request::Parts};
use shared::api::{AUDIT_ID_HEADER, RECORDING_HEADER, SessionEnded, USER_HEADER};
use shared::channel::{API_REQUEST_HEADER, AuthorizeResponse, ChannelSettings, WORKHORSE_CONTENT_TYPE};
use std::time::Duration;

/// Body bytes of a refusal passed back to the browser (Workhorse's
/// `failureResponseLimit`).
pub const FAILURE_BODY_LIMIT: usize = 32 << 10;

/// Largest authorization body accepted (1 MiB; a CA bundle fits).
const AUTHORIZATION_BODY_LIMIT: usize = 1 << 20;

/// Request headers never forwarded to the app: hop-by-hop headers and the
/// body's own (`api.go` `newRequest`).
const DROPPED_HEADERS: [&str; 13] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-type",
    "content-encoding",
    "content-length",
    "content-disposition",
    "accept-encoding",
];

/// What the relay asks authorize about, kept for asking again later: the
/// browser request's path and query, and its forwardable headers (cookies).
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    uri: http::Uri,
    headers: HeaderMap,
}

impl AuthorizeRequest {
    /// From the browser's request.
    pub fn new(parts: &Parts) -> AuthorizeRequest {
        AuthorizeRequest { uri: parts.uri.clone(), headers: forwarded_headers(&parts.headers) }
    }

    /// The same headers (cookies) asking about `uri` instead: a resume or a
    /// viewer is authorized for the terminal of the session it joins.
    pub fn with_uri(mut self, uri: http::Uri) -> AuthorizeRequest {
        self.uri = uri;
        self
    }

    /// The same request, marked as a re-authorization of the session the
    /// app recorded as `audit_id` (so the app records no new one).
    pub fn again(&self, audit_id: Option<&str>) -> AuthorizeRequest {
        let mut again = self.clone();
        if let Some(value) = audit_id.and_then(|id| http::HeaderValue::from_str(id).ok()) {
            again.headers.insert(AUDIT_ID_HEADER, value);
        }
        again
    }
}

/// A successful authorize answer.
#[derive(Debug, Clone)]
pub struct Authorized {
    /// The Channel settings.
    pub channel: ChannelSettings,
    /// The app's audit log entry for this session ([`AUDIT_ID_HEADER`]).
    pub audit_id: Option<String>,
    /// The user it was granted to ([`USER_HEADER`]); `None` when signed out.
    pub user: Option<String>,
    /// Record the session, under this title ([`RECORDING_HEADER`]).
    pub recording: Option<String>,
}

/// Calls the app's authorize endpoint.
#[derive(Debug, Clone)]
pub struct Authorizer {
    app_url: url::Url,
    secret: WorkhorseSecret,
    http: reqwest::Client,
}

impl Authorizer {
    /// An authorizer for the app at `app_url` (scheme, host, port; its path
    /// is replaced by the request's).
    pub fn new(app_url: url::Url, secret: WorkhorseSecret) -> Authorizer {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("a plain HTTP client always builds");
        Authorizer { app_url, secret, http }
    }

    /// The Channel settings for the browser request `request`, or the app's refusal.
    pub async fn authorize(&self, request: &AuthorizeRequest) -> Result<Authorized, RelayError> {
        let mut url = self.app_url.clone();
        url.set_path(&format!("{}/authorize", request.uri.path()));
        url.set_query(request.uri.query());
        let response = self
            .http
            .get(url.clone())
            .headers(request.headers.clone())
            .header(API_REQUEST_HEADER, self.secret.sign())
            .header("Gitlab-Workhorse", concat!("porthole-", env!("CARGO_PKG_VERSION")))
            .send()
            .await
            .map_err(|e| RelayError::AuthorizeUnreachable(e.to_string()))?;
        let status = response.status();
        let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let (audit_id, user) = (header(AUDIT_ID_HEADER), header(USER_HEADER));
        let recording = header(RECORDING_HEADER).map(|title| url::form_urlencoded::parse(format!("t={title}").as_bytes()).map(|(_, v)| v.into_owned()).collect());
        let content_type = response.headers().get(http::header::CONTENT_TYPE).cloned();
        let is_authorization = status == StatusCode::OK
            && content_type.as_ref().and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with(WORKHORSE_CONTENT_TYPE));
        let limit = if is_authorization { AUTHORIZATION_BODY_LIMIT } else { FAILURE_BODY_LIMIT };
        let body = read_limited(response, limit).await.map_err(|e| RelayError::AuthorizeUnreachable(e.to_string()))?;
        if !is_authorization {
            return Err(RelayError::Refused { status, content_type, body });
        }
        let parsed: AuthorizeResponse =
            serde_json::from_slice(&body).map_err(|e| RelayError::InvalidChannel(format!("authorize answer: {e}")))?;
        Ok(Authorized { channel: parsed.channel, audit_id, user, recording })
    }

    /// The relay JWT, for an internal hop to another relay.
    pub fn sign(&self) -> String {
        self.secret.sign()
    }

    /// True when `token` is a fresh relay JWT (an internal hop's).
    pub fn verify(&self, token: Option<&str>) -> bool {
        self.secret.verify(token).is_ok()
    }

    fn relay_session_url(&self, id: &str) -> url::Url {
        let mut url = self.app_url.clone();
        url.set_path(&format!("/api/v4/internal/relay_sessions/{id}"));
        url.set_query(None);
        url
    }

    /// Registers resumable session `id` with the app, for other relays;
    /// failures are logged (the session still resumes on this relay).
    pub async fn register_session(&self, id: &str, session: &shared::api::RelaySession) {
        let sent = self.http.put(self.relay_session_url(id)).header(API_REQUEST_HEADER, self.secret.sign()).json(session).send().await;
        match sent {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => tracing::warn!(status = r.status().as_u16(), "registering a session with the app failed"),
            Err(e) => tracing::warn!(error = %e, "registering a session with the app failed"),
        }
    }

    /// Forgets session `id` at the app.
    pub async fn unregister_session(&self, id: &str) {
        let sent = self.http.delete(self.relay_session_url(id)).header(API_REQUEST_HEADER, self.secret.sign()).send().await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "unregistering a session with the app failed");
        }
    }

    /// Where session `id` runs, as the app knows; `None` when nowhere (or
    /// the app cannot say).
    pub async fn find_session(&self, id: &str) -> Option<shared::api::RelaySession> {
        let response = self.http.get(self.relay_session_url(id)).header(API_REQUEST_HEADER, self.secret.sign()).send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.json().await.ok()
    }

    /// Tells the app how the session recorded as `audit_id` ended
    /// (`POST /api/v4/internal/terminal_sessions/:id`), trying three times
    /// when the app cannot be reached or fails; failures are logged.
    pub async fn report_end(&self, audit_id: &str, ended: &SessionEnded) {
        let mut url = self.app_url.clone();
        url.set_path(&format!("/api/v4/internal/terminal_sessions/{audit_id}"));
        url.set_query(None);
        for wait in [0, 250, 1000] {
            tokio::time::sleep(Duration::from_millis(wait)).await;
            let sent = self.http.post(url.clone()).header(API_REQUEST_HEADER, self.secret.sign()).json(ended).send().await;
            match sent {
                Ok(response) if response.status().is_success() => return,
                Ok(response) if response.status().is_client_error() => {
                    tracing::warn!(status = response.status().as_u16(), "the app did not record the session's end");
                    return;
                }
                Ok(response) => tracing::warn!(status = response.status().as_u16(), "reporting the session's end failed"),
                Err(e) => tracing::warn!(error = %e, "reporting the session's end failed"),
            }
        }
    }
}

/// The browser's headers, less those never forwarded (`Host` is kept, as
/// Workhorse keeps it: the app sees the host the browser asked for).
fn forwarded_headers(headers: &HeaderMap) -> HeaderMap {
    // Headers named in `Connection` are hop-by-hop too.
    let named_by_connection: Vec<String> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    let mut out = HeaderMap::new();
    for (name, value) in headers {
        let n = name.as_str();
        // `Gitlab-Workhorse*` and `Porthole-*` headers are the relay's to
        // set, never the browser's (a forged audit id would hide a session).
        if n.starts_with("gitlab-workhorse") || n.starts_with("porthole-") || DROPPED_HEADERS.contains(&n) || named_by_connection.iter().any(|c| c == n) {
            continue;
        }
        out.append(HeaderName::from(name), value.clone());
    }
    out
}

/// The body, cut at `limit` bytes.
async fn read_limited(mut response: reqwest::Response, limit: usize) -> reqwest::Result<bytes::Bytes> {
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        let room = limit - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() == limit {
            break;
        }
    }
    Ok(body.freeze())
}

/// The browser's original request, asked about again while its session runs.
#[derive(Debug, Clone)]
pub struct Reauthorizer {
    /// The relay's authorizer.
    pub authorizer: Authorizer,
    /// The original request, marked with its audit id ([`AuthorizeRequest::again`]).
    pub request: AuthorizeRequest,
}

impl Reauthorize for Reauthorizer {
    fn reauthorize(&self) -> impl std::future::Future<Output = Result<ChannelSettings, Refusal>> + Send {
        async move {
            match self.authorizer.authorize(&self.request).await {
                Ok(authorized) => Ok(authorized.channel),
                Err(RelayError::Refused { status, .. }) => Err(Refusal::Refused(status)),
                Err(e) => Err(Refusal::Unreachable(format!("{e:?}"))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_body_headers_are_dropped() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("cookie", "_porthole_session=abc"),
            ("connection", "Upgrade, X-Secret-Hop"),
            ("x-secret-hop", "1"),
            ("upgrade", "websocket"),
            ("sec-websocket-protocol", "v1.porthole"),
            ("accept-encoding", "gzip"),
            ("host", "example"),
            ("gitlab-workhorse-api-request", "forged"),
            ("porthole-audit-id", "forged"),
        ] {
            h.append(HeaderName::from_static(k), v.parse().unwrap());
        }
        let out = forwarded_headers(&h);
        let names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["cookie", "sec-websocket-protocol", "host"]);
    }
}
