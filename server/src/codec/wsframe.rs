//! Conversions between the WebSocket libraries' messages and [`shared::Frame`].
//!
//! axum's `Message` (browser side, local cluster) and tungstenite's `Message`
//! (the relay's upstream client) both wrap `Bytes`, so no payload is copied.

use axum::extract::ws::Message as AxumMessage;
use shared::Frame;
use tokio_tungstenite::tungstenite::Message as TungMessage;

/// Each WebSocket's read buffer, bytes (tungstenite's `read_buffer_size`,
/// default 128 KiB). tungstenite zero-fills the whole buffer before each
/// read, so its size is resident memory for every open socket — and a
/// terminal session has three (browser, upstream, and the local cluster's
/// side). Terminal frames are a few KiB; a larger one still arrives whole
/// (the buffer grows to fit it).
pub const READ_BUFFER: usize = 16 << 10;

/// A data frame from an axum message; `None` for control frames.
pub fn from_axum(msg: AxumMessage) -> Option<Frame> {
    match msg {
        AxumMessage::Text(text) => Some(Frame::Text(text.as_str().to_owned())),
        AxumMessage::Binary(bytes) => Some(Frame::Binary(bytes)),
        _ => None,
    }
}

/// An axum message for a data frame.
pub fn to_axum(frame: Frame) -> AxumMessage {
    match frame {
        Frame::Text(text) => AxumMessage::Text(text.into()),
        Frame::Binary(bytes) => AxumMessage::Binary(bytes),
    }
}

/// A data frame from a tungstenite message; `None` for control frames.
pub fn from_tungstenite(msg: TungMessage) -> Option<Frame> {
    match msg {
        TungMessage::Text(text) => Some(Frame::Text(text.as_str().to_owned())),
        TungMessage::Binary(bytes) => Some(Frame::Binary(bytes)),
        _ => None,
    }
}

/// A tungstenite message for a data frame.
pub fn to_tungstenite(frame: Frame) -> TungMessage {
    match frame {
        Frame::Text(text) => TungMessage::Text(text.into()),
        Frame::Binary(bytes) => TungMessage::Binary(bytes),
    }
}

/// An axum Close message with a code and a reason cut to fit the frame.
pub fn axum_close(code: u16, reason: &str) -> AxumMessage {
    AxumMessage::Close(Some(axum::extract::ws::CloseFrame {
        code,
        reason: shared::close::truncate_reason(reason).into(),
    }))
}

/// Ends a server-side WebSocket: sends `frames` (the last words: exit
/// status, end reason), then `close`, and waits for the peer's Close so
/// that nothing buffered is cut off — all within `limit`.
pub async fn say_goodbye<S>(sink: &mut S, stream: &mut (impl futures_util::Stream<Item = Result<AxumMessage, axum::Error>> + Unpin), frames: Vec<Frame>, close: AxumMessage, limit: std::time::Duration)
where
    S: futures_util::Sink<AxumMessage, Error = axum::Error> + Unpin,
{
    use futures_util::{SinkExt, StreamExt};
    let _ = tokio::time::timeout(limit, async {
        for frame in frames {
            sink.send(to_axum(frame)).await?;
        }
        sink.send(close).await?;
        while let Some(Ok(msg)) = stream.next().await {
            if matches!(msg, AxumMessage::Close(_)) {
                break;
            }
        }
        Ok::<(), axum::Error>(())
    })
    .await;
}

/// The subprotocols a WebSocket client offered, in its order
/// (`Sec-WebSocket-Protocol`, comma-separated, possibly in several headers).
pub fn offered_subprotocols(headers: &http::HeaderMap) -> Vec<String> {
    headers
        .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}
