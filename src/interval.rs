//! `Interval`: ticks at a fixed period on any [`IoRef`], as a `futures::Stream` and through
//! `tick().await`, with tokio's missed-tick policies.
//!
//! Ground rules:
//! 1. Ticks are scheduled on the awake clock: tick `k` is due at `start + k * period` until a
//!    tick is missed; what happens then is the [`MissedTickBehavior`].
//! 2. A tick is *missed* when it is observed more than [`MISSED_TICK_TOLERANCE`] after its due
//!    time. Within the tolerance the schedule stays as it was, so that ordinary timer lateness
//!    (a millisecond or so) never makes `Delay` drift or `Skip` drop ticks.
//! 3. What a tick returns is the time it was *due*, not when it was observed (as tokio's
//!    `Interval::tick` returns its `Instant`), so a caller can tell a late tick from an on-time one
//!    by comparing with `io.now(Clock::Awake)`.
//! 4. One [`OwnedSleep`], uncancelable, re-armed after each tick: an interval holds at most one
//!    backend timer, and no allocation happens per tick.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;

use crate::error::Canceled;
use crate::sleep_owned::OwnedSleep;
use crate::time::{Clock, Duration, Timeout, Timestamp};
use crate::IoRef;

/// How late a tick may be observed and still count as on time (ground rule 2 of
/// `src/interval.rs`). Tokio uses the same 5 ms: several times the kqueue backend's timer
/// lateness (250 µs resolution plus a reactor turn), far below any period worth an interval.
pub const MISSED_TICK_TOLERANCE: Duration = Duration::from_millis(5);

/// What an [`Interval`] does after missing ticks (its task ran too late to take them on time),
/// named as tokio's `MissedTickBehavior`.
///
/// With a period of 10 ms, ticks due at 0, 10, 20, 30, ... ms, and the task busy from 5 to
/// 37 ms (it observes the tick due at 10 ms at 37 ms):
///
/// | policy | ticks return (due times) | observed at |
/// | --- | --- | --- |
/// | `Burst` | 10, 20, 30, then 40, 50, ... | 37, 37, 37, then 40, 50, ... |
/// | `Delay` | 10, then 47, 57, ... | 37, then 47, 57, ... |
/// | `Skip` | 10, then 40, 50, ... | 37, then 40, 50, ... |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MissedTickBehavior {
    /// Take the missed ticks at once, one after another, until caught up; the schedule keeps
    /// its original times. The default (as in tokio).
    #[default]
    Burst,
    /// Take the missed tick at once, then count the period from then: the schedule moves later
    /// by the delay, and no tick comes closer than a period after the previous one.
    Delay,
    /// Take the missed tick at once, then go on at the next time of the original schedule that
    /// is still in the future, dropping the ticks missed in between.
    Skip,
}

impl MissedTickBehavior {
    /// When the tick after a missed one (due `due`, observed at `now`) is due.
    fn next_due(self, due: Timestamp, now: Timestamp, period: Duration) -> Timestamp {
        match self {
            MissedTickBehavior::Burst => due + period,
            MissedTickBehavior::Delay => now + period,
            MissedTickBehavior::Skip => {
                let period_ns = period.as_nanos();
                let behind = (now - due).as_nanos(); // > 0: the tick was missed
                now + Duration::from_nanos(period_ns - behind % period_ns)
            }
        }
    }
}

/// Ticks at a fixed period (tokio's `Interval`): made by [`interval`] or [`interval_at`] on any
/// [`IoRef`], read with [`tick`](Self::tick) or as a [`Stream`] of the ticks' due times.
///
/// The first tick is due at the start (at once, for [`interval`]). Ticks are never early, and
/// each returns the time it was due on the [awake](Clock::Awake) clock. A task too busy to take
/// a tick on time gets what its [`MissedTickBehavior`] says (default: `Burst`).
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use kqio::time::{interval, Clock, Duration, MissedTickBehavior};
///
/// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
/// let io = rt.io();
/// rt.block_on(async {
///     let mut every = interval(io.clone(), Duration::from_millis(2));
///     let first = every.tick().await?;                 // at once
///     let second = every.tick().await?;
///     assert_eq!(second - first, Duration::from_millis(2)); // due times (`Burst` keeps them)
///     assert!(io.now(Clock::Awake) >= second);         // never early
///     every.set_missed_tick_behavior(MissedTickBehavior::Skip);
///     let next_three: Vec<_> = every.by_ref().take(3).collect().await; // as a Stream
///     assert_eq!(next_three.len(), 3);
///     Ok::<(), kqio::Canceled>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Interval {
    sleep: OwnedSleep,
    /// When the next tick is due (the deadline `sleep` is armed with).
    next: Timestamp,
    period: Duration,
    behavior: MissedTickBehavior,
}

impl fmt::Debug for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interval")
            .field("next", &self.next)
            .field("period", &self.period)
            .field("behavior", &self.behavior)
            .finish_non_exhaustive()
    }
}

/// An [`Interval`] whose first tick is due at once, then every `period`.
///
/// # Panics
///
/// If `period` is zero or negative (as tokio's `interval`).
///
/// # Examples
///
/// See [`Interval`].
pub fn interval(io: IoRef, period: Duration) -> Interval {
    let start = io.now(Clock::Awake);
    interval_at(io, start, period)
}

/// An [`Interval`] whose first tick is due at `start`, a time of the
/// [awake](Clock::Awake) clock, then every `period`. A `start` in the past makes the ticks
/// since then missed ones, handled by the [`MissedTickBehavior`].
///
/// # Panics
///
/// If `period` is zero or negative.
///
/// # Examples
///
/// ```
/// use kqio::time::{interval_at, Clock, Duration};
///
/// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
/// let io = rt.io();
/// let start = io.now(Clock::Awake) + Duration::from_millis(3);
/// let mut every = interval_at(io.clone(), start, Duration::from_millis(1));
/// assert_eq!(rt.block_on(every.tick())?, start);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn interval_at(io: IoRef, start: Timestamp, period: Duration) -> Interval {
    assert!(period > Duration::ZERO, "kqio: an interval's period must be positive, got {period}");
    let sleep = OwnedSleep::new(io, Timeout::at(start, Clock::Awake), false);
    Interval { sleep, next: start, period, behavior: MissedTickBehavior::default() }
}

impl Interval {
    /// Waits for the next tick and returns the time it was due (awake clock).
    ///
    /// # Cancellation
    ///
    /// A cancellation point; a canceled wait takes no tick (the next call returns it).
    pub async fn tick(&mut self) -> Result<Timestamp, Canceled> {
        std::future::poll_fn(|cx| {
            self.sleep.io().check_cancel()?;
            self.poll_tick(cx).map(Ok)
        })
        .await
    }

    /// Polls for the next tick: `Ready` with its due time once it is due, else registers `cx`'s
    /// waker. Not a cancellation point.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Timestamp> {
        if self.sleep.poll_elapsed(cx).is_pending() {
            return Poll::Pending;
        }
        let due = self.next;
        let now = self.sleep.io().now(Clock::Awake);
        self.next = if now > due + MISSED_TICK_TOLERANCE {
            self.behavior.next_due(due, now, self.period)
        } else {
            due + self.period
        };
        self.sleep.reset(Timeout::at(self.next, Clock::Awake));
        Poll::Ready(due)
    }

    /// Starts the schedule again from now: the next tick is due one period from now.
    pub fn reset(&mut self) {
        let now = self.sleep.io().now(Clock::Awake);
        self.reset_at(now + self.period);
    }

    /// Starts the schedule again with the next tick due at `due` (awake clock).
    pub fn reset_at(&mut self, due: Timestamp) {
        self.next = due;
        self.sleep.reset(Timeout::at(due, Clock::Awake));
    }

    /// When the next tick is due (awake clock).
    pub fn next_due(&self) -> Timestamp {
        self.next
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// What happens after missed ticks.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.behavior
    }

    /// Sets what happens after missed ticks; takes effect at the next missed tick.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.behavior = behavior;
    }
}

/// The ticks' due times, as [`Interval::tick`] returns them. The stream ends (`None`) when the
/// task is asked to cancel: a cancellation point, so a `while let Some(t) = ticks.next().await`
/// loop ends on cancellation (the request is delivered; [`recancel`](crate::Io#method.recancel)
/// re-arms it). Polled again after that, it goes on ticking.
impl Stream for Interval {
    type Item = Timestamp;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Timestamp>> {
        let this = self.get_mut();
        if this.sleep.io().check_cancel().is_err() {
            return Poll::Ready(None);
        }
        this.poll_tick(cx).map(Some)
    }
}
