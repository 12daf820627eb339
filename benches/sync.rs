//! Side-by-side figures for `kqio::sync`: the same workload on kqio, on tokio (multi-thread
//! runtime, `tokio::sync`), and on async-executor (with `async-lock` / `async-channel`), in one
//! process, in turn. Prints each one's median and the ratio of kqio to the best peer.
//!
//! Run it with `cargo bench --bench sync`. A benchmark is never a test: it asserts only that the
//! work was done (the counts), and prints figures.
//!
//! Workloads:
//! - `mutex`: 2 workers, 64 tasks × 10,000 lock/unlock of a counter (a short critical section).
//! - `queue`: 2 workers, 4 producers × 250,000 items into a bounded queue of capacity 1,024,
//!   4 consumers. tokio's `mpsc` has a single receiver, so its 4 consumers share it behind a
//!   `tokio::sync::Mutex` (the usual pattern; it serializes the consumers). `async-channel` is
//!   MPMC like kqio's `Queue`.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs per case; the median is printed. One more round before them warms up.
const RUNS: usize = 10;
/// Workers of every runtime (the machine this was tuned on has 2 cores).
const WORKERS: usize = 2;

const MUTEX_TASKS: usize = 64;
const MUTEX_ITERS: usize = 10_000;

const QUEUE_CAP: usize = 1024;
const PRODUCERS: usize = 4;
const CONSUMERS: usize = 4;
const PER_PRODUCER: u64 = 250_000;
const QUEUE_SUM: u64 = PRODUCERS as u64 * PER_PRODUCER * (PER_PRODUCER - 1) / 2;

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

// ----- runtimes -----

struct Kqio(kqio::Kqueue);

impl Kqio {
    fn new() -> Self {
        Kqio(
            kqio::Kqueue::init(kqio::InitOptions {
                n_threads: Some(WORKERS),
                ..Default::default()
            })
            .unwrap(),
        )
    }
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(WORKERS).build().unwrap()
}

/// An async-executor with `WORKERS` threads running it.
struct AsyncExec {
    ex: Arc<async_executor::Executor<'static>>,
    stop: Option<async_channel::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl AsyncExec {
    fn new() -> Self {
        let ex = Arc::new(async_executor::Executor::new());
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let threads = (0..WORKERS)
            .map(|_| {
                let (ex, stopped) = (ex.clone(), stopped.clone());
                std::thread::spawn(move || {
                    let _ = futures_lite::future::block_on(ex.run(stopped.recv()));
                })
            })
            .collect();
        AsyncExec { ex, stop: Some(stop), threads }
    }

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        futures_lite::future::block_on(f)
    }
}

impl Drop for AsyncExec {
    fn drop(&mut self) {
        drop(self.stop.take());
        for t in self.threads.drain(..) {
            t.join().unwrap();
        }
    }
}

// ----- mutex -----

fn mutex_kqio(rt: &Kqio) {
    let io = rt.0.io();
    let m = Arc::new(kqio::sync::Mutex::new(0usize));
    let total = rt.0.block_on(async {
        let tasks: Vec<_> = (0..MUTEX_TASKS)
            .map(|_| {
                let m = m.clone();
                io.r#async(async move {
                    for _ in 0..MUTEX_ITERS {
                        *m.lock().await.unwrap() += 1;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
        *m.lock().await.unwrap()
    });
    assert_eq!(total, MUTEX_TASKS * MUTEX_ITERS);
}

fn mutex_tokio(rt: &tokio::runtime::Runtime) {
    let m = Arc::new(tokio::sync::Mutex::new(0usize));
    let total = rt.block_on(async {
        let tasks: Vec<_> = (0..MUTEX_TASKS)
            .map(|_| {
                let m = m.clone();
                tokio::spawn(async move {
                    for _ in 0..MUTEX_ITERS {
                        *m.lock().await += 1;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        *m.lock().await
    });
    assert_eq!(total, MUTEX_TASKS * MUTEX_ITERS);
}

fn mutex_async_lock(rt: &AsyncExec) {
    let m = Arc::new(async_lock::Mutex::new(0usize));
    let total = rt.block_on(async {
        let tasks: Vec<_> = (0..MUTEX_TASKS)
            .map(|_| {
                let m = m.clone();
                rt.ex.spawn(async move {
                    for _ in 0..MUTEX_ITERS {
                        *m.lock().await += 1;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
        *m.lock().await
    });
    assert_eq!(total, MUTEX_TASKS * MUTEX_ITERS);
}

// ----- queue -----

fn queue_kqio(rt: &Kqio) {
    let io = rt.0.io();
    let q = Arc::new(kqio::sync::Queue::new(QUEUE_CAP));
    let sum = rt.0.block_on(async {
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| {
                let q = q.clone();
                io.r#async(async move {
                    let mut sum = 0u64;
                    while let Ok(v) = q.get_one().await {
                        sum += v;
                    }
                    sum
                })
            })
            .collect();
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|_| {
                let q = q.clone();
                io.r#async(async move {
                    for i in 0..PER_PRODUCER {
                        q.put_one(i).await.unwrap();
                    }
                })
            })
            .collect();
        for p in producers {
            p.await;
        }
        q.close();
        let mut sum = 0;
        for c in consumers {
            sum += c.await;
        }
        sum
    });
    assert_eq!(sum, QUEUE_SUM);
}

fn queue_tokio(rt: &tokio::runtime::Runtime) {
    let sum = rt.block_on(async {
        let (tx, rx) = tokio::sync::mpsc::channel::<u64>(QUEUE_CAP);
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| {
                let rx = rx.clone();
                tokio::spawn(async move {
                    let mut sum = 0u64;
                    while let Some(v) = rx.lock().await.recv().await {
                        sum += v;
                    }
                    sum
                })
            })
            .collect();
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|_| {
                let tx = tx.clone();
                tokio::spawn(async move {
                    for i in 0..PER_PRODUCER {
                        tx.send(i).await.unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        for p in producers {
            p.await.unwrap();
        }
        let mut sum = 0;
        for c in consumers {
            sum += c.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, QUEUE_SUM);
}

fn queue_async_channel(rt: &AsyncExec) {
    let sum = rt.block_on(async {
        let (tx, rx) = async_channel::bounded::<u64>(QUEUE_CAP);
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| {
                let rx = rx.clone();
                rt.ex.spawn(async move {
                    let mut sum = 0u64;
                    while let Ok(v) = rx.recv().await {
                        sum += v;
                    }
                    sum
                })
            })
            .collect();
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|_| {
                let tx = tx.clone();
                rt.ex.spawn(async move {
                    for i in 0..PER_PRODUCER {
                        tx.send(i).await.unwrap();
                    }
                })
            })
            .collect();
        drop((tx, rx));
        for p in producers {
            p.await;
        }
        let mut sum = 0;
        for c in consumers {
            sum += c.await;
        }
        sum
    });
    assert_eq!(sum, QUEUE_SUM);
}

// ----- table -----

/// Runs the three cases of one workload in turn, `RUNS` times (after one warm-up round), so
/// that noise on the machine falls on all of them alike; returns their medians.
fn interleaved(mut cases: [&mut dyn FnMut(); 3]) -> [Duration; 3] {
    for case in cases.iter_mut() {
        case();
    }
    let mut times: [Vec<Duration>; 3] = Default::default();
    for _ in 0..RUNS {
        for (case, t) in cases.iter_mut().zip(times.iter_mut()) {
            let start = Instant::now();
            case();
            t.push(start.elapsed());
        }
    }
    times.map(median)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn row(name: &str, [kqio, tokio, other]: [Duration; 3]) {
    let best = tokio.min(other);
    println!(
        "| {name} | {} | {} | {} | {:.2} |",
        ms(kqio),
        ms(tokio),
        ms(other),
        kqio.as_secs_f64() / best.as_secs_f64()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument (if any) selects workloads by name.
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));

    let (k, t, a) = (Kqio::new(), tokio_rt(), AsyncExec::new());
    println!("kqio::sync vs peers: {WORKERS} workers each, median of {RUNS} interleaved runs");
    println!();
    println!("| workload | kqio | tokio | async-executor | kqio / best peer |");
    println!("| --- | --- | --- | --- | --- |");
    if wanted("mutex") {
        let times = interleaved([&mut || mutex_kqio(&k), &mut || mutex_tokio(&t), &mut || {
            mutex_async_lock(&a)
        }]);
        let name = format!(
            "mutex: {MUTEX_TASKS} tasks x {MUTEX_ITERS} lock/unlock \
             (`tokio::sync::Mutex`; `async-lock`)"
        );
        row(&name, times);
    }
    if wanted("queue") {
        let times = interleaved([&mut || queue_kqio(&k), &mut || queue_tokio(&t), &mut || {
            queue_async_channel(&a)
        }]);
        let name = format!(
            "queue: {PRODUCERS} x {PER_PRODUCER} items, capacity {QUEUE_CAP}, {CONSUMERS} \
             consumers (`tokio::sync::mpsc`, shared receiver; `async-channel`)"
        );
        row(&name, times);
    }
}
