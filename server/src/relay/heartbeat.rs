//! Browser-silence detection: browsers answer pings by themselves, so a
//! browser not heard from (any frame, pongs included) for two ping
//! intervals is gone, even when its TCP connection never said so.

use std::time::Duration;

/// When the browser was last heard from (any frame, pongs included).
pub struct Heard(std::sync::Mutex<tokio::time::Instant>);

impl Heard {
    /// Heard now.
    pub fn new() -> Heard {
        Heard(std::sync::Mutex::new(tokio::time::Instant::now()))
    }

    /// The browser was just heard from.
    pub fn now(&self) {
        if let Ok(mut at) = self.0.lock() {
            *at = tokio::time::Instant::now();
        }
    }

    /// How long ago the browser was last heard from.
    pub fn since(&self) -> Duration {
        self.0.lock().map(|at| at.elapsed()).unwrap_or_default()
    }
}

impl Default for Heard {
    fn default() -> Self {
        Heard::new()
    }
}

/// True when silence for `since` means the browser is gone, with pings
/// every `ping_interval`: two intervals and 5 s of slack.
pub fn is_gone(since: Duration, ping_interval: Duration) -> bool {
    since > ping_interval * 2 + Duration::from_secs(5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_missed_pings_and_slack_mean_gone() {
        let ping = Duration::from_secs(30);
        assert!(!is_gone(Duration::from_secs(65), ping));
        assert!(is_gone(Duration::from_secs(66), ping));
    }
}
