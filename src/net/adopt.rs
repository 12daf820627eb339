//! Sockets made outside kqio: adopting a descriptor (`from_std`: socket activation, descriptors
//! inherited from a parent, sockets built with `socket2` or `std`), and borrowing a socket's
//! descriptor back (`as_fd`, `as_raw_fd`).
//!
//! Ground rules:
//! 1. The user types stay backend-neutral: adoption is the vtable's
//!    [`net_adopt`](crate::Io::net_adopt) and the descriptor is
//!    [`net_as_fd`](crate::Io::net_as_fd). A backend without descriptors (the simulator) keeps
//!    their defaults: adoption fails with [`AdoptError::Unsupported`], and `as_fd` is `None`.
//!    So the socket types implement no `AsFd`/`AsRawFd` (whose methods cannot fail, and would
//!    have to panic there); they have `as_fd()`/`as_raw_fd()` returning an `Option` instead.
//! 2. A backend checks an adopted descriptor before it takes it: a socket, of the kind the
//!    adopting type is (stream or datagram, IP or Unix, listening or not), else a typed
//!    [`AdoptError`]. The descriptor was moved in, so it is closed on error.

use std::fmt;
use std::io;

/// What kind of socket a type adopts: what [`Io::net_adopt`](crate::Io::net_adopt) checks the
/// descriptor against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AdoptKind {
    /// A listening TCP socket ([`TcpListener`](super::TcpListener)).
    TcpListener,
    /// A TCP connection ([`TcpStream`](super::TcpStream)).
    TcpStream,
    /// A UDP socket ([`UdpSocket`](super::UdpSocket)).
    Udp,
    /// A listening Unix-domain stream socket ([`UnixListener`](super::UnixListener)).
    UnixListener,
    /// A Unix-domain stream connection ([`UnixStream`](super::UnixStream)).
    UnixStream,
    /// A Unix-domain datagram socket ([`UnixDatagram`](super::UnixDatagram)).
    UnixDatagram,
}

impl AdoptKind {
    /// Whether the socket is a byte stream (`SOCK_STREAM`) rather than datagrams.
    pub fn is_stream(self) -> bool {
        !matches!(self, AdoptKind::Udp | AdoptKind::UnixDatagram)
    }

    /// Whether the socket is Unix-domain rather than IP.
    pub fn is_unix(self) -> bool {
        matches!(self, AdoptKind::UnixListener | AdoptKind::UnixStream | AdoptKind::UnixDatagram)
    }

    /// Whether the socket is listening (`listen(2)` was called on it).
    pub fn is_listener(self) -> bool {
        matches!(self, AdoptKind::TcpListener | AdoptKind::UnixListener)
    }
}

/// Why a `from_std` (an [`Io::net_adopt`](crate::Io::net_adopt)) refused a descriptor. Carried
/// inside the `io::Error` it returns; get it back with [`AdoptError::of`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdoptError {
    /// The backend has no descriptors to adopt (the simulator, a backend of another kind). The
    /// `io::Error`'s kind is `Unsupported`.
    Unsupported,
    /// The descriptor is not a socket (`ENOTSOCK`: a file, a pipe). Kind `InvalidInput`.
    NotASocket,
    /// The descriptor is a socket of another kind than `expected` (a datagram socket given to a
    /// `TcpStream`, a Unix socket to a `TcpListener`, a connection to a listener). Kind
    /// `InvalidInput`.
    WrongKind {
        /// The kind the adopting type needs.
        expected: AdoptKind,
    },
}

impl AdoptError {
    /// The `AdoptError` inside `err`, if `err` is one.
    ///
    /// # Examples
    ///
    /// ```
    /// use kqio::net::{AdoptError, TcpStream};
    /// use std::os::fd::OwnedFd;
    ///
    /// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
    /// let not_a_socket = OwnedFd::from(std::fs::File::open("Cargo.toml")?);
    /// let err = TcpStream::from_std(&rt.io(), std::net::TcpStream::from(not_a_socket)).unwrap_err();
    /// assert_eq!(AdoptError::of(&err), Some(AdoptError::NotASocket));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn of(err: &io::Error) -> Option<AdoptError> {
        err.get_ref()?.downcast_ref::<AdoptError>().copied()
    }
}

impl fmt::Display for AdoptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdoptError::Unsupported => {
                f.write_str("kqio: this Io backend cannot adopt an OS descriptor")
            }
            AdoptError::NotASocket => f.write_str("kqio: the descriptor to adopt is not a socket"),
            AdoptError::WrongKind { expected } => {
                write!(f, "kqio: the descriptor to adopt is not a socket of kind {expected:?}")
            }
        }
    }
}

impl std::error::Error for AdoptError {}

impl From<AdoptError> for io::Error {
    fn from(e: AdoptError) -> io::Error {
        let kind = match e {
            AdoptError::Unsupported => io::ErrorKind::Unsupported,
            AdoptError::NotASocket | AdoptError::WrongKind { .. } => io::ErrorKind::InvalidInput,
        };
        io::Error::new(kind, e)
    }
}

/// `from_std`, `as_fd` and `as_raw_fd` for a socket type whose `core` field has `io` and
/// `handle`. `$std` is the `std` type adopted, `$kind` its [`AdoptKind`], `$build` makes the type
/// from `(IoRef, SocketHandle)`.
macro_rules! descriptor_methods {
    ($std:ty, $kind:expr, $build:expr) => {
        /// Adopts a socket made outside kqio (socket activation, a descriptor inherited from the
        /// parent process, one built with `std` or `socket2`): it is made non-blocking and
        /// close-on-exec and registered with the backend. The socket may be in any state its
        /// type allows (a listener already listening, a stream already connected).
        ///
        /// # Errors
        ///
        /// An [`AdoptError`](crate::net::AdoptError) inside the `io::Error`: `Unsupported` from a
        /// backend without descriptors (the simulator), `NotASocket`, or `WrongKind` when the
        /// descriptor is a socket of another kind. The socket was moved in, so it is closed
        /// then. Other OS errors as they come.
        pub fn from_std(io: &crate::IoRef, socket: $std) -> std::io::Result<Self> {
            let handle = io.net_adopt(std::os::fd::OwnedFd::from(socket), $kind)?;
            Ok($build(io.clone(), handle))
        }

        /// The socket's descriptor, borrowed, on a backend whose sockets are descriptors (the
        /// kqueue backend); `None` on one without (the simulator). For `AsFd`-based APIs
        /// (`socket2::SockRef::from(&fd)`, `nix`); do not close it or make it blocking.
        ///
        /// Reading from the descriptor directly does not see bytes kqio has already taken: a
        /// stream read on the kqueue backend takes up to 16 bytes past the caller's buffer (so
        /// that a drained socket is known without another `recv`), and hands them to the next
        /// read through kqio. Use the descriptor for options and addresses, or read through kqio
        /// only.
        ///
        /// This is not `std::os::fd::AsFd`, whose `as_fd` cannot fail: kqio's socket types
        /// work on any backend, so they do not implement it.
        pub fn as_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
            self.core.io.net_as_fd(&self.core.handle)
        }

        /// The socket's raw descriptor number, or `None`: see [`as_fd`](Self::as_fd).
        pub fn as_raw_fd(&self) -> Option<std::os::fd::RawFd> {
            use std::os::fd::AsRawFd;
            self.as_fd().map(|fd| fd.as_raw_fd())
        }
    };
}

pub(crate) use descriptor_methods;
