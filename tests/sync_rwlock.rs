//! `kqio::sync::RwLock`: Zig's RwLock tests (internal state, smoke, concurrent access with 2
//! writers × 1000 and 4 readers × 2000 that always see equal pairs, canceled lockers leave the
//! lock as new), FIFO fairness between readers and writers, and dropped or canceled waiters.
//!
//! No test sleeps to order a race: steps are ordered with manual polls, oneshot channels and by
//! yielding until the lock reports queued waiters. "As new" is checked by comparing the lock's
//! `Debug` output (its state word and waiter count) with a new lock's.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::channel::oneshot;
use futures::poll;
use kqio::sync::RwLock;
use kqio::{Canceled, InitOptions, IoRef, Kqueue};

fn runtime(threads: usize) -> Kqueue {
    Kqueue::init(InitOptions { n_threads: Some(threads), ..Default::default() }).unwrap()
}

fn as_new<T>(l: &RwLock<T>) -> bool {
    format!("{l:?}") == format!("{:?}", RwLock::new(()))
}

/// Yields until `l` has at least `n` queued waiters (as its `Debug` output reports).
async fn until_waiters<T>(io: &IoRef, l: &RwLock<T>, n: usize) {
    let waiters = |s: String| -> usize {
        let rest = &s[s.find("waiters: ").unwrap() + 9..];
        rest[..rest.find(',').unwrap()].parse().unwrap()
    };
    while waiters(format!("{l:?}")) < n {
        io.yield_now().await;
    }
}

/// Zig "RwLock internal state": lock then unlock leaves it as new.
#[test]
fn internal_state() {
    let rt = runtime(2);
    let l = RwLock::new(());
    rt.block_on(async { drop(l.write_uncancelable().await) });
    assert!(as_new(&l));
}

/// Zig "RwLock smoke test", step for step.
#[test]
fn smoke() {
    let rt = runtime(2);
    let l = RwLock::new(0);
    rt.block_on(async {
        let w = l.write_uncancelable().await;
        assert!(l.try_write().is_none());
        assert!(l.try_read().is_none());
        drop(w);

        let w = l.try_write().unwrap();
        assert!(l.try_write().is_none());
        assert!(l.try_read().is_none());
        drop(w);

        let r1 = l.read_uncancelable().await;
        assert!(l.try_write().is_none());
        let r2 = l.try_read().unwrap();
        drop((r1, r2));

        let r1 = l.try_read().unwrap();
        assert!(l.try_write().is_none());
        let r2 = l.try_read().unwrap();
        drop((r1, r2));

        drop(l.write_uncancelable().await);
    });
    assert!(as_new(&l));
}

/// Zig "RwLock concurrent access": 2 writers make 1000 writes in all, each setting a pair to a
/// new value with a yield between the halves; 4 readers make 2000 reads in all and always see
/// equal halves.
#[test]
fn concurrent_access_sees_equal_pairs() {
    const WRITES: usize = 1000;
    const READS: usize = 2000;
    struct Run {
        writes: usize,
        a: usize,
        b: usize,
    }
    for threads in [2, 4] {
        let rt = runtime(threads);
        let io = rt.io();
        let lock = Arc::new(RwLock::new(Run { writes: 0, a: 0, b: 0 }));
        let reads = Arc::new(AtomicUsize::new(0));
        rt.block_on(async {
            let mut tasks = Vec::new();
            for w in 0..2usize {
                let (lock, io) = (lock.clone(), io.clone());
                tasks.push(io.clone().r#async(async move {
                    let mut seed = w as u64 + 1;
                    loop {
                        let mut g = lock.write_uncancelable().await;
                        assert!(g.writes <= WRITES);
                        if g.writes == WRITES {
                            break;
                        }
                        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                        let new = (seed >> 33) as usize;
                        let old_a = g.a;
                        g.a = new;
                        if seed & 1 << 40 != 0 {
                            io.yield_now().await;
                        }
                        let old_b = g.b;
                        g.b = new;
                        assert_eq!(old_a, old_b);
                        g.writes += 1;
                    }
                }));
            }
            for r in 0..4usize {
                let (lock, io, reads) = (lock.clone(), io.clone(), reads.clone());
                tasks.push(io.clone().r#async(async move {
                    let mut seed = r as u64 + 10;
                    loop {
                        let g = lock.read_uncancelable().await;
                        assert!(g.writes <= WRITES);
                        if reads.fetch_add(1, Ordering::Relaxed) >= READS {
                            break;
                        }
                        let a = g.a;
                        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                        if seed & 1 << 40 != 0 {
                            io.yield_now().await;
                        }
                        assert_eq!(a, g.b);
                    }
                }));
            }
            for t in tasks {
                t.await;
            }
        });
        assert_eq!(lock.try_read().unwrap().writes, WRITES);
        assert!(reads.load(Ordering::Relaxed) >= READS);
        assert!(as_new(&lock));
        rt.deinit();
    }
}

/// Lockers of both kinds canceled while they wait return `Canceled` promptly and leave the lock
/// as new once the holder lets go.
#[test]
fn canceled_lockers_leave_the_lock_as_new() {
    let rt = runtime(4);
    let io = rt.io();
    let lock = Arc::new(RwLock::new(0));
    rt.block_on(async {
        for held_shared in [false, true] {
            let holder = if held_shared {
                (Some(lock.read().await.unwrap()), None)
            } else {
                (None, Some(lock.write().await.unwrap()))
            };
            let mut tasks = Vec::new();
            for i in 0..6 {
                let lock = lock.clone();
                tasks.push(io.r#async(async move {
                    if i % 2 == 0 {
                        lock.write().await.map(drop)
                    } else {
                        lock.read().await.map(drop)
                    }
                }));
            }
            // Behind a holding reader, readers queue only behind a queued writer: wait for the
            // three writers at least.
            until_waiters(&io, &lock, if held_shared { 3 } else { 6 }).await;
            for t in tasks {
                let r = t.cancel().await;
                assert!(r == Err(Canceled) || (held_shared && r == Ok(())), "{r:?}");
            }
            drop(holder);
            assert!(as_new(&lock), "{lock:?}");
        }
    });
}

/// Waiters are served in FIFO order: a writer waits for the reader before it; readers that
/// come after a waiting writer wait for it; a run of readers at the front is granted together.
#[test]
fn fifo_between_readers_and_writers() {
    let rt = runtime(2);
    rt.block_on(async {
        let l = RwLock::new(0);
        let r0 = l.read().await.unwrap();
        let mut w1 = Box::pin(l.write());
        assert!(poll!(w1.as_mut()).is_pending());
        assert!(l.try_read().is_none(), "a queued writer is not overtaken");
        let mut r2 = Box::pin(l.read());
        let mut r3 = Box::pin(l.read());
        let mut w4 = Box::pin(l.write());
        assert!(poll!(r2.as_mut()).is_pending());
        assert!(poll!(r3.as_mut()).is_pending());
        assert!(poll!(w4.as_mut()).is_pending());
        drop(r0);
        let mut g = w1.await.unwrap();
        *g += 1;
        assert!(poll!(r2.as_mut()).is_pending());
        drop(g);
        let (a, b) = (r2.await.unwrap(), r3.await.unwrap());
        assert_eq!(*a + *b, 2);
        assert!(poll!(w4.as_mut()).is_pending());
        drop((a, b));
        drop(w4.await.unwrap());
        assert!(as_new(&l));
    });
}

/// A queued writer that is dropped lets the readers behind it in at once (they join the
/// readers that hold the lock); a waiter dropped after it was granted releases the lock.
#[test]
fn dropped_waiters_hand_the_lock_on() {
    let rt = runtime(2);
    rt.block_on(async {
        let l = RwLock::new(());
        let r0 = l.read().await.unwrap();
        let mut w = Box::pin(l.write());
        assert!(poll!(w.as_mut()).is_pending());
        let mut r = Box::pin(l.read());
        assert!(poll!(r.as_mut()).is_pending());
        drop(w);
        let r1 = r.await.unwrap();
        drop((r0, r1));
        assert!(as_new(&l));

        let g = l.write().await.unwrap();
        let mut w = Box::pin(l.write());
        let mut r = Box::pin(l.read());
        assert!(poll!(w.as_mut()).is_pending());
        assert!(poll!(r.as_mut()).is_pending());
        drop(g); // grants `w`
        drop(w); // releases it: grants `r`
        drop(r.await.unwrap());
        assert!(as_new(&l));
    });
}

/// A writer granted the lock and canceled in the same instant releases it: the next waiter gets
/// the lock (no hang).
#[test]
fn canceled_waiter_passes_the_lock_on() {
    let rt = runtime(2);
    let io = rt.io();
    let l = Arc::new(RwLock::new(0));
    rt.block_on(async {
        let g = l.write().await.unwrap();
        let (queued_tx, queued_rx) = oneshot::channel();
        let (go_tx, go_rx) = oneshot::channel::<()>();
        let task = {
            let l = l.clone();
            io.r#async(async move {
                let mut a = Box::pin(l.write());
                assert!(poll!(a.as_mut()).is_pending());
                queued_tx.send(()).unwrap();
                go_rx.await.unwrap(); // not a cancellation point
                a.await.map(drop)
            })
        };
        queued_rx.await.unwrap();
        let mut b = Box::pin(l.read());
        assert!(poll!(b.as_mut()).is_pending());
        drop(g); // grants the task's writer
        let mut cancel = Box::pin(task.cancel());
        assert!(poll!(cancel.as_mut()).is_pending());
        go_tx.send(()).unwrap();
        assert_eq!(cancel.await, Err(Canceled));
        drop(b.await.unwrap());
        assert!(as_new(&l));
    });
}

/// `read_timeout` / `write_timeout` behind a writer time out and leave the lock as new.
#[test]
fn lock_timeouts() {
    use kqio::sync::WaitTimeoutError;
    use kqio::time::{Duration, Timeout};
    let rt = runtime(2);
    let io = rt.io();
    rt.block_on(async {
        let l = RwLock::new(0);
        let t = || Timeout::after(Duration::from_millis(1));
        let g = l.write().await.unwrap();
        assert_eq!(l.read_timeout(&*io, t()).await.map(drop), Err(WaitTimeoutError::TimedOut));
        assert_eq!(l.write_timeout(&*io, t()).await.map(drop), Err(WaitTimeoutError::TimedOut));
        drop(g);
        assert!(as_new(&l));
        drop(l.read_timeout(&*io, t()).await.unwrap());
        drop(l.write_timeout(&*io, t()).await.unwrap());
        assert!(as_new(&l));
    });
}
