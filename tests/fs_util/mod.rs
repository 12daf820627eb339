//! Helpers shared by the `fs_*` tests: a runtime, a scratch directory per test, a gate that
//! saturates the blocking pool without sleeping, and a checksum.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use kqio::fs::Dir;
use kqio::{InitOptions, IoRef, Kqueue};

/// A two-worker runtime with the default blocking pool.
pub fn rt() -> Kqueue {
    Kqueue::init(InitOptions { n_threads: Some(2), ..Default::default() }).expect("init")
}

/// A runtime whose blocking pool has at most `blocking` threads named `{name}-blocking-N`.
pub fn rt_with_pool(blocking: usize, name: &str) -> Kqueue {
    Kqueue::init(InitOptions {
        n_threads: Some(2),
        max_blocking_threads: blocking,
        thread_name: name.to_owned(),
        ..Default::default()
    })
    .expect("init")
}

/// A fresh directory under the system's temporary directory, deleted (with its contents) on
/// drop.
pub struct Scratch {
    pub path: PathBuf,
}

impl Scratch {
    pub fn new(test: &str) -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("kqio-{test}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create the scratch directory");
        Scratch { path }
    }

    /// `self.path / rel`.
    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.path.join(rel)
    }

    /// The scratch directory as a kqio `Dir`.
    pub async fn dir(&self, io: &IoRef) -> Dir {
        Dir::cwd(io).open_dir(&self.path, Default::default()).await.expect("open the scratch dir")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A gate that blocking jobs wait at until the test opens it (saturates the pool without
/// sleeping).
pub struct Gate {
    open: Mutex<bool>,
    cond: Condvar,
}

impl Gate {
    pub fn new() -> Arc<Gate> {
        Arc::new(Gate { open: Mutex::new(false), cond: Condvar::new() })
    }

    pub fn wait(&self) {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.cond.wait(open).unwrap();
        }
    }

    pub fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.cond.notify_all();
    }
}

/// Waits (polling, with a 10 s deadline) until `cond` holds.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A cheap order-sensitive checksum (FNV-1a over 8-byte words).
pub fn checksum(data: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for chunk in data.chunks(8) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// `len` pseudo-random bytes (xorshift), reproducible from `seed`.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The descriptors this process has open now.
pub fn open_fds() -> usize {
    let dir = if cfg!(target_os = "linux") { "/proc/self/fd" } else { "/dev/fd" };
    // The listing's own descriptor is counted every time, so differences are exact.
    std::fs::read_dir(dir).expect("list open descriptors").count()
}
