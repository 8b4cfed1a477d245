//! The session loop's side of read-only viewers ([`super::viewer`]): one
//! bounded channel each, filled without waiting. A viewer whose channel is
//! full is dropped, so no viewer ever slows the session.

use super::resume::{ViewerChannel, ViewerEvent};
use std::sync::Arc;
use tokio::sync::Notify;
use shared::close::End;

/// Frames a viewer may lag behind the session, beyond the replay, before
/// it is dropped.
pub const VIEWER_QUEUE: usize = 64;

/// The session loop's side: the channels of the viewers watching.
#[derive(Default)]
pub struct Viewers {
    feeds: Vec<tokio::sync::mpsc::Sender<ViewerEvent>>,
    /// Notified by a viewer that leaves.
    left: Arc<Notify>,
}

impl Viewers {
    /// Adds a viewer whose first frames are `replay`; returns its channel.
    pub fn join(&mut self, replay: Vec<bytes::Bytes>) -> ViewerChannel {
        // One slot more, kept for the end: a lagging viewer still hears it.
        let (tx, rx) = tokio::sync::mpsc::channel(replay.len() + VIEWER_QUEUE + 1);
        for frame in replay {
            // Room was made for the whole replay.
            let _ = tx.try_send(ViewerEvent::Output(frame));
        }
        self.feeds.push(tx);
        (rx, self.left.clone())
    }

    /// What a leaving viewer notifies.
    pub fn left(&self) -> Arc<Notify> {
        self.left.clone()
    }

    /// Forgets viewers that left; true when there were any.
    pub fn prune(&mut self) -> bool {
        let before = self.feeds.len();
        self.feeds.retain(|tx| !tx.is_closed());
        self.feeds.len() != before
    }

    /// Sends output to every viewer; drops those that are full or gone.
    /// Returns true when the count changed.
    pub fn output(&mut self, bytes: &bytes::Bytes) -> bool {
        if self.feeds.is_empty() {
            return false;
        }
        let before = self.feeds.len();
        self.feeds.retain(|tx| match (tx.capacity() > 1).then(|| tx.try_send(ViewerEvent::Output(bytes.clone()))) {
            // The last slot is the end's: this viewer is behind.
            None => {
                tracing::info!("a viewer fell behind and was dropped");
                false
            }
            Some(Ok(())) => true,
            Some(Err(tokio::sync::mpsc::error::TrySendError::Full(_))) => {
                tracing::info!("a viewer fell behind and was dropped");
                false
            }
            Some(Err(tokio::sync::mpsc::error::TrySendError::Closed(_))) => false,
        });
        self.feeds.len() != before
    }

    /// Viewers now (those that left are counted until the next output).
    pub fn count(&self) -> u32 {
        self.feeds.iter().filter(|tx| !tx.is_closed()).count() as u32
    }

    /// Tells every viewer how the session ended.
    pub fn end(&mut self, end: &End) {
        for tx in self.feeds.drain(..) {
            let _ = tx.try_send(ViewerEvent::End(end.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_viewer_is_dropped_and_the_others_keep_up() {
        let mut viewers = Viewers::default();
        let (mut fast, _) = viewers.join(vec![bytes::Bytes::from_static(b"old")]);
        let (slow, left) = viewers.join(vec![]);
        assert_eq!(viewers.count(), 2);
        let frame = bytes::Bytes::from_static(b"x");
        let mut changed = false;
        for _ in 0..VIEWER_QUEUE + 2 {
            changed |= viewers.output(&frame);
            // The fast one reads as it goes.
            while let Ok(_) = fast.try_recv() {}
        }
        assert!(changed);
        assert_eq!(viewers.count(), 1);
        viewers.end(&End::Exited(0));
        assert!(matches!(fast.recv().await, Some(ViewerEvent::End(End::Exited(0)))));
        drop(slow);
        left.notify_one();
        assert!(!viewers.prune());
    }
}
