//! The typed side of the blocking pool: `io.spawn_blocking(f)` and the future that waits for
//! `f`'s result.
//!
//! The job and its waiter share one `Slot` whose state word says who owns the outcome:
//!
//! | state | meaning | next |
//! | --- | --- | --- |
//! | `WAITING` | queued, not started | `RUNNING` (a pool thread starts it), `ABANDONED` (the waiter gave up: the job will not run), `DROPPED` (the pool dropped it unrun) |
//! | `RUNNING` | `f` is running | `DONE`, or `ABANDONED` (the waiter gave up: the result is dropped by the pool thread) |
//! | `DONE` | the result is in the slot | final |
//! | `ABANDONED`, `DROPPED` | final | |
//!
//! Every change is a compare-and-swap, so exactly one side decides each outcome: a canceled
//! waiter either stops the job before it starts (and returns `Canceled`), or leaves a running
//! job to finish and drop its result (an fd it opened is closed), or finds it done and returns
//! the real result. Never both.

use crate::loom::sync::atomic::{AtomicU8, Ordering};
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;

use crate::loom::sync::Mutex;
use std::task::{Context, Poll};
use std::thread;

use crate::loom::future::AtomicWaker;

use crate::error::Canceled;
use crate::task::current;

const WAITING: u8 = 0;
const RUNNING: u8 = 1;
const DONE: u8 = 2;
const ABANDONED: u8 = 3;
const DROPPED: u8 = 4;

struct Slot<T> {
    state: AtomicU8,
    result: Mutex<Option<thread::Result<T>>>,
    waker: AtomicWaker,
}

/// Owned by the job closure; marks the slot `DROPPED` if the closure is dropped unrun.
struct JobGuard<T> {
    slot: Arc<Slot<T>>,
}

impl<T> Drop for JobGuard<T> {
    fn drop(&mut self) {
        if self
            .slot
            .state
            .compare_exchange(WAITING, DROPPED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.slot.waker.wake();
        }
    }
}

/// Builds the pool job for `f` and the future that waits for it.
pub(crate) fn job<F, T>(f: F) -> (Box<dyn FnOnce() + Send>, Blocking<T>)
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let slot = Arc::new(Slot {
        state: AtomicU8::new(WAITING),
        result: Mutex::new(None),
        waker: AtomicWaker::new(),
    });
    let guard = JobGuard { slot: slot.clone() };
    let job = Box::new(move || {
        let slot = &guard.slot;
        if slot
            .state
            .compare_exchange(WAITING, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return; // Abandoned before it started: do nothing.
        }
        let result = catch_unwind(AssertUnwindSafe(f));
        *slot.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
        if slot.state.compare_exchange(RUNNING, DONE, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            slot.waker.wake();
        } else {
            // Abandoned while running: drop the result here, now.
            let r = slot.result.lock().unwrap_or_else(|e| e.into_inner()).take();
            drop(r);
        }
    });
    (job, Blocking { slot, cancelable: true })
}

/// The result of a job on the blocking pool (from [`spawn_blocking`](crate::Io#method.spawn_blocking)).
///
/// Output: `Ok(value)`, or `Err(Canceled)` if the job will not run or its result will not be
/// delivered (canceled, or the runtime shut down first). A panic in the job is re-raised here.
/// Dropping it before the job starts keeps the job from running; dropping it while the job runs
/// lets the job finish and drops its result on the pool thread.
#[must_use = "futures do nothing unless awaited"]
pub struct Blocking<T> {
    slot: Arc<Slot<T>>,
    cancelable: bool,
}

impl<T> std::fmt::Debug for Blocking<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blocking").field("state", &self.slot.state.load(Ordering::Relaxed)).finish()
    }
}

impl<T> Blocking<T> {
    /// Makes the wait ignore cancellation requests: it then returns `Canceled` only if the
    /// runtime shuts down before the job runs.
    pub fn uncancelable(mut self) -> Self {
        self.cancelable = false;
        self
    }

    /// Gives up the result, stopping the job if it has not started. Returns whether it was
    /// stopped before starting.
    fn abandon(&self) -> bool {
        let st = &self.slot.state;
        if st.compare_exchange(WAITING, ABANDONED, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            return true;
        }
        let _ = st.compare_exchange(RUNNING, ABANDONED, Ordering::AcqRel, Ordering::Acquire);
        false
    }

    fn take(&self) -> T {
        let r = self.slot.result.lock().unwrap_or_else(|e| e.into_inner()).take();
        match r.expect("a DONE slot holds its result until taken once") {
            Ok(v) => v,
            Err(panic) => resume_unwind(panic),
        }
    }
}

impl<T> Future for Blocking<T> {
    type Output = Result<T, Canceled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &*self;
        let ready = |state: u8| match state {
            DONE => Some(Ok(this.take())),
            DROPPED | ABANDONED => Some(Err(Canceled)),
            _ => None,
        };
        if let Some(r) = ready(this.slot.state.load(Ordering::Acquire)) {
            return Poll::Ready(r);
        }
        if this.cancelable {
            if let Err(c) = current::check_cancel() {
                this.abandon();
                // The job may have finished in between: then its result is the outcome.
                if this.slot.state.load(Ordering::Acquire) == DONE {
                    // The request was not acted on: re-arm it for the next cancellation point.
                    current::recancel();
                    return Poll::Ready(Ok(this.take()));
                }
                return Poll::Ready(Err(c));
            }
        }
        this.slot.waker.register(cx.waker());
        match ready(this.slot.state.load(Ordering::Acquire)) {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending,
        }
    }
}

impl<T> Drop for Blocking<T> {
    fn drop(&mut self) {
        self.abandon();
    }
}
