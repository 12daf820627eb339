//! Loom models of a registration's readiness (`ScheduledIo`): an event against a waiter that is
//! registering, and against a waiter clearing the readiness it consumed (ground rule 3). mio
//! cannot run under loom; `set_readiness` is what the driver's `dispatch` calls per event. The
//! parker's hand-off to the poller's wake is modelled in `scheduler/loom_tests.rs`.

use std::future::poll_fn;
use std::sync::Arc;

use super::{ready, Direction, ScheduledIo};
use crate::loom::model::{counting_waker, model};
use crate::loom::sync::atomic::Ordering;

/// An event racing a reader that finds no readiness and registers: the reader is woken or sees
/// the event (no lost wake-up), and its waker is not kept after the event.
#[test]
fn readiness_event_vs_poll_ready() {
    model(|| {
        let sio = Arc::new(ScheduledIo::default());
        let reader = {
            let sio = sio.clone();
            loom::thread::spawn(move || {
                loom::future::block_on(poll_fn(|cx| sio.poll_ready(cx, Direction::Read))).ready
            })
        };
        sio.set_readiness(ready::READABLE);
        assert_ne!(reader.join().unwrap() & ready::READABLE, 0);
    });
}

/// A reader clears the readiness it consumed while a new event arrives: the new event is never
/// lost (the clear only applies at the tick the reader saw).
#[test]
fn readiness_clear_vs_new_event() {
    model(|| {
        let sio = Arc::new(ScheduledIo::default());
        sio.set_readiness(ready::READABLE);
        let reader = {
            let sio = sio.clone();
            loom::thread::spawn(move || {
                let (_c, waker) = counting_waker();
                let ev = match sio
                    .poll_ready(&mut std::task::Context::from_waker(&waker), Direction::Read)
                {
                    std::task::Poll::Ready(ev) => ev,
                    std::task::Poll::Pending => unreachable!("readable before the thread began"),
                };
                // The read got `WouldBlock`: clear what was seen.
                sio.clear_readiness(ev, Direction::Read);
                ev.tick
            })
        };
        sio.set_readiness(ready::READABLE);
        let seen_tick = reader.join().unwrap();
        let now = sio.readiness.load(Ordering::SeqCst);
        let final_tick = now >> ready::BITS;
        assert!(
            now & ready::READABLE != 0 || seen_tick == final_tick,
            "an event after the reader's look was cleared (lost)"
        );
    });
}

/// A reader and a writer wait on one registration while an event for both directions arrives:
/// both are woken, and no waker is kept afterwards.
#[test]
fn readiness_event_wakes_both_directions() {
    model(|| {
        let sio = Arc::new(ScheduledIo::default());
        let (c, waker) = counting_waker();
        let waiters: Vec<_> = [Direction::Read, Direction::Write]
            .into_iter()
            .map(|dir| {
                let sio = sio.clone();
                loom::thread::spawn(move || {
                    loom::future::block_on(poll_fn(|cx| sio.poll_ready(cx, dir)));
                })
            })
            .collect();
        sio.set_readiness(ready::READABLE | ready::WRITABLE);
        waiters.into_iter().for_each(|w| w.join().unwrap());
        // A registration made after the event is woken by the next one, and then dropped.
        let mut cx = std::task::Context::from_waker(&waker);
        let ev = match sio.poll_ready(&mut cx, Direction::Read) {
            std::task::Poll::Ready(ev) => ev,
            std::task::Poll::Pending => unreachable!(),
        };
        sio.clear_readiness(ev, Direction::Read);
        assert!(sio.poll_ready(&mut cx, Direction::Read).is_pending());
        sio.set_readiness(ready::READABLE);
        assert_eq!(c.wakes(), 1);
        drop(waker);
        assert_eq!(Arc::strong_count(&c), 1, "no waker kept after the event");
    });
}
