//! Which URLs are terminal WebSocket endpoints, and which are not.
//!
//! GitLab Workhorse `internal/upstream/routes.go`: a project path of two or
//! more segments, then `-/environments/<n>/terminal.ws` or
//! `-/jobs/<n>/terminal.ws` (the grammar is [`shared::paths`], which the
//! browser's router uses too). Only those take a WebSocket upgrade; an upgrade
//! anywhere else is refused with 400 "websocket upgrade not allowed"
//! ([`deny_websocket`]). Their `/authorize` goes to the app, as does an
//! environment's `terminals.json`.

use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use shared::paths::{Suffix, TerminalTarget};

pub use shared::paths::TerminalKind;

/// A classified request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/<project>/-/environments/<id>/terminal.ws`: the relay.
    TerminalWs {
        /// `namespace/project` (nested groups allowed).
        project: String,
        /// Environment or job.
        kind: TerminalKind,
        /// Its id.
        id: u64,
    },
    /// `/<project>/-/environments/<id>/terminal.ws/authorize`: the app.
    TerminalAuthorize {
        /// `namespace/project`.
        project: String,
        /// Environment or job.
        kind: TerminalKind,
        /// Its id.
        id: u64,
    },
    /// `/<project>/-/environments/<id>/terminals.json`: the app's list of
    /// the environment's terminals.
    TerminalsJson {
        /// `namespace/project`.
        project: String,
        /// Environment id.
        id: u64,
    },
    /// Anything else.
    Other,
}

/// Classifies a request path with the grammar in [`shared::paths`].
pub fn classify(path: &str) -> Route {
    if let Some(t) = TerminalTarget::parse_as(path, Suffix::TerminalWs) {
        return Route::TerminalWs { project: t.project, kind: t.kind, id: t.id };
    }
    if let Some(t) = TerminalTarget::parse_as(path, Suffix::Authorize) {
        return Route::TerminalAuthorize { project: t.project, kind: t.kind, id: t.id };
    }
    match TerminalTarget::parse_as(path, Suffix::TerminalsJson) {
        Some(t) if t.kind == TerminalKind::Environment => Route::TerminalsJson { project: t.project, id: t.id },
        _ => Route::Other,
    }
}

/// True when the request asks for a WebSocket upgrade: `Connection` holds the
/// token `upgrade` and `Upgrade` holds `websocket` (case-insensitive).
pub fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    let has_token = |name: http::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    has_token(http::header::CONNECTION, "upgrade") && has_token(http::header::UPGRADE, "websocket")
}

/// Where a request says it comes from, by its `Origin` header (RFC 6454)
/// and, without one, `Sec-Fetch-Site`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A page of this host (`Origin` names the `Host` it connected to).
    Same,
    /// A page of an origin in `--allowed-origins`.
    Allowed,
    /// No `Origin` and no sign of a cross-site page: a non-browser client,
    /// or an old browser's same-origin GET.
    Missing,
    /// Anything else: another site, `null`, or a value no browser sends
    /// (a path, a trailing `/`, upper case).
    Foreign(String),
}

/// Classifies a request's origin. A browser sends its origin serialized
/// (`scheme://host[:port]`, lower case, no default port, no path); only that
/// exact form can match, so `http://host:port/` and `HTTP://HOST:PORT` are
/// [`Origin::Foreign`]. `allowed` entries are compared after the same
/// serialization. Without `Origin`, `Sec-Fetch-Site: cross-site` is foreign.
pub fn classify_origin(headers: &HeaderMap, allowed: &[String]) -> Origin {
    let Some(origin) = headers.get(http::header::ORIGIN) else {
        let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()).unwrap_or("");
        return if site.eq_ignore_ascii_case("cross-site") { Origin::Foreign("(cross-site, no Origin)".into()) } else { Origin::Missing };
    };
    let origin = origin.to_str().unwrap_or("");
    let foreign = || Origin::Foreign(origin.chars().take(200).collect());
    let Some(serialized) = serialized_origin(origin).filter(|s| s == origin) else { return foreign() };
    if allowed.iter().any(|a| serialized_origin(a).is_some_and(|a| a == serialized)) {
        return Origin::Allowed;
    }
    // The Host the browser connected to, serialized with the origin's
    // scheme: `x:443` is `https://x`, as the browser's origin says it.
    let host = headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let scheme = serialized.split_once("://").map_or("", |(s, _)| s);
    let same = !host.is_empty() && serialized_origin(&format!("{scheme}://{host}")).is_some_and(|own| own == serialized);
    if same { Origin::Same } else { foreign() }
}

/// Parses an `--allowed-origins` entry: `scheme://host[:port]` (http or
/// https), returned as a browser serializes it.
pub fn parse_allowed_origin(value: &str) -> Result<String, String> {
    serialized_origin(value).ok_or_else(|| format!("{value:?}: not an origin like https://host or http://host:8081"))
}

/// `scheme://host[:port]` as a browser serializes it, for http(s) URLs.
fn serialized_origin(value: &str) -> Option<String> {
    let url = url::Url::parse(value.trim()).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.origin().ascii_serialization())
}

/// True when a request may act with the browser's cookies: same origin or
/// allowed, or no origin at all when `missing_ok`.
pub fn origin_allowed(headers: &HeaderMap, allowed: &[String], missing_ok: bool) -> bool {
    match classify_origin(headers, allowed) {
        Origin::Same | Origin::Allowed => true,
        Origin::Missing => missing_ok,
        Origin::Foreign(_) => false,
    }
}

/// Middleware: a request that changes state (not GET, HEAD or OPTIONS) from
/// another site's page gets 403 — a form or script elsewhere cannot start
/// jobs here.
pub async fn deny_cross_site_writes(
    axum::extract::State(allowed): axum::extract::State<std::sync::Arc<Vec<String>>>,
    request: Request,
    next: Next,
) -> Response {
    let safe = matches!(*request.method(), http::Method::GET | http::Method::HEAD | http::Method::OPTIONS);
    // Without Origin a write is a non-browser client's, unless
    // Sec-Fetch-Site says a cross-site page sent it.
    if !safe && !origin_allowed(request.headers(), &allowed, true) {
        tracing::info!(path = request.uri().path(), "refused a cross-site write");
        return (StatusCode::FORBIDDEN, "cross-site request refused\n").into_response();
    }
    next.run(request).await
}

/// Middleware: a WebSocket upgrade to anything but a terminal endpoint gets
/// 400 "websocket upgrade not allowed".
pub async fn deny_websocket(request: Request, next: Next) -> Response {
    if is_websocket_upgrade(request.headers()) && !matches!(classify(request.uri().path()), Route::TerminalWs { .. }) {
        tracing::info!(path = request.uri().path(), "refused a WebSocket upgrade to a non-terminal path");
        return (StatusCode::BAD_REQUEST, "websocket upgrade not allowed\n").into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_paths() {
        let ws = |project: &str, id| Route::TerminalWs { project: project.into(), kind: TerminalKind::Environment, id };
        assert_eq!(classify("/demo/shop/-/environments/1/terminal.ws"), ws("demo/shop", 1));
        assert_eq!(classify("/a/b/c/-/environments/42/terminal.ws"), ws("a/b/c", 42));
        assert_eq!(
            classify("/demo/shop/-/environments/1/terminal.ws/authorize"),
            Route::TerminalAuthorize { project: "demo/shop".into(), kind: TerminalKind::Environment, id: 1 }
        );
        assert_eq!(
            classify("/demo/shop/-/jobs/7/terminal.ws"),
            Route::TerminalWs { project: "demo/shop".into(), kind: TerminalKind::Job, id: 7 }
        );
        assert_eq!(
            classify("/demo/shop/-/environments/1/terminals.json"),
            Route::TerminalsJson { project: "demo/shop".into(), id: 1 }
        );
    }

    #[test]
    fn other_paths() {
        for path in [
            "/",
            "/demo/shop/-/environments/1/terminal",
            "/shop/-/environments/1/terminal.ws",
            "/demo/shop/-/environments/x/terminal.ws",
            "/demo/shop/-/environments/+1/terminal.ws",
            "/demo/shop/-/environments//terminal.ws",
            "/demo//shop/-/environments/1/terminal.ws",
            "/demo/shop/-/jobs/1/terminal.ws/extra",
            "/demo/shop/-/jobs/1/terminals.json",
            "/demo/shop/-/pipelines/1/terminal.ws",
            "/demo/shop/-/environments/99999999999999999999999/terminal.ws",
        ] {
            assert_eq!(classify(path), Route::Other, "{path}");
        }
    }

    #[test]
    fn origins_must_be_serialized_exactly() {
        let headers = |origin: Option<&str>, site: Option<&str>| {
            let mut h = HeaderMap::new();
            h.insert("host", "porthole.example:8080".parse().unwrap());
            if let Some(o) = origin {
                h.insert("origin", o.parse().unwrap());
            }
            if let Some(s) = site {
                h.insert("sec-fetch-site", s.parse().unwrap());
            }
            h
        };
        let allowed = vec!["https://Dev.Example/".to_string()];
        let of = |o, s| classify_origin(&headers(o, s), &allowed);
        assert_eq!(of(Some("http://porthole.example:8080"), None), Origin::Same);
        assert_eq!(of(Some("https://dev.example"), None), Origin::Allowed);
        assert_eq!(of(None, None), Origin::Missing);
        assert_eq!(of(None, Some("same-origin")), Origin::Missing);
        assert!(matches!(of(None, Some("cross-site")), Origin::Foreign(_)));
        for foreign in [
            "http://porthole.example:8080/",
            "HTTP://PORTHOLE.EXAMPLE:8080",
            "http://porthole.example:8080/path",
            "http://porthole.example:8081",
            "https://evil.example",
            "null",
            "",
        ] {
            assert!(matches!(of(Some(foreign), None), Origin::Foreign(_)), "{foreign}");
        }
        let with_host = |host: &str, origin: &str| {
            let mut h = HeaderMap::new();
            h.insert("host", host.parse().unwrap());
            h.insert("origin", origin.parse().unwrap());
            classify_origin(&h, &[])
        };
        assert_eq!(with_host("p.example:443", "https://p.example"), Origin::Same, "a default port");
        assert_eq!(with_host("P.example", "https://p.example"), Origin::Same);
        assert_eq!(with_host("[::1]:8080", "http://[::1]:8080"), Origin::Same);
        assert!(parse_allowed_origin("localhost:8081").is_err());
        assert_eq!(parse_allowed_origin("HTTP://Dev.Example:80/").unwrap(), "http://dev.example");
        assert!(!origin_allowed(&headers(None, None), &allowed, false));
        assert!(origin_allowed(&headers(None, None), &allowed, true));
    }

    #[test]
    fn upgrade_detection_reads_token_lists() {
        let mut h = HeaderMap::new();
        assert!(!is_websocket_upgrade(&h));
        h.insert("connection", "keep-alive, Upgrade".parse().unwrap());
        h.insert("upgrade", "WebSocket".parse().unwrap());
        assert!(is_websocket_upgrade(&h));
        h.insert("upgrade", "h2c".parse().unwrap());
        assert!(!is_websocket_upgrade(&h));
    }
}
