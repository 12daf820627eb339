//! `kqio::sync::Semaphore`: Zig's test (3 workers share 1 permit), FIFO hand-off, and the
//! cancellation rules: a canceled wait takes no permit, and a permit handed to a waiter that is
//! canceled or dropped in the same instant goes to the next waiter.
//!
//! No test sleeps to order a race: steps are ordered with oneshot channels, manual polls and by
//! yielding until the semaphore reports a queued waiter.

#[path = "common/waiters.rs"]
mod waiters;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use futures::channel::oneshot;
use futures::poll;
use kqio::sync::Semaphore;
use kqio::{Canceled, InitOptions, Kqueue};

use waiters::until_waiters;

fn runtime(threads: usize) -> Kqueue {
    Kqueue::init(InitOptions { n_threads: Some(threads), ..Default::default() }).unwrap()
}

/// Zig `test Semaphore`: three workers share one permit; each increments under it.
#[test]
fn three_workers_share_one_permit() {
    for threads in [2, 4] {
        let rt = runtime(threads);
        let io = rt.io();
        let sem = Arc::new(Semaphore::new(1));
        let n = Arc::new(AtomicU32::new(0));
        let inside = Arc::new(AtomicU32::new(0));
        rt.block_on(async {
            let workers: Vec<_> = (0..3)
                .map(|_| {
                    let (sem, n, inside, io) = (sem.clone(), n.clone(), inside.clone(), io.clone());
                    io.clone().r#async(async move {
                        for _ in 0..1_000 {
                            sem.wait().await.unwrap();
                            assert_eq!(inside.fetch_add(1, Ordering::Relaxed), 0);
                            io.yield_now().await;
                            n.fetch_add(1, Ordering::Relaxed);
                            inside.fetch_sub(1, Ordering::Relaxed);
                            sem.post();
                        }
                    })
                })
                .collect();
            for w in workers {
                w.await;
            }
            sem.wait().await.unwrap();
        });
        assert_eq!(n.load(Ordering::Relaxed), 3_000);
        assert_eq!(sem.permits(), 0);
        rt.deinit();
    }
}

#[test]
fn try_wait_and_post() {
    let sem = Semaphore::new(2);
    assert!(sem.try_wait());
    assert!(sem.try_wait());
    assert!(!sem.try_wait());
    sem.post();
    assert_eq!(sem.permits(), 1);
}

/// `post` hands the permit to the longest waiting task.
#[test]
fn post_wakes_waiters_in_fifo_order() {
    let rt = runtime(2);
    rt.block_on(async {
        let sem = Semaphore::new(0);
        let mut a = Box::pin(sem.wait());
        let mut b = Box::pin(sem.wait());
        assert!(poll!(a.as_mut()).is_pending());
        assert!(poll!(b.as_mut()).is_pending());
        sem.post();
        assert!(!sem.try_wait(), "the permit went to `a`, not to the counter");
        assert!(poll!(b.as_mut()).is_pending());
        assert_eq!(a.await, Ok(()));
        sem.post();
        assert_eq!(b.await, Ok(()));
        assert_eq!(sem.permits(), 0);
    });
}

/// A task canceled while it waits returns `Canceled` promptly and takes no permit.
#[test]
fn canceled_wait_takes_no_permit() {
    let rt = runtime(2);
    let io = rt.io();
    let sem = Arc::new(Semaphore::new(0));
    rt.block_on(async {
        let task = {
            let sem = sem.clone();
            io.r#async(async move { sem.wait().await })
        };
        until_waiters(&io, &sem, 1).await;
        assert_eq!(task.cancel().await, Err(Canceled));
        sem.post();
        assert_eq!(sem.permits(), 1);
    });
}

/// A waiter handed the permit and canceled in the same instant posts it again: the next waiter
/// gets it (no hang), and no permit is lost or made up.
#[test]
fn canceled_waiter_passes_its_permit_on() {
    let rt = runtime(2);
    let io = rt.io();
    let sem = Arc::new(Semaphore::new(0));
    rt.block_on(async {
        let (queued_tx, queued_rx) = oneshot::channel();
        let (go_tx, go_rx) = oneshot::channel::<()>();
        let task = {
            let sem = sem.clone();
            io.r#async(async move {
                let mut a = Box::pin(sem.wait());
                assert!(poll!(a.as_mut()).is_pending());
                queued_tx.send(()).unwrap();
                go_rx.await.unwrap(); // not a cancellation point
                a.await
            })
        };
        queued_rx.await.unwrap();
        let mut b = Box::pin(sem.wait());
        assert!(poll!(b.as_mut()).is_pending());
        sem.post(); // hands the permit to the task's waiter
        let mut cancel = Box::pin(task.cancel());
        assert!(poll!(cancel.as_mut()).is_pending());
        go_tx.send(()).unwrap();
        assert_eq!(cancel.await, Err(Canceled));
        assert_eq!(b.await, Ok(()));
        assert_eq!(sem.permits(), 0);
    });
}

/// A wait future dropped after it was handed a permit posts it again.
#[test]
fn dropped_waiter_passes_its_permit_on() {
    let rt = runtime(2);
    rt.block_on(async {
        let sem = Semaphore::new(0);
        let mut a = Box::pin(sem.wait());
        assert!(poll!(a.as_mut()).is_pending());
        drop(a); // dropped while queued
        let mut b = Box::pin(sem.wait());
        assert!(poll!(b.as_mut()).is_pending());
        sem.post();
        drop(b); // dropped holding the permit
        assert_eq!(sem.permits(), 1);
        sem.wait().await.unwrap();
    });
}

/// `wait_uncancelable` does not see a request; the next cancellation point does.
#[test]
fn wait_uncancelable_ignores_cancellation() {
    let rt = runtime(2);
    let io = rt.io();
    let sem = Arc::new(Semaphore::new(0));
    rt.block_on(async {
        let task = {
            let (sem, io) = (sem.clone(), io.clone());
            io.clone().r#async(async move {
                sem.wait_uncancelable().await;
                io.check_cancel()
            })
        };
        until_waiters(&io, &sem, 1).await;
        let mut cancel = Box::pin(task.cancel());
        assert!(poll!(cancel.as_mut()).is_pending());
        sem.post();
        assert_eq!(cancel.await, Err(Canceled));
        assert_eq!(sem.permits(), 0);
    });
}

/// A timed wait with no permit times out and takes none; one released by `post` takes it.
#[test]
fn wait_timeout() {
    use kqio::sync::WaitTimeoutError;
    use kqio::time::{Duration, Timeout};
    let rt = runtime(2);
    let io = rt.io();
    let sem = Arc::new(Semaphore::new(0));
    rt.block_on(async {
        let t = |ms| Timeout::after(Duration::from_millis(ms));
        assert_eq!(sem.wait_timeout(&*io, t(1)).await, Err(WaitTimeoutError::TimedOut));
        assert!(format!("{sem:?}").ends_with("waiters: 0 }"));
        let waiter = {
            let (sem, io) = (sem.clone(), io.clone());
            io.clone().r#async(async move { sem.wait_timeout(&*io, t(60_000)).await })
        };
        until_waiters(&io, &sem, 1).await;
        sem.post();
        assert_eq!(waiter.await, Ok(()));
        assert_eq!(sem.permits(), 0);
        sem.post();
        assert_eq!(sem.wait_timeout(&*io, t(0)).await, Ok(()));
    });
}
