//! Parking and waking workers: no lost wake-up, no thundering herd.
//!
//! Ground rules (the protocol, after tokio's `multi_thread/idle.rs`, simplified to one lock):
//! 1. A worker that finds no work *registers* as a sleeper (under the lock: its index goes on
//!    `sleepers`, `num_sleeping` is incremented), issues a `SeqCst` fence, and *re-checks* every
//!    queue before it blocks. A producer pushes, issues a `SeqCst` fence, then reads
//!    `num_searching` and `num_sleeping` (`notify_one`). By the fences, either the re-check sees
//!    the new task or the producer sees the sleeper: no lost wake-up.
//! 2. At most `max_searching` workers look for work in other queues at once; a producer does not
//!    wake anybody while one is searching, because that searcher will find the task (it re-checks
//!    after it stops searching to sleep, by rule 1). So one push wakes at most one worker.
//! 3. A searcher that finds work and was the last searcher wakes one more sleeper, so that
//!    parallelism ramps up when there is more work than one worker takes.
//! 4. `notify_one` pops a sleeper under the lock and counts it as searching *before* unparking it;
//!    a woken worker is therefore a searcher. A worker that wakes on its own (the reactor had
//!    events) removes itself from `sleepers` and is not a searcher.
//! 5. A searcher whose re-check (rule 1) finds work does not block, and stays a searcher
//!    (`cancel_sleep`): producers that woke nobody while it searched (rule 2) count on it, and
//!    when it finds work rule 3 passes that on. (It used to resume as a non-searcher: two tasks
//!    pushed during its search then left the second in the injector while another worker slept,
//!    until something else woke one. `tests/lifecycle_matrix.rs` hung so under ThreadSanitizer,
//!    about once in 100-200 runs, with both tasks blocking their worker.)

use crate::loom::sync::atomic::{fence, AtomicU8, AtomicUsize, Ordering};
use crate::loom::sync::{Condvar, Mutex, MutexGuard};

use crate::kqueue::reactor::{DriverGuard, Reactor};

pub(crate) struct Idle {
    sleepers: Mutex<Vec<usize>>,
    num_sleeping: AtomicUsize,
    num_searching: AtomicUsize,
    max_searching: usize,
}

impl Idle {
    pub(crate) fn new(n_workers: usize) -> Self {
        Idle {
            sleepers: Mutex::new(Vec::with_capacity(n_workers)),
            num_sleeping: AtomicUsize::new(0),
            num_searching: AtomicUsize::new(0),
            // Half the workers, as tokio: enough to spread a burst, few enough that a single push
            // does not send every idle worker through every queue.
            max_searching: (n_workers / 2).max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<usize>> {
        self.sleepers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Producer side (rule 1): after pushing a task, wake one sleeper if nobody is searching.
    /// Returns the index of the worker to unpark, if any.
    ///
    /// `fenced: false` skips the fence of rule 1. That is only for a worker pushing to its own
    /// queue: it runs that task itself if nobody else does, so a sleeper it fails to see costs
    /// parallelism for a moment, never progress; the fence (an `mfence` on x86) is not worth
    /// paying on every yield and local wake.
    pub(crate) fn worker_to_notify(&self, fenced: bool) -> Option<usize> {
        if fenced {
            // SeqCst fence: pairs with the fence in `register_sleeper` (rule 1).
            fence(Ordering::SeqCst);
        }
        if self.num_searching.load(Ordering::SeqCst) != 0
            || self.num_sleeping.load(Ordering::SeqCst) == 0
        {
            return None;
        }
        let mut sleepers = self.lock();
        // Re-check under the lock: another producer may have woken a searcher meanwhile.
        if self.num_searching.load(Ordering::SeqCst) != 0 {
            return None;
        }
        let index = sleepers.pop()?;
        self.num_sleeping.fetch_sub(1, Ordering::SeqCst);
        self.num_searching.fetch_add(1, Ordering::SeqCst);
        Some(index)
    }

    /// A cheap, unordered hint: is any worker registered as a sleeper?
    #[inline]
    pub(crate) fn has_sleepers(&self) -> bool {
        self.num_sleeping.load(Ordering::Relaxed) != 0
    }

    /// Rule 2: may this worker start searching?
    pub(crate) fn try_start_searching(&self) -> bool {
        let n = self.num_searching.load(Ordering::SeqCst);
        if n >= self.max_searching {
            return false;
        }
        self.num_searching.fetch_add(1, Ordering::SeqCst);
        true
    }

    /// A searcher stops searching (it found work). Returns whether it was the last (rule 3).
    pub(crate) fn stop_searching(&self) -> bool {
        self.num_searching.fetch_sub(1, Ordering::SeqCst) == 1
    }

    /// Registers `index` as a sleeper (rule 1). The caller re-checks the queues afterwards.
    pub(crate) fn register_sleeper(&self, index: usize, searching: bool) {
        let mut sleepers = self.lock();
        sleepers.push(index);
        self.num_sleeping.fetch_add(1, Ordering::SeqCst);
        if searching {
            self.num_searching.fetch_sub(1, Ordering::SeqCst);
        }
        drop(sleepers);
        // SeqCst fence: pairs with the one in `worker_to_notify`.
        fence(Ordering::SeqCst);
    }

    /// Rule 5: `index` registered as a sleeper (`searching`: as a searcher) and its re-check
    /// found work, so it does not block. Returns whether it is a searcher now: if a producer
    /// took it out of the sleepers meanwhile, it was counted as one (rule 4); otherwise it
    /// leaves the sleepers and, if it was searching, is counted as a searcher again.
    pub(crate) fn cancel_sleep(&self, index: usize, searching: bool) -> bool {
        let mut sleepers = self.lock();
        match sleepers.iter().position(|&i| i == index) {
            Some(pos) => {
                sleepers.swap_remove(pos);
                self.num_sleeping.fetch_sub(1, Ordering::SeqCst);
                if searching {
                    self.num_searching.fetch_add(1, Ordering::SeqCst);
                }
                searching
            }
            None => true,
        }
    }

    /// Removes `index` from the sleepers. `true`: it was still there (it woke on its own);
    /// `false`: a producer took it out and counted it as a searcher (rule 4).
    pub(crate) fn unregister_sleeper(&self, index: usize) -> bool {
        let mut sleepers = self.lock();
        match sleepers.iter().position(|&i| i == index) {
            Some(pos) => {
                sleepers.swap_remove(pos);
                self.num_sleeping.fetch_sub(1, Ordering::SeqCst);
                true
            }
            None => false,
        }
    }
}

/// Parker states.
const EMPTY: u8 = 0;
/// Blocked on the condition variable.
const PARKED_CONDVAR: u8 = 1;
/// Blocked in the reactor's poll.
const PARKED_DRIVER: u8 = 2;
/// An unpark arrived; the next park returns at once.
const NOTIFIED: u8 = 3;

/// Blocks one worker: on a condition variable, or in the reactor's poll when it drives it.
pub(crate) struct Parker {
    state: AtomicU8,
    mutex: Mutex<()>,
    condvar: Condvar,
}

impl Parker {
    pub(crate) fn new() -> Self {
        Parker { state: AtomicU8::new(EMPTY), mutex: Mutex::new(()), condvar: Condvar::new() }
    }

    /// Consumes a pending notification. Returns whether there was one.
    fn take_notification(&self) -> bool {
        // Acquire: pairs with the Release swap in `unpark`.
        self.state.compare_exchange(NOTIFIED, EMPTY, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    /// Blocks in the reactor until an event, a wake, or `timeout`.
    pub(crate) fn park_driver(
        &self,
        driver: &mut DriverGuard<'_>,
        timeout: Option<std::time::Duration>,
    ) {
        self.park_driver_with(|| {
            driver.poll(timeout);
        })
    }

    /// [`park_driver`](Self::park_driver) with the poll as a closure (the loom models stand a
    /// model poller in for mio's).
    pub(super) fn park_driver_with(&self, poll: impl FnOnce()) {
        if self.take_notification() {
            return;
        }
        if self
            .state
            .compare_exchange(EMPTY, PARKED_DRIVER, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // Notified in between.
            self.state.store(EMPTY, Ordering::Release);
            return;
        }
        poll();
        // Whether notified or woken by an event, the parker is empty again.
        self.state.swap(EMPTY, Ordering::AcqRel);
    }

    /// Blocks on the condition variable until unparked.
    pub(crate) fn park_condvar(&self) {
        if self.take_notification() {
            return;
        }
        let mut guard = self.mutex.lock().unwrap_or_else(|e| e.into_inner());
        if self
            .state
            .compare_exchange(EMPTY, PARKED_CONDVAR, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            self.state.store(EMPTY, Ordering::Release);
            return;
        }
        loop {
            guard = self.condvar.wait(guard).unwrap_or_else(|e| e.into_inner());
            if self.take_notification() {
                return;
            }
        }
    }

    /// Wakes the worker, or makes its next park return at once.
    pub(crate) fn unpark(&self, reactor: &Reactor) {
        self.unpark_with(|| reactor.wake())
    }

    /// [`unpark`](Self::unpark) with the driver's wake as a closure (for the loom models).
    pub(super) fn unpark_with(&self, wake_driver: impl FnOnce()) {
        // Release: pairs with the Acquire in `take_notification`.
        match self.state.swap(NOTIFIED, Ordering::AcqRel) {
            EMPTY | NOTIFIED => {}
            PARKED_CONDVAR => {
                // Taking the lock orders this notify after the parker's wait began (it holds the
                // lock from its state change until `wait` releases it), so it cannot be missed.
                drop(self.mutex.lock().unwrap_or_else(|e| e.into_inner()));
                self.condvar.notify_one();
            }
            PARKED_DRIVER => wake_driver(),
            other => unreachable!("invalid parker state {other}"),
        }
    }
}

#[cfg(all(test, not(kqio_loom)))]
mod tests {
    use super::*;

    /// Rule 5, the sequence `tests/lifecycle_matrix.rs` hung on: worker 0 sleeps; worker 1
    /// searches while two tasks are pushed (each push wakes nobody: rule 2); worker 1 registers
    /// as a sleeper, its re-check finds the tasks, and it takes one. It must still be a searcher,
    /// so that finding work makes it wake worker 0 for the other (rule 3).
    #[test]
    fn a_searcher_that_finds_work_in_its_recheck_passes_the_duty_on() {
        let idle = Idle::new(2);
        assert!(idle.try_start_searching());
        idle.register_sleeper(0, true);
        assert!(idle.try_start_searching());
        assert_eq!(idle.worker_to_notify(true), None, "first push: worker 1 searches");
        assert_eq!(idle.worker_to_notify(true), None, "second push: worker 1 searches");
        idle.register_sleeper(1, true);
        // The re-check finds the two tasks: worker 1 does not block.
        assert!(idle.cancel_sleep(1, true), "still a searcher");
        // It takes the first task, stops searching as the last searcher, and wakes worker 0.
        assert!(idle.stop_searching());
        assert_eq!(idle.worker_to_notify(true), Some(0));
    }

    /// Rule 5's other cases: a worker that was not searching resumes as a non-searcher, and one
    /// that a producer took out of the sleepers meanwhile is a searcher (rule 4), counted once.
    #[test]
    fn cancel_sleep_counts_each_searcher_once() {
        let idle = Idle::new(2);
        idle.register_sleeper(0, false);
        assert!(!idle.cancel_sleep(0, false));
        assert_eq!(idle.num_searching.load(Ordering::SeqCst), 0);
        assert_eq!(idle.num_sleeping.load(Ordering::SeqCst), 0);
        idle.register_sleeper(1, false);
        assert_eq!(idle.worker_to_notify(true), Some(1));
        assert!(idle.cancel_sleep(1, false), "woken by a producer: a searcher");
        assert_eq!(idle.num_searching.load(Ordering::SeqCst), 1);
        assert!(idle.stop_searching());
        assert!(!idle.has_sleepers());
    }
}
