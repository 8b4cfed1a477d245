//! The codec adapters: what a frame means on each side of a terminal
//! session, so that the loops that move frames never know which
//! subprotocol they carry (Workhorse's `wrappers.go`).
//!
//! - [`browser`]: the subprotocols browsers speak (`v1.porthole`,
//!   `terminal.gitlab.com`, its base64 variant) — used by the relay towards
//!   browsers and by the session server towards relays;
//! - [`upstream`]: the subprotocols upstreams speak (the Kubernetes exec
//!   channel protocols, and the browser ones when the upstream is a session
//!   server) — used by the relay;
//! - [`wsframe`]: axum/tungstenite messages ⇄ [`shared::Frame`], and the
//!   goodbye every server-side socket ends with.
//!
//! The wire formats themselves live in the `shared` crate; this module only
//! adapts them to the server's WebSocket libraries.

pub mod browser;
pub mod upstream;
pub mod wsframe;
