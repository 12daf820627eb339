//! `Condition`: Zig's `Io.Condition`, a condition variable used with a [`Mutex`].
//!
//! Ground rules:
//! 1. A wait queues its waiter on the condition *before* it unlocks the mutex, so a `signal`
//!    made by a task that took the mutex after the waiter released it always finds the waiter.
//! 2. `has_waiters` equals `!list.is_empty()`; it is written only with the list's lock held and
//!    lets `signal`/`broadcast` with no waiters skip the lock. A signaler that changed the
//!    predicate under the mutex is ordered after the waiter's enqueue by that mutex, so it sees
//!    the flag.
//! 3. `signal` pops one waiter; `broadcast` pops them all in one critical section (so it never
//!    wakes a task that arrived after it) and wakes them after it. A popped waiter that is
//!    canceled or dropped before it returns passes the signal on with `signal` (a spurious
//!    wake-up for someone is better than a lost one).
//! 4. The wait re-locks the mutex before returning on every path (signaled, canceled, timed
//!    out), uncancelably, as Zig does; the guard is always given back.

use crate::loom::sync::atomic::{AtomicBool, Ordering};
use crate::loom::sync::Mutex as StdMutex;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::error::WaitTimeoutError;
use super::mutex::{LockUncancelable, Mutex, MutexGuard};
use super::wait::{lock, WaitKind, WaitList, Waiter, WakeBatch};
use crate::error::Canceled;
use crate::io::Io;
use crate::task::current;
use crate::time::{Sleep, Timeout};

/// A condition variable for async tasks (Zig `Io.Condition`): tasks wait, with a [`Mutex`]
/// held, until another task signals.
///
/// As with every condition variable, wake-ups can be spurious: wait in a loop that re-checks
/// the predicate.
///
/// | Zig | kqio |
/// | --- | --- |
/// | `Condition.init` | [`Condition::new`] |
/// | `wait(io, &mutex)` (`Cancelable!void`) | [`wait(guard)`](Self::wait)`.await` → `(guard, Result<(), Canceled>)` |
/// | `waitUncancelable` | [`wait_uncancelable(guard)`](Self::wait_uncancelable)`.await` → `guard` |
/// | `waitTimeout` (`Cancelable || Timeout`) | [`wait_timeout(io, guard, t)`](Self::wait_timeout)`.await` → `(guard, Result<(), WaitTimeoutError>)` |
/// | `signal`, `broadcast` | [`signal`](Self::signal), [`broadcast`](Self::broadcast) |
///
/// Zig's `wait` unlocks the mutex, waits, and locks it again before it returns, even when it
/// returns `Canceled`. Here the guard is passed in and always handed back with the result, so
/// the caller holds the lock in both cases, as in Zig.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use kqio::sync::{Condition, Mutex};
///
/// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
/// let io = rt.io();
/// let pair = Arc::new((Mutex::new(false), Condition::new()));
/// rt.block_on(async {
///     let p = pair.clone();
///     let waiter = io.r#async(async move {
///         let (ready, cond) = &*p;
///         let mut guard = ready.lock().await?;
///         while !*guard {
///             let (g, r) = cond.wait(guard).await;
///             guard = g;
///             r?;
///         }
///         Ok::<_, kqio::Canceled>(())
///     });
///     let (ready, cond) = &*pair;
///     *ready.lock().await? = true;
///     cond.signal();
///     waiter.await
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Condition {
    has_waiters: AtomicBool,
    waiters: StdMutex<WaitList<()>>,
}

impl Condition {
    crate::loom::const_fn! {
        /// A condition with no waiters.
        pub const fn new() -> Self {
            Condition { has_waiters: AtomicBool::new(false), waiters: StdMutex::new(WaitList::new(WaitKind::Condition)) }
        }
    }

    /// Unlocks the mutex of `guard`, waits for a signal, locks the mutex again, and returns the
    /// new guard with the outcome (Zig `wait`).
    ///
    /// # Errors
    ///
    /// `Err(`[`Canceled`]`)` beside the guard if the task is canceled while it waits (the mutex
    /// is locked again all the same).
    ///
    /// # Cancellation
    ///
    /// A cancellation point; see [`JoinHandle::cancel`](crate::JoinHandle::cancel). With a
    /// pending request it returns at once without unlocking. A signal handed to a waiter that
    /// is canceled in the same instant goes to the next waiter.
    pub fn wait<'a, T: ?Sized>(&'a self, guard: MutexGuard<'a, T>) -> ConditionWait<'a, T> {
        ConditionWait { inner: RawWait::new(self, guard, true, None) }
    }

    /// As [`wait`](Self::wait), ignoring cancellation (Zig `waitUncancelable`).
    ///
    /// # Cancellation
    ///
    /// Not cancelable: a cancellation request stays pending for the next cancellation point.
    pub fn wait_uncancelable<'a, T: ?Sized>(
        &'a self,
        guard: MutexGuard<'a, T>,
    ) -> ConditionWaitUncancelable<'a, T> {
        ConditionWaitUncancelable { inner: RawWait::new(self, guard, false, None) }
    }

    /// As [`wait`](Self::wait), giving up when `timeout` passes (Zig `waitTimeout`): the
    /// mutex is locked again before it returns on every path.
    ///
    /// # Errors
    ///
    /// Beside the guard: [`WaitTimeoutError::TimedOut`] if the timeout passed first (a signal
    /// that arrived in the same instant wins), [`WaitTimeoutError::Canceled`] if the task was
    /// canceled.
    ///
    /// # Cancellation
    ///
    /// A cancellation point, as [`wait`](Self::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use kqio::sync::{Condition, Mutex, WaitTimeoutError};
    /// use kqio::time::{Duration, Timeout};
    ///
    /// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
    /// let io = rt.io();
    /// let (m, c) = (Mutex::new(()), Condition::new());
    /// let r = rt.block_on(async {
    ///     let g = m.lock().await.unwrap();
    ///     c.wait_timeout(&*io, g, Timeout::after(Duration::from_millis(1))).await.1
    /// });
    /// assert_eq!(r, Err(WaitTimeoutError::TimedOut));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait_timeout<'a, T: ?Sized>(
        &'a self,
        io: &'a dyn Io,
        guard: MutexGuard<'a, T>,
        timeout: Timeout,
    ) -> ConditionWaitTimeout<'a, T> {
        let sleep = Sleep::new(io, timeout, false);
        ConditionWaitTimeout { inner: RawWait::new(self, guard, true, Some(sleep)) }
    }

    /// Wakes the longest waiting task, if any (Zig `signal`).
    ///
    /// # Cancellation
    ///
    /// Not cancelable: does not block.
    pub fn signal(&self) {
        // Acquire: pairs with the Release store in `enqueue` (rule 2).
        if !self.has_waiters.load(Ordering::Acquire) {
            return;
        }
        let mut list = lock(&self.waiters);
        let waker = list.pop_front();
        self.has_waiters.store(!list.is_empty(), Ordering::Relaxed);
        drop(list);
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Wakes every task waiting now (Zig `broadcast`).
    ///
    /// # Cancellation
    ///
    /// Not cancelable: does not block.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use kqio::sync::{Condition, Mutex};
    ///
    /// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
    /// let io = rt.io();
    /// let pair = Arc::new((Mutex::new(false), Condition::new()));
    /// rt.block_on(async {
    ///     let waiters: Vec<_> = (0..3)
    ///         .map(|_| {
    ///             let p = pair.clone();
    ///             io.r#async(async move {
    ///                 let mut g = p.0.lock_uncancelable().await;
    ///                 while !*g {
    ///                     g = p.1.wait_uncancelable(g).await;
    ///                 }
    ///             })
    ///         })
    ///         .collect();
    ///     *pair.0.lock_uncancelable().await = true;
    ///     pair.1.broadcast();
    ///     for w in waiters {
    ///         w.await;
    ///     }
    /// });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn broadcast(&self) {
        // Acquire: as in `signal`.
        if !self.has_waiters.load(Ordering::Acquire) {
            return;
        }
        let mut batch = WakeBatch::new();
        let mut list = lock(&self.waiters);
        while let Some(w) = list.pop_front() {
            batch.push(Some(w));
        }
        self.has_waiters.store(false, Ordering::Relaxed);
        drop(list);
        batch.wake_all();
    }

    fn enqueue(&self, waiter: Pin<&Waiter<()>>, cx: &Context<'_>) {
        let mut list = lock(&self.waiters);
        // SAFETY: `waiter` is pinned inside its future, used only with this list, and the
        // future's drop removes it under this lock (wait.rs ground rules 1 and 2).
        unsafe { list.push_back(waiter, cx.waker()) };
        // Release: pairs with the Acquire in `signal` (rule 2).
        self.has_waiters.store(true, Ordering::Release);
    }

    /// A queued waiter gives up: it leaves the list, or passes on a signal it was handed.
    fn abandon(&self, waiter: &Waiter<()>) {
        if !waiter.take_notified() {
            let mut list = lock(&self.waiters);
            // SAFETY: the waiter belongs to this list.
            if unsafe { list.remove(waiter) } {
                self.has_waiters.store(!list.is_empty(), Ordering::Relaxed);
                return;
            }
            drop(list);
            waiter.take_notified();
        }
        self.signal();
    }

    /// Polls a queued waiter: `Ready` once signaled.
    fn poll_signaled(&self, waiter: &Waiter<()>, cx: &Context<'_>) -> Poll<()> {
        if !waiter.take_notified() {
            let mut list = lock(&self.waiters);
            // SAFETY: the waiter belongs to this list.
            if unsafe { list.update_waker(waiter, cx.waker()) } {
                return Poll::Pending;
            }
            drop(list);
            waiter.take_notified();
        }
        Poll::Ready(())
    }
}

impl Condition {
    /// A queued waiter gives up at its deadline: returns `true` if it had been signaled (the
    /// signal wins and is kept), else leaves the list and returns `false`.
    fn give_up(&self, waiter: &Waiter<()>) -> bool {
        if waiter.take_notified() {
            return true;
        }
        let mut list = lock(&self.waiters);
        // SAFETY: the waiter belongs to this list.
        if unsafe { list.remove(waiter) } {
            self.has_waiters.store(!list.is_empty(), Ordering::Relaxed);
            return false;
        }
        drop(list);
        waiter.take_notified();
        true
    }
}

impl Default for Condition {
    fn default() -> Self {
        Condition::new()
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition").field("waiters", &lock(&self.waiters).count()).finish()
    }
}

/// How a condition wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Signaled,
    Canceled,
    TimedOut,
}

/// Where a condition wait is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not polled yet: the guard is held.
    Start,
    /// Queued on the condition, mutex unlocked.
    Waiting,
    /// Locking the mutex again; the outcome to return with the guard.
    Relocking(Outcome),
    /// Returned.
    Done,
}

pin_project_lite::pin_project! {
    /// The wait under the three public futures: queue, unlock, wait (for a signal, a
    /// cancellation, or the deadline), lock again.
    struct RawWait<'a, T: ?Sized> {
        cond: &'a Condition,
        guard: Option<MutexGuard<'a, T>>,
        #[pin]
        waiter: Waiter<()>,
        #[pin]
        relock: LockUncancelable<'a, T>,
        sleep: Option<Sleep<'a>>,
        phase: Phase,
        cancelable: bool,
    }

    impl<'a, T: ?Sized> PinnedDrop for RawWait<'a, T> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if *this.phase == Phase::Waiting {
                this.cond.abandon(&this.waiter);
            }
        }
    }
}

impl<'a, T: ?Sized> RawWait<'a, T> {
    fn new(
        cond: &'a Condition,
        guard: MutexGuard<'a, T>,
        cancelable: bool,
        sleep: Option<Sleep<'a>>,
    ) -> Self {
        let mutex: &'a Mutex<T> = MutexGuard::mutex(&guard);
        RawWait {
            cond,
            guard: Some(guard),
            waiter: Waiter::new(()),
            relock: mutex.lock_uncancelable(),
            sleep,
            phase: Phase::Start,
            cancelable,
        }
    }
}

impl<'a, T: ?Sized> Future for RawWait<'a, T> {
    type Output = (MutexGuard<'a, T>, Outcome);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match *this.phase {
                Phase::Start => {
                    let guard = this.guard.take().expect("a condition wait holds its guard");
                    if *this.cancelable && current::check_cancel().is_err() {
                        *this.phase = Phase::Done;
                        return Poll::Ready((guard, Outcome::Canceled));
                    }
                    // Queue first, then unlock (rule 1).
                    this.cond.enqueue(this.waiter.as_ref(), cx);
                    *this.phase = Phase::Waiting;
                    drop(guard);
                }
                Phase::Waiting => {
                    if *this.cancelable && current::check_cancel().is_err() {
                        this.cond.abandon(&this.waiter);
                        *this.phase = Phase::Relocking(Outcome::Canceled);
                    } else if this.cond.poll_signaled(&this.waiter, cx).is_ready() {
                        *this.phase = Phase::Relocking(Outcome::Signaled);
                    } else if this.sleep.as_mut().is_some_and(|s| s.poll_elapsed(cx).is_ready()) {
                        // The deadline passed; a signal that came first still wins.
                        let outcome = if this.cond.give_up(&this.waiter) {
                            Outcome::Signaled
                        } else {
                            Outcome::TimedOut
                        };
                        *this.phase = Phase::Relocking(outcome);
                    } else {
                        return Poll::Pending;
                    }
                    *this.sleep = None; // frees the timer now
                }
                Phase::Relocking(outcome) => {
                    let guard = std::task::ready!(this.relock.as_mut().poll(cx));
                    *this.phase = Phase::Done;
                    return Poll::Ready((guard, outcome));
                }
                Phase::Done => panic!("a condition wait polled after completion"),
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Condition::wait`]: the guard again, with `Ok` or `Err(Canceled)`.
    #[must_use = "futures do nothing unless awaited"]
    pub struct ConditionWait<'a, T: ?Sized> {
        #[pin]
        inner: RawWait<'a, T>,
    }
}

impl<'a, T: ?Sized> Future for ConditionWait<'a, T> {
    type Output = (MutexGuard<'a, T>, Result<(), Canceled>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx).map(|(g, o)| match o {
            Outcome::Signaled => (g, Ok(())),
            Outcome::Canceled => (g, Err(Canceled)),
            Outcome::TimedOut => unreachable!("a wait without a deadline does not time out"),
        })
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Condition::wait_uncancelable`]: the guard again.
    #[must_use = "futures do nothing unless awaited"]
    pub struct ConditionWaitUncancelable<'a, T: ?Sized> {
        #[pin]
        inner: RawWait<'a, T>,
    }
}

impl<'a, T: ?Sized> Future for ConditionWaitUncancelable<'a, T> {
    type Output = MutexGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx).map(|(g, o)| {
            assert_eq!(o, Outcome::Signaled, "an uncancelable wait without a deadline");
            g
        })
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Condition::wait_timeout`]: the guard again, with `Ok`,
    /// `Err(WaitTimeoutError::TimedOut)` or `Err(WaitTimeoutError::Canceled)`.
    #[must_use = "futures do nothing unless awaited"]
    pub struct ConditionWaitTimeout<'a, T: ?Sized> {
        #[pin]
        inner: RawWait<'a, T>,
    }
}

impl<'a, T: ?Sized> Future for ConditionWaitTimeout<'a, T> {
    type Output = (MutexGuard<'a, T>, Result<(), WaitTimeoutError>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx).map(|(g, o)| match o {
            Outcome::Signaled => (g, Ok(())),
            Outcome::Canceled => (g, Err(WaitTimeoutError::Canceled)),
            Outcome::TimedOut => (g, Err(WaitTimeoutError::TimedOut)),
        })
    }
}

macro_rules! debug_wait {
    ($($name:ident),*) => {$(
        impl<T: ?Sized> fmt::Debug for $name<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("phase", &self.inner.phase)
                    .finish_non_exhaustive()
            }
        }
    )*};
}

debug_wait!(ConditionWait, ConditionWaitUncancelable, ConditionWaitTimeout);
