//! The registry of live tasks: every task spawned whose future has not yet been dropped.
//!
//! `deinit` needs it: a task blocked forever is in no run queue, only its waker is somewhere (a
//! reactor registration, a lock's wait list, a user's channel). Walking the registry and waking
//! every task puts them all in the injection queue, where shutdown drops them.
//!
//! Ground rules:
//! 1. A registered task is a pointer to its `TaskHeader` in a place of a shard, put there by
//!    `task_spawned` (at spawn) and taken out by `task_finished` (future dropped). While the place
//!    holds it the future exists, so the header (in the same allocation) is valid.
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
//! 4. A shard is a slab: a free place holds the index of the next free one, and the shard keeps
//!    the most recently freed. The spawning thread and the finishing one are different threads
//!    whenever tasks come from outside, so every line either touches was last written by the
//!    other; a registration now touches two (the shard's, the place's) where a separate free
//!    list made it three (`spawn_many_remote_idle` of `benches/scheduler.rs`: registration fell
//!    from 6.8 % to 3.9 % of the bench's samples, the median of 11 or more runs from 4.4 ms to
//!    4.0 ms).

use crate::loom::sync::{Mutex, MutexGuard};
use std::ptr;
use std::sync::Arc;

use crate::task::TaskHeader;

/// Number of shards. A power of two, comfortably above the worker counts this runtime targets,
/// so that workers registering tasks rarely meet on one lock.
const SHARDS: usize = 16;

/// One place in a shard: a registered task, or a link of the shard's list of free places.
enum Slot {
    Task(*const TaskHeader),
    /// Free; the next free place's index, or `NO_SLOT`.
    Free(usize),
}

/// The end of a shard's free list.
const NO_SLOT: usize = usize::MAX;

/// A slab: the free places are linked through the places themselves (rule 4), so a registration
/// and a removal each touch the shard's own line and the one place, nothing else.
struct Shard {
    slots: Vec<Slot>,
    /// The most recently freed place, or `NO_SLOT`.
    free: usize,
    len: usize,
}

// SAFETY: the pointers refer to `TaskHeader`s, which are `Sync`; one is only dereferenced while
// its place holds it, which ground rule 1 shows is while the header is valid.
unsafe impl Send for Shard {}

impl Default for Shard {
    fn default() -> Self {
        Shard { slots: Vec::new(), free: NO_SLOT, len: 0 }
    }
}

impl Shard {
    /// Whether place `index` holds `header` (a stale slot, or another registry's, does not).
    fn holds(&self, index: usize, header: &TaskHeader) -> bool {
        matches!(self.slots.get(index), Some(Slot::Task(p)) if ptr::eq(*p, header))
    }

    /// The registered tasks.
    fn tasks(&self) -> impl Iterator<Item = *const TaskHeader> + '_ {
        self.slots.iter().filter_map(|slot| match slot {
            Slot::Task(header) => Some(*header),
            Slot::Free(_) => None,
        })
    }
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
        let mut guard = lock(&self.shards[shard_no].0);
        let shard = &mut *guard;
        let index = match shard.free {
            NO_SLOT => {
                shard.slots.push(Slot::Task(header));
                shard.slots.len() - 1
            }
            i => {
                let Slot::Free(next) = std::mem::replace(&mut shard.slots[i], Slot::Task(header))
                else {
                    unreachable!("the free list links a taken place");
                };
                shard.free = next;
                i
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
        let mut guard = lock(&self.shards[slot % SHARDS].0);
        let shard = &mut *guard;
        let index = slot / SHARDS;
        // Only its own place: a stale slot (a second removal) must not free another task's.
        if shard.holds(index, header) {
            shard.slots[index] = Slot::Free(shard.free);
            shard.free = index;
            shard.len -= 1;
        }
    }

    /// Wakes every registered task but `except` (see the module docs; `except` is the task that
    /// runs a `deinit`, or null). Returns how many it woke.
    pub(crate) fn wake_all_except(&self, except: *const TaskHeader) -> usize {
        let mut n = 0;
        for shard in self.shards.iter() {
            let shard = lock(&shard.0);
            for header in shard.tasks() {
                if ptr::eq(header, except) {
                    continue;
                }
                // SAFETY: ground rule 1: the place holds it, so the header is valid.
                unsafe { &*header }.wake();
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
        shard.holds(slot / SHARDS, header)
    }

    /// Wakes every registered task whose owner (its `Schedule`) is the object at `owner` (its
    /// data address): an ending home's blocked local tasks (`local.rs`, rule 5). Returns how many.
    pub(crate) fn wake_owned_by(&self, owner: *const ()) -> usize {
        let mut n = 0;
        for shard in self.shards.iter() {
            let shard = lock(&shard.0);
            for header in shard.tasks() {
                // SAFETY: ground rule 1: the place holds it, so the header is valid.
                let header = unsafe { &*header };
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
            for header in shard.tasks() {
                // SAFETY: ground rule 1: the place holds it, so the header is valid.
                f(unsafe { &*header });
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

#[cfg(all(test, not(kqio_loom)))]
mod tests {
    use super::*;

    /// `n` headers; the vector is never grown afterwards, so their addresses hold.
    fn headers(n: usize) -> Vec<TaskHeader> {
        (0..n).map(|_| TaskHeader::detached(false)).collect()
    }

    fn places(registry: &Registry) -> usize {
        registry.shards.iter().map(|s| lock(&s.0).slots.len()).sum()
    }

    fn registered(registry: &Registry) -> Vec<*const TaskHeader> {
        let mut all = Vec::new();
        registry.for_each(|h| all.push(h as *const TaskHeader));
        all.sort();
        all
    }

    #[test]
    fn removed_places_are_reused_and_only_live_tasks_are_listed() {
        let registry = Registry::new();
        let first = headers(200);
        first.iter().for_each(|h| registry.insert(h));
        assert_eq!(registry.len(), 200);
        let grown = places(&registry);
        for h in first.iter().step_by(2) {
            registry.remove(h);
        }
        assert_eq!(registry.len(), 100);
        for (i, h) in first.iter().enumerate() {
            assert_eq!(registry.contains(h), i % 2 == 1, "task {i}");
        }
        let second = headers(100);
        second.iter().for_each(|h| registry.insert(h));
        assert_eq!(registry.len(), 200);
        // Ids are spread over the shards, so a shard's new tasks may outnumber its free places by
        // a few; most take a freed place.
        assert!(places(&registry) < grown + 100, "{} places for 200 tasks", places(&registry));
        let mut expected: Vec<*const TaskHeader> = first
            .iter()
            .skip(1)
            .step_by(2)
            .chain(second.iter())
            .map(|h| h as *const TaskHeader)
            .collect();
        expected.sort();
        assert_eq!(registered(&registry), expected);
        first.iter().skip(1).step_by(2).chain(second.iter()).for_each(|h| registry.remove(h));
        assert_eq!(registry.len(), 0);
        assert!(registered(&registry).is_empty());
    }

    #[test]
    fn a_second_removal_leaves_the_task_that_took_the_place() {
        let registry = Registry::new();
        let old = TaskHeader::detached(false);
        registry.insert(&old);
        registry.remove(&old);
        // A task that lands in the same shard takes the freed place.
        let new = std::iter::repeat_with(|| Box::new(TaskHeader::detached(false)))
            .find(|h| h.id().as_u64() % SHARDS as u64 == old.id().as_u64() % SHARDS as u64)
            .expect("ids cycle through the shards");
        registry.insert(&new);
        assert_eq!(new.slot(), old.slot(), "the freed place is taken first");
        registry.remove(&old);
        assert!(registry.contains(&new));
        assert_eq!(registry.len(), 1);
    }
}
