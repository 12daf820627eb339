//! The deterministic simulation backend: the same application code, run on one OS thread over a
//! seeded world of hosts, networks, disks and clocks (issue 14; DESIGN.md, "The second backend").
//!
//! Ground rules:
//! 1. Everything nondeterministic (the next task to run, latencies, losses, faults, `random`) is
//!    drawn from the world's one seeded generator, in the order the world's single thread asks,
//!    so the same seed replays the same run.
//! 2. The models (network, disk) are passive: they hold state and wakers, read the virtual clock
//!    and the seeded generator through `env::SimEnv`, and ask the world for a wake-up at a
//!    virtual time; they never spawn, sleep or read the OS.
//!
//! | file | what |
//! | --- | --- |
//! | `mod.rs` | the public API: `Sim`, `SimOptions`, `SimReport`, `SimError`, `Client`, the runner |
//! | `world.rs` | hosts, the seeded scheduler, virtual clocks, the world's side of the timers and log |
//! | `host_io.rs` | `impl Io` for a simulated host: one-line delegations to the world and models |
//! | `env.rs` | what the world lends its models (`SimEnv`) |
//! | `log.rs` | the event log: tokens hashed as they come, lines rendered only when kept |
//! | `timers.rs` | the timer queue: a heap of `(deadline, seq)`, sleeps cancelled lazily |
//! | `idmap.rs` | a hash map by id with a fixed hasher, for the hot tables (never iterated to decide) |
//! | `rng.rs` | the seeded generator |
//! | `process.rs` | programs registered with the world, run as simulated processes |
//! | `runner.rs` | seeds from the environment, many seeds, replay checks, replay commands |
//!
//! # Using it
//!
//! ```
//! use kqio::sim::{Sim, SimOptions};
//! use kqio::time::{Clock, Duration, Timeout};
//!
//! let seed = kqio::sim::seed_from_env(7);
//! let mut sim = Sim::new(SimOptions { seed, ..Default::default() });
//! let client = sim.client("client", |io: kqio::IoRef| async move {
//!     let start = io.now(Clock::Awake);
//!     io.sleep(Timeout::after(Duration::HOUR)).await.unwrap();
//!     io.now(Clock::Awake).saturating_duration_since(start)
//! });
//! let report = sim.run().expect("the run ends");       // an hour passes in microseconds
//! assert_eq!(client.output(), Some(Duration::HOUR));
//! println!("seed {} log hash {:#x}", report.seed, report.log_hash);
//! ```
//!
//! Tests take their seeds and check their replays through the runner: [`run_seeds`] runs a
//! function of the seed over many seeds; [`seeds`] gives the seeds of a hand-written loop; and
//! [`check_replay`] runs a whole scenario (hosts, runs, crashes between steps) on a fresh `Sim`.
//! Under `KQIO_SIM_CHECK_REPLAY=1` both run each seed twice and compare the two event logs'
//! hashes (and [`check_replay`] the scenario's outputs); a failure prints the seed with the
//! command that replays it ([`replay_command`]).
//!
//! # What differs from the kqueue backend
//!
//! - Time is virtual: it stands still while a task runs and jumps to the next timer when no
//!   task is ready; a task that spins (`yield_now` in a loop waiting for time to pass) spins
//!   until [`SimOptions::max_steps`].
//! - `random` and `random_secure` draw from the seed: not secret under simulation.
//! - Blocking-pool jobs (`spawn_blocking`) run inline on the world's thread after a seeded
//!   latency ([`SimOptions::blocking_latency`]); a job that blocks blocks the whole world.
//! - `r#async` always gets a task (no inline runs), and `concurrent` never fails.
//! - The next task to run is drawn by the seed from every ready task, not taken in FIFO order.
//!   A cancellation request wakes its task into that set like any other wake-up, so whether a
//!   task first finishes or first sees the request is the seed's choice too.
//! - CPU clocks count polls (1 µs each), all clocks have a 1 ns resolution.

pub mod disk;
pub(crate) mod env;
mod host_io;
pub(crate) mod idmap;
mod log;
pub(crate) mod net;
mod process;
mod rng;
mod runner;
mod timers;
mod world;

use std::fmt;
use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex};

use crate::io::IoRef;
use crate::time::{Duration, Timestamp};

pub use disk::{DirDurability, DiskOptions};
pub use net::{Latency, LinkOptions, NetOptions, SocketGone};
pub use process::ProgramArgs;
pub use runner::{check_replay, replay_command, replay_twice, run_seeds, seed_from_env, seeds};

use env::{Env, HostId};
use world::{nanos, Stepped, World, WorldEvent};

/// Options of a simulated world. Start from `Default` and set the seed:
/// `SimOptions { seed, ..Default::default() }`.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// The seed every nondeterministic choice of the run is drawn from.
    pub seed: u64,
    /// The most steps (task polls and timer firings) a run may take: then
    /// [`SimError::StepLimit`]. Default 100,000,000.
    pub max_steps: u64,
    /// The most virtual time a run may reach (since the world began): a timer beyond it makes
    /// [`run`](Sim::run) fail with [`SimError::TimeLimit`]. Default 10 years.
    pub max_time: Duration,
    /// The range a blocking-pool job's simulated latency is drawn from (uniformly). Default
    /// 10 µs to 1 ms.
    pub blocking_latency: (Duration, Duration),
    /// The probability that a [`fault_point`](crate::Io::fault_point) returns `true`. Default
    /// 0 (fault points off).
    pub fault_probability: f64,
    /// The hosts' clocks.
    pub clock: ClockOptions,
    /// Keep the event log's lines in the [`SimReport`] (its hash is always computed). Default
    /// `false`.
    pub keep_log: bool,
    /// The network: links' latencies, loss, duplication, reordering, limits.
    pub net: NetOptions,
    /// The disks: durability rules, capacity, faults, latency.
    pub disk: DiskOptions,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            seed: 0,
            max_steps: 100_000_000,
            max_time: Duration::YEAR.saturating_mul(10),
            blocking_latency: (Duration::from_micros(10), Duration::MILLISECOND),
            fault_probability: 0.0,
            clock: ClockOptions::default(),
            keep_log: false,
            net: NetOptions::default(),
            disk: DiskOptions::default(),
        }
    }
}

/// How the simulated hosts' clocks behave. Every host's awake clock reads the world's virtual
/// time (0 when the world began); its boot clock runs ahead of it by the time the host spent
/// suspended; its real clock starts at `real_start` plus a seeded offset, drifts, and may step.
/// All off by default: every host's real clock then reads `real_start` plus awake time.
#[derive(Debug, Clone)]
pub struct ClockOptions {
    /// The real clock when the world begins. Default 2026-01-01T00:00:00Z.
    pub real_start: Timestamp,
    /// Each host's real clock is offset from the world's by a seeded amount in
    /// `-max_offset..=max_offset`. Default zero.
    pub max_offset: Duration,
    /// Each host's real clock drifts by a seeded rate in `-max_drift_ppm..=max_drift_ppm`
    /// parts per million (at most 999,999: a clock that never goes backwards). Default 0. A
    /// deadline on a drifting real clock fires when that clock reaches it, fast or slow.
    pub max_drift_ppm: u32,
    /// At each jump of virtual time, the probability that a host's real clock steps (NTP, an
    /// administrator), by a seeded amount in `-max_step..=max_step`. Default 0.
    pub step_probability: f64,
    /// See `step_probability`. Default 1 s.
    pub max_step: Duration,
    /// At each jump of virtual time, the probability that a host was suspended meanwhile: its
    /// boot and real clocks move ahead of its awake clock by a seeded span up to
    /// `max_suspend`. Default 0.
    pub suspend_probability: f64,
    /// See `suspend_probability`. Default 10 s.
    pub max_suspend: Duration,
}

impl Default for ClockOptions {
    fn default() -> Self {
        ClockOptions {
            real_start: Timestamp::from_nanos(1_767_225_600 * 1_000_000_000),
            max_offset: Duration::ZERO,
            max_drift_ppm: 0,
            step_probability: 0.0,
            max_step: Duration::SECOND,
            suspend_probability: 0.0,
            max_suspend: Duration::from_secs(10),
        }
    }
}

/// A host of a [`Sim`]: what [`Sim::host`] returns, to crash, restart, pause or signal it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Host(pub(crate) HostId);

impl Host {
    /// The host's index in its world (0 for the first added).
    pub fn index(self) -> u32 {
        self.0
    }
}

/// A client host: its program's output once it has ended (see [`Sim::client`]).
pub struct Client<T> {
    host: Host,
    output: Arc<Mutex<Option<T>>>,
}

impl<T> Client<T> {
    /// Takes the client program's output: `Some` once after it ended, `None` before (or if its
    /// host crashed first, or the output was taken).
    pub fn output(&self) -> Option<T> {
        self.output.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// The client's host.
    pub fn host(&self) -> Host {
        self.host
    }
}

impl<T> fmt::Debug for Client<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("host", &self.host).finish_non_exhaustive()
    }
}

/// What a successful run reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimReport {
    /// The run's seed.
    pub seed: u64,
    /// Steps taken since the world began (task polls and timer firings).
    pub steps: u64,
    /// Virtual time since the world began.
    pub elapsed: Duration,
    /// A hash of the event log (which task ran when, what fired, what the models logged): the
    /// same seed gives the same hash, so comparing two runs' hashes checks that a replay is
    /// exact.
    pub log_hash: u64,
    /// The event log's lines, if [`SimOptions::keep_log`] was set.
    pub log: Vec<String>,
}

/// A task alive when a deadlock was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedTask {
    /// The task's id in this world (spawn order, from 0).
    pub id: u64,
    /// Its host.
    pub host: Host,
    /// Its host's name.
    pub host_name: String,
    /// Where it was spawned, its name, and what it waits on.
    pub task: crate::observe::TaskInfo,
}

impl fmt::Display for BlockedTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "on host {:?}: {}", self.host_name, self.task)
    }
}

/// Why a run failed. Every variant carries the seed; the failure has also been printed to
/// stderr with the command that replays it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimError {
    /// No task is ready, no timer or message is pending, and a client has not finished.
    ///
    /// Each blocked task says where it was spawned and, in
    /// [`TaskInfo::waiting_on`](crate::observe::TaskInfo::waiting_on), what it waits on, as a
    /// `Kqueue` task dump would: a socket's read or write readiness (TCP, UDP, Unix; an `fs`
    /// pipe), an accept, a connect, a file lock, a child's exit, a signal, a sleep, a sync
    /// primitive, a join; a disk operation's or name lookup's latency as a blocking-pool job.
    /// `None` for a future kqio does not know (a user's channel).
    Deadlock {
        /// The run's seed.
        seed: u64,
        /// Every task alive (all blocked).
        blocked: Vec<BlockedTask>,
    },
    /// The run took [`SimOptions::max_steps`] steps.
    StepLimit {
        /// The run's seed.
        seed: u64,
        /// The limit.
        steps: u64,
    },
    /// The next event is beyond [`SimOptions::max_time`].
    TimeLimit {
        /// The run's seed.
        seed: u64,
        /// The limit.
        max_time: Duration,
    },
    /// A host's program panicked (a panic of a task that nobody awaited is only reported by
    /// the panic hook, as on the kqueue backend).
    Panicked {
        /// The run's seed.
        seed: u64,
        /// The host's name.
        host: String,
        /// The panic's message.
        message: String,
    },
}

impl SimError {
    /// The seed of the run that failed.
    pub fn seed(&self) -> u64 {
        match self {
            SimError::Deadlock { seed, .. }
            | SimError::StepLimit { seed, .. }
            | SimError::TimeLimit { seed, .. }
            | SimError::Panicked { seed, .. } => *seed,
        }
    }
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::Deadlock { seed, blocked } => {
                write!(f, "kqio::sim seed {seed}: deadlock, {} task(s) blocked", blocked.len())?;
                for t in blocked {
                    write!(f, "\n  {t}")?;
                }
                Ok(())
            }
            SimError::StepLimit { seed, steps } => {
                write!(f, "kqio::sim seed {seed}: step limit of {steps} reached")
            }
            SimError::TimeLimit { seed, max_time } => {
                write!(f, "kqio::sim seed {seed}: time limit of {max_time} reached")
            }
            SimError::Panicked { seed, host, message } => {
                write!(f, "kqio::sim seed {seed}: host {host:?} panicked: {message}")
            }
        }
    }
}

impl std::error::Error for SimError {}

/// The error inside the `io::Error` (kind `Unsupported`) of an operation the simulator does not
/// model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimUnsupported {
    /// The `Io` trait method.
    pub operation: &'static str,
}

impl fmt::Display for SimUnsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kqio::sim does not simulate {}", self.operation)
    }
}

impl std::error::Error for SimUnsupported {}

pub(crate) fn unsupported(operation: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, SimUnsupported { operation })
}

/// The models' crash hooks, called by the world when a host goes down, before its tasks are
/// dropped.
pub(crate) fn models_crash_host(world: &World, env: &Env, host: HostId) {
    world.net.crash_host(env, host);
    world.disk.crash_host(env, host);
}

/// A simulated world of hosts, driven step by step on the calling thread.
///
/// See the [module docs](self) for an example.
pub struct Sim {
    world: Arc<World>,
    seed: u64,
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sim").field("seed", &self.seed).finish_non_exhaustive()
    }
}

impl Sim {
    /// A world with no hosts, at virtual time 0.
    pub fn new(options: SimOptions) -> Sim {
        let seed = options.seed;
        Sim { world: World::new(options), seed }
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    fn check_name(&self, name: &str) {
        assert!(
            self.world.host_by_name(name).is_none(),
            "kqio::sim: a host named {name:?} exists already"
        );
    }

    /// Adds a host that runs `program` now, and again after each [`restart`](Self::restart).
    /// Its end does not end the run.
    ///
    /// # Panics
    ///
    /// If a host with this name exists.
    #[track_caller]
    pub fn host<F, Fut>(&mut self, name: &str, program: F) -> Host
    where
        F: Fn(IoRef) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.check_name(name);
        let factory: world::Factory = Arc::new(move |io| Box::pin(program(io)));
        let id = self.world.add_host(name, Some(factory.clone()));
        self.world.start(id, move |io| factory(io), |()| {});
        Host(id)
    }

    /// Adds a client host that runs `program` once, now. [`run`](Self::run) returns once every
    /// client's program has ended; [`Client::output`] gives its output.
    ///
    /// # Panics
    ///
    /// If a host with this name exists.
    #[track_caller]
    pub fn client<F, Fut>(&mut self, name: &str, program: F) -> Client<Fut::Output>
    where
        F: FnOnce(IoRef) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        self.check_name(name);
        let id = self.world.add_host(name, None);
        let output = Arc::new(Mutex::new(None));
        let out = output.clone();
        self.world.start(
            id,
            move |io| Box::pin(program(io)),
            move |v| *out.lock().unwrap_or_else(|e| e.into_inner()) = Some(v),
        );
        Client { host: Host(id), output }
    }

    /// The host called `name`.
    pub fn host_named(&self, name: &str) -> Option<Host> {
        self.world.host_by_name(name).map(Host)
    }

    /// An `IoRef` of `host` (of its current life), to act on it from the test between steps
    /// (spawn a task on it, read its clocks).
    pub fn io(&self, host: Host) -> IoRef {
        self.world.io(host.0)
    }

    /// Virtual time since the world began.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.world.now() as i64)
    }

    /// The hash of the event log so far (what [`SimReport::log_hash`] reports at the end of a
    /// run): readable after a run that ended in a [`SimError`] too, or between steps.
    pub fn log_hash(&self) -> u64 {
        self.world.log_hash()
    }

    fn fail<T>(&self, e: SimError) -> Result<T, SimError> {
        eprintln!("{e}\n  replay with: {}", replay_command(self.seed));
        Err(e)
    }

    fn report(&self) -> SimReport {
        SimReport {
            seed: self.seed,
            steps: self.world.steps(),
            elapsed: self.elapsed(),
            log_hash: self.world.log_hash(),
            log: self.world.log_lines(),
        }
    }

    /// After a step: a panic of a host's program, or the step limit.
    /// After a step: the clients not finished yet, or the error that ends the run.
    fn check(&self) -> Result<usize, SimError> {
        let max = self.world.options.max_steps;
        self.world.after_step(max).map_err(|e| match e {
            Some((host, message)) => SimError::Panicked { seed: self.seed, host, message },
            None => SimError::StepLimit { seed: self.seed, steps: max },
        })
    }

    fn deadlock(&self) -> SimError {
        SimError::Deadlock { seed: self.seed, blocked: self.world.blocked_tasks() }
    }

    /// Takes one step: polls one ready task (drawn by the seed), or moves time to the next
    /// timer and fires what is due. `Ok(false)` when there was nothing to do.
    ///
    /// # Errors
    ///
    /// [`SimError::Panicked`] if a host's program panicked in this step,
    /// [`SimError::StepLimit`], [`SimError::TimeLimit`] for a timer beyond the limit.
    pub fn step(&mut self) -> Result<bool, SimError> {
        let limit = nanos(self.world.options.max_time);
        let s = self.world.step(limit, false);
        if let Err(e) = self.check() {
            return self.fail(e);
        }
        match s {
            Stepped::Ran | Stepped::Fired => Ok(true),
            Stepped::Idle if self.world.has_timers() => self.fail(SimError::TimeLimit {
                seed: self.seed,
                max_time: self.world.options.max_time,
            }),
            Stepped::Idle => Ok(false),
        }
    }

    /// Runs until every client's program has ended (or, with no client, until nothing is left
    /// to do), and reports.
    ///
    /// # Errors
    ///
    /// [`SimError::Deadlock`] when nothing can happen any more while a client has not ended;
    /// the limits; a host program's panic. Each is printed to stderr with its replay command.
    pub fn run(&mut self) -> Result<SimReport, SimError> {
        let limit = nanos(self.world.options.max_time);
        let clients = self.world.has_clients();
        if clients && self.world.unfinished_clients() == 0 {
            return Ok(self.report());
        }
        loop {
            let s = self.world.step(limit, false);
            let unfinished = match self.check() {
                Ok(n) => n,
                Err(e) => return self.fail(e),
            };
            if clients && unfinished == 0 {
                return Ok(self.report());
            }
            if s == Stepped::Idle {
                if self.world.has_timers() {
                    let e = SimError::TimeLimit {
                        seed: self.seed,
                        max_time: self.world.options.max_time,
                    };
                    return self.fail(e);
                }
                if unfinished > 0 {
                    return self.fail(self.deadlock());
                }
                return Ok(self.report());
            }
        }
    }

    /// Runs for `duration` of virtual time (whether or not clients end meanwhile), and reports.
    /// Time moves to the end even if nothing is left to happen: the test may act on the world
    /// afterwards (deliver a signal, restart a host), so no deadlock is reported here.
    ///
    /// # Errors
    ///
    /// A host program's panic, the step limit, and [`SimError::TimeLimit`] when `duration`
    /// reaches beyond [`SimOptions::max_time`].
    pub fn run_for(&mut self, duration: Duration) -> Result<SimReport, SimError> {
        let target = self.world.now().saturating_add(nanos(duration));
        let max = nanos(self.world.options.max_time);
        let limit = target.min(max);
        loop {
            let s = self.world.step(limit, true);
            if let Err(e) = self.check() {
                return self.fail(e);
            }
            if s == Stepped::Idle {
                if target > max && self.world.now() >= max {
                    let e = SimError::TimeLimit {
                        seed: self.seed,
                        max_time: self.world.options.max_time,
                    };
                    return self.fail(e);
                }
                return Ok(self.report());
            }
        }
    }

    /// Crashes `host` now: every task of it is dropped (their futures' destructors run), its
    /// signals are forgotten, and the models reset its connections and lose its un-synced data.
    /// A crashed client never delivers its output.
    pub fn crash(&mut self, host: Host) {
        self.world.crash(host.0)
    }

    /// Restarts `host` now: crashes it if it is up, then runs its program again.
    ///
    /// # Panics
    ///
    /// For a client host (its program is `FnOnce`), before anything is done (the host is not
    /// crashed).
    #[track_caller]
    pub fn restart(&mut self, host: Host) {
        self.world.restart(host.0)
    }

    /// Pauses `host`: none of its tasks runs until [`resume`](Self::resume) (timers keep
    /// firing; what they wake waits).
    pub fn pause(&mut self, host: Host) {
        self.world.pause(host.0)
    }

    /// Resumes a paused host.
    pub fn resume(&mut self, host: Host) {
        self.world.resume(host.0)
    }

    /// Steps `host`'s real clock by `by` (negative: back), now, as NTP or an administrator
    /// would; [`ClockOptions::step_probability`] makes seeded steps. Its pending sleeps are
    /// woken, so that a deadline on the real clock the step passed completes at the step, and
    /// one it moved away from waits until the real clock reaches it.
    ///
    /// # Examples
    ///
    /// ```
    /// use kqio::sim::{Sim, SimOptions};
    /// use kqio::time::{Clock, Duration};
    ///
    /// let mut sim = Sim::new(SimOptions::default());
    /// let host = sim.host("a", |_io| async {});
    /// let before = sim.io(host).now(Clock::Real);
    /// sim.step_real_clock(host, Duration::from_secs(-60));
    /// assert_eq!(sim.io(host).now(Clock::Real), before - Duration::from_secs(60));
    /// ```
    pub fn step_real_clock(&mut self, host: Host, by: Duration) {
        self.world.step_real_clock(host.0, by.as_nanos())
    }

    /// Whether `host` is up (neither crashed nor paused).
    pub fn is_up(&self, host: Host) -> bool {
        self.world.status(host.0) == world::Status::Up
    }

    /// Delivers `signal` to `host` now (its [`Signals`](crate::signal::Signals) listeners see
    /// it).
    pub fn signal(&mut self, host: Host, signal: crate::signal::Signal) {
        self.world.deliver_signal(host.0, signal)
    }

    /// Crashes `host` when virtual time reaches `at` (since the world began).
    pub fn crash_at(&mut self, host: Host, at: Duration) {
        self.world.event_at(nanos(at), WorldEvent::Crash(host.0))
    }

    /// Restarts `host` when virtual time reaches `at`.
    ///
    /// # Panics
    ///
    /// At once for a client host (its program is `FnOnce`), not when `at` comes.
    #[track_caller]
    pub fn restart_at(&mut self, host: Host, at: Duration) {
        self.world.assert_restartable(host.0);
        self.world.event_at(nanos(at), WorldEvent::Restart(host.0))
    }

    /// Pauses `host` when virtual time reaches `at`.
    pub fn pause_at(&mut self, host: Host, at: Duration) {
        self.world.event_at(nanos(at), WorldEvent::Pause(host.0))
    }

    /// Resumes `host` when virtual time reaches `at`.
    pub fn resume_at(&mut self, host: Host, at: Duration) {
        self.world.event_at(nanos(at), WorldEvent::Resume(host.0))
    }

    /// Delivers `signal` to `host` when virtual time reaches `at`.
    pub fn signal_at(&mut self, host: Host, signal: crate::signal::Signal, at: Duration) {
        self.world.event_at(nanos(at), WorldEvent::Signal(host.0, signal))
    }

    // ----- the network's fault controls (see `net/mod.rs`) -----

    /// The IP address of `host` (10.0.0.1 for the first host, ...); its name resolves to it
    /// through `lookup` on every host.
    pub fn address(&self, host: Host) -> std::net::IpAddr {
        self.world.net.host_address(host.0)
    }

    /// Cuts the link between `a` and `b` both ways: datagrams are lost, stream data is held
    /// until healed, connects retry and time out.
    pub fn partition(&mut self, a: Host, b: Host) {
        self.world.net.partition(&self.world.env(), a.0, b.0)
    }

    /// Cuts the link from `from` to `to` only. Datagrams from `from` to `to` are lost while
    /// those from `to` reach `from`. A connect between the two fails either way (a handshake
    /// needs both): it retries and times out. On an established connection, stream data (and
    /// FIN, RST) from `from` is held until healed, its writes returning while the send buffer
    /// and the peer's receive window have room and waiting after; data from `to` flows with the
    /// link's latency (the model has no acknowledgements to lose). Undone by
    /// [`heal_one_way`](Self::heal_one_way), [`heal_link`](Self::heal_link) or
    /// [`heal`](Self::heal).
    pub fn partition_one_way(&mut self, from: Host, to: Host) {
        self.world.net.partition_one_way(&self.world.env(), from.0, to.0)
    }

    /// Heals every partition.
    pub fn heal(&mut self) {
        self.world.net.heal(&self.world.env())
    }

    /// Heals the partition between `a` and `b` (both ways).
    pub fn heal_link(&mut self, a: Host, b: Host) {
        self.world.net.heal_link(&self.world.env(), a.0, b.0)
    }

    /// Heals the link from `from` to `to` only, the inverse of
    /// [`partition_one_way`](Self::partition_one_way): traffic from `from` reaches `to` again
    /// (held stream data leaves now, with fresh latencies), while a cut from `to` to `from`, if
    /// any, stays.
    pub fn heal_one_way(&mut self, from: Host, to: Host) {
        self.world.net.heal_one_way(&self.world.env(), from.0, to.0)
    }

    /// Clogs `host`: everything to or from it is delayed until [`unclog`](Self::unclog).
    pub fn clog(&mut self, host: Host) {
        self.world.net.clog(&self.world.env(), host.0)
    }

    /// Unclogs `host`.
    pub fn unclog(&mut self, host: Host) {
        self.world.net.unclog(&self.world.env(), host.0)
    }

    /// Sets the link between `a` and `b` (latency, loss, duplication, reordering) from now on.
    pub fn set_link(&mut self, a: Host, b: Host, link: LinkOptions) {
        self.world.net.set_link(&self.world.env(), a.0, b.0, link)
    }

    // ----- the disks -----

    /// What `host` wrote to its standard output (`File::stdout`) so far, across crashes.
    pub fn stdout(&self, host: Host) -> Vec<u8> {
        self.world.disk.stdout(host.0)
    }

    /// What `host` wrote to its standard error so far, across crashes.
    pub fn stderr(&self, host: Host) -> Vec<u8> {
        self.world.disk.stderr(host.0)
    }

    /// Bytes of file data on `host`'s disk now (synced or not).
    pub fn disk_used(&self, host: Host) -> u64 {
        self.world.disk.used(host.0)
    }

    /// Registers a program that hosts can spawn as a process through
    /// [`kqio::process::Command`](crate::process::Command) by `name` (the command's program).
    /// It runs as a task of the spawning host; its output is its exit code. Spawning a name
    /// not registered fails with `Unsupported`.
    pub fn program<F, Fut>(&mut self, name: &str, program: F)
    where
        F: Fn(IoRef, ProgramArgs) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = i32> + Send + 'static,
    {
        self.world.programs.register(name, program);
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.world.shutdown();
    }
}
