//! Flow control towards the browser: with `v1.porthole`, the relay stops
//! reading the upstream while more than [`FLOW_WINDOW`] output bytes are
//! unacknowledged by xterm.js, so a slow browser slows the shell instead of
//! growing the relay's memory. (Other subprotocols rely on TCP alone.)

use shared::porthole::FLOW_WINDOW;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Notify;

/// Output bytes in flight to the browser but not yet acknowledged.
pub struct FlowWindow {
    enabled: bool,
    limit: u64,
    unacked: AtomicU64,
    /// Notified at each ack.
    pub acked: Notify,
}

impl FlowWindow {
    /// A window; `enabled` = false for subprotocols without acks (always open).
    pub fn new(enabled: bool) -> FlowWindow {
        FlowWindow::with_limit(enabled, FLOW_WINDOW)
    }

    /// A window of `limit` bytes (a resumable session's: no larger than its
    /// resume buffer).
    pub fn with_limit(enabled: bool, limit: u64) -> FlowWindow {
        FlowWindow { enabled, limit, unacked: AtomicU64::new(0), acked: Notify::new() }
    }

    /// True while fewer than the limit ([`FLOW_WINDOW`] by default) bytes
    /// are unacknowledged.
    pub fn is_open(&self) -> bool {
        !self.enabled || self.unacked.load(Ordering::Acquire) < self.limit
    }

    /// Output bytes not yet acknowledged.
    pub fn unacked(&self) -> u64 {
        self.unacked.load(Ordering::Acquire)
    }

    /// Starts over with `unacked` bytes in flight (a resumed browser that
    /// is sent a replay).
    pub fn reset(&self, unacked: u64) {
        self.unacked.store(unacked, Ordering::Release);
        self.acked.notify_one();
    }

    /// Counts `bytes` of output sent to the browser.
    pub fn sent(&self, bytes: usize) {
        self.unacked.fetch_add(bytes as u64, Ordering::AcqRel);
    }

    /// Idempotent and saturating: acking more than was sent only empties the window.
    pub fn ack(&self, bytes: u64) {
        let _ = self.unacked.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| Some(n.saturating_sub(bytes)));
        // notify_one keeps a permit if the reader is not waiting yet, so an
        // ack between its check and its wait is not lost.
        self.acked.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_opens_and_closes_idempotently() {
        let w = FlowWindow::new(true);
        assert!(w.is_open());
        w.sent(FLOW_WINDOW as usize);
        assert!(!w.is_open());
        w.ack(1);
        assert!(w.is_open());
        w.ack(u64::MAX);
        w.ack(u64::MAX);
        assert!(w.is_open());
        assert_eq!(w.unacked.load(Ordering::Acquire), 0);
        let off = FlowWindow::new(false);
        off.sent(usize::MAX / 2);
        assert!(off.is_open());
    }
}
