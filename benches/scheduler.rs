//! Scheduler benchmark: tokio's five runtime workloads (the shapes of tokio's
//! `benches/rt_multi_threaded.rs`) on three runtimes, each with 2 worker threads; each workload
//! runs in a child process of its own (see [`main`] for why), the three runtimes side by side.
//!
//! Workloads (see [`Workload`]):
//!
//! - `spawn_many_local`: a task spawns 10,000 empty tasks; each counts down a shared counter and
//!   the last one to finish signals the spawner, which then completes. (tokio's version spawns
//!   from its `block_on` future, which on a multi-thread runtime is not a worker; here the
//!   spawner is a task, so the local spawn path is what is measured.)
//! - `spawn_many_remote_idle`: the benchmark thread (outside the runtime) spawns 10,000 empty
//!   tasks, then `block_on`s a future that awaits all 10,000 handles in order.
//! - `yield_many`: the benchmark thread spawns 200 tasks that yield 1,000 times each; the last to
//!   finish signals.
//! - `ping_pong`: a task spawns 1,000 tasks; each spawns a partner, sends it a oneshot message and
//!   awaits the oneshot reply; the last pair to finish signals.
//! - `chained_spawn`: a task spawns a task that spawns a task ... 1,000 deep; the last signals.
//!
//! Runtimes: kqio (`Kqueue::init` with `n_threads: Some(2)`), tokio (multi-thread runtime,
//! `worker_threads(2)`), async-executor (one `Executor` run by 2 threads, each in
//! `block_on(ex.run(shutdown))`). Each runtime is built once per workload, before any timing, and
//! reused by every iteration. Completion is signalled with the runtime-agnostic `futures::channel::oneshot` and
//! yields use `futures_lite::future::yield_now`, so the schedulers, not their channels, are
//! compared. Where tokio's benchmark blocks on a `std::sync::mpsc` receiver, this one awaits a
//! oneshot in `block_on` on the benchmark thread, which is not a worker of any of the runtimes.
//!
//! Measuring: after a few untimed warm-up runs on each runtime, the runtimes take turns of ten
//! timed runs each (see `common::compare`), so background load is shared out evenly; a run that
//! hangs (a deadlock) aborts the bench with its workload and runtime named.
//!
//! Output: per (workload, runtime), the min, median and p90 of the timed runs, then a table of
//! medians with the ratios kqio/tokio and kqio/async-executor: the time kqio takes relative to
//! the other runtime, so below 1.0 means kqio is faster (0.80: kqio needs 80% of the time).
//!
//! Run: `cargo bench --bench scheduler [filter]`. `filter` keeps the workloads whose name contains
//! it; `BENCH_ITERS=n` sets the timed runs of every workload (the defaults in [`Workload::iters`]
//! keep a whole run near a minute on two cores).

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use common::{Args, Stats, Watchdog};
use futures::channel::oneshot;

/// Worker threads per runtime.
const WORKERS: usize = 2;
/// Tasks spawned by `spawn_many_local` and `spawn_many_remote_idle` (tokio's `NUM_SPAWN`).
const NUM_SPAWN: usize = 10_000;
/// Tasks in `yield_many` and the yields each does (tokio's `TASKS` and `NUM_YIELD`).
const YIELD_TASKS: usize = 200;
const YIELDS_PER_TASK: usize = 1_000;
/// Pairs in `ping_pong` (tokio's `NUM_PINGS`).
const NUM_PINGS: usize = 1_000;
/// Length of the `chained_spawn` chain (tokio's `ITER`).
const CHAIN_LEN: usize = 1_000;

// ----- What a workload needs of a runtime --------------------------------------------------------

/// A runtime under test: a way to spawn, and a way to wait from the benchmark thread.
trait Runtime {
    /// Column name in the output.
    const NAME: &'static str;
    type Spawner: Spawner;

    /// A spawner that tasks can carry (no runtime has to be found through a thread-local).
    fn spawner(&self) -> Self::Spawner;

    /// Runs `future` to completion on the calling thread, which is not one of the workers.
    fn block_on<F: Future>(&self, future: F) -> F::Output;
}

/// Spawning onto one runtime, from one of its tasks or from any other thread.
trait Spawner: Clone + Send + Sync + 'static {
    /// The handle of a spawned task: awaiting it yields the task's output.
    type Task<T: Send + 'static>: Future<Output = T> + Send + 'static;

    fn spawn<F>(&self, future: F) -> Self::Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;

    /// Spawns a task nobody awaits (dropping a kqio or async-executor handle would cancel it).
    fn spawn_detached<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static;
}

/// kqio: the runtime and its `Io` object, which is also the spawner.
struct Kqio {
    rt: kqio::Kqueue,
    io: kqio::IoRef,
}

impl Kqio {
    fn new() -> Kqio {
        let rt = kqio::Kqueue::init(kqio::InitOptions {
            n_threads: Some(WORKERS),
            ..Default::default()
        })
        .expect("start kqio");
        let io = rt.io();
        Kqio { rt, io }
    }
}

impl Runtime for Kqio {
    const NAME: &'static str = "kqio";
    type Spawner = kqio::IoRef;

    fn spawner(&self) -> kqio::IoRef {
        self.io.clone()
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.rt.block_on(future)
    }
}

impl Spawner for kqio::IoRef {
    type Task<T: Send + 'static> = kqio::JoinHandle<T>;

    fn spawn<F>(&self, future: F) -> kqio::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.r#async(future)
    }

    fn spawn_detached<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.r#async(future).detach();
    }
}

/// tokio: a multi-thread runtime; its `Handle` is the spawner.
struct Tokio(tokio::runtime::Runtime);

impl Tokio {
    fn new() -> Tokio {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .enable_all()
            .build()
            .expect("start tokio");
        Tokio(rt)
    }
}

impl Runtime for Tokio {
    const NAME: &'static str = "tokio";
    type Spawner = tokio::runtime::Handle;

    fn spawner(&self) -> tokio::runtime::Handle {
        self.0.handle().clone()
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.0.block_on(future)
    }
}

impl Spawner for tokio::runtime::Handle {
    type Task<T: Send + 'static> = TokioTask<T>;

    fn spawn<F>(&self, future: F) -> TokioTask<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        // `Handle::spawn` on a worker thread of this runtime uses that worker's local queue, as
        // `tokio::spawn` does.
        TokioTask(tokio::runtime::Handle::spawn(self, future))
    }

    fn spawn_detached<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(tokio::runtime::Handle::spawn(self, future));
    }
}

/// A tokio `JoinHandle` whose output is the task's output (a panic in the task is re-raised), as
/// the other two runtimes' handles give it.
struct TokioTask<T>(tokio::task::JoinHandle<T>);

impl<T> Future for TokioTask<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic())))
    }
}

/// async-executor: one `Executor` run by `WORKERS` threads until the stop channel closes.
struct AsyncExecutor {
    ex: Arc<async_executor::Executor<'static>>,
    /// Dropping it closes the channel, which ends every runner's `ex.run(..)`.
    stop: Option<async_channel::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl AsyncExecutor {
    fn new() -> AsyncExecutor {
        let ex = Arc::new(async_executor::Executor::new());
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let threads = (0..WORKERS)
            .map(|i| {
                let (ex, stopped) = (ex.clone(), stopped.clone());
                std::thread::Builder::new()
                    .name(format!("async-executor-{i}"))
                    .spawn(move || {
                        // `recv` fails once the sender is dropped: that is the shutdown signal.
                        let _ = futures_lite::future::block_on(ex.run(stopped.recv()));
                    })
                    .expect("start an async-executor thread")
            })
            .collect();
        AsyncExecutor { ex, stop: Some(stop), threads }
    }
}

impl Drop for AsyncExecutor {
    fn drop(&mut self) {
        drop(self.stop.take());
        for t in self.threads.drain(..) {
            t.join().expect("an async-executor thread panicked");
        }
    }
}

impl Runtime for AsyncExecutor {
    const NAME: &'static str = "async-exec";
    type Spawner = Arc<async_executor::Executor<'static>>;

    fn spawner(&self) -> Arc<async_executor::Executor<'static>> {
        self.ex.clone()
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        futures_lite::future::block_on(future)
    }
}

impl Spawner for Arc<async_executor::Executor<'static>> {
    type Task<T: Send + 'static> = async_executor::Task<T>;

    fn spawn<F>(&self, future: F) -> async_executor::Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        async_executor::Executor::spawn(self, future)
    }

    fn spawn_detached<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        async_executor::Executor::spawn(self, future).detach();
    }
}

// ----- The workloads -----------------------------------------------------------------------------

/// A countdown shared by `n` tasks; the one that brings it to zero sends the oneshot (tokio's
/// `rem` counter and final `done_tx.send`).
struct Countdown {
    remaining: AtomicUsize,
    done: Mutex<Option<oneshot::Sender<()>>>,
}

impl Countdown {
    fn new(n: usize) -> (Arc<Countdown>, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        let countdown = Countdown { remaining: AtomicUsize::new(n), done: Mutex::new(Some(tx)) };
        (Arc::new(countdown), rx)
    }

    fn count_down(&self) {
        // Relaxed, as in tokio's benchmark: the decrements need only be atomic; the oneshot
        // orders the last task's work before the waiter's wake-up.
        if self.remaining.fetch_sub(1, Ordering::Relaxed) == 1 {
            let tx = self.done.lock().unwrap().take().expect("counted down past zero");
            tx.send(()).expect("the waiter is gone");
        }
    }
}

/// The five workloads, each run on any [`Runtime`].
#[derive(Clone, Copy, Debug)]
enum Workload {
    SpawnManyLocal,
    SpawnManyRemoteIdle,
    YieldMany,
    PingPong,
    ChainedSpawn,
}

impl Workload {
    const ALL: [Workload; 5] = [
        Workload::SpawnManyLocal,
        Workload::SpawnManyRemoteIdle,
        Workload::YieldMany,
        Workload::PingPong,
        Workload::ChainedSpawn,
    ];

    fn name(self) -> &'static str {
        match self {
            Workload::SpawnManyLocal => "spawn_many_local",
            Workload::SpawnManyRemoteIdle => "spawn_many_remote_idle",
            Workload::YieldMany => "yield_many",
            Workload::PingPong => "ping_pong",
            Workload::ChainedSpawn => "chained_spawn",
        }
    }

    /// Default timed runs per runtime: about 2-5 seconds of each runtime per workload on two cores,
    /// so the median is stable under background noise and the whole bench takes about a minute.
    fn iters(self) -> usize {
        match self {
            Workload::SpawnManyLocal | Workload::SpawnManyRemoteIdle => 500,
            Workload::YieldMany => 300,
            Workload::PingPong => 3_000,
            Workload::ChainedSpawn => 5_000,
        }
    }

    /// One iteration of the workload on `rt`.
    fn run<R: Runtime>(self, rt: &R) {
        let spawner = rt.spawner();
        match self {
            Workload::SpawnManyLocal => spawn_many_local(rt, spawner),
            Workload::SpawnManyRemoteIdle => spawn_many_remote_idle(rt, spawner),
            Workload::YieldMany => yield_many(rt, spawner),
            Workload::PingPong => ping_pong(rt, spawner),
            Workload::ChainedSpawn => chained_spawn(rt, spawner),
        }
    }
}

/// A task spawns `NUM_SPAWN` tasks (onto its own worker), which count down; the spawner awaits
/// the countdown.
fn spawn_many_local<R: Runtime>(rt: &R, spawner: R::Spawner) {
    let main = spawner.clone();
    rt.block_on(main.spawn(async move {
        let (countdown, done) = Countdown::new(NUM_SPAWN);
        for _ in 0..NUM_SPAWN {
            let countdown = countdown.clone();
            spawner.spawn_detached(async move { countdown.count_down() });
        }
        done.await.expect("countdown dropped");
    }));
}

/// The benchmark thread spawns `NUM_SPAWN` empty tasks onto the idle runtime, then awaits every
/// handle in spawn order.
fn spawn_many_remote_idle<R: Runtime>(rt: &R, spawner: R::Spawner) {
    let handles: Vec<_> = (0..NUM_SPAWN).map(|_| spawner.spawn(async {})).collect();
    rt.block_on(async move {
        for handle in handles {
            handle.await;
        }
    });
}

/// The benchmark thread spawns `YIELD_TASKS` tasks that each yield `YIELDS_PER_TASK` times, then
/// waits for the last to finish.
fn yield_many<R: Runtime>(rt: &R, spawner: R::Spawner) {
    let (countdown, done) = Countdown::new(YIELD_TASKS);
    for _ in 0..YIELD_TASKS {
        let countdown = countdown.clone();
        spawner.spawn_detached(async move {
            for _ in 0..YIELDS_PER_TASK {
                futures_lite::future::yield_now().await;
            }
            countdown.count_down();
        });
    }
    rt.block_on(done).expect("countdown dropped");
}

/// A task spawns `NUM_PINGS` tasks; each spawns a partner, sends it a ping on a oneshot, awaits
/// the pong on another, and counts down.
fn ping_pong<R: Runtime>(rt: &R, spawner: R::Spawner) {
    let (countdown, done) = Countdown::new(NUM_PINGS);
    spawner.clone().spawn_detached(async move {
        for _ in 0..NUM_PINGS {
            let (countdown, partner) = (countdown.clone(), spawner.clone());
            spawner.spawn_detached(async move {
                let (ping_tx, ping_rx) = oneshot::channel::<()>();
                let (pong_tx, pong_rx) = oneshot::channel::<()>();
                partner.spawn_detached(async move {
                    ping_rx.await.expect("ping sender dropped");
                    pong_tx.send(()).expect("pong receiver dropped");
                });
                ping_tx.send(()).expect("ping receiver dropped");
                pong_rx.await.expect("pong sender dropped");
                countdown.count_down();
            });
        }
    });
    rt.block_on(done).expect("countdown dropped");
}

/// A task spawns the first of a chain of `CHAIN_LEN` tasks, each of which spawns the next; the
/// last one signals.
fn chained_spawn<R: Runtime>(rt: &R, spawner: R::Spawner) {
    fn link<S: Spawner>(spawner: S, remaining: usize, done: oneshot::Sender<()>) {
        if remaining == 0 {
            done.send(()).expect("the waiter is gone");
        } else {
            spawner.clone().spawn_detached(async move { link(spawner, remaining - 1, done) });
        }
    }
    let (tx, done) = oneshot::channel();
    spawner.clone().spawn_detached(async move { link(spawner, CHAIN_LEN, tx) });
    rt.block_on(done).expect("chain dropped");
}

// ----- Driver ------------------------------------------------------------------------------------

/// Spawns and awaits one empty task, so that every worker has started and gone idle.
fn run_one_task<R: Runtime>(rt: &R) {
    rt.block_on(rt.spawner().spawn(async {}));
}

/// Set in a child's environment: the one workload it measures (see [`main`]).
const CHILD_ENV: &str = "SCHEDULER_WORKLOAD";
/// Marks a child's machine-readable line: runtime, then min, median and p90 in nanoseconds, then
/// the number of runs.
const STATS_TAG: &str = "#stats";

/// Runs every selected workload in a child process of its own (this binary again, with
/// [`CHILD_ENV`] naming the workload) and prints the table of their medians.
///
/// One process per workload, because the allocator's state carries over from one workload to the
/// next: after `spawn_many_local`, glibc's main heap grew and shrank (`brk`) 3,881 times over a
/// run of both spawn workloads, against 179 times for `spawn_many_remote_idle` alone, and that
/// workload's page faults made its medians bimodal for every runtime (kqio 2.0 or 3.1-3.6 ms from
/// run to run, tokio 2.8 or 3.9 ms). In a child of its own each workload starts from a fresh
/// heap, as in tokio's benchmarks, where each is a separate criterion function.
fn main() {
    if let Ok(name) = std::env::var(CHILD_ENV) {
        let workload = Workload::ALL
            .into_iter()
            .find(|w| w.name() == name)
            .unwrap_or_else(|| panic!("{CHILD_ENV}={name:?} names no workload"));
        return measure(workload, &Args::parse());
    }
    let args = Args::parse();
    let workloads: Vec<Workload> =
        Workload::ALL.into_iter().filter(|w| args.selects(w.name())).collect();
    if workloads.is_empty() {
        println!("no workload matches {:?}", args.filter);
        return;
    }
    let load = common::load_average().map_or("unknown".into(), |l| format!("{l:.2}"));
    println!(
        "scheduler: {WORKERS} workers per runtime, timed runs interleaved in turns of {}, \
         one child process per workload; load average {load}\n",
        common::TURN
    );
    let runtimes = [Kqio::NAME, Tokio::NAME, AsyncExecutor::NAME];
    let rows: Vec<_> = workloads.into_iter().map(|w| (w.name(), run_child(w, &runtimes))).collect();
    println!("\nmedians; ratio = kqio's median / the other's (below 1.00: kqio is faster)\n");
    common::print_table(&runtimes, &rows);
}

/// Runs `workload`'s child, passing its report through, and returns its [`Stats`] per runtime in
/// the order of `runtimes`.
fn run_child(workload: Workload, runtimes: &[&str]) -> Vec<Stats> {
    use std::io::BufRead;
    let exe = std::env::current_exe().expect("this benchmark's path");
    let mut child = std::process::Command::new(exe)
        .env(CHILD_ENV, workload.name())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the child");
    let out = child.stdout.take().expect("piped stdout");
    let mut stats = Vec::new();
    for line in std::io::BufReader::new(out).lines() {
        let line = line.expect("the child's report");
        match line.strip_prefix(STATS_TAG) {
            Some(fields) => stats.push(parse_stats(fields)),
            None => println!("{line}"),
        }
    }
    let status = child.wait().expect("wait for the child");
    assert!(status.success(), "{} failed: {status}", workload.name());
    assert_eq!(
        stats.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>(),
        runtimes,
        "{}: the child reported other runtimes",
        workload.name()
    );
    stats.into_iter().map(|(_, s)| s).collect()
}

/// Parses the fields after [`STATS_TAG`]: `runtime min median p90 runs`.
fn parse_stats(fields: &str) -> (String, Stats) {
    let f: Vec<&str> = fields.split_whitespace().collect();
    assert_eq!(f.len(), 5, "a stats line has five fields: {fields:?}");
    let ns = |i: usize| Duration::from_nanos(f[i].parse().expect("nanoseconds"));
    let iters = f[4].parse().expect("a run count");
    (f[0].to_owned(), Stats { min: ns(1), median: ns(2), p90: ns(3), iters })
}

/// The child: builds the three runtimes, checks that they idle, and times `workload` on them.
fn measure(workload: Workload, args: &Args) {
    let watchdog = Watchdog::start();
    let kqio = Kqio::new();
    let tokio = Tokio::new();
    let async_executor = AsyncExecutor::new();

    // Sanity check: with all three runtimes started (each has run a task) and idle, the process
    // should use next to no CPU; otherwise an idle runtime is spinning and skews the others.
    run_one_task(&kqio);
    run_one_task(&tokio);
    run_one_task(&async_executor);
    let window = Duration::from_millis(300);
    let idle = common::idle_cpu(window);
    println!(
        "{}: idle check {} of CPU in {} with the three runtimes idle{}",
        workload.name(),
        common::fmt_duration(idle),
        common::fmt_duration(window),
        if idle > window / 20 { " (HIGH: an idle runtime is spinning)" } else { "" },
    );

    let runtimes = [Kqio::NAME, Tokio::NAME, AsyncExecutor::NAME];
    let iters = args.iters_or(workload.iters());
    let stats = common::compare(
        &watchdog,
        workload.name(),
        iters,
        &mut [
            (Kqio::NAME, &mut || workload.run(&kqio)),
            (Tokio::NAME, &mut || workload.run(&tokio)),
            (AsyncExecutor::NAME, &mut || workload.run(&async_executor)),
        ],
    );
    for (name, s) in runtimes.iter().zip(&stats) {
        common::print_stats(workload.name(), name, s);
        println!(
            "{STATS_TAG} {name} {} {} {} {}",
            s.min.as_nanos(),
            s.median.as_nanos(),
            s.p90.as_nanos(),
            s.iters
        );
    }
}
