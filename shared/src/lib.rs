//! Porthole's wire format, in one place, for the server and the browser app.
//!
//! Every byte that crosses a WebSocket in Porthole is described here and
//! nowhere else:
//!
//! - [`frame`]: a WebSocket data message, independent of any WebSocket library,
//!   so that the codecs below compile for `wasm32` and native alike.
//! - [`porthole`]: the browser ↔ relay subprotocol `v1.porthole` — raw terminal
//!   bytes in binary frames, JSON control messages (resize, flow-control ack,
//!   session info, exit status, end reason) in text frames.
//! - [`gitlab`]: GitLab's `terminal.gitlab.com` and `base64.terminal.gitlab.com`
//!   (browser ↔ relay, and relay ↔ runner session server).
//! - [`k8s`]: the Kubernetes exec channel protocols (`v5.channel.k8s.io` …
//!   `base64.channel.k8s.io`): channel framing, resize, status.
//! - [`channel`]: the authorize contract between the relay and the app —
//!   GitLab Workhorse's `Channel` settings.
//! - [`close`]: the 4xxx close codes a session ends with, and their reasons.
//! - [`api`]: the app's `/api/v4` JSON (users, projects, members,
//!   environments, clusters, application settings, the audit log, roles,
//!   the terminals.json entry, errors).
//! - [`jobs`]: CI jobs — the jobs API and the runner API between the app and
//!   a session server.
//! - [`paths`]: the terminal URL grammar (`/<project>/-/environments/<id>/…`),
//!   one parse and format for the server's router and the browser's.
//! - [`utf8`]: where output may be cut without splitting a character.
//!
//! Nothing here does I/O; every codec is a pure function with unit tests.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod asciicast;
pub mod channel;
pub mod close;
pub mod frame;
pub mod gitlab;
pub mod jobs;
pub mod k8s;
pub mod paths;
pub mod porthole;
pub mod utf8;

pub use frame::{DecodeError, Frame};
