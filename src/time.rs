//! Time, backend-neutral: clocks, timestamps, durations (printed in Zig's format) and timeouts.
//!
//! Nothing here reads a clock or waits: reading is the backend's
//! ([`Io::now`](crate::Io#method.now), which the kqueue backend answers from `src/sys/clock.rs`,
//! the one file that knows which OS clock backs each [`Clock`]), waiting is
//! [`Io::sleep`](crate::Io#method.sleep). A simulated backend uses these same types with a virtual
//! clock.
//!
//! | Zig (`std.Io`) | kqio |
//! | --- | --- |
//! | `Clock` (`.real`, `.awake`, `.boot`, `.cpu_process`, `.cpu_thread`) | [`Clock`] |
//! | `Duration` (`nanoseconds: i96`), `fromMilliseconds`, `toSeconds`, `format` | [`Duration`] (`i64`), [`Duration::from_millis`], [`Duration::as_secs`], `Display` |
//! | `Timestamp`, `addDuration`, `subDuration`, `a.durationTo(b)` | [`Timestamp`], `t + d`, `t - d`, `b - a` |
//! | `Timeout` (`.none`, `.duration`, `.deadline`) | [`Timeout`] |
//! | `Timeout.toDeadline`, `toTimestamp`, `toDurationFromNow` | [`Timeout::to_deadline`], [`Timeout::deadline_from`], [`Timeout::remaining`] |
//! | `io.now(clock)`, `clock.resolution(io)`, `io.sleep(timeout)` | [`Io::now`](crate::Io#method.now), [`Io::clock_resolution`](crate::Io#method.clock_resolution), [`Io::sleep`](crate::Io#method.sleep) |
//!
//! Ground rules:
//!
//! 1. Nanoseconds in an `i64`, for both [`Duration`] and [`Timestamp`]. Zig uses an `i96`; an
//!    `i64` spans ±292 years, which is exactly the range Zig's own format table tests
//!    (`"292y24w3d23h47m16.854s"` is `i64::MAX` ns), reaches the year 2262 on the real clock, and
//!    keeps a [`Timeout`] at 16 bytes and a timer's deadline at one machine word.
//! 2. Nothing panics or wraps. Operators (`+`, `-`, unary `-`, `* i64`) saturate at `MIN`/`MAX`;
//!    `checked_*` methods return `None` instead. `now + Duration::MAX` is [`Timestamp::MAX`], a
//!    deadline no clock reaches: "never".
//! 3. A [`Timestamp`] does not record its clock (as in Zig's `Io.Timestamp`); whoever holds one
//!    knows which clock it came from. [`Timeout::Deadline`] pairs the two.
//! 4. Expired is not an error: a zero or negative duration, or a deadline already past, makes a
//!    wait end (or time out) at once.

use std::fmt::{self, Write as _};
use std::iter::Sum;
use std::ops::{Add, AddAssign, Mul, Neg, Sub, SubAssign};

pub use crate::interval::{
    interval, interval_at, Interval, MissedTickBehavior, MISSED_TICK_TOLERANCE,
};
pub use crate::sleep::{timeout, Elapsed, Sleep, TimerSlot, WithTimeout};
pub use crate::sleep_owned::{sleep_owned, timeout_owned, OwnedSleep, OwnedTimeout};

// ---------------------------------------------------------------------------------------------
// Clock
// ---------------------------------------------------------------------------------------------

/// A clock to read or to measure a timeout against (Zig `Io.Clock`).
///
/// Which OS clock backs each variant on each platform is documented (and chosen) in one place,
/// `src/sys/clock.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Clock {
    /// Wall-clock time since the Unix epoch (1970-01-01T00:00:00Z, leap seconds ignored). It can
    /// jump, backwards too, when the administrator or NTP sets it.
    Real,
    /// Monotonic time since an unspecified start that does not advance while the system is
    /// suspended (`CLOCK_MONOTONIC` on Linux, `CLOCK_UPTIME_RAW` on macOS, `CLOCK_UPTIME` on
    /// FreeBSD and OpenBSD). The clock timers run on.
    Awake,
    /// Monotonic time that is meant to keep counting while the system is suspended
    /// (`CLOCK_BOOTTIME` on Linux and OpenBSD, `CLOCK_MONOTONIC_RAW` on macOS as in Zig,
    /// `CLOCK_MONOTONIC` on FreeBSD and NetBSD). Where the OS has no such clock it behaves like
    /// [`Awake`](Clock::Awake), as Zig allows.
    Boot,
    /// CPU time (user and kernel) consumed by this process.
    CpuProcess,
    /// CPU time (user and kernel) consumed by the calling thread. Readings are only comparable
    /// on the thread that took them.
    CpuThread,
}

impl Clock {
    /// Every clock, in declaration order, for tables and tests.
    pub const ALL: [Clock; 5] =
        [Clock::Real, Clock::Awake, Clock::Boot, Clock::CpuProcess, Clock::CpuThread];
}

// ---------------------------------------------------------------------------------------------
// Duration
// ---------------------------------------------------------------------------------------------

const NS_PER_US: i64 = 1_000;
const NS_PER_MS: i64 = 1_000_000;
const NS_PER_S: i64 = 1_000_000_000;
const NS_PER_MIN: i64 = 60 * NS_PER_S;
const NS_PER_HOUR: i64 = 60 * NS_PER_MIN;
const NS_PER_DAY: i64 = 24 * NS_PER_HOUR;
const NS_PER_WEEK: i64 = 7 * NS_PER_DAY;
/// Zig's format counts a year as 365 days, with no leap years.
const NS_PER_YEAR: i64 = 365 * NS_PER_DAY;

/// A signed span of time in nanoseconds (Zig `Io.Duration`).
///
/// Spans ±292 years ([`MIN`](Duration::MIN) to [`MAX`](Duration::MAX)); the operators saturate
/// there, the `checked_*` methods return `None`.
///
/// `Display` prints Zig's format: whole years (365 days), weeks, days, hours and minutes, largest
/// first and only those present, then what is left as seconds, milliseconds or microseconds with
/// at most three fraction digits (truncated, trailing zeros dropped) or as whole nanoseconds; a
/// `-` prefix when negative. Width, fill and alignment are honoured (left by default, as for
/// strings); precision is ignored. `Debug` shows the exact nanosecond count.
///
/// # Examples
///
/// ```
/// use kqio::time::Duration;
///
/// assert_eq!(Duration::from_nanos(1450).to_string(), "1.45us");
/// assert_eq!(Duration::from_millis(1).to_string(), "1ms");
/// assert_eq!(Duration::from_secs(-90).to_string(), "-1m30s");
/// assert_eq!(Duration::MAX.to_string(), "292y24w3d23h47m16.854s");
/// assert_eq!(format!("{:=>10}", Duration::ZERO), "=======0ns");
///
/// // Arithmetic saturates instead of overflowing.
/// assert_eq!(Duration::MAX + Duration::SECOND, Duration::MAX);
/// assert_eq!(Duration::HOUR * 2, Duration::from_secs(7200));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    nanos: i64,
}

impl Duration {
    /// Zero (Zig `Duration.zero`).
    pub const ZERO: Duration = Duration { nanos: 0 };
    /// The longest duration: `i64::MAX` ns, about 292 years ("292y24w3d23h47m16.854s").
    pub const MAX: Duration = Duration { nanos: i64::MAX };
    /// The most negative duration: `i64::MIN` ns.
    pub const MIN: Duration = Duration { nanos: i64::MIN };
    /// One nanosecond.
    pub const NANOSECOND: Duration = Duration { nanos: 1 };
    /// One microsecond.
    pub const MICROSECOND: Duration = Duration { nanos: NS_PER_US };
    /// One millisecond.
    pub const MILLISECOND: Duration = Duration { nanos: NS_PER_MS };
    /// One second.
    pub const SECOND: Duration = Duration { nanos: NS_PER_S };
    /// One minute.
    pub const MINUTE: Duration = Duration { nanos: NS_PER_MIN };
    /// One hour.
    pub const HOUR: Duration = Duration { nanos: NS_PER_HOUR };
    /// One day (24 hours).
    pub const DAY: Duration = Duration { nanos: NS_PER_DAY };
    /// One week (7 days).
    pub const WEEK: Duration = Duration { nanos: NS_PER_WEEK };
    /// One year as Zig's format counts it: 365 days.
    pub const YEAR: Duration = Duration { nanos: NS_PER_YEAR };

    /// `n` nanoseconds (Zig `fromNanoseconds`).
    pub const fn from_nanos(n: i64) -> Duration {
        Duration { nanos: n }
    }

    /// `n` microseconds (Zig `fromMicroseconds`), saturating at [`MIN`](Self::MIN) and
    /// [`MAX`](Self::MAX).
    pub const fn from_micros(n: i64) -> Duration {
        Duration { nanos: n.saturating_mul(NS_PER_US) }
    }

    /// `n` milliseconds (Zig `fromMilliseconds`), saturating.
    pub const fn from_millis(n: i64) -> Duration {
        Duration { nanos: n.saturating_mul(NS_PER_MS) }
    }

    /// `n` seconds (Zig `fromSeconds`), saturating.
    pub const fn from_secs(n: i64) -> Duration {
        Duration { nanos: n.saturating_mul(NS_PER_S) }
    }

    /// The length in nanoseconds (Zig `toNanoseconds`).
    pub const fn as_nanos(self) -> i64 {
        self.nanos
    }

    /// Whole microseconds, truncated toward zero (Zig `toMicroseconds`).
    pub const fn as_micros(self) -> i64 {
        self.nanos / NS_PER_US
    }

    /// Whole milliseconds, truncated toward zero (Zig `toMilliseconds`).
    pub const fn as_millis(self) -> i64 {
        self.nanos / NS_PER_MS
    }

    /// Whole seconds, truncated toward zero (Zig `toSeconds`).
    pub const fn as_secs(self) -> i64 {
        self.nanos / NS_PER_S
    }

    /// Seconds as a float (for reports; exact below about 104 days).
    pub fn as_secs_f64(self) -> f64 {
        self.nanos as f64 / NS_PER_S as f64
    }

    /// Whether the duration is zero.
    pub const fn is_zero(self) -> bool {
        self.nanos == 0
    }

    /// Whether the duration is below zero.
    pub const fn is_negative(self) -> bool {
        self.nanos < 0
    }

    /// Whether the duration is above zero.
    pub const fn is_positive(self) -> bool {
        self.nanos > 0
    }

    /// The absolute value, saturating (`MIN.abs()` is `MAX`).
    pub const fn abs(self) -> Duration {
        Duration { nanos: self.nanos.saturating_abs() }
    }

    /// `self + rhs`, saturating at [`MIN`](Self::MIN) and [`MAX`](Self::MAX). Same as `+`.
    pub const fn saturating_add(self, rhs: Duration) -> Duration {
        Duration { nanos: self.nanos.saturating_add(rhs.nanos) }
    }

    /// `self - rhs`, saturating. Same as `-`.
    pub const fn saturating_sub(self, rhs: Duration) -> Duration {
        Duration { nanos: self.nanos.saturating_sub(rhs.nanos) }
    }

    /// `self * n`, saturating. Same as `*`.
    pub const fn saturating_mul(self, n: i64) -> Duration {
        Duration { nanos: self.nanos.saturating_mul(n) }
    }

    /// `self + rhs`, or `None` on overflow.
    pub const fn checked_add(self, rhs: Duration) -> Option<Duration> {
        match self.nanos.checked_add(rhs.nanos) {
            Some(nanos) => Some(Duration { nanos }),
            None => None,
        }
    }

    /// `self - rhs`, or `None` on overflow.
    pub const fn checked_sub(self, rhs: Duration) -> Option<Duration> {
        match self.nanos.checked_sub(rhs.nanos) {
            Some(nanos) => Some(Duration { nanos }),
            None => None,
        }
    }

    /// `self * n`, or `None` on overflow.
    pub const fn checked_mul(self, n: i64) -> Option<Duration> {
        match self.nanos.checked_mul(n) {
            Some(nanos) => Some(Duration { nanos }),
            None => None,
        }
    }

    /// `self / n` truncated toward zero, or `None` if `n` is zero (or for `MIN / -1`).
    pub const fn checked_div(self, n: i64) -> Option<Duration> {
        match self.nanos.checked_div(n) {
            Some(nanos) => Some(Duration { nanos }),
            None => None,
        }
    }

    /// `-self`, or `None` for [`MIN`](Self::MIN) (whose negation does not fit).
    pub const fn checked_neg(self) -> Option<Duration> {
        match self.nanos.checked_neg() {
            Some(nanos) => Some(Duration { nanos }),
            None => None,
        }
    }

    /// As a `std::time::Duration`, with a negative duration as zero. For the conversion that
    /// reports negatives, use `std::time::Duration::try_from`.
    pub const fn to_std_saturating(self) -> std::time::Duration {
        if self.nanos <= 0 {
            std::time::Duration::ZERO
        } else {
            std::time::Duration::from_nanos(self.nanos as u64)
        }
    }
}

impl Add for Duration {
    type Output = Duration;
    /// Saturating, see [`Duration::saturating_add`].
    fn add(self, rhs: Duration) -> Duration {
        self.saturating_add(rhs)
    }
}

impl AddAssign for Duration {
    /// Saturating.
    fn add_assign(&mut self, rhs: Duration) {
        *self = self.saturating_add(rhs);
    }
}

impl Sub for Duration {
    type Output = Duration;
    /// Saturating, see [`Duration::saturating_sub`].
    fn sub(self, rhs: Duration) -> Duration {
        self.saturating_sub(rhs)
    }
}

impl SubAssign for Duration {
    /// Saturating.
    fn sub_assign(&mut self, rhs: Duration) {
        *self = self.saturating_sub(rhs);
    }
}

impl Mul<i64> for Duration {
    type Output = Duration;
    /// Saturating, see [`Duration::saturating_mul`].
    fn mul(self, n: i64) -> Duration {
        self.saturating_mul(n)
    }
}

impl Neg for Duration {
    type Output = Duration;
    /// Saturating: `-Duration::MIN` is [`Duration::MAX`].
    fn neg(self) -> Duration {
        Duration { nanos: self.nanos.saturating_neg() }
    }
}

impl Sum for Duration {
    /// Saturating.
    fn sum<I: Iterator<Item = Duration>>(iter: I) -> Duration {
        iter.fold(Duration::ZERO, Duration::saturating_add)
    }
}

impl From<std::time::Duration> for Duration {
    /// Saturates at [`Duration::MAX`]: a `std` duration reaches 584 billion years, a kqio one
    /// 292 years.
    fn from(d: std::time::Duration) -> Duration {
        Duration { nanos: i64::try_from(d.as_nanos()).unwrap_or(i64::MAX) }
    }
}

/// The error of converting a negative [`Duration`] into a `std::time::Duration`, which cannot be
/// negative.
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

    /// Exact for every duration that is not negative (every `i64` of nanoseconds fits).
    ///
    /// # Errors
    ///
    /// [`NegativeDuration`] if `d` is below zero; see also [`Duration::to_std_saturating`].
    fn try_from(d: Duration) -> Result<std::time::Duration, NegativeDuration> {
        match u64::try_from(d.nanos) {
            Ok(n) => Ok(std::time::Duration::from_nanos(n)),
            Err(_) => Err(NegativeDuration),
        }
    }
}

impl fmt::Display for Duration {
    /// Zig's duration format; see [`Duration`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = FormatBuf { bytes: [0; FORMAT_CAPACITY], len: 0 };
        if self.nanos < 0 {
            buf.write_char('-')?;
        }
        format_magnitude(self.nanos.unsigned_abs(), &mut buf)?;
        pad(f, buf.as_str())
    }
}

/// Bytes the longest formatted duration takes: `"-107y51w6d23h59m999.999ms"` is 25. A magnitude
/// of at most 2^63 ns has at most 292 years, three digits; what is left after whole years is
/// under 365 days = 52w1d, so weeks and days take at most five bytes (`51w6d`); hours and
/// minutes take three each; what is left under a minute takes at most nine, `999.999ms` or
/// `999.999us` (when it is under a second, its unit has two letters and three integer digits).
/// Formatting needs no allocation.
const FORMAT_CAPACITY: usize = 25;

/// A fixed buffer for one formatted duration.
struct FormatBuf {
    bytes: [u8; FORMAT_CAPACITY],
    len: usize,
}

impl FormatBuf {
    fn as_str(&self) -> &str {
        // Only ASCII is ever written, so this never falls back.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

impl fmt::Write for FormatBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Zig's `Duration.formatUnsigned`: whole years, weeks, days, hours and minutes (stopping as soon
/// as nothing is left), then the remainder, now under a minute, in the largest of s, ms and us
/// that it reaches, with up to three fraction digits (truncated, trailing zeros dropped), else in
/// ns.
fn format_magnitude(ns: u64, out: &mut FormatBuf) -> fmt::Result {
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
            write!(out, "{n}{sep}")?;
            rem -= n * unit;
            if rem == 0 {
                return Ok(());
            }
        }
    }
    // `rem` is now below one minute, so `rem * 1000` cannot overflow.
    for (unit, sep) in [(NS_PER_S, "s"), (NS_PER_MS, "ms"), (NS_PER_US, "us")] {
        let thousandths = rem * 1000 / unit as u64;
        if thousandths >= 1000 {
            write!(out, "{}", thousandths / 1000)?;
            let mut frac = thousandths % 1000;
            if frac > 0 {
                let mut digits = 3;
                while frac % 10 == 0 {
                    frac /= 10;
                    digits -= 1;
                }
                write!(out, ".{frac:0digits$}")?;
            }
            return out.write_str(sep);
        }
    }
    write!(out, "{rem}ns")
}

/// Writes `s` honouring the formatter's width, fill and alignment (left when unspecified), but not
/// its precision: `Formatter::pad` would truncate the text to the precision.
fn pad(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    let len = s.len(); // ASCII: bytes are characters.
    let width = match f.width() {
        Some(w) if w > len => w,
        _ => return f.write_str(s),
    };
    let fill = width - len;
    let (before, after) = match f.align() {
        Some(fmt::Alignment::Right) => (fill, 0),
        Some(fmt::Alignment::Center) => (fill / 2, fill - fill / 2),
        Some(fmt::Alignment::Left) | None => (0, fill),
    };
    let c = f.fill();
    for _ in 0..before {
        f.write_char(c)?;
    }
    f.write_str(s)?;
    for _ in 0..after {
        f.write_char(c)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Timestamp
// ---------------------------------------------------------------------------------------------

/// A point in time of some [`Clock`]: nanoseconds since that clock's epoch (Zig `Io.Timestamp`).
///
/// The clock is not stored (ground rule 3 in the module docs): compare and subtract only
/// timestamps of the same clock. Arithmetic saturates at [`MIN`](Timestamp::MIN) and
/// [`MAX`](Timestamp::MAX); a deadline of `MAX` is never reached.
///
/// # Examples
///
/// ```
/// use kqio::time::{Duration, Timestamp};
///
/// let t = Timestamp::from_nanos(1_000);
/// assert_eq!(t + Duration::from_nanos(500), Timestamp::from_nanos(1_500));
/// assert_eq!(Timestamp::from_nanos(1_500) - t, Duration::from_nanos(500)); // Zig `t.durationTo(u)`
/// assert_eq!(t - Timestamp::from_nanos(1_500), Duration::from_nanos(-500));
/// assert_eq!(t + Duration::MAX, Timestamp::MAX); // saturates: "never"
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    nanos: i64,
}

impl Timestamp {
    /// The clock's epoch (Zig `Timestamp.zero`).
    pub const ZERO: Timestamp = Timestamp { nanos: 0 };
    /// The latest representable timestamp, where saturating arithmetic ends: as a deadline it
    /// means "never" (on the real clock it is in the year 2262).
    pub const MAX: Timestamp = Timestamp { nanos: i64::MAX };
    /// The earliest representable timestamp.
    pub const MIN: Timestamp = Timestamp { nanos: i64::MIN };

    /// The timestamp `n` nanoseconds after the clock's epoch (Zig `fromNanoseconds`).
    pub const fn from_nanos(n: i64) -> Timestamp {
        Timestamp { nanos: n }
    }

    /// Nanoseconds since the clock's epoch (Zig `toNanoseconds`).
    pub const fn as_nanos(self) -> i64 {
        self.nanos
    }

    /// `self + d` (Zig `addDuration`), saturating. Same as `+`.
    pub const fn saturating_add(self, d: Duration) -> Timestamp {
        Timestamp { nanos: self.nanos.saturating_add(d.nanos) }
    }

    /// `self - d` (Zig `subDuration`), saturating. Same as `-`.
    pub const fn saturating_sub(self, d: Duration) -> Timestamp {
        Timestamp { nanos: self.nanos.saturating_sub(d.nanos) }
    }

    /// `self + d`, or `None` on overflow.
    pub const fn checked_add(self, d: Duration) -> Option<Timestamp> {
        match self.nanos.checked_add(d.nanos) {
            Some(nanos) => Some(Timestamp { nanos }),
            None => None,
        }
    }

    /// `self - d`, or `None` on overflow.
    pub const fn checked_sub(self, d: Duration) -> Option<Timestamp> {
        match self.nanos.checked_sub(d.nanos) {
            Some(nanos) => Some(Timestamp { nanos }),
            None => None,
        }
    }

    /// The time from `earlier` to `self` (Zig `earlier.durationTo(self)`): negative if `earlier`
    /// is in fact later; saturating. Same as `self - earlier`.
    pub const fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        Duration { nanos: self.nanos.saturating_sub(earlier.nanos) }
    }

    /// The time from `earlier` to `self`, or `None` if it does not fit in a [`Duration`] (the
    /// two are more than 292 years apart).
    pub const fn checked_duration_since(self, earlier: Timestamp) -> Option<Duration> {
        match self.nanos.checked_sub(earlier.nanos) {
            Some(nanos) => Some(Duration { nanos }),
            None => None,
        }
    }
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;
    /// Saturating, see [`Timestamp::saturating_add`].
    fn add(self, d: Duration) -> Timestamp {
        self.saturating_add(d)
    }
}

impl AddAssign<Duration> for Timestamp {
    /// Saturating.
    fn add_assign(&mut self, d: Duration) {
        *self = self.saturating_add(d);
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Timestamp;
    /// Saturating, see [`Timestamp::saturating_sub`].
    fn sub(self, d: Duration) -> Timestamp {
        self.saturating_sub(d)
    }
}

impl SubAssign<Duration> for Timestamp {
    /// Saturating.
    fn sub_assign(&mut self, d: Duration) {
        *self = self.saturating_sub(d);
    }
}

impl Sub for Timestamp {
    type Output = Duration;
    /// Saturating, see [`Timestamp::saturating_duration_since`].
    fn sub(self, earlier: Timestamp) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

// ---------------------------------------------------------------------------------------------
// Timeout
// ---------------------------------------------------------------------------------------------

/// How long an operation may wait (Zig `Io.Timeout`).
///
/// A duration counts from when the waiting operation is called; a deadline is a point in time of
/// its clock. Zero, negative and past values mean "already expired": the wait ends (or times out)
/// at once, without an error of its own. Nothing here overflows: `Duration::MAX` and far
/// deadlines saturate at [`Timestamp::MAX`], which is never reached.
///
/// The methods that need the present take it as a function from a clock to its current reading,
/// usually `|c| io.now(c)`, so that they work the same against a simulated clock.
///
/// Waits (`io.sleep`, `timeout`, the `_timeout` forms of `kqio::sync`) run on the
/// [awake](Clock::Awake) clock: a duration counts awake time whatever its clock (the real and
/// boot clocks run at the same rate), and a deadline on another clock is converted, when the
/// wait starts, by its distance from that clock's reading then (so a later jump of the real
/// clock does not move it). The CPU-time clocks are no exception: a waiting task uses no CPU
/// time, so a timeout on [`CpuProcess`](Clock::CpuProcess) or [`CpuThread`](Clock::CpuThread)
/// lasts its length, or the distance to its deadline, in awake time.
///
/// # Examples
///
/// ```
/// use kqio::time::{Clock, Duration, Timeout, Timestamp};
///
/// let now = |_: Clock| Timestamp::from_nanos(1_000); // a stand-in for `|c| io.now(c)`
/// let t = Timeout::after(Duration::from_nanos(500));
/// assert_eq!(t.deadline_from(now), Some((Timestamp::from_nanos(1_500), Clock::Awake)));
///
/// let past = Timeout::at(Timestamp::from_nanos(400), Clock::Awake);
/// assert_eq!(past.remaining(now), Some(Duration::from_nanos(-600))); // expired
/// assert_eq!(Timeout::None.remaining(now), None); // waits without limit
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Timeout {
    /// No limit: wait until the operation completes or the task is canceled.
    #[default]
    None,
    /// Wait at most `duration`, measured on `clock`, from when the operation is called.
    Duration {
        /// How long; zero or negative means "already expired".
        duration: Duration,
        /// The clock the duration is measured on.
        clock: Clock,
    },
    /// Wait until `clock` reads `deadline`.
    Deadline {
        /// When; a deadline already past means "already expired".
        deadline: Timestamp,
        /// The clock the deadline belongs to.
        clock: Clock,
    },
}

impl Timeout {
    /// A timeout of `duration` on the [awake](Clock::Awake) clock: the usual choice.
    pub const fn after(duration: Duration) -> Timeout {
        Timeout::Duration { duration, clock: Clock::Awake }
    }

    /// A deadline: when `clock` reads `deadline`.
    pub const fn at(deadline: Timestamp, clock: Clock) -> Timeout {
        Timeout::Deadline { deadline, clock }
    }

    /// The clock the timeout is measured on; `None` for [`Timeout::None`].
    pub const fn clock(self) -> Option<Clock> {
        match self {
            Timeout::None => None,
            Timeout::Duration { clock, .. } | Timeout::Deadline { clock, .. } => Some(clock),
        }
    }

    /// The absolute deadline this timeout means if it starts now, with its clock (Zig
    /// `toTimestamp`); `None` for [`Timeout::None`]. `now` is called at most once, with the
    /// timeout's clock, and only for a duration. Saturating: `after(Duration::MAX)` gives
    /// [`Timestamp::MAX`].
    pub fn deadline_from(self, now: impl FnOnce(Clock) -> Timestamp) -> Option<(Timestamp, Clock)> {
        match self {
            Timeout::None => None,
            Timeout::Duration { duration, clock } => Some((now(clock) + duration, clock)),
            Timeout::Deadline { deadline, clock } => Some((deadline, clock)),
        }
    }

    /// The same timeout as a deadline fixed now (Zig `toDeadline`): what a loop that retries an
    /// operation passes to each attempt so that the whole loop, not each attempt, is bounded.
    /// `None` and deadlines are returned as they are.
    pub fn to_deadline(self, now: impl FnOnce(Clock) -> Timestamp) -> Timeout {
        match self.deadline_from(now) {
            None => Timeout::None,
            Some((deadline, clock)) => Timeout::Deadline { deadline, clock },
        }
    }

    /// How long is left (Zig `toDurationFromNow`): a duration as it is, a deadline minus the
    /// present reading of its clock (saturating); `None` for [`Timeout::None`]. Zero or negative
    /// means expired. `now` is called at most once, and only for a deadline.
    pub fn remaining(self, now: impl FnOnce(Clock) -> Timestamp) -> Option<Duration> {
        match self {
            Timeout::None => None,
            Timeout::Duration { duration, .. } => Some(duration),
            Timeout::Deadline { deadline, clock } => Some(deadline - now(clock)),
        }
    }
}

impl From<Duration> for Timeout {
    /// [`Timeout::after`]: that long on the awake clock.
    fn from(d: Duration) -> Timeout {
        Timeout::after(d)
    }
}

impl From<std::time::Duration> for Timeout {
    /// [`Timeout::after`] on the awake clock, saturating at [`Duration::MAX`].
    fn from(d: std::time::Duration) -> Timeout {
        Timeout::after(d.into())
    }
}
