//! What the simulated world lends to its models (network, disk, processes): the virtual clock, the
//! seeded random source, wake-ups at a virtual time, and the event log.
//!
//! Ground rules:
//! 1. A model method that needs time, randomness or a future wake-up takes an [`Env`]; models keep
//!    no clock or generator of their own, so every draw is part of the one replayable schedule.
//! 2. Virtual time is nanoseconds of the simulated monotonic clock since the world began.

// The world (`sim/world.rs`) implements `SimEnv`; until the models land, nothing calls it.
#![allow(dead_code)]

use std::fmt;
use std::sync::Arc;
use std::task::Waker;

use super::log::EventLog;

/// A host of the simulated world (its index in the world's host table).
pub(crate) type HostId = u32;

/// The environment a model is called with.
pub(crate) type Env = Arc<dyn SimEnv>;

/// The world's services to its models. Implemented by the world; called only from the world's
/// thread, while a task of the world (or the world itself) runs.
pub(crate) trait SimEnv: Send + Sync + 'static {
    /// Simulated monotonic time, in nanoseconds since the world began.
    fn now(&self) -> u64;

    /// `host`'s real clock now (`Clock::Real`: the world's real start plus the time elapsed,
    /// with the host's offset, drift, steps and suspends), in nanoseconds since the Unix epoch:
    /// what file times read.
    fn real_now(&self, host: HostId) -> i64;

    /// The next draw of the world's seeded generator.
    fn random_u64(&self) -> u64;

    /// Wakes `waker` when virtual time reaches `at` (nanoseconds; a past `at` wakes at the next
    /// step). Counts as an event in flight for deadlock detection until it fires.
    fn wake_at(&self, at: u64, waker: Waker);

    /// Appends one line to the world's event log (hashed to check that a replay is exact).
    fn log(&self, event: fmt::Arguments<'_>);

    /// Appends one line written as tokens by `event` (sim/log.rs): what hot call sites use, so
    /// that nothing is formatted unless the log's lines are kept. By default the line is
    /// rendered and given to [`log`](Self::log) (for the models' test doubles).
    fn log_with(&self, event: &mut dyn FnMut(&mut EventLog)) {
        let mut line = EventLog::new(Some(Vec::new()));
        event(&mut line);
        let line = line.take_line();
        self.log(format_args!("{line}"));
    }
}
