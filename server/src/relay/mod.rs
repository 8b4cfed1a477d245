//! The relay, in GitLab Workhorse's role (`workhorse/internal/channel/`).
//!
//! For `GET /<project>/-/environments/<id>/terminal.ws` with upgrade headers,
//! in this order, all visible in [`Relay::connect`]:
//! 1. check the browser's upgrade, subprotocol offer and initial size (400);
//! 2. ask the app to authorize ([`authorize`]): its refusal goes back as is;
//! 3. validate the Channel settings (500);
//! 4. dial the upstream with the Channel's URL, headers and CA ([`dial`], 502);
//! 5. only then upgrade the browser, and relay frames ([`session`]);
//! 6. report how it ended (bytes each way, close code, reason, exit status)
//!    to the app's audit log, under the id the authorize answer gave.
//!
//! The relay keeps nothing between requests but the sessions a page may
//! resume ([`resume`]); everything else comes from the authorize answer, and
//! the upstream URL and its credentials never reach the browser. A request
//! with `?resume=<id>` is authorized the same way, then joins its running
//! session instead of dialing ([`Relay::join_session`]).

pub mod audit;
pub mod authorize;
pub mod dial;
pub mod error;
pub mod fanout;
pub mod flow;
pub mod forward;
pub mod goodbye;
pub mod heartbeat;
pub mod idle;
pub mod output_log;
pub mod recheck;
pub mod recording;
pub mod resume;
pub mod session;
pub mod viewer;

use crate::codec::browser::{BrowserCodec, MAX_BROWSER_FRAME, MAX_BROWSER_MESSAGE};
use crate::shutdown::Shutdown;
use audit::{Audit, Pending};
use axum::extract::FromRequestParts;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use error::RelayError;
use recheck::Recheck;
use resume::{ResumeSettings, Sessions};
use session::{Resumable, SessionParams};
use shared::close::End;
use shared::porthole::TerminalSize;
use std::net::SocketAddr;
use std::time::Duration;

/// The relay's configuration.
#[derive(Debug, Clone)]
pub struct Relay {
    authorizer: authorize::Authorizer,
    allowed_origins: Vec<String>,
    allow_missing_origin: bool,
    ping_interval: Duration,
    reauthorize_interval: Duration,
    shutdown: Shutdown,
    /// Shutdown has begun: no new terminals, sessions are told when they end.
    draining: Option<(Shutdown, Duration)>,
    resume: ResumeSettings,
    recordings: Option<recording::RecordingSettings>,
    /// This relay's URL for other relays (`--relay-url`); `None` = it runs alone.
    relay_url: Option<url::Url>,
    /// Sessions a page may resume, by id.
    pub sessions: Sessions,
    /// Session ends not yet reported to the app.
    pub pending: Pending,
}

impl Relay {
    /// A relay that authorizes against the app at `app_url`, and accepts
    /// browsers from its own host and from `allowed_origins`
    /// (`scheme://host[:port]`).
    pub fn new(
        app_url: url::Url,
        secret: crate::jwt::WorkhorseSecret,
        allowed_origins: Vec<String>,
        ping_interval: Duration,
        reauthorize_interval: Duration,
        shutdown: Shutdown,
    ) -> Relay {
        let authorizer = authorize::Authorizer::new(app_url, secret);
        Relay {
            authorizer,
            allowed_origins,
            allow_missing_origin: false,
            ping_interval,
            reauthorize_interval,
            shutdown,
            draining: None,
            resume: ResumeSettings::default(),
            recordings: None,
            relay_url: None,
            sessions: Sessions::default(),
            pending: Pending::default(),
        }
    }

    /// How sessions outlive their WebSocket (`--resume-grace`,
    /// `--resume-buffer`); a zero grace turns resuming off.
    pub fn with_resume(mut self, settings: ResumeSettings) -> Relay {
        self.resume = settings;
        self
    }

    /// Drains on `signal`: new terminals get 503, running sessions hear
    /// that they end after `grace` (then `shutdown` ends them with 4008).
    pub fn with_drain(mut self, signal: Shutdown, grace: Duration) -> Relay {
        self.draining = Some((signal, grace));
        self
    }

    /// Runs among several relays, reachable by them at `url`: resumable
    /// sessions are registered with the app, and resumes and viewers of
    /// sessions held elsewhere are forwarded ([`forward`]).
    pub fn with_relay_url(mut self, url: Option<url::Url>) -> Relay {
        self.relay_url = url;
        self
    }

    /// Where to write the recordings the app asks for (none without).
    pub fn with_recordings(mut self, settings: recording::RecordingSettings) -> Relay {
        self.recordings = Some(settings);
        self
    }

    /// Accepts cookie-carrying upgrades without `Origin` (non-browser
    /// clients; `--allow-missing-origin`). Off by default.
    pub fn allow_missing_origin(mut self, allow: bool) -> Relay {
        self.allow_missing_origin = allow;
        self
    }

    /// Handles a terminal WebSocket request from `peer`.
    pub async fn handle(&self, request: axum::extract::Request, peer: SocketAddr) -> Response {
        let mut response = match self.connect(request, peer).await {
            Ok(response) => response,
            Err(e) => e.into_response(),
        };
        let status = response.status();
        if status != http::StatusCode::SWITCHING_PROTOCOLS {
            metrics::counter!(crate::prometheus::SESSIONS_REFUSED, "status" => status.as_str().to_string()).increment(1);
        }
        // Which relay answered, among several: an opaque name (a hash of
        // its URL), not its internal address.
        if let Some(value) = self.relay_url.as_ref().and_then(|u| http::HeaderValue::from_str(&relay_name(u)).ok()) {
            response.headers_mut().insert("porthole-relay", value);
        }
        response
    }

    async fn connect(&self, request: axum::extract::Request, peer: SocketAddr) -> Result<Response, RelayError> {
        let (mut parts, _body) = request.into_parts();
        let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &())
            .await
            .map_err(|rejection| RelayError::NotWebSocket(rejection.body_text()))?;
        check_origin(&parts.headers, &self.allowed_origins, self.allow_missing_origin)?;
        let forwarded = parts.headers.contains_key(forward::FORWARDED_BY_HEADER);
        if forwarded && !self.authorizer.verify(parts.headers.get(shared::channel::API_REQUEST_HEADER).and_then(|v| v.to_str().ok())) {
            return Err(RelayError::BadHop);
        }
        let query = parts.uri.query().unwrap_or("");
        let (browser_codec, browser_protocol) = BrowserCodec::negotiate(&parts.headers, query).map_err(RelayError::UnsupportedSubprotocols)?;
        let initial_size = TerminalSize::from_query(query).map_err(RelayError::BadSize)?;
        // The chosen subprotocol and the size limits, for every path below.
        let upgrade = match browser_protocol {
            Some(name) => upgrade.protocols([name]),
            None => upgrade,
        }
        .max_message_size(MAX_BROWSER_MESSAGE)
        .max_frame_size(MAX_BROWSER_FRAME)
        .read_buffer_size(crate::codec::wsframe::READ_BUFFER);
        let joins = [shared::porthole::RESUME_PARAM, shared::porthole::VIEW_PARAM].map(|name| resume::query_param(query, name));
        if joins.iter().any(Option::is_some) && browser_codec != BrowserCodec::Porthole {
            return Err(RelayError::ResumeUnsupported);
        }
        if joins.iter().flatten().any(|id| !resume::valid_id(id)) {
            return Err(RelayError::BadSessionId);
        }
        if let Some(id) = joins[1] {
            return self.view(upgrade, &parts, &id.to_string(), peer).await;
        }
        if let Some(id) = joins[0] {
            return self.join_session(upgrade, &parts, &id.to_string(), initial_size, peer).await;
        }

        // Pages of running sessions may still resume and watch; nothing new.
        if self.draining.as_ref().is_some_and(|(signal, _)| signal.is_triggered()) {
            return Err(RelayError::Draining);
        }
        let request = authorize::AuthorizeRequest::new(&parts);
        let asked = std::time::Instant::now();
        let authorized = self.authorizer.authorize(&request).await;
        metrics::histogram!(crate::prometheus::AUTHORIZE_SECONDS).record(asked.elapsed());
        let authorized = authorized?;
        let subject = audit::Subject::new("terminal", authorized.user.clone(), parts.uri.path());
        let mut audit = Audit::new(self.authorizer.clone(), authorized.audit_id.clone(), self.pending.clone(), subject);
        let channel = authorized.channel.clone();
        if let Err(e) = channel.validate() {
            audit.ended(End::Failed("invalid channel settings".into()), session::Traffic::default());
            return Err(RelayError::InvalidChannel(e.to_string()));
        }

        let dialing = std::time::Instant::now();
        let dialed = dial::dial(&channel, &forwarded_for(&parts.headers, peer)).await.map_err(RelayError::from);
        metrics::histogram!(crate::prometheus::DIAL_SECONDS).record(dialing.elapsed());
        let (upstream, upstream_codec) = match dialed {
            Ok(pair) => pair,
            // The user is authorized: a Porthole page can be told why in
            // words, over the WebSocket, instead of a bare HTTP status.
            Err(RelayError::Dial(e)) if browser_codec == BrowserCodec::Porthole => {
                tracing::warn!(error = e.detail, "dialing the upstream failed; telling the browser");
                let end = End::Unreachable(e.public);
                audit.ended(end.clone(), session::Traffic::default());
                return Ok(upgrade.on_upgrade(move |socket| goodbye::refuse(socket, browser_codec, end)));
            }
            Err(e) => {
                let why = match &e {
                    RelayError::Dial(d) => d.public.clone(),
                    other => format!("{other:?}"),
                };
                audit.ended(End::Unreachable(why), session::Traffic::default());
                return Err(e);
            }
        };
        let (pod, container) = kube_target(&channel.url);
        audit.dialed(pod.clone(), container.clone());
        tracing::info!(path = parts.uri.path(), ?browser_codec, ?upstream_codec, pod, container, "terminal connected");

        let resume = (browser_codec == BrowserCodec::Porthole && !self.resume.grace.is_zero()).then(|| {
            let (ticket, registration, attachments) =
                self.sessions.register(authorized.user.clone(), audit.id.clone(), parts.uri.clone(), self.resume.grace);
            Resumable { ticket, grace: self.resume.grace, buffer: self.resume.buffer, attachments, registration }
        });
        let params = SessionParams {
            initial_size,
            pod,
            container,
            max_session_time: channel.max_session_time,
            idle_timeout: channel.idle_timeout,
            ping_interval: self.ping_interval,
            resume,
            recording: self.recorder(&authorized, initial_size),
            draining: self.draining.clone(),
        };
        let shutdown = self.shutdown.clone();
        let registered = match (&params.resume, &self.relay_url) {
            (Some(r), Some(url)) => {
                let session = shared::api::RelaySession {
                    owner: url.to_string(),
                    token_sha256: forward::sha256_hex(&r.ticket.token),
                    username: authorized.user.clone(),
                };
                let (authorizer, id) = (self.authorizer.clone(), r.ticket.id.clone());
                let (ended, session_over) = tokio::sync::oneshot::channel::<()>();
                // In order, in one task: a short session never unregisters
                // before it registered; a failed upgrade drops `ended`.
                tokio::spawn(async move {
                    authorizer.register_session(&id, &session).await;
                    let _ = session_over.await;
                    authorizer.unregister_session(&id).await;
                });
                Some(ended)
            }
            _ => None,
        };
        let request = request.again(audit.id.as_deref());
        let app = authorize::Reauthorizer { authorizer: self.authorizer.clone(), request };
        let recheck = Recheck { app, channel, interval: self.reauthorize_interval };
        let kind = match shared::paths::TerminalTarget::parse_as(parts.uri.path(), shared::paths::Suffix::TerminalWs) {
            Some(t) if t.kind == shared::paths::TerminalKind::Job => "job",
            _ => "environment",
        };
        // A failed upgrade drops this closure, and `audit` reports the drop.
        Ok(upgrade.on_upgrade(move |socket| async move {
            metrics::counter!(crate::prometheus::SESSIONS_OPENED, "kind" => kind).increment(1);
            let active = metrics::gauge!(crate::prometheus::SESSIONS_ACTIVE, "kind" => kind);
            active.increment(1.0);
            let (end, traffic) = session::run(socket, upstream, browser_codec, upstream_codec, params, recheck, shutdown).await;
            active.decrement(1.0);
            metrics::counter!(crate::prometheus::SESSIONS_ENDED, "close_code" => end.close().0.code().to_string()).increment(1);
            metrics::counter!(crate::prometheus::BYTES_IN).increment(traffic.bytes_in);
            metrics::counter!(crate::prometheus::BYTES_OUT).increment(traffic.bytes_out);
            drop(registered);
            audit.ended(end, traffic);
        }))
    }

    /// A viewer of session `id` (`upgrade` has its subprotocol and limits): authorized
    /// as a new request for the session's own terminal, whatever path it
    /// names (the app's refusal passes through, and the app records the
    /// viewer in its audit log), then attached read-only
    /// ([`viewer::watch`]); 4009 when there is no such session.
    async fn view(&self, upgrade: WebSocketUpgrade, parts: &http::request::Parts, id: &str, peer: SocketAddr) -> Result<Response, RelayError> {
        if self.sessions.find(id).is_none() {
            if let Some(hop) = self.elsewhere(parts, id, peer).await {
                return Ok(match hop {
                    Ok((_, hop)) => upgrade.on_upgrade(move |socket| forward::view(socket, hop)),
                    Err(_) => upgrade.on_upgrade(move |socket| goodbye::refuse(socket, BrowserCodec::Porthole, End::NotViewable)),
                });
            }
        }
        let Some(found) = self.sessions.find(id) else {
            tracing::info!("a viewer named no running session");
            return Ok(upgrade.on_upgrade(move |socket| goodbye::refuse(socket, BrowserCodec::Porthole, End::NotViewable)));
        };
        // The session's own terminal, marked as a view for the audit log.
        let view = format!("{}={id}", shared::porthole::VIEW_PARAM);
        let query = found.uri.query().map_or_else(|| view.clone(), |q| format!("{q}&{view}"));
        let uri = http::Uri::try_from(format!("{}?{query}", found.uri.path())).map_err(|e| RelayError::InvalidChannel(e.to_string()))?;
        let request = authorize::AuthorizeRequest::new(parts).with_uri(uri);
        let authorized = self.authorizer.authorize(&request).await?;
        let subject = audit::Subject::new("viewer", authorized.user.clone(), found.uri.path());
        let audit = Audit::new(self.authorizer.clone(), authorized.audit_id.clone(), self.pending.clone(), subject);
        let app = authorize::Reauthorizer { authorizer: self.authorizer.clone(), request: request.again(authorized.audit_id.as_deref()) };
        let recheck = Recheck { app, channel: authorized.channel, interval: self.reauthorize_interval };
        let ping_interval = self.ping_interval;
        Ok(upgrade.on_upgrade(move |socket| viewer::watch(socket, found, audit, recheck, ping_interval)))
    }

    /// Where session `id`, not held here, runs: `None` when this relay runs
    /// alone or the request was already forwarded once; else the hop to
    /// its owner, or why there is none (4009).
    async fn elsewhere(&self, parts: &http::request::Parts, id: &str, peer: SocketAddr) -> Option<Result<(shared::api::RelaySession, forward::Hop), End>> {
        let me = self.relay_url.as_ref()?;
        if parts.headers.contains_key(forward::FORWARDED_BY_HEADER) {
            return None;
        }
        let Some(session) = self.authorizer.find_session(id).await else {
            tracing::info!("no relay holds the session");
            return Some(Err(End::NotResumable));
        };
        if session.owner == me.as_str() {
            // Registered here, but over: the record outlived it.
            let (authorizer, id) = (self.authorizer.clone(), id.to_string());
            tokio::spawn(async move { authorizer.unregister_session(&id).await });
            return Some(Err(End::NotResumable));
        }
        let path = parts.uri.path_and_query().map_or("", |p| p.as_str());
        let Some(url) = forward::owner_url(&session.owner, path) else { return Some(Err(End::OwnerGone)) };
        let mut headers = HeaderMap::new();
        for name in [header::COOKIE, header::ORIGIN, header::HOST] {
            for value in parts.headers.get_all(&name) {
                headers.append(name.clone(), value.clone());
            }
        }
        let pass = |v: String| http::HeaderValue::from_str(&v).ok();
        headers.extend([
            (http::HeaderName::from_static("x-forwarded-for"), pass(forwarded_for(&parts.headers, peer))),
            (header::SEC_WEBSOCKET_PROTOCOL, pass(shared::porthole::SUBPROTOCOL.to_string())),
            (http::HeaderName::from_static("gitlab-workhorse-api-request"), pass(self.authorizer.sign())),
            (http::HeaderName::from_static(forward::FORWARDED_BY_HEADER), pass(me.to_string())),
        ].into_iter().filter_map(|(k, v)| Some((k, v?))));
        Some(Ok((session, forward::Hop { url, headers, ping_interval: self.ping_interval })))
    }

    /// The session's recording, when the app asked for one and a
    /// recordings directory is set; a file that cannot be created is logged
    /// and the session goes on unrecorded.
    fn recorder(&self, authorized: &authorize::Authorized, size: Option<TerminalSize>) -> Option<recording::Recorder> {
        let (settings, title, id) = (self.recordings.as_ref()?, authorized.recording.clone()?, authorized.audit_id.as_deref()?);
        let size = size.unwrap_or(TerminalSize { cols: 80, rows: 24 });
        recording::Recorder::create(settings, id, size, Some(title))
            .inspect_err(|e| tracing::warn!(error = %e, "the session cannot be recorded"))
            .ok()
    }

    /// A page resuming session `id` (`upgrade` has its subprotocol and
    /// limits): authorized like a new request (a
    /// refusal is 4004, told over the WebSocket so the page stops trying),
    /// only for the user the session was opened by; then the socket joins
    /// the session ([`resume::handshake`]). Anything else is 4009.
    async fn join_session(
        &self,
        upgrade: WebSocketUpgrade,
        parts: &http::request::Parts,
        id: &str,
        size: Option<TerminalSize>,
        peer: SocketAddr,
    ) -> Result<Response, RelayError> {
        if self.sessions.find(id).is_none() {
            if let Some(hop) = self.elsewhere(parts, id, peer).await {
                return Ok(match hop {
                    Ok((session, hop)) => upgrade.on_upgrade(move |socket| forward::resume(socket, session, hop)),
                    Err(end) => upgrade.on_upgrade(move |socket| goodbye::refuse(socket, BrowserCodec::Porthole, end)),
                });
            }
        }
        match self.find_for_resume(parts, id).await? {
            Ok(found) => Ok(upgrade.on_upgrade(move |socket| resume::handshake(socket, found, size))),
            Err(end) => Ok(upgrade.on_upgrade(move |socket| goodbye::refuse(socket, BrowserCodec::Porthole, end))),
        }
    }

    /// The session `id` if this request may resume it, else how to refuse.
    async fn find_for_resume(&self, parts: &http::request::Parts, id: &str) -> Result<Result<resume::Found, End>, RelayError> {
        let Some(found) = self.sessions.find(id) else {
            tracing::info!("a resume named no running session");
            return Ok(Err(End::NotResumable));
        };
        let request = authorize::AuthorizeRequest::new(parts).with_uri(found.uri.clone()).again(found.audit_id.as_deref());
        let authorized = match self.authorizer.authorize(&request).await {
            Ok(authorized) => authorized,
            Err(RelayError::Refused { status, .. }) => {
                tracing::info!(status = status.as_u16(), "a resume was refused by authorize");
                return Ok(Err(End::AccessRevoked));
            }
            Err(e) => return Err(e),
        };
        if authorized.user != found.user {
            tracing::warn!(user = ?authorized.user, owner = ?found.user, "a resume by another user was refused");
            return Ok(Err(End::NotResumable));
        }
        Ok(Ok(found))
    }
}

/// A relay's public name: the first 12 hex digits of its URL's SHA-256.
pub fn relay_name(url: &url::Url) -> String {
    forward::sha256_hex(url.as_str())[..12].to_string()
}

/// Cross-site WebSocket hijacking defence ([`crate::routes::classify_origin`]):
/// a browser's page must be this host's or an allowed one. An upgrade with
/// no `Origin` that carries cookies is refused unless `allow_missing`
/// (`--allow-missing-origin`): browsers always send `Origin` on WebSocket
/// upgrades, so only a non-browser client omits it, and those should
/// authenticate some other way than a browser's cookie.
fn check_origin(headers: &HeaderMap, allowed: &[String], allow_missing: bool) -> Result<(), RelayError> {
    let missing_ok = allow_missing || !headers.contains_key(header::COOKIE);
    if crate::routes::origin_allowed(headers, allowed, missing_ok) {
        Ok(())
    } else {
        let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).unwrap_or("");
        Err(RelayError::ForbiddenOrigin(origin.to_string()))
    }
}

/// `X-Forwarded-For` for the upstream: earlier values joined with `, `, then
/// the browser's address (Workhorse `connectToServer`).
fn forwarded_for(headers: &HeaderMap, peer: SocketAddr) -> String {
    let mut values: Vec<&str> = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect();
    let ip = peer.ip().to_string();
    values.push(&ip);
    values.join(", ")
}

/// Pod and container of a Kubernetes exec URL
/// (`…/pods/<pod>/exec?container=<c>`), for the status line.
fn kube_target(url: &str) -> (Option<String>, Option<String>) {
    let Ok(url) = url::Url::parse(url) else { return (None, None) };
    let segments: Vec<&str> = url.path_segments().map(|s| s.collect()).unwrap_or_default();
    let pod = match segments.as_slice() {
        [.., "pods", pod, "exec"] => Some(pod.to_string()),
        _ => None,
    };
    let container = pod.as_ref().and_then(|_| url.query_pairs().find(|(k, _)| k == "container").map(|(_, v)| v.into_owned()));
    (pod, container)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_must_match_the_host_or_be_allowed() {
        let headers = |origin: &str, host: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ORIGIN, origin.parse().unwrap());
            h.insert(header::HOST, host.parse().unwrap());
            h
        };
        // No Origin: a non-browser client; refused only when it carries cookies.
        assert!(check_origin(&HeaderMap::new(), &[], false).is_ok());
        let mut with_cookie = HeaderMap::new();
        with_cookie.insert(header::COOKIE, "_porthole_session=x".parse().unwrap());
        assert!(check_origin(&with_cookie, &[], false).is_err());
        assert!(check_origin(&with_cookie, &[], true).is_ok());
        assert!(check_origin(&headers("http://127.0.0.1:8080", "127.0.0.1:8080"), &[], false).is_ok());
        assert!(check_origin(&headers("https://porthole.example", "Porthole.example"), &[], false).is_ok());
        // Browsers serialize origins in lower case: anything else is not one.
        assert!(check_origin(&headers("https://Porthole.example", "porthole.example"), &[], false).is_err());
        assert!(check_origin(&headers("https://evil.example", "porthole.example"), &[], false).is_err());
        assert!(check_origin(&headers("http://127.0.0.1:8081", "127.0.0.1:8080"), &[], false).is_err());
        assert!(check_origin(&headers("null", "127.0.0.1:8080"), &[], false).is_err());
        let allowed = ["http://127.0.0.1:8081".to_string()];
        assert!(check_origin(&headers("http://127.0.0.1:8081", "127.0.0.1"), &allowed, false).is_ok());
    }

    #[test]
    fn forwarded_for_appends_the_peer() {
        let peer: SocketAddr = "10.0.0.9:5000".parse().unwrap();
        assert_eq!(forwarded_for(&HeaderMap::new(), peer), "10.0.0.9");
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", "1.1.1.1".parse().unwrap());
        h.append("x-forwarded-for", "2.2.2.2, 3.3.3.3".parse().unwrap());
        assert_eq!(forwarded_for(&h, peer), "1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.9");
    }

    #[test]
    fn pod_and_container_from_exec_urls() {
        assert_eq!(
            kube_target("wss://h:1/api/v1/namespaces/ns/pods/web-1/exec?container=app&command=sh"),
            (Some("web-1".into()), Some("app".into()))
        );
        assert_eq!(kube_target("wss://runner:8093/session/abc/exec"), (None, None));
        assert_eq!(kube_target("not a url"), (None, None));
    }
}
