//! Socket specifics per platform: how a write avoids `SIGPIPE`, and what an adopted socket needs.
//!
//! Writing to a connection the peer has reset raises `SIGPIPE`, which kills a process that has
//! not ignored it (Rust binaries ignore it, but kqio may run inside a host that does not). kqio
//! asks for an `EPIPE` error instead:
//!
//! | platform | how |
//! | --- | --- |
//! | Linux, Android, FreeBSD, DragonFly, NetBSD, OpenBSD | `MSG_NOSIGNAL` on every send |
//! | macOS and other Apple systems | `SO_NOSIGPIPE` on the socket (set by `socket2` when it creates or accepts one), so no flag |

/// Flags for every `send`/`sendmsg`/`sendto` kqio makes.
#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "dragonfly",
    target_os = "netbsd",
    target_os = "openbsd",
))]
pub(crate) const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;

/// Flags for every `send`/`sendmsg`/`sendto` kqio makes.
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "dragonfly",
    target_os = "netbsd",
    target_os = "openbsd",
)))]
pub(crate) const SEND_FLAGS: libc::c_int = 0;

/// Gives a socket made outside kqio (adopted by `net_adopt`) what kqio's own sockets have: on
/// Apple systems `SO_NOSIGPIPE` (see the table above); elsewhere nothing, as every send passes
/// `MSG_NOSIGNAL`.
#[cfg(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "tvos",
    target_os = "watchos",
    target_os = "visionos"
))]
pub(crate) fn prepare_adopted(socket: &socket2::Socket) -> std::io::Result<()> {
    socket.set_nosigpipe(true)
}

/// Gives a socket made outside kqio what kqio's own sockets have: nothing here, as every send
/// passes `MSG_NOSIGNAL` (see the table above).
#[cfg(not(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "tvos",
    target_os = "watchos",
    target_os = "visionos"
)))]
pub(crate) fn prepare_adopted(_socket: &socket2::Socket) -> std::io::Result<()> {
    Ok(())
}

/// Whether `listen(2)` was called on the stream socket `fd` (`SO_ACCEPTCONN`, which Linux, the
/// BSDs and macOS all have; socket2 offers it only on some of them).
pub(crate) fn is_listening(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `fd` is a live descriptor for the duration of the borrow, and `value`/`len`
    // describe a writable `c_int`, which is what `SO_ACCEPTCONN` stores.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(value != 0)
}
