//! The stall detector (opt-in, `InitOptions::stall_threshold`): a watchdog thread that reports a
//! poll holding a worker longer than the threshold, once per such poll, while it still runs.
//!
//! Ground rules:
//! 1. Off (the default), none of this exists: the worker loop tests one `Option` per poll.
//! 2. On, a worker brackets each poll with its slot (`Slot`, one uncontended mutex per worker):
//!    at the start it stores the poll's start time, the task's header and a clone of the task's
//!    waker; at the end it takes them out. The waker keeps the task's allocation, hence its
//!    header, alive until the slot is cleared, so the watchdog may read the header (name, spawn
//!    location) while it holds the slot's lock, even if the task completes meanwhile.
//! 3. The watchdog sleeps on a condition variable while no poll is in progress (`asleep`);
//!    otherwise it wakes when the oldest unreported poll would cross the threshold, or every
//!    threshold while polls run. No busy polling. A worker that starts a poll while the watchdog
//!    sleeps wakes it. No lost wake-up: the worker stores its slot, then (`SeqCst` fence) reads
//!    `asleep`; the watchdog stores `asleep`, then (fence) scans the slots, holding its own lock
//!    from before the store until it waits, which the worker takes to notify.
//! 4. The hook runs on the watchdog thread with no lock held.

use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::Waker;
use std::thread;
use std::time::{Duration, Instant};

use crate::observe::{StallHook, StallReport};
use crate::task::{Runnable, TaskHeader};

/// One worker's poll in progress (ground rule 2).
struct InPoll {
    started: Instant,
    header: *const TaskHeader,
    /// Keeps the task's allocation alive while the slot refers to its header.
    _keep: Waker,
    reported: bool,
}

// SAFETY: the header pointer refers to a `TaskHeader` (which is `Sync`) kept alive by `_keep`
// (ground rule 2); it is only dereferenced under the slot's lock.
unsafe impl Send for InPoll {}

#[derive(Default)]
struct Slot(Option<InPoll>);

struct Control {
    stopping: bool,
}

pub(crate) struct StallWatch {
    threshold: Duration,
    hook: StallHook,
    slots: Box<[Mutex<Slot>]>,
    asleep: AtomicBool,
    control: Mutex<Control>,
    wake: Condvar,
    thread: Mutex<Option<thread::JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl StallWatch {
    pub(crate) fn new(n_workers: usize, threshold: Duration, hook: StallHook) -> Self {
        StallWatch {
            threshold: threshold.max(Duration::from_micros(100)),
            hook,
            slots: (0..n_workers).map(|_| Mutex::new(Slot::default())).collect(),
            asleep: AtomicBool::new(false),
            control: Mutex::new(Control { stopping: false }),
            wake: Condvar::new(),
            thread: Mutex::new(None),
        }
    }

    /// Starts the watchdog thread.
    pub(crate) fn start(self: &Arc<Self>, name: String) -> std::io::Result<()> {
        let me = self.clone();
        let t = thread::Builder::new().name(name).spawn(move || me.watch())?;
        *lock(&self.thread) = Some(t);
        Ok(())
    }

    /// Stops and joins the watchdog (shutdown; idempotent).
    pub(crate) fn stop(&self) {
        lock(&self.control).stopping = true;
        self.wake.notify_all();
        if let Some(t) = lock(&self.thread).take() {
            if t.thread().id() != thread::current().id() {
                let _ = t.join();
            }
        }
    }

    /// Runs `r` on worker `index` with its poll in the worker's slot (ground rule 2).
    pub(super) fn run(&self, index: usize, r: Runnable, run: impl FnOnce(Runnable)) {
        let in_poll = InPoll {
            started: Instant::now(),
            header: r.metadata(),
            _keep: r.waker(),
            reported: false,
        };
        lock(&self.slots[index]).0 = Some(in_poll);
        fence(Ordering::SeqCst);
        if self.asleep.load(Ordering::Relaxed) {
            let _control = lock(&self.control);
            self.wake.notify_one();
        }
        run(r);
        let done = lock(&self.slots[index]).0.take();
        // Dropping the waker may free the task (and drop its future): outside the lock.
        drop(done);
    }

    /// The watchdog thread's body (ground rule 3).
    fn watch(&self) {
        let mut control = lock(&self.control);
        let mut reports = Vec::new();
        while !control.stopping {
            let (busy, next) = self.scan(&mut reports);
            if !reports.is_empty() {
                drop(control);
                for r in reports.drain(..) {
                    (self.hook.0)(&r);
                }
                control = lock(&self.control);
                continue;
            }
            control = if busy {
                self.wake.wait_timeout(control, next).unwrap_or_else(|e| e.into_inner()).0
            } else {
                self.asleep.store(true, Ordering::Relaxed);
                fence(Ordering::SeqCst);
                let (busy, _) = self.scan(&mut reports);
                let control = if busy || !reports.is_empty() || control.stopping {
                    control
                } else {
                    self.wake.wait(control).unwrap_or_else(|e| e.into_inner())
                };
                self.asleep.store(false, Ordering::Relaxed);
                control
            };
        }
    }

    /// Looks at every slot: reports (into `reports`) the polls past the threshold not reported
    /// yet, and returns whether any poll is in progress and when the next one may cross it.
    fn scan(&self, reports: &mut Vec<StallReport>) -> (bool, Duration) {
        let now = Instant::now();
        let mut busy = false;
        let mut next = self.threshold;
        for (worker, slot) in self.slots.iter().enumerate() {
            let mut slot = lock(slot);
            let Some(p) = slot.0.as_mut() else { continue };
            busy = true;
            let running_for = now.saturating_duration_since(p.started);
            if p.reported {
                continue;
            }
            if running_for >= self.threshold {
                p.reported = true;
                // SAFETY: ground rule 2: `_keep` keeps the header alive while the slot holds
                // it, and we hold the slot's lock.
                let header = unsafe { &*p.header };
                reports.push(StallReport::new(header, worker, running_for));
            } else {
                next = next.min(self.threshold - running_for);
            }
        }
        (busy, next)
    }
}
