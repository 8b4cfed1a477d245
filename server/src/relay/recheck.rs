//! Re-authorization and the maximum session time, while a session runs
//! (Workhorse's `auth_checker.go`). This is where `MaxSessionTime` is
//! enforced.
//!
//! Every `interval` the relay asks the app again ([`Reauthorize`], the same
//! request with the browser's cookies): a refusal ends the session (4004),
//! an app that does not answer within [`RECHECK_TIMEOUT`] too ("could not be
//! re-checked", 4004), different Channel settings end it (4005) — but a new
//! `Authorization` value alone does not: a rotated service account token
//! (projected tokens are replaced hourly) changes the credentials, not where
//! the session goes, and the connection made with the old one stays. A changed
//! `MaxSessionTime` alone is an admin's new limit: a session already past it
//! ends (4006), others go on under it and the browser hears the new end
//! time. The policy is behind a trait so that it is tested with paused time
//! and a scripted app, not only end to end.

use shared::channel::ChannelSettings;
use shared::close::End;
use std::future::Future;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How long one re-authorization may take before the session ends as
/// unchecked.
pub const RECHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the final "is the pod gone?" question may take.
pub const GONE_CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// Why re-authorization did not give Channel settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The app answered this HTTP status (401, 403, 404, …).
    Refused(http::StatusCode),
    /// The app could not be reached, or its answer was unusable.
    Unreachable(String),
}

/// Asks the app again about one running session.
pub trait Reauthorize: Send + Sync {
    /// The app's current Channel settings for the session, or why not.
    fn reauthorize(&self) -> impl Future<Output = Result<ChannelSettings, Refusal>> + Send;
}

/// The re-check policy of one session.
pub struct Recheck<A> {
    /// Who to ask.
    pub app: A,
    /// The Channel settings the session started with.
    pub channel: ChannelSettings,
    /// How often to ask.
    pub interval: Duration,
}

/// The same Channel but for its `MaxSessionTime`, its `IdleTimeout` (a new
/// one applies to new sessions) and the value of its `Authorization` header.
fn same_upstream(a: &ChannelSettings, b: &ChannelSettings) -> bool {
    let strip = |c: &ChannelSettings| {
        let mut header = c.header.clone();
        for (name, values) in header.iter_mut() {
            if name.eq_ignore_ascii_case("authorization") {
                values.iter_mut().for_each(String::clear);
            }
        }
        ChannelSettings { max_session_time: 0, idle_timeout: 0, header, ..c.clone() }
    };
    strip(a) == strip(b)
}

impl<A: Reauthorize> Recheck<A> {
    /// Ends the session at its `MaxSessionTime` (counted from `started`), and
    /// asks the app every `interval`; resolves when the time is up or the
    /// answer is not the same 200. New `MaxSessionTime`s (seconds) go to
    /// `limits`, for the browser.
    pub async fn watch(&self, started: Instant, limits: mpsc::Sender<u64>) -> End {
        let mut max = self.channel.max_session_time;
        let mut next_check = Instant::now() + self.interval;
        loop {
            // A limit too far away to represent is no limit.
            let deadline = (max > 0).then(|| started.checked_add(Duration::from_secs(max))).flatten();
            tokio::select! {
                () = sleep_until_some(deadline) => return End::Expired(max),
                () = tokio::time::sleep_until(next_check) => {}
            }
            next_check += self.interval;
            match tokio::time::timeout(RECHECK_TIMEOUT, self.app.reauthorize()).await {
                Ok(Ok(new)) if same_upstream(&new, &self.channel) => {
                    if new.max_session_time == max {
                        reauthorized("ok");
                        continue;
                    }
                    reauthorized("limit_changed");
                    max = new.max_session_time;
                    tracing::info!(max_session_time = max, "the maximum session time changed");
                    if max > 0 && started.elapsed() >= Duration::from_secs(max) {
                        return End::Expired(max);
                    }
                    let _ = limits.try_send(max);
                }
                Ok(Ok(_)) => {
                    reauthorized("settings_changed");
                    return End::SettingsChanged;
                }
                Ok(Err(Refusal::Refused(status))) => {
                    tracing::info!(status = status.as_u16(), "re-authorization refused");
                    reauthorized("refused");
                    return End::AccessRevoked;
                }
                Ok(Err(Refusal::Unreachable(e))) => {
                    tracing::warn!(error = e, "re-authorization failed");
                    reauthorized("unreachable");
                    return End::AccessUnchecked;
                }
                Err(_) => {
                    tracing::warn!("re-authorization timed out");
                    reauthorized("unreachable");
                    return End::AccessUnchecked;
                }
            }
        }
    }

    /// True when the app now answers 404: the terminal (its pod) is gone.
    pub async fn terminal_is_gone(&self) -> bool {
        matches!(
            tokio::time::timeout(GONE_CHECK_TIMEOUT, self.app.reauthorize()).await,
            Ok(Err(Refusal::Refused(status))) if status == http::StatusCode::NOT_FOUND
        )
    }
}

/// Counts a re-authorization by outcome ([`crate::prometheus::REAUTHORIZATIONS`]).
fn reauthorized(outcome: &'static str) {
    metrics::counter!(crate::prometheus::REAUTHORIZATIONS, "outcome" => outcome).increment(1);
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::Mutex;

    /// A scripted app: each re-authorization takes the next answer, after
    /// `delay`; past the script it repeats its last answer (the settings the
    /// session started with, when there was none).
    struct Scripted {
        answers: Mutex<VecDeque<Result<ChannelSettings, Refusal>>>,
        last: Mutex<Result<ChannelSettings, Refusal>>,
        delay: Duration,
    }

    impl Reauthorize for Scripted {
        fn reauthorize(&self) -> impl Future<Output = Result<ChannelSettings, Refusal>> + Send {
            let mut last = self.last.lock().unwrap();
            if let Some(next) = self.answers.lock().unwrap().pop_front() {
                *last = next;
            }
            let answer = last.clone();
            let delay = self.delay;
            async move {
                tokio::time::sleep(delay).await;
                answer
            }
        }
    }

    fn channel(max: u64) -> ChannelSettings {
        ChannelSettings {
            subprotocols: vec!["v5.channel.k8s.io".into()],
            url: "wss://cluster/api/v1/namespaces/ns/pods/p/exec".into(),
            header: Default::default(),
            ca_pem: String::new(),
            max_session_time: max,
            idle_timeout: 0,
        }
    }

    fn recheck(max: u64, answers: Vec<Result<ChannelSettings, Refusal>>, delay: Duration) -> Recheck<Scripted> {
        let app = Scripted { answers: Mutex::new(answers.into()), last: Mutex::new(Ok(channel(max))), delay };
        Recheck { app, channel: channel(max), interval: Duration::from_secs(30) }
    }

    /// Runs `watch` to its end; returns the end, when it came (seconds after
    /// the start) and the limits the browser was told.
    async fn watch(r: &Recheck<Scripted>) -> (End, u64, Vec<u64>) {
        let started = Instant::now();
        let (tx, mut rx) = mpsc::channel(4);
        let end = r.watch(started, tx).await;
        let mut limits = Vec::new();
        while let Ok(max) = rx.try_recv() {
            limits.push(max);
        }
        (end, started.elapsed().as_secs(), limits)
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_revokes_at_the_check_that_meets_it() {
        let r = recheck(0, vec![Ok(channel(0)), Err(Refusal::Refused(http::StatusCode::FORBIDDEN))], Duration::ZERO);
        assert_eq!(watch(&r).await, (End::AccessRevoked, 60, vec![]));
    }

    #[tokio::test(start_paused = true)]
    async fn changed_settings_end_the_session() {
        let moved = ChannelSettings { url: "wss://cluster/api/v1/namespaces/ns/pods/other/exec".into(), ..channel(0) };
        let r = recheck(0, vec![Ok(moved)], Duration::ZERO);
        assert_eq!(watch(&r).await, (End::SettingsChanged, 30, vec![]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_rotated_token_alone_does_not_end_the_session() {
        let bearer = |token: &str, max: u64| ChannelSettings { header: [("Authorization".to_string(), vec![format!("Bearer {token}")])].into(), ..channel(max) };
        let answers = vec![Ok(bearer("rotated", 100)), Ok(bearer("again", 100))];
        let r = Recheck { channel: bearer("first", 100), ..recheck(100, answers, Duration::ZERO) };
        assert_eq!(watch(&r).await, (End::Expired(100), 100, vec![]));
        // Another header, or an Authorization added or taken away, still does.
        let other = ChannelSettings { header: [("X-Other".to_string(), vec!["v".to_string()])].into(), ..channel(0) };
        let r = Recheck { channel: bearer("first", 0), ..recheck(0, vec![Ok(other)], Duration::ZERO) };
        assert_eq!(watch(&r).await, (End::SettingsChanged, 30, vec![]));
    }

    #[tokio::test(start_paused = true)]
    async fn the_maximum_session_time_ends_it_on_time() {
        let r = recheck(100, vec![], Duration::ZERO);
        assert_eq!(watch(&r).await, (End::Expired(100), 100, vec![]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_maximum_applies_and_the_browser_hears_it() {
        // No limit, then 100 s at the first check (30 s): it ends at 100 s.
        let r = recheck(0, vec![Ok(channel(100))], Duration::ZERO);
        assert_eq!(watch(&r).await, (End::Expired(100), 100, vec![100]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_maximum_already_passed_ends_at_the_check() {
        // 1000 s, then 40 s at the second check (60 s): already past it.
        let r = recheck(1000, vec![Ok(channel(1000)), Ok(channel(40))], Duration::ZERO);
        assert_eq!(watch(&r).await, (End::Expired(40), 60, vec![]));
    }

    #[tokio::test(start_paused = true)]
    async fn an_unreachable_or_silent_app_ends_it_unchecked() {
        let r = recheck(0, vec![Err(Refusal::Unreachable("connection refused".into()))], Duration::ZERO);
        assert_eq!(watch(&r).await, (End::AccessUnchecked, 30, vec![]));
        let silent = recheck(0, vec![], Duration::from_secs(3600));
        assert_eq!(watch(&silent).await, (End::AccessUnchecked, 30 + RECHECK_TIMEOUT.as_secs(), vec![]));
    }

    #[tokio::test(start_paused = true)]
    async fn only_a_404_means_the_pod_is_gone() {
        let gone = recheck(0, vec![Err(Refusal::Refused(http::StatusCode::NOT_FOUND))], Duration::ZERO);
        assert!(gone.terminal_is_gone().await);
        let forbidden = recheck(0, vec![Err(Refusal::Refused(http::StatusCode::FORBIDDEN))], Duration::ZERO);
        assert!(!forbidden.terminal_is_gone().await);
        assert!(!recheck(0, vec![], Duration::from_secs(3600)).terminal_is_gone().await);
    }
}
