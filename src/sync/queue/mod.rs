//! `Queue<T>`: Zig's `Io.Queue(T)`, a bounded multi-producer multi-consumer queue whose puts
//! and gets wait as futures; capacity 0 makes it a rendezvous.
//!
//! | file | what |
//! | --- | --- |
//! | `mod.rs` | the type, its methods, the poll of a put and of a get |
//! | `ring.rs` | the buffer: a lock-free bounded ring whose head and tail carry the flag bits |
//! | `transfer.rs` | the slots, the fast paths, the steps run under the lock |
//! | `ops.rs` | the operations' futures |
//! | `stream.rs` | the `Stream` and `Sink` views |
//!
//! Ground rules (Zig's `TypeErasedQueue`, with a lock-free fast path in front):
//! 1. An item is in one of four places: the ring (`ring.rs`; none at capacity 0), the stash
//!    (rule 6), the slot of a waiting putter, or the slot of a getter (then it is the
//!    getter's). One lock guards the stash, the `closed` flag, the two wait lists (getters,
//!    putters) and every queued waiter's slot: a getter's says where items go ([`GetSlot`]), a
//!    putter's holds the items it still has to give ([`PutSlot`]), each with `needed`, how many
//!    more it needs to reach its `min`. The ring is used with or without the lock.
//! 2. The ring's head and tail words carry a `SLOW` bit, and the tail a `CLOSED` bit. Only the
//!    lock's holder changes them. Whenever the lock is free, `SLOW` says whether a task waits
//!    or the stash holds items.
//! 3. Fast paths: while `SLOW` is clear, a put pushes into the ring and a get pops from it,
//!    without the lock; the CAS that claims a ring slot also checks the bit. A full ring (for a
//!    put that needs more room), an empty one (for a get that needs more items), `SLOW` or
//!    `CLOSED` sends the operation to the slow path: Zig's `putLocked`/`getLocked` under the
//!    lock, which may queue the operation's waiter.
//! 4. No lost wake-up: a getter (putter) that may wait sets `SLOW`, under the lock, before its
//!    last look at the ring. A fast push (pop) that succeeded claimed its slot before the bit
//!    was set, in the modification order of the same word, so that last look sees it; one that
//!    comes after fails on the bit and takes the lock. No fence is needed (`ring.rs` rule 3).
//! 5. Order. While getters wait the ring is empty: they looked last and found it empty, and no
//!    fast push succeeds until they are served. So a put hands its items to the waiting getters
//!    before anything is buffered (blocked getters are served before the buffer), and a get
//!    that finds getters waiting queues behind them. Likewise, while putters wait the ring is
//!    full: a get takes from the ring, then straight from the waiting putters, which then refill
//!    the ring, and a put lets them refill it before it pushes its own. Items keep FIFO order;
//!    an operation that starts after a waiter has queued joins the line behind it; operations
//!    that overlap in time are ordered either way.
//! 6. The ring cannot push at its front, so an item a dropped getter gives back (rule 8) goes
//!    to the next waiting getter or to the front of the stash. The stash sets `SLOW`: a get
//!    empties it first, and a put counts it against the capacity (the queue may then hold one
//!    more than its capacity, briefly: no put adds to it until a get has brought it below).
//! 7. A waiter is popped (and woken) when its `needed` reaches zero, or by `close`. A woken
//!    waiter's result is in its slot: `needed == 0` means done; otherwise the queue was closed,
//!    and it reports what it moved, or `Closed` if nothing. `close`, under the lock, sets
//!    `closed` and the ring's `CLOSED` bit (a fast push fails on it, atomically with its claim),
//!    then wakes every waiter. So closed and empty is final: once a get has failed with
//!    `Closed`, every later one does.
//! 8. Cancellation (Zig's rule): an operation checks for cancellation when it starts (so the
//!    call after a short count fails) and while queued. A canceled waiter leaves the list and
//!    returns what it already moved, leaving the request pending for the next cancellation
//!    point (Zig: `recancel`); only if it moved nothing does it return `Canceled`. A getter
//!    never loses an item: what it was handed is returned, and a getter *dropped* after it was
//!    handed an item gives the item back (rule 6). A putter's items move one at a time (one
//!    that does not fit goes back to the front of its source), under the lock once it is
//!    queued, so a canceled putter keeps exactly the items that did not go in.
//! 9. Wakers are collected under the lock ([`WakeBatch`]) and woken after it is released.

use crate::loom::sync::Mutex as StdMutex;
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

use super::error::QueueError;
use super::wait::{lock, WaitList, Waiter, WakeBatch};
use crate::task::current;

mod ops;
mod ring;
mod stream;
mod transfer;

pub use self::ops::{
    Get, GetOne, GetOneUncancelable, GetUncancelable, Put, PutAll, PutAllUncancelable, PutOne,
    PutUncancelable,
};
use self::ops::{GetOp, PutOp};
use self::ring::Ring;
pub use self::stream::{QueueSink, QueueStream};
use self::transfer::State;
use self::transfer::{Dst, Src};
pub(crate) use self::transfer::{GetSlot, PutSlot};

/// A bounded MPMC queue for async tasks (Zig `Io.Queue(T)`).
///
/// Puts wait while the queue is full, gets while it is empty; a capacity of 0 makes every put
/// wait for a get (a rendezvous). Items are moved, never cloned. [`close`](Self::close) makes
/// puts fail with [`Closed`](super::Closed) and gets fail once the buffered items are drained.
/// Tasks blocked in `get` are served before the buffer; items keep their FIFO order.
///
/// # Design
///
/// The buffer is a lock-free ring. While no task waits, a put is one compare-and-swap that
/// claims a slot in the ring, a write and a release store; a get is the same on the other
/// end; neither takes a lock or runs a fence. The ring's head and tail words also carry a
/// "slow" bit, set while a task waits: a put or get that must wait, or that finds the bit set,
/// takes a lock guarding the wait lists and runs Zig's transfers (a put hands items straight
/// to blocked getters, a get takes straight from blocked putters). A task about to wait sets
/// the bit before its last look at the ring, and the claim of a slot fails once the bit is
/// set, so an item pushed (or room made) concurrently is either seen by that last look or
/// goes through the lock: no wake-up is lost. Wakers are woken after the lock is released.
///
/// | Zig | kqio |
/// | --- | --- |
/// | `Queue(T).init(buffer)` | [`Queue::new(capacity)`](Queue::new) (allocates the ring once) |
/// | `put(io, elems, min)` → `usize` | [`put(&mut deque, min)`](Self::put)`.await` (moves from the front of `deque`) |
/// | `putAll`, `putOne` | [`put_all`](Self::put_all), [`put_one`](Self::put_one) |
/// | `get(io, buf, min)` → `usize` | [`get(&mut vec, min, max)`](Self::get)`.await` (appends to `vec`) |
/// | `getOne` | [`get_one`](Self::get_one) |
/// | `*Uncancelable` | the `*_uncancelable` methods (error [`Closed`](super::Closed) only) |
/// | `close` | [`close`](Self::close) |
/// | (none) | [`stream`](Self::stream) (a `futures::Stream`), [`sink`](Self::sink) (a `futures::Sink`) |
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
///
/// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
/// let io = rt.io();
/// let q = Arc::new(kqio::sync::Queue::new(2));
/// let sum = rt.block_on(async {
///     let producer = {
///         let q = q.clone();
///         io.r#async(async move {
///             for i in 1..=10 {
///                 q.put_one(i).await.unwrap();
///             }
///             q.close();
///         })
///     };
///     let mut sum = 0;
///     while let Ok(v) = q.get_one().await {
///         sum += v;
///     }
///     producer.await;
///     sum
/// });
/// assert_eq!(sum, 55);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Queue<T> {
    /// The buffer; `None` at capacity 0.
    ring: Option<Ring<T>>,
    capacity: usize,
    state: StdMutex<State<T>>,
}

/// Where a queue operation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Not started.
    Start,
    /// Its waiter is queued.
    Queued,
    /// Finished.
    Done,
}

impl<T> Queue<T> {
    /// A queue holding at most `capacity` items; 0 makes it a rendezvous (every put waits for a
    /// get). The ring is allocated here, once: `capacity` slots of one `T` and one `usize`.
    ///
    /// # Panics
    ///
    /// If `capacity` is too large to allocate (its ring positions would not fit a `usize`).
    pub fn new(capacity: usize) -> Self {
        Queue {
            ring: (capacity > 0).then(|| Ring::new(capacity)),
            capacity,
            state: StdMutex::new(State::new()),
        }
    }

    /// The number of items the buffer holds at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The number of items buffered now (items held by waiting putters are not counted).
    pub fn len(&self) -> usize {
        let st = lock(&self.state);
        st.stash.len() + self.ring.as_ref().map_or(0, Ring::len)
    }

    /// Whether no item is buffered now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        match &self.ring {
            Some(ring) => ring.is_closed(),
            None => lock(&self.state).closed,
        }
    }

    /// Closes the queue (Zig `close`): every put from now on fails with
    /// [`Closed`](super::Closed), even with room in the buffer; gets take what is buffered, then
    /// fail with `Closed`. Tasks waiting in a put or get are woken: each returns what it moved,
    /// or `Closed` if nothing. Closing twice does nothing more.
    ///
    /// # Cancellation
    ///
    /// Not cancelable: does not block.
    ///
    /// # Examples
    ///
    /// ```
    /// use kqio::sync::{Queue, QueueError};
    ///
    /// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
    /// let q = Queue::new(4);
    /// rt.block_on(async {
    ///     q.put_one(1).await.unwrap();
    ///     q.close();
    ///     assert_eq!(q.put_one(2).await.unwrap_err().error, QueueError::Closed);
    ///     assert_eq!(q.get_one().await, Ok(1)); // drained first
    ///     assert_eq!(q.get_one().await, Err(QueueError::Closed));
    /// });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn close(&self) {
        let mut wake = WakeBatch::new();
        let mut st = lock(&self.state);
        self.set_closed_locked(&mut st);
        while let Some(w) = st.getters.pop_front() {
            wake.push(Some(w));
        }
        while let Some(w) = st.putters.pop_front() {
            wake.push(Some(w));
        }
        self.sync_slow(&mut st);
        drop(st);
        wake.wake_all();
    }

    /// Moves items from the front of `items` into the queue, waiting until at least `min` have
    /// gone in (Zig `put`). Returns how many went in; those not put stay in `items`.
    ///
    /// With `min == 0` it never waits: it puts what fits now. It may return fewer than `min`
    /// when the queue is closed or the task canceled midway; the next call then fails.
    ///
    /// # Errors
    ///
    /// [`QueueError::Closed`] if the queue is closed before any item went in;
    /// [`QueueError::Canceled`] if the task is canceled before any item went in.
    ///
    /// # Cancellation
    ///
    /// A cancellation point, also when it need not wait (so that the call after a short count
    /// fails, as Zig promises); see
    /// [`JoinHandle::cancel`](crate::JoinHandle::cancel). If some items went in, their count
    /// is returned and the request stays pending for the next cancellation point.
    ///
    /// # Panics
    ///
    /// If `min > items.len()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::VecDeque;
    ///
    /// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
    /// let q = kqio::sync::Queue::new(3);
    /// let mut items = VecDeque::from([1, 2, 3, 4]);
    /// let n = rt.block_on(q.put(&mut items, 0))?;
    /// assert_eq!((n, items), (3, VecDeque::from([4])));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put<'a>(&'a self, items: &'a mut VecDeque<T>, min: usize) -> Put<'a, T> {
        assert!(min <= items.len(), "Queue::put: min ({min}) > items.len() ({})", items.len());
        Put {
            op: PutOp::new(self, Src::Borrowed(NonNull::from(items)), min, true),
            _items: PhantomData,
        }
    }

    /// As [`put`](Self::put), ignoring cancellation (Zig `putUncancelable`).
    ///
    /// # Errors
    ///
    /// [`Closed`](super::Closed) if the queue is closed before any item went in.
    ///
    /// # Cancellation
    ///
    /// Not cancelable: a cancellation request stays pending for the next cancellation point.
    pub fn put_uncancelable<'a>(
        &'a self,
        items: &'a mut VecDeque<T>,
        min: usize,
    ) -> PutUncancelable<'a, T> {
        assert!(min <= items.len(), "Queue::put: min ({min}) > items.len() ({})", items.len());
        PutUncancelable {
            op: PutOp::new(self, Src::Borrowed(NonNull::from(items)), min, false),
            _items: PhantomData,
        }
    }

    /// Puts every item, waiting for room as needed (Zig `putAll`).
    ///
    /// # Errors
    ///
    /// [`QueueError::Closed`] or [`QueueError::Canceled`] if the queue is closed or the task
    /// canceled first; how many items went in before is unspecified (as in Zig), the others are
    /// dropped.
    ///
    /// # Cancellation
    ///
    /// A cancellation point; see [`JoinHandle::cancel`](crate::JoinHandle::cancel).
    pub fn put_all<I: IntoIterator<Item = T>>(&self, items: I) -> PutAll<'_, T> {
        let items: VecDeque<T> = items.into_iter().collect();
        let min = items.len();
        PutAll { op: PutOp::new(self, Src::Owned(items), min, true) }
    }

    /// As [`put_all`](Self::put_all), ignoring cancellation.
    ///
    /// # Errors
    ///
    /// [`Closed`](super::Closed) if the queue is closed first.
    ///
    /// # Cancellation
    ///
    /// Not cancelable: a cancellation request stays pending for the next cancellation point.
    pub fn put_all_uncancelable<I: IntoIterator<Item = T>>(
        &self,
        items: I,
    ) -> PutAllUncancelable<'_, T> {
        let items: VecDeque<T> = items.into_iter().collect();
        let min = items.len();
        PutAllUncancelable { op: PutOp::new(self, Src::Owned(items), min, false) }
    }

    /// Puts one item, waiting for room (Zig `putOne`).
    ///
    /// # Errors
    ///
    /// [`PutOneError`](super::PutOneError), with the item given back, if the queue is closed or
    /// the task canceled first.
    ///
    /// # Cancellation
    ///
    /// A cancellation point; see [`JoinHandle::cancel`](crate::JoinHandle::cancel).
    pub fn put_one(&self, item: T) -> PutOne<'_, T> {
        PutOne { op: PutOp::new(self, Src::One(Some(item)), 1, true) }
    }

    /// As [`put_one`](Self::put_one), ignoring cancellation (Zig `putOneUncancelable`).
    ///
    /// # Errors
    ///
    /// [`PutOneError`](super::PutOneError) (always [`QueueError::Closed`]), with the item given
    /// back, if the queue is closed first.
    ///
    /// # Cancellation
    ///
    /// Not cancelable: a cancellation request stays pending for the next cancellation point.
    pub fn put_one_uncancelable(&self, item: T) -> PutOne<'_, T> {
        PutOne { op: PutOp::new(self, Src::One(Some(item)), 1, false) }
    }

    /// Takes between `min` and `max` items, appending them to `out`, waiting until at least
    /// `min` are there (Zig `get`). Returns how many were taken.
    ///
    /// With `min == 0` it never waits. It may return fewer than `min` when the queue is closed
    /// or the task canceled midway; the next call then fails. `out` grows as needed (reserve
    /// room beforehand to keep allocation out of the queue's lock).
    ///
    /// # Errors
    ///
    /// [`QueueError::Closed`] if the queue is closed and nothing is left to take;
    /// [`QueueError::Canceled`] if the task is canceled before any item was taken.
    ///
    /// # Cancellation
    ///
    /// A cancellation point, also when it need not wait (so that the call after a short count
    /// fails, as Zig promises); see
    /// [`JoinHandle::cancel`](crate::JoinHandle::cancel). No item is lost: if some were taken
    /// their count is returned and the request stays pending for the next cancellation point.
    ///
    /// # Panics
    ///
    /// If `min > max`.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
    /// let q = kqio::sync::Queue::new(4);
    /// let mut out = Vec::new();
    /// rt.block_on(async {
    ///     q.put_all([1, 2, 3]).await?;
    ///     q.get(&mut out, 1, 2).await
    /// })?;
    /// assert_eq!(out, [1, 2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get<'a>(&'a self, out: &'a mut Vec<T>, min: usize, max: usize) -> Get<'a, T> {
        assert!(min <= max, "Queue::get: min ({min}) > max ({max})");
        let dst = Dst::Many { out: NonNull::from(out), room: max };
        Get { op: GetOp::new(self, dst, min, true), _out: PhantomData }
    }

    /// As [`get`](Self::get), ignoring cancellation (Zig `getUncancelable`).
    ///
    /// # Errors
    ///
    /// [`Closed`](super::Closed) if the queue is closed and nothing is left to take.
    ///
    /// # Cancellation
    ///
    /// Not cancelable: a cancellation request stays pending for the next cancellation point.
    pub fn get_uncancelable<'a>(
        &'a self,
        out: &'a mut Vec<T>,
        min: usize,
        max: usize,
    ) -> GetUncancelable<'a, T> {
        assert!(min <= max, "Queue::get: min ({min}) > max ({max})");
        let dst = Dst::Many { out: NonNull::from(out), room: max };
        GetUncancelable { op: GetOp::new(self, dst, min, false), _out: PhantomData }
    }

    /// Takes one item, waiting for it (Zig `getOne`).
    ///
    /// # Errors
    ///
    /// [`QueueError::Closed`] if the queue is closed and empty; [`QueueError::Canceled`] if the
    /// task is canceled first.
    ///
    /// # Cancellation
    ///
    /// A cancellation point; see [`JoinHandle::cancel`](crate::JoinHandle::cancel). An item
    /// handed to the task in the same instant is returned, not lost.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
    /// let io = rt.io();
    /// let q = Arc::new(kqio::sync::Queue::new(0)); // a rendezvous
    /// let v = rt.block_on(async {
    ///     let q2 = q.clone();
    ///     let putter = io.r#async(async move { q2.put_one("hi").await.unwrap() });
    ///     let v = q.get_one().await;
    ///     putter.await;
    ///     v
    /// });
    /// assert_eq!(v, Ok("hi"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn get_one(&self) -> GetOne<'_, T> {
        GetOne { op: GetOp::new(self, Dst::One(None), 1, true) }
    }

    /// As [`get_one`](Self::get_one), ignoring cancellation (Zig `getOneUncancelable`).
    ///
    /// # Errors
    ///
    /// [`Closed`](super::Closed) if the queue is closed and empty.
    ///
    /// # Cancellation
    ///
    /// Not cancelable: a cancellation request stays pending for the next cancellation point.
    pub fn get_one_uncancelable(&self) -> GetOneUncancelable<'_, T> {
        GetOneUncancelable { op: GetOp::new(self, Dst::One(None), 1, false) }
    }

    /// A [`Stream`](futures::Stream) of the items, one [`get_one`](Self::get_one) at a time;
    /// see [`QueueStream`].
    pub fn stream(&self) -> QueueStream<'_, T> {
        QueueStream::new(self)
    }

    /// A [`Sink`](futures::Sink) that puts items, one [`put_one`](Self::put_one) at a time;
    /// see [`QueueSink`].
    pub fn sink(&self) -> QueueSink<'_, T> {
        QueueSink::new(self)
    }

    // ----- the two operations, shared by every future and adapter -----

    /// Polls a put whose transfer is in `waiter` (ground rules 3 to 5).
    pub(crate) fn poll_put(
        &self,
        waiter: Pin<&Waiter<PutSlot<T>>>,
        phase: &mut Phase,
        min: usize,
        cancelable: bool,
        cx: &Context<'_>,
    ) -> Poll<Result<usize, QueueError>> {
        match *phase {
            Phase::Start => {
                // SAFETY: not queued yet: the slot is ours alone.
                if unsafe { waiter.with_payload(|s| s.remaining()) } == 0 {
                    *phase = Phase::Done;
                    return Poll::Ready(Ok(0));
                }
                if cancelable && current::check_cancel().is_err() {
                    *phase = Phase::Done;
                    return Poll::Ready(Err(QueueError::Canceled));
                }
                // SAFETY: not queued yet: the slot is ours alone.
                if let Some(n) = unsafe { waiter.with_payload(|slot| self.put_fast(slot, min)) } {
                    *phase = Phase::Done;
                    return Poll::Ready(Ok(n));
                }
                let mut wake = WakeBatch::new();
                let mut st = lock(&self.state);
                // SAFETY: not queued yet: the slot is ours alone.
                let done = unsafe {
                    waiter.with_payload(|slot| self.put_locked(&mut st, slot, min, &mut wake))
                };
                let r = match done {
                    Some(r) => Poll::Ready(r),
                    None => {
                        // SAFETY: `waiter` is pinned in its future (or box), used only with
                        // this list, and removed under this lock before it is dropped
                        // (wait.rs rules 1 and 2).
                        unsafe { st.putters.push_back(waiter, cx.waker()) };
                        Poll::Pending
                    }
                };
                self.sync_slow(&mut st);
                drop(st);
                wake.wake_all();
                *phase = if r.is_ready() { Phase::Done } else { Phase::Queued };
                r
            }
            Phase::Queued => {
                let r = self.poll_queued(
                    &waiter,
                    cancelable,
                    cx,
                    |st| &mut st.putters,
                    |s: &mut PutSlot<T>| (s.put, s.needed),
                );
                if r.is_ready() {
                    *phase = Phase::Done;
                }
                r
            }
            Phase::Done => panic!("a queue put polled after completion"),
        }
    }

    /// Polls a get whose transfer is in `waiter` (ground rules 3 to 5).
    pub(crate) fn poll_get(
        &self,
        waiter: Pin<&Waiter<GetSlot<T>>>,
        phase: &mut Phase,
        min: usize,
        cancelable: bool,
        cx: &Context<'_>,
    ) -> Poll<Result<usize, QueueError>> {
        match *phase {
            Phase::Start => {
                // SAFETY: not queued yet: the slot is ours alone.
                if unsafe { waiter.with_payload(|s| s.room()) } == 0 {
                    *phase = Phase::Done;
                    return Poll::Ready(Ok(0));
                }
                if cancelable && current::check_cancel().is_err() {
                    *phase = Phase::Done;
                    return Poll::Ready(Err(QueueError::Canceled));
                }
                // SAFETY: not queued yet: the slot is ours alone.
                if let Some(r) = unsafe { waiter.with_payload(|slot| self.get_fast(slot, min)) } {
                    *phase = Phase::Done;
                    return Poll::Ready(r);
                }
                let mut wake = WakeBatch::new();
                let mut st = lock(&self.state);
                // SAFETY: not queued yet: the slot is ours alone.
                let done = unsafe {
                    waiter.with_payload(|slot| self.get_locked(&mut st, slot, min, &mut wake))
                };
                let r = match done {
                    Some(r) => Poll::Ready(r),
                    None => {
                        // SAFETY: as in `poll_put`.
                        unsafe { st.getters.push_back(waiter, cx.waker()) };
                        Poll::Pending
                    }
                };
                self.sync_slow(&mut st);
                drop(st);
                wake.wake_all();
                *phase = if r.is_ready() { Phase::Done } else { Phase::Queued };
                r
            }
            Phase::Queued => {
                let r = self.poll_queued(
                    &waiter,
                    cancelable,
                    cx,
                    |st| &mut st.getters,
                    |s: &mut GetSlot<T>| (s.got, s.needed),
                );
                if r.is_ready() {
                    *phase = Phase::Done;
                }
                r
            }
            Phase::Done => panic!("a queue get polled after completion"),
        }
    }

    /// Polls a queued put or get: `progress` reads (moved, needed) from its slot.
    fn poll_queued<P>(
        &self,
        waiter: &Waiter<P>,
        cancelable: bool,
        cx: &Context<'_>,
        list: impl Fn(&mut State<T>) -> &mut WaitList<P>,
        progress: impl Fn(&mut P) -> (usize, usize),
    ) -> Poll<Result<usize, QueueError>> {
        // Woken (ground rule 7): the result is in the slot.
        let finish = |waiter: &Waiter<P>| {
            // SAFETY: `take_notified` returned true: the slot is ours alone.
            let (moved, needed) = unsafe { waiter.with_payload(&progress) };
            if needed == 0 || moved > 0 {
                Ok(moved)
            } else {
                Err(QueueError::Closed)
            }
        };
        if waiter.take_notified() {
            return Poll::Ready(finish(waiter));
        }
        let mut st = lock(&self.state);
        if cancelable && current::cancel_pending() {
            // SAFETY: the waiter belongs to this list (rule 1 of wait.rs).
            if unsafe { list(&mut st).remove(waiter) } {
                self.sync_slow(&mut st);
                // SAFETY: removed: the slot is ours alone.
                let (moved, _) = unsafe { waiter.with_payload(&progress) };
                drop(st);
                if moved > 0 {
                    return Poll::Ready(Ok(moved)); // the request stays pending (rule 8)
                }
                let _ = current::check_cancel();
                return Poll::Ready(Err(QueueError::Canceled));
            }
        // SAFETY: the waiter belongs to this list.
        } else if unsafe { list(&mut st).update_waker(waiter, cx.waker()) } {
            return Poll::Pending;
        }
        drop(st);
        waiter.take_notified();
        Poll::Ready(finish(waiter))
    }

    /// A queued put gives up (its future is dropped): it leaves the list. Items it still holds
    /// are dropped with it (or stay in the caller's deque).
    pub(crate) fn abandon_put(&self, waiter: &Waiter<PutSlot<T>>) {
        if waiter.take_notified() {
            return;
        }
        let mut st = lock(&self.state);
        // SAFETY: the waiter belongs to this list.
        unsafe { st.putters.remove(waiter) };
        self.sync_slow(&mut st);
        drop(st);
        waiter.take_notified();
    }

    /// A queued get gives up (its future is dropped): it leaves the list; an item it was handed
    /// but did not return goes back to the queue (ground rule 8).
    pub(crate) fn abandon_get(&self, waiter: &Waiter<GetSlot<T>>) {
        let mut wake = WakeBatch::new();
        let mut st = lock(&self.state);
        // SAFETY: the waiter belongs to this list.
        if !unsafe { st.getters.remove(waiter) } {
            waiter.take_notified();
            // SAFETY: popped by a notifier (not queued): the slot is ours alone.
            let item = unsafe {
                waiter.with_payload(|s| match &mut s.dst {
                    Dst::One(v) => v.take(),
                    Dst::Many { .. } => None, // already in the caller's `Vec`
                })
            };
            if let Some(item) = item {
                self.give_back(&mut st, item, &mut wake);
            }
        }
        self.sync_slow(&mut st);
        drop(st);
        wake.wake_all();
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = lock(&self.state);
        let len = st.stash.len() + self.ring.as_ref().map_or(0, Ring::len);
        f.debug_struct("Queue")
            .field("capacity", &self.capacity)
            .field("len", &len)
            .field("closed", &st.closed)
            .field("getters", &st.getters.count())
            .field("putters", &st.putters.count())
            .finish()
    }
}
