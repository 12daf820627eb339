//! The values the vtable's net methods take and return: the opaque socket handle, addresses,
//! and options. Nothing here knows a descriptor: a simulated backend can implement the same
//! methods with its own handle state.

use std::any::Any;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An opaque handle to a socket owned by an [`Io`](crate::Io) backend (Zig
/// `net.Socket.Handle`).
///
/// The handle is the backend's own state behind an `Arc`: the backend recognises its handles by
/// downcasting, so a handle of another backend is rejected with a typed error, never
/// misinterpreted. Clones share one socket (two halves of a stream); the socket is closed when
/// the last clone is dropped.
#[derive(Clone)]
pub struct SocketHandle {
    state: Arc<dyn Any + Send + Sync>,
}

impl SocketHandle {
    /// Wraps a backend's socket state. For backend implementors.
    pub fn new<T: Any + Send + Sync>(state: Arc<T>) -> SocketHandle {
        SocketHandle { state }
    }

    /// The backend's socket state, if this handle was made by that backend from a `T`. For
    /// backend implementors.
    #[inline]
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        self.state.downcast_ref::<T>()
    }
}

impl fmt::Debug for SocketHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketHandle").finish_non_exhaustive()
    }
}

/// The address of a Unix-domain socket: a filesystem path, or unnamed (a socket pair, an
/// unbound datagram socket, the client side of most connections).
///
/// Linux's abstract namespace is not supported: it exists on no kqueue platform.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UnixAddress {
    path: Option<PathBuf>,
}

impl UnixAddress {
    /// The address of the socket file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> UnixAddress {
        UnixAddress { path: Some(path.into()) }
    }

    /// The address of an unnamed socket.
    pub fn unnamed() -> UnixAddress {
        UnixAddress { path: None }
    }

    /// The path, or `None` if the socket is unnamed.
    pub fn as_pathname(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Whether the socket is unnamed.
    pub fn is_unnamed(&self) -> bool {
        self.path.is_none()
    }
}

impl fmt::Display for UnixAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "{}", p.display()),
            None => f.write_str("(unnamed)"),
        }
    }
}

/// An address of any socket kqio handles: IP (v4 or v6) or Unix-domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SocketAddress {
    /// An IPv4 or IPv6 address and port (Zig `net.IpAddress`).
    Ip(SocketAddr),
    /// A Unix-domain address (Zig `net.UnixAddress`).
    Unix(UnixAddress),
}

impl SocketAddress {
    /// The IP address, if this is one.
    pub fn as_ip(&self) -> Option<SocketAddr> {
        match self {
            SocketAddress::Ip(a) => Some(*a),
            SocketAddress::Unix(_) => None,
        }
    }

    /// The Unix-domain address, if this is one.
    pub fn as_unix(&self) -> Option<&UnixAddress> {
        match self {
            SocketAddress::Ip(_) => None,
            SocketAddress::Unix(a) => Some(a),
        }
    }
}

impl From<SocketAddr> for SocketAddress {
    fn from(a: SocketAddr) -> SocketAddress {
        SocketAddress::Ip(a)
    }
}

impl From<UnixAddress> for SocketAddress {
    fn from(a: UnixAddress) -> SocketAddress {
        SocketAddress::Unix(a)
    }
}

impl fmt::Display for SocketAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketAddress::Ip(a) => a.fmt(f),
            SocketAddress::Unix(a) => a.fmt(f),
        }
    }
}

/// Options of a listening socket (Zig `IpAddress.ListenOptions`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListenOptions {
    /// The kernel's queue of connections not yet accepted. Default 1024 (the kernel may cap it
    /// at `somaxconn`).
    pub backlog: u32,
    /// Sets `SO_REUSEADDR` and `SO_REUSEPORT` before binding, so that a restarted server can
    /// bind at once and several listeners can share one port. Default `false`. IP only.
    pub reuse_address: bool,
    /// For an IPv6 address: `Some(true)` accepts only IPv6, `Some(false)` also IPv4-mapped
    /// connections, `None` keeps the system default.
    pub v6_only: Option<bool>,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions { backlog: 1024, reuse_address: false, v6_only: None }
    }
}

impl ListenOptions {
    /// Sets [`backlog`](Self::backlog).
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.backlog = backlog;
        self
    }

    /// Sets [`reuse_address`](Self::reuse_address).
    pub fn reuse_address(mut self, reuse: bool) -> Self {
        self.reuse_address = reuse;
        self
    }

    /// Sets [`v6_only`](Self::v6_only).
    pub fn v6_only(mut self, v6_only: bool) -> Self {
        self.v6_only = Some(v6_only);
        self
    }
}

/// Options of a datagram socket at bind time (Zig `IpAddress.BindOptions`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BindOptions {
    /// Sets `SO_REUSEADDR` and `SO_REUSEPORT` before binding. IP only.
    pub reuse_address: bool,
    /// As [`ListenOptions::v6_only`].
    pub v6_only: Option<bool>,
    /// Allows sending to broadcast addresses (`SO_BROADCAST`). IP only.
    pub broadcast: bool,
}

impl BindOptions {
    /// Sets [`reuse_address`](Self::reuse_address).
    pub fn reuse_address(mut self, reuse: bool) -> Self {
        self.reuse_address = reuse;
        self
    }

    /// Sets [`v6_only`](Self::v6_only).
    pub fn v6_only(mut self, v6_only: bool) -> Self {
        self.v6_only = Some(v6_only);
        self
    }

    /// Sets [`broadcast`](Self::broadcast).
    pub fn broadcast(mut self, broadcast: bool) -> Self {
        self.broadcast = broadcast;
        self
    }
}

/// The kind of a socket pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketKind {
    /// A byte stream (`SOCK_STREAM`).
    Stream,
    /// Datagrams with boundaries (`SOCK_DGRAM`).
    Datagram,
}

/// A socket option and its value, for [`Io::net_set_option`](crate::Io::net_set_option) and what
/// [`Io::net_option`](crate::Io::net_option) returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocketOption {
    /// `TCP_NODELAY`: send small segments at once instead of coalescing them (Nagle off).
    NoDelay(bool),
    /// The IPv4 time-to-live or IPv6 unicast hop limit of outgoing packets.
    Ttl(u32),
    /// `SO_BROADCAST`.
    Broadcast(bool),
    /// `IPV6_V6ONLY`.
    V6Only(bool),
    /// `SO_LINGER`: `Some(d)` makes close wait up to `d` for unsent data (`Some(0)` resets the
    /// connection on close); `None` is the default graceful background close.
    Linger(Option<std::time::Duration>),
    /// `SO_KEEPALIVE`.
    KeepAlive(bool),
    /// `SO_REUSEADDR`.
    ReuseAddress(bool),
    /// `SO_RCVBUF`, in bytes (the kernel may round or double it).
    ReceiveBufferSize(usize),
    /// `SO_SNDBUF`, in bytes (the kernel may round or double it).
    SendBufferSize(usize),
}

/// Which [`SocketOption`] to read with [`Io::net_option`](crate::Io::net_option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SocketOptionKind {
    /// [`SocketOption::NoDelay`].
    NoDelay,
    /// [`SocketOption::Ttl`].
    Ttl,
    /// [`SocketOption::Broadcast`].
    Broadcast,
    /// [`SocketOption::V6Only`].
    V6Only,
    /// [`SocketOption::Linger`].
    Linger,
    /// [`SocketOption::KeepAlive`].
    KeepAlive,
    /// [`SocketOption::ReuseAddress`].
    ReuseAddress,
    /// [`SocketOption::ReceiveBufferSize`].
    ReceiveBufferSize,
    /// [`SocketOption::SendBufferSize`].
    SendBufferSize,
}

/// Which address of a socket to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    /// The local address (`getsockname`).
    Local,
    /// The connected peer's address (`getpeername`).
    Peer,
}

/// The error of a handle that belongs to another backend (or is not a socket of this one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ForeignHandle;

impl fmt::Display for ForeignHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("kqio: socket handle of another Io backend")
    }
}

impl std::error::Error for ForeignHandle {}

impl From<ForeignHandle> for std::io::Error {
    fn from(e: ForeignHandle) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, e)
    }
}

/// The error of `accept` when the process (`EMFILE`) or the system (`ENFILE`) has no
/// descriptor left for the new connection (Zig `ProcessFdQuotaExceeded` /
/// `SystemFdQuotaExceeded`).
///
/// The connection stays in the kernel's backlog. The listener backs off: its next `accept` first
/// waits (1 ms, doubling up to 100 ms while the condition lasts), so a loop that retries at once
/// does not spin a worker; it resumes within that backoff once a descriptor is free. Recognise it
/// with [`DescriptorsExhausted::is`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DescriptorsExhausted {
    /// `true` for the system-wide limit (`ENFILE`), `false` for the process's (`EMFILE`).
    pub system: bool,
}

impl DescriptorsExhausted {
    /// Whether `err` is this error.
    pub fn is(err: &std::io::Error) -> bool {
        err.get_ref().is_some_and(|e| e.is::<DescriptorsExhausted>())
    }
}

impl fmt::Display for DescriptorsExhausted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.system {
            f.write_str("accept: the system has no file descriptor left (ENFILE)")
        } else {
            f.write_str("accept: the process has no file descriptor left (EMFILE)")
        }
    }
}

impl std::error::Error for DescriptorsExhausted {}

impl From<DescriptorsExhausted> for std::io::Error {
    fn from(e: DescriptorsExhausted) -> std::io::Error {
        std::io::Error::other(e)
    }
}

/// What a name lookup found (Zig `HostName.lookup`'s results).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LookupResult {
    /// The addresses, in the resolver's order of preference, with the port asked for.
    pub addresses: Vec<SocketAddr>,
    /// The canonical name of the host, when the resolver reports one.
    pub canonical_name: Option<String>,
}
