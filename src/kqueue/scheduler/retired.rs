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
//!    keeps a clone of the task's waker (one reference, which keeps the allocation) in its
//!    [`Outbox`], and hands the outbox to the homes' [`Retired`] inboxes in batches of
//!    [`BATCH`] (one lock per batch and home, not per task), and whenever it ticks, parks or
//!    exits. Only the free moves: the future and the output are dropped as before.
//! 3. The home worker drops what its inbox holds (the last reference then frees the task where it
//!    was allocated): before it spawns (in `reserve`, ahead of the allocation, which then reuses
//!    the memory at once), every `EVENT_INTERVAL` ticks of its loop, and before it parks; an
//!    atomic count makes the check free when the inbox is empty. An inbox holds at most
//!    [`CAPACITY`] references: a batch that does not fit is dropped by the worker handing it
//!    over, and those tasks are freed as they would be without this module. So the memory held
//!    for finished tasks is bounded too, and after warm-up no vector here grows: the home swaps
//!    its inbox with a spare vector of its own.
//! 4. Shutdown: nothing is retired once `stopping` is set; a worker drops its outbox and empties
//!    its inbox as it exits, and `drop_remaining_tasks` empties every inbox after the workers
//!    are joined, so no reference is left behind (it would keep `Shared` alive: a task's header
//!    holds its owner).
//!    Dropping a reference runs no user code: a retired task's future and output are gone.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::task::Waker;

/// References an inbox holds at most (ground rule 3).
const CAPACITY: usize = 1024;

/// References an outbox collects before it hands them over (ground rule 2).
const BATCH: usize = 32;

/// A home worker's inbox: references to its tasks that finished on other workers.
pub(super) struct Retired {
    inbox: Mutex<Vec<Waker>>,
    /// `inbox.len()`, written under the lock, read without it by the home's quick check.
    held: AtomicUsize,
}

impl Retired {
    pub(super) fn new() -> Self {
        Retired { inbox: Mutex::new(Vec::new()), held: AtomicUsize::new(0) }
    }

    /// Drops every reference held (ground rule 3), the home worker passing its `spare` vector
    /// (empty; it comes back empty, with the inbox's capacity). Any thread may call it, with
    /// any empty vector; the home worker does, so that the tasks are freed where they were
    /// allocated.
    #[inline]
    pub(super) fn release(&self, spare: &mut Vec<Waker>) {
        if self.held.load(Ordering::Acquire) == 0 {
            return;
        }
        {
            let mut inbox = lock(&self.inbox);
            std::mem::swap(&mut *inbox, spare);
            self.held.store(0, Ordering::Release);
        }
        // Outside the lock: the frees are the slow part.
        spare.clear();
    }

    /// Takes `batch` in, or drops it if it does not fit (ground rule 3).
    fn accept(&self, batch: impl ExactSizeIterator<Item = Waker>) {
        let mut inbox = lock(&self.inbox);
        if inbox.len() + batch.len() > CAPACITY {
            drop(inbox);
            batch.for_each(drop);
            return;
        }
        inbox.extend(batch);
        self.held.store(inbox.len(), Ordering::Release);
    }

    /// How many references are held (for the tests below, which the loom build leaves out).
    #[cfg(all(test, not(kqio_loom)))]
    pub(super) fn len(&self) -> usize {
        lock(&self.inbox).len()
    }
}

impl AsRef<Retired> for Retired {
    fn as_ref(&self) -> &Retired {
        self
    }
}

/// A completing worker's outbox (ground rule 2): references on their way to their homes, with
/// the home's index. Only its worker's thread touches it.
#[derive(Default)]
pub(super) struct Outbox {
    batch: RefCell<Vec<(usize, Waker)>>,
}

impl Outbox {
    /// Keeps a reference to a task of worker `home` that finished here, and hands the batch
    /// over once it is full.
    #[inline]
    pub(super) fn retire(&self, home: usize, waker: &Waker, homes: &[impl AsRef<Retired>]) {
        let full = {
            let mut batch = self.batch.borrow_mut();
            if batch.capacity() == 0 {
                batch.reserve_exact(BATCH);
            }
            batch.push((home, waker.clone()));
            batch.len() >= BATCH
        };
        if full {
            self.flush(homes);
        }
    }

    /// Drops every reference held, here (ground rule 4).
    pub(super) fn clear(&self) {
        self.batch.borrow_mut().clear();
    }

    /// Hands every reference over to its home's inbox: one lock per home with something to take.
    pub(super) fn flush(&self, homes: &[impl AsRef<Retired>]) {
        let mut batch = self.batch.borrow_mut();
        while let Some(&(home, _)) = batch.first() {
            // Move this home's references to the front, then hand them over in one go.
            let mut n = 0;
            for i in 0..batch.len() {
                if batch[i].0 == home {
                    batch.swap(i, n);
                    n += 1;
                }
            }
            homes[home].as_ref().accept(batch.drain(..n).map(|(_, waker)| waker));
        }
    }
}

/// Locks an inbox. Its data stays consistent if a holder panicked (no update can unwind
/// half-way: the only panic possible is an allocation failure in `extend`, which aborts).
fn lock(m: &Mutex<Vec<Waker>>) -> std::sync::MutexGuard<'_, Vec<Waker>> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(all(test, not(kqio_loom)))]
pub(super) mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::{Outbox, Retired, BATCH, CAPACITY};

    /// Counts its drops: async-task drops a task's schedule function when it frees the task,
    /// and a task's future when it completes or is dropped unfinished (also used by `mod.rs`'s
    /// late-work tests).
    pub(in crate::kqueue::scheduler) struct CountDrop(
        pub(in crate::kqueue::scheduler) Arc<AtomicUsize>,
    );

    impl Drop for CountDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A detached task that completes in its first run, its waker, and a counter of its frees
    /// (shared by the tasks made with the same counter).
    fn finished_task(freed: &Arc<AtomicUsize>) -> (async_task::Runnable, std::task::Waker) {
        let guard = CountDrop(freed.clone());
        let (runnable, task) = async_task::spawn(async {}, move |_| {
            let _ = &guard;
        });
        task.detach();
        let waker = runnable.waker();
        (runnable, waker)
    }

    /// Retires `n` finished tasks of home 1 through `outbox` and runs them to completion, as
    /// a completing worker does.
    fn retire_finished(outbox: &Outbox, homes: &[Retired], freed: &Arc<AtomicUsize>, n: usize) {
        for _ in 0..n {
            let (runnable, waker) = finished_task(freed);
            outbox.retire(1, &waker, homes);
            drop(waker);
            runnable.run();
        }
    }

    /// Rules 2 and 3: a retired task outlives its last run until its home releases it, and is
    /// freed by that release; the outbox hands a batch over when it is full, and everything on
    /// `flush`.
    #[test]
    fn a_retired_task_is_freed_by_its_homes_release_not_by_its_last_run() {
        let homes = [Retired::new(), Retired::new()];
        let outbox = Outbox::default();
        let freed = Arc::new(AtomicUsize::new(0));
        let mut spare = Vec::new();
        retire_finished(&outbox, &homes, &freed, BATCH - 1);
        assert_eq!(freed.load(Ordering::SeqCst), 0, "the retired references keep them");
        assert_eq!(homes[1].len(), 0, "still in the outbox");
        retire_finished(&outbox, &homes, &freed, 1);
        assert_eq!(homes[1].len(), BATCH, "a full batch goes home");
        retire_finished(&outbox, &homes, &freed, 3);
        outbox.flush(&homes);
        assert_eq!(homes[1].len(), BATCH + 3, "flush sends the rest");
        assert_eq!(homes[0].len(), 0, "nothing for the other home");
        assert_eq!(freed.load(Ordering::SeqCst), 0);
        homes[1].release(&mut spare);
        assert_eq!(freed.load(Ordering::SeqCst), BATCH + 3, "freed by the release");
        assert_eq!(homes[1].len(), 0);
        assert!(spare.is_empty() && spare.capacity() >= BATCH + 3, "the inbox's vector");
        // The vectors take turns: after a round each, neither grows again.
        retire_finished(&outbox, &homes, &freed, BATCH);
        homes[1].release(&mut spare);
        retire_finished(&outbox, &homes, &freed, BATCH);
        let before = spare.as_ptr();
        homes[1].release(&mut spare);
        assert!(spare.is_empty() && spare.capacity() >= BATCH);
        assert_eq!(freed.load(Ordering::SeqCst), 3 * BATCH + 3);
        retire_finished(&outbox, &homes, &freed, BATCH);
        homes[1].release(&mut spare);
        assert_eq!(spare.as_ptr(), before, "the same two vectors, swapped back and forth");
    }

    /// Rule 3: a batch that does not fit in a full inbox is dropped by the worker handing it
    /// over, and its tasks are freed there; rule 4: `clear` drops an outbox's references.
    #[test]
    fn a_full_inbox_lets_the_tasks_be_freed_where_they_end() {
        let homes = [Retired::new(), Retired::new()];
        let outbox = Outbox::default();
        let kept = Arc::new(AtomicUsize::new(0));
        retire_finished(&outbox, &homes, &kept, CAPACITY);
        outbox.flush(&homes);
        assert_eq!(homes[1].len(), CAPACITY);
        let extra = Arc::new(AtomicUsize::new(0));
        retire_finished(&outbox, &homes, &extra, BATCH);
        assert_eq!(extra.load(Ordering::SeqCst), BATCH, "not kept: the inbox was full");
        assert_eq!(homes[1].len(), CAPACITY);
        let cleared = Arc::new(AtomicUsize::new(0));
        retire_finished(&outbox, &homes, &cleared, 2);
        outbox.clear();
        assert_eq!(cleared.load(Ordering::SeqCst), 2, "clear frees them here");
        homes[1].release(&mut Vec::new());
        assert_eq!(kept.load(Ordering::SeqCst), CAPACITY);
    }
}
