//! Sleeping, and bounding a future by time: the typed side of the vtable's time methods.
//!
//! `io.sleep(timeout)` turns the [`Timeout`] into a deadline on the awake clock *when it is
//! called* (Zig: a duration counts from the call), then polls the backend's timer through
//! [`Io::time_poll_sleep`]. The future owns a [`TimerSlot`] that the backend fills; dropping the
//! future frees the timer at once.
//!
//! A deadline on the real clock is kept as given too ([`SleepDeadline`], shared with
//! `OwnedSleep`): every poll re-reads the real clock, completes once it has reached the deadline,
//! and otherwise moves the awake-clock timer to the remaining time (freeing the old slot first).
//! So a step back of the real clock, or a real clock that runs slow, delays the completion until
//! the real clock gets there; a step forward is seen at the next poll: the simulator wakes a
//! host's sleeps when it steps its real clock, while on `Kqueue` (no portable way to learn of a
//! clock step; Linux's `TFD_TIMER_CANCEL_ON_SET` is epoll-only) it is seen when the awake timer
//! fires or the task is polled for another reason.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::Canceled;
use crate::io::Io;
use crate::task::current;
use crate::time::{Clock, Duration, Timeout, Timestamp};

/// The backend's record of one pending timer, owned by the future that waits for it.
///
/// Opaque to users: a backend stores what it needs (the kqueue backend, a key into its timing
/// wheel); `TimerSlot::default()` means "no timer yet".
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TimerSlot(pub u64);

/// Converts a timeout into a deadline on the awake clock, or `None` for "no deadline".
///
/// A deadline on another clock is mapped by its distance from that clock's present (a real-clock
/// deadline is then re-checked by [`SleepDeadline::poll`]). CPU-time and boot-clock deadlines
/// are mapped the same way and not re-checked: the sleep lasts that long in awake time.
///
/// Also returns the awake-clock time it read to make the deadline ([`Timestamp::MIN`] if it read
/// none): the `passed` argument of [`Io::time_poll_sleep`].
pub(crate) fn awake_deadline(io: &dyn Io, timeout: Timeout) -> Option<(Timestamp, Timestamp)> {
    match timeout {
        Timeout::None => None,
        Timeout::Duration { duration, .. } => {
            let now = io.time_now(Clock::Awake);
            Some((now.saturating_add(duration), now))
        }
        Timeout::Deadline { deadline, clock: Clock::Awake } => Some((deadline, Timestamp::MIN)),
        Timeout::Deadline { deadline, clock } => {
            let remaining = io.time_until(clock, deadline);
            let now = io.time_now(Clock::Awake);
            Some((now.saturating_add(remaining), now))
        }
    }
}

/// A sleep's deadline, shared by [`Sleep`] and `OwnedSleep`: the awake-clock deadline the
/// backend's timer is armed with, and for a [`Clock::Real`] deadline the deadline as given, which
/// every poll checks against the real clock again (module docs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SleepDeadline {
    /// On the awake clock; `None`: no deadline (only cancellation ends the sleep).
    pub(crate) awake: Option<Timestamp>,
    /// The awake-clock time read to make `awake` (see `Io::time_poll_sleep`).
    made_at: Timestamp,
    /// The deadline on the real clock, for a `Timeout::Deadline` on it.
    real: Option<Timestamp>,
}

/// How much earlier than its timer a real-clock deadline must have come (a forward step) for a
/// poll to re-arm the timer; smaller differences fire with the timer, that much late at most.
const REARM_SLACK: Duration = Duration::from_millis(1);

impl SleepDeadline {
    /// The deadline of `timeout`, read now (a duration counts from this call).
    pub(crate) fn new(io: &dyn Io, timeout: Timeout) -> SleepDeadline {
        let real = match timeout {
            Timeout::Deadline { deadline, clock: Clock::Real } => Some(deadline),
            _ => None,
        };
        match awake_deadline(io, timeout) {
            Some((awake, made_at)) => SleepDeadline { awake: Some(awake), made_at, real },
            None => SleepDeadline { awake: None, made_at: Timestamp::MIN, real: None },
        }
    }

    /// `Ready` once the deadline has passed, else the backend's timer in `slot` is armed to wake
    /// `cx`. A real-clock deadline completes only once the real clock has reached it; until
    /// then the timer is moved to the remaining time whenever it fired early (a step back, a
    /// slow clock) or is due later than the remaining time (a step forward).
    pub(crate) fn poll(
        &mut self,
        io: &dyn Io,
        cx: &mut Context<'_>,
        slot: &mut TimerSlot,
    ) -> Poll<()> {
        let Some(mut awake) = self.awake else {
            // No deadline: only cancellation ends the sleep, and a cancellation request wakes
            // the task through its header, so nothing needs registering here.
            return Poll::Pending;
        };
        let Some(target) = self.real else {
            return io.time_poll_sleep(cx, slot, awake, self.made_at);
        };
        loop {
            let real_now = io.time_now(Clock::Real);
            if real_now >= target {
                if *slot != TimerSlot::default() {
                    io.time_cancel_sleep(slot);
                }
                return Poll::Ready(());
            }
            let now = io.time_now(Clock::Awake);
            let due = now.saturating_add(io.time_until(Clock::Real, target));
            // Moved earlier only past a slack, so that two clocks ticking apart by a little do
            // not re-arm the timer on every poll.
            if due.saturating_add(REARM_SLACK) < awake || awake <= now {
                // A backend keeps the deadline it registered a slot with: free it first.
                if *slot != TimerSlot::default() {
                    io.time_cancel_sleep(slot);
                }
                awake = due;
                self.awake = Some(due);
                self.made_at = now;
            }
            // `due > now`, so this registers; `Ready` only if the awake clock moved past it
            // meanwhile (a real backend), and the real clock is then read again.
            if io.time_poll_sleep(cx, slot, awake, self.made_at).is_pending() {
                return Poll::Pending;
            }
        }
    }
}

/// The future of [`sleep`](crate::Io#method.sleep): completes once its deadline has passed.
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep<'a> {
    io: &'a dyn Io,
    deadline: SleepDeadline,
    slot: TimerSlot,
    cancelable: bool,
}

impl fmt::Debug for Sleep<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep").field("deadline", &self.deadline.awake).finish_non_exhaustive()
    }
}

impl<'a> Sleep<'a> {
    pub(crate) fn new(io: &'a dyn Io, timeout: Timeout, cancelable: bool) -> Self {
        let deadline = SleepDeadline::new(io, timeout);
        Sleep { io, deadline, slot: TimerSlot::default(), cancelable }
    }

    /// Polls without the cancellation point: `Ready` once the deadline has passed.
    pub(crate) fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let r = self.deadline.poll(self.io, cx, &mut self.slot);
        let deadline = self.deadline.awake.unwrap_or(Timestamp::MAX);
        crate::task::activity::pending_on(r, crate::task::WaitingOn::Sleep { deadline })
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
