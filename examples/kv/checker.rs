//! The checker of the key-value example's guarantee (`service.rs`, "The guarantee"): clients
//! record every acknowledged write in a [`History`]; after the faults, reads and the replicas'
//! durable logs are checked against it.
//!
//! Ground rules:
//! 1. Only acknowledged writes are owed: a write that failed or timed out may or may not appear.
//! 2. For reads, a later version of a key stands for an earlier one (the later write overwrote
//!    it); the logs, which keep every write (no compaction), must hold each acknowledged write
//!    itself, so a lost write cannot hide behind a later one.
//! 3. Values are a function of key and version ([`value_of`]), so a wrong or torn value is caught
//!    as well as a missing one.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::wal::Entry;

/// The value a checked client writes for `key` at `version`.
pub fn value_of(key: &str, version: u64) -> Vec<u8> {
    format!("{key}@{version}").into_bytes()
}

/// What clients were told: every acknowledged write, as key and version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    acked: BTreeMap<String, BTreeSet<u64>>,
}

impl History {
    /// Records that the write of `key` at `version` was acknowledged.
    pub fn ack(&mut self, key: &str, version: u64) {
        self.acked.entry(key.to_owned()).or_default().insert(version);
    }

    /// Adds every acknowledged write of `other`.
    pub fn merge(&mut self, other: &History) {
        for (key, versions) in &other.acked {
            self.acked.entry(key.clone()).or_default().extend(versions);
        }
    }

    /// Keys with an acknowledged write.
    pub fn len(&self) -> usize {
        self.acked.len()
    }

    /// No write was acknowledged.
    pub fn is_empty(&self) -> bool {
        self.acked.is_empty()
    }

    /// Acknowledged writes in all (every version of every key).
    pub fn writes(&self) -> usize {
        self.acked.values().map(BTreeSet::len).sum()
    }

    /// Each key with its highest acknowledged version.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.acked.iter().filter_map(|(k, v)| Some((k.as_str(), *v.last()?)))
    }

    /// Every acknowledged write, as key and version.
    pub fn all(&self) -> impl Iterator<Item = (&str, u64)> {
        self.acked.iter().flat_map(|(k, vs)| vs.iter().map(move |v| (k.as_str(), *v)))
    }
}

/// A broken guarantee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// A read after the faults returned an older version (or none) than was acknowledged.
    LostOnRead {
        /// The key.
        key: String,
        /// Its highest acknowledged version.
        acked: u64,
        /// The version read.
        read: Option<u64>,
    },
    /// A read returned a value that is not the one written at that version.
    WrongValue {
        /// The key.
        key: String,
        /// The version read.
        version: u64,
    },
    /// A replica the guarantee names does not hold an acknowledged write durably.
    NotDurable {
        /// The key.
        key: String,
        /// The acknowledged version.
        acked: u64,
        /// The replicas (`"leader"`, `"follower 1"`, `"follower 2"`) holding it durably.
        holders: Vec<&'static str>,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::LostOnRead { key, acked, read } => write!(
                f,
                "acknowledged write lost: {key:?} was acknowledged at version {acked}, a read \
                 after recovery gave {read:?}"
            ),
            Violation::WrongValue { key, version } => {
                write!(f, "{key:?} at version {version} has a value that was never written")
            }
            Violation::NotDurable { key, acked, holders } => write!(
                f,
                "acknowledged write not durable on the leader and a follower: {key:?} version \
                 {acked} is durable only on {holders:?}"
            ),
        }
    }
}

impl std::error::Error for Violation {}

/// Checks reads made after the faults: `reads[key]` is the `(version, value)` read for each key
/// of `history` (keys not read are not checked).
///
/// # Errors
///
/// The first key whose read misses its acknowledged version or has a wrong value.
pub fn check_reads(
    history: &History,
    reads: &BTreeMap<String, Option<(u64, Vec<u8>)>>,
) -> Result<(), Violation> {
    for (key, acked) in history.iter() {
        let Some(read) = reads.get(key) else { continue };
        match read {
            Some((v, value)) if *v >= acked => {
                if *value != value_of(key, *v) {
                    return Err(Violation::WrongValue { key: key.to_owned(), version: *v });
                }
            }
            other => {
                return Err(Violation::LostOnRead {
                    key: key.to_owned(),
                    acked,
                    read: other.as_ref().map(|(v, _)| *v),
                })
            }
        }
    }
    Ok(())
}

/// Checks the replicas' durable logs (`[leader, follower 1, follower 2]`, as left by a crash):
/// each acknowledged write must be in the leader's log and in a follower's.
///
/// # Errors
///
/// The first acknowledged write that is not, or a logged value that was never written.
pub fn check_replicas(history: &History, logs: [&[Entry]; 3]) -> Result<(), Violation> {
    const NAMES: [&str; 3] = ["leader", "follower 1", "follower 2"];
    let mut held: [BTreeSet<(&str, u64)>; 3] = Default::default();
    for (i, log) in logs.iter().enumerate() {
        for e in log.iter() {
            if e.value != value_of(&e.key, e.version) {
                return Err(Violation::WrongValue { key: e.key.clone(), version: e.version });
            }
            held[i].insert((e.key.as_str(), e.version));
        }
    }
    for (key, acked) in history.all() {
        let holds = |i: usize| held[i].contains(&(key, acked));
        if !(holds(0) && (holds(1) || holds(2))) {
            let holders = (0..3).filter(|&i| holds(i)).map(|i| NAMES[i]).collect();
            return Err(Violation::NotDurable { key: key.to_owned(), acked, holders });
        }
    }
    Ok(())
}
