//! `Event`: Zig's `Io.Event`, a flag that tasks wait for until it is set.
//!
//! Ground rules:
//! 1. `state` holds two bits. `SET`: set by `set`, cleared by `reset`. `WAITERS`: the wait list
//!    is not empty; set and cleared only with the list's lock held.
//! 2. `is_set`, `set` and `reset` with no waiters are one atomic operation each.
//! 3. A task that must wait takes the list's lock, then in one CAS loop either sees `SET` (and
//!    returns) or sets `WAITERS`, and only then links its waiter. `set` sets `SET` and reads
//!    `WAITERS` in one RMW, so either the waiter sees `SET` or `set` sees the waiter.
//! 4. `set` pops every queued waiter in one critical section and wakes them after it, so a task
//!    that arrives after a concurrent `reset` is not woken by it.
//! 5. A woken waiter returns `Ok` without looking at `SET` again: it was set when it was woken,
//!    which is what `wait` promises (Zig's `reset` must not race with waits anyway).

use crate::loom::sync::atomic::{AtomicU8, Ordering};
use crate::loom::sync::Mutex as StdMutex;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::timeout::WaitTimeout;
use super::wait::{lock, WaitKind, WaitList, Waiter, WakeBatch};
use crate::error::Canceled;
use crate::io::Io;
use crate::task::current;
use crate::time::Timeout;

/// The event is set.
const SET: u8 = 1 << 0;
/// The wait list is not empty (equal to `!list.is_empty()` whenever the list lock is free).
const WAITERS: u8 = 1 << 1;

/// A flag that tasks can wait for: [`set`](Self::set) releases every waiter, and later waits
/// return at once until [`reset`](Self::reset) (Zig `Io.Event`).
///
/// Everything written before `set` is visible to a task after its `wait` returns (or after
/// [`is_set`](Self::is_set) returns `true`).
///
/// | Zig | kqio |
/// | --- | --- |
/// | `Event.unset` | [`Event::new`] |
/// | `isSet` | [`is_set`](Self::is_set) |
/// | `wait` (`Cancelable!void`) | [`wait`](Self::wait)`.await` → `Result<(), Canceled>` |
/// | `waitUncancelable` | [`wait_uncancelable`](Self::wait_uncancelable)`.await` |
/// | `waitTimeout` (`Cancelable \|\| Timeout`) | [`wait_timeout(io, t)`](Self::wait_timeout)`.await` → `Result<(), WaitTimeoutError>` |
/// | `set`, `reset` | [`set`](Self::set), [`reset`](Self::reset) |
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
///
/// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
/// let io = rt.io();
/// let ready = Arc::new(kqio::sync::Event::new());
/// rt.block_on(async {
///     let r = ready.clone();
///     let waiter = io.r#async(async move { r.wait().await });
///     ready.set();
///     waiter.await
/// })?;
/// assert!(ready.is_set());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Event {
    state: AtomicU8,
    waiters: StdMutex<WaitList<()>>,
}

impl Event {
    crate::loom::const_fn! {
        /// A new event, not set (Zig `Event.unset`).
        pub const fn new() -> Self {
            Event { state: AtomicU8::new(0), waiters: StdMutex::new(WaitList::new(WaitKind::Event)) }
        }
    }

    /// Whether the event is set.
    ///
    /// # Cancellation
    ///
    /// Not cancelable: does not block.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = kqio::sync::Event::new();
    /// assert!(!e.is_set());
    /// e.set();
    /// assert!(e.is_set());
    /// ```
    #[inline]
    pub fn is_set(&self) -> bool {
        // Acquire: pairs with the Release in `set`.
        self.state.load(Ordering::Acquire) & SET != 0
    }

    /// Sets the event and wakes every task waiting for it. Setting a set event does nothing.
    ///
    /// # Cancellation
    ///
    /// Not cancelable: does not block.
    pub fn set(&self) {
        // Release: pairs with the Acquire in `is_set` and in the waiters' check (rule 3).
        let prev = self.state.fetch_or(SET, Ordering::Release);
        if prev & WAITERS != 0 {
            self.wake_all();
        }
    }

    /// Unsets the event: later waits block until the next [`set`](Self::set).
    ///
    /// # Cancellation
    ///
    /// Not cancelable: does not block.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = kqio::sync::Event::new();
    /// e.set();
    /// e.reset();
    /// assert!(!e.is_set());
    /// ```
    pub fn reset(&self) {
        self.state.fetch_and(!SET, Ordering::Relaxed);
    }

    /// Waits until the event is set; returns at once if it is.
    ///
    /// # Errors
    ///
    /// [`Canceled`] if the task is canceled while it waits.
    ///
    /// # Cancellation
    ///
    /// A cancellation point when it has to wait; see
    /// [`JoinHandle::cancel`](crate::JoinHandle::cancel).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
    /// let e = kqio::sync::Event::new();
    /// e.set();
    /// rt.block_on(e.wait())?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait(&self) -> EventWait<'_> {
        EventWait { event: self, waiter: Waiter::new(()), queued: false, cancelable: true }
    }

    /// As [`wait`](Self::wait), giving up when `timeout` passes (Zig `waitTimeout`).
    ///
    /// # Errors
    ///
    /// [`TimedOut`](super::WaitTimeoutError::TimedOut) if the timeout passed first
    /// (a `set` in the same instant wins);
    /// [`Canceled`](super::WaitTimeoutError::Canceled) if the task was canceled.
    ///
    /// # Cancellation
    ///
    /// A cancellation point when it has to wait; see
    /// [`JoinHandle::cancel`](crate::JoinHandle::cancel).
    ///
    /// # Examples
    ///
    /// ```
    /// use kqio::sync::{Event, WaitTimeoutError};
    /// use kqio::time::{Duration, Timeout};
    ///
    /// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
    /// let io = rt.io();
    /// let e = Event::new();
    /// let t = || Timeout::after(Duration::from_millis(1));
    /// assert_eq!(rt.block_on(e.wait_timeout(&*io, t())), Err(WaitTimeoutError::TimedOut));
    /// e.set();
    /// assert_eq!(rt.block_on(e.wait_timeout(&*io, t())), Ok(()));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait_timeout<'a>(
        &'a self,
        io: &'a dyn Io,
        timeout: Timeout,
    ) -> WaitTimeout<'a, EventWait<'a>> {
        WaitTimeout::new(io, timeout, self.wait())
    }

    /// Waits until the event is set, ignoring cancellation (Zig `waitUncancelable`).
    ///
    /// # Cancellation
    ///
    /// Not cancelable: a cancellation request stays pending for the next cancellation point.
    pub fn wait_uncancelable(&self) -> EventWaitUncancelable<'_> {
        EventWaitUncancelable {
            inner: EventWait {
                event: self,
                waiter: Waiter::new(()),
                queued: false,
                cancelable: false,
            },
        }
    }

    #[cold]
    fn wake_all(&self) {
        let mut batch = WakeBatch::new();
        let mut list = lock(&self.waiters);
        while let Some(w) = list.pop_front() {
            batch.push(Some(w));
        }
        self.state.fetch_and(!WAITERS, Ordering::Relaxed);
        drop(list);
        batch.wake_all();
    }

    /// The slow path of a wait: returns `true` if the event is set, else queues `waiter`.
    #[cold]
    fn check_or_queue(&self, waiter: Pin<&Waiter<()>>, cx: &Context<'_>) -> bool {
        let mut list = lock(&self.waiters);
        let mut cur = self.state.load(Ordering::Acquire);
        while cur & WAITERS == 0 {
            if cur & SET != 0 {
                return true;
            }
            // Acquire on failure: the value read may be `set`'s (rule 3).
            match self.state.compare_exchange_weak(
                cur,
                cur | WAITERS,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
        if cur & SET != 0 {
            return true;
        }
        // SAFETY: `waiter` is pinned inside its future, used only with this list, and the
        // future's drop removes it under this lock (wait.rs ground rules 1 and 2).
        unsafe { list.push_back(waiter, cx.waker()) };
        false
    }

    fn abandon(&self, waiter: &Waiter<()>) {
        if waiter.take_notified() {
            return; // `set` wakes everyone: there is nothing to pass on
        }
        let mut list = lock(&self.waiters);
        // SAFETY: the waiter belongs to this list.
        if unsafe { list.remove(waiter) } && list.is_empty() {
            self.state.fetch_and(!WAITERS, Ordering::Relaxed);
        }
        drop(list);
        waiter.take_notified();
    }
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .field("waiters", &lock(&self.waiters).count())
            .finish()
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Event::wait`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct EventWait<'a> {
        event: &'a Event,
        #[pin]
        waiter: Waiter<()>,
        queued: bool,
        cancelable: bool,
    }

    impl<'a> PinnedDrop for EventWait<'a> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if *this.queued {
                this.event.abandon(&this.waiter);
            }
        }
    }
}

impl Future for EventWait<'_> {
    type Output = Result<(), Canceled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let event = *this.event;
        let waiter = this.waiter.as_ref();
        if *this.queued {
            if *this.cancelable && current::check_cancel().is_err() {
                *this.queued = false;
                event.abandon(&waiter);
                return Poll::Ready(Err(Canceled));
            }
            if !waiter.take_notified() {
                let mut list = lock(&event.waiters);
                // SAFETY: the waiter belongs to this event's list.
                if unsafe { list.update_waker(&waiter, cx.waker()) } {
                    return Poll::Pending;
                }
                drop(list);
                waiter.take_notified();
            }
            *this.queued = false;
            return Poll::Ready(Ok(()));
        }
        if event.is_set() {
            return Poll::Ready(Ok(()));
        }
        if *this.cancelable {
            current::check_cancel()?;
        }
        if event.check_or_queue(waiter, cx) {
            return Poll::Ready(Ok(()));
        }
        *this.queued = true;
        Poll::Pending
    }
}

impl fmt::Debug for EventWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventWait").field("queued", &self.queued).finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Event::wait_uncancelable`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct EventWaitUncancelable<'a> {
        #[pin]
        inner: EventWait<'a>,
    }
}

impl Future for EventWaitUncancelable<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.project().inner.poll(cx).map(|r| r.expect("an uncancelable wait is never canceled"))
    }
}

impl fmt::Debug for EventWaitUncancelable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}
