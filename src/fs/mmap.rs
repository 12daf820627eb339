//! `MemoryMap`: part of a file mapped into memory (Zig `File.MemoryMap`), made by
//! [`File::memory_map`](super::File::memory_map).
//!
//! Ground rules:
//! 1. The bytes are reached only through `&self` (reads) and `&mut self` (writes), so Rust's
//!    aliasing rules hold among users of the map; the backend only ever calls system functions
//!    (`msync`) on the range (`MappedRegion`'s contract).
//! 2. `flush` and `set_length` are jobs on the blocking pool; `set_length` replaces the map.
//!    Dropping the map unmaps it (at once, or when a job still using it ends).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use super::error::{Error, Op, Result};
use super::types::MapHandle;
use crate::IoRef;

/// A memory map of part of a file. Writes to a writable map reach the file (shared mapping);
/// [`flush`](Self::flush) makes them durable.
pub struct MemoryMap {
    io: IoRef,
    handle: MapHandle,
    writable: bool,
    path: Option<Arc<Path>>,
}

impl fmt::Debug for MemoryMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryMap")
            .field("len", &self.len())
            .field("writable", &self.writable)
            .finish_non_exhaustive()
    }
}

impl MemoryMap {
    pub(crate) fn new(
        io: IoRef,
        handle: MapHandle,
        writable: bool,
        path: Option<Arc<Path>>,
    ) -> MemoryMap {
        MemoryMap { io, handle, writable, path }
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.handle.region.len()
    }

    /// Whether its length is 0 (never, for a map made by kqio).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The mapped bytes.
    pub fn as_slice(&self) -> &[u8] {
        let r = &self.handle.region;
        // SAFETY: by `MappedRegion`'s contract the range is valid for reads while the region
        // lives (we hold it) and touched by nothing but this map; writes need `&mut self`, so
        // none happens while this shared borrow lives. `File::memory_map`'s caller promised that
        // nothing outside changes the bytes meanwhile.
        unsafe { std::slice::from_raw_parts(r.as_ptr(), r.len()) }
    }

    /// The mapped bytes, to write.
    ///
    /// # Panics
    ///
    /// If the map was not made writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        assert!(self.writable, "kqio: as_mut_slice on a read-only memory map");
        let r = &self.handle.region;
        // SAFETY: as in `as_slice`, and the map is writable; `&mut self` makes this the only
        // borrow of the bytes.
        unsafe { std::slice::from_raw_parts_mut(r.as_ptr(), r.len()) }
    }

    fn err(&self) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |e| Error::new(Op::Map, self.path.as_deref(), e)
    }

    /// Writes the changes back to the file and waits for the device (`msync(MS_SYNC)`).
    ///
    /// # Cancellation
    ///
    /// A cancellation point until its job starts.
    pub async fn flush(&self) -> Result<()> {
        self.flush_range(0, self.len()).await
    }

    /// As [`flush`](Self::flush), for `len` bytes at `offset` in the map.
    pub async fn flush_range(&self, offset: usize, len: usize) -> Result<()> {
        self.io.map_flush(&self.handle, offset, len).await.map_err(self.err())
    }

    /// Sets the file's length to the map's start plus `len` (truncating or extending it) and
    /// maps `len` bytes instead (Zig `MemoryMap.setLength`). Changes made before are in the file
    /// (the old map is shared with it); the map's address may change.
    pub async fn set_length(&mut self, len: usize) -> Result<()> {
        let handle = self.io.map_set_length(&self.handle, len).await.map_err(self.err())?;
        self.handle = handle;
        Ok(())
    }
}
