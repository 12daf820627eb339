//! `JoinHandle`: Zig's `Future(T)` handle, with `await`, `cancel` and `detach`.
//!
//! Zig correspondence:
//!
//! | Zig | kqio |
//! | --- | --- |
//! | `future.await(io)` | `handle.await` (consumes the handle, so a second await cannot be written) |
//! | `future.cancel(io)` | `handle.cancel().await` |
//! | (no equivalent) | `handle.detach()`: let the task run on, its output is dropped |
//! | (no equivalent) | dropping the handle: the task is dropped at its next scheduling point |
//!
//! Zig's `await` and `cancel` are idempotent because the handle is a value that stays; in Rust
//! the output is moved out, so both consume the handle instead and a second call does not type
//! check.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

use super::current;
use super::header::TaskHeader;

/// A handle to a task started by [`r#async`](crate::Io#method.async) or
/// [`concurrent`](crate::Io#method.concurrent): awaiting it yields the task's output.
///
/// # Panics
///
/// Awaiting the handle of a task that panicked re-raises that panic in the awaiting task (with
/// [`std::panic::resume_unwind`]); the worker that ran the task is unaffected.
///
/// Awaiting the handle of a task that [`Kqueue::deinit`](crate::Kqueue::deinit) dropped before it
/// finished panics with a message that says so: the task has no output to give. Work submitted
/// *after* `deinit` began never takes this path: `r#async` then runs the future inline as an
/// already-canceled task (its first cancellation point returns [`Canceled`](crate::Canceled)) and
/// returns a finished handle, so awaiting it is panic-free.
///
/// Dropping or [detaching](Self::detach) a handle never panics. If the task has finished, its
/// output is dropped right there, on the dropper's stack; a panic in the output's `Drop` (or in
/// the `Drop` of a panic payload nobody awaited) is caught and discarded. It is reported only by
/// the panic hook, which runs when the panic starts, as for any panic (the default hook prints it
/// to stderr); nothing re-raises it. So a handle dropped while its owner unwinds cannot abort the
/// process.
///
/// # Cancellation
///
/// Awaiting a handle is not itself a cancellation point: it always yields the task's output. If
/// the awaiting task is asked to cancel while it waits, the request is *forwarded* to the awaited
/// task (as in Zig) and consumed in the awaiter; the awaited task then ends as its code decides and
/// its output is returned.
///
/// # Examples
///
/// ```
/// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
/// let io = rt.io();
/// let out = rt.block_on(async move {
///     let h = io.r#async(async { 6 * 7 });
///     h.await
/// });
/// assert_eq!(out, 42);
/// # Ok::<(), std::io::Error>(())
/// ```
#[must_use = "dropping a JoinHandle cancels its task; use `detach` to let it run"]
pub struct JoinHandle<T> {
    inner: Inner<T>,
}

enum Inner<T> {
    Spawned {
        task: async_task::FallibleTask<T, TaskHeader>,
        /// Points into `task`'s allocation (see `from_task`).
        header: NonNull<TaskHeader>,
    },
    Ready(Option<T>),
    /// An inline run that panicked: the payload, re-raised by the first poll.
    Panicked(Option<Box<dyn Any + Send>>),
}

// SAFETY: `header` points at a `TaskHeader` (which is `Sync`) inside the allocation `task` keeps
// alive; the handle is otherwise a `FallibleTask<T, _>`, which is `Send` for `T: Send`.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: `&JoinHandle` only reads the `Sync` header and calls `is_finished`, which async-task
// allows from any thread (and which only checks whether a `Ready` or `Panicked` slot is full).
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    pub(crate) fn from_task(task: async_task::Task<T, TaskHeader>) -> Self {
        // The metadata lives inside the task allocation at a fixed address; the `FallibleTask`
        // holds a reference to that allocation for as long as this handle exists.
        let header = NonNull::from(task.metadata());
        JoinHandle { inner: Inner::Spawned { task: task.fallible(), header } }
    }

    pub(crate) fn ready(value: T) -> Self {
        JoinHandle { inner: Inner::Ready(Some(value)) }
    }

    /// The handle of an inline run that panicked with `payload`.
    pub(crate) fn panicked(payload: Box<dyn Any + Send>) -> Self {
        JoinHandle { inner: Inner::Panicked(Some(payload)) }
    }

    fn header(&self) -> Option<&TaskHeader> {
        match &self.inner {
            // SAFETY: see `from_task`: the allocation outlives `self`.
            Inner::Spawned { header, .. } => Some(unsafe { header.as_ref() }),
            Inner::Ready(_) | Inner::Panicked(_) => None,
        }
    }

    /// Requests cancellation of the task, then waits for it and returns its output (Zig
    /// `cancel`).
    ///
    /// # Cancellation
    ///
    /// This is the one definition of cancellation in kqio. The request sets the task's cancel flag
    /// and wakes it. Cancellation is cooperative: the task is not stopped, but the *next*
    /// cancellation point it reaches returns `Err(`[`Canceled`](crate::Canceled)`)`. A
    /// cancellation point is every operation whose error type includes `Canceled`: sleeps,
    /// socket and file operations that wait, lock, condition, semaphore and queue waits, and the
    /// pure point [`check_cancel`](crate::Io#method.check_cancel). Later cancellation points do
    /// not return `Canceled` again unless the task calls
    /// [`recancel`](crate::Io#method.recancel). A region run with
    /// [`CancelProtection::Blocked`](crate::CancelProtection) does not see the request; the first
    /// cancellation point after it does. The task then ends as its code decides, and this method
    /// returns its output (which usually carries the `Canceled` error upward).
    ///
    /// A task that has already finished is not disturbed: its output is returned.
    ///
    /// # Panics
    ///
    /// As for awaiting: a panic of the task is re-raised here.
    pub async fn cancel(self) -> T {
        self.request_cancel();
        self.await
    }

    /// Requests cancellation without waiting (the first half of [`cancel`](Self::cancel)).
    /// Used by groups and selects, which cancel many tasks before awaiting them.
    pub(crate) fn request_cancel(&self) {
        if let Some(h) = self.header() {
            h.request_cancel();
        }
    }

    /// Lets the task run to completion on its own; its output is dropped.
    ///
    /// # Panics
    ///
    /// Never: a panic in the `Drop` of an output already there is caught and discarded (see
    /// [`JoinHandle`]).
    pub fn detach(mut self) {
        if let Inner::Spawned { task, .. } = std::mem::replace(&mut self.inner, Inner::Ready(None))
        {
            // A finished task's output is dropped inside `detach`.
            drop_quietly(move || task.detach());
        }
    }

    /// Whether the task has finished (its output is ready, or it panicked).
    pub fn is_finished(&self) -> bool {
        match &self.inner {
            Inner::Spawned { task, .. } => task.is_finished(),
            Inner::Ready(v) => v.is_some(),
            Inner::Panicked(p) => p.is_some(),
        }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if current::cancel_pending() {
            // Forward the awaiting task's cancellation to the awaited one (Zig's `await`).
            if let Some(h) = self.header() {
                if current::check_cancel().is_err() {
                    h.request_cancel();
                }
            }
        }
        match &mut self.inner {
            Inner::Ready(v) => Poll::Ready(v.take().expect("JoinHandle polled after completion")),
            Inner::Panicked(p) => {
                std::panic::resume_unwind(p.take().expect("JoinHandle polled after completion"))
            }
            Inner::Spawned { task, header } => match Pin::new(task).poll(cx) {
                Poll::Ready(Some(v)) => Poll::Ready(v),
                Poll::Ready(None) => panic!(
                    "kqio: awaited a task that Kqueue::deinit dropped before it finished; \
                     it has no output"
                ),
                Poll::Pending => {
                    // SAFETY: see `from_task`: the allocation outlives `self`.
                    let task = unsafe { header.as_ref() }.id();
                    super::activity::wait_on(super::activity::WaitingOn::Join { task });
                    Poll::Pending
                }
            },
        }
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        let inner = std::mem::replace(&mut self.inner, Inner::Ready(None));
        // Dropping a `FallibleTask` of a finished task drops its output here (async-task), as
        // does a `Ready` output or an unclaimed panic payload: none of it may unwind out.
        drop_quietly(move || drop(inner));
    }
}

/// Runs `f`, which drops values whose owner has let go of them, and catches a panic of their
/// destructors: it is discarded (the panic hook has reported it already). Dropping a handle, or
/// the leftover results of a `Select`, must not unwind into the code that drops it.
pub(crate) fn drop_quietly(f: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
        // A payload whose own destructor panics is leaked rather than let that panic out.
        if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
            std::mem::forget(again);
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").field("finished", &self.is_finished()).finish()
    }
}
