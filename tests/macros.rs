//! `#[kqio::main]` and `#[kqio::test]`: the attributes are the harness of these tests. Each test
//! checks something the expansion must have done: the runtime's size and names from the options,
//! the `IoRef` parameter, `Result` returns, `#[should_panic]`, the task limit, `deinit` at the end
//! of `main`, and the `crate` option. (The compile errors are tested in `kqio-macros`'s unit tests.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};

use kqio::time::{Duration, Timeout};
use kqio::{ConcurrencyUnavailable, IoRef};

/// The names of the threads that ran `n` tasks, each held on a barrier of `n` so that all of them
/// run at once: it only completes if the runtime has at least `n` workers.
async fn names_of_n_simultaneous_tasks(io: &IoRef, n: usize) -> Vec<String> {
    let barrier = Arc::new(Barrier::new(n));
    let names = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (barrier, names) = (barrier.clone(), names.clone());
            io.concurrent(async move {
                // Blocking a worker on purpose: the barrier proves the tasks run at once.
                barrier.wait();
                let name = std::thread::current().name().unwrap_or("").to_owned();
                names.lock().unwrap().push(name);
            })
            .expect("a task slot")
        })
        .collect();
    for h in handles {
        h.await;
    }
    let mut names = names.lock().unwrap().clone();
    names.sort();
    names
}

#[kqio::test]
async fn test_without_parameters_runs_its_body_in_block_on() {
    // `block_on` runs the body on the test's own thread, which is named after the test.
    let name = std::thread::current().name().map(str::to_owned);
    assert_eq!(name.as_deref(), Some("test_without_parameters_runs_its_body_in_block_on"));
}

#[kqio::test]
async fn test_receives_an_io_ref_on_one_worker_by_default(io: IoRef) {
    let names = names_of_n_simultaneous_tasks(&io, 1).await;
    assert_eq!(names, ["kqio-worker-0"]);
    let worker = io.r#async(async { std::thread::current().name().unwrap().to_owned() }).await;
    assert_eq!(worker, "kqio-worker-0", "a second worker exists");
    io.sleep(Timeout::after(Duration::from_millis(1))).await.expect("sleep");
}

#[kqio::test(worker_threads = 3, thread_name = "three")]
async fn worker_threads_and_thread_name_size_and_name_the_pool(io: IoRef) {
    let names = names_of_n_simultaneous_tasks(&io, 3).await;
    assert_eq!(names, ["three-0", "three-1", "three-2"]);
}

#[kqio::test(max_tasks = 1)]
async fn max_tasks_limits_concurrent(io: IoRef) {
    let (tx, rx) = futures::channel::oneshot::channel::<()>();
    let first = io.concurrent(async move { rx.await.is_ok() }).expect("the one slot");
    assert_eq!(io.concurrent(async {}).err(), Some(ConcurrencyUnavailable));
    tx.send(()).unwrap();
    assert!(first.await);
}

#[kqio::test]
async fn test_may_return_a_result(io: IoRef) -> Result<(), Box<dyn std::error::Error>> {
    let listener = kqio::net::TcpListener::bind(&io, "127.0.0.1:0".parse()?).await?;
    let addr = listener.local_addr()?;
    let client = io.r#async({
        let io = io.clone();
        async move { kqio::net::TcpStream::connect(&io, addr).await?.write_all(b"hi").await }
    });
    let (server, _) = listener.accept().await?;
    let mut buf = [0u8; 2];
    server.read_exact(&mut buf).await?;
    client.await?;
    assert_eq!(&buf, b"hi");
    Ok(())
}

#[kqio::test]
#[should_panic(expected = "a panic in a spawned task reaches the test")]
async fn a_panic_fails_the_test(io: IoRef) {
    io.r#async(async { panic!("a panic in a spawned task reaches the test") }).await;
}

#[kqio::test]
#[ignore = "checks that #[ignore] is kept: this test would fail if it ran"]
async fn ignored_test_is_not_run() {
    panic!("an #[ignore]d test ran");
}

/// A `main` under another name, so that a test can call it and look at what it returned.
mod program {
    use super::*;

    /// Sets the flag when dropped.
    pub struct DropFlag(pub Arc<AtomicBool>);

    impl Drop for DropFlag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// Leaves a task sleeping forever (holding `dropped`'s guard) and returns.
    #[kqio::main(worker_threads = 2)]
    pub async fn leaves_a_task_running(io: IoRef) -> Result<Arc<AtomicBool>, String> {
        let dropped = Arc::new(AtomicBool::new(false));
        let guard = DropFlag(dropped.clone());
        let (started_tx, started_rx) = futures::channel::oneshot::channel();
        let sleeper = io.clone();
        io.concurrent(async move {
            let _guard = guard;
            started_tx.send(()).unwrap();
            let _ = sleeper.sleep(Timeout::None).await;
        })
        .map_err(|e| e.to_string())?
        .detach();
        started_rx.await.map_err(|e| e.to_string())?;
        assert!(!dropped.load(Ordering::SeqCst));
        Ok(dropped)
    }

    #[kqio::main]
    pub async fn fails() -> Result<(), String> {
        Err("the error".to_owned())?;
        unreachable!()
    }

    /// A crate that re-exports kqio under another path, as a framework would.
    pub mod framework {
        pub use kqio as runtime;
    }

    #[kqio::main(crate = "crate::program::framework::runtime", worker_threads = 1)]
    pub async fn through_a_re_export(io: IoRef) -> u64 {
        io.r#async(async { 6 * 7 }).await
    }

    /// The `Cpus_allowed_list` of each of this process's `macro-bound-*` threads, read while
    /// they run.
    #[cfg(target_os = "linux")]
    #[kqio::main(pin_workers, worker_threads = 2, thread_name = "macro-bound")]
    pub async fn on_bound_workers(io: IoRef) -> Vec<String> {
        assert_eq!(io.r#async(async { 6 * 7 }).await, 42);
        let mut lists = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if comm.starts_with("macro-bound-") {
                let status = std::fs::read_to_string(task.path().join("status")).unwrap();
                let list = status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:"));
                lists.push(list.unwrap().trim().to_owned());
            }
        }
        lists
    }
}

#[test]
fn main_returns_the_body_output_after_deinit() {
    let dropped = program::leaves_a_task_running().expect("main's body");
    // `deinit` ran before `main` returned: the task left sleeping was dropped.
    assert!(dropped.load(Ordering::SeqCst));
}

#[test]
fn main_returns_the_body_error() {
    assert_eq!(program::fails(), Err("the error".to_owned()));
}

#[test]
fn main_through_a_re_exported_crate_path() {
    assert_eq!(program::through_a_re_export(), 42);
}

/// `pin_workers` reaches `InitOptions`: each worker's mask is one CPU (a single number), where
/// an unbound worker's would name every CPU of the process.
#[cfg(target_os = "linux")]
#[test]
fn main_with_pin_workers_binds_each_worker_to_one_cpu() {
    let lists = program::on_bound_workers();
    assert_eq!(lists.len(), 2, "{lists:?}");
    assert!(lists.iter().all(|l| l.parse::<usize>().is_ok()), "{lists:?}");
}

// ----- #[kqio::test(sim, ...)]: the body as the client of a simulated world, once per seed -----

thread_local! {
    /// What each run of `sim_tests::runs_once_per_seed` drew from its world's seeded `random`.
    /// Thread-local: the simulator runs the body on the test's own thread.
    static SIM_DRAWS: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The seeds `run_seeds(n, ..)` runs, as the environment may override them.
fn seeds_run(n: u64) -> u64 {
    if std::env::var_os("KQIO_SIM_SEED").is_some() {
        return 1;
    }
    std::env::var("KQIO_SIM_SEEDS").ok().and_then(|v| v.parse().ok()).unwrap_or(n)
}

mod sim_tests {
    use super::*;
    use kqio::time::Clock;

    #[kqio::test(sim, seeds = 5)]
    pub async fn runs_once_per_seed(io: IoRef) {
        let mut draw = [0u8; 8];
        io.random(&mut draw);
        SIM_DRAWS.with(|d| d.borrow_mut().push(u64::from_le_bytes(draw)));
        // Virtual time: an hour passes at once, exactly.
        let start = io.now(Clock::Awake);
        io.sleep(Timeout::after(Duration::HOUR)).await.unwrap();
        assert_eq!(io.now(Clock::Awake).saturating_duration_since(start), Duration::HOUR);
    }
}

#[test]
fn sim_test_runs_the_body_once_per_seed_each_on_its_own_world() {
    SIM_DRAWS.with(|d| d.borrow_mut().clear());
    sim_tests::runs_once_per_seed();
    let mut draws = SIM_DRAWS.with(|d| d.borrow().clone());
    // Under KQIO_SIM_CHECK_REPLAY=1 each seed runs twice, drawing the same.
    let runs = if std::env::var("KQIO_SIM_CHECK_REPLAY").is_ok_and(|v| v == "1") { 2 } else { 1 };
    assert_eq!(draws.len() as u64, seeds_run(5) * runs);
    draws.sort_unstable();
    draws.dedup();
    assert_eq!(draws.len() as u64, seeds_run(5), "each seed is a different world");
}

#[kqio::test(sim, seeds = 3)]
#[should_panic(expected = "the test returned Err(\"refused\")")]
async fn sim_test_error_fails_with_its_seed() -> Result<(), String> {
    Err("refused".to_owned())
}

#[kqio::test(sim)]
#[should_panic(expected = "panicked: boom")]
async fn sim_test_panic_fails_with_its_seed(io: IoRef) {
    io.r#async(async { panic!("boom") }).await;
}
