//! The error of every file and directory operation: which operation, on which path, and a typed
//! kind to match on (Zig's per-operation error sets, as one enum of kinds plus the operation).
//!
//! Backends report plain `io::Error`s (a simulated backend builds them from an
//! `io::ErrorKind`); the user types in `fs/` wrap them here with the operation and the path, and
//! [`ErrorKind::from_io`] classifies them, by errno first and by `io::ErrorKind` second.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::Canceled;

/// The file-system operation an [`Error`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// Opening a file.
    OpenFile,
    /// Creating a file.
    CreateFile,
    /// Opening a directory.
    OpenDir,
    /// Creating a directory.
    CreateDir,
    /// Creating a directory and its missing parents.
    CreateDirPath,
    /// `stat` of a file, a directory or a path.
    Stat,
    /// Checking access.
    Access,
    /// Reading a directory's entries.
    ReadDir,
    /// Asking for a real path.
    RealPath,
    /// Deleting a file.
    DeleteFile,
    /// Deleting an empty directory.
    DeleteDir,
    /// Deleting a tree.
    DeleteTree,
    /// Renaming.
    Rename,
    /// Creating a symbolic link.
    Symlink,
    /// Reading a symbolic link.
    ReadLink,
    /// Creating a hard link.
    HardLink,
    /// Changing permissions.
    SetPermissions,
    /// Changing the owner.
    SetOwner,
    /// Changing timestamps.
    SetTimestamps,
    /// Reading a file.
    Read,
    /// Writing a file.
    Write,
    /// Moving the file position.
    Seek,
    /// Flushing to storage.
    Sync,
    /// Changing a file's length.
    SetLength,
    /// Locking or unlocking.
    Lock,
    /// Copying between files.
    Copy,
    /// Memory maps.
    Map,
    /// Closing.
    Close,
    /// Committing an atomic file.
    Commit,
    /// Creating a pipe.
    CreatePipe,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::OpenFile => "open file",
            Op::CreateFile => "create file",
            Op::OpenDir => "open dir",
            Op::CreateDir => "create dir",
            Op::CreateDirPath => "create dir path",
            Op::Stat => "stat",
            Op::Access => "access",
            Op::ReadDir => "read dir",
            Op::RealPath => "real path",
            Op::DeleteFile => "delete file",
            Op::DeleteDir => "delete dir",
            Op::DeleteTree => "delete tree",
            Op::Rename => "rename",
            Op::Symlink => "symlink",
            Op::ReadLink => "read link",
            Op::HardLink => "hard link",
            Op::SetPermissions => "set permissions",
            Op::SetOwner => "set owner",
            Op::SetTimestamps => "set timestamps",
            Op::Read => "read",
            Op::Write => "write",
            Op::Seek => "seek",
            Op::Sync => "sync",
            Op::SetLength => "set length",
            Op::Lock => "lock",
            Op::Copy => "copy",
            Op::Map => "memory map",
            Op::Close => "close",
            Op::Commit => "commit",
            Op::CreatePipe => "create pipe",
        })
    }
}

/// What went wrong, typed (Zig's error names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The task was asked to cancel before the operation started (see
    /// [`JoinHandle::cancel`](crate::JoinHandle::cancel)); nothing was done.
    Canceled,
    /// No such file or directory (`ENOENT`; Zig `FileNotFound`).
    NotFound,
    /// It exists already (`EEXIST`; Zig `PathAlreadyExists`).
    AlreadyExists,
    /// Not allowed (`EACCES`, `EPERM`; Zig `AccessDenied`, `PermissionDenied`).
    PermissionDenied,
    /// A directory was expected (`ENOTDIR`; Zig `NotDir`).
    NotDir,
    /// A file was expected and this is a directory (`EISDIR`; Zig `IsDir`).
    IsDir,
    /// The directory is not empty (`ENOTEMPTY`; Zig `DirNotEmpty`).
    DirNotEmpty,
    /// The device is full or the quota reached (`ENOSPC`, `EDQUOT`; Zig `NoSpaceLeft`).
    NoSpace,
    /// A name or the path is too long (`ENAMETOOLONG`; Zig `NameTooLong`).
    NameTooLong,
    /// A bad argument: an empty path, a NUL byte in a path, an impossible option (`EINVAL`;
    /// Zig `BadPathName`).
    InvalidInput,
    /// Too many symbolic links, or `follow_symlinks: false` met one (`ELOOP`; Zig
    /// `SymLinkLoop`).
    SymLinkLoop,
    /// The file system is read-only (`EROFS`; Zig `ReadOnlyFileSystem`).
    ReadOnlyFileSystem,
    /// Across file systems (`EXDEV`; Zig `RenameAcrossMountPoints`).
    CrossDevice,
    /// The process or the system has too many open files (`EMFILE`, `ENFILE`; Zig
    /// `ProcessFdQuotaExceeded`, `SystemFdQuotaExceeded`).
    TooManyOpenFiles,
    /// The file would become larger than allowed (`EFBIG`; Zig `FileTooBig`).
    FileTooBig,
    /// Busy (`EBUSY`, `ETXTBSY`; Zig `FileBusy`, `DeviceBusy`).
    Busy,
    /// A lock is held elsewhere and a non-blocking attempt was made (`EWOULDBLOCK`; Zig
    /// `WouldBlock`).
    WouldBlock,
    /// The platform or file system does not offer it (`ENOTSUP`, `ENOSYS`; Zig
    /// `OperationUnsupported`).
    Unsupported,
    /// An input/output error from the device (`EIO`; Zig `InputOutput`).
    InputOutput,
    /// A read from a file not open for reading (`EBADF` on a read; Zig `NotOpenForReading`).
    NotOpenForReading,
    /// A write to a file not open for writing (`EBADF` on a write; Zig `NotOpenForWriting`).
    NotOpenForWriting,
    /// A write made no progress.
    WriteZero,
    /// The file ended before the bytes asked for were read.
    UnexpectedEof,
    /// The path leads outside a confined directory (see
    /// [`Dir::confine`](super::Dir::confine)): it is absolute, a `..` climbs above the
    /// directory, or a symbolic link on the way points outside it. Nothing outside was opened
    /// or changed. (Linux `openat2` says `EXDEV`, FreeBSD `ENOTCAPABLE`; cap-std "a path led
    /// outside of the filesystem".)
    PathEscapesDir,
    /// Anything else; see [`Error::io_error`].
    Other,
}

impl ErrorKind {
    /// Classifies `err`: by its errno when it has one, else by its `io::ErrorKind`.
    pub fn from_io(err: &io::Error) -> ErrorKind {
        if Canceled::is_canceled(err) {
            return ErrorKind::Canceled;
        }
        if PathEscapesDir::is_escape(err) {
            return ErrorKind::PathEscapesDir;
        }
        if let Some(code) = err.raw_os_error() {
            let kind = match code {
                libc::ENOENT => ErrorKind::NotFound,
                libc::EEXIST => ErrorKind::AlreadyExists,
                libc::EACCES | libc::EPERM => ErrorKind::PermissionDenied,
                libc::ENOTDIR => ErrorKind::NotDir,
                libc::EISDIR => ErrorKind::IsDir,
                libc::ENOTEMPTY => ErrorKind::DirNotEmpty,
                libc::ENOSPC | libc::EDQUOT => ErrorKind::NoSpace,
                libc::ENAMETOOLONG => ErrorKind::NameTooLong,
                libc::EINVAL => ErrorKind::InvalidInput,
                libc::ELOOP => ErrorKind::SymLinkLoop,
                libc::EROFS => ErrorKind::ReadOnlyFileSystem,
                libc::EXDEV => ErrorKind::CrossDevice,
                libc::EMFILE | libc::ENFILE => ErrorKind::TooManyOpenFiles,
                libc::EFBIG => ErrorKind::FileTooBig,
                libc::EBUSY | libc::ETXTBSY => ErrorKind::Busy,
                libc::EWOULDBLOCK => ErrorKind::WouldBlock,
                libc::ENOTSUP | libc::ENOSYS => ErrorKind::Unsupported,
                libc::EIO => ErrorKind::InputOutput,
                _ => ErrorKind::Other,
            };
            return kind;
        }
        match err.kind() {
            io::ErrorKind::NotFound => ErrorKind::NotFound,
            io::ErrorKind::AlreadyExists => ErrorKind::AlreadyExists,
            io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
            io::ErrorKind::NotADirectory => ErrorKind::NotDir,
            io::ErrorKind::IsADirectory => ErrorKind::IsDir,
            io::ErrorKind::DirectoryNotEmpty => ErrorKind::DirNotEmpty,
            io::ErrorKind::StorageFull => ErrorKind::NoSpace,
            io::ErrorKind::InvalidInput => ErrorKind::InvalidInput,
            io::ErrorKind::ReadOnlyFilesystem => ErrorKind::ReadOnlyFileSystem,
            io::ErrorKind::FileTooLarge => ErrorKind::FileTooBig,
            io::ErrorKind::ResourceBusy => ErrorKind::Busy,
            io::ErrorKind::WouldBlock => ErrorKind::WouldBlock,
            io::ErrorKind::Unsupported => ErrorKind::Unsupported,
            io::ErrorKind::WriteZero => ErrorKind::WriteZero,
            io::ErrorKind::UnexpectedEof => ErrorKind::UnexpectedEof,
            _ => ErrorKind::Other,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            ErrorKind::Canceled => "canceled",
            ErrorKind::NotFound => "not found",
            ErrorKind::AlreadyExists => "already exists",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::NotDir => "not a directory",
            ErrorKind::IsDir => "is a directory",
            ErrorKind::DirNotEmpty => "directory not empty",
            ErrorKind::NoSpace => "no space left",
            ErrorKind::NameTooLong => "name too long",
            ErrorKind::InvalidInput => "invalid input",
            ErrorKind::SymLinkLoop => "symbolic link loop or symbolic link not followed",
            ErrorKind::ReadOnlyFileSystem => "read-only file system",
            ErrorKind::CrossDevice => "across file systems",
            ErrorKind::NotOpenForReading => "not open for reading",
            ErrorKind::NotOpenForWriting => "not open for writing",
            ErrorKind::TooManyOpenFiles => "too many open files",
            ErrorKind::FileTooBig => "file too big",
            ErrorKind::Busy => "busy",
            ErrorKind::WouldBlock => "would block",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::InputOutput => "input/output error",
            ErrorKind::WriteZero => "write made no progress",
            ErrorKind::UnexpectedEof => "unexpected end of file",
            ErrorKind::PathEscapesDir => "leads outside the confined directory",
            ErrorKind::Other => "error",
        }
    }
}

/// What a backend reports when a path would resolve outside a confined directory: an
/// `io::Error` of kind `PermissionDenied` carrying this value, which
/// [`ErrorKind::from_io`] classifies as [`ErrorKind::PathEscapesDir`].
///
/// # Examples
///
/// ```
/// use kqio::fs::{ErrorKind, PathEscapesDir};
///
/// let err: std::io::Error = PathEscapesDir.into();
/// assert!(PathEscapesDir::is_escape(&err));
/// assert_eq!(ErrorKind::from_io(&err), ErrorKind::PathEscapesDir);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PathEscapesDir;

impl fmt::Display for PathEscapesDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the path leads outside the confined directory")
    }
}

impl std::error::Error for PathEscapesDir {}

impl PathEscapesDir {
    /// Whether `err` is a [`PathEscapesDir`] converted into an `io::Error`.
    pub fn is_escape(err: &io::Error) -> bool {
        err.kind() == io::ErrorKind::PermissionDenied
            && err.get_ref().is_some_and(|inner| inner.is::<PathEscapesDir>())
    }
}

impl From<PathEscapesDir> for io::Error {
    /// An error of kind `PermissionDenied` (what cap-std reports for the same refusal) that
    /// carries the `PathEscapesDir` value.
    fn from(e: PathEscapesDir) -> io::Error {
        io::Error::new(io::ErrorKind::PermissionDenied, e)
    }
}

/// The error of a file or directory operation: the operation, the path (relative to the
/// directory it was given to) where there is one, a typed [`ErrorKind`], and the underlying
/// `io::Error`.
///
/// Converts into `io::Error` (so `?` works in functions returning `io::Result`); a canceled
/// operation becomes the same `io::Error` as [`Canceled`] does, so
/// [`Canceled::is_canceled`] recognises it.
pub struct Error {
    op: Op,
    kind: ErrorKind,
    path: Option<Box<Path>>,
    source: io::Error,
}

impl Error {
    /// Wraps `source` as the outcome of `op` on `path`.
    pub fn new(op: Op, path: Option<&Path>, source: io::Error) -> Error {
        let kind = match (ErrorKind::from_io(&source), op, source.raw_os_error()) {
            // A bad descriptor on a `File`'s read or write is a file opened without that mode.
            (_, Op::Read, Some(libc::EBADF)) => ErrorKind::NotOpenForReading,
            (_, Op::Write, Some(libc::EBADF)) => ErrorKind::NotOpenForWriting,
            (kind, _, _) => kind,
        };
        Error { op, kind, path: path.map(Into::into), source }
    }

    /// A bad argument detected before any system call.
    pub(crate) fn invalid(op: Op, path: Option<&Path>, what: &'static str) -> Error {
        Error::new(op, path, io::Error::new(io::ErrorKind::InvalidInput, what))
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The operation that failed.
    pub fn op(&self) -> Op {
        self.op
    }

    /// The path it was given, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The errno, if the system reported one.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.source.raw_os_error()
    }

    /// The underlying error.
    pub fn io_error(&self) -> &io::Error {
        &self.source
    }

    /// Whether the operation was canceled.
    pub fn is_canceled(&self) -> bool {
        self.kind == ErrorKind::Canceled
    }

    /// The same error for another path (used when one operation spans several).
    pub(crate) fn with_path(mut self, path: PathBuf) -> Error {
        self.path = Some(path.into_boxed_path());
        self
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("op", &self.op)
            .field("kind", &self.kind)
            .field("path", &self.path)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "{} {:?}: {}", self.op, p, self.kind.describe())?,
            None => write!(f, "{}: {}", self.op, self.kind.describe())?,
        }
        if let Some(code) = self.source.raw_os_error() {
            write!(f, " (os error {code})")
        } else if self.kind == ErrorKind::Other || self.kind == ErrorKind::InvalidInput {
            write!(f, " ({})", self.source)
        } else {
            Ok(())
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        if e.is_canceled() {
            return Canceled.into();
        }
        io::Error::new(e.source.kind(), e)
    }
}

/// The result of a file-system operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
