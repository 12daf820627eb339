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
//! | `Group`, `Select` | `task/group.rs`, `task/select.rs` | through `r#async`/`concurrent` | as above |
//! | `await`, `cancel`, `detach` | `JoinHandle` (`task/join.rs`) | — | the task's header (`task/header.rs`) |
//! | `check_cancel`, `recancel`, `swap_cancel_protection` | `task/current.rs`, `task/cancel.rs` | `task_check_cancel`, ... | `mod.rs` |
//! | `block_on`, `init`, `deinit` | `Kqueue` (`kqueue/mod.rs`) | — | `scheduler/`, `reactor.rs` |
//! | readiness of a descriptor | `kqueue::AsyncFd` (`kqueue/async_fd.rs`) | — (backend extra) | `reactor.rs` |
//! | clocks, durations | `time.rs` | — | `sys/clock.rs` |
//! | operation batches | `batch.rs` | through `net_poll_*` | `kqueue/net.rs` |
//! | child processes | `process.rs` | `process_*`, `pipe_*` | `kqueue/process.rs`, `sys/process.rs` |
//! | signals, `ctrl_c` | `signal.rs` | `signal_listen`, `signal_poll` | `kqueue/signal.rs`, `sys/signal.rs` |
//! | `random`, `random_secure` | `io.rs` helpers | `random_fill`, `random_fill_secure` | `kqueue/random.rs` |
//! | files, directories, memory maps, pipes, stdio | `fs/file.rs`, `fs/dir.rs`, `fs/read_dir.rs`, `fs/atomic.rs`, `fs/mmap.rs` | `dir_*`, `file_*`, `map_*`, `fs_stdio`, `fs_pipe` | `kqueue/fs.rs` (on `kqueue/blocking.rs`, interrupts in `kqueue/interrupt.rs`; streams on the reactor), `sys/fs.rs`, `sys/beneath.rs` (confined `Dir`s), `sys/interrupt.rs`, `sys/pipe.rs` |
//! | TCP, UDP, Unix sockets | `net/tcp.rs`, `net/udp.rs`, `net/unix.rs` (shared parts in `net/stream.rs`, `net/listener.rs`, `net/datagram.rs`) | `net_*` | `kqueue/net.rs`, `sys/net.rs` |
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

pub mod batch;
mod error;
pub mod fs;
mod io;
pub mod kqueue;
mod loom;
pub mod net;
pub mod observe;
pub mod process;
pub mod signal;
pub mod sim;
mod sleep;
pub mod sync;
mod sys;
mod task;
pub mod time;

pub use error::{Canceled, ConcurrencyUnavailable, EntropyUnavailable};
pub use io::{Io, IoRef};
pub use kqueue::{InitOptions, Kqueue, Metrics};
pub use observe::{RuntimeMetrics, TaskDump};
pub use task::{
    select, Blocking, CancelProtection, Group, JoinHandle, Runnable, Schedule, ScheduleReason,
    Select, TaskHeader, YieldNow,
};
pub use task::{TaskBuilder, TaskId, TaskState, WaitingOn};
