//! The typed side of the blocking pool: `io.spawn_blocking(f)` and the future that waits for
//! `f`'s result.
//!
//! The job and its waiter share one `Slot` whose state word says who owns the outcome:
//!
//! | state | meaning | next |
//! | --- | --- | --- |
//! | `WAITING` | queued, not started | `RUNNING` (a pool thread starts it), `ABANDONED` (the waiter gave up: the job will not run), `DROPPED` (the pool dropped it unrun) |
//! | `RUNNING` | `f` is running | `DONE`, `ABANDONED` (the waiter gave up: the result is dropped by the pool thread), or `INTERRUPTED` (an interruptible job whose waiter was canceled) |
//! | `INTERRUPTED` | the waiter was canceled and asked the backend to stop the job early; it still waits for the result | `DONE`, or `ABANDONED` (the backend gave up on stopping it, or the waiter was dropped) |
//! | `DONE` | the result is in the slot | final |
//! | `ABANDONED`, `DROPPED` | final | |
//!
//! Every change is a compare-and-swap, so exactly one side decides each outcome: a canceled
//! waiter either stops the job before it starts (and returns `Canceled`), or leaves a running
//! job to finish and drop its result (an fd it opened is closed), or finds it done and returns
//! the real result. Never both.
//!
//! An *interruptible* job (`job_interruptible`, the backend's own file work) is not left
//! running: its canceled waiter asks the backend's [`Interrupt`] to stop it (the kqueue backend
//! signals its thread, so its blocking call returns `EINTR`) and waits for its result, which is
//! then `Canceled` (nothing was done, or what was done is reported as the job reports it) or the
//! real result if the job finished first (the request is then re-armed, as for a `DONE` race).
//! A backend that cannot stop the job within its bound calls the `give_up` it was handed, and
//! the waiter returns `Canceled` without the result.

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
const INTERRUPTED: u8 = 5;

/// A backend's way to stop a running job early (see the module docs).
pub(crate) trait Interrupt: Send + Sync {
    /// Asks the running job to stop soon. If the backend cannot make it stop within its bound,
    /// it calls `give_up`, which makes the waiter stop waiting. Called at most once per job.
    fn interrupt(self: Arc<Self>, give_up: Box<dyn FnOnce() + Send>);
}

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
    make(f, None, |_| false)
}

/// As [`job`], for a job that `interrupt` can stop early, whose result says whether it was
/// stopped (an error for which [`Canceled::is_canceled`] holds).
pub(crate) fn job_interruptible<F, T>(
    f: F,
    interrupt: Arc<dyn Interrupt>,
) -> (Box<dyn FnOnce() + Send>, Blocking<std::io::Result<T>>)
where
    F: FnOnce() -> std::io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    make(f, Some(interrupt), |r| matches!(r, Err(e) if Canceled::is_canceled(e)))
}

fn make<F, T>(
    f: F,
    interrupt: Option<Arc<dyn Interrupt>>,
    stopped: fn(&T) -> bool,
) -> (Box<dyn FnOnce() + Send>, Blocking<T>)
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
        let done = |from| {
            slot.state.compare_exchange(from, DONE, Ordering::AcqRel, Ordering::Acquire).is_ok()
        };
        if done(RUNNING) || done(INTERRUPTED) {
            slot.waker.wake();
        } else {
            // Abandoned while running: drop the result here, now.
            let r = slot.result.lock().unwrap_or_else(|e| e.into_inner()).take();
            drop(r);
        }
    });
    // Made here, where `T: Send` is known: what the backend calls to stop the waiter waiting.
    let give_up = interrupt.as_ref().map(|_| {
        let slot = slot.clone();
        Box::new(move || {
            if slot
                .state
                .compare_exchange(INTERRUPTED, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                slot.waker.wake();
            }
        }) as Box<dyn FnOnce() + Send>
    });
    (job, Blocking { slot, cancelable: true, interrupt, give_up, stopped, interrupted: false })
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
    /// Set for an interruptible job.
    interrupt: Option<Arc<dyn Interrupt>>,
    /// For an interruptible job: handed to the backend with the interrupt.
    give_up: Option<Box<dyn FnOnce() + Send>>,
    /// Whether a result says the job was stopped by the interrupt.
    stopped: fn(&T) -> bool,
    /// This waiter took a cancellation request and interrupted the job (state `INTERRUPTED`).
    interrupted: bool,
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

    /// Gives up the result, stopping the job if it has not started (and interrupting it if it
    /// runs and can be). Returns whether it was stopped before starting.
    fn abandon(&self) -> bool {
        let st = &self.slot.state;
        if st.compare_exchange(WAITING, ABANDONED, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            return true;
        }
        if st.compare_exchange(RUNNING, ABANDONED, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            if let Some(i) = &self.interrupt {
                // Nobody waits: free its thread early; there is nothing to give up.
                i.clone().interrupt(Box::new(|| {}));
            }
        }
        // Already interrupted: the request stands; stop waiting for the result.
        let _ = st.compare_exchange(INTERRUPTED, ABANDONED, Ordering::AcqRel, Ordering::Acquire);
        false
    }

    fn take(&self) -> T {
        let r = self.slot.result.lock().unwrap_or_else(|e| e.into_inner()).take();
        match r.expect("a DONE slot holds its result until taken once") {
            Ok(v) => v,
            Err(panic) => resume_unwind(panic),
        }
    }

    /// The outcome once the state is final, or `None`.
    fn outcome(&self, state: u8) -> Option<Result<T, Canceled>> {
        match state {
            DONE => {
                let v = self.take();
                if self.interrupted {
                    if (self.stopped)(&v) {
                        return Some(Err(Canceled));
                    }
                    // It finished before the interrupt took: the request was not acted on;
                    // re-arm it for the next cancellation point.
                    current::recancel();
                }
                Some(Ok(v))
            }
            DROPPED | ABANDONED => Some(Err(Canceled)),
            _ => None,
        }
    }
}

impl<T> Future for Blocking<T> {
    type Output = Result<T, Canceled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(r) = this.outcome(this.slot.state.load(Ordering::Acquire)) {
            return Poll::Ready(r);
        }
        if this.cancelable && !this.interrupted {
            if let Err(c) = current::check_cancel() {
                let st = &this.slot.state;
                let interruptible = this.interrupt.is_some()
                    && st
                        .compare_exchange(RUNNING, INTERRUPTED, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok();
                if interruptible {
                    this.interrupted = true;
                    let give_up = this.give_up.take().expect("made with the interrupt");
                    this.interrupt.clone().expect("checked above").interrupt(give_up);
                    // Wait for the job's end below.
                } else {
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
        }
        this.slot.waker.register(cx.waker());
        match this.outcome(this.slot.state.load(Ordering::Acquire)) {
            Some(r) => Poll::Ready(r),
            None => {
                super::activity::wait_on(super::activity::WaitingOn::Blocking);
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for Blocking<T> {
    fn drop(&mut self) {
        self.abandon();
    }
}
