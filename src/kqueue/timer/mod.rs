//! The runtime's timers: one timing wheel (`wheel.rs`) per runtime, driven by the reactor's poll
//! timeout, so that a million sleeps cost a million slab entries and no OS timer.
//!
//! Ground rules:
//! 1. Deadlines are nanoseconds on the awake clock; the wheel counts ticks of `RESOLUTION`
//!    (250 µs) since the runtime's origin. A deadline rounds *up* to its tick and the current
//!    time rounds *down*, so a timer never fires early; it fires at most one resolution plus one
//!    reactor turn late.
//! 2. The worker that drives the reactor sleeps in `Poll::poll` until the exact start of the next
//!    wheel deadline's tick (`park_timeout`, to the nanosecond: `sys::poll_timer` keeps epoll's
//!    whole milliseconds from adding up to 1 ms), then fires what is due (`fire_due`). Busy
//!    workers fire due timers when they poll the reactor without blocking.
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

/// The wheel's tick: the resolution of every timer. A quarter of a millisecond keeps the
/// rounding of a deadline up to its tick (ground rule 1) well under a millisecond, at the cost of
/// up to four driver wake-ups per millisecond while timers fall due in each of them.
#[cfg(test)]
pub(crate) const RESOLUTION: Duration = Duration::from_nanos(RESOLUTION_NS as u64);
pub(crate) const RESOLUTION_NS: i64 = 250_000;

/// The longest the driver blocks in the poller while a timer is pending: `u32::MAX`
/// milliseconds, about 49.7 days. A later deadline costs one extra wake-up per this span. It is
/// far inside what every poller accepts ([`MAX_POLL_TIMEOUT`](super::reactor::MAX_POLL_TIMEOUT)).
pub(crate) const MAX_PARK: Duration = Duration::from_millis(u32::MAX as u64);

/// How long the driver may block in the poller when `since_origin` awake nanoseconds have passed
/// since the timers' origin and the wheel's next deadline is the tick `next` (`None`: no timer,
/// no limit): exactly until that tick begins. Ticks already due give zero; the result never
/// exceeds [`MAX_PARK`], so that no deadline, however far (`Duration::MAX`, a timestamp 1,000
/// years ahead), can make an out-of-range timeout reach the OS. A pure function, tested with
/// every edge of the timeout table.
pub(crate) fn park_duration(since_origin: i64, next: Option<u64>) -> Option<Duration> {
    let left = next? as i128 * RESOLUTION_NS as i128 - since_origin as i128;
    if left <= 0 {
        return Some(Duration::ZERO);
    }
    Some(u64::try_from(left).map_or(MAX_PARK, |ns| Duration::from_nanos(ns).min(MAX_PARK)))
}

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
    /// Timers fired so far (metrics). Written under the lock.
    fired: AtomicU64,
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
            fired: AtomicU64::new(0),
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
        // The wheel's latest tick, about 285,000 years: far beyond any real deadline.
        u64::try_from(ticks).unwrap_or(u64::MAX).min(wheel::MAX_WHEN)
    }

    /// Polls a sleep until `deadline_ns`. `slot` starts at 0 and is owned by the sleeping future.
    /// `passed_ns` is a time the caller knows has passed, or `i64::MIN` (see
    /// `Io::time_poll_sleep`). Returns whether the driver must be woken (ground rule 3)
    /// alongside the poll result.
    pub(crate) fn poll_sleep(
        &self,
        cx: &mut Context<'_>,
        slot: &mut Slot,
        deadline_ns: i64,
        passed_ns: i64,
    ) -> (Poll<()>, bool) {
        if *slot == 0 {
            // A deadline that has passed completes now instead of waiting for the driver. When
            // the caller read the clock to make the deadline, that reading decides (no second
            // read: the deadline was in the future then, and should it have passed since, the
            // next timer turn fires it); otherwise read the clock here, outside the lock.
            let past = if passed_ns != i64::MIN {
                deadline_ns <= passed_ns
            } else {
                deadline_ns <= (self.now)()
            };
            if past {
                return (Poll::Ready(()), false);
            }
        }
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
        let next = wheel.next_deadline();
        // The tick the driver wakes at, if it sleeps the whole timeout (a clamped timeout wakes
        // it earlier, which is harmless: it then parks again for what is left).
        self.next_wake.store(next.map_or(u64::MAX, |tick| tick.max(1)), Ordering::Relaxed);
        park_duration((self.now)().saturating_sub(self.origin), next)
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
            let before = fired.len();
            wheel.advance(now, fired);
            let n = (fired.len() - before) as u64;
            self.fired.store(self.fired.load(Ordering::Relaxed) + n, Ordering::Relaxed);
        }
        for w in fired.drain(..) {
            w.wake();
        }
    }

    /// Whether any timer is pending (a hint, read without the lock).
    pub(crate) fn has_timers(&self) -> bool {
        self.count.load(Ordering::Relaxed) != 0
    }

    /// Timers fired so far (metrics).
    pub(crate) fn fired(&self) -> u64 {
        self.fired.load(Ordering::Relaxed)
    }

    /// Timers in the wheel (for tests and reports).
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// The timers against the timeout table and 100,000 random deadlines, on a fake clock, driven as
/// the reactor drives them (`park_timeout`, sleep that long, `fire_due`): no panic or overflow,
/// no timer fires before its deadline, none is missed once its tick has come, and every timeout
/// handed to the poller is within [`MAX_POLL_TIMEOUT`](super::reactor::MAX_POLL_TIMEOUT).
#[cfg(test)]
mod model_tests {
    use super::*;
    use crate::kqueue::reactor::MAX_POLL_TIMEOUT;
    use proptest::prelude::*;
    use std::cell::Cell;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    use std::task::Wake;

    thread_local! {
        /// The fake awake clock, per test thread (proptest runs cases on the test's thread).
        static NOW: Cell<i64> = const { Cell::new(0) };
    }

    fn fake_now() -> i64 {
        NOW.get()
    }

    struct Flag(AtomicBool);

    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    const MS: i64 = 1_000_000;
    const SEC: i64 = 1_000_000_000;
    const YEAR: i64 = 365 * 86_400 * SEC;
    /// Timers with a deadline at most this far are driven until they fire.
    const DRIVEN_TO_THE_END: i64 = 10 * 4_294_967_295 * MS;

    /// One sleep due at `deadline` (awake ns), polled at `start` on timers created at `origin`,
    /// then driven like the reactor does. `Err` describes the first broken rule.
    fn drive(origin: i64, start: i64, deadline: i64) -> Result<(), TestCaseError> {
        NOW.set(origin);
        let timers = Timers::new(fake_now);
        NOW.set(start);
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        let mut slot = 0;
        // The first tick at which the timer may fire: its deadline rounded up to a tick.
        let due = origin as i128 + timers.deadline_tick(deadline) as i128 * RESOLUTION_NS as i128;
        // Half the cases pass the caller's clock reading (`Io::time_poll_sleep`'s `passed`), half
        // leave the backend to read the clock: the outcome must be the same.
        let passed = if deadline % 2 == 0 { start } else { i64::MIN };
        let (first, _) = timers.poll_sleep(&mut cx, &mut slot, deadline, passed);
        if first.is_ready() {
            prop_assert!(deadline <= start, "a sleep due at {deadline} was ready at {start}");
            prop_assert_eq!(timers.len(), 0);
            return Ok(());
        }
        prop_assert!(start < deadline, "a past deadline {deadline} waits at {start}");
        let steps =
            if (deadline as i128 - start as i128) <= DRIVEN_TO_THE_END as i128 { 40 } else { 4 };
        let mut fired = Vec::new();
        for _ in 0..steps {
            let park = timers.park_timeout().expect("a timer is pending");
            prop_assert!(park <= MAX_PARK && MAX_PARK <= MAX_POLL_TIMEOUT, "parked {park:?}");
            let now = fake_now().saturating_add(park.as_nanos() as i64);
            NOW.set(now);
            timers.unparked();
            timers.fire_due(&mut fired);
            let woken = flag.0.swap(false, Ordering::SeqCst);
            let (poll, _) = timers.poll_sleep(&mut cx, &mut slot, deadline, i64::MIN);
            prop_assert_eq!(woken, poll.is_ready(), "woken iff ready, at {}", now);
            if poll.is_ready() {
                prop_assert!(deadline <= now, "fired early: due {deadline}, now {now}");
                prop_assert_eq!(timers.len(), 0, "a completed sleep frees its entry");
                return Ok(());
            }
            prop_assert!((now as i128) < due, "missed: due {due}, now {now}, not fired");
        }
        prop_assert!(steps == 4, "a deadline {} ns away did not fire", deadline - start);
        timers.cancel(&mut slot);
        prop_assert_eq!(timers.len(), 0);
        Ok(())
    }

    #[test]
    fn timeout_table() {
        let far = |t: i64, d: i64| t.saturating_add(d);
        for origin in [0, 123_456_789, 1_700_000_000 * SEC + 999_999, i64::MAX / 4] {
            for since in [0, 1, MS - 1, MS, 5 * SEC + 1] {
                let start = origin + since;
                for deadline in [
                    start,                                 // 0
                    start + 1,                             // 1 ns
                    start + 300_000,                       // sub-ms
                    start + MS - 1,                        // just under a tick
                    start + MS,                            // a tick
                    far(start, 100_000_000 * SEC + 1),     // 10^8 s + 1 ns
                    far(start, i64::MAX),                  // Duration::MAX
                    far(start, YEAR.saturating_mul(1000)), // 1,000 years ahead (saturates)
                    start - 1,                             // past
                    start - SEC,                           // past
                    i64::MIN,                              // Timestamp::MIN
                    origin - 1,                            // before the timers' origin
                ] {
                    if let Err(e) = drive(origin, start, deadline) {
                        panic!("origin {origin}, start {start}, deadline {deadline}: {e}");
                    }
                }
            }
        }
    }

    #[test]
    fn park_duration_edges() {
        let tick = |t: i64| t * RESOLUTION_NS;
        let max_park_ticks = MAX_PARK.as_nanos() as u64 / RESOLUTION_NS as u64;
        assert_eq!(park_duration(tick(5), None), None);
        assert_eq!(park_duration(tick(5), Some(3)), Some(Duration::ZERO));
        assert_eq!(park_duration(tick(5), Some(5)), Some(Duration::ZERO));
        assert_eq!(park_duration(tick(5) - 1, Some(5)), Some(Duration::from_nanos(1)));
        assert_eq!(park_duration(tick(5), Some(6)), Some(RESOLUTION));
        // Mid-tick: exactly to the start of the next deadline's tick, not a whole tick more.
        assert_eq!(park_duration(tick(5) + 1, Some(6)), Some(RESOLUTION - Duration::from_nanos(1)));
        assert_eq!(park_duration(-MS, Some(0)), Some(Duration::from_millis(1)));
        assert_eq!(park_duration(0, Some(u64::MAX)), Some(MAX_PARK));
        assert_eq!(park_duration(0, Some(max_park_ticks)), Some(MAX_PARK));
        assert_eq!(park_duration(0, Some(max_park_ticks + 1)), Some(MAX_PARK));
        assert_eq!(park_duration(i64::MAX, Some(u64::MAX)), Some(MAX_PARK));
        assert!(MAX_PARK < MAX_POLL_TIMEOUT);
        assert!(MAX_POLL_TIMEOUT < std::time::Duration::from_secs(100_000_000));
    }

    /// Deadlines from every range: near, within the wheel's first lap, beyond it, anywhere.
    fn offsets() -> impl Strategy<Value = i64> {
        prop_oneof![
            -2 * MS..10 * MS,
            -SEC..100 * SEC,
            -YEAR..3 * YEAR,
            any::<i64>(),
            Just(i64::MAX),
            Just(i64::MIN),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn park_duration_is_exact_or_clamped(now in any::<i64>(), next in any::<Option<u64>>()) {
            let d = park_duration(now, next);
            prop_assert_eq!(d.is_none(), next.is_none());
            if let (Some(d), Some(next)) = (d, next) {
                prop_assert!(d <= MAX_PARK);
                let left = (next as i128 * RESOLUTION_NS as i128 - now as i128).max(0);
                if left <= MAX_PARK.as_nanos() as i128 {
                    prop_assert_eq!(d.as_nanos() as i128, left);
                } else {
                    prop_assert_eq!(d, MAX_PARK);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(100_000))]

        #[test]
        fn random_deadlines_never_early_never_missed_always_in_range(
            origin in 0..i64::MAX / 2,
            since in prop_oneof![0..3 * MS, 0..YEAR],
            offset in offsets(),
        ) {
            let start = origin + since;
            drive(origin, start, start.saturating_add(offset))?;
        }
    }
}
