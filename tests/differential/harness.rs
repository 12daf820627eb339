//! The harness of the differential suite: each test is one `async fn(Ctx)` written against
//! `IoRef`, and [`differential!`] declares it as two `#[test]`s, `<area>::<name>::kqueue` and
//! `<area>::<name>::sim`, which run the same body with the same assertions on each backend.
//!
//! Ground rules:
//! 1. A body sees only `Ctx`: the `IoRef`, a scratch directory and a place for Unix socket
//!    paths. It never names the backend, reads the OS clock, sleeps a thread, or relies on task
//!    scheduling order (the simulator picks the next ready task by seed); steps are ordered with
//!    channels, events and the sync primitives' `Debug` counts of waiters.
//! 2. On `Kqueue` the body runs as a task (`io.r#async`) of a 2-worker runtime, so the
//!    task-local operations (`check_cancel`, protection) act on a task as on the simulator,
//!    where the body is the client host's task. A panic in the body fails the test on both.
//! 3. Networking uses loopback (127.0.0.1, port 0) only, so one simulated host runs it.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};

use kqio::fs::Dir;
use kqio::sim::{Sim, SimOptions, SimReport};
use kqio::{InitOptions, IoRef, Kqueue};

/// What a test body gets.
pub struct Ctx {
    /// The backend's `Io`.
    pub io: IoRef,
    /// Where the scratch directory and Unix socket paths live: a fresh temporary directory on
    /// `Kqueue` (removed after the test), a directory of the host's empty disk on the simulator.
    base: PathBuf,
}

impl Ctx {
    /// A fresh, empty scratch directory, as a `Dir`.
    pub async fn scratch(&self) -> Dir {
        Dir::cwd(&self.io)
            .create_dir_path_open(self.base.join("scratch"))
            .await
            .expect("create the scratch directory")
    }

    /// A path for a Unix socket named `name`, fresh per test.
    pub fn unix_path(&self, name: &str) -> PathBuf {
        self.base.join(name)
    }
}

/// A fresh directory under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        // Short: Unix socket paths under it must fit `sun_path` (104 bytes on the BSDs).
        let short: String = test.chars().take(24).collect();
        let path = std::env::temp_dir().join(format!("kqd-{}-{n}-{short}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create the temporary directory");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A test body's future, boxed, so that the functions below (and the runtime's spawn path and the
/// simulator's host under them) are compiled once, not once per test's future type: with 143
/// tests that made this binary the slowest to build (70 s of a 2-core machine's wall time for it
/// alone, 20 s boxed).
pub type Body = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Runs `body` on a 2-worker `Kqueue`, as a task, and shuts the runtime down.
pub fn run_kqueue(test: &str, body: fn(Ctx) -> Body) {
    let tmp = TempDir::new(test);
    let rt = Kqueue::init(InitOptions { n_threads: Some(2), ..Default::default() }).expect("init");
    let io = rt.io();
    let ctx = Ctx { io: io.clone(), base: tmp.0.clone() };
    let task = io.r#async(body(ctx));
    rt.block_on(task);
    rt.deinit();
    drop(tmp);
}

/// The simulator's seeds for `test`: `KQIO_SIM_SEED` and the next one when it is set (so a
/// failing seed replays first), else two fixed seeds derived from the test's name (fixed, so a
/// run is reproducible; per test, so the suite explores more schedules than two seeds would).
fn sim_seeds(test: &str) -> [u64; 2] {
    let fixed = test
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    let first = kqio::sim::seed_from_env(fixed);
    [first, first.wrapping_add(1)]
}

/// One simulated run of `body` on a client host called "test": its report, or the failure
/// (panic, deadlock, limit) with the seed and the command that replays it.
fn sim_once(test: &str, seed: u64, body: fn(Ctx) -> Body) -> SimReport {
    let mut sim = Sim::new(SimOptions { seed, ..Default::default() });
    let client = sim.client("test", move |io: IoRef| body(Ctx { io, base: PathBuf::new() }));
    let report = match sim.run() {
        Ok(report) => report,
        Err(e) => panic!(
            "{test} on the simulator, seed {seed}: {e}\n  replay with: {}",
            kqio::sim::replay_command(seed)
        ),
    };
    assert_eq!(client.output(), Some(()), "{test}, seed {seed}: the client's output");
    report
}

/// Runs `body` on the simulator with two seeds ([`sim_seeds`]), each twice, and checks that the
/// two runs of a seed are the same run (their event logs' hashes, steps and virtual time).
pub fn run_sim(test: &str, body: fn(Ctx) -> Body) {
    for seed in sim_seeds(test) {
        let a = sim_once(test, seed, body);
        let b = sim_once(test, seed, body);
        assert_eq!(
            (a.log_hash, a.steps, a.elapsed),
            (b.log_hash, b.steps, b.elapsed),
            "{test}, seed {seed}: two runs of one seed differ (log hash, steps, virtual time)"
        );
    }
}

/// Declares the differential tests of one area: for each `name` (an `async fn name(t: Ctx)` in
/// the same module), a module `name` with the `kqueue` and `sim` tests. Whether the simulator
/// variant runs or is ignored (with its reason) is decided in one place, [`sim_variant!`].
macro_rules! differential {
    ($area:ident: $($name:ident),* $(,)?) => {$(
        mod $name {
            /// The body, boxed ([`Body`](crate::harness::Body)); both variants run this.
            fn body(t: $crate::harness::Ctx) -> $crate::harness::Body {
                Box::pin(super::$name(t))
            }

            #[test]
            fn kqueue() {
                $crate::harness::run_kqueue(stringify!($name), body)
            }

            sim_variant!($area, $name);
        }
    )*};
}

/// SIM_PENDING: the one list of simulator variants that do not run yet, by area or by test,
/// each with its reason. They are `#[ignore]`d, not skipped: `cargo test --test differential
/// sim -- --ignored` runs them, and removing a line here turns them on. It expands inside the
/// test's module that [`differential!`] makes, whose `body` it runs.
macro_rules! sim_variant {
    // ----- pending (area, or area and test) -----
    // None: since the merge of sim-net and sim-disk into sim-core (04:50) every area runs. An
    // entry looks like:
    // (fs, fs_permissions) => {
    //     sim_variant!(@ignored fs_permissions, "sim: the reason");
    // };
    // (tcp, $name:ident) => { sim_variant!(@ignored $name, "sim: the reason"); };
    // ----- everything else runs -----
    (@ignored $name:ident, $reason:literal) => {
        #[test]
        #[ignore = $reason]
        fn sim() {
            $crate::harness::run_sim(stringify!($name), body)
        }
    };
    ($area:ident, $name:ident) => {
        #[test]
        fn sim() {
            $crate::harness::run_sim(stringify!($name), body)
        }
    };
}
