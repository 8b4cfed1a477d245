//! Read-only viewers of a running session (`?view=<session id>`).
//!
//! A viewer is authorized like any request for that terminal (the same
//! role check, its own audit entry), then joins the session's loop
//! ([`super::resume::Found::watch`]): the loop answers with a channel that
//! starts with the output it still holds, and carries every later output
//! byte. The loop never waits for a viewer: a viewer whose channel is full
//! is dropped (4011). Keystrokes and resizes from a viewer are dropped here,
//! whatever its page does.

use super::audit::Audit;
use super::goodbye::tell_browser;
use super::resume::{Found, ViewerEvent};
use super::session::{BROWSER_WRITE_TIMEOUT, Traffic};
use crate::codec::browser::BrowserCodec;
use crate::codec::wsframe::to_axum;
use axum::extract::ws::{Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use shared::close::End;
use shared::porthole::ServerMessage;

/// Runs one viewer to its end and reports it to `audit`.
pub async fn watch(browser: WebSocket, found: Found, audit: Audit) {
    let codec = BrowserCodec::Porthole;
    let (mut sink, mut stream) = browser.split();
    let mut traffic = Traffic::default();
    let end = match found.watch().await {
        None => End::NotViewable,
        Some(mut feed) => {
            tracing::info!(owner = ?found.user, "a viewer joined a session");
            let hello = [
                ServerMessage::Connected { pod: None, container: None, expires_at: None, resume: None },
                ServerMessage::Viewing { owner: found.user.clone() },
            ];
            let mut end = None;
            for msg in hello {
                if let Some(frame) = codec.control(&msg) {
                    if sink.send(to_axum(frame)).await.is_err() {
                        end = Some(End::BrowserGone);
                    }
                }
            }
            match end {
                Some(end) => end,
                None => loop {
                    tokio::select! {
                        event = feed.recv() => match event {
                            Some(ViewerEvent::Output(bytes)) => {
                                traffic.bytes_out += bytes.len() as u64;
                                let sent = tokio::time::timeout(BROWSER_WRITE_TIMEOUT, sink.send(to_axum(codec.output(bytes)))).await;
                                if !matches!(sent, Ok(Ok(()))) {
                                    break End::BrowserGone;
                                }
                            }
                            Some(ViewerEvent::End(end)) => break end,
                            // The session dropped this viewer for lagging.
                            None => break End::ViewerBehind,
                        },
                        msg = stream.next() => match msg {
                            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break End::BrowserGone,
                            Some(Ok(Message::Binary(bytes))) => {
                                tracing::debug!(bytes = bytes.len(), "a viewer's keystrokes were dropped");
                            }
                            // Acks, resizes and pongs: a viewer changes nothing.
                            Some(Ok(_)) => {}
                        },
                    }
                },
            }
        }
    };
    tracing::info!(end = ?end, "a viewer left");
    if end != End::BrowserGone {
        tell_browser(&mut sink, &mut stream, codec, &end).await;
    }
    audit.ended(end, traffic);
}
