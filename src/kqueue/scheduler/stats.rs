//! Per-worker counters for [`RuntimeMetrics`](crate::RuntimeMetrics): polls, steals, parks, and
//! time parked (busy time is the rest).
//!
//! Ground rules:
//! 1. Each worker's counters are written by that worker only, with a plain load and store (no
//!    read-modify-write), on a cache line of their own (`align(128)`: two lines on CPUs that
//!    prefetch pairs), so counting costs a worker what a local variable would. Other threads
//!    only read them, for a snapshot.
//! 2. Busy time is not timed per poll (two clock reads per poll would cost more than many
//!    polls): the clock is read when a worker parks and unparks, which are system calls
//!    anyway, and busy time is the time since the start minus the time parked.
//! 3. They are diagnostics: std atomics, not the loom ones, so the models do not explore them.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use crate::observe::WorkerMetrics;

/// Awake-clock nanoseconds.
fn now_ns() -> i64 {
    crate::sys::clock::now(crate::time::Clock::Awake).as_nanos()
}

#[repr(align(128))]
pub(super) struct WorkerStats {
    polls: AtomicU64,
    steals: AtomicU64,
    parks: AtomicU64,
    /// Nanoseconds parked, for parks that ended.
    parked_ns: AtomicU64,
    /// When the current park began, or 0 when not parked.
    park_since: AtomicI64,
    started: i64,
}

/// A counter's increment by its only writer (ground rule 1).
#[inline]
fn bump(c: &AtomicU64, by: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(by), Ordering::Relaxed);
}

impl WorkerStats {
    pub(super) fn new() -> Self {
        WorkerStats {
            polls: AtomicU64::new(0),
            steals: AtomicU64::new(0),
            parks: AtomicU64::new(0),
            parked_ns: AtomicU64::new(0),
            park_since: AtomicI64::new(0),
            started: now_ns(),
        }
    }

    #[inline]
    pub(super) fn polled(&self) {
        bump(&self.polls, 1);
    }

    #[inline]
    pub(super) fn stole(&self) {
        bump(&self.steals, 1);
    }

    /// The worker is about to block.
    pub(super) fn parking(&self) {
        bump(&self.parks, 1);
        self.park_since.store(now_ns().max(1), Ordering::Relaxed);
    }

    /// The worker is back from blocking.
    pub(super) fn unparked(&self) {
        let since = self.park_since.swap(0, Ordering::Relaxed);
        if since != 0 {
            bump(&self.parked_ns, (now_ns() - since).max(0) as u64);
        }
    }

    /// A snapshot; `local_queue_depth` is the caller's to fill.
    pub(super) fn snapshot(&self) -> WorkerMetrics {
        let now = now_ns();
        let since = self.park_since.load(Ordering::Relaxed);
        let parking_now = if since != 0 { (now - since).max(0) as u64 } else { 0 };
        let alive = (now - self.started).max(0) as u64;
        let parked = self.parked_ns.load(Ordering::Relaxed) + parking_now;
        WorkerMetrics {
            polls: self.polls.load(Ordering::Relaxed),
            steals: self.steals.load(Ordering::Relaxed),
            parks: self.parks.load(Ordering::Relaxed),
            busy: Duration::from_nanos(alive.saturating_sub(parked)),
            local_queue_depth: 0,
        }
    }
}
