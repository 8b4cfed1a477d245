//! How the allocator (glibc's malloc) keeps memory, set once by the
//! `porthole` binary at start ([`return_large_blocks`]).
//!
//! Why: glibc raises its mmap threshold each time a large block is freed
//! (up to 32 MiB), so later large blocks — an argon2 hash's 19 MiB at every
//! sign-in and user creation, a session's resume buffer — come from an
//! arena instead, and an arena keeps freed memory. Measured on a fresh
//! demo: 38 MiB of its 80 MiB RSS was one arena holding the demo users'
//! freed password hashes, and the RSS after 50 sessions had closed stayed
//! where they had pushed it.

/// Blocks of [`MMAP_THRESHOLD`] bytes or more get mappings of their own,
/// returned to the system when freed; at most [`ARENA_MAX`] arenas (glibc's
/// default is 8 per core, each keeping its own free memory). A no-op
/// where the C library is not glibc. Call it before any thread starts.
pub fn return_large_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: mallopt only changes malloc's parameters; called before
    // other threads exist, as glibc asks.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_ARENA_MAX, ARENA_MAX);
    }
}

/// Every [`TRIM_INTERVAL`], gives the free memory at the top of each
/// arena back to the system (`malloc_trim`): what ended sessions freed in
/// the middle of an arena otherwise stays resident. Costs microseconds on
/// an idle process. Needs a Tokio runtime.
pub fn trim_periodically() {
    tokio::spawn(async {
        let mut every = tokio::time::interval(TRIM_INTERVAL);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            // It holds each arena's lock while it walks it: off the
            // runtime's workers, which allocate.
            let _ = tokio::task::spawn_blocking(|| {
                #[cfg(all(target_os = "linux", target_env = "gnu"))]
                #[allow(unsafe_code)]
                // SAFETY: malloc_trim is thread-safe (it takes each arena's lock).
                unsafe {
                    libc::malloc_trim(0);
                }
            })
            .await;
        }
    });
}

/// How often [`trim_periodically`] trims: 30 s.
pub const TRIM_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// 128 KiB: glibc's initial threshold, kept fixed (setting it turns the
/// raising off).
pub const MMAP_THRESHOLD: i32 = 128 << 10;

/// Two arenas: the runtime's worker threads share them.
pub const ARENA_MAX: i32 = 2;
