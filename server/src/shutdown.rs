//! A shutdown signal every long-lived task listens to.

use tokio::sync::watch;

/// Cloneable handle: [`Shutdown::wait`] resolves once [`Shutdown::trigger`]
/// was called on any clone.
#[derive(Clone, Debug)]
pub struct Shutdown {
    tx: std::sync::Arc<watch::Sender<bool>>,
    rx: watch::Receiver<bool>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

impl Shutdown {
    /// A signal not yet triggered.
    pub fn new() -> Shutdown {
        let (tx, rx) = watch::channel(false);
        Shutdown { tx: std::sync::Arc::new(tx), rx }
    }

    /// Triggers the signal for every clone.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// True once the signal was triggered.
    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves when the signal is triggered (at once if it already was).
    pub async fn wait(&self) {
        let mut rx = self.rx.clone();
        // An error means every sender is gone, which cannot happen while
        // `self` holds one; treat it as shutdown all the same.
        let _ = rx.wait_for(|triggered| *triggered).await;
    }
}
