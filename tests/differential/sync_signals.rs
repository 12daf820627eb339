//! `Condition`, `Event` and `Semaphore`: wake-ups (signal, broadcast, set, post), FIFO hand-off
//! where documented, canceled waits (the guard handed back, no permit taken), the
//! `_uncancelable` and `_timeout` forms.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::poll;
use kqio::sync::{Condition, Event, Mutex, Semaphore, WaitTimeoutError};
use kqio::time::{Duration, Timeout};
use kqio::Canceled;

use crate::harness::Ctx;
use crate::util::{debug_count, until_count};

differential!(sync_signals:
    condition_signal_wakes_a_waiter,
    condition_broadcast_wakes_every_waiter,
    condition_bounded_buffer,
    condition_wait_timeout_gives_the_guard_back,
    condition_canceled_wait_gives_the_guard_back,
    condition_signal_with_no_waiter_is_not_kept,
    event_set_releases_every_waiter,
    event_set_reset_and_is_set,
    event_wait_timeout,
    event_canceled_wait_leaves_the_queue,
    event_wait_uncancelable_ignores_cancellation,
    semaphore_bounds_the_holders,
    semaphore_hands_permits_out_in_fifo_order,
    semaphore_canceled_wait_takes_no_permit,
    semaphore_wait_timeout_and_try_wait,
);

fn ms(n: i64) -> Timeout {
    Timeout::after(Duration::from_millis(n))
}

async fn condition_signal_wakes_a_waiter(t: Ctx) {
    let io = t.io;
    let pair = Arc::new((Mutex::new(false), Condition::new()));
    let p = pair.clone();
    let waiter = io.r#async(async move {
        let (ready, cond) = &*p;
        let mut g = ready.lock().await?;
        while !*g {
            let (g2, r) = cond.wait(g).await;
            g = g2;
            r?;
        }
        Ok::<_, Canceled>(())
    });
    until_count(&io, &pair.1, "waiters", 1).await;
    *pair.0.lock().await.unwrap() = true;
    pair.1.signal();
    assert_eq!(waiter.await, Ok(()));
}

async fn condition_broadcast_wakes_every_waiter(t: Ctx) {
    let io = t.io;
    let pair = Arc::new((Mutex::new(0u32), Condition::new()));
    let waiters: Vec<_> = (0..8)
        .map(|_| {
            let p = pair.clone();
            io.r#async(async move {
                let (gen, cond) = &*p;
                let mut g = gen.lock_uncancelable().await;
                while *g == 0 {
                    g = cond.wait_uncancelable(g).await;
                }
                *g
            })
        })
        .collect();
    until_count(&io, &pair.1, "waiters", 8).await;
    *pair.0.lock().await.unwrap() = 7;
    pair.1.broadcast();
    for w in waiters {
        assert_eq!(w.await, 7);
    }
    assert_eq!(debug_count(&pair.1, "waiters"), 0);
}

async fn condition_bounded_buffer(t: Ctx) {
    let io = t.io;
    // A queue of at most 2 built from a mutex and two conditions: 3 producers, 2 consumers.
    struct Shared {
        items: Mutex<Vec<u32>>,
        not_full: Condition,
        not_empty: Condition,
    }
    let s = Arc::new(Shared {
        items: Mutex::new(Vec::new()),
        not_full: Condition::new(),
        not_empty: Condition::new(),
    });
    let producers: Vec<_> = (0..3u32)
        .map(|p| {
            let s = s.clone();
            io.r#async(async move {
                for i in 0..50 {
                    let mut g = s.items.lock_uncancelable().await;
                    while g.len() == 2 {
                        g = s.not_full.wait_uncancelable(g).await;
                    }
                    g.push(p * 1000 + i);
                    s.not_empty.signal();
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let s = s.clone();
            io.r#async(async move {
                let mut got = Vec::new();
                for _ in 0..75 {
                    let mut g = s.items.lock_uncancelable().await;
                    while g.is_empty() {
                        g = s.not_empty.wait_uncancelable(g).await;
                    }
                    got.push(g.remove(0));
                    s.not_full.signal();
                }
                got
            })
        })
        .collect();
    for p in producers {
        p.await;
    }
    let mut all = Vec::new();
    for c in consumers {
        all.extend(c.await);
    }
    all.sort_unstable();
    let want: Vec<u32> = (0..3).flat_map(|p| (0..50).map(move |i| p * 1000 + i)).collect();
    assert_eq!(all, want);
}

async fn condition_wait_timeout_gives_the_guard_back(t: Ctx) {
    let io = t.io;
    let m = Mutex::new(3);
    let c = Condition::new();
    let g = m.lock().await.unwrap();
    let (g, r) = c.wait_timeout(&*io, g, ms(5)).await;
    assert_eq!(r, Err(WaitTimeoutError::TimedOut));
    assert_eq!(*g, 3, "the guard is held again");
    assert!(m.try_lock().is_none());
    drop(g);
    assert_eq!(debug_count(&c, "waiters"), 0);
}

async fn condition_canceled_wait_gives_the_guard_back(t: Ctx) {
    let io = t.io;
    let pair = Arc::new((Mutex::new(0), Condition::new()));
    let p = pair.clone();
    let task = io.r#async(async move {
        let (m, c) = &*p;
        let g = m.lock().await.unwrap();
        let (mut g, r) = c.wait(g).await;
        *g += 1; // still held
        r
    });
    until_count(&io, &pair.1, "waiters", 1).await;
    assert_eq!(task.cancel().await, Err(Canceled));
    assert_eq!(*pair.0.lock().await.unwrap(), 1);
    assert_eq!(debug_count(&pair.1, "waiters"), 0);
}

async fn condition_signal_with_no_waiter_is_not_kept(t: Ctx) {
    let io = t.io;
    let m = Mutex::new(());
    let c = Condition::new();
    c.signal();
    c.broadcast();
    let g = m.lock().await.unwrap();
    let (_g, r) = c.wait_timeout(&*io, g, ms(5)).await;
    assert_eq!(r, Err(WaitTimeoutError::TimedOut), "an earlier signal does not wake a later wait");
}

async fn event_set_releases_every_waiter(t: Ctx) {
    let io = t.io;
    let ev = Arc::new(Event::new());
    let waiters: Vec<_> = (0..10)
        .map(|_| {
            let ev = ev.clone();
            io.r#async(async move { ev.wait().await })
        })
        .collect();
    until_count(&io, &*ev, "waiters", 10).await;
    ev.set();
    for w in waiters {
        assert_eq!(w.await, Ok(()));
    }
}

async fn event_set_reset_and_is_set(t: Ctx) {
    let io = t.io;
    let ev = Event::new();
    assert!(!ev.is_set());
    ev.set();
    ev.set();
    assert!(ev.is_set());
    assert_eq!(ev.wait().await, Ok(()), "a set event returns at once");
    ev.wait_uncancelable().await;
    ev.reset();
    assert!(!ev.is_set());
    assert_eq!(ev.wait_timeout(&*io, ms(2)).await, Err(WaitTimeoutError::TimedOut));
}

async fn event_wait_timeout(t: Ctx) {
    let io = t.io;
    let ev = Arc::new(Event::new());
    assert_eq!(ev.wait_timeout(&*io, ms(5)).await, Err(WaitTimeoutError::TimedOut));
    assert_eq!(debug_count(&*ev, "waiters"), 0);
    let (ev2, io2) = (ev.clone(), io.clone());
    let waiter = io.r#async(async move {
        ev2.wait_timeout(&*io2, Timeout::after(Duration::from_secs(3_600))).await
    });
    until_count(&io, &*ev, "waiters", 1).await;
    ev.set();
    assert_eq!(waiter.await, Ok(()));
}

async fn event_canceled_wait_leaves_the_queue(t: Ctx) {
    let io = t.io;
    let ev = Arc::new(Event::new());
    let ev2 = ev.clone();
    let task = io.r#async(async move { ev2.wait().await });
    until_count(&io, &*ev, "waiters", 1).await;
    assert_eq!(task.cancel().await, Err(Canceled));
    assert_eq!(debug_count(&*ev, "waiters"), 0);
    assert!(!ev.is_set());
}

async fn event_wait_uncancelable_ignores_cancellation(t: Ctx) {
    let io = t.io;
    let ev = Arc::new(Event::new());
    let (ev2, io2) = (ev.clone(), io.clone());
    let task = io.r#async(async move {
        ev2.wait_uncancelable().await;
        io2.check_cancel()
    });
    until_count(&io, &*ev, "waiters", 1).await;
    let mut cancel = Box::pin(task.cancel());
    for _ in 0..20 {
        assert!(poll!(cancel.as_mut()).is_pending());
        io.yield_now().await;
    }
    ev.set();
    assert_eq!(cancel.await, Err(Canceled), "the next point sees the request");
}

async fn semaphore_bounds_the_holders(t: Ctx) {
    let io = t.io;
    let sem = Arc::new(Semaphore::new(3));
    let holding = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..30)
        .map(|_| {
            let (sem, holding, most, io2) =
                (sem.clone(), holding.clone(), most.clone(), io.clone());
            io.r#async(async move {
                for _ in 0..5 {
                    sem.wait().await.unwrap();
                    let now = holding.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    io2.yield_now().await;
                    holding.fetch_sub(1, Ordering::SeqCst);
                    sem.post();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await;
    }
    assert!(most.load(Ordering::SeqCst) <= 3, "{} holders", most.load(Ordering::SeqCst));
    assert_eq!(sem.permits(), 3);
}

async fn semaphore_hands_permits_out_in_fifo_order(t: Ctx) {
    let io = t.io;
    let sem = Arc::new(Semaphore::new(0));
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..5 {
        let (sem2, order2) = (sem.clone(), order.clone());
        tasks.push(io.r#async(async move {
            sem2.wait().await.unwrap();
            order2.lock().unwrap().push(i);
        }));
        until_count(&io, &*sem, "waiters", i + 1).await;
    }
    for i in 0..5 {
        sem.post();
        // The permit went to the longest waiter: wait until it recorded itself.
        while order.lock().unwrap().len() < i + 1 {
            io.yield_now().await;
        }
    }
    for t in tasks {
        t.await;
    }
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4]);
    assert_eq!(sem.permits(), 0);
}

async fn semaphore_canceled_wait_takes_no_permit(t: Ctx) {
    let io = t.io;
    let sem = Arc::new(Semaphore::new(0));
    let sem2 = sem.clone();
    let task = io.r#async(async move { sem2.wait().await });
    until_count(&io, &*sem, "waiters", 1).await;
    assert_eq!(task.cancel().await, Err(Canceled));
    assert_eq!(debug_count(&*sem, "waiters"), 0);
    sem.post();
    assert_eq!(sem.permits(), 1, "the canceled waiter took nothing");
}

async fn semaphore_wait_timeout_and_try_wait(t: Ctx) {
    let io = t.io;
    let sem = Semaphore::new(1);
    assert!(sem.try_wait());
    assert!(!sem.try_wait());
    assert_eq!(sem.wait_timeout(&*io, ms(5)).await, Err(WaitTimeoutError::TimedOut));
    sem.post();
    sem.post();
    assert_eq!(sem.permits(), 2);
    assert_eq!(sem.wait_timeout(&*io, ms(5)).await, Ok(()));
    sem.wait_uncancelable().await;
    assert_eq!(sem.permits(), 0);
}
