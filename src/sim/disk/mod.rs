//! The simulated disk (`SimDisk`): each host's in-memory file system behind every `fs_*`,
//! `dir_*`, `file_*` and `map_*` method of the `Io` trait, with durability, crashes, injected
//! faults and `flock` (issue 14, item 5).
//!
//! A passive model (see `sim/env.rs`): the world calls `SimDisk::<trait method>(env, host, ..)`
//! with the trait method's own arguments and return type (`dir_open_file` ->
//! `SimDisk::dir_open_file`), plus `SimDisk::new`, `SimDisk::add_host` and
//! `SimDisk::crash_host`. Handles are the crate's opaque `DirHandle`/`FileHandle`/
//! `EntriesHandle` over this module's own types; a handle made by another backend is an
//! `InvalidInput` error, never a panic.
//!
//! # The file system
//!
//! A tree of inodes per host (`tree.rs`): files, directories, symbolic links, hard links,
//! permission bits, owner and group, and `atime`/`mtime`/`ctime`. `fs_cwd` is the host's root
//! `/`. Paths resolve as POSIX says: `..`, symbolic links (at most 40 per resolution, then
//! `SymLinkLoop`), search permission on every directory passed; a confined `Dir`
//! (`dir_confine`) refuses absolute paths, `..` above it and links leading out with
//! `PathEscapesDir`. Errors are the errnos the kqueue backend's system calls give for the same
//! case, so `fs::Error` classifies them the same.
//!
//! - Who asks: one user and group per host ([`DiskOptions::uid`], `gid`; 1000 by default, not
//!   the superuser, so permission bits are enforced; uid 0 bypasses them as root does) with a
//!   umask ([`DiskOptions::umask`], `0o022`).
//! - Times: file times are read from the host's real clock (`Clock::Real`: the world's
//!   `ClockOptions::real_start` plus the time elapsed, with the host's offset, drift, steps and
//!   suspends), as a kernel reads its own. `atime` changes only through `set_timestamps` (as a
//!   `noatime` mount).
//! - Listing: `SimDisk::dir_entries` takes a snapshot of the directory, in byte order of
//!   the names; `dir_entries_next` hands it out in batches.
//! - `fs_stdio`: standard input is empty (reads end at once); standard output and error are
//!   captured per host (`SimDisk::stdout`, `SimDisk::stderr`), kept across crashes.
//! - `fs_pipe`: an in-memory pipe of [`DiskOptions::pipe_capacity`] bytes (`pipe.rs`).
//! - `file_is_tty` is always `false`.
//!
//! # Durability: what a crash keeps
//!
//! Each host keeps two images: the live one (what every operation sees) and the durable one (what
//! a crash leaves). Nothing reaches the durable image except through a `file_sync`:
//! - `file_sync` of a file (`File::sync`, `sync_data`): its data becomes durable; with
//!   `data_only: false` its metadata too (permissions, owner, times); with `data_only: true`
//!   (`fdatasync`) the data and length only.
//! - Directory entries (a create, delete, rename, link or symbolic link in a directory) become
//!   durable when *that directory* is synced: open it as a file (`dir_open_file` on its path,
//!   read only; `Dir::open_file(".", ..)`) and `file_sync` it. A rename between two
//!   directories needs both synced (syncing only the destination leaves both names after a
//!   crash; a directory reached by two names keeps the first in name order). A file first
//!   named durably this way arrives empty unless its data was synced too.
//!
//! That is POSIX's promise (`fsync` of a new file does not make its name durable; the
//! directory must be synced: the rule LevelDB, SQLite and PostgreSQL follow). Real journaling
//! file systems usually keep more: ext4 and XFS commit every earlier metadata change with any
//! `fsync`. [`DirDurability::OnAnySync`] models that instead: every `file_sync` on the host
//! also makes every directory's entries durable. Both models are stricter than real disks in
//! one way: un-synced data never survives a crash (a real disk writes back dirty pages within
//! seconds), except for the torn write below.
//!
//! A crash (`SimDisk::crash_host`) drops the live image, every open handle (they fail with
//! `InputOutput` afterwards) and every lock; with probability
//! [`DiskOptions::torn_write_probability`] the last write not yet synced is torn: a prefix of
//! it (0 to all but one of its bytes, uniformly) reaches the durable image, over the synced
//! data (a file whose inode is not durable at all loses it anyway). The restarted host sees
//! exactly the durable image.
//!
//! # Faults and latency
//!
//! Every operation on the disk waits a latency drawn uniformly from its class's [`Latency`]
//! (reads and lookups, writes and metadata changes, syncs), and then fails with `EIO`
//! (`InputOutput`) with probability [`DiskOptions::eio_probability`], having done nothing (an
//! `EIO` on a sync makes nothing durable). The effect happens when the latency ends: an
//! operation whose future is dropped before that did nothing. File data counts against
//! [`DiskOptions::capacity`] (logical sizes, holes included): a write that does not fit writes
//! what fits and reports the count, or fails with `NoSpace` if nothing fits. Independently of
//! the capacity, a write of at least one byte fails with `NoSpace` (`ENOSPC`), having written
//! nothing, with probability [`DiskOptions::enospc_probability`] (a disk that other programs
//! fill and empty).
//!
//! # `flock`
//!
//! `file_lock` has `flock` semantics within a host: locks belong to the open file description
//! (what one `dir_open_file` made, shared by its handle's clones) and go when its last handle
//! is dropped; shared locks coexist, an exclusive one excludes all others; a conversion that
//! cannot be granted drops the lock held (as Linux does). A waiting lock is a waker in the
//! inode's queue; every release wakes them all, and whoever is polled first takes it. A wait
//! dropped (canceled) leaves no lock and no waiter.
//!
//! # Not simulated
//!
//! - Memory maps: `file_map`, `map_flush`, `map_set_length` return `Unsupported` with a
//!   [`SimUnsupported`](crate::sim::SimUnsupported) naming the method inside (the bytes of
//!   a map are read and written by plain memory accesses the model cannot see or order).
//! - Pipes and standard streams are not disk files: `file_seek` on them says `ESPIPE`,
//!   `file_sync`, `file_set_length`, `file_lock` and the `file_set_*` methods `EINVAL`.
//! - Named pipes, sockets and devices on the disk, extended attributes, sticky and set-id bits'
//!   effects, `atime` updates, quotas per user, sparse files (holes take memory and capacity).
//! - A file's data is at most 4 GiB (`FileTooBig` beyond).
//!
//! # Cancellation
//!
//! Every future here is a cancellation point of the task polling it (the crate's task-local
//! `check_cancel`), at every poll until its effect happens: canceled, an operation has done
//! nothing (`Canceled` inside the `io::Error`); a pipe write canceled after some progress
//! reports the count. The effect itself is atomic: once it happens the result is returned,
//! whatever request came meanwhile. A future dropped before its effect did nothing (a pipe
//! write excepted, see `pipe.rs`).

mod handle;
mod host;
mod options;
mod pipe;
mod tree;
mod wait;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

use self::handle::{DiskFile, SimDir, SimEntries, SimFile};
use self::host::{Config, DirRef, HostDisk};
use self::options::{chance, Class};
pub use self::options::{DirDurability, DiskOptions, Latency};
use self::tree::{errno, Cred, ROOT};
use self::wait::{check_cancel, Delay, LockWait};
use super::env::{Env, HostId};
use super::log::EventLog;
use crate::fs::{
    Access, DirEntry, DirHandle, EntriesHandle, FileHandle, FileKind, FsFuture, Lock, MapHandle,
    MapOptions, Metadata, Offset, OpenOptions, Permissions, SetTimestamp, StdStream,
};
use crate::time::Timestamp;

struct Inner {
    hosts: BTreeMap<HostId, HostDisk>,
}

type Shared = Mutex<Inner>;

fn lock(shared: &Shared) -> MutexGuard<'_, Inner> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

fn wake(wakers: Vec<Waker>) {
    wakers.into_iter().for_each(Waker::wake);
}

/// The disk of `host` (`# Panics` on [`SimDisk`]).
fn host_mut(inner: &mut Inner, host: HostId) -> &mut HostDisk {
    inner.hosts.get_mut(&host).unwrap_or_else(|| panic!("kqio::sim: disk of host {host} not added"))
}

fn foreign() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "kqio: a handle made by another backend")
}

fn ready<T: Send + 'static>(r: io::Result<T>) -> FsFuture<T> {
    Box::pin(std::future::ready(r))
}

fn outcome<T>(r: &io::Result<T>) -> String {
    match r {
        Ok(_) => "ok".to_owned(),
        Err(e) => format!("error {e}"),
    }
}

/// Appends an operation's outcome to a log line, as [`outcome`] renders it.
fn log_outcome<T>(line: &mut EventLog, r: &io::Result<T>) {
    match r {
        Ok(_) => line.text("ok"),
        Err(e) => line.args(format_args!("error {e}")),
    }
}

/// What a mutating operation logs: the frequent ones as tokens (nothing is formatted unless the
/// log's lines are kept), the others as text formatted when the operation is made.
enum What {
    Text(String),
    /// `write {at:?} len={len}`.
    Write {
        at: Option<u64>,
        len: usize,
    },
    /// `sync data_only={data_only}`.
    Sync {
        data_only: bool,
    },
}

impl From<String> for What {
    fn from(s: String) -> What {
        What::Text(s)
    }
}

impl What {
    fn log(&self, line: &mut EventLog) {
        match self {
            What::Text(s) => line.text(s),
            What::Write { at, len } => {
                match at {
                    Some(at) => {
                        line.text("write Some(");
                        line.num(*at);
                        line.text(")");
                    }
                    None => line.text("write None"),
                }
                line.text(" len=");
                line.num(*len as u64);
            }
            What::Sync { data_only } => {
                line.text("sync data_only=");
                line.bool(*data_only);
            }
        }
    }
}

fn offset(o: Offset) -> Option<u64> {
    match o {
        Offset::Current => None,
        Offset::At(at) => Some(at),
    }
}

/// Every host's simulated disk (see the module docs).
///
/// # Panics
///
/// Every method taking a `host` panics if [`add_host`](Self::add_host) was not called for it
/// (a bug of the world, not of the application).
#[derive(Clone)]
pub(crate) struct SimDisk {
    shared: Arc<Shared>,
    options: Arc<DiskOptions>,
}

impl fmt::Debug for SimDisk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimDisk").field("options", &self.options).finish_non_exhaustive()
    }
}

impl SimDisk {
    /// Disks with `options`, for no host yet.
    pub(crate) fn new(options: DiskOptions) -> SimDisk {
        SimDisk {
            shared: Arc::new(Mutex::new(Inner { hosts: BTreeMap::new() })),
            options: Arc::new(options),
        }
    }

    /// Gives `host` an empty disk (a root directory made at `real_now`, the host's real clock
    /// now). Adding a host twice keeps its disk.
    pub(crate) fn add_host(&self, host: HostId, real_now: i64) {
        let o = &self.options;
        let cfg = Config {
            cred: Cred { uid: o.uid, gid: o.gid },
            umask: o.umask & 0o777,
            capacity: o.capacity,
            dir_durability: o.dir_durability,
        };
        lock(&self.shared).hosts.entry(host).or_insert_with(|| HostDisk::new(cfg, real_now));
    }

    /// Crashes `host`'s disk (see the module docs, "Durability"): its live image becomes the
    /// durable one (maybe with the last un-synced write torn into it), its handles go stale,
    /// its locks go and their waiters are woken. The restarted host sees the durable image.
    pub(crate) fn crash_host(&self, env: &Env, host: HostId) {
        let p = self.options.torn_write_probability;
        let (wakers, torn) = {
            let mut inner = lock(&self.shared);
            host_mut(&mut inner, host)
                .crash(|len| (len > 0 && chance(env, p)).then(|| env.random_u64() % len))
        };
        match torn {
            Some(t) => env.log(format_args!("disk h{host} crash: {t}")),
            None => env.log(format_args!("disk h{host} crash")),
        }
        wake(wakers);
    }

    /// What `host` wrote to its standard output so far.
    pub(crate) fn stdout(&self, host: HostId) -> Vec<u8> {
        host_mut(&mut lock(&self.shared), host).stdout.clone()
    }

    /// What `host` wrote to its standard error so far.
    pub(crate) fn stderr(&self, host: HostId) -> Vec<u8> {
        host_mut(&mut lock(&self.shared), host).stderr.clone()
    }

    /// Bytes of file data on `host`'s live disk.
    pub(crate) fn used(&self, host: HostId) -> u64 {
        host_mut(&mut lock(&self.shared), host).used()
    }

    /// One operation on `host`'s disk (module docs, "Faults and latency"): waits the latency
    /// of `class`, maybe fails with `EIO`, else runs `f` under the lock; logs `what` (mutating
    /// operations) with the outcome. `keep` (the handles involved) lives until the end, and is
    /// dropped after the lock is released. `desc` is the descriptor logged after `what`.
    #[allow(clippy::too_many_arguments)]
    fn job<T, K, F>(
        &self,
        env: &Env,
        host: HostId,
        class: Class,
        what: Option<What>,
        desc: Option<u64>,
        keep: K,
        f: F,
    ) -> FsFuture<T>
    where
        T: Send + 'static,
        K: Send + 'static,
        F: FnOnce(&mut HostDisk, i64) -> io::Result<T> + Send + 'static,
    {
        let (me, env) = (self.clone(), env.clone());
        Box::pin(async move {
            let latency = match class {
                Class::Read => me.options.read_latency,
                Class::Write => me.options.write_latency,
                Class::Sync => me.options.sync_latency,
            };
            check_cancel()?;
            let wait = latency.draw(&env);
            if wait > 0 {
                Delay { at: env.now().saturating_add(wait), env: env.clone(), registered: None }
                    .await?;
            }
            let writes_data = matches!(what, Some(What::Write { len, .. }) if len > 0);
            let r = if chance(&env, me.options.eio_probability) {
                Err(errno(libc::EIO))
            } else if writes_data && chance(&env, me.options.enospc_probability) {
                Err(errno(libc::ENOSPC))
            } else {
                let now = env.real_now(host);
                let mut inner = lock(&me.shared);
                f(host_mut(&mut inner, host), now)
            };
            if let Some(what) = what {
                env.log_with(&mut |line| {
                    line.text("disk h");
                    line.num(u64::from(host));
                    line.text(" ");
                    what.log(line);
                    if let Some(desc) = desc {
                        line.text(" desc=");
                        line.num(desc);
                    }
                    line.text(": ");
                    log_outcome(line, &r);
                });
            }
            drop(keep);
            r
        })
    }

    fn dir(&self, host: HostId, d: &DirHandle) -> io::Result<DirRef> {
        match d.downcast_ref::<SimDir>() {
            Some(s) if s.host == host => Ok(s.dir),
            _ => Err(foreign()),
        }
    }

    fn file(&self, host: HostId, f: &FileHandle) -> io::Result<Arc<SimFile>> {
        let file = f.downcast_arc::<SimFile>().ok_or_else(foreign)?;
        let owner = match &*file {
            SimFile::Disk(d) => Some(d.host),
            SimFile::Stdio { host, .. } => Some(*host),
            SimFile::Pipe(_) => None,
        };
        if owner.is_some_and(|h| h != host) {
            return Err(foreign());
        }
        Ok(file)
    }

    /// A disk file's `(gen, id)` and the `Arc` keeping it open, or `EINVAL` for a pipe or a
    /// standard stream (`ESPIPE` for `seek`).
    fn disk_file(
        &self,
        host: HostId,
        f: &FileHandle,
        not_disk: i32,
    ) -> io::Result<(u64, u64, Arc<SimFile>)> {
        let file = self.file(host, f)?;
        match &*file {
            SimFile::Disk(d) => Ok((d.gen, d.id, file.clone())),
            _ => Err(errno(not_disk)),
        }
    }

    fn device(host: HostId) -> u64 {
        u64::from(host) + 1
    }

    // ----- fs -----

    /// The host's root directory (`Io::fs_cwd`).
    pub(crate) fn fs_cwd(&self, _env: &Env, host: HostId) -> DirHandle {
        let gen = host_mut(&mut lock(&self.shared), host).gen;
        DirHandle::new(Arc::new(SimDir { host, dir: DirRef { gen, ino: ROOT, confined: false } }))
    }

    /// `Io::dir_confine`: the same directory, confined beneath itself.
    pub(crate) fn dir_confine(
        &self,
        _env: &Env,
        host: HostId,
        dir: &DirHandle,
    ) -> io::Result<DirHandle> {
        let d = self.dir(host, dir)?;
        Ok(DirHandle::new(Arc::new(SimDir { host, dir: DirRef { confined: true, ..d } })))
    }

    /// `Io::dir_open_file`.
    pub(crate) fn dir_open_file(
        &self,
        env: &Env,
        host: HostId,
        dir: &DirHandle,
        path: &Path,
        options: &OpenOptions,
    ) -> FsFuture<FileHandle> {
        let d = match self.dir(host, dir) {
            Ok(d) => d,
            Err(e) => return ready(Err(e)),
        };
        let (path, o) = (path.to_path_buf(), *options);
        let what = format!("open {path:?} {o:?}");
        let weak = Arc::downgrade(&self.shared);
        let class = if o.create || o.truncate { Class::Write } else { Class::Read };
        self.job(env, host, class, Some(what.into()), None, (), move |h, now| {
            let id = h.open_file(&d, &path, &o, now)?;
            Ok((h.gen, id))
        })
        .and_then_sync(move |(gen, id)| {
            FileHandle::new(Arc::new(SimFile::Disk(DiskFile { disk: weak, host, gen, id })))
        })
    }

    /// `Io::dir_open_dir`: opened from a confined directory, the new one is confined too.
    pub(crate) fn dir_open_dir(
        &self,
        env: &Env,
        host: HostId,
        dir: &DirHandle,
        path: &Path,
        follow_symlinks: bool,
    ) -> FsFuture<DirHandle> {
        let d = match self.dir(host, dir) {
            Ok(d) => d,
            Err(e) => return ready(Err(e)),
        };
        let path = path.to_path_buf();
        self.job(env, host, Class::Read, None, None, (), move |h, _| {
            let ino = h.open_dir(&d, &path, follow_symlinks)?;
            Ok(DirHandle::new(Arc::new(SimDir { host, dir: DirRef { gen: h.gen, ino, ..d } })))
        })
    }

    /// Runs a path operation on `dir`, or fails at once for a foreign handle.
    #[allow(clippy::too_many_arguments)]
    fn on_dir<T, F>(
        &self,
        env: &Env,
        host: HostId,
        dir: &DirHandle,
        class: Class,
        what: Option<What>,
        f: F,
    ) -> FsFuture<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut HostDisk, &DirRef, i64) -> io::Result<T> + Send + 'static,
    {
        match self.dir(host, dir) {
            Ok(d) => self.job(env, host, class, what, None, (), move |h, now| f(h, &d, now)),
            Err(e) => ready(Err(e)),
        }
    }

    /// `Io::dir_create_dir`.
    pub(crate) fn dir_create_dir(
        &self,
        env: &Env,
        host: HostId,
        dir: &DirHandle,
        path: &Path,
        perms: Permissions,
    ) -> FsFuture<()> {
        let path = path.to_path_buf();
        let what = format!("create_dir {path:?} {perms:?}");
        self.on_dir(env, host, dir, Class::Write, Some(what.into()), move |h, d, now| {
            h.create_dir(d, &path, perms, now)
        })
    }

    /// `Io::dir_create_dir_path`.
    pub(crate) fn dir_create_dir_path(
        &self,
        env: &Env,
        host: HostId,
        dir: &DirHandle,
        path: &Path,
        perms: Permissions,
    ) -> FsFuture<bool> {
        let path = path.to_path_buf();
        let what = format!("create_dir_path {path:?} {perms:?}");
        self.on_dir(env, host, dir, Class::Write, Some(what.into()), move |h, d, now| {
            h.create_dir_path(d, &path, perms, now)
        })
    }

    /// `Io::dir_stat`.
    pub(crate) fn dir_stat(&self, env: &Env, host: HostId, dir: &DirHandle) -> FsFuture<Metadata> {
        self.on_dir(env, host, dir, Class::Read, None, move |h, d, _| {
            h.stat_dir(d, Self::device(host))
        })
    }

    /// `Io::dir_stat_path`.
    pub(crate) fn dir_stat_path(
        &self,
        env: &Env,
        host: HostId,
        dir: &DirHandle,
        path: &Path,
        follow_symlinks: bool,
    ) -> FsFuture<Metadata> {
        let path = path.to_path_buf();
        self.on_dir(env, host, dir, Class::Read, None, move |h, d, _| {
            h.stat_path(d, &path, follow_symlinks, Self::device(host))
        })
    }

    /// `Io::dir_access`.
    pub(crate) fn dir_access(
        &self,
        env: &Env,
        host: HostId,
        dir: &DirHandle,
        path: &Path,
        access: Access,
    ) -> FsFuture<()> {
        let path = path.to_path_buf();
        self.on_dir(env, host, dir, Class::Read, None, move |h, d, _| h.access(d, &path, access))
    }

    /// `Io::dir_read_file`.
    pub(crate) fn dir_read_file(
        &self,
        env: &Env,
        host: HostId,
        dir: &DirHandle,
        path: &Path,
    ) -> FsFuture<Vec<u8>> {
        let path = path.to_path_buf();
        self.on_dir(env, host, dir, Class::Read, None, move |h, d, _| h.read_file(d, &path))
    }

    /// `Io::dir_write_file`.
    pub(crate) fn dir_write_file(
        &self,
        env: &Env,
        host: HostId,
        dir: &DirHandle,
        path: &Path,
        data: Vec<u8>,
        perms: Permissions,
    ) -> FsFuture<()> {
        let path = path.to_path_buf();
        let what = format!("write_file {path:?} len={} {perms:?}", data.len());
        self.on_dir(env, host, dir, Class::Write, Some(what.into()), move |h, d, now| {
            h.write_file(d, &path, &data, perms, now)
        })
    }

    /// `Io::dir_entries`: a snapshot of the directory, in name order.
    pub(crate) fn dir_entries(
        &self,
        env: &Env,
        host: HostId,
        dir: &DirHandle,
    ) -> FsFuture<EntriesHandle> {
        self.on_dir(env, host, dir, Class::Read, None, move |h, d, _| {
            let entries = h.entries(d)?;
            Ok(EntriesHandle::new(Arc::new(SimEntries(Mutex::new(entries.into())))))
        })
    }

    /// `Io::dir_entries_next`.
    pub(crate) fn dir_entries_next(
        &self,
        _env: &Env,
        _host: HostId,
        entries: &EntriesHandle,
        max: usize,
    ) -> FsFuture<Vec<DirEntry>> {
        let Some(e) = entries.downcast_ref::<SimEntries>() else { return ready(Err(foreign())) };
        let mut left = e.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = max.min(left.len());
        ready(Ok(left.drain(..n).collect()))
    }

    /// `Io::dir_real_path`: an absolute path on the host's disk.
    pub(crate) fn dir_real_path(
        &self,
        env: &Env,
        host: HostId,
        dir: &DirHandle,
        path: &Path,
    ) -> FsFuture<PathBuf> {
        let path = path.to_path_buf();
        self.on_dir(env, host, dir, Class::Read, None, move |h, d, _| h.real_path(d, &path))
    }

    /// `Io::dir_delete_file`.
    pub(crate) fn dir_delete_file(
        &self,
        env: &Env,
        host: HostId,
        dir: &DirHandle,
        path: &Path,
    ) -> FsFuture<()> {
        let path = path.to_path_buf();
        let what = format!("delete_file {path:?}");
        self.on_dir(env, host, dir, Class::Write, Some(what.into()), move |h, d, now| {
            h.delete_file(d, &path, now)
        })
    }

    /// `Io::dir_delete_dir`.
    pub(crate) fn dir_delete_dir(
        &self,
        env: &Env,
        host: HostId,
        dir: &DirHandle,
        path: &Path,
    ) -> FsFuture<()> {
        let path = path.to_path_buf();
        let what = format!("delete_dir {path:?}");
        self.on_dir(env, host, dir, Class::Write, Some(what.into()), move |h, d, now| {
            h.delete_dir(d, &path, now)
        })
    }

    /// `Io::dir_delete_tree`.
    pub(crate) fn dir_delete_tree(
        &self,
        env: &Env,
        host: HostId,
        dir: &DirHandle,
        path: &Path,
    ) -> FsFuture<()> {
        let path = path.to_path_buf();
        let what = format!("delete_tree {path:?}");
        self.on_dir(env, host, dir, Class::Write, Some(what.into()), move |h, d, now| {
            h.delete_tree(d, &path, now)
        })
    }

    /// `Io::dir_rename`: atomic in the live image; durable per directory (module docs).
    pub(crate) fn dir_rename(
        &self,
        env: &Env,
        host: HostId,
        old_dir: &DirHandle,
        old: &Path,
        new_dir: &DirHandle,
        new: &Path,
    ) -> FsFuture<()> {
        let nd = match self.dir(host, new_dir) {
            Ok(d) => d,
            Err(e) => return ready(Err(e)),
        };
        let (old, new) = (old.to_path_buf(), new.to_path_buf());
        let what = format!("rename {old:?} {new:?}");
        self.on_dir(env, host, old_dir, Class::Write, Some(what.into()), move |h, od, now| {
            h.rename(od, &old, &nd, &new, now)
        })
    }

    /// `Io::dir_symlink`.
    pub(crate) fn dir_symlink(
        &self,
        env: &Env,
        host: HostId,
        dir: &DirHandle,
        target: &Path,
        link: &Path,
    ) -> FsFuture<()> {
        let (target, link) = (target.to_path_buf(), link.to_path_buf());
        let what = format!("symlink {target:?} {link:?}");
        self.on_dir(env, host, dir, Class::Write, Some(what.into()), move |h, d, now| {
            h.symlink(d, &target, &link, now)
        })
    }

    /// `Io::dir_read_link`.
    pub(crate) fn dir_read_link(
        &self,
        env: &Env,
        host: HostId,
        dir: &DirHandle,
        path: &Path,
    ) -> FsFuture<PathBuf> {
        let path = path.to_path_buf();
        self.on_dir(env, host, dir, Class::Read, None, move |h, d, _| h.read_link(d, &path))
    }

    /// `Io::dir_hard_link`.
    pub(crate) fn dir_hard_link(
        &self,
        env: &Env,
        host: HostId,
        old_dir: &DirHandle,
        old: &Path,
        new_dir: &DirHandle,
        new: &Path,
    ) -> FsFuture<()> {
        let nd = match self.dir(host, new_dir) {
            Ok(d) => d,
            Err(e) => return ready(Err(e)),
        };
        let (old, new) = (old.to_path_buf(), new.to_path_buf());
        let what = format!("hard_link {old:?} {new:?}");
        self.on_dir(env, host, old_dir, Class::Write, Some(what.into()), move |h, od, now| {
            h.hard_link(od, &old, &nd, &new, now)
        })
    }

    /// `Io::dir_set_permissions`.
    pub(crate) fn dir_set_permissions(
        &self,
        env: &Env,
        host: HostId,
        dir: &DirHandle,
        path: &Path,
        perms: Permissions,
    ) -> FsFuture<()> {
        let path = path.to_path_buf();
        let what = format!("set_permissions {path:?} {perms:?}");
        self.on_dir(env, host, dir, Class::Write, Some(what.into()), move |h, d, now| {
            h.set_permissions(d, &path, perms, now)
        })
    }

    /// `Io::dir_set_owner`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn dir_set_owner(
        &self,
        env: &Env,
        host: HostId,
        dir: &DirHandle,
        path: &Path,
        owner: Option<u32>,
        group: Option<u32>,
        follow_symlinks: bool,
    ) -> FsFuture<()> {
        let path = path.to_path_buf();
        let what = format!("set_owner {path:?} {owner:?} {group:?}");
        self.on_dir(env, host, dir, Class::Write, Some(what.into()), move |h, d, now| {
            h.set_owner(d, &path, (owner, group), follow_symlinks, now)
        })
    }

    /// `Io::dir_set_timestamps`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn dir_set_timestamps(
        &self,
        env: &Env,
        host: HostId,
        dir: &DirHandle,
        path: &Path,
        atime: SetTimestamp,
        mtime: SetTimestamp,
        follow_symlinks: bool,
    ) -> FsFuture<()> {
        let path = path.to_path_buf();
        let what = format!("set_timestamps {path:?} {atime:?} {mtime:?}");
        self.on_dir(env, host, dir, Class::Write, Some(what.into()), move |h, d, now| {
            h.set_timestamps(d, &path, (atime, mtime), follow_symlinks, now)
        })
    }

    // ----- files -----

    /// Runs an operation on a disk file, or fails at once (`not_disk` for a pipe or a
    /// standard stream, `InvalidInput` for a foreign handle).
    #[allow(clippy::too_many_arguments)]
    fn on_file<T, F>(
        &self,
        env: &Env,
        host: HostId,
        file: &FileHandle,
        not_disk: i32,
        class: Class,
        what: Option<What>,
        f: F,
    ) -> FsFuture<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut HostDisk, u64, u64, i64) -> io::Result<T> + Send + 'static,
    {
        match self.disk_file(host, file, not_disk) {
            Ok((gen, id, keep)) => {
                self.job(env, host, class, what, Some(id), keep, move |h, now| f(h, gen, id, now))
            }
            Err(e) => ready(Err(e)),
        }
    }

    /// `Io::file_stat` (a pipe is a `NamedPipe`, a standard stream a `CharacterDevice`).
    pub(crate) fn file_stat(
        &self,
        env: &Env,
        host: HostId,
        file: &FileHandle,
    ) -> FsFuture<Metadata> {
        let f = match self.file(host, file) {
            Ok(f) => f,
            Err(e) => return ready(Err(e)),
        };
        let (kind, size) = match &*f {
            SimFile::Disk(_) => {
                return self.on_file(
                    env,
                    host,
                    file,
                    libc::EINVAL,
                    Class::Read,
                    None,
                    move |h, g, id, _| h.file_stat(g, id, Self::device(host)),
                )
            }
            SimFile::Pipe(end) => (FileKind::NamedPipe, end.buffered() as u64),
            SimFile::Stdio { .. } => (FileKind::CharacterDevice, 0),
        };
        let now = Timestamp::from_nanos(env.real_now(host));
        let o = &self.options;
        ready(Ok(Metadata::new(
            0,
            0,
            1,
            size,
            Permissions::from_mode(0o600),
            kind,
            o.uid,
            o.gid,
            [now; 3],
            tree::BLOCK_SIZE,
        )))
    }

    /// `Io::file_set_length`.
    pub(crate) fn file_set_length(
        &self,
        env: &Env,
        host: HostId,
        file: &FileHandle,
        len: u64,
    ) -> FsFuture<()> {
        let what = format!("set_length {len}");
        self.on_file(
            env,
            host,
            file,
            libc::EINVAL,
            Class::Write,
            Some(what.into()),
            move |h, g, id, now| h.set_length(g, id, len, now),
        )
    }

    /// `Io::file_read`.
    pub(crate) fn file_read(
        &self,
        env: &Env,
        host: HostId,
        file: &FileHandle,
        mut buf: Vec<u8>,
        len: usize,
        offset: Offset,
    ) -> FsFuture<Vec<u8>> {
        let f = match self.file(host, file) {
            Ok(f) => f,
            Err(e) => return ready(Err(e)),
        };
        match &*f {
            SimFile::Disk(_) => {
                let at = self::offset(offset);
                self.on_file(
                    env,
                    host,
                    file,
                    libc::EINVAL,
                    Class::Read,
                    None,
                    move |h, g, id, _| {
                        h.read(g, id, &mut buf, len, at)?;
                        Ok(buf)
                    },
                )
            }
            SimFile::Pipe(end) if !end.write => {
                if offset != Offset::Current {
                    return ready(Err(errno(libc::ESPIPE)));
                }
                Box::pin(async move {
                    std::future::poll_fn(|cx| match &*f {
                        // A cancellation point at every wait; canceled, it consumed nothing.
                        SimFile::Pipe(end) => match check_cancel() {
                            Ok(()) => end.poll_read(cx, &mut buf, len),
                            Err(e) => Poll::Ready(Err(e)),
                        },
                        _ => unreachable!("matched above"),
                    })
                    .await?;
                    Ok(buf)
                })
            }
            SimFile::Stdio { stream: StdStream::Input, .. } => ready(Ok(buf)),
            _ => ready(Err(errno(libc::EBADF))),
        }
    }

    /// `Io::file_write`.
    pub(crate) fn file_write(
        &self,
        env: &Env,
        host: HostId,
        file: &FileHandle,
        data: Vec<u8>,
        offset: Offset,
    ) -> FsFuture<(usize, Vec<u8>)> {
        let f = match self.file(host, file) {
            Ok(f) => f,
            Err(e) => return ready(Err(e)),
        };
        match &*f {
            SimFile::Disk(_) => {
                let at = self::offset(offset);
                let what = What::Write { at, len: data.len() };
                self.on_file(
                    env,
                    host,
                    file,
                    libc::EINVAL,
                    Class::Write,
                    Some(what),
                    move |h, g, id, now| {
                        let n = h.write(g, id, &data, at, now)?;
                        Ok((n, data))
                    },
                )
            }
            SimFile::Pipe(end) if end.write => {
                if offset != Offset::Current {
                    return ready(Err(errno(libc::ESPIPE)));
                }
                Box::pin(async move {
                    let mut done = 0;
                    let n = std::future::poll_fn(|cx| match &*f {
                        // A cancellation point at every wait; canceled after some progress, the
                        // count written (as the kqueue backend's stream writes).
                        SimFile::Pipe(end) => match check_cancel() {
                            Ok(()) => end.poll_write(cx, &data, &mut done),
                            Err(_) if done > 0 => Poll::Ready(Ok(done)),
                            Err(e) => Poll::Ready(Err(e)),
                        },
                        _ => unreachable!("matched above"),
                    })
                    .await?;
                    Ok((n, data))
                })
            }
            SimFile::Stdio { disk, host: h, stream } if *stream != StdStream::Input => {
                let Some(shared) = disk.upgrade() else { return ready(Err(errno(libc::EIO))) };
                let mut inner = lock(&shared);
                let h = host_mut(&mut inner, *h);
                match stream {
                    StdStream::Output => h.stdout.extend_from_slice(&data),
                    _ => h.stderr.extend_from_slice(&data),
                }
                ready(Ok((data.len(), data)))
            }
            _ => ready(Err(errno(libc::EBADF))),
        }
    }

    /// `Io::file_seek`.
    pub(crate) fn file_seek(
        &self,
        env: &Env,
        host: HostId,
        file: &FileHandle,
        pos: SeekFrom,
    ) -> FsFuture<u64> {
        self.on_file(env, host, file, libc::ESPIPE, Class::Read, None, move |h, g, id, _| {
            h.seek(g, id, pos)
        })
    }

    /// `Io::file_sync`: makes the file durable (module docs, "Durability").
    pub(crate) fn file_sync(
        &self,
        env: &Env,
        host: HostId,
        file: &FileHandle,
        data_only: bool,
    ) -> FsFuture<()> {
        let what = What::Sync { data_only };
        self.on_file(env, host, file, libc::EINVAL, Class::Sync, Some(what), move |h, g, id, _| {
            h.sync(g, id, data_only)
        })
    }

    /// `Io::file_set_permissions`.
    pub(crate) fn file_set_permissions(
        &self,
        env: &Env,
        host: HostId,
        file: &FileHandle,
        perms: Permissions,
    ) -> FsFuture<()> {
        let what = format!("set_permissions {perms:?}");
        self.on_file(
            env,
            host,
            file,
            libc::EINVAL,
            Class::Write,
            Some(what.into()),
            move |h, g, id, now| h.file_set_permissions(g, id, perms, now),
        )
    }

    /// `Io::file_set_owner`.
    pub(crate) fn file_set_owner(
        &self,
        env: &Env,
        host: HostId,
        file: &FileHandle,
        owner: Option<u32>,
        group: Option<u32>,
    ) -> FsFuture<()> {
        let what = format!("set_owner {owner:?} {group:?}");
        self.on_file(
            env,
            host,
            file,
            libc::EINVAL,
            Class::Write,
            Some(what.into()),
            move |h, g, id, now| h.file_set_owner(g, id, (owner, group), now),
        )
    }

    /// `Io::file_set_timestamps`.
    pub(crate) fn file_set_timestamps(
        &self,
        env: &Env,
        host: HostId,
        file: &FileHandle,
        atime: SetTimestamp,
        mtime: SetTimestamp,
    ) -> FsFuture<()> {
        let what = format!("set_timestamps {atime:?} {mtime:?}");
        self.on_file(
            env,
            host,
            file,
            libc::EINVAL,
            Class::Write,
            Some(what.into()),
            move |h, g, id, now| h.file_set_timestamps(g, id, (atime, mtime), now),
        )
    }

    /// `Io::file_lock` (module docs, "`flock`").
    pub(crate) fn file_lock(
        &self,
        env: &Env,
        host: HostId,
        file: &FileHandle,
        lock: Lock,
        wait: bool,
    ) -> FsFuture<bool> {
        match self.disk_file(host, file, libc::EINVAL) {
            Ok((gen, id, file)) => Box::pin(LockWait {
                shared: self.shared.clone(),
                env: env.clone(),
                _file: file,
                host,
                gen,
                id,
                lock,
                wait,
                key: None,
            }),
            Err(e) => ready(Err(e)),
        }
    }

    /// `Io::file_is_tty`: never.
    pub(crate) fn file_is_tty(&self, _env: &Env, _host: HostId, _file: &FileHandle) -> bool {
        false
    }

    /// `Io::file_real_path`.
    pub(crate) fn file_real_path(
        &self,
        env: &Env,
        host: HostId,
        file: &FileHandle,
    ) -> FsFuture<PathBuf> {
        self.on_file(env, host, file, libc::EINVAL, Class::Read, None, move |h, g, id, _| {
            h.file_real_path(g, id)
        })
    }

    #[allow(clippy::too_many_arguments)]
    /// `Io::file_copy`: one step between two disk files; through reads and writes when a
    /// pipe or a standard stream is involved (then up to `len`, or to the end of `from`).
    pub(crate) fn file_copy(
        &self,
        env: &Env,
        host: HostId,
        to: &FileHandle,
        to_offset: Offset,
        from: &FileHandle,
        from_offset: Offset,
        len: u64,
    ) -> FsFuture<u64> {
        let (t, f) = match self.file(host, to).and_then(|t| Ok((t, self.file(host, from)?))) {
            Ok(v) => v,
            Err(e) => return ready(Err(e)),
        };
        if let (SimFile::Disk(td), SimFile::Disk(fd)) = (&*t, &*f) {
            if td.gen != fd.gen {
                return ready(Err(errno(libc::EIO)));
            }
            let (gen, to_id, from_id) = (td.gen, td.id, fd.id);
            let (ta, fa) = (offset(to_offset), offset(from_offset));
            let what = format!("copy desc={from_id} {fa:?} to desc={to_id} {ta:?} len={len}");
            let what = Some(what.into());
            return self.job(env, host, Class::Write, what, None, (t, f), move |h, now| {
                h.copy(gen, (to_id, ta), (from_id, fa), len, now)
            });
        }
        let (me, env, to, from) = (self.clone(), env.clone(), to.clone(), from.clone());
        Box::pin(async move {
            let mut total = 0u64;
            while total < len {
                let chunk = (len - total).min(crate::fs::CHUNK_SIZE as u64) as usize;
                let at = |o: Offset| match o {
                    Offset::At(a) => Offset::At(a + total),
                    Offset::Current => Offset::Current,
                };
                let data =
                    me.file_read(&env, host, &from, Vec::new(), chunk, at(from_offset)).await?;
                if data.is_empty() {
                    break;
                }
                let want = data.len();
                let (n, _) = me.file_write(&env, host, &to, data, at(to_offset)).await?;
                total += n as u64;
                if n < want {
                    break;
                }
            }
            Ok(total)
        })
    }

    /// `Io::file_close`: drops this handle; the description closes with its last one.
    pub(crate) fn file_close(&self, _env: &Env, host: HostId, file: FileHandle) -> FsFuture<()> {
        let r = self.file(host, &file).map(drop);
        drop(file);
        ready(r)
    }

    /// `Io::file_map`: `Unsupported` (module docs, "Not simulated").
    pub(crate) fn file_map(
        &self,
        _env: &Env,
        _host: HostId,
        _file: &FileHandle,
        _options: MapOptions,
    ) -> FsFuture<MapHandle> {
        ready(Err(crate::sim::unsupported("file_map")))
    }

    /// `Io::map_flush`: `Unsupported` (no map is ever made).
    pub(crate) fn map_flush(
        &self,
        _env: &Env,
        _host: HostId,
        _map: &MapHandle,
        _offset: usize,
        _len: usize,
    ) -> FsFuture<()> {
        ready(Err(crate::sim::unsupported("map_flush")))
    }

    /// `Io::map_set_length`: `Unsupported` (no map is ever made).
    pub(crate) fn map_set_length(
        &self,
        _env: &Env,
        _host: HostId,
        _map: &MapHandle,
        _len: usize,
    ) -> FsFuture<MapHandle> {
        ready(Err(crate::sim::unsupported("map_set_length")))
    }

    /// `Io::fs_stdio`: standard input empty, output and error captured per host.
    pub(crate) fn fs_stdio(
        &self,
        _env: &Env,
        host: HostId,
        stream: StdStream,
    ) -> io::Result<FileHandle> {
        let disk = Arc::downgrade(&self.shared);
        Ok(FileHandle::new(Arc::new(SimFile::Stdio { disk, host, stream })))
    }

    /// `Io::fs_pipe`: `(read end, write end)`.
    pub(crate) fn fs_pipe(
        &self,
        _env: &Env,
        _host: HostId,
    ) -> io::Result<(FileHandle, FileHandle)> {
        let (r, w) = pipe::pipe(self.options.pipe_capacity);
        Ok((
            FileHandle::new(Arc::new(SimFile::Pipe(r))),
            FileHandle::new(Arc::new(SimFile::Pipe(w))),
        ))
    }
}

/// Maps a future's success value without another allocation's worth of ceremony.
trait AndThenSync<T> {
    fn and_then_sync<U: Send + 'static>(
        self,
        f: impl FnOnce(T) -> U + Send + 'static,
    ) -> FsFuture<U>;
}

impl<T: Send + 'static> AndThenSync<T> for FsFuture<T> {
    fn and_then_sync<U: Send + 'static>(
        self,
        f: impl FnOnce(T) -> U + Send + 'static,
    ) -> FsFuture<U> {
        Box::pin(async move { self.await.map(f) })
    }
}
