//! UDP: `UdpSocket`.

use std::io;
use std::net::SocketAddr;

use super::adopt::descriptor_methods;
use super::datagram::DatagramCore;
use super::tcp::unexpected;
use super::{
    AddressKind, BindOptions, SocketAddress, SocketHandle, SocketOption, SocketOptionKind,
};
use crate::IoRef;

fn ip(a: SocketAddress) -> io::Result<SocketAddr> {
    a.as_ip().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidData, "kqio: a UDP socket reported a non-IP address")
    })
}

/// A UDP socket (Zig `IpAddress.bind(io, .{ .mode = .dgram })`). Datagram boundaries are
/// preserved: each receive returns one datagram (its excess beyond the buffer is discarded).
///
/// # Examples
///
/// ```
/// use kqio::net::UdpSocket;
///
/// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
/// let io = rt.io();
/// rt.block_on(async {
///     let a = UdpSocket::bind(&io, "127.0.0.1:0".parse().unwrap())?;
///     let b = UdpSocket::bind(&io, "127.0.0.1:0".parse().unwrap())?;
///     a.send_to(b"hello", b.local_addr()?).await?;
///     let mut buf = [0u8; 16];
///     let (n, from) = b.recv_from(&mut buf).await?;
///     assert_eq!((&buf[..n], from), (&b"hello"[..], a.local_addr()?));
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct UdpSocket {
    core: DatagramCore,
}

impl UdpSocket {
    /// Binds to `addr` (port 0 picks a free port).
    ///
    /// # Errors
    ///
    /// `AddrInUse`, `AddrNotAvailable` and the like from the OS.
    pub fn bind(io: &IoRef, addr: SocketAddr) -> io::Result<UdpSocket> {
        Self::bind_with(io, addr, &BindOptions::default())
    }

    /// Binds to `addr` with `options` (reuse of the address, v6-only, broadcast).
    ///
    /// # Errors
    ///
    /// As [`bind`](Self::bind).
    pub fn bind_with(io: &IoRef, addr: SocketAddr, options: &BindOptions) -> io::Result<UdpSocket> {
        let handle = io.net_bind(&SocketAddress::Ip(addr), options)?;
        Ok(UdpSocket { core: DatagramCore { io: io.clone(), handle } })
    }

    descriptor_methods!(
        std::net::UdpSocket,
        super::AdoptKind::Udp,
        |io: IoRef, handle: SocketHandle| UdpSocket { core: DatagramCore { io, handle } }
    );

    /// Sets the default destination of [`send`](Self::send) and the only source
    /// [`recv`](Self::recv) accepts. Does not wait.
    pub fn connect(&self, addr: SocketAddr) -> io::Result<()> {
        self.core.connect(&SocketAddress::Ip(addr))
    }

    /// Sends `buf` as one datagram to `to`.
    ///
    /// # Errors
    ///
    /// `EMSGSIZE` (as `io::Error`) when `buf` is larger than a datagram can be.
    ///
    /// # Cancellation
    ///
    /// A cancellation point; nothing was sent when it returns `Canceled`.
    pub async fn send_to(&self, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.core.send_to(buf, &SocketAddress::Ip(to)).await
    }

    /// Receives one datagram and its sender.
    ///
    /// # Cancellation
    ///
    /// A cancellation point; no datagram is consumed when it returns `Canceled`.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, from) = self.core.recv_from(buf, false).await?;
        Ok((n, ip(from)?))
    }

    /// Like [`recv_from`](Self::recv_from) but leaves the datagram queued.
    ///
    /// # Cancellation
    ///
    /// A cancellation point.
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, from) = self.core.recv_from(buf, true).await?;
        Ok((n, ip(from)?))
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
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        ip(self.core.address(AddressKind::Local)?)
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        ip(self.core.address(AddressKind::Peer)?)
    }

    /// Sets `SO_BROADCAST`.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.set_option(SocketOption::Broadcast(on))
    }

    /// Whether `SO_BROADCAST` is set.
    pub fn broadcast(&self) -> io::Result<bool> {
        match self.option(SocketOptionKind::Broadcast)? {
            SocketOption::Broadcast(v) => Ok(v),
            other => Err(unexpected(other)),
        }
    }

    /// Sets the time-to-live (hop limit) of outgoing datagrams.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.set_option(SocketOption::Ttl(ttl))
    }

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
