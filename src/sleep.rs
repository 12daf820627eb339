//! Sleeping, and bounding a future by time: the typed side of the vtable's time methods.
//!
//! `io.sleep(timeout)` turns the [`Timeout`] into a deadline on the awake clock *when it is
//! called* (Zig: a duration counts from the call), then polls the backend's timer through
//! [`Io::time_poll_sleep`]. The future owns a [`TimerSlot`] that the backend fills; dropping the
//! future frees the timer at once.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::Canceled;
use crate::io::Io;
use crate::task::current;
use crate::time::{Clock, Timeout, Timestamp};

/// The backend's record of one pending timer, owned by the future that waits for it.
///
/// Opaque to users: a backend stores what it needs (the kqueue backend, a key into its timing
/// wheel); `TimerSlot::default()` means "no timer yet".
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TimerSlot(pub u64);

/// Converts a timeout into a deadline on the awake clock, or `None` for "no deadline".
///
/// A deadline on another clock is mapped by its distance from that clock's present, so a real
/// (wall-clock) deadline is not re-read if the wall clock jumps afterwards. CPU-time clocks are
/// mapped the same way: the sleep lasts that long in awake time.
///
/// Also returns the awake-clock time it read to make the deadline ([`Timestamp::MIN`] if it read
/// none): the `passed` argument of [`Io::time_poll_sleep`].
fn awake_deadline(io: &dyn Io, timeout: Timeout) -> Option<(Timestamp, Timestamp)> {
    match timeout {
        Timeout::None => None,
        Timeout::Duration { duration, .. } => {
            let now = io.time_now(Clock::Awake);
            Some((now.saturating_add(duration), now))
        }
        Timeout::Deadline { deadline, clock: Clock::Awake } => Some((deadline, Timestamp::MIN)),
        Timeout::Deadline { deadline, clock } => {
            let remaining = deadline.saturating_duration_since(io.time_now(clock));
            let now = io.time_now(Clock::Awake);
            Some((now.saturating_add(remaining), now))
        }
    }
}

/// The future of [`sleep`](crate::Io#method.sleep): completes once its deadline has passed.
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep<'a> {
    io: &'a dyn Io,
    deadline: Option<Timestamp>,
    /// The awake-clock time read to make `deadline` (see `Io::time_poll_sleep`).
    made_at: Timestamp,
    slot: TimerSlot,
    cancelable: bool,
}

impl fmt::Debug for Sleep<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep").field("deadline", &self.deadline).finish_non_exhaustive()
    }
}

impl<'a> Sleep<'a> {
    pub(crate) fn new(io: &'a dyn Io, timeout: Timeout, cancelable: bool) -> Self {
        let (deadline, made_at) = match awake_deadline(io, timeout) {
            Some((deadline, made_at)) => (Some(deadline), made_at),
            None => (None, Timestamp::MIN),
        };
        Sleep { io, deadline, made_at, slot: TimerSlot::default(), cancelable }
    }

    /// Polls without the cancellation point: `Ready` once the deadline has passed.
    pub(crate) fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.deadline {
            // No deadline: only cancellation ends the sleep, and a cancellation request wakes the
            // task through its header, so nothing needs registering here.
            None => Poll::Pending,
            Some(deadline) => crate::task::activity::pending_on(
                self.io.time_poll_sleep(cx, &mut self.slot, deadline, self.made_at),
                crate::task::WaitingOn::Sleep { deadline },
            ),
        }
    }
}

impl Future for Sleep<'_> {
    type Output = Result<(), Canceled>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.cancelable {
            if let Err(c) = current::check_cancel() {
                let this = &mut *self;
                this.io.time_cancel_sleep(&mut this.slot);
                return Poll::Ready(Err(c));
            }
        }
        self.poll_elapsed(cx).map(Ok)
    }
}

impl Drop for Sleep<'_> {
    fn drop(&mut self) {
        if self.slot != TimerSlot::default() {
            self.io.time_cancel_sleep(&mut self.slot);
        }
    }
}

/// The error of [`timeout`]: the future did not finish in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(e: Elapsed) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, e)
    }
}

pin_project_lite::pin_project! {
    /// The future of [`timeout`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct WithTimeout<'a, F> {
        #[pin]
        future: F,
        sleep: Sleep<'a>,
    }
}

impl<F: Future> Future for WithTimeout<'_, F> {
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

/// Bounds `future` by `t`: its output, or [`Elapsed`] if `t` passes first (the future is then
/// dropped with the returned value).
///
/// # Cancellation
///
/// Not itself a cancellation point: the deadline is not canceled, the future's own cancellation
/// points see requests as usual.
///
/// # Examples
///
/// ```
/// use kqio::time::{timeout, Duration, Timeout};
///
/// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
/// let io = rt.io();
/// let r = rt.block_on(async {
///     timeout(&*io, Timeout::after(Duration::from_millis(5)), futures::future::pending::<()>()).await
/// });
/// assert_eq!(r, Err(kqio::time::Elapsed));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn timeout<F: Future>(io: &dyn Io, t: Timeout, future: F) -> WithTimeout<'_, F> {
    WithTimeout { future, sleep: Sleep::new(io, t, false) }
}
