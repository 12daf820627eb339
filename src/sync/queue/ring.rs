//! The queue's buffer: a bounded lock-free ring of `capacity` slots (Vyukov's bounded MPMC
//! queue, as in crossbeam's `ArrayQueue`), whose head and tail words also carry the queue's
//! flag bits, so that a fast operation checks them with the very atomic operation that claims
//! its slot: no fence and no second shared word on the fast path.
//!
//! Ground rules:
//! 1. `tail` holds the position of the next push and the flags `CLOSED` and `SLOW`; `head` the
//!    position of the next pop and `SLOW`. A position is `lap + index * UNIT` (crossbeam's
//!    encoding, shifted left to leave the flag bits free); `one_lap` is a power of two above
//!    `capacity * UNIT`, so a position's flag bits are always zero.
//! 2. A slot's stamp says whose turn it is, for a position `pos` of that slot: `pos` means a
//!    push at `pos` may fill it, `pos + 1` that a pop at `pos` may empty it. A push claims its
//!    slot by a CAS of `tail`, writes the value, then stores the stamp `pos + 1` (Release); a pop
//!    claims by a CAS of `head`, moves the value out, then stores `pos + one_lap` (Release),
//!    the next lap's turn. The Acquire load of the stamp before a claim pairs with those
//!    stores: a pop sees the value written, and a push overwrites a value only after the
//!    previous lap's pop has moved it out.
//! 3. The flags are changed only by the holder of the queue's lock, by read-modify-writes
//!    ([`Ring::set_slow`], [`Ring::close`]). A fast push (pop) needs its word's flags clear and
//!    claims with a CAS whose expected value has them clear; so a claim and a flag change on one
//!    word are ordered by that word's modification order. A fast claim that succeeded came
//!    before the flag was set, and whoever set the flag, or takes the lock after it was set,
//!    reads that word at least as new as the claim (coherence). This is the queue's handshake
//!    (ground rule 4 of `queue/mod.rs`).
//! 4. A claimed slot is filled (emptied) a few instructions after its claim. Whoever finds a
//!    position past a slot whose stamp is not updated yet waits for it (spins, then yields the
//!    thread, since the claimer may have been preempted); nobody waits while it holds a claim.
//!    A push (pop) that loses the race for a position backs off a little before it retries
//!    ([`Backoff::spin`], as crossbeam does): retrying at once pulls the contended word's cache
//!    line away from the winner at every operation, while a short pause lets the winner run a
//!    few operations on a line it holds (three times faster in the 4 x 4 benchmark).
//! 5. Once `CLOSED` is set, every push fails (its CAS would have to clear it): closed and empty
//!    is final.

use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use std::mem::MaybeUninit;

/// `tail` only: the queue is closed; pushes fail.
const CLOSED: usize = 1 << 0;
/// Both words: a task waits or the stash holds items; fast operations must take the lock.
const SLOW: usize = 1 << 1;
const FLAGS: usize = CLOSED | SLOW;
/// One step of a position's index: the flag bits sit below it.
const UNIT: usize = FLAGS + 1;

/// Rounds of exponential spinning before a wait for another thread's claim yields the thread:
/// 2^0 + ... + 2^5 = 63 spin hints, longer than the few instructions between a claim and its
/// stamp store when the claimer is running. A lost race backs off at most 2^6 hints at once: a
/// few hundred nanoseconds, the time the winner needs for some operations, far less than a
/// thread switch.
#[cfg(not(all(test, kqio_loom)))]
const SPIN_ROUNDS: u32 = 6;
/// Under loom every spin hint is a yield point: one round keeps the models small.
#[cfg(all(test, kqio_loom))]
const SPIN_ROUNDS: u32 = 1;

/// Keeps a value alone on its cache line (128 bytes: adjacent-line prefetch pairs lines on
/// x86-64, and Apple's cores use 128-byte lines), so that pushes and pops do not invalidate
/// each other's word.
#[repr(align(128))]
struct CachePadded<T>(T);

struct Slot<T> {
    stamp: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

/// Who calls: a fast path needs the word's flags clear; the holder of the queue's lock
/// ignores `SLOW`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Fast,
    Locked,
}

/// Why a push did not happen; the value is given back.
pub(super) enum PushError<T> {
    Full(T),
    Closed(T),
    /// `SLOW` is set (fast pushes only).
    Slow(T),
}

/// Why a pop did not happen.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum PopError {
    Empty,
    /// Closed and empty: final.
    Closed,
    /// `SLOW` is set (fast pops only).
    Slow,
}

pub(super) struct Ring<T> {
    head: CachePadded<AtomicUsize>,
    tail: CachePadded<AtomicUsize>,
    slots: Box<[Slot<T>]>,
    one_lap: usize,
}

// SAFETY: a value goes in by one thread and out by another (so `T: Send`); each slot's value is
// accessed only by the thread whose CAS claimed it for this lap, and the stamps order the
// accesses of successive laps (ground rule 2). No `&T` is ever shared.
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: as for `Send`: all shared access goes through the claims of ground rule 2.
unsafe impl<T: Send> Sync for Ring<T> {}

/// Exponential spinning, then (for [`wait`](Self::wait)) yielding the thread.
struct Backoff(u32);

impl Backoff {
    /// After losing a race for a position (ground rule 4): spins a little longer each time,
    /// never yields.
    fn spin(&mut self) {
        for _ in 0..1u32 << self.0.min(SPIN_ROUNDS) {
            crate::loom::hint::spin_loop();
        }
        if self.0 < SPIN_ROUNDS {
            self.0 += 1;
        }
    }

    /// Waiting for another thread's claim to complete (ground rule 4): spins, then yields.
    fn wait(&mut self) {
        if self.0 < SPIN_ROUNDS {
            for _ in 0..1u32 << self.0 {
                crate::loom::hint::spin_loop();
            }
            self.0 += 1;
        } else {
            crate::loom::thread::yield_now();
        }
    }
}

impl<T> Ring<T> {
    /// A ring of `capacity` slots.
    ///
    /// # Panics
    ///
    /// If `capacity` is 0, or so large that its positions would not fit a `usize`.
    pub(super) fn new(capacity: usize) -> Self {
        assert!(capacity > 0, "a ring has at least one slot");
        let one_lap = capacity
            .checked_add(1)
            .and_then(usize::checked_next_power_of_two)
            .and_then(|n| n.checked_mul(UNIT))
            .expect("queue capacity too large");
        let slots = (0..capacity)
            .map(|i| Slot {
                stamp: AtomicUsize::new(i * UNIT),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        Ring {
            head: CachePadded(AtomicUsize::new(0)),
            tail: CachePadded(AtomicUsize::new(0)),
            slots,
            one_lap,
        }
    }

    #[inline]
    fn slot(&self, pos: usize) -> &Slot<T> {
        &self.slots[(pos & (self.one_lap - 1)) / UNIT]
    }

    /// The position after `pos`.
    #[inline]
    fn next(&self, pos: usize) -> usize {
        if (pos & (self.one_lap - 1)) / UNIT + 1 < self.slots.len() {
            pos + UNIT
        } else {
            (pos & !(self.one_lap - 1)).wrapping_add(self.one_lap)
        }
    }

    /// Pushes `value` at the back.
    #[inline]
    pub(super) fn push(&self, value: T, mode: Mode) -> Result<(), PushError<T>> {
        let mut backoff = Backoff(0);
        // Relaxed: the claim below is validated by the CAS, the slot by its stamp.
        let mut word = self.tail.0.load(Ordering::Relaxed);
        loop {
            if word & CLOSED != 0 {
                return Err(PushError::Closed(value));
            }
            if mode == Mode::Fast && word & SLOW != 0 {
                return Err(PushError::Slow(value));
            }
            let pos = word & !FLAGS;
            let slot = self.slot(pos);
            // Acquire: pairs with the Release store of the previous lap's pop (ground rule 2).
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == pos {
                let new = self.next(pos) | (word & FLAGS);
                // Relaxed: the CAS only claims the position (ground rule 3 needs nothing but
                // the modification order of `tail`); the value is published by the stamp.
                match self.tail.0.compare_exchange_weak(
                    word,
                    new,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: the CAS claimed `pos`, so no other push writes this slot in
                        // this lap, and its stamp (== pos, seen with Acquire) says the previous
                        // lap's pop has moved its value out: the slot is ours to write.
                        unsafe { slot.value.with_mut(|p| p).write(MaybeUninit::new(value)) };
                        // Release: pairs with the Acquire stamp load of the pop at `pos`.
                        slot.stamp.store(pos + 1, Ordering::Release);
                        return Ok(());
                    }
                    Err(w) => {
                        backoff.spin();
                        word = w;
                    }
                }
            } else if stamp.wrapping_add(self.one_lap) == pos + 1 {
                // The slot still holds the previous lap's value: full, unless its pop has
                // claimed it and not yet stored the stamp. Relaxed: a stale head makes a fast
                // push report `Full` and take the locked path; a locked push has read `head`
                // newer than every fast pop (ground rule 3).
                let head = self.head.0.load(Ordering::Relaxed) & !FLAGS;
                if head.wrapping_add(self.one_lap) == pos {
                    return Err(PushError::Full(value));
                }
                backoff.wait();
                word = self.tail.0.load(Ordering::Relaxed);
            } else {
                // Another push claimed `pos` and the tail moved on.
                backoff.spin();
                word = self.tail.0.load(Ordering::Relaxed);
            }
        }
    }

    /// Pops the front value.
    #[inline]
    pub(super) fn pop(&self, mode: Mode) -> Result<T, PopError> {
        let mut backoff = Backoff(0);
        // Relaxed: as in `push`.
        let mut word = self.head.0.load(Ordering::Relaxed);
        loop {
            if mode == Mode::Fast && word & SLOW != 0 {
                return Err(PopError::Slow);
            }
            let pos = word & !FLAGS;
            let slot = self.slot(pos);
            // Acquire: pairs with the Release stamp store of the push at `pos`.
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == pos + 1 {
                let new = self.next(pos) | (word & FLAGS);
                // Relaxed: as in `push`.
                match self.head.0.compare_exchange_weak(
                    word,
                    new,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: the CAS claimed `pos`, so no other pop reads this slot in this
                        // lap, and its stamp (== pos + 1, seen with Acquire) says the push at
                        // `pos` has written it: the value is initialized and ours to move out.
                        let value = unsafe { slot.value.with(|p| p).read().assume_init() };
                        // Release: pairs with the Acquire stamp load of the next lap's push.
                        slot.stamp.store(pos.wrapping_add(self.one_lap), Ordering::Release);
                        return Ok(value);
                    }
                    Err(w) => {
                        backoff.spin();
                        word = w;
                    }
                }
            } else if stamp == pos {
                // Not yet written in this lap: empty, unless a push has claimed it and not yet
                // stored the stamp. Relaxed: a stale tail makes a fast pop report `Empty` and
                // take the locked path; a locked pop has read `tail` newer than every fast push
                // (ground rule 3).
                let tail = self.tail.0.load(Ordering::Relaxed);
                if tail & !FLAGS == pos {
                    return Err(if tail & CLOSED != 0 {
                        PopError::Closed
                    } else {
                        PopError::Empty
                    });
                }
                backoff.wait();
                word = self.head.0.load(Ordering::Relaxed);
            } else {
                // Another pop claimed `pos` and the head moved on.
                backoff.spin();
                word = self.head.0.load(Ordering::Relaxed);
            }
        }
    }

    /// Lock holder: sets or clears `SLOW` on both words (ground rule 3).
    pub(super) fn set_slow(&self, on: bool) {
        // Relaxed: the handshake needs only each word's modification order (ground rule 3).
        if on {
            self.head.0.fetch_or(SLOW, Ordering::Relaxed);
            self.tail.0.fetch_or(SLOW, Ordering::Relaxed);
        } else {
            self.head.0.fetch_and(!SLOW, Ordering::Relaxed);
            self.tail.0.fetch_and(!SLOW, Ordering::Relaxed);
        }
    }

    /// Lock holder: closes the ring; every later push fails (ground rule 5).
    pub(super) fn close(&self) {
        // Relaxed: as in `set_slow`.
        self.tail.0.fetch_or(CLOSED, Ordering::Relaxed);
    }

    /// Whether [`close`](Self::close) was called.
    pub(super) fn is_closed(&self) -> bool {
        self.tail.0.load(Ordering::Relaxed) & CLOSED != 0
    }

    /// The number of values in the ring (a snapshot: exact when nothing moves).
    pub(super) fn len(&self) -> usize {
        loop {
            // Relaxed: a snapshot, retried until `tail` did not move while `head` was read.
            let tail = self.tail.0.load(Ordering::Relaxed) & !FLAGS;
            let head = self.head.0.load(Ordering::Relaxed) & !FLAGS;
            if self.tail.0.load(Ordering::Relaxed) & !FLAGS != tail {
                continue;
            }
            let hix = (head & (self.one_lap - 1)) / UNIT;
            let tix = (tail & (self.one_lap - 1)) / UNIT;
            return if hix < tix {
                tix - hix
            } else if hix > tix {
                self.slots.len() - hix + tix
            } else if tail == head {
                0
            } else {
                self.slots.len()
            };
        }
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        if !std::mem::needs_drop::<T>() {
            return;
        }
        let tail = self.tail.0.load(Ordering::Relaxed) & !FLAGS;
        let mut pos = self.head.0.load(Ordering::Relaxed) & !FLAGS;
        while pos != tail {
            let index = (pos & (self.one_lap - 1)) / UNIT;
            // SAFETY: `&mut self`: no claim is in flight, so every position from head to tail
            // holds a value its push wrote and no pop moved out (ground rule 2).
            unsafe { self.slots[index].value.get_mut().assume_init_drop() };
            pos = self.next(pos);
        }
    }
}

#[cfg(all(test, not(kqio_loom)))]
mod tests {
    use super::*;

    /// Fill, drain and wrap around several laps, for small and odd capacities.
    #[test]
    fn fifo_full_empty_and_laps() {
        for cap in [1, 2, 3, 5, 8] {
            let r = Ring::new(cap);
            let mut next_in = 0;
            let mut next_out = 0;
            for _ in 0..5 {
                while r.push(next_in, Mode::Fast).is_ok() {
                    next_in += 1;
                }
                assert_eq!(r.len(), cap);
                assert!(matches!(r.push(0, Mode::Locked), Err(PushError::Full(0))));
                for _ in 0..cap {
                    assert_eq!(r.pop(Mode::Fast).ok(), Some(next_out));
                    next_out += 1;
                }
                assert_eq!(r.pop(Mode::Fast).err(), Some(PopError::Empty));
                assert_eq!(r.len(), 0);
            }
        }
    }

    /// `SLOW` turns fast operations away but not locked ones; `CLOSED` fails pushes, and
    /// closed-and-empty is reported once drained.
    #[test]
    fn flags() {
        let r = Ring::new(2);
        r.push(1, Mode::Fast).ok().unwrap();
        r.set_slow(true);
        assert!(matches!(r.push(2, Mode::Fast), Err(PushError::Slow(2))));
        assert_eq!(r.pop(Mode::Fast).err(), Some(PopError::Slow));
        r.push(2, Mode::Locked).ok().unwrap();
        assert_eq!(r.pop(Mode::Locked).ok(), Some(1));
        r.set_slow(false);
        r.close();
        assert!(r.is_closed());
        assert!(matches!(r.push(3, Mode::Fast), Err(PushError::Closed(3))));
        assert_eq!(r.pop(Mode::Fast).ok(), Some(2));
        assert_eq!(r.pop(Mode::Fast).err(), Some(PopError::Closed));
    }

    /// 2 producers and 2 consumers on plain threads, boxed values (so that Miri sees a value
    /// read twice or never): every value comes out exactly once, each producer's in order.
    #[test]
    fn concurrent_exactly_once() {
        use std::sync::atomic::AtomicUsize;
        use std::sync::Arc;
        const PER: usize = if cfg!(miri) { 40 } else { 20_000 };
        for cap in [1, 2, 3] {
            let r = Arc::new(Ring::new(cap));
            let taken = Arc::new(AtomicUsize::new(0));
            let producers: Vec<_> = (0..2)
                .map(|p| {
                    let r = r.clone();
                    std::thread::spawn(move || {
                        for i in 0..PER {
                            let mut v = Box::new((p, i));
                            loop {
                                match r.push(v, Mode::Fast) {
                                    Ok(()) => break,
                                    Err(PushError::Full(back)) => v = back,
                                    Err(_) => unreachable!(),
                                }
                                std::thread::yield_now();
                            }
                        }
                    })
                })
                .collect();
            let consumers: Vec<_> = (0..2)
                .map(|_| {
                    let (r, taken) = (r.clone(), taken.clone());
                    std::thread::spawn(move || {
                        let mut got = Vec::new();
                        while taken.load(Ordering::Relaxed) < 2 * PER {
                            match r.pop(Mode::Fast) {
                                Ok(v) => {
                                    got.push(*v);
                                    taken.fetch_add(1, Ordering::Relaxed);
                                }
                                Err(e) => {
                                    assert_eq!(e, PopError::Empty);
                                    std::thread::yield_now();
                                }
                            }
                        }
                        got
                    })
                })
                .collect();
            producers.into_iter().for_each(|t| t.join().unwrap());
            let mut all = Vec::new();
            for c in consumers {
                let got = c.join().unwrap();
                for p in 0..2 {
                    let mine: Vec<_> = got.iter().filter(|v| v.0 == p).map(|v| v.1).collect();
                    assert!(mine.windows(2).all(|w| w[0] < w[1]), "per-producer FIFO");
                }
                all.extend(got);
            }
            all.sort_unstable();
            let expected: Vec<_> = (0..2).flat_map(|p| (0..PER).map(move |i| (p, i))).collect();
            assert!(all == expected, "capacity {cap}: every value exactly once");
        }
    }

    /// Ground rule 3: once `set_slow(true)` has returned, a locked pop sees every fast push that
    /// succeeded (waiting for one whose claim came first), and no fast push succeeds after.
    #[test]
    fn slow_bit_handshake() {
        use std::sync::Arc;
        let rounds = if cfg!(miri) { 4 } else { 200 };
        for round in 0..rounds {
            let r = Arc::new(Ring::new(1 << 10));
            let pusher = {
                let r = r.clone();
                std::thread::spawn(move || {
                    let mut n = 0usize;
                    loop {
                        match r.push(Box::new(n), Mode::Fast) {
                            Ok(()) => n += 1,
                            Err(PushError::Slow(_)) => return n,
                            Err(PushError::Full(_)) => std::thread::yield_now(),
                            Err(PushError::Closed(_)) => unreachable!(),
                        }
                    }
                })
            };
            for _ in 0..round % 7 {
                std::thread::yield_now();
            }
            r.set_slow(true);
            let mut popped = 0;
            while let Ok(v) = r.pop(Mode::Locked) {
                assert_eq!(*v, popped);
                popped += 1;
            }
            assert_eq!(pusher.join().unwrap(), popped, "a fast push after `SLOW` was set");
        }
    }

    /// Values left in the ring are dropped with it.
    #[test]
    fn drop_drops_the_values_left() {
        let v = std::sync::Arc::new(());
        let r = Ring::new(3);
        for _ in 0..5 {
            let _ = r.push(v.clone(), Mode::Fast);
            let _ = r.pop(Mode::Fast);
            let _ = r.push(v.clone(), Mode::Fast);
        }
        assert_eq!(std::sync::Arc::strong_count(&v), 4);
        drop(r);
        assert_eq!(std::sync::Arc::strong_count(&v), 1);
    }
}
