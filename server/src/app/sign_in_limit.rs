//! Failed sign-ins, limited so that guessing is slow and nobody can lock
//! out anyone else.
//!
//! - **Per account**: [`ACCOUNT_FAILURES`] wrong passwords within
//!   [`WINDOW`] lock that account (and only it) for [`FIRST_LOCK`], doubling
//!   at each further lock up to [`MAX_LOCK`]; a right password after the
//!   lock ends starts it over. Unknown usernames count like accounts, so the
//!   answer does not tell which exist.
//! - **Per address**: [`ADDRESS_FAILURES`] within [`WINDOW`] from one client
//!   address limit that address, looser so that one office behind one NAT
//!   is not locked out by one person. Behind a reverse proxy the client
//!   address is the proxy's unless `--trusted-proxies` names it
//!   ([`crate::proxy`]).
//!
//! Entries are dropped once their window and lock are over
//! ([`SignInLimiter::prune`], run as failures come in), so the maps stay as
//! small as the current attack.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Wrong passwords for one account within [`WINDOW`] that lock it.
pub const ACCOUNT_FAILURES: usize = 5;
/// Failed sign-ins from one address within [`WINDOW`] that limit it.
pub const ADDRESS_FAILURES: usize = 50;
/// The window failures are counted over.
pub const WINDOW: Duration = Duration::from_secs(60);
/// An account's first lock; each further lock doubles it.
pub const FIRST_LOCK: Duration = Duration::from_secs(60);
/// The longest lock.
pub const MAX_LOCK: Duration = Duration::from_secs(3600);

/// One account's failures and locks.
#[derive(Debug, Default)]
struct Account {
    failures: VecDeque<Instant>,
    /// Locks so far (the next is twice as long).
    locks: u32,
    locked_until: Option<Instant>,
}

#[derive(Debug, Default)]
struct Counts {
    accounts: HashMap<String, Account>,
    addresses: HashMap<IpAddr, VecDeque<Instant>>,
    last_prune: Option<Instant>,
}

/// Failed sign-ins per account and per client address.
#[derive(Debug, Default)]
pub struct SignInLimiter {
    counts: Mutex<Counts>,
}

/// Drops the instants older than [`WINDOW`].
fn expire(times: &mut VecDeque<Instant>, now: Instant) {
    while times.front().is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW) {
        times.pop_front();
    }
}

/// Whole seconds until `until`, at least 1.
fn secs_until(until: Instant, now: Instant) -> u64 {
    let left = until.saturating_duration_since(now);
    (left.as_secs() + u64::from(left.subsec_nanos() > 0)).max(1)
}

impl SignInLimiter {
    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Seconds before `username` may try again from `address`, when either is
    /// limited (`Retry-After`).
    pub fn retry_after(&self, username: &str, address: IpAddr) -> Option<u64> {
        self.retry_after_at(username, address, Instant::now())
    }

    fn retry_after_at(&self, username: &str, address: IpAddr, now: Instant) -> Option<u64> {
        let mut counts = self.lock();
        let account = counts.accounts.get(username).and_then(|a| a.locked_until).filter(|until| *until > now);
        let from_address = counts.addresses.get_mut(&address).and_then(|times| {
            expire(times, now);
            (times.len() >= ADDRESS_FAILURES).then(|| times.front().map(|oldest| *oldest + WINDOW)).flatten()
        });
        [account, from_address].into_iter().flatten().max().map(|until| secs_until(until, now))
    }

    /// Records a wrong password for `username` from `address`.
    pub fn failed(&self, username: &str, address: IpAddr) {
        self.failed_at(username, address, Instant::now());
    }

    fn failed_at(&self, username: &str, address: IpAddr, now: Instant) {
        let mut counts = self.lock();
        if counts.last_prune.is_none_or(|last| now.saturating_duration_since(last) >= WINDOW) {
            prune(&mut counts, now);
        }
        let account = counts.accounts.entry(username.to_string()).or_default();
        expire(&mut account.failures, now);
        // Tries that raced a lock (checked before it began) do not stack
        // another lock on it.
        let locked = account.locked_until.is_some_and(|until| now < until);
        if !locked {
            account.failures.push_back(now);
        }
        if account.failures.len() >= ACCOUNT_FAILURES {
            account.failures.clear();
            let lock = FIRST_LOCK.saturating_mul(1 << account.locks.min(16)).min(MAX_LOCK);
            account.locks += 1;
            account.locked_until = Some(now + lock);
            tracing::warn!(user = username, seconds = lock.as_secs(), "account locked after failed sign-ins");
        }
        let times = counts.addresses.entry(address).or_default();
        expire(times, now);
        times.push_back(now);
    }

    /// A right password: the account's count starts over (its lock, if any,
    /// has ended, or the sign-in would not have been tried).
    pub fn succeeded(&self, username: &str) {
        self.lock().accounts.remove(username);
    }

    /// Accounts and addresses currently tracked.
    pub fn tracked(&self) -> (usize, usize) {
        let counts = self.lock();
        (counts.accounts.len(), counts.addresses.len())
    }

    /// Drops what no longer limits anyone (run by [`failed`](Self::failed)
    /// at most once per [`WINDOW`]; public for a periodic sweep).
    pub fn prune(&self) {
        prune(&mut self.lock(), Instant::now());
    }
}

fn prune(counts: &mut Counts, now: Instant) {
    counts.last_prune = Some(now);
    counts.accounts.retain(|_, a| {
        expire(&mut a.failures, now);
        // A lock's doubling is remembered for as long as one lock lasts.
        let remembered = a.locked_until.is_some_and(|until| now < until + MAX_LOCK.min(FIRST_LOCK.saturating_mul(1 << a.locks.min(16))));
        !a.failures.is_empty() || remembered
    });
    counts.addresses.retain(|_, times| {
        expire(times, now);
        !times.is_empty()
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const TWO: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn a_locked_account_locks_nobody_else() {
        let limiter = SignInLimiter::default();
        let now = Instant::now();
        for _ in 0..ACCOUNT_FAILURES {
            assert_eq!(limiter.retry_after_at("developer", ONE, now), None);
            limiter.failed_at("developer", ONE, now);
        }
        assert_eq!(limiter.retry_after_at("developer", ONE, now), Some(60));
        assert_eq!(limiter.retry_after_at("developer", TWO, now), Some(60), "the account, from anywhere");
        assert_eq!(limiter.retry_after_at("maintainer", ONE, now), None, "others, from the same address");
        // Failures that raced the lock do not lengthen it.
        limiter.failed_at("developer", ONE, now);
        assert_eq!(limiter.retry_after_at("developer", ONE, now), Some(60));
        assert_eq!(limiter.retry_after_at("developer", ONE, now + FIRST_LOCK), None, "the lock ends");
    }

    #[test]
    fn each_further_lock_is_twice_as_long_up_to_the_maximum() {
        let limiter = SignInLimiter::default();
        let mut now = Instant::now();
        let mut locks = Vec::new();
        for _ in 0..8 {
            for _ in 0..ACCOUNT_FAILURES {
                limiter.failed_at("a", ONE, now);
            }
            let secs = limiter.retry_after_at("a", TWO, now).unwrap();
            locks.push(secs);
            now += Duration::from_secs(secs);
        }
        assert_eq!(locks, [60, 120, 240, 480, 960, 1920, 3600, 3600]);
        limiter.succeeded("a");
        for _ in 0..ACCOUNT_FAILURES {
            limiter.failed_at("a", ONE, now);
        }
        assert_eq!(limiter.retry_after_at("a", TWO, now), Some(60), "a right password starts over");
    }

    #[test]
    fn an_address_is_limited_more_loosely() {
        let limiter = SignInLimiter::default();
        let now = Instant::now();
        for i in 0..ADDRESS_FAILURES {
            assert_eq!(limiter.retry_after_at("someone", ONE, now), None, "after {i}");
            // A different name each time: no account lock.
            limiter.failed_at(&format!("user{i}"), ONE, now);
        }
        assert_eq!(limiter.retry_after_at("someone", ONE, now), Some(60));
        assert_eq!(limiter.retry_after_at("someone", TWO, now), None);
        assert_eq!(limiter.retry_after_at("someone", ONE, now + WINDOW), None);
    }

    #[test]
    fn what_limits_nobody_is_pruned() {
        let limiter = SignInLimiter::default();
        let now = Instant::now();
        for i in 0..200u8 {
            limiter.failed_at(&format!("user{i}"), IpAddr::V4(std::net::Ipv4Addr::new(10, 1, 0, i)), now);
        }
        assert_eq!(limiter.tracked(), (200, 200));
        // The next failure after the window sweeps the rest.
        limiter.failed_at("late", ONE, now + WINDOW);
        assert_eq!(limiter.tracked(), (1, 1));
    }
}
