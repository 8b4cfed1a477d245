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
use super::authorize::Reauthorizer;
use super::heartbeat::{self, Heard};
use super::recheck::Recheck;
use super::goodbye::tell_browser;
use super::resume::{Found, ViewerEvent};
use super::session::{BROWSER_WRITE_TIMEOUT, Traffic};
use crate::codec::browser::BrowserCodec;
use crate::codec::wsframe::to_axum;
use axum::extract::ws::{Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use shared::close::End;
use shared::porthole::ServerMessage;

/// Counts a viewer out when it goes, whichever way.
struct Watching(metrics::Gauge);

impl Drop for Watching {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// Runs one viewer to its end and reports it to `audit`. The viewer is
/// re-authorized as a session is (`recheck`: a revoked viewer stops
/// watching, 4004) and pinged every `ping_interval` (a silent one goes).
pub async fn watch(browser: WebSocket, found: Found, audit: Audit, recheck: Recheck<Reauthorizer>, ping_interval: std::time::Duration) {
    let codec = BrowserCodec::Porthole;
    let (mut sink, mut stream) = browser.split();
    let mut traffic = Traffic::default();
    let mut left = None;
    let end = match found.watch().await {
        None => End::NotViewable,
        Some((mut feed, leaving)) => {
            left = Some(leaving);
            tracing::info!(owner = ?found.user, "a viewer joined a session");
            let viewers = metrics::gauge!(crate::prometheus::VIEWERS_ACTIVE);
            viewers.increment(1.0);
            let _watching = Watching(viewers);
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
            let (limits, _) = tokio::sync::mpsc::channel(1);
            let rechecked = recheck.watch(tokio::time::Instant::now(), limits);
            tokio::pin!(rechecked);
            let heard = Heard::new();
            let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_interval, ping_interval);
            match end {
                Some(end) => end,
                None => loop {
                    tokio::select! {
                        end = &mut rechecked => break end,
                        _ = ping.tick() => {
                            if heartbeat::is_gone(heard.since(), ping_interval) {
                                break End::BrowserGone;
                            }
                            let sent = tokio::time::timeout(BROWSER_WRITE_TIMEOUT, sink.send(Message::Ping(Default::default()))).await;
                            if !matches!(sent, Ok(Ok(()))) {
                                break End::BrowserGone;
                            }
                        }
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
                        msg = stream.next() => match msg.inspect(|m| if m.is_ok() { heard.now() }) {
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
    tracing::debug!(end = ?end, "a viewer left");
    // The feed is gone by now: the session counts this viewer out at once.
    if let Some(left) = left {
        left.notify_one();
    }
    if end != End::BrowserGone {
        tell_browser(&mut sink, &mut stream, codec, &end).await;
    }
    audit.ended(end, traffic);
}
