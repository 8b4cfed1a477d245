//! The idle timeout (Channel `IdleTimeout`, the application setting
//! `terminal_idle_timeout`): a session with nothing typed and no output
//! for that long ends (4012), and its page is told a minute before
//! ([`warning_lead`]). Only keystrokes and output are activity: pings,
//! acks and resizes are not, so an open tab alone does not keep a shell.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// When the session last had a keystroke or output.
#[derive(Debug)]
pub struct Activity {
    base: Instant,
    /// Milliseconds from `base` to the last activity.
    last_ms: AtomicU64,
}

impl Default for Activity {
    fn default() -> Activity {
        Activity { base: Instant::now(), last_ms: AtomicU64::new(0) }
    }
}

impl Activity {
    /// Something was typed or printed now.
    pub fn touch(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// The last keystroke or output (the session's start if none yet).
    pub fn last(&self) -> Instant {
        self.base + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// How long before an idle timeout of `timeout` the page is warned: a
/// minute, or half the timeout when it is two minutes or less.
pub fn warning_lead(timeout: Duration) -> Duration {
    Duration::from_secs(60).min(timeout / 2)
}

/// What [`next`] resolves with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idle {
    /// Tell the page: the session ends after this long unless there is
    /// activity first.
    Warn(Duration),
    /// The timeout passed with no activity.
    TimedOut,
}

/// Resolves at the session's next idle event under `timeout` (never when it
/// is zero). `warned` is the activity last warned about: one warning per
/// quiet spell, across calls (the session loop makes a new future on each
/// turn).
pub async fn next(activity: &Activity, timeout: Duration, warned: &mut Option<Instant>) -> Idle {
    if timeout.is_zero() {
        return std::future::pending().await;
    }
    loop {
        let last = activity.last();
        let Some(end) = last.checked_add(timeout) else { return std::future::pending().await };
        let warn_at = end - warning_lead(timeout);
        let now = Instant::now();
        if now >= end {
            return Idle::TimedOut;
        }
        let told = *warned == Some(last);
        if now >= warn_at && !told {
            *warned = Some(last);
            return Idle::Warn(end - now);
        }
        tokio::time::sleep_until(if told || now >= warn_at { end } else { warn_at }).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn the_warning_comes_a_minute_before_or_half_way() {
        assert_eq!(warning_lead(Duration::from_secs(900)), Duration::from_secs(60));
        assert_eq!(warning_lead(Duration::from_secs(120)), Duration::from_secs(60));
        assert_eq!(warning_lead(Duration::from_secs(10)), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn warns_once_then_times_out() {
        let activity = Activity::default();
        let timeout = Duration::from_secs(300);
        let mut warned = None;
        let start = Instant::now();
        assert_eq!(next(&activity, timeout, &mut warned).await, Idle::Warn(Duration::from_secs(60)));
        assert_eq!(start.elapsed(), Duration::from_secs(240));
        assert_eq!(next(&activity, timeout, &mut warned).await, Idle::TimedOut);
        assert_eq!(start.elapsed(), timeout);
    }

    #[tokio::test(start_paused = true)]
    async fn activity_starts_the_count_again() {
        let activity = Activity::default();
        let timeout = Duration::from_secs(300);
        let mut warned = None;
        let start = Instant::now();
        assert!(matches!(next(&activity, timeout, &mut warned).await, Idle::Warn(_)));
        // Typed after the warning: a new quiet spell, with its own warning.
        tokio::time::advance(10 * SECOND).await;
        activity.touch();
        assert_eq!(next(&activity, timeout, &mut warned).await, Idle::Warn(Duration::from_secs(60)));
        assert_eq!(start.elapsed(), Duration::from_secs(250 + 240));
        // Output just before the end moves the end too.
        let racing = async {
            tokio::time::sleep(50 * SECOND).await;
            activity.touch();
            std::future::pending::<()>().await
        };
        let outcome = tokio::select! {
            outcome = next(&activity, timeout, &mut warned) => outcome,
            () = racing => unreachable!(),
        };
        assert_eq!(outcome, Idle::Warn(Duration::from_secs(60)));
        assert_eq!(start.elapsed(), Duration::from_secs(490 + 50 + 240));
    }

    #[tokio::test(start_paused = true)]
    async fn zero_is_never() {
        let activity = Activity::default();
        let outcome = tokio::time::timeout(Duration::from_secs(366 * 24 * 3600), next(&activity, Duration::ZERO, &mut None)).await;
        assert!(outcome.is_err());
    }
}
