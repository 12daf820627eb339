//! Local tasks on the kqueue backend: `!Send` futures that run only on the thread that spawned
//! them, a worker or a thread inside `Kqueue::block_on` (`Io::spawn_local`).
//!
//! Ground rules:
//! 1. A thread that can run local tasks has a [`LocalHome`] on its stack, reachable through the
//!    `HOME` thread-local while the home is entered: every worker for its whole run, every thread
//!    for the length of a `block_on`. Its [`LocalQueue`], made on the first `spawn_local`, is the
//!    owner (`Schedule`) of the home's local tasks.
//! 2. A local task's runnable is run or dropped by its home thread only (the contract of
//!    `task/local.rs`): `schedule` on that thread pushes to the home's `ready` deque, which no
//!    other thread touches; from any other thread it pushes to the queue's `inbox` (a
//!    `ConcurrentQueue` only the home pops) and then wakes the home (the worker's `Parker::unpark`,
//!    or the `block_on` thread's waker): the push happens before the wake, so the home sees the
//!    task when it wakes (the parker's and the thread waker's Release/Acquire pairs). No local
//!    runnable ever enters a shared queue or a stealable run queue.
//! 3. Order and fairness: the inbox is moved to the back of `ready` before each pop, so local
//!    tasks run in the order they became ready. A worker with local tasks takes turns (`worker.rs`,
//!    `next_task`): when local and other work are both ready, every other task it runs is local.
//!    `block_on` runs the local tasks ready at the start of a round, then polls its own future.
//! 4. `live` counts the home's local tasks whose future exists: it is raised by a reservation and
//!    lowered by `task_finished`, both on the home thread (the future is dropped only there, by
//!    rule 2), so a `Cell` suffices.
//! 5. A home ends (`HomeGuard`'s drop: a worker leaving its loop at `deinit`, a `block_on`
//!    returning or unwinding) by dropping every local task it owns on its own thread: it drops
//!    what is queued, wakes its tasks still registered (blocked somewhere: the wake queues them),
//!    drops again, until `live` is zero. A wake another thread has begun (it took the task's
//!    waker) lands in the inbox soon; it is waited for, up to `END_WAIT`. Then the inbox is
//!    closed and drained: a later push finds it closed and the runnable is *leaked* (forgotten),
//!    never dropped off its thread. A task can be left so only if a wake of it stays that long
//!    between taking its waker and pushing (its thread descheduled on a badly overloaded
//!    machine): a leak, never an unsound drop, and `deinit` still returns.

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use concurrent_queue::{ConcurrentQueue, PushError};

use super::Shared;
use crate::error::{ConcurrencyUnavailable, LocalUnavailable};
use crate::task::{park, Runnable, Schedule, ScheduleReason, TaskHeader};

/// How long an ending home waits for wakes already begun on other threads to reach its inbox
/// (rule 5). Such a wake is a few instructions from its push, so this is reached only when the
/// waking thread is descheduled that long; the bound keeps `deinit` prompt then (the same second
/// it gives a blocking-pool job that ignores its interrupt).
const END_WAIT: Duration = Duration::from_secs(1);

thread_local! {
    static HOME: Cell<*const LocalHome> = const { Cell::new(ptr::null()) };
}

/// How another thread wakes a home after pushing to its inbox.
pub(crate) enum HomeWake {
    /// Unpark worker `index`.
    Worker(usize),
    /// Wake the thread inside `block_on` (its thread waker).
    Thread(Waker),
}

/// The owner of a home's local tasks: what other threads reach (rule 2).
struct LocalQueue {
    shared: Arc<Shared>,
    inbox: ConcurrentQueue<Runnable>,
    wake: HomeWake,
}

/// A thread's local tasks (rule 1): lives on that thread's stack.
pub(crate) struct LocalHome {
    shared: Arc<Shared>,
    /// Made on the first `spawn_local`, so that a `block_on` that spawns none allocates nothing.
    queue: OnceCell<Arc<LocalQueue>>,
    wake: Cell<Option<HomeWake>>,
    ready: RefCell<VecDeque<Runnable>>,
    live: Cell<usize>,
}

impl LocalHome {
    pub(crate) fn new(shared: Arc<Shared>, wake: HomeWake) -> Self {
        LocalHome {
            shared,
            queue: OnceCell::new(),
            wake: Cell::new(Some(wake)),
            ready: RefCell::new(VecDeque::new()),
            live: Cell::new(0),
        }
    }

    /// Makes this the thread's home until the guard is dropped, which ends it (rule 5).
    pub(crate) fn enter(&self) -> HomeGuard<'_> {
        HomeGuard { home: self, prev: HOME.replace(self) }
    }

    /// Whether this home has local tasks (a `Cell` read: what the worker loop checks first).
    #[inline]
    pub(crate) fn has_tasks(&self) -> bool {
        self.live.get() != 0
    }

    /// Whether a local task is ready to run.
    pub(crate) fn has_ready(&self) -> bool {
        self.has_tasks()
            && (!self.ready.borrow().is_empty()
                || self.queue.get().is_some_and(|q| !q.inbox.is_empty()))
    }

    /// Takes the next ready local task (rule 3).
    pub(crate) fn pop(&self) -> Option<Runnable> {
        let queue = self.queue.get()?;
        let mut ready = self.ready.borrow_mut();
        while let Ok(r) = queue.inbox.pop() {
            ready.push_back(r);
        }
        ready.pop_front()
    }

    /// Runs the local tasks ready now (not those they make ready) and returns whether more are
    /// ready: `block_on`'s round (rule 3).
    pub(crate) fn run_round(&self) -> bool {
        if !self.has_tasks() {
            return false;
        }
        let n = self.ready.borrow().len() + self.queue.get().map_or(0, |q| q.inbox.len());
        for _ in 0..n {
            match self.pop() {
                Some(r) => super::worker::run_task(r),
                None => break,
            }
        }
        self.has_ready()
    }

    /// Drops every queued local task, on this thread; what their destructors make ready too.
    pub(crate) fn drop_queued(&self) {
        while let Some(r) = self.pop() {
            // A destructor that panics must not stop the others (the panic hook reported it).
            let _ = catch_unwind(AssertUnwindSafe(|| drop(r)));
        }
    }

    fn reserve(&self) -> Result<Arc<dyn Schedule>, ConcurrencyUnavailable> {
        self.shared.reserve()?;
        let queue = self.queue.get_or_init(|| {
            Arc::new(LocalQueue {
                shared: self.shared.clone(),
                inbox: ConcurrentQueue::unbounded(),
                wake: self.wake.take().expect("the wake is taken once, by the queue"),
            })
        });
        self.live.set(self.live.get() + 1);
        Ok(queue.clone())
    }

    /// Whether `queue` is this home's.
    fn owns(&self, queue: &LocalQueue) -> bool {
        self.queue.get().is_some_and(|q| ptr::eq(Arc::as_ptr(q), queue))
    }

    /// Rule 5.
    fn end(&self) {
        let Some(queue) = self.queue.get() else { return };
        let owner = Arc::as_ptr(queue) as *const ();
        let mut waiting_since = None;
        loop {
            self.drop_queued();
            if !self.has_tasks() {
                break;
            }
            self.shared.registry.wake_owned_by(owner);
            self.drop_queued();
            if !self.has_tasks() {
                break;
            }
            // Some wake is on its way from another thread (it took the task's waker, so the
            // registry's wake found none): it pushes to the inbox in a moment.
            if waiting_since.get_or_insert_with(Instant::now).elapsed() > END_WAIT {
                break;
            }
            std::thread::yield_now();
        }
        queue.inbox.close();
        self.drop_queued();
    }
}

/// Restores the previous home when dropped, after ending this one (rule 5).
pub(crate) struct HomeGuard<'a> {
    home: &'a LocalHome,
    prev: *const LocalHome,
}

impl Drop for HomeGuard<'_> {
    fn drop(&mut self) {
        // Still entered while it ends: the destructors it runs may wake its other tasks, which
        // must go to `ready`, not to the inbox it is about to close.
        self.home.end();
        HOME.set(self.prev);
    }
}

/// Runs `f` with this thread's home, if it is entered and belongs to `shared`.
fn with_home<R>(shared: &Shared, f: impl FnOnce(Option<&LocalHome>) -> R) -> R {
    let p = HOME.get();
    // SAFETY: `HOME` is non-null only while a `HomeGuard` is alive on this thread, and the guard
    // borrows the home it points to, so the home is alive.
    let home = unsafe { p.as_ref() };
    f(home.filter(|h| ptr::eq(&*h.shared, shared)))
}

/// `Io::task_reserve_local` for the kqueue backend: the calling thread's home, if it is one of
/// `shared`'s.
pub(crate) fn reserve_local(
    shared: &Shared,
) -> Result<Result<Arc<dyn Schedule>, ConcurrencyUnavailable>, LocalUnavailable> {
    with_home(shared, |home| home.map(LocalHome::reserve).ok_or(LocalUnavailable))
}

/// Drops the local tasks queued on this thread's home if it is `shared`'s (for a `deinit` run
/// by a task on a worker, which is that worker's home: see `Shared::drain_queues`).
pub(crate) fn drop_current_queued(shared: &Shared) {
    with_home(shared, |home| {
        if let Some(home) = home {
            home.drop_queued();
        }
    })
}

impl Schedule for LocalQueue {
    fn schedule(&self, runnable: Runnable, _reason: ScheduleReason) {
        let p = HOME.get();
        // SAFETY: as in `with_home`.
        if let Some(home) = unsafe { p.as_ref() } {
            if home.owns(self) {
                home.ready.borrow_mut().push_back(runnable);
                return;
            }
        }
        match self.inbox.push(runnable) {
            Ok(()) => match &self.wake {
                HomeWake::Worker(index) => {
                    self.shared.workers[*index].parker.unpark(&self.shared.reactor)
                }
                HomeWake::Thread(waker) => waker.wake_by_ref(),
            },
            // The home has ended (rule 5): leak the task rather than drop its future here.
            Err(PushError::Closed(r) | PushError::Full(r)) => std::mem::forget(r),
        }
    }

    fn task_spawned(&self, task: &TaskHeader) {
        self.shared.task_spawned(task);
    }

    fn task_finished(&self, task: &TaskHeader) {
        self.shared.task_finished(task);
        let p = HOME.get();
        // SAFETY: as in `with_home`.
        match unsafe { p.as_ref() } {
            // Rule 4: the future is dropped on its home, which is entered while it can drop one.
            Some(home) if home.owns(self) => home.live.set(home.live.get() - 1),
            _ => debug_assert!(false, "kqio: a local task was dropped off its thread"),
        }
    }
}

/// `Kqueue::block_on`'s loop: polls `future` on this thread, and runs the local tasks spawned
/// on it between polls (rule 3); those left when it returns are dropped here (rule 5).
pub(crate) fn block_on<F: std::future::Future>(
    shared: &Arc<Shared>,
    header: &TaskHeader,
    future: F,
) -> F::Output {
    let home = LocalHome::new(shared.clone(), HomeWake::Thread(park::current_thread_waker()));
    let _entered = home.enter();
    park::block_on_driving(header, future, || home.run_round())
}
