//! `Dir`: an open directory (Zig `std.Io.Dir`), a capability every path is relative to.
//!
//! Ground rules:
//! 1. Every path argument is checked before any job (`check_path`: not empty, no NUL byte), so a
//!    bad argument fails at once, without a trip to the pool.
//! 2. Errors carry the path as given, joined to the path this `Dir` was opened with when known
//!    (for the message only: the operation itself is relative to the handle).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::atomic::{AtomicFile, AtomicFlags};
use super::check_path;
use super::error::{Error, Op, Result};
use super::file::File;
use super::read_dir::ReadDir;
use super::types::{Access, DirHandle, Metadata, OpenOptions, Permissions, SetTimestamp};
use crate::IoRef;

/// How [`Dir::open_file`] opens a file (Zig `File.OpenFlags`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFlags {
    /// Read, write or both. Default: read only.
    pub mode: AccessMode,
    /// Every write goes to the end of the file.
    pub append: bool,
    /// A final symbolic link is followed (default); `false`: opening one fails with
    /// `SymLinkLoop`.
    pub follow_symlinks: bool,
}

impl Default for OpenFlags {
    fn default() -> Self {
        OpenFlags { mode: AccessMode::ReadOnly, append: false, follow_symlinks: true }
    }
}

impl OpenFlags {
    /// Read and write.
    pub fn read_write() -> OpenFlags {
        OpenFlags { mode: AccessMode::ReadWrite, ..OpenFlags::default() }
    }

    /// Write only.
    pub fn write_only() -> OpenFlags {
        OpenFlags { mode: AccessMode::WriteOnly, ..OpenFlags::default() }
    }
}

/// Read, write, or both (Zig `File.OpenMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccessMode {
    /// Read only.
    #[default]
    ReadOnly,
    /// Write only.
    WriteOnly,
    /// Read and write.
    ReadWrite,
}

/// How [`Dir::create_file`] creates a file (Zig `File.CreateFlags`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateFlags {
    /// Open for reading too. Default: `false`.
    pub read: bool,
    /// Truncate an existing file to length 0. Default: `true`.
    pub truncate: bool,
    /// Fail with `AlreadyExists` if it exists. Default: `false`.
    pub exclusive: bool,
    /// Permissions of a new file (less the umask). Default: `0o666`.
    pub permissions: Permissions,
}

impl Default for CreateFlags {
    fn default() -> Self {
        CreateFlags {
            read: false,
            truncate: true,
            exclusive: false,
            permissions: Permissions::DEFAULT_FILE,
        }
    }
}

/// How [`Dir::open_dir`] opens a directory (Zig `Dir.OpenOptions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenDirFlags {
    /// A final symbolic link is followed (default); `false`: opening one fails.
    pub follow_symlinks: bool,
    /// The directory opened is confined, as by [`Dir::confine`]: no path given to it resolves
    /// outside it. Default `false`, except that a directory opened from a confined one is always
    /// confined (beneath itself).
    pub confined: bool,
}

impl Default for OpenDirFlags {
    fn default() -> Self {
        OpenDirFlags { follow_symlinks: true, confined: false }
    }
}

impl OpenDirFlags {
    /// The defaults, confined.
    pub fn confined() -> OpenDirFlags {
        OpenDirFlags { confined: true, ..OpenDirFlags::default() }
    }
}

/// An open directory (Zig `std.Io.Dir`): every path given to its methods is relative to it
/// (absolute paths work as usual), so a `Dir` keeps naming the same directory after it is
/// renamed or moved. Closed when dropped (and when the jobs still using it end). Cloning is cheap
/// and shares the directory.
///
/// A confined `Dir` ([`confine`](Self::confine), [`OpenDirFlags::confined`]) is a capability in
/// the strict sense: no path given to it leads outside it.
///
/// # Cancellation
///
/// Every `async` method is a cancellation point until its job starts; see the
/// [module docs](super).
///
/// # Examples
///
/// ```
/// use kqio::fs::Dir;
///
/// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
/// let io = rt.io();
/// let base = std::env::temp_dir().join(format!("kqio-doc-dir-{}", std::process::id()));
/// rt.block_on(async {
///     let cwd = Dir::cwd(&io);
///     assert!(cwd.create_dir_path(&base).await?);
///     let dir = cwd.open_dir(&base, Default::default()).await?;
///     dir.write_file("a.txt", b"hi").await?;
///     assert_eq!(dir.read_file("a.txt").await?, b"hi");
///     cwd.delete_tree(&base).await?;
///     Ok::<_, kqio::fs::Error>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Dir {
    io: IoRef,
    handle: DirHandle,
    /// The path it was opened with, for error messages (ground rule 2).
    path: Option<Arc<Path>>,
}

impl fmt::Debug for Dir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dir").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Dir {
    /// The process's current directory (Zig `Dir.cwd`): paths are resolved against whatever it
    /// is at each operation. Does not block.
    pub fn cwd(io: &IoRef) -> Dir {
        Dir { io: io.clone(), handle: io.fs_cwd(), path: None }
    }

    /// A `Dir` over a handle the backend made (for backends and tests).
    pub fn from_handle(io: IoRef, handle: DirHandle, path: Option<&Path>) -> Dir {
        Dir { io, handle, path: path.map(Arc::from) }
    }

    /// The backend's handle.
    pub fn handle(&self) -> &DirHandle {
        &self.handle
    }

    /// The `Io` this directory works through.
    pub fn io(&self) -> &IoRef {
        &self.io
    }

    /// The path for a message: `path` below the one this `Dir` was opened with.
    pub(crate) fn display_path(&self, path: &Path) -> PathBuf {
        match &self.path {
            Some(base) => base.join(path),
            None => path.to_path_buf(),
        }
    }

    fn err<'a>(&'a self, op: Op, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
        move |e| Error::new(op, None, e).with_path(self.display_path(path))
    }

    fn check(&self, op: Op, path: &Path) -> Result<()> {
        check_path(op, path).map_err(|e| e.with_path(self.display_path(path)))
    }

    /// Opens the directory `path` (Zig `Dir.openDir`). Opened from a confined `Dir`, the new one
    /// is confined too, beneath itself; [`OpenDirFlags::confined`] confines it in any case.
    ///
    /// # Errors
    ///
    /// `NotFound`, `NotDir` (a file is there), `PermissionDenied`, `SymLinkLoop` (with
    /// `follow_symlinks: false` and a symbolic link there), `InvalidInput` (empty path, NUL byte),
    /// `PathEscapesDir` (confined: `path` leads outside this directory).
    pub async fn open_dir(&self, path: impl AsRef<Path>, flags: OpenDirFlags) -> Result<Dir> {
        let path = path.as_ref();
        self.check(Op::OpenDir, path)?;
        let mut handle = self
            .io
            .dir_open_dir(&self.handle, path, flags.follow_symlinks)
            .await
            .map_err(self.err(Op::OpenDir, path))?;
        if flags.confined {
            handle = self.io.dir_confine(&handle).map_err(self.err(Op::OpenDir, path))?;
        }
        Ok(Dir { io: self.io.clone(), handle, path: Some(Arc::from(self.display_path(path))) })
    }

    /// This directory, confined (a capability as cap-std's `Dir` is one): no path given to the
    /// `Dir` returned, or to any directory opened through it, resolves outside it. An absolute
    /// path, a `..` above it, or a symbolic link (anywhere on the path) whose target leads
    /// outside fails with [`ErrorKind::PathEscapesDir`](super::ErrorKind::PathEscapesDir) before
    /// anything outside is opened or changed; `..` and links that stay inside work as usual.
    /// Every method honours it, including [`rename`](Self::rename) and
    /// [`hard_link`](Self::hard_link) on both sides, [`delete_tree`](Self::delete_tree) and
    /// [`create_file_atomic`](Self::create_file_atomic). [`symlink`](Self::symlink) may still
    /// create a link whose target leads outside (the target is data, as with Linux's
    /// `RESOLVE_BENEATH`); no confined operation follows it.
    ///
    /// Shares the directory with `self`, which stays as it was. On [`Dir::cwd`], paths are
    /// confined beneath whatever the current directory is at each operation. The README
    /// ("Files and directories") says how each platform resolves and what is not confined
    /// (descriptors already open, hard links made by others, mount points inside the tree).
    /// Does not block.
    ///
    /// # Errors
    ///
    /// `Unsupported` from a backend that cannot confine.
    ///
    /// # Examples
    ///
    /// ```
    /// use kqio::fs::{Dir, ErrorKind, OpenFlags};
    ///
    /// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
    /// let io = rt.io();
    /// let base = std::env::temp_dir().join(format!("kqio-doc-confine-{}", std::process::id()));
    /// rt.block_on(async {
    ///     let cwd = Dir::cwd(&io);
    ///     let dir = cwd.create_dir_path_open(&base).await?.confine()?;
    ///     dir.write_file("inside.txt", b"ok").await?;
    ///     dir.symlink("/etc", "etc").await?;
    ///     for path in ["../inside.txt", "/etc/passwd", "etc/passwd"] {
    ///         let e = dir.open_file(path, OpenFlags::default()).await.unwrap_err();
    ///         assert_eq!(e.kind(), ErrorKind::PathEscapesDir);
    ///     }
    ///     assert_eq!(dir.read_file("./sub/../inside.txt").await.unwrap_err().kind(),
    ///                ErrorKind::NotFound); // `sub` does not exist: `..` is not lexical
    ///     assert_eq!(dir.read_file("inside.txt").await?, b"ok");
    ///     cwd.delete_tree(&base).await
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn confine(&self) -> Result<Dir> {
        let handle =
            self.io.dir_confine(&self.handle).map_err(self.err(Op::OpenDir, Path::new(".")))?;
        Ok(Dir { io: self.io.clone(), handle, path: self.path.clone() })
    }

    /// Creates the directory `path` (Zig `Dir.createDir`), with permissions `0o777` less the
    /// umask.
    ///
    /// # Errors
    ///
    /// `AlreadyExists`, `NotFound` (a parent is missing), `NotDir`, `PermissionDenied`,
    /// `NoSpace`, `NameTooLong`, `InvalidInput`.
    pub async fn create_dir(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        self.check(Op::CreateDir, path)?;
        self.io
            .dir_create_dir(&self.handle, path, Permissions::DEFAULT_DIR)
            .await
            .map_err(self.err(Op::CreateDir, path))
    }

    /// Creates `path` and any missing parents (`mkdir -p`, Zig `Dir.createDirPath`); `true` if
    /// `path` did not exist before, `false` if it was a directory already.
    ///
    /// # Errors
    ///
    /// `NotDir` if `path` or a parent is not a directory, also when a file appears at `path`
    /// while the parents are being made (never `false` for a file); as
    /// [`create_dir`](Self::create_dir) otherwise.
    pub async fn create_dir_path(&self, path: impl AsRef<Path>) -> Result<bool> {
        let path = path.as_ref();
        self.check(Op::CreateDirPath, path)?;
        self.io
            .dir_create_dir_path(&self.handle, path, Permissions::DEFAULT_DIR)
            .await
            .map_err(self.err(Op::CreateDirPath, path))
    }

    /// [`create_dir_path`](Self::create_dir_path), then [`open_dir`](Self::open_dir) (Zig
    /// `Dir.createDirPathOpen`).
    pub async fn create_dir_path_open(&self, path: impl AsRef<Path>) -> Result<Dir> {
        let path = path.as_ref();
        self.create_dir_path(path).await?;
        self.open_dir(path, OpenDirFlags::default()).await
    }

    /// `stat` of this directory (Zig `Dir.stat`).
    pub async fn stat(&self) -> Result<Metadata> {
        self.io.dir_stat(&self.handle).await.map_err(self.err(Op::Stat, Path::new(".")))
    }

    /// `stat` of `path`, following a final symbolic link (Zig `Dir.statFile`).
    ///
    /// # Errors
    ///
    /// `NotFound`, `NotDir` (a parent is a file), `PermissionDenied`, `InvalidInput`.
    pub async fn stat_file(&self, path: impl AsRef<Path>) -> Result<Metadata> {
        self.stat_path(path.as_ref(), true).await
    }

    /// `stat` of `path` itself, not following a final symbolic link (`lstat`).
    pub async fn stat_link(&self, path: impl AsRef<Path>) -> Result<Metadata> {
        self.stat_path(path.as_ref(), false).await
    }

    async fn stat_path(&self, path: &Path, follow: bool) -> Result<Metadata> {
        self.check(Op::Stat, path)?;
        self.io.dir_stat_path(&self.handle, path, follow).await.map_err(self.err(Op::Stat, path))
    }

    /// Checks that `path` exists and allows `access` (Zig `Dir.access`), as the real user.
    ///
    /// # Errors
    ///
    /// `NotFound`, `PermissionDenied`, `InvalidInput`.
    pub async fn access(&self, path: impl AsRef<Path>, access: Access) -> Result<()> {
        let path = path.as_ref();
        self.check(Op::Access, path)?;
        self.io.dir_access(&self.handle, path, access).await.map_err(self.err(Op::Access, path))
    }

    /// Creates (or opens and, by default, truncates) the file `path` for writing (Zig
    /// `Dir.createFile`).
    ///
    /// # Errors
    ///
    /// `AlreadyExists` with `exclusive`, `IsDir`, `NotFound` (a parent is missing), `NotDir`,
    /// `PermissionDenied`, `NoSpace`, `NameTooLong`, `TooManyOpenFiles`, `InvalidInput`.
    pub async fn create_file(&self, path: impl AsRef<Path>, flags: CreateFlags) -> Result<File> {
        let options = OpenOptions {
            read: flags.read,
            write: true,
            truncate: flags.truncate,
            create: true,
            exclusive: flags.exclusive,
            permissions: flags.permissions,
            ..OpenOptions::default()
        };
        self.open_with(path.as_ref(), &options, Op::CreateFile).await
    }

    /// Opens the existing file `path` (Zig `Dir.openFile`).
    ///
    /// # Errors
    ///
    /// `NotFound`, `IsDir` (when opened for writing), `NotDir`, `PermissionDenied`,
    /// `SymLinkLoop`, `TooManyOpenFiles`, `InvalidInput`.
    pub async fn open_file(&self, path: impl AsRef<Path>, flags: OpenFlags) -> Result<File> {
        let options = OpenOptions {
            read: flags.mode != AccessMode::WriteOnly,
            write: flags.mode != AccessMode::ReadOnly,
            append: flags.append,
            follow_symlinks: flags.follow_symlinks,
            ..OpenOptions::default()
        };
        self.open_with(path.as_ref(), &options, Op::OpenFile).await
    }

    /// Opens `path` with the backend-level options (`std::fs::OpenOptions`-like).
    pub async fn open_with_options(
        &self,
        path: impl AsRef<Path>,
        options: &OpenOptions,
    ) -> Result<File> {
        let op = if options.create || options.exclusive { Op::CreateFile } else { Op::OpenFile };
        self.open_with(path.as_ref(), options, op).await
    }

    async fn open_with(&self, path: &Path, options: &OpenOptions, op: Op) -> Result<File> {
        self.check(op, path)?;
        let handle =
            self.io.dir_open_file(&self.handle, path, options).await.map_err(self.err(op, path))?;
        Ok(File::from_handle(self.io.clone(), handle, Some(&self.display_path(path))))
    }

    /// Starts an atomic replacement of `path` (Zig `Dir.createFileAtomic`): a temporary file in
    /// the same directory, which [`AtomicFile::commit`] renames over `path`. Dropped
    /// uncommitted, the temporary file is deleted and `path` is untouched.
    pub async fn create_file_atomic(
        &self,
        path: impl AsRef<Path>,
        flags: AtomicFlags,
    ) -> Result<AtomicFile> {
        AtomicFile::create(self, path.as_ref(), flags).await
    }

    /// Reads the whole file `path`: open, read, close in one job (tokio's `fs::read`).
    pub async fn read_file(&self, path: impl AsRef<Path>) -> Result<Vec<u8>> {
        let path = path.as_ref();
        self.check(Op::Read, path)?;
        self.io.dir_read_file(&self.handle, path).await.map_err(self.err(Op::Read, path))
    }

    /// Creates or truncates `path` and writes `data` to it: open, write, close in one job
    /// (tokio's `fs::write`). `data` is copied once, into the job.
    pub async fn write_file(&self, path: impl AsRef<Path>, data: impl AsRef<[u8]>) -> Result<()> {
        let path = path.as_ref();
        self.check(Op::Write, path)?;
        self.io
            .dir_write_file(&self.handle, path, data.as_ref().to_vec(), Permissions::DEFAULT_FILE)
            .await
            .map_err(self.err(Op::Write, path))
    }

    /// The entries of this directory, as a `futures::Stream` (Zig `Dir.iterate`): read
    /// [`ENTRIES_BATCH`](super::ENTRIES_BATCH) per job, in the order the file system gives,
    /// without `.` and `..`. A read error after some entries of a batch yields those entries
    /// first, then the error.
    pub fn entries(&self) -> ReadDir {
        ReadDir::new(self)
    }

    /// The absolute path of `path` with every symbolic link resolved (Zig `Dir.realPath`);
    /// `"."` for this directory's own.
    ///
    /// # Errors
    ///
    /// `NotFound`, `PermissionDenied`, `InvalidInput`; `Unsupported` on OpenBSD.
    pub async fn real_path(&self, path: impl AsRef<Path>) -> Result<PathBuf> {
        let path = path.as_ref();
        self.check(Op::RealPath, path)?;
        self.io.dir_real_path(&self.handle, path).await.map_err(self.err(Op::RealPath, path))
    }

    /// Deletes the file (or symbolic link) `path` (Zig `Dir.deleteFile`).
    ///
    /// # Errors
    ///
    /// `NotFound`, `IsDir` (on Linux; `PermissionDenied` elsewhere), `PermissionDenied`,
    /// `InvalidInput`.
    pub async fn delete_file(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        self.check(Op::DeleteFile, path)?;
        self.io.dir_delete_file(&self.handle, path).await.map_err(self.err(Op::DeleteFile, path))
    }

    /// Deletes the empty directory `path` (Zig `Dir.deleteDir`).
    ///
    /// # Errors
    ///
    /// `NotFound`, `DirNotEmpty`, `NotDir`, `PermissionDenied`, `InvalidInput`.
    pub async fn delete_dir(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        self.check(Op::DeleteDir, path)?;
        self.io.dir_delete_dir(&self.handle, path).await.map_err(self.err(Op::DeleteDir, path))
    }

    /// Deletes `path` and, if it is a directory, everything in it, without following symbolic
    /// links (Zig `Dir.deleteTree`); a missing `path` is success. The whole tree is one job.
    pub async fn delete_tree(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        self.check(Op::DeleteTree, path)?;
        self.io.dir_delete_tree(&self.handle, path).await.map_err(self.err(Op::DeleteTree, path))
    }

    /// Renames `old` (in this directory) to `new` in `new_dir` (which may be `self`), replacing
    /// a file there (Zig `Dir.rename`).
    ///
    /// # Errors
    ///
    /// `NotFound`, `CrossDevice`, `IsDir`/`NotDir` (kinds differ), `DirNotEmpty`,
    /// `PermissionDenied`, `InvalidInput`.
    pub async fn rename(
        &self,
        old: impl AsRef<Path>,
        new_dir: &Dir,
        new: impl AsRef<Path>,
    ) -> Result<()> {
        let (old, new) = (old.as_ref(), new.as_ref());
        self.check(Op::Rename, old)?;
        new_dir.check(Op::Rename, new)?;
        self.io
            .dir_rename(&self.handle, old, &new_dir.handle, new)
            .await
            .map_err(self.err(Op::Rename, old))
    }

    /// Creates the symbolic link `link` whose target is `target` (taken as is, not resolved)
    /// (Zig `Dir.symLink`).
    pub async fn symlink(&self, target: impl AsRef<Path>, link: impl AsRef<Path>) -> Result<()> {
        let (target, link) = (target.as_ref(), link.as_ref());
        check_path(Op::Symlink, target)?;
        self.check(Op::Symlink, link)?;
        self.io.dir_symlink(&self.handle, target, link).await.map_err(self.err(Op::Symlink, link))
    }

    /// The target of the symbolic link `path` (Zig `Dir.readLink`).
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `path` is not a symbolic link; `NotFound`.
    pub async fn read_link(&self, path: impl AsRef<Path>) -> Result<PathBuf> {
        let path = path.as_ref();
        self.check(Op::ReadLink, path)?;
        self.io.dir_read_link(&self.handle, path).await.map_err(self.err(Op::ReadLink, path))
    }

    /// Creates `new` in `new_dir` as a hard link to `old` in this directory (Zig
    /// `Dir.hardLink`).
    pub async fn hard_link(
        &self,
        old: impl AsRef<Path>,
        new_dir: &Dir,
        new: impl AsRef<Path>,
    ) -> Result<()> {
        let (old, new) = (old.as_ref(), new.as_ref());
        self.check(Op::HardLink, old)?;
        new_dir.check(Op::HardLink, new)?;
        self.io
            .dir_hard_link(&self.handle, old, &new_dir.handle, new)
            .await
            .map_err(self.err(Op::HardLink, old))
    }

    /// Sets the permission bits of `path` (following symbolic links) (Zig
    /// `Dir.setFilePermissions`).
    pub async fn set_permissions(&self, path: impl AsRef<Path>, perms: Permissions) -> Result<()> {
        let path = path.as_ref();
        self.check(Op::SetPermissions, path)?;
        self.io
            .dir_set_permissions(&self.handle, path, perms)
            .await
            .map_err(self.err(Op::SetPermissions, path))
    }

    /// Sets the owner and group of `path` (following symbolic links); `None` keeps one (Zig
    /// `Dir.setFileOwner`).
    pub async fn set_owner(
        &self,
        path: impl AsRef<Path>,
        owner: Option<u32>,
        group: Option<u32>,
    ) -> Result<()> {
        let path = path.as_ref();
        self.check(Op::SetOwner, path)?;
        self.io
            .dir_set_owner(&self.handle, path, owner, group, true)
            .await
            .map_err(self.err(Op::SetOwner, path))
    }

    /// Sets the access and modification times of `path` (following symbolic links) (Zig
    /// `Dir.setTimestamps`).
    pub async fn set_timestamps(
        &self,
        path: impl AsRef<Path>,
        atime: SetTimestamp,
        mtime: SetTimestamp,
    ) -> Result<()> {
        let path = path.as_ref();
        self.check(Op::SetTimestamps, path)?;
        self.io
            .dir_set_timestamps(&self.handle, path, atime, mtime, true)
            .await
            .map_err(self.err(Op::SetTimestamps, path))
    }
}
