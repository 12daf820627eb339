//! The backend side of the vtable's net methods: sockets are `socket2` sockets in non-blocking
//! mode, registered with the reactor through an [`AsyncFd`], and the `SocketHandle` is an
//! `Arc<Socket>` of this module.
//!
//! Ground rules:
//! 1. Every socket is created close-on-exec (`socket2` uses `SOCK_CLOEXEC`/`accept4` where the
//!    platform has them, `FD_CLOEXEC` right after elsewhere) and non-blocking, and writes never
//!    raise `SIGPIPE` (`sys/net.rs`).
//! 2. An operation first tries the syscall when the reactor says the socket may be ready, and
//!    waits only after `WouldBlock` (see `AsyncFd::poll_io`); nothing here allocates on that path.
//! 3. Lengths are capped at what every kernel accepts in one call (`MAX_IO_BYTES`,
//!    `MAX_IO_SLICES`): a longer buffer is a short read or write, as the contract allows, never
//!    `EINVAL`.
//! 4. A stream's plain read asks the kernel for up to [`READ_AHEAD`] bytes more than the caller's
//!    buffer, into the socket's `ahead` buffer (one `readv`), so that a read that fills the
//!    caller's buffer exactly still learns whether the kernel's buffer was drained: without it,
//!    the next read would be a `recv` that returns `EAGAIN` (a syscall per message in a
//!    request/response protocol). Bytes read ahead are handed out first by every later read or
//!    peek, in order, with no syscall.
//! 5. A stream write that moves bytes marks the read side possibly ready, so that the next read
//!    tries its syscall at once: in a request/response exchange the peer has often answered
//!    before `send` returns (a blocking peer woken by the write runs on the writer's core). Each
//!    socket keeps score and backs off after misses (`read_guess.rs`), so a peer that answers
//!    later costs at most one `recv` returning `EAGAIN` per 64 writes.

use std::ffi::CString;
use std::io::{self, IoSlice, IoSliceMut, Read};
use std::mem::MaybeUninit;
use std::net::Shutdown;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{ready, Context, Poll};

use socket2::{Domain, MaybeUninitSlice, Protocol, SockAddr, Type};

use super::async_fd::AsyncFd;
use super::reactor::{Direction, Reactor};
use super::read_guess::{ReadGuess, ReadOutcome};
use crate::net::{
    AddressKind, AdoptError, AdoptKind, BindOptions, ForeignHandle, ListenOptions, LookupResult,
    ReadCursor, SocketAddress, SocketHandle, SocketKind, SocketOption, SocketOptionKind,
    UnixAddress,
};
use crate::sys::net::SEND_FLAGS;
use crate::task::activity::pending_on;
use crate::task::{current, WaitingOn};

/// The most bytes one read or write asks for: Linux's `MAX_RW_COUNT` (below `INT_MAX`, which
/// macOS enforces).
const MAX_IO_BYTES: usize = 0x7fff_f000;

/// The most buffers one vectored call passes: `IOV_MAX` on every supported platform.
const MAX_IO_SLICES: usize = 1024;

/// How many bytes a stream read asks for beyond the caller's buffer (ground rule 4). One would
/// do to tell "drained" from "maybe more"; a few more also catch a small trailing message
/// without a second syscall, at this many bytes per socket.
const READ_AHEAD: usize = 16;

/// Bytes a stream read took from the kernel beyond the caller's buffer: `buf[start..end]` come
/// before anything still in the kernel (ground rule 4).
#[derive(Default)]
struct ReadAhead {
    start: u8,
    end: u8,
    buf: [u8; READ_AHEAD],
}

impl ReadAhead {
    fn pending(&self) -> &[u8] {
        &self.buf[usize::from(self.start)..usize::from(self.end)]
    }

    /// Copies what is pending into `out`, consuming it unless `peek`; returns the count.
    fn take(&mut self, out: &mut [u8], peek: bool) -> usize {
        let n = self.pending().len().min(out.len());
        out[..n].copy_from_slice(&self.pending()[..n]);
        if !peek {
            // `n <= end - start <= READ_AHEAD`, which fits in a `u8`.
            self.start += n as u8;
        }
        n
    }

    /// Records that a read of `n` bytes into a buffer of `len` then `self.buf` spilled its
    /// excess here (it was empty); returns the bytes that went into the buffer.
    fn keep(&mut self, n: usize, len: usize) -> usize {
        if n <= len {
            return n;
        }
        // `n - len <= READ_AHEAD`, which fits in a `u8`.
        (self.start, self.end) = (0, (n - len) as u8);
        len
    }

    /// As `take`, into as many of `bufs` as it fills.
    fn take_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> usize {
        let mut total = 0;
        for b in bufs.iter_mut() {
            if self.pending().is_empty() {
                break;
            }
            total += self.take(b, false);
        }
        total
    }
}

/// A socket of this backend: what a `SocketHandle` made here holds.
pub(crate) struct Socket {
    fd: AsyncFd<socket2::Socket>,
    /// A connected or listening stream socket (where a short transfer means drained; see
    /// `AsyncFd::poll_io_stream`), as opposed to a datagram socket.
    stream: bool,
    /// Bytes read ahead (ground rule 4); always empty for a datagram socket. Locked across the
    /// read that fills it, so that two tasks reading one stream never see its bytes reordered.
    ahead: Mutex<ReadAhead>,
    /// Whether reading again right after a write pays off on this stream (ground rule 5).
    guess: ReadGuess,
}

/// This backend's state behind `handle`.
fn socket(handle: &SocketHandle) -> io::Result<&Socket> {
    handle.downcast_ref::<Socket>().ok_or_else(|| ForeignHandle.into())
}

fn register(reactor: &Arc<Reactor>, s: socket2::Socket) -> io::Result<SocketHandle> {
    s.set_nonblocking(true)?;
    let stream = s.r#type()? == Type::STREAM;
    let fd = AsyncFd::with_reactor(reactor.clone(), s)?;
    Ok(SocketHandle::new(Arc::new(Socket {
        fd,
        stream,
        ahead: Mutex::default(),
        guess: ReadGuess::default(),
    })))
}

fn sock_addr(address: &SocketAddress) -> io::Result<SockAddr> {
    match address {
        SocketAddress::Ip(a) => Ok(SockAddr::from(*a)),
        SocketAddress::Unix(u) => match u.as_pathname() {
            Some(p) => SockAddr::unix(p),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "kqio: an unnamed Unix address cannot be bound or connected to",
            )),
        },
    }
}

fn socket_address(a: &SockAddr) -> SocketAddress {
    if let Some(ip) = a.as_socket() {
        return SocketAddress::Ip(ip);
    }
    match a.as_pathname() {
        Some(p) => SocketAddress::Unix(UnixAddress::new(p)),
        None => SocketAddress::Unix(UnixAddress::unnamed()),
    }
}

fn domain(address: &SocketAddress) -> Domain {
    match address {
        SocketAddress::Ip(a) => Domain::for_address(*a),
        SocketAddress::Unix(_) => Domain::UNIX,
    }
}

/// Creates an unregistered socket of the address's domain.
fn new_socket(address: &SocketAddress, ty: Type) -> io::Result<socket2::Socket> {
    let protocol = match (address, ty) {
        (SocketAddress::Unix(_), _) => None,
        (_, Type::STREAM) => Some(Protocol::TCP),
        _ => Some(Protocol::UDP),
    };
    socket2::Socket::new(domain(address), ty, protocol)
}

fn apply_ip_options(
    s: &socket2::Socket,
    address: &SocketAddress,
    reuse: bool,
    v6_only: Option<bool>,
) -> io::Result<()> {
    if let SocketAddress::Ip(ip) = address {
        if reuse {
            s.set_reuse_address(true)?;
            s.set_reuse_port(true)?;
        }
        if let (Some(v6), true) = (v6_only, ip.is_ipv6()) {
            s.set_only_v6(v6)?;
        }
    }
    Ok(())
}

fn is_connect_in_progress(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EINPROGRESS)
}

/// `&mut [u8]` as the `MaybeUninit` slice socket2's receive calls take.
fn as_uninit(buf: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    let len = buf.len().min(MAX_IO_BYTES);
    // SAFETY: `MaybeUninit<u8>` has the layout of `u8`, and the receive calls this is passed to
    // only ever write initialised bytes into it (they copy from the kernel), so the caller's
    // `[u8]` stays fully initialised.
    unsafe { &mut *(&mut buf[..len] as *mut [u8] as *mut [MaybeUninit<u8>]) }
}

impl Socket {
    fn ahead(&self) -> MutexGuard<'_, ReadAhead> {
        // The buffer is consistent at every point a panic could leave it: no poisoning.
        self.ahead.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        op: impl FnMut(&socket2::Socket) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        if let Err(c) = current::check_cancel() {
            return Poll::Ready(Err(c.into()));
        }
        self.fd.poll_io(cx, dir, op)
    }

    /// Settles an outstanding guess with a stream read's result (ground rule 5), and returns it.
    fn settle(&self, read: io::Result<usize>) -> io::Result<usize> {
        self.guess.after_read(ReadOutcome::of(&read));
        read
    }

    /// After a write: on a stream that moved bytes, guesses that the peer has answered, unless
    /// the socket is backing off (ground rule 5).
    fn after_write(&self, wrote: &Poll<io::Result<usize>>) {
        if self.stream && matches!(wrote, Poll::Ready(Ok(1..))) && self.guess.after_write() {
            self.fd.assume_readable();
        }
    }

    /// A transfer of up to `want` bytes: see `AsyncFd::poll_io_stream`.
    fn poll_transfer(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        want: usize,
        op: impl FnMut(&socket2::Socket) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        if !self.stream {
            return self.poll_io(cx, dir, op);
        }
        if let Err(c) = current::check_cancel() {
            return Poll::Ready(Err(c.into()));
        }
        self.fd.poll_io_stream(cx, dir, want, op)
    }
}

pub(crate) fn listen(
    reactor: &Arc<Reactor>,
    address: &SocketAddress,
    options: &ListenOptions,
) -> io::Result<SocketHandle> {
    let s = new_socket(address, Type::STREAM)?;
    apply_ip_options(&s, address, options.reuse_address, options.v6_only)?;
    s.bind(&sock_addr(address)?)?;
    s.listen(options.backlog.min(i32::MAX as u32) as i32)?;
    register(reactor, s)
}

pub(crate) fn poll_accept(
    reactor: &Arc<Reactor>,
    cx: &mut Context<'_>,
    listener: &SocketHandle,
) -> Poll<io::Result<(SocketHandle, SocketAddress)>> {
    let l = match socket(listener) {
        Ok(l) => l,
        Err(e) => return Poll::Ready(Err(e)),
    };
    // The reactor records read readiness; the wait is an accept (the simulator's record too).
    let r = l.poll_io(cx, Direction::Read, |s| s.accept());
    let (s, addr) = std::task::ready!(pending_on(r, WaitingOn::Accept))?;
    let addr = socket_address(&addr);
    Poll::Ready(register(reactor, s).map(|h| (h, addr)))
}

pub(crate) fn connect(reactor: &Arc<Reactor>, address: &SocketAddress) -> io::Result<SocketHandle> {
    let s = new_socket(address, Type::STREAM)?;
    s.set_nonblocking(true)?;
    match s.connect(&sock_addr(address)?) {
        Ok(()) => {}
        Err(e) if is_connect_in_progress(&e) => {}
        Err(e) => return Err(e),
    }
    register(reactor, s)
}

pub(crate) fn poll_connect(cx: &mut Context<'_>, socket_h: &SocketHandle) -> Poll<io::Result<()>> {
    let s = match socket(socket_h) {
        Ok(s) => s,
        Err(e) => return Poll::Ready(Err(e)),
    };
    // Writable means the attempt ended; `SO_ERROR` says how. A writable report without a peer
    // (spurious, or before the handshake finished) is treated as `WouldBlock`: wait again. The
    // reactor records write readiness; the wait is a connect (the simulator's record too).
    let r = s.poll_io(cx, Direction::Write, |s| {
        if let Some(e) = s.take_error()? {
            return Err(e);
        }
        match s.peer_addr() {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                Err(io::ErrorKind::WouldBlock.into())
            }
            Err(e) => Err(e),
        }
    });
    pending_on(r, WaitingOn::Connect)
}

pub(crate) fn bind(
    reactor: &Arc<Reactor>,
    address: &SocketAddress,
    options: &BindOptions,
) -> io::Result<SocketHandle> {
    let s = new_socket(address, Type::DGRAM)?;
    apply_ip_options(&s, address, options.reuse_address, options.v6_only)?;
    if options.broadcast && matches!(address, SocketAddress::Ip(_)) {
        s.set_broadcast(true)?;
    }
    let unbound = matches!(address, SocketAddress::Unix(u) if u.is_unnamed());
    if !unbound {
        s.bind(&sock_addr(address)?)?;
    }
    register(reactor, s)
}

pub(crate) fn connect_datagram(socket_h: &SocketHandle, address: &SocketAddress) -> io::Result<()> {
    socket(socket_h)?.fd.get_ref().connect(&sock_addr(address)?)
}

/// Takes over a socket made outside kqio (`net_adopt`): checks it is a socket of `kind`, then
/// makes it close-on-exec and `SIGPIPE`-free as kqio's own (ground rule 1) and registers it.
pub(crate) fn adopt(
    reactor: &Arc<Reactor>,
    fd: OwnedFd,
    kind: AdoptKind,
) -> io::Result<SocketHandle> {
    let s = socket2::Socket::from(fd);
    let ty = match s.r#type() {
        Ok(ty) => ty,
        Err(e) if e.raw_os_error() == Some(libc::ENOTSOCK) => {
            return Err(AdoptError::NotASocket.into())
        }
        Err(e) => return Err(e),
    };
    // Any socket has a local address of its family, bound or not (an unnamed Unix socket's may
    // come back as `AF_UNSPEC` on some systems).
    let unix = match libc::c_int::from(s.local_addr()?.family()) {
        libc::AF_INET | libc::AF_INET6 => false,
        libc::AF_UNIX | libc::AF_UNSPEC => true,
        _ => return Err(AdoptError::WrongKind { expected: kind }.into()),
    };
    let listening = ty == Type::STREAM && crate::sys::net::is_listening(s.as_fd())?;
    if (ty == Type::STREAM) != kind.is_stream()
        || (ty != Type::STREAM && ty != Type::DGRAM)
        || unix != kind.is_unix()
        || listening != kind.is_listener()
    {
        return Err(AdoptError::WrongKind { expected: kind }.into());
    }
    s.set_cloexec(true)?;
    crate::sys::net::prepare_adopted(&s)?;
    register(reactor, s)
}

/// The descriptor of a socket of this backend (`net_as_fd`).
pub(crate) fn as_fd(handle: &SocketHandle) -> Option<BorrowedFd<'_>> {
    socket(handle).ok().map(|s| s.fd.get_ref().as_fd())
}

pub(crate) fn socket_pair(
    reactor: &Arc<Reactor>,
    kind: SocketKind,
) -> io::Result<(SocketHandle, SocketHandle)> {
    let ty = match kind {
        SocketKind::Stream => Type::STREAM,
        SocketKind::Datagram => Type::DGRAM,
    };
    let (a, b) = socket2::Socket::pair(Domain::UNIX, ty, None)?;
    Ok((register(reactor, a)?, register(reactor, b)?))
}

pub(crate) fn poll_read(
    cx: &mut Context<'_>,
    socket_h: &SocketHandle,
    buf: &mut [u8],
    peek: bool,
) -> Poll<io::Result<usize>> {
    let s = match socket(socket_h) {
        Ok(s) => s,
        Err(e) => return Poll::Ready(Err(e)),
    };
    if buf.is_empty() {
        return Poll::Ready(Ok(0));
    }
    if !s.stream {
        let buf = as_uninit(buf);
        return if peek {
            s.poll_io(cx, Direction::Read, |s| s.peek(buf))
        } else {
            s.poll_io(cx, Direction::Read, |s| s.recv(buf))
        };
    }
    if let Err(c) = current::check_cancel() {
        return Poll::Ready(Err(c.into()));
    }
    let mut ahead = s.ahead();
    let ahead = &mut *ahead;
    if !ahead.pending().is_empty() {
        let taken = ahead.take(buf, peek);
        if peek || taken == buf.len() {
            return Poll::Ready(Ok(taken));
        }
        // The kernel may hold more (the read that filled `ahead` was not short, or readiness
        // would be cleared): fill the rest of the buffer in the same call, so that a large
        // reader does not get a few bytes every other read. Nothing is waited for here, as
        // the bytes taken must be returned now.
        let rest = &mut buf[taken..];
        let len = rest.len().min(MAX_IO_BYTES - READ_AHEAD);
        let more = s.fd.try_io_stream(Direction::Read, len + READ_AHEAD, |sock| {
            s.settle(read_with_ahead(sock, &mut rest[..len], &mut ahead.buf))
        });
        return Poll::Ready(Ok(match more {
            Some(Ok(n)) => taken + ahead.keep(n, len),
            // An error after some bytes is left for the next read to meet again.
            _ => taken,
        }));
    }
    if peek {
        let buf = as_uninit(buf);
        return s.fd.poll_io(cx, Direction::Read, |s| s.peek(buf));
    }
    let len = buf.len().min(MAX_IO_BYTES - READ_AHEAD);
    let read = s.fd.poll_io_stream(cx, Direction::Read, len + READ_AHEAD, |sock| {
        s.settle(read_with_ahead(sock, &mut buf[..len], &mut ahead.buf))
    });
    read.map_ok(|n| ahead.keep(n, len))
}

/// [`Io::net_poll_read_uninit`](crate::Io::net_poll_read_uninit): a stream read straight into
/// the cursor's memory, initialized or not, with the read-ahead of ground rule 4. Datagram
/// sockets, and streams with bytes already read ahead, take the initialized path (`poll_read`),
/// which handles them and costs a zeroing these cases do not make hot.
pub(crate) fn poll_read_uninit(
    cx: &mut Context<'_>,
    socket_h: &SocketHandle,
    cursor: &mut ReadCursor<'_>,
) -> Poll<io::Result<()>> {
    let s = match socket(socket_h) {
        Ok(s) => s,
        Err(e) => return Poll::Ready(Err(e)),
    };
    if cursor.remaining() == 0 {
        return Poll::Ready(Ok(()));
    }
    let mut ahead = s.ahead();
    if !s.stream || !ahead.pending().is_empty() {
        drop(ahead);
        let dst = cursor.initialize_unfilled();
        let n = ready!(poll_read(cx, socket_h, dst, false))?;
        cursor.set_filled_from_initialized(n);
        return Poll::Ready(Ok(()));
    }
    if let Err(c) = current::check_cancel() {
        return Poll::Ready(Err(c.into()));
    }
    let ahead = &mut *ahead;
    // SAFETY: only `recvmsg` writes into it, and it stores bytes copied from the kernel.
    let dst = unsafe { cursor.unfilled_mut() };
    let len = dst.len().min(MAX_IO_BYTES - READ_AHEAD);
    let read = s.fd.poll_io_stream(cx, Direction::Read, len + READ_AHEAD, |sock| {
        let mut bufs = [
            MaybeUninitSlice::new(&mut dst[..len]),
            MaybeUninitSlice::new(as_uninit(&mut ahead.buf)),
        ];
        s.settle(sock.recv_vectored(&mut bufs).map(|(n, _flags)| n))
    });
    let n = ready!(read)?;
    let into_cursor = ahead.keep(n, len);
    // SAFETY: the `recvmsg` above returned `n` and wrote its first `min(n, len)` bytes into the
    // first `len` bytes of the unfilled part (the rest went to `ahead`); `keep` returns exactly
    // that `min(n, len)`.
    unsafe { cursor.advance(into_cursor) };
    Poll::Ready(Ok(()))
}

/// One `readv` into `buf` then `ahead` (ground rule 4); returns the total.
fn read_with_ahead(
    mut s: &socket2::Socket,
    buf: &mut [u8],
    ahead: &mut [u8; READ_AHEAD],
) -> io::Result<usize> {
    s.read_vectored(&mut [IoSliceMut::new(buf), IoSliceMut::new(ahead)])
}

pub(crate) fn poll_read_vectored(
    cx: &mut Context<'_>,
    socket_h: &SocketHandle,
    bufs: &mut [IoSliceMut<'_>],
) -> Poll<io::Result<usize>> {
    let s = match socket(socket_h) {
        Ok(s) => s,
        Err(e) => return Poll::Ready(Err(e)),
    };
    if bufs.iter().all(|b| b.is_empty()) {
        return Poll::Ready(Ok(0));
    }
    if s.stream {
        // Bytes read ahead come first (ground rule 4); a read that returns them makes no
        // syscall.
        // The lock is held through the read, so that no other reader fills the buffer
        // between this check and the syscall.
        let mut ahead = s.ahead();
        let taken = ahead.take_vectored(bufs);
        if taken > 0 {
            return Poll::Ready(Ok(taken));
        }
        let n = bufs.len().min(MAX_IO_SLICES);
        let bufs = &mut bufs[..n];
        let want = bufs.iter().map(|b| b.len()).sum();
        return s.poll_transfer(cx, Direction::Read, want, |mut sock| {
            s.settle(sock.read_vectored(bufs))
        });
    }
    let n = bufs.len().min(MAX_IO_SLICES);
    let bufs = &mut bufs[..n];
    let want = bufs.iter().map(|b| b.len()).sum();
    s.poll_transfer(cx, Direction::Read, want, |mut s| s.read_vectored(bufs))
}

pub(crate) fn poll_write(
    cx: &mut Context<'_>,
    socket_h: &SocketHandle,
    buf: &[u8],
) -> Poll<io::Result<usize>> {
    let s = match socket(socket_h) {
        Ok(s) => s,
        Err(e) => return Poll::Ready(Err(e)),
    };
    if buf.is_empty() {
        return Poll::Ready(Ok(0));
    }
    let buf = &buf[..buf.len().min(MAX_IO_BYTES)];
    let wrote =
        s.poll_transfer(cx, Direction::Write, buf.len(), |s| s.send_with_flags(buf, SEND_FLAGS));
    s.after_write(&wrote);
    wrote
}

pub(crate) fn poll_write_vectored(
    cx: &mut Context<'_>,
    socket_h: &SocketHandle,
    bufs: &[IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    let s = match socket(socket_h) {
        Ok(s) => s,
        Err(e) => return Poll::Ready(Err(e)),
    };
    if bufs.iter().all(|b| b.is_empty()) {
        return Poll::Ready(Ok(0));
    }
    let bufs = &bufs[..bufs.len().min(MAX_IO_SLICES)];
    let want = bufs.iter().map(|b| b.len()).sum();
    let wrote = s.poll_transfer(cx, Direction::Write, want, |s| {
        s.send_vectored_with_flags(bufs, SEND_FLAGS)
    });
    s.after_write(&wrote);
    wrote
}

pub(crate) fn poll_receive_from(
    cx: &mut Context<'_>,
    socket_h: &SocketHandle,
    buf: &mut [u8],
    peek: bool,
) -> Poll<io::Result<(usize, SocketAddress)>> {
    let s = match socket(socket_h) {
        Ok(s) => s,
        Err(e) => return Poll::Ready(Err(e)),
    };
    // A zero-length receive is still a receive: it consumes (or, peeking, reports) a datagram,
    // and says who sent it, so it waits like any other.
    let buf = as_uninit(buf);
    let (n, from) = std::task::ready!(if peek {
        s.poll_io(cx, Direction::Read, |s| s.peek_from(buf))
    } else {
        s.poll_io(cx, Direction::Read, |s| s.recv_from(buf))
    })?;
    Poll::Ready(Ok((n, socket_address(&from))))
}

pub(crate) fn poll_send_to(
    cx: &mut Context<'_>,
    socket_h: &SocketHandle,
    buf: &[u8],
    address: &SocketAddress,
) -> Poll<io::Result<usize>> {
    let s = match socket(socket_h) {
        Ok(s) => s,
        Err(e) => return Poll::Ready(Err(e)),
    };
    let to = match sock_addr(address) {
        Ok(a) => a,
        Err(e) => return Poll::Ready(Err(e)),
    };
    s.poll_io(cx, Direction::Write, |s| s.send_to_with_flags(buf, &to, SEND_FLAGS))
}

pub(crate) fn shutdown(socket_h: &SocketHandle, how: Shutdown) -> io::Result<()> {
    socket(socket_h)?.fd.get_ref().shutdown(how)
}

pub(crate) fn address(socket_h: &SocketHandle, which: AddressKind) -> io::Result<SocketAddress> {
    let s = socket(socket_h)?.fd.get_ref();
    let a = match which {
        AddressKind::Local => s.local_addr()?,
        AddressKind::Peer => s.peer_addr()?,
    };
    Ok(socket_address(&a))
}

fn is_ipv6(s: &socket2::Socket) -> io::Result<bool> {
    Ok(s.local_addr()?.is_ipv6())
}

pub(crate) fn set_option(socket_h: &SocketHandle, option: SocketOption) -> io::Result<()> {
    let s = socket(socket_h)?.fd.get_ref();
    match option {
        SocketOption::NoDelay(v) => s.set_tcp_nodelay(v),
        SocketOption::Ttl(v) if is_ipv6(s)? => s.set_unicast_hops_v6(v),
        SocketOption::Ttl(v) => s.set_ttl_v4(v),
        SocketOption::Broadcast(v) => s.set_broadcast(v),
        SocketOption::V6Only(v) => s.set_only_v6(v),
        SocketOption::Linger(v) => s.set_linger(v),
        SocketOption::KeepAlive(v) => s.set_keepalive(v),
        SocketOption::ReuseAddress(v) => s.set_reuse_address(v),
        SocketOption::ReceiveBufferSize(v) => s.set_recv_buffer_size(v),
        SocketOption::SendBufferSize(v) => s.set_send_buffer_size(v),
    }
}

pub(crate) fn option(socket_h: &SocketHandle, kind: SocketOptionKind) -> io::Result<SocketOption> {
    let s = socket(socket_h)?.fd.get_ref();
    Ok(match kind {
        SocketOptionKind::NoDelay => SocketOption::NoDelay(s.tcp_nodelay()?),
        SocketOptionKind::Ttl if is_ipv6(s)? => SocketOption::Ttl(s.unicast_hops_v6()?),
        SocketOptionKind::Ttl => SocketOption::Ttl(s.ttl_v4()?),
        SocketOptionKind::Broadcast => SocketOption::Broadcast(s.broadcast()?),
        SocketOptionKind::V6Only => SocketOption::V6Only(s.only_v6()?),
        SocketOptionKind::Linger => SocketOption::Linger(s.linger()?),
        SocketOptionKind::KeepAlive => SocketOption::KeepAlive(s.keepalive()?),
        SocketOptionKind::ReuseAddress => SocketOption::ReuseAddress(s.reuse_address()?),
        SocketOptionKind::ReceiveBufferSize => {
            SocketOption::ReceiveBufferSize(s.recv_buffer_size()?)
        }
        SocketOptionKind::SendBufferSize => SocketOption::SendBufferSize(s.send_buffer_size()?),
    })
}

fn interface_not_found(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("kqio: no network interface {what}"))
}

pub(crate) fn interface_index(name: &str) -> io::Result<u32> {
    let c = CString::new(name).map_err(|_| {
        io::Error::new(io::ErrorKind::InvalidInput, "kqio: interface name contains a NUL byte")
    })?;
    // SAFETY: `c` is a NUL-terminated string that lives across the call, which only reads it.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if index == 0 {
        return Err(interface_not_found(format_args!("named {name:?}")));
    }
    Ok(index)
}

pub(crate) fn interface_name(index: u32) -> io::Result<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` has the `IF_NAMESIZE` bytes `if_indextoname` may write (the name and its
    // NUL), and lives across the call.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return Err(interface_not_found(format_args!("with index {index}")));
    }
    // SAFETY: on success `buf` holds a NUL-terminated name (see above).
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    Ok(name.to_string_lossy().into_owned())
}

/// Resolves `host` with `getaddrinfo` (blocking; run on the pool by the caller).
pub(crate) fn lookup_blocking(host: &str, port: u16) -> io::Result<LookupResult> {
    let c_host = CString::new(host).map_err(|_| {
        io::Error::new(io::ErrorKind::InvalidInput, "kqio: host name contains a NUL byte")
    })?;
    // SAFETY: an all-zero `addrinfo` is the documented way to start hints (null pointers,
    // zero integers).
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = libc::AF_UNSPEC;
    hints.ai_socktype = libc::SOCK_STREAM;
    hints.ai_flags = libc::AI_CANONNAME | libc::AI_ADDRCONFIG;
    let mut list: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: `c_host` is NUL-terminated and outlives the call; `hints` is initialised; `list`
    // receives a list we free below with `freeaddrinfo`.
    let rc = unsafe { libc::getaddrinfo(c_host.as_ptr(), std::ptr::null(), &hints, &mut list) };
    if rc != 0 {
        return Err(lookup_error(rc, host));
    }
    let mut result = LookupResult::default();
    let mut cur = list;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list `getaddrinfo` returned, not yet freed.
        let ai = unsafe { &*cur };
        if result.canonical_name.is_none() && !ai.ai_canonname.is_null() {
            // SAFETY: `ai_canonname` is a NUL-terminated string owned by the list.
            let name = unsafe { std::ffi::CStr::from_ptr(ai.ai_canonname) };
            result.canonical_name = Some(name.to_string_lossy().into_owned());
        }
        if !ai.ai_addr.is_null() {
            // SAFETY: `ai_addr` points at `ai_addrlen` bytes of a socket address of family
            // `ai_family`, which `SockAddr::try_init` copies into its own storage.
            let addr = unsafe {
                SockAddr::try_init(|storage, len| {
                    let n = (ai.ai_addrlen as usize).min(std::mem::size_of_val(&*storage));
                    std::ptr::copy_nonoverlapping(ai.ai_addr.cast::<u8>(), storage.cast::<u8>(), n);
                    *len = n as libc::socklen_t;
                    Ok(())
                })
            };
            if let Ok(((), a)) = addr {
                if let Some(mut ip) = a.as_socket() {
                    ip.set_port(port);
                    if !result.addresses.contains(&ip) {
                        result.addresses.push(ip);
                    }
                }
            }
        }
        cur = ai.ai_next;
    }
    // SAFETY: `list` came from a successful `getaddrinfo` and is freed once.
    unsafe { libc::freeaddrinfo(list) };
    if result.addresses.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("kqio: {host:?} has no IP address"),
        ));
    }
    Ok(result)
}

fn lookup_error(rc: libc::c_int, host: &str) -> io::Error {
    if rc == libc::EAI_SYSTEM {
        return io::Error::last_os_error();
    }
    // SAFETY: `gai_strerror` returns a pointer to a static NUL-terminated message.
    let msg = unsafe { std::ffi::CStr::from_ptr(libc::gai_strerror(rc)) }.to_string_lossy();
    let kind = match rc {
        libc::EAI_NONAME => io::ErrorKind::NotFound,
        libc::EAI_AGAIN => io::ErrorKind::TimedOut,
        libc::EAI_MEMORY => io::ErrorKind::OutOfMemory,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, format!("kqio: lookup of {host:?}: {msg}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connected stream pair on a reactor of its own, and a way to run a read to completion
    /// by driving that reactor.
    struct Pair {
        reactor: Arc<Reactor>,
        a: SocketHandle,
        b: SocketHandle,
    }

    impl Pair {
        fn new() -> Pair {
            let reactor = Arc::new(Reactor::new().unwrap());
            let (a, b) = socket_pair(&reactor, SocketKind::Stream).unwrap();
            Pair { reactor, a, b }
        }

        fn send(&self, bytes: &[u8]) {
            let n = socket(&self.b).unwrap().fd.get_ref().send(bytes).unwrap();
            assert_eq!(n, bytes.len());
        }

        /// Polls `f` until it is ready, harvesting events in between.
        fn run<R>(&self, mut f: impl FnMut(&mut Context<'_>) -> Poll<R>) -> R {
            let waker = futures::task::noop_waker();
            let mut cx = Context::from_waker(&waker);
            for _ in 0..1000 {
                if let Poll::Ready(r) = f(&mut cx) {
                    return r;
                }
                let mut driver = self.reactor.try_lock_driver().unwrap();
                driver.poll(Some(std::time::Duration::from_millis(10)));
                driver.dispatch();
            }
            panic!("never ready");
        }

        fn read(&self, len: usize) -> Vec<u8> {
            let mut buf = vec![0; len];
            let n = self.run(|cx| poll_read(cx, &self.a, &mut buf, false)).unwrap();
            buf.truncate(n);
            buf
        }

        fn readable(&self) -> bool {
            socket(&self.a).unwrap().fd.is_ready(Direction::Read)
        }
    }

    fn bytes(range: std::ops::Range<u8>) -> Vec<u8> {
        range.collect()
    }

    /// A read that fills the caller's buffer exactly and empties the kernel's clears the
    /// readiness, so that the next read waits for an event instead of trying a `recv` that
    /// would return `EAGAIN` (ground rule 4).
    #[test]
    fn exact_read_that_drains_clears_readiness() {
        let p = Pair::new();
        p.send(&bytes(0..64));
        assert_eq!(p.read(64), bytes(0..64));
        assert!(!p.readable(), "readiness kept after a read that drained the socket");
        p.send(&bytes(64..128));
        assert_eq!(p.read(64), bytes(64..128));
    }

    /// Bytes read ahead come back first, in order, to plain, peeking and vectored reads.
    #[test]
    fn uninit_reads_keep_the_read_ahead_and_see_the_end() {
        use std::mem::MaybeUninit;
        let p = Pair::new();
        let read_uninit = |cap: usize| {
            let mut storage = vec![MaybeUninit::<u8>::uninit(); cap];
            let mut cursor = ReadCursor::new(&mut storage);
            p.run(|cx| poll_read_uninit(cx, &p.a, &mut cursor)).unwrap();
            cursor.filled().to_vec()
        };
        p.send(&bytes(0..30));
        // Straight into uninitialized memory: 10 bytes, and 16 more read ahead.
        assert_eq!(read_uninit(10), bytes(0..10));
        assert!(p.readable(), "4 bytes still in the kernel");
        // The read-ahead comes first, then the kernel's rest (the initialized path).
        assert_eq!(read_uninit(64), bytes(10..30));
        assert!(!p.readable());
        p.send(&bytes(30..40));
        assert_eq!(read_uninit(64), bytes(30..40));
        assert!(!p.readable(), "a short read means drained");
        socket(&p.b).unwrap().fd.get_ref().shutdown(Shutdown::Write).unwrap();
        assert_eq!(read_uninit(64), Vec::<u8>::new(), "nothing filled: end of stream");
    }

    #[test]
    fn bytes_read_ahead_come_first_and_in_order() {
        let p = Pair::new();
        p.send(&bytes(0..100));
        assert_eq!(p.read(64), bytes(0..64));
        // 16 bytes were read ahead; 20 are still in the kernel, so readiness stays.
        assert!(p.readable());
        let mut peeked = [0u8; 8];
        let n = p.run(|cx| poll_read(cx, &p.a, &mut peeked, true)).unwrap();
        assert_eq!(&peeked[..n], &bytes(64..72)[..]);
        assert_eq!(p.read(4), bytes(64..68));
        let (mut x, mut y) = ([0u8; 5], [0u8; 50]);
        let n = p
            .run(|cx| {
                let mut bufs = [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)];
                poll_read_vectored(cx, &p.a, &mut bufs)
            })
            .unwrap();
        assert_eq!(n, 12);
        assert_eq!(x.to_vec(), bytes(68..73));
        assert_eq!(y[..7].to_vec(), bytes(73..80));
        assert_eq!(p.read(64), bytes(80..100));
        assert!(!p.readable());
    }

    /// A read that starts with bytes read ahead goes on with the kernel's in the same call
    /// when readiness says there may be more, so a large reader is not handed a few bytes every
    /// other read.
    #[test]
    fn read_after_read_ahead_goes_on_with_the_kernel() {
        let p = Pair::new();
        p.send(&bytes(0..100));
        assert_eq!(p.read(64), bytes(0..64));
        assert_eq!(p.read(64), bytes(64..100));
        assert!(!p.readable());
    }

    /// End of stream still reads as 0 once what was read ahead is consumed.
    #[test]
    fn end_of_stream_after_read_ahead() {
        let p = Pair::new();
        p.send(&bytes(0..70));
        socket(&p.b).unwrap().fd.get_ref().shutdown(Shutdown::Write).unwrap();
        assert_eq!(p.read(64), bytes(0..64));
        assert_eq!(p.read(64), bytes(64..70));
        assert_eq!(p.read(64), Vec::<u8>::new());
    }
}
