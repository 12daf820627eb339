//! `Duration`'s `Display` against a reference formatter written from Zig's rules
//! (`/work/shared/zig-io.md`, Zig's `Duration.format`): random values over the whole `i64` range,
//! weighted toward unit boundaries, negatives and the extremes; padding as for strings; and the
//! text read back never overstates the value and loses less than a thousandth of its last unit.
//! (The fixed table of Zig's own cases is in `tests/time_duration.rs`.)

use kqio::time::Duration;
use proptest::prelude::*;

const S: i128 = 1_000_000_000;
/// Whole units, largest first: Zig counts a year as 365 days.
const WHOLE: [(i128, &str); 5] = [
    (365 * 86_400 * S, "y"),
    (7 * 86_400 * S, "w"),
    (86_400 * S, "d"),
    (3_600 * S, "h"),
    (60 * S, "m"),
];
/// What is left under a minute: the largest unit it reaches, with up to 3 fraction digits.
const FRACTIONAL: [(i128, &str); 3] = [(S, "s"), (1_000_000, "ms"), (1_000, "us")];

/// The reference: Zig's rules, in 128-bit arithmetic and string operations.
fn reference(ns: i64) -> String {
    let mut out = String::new();
    if ns < 0 {
        out.push('-');
    }
    let mut left = (ns as i128).abs();
    for (unit, name) in WHOLE {
        if left >= unit {
            out += &format!("{}{name}", left / unit);
            left %= unit;
            if left == 0 {
                return out;
            }
        }
    }
    for (unit, name) in FRACTIONAL {
        if left >= unit {
            out += &(left / unit).to_string();
            let thousandths = format!("{:03}", left % unit * 1000 / unit);
            let digits = thousandths.trim_end_matches('0');
            if !digits.is_empty() {
                out += ".";
                out += digits;
            }
            return out + name;
        }
    }
    out + &format!("{left}ns")
}

/// Reads a formatted duration back into nanoseconds (the fraction as written), and the size of
/// its last unit.
fn read_back(text: &str) -> (i128, i128) {
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let mut total = 0i128;
    let mut last = 1;
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap();
        let (number, tail) = rest.split_at(number_end);
        let unit_end = tail.find(|c: char| c.is_ascii_digit()).unwrap_or(tail.len());
        let (name, tail) = tail.split_at(unit_end);
        let unit = match name {
            "ns" => 1,
            n => WHOLE.iter().chain(&FRACTIONAL).find(|u| u.1 == n).expect("a unit").0,
        };
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        assert!(frac.len() <= 3, "at most three fraction digits: {text}");
        total += whole.parse::<i128>().unwrap() * unit;
        if !frac.is_empty() {
            total += format!("{frac:0<3}").parse::<i128>().unwrap() * unit / 1000;
        }
        last = unit;
        rest = tail;
    }
    (if negative { -total } else { total }, last)
}

fn nanos() -> impl Strategy<Value = i64> {
    let units: Vec<i64> = WHOLE.iter().chain(&FRACTIONAL).map(|u| u.0 as i64).chain([1]).collect();
    prop_oneof![
        any::<i64>(),
        -10_000i64..10_000,
        -120_000_000_000i64..120_000_000_000,
        // A multiple of a unit, give or take a little: where carries and trailing zeros are.
        (prop::sample::select(units), -1000i64..1000, -3i64..4)
            .prop_map(|(unit, k, d)| unit.saturating_mul(k).saturating_add(d)),
        prop::sample::select(vec![i64::MIN, i64::MIN + 1, i64::MAX, i64::MAX - 1, 0, -1, 1]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn display_matches_the_reference(ns in nanos()) {
        let text = Duration::from_nanos(ns).to_string();
        prop_assert_eq!(&text, &reference(ns));
        let (read, last) = read_back(&text);
        let exact = ns as i128;
        // Truncation toward zero, by less than a thousandth of the last unit (exact in ns).
        prop_assert!(read.abs() <= exact.abs() && read.signum() * exact.signum() >= 0, "{text}");
        let lost = exact.abs() - read.abs();
        prop_assert!(lost == 0 || (last > 1 && lost < last / 1000 + 1), "{text} loses {lost}");
    }

    #[test]
    fn padding_is_as_for_strings(ns in nanos(), width in 0usize..32) {
        let d = Duration::from_nanos(ns);
        let r = reference(ns);
        prop_assert_eq!(format!("{d:width$}"), format!("{r:width$}"));
        prop_assert_eq!(format!("{d:<width$}"), format!("{r:<width$}"));
        prop_assert_eq!(format!("{d:>width$}"), format!("{r:>width$}"));
        prop_assert_eq!(format!("{d:*^width$}"), format!("{r:*^width$}"));
        // Precision is ignored (a string's would cut it).
        prop_assert_eq!(format!("{d:>width$.2}"), format!("{r:>width$}"));
    }
}

/// What the model found: a remainder under a second after whole minutes makes the longest text
/// (`999.999ms`, nine bytes, where `59.999s` is seven), which overflowed the formatter's fixed
/// buffer (23 bytes), so `to_string` panicked.
#[test]
fn the_longest_texts_format() {
    let cases = [
        (-3_384_183_120_010_041_000, "-107y16w1d18h52m10.041ms"),
        (3_405_801_540_999_999_000, "107y51w6d23h59m999.999ms"),
    ];
    for (ns, text) in cases {
        assert_eq!(Duration::from_nanos(ns).to_string(), text);
        assert_eq!(reference(ns), text);
    }
    // The longest of all: 25 bytes.
    let longest = -(107 * WHOLE[0].0 + 51 * WHOLE[1].0 + 6 * WHOLE[2].0 + 23 * WHOLE[3].0)
        - 59 * WHOLE[4].0
        - 999_999_000;
    let text = Duration::from_nanos(longest as i64).to_string();
    assert_eq!(text, "-107y51w6d23h59m999.999ms");
    assert_eq!(text, reference(longest as i64));
}
