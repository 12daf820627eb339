//! Building tasks: the future wrapper every spawned task runs, and running a future in place.
//!
//! A spawned task is one async-task allocation holding a [`TaskFuture`] (the user's future plus
//! a pointer to its own header), the output slot and the [`TaskHeader`]. The wrapper is what
//! makes cancellation work on any backend: it makes the task current while its future is polled
//! (so cancellation points find their task) and keeps the task's waker in the header (so a
//! cancellation request can wake it).

use std::borrow::Cow;
use std::future::Future;
use std::panic::Location;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::header::{Runnable, Schedule, TaskHeader};
use super::join::JoinHandle;
use super::park;
use super::{coop, current};

/// Why a task is being handed to [`Schedule::schedule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScheduleReason {
    /// The task was just spawned.
    Spawned,
    /// The task was woken by an event (I/O, a timer, another task).
    Woken,
    /// The task woke itself while it was running (it yielded): it should go behind the work
    /// that is already queued, so that it cannot starve it.
    Yielded,
}

pin_project_lite::pin_project! {
    /// The future every spawned task runs: the user's future, polled with its task current.
    ///
    /// The user's future is dropped by this wrapper, never by async-task (which aborts the
    /// process when a future's destructor panics): on completion inside the poll, so that a
    /// destructor's panic becomes the task's panic (re-raised by its handle; the output is
    /// dropped), and otherwise in this wrapper's destructor, where such a panic is caught and
    /// dropped (the panic hook has reported it), so that dropping a task or shutting the
    /// runtime down never aborts.
    pub(crate) struct TaskFuture<F> {
        header: *const TaskHeader,
        #[pin]
        stage: Stage<F>,
        // Whether the task's waker was ever put in its header (at its first `Pending`).
        registered: bool,
    }

    impl<F> PinnedDrop for TaskFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            let mut stage = this.stage.as_mut();
            // Assigning through the pin drops the future in place; if its destructor panics,
            // the place still ends up `Done`.
            let _ = catch_unwind(AssertUnwindSafe(|| stage.set(Stage::Done)));
            // SAFETY: the header lives in the same task allocation as this future and that
            // allocation is freed only after the future is dropped (async-task's layout), so the
            // pointer is valid for the whole life of `self`.
            let header = unsafe { &**this.header };
            if *this.registered {
                header.clear_waker();
            }
            if let Some(owner) = header.owner() {
                owner.task_finished(header);
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// The user's future until it completes.
    #[project = StageProj]
    enum Stage<F> {
        Running { #[pin] future: F },
        Done,
    }
}

// SAFETY: the raw header pointer refers to a `TaskHeader`, which is `Sync` (its fields are atomics
// and an `Arc<dyn Schedule>` whose target is `Send + Sync`), so sharing it across threads along
// with a `Send` future is sound.
unsafe impl<F: Send> Send for TaskFuture<F> {}

impl<F> TaskFuture<F> {
    /// The wrapper of `future`, for the task whose header is `header` (in the same allocation).
    pub(crate) fn new(header: &TaskHeader, future: F) -> Self {
        TaskFuture { header, stage: Stage::Running { future }, registered: false }
    }
}

impl<F: Future> Future for TaskFuture<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        // SAFETY: see `PinnedDrop` above: the header outlives the future.
        let header = unsafe { &**this.header };
        // Under loom: async-task's "a wake happens before the poll it causes" (see the field).
        #[cfg(all(test, kqio_loom))]
        header.wakes.fetch_add(0, crate::loom::sync::atomic::Ordering::Acquire);
        header.activity.poll_started();
        #[cfg(feature = "tracing")]
        let _span = header.span.enter();
        #[cfg(feature = "tracing")]
        tracing::trace!(task.id = header.id().as_u64(), "poll");
        let _current = current::enter(header);
        let _budget = coop::start();
        let mut stage = this.stage;
        let out = match stage.as_mut().project() {
            StageProj::Running { future } => match future.poll(cx) {
                Poll::Ready(out) => out,
                Poll::Pending => {
                    header.activity.poll_pending();
                    if !*this.registered || !header.cancel.is_untouched() {
                        keep_waker(header, cx);
                        *this.registered = true;
                    }
                    return Poll::Pending;
                }
            },
            StageProj::Done => panic!("kqio: a finished task was polled again"),
        };
        // Drop the future now, with its task current: a panic of its destructor unwinds into
        // async-task's catch and becomes the task's outcome (`out` is dropped on the way).
        stage.set(Stage::Done);
        if let Some(owner) = header.owner() {
            owner.task_completed(header, cx.waker());
        }
        Poll::Ready(out)
    }
}

/// Puts the task's waker in its header, for cancellation requests to wake it, when its poll
/// returns `Pending`: the first time (a task that finishes in its first poll never needs it, and
/// skips the cost), and after any change of the cancel state (a request takes the waker out
/// when it wakes the task; a later request, after `recancel` or one made during protection, must
/// find it again).
///
/// A request made during the poll, after its last cancellation point, may have found no waker
/// to take: the check after registering catches it (`cancel.rs`: the `SeqCst` pair), and the
/// task wakes itself so that its next poll delivers it.
#[inline]
fn keep_waker(header: &TaskHeader, cx: &Context<'_>) {
    header.register_waker(cx.waker());
    if header.cancel.is_deliverable() {
        cx.waker().wake_by_ref();
    }
}

pin_project_lite::pin_project! {
    /// Polls a future and drops it as soon as it is ready, inside that poll: a panic of its
    /// destructor then unwinds out of the poll (into a `catch_unwind` around it) with the output
    /// dropped on the way. (An `async` block awaiting the future instead leaks the output when
    /// the awaited future's destructor panics.) Used by the wrappers of group and select members.
    pub(crate) struct DropOnReady<F> {
        #[pin]
        stage: Stage<F>,
    }
}

impl<F> DropOnReady<F> {
    pub(crate) fn new(future: F) -> Self {
        DropOnReady { stage: Stage::Running { future } }
    }
}

impl<F: Future> Future for DropOnReady<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut stage = self.project().stage;
        let out = match stage.as_mut().project() {
            StageProj::Running { future } => std::task::ready!(future.poll(cx)),
            StageProj::Done => panic!("kqio: a finished future was polled again"),
        };
        stage.set(Stage::Done);
        Poll::Ready(out)
    }
}

/// Hands a woken task to its owner. A plain function (no captured state) on purpose: async-task
/// then calls it without taking a temporary reference on the task, and the owner is found in the
/// task's own header.
pub(crate) fn schedule_woken(runnable: Runnable, info: async_task::ScheduleInfo) {
    let reason =
        if info.woken_while_running { ScheduleReason::Yielded } else { ScheduleReason::Woken };
    runnable.metadata().activity.scheduled();
    #[cfg(feature = "tracing")]
    {
        let h = runnable.metadata();
        tracing::trace!(parent: &h.span, task.id = h.id().as_u64(), "wake");
    }
    let owner = runnable.metadata().owner().expect("a spawned task always has an owner");
    if ptr::eq(Arc::as_ptr(owner) as *const (), current::thread_scheduler()) {
        let owner: *const dyn Schedule = Arc::as_ptr(owner);
        // SAFETY: this thread works for this very scheduler, and `set_thread_scheduler`'s
        // contract is that the thread holds a strong reference to it meanwhile, so it outlives
        // this call even after `runnable` (whose header holds the pointer we read) is handed
        // over and possibly run and freed by another thread.
        unsafe { (*owner).schedule(runnable, reason) }
    } else {
        // Any other thread: take a reference for the duration of the call, for the same reason.
        let owner = owner.clone();
        owner.schedule(runnable, reason);
    }
}

/// Spawns `future` as a task owned by `owner` and schedules its first poll. The task's spawn
/// location is the caller's (through any chain of `#[track_caller]` functions).
#[track_caller]
pub(crate) fn spawn<F>(owner: Arc<dyn Schedule>, future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    spawn_named(owner, future, None)
}

/// [`spawn`] with a task name.
#[track_caller]
pub(crate) fn spawn_named<F>(
    owner: Arc<dyn Schedule>,
    future: F,
    name: Option<Cow<'static, str>>,
) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let first = owner.clone();
    let header = TaskHeader::new(owner, Location::caller(), name);
    let (runnable, task) = async_task::Builder::new().metadata(header).propagate_panic(true).spawn(
        |header: &TaskHeader| TaskFuture::new(header, future),
        async_task::WithInfo(schedule_woken),
    );
    let handle = JoinHandle::from_task(task);
    #[cfg(feature = "tracing")]
    {
        let h = runnable.metadata();
        tracing::debug!(parent: &h.span, task.id = h.id().as_u64(), "spawn");
    }
    // Registered before its first schedule, after which it may run and end on another thread.
    first.task_spawned(runnable.metadata());
    first.schedule(runnable, ScheduleReason::Spawned);
    handle
}

/// Runs `future` to completion on the calling thread, as a task of its own (its own cancel
/// state; `canceled` starts it with a pending request), and returns its output.
///
/// This blocks the calling thread while the future is pending. It is how `r#async` keeps its
/// promise when no unit of concurrency is available, as Zig's `async` does.
///
/// The future is dropped as soon as it is ready ([`DropOnReady`]): a panic of its destructor
/// then leaves this function with the output dropped, not leaked (a value being returned is
/// leaked when a later local's destructor panics).
#[track_caller]
pub(crate) fn run_inline<F: Future>(future: F, canceled: bool) -> F::Output {
    let header = TaskHeader::detached(canceled);
    park::block_on_with_header(&header, DropOnReady::new(future))
}

#[cfg(all(test, not(kqio_loom)))]
mod tests {
    use std::sync::mpsc;
    use std::task::Poll;
    use std::time::Duration;

    use crate::task::current;
    use crate::{InitOptions, Kqueue};

    /// `keep_waker`: a task keeps its waker in its header only from its first `Pending`. A
    /// cancellation request made during that first poll, after its last cancellation point,
    /// finds no waker to wake; the check after registering must catch it, or the task (which
    /// waits on nothing else) would never be polled again.
    #[test]
    fn a_request_made_during_the_first_poll_still_wakes_the_task() {
        let (done_tx, done_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let rt =
                Kqueue::init(InitOptions { n_threads: Some(2), ..Default::default() }).unwrap();
            let io = rt.io();
            for _ in 0..200 {
                let task = io.r#async(async {
                    let mut asked = false;
                    std::future::poll_fn(|_cx| {
                        if !asked {
                            // The request comes from inside the poll, after any check of it.
                            asked = true;
                            current::with_current(|h| h.expect("a task").request_cancel());
                            return Poll::Pending;
                        }
                        Poll::Ready(current::check_cancel())
                    })
                    .await
                });
                let outcome = rt.block_on(task);
                assert!(outcome.is_err(), "the second poll delivers the request");
            }
            done_tx.send(()).unwrap();
        });
        done_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("a task whose request came during its first poll was never woken");
    }
}
