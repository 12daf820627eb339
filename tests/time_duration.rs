//! The time vocabulary (`kqio::time`): Zig's whole Duration format table, positive and negative,
//! with its padding cases; std interop both ways; saturation at every edge of `Duration`,
//! `Timestamp` and `Timeout`; and the clocks themselves, read through the public `Io` (a one-thread
//! runtime), checked against std's clocks without sleeping.

use std::cell::Cell;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

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

/// Zig's `Duration.format` test table (lib/std/Io.zig; `printDurationSigned` in older
/// lib/std/Io/Writer.zig), positive half. Each entry is also checked negated, as Zig's table
/// does. Zig's unsigned-only entry, `"584y49w23h34m33.709s"` for `maxInt(u64)`, is out of an
/// `i64`'s range and has no counterpart.
const ZIG_TABLE: &[(&str, i64)] = &[
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
    ("1y52w23h59m59.999s", 730 * DAY - 1), // 365d = 52w1d
    ("1y1h1.001s", YEAR + HOUR + S + MS),
    ("1y1h1s", YEAR + HOUR + S + 999 * US),
    ("1y1h999.999us", YEAR + HOUR + MS - 1),
    ("1y1h1ms", YEAR + HOUR + MS),
    ("1y1h1ms", YEAR + HOUR + MS + 1),
    ("1y1m999ns", YEAR + MIN + 999),
    ("292y24w3d23h47m16.854s", i64::MAX),
];

fn fmt(ns: i64) -> String {
    Duration::from_nanos(ns).to_string()
}

#[test]
fn zig_format_table_positive() {
    for &(text, ns) in ZIG_TABLE {
        assert_eq!(fmt(ns), text, "{ns} ns");
    }
}

#[test]
fn zig_format_table_negative() {
    for &(text, ns) in ZIG_TABLE {
        let expected = if ns == 0 { "0ns".to_string() } else { format!("-{text}") };
        assert_eq!(fmt(-ns), expected, "-{ns} ns");
    }
    // The signed table's last two rows: minInt(i64) + 1 and minInt(i64) (whose magnitude, 2^63,
    // is one more than any positive duration's and still prints the same).
    assert_eq!(fmt(i64::MIN + 1), "-292y24w3d23h47m16.854s");
    assert_eq!(fmt(i64::MIN), "-292y24w3d23h47m16.854s");
    assert_eq!(Duration::MIN.to_string(), "-292y24w3d23h47m16.854s");
}

#[test]
fn zig_format_padding() {
    // Zig: `{D:=>10}`, `{D:=<10}`, `{D:^10}`, signed and unsigned.
    assert_eq!(format!("{:=>10}", Duration::from_nanos(0)), "=======0ns");
    assert_eq!(format!("{:=<10}", Duration::from_nanos(1)), "1ns=======");
    assert_eq!(format!("{:=<10}", Duration::from_nanos(-1)), "-1ns======");
    assert_eq!(format!("{:^10}", Duration::from_nanos(US - 1)), "  999ns   ");
    assert_eq!(format!("{:^10}", Duration::from_nanos(-(US - 1))), "  -999ns  ");
    // Rust's string conventions beyond Zig's table: left by default, a width below the length
    // changes nothing, and precision does not truncate.
    assert_eq!(format!("{:8}|", Duration::MILLISECOND), "1ms     |");
    assert_eq!(format!("{:2}", Duration::from_nanos(1450)), "1.45us");
    assert_eq!(format!("{:.1}", Duration::from_nanos(1450)), "1.45us");
    assert_eq!(format!("{:>12.1}", Duration::from_nanos(1450)), "      1.45us");
}

#[test]
fn format_truncates_and_drops_trailing_zeros() {
    assert_eq!(fmt(2 * MS - 1), "1.999ms", "truncated, not rounded to 2ms");
    assert_eq!(fmt(MS + 5 * US), "1.005ms", "leading fraction zeros kept");
    assert_eq!(fmt(MS + 50 * US), "1.05ms");
    assert_eq!(fmt(MS + 500 * US), "1.5ms");
    assert_eq!(fmt(S + 999_999), "1s", "below a thousandth of the unit is dropped");
    assert_eq!(fmt(90 * S), "1m30s");
    assert_eq!(fmt(MIN + 1500 * MS), "1m1.5s");
    assert_eq!(fmt(HOUR + 1), "1h1ns", "units after the minute fall back to the sub-second one");
    assert_eq!(fmt(DAY + 2 * HOUR + 3 * MIN), "1d2h3m", "only the units present");
    assert_eq!(fmt(WEEK + DAY), "1w1d");
    assert_eq!(fmt(YEAR - 1), "52w23h59m59.999s", "365d = 52w1d");
    // The longest text an i64 can produce is 23 bytes; formatting needs no allocation and must
    // fit it (a too-small buffer would make `to_string` panic).
    let longest = 291 * YEAR + 51 * WEEK + 6 * DAY + DAY - 1;
    assert_eq!(fmt(-longest), "-291y51w6d23h59m59.999s");
    assert_eq!(fmt(-longest).len(), 23);
}

#[test]
fn debug_shows_exact_nanoseconds() {
    assert_eq!(format!("{:?}", Duration::from_nanos(1_999_999)), "Duration { nanos: 1999999 }");
    assert_eq!(format!("{:?}", Timestamp::from_nanos(-3)), "Timestamp { nanos: -3 }");
}

#[test]
fn constructors_accessors_and_constants() {
    assert_eq!(Duration::from_micros(3).as_nanos(), 3 * US);
    assert_eq!(Duration::from_millis(3).as_nanos(), 3 * MS);
    assert_eq!(Duration::from_secs(3).as_nanos(), 3 * S);
    assert_eq!(Duration::from_secs(-3).as_nanos(), -3 * S);
    // Constructors saturate.
    assert_eq!(Duration::from_micros(i64::MAX), Duration::MAX);
    assert_eq!(Duration::from_millis(i64::MIN), Duration::MIN);
    assert_eq!(Duration::from_secs(i64::MAX), Duration::MAX);
    assert_eq!(Duration::from_secs(i64::MIN), Duration::MIN);
    // Accessors truncate toward zero, as Zig's `@divTrunc`.
    let d = Duration::from_nanos(1_999_999_999);
    assert_eq!((d.as_secs(), d.as_millis(), d.as_micros()), (1, 1_999, 1_999_999));
    let d = Duration::from_nanos(-1_999_999_999);
    assert_eq!((d.as_secs(), d.as_millis(), d.as_micros()), (-1, -1_999, -1_999_999));
    assert_eq!(Duration::from_millis(1500).as_secs_f64(), 1.5);
    // The unit ladder.
    assert_eq!(Duration::NANOSECOND * 1000, Duration::MICROSECOND);
    assert_eq!(Duration::MICROSECOND * 1000, Duration::MILLISECOND);
    assert_eq!(Duration::MILLISECOND * 1000, Duration::SECOND);
    assert_eq!(Duration::SECOND * 60, Duration::MINUTE);
    assert_eq!(Duration::MINUTE * 60, Duration::HOUR);
    assert_eq!(Duration::HOUR * 24, Duration::DAY);
    assert_eq!(Duration::DAY * 7, Duration::WEEK);
    assert_eq!(Duration::DAY * 365, Duration::YEAR);
    assert_eq!(Duration::YEAR.to_string(), "1y");
    assert_eq!(Duration::default(), Duration::ZERO);
    // Predicates.
    assert!(Duration::ZERO.is_zero() && !Duration::ZERO.is_negative());
    assert!(!Duration::ZERO.is_positive());
    assert!(Duration::NANOSECOND.is_positive() && (-Duration::NANOSECOND).is_negative());
}

#[test]
fn ordering_is_by_signed_length() {
    let mut v = vec![
        Duration::MAX,
        Duration::ZERO,
        Duration::MIN,
        Duration::NANOSECOND,
        -Duration::NANOSECOND,
    ];
    v.sort();
    assert_eq!(
        v,
        [Duration::MIN, -Duration::NANOSECOND, Duration::ZERO, Duration::NANOSECOND, Duration::MAX]
    );
}

#[test]
fn duration_arithmetic_saturates_or_checks() {
    // Operators saturate.
    assert_eq!(Duration::MAX + Duration::NANOSECOND, Duration::MAX);
    assert_eq!(Duration::MIN + -Duration::NANOSECOND, Duration::MIN);
    assert_eq!(Duration::MIN - Duration::NANOSECOND, Duration::MIN);
    assert_eq!(Duration::MAX - Duration::MIN, Duration::MAX);
    assert_eq!(Duration::MIN - Duration::MAX, Duration::MIN);
    assert_eq!(Duration::MAX * 2, Duration::MAX);
    assert_eq!(Duration::MAX * -2, Duration::MIN);
    assert_eq!(Duration::MIN * -1, Duration::MAX);
    assert_eq!(-Duration::MIN, Duration::MAX);
    assert_eq!(-Duration::MAX, Duration::from_nanos(-i64::MAX));
    assert_eq!(Duration::MIN.abs(), Duration::MAX);
    assert_eq!(Duration::from_secs(-2).abs(), Duration::from_secs(2));
    let mut d = Duration::MAX;
    d += Duration::SECOND;
    assert_eq!(d, Duration::MAX);
    d -= Duration::MAX;
    assert_eq!(d, Duration::ZERO);
    d -= Duration::MAX;
    d -= Duration::MAX;
    assert_eq!(d, Duration::MIN);
    let total: Duration = [Duration::MAX, Duration::SECOND, Duration::SECOND].into_iter().sum();
    assert_eq!(total, Duration::MAX);
    let total: Duration = (1..=3).map(Duration::from_secs).sum();
    assert_eq!(total, Duration::from_secs(6));
    // Named forms agree with the operators.
    assert_eq!(Duration::MAX.saturating_add(Duration::SECOND), Duration::MAX);
    assert_eq!(Duration::MIN.saturating_sub(Duration::SECOND), Duration::MIN);
    assert_eq!(Duration::SECOND.saturating_mul(3), Duration::from_secs(3));
    // Checked forms return None instead.
    assert_eq!(Duration::MAX.checked_add(Duration::NANOSECOND), None);
    assert_eq!(Duration::MIN.checked_sub(Duration::NANOSECOND), None);
    assert_eq!(Duration::MAX.checked_mul(2), None);
    assert_eq!(Duration::MIN.checked_neg(), None);
    assert_eq!(Duration::SECOND.checked_div(0), None);
    assert_eq!(Duration::MIN.checked_div(-1), None);
    assert_eq!(Duration::SECOND.checked_add(Duration::SECOND), Some(Duration::from_secs(2)));
    assert_eq!(Duration::SECOND.checked_sub(Duration::SECOND), Some(Duration::ZERO));
    assert_eq!(Duration::SECOND.checked_mul(-2), Some(Duration::from_secs(-2)));
    assert_eq!(Duration::SECOND.checked_div(3), Some(Duration::from_nanos(333_333_333)));
    assert_eq!(Duration::MAX.checked_neg(), Some(Duration::from_nanos(-i64::MAX)));
}

#[test]
fn std_interop_round_trips() {
    for ns in [0, 1, 999, 1_500_000_000, 86_400 * S + 7, i64::MAX] {
        let ours = Duration::from_nanos(ns);
        let std = std::time::Duration::try_from(ours).unwrap();
        assert_eq!(std.as_nanos(), ns as u128);
        assert_eq!(Duration::from(std), ours, "{ns} ns round trip");
        assert_eq!(ours.to_std_saturating(), std);
    }
    assert_eq!(
        std::time::Duration::try_from(Duration::MAX),
        Ok(std::time::Duration::new(9_223_372_036, 854_775_807))
    );
}

#[test]
fn std_interop_saturates_and_reports_negatives() {
    // std -> kqio saturates at MAX: std durations reach far beyond 292 years.
    assert_eq!(Duration::from(std::time::Duration::MAX), Duration::MAX);
    assert_eq!(Duration::from(std::time::Duration::from_nanos(i64::MAX as u64 + 1)), Duration::MAX);
    assert_eq!(Duration::from(std::time::Duration::from_secs(u64::MAX)), Duration::MAX);
    // kqio -> std: negatives are an error, or zero when saturating.
    assert_eq!(std::time::Duration::try_from(Duration::from_nanos(-1)), Err(NegativeDuration));
    assert_eq!(std::time::Duration::try_from(Duration::MIN), Err(NegativeDuration));
    assert_eq!(std::time::Duration::try_from(Duration::ZERO), Ok(std::time::Duration::ZERO));
    assert_eq!(Duration::from_nanos(-5).to_std_saturating(), std::time::Duration::ZERO);
    assert_eq!(Duration::MIN.to_std_saturating(), std::time::Duration::ZERO);
    // The error is a proper error type.
    let e: Box<dyn std::error::Error + Send + Sync> = Box::new(NegativeDuration);
    assert_eq!(e.to_string(), "negative duration");
}

#[test]
fn timestamp_arithmetic_saturates_or_checks() {
    let t = Timestamp::from_nanos(1_000);
    assert_eq!(t.as_nanos(), 1_000);
    assert_eq!(Timestamp::default(), Timestamp::ZERO);
    assert!(Timestamp::MIN < Timestamp::ZERO && Timestamp::ZERO < t && t < Timestamp::MAX);
    // Timestamp +/- Duration.
    assert_eq!(t + Duration::from_nanos(5), Timestamp::from_nanos(1_005));
    assert_eq!(t - Duration::from_nanos(5), Timestamp::from_nanos(995));
    assert_eq!(t + Duration::from_nanos(-5), Timestamp::from_nanos(995));
    assert_eq!(t + Duration::MAX, Timestamp::MAX);
    assert_eq!(Timestamp::MAX + Duration::MAX, Timestamp::MAX);
    assert_eq!(t - Duration::MAX, Timestamp::from_nanos(1_000 - i64::MAX));
    assert_eq!(Timestamp::MIN - Duration::SECOND, Timestamp::MIN);
    assert_eq!(Timestamp::MIN + Duration::MIN, Timestamp::MIN);
    assert_eq!(Timestamp::MAX - Duration::MIN, Timestamp::MAX);
    let mut u = t;
    u += Duration::MAX;
    assert_eq!(u, Timestamp::MAX);
    u -= Duration::MAX;
    assert_eq!(u, Timestamp::ZERO);
    assert_eq!(t.saturating_add(Duration::MAX), Timestamp::MAX);
    assert_eq!(t.saturating_sub(Duration::from_nanos(1)), Timestamp::from_nanos(999));
    assert_eq!(t.checked_add(Duration::MAX), None);
    assert_eq!(Timestamp::MIN.checked_sub(Duration::NANOSECOND), None);
    assert_eq!(t.checked_add(Duration::SECOND), Some(Timestamp::from_nanos(1_000 + S)));
    assert_eq!(t.checked_sub(Duration::from_nanos(1_000)), Some(Timestamp::ZERO));
    // Timestamp - Timestamp: Zig's `a.durationTo(b)` is `b - a`.
    let later = Timestamp::from_nanos(1_500);
    assert_eq!(later - t, Duration::from_nanos(500));
    assert_eq!(t - later, Duration::from_nanos(-500));
    assert_eq!(later.saturating_duration_since(t), Duration::from_nanos(500));
    assert_eq!(Timestamp::MAX - Timestamp::MIN, Duration::MAX);
    assert_eq!(Timestamp::MIN - Timestamp::MAX, Duration::MIN);
    assert_eq!(Timestamp::MAX.checked_duration_since(Timestamp::MIN), None);
    assert_eq!(later.checked_duration_since(t), Some(Duration::from_nanos(500)));
    assert_eq!(Timestamp::MAX.checked_duration_since(Timestamp::ZERO), Some(Duration::MAX));
}

/// A stand-in for `|c| io.now(c)` that records which clocks were read.
fn fake_now(at: i64, reads: &Cell<Vec<Clock>>) -> impl Fn(Clock) -> Timestamp + '_ {
    move |c| {
        let mut v = reads.take();
        v.push(c);
        reads.set(v);
        Timestamp::from_nanos(at)
    }
}

#[test]
fn timeout_constructors_and_defaults() {
    assert_eq!(Timeout::default(), Timeout::None);
    assert_eq!(
        Timeout::after(Duration::SECOND),
        Timeout::Duration { duration: Duration::SECOND, clock: Clock::Awake }
    );
    let ts = Timestamp::from_nanos(7);
    assert_eq!(
        Timeout::at(ts, Clock::Real),
        Timeout::Deadline { deadline: ts, clock: Clock::Real }
    );
    assert_eq!(Timeout::from(Duration::SECOND), Timeout::after(Duration::SECOND));
    assert_eq!(Timeout::from(std::time::Duration::from_secs(1)), Timeout::after(Duration::SECOND));
    assert_eq!(Timeout::from(std::time::Duration::MAX), Timeout::after(Duration::MAX));
    assert_eq!(Timeout::None.clock(), None);
    assert_eq!(Timeout::after(Duration::ZERO).clock(), Some(Clock::Awake));
    assert_eq!(Timeout::at(ts, Clock::Boot).clock(), Some(Clock::Boot));
}

#[test]
fn timeout_deadline_from_reads_only_the_timeouts_clock() {
    let reads = Cell::new(Vec::new());
    let now = fake_now(1_000, &reads);
    assert_eq!(Timeout::None.deadline_from(&now), None);
    let t = Timeout::Duration { duration: Duration::from_nanos(5), clock: Clock::Boot };
    assert_eq!(t.deadline_from(&now), Some((Timestamp::from_nanos(1_005), Clock::Boot)));
    let at = Timeout::at(Timestamp::from_nanos(7), Clock::Real);
    assert_eq!(at.deadline_from(&now), Some((Timestamp::from_nanos(7), Clock::Real)));
    assert_eq!(reads.take(), [Clock::Boot], "only the duration needs the present");
}

#[test]
fn timeout_deadline_from_saturates() {
    let reads = Cell::new(Vec::new());
    let now = fake_now(1_000, &reads);
    let far = Timeout::after(Duration::MAX).deadline_from(&now);
    assert_eq!(far, Some((Timestamp::MAX, Clock::Awake)), "Duration::MAX means never");
    let at_max = fake_now(i64::MAX, &reads);
    assert_eq!(Timeout::after(Duration::SECOND).deadline_from(at_max).unwrap().0, Timestamp::MAX);
    // Zero and negative durations are deadlines now or in the past: already expired.
    assert_eq!(Timeout::after(Duration::ZERO).deadline_from(&now).unwrap().0.as_nanos(), 1_000);
    assert_eq!(
        Timeout::after(Duration::from_nanos(-1)).deadline_from(&now).unwrap().0.as_nanos(),
        999
    );
    let at_min = fake_now(i64::MIN, &reads);
    assert_eq!(Timeout::after(Duration::MIN).deadline_from(at_min).unwrap().0, Timestamp::MIN);
}

#[test]
fn timeout_to_deadline_fixes_the_start() {
    let reads = Cell::new(Vec::new());
    let t = Timeout::after(Duration::from_nanos(100));
    let fixed = t.to_deadline(fake_now(1_000, &reads));
    assert_eq!(fixed, Timeout::at(Timestamp::from_nanos(1_100), Clock::Awake));
    // Converting again, later, changes nothing: the deadline is fixed.
    assert_eq!(fixed.to_deadline(fake_now(5_000, &reads)), fixed);
    assert_eq!(Timeout::None.to_deadline(fake_now(5_000, &reads)), Timeout::None);
    assert_eq!(
        Timeout::after(Duration::MAX).to_deadline(fake_now(5_000, &reads)),
        Timeout::at(Timestamp::MAX, Clock::Awake)
    );
    assert_eq!(reads.take(), [Clock::Awake, Clock::Awake]);
}

#[test]
fn timeout_remaining() {
    let reads = Cell::new(Vec::new());
    let now = fake_now(1_000, &reads);
    assert_eq!(Timeout::None.remaining(&now), None);
    assert_eq!(Timeout::after(Duration::SECOND).remaining(&now), Some(Duration::SECOND));
    assert_eq!(Timeout::after(Duration::MIN).remaining(&now), Some(Duration::MIN));
    let future = Timeout::at(Timestamp::from_nanos(1_500), Clock::Real);
    assert_eq!(future.remaining(&now), Some(Duration::from_nanos(500)));
    let past = Timeout::at(Timestamp::from_nanos(400), Clock::Awake);
    assert_eq!(past.remaining(&now), Some(Duration::from_nanos(-600)), "negative: expired");
    let exact = Timeout::at(Timestamp::from_nanos(1_000), Clock::Awake);
    assert_eq!(exact.remaining(&now), Some(Duration::ZERO), "zero: expired");
    assert_eq!(reads.take(), [Clock::Real, Clock::Awake, Clock::Awake]);
    // Far apart deadlines and readings saturate.
    let never = Timeout::at(Timestamp::MAX, Clock::Awake);
    assert_eq!(never.remaining(fake_now(i64::MIN, &reads)), Some(Duration::MAX));
    let ancient = Timeout::at(Timestamp::MIN, Clock::Awake);
    assert_eq!(ancient.remaining(fake_now(i64::MAX, &reads)), Some(Duration::MIN));
}

#[test]
fn types_are_small_plain_values() {
    fn plain<T: Copy + Send + Sync + Unpin + std::fmt::Debug + Eq + std::hash::Hash + 'static>() {}
    plain::<Clock>();
    plain::<Duration>();
    plain::<Timestamp>();
    plain::<Timeout>();
    plain::<NegativeDuration>();
    assert_eq!(std::mem::size_of::<Duration>(), 8);
    assert_eq!(std::mem::size_of::<Timestamp>(), 8);
    assert_eq!(std::mem::size_of::<Timeout>(), 16);
    assert_eq!(std::mem::size_of::<NegativeDuration>(), 0);
}

// ----- the clocks, read through the public `Io` -----

fn runtime() -> Kqueue {
    Kqueue::init(InitOptions { n_threads: Some(1), ..Default::default() }).expect("a runtime")
}

#[test]
fn every_clock_has_a_positive_resolution() {
    let rt = runtime();
    let io = rt.io();
    let all: std::collections::HashSet<Clock> = Clock::ALL.into_iter().collect();
    assert_eq!(all.len(), 5);
    for clock in Clock::ALL {
        let r = io.clock_resolution(clock);
        assert!(r > Duration::ZERO, "{clock:?}: {r}");
        assert!(r <= Duration::SECOND, "{clock:?}: {r}");
    }
}

#[test]
fn awake_and_boot_never_go_back_and_keep_pace_with_instant() {
    let rt = runtime();
    let io = rt.io();
    for clock in [Clock::Awake, Clock::Boot] {
        let mut last = io.now(clock);
        for _ in 0..10_000 {
            let t = io.now(clock);
            assert!(t >= last, "{clock:?} went back: {last:?} then {t:?}");
            last = t;
        }
        // Spin (no sleep) until std's monotonic clock has moved 2 ms: this clock moved as much,
        // up to rate differences between clocks (NTP slews CLOCK_MONOTONIC, not all others).
        let a = io.now(clock);
        let start = Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(2) {
            std::hint::spin_loop();
        }
        let elapsed = io.now(clock) - a;
        assert!(elapsed >= Duration::from_micros(1_900), "{clock:?} moved {elapsed}");
        assert!(elapsed < Duration::SECOND, "{clock:?} moved {elapsed}");
    }
}

#[test]
fn real_clock_matches_system_time() {
    let rt = runtime();
    let io = rt.io();
    let ours = io.now(Clock::Real);
    let std_ns = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64;
    let diff = (Timestamp::from_nanos(std_ns) - ours).abs();
    assert!(diff < Duration::SECOND, "real clock is {diff} off SystemTime");
    assert!(ours.as_nanos() > 1_577_836_800 * S, "after 2020");
}

#[test]
fn cpu_clocks_advance_with_work() {
    let rt = runtime();
    let io = rt.io();
    let thread_before = io.now(Clock::CpuThread);
    let process_before = io.now(Clock::CpuProcess);
    // Busy work until the thread's CPU clock has moved at least 1 ms (bounded by wall time so a
    // broken clock fails rather than hangs).
    let start = Instant::now();
    let mut x = 0u64;
    while io.now(Clock::CpuThread) - thread_before < Duration::MILLISECOND {
        for i in 0..10_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(10), "CpuThread is stuck");
    }
    let thread_after = io.now(Clock::CpuThread);
    let process_after = io.now(Clock::CpuProcess);
    assert!(thread_after > thread_before);
    assert!(process_after - process_before >= Duration::MILLISECOND, "the process ran the work");
    // The process has run at least as long as this thread of it.
    assert!(process_after >= thread_after);
}
