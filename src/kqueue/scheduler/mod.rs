//! The work-stealing scheduler: run queues, the `Schedule` implementation, and shutdown.
//!
//! Ground rules:
//! 1. Every worker owns a bounded local queue (`queue.rs`: a single-producer, multi-consumer
//!    ring of `queue::CAPACITY` slots) and a LIFO slot. Two unbounded shared queues
//!    (`concurrent_queue`) take the rest: the *injector* holds tasks spawned from outside the
//!    workers, which have never run; the *resumed* queue holds tasks that have run and are ready
//!    again, woken from outside the workers or moved out of a full local queue. Only a local
//!    queue's owner pushes to it and pops from it; other workers steal half of it into their own.
//!    A full local queue moves half of its tasks to the resumed queue.
//! 2. Where a task goes when scheduled: from a worker of this runtime, a *woken* task goes to the
//!    LIFO slot (it is likely to run next with warm caches; the previous occupant moves to the
//!    local queue), a *spawned* or *yielded* task to the back of the local queue; from any other
//!    thread, a spawned task to the injector and any other to the resumed queue. One exception:
//!    a task woken by the reactor's events (a worker's `dispatch`) while the resumed queue is not
//!    empty goes to the back of the resumed queue. Under overload (more ready connections than a
//!    local queue holds) the resumed queue holds connections harvested by earlier turns; through
//!    the LIFO slot and the local queue, the next turn's connections ran ahead of them, and
//!    those that overflowed waited for every later turn's (echo at 1,000 connections: p99 110 ms
//!    against a median of 3 ms; now 12 ms against 9 ms, `benches/README.md`, "growth"). When the
//!    resumed queue is empty, as it is unless the runtime is overloaded, nothing changes. A push
//!    to a queue other threads can take from wakes one idle worker if no worker is searching
//!    (see `idle.rs`); a dispatch of the reactor's events asks once, after its whole batch.
//! 3. Workers take resumed tasks before new ones (the injector), except for a periodic turn that
//!    keeps the injector from starving (`worker.rs`). The split exists for latency under
//!    overload: a burst of spawns from outside (100,000 tasks, say) must not queue ahead of tasks
//!    that were already running, such as a timer's wake-up that overflowed a local queue; with one
//!    shared queue such a task waited for the whole burst to be polled once.
//! 4. Tasks woken by a timer turn (`fire_due`, run by a worker) go to a third shared queue, the
//!    *timed* queue, in the order the wheel fires them: deadline order, to the tick. Workers take
//!    from it one task at a time, before anything else (but for one other task after every
//!    `MAX_TIMED_POLLS` in a row, so that a flood of timers cannot starve the rest). So a task
//!    woken by a timer never waits behind a backlog of other work, nor behind a task woken by a
//!    later timer turn or due at a later tick: a burst of 10,000 expiries runs in deadline order
//!    on each worker. (Through the LIFO slot and the local queue, a turn's last task ran first and
//!    an overflow sent the earliest to the back of the resumed queue: inversions of 5 ms.)
//! 5. Shutdown, in order: (1) `shut_down` is set, so `task_reserve` fails and new work runs inline,
//!    already canceled; (2) every worker is unparked; each finishes the poll it is in, sees
//!    `stopping`, drops its local tasks (`local.rs`, rule 5: a `!Send` future is dropped on its own
//!    thread) and exits. `stopping` is stored just before `shut_down`, so that whoever sees the
//!    runtime shut down (`Io::task_is_shut_down`) knows that a worker whose poll ends after that
//!    starts no other task (one ending its poll between the two stores used to start one more; a
//!    case of `tests/lifecycle_matrix.rs` saw it under ThreadSanitizer); (3) the threads are
//!    joined; (4) the queues are drained and every task still registered is woken and drained
//!    again, until no task is left, dropping each future on the thread that called `deinit`; (5)
//!    the reactor is closed. A `deinit` called by a task runs on a worker, which is not joined:
//!    step 4 drains that worker's LIFO slot and local queue too and leaves out only the calling
//!    task, which that worker drops, with anything its poll left behind, when the poll returns and
//!    its loop ends. Late work: a task whose spawn reserved its place before step 1 (or a wake that
//!    comes from outside the workers) may reach `schedule` after step 4's last drain; `schedule`
//!    then drops it at once, on the calling thread, so that no task is left in a queue that nobody
//!    drains (with its future never dropped and the scheduler kept alive by it; the hand-shake is
//!    `late.rs`'s).
//! 6. Local tasks (`spawn_local`, `local.rs`) never enter these queues: each worker keeps its
//!    own, which nobody steals from, and runs them between its other tasks (`worker.rs`).

mod idle;
mod late;
mod local;
#[cfg(all(test, kqio_loom))]
mod loom_tests;
mod queue;
mod registry;
mod retired;
mod stall;
mod stats;
mod worker;

use crate::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use concurrent_queue::ConcurrentQueue;

use crate::error::ConcurrencyUnavailable;
use crate::kqueue::reactor::Reactor;
use crate::kqueue::timer::Timers;
use crate::observe::{RuntimeMetrics, TaskDump, TaskInfo, WorkerMetrics};
use crate::task::{Runnable, Schedule, ScheduleReason, TaskHeader};

pub(crate) use local::{block_on, reserve_local};
pub(crate) use stall::StallWatch;
pub(crate) use worker::run_worker;

/// The most tasks moved from a shared queue to a local queue at once, so that one worker does not
/// hoard a burst that others could run.
const INJECTOR_BATCH: usize = 32;

/// State shared by the workers, the tasks (as their `Schedule`) and the `Kqueue` handle.
pub(crate) struct Shared {
    pub(crate) reactor: Arc<Reactor>,
    pub(crate) timers: Timers,
    /// Tasks spawned from outside the workers (ground rule 1).
    injector: ConcurrentQueue<Runnable>,
    /// Tasks that have run and are ready again, from outside or from a full local queue.
    resumed: ConcurrentQueue<Runnable>,
    /// Tasks woken by a timer turn, in deadline order (ground rule 4).
    timed: ConcurrentQueue<Runnable>,
    workers: Box<[WorkerShared]>,
    idle: idle::Idle,
    registry: registry::Registry,
    /// Step 1 of shutdown: no new task is accepted.
    shut_down: AtomicBool,
    /// Step 2 of shutdown: workers exit their loop.
    stopping: AtomicBool,
    /// Step 4 of shutdown is over: nobody drains the queues any more, so `schedule` drops what
    /// it is handed (ground rule 5, "late work"; `late.rs`).
    last_drain: late::LastDrain,
    max_tasks: Option<usize>,
    live_tasks: AtomicUsize,
    /// The stall detector, when `InitOptions::stall_threshold` is set (`stall.rs`).
    pub(crate) stall: Option<Arc<StallWatch>>,
}

/// What other threads may touch of a worker.
pub(super) struct WorkerShared {
    queue: queue::RunQueue<Runnable>,
    parker: idle::Parker,
    /// Written by the worker only (`stats.rs`).
    stats: stats::WorkerStats,
    /// References to this worker's tasks that finished on other workers (`retired.rs`).
    retired: retired::Retired,
}

impl Shared {
    pub(crate) fn new(
        n_workers: usize,
        max_tasks: Option<usize>,
        reactor: Arc<Reactor>,
        timers: Timers,
    ) -> Self {
        Shared {
            reactor,
            timers,
            injector: ConcurrentQueue::unbounded(),
            resumed: ConcurrentQueue::unbounded(),
            timed: ConcurrentQueue::unbounded(),
            workers: (0..n_workers)
                .map(|_| WorkerShared {
                    queue: queue::RunQueue::new(),
                    parker: idle::Parker::new(),
                    stats: stats::WorkerStats::new(),
                    retired: retired::Retired::new(),
                })
                .collect(),
            idle: idle::Idle::new(n_workers),
            registry: registry::Registry::new(),
            shut_down: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            last_drain: late::LastDrain::new(),
            max_tasks,
            live_tasks: AtomicUsize::new(0),
            stall: None,
        }
    }

    /// Turns the stall detector on (before the workers start).
    pub(crate) fn with_stall_watch(mut self, watch: Arc<StallWatch>) -> Self {
        self.stall = Some(watch);
        self
    }

    /// The scheduler's part of [`RuntimeMetrics`]: per-worker counters, queue depths, live tasks.
    pub(crate) fn fill_metrics(&self, m: &mut RuntimeMetrics) {
        m.workers = self
            .workers
            .iter()
            .map(|w| WorkerMetrics { local_queue_depth: w.queue.len(), ..w.stats.snapshot() })
            .collect();
        m.injector_depth = self.injector.len();
        m.resumed_depth = self.resumed.len();
        m.timed_depth = self.timed.len();
        m.live_tasks = self.registry.len();
        m.timers_pending = self.timers.len();
        m.timers_fired = self.timers.fired();
        m.reactor_events = self.reactor.events_delivered();
    }

    /// Every registered task, for a task dump.
    pub(crate) fn task_dump(&self) -> TaskDump {
        let mut tasks = Vec::with_capacity(self.registry.len());
        self.registry.for_each(|h| tasks.push(TaskInfo::of(h)));
        TaskDump::new(tasks)
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        self.shut_down.load(Ordering::Acquire)
    }

    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Reserves a unit of concurrency (see `Io::task_reserve`).
    pub(crate) fn reserve(&self) -> Result<(), ConcurrencyUnavailable> {
        if self.is_shut_down() {
            return Err(ConcurrencyUnavailable);
        }
        // A spawn follows: on a worker, free this worker's tasks that finished elsewhere first,
        // so that the allocation reuses their memory (`retired.rs`, rule 3).
        worker::release_retired_here(self);
        if let Some(max) = self.max_tasks {
            self.live_tasks
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1))
                .map_err(|_| ConcurrencyUnavailable)?;
        }
        Ok(())
    }

    /// Pushes to worker `index`'s local queue; when it is full, half of it moves to the resumed
    /// queue.
    ///
    /// # Safety
    ///
    /// Only worker `index`'s own thread may call this (the queue's owner).
    unsafe fn push_local(&self, index: usize, runnable: Runnable) {
        // SAFETY: the caller is the queue's owner.
        unsafe {
            self.workers[index]
                .queue
                .push_back_or_overflow(runnable, |t| self.push_shared(&self.resumed, t))
        }
    }

    /// Pushes to one of the shared queues (`injector` or `resumed`).
    fn push_shared(&self, queue: &ConcurrentQueue<Runnable>, runnable: Runnable) {
        // The shared queues are unbounded and never closed, so a push cannot fail; should that
        // ever change, dropping the runnable drops its task's future, which is still an orderly
        // end.
        let _ = queue.push(runnable);
    }

    /// Wakes one idle worker if the protocol of `idle.rs` asks for it.
    fn notify_one(&self) {
        if let Some(index) = self.idle.worker_to_notify(true) {
            self.workers[index].parker.unpark(&self.reactor);
        }
    }

    /// After worker `index` pushed to its own queue: wake an idle worker to share the work, if
    /// there is more than the pusher will take next (see `Idle::worker_to_notify` for why no
    /// fence is needed).
    fn notify_for_local(&self, index: usize) {
        if self.idle.has_sleepers() && self.workers[index].queue.len() > 1 {
            if let Some(index) = self.idle.worker_to_notify(false) {
                self.workers[index].parker.unpark(&self.reactor);
            }
        }
    }

    /// Whether any queue holds a task (the re-check of `idle.rs` rule 1).
    fn has_queued_work(&self) -> bool {
        !self.injector.is_empty()
            || !self.resumed.is_empty()
            || !self.timed.is_empty()
            || self.workers.iter().any(|w| !w.queue.is_empty())
    }

    /// Shutdown steps 1 and 2: refuse new work, make every worker exit its loop.
    pub(crate) fn begin_shutdown(&self) {
        worker::note_shutdown_here(self);
        // `stopping` first (ground rule 5): seeing `shut_down` (Acquire) then implies seeing it.
        self.stopping.store(true, Ordering::Release);
        self.shut_down.store(true, Ordering::Release);
        for w in self.workers.iter() {
            w.parker.unpark(&self.reactor);
        }
    }

    /// Shutdown step 4: drops every remaining task. Runs after the workers have exited, but for
    /// the one running this call when a task called `deinit`.
    ///
    /// That task (the current one, if it is registered here) cannot be dropped while it runs: it
    /// is neither woken nor waited for, and its worker drops it, with anything else left, when it
    /// returns from its poll (`worker::run_worker`). Every other task is in a queue drained here
    /// (that worker's LIFO slot and local queue included) or, blocked, in the registry, whose
    /// wake queues it.
    pub(crate) fn drop_remaining_tasks(&self) {
        let running = crate::task::current::with_current(|h| match h {
            Some(h) if self.registry.contains(h) => h as *const TaskHeader,
            _ => std::ptr::null(),
        });
        let exempt = usize::from(!running.is_null());
        // Each round drops what is queued, then wakes what is registered (which queues it). A
        // future's destructor may wake other tasks, which the next round drops; the bound only
        // guards against a destructor that keeps waking a task forever, or a local task whose
        // home (a `block_on` on another thread) is still running.
        for _ in 0..1_000 {
            self.drain_queues();
            if self.registry.len() <= exempt {
                break;
            }
            self.registry.wake_all_except(running);
            self.drain_queues();
        }
        // Late work (ground rule 5, `late.rs`): from here on `schedule` drops what it is
        // handed; either this drain sees a runnable pushed before, or that `schedule` drains it.
        self.last_drain.close(|| self.drain_shared_queues());
        // Every worker that could retire a task is joined, or is this thread (`retired.rs`,
        // rule 4): no reference may outlive the runtime.
        let mut spare = Vec::new();
        for w in self.workers.iter() {
            w.retired.release(&mut spare);
        }
    }

    /// Drops what is in the shared queues, on the calling thread (any thread: they are
    /// multi-consumer).
    fn drain_shared_queues(&self) {
        for queue in [&self.timed, &self.resumed, &self.injector] {
            while let Ok(r) = queue.pop() {
                drop_quietly(r);
            }
        }
    }

    fn drain_queues(&self) {
        self.drain_shared_queues();
        // A `deinit` run by a task runs on a worker that is not joined: its LIFO slot and its
        // local tasks are dropped here, on their thread (the others ended with their worker;
        // `local.rs`).
        if let Some(r) = worker::take_current_lifo(self) {
            drop_quietly(r);
        }
        local::drop_current_queued(self);
        for w in self.workers.iter() {
            // SAFETY: this runs after every other worker thread was joined (shutdown step 4), so
            // each queue's owner is gone or is this thread (a `deinit` run by a task on that
            // worker, inside its poll, where the worker touches no queue), and this thread is
            // the only one touching the queue.
            while let Some(r) = unsafe { w.queue.pop() } {
                drop_quietly(r);
            }
        }
    }
}

impl AsRef<retired::Retired> for WorkerShared {
    fn as_ref(&self) -> &retired::Retired {
        &self.retired
    }
}

/// Drops a runnable (its future) quietly: a destructor that panics must not stop the shutdown
/// of the others (the panic hook has reported it already).
fn drop_quietly(r: Runnable) {
    let _ = catch_unwind(AssertUnwindSafe(|| drop(r)));
}

impl Shared {
    /// Polls a sleep (see `timer/mod.rs`), waking the parked driver if the new timer is due
    /// before it would wake.
    pub(crate) fn poll_sleep(
        &self,
        cx: &mut std::task::Context<'_>,
        slot: &mut u64,
        deadline_ns: i64,
        passed_ns: i64,
    ) -> std::task::Poll<()> {
        let (poll, wake_driver) = self.timers.poll_sleep(cx, slot, deadline_ns, passed_ns);
        if wake_driver {
            self.reactor.wake();
        }
        poll
    }
}

impl Schedule for Shared {
    #[inline]
    fn schedule(&self, runnable: Runnable, reason: ScheduleReason) {
        if let Some(r) = worker::schedule_local(self, runnable, reason) {
            let queue = match reason {
                ScheduleReason::Spawned => &self.injector,
                ScheduleReason::Woken | ScheduleReason::Yielded => &self.resumed,
            };
            self.push_shared(queue, r);
            if !self.is_stopping() {
                self.notify_one();
            } else {
                // Late work (ground rule 5, `late.rs`): after the last drain nobody would take
                // it, so this thread drains it.
                self.last_drain.after_push(|| self.drain_shared_queues());
            }
        }
    }

    #[inline]
    fn task_spawned(&self, task: &TaskHeader) {
        // A task spawned by a worker has that worker as its home (`retired.rs`, rule 1).
        if let Some(index) = worker::current_index(self) {
            task.set_home(index as u32);
        }
        self.registry.insert(task);
    }

    #[inline]
    fn task_completed(&self, task: &TaskHeader, waker: &std::task::Waker) {
        let home = task.home();
        if home == crate::task::NO_HOME {
            return;
        }
        worker::retire_here(self, home as usize, waker);
    }

    #[inline]
    fn task_finished(&self, task: &TaskHeader) {
        self.registry.remove(task);
        if self.max_tasks.is_some() {
            self.live_tasks.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

#[cfg(all(test, not(kqio_loom)))]
mod late_work_tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::retired::tests::CountDrop;
    use crate::{InitOptions, Kqueue};

    /// Ground rule 5, late work: a spawn that reserved its place before `deinit` and reaches
    /// `schedule` after the last drain has its future dropped there and then (before, it stayed
    /// in the injector for good, and kept the scheduler alive).
    #[test]
    fn a_task_scheduled_after_the_last_drain_is_dropped_at_once() {
        let rt = Kqueue::init(InitOptions::default()).unwrap();
        let io = rt.io();
        let owner = io.task_reserve().expect("reserved before shutdown");
        rt.deinit();
        let dropped = Arc::new(AtomicUsize::new(0));
        let guard = CountDrop(dropped.clone());
        let handle = crate::task::spawn::spawn(owner.clone(), async move {
            let _guard = guard;
            std::future::pending::<()>().await
        });
        assert_eq!(dropped.load(Ordering::SeqCst), 1, "dropped when it was scheduled");
        drop(handle);
        // Nothing queued holds the scheduler: only `owner` and `io` do.
        assert_eq!(Arc::strong_count(&owner), 2);
    }

    /// `retired.rs`: bursts spawned by one worker and half run by the other retire tasks to
    /// their home; every task is freed, and nothing retired outlives `deinit` (a reference left
    /// in a queue would keep the scheduler alive through the task's header). Many rounds, so
    /// that some shutdowns meet tasks still retired.
    #[test]
    fn retired_tasks_are_all_freed_and_none_outlives_the_runtime() {
        const TASKS: usize = 2_000;
        for round in 0..30 {
            let rt =
                Kqueue::init(InitOptions { n_threads: Some(2), ..Default::default() }).unwrap();
            let shared = Arc::downgrade(&rt.io.shared);
            let io = rt.io();
            let dropped = Arc::new(AtomicUsize::new(0));
            let spawner = io.clone();
            let counter = dropped.clone();
            rt.block_on(io.r#async(async move {
                let handles: Vec<_> = (0..TASKS)
                    .map(|_| {
                        let guard = CountDrop(counter.clone());
                        spawner.r#async(async move { drop(guard) })
                    })
                    .collect();
                for h in handles {
                    h.await;
                }
            }));
            assert_eq!(dropped.load(Ordering::SeqCst), TASKS, "round {round}");
            // A last burst, detached, left running into the shutdown.
            rt.block_on(io.r#async({
                let spawner = io.clone();
                let counter = dropped.clone();
                async move {
                    for _ in 0..TASKS {
                        let guard = CountDrop(counter.clone());
                        spawner.r#async(async move { drop(guard) }).detach();
                    }
                }
            }));
            drop(io);
            rt.deinit();
            assert_eq!(dropped.load(Ordering::SeqCst), 2 * TASKS, "round {round}");
            assert!(shared.upgrade().is_none(), "round {round}: a reference outlived deinit");
        }
    }
}
