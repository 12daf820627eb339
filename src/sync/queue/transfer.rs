//! Where a queue's items are and how they move: the slots of the operations, the lock-free
//! fast paths, and the steps run under the lock. The ground rules are those of `queue/mod.rs`;
//! the numbers below refer to them.

use std::collections::VecDeque;
use std::ptr::NonNull;

use super::ring::{Mode, PopError, PushError, Ring};
use super::Queue;
use crate::sync::error::QueueError;
use crate::sync::wait::{WaitKind, WaitList, WakeBatch};

// ----- slots (ground rule 1) -----

/// Where a getter's items go.
pub(super) enum Dst<T> {
    /// One item (`get_one`, the stream).
    One(Option<T>),
    /// Appended to the caller's `Vec`, at most `room` more. The pointer comes from a `&mut`
    /// borrow the operation's future holds for its whole life (`Get`'s `PhantomData`).
    Many { out: NonNull<Vec<T>>, room: usize },
}

/// A getter's transfer.
pub(crate) struct GetSlot<T> {
    pub(super) dst: Dst<T>,
    pub(super) got: usize,
    pub(super) needed: usize,
}

/// Where a putter's items come from.
pub(super) enum Src<T> {
    /// One item (`put_one`, the sink).
    One(Option<T>),
    /// The front of the caller's deque; the pointer comes from a `&mut` borrow the operation's
    /// future holds for its whole life (`Put`'s `PhantomData`).
    Borrowed(NonNull<VecDeque<T>>),
    /// Items the operation owns (`put_all`).
    Owned(VecDeque<T>),
}

/// A putter's transfer.
pub(crate) struct PutSlot<T> {
    pub(super) src: Src<T>,
    pub(super) put: usize,
    pub(super) needed: usize,
}

// SAFETY: a slot holds `T`s, or a pointer to a `Vec<T>`/`VecDeque<T>` whose borrow its future
// holds; the slot is reached by other threads only under the queue's lock, and moving `T`s
// between threads is what `T: Send` allows.
unsafe impl<T: Send> Send for GetSlot<T> {}
// SAFETY: as for `GetSlot`.
unsafe impl<T: Send> Send for PutSlot<T> {}

impl<T> GetSlot<T> {
    pub(super) fn new(dst: Dst<T>) -> Self {
        GetSlot { dst, got: 0, needed: 0 }
    }

    /// How many more items fit.
    pub(super) fn room(&self) -> usize {
        match &self.dst {
            Dst::One(v) => usize::from(v.is_none()),
            Dst::Many { room, .. } => *room,
        }
    }

    pub(super) fn give(&mut self, item: T) {
        match &mut self.dst {
            Dst::One(v) => *v = Some(item),
            Dst::Many { out, room } => {
                // SAFETY: the pointer is valid for the life of the operation (see `Dst::Many`),
                // and only the owner while the slot is unqueued, or the holder of the queue's
                // lock while it is queued, reaches it (wait.rs ground rules 1 and 4).
                unsafe { out.as_mut().push(item) };
                *room -= 1;
            }
        }
        self.got += 1;
        self.needed = self.needed.saturating_sub(1);
    }

    /// Takes from `ring` until the slot is full or the ring says why not (`Ok` if full).
    fn pop_from(&mut self, ring: &Ring<T>, mode: Mode) -> Result<(), PopError> {
        while self.room() > 0 {
            self.give(ring.pop(mode)?);
        }
        Ok(())
    }
}

/// Why a putter stopped moving items into the ring.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PushStop {
    /// It has no item left.
    Drained,
    /// The ring is full (or the stash takes the rest of the capacity).
    Full,
    /// The ring is closed: `close` was called.
    Closed,
    /// A fast push found `SLOW` set.
    Slow,
}

impl<T> PutSlot<T> {
    pub(super) fn new(src: Src<T>) -> Self {
        PutSlot { src, put: 0, needed: 0 }
    }

    /// How many items are left to put.
    pub(super) fn remaining(&self) -> usize {
        match &self.src {
            Src::One(v) => usize::from(v.is_some()),
            // SAFETY: as in `GetSlot::give`.
            Src::Borrowed(p) => unsafe { p.as_ref().len() },
            Src::Owned(d) => d.len(),
        }
    }

    /// The next item, not yet counted as put.
    fn next(&mut self) -> Option<T> {
        match &mut self.src {
            Src::One(v) => v.take(),
            // SAFETY: as in `GetSlot::give`.
            Src::Borrowed(p) => unsafe { p.as_mut().pop_front() },
            Src::Owned(d) => d.pop_front(),
        }
    }

    /// Puts back the item [`next`](Self::next) returned, which did not go in.
    fn unnext(&mut self, item: T) {
        match &mut self.src {
            Src::One(v) => *v = Some(item),
            // SAFETY: as in `GetSlot::give`.
            Src::Borrowed(p) => unsafe { p.as_mut().push_front(item) },
            Src::Owned(d) => d.push_front(item),
        }
    }

    fn count_one(&mut self) {
        self.put += 1;
        self.needed = self.needed.saturating_sub(1);
    }

    /// Takes the next item; `remaining() > 0`.
    fn take(&mut self) -> T {
        let item = self.next().expect("a putter with items left");
        self.count_one();
        item
    }

    /// Moves the next item into `ring`. An item that does not fit stays first in the slot, so
    /// a putter's items are never duplicated nor lost.
    fn push_one(&mut self, ring: &Ring<T>, mode: Mode) -> Result<(), PushStop> {
        let item = self.next().ok_or(PushStop::Drained)?;
        let (stop, item) = match ring.push(item, mode) {
            Ok(()) => {
                self.count_one();
                return Ok(());
            }
            Err(PushError::Full(item)) => (PushStop::Full, item),
            Err(PushError::Closed(item)) => (PushStop::Closed, item),
            Err(PushError::Slow(item)) => (PushStop::Slow, item),
        };
        self.unnext(item);
        Err(stop)
    }

    /// Moves items into `ring` until one does not go in, or none is left.
    fn push_into(&mut self, ring: &Ring<T>, mode: Mode) -> PushStop {
        loop {
            if let Err(stop) = self.push_one(ring, mode) {
                return stop;
            }
        }
    }
}

/// What the lock guards (ground rule 1).
pub(super) struct State<T> {
    /// Items given back by dropped getters, first out (older than the ring's).
    pub(super) stash: VecDeque<T>,
    pub(super) getters: WaitList<GetSlot<T>>,
    pub(super) putters: WaitList<PutSlot<T>>,
    /// `close` was called.
    pub(super) closed: bool,
    /// Whether the ring's `SLOW` bit is set (ground rule 2).
    slow: bool,
}

impl<T> State<T> {
    pub(super) const fn new() -> Self {
        State {
            stash: VecDeque::new(),
            getters: WaitList::new(WaitKind::QueueGet),
            putters: WaitList::new(WaitKind::QueuePut),
            closed: false,
            slow: false,
        }
    }
}

impl<T> Queue<T> {
    // ----- the `SLOW` bit (ground rule 2) -----

    /// Under the lock, before a getter's or putter's last look at the ring before it may wait:
    /// sets `SLOW`, the first half of the handshake of ground rule 4.
    fn announce(&self, st: &mut State<T>) {
        if let (Some(ring), false) = (&self.ring, st.slow) {
            ring.set_slow(true);
            st.slow = true;
        }
    }

    /// Under the lock, last step of every critical section: `SLOW` says again whether a task
    /// waits or the stash holds items.
    pub(super) fn sync_slow(&self, st: &mut State<T>) {
        let slow = !st.getters.is_empty() || !st.putters.is_empty() || !st.stash.is_empty();
        if slow != st.slow {
            if let Some(ring) = &self.ring {
                ring.set_slow(slow);
            }
            st.slow = slow;
        }
    }

    /// Under the lock: marks the queue closed (ground rule 7).
    pub(super) fn set_closed_locked(&self, st: &mut State<T>) {
        st.closed = true;
        if let Some(ring) = &self.ring {
            ring.close();
        }
    }

    // ----- fast paths (ground rule 3) -----

    /// A put without the lock, while `SLOW` is clear: moves items into the ring. Returns the
    /// count if the put is complete; `None` sends it to the slow path with what it has moved
    /// so far counted in the slot.
    #[inline]
    pub(super) fn put_fast(&self, slot: &mut PutSlot<T>, min: usize) -> Option<usize> {
        let ring = self.ring.as_ref()?;
        let done = match slot.push_into(ring, Mode::Fast) {
            PushStop::Drained => true,
            // Full with `SLOW` clear: no getter waits (getters wait on an empty ring).
            PushStop::Full => slot.put >= min,
            // A waiter to serve first, the stash, or the closed queue: the slow path decides.
            PushStop::Slow | PushStop::Closed => false,
        };
        done.then_some(slot.put)
    }

    /// A get without the lock, while `SLOW` is clear: takes items from the ring. Returns the
    /// result if the get is complete; `None` sends it to the slow path with what it has taken
    /// so far in the slot.
    #[inline]
    pub(super) fn get_fast(
        &self,
        slot: &mut GetSlot<T>,
        min: usize,
    ) -> Option<Result<usize, QueueError>> {
        let ring = self.ring.as_ref()?;
        match slot.pop_from(ring, Mode::Fast) {
            Ok(()) => Some(Ok(slot.got)),
            Err(PopError::Empty) if slot.got >= min => Some(Ok(slot.got)),
            Err(PopError::Empty | PopError::Slow) => None,
            // Closed and empty is final (ground rule 7).
            Err(PopError::Closed) if slot.got == 0 => Some(Err(QueueError::Closed)),
            Err(PopError::Closed) => Some(Ok(slot.got)),
        }
    }

    // ----- steps under the lock (Zig's `putLocked`, `getLocked`, ...) -----

    /// Zig `putLocked`, before blocking: items go to waiting getters first (the ring is then
    /// empty, ground rule 5), then into the ring unless putters wait ahead (it is then full).
    /// Returns the result if the put is complete; `None` if it must wait (its `needed` set).
    pub(super) fn put_locked(
        &self,
        st: &mut State<T>,
        slot: &mut PutSlot<T>,
        min: usize,
        wake: &mut WakeBatch,
    ) -> Option<Result<usize, QueueError>> {
        if st.closed {
            return Some(if slot.put > 0 { Ok(slot.put) } else { Err(QueueError::Closed) });
        }
        self.debug_check(st);
        while slot.remaining() > 0 {
            let Some(getter) = st.getters.front_mut() else { break };
            while getter.room() > 0 && slot.remaining() > 0 {
                getter.give(slot.take());
            }
            if getter.needed > 0 {
                break; // we ran out of items for it
            }
            wake.push(st.getters.pop_front());
        }
        // Putters waiting ahead of us: the ring is full, we queue behind them.
        if slot.remaining() > 0 && st.putters.is_empty() {
            // No getter waits now.
            if slot.put < min {
                self.announce(st);
            }
            self.fill_ring(slot, st.stash.len());
        }
        if slot.remaining() == 0 || slot.put >= min {
            return Some(Ok(slot.put));
        }
        slot.needed = min - slot.put;
        None
    }

    /// Zig `getLocked`, before blocking: the stash first, then (if no getter waits ahead: the
    /// ring is then empty, ground rule 5) the ring, then straight from the waiting putters,
    /// which then refill the ring. Returns the result if the get is complete; `None` if it must
    /// wait (its `needed` set).
    pub(super) fn get_locked(
        &self,
        st: &mut State<T>,
        slot: &mut GetSlot<T>,
        min: usize,
        wake: &mut WakeBatch,
    ) -> Option<Result<usize, QueueError>> {
        self.debug_check(st);
        let closed = st.closed;
        while slot.room() > 0 {
            let Some(item) = st.stash.pop_front() else { break };
            slot.give(item);
        }
        // Getters waiting ahead of us: nothing to take (the ring is empty, no putter waits);
        // we queue behind them.
        if st.getters.is_empty() {
            if slot.got < min && !closed {
                self.announce(st);
            }
            if let Some(ring) = &self.ring {
                let _ = slot.pop_from(ring, Mode::Locked); // `closed` is known
            }
            while slot.room() > 0 {
                let Some(putter) = st.putters.front_mut() else { break };
                while slot.room() > 0 && putter.remaining() > 0 {
                    slot.give(putter.take());
                }
                if putter.needed > 0 {
                    break; // we ran out of room
                }
                wake.push(st.putters.pop_front());
            }
            self.refill_locked(st, wake);
        }
        if slot.got == 0 && closed {
            return Some(Err(QueueError::Closed));
        }
        if slot.got >= min || closed || slot.room() == 0 {
            return Some(Ok(slot.got));
        }
        slot.needed = min - slot.got;
        None
    }

    /// Under the lock, in debug builds: the invariants of ground rule 5. Getters wait only on
    /// an empty ring with an empty stash and no putter waiting; putters wait only on a full
    /// ring; the `SLOW` bit mirrors them.
    fn debug_check(&self, st: &State<T>) {
        if cfg!(debug_assertions) {
            let len = self.ring.as_ref().map_or(0, Ring::len);
            if !st.getters.is_empty() {
                assert!(len == 0 && st.stash.is_empty() && st.putters.is_empty());
            }
            if !st.putters.is_empty() {
                assert!(len + st.stash.len() >= self.capacity);
            }
            let slow = !st.getters.is_empty() || !st.putters.is_empty() || !st.stash.is_empty();
            assert_eq!(st.slow, slow);
        }
    }

    /// Zig `fillRingBufferFromPutters`: moves the waiting putters' items into the ring, in
    /// order, waking each putter that reaches its `min`.
    fn refill_locked(&self, st: &mut State<T>, wake: &mut WakeBatch) {
        let stash_len = st.stash.len();
        while let Some(putter) = st.putters.front_mut() {
            self.fill_ring(putter, stash_len);
            if putter.needed > 0 {
                break; // the ring is full
            }
            wake.push(st.putters.pop_front());
        }
    }

    /// Moves a putter's items into the ring while they fit, the stash (`stash_len` items)
    /// counting against the capacity (ground rule 6).
    fn fill_ring(&self, slot: &mut PutSlot<T>, stash_len: usize) {
        let Some(ring) = &self.ring else { return };
        if stash_len == 0 {
            slot.push_into(ring, Mode::Locked);
            return;
        }
        while ring.len() + stash_len < self.capacity && slot.push_one(ring, Mode::Locked).is_ok() {}
    }

    /// Puts back an item a dropped getter had been handed: to the next waiting getter, or to
    /// the front of the stash (ground rule 6).
    pub(super) fn give_back(&self, st: &mut State<T>, item: T, wake: &mut WakeBatch) {
        if let Some(getter) = st.getters.front_mut() {
            getter.give(item);
            if getter.needed == 0 {
                wake.push(st.getters.pop_front());
            }
        } else {
            st.stash.push_front(item);
        }
    }
}
