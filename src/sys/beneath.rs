//! Resolving a path beneath a directory: what a confined `Dir` ([`Dir::confine`]) does with
//! every path it is given.
//!
//! | platform | resolver |
//! | --- | --- |
//! | Linux 5.6+ | the kernel: `openat2(RESOLVE_BENEATH \| RESOLVE_NO_MAGICLINKS)` |
//! | FreeBSD 13+ | the kernel: `openat(O_RESOLVE_BENEATH)` |
//! | macOS, NetBSD, OpenBSD, Android, older kernels, `openat2` refused by seccomp | the walk |
//!
//! Ground rules:
//! 1. Nothing resolves outside the root. An absolute path, a `..` above the root, or a
//!    symbolic link whose target is absolute or climbs above the root fails with
//!    [`PathEscapesDir`] (`escape()`) before anything outside is opened.
//! 2. Two resolvers with the same answers: the kernel's, probed once per process (`kernel`),
//!    and the walk (`walk`), used where the kernel has none and wherever
//!    `InitOptions::confine_by_walk` asks for it (so that Linux runs it too).
//! 3. The walk holds a descriptor of every directory it has entered, opens each component
//!    relative to the last with `O_NOFOLLOW`, and takes `..` by dropping the last descriptor,
//!    never by opening `..`: a directory renamed, or replaced by a symbolic link, while the walk
//!    runs cannot lead it out. A symbolic link met on the way is read (`readlinkat`) and its
//!    target walked in its place, from the directory holding it, at most [`MAX_SYMLINKS`] per
//!    path (then `ELOOP`).
//! 4. An operation on a last component (`unlinkat`, `mkdirat`, `renameat`, `linkat`,
//!    `symlinkat`, `readlinkat`, `fstatat`, `fchmodat`, ...) gets its parent's descriptor,
//!    resolved beneath the root, and a bare name ([`parent`]); it passes `AT_SYMLINK_NOFOLLOW`
//!    or the like, so a final link is never followed by the kernel. Those that follow a final
//!    link ([`follow`]) read it here and resolve its target beneath the root again.
//! 5. Every descriptor opened here has `O_CLOEXEC`.
//!
//! [`Dir::confine`]: crate::fs::Dir::confine

use std::collections::VecDeque;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use super::fs::{open_at, read_link_at, retry, OPEN_PATH};
use crate::fs::PathEscapesDir;

/// The most symbolic links followed while resolving one path, then `ELOOP`: Linux's
/// `MAXSYMLINKS` (the BSDs and macOS stop at 32).
pub(crate) const MAX_SYMLINKS: u32 = 40;

/// How a confined directory resolves its paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolver {
    /// The kernel's beneath-resolution where the running kernel has it, else the walk.
    Kernel,
    /// Always the walk (ground rule 2).
    Walk,
}

/// The error of a path that leads outside the root (ground rule 1).
pub(crate) fn escape() -> io::Error {
    PathEscapesDir.into()
}

/// Flags of a directory opened only to resolve names in it: Linux's `O_PATH` needs no read
/// permission; elsewhere a read-only open does (see the README).
const SEARCH: libc::c_int = OPEN_PATH | libc::O_DIRECTORY;

/// Opens `path` beneath `root` (a directory descriptor or `AT_FDCWD`) with `flags` and `mode`,
/// following a final symbolic link unless `flags` has `O_NOFOLLOW`.
pub(crate) fn open(
    root: RawFd,
    path: &CStr,
    flags: libc::c_int,
    mode: u32,
    how: Resolver,
) -> io::Result<OwnedFd> {
    if path.to_bytes().starts_with(b"/") {
        return Err(escape());
    }
    if how == Resolver::Kernel {
        if let Some(r) = kernel::open(root, path, flags | libc::O_CLOEXEC, mode) {
            return r;
        }
    }
    walk(root, path.to_bytes(), flags, mode)
}

/// The parent of `path`'s last component, opened beneath `root` (`None`: `root` itself), and
/// that component's name (ground rule 4). A path ending in `.` or `..` names a directory: that
/// directory is the parent and the name is `.`.
pub(crate) fn parent(
    root: RawFd,
    path: &CStr,
    how: Resolver,
) -> io::Result<(Option<OwnedFd>, CString)> {
    let bytes = path.to_bytes();
    if bytes.starts_with(b"/") {
        return Err(escape());
    }
    let (dir, name) = split_last(bytes);
    if name == b"." || name == b".." || name.is_empty() {
        return Ok((Some(open(root, path, SEARCH, 0, how)?), c".".to_owned()));
    }
    let name = CString::new(name).expect("a part of a C string has no NUL");
    if dir.is_empty() {
        return Ok((None, name));
    }
    let dir = CString::new(dir).expect("a part of a C string has no NUL");
    Ok((Some(open(root, &dir, SEARCH, 0, how)?), name))
}

/// Runs `f` on the parent descriptor and name of what `path` names beneath `root` once final
/// symbolic links are followed (each target resolved beneath `root` again): `f` must not follow
/// a link itself (`AT_SYMLINK_NOFOLLOW`), so that one put there after the check is acted on as
/// a link, inside, rather than followed out.
pub(crate) fn follow<T>(
    root: RawFd,
    path: &CStr,
    how: Resolver,
    f: impl FnOnce(RawFd, &CStr) -> io::Result<T>,
) -> io::Result<T> {
    let mut path = path.to_owned();
    for _ in 0..=MAX_SYMLINKS {
        let (dir, name) = parent(root, &path, how)?;
        let dfd = dir.as_ref().map_or(root, AsRawFd::as_raw_fd);
        if !is_symlink(dfd, &name) {
            // Not a link, or not there at all: `f` acts on it or reports why it cannot.
            return f(dfd, &name);
        }
        let Ok(target) = read_link_at(dfd, &name) else {
            // Not a link any more: it changed since the check; look again (counted).
            continue;
        };
        let target = target.as_os_str().as_bytes();
        if target.starts_with(b"/") {
            return Err(escape());
        }
        let (dir_part, _) = split_last(path.to_bytes());
        let mut next = dir_part.to_vec();
        if !next.is_empty() {
            next.push(b'/');
        }
        next.extend_from_slice(target);
        path = CString::new(next).expect("a link target has no NUL");
    }
    Err(io::Error::from_raw_os_error(libc::ELOOP))
}

/// `path` without trailing slashes, split at its last `/`: (the part before, the last name).
fn split_last(path: &[u8]) -> (&[u8], &[u8]) {
    let end = path.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
    let path = &path[..end];
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&[], path),
    }
}

/// The file type bits (`S_IFMT`) of `name` in `dir` now, not following a link; `None` if it
/// cannot be told.
fn kind_now(dir: RawFd, name: &CStr) -> Option<libc::mode_t> {
    // SAFETY: `stat` is plain data; all zeroes is a valid value for `fstatat` to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `name` is NUL-terminated and `st` a live, writable `stat`.
    retry(|| unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) })
        .ok()
        .map(|_| st.st_mode & libc::S_IFMT)
}

/// Whether `name` in `dir` is a symbolic link now (`false` if it cannot be told).
fn is_symlink(dir: RawFd, name: &CStr) -> bool {
    kind_now(dir, name) == Some(libc::S_IFLNK)
}

/// Whether `err`, from an `O_NOFOLLOW` open, may mean a symbolic link was there: `ELOOP`
/// (Linux, macOS, OpenBSD), `EMLINK` (FreeBSD), `EFTYPE` (NetBSD), or `ENOTDIR` (a link opened
/// with `O_DIRECTORY`, on some systems). The caller asks `readlinkat` to be sure.
fn maybe_symlink(err: &io::Error) -> bool {
    let code = err.raw_os_error();
    #[cfg(target_os = "netbsd")]
    if code == Some(libc::EFTYPE) {
        return true;
    }
    matches!(code, Some(libc::ELOOP | libc::EMLINK | libc::ENOTDIR))
}

/// Flags with which an `O_NOFOLLOW` open of a symbolic link succeeds, opening the link itself:
/// Linux's `O_PATH`.
#[cfg(any(target_os = "linux", target_os = "android"))]
const OPENS_LINKS: libc::c_int = libc::O_PATH;

/// Flags with which an `O_NOFOLLOW` open of a symbolic link succeeds: none here.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const OPENS_LINKS: libc::c_int = 0;

/// Whether `fd`, opened with `flags | O_NOFOLLOW`, is a symbolic link itself (see
/// `OPENS_LINKS`).
fn opened_link(fd: &OwnedFd, flags: libc::c_int) -> bool {
    if flags & OPENS_LINKS == 0 {
        return false;
    }
    // SAFETY: as in `is_symlink`.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is open and `st` a live, writable `stat`.
    let r = retry(|| unsafe { libc::fstat(fd.as_raw_fd(), &mut st) });
    r.is_ok() && st.st_mode & libc::S_IFMT == libc::S_IFLNK
}

/// Whether the name an `O_NOFOLLOW` open failed on with `open_err` (one that may mean a
/// symbolic link, [`maybe_symlink`]) changed since, now that `readlinkat` failed on it with
/// `readlink_err`; `kind_now` tells what is there now, asked only when it decides.
///
/// Gone (`ENOENT`) is a change. Not a link (`EINVAL`) after an error that only a link gives
/// (`ELOOP`, ...) is one. After `ENOTDIR`, which a file gives too, only a file there now (what
/// `ENOTDIR` said) is no change: a directory, a link again, or nothing (each seen in that order
/// while another thread swaps a directory for a link and back, between the open, the
/// `readlinkat` and the `fstatat`) all mean the name moved under the walk.
fn changed_since_open(
    open_err: &io::Error,
    readlink_err: &io::Error,
    kind_now: impl FnOnce() -> Option<libc::mode_t>,
) -> bool {
    match readlink_err.raw_os_error() {
        Some(libc::ENOENT) => true,
        Some(libc::EINVAL) if open_err.raw_os_error() != Some(libc::ENOTDIR) => true,
        Some(libc::EINVAL) => {
            !matches!(kind_now(), Some(k) if k != libc::S_IFDIR && k != libc::S_IFLNK)
        }
        _ => false,
    }
}

/// The components of `path` other than empty ones and `.`.
fn components(path: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    path.split(|&b| b == b'/').filter(|c| !c.is_empty() && *c != b".")
}

/// kqio's own resolution beneath `root` (ground rule 3), for `open`.
fn walk(root: RawFd, path: &[u8], flags: libc::c_int, mode: u32) -> io::Result<OwnedFd> {
    let follow_last = flags & libc::O_NOFOLLOW == 0;
    let mut flags = flags;
    if path.ends_with(b"/") && flags & libc::O_CREAT == 0 {
        // `name/` must be a directory, as the kernel's own resolution demands.
        flags |= libc::O_DIRECTORY;
    }
    let mut todo: VecDeque<Vec<u8>> = components(path).map(<[u8]>::to_vec).collect();
    let mut entered: Vec<OwnedFd> = Vec::new();
    let mut links = 0;
    loop {
        let here = entered.last().map_or(root, AsRawFd::as_raw_fd);
        let Some(name) = todo.pop_front() else {
            // The path ends at a directory already entered (`.`, `a/..`, a link to `.`).
            return open_at(here, c".", flags, mode);
        };
        if name == b".." {
            if entered.pop().is_none() {
                return Err(escape());
            }
            continue;
        }
        let last = todo.is_empty();
        let c = CString::new(name).expect("path components have no NUL");
        let open_flags = if last { flags | libc::O_NOFOLLOW } else { SEARCH | libc::O_NOFOLLOW };
        let err = match open_at(here, &c, open_flags, mode) {
            Ok(fd) if last && follow_last && opened_link(&fd, flags) => {
                io::Error::from_raw_os_error(libc::ELOOP)
            }
            Ok(fd) if last => return Ok(fd),
            Ok(fd) => {
                entered.push(fd);
                continue;
            }
            Err(e) => e,
        };
        if (last && !follow_last) || !maybe_symlink(&err) {
            return Err(err);
        }
        links += 1;
        let target = match read_link_at(here, &c) {
            Ok(target) => target,
            Err(e) => {
                // No link there now. If the name changed since the open, look again, counted
                // like a link so that a name that keeps changing cannot hold the walk;
                // otherwise the open's own error says what is there (a file: `ENOTDIR`).
                if !changed_since_open(&err, &e, || kind_now(here, &c)) || links > MAX_SYMLINKS {
                    return Err(err);
                }
                todo.push_front(c.into_bytes());
                continue;
            }
        };
        if links > MAX_SYMLINKS {
            return Err(io::Error::from_raw_os_error(libc::ELOOP));
        }
        let target = target.as_os_str().as_bytes();
        if target.starts_with(b"/") {
            return Err(escape());
        }
        if target.is_empty() {
            return Err(io::Error::from_raw_os_error(libc::ENOENT));
        }
        if target.ends_with(b"/") && last && flags & libc::O_CREAT == 0 {
            flags |= libc::O_DIRECTORY;
        }
        for part in components(target).rev() {
            todo.push_front(part.to_vec());
        }
    }
}

/// Linux 5.6+: `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`.
#[cfg(target_os = "linux")]
mod kernel {
    use std::ffi::CStr;
    use std::io;
    use std::os::fd::{FromRawFd, OwnedFd, RawFd};
    use std::sync::OnceLock;

    /// Tries of an `openat2` that says `EAGAIN` (a rename or mount elsewhere raced with a `..`
    /// it resolved, and the kernel could not prove it stayed beneath) before the walk, which
    /// holds what it has entered, takes over.
    const RACE_TRIES: usize = 8;

    pub(super) fn openat2(
        root: RawFd,
        path: &CStr,
        flags: libc::c_int,
        mode: u32,
    ) -> io::Result<OwnedFd> {
        // SAFETY: `open_how` is plain data; all zeroes is a valid value (and what the kernel
        // wants in fields we do not set).
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        how.flags = flags as libc::c_uint as u64;
        // `openat2` refuses a mode without `O_CREAT` (EINVAL), unlike `openat`.
        how.mode = if flags & libc::O_CREAT != 0 { u64::from(mode) } else { 0 };
        how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
        // SAFETY: `path` is NUL-terminated and `how` a live `open_how` of the size we pass; the
        // kernel only reads them.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                root,
                path.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `openat2` returned a new descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
    }

    /// Whether this kernel resolves beneath: an absolute path must be refused with `EXDEV`.
    /// `ENOSYS` (before 5.6), `EPERM` (a seccomp filter, as some container runtimes install)
    /// or `E2BIG` (a struct this kernel does not know) mean no; so does anything else, to be
    /// safe.
    fn available() -> bool {
        static AVAILABLE: OnceLock<bool> = OnceLock::new();
        *AVAILABLE.get_or_init(|| loop {
            match openat2(libc::AT_FDCWD, c"/", libc::O_PATH | libc::O_CLOEXEC, 0) {
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) => break e.raw_os_error() == Some(libc::EXDEV),
                Ok(_) => break false,
            }
        })
    }

    /// `openat2` beneath `root`; `None` where the walk must do it instead.
    pub(super) fn open(
        root: RawFd,
        path: &CStr,
        flags: libc::c_int,
        mode: u32,
    ) -> Option<io::Result<OwnedFd>> {
        if !available() {
            return None;
        }
        let mut tries = 0;
        loop {
            let err = match openat2(root, path, flags, mode) {
                Ok(fd) => return Some(Ok(fd)),
                Err(e) => e,
            };
            match err.raw_os_error() {
                // Retried: interrupted before it opened anything.
                Some(libc::EINTR) => {}
                // Retried (see RACE_TRIES), then left to the walk.
                Some(libc::EAGAIN) => {
                    tries += 1;
                    if tries == RACE_TRIES {
                        return None;
                    }
                }
                // The kernel's word for "it would leave the directory".
                Some(libc::EXDEV) => return Some(Err(super::escape())),
                _ => return Some(Err(err)),
            }
        }
    }
}

/// FreeBSD 13+: `openat` with `O_RESOLVE_BENEATH`.
#[cfg(target_os = "freebsd")]
mod kernel {
    use std::ffi::CStr;
    use std::io;
    use std::os::fd::{FromRawFd, OwnedFd, RawFd};
    use std::sync::OnceLock;

    use crate::sys::fs::retry;

    fn openat(root: RawFd, path: &CStr, flags: libc::c_int, mode: u32) -> io::Result<OwnedFd> {
        let flags = flags | libc::O_RESOLVE_BENEATH;
        // SAFETY: `path` is NUL-terminated; the mode is the variadic `c_uint` `openat` reads
        // with `O_CREAT`.
        let fd =
            retry(|| unsafe { libc::openat(root, path.as_ptr(), flags, mode as libc::c_uint) })?;
        // SAFETY: `openat` returned a new descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// Whether this kernel resolves beneath: an absolute path must be refused with
    /// `ENOTCAPABLE`. FreeBSD 12 and older ignore the flag (and open `/`): no.
    fn available() -> bool {
        static AVAILABLE: OnceLock<bool> = OnceLock::new();
        *AVAILABLE.get_or_init(|| {
            match openat(
                libc::AT_FDCWD,
                c"/",
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
                0,
            ) {
                Err(e) => e.raw_os_error() == Some(libc::ENOTCAPABLE),
                Ok(_) => false,
            }
        })
    }

    /// `openat(O_RESOLVE_BENEATH)` beneath `root`; `None` where the walk must do it instead.
    pub(super) fn open(
        root: RawFd,
        path: &CStr,
        flags: libc::c_int,
        mode: u32,
    ) -> Option<io::Result<OwnedFd>> {
        if !available() {
            return None;
        }
        Some(openat(root, path, flags, mode).map_err(|e| {
            // The kernel's word for "it would leave the directory".
            if e.raw_os_error() == Some(libc::ENOTCAPABLE) {
                super::escape()
            } else {
                e
            }
        }))
    }
}

/// No kernel resolution beneath a directory here: always the walk.
#[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
mod kernel {
    use std::ffi::CStr;
    use std::io;
    use std::os::fd::{OwnedFd, RawFd};

    pub(super) fn open(
        _root: RawFd,
        _path: &CStr,
        _flags: libc::c_int,
        _mode: u32,
    ) -> Option<io::Result<OwnedFd>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_last_table() {
        let cases: [(&[u8], &[u8], &[u8]); 7] = [
            (b"a", b"", b"a"),
            (b"a/b", b"a", b"b"),
            (b"a/b/", b"a", b"b"),
            (b"a//b//", b"a/", b"b"),
            (b"..", b"", b".."),
            (b"a/..", b"a", b".."),
            (b"", b"", b""),
        ];
        for (path, dir, name) in cases {
            assert_eq!(split_last(path), (dir, name), "{:?}", String::from_utf8_lossy(path));
        }
    }

    /// The probe's answer is what `openat2` does: on a kernel that has it (5.6+, no seccomp
    /// filter refusing it), confined directories use it; where it refuses, the walk.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_kernel_probe_matches_the_kernel() {
        let errno = match kernel::openat2(libc::AT_FDCWD, c"/", libc::O_PATH | libc::O_CLOEXEC, 0) {
            Ok(_) => panic!("openat2 opened / beneath the current directory"),
            Err(e) => e.raw_os_error(),
        };
        let kernel = kernel::open(libc::AT_FDCWD, c".", libc::O_PATH | libc::O_CLOEXEC, 0);
        match errno {
            Some(libc::EXDEV) => assert!(kernel.is_some(), "openat2 works, but is not used"),
            other => assert!(kernel.is_none(), "openat2 says {other:?}, but is used"),
        }
    }

    /// The walk and the kernel (where there is one) answer the same for each kind of path.
    #[test]
    fn the_walk_and_the_kernel_agree() {
        let base = std::env::temp_dir().join(format!("kqio-beneath-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("root/a/b")).unwrap();
        std::fs::write(base.join("root/a/b/f"), b"x").unwrap();
        std::fs::write(base.join("out"), b"x").unwrap();
        for (target, link) in [("../out", "up"), ("/", "abs"), ("a/b", "in"), ("l2", "l1")] {
            std::os::unix::fs::symlink(target, base.join("root").join(link)).unwrap();
        }
        std::os::unix::fs::symlink("l1", base.join("root/l2")).unwrap();
        let root_path = CString::new(base.join("root").as_os_str().as_bytes()).unwrap();
        let root = open_at(libc::AT_FDCWD, &root_path, SEARCH, 0).unwrap();
        let cases: [(&CStr, Result<(), Option<i32>>); 12] = [
            (c"a/b/f", Ok(())),
            (c"in/f", Ok(())),
            (c"in/../b/f", Ok(())),
            (c"a/b/../../a/b/f", Ok(())),
            (c".", Ok(())),
            (c"..", Err(None)),
            (c"a/../../out", Err(None)),
            (c"up", Err(None)),
            (c"abs/etc", Err(None)),
            (c"l1", Err(Some(libc::ELOOP))),
            (c"missing/f", Err(Some(libc::ENOENT))),
            (c"a/b/f/g", Err(Some(libc::ENOTDIR))),
        ];
        for how in [Resolver::Kernel, Resolver::Walk] {
            for (path, want) in &cases {
                let got =
                    open(root.as_raw_fd(), path, libc::O_RDONLY, 0, how).map(drop).map_err(|e| {
                        if PathEscapesDir::is_escape(&e) {
                            None
                        } else {
                            e.raw_os_error()
                        }
                    });
                assert_eq!(&got, want, "{how:?}: {path:?}");
            }
        }
        let _ = std::fs::remove_dir_all(&base);
    }

    /// When the walk looks at a name again (`changed_since_open`): every answer of the
    /// `readlinkat` after a failed `O_NOFOLLOW` open, and every kind found after it.
    #[test]
    fn a_name_that_changed_since_the_open_is_looked_at_again() {
        let e = io::Error::from_raw_os_error;
        let never = || -> Option<libc::mode_t> { panic!("fstatat asked when it cannot decide") };
        // Gone since the open: changed, whatever the open said.
        assert!(changed_since_open(&e(libc::ENOTDIR), &e(libc::ENOENT), never));
        assert!(changed_since_open(&e(libc::ELOOP), &e(libc::ENOENT), never));
        // The open met a link (only a link gives `ELOOP`), `readlinkat` none: changed.
        assert!(changed_since_open(&e(libc::ELOOP), &e(libc::EINVAL), never));
        assert!(changed_since_open(&e(libc::EMLINK), &e(libc::EINVAL), never));
        // `ENOTDIR` and no link: a file is what the open said; anything else is a change,
        // nothing there included (a directory swapped for a link and back, then moved away).
        let after_enotdir = |kind| changed_since_open(&e(libc::ENOTDIR), &e(libc::EINVAL), || kind);
        assert!(!after_enotdir(Some(libc::S_IFREG)));
        assert!(!after_enotdir(Some(libc::S_IFIFO)));
        assert!(after_enotdir(Some(libc::S_IFDIR)));
        assert!(after_enotdir(Some(libc::S_IFLNK)));
        assert!(after_enotdir(None));
        // Any other failure of `readlinkat` (no permission, ...) is the open's error to report.
        assert!(!changed_since_open(&e(libc::ENOTDIR), &e(libc::EACCES), never));
        assert!(!changed_since_open(&e(libc::ELOOP), &e(libc::EIO), never));
    }

    /// The walk under a directory swapped for a link out of the tree and back, as fast as
    /// another thread can: each resolution opens the directory, is refused, or finds nothing
    /// there; never `ENOTDIR`. Before `changed_since_open` weighed what the open, `readlinkat`
    /// and `fstatat` saw together, the walk took some swaps for a file: this test failed in
    /// each of four runs, within 0.3-1.4 s.
    #[test]
    fn the_walk_under_swaps_opens_refuses_or_finds_nothing() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        use std::time::{Duration, Instant};

        let base = std::env::temp_dir().join(format!("kqio-beneath-swap-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("root/a/b")).unwrap();
        std::fs::create_dir_all(base.join("outside/b")).unwrap();
        let root = base.join("root");
        let stop = Arc::new(AtomicBool::new(false));
        let attacker = {
            let (stop, root) = (stop.clone(), root.clone());
            std::thread::spawn(move || {
                let (b, moved) = (root.join("a/b"), root.join("a/b.moved"));
                while !stop.load(Ordering::Relaxed) {
                    std::fs::rename(&b, &moved).unwrap();
                    std::os::unix::fs::symlink("../../outside/b", &b).unwrap();
                    std::fs::remove_file(&b).unwrap();
                    std::fs::rename(&moved, &b).unwrap();
                }
            })
        };
        let root_path = CString::new(root.as_os_str().as_bytes()).unwrap();
        let root_fd = open_at(libc::AT_FDCWD, &root_path, SEARCH, 0).unwrap();
        let (mut opened, mut refused, mut gone) = (0u32, 0u32, 0u32);
        // 300,000 walks, or fewer where each is slow (ThreadSanitizer).
        let deadline = Instant::now() + Duration::from_secs(5);
        for i in 0..300_000 {
            if i % 1024 == 0 && Instant::now() > deadline {
                break;
            }
            match walk(root_fd.as_raw_fd(), b"a/b", SEARCH, 0) {
                Ok(_) => opened += 1,
                Err(e) if PathEscapesDir::is_escape(&e) => refused += 1,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => gone += 1,
                Err(e) => panic!("the walk of a/b failed with neither: {e}"),
            }
        }
        stop.store(true, Ordering::Relaxed);
        attacker.join().unwrap();
        let _ = std::fs::remove_dir_all(&base);
        eprintln!("opened {opened}, refused {refused}, gone {gone}");
        assert!(opened > 0 && refused > 0, "the swaps never raced the walk");
    }

    #[test]
    fn components_skip_empty_and_dot() {
        let parts: Vec<&[u8]> = components(b"./a//./b/../c/").collect();
        assert_eq!(parts, [&b"a"[..], b"b", b"..", b"c"]);
    }
}
