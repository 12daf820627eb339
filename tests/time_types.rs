//! The time vocabulary: Zig's whole Duration format table (unsigned and signed), std interop,
//! saturation at the edges, timeouts, and every clock readable with a positive resolution.

use kqio::time::{Clock, Duration, NegativeDuration, Timeout, Timestamp};
use kqio::{InitOptions, Kqueue};

const US: i64 = 1_000;
const MS: i64 = 1_000_000;
const S: i64 = 1_000_000_000;
const MIN: i64 = 60 * S;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;
const WEEK: i64 = 7 * DAY;
const YEAR: i64 = 365 * DAY;

/// Zig's `printDuration` table (lib/std/fmt.zig), for the values an `i64` holds.
const TABLE: &[(&str, i64)] = &[
    ("0ns", 0),
    ("1ns", 1),
    ("999ns", US - 1),
    ("1us", US),
    ("1.45us", 1450),
    ("1.5us", 3 * US / 2),
    ("14.5us", 14500),
    ("145us", 145000),
    ("999.999us", MS - 1),
    ("1ms", MS + 1),
    ("1.5ms", 3 * MS / 2),
    ("1.11ms", 1110000),
    ("1.111ms", 1111000),
    ("1.111ms", 1111100),
    ("999.999ms", S - 1),
    ("1s", S),
    ("59.999s", MIN - 1),
    ("1m", MIN),
    ("1h", HOUR),
    ("1d", DAY),
    ("1w", WEEK),
    ("1y", YEAR),
    ("1y52w23h59m59.999s", 730 * DAY - 1),
    ("1y1h1.001s", YEAR + HOUR + S + MS),
    ("1y1h1s", YEAR + HOUR + S + 999 * US),
    ("1y1h999.999us", YEAR + HOUR + MS - 1),
    ("1y1h1ms", YEAR + HOUR + MS),
    ("1y1h1ms", YEAR + HOUR + MS + 1),
    ("1y1m999ns", YEAR + MIN + 999),
    ("292y24w3d23h47m16.854s", i64::MAX),
];

#[test]
fn zig_duration_format_table() {
    for &(text, ns) in TABLE {
        assert_eq!(Duration::from_nanos(ns).to_string(), text, "{ns} ns");
        if ns != 0 {
            assert_eq!(Duration::from_nanos(-ns).to_string(), format!("-{text}"), "-{ns} ns");
        }
    }
    // Zig's signed table ends with both minInt(i64) + 1 and minInt(i64).
    assert_eq!(Duration::from_nanos(i64::MIN + 1).to_string(), "-292y24w3d23h47m16.854s");
    assert_eq!(Duration::MIN.to_string(), "-292y24w3d23h47m16.854s");
    // Padding and alignment work as for any `Display` (Zig's `{D:=>10}` cases).
    assert_eq!(format!("{:=>10}", Duration::ZERO), "=======0ns");
    assert_eq!(format!("{:=<10}", Duration::from_nanos(1)), "1ns=======");
    assert_eq!(format!("{:^10}", Duration::from_nanos(US - 1)), "  999ns   ");
}

#[test]
fn std_interop_both_ways() {
    let d: Duration = std::time::Duration::from_millis(1500).into();
    assert_eq!(d, Duration::from_millis(1500));
    assert_eq!(std::time::Duration::try_from(d), Ok(std::time::Duration::from_millis(1500)));
    assert_eq!(std::time::Duration::try_from(Duration::from_nanos(-1)), Err(NegativeDuration));
    assert_eq!(Duration::from(std::time::Duration::MAX), Duration::MAX, "saturates");
    assert_eq!(Duration::from_nanos(-5).to_std_saturating(), std::time::Duration::ZERO);
}

#[test]
fn arithmetic_saturates_at_the_edges() {
    assert_eq!(Duration::MAX + Duration::SECOND, Duration::MAX);
    assert_eq!(Duration::MIN - Duration::SECOND, Duration::MIN);
    assert_eq!(-Duration::MIN, Duration::MAX);
    assert_eq!(Duration::MIN.abs(), Duration::MAX);
    assert_eq!(Duration::MAX.checked_add(Duration::NANOSECOND), None);
    assert_eq!(Duration::from_secs(i64::MAX), Duration::MAX);
    assert_eq!(Duration::from_millis(i64::MIN), Duration::MIN);
    let t = Timestamp::from_nanos(i64::MAX - 5);
    assert_eq!(t + Duration::MAX, Timestamp::from_nanos(i64::MAX));
    assert_eq!(Timestamp::from_nanos(i64::MIN) - Timestamp::from_nanos(1), Duration::MIN);
    assert_eq!(t.checked_add(Duration::SECOND), None);
}

#[test]
fn timeouts_convert_to_deadlines_without_overflow() {
    let now = |_c: Clock| Timestamp::from_nanos(1_000);
    assert_eq!(Timeout::None.deadline_from(now), None);
    assert_eq!(
        Timeout::after(Duration::from_nanos(5)).deadline_from(now),
        Some((Timestamp::from_nanos(1_005), Clock::Awake))
    );
    assert_eq!(
        Timeout::after(Duration::MAX).deadline_from(now),
        Some((Timestamp::from_nanos(i64::MAX), Clock::Awake))
    );
    let at = Timeout::at(Timestamp::from_nanos(7), Clock::Real);
    assert_eq!(at.deadline_from(now), Some((Timestamp::from_nanos(7), Clock::Real)));
    assert_eq!(Timeout::from(std::time::Duration::from_secs(1)), Timeout::after(Duration::SECOND));
    assert_eq!(Timeout::default(), Timeout::None);
}

#[test]
fn every_clock_reads_with_a_positive_resolution() {
    let rt = Kqueue::init(InitOptions { n_threads: Some(1), ..Default::default() }).unwrap();
    let io = rt.io();
    for clock in Clock::ALL {
        assert!(io.clock_resolution(clock) > Duration::ZERO, "{clock:?}");
        let a = io.now(clock);
        let b = io.now(clock);
        if clock != Clock::Real {
            assert!(b >= a, "{clock:?} is monotonic");
        }
    }
    // The real clock is after 2020 and the CPU clock of this thread advances with work.
    assert!(io.now(Clock::Real).as_nanos() > 1_577_836_800 * S);
    let before = io.now(Clock::CpuThread);
    let mut x = 0u64;
    for i in 0..5_000_000u64 {
        x = x.wrapping_mul(31).wrapping_add(i);
    }
    std::hint::black_box(x);
    assert!(io.now(Clock::CpuThread) > before);
}
