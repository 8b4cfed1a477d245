//! GitLab Runner's `[session_server]` configuration section.

use serde::Deserialize;
use std::net::SocketAddr;
use std::time::Duration;

/// GitLab Runner's `[session_server]` section, plus how to reach the app.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionServerConfig {
    /// `listen_address`: where to listen, e.g. `127.0.0.1:8093` (port 0: any).
    pub listen_address: SocketAddr,
    /// `advertise_address`: `host:port` the app's relay dials, without a
    /// scheme; default the listen address (with the bound port).
    #[serde(default)]
    pub advertise_address: Option<String>,
    /// `session_timeout`: seconds the terminal stays available after the
    /// script ends (and the job waits for it); default 1800.
    #[serde(default = "default_session_timeout")]
    pub session_timeout: u64,
    /// How long an exec request waits for the job's terminal to be ready
    /// before answering 503 (GitLab Runner: 1 minute).
    #[serde(default = "default_terminal_wait", with = "seconds")]
    pub terminal_wait: Duration,
    /// How often to ask the app for a job.
    #[serde(default = "default_poll", with = "seconds")]
    pub poll_interval: Duration,
}

fn default_session_timeout() -> u64 {
    1800
}

fn default_terminal_wait() -> Duration {
    Duration::from_secs(60)
}

fn default_poll() -> Duration {
    Duration::from_secs(2)
}

mod seconds {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Duration::try_from_secs_f64(f64::deserialize(d)?).map_err(|e| serde::de::Error::custom(format!("seconds: {e}")))
    }
}

impl SessionServerConfig {
    /// Defaults on `listen_address`.
    pub fn new(listen_address: SocketAddr) -> SessionServerConfig {
        SessionServerConfig {
            listen_address,
            advertise_address: None,
            session_timeout: default_session_timeout(),
            terminal_wait: default_terminal_wait(),
            poll_interval: default_poll(),
        }
    }
}
