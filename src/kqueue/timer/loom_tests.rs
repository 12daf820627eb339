//! Loom models of the timers: a sleep's insert and cancel against the driver's firing, and a
//! new timer against the driver's park (ground rule 3: `next_wake`).
//!
//! Each model has its own clock (a static read by a plain `fn`, as `Timers::new` takes), set by
//! the model's threads; the clock itself is not a preemption point, the wheel's lock and the
//! `count`/`next_wake` words are. Leak checks: the wheel ends empty and every waker clone is
//! gone (the counting waker's `Arc` strong count is 1).

use std::future::poll_fn;
use std::sync::atomic::{AtomicI64, Ordering as StdOrdering};
use std::sync::Arc;
use std::task::{Context, Poll};

use super::{Slot, Timers, RESOLUTION_NS};
use crate::loom::model::{counting_waker, model};
use crate::loom::sync::{Condvar, Mutex};

const MS: i64 = RESOLUTION_NS;

static CLOCK_FIRE: AtomicI64 = AtomicI64::new(0);
fn clock_fire() -> i64 {
    CLOCK_FIRE.load(StdOrdering::SeqCst)
}

static CLOCK_CANCEL: AtomicI64 = AtomicI64::new(0);
fn clock_cancel() -> i64 {
    CLOCK_CANCEL.load(StdOrdering::SeqCst)
}

static CLOCK_PARK: AtomicI64 = AtomicI64::new(0);
fn clock_park() -> i64 {
    CLOCK_PARK.load(StdOrdering::SeqCst)
}

/// One turn of the driver after its poll returned at `now`: what `Worker::park` does.
fn driver_turn(timers: &Timers, clock: &AtomicI64, now: i64) {
    timers.park_timeout();
    clock.store(now, StdOrdering::SeqCst);
    timers.unparked();
    let mut fired = Vec::new();
    timers.fire_due(&mut fired);
}

/// A sleeping task re-polls its timer (registering its waker again) while the driver fires
/// it: the sleep completes (no lost wake-up), and its entry is freed.
#[test]
fn timer_fire_vs_poll() {
    model(|| {
        CLOCK_FIRE.store(0, StdOrdering::SeqCst);
        let timers = Arc::new(Timers::new(clock_fire));
        let mut slot: Slot = 0;
        let (c, waker) = counting_waker();
        let first =
            timers.poll_sleep(&mut Context::from_waker(&waker), &mut slot, 2 * MS, i64::MIN);
        assert!(first.0.is_pending());
        drop(waker);
        let driver = {
            let timers = timers.clone();
            loom::thread::spawn(move || driver_turn(&timers, &CLOCK_FIRE, 5 * MS))
        };
        loom::future::block_on(poll_fn(|cx| timers.poll_sleep(cx, &mut slot, 2 * MS, i64::MIN).0));
        driver.join().unwrap();
        assert_eq!(slot, 0);
        assert_eq!(timers.len(), 0, "the fired entry was freed");
        assert_eq!(Arc::strong_count(&c), 1, "no waker kept");
    });
}

/// A sleep canceled (dropped) while the driver fires it: the entry is freed once, its waker
/// woken at most once, and no clone of it is kept.
#[test]
fn timer_cancel_vs_fire() {
    model(|| {
        CLOCK_CANCEL.store(0, StdOrdering::SeqCst);
        let timers = Arc::new(Timers::new(clock_cancel));
        let mut slot: Slot = 0;
        let (c, waker) = counting_waker();
        assert!(timers
            .poll_sleep(&mut Context::from_waker(&waker), &mut slot, 2 * MS, i64::MIN)
            .0
            .is_pending());
        drop(waker);
        let driver = {
            let timers = timers.clone();
            loom::thread::spawn(move || driver_turn(&timers, &CLOCK_CANCEL, 5 * MS))
        };
        timers.cancel(&mut slot);
        driver.join().unwrap();
        assert_eq!(slot, 0);
        assert_eq!(timers.len(), 0);
        assert!(!timers.has_timers());
        assert!(c.wakes() <= 1);
        assert_eq!(Arc::strong_count(&c), 1, "no waker kept");
    });
}

/// A model of the poller's wake (see the scheduler's models): remembered until the next poll.
struct Kick {
    set: Mutex<bool>,
    cv: Condvar,
}

/// A timer inserted while the driver parks: if the driver's park did not account for it (it
/// computed its timeout before the insert), the insert tells the sleeper to wake the driver
/// (ground rule 3). Otherwise the driver, sleeping with no timeout, would never fire it: loom
/// reports that as a deadlock.
#[test]
fn timer_insert_vs_driver_park() {
    model(|| {
        CLOCK_PARK.store(0, StdOrdering::SeqCst);
        let timers = Arc::new(Timers::new(clock_park));
        let kick = Arc::new(Kick { set: Mutex::new(false), cv: Condvar::new() });
        let (c, waker) = counting_waker();
        let sleeper = {
            let (timers, kick) = (timers.clone(), kick.clone());
            loom::thread::spawn(move || {
                let mut slot: Slot = 0;
                let (poll, wake_driver) = timers.poll_sleep(
                    &mut Context::from_waker(&waker),
                    &mut slot,
                    2 * MS,
                    i64::MIN,
                );
                assert!(poll.is_pending());
                if wake_driver {
                    *kick.set.lock().unwrap() = true;
                    kick.cv.notify_one();
                }
                slot
            })
        };
        // The driver: compute the timeout, sleep (forever without a timer), wake, fire.
        let timeout = timers.park_timeout();
        if timeout.is_none() {
            let mut k = kick.set.lock().unwrap();
            while !*k {
                k = kick.cv.wait(k).unwrap();
            }
        }
        CLOCK_PARK.store(5 * MS, StdOrdering::SeqCst);
        timers.unparked();
        let mut fired = Vec::new();
        timers.fire_due(&mut fired);
        let mut slot = sleeper.join().unwrap();
        assert_ne!(slot, 0);
        // The driver fired it if it knew of it; a last turn (as the driver's next) fires it
        // otherwise.
        driver_turn(&timers, &CLOCK_PARK, 6 * MS);
        assert_eq!(c.wakes(), 1, "the timer fired once");
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert_eq!(timers.poll_sleep(&mut cx, &mut slot, 2 * MS, i64::MIN).0, Poll::Ready(()));
        assert_eq!(timers.len(), 0);
        assert_eq!(Arc::strong_count(&c), 1, "no waker kept");
    });
}
