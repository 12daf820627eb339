//! What the disk's handles hold: a directory (`SimDir`), an open file (`SimFile`: a disk file's
//! description, a pipe end or a standard stream), a listing in progress (`SimEntries`).
//!
//! Ground rules:
//! 1. A handle names its host and the host's generation (its crash count); the disk checks both
//!    at each use, so a handle from another host or from before a crash is refused, never
//!    followed into the wrong image.
//! 2. A disk file's description closes when its last handle is dropped (`DiskFile::drop`), which
//!    takes the disk's lock: no handle is ever dropped while that lock is held.

use std::collections::VecDeque;
use std::sync::{Mutex, Weak};

use super::host::DirRef;
use super::pipe::PipeEnd;
use super::{lock, wake, HostId, Shared};
use crate::fs::{DirEntry, StdStream};

/// The state behind a `DirHandle`.
pub(super) struct SimDir {
    pub host: HostId,
    pub dir: DirRef,
}

/// The state behind a `FileHandle`.
pub(super) enum SimFile {
    Disk(DiskFile),
    Pipe(PipeEnd),
    Stdio { disk: Weak<Shared>, host: HostId, stream: StdStream },
}

/// An open file description of a host's disk; closed when the last handle goes.
pub(super) struct DiskFile {
    pub disk: Weak<Shared>,
    pub host: HostId,
    pub gen: u64,
    pub id: u64,
}

impl Drop for DiskFile {
    fn drop(&mut self) {
        // Never dropped under the disk's lock: jobs keep their handle outside it (`job`).
        let Some(shared) = self.disk.upgrade() else { return };
        let wakers = match lock(&shared).hosts.get_mut(&self.host) {
            Some(h) if h.gen == self.gen => h.close(self.id),
            _ => Vec::new(),
        };
        wake(wakers);
    }
}

/// The state behind an `EntriesHandle`: the snapshot still to hand out.
pub(super) struct SimEntries(pub Mutex<VecDeque<DirEntry>>);
