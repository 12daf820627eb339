//! The per-task metadata every spawned task carries, and the contract a backend implements to
//! run tasks.
//!
//! Ground rules:
//! 1. A `TaskHeader` lives inside the task's allocation (async-task metadata), so its address is
//!    stable from spawn until the allocation is freed, which is after the future is dropped.
//! 2. `cancel` is the task's [`CancelState`]; `waker` holds the task's own waker while it may
//!    need a wake-up for cancellation. The waker refers to the task itself, so it is taken out
//!    when the future is dropped (in `TaskFuture::drop`), which breaks the reference cycle.
//! 3. `slot` belongs to the backend (its registry index); nothing else reads or writes it.
//! 4. `id`, `spawned_at` and `name` are set at spawn and never change; `activity` is the
//!    diagnostic record of `activity.rs`. A task without a name costs no allocation for it.
//! 5. `home` belongs to the backend too: set in `task_spawned`, before the first schedule (which
//!    orders it before every poll), and read only by the backend.

use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use std::borrow::Cow;
use std::fmt;
use std::panic::Location;
use std::sync::atomic::AtomicU32;
use std::sync::Arc;
use std::task::Waker;

use crate::loom::future::AtomicWaker;

use super::activity::{Activity, TaskId, TaskState, WaitingOn};
use super::cancel::{CancelState, RequestOutcome};

/// A runnable task of kqio: an [`async_task::Runnable`] whose metadata is a [`TaskHeader`].
pub type Runnable = async_task::Runnable<TaskHeader>;

use super::spawn::ScheduleReason;

/// What a backend provides to run the tasks that [`r#async`](crate::Io#method.async) and
/// [`concurrent`](crate::Io#method.concurrent) build.
///
/// The typed helpers create the task (one allocation, holding the future, its output and a
/// [`TaskHeader`]); the backend decides where and when it runs.
pub trait Schedule: Send + Sync + 'static {
    /// Queues `runnable` to be run (`runnable.run()`) by some thread. Called when the task is
    /// spawned and every time it is woken.
    fn schedule(&self, runnable: Runnable, reason: ScheduleReason);

    /// The task has just been spawned: its future exists, and will until
    /// [`task_finished`](Self::task_finished). Called once per task, on the spawning thread,
    /// before its first [`schedule`](Self::schedule), so that a backend can count it and list it
    /// (a task dump) from its spawn, before its first poll.
    fn task_spawned(&self, task: &TaskHeader);

    /// The task's future has been dropped (completed, canceled, or dropped by shutdown). Called
    /// exactly once for every task that was spawned, whether or not it started.
    fn task_finished(&self, task: &TaskHeader);

    /// The task's future has just completed, inside its last poll, on the calling thread;
    /// `waker` is the task's own. The last reference to a task frees its memory, so a backend
    /// that keeps a clone of `waker` (and drops it later, on a thread of its choice) chooses the
    /// thread that frees the task. Not called for a task whose poll panicked or that was dropped
    /// unfinished. The default does nothing, and the task is freed as usual: by whoever drops
    /// the last reference, typically the thread that ran this poll.
    fn task_completed(&self, task: &TaskHeader, waker: &Waker) {
        let _ = (task, waker);
    }
}

/// The home word of a task that has none (ground rule 5).
pub(crate) const NO_HOME: u32 = u32::MAX;

/// The metadata of a kqio task: its cancellation state and the hooks its backend needs.
pub struct TaskHeader {
    pub(crate) cancel: CancelState,
    waker: AtomicWaker,
    owner: Option<Arc<dyn Schedule>>,
    slot: AtomicUsize,
    /// The backend's second word (ground rule 5): the kqueue backend keeps the index of the
    /// worker that spawned the task here. Plain `std` atomic: relaxed, ordered by the schedule.
    home: AtomicU32,
    id: TaskId,
    spawned_at: &'static Location<'static>,
    name: Option<Cow<'static, str>>,
    pub(crate) activity: Activity,
    /// The task's `tracing` span (feature `tracing`), entered around each poll.
    #[cfg(feature = "tracing")]
    pub(crate) span: tracing::Span,
    /// Under loom only: stands for async-task's state word, which orders a wake before the
    /// poll it causes (an AcqRel RMW on wake, an Acquire RMW before polling). async-task is
    /// not loom-instrumented, so the models need this edge made visible.
    #[cfg(all(test, kqio_loom))]
    pub(crate) wakes: AtomicUsize,
}

impl fmt::Debug for TaskHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHeader")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("spawned_at", &self.spawned_at)
            .field("cancel", &self.cancel)
            .finish_non_exhaustive()
    }
}

impl TaskHeader {
    /// The header of a task spawned on `owner` at `spawned_at`.
    pub(crate) fn new(
        owner: Arc<dyn Schedule>,
        spawned_at: &'static Location<'static>,
        name: Option<Cow<'static, str>>,
    ) -> Self {
        let id = TaskId::next();
        TaskHeader {
            cancel: CancelState::new(),
            waker: AtomicWaker::new(),
            owner: Some(owner),
            slot: AtomicUsize::new(usize::MAX),
            home: AtomicU32::new(NO_HOME),
            id,
            spawned_at,
            #[cfg(feature = "tracing")]
            span: crate::observe::tracing_support::task_span(id, name.as_deref(), spawned_at),
            name,
            activity: Activity::new(),
            #[cfg(all(test, kqio_loom))]
            wakes: AtomicUsize::new(0),
        }
    }

    /// The header of a future run in place (by `block_on` or an inline `r#async`), which no
    /// scheduler owns. `canceled` starts it with a pending cancellation request. For a backend's
    /// `block_on`: see [`poll_in_task`](crate::backend::poll_in_task).
    #[track_caller]
    pub fn detached(canceled: bool) -> Self {
        TaskHeader {
            cancel: if canceled { CancelState::requested() } else { CancelState::new() },
            waker: AtomicWaker::new(),
            owner: None,
            slot: AtomicUsize::new(usize::MAX),
            home: AtomicU32::new(NO_HOME),
            id: TaskId::next(),
            spawned_at: Location::caller(),
            name: None,
            activity: Activity::new(),
            #[cfg(feature = "tracing")]
            span: tracing::Span::none(),
            #[cfg(all(test, kqio_loom))]
            wakes: AtomicUsize::new(0),
        }
    }

    /// The task's id, unique in the process.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// Where the task was spawned: the caller of [`r#async`](crate::Io#method.async),
    /// [`concurrent`](crate::Io#method.concurrent), a [`TaskBuilder`](crate::TaskBuilder), or a
    /// [`Group`](crate::Group)'s or [`Select`](crate::Select)'s spawn.
    pub fn spawned_at(&self) -> &'static Location<'static> {
        self.spawned_at
    }

    /// The name given through [`TaskBuilder::name`](crate::TaskBuilder::name), if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// What the task waits on: the cancellation point where it last returned `Pending`, if it
    /// recorded one (`None` while it runs, and for waits kqio does not know of, such as a
    /// foreign channel). A snapshot, possibly a moment old (see `activity.rs`).
    pub fn waiting_on(&self) -> Option<WaitingOn> {
        self.activity.waiting_on()
    }

    /// The task's state: running, scheduled, idle, or canceling. A snapshot.
    pub fn state(&self) -> TaskState {
        self.activity.state(self.cancel.was_requested())
    }

    /// The backend's bookkeeping slot (for example an index in its task registry);
    /// `usize::MAX` until the backend sets it.
    pub fn slot(&self) -> usize {
        self.slot.load(Ordering::Acquire)
    }

    /// Sets the backend's bookkeeping slot. Only the backend that owns the task calls this.
    pub fn set_slot(&self, slot: usize) {
        self.slot.store(slot, Ordering::Release);
    }

    /// The backend's home word (ground rule 5); [`NO_HOME`] until the backend sets it.
    pub(crate) fn home(&self) -> u32 {
        self.home.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sets the home word, in `task_spawned`. Only the backend that owns the task calls this.
    pub(crate) fn set_home(&self, home: u32) {
        self.home.store(home, std::sync::atomic::Ordering::Relaxed);
    }

    /// Wakes the task so that a pending cancellation point re-checks its cancel state. Used by
    /// backends at shutdown as well as by cancellation requests.
    pub fn wake(&self) {
        #[cfg(all(test, kqio_loom))]
        self.wakes.fetch_add(1, Ordering::AcqRel);
        self.waker.wake();
    }

    /// Requests cancellation and wakes the task if the request is new.
    pub(crate) fn request_cancel(&self) {
        #[cfg(feature = "tracing")]
        tracing::debug!(parent: &self.span, task.id = self.id.as_u64(), "cancel");
        if self.cancel.request() == RequestOutcome::Requested {
            self.wake();
        }
    }

    pub(crate) fn owner(&self) -> Option<&Arc<dyn Schedule>> {
        self.owner.as_ref()
    }

    /// Keeps the task's waker for cancellation wake-ups. Registering is needed on the first poll
    /// and after any change of the cancel state (a request takes the waker out when it wakes).
    #[inline]
    pub(crate) fn register_waker(&self, waker: &std::task::Waker) {
        self.waker.register(waker);
    }

    /// Drops the kept waker (breaks the task -> waker -> task cycle).
    pub(crate) fn clear_waker(&self) {
        drop(self.waker.take());
    }
}
