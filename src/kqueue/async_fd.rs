//! `AsyncFd`: waiting for readiness of a raw descriptor through the reactor.
//!
//! This is a kqueue-backend extra, not part of the `Io` trait (which knows no descriptors): code
//! that needs it names the backend. Sockets, pipes and the like become usable from tasks with it.

use std::future::poll_fn;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::task::{Context, Poll};

use mio::unix::SourceFd;

use super::reactor::{ready, Direction, Reactor, ScheduledIo};
use super::Handle;
use crate::error::Canceled;
use crate::task::{coop, current};

/// Which readiness to clear with [`AsyncFd::clear_readiness`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    /// Read readiness.
    Readable,
    /// Write readiness.
    Writable,
}

/// A non-blocking descriptor registered with the reactor, whose readiness tasks can await.
///
/// The descriptor must be in non-blocking mode. It is deregistered when the `AsyncFd` is dropped
/// (before `inner` is dropped, which closes it if `inner` owns it).
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
///
/// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
/// let (a, mut b) = UnixStream::pair()?;
/// a.set_nonblocking(true)?;
/// let a = kqio::kqueue::AsyncFd::new(&rt.handle(), a)?;
/// b.write_all(b"hi")?;
/// let got = rt.block_on(async {
///     let mut buf = [0u8; 2];
///     a.read_with(|mut s| s.read(&mut buf)).await.map(|n| buf[..n].to_vec())
/// })?;
/// assert_eq!(got, b"hi");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct AsyncFd<T: AsRawFd> {
    reactor: Arc<Reactor>,
    sio: Arc<ScheduledIo>,
    /// `None` only while being dropped.
    inner: Option<T>,
}

impl<T: AsRawFd> std::fmt::Debug for AsyncFd<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncFd").field("fd", &self.as_raw_fd()).finish()
    }
}

impl<T: AsRawFd> AsyncFd<T> {
    /// Registers `inner` with the reactor of `handle`.
    ///
    /// # Errors
    ///
    /// The OS error of the registration (for example `EBADF`, or `EPERM` for a regular file on
    /// Linux), or `NotConnected` if the runtime has been shut down.
    pub fn new(handle: &Handle, inner: T) -> io::Result<Self> {
        Self::with_reactor(handle.reactor.clone(), inner)
    }

    pub(crate) fn with_reactor(reactor: Arc<Reactor>, inner: T) -> io::Result<Self> {
        Self::try_with_reactor(reactor, inner).map_err(|(e, _)| e)
    }

    /// As `with_reactor`, giving `inner` back with the error when the registration fails.
    pub(crate) fn try_with_reactor(
        reactor: Arc<Reactor>,
        inner: T,
    ) -> Result<Self, (io::Error, T)> {
        let fd = inner.as_raw_fd();
        match reactor.register(&mut SourceFd(&fd)) {
            Ok(sio) => Ok(AsyncFd { reactor, sio, inner: Some(inner) }),
            Err(e) => Err((e, inner)),
        }
    }

    /// The wrapped value.
    pub fn get_ref(&self) -> &T {
        self.inner.as_ref().expect("present until drop")
    }

    async fn ready(&self, dir: Direction) -> Result<(), Canceled> {
        poll_fn(|cx| {
            current::check_cancel()?;
            std::task::ready!(coop::poll_proceed(cx));
            match self.sio.poll_ready(cx, dir) {
                Poll::Ready(ev) if ev.ready & ready::SHUTDOWN != 0 => Poll::Ready(Err(Canceled)),
                Poll::Ready(_) => Poll::Ready(Ok(())),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }

    /// Waits until the descriptor is readable (or closed for reading, or in error).
    ///
    /// Readiness stays set until [`clear_readiness`](Self::clear_readiness) is called after an
    /// operation reports `WouldBlock`.
    ///
    /// # Cancellation
    ///
    /// A cancellation point; see [`JoinHandle::cancel`](crate::JoinHandle::cancel). It also
    /// returns `Canceled` once the runtime has shut down.
    pub async fn readable(&self) -> Result<(), Canceled> {
        self.ready(Direction::Read).await
    }

    /// Waits until the descriptor is writable (or closed for writing, or in error).
    ///
    /// # Cancellation
    ///
    /// As for [`readable`](Self::readable).
    pub async fn writable(&self) -> Result<(), Canceled> {
        self.ready(Direction::Write).await
    }

    /// Forgets the readiness seen so far for `interest`, so that the next wait blocks until a new
    /// event. Call it after an operation returned `WouldBlock`. Readiness that arrived after the
    /// last wait returned is kept.
    pub fn clear_readiness(&self, interest: Interest) {
        let dir = match interest {
            Interest::Readable => Direction::Read,
            Interest::Writable => Direction::Write,
        };
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        if let Poll::Ready(ev) = self.sio.poll_ready(&mut cx, dir) {
            self.sio.clear_readiness(ev, dir);
        }
    }

    /// Like [`poll_io`](Self::poll_io) for an operation that moves up to `want` bytes on a
    /// *stream*: a short transfer means the kernel's buffer was drained (read) or filled
    /// (write) at that moment, so the readiness is cleared at once, saving the `WouldBlock`
    /// syscall the next attempt would make (as tokio does). An event that arrived after the
    /// readiness was observed is kept (the tick check of `clear_readiness`). Not for datagram
    /// sockets: there a short read is only a short datagram.
    pub(crate) fn poll_io_stream(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        want: usize,
        op: impl FnMut(&T) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        self.poll_io_then(cx, dir, op, |n| *n > 0 && *n < want)
    }

    /// Makes the next read try its syscall without waiting for an event: see
    /// `ScheduledIo::assume_readable` and `read_guess.rs`.
    pub(crate) fn assume_readable(&self) {
        self.sio.assume_readable();
    }

    /// One attempt of a stream transfer, only if readiness for `dir` is recorded, registering
    /// no waiter: `None` when not ready or when `op` would block (the readiness is then cleared,
    /// as is it after a short transfer; see [`poll_io_stream`](Self::poll_io_stream)). For
    /// continuing an operation that already has something to return.
    pub(crate) fn try_io_stream(
        &self,
        dir: Direction,
        want: usize,
        op: impl FnOnce(&T) -> io::Result<usize>,
    ) -> Option<io::Result<usize>> {
        let ev = self.sio.ready_now(dir)?;
        if ev.ready & ready::SHUTDOWN != 0 {
            return None;
        }
        match op(self.get_ref()) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.sio.clear_readiness(ev, dir);
                None
            }
            Ok(n) if n > 0 && n < want => {
                self.sio.clear_readiness(ev, dir);
                Some(Ok(n))
            }
            other => Some(other),
        }
    }

    async fn io_with<R>(
        &self,
        dir: Direction,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        poll_fn(|cx| {
            current::check_cancel()?;
            self.poll_io(cx, dir, &mut op)
        })
        .await
    }

    /// Runs `op` once the descriptor is ready for `dir`, again after every `WouldBlock`, and
    /// returns `Pending` (with the task registered) when it would block. Spends one unit of the
    /// task's coop budget when it runs `op`, so a connection that is always ready cannot starve
    /// its worker; a poll that only registers the task spends nothing.
    ///
    /// Not a cancellation point: callers that are one check first.
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_io_then(cx, dir, op, |_| false)
    }

    /// `poll_io`, also clearing the readiness after a success for which `drained` is true.
    fn poll_io_then<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        mut op: impl FnMut(&T) -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> Poll<io::Result<R>> {
        let mut budget_spent = false;
        loop {
            let ev = match self.sio.poll_ready(cx, dir) {
                Poll::Ready(ev) if ev.ready & ready::SHUTDOWN != 0 => {
                    return Poll::Ready(Err(io::Error::from(Canceled)))
                }
                Poll::Ready(ev) => ev,
                // Waiting costs no budget: only operations that run do (as in tokio), so a
                // task polling many sockets (a batch) is not made to yield for nothing.
                Poll::Pending => return Poll::Pending,
            };
            if !budget_spent {
                std::task::ready!(coop::poll_proceed(cx));
                budget_spent = true;
            }
            match op(self.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.sio.clear_readiness(ev, dir)
                }
                Ok(r) if drained(&r) => {
                    self.sio.clear_readiness(ev, dir);
                    return Poll::Ready(Ok(r));
                }
                other => return Poll::Ready(other),
            }
        }
    }

    /// Waits for read readiness and runs `op`, again after every `WouldBlock`.
    ///
    /// # Errors
    ///
    /// What `op` returns, or [`Canceled`] converted into `io::Error` (see
    /// [`Canceled::is_canceled`]).
    ///
    /// # Cancellation
    ///
    /// A cancellation point before each attempt.
    pub async fn read_with<R>(&self, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.io_with(Direction::Read, op).await
    }

    /// Waits for write readiness and runs `op`, again after every `WouldBlock`.
    ///
    /// # Errors
    ///
    /// As for [`read_with`](Self::read_with).
    ///
    /// # Cancellation
    ///
    /// A cancellation point before each attempt.
    pub async fn write_with<R>(&self, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.io_with(Direction::Write, op).await
    }

    /// Whether readiness for `dir` is recorded (that the next operation would be tried).
    #[cfg(test)]
    pub(crate) fn is_ready(&self, dir: Direction) -> bool {
        let waker = futures::task::noop_waker();
        self.sio.poll_ready(&mut Context::from_waker(&waker), dir).is_ready()
    }

    /// Deregisters and returns the wrapped value.
    pub fn into_inner(mut self) -> T {
        self.deregister();
        self.inner.take().expect("present until drop")
    }

    fn deregister(&mut self) {
        if let Some(inner) = &self.inner {
            let fd = inner.as_raw_fd();
            self.reactor.deregister(&mut SourceFd(&fd), &self.sio);
        }
    }
}

impl<T: AsRawFd> AsRawFd for AsyncFd<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.get_ref().as_raw_fd()
    }
}

impl<T: AsRawFd> Drop for AsyncFd<T> {
    fn drop(&mut self) {
        self.deregister();
    }
}
