//! A worker's local run queue: a bounded single-producer, multi-consumer ring, as in tokio.
//!
//! Why not `concurrent_queue`: its bounded queue pays a compare-and-swap on both push and pop
//! (about 13 ns a pair here); this ring's owner pushes with a plain store and pops with one CAS
//! (about 3 ns a pair), which is most of the cost of a yield.
//!
//! Ground rules:
//! 1. `tail` is written only by the owner (the worker the queue belongs to). `head` packs two
//!    32-bit indices, `steal` (high) and `real` (low): `real` is the next slot to take; `steal`
//!    equals `real` except while a stealer copies slots `steal..real` out, during which those
//!    slots still belong to it. Indices wrap; slot `i` is `buffer[i % CAPACITY]`.
//! 2. Only the owner pushes (`push_back`) and pops (`pop`). A push writes slot `tail` only when
//!    `tail - steal < CAPACITY`, i.e. never into a slot a stealer may still be reading, and
//!    publishes it with a `Release` store of `tail`, which pairs with the `Acquire` loads of
//!    `tail` in `pop` and `steal_into`.
//! 3. A stealer claims half of `real..tail` with one CAS of `head` that moves `real` and keeps
//!    `steal`, copies the claimed slots into its own queue, then releases them with a CAS that
//!    sets `steal = real`. Only one stealer at a time: a stealer that finds `steal != real` backs
//!    off. Every CAS of `head` is `AcqRel`: the release half publishes the slot reads that came
//!    before it to the owner's next `Acquire` load of `head` in `push_back`.
//! 4. A popped or stolen slot's value is moved out exactly once: the CAS that advances `real`
//!    past it decides who owns it.

use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::mem::MaybeUninit;

/// Capacity of a worker's local queue. Large enough that a burst of spawns rarely overflows to
/// the shared injector; small enough that stealing half is quick. 256 as in tokio.
#[cfg(not(all(test, kqio_loom)))]
pub(crate) const CAPACITY: usize = 256;
/// Under loom: small enough that the models reach a full queue and its overflow.
#[cfg(all(test, kqio_loom))]
pub(crate) const CAPACITY: usize = 4;
const MASK: usize = CAPACITY - 1;

fn pack(steal: u32, real: u32) -> u64 {
    ((steal as u64) << 32) | real as u64
}

fn unpack(v: u64) -> (u32, u32) {
    ((v >> 32) as u32, v as u32)
}

pub(crate) struct RunQueue<T> {
    head: AtomicU64,
    tail: AtomicU32,
    buffer: Box<[UnsafeCell<MaybeUninit<T>>]>,
}

// SAFETY: slots are only accessed under the protocol of the ground rules: a slot is written by
// the owner alone while no one else may read it (rule 2), and read by the one thread whose CAS
// claimed it (rule 4). `T: Send`, so moving values between threads is allowed.
unsafe impl<T: Send> Sync for RunQueue<T> {}
// SAFETY: as above; the queue owns `T`s, which are `Send`.
unsafe impl<T: Send> Send for RunQueue<T> {}

impl<T> RunQueue<T> {
    pub(crate) fn new() -> Self {
        RunQueue {
            head: AtomicU64::new(0),
            tail: AtomicU32::new(0),
            buffer: (0..CAPACITY).map(|_| UnsafeCell::new(MaybeUninit::uninit())).collect(),
        }
    }

    /// Tasks in the queue (a snapshot; any thread).
    pub(crate) fn len(&self) -> usize {
        let (_, real) = unpack(self.head.load(Ordering::Acquire));
        self.tail.load(Ordering::Acquire).wrapping_sub(real) as usize
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends `task`, or gives it back if the queue is full.
    ///
    /// # Safety
    ///
    /// Only the queue's owner may call this (ground rule 1), and not concurrently with its own
    /// `pop` or `steal_into` into this queue (the owner is one thread, so it cannot).
    pub(crate) unsafe fn push_back(&self, task: T) -> Result<(), T> {
        let (steal, _) = unpack(self.head.load(Ordering::Acquire));
        let tail = self.tail.load(Ordering::Relaxed);
        if tail.wrapping_sub(steal) as usize >= CAPACITY {
            return Err(task);
        }
        // SAFETY: rule 2: `tail - steal < CAPACITY`, so no stealer reads this slot, and only the
        // owner writes slots.
        unsafe { (*self.buffer[tail as usize & MASK].with_mut(|p| p)).write(task) };
        // Release: publishes the slot (rule 2).
        self.tail.store(tail.wrapping_add(1), Ordering::Release);
        Ok(())
    }

    /// Appends `task`; when the queue is full, first moves half of it (the oldest tasks) to
    /// `overflow` (the shared resumed queue). Never waits for a stealer: if the slots that keep the queue
    /// full are a stealer's, `task` goes to `overflow` as well.
    ///
    /// # Safety
    ///
    /// As for [`push_back`](Self::push_back) and [`pop`](Self::pop): only the owner calls this.
    pub(crate) unsafe fn push_back_or_overflow(&self, mut task: T, mut overflow: impl FnMut(T)) {
        loop {
            // SAFETY: the caller is the queue's owner.
            match unsafe { self.push_back(task) } {
                Ok(()) => return,
                Err(t) => {
                    task = t;
                    let mut moved = 0;
                    for _ in 0..CAPACITY / 2 {
                        // SAFETY: as above.
                        match unsafe { self.pop() } {
                            Some(t) => {
                                overflow(t);
                                moved += 1;
                            }
                            None => break,
                        }
                    }
                    if moved == 0 {
                        // Full, yet nothing left to pop: a stealer still holds the slots it is
                        // copying out. Do not spin until it is done: the task overflows too.
                        overflow(task);
                        return;
                    }
                }
            }
        }
    }

    /// Takes the oldest task.
    ///
    /// # Safety
    ///
    /// Only the queue's owner may call this, or any one thread once the owner is gone (after its
    /// thread was joined): a popped slot may be refilled by the owner's next push.
    pub(crate) unsafe fn pop(&self) -> Option<T> {
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            let (steal, real) = unpack(head);
            if real == self.tail.load(Ordering::Acquire) {
                return None;
            }
            let next_real = real.wrapping_add(1);
            let next =
                if steal == real { pack(next_real, next_real) } else { pack(steal, next_real) };
            match self.head.compare_exchange(head, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    // SAFETY: rule 4: the CAS gave this thread slot `real`, which the owner
                    // wrote and published before (rule 2); it is read once.
                    return Some(unsafe {
                        (*self.buffer[real as usize & MASK].with(|p| p)).assume_init_read()
                    });
                }
                Err(actual) => head = actual,
            }
        }
    }

    /// Moves about half of this queue's tasks into `dst` and returns one of them to run.
    ///
    /// # Safety
    ///
    /// The caller must be `dst`'s owner (it writes `dst`'s slots and tail), and `dst` must not be
    /// `self`.
    pub(crate) unsafe fn steal_into(&self, dst: &RunQueue<T>) -> Option<T> {
        let dst_tail = dst.tail.load(Ordering::Relaxed);
        let (dst_steal, _) = unpack(dst.head.load(Ordering::Acquire));
        if dst_tail.wrapping_sub(dst_steal) as usize > CAPACITY / 2 {
            // Not enough room for half of a full queue: the caller has work anyway.
            return None;
        }
        let mut prev = self.head.load(Ordering::Acquire);
        let (first, n) = loop {
            let (steal, real) = unpack(prev);
            if steal != real {
                return None; // Another stealer is copying (rule 3).
            }
            let tail = self.tail.load(Ordering::Acquire);
            let available = tail.wrapping_sub(real);
            let n = available - available / 2;
            if n == 0 {
                return None;
            }
            let next = pack(steal, real.wrapping_add(n));
            match self.head.compare_exchange(prev, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break (real, n),
                Err(actual) => prev = actual,
            }
        };
        for i in 0..n {
            let src = first.wrapping_add(i) as usize & MASK;
            let to = dst_tail.wrapping_add(i) as usize & MASK;
            // SAFETY: rule 3: slots `first..first + n` were claimed by the CAS above and the
            // owner does not overwrite them until `steal` moves past them; the destination
            // slots are past `dst`'s tail with room checked above, and only `dst`'s owner (the
            // caller) writes them.
            unsafe {
                let task = (*self.buffer[src].with(|p| p)).assume_init_read();
                (*dst.buffer[to].with_mut(|p| p)).write(task);
            }
        }
        // Release the claim: `steal = real` (the owner may have popped meanwhile).
        let mut cur = pack(first, first.wrapping_add(n));
        loop {
            let (_, real) = unpack(cur);
            match self.head.compare_exchange(
                cur,
                pack(real, real),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
        // Keep the last one to run now; publish the rest in `dst`.
        let last = dst_tail.wrapping_add(n - 1);
        // SAFETY: written just above, not yet published, so no one else can take it.
        let task = unsafe { (*dst.buffer[last as usize & MASK].with(|p| p)).assume_init_read() };
        if n > 1 {
            // Release: publishes the copied slots (rule 2).
            dst.tail.store(last, Ordering::Release);
        }
        Some(task)
    }
}

impl<T> Drop for RunQueue<T> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no other thread can use the queue any more.
        while let Some(task) = unsafe { self.pop() } {
            drop(task);
        }
    }
}

#[cfg(all(test, not(kqio_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    #[test]
    fn fifo_full_and_wrap_around() {
        let q = RunQueue::new();
        for round in 0..5u32 {
            for i in 0..CAPACITY as u32 {
                // SAFETY: this test thread is the only user.
                assert!(unsafe { q.push_back(round * 1000 + i) }.is_ok());
            }
            // SAFETY: as above.
            assert_eq!(unsafe { q.push_back(7) }, Err(7), "full");
            assert_eq!(q.len(), CAPACITY);
            for i in 0..CAPACITY as u32 {
                // SAFETY: as above.
                assert_eq!(unsafe { q.pop() }, Some(round * 1000 + i));
            }
            // SAFETY: as above.
            assert_eq!(unsafe { q.pop() }, None);
        }
    }

    /// One owner pushing and popping, two stealers stealing into their own queues and draining
    /// them: every item is taken exactly once, across many rounds.
    #[test]
    fn concurrent_steal_takes_every_item_exactly_once() {
        const ITEMS: usize = 200_000;
        let mut stolen_total = 0;
        for _ in 0..5 {
            // All three start together, so the stealers are running while the owner pushes.
            let start = Arc::new(std::sync::Barrier::new(3));
            let src = Arc::new(RunQueue::<usize>::new());
            let seen: Arc<Vec<std::sync::atomic::AtomicU8>> =
                Arc::new((0..ITEMS).map(|_| std::sync::atomic::AtomicU8::new(0)).collect());
            let done = Arc::new(AtomicBool::new(false));
            let steals = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let stealers: Vec<_> = (0..2)
                .map(|_| {
                    let (src, seen, done) = (src.clone(), seen.clone(), done.clone());
                    let (start, steals) = (start.clone(), steals.clone());
                    std::thread::spawn(move || {
                        let mine = RunQueue::<usize>::new();
                        start.wait();
                        let mut stolen = 0usize;
                        loop {
                            let finished = done.load(Ordering::Acquire);
                            // SAFETY: this thread owns `mine`; `src` is another queue.
                            if let Some(v) = unsafe { src.steal_into(&mine) } {
                                seen[v].fetch_add(1, Ordering::Relaxed);
                                stolen += 1;
                                steals.fetch_add(1, Ordering::Relaxed);
                            }
                            // SAFETY: this thread owns `mine`.
                            while let Some(v) = unsafe { mine.pop() } {
                                seen[v].fetch_add(1, Ordering::Relaxed);
                                stolen += 1;
                            }
                            if finished && src.is_empty() {
                                break stolen;
                            }
                        }
                    })
                })
                .collect();
            start.wait();
            let mut next = 0;
            while next < ITEMS {
                // SAFETY: this thread is `src`'s owner.
                match unsafe { src.push_back(next) } {
                    Ok(()) => next += 1,
                    Err(_) => {
                        // SAFETY: as above.
                        if let Some(v) = unsafe { src.pop() } {
                            seen[v].fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                // The last pushes are not popped, so the queue ends the loop nearly full.
                if next % 3 == 0 && next < ITEMS - 2 * CAPACITY {
                    // SAFETY: as above.
                    if let Some(v) = unsafe { src.pop() } {
                        seen[v].fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            // However the threads were scheduled, let the stealers take from the full queue
            // before the owner drains it, so every round exercises a steal racing the owner.
            while steals.load(Ordering::Relaxed) == 0 && !src.is_empty() {
                std::thread::yield_now();
            }
            // SAFETY: as above.
            while let Some(v) = unsafe { src.pop() } {
                seen[v].fetch_add(1, Ordering::Relaxed);
            }
            done.store(true, Ordering::Release);
            stolen_total += stealers.into_iter().map(|s| s.join().unwrap()).sum::<usize>();
            for (i, c) in seen.iter().enumerate() {
                assert_eq!(c.load(Ordering::Relaxed), 1, "item {i}");
            }
        }
        assert!(stolen_total >= 5, "the stealers took part in every round");
    }
}

/// Two run queues and the injector against `VecDeque`s, driven by one thread: random pushes
/// (plain, and with overflow to the injector as `push_local` does), pops and steals in both
/// directions, from ring positions near the `u32` wrap-around. Every operation's result, every
/// length and, at the end, every queue's contents in order match the model.
#[cfg(test)]
mod model_tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    #[derive(Debug, Clone, Copy)]
    enum Op {
        /// `push_back` on queue `q`.
        Push(usize),
        /// `push_back_or_overflow` on queue `q`.
        PushOverflow(usize),
        /// Up to this many pushes with overflow in a row on queue 0 (fills it quickly).
        Burst(usize),
        Pop(usize),
        /// Steal from queue `q` into the other one.
        Steal(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..2usize).prop_map(Op::Push),
            4 => (0..2usize).prop_map(Op::PushOverflow),
            1 => (0..3 * CAPACITY).prop_map(Op::Burst),
            4 => (0..2usize).prop_map(Op::Pop),
            3 => (0..2usize).prop_map(Op::Steal),
        ]
    }

    /// Ring positions to start from: near the wrap-around, zero, anywhere.
    fn start() -> impl Strategy<Value = u32> {
        prop_oneof![u32::MAX - 300..=u32::MAX, Just(0), any::<u32>()]
    }

    /// A queue whose ring positions start at `pos` (the indices wrap at `u32::MAX`).
    fn queue_at(pos: u32) -> RunQueue<u64> {
        RunQueue {
            head: AtomicU64::new(pack(pos, pos)),
            tail: AtomicU32::new(pos),
            buffer: (0..CAPACITY).map(|_| UnsafeCell::new(MaybeUninit::uninit())).collect(),
        }
    }

    /// The model of `steal_into`: about half (rounded up) of `src` moves to `dst`'s back, and the
    /// last of those is returned instead of pushed.
    fn model_steal(src: &mut VecDeque<u64>, dst: &mut VecDeque<u64>) -> Option<u64> {
        if dst.len() > CAPACITY / 2 {
            return None;
        }
        let n = src.len() - src.len() / 2;
        if n == 0 {
            return None;
        }
        dst.extend(src.drain(..n));
        dst.pop_back()
    }

    /// The model of `push_back_or_overflow`: a full queue first moves its older half out.
    fn model_push_overflow(q: &mut VecDeque<u64>, injector: &mut VecDeque<u64>, v: u64) {
        if q.len() == CAPACITY {
            injector.extend(q.drain(..CAPACITY / 2));
        }
        q.push_back(v);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn run_queues_match_vecdeques(
            starts in (start(), start()),
            ops in prop::collection::vec(op(), 1..300),
        ) {
            let queues = [queue_at(starts.0), queue_at(starts.1)];
            let mut models = [VecDeque::new(), VecDeque::new()];
            let mut injector = Vec::new();
            let mut model_injector = VecDeque::new();
            let mut next = 0u64;
            for op in ops {
                match op {
                    Op::Push(q) => {
                        // SAFETY: this thread is the only user of both queues.
                        let r = unsafe { queues[q].push_back(next) };
                        if models[q].len() < CAPACITY {
                            prop_assert_eq!(r, Ok(()));
                            models[q].push_back(next);
                        } else {
                            prop_assert_eq!(r, Err(next), "a full queue refuses");
                        }
                        next += 1;
                    }
                    Op::PushOverflow(q) => {
                        // SAFETY: as above.
                        unsafe { queues[q].push_back_or_overflow(next, |t| injector.push(t)) };
                        model_push_overflow(&mut models[q], &mut model_injector, next);
                        next += 1;
                    }
                    Op::Burst(n) => {
                        for _ in 0..n {
                            // SAFETY: as above.
                            unsafe { queues[0].push_back_or_overflow(next, |t| injector.push(t)) };
                            model_push_overflow(&mut models[0], &mut model_injector, next);
                            next += 1;
                        }
                    }
                    Op::Pop(q) => {
                        // SAFETY: as above.
                        prop_assert_eq!(unsafe { queues[q].pop() }, models[q].pop_front());
                    }
                    Op::Steal(q) => {
                        let (src, dst) = (q, 1 - q);
                        // SAFETY: as above; the two queues are distinct.
                        let got = unsafe { queues[src].steal_into(&queues[dst]) };
                        let [a, b] = &mut models;
                        let want = if src == 0 { model_steal(a, b) } else { model_steal(b, a) };
                        prop_assert_eq!(got, want);
                    }
                }
                for q in 0..2 {
                    prop_assert_eq!(queues[q].len(), models[q].len());
                    prop_assert_eq!(queues[q].is_empty(), models[q].is_empty());
                }
                prop_assert_eq!(&injector, &Vec::from(model_injector.clone()));
            }
            for q in 0..2 {
                let mut drained = Vec::new();
                // SAFETY: as above.
                while let Some(v) = unsafe { queues[q].pop() } {
                    drained.push(v);
                }
                prop_assert_eq!(drained, Vec::from(std::mem::take(&mut models[q])));
            }
        }
    }
}
