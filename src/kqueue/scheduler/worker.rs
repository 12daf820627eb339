//! A worker thread: its run loop, its local context, stealing and parking.
//!
//! The run loop, in order, each tick:
//! 1. every `EVENT_INTERVAL` ticks, poll the reactor without blocking (so that a busy runtime
//!    still hears of I/O), and free this worker's tasks that finished on other workers
//!    (`retired.rs`);
//! 2. take a task (if this worker has local tasks, every other tick a local one first, else
//!    one after the steps below found nothing: `next_task`, rule 3 of `local.rs`): a
//!    timer-woken one first (the timed queue, ground rule 4 of `mod.rs`, but for one other task
//!    after `MAX_TIMED_POLLS` in a row); else every `GLOBAL_QUEUE_INTERVAL` ticks a shared queue
//!    first (fairness for remote work; the injector and the resumed queue take turns at going
//!    first), else the LIFO slot (at most `MAX_LIFO_POLLS` times in a row), the local queue, the
//!    resumed queue, the injector (ground rule 3 of `mod.rs`);
//! 3. if none, search: steal half of another worker's queue, or a batch of a shared queue;
//! 4. if none, park (see `idle.rs`): register, re-check, then block on the reactor if no other
//!    worker drives it, else on the condition variable.
//!
//! A task's poll is its budget: a task that wakes itself while running goes to the back of the
//! local queue (`ScheduleReason::Yielded`), so a task that keeps waking itself gets one poll per
//! round of the queue and cannot starve the others.

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::Arc;
use std::task::Waker;

use concurrent_queue::ConcurrentQueue;

use super::local::{HomeWake, LocalHome};
use super::retired::Outbox;
use super::Shared;
use crate::kqueue::reactor::DriverGuard;
use crate::task::current::{set_thread_kind, set_thread_scheduler, ThreadKind};
use crate::task::{Runnable, ScheduleReason};

/// Ticks between checks of the injector ahead of local work. Prime, as in tokio, so that it does
/// not fall into step with periodic workloads.
const GLOBAL_QUEUE_INTERVAL: u32 = 61;

/// Ticks between non-blocking polls of the reactor by a busy worker.
const EVENT_INTERVAL: u32 = 61;

/// Tasks of the timed queue in a row before other work gets one turn (ground rule 4 of `mod.rs`).
const MAX_TIMED_POLLS: u32 = 32;

/// Polls of the LIFO slot in a row before the local queue gets a turn. Two tasks that keep waking
/// each other through the slot would otherwise starve the queue.
const MAX_LIFO_POLLS: u32 = 3;

/// What a worker is doing while it wakes tasks: where a woken task goes depends on it (one
/// `Cell` read on every wake).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WakeSource {
    /// Running a task, or anything not below: the LIFO slot, then the local queue.
    Task,
    /// Dispatching the reactor's events: the back of a non-empty resumed queue, so that
    /// readiness harvested while tasks wait there does not overtake them (ground rule 2 of
    /// `mod.rs`).
    Reactor,
    /// Firing timers: the timed queue, in firing order, ahead of other work (ground rule 4 of
    /// `mod.rs`).
    Timers,
}

/// The worker's state that only its own thread touches, reachable from `schedule` via TLS.
struct WorkerCtx {
    shared: *const Shared,
    index: usize,
    lifo: Cell<Option<Runnable>>,
    /// What this worker is doing, which decides where a task it wakes goes (`WakeSource`).
    waking: Cell<WakeSource>,
    /// Set when a task on this worker began the runtime's shutdown (`deinit` called by a task):
    /// the worker then drops the tasks left behind once its loop ends (`run_worker`).
    ran_deinit: Cell<bool>,
    /// References to other workers' tasks that finished here, on their way home
    /// (`retired.rs`).
    outbox: Outbox,
    /// The vector this worker swaps with its inbox to release it (`retired.rs`, rule 3).
    spare: RefCell<Vec<Waker>>,
}

thread_local! {
    static WORKER: Cell<*const WorkerCtx> = const { Cell::new(ptr::null()) };
}

/// The worker context of this thread if it is a worker of `shared`.
#[inline]
fn local_ctx(shared: &Shared) -> Option<&WorkerCtx> {
    let p = WORKER.get();
    // SAFETY: `WORKER` is non-null only while `run_worker` is on this thread's stack with the
    // context it points to (it resets the pointer before returning), so the context is alive.
    let ctx = unsafe { p.as_ref() }?;
    ptr::eq(ctx.shared, shared).then_some(ctx)
}

/// This thread's worker index if it is one of `shared`'s workers.
#[inline]
pub(super) fn current_index(shared: &Shared) -> Option<usize> {
    local_ctx(shared).map(|ctx| ctx.index)
}

/// `retired.rs`, rule 2: if this thread is one of `shared`'s workers and not the task's `home`,
/// keeps a reference to the task (its `waker`) to be sent home.
#[inline]
pub(super) fn retire_here(shared: &Shared, home: usize, waker: &Waker) {
    if let Some(ctx) = local_ctx(shared) {
        if ctx.index != home && !shared.is_stopping() {
            ctx.outbox.retire(home, waker, &shared.workers);
        }
    }
}

/// `retired.rs`, rule 3: if this thread is one of `shared`'s workers, frees its tasks that
/// finished elsewhere and came home.
#[inline]
pub(super) fn release_retired_here(shared: &Shared) {
    if let Some(ctx) = local_ctx(shared) {
        shared.workers[ctx.index].retired.release(&mut ctx.spare.borrow_mut());
    }
}

/// For a shutdown begun on this thread: if it is one of `shared`'s workers (a task called
/// `deinit`), marks it to drop the tasks left when its loop ends, which `deinit` itself cannot
/// (the task running it, and whatever it wakes on the way out; see `run_worker`).
pub(super) fn note_shutdown_here(shared: &Shared) {
    if let Some(ctx) = local_ctx(shared) {
        ctx.ran_deinit.set(true);
    }
}

/// The task in the LIFO slot of this thread's worker, if it is one of `shared`'s: for a `deinit`
/// run by a task, which drains the queues of its own worker too (`Shared::drain_queues`).
pub(super) fn take_current_lifo(shared: &Shared) -> Option<Runnable> {
    local_ctx(shared)?.lifo.take()
}

/// Schedules on this thread's worker if it is one of `shared`'s (ground rule 2 of `mod.rs`).
/// Gives the runnable back if it must go to a shared queue.
#[inline]
pub(super) fn schedule_local(
    shared: &Shared,
    runnable: Runnable,
    reason: ScheduleReason,
) -> Option<Runnable> {
    let Some(ctx) = local_ctx(shared) else {
        return Some(runnable);
    };
    if shared.is_stopping() {
        return Some(runnable);
    }
    if matches!(reason, ScheduleReason::Woken) {
        match ctx.waking.get() {
            WakeSource::Task => {}
            WakeSource::Timers => {
                // Ground rule 4 of `mod.rs`: in firing order, ahead of other work, on any worker.
                shared.push_shared(&shared.timed, runnable);
                shared.notify_one();
                return None;
            }
            // Ground rule 2 of `mod.rs`: readiness harvested while tasks wait in the resumed
            // queue joins them at its back instead of overtaking them.
            WakeSource::Reactor if !shared.resumed.is_empty() => return Some(runnable),
            WakeSource::Reactor => {}
        }
    }
    match reason {
        ScheduleReason::Woken => {
            if let Some(prev) = ctx.lifo.replace(Some(runnable)) {
                // SAFETY: `ctx` is this thread's worker context, so this thread owns the queue.
                unsafe { shared.push_local(ctx.index, prev) };
                // A dispatch's wakes come in a batch: it asks for help once, after the batch
                // (`Worker::dispatch`), not as soon as two wait.
                if !matches!(ctx.waking.get(), WakeSource::Reactor) {
                    shared.notify_for_local(ctx.index);
                }
            }
        }
        ScheduleReason::Spawned | ScheduleReason::Yielded => {
            // SAFETY: as above.
            unsafe { shared.push_local(ctx.index, runnable) };
            shared.notify_for_local(ctx.index);
        }
    }
    None
}

/// The body of a worker thread.
pub(crate) fn run_worker(shared: Arc<Shared>, index: usize) {
    let _kind = set_thread_kind(ThreadKind::Worker);
    // SAFETY: `shared` is a strong reference held by this function until after the guard is
    // dropped (guards drop in reverse order of declaration, and `shared` is a parameter).
    let _scheduler = unsafe { set_thread_scheduler(Arc::as_ptr(&shared) as *const ()) };
    let ctx = WorkerCtx {
        shared: &*shared,
        index,
        lifo: Cell::new(None),
        waking: Cell::new(WakeSource::Task),
        ran_deinit: Cell::new(false),
        outbox: Outbox::default(),
        spare: RefCell::new(Vec::new()),
    };
    WORKER.set(&ctx);
    let home = LocalHome::new(shared.clone(), HomeWake::Worker(index));
    let entered = home.enter();
    let mut worker = Worker {
        shared: &shared,
        ctx: &ctx,
        home: &home,
        local_turn: false,
        tick: 0,
        lifo_streak: 0,
        timed_streak: 0,
        searching: false,
        rng: (index as u32).wrapping_mul(0x9E37_79B9) | 1,
        fired: Vec::new(),
    };
    worker.run();
    // Drop this worker's local tasks here, on their thread (`local.rs`, rule 5).
    drop(entered);
    // Leave nothing in the LIFO slot: shutdown drains the queues, not this thread's slot.
    if let Some(r) = ctx.lifo.take() {
        shared.push_shared(&shared.resumed, r);
    }
    // `retired.rs`, rule 4: drop what this worker holds for others (here: after the last drain
    // of a `deinit` run by one of its tasks, nobody would release a handed-over batch), and free
    // what came home while the loop ended.
    ctx.outbox.clear();
    shared.workers[index].retired.release(&mut ctx.spare.borrow_mut());
    WORKER.set(ptr::null());
    if ctx.ran_deinit.get() {
        // A task of this worker ran `deinit`, which joined every other worker and dropped every
        // other task, but could not drop the task running it. That task has now returned from
        // its poll: finished, blocked (still registered), or woken by a destructor (queued).
        // Nobody else is left to drop it, and a runnable left in a queue would keep `Shared`
        // alive through its own queue: shutdown step 4 again, from this thread, which is outside
        // any task now, so nothing is exempt.
        shared.drop_remaining_tasks();
    }
}

struct Worker<'a> {
    shared: &'a Shared,
    ctx: &'a WorkerCtx,
    /// This worker's local tasks (`local.rs`).
    home: &'a LocalHome,
    /// Whether a local task goes first at the next tick (they take turns with the rest).
    local_turn: bool,
    tick: u32,
    lifo_streak: u32,
    /// Tasks taken from the timed queue in a row.
    timed_streak: u32,
    searching: bool,
    rng: u32,
    /// Reused buffer for the wakers of fired timers.
    fired: Vec<Waker>,
}

impl Worker<'_> {
    fn run(&mut self) {
        while !self.shared.is_stopping() {
            self.tick = self.tick.wrapping_add(1);
            if self.tick % EVENT_INTERVAL == 0 {
                self.poll_reactor_now();
                self.exchange_retired();
            }
            let task = match self.next_task() {
                Some(t) => Some(t),
                None => self.search(),
            };
            match task {
                Some(r) => {
                    if self.searching {
                        self.searching = false;
                        if self.shared.idle.stop_searching() {
                            // Rule 3 of idle.rs: the last searcher found work; there may be more.
                            self.shared.notify_one();
                        }
                    }
                    self.shared.workers[self.ctx.index].stats.polled();
                    match &self.shared.stall {
                        None => run_task(r),
                        Some(watch) => watch.run(self.ctx.index, r, run_task),
                    }
                }
                None => self.park(),
            }
        }
        if self.searching {
            self.shared.idle.stop_searching();
        }
    }

    /// Step 2 of the run loop. With local tasks, it takes turns (rule 3 of `local.rs`): one tick a
    /// local task first, the next the other queues first; so when both have work, every other
    /// task run is a local one. Without, it costs one `Cell` read.
    #[inline]
    fn next_task(&mut self) -> Option<Runnable> {
        if !self.home.has_tasks() {
            return self.next_local();
        }
        self.local_turn = !self.local_turn;
        if self.local_turn {
            if let Some(r) = self.home.pop() {
                return Some(r);
            }
        }
        self.next_local().or_else(|| self.home.pop())
    }

    fn next_local(&mut self) -> Option<Runnable> {
        let shared = self.shared;
        if self.timed_streak < MAX_TIMED_POLLS {
            if let Ok(r) = shared.timed.pop() {
                self.timed_streak += 1;
                return Some(r);
            }
        }
        self.timed_streak = 0;
        if self.tick % GLOBAL_QUEUE_INTERVAL == 0 {
            // Alternate which shared queue goes first, so that neither starves the other.
            let (first, second) = if (self.tick / GLOBAL_QUEUE_INTERVAL) % 2 == 0 {
                (&shared.injector, &shared.resumed)
            } else {
                (&shared.resumed, &shared.injector)
            };
            if let Ok(r) = first.pop().or_else(|_| second.pop()) {
                return Some(r);
            }
        }
        if let Some(r) = self.ctx.lifo.take() {
            if self.lifo_streak < MAX_LIFO_POLLS {
                self.lifo_streak += 1;
                return Some(r);
            }
            // SAFETY: a `Worker` runs on its own thread: it owns its queue.
            unsafe { shared.push_local(self.ctx.index, r) };
        }
        self.lifo_streak = 0;
        // SAFETY: as above.
        if let Some(r) = unsafe { shared.workers[self.ctx.index].queue.pop() } {
            return Some(r);
        }
        self.take_from_shared()
    }

    /// Takes from the resumed queue, else from the injector (ground rule 3 of `mod.rs`).
    fn take_from_shared(&mut self) -> Option<Runnable> {
        let shared = self.shared;
        // Timer-woken tasks one at a time: a batch in the local queue would wait behind the
        // timed queue's later ones (ground rule 4 of `mod.rs`).
        if let Ok(r) = shared.timed.pop() {
            return Some(r);
        }
        self.take_batch(&shared.resumed).or_else(|| self.take_batch(&shared.injector))
    }

    /// Pops one task from `queue` and moves a fair share of the rest to the local queue.
    fn take_batch(&self, queue: &ConcurrentQueue<Runnable>) -> Option<Runnable> {
        let shared = self.shared;
        let first = queue.pop().ok()?;
        let share = (queue.len() / shared.workers.len()).min(super::INJECTOR_BATCH);
        for _ in 0..share {
            match queue.pop() {
                // SAFETY: a `Worker` runs on its own thread: it owns its queue.
                Ok(r) => unsafe { shared.push_local(self.ctx.index, r) },
                Err(_) => break,
            }
        }
        if share > 0 {
            shared.notify_one();
        }
        Some(first)
    }

    fn search(&mut self) -> Option<Runnable> {
        let shared = self.shared;
        if !self.searching {
            if !shared.idle.try_start_searching() {
                return None;
            }
            self.searching = true;
        }
        let n = shared.workers.len();
        // xorshift: a cheap, per-worker varying start so stealers do not all hit one victim.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 17;
        self.rng ^= self.rng << 5;
        let start = self.rng as usize % n;
        for i in 0..n {
            let victim = (start + i) % n;
            if victim != self.ctx.index {
                if let Some(r) = self.steal_half(victim) {
                    return Some(r);
                }
            }
        }
        self.take_from_shared()
    }

    /// Takes about half of `victim`'s queue into ours and returns one of those tasks.
    fn steal_half(&mut self, victim: usize) -> Option<Runnable> {
        let shared = self.shared;
        // SAFETY: a `Worker` runs on its own thread, so it owns the destination queue, and the
        // victim is another worker's queue.
        let stolen = unsafe {
            shared.workers[victim].queue.steal_into(&shared.workers[self.ctx.index].queue)
        };
        if stolen.is_some() {
            shared.workers[self.ctx.index].stats.stole();
        }
        stolen
    }

    fn poll_reactor_now(&mut self) {
        let shared = self.shared;
        if !shared.reactor.has_sources() && !shared.timers.has_timers() {
            return;
        }
        if let Some(mut driver) = self.shared.reactor.try_lock_driver() {
            if driver.poll(Some(std::time::Duration::ZERO)) > 0 {
                self.dispatch(&mut driver);
            }
            self.fire_timers();
        }
    }

    /// Delivers the events of the driver's last poll, waking their tasks (which go to the back
    /// of a non-empty resumed queue: ground rule 2 of `mod.rs`), then wakes an idle worker if
    /// more than one task waits here.
    fn dispatch(&self, driver: &mut DriverGuard<'_>) {
        self.ctx.waking.set(WakeSource::Reactor);
        driver.dispatch();
        self.ctx.waking.set(WakeSource::Task);
        // One request for help for the whole batch (tokio does the same): asked for on the
        // batch's third task, an idle worker woke while this one was still dispatching, stole
        // what little was queued, ran out and parked again. Under `wrk` against
        // `examples/http_hello` that made 3x the `futex` calls and 1.6x the context switches,
        // for the same requests a second.
        self.shared.notify_for_local(self.ctx.index);
    }

    /// Fires the due timers; the tasks they wake go to the timed queue (ground rule 4 of
    /// `mod.rs`).
    fn fire_timers(&mut self) {
        self.ctx.waking.set(WakeSource::Timers);
        self.shared.timers.fire_due(&mut self.fired);
        self.ctx.waking.set(WakeSource::Task);
    }

    /// Step 4 of the run loop (see `idle.rs` for the protocol).
    fn park(&mut self) {
        let shared = self.shared;
        let index = self.ctx.index;
        let was_searching = self.searching;
        shared.idle.register_sleeper(index, was_searching);
        self.searching = false;
        // A local task woken from another thread is in the home's inbox and unparks this worker
        // itself (`local.rs`, rule 2); checking it here saves the round trip.
        if shared.has_queued_work() || shared.is_stopping() || self.home.has_ready() {
            // Rule 5 of `idle.rs`: a searcher stays one, so that finding work wakes the next.
            self.searching = shared.idle.cancel_sleep(index, was_searching);
            return;
        }
        // Nothing held for an idle worker (`retired.rs`, rules 2 and 3).
        self.exchange_retired();
        let parker = &shared.workers[index].parker;
        let stats = &shared.workers[index].stats;
        stats.parking();
        match shared.reactor.try_lock_driver() {
            Some(mut driver) => {
                let timeout = shared.timers.park_timeout();
                parker.park_driver(&mut driver, timeout);
                stats.unparked();
                shared.timers.unparked();
                // Unregister before dispatching: the wakes of dispatch then see this worker as
                // awake and do not try to unpark it.
                self.wake_up();
                self.dispatch(&mut driver);
                self.fire_timers();
            }
            None => {
                parker.park_condvar();
                stats.unparked();
                self.wake_up();
            }
        }
    }

    /// `retired.rs`: sends the references this worker holds for others home, and frees its own
    /// tasks that came home.
    fn exchange_retired(&self) {
        self.ctx.outbox.flush(&self.shared.workers);
        self.shared.workers[self.ctx.index].retired.release(&mut self.ctx.spare.borrow_mut());
    }

    /// After parking (or deciding not to): leave the sleepers, and become a searcher if a
    /// producer woke this worker (rule 4 of `idle.rs`).
    fn wake_up(&mut self) {
        if !self.shared.idle.unregister_sleeper(self.ctx.index) {
            self.searching = true;
        }
    }
}

/// Runs one task. A panic of the future's poll is caught by async-task and handed to the
/// `JoinHandle`; this catches what escapes it (a destructor that panics), so the worker survives.
#[inline]
pub(super) fn run_task(r: Runnable) {
    let _ = catch_unwind(AssertUnwindSafe(|| r.run()));
}
