//! The simulated disks' options: latency distributions, the durability rule for directory
//! entries, faults and capacity, the simulated user, and the seeded draws they drive.
//!
//! Ground rules:
//! 1. Options are plain data, `Default` and documented; every random choice they cause is one
//!    draw of the world's generator (none when a probability is 0 or a range one value), so
//!    turning a fault off does not shift the draws of the rest of the run more than needed.

use super::Env;
use crate::time::Duration;

/// A latency distribution: uniform between `min` and `max` (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency {
    /// The shortest wait.
    pub min: Duration,
    /// The longest wait (taken as `min` if below it).
    pub max: Duration,
}

impl Latency {
    /// No wait at all: the operation is done at its first poll.
    pub const ZERO: Latency = Latency { min: Duration::ZERO, max: Duration::ZERO };

    /// Uniform between `min` and `max`.
    pub const fn uniform(min: Duration, max: Duration) -> Latency {
        Latency { min, max }
    }

    /// A draw, in nanoseconds; no draw from the generator when the range is one value.
    pub(super) fn draw(self, env: &Env) -> u64 {
        let min = self.min.as_nanos().max(0) as u64;
        let max = (self.max.as_nanos().max(0) as u64).max(min);
        if max == min {
            return min;
        }
        min + env.random_u64() % (max - min + 1)
    }
}

/// When directory entries (creates, deletes, renames, links) become durable; see the module
/// docs, "Durability".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DirDurability {
    /// When the directory itself is synced (POSIX's promise).
    #[default]
    OnDirSync,
    /// With any `file_sync` on the host (a journaling file system's habit).
    OnAnySync,
}

/// The simulated disks' settings, shared by every host; part of the world's options. Every
/// probability is per operation, drawn from the world's seeded generator.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskOptions {
    /// Bytes of file data each host's disk holds (`NoSpace` beyond); `None`: no limit.
    /// Default `None`.
    pub capacity: Option<u64>,
    /// The chance that an operation on the disk fails with `EIO` and does nothing. Default 0.
    pub eio_probability: f64,
    /// The chance that a write of at least one byte fails with `NoSpace` (`ENOSPC`) and writes
    /// nothing, whatever the [`capacity`](Self::capacity) (a disk that other programs fill).
    /// Default 0.
    pub enospc_probability: f64,
    /// The chance that a crash tears the last un-synced write (a prefix of it survives).
    /// Default 0.5.
    pub torn_write_probability: f64,
    /// Lookups, reads, `stat`, listing, opening. Default 10 to 100 µs.
    pub read_latency: Latency,
    /// Writes, creating, deleting, renaming, metadata changes. Default 10 to 100 µs.
    pub write_latency: Latency,
    /// `file_sync`. Default 1 to 5 ms.
    pub sync_latency: Latency,
    /// When directory entries become durable. Default [`DirDurability::OnDirSync`].
    pub dir_durability: DirDurability,
    /// The user id the host's processes run as (0: the superuser, who passes every permission
    /// check). Default 1000.
    pub uid: u32,
    /// Their group id. Default 1000.
    pub gid: u32,
    /// Permission bits cleared from every file and directory created. Default `0o022`.
    pub umask: u32,
    /// Bytes a pipe buffers before a writer waits. Default 65,536 (Linux's).
    pub pipe_capacity: usize,
}

impl Default for DiskOptions {
    fn default() -> Self {
        DiskOptions {
            capacity: None,
            eio_probability: 0.0,
            enospc_probability: 0.0,
            torn_write_probability: 0.5,
            read_latency: Latency::uniform(Duration::from_micros(10), Duration::from_micros(100)),
            write_latency: Latency::uniform(Duration::from_micros(10), Duration::from_micros(100)),
            sync_latency: Latency::uniform(Duration::from_millis(1), Duration::from_millis(5)),
            dir_durability: DirDurability::OnDirSync,
            uid: 1000,
            gid: 1000,
            umask: 0o022,
            pipe_capacity: 65_536,
        }
    }
}

/// Which latency an operation waits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    Read,
    Write,
    Sync,
}

/// `true` with probability `p`, from one draw (none when `p` is 0 or 1).
pub(super) fn chance(env: &Env, p: f64) -> bool {
    if p <= 0.0 {
        return false;
    }
    if p >= 1.0 {
        return true;
    }
    ((env.random_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
}
