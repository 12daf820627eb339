//! Unix-domain sockets: `UnixListener`, `UnixStream`, `UnixDatagram`.

use std::future::poll_fn;
use std::io;
use std::path::Path;

use super::adopt::descriptor_methods;
use super::datagram::DatagramCore;
use super::listener::ListenerCore;
use super::stream::{impl_async_io, stream_methods, StreamCore};
use super::{
    AddressKind, BindOptions, ListenOptions, SocketAddress, SocketHandle, SocketKind, UnixAddress,
};
use crate::IoRef;

fn unix(a: SocketAddress) -> io::Result<UnixAddress> {
    match a {
        SocketAddress::Unix(u) => Ok(u),
        SocketAddress::Ip(_) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "kqio: a Unix socket reported an IP address",
        )),
    }
}

/// A Unix-domain stream socket listening on a path (Zig `UnixAddress.listen`).
///
/// The socket file is not removed when the listener is dropped (as with `std`); remove it
/// yourself, or bind to a fresh path.
#[derive(Debug)]
pub struct UnixListener {
    core: ListenerCore,
}

impl UnixListener {
    /// Creates a socket file at `path` and listens on it.
    ///
    /// # Errors
    ///
    /// `AddrInUse` if the file exists; other OS errors as they come.
    pub fn bind(io: &IoRef, path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let address = SocketAddress::Unix(UnixAddress::new(path.as_ref()));
        let handle = io.net_listen(&address, &ListenOptions::default())?;
        Ok(UnixListener { core: ListenerCore::new(io.clone(), handle) })
    }

    /// Waits for a connection; returns it with the peer's address (usually unnamed).
    ///
    /// # Errors
    ///
    /// As [`TcpListener::accept`](super::TcpListener::accept).
    ///
    /// # Cancellation
    ///
    /// A cancellation point; no connection is taken from the queue when it returns `Canceled`.
    pub async fn accept(&self) -> io::Result<(UnixStream, UnixAddress)> {
        let (handle, addr) = self.core.accept().await?;
        Ok((UnixStream::from_handle(self.core.io.clone(), handle), unix(addr)?))
    }

    descriptor_methods!(
        std::os::unix::net::UnixListener,
        super::AdoptKind::UnixListener,
        |io: IoRef, handle: SocketHandle| UnixListener { core: ListenerCore::new(io, handle) }
    );

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<UnixAddress> {
        unix(self.core.io.net_address(&self.core.handle, AddressKind::Local)?)
    }

    /// The socket's opaque handle.
    pub fn handle(&self) -> &SocketHandle {
        &self.core.handle
    }
}

/// A Unix-domain stream connection. Like [`TcpStream`](super::TcpStream): `&self` operations,
/// `futures::io::{AsyncRead, AsyncWrite}`, owned halves.
#[derive(Debug)]
pub struct UnixStream {
    core: StreamCore,
}

impl_async_io!(UnixStream);

impl UnixStream {
    /// The backend and handle (for the compat adapters).
    #[cfg(any(feature = "hyper", feature = "tokio-io"))]
    pub(crate) fn core(&self) -> &StreamCore {
        &self.core
    }

    fn from_handle(io: IoRef, handle: SocketHandle) -> UnixStream {
        UnixStream { core: StreamCore { io, handle } }
    }

    /// Connects to the socket at `path` (Zig `UnixAddress.connect`).
    ///
    /// # Errors
    ///
    /// `NotFound` if there is no such file, `ConnectionRefused` if nothing listens on it.
    ///
    /// # Cancellation
    ///
    /// A cancellation point.
    pub async fn connect(io: &IoRef, path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let handle = io.net_connect(&SocketAddress::Unix(UnixAddress::new(path.as_ref())))?;
        poll_fn(|cx| io.net_poll_connect(cx, &handle)).await?;
        Ok(UnixStream::from_handle(io.clone(), handle))
    }

    /// A connected pair of streams (`socketpair(2)`).
    pub fn pair(io: &IoRef) -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = io.net_socket_pair(SocketKind::Stream)?;
        Ok((UnixStream::from_handle(io.clone(), a), UnixStream::from_handle(io.clone(), b)))
    }

    stream_methods!();

    descriptor_methods!(
        std::os::unix::net::UnixStream,
        super::AdoptKind::UnixStream,
        UnixStream::from_handle
    );

    /// The local address.
    pub fn local_addr(&self) -> io::Result<UnixAddress> {
        unix(self.core.address(AddressKind::Local)?)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<UnixAddress> {
        unix(self.core.address(AddressKind::Peer)?)
    }
}

/// A Unix-domain datagram socket: boundaries preserved, delivery reliable and ordered.
#[derive(Debug)]
pub struct UnixDatagram {
    core: DatagramCore,
}

impl UnixDatagram {
    /// Creates a socket file at `path` and binds to it.
    ///
    /// # Errors
    ///
    /// `AddrInUse` if the file exists; other OS errors as they come.
    pub fn bind(io: &IoRef, path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        let address = SocketAddress::Unix(UnixAddress::new(path.as_ref()));
        let handle = io.net_bind(&address, &BindOptions::default())?;
        Ok(UnixDatagram { core: DatagramCore { io: io.clone(), handle } })
    }

    descriptor_methods!(
        std::os::unix::net::UnixDatagram,
        super::AdoptKind::UnixDatagram,
        |io: IoRef, handle: SocketHandle| UnixDatagram { core: DatagramCore { io, handle } }
    );

    /// A socket bound to no path (it can send, and receive replies only if connected).
    pub fn unbound(io: &IoRef) -> io::Result<UnixDatagram> {
        let address = SocketAddress::Unix(UnixAddress::unnamed());
        let handle = io.net_bind(&address, &BindOptions::default())?;
        Ok(UnixDatagram { core: DatagramCore { io: io.clone(), handle } })
    }

    /// A connected pair (`socketpair(2)`).
    pub fn pair(io: &IoRef) -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = io.net_socket_pair(SocketKind::Datagram)?;
        Ok((
            UnixDatagram { core: DatagramCore { io: io.clone(), handle: a } },
            UnixDatagram { core: DatagramCore { io: io.clone(), handle: b } },
        ))
    }

    /// Sets the default destination (and the only accepted source) to `path`.
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.core.connect(&SocketAddress::Unix(UnixAddress::new(path.as_ref())))
    }

    /// Sends `buf` as one datagram to `path`.
    ///
    /// # Cancellation
    ///
    /// A cancellation point.
    pub async fn send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        self.core.send_to(buf, &SocketAddress::Unix(UnixAddress::new(path.as_ref()))).await
    }

    /// Receives one datagram and its sender's address.
    ///
    /// # Cancellation
    ///
    /// A cancellation point; no datagram is consumed when it returns `Canceled`.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, UnixAddress)> {
        let (n, from) = self.core.recv_from(buf, false).await?;
        Ok((n, unix(from)?))
    }

    /// Sends `buf` to the connected peer.
    ///
    /// # Cancellation
    ///
    /// A cancellation point.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.core.send(buf).await
    }

    /// Receives one datagram from the connected peer.
    ///
    /// # Cancellation
    ///
    /// A cancellation point.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.core.recv(buf).await
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<UnixAddress> {
        unix(self.core.address(AddressKind::Local)?)
    }

    /// Shuts down reading, writing or both.
    pub fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        self.core.io.net_shutdown(&self.core.handle, how)
    }

    /// The socket's opaque handle.
    pub fn handle(&self) -> &SocketHandle {
        &self.core.handle
    }
}
