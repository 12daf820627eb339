//! Seeds and runs of many seeds: `KQIO_SIM_SEED`, `KQIO_SIM_SEEDS`, and the command that
//! replays a failed seed.
//!
//! Ground rules:
//! 1. A seed from the environment always wins over the code's, so that the command printed
//!    with a failure replays it without editing the test.
//! 2. The replay command names the test binary and the test (libtest names each test's thread
//!    after the test), so it runs that one test with that one seed.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use super::{SimError, SimReport};

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

/// The command that replays `seed` in this program: the test binary with the current test's
/// name (under `cargo test`), or the program with its arguments, with `KQIO_SIM_SEED` set.
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
            let cargo = if target == env!("CARGO_PKG_NAME") {
                "cargo test --lib".to_owned()
            } else {
                format!("cargo test --test {target}")
            };
            format!("KQIO_SIM_SEED={seed} {cargo} -- --exact {test}   (or: KQIO_SIM_SEED={seed} {exe} --exact {test})")
        }
        None => {
            let rest: Vec<String> = args.collect();
            format!("KQIO_SIM_SEED={seed} {exe} {}", rest.join(" ")).trim_end().to_owned()
        }
    }
}

/// Runs `run` with seeds `0..n` (`n` replaced by `KQIO_SIM_SEEDS` when set; only the seed of
/// `KQIO_SIM_SEED` when that is set). With `KQIO_SIM_CHECK_REPLAY=1` each seed runs twice and
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
    let seeds: Vec<u64> = match env_u64("KQIO_SIM_SEED") {
        Some(seed) => vec![seed],
        None => (0..env_u64("KQIO_SIM_SEEDS").unwrap_or(n)).collect(),
    };
    let twice = std::env::var("KQIO_SIM_CHECK_REPLAY").is_ok_and(|v| v == "1");
    let mut once = |seed: u64| -> SimReport {
        match catch_unwind(AssertUnwindSafe(|| run(seed))) {
            Ok(Ok(report)) => report,
            Ok(Err(e)) => panic!("{e}\n  replay with: {}", replay_command(seed)),
            Err(payload) => {
                eprintln!(
                    "kqio::sim seed {seed} panicked\n  replay with: {}",
                    replay_command(seed)
                );
                resume_unwind(payload)
            }
        }
    };
    for &seed in &seeds {
        let first = once(seed);
        if twice {
            let second = once(seed);
            assert_eq!(
                first.log_hash,
                second.log_hash,
                "kqio::sim seed {seed}: two runs gave different event logs (the run is not \
                 deterministic)\n  replay with: {}",
                replay_command(seed)
            );
        }
    }
    seeds.len() as u64
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
        assert!(cmd.starts_with("KQIO_SIM_SEED=9 cargo test --lib"), "{cmd}");
        assert!(cmd.contains("replay_command_names_this_test"), "{cmd}");
    }
}
