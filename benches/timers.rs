//! Timers, side by side: kqio's timing wheel against tokio::time, each runtime with 2 workers,
//! in one process, in turn.
//!
//! Workloads:
//! - `sleeps_100k`: 100,000 concurrent sleeps of 1..=100 ms (pseudo-random, the same sequence
//!   for both runtimes); reports the total time until all have finished and the lateness of the
//!   sleeps (time a task resumed minus its deadline): p50, p99 and max over the 100,000.
//! - `sleeps_100k, bound`: the same sleeps spawned and awaited by a task instead of the main
//!   thread, on
//!   runtimes whose 2 workers are bound to one CPU each (kqio's `InitOptions::pin_workers`;
//!   tokio's workers bound the same way from `on_thread_start`). The plain run has three busy
//!   threads on two CPUs while it spawns (the main thread and both workers), and a kernel that
//!   packs threads onto fewer CPUs can keep both workers on one CPU while the other idles: this
//!   run takes both away, to show the timers' own lateness. Linux only (the tokio side binds
//!   with `sched_setaffinity`).
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

/// Spawns the 100,000 sleeps on kqio; the handles yield each sleep's lateness in nanoseconds.
fn kqio_spawn_sleeps(io: &kqio::IoRef) -> Vec<kqio::JoinHandle<i64>> {
    delays()
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
        .collect()
}

/// sleeps_100k on kqio, spawned and awaited by the main thread or (`from_task`) by a task.
fn kqio_sleeps(rt: &kqio::Kqueue, from_task: bool) -> (f64, Lateness) {
    async fn join(handles: Vec<kqio::JoinHandle<i64>>) -> Vec<i64> {
        let mut late = Vec::with_capacity(SLEEPS);
        for h in handles {
            late.push(h.await);
        }
        late
    }
    let io = rt.io();
    let started = Instant::now();
    let late = if from_task {
        let io2 = io.clone();
        rt.block_on(io.r#async(async move { join(kqio_spawn_sleeps(&io2)).await }))
    } else {
        let handles = kqio_spawn_sleeps(&io);
        rt.block_on(join(handles))
    };
    (started.elapsed().as_secs_f64() * 1e3, Lateness::of(late))
}

fn kqio_run(rt: &kqio::Kqueue) -> Figures {
    let io = rt.io();
    let (total_ms, late) = kqio_sleeps(rt, false);
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
    Figures { total_ms, late, pairs_per_s }
}

/// Spawns the 100,000 sleeps on tokio (from a worker or, through `handle`, from outside).
fn tokio_spawn_sleeps(handle: &tokio::runtime::Handle) -> Vec<tokio::task::JoinHandle<i64>> {
    delays()
        .into_iter()
        .map(|ms| {
            handle.spawn(async move {
                let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
                tokio::time::sleep_until(deadline).await;
                tokio::time::Instant::now().duration_since(deadline).as_nanos() as i64
            })
        })
        .collect()
}

/// sleeps_100k on tokio, spawned and awaited by the main thread or (`from_task`) by a task.
fn tokio_sleeps(rt: &tokio::runtime::Runtime, from_task: bool) -> (f64, Lateness) {
    async fn join(handles: Vec<tokio::task::JoinHandle<i64>>) -> Vec<i64> {
        let mut late = Vec::with_capacity(SLEEPS);
        for h in handles {
            late.push(h.await.unwrap());
        }
        late
    }
    let started = Instant::now();
    let late = if from_task {
        let handle = rt.handle().clone();
        rt.block_on(rt.spawn(async move { join(tokio_spawn_sleeps(&handle)).await })).unwrap()
    } else {
        let handles = tokio_spawn_sleeps(rt.handle());
        rt.block_on(join(handles))
    };
    (started.elapsed().as_secs_f64() * 1e3, Lateness::of(late))
}

fn tokio_run(rt: &tokio::runtime::Runtime) -> Figures {
    let (total_ms, late) = tokio_sleeps(rt, false);
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
    Figures { total_ms, late, pairs_per_s }
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
    bound_sleeps(iters);
}

/// sleeps_100k spawned and awaited by a task, on runtimes whose workers are bound to one CPU
/// each.
fn bound_sleeps(iters: usize) {
    let Some(tokio_bind) = bind::tokio_worker_binder() else {
        println!("sleeps_100k, bound: skipped (binding tokio's workers is written for Linux only)");
        return;
    };
    let krt = kqio::Kqueue::init(kqio::InitOptions {
        n_threads: Some(2),
        pin_workers: true,
        ..Default::default()
    })
    .expect("kqio with pin_workers");
    let trt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_start(tokio_bind)
        .enable_all()
        .build()
        .expect("tokio");
    kqio_sleeps(&krt, true);
    tokio_sleeps(&trt, true);
    let (mut k, mut t) = (Vec::new(), Vec::new());
    for _ in 0..iters {
        k.push(kqio_sleeps(&krt, true).1);
        t.push(tokio_sleeps(&trt, true).1);
    }
    println!(
        "sleeps_100k spawned and awaited by a task, 2 workers bound to one CPU each: \
         medians of {iters} runs"
    );
    type Column = fn(&Lateness) -> f64;
    let rows: [(&str, Column); 3] = [
        ("lateness p50 (ms)", |l| l.p50),
        ("lateness p99 (ms)", |l| l.p99),
        ("lateness max (ms)", |l| l.max),
    ];
    for (name, f) in rows {
        let a = median(k.iter().map(f).collect());
        let b = median(t.iter().map(f).collect());
        println!("{name:<34} {a:>12.3} {b:>12.3} {:>11.2}", a / b);
    }
}

/// Binding tokio's worker threads as `pin_workers` binds kqio's: the `i`-th thread started gets
/// the `i`-th CPU of the process's mask.
mod bind {
    #[cfg(target_os = "linux")]
    pub(super) fn tokio_worker_binder() -> Option<impl Fn() + Send + Sync + 'static> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        // SAFETY: an all-zero `cpu_set_t` is the empty set; pid 0 is this thread and the size
        // passed is the set's.
        let allowed: Vec<usize> = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            assert_eq!(libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set), 0);
            (0..8 * std::mem::size_of_val(&set)).filter(|&c| libc::CPU_ISSET(c, &set)).collect()
        };
        let next = AtomicUsize::new(0);
        Some(move || {
            let cpu = allowed[next.fetch_add(1, Ordering::Relaxed) % allowed.len()];
            // SAFETY: as above; `cpu` is one of the mask's, so below the set's size.
            unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(cpu, &mut set);
                assert_eq!(libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set), 0);
            }
        })
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn tokio_worker_binder() -> Option<fn()> {
        None
    }
}
