//! Timers, side by side: kqio's timing wheel against tokio::time, each runtime with 2 workers,
//! in one process, in turn.
//!
//! Workloads:
//! - `sleeps_100k`: 100,000 concurrent sleeps of 1..=100 ms (pseudo-random, the same sequence
//!   for both runtimes); reports the total time until all have finished and the lateness of the
//!   sleeps (time a task resumed minus its deadline): p50, p99 and max over the 100,000.
//! - `insert_cancel_1m`: 1,000,000 timers created, registered (polled once) and dropped before
//!   they fire, from one task: timer insert+cancel pairs per second.
//!
//! - `cascade`: the timing wheel alone (`kqio::kqueue::timer_cascade_cost`), the wall time of
//!   each step that moves a level-1 slot's entries (about 16,000 with sleeps_100k's deadlines)
//!   down to level 0: p50 and max over all such steps of `BENCH_ITERS` runs.
//!
//! The ratio column is kqio divided by tokio: below 1.0 means kqio is faster (for lateness:
//! closer to the deadline). Memory: kqio's timer entry size is printed from `Kqueue::metrics`'s
//! companion constant `kqio::kqueue::TIMER_ENTRY_BYTES`.

use std::future::Future;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use kqio::time::{Clock, Timeout};

const SLEEPS: usize = 100_000;
const PAIRS: usize = 1_000_000;

fn delays() -> Vec<u64> {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    (0..SLEEPS)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            1 + seed % 100
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

struct Figures {
    total_ms: f64,
    late: Lateness,
    pairs_per_s: f64,
}

/// Lateness of one run's sleeps, in milliseconds.
struct Lateness {
    p50: f64,
    p99: f64,
    max: f64,
}

impl Lateness {
    fn of(mut nanos: Vec<i64>) -> Lateness {
        nanos.sort_unstable();
        let at = |q: f64| nanos[((nanos.len() - 1) as f64 * q) as usize] as f64 / 1e6;
        Lateness { p50: at(0.50), p99: at(0.99), max: at(1.0) }
    }
}

fn kqio_run(rt: &kqio::Kqueue) -> Figures {
    let io = rt.io();
    let started = Instant::now();
    let handles: Vec<_> = delays()
        .into_iter()
        .map(|ms| {
            let io2 = io.clone();
            io.r#async(async move {
                let deadline = io2
                    .now(Clock::Awake)
                    .saturating_add(kqio::time::Duration::from_millis(ms as i64));
                io2.sleep(Timeout::Deadline { deadline, clock: Clock::Awake }).await.unwrap();
                io2.now(Clock::Awake).as_nanos() - deadline.as_nanos()
            })
        })
        .collect();
    let late = rt.block_on(async {
        let mut late = Vec::with_capacity(SLEEPS);
        for h in handles {
            late.push(h.await);
        }
        late
    });
    let total_ms = started.elapsed().as_secs_f64() * 1e3;
    let io2 = io.clone();
    let started = Instant::now();
    rt.block_on(io.r#async(async move {
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        for _ in 0..PAIRS {
            let mut s = std::pin::pin!(
                io2.sleep(Timeout::after(kqio::time::Duration::from_millis(60_000)))
            );
            assert!(s.as_mut().poll(&mut cx).is_pending());
        }
    }));
    let pairs_per_s = PAIRS as f64 / started.elapsed().as_secs_f64();
    Figures { total_ms, late: Lateness::of(late), pairs_per_s }
}

fn tokio_run(rt: &tokio::runtime::Runtime) -> Figures {
    let started = Instant::now();
    let handles: Vec<_> = delays()
        .into_iter()
        .map(|ms| {
            rt.spawn(async move {
                let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
                tokio::time::sleep_until(deadline).await;
                tokio::time::Instant::now().duration_since(deadline).as_nanos() as i64
            })
        })
        .collect();
    let late = rt.block_on(async {
        let mut late = Vec::with_capacity(SLEEPS);
        for h in handles {
            late.push(h.await.unwrap());
        }
        late
    });
    let total_ms = started.elapsed().as_secs_f64() * 1e3;
    let started = Instant::now();
    rt.block_on(async {
        tokio::spawn(async {
            let waker = futures::task::noop_waker();
            let mut cx = Context::from_waker(&waker);
            for _ in 0..PAIRS {
                let mut s = std::pin::pin!(tokio::time::sleep(Duration::from_secs(60)));
                assert!(matches!(s.as_mut().poll(&mut cx), Poll::Pending));
            }
        })
        .await
        .unwrap()
    });
    let pairs_per_s = PAIRS as f64 / started.elapsed().as_secs_f64();
    Figures { total_ms, late: Lateness::of(late), pairs_per_s }
}

fn main() {
    let iters: usize = std::env::var("BENCH_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let krt = kqio::Kqueue::init(kqio::InitOptions { n_threads: Some(2), ..Default::default() })
        .expect("kqio");
    let trt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    // Warm-up.
    kqio_run(&krt);
    tokio_run(&trt);
    let (mut k, mut t) = (Vec::new(), Vec::new());
    for _ in 0..iters {
        k.push(kqio_run(&krt));
        t.push(tokio_run(&trt));
    }
    let col = |v: &[Figures], f: fn(&Figures) -> f64| median(v.iter().map(f).collect());
    println!("timers: medians of {iters} runs, 2 workers each");
    println!("{:<34} {:>12} {:>12} {:>11}", "workload", "kqio", "tokio", "kqio/tokio");
    type Column = fn(&Figures) -> f64;
    let rows: [(&str, Column); 5] = [
        ("sleeps_100k total (ms)", |f| f.total_ms),
        ("sleeps_100k lateness p50 (ms)", |f| f.late.p50),
        ("sleeps_100k lateness p99 (ms)", |f| f.late.p99),
        ("sleeps_100k lateness max (ms)", |f| f.late.max),
        ("insert_cancel_1m (M pairs/s)", |f| f.pairs_per_s / 1e6),
    ];
    for (name, f) in rows {
        let (a, b) = (col(&k, f), col(&t, f));
        println!("{name:<34} {a:>12.3} {b:>12.3} {:>11.2}", a / b);
    }
    println!("(for M pairs/s, higher is better: a ratio above 1.0 means kqio is faster)");
    println!("kqio timer entry: {} bytes in the wheel's slab", kqio::kqueue::TIMER_ENTRY_BYTES);
    // The wheel's cascade on its own: sleeps_100k's deadlines put about 16,000 entries in each
    // level-1 slot; processing one moves them all to level 0.
    let mut steps = Vec::new();
    let mut entries = 0;
    for _ in 0..iters {
        let cost = kqio::kqueue::timer_cascade_cost(SLEEPS);
        entries = entries.max(cost.entries.iter().copied().max().unwrap_or(0));
        steps.extend(cost.step_ns.iter().map(|&ns| ns as f64 / 1e6));
    }
    let max = steps.iter().copied().fold(0.0, f64::max);
    println!(
        "kqio wheel cascade of a level-1 slot (up to {entries} entries): p50 {:.3} ms, max {max:.3} ms",
        median(steps)
    );
}
