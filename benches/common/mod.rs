//! A small benchmark harness shared by the side-by-side benches (`mod common;`): no criterion,
//! just what a comparison of runtimes needs.
//!
//! Ground rules:
//!
//! 1. A comparison runs one workload on each contender (a closure per runtime): a few untimed
//!    warm-up runs each, then `iters` runs each, taken in interleaved turns and each timed on its
//!    own with [`Instant`]; [`Stats`] keeps the min, median and p90 of a contender's samples.
//! 2. Everything the closure does is timed: build runtimes and other fixtures outside it.
//! 3. A [`Watchdog`] covers every run, warm-up included: a run that has not finished after
//!    [`HANG_LIMIT`] is reported by name on stderr and the process exits with status 2, so a
//!    deadlocked runtime fails loudly instead of hanging the bench.
//! 4. Command line: the first argument that does not start with `-` is a name filter (substring);
//!    flags such as the `--bench` that cargo passes are ignored. `BENCH_ITERS=n` overrides every
//!    workload's iteration count.

#![allow(dead_code)] // Not every bench uses every helper.

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long one run may take before the watchdog calls it a hang: the slowest run of any bench
/// here takes well under a second, so a slow or busy machine never trips it; a deadlock always
/// does.
pub const HANG_LIMIT: Duration = Duration::from_secs(30);

/// The command line and environment of a bench run.
pub struct Args {
    /// Only workloads whose name contains this run (empty: all).
    pub filter: String,
    /// `BENCH_ITERS`, when set: measured iterations for every workload.
    pub iters: Option<usize>,
}

impl Args {
    /// Reads the filter from the command line and `BENCH_ITERS` from the environment.
    ///
    /// # Panics
    ///
    /// If `BENCH_ITERS` is set but is not a positive integer.
    pub fn parse() -> Args {
        let filter = std::env::args().skip(1).find(|a| !a.starts_with('-')).unwrap_or_default();
        let iters = std::env::var("BENCH_ITERS").ok().map(|v| match v.trim().parse() {
            Ok(n) if n > 0 => n,
            _ => panic!("BENCH_ITERS must be a positive integer, got {v:?}"),
        });
        Args { filter, iters }
    }

    /// Whether the workload called `name` is selected.
    pub fn selects(&self, name: &str) -> bool {
        name.contains(self.filter.as_str())
    }

    /// The iteration count for a workload whose default is `default`.
    pub fn iters_or(&self, default: usize) -> usize {
        self.iters.unwrap_or(default)
    }
}

/// Summary of one measurement's samples.
#[derive(Clone, Copy, Debug)]
pub struct Stats {
    pub min: Duration,
    pub median: Duration,
    pub p90: Duration,
    pub iters: usize,
}

impl Stats {
    /// Summarises `samples` (at least one).
    pub fn from_samples(mut samples: Vec<Duration>) -> Stats {
        assert!(!samples.is_empty(), "no samples");
        samples.sort_unstable();
        let n = samples.len();
        let median =
            if n % 2 == 1 { samples[n / 2] } else { (samples[n / 2 - 1] + samples[n / 2]) / 2 };
        // Nearest-rank p90: the smallest sample with at least 90% of the samples at or below it.
        let p90 = samples[(n * 9).div_ceil(10) - 1];
        Stats { min: samples[0], median, p90, iters: n }
    }
}

/// Times one workload on several contenders (runtimes), interleaved, and returns each one's
/// [`Stats`] in the order given.
///
/// Each contender first runs [`warmup_for`]`(iters)` untimed runs; then the contenders take turns
/// of [`TURN`] timed runs each until each has `iters`. Taking turns spreads any change in the
/// machine's background load over all contenders instead of charging it to whichever ran then.
pub fn compare(
    watchdog: &Watchdog,
    workload: &str,
    iters: usize,
    contenders: &mut [(&str, &mut dyn FnMut())],
) -> Vec<Stats> {
    for (name, run) in contenders.iter_mut() {
        for i in 0..warmup_for(iters) {
            watchdog.arm(format!("{workload} on {name}, warm-up run {}", i + 1));
            run();
        }
    }
    let mut samples: Vec<Vec<Duration>> =
        contenders.iter().map(|_| Vec::with_capacity(iters)).collect();
    let mut done = 0;
    while done < iters {
        let turn = TURN.min(iters - done);
        for ((name, run), samples) in contenders.iter_mut().zip(&mut samples) {
            for i in done..done + turn {
                watchdog.arm(format!("{workload} on {name}, run {} of {iters}", i + 1));
                let start = Instant::now();
                run();
                samples.push(start.elapsed());
            }
        }
        done += turn;
    }
    watchdog.disarm();
    samples.into_iter().map(Stats::from_samples).collect()
}

/// Timed runs a contender does before the next one takes its turn: long enough that a switch
/// (the previous runtime's workers going idle) is rare, short enough to interleave finely.
pub const TURN: usize = 10;

/// The warm-up count for `iters` measured runs: a tenth of them, at least 3.
pub fn warmup_for(iters: usize) -> usize {
    (iters / 10).max(3)
}

/// A thread that aborts the process when the run it was armed for overruns [`HANG_LIMIT`].
pub struct Watchdog {
    current: Arc<Mutex<Option<(String, Instant)>>>,
}

impl Watchdog {
    /// Starts the watchdog thread; it lives until the process exits.
    pub fn start() -> Watchdog {
        let current: Arc<Mutex<Option<(String, Instant)>>> = Arc::default();
        let watched = current.clone();
        thread::Builder::new()
            .name("bench-watchdog".into())
            .spawn(move || loop {
                thread::sleep(Duration::from_millis(250));
                if let Some((label, start)) = &*watched.lock().unwrap() {
                    if start.elapsed() > HANG_LIMIT {
                        eprintln!(
                            "\nHANG: {label} has not finished after {:?}; \
                             aborting the bench (the figures above are complete).",
                            HANG_LIMIT
                        );
                        std::process::exit(2);
                    }
                }
            })
            .expect("spawn the watchdog thread");
        Watchdog { current }
    }

    /// Starts the clock for the run named `label` (called before the run's own timer starts).
    fn arm(&self, label: String) {
        *self.current.lock().unwrap() = Some((label, Instant::now()));
    }

    fn disarm(&self) {
        *self.current.lock().unwrap() = None;
    }
}

/// CPU time (user + system) this process has used so far, from `getrusage`.
pub fn process_cpu_time() -> Duration {
    // SAFETY: `getrusage` only writes the `rusage` we pass, which is zeroed plain data, and
    // RUSAGE_SELF is valid on every unix.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        let rc = libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        assert_eq!(rc, 0, "getrusage failed");
        usage
    };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// The 1-minute load average, when the OS reports it: a hint of how noisy the figures are (on a
/// 2-core machine, anything above ~0.5 before the bench starts means something else is running).
pub fn load_average() -> Option<f64> {
    let mut load = [0.0f64; 1];
    // SAFETY: `getloadavg` writes at most `nelem` (1) doubles into the array we pass.
    let n = unsafe { libc::getloadavg(load.as_mut_ptr(), 1) };
    (n == 1).then_some(load[0])
}

/// Sleeps for `window` and returns the CPU time the process used meanwhile: with every runtime
/// idle it should be close to zero; a runtime whose idle workers spin shows here, and would steal
/// CPU from the runtime being measured.
pub fn idle_cpu(window: Duration) -> Duration {
    let before = process_cpu_time();
    thread::sleep(window);
    process_cpu_time().saturating_sub(before)
}

/// Formats a duration with three significant digits: `850 ns`, `12.3 µs`, `7.10 ms`, `1.25 s`.
pub fn fmt_duration(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    let decimals = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    format!("{value:.decimals$} {unit}")
}

/// Prints one measurement as it finishes: `workload  runtime  min .. median .. p90`.
pub fn print_stats(workload: &str, runtime: &str, s: &Stats) {
    println!(
        "  {workload:<24} {runtime:<11} min {:>9}   median {:>9}   p90 {:>9}   ({} runs)",
        fmt_duration(s.min),
        fmt_duration(s.median),
        fmt_duration(s.p90),
        s.iters
    );
}

/// Prints the summary table: one row per workload with each runtime's median, then the ratio of
/// the first runtime's median to each other's (below 1.0: the first runtime is faster).
pub fn print_table(runtimes: &[&str], rows: &[(&str, Vec<Stats>)]) {
    let (first, others) = runtimes.split_first().expect("at least one runtime");
    let mut header = format!("{:<24}", "workload");
    for r in runtimes {
        header += &format!(" {r:<11}");
    }
    for o in others {
        header += &format!(" {:<15}", format!("{first}/{o}"));
    }
    println!("{}", header.trim_end());
    for (name, stats) in rows {
        let mut line = format!("{name:<24}");
        for s in stats {
            line += &format!(" {:<11}", fmt_duration(s.median));
        }
        for s in &stats[1..] {
            let ratio = stats[0].median.as_secs_f64() / s.median.as_secs_f64();
            line += &format!(" {:<15}", format!("{ratio:.2}"));
        }
        println!("{}", line.trim_end());
    }
}

/// An async-executor with `workers` threads, each running it inside `async_io::block_on` (so
/// that async-io's reactor is driven, as smol does); stopped and joined on drop.
pub struct SmolPool {
    pub ex: std::sync::Arc<async_executor::Executor<'static>>,
    stop: Option<async_channel::Sender<()>>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl SmolPool {
    pub fn new(workers: usize) -> SmolPool {
        let ex = std::sync::Arc::new(async_executor::Executor::new());
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let threads = (0..workers)
            .map(|_| {
                let (ex, stopped) = (ex.clone(), stopped.clone());
                thread::spawn(move || {
                    let _ = async_io::block_on(ex.run(stopped.recv()));
                })
            })
            .collect();
        SmolPool { ex, stop: Some(stop), threads }
    }
}

impl Drop for SmolPool {
    fn drop(&mut self) {
        drop(self.stop.take());
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
