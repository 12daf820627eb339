//! Seeds and runs of many seeds: `KQIO_SIM_SEED`, `KQIO_SIM_SEEDS`, `KQIO_SIM_CHECK_REPLAY`,
//! and the command that replays a failed seed.
//!
//! Ground rules:
//! 1. A seed from the environment always wins over the code's, so that the command printed
//!    with a failure replays it without editing the test: every loop over seeds takes them from
//!    [`seeds`] (or [`run_seeds`]).
//! 2. The replay command names the test binary, the features kqio was built with, and the test
//!    (libtest names each test's thread after the test), so it runs that one test with that one
//!    seed.
//! 3. Determinism is checked in one place: [`run_seeds`] and [`check_replay`] run each seed
//!    twice under `KQIO_SIM_CHECK_REPLAY=1` (and [`replay_twice`] always) and compare the two
//!    runs' event-log hashes and outputs.

use std::fmt;
use std::ops::Range;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use super::{Sim, SimError, SimOptions, SimReport};

fn parse_seed(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    match parse_seed(&v) {
        Some(n) => Some(n),
        None => panic!("kqio::sim: {name}={v:?} is not a number (decimal, or hex with 0x)"),
    }
}

/// The seed to run: `KQIO_SIM_SEED` if set (decimal, or hexadecimal with `0x`), else `default`.
///
/// # Panics
///
/// If `KQIO_SIM_SEED` is set to something that is not a number.
pub fn seed_from_env(default: u64) -> u64 {
    env_u64("KQIO_SIM_SEED").unwrap_or(default)
}

/// The seeds a loop over seeds runs: only `KQIO_SIM_SEED` when that is set; else `default`,
/// or, with `KQIO_SIM_SEEDS=n`, the `n` seeds from `default.start`. A test that loops over
/// seeds by hand takes them from here, so that the replay command printed for a failing seed
/// (which sets `KQIO_SIM_SEED`) runs that seed. A test that asserts something of its seeds
/// together ("some seed finds the bug") checks it only when it ran enough of them.
///
/// # Panics
///
/// If `KQIO_SIM_SEED` or `KQIO_SIM_SEEDS` is set to something that is not a number.
///
/// # Examples
///
/// ```
/// for seed in kqio::sim::seeds(1..6) {
///     let mut sim = kqio::sim::Sim::new(kqio::sim::SimOptions { seed, ..Default::default() });
///     sim.run().unwrap();
/// }
/// ```
pub fn seeds(default: Range<u64>) -> Vec<u64> {
    match env_u64("KQIO_SIM_SEED") {
        Some(seed) => vec![seed],
        None => match env_u64("KQIO_SIM_SEEDS") {
            Some(n) => (default.start..default.start.saturating_add(n)).collect(),
            None => default.collect(),
        },
    }
}

/// Whether `KQIO_SIM_CHECK_REPLAY=1` asks for every seed to run twice.
fn replay_checks_on() -> bool {
    std::env::var("KQIO_SIM_CHECK_REPLAY").is_ok_and(|v| v == "1")
}

/// ` --features a,b` for the optional features this build of kqio has, or nothing.
fn features_flag() -> String {
    let features: Vec<&str> = [
        (cfg!(feature = "hyper"), "hyper"),
        (cfg!(feature = "tokio-io"), "tokio-io"),
        (cfg!(feature = "tracing"), "tracing"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    if features.is_empty() {
        String::new()
    } else {
        format!(" --features {}", features.join(","))
    }
}

/// The command that replays `seed` in this program: the test binary with the current test's
/// name (under `cargo test`), or the program with its arguments, with `KQIO_SIM_SEED` set.
///
/// The `cargo test` form names the optional features kqio itself was built with (`--features
/// hyper,tokio-io`, as the test binary needs them when its `required-features` do). Features
/// of the crate under test other than kqio's cannot be known from here: the other form, the
/// test binary itself, needs none.
pub fn replay_command(seed: u64) -> String {
    let mut args = std::env::args();
    let exe = args.next().unwrap_or_default();
    let thread = std::thread::current();
    let test = thread.name().filter(|n| *n != "main");
    match test {
        Some(test) => {
            // `target/debug/deps/sim_world-0123456789abcdef` -> `sim_world`.
            let file = std::path::Path::new(&exe)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let target = match file.rsplit_once('-') {
                Some((name, hash))
                    if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) =>
                {
                    name.to_owned()
                }
                _ => file,
            };
            let features = features_flag();
            let cargo = if target == env!("CARGO_PKG_NAME") {
                format!("cargo test{features} --lib")
            } else {
                format!("cargo test{features} --test {target}")
            };
            format!("KQIO_SIM_SEED={seed} {cargo} -- --exact {test}   (or: KQIO_SIM_SEED={seed} {exe} --exact {test})")
        }
        None => {
            let rest: Vec<String> = args.collect();
            format!("KQIO_SIM_SEED={seed} {exe} {}", rest.join(" ")).trim_end().to_owned()
        }
    }
}

/// Runs `run(seed)`; a panic of it is re-raised after printing the seed and its replay command.
fn run_once<T>(seed: u64, run: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(out) => out,
        Err(payload) => {
            eprintln!("kqio::sim seed {seed} panicked\n  replay with: {}", replay_command(seed));
            resume_unwind(payload)
        }
    }
}

/// Asserts that two runs of `seed` agree: their event-log hashes, then their outputs.
fn assert_replayed<T: PartialEq + fmt::Debug>(seed: u64, first: (&T, u64), second: (&T, u64)) {
    assert!(
        first.1 == second.1,
        "kqio::sim seed {seed}: two runs gave different event logs ({:#x} and {:#x}: the run \
         is not deterministic)\n  replay with: {}",
        first.1,
        second.1,
        replay_command(seed)
    );
    assert!(
        first.0 == second.0,
        "kqio::sim seed {seed}: two runs with the same event log gave different outputs: {:?} \
         and {:?}\n  replay with: {}",
        first.0,
        second.0,
        replay_command(seed)
    );
}

/// Runs `run` with each seed of [`seeds(0..n)`](seeds) (`KQIO_SIM_SEEDS` replaces `n`,
/// `KQIO_SIM_SEED` runs that seed only). With `KQIO_SIM_CHECK_REPLAY=1` each seed runs twice and
/// the two runs' log hashes must match. Returns how many seeds ran.
///
/// # Panics
///
/// On the first seed that fails (an error, a panic of `run`, or two hashes that differ), after
/// printing the seed and the command that replays it.
///
/// # Examples
///
/// ```
/// use kqio::sim::{run_seeds, Sim, SimOptions};
///
/// run_seeds(3, |seed| {
///     let mut sim = Sim::new(SimOptions { seed, ..Default::default() });
///     let c = sim.client("c", |io: kqio::IoRef| async move { io.r#async(async { 1 }).await });
///     let report = sim.run()?;
///     assert_eq!(c.output(), Some(1));
///     Ok(report)
/// });
/// ```
pub fn run_seeds<F>(n: u64, mut run: F) -> u64
where
    F: FnMut(u64) -> Result<SimReport, SimError>,
{
    let seeds = seeds(0..n);
    let twice = replay_checks_on();
    let mut once = |seed: u64| -> SimReport {
        match run_once(seed, || run(seed)) {
            Ok(report) => report,
            Err(e) => panic!("{e}\n  replay with: {}", replay_command(seed)),
        }
    };
    for &seed in &seeds {
        let first = once(seed);
        if twice {
            let second = once(seed);
            assert_replayed(seed, (&(), first.log_hash), (&(), second.log_hash));
        }
    }
    seeds.len() as u64
}

/// Runs `scenario` on a new [`Sim`] of `options`, twice under `KQIO_SIM_CHECK_REPLAY=1` (as
/// [`replay_twice`]), and returns its output.
///
/// `scenario` does the whole run: adds the hosts, runs the world (in one [`run`](Sim::run), or
/// step by step with crashes and restarts between), checks what it needs and returns what the
/// two runs must agree on (a client's output, an error; `()` if it checks everything itself).
/// After it returns, the world's event-log hash ([`Sim::log_hash`]) is taken, so a scenario that
/// ends in a [`SimError`] is compared too. The seed is `options.seed` as given: take it from
/// [`seeds`] in a loop, or from [`seed_from_env`] for one seed, so that the printed replay
/// command replays it.
///
/// # Panics
///
/// When `scenario` panics, after printing the seed and the command that replays it; when two
/// runs' log hashes or outputs differ.
///
/// # Examples
///
/// ```
/// use kqio::sim::{check_replay, seeds, SimOptions};
/// use kqio::time::{Duration, Timeout};
///
/// for seed in seeds(0..3) {
///     let slept = check_replay(SimOptions { seed, ..Default::default() }, |sim| {
///         let c = sim.client("c", |io: kqio::IoRef| async move {
///             io.sleep(Timeout::after(Duration::SECOND)).await.unwrap();
///         });
///         sim.run().unwrap();
///         c.output().is_some()
///     });
///     assert!(slept);
/// }
/// ```
pub fn check_replay<T, F>(options: SimOptions, scenario: F) -> T
where
    F: FnMut(&mut Sim) -> T,
    T: PartialEq + fmt::Debug,
{
    replay(options, scenario, replay_checks_on())
}

/// Runs `scenario` on a new [`Sim`] of `options` twice, always, and asserts that the two runs
/// have the same event-log hash and the same output; returns the output. For a test of replay
/// itself; other tests use [`check_replay`], which runs twice only under
/// `KQIO_SIM_CHECK_REPLAY=1`.
///
/// # Panics
///
/// As [`check_replay`].
pub fn replay_twice<T, F>(options: SimOptions, scenario: F) -> T
where
    F: FnMut(&mut Sim) -> T,
    T: PartialEq + fmt::Debug,
{
    replay(options, scenario, true)
}

fn replay<T, F>(options: SimOptions, mut scenario: F, twice: bool) -> T
where
    F: FnMut(&mut Sim) -> T,
    T: PartialEq + fmt::Debug,
{
    let seed = options.seed;
    let mut once = || {
        let mut sim = Sim::new(options.clone());
        let out = run_once(seed, || scenario(&mut sim));
        (out, sim.log_hash())
    };
    let first = once();
    if twice {
        let second = once();
        assert_replayed(seed, (&first.0, first.1), (&second.0, second.1));
    }
    first.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_parse_in_decimal_and_hex() {
        assert_eq!(parse_seed("42"), Some(42));
        assert_eq!(parse_seed(" 0x2a "), Some(42));
        assert_eq!(parse_seed("x"), None);
    }

    #[test]
    fn replay_command_names_this_test() {
        let cmd = replay_command(9);
        let cargo = format!("KQIO_SIM_SEED=9 cargo test{} --lib", features_flag());
        assert!(cmd.starts_with(&cargo), "{cmd}");
        assert!(cmd.contains("replay_command_names_this_test"), "{cmd}");
    }

    #[test]
    fn replay_command_names_the_features_kqio_was_built_with() {
        let cmd = replay_command(9);
        let hyper = cmd.contains("--features hyper");
        assert_eq!(hyper, cfg!(feature = "hyper"), "{cmd}");
        if cfg!(feature = "hyper") && cfg!(feature = "tokio-io") {
            assert!(cmd.contains("cargo test --features hyper,tokio-io --lib"), "{cmd}");
        }
        if !cfg!(any(feature = "hyper", feature = "tokio-io", feature = "tracing")) {
            assert!(!cmd.contains("--features"), "{cmd}");
        }
    }

    #[test]
    fn seeds_default_to_the_range() {
        if std::env::var_os("KQIO_SIM_SEED").is_none()
            && std::env::var_os("KQIO_SIM_SEEDS").is_none()
        {
            assert_eq!(seeds(1..4), vec![1, 2, 3]);
        }
    }
}
