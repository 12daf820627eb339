//! Files and directories (Zig `std.Io.File`, `std.Io.Dir`), written against the
//! [`Io`](crate::Io) trait.
//!
//! A [`Dir`] and a [`File`] hold an [`IoRef`](crate::IoRef) and an opaque handle; every
//! operation is one vtable call (`dir_*`, `file_*`, `map_*` in `io.rs`), which the kqueue backend
//! (`kqueue/fs.rs`) runs as one job on its bounded blocking pool: kqueue, like epoll, reports
//! regular files as always ready, so file work is blocking work, and it never runs on a worker.
//!
//! Every path is relative to a `Dir` (`openat`-style), so a `Dir` is a capability: it keeps
//! naming the same directory after that directory is renamed or moved. [`Dir::cwd`] resolves
//! against the process's current directory at each operation. A confined `Dir`
//! ([`Dir::confine`], [`OpenDirFlags::confined`]) is one in the strict sense: no path given to
//! it resolves outside it ([`ErrorKind::PathEscapesDir`]).
//!
//! | Zig | kqio |
//! | --- | --- |
//! | `Dir.cwd()` | [`Dir::cwd`] |
//! | `dir.openDir(io, path, .{})`, `dir.close(io)` | [`Dir::open_dir`]; drop |
//! | `dir.createDir`, `createDirPath`, `createDirPathOpen` | [`Dir::create_dir`], [`Dir::create_dir_path`] (`true` if it created), [`Dir::create_dir_path_open`] |
//! | `dir.stat`, `dir.statFile`, `dir.access` | [`Dir::stat`], [`Dir::stat_file`] ([`Dir::stat_link`]), [`Dir::access`] |
//! | `dir.createFile(io, path, .{ .truncate, .exclusive })` | [`Dir::create_file`] with [`CreateFlags`] |
//! | `dir.openFile(io, path, .{ .mode })` | [`Dir::open_file`] with [`OpenFlags`] |
//! | `dir.createFileAtomic` / `AtomicFile.finish` | [`Dir::create_file_atomic`], [`AtomicFile::commit`]; dropped uncommitted: the temporary is deleted |
//! | `dir.iterate()` | [`Dir::entries`]: a `futures::Stream` of [`DirEntry`] |
//! | `dir.realPath`, `deleteFile`, `deleteDir`, `deleteTree`, `rename`, `symLink`, `readLink`, `hardLink` | same names, snake case |
//! | `dir.setFilePermissions`, `setFileOwner`, `setTimestamps` | [`Dir::set_permissions`], [`Dir::set_owner`], [`Dir::set_timestamps`] |
//! | `file.stat`, `length`, `setLength` | [`File::stat`], [`File::length`], [`File::set_length`] |
//! | `readStreaming`, `readPositional`, `readVec` | [`File::read`], [`File::read_at`], [`File::read_vectored`] (and `_at`) |
//! | `writeStreaming`, `writePositional`, `writeVec` | [`File::write`], [`File::write_at`], [`File::write_vectored`] (and `_all`, `_at`) |
//! | `seekTo`, `seekBy` | [`File::seek_to`], [`File::seek_by`]; `futures::io::AsyncSeek` |
//! | `sync`, `setPermissions`, `setOwner`, `setTimestamps` | same names |
//! | `lock`, `tryLock`, `unlock`, `downgradeLock` | same names (`flock`) |
//! | `isTty`, `realPath` | [`File::is_tty`], [`File::real_path`] |
//! | `writeFile` (from another file) | [`File::copy_from`], [`File::copy_range_from`] (`copy_file_range` where it exists) |
//! | `createMemoryMap`, `MemoryMap.setLength`, destroy | [`File::memory_map`], [`MemoryMap::set_length`], drop |
//! | `File.Reader`/`Writer` | `futures::io::{AsyncRead, AsyncWrite, AsyncSeek}` on [`File`] |
//!
//! # Cancellation
//!
//! Every operation is a cancellation point. In a task asked to cancel:
//! - an operation whose job has not started does nothing and fails with
//!   [`ErrorKind::Canceled`];
//! - a running job is *interrupted* (kqueue backend): its pool thread is signaled, the blocking
//!   call it is in (or the next one it makes) returns `EINTR`, and the operation fails with
//!   `Canceled`. A read interrupted so consumed nothing; a job of several calls keeps what its
//!   finished calls did (a `write_file` interrupted after its `open` has truncated the file).
//!   A job that finished first returns its real result and the request stays pending for the
//!   next cancellation point. Calls that retry `EINTR` themselves run to their end:
//!   `set_length`, `sync`, `copy_from`'s in-kernel copy, `memory_map`. If a call is not
//!   interrupted within about a second (a hung network mount in an uninterruptible wait), the
//!   operation stops waiting and returns `Canceled`; the job's result is dropped on the pool
//!   thread when it comes (a file it opened is closed, never leaked);
//! - reads and writes of a pipe, FIFO, terminal or character device opened by path (and of
//!   [`File::pipe`]) wait on the reactor as sockets do: canceled, they return at once and have
//!   consumed or written nothing ([`File::write`] reports the bytes written before a cancel).
//!   Their descriptor is non-blocking (its own open file description, made by the `open`).
//!   Devices the poller refuses (`/dev/null` on Linux) stay on the pool.
//!   [`File::stdin`], [`File::stdout`] and [`File::stderr`] stay on the pool: their open file
//!   description is shared with other processes, so kqio never makes it non-blocking (a
//!   terminal left non-blocking breaks the shell). Opening `/dev/stdin` or `/dev/fd/N` by path,
//!   which on macOS and the BSDs duplicates the descriptor, is noticed and stays on the pool too.

//! # Sizes
//!
//! A read or write of more than [`CHUNK_SIZE`] bytes is done as several jobs of at most that size
//! (one `read`/`write` returns after one chunk; the `_all` forms loop). A directory is read
//! [`ENTRIES_BATCH`] entries per job. The `futures::io` implementations on [`File`] do one job
//! per call, of the caller's buffer size (at most [`CHUNK_SIZE`]): give them large buffers,
//! e.g. `futures::io::copy_buf(BufReader::with_capacity(CHUNK_SIZE, src), &mut dst)`.

mod atomic;
mod buf;
mod dir;
mod error;
mod file;
mod mmap;
mod read_dir;
mod types;

pub use atomic::{AtomicFile, AtomicFlags};
pub use dir::{AccessMode, CreateFlags, Dir, OpenDirFlags, OpenFlags};
pub use error::{Error, ErrorKind, Op, PathEscapesDir, Result};
pub use file::File;
pub use mmap::MemoryMap;
pub use read_dir::ReadDir;
pub use types::{
    Access, DirEntry, DirHandle, EntriesHandle, FileHandle, FileKind, Lock, MapHandle, MapOptions,
    MappedRegion, Metadata, Offset, OpenOptions, Permissions, SetTimestamp, StdStream,
};

/// The future a backend's fs method returns: its job's result, or the `io::Error` that ended it
/// (with [`Canceled`](crate::Canceled) inside when the job was canceled before it started).
pub type FsFuture<T> = futures::future::BoxFuture<'static, std::io::Result<T>>;

/// The most bytes one job reads or writes: 1 MiB.
///
/// Why this size: each job costs two thread hand-offs (to the pool and back, some microseconds
/// on an idle machine, tens under load), and each chunk is copied once between the caller's
/// buffer and the job's; at 1 MiB the copy and the system call (hundreds of microseconds) dwarf
/// the hand-offs, so a large read runs at the speed of the page cache, while a job still ends
/// within about a millisecond, which bounds how long a canceled transfer keeps a pool thread and
/// how much memory 64 busy pool threads can hold (64 MiB). `benches/fs.rs` reads 512 MiB in
/// 1 MiB requests (one job each) at the page cache's speed, level with or ahead of tokio, whose
/// `fs::File` caps a job at 2 MiB for the same purpose.
pub const CHUNK_SIZE: usize = 1 << 20;

/// Entries one job reads from a directory: enough to make the hand-offs negligible next to the
/// `readdir` calls (a 10,000-entry directory takes 20 jobs), few enough that a batch's names stay
/// in a few tens of kilobytes.
pub const ENTRIES_BATCH: usize = 512;

/// Bytes one job of [`File::copy_from`] copies: the copy happens in the kernel, so no buffer is
/// involved; the bound only keeps a job (and a canceled copy) to some tens of milliseconds.
pub const COPY_CHUNK: u64 = 64 << 20;

/// Checks a path argument before any job: not empty, no NUL byte.
fn check_path(op: Op, path: &std::path::Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    if bytes.is_empty() {
        return Err(Error::invalid(op, Some(path), "an empty path"));
    }
    if bytes.contains(&0) {
        return Err(Error::invalid(op, Some(path), "a path with a NUL byte in it"));
    }
    Ok(())
}
