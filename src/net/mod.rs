//! Networking (Zig `std.Io.net`): TCP, UDP and Unix-domain sockets, written against the
//! [`Io`] trait.
//!
//! Every type here holds an [`IoRef`](crate::IoRef) and an opaque [`SocketHandle`]; every
//! operation is one vtable call (`net_*` in `io.rs`), implemented by the backend
//! (`kqueue/net.rs`). So a simulated backend runs the same application code.
//!
//! | Zig | kqio |
//! | --- | --- |
//! | `IpAddress.listen(io, .{ .reuse_address, .kernel_backlog })` | [`TcpListener::bind`] with [`ListenOptions`] |
//! | `Server.accept(io)` | [`TcpListener::accept`] |
//! | `IpAddress.connect(io, .{ .timeout })` | [`TcpStream::connect`], [`TcpStream::connect_timeout`] |
//! | `IpAddress.bind(io, .{ .mode = .dgram })` | [`UdpSocket::bind`] with [`BindOptions`] |
//! | `Stream.reader/writer` | [`TcpStream::read`], [`TcpStream::write`], `futures::io::{AsyncRead, AsyncWrite}` |
//! | `Socket.send/receive` | [`UdpSocket::send_to`], [`UdpSocket::recv_from`] |
//! | `UnixAddress.listen/connect` | [`UnixListener`], [`UnixStream`], [`UnixDatagram`] |
//! | `Interface.Name.resolve`, `Interface.name` | [`interface_index`], [`interface_name`] |
//!
//! # Cancellation
//!
//! Every operation that can wait (accept, connect, read, write, send, receive) is a cancellation
//! point: in a task whose handle requested cancellation it returns an `io::Error` for which
//! [`Canceled::is_canceled`](crate::Canceled::is_canceled) is true, and consumes nothing. The
//! `AsyncRead`/`AsyncWrite` implementations are cancellation points too.
//!
//! # Sharing
//!
//! Operations take `&self`, and any number of tasks may wait on one socket at once (a reader and
//! a writer, or several acceptors). [`TcpStream::into_split`] gives owned halves for two tasks.

mod adopt;
mod datagram;
mod listener;
mod read_cursor;
pub(crate) mod stream;
mod tcp;
mod types;
mod udp;
mod unix;

pub use adopt::{AdoptError, AdoptKind};
pub use read_cursor::ReadCursor;
pub use stream::{ReadHalf, WriteHalf};
pub use tcp::{TcpListener, TcpStream};
pub use types::{
    AddressKind, BindOptions, DescriptorsExhausted, ForeignHandle, ListenOptions, LookupResult,
    SocketAddress, SocketHandle, SocketKind, SocketOption, SocketOptionKind, UnixAddress,
};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixListener, UnixStream};

use std::io;

use crate::Io;

/// The index of the network interface called `name` (Zig `Interface.Name.resolve`).
///
/// # Errors
///
/// `NotFound` if there is no such interface; `InvalidInput` if `name` contains a NUL byte.
///
/// # Examples
///
/// ```
/// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
/// let io = rt.io();
/// // Index 1 is the loopback interface ("lo", "lo0") on the usual systems.
/// let name = kqio::net::interface_name(&*io, 1)?;
/// assert_eq!(kqio::net::interface_index(&*io, &name)?, 1);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn interface_index(io: &dyn Io, name: &str) -> io::Result<u32> {
    io.net_interface_index(name)
}

/// The name of the network interface with index `index` (Zig `Interface.name`).
///
/// # Errors
///
/// `NotFound` if there is no such interface.
pub fn interface_name(io: &dyn Io, index: u32) -> io::Result<String> {
    io.net_interface_name(index)
}
