//! `kqio::sync::Condition`: signal and broadcast with a `Mutex`, the guard given back on every
//! path, and the cancellation rules (a canceled waiter returns `Canceled` with the mutex locked
//! again; a signal handed to a waiter canceled or dropped in the same instant goes on).
//!
//! No test sleeps to order a race: steps are ordered with the mutex and condition themselves,
//! oneshot channels, manual polls, and by yielding until the condition reports queued waiters.

#[path = "common/waiters.rs"]
mod waiters;

use std::sync::Arc;

use futures::channel::oneshot;
use futures::poll;
use kqio::sync::{Condition, Mutex};
use kqio::{Canceled, InitOptions, Kqueue};

use waiters::until_waiters;

fn runtime(threads: usize) -> Kqueue {
    Kqueue::init(InitOptions { n_threads: Some(threads), ..Default::default() }).unwrap()
}

/// A bounded buffer built from one mutex and two conditions moves 10,000 items from two
/// producers to two consumers, in order per producer.
#[test]
fn producer_consumer() {
    struct Buf {
        items: Mutex<std::collections::VecDeque<(u32, u32)>>,
        not_empty: Condition,
        not_full: Condition,
    }
    for threads in [2, 4] {
        let rt = runtime(threads);
        let io = rt.io();
        let buf = Arc::new(Buf {
            items: Mutex::new(Default::default()),
            not_empty: Condition::new(),
            not_full: Condition::new(),
        });
        let got = rt.block_on(async {
            let producers: Vec<_> = (0..2u32)
                .map(|p| {
                    let buf = buf.clone();
                    io.r#async(async move {
                        for i in 0..5_000 {
                            let mut g = buf.items.lock().await.unwrap();
                            while g.len() == 4 {
                                g = buf.not_full.wait_uncancelable(g).await;
                            }
                            g.push_back((p, i));
                            buf.not_empty.signal();
                        }
                    })
                })
                .collect();
            let consumers: Vec<_> = (0..2)
                .map(|_| {
                    let buf = buf.clone();
                    io.r#async(async move {
                        let mut seen = Vec::new();
                        for _ in 0..5_000 {
                            let mut g = buf.items.lock().await.unwrap();
                            while g.is_empty() {
                                let (g2, r) = buf.not_empty.wait(g).await;
                                r.unwrap();
                                g = g2;
                            }
                            seen.push(g.pop_front().unwrap());
                            buf.not_full.signal();
                        }
                        seen
                    })
                })
                .collect();
            for p in producers {
                p.await;
            }
            let mut all = Vec::new();
            for c in consumers {
                let seen = c.await;
                for p in 0..2 {
                    let mine: Vec<_> = seen.iter().filter(|x| x.0 == p).map(|x| x.1).collect();
                    assert!(mine.windows(2).all(|w| w[0] < w[1]), "FIFO per producer");
                }
                all.extend(seen);
            }
            all
        });
        assert_eq!(got.len(), 10_000);
        rt.deinit();
    }
}

/// `broadcast` wakes every waiter; each returns holding the mutex.
#[test]
fn broadcast_wakes_every_waiter() {
    let rt = runtime(4);
    let io = rt.io();
    let pair = Arc::new((Mutex::new(0u32), Condition::new()));
    rt.block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let pair = pair.clone();
                io.r#async(async move {
                    let (m, c) = &*pair;
                    let mut g = m.lock().await.unwrap();
                    while *g == 0 {
                        let (g2, r) = c.wait(g).await;
                        r.unwrap();
                        g = g2;
                    }
                    *g += 1;
                })
            })
            .collect();
        until_waiters(&io, &pair.1, 8).await;
        *pair.0.lock().await.unwrap() = 1;
        pair.1.broadcast();
        for t in tasks {
            t.await;
        }
        assert_eq!(*pair.0.lock().await.unwrap(), 9);
    });
}

/// `signal` with nobody waiting is lost (as with every condition variable); a signal wakes the
/// longest waiting task first.
#[test]
fn signal_wakes_the_first_waiter() {
    let rt = runtime(2);
    rt.block_on(async {
        let m = Mutex::new(());
        let c = Condition::new();
        c.signal();
        c.broadcast();
        let mut a = Box::pin(c.wait(m.lock().await.unwrap()));
        assert!(poll!(a.as_mut()).is_pending());
        let mut b = Box::pin(c.wait(m.lock().await.unwrap()));
        assert!(poll!(b.as_mut()).is_pending());
        c.signal();
        assert!(poll!(b.as_mut()).is_pending());
        let (g, r) = a.await;
        assert_eq!(r, Ok(()));
        drop(g);
        c.signal();
        assert_eq!(b.await.1, Ok(()));
    });
}

/// A task canceled while it waits gets the guard back with `Err(Canceled)`: the mutex is
/// locked again before it returns (Zig), and the condition has no waiter left.
#[test]
fn cancel_returns_canceled_with_the_mutex_locked() {
    let rt = runtime(2);
    let io = rt.io();
    let pair = Arc::new((Mutex::new(7), Condition::new()));
    rt.block_on(async {
        let task = {
            let pair = pair.clone();
            io.r#async(async move {
                let (m, c) = &*pair;
                let g = m.lock().await.unwrap();
                let (g, r) = c.wait(g).await;
                let held = m.try_lock().is_none();
                (*g, r, held)
            })
        };
        until_waiters(&io, &pair.1, 1).await;
        assert_eq!(task.cancel().await, (7, Err(Canceled), true));
        assert!(format!("{:?}", pair.1).ends_with("waiters: 0 }"));
        assert!(pair.0.try_lock().is_some());
    });
}

/// With a cancellation already pending, `wait` returns at once, without unlocking.
#[test]
fn pending_cancel_returns_at_once() {
    let rt = runtime(2);
    let io = rt.io();
    let pair = Arc::new((Mutex::new(()), Condition::new()));
    rt.block_on(async {
        let (go_tx, go_rx) = oneshot::channel::<()>();
        let task = {
            let pair = pair.clone();
            io.r#async(async move {
                let (m, c) = &*pair;
                let g = m.lock().await.unwrap();
                go_rx.await.unwrap();
                c.wait(g).await.1
            })
        };
        let mut cancel = Box::pin(task.cancel());
        assert!(poll!(cancel.as_mut()).is_pending());
        go_tx.send(()).unwrap();
        assert_eq!(cancel.await, Err(Canceled));
    });
}

/// A waiter handed the signal and canceled in the same instant passes the signal on: the next
/// waiter wakes (no hang).
#[test]
fn canceled_waiter_passes_the_signal_on() {
    let rt = runtime(2);
    let io = rt.io();
    let pair = Arc::new((Mutex::new(()), Condition::new()));
    rt.block_on(async {
        let (queued_tx, queued_rx) = oneshot::channel();
        let (go_tx, go_rx) = oneshot::channel::<()>();
        let task = {
            let pair = pair.clone();
            io.r#async(async move {
                let (m, c) = &*pair;
                let mut a = Box::pin(c.wait(m.lock().await.unwrap()));
                assert!(poll!(a.as_mut()).is_pending());
                queued_tx.send(()).unwrap();
                go_rx.await.unwrap(); // not a cancellation point
                a.await.1
            })
        };
        queued_rx.await.unwrap();
        let (m, c) = &*pair;
        let mut b = Box::pin(c.wait(m.lock().await.unwrap()));
        assert!(poll!(b.as_mut()).is_pending());
        c.signal(); // to the task's waiter
        let mut cancel = Box::pin(task.cancel());
        assert!(poll!(cancel.as_mut()).is_pending());
        go_tx.send(()).unwrap();
        assert_eq!(cancel.await, Err(Canceled));
        assert_eq!(b.await.1, Ok(()));
    });
}

/// A wait future dropped while queued, or after it was signaled, leaves the condition usable;
/// the signal of the second goes on to the next waiter.
#[test]
fn dropped_waiters_leave_the_condition_usable() {
    let rt = runtime(2);
    rt.block_on(async {
        let m = Mutex::new(());
        let c = Condition::new();
        let mut a = Box::pin(c.wait(m.lock().await.unwrap()));
        assert!(poll!(a.as_mut()).is_pending());
        drop(a);
        assert!(format!("{c:?}").ends_with("waiters: 0 }"));
        assert!(m.try_lock().is_some(), "the dropped wait had unlocked the mutex");
        let mut b = Box::pin(c.wait(m.lock().await.unwrap()));
        assert!(poll!(b.as_mut()).is_pending());
        let mut d = Box::pin(c.wait(m.lock().await.unwrap()));
        assert!(poll!(d.as_mut()).is_pending());
        c.signal(); // to `b`
        drop(b); // passes it to `d`
        assert_eq!(d.await.1, Ok(()));
    });
}

/// `wait_uncancelable` does not see a request; the next cancellation point does.
#[test]
fn wait_uncancelable_ignores_cancellation() {
    let rt = runtime(2);
    let io = rt.io();
    let pair = Arc::new((Mutex::new(false), Condition::new()));
    rt.block_on(async {
        let task = {
            let (pair, io) = (pair.clone(), io.clone());
            io.clone().r#async(async move {
                let (m, c) = &*pair;
                let mut g = m.lock().await.unwrap();
                while !*g {
                    g = c.wait_uncancelable(g).await;
                }
                drop(g);
                io.check_cancel()
            })
        };
        until_waiters(&io, &pair.1, 1).await;
        let mut cancel = Box::pin(task.cancel());
        assert!(poll!(cancel.as_mut()).is_pending());
        *pair.0.lock().await.unwrap() = true;
        pair.1.signal();
        assert_eq!(cancel.await, Err(Canceled));
    });
}

/// Zig "Condition waitTimeout": a 1 ms timed wait times out (with the mutex locked again), then
/// a signal from another task wakes a timed wait long before its deadline.
#[test]
fn wait_timeout_times_out_then_signal_wakes() {
    use kqio::sync::WaitTimeoutError;
    use kqio::time::{Duration, Timeout};
    let rt = runtime(2);
    let io = rt.io();
    let pair = Arc::new((Mutex::new(false), Condition::new()));
    rt.block_on(async {
        let (m, c) = &*pair;
        let g = m.lock().await.unwrap();
        let (g, r) = c.wait_timeout(&*io, g, Timeout::after(Duration::from_millis(1))).await;
        assert_eq!(r, Err(WaitTimeoutError::TimedOut));
        assert!(m.try_lock().is_none(), "locked again after the timeout");
        assert!(format!("{c:?}").ends_with("waiters: 0 }"));

        let signaler = {
            let pair = pair.clone();
            io.r#async(async move {
                let (m, c) = &*pair;
                *m.lock().await.unwrap() = true;
                c.signal();
            })
        };
        let mut g = g;
        while !*g {
            let (g2, r) =
                c.wait_timeout(&*io, g, Timeout::after(Duration::from_millis(60_000))).await;
            r.unwrap();
            g = g2;
        }
        drop(g);
        signaler.await;
    });
}

/// A timed wait that is canceled returns `Canceled` (with the guard), not `TimedOut`.
#[test]
fn wait_timeout_is_a_cancellation_point() {
    use kqio::sync::WaitTimeoutError;
    use kqio::time::{Duration, Timeout};
    let rt = runtime(2);
    let io = rt.io();
    let pair = Arc::new((Mutex::new(()), Condition::new()));
    rt.block_on(async {
        let task = {
            let (pair, io) = (pair.clone(), io.clone());
            io.clone().r#async(async move {
                let (m, c) = &*pair;
                let g = m.lock().await.unwrap();
                let t = Timeout::after(Duration::from_millis(60_000));
                c.wait_timeout(&*io, g, t).await.1
            })
        };
        until_waiters(&io, &pair.1, 1).await;
        assert_eq!(task.cancel().await, Err(WaitTimeoutError::Canceled));
    });
}
