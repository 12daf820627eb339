//! One lock for the tests of a binary that count per-process resources (descriptors, threads,
//! children): each such test holds [`serial`]'s guard for its whole run.

use std::sync::{Mutex, MutexGuard};

static SERIAL: Mutex<()> = Mutex::new(());

/// Takes the binary's serializing lock; a test that panicked while holding it does not poison it
/// for the others.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}
