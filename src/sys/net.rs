//! Socket specifics per platform: how a write avoids `SIGPIPE`.
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
