//! The registry of live tasks: every task spawned whose future has not yet been dropped.
//!
//! `deinit` needs it: a task blocked forever is in no run queue, only its waker is somewhere (a
//! reactor registration, a lock's wait list, a user's channel). Walking the registry and waking
//! every task puts them all in the injection queue, where shutdown drops them.
//!
//! Ground rules:
//! 1. An entry is a pointer to a `TaskHeader`, added by `task_spawned` (at spawn) and removed
//!    by `task_finished` (future dropped). While the entry exists the future exists, so the header
//!    (in the same allocation) is valid.
//! 2. The registry is sharded to keep spawn-heavy workloads off one lock; a task's slot records
//!    its shard and index (`slot = index * SHARDS + shard`). The shard is chosen by task id, so
//!    that consecutive spawns go to different shards: a task is registered by the thread that
//!    spawns it and removed by the one that runs it last, and when those differ (a worker
//!    spawning a burst that another worker steals half of) a shard per spawner would make the
//!    two meet on its lock for every task (`spawn_many_local` of `benches/scheduler.rs`: 2.8 ms
//!    per 10,000 tasks with a shard per worker, 2.6 ms by id). Each shard has cache lines of its
//!    own, so that the two do not share one while they work on neighbouring shards.
//! 3. Nothing is called back into while a shard lock is held except `TaskHeader::wake`, which only
//!    schedules (it never drops a future), so no shard lock is ever taken re-entrantly.

use crate::loom::sync::{Mutex, MutexGuard};
use std::ptr;
use std::sync::Arc;

use crate::task::TaskHeader;

/// Number of shards. A power of two, comfortably above the worker counts this runtime targets,
/// so that workers registering tasks rarely meet on one lock.
const SHARDS: usize = 16;

struct Entry(*const TaskHeader);

// SAFETY: the pointer refers to a `TaskHeader`, which is `Sync`; it is only dereferenced while the
// entry exists, which ground rule 1 shows is while the header is valid.
unsafe impl Send for Entry {}

#[derive(Default)]
struct Shard {
    entries: Vec<Option<Entry>>,
    free: Vec<usize>,
    len: usize,
}

/// A shard on cache lines of its own (ground rule 2): 128 bytes, for the adjacent-line
/// prefetch of x86 and the 128-byte lines of Apple's cores.
#[repr(align(128))]
struct PaddedShard(Mutex<Shard>);

pub(crate) struct Registry {
    shards: Box<[PaddedShard]>,
}

impl Registry {
    pub(crate) fn new() -> Self {
        Registry {
            shards: (0..SHARDS).map(|_| PaddedShard(Mutex::new(Shard::default()))).collect(),
        }
    }

    /// Adds `header`, to the shard its id chooses (ground rule 2).
    pub(crate) fn insert(&self, header: &TaskHeader) {
        let shard_no = (header.id().as_u64() % SHARDS as u64) as usize;
        let mut shard = lock(&self.shards[shard_no].0);
        let index = match shard.free.pop() {
            Some(i) => {
                shard.entries[i] = Some(Entry(header));
                i
            }
            None => {
                shard.entries.push(Some(Entry(header)));
                shard.entries.len() - 1
            }
        };
        shard.len += 1;
        header.set_slot(index * SHARDS + shard_no);
    }

    /// Removes `header` if it was inserted.
    pub(crate) fn remove(&self, header: &TaskHeader) {
        let slot = header.slot();
        if slot == usize::MAX {
            return;
        }
        let mut shard = lock(&self.shards[slot % SHARDS].0);
        let index = slot / SHARDS;
        if shard.entries[index].take().is_some() {
            shard.free.push(index);
            shard.len -= 1;
        }
    }

    /// Wakes every registered task but `except` (see the module docs; `except` is the task that
    /// runs a `deinit`, or null). Returns how many it woke.
    pub(crate) fn wake_all_except(&self, except: *const TaskHeader) -> usize {
        let mut n = 0;
        for shard in self.shards.iter() {
            let shard = lock(&shard.0);
            for Entry(header) in shard.entries.iter().flatten() {
                if ptr::eq(*header, except) {
                    continue;
                }
                // SAFETY: ground rule 1: the entry exists, so the header is valid.
                unsafe { &**header }.wake();
                n += 1;
            }
        }
        n
    }

    /// Whether `header` is registered here (rather than in another runtime's registry, or in
    /// none).
    pub(crate) fn contains(&self, header: &TaskHeader) -> bool {
        let slot = header.slot();
        if slot == usize::MAX {
            return false;
        }
        let shard = lock(&self.shards[slot % SHARDS].0);
        shard
            .entries
            .get(slot / SHARDS)
            .is_some_and(|e| e.as_ref().is_some_and(|Entry(p)| ptr::eq(*p, header)))
    }

    /// Wakes every registered task whose owner (its `Schedule`) is the object at `owner` (its
    /// data address): an ending home's blocked local tasks (`local.rs`, rule 5). Returns how many.
    pub(crate) fn wake_owned_by(&self, owner: *const ()) -> usize {
        let mut n = 0;
        for shard in self.shards.iter() {
            let shard = lock(&shard.0);
            for Entry(header) in shard.entries.iter().flatten() {
                // SAFETY: ground rule 1: the entry exists, so the header is valid.
                let header = unsafe { &**header };
                if header.owner().is_some_and(|o| ptr::eq(Arc::as_ptr(o) as *const (), owner)) {
                    header.wake();
                    n += 1;
                }
            }
        }
        n
    }

    /// Calls `f` with every registered task's header, one shard locked at a time (`f` must not
    /// spawn, finish or wake tasks: ground rule 3).
    pub(crate) fn for_each(&self, mut f: impl FnMut(&TaskHeader)) {
        for shard in self.shards.iter() {
            let shard = lock(&shard.0);
            for Entry(header) in shard.entries.iter().flatten() {
                // SAFETY: ground rule 1: the entry exists, so the header is valid.
                f(unsafe { &**header });
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(&s.0).len).sum()
    }
}

/// Locks a shard. A shard's data stays consistent even if a holder panicked (every update is a
/// single step), so a poisoned lock is used as is.
fn lock(m: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
