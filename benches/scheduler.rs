//! Scheduler benchmark: tokio's five runtime workloads (from tokio's
//! `benches/rt_multi_threaded.rs`) on kqio, tokio (multi-thread) and async-executor, each with 2
//! worker threads, in turn, in one process.
//!
//! Workloads:
//! - `spawn_many_local`: a task spawns 10,000 tasks; the last to finish signals a oneshot.
//! - `spawn_many_remote_idle`: 10,000 tasks spawned from outside the runtime, then awaited.
//! - `yield_many`: 200 tasks each yield 1,000 times.
//! - `ping_pong`: 1,000 tasks, each spawns a partner and exchanges a oneshot message with it.
//! - `chained_spawn`: each of 1,000 tasks spawns the next; the last signals a oneshot.
//!
//! Every runtime uses the same runtime-agnostic pieces: `futures::channel::oneshot` and
//! `futures_lite::future::yield_now`. Printed: the median (and min) of each, and the ratios
//! kqio/tokio and kqio/async-executor; below 1.0 means kqio is faster.
//!
//! `cargo bench --bench scheduler [filter]`; `BENCH_ITERS=n` sets the iterations (default 50).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::channel::oneshot;

const NUM_SPAWN: usize = 10_000;
const NUM_YIELD_TASKS: usize = 200;
const NUM_YIELDS: usize = 1_000;
const NUM_PINGS: usize = 1_000;
const CHAIN: usize = 1_000;

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A spawner usable from inside tasks: the runtime's spawn, behind an `Arc`.
type Spawner = Arc<dyn Fn(BoxFuture) + Send + Sync>;

/// What a workload needs of a runtime: a spawner, spawning with handles from outside, and running
/// a future to completion from outside (the benchmark thread).
trait Runtime: Sync {
    fn spawner(&self) -> Spawner;
    fn spawn_handles(&self, n: usize, f: fn() -> BoxFuture) -> Box<dyn FnOnce() + '_>;
    fn block_on(&self, f: BoxFuture);
}

struct Kqio(kqio::Kqueue, kqio::IoRef);
struct Tokio(tokio::runtime::Runtime);
struct AsyncExecutor {
    ex: Arc<async_executor::Executor<'static>>,
    stop: Option<async_channel::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Runtime for Kqio {
    fn spawner(&self) -> Spawner {
        let io = self.1.clone();
        Arc::new(move |f| io.r#async(f).detach())
    }
    fn spawn_handles(&self, n: usize, f: fn() -> BoxFuture) -> Box<dyn FnOnce() + '_> {
        let handles: Vec<_> = (0..n).map(|_| self.1.r#async(f())).collect();
        Box::new(move || {
            self.0.block_on(async {
                for h in handles {
                    h.await;
                }
            })
        })
    }
    fn block_on(&self, f: BoxFuture) {
        self.0.block_on(f)
    }
}

impl Runtime for Tokio {
    fn spawner(&self) -> Spawner {
        let h = self.0.handle().clone();
        Arc::new(move |f| drop(h.spawn(f)))
    }
    fn spawn_handles(&self, n: usize, f: fn() -> BoxFuture) -> Box<dyn FnOnce() + '_> {
        let handles: Vec<_> = (0..n).map(|_| self.0.spawn(f())).collect();
        Box::new(move || {
            self.0.block_on(async {
                for h in handles {
                    h.await.unwrap();
                }
            })
        })
    }
    fn block_on(&self, f: BoxFuture) {
        // As tokio's own benchmark: the work starts inside a spawned task.
        self.0.block_on(async { self.0.spawn(f).await.unwrap() })
    }
}

impl AsyncExecutor {
    fn new(threads: usize) -> Self {
        let ex = Arc::new(async_executor::Executor::new());
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let threads = (0..threads)
            .map(|_| {
                let ex = ex.clone();
                let stopped = stopped.clone();
                std::thread::spawn(move || {
                    let _ = futures_lite::future::block_on(ex.run(stopped.recv()));
                })
            })
            .collect();
        AsyncExecutor { ex, stop: Some(stop), threads }
    }
}

impl Drop for AsyncExecutor {
    fn drop(&mut self) {
        drop(self.stop.take());
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Runtime for AsyncExecutor {
    fn spawner(&self) -> Spawner {
        let ex = self.ex.clone();
        Arc::new(move |f| ex.spawn(f).detach())
    }
    fn spawn_handles(&self, n: usize, f: fn() -> BoxFuture) -> Box<dyn FnOnce() + '_> {
        let handles: Vec<_> = (0..n).map(|_| self.ex.spawn(f())).collect();
        Box::new(move || {
            futures_lite::future::block_on(async {
                for h in handles {
                    h.await;
                }
            })
        })
    }
    fn block_on(&self, f: BoxFuture) {
        futures_lite::future::block_on(self.ex.spawn(f))
    }
}

fn spawn_many_local(rt: &dyn Runtime) {
    let spawn = rt.spawner();
    rt.block_on(Box::pin(async move {
        let (tx, rx) = oneshot::channel();
        let tx = Arc::new(Mutex::new(Some(tx)));
        let rem = Arc::new(AtomicUsize::new(NUM_SPAWN));
        for _ in 0..NUM_SPAWN {
            let (rem, tx) = (rem.clone(), tx.clone());
            spawn(Box::pin(async move {
                if rem.fetch_sub(1, Ordering::Relaxed) == 1 {
                    tx.lock().unwrap().take().unwrap().send(()).unwrap();
                }
            }));
        }
        rx.await.unwrap();
    }));
}

fn spawn_many_remote_idle(rt: &dyn Runtime) {
    rt.spawn_handles(NUM_SPAWN, || Box::pin(async {}))();
}

fn yield_many(rt: &dyn Runtime) {
    rt.spawn_handles(NUM_YIELD_TASKS, || {
        Box::pin(async {
            for _ in 0..NUM_YIELDS {
                futures_lite::future::yield_now().await;
            }
        })
    })();
}

fn ping_pong(rt: &dyn Runtime) {
    let spawn = rt.spawner();
    rt.block_on(Box::pin(async move {
        let (done_tx, done_rx) = oneshot::channel();
        let done_tx = Arc::new(Mutex::new(Some(done_tx)));
        let rem = Arc::new(AtomicUsize::new(NUM_PINGS));
        for _ in 0..NUM_PINGS {
            let (rem, done_tx, spawn2) = (rem.clone(), done_tx.clone(), spawn.clone());
            spawn(Box::pin(async move {
                let (tx1, rx1) = oneshot::channel::<()>();
                let (tx2, rx2) = oneshot::channel::<()>();
                spawn2(Box::pin(async move {
                    rx1.await.unwrap();
                    tx2.send(()).unwrap();
                }));
                tx1.send(()).unwrap();
                rx2.await.unwrap();
                if rem.fetch_sub(1, Ordering::Relaxed) == 1 {
                    done_tx.lock().unwrap().take().unwrap().send(()).unwrap();
                }
            }));
        }
        done_rx.await.unwrap();
    }));
}

fn chained_spawn(rt: &dyn Runtime) {
    fn link(spawn: Spawner, n: usize, done: oneshot::Sender<()>) {
        if n == 0 {
            done.send(()).unwrap();
        } else {
            let next = spawn.clone();
            spawn(Box::pin(async move { link(next, n - 1, done) }));
        }
    }
    let spawn = rt.spawner();
    rt.block_on(Box::pin(async move {
        let (tx, rx) = oneshot::channel();
        link(spawn, CHAIN, tx);
        rx.await.unwrap();
    }));
}

fn measure(rt: &dyn Runtime, work: fn(&dyn Runtime), iters: usize) -> (Duration, Duration) {
    for _ in 0..(iters / 10).max(3) {
        work(rt);
    }
    let mut times: Vec<Duration> = (0..iters)
        .map(|_| {
            let t = Instant::now();
            work(rt);
            t.elapsed()
        })
        .collect();
    times.sort();
    (times[times.len() / 2], times[0])
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-')).unwrap_or_default();
    let iters: usize = std::env::var("BENCH_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let kq = kqio::Kqueue::init(kqio::InitOptions { n_threads: Some(2), ..Default::default() })
        .expect("kqio");
    let kio = kq.io();
    let kqio_rt = Kqio(kq, kio);
    let tokio_rt = Tokio(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio"),
    );
    let ae_rt = AsyncExecutor::new(2);
    let runtimes: [&dyn Runtime; 3] = [&kqio_rt, &tokio_rt, &ae_rt];
    type Workload = fn(&dyn Runtime);
    let workloads: [(&str, Workload); 5] = [
        ("spawn_many_local", spawn_many_local),
        ("spawn_many_remote_idle", spawn_many_remote_idle),
        ("yield_many", yield_many),
        ("ping_pong", ping_pong),
        ("chained_spawn", chained_spawn),
    ];
    println!("scheduler: median (min) of {iters} iterations, 2 workers per runtime");
    println!(
        "{:<24} {:>20} {:>20} {:>20} {:>11} {:>16}",
        "workload", "kqio", "tokio", "async-executor", "kqio/tokio", "kqio/async-exec"
    );
    for (name, work) in workloads {
        if !name.contains(filter.as_str()) {
            continue;
        }
        let r: Vec<(Duration, Duration)> =
            runtimes.iter().map(|rt| measure(*rt, work, iters)).collect();
        let cell = |(med, min): (Duration, Duration)| format!("{med:.2?} ({min:.2?})");
        println!(
            "{name:<24} {:>20} {:>20} {:>20} {:>11.2} {:>16.2}",
            cell(r[0]),
            cell(r[1]),
            cell(r[2]),
            r[0].0.as_secs_f64() / r[1].0.as_secs_f64(),
            r[0].0.as_secs_f64() / r[2].0.as_secs_f64(),
        );
    }
}
