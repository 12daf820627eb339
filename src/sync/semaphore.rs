//! `Semaphore`: Zig's `Io.Semaphore`, a count of permits that tasks wait for.
//!
//! Ground rules:
//! 1. `state` is `permits << 1 | WAITERS`. `WAITERS`: the wait list is not empty; set and
//!    cleared only with the list's lock held. While it is set the permit count is zero: `post`
//!    hands a permit straight to the first waiter instead of counting it.
//! 2. `try_wait`, and `post` with no waiters, are one CAS each and never touch the list.
//! 3. A task that must wait takes the list's lock, then in one CAS loop either takes a permit or
//!    sets `WAITERS`, and only then links its waiter. `post` reads `WAITERS` in the CAS that would
//!    add the permit, so either the waiter takes it or `post` sees the waiter.
//! 4. A waiter that `post` popped owns one permit. If it is canceled or dropped before it
//!    returns, it posts that permit again (a canceled wait takes no permit).

use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::loom::sync::Mutex as StdMutex;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::timeout::WaitTimeout;
use super::wait::{lock, WaitKind, WaitList, Waiter};
use crate::error::Canceled;
use crate::io::Io;
use crate::task::current;
use crate::time::Timeout;

/// The wait list is not empty (equal to `!list.is_empty()` whenever the list lock is free).
const WAITERS: usize = 1;
/// One permit in `state`.
const PERMIT: usize = 2;

/// A counting semaphore for async tasks (Zig `Io.Semaphore`).
///
/// [`wait`](Self::wait) takes a permit, waiting while there is none; [`post`](Self::post) adds
/// one, handing it to the longest waiting task if there is one (FIFO).
///
/// | Zig | kqio |
/// | --- | --- |
/// | `.{ .permits = n }` | [`Semaphore::new(n)`](Semaphore::new) |
/// | `wait` (`Cancelable!void`) | [`wait`](Self::wait)`.await` → `Result<(), Canceled>` |
/// | `waitUncancelable` | [`wait_uncancelable`](Self::wait_uncancelable)`.await` |
/// | `waitTimeout` | [`wait_timeout(io, t)`](Self::wait_timeout)`.await` → `Result<(), WaitTimeoutError>` |
/// | `post` | [`post`](Self::post) |
/// | (none) | [`try_wait`](Self::try_wait), [`permits`](Self::permits) |
///
/// # Examples
///
/// ```
/// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
/// let sem = kqio::sync::Semaphore::new(1);
/// rt.block_on(async {
///     sem.wait().await?;
///     assert!(!sem.try_wait());
///     sem.post();
///     Ok::<_, kqio::Canceled>(())
/// })?;
/// assert_eq!(sem.permits(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Semaphore {
    state: AtomicUsize,
    waiters: StdMutex<WaitList<()>>,
}

impl Semaphore {
    /// The largest number of permits a semaphore can hold.
    pub const MAX_PERMITS: usize = usize::MAX >> 1;

    crate::loom::const_fn! {
        /// A semaphore holding `permits` permits.
        ///
        /// # Panics
        ///
        /// If `permits` exceeds [`MAX_PERMITS`](Self::MAX_PERMITS).
        pub const fn new(permits: usize) -> Self {
            assert!(permits <= Self::MAX_PERMITS, "too many permits");
            Semaphore {
                state: AtomicUsize::new(permits * PERMIT),
                waiters: StdMutex::new(WaitList::new(WaitKind::Semaphore)),
            }
        }
    }

    /// The number of permits available now.
    pub fn permits(&self) -> usize {
        self.state.load(Ordering::Relaxed) / PERMIT
    }

    /// Takes a permit if one is available.
    ///
    /// # Cancellation
    ///
    /// Not cancelable: does not block.
    #[inline]
    pub fn try_wait(&self) -> bool {
        let mut cur = self.state.load(Ordering::Relaxed);
        while cur >= PERMIT {
            // Acquire: pairs with the Release in `post`: what the poster wrote is visible.
            match self.state.compare_exchange_weak(
                cur,
                cur - PERMIT,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
        false
    }

    /// Waits for a permit and takes it (Zig `wait`).
    ///
    /// # Errors
    ///
    /// [`Canceled`] if the task is canceled while it waits; no permit is taken then.
    ///
    /// # Cancellation
    ///
    /// A cancellation point when it has to wait; see
    /// [`JoinHandle::cancel`](crate::JoinHandle::cancel). A permit handed to a waiter that is
    /// canceled in the same instant is posted again.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
    /// let io = rt.io();
    /// let sem = Arc::new(kqio::sync::Semaphore::new(0));
    /// rt.block_on(async {
    ///     let s = sem.clone();
    ///     let waiter = io.r#async(async move { s.wait().await });
    ///     sem.post(); // wakes the waiter, or is counted until it waits
    ///     waiter.await
    /// })?;
    /// assert_eq!(sem.permits(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait(&self) -> Acquire<'_> {
        Acquire { sem: self, waiter: Waiter::new(()), queued: false, cancelable: true }
    }

    /// As [`wait`](Self::wait), giving up when `timeout` passes (Zig `waitTimeout`); a wait
    /// that gives up takes no permit.
    ///
    /// # Errors
    ///
    /// [`TimedOut`](super::WaitTimeoutError::TimedOut) if the timeout passed first
    /// (a permit handed over in the same instant wins);
    /// [`Canceled`](super::WaitTimeoutError::Canceled) if the task was canceled.
    ///
    /// # Cancellation
    ///
    /// A cancellation point when it has to wait; see
    /// [`JoinHandle::cancel`](crate::JoinHandle::cancel).
    pub fn wait_timeout<'a>(
        &'a self,
        io: &'a dyn Io,
        timeout: Timeout,
    ) -> WaitTimeout<'a, Acquire<'a>> {
        WaitTimeout::new(io, timeout, self.wait())
    }

    /// Waits for a permit and takes it, ignoring cancellation (Zig `waitUncancelable`).
    ///
    /// # Cancellation
    ///
    /// Not cancelable: a cancellation request stays pending for the next cancellation point.
    pub fn wait_uncancelable(&self) -> AcquireUncancelable<'_> {
        AcquireUncancelable {
            inner: Acquire { sem: self, waiter: Waiter::new(()), queued: false, cancelable: false },
        }
    }

    /// Adds a permit, or hands it to the longest waiting task (Zig `post`).
    ///
    /// # Cancellation
    ///
    /// Not cancelable: does not block.
    ///
    /// # Panics
    ///
    /// If the count would exceed [`MAX_PERMITS`](Self::MAX_PERMITS).
    pub fn post(&self) {
        let mut cur = self.state.load(Ordering::Relaxed);
        while cur & WAITERS == 0 {
            assert!(cur / PERMIT < Self::MAX_PERMITS, "too many permits");
            // Release: pairs with the Acquire in `try_wait`.
            match self.state.compare_exchange_weak(
                cur,
                cur + PERMIT,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
        self.post_slow();
    }

    #[cold]
    fn post_slow(&self) {
        let mut list = lock(&self.waiters);
        // The list lock orders this hand-off with the waiter's read of it (rule 1).
        let waker = list.pop_front();
        if list.is_empty() {
            self.state.fetch_and(!WAITERS, Ordering::Relaxed);
        }
        if waker.is_none() {
            // Release: as in `post`.
            self.state.fetch_add(PERMIT, Ordering::Release);
        }
        drop(list);
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// The slow path of a wait: takes a permit (`true`) or queues `waiter` (rule 3).
    #[cold]
    fn take_or_queue(&self, waiter: Pin<&Waiter<()>>, cx: &Context<'_>) -> bool {
        let mut list = lock(&self.waiters);
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            if cur >= PERMIT {
                // Acquire: as in `try_wait`.
                match self.state.compare_exchange_weak(
                    cur,
                    cur - PERMIT,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return true,
                    Err(actual) => cur = actual,
                }
            } else if cur & WAITERS == 0 {
                // Relaxed: `post` sees the bit in its own CAS of this word, then takes the list
                // lock, which orders our link before its pop.
                match self.state.compare_exchange_weak(
                    cur,
                    cur | WAITERS,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break,
                    Err(actual) => cur = actual,
                }
            } else {
                break;
            }
        }
        // SAFETY: `waiter` is pinned inside its future, used only with this list, and the
        // future's drop removes it under this lock (wait.rs ground rules 1 and 2).
        unsafe { list.push_back(waiter, cx.waker()) };
        false
    }

    /// A queued waiter gives up: it leaves the list, or posts the permit it was handed (rule 4).
    fn abandon(&self, waiter: &Waiter<()>) {
        if !waiter.take_notified() {
            let mut list = lock(&self.waiters);
            // SAFETY: the waiter belongs to this list.
            if unsafe { list.remove(waiter) } {
                if list.is_empty() {
                    self.state.fetch_and(!WAITERS, Ordering::Relaxed);
                }
                return;
            }
            drop(list);
            waiter.take_notified();
        }
        self.post();
    }
}

impl Default for Semaphore {
    /// A semaphore with no permits.
    fn default() -> Self {
        Semaphore::new(0)
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("permits", &self.permits())
            .field("waiters", &lock(&self.waiters).count())
            .finish()
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Semaphore::wait`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct Acquire<'a> {
        sem: &'a Semaphore,
        #[pin]
        waiter: Waiter<()>,
        queued: bool,
        cancelable: bool,
    }

    impl<'a> PinnedDrop for Acquire<'a> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if *this.queued {
                this.sem.abandon(&this.waiter);
            }
        }
    }
}

impl Future for Acquire<'_> {
    type Output = Result<(), Canceled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let sem = *this.sem;
        let waiter = this.waiter.as_ref();
        if *this.queued {
            if *this.cancelable && current::check_cancel().is_err() {
                *this.queued = false;
                sem.abandon(&waiter);
                return Poll::Ready(Err(Canceled));
            }
            if !waiter.take_notified() {
                let mut list = lock(&sem.waiters);
                // SAFETY: the waiter belongs to this semaphore's list.
                if unsafe { list.update_waker(&waiter, cx.waker()) } {
                    return Poll::Pending;
                }
                drop(list);
                waiter.take_notified();
            }
            // Handed a permit by `post` (rule 1).
            *this.queued = false;
            return Poll::Ready(Ok(()));
        }
        if sem.try_wait() {
            return Poll::Ready(Ok(()));
        }
        if *this.cancelable {
            current::check_cancel()?;
        }
        if sem.take_or_queue(waiter, cx) {
            return Poll::Ready(Ok(()));
        }
        *this.queued = true;
        Poll::Pending
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire").field("queued", &self.queued).finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Semaphore::wait_uncancelable`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct AcquireUncancelable<'a> {
        #[pin]
        inner: Acquire<'a>,
    }
}

impl Future for AcquireUncancelable<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.project().inner.poll(cx).map(|r| r.expect("an uncancelable wait is never canceled"))
    }
}

impl fmt::Debug for AcquireUncancelable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}
