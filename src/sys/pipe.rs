//! A pipe whose two descriptors are close-on-exec from the start where the platform can
//! (`pipe2`), else right after (`pipe` then `fcntl`, on macOS, which has no `pipe2`).

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// A new pipe: `(read end, write end)`, both close-on-exec and blocking.
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    imp::pipe(&mut fds)?;
    // SAFETY: the call just made both descriptors; nothing else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

#[cfg(not(any(target_os = "macos", target_os = "ios")))]
mod imp {
    use super::*;

    pub(super) fn pipe(fds: &mut [libc::c_int; 2]) -> io::Result<()> {
        // SAFETY: `fds` is two writable `c_int`s, as `pipe2` wants.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

#[cfg(any(target_os = "macos", target_os = "ios"))]
mod imp {
    use super::*;

    pub(super) fn pipe(fds: &mut [libc::c_int; 2]) -> io::Result<()> {
        // SAFETY: `fds` is two writable `c_int`s, as `pipe` wants.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        for fd in *fds {
            // SAFETY: `fcntl` on a descriptor we own; no pointers. A child spawned by another
            // thread between `pipe` and here inherits the pair: macOS offers no atomic way.
            if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
                let e = io::Error::last_os_error();
                // SAFETY: both descriptors are ours and not used again.
                unsafe { (libc::close(fds[0]), libc::close(fds[1])) };
                return Err(e);
            }
        }
        Ok(())
    }
}
