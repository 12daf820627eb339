//! One file-system image: inodes (files, directories, symbolic links) in a `BTreeMap`, POSIX
//! path resolution over them, and the link bookkeeping every directory operation shares.
//!
//! Ground rules:
//! 1. A host has two images (`host.rs`): the live one every operation sees, and the durable one
//!    a crash falls back to. Both are this type; only the live one keeps `nlink` and `parent`
//!    exact as it goes. The durable one is repaired by [`Tree::restored`] when a crash makes it
//!    live (links counted again, unreachable inodes dropped).
//! 2. Errors are raw OS errors (`ENOENT`, `ENOTDIR`, `ELOOP`, ...) or [`PathEscapesDir`], so
//!    `fs::Error` classifies them exactly as it does the kqueue backend's.
//! 3. Iteration is over `BTreeMap`s only (names in byte order), so every walk is deterministic.

use std::collections::{BTreeMap, VecDeque};
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::fs::{FileKind, Metadata, PathEscapesDir, Permissions};
use crate::time::Timestamp;

/// An inode number. Never reused within a host's life (crashes included).
pub(super) type Ino = u64;

/// The root directory's inode.
pub(super) const ROOT: Ino = 1;

/// Symbolic links one resolution follows before `ELOOP`: Linux's `MAXSYMLINKS`.
pub(super) const MAX_SYMLINKS: u32 = 40;

/// The longest name of one component (`NAME_MAX`), in bytes: `NameTooLong` beyond.
pub(super) const NAME_MAX: usize = 255;

/// The longest path, in bytes, its terminating NUL included (`PATH_MAX`).
pub(super) const PATH_MAX: usize = 4096;

/// The size `stat` reports for a directory: one block, as ext4 says for a small one.
const DIR_SIZE: u64 = 4096;

/// The preferred I/O size `stat` reports.
pub(super) const BLOCK_SIZE: u64 = 4096;

pub(super) fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// What an inode holds.
#[derive(Clone, Debug)]
pub(super) enum Node {
    File(Vec<u8>),
    Dir(BTreeMap<OsString, Ino>),
    Symlink(PathBuf),
}

/// One inode. Times are nanoseconds on the real clock (see the module docs of `disk`).
#[derive(Clone, Debug)]
pub(super) struct Inode {
    pub node: Node,
    /// Permission bits (low 12 bits of the mode).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub atime: i64,
    pub mtime: i64,
    pub ctime: i64,
    /// Names it has (a directory: 2 + its subdirectories, as POSIX systems count).
    pub nlink: u64,
    /// A directory's parent (the root's is itself); unused for other kinds.
    pub parent: Ino,
}

impl Inode {
    pub fn new(node: Node, mode: u32, uid: u32, gid: u32, now: i64) -> Inode {
        let nlink = if matches!(node, Node::Dir(_)) { 1 } else { 0 };
        Inode {
            node,
            mode: mode & 0o7777,
            uid,
            gid,
            atime: now,
            mtime: now,
            ctime: now,
            nlink,
            parent: ROOT,
        }
    }

    pub fn kind(&self) -> FileKind {
        match self.node {
            Node::File(_) => FileKind::File,
            Node::Dir(_) => FileKind::Directory,
            Node::Symlink(_) => FileKind::SymLink,
        }
    }

    pub fn is_dir(&self) -> bool {
        matches!(self.node, Node::Dir(_))
    }

    pub fn size(&self) -> u64 {
        match &self.node {
            Node::File(data) => data.len() as u64,
            Node::Dir(_) => DIR_SIZE,
            Node::Symlink(target) => target.as_os_str().len() as u64,
        }
    }
}

/// Who asks: the simulated process's user and group.
#[derive(Clone, Copy, Debug)]
pub(super) struct Cred {
    pub uid: u32,
    pub gid: u32,
}

/// Access bits, as in a mode's `rwx` triple.
pub(super) const R: u32 = 4;
pub(super) const W: u32 = 2;
pub(super) const X: u32 = 1;

/// Where a path led: the directory holding its last component, that component's name (`None`
/// when the path ends in `.`, `..` or is `/`: then there is no name to create or delete), and
/// the inode it names, if it exists.
#[derive(Debug)]
pub(super) struct Walk {
    pub parent: Ino,
    pub name: Option<OsString>,
    pub ino: Option<Ino>,
    /// The path ended with a `/`: what it names must be a directory.
    pub must_dir: bool,
}

enum Comp {
    Root,
    Cur,
    Up,
    Name(OsString),
}

fn comps(path: &Path) -> VecDeque<Comp> {
    path.components()
        .filter_map(|c| match c {
            Component::RootDir => Some(Comp::Root),
            Component::CurDir => Some(Comp::Cur),
            Component::ParentDir => Some(Comp::Up),
            Component::Normal(n) => Some(Comp::Name(n.to_os_string())),
            Component::Prefix(_) => None,
        })
        .collect()
}

/// One file-system image (ground rule 1).
#[derive(Clone, Debug, Default)]
pub(super) struct Tree {
    pub inodes: BTreeMap<Ino, Inode>,
}

impl Tree {
    /// An image holding only an empty root directory, made at `now`.
    pub fn with_root(cred: Cred, now: i64) -> Tree {
        let mut root = Inode::new(Node::Dir(BTreeMap::new()), 0o755, cred.uid, cred.gid, now);
        root.nlink = 2;
        let mut inodes = BTreeMap::new();
        inodes.insert(ROOT, root);
        Tree { inodes }
    }

    pub fn get(&self, ino: Ino) -> io::Result<&Inode> {
        self.inodes.get(&ino).ok_or_else(|| errno(libc::ENOENT))
    }

    pub fn get_mut(&mut self, ino: Ino) -> io::Result<&mut Inode> {
        self.inodes.get_mut(&ino).ok_or_else(|| errno(libc::ENOENT))
    }

    /// The entries of directory `ino` (`ENOTDIR` if it is not one).
    pub fn entries(&self, ino: Ino) -> io::Result<&BTreeMap<OsString, Ino>> {
        match &self.get(ino)?.node {
            Node::Dir(entries) => Ok(entries),
            _ => Err(errno(libc::ENOTDIR)),
        }
    }

    fn entries_mut(&mut self, ino: Ino) -> io::Result<&mut BTreeMap<OsString, Ino>> {
        match &mut self.get_mut(ino)?.node {
            Node::Dir(entries) => Ok(entries),
            _ => Err(errno(libc::ENOTDIR)),
        }
    }

    /// Whether `cred` may access `ino` as `want` (an `R|W|X` mask). The superuser may do
    /// anything but execute a file nobody may execute.
    pub fn allowed(&self, ino: Ino, cred: Cred, want: u32) -> bool {
        let Ok(i) = self.get(ino) else { return false };
        if cred.uid == 0 {
            return want & X == 0 || i.is_dir() || i.mode & 0o111 != 0;
        }
        let bits = if i.uid == cred.uid {
            i.mode >> 6
        } else if i.gid == cred.gid {
            i.mode >> 3
        } else {
            i.mode
        } & 7;
        bits & want == want
    }

    pub fn check(&self, ino: Ino, cred: Cred, want: u32) -> io::Result<()> {
        if self.allowed(ino, cred, want) {
            Ok(())
        } else {
            Err(errno(libc::EACCES))
        }
    }

    /// Resolves `path` from directory `start` as POSIX does: `..` climbs (the root's parent is
    /// the root), symbolic links are followed on the way (and at the end when `follow_last`),
    /// at most [`MAX_SYMLINKS`] of them, search permission is needed on every directory passed,
    /// and a name longer than [`NAME_MAX`] or a path of [`PATH_MAX`] is too long. With
    /// `confine` set (a confined directory), an absolute path or link target, or a `..` above
    /// `confine`, is refused with [`PathEscapesDir`].
    pub fn walk(
        &self,
        start: Ino,
        confine: Option<Ino>,
        path: &Path,
        follow_last: bool,
        cred: Cred,
    ) -> io::Result<Walk> {
        let bytes = path.as_os_str().as_bytes();
        if bytes.len() >= PATH_MAX {
            return Err(errno(libc::ENAMETOOLONG));
        }
        let must_dir = bytes.len() > 1 && (bytes.ends_with(b"/") || bytes.ends_with(b"/."));
        let follow_last = follow_last || must_dir;
        let mut todo = comps(path);
        let mut cur = start;
        self.entries(cur)?;
        let mut links = 0;
        let at_dir = |cur: Ino| Walk { parent: cur, name: None, ino: Some(cur), must_dir };
        while let Some(comp) = todo.pop_front() {
            let last = todo.is_empty();
            match comp {
                Comp::Root => {
                    if confine.is_some() {
                        return Err(PathEscapesDir.into());
                    }
                    cur = ROOT;
                }
                Comp::Cur => {}
                Comp::Up => {
                    if Some(cur) == confine {
                        return Err(PathEscapesDir.into());
                    }
                    self.check(cur, cred, X)?;
                    cur = self.get(cur)?.parent;
                }
                Comp::Name(name) => {
                    if name.len() > NAME_MAX {
                        return Err(errno(libc::ENAMETOOLONG));
                    }
                    let entries = self.entries(cur)?;
                    self.check(cur, cred, X)?;
                    let Some(&ino) = entries.get(&name) else {
                        if last {
                            return Ok(Walk { parent: cur, name: Some(name), ino: None, must_dir });
                        }
                        return Err(errno(libc::ENOENT));
                    };
                    let inode = self.get(ino)?;
                    if let Node::Symlink(target) = &inode.node {
                        if !last || follow_last {
                            links += 1;
                            if links > MAX_SYMLINKS {
                                return Err(errno(libc::ELOOP));
                            }
                            if target.as_os_str().is_empty() {
                                return Err(errno(libc::ENOENT));
                            }
                            for c in comps(target).into_iter().rev() {
                                todo.push_front(c);
                            }
                            continue;
                        }
                    }
                    if last {
                        if must_dir && !inode.is_dir() {
                            return Err(errno(libc::ENOTDIR));
                        }
                        return Ok(Walk {
                            parent: cur,
                            name: Some(name),
                            ino: Some(ino),
                            must_dir,
                        });
                    }
                    if !inode.is_dir() {
                        return Err(errno(libc::ENOTDIR));
                    }
                    cur = ino;
                }
            }
        }
        Ok(at_dir(cur))
    }

    /// Adds the entry `name` -> `ino` to directory `dir` (which must not have it).
    pub fn link(&mut self, dir: Ino, name: OsString, ino: Ino, now: i64) -> io::Result<()> {
        self.entries_mut(dir)?.insert(name, ino);
        let is_dir = {
            let i = self.get_mut(ino)?;
            i.nlink += 1;
            i.ctime = now;
            if i.is_dir() {
                i.parent = dir;
            }
            i.is_dir()
        };
        let d = self.get_mut(dir)?;
        d.mtime = now;
        d.ctime = now;
        if is_dir {
            d.nlink += 1;
        }
        Ok(())
    }

    /// Removes the entry `name` from directory `dir`; the inode it named. A directory removed
    /// so is left with no links (the caller drops it).
    pub fn unlink(&mut self, dir: Ino, name: &OsStr, now: i64) -> io::Result<Ino> {
        let ino = self.entries_mut(dir)?.remove(name).ok_or_else(|| errno(libc::ENOENT))?;
        let is_dir = {
            let i = self.get_mut(ino)?;
            i.ctime = now;
            if i.is_dir() {
                i.nlink = 0;
            } else {
                i.nlink = i.nlink.saturating_sub(1);
            }
            i.is_dir()
        };
        let d = self.get_mut(dir)?;
        d.mtime = now;
        d.ctime = now;
        if is_dir {
            d.nlink = d.nlink.saturating_sub(1);
        }
        Ok(ino)
    }

    /// Whether `a` is `b` or one of its ancestors.
    pub fn is_ancestor(&self, a: Ino, mut b: Ino) -> bool {
        loop {
            if a == b {
                return true;
            }
            match self.inodes.get(&b) {
                Some(i) if b != ROOT => b = i.parent,
                _ => return false,
            }
        }
    }

    /// An absolute path naming `ino` now: a directory's through its parents, a file's first
    /// name in a walk from the root in name order. `None` if nothing names it.
    pub fn path_of(&self, ino: Ino) -> Option<PathBuf> {
        if ino == ROOT {
            return Some(PathBuf::from("/"));
        }
        let inode = self.inodes.get(&ino)?;
        if inode.is_dir() {
            if inode.nlink == 0 {
                return None;
            }
            let mut names = Vec::new();
            let mut cur = ino;
            while cur != ROOT {
                let parent = self.inodes.get(&cur)?.parent;
                let (name, _) = self.entries(parent).ok()?.iter().find(|(_, &i)| i == cur)?;
                names.push(name.clone());
                cur = parent;
            }
            let mut path = PathBuf::from("/");
            path.extend(names.iter().rev());
            return Some(path);
        }
        let mut queue = VecDeque::from([(ROOT, PathBuf::from("/"))]);
        while let Some((dir, path)) = queue.pop_front() {
            for (name, &child) in self.entries(dir).ok()? {
                if child == ino {
                    return Some(path.join(name));
                }
                if self.inodes.get(&child).is_some_and(Inode::is_dir) {
                    queue.push_back((child, path.join(name)));
                }
            }
        }
        None
    }

    /// `stat` of `ino`, on `device`.
    pub fn metadata(&self, ino: Ino, device: u64) -> io::Result<Metadata> {
        let i = self.get(ino)?;
        Ok(Metadata::new(
            ino,
            device,
            i.nlink,
            i.size(),
            Permissions::from_mode(i.mode),
            i.kind(),
            i.uid,
            i.gid,
            [i.atime, i.mtime, i.ctime].map(Timestamp::from_nanos),
            BLOCK_SIZE,
        ))
    }

    /// Bytes of file data in this image: what counts against a host's capacity.
    pub fn data_bytes(&self) -> u64 {
        self.inodes
            .values()
            .map(|i| match &i.node {
                Node::File(data) => data.len() as u64,
                _ => 0,
            })
            .sum()
    }

    /// This image as a crash leaves it to the restarted host (ground rule 1): every inode
    /// reachable from the root, in name order; a directory reached a second time (its move
    /// was made durable in one parent but not the other) keeps its first name only; entries
    /// naming inodes the image lacks are dropped; links and parents counted again.
    pub fn restored(&self) -> Tree {
        let mut out = Tree::default();
        let Some(root) = self.inodes.get(&ROOT) else {
            return out;
        };
        let mut root = root.clone();
        root.nlink = 2;
        root.parent = ROOT;
        out.inodes.insert(ROOT, root);
        let mut queue = VecDeque::from([ROOT]);
        while let Some(dir) = queue.pop_front() {
            let Ok(entries) = self.entries(dir) else { continue };
            let mut kept = BTreeMap::new();
            for (name, &ino) in entries {
                let Some(inode) = self.inodes.get(&ino) else { continue };
                if let Some(seen) = out.inodes.get_mut(&ino) {
                    if seen.is_dir() {
                        continue;
                    }
                    seen.nlink += 1;
                } else {
                    let mut inode = inode.clone();
                    if let Node::Dir(children) = &mut inode.node {
                        children.clear();
                        inode.nlink = 2;
                        inode.parent = dir;
                        queue.push_back(ino);
                    } else {
                        inode.nlink = 1;
                    }
                    out.inodes.insert(ino, inode);
                }
                if self.inodes[&ino].is_dir() {
                    out.get_mut(dir).expect("inserted before its children").nlink += 1;
                }
                kept.insert(name.clone(), ino);
            }
            if let Ok(Node::Dir(children)) = out.get_mut(dir).map(|d| &mut d.node) {
                *children = kept;
            }
        }
        out
    }
}
