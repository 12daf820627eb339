//! Loom models of the scheduler: the local run queue (push, pop, steal, overflow), the injector
//! against a parking worker, the parking protocol of `idle.rs` (no lost wake-up; the last
//! searcher re-checks), and the late-work hand-shake of `late.rs`. Under loom the local queue
//! holds `queue::CAPACITY` = 4 tasks.
//!
//! A model worker runs the protocol of `worker.rs` step 4 with the real `Idle` and `Parker`:
//! register as a sleeper, re-check the queues, park on the condition variable, unregister. A
//! worker that is never woken although a task is queued is a deadlock, which loom reports.

use std::sync::Arc;

use concurrent_queue::ConcurrentQueue;

use super::idle::{Idle, Parker};
use super::late::LastDrain;
use super::queue::{RunQueue, CAPACITY};
use crate::loom::model::model;
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::loom::sync::{Condvar, Mutex};

/// A queued task for the models: its number, and a reference for the leak check.
#[derive(Debug)]
struct Item(usize, #[allow(dead_code)] Arc<()>);

fn items(n: usize, tracker: &Arc<()>) -> Vec<Item> {
    (0..n).map(|i| Item(i, tracker.clone())).collect()
}

/// Asserts that `taken` holds each of `0..n` exactly once.
fn exactly_once(mut taken: Vec<usize>, n: usize) {
    taken.sort_unstable();
    assert_eq!(taken, (0..n).collect::<Vec<_>>(), "every task taken exactly once");
}

fn drain(q: &RunQueue<Item>, out: &mut Vec<usize>) {
    // SAFETY: the models call this from the queue's owner only.
    while let Some(Item(i, _)) = unsafe { q.pop() } {
        out.push(i);
    }
}

/// The owner pushes and pops while a stealer steals half into its own queue: each task is taken
/// exactly once, and none is leaked.
#[test]
fn local_queue_pop_vs_steal() {
    model(|| {
        let tracker = Arc::new(());
        let q = Arc::new(RunQueue::new());
        let stealer = {
            let q = q.clone();
            loom::thread::spawn(move || {
                let mine = RunQueue::new();
                let mut taken = Vec::new();
                // SAFETY: this thread owns `mine`; `q` is another queue.
                if let Some(Item(i, _)) = unsafe { q.steal_into(&mine) } {
                    taken.push(i);
                }
                drain(&mine, &mut taken);
                taken
            })
        };
        let mut taken = Vec::new();
        for it in items(3, &tracker) {
            // SAFETY: this thread owns `q`.
            assert!(unsafe { q.push_back(it) }.is_ok());
        }
        // SAFETY: as above.
        if let Some(Item(i, _)) = unsafe { q.pop() } {
            taken.push(i);
        }
        taken.extend(stealer.join().unwrap());
        drain(&q, &mut taken);
        exactly_once(taken, 3);
        assert_eq!(Arc::strong_count(&tracker), 1);
    });
}

/// Two stealers race for one queue while its owner pops: each task exactly once.
#[test]
fn local_queue_two_stealers() {
    model(|| {
        let tracker = Arc::new(());
        let q = Arc::new(RunQueue::new());
        for it in items(3, &tracker) {
            // SAFETY: the model thread owns `q` (the stealers start after).
            assert!(unsafe { q.push_back(it) }.is_ok());
        }
        let stealers: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                loom::thread::spawn(move || {
                    let mine = RunQueue::new();
                    let mut taken = Vec::new();
                    // SAFETY: this thread owns `mine`.
                    if let Some(Item(i, _)) = unsafe { q.steal_into(&mine) } {
                        taken.push(i);
                    }
                    drain(&mine, &mut taken);
                    taken
                })
            })
            .collect();
        let mut taken = Vec::new();
        // SAFETY: this thread owns `q`.
        if let Some(Item(i, _)) = unsafe { q.pop() } {
            taken.push(i);
        }
        for s in stealers {
            taken.extend(s.join().unwrap());
        }
        drain(&q, &mut taken);
        exactly_once(taken, 3);
        assert_eq!(Arc::strong_count(&tracker), 1);
    });
}

/// The owner pushes past capacity (half the queue overflows to the injector) while a stealer
/// steals: every task ends in exactly one place, and the owner never waits for the stealer (a
/// spin on the stealer's progress is an unbounded branch loom reports).
#[test]
fn local_queue_overflow_vs_steal() {
    model(|| {
        let tracker = Arc::new(());
        let q = Arc::new(RunQueue::new());
        let injector = Arc::new(ConcurrentQueue::unbounded());
        let n = CAPACITY + 1;
        // Nearly full before the stealer starts, so that the pushes below overflow.
        let mut all = items(n, &tracker).into_iter();
        for it in all.by_ref().take(CAPACITY - 1) {
            // SAFETY: this thread owns `q`.
            assert!(unsafe { q.push_back(it) }.is_ok());
        }
        let stealer = {
            let q = q.clone();
            loom::thread::spawn(move || {
                let mine = RunQueue::new();
                let mut taken = Vec::new();
                // SAFETY: this thread owns `mine`.
                if let Some(Item(i, _)) = unsafe { q.steal_into(&mine) } {
                    taken.push(i);
                }
                drain(&mine, &mut taken);
                taken
            })
        };
        for it in all {
            // SAFETY: this thread owns `q`.
            unsafe { q.push_back_or_overflow(it, |t| injector.push(t).unwrap()) };
        }
        let mut taken = stealer.join().unwrap();
        let mut overflowed = Vec::new();
        while let Ok(Item(i, _)) = injector.pop() {
            overflowed.push(i);
        }
        taken.extend(overflowed);
        drain(&q, &mut taken);
        exactly_once(taken, n);
        assert_eq!(Arc::strong_count(&tracker), 1);
    });
}

/// The queue is dropped with tasks a stealer left in it: they are dropped, none leaked.
#[test]
fn local_queue_drop_after_steal() {
    model(|| {
        let tracker = Arc::new(());
        let q = Arc::new(RunQueue::new());
        for it in items(CAPACITY, &tracker) {
            // SAFETY: the model thread owns `q`.
            assert!(unsafe { q.push_back(it) }.is_ok());
        }
        let stealer = {
            let q = q.clone();
            loom::thread::spawn(move || {
                let mine = RunQueue::new();
                // SAFETY: this thread owns `mine`.
                let first = unsafe { q.steal_into(&mine) }.map(|Item(i, _)| i);
                // `mine` (holding the rest of the stolen half) is dropped here.
                first
            })
        };
        assert!(stealer.join().unwrap().is_some(), "a full queue always gives a steal");
        drop(q);
        assert_eq!(Arc::strong_count(&tracker), 1, "queued tasks are dropped with the queue");
    });
}

/// What the model workers share: the injector, one local queue per worker, `Idle`, parkers.
struct Pool {
    injector: ConcurrentQueue<Item>,
    queues: Vec<RunQueue<Item>>,
    idle: Idle,
    parkers: Vec<Parker>,
    ran: AtomicUsize,
}

impl Pool {
    fn new(workers: usize) -> Self {
        Pool {
            injector: ConcurrentQueue::unbounded(),
            queues: (0..workers).map(|_| RunQueue::new()).collect(),
            idle: Idle::new(workers),
            parkers: (0..workers).map(|_| Parker::new()).collect(),
            ran: AtomicUsize::new(0),
        }
    }

    /// `Shared::has_queued_work`.
    fn has_queued_work(&self) -> bool {
        !self.injector.is_empty() || self.queues.iter().any(|q| !q.is_empty())
    }

    /// `Shared::schedule` from outside the workers: push to the injector, notify one.
    fn push_remote(&self, item: Item) {
        self.injector.push(item).unwrap();
        if let Some(i) = self.idle.worker_to_notify(true) {
            self.parkers[i].unpark_with(|| unreachable!("no driver in this model"));
        }
    }

    /// A worker's run loop until `total` tasks ran: take work (injector, steal), else park with
    /// the protocol of `idle.rs`. `searching` as the worker's flag of the same name.
    fn worker(&self, index: usize, total: usize) {
        let mut searching = false;
        while self.ran.load(Ordering::SeqCst) < total {
            let found = self.injector.pop().ok().or_else(|| {
                if !searching && !self.idle.try_start_searching() {
                    return None;
                }
                searching = true;
                (0..self.queues.len()).filter(|&v| v != index).find_map(|v| {
                    // SAFETY: this thread owns queue `index`, and `v` is another.
                    unsafe { self.queues[v].steal_into(&self.queues[index]) }
                })
            });
            if let Some(item) = found {
                if searching {
                    searching = false;
                    if self.idle.stop_searching() {
                        // Rule 3: the last searcher found work and wakes another.
                        if let Some(i) = self.idle.worker_to_notify(true) {
                            self.parkers[i].unpark_with(|| unreachable!());
                        }
                    }
                }
                drop(item);
                if self.ran.fetch_add(1, Ordering::SeqCst) + 1 == total {
                    // The last task: let every parked worker out (as shutdown does).
                    self.parkers.iter().for_each(|p| p.unpark_with(|| unreachable!()));
                }
                continue;
            }
            // Step 4 of the run loop.
            let was_searching = searching;
            self.idle.register_sleeper(index, was_searching);
            searching = false;
            if self.has_queued_work() || self.ran.load(Ordering::SeqCst) >= total {
                // Rule 5: the re-check found work; a searcher stays one.
                searching = self.idle.cancel_sleep(index, was_searching);
                continue;
            }
            self.parkers[index].park_condvar();
            if !self.idle.unregister_sleeper(index) {
                searching = true;
            }
        }
        if searching {
            self.idle.stop_searching();
        }
    }
}

/// A remote push to the injector racing a worker that is going to sleep: the worker runs the
/// task (the fences of `idle.rs` rule 1: the re-check sees it, or the pusher sees the sleeper).
#[test]
fn worker_parks_vs_remote_push() {
    model(|| {
        let tracker = Arc::new(());
        let pool = Arc::new(Pool::new(1));
        let w = {
            let pool = pool.clone();
            loom::thread::spawn(move || pool.worker(0, 1))
        };
        pool.push_remote(Item(0, tracker.clone()));
        w.join().unwrap();
        assert_eq!(pool.ran.load(Ordering::SeqCst), 1);
        assert_eq!(Arc::strong_count(&tracker), 1);
    });
}

/// A searching worker (the only searcher) that gives up and parks, racing a push that sees it
/// searching and so wakes nobody: the searcher's re-check after it stops searching finds the
/// task (rule 2).
#[test]
fn last_searcher_rechecks_before_parking() {
    model(|| {
        let tracker = Arc::new(());
        let pool = Arc::new(Pool::new(2));
        // Worker 0 is parked for good (registered, not woken): only worker 1 can run the task.
        pool.idle.register_sleeper(0, false);
        assert!(pool.idle.try_start_searching());
        let w = {
            let pool = pool.clone();
            loom::thread::spawn(move || {
                // Worker 1 is already searching (the flag above).
                let mut searching = true;
                loop {
                    if let Ok(item) = pool.injector.pop() {
                        if searching {
                            pool.idle.stop_searching();
                        }
                        drop(item);
                        pool.ran.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    pool.idle.register_sleeper(1, searching);
                    if !pool.has_queued_work() {
                        pool.parkers[1].park_condvar();
                    }
                    searching = !pool.idle.unregister_sleeper(1);
                }
            })
        };
        pool.push_remote(Item(0, tracker.clone()));
        w.join().unwrap();
        assert_eq!(pool.ran.load(Ordering::SeqCst), 1);
        assert_eq!(Arc::strong_count(&tracker), 1);
    });
}

/// Two workers, two remote pushes: both tasks run and both workers end (no worker sleeps on
/// a queued task; the searcher count returns to zero).
#[test]
fn two_workers_two_pushes() {
    model(|| {
        let tracker = Arc::new(());
        let pool = Arc::new(Pool::new(2));
        let ws: Vec<_> = (0..2)
            .map(|i| {
                let pool = pool.clone();
                loom::thread::spawn(move || pool.worker(i, 2))
            })
            .collect();
        pool.push_remote(Item(0, tracker.clone()));
        pool.push_remote(Item(1, tracker.clone()));
        ws.into_iter().for_each(|w| w.join().unwrap());
        assert_eq!(pool.ran.load(Ordering::SeqCst), 2);
        assert!(pool.idle.try_start_searching(), "no searcher left counted");
        assert_eq!(Arc::strong_count(&tracker), 1);
    });
}

/// `unpark` racing `park_condvar`: the parked thread always returns, and a notification made
/// before the park is consumed by it.
#[test]
fn parker_unpark_vs_park_condvar() {
    model(|| {
        let p = Arc::new(Parker::new());
        let t = {
            let p = p.clone();
            loom::thread::spawn(move || p.park_condvar())
        };
        p.unpark_with(|| unreachable!("not parked on the driver"));
        t.join().unwrap();
    });
}

/// A model of the poller's wake (an eventfd, or `EVFILT_USER`): a wake before the poll makes it
/// return at once.
struct ModelPoller {
    woken: Mutex<bool>,
    cv: Condvar,
}

impl ModelPoller {
    fn new() -> Self {
        ModelPoller { woken: Mutex::new(false), cv: Condvar::new() }
    }

    fn poll(&self) {
        let mut w = self.woken.lock().unwrap();
        while !*w {
            w = self.cv.wait(w).unwrap();
        }
        *w = false;
    }

    fn wake(&self) {
        *self.woken.lock().unwrap() = true;
        self.cv.notify_one();
    }
}

/// The reactor's cross-thread wake: `unpark` racing a worker that parks in the driver's poll.
/// The parker's state says whether to wake the poller; the worker always returns.
#[test]
fn parker_unpark_vs_park_driver() {
    model(|| {
        let p = Arc::new(Parker::new());
        let poller = Arc::new(ModelPoller::new());
        let t = {
            let (p, poller) = (p.clone(), poller.clone());
            loom::thread::spawn(move || p.park_driver_with(|| poller.poll()))
        };
        p.unpark_with(|| poller.wake());
        t.join().unwrap();
    });
}

/// Two unparks (a notify and shutdown) racing a driver park: the parked worker returns, and
/// the poller is woken at most for the park it is in (a second wake finds the state changed).
#[test]
fn parker_two_unparks_vs_park_driver() {
    model(|| {
        let p = Arc::new(Parker::new());
        let poller = Arc::new(ModelPoller::new());
        let t = {
            let (p, poller) = (p.clone(), poller.clone());
            loom::thread::spawn(move || {
                p.park_driver_with(|| poller.poll());
            })
        };
        let u = {
            let (p, poller) = (p.clone(), poller.clone());
            loom::thread::spawn(move || p.unpark_with(|| poller.wake()))
        };
        p.unpark_with(|| poller.wake());
        t.join().unwrap();
        u.join().unwrap();
    });
}

/// A one-slot stand-in for a shared queue with no ordering beyond a push's Release and a pop's
/// Acquire (`late.rs` rule 3): `pop` first looks (a plain load, as a queue's emptiness check
/// is), then takes. `taken` counts the pops that took the item.
struct WeakQueue {
    slot: AtomicUsize,
    taken: AtomicUsize,
}

impl WeakQueue {
    fn push(&self, item: usize) {
        self.slot.store(item, Ordering::Release);
    }

    fn drain(&self) {
        if self.slot.load(Ordering::Acquire) != 0 && self.slot.swap(0, Ordering::Acquire) != 0 {
            self.taken.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Late work (`late.rs`): a `schedule` that pushes during shutdown, racing `deinit`'s last
/// drain. Whatever the interleaving and whichever stores each load reads, the item is taken,
/// exactly once: by the last drain, or by the late `schedule` itself. With either of the two
/// fences of `late.rs` taken out, loom finds an execution that leaves the item in the queue.
#[test]
fn a_late_push_is_drained_by_one_side() {
    model(|| {
        let late = Arc::new(LastDrain::new());
        let q = Arc::new(WeakQueue { slot: AtomicUsize::new(0), taken: AtomicUsize::new(0) });
        let scheduler = {
            let (late, q) = (late.clone(), q.clone());
            loom::thread::spawn(move || {
                q.push(1);
                late.after_push(|| q.drain());
            })
        };
        late.close(|| q.drain());
        scheduler.join().unwrap();
        assert_eq!(q.taken.load(Ordering::Relaxed), 1, "the late push was left in the queue");
    });
}
