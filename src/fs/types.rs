//! The values that cross the `Io` trait's fs methods: opaque handles, metadata, options.
//!
//! Ground rules:
//! 1. Handles are opaque: a backend wraps its own state in them (the kqueue backend, an open
//!    descriptor) and downcasts it back; users only clone and drop them. Nothing here names a
//!    descriptor, so a simulated backend can make handles of its own.
//! 2. A handle is an `Arc`: a job on the blocking pool holds a clone, so a `File` dropped while
//!    its job runs keeps the descriptor open until the job ends (the number cannot be reused
//!    under the job's feet); the last clone closes it.

use std::any::Any;
use std::ffi::OsString;
use std::fmt;
use std::sync::Arc;

use crate::time::Timestamp;

macro_rules! handle {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            state: Arc<dyn Any + Send + Sync>,
        }

        impl $name {
            /// Wraps a backend's state. For backend implementors.
            pub fn new<T: Any + Send + Sync>(state: Arc<T>) -> Self {
                $name { state }
            }

            /// The backend's state, if this handle was made by that backend from a `T`. For
            /// backend implementors.
            #[inline]
            pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
                self.state.downcast_ref::<T>()
            }

            /// The backend's state as an `Arc`, if it is a `T`. For backend implementors.
            pub fn downcast_arc<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
                self.state.clone().downcast::<T>().ok()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    };
}

handle! {
    /// An open file, as the backend made it: what a [`File`](super::File) holds.
    FileHandle
}

handle! {
    /// An open directory (or the current directory), as the backend made it: what a
    /// [`Dir`](super::Dir) holds.
    DirHandle
}

handle! {
    /// A directory being read, as the backend made it: what a [`ReadDir`](super::ReadDir) holds.
    EntriesHandle
}

/// What kind of file a path or entry is (Zig `File.Kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link.
    SymLink,
    /// A named pipe (FIFO).
    NamedPipe,
    /// A Unix-domain socket.
    UnixDomainSocket,
    /// A block device.
    BlockDevice,
    /// A character device.
    CharacterDevice,
    /// The system did not say.
    Unknown,
}

/// Permission bits of a file: the Unix mode's low 12 bits (Zig `File.Permissions`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Permissions(u32);

impl Permissions {
    /// The default of a new file: `0o666`, less the process's umask.
    pub const DEFAULT_FILE: Permissions = Permissions(0o666);
    /// The default of a new directory: `0o777`, less the process's umask.
    pub const DEFAULT_DIR: Permissions = Permissions(0o777);

    /// Permissions from a Unix mode (bits beyond `0o7777` are ignored).
    pub const fn from_mode(mode: u32) -> Permissions {
        Permissions(mode & 0o7777)
    }

    /// The Unix mode bits.
    pub const fn mode(self) -> u32 {
        self.0
    }

    /// Whether nobody may write (no `w` bit set).
    pub const fn is_read_only(self) -> bool {
        self.0 & 0o222 == 0
    }
}

impl fmt::Debug for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Permissions({:#o})", self.0)
    }
}

/// What `stat` says of a file (Zig `File.Stat`). Times are on the real clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metadata {
    /// The file's inode number.
    pub inode: u64,
    /// The device it is on.
    pub device: u64,
    /// Hard links to it.
    pub nlink: u64,
    /// Its length in bytes.
    pub size: u64,
    /// Its permission bits.
    pub permissions: Permissions,
    /// What kind of file it is.
    pub kind: FileKind,
    /// Owner user id.
    pub uid: u32,
    /// Owner group id.
    pub gid: u32,
    /// Last access.
    pub atime: Timestamp,
    /// Last modification of the contents.
    pub mtime: Timestamp,
    /// Last change of the contents or the metadata.
    pub ctime: Timestamp,
    /// The preferred size of an I/O on it.
    pub block_size: u64,
}

impl Metadata {
    /// Builds one (for backends).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        inode: u64,
        device: u64,
        nlink: u64,
        size: u64,
        permissions: Permissions,
        kind: FileKind,
        uid: u32,
        gid: u32,
        times: [Timestamp; 3],
        block_size: u64,
    ) -> Metadata {
        let [atime, mtime, ctime] = times;
        Metadata {
            inode,
            device,
            nlink,
            size,
            permissions,
            kind,
            uid,
            gid,
            atime,
            mtime,
            ctime,
            block_size,
        }
    }

    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        self.kind == FileKind::Directory
    }

    /// Whether it is a regular file.
    pub fn is_file(&self) -> bool {
        self.kind == FileKind::File
    }
}

/// How a file is opened: the backend-level options every open and create becomes (the typed
/// [`OpenFlags`](super::OpenFlags) and [`CreateFlags`](super::CreateFlags) map to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    /// Open for reading.
    pub read: bool,
    /// Open for writing.
    pub write: bool,
    /// Every write goes to the end (`O_APPEND`).
    pub append: bool,
    /// Truncate to length 0 (`O_TRUNC`).
    pub truncate: bool,
    /// Create it if missing (`O_CREAT`).
    pub create: bool,
    /// Fail with `AlreadyExists` if it exists (`O_CREAT | O_EXCL`).
    pub exclusive: bool,
    /// A final symbolic link is followed; `false`: opening one fails (`O_NOFOLLOW`).
    pub follow_symlinks: bool,
    /// Must be a directory (`O_DIRECTORY`).
    pub directory: bool,
    /// Permissions of a file that is created.
    pub permissions: Permissions,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            read: true,
            write: false,
            append: false,
            truncate: false,
            create: false,
            exclusive: false,
            follow_symlinks: true,
            directory: false,
            permissions: Permissions::DEFAULT_FILE,
        }
    }
}

/// Which accesses [`Dir::access`](super::Dir::access) checks; all `false` checks existence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Access {
    /// May read.
    pub read: bool,
    /// May write.
    pub write: bool,
    /// May execute (search, for a directory).
    pub execute: bool,
}

impl Access {
    /// Only that it exists.
    pub const EXISTS: Access = Access { read: false, write: false, execute: false };
    /// Readable.
    pub const READ: Access = Access { read: true, write: false, execute: false };
    /// Writable.
    pub const WRITE: Access = Access { read: false, write: true, execute: false };
}

/// A new value for one timestamp (Zig `File.SetTimestamp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SetTimestamp {
    /// Leave it as it is.
    #[default]
    Unchanged,
    /// The current time.
    Now,
    /// This time (real clock).
    To(Timestamp),
}

/// An advisory whole-file lock (`flock`) (Zig `File.Lock`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lock {
    /// No lock: unlock.
    None,
    /// Many holders at once.
    Shared,
    /// One holder.
    Exclusive,
}

/// Where a file read or write happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Offset {
    /// At the file's position, which advances (streaming; Zig `read`/`write`).
    Current,
    /// At this offset; the file's position is untouched (positional; Zig `readPositional`).
    At(u64),
}

/// One entry of a directory being read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// Its name in the directory (never `.` or `..`).
    pub name: OsString,
    /// What kind of file it is (from the directory entry, or a `stat` where the file system did
    /// not say; `Unknown` if that failed too).
    pub kind: FileKind,
    /// Its inode number.
    pub inode: u64,
}

/// What a memory map covers (Zig `File.MemoryMap.CreateOptions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapOptions {
    /// Where in the file the map starts: a multiple of the page size.
    pub offset: u64,
    /// Its length in bytes (at least 1).
    pub len: usize,
    /// Whether it may be written (the file must be open for writing): writes reach the file.
    pub writable: bool,
}

/// A memory region a backend mapped, behind a [`MapHandle`]. For backend implementors.
///
/// # Safety
///
/// `as_ptr()..as_ptr() + len()` must be valid for reads (and, for a map made writable, writes)
/// for as long as the region lives, be aligned to at least 8 bytes, and be touched by nothing
/// but the [`MemoryMap`](super::MemoryMap) that owns the handle (the backend's own `map_*`
/// methods may call system functions on the range, such as `msync`, but never make Rust
/// references into it).
pub unsafe trait MappedRegion: Send + Sync + 'static {
    /// The first byte.
    fn as_ptr(&self) -> *mut u8;
    /// Its length in bytes.
    fn len(&self) -> usize;
    /// Whether its length is 0.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// For the backend's downcasts.
    fn as_any(&self) -> &dyn Any;
}

/// A memory map, as the backend made it: what a [`MemoryMap`](super::MemoryMap) holds.
#[derive(Clone)]
pub struct MapHandle {
    pub(crate) region: Arc<dyn MappedRegion>,
}

impl MapHandle {
    /// Wraps a backend's mapped region.
    pub fn new<T: MappedRegion>(region: Arc<T>) -> MapHandle {
        MapHandle { region }
    }

    /// The backend's region, if it is a `T`. For backend implementors.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        self.region.as_any().downcast_ref::<T>()
    }
}

impl fmt::Debug for MapHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapHandle").field("len", &self.region.len()).finish_non_exhaustive()
    }
}

/// One of the process's standard streams, for [`File::stdin`](super::File::stdin) and friends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StdStream {
    /// Standard input (descriptor 0 on unix).
    Input,
    /// Standard output (descriptor 1).
    Output,
    /// Standard error (descriptor 2).
    Error,
}
