//! A small per-thread cache of transfer buffers, so that a stream of reads or writes does not
//! allocate (and, for large buffers, map and unmap) a buffer per job.
//!
//! Ground rules:
//! 1. A buffer goes to a job (which owns it while it runs, so a canceled caller never leaves the
//!    job writing into freed memory) and comes back with the job's result; the caller then
//!    returns it here. A buffer lost with a canceled job is simply not returned.
//! 2. At most [`CACHED`] buffers per thread, each of at most [`CHUNK_SIZE`] bytes of capacity.

use std::cell::RefCell;

use super::CHUNK_SIZE;

/// Buffers kept per thread: a reader, a writer and a spare.
const CACHED: usize = 3;

thread_local! {
    static CACHE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer with room for `len` bytes.
pub(crate) fn take(len: usize) -> Vec<u8> {
    let cached = CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let i = c.iter().position(|b| b.capacity() >= len)?;
        Some(c.swap_remove(i))
    });
    cached.unwrap_or_else(|| Vec::with_capacity(len))
}

/// Returns a buffer for reuse.
pub(crate) fn give(mut buf: Vec<u8>) {
    if buf.capacity() == 0 || buf.capacity() > CHUNK_SIZE {
        return;
    }
    buf.clear();
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() < CACHED {
            c.push(buf);
        } else if let Some(small) = c.iter_mut().min_by_key(|b| b.capacity()) {
            if small.capacity() < buf.capacity() {
                *small = buf;
            }
        }
    });
}
