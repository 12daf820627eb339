//! The backend side of the vtable's fs methods: every operation is one job on the blocking pool
//! (`blocking.rs`), made of POSIX `*at` calls on the directory's descriptor; except reads and
//! writes of a *stream* file (a pipe, FIFO, terminal, character device or socket), which go
//! through the reactor as socket I/O does (`stream.rs`).
//!
//! Ground rules:
//! 1. Handles: a `FileHandle` holds an `Arc<OpenFile>` (a `std::fs::File`), a `DirHandle` an
//!    `Arc<OpenDir>` (a descriptor opened `O_DIRECTORY`, or none for the current directory,
//!    which is `AT_FDCWD`, and whether it is confined). A job holds its own clone of the `Arc`,
//!    so the descriptor outlives any job using it; the last clone closes it.
//! 2. Every descriptor is opened with `O_CLOEXEC` (`sys::fs::open_at` is the only plain `openat`
//!    call; `sys/beneath.rs` adds it too), so a child process spawned meanwhile inherits none.
//! 3. Paths become `CString`s on the calling thread, before the job is queued: a NUL byte fails
//!    at once and the job owns its arguments.
//! 4. `EINTR` is retried wherever a call may return it (`retry`), unless the job was asked to
//!    stop (`interrupt.rs`): `retry` checks before each attempt, so a canceled job's blocking
//!    call returns `Canceled` once its thread is signaled. No other errno is retried or ignored
//!    except where a comment says why.
//! 5. Nothing here has a `cfg(target_os)`: the platform differences live in `sys/fs.rs`.
//! 6. Every path a job is given goes through its `At`: plain `*at` calls on the directory's
//!    descriptor, or, for a confined directory, resolution beneath it (`sys/beneath.rs`): `open`
//!    for what is opened, `last` for calls on a last component that do not follow it, `followed`
//!    for calls that follow a final symbolic link.
//! 7. Stream files (`OpenFile::Stream`) are decided once, when the descriptor is opened: `fstat`
//!    says FIFO, character device or socket, the descriptor is made non-blocking and registered
//!    with the reactor. Where the poller refuses it (epoll: `EPERM` for `/dev/null`; kqueue:
//!    `EINVAL`/`ENODEV` for some devices) the flag is cleared again and the file stays on the
//!    pool. A stream's reads and writes are cancellation points at every wait and consume
//!    nothing when canceled; its other operations (stat, seek, close, ...) stay jobs. Standard
//!    input, output and error (`stdio`) are *never* made streams: `O_NONBLOCK` belongs to the
//!    open file description, which they share with the shell and other processes (a terminal
//!    left non-blocking breaks them, as tokio's and Zig's docs warn): they stay on the pool,
//!    where a canceled read is interrupted (`EINTR` consumes nothing); so is a file opened by a
//!    path that duplicates one of them (`/dev/stdin` on macOS and the BSDs), which is noticed by
//!    the flag showing up on the standard descriptor (`shares_stdio_description`).

use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::File;
use std::io::{self, SeekFrom};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::async_fd::AsyncFd;
use super::blocking::BlockingPool;
use super::interrupt;
use super::reactor::Reactor;
use super::stream::{copy_streams, job, read_fut, write_fut};
use crate::fs::{
    Access, DirEntry, DirHandle, EntriesHandle, FileHandle, FileKind, FsFuture, Lock, MapHandle,
    MapOptions, MappedRegion, Metadata, Offset, OpenOptions, Permissions, SetTimestamp, StdStream,
};
use crate::sys::beneath;
use crate::sys::fs::{self as sys, open_at, read_link_at, retry};

/// An open file of this backend: what its `FileHandle`s hold.
pub(crate) enum OpenFile {
    /// Every operation is a job on the pool.
    Blocking(File),
    /// Non-blocking and registered with the reactor: reads and writes wait for readiness there
    /// (ground rule 6).
    Stream(AsyncFd<File>),
}

/// An open directory of this backend: its descriptor (`None`: the current directory,
/// `AT_FDCWD`), shared with its confined views, and how paths under it are confined, if they are.
pub(crate) struct OpenDir {
    fd: Option<Arc<OwnedFd>>,
    beneath: Option<beneath::Resolver>,
}

impl OpenDir {
    fn at(&self) -> At {
        At {
            fd: self.fd.as_ref().map_or(libc::AT_FDCWD, |fd| fd.as_raw_fd()),
            beneath: self.beneath,
        }
    }
}

/// Where a job resolves its paths (ground rule 6): a directory descriptor, and whether paths
/// stay beneath it.
#[derive(Clone, Copy)]
struct At {
    fd: RawFd,
    beneath: Option<beneath::Resolver>,
}

impl At {
    /// Opens `path`, following a final symbolic link unless `flags` has `O_NOFOLLOW`.
    fn open(self, path: &CStr, flags: libc::c_int, mode: u32) -> io::Result<OwnedFd> {
        match self.beneath {
            None => open_at(self.fd, path, flags, mode),
            Some(how) => beneath::open(self.fd, path, flags, mode, how),
        }
    }

    /// `f(dir, name)` on `path`'s last component, which `f` must not follow: confined, `dir` is
    /// its parent (resolved beneath) and `name` one component.
    fn last<T>(self, path: &CStr, f: impl FnOnce(RawFd, &CStr) -> io::Result<T>) -> io::Result<T> {
        match self.beneath {
            None => f(self.fd, path),
            Some(how) => {
                let (dir, name) = beneath::parent(self.fd, path, how)?;
                f(dir.as_ref().map_or(self.fd, AsRawFd::as_raw_fd), &name)
            }
        }
    }

    /// `f(dir, name, confined)` on what `path` names, following a final symbolic link: plain,
    /// `f` follows it itself; confined (`confined` true), links were followed beneath already
    /// and `f` must pass its call's no-follow flag.
    fn followed<T>(
        self,
        path: &CStr,
        f: impl FnOnce(RawFd, &CStr, bool) -> io::Result<T>,
    ) -> io::Result<T> {
        match self.beneath {
            None => f(self.fd, path, false),
            Some(how) => beneath::follow(self.fd, path, how, |dir, name| f(dir, name, true)),
        }
    }
}

/// `AT_SYMLINK_NOFOLLOW` when `nofollow`, else 0.
fn nofollow_flag(nofollow: bool) -> libc::c_int {
    if nofollow {
        libc::AT_SYMLINK_NOFOLLOW
    } else {
        0
    }
}

/// The fs methods of the vtable, on a blocking pool (and the reactor, for streams).
pub(crate) struct Fs {
    pool: Arc<BlockingPool>,
    /// How directories made confined here resolve (`InitOptions::confine_by_walk`).
    confine: beneath::Resolver,
    reactor: Arc<Reactor>,
}

fn foreign() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "kqio: a handle made by another backend")
}

fn file(h: &FileHandle) -> io::Result<Arc<OpenFile>> {
    h.downcast_arc::<OpenFile>().ok_or_else(foreign)
}

fn dir(h: &DirHandle) -> io::Result<Arc<OpenDir>> {
    h.downcast_arc::<OpenDir>().ok_or_else(foreign)
}

fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(io::ErrorKind::InvalidInput, "kqio: a path with a NUL byte in it")
    })
}

fn open_flags(o: &OpenOptions) -> libc::c_int {
    let mut flags = match (o.read, o.write || o.append) {
        (_, false) => libc::O_RDONLY,
        (false, true) => libc::O_WRONLY,
        (true, true) => libc::O_RDWR,
    };
    if o.append {
        flags |= libc::O_APPEND;
    }
    if o.truncate {
        flags |= libc::O_TRUNC;
    }
    if o.create || o.exclusive {
        flags |= libc::O_CREAT;
    }
    if o.exclusive {
        flags |= libc::O_EXCL;
    }
    if !o.follow_symlinks {
        flags |= libc::O_NOFOLLOW;
    }
    if o.directory {
        flags |= libc::O_DIRECTORY;
    }
    flags
}

fn kind_of_mode(mode: libc::mode_t) -> FileKind {
    match mode & libc::S_IFMT {
        libc::S_IFREG => FileKind::File,
        libc::S_IFDIR => FileKind::Directory,
        libc::S_IFLNK => FileKind::SymLink,
        libc::S_IFIFO => FileKind::NamedPipe,
        libc::S_IFSOCK => FileKind::UnixDomainSocket,
        libc::S_IFBLK => FileKind::BlockDevice,
        libc::S_IFCHR => FileKind::CharacterDevice,
        _ => FileKind::Unknown,
    }
}

// The `stat` fields' types differ between platforms (`u16` modes on macOS, `i64` sizes, ...):
// these casts widen or are no-ops.
#[allow(clippy::unnecessary_cast)]
fn metadata(st: &libc::stat) -> Metadata {
    Metadata::new(
        st.st_ino as u64,
        st.st_dev as u64,
        st.st_nlink as u64,
        st.st_size as u64,
        Permissions::from_mode(st.st_mode as u32),
        kind_of_mode(st.st_mode),
        st.st_uid as u32,
        st.st_gid as u32,
        sys::stat_times(st),
        st.st_blksize as u64,
    )
}

fn fstat(fd: RawFd) -> io::Result<Metadata> {
    // SAFETY: `stat` is plain data; all zeroes is a valid value for `fstat` to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a live, writable `stat`.
    retry(|| unsafe { libc::fstat(fd, &mut st) })?;
    Ok(metadata(&st))
}

fn fstatat(dir: RawFd, path: &CStr, follow: bool) -> io::Result<Metadata> {
    // SAFETY: as in `fstat`.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
    // SAFETY: `path` is NUL-terminated and `st` a live, writable `stat`.
    retry(|| unsafe { libc::fstatat(dir, path.as_ptr(), &mut st, flags) })?;
    Ok(metadata(&st))
}

fn timespec(t: SetTimestamp) -> libc::timespec {
    match t {
        SetTimestamp::Unchanged => libc::timespec { tv_sec: 0, tv_nsec: libc::UTIME_OMIT },
        SetTimestamp::Now => libc::timespec { tv_sec: 0, tv_nsec: libc::UTIME_NOW },
        SetTimestamp::To(ts) => {
            let ns = ts.as_nanos();
            libc::timespec {
                tv_sec: ns.div_euclid(1_000_000_000) as libc::time_t,
                tv_nsec: ns.rem_euclid(1_000_000_000) as libc::c_long,
            }
        }
    }
}

/// `u32::MAX` as the "keep" id of `fchown`, whatever the width of `uid_t`/`gid_t`.
fn id_or_keep<T: TryFrom<u32> + Copy>(id: Option<u32>, keep: T) -> T {
    id.and_then(|v| T::try_from(v).ok()).unwrap_or(keep)
}

/// Reads the whole of `fd` into a vector, sized by `fstat` first; every read goes through
/// `retry`, so it can be interrupted (std's `read_to_end` retries `EINTR` itself).
fn read_all(file: &mut File) -> io::Result<Vec<u8>> {
    let fd = file.as_raw_fd();
    let hint = fstat(fd).map(|m| m.size as usize).unwrap_or(0);
    let mut buf = Vec::with_capacity(hint.saturating_add(1));
    loop {
        let before = buf.len();
        let want = (buf.capacity() - before).max(8192);
        read_into(fd, &mut buf, want, Offset::Current)?;
        if buf.len() == before {
            return Ok(buf);
        }
    }
}

/// One read of at most `len` bytes, appended to `buf`.
pub(super) fn read_into(
    fd: RawFd,
    buf: &mut Vec<u8>,
    len: usize,
    offset: Offset,
) -> io::Result<()> {
    buf.reserve(len);
    let spare = buf.spare_capacity_mut();
    let ptr = spare.as_mut_ptr().cast::<libc::c_void>();
    let len = len.min(spare.len());
    let n = match offset {
        // SAFETY: `ptr` is valid for `len` bytes of writes (spare capacity of `buf`), which the
        // kernel fills; no reference to that memory exists meanwhile.
        Offset::Current => retry(|| unsafe { libc::read(fd, ptr, len) })?,
        // SAFETY: as above.
        Offset::At(at) => retry(|| unsafe { libc::pread(fd, ptr, len, at as libc::off_t) })?,
    };
    // SAFETY: the kernel initialised the first `n` (<= len) bytes of the spare capacity.
    unsafe { buf.set_len(buf.len() + n as usize) };
    Ok(())
}

/// One `write` (or `pwrite` at `offset`) of `data`; the count.
pub(super) fn write_once(fd: RawFd, data: &[u8], offset: Offset) -> io::Result<usize> {
    let (ptr, len) = (data.as_ptr().cast::<libc::c_void>(), data.len());
    let n = match offset {
        // SAFETY: `ptr` is valid for `len` bytes of reads for the whole call.
        Offset::Current => retry(|| unsafe { libc::write(fd, ptr, len) })?,
        // SAFETY: as above.
        Offset::At(at) => retry(|| unsafe { libc::pwrite(fd, ptr, len, at as libc::off_t) })?,
    };
    Ok(n as usize)
}

/// Writes all of `data`; the count, which is short only if an error followed some progress (an
/// interrupted job included: what was written is reported).
pub(super) fn write_all_of(file: &File, data: &[u8], offset: Offset) -> io::Result<usize> {
    let fd = file.as_raw_fd();
    let mut done = 0;
    while done < data.len() {
        let at = match offset {
            Offset::Current => Offset::Current,
            Offset::At(at) => Offset::At(at + done as u64),
        };
        match write_once(fd, &data[done..], at) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if done == 0 => return Err(e),
            Err(_) => return Ok(done),
        }
    }
    Ok(done)
}

/// A directory stream (`DIR *`) over a descriptor it owns, and an error of `readdir` held back
/// until the entries read before it have been handed out (`entries_next`).
struct DirStream(*mut libc::DIR, Option<io::Error>);

// SAFETY: a `DIR *` may be used from any thread as long as one thread at a time does; every use
// goes through `&mut DirStream` (behind a `Mutex` when shared).
unsafe impl Send for DirStream {}

impl DirStream {
    /// Opens a stream over `fd` (which it takes over).
    fn new(fd: OwnedFd) -> io::Result<DirStream> {
        let raw = fd.into_raw_fd();
        // SAFETY: `raw` is an open directory descriptor we own; on success the stream owns it.
        let d = unsafe { libc::fdopendir(raw) };
        if d.is_null() {
            let err = io::Error::last_os_error();
            // SAFETY: on failure the descriptor is still ours to close.
            drop(unsafe { OwnedFd::from_raw_fd(raw) });
            return Err(err);
        }
        Ok(DirStream(d, None))
    }

    /// The next entry other than `.` and `..`, with its kind as the directory says.
    fn next(&mut self) -> io::Result<Option<(OsString, libc::c_uchar, u64)>> {
        loop {
            sys::clear_errno();
            // SAFETY: `self.0` is an open stream used by this thread only (see `Send`).
            let ent = unsafe { libc::readdir(self.0) };
            if ent.is_null() {
                let err = io::Error::last_os_error();
                return match err.raw_os_error() {
                    Some(0) | None => Ok(None),
                    _ => Err(err),
                };
            }
            // SAFETY: `readdir` returned a valid entry, alive until the next call on the stream;
            // `d_name` is NUL-terminated. The name is copied out before that.
            let (name, d_type, ino) = unsafe {
                let e = &*ent;
                (CStr::from_ptr(e.d_name.as_ptr()).to_bytes(), e.d_type, sys::dirent_ino(e))
            };
            if name == b"." || name == b".." {
                continue;
            }
            return Ok(Some((OsStr::from_bytes(name).to_os_string(), d_type, ino)));
        }
    }

    fn fd(&self) -> RawFd {
        // SAFETY: `self.0` is an open stream.
        unsafe { libc::dirfd(self.0) }
    }

    /// Back to the first entry (`rewinddir`), seeing the directory as it is now.
    fn rewind(&mut self) {
        // SAFETY: `self.0` is an open stream used by this thread only.
        unsafe { libc::rewinddir(self.0) }
    }
}

impl Drop for DirStream {
    fn drop(&mut self) {
        // SAFETY: the stream is open and owned by us; it closes its descriptor. Its error (only
        // EBADF, impossible here) is of no use.
        unsafe { libc::closedir(self.0) };
    }
}

fn kind_of_dtype(d_type: libc::c_uchar) -> FileKind {
    match d_type {
        libc::DT_REG => FileKind::File,
        libc::DT_DIR => FileKind::Directory,
        libc::DT_LNK => FileKind::SymLink,
        libc::DT_FIFO => FileKind::NamedPipe,
        libc::DT_SOCK => FileKind::UnixDomainSocket,
        libc::DT_BLK => FileKind::BlockDevice,
        libc::DT_CHR => FileKind::CharacterDevice,
        _ => FileKind::Unknown,
    }
}

/// One batch of up to `max` entries from `next`. An error after some entries were read is held
/// in `pending` and returned by the next call, so the entries already read are not lost; an
/// error held from the previous call is returned first.
fn fill_batch(
    next: &mut dyn FnMut() -> io::Result<Option<(OsString, libc::c_uchar, u64)>>,
    pending: &mut Option<io::Error>,
    max: usize,
    entry: impl Fn(OsString, libc::c_uchar, u64) -> DirEntry,
) -> io::Result<Vec<DirEntry>> {
    if let Some(err) = pending.take() {
        return Err(err);
    }
    let mut out = Vec::with_capacity(max.min(1024));
    while out.len() < max {
        match next() {
            Ok(Some((name, d_type, inode))) => out.push(entry(name, d_type, inode)),
            Ok(None) => break,
            Err(err) if out.is_empty() => return Err(err),
            Err(err) => {
                *pending = Some(err);
                break;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod fill_batch_tests {
    use super::*;

    /// `readdir` fails after two entries: the batch returns them, the next call the error.
    #[test]
    fn an_error_mid_batch_keeps_the_entries_read() {
        let mut left = vec![Err(io::Error::from_raw_os_error(libc::EIO)), Ok(2), Ok(1)];
        let mut next = || match left.pop() {
            Some(Ok(n)) => Ok(Some((OsString::from(format!("f{n}")), libc::DT_REG, n))),
            Some(Err(e)) => Err(e),
            None => Ok(None),
        };
        let entry = |name, _, inode| DirEntry { name, kind: FileKind::File, inode };
        let mut pending = None;
        let batch = fill_batch(&mut next, &mut pending, 10, entry).expect("the entries read");
        let names: Vec<_> = batch.iter().map(|e| e.name.to_str().unwrap()).collect();
        assert_eq!(names, ["f1", "f2"]);
        let err = fill_batch(&mut next, &mut pending, 10, entry).expect_err("then the error");
        assert_eq!(err.raw_os_error(), Some(libc::EIO));
        assert!(fill_batch(&mut next, &mut pending, 10, entry).unwrap().is_empty());
    }
}

/// The state behind an `EntriesHandle`.
struct Entries(Mutex<DirStream>);

/// `mkdir -p`: `Ok(true)` if `path` was created, `Ok(false)` if it was a directory already.
/// Anything else at `path` is ENOTDIR (`fs::ErrorKind::NotDir`), also when it appeared while the
/// parents were being made (a race with another creator): never `false` for a file.
fn create_dir_path(at: At, path: &Path, mode: libc::mode_t) -> io::Result<bool> {
    create_dir_path_with(at, path, mode, &|| {})
}

/// [`create_dir_path`], calling `after_parents` between making the missing parents and the last
/// `mkdirat` (where tests make the race happen).
fn create_dir_path_with(
    at: At,
    path: &Path,
    mode: libc::mode_t,
    after_parents: &dyn Fn(),
) -> io::Result<bool> {
    let c = cpath(path)?;
    match mkdir_or_existing_dir(at, &c, mode) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            match path.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => {
                    create_dir_path(at, parent, mode)?;
                }
                _ => return Err(e),
            }
            after_parents();
            mkdir_or_existing_dir(at, &c, mode)
        }
        r => r,
    }
}

/// `mkdirat`: `Ok(true)` if it made the directory, `Ok(false)` if a directory was there already
/// (made by someone else meanwhile, or long ago: it exists, as asked), ENOTDIR if something else
/// was.
fn mkdir_or_existing_dir(at: At, c: &CStr, mode: libc::mode_t) -> io::Result<bool> {
    // SAFETY: `n` is NUL-terminated (a `CStr`).
    let mkdir = |d: RawFd, n: &CStr| retry(|| unsafe { libc::mkdirat(d, n.as_ptr(), mode) });
    match at.last(c, mkdir) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
            if at.followed(c, |d, n, nf| fstatat(d, n, !nf))?.kind == FileKind::Directory {
                Ok(false)
            } else {
                Err(io::Error::from_raw_os_error(libc::ENOTDIR))
            }
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod create_dir_path_tests {
    use super::*;

    /// A file created at the path while its parents were being made is an error, not `false`
    /// (a directory that appears meanwhile is still `false`).
    #[test]
    fn a_file_appearing_in_the_race_is_not_a_directory() {
        let base = std::env::temp_dir().join(format!("kqio-mkdir-race-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir(&base).unwrap();
        let root = std::fs::File::open(&base).unwrap();
        let fd = At { fd: root.as_raw_fd(), beneath: None };
        let file = || drop(std::fs::File::create(base.join("a/b/c")).unwrap());
        let err = create_dir_path_with(fd, Path::new("a/b/c"), 0o755, &file).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOTDIR), "{err}");
        let dir = || std::fs::create_dir(base.join("x/y/z")).unwrap();
        assert!(!create_dir_path_with(fd, Path::new("x/y/z"), 0o755, &dir).unwrap());
        assert!(create_dir_path_with(fd, Path::new("p/q"), 0o755, &|| {}).unwrap());
        std::fs::remove_dir_all(&base).unwrap();
    }
}

/// Names `delete_tree` reads from a directory before deleting them: a bound on the memory of
/// one level (some tens of kilobytes), large enough that re-reading the directory from its start
/// after each batch costs little.
const DELETE_BATCH: usize = 1024;

/// Deletes `name` in `dir`, recursively if it is a directory; never follows symbolic links.
fn delete_tree(dir: RawFd, name: &CStr) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated.
    match retry(|| unsafe { libc::unlinkat(dir, name.as_ptr(), 0) }) {
        Ok(_) => return Ok(()),
        // A directory: Linux says EISDIR, macOS and the BSDs EPERM (then the stat below tells).
        Err(e) if matches!(e.raw_os_error(), Some(libc::EISDIR | libc::EPERM)) => {
            if fstatat(dir, name, false)?.kind != FileKind::Directory {
                return Err(e);
            }
        }
        Err(e) => return Err(e),
    }
    let fd = open_at(dir, name, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0)?;
    let mut stream = DirStream::new(fd)?;
    // Names first, then deletions, then a fresh pass from the start: unlinking entries while
    // `readdir` walks the same stream makes some systems skip entries (FreeBSD with 256 files,
    // its bug 57696; `rm` and `find` read first for that reason), and the final `rmdir` would
    // then fail with ENOTEMPTY. A pass that reads nothing ends it.
    let mut batch = Vec::new();
    loop {
        while batch.len() < DELETE_BATCH {
            let Some((child, _, _)) = stream.next()? else { break };
            batch.push(CString::new(child.into_vec()).expect("directory entries have no NUL"));
        }
        if batch.is_empty() {
            break;
        }
        for child in batch.drain(..) {
            match delete_tree(stream.fd(), &child) {
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {} // Gone meanwhile: as asked.
                r => r?,
            }
        }
        stream.rewind();
    }
    drop(stream);
    // SAFETY: as above.
    retry(|| unsafe { libc::unlinkat(dir, name.as_ptr(), libc::AT_REMOVEDIR) })?;
    Ok(())
}

/// A memory map of this backend: `memmap2`'s raw map, and the file to change its length.
struct Mapping {
    map: memmap2::MmapRaw,
    file: Arc<OpenFile>,
    offset: u64,
    writable: bool,
}

// SAFETY: `MmapRaw` maps `len()` bytes at `as_mut_ptr()` (page-aligned) until it is dropped, and
// this backend only ever calls `msync` on them (`flush_range`), never referencing the bytes.
unsafe impl MappedRegion for Mapping {
    fn as_ptr(&self) -> *mut u8 {
        self.map.as_mut_ptr()
    }
    fn len(&self) -> usize {
        self.map.len()
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

fn map(file: Arc<OpenFile>, offset: u64, len: usize, writable: bool) -> io::Result<Mapping> {
    if len == 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "kqio: a memory map of 0 bytes"));
    }
    // `memmap2` would accept any offset (it maps from the page below and returns a pointer into
    // it); Zig and `mmap` itself do not, and `MapOptions` documents the page-size rule.
    // SAFETY: `sysconf` only reads its argument.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if page > 0 && offset % page as u64 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "kqio: a memory map offset that is not a multiple of the page size",
        ));
    }
    let mut o = memmap2::MmapOptions::new();
    o.offset(offset).len(len);
    let map = if writable { o.map_raw(file.file())? } else { o.map_raw_read_only(file.file())? };
    Ok(Mapping { map, file, offset, writable })
}

impl Fs {
    /// The fs methods on `pool`, stream files on `reactor`; `confine_by_walk`: confined
    /// directories resolve by kqio's walk even where the kernel could
    /// (`InitOptions::confine_by_walk`).
    pub(crate) fn new(pool: Arc<BlockingPool>, reactor: Arc<Reactor>, confine_by_walk: bool) -> Fs {
        let confine =
            if confine_by_walk { beneath::Resolver::Walk } else { beneath::Resolver::Kernel };
        // The one way sys/ reaches a job's interrupt state (sys::fs::retry).
        crate::sys::interrupt::set_check(interrupt::check);
        Fs { pool, reactor, confine }
    }

    /// Queues `f` on the pool, interruptible; the future of its result (see `task/blocking.rs`).
    fn job<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> io::Result<T> + Send + 'static,
    ) -> FsFuture<T> {
        job(&self.pool, f)
    }

    /// A job on `dir` and `path`, or the error of a bad handle or path, without a job.
    fn at<T: Send + 'static>(
        &self,
        d: &DirHandle,
        path: &Path,
        f: impl FnOnce(At, &CStr) -> io::Result<T> + Send + 'static,
    ) -> FsFuture<T> {
        match dir(d).and_then(|d| Ok((d, cpath(path)?))) {
            Ok((d, c)) => self.job(move || f(d.at(), &c)),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }

    fn on_file<T: Send + 'static>(
        &self,
        h: &FileHandle,
        f: impl FnOnce(&File) -> io::Result<T> + Send + 'static,
    ) -> FsFuture<T> {
        match file(h) {
            Ok(of) => self.job(move || f(of.file())),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }

    pub(crate) fn cwd(&self) -> DirHandle {
        DirHandle::new(Arc::new(OpenDir { fd: None, beneath: None }))
    }

    /// The same directory, confined: it shares the descriptor (`Dir::confine`).
    pub(crate) fn confine(&self, d: &DirHandle) -> io::Result<DirHandle> {
        let d = dir(d)?;
        Ok(DirHandle::new(Arc::new(OpenDir { fd: d.fd.clone(), beneath: Some(self.confine) })))
    }

    pub(crate) fn open_file(
        &self,
        d: &DirHandle,
        p: &Path,
        o: &OpenOptions,
    ) -> FsFuture<FileHandle> {
        let (flags, mode) = (open_flags(o), o.permissions.mode());
        let reactor = self.reactor.clone();
        self.at(d, p, move |at, c| {
            let fd = at.open(c, flags, mode)?;
            Ok(FileHandle::new(Arc::new(OpenFile::new(fd, &reactor))))
        })
    }

    pub(crate) fn open_dir(&self, d: &DirHandle, p: &Path, follow: bool) -> FsFuture<DirHandle> {
        let mut flags = libc::O_RDONLY | libc::O_DIRECTORY;
        if !follow {
            flags |= libc::O_NOFOLLOW;
        }
        // A directory opened from a confined one is confined too, beneath itself.
        self.at(d, p, move |at, c| {
            let fd = Some(Arc::new(at.open(c, flags, 0)?));
            Ok(DirHandle::new(Arc::new(OpenDir { fd, beneath: at.beneath })))
        })
    }

    pub(crate) fn create_dir(&self, d: &DirHandle, p: &Path, perms: Permissions) -> FsFuture<()> {
        let mode = perms.mode() as libc::mode_t;
        self.at(d, p, move |at, c| {
            at.last(c, |dfd, n| {
                // SAFETY: `n` is NUL-terminated.
                retry(|| unsafe { libc::mkdirat(dfd, n.as_ptr(), mode) }).map(drop)
            })
        })
    }

    pub(crate) fn create_dir_path(
        &self,
        d: &DirHandle,
        p: &Path,
        perms: Permissions,
    ) -> FsFuture<bool> {
        let mode = perms.mode() as libc::mode_t;
        let path = p.to_path_buf();
        self.at(d, p, move |at, _| create_dir_path(at, &path, mode))
    }

    pub(crate) fn dir_stat(&self, d: &DirHandle) -> FsFuture<Metadata> {
        match dir(d) {
            Ok(d) => self.job(move || match &d.fd {
                Some(fd) => fstat(fd.as_raw_fd()),
                None => fstatat(libc::AT_FDCWD, c".", true),
            }),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }

    pub(crate) fn stat_path(&self, d: &DirHandle, p: &Path, follow: bool) -> FsFuture<Metadata> {
        self.at(d, p, move |at, c| match follow {
            true => at.followed(c, |dfd, n, nofollow| fstatat(dfd, n, !nofollow)),
            false => at.last(c, |dfd, n| fstatat(dfd, n, false)),
        })
    }

    pub(crate) fn access(&self, d: &DirHandle, p: &Path, a: Access) -> FsFuture<()> {
        let mut mode = 0;
        if a.read {
            mode |= libc::R_OK;
        }
        if a.write {
            mode |= libc::W_OK;
        }
        if a.execute {
            mode |= libc::X_OK;
        }
        if mode == 0 {
            mode = libc::F_OK;
        }
        self.at(d, p, move |at, c| {
            at.followed(c, |dfd, n, nofollow| {
                let flags = if nofollow { sys::ACCESS_NOFOLLOW } else { 0 };
                // SAFETY: `n` is NUL-terminated.
                retry(|| unsafe { libc::faccessat(dfd, n.as_ptr(), mode, flags) }).map(drop)
            })
        })
    }

    pub(crate) fn read_file(&self, d: &DirHandle, p: &Path) -> FsFuture<Vec<u8>> {
        self.at(d, p, |at, c| read_all(&mut File::from(at.open(c, libc::O_RDONLY, 0)?)))
    }

    pub(crate) fn write_file(
        &self,
        d: &DirHandle,
        p: &Path,
        data: Vec<u8>,
        perms: Permissions,
    ) -> FsFuture<()> {
        let mode = perms.mode();
        self.at(d, p, move |at, c| {
            let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC;
            let f = File::from(at.open(c, flags, mode)?);
            let n = write_all_of(&f, &data, Offset::Current)?;
            if n < data.len() {
                // An error after some progress: say so (write_all_of kept it quiet).
                return Err(io::ErrorKind::WriteZero.into());
            }
            Ok(())
        })
    }

    pub(crate) fn entries(&self, d: &DirHandle) -> FsFuture<EntriesHandle> {
        self.at(d, Path::new("."), |at, c| {
            // A fresh descriptor: its own read position, so two readers never share one.
            let fd = at.open(c, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
            Ok(EntriesHandle::new(Arc::new(Entries(Mutex::new(DirStream::new(fd)?)))))
        })
    }

    pub(crate) fn entries_next(&self, h: &EntriesHandle, max: usize) -> FsFuture<Vec<DirEntry>> {
        let Some(entries) = h.downcast_arc::<Entries>() else {
            return Box::pin(std::future::ready(Err(foreign())));
        };
        self.job(move || {
            let mut stream = entries.0.lock().unwrap_or_else(|e| e.into_inner());
            let stream = &mut *stream;
            let fd = stream.fd();
            let mut pending = stream.1.take();
            let batch =
                fill_batch(&mut || stream.next(), &mut pending, max, |name, d_type, inode| {
                    let mut kind = kind_of_dtype(d_type);
                    if kind == FileKind::Unknown {
                        // The file system did not say (DT_UNKNOWN): ask. A failure leaves Unknown.
                        if let Ok(c) = CString::new(name.as_bytes()) {
                            kind = fstatat(fd, &c, false).map_or(FileKind::Unknown, |m| m.kind);
                        }
                    }
                    DirEntry { name, kind, inode }
                });
            stream.1 = pending;
            batch
        })
    }

    pub(crate) fn real_path(&self, d: &DirHandle, p: &Path) -> FsFuture<PathBuf> {
        self.at(d, p, |at, c| sys::fd_path(at.open(c, sys::OPEN_PATH, 0)?.as_raw_fd()))
    }

    pub(crate) fn delete_file(&self, d: &DirHandle, p: &Path) -> FsFuture<()> {
        self.at(d, p, |at, c| {
            // SAFETY: `n` is NUL-terminated.
            at.last(c, |dfd, n| retry(|| unsafe { libc::unlinkat(dfd, n.as_ptr(), 0) }).map(drop))
        })
    }

    pub(crate) fn delete_dir(&self, d: &DirHandle, p: &Path) -> FsFuture<()> {
        self.at(d, p, |at, c| {
            at.last(c, |dfd, n| {
                // SAFETY: `n` is NUL-terminated.
                retry(|| unsafe { libc::unlinkat(dfd, n.as_ptr(), libc::AT_REMOVEDIR) }).map(drop)
            })
        })
    }

    pub(crate) fn delete_tree(&self, d: &DirHandle, p: &Path) -> FsFuture<()> {
        self.at(d, p, |at, c| match at.last(c, delete_tree) {
            // Nothing there: the tree is gone, as asked (Zig `deleteTree`).
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
            r => r,
        })
    }

    pub(crate) fn rename(
        &self,
        od: &DirHandle,
        o: &Path,
        nd: &DirHandle,
        n: &Path,
    ) -> FsFuture<()> {
        let new = dir(nd).and_then(|d| Ok((d, cpath(n)?)));
        let (nd, nc) = match new {
            Ok(v) => v,
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        self.at(od, o, move |old, oc| {
            old.last(oc, |ofd, on| {
                nd.at().last(&nc, |nfd, nn| {
                    // SAFETY: both names are NUL-terminated.
                    retry(|| unsafe { libc::renameat(ofd, on.as_ptr(), nfd, nn.as_ptr()) })
                        .map(drop)
                })
            })
        })
    }

    pub(crate) fn symlink(&self, d: &DirHandle, target: &Path, link: &Path) -> FsFuture<()> {
        let t = match cpath(target) {
            Ok(t) => t,
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        // The target is data, not resolved here: a confined directory may hold a link that
        // points outside it, which none of its own operations will follow (see the README).
        self.at(d, link, move |at, c| {
            at.last(c, |dfd, n| {
                // SAFETY: both paths are NUL-terminated.
                retry(|| unsafe { libc::symlinkat(t.as_ptr(), dfd, n.as_ptr()) }).map(drop)
            })
        })
    }

    pub(crate) fn read_link(&self, d: &DirHandle, p: &Path) -> FsFuture<PathBuf> {
        self.at(d, p, |at, c| at.last(c, read_link_at))
    }

    pub(crate) fn hard_link(
        &self,
        od: &DirHandle,
        o: &Path,
        nd: &DirHandle,
        n: &Path,
    ) -> FsFuture<()> {
        let (nd, nc) = match dir(nd).and_then(|d| Ok((d, cpath(n)?))) {
            Ok(v) => v,
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        self.at(od, o, move |old, oc| {
            old.last(oc, |ofd, on| {
                nd.at().last(&nc, |nfd, nn| {
                    // SAFETY: both names are NUL-terminated. Flags 0: a link to a symbolic link
                    // itself, never to what it points at.
                    retry(|| unsafe { libc::linkat(ofd, on.as_ptr(), nfd, nn.as_ptr(), 0) })
                        .map(drop)
                })
            })
        })
    }

    pub(crate) fn set_permissions(
        &self,
        d: &DirHandle,
        p: &Path,
        perms: Permissions,
    ) -> FsFuture<()> {
        let mode = perms.mode() as libc::mode_t;
        self.at(d, p, move |at, c| {
            at.followed(c, |dfd, n, nofollow| {
                let flags = nofollow_flag(nofollow);
                // SAFETY: `n` is NUL-terminated.
                retry(|| unsafe { libc::fchmodat(dfd, n.as_ptr(), mode, flags) }).map(drop)
            })
        })
    }

    pub(crate) fn set_owner(
        &self,
        d: &DirHandle,
        p: &Path,
        owner: Option<u32>,
        group: Option<u32>,
        follow: bool,
    ) -> FsFuture<()> {
        let (uid, gid) = (id_or_keep(owner, libc::uid_t::MAX), id_or_keep(group, libc::gid_t::MAX));
        let chown = move |dfd: RawFd, n: &CStr, flags| {
            // SAFETY: `n` is NUL-terminated.
            retry(|| unsafe { libc::fchownat(dfd, n.as_ptr(), uid, gid, flags) }).map(drop)
        };
        self.at(d, p, move |at, c| match follow {
            true => at.followed(c, |dfd, n, nofollow| chown(dfd, n, nofollow_flag(nofollow))),
            false => at.last(c, |dfd, n| chown(dfd, n, libc::AT_SYMLINK_NOFOLLOW)),
        })
    }

    pub(crate) fn set_timestamps(
        &self,
        d: &DirHandle,
        p: &Path,
        atime: SetTimestamp,
        mtime: SetTimestamp,
        follow: bool,
    ) -> FsFuture<()> {
        let times = [timespec(atime), timespec(mtime)];
        let utimens = move |dfd: RawFd, n: &CStr, flags| {
            // SAFETY: `n` is NUL-terminated and `times` two live `timespec`s.
            retry(|| unsafe { libc::utimensat(dfd, n.as_ptr(), times.as_ptr(), flags) }).map(drop)
        };
        self.at(d, p, move |at, c| match follow {
            true => at.followed(c, |dfd, n, nofollow| utimens(dfd, n, nofollow_flag(nofollow))),
            false => at.last(c, |dfd, n| utimens(dfd, n, libc::AT_SYMLINK_NOFOLLOW)),
        })
    }

    pub(crate) fn file_stat(&self, f: &FileHandle) -> FsFuture<Metadata> {
        self.on_file(f, |f| fstat(f.as_raw_fd()))
    }

    pub(crate) fn file_set_length(&self, f: &FileHandle, len: u64) -> FsFuture<()> {
        self.on_file(f, move |f| f.set_len(len))
    }

    pub(crate) fn file_read(
        &self,
        f: &FileHandle,
        buf: Vec<u8>,
        len: usize,
        at: Offset,
    ) -> FsFuture<Vec<u8>> {
        match file(f) {
            Ok(of) => read_fut(&self.pool, of, buf, len, at),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }

    pub(crate) fn file_write(
        &self,
        f: &FileHandle,
        data: Vec<u8>,
        at: Offset,
    ) -> FsFuture<(usize, Vec<u8>)> {
        match file(f) {
            Ok(of) => write_fut(&self.pool, of, data, at),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }

    /// A handle for a standard stream: a close-on-exec duplicate of its descriptor, kept on the
    /// pool (ground rule 6).
    pub(crate) fn stdio(&self, stream: StdStream) -> io::Result<FileHandle> {
        let fd = match stream {
            StdStream::Input => libc::STDIN_FILENO,
            StdStream::Output => libc::STDOUT_FILENO,
            StdStream::Error => libc::STDERR_FILENO,
        };
        // SAFETY: `fcntl` with integer arguments only; it does not block. The lowest free number
        // above the three standard ones, so the duplicate is never taken for one of them.
        let dup = retry(|| unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) })?;
        // SAFETY: a new descriptor that nothing else owns.
        let file = unsafe { File::from_raw_fd(dup) };
        Ok(FileHandle::new(Arc::new(OpenFile::Blocking(file))))
    }

    /// A new pipe, both ends streams (ground rule 6): `(read end, write end)`.
    pub(crate) fn pipe(&self) -> io::Result<(FileHandle, FileHandle)> {
        let (r, w) = crate::sys::pipe::pipe()?;
        let r = OpenFile::new(r, &self.reactor);
        let w = OpenFile::new(w, &self.reactor);
        Ok((FileHandle::new(Arc::new(r)), FileHandle::new(Arc::new(w))))
    }

    pub(crate) fn file_seek(&self, f: &FileHandle, pos: SeekFrom) -> FsFuture<u64> {
        self.on_file(f, move |f| std::io::Seek::seek(&mut &*f, pos))
    }

    pub(crate) fn file_sync(&self, f: &FileHandle, data_only: bool) -> FsFuture<()> {
        self.on_file(f, move |f| if data_only { f.sync_data() } else { f.sync_all() })
    }

    pub(crate) fn file_set_permissions(&self, f: &FileHandle, perms: Permissions) -> FsFuture<()> {
        let mode = perms.mode() as libc::mode_t;
        // SAFETY: `fchmod` only reads its arguments.
        self.on_file(f, move |f| retry(|| unsafe { libc::fchmod(f.as_raw_fd(), mode) }).map(drop))
    }

    pub(crate) fn file_set_owner(
        &self,
        f: &FileHandle,
        owner: Option<u32>,
        group: Option<u32>,
    ) -> FsFuture<()> {
        let (uid, gid) = (id_or_keep(owner, libc::uid_t::MAX), id_or_keep(group, libc::gid_t::MAX));
        self.on_file(f, move |f| {
            // SAFETY: `fchown` only reads its arguments.
            retry(|| unsafe { libc::fchown(f.as_raw_fd(), uid, gid) }).map(drop)
        })
    }

    pub(crate) fn file_set_timestamps(
        &self,
        f: &FileHandle,
        atime: SetTimestamp,
        mtime: SetTimestamp,
    ) -> FsFuture<()> {
        let times = [timespec(atime), timespec(mtime)];
        self.on_file(f, move |f| {
            // SAFETY: `times` is two live `timespec`s.
            retry(|| unsafe { libc::futimens(f.as_raw_fd(), times.as_ptr()) }).map(drop)
        })
    }

    pub(crate) fn file_lock(&self, f: &FileHandle, lock: Lock, wait: bool) -> FsFuture<bool> {
        let mut op = match lock {
            Lock::None => libc::LOCK_UN,
            Lock::Shared => libc::LOCK_SH,
            Lock::Exclusive => libc::LOCK_EX,
        };
        if !wait {
            op |= libc::LOCK_NB;
        }
        let mut job = self.on_file(f, move |f| {
            // SAFETY: `flock` only reads its arguments.
            match retry(|| unsafe { libc::flock(f.as_raw_fd(), op) }) {
                Ok(_) => Ok(true),
                // Held elsewhere, and we were asked not to wait: not an error.
                Err(e) if !wait && e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(false),
                Err(e) => Err(e),
            }
        });
        if !wait || lock == Lock::None {
            return job;
        }
        // The pool job records a blocking job; the wait is a file lock (the simulator's record
        // too), recorded over it on the pending path.
        Box::pin(std::future::poll_fn(move |cx| {
            let r = std::future::Future::poll(job.as_mut(), cx);
            crate::task::activity::pending_on(r, crate::task::WaitingOn::FileLock)
        }))
    }

    pub(crate) fn file_is_tty(&self, f: &FileHandle) -> bool {
        // SAFETY: `isatty` only reads its argument; it does not block.
        file(f).is_ok_and(|f| unsafe { libc::isatty(f.file().as_raw_fd()) } == 1)
    }

    pub(crate) fn file_real_path(&self, f: &FileHandle) -> FsFuture<PathBuf> {
        self.on_file(f, |f| sys::fd_path(f.as_raw_fd()))
    }

    pub(crate) fn file_copy(
        &self,
        to: &FileHandle,
        to_offset: Offset,
        from: &FileHandle,
        from_offset: Offset,
        len: u64,
    ) -> FsFuture<u64> {
        let (to, from) = match file(to).and_then(|t| Ok((t, file(from)?))) {
            Ok(v) => v,
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        if matches!(*to, OpenFile::Stream(_)) || matches!(*from, OpenFile::Stream(_)) {
            // A non-blocking end cannot be copied on the pool: copy through a buffer, each
            // side the way it is driven.
            return Box::pin(copy_streams(
                self.pool.clone(),
                to,
                to_offset,
                from,
                from_offset,
                len,
            ));
        }
        self.job(move || {
            let mut fo = match from_offset {
                Offset::At(o) => Some(o as i64),
                Offset::Current => None,
            };
            let mut tof = match to_offset {
                Offset::At(o) => Some(o as i64),
                Offset::Current => None,
            };
            let (from, to) = (from.file().as_raw_fd(), to.file().as_raw_fd());
            sys::copy_range(from, fo.as_mut(), to, tof.as_mut(), len)
        })
    }

    pub(crate) fn file_close(&self, f: FileHandle) -> FsFuture<()> {
        let of = match file(&f) {
            Ok(of) => of,
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        drop(f);
        self.job(move || match Arc::try_unwrap(of) {
            Ok(of) => {
                let file = match of {
                    OpenFile::Blocking(f) => f,
                    OpenFile::Stream(a) => a.into_inner(),
                };
                let fd = file.into_raw_fd();
                // SAFETY: `fd` is ours alone (the last handle) and is not used again. No retry on
                // EINTR: the descriptor is released whatever `close` returns.
                if unsafe { libc::close(fd) } == -1 {
                    let e = io::Error::last_os_error();
                    if e.raw_os_error() != Some(libc::EINTR) {
                        return Err(e);
                    }
                }
                Ok(())
            }
            // Another handle (a job still running) keeps it open; the last one closes it.
            Err(_) => Ok(()),
        })
    }

    pub(crate) fn file_map(&self, f: &FileHandle, o: MapOptions) -> FsFuture<MapHandle> {
        let of = match file(f) {
            Ok(of) => of,
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        self.job(move || Ok(MapHandle::new(Arc::new(map(of, o.offset, o.len, o.writable)?))))
    }

    pub(crate) fn map_flush(&self, m: &MapHandle, offset: usize, len: usize) -> FsFuture<()> {
        let Some(region) = m.downcast_ref::<Mapping>().map(|_| m.clone()) else {
            return Box::pin(std::future::ready(Err(foreign())));
        };
        self.job(move || {
            let m = region.downcast_ref::<Mapping>().expect("checked above");
            if len == 0 {
                return Ok(());
            }
            m.map.flush_range(offset, len)
        })
    }

    pub(crate) fn map_set_length(&self, m: &MapHandle, len: usize) -> FsFuture<MapHandle> {
        let Some(old) = m.downcast_ref::<Mapping>() else {
            return Box::pin(std::future::ready(Err(foreign())));
        };
        let (file, offset, writable) = (old.file.clone(), old.offset, old.writable);
        self.job(move || {
            file.file().set_len(offset + len as u64)?;
            Ok(MapHandle::new(Arc::new(map(file, offset, len, writable)?)))
        })
    }
}
