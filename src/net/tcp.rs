//! TCP: `TcpListener` and `TcpStream`.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;

use super::adopt::descriptor_methods;
use super::listener::ListenerCore;
use super::stream::{impl_async_io, stream_methods, StreamCore};
use super::{
    AddressKind, ListenOptions, SocketAddress, SocketHandle, SocketOption, SocketOptionKind,
};
use crate::time::Timeout;
use crate::IoRef;

fn ip(a: SocketAddress) -> io::Result<SocketAddr> {
    a.as_ip().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidData, "kqio: a TCP socket reported a non-IP address")
    })
}

/// A TCP socket listening for connections (Zig `net.Server`).
///
/// # Examples
///
/// ```
/// use kqio::net::{TcpListener, TcpStream};
///
/// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
/// let io = rt.io();
/// rt.block_on(async {
///     let listener = TcpListener::bind(&io, "127.0.0.1:0".parse().unwrap()).await?;
///     let addr = listener.local_addr()?;
///     let client = io.r#async({
///         let io = io.clone();
///         async move {
///             let s = TcpStream::connect(&io, addr).await?;
///             s.write_all(b"ping").await
///         }
///     });
///     let (server, _peer) = listener.accept().await?;
///     let mut buf = [0u8; 4];
///     server.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"ping");
///     client.await
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct TcpListener {
    core: ListenerCore,
}

impl TcpListener {
    /// Binds to `addr` and listens, with [`ListenOptions::default`] (Zig `IpAddress.listen`).
    /// Port 0 picks a free port; see [`local_addr`](Self::local_addr).
    ///
    /// # Errors
    ///
    /// `AddrInUse`, `AddrNotAvailable`, `PermissionDenied` and the like from the OS.
    pub async fn bind(io: &IoRef, addr: SocketAddr) -> io::Result<TcpListener> {
        Self::bind_with(io, addr, &ListenOptions::default()).await
    }

    /// Binds to `addr` and listens, with `options` (backlog, reuse of the address, v6-only).
    ///
    /// # Errors
    ///
    /// As [`bind`](Self::bind).
    pub async fn bind_with(
        io: &IoRef,
        addr: SocketAddr,
        options: &ListenOptions,
    ) -> io::Result<TcpListener> {
        let handle = io.net_listen(&SocketAddress::Ip(addr), options)?;
        Ok(TcpListener { core: ListenerCore::new(io.clone(), handle) })
    }

    /// Waits for a connection and returns it with the peer's address.
    ///
    /// # Errors
    ///
    /// [`DescriptorsExhausted`](super::DescriptorsExhausted) when no descriptor is left for
    /// the connection (the next call backs off; nothing spins); other OS errors as they come.
    ///
    /// # Cancellation
    ///
    /// A cancellation point; no connection is taken from the queue when it returns `Canceled`.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (handle, addr) = self.core.accept().await?;
        Ok((TcpStream::from_handle(self.core.io.clone(), handle), ip(addr)?))
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        ip(self.core.io.net_address(&self.core.handle, AddressKind::Local)?)
    }

    descriptor_methods!(
        std::net::TcpListener,
        super::AdoptKind::TcpListener,
        |io: IoRef, handle: SocketHandle| TcpListener { core: ListenerCore::new(io, handle) }
    );

    /// Sets a socket option.
    pub fn set_option(&self, option: SocketOption) -> io::Result<()> {
        self.core.io.net_set_option(&self.core.handle, option)
    }

    /// Reads a socket option.
    pub fn option(&self, kind: SocketOptionKind) -> io::Result<SocketOption> {
        self.core.io.net_option(&self.core.handle, kind)
    }

    /// The socket's opaque handle.
    pub fn handle(&self) -> &SocketHandle {
        &self.core.handle
    }
}

/// A TCP connection (Zig `net.Stream`).
///
/// Reads and writes take `&self`: a reader task and a writer task may share one stream (or use
/// [`into_split`](Self::into_split)). It implements `futures::io::{AsyncRead, AsyncWrite}`, as
/// does `&TcpStream`. Dropping it closes the connection.
#[derive(Debug)]
pub struct TcpStream {
    core: StreamCore,
}

impl_async_io!(TcpStream);

impl TcpStream {
    /// The backend and handle (for the compat adapters).
    #[cfg(any(feature = "hyper", feature = "tokio-io"))]
    pub(crate) fn core(&self) -> &StreamCore {
        &self.core
    }

    pub(crate) fn from_handle(io: IoRef, handle: SocketHandle) -> TcpStream {
        TcpStream { core: StreamCore { io, handle } }
    }

    /// Connects to `addr` (Zig `IpAddress.connect`).
    ///
    /// # Errors
    ///
    /// `ConnectionRefused` when nothing listens there; other OS errors as they come.
    ///
    /// # Cancellation
    ///
    /// A cancellation point; the half-open socket is closed when it returns `Canceled`.
    pub async fn connect(io: &IoRef, addr: SocketAddr) -> io::Result<TcpStream> {
        let handle = io.net_connect(&SocketAddress::Ip(addr))?;
        poll_fn(|cx| io.net_poll_connect(cx, &handle)).await?;
        Ok(TcpStream::from_handle(io.clone(), handle))
    }

    /// Connects to `addr`, giving up with `TimedOut` once `timeout` has passed (Zig's
    /// `ConnectOptions.timeout`).
    ///
    /// # Errors
    ///
    /// `TimedOut`, or as [`connect`](Self::connect).
    ///
    /// # Cancellation
    ///
    /// As [`connect`](Self::connect).
    pub async fn connect_timeout(
        io: &IoRef,
        addr: SocketAddr,
        timeout: Timeout,
    ) -> io::Result<TcpStream> {
        match crate::time::timeout(&**io, timeout, Self::connect(io, addr)).await {
            Ok(r) => r,
            Err(elapsed) => Err(elapsed.into()),
        }
    }

    stream_methods!();

    descriptor_methods!(std::net::TcpStream, super::AdoptKind::TcpStream, TcpStream::from_handle);

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        ip(self.core.address(AddressKind::Local)?)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        ip(self.core.address(AddressKind::Peer)?)
    }

    /// Sets `TCP_NODELAY` (Nagle's algorithm off when `true`).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.set_option(SocketOption::NoDelay(nodelay))
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        match self.option(SocketOptionKind::NoDelay)? {
            SocketOption::NoDelay(v) => Ok(v),
            other => Err(unexpected(other)),
        }
    }

    /// Sets the time-to-live (hop limit) of outgoing packets.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.set_option(SocketOption::Ttl(ttl))
    }

    /// The time-to-live (hop limit) of outgoing packets.
    pub fn ttl(&self) -> io::Result<u32> {
        match self.option(SocketOptionKind::Ttl)? {
            SocketOption::Ttl(v) => Ok(v),
            other => Err(unexpected(other)),
        }
    }

    /// Sets `SO_LINGER` (see [`SocketOption::Linger`]).
    pub fn set_linger(&self, linger: Option<std::time::Duration>) -> io::Result<()> {
        self.set_option(SocketOption::Linger(linger))
    }

    /// Sets a socket option.
    pub fn set_option(&self, option: SocketOption) -> io::Result<()> {
        self.core.io.net_set_option(&self.core.handle, option)
    }

    /// Reads a socket option.
    pub fn option(&self, kind: SocketOptionKind) -> io::Result<SocketOption> {
        self.core.io.net_option(&self.core.handle, kind)
    }
}

/// A backend answered an option read with another option: a backend bug, reported, not hidden.
pub(crate) fn unexpected(option: SocketOption) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("kqio: backend returned {option:?}"))
}
