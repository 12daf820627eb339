//! PLACEHOLDER until the time helper delivers: minimal clock types.
#![allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    Real,
    Awake,
    Boot,
    CpuProcess,
    CpuThread,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(i64);
impl Timestamp {
    pub fn from_nanos(n: i64) -> Self {
        Timestamp(n)
    }
    pub fn as_nanos(self) -> i64 {
        self.0
    }
    pub fn saturating_add(self, d: Duration) -> Self {
        Timestamp(self.0.saturating_add(d.0))
    }
    pub fn saturating_duration_since(self, o: Timestamp) -> Duration {
        Duration(self.0.saturating_sub(o.0))
    }
}
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(i64);
impl Duration {
    pub fn from_millis(n: i64) -> Self {
        Duration(n * 1_000_000)
    }
    pub fn from_nanos(n: i64) -> Self {
        Duration(n)
    }
}
#[derive(Debug, Clone, Copy)]
pub enum Timeout {
    None,
    Duration { duration: Duration, clock: Clock },
    Deadline { deadline: Timestamp, clock: Clock },
}
impl Timeout {
    pub fn after(d: Duration) -> Self {
        Timeout::Duration { duration: d, clock: Clock::Awake }
    }
}
pub use crate::sleep::{timeout, Elapsed, Sleep, TimerSlot, WithTimeout};
