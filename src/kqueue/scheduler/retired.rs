//! Tasks that finished away from home: the worker that spawned a task frees its memory.
//!
//! A task is one allocation, made by the thread that spawns it and freed by the thread that drops
//! the last reference to it, which is usually the one that ran its last poll. When another worker
//! stole the task, that free crosses threads, and allocators make a foreign free slow: glibc
//! returns the chunk to the spawner's arena under that arena's lock, which the spawner takes for
//! every task it allocates. A worker spawning a burst while another runs half of it then meets
//! the other on that lock for most tasks (`spawn_many_local` in `benches/scheduler.rs`: 4.3 ms
//! per 10,000 tasks with the frees where they fell, 3.0 ms with them sent home).
//!
//! Ground rules:
//! 1. A task spawned by a worker records that worker as its home (`TaskHeader::home`); a task
//!    spawned by any other thread has none and is never retired.
//! 2. A task whose future completes on a worker other than its home is *retired*: that worker
//!    puts a clone of the task's waker (one reference, which keeps the allocation) in the home's
//!    retired queue. Only the free moves: the future and the output are dropped as before.
//! 3. The home worker drops what its queue holds (the last reference then frees the task where it
//!    was allocated): before it spawns (in `reserve`, ahead of the allocation, which then reuses
//!    the memory at once), every `EVENT_INTERVAL` ticks of its loop, and before it parks. The queue is bounded ([`CAPACITY`]):
//!    when it is full the completing worker drops its clone at once, and the task is freed as
//!    it would be without this module. So the memory held for finished tasks is bounded too.
//! 4. Shutdown: nothing is retired once `stopping` is set, and the queues are emptied by each
//!    worker as it exits and by `drop_remaining_tasks` after the workers are joined, so no
//!    reference is left behind (it would keep `Shared` alive: a task's header holds its owner).
//!    Dropping a reference runs no user code: a retired task's future and output are gone.

use std::task::Waker;

use concurrent_queue::ConcurrentQueue;

/// References a worker's retired queue holds at most (ground rule 3): 256 finished tasks, 6 KiB
/// of queue per worker.
const CAPACITY: usize = 4096;

/// A worker's retired queue: references to its tasks that finished on other workers.
pub(super) struct Retired {
    queue: ConcurrentQueue<Waker>,
}

impl Retired {
    pub(super) fn new() -> Self {
        Retired { queue: ConcurrentQueue::bounded(CAPACITY) }
    }

    /// Keeps a reference to a task that finished away from this queue's worker (ground rule 2).
    #[inline]
    pub(super) fn retire(&self, waker: &Waker) {
        // Full: the clone comes back and is dropped here, and the task is freed by the thread
        // that drops its last reference, as if it had not been retired.
        let _ = self.queue.push(waker.clone());
    }

    /// Drops every reference held (ground rule 3). Any thread may call it; the home worker does,
    /// so that the tasks are freed where they were allocated.
    #[inline]
    pub(super) fn release(&self) {
        while let Ok(waker) = self.queue.pop() {
            drop(waker);
        }
    }

    /// How many references are held.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(all(test, not(kqio_loom)))]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::{Retired, CAPACITY};

    /// Counts its drops: async-task drops a task's schedule function when it frees the task.
    struct CountDrop(Arc<AtomicUsize>);

    impl Drop for CountDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A detached task that completes in its first run, and a counter of its frees.
    fn finished_task() -> (async_task::Runnable, std::task::Waker, Arc<AtomicUsize>) {
        let freed = Arc::new(AtomicUsize::new(0));
        let guard = CountDrop(freed.clone());
        let (runnable, task) = async_task::spawn(async {}, move |_| {
            let _ = &guard;
        });
        task.detach();
        let waker = runnable.waker();
        (runnable, waker, freed)
    }

    /// Rules 2 and 3: a retired task outlives its last run until its home releases it, and is
    /// freed by that release.
    #[test]
    fn a_retired_task_is_freed_by_the_release_not_by_its_last_run() {
        let retired = Retired::new();
        let (runnable, waker, freed) = finished_task();
        retired.retire(&waker);
        drop(waker);
        runnable.run();
        assert_eq!(freed.load(Ordering::SeqCst), 0, "the retired reference keeps it");
        assert_eq!(retired.len(), 1);
        retired.release();
        assert_eq!(freed.load(Ordering::SeqCst), 1, "freed by the release");
        assert_eq!(retired.len(), 0);
    }

    /// Rule 3: a full queue keeps nothing more; the task is freed by its last run, as without
    /// retiring.
    #[test]
    fn a_full_queue_lets_the_task_be_freed_where_it_ends() {
        let retired = Retired::new();
        let held: Vec<_> = (0..CAPACITY).map(|_| finished_task()).collect();
        for (_, waker, _) in &held {
            retired.retire(waker);
        }
        assert_eq!(retired.len(), CAPACITY);
        let (runnable, waker, freed) = finished_task();
        retired.retire(&waker);
        drop(waker);
        runnable.run();
        assert_eq!(freed.load(Ordering::SeqCst), 1, "not kept: the queue was full");
        assert_eq!(retired.len(), CAPACITY);
        for (runnable, waker, _) in held {
            drop(waker);
            runnable.run();
        }
        retired.release();
        assert_eq!(retired.len(), 0);
    }
}
