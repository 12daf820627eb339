//! Entropy for the vtable's random methods: a ChaCha12 generator per thread, seeded from the OS,
//! for `random`; the OS itself (`getrandom`) for `random_secure`.
//!
//! Ground rules:
//! 1. `random` takes no lock: each thread (worker or not) has its own generator in a
//!    thread-local, made on first use. ChaCha12 is the generator `rand`'s `StdRng` uses: a
//!    cryptographically strong stream cipher, fast enough for bulk use (about 1 GB/s).
//! 2. Seeding cannot fail: if the OS has no entropy to give (a sandbox without `getrandom` or
//!    `/dev/urandom`), the seed is mixed from the clocks, the thread and addresses instead, and
//!    `random` still works (Zig's `random` cannot fail either). `random_secure` reports that
//!    case as `EntropyUnavailable`.
//! 3. After `fork`, a child continues its parent's stream in the thread that forked: use
//!    `random_secure` for secrets in forked children.

use std::cell::RefCell;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha12Rng;

use crate::error::EntropyUnavailable;

thread_local! {
    static RNG: RefCell<Option<ChaCha12Rng>> = const { RefCell::new(None) };
}

fn fallback_seed(seed: &mut [u8; 32]) {
    use std::hash::{BuildHasher, Hasher};
    // `RandomState` is itself seeded per process (from the OS when it can); mix in what differs
    // between threads and calls.
    let mut words = [0u64; 4];
    for (i, w) in words.iter_mut().enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.write_usize(seed.as_ptr() as usize);
        h.write_u64(crate::sys::clock::now(crate::time::Clock::CpuThread).as_nanos() as u64);
        std::hash::Hash::hash(&std::thread::current().id(), &mut h);
        *w = h.finish();
    }
    for (chunk, w) in seed.chunks_mut(8).zip(words) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
}

fn new_rng() -> ChaCha12Rng {
    let mut seed = [0u8; 32];
    if getrandom::fill(&mut seed).is_err() {
        fallback_seed(&mut seed);
    }
    ChaCha12Rng::from_seed(seed)
}

/// Fills `buf` from this thread's generator.
pub(crate) fn fill(buf: &mut [u8]) {
    if buf.is_empty() {
        return;
    }
    RNG.with(|cell| match cell.try_borrow_mut() {
        Ok(mut rng) => rng.get_or_insert_with(new_rng).fill_bytes(buf),
        // Only reachable if a fill re-entered itself on this thread (it does not call out); a
        // fresh generator keeps the call infallible anyway.
        Err(_) => new_rng().fill_bytes(buf),
    })
}

/// Fills `buf` straight from the OS.
pub(crate) fn fill_secure(buf: &mut [u8]) -> Result<(), EntropyUnavailable> {
    if buf.is_empty() {
        return Ok(());
    }
    getrandom::fill(buf).map_err(|_| EntropyUnavailable)
}
