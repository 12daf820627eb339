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
use std::io::{self, IoSlice, IoSliceMut, SeekFrom};
use std::net::Shutdown;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::BoxFuture;
use std::task::{Context, Poll};

use crate::error::{Canceled, ConcurrencyUnavailable, EntropyUnavailable, LocalUnavailable};
use crate::fs::{
    Access, DirEntry, DirHandle, EntriesHandle, FileHandle, FsFuture, Lock, MapHandle, MapOptions,
    Metadata, Offset, OpenOptions, Permissions, SetTimestamp, StdStream,
};
use crate::net::{
    AddressKind, BindOptions, ListenOptions, LookupResult, SocketAddress, SocketHandle, SocketKind,
    SocketOption, SocketOptionKind,
};
use crate::observe::{RuntimeMetrics, TaskDump};
use crate::process::{PipeHandle, ProcessHandle, SpawnedProcess};
use crate::signal::Signal;
use crate::sleep::{Sleep, TimerSlot};
use crate::task::{self, Blocking, CancelProtection, JoinHandle, Schedule, TaskBuilder, YieldNow};
use crate::time::{Clock, Duration, Timeout, Timestamp};

/// The interface application code is written against: Zig's `std.Io`, as an object-safe trait.
///
/// # Calling it
///
/// Application code holds an [`IoRef`] (from [`Kqueue::io`](crate::Kqueue::io), or the parameter
/// of an `async fn main(io: IoRef)` under [`#[kqio::main]`](macro@crate::main)) or a `&dyn Io`
/// (`&*io` from an `IoRef`), and calls the typed helpers below, listed under "Implementations"
/// on this page, not the trait's own methods:
///
/// | to | call |
/// | --- | --- |
/// | run a future as a task | [`io.r#async(fut)`](#method.async) (a [`JoinHandle`]: await it, [`cancel`](JoinHandle::cancel) it, [`detach`](JoinHandle::detach) it; dropping it cancels the task); [`io.concurrent(fut)`](#method.concurrent) when it must run concurrently |
/// | many tasks at once | [`Group`](crate::Group), [`select`](crate::select()) |
/// | wait | [`io.sleep(Timeout::after(d))`](#method.sleep); [`kqio::time::timeout(&*io, t, fut)`](crate::time::timeout) bounds any future |
/// | read a clock | [`io.now(Clock::Awake)`](#method.now), [`io.clock_resolution(clock)`](#method.clock_resolution) |
/// | run blocking code | [`io.spawn_blocking(f)`](#method.spawn_blocking) (the bounded blocking pool) |
/// | resolve a host name | [`io.lookup(host, port)`](#method.lookup) |
/// | random bytes | [`io.random(&mut buf)`](#method.random), [`io.random_secure(&mut buf)`](#method.random_secure) |
/// | be cancelable, or not | [`io.check_cancel()`](#method.check_cancel), [`io.recancel()`](#method.recancel), [`io.swap_cancel_protection(p)`](#method.swap_cancel_protection) |
/// | let other tasks run | [`io.yield_now().await`](#method.yield_now) |
/// | signals | [`io.signal(kind)`](IoRef::signal), [`kqio::signal::ctrl_c`](crate::signal::ctrl_c) |
/// | sockets, files, processes | the types of [`kqio::net`](crate::net), [`kqio::fs`](crate::fs), [`kqio::process`](crate::process) (`TcpListener::bind(&io, addr)`, `Dir::cwd(&io)`, `Command::spawn(&io)`), which call the `net_*`, `dir_*`, `file_*` and `process_*` methods for you |
/// | locks, conditions, queues | [`kqio::sync`](crate::sync) |
///
/// # Implementing it
///
/// The trait's methods are the backend's side of the contract, named area first as in Zig's
/// vtable (`task_*`, `time_*`, `net_*`, ...). A backend written outside kqio finds the task
/// machinery it needs in [`kqio::backend`](crate::backend).
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
    ///
    /// The default delivers the request recorded in the current task's header, which kqio's
    /// typed helpers ([`r#async`](#method.async), [`concurrent`](#method.concurrent)) build for
    /// every task, and which [`poll_in_task`](crate::backend::poll_in_task) installs for a
    /// backend's `block_on`: the same for every backend whose tasks are built that way, which is
    /// every backend. Outside a task it returns `Ok(())`.
    fn task_check_cancel(&self) -> Result<(), Canceled> {
        crate::task::current::check_cancel()
    }

    /// Re-arms the current task's cancellation request after it was delivered (Zig `recancel`).
    ///
    /// The default re-arms it in the current task's header, as
    /// [`task_check_cancel`](Self::task_check_cancel) reads it; outside a task it does nothing.
    fn task_recancel(&self) {
        crate::task::current::recancel()
    }

    /// Sets the current task's cancel protection and returns the previous one (Zig
    /// `swapCancelProtection`).
    ///
    /// The default sets it in the current task's header, as
    /// [`task_check_cancel`](Self::task_check_cancel) reads it; outside a task it does nothing
    /// and returns [`CancelProtection::Unblocked`].
    fn task_swap_cancel_protection(&self, protection: CancelProtection) -> CancelProtection {
        crate::task::current::swap_cancel_protection(protection)
    }

    /// Reserves a unit of concurrency for one new *local* task, a `!Send` future that must run
    /// only on the calling thread (see [`spawn_local`](#method.spawn_local)), and returns its
    /// owner. The owner must run or drop every runnable it is handed on the calling thread and
    /// nowhere else (the contract of `task/local.rs`). The reservation is released by
    /// [`Schedule::task_finished`].
    ///
    /// # Errors
    ///
    /// The outer [`LocalUnavailable`] when the calling thread is not one that this backend drives
    /// (the default: a backend without local tasks); the inner [`ConcurrencyUnavailable`] as for
    /// [`task_reserve`](Self::task_reserve).
    fn task_reserve_local(
        &self,
    ) -> Result<Result<Arc<dyn Schedule>, ConcurrencyUnavailable>, LocalUnavailable> {
        Err(LocalUnavailable)
    }

    // ----- time -----

    /// The current time of `clock` (Zig `now`). Cannot fail.
    fn time_now(&self, clock: Clock) -> Timestamp;

    /// The resolution of `clock` (Zig `clockResolution`).
    fn time_resolution(&self, clock: Clock) -> Duration;

    /// Polls a timer due at `deadline` on the awake clock: `Ready` once it has passed, else
    /// registers `cx`'s waker. `timer` starts as `TimerSlot::default()` and belongs to the
    /// waiting future; the backend records its timer there. A backend may wake the waker before
    /// the deadline (a spurious wake: the simulator does when it steps a host's real clock, so
    /// that real-clock deadlines are checked again); the caller then polls again.
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

    /// How long, on the awake clock, until `clock` reads `deadline` if nothing steps it; zero or
    /// negative once it does. A sleep to a deadline on another clock arms its awake-clock timer this far
    /// ahead (and a real-clock one checks the real clock again when it fires).
    ///
    /// The default assumes that `clock` ticks at the awake clock's rate: the distance from
    /// `clock`'s present. A backend whose clocks run at different rates overrides it (the
    /// simulator's drifting real clocks), so that a deadline on a fast clock is not reached late.
    fn time_until(&self, clock: Clock, deadline: Timestamp) -> Duration {
        deadline.saturating_duration_since(self.time_now(clock))
    }

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

    /// Reads (or receives, on a connected datagram socket) into the unfilled part of `cursor`,
    /// which may be uninitialized, and counts what was read as filled. Otherwise as
    /// [`net_poll_read`](Self::net_poll_read) without `peek`: no byte filled on a stream means the
    /// peer closed its side. For adapters whose callers hand out uninitialized memory (hyper's
    /// and tokio's read buffers), so that it need not be zeroed before every read.
    ///
    /// The default zeroes the unfilled part and calls `net_poll_read`; a backend whose reads
    /// are syscalls can read into the memory as it is.
    fn net_poll_read_uninit(
        &self,
        cx: &mut Context<'_>,
        socket: &SocketHandle,
        cursor: &mut crate::net::ReadCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let dst = cursor.initialize_unfilled();
        let n = std::task::ready!(self.net_poll_read(cx, socket, dst, false))?;
        cursor.set_filled_from_initialized(n);
        Poll::Ready(Ok(()))
    }

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

    // ----- net: descriptors -----
    //
    // For a backend whose sockets are OS descriptors. The defaults are those of a backend
    // without descriptors (the simulator): it cannot adopt one, and has none to lend. Paths are
    // spelled out so that this block stands alone.

    /// Takes over `fd`, a socket made outside kqio (socket activation, an inherited descriptor,
    /// a `std` or `socket2` socket), for a user type of `kind` (`TcpListener::from_std`, ...):
    /// checks that it is a socket of that kind, makes it non-blocking and close-on-exec, and
    /// registers it. `fd` is closed on error.
    ///
    /// # Errors
    ///
    /// [`AdoptError`](crate::net::AdoptError) inside the `io::Error`: `Unsupported` (this
    /// default), `NotASocket`, `WrongKind`; other OS errors as they come.
    fn net_adopt(
        &self,
        fd: std::os::fd::OwnedFd,
        kind: crate::net::AdoptKind,
    ) -> io::Result<SocketHandle> {
        let _ = (fd, kind);
        Err(crate::net::AdoptError::Unsupported.into())
    }

    /// The descriptor of `socket`, borrowed for as long as the handle is, or `None` if this
    /// backend's sockets are not descriptors (this default) or `socket` is another backend's.
    fn net_as_fd<'a>(&self, socket: &'a SocketHandle) -> Option<std::os::fd::BorrowedFd<'a>> {
        let _ = socket;
        None
    }

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

    // ----- fs -----
    //
    // Files and directories (Zig `File`, `Dir`): opaque handles the backend makes, every path
    // relative to a directory handle (openat-style, so a `Dir` is a capability). Each method
    // returns a future of the backend's job: the kqueue backend runs it on the blocking pool; a
    // simulated one may answer at once. Awaiting it is a cancellation point: before the job
    // starts, `Err` with `Canceled` inside and nothing done; while it runs, the backend may stop
    // it early (the kqueue backend interrupts the blocking call it is in: then `Canceled`), or
    // let it finish (then its real result, and the request stays pending). A result nobody
    // awaits any more is dropped where it is made (an opened file is closed).
    // Errors are plain `io::Error`s: the user types in `fs/` add the operation and the path.

    /// The process's current directory, as a handle that resolves paths against it at each
    /// operation (Zig `Dir.cwd`). Does not block.
    fn fs_cwd(&self) -> DirHandle;
    /// The same directory as `dir`, confined: no path given with the handle returned, nor with
    /// any directory opened through it (each confined beneath itself), resolves outside it;
    /// such a path fails with [`PathEscapesDir`](crate::fs::PathEscapesDir) inside the
    /// `io::Error`. Shares `dir`'s underlying directory. Does not block. A backend that cannot
    /// confine keeps this default, which says `Unsupported`.
    fn dir_confine(&self, dir: &DirHandle) -> io::Result<DirHandle> {
        let _ = dir;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "kqio: this backend cannot confine a directory",
        ))
    }
    /// Opens `path` in `dir` with `options`: a file (Zig `Dir.openFile`, `Dir.createFile`).
    fn dir_open_file(
        &self,
        dir: &DirHandle,
        path: &Path,
        options: &OpenOptions,
    ) -> FsFuture<FileHandle>;
    /// Opens the directory `path` in `dir` (Zig `Dir.openDir`).
    fn dir_open_dir(
        &self,
        dir: &DirHandle,
        path: &Path,
        follow_symlinks: bool,
    ) -> FsFuture<DirHandle>;
    /// Creates the directory `path` (Zig `Dir.createDir`).
    fn dir_create_dir(&self, dir: &DirHandle, path: &Path, perms: Permissions) -> FsFuture<()>;
    /// Creates `path` and its missing parents; `true` if it did not exist (Zig
    /// `Dir.createDirPath`).
    fn dir_create_dir_path(
        &self,
        dir: &DirHandle,
        path: &Path,
        perms: Permissions,
    ) -> FsFuture<bool>;
    /// `stat` of the directory itself (Zig `Dir.stat`).
    fn dir_stat(&self, dir: &DirHandle) -> FsFuture<Metadata>;
    /// `stat` of `path` in `dir` (Zig `Dir.statFile`).
    fn dir_stat_path(
        &self,
        dir: &DirHandle,
        path: &Path,
        follow_symlinks: bool,
    ) -> FsFuture<Metadata>;
    /// Checks `access` to `path` (Zig `Dir.access`).
    fn dir_access(&self, dir: &DirHandle, path: &Path, access: Access) -> FsFuture<()>;
    /// Opens, reads to the end and closes `path`, in one job (tokio's `fs::read`).
    fn dir_read_file(&self, dir: &DirHandle, path: &Path) -> FsFuture<Vec<u8>>;
    /// Creates or truncates `path`, writes `data` and closes it, in one job.
    fn dir_write_file(
        &self,
        dir: &DirHandle,
        path: &Path,
        data: Vec<u8>,
        perms: Permissions,
    ) -> FsFuture<()>;
    /// Starts reading the entries of `dir` (Zig `Dir.iterate`), from its beginning.
    fn dir_entries(&self, dir: &DirHandle) -> FsFuture<EntriesHandle>;
    /// The next at most `max` entries; empty at the end.
    fn dir_entries_next(&self, entries: &EntriesHandle, max: usize) -> FsFuture<Vec<DirEntry>>;
    /// The absolute, symlink-free path of `path` in `dir` (Zig `Dir.realPath`).
    fn dir_real_path(&self, dir: &DirHandle, path: &Path) -> FsFuture<PathBuf>;
    /// Deletes the file `path` (Zig `Dir.deleteFile`).
    fn dir_delete_file(&self, dir: &DirHandle, path: &Path) -> FsFuture<()>;
    /// Deletes the empty directory `path` (Zig `Dir.deleteDir`).
    fn dir_delete_dir(&self, dir: &DirHandle, path: &Path) -> FsFuture<()>;
    /// Deletes `path` and, if a directory, everything below it; a missing `path` is success
    /// (Zig `Dir.deleteTree`).
    fn dir_delete_tree(&self, dir: &DirHandle, path: &Path) -> FsFuture<()>;
    /// Renames `old` in `old_dir` to `new` in `new_dir`, replacing a file there (Zig
    /// `Dir.rename`).
    fn dir_rename(
        &self,
        old_dir: &DirHandle,
        old: &Path,
        new_dir: &DirHandle,
        new: &Path,
    ) -> FsFuture<()>;
    /// Creates the symbolic link `link` pointing at `target` (Zig `Dir.symLink`).
    fn dir_symlink(&self, dir: &DirHandle, target: &Path, link: &Path) -> FsFuture<()>;
    /// The target of the symbolic link `path` (Zig `Dir.readLink`).
    fn dir_read_link(&self, dir: &DirHandle, path: &Path) -> FsFuture<PathBuf>;
    /// Creates the hard link `new` in `new_dir` to `old` in `old_dir` (Zig `Dir.hardLink`).
    fn dir_hard_link(
        &self,
        old_dir: &DirHandle,
        old: &Path,
        new_dir: &DirHandle,
        new: &Path,
    ) -> FsFuture<()>;
    /// Sets the permissions of `path` (Zig `Dir.setFilePermissions`).
    fn dir_set_permissions(&self, dir: &DirHandle, path: &Path, perms: Permissions)
        -> FsFuture<()>;
    /// Sets the owner and group of `path`; `None` keeps one (Zig `Dir.setFileOwner`).
    fn dir_set_owner(
        &self,
        dir: &DirHandle,
        path: &Path,
        owner: Option<u32>,
        group: Option<u32>,
        follow_symlinks: bool,
    ) -> FsFuture<()>;
    /// Sets the access and modification times of `path` (Zig `Dir.setTimestamps`).
    fn dir_set_timestamps(
        &self,
        dir: &DirHandle,
        path: &Path,
        atime: SetTimestamp,
        mtime: SetTimestamp,
        follow_symlinks: bool,
    ) -> FsFuture<()>;

    /// `stat` of an open file (Zig `File.stat`).
    fn file_stat(&self, file: &FileHandle) -> FsFuture<Metadata>;
    /// Truncates or extends the file (Zig `File.setLength`).
    fn file_set_length(&self, file: &FileHandle, len: u64) -> FsFuture<()>;
    /// One read of at most `len` bytes at `offset`, appended to `buf` (whose spare capacity is
    /// used first), which comes back; fewer bytes only at the end of the file or for a pipe or
    /// terminal (Zig `File.readStreaming`, `File.readPositional`).
    fn file_read(
        &self,
        file: &FileHandle,
        buf: Vec<u8>,
        len: usize,
        offset: Offset,
    ) -> FsFuture<Vec<u8>>;
    /// Writes all of `data` at `offset` (stopping early only at an error after some progress),
    /// and gives back the count and the buffer (Zig `File.writeStreaming`,
    /// `File.writePositional`).
    fn file_write(
        &self,
        file: &FileHandle,
        data: Vec<u8>,
        offset: Offset,
    ) -> FsFuture<(usize, Vec<u8>)>;
    /// Moves the file position; the new position (Zig `File.seekTo`, `File.seekBy`).
    fn file_seek(&self, file: &FileHandle, pos: SeekFrom) -> FsFuture<u64>;
    /// Flushes data (and, unless `data_only`, metadata) to storage (Zig `File.sync`).
    fn file_sync(&self, file: &FileHandle, data_only: bool) -> FsFuture<()>;
    /// Sets the permissions (Zig `File.setPermissions`).
    fn file_set_permissions(&self, file: &FileHandle, perms: Permissions) -> FsFuture<()>;
    /// Sets owner and group; `None` keeps one (Zig `File.setOwner`).
    fn file_set_owner(
        &self,
        file: &FileHandle,
        owner: Option<u32>,
        group: Option<u32>,
    ) -> FsFuture<()>;
    /// Sets access and modification times (Zig `File.setTimestamps`).
    fn file_set_timestamps(
        &self,
        file: &FileHandle,
        atime: SetTimestamp,
        mtime: SetTimestamp,
    ) -> FsFuture<()>;
    /// Takes, changes or drops an advisory lock. `wait: false` returns `false` at once if it is
    /// held elsewhere (Zig `File.lock`, `tryLock`, `unlock`, `downgradeLock`).
    fn file_lock(&self, file: &FileHandle, lock: Lock, wait: bool) -> FsFuture<bool>;
    /// Whether the file is a terminal (Zig `File.isTty`). Does not block.
    fn file_is_tty(&self, file: &FileHandle) -> bool;
    /// The path the file has now (Zig `File.realPath`).
    fn file_real_path(&self, file: &FileHandle) -> FsFuture<PathBuf>;
    /// Copies up to `len` bytes from `from` to `to`, in the kernel where it can (Zig
    /// `File.writeFile`, sendfile-like); fewer only at the end of `from`.
    fn file_copy(
        &self,
        to: &FileHandle,
        to_offset: Offset,
        from: &FileHandle,
        from_offset: Offset,
        len: u64,
    ) -> FsFuture<u64>;
    /// Closes the file now and reports the error `close` gives, if this is the last handle;
    /// otherwise only drops this one.
    fn file_close(&self, file: FileHandle) -> FsFuture<()>;
    /// Maps part of the file into memory (Zig `File.createMemoryMap`).
    fn file_map(&self, file: &FileHandle, options: MapOptions) -> FsFuture<MapHandle>;
    /// Writes a map's changes in `offset..offset + len` back to the file (`msync`).
    fn map_flush(&self, map: &MapHandle, offset: usize, len: usize) -> FsFuture<()>;
    /// Sets the length of the mapped file to the map's offset plus `len` and maps that
    /// instead: the new map replaces `map` (Zig `MemoryMap.setLength`).
    fn map_set_length(&self, map: &MapHandle, len: usize) -> FsFuture<MapHandle>;

    // ----- fs: standard streams and pipes -----
    //
    // A backend may drive these files differently from files opened by path (the kqueue backend
    // reads and writes a pipe through its reactor); the `file_*` methods take them all.

    /// A new handle for one of the process's standard streams (closing it leaves the stream
    /// itself open). Does not block.
    fn fs_stdio(&self, stream: StdStream) -> io::Result<FileHandle>;
    /// A new pipe: its read end and its write end. Does not block.
    fn fs_pipe(&self) -> io::Result<(FileHandle, FileHandle)>;

    // ----- fault injection -----

    /// A fault point for application code (FoundationDB's `BUGGIFY`): whether the code at the
    /// point named `name` should take its rare path now (drop a message, fail a write, wait
    /// longer). Always `false` on a real backend (this default); under simulation, `true` with
    /// the seeded probability of [`SimOptions::fault_probability`](crate::sim::SimOptions), so
    /// a seed explores the rare paths and replays them.
    fn fault_point(&self, name: &str) -> bool {
        let _ = name;
        false
    }

    // ----- observe -----
    //
    // Snapshots for monitoring and debugging (see `kqio::observe`), called by application code
    // as they are. A backend that reports nothing keeps these defaults, whose `provided` is false.

    /// A snapshot of the runtime's counters: per-worker polls, steals, parks, busy time and queue
    /// depth; shared queue depths; the blocking pool; reactor events; timers; live tasks.
    fn metrics(&self) -> RuntimeMetrics {
        RuntimeMetrics::default()
    }

    /// Every live task: id, name, spawn location, state and what it waits on. Its `Display`
    /// prints one task per line.
    fn task_dump(&self) -> TaskDump {
        TaskDump::default()
    }
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
    #[track_caller]
    pub fn r#async<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self.task_reserve() {
            Ok(owner) => task::spawn::spawn(owner, future),
            Err(ConcurrencyUnavailable) => self.run_inline(future),
        }
    }

    /// The fallback of `r#async`: runs `future` here, to completion, as a task of its own.
    pub(crate) fn run_inline<F: Future>(&self, future: F) -> JoinHandle<F::Output> {
        let canceled = self.task_is_shut_down();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            task::spawn::run_inline(future, canceled)
        })) {
            Ok(out) => JoinHandle::ready(out),
            Err(payload) => JoinHandle::panicked(payload),
        }
    }

    /// Runs the `!Send` `future` as a *local* task: on the calling thread only, never stolen by
    /// another worker (tokio's `spawn_local`, smol's `LocalExecutor`). Its handle is a
    /// [`JoinHandle`] as for any task: await it, [`cancel`](JoinHandle::cancel) it, drop it to
    /// cancel, or [`detach`](JoinHandle::detach) it; a panic of the task is re-raised where the
    /// handle is awaited. The handle is `Send` when the output is.
    ///
    /// Where it may be called:
    ///
    /// - in a task on a worker of the runtime: the task runs on that worker, which takes turns
    ///   between its local tasks and its other work (every other task it runs is a local one when
    ///   both are ready), so neither starves the other. A wake from any thread (a `Send` task on
    ///   another worker, a plain thread setting an [`Event`](crate::sync::Event)) brings the task
    ///   back to its worker, unparking it if it sleeps;
    /// - inside [`Kqueue::block_on`](crate::Kqueue::block_on) (directly or in a local task spawned
    ///   there): the task runs on the `block_on` thread, between polls of the future given to
    ///   `block_on`. Local tasks still unfinished when `block_on` returns are dropped there, on
    ///   that thread (as tasks are at `deinit`): awaiting their handles afterwards panics;
    /// - anywhere else: `Err(LocalUnavailable)`.
    ///
    /// When no unit of concurrency is available (the limit of
    /// [`InitOptions::max_tasks`](crate::InitOptions::max_tasks), or `deinit` has begun), the
    /// future runs inline to completion before this returns, as [`r#async`](#method.async)
    /// does, with the same caveats. At `deinit`, a worker drops its unfinished local tasks
    /// itself, on its own thread, before it exits.
    ///
    /// # Errors
    ///
    /// [`LocalUnavailable`] when the calling thread is neither a worker of this runtime nor
    /// inside its `block_on` (a plain thread, another runtime's worker), or the backend has no
    /// local tasks; the future is dropped unpolled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    ///
    /// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
    /// let io = rt.io();
    /// // Not on a runtime thread: refused.
    /// assert!(io.spawn_local(async {}).is_err());
    /// let total = rt.block_on(async {
    ///     let seen = Rc::new(RefCell::new(Vec::new())); // `!Send`: no `r#async` for it
    ///     let tasks: Vec<_> = (0..3)
    ///         .map(|i| {
    ///             let seen = seen.clone();
    ///             io.spawn_local(async move { seen.borrow_mut().push(i) }).expect("in block_on")
    ///         })
    ///         .collect();
    ///     for t in tasks {
    ///         t.await;
    ///     }
    ///     let n = seen.borrow().len();
    ///     n
    /// });
    /// assert_eq!(total, 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn spawn_local<F>(&self, future: F) -> Result<JoinHandle<F::Output>, LocalUnavailable>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        Ok(match self.task_reserve_local()? {
            Ok(owner) => task::local::spawn_local(owner, future),
            Err(ConcurrencyUnavailable) => self.run_inline(future),
        })
    }

    /// A builder for a task with options (a name), spawned with its
    /// [`r#async`](TaskBuilder::async) or [`concurrent`](TaskBuilder::concurrent).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
    /// let io = rt.io();
    /// let h = io.task().name(format!("conn-{}", 7)).r#async(async { 1 });
    /// assert_eq!(rt.block_on(h), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn task(&self) -> TaskBuilder<'_> {
        TaskBuilder::new(self)
    }

    /// Zig `io.concurrent`: runs `future` as a task that is guaranteed to make progress
    /// concurrently with the caller.
    ///
    /// # Errors
    ///
    /// [`ConcurrencyUnavailable`] when the task limit is reached or the runtime is shutting
    /// down; the future is dropped unpolled.
    #[track_caller]
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
    /// Cannot fail. Under the simulator ([`kqio::sim`](crate::sim)) the bytes are drawn from the
    /// world's seed: reproducible, and not secret.
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
    /// Under the simulator ([`kqio::sim`](crate::sim)) the bytes come from the world's seed like
    /// [`random`](#method.random)'s, so that a run replays exactly: they are not secret there.
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
