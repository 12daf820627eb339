//! `kqio::sync::Event`: Zig's Event tests (smoke, signaling ping-pong, broadcast to 10
//! waiters, a waiter sees the value after `set`, cancel after `reset` yields `Canceled`), plus
//! dropped waiters.
//!
//! No test sleeps to order a race: steps are ordered by the events themselves, oneshot channels
//! and manual polls.

#[path = "common/waiters.rs"]
mod waiters;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::poll;
use kqio::sync::Event;
use kqio::{Canceled, InitOptions, Kqueue};

use waiters::until_waiters;

fn runtime(threads: usize) -> Kqueue {
    Kqueue::init(InitOptions { n_threads: Some(threads), ..Default::default() }).unwrap()
}

/// Zig "Event smoke test" (the timed waits are in the timeout tests).
#[test]
fn smoke() {
    let rt = runtime(2);
    let e = Event::new();
    assert!(!e.is_set());
    e.set();
    assert!(e.is_set());
    e.reset();
    assert!(!e.is_set());
    e.set();
    rt.block_on(async {
        e.wait().await.unwrap();
        e.wait_uncancelable().await;
    });
    assert!(e.is_set());
}

/// Zig "Event signaling": two tasks ping-pong a value over two events.
#[test]
fn signaling_ping_pong() {
    for threads in [2, 4] {
        let rt = runtime(threads);
        let io = rt.io();
        struct Ctx {
            input: Event,
            output: Event,
            value: AtomicUsize,
        }
        let ctx =
            Arc::new(Ctx { input: Event::new(), output: Event::new(), value: AtomicUsize::new(0) });
        rt.block_on(async {
            let out = {
                let ctx = ctx.clone();
                io.r#async(async move {
                    assert_eq!(ctx.value.load(Ordering::Relaxed), 0);
                    ctx.value.store(1, Ordering::Relaxed);
                    ctx.input.set();
                    ctx.output.wait().await.unwrap();
                    ctx.output.reset();
                    assert_eq!(ctx.value.load(Ordering::Relaxed), 2);
                    ctx.value.store(3, Ordering::Relaxed);
                    ctx.input.set();
                    ctx.output.wait().await.unwrap();
                    ctx.output.reset();
                    assert_eq!(ctx.value.load(Ordering::Relaxed), 4);
                })
            };
            ctx.input.wait().await.unwrap();
            ctx.input.reset();
            assert_eq!(ctx.value.load(Ordering::Relaxed), 1);
            ctx.value.store(2, Ordering::Relaxed);
            ctx.output.set();
            ctx.input.wait().await.unwrap();
            ctx.input.reset();
            assert_eq!(ctx.value.load(Ordering::Relaxed), 3);
            ctx.value.store(4, Ordering::Relaxed);
            ctx.output.set();
            out.await;
        });
        rt.deinit();
    }
}

/// Zig "Event broadcast": 10 tasks pass two barriers built from an event and a counter; the
/// last to arrive sets the event and releases the other nine.
#[test]
fn broadcast_releases_ten_waiters() {
    const N: usize = 10;
    struct Barrier {
        event: Event,
        counter: AtomicUsize,
    }
    impl Barrier {
        async fn wait(&self) {
            if self.counter.fetch_sub(1, Ordering::AcqRel) == 1 {
                self.event.set();
            }
            self.event.wait().await.unwrap();
        }
    }
    for threads in [2, 4] {
        let rt = runtime(threads);
        let io = rt.io();
        let start = Arc::new(Barrier { event: Event::new(), counter: AtomicUsize::new(N) });
        let finish = Arc::new(Barrier { event: Event::new(), counter: AtomicUsize::new(N) });
        rt.block_on(async {
            let tasks: Vec<_> = (0..N - 1)
                .map(|_| {
                    let (start, finish) = (start.clone(), finish.clone());
                    io.r#async(async move {
                        start.wait().await;
                        finish.wait().await;
                    })
                })
                .collect();
            start.wait().await;
            finish.wait().await;
            for t in tasks {
                t.await;
            }
        });
        rt.deinit();
    }
}

/// One `set` wakes every queued waiter (all ten are queued before it).
#[test]
fn one_set_wakes_all_queued_waiters() {
    let rt = runtime(4);
    let io = rt.io();
    let e = Arc::new(Event::new());
    rt.block_on(async {
        let tasks: Vec<_> = (0..10)
            .map(|i| {
                let e = e.clone();
                io.r#async(async move { e.wait().await.map(|()| i) })
            })
            .collect();
        until_waiters(&io, &e, 10).await;
        e.set();
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await, Ok(i));
        }
    });
}

/// A waiter gets the value written before `set`; after `reset`, a waiting task that is
/// canceled returns `Canceled` (Zig's cancel test for Event).
#[test]
fn waiter_sees_value_after_set_and_cancel_after_reset() {
    let rt = runtime(2);
    let io = rt.io();
    let shared = Arc::new((Event::new(), AtomicUsize::new(0)));
    rt.block_on(async {
        let waiter = {
            let shared = shared.clone();
            io.r#async(async move {
                shared.0.wait().await?;
                Ok::<_, Canceled>(shared.1.load(Ordering::Relaxed))
            })
        };
        shared.1.store(42, Ordering::Relaxed);
        shared.0.set();
        assert_eq!(waiter.await, Ok(42));

        shared.0.reset();
        let waiter = {
            let shared = shared.clone();
            io.r#async(async move { shared.0.wait().await })
        };
        until_waiters(&io, &shared.0, 1).await;
        assert_eq!(waiter.cancel().await, Err(Canceled));
        assert!(format!("{:?}", shared.0).ends_with("waiters: 0 }"));
    });
}

/// `wait_uncancelable` does not see a request: it returns once the event is set.
#[test]
fn wait_uncancelable_ignores_cancellation() {
    let rt = runtime(2);
    let io = rt.io();
    let e = Arc::new(Event::new());
    rt.block_on(async {
        let task = {
            let (e, io) = (e.clone(), io.clone());
            io.clone().r#async(async move {
                e.wait_uncancelable().await;
                io.check_cancel()
            })
        };
        until_waiters(&io, &e, 1).await;
        let mut cancel = Box::pin(task.cancel());
        assert!(poll!(cancel.as_mut()).is_pending());
        e.set();
        assert_eq!(cancel.await, Err(Canceled));
    });
}

/// A wait future dropped while queued leaves the event with no waiter.
#[test]
fn dropped_waiter_leaves_the_event_usable() {
    let rt = runtime(2);
    rt.block_on(async {
        let e = Event::new();
        let mut a = Box::pin(e.wait());
        let mut b = Box::pin(e.wait());
        assert!(poll!(a.as_mut()).is_pending());
        assert!(poll!(b.as_mut()).is_pending());
        drop(a);
        assert!(format!("{e:?}").ends_with("waiters: 1 }"));
        e.set();
        drop(b); // woken, then dropped
        assert!(format!("{e:?}").ends_with("waiters: 0 }"));
        e.wait().await.unwrap();
    });
}

/// Zig "Event smoke test", the timed part: 0 and 1 ms timeouts on an unset event time out;
/// after `set`, a timed wait returns at once.
#[test]
fn wait_timeout_smoke() {
    use kqio::sync::WaitTimeoutError;
    use kqio::time::{Duration, Timeout};
    let rt = runtime(2);
    let io = rt.io();
    let e = Event::new();
    rt.block_on(async {
        let t = |ms| Timeout::after(Duration::from_millis(ms));
        assert_eq!(e.wait_timeout(&*io, t(0)).await, Err(WaitTimeoutError::TimedOut));
        assert_eq!(e.wait_timeout(&*io, t(1)).await, Err(WaitTimeoutError::TimedOut));
        assert!(format!("{e:?}").ends_with("waiters: 0 }"));
        e.set();
        e.wait().await.unwrap();
        assert_eq!(e.wait_timeout(&*io, t(1)).await, Ok(()));
        assert!(e.is_set());
    });
}

/// A timed wait released by `set` well before its deadline returns `Ok`.
#[test]
fn wait_timeout_released_by_set() {
    use kqio::time::{Duration, Timeout};
    let rt = runtime(2);
    let io = rt.io();
    let e = Arc::new(Event::new());
    rt.block_on(async {
        let waiter = {
            let (e, io) = (e.clone(), io.clone());
            io.clone().r#async(async move {
                e.wait_timeout(&*io, Timeout::after(Duration::from_millis(60_000))).await
            })
        };
        until_waiters(&io, &e, 1).await;
        e.set();
        assert_eq!(waiter.await, Ok(()));
    });
}
