//! Dialing the upstream WebSocket named by the Channel settings: its URL, its
//! headers, its subprotocols in order, and `CAPem` as the only trusted roots
//! when set (so a runner's self-signed certificate is pinned).

use crate::codec::upstream::UpstreamCodec;
use shared::channel::ChannelSettings;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

/// An upstream connection.
pub type Upstream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Largest message accepted from an upstream (1 MiB).
pub const MAX_UPSTREAM_MESSAGE: usize = 1 << 20;

/// How long the TCP connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// How long TLS and the WebSocket handshake may take once connected: longer
/// than a session server's one-minute wait for a job's terminal, so its 503
/// is what the user hears about, not our impatience.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(75);

/// Dials the upstream; `forwarded_for` becomes its `X-Forwarded-For`.
pub async fn dial(channel: &ChannelSettings, forwarded_for: &str) -> Result<(Upstream, UpstreamCodec), Failure> {
    let mut request = channel.url.as_str().into_client_request().map_err(|e| Failure::InvalidChannel(format!("Url: {e}")))?;
    let headers = request.headers_mut();
    let offer = channel.subprotocols.join(", ");
    let bad = |what: &str| Failure::InvalidChannel(format!("bad header value in {what}"));
    headers.insert("sec-websocket-protocol", HeaderValue::from_str(&offer).map_err(|_| bad("Subprotocols"))?);
    for (name, values) in &channel.header {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad("Header"))?;
        for value in values {
            headers.append(name.clone(), HeaderValue::from_str(value).map_err(|_| bad("Header"))?);
        }
    }
    headers.insert("x-forwarded-for", HeaderValue::from_str(forwarded_for).map_err(|_| bad("X-Forwarded-For"))?);

    let connector = if channel.url.starts_with("wss://") {
        Connector::Rustls(crate::tls::client_config(&channel.ca_pem).map_err(|e| Failure::InvalidChannel(e.to_string()))?)
    } else {
        Connector::Plain
    };
    // Kubernetes sends output in frames of a few KiB; a bounded message size
    // keeps one frame from overshooting the flow window by much.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_UPSTREAM_MESSAGE))
        .max_frame_size(Some(MAX_UPSTREAM_MESSAGE))
        .read_buffer_size(crate::codec::wsframe::READ_BUFFER);
    // Words for the user name the kind of upstream, never its address.
    let peer = if channel.subprotocols.iter().any(|p| shared::k8s::Protocol::from_name(p).is_some()) {
        "the cluster"
    } else {
        "the job's session server"
    };
    let url = url::Url::parse(&channel.url).map_err(|e| Failure::InvalidChannel(format!("Url: {e}")))?;
    let host = url.host_str().ok_or_else(|| Failure::InvalidChannel("Url has no host".into()))?.trim_matches(['[', ']']);
    let port = url.port_or_known_default().unwrap_or(443);
    let tcp = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port))).await {
        Err(_) => return Err(DialError::new(format!("timed out connecting to {peer}"), "TCP connect timed out").into()),
        Ok(Err(e)) => return Err(DialError::new(format!("{peer} is unreachable"), e.to_string()).into()),
        Ok(Ok(tcp)) => tcp,
    };
    let _ = tcp.set_nodelay(true);
    let handshake = tokio_tungstenite::client_async_tls_with_config(request, tcp, Some(config), Some(connector));
    let (upstream, response) = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Err(_) => return Err(DialError::new(format!("timed out connecting to {peer}"), "handshake timed out").into()),
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(response))) => {
            let status = response.status();
            let body = response.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default();
            let public = match status.as_u16() {
                401 => format!("{peer} rejected the relay's credentials (401 Unauthorized)"),
                403 if peer == "the cluster" => {
                    "the cluster forbids exec into this pod (403 Forbidden): the credentials need get and create on pods/exec".to_string()
                }
                404 if peer == "the cluster" => "the pod or container was not found (404)".to_string(),
                404 => "the job's terminal session is gone (404)".to_string(),
                423 => "another terminal is already attached to this job (423)".to_string(),
                503 => "the job's terminal is not ready yet (503)".to_string(),
                _ => format!("{peer} refused the terminal ({status})"),
            };
            return Err(DialError::new(public, format!("upstream answered {status}: {}", body.trim())).into());
        }
        Ok(Err(e)) => {
            let detail = e.to_string();
            let lower = detail.to_lowercase();
            let public = if lower.contains("certificate") || lower.contains("tls") {
                format!("TLS failure connecting to {peer} (check its CA certificate)")
            } else {
                format!("{peer} is unreachable")
            };
            return Err(DialError::new(public, detail).into());
        }
        Ok(Ok(pair)) => pair,
    };
    let negotiated = response.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok()).unwrap_or("");
    let codec = UpstreamCodec::from_subprotocol(negotiated).filter(|_| channel.subprotocols.iter().any(|s| s == negotiated)).ok_or_else(
        || DialError::new(format!("{peer} chose no usable terminal protocol"), format!("upstream chose subprotocol {negotiated:?}")),
    )?;
    Ok((upstream, codec))
}

/// Why dialing failed: words for the user (no URL, no credentials) and the
/// details for the log.
#[derive(Debug, Clone)]
pub struct DialError {
    /// Safe to show in the browser.
    pub public: String,
    /// For the log only.
    pub detail: String,
}

impl DialError {
    fn new(public: impl Into<String>, detail: impl Into<String>) -> DialError {
        DialError { public: public.into(), detail: detail.into() }
    }
}

/// Why [`dial`] gave no upstream.
#[derive(Debug, Clone)]
pub enum Failure {
    /// The Channel settings cannot be dialed (bad URL, header or CA): 500.
    InvalidChannel(String),
    /// The upstream could not be reached or refused: 502.
    Dial(DialError),
}

impl From<DialError> for Failure {
    fn from(e: DialError) -> Failure {
        Failure::Dial(e)
    }
}
