//! Several relays (`--relay-url`): a resume or a viewer that reaches a relay
//! which does not hold the session is forwarded to the one that does.
//!
//! The owner is found in the app's registry ([`shared::api::RelaySession`]).
//! For a resume, this relay first reads the page's `resume` message and
//! checks the token against the registered SHA-256, so guesses stop here.
//! Then it opens the same terminal URL on the owner — with the page's
//! cookies, `Origin` and `Host`, and a relay JWT in
//! `Gitlab-Workhorse-Api-Request` with `Porthole-Forwarded-By` (the owner
//! refuses a forwarded request without a valid JWT) — and copies frames
//! both ways. The owner authorizes and checks everything as for a direct
//! request. The hop pings the page itself: a page gone silent drops the hop
//! without a Close, so the owner keeps the session for another resume.
//! An owner that cannot be reached ends with 4009 and words that say so; a
//! hop that breaks mid-session drops the page without a Close, so it
//! resumes (through whichever relay) and finds out.
//!
//! The hop carries the page's cookies and a relay JWT: relays must reach
//! each other over a private network (`--relay-url` is `http://` only).

use super::goodbye::refuse;
use super::heartbeat::{self, Heard};
use super::resume::HANDSHAKE_TIMEOUT;
use super::session::BROWSER_WRITE_TIMEOUT;
use crate::codec::browser::BrowserCodec;
use crate::secrets::constant_time_eq;
use axum::extract::ws::{CloseFrame as AxumClose, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use shared::api::RelaySession;
use shared::close::End;
use shared::porthole::{ClientEvent, ClientMessage, decode_client};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message as TungMessage;
use tokio_tungstenite::tungstenite::protocol::CloseFrame as TungClose;

/// The header that marks a request forwarded by another relay (its URL).
pub const FORWARDED_BY_HEADER: &str = "porthole-forwarded-by";

/// How long dialing the owner relay may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// The request to make on the owner relay.
pub struct Hop {
    /// `ws://owner/<path>?<query>`.
    pub url: String,
    /// Cookies, `Origin`, `Host`, `X-Forwarded-For`, the JWT and
    /// `Porthole-Forwarded-By`.
    pub headers: http::HeaderMap,
    /// How often to ping the page.
    pub ping_interval: Duration,
}

/// The owner's WebSocket URL for a request path and query.
pub fn owner_url(owner: &str, path_and_query: &str) -> Option<String> {
    let mut url = url::Url::parse(owner).ok()?;
    let scheme = match url.scheme() {
        "http" => "ws",
        "https" => "wss",
        _ => return None,
    };
    url.set_scheme(scheme).ok()?;
    let base = url.as_str().trim_end_matches('/').to_string();
    Some(format!("{base}{path_and_query}"))
}

/// SHA-256 of `text`, lowercase hex.
pub fn sha256_hex(text: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Forwards a resuming page to the owner, after checking its token.
pub async fn resume(mut browser: WebSocket, session: RelaySession, hop: Hop) {
    let first = match tokio::time::timeout(HANDSHAKE_TIMEOUT, browser.next()).await {
        Ok(Some(Ok(msg))) => msg,
        _ => return refuse(browser, BrowserCodec::Porthole, End::BrowserProtocol("a resuming connection must first send its resume token".into())).await,
    };
    let token_ok = match &first {
        Message::Text(text) => match decode_client(shared::Frame::Text(text.to_string())) {
            Ok(ClientEvent::Control(ClientMessage::Resume { token, .. })) => {
                constant_time_eq(sha256_hex(&token).as_bytes(), session.token_sha256.as_bytes())
            }
            _ => false,
        },
        _ => false,
    };
    if !token_ok {
        tracing::warn!("a forwarded resume gave a wrong token or no resume message");
        return refuse(browser, BrowserCodec::Porthole, End::NotResumable).await;
    }
    pipe(browser, hop, Some(first)).await;
}

/// Forwards a viewer to the owner.
pub async fn view(browser: WebSocket, hop: Hop) {
    pipe(browser, hop, None).await;
}

/// Dials the owner, sends `first`, and copies frames both ways until one
/// side ends.
async fn pipe(browser: WebSocket, hop: Hop, first: Option<Message>) {
    let mut request = match tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(hop.url.as_str()) {
        Ok(request) => request,
        Err(e) => {
            tracing::warn!(error = %e, url = hop.url, "the owner relay's URL is unusable");
            return refuse(browser, BrowserCodec::Porthole, End::OwnerGone).await;
        }
    };
    for (name, value) in &hop.headers {
        // A browser may send several Cookie headers: keep them all; the
        // rest (Host first) replace the request's own.
        if name == http::header::COOKIE {
            request.headers_mut().append(name, value.clone());
        } else {
            request.headers_mut().insert(name, value.clone());
        }
    }
    let dialed = tokio::time::timeout(DIAL_TIMEOUT, tokio_tungstenite::connect_async(request)).await;
    let mut owner = match dialed {
        Ok(Ok((owner, _))) => owner,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, url = hop.url, "the owner relay could not be reached");
            return refuse(browser, BrowserCodec::Porthole, End::OwnerGone).await;
        }
        Err(_) => {
            tracing::warn!(url = hop.url, "the owner relay did not answer in time");
            return refuse(browser, BrowserCodec::Porthole, End::OwnerGone).await;
        }
    };
    if let Some(first) = first.and_then(to_owner) {
        if owner.send(first).await.is_err() {
            return refuse(browser, BrowserCodec::Porthole, End::OwnerGone).await;
        }
    }
    tracing::info!(url = hop.url, "forwarding to the owner relay");
    let (mut bsink, mut bstream) = browser.split();
    let (mut osink, mut ostream) = owner.split();
    let heard = Heard::new();
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + hop.ping_interval, hop.ping_interval);
    loop {
        tokio::select! {
            msg = bstream.next() => match msg {
                Some(Ok(msg)) => {
                    heard.now();
                    let close = matches!(msg, Message::Close(_));
                    if let Some(msg) = to_owner(msg) {
                        if osink.send(msg).await.is_err() {
                            break;
                        }
                    }
                    if close {
                        // Let the owner's answer through, briefly.
                        let _ = tokio::time::timeout(Duration::from_secs(5), async {
                            while let Some(Ok(msg)) = ostream.next().await {
                                if let Some(msg) = to_browser(msg) {
                                    let _ = bsink.send(msg).await;
                                }
                            }
                        })
                        .await;
                        break;
                    }
                }
                // Lost without a Close: drop the hop the same way, so the
                // owner keeps the session for a resume.
                None | Some(Err(_)) => break,
            },
            msg = ostream.next() => match msg {
                Some(Ok(msg)) => {
                    let close = matches!(msg, TungMessage::Close(_));
                    if let Some(msg) = to_browser(msg) {
                        let sent = tokio::time::timeout(BROWSER_WRITE_TIMEOUT, bsink.send(msg)).await;
                        if !matches!(sent, Ok(Ok(()))) {
                            break;
                        }
                    }
                    if close {
                        break;
                    }
                }
                // The hop broke (the owner may live on): drop the page
                // without a Close, so it resumes; a dead owner is then told
                // at the next dial.
                None | Some(Err(_)) => {
                    tracing::warn!(url = hop.url, "the hop to the owner relay broke");
                    return;
                }
            },
            _ = ping.tick() => {
                if heartbeat::is_gone(heard.since(), hop.ping_interval) {
                    break;
                }
                let sent = tokio::time::timeout(BROWSER_WRITE_TIMEOUT, bsink.send(Message::Ping(Default::default()))).await;
                if !matches!(sent, Ok(Ok(()))) {
                    break;
                }
            }
        }
    }
}

/// A page's frame for the owner (pings and pongs stay on their hop).
fn to_owner(msg: Message) -> Option<TungMessage> {
    Some(match msg {
        Message::Text(t) => TungMessage::Text(t.as_str().into()),
        Message::Binary(b) => TungMessage::Binary(b),
        Message::Close(frame) => TungMessage::Close(frame.map(|f| TungClose { code: f.code.into(), reason: f.reason.as_str().into() })),
        Message::Ping(_) | Message::Pong(_) => return None,
    })
}

/// An owner's frame for the page.
fn to_browser(msg: TungMessage) -> Option<Message> {
    Some(match msg {
        TungMessage::Text(t) => Message::Text(t.as_str().into()),
        TungMessage::Binary(b) => Message::Binary(b),
        TungMessage::Close(frame) => Message::Close(frame.map(|f| AxumClose { code: f.code.into(), reason: f.reason.as_str().into() })),
        TungMessage::Ping(_) | TungMessage::Pong(_) | TungMessage::Frame(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_urls_and_hashes() {
        assert_eq!(owner_url("http://10.0.0.5:8080", "/a/-/environments/1/terminal.ws?resume=x").as_deref(), Some("ws://10.0.0.5:8080/a/-/environments/1/terminal.ws?resume=x"));
        assert_eq!(owner_url("https://r1.internal/", "/t.ws").as_deref(), Some("wss://r1.internal/t.ws"));
        assert_eq!(owner_url("ftp://x", "/t.ws"), None);
        assert_eq!(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
