//! The kqueue backend: `Kqueue`, its options, and its implementation of [`Io`].
//!
//! | file | what |
//! | --- | --- |
//! | `mod.rs` | `Kqueue::{init, io, block_on, deinit}`, `InitOptions`, the `impl Io` table |
//! | `scheduler/` | workers, local queues, stealing, parking, the task registry, freeing tasks where they were spawned (`retired.rs`), the hand-shake of late work with shutdown (`late.rs`), per-worker counters, the stall detector |
//! | `reactor.rs` | mio `Poll`, registrations, readiness delivery, cross-thread wake |
//! | `async_fd.rs` | `AsyncFd`: readiness waits on a raw descriptor |
//! | `blocking.rs` | the bounded blocking pool (files, directories, name lookup) |
//! | `interrupt.rs` | stopping a canceled pool job: its thread signaled until it acknowledges |
//! | `fs.rs` | files and directories: the vtable's fs methods as jobs on the blocking pool |
//! | `stream.rs` | pipes, FIFOs, terminals: file reads and writes on the reactor; the jobs of `fs.rs` |
//! | `net.rs` | sockets: the vtable's net methods on `socket2` sockets and `AsyncFd` |
//! | `read_guess.rs` | a stream socket's score of reading again right after a write |
//! | `process.rs` | child processes: spawn, exit through the reactor, background reaping, pipes |
//! | `random.rs` | entropy: a ChaCha12 generator per thread, and the OS's |
//! | `signal.rs` | signal listeners over `sys/signal.rs` (`EVFILT_SIGNAL` or a self-pipe) |
//!
//! Shutdown is described step by step in `scheduler/mod.rs` (ground rule 3).

mod async_fd;
mod blocking;
mod fs;
mod interrupt;
mod net;
mod process;
mod random;
pub(crate) mod reactor;
mod read_guess;
mod scheduler;
mod signal;
mod stream;
pub(crate) mod timer;

use std::io::{self, IoSlice, IoSliceMut, SeekFrom};
use std::net::Shutdown;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread;

use crate::error::{ConcurrencyUnavailable, EntropyUnavailable, LocalUnavailable};
use crate::fs::{
    Access, DirEntry, DirHandle, EntriesHandle, FileHandle, FsFuture, Lock, MapHandle, MapOptions,
    Metadata, Offset, OpenOptions, Permissions, SetTimestamp, StdStream,
};
use crate::io::{Io, IoRef};
use crate::net::{
    AddressKind, BindOptions, ListenOptions, LookupResult, SocketAddress, SocketHandle, SocketKind,
    SocketOption, SocketOptionKind,
};
use crate::observe::{RuntimeMetrics, StallHook, TaskDump};
use crate::process::{PipeHandle, ProcessHandle, SpawnedProcess};
use crate::signal::Signal;
use crate::sleep::TimerSlot;
use crate::task::current::{set_thread_kind, thread_kind, ThreadKind};
use crate::task::{Schedule, TaskHeader};
use crate::time::{Clock, Duration, Timestamp};
use futures::future::BoxFuture;

pub use async_fd::{AsyncFd, Interest};
pub use reactor::Direction;

use reactor::Reactor;
use scheduler::Shared;

/// Options for [`Kqueue::init`] (Zig `Kqueue.InitOptions`).
///
/// # Examples
///
/// ```
/// let opts = kqio::InitOptions { n_threads: Some(2), ..Default::default() };
/// let rt = kqio::Kqueue::init(opts)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Number of worker threads. `None`: one per core (`std::thread::available_parallelism`).
    /// `Some(0)` is invalid. Unlike Zig, the count does not include the thread calling
    /// `block_on`, which runs only the future given to it.
    pub n_threads: Option<usize>,
    /// The most spawned tasks alive at once. When reached, `concurrent` fails with
    /// [`ConcurrencyUnavailable`] and `r#async` runs its future inline. `None`: unlimited.
    pub max_tasks: Option<usize>,
    /// Prefix of worker thread names (`"{prefix}-{index}"`; blocking-pool threads are
    /// `"{prefix}-blocking-{n}"`).
    pub thread_name: String,
    /// The most threads of the blocking pool (file and directory work, name lookup) alive at
    /// once; jobs beyond it queue. Default 64: see `kqueue/blocking.rs`. `0` counts as 1.
    pub max_blocking_threads: usize,
    /// How long an idle blocking-pool thread waits for work before it exits. Default 10 s.
    pub blocking_keep_alive: std::time::Duration,
    /// Confined directories ([`Dir::confine`](crate::fs::Dir::confine)) resolve their paths by
    /// kqio's own component-by-component walk even where the kernel offers to (Linux 5.6+
    /// `openat2`, FreeBSD 13+ `O_RESOLVE_BENEATH`). Default `false`. The walk is what macOS,
    /// NetBSD and OpenBSD always use; this runs it anywhere (kqio's tests run both).
    pub confine_by_walk: bool,
    /// Opt-in stall detector: a task poll that holds a worker longer than this is reported once
    /// (naming the task, where it was spawned, and how long) to [`on_stall`](Self::on_stall),
    /// while it still runs. A watchdog thread does it, asleep while no poll runs. `None` (the
    /// default): no detector, no cost.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = kqio::Kqueue::init(kqio::InitOptions {
    ///     stall_threshold: Some(std::time::Duration::from_millis(50)),
    ///     ..Default::default()
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub stall_threshold: Option<std::time::Duration>,
    /// Receives the stall detector's reports. `None`: one line to stderr per stalled poll.
    pub on_stall: Option<StallHook>,
    /// Binds worker `i` to the `i`-th CPU this process may run on (wrapping around when there
    /// are more workers than CPUs), for the life of the runtime. Default `false`: the kernel
    /// places the workers.
    ///
    /// For a machine the program has to itself. There a worker's timers and wake-ups no longer
    /// wait for a kernel that keeps two workers on one CPU while another idles: a virtual
    /// machine's kernel that packs threads onto fewer vCPUs did, for 4 ms at a time, and binding
    /// took the worst lateness of 100,000 sleeps from 2.3-4.7 ms to 0.7-1.4 ms, the p99 to
    /// 0.43-0.52 ms (`benches/timers.rs`). On a machine shared with other busy programs a bound
    /// worker cannot move away from them, so leave it off there.
    ///
    /// The CPUs are the calling thread's own mask (`taskset`, a cgroup's `cpuset`, FreeBSD's
    /// `cpuset(1)`), in increasing order. Linux, Android and FreeBSD; elsewhere (macOS has no
    /// call that binds a thread to a CPU) [`Kqueue::init`] fails with `Unsupported`.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = kqio::Kqueue::init(kqio::InitOptions { pin_workers: true, ..Default::default() });
    /// match rt {
    ///     Ok(rt) => assert!(rt.metrics().workers >= 1),
    ///     Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::Unsupported),
    /// }
    /// ```
    pub pin_workers: bool,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            n_threads: None,
            max_tasks: None,
            thread_name: "kqio-worker".to_owned(),
            max_blocking_threads: blocking::DEFAULT_MAX_THREADS,
            blocking_keep_alive: blocking::KEEP_ALIVE,
            confine_by_walk: false,
            stall_threshold: None,
            on_stall: None,
            pin_workers: false,
        }
    }
}

/// The kqio runtime: a pool of workers running tasks, and a kqueue (epoll on Linux) reactor,
/// behind the [`Io`] interface (Zig `std.Io.Kqueue`).
///
/// # Examples
///
/// ```
/// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
/// let io = rt.io();
/// let n = rt.block_on(async move {
///     let a = io.r#async(async { 20 });
///     let b = io.concurrent(async { 22 }).expect("a task slot");
///     a.await + b.await
/// });
/// assert_eq!(n, 42);
/// rt.deinit();
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Kqueue {
    io: Arc<KqueueIo>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Kqueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kqueue").field("workers", &self.threads.len()).finish_non_exhaustive()
    }
}

impl Kqueue {
    /// Starts the runtime: the reactor and `n_threads` workers.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for `n_threads: Some(0)`; the OS error if the poller or a thread cannot be
    /// created, or (with `pin_workers`) a worker cannot be bound to its CPU; `Unsupported` for
    /// `pin_workers` on an OS that cannot bind a thread to a CPU. No thread is left running
    /// then.
    pub fn init(options: InitOptions) -> io::Result<Kqueue> {
        let n = match options.n_threads {
            Some(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "kqio: InitOptions::n_threads must be at least 1",
                ))
            }
            Some(n) => n,
            None => thread::available_parallelism().map_or(1, |n| n.get()),
        };
        // Read before anything starts, so that an OS without affinity fails here.
        let cpus = match options.pin_workers {
            true => Some(crate::sys::affinity::allowed_cpus()?),
            false => None,
        };
        let reactor = Arc::new(Reactor::new()?);
        let timers = timer::Timers::new(awake_now_ns);
        let mut shared = Shared::new(n, options.max_tasks, reactor, timers);
        if let Some(threshold) = options.stall_threshold {
            let hook = options.on_stall.clone().unwrap_or_else(StallHook::stderr);
            let watch = Arc::new(scheduler::StallWatch::new(n, threshold, hook));
            watch.start(format!("{}-stall", options.thread_name))?;
            shared = shared.with_stall_watch(watch);
        }
        let shared = Arc::new(shared);
        let blocking = Arc::new(blocking::BlockingPool::new(
            options.max_blocking_threads,
            options.blocking_keep_alive,
            options.thread_name.clone(),
        ));
        let mut rt = Kqueue {
            io: Arc::new(KqueueIo {
                shared: shared.clone(),
                signals: Default::default(),
                blocking: blocking.clone(),
                fs: fs::Fs::new(blocking, shared.reactor.clone(), options.confine_by_walk),
            }),
            threads: Vec::new(),
        };
        // Each bound worker binds itself before its first task and reports how that went; an
        // unbound one has nothing to report, and `init` does not wait for it to start.
        let (bound_tx, bound_rx) = std::sync::mpsc::channel();
        for index in 0..n {
            let shared = shared.clone();
            let bind = cpus.as_ref().map(|c| (c[index % c.len()], bound_tx.clone()));
            let spawned = thread::Builder::new()
                .name(format!("{}-{index}", options.thread_name))
                .spawn(move || {
                    if let Some((cpu, bound_tx)) = bind {
                        let _ = bound_tx.send(crate::sys::affinity::pin_current_thread(cpu));
                    }
                    scheduler::run_worker(shared, index)
                });
            match spawned {
                Ok(t) => rt.threads.push(t),
                // `rt` is dropped here, which shuts down the threads already started.
                Err(e) => return Err(e),
            }
        }
        drop(bound_tx);
        // Every sender is gone once each bound worker has reported (at once when none is
        // bound), so this ends; the first failure fails `init`, and dropping `rt` stops the
        // workers.
        for bound in bound_rx {
            bound?;
        }
        Ok(rt)
    }

    /// The `Io` object to write application code against. Cheap to clone.
    pub fn io(&self) -> IoRef {
        IoRef::new(self.io.clone())
    }

    /// Counts of what the runtime holds right now, for tests, leak checks and reports. The full
    /// snapshot, from any `IoRef`, is [`Io::metrics`].
    pub fn metrics(&self) -> Metrics {
        let m = Io::metrics(&*self.io);
        Metrics {
            workers: m.workers.len(),
            live_tasks: m.live_tasks,
            timers: m.timers_pending,
            blocking_threads: m.blocking_threads,
        }
    }

    /// A handle for backend-specific extras ([`AsyncFd`]).
    pub fn handle(&self) -> Handle {
        Handle { reactor: self.io.shared.reactor.clone() }
    }

    /// Runs `future` to completion on the calling thread while the workers run the tasks it
    /// spawns, and returns its output.
    ///
    /// The future is a task of its own for cancellation purposes (cancellation points in it work;
    /// nothing can cancel it from outside).
    ///
    /// Local tasks ([`spawn_local`](crate::Io#method.spawn_local)) spawned on this thread while it
    /// runs here run here too, between polls of `future`; those unfinished when `future` completes
    /// (or panics) are dropped before this returns, on this thread.
    ///
    /// # Panics
    ///
    /// If called from inside a kqio task or inside another `block_on` (of any kqio runtime):
    /// blocking a thread the runtime depends on could deadlock it. Use `.await` there. A panic of
    /// `future` itself propagates to the caller.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        match thread_kind() {
            ThreadKind::Plain => {}
            ThreadKind::Worker => panic!(
                "kqio: Kqueue::block_on called from inside a kqio task (a worker thread); \
                 await the future instead"
            ),
            ThreadKind::BlockOn => panic!(
                "kqio: Kqueue::block_on called from inside another block_on; await the future \
                 instead"
            ),
        }
        let _kind = set_thread_kind(ThreadKind::BlockOn);
        let header = TaskHeader::detached(false);
        scheduler::block_on(&self.io.shared, &header, future)
    }

    /// Shuts the runtime down (Zig `deinit`); dropping the `Kqueue` does the same.
    ///
    /// In order: new work is refused (`concurrent` fails, `r#async` runs inline as an
    /// already-canceled task), the workers finish the poll they are in and exit and are joined,
    /// every remaining task's future is dropped on this thread (its destructor runs; awaiting its
    /// handle afterwards panics, see [`JoinHandle`](crate::JoinHandle)), the blocking pool is
    /// shut down, and the poller is closed. It returns promptly even when tasks are blocked
    /// forever.
    ///
    /// The blocking pool's queued jobs are dropped (their waiters see `Canceled`). Its running
    /// jobs: kqio's own file and directory work is interrupted (the thread is signaled, the
    /// blocking call returns `EINTR`) and its thread joined, or, if it has not stopped after
    /// about a second (a call the signal cannot interrupt, such as a hung network mount's),
    /// left detached to finish on its own; a job of
    /// [`spawn_blocking`](crate::Io#method.spawn_blocking) (code kqio cannot stop) and a name
    /// lookup are waited for to their end.
    pub fn deinit(self) {
        drop(self)
    }

    fn shutdown(&mut self) {
        let shared = &self.io.shared;
        shared.begin_shutdown();
        let me = thread::current().id();
        for t in self.threads.drain(..) {
            // A runtime dropped by one of its own tasks cannot join the thread it runs on; that
            // worker exits by itself after this poll, as `stopping` is set.
            if t.thread().id() != me {
                let _ = t.join();
            }
        }
        if let Some(watch) = &shared.stall {
            watch.stop();
        }
        shared.drop_remaining_tasks();
        // Running blocking jobs finish (their threads are joined); queued ones are dropped.
        self.io.blocking.shutdown();
        shared.reactor.close();
    }
}

impl Drop for Kqueue {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Bytes one pending timer takes in the timing wheel's slab (32: two entries to a cache line);
/// a waiting timer also takes a 4-byte index in its slot's vector, and the sleeping future holds
/// only an 8-byte key. A million concurrent sleeps take about a million times this plus 4.
pub const TIMER_ENTRY_BYTES: usize = timer::wheel::Wheel::ENTRY_BYTES;

/// What [`timer_cascade_cost`] measured: the wall time of each wheel step that cascaded a
/// level-1 slot (moved its entries down to level 0), in nanoseconds, in the order they ran, and
/// the entries those slots held. For `benches/timers.rs`; not a stable interface.
#[doc(hidden)]
#[derive(Debug, Clone, Default)]
pub struct CascadeCost {
    /// Nanoseconds of each step that processed a level-1 slot.
    pub step_ns: Vec<u64>,
    /// Entries in each of those slots when it was processed (the same order as `step_ns`).
    pub entries: Vec<usize>,
}

/// Measures the timing wheel's cascade on its own (no runtime, no lock): `timers` entries due
/// 4..=400 ticks (1..=100 ms) ahead, pseudo-randomly as `benches/timers.rs`'s `sleeps_100k`,
/// inserted into a slab whose free list was first scrambled by as many inserts and removals in
/// random order (as a long-running runtime's slab is), then driven deadline by deadline until
/// all have fired. For `benches/timers.rs`; not a stable interface.
#[doc(hidden)]
pub fn timer_cascade_cost(timers: usize) -> CascadeCost {
    timer::wheel::cascade_cost(timers)
}

/// Nanoseconds on the awake clock: the timers' time base.
fn awake_now_ns() -> i64 {
    crate::sys::clock::now(crate::time::Clock::Awake).as_nanos()
}

/// What [`Kqueue::metrics`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Worker threads.
    pub workers: usize,
    /// Spawned tasks whose future has not yet been dropped, counted from their spawn (before
    /// their first poll).
    pub live_tasks: usize,
    /// Timers in the timing wheel (pending sleeps and timeouts).
    pub timers: usize,
    /// Threads of the blocking pool alive (busy or idle).
    pub blocking_threads: usize,
}

/// A cheap handle to the kqueue backend, for its extras ([`AsyncFd`]).
#[derive(Clone)]
pub struct Handle {
    reactor: Arc<Reactor>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("kqueue::Handle")
    }
}

/// The `Io` object of a `Kqueue`: the table of delegations from the vtable to the backend.
struct KqueueIo {
    shared: Arc<Shared>,
    /// Made on the first `signal_listen`.
    signals: std::sync::OnceLock<io::Result<Arc<signal::SignalDriver>>>,
    blocking: Arc<blocking::BlockingPool>,
    fs: fs::Fs,
}

impl KqueueIo {
    fn signals(&self) -> io::Result<&Arc<signal::SignalDriver>> {
        let d = self
            .signals
            .get_or_init(|| signal::SignalDriver::new(&self.shared.reactor).map(Arc::new));
        d.as_ref().map_err(|e| io::Error::new(e.kind(), e.to_string()))
    }
}

impl Io for KqueueIo {
    // ----- task -----
    fn task_reserve(&self) -> Result<Arc<dyn Schedule>, ConcurrencyUnavailable> {
        self.shared.reserve().map(|()| self.shared.clone() as Arc<dyn Schedule>)
    }
    fn task_reserve_local(
        &self,
    ) -> Result<Result<Arc<dyn Schedule>, ConcurrencyUnavailable>, LocalUnavailable> {
        scheduler::reserve_local(&self.shared)
    }
    fn task_is_shut_down(&self) -> bool {
        self.shared.is_shut_down()
    }

    // ----- time -----
    fn time_now(&self, clock: Clock) -> Timestamp {
        crate::sys::clock::now(clock)
    }
    fn time_resolution(&self, clock: Clock) -> Duration {
        crate::sys::clock::resolution(clock)
    }
    fn time_poll_sleep(
        &self,
        cx: &mut Context<'_>,
        t: &mut TimerSlot,
        at: Timestamp,
        passed: Timestamp,
    ) -> Poll<()> {
        self.shared.poll_sleep(cx, &mut t.0, at.as_nanos(), passed.as_nanos())
    }
    fn time_cancel_sleep(&self, t: &mut TimerSlot) {
        self.shared.timers.cancel(&mut t.0)
    }

    // ----- blocking -----
    fn blocking_submit(&self, job: Box<dyn FnOnce() + Send>) {
        self.blocking.submit(job)
    }

    // ----- net -----
    fn net_listen(&self, a: &SocketAddress, o: &ListenOptions) -> io::Result<SocketHandle> {
        net::listen(&self.shared.reactor, a, o)
    }
    fn net_poll_accept(
        &self,
        cx: &mut Context<'_>,
        listener: &SocketHandle,
    ) -> Poll<io::Result<(SocketHandle, SocketAddress)>> {
        net::poll_accept(&self.shared.reactor, cx, listener)
    }
    fn net_connect(&self, a: &SocketAddress) -> io::Result<SocketHandle> {
        net::connect(&self.shared.reactor, a)
    }
    fn net_poll_connect(&self, cx: &mut Context<'_>, s: &SocketHandle) -> Poll<io::Result<()>> {
        net::poll_connect(cx, s)
    }
    fn net_bind(&self, a: &SocketAddress, o: &BindOptions) -> io::Result<SocketHandle> {
        net::bind(&self.shared.reactor, a, o)
    }
    fn net_connect_datagram(&self, s: &SocketHandle, a: &SocketAddress) -> io::Result<()> {
        net::connect_datagram(s, a)
    }
    fn net_socket_pair(&self, kind: SocketKind) -> io::Result<(SocketHandle, SocketHandle)> {
        net::socket_pair(&self.shared.reactor, kind)
    }
    fn net_poll_read(
        &self,
        cx: &mut Context<'_>,
        s: &SocketHandle,
        buf: &mut [u8],
        peek: bool,
    ) -> Poll<io::Result<usize>> {
        net::poll_read(cx, s, buf, peek)
    }
    fn net_poll_read_uninit(
        &self,
        cx: &mut Context<'_>,
        s: &SocketHandle,
        cursor: &mut crate::net::ReadCursor<'_>,
    ) -> Poll<io::Result<()>> {
        net::poll_read_uninit(cx, s, cursor)
    }
    fn net_poll_read_vectored(
        &self,
        cx: &mut Context<'_>,
        s: &SocketHandle,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        net::poll_read_vectored(cx, s, bufs)
    }
    fn net_poll_write(
        &self,
        cx: &mut Context<'_>,
        s: &SocketHandle,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        net::poll_write(cx, s, buf)
    }
    fn net_poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        s: &SocketHandle,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        net::poll_write_vectored(cx, s, bufs)
    }
    fn net_poll_receive_from(
        &self,
        cx: &mut Context<'_>,
        s: &SocketHandle,
        buf: &mut [u8],
        peek: bool,
    ) -> Poll<io::Result<(usize, SocketAddress)>> {
        net::poll_receive_from(cx, s, buf, peek)
    }
    fn net_poll_send_to(
        &self,
        cx: &mut Context<'_>,
        s: &SocketHandle,
        buf: &[u8],
        a: &SocketAddress,
    ) -> Poll<io::Result<usize>> {
        net::poll_send_to(cx, s, buf, a)
    }
    fn net_shutdown(&self, s: &SocketHandle, how: Shutdown) -> io::Result<()> {
        net::shutdown(s, how)
    }
    fn net_address(&self, s: &SocketHandle, which: AddressKind) -> io::Result<SocketAddress> {
        net::address(s, which)
    }
    fn net_set_option(&self, s: &SocketHandle, option: SocketOption) -> io::Result<()> {
        net::set_option(s, option)
    }
    fn net_option(&self, s: &SocketHandle, kind: SocketOptionKind) -> io::Result<SocketOption> {
        net::option(s, kind)
    }
    fn net_interface_index(&self, name: &str) -> io::Result<u32> {
        net::interface_index(name)
    }
    fn net_interface_name(&self, index: u32) -> io::Result<String> {
        net::interface_name(index)
    }
    fn net_lookup(&self, host: &str, port: u16) -> BoxFuture<'static, io::Result<LookupResult>> {
        let host = host.to_owned();
        let (job, waiter) = crate::task::blocking::job(move || net::lookup_blocking(&host, port));
        self.blocking.submit(job);
        Box::pin(async move { waiter.await? })
    }
    fn net_adopt(
        &self,
        fd: std::os::fd::OwnedFd,
        kind: crate::net::AdoptKind,
    ) -> io::Result<SocketHandle> {
        net::adopt(&self.shared.reactor, fd, kind)
    }
    fn net_as_fd<'a>(&self, s: &'a SocketHandle) -> Option<std::os::fd::BorrowedFd<'a>> {
        net::as_fd(s)
    }

    // ----- signal -----
    fn signal_listen(&self, signal: Signal) -> io::Result<u64> {
        self.signals()?.listen(signal)
    }
    fn signal_poll(
        &self,
        cx: &mut Context<'_>,
        sig: Signal,
        seen: &mut u64,
    ) -> Poll<io::Result<()>> {
        match self.signals() {
            Ok(d) => d.poll(cx, sig, seen),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    // ----- process -----
    fn process_spawn(&self, command: &mut std::process::Command) -> io::Result<SpawnedProcess> {
        process::spawn(&self.shared, || self.signals().cloned(), command)
    }
    fn process_poll_wait(
        &self,
        cx: &mut Context<'_>,
        p: &ProcessHandle,
    ) -> Poll<io::Result<std::process::ExitStatus>> {
        process::poll_wait(cx, p)
    }
    fn process_try_wait(&self, p: &ProcessHandle) -> io::Result<Option<std::process::ExitStatus>> {
        process::try_wait(p)
    }
    fn process_signal(&self, p: &ProcessHandle, signal: Signal) -> io::Result<()> {
        process::send_signal(p, signal)
    }
    fn process_id(&self, p: &ProcessHandle) -> u32 {
        process::id(p)
    }
    fn process_executable_path(&self) -> io::Result<std::path::PathBuf> {
        std::env::current_exe()
    }
    fn process_current_dir(&self) -> io::Result<std::path::PathBuf> {
        std::env::current_dir()
    }
    fn pipe_poll_read(
        &self,
        cx: &mut Context<'_>,
        p: &PipeHandle,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        process::poll_read(cx, p, buf)
    }
    fn pipe_poll_write(
        &self,
        cx: &mut Context<'_>,
        p: &PipeHandle,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        process::poll_write(cx, p, buf)
    }

    // ----- random -----
    fn random_fill(&self, buf: &mut [u8]) {
        random::fill(buf)
    }
    fn random_fill_secure(&self, buf: &mut [u8]) -> Result<(), EntropyUnavailable> {
        random::fill_secure(buf)
    }

    // ----- fs -----
    fn fs_cwd(&self) -> DirHandle {
        self.fs.cwd()
    }
    fn dir_open_file(&self, d: &DirHandle, p: &Path, o: &OpenOptions) -> FsFuture<FileHandle> {
        self.fs.open_file(d, p, o)
    }
    fn dir_confine(&self, d: &DirHandle) -> io::Result<DirHandle> {
        self.fs.confine(d)
    }
    fn dir_open_dir(&self, d: &DirHandle, p: &Path, follow: bool) -> FsFuture<DirHandle> {
        self.fs.open_dir(d, p, follow)
    }
    fn dir_create_dir(&self, d: &DirHandle, p: &Path, perms: Permissions) -> FsFuture<()> {
        self.fs.create_dir(d, p, perms)
    }
    fn dir_create_dir_path(&self, d: &DirHandle, p: &Path, perms: Permissions) -> FsFuture<bool> {
        self.fs.create_dir_path(d, p, perms)
    }
    fn dir_stat(&self, d: &DirHandle) -> FsFuture<Metadata> {
        self.fs.dir_stat(d)
    }
    fn dir_stat_path(&self, d: &DirHandle, p: &Path, follow: bool) -> FsFuture<Metadata> {
        self.fs.stat_path(d, p, follow)
    }
    fn dir_access(&self, d: &DirHandle, p: &Path, a: Access) -> FsFuture<()> {
        self.fs.access(d, p, a)
    }
    fn dir_read_file(&self, d: &DirHandle, p: &Path) -> FsFuture<Vec<u8>> {
        self.fs.read_file(d, p)
    }
    fn dir_write_file(
        &self,
        d: &DirHandle,
        p: &Path,
        data: Vec<u8>,
        m: Permissions,
    ) -> FsFuture<()> {
        self.fs.write_file(d, p, data, m)
    }
    fn dir_entries(&self, d: &DirHandle) -> FsFuture<EntriesHandle> {
        self.fs.entries(d)
    }
    fn dir_entries_next(&self, e: &EntriesHandle, max: usize) -> FsFuture<Vec<DirEntry>> {
        self.fs.entries_next(e, max)
    }
    fn dir_real_path(&self, d: &DirHandle, p: &Path) -> FsFuture<PathBuf> {
        self.fs.real_path(d, p)
    }
    fn dir_delete_file(&self, d: &DirHandle, p: &Path) -> FsFuture<()> {
        self.fs.delete_file(d, p)
    }
    fn dir_delete_dir(&self, d: &DirHandle, p: &Path) -> FsFuture<()> {
        self.fs.delete_dir(d, p)
    }
    fn dir_delete_tree(&self, d: &DirHandle, p: &Path) -> FsFuture<()> {
        self.fs.delete_tree(d, p)
    }
    fn dir_rename(&self, od: &DirHandle, o: &Path, nd: &DirHandle, n: &Path) -> FsFuture<()> {
        self.fs.rename(od, o, nd, n)
    }
    fn dir_symlink(&self, d: &DirHandle, target: &Path, link: &Path) -> FsFuture<()> {
        self.fs.symlink(d, target, link)
    }
    fn dir_read_link(&self, d: &DirHandle, p: &Path) -> FsFuture<PathBuf> {
        self.fs.read_link(d, p)
    }
    fn dir_hard_link(&self, od: &DirHandle, o: &Path, nd: &DirHandle, n: &Path) -> FsFuture<()> {
        self.fs.hard_link(od, o, nd, n)
    }
    fn dir_set_permissions(&self, d: &DirHandle, p: &Path, m: Permissions) -> FsFuture<()> {
        self.fs.set_permissions(d, p, m)
    }
    fn dir_set_owner(
        &self,
        d: &DirHandle,
        p: &Path,
        owner: Option<u32>,
        group: Option<u32>,
        follow: bool,
    ) -> FsFuture<()> {
        self.fs.set_owner(d, p, owner, group, follow)
    }
    fn dir_set_timestamps(
        &self,
        d: &DirHandle,
        p: &Path,
        atime: SetTimestamp,
        mtime: SetTimestamp,
        follow: bool,
    ) -> FsFuture<()> {
        self.fs.set_timestamps(d, p, atime, mtime, follow)
    }
    fn file_stat(&self, f: &FileHandle) -> FsFuture<Metadata> {
        self.fs.file_stat(f)
    }
    fn file_set_length(&self, f: &FileHandle, len: u64) -> FsFuture<()> {
        self.fs.file_set_length(f, len)
    }
    fn file_read(&self, f: &FileHandle, b: Vec<u8>, len: usize, at: Offset) -> FsFuture<Vec<u8>> {
        self.fs.file_read(f, b, len, at)
    }
    fn file_write(&self, f: &FileHandle, b: Vec<u8>, at: Offset) -> FsFuture<(usize, Vec<u8>)> {
        self.fs.file_write(f, b, at)
    }
    fn file_seek(&self, f: &FileHandle, pos: SeekFrom) -> FsFuture<u64> {
        self.fs.file_seek(f, pos)
    }
    fn file_sync(&self, f: &FileHandle, data_only: bool) -> FsFuture<()> {
        self.fs.file_sync(f, data_only)
    }
    fn file_set_permissions(&self, f: &FileHandle, m: Permissions) -> FsFuture<()> {
        self.fs.file_set_permissions(f, m)
    }
    fn file_set_owner(&self, f: &FileHandle, o: Option<u32>, g: Option<u32>) -> FsFuture<()> {
        self.fs.file_set_owner(f, o, g)
    }
    fn file_set_timestamps(
        &self,
        f: &FileHandle,
        a: SetTimestamp,
        m: SetTimestamp,
    ) -> FsFuture<()> {
        self.fs.file_set_timestamps(f, a, m)
    }
    fn file_lock(&self, f: &FileHandle, lock: Lock, wait: bool) -> FsFuture<bool> {
        self.fs.file_lock(f, lock, wait)
    }
    fn file_is_tty(&self, f: &FileHandle) -> bool {
        self.fs.file_is_tty(f)
    }
    fn file_real_path(&self, f: &FileHandle) -> FsFuture<PathBuf> {
        self.fs.file_real_path(f)
    }
    fn file_copy(
        &self,
        to: &FileHandle,
        to_at: Offset,
        from: &FileHandle,
        from_at: Offset,
        len: u64,
    ) -> FsFuture<u64> {
        self.fs.file_copy(to, to_at, from, from_at, len)
    }
    fn file_close(&self, f: FileHandle) -> FsFuture<()> {
        self.fs.file_close(f)
    }
    fn file_map(&self, f: &FileHandle, o: MapOptions) -> FsFuture<MapHandle> {
        self.fs.file_map(f, o)
    }
    fn map_flush(&self, m: &MapHandle, offset: usize, len: usize) -> FsFuture<()> {
        self.fs.map_flush(m, offset, len)
    }
    fn map_set_length(&self, m: &MapHandle, len: usize) -> FsFuture<MapHandle> {
        self.fs.map_set_length(m, len)
    }
    fn fs_stdio(&self, stream: StdStream) -> io::Result<FileHandle> {
        self.fs.stdio(stream)
    }
    fn fs_pipe(&self) -> io::Result<(FileHandle, FileHandle)> {
        self.fs.pipe()
    }

    // ----- observe -----
    fn metrics(&self) -> RuntimeMetrics {
        let mut m = RuntimeMetrics { provided: true, ..Default::default() };
        self.shared.fill_metrics(&mut m);
        (m.blocking_threads, m.blocking_idle_threads, m.blocking_queued, m.blocking_completed) =
            self.blocking.stats();
        m
    }
    fn task_dump(&self) -> TaskDump {
        self.shared.task_dump()
    }
}
