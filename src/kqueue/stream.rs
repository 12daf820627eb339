//! Files of `fs.rs` read and written without the blocking pool where they can be: the
//! `OpenFile` kinds, the decision between them at `open` (ground rule 6 of `fs.rs`), the reads
//! and writes of a stream through the reactor, and the copy between files when one of them is a
//! stream. The jobs themselves (`job`) are made here too, so that both kinds share one entry.
//!
//! Ground rules:
//! 1. A stream's read runs its `read(2)` only when the reactor says it can without blocking, and
//!    returns in the same poll: a canceled or dropped read has consumed nothing.
//! 2. A stream's write reports every byte it wrote: a cancellation after some progress ends it
//!    with the count (the request stays pending for the caller's next cancellation point).
//! 3. No `O_NONBLOCK` is ever set on a description a standard descriptor shares.

use std::fs::File;
use std::future::poll_fn;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::task::Poll;

use super::async_fd::AsyncFd;
use super::blocking::BlockingPool;
use super::fs::{read_into, write_all_of, write_once, OpenFile};
use super::reactor::{Direction, Reactor};
use crate::fs::{FsFuture, Offset};
use crate::task::current;

impl OpenFile {
    /// Wraps a descriptor just opened (privately: its open file description is ours alone),
    /// deciding whether it is a stream (ground rule 6 of `fs.rs`).
    pub(super) fn new(fd: OwnedFd, reactor: &Arc<Reactor>) -> OpenFile {
        let file = File::from(fd);
        let raw = file.as_raw_fd();
        // SAFETY: `stat` is plain data; all zeroes is a valid value for `fstat` to overwrite.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `st` is a live, writable `stat`; `fstat` does not block.
        if unsafe { libc::fstat(raw, &mut st) } != 0 {
            return OpenFile::Blocking(file);
        }
        if !matches!(st.st_mode & libc::S_IFMT, libc::S_IFIFO | libc::S_IFCHR | libc::S_IFSOCK) {
            return OpenFile::Blocking(file);
        }
        if set_nonblocking(raw, true).is_err() {
            return OpenFile::Blocking(file);
        }
        if shares_stdio_description(&st) {
            // `/dev/stdin`, `/dev/fd/0`, ... on macOS and the BSDs duplicate the descriptor: the
            // flag just set is the shell's too. Undo it; the file stays on the pool.
            let _ = set_nonblocking(raw, false);
            return OpenFile::Blocking(file);
        }
        match AsyncFd::try_with_reactor(reactor.clone(), file) {
            Ok(a) => OpenFile::Stream(a),
            Err((_, file)) => {
                // Not pollable (ground rule 6 of `fs.rs`): back to blocking, on the pool. Every errno is
                // taken as "not pollable" (they differ by kernel and device); the pool works
                // for all of them.
                let _ = set_nonblocking(file.as_raw_fd(), false);
                OpenFile::Blocking(file)
            }
        }
    }

    /// The descriptor, whichever way it is driven.
    pub(super) fn file(&self) -> &File {
        match self {
            OpenFile::Blocking(f) => f,
            OpenFile::Stream(a) => a.get_ref(),
        }
    }
}

/// Whether setting `O_NONBLOCK` on the file `st` describes (just done) showed up on one of the
/// standard descriptors: then they share its open file description (`fs.rs` ground rule 6), which
/// comparing `(st_dev, st_ino)` alone cannot tell (a FIFO opened twice has two descriptions).
fn shares_stdio_description(st: &libc::stat) -> bool {
    (0..3).any(|fd| {
        // SAFETY: as in `fstat`; `fstat` and `fcntl` on a descriptor number only read it, and
        // fail harmlessly (EBADF) if it is not open.
        let (same, flags) = unsafe {
            let mut other: libc::stat = std::mem::zeroed();
            let same = libc::fstat(fd, &mut other) == 0
                && other.st_dev == st.st_dev
                && other.st_ino == st.st_ino;
            (same, libc::fcntl(fd, libc::F_GETFL))
        };
        same && flags >= 0 && flags & libc::O_NONBLOCK != 0
    })
}

/// Sets or clears `O_NONBLOCK` on `fd`'s open file description.
fn set_nonblocking(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: `fcntl` on a descriptor we own; no pointers.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    let new = if on { flags | libc::O_NONBLOCK } else { flags & !libc::O_NONBLOCK };
    // SAFETY: as above.
    if new != flags && unsafe { libc::fcntl(fd, libc::F_SETFL, new) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Queues `f` on `pool` as an interruptible job; the future of its result.
pub(super) fn job<T: Send + 'static>(
    pool: &Arc<BlockingPool>,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> FsFuture<T> {
    let interrupt = pool.new_interrupt();
    let (job, waiter) = crate::task::blocking::job_interruptible(f, interrupt.clone());
    pool.submit_interruptible(job, interrupt);
    Box::pin(async move { waiter.await? })
}

/// A read of at most `len` bytes from `of`, appended to `buf`: a job, or for a stream a wait
/// on the reactor that reads only once it can without blocking, so a canceled read has
/// consumed nothing.
pub(super) fn read_fut(
    pool: &Arc<BlockingPool>,
    of: Arc<OpenFile>,
    mut buf: Vec<u8>,
    len: usize,
    at: Offset,
) -> FsFuture<Vec<u8>> {
    if let OpenFile::Blocking(_) = *of {
        return job(pool, move || {
            read_into(of.file().as_raw_fd(), &mut buf, len, at).map(|()| buf)
        });
    }
    Box::pin(async move {
        let OpenFile::Stream(a) = &*of else { unreachable!("checked above") };
        poll_fn(|cx| {
            if let Err(c) = current::check_cancel() {
                return Poll::Ready(Err(c.into()));
            }
            // Not `poll_io_stream`: a terminal returns one line per read however much is
            // buffered, so a short read does not mean the readiness is used up.
            a.poll_io(cx, Direction::Read, |f| read_into(f.as_raw_fd(), &mut buf, len, at))
        })
        .await?;
        Ok(buf)
    })
}

/// Writes all of `data` to `of` at `at` (short only after an error, or a cancellation, that
/// followed some progress): a job, or for a stream waits on the reactor.
pub(super) fn write_fut(
    pool: &Arc<BlockingPool>,
    of: Arc<OpenFile>,
    data: Vec<u8>,
    at: Offset,
) -> FsFuture<(usize, Vec<u8>)> {
    if let OpenFile::Blocking(_) = *of {
        return job(pool, move || write_all_of(of.file(), &data, at).map(|n| (n, data)));
    }
    Box::pin(async move {
        let OpenFile::Stream(a) = &*of else { unreachable!("checked above") };
        let mut done = 0;
        poll_fn(|cx| loop {
            if done == data.len() {
                return Poll::Ready(Ok(()));
            }
            if done == 0 {
                if let Err(c) = current::check_cancel() {
                    return Poll::Ready(Err(io::Error::from(c)));
                }
            } else if current::cancel_pending() {
                // Stop early and report what was written; the request stays pending for the
                // caller's next cancellation point.
                return Poll::Ready(Ok(()));
            }
            let rest = &data[done..];
            let at = match at {
                Offset::Current => Offset::Current,
                Offset::At(o) => Offset::At(o + done as u64),
            };
            match std::task::ready!(
                a.poll_io(cx, Direction::Write, |f| { write_once(f.as_raw_fd(), rest, at) })
            ) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => done += n,
                Err(e) if done == 0 => return Poll::Ready(Err(e)),
                Err(_) => return Poll::Ready(Ok(())),
            }
        })
        .await?;
        Ok((done, data))
    })
}

/// How many bytes `copy_streams` moves per read.
const STREAM_COPY_BUF: usize = 64 * 1024;

/// Copies up to `len` bytes from `from` to `to` through a buffer, for when either is a stream;
/// fewer only at the end of `from` (or after an error or a cancellation that followed some
/// progress: the count is reported, the request stays pending).
pub(super) async fn copy_streams(
    pool: Arc<BlockingPool>,
    to: Arc<OpenFile>,
    to_offset: Offset,
    from: Arc<OpenFile>,
    from_offset: Offset,
    len: u64,
) -> io::Result<u64> {
    let advance = |o: Offset, n: u64| match o {
        Offset::Current => Offset::Current,
        Offset::At(at) => Offset::At(at + n),
    };
    let mut copied = 0u64;
    let mut buf = Vec::with_capacity(STREAM_COPY_BUF);
    while copied < len {
        if copied > 0 && current::cancel_pending() {
            break;
        }
        let want = (len - copied).min(STREAM_COPY_BUF as u64) as usize;
        buf.clear();
        let r = read_fut(&pool, from.clone(), buf, want, advance(from_offset, copied)).await;
        buf = match r {
            Ok(b) => b,
            Err(e) if copied == 0 => return Err(e),
            Err(_) => break,
        };
        if buf.is_empty() {
            break;
        }
        let n = buf.len();
        let r = write_fut(&pool, to.clone(), buf, advance(to_offset, copied)).await;
        let (written, back) = match r {
            Ok(v) => v,
            Err(e) if copied == 0 => return Err(e),
            Err(_) => break,
        };
        buf = back;
        copied += written as u64;
        if written < n {
            // The bytes read and not written are lost to the caller as with a short write.
            break;
        }
    }
    Ok(copied)
}
