//! Which task the current thread is polling, and what kind of kqio thread it is.
//!
//! Ground rules:
//! 1. `CURRENT` points at the header of the task whose future is being polled on this thread, or
//!    is null. It is set by [`enter`] for the duration of one poll and restored afterwards, so
//!    nested polls (an inline `r#async` inside a task) see their own task.
//! 2. A cancellation point reads `CURRENT`; outside any kqio task it never reports `Canceled`.
//! 3. `THREAD_KIND` says whether this thread is a runtime worker or inside `block_on`; `block_on`
//!    refuses to start on such a thread (it would block a thread the runtime depends on).

use std::cell::Cell;
use std::ptr;

use super::cancel::CancelProtection;
use super::header::TaskHeader;
use crate::error::Canceled;

/// What kind of kqio thread the current thread is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ThreadKind {
    /// Not (currently) owned by a kqio runtime.
    Plain,
    /// A worker of some kqio runtime.
    Worker,
    /// Inside `block_on`.
    BlockOn,
}

crate::loom::thread_local_const! {
    static CURRENT: Cell<*const TaskHeader> = Cell::new(ptr::null());
    static THREAD_KIND: Cell<ThreadKind> = Cell::new(ThreadKind::Plain);
    static THREAD_SCHEDULER: Cell<*const ()> = Cell::new(ptr::null());
}

/// The scheduler this thread works for (its data address), or null. See
/// [`set_thread_scheduler`].
#[inline]
pub(crate) fn thread_scheduler() -> *const () {
    THREAD_SCHEDULER.with(Cell::get)
}

/// Declares that this thread works for the scheduler at `scheduler` until the guard is dropped.
///
/// # Safety
///
/// The caller must keep the scheduler alive (hold a strong reference to it) for as long as the
/// guard lives: `task::spawn` relies on it to call the scheduler without taking a reference of
/// its own.
pub(crate) unsafe fn set_thread_scheduler(scheduler: *const ()) -> ThreadSchedulerGuard {
    ThreadSchedulerGuard { prev: THREAD_SCHEDULER.with(|c| c.replace(scheduler)) }
}

/// Restores the previous thread scheduler when dropped.
pub(crate) struct ThreadSchedulerGuard {
    prev: *const (),
}

impl Drop for ThreadSchedulerGuard {
    fn drop(&mut self) {
        THREAD_SCHEDULER.with(|c| c.set(self.prev));
    }
}

/// Restores the previous current task when dropped.
pub(crate) struct Entered {
    prev: *const TaskHeader,
}

/// Makes `header` the current task until the returned guard is dropped.
///
/// The caller guarantees that `header` stays valid while the guard lives (it is the header of
/// the task being polled, which outlives the poll).
#[inline]
pub(crate) fn enter(header: *const TaskHeader) -> Entered {
    Entered { prev: CURRENT.with(|c| c.replace(header)) }
}

impl Drop for Entered {
    #[inline]
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.prev));
    }
}

/// Runs `f` with the header of the current task, if any.
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&TaskHeader>) -> R) -> R {
    let p = CURRENT.with(Cell::get);
    // SAFETY: `CURRENT` is only ever non-null between `enter` and the drop of its guard, and
    // `enter`'s caller guarantees the header outlives that window (ground rule 1).
    f(unsafe { p.as_ref() })
}

/// A cancellation point for the current task: `Err(Canceled)` once after a request.
#[inline]
pub fn check_cancel() -> Result<(), Canceled> {
    with_current(|h| match h {
        Some(h) => h.cancel.check(),
        None => Ok(()),
    })
}

/// Whether the current task has a pending, unprotected cancellation request (what the next
/// cancellation point would deliver).
#[inline]
pub fn cancel_pending() -> bool {
    with_current(|h| h.is_some_and(|h| h.cancel.is_pending()))
}

/// Zig `recancel` for the current task.
pub fn recancel() {
    with_current(|h| {
        if let Some(h) = h {
            h.cancel.recancel()
        }
    })
}

/// Zig `swapCancelProtection` for the current task. Outside a task it does nothing and returns
/// `Unblocked`.
pub fn swap_cancel_protection(p: CancelProtection) -> CancelProtection {
    with_current(|h| match h {
        Some(h) => h.cancel.swap_protection(p),
        None => CancelProtection::Unblocked,
    })
}

pub(crate) fn thread_kind() -> ThreadKind {
    THREAD_KIND.with(Cell::get)
}

/// Marks this thread as `kind` until the guard is dropped.
pub(crate) fn set_thread_kind(kind: ThreadKind) -> ThreadKindGuard {
    ThreadKindGuard { prev: THREAD_KIND.with(|c| c.replace(kind)) }
}

/// Restores the previous thread kind when dropped.
pub(crate) struct ThreadKindGuard {
    prev: ThreadKind,
}

impl Drop for ThreadKindGuard {
    fn drop(&mut self) {
        THREAD_KIND.with(|c| c.set(self.prev));
    }
}
