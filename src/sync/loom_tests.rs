//! Loom models of `kqio::sync`: every primitive's wait against its signal against cancellation.
//!
//! Each waiting side runs under loom's `block_on` (a lost wake-up is a deadlock loom reports) as a
//! task of its own (`block_on_as`), so that `request_cancel` from another thread reaches its
//! cancellation points. Leak checks: a primitive ends free with an empty wait list (its `Debug`
//! says `waiters: 0`), and items are `Arc`s whose strong count returns to 1.

use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use crate::error::Canceled;
use crate::loom::model::{block_on_as, counting_waker, model, poll_once_as};
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::{Condition, Event, Mutex, PutOneError, Queue, QueueError, RwLock, Semaphore};
use crate::task::TaskHeader;

fn task() -> Arc<TaskHeader> {
    Arc::new(TaskHeader::detached(false))
}

fn spawn<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> loom::thread::JoinHandle<T> {
    loom::thread::spawn(f)
}

fn no_waiters(debug: String) {
    assert!(debug.contains("waiters: 0"), "a waiter was left queued: {debug}");
}

// --- Mutex ---

/// An unlock racing a task that is about to queue: the waiter is woken (no lost wake-up).
#[test]
fn mutex_unlock_vs_lock() {
    model(|| {
        let m = Arc::new(Mutex::new(0u32));
        let g = m.try_lock().unwrap();
        let a = {
            let m = m.clone();
            spawn(move || *block_on_as(&task(), m.lock()).unwrap() += 1)
        };
        drop(g);
        a.join().unwrap();
        assert_eq!(*m.try_lock().expect("free at the end"), 1);
        no_waiters(format!("{m:?}"));
    });
}

/// Two tasks queue behind a holder: both get the lock in turn, each increment is kept.
#[test]
fn mutex_two_waiters() {
    model(|| {
        let m = Arc::new(Mutex::new(0u32));
        let g = m.try_lock().unwrap();
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let m = m.clone();
                spawn(move || *block_on_as(&task(), m.lock_uncancelable()) += 1)
            })
            .collect();
        drop(g);
        ts.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(*m.try_lock().expect("free at the end"), 2);
        no_waiters(format!("{m:?}"));
    });
}

/// A waiter canceled while the unlock wakes it passes the wake-up on: the other waiter gets the
/// lock.
#[test]
fn mutex_canceled_waiter_passes_wakeup() {
    model(|| {
        let m = Arc::new(Mutex::new(0u32));
        let g = m.try_lock().unwrap();
        let ha = task();
        let a = {
            let (m, ha) = (m.clone(), ha.clone());
            spawn(move || match block_on_as(&ha, m.lock()) {
                Ok(mut g) => {
                    *g += 1;
                    true
                }
                Err(Canceled) => false,
            })
        };
        let b = {
            let m = m.clone();
            spawn(move || *block_on_as(&task(), m.lock_uncancelable()) += 10)
        };
        ha.request_cancel();
        drop(g);
        let a_locked = a.join().unwrap();
        b.join().unwrap();
        assert_eq!(*m.try_lock().expect("free at the end"), 10 + u32::from(a_locked));
        no_waiters(format!("{m:?}"));
    });
}

/// A queued waiter whose future is dropped while the unlock wakes it passes the wake-up on.
#[test]
fn mutex_dropped_waiter_passes_wakeup() {
    model(|| {
        let m = Arc::new(Mutex::new(0u32));
        let g = m.try_lock().unwrap();
        let a = {
            let m = m.clone();
            spawn(move || {
                let (_c, waker) = counting_waker();
                let mut lock = pin!(m.lock());
                if let Poll::Ready(g) = poll_once_as(&task(), lock.as_mut(), &waker) {
                    drop(g);
                }
                // The future is dropped here, queued or woken.
            })
        };
        let b = {
            let m = m.clone();
            spawn(move || *block_on_as(&task(), m.lock_uncancelable()) += 1)
        };
        drop(g);
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(*m.try_lock().expect("free at the end"), 1);
        no_waiters(format!("{m:?}"));
    });
}

// --- Semaphore ---

/// A post racing a waiter that is about to queue: the waiter gets the permit.
#[test]
fn semaphore_post_vs_wait() {
    model(|| {
        let s = Arc::new(Semaphore::new(0));
        let a = {
            let s = s.clone();
            spawn(move || block_on_as(&task(), s.wait()).unwrap())
        };
        s.post();
        a.join().unwrap();
        assert_eq!(s.permits(), 0);
        no_waiters(format!("{s:?}"));
    });
}

/// A waiter canceled while a post hands it the permit passes the permit on; no permit is lost
/// or made up.
#[test]
fn semaphore_canceled_waiter_passes_permit() {
    model(|| {
        let s = Arc::new(Semaphore::new(0));
        let ha = task();
        let a = {
            let (s, ha) = (s.clone(), ha.clone());
            spawn(move || block_on_as(&ha, s.wait()).is_ok())
        };
        let b = {
            let s = s.clone();
            spawn(move || block_on_as(&task(), s.wait_uncancelable()))
        };
        ha.request_cancel();
        s.post();
        if a.join().unwrap() {
            // A took the first permit: B needs another.
            s.post();
        }
        b.join().unwrap();
        assert_eq!(s.permits(), 0, "no permit lost or made up");
        no_waiters(format!("{s:?}"));
    });
}

/// A queued waiter dropped while a post hands it the permit passes the permit on.
#[test]
fn semaphore_dropped_waiter_passes_permit() {
    model(|| {
        let s = Arc::new(Semaphore::new(0));
        let a = {
            let s = s.clone();
            spawn(move || {
                let (_c, waker) = counting_waker();
                let mut wait = pin!(s.wait());
                poll_once_as(&task(), wait.as_mut(), &waker).is_ready()
            })
        };
        let b = {
            let s = s.clone();
            spawn(move || block_on_as(&task(), s.wait_uncancelable()))
        };
        s.post();
        if a.join().unwrap() {
            s.post();
        }
        b.join().unwrap();
        assert_eq!(s.permits(), 0, "no permit lost or made up");
        no_waiters(format!("{s:?}"));
    });
}

// --- Event ---

/// `set` racing a waiter that is about to queue: the waiter returns.
#[test]
fn event_set_vs_wait() {
    model(|| {
        let e = Arc::new(Event::new());
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let e = e.clone();
                spawn(move || block_on_as(&task(), e.wait()).unwrap())
            })
            .collect();
        e.set();
        ts.into_iter().for_each(|t| t.join().unwrap());
        assert!(e.is_set());
        no_waiters(format!("{e:?}"));
    });
}

/// A waiter canceled while `set` wakes it returns either way and leaves no node queued; the
/// uncanceled waiter returns `Ok`.
#[test]
fn event_canceled_wait_vs_set() {
    model(|| {
        let e = Arc::new(Event::new());
        let ha = task();
        let a = {
            let (e, ha) = (e.clone(), ha.clone());
            spawn(move || block_on_as(&ha, e.wait()))
        };
        let b = {
            let e = e.clone();
            spawn(move || block_on_as(&task(), e.wait()))
        };
        ha.request_cancel();
        e.set();
        let ra = a.join().unwrap();
        assert!(ra.is_ok() || ra == Err(Canceled));
        assert_eq!(b.join().unwrap(), Ok(()));
        no_waiters(format!("{e:?}"));
    });
}

// --- Condition ---

/// `signal` after setting the predicate, racing a waiter between its check and its wait: the
/// waiter sees the predicate (no lost signal: the wait queues before it releases the mutex).
#[test]
fn condition_signal_vs_wait() {
    model(|| {
        let m = Arc::new(Mutex::new(false));
        let c = Arc::new(Condition::new());
        let a = {
            let (m, c) = (m.clone(), c.clone());
            spawn(move || {
                block_on_as(&task(), async {
                    let mut g = m.lock().await.unwrap();
                    while !*g {
                        g = c.wait(g).await.0;
                    }
                })
            })
        };
        *block_on_as(&task(), m.lock()).unwrap() = true;
        c.signal();
        a.join().unwrap();
        assert!(m.try_lock().is_some());
        no_waiters(format!("{c:?}"));
    });
}

/// A waiter canceled while a signal wakes it passes the signal on: the other waiter is woken.
#[test]
fn condition_canceled_waiter_passes_signal() {
    model(|| {
        let m = Arc::new(Mutex::new(0u32));
        let c = Arc::new(Condition::new());
        let ha = task();
        let a = {
            let (m, c, ha) = (m.clone(), c.clone(), ha.clone());
            spawn(move || {
                block_on_as(&ha, async {
                    let g = m.lock_uncancelable().await;
                    if *g == 0 {
                        let (g, r) = c.wait(g).await;
                        if r.is_ok() {
                            // Woken but this waiter does not consume the event: pass it on.
                            drop(g);
                            c.signal();
                        }
                    }
                })
            })
        };
        let b = {
            let (m, c) = (m.clone(), c.clone());
            spawn(move || {
                block_on_as(&task(), async {
                    let mut g = m.lock_uncancelable().await;
                    while *g == 0 {
                        g = c.wait_uncancelable(g).await;
                    }
                })
            })
        };
        ha.request_cancel();
        *block_on_as(&task(), m.lock_uncancelable()) = 1;
        c.signal();
        a.join().unwrap();
        b.join().unwrap();
        no_waiters(format!("{c:?}"));
    });
}

// --- RwLock ---

/// A reader and a writer queued behind a writer: both get in when it unlocks, in some order.
#[test]
fn rwlock_reader_and_writer_vs_unlock() {
    model(|| {
        let l = Arc::new(RwLock::new(0u32));
        let g = l.try_write().unwrap();
        let r = {
            let l = l.clone();
            spawn(move || *block_on_as(&task(), l.read()).unwrap())
        };
        let w = {
            let l = l.clone();
            spawn(move || *block_on_as(&task(), l.write()).unwrap() += 1)
        };
        drop(g);
        let seen = r.join().unwrap();
        w.join().unwrap();
        assert!(seen <= 1);
        let dbg = format!("{l:?}");
        assert_eq!(*l.try_write().unwrap_or_else(|| panic!("not free at the end: {dbg}")), 1);
        no_waiters(format!("{l:?}"));
    });
}

/// A writer canceled while the last reader's unlock wakes it passes the wake-up on: the other
/// writer gets the lock.
#[test]
fn rwlock_canceled_writer_passes_wakeup() {
    model(|| {
        let l = Arc::new(RwLock::new(0u32));
        let g = l.try_read().unwrap();
        let ha = task();
        let a = {
            let (l, ha) = (l.clone(), ha.clone());
            spawn(move || {
                if let Ok(mut g) = block_on_as(&ha, l.write()) {
                    *g += 1;
                }
            })
        };
        let b = {
            let l = l.clone();
            spawn(move || *block_on_as(&task(), l.write_uncancelable()) += 10)
        };
        ha.request_cancel();
        drop(g);
        a.join().unwrap();
        b.join().unwrap();
        assert!(*l.try_write().expect("free at the end") >= 10);
        no_waiters(format!("{l:?}"));
    });
}

// --- Queue ---

/// An item marked for the leak check.
fn item(n: u32, tracker: &Arc<()>) -> (u32, Arc<()>) {
    (n, tracker.clone())
}

/// `put_one` racing a getter that is about to wait: the getter gets the item.
#[test]
fn queue_put_vs_get() {
    model(|| {
        let tracker = Arc::new(());
        let q = Arc::new(Queue::<(u32, Arc<()>)>::new(1));
        let a = {
            let q = q.clone();
            spawn(move || block_on_as(&task(), q.get_one()).unwrap().0)
        };
        block_on_as(&task(), q.put_one(item(7, &tracker))).unwrap();
        assert_eq!(a.join().unwrap(), 7);
        assert!(q.is_empty());
        assert_eq!(Arc::strong_count(&tracker), 1, "the item was dropped once taken");
    });
}

/// A getter canceled while a put hands it the item loses nothing: it returns the item, or the
/// item stays in the queue.
#[test]
fn queue_canceled_getter_loses_no_item() {
    model(|| {
        let tracker = Arc::new(());
        let q = Arc::new(Queue::<(u32, Arc<()>)>::new(1));
        let ha = task();
        let a = {
            let (q, ha) = (q.clone(), ha.clone());
            spawn(move || block_on_as(&ha, q.get_one()))
        };
        ha.request_cancel();
        block_on_as(&task(), q.put_one(item(7, &tracker))).unwrap();
        let got = match a.join().unwrap() {
            Ok(v) => Some(v.0),
            Err(QueueError::Canceled) => None,
            Err(QueueError::Closed) => unreachable!("not closed"),
        };
        let left = q.len();
        assert_eq!(usize::from(got.is_some()) + left, 1, "the item is taken or kept, once");
        if left == 1 {
            assert_eq!(block_on_as(&task(), q.get_one()).unwrap().0, 7);
        }
        assert_eq!(Arc::strong_count(&tracker), 1);
    });
}

/// A putter canceled while a get makes room for it loses nothing: the item is in the queue
/// or handed back.
#[test]
fn queue_canceled_putter_loses_no_item() {
    model(|| {
        let tracker = Arc::new(());
        let q = Arc::new(Queue::<(u32, Arc<()>)>::new(1));
        block_on_as(&task(), q.put_one(item(1, &tracker))).unwrap();
        let ha = task();
        let a = {
            let (q, ha, tracker) = (q.clone(), ha.clone(), tracker.clone());
            spawn(move || match block_on_as(&ha, q.put_one(item(2, &tracker))) {
                Ok(()) => None,
                Err(PutOneError { error, item }) => {
                    assert_eq!(error, QueueError::Canceled);
                    Some(item.0)
                }
            })
        };
        ha.request_cancel();
        let first = block_on_as(&task(), q.get_one()).unwrap().0;
        assert_eq!(first, 1);
        let handed_back = a.join().unwrap();
        match handed_back {
            Some(n) => {
                assert_eq!(n, 2);
                assert!(q.is_empty());
            }
            None => assert_eq!(block_on_as(&task(), q.get_one()).unwrap().0, 2),
        }
        assert_eq!(Arc::strong_count(&tracker), 1);
    });
}

/// A put into a full queue waits for a get and then completes; items come out in order.
#[test]
fn queue_full_put_vs_get() {
    model(|| {
        let tracker = Arc::new(());
        let q = Arc::new(Queue::<(u32, Arc<()>)>::new(1));
        block_on_as(&task(), q.put_one(item(1, &tracker))).unwrap();
        let a = {
            let (q, tracker) = (q.clone(), tracker.clone());
            spawn(move || block_on_as(&task(), q.put_one(item(2, &tracker))).unwrap())
        };
        let first = block_on_as(&task(), q.get_one()).unwrap().0;
        let second = block_on_as(&task(), q.get_one()).unwrap().0;
        a.join().unwrap();
        assert_eq!((first, second), (1, 2));
        assert_eq!(Arc::strong_count(&tracker), 1);
    });
}

/// `close` racing a getter that is about to wait: the getter returns `Closed`.
#[test]
fn queue_close_vs_get() {
    model(|| {
        let q = Arc::new(Queue::<u32>::new(1));
        let a = {
            let q = q.clone();
            spawn(move || block_on_as(&task(), q.get_one()))
        };
        q.close();
        assert_eq!(a.join().unwrap(), Err(QueueError::Closed));
    });
}

/// Two getters, two puts on a rendezvous queue (capacity 0): each item reaches exactly one
/// getter.
#[test]
fn queue_rendezvous_two_getters() {
    model(|| {
        let tracker = Arc::new(());
        let q = Arc::new(Queue::<(u32, Arc<()>)>::new(0));
        let sum = Arc::new(AtomicUsize::new(0));
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let (q, sum) = (q.clone(), sum.clone());
                spawn(move || {
                    let v = block_on_as(&task(), q.get_one()).unwrap().0;
                    sum.fetch_add(v as usize, Ordering::SeqCst);
                })
            })
            .collect();
        block_on_as(&task(), q.put_one(item(1, &tracker))).unwrap();
        block_on_as(&task(), q.put_one(item(2, &tracker))).unwrap();
        ts.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(sum.load(Ordering::SeqCst), 3, "each item reached exactly one getter");
        assert_eq!(Arc::strong_count(&tracker), 1);
    });
}
