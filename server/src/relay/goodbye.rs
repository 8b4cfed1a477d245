//! Telling a browser why its session ends: the exit status and the end
//! reason (with `v1.porthole`), then a Close frame with the 4xxx code.

use crate::codec::browser::BrowserCodec;
use crate::codec::wsframe::{axum_close, say_goodbye};
use axum::extract::ws::{Message, WebSocket};
use futures_util::StreamExt;
use futures_util::stream::{SplitSink, SplitStream};
use shared::close::End;
use std::time::Duration;

/// How long to wait for the browser's Close after ours.
pub const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Upgrades a browser only to tell it why there is no session.
pub async fn refuse(browser: WebSocket, codec: BrowserCodec, end: End) {
    let (mut sink, mut stream) = browser.split();
    tell_browser(&mut sink, &mut stream, codec, &end).await;
}

/// Sends the exit status and end reason, then a Close frame, and waits
/// up to [`CLOSE_WAIT`] for the browser's Close.
pub async fn tell_browser(sink: &mut SplitSink<WebSocket, Message>, stream: &mut SplitStream<WebSocket>, codec: BrowserCodec, end: &End) {
    let (frames, code, reason) = codec.goodbye(end);
    say_goodbye(sink, stream, frames, axum_close(code, &reason), CLOSE_WAIT).await;
}
