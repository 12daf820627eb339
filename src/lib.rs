//! # kqio
//!
//! An async runtime to write `async fn` against: stackless futures on a work-stealing pool, a
//! kqueue event loop (through mio; epoll on Linux), and an object-safe [`Io`] trait modelled on
//! Zig's `std.Io`.
//!
//! ```
//! let rt = kqio::Kqueue::init(kqio::InitOptions { n_threads: Some(2), ..Default::default() })?;
//! let io = rt.io();
//! let n = rt.block_on(async move {
//!     let a = io.r#async(async { 20 });                          // Zig `io.async`
//!     let b = io.concurrent(async { 22 }).expect("a task slot"); // Zig `io.concurrent`
//!     a.await + b.await                                          // Zig `future.await(io)`
//! });
//! assert_eq!(n, 42);
//! rt.deinit();                                                   // Zig `deinit`
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! ## Architecture map
//!
//! | operation | user-facing type (file) | trait method (`io.rs`) | backend (`kqueue/`) |
//! | --- | --- | --- | --- |
//! | `r#async`, `concurrent` | `JoinHandle` (`task/join.rs`, `task/spawn.rs`) | `task_reserve` | `scheduler/mod.rs` (`Schedule for Shared`) |
//! | `spawn_local` (`!Send` tasks) | `JoinHandle` (`task/local.rs`) | `task_reserve_local` | `scheduler/local.rs` (run by `scheduler/worker.rs`, `block_on`) |
//! | `Group`, `Select` | `task/group.rs`, `task/select.rs` | through `r#async`/`concurrent` | as above |
//! | `await`, `cancel`, `detach` | `JoinHandle` (`task/join.rs`) | — | the task's header (`task/header.rs`) |
//! | `check_cancel`, `recancel`, `swap_cancel_protection` | `task/current.rs`, `task/cancel.rs` | `task_check_cancel`, ... | `mod.rs` |
//! | `block_on`, `init`, `deinit` | `Kqueue` (`kqueue/mod.rs`) | — | `scheduler/`, `reactor.rs` |
//! | `#[kqio::main]`, `#[kqio::test]` | `kqio-macros/` (expands to `init`, `block_on`, `deinit`) | — | as above |
//! | a backend written outside kqio | `backend.rs` (task machinery it reuses) | all | — |
//! | `from_std`, `as_fd` of sockets | `net/adopt.rs` | `net_adopt`, `net_as_fd` | `kqueue/net.rs`, `sys/net.rs` |
//! | readiness of a descriptor | `kqueue::AsyncFd` (`kqueue/async_fd.rs`) | — (backend extra) | `reactor.rs` |
//! | clocks, durations | `time.rs` | — | `sys/clock.rs` |
//! | operation batches | `batch.rs` | through `net_poll_*` | `kqueue/net.rs` |
//! | child processes | `process.rs` | `process_*`, `pipe_*` | `kqueue/process.rs`, `sys/process.rs` |
//! | signals, `ctrl_c` | `signal.rs` | `signal_listen`, `signal_poll` | `kqueue/signal.rs`, `sys/signal.rs` |
//! | `random`, `random_secure` | `io.rs` helpers | `random_fill`, `random_fill_secure` | `kqueue/random.rs` |
//! | files, directories, memory maps, pipes, stdio | `fs/file.rs`, `fs/dir.rs`, `fs/read_dir.rs`, `fs/atomic.rs`, `fs/mmap.rs` | `dir_*`, `file_*`, `map_*`, `fs_stdio`, `fs_pipe` | `kqueue/fs.rs` (on `kqueue/blocking.rs`, interrupts in `kqueue/interrupt.rs`; streams on the reactor), `sys/fs.rs`, `sys/beneath.rs` (confined `Dir`s), `sys/interrupt.rs`, `sys/pipe.rs` |
//! | TCP, UDP, Unix sockets | `net/tcp.rs`, `net/udp.rs`, `net/unix.rs` (shared parts in `net/stream.rs`, `net/listener.rs`, `net/datagram.rs`) | `net_*` | `kqueue/net.rs`, `sys/net.rs` |
//! | hyper, tokio I/O traits (features `hyper`, `tokio-io`) | `compat/hyper.rs`, `compat/tokio.rs` | through the `futures::io` impls of `net/` | as `net/` |
//! | `metrics`, `task_dump`, stall reports, `tracing` spans | `observe.rs`; `TaskBuilder` (`task/builder.rs`), wait records (`task/activity.rs`) | `metrics`, `task_dump` | `scheduler/stats.rs`, `scheduler/stall.rs`, `scheduler/registry.rs` |
//!
//! The second backend, [`sim`] (a deterministic simulation, one thread, one seed), implements the
//! same trait methods in `sim/`:
//!
//! | operation | user-facing type (file) | trait method (`io.rs`) | backend (`sim/`) |
//! | --- | --- | --- | --- |
//! | the world: hosts, `run`, `step`, crash, restart, pause; seeds, replay, deadlocks | `sim::Sim` (`sim/mod.rs`, `sim/runner.rs`) | — | `world.rs` |
//! | tasks, cancellation, `Group`, `Select`, sync | as for `kqueue/` | `task_*` | `world.rs` (`Schedule for HostSched`, the seeded ready set), `host_io.rs` |
//! | clocks, sleeps, timeouts | `time.rs`, `sleep.rs` | `time_*` | `world.rs` (virtual time, `BTreeMap` timers) |
//! | `spawn_blocking`, `random`, signals, fault points | `io.rs`, `signal.rs` | `blocking_submit`, `random_*`, `signal_*`, `fault_point` | `world.rs`, `rng.rs` |
//! | child processes | `process.rs` | `process_*` (`pipe_*`: `Unsupported`) | `process.rs` (programs registered with `Sim::program`) |
//! | TCP, UDP, Unix sockets, name lookup | `net/` | `net_*` | `net/` (`SimNet`) |
//! | files, directories, pipes, stdio | `fs/` | `dir_*`, `file_*`, `map_*`, `fs_*` | `disk/` (`SimDisk`) |
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]

pub mod backend;
pub mod batch;
pub mod compat;
mod error;
pub mod fs;
mod interval;
mod io;
pub mod kqueue;
mod loom;
pub mod net;
pub mod observe;
pub mod process;
pub mod signal;
pub mod sim;
mod sleep;
mod sleep_owned;
pub mod sync;
mod sys;
mod task;
pub mod time;

/// Runs an `async fn main` on a fresh [`Kqueue`] runtime (tokio's `#[tokio::main]`).
///
/// The function takes no parameter, or one that receives the runtime's [`IoRef`] (the usual
/// way for the body to reach `io`); it may return anything `main` may return, a `Result`
/// included. The attribute turns it into a plain `fn main()` that starts the runtime
/// ([`Kqueue::init`]), runs the body in [`Kqueue::block_on`] (on the main thread, so the body's
/// future need not be `Send`), shuts the runtime down ([`Kqueue::deinit`]) and returns the body's
/// output. Tasks still running when the body returns are canceled by `deinit`.
///
/// Options, each optional, map to [`InitOptions`] fields:
///
/// | option | `InitOptions` field | default |
/// | --- | --- | --- |
/// | `worker_threads = N` | `n_threads: Some(N)` | one worker per core |
/// | `max_tasks = N` | `max_tasks: Some(N)` | unlimited |
/// | `max_blocking_threads = N` | `max_blocking_threads` | 64 |
/// | `thread_name = "name"` | `thread_name` | `"kqio-worker"` |
/// | `pin_workers` | `pin_workers: true` | `false` |
/// | `crate = "path"` | (where kqio is: for a crate that renames or re-exports it) | `::kqio` |
///
/// An unknown option, a repeated one, a count of 0, a non-`async` function, generics and a second
/// parameter are compile errors pointing at the mistake.
///
/// # Panics
///
/// If [`Kqueue::init`] fails (the OS refused a thread or the poller), with its error.
///
/// # Examples
///
/// ```no_run
/// use kqio::net::TcpListener;
///
/// #[kqio::main(worker_threads = 4)]
/// async fn main(io: kqio::IoRef) -> std::io::Result<()> {
///     let listener = TcpListener::bind(&io, "127.0.0.1:8080".parse().unwrap()).await?;
///     loop {
///         let (stream, _peer) = listener.accept().await?;
///         io.r#async(async move {
///             let mut buf = [0u8; 1024];
///             while let Ok(n @ 1..) = stream.read(&mut buf).await {
///                 if stream.write_all(&buf[..n]).await.is_err() {
///                     break;
///                 }
///             }
///         })
///         .detach();
///     }
/// }
/// ```
pub use kqio_macros::main;

pub use error::{Canceled, ConcurrencyUnavailable, EntropyUnavailable, LocalUnavailable};
pub use io::{Io, IoRef};
/// Runs an `async fn` test on a fresh [`Kqueue`] runtime of its own (tokio's `#[tokio::test]`).
///
/// As [`main`](macro@main), in a `#[test]` function: the test takes no parameter or an
/// [`IoRef`], may return a `Result` (an `Err` fails the test), and may carry `#[ignore]` or
/// `#[should_panic]`. Each test gets its own runtime, shut down when the body returns, so tests
/// running in parallel share nothing. The options are those of `main`; `worker_threads` defaults
/// to 1 here (many tests run at once), and with `block_on`'s own thread that is already two
/// threads running the test.
///
/// Writing `#[test]` as well is a compile error (the attribute is the test harness).
///
/// # On the simulator
///
/// `#[kqio::test(sim, seeds = 100)]` runs the body on the deterministic simulator
/// ([`kqio::sim`](crate::sim)) instead of a `Kqueue`: for each seed of
/// [`run_seeds`](crate::sim::run_seeds) (`0..100`; `KQIO_SIM_SEEDS=n` runs `n` seeds instead,
/// `KQIO_SIM_SEED=s` only seed `s`), a fresh [`Sim`](crate::sim::Sim) runs the body as its
/// client program (`sim.client("test", |io| body(io))`, then `sim.run()`), on the test's thread
/// and virtual time. A seed fails when the body panics, returns `Err`, deadlocks or hits a
/// limit; the failure names the seed and prints the command that replays it. Under
/// `KQIO_SIM_CHECK_REPLAY=1` each seed runs twice and the two event logs must match. `seeds`
/// defaults to 1. The body's future must be `Send` (it is a task of the simulated host); the options that
/// size a kqueue runtime (`worker_threads`, `max_tasks`, `max_blocking_threads`,
/// `thread_name`, `pin_workers`) are compile errors with `sim`.
///
/// ```no_run
/// use kqio::time::{Clock, Duration, Timeout};
///
/// #[kqio::test(sim, seeds = 100)]
/// async fn an_hour_passes_at_once(io: kqio::IoRef) {
///     let start = io.now(Clock::Awake);
///     io.sleep(Timeout::after(Duration::HOUR)).await.unwrap();
///     assert_eq!(io.now(Clock::Awake).saturating_duration_since(start), Duration::HOUR);
/// }
/// ```
///
/// # Examples
///
/// ```no_run
/// #[kqio::test(worker_threads = 2)]
/// async fn adds(io: kqio::IoRef) {
///     let a = io.r#async(async { 20 });
///     let b = io.r#async(async { 22 });
///     assert_eq!(a.await + b.await, 42);
/// }
/// ```
pub use kqio_macros::test;
pub use kqueue::{InitOptions, Kqueue, Metrics};
pub use observe::{RuntimeMetrics, TaskDump};
pub use task::{
    select, Blocking, CancelProtection, Group, JoinHandle, Runnable, Schedule, ScheduleReason,
    Select, TaskHeader, YieldNow,
};
pub use task::{TaskBuilder, TaskId, TaskState, WaitingOn};
