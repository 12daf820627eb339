//! Time, backend-neutral: clocks, timestamps, durations (with Zig's format) and timeouts.
//!
//! Zig correspondence: `Io.Clock` is [`Clock`], `Io.Timestamp` is [`Timestamp`], `Io.Duration`
//! is [`Duration`], `Io.Timeout` is [`Timeout`]; `io.now(clock)`, `io.clockResolution(clock)`
//! and `io.sleep(timeout)` are [`now`](crate::Io#method.now),
//! [`clock_resolution`](crate::Io#method.clock_resolution) and
//! [`sleep`](crate::Io#method.sleep). Zig counts nanoseconds in an `i96`; kqio uses `i64`
//! nanoseconds, which spans ±292 years (Zig's own format table tops out at `i64::MAX`), and makes
//! every arithmetic operation saturate instead of overflowing, so far deadlines and
//! `Duration::MAX` never panic.
//!
//! Which OS clock backs each [`Clock`] on each platform is chosen in one place,
//! `src/sys/clock.rs`.

use std::fmt;
use std::ops::{Add, Neg, Sub};

pub use crate::sleep::{timeout, Elapsed, Sleep, TimerSlot, WithTimeout};

/// A clock to read or to measure a timeout against (Zig `Io.Clock`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Clock {
    /// Wall-clock time since the Unix epoch; can jump (NTP, the administrator).
    Real,
    /// Monotonic time that does not advance while the system is suspended (`CLOCK_MONOTONIC` on
    /// Linux, `CLOCK_UPTIME_RAW` on macOS, `CLOCK_UPTIME` on FreeBSD). The clock timers run on.
    Awake,
    /// Monotonic time that keeps counting during suspend (`CLOCK_BOOTTIME` on Linux,
    /// `CLOCK_MONOTONIC_RAW` on macOS as in Zig, `CLOCK_MONOTONIC` on the BSDs).
    Boot,
    /// CPU time consumed by this process.
    CpuProcess,
    /// CPU time consumed by the calling thread.
    CpuThread,
}

impl Clock {
    /// Every clock, for tables and tests.
    pub const ALL: [Clock; 5] =
        [Clock::Real, Clock::Awake, Clock::Boot, Clock::CpuProcess, Clock::CpuThread];
}

const NS_PER_US: i64 = 1_000;
const NS_PER_MS: i64 = 1_000_000;
const NS_PER_S: i64 = 1_000_000_000;
const NS_PER_MIN: i64 = 60 * NS_PER_S;
const NS_PER_HOUR: i64 = 60 * NS_PER_MIN;
const NS_PER_DAY: i64 = 24 * NS_PER_HOUR;
const NS_PER_WEEK: i64 = 7 * NS_PER_DAY;
const NS_PER_YEAR: i64 = 365 * NS_PER_DAY;

/// A signed span of time in nanoseconds (Zig `Io.Duration`). Arithmetic saturates.
///
/// `Display` prints Zig's format: at most three fraction digits, trailing zeros dropped, the
/// largest units first.
///
/// # Examples
///
/// ```
/// use kqio::time::Duration;
///
/// assert_eq!(Duration::from_nanos(1450).to_string(), "1.45us");
/// assert_eq!(Duration::from_millis(1).to_string(), "1ms");
/// assert_eq!(Duration::MAX.to_string(), "292y24w3d23h47m16.854s");
/// assert_eq!(Duration::from_secs(-90).to_string(), "-1m30s");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    nanos: i64,
}

impl Duration {
    /// Zero.
    pub const ZERO: Duration = Duration { nanos: 0 };
    /// The longest duration (about 292 years).
    pub const MAX: Duration = Duration { nanos: i64::MAX };
    /// The most negative duration.
    pub const MIN: Duration = Duration { nanos: i64::MIN };
    /// One nanosecond.
    pub const NANOSECOND: Duration = Duration { nanos: 1 };
    /// One microsecond.
    pub const MICROSECOND: Duration = Duration { nanos: NS_PER_US };
    /// One millisecond.
    pub const MILLISECOND: Duration = Duration { nanos: NS_PER_MS };
    /// One second.
    pub const SECOND: Duration = Duration { nanos: NS_PER_S };

    /// `n` nanoseconds.
    pub const fn from_nanos(n: i64) -> Duration {
        Duration { nanos: n }
    }

    /// `n` microseconds, saturating.
    pub const fn from_micros(n: i64) -> Duration {
        Duration { nanos: n.saturating_mul(NS_PER_US) }
    }

    /// `n` milliseconds, saturating.
    pub const fn from_millis(n: i64) -> Duration {
        Duration { nanos: n.saturating_mul(NS_PER_MS) }
    }

    /// `n` seconds, saturating.
    pub const fn from_secs(n: i64) -> Duration {
        Duration { nanos: n.saturating_mul(NS_PER_S) }
    }

    /// The length in nanoseconds.
    pub const fn as_nanos(self) -> i64 {
        self.nanos
    }

    /// Whether the duration is below zero.
    pub const fn is_negative(self) -> bool {
        self.nanos < 0
    }

    /// `self + rhs`, saturating at `MIN` and `MAX`.
    pub const fn saturating_add(self, rhs: Duration) -> Duration {
        Duration { nanos: self.nanos.saturating_add(rhs.nanos) }
    }

    /// `self - rhs`, saturating.
    pub const fn saturating_sub(self, rhs: Duration) -> Duration {
        Duration { nanos: self.nanos.saturating_sub(rhs.nanos) }
    }

    /// `self + rhs`, or `None` on overflow.
    pub const fn checked_add(self, rhs: Duration) -> Option<Duration> {
        match self.nanos.checked_add(rhs.nanos) {
            Some(n) => Some(Duration { nanos: n }),
            None => None,
        }
    }

    /// `self - rhs`, or `None` on overflow.
    pub const fn checked_sub(self, rhs: Duration) -> Option<Duration> {
        match self.nanos.checked_sub(rhs.nanos) {
            Some(n) => Some(Duration { nanos: n }),
            None => None,
        }
    }

    /// The absolute value, saturating (`MIN.abs()` is `MAX`).
    pub const fn abs(self) -> Duration {
        Duration { nanos: self.nanos.saturating_abs() }
    }

    /// As a `std::time::Duration`, with negative durations as zero.
    pub fn to_std_saturating(self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.nanos.max(0) as u64)
    }
}

impl Add for Duration {
    type Output = Duration;
    /// Saturating.
    fn add(self, rhs: Duration) -> Duration {
        self.saturating_add(rhs)
    }
}

impl Sub for Duration {
    type Output = Duration;
    /// Saturating.
    fn sub(self, rhs: Duration) -> Duration {
        self.saturating_sub(rhs)
    }
}

impl Neg for Duration {
    type Output = Duration;
    /// Saturating (`-MIN` is `MAX`).
    fn neg(self) -> Duration {
        Duration { nanos: self.nanos.checked_neg().unwrap_or(i64::MAX) }
    }
}

impl From<std::time::Duration> for Duration {
    /// Saturates at [`Duration::MAX`] (a `std` duration can be far longer than 292 years).
    fn from(d: std::time::Duration) -> Duration {
        Duration { nanos: i64::try_from(d.as_nanos()).unwrap_or(i64::MAX) }
    }
}

/// The error of converting a negative [`Duration`] into a `std::time::Duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NegativeDuration;

impl fmt::Display for NegativeDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("negative duration")
    }
}

impl std::error::Error for NegativeDuration {}

impl TryFrom<Duration> for std::time::Duration {
    type Error = NegativeDuration;
    fn try_from(d: Duration) -> Result<std::time::Duration, NegativeDuration> {
        u64::try_from(d.nanos).map(std::time::Duration::from_nanos).map_err(|_| NegativeDuration)
    }
}

impl fmt::Display for Duration {
    /// Zig's duration format (`std.fmt` `printDuration` / `printDurationSigned`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = String::with_capacity(32);
        if self.nanos < 0 {
            buf.push('-');
        }
        format_unsigned(self.nanos.unsigned_abs(), &mut buf);
        f.pad(&buf)
    }
}

/// Zig's algorithm: whole years, weeks, days, hours and minutes first (stopping when nothing is
/// left), then the remainder as seconds, milliseconds or microseconds with up to three fraction
/// digits (truncated, trailing zeros dropped), else nanoseconds.
fn format_unsigned(ns: u64, out: &mut String) {
    use fmt::Write;
    let mut rem = ns;
    for (unit, sep) in [
        (NS_PER_YEAR, 'y'),
        (NS_PER_WEEK, 'w'),
        (NS_PER_DAY, 'd'),
        (NS_PER_HOUR, 'h'),
        (NS_PER_MIN, 'm'),
    ] {
        let unit = unit as u64;
        if rem >= unit {
            let n = rem / unit;
            let _ = write!(out, "{n}{sep}");
            rem -= n * unit;
            if rem == 0 {
                return;
            }
        }
    }
    for (unit, sep) in [(NS_PER_S, "s"), (NS_PER_MS, "ms"), (NS_PER_US, "us")] {
        let kunits = rem as u128 * 1000 / unit as u128;
        if kunits >= 1000 {
            let _ = write!(out, "{}", kunits / 1000);
            let frac = kunits % 1000;
            if frac > 0 {
                let digits = format!("{frac:03}");
                let _ = write!(out, ".{}", digits.trim_end_matches('0'));
            }
            out.push_str(sep);
            return;
        }
    }
    let _ = write!(out, "{rem}ns");
}

/// A point in time of some [`Clock`], in nanoseconds since that clock's epoch (Zig
/// `Io.Timestamp`). Arithmetic saturates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    nanos: i64,
}

impl Timestamp {
    /// The timestamp `n` nanoseconds after the clock's epoch.
    pub const fn from_nanos(n: i64) -> Timestamp {
        Timestamp { nanos: n }
    }

    /// Nanoseconds since the clock's epoch.
    pub const fn as_nanos(self) -> i64 {
        self.nanos
    }

    /// `self + d`, saturating.
    pub const fn saturating_add(self, d: Duration) -> Timestamp {
        Timestamp { nanos: self.nanos.saturating_add(d.nanos) }
    }

    /// `self - d`, saturating.
    pub const fn saturating_sub(self, d: Duration) -> Timestamp {
        Timestamp { nanos: self.nanos.saturating_sub(d.nanos) }
    }

    /// `self + d`, or `None` on overflow.
    pub const fn checked_add(self, d: Duration) -> Option<Timestamp> {
        match self.nanos.checked_add(d.nanos) {
            Some(n) => Some(Timestamp { nanos: n }),
            None => None,
        }
    }

    /// `self - earlier` (negative if `earlier` is later), saturating.
    pub const fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        Duration { nanos: self.nanos.saturating_sub(earlier.nanos) }
    }
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;
    /// Saturating.
    fn add(self, d: Duration) -> Timestamp {
        self.saturating_add(d)
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Timestamp;
    /// Saturating.
    fn sub(self, d: Duration) -> Timestamp {
        self.saturating_sub(d)
    }
}

impl Sub for Timestamp {
    type Output = Duration;
    /// Saturating.
    fn sub(self, earlier: Timestamp) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

/// How long an operation may wait (Zig `Io.Timeout`).
///
/// A duration counts from when the waiting operation is called; a deadline is a point in time of
/// its clock. Zero, negative and past values mean "already expired": the wait completes (or times
/// out) at once. Nothing here overflows: `Duration::MAX` and far deadlines saturate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Timeout {
    /// Wait without limit (until the operation completes or is canceled).
    #[default]
    None,
    /// Wait at most this long, measured on `clock`.
    Duration {
        /// How long.
        duration: Duration,
        /// The clock the duration is measured on.
        clock: Clock,
    },
    /// Wait until this point in time of `clock`.
    Deadline {
        /// When.
        deadline: Timestamp,
        /// The clock the deadline belongs to.
        clock: Clock,
    },
}

impl Timeout {
    /// A timeout of `d` on the awake clock.
    pub const fn after(d: Duration) -> Timeout {
        Timeout::Duration { duration: d, clock: Clock::Awake }
    }

    /// A deadline at `deadline` of `clock`.
    pub const fn at(deadline: Timestamp, clock: Clock) -> Timeout {
        Timeout::Deadline { deadline, clock }
    }

    /// The absolute deadline this timeout means if it starts at `now` (a reading of the
    /// timeout's clock), with that clock; `None` for [`Timeout::None`]. Saturating.
    pub fn deadline_from(self, now: impl FnOnce(Clock) -> Timestamp) -> Option<(Timestamp, Clock)> {
        match self {
            Timeout::None => None,
            Timeout::Duration { duration, clock } => Some((now(clock) + duration, clock)),
            Timeout::Deadline { deadline, clock } => Some((deadline, clock)),
        }
    }
}

impl From<std::time::Duration> for Timeout {
    /// A timeout of that length on the awake clock (saturating at [`Duration::MAX`]).
    fn from(d: std::time::Duration) -> Timeout {
        Timeout::after(d.into())
    }
}

impl From<Duration> for Timeout {
    /// A timeout of that length on the awake clock.
    fn from(d: Duration) -> Timeout {
        Timeout::after(d)
    }
}
