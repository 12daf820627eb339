//! The world's timer queue: a binary heap of `(deadline, sequence)` with lazy cancellation.
//!
//! Ground rules:
//! 1. The order is `(deadline, sequence)`: equal deadlines fire in the order they were armed, so
//!    the order, and the log, are fixed by the seed. The kqueue backend's timing wheel does not
//!    fit here: it counts whole milliseconds from a real origin, and the world jumps straight to
//!    the next deadline (nanosecond exact, possibly a day ahead), which the heap's top answers.
//! 2. A sleep (`Io::time_poll_sleep`) keeps its waker in [`Timers::sleeps`], by its sequence
//!    number (its `TimerSlot`); the heap holds only its `(deadline, sequence)`. Cancelling it
//!    removes the sleep and leaves the heap entry, which is skipped when it comes up (an entry
//!    is live while `sleeps` holds its sequence with the same deadline). Moving a sleep (a real
//!    clock step) pushes a new entry and leaves the old one stale the same way. `stale` counts
//!    the skipped entries, and the heap is rebuilt without them when they outnumber the live
//!    ones, so cancelling long timeouts in a loop does not grow it without bound.
//! 3. Wake-ups (`SimEnv::wake_at`), blocking jobs and world events cannot be cancelled: they
//!    are in the heap with what they do.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::task::Waker;

use super::env::HostId;
use super::idmap::{sorted_ids, IdMap};
use super::world::WorldEvent;

/// What a timer entry does when its time comes.
pub(crate) enum Due {
    /// Wake a task (a model's `wake_at`).
    Wake(Waker),
    /// Run a blocking job (blocking jobs complete inline after a simulated latency).
    Job(Box<dyn FnOnce() + Send>),
    /// A world event (crash, restart, pause, resume, signal).
    Event(WorldEvent),
    /// A sleep: its waker is in [`Timers::sleeps`] (ground rule 2).
    Sleep,
}

/// A pending sleep.
pub(crate) struct Sleep {
    pub(crate) at: u64,
    pub(crate) host: HostId,
    pub(crate) waker: Waker,
}

struct Entry {
    at: u64,
    seq: u64,
    due: Due,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest `(at, seq)` first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// A fired entry: what it does, and for a sleep, its host.
pub(crate) struct Fired {
    pub(crate) due: Due,
    pub(crate) sleep_of: Option<HostId>,
}

/// The timer queue (see the module docs).
pub(crate) struct Timers {
    heap: BinaryHeap<Entry>,
    sleeps: IdMap<Sleep>,
    /// Heap entries that will be skipped (cancelled or moved sleeps).
    stale: usize,
    next_seq: u64,
}

impl Timers {
    pub(crate) fn new() -> Timers {
        Timers { heap: BinaryHeap::new(), sleeps: IdMap::default(), stale: 0, next_seq: 1 }
    }

    /// Whether nothing is pending.
    pub(crate) fn is_empty(&self) -> bool {
        self.heap.len() == self.stale
    }

    /// Arms `due` at `at`; its sequence number.
    pub(crate) fn insert(&mut self, at: u64, due: Due) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Entry { at, seq, due });
        seq
    }

    /// Arms a sleep of `host` until `at`; its sequence number (never 0).
    pub(crate) fn insert_sleep(&mut self, at: u64, host: HostId, waker: Waker) -> u64 {
        let seq = self.insert(at, Due::Sleep);
        self.sleeps.insert(seq, Sleep { at, host, waker });
        seq
    }

    /// The pending sleep `seq`, if it has neither fired nor been cancelled.
    pub(crate) fn sleep_mut(&mut self, seq: u64) -> Option<&mut Sleep> {
        self.sleeps.get_mut(&seq)
    }

    /// Cancels the sleep `seq`; its waker, to be dropped after the world's lock.
    pub(crate) fn cancel_sleep(&mut self, seq: u64) -> Option<Waker> {
        let sleep = self.sleeps.remove(&seq)?;
        self.stale += 1;
        self.compact();
        Some(sleep.waker)
    }

    /// The pending sleeps of `host`.
    pub(crate) fn sleeps_of(&self, host: HostId) -> usize {
        self.sleeps.values().filter(|s| s.host == host).count()
    }

    /// Moves every sleep of `host` due after `now` to `now`, in sequence order; how many.
    pub(crate) fn move_sleeps_to(&mut self, host: HostId, now: u64) -> usize {
        let ids = sorted_ids(&self.sleeps, |s| s.host == host && s.at > now);
        for &seq in &ids {
            let s = self.sleeps.get_mut(&seq).expect("listed just now");
            s.at = now;
            self.heap.push(Entry { at: now, seq, due: Due::Sleep });
            self.stale += 1;
        }
        ids.len()
    }

    fn is_live(&self, e: &Entry) -> bool {
        match e.due {
            Due::Sleep => self.sleeps.get(&e.seq).is_some_and(|s| s.at == e.at),
            _ => true,
        }
    }

    /// Drops the stale entries at the top of the heap.
    fn skip_stale(&mut self) {
        while let Some(top) = self.heap.peek() {
            if self.is_live(top) {
                return;
            }
            self.heap.pop();
            self.stale -= 1;
        }
    }

    /// Rebuilds the heap without its stale entries once they outnumber the live ones.
    fn compact(&mut self) {
        if self.stale > 1024 && self.stale > self.heap.len() / 2 {
            let heap = std::mem::take(&mut self.heap);
            let sleeps = &self.sleeps;
            let live = heap.into_vec().into_iter().filter(|e| match e.due {
                Due::Sleep => sleeps.get(&e.seq).is_some_and(|s| s.at == e.at),
                _ => true,
            });
            self.heap = live.collect();
            self.stale = 0;
        }
    }

    /// The earliest pending deadline.
    pub(crate) fn next_at(&mut self) -> Option<u64> {
        self.skip_stale();
        self.heap.peek().map(|e| e.at)
    }

    /// Takes the earliest pending entry if it is due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: u64) -> Option<Fired> {
        self.skip_stale();
        if self.heap.peek()?.at > now {
            return None;
        }
        let e = self.heap.pop().expect("peeked");
        Some(match e.due {
            Due::Sleep => {
                let s = self.sleeps.remove(&e.seq).expect("a live sleep");
                Fired { due: Due::Wake(s.waker), sleep_of: Some(s.host) }
            }
            due => Fired { due, sleep_of: None },
        })
    }

    /// Empties the queue; what it held, to be dropped after the world's lock.
    pub(crate) fn take(&mut self) -> (Vec<Due>, Vec<Waker>) {
        let heap = std::mem::take(&mut self.heap);
        let sleeps = std::mem::take(&mut self.sleeps);
        self.stale = 0;
        let dues = heap.into_vec().into_iter().map(|e| e.due).collect();
        (dues, sleeps.into_values().map(|s| s.waker).collect())
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use super::{Due, Timers};

    fn fired(t: &mut Timers, now: u64) -> Vec<(Option<u32>, bool)> {
        std::iter::from_fn(|| t.pop_due(now))
            .map(|f| (f.sleep_of, matches!(f.due, Due::Wake(_))))
            .collect()
    }

    #[test]
    fn entries_fire_by_deadline_then_sequence_and_cancelled_sleeps_are_skipped() {
        let mut t = Timers::new();
        let a = t.insert_sleep(20, 1, Waker::noop().clone());
        let b = t.insert_sleep(10, 2, Waker::noop().clone());
        t.insert(10, Due::Wake(Waker::noop().clone()));
        let c = t.insert_sleep(10, 3, Waker::noop().clone());
        assert!(a < b && b < c);
        assert!(t.cancel_sleep(c).is_some());
        assert!(t.cancel_sleep(c).is_none(), "cancelled once");
        assert_eq!(t.next_at(), Some(10));
        assert_eq!(fired(&mut t, 9), vec![]);
        assert_eq!(fired(&mut t, 10), vec![(Some(2), true), (None, true)]);
        assert!(!t.is_empty());
        assert!(t.cancel_sleep(a).is_some());
        assert!(t.is_empty(), "only stale entries are left");
        assert_eq!(t.next_at(), None);
    }

    #[test]
    fn moved_sleeps_fire_at_their_new_time_once() {
        let mut t = Timers::new();
        let a = t.insert_sleep(100, 1, Waker::noop().clone());
        t.insert_sleep(5, 1, Waker::noop().clone());
        t.insert_sleep(100, 2, Waker::noop().clone());
        assert_eq!(t.move_sleeps_to(1, 10), 1, "only host 1's sleep due after 10");
        assert_eq!(t.sleep_mut(a).map(|s| s.at), Some(10));
        assert_eq!(t.sleeps_of(1), 2);
        assert_eq!(fired(&mut t, 10), vec![(Some(1), true), (Some(1), true)]);
        assert_eq!(fired(&mut t, 1_000), vec![(Some(2), true)]);
        assert!(t.is_empty());
    }

    #[test]
    fn many_cancelled_sleeps_do_not_grow_the_heap() {
        let mut t = Timers::new();
        for i in 0..100_000u64 {
            let s = t.insert_sleep(1_000_000 + i, 0, Waker::noop().clone());
            t.cancel_sleep(s);
        }
        assert!(t.heap.len() <= 2 * 1024 + 2, "{}", t.heap.len());
        assert!(t.is_empty());
    }
}
