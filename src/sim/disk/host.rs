//! One host's disk: its live and durable images, its open file descriptions, its `flock`s and
//! its console capture; every file-system operation as one synchronous step on them.
//!
//! Ground rules:
//! 1. A method here is the whole effect of one operation, done at once under the disk's lock:
//!    the latency and the injected faults are the caller's (`mod.rs`). An error leaves nothing
//!    half done, except where a comment says (a short write at `ENOSPC`, `delete_tree`).
//! 2. Handles carry the host's generation; one from before a crash gets `EIO` (the process
//!    that held it is gone) and is otherwise ignored.
//! 3. Durability (the rule the module docs of `disk` state) lives in `sync` and `crash` only:
//!    every other operation changes the live image alone.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{self, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::task::Waker;

use super::tree::{errno, Cred, Ino, Inode, Node, Tree, Walk, R, ROOT, W, X};
use super::DirDurability;
use crate::fs::{Access, DirEntry, Lock, Metadata, OpenOptions, Permissions, SetTimestamp};

/// The largest file the model holds: 4 GiB (`EFBIG` beyond). Data lives in memory, holes
/// included, so a stray write at a huge offset fails instead of allocating terabytes.
pub(super) const MAX_FILE_SIZE: u64 = 1 << 32;

/// What a host's disk takes from [`DiskOptions`](super::DiskOptions).
#[derive(Clone, Copy, Debug)]
pub(super) struct Config {
    pub cred: Cred,
    pub umask: u32,
    pub capacity: Option<u64>,
    pub dir_durability: DirDurability,
}

/// A directory handle's view: the directory (by inode, so it survives renames) and whether
/// paths given with it stay beneath it.
#[derive(Clone, Copy, Debug)]
pub(super) struct DirRef {
    pub gen: u64,
    pub ino: Ino,
    pub confined: bool,
}

/// An open file description (what `open` makes; `flock` locks belong to it).
#[derive(Clone, Debug)]
pub(super) struct Desc {
    pub ino: Ino,
    pub read: bool,
    pub write: bool,
    pub append: bool,
    pub pos: u64,
}

/// The `flock` state of one inode.
#[derive(Default)]
pub(super) struct FileLocks {
    holders: BTreeMap<u64, Lock>,
    waiters: BTreeMap<u64, Waker>,
}

/// The last write not yet made durable, which a crash may tear: `len` bytes at `offset` of
/// `ino` (the bytes are the live file's there, as no later write has touched them).
#[derive(Clone, Copy, Debug)]
struct LastWrite {
    ino: Ino,
    offset: u64,
    len: u64,
}

/// One host's disk.
pub(super) struct HostDisk {
    pub cfg: Config,
    /// Bumped by every crash (ground rule 2).
    pub gen: u64,
    pub live: Tree,
    pub durable: Tree,
    next_ino: Ino,
    next_desc: u64,
    next_waiter: u64,
    descs: BTreeMap<u64, Desc>,
    locks: BTreeMap<Ino, FileLocks>,
    last_write: Option<LastWrite>,
    /// How many entries of the durable image name each inode: one no entry names and the live
    /// image no longer has can never become reachable again, and is dropped (`prune`).
    durable_refs: BTreeMap<Ino, u64>,
    /// Bytes of file data in the live image (capacity accounting).
    used: u64,
    /// Per file, the byte range outside which its live data equals its durable data (up to
    /// the shorter length), since its last sync: a sync copies only that range and sets the
    /// durable length, so it costs what changed, not the file's size.
    dirty: BTreeMap<Ino, Range<u64>>,
    /// File bytes copied to the durable image by syncs (for the model's tests).
    pub synced_bytes: u64,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl HostDisk {
    pub fn new(cfg: Config, now: i64) -> HostDisk {
        let live = Tree::with_root(cfg.cred, now);
        HostDisk {
            cfg,
            gen: 0,
            durable: live.clone(),
            live,
            next_ino: ROOT + 1,
            next_desc: 1,
            next_waiter: 1,
            descs: BTreeMap::new(),
            locks: BTreeMap::new(),
            last_write: None,
            durable_refs: BTreeMap::new(),
            used: 0,
            dirty: BTreeMap::new(),
            synced_bytes: 0,
            stdout: Vec::new(),
            stderr: Vec::new(),
        }
    }

    pub fn used(&self) -> u64 {
        self.used
    }

    fn cred(&self) -> Cred {
        self.cfg.cred
    }

    // ----- handles -----

    /// The directory of a handle: `EIO` from before a crash, `ENOENT` once it was deleted.
    fn dir_ino(&self, d: &DirRef) -> io::Result<Ino> {
        if d.gen != self.gen {
            return Err(errno(libc::EIO));
        }
        match self.live.inodes.get(&d.ino) {
            Some(i) if i.is_dir() && (i.nlink > 0 || d.ino == ROOT) => Ok(d.ino),
            _ => Err(errno(libc::ENOENT)),
        }
    }

    fn at(&self, d: &DirRef, path: &Path, follow: bool) -> io::Result<Walk> {
        let start = self.dir_ino(d)?;
        let confine = d.confined.then_some(start);
        self.live.walk(start, confine, path, follow, self.cred())
    }

    /// What `path` names, which must exist.
    fn lookup(&self, d: &DirRef, path: &Path, follow: bool) -> io::Result<Ino> {
        self.at(d, path, follow)?.ino.ok_or_else(|| errno(libc::ENOENT))
    }

    pub fn desc(&self, gen: u64, id: u64) -> io::Result<&Desc> {
        if gen != self.gen {
            return Err(errno(libc::EIO));
        }
        self.descs.get(&id).ok_or_else(|| errno(libc::EBADF))
    }

    fn desc_mut(&mut self, gen: u64, id: u64) -> io::Result<&mut Desc> {
        if gen != self.gen {
            return Err(errno(libc::EIO));
        }
        self.descs.get_mut(&id).ok_or_else(|| errno(libc::EBADF))
    }

    fn new_inode(&mut self, node: Node, mode: u32, now: i64) -> Ino {
        let ino = self.next_ino;
        self.next_ino += 1;
        let cred = self.cred();
        self.live.inodes.insert(ino, Inode::new(node, mode, cred.uid, cred.gid, now));
        ino
    }

    /// Drops `ino` from the live image if nothing names it and no description has it open.
    fn maybe_free(&mut self, ino: Ino) {
        let unused = self.live.inodes.get(&ino).is_some_and(|i| i.nlink == 0)
            && !self.descs.values().any(|d| d.ino == ino);
        if unused {
            if let Some(Inode { node: Node::File(data), .. }) = self.live.inodes.remove(&ino) {
                self.used -= data.len() as u64;
            }
            self.dirty.remove(&ino);
            self.locks.remove(&ino);
            self.prune(ino);
        }
    }

    /// Drops `ino` from the durable image if it is gone from the live one and no durable entry
    /// names it (a crash could not reach it, and no sync can name it again: inode numbers are
    /// never reused), and so on below it.
    fn prune(&mut self, ino: Ino) {
        if ino == ROOT
            || self.live.inodes.contains_key(&ino)
            || self.durable_refs.get(&ino).is_some_and(|&n| n > 0)
        {
            return;
        }
        if let Some(Inode { node: Node::Dir(children), .. }) = self.durable.inodes.remove(&ino) {
            for child in children.into_values() {
                self.unref_durable(child);
                self.prune(child);
            }
        }
    }

    fn unref_durable(&mut self, ino: Ino) {
        if let Some(n) = self.durable_refs.get_mut(&ino) {
            *n -= 1;
            if *n == 0 {
                self.durable_refs.remove(&ino);
            }
        }
    }

    fn file_data(&mut self, ino: Ino) -> io::Result<&mut Vec<u8>> {
        match &mut self.live.get_mut(ino)?.node {
            Node::File(data) => Ok(data),
            Node::Dir(_) => Err(errno(libc::EISDIR)),
            Node::Symlink(_) => Err(errno(libc::EINVAL)),
        }
    }

    /// Marks bytes `range` of file `ino` as possibly differing from its durable data.
    fn mark_dirty(&mut self, ino: Ino, range: Range<u64>) {
        let r = self.dirty.entry(ino).or_insert(range.clone());
        r.start = r.start.min(range.start);
        r.end = r.end.max(range.end);
    }

    /// Sets file `ino`'s length, counting the bytes against the capacity.
    fn resize(&mut self, ino: Ino, len: u64, now: i64) -> io::Result<()> {
        if len > MAX_FILE_SIZE {
            return Err(errno(libc::EFBIG));
        }
        let old = self.file_data(ino)?.len() as u64;
        if len > old {
            if let Some(cap) = self.cfg.capacity {
                if self.used + (len - old) > cap {
                    return Err(errno(libc::ENOSPC));
                }
            }
        }
        self.file_data(ino)?.resize(len as usize, 0);
        self.used = self.used + len - old;
        // Shrinking then growing again leaves zeros where the durable data may have bytes.
        self.mark_dirty(ino, len.min(old)..len.max(old));
        let i = self.live.get_mut(ino)?;
        i.mtime = now;
        i.ctime = now;
        Ok(())
    }

    /// Writes what fits of `data` at `offset` of file `ino`: the count, short only at the
    /// capacity (`ENOSPC` if nothing fits).
    fn write_at(&mut self, ino: Ino, offset: u64, data: &[u8], now: i64) -> io::Result<usize> {
        let old = self.file_data(ino)?.len() as u64;
        let room = match self.cfg.capacity {
            Some(cap) => old + cap.saturating_sub(self.used),
            None => u64::MAX,
        };
        let n = (data.len() as u64).min(room.saturating_sub(offset)) as usize;
        if n == 0 {
            if data.is_empty() {
                return Ok(0);
            }
            return Err(errno(libc::ENOSPC));
        }
        let end = offset + n as u64;
        if end > MAX_FILE_SIZE {
            return Err(errno(libc::EFBIG));
        }
        let buf = self.file_data(ino)?;
        if (buf.len() as u64) < end {
            buf.resize(end as usize, 0);
        }
        buf[offset as usize..end as usize].copy_from_slice(&data[..n]);
        self.used += end.max(old) - old;
        // A write past the end leaves a hole of zeros from the old end on.
        self.mark_dirty(ino, offset.min(old)..end);
        let i = self.live.get_mut(ino)?;
        i.mtime = now;
        i.ctime = now;
        self.last_write = Some(LastWrite { ino, offset, len: n as u64 });
        Ok(n)
    }

    fn read_at(&self, ino: Ino, offset: u64, len: usize, buf: &mut Vec<u8>) -> io::Result<()> {
        let data = match &self.live.get(ino)?.node {
            Node::File(data) => data,
            Node::Dir(_) => return Err(errno(libc::EISDIR)),
            Node::Symlink(_) => return Err(errno(libc::EINVAL)),
        };
        let start = (offset.min(data.len() as u64)) as usize;
        let end = start + len.min(data.len() - start);
        buf.extend_from_slice(&data[start..end]);
        Ok(())
    }

    // ----- directories -----

    pub fn open_file(
        &mut self,
        d: &DirRef,
        path: &Path,
        o: &OpenOptions,
        now: i64,
    ) -> io::Result<u64> {
        let write = o.write || o.append;
        let read = o.read || !write;
        let create = o.create || o.exclusive;
        // O_EXCL never follows a final link: it is there, so the file exists.
        let walk = self.at(d, path, o.follow_symlinks && !(create && o.exclusive))?;
        let ino = match walk.ino {
            Some(ino) => {
                if create && o.exclusive {
                    return Err(errno(libc::EEXIST));
                }
                let inode = self.live.get(ino)?;
                match inode.node {
                    Node::Symlink(_) => return Err(errno(libc::ELOOP)),
                    Node::Dir(_) if write || create => return Err(errno(libc::EISDIR)),
                    Node::File(_) if o.directory => return Err(errno(libc::ENOTDIR)),
                    _ => {}
                }
                let want = if read { R } else { 0 } | if write { W } else { 0 };
                self.live.check(ino, self.cred(), want)?;
                if o.truncate && write {
                    self.resize(ino, 0, now)?;
                }
                ino
            }
            None => {
                if !create {
                    return Err(errno(libc::ENOENT));
                }
                if walk.must_dir || o.directory {
                    return Err(errno(libc::EISDIR));
                }
                let name = walk.name.ok_or_else(|| errno(libc::EISDIR))?;
                self.live.check(walk.parent, self.cred(), W | X)?;
                let mode = o.permissions.mode() & !self.cfg.umask;
                let ino = self.new_inode(Node::File(Vec::new()), mode, now);
                self.live.link(walk.parent, name, ino, now)?;
                ino
            }
        };
        let id = self.next_desc;
        self.next_desc += 1;
        self.descs.insert(id, Desc { ino, read, write, append: o.append, pos: 0 });
        Ok(id)
    }

    pub fn open_dir(&self, d: &DirRef, path: &Path, follow: bool) -> io::Result<Ino> {
        let ino = self.lookup(d, path, follow)?;
        match self.live.get(ino)?.node {
            Node::Dir(_) => {}
            Node::Symlink(_) => return Err(errno(libc::ELOOP)),
            Node::File(_) => return Err(errno(libc::ENOTDIR)),
        }
        self.live.check(ino, self.cred(), R)?;
        Ok(ino)
    }

    fn mkdir(&mut self, walk: Walk, perms: Permissions, now: i64) -> io::Result<()> {
        let (Some(name), None) = (walk.name, walk.ino) else {
            return Err(errno(libc::EEXIST));
        };
        self.live.check(walk.parent, self.cred(), W | X)?;
        let ino = self.new_inode(Node::Dir(BTreeMap::new()), perms.mode() & !self.cfg.umask, now);
        self.live.link(walk.parent, name, ino, now)
    }

    pub fn create_dir(
        &mut self,
        d: &DirRef,
        path: &Path,
        perms: Permissions,
        now: i64,
    ) -> io::Result<()> {
        let walk = self.at(d, path, false)?;
        self.mkdir(walk, perms, now)
    }

    /// `mkdir -p`: `true` if the last directory was made here.
    pub fn create_dir_path(
        &mut self,
        d: &DirRef,
        path: &Path,
        perms: Permissions,
        now: i64,
    ) -> io::Result<bool> {
        let mut prefix = PathBuf::new();
        let mut created = false;
        for comp in path.components() {
            prefix.push(comp);
            created = false;
            if !matches!(comp, std::path::Component::Normal(_)) {
                continue;
            }
            let walk = self.at(d, &prefix, false)?;
            match walk.ino {
                None => {
                    self.mkdir(walk, perms, now)?;
                    created = true;
                }
                Some(ino) => {
                    let is_dir = match self.live.get(ino)?.node {
                        Node::Dir(_) => true,
                        Node::Symlink(_) => self
                            .at(d, &prefix, true)?
                            .ino
                            .is_some_and(|i| self.live.inodes.get(&i).is_some_and(Inode::is_dir)),
                        Node::File(_) => false,
                    };
                    if !is_dir {
                        return Err(errno(libc::ENOTDIR));
                    }
                }
            }
        }
        Ok(created)
    }

    pub fn stat_dir(&self, d: &DirRef, device: u64) -> io::Result<Metadata> {
        self.live.metadata(self.dir_ino(d)?, device)
    }

    pub fn stat_path(
        &self,
        d: &DirRef,
        path: &Path,
        follow: bool,
        device: u64,
    ) -> io::Result<Metadata> {
        self.live.metadata(self.lookup(d, path, follow)?, device)
    }

    pub fn access(&self, d: &DirRef, path: &Path, a: Access) -> io::Result<()> {
        let ino = self.lookup(d, path, true)?;
        let want = if a.read { R } else { 0 }
            | if a.write { W } else { 0 }
            | if a.execute { X } else { 0 };
        self.live.check(ino, self.cred(), want)
    }

    pub fn read_file(&self, d: &DirRef, path: &Path) -> io::Result<Vec<u8>> {
        let ino = self.lookup(d, path, true)?;
        self.live.check(ino, self.cred(), R)?;
        let mut out = Vec::new();
        self.read_at(ino, 0, usize::MAX, &mut out)?;
        Ok(out)
    }

    pub fn write_file(
        &mut self,
        d: &DirRef,
        path: &Path,
        data: &[u8],
        perms: Permissions,
        now: i64,
    ) -> io::Result<()> {
        let o = OpenOptions {
            read: false,
            write: true,
            truncate: true,
            create: true,
            permissions: perms,
            ..OpenOptions::default()
        };
        let id = self.open_file(d, path, &o, now)?;
        let ino = self.descs[&id].ino;
        let written = self.write_at(ino, 0, data, now);
        self.close(id);
        if written? < data.len() {
            // As the kqueue backend: an error after some progress says so.
            return Err(io::ErrorKind::WriteZero.into());
        }
        Ok(())
    }

    pub fn entries(&self, d: &DirRef) -> io::Result<Vec<DirEntry>> {
        let ino = self.dir_ino(d)?;
        self.live.check(ino, self.cred(), R)?;
        Ok(self
            .live
            .entries(ino)?
            .iter()
            .map(|(name, &inode)| DirEntry {
                name: name.clone(),
                kind: self.live.inodes[&inode].kind(),
                inode,
            })
            .collect())
    }

    pub fn real_path(&self, d: &DirRef, path: &Path) -> io::Result<PathBuf> {
        let ino = self.lookup(d, path, true)?;
        self.live.path_of(ino).ok_or_else(|| errno(libc::ENOENT))
    }

    pub fn delete_file(&mut self, d: &DirRef, path: &Path, now: i64) -> io::Result<()> {
        let walk = self.at(d, path, false)?;
        let name = walk.name.ok_or_else(|| errno(libc::EISDIR))?;
        let ino = walk.ino.ok_or_else(|| errno(libc::ENOENT))?;
        if self.live.get(ino)?.is_dir() {
            return Err(errno(libc::EISDIR));
        }
        self.live.check(walk.parent, self.cred(), W | X)?;
        self.live.unlink(walk.parent, &name, now)?;
        self.maybe_free(ino);
        Ok(())
    }

    /// Removes the empty directory `name` (inode `ino`) from `parent`.
    fn rmdir(&mut self, parent: Ino, name: &OsString, ino: Ino, now: i64) -> io::Result<()> {
        if !self.live.entries(ino)?.is_empty() {
            return Err(errno(libc::ENOTEMPTY));
        }
        self.live.unlink(parent, name, now)?;
        self.live.get_mut(ino)?.nlink = 0;
        self.maybe_free(ino);
        Ok(())
    }

    pub fn delete_dir(&mut self, d: &DirRef, path: &Path, now: i64) -> io::Result<()> {
        let walk = self.at(d, path, false)?;
        let name = walk.name.ok_or_else(|| errno(libc::EINVAL))?;
        let ino = walk.ino.ok_or_else(|| errno(libc::ENOENT))?;
        if !self.live.get(ino)?.is_dir() {
            return Err(errno(libc::ENOTDIR));
        }
        self.live.check(walk.parent, self.cred(), W | X)?;
        self.rmdir(walk.parent, &name, ino, now)
    }

    pub fn delete_tree(&mut self, d: &DirRef, path: &Path, now: i64) -> io::Result<()> {
        let walk = self.at(d, path, false)?;
        let Some(ino) = walk.ino else { return Ok(()) };
        let name = walk.name.ok_or_else(|| errno(libc::EINVAL))?;
        self.remove_entry(walk.parent, &name, ino, now)
    }

    /// Removes `name` (inode `ino`) from `parent`, everything below it first. What was
    /// removed before an error stays removed (as `rm -r`).
    fn remove_entry(&mut self, parent: Ino, name: &OsString, ino: Ino, now: i64) -> io::Result<()> {
        self.live.check(parent, self.cred(), W | X)?;
        if self.live.get(ino)?.is_dir() {
            let children: Vec<_> =
                self.live.entries(ino)?.iter().map(|(n, &i)| (n.clone(), i)).collect();
            for (child_name, child) in children {
                self.remove_entry(ino, &child_name, child, now)?;
            }
            self.rmdir(parent, name, ino, now)
        } else {
            self.live.unlink(parent, name, now)?;
            self.maybe_free(ino);
            Ok(())
        }
    }

    pub fn rename(
        &mut self,
        od: &DirRef,
        old: &Path,
        nd: &DirRef,
        new: &Path,
        now: i64,
    ) -> io::Result<()> {
        let o = self.at(od, old, false)?;
        let n = self.at(nd, new, false)?;
        let src = o.ino.ok_or_else(|| errno(libc::ENOENT))?;
        let (Some(oname), Some(nname)) = (o.name, n.name) else {
            return Err(errno(libc::EINVAL));
        };
        let src_dir = self.live.get(src)?.is_dir();
        if (o.must_dir || n.must_dir) && !src_dir {
            return Err(errno(libc::ENOTDIR));
        }
        self.live.check(o.parent, self.cred(), W | X)?;
        self.live.check(n.parent, self.cred(), W | X)?;
        if let Some(dst) = n.ino {
            if dst == src {
                return Ok(()); // Two names of one file: POSIX says do nothing.
            }
            match (src_dir, self.live.get(dst)?.is_dir()) {
                (true, false) => return Err(errno(libc::ENOTDIR)),
                (false, true) => return Err(errno(libc::EISDIR)),
                (true, true) if !self.live.entries(dst)?.is_empty() => {
                    return Err(errno(libc::ENOTEMPTY))
                }
                _ => {}
            }
        }
        if src_dir && self.live.is_ancestor(src, n.parent) {
            return Err(errno(libc::EINVAL));
        }
        if let Some(dst) = n.ino {
            if self.live.get(dst)?.is_dir() {
                self.rmdir(n.parent, &nname, dst, now)?;
            } else {
                self.live.unlink(n.parent, &nname, now)?;
                self.maybe_free(dst);
            }
        }
        self.live.unlink(o.parent, &oname, now)?;
        self.live.link(n.parent, nname, src, now)
    }

    pub fn symlink(&mut self, d: &DirRef, target: &Path, link: &Path, now: i64) -> io::Result<()> {
        let walk = self.at(d, link, false)?;
        let (Some(name), None) = (walk.name, walk.ino) else {
            return Err(errno(libc::EEXIST));
        };
        self.live.check(walk.parent, self.cred(), W | X)?;
        let ino = self.new_inode(Node::Symlink(target.to_path_buf()), 0o777, now);
        self.live.link(walk.parent, name, ino, now)
    }

    pub fn read_link(&self, d: &DirRef, path: &Path) -> io::Result<PathBuf> {
        match &self.live.get(self.lookup(d, path, false)?)?.node {
            Node::Symlink(target) => Ok(target.clone()),
            _ => Err(errno(libc::EINVAL)),
        }
    }

    pub fn hard_link(
        &mut self,
        od: &DirRef,
        old: &Path,
        nd: &DirRef,
        new: &Path,
        now: i64,
    ) -> io::Result<()> {
        let src = self.lookup(od, old, false)?;
        if self.live.get(src)?.is_dir() {
            return Err(errno(libc::EPERM));
        }
        let walk = self.at(nd, new, false)?;
        let (Some(name), None) = (walk.name, walk.ino) else {
            return Err(errno(libc::EEXIST));
        };
        self.live.check(walk.parent, self.cred(), W | X)?;
        self.live.link(walk.parent, name, src, now)
    }

    // ----- metadata, by path or by description -----

    fn is_owner(&self, ino: Ino) -> io::Result<bool> {
        let cred = self.cred();
        Ok(cred.uid == 0 || self.live.get(ino)?.uid == cred.uid)
    }

    fn chmod(&mut self, ino: Ino, perms: Permissions, now: i64) -> io::Result<()> {
        if !self.is_owner(ino)? {
            return Err(errno(libc::EPERM));
        }
        let i = self.live.get_mut(ino)?;
        i.mode = perms.mode();
        i.ctime = now;
        Ok(())
    }

    /// `chown`: the superuser may give anything away; anyone else may only set the owner to
    /// themselves and the group to their own.
    fn chown(
        &mut self,
        ino: Ino,
        owner: Option<u32>,
        group: Option<u32>,
        now: i64,
    ) -> io::Result<()> {
        let cred = self.cred();
        if cred.uid != 0 {
            let mine = self.live.get(ino)?.uid == cred.uid;
            if !mine || owner.is_some_and(|u| u != cred.uid) || group.is_some_and(|g| g != cred.gid)
            {
                return Err(errno(libc::EPERM));
            }
        }
        let i = self.live.get_mut(ino)?;
        i.uid = owner.unwrap_or(i.uid);
        i.gid = group.unwrap_or(i.gid);
        i.ctime = now;
        Ok(())
    }

    fn utimes(
        &mut self,
        ino: Ino,
        atime: SetTimestamp,
        mtime: SetTimestamp,
        now: i64,
    ) -> io::Result<()> {
        let explicit = matches!(atime, SetTimestamp::To(_)) || matches!(mtime, SetTimestamp::To(_));
        if !self.is_owner(ino)? {
            if explicit {
                return Err(errno(libc::EPERM));
            }
            self.live.check(ino, self.cred(), W)?;
        }
        let value = |t: SetTimestamp, old: i64| match t {
            SetTimestamp::Unchanged => old,
            SetTimestamp::Now => now,
            SetTimestamp::To(ts) => ts.as_nanos(),
        };
        let i = self.live.get_mut(ino)?;
        i.atime = value(atime, i.atime);
        i.mtime = value(mtime, i.mtime);
        i.ctime = now;
        Ok(())
    }

    pub fn set_permissions(
        &mut self,
        d: &DirRef,
        path: &Path,
        perms: Permissions,
        now: i64,
    ) -> io::Result<()> {
        let ino = self.lookup(d, path, true)?;
        self.chmod(ino, perms, now)
    }

    pub fn set_owner(
        &mut self,
        d: &DirRef,
        path: &Path,
        ids: (Option<u32>, Option<u32>),
        follow: bool,
        now: i64,
    ) -> io::Result<()> {
        let ino = self.lookup(d, path, follow)?;
        self.chown(ino, ids.0, ids.1, now)
    }

    pub fn set_timestamps(
        &mut self,
        d: &DirRef,
        path: &Path,
        times: (SetTimestamp, SetTimestamp),
        follow: bool,
        now: i64,
    ) -> io::Result<()> {
        let ino = self.lookup(d, path, follow)?;
        self.utimes(ino, times.0, times.1, now)
    }

    pub fn file_stat(&self, gen: u64, id: u64, device: u64) -> io::Result<Metadata> {
        self.live.metadata(self.desc(gen, id)?.ino, device)
    }

    pub fn file_set_permissions(
        &mut self,
        gen: u64,
        id: u64,
        perms: Permissions,
        now: i64,
    ) -> io::Result<()> {
        let ino = self.desc(gen, id)?.ino;
        self.chmod(ino, perms, now)
    }

    pub fn file_set_owner(
        &mut self,
        gen: u64,
        id: u64,
        ids: (Option<u32>, Option<u32>),
        now: i64,
    ) -> io::Result<()> {
        let ino = self.desc(gen, id)?.ino;
        self.chown(ino, ids.0, ids.1, now)
    }

    pub fn file_set_timestamps(
        &mut self,
        gen: u64,
        id: u64,
        times: (SetTimestamp, SetTimestamp),
        now: i64,
    ) -> io::Result<()> {
        let ino = self.desc(gen, id)?.ino;
        self.utimes(ino, times.0, times.1, now)
    }

    pub fn file_real_path(&self, gen: u64, id: u64) -> io::Result<PathBuf> {
        let ino = self.desc(gen, id)?.ino;
        self.live.path_of(ino).ok_or_else(|| errno(libc::ENOENT))
    }

    // ----- file data -----

    pub fn set_length(&mut self, gen: u64, id: u64, len: u64, now: i64) -> io::Result<()> {
        let desc = self.desc(gen, id)?;
        if !desc.write {
            return Err(errno(libc::EINVAL));
        }
        let ino = desc.ino;
        self.resize(ino, len, now)?;
        if let Some(w) = self.last_write.filter(|w| w.ino == ino && w.offset + w.len > len) {
            // Only the part still in the file can be torn.
            self.last_write = (w.offset < len).then_some(LastWrite { len: len - w.offset, ..w });
        }
        Ok(())
    }

    /// One read: appends at most `len` bytes at `offset` (or the position, which advances).
    pub fn read(
        &mut self,
        gen: u64,
        id: u64,
        buf: &mut Vec<u8>,
        len: usize,
        offset: Option<u64>,
    ) -> io::Result<()> {
        let desc = self.desc(gen, id)?;
        if !desc.read {
            return Err(errno(libc::EBADF));
        }
        let (ino, at) = (desc.ino, offset.unwrap_or(desc.pos));
        let before = buf.len();
        self.read_at(ino, at, len, buf)?;
        if offset.is_none() {
            self.desc_mut(gen, id)?.pos = at + (buf.len() - before) as u64;
        }
        Ok(())
    }

    /// Writes `data` at `offset` (or the position, which advances; or the end, appending): the
    /// count, short only at the capacity.
    pub fn write(
        &mut self,
        gen: u64,
        id: u64,
        data: &[u8],
        offset: Option<u64>,
        now: i64,
    ) -> io::Result<usize> {
        let desc = self.desc(gen, id)?;
        if !desc.write {
            return Err(errno(libc::EBADF));
        }
        let ino = desc.ino;
        // A positional write goes where it is told even in append mode (POSIX; Linux appends).
        let at = match offset {
            Some(at) => at,
            None if desc.append => self.live.get(ino)?.size(),
            None => desc.pos,
        };
        let n = self.write_at(ino, at, data, now)?;
        if offset.is_none() {
            self.desc_mut(gen, id)?.pos = at + n as u64;
        }
        Ok(n)
    }

    pub fn seek(&mut self, gen: u64, id: u64, pos: SeekFrom) -> io::Result<u64> {
        let desc = self.desc(gen, id)?;
        let base = match pos {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.live.get(desc.ino)?.size().checked_add_signed(d),
            SeekFrom::Current(d) => desc.pos.checked_add_signed(d),
        };
        let new = base.ok_or_else(|| errno(libc::EINVAL))?;
        self.desc_mut(gen, id)?.pos = new;
        Ok(new)
    }

    /// Copies up to `len` bytes between two descriptions of this host: the count.
    pub fn copy(
        &mut self,
        gen: u64,
        (to, to_off): (u64, Option<u64>),
        (from, from_off): (u64, Option<u64>),
        len: u64,
        now: i64,
    ) -> io::Result<u64> {
        let mut data = Vec::new();
        let len = usize::try_from(len.min(MAX_FILE_SIZE)).unwrap_or(usize::MAX);
        if !self.desc(gen, to)?.write {
            return Err(errno(libc::EBADF));
        }
        self.read(gen, from, &mut data, len, from_off)?;
        match self.write(gen, to, &data, to_off, now) {
            Ok(n) => {
                if from_off.is_none() && n < data.len() {
                    // Only what was written counts as consumed.
                    self.desc_mut(gen, from)?.pos -= (data.len() - n) as u64;
                }
                Ok(n as u64)
            }
            Err(e) => {
                if from_off.is_none() {
                    self.desc_mut(gen, from)?.pos -= data.len() as u64;
                }
                Err(e)
            }
        }
    }

    /// Closes description `id` (its last handle went): its locks go; the wakers to wake.
    pub fn close(&mut self, id: u64) -> Vec<Waker> {
        let Some(desc) = self.descs.remove(&id) else { return Vec::new() };
        let wakers = self.unlock(desc.ino, id);
        self.maybe_free(desc.ino);
        wakers
    }

    // ----- durability -----

    /// Makes `ino`'s data (and, unless `data_only`, its metadata) durable; for a directory,
    /// its entries too. Under [`DirDurability::OnAnySync`], every directory's entries.
    pub fn sync(&mut self, gen: u64, id: u64, data_only: bool) -> io::Result<()> {
        let ino = self.desc(gen, id)?.ino;
        self.sync_inode(ino, data_only);
        if self.live.get(ino)?.is_dir() {
            self.sync_entries(ino);
        }
        if self.cfg.dir_durability == DirDurability::OnAnySync {
            let dirs: Vec<Ino> =
                self.live.inodes.iter().filter(|(_, i)| i.is_dir()).map(|(&n, _)| n).collect();
            for dir in dirs {
                self.sync_entries(dir);
            }
        }
        if self.last_write.is_some_and(|w| w.ino == ino) {
            self.last_write = None;
        }
        Ok(())
    }

    /// The live inode's contents (a directory's entries excepted: `sync_entries`) and, unless
    /// `data_only`, metadata, copied to the durable image.
    fn sync_inode(&mut self, ino: Ino, data_only: bool) {
        let Some(live) = self.live.inodes.get(&ino) else { return };
        match self.durable.inodes.get_mut(&ino) {
            Some(durable) => {
                if let (Node::File(new), Node::File(old)) = (&live.node, &mut durable.node) {
                    // Outside the dirty range the two agree up to the shorter length
                    // (`dirty`): set the length, then copy the range.
                    let len = new.len();
                    old.resize(len, 0);
                    if let Some(r) = self.dirty.remove(&ino) {
                        let start = (r.start as usize).min(len);
                        let end = (r.end as usize).min(len);
                        old[start..end].copy_from_slice(&new[start..end]);
                        self.synced_bytes += (end - start) as u64;
                    }
                }
                if !data_only {
                    // Metadata only: the data was handled above (a directory's entries by
                    // `sync_entries`).
                    let Inode { node: _, mode, uid, gid, atime, mtime, ctime, nlink, parent } =
                        *live;
                    durable.mode = mode;
                    durable.uid = uid;
                    durable.gid = gid;
                    durable.atime = atime;
                    durable.mtime = mtime;
                    durable.ctime = ctime;
                    durable.nlink = nlink;
                    durable.parent = parent;
                }
            }
            None => {
                if let Node::File(data) = &live.node {
                    self.synced_bytes += data.len() as u64;
                }
                self.dirty.remove(&ino);
                let mut copy = live.clone();
                if let Node::Dir(entries) = &mut copy.node {
                    entries.clear();
                }
                self.durable.inodes.insert(ino, copy);
            }
        }
    }

    /// Directory `dir`'s entries made durable as they are live. An inode first named durably
    /// here arrives as a shell with its metadata: a file with no data (its data needs its own
    /// sync), a directory with no entries, a symbolic link whole.
    fn sync_entries(&mut self, dir: Ino) {
        let Ok(entries) = self.live.entries(dir) else { return };
        let entries = entries.clone();
        if !self.durable.inodes.contains_key(&dir) {
            self.sync_inode(dir, false);
        }
        for &child in entries.values() {
            if self.durable.inodes.contains_key(&child) {
                continue;
            }
            let Some(live) = self.live.inodes.get(&child) else { continue };
            let mut shell = live.clone();
            match &mut shell.node {
                Node::File(data) => {
                    // Its durable data is empty: all of the live data differs.
                    let len = data.len() as u64;
                    data.clear();
                    let r = self.dirty.entry(child).or_insert(0..len);
                    r.start = 0;
                    r.end = r.end.max(len);
                }
                Node::Dir(children) => children.clear(),
                Node::Symlink(_) => {}
            }
            self.durable.inodes.insert(child, shell);
        }
        for &child in entries.values() {
            *self.durable_refs.entry(child).or_default() += 1;
        }
        let old = match self.durable.inodes.get_mut(&dir) {
            Some(Inode { node: Node::Dir(durable), .. }) => std::mem::replace(durable, entries),
            _ => BTreeMap::new(),
        };
        for child in old.into_values() {
            self.unref_durable(child);
            self.prune(child);
        }
    }

    /// The crash: the live image becomes the durable one (repaired, `Tree::restored`), after
    /// the last un-synced write is torn into it when `tear` says how many of its bytes survive
    /// (given its length). Every description, lock and waiter goes; the wakers to wake.
    pub fn crash(&mut self, tear: impl FnOnce(u64) -> Option<u64>) -> (Vec<Waker>, Option<String>) {
        self.gen += 1;
        let mut torn = None;
        if let Some(w) = self.last_write.take() {
            let live = match self.live.inodes.get(&w.ino).map(|i| &i.node) {
                Some(Node::File(data)) => data.get(w.offset as usize..(w.offset + w.len) as usize),
                _ => None,
            };
            let durable = match self.durable.inodes.get_mut(&w.ino).map(|i| &mut i.node) {
                Some(Node::File(data)) => Some(data),
                _ => None,
            };
            if let (Some(bytes), Some(data)) = (live, durable) {
                if let Some(keep) = tear(w.len) {
                    let end = (w.offset + keep) as usize;
                    if data.len() < end {
                        data.resize(end, 0);
                    }
                    data[w.offset as usize..end].copy_from_slice(&bytes[..keep as usize]);
                    torn = Some(format!(
                        "torn write ino={} offset={} kept {keep} of {}",
                        w.ino, w.offset, w.len
                    ));
                }
            }
        }
        self.live = self.durable.restored();
        self.durable = self.live.clone();
        self.durable_refs.clear();
        self.dirty.clear();
        for inode in self.durable.inodes.values() {
            if let Node::Dir(entries) = &inode.node {
                for &child in entries.values() {
                    *self.durable_refs.entry(child).or_default() += 1;
                }
            }
        }
        self.used = self.live.data_bytes();
        self.descs.clear();
        let wakers = std::mem::take(&mut self.locks)
            .into_values()
            .flat_map(|l| l.waiters.into_values())
            .collect();
        (wakers, torn)
    }

    // ----- flock -----

    /// Takes, converts or drops description `id`'s lock: whether it holds `want` now, and the
    /// wakers to wake. A conversion that cannot be granted drops the lock held (as Linux's
    /// `flock` does: the old lock is removed before the new one is tried).
    pub fn try_lock(&mut self, gen: u64, id: u64, want: Lock) -> io::Result<(bool, Vec<Waker>)> {
        let ino = self.desc(gen, id)?.ino;
        if want == Lock::None {
            return Ok((true, self.unlock(ino, id)));
        }
        let locks = self.locks.entry(ino).or_default();
        let conflict = locks
            .holders
            .iter()
            .any(|(&d, &l)| d != id && (want == Lock::Exclusive || l == Lock::Exclusive));
        if conflict {
            return Ok((false, self.unlock(ino, id)));
        }
        let before = locks.holders.insert(id, want);
        let wakers = if before == Some(Lock::Exclusive) && want == Lock::Shared {
            locks.waiters.values().cloned().collect() // A downgrade lets sharers in.
        } else {
            Vec::new()
        };
        Ok((true, wakers))
    }

    /// Drops `id`'s lock on `ino`, if any: every waiter on `ino` to wake.
    fn unlock(&mut self, ino: Ino, id: u64) -> Vec<Waker> {
        let Some(locks) = self.locks.get_mut(&ino) else { return Vec::new() };
        if locks.holders.remove(&id).is_none() {
            return Vec::new();
        }
        let wakers = locks.waiters.values().cloned().collect();
        if locks.holders.is_empty() && locks.waiters.is_empty() {
            self.locks.remove(&ino);
        }
        wakers
    }

    /// Registers (or refreshes) a waiter for a lock on `id`'s inode; its key.
    pub fn wait_lock(
        &mut self,
        gen: u64,
        id: u64,
        key: Option<u64>,
        waker: &Waker,
    ) -> io::Result<u64> {
        let ino = self.desc(gen, id)?.ino;
        let key = key.unwrap_or_else(|| {
            self.next_waiter += 1;
            self.next_waiter
        });
        let slot = self.locks.entry(ino).or_default().waiters.entry(key);
        match slot {
            std::collections::btree_map::Entry::Occupied(mut e) => {
                if !e.get().will_wake(waker) {
                    e.insert(waker.clone());
                }
            }
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(waker.clone());
            }
        }
        Ok(key)
    }

    /// Forgets waiter `key` (a wait that ended or was dropped).
    pub fn forget_waiter(&mut self, key: u64) {
        let mut empty = None;
        for (&ino, locks) in &mut self.locks {
            if locks.waiters.remove(&key).is_some() {
                if locks.holders.is_empty() && locks.waiters.is_empty() {
                    empty = Some(ino);
                }
                break;
            }
        }
        if let Some(ino) = empty {
            self.locks.remove(&ino);
        }
    }

    /// How many inodes the durable image holds (for tests).
    #[cfg(test)]
    pub fn durable_inodes(&self) -> usize {
        self.durable.inodes.len()
    }

    /// How many descriptions hold a lock on `ino` (for tests).
    #[cfg(test)]
    pub fn holders(&self, ino: Ino) -> usize {
        self.locks.get(&ino).map_or(0, |l| l.holders.len())
    }
}
