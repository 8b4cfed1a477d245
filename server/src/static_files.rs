//! The frontend's files (`--dist-dir`, trunk's output): `index.html` for
//! any path that is not a file, so the client-side router takes it, with
//! caching that never mixes two versions of the page.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::path::Path;
use tower::ServiceExt;

/// Serves `request` from `dist`; 503 when the frontend is not built.
pub async fn serve(dist: &Path, request: Request) -> Response {
    let index = dist.join("index.html");
    if !index.exists() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the frontend is not built: {} is missing (run `make run`)\n", index.display()),
        )
            .into_response();
    }
    let caching = cache_control(request.uri().path());
    let serve = tower_http::services::ServeDir::new(dist).fallback(tower_http::services::ServeFile::new(index));
    match serve.oneshot(request).await {
        Ok(mut response) => {
            if response.status().is_success() {
                response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(caching));
            }
            response.into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// How long a browser may keep a frontend file: for ever when trunk put a
/// content hash in its name (`app-1c159b6d5725bb90.css`), otherwise only
/// as long as the server says it is unchanged (`index.html`, the xterm.js
/// modules copied as they are), so an upgrade is never half-seen.
fn cache_control(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or("");
    let stem = name.split('.').next().unwrap_or("");
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    let hashed = stem.rsplit_once('-').is_some_and(|(_, hash)| (8..=16).contains(&hash.len()) && hash.bytes().all(|b| b.is_ascii_hexdigit()));
    if hashed { "public, max-age=31536000, immutable" } else { "no-cache" }
}

#[cfg(test)]
mod tests {
    use super::cache_control;

    #[test]
    fn hashed_files_are_kept_others_revalidated() {
        for path in ["/xterm-1c159b6d5725bb90.css", "/porthole-frontend-b5db1ae5481cf3cf_bg.wasm", "/addon-web-links-22c5988fe53ed94.js"] {
            assert_eq!(cache_control(path), "public, max-age=31536000, immutable", "{path}");
        }
        for path in ["/", "/index.html", "/xterm.mjs", "/addon-web-links.mjs", "/demo/shop/-/environments/1/terminal", "/addon-fit-x.js"] {
            assert_eq!(cache_control(path), "no-cache", "{path}");
        }
    }
}
