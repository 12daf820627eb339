//! `kqio::sync::Mutex`: mutual exclusion across tasks and workers, cancellation of a waiting
//! lock, and what a waiter that gives up does with a wake-up it was handed.
//!
//! No test sleeps to order a race: steps are ordered with oneshot channels, manual polls
//! (`futures::poll!`) and by waiting (yielding) until the mutex reports a queued waiter.

#[path = "common/waiters.rs"]
mod waiters;

use std::sync::Arc;

use futures::channel::oneshot;
use futures::poll;
use kqio::sync::Mutex;
use kqio::{Canceled, InitOptions, Kqueue};

use waiters::until_waiters;

fn runtime(threads: usize) -> Kqueue {
    Kqueue::init(InitOptions { n_threads: Some(threads), ..Default::default() }).unwrap()
}

#[test]
fn try_lock_and_guard() {
    let m = Mutex::new(1);
    let mut g = m.try_lock().unwrap();
    assert!(m.try_lock().is_none());
    *g += 1;
    drop(g);
    assert_eq!(*m.try_lock().unwrap(), 2);
    assert_eq!(m.into_inner(), 2);
}

/// 1,000 tasks × 100 increments, each holding the lock across an await (a yield), on 2 and 4
/// workers: exactly 100,000, and the lock is never seen held twice.
#[test]
fn lock_held_across_await_by_many_tasks() {
    for threads in [2, 4] {
        let rt = runtime(threads);
        let io = rt.io();
        let m = Arc::new(Mutex::new((0u64, false)));
        let total = rt.block_on(async {
            let tasks: Vec<_> = (0..1_000)
                .map(|_| {
                    let (m, io) = (m.clone(), io.clone());
                    io.clone().r#async(async move {
                        for _ in 0..100 {
                            let mut g = m.lock().await.unwrap();
                            assert!(!g.1, "two holders at once");
                            g.1 = true;
                            io.yield_now().await;
                            g.0 += 1;
                            g.1 = false;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await;
            }
            m.lock().await.unwrap().0
        });
        assert_eq!(total, 100_000, "{threads} workers");
        rt.deinit();
    }
}

/// A lock future dropped while it waits leaves the queue: the mutex stays usable, and a
/// dropped waiter that had already been woken passes its wake-up on to the next waiter.
#[test]
fn dropped_waiters_leave_the_mutex_usable() {
    let rt = runtime(2);
    rt.block_on(async {
        let m = Mutex::new(0);
        let g = m.try_lock().unwrap();
        // Dropped while queued.
        let mut a = Box::pin(m.lock());
        assert!(poll!(a.as_mut()).is_pending());
        drop(a);
        assert!(format!("{m:?}").ends_with("waiters: 0 }"));
        // Dropped after it was woken: its wake-up goes to `c`.
        let mut b = Box::pin(m.lock());
        let mut c = Box::pin(m.lock());
        assert!(poll!(b.as_mut()).is_pending());
        assert!(poll!(c.as_mut()).is_pending());
        drop(g); // wakes `b`
        drop(b); // passes the wake-up to `c`
        *c.await.unwrap() += 1;
        assert_eq!(*m.lock().await.unwrap(), 1);
        assert!(m.try_lock().is_some());
    });
}

/// Canceling a task that waits for the lock returns `Canceled` promptly; the mutex is left
/// with no waiter.
#[test]
fn cancel_of_a_waiting_lock_returns_canceled() {
    let rt = runtime(2);
    let io = rt.io();
    let m = Arc::new(Mutex::new(()));
    rt.block_on(async {
        let g = m.lock().await.unwrap();
        let task = {
            let m = m.clone();
            io.r#async(async move { m.lock().await.map(drop) })
        };
        until_waiters(&io, &m, 1).await;
        assert_eq!(task.cancel().await, Err(Canceled));
        assert!(format!("{m:?}").ends_with("waiters: 0 }"));
        drop(g);
        assert!(m.try_lock().is_some());
    });
}

/// A waiter that is handed the wake-up and canceled in the same instant passes the wake-up on:
/// the next waiter gets the lock (no hang).
#[test]
fn canceled_waiter_passes_its_wake_up_on() {
    let rt = runtime(2);
    let io = rt.io();
    let m = Arc::new(Mutex::new(0));
    rt.block_on(async {
        let g = m.lock().await.unwrap();
        let (queued_tx, queued_rx) = oneshot::channel();
        let (go_tx, go_rx) = oneshot::channel::<()>();
        let task = {
            let m = m.clone();
            io.r#async(async move {
                let mut a = Box::pin(m.lock());
                assert!(poll!(a.as_mut()).is_pending());
                queued_tx.send(()).unwrap();
                go_rx.await.unwrap(); // not a cancellation point
                a.await.map(drop)
            })
        };
        queued_rx.await.unwrap();
        let mut b = Box::pin(m.lock());
        assert!(poll!(b.as_mut()).is_pending());
        drop(g); // wakes the task's waiter, which does not run until `go`
        let mut cancel = Box::pin(task.cancel());
        assert!(poll!(cancel.as_mut()).is_pending()); // the request is made
        go_tx.send(()).unwrap();
        assert_eq!(cancel.await, Err(Canceled));
        *b.await.unwrap() += 1;
        assert_eq!(*m.lock().await.unwrap(), 1);
    });
}

/// `lock_uncancelable` does not see a request; the task's next cancellation point does.
#[test]
fn lock_uncancelable_ignores_cancellation() {
    let rt = runtime(2);
    let io = rt.io();
    let m = Arc::new(Mutex::new(5));
    rt.block_on(async {
        let g = m.lock().await.unwrap();
        let task = {
            let (m, io) = (m.clone(), io.clone());
            io.clone().r#async(async move {
                let v = *m.lock_uncancelable().await;
                (v, io.check_cancel())
            })
        };
        until_waiters(&io, &m, 1).await;
        let mut cancel = Box::pin(task.cancel());
        assert!(poll!(cancel.as_mut()).is_pending());
        drop(g);
        assert_eq!(cancel.await, (5, Err(Canceled)));
    });
}

/// A free lock is taken at once even with a cancellation pending (as Zig's `lock`); the wait
/// is the cancellation point.
#[test]
fn uncontended_lock_is_not_a_cancellation_point() {
    let rt = runtime(2);
    let io = rt.io();
    let m = Arc::new(Mutex::new(()));
    rt.block_on(async {
        let (go_tx, go_rx) = oneshot::channel::<()>();
        let task = {
            let (m, io) = (m.clone(), io.clone());
            io.clone().r#async(async move {
                go_rx.await.unwrap();
                let free = m.lock().await.map(drop);
                let _g = m.lock().await.unwrap();
                let contended = m.lock().await.map(drop); // would deadlock unless canceled
                (free, contended, io.check_cancel())
            })
        };
        let mut cancel = Box::pin(task.cancel());
        assert!(poll!(cancel.as_mut()).is_pending());
        go_tx.send(()).unwrap();
        assert_eq!(cancel.await, (Ok(()), Err(Canceled), Ok(())));
    });
}

#[test]
fn guards_and_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    fn sync<T: Sync>(_: &T) {}
    let m = Mutex::new(0u8);
    sync(&m);
    send(&m.lock());
    send(&m.lock_uncancelable());
    let g = m.try_lock().unwrap();
    send(&g);
    sync(&g);
}

/// `lock_timeout` on a held mutex times out and leaves no waiter; on a free one it locks.
#[test]
fn lock_timeout() {
    use kqio::sync::WaitTimeoutError;
    use kqio::time::{Duration, Timeout};
    let rt = runtime(2);
    let io = rt.io();
    rt.block_on(async {
        let m = Mutex::new(1);
        let t = || Timeout::after(Duration::from_millis(1));
        let g = m.lock().await.unwrap();
        assert_eq!(m.lock_timeout(&*io, t()).await.map(drop), Err(WaitTimeoutError::TimedOut));
        assert!(format!("{m:?}").ends_with("waiters: 0 }"));
        drop(g);
        assert_eq!(*m.lock_timeout(&*io, t()).await.unwrap(), 1);
    });
}
