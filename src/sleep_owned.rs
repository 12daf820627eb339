//! Owned, `'static` forms of [`Sleep`](crate::time::Sleep) and [`timeout`](crate::time::timeout):
//! futures that hold an [`IoRef`] instead of borrowing a `dyn Io`, so that they can be boxed,
//! stored in structs and collections, and handed to code that wants `'static` futures (hyper's
//! timer, [`Interval`](crate::time::Interval)).
//!
//! Ground rules:
//! 1. Same clock rules as `io.sleep`: a [`Timeout`] becomes a deadline on the awake clock when
//!    the future is made (or reset), and the backend's timer is polled through
//!    [`Io::time_poll_sleep`](crate::Io::time_poll_sleep), both through the same
//!    `sleep::SleepDeadline` (which also re-checks a real-clock deadline on every poll).
//! 2. The backend records its timer in the future's [`TimerSlot`]; a backend ignores a new
//!    deadline for a slot it already holds, so [`OwnedSleep::reset`] frees the slot first.
//!    Dropping the future frees the timer at once.
//! 3. Only `Io` methods are called (clock, timer, cancellation), never the OS: the same code runs
//!    on a simulated backend.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::Canceled;
use crate::sleep::{Elapsed, SleepDeadline, TimerSlot};
use crate::time::{Timeout, Timestamp};
use crate::IoRef;

/// Sleeps until `timeout` has passed, as [`io.sleep`](crate::Io#method.sleep) does, but the
/// future owns its [`IoRef`]: it is `'static`, `Send` and `Sync`, so it can be boxed and stored.
/// A duration counts from this call.
///
/// # Cancellation
///
/// A cancellation point, as `io.sleep` (see [`JoinHandle::cancel`](crate::JoinHandle::cancel));
/// [`OwnedSleep::uncancelable`] makes one that is not.
///
/// # Examples
///
/// ```
/// use std::future::Future;
/// use std::pin::Pin;
/// use kqio::time::{sleep_owned, Duration, Timeout};
///
/// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
/// let io = rt.io();
/// // 'static futures: stored in a collection, no borrow of `io` left behind.
/// let mut sleeps: Vec<Pin<Box<dyn Future<Output = Result<(), kqio::Canceled>> + Send>>> = Vec::new();
/// for ms in [3, 1, 2] {
///     sleeps.push(Box::pin(sleep_owned(io.clone(), Timeout::after(Duration::from_millis(ms)))));
/// }
/// drop(io);
/// rt.block_on(async {
///     for s in sleeps {
///         s.await.expect("not canceled");
///     }
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn sleep_owned(io: IoRef, timeout: Timeout) -> OwnedSleep {
    OwnedSleep::new(io, timeout, true)
}

/// The future of [`sleep_owned`]: completes once its deadline has passed.
///
/// `'static`, `Send`, `Sync` and `Unpin`. It can be re-armed in place with
/// [`reset`](Self::reset) (no new timer record is allocated by this type; the backend's timer is
/// freed and taken again).
#[must_use = "futures do nothing unless awaited"]
pub struct OwnedSleep {
    io: IoRef,
    deadline: SleepDeadline,
    slot: TimerSlot,
    cancelable: bool,
}

impl fmt::Debug for OwnedSleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSleep")
            .field("deadline", &self.deadline.awake)
            .field("cancelable", &self.cancelable)
            .finish_non_exhaustive()
    }
}

impl OwnedSleep {
    pub(crate) fn new(io: IoRef, timeout: Timeout, cancelable: bool) -> OwnedSleep {
        let deadline = SleepDeadline::new(&*io, timeout);
        OwnedSleep { io, deadline, slot: TimerSlot::default(), cancelable }
    }

    /// The same sleep without the cancellation point: it ends only when its deadline passes
    /// (its output is then always `Ok`). For timers that other code relies on firing, such as
    /// a protocol's timeouts.
    pub fn uncancelable(mut self) -> OwnedSleep {
        self.cancelable = false;
        self
    }

    /// The deadline on the [awake](crate::time::Clock::Awake) clock; `None` for a sleep that
    /// only cancellation ends ([`Timeout::None`]). For a deadline on the
    /// [real](crate::time::Clock::Real) clock it moves when a poll finds that the real clock
    /// was stepped.
    pub fn deadline(&self) -> Option<Timestamp> {
        self.deadline.awake
    }

    /// Re-arms the sleep for `timeout` (a duration counts from this call), whether or not it
    /// had completed: it completes again once the new deadline has passed (tokio's
    /// `Sleep::reset`). Not blocking.
    ///
    /// # Examples
    ///
    /// ```
    /// use kqio::time::{sleep_owned, Clock, Duration, Timeout};
    ///
    /// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
    /// let io = rt.io();
    /// let mut s = sleep_owned(io.clone(), Timeout::None);
    /// let now = io.now(Clock::Awake);
    /// s.reset(Timeout::after(Duration::from_millis(2)));
    /// assert!(s.deadline().unwrap() >= now + Duration::from_millis(2));
    /// rt.block_on(&mut s)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reset(&mut self, timeout: Timeout) {
        // A backend keeps the deadline it registered a slot with: free it first (ground rule 2).
        self.io.time_cancel_sleep(&mut self.slot);
        self.deadline = SleepDeadline::new(&*self.io, timeout);
    }

    /// The runtime this sleep runs on.
    pub fn io(&self) -> &IoRef {
        &self.io
    }

    /// Polls without the cancellation point: `Ready` once the deadline has passed.
    pub(crate) fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.deadline.poll(&*self.io, cx, &mut self.slot)
    }
}

impl Future for OwnedSleep {
    type Output = Result<(), Canceled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.cancelable {
            if let Err(c) = this.io.check_cancel() {
                this.io.time_cancel_sleep(&mut this.slot);
                return Poll::Ready(Err(c));
            }
        }
        this.poll_elapsed(cx).map(Ok)
    }
}

impl Drop for OwnedSleep {
    fn drop(&mut self) {
        if self.slot != TimerSlot::default() {
            self.io.time_cancel_sleep(&mut self.slot);
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`timeout_owned`]: `'static` when `F` is, and `Send` when `F` is.
    #[must_use = "futures do nothing unless awaited"]
    #[derive(Debug)]
    pub struct OwnedTimeout<F> {
        #[pin]
        future: F,
        sleep: OwnedSleep,
    }
}

impl<F> OwnedTimeout<F> {
    /// The deadline on the [awake](crate::time::Clock::Awake) clock (`None`: no limit).
    pub fn deadline(&self) -> Option<Timestamp> {
        self.sleep.deadline()
    }

    /// The future inside, dropping the deadline.
    pub fn into_inner(self) -> F {
        self.future
    }
}

impl<F: Future> Future for OwnedTimeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // The future first: if it and the deadline are both ready, its result is not lost.
        if let Poll::Ready(v) = this.future.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        this.sleep.poll_elapsed(cx).map(|()| Err(Elapsed))
    }
}

/// Bounds `future` by `t`, as [`timeout`](crate::time::timeout) does, holding an [`IoRef`]: the
/// result is `'static` when `future` is, so it can be boxed and stored. A duration counts from
/// this call.
///
/// # Cancellation
///
/// Not itself a cancellation point: the deadline is not canceled, the future's own cancellation
/// points see requests as usual.
///
/// # Examples
///
/// ```
/// use kqio::time::{timeout_owned, Duration, Elapsed, Timeout};
///
/// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
/// let io = rt.io();
/// let bounded = timeout_owned(io.clone(), Timeout::after(Duration::from_millis(5)),
///     futures::future::pending::<()>());
/// let task = io.r#async(bounded); // a `'static` future, spawned as it is
/// assert_eq!(rt.block_on(task), Err(Elapsed));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn timeout_owned<F: Future>(io: IoRef, t: Timeout, future: F) -> OwnedTimeout<F> {
    OwnedTimeout { future, sleep: OwnedSleep::new(io, t, false) }
}
