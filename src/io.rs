//! The `Io` trait: kqio's vtable, modelled on Zig's `std.Io.VTable`, and the typed helpers on
//! `dyn Io` that application code calls.
//!
//! Ground rules:
//! 1. The trait is object-safe: no generic methods, no `Self` by value. Everything generic (the
//!    future type of `r#async`, the output type of a join) lives in `impl dyn Io` below or in the
//!    user types (`JoinHandle`, the sync primitives, sockets), which call the trait.
//! 2. Methods are named area first, then verb (`task_reserve`, `time_now`), grouped by area as
//!    Zig's vtable is.
//! 3. The trait knows nothing of mio or descriptors, so that another backend (a deterministic
//!    simulation) can implement it and run the same application code.

use std::fmt;
use std::future::Future;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::Shutdown;
use std::ops::Deref;
use std::sync::Arc;

use futures::future::BoxFuture;
use std::task::{Context, Poll};

use crate::error::{Canceled, ConcurrencyUnavailable, EntropyUnavailable};
use crate::net::{
    AddressKind, BindOptions, ListenOptions, LookupResult, SocketAddress, SocketHandle, SocketKind,
    SocketOption, SocketOptionKind,
};
use crate::process::{PipeHandle, ProcessHandle, SpawnedProcess};
use crate::signal::Signal;
use crate::sleep::{Sleep, TimerSlot};
use crate::task::{self, Blocking, CancelProtection, JoinHandle, Schedule, YieldNow};
use crate::time::{Clock, Duration, Timeout, Timestamp};

/// The interface application code is written against: Zig's `std.Io`, as an object-safe trait.
///
/// Call it through an [`IoRef`] (or any `&dyn Io`) with the typed helpers:
/// [`r#async`](#method.async), [`concurrent`](#method.concurrent),
/// [`check_cancel`](#method.check_cancel), [`recancel`](#method.recancel),
/// [`swap_cancel_protection`](#method.swap_cancel_protection), [`yield_now`](#method.yield_now).
/// The methods of the trait itself are the backend's side of the contract.
pub trait Io: Send + Sync + 'static {
    // ----- task -----

    /// Reserves a unit of concurrency for one new task and returns the scheduler that will run
    /// it. The reservation is released by [`Schedule::task_finished`].
    ///
    /// # Errors
    ///
    /// [`ConcurrencyUnavailable`] when the configured task limit is reached or the backend is
    /// shutting down.
    fn task_reserve(&self) -> Result<Arc<dyn Schedule>, ConcurrencyUnavailable>;

    /// Whether the backend has begun shutting down: work submitted now is started already
    /// canceled.
    fn task_is_shut_down(&self) -> bool;

    /// A cancellation point for the current task (Zig `checkCancel`).
    fn task_check_cancel(&self) -> Result<(), Canceled>;

    /// Re-arms the current task's cancellation request after it was delivered (Zig `recancel`).
    fn task_recancel(&self);

    /// Sets the current task's cancel protection and returns the previous one (Zig
    /// `swapCancelProtection`).
    fn task_swap_cancel_protection(&self, protection: CancelProtection) -> CancelProtection;

    // ----- time -----

    /// The current time of `clock` (Zig `now`). Cannot fail.
    fn time_now(&self, clock: Clock) -> Timestamp;

    /// The resolution of `clock` (Zig `clockResolution`).
    fn time_resolution(&self, clock: Clock) -> Duration;

    /// Polls a timer due at `deadline` on the awake clock: `Ready` once it has passed, else
    /// registers `cx`'s waker. `timer` starts as `TimerSlot::default()` and belongs to the
    /// waiting future; the backend records its timer there.
    ///
    /// `passed` is an awake-clock time the caller knows has passed (it read the clock then to
    /// make `deadline`), or [`Timestamp::MIN`]. A deadline at or before `passed` is due at once;
    /// a later one was in the future when it was made, so on its first poll the backend may
    /// register it without reading the clock again: should it have passed in between, it fires
    /// at the backend's next timer turn, within the lateness the backend promises anyway. This
    /// saves one clock read per sleep, a third of the cost of a timer's insert and cancel.
    fn time_poll_sleep(
        &self,
        cx: &mut Context<'_>,
        timer: &mut TimerSlot,
        deadline: Timestamp,
        passed: Timestamp,
    ) -> Poll<()>;

    /// Frees the timer recorded in `timer` (if any) and resets it to `TimerSlot::default()`.
    fn time_cancel_sleep(&self, timer: &mut TimerSlot);

    // ----- blocking -----

    /// Runs `job` on a thread where blocking is allowed (the backend's blocking pool), soon or
    /// after the jobs queued before it. After shutdown the job is dropped unrun. Jobs built by
    /// [`spawn_blocking`](#method.spawn_blocking) report a drop-unrun to their waiter.
    fn blocking_submit(&self, job: Box<dyn FnOnce() + Send>);

    // ----- net -----
    //
    // Sockets are opaque [`SocketHandle`]s made by the backend. Every `net_poll_*` method is a
    // cancellation point (it returns `Err` with [`Canceled`] inside, see
    // [`Canceled::is_canceled`], when the current task has a pending request), performs the
    // operation if the socket is ready, and otherwise registers `cx`'s waker and returns
    // `Pending`; once the backend shuts down it returns `Canceled` instead of waiting forever.
    // Any number of tasks may wait on one socket at once. A zero-length buffer completes at
    // once with 0. On a ready socket these methods allocate nothing.

    /// Creates a stream socket bound to `address` and listening (Zig `IpAddress.listen`,
    /// `UnixAddress.listen`). Port 0 picks a free port.
    fn net_listen(
        &self,
        address: &SocketAddress,
        options: &ListenOptions,
    ) -> io::Result<SocketHandle>;

    /// Accepts one connection on `listener`: the connected socket and the peer's address.
    fn net_poll_accept(
        &self,
        cx: &mut Context<'_>,
        listener: &SocketHandle,
    ) -> Poll<io::Result<(SocketHandle, SocketAddress)>>;

    /// Creates a stream socket and starts connecting it to `address`; finish with
    /// [`net_poll_connect`](Self::net_poll_connect).
    fn net_connect(&self, address: &SocketAddress) -> io::Result<SocketHandle>;

    /// Completes a connection started by [`net_connect`](Self::net_connect): `Ok` once
    /// connected, or its error (`ConnectionRefused`, ...).
    fn net_poll_connect(&self, cx: &mut Context<'_>, socket: &SocketHandle)
        -> Poll<io::Result<()>>;

    /// Creates a datagram socket bound to `address` (an unnamed Unix address: unbound).
    fn net_bind(&self, address: &SocketAddress, options: &BindOptions) -> io::Result<SocketHandle>;

    /// Sets the default peer of a datagram socket (`connect(2)`, which does not wait).
    fn net_connect_datagram(
        &self,
        socket: &SocketHandle,
        address: &SocketAddress,
    ) -> io::Result<()>;

    /// A connected pair of Unix-domain sockets of `kind`.
    fn net_socket_pair(&self, kind: SocketKind) -> io::Result<(SocketHandle, SocketHandle)>;

    /// Reads (or receives, on a connected datagram socket) into `buf`; `peek` leaves the data
    /// queued. `Ok(0)` on a stream means the peer closed its side.
    fn net_poll_read(
        &self,
        cx: &mut Context<'_>,
        socket: &SocketHandle,
        buf: &mut [u8],
        peek: bool,
    ) -> Poll<io::Result<usize>>;

    /// Reads into several buffers in order (`readv`).
    fn net_poll_read_vectored(
        &self,
        cx: &mut Context<'_>,
        socket: &SocketHandle,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>>;

    /// Writes (or sends, on a connected datagram socket) from `buf`; may write less than all.
    fn net_poll_write(
        &self,
        cx: &mut Context<'_>,
        socket: &SocketHandle,
        buf: &[u8],
    ) -> Poll<io::Result<usize>>;

    /// Writes from several buffers in order (`writev`); may write less than all.
    fn net_poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        socket: &SocketHandle,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>>;

    /// Receives one datagram into `buf` (the excess of a longer one is discarded) and its
    /// sender's address; `peek` leaves it queued.
    fn net_poll_receive_from(
        &self,
        cx: &mut Context<'_>,
        socket: &SocketHandle,
        buf: &mut [u8],
        peek: bool,
    ) -> Poll<io::Result<(usize, SocketAddress)>>;

    /// Sends `buf` as one datagram to `address`.
    fn net_poll_send_to(
        &self,
        cx: &mut Context<'_>,
        socket: &SocketHandle,
        buf: &[u8],
        address: &SocketAddress,
    ) -> Poll<io::Result<usize>>;

    /// Shuts down the reading, writing or both halves of a connection. Does not wait.
    fn net_shutdown(&self, socket: &SocketHandle, how: Shutdown) -> io::Result<()>;

    /// The local or peer address of `socket`.
    fn net_address(&self, socket: &SocketHandle, which: AddressKind) -> io::Result<SocketAddress>;

    /// Sets a socket option.
    fn net_set_option(&self, socket: &SocketHandle, option: SocketOption) -> io::Result<()>;

    /// Reads a socket option.
    fn net_option(&self, socket: &SocketHandle, kind: SocketOptionKind)
        -> io::Result<SocketOption>;

    /// The index of the network interface called `name` (Zig `Interface.Name.resolve`).
    fn net_interface_index(&self, name: &str) -> io::Result<u32>;

    /// The name of the network interface with index `index` (Zig `Interface.name`).
    fn net_interface_name(&self, index: u32) -> io::Result<String>;

    /// Resolves `host` to its addresses with `port` (Zig `HostName.lookup`). `host` has been
    /// checked by the caller (non-empty, at most 253 bytes, no NUL, not an IP literal). The
    /// future is a cancellation point until the lookup starts; a lookup that started runs to
    /// its end (resolvers cannot be interrupted) and its result is dropped.
    fn net_lookup(&self, host: &str, port: u16) -> BoxFuture<'static, io::Result<LookupResult>>;

    // ----- signal -----

    /// Starts recording deliveries of `signal` and returns the count to start from (Zig has no
    /// equivalent). Idempotent per signal.
    fn signal_listen(&self, signal: Signal) -> io::Result<u64>;

    /// `Ready` once `signal` was delivered since the count `seen`, which it updates. A
    /// cancellation point; `Canceled` once the backend shut down.
    fn signal_poll(
        &self,
        cx: &mut Context<'_>,
        signal: Signal,
        seen: &mut u64,
    ) -> Poll<io::Result<()>>;

    // ----- process -----

    /// Spawns `command` (Zig `process.spawn`). Its stdin/stdout/stderr that were set to
    /// `Stdio::piped()` come back as non-blocking pipes.
    fn process_spawn(&self, command: &mut std::process::Command) -> io::Result<SpawnedProcess>;

    /// `Ready` with the exit status once the child exited (it is reaped then). A cancellation
    /// point; blocks no thread.
    fn process_poll_wait(
        &self,
        cx: &mut Context<'_>,
        process: &ProcessHandle,
    ) -> Poll<io::Result<std::process::ExitStatus>>;

    /// The exit status if the child has exited (reaping it), without waiting.
    fn process_try_wait(
        &self,
        process: &ProcessHandle,
    ) -> io::Result<Option<std::process::ExitStatus>>;

    /// Sends `signal` to the child; an error once it has been reaped.
    fn process_signal(&self, process: &ProcessHandle, signal: Signal) -> io::Result<()>;

    /// The child's process id.
    fn process_id(&self, process: &ProcessHandle) -> u32;

    /// The path of the running executable (Zig `process.executablePath`).
    fn process_executable_path(&self) -> io::Result<std::path::PathBuf>;

    /// The current working directory (Zig `process.currentDir`).
    fn process_current_dir(&self) -> io::Result<std::path::PathBuf>;

    /// Reads from a child's pipe; `Ok(0)` at its end. A cancellation point.
    fn pipe_poll_read(
        &self,
        cx: &mut Context<'_>,
        pipe: &PipeHandle,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>>;

    /// Writes to a child's pipe. A cancellation point.
    fn pipe_poll_write(
        &self,
        cx: &mut Context<'_>,
        pipe: &PipeHandle,
        buf: &[u8],
    ) -> Poll<io::Result<usize>>;

    // ----- random -----

    /// Fills `buf` with bytes from a fast cryptographically strong generator (Zig `random`).
    /// Cannot fail; takes no lock on the hot path.
    fn random_fill(&self, buf: &mut [u8]);

    /// Fills `buf` with bytes straight from the operating system (Zig `randomSecure`).
    fn random_fill_secure(&self, buf: &mut [u8]) -> Result<(), EntropyUnavailable>;
}

impl dyn Io {
    /// Zig `io.async`: runs `future` as a task, concurrently if a unit of concurrency is
    /// available, and returns its handle.
    ///
    /// This never fails. When no unit of concurrency is available (the limit of
    /// [`InitOptions::max_tasks`](crate::InitOptions::max_tasks) is reached) the future is run to
    /// completion *before this returns*, on the calling thread, and the returned handle is
    /// already finished, as Zig's `async` does. That blocks the calling thread meanwhile; with a
    /// one-worker runtime, an inline future that waits for another task of the same runtime
    /// cannot finish, so use [`concurrent`](#method.concurrent) where that matters.
    ///
    /// After the runtime's `deinit` has begun, the inline run starts with a pending cancellation
    /// request: its first cancellation point returns [`Canceled`].
    ///
    /// An inline run is a task as any other for panics: a panic of the future (or of its
    /// destructor) is caught and re-raised where the handle is awaited, not here.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
    /// let io = rt.io();
    /// let sum = rt.block_on(async move {
    ///     let a = io.r#async(async { 20 });
    ///     let b = io.r#async(async { 22 });
    ///     a.await + b.await
    /// });
    /// assert_eq!(sum, 42);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn r#async<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self.task_reserve() {
            Ok(owner) => task::spawn::spawn(owner, future),
            Err(ConcurrencyUnavailable) => {
                let canceled = self.task_is_shut_down();
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    task::spawn::run_inline(future, canceled)
                })) {
                    Ok(out) => JoinHandle::ready(out),
                    Err(payload) => JoinHandle::panicked(payload),
                }
            }
        }
    }

    /// Zig `io.concurrent`: runs `future` as a task that is guaranteed to make progress
    /// concurrently with the caller.
    ///
    /// # Errors
    ///
    /// [`ConcurrencyUnavailable`] when the task limit is reached or the runtime is shutting
    /// down; the future is dropped unpolled.
    pub fn concurrent<F>(&self, future: F) -> Result<JoinHandle<F::Output>, ConcurrencyUnavailable>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let owner = self.task_reserve()?;
        Ok(task::spawn::spawn(owner, future))
    }

    /// Zig `checkCancel`: a pure cancellation point. Returns `Err(Canceled)` if the current task
    /// has a pending cancellation request (and is not protected), delivering that request.
    ///
    /// # Cancellation
    ///
    /// A cancellation point; see [`JoinHandle::cancel`].
    pub fn check_cancel(&self) -> Result<(), Canceled> {
        self.task_check_cancel()
    }

    /// Zig `recancel`: after a cancellation point returned `Canceled`, makes the next one return
    /// it again. Does nothing if no request was delivered.
    pub fn recancel(&self) {
        self.task_recancel()
    }

    /// Zig `swapCancelProtection`: with [`CancelProtection::Blocked`], cancellation points ignore
    /// requests until protection is set back to `Unblocked`; a request made meanwhile is then
    /// delivered. Returns the previous protection. Protection is per task and starts `Unblocked`
    /// in every task.
    pub fn swap_cancel_protection(&self, protection: CancelProtection) -> CancelProtection {
        self.task_swap_cancel_protection(protection)
    }

    /// Zig `sleep`: waits until `timeout` has passed. A duration counts from this call; a
    /// deadline in the past completes at once; `Timeout::None` waits until canceled.
    ///
    /// Timers fire no earlier than asked and at most about one millisecond (the wheel's
    /// resolution) plus one reactor turn later.
    ///
    /// # Cancellation
    ///
    /// A cancellation point; see [`JoinHandle::cancel`].
    ///
    /// # Examples
    ///
    /// ```
    /// use kqio::time::{Duration, Timeout};
    ///
    /// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
    /// let io = rt.io();
    /// rt.block_on(async { io.sleep(Timeout::after(Duration::from_millis(2))).await })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sleep(&self, timeout: Timeout) -> Sleep<'_> {
        Sleep::new(self, timeout, true)
    }

    /// Zig `now`: the current time of `clock`.
    pub fn now(&self, clock: Clock) -> Timestamp {
        self.time_now(clock)
    }

    /// Zig `clockResolution`.
    pub fn clock_resolution(&self, clock: Clock) -> Duration {
        self.time_resolution(clock)
    }

    /// Runs the blocking function `f` on the runtime's blocking pool, never on a worker, and
    /// returns a future of its result (tokio's `spawn_blocking`; Zig's threaded `Io` runs file
    /// work this way). File, directory and name-lookup operations use it.
    ///
    /// The pool is bounded (`InitOptions::max_blocking_threads`); jobs beyond it queue in FIFO
    /// order.
    ///
    /// # Cancellation
    ///
    /// Awaiting it is a cancellation point: a job that has not started does not run and the
    /// wait returns `Canceled`; a job already running finishes on its thread and its result is
    /// dropped there (a descriptor it opened is closed). `.uncancelable()` waits regardless.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
    /// let io = rt.io();
    /// let len = rt.block_on(async {
    ///     io.spawn_blocking(|| std::fs::read("Cargo.toml").map(|b| b.len())).await
    /// })??;
    /// assert!(len > 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn_blocking<F, T>(&self, f: F) -> Blocking<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (job, waiter) = task::blocking::job(f);
        self.blocking_submit(job);
        waiter
    }

    /// Zig `HostName.lookup`: the addresses of `host` (with `port`), and its canonical name.
    /// An IP literal is returned as is, without a lookup; names go to the system resolver
    /// (`getaddrinfo`) on the blocking pool.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for an empty name, one longer than 253 bytes, or one with a NUL byte;
    /// `NotFound` when the name does not resolve; other resolver errors as they come.
    ///
    /// # Cancellation
    ///
    /// A cancellation point until the lookup has started on the pool.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
    /// let io = rt.io();
    /// let found = rt.block_on(io.lookup("localhost", 80))?;
    /// assert!(found.addresses.iter().all(|a| a.ip().is_loopback() && a.port() == 80));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn lookup(&self, host: &str, port: u16) -> io::Result<LookupResult> {
        if let Ok(ip) = host.parse::<std::net::IpAddr>() {
            return Ok(LookupResult {
                addresses: vec![std::net::SocketAddr::new(ip, port)],
                canonical_name: None,
            });
        }
        if host.is_empty() || host.len() > 253 || host.contains('\0') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("kqio: {host:?} is not a valid host name"),
            ));
        }
        self.net_lookup(host, port).await
    }

    /// Zig `random`: fills `buf` with random bytes from a fast cryptographically strong
    /// generator (on the kqueue backend: ChaCha12 per thread, seeded from the OS; no lock).
    /// Cannot fail. A simulated backend may make it deterministic.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
    /// let io = rt.io();
    /// let mut key = [0u8; 16];
    /// io.random(&mut key);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn random(&self, buf: &mut [u8]) {
        self.random_fill(buf)
    }

    /// Zig `randomSecure`: fills `buf` straight from the operating system's entropy source
    /// (`getrandom(2)`, `getentropy(2)`, ...). Slower than [`random`](#method.random); for keys
    /// and anything a forked child must not share with its parent.
    ///
    /// # Errors
    ///
    /// [`EntropyUnavailable`] if the OS cannot provide entropy.
    pub fn random_secure(&self, buf: &mut [u8]) -> Result<(), EntropyUnavailable> {
        self.random_fill_secure(buf)
    }

    /// Yields once to the scheduler: the current task goes behind the tasks already queued.
    pub fn yield_now(&self) -> YieldNow {
        YieldNow::new()
    }
}

/// A shared reference to an [`Io`] implementation: what [`Kqueue::io`](crate::Kqueue::io)
/// returns. Cheap to clone, `Send + Sync + 'static`, and dereferences to `dyn Io`.
#[derive(Clone)]
pub struct IoRef(Arc<dyn Io>);

impl IoRef {
    /// Wraps a backend.
    pub fn new(io: Arc<dyn Io>) -> Self {
        IoRef(io)
    }
}

impl Deref for IoRef {
    type Target = dyn Io;

    #[inline]
    fn deref(&self) -> &dyn Io {
        &*self.0
    }
}

impl IoRef {
    /// Starts listening for `signal`: a stream of its deliveries (kqio's `io.signal(kind)`;
    /// see [`crate::signal`]).
    ///
    /// # Errors
    ///
    /// As [`Signals::new`](crate::signal::Signals::new).
    pub fn signal(&self, signal: Signal) -> io::Result<crate::signal::Signals> {
        crate::signal::Signals::new(self, signal)
    }
}

impl fmt::Debug for IoRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IoRef")
    }
}

/// The backend-neutral implementation of the task-local parts of the vtable: backends whose tasks
/// are built by the typed helpers delegate to these.
pub(crate) mod task_local {
    pub(crate) use crate::task::current::{check_cancel, recancel, swap_cancel_protection};
}
