//! The simulated world: hosts, their tasks, the seeded scheduler, virtual time and the timer
//! queue, the event log, and the world's side of [`SimEnv`].
//!
//! Ground rules:
//! 1. One lock (`World::state`) guards all of it, and it is never held while user code runs:
//!    not while a task is polled, a waker is called, a blocking job runs, or a runnable, waker or
//!    future is dropped (any of those may call back into the world). Functions that collect such
//!    things under the lock return them to be used after it is released.
//! 2. The next task to run is drawn by the seed from the ready set (`State::ready`, a `Vec`
//!    indexed by the draw), never taken in FIFO order. Time does not pass while a task is ready;
//!    when none is, it jumps to the earliest timer.
//! 3. Timers are a binary heap of `(deadline, seq)` with lazy cancellation (timers.rs): time
//!    jumps straight to the earliest deadline, and `seq` keeps equal deadlines in insertion
//!    order, so the order, and the log, are fixed by the seed.
//! 4. A task belongs to one host and to one *epoch* of it: a crash bumps the epoch, and every
//!    task of an older epoch is dropped when it is next scheduled (its scheduler,
//!    [`HostSched`], refuses it). Tasks are registered by id (their header's slot) with their
//!    waker, so that a crash can wake, and thereby drop, the ones that wait.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};

use futures::future::BoxFuture;
use futures::FutureExt;

use super::env::{Env, HostId, SimEnv};
use super::host_io::SimIo;
use super::idmap::{sorted_ids, IdMap};
use super::log::EventLog;
use super::rng::Rng;
use super::timers::{Due, Timers};
use super::{BlockedTask, Host, SimOptions};
use crate::io::IoRef;
use crate::task::current::{set_thread_kind, ThreadKind};
use crate::task::{Runnable, Schedule, ScheduleReason, TaskHeader};
use crate::time::{Clock, Duration, Timestamp};

/// A host's program: what runs at its start and again at each restart.
pub(crate) type Factory = Arc<dyn Fn(IoRef) -> BoxFuture<'static, ()> + Send + Sync>;

/// The CPU time a simulated poll of a task costs on the CPU clocks (they count polls).
const CPU_NS_PER_POLL: i64 = 1_000;

/// Something the world does at a virtual time, scheduled with the timers.
pub(crate) enum WorldEvent {
    Crash(HostId),
    Restart(HostId),
    Pause(HostId),
    Resume(HostId),
    Signal(HostId, crate::signal::Signal),
}

/// What one step of the world did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stepped {
    /// A task was polled.
    Ran,
    /// Virtual time moved to the next timer and what was due there fired.
    Fired,
    /// Nothing is ready and no timer is pending.
    Idle,
}

/// A host's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Up,
    Paused,
    Down,
}

struct HostState {
    name: String,
    status: Status,
    epoch: u64,
    /// Runnables of a paused host, run again after `resume`.
    parked: Vec<Runnable>,
    /// `None` for a client (its program runs once).
    factory: Option<Factory>,
    /// Whether the host's program (its root task) has ended in this epoch.
    finished: bool,
    client: bool,
    /// The real clock's offset from the world's (stepped), its drift, and time spent suspended.
    real_offset_ns: i64,
    drift_ppm: i64,
    suspended_ns: u64,
    /// Signal deliveries per signal number: count and the waiters.
    signals: BTreeMap<i32, SignalState>,
    /// `Io::metrics`: polls of the host's tasks and sleeps of them that fired, since the host's
    /// program last started (`start` resets them).
    polls: u64,
    timers_fired: u64,
}

#[derive(Default)]
struct SignalState {
    delivered: u64,
    waiters: Vec<Waker>,
}

struct TaskEntry {
    host: HostId,
    /// Keeps the task's allocation, and so `header`, alive while the entry exists.
    waker: Waker,
    header: HeaderPtr,
}

/// The header of a registered task, read for task dumps and the deadlock report.
struct HeaderPtr(std::ptr::NonNull<TaskHeader>);

// SAFETY: `TaskHeader` is `Sync` (atomics and `Send + Sync` fields), so a pointer to one may be
// sent to and read from any thread; its validity is argued where it is read (`TaskEntry::info`).
unsafe impl Send for HeaderPtr {}

impl TaskEntry {
    fn info(&self) -> crate::observe::TaskInfo {
        // SAFETY: the header lives in the task's allocation (async-task metadata), which is
        // freed only once every reference to it is gone; `self.waker` is such a reference and
        // lives as long as this entry, and entries are only read under the world's lock, which
        // the removal (`task_finished`) takes too.
        let header = unsafe { self.header.0.as_ref() };
        crate::observe::TaskInfo::of(header)
    }
}

thread_local! {
    /// The address of the world whose task this thread is running (0: none).
    static DRIVING: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Marks the calling thread as running a task of a world, until dropped.
struct Driving(usize);

impl Driving {
    fn enter(world: &World) -> Driving {
        Driving(DRIVING.with(|d| d.replace(world as *const World as usize)))
    }
}

impl Drop for Driving {
    fn drop(&mut self) {
        DRIVING.with(|d| d.set(self.0));
    }
}

pub(crate) struct State {
    rng: Rng,
    /// Virtual nanoseconds since the world began (the awake clock, less its start).
    now: u64,
    /// The ready tasks, each with its host.
    ready: Vec<(Runnable, HostId)>,
    timers: Timers,
    next_task: u64,
    /// The live tasks by id (an [`IdMap`]: iterated only through `task_ids`, in id order).
    tasks: IdMap<TaskEntry>,
    hosts: Vec<HostState>,
    steps: u64,
    polls: u64,
    log: EventLog,
    unfinished_clients: usize,
    /// The first panic of a host's program: host name and message.
    panicked: Option<(String, String)>,
}

/// The world. Shared by the `Sim` that drives it and every host's `SimIo`.
pub(crate) struct World {
    state: Mutex<State>,
    pub(crate) options: SimOptions,
    pub(crate) programs: super::process::Programs,
    /// The network model.
    pub(crate) net: super::net::SimNet,
    /// The disk model (every host's file system).
    pub(crate) disk: super::disk::SimDisk,
    me: Weak<World>,
    /// `State::now`, mirrored (written under the lock, at each move of time) so that reading
    /// the clock, which the models do on every operation, takes no lock.
    now: AtomicU64,
}

/// The scheduler of one epoch of one host: what `task_reserve` returns.
pub(crate) struct HostSched {
    world: Arc<World>,
    host: HostId,
    epoch: u64,
}

impl HostSched {
    pub(crate) fn world(&self) -> &Arc<World> {
        &self.world
    }

    /// Whether this epoch of the host is over (crashed, or restarted since).
    pub(crate) fn is_shut_down(&self) -> bool {
        self.world.is_shut_down(self.host, self.epoch)
    }
}

impl Schedule for HostSched {
    fn schedule(&self, runnable: Runnable, reason: ScheduleReason) {
        let rejected = {
            let mut st = self.world.lock();
            let st = &mut *st;
            let h = &mut st.hosts[self.host as usize];
            if h.epoch != self.epoch || h.status == Status::Down {
                Some(runnable)
            } else {
                if reason == ScheduleReason::Spawned {
                    let id = st.next_task;
                    st.next_task += 1;
                    runnable.metadata().set_slot(id as usize);
                    let header = HeaderPtr(std::ptr::NonNull::from(runnable.metadata()));
                    let entry = TaskEntry { host: self.host, waker: runnable.waker(), header };
                    st.tasks.insert(id, entry);
                }
                if h.status == Status::Paused {
                    h.parked.push(runnable);
                } else {
                    st.ready.push((runnable, self.host));
                }
                None
            }
        };
        // A task of a crashed epoch: dropped unrun (outside the lock: its future's destructor
        // may call the world).
        drop(rejected);
    }

    fn task_spawned(&self, _task: &TaskHeader) {}

    fn task_finished(&self, task: &TaskHeader) {
        let entry = self.world.lock().tasks.remove(&(task.slot() as u64));
        drop(entry);
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

impl World {
    pub(crate) fn new(options: SimOptions) -> Arc<World> {
        let rng = Rng::new(options.seed);
        let lines = options.keep_log.then(Vec::new);
        let net = super::net::SimNet::new(options.net.clone());
        let disk = super::disk::SimDisk::new(options.disk.clone());
        Arc::new_cyclic(|me| World {
            state: Mutex::new(State {
                rng,
                now: 0,
                ready: Vec::new(),
                timers: Timers::new(),
                next_task: 0,
                tasks: IdMap::default(),
                hosts: Vec::new(),
                steps: 0,
                polls: 0,
                log: EventLog::new(lines),
                unfinished_clients: 0,
                panicked: None,
            }),
            options,
            programs: Default::default(),
            net,
            disk,
            me: me.clone(),
            now: AtomicU64::new(0),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn env(&self) -> Env {
        self.me.upgrade().expect("the world is alive while it is used")
    }

    fn arc(&self) -> Arc<World> {
        self.me.upgrade().expect("the world is alive while it is used")
    }

    // ----- hosts -----

    /// Adds a host (not started yet: see `start`).
    pub(crate) fn add_host(&self, name: &str, factory: Option<Factory>) -> HostId {
        let mut st = self.lock();
        let id = st.hosts.len() as HostId;
        let max = self.options.clock.max_offset.as_nanos().max(0) as u64;
        let real_offset_ns =
            if max > 0 { st.rng.between(0, 2 * max) as i64 - max as i64 } else { 0 };
        // Below 1e6 ppm, so that a slow clock still moves forward.
        let dmax = i64::from(self.options.clock.max_drift_ppm.min(999_999));
        let drift_ppm = if dmax > 0 { st.rng.between(0, 2 * dmax as u64) as i64 - dmax } else { 0 };
        let client = factory.is_none();
        st.hosts.push(HostState {
            name: name.to_owned(),
            status: Status::Down,
            epoch: 0,
            parked: Vec::new(),
            factory,
            finished: false,
            client,
            real_offset_ns,
            drift_ppm,
            suspended_ns: 0,
            signals: BTreeMap::new(),
            polls: 0,
            timers_fired: 0,
        });
        if client {
            st.unfinished_clients += 1;
        }
        let now = st.now;
        st.log_line(format_args!("{now} host {id} {name} added"));
        drop(st);
        self.net.add_host(id, name);
        self.disk.add_host(id, self.clock(id, Clock::Real).as_nanos());
        id
    }

    /// The `IoRef` of the host's current epoch.
    pub(crate) fn io(&self, host: HostId) -> IoRef {
        let epoch = self.lock().hosts[host as usize].epoch;
        IoRef::new(Arc::new(SimIo::new(
            Arc::new(HostSched { world: self.arc(), host, epoch }),
            host,
        )))
    }

    /// Brings a down host up in a new epoch and spawns `program` as its root task. The root
    /// records its end (and a panic) in the host; a client's `on_output` keeps the output.
    #[track_caller]
    pub(crate) fn start<T: Send + 'static>(
        &self,
        host: HostId,
        program: impl FnOnce(IoRef) -> BoxFuture<'static, T>,
        on_output: impl FnOnce(T) + Send + 'static,
    ) {
        {
            let mut st = self.lock();
            let now = st.now;
            let h = &mut st.hosts[host as usize];
            debug_assert_eq!(h.status, Status::Down);
            h.epoch += 1;
            h.status = Status::Up;
            h.finished = false;
            h.polls = 0;
            h.timers_fired = 0;
            let epoch = h.epoch;
            st.log_line(format_args!("{now} host {host} up epoch {epoch}"));
        }
        self.net.restart_host(host);
        let io = self.io(host);
        let world = self.me.clone();
        let epoch = self.lock().hosts[host as usize].epoch;
        let future = program(io.clone());
        let root = async move {
            let out = AssertUnwindSafe(future).catch_unwind().await;
            let Some(world) = world.upgrade() else { return };
            let panic = match out {
                Ok(v) => {
                    on_output(v);
                    None
                }
                Err(payload) => Some(panic_message(&*payload)),
            };
            world.root_finished(host, epoch, panic);
        };
        let name = format!("{} main", self.host_name(host));
        match io.task().name(name).concurrent(root) {
            Ok(handle) => handle.detach(),
            Err(_) => unreachable!("a simulated host always grants a task"),
        }
    }

    fn root_finished(&self, host: HostId, epoch: u64, panic: Option<String>) {
        let mut st = self.lock();
        let now = st.now;
        let h = &mut st.hosts[host as usize];
        if h.epoch != epoch || h.finished {
            return;
        }
        h.finished = true;
        let client = h.client;
        let name = h.name.clone();
        if client {
            st.unfinished_clients -= 1;
        }
        match panic {
            Some(msg) => {
                st.log_line(format_args!("{now} host {host} panicked"));
                if st.panicked.is_none() {
                    st.panicked = Some((name, msg));
                }
            }
            None => st.log_line(format_args!("{now} host {host} finished")),
        }
    }

    /// Crashes a host: every task of it is dropped, then the models forget its volatile state.
    pub(crate) fn crash(&self, host: HostId) {
        let was_up = {
            let mut st = self.lock();
            let st = &mut *st;
            let h = &mut st.hosts[host as usize];
            let was_up = h.status != Status::Down;
            if was_up {
                h.status = Status::Down;
                // A crashed client never delivers its output and cannot be restarted: it
                // stops counting as unfinished, so the run can end without it.
                if h.client && !h.finished {
                    h.finished = true;
                    st.unfinished_clients -= 1;
                }
                let now = st.now;
                st.log_line(format_args!("{now} host {host} crashed"));
            }
            was_up
        };
        // The models first: the network resets the host's connections at their peers before
        // the tasks' socket handles are dropped (which would close them gracefully).
        if was_up {
            super::models_crash_host(self, &self.env(), host);
        }
        loop {
            let (runnables, wakers) = {
                let mut st = self.lock();
                let st = &mut *st;
                let h = &mut st.hosts[host as usize];
                let mut runnables = std::mem::take(&mut h.parked);
                let signals = std::mem::take(&mut h.signals);
                // A stable partition: the ready set's order stays as it was for the tasks that
                // remain (only the draw decides).
                let (mine, rest) =
                    std::mem::take(&mut st.ready).into_iter().partition(|(_, h)| *h == host);
                st.ready = rest;
                runnables.extend(mine.into_iter().map(|(r, _): (Runnable, HostId)| r));
                let wakers: Vec<Waker> = sorted_ids(&st.tasks, |t| t.host == host)
                    .into_iter()
                    .map(|id| st.tasks[&id].waker.clone())
                    .chain(signals.into_values().flat_map(|s| s.waiters))
                    .collect();
                (runnables, wakers)
            };
            if runnables.is_empty() && wakers.is_empty() {
                break;
            }
            drop(runnables);
            for w in wakers {
                // The task is scheduled, its epoch refused, and it is dropped right here.
                w.wake();
            }
            if !self.lock().tasks.values().any(|t| t.host == host) {
                break;
            }
        }
    }

    /// Restarts a host: crashes it if it is up, then runs its program again.
    ///
    /// # Panics
    ///
    /// For a client, whose program ran once.
    #[track_caller]
    pub(crate) fn restart(&self, host: HostId) {
        self.assert_restartable(host);
        if self.lock().hosts[host as usize].status != Status::Down {
            self.crash(host);
        }
        let factory = self.lock().hosts[host as usize].factory.clone();
        let factory =
            factory.expect("kqio::sim: a client cannot be restarted (its program is FnOnce)");
        self.start(host, move |io| factory(io), |()| {});
    }

    /// Panics, with a message that says why, if `host` is a client: its program is `FnOnce`
    /// and ran once, so it cannot run again. Called where a restart is asked for (`restart`,
    /// `restart_at`), before anything is done.
    #[track_caller]
    pub(crate) fn assert_restartable(&self, host: HostId) {
        let st = self.lock();
        let h = &st.hosts[host as usize];
        if h.client {
            let name = h.name.clone();
            drop(st);
            panic!(
                "kqio::sim: client host {name:?} cannot be restarted: its program (sim.client) \
                 is FnOnce and runs once; add it with sim.host to restart it, or crash it"
            );
        }
    }

    pub(crate) fn pause(&self, host: HostId) {
        let mut st = self.lock();
        let st = &mut *st;
        if st.hosts[host as usize].status != Status::Up {
            return;
        }
        let (parked, rest): (Vec<_>, Vec<_>) =
            std::mem::take(&mut st.ready).into_iter().partition(|(_, h)| *h == host);
        st.ready = rest;
        let h = &mut st.hosts[host as usize];
        h.status = Status::Paused;
        h.parked.extend(parked.into_iter().map(|(r, _)| r));
        let now = st.now;
        st.log_line(format_args!("{now} host {host} paused"));
    }

    pub(crate) fn resume(&self, host: HostId) {
        let mut st = self.lock();
        let st = &mut *st;
        let h = &mut st.hosts[host as usize];
        if h.status != Status::Paused {
            return;
        }
        h.status = Status::Up;
        let parked = std::mem::take(&mut h.parked);
        st.ready.extend(parked.into_iter().map(|r| (r, host)));
        let now = st.now;
        st.log_line(format_args!("{now} host {host} resumed"));
    }

    pub(crate) fn status(&self, host: HostId) -> Status {
        self.lock().hosts[host as usize].status
    }

    pub(crate) fn host_name(&self, host: HostId) -> String {
        self.lock().hosts[host as usize].name.clone()
    }

    pub(crate) fn host_by_name(&self, name: &str) -> Option<HostId> {
        self.lock().hosts.iter().position(|h| h.name == name).map(|i| i as HostId)
    }

    pub(crate) fn is_shut_down(&self, host: HostId, epoch: u64) -> bool {
        let st = self.lock();
        let h = &st.hosts[host as usize];
        h.epoch != epoch || h.status == Status::Down
    }

    /// Schedules a world event at virtual time `at` (nanoseconds since the world began).
    pub(crate) fn event_at(&self, at: u64, event: WorldEvent) {
        self.lock().insert_timer(at, Due::Event(event));
    }

    fn run_event(&self, event: WorldEvent) {
        match event {
            WorldEvent::Crash(h) => self.crash(h),
            WorldEvent::Restart(h) => self.restart(h),
            WorldEvent::Pause(h) => self.pause(h),
            WorldEvent::Resume(h) => self.resume(h),
            WorldEvent::Signal(h, s) => self.deliver_signal(h, s),
        }
    }

    // ----- signals -----

    pub(crate) fn deliver_signal(&self, host: HostId, signal: crate::signal::Signal) {
        let waiters = {
            let mut st = self.lock();
            let now = st.now;
            let n = signal.as_raw();
            st.log_line(format_args!("{now} host {host} signal {n}"));
            let s = st.hosts[host as usize].signals.entry(signal.as_raw()).or_default();
            s.delivered += 1;
            std::mem::take(&mut s.waiters)
        };
        waiters.into_iter().for_each(Waker::wake);
    }

    pub(crate) fn signal_listen(&self, host: HostId, signal: crate::signal::Signal) -> u64 {
        let mut st = self.lock();
        st.hosts[host as usize].signals.entry(signal.as_raw()).or_default().delivered
    }

    pub(crate) fn signal_poll(
        &self,
        cx: &mut Context<'_>,
        host: HostId,
        signal: crate::signal::Signal,
        seen: &mut u64,
    ) -> Poll<()> {
        let mut st = self.lock();
        let s = st.hosts[host as usize].signals.entry(signal.as_raw()).or_default();
        if s.delivered > *seen {
            *seen = s.delivered;
            return Poll::Ready(());
        }
        if !s.waiters.iter().any(|w| w.will_wake(cx.waker())) {
            s.waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }

    // ----- time -----

    pub(crate) fn now(&self) -> u64 {
        self.now.load(Ordering::Relaxed)
    }

    /// The reading of `clock` on `host`.
    pub(crate) fn clock(&self, host: HostId, clock: Clock) -> Timestamp {
        let st = self.lock();
        let now = st.now as i64;
        let h = &st.hosts[host as usize];
        let boot = now.saturating_add(h.suspended_ns as i64);
        match clock {
            Clock::Awake => Timestamp::from_nanos(now),
            Clock::Boot => Timestamp::from_nanos(boot),
            Clock::Real => self.real_at(h, now),
            Clock::CpuProcess | Clock::CpuThread => {
                Timestamp::from_nanos((st.polls as i64).saturating_mul(CPU_NS_PER_POLL))
            }
        }
    }

    /// What `h`'s real clock reads at virtual time `at`, if it does not step meanwhile.
    fn real_at(&self, h: &HostState, at: i64) -> Timestamp {
        let boot = at.saturating_add(h.suspended_ns as i64);
        let drift = (i128::from(at) * i128::from(h.drift_ppm) / 1_000_000) as i64;
        Timestamp::from_nanos(
            self.options
                .clock
                .real_start
                .as_nanos()
                .saturating_add(boot)
                .saturating_add(drift)
                .saturating_add(h.real_offset_ns),
        )
    }

    /// How long in virtual (awake) time until `host`'s `clock` reads `deadline`, if nothing
    /// steps it (`Io::time_until`). Only the real clock runs at another rate (its drift): the
    /// others are their distance from the present.
    pub(crate) fn until(&self, host: HostId, clock: Clock, deadline: Timestamp) -> Duration {
        if clock != Clock::Real {
            return deadline.saturating_duration_since(self.clock(host, clock));
        }
        let st = self.lock();
        let start = st.now as i64;
        let h = &st.hosts[host as usize];
        let remaining = deadline.saturating_duration_since(self.real_at(h, start));
        if h.drift_ppm == 0 || remaining.as_nanos() <= 0 {
            return remaining;
        }
        // The real clock gains `drift_ppm` ns per 1e6 ns of virtual time (a drift is between
        // -1e6 and 1e6 ppm exclusive, so it still moves forward): it covers `remaining` in
        // about remaining * 1e6 / (1e6 + drift). The drift's rounding to whole nanoseconds
        // makes that a nanosecond or two off: step to the first virtual nanosecond at which the
        // real clock has reached `deadline`.
        let room = i64::MAX - start;
        let guess =
            i128::from(remaining.as_nanos()) * 1_000_000 / (1_000_000 + i128::from(h.drift_ppm));
        let reads = |ahead: i64| self.real_at(h, start.saturating_add(ahead));
        let mut ahead = guess.clamp(0, i128::from(room)) as i64;
        // (Bounded: near the ends of the time range the readings saturate.)
        for _ in 0..64 {
            if ahead >= room || reads(ahead) >= deadline {
                break;
            }
            ahead += 1;
        }
        for _ in 0..64 {
            if ahead <= 0 || reads(ahead - 1) < deadline {
                break;
            }
            ahead -= 1;
        }
        Duration::from_nanos(ahead)
    }

    /// Polls a sleep until `deadline` on the awake clock (see `Io::time_poll_sleep`).
    pub(crate) fn poll_sleep(
        &self,
        host: HostId,
        cx: &mut Context<'_>,
        slot: &mut u64,
        deadline: Timestamp,
    ) -> Poll<()> {
        let mut st = self.lock();
        let at = u64::try_from(deadline.as_nanos()).unwrap_or(0);
        if at <= st.now {
            if *slot != 0 {
                let old = std::mem::take(slot);
                let w = st.remove_sleep(old);
                drop(st);
                drop(w);
            }
            return Poll::Ready(());
        }
        if *slot != 0 {
            if let Some(sleep) = st.timers.sleep_mut(*slot) {
                if !sleep.waker.will_wake(cx.waker()) {
                    sleep.waker = cx.waker().clone();
                }
                return Poll::Pending;
            }
            // Not pending: it fired, so its deadline has passed and `at <= now` above returned
            // already; a slot reused for a later deadline is armed anew below.
        }
        *slot = st.timers.insert_sleep(at, host, cx.waker().clone());
        Poll::Pending
    }

    /// Steps `host`'s real clock now (`Sim::step_real_clock`).
    pub(crate) fn step_real_clock(&self, host: HostId, step: i64) {
        self.lock().step_real_clock(host, step)
    }

    pub(crate) fn cancel_sleep(&self, slot: &mut u64) {
        if *slot == 0 {
            return;
        }
        let old = std::mem::take(slot);
        let w = self.lock().remove_sleep(old);
        drop(w);
    }

    /// Runs a blocking job inline after a seeded latency.
    pub(crate) fn submit_job(&self, job: Box<dyn FnOnce() + Send>) {
        let mut st = self.lock();
        let (lo, hi) = self.options.blocking_latency;
        let lat = st.rng.between(lo.as_nanos().max(0) as u64, hi.as_nanos().max(0) as u64);
        let at = st.now.saturating_add(lat);
        st.insert_timer(at, Due::Job(job));
    }

    // ----- random -----

    pub(crate) fn fill(&self, buf: &mut [u8]) {
        self.lock().rng.fill(buf)
    }

    pub(crate) fn fault_point(&self, host: HostId, name: &str) -> bool {
        let mut st = self.lock();
        let p = self.options.fault_probability;
        let hit = st.rng.chance(p);
        if hit {
            let now = st.now;
            st.log_line(format_args!("{now} host {host} fault {name}"));
        }
        hit
    }

    // ----- running -----

    /// One step: run one ready task (drawn by the seed), or else move time to the next timer
    /// and fire everything due then. `limit` bounds the jump (nanoseconds since the start);
    /// a timer beyond it is not fired and `Idle` is returned with time moved to `limit` if
    /// `jump_to_limit`.
    pub(crate) fn step(&self, limit: u64, jump_to_limit: bool) -> Stepped {
        let mut st = self.lock();
        if !st.ready.is_empty() {
            let n = st.ready.len() as u64;
            let i = st.rng.below(n) as usize;
            let (runnable, host) = st.ready.swap_remove(i);
            st.steps += 1;
            st.polls += 1;
            let (now, id) = (st.now, runnable.metadata().slot());
            st.hosts[host as usize].polls += 1;
            // "{now} run {id}", the most frequent line, without `core::fmt`.
            st.log.num(now);
            st.log.text(" run ");
            st.log.num(id as u64);
            st.log.end_line();
            drop(st);
            let _kind = set_thread_kind(ThreadKind::Worker);
            let _driving = Driving::enter(self);
            runnable.run();
            return Stepped::Ran;
        }
        let next = st.timers.next_at();
        let at = match next {
            Some(at) if at <= limit => at,
            _ => {
                if jump_to_limit && limit > st.now {
                    st.advance_to(limit, &self.options);
                    self.now.store(st.now, Ordering::Relaxed);
                }
                return Stepped::Idle;
            }
        };
        st.steps += 1;
        if at > st.now {
            st.advance_to(at, &self.options);
            self.now.store(st.now, Ordering::Relaxed);
        }
        let now = st.now;
        // Usually one entry is due: it is kept apart, so that a `Vec` is allocated only for more.
        let (mut first, mut more, mut n) = (None, Vec::new(), 0u64);
        while let Some(fired) = st.timers.pop_due(now) {
            if let Some(host) = fired.sleep_of {
                st.hosts[host as usize].timers_fired += 1;
            }
            n += 1;
            match first {
                None => first = Some(fired.due),
                Some(_) => more.push(fired.due),
            }
        }
        // "{now} fire {n}", without `core::fmt`.
        st.log.num(now);
        st.log.text(" fire ");
        st.log.num(n);
        st.log.end_line();
        drop(st);
        for d in first.into_iter().chain(more) {
            match d {
                Due::Wake(w) => w.wake(),
                Due::Job(job) => {
                    let _kind = set_thread_kind(ThreadKind::Worker);
                    // The jobs `spawn_blocking` builds catch their own panics; a raw one that
                    // panics is dropped, as the kqueue pool does.
                    let _ = catch_unwind(AssertUnwindSafe(job));
                }
                Due::Event(e) => self.run_event(e),
                Due::Sleep => unreachable!("a fired sleep is a `Wake`"),
            }
        }
        Stepped::Fired
    }

    pub(crate) fn steps(&self) -> u64 {
        self.lock().steps
    }

    pub(crate) fn has_clients(&self) -> bool {
        self.lock().hosts.iter().any(|h| h.client)
    }

    pub(crate) fn has_timers(&self) -> bool {
        !self.lock().timers.is_empty()
    }

    pub(crate) fn unfinished_clients(&self) -> usize {
        self.lock().unfinished_clients
    }

    /// After a step: the clients not finished yet; or the first panic of a host's program
    /// (taken), or `Err(None)` once `max_steps` steps were taken. One lock for all three.
    pub(crate) fn after_step(&self, max_steps: u64) -> Result<usize, Option<(String, String)>> {
        let mut st = self.lock();
        if let Some(p) = st.panicked.take() {
            return Err(Some(p));
        }
        if st.steps >= max_steps {
            return Err(None);
        }
        Ok(st.unfinished_clients)
    }

    pub(crate) fn log_hash(&self) -> u64 {
        self.lock().log.hash()
    }

    pub(crate) fn log_lines(&self) -> Vec<String> {
        self.lock().log.lines()
    }

    /// The tasks alive now, for the deadlock report.
    pub(crate) fn blocked_tasks(&self) -> Vec<BlockedTask> {
        let st = self.lock();
        sorted_ids(&st.tasks, |_| true)
            .into_iter()
            .map(|id| (id, &st.tasks[&id]))
            .map(|(id, t)| BlockedTask {
                id,
                host: Host(t.host),
                host_name: st.hosts[t.host as usize].name.clone(),
                task: t.info(),
            })
            .collect()
    }

    /// `Io::metrics` of `host`: its share of the world (see `SimIo::metrics`).
    pub(crate) fn metrics(&self, host: HostId) -> crate::observe::RuntimeMetrics {
        let st = self.lock();
        let h = &st.hosts[host as usize];
        let worker = crate::observe::WorkerMetrics {
            polls: h.polls,
            busy: std::time::Duration::from_nanos(h.polls.saturating_mul(CPU_NS_PER_POLL as u64)),
            local_queue_depth: st.ready.iter().filter(|(_, h)| *h == host).count() + h.parked.len(),
            ..Default::default()
        };
        crate::observe::RuntimeMetrics {
            provided: true,
            workers: vec![worker],
            timers_pending: st.timers.sleeps_of(host),
            timers_fired: h.timers_fired,
            live_tasks: st.tasks.values().filter(|t| t.host == host).count(),
            ..Default::default()
        }
    }

    /// Whether the calling thread is running a task of this world now (inside `step`): the
    /// thread a local task spawned now will be run on.
    pub(crate) fn is_driving_thread(&self) -> bool {
        DRIVING.with(|d| d.get() == self as *const World as usize)
    }

    /// The live tasks of `host`, for `Io::task_dump`.
    pub(crate) fn task_dump(&self, host: HostId) -> crate::observe::TaskDump {
        let st = self.lock();
        crate::observe::TaskDump::new(
            sorted_ids(&st.tasks, |t| t.host == host)
                .into_iter()
                .map(|id| st.tasks[&id].info())
                .collect(),
        )
    }

    /// Drops every task of every host and every pending timer: the end of the world.
    pub(crate) fn shutdown(&self) {
        let n = self.lock().hosts.len() as HostId;
        for h in 0..n {
            self.crash(h);
        }
        let (timers, ready) = {
            let mut st = self.lock();
            (st.timers.take(), std::mem::take(&mut st.ready))
        };
        drop(ready);
        drop(timers);
    }
}

impl State {
    fn insert_timer(&mut self, at: u64, due: Due) -> u64 {
        self.timers.insert(at, due)
    }

    fn remove_sleep(&mut self, seq: u64) -> Option<Waker> {
        self.timers.cancel_sleep(seq)
    }

    fn log_line(&mut self, args: fmt::Arguments<'_>) {
        let _ = self.log.write_fmt(args);
        self.log.end_line();
    }

    /// Steps `host`'s real clock by `step` nanoseconds (negative: back), waking its sleeps.
    pub(crate) fn step_real_clock(&mut self, host: HostId, step: i64) {
        let h = &mut self.hosts[host as usize];
        h.real_offset_ns = h.real_offset_ns.saturating_add(step);
        let now = self.now;
        self.log_line(format_args!("{now} host {host} real clock step {step}"));
        self.wake_sleeps(host);
    }

    /// Makes `host`'s pending sleeps fire now, in sequence order: its real clock moved, and a
    /// sleep on a real-clock deadline re-reads that clock when polled (for the others it is a
    /// spurious wake, which `Io::time_poll_sleep` allows; they re-arm their timer).
    fn wake_sleeps(&mut self, host: HostId) {
        let now = self.now;
        let n = self.timers.move_sleeps_to(host, now);
        if n > 0 {
            self.log_line(format_args!("{now} host {host} sleeps woken {n}"));
        }
    }

    /// Moves virtual time to `at`, with the seeded clock events of the options on the way.
    fn advance_to(&mut self, at: u64, options: &SimOptions) {
        self.now = at;
        let c = &options.clock;
        if c.step_probability > 0.0 || c.suspend_probability > 0.0 {
            let max_step = c.max_step.as_nanos().max(0) as u64;
            let max_suspend = c.max_suspend.as_nanos().max(0) as u64;
            for i in 0..self.hosts.len() {
                if self.rng.chance(c.step_probability) && max_step > 0 {
                    let step = self.rng.between(0, 2 * max_step) as i64 - max_step as i64;
                    self.step_real_clock(i as HostId, step);
                }
                if self.rng.chance(c.suspend_probability) && max_suspend > 0 {
                    let s = self.rng.between(1, max_suspend);
                    self.hosts[i].suspended_ns = self.hosts[i].suspended_ns.saturating_add(s);
                    let now = self.now;
                    self.log_line(format_args!("{now} host {i} suspended {s}"));
                    self.wake_sleeps(i as HostId);
                }
            }
        }
    }
}

impl SimEnv for World {
    fn now(&self) -> u64 {
        World::now(self)
    }

    fn real_now(&self, host: HostId) -> i64 {
        self.clock(host, Clock::Real).as_nanos()
    }

    fn random_u64(&self) -> u64 {
        self.lock().rng.next_u64()
    }

    fn wake_at(&self, at: u64, waker: Waker) {
        let mut st = self.lock();
        let at = at.max(st.now);
        st.insert_timer(at, Due::Wake(waker));
    }

    fn log(&self, event: fmt::Arguments<'_>) {
        self.log_with(&mut |line| line.args(event));
    }

    fn log_with(&self, event: &mut dyn FnMut(&mut EventLog)) {
        let mut st = self.lock();
        let now = st.now;
        st.log.num(now);
        st.log.text(" ");
        event(&mut st.log);
        st.log.end_line();
    }
}

impl fmt::Debug for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("World").field("seed", &self.options.seed).finish_non_exhaustive()
    }
}

/// A duration option as nanoseconds, negative as zero.
pub(crate) fn nanos(d: Duration) -> u64 {
    d.as_nanos().max(0) as u64
}
