//! `File`: an open file (Zig `std.Io.File`), every operation through the `Io` trait.
//!
//! Ground rules:
//! 1. Transfers go through a buffer the job owns (`buf.rs`): a read copies out of it, a write
//!    into it, at most [`CHUNK_SIZE`] bytes per job. The caller's buffer is never lent to a job,
//!    so a canceled or dropped operation cannot leave a pool thread writing into freed memory.
//! 2. The `&self` methods wait for their job. The `futures::io` implementations keep one
//!    operation in flight in `Stream`: reads fill `read_buf`, which later reads drain first;
//!    writes are write-behind (the bytes are copied and `poll_write` returns; an error is
//!    reported by the next operation, `flush` or `close`); a seek or a write first accounts for
//!    unread buffered bytes (by seeking back over them). A write-behind, once accepted, is
//!    never abandoned: waiting for it is not a cancellation point, and a `File` dropped with
//!    one in flight leaves it to a detached task.
//! 3. Closing: dropping a `File` drops its handle; the descriptor is closed when the last
//!    handle goes (a job still running holds one). [`File::close`] closes on the pool and
//!    reports the error.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, SeekFrom};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use super::buf;
use super::error::{Error, Op, Result};
use super::mmap::MemoryMap;
use super::types::{
    FileHandle, Lock, MapOptions, Metadata, Offset, Permissions, SetTimestamp, StdStream,
};
use super::{FsFuture, CHUNK_SIZE, COPY_CHUNK};
use crate::task::CancelProtection;
use crate::IoRef;

/// An open file (Zig `std.Io.File`). Made by [`Dir::open_file`](super::Dir::open_file),
/// [`Dir::create_file`](super::Dir::create_file) and friends.
///
/// Methods take `&self`, so a file may be shared by several tasks (positional reads and writes
/// do not disturb each other; streaming ones share the file position, as with `std::fs::File`).
/// The `futures::io` traits (`AsyncRead`, `AsyncWrite`, `AsyncSeek`) need `&mut`.
///
/// # Examples
///
/// ```
/// use kqio::fs::{CreateFlags, Dir, OpenFlags};
///
/// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
/// let io = rt.io();
/// let dir = std::env::temp_dir().join(format!("kqio-doc-file-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// rt.block_on(async {
///     let tmp = Dir::cwd(&io).open_dir(&dir, Default::default()).await?;
///     // Created for writing (and, here, reading too).
///     let flags = CreateFlags { read: true, ..Default::default() };
///     let f = tmp.create_file("hello.txt", flags).await?;
///     f.write_all(b"hello, world").await?;
///     let mut buf = [0u8; 5];
///     assert_eq!(f.read_at(&mut buf, 7).await?, 5);
///     assert_eq!(&buf, b"world");
///     // Opened again, read only, and read to the end from the start.
///     let f = tmp.open_file("hello.txt", OpenFlags::default()).await?;
///     let mut all = Vec::new();
///     f.read_to_end(&mut all).await?;
///     assert_eq!(all, b"hello, world");
///     tmp.delete_file("hello.txt").await?;
///     Ok::<_, kqio::fs::Error>(())
/// })?;
/// # std::fs::remove_dir(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct File {
    io: IoRef,
    handle: FileHandle,
    /// The path it was opened with (relative to its directory), for error messages.
    path: Option<Arc<Path>>,
    stream: Stream,
}

/// The `futures::io` state (ground rule 2).
#[derive(Default)]
struct Stream {
    busy: Option<Busy>,
    read_buf: Vec<u8>,
    read_pos: usize,
}

enum Busy {
    Read(Pending<Vec<u8>>),
    /// A write-behind of this many bytes.
    Write(usize, Pending<(usize, Vec<u8>)>),
    /// A seek asked for by `poll_seek`.
    Seek(Pending<u64>),
    /// A seek back over unread bytes, before a write or a seek.
    SeekBack(Pending<u64>),
}

/// A backend's future kept in a `File` between polls. `FsFuture` is `Send` but not `Sync`;
/// this wrapper is `Sync` because it offers nothing through `&self`: the future is only ever
/// polled through `&mut` (so a `File` can be shared by reference between tasks).
struct Pending<T>(FsFuture<T>);

// SAFETY: no method of `Pending` takes `&self`, and its field is private, so a shared reference
// gives no access to the future: sharing `&Pending` between threads cannot race on it.
unsafe impl<T> Sync for Pending<T> {}

impl<T> Pending<T> {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        self.0.as_mut().poll(cx)
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File").field("path", &self.path).finish_non_exhaustive()
    }
}

impl File {
    /// A `File` over a handle the backend made (for backends and tests).
    pub fn from_handle(io: IoRef, handle: FileHandle, path: Option<&Path>) -> File {
        File { io, handle, path: path.map(Arc::from), stream: Stream::default() }
    }

    /// The process's standard input as a `File` (a duplicate of its descriptor: dropping the
    /// `File` leaves standard input open).
    ///
    /// On the kqueue backend its reads run on the blocking pool, not the reactor: making the
    /// descriptor non-blocking would change the open file description it shares with the shell
    /// and other processes (a terminal left non-blocking breaks them). A canceled read is
    /// interrupted (its thread is signaled, the `read` returns `EINTR`) and consumes nothing.
    ///
    /// # Errors
    ///
    /// The OS error of duplicating the descriptor (`EBADF` if the process has no standard
    /// input, `EMFILE`).
    ///
    /// # Cancellation
    ///
    /// Not cancelable: does not block.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
    /// let io = rt.io();
    /// rt.block_on(async {
    ///     let stdin = kqio::fs::File::stdin(&io)?;
    ///     let mut line = [0u8; 80];
    ///     let n = stdin.read(&mut line).await?;
    ///     kqio::fs::File::stdout(&io)?.write_all(&line[..n]).await
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stdin(io: &IoRef) -> Result<File> {
        File::stdio(io, StdStream::Input)
    }

    /// The process's standard output as a `File`; as [`stdin`](Self::stdin).
    pub fn stdout(io: &IoRef) -> Result<File> {
        File::stdio(io, StdStream::Output)
    }

    /// The process's standard error as a `File`; as [`stdin`](Self::stdin).
    pub fn stderr(io: &IoRef) -> Result<File> {
        File::stdio(io, StdStream::Error)
    }

    /// One of the process's standard streams as a `File`; as [`stdin`](Self::stdin).
    pub fn stdio(io: &IoRef, stream: StdStream) -> Result<File> {
        let h = io.fs_stdio(stream).map_err(|e| Error::new(Op::OpenFile, None, e))?;
        Ok(File::from_handle(io.clone(), h, None))
    }

    /// A new pipe: `(read end, write end)`, both close-on-exec.
    ///
    /// On the kqueue backend both ends are non-blocking and their reads and writes wait on the
    /// reactor, as sockets do: no pool thread is held while a read waits, and a canceled read
    /// consumes nothing. Reading returns 0 once every write end is closed.
    ///
    /// # Errors
    ///
    /// The OS error of `pipe` (`EMFILE`, `ENFILE`).
    ///
    /// # Cancellation
    ///
    /// Not cancelable: does not block. Reads and writes on the ends are cancellation points at
    /// every wait.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
    /// let io = rt.io();
    /// rt.block_on(async {
    ///     let (r, w) = kqio::fs::File::pipe(&io)?;
    ///     w.write_all(b"through the pipe").await?;
    ///     drop(w);
    ///     let mut got = Vec::new();
    ///     r.read_to_end(&mut got).await?;
    ///     assert_eq!(got, b"through the pipe");
    ///     Ok::<_, kqio::fs::Error>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pipe(io: &IoRef) -> Result<(File, File)> {
        let (r, w) = io.fs_pipe().map_err(|e| Error::new(Op::CreatePipe, None, e))?;
        Ok((File::from_handle(io.clone(), r, None), File::from_handle(io.clone(), w, None)))
    }

    /// The backend's handle.
    pub fn handle(&self) -> &FileHandle {
        &self.handle
    }

    /// The `Io` this file works through.
    pub fn io(&self) -> &IoRef {
        &self.io
    }

    fn err(&self, op: Op) -> impl FnOnce(io::Error) -> Error + '_ {
        move |e| Error::new(op, self.path.as_deref(), e)
    }

    /// `stat` of the file (Zig `File.stat`).
    ///
    /// # Cancellation
    ///
    /// A cancellation point (see the [module docs](super)); so is every other `async` method
    /// here.
    pub async fn stat(&self) -> Result<Metadata> {
        self.io.file_stat(&self.handle).await.map_err(self.err(Op::Stat))
    }

    /// The length in bytes (Zig `File.length`).
    pub async fn length(&self) -> Result<u64> {
        Ok(self.stat().await?.size)
    }

    /// Truncates or extends (with zeros) the file to `len` bytes (Zig `File.setLength`).
    pub async fn set_length(&self, len: u64) -> Result<()> {
        self.io.file_set_length(&self.handle, len).await.map_err(self.err(Op::SetLength))
    }

    async fn read_some(&self, len: usize, at: Offset) -> Result<Vec<u8>> {
        let len = len.min(CHUNK_SIZE);
        self.io.file_read(&self.handle, buf::take(len), len, at).await.map_err(self.err(Op::Read))
    }

    /// Reads at most `buf.len()` bytes (at most [`CHUNK_SIZE`]) at the file position, which
    /// advances; 0 at the end of the file (Zig `readStreaming`).
    pub async fn read(&self, buf: &mut [u8]) -> Result<usize> {
        self.read_to(buf, Offset::Current).await
    }

    /// Reads at most `buf.len()` bytes (at most [`CHUNK_SIZE`]) at `offset`; the file position
    /// is untouched (Zig `readPositional`).
    pub async fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        self.read_to(buf, Offset::At(offset)).await
    }

    async fn read_to(&self, dst: &mut [u8], at: Offset) -> Result<usize> {
        if dst.is_empty() {
            return Ok(0);
        }
        let data = self.read_some(dst.len(), at).await?;
        let n = data.len();
        dst[..n].copy_from_slice(&data);
        buf::give(data);
        Ok(n)
    }

    /// Reads until `buf` is full or the file ends, at `offset`; the bytes read (Zig
    /// `readPositionalAll`). One job per [`CHUNK_SIZE`].
    pub async fn read_all_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            let n = self.read_at(&mut buf[done..], offset + done as u64).await?;
            if n == 0 {
                break;
            }
            done += n;
        }
        Ok(done)
    }

    /// Reads into several buffers in order, from the file position: one job reads their total
    /// length (at most [`CHUNK_SIZE`]) (Zig `readVec`).
    pub async fn read_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> Result<usize> {
        self.read_vectored_to(bufs, Offset::Current).await
    }

    /// As [`read_vectored`](Self::read_vectored), at `offset`.
    pub async fn read_vectored_at(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        offset: u64,
    ) -> Result<usize> {
        self.read_vectored_to(bufs, Offset::At(offset)).await
    }

    async fn read_vectored_to(&self, bufs: &mut [IoSliceMut<'_>], at: Offset) -> Result<usize> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Ok(0);
        }
        let data = self.read_some(total, at).await?;
        let mut rest = &data[..];
        for b in bufs.iter_mut() {
            if rest.is_empty() {
                break;
            }
            let n = b.len().min(rest.len());
            b[..n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
        }
        let n = data.len();
        buf::give(data);
        Ok(n)
    }

    /// Reads from the file position to the end, appending to `out`; the bytes read. One job per
    /// [`CHUNK_SIZE`].
    pub async fn read_to_end(&self, out: &mut Vec<u8>) -> Result<usize> {
        let start = out.len();
        loop {
            let data = self.read_some(CHUNK_SIZE, Offset::Current).await?;
            if data.is_empty() {
                buf::give(data);
                return Ok(out.len() - start);
            }
            out.extend_from_slice(&data);
            buf::give(data);
        }
    }

    async fn write_some(&self, src: &[u8], at: Offset) -> Result<usize> {
        if src.is_empty() {
            return Ok(0);
        }
        let n = src.len().min(CHUNK_SIZE);
        let mut data = buf::take(n);
        data.extend_from_slice(&src[..n]);
        let (n, data) =
            self.io.file_write(&self.handle, data, at).await.map_err(self.err(Op::Write))?;
        buf::give(data);
        Ok(n)
    }

    /// Writes at most `buf.len()` bytes (at most [`CHUNK_SIZE`]) at the file position, which
    /// advances (at the end for a file opened to append); the bytes written (Zig
    /// `writeStreaming`).
    pub async fn write(&self, buf: &[u8]) -> Result<usize> {
        self.write_some(buf, Offset::Current).await
    }

    /// Writes at most `buf.len()` bytes (at most [`CHUNK_SIZE`]) at `offset` (Zig
    /// `writePositional`).
    pub async fn write_at(&self, buf: &[u8], offset: u64) -> Result<usize> {
        self.write_some(buf, Offset::At(offset)).await
    }

    /// Writes all of `buf` at the file position, one job per [`CHUNK_SIZE`] (Zig
    /// `writeStreamingAll`).
    ///
    /// # Errors
    ///
    /// As the first failing write; the bytes before it are written.
    pub async fn write_all(&self, buf: &[u8]) -> Result<()> {
        let mut done = 0;
        while done < buf.len() {
            done += self.write(&buf[done..]).await?;
        }
        Ok(())
    }

    /// Writes all of `buf` at `offset`, one job per [`CHUNK_SIZE`] (Zig `writePositionalAll`).
    pub async fn write_all_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        let mut done = 0;
        while done < buf.len() {
            done += self.write_at(&buf[done..], offset + done as u64).await?;
        }
        Ok(())
    }

    /// Writes several buffers in order at the file position as one write (their total, at most
    /// [`CHUNK_SIZE`], is gathered into one job) (Zig `writeVec`).
    pub async fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> Result<usize> {
        self.write_vectored_to(bufs, Offset::Current).await
    }

    /// As [`write_vectored`](Self::write_vectored), at `offset`.
    pub async fn write_vectored_at(&self, bufs: &[IoSlice<'_>], offset: u64) -> Result<usize> {
        self.write_vectored_to(bufs, Offset::At(offset)).await
    }

    async fn write_vectored_to(&self, bufs: &[IoSlice<'_>], at: Offset) -> Result<usize> {
        let total: usize = bufs.iter().map(|b| b.len()).sum::<usize>().min(CHUNK_SIZE);
        if total == 0 {
            return Ok(0);
        }
        let mut data = buf::take(total);
        for b in bufs {
            let room = total - data.len();
            if room == 0 {
                break;
            }
            data.extend_from_slice(&b[..b.len().min(room)]);
        }
        let (n, data) =
            self.io.file_write(&self.handle, data, at).await.map_err(self.err(Op::Write))?;
        buf::give(data);
        Ok(n)
    }

    /// Moves the file position (`SeekFrom` as in std); the new position.
    pub async fn seek(&self, pos: SeekFrom) -> Result<u64> {
        self.io.file_seek(&self.handle, pos).await.map_err(self.err(Op::Seek))
    }

    /// Moves the file position to `offset` (Zig `seekTo`).
    pub async fn seek_to(&self, offset: u64) -> Result<u64> {
        self.seek(SeekFrom::Start(offset)).await
    }

    /// Moves the file position by `delta` (Zig `seekBy`).
    pub async fn seek_by(&self, delta: i64) -> Result<u64> {
        self.seek(SeekFrom::Current(delta)).await
    }

    /// The file position.
    pub async fn position(&self) -> Result<u64> {
        self.seek(SeekFrom::Current(0)).await
    }

    /// Flushes the contents and metadata to storage (`fsync`; Zig `File.sync`).
    pub async fn sync(&self) -> Result<()> {
        self.io.file_sync(&self.handle, false).await.map_err(self.err(Op::Sync))
    }

    /// Flushes the contents, and only the metadata needed to read them back (`fdatasync`).
    pub async fn sync_data(&self) -> Result<()> {
        self.io.file_sync(&self.handle, true).await.map_err(self.err(Op::Sync))
    }

    /// Sets the permission bits (`fchmod`).
    pub async fn set_permissions(&self, perms: Permissions) -> Result<()> {
        self.io
            .file_set_permissions(&self.handle, perms)
            .await
            .map_err(self.err(Op::SetPermissions))
    }

    /// Sets the owner and group (`fchown`); `None` keeps one.
    pub async fn set_owner(&self, owner: Option<u32>, group: Option<u32>) -> Result<()> {
        self.io.file_set_owner(&self.handle, owner, group).await.map_err(self.err(Op::SetOwner))
    }

    /// Sets the access and modification times (`futimens`).
    pub async fn set_timestamps(&self, atime: SetTimestamp, mtime: SetTimestamp) -> Result<()> {
        self.io
            .file_set_timestamps(&self.handle, atime, mtime)
            .await
            .map_err(self.err(Op::SetTimestamps))
    }

    /// Takes an advisory lock (`flock`), waiting for it on the blocking pool (Zig `File.lock`).
    /// `Lock::None` unlocks.
    ///
    /// # Cancellation
    ///
    /// A cancellation point, the wait included: a canceled wait is interrupted (its pool
    /// thread is signaled and `flock` returns `EINTR`) and the lock is not taken.
    pub async fn lock(&self, lock: Lock) -> Result<()> {
        self.io.file_lock(&self.handle, lock, true).await.map(drop).map_err(self.err(Op::Lock))
    }

    /// Takes an advisory lock if nobody else holds a conflicting one; `false` if someone does
    /// (Zig `File.tryLock`).
    pub async fn try_lock(&self, lock: Lock) -> Result<bool> {
        self.io.file_lock(&self.handle, lock, false).await.map_err(self.err(Op::Lock))
    }

    /// Drops the lock (Zig `File.unlock`).
    pub async fn unlock(&self) -> Result<()> {
        self.lock(Lock::None).await
    }

    /// Turns an exclusive lock into a shared one (Zig `File.downgradeLock`). `flock` converts
    /// in place, but not atomically on every system: another waiter may get the lock in between.
    pub async fn downgrade_lock(&self) -> Result<()> {
        match self.io.file_lock(&self.handle, Lock::Shared, false).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::new(
                Op::Lock,
                self.path.as_deref(),
                io::Error::from(io::ErrorKind::WouldBlock),
            )),
            Err(e) => Err(self.err(Op::Lock)(e)),
        }
    }

    /// Whether the file is a terminal (Zig `File.isTty`).
    ///
    /// # Cancellation
    ///
    /// Not cancelable: does not block.
    pub fn is_tty(&self) -> bool {
        self.io.file_is_tty(&self.handle)
    }

    /// The path the file has now, following renames (Zig `File.realPath`).
    ///
    /// # Errors
    ///
    /// `Unsupported` on OpenBSD, which offers no way to ask.
    pub async fn real_path(&self) -> Result<PathBuf> {
        self.io.file_real_path(&self.handle).await.map_err(self.err(Op::RealPath))
    }

    /// Copies `src` from its file position to its end into this file at its file position (both
    /// advance), in the kernel where the platform can (`copy_file_range` on Linux and FreeBSD),
    /// else through a buffer on the pool; one job per [`COPY_CHUNK`]. The bytes copied (Zig
    /// `File.writeFile`, sendfile-like).
    pub async fn copy_from(&self, src: &File) -> Result<u64> {
        let mut total = 0;
        loop {
            let n = self
                .io
                .file_copy(&self.handle, Offset::Current, &src.handle, Offset::Current, COPY_CHUNK)
                .await
                .map_err(self.err(Op::Copy))?;
            total += n;
            if n < COPY_CHUNK {
                return Ok(total);
            }
        }
    }

    /// Copies `len` bytes of `src` at `src_offset` to this file at `offset` (no file position
    /// changes); fewer only if `src` ends first. One job per [`COPY_CHUNK`].
    pub async fn copy_range_from(
        &self,
        src: &File,
        src_offset: u64,
        offset: u64,
        len: u64,
    ) -> Result<u64> {
        let mut total = 0;
        while total < len {
            let ask = (len - total).min(COPY_CHUNK);
            let n = self
                .io
                .file_copy(
                    &self.handle,
                    Offset::At(offset + total),
                    &src.handle,
                    Offset::At(src_offset + total),
                    ask,
                )
                .await
                .map_err(self.err(Op::Copy))?;
            total += n;
            if n < ask {
                break;
            }
        }
        Ok(total)
    }

    /// Maps `options.len` bytes of the file at `options.offset` into memory (Zig
    /// `File.createMemoryMap`), through `memmap2` on the kqueue backend.
    ///
    /// # Safety
    ///
    /// The map's bytes are read and written as Rust slices, so while the `MemoryMap` lives
    /// nothing else may change them or the file's length under it: not another process, not
    /// another map of the same range, not a write or [`set_length`](Self::set_length) through
    /// any `File` (reading through a `File` is fine). Shrinking the file under a map makes
    /// accesses beyond the new end fault (`SIGBUS`).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a length of 0 or an offset that is not a multiple of the page size;
    /// `PermissionDenied` for a writable map of a file not open for writing.
    pub async unsafe fn memory_map(&self, options: MapOptions) -> Result<MemoryMap> {
        let handle = self.io.file_map(&self.handle, options).await.map_err(self.err(Op::Map))?;
        Ok(MemoryMap::new(self.io.clone(), handle, options.writable, self.path.clone()))
    }

    /// Closes the file on the blocking pool and reports what `close` says (dropping the `File`
    /// closes it too, without a report). Waits for a pending write-behind of the `AsyncWrite`
    /// implementation first.
    pub async fn close(mut self) -> Result<()> {
        futures::AsyncWriteExt::flush(&mut self)
            .await
            .map_err(|e| Error::new(Op::Write, self.path.as_deref(), e))?;
        let (io, handle, path) = (self.io.clone(), self.handle.clone(), self.path.clone());
        drop(self); // Nothing in flight after the flush: only its clone of the handle goes.
        io.file_close(handle).await.map_err(|e| Error::new(Op::Close, path.as_deref(), e))
    }

    // ----- futures::io -----

    /// Drives the operation in flight to its end: `Some(n)` if it was a read of `n` bytes.
    /// Errors of a write-behind are returned here.
    fn poll_busy(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<usize>>> {
        let Some(busy) = &mut self.stream.busy else { return Poll::Ready(Ok(None)) };
        let r = match busy {
            Busy::Read(f) => ready!(f.poll(cx))
                .map(|data| {
                    let n = data.len();
                    buf::give(std::mem::replace(&mut self.stream.read_buf, data));
                    self.stream.read_pos = 0;
                    Some(n)
                })
                .map_err(|e| (Op::Read, e)),
            Busy::Write(len, f) => {
                // Ground rule 2: these bytes were reported written, so their job is not
                // canceled: waiting for it is no cancellation point.
                let prev = self.io.swap_cancel_protection(CancelProtection::Blocked);
                let r = f.poll(cx);
                self.io.swap_cancel_protection(prev);
                ready!(r)
                    .and_then(|(n, data)| {
                        buf::give(data);
                        if n < *len {
                            return Err(io::Error::new(
                                io::ErrorKind::WriteZero,
                                "kqio: short write",
                            ));
                        }
                        Ok(None)
                    })
                    .map_err(|e| (Op::Write, e))
            }
            Busy::Seek(f) | Busy::SeekBack(f) => {
                ready!(f.poll(cx)).map(|_| None).map_err(|e| (Op::Seek, e))
            }
        };
        self.stream.busy = None;
        Poll::Ready(r.map_err(|(op, e)| io::Error::from(self.err(op)(e))))
    }

    /// Unread buffered bytes.
    fn unread(&self) -> usize {
        self.stream.read_buf.len() - self.stream.read_pos
    }

    fn drop_read_buf(&mut self) {
        self.stream.read_buf.clear();
        self.stream.read_pos = 0;
    }
}

impl Drop for File {
    fn drop(&mut self) {
        // Ground rule 2: bytes a `poll_write` accepted are written even if the `File` goes
        // first. Dropping their job's future would abandon the job if it has not started, so a
        // detached task finishes it (the job holds the descriptor open meanwhile). With no task
        // slot left (`InitOptions::max_tasks`), `r#async` runs it inline: the dropping thread
        // then waits for that one write.
        if let Some(Busy::Write(_, mut pending)) = self.stream.busy.take() {
            let io = self.io.clone();
            self.io
                .r#async(async move {
                    io.swap_cancel_protection(CancelProtection::Blocked);
                    // Nobody is left to tell of an error.
                    let _ = std::future::poll_fn(|cx| pending.poll(cx)).await;
                })
                .detach();
        }
    }
}

impl futures::io::AsyncRead for File {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        dst: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            if this.stream.busy.is_some() {
                if ready!(this.poll_busy(cx))? == Some(0) {
                    return Poll::Ready(Ok(0)); // The end of the file.
                }
                continue;
            }
            let unread = this.unread();
            if unread > 0 {
                let n = unread.min(dst.len());
                let pos = this.stream.read_pos;
                dst[..n].copy_from_slice(&this.stream.read_buf[pos..pos + n]);
                this.stream.read_pos += n;
                return Poll::Ready(Ok(n));
            }
            if dst.is_empty() {
                return Poll::Ready(Ok(0));
            }
            let len = dst.len().min(CHUNK_SIZE);
            let mut data = std::mem::take(&mut this.stream.read_buf);
            this.stream.read_pos = 0;
            if data.capacity() < len {
                buf::give(data);
                data = buf::take(len);
            }
            data.clear();
            let fut = this.io.file_read(&this.handle, data, len, Offset::Current);
            this.stream.busy = Some(Busy::Read(Pending(fut)));
        }
    }
}

impl futures::io::AsyncWrite for File {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        src: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            if this.stream.busy.is_some() {
                ready!(this.poll_busy(cx))?;
                continue;
            }
            let unread = this.unread();
            if unread > 0 {
                // Unread buffered bytes: the file position is past them; go back first.
                this.drop_read_buf();
                let fut = this.io.file_seek(&this.handle, SeekFrom::Current(-(unread as i64)));
                this.stream.busy = Some(Busy::SeekBack(Pending(fut)));
                continue;
            }
            if src.is_empty() {
                return Poll::Ready(Ok(0));
            }
            let n = src.len().min(CHUNK_SIZE);
            let mut data = buf::take(n);
            data.extend_from_slice(&src[..n]);
            let fut = this.io.file_write(&this.handle, data, Offset::Current);
            this.stream.busy = Some(Busy::Write(n, Pending(fut)));
            // Write-behind (ground rule 2): start the job, report the bytes as taken.
            let _ = this.poll_busy(cx)?;
            return Poll::Ready(Ok(n));
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_busy(cx).map_ok(drop)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_busy(cx).map_ok(drop)
    }
}

impl futures::io::AsyncSeek for File {
    fn poll_seek(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        pos: SeekFrom,
    ) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        loop {
            match &mut this.stream.busy {
                Some(Busy::Seek(f)) => {
                    let r = ready!(f.poll(cx));
                    this.stream.busy = None;
                    return Poll::Ready(r.map_err(|e| io::Error::from(this.err(Op::Seek)(e))));
                }
                Some(_) => {
                    ready!(this.poll_busy(cx))?;
                    continue;
                }
                None => {}
            }
            // The kernel's position is past the unread buffered bytes.
            let pos = match pos {
                SeekFrom::Current(d) => SeekFrom::Current(d - this.unread() as i64),
                other => other,
            };
            this.drop_read_buf();
            this.stream.busy = Some(Busy::Seek(Pending(this.io.file_seek(&this.handle, pos))));
        }
    }
}
