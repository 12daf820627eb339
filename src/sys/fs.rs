//! File-system specifics per platform: the one place that decides them for `kqueue/fs.rs`.
//!
//! | what | Linux, Android | macOS | FreeBSD | NetBSD | OpenBSD |
//! | --- | --- | --- | --- | --- | --- |
//! | path of an open descriptor (`fd_path`) | `readlink /proc/self/fd/N` | `fcntl(F_GETPATH)` | `fcntl(F_KINFO)` | `fcntl(F_GETPATH)` | `Unsupported` (no such call) |
//! | open a path only to name it (`OPEN_PATH`) | `O_PATH` | `O_RDONLY` | `O_RDONLY` | `O_RDONLY` | `O_RDONLY` |
//! | file-to-file copy (`copy_range`) | `copy_file_range` | `pread`/`pwrite` loop | `copy_file_range` | loop | loop |
//! | nanoseconds of a `stat` time | `st_atime_nsec` | `st_atime_nsec` | `st_atime_nsec` | `st_atimensec` | `st_atime_nsec` |
//! | this thread's `errno` (`clear_errno`) | `__errno_location` | `__error` | `__error` | `__errno` | `__errno` |
//! | inode of a directory entry (`dirent_ino`) | `d_ino` | `d_ino` | `d_fileno` | `d_fileno` | `d_fileno` |
//! | `faccessat` not following a final link (`ACCESS_NOFOLLOW`) | `AT_SYMLINK_NOFOLLOW` | `AT_SYMLINK_NOFOLLOW` | `AT_RESOLVE_BENEATH` | none | none |
//!
//! Resolving paths beneath a confined directory (`openat2`, `O_RESOLVE_BENEATH`, or kqio's walk)
//! is in `sys/beneath.rs`.
//!
//! Everything else kqio's file backend calls (`openat`, `mkdirat`, `unlinkat`, `renameat`,
//! `fstatat`, `symlinkat`, `readlinkat`, `linkat`, `fchmodat`, `fchownat`, `utimensat`,
//! `faccessat`, `flock`, `fdopendir`/`readdir`) is POSIX.1-2008 and the same on all of them.
//!
//! `copy_range` falls back to the loop where `copy_file_range` is refused: `EXDEV` (different
//! file systems, before Linux 5.3 and again since 5.19), `ENOSYS` (an old kernel), `EINVAL` or
//! `EOPNOTSUPP` (a file system or file kind without support, such as `/proc` files or pipes), and
//! `EBADF` for an `O_APPEND` destination, which it never accepts.

use std::ffi::{CStr, OsString};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use crate::time::Timestamp;

/// Flags to open a path only to ask for its real path: Linux's `O_PATH` needs no permission to
/// read the file; elsewhere a read-only open is the closest.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) const OPEN_PATH: libc::c_int = libc::O_PATH;

/// Flags to open a path only to ask for its real path (see the Linux variant).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) const OPEN_PATH: libc::c_int = libc::O_RDONLY;

/// The `faccessat` flag that keeps a final symbolic link from being followed, for a confined
/// directory's `access` (`sys/beneath.rs`, ground rule 4): glibc and musl emulate
/// `AT_SYMLINK_NOFOLLOW` where the kernel lacks `faccessat2`.
#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
pub(crate) const ACCESS_NOFOLLOW: libc::c_int = libc::AT_SYMLINK_NOFOLLOW;

/// The `faccessat` flag for a confined directory's `access`: FreeBSD's `faccessat` refuses
/// `AT_SYMLINK_NOFOLLOW`, but `AT_RESOLVE_BENEATH` keeps a link that appears at the name from
/// leading out of its directory.
#[cfg(target_os = "freebsd")]
pub(crate) const ACCESS_NOFOLLOW: libc::c_int = libc::AT_RESOLVE_BENEATH;

/// The `faccessat` flag for a confined directory's `access`: none here (NetBSD and OpenBSD take
/// only `AT_EACCESS`), so a link swapped in at the name between the check and the call is
/// followed; the README says what that reveals.
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_vendor = "apple",
    target_os = "freebsd"
)))]
pub(crate) const ACCESS_NOFOLLOW: libc::c_int = 0;

/// Turns a `-1` return into the errno, retrying on `EINTR` unless the job running on this thread
/// was asked to stop (ground rule 4 of `kqueue/fs.rs`; `sys::interrupt::check`).
pub(crate) fn retry<T: PartialEq + From<i8> + Copy>(mut f: impl FnMut() -> T) -> io::Result<T> {
    loop {
        // A canceled blocking-pool job stops here instead of retrying (sys/interrupt.rs).
        super::interrupt::check()?;
        let r = f();
        if r != T::from(-1) {
            return Ok(r);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
}

/// The one plain `openat` of the file backend (ground rule 2 of `kqueue/fs.rs`): `O_CLOEXEC`
/// always.
pub(crate) fn open_at(
    dir: RawFd,
    path: &CStr,
    flags: libc::c_int,
    mode: u32,
) -> io::Result<OwnedFd> {
    let flags = flags | libc::O_CLOEXEC;
    // SAFETY: `path` is a NUL-terminated string that lives across the call; the mode is passed
    // as the variadic `c_uint` that `openat` reads when `O_CREAT` is set.
    let fd = retry(|| unsafe { libc::openat(dir, path.as_ptr(), flags, mode as libc::c_uint) })?;
    // SAFETY: `openat` returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The target of the symbolic link `path` in `dir`, as stored (`readlinkat`, grown until it
/// fits).
pub(crate) fn read_link_at(dir: RawFd, path: &CStr) -> io::Result<PathBuf> {
    let mut buf = Vec::<u8>::with_capacity(256);
    loop {
        // SAFETY: `path` is NUL-terminated; the kernel writes at most `capacity` bytes into
        // `buf`'s spare capacity.
        let n = retry(|| unsafe {
            libc::readlinkat(dir, path.as_ptr(), buf.as_mut_ptr().cast(), buf.capacity())
        })? as usize;
        if n < buf.capacity() {
            // SAFETY: the kernel wrote `n` bytes.
            unsafe { buf.set_len(n) };
            return Ok(PathBuf::from(OsString::from_vec(buf)));
        }
        // Possibly truncated: try again with more room.
        buf.reserve(buf.capacity() * 2);
    }
}

/// Nanoseconds since the epoch in `secs` + `nsec`, saturating.
// `time_t` and `c_long` are `i64` on the 64-bit targets but `i32` on some 32-bit ones.
#[allow(clippy::unnecessary_cast)]
fn ts(secs: libc::time_t, nsec: libc::c_long) -> Timestamp {
    Timestamp::from_nanos((secs as i64).saturating_mul(1_000_000_000).saturating_add(nsec as i64))
}

/// The access, modification and status-change times of `st`, on the real clock.
#[cfg(not(target_os = "netbsd"))]
pub(crate) fn stat_times(st: &libc::stat) -> [Timestamp; 3] {
    [
        ts(st.st_atime, st.st_atime_nsec),
        ts(st.st_mtime, st.st_mtime_nsec),
        ts(st.st_ctime, st.st_ctime_nsec),
    ]
}

/// The access, modification and status-change times of `st`, on the real clock.
#[cfg(target_os = "netbsd")]
pub(crate) fn stat_times(st: &libc::stat) -> [Timestamp; 3] {
    [
        ts(st.st_atime, st.st_atimensec),
        ts(st.st_mtime, st.st_mtimensec),
        ts(st.st_ctime, st.st_ctimensec),
    ]
}

/// The inode number of a directory entry.
// `ino_t` is `u64` on the 64-bit targets, narrower on some 32-bit ones.
#[allow(clippy::unnecessary_cast)]
pub(crate) fn dirent_ino(e: &libc::dirent) -> u64 {
    #[cfg(any(
        target_os = "freebsd",
        target_os = "dragonfly",
        target_os = "netbsd",
        target_os = "openbsd"
    ))]
    return e.d_fileno as u64;
    #[cfg(not(any(
        target_os = "freebsd",
        target_os = "dragonfly",
        target_os = "netbsd",
        target_os = "openbsd"
    )))]
    return e.d_ino as u64;
}

/// Sets this thread's `errno` to 0 (before `readdir`, whose end and error look alike otherwise).
pub(crate) fn clear_errno() {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    // SAFETY: `__errno_location` returns a valid pointer to this thread's `errno`.
    unsafe {
        *libc::__errno_location() = 0
    };
    #[cfg(any(target_vendor = "apple", target_os = "freebsd", target_os = "dragonfly"))]
    // SAFETY: `__error` returns a valid pointer to this thread's `errno`.
    unsafe {
        *libc::__error() = 0
    };
    #[cfg(any(target_os = "netbsd", target_os = "openbsd"))]
    // SAFETY: `__errno` returns a valid pointer to this thread's `errno`.
    unsafe {
        *libc::__errno() = 0
    };
}

/// The path the open descriptor `fd` refers to now (it follows renames).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn fd_path(fd: RawFd) -> io::Result<PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{fd}"))
}

/// The path the open descriptor `fd` refers to now (it follows renames).
#[cfg(any(target_vendor = "apple", target_os = "netbsd"))]
pub(crate) fn fd_path(fd: RawFd) -> io::Result<PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
    // SAFETY: F_GETPATH writes at most PATH_MAX bytes plus a NUL into `buf`, which is larger.
    if unsafe { libc::fcntl(fd, libc::F_GETPATH, buf.as_mut_ptr()) } == -1 {
        return Err(io::Error::last_os_error());
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    buf.truncate(len);
    Ok(PathBuf::from(std::ffi::OsString::from_vec(buf)))
}

/// The path the open descriptor `fd` refers to now (it follows renames).
#[cfg(target_os = "freebsd")]
pub(crate) fn fd_path(fd: RawFd) -> io::Result<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: `kinfo_file` is plain data; all zeroes is a valid value.
    let mut info: libc::kinfo_file = unsafe { std::mem::zeroed() };
    info.kf_structsize = std::mem::size_of::<libc::kinfo_file>() as libc::c_int;
    // SAFETY: F_KINFO fills the `kinfo_file` we pass, whose size we declared in kf_structsize.
    if unsafe { libc::fcntl(fd, libc::F_KINFO, &mut info) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel NUL-terminates `kf_path`.
    let path = unsafe { std::ffi::CStr::from_ptr(info.kf_path.as_ptr()) };
    if path.to_bytes().is_empty() {
        return Err(io::Error::new(io::ErrorKind::NotFound, "the kernel knows no path for it"));
    }
    Ok(PathBuf::from(std::ffi::OsStr::from_bytes(path.to_bytes())))
}

/// The path the open descriptor `fd` refers to now: not offered by this platform.
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_vendor = "apple",
    target_os = "netbsd",
    target_os = "freebsd"
)))]
pub(crate) fn fd_path(_fd: RawFd) -> io::Result<PathBuf> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "this platform cannot name the path of an open descriptor",
    ))
}

/// Copies up to `len` bytes from `from` to `to`, each at its offset when given (which is then
/// advanced) or else at and advancing its file position. Returns the bytes copied: fewer than
/// `len` only at the end of `from`.
pub(crate) fn copy_range(
    from: RawFd,
    mut from_offset: Option<&mut i64>,
    to: RawFd,
    mut to_offset: Option<&mut i64>,
    len: u64,
) -> io::Result<u64> {
    let mut copied = 0u64;
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    while copied < len {
        // At most 1 GiB per call: below every kernel's per-call limit.
        let ask = (len - copied).min(1 << 30) as usize;
        let fo = from_offset.as_deref_mut().map_or(std::ptr::null_mut(), |o| o as *mut i64);
        let to_ptr = to_offset.as_deref_mut().map_or(std::ptr::null_mut(), |o| o as *mut i64);
        // SAFETY: the offsets are null or point at live `i64`s (`off_t` is `i64` on these
        // targets), which the kernel reads and advances; no buffer of ours is involved.
        let n = unsafe { libc::copy_file_range(from, fo.cast(), to, to_ptr.cast(), ask, 0) };
        match n {
            0 => return Ok(copied),
            n if n > 0 => copied += n as u64,
            _ => {
                let err = io::Error::last_os_error();
                match err.raw_os_error() {
                    // Retried: a signal arrived before anything was copied.
                    Some(libc::EINTR) => continue,
                    // Refused (see the module docs): the loop below does the rest.
                    Some(libc::EXDEV | libc::ENOSYS | libc::EINVAL | libc::EOPNOTSUPP)
                    | Some(libc::EBADF) => break,
                    _ => return Err(err),
                }
            }
        }
    }
    let mut buf = vec![0u8; COPY_BUFFER.min((len - copied) as usize).max(1)];
    while copied < len {
        let ask = buf.len().min((len - copied) as usize);
        let n = match from_offset.as_deref_mut() {
            // SAFETY: `buf` is valid for `ask` bytes of writes.
            Some(o) => unsafe { libc::pread(from, buf.as_mut_ptr().cast(), ask, *o as _) },
            // SAFETY: as above.
            None => unsafe { libc::read(from, buf.as_mut_ptr().cast(), ask) },
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            // Retried: interrupted before reading anything.
            if err.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(err);
        }
        if n == 0 {
            break;
        }
        let n = n as usize;
        if let Some(o) = from_offset.as_deref_mut() {
            *o += n as i64;
        }
        let mut done = 0;
        while done < n {
            let chunk = &buf[done..n];
            let w = match to_offset.as_deref_mut() {
                // SAFETY: `chunk` is valid for `chunk.len()` bytes of reads.
                Some(o) => unsafe { libc::pwrite(to, chunk.as_ptr().cast(), chunk.len(), *o as _) },
                // SAFETY: as above.
                None => unsafe { libc::write(to, chunk.as_ptr().cast(), chunk.len()) },
            };
            if w < 0 {
                let err = io::Error::last_os_error();
                // Retried: interrupted before writing anything.
                if err.raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return Err(err);
            }
            if w == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            if let Some(o) = to_offset.as_deref_mut() {
                *o += w as i64;
            }
            done += w as usize;
        }
        copied += n as u64;
    }
    Ok(copied)
}

/// The buffer of the copy loop: large enough that the syscalls cost little next to the copying.
const COPY_BUFFER: usize = 256 * 1024;
