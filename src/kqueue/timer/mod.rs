//! The runtime's timers: one timing wheel (`wheel.rs`) per runtime, driven by the reactor's poll
//! timeout, so that a million sleeps cost a million slab entries and no OS timer.
//!
//! Ground rules:
//! 1. Deadlines are nanoseconds on the awake clock; the wheel counts whole milliseconds
//!    (`RESOLUTION`) since the runtime's origin. A deadline rounds *up* to its tick and the
//!    current time rounds *down*, so a timer never fires early; it fires at most one resolution
//!    plus one reactor turn late.
//! 2. The worker that drives the reactor sleeps in `Poll::poll` at most until the next wheel
//!    deadline (`park_timeout`), then fires what is due (`fire_due`). Busy workers fire due timers
//!    when they poll the reactor without blocking.
//! 3. `next_wake` is the tick at which the parked driver will wake, or 0 while no driver is
//!    parked; it is written and compared under the wheel lock. Inserting a timer due earlier
//!    wakes the driver so that it can shorten its sleep.
//! 4. Wakers are called after the wheel lock is released: a woken task may cancel another timer.

#[cfg(all(test, kqio_loom))]
mod loom_tests;
pub(crate) mod wheel;

use crate::loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use crate::loom::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use wheel::{EntryState, Wheel};

/// The wheel's tick: the resolution of every timer.
pub(crate) const RESOLUTION: Duration = Duration::from_millis(1);
const RESOLUTION_NS: i64 = 1_000_000;

/// The slot a sleeping future keeps its timer in; `0` means no timer. Opaque outside the backend.
pub(crate) type Slot = u64;

/// Encodes a wheel key into a non-zero slot.
fn to_slot(key: wheel::Key) -> Slot {
    key.wrapping_add(1)
}

fn to_key(slot: Slot) -> wheel::Key {
    slot.wrapping_sub(1)
}

pub(crate) struct Timers {
    /// Awake-clock nanoseconds at tick 0.
    origin: i64,
    now: fn() -> i64,
    wheel: Mutex<Wheel>,
    next_wake: AtomicU64,
    /// Entries in the wheel, mirrored outside the lock so that `fire_due` can skip locking an
    /// empty wheel. Written under the lock.
    count: AtomicUsize,
}

impl Timers {
    /// Timers whose clock is `now` (awake-clock nanoseconds).
    pub(crate) fn new(now: fn() -> i64) -> Self {
        Timers {
            origin: now(),
            now,
            wheel: Mutex::new(Wheel::new()),
            next_wake: AtomicU64::new(0),
            count: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Wheel> {
        self.wheel.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current tick (rounded down: ground rule 1).
    fn now_tick(&self) -> u64 {
        u64::try_from(((self.now)() - self.origin) / RESOLUTION_NS).unwrap_or(0)
    }

    /// The tick of a deadline (rounded up: ground rule 1). Saturates for far deadlines.
    fn deadline_tick(&self, deadline_ns: i64) -> u64 {
        let since = (deadline_ns as i128) - (self.origin as i128);
        if since <= 0 {
            return 0;
        }
        let ticks = (since + RESOLUTION_NS as i128 - 1) / RESOLUTION_NS as i128;
        // Far beyond any real deadline but still far from overflow in the wheel's arithmetic.
        u64::try_from(ticks).unwrap_or(u64::MAX).min(u64::MAX >> 2)
    }

    /// Polls a sleep until `deadline_ns`. `slot` starts at 0 and is owned by the sleeping future.
    /// Returns whether the driver must be woken (ground rule 3) alongside the poll result.
    pub(crate) fn poll_sleep(
        &self,
        cx: &mut Context<'_>,
        slot: &mut Slot,
        deadline_ns: i64,
    ) -> (Poll<()>, bool) {
        let when = self.deadline_tick(deadline_ns);
        let mut wheel = self.lock();
        if *slot != 0 {
            return match wheel.poll_entry(to_key(*slot), cx.waker()) {
                EntryState::Waiting => (Poll::Pending, false),
                EntryState::Fired | EntryState::Gone => {
                    wheel.remove(to_key(*slot));
                    self.count.store(wheel.len(), Ordering::Relaxed);
                    *slot = 0;
                    (Poll::Ready(()), false)
                }
            };
        }
        // Bring the wheel up to date first, so that a deadline that has passed completes now
        // instead of waiting for the driver.
        if when <= self.now_tick() {
            return (Poll::Ready(()), false);
        }
        match wheel.insert(when, cx.waker().clone()) {
            None => (Poll::Ready(()), false),
            Some(key) => {
                self.count.store(wheel.len(), Ordering::Relaxed);
                *slot = to_slot(key);
                let wake = when < self.next_wake.load(Ordering::Relaxed);
                (Poll::Pending, wake)
            }
        }
    }

    /// Removes the timer in `slot`, if any (a canceled or dropped sleep frees its entry at once).
    pub(crate) fn cancel(&self, slot: &mut Slot) {
        if *slot != 0 {
            let mut wheel = self.lock();
            wheel.remove(to_key(*slot));
            self.count.store(wheel.len(), Ordering::Relaxed);
            *slot = 0;
        }
    }

    /// Before the driver parks: how long it may sleep, and the record of when it will wake.
    pub(crate) fn park_timeout(&self) -> Option<Duration> {
        let wheel = self.lock();
        let now = self.now_tick();
        match wheel.next_deadline() {
            None => {
                self.next_wake.store(u64::MAX, Ordering::Relaxed);
                None
            }
            Some(tick) => {
                self.next_wake.store(tick.max(1), Ordering::Relaxed);
                Some(RESOLUTION * u32::try_from(tick.saturating_sub(now)).unwrap_or(u32::MAX))
            }
        }
    }

    /// After the driver's poll returned: no driver is parked any more.
    pub(crate) fn unparked(&self) {
        let _wheel = self.lock();
        self.next_wake.store(0, Ordering::Relaxed);
    }

    /// Fires every timer that is due (ground rule 4: wakes after unlocking).
    pub(crate) fn fire_due(&self, fired: &mut Vec<Waker>) {
        if self.count.load(Ordering::Relaxed) == 0 {
            return;
        }
        {
            let mut wheel = self.lock();
            if wheel.len() == 0 {
                return;
            }
            let now = self.now_tick();
            if wheel.next_deadline().is_none_or(|d| d > now) {
                return;
            }
            wheel.advance(now, fired);
        }
        for w in fired.drain(..) {
            w.wake();
        }
    }

    /// Whether any timer is pending (a hint, read without the lock).
    pub(crate) fn has_timers(&self) -> bool {
        self.count.load(Ordering::Relaxed) != 0
    }

    /// Timers in the wheel (for tests and reports).
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}
