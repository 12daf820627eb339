//! For writing an [`Io`](crate::Io) backend outside kqio: the backend-neutral task machinery that
//! kqio's own backends use, in one place.
//!
//! A backend implements [`Io`](crate::Io) (the vtable) and [`Schedule`] (where and when tasks
//! run). kqio's typed helpers build every task ([`r#async`](crate::Io#method.async),
//! [`concurrent`](crate::Io#method.concurrent): one allocation holding the future, its output and
//! a [`TaskHeader`] with the cancel state), so a backend never builds one; it:
//!
//! 1. returns its scheduler from [`Io::task_reserve`](crate::Io::task_reserve) (or
//!    `ConcurrencyUnavailable` when it wants no more tasks);
//! 2. gets each task as a [`Runnable`] in [`Schedule::schedule`] (at spawn and at every wake) and
//!    calls `runnable.run()` on some thread, later; [`Schedule::task_spawned`] and
//!    [`Schedule::task_finished`] tell it when a task is spawned and when its future is dropped;
//! 3. leaves the task-local vtable methods (`task_check_cancel`, `task_recancel`,
//!    `task_swap_cancel_protection`) to their default bodies, which act on the current task's
//!    header as [`check_cancel`], [`recancel`] and [`swap_cancel_protection`] do; its own
//!    cancellation points (a socket wait, say) call [`check_cancel`] before waiting, or
//!    [`cancel_pending`] to look without delivering;
//! 4. runs the future of its `block_on` as a task of its own with [`poll_in_task`] and a
//!    [`TaskHeader::detached`] header, so that cancellation points inside it work;
//! 5. keeps timers in the [`TimerSlot`] each sleeping future owns
//!    ([`Io::time_poll_sleep`](crate::Io::time_poll_sleep)).
//!
//! `tests/external_backend.rs` is a complete single-threaded backend on a virtual clock, written
//! with nothing but this module and kqio's public types.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pub use crate::task::current::{cancel_pending, check_cancel, recancel, swap_cancel_protection};
pub use crate::task::{Runnable, Schedule, ScheduleReason, TaskHeader};
pub use crate::time::TimerSlot;

/// Polls `future` once as the task whose header is `task`: cancellation points inside it find
/// that task (its cancel state and protection), as they do in a spawned task, and the task keeps
/// `cx`'s waker for cancellation wake-ups. What a backend's `block_on` calls in its loop, with
/// one [`TaskHeader::detached`] header for the whole run.
///
/// # Examples
///
/// ```
/// use kqio::backend::{poll_in_task, TaskHeader};
/// use std::task::{Context, Poll, Waker};
///
/// let task = TaskHeader::detached(true); // starts with a cancellation request
/// let mut cx = Context::from_waker(Waker::noop());
/// let mut fut = std::pin::pin!(async { kqio::backend::check_cancel() });
/// assert_eq!(poll_in_task(&task, fut.as_mut(), &mut cx), Poll::Ready(Err(kqio::Canceled)));
/// ```
pub fn poll_in_task<F: Future + ?Sized>(
    task: &TaskHeader,
    future: Pin<&mut F>,
    cx: &mut Context<'_>,
) -> Poll<F::Output> {
    task.register_waker(cx.waker());
    // `task` is borrowed for this whole call, so it outlives the guard (`enter`'s contract).
    let _current = crate::task::current::enter(task);
    let _budget = crate::task::coop::start();
    future.poll(cx)
}
