//! How the reactor learns that a child process exited, per platform: the one `cfg`'d place for
//! processes.
//!
//! | platform | mechanism |
//! | --- | --- |
//! | Linux, Android | a pidfd (`pidfd_open(2)`, Linux 5.3+), readable once the child exits |
//! | macOS, the BSDs (kqueue) | a kqueue of its own with an `EVFILT_PROC`/`NOTE_EXIT` filter for the child; the reactor watches that kqueue's descriptor, readable once the event is pending |
//! | where neither can be had (an old kernel, a sandbox refusing the call) | `None`: the caller falls back to waiting for `SIGCHLD` and trying `waitpid` |
//!
//! Both descriptors are close-on-exec.
//!
//! `KQIO_FORCE_SIGCHLD=1` in the environment (read once, at the first spawn) makes [`exit_fd`]
//! give `None` everywhere, so that the `SIGCHLD` fallback runs on machines whose kernel has
//! the descriptor: `.ci/run` runs the process tests through it (as mio forces its fallbacks).

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// A descriptor that becomes readable when process `pid` (a child not yet reaped) exits, or
/// `None` when this platform or kernel offers none.
pub(crate) fn exit_fd(pid: u32) -> io::Result<Option<OwnedFd>> {
    if force_sigchld() {
        return Ok(None);
    }
    imp::exit_fd(pid)
}

/// Whether `KQIO_FORCE_SIGCHLD=1` asks for the `SIGCHLD` fallback (read once).
fn force_sigchld() -> bool {
    static FORCE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FORCE.get_or_init(|| std::env::var_os("KQIO_FORCE_SIGCHLD").is_some_and(|v| v == "1"))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod imp {
    use super::*;

    pub(super) fn exit_fd(pid: u32) -> io::Result<Option<OwnedFd>> {
        // SAFETY: `pidfd_open(pid, 0)` takes two integers; the result is checked. The pidfd is
        // always close-on-exec.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        if fd < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                // No pidfds here (before Linux 5.3, or filtered by a sandbox): fall back.
                Some(libc::ENOSYS | libc::EPERM | libc::EACCES) => Ok(None),
                _ => Err(e),
            };
        }
        // SAFETY: a new descriptor nothing else owns.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) }))
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod imp {
    use std::os::fd::AsRawFd;

    use super::*;

    pub(super) fn exit_fd(pid: u32) -> io::Result<Option<OwnedFd>> {
        // SAFETY: `kqueue` takes no arguments; the result is checked.
        let fd = unsafe { libc::kqueue() };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new descriptor nothing else owns.
        let kq = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: `fcntl` on our descriptor; no pointers.
        if unsafe { libc::fcntl(kq.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: an all-zero `kevent` is valid (integers and a null `udata`).
        let mut ev: libc::kevent = unsafe { std::mem::zeroed() };
        ev.ident = pid as _;
        ev.filter = libc::EVFILT_PROC as _;
        ev.flags = libc::EV_ADD as _;
        ev.fflags = libc::NOTE_EXIT as _;
        let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: one valid change, no event buffer, a zero timeout.
        let rc = unsafe { libc::kevent(kq.as_raw_fd(), &ev, 1, std::ptr::null_mut(), 0, &zero) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            // ESRCH: the child already exited (a zombie has no filter to attach): the caller's
            // `waitpid` will find it at once.
            return if e.raw_os_error() == Some(libc::ESRCH) { Ok(None) } else { Err(e) };
        }
        Ok(Some(kq))
    }
}
