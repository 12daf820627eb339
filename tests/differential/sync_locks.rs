//! `Mutex` and `RwLock`: exclusion under contention, FIFO wake-ups where documented, canceled and
//! dropped waits (nothing taken, nothing lost), the `_uncancelable` and `_timeout` forms.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::channel::oneshot;
use futures::poll;
use kqio::sync::{Mutex, RwLock, WaitTimeoutError};
use kqio::time::{Duration, Timeout};
use kqio::Canceled;

use crate::harness::Ctx;
use crate::util::{debug_count, until_count};

differential!(sync_locks:
    mutex_excludes_across_awaits,
    mutex_waiters_get_the_lock_in_fifo_order,
    mutex_cancel_of_a_waiting_lock,
    mutex_lock_uncancelable_ignores_cancellation,
    mutex_uncontended_lock_is_not_a_cancellation_point,
    mutex_lock_timeout,
    mutex_dropped_waiters_leave_it_usable,
    rwlock_readers_share_writers_exclude,
    rwlock_readers_queue_behind_a_waiting_writer,
    rwlock_cancel_of_a_waiting_writer_lets_readers_in,
    rwlock_timeouts,
    rwlock_mixed_readers_and_writers,
);

fn ms(n: i64) -> Timeout {
    Timeout::after(Duration::from_millis(n))
}

async fn mutex_excludes_across_awaits(t: Ctx) {
    let io = t.io;
    let m = Arc::new(Mutex::new((0u64, false)));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (m, io2) = (m.clone(), io.clone());
            io.r#async(async move {
                for _ in 0..20 {
                    let mut g = m.lock().await.unwrap();
                    assert!(!g.1, "two holders at once");
                    g.1 = true;
                    io2.yield_now().await;
                    g.0 += 1;
                    g.1 = false;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await;
    }
    assert_eq!(m.lock().await.unwrap().0, 1_000);
}

async fn mutex_waiters_get_the_lock_in_fifo_order(t: Ctx) {
    let io = t.io;
    let m = Arc::new(Mutex::new(Vec::new()));
    let g = m.lock().await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..5 {
        let m2 = m.clone();
        tasks.push(io.r#async(async move { m2.lock().await.unwrap().push(i) }));
        // Queue them one at a time, so the queue's order is known.
        until_count(&io, &*m, "waiters", i + 1).await;
    }
    drop(g);
    for t in tasks {
        t.await;
    }
    assert_eq!(*m.lock().await.unwrap(), [0, 1, 2, 3, 4]);
}

async fn mutex_cancel_of_a_waiting_lock(t: Ctx) {
    let io = t.io;
    let m = Arc::new(Mutex::new(()));
    let g = m.lock().await.unwrap();
    let m2 = m.clone();
    let task = io.r#async(async move { m2.lock().await.map(drop) });
    until_count(&io, &*m, "waiters", 1).await;
    assert_eq!(task.cancel().await, Err(Canceled));
    assert_eq!(debug_count(&*m, "waiters"), 0);
    drop(g);
    assert!(m.try_lock().is_some());
}

async fn mutex_lock_uncancelable_ignores_cancellation(t: Ctx) {
    let io = t.io;
    let m = Arc::new(Mutex::new(5));
    let g = m.lock().await.unwrap();
    let (m2, io2) = (m.clone(), io.clone());
    let task = io.r#async(async move {
        let v = *m2.lock_uncancelable().await;
        (v, io2.check_cancel())
    });
    until_count(&io, &*m, "waiters", 1).await;
    let mut cancel = Box::pin(task.cancel());
    assert!(poll!(cancel.as_mut()).is_pending());
    for _ in 0..20 {
        io.yield_now().await;
        assert!(poll!(cancel.as_mut()).is_pending());
    }
    drop(g);
    assert_eq!(cancel.await, (5, Err(Canceled)));
}

async fn mutex_uncontended_lock_is_not_a_cancellation_point(t: Ctx) {
    let io = t.io;
    let m = Arc::new(Mutex::new(()));
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let (m2, io2) = (m.clone(), io.clone());
    let task = io.r#async(async move {
        go_rx.await.unwrap();
        let free = m2.lock().await.map(drop);
        let _g = m2.lock().await.unwrap();
        let contended = m2.lock().await.map(drop); // would deadlock unless canceled
        (free, contended, io2.check_cancel())
    });
    let mut cancel = Box::pin(task.cancel());
    assert!(poll!(cancel.as_mut()).is_pending());
    go_tx.send(()).unwrap();
    assert_eq!(cancel.await, (Ok(()), Err(Canceled), Ok(())));
}

async fn mutex_lock_timeout(t: Ctx) {
    let io = t.io;
    let m = Mutex::new(1);
    let g = m.lock().await.unwrap();
    assert_eq!(m.lock_timeout(&*io, ms(5)).await.map(drop), Err(WaitTimeoutError::TimedOut));
    assert_eq!(debug_count(&m, "waiters"), 0);
    drop(g);
    assert_eq!(*m.lock_timeout(&*io, ms(5)).await.unwrap(), 1);
}

async fn mutex_dropped_waiters_leave_it_usable(t: Ctx) {
    let _ = t;
    let m = Mutex::new(0);
    let g = m.try_lock().unwrap();
    let mut a = Box::pin(m.lock());
    assert!(poll!(a.as_mut()).is_pending());
    drop(a);
    assert_eq!(debug_count(&m, "waiters"), 0);
    // Dropped after it was woken: its wake-up goes to `c`.
    let mut b = Box::pin(m.lock());
    let mut c = Box::pin(m.lock());
    assert!(poll!(b.as_mut()).is_pending());
    assert!(poll!(c.as_mut()).is_pending());
    drop(g);
    drop(b);
    *c.await.unwrap() += 1;
    assert_eq!(*m.lock().await.unwrap(), 1);
}

async fn rwlock_readers_share_writers_exclude(t: Ctx) {
    let _ = t;
    let l = RwLock::new(5);
    let a = l.read().await.unwrap();
    let b = l.read().await.unwrap();
    assert_eq!(*a + *b, 10);
    assert!(l.try_write().is_none());
    drop((a, b));
    let mut w = l.write().await.unwrap();
    *w += 1;
    assert!(l.try_read().is_none());
    assert!(l.try_write().is_none());
    drop(w);
    assert_eq!(*l.try_read().unwrap(), 6);
}

async fn rwlock_readers_queue_behind_a_waiting_writer(t: Ctx) {
    let io = t.io;
    let l = Arc::new(RwLock::new(Vec::new()));
    let r = l.read().await.unwrap();
    let l2 = l.clone();
    let writer = io.r#async(async move { l2.write().await.unwrap().push("w") });
    until_count(&io, &*l, "waiters", 1).await;
    // A writer waits: a new reader does not overtake it.
    assert!(l.try_read().is_none());
    let l3 = l.clone();
    let reader = io.r#async(async move {
        let g = l3.read().await.unwrap();
        g.clone()
    });
    until_count(&io, &*l, "waiters", 2).await;
    drop(r);
    writer.await;
    assert_eq!(reader.await, ["w"], "the reader came after the writer");
}

async fn rwlock_cancel_of_a_waiting_writer_lets_readers_in(t: Ctx) {
    let io = t.io;
    let l = Arc::new(RwLock::new(0));
    let r = l.read().await.unwrap();
    let l2 = l.clone();
    let writer = io.r#async(async move { l2.write().await.map(drop) });
    until_count(&io, &*l, "waiters", 1).await;
    let l3 = l.clone();
    let reader = io.r#async(async move { *l3.read().await.unwrap() });
    until_count(&io, &*l, "waiters", 2).await;
    assert_eq!(writer.cancel().await, Err(Canceled));
    assert_eq!(reader.await, 0, "the queued reader is granted once the writer left");
    drop(r);
    assert!(l.try_write().is_some());
}

async fn rwlock_timeouts(t: Ctx) {
    let io = t.io;
    let l = RwLock::new(1);
    let w = l.write().await.unwrap();
    assert_eq!(l.read_timeout(&*io, ms(5)).await.map(drop), Err(WaitTimeoutError::TimedOut));
    assert_eq!(l.write_timeout(&*io, ms(5)).await.map(drop), Err(WaitTimeoutError::TimedOut));
    drop(w);
    let r = l.read_timeout(&*io, ms(5)).await.unwrap();
    assert_eq!(l.write_timeout(&*io, ms(5)).await.map(drop), Err(WaitTimeoutError::TimedOut));
    drop(r);
    assert_eq!(*l.write_timeout(&*io, ms(5)).await.unwrap(), 1);
    assert_eq!(debug_count(&l, "waiters"), 0);
}

async fn rwlock_mixed_readers_and_writers(t: Ctx) {
    let io = t.io;
    let l = Arc::new(RwLock::new((0u64, 0u64)));
    let readers = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let (l, io2, readers) = (l.clone(), io.clone(), readers.clone());
            io.r#async(async move {
                for _ in 0..10 {
                    if i % 4 == 0 {
                        let mut g = l.write().await.unwrap();
                        assert_eq!(readers.load(Ordering::SeqCst), 0, "a reader beside a writer");
                        g.0 += 1;
                        io2.yield_now().await;
                        g.1 += 1;
                    } else {
                        let g = l.read().await.unwrap();
                        readers.fetch_add(1, Ordering::SeqCst);
                        assert_eq!(g.0, g.1, "a torn write seen");
                        io2.yield_now().await;
                        readers.fetch_sub(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await;
    }
    assert_eq!(*l.read().await.unwrap(), (100, 100));
}
