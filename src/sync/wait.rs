//! The one wait/wake mechanism under every primitive of `kqio::sync`: a FIFO list of waiters,
//! each waiter a node stored inside the future that waits (an intrusive list: no allocation per
//! wait), guarded by the primitive's own lock.
//!
//! A primitive keeps its hot, uncontended paths on an atomic word and touches its list only when
//! a task must wait or a waiter must be woken. Zig builds its primitives on the vtable's futex
//! calls; a list of wakers is the futex of a runtime whose waits are futures, and a simulated
//! backend drives it unchanged (it only sees wakers being woken).
//!
//! Ground rules:
//! 1. A [`WaitList`] lives inside the state a primitive guards with a `std::sync::Mutex` (held
//!    only for a few instructions, never across an await). Every access to the list, and to a
//!    queued waiter's links, waker and payload, happens with that lock held; holding
//!    `&mut WaitList` is the proof. A waiter is only ever used with one list.
//! 2. A [`Waiter`] is linked only once its future is pinned (from `poll`), and the future's
//!    `Drop` unlinks it under the lock. Pin's drop guarantee therefore keeps every linked pointer
//!    valid whenever the lock is held.
//! 3. A notifier (unlock, post, signal, set, put, get, close) pops the waiter, takes its waker,
//!    writes its payload (a grant, an item), and last stores `notified = true` (Release). After
//!    that store it never touches the waiter again; it wakes the waker after releasing the lock
//!    ([`WakeBatch`] carries several: a broadcast pops every waiter in one critical section, so
//!    a task that arrives meanwhile is never woken by a broadcast that began before it).
//! 4. The owner reads `notified` (Acquire, [`Waiter::take_notified`]). Once it has seen `true`
//!    the waiter is unlinked and the owner's alone, so it reads the payload without the lock.
//! 5. Cancellation is the owner's business, in the same order in every primitive: a cancelable
//!    wait that must block, and a queued waiter that is polled again, first asks
//!    [`check_cancel`](crate::task::current::check_cancel). If canceled, or dropped, it unlinks
//!    itself; if it had already been notified it passes what it was handed on (the lock's
//!    wake-up, the permit, the signal) so that no other waiter is stranded. A queue getter is
//!    the one exception: items it was handed are returned to it, never lost (see `queue.rs`).

use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicBool, Ordering};
use std::marker::PhantomPinned;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::{PoisonError, TryLockError};

use crate::loom::sync::{Mutex, MutexGuard};
use std::task::Waker;

use crate::task::WaitingOn;

/// Locks a primitive's state. Poisoning is ignored: the state is left consistent by every
/// critical section (none of them runs user code), so a panic elsewhere does not make it invalid.
///
/// Critical sections here are a few dozen instructions, so a contended lock is first retried
/// with `try_lock` and a short exponential backoff ([`LOCK_SPINS`] rounds) before blocking: once
/// `std`'s futex mutex has blocked a thread it marks itself contended, and every unlock then
/// makes a `futex` wake system call, which costs far more than these critical sections.
#[inline]
pub(crate) fn lock<S>(m: &Mutex<S>) -> MutexGuard<'_, S> {
    match m.try_lock() {
        Ok(g) => g,
        Err(TryLockError::Poisoned(p)) => p.into_inner(),
        Err(TryLockError::WouldBlock) => lock_contended(m),
    }
}

/// Rounds of backoff before a contended [`lock`] blocks: 2^0 + ... + 2^10 = 2,047 spin hints at
/// most, some microseconds: longer than any critical section of this module, so a lock held by
/// a running thread is nearly always had without sleeping. Measured on the queue benchmark (2
/// workers, 8 tasks on one queue): 11 rounds took 133 ms where 8 took 146 ms and a plain
/// `Mutex::lock` 212 ms.
#[cfg(not(all(test, kqio_loom)))]
pub(crate) const LOCK_SPINS: u32 = 11;
/// Under loom every spin is a yield point: one round keeps the `try_lock` retry in the models
/// without multiplying their interleavings.
#[cfg(all(test, kqio_loom))]
pub(crate) const LOCK_SPINS: u32 = 1;

#[cold]
fn lock_contended<S>(m: &Mutex<S>) -> MutexGuard<'_, S> {
    for round in 0..LOCK_SPINS {
        for _ in 0..1u32 << round {
            crate::loom::hint::spin_loop();
        }
        match m.try_lock() {
            Ok(g) => return g,
            Err(TryLockError::Poisoned(p)) => return p.into_inner(),
            Err(TryLockError::WouldBlock) => {}
        }
    }
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One waiting future's node: lives inside that future, linked into one [`WaitList`].
///
/// `P` is the primitive's payload (nothing for a lock; the items in flight for a queue).
pub(crate) struct Waiter<P> {
    /// Set by a notifier as its last access (ground rule 3); read and cleared by the owner.
    notified: AtomicBool,
    /// Guarded by the list's lock while queued; the owner's alone otherwise.
    links: UnsafeCell<Links<P>>,
    _pin: PhantomPinned,
}

struct Links<P> {
    prev: Option<NonNull<Waiter<P>>>,
    next: Option<NonNull<Waiter<P>>>,
    queued: bool,
    waker: Option<Waker>,
    payload: P,
}

// SAFETY: a `Waiter` is reached by its owner and by the notifiers of one list; its links, waker
// and payload are touched only under that list's lock or, once notified, by the owner alone
// (ground rules 1 and 4), and `notified` is atomic. So sharing or sending it only requires that
// the payload may be sent between threads.
unsafe impl<P: Send> Send for Waiter<P> {}
// SAFETY: as for `Send`: every access through `&Waiter` is serialized by the list's lock.
unsafe impl<P: Send> Sync for Waiter<P> {}

impl<P> Waiter<P> {
    crate::loom::const_fn! {
        /// A waiter that is not queued.
        pub(crate) const fn new(payload: P) -> Self {
            Waiter {
                notified: AtomicBool::new(false),
                links: UnsafeCell::new(Links {
                    prev: None,
                    next: None,
                    queued: false,
                    waker: None,
                    payload,
                }),
                _pin: PhantomPinned,
            }
        }
    }

    /// Owner: whether a notifier has popped this waiter and handed it its wake-up; clears the
    /// flag. When this returns `true` the waiter is no longer queued.
    #[inline]
    pub(crate) fn take_notified(&self) -> bool {
        // Acquire: pairs with the Release store in `WaitList::pop_front`, so the payload the
        // notifier wrote is visible here.
        if self.notified.load(Ordering::Acquire) {
            self.notified.store(false, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    /// Owner: runs `f` on the payload of a waiter that is not queued.
    ///
    /// # Safety
    ///
    /// The waiter is not queued: it was never pushed, or [`take_notified`](Self::take_notified)
    /// returned `true` since its last push, or it was removed. No other thread can then reach
    /// it (ground rule 4).
    #[inline]
    pub(crate) unsafe fn with_payload<R>(&self, f: impl FnOnce(&mut P) -> R) -> R {
        // SAFETY: the caller guarantees that nobody else can reach the waiter.
        let links = unsafe { &mut *self.links.with_mut(|p| p) };
        debug_assert!(!links.queued);
        f(&mut links.payload)
    }
}

/// A FIFO list of [`Waiter`]s, kept inside a primitive's locked state.
pub(crate) struct WaitList<P> {
    head: Option<NonNull<Waiter<P>>>,
    tail: Option<NonNull<Waiter<P>>>,
    /// Which primitive this is the list of, for the task's wait record (a queued waiter's task
    /// records `kind` with this list's address, its identity, on each `Pending`).
    kind: WaitKind,
}

/// The primitive a [`WaitList`] belongs to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WaitKind {
    Mutex,
    Condition,
    Event,
    Semaphore,
    RwLock,
    QueuePut,
    QueueGet,
}

impl<P> WaitList<P> {
    /// Records, for the current task, that it waits on this list's primitive (a waiter was
    /// queued or re-armed: the poll returns `Pending`).
    #[inline]
    fn record_wait(&self) {
        let addr = self as *const Self as usize;
        crate::task::activity::wait_on(match self.kind {
            WaitKind::Mutex => WaitingOn::Mutex { addr },
            WaitKind::Condition => WaitingOn::Condition { addr },
            WaitKind::Event => WaitingOn::Event { addr },
            WaitKind::Semaphore => WaitingOn::Semaphore { addr },
            WaitKind::RwLock => WaitingOn::RwLock { addr },
            WaitKind::QueuePut => WaitingOn::QueuePut { addr },
            WaitKind::QueueGet => WaitingOn::QueueGet { addr },
        });
    }
}

// SAFETY: the list holds pointers to waiters whose payloads are `Send` (see `Waiter`), and is
// itself only reached through the lock that owns it.
unsafe impl<P: Send> Send for WaitList<P> {}

impl<P> WaitList<P> {
    /// An empty list of a `kind` primitive.
    pub(crate) const fn new(kind: WaitKind) -> Self {
        WaitList { head: None, tail: None, kind }
    }

    /// Whether no waiter is queued.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// The number of queued waiters (walks the list: for `Debug` output only).
    pub(crate) fn count(&self) -> usize {
        let mut n = 0;
        let mut cur = self.head;
        while let Some(node) = cur {
            n += 1;
            // SAFETY: a linked waiter is valid while the lock (our `&self`) is held (rule 2).
            cur = unsafe { (*node.as_ref().links.with_mut(|p| p)).next };
        }
        n
    }

    /// Queues `waiter` at the back, to be woken through `waker`.
    ///
    /// # Safety
    ///
    /// `waiter` is not queued, is only ever used with this list (under the lock that guards it),
    /// and its owner removes it under that lock before it is dropped (ground rules 1 and 2).
    pub(crate) unsafe fn push_back(&mut self, waiter: Pin<&Waiter<P>>, waker: &Waker) {
        self.record_wait();
        let node = NonNull::from(&*waiter);
        // SAFETY: the caller guarantees the waiter is ours to link; the lock is held (`&mut self`).
        let links = unsafe { &mut *waiter.links.with_mut(|p| p) };
        debug_assert!(!links.queued);
        links.queued = true;
        set_waker(&mut links.waker, waker);
        links.next = None;
        links.prev = self.tail;
        match self.tail {
            // SAFETY: a linked waiter is valid while the lock is held (rule 2).
            Some(tail) => unsafe { (*tail.as_ref().links.with_mut(|p| p)).next = Some(node) },
            None => self.head = Some(node),
        }
        self.tail = Some(node);
    }

    /// Queues `waiter` at the front (a woken waiter that lost a race keeps its turn).
    ///
    /// # Safety
    ///
    /// As for [`push_back`](Self::push_back).
    pub(crate) unsafe fn push_front(&mut self, waiter: Pin<&Waiter<P>>, waker: &Waker) {
        self.record_wait();
        let node = NonNull::from(&*waiter);
        // SAFETY: as in `push_back`.
        let links = unsafe { &mut *waiter.links.with_mut(|p| p) };
        debug_assert!(!links.queued);
        links.queued = true;
        set_waker(&mut links.waker, waker);
        links.prev = None;
        links.next = self.head;
        match self.head {
            // SAFETY: a linked waiter is valid while the lock is held (rule 2).
            Some(head) => unsafe { (*head.as_ref().links.with_mut(|p| p)).prev = Some(node) },
            None => self.tail = Some(node),
        }
        self.head = Some(node);
    }

    /// Owner: unlinks `waiter` if it is still queued; returns whether it was. `false` means a
    /// notifier popped it (its `notified` flag is then set).
    ///
    /// # Safety
    ///
    /// `waiter` is only ever used with this list (ground rule 1).
    pub(crate) unsafe fn remove(&mut self, waiter: &Waiter<P>) -> bool {
        // SAFETY: the lock is held and the waiter belongs to this list.
        let links = unsafe { &mut *waiter.links.with_mut(|p| p) };
        if !links.queued {
            return false;
        }
        let (prev, next) = (links.prev.take(), links.next.take());
        links.queued = false;
        match prev {
            // SAFETY: linked neighbours are valid while the lock is held (rule 2).
            Some(p) => unsafe { (*p.as_ref().links.with_mut(|p| p)).next = next },
            None => self.head = next,
        }
        match next {
            // SAFETY: as above.
            Some(n) => unsafe { (*n.as_ref().links.with_mut(|p| p)).prev = prev },
            None => self.tail = prev,
        }
        true
    }

    /// Owner: if `waiter` is still queued, makes `waker` the one it will be woken through and
    /// returns `true`; returns `false` if a notifier popped it meanwhile.
    ///
    /// # Safety
    ///
    /// As for [`remove`](Self::remove).
    pub(crate) unsafe fn update_waker(&mut self, waiter: &Waiter<P>, waker: &Waker) -> bool {
        // SAFETY: the lock is held and the waiter belongs to this list.
        let links = unsafe { &mut *waiter.links.with_mut(|p| p) };
        if links.queued {
            set_waker(&mut links.waker, waker);
            self.record_wait();
        }
        links.queued
    }

    /// Notifier: the payload of the first waiter.
    #[inline]
    pub(crate) fn front_mut(&mut self) -> Option<&mut P> {
        // SAFETY: a linked waiter is valid while the lock (our `&mut self`) is held; the borrow
        // ends before the lock can be released.
        self.head.map(|h| unsafe { &mut (*h.as_ref().links.with_mut(|p| p)).payload })
    }

    /// Notifier: pops the first waiter, marks it notified and returns its waker (to be woken
    /// after the lock is released); `None` if the list is empty.
    pub(crate) fn pop_front(&mut self) -> Option<Waker> {
        let node = self.head?;
        // SAFETY: the head is valid while the lock is held (rule 2).
        let waiter = unsafe { node.as_ref() };
        // SAFETY: as above; the lock is held.
        let links = unsafe { &mut *waiter.links.with_mut(|p| p) };
        self.head = links.next.take();
        match self.head {
            // SAFETY: as above.
            Some(n) => unsafe { (*n.as_ref().links.with_mut(|p| p)).prev = None },
            None => self.tail = None,
        }
        links.queued = false;
        let waker = links.waker.take();
        // Release: pairs with the Acquire load in `Waiter::take_notified`. This is the last
        // access to the waiter (ground rule 3): its owner may free it as soon as it sees this.
        waiter.notified.store(true, Ordering::Release);
        waker
    }
}

#[inline]
fn set_waker(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(w) if w.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

/// Wakers a [`WakeBatch`] holds in place: a broadcast, a set or a put that wakes this many
/// waiters allocates nothing (`tests/sync_alloc.rs`). 16 wakers are 256 bytes of stack.
const INLINE_WAKERS: usize = 16;

/// Wakers collected under a lock, woken after it is released, in the order they were pushed.
/// The first [`INLINE_WAKERS`] are kept in place; more spill into a `Vec` (a broadcast to more
/// waiters than that allocates once).
pub(crate) struct WakeBatch {
    /// `inline[woken..len]` hold wakers not woken yet; every other slot is uninitialised (or
    /// already read out).
    inline: [MaybeUninit<Waker>; INLINE_WAKERS],
    len: usize,
    woken: usize,
    more: Vec<Waker>,
}

impl WakeBatch {
    #[inline]
    pub(crate) const fn new() -> Self {
        WakeBatch {
            inline: [const { MaybeUninit::uninit() }; INLINE_WAKERS],
            len: 0,
            woken: 0,
            more: Vec::new(),
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, waker: Option<Waker>) {
        let Some(w) = waker else { return };
        if self.len < INLINE_WAKERS {
            self.inline[self.len].write(w);
            self.len += 1;
        } else {
            self.more.push(w);
        }
    }

    /// Wakes and forgets every collected waker. Call it with no lock held. The batch is empty
    /// afterwards and can be filled again.
    #[inline]
    pub(crate) fn wake_all(&mut self) {
        while self.woken < self.len {
            let i = self.woken;
            // Counted as read before the wake: if `wake` panics, `Drop` goes on after it.
            self.woken += 1;
            // SAFETY: `i` was in `woken..len`, so slot `i` holds a waker not read yet (the
            // field's invariant); `woken` now excludes it, so it is never read again.
            let w = unsafe { self.inline[i].assume_init_read() };
            w.wake();
        }
        self.len = 0;
        self.woken = 0;
        if !self.more.is_empty() {
            for w in self.more.drain(..) {
                w.wake();
            }
        }
    }
}

impl Drop for WakeBatch {
    /// A safety net: a batch is always woken explicitly after the lock is released, but a
    /// waker dropped unwoken would strand its task.
    fn drop(&mut self) {
        self.wake_all();
    }
}

#[cfg(all(test, not(kqio_loom)))]
mod tests {
    use super::*;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::{Arc, Mutex as StdMutex};
    use std::task::Wake;

    /// A waker that records its number when woken, and panics for the one named `panics_at`.
    struct Recorder {
        n: usize,
        panics_at: Option<usize>,
        woken: Arc<StdMutex<Vec<usize>>>,
    }

    impl Wake for Recorder {
        fn wake(self: Arc<Self>) {
            self.woken.lock().unwrap().push(self.n);
            assert_ne!(Some(self.n), self.panics_at, "waker {} panics", self.n);
        }
    }

    fn wakers(n: usize, panics_at: Option<usize>) -> (Vec<Waker>, Arc<StdMutex<Vec<usize>>>) {
        let woken = Arc::new(StdMutex::new(Vec::new()));
        let wakers = (0..n)
            .map(|n| Waker::from(Arc::new(Recorder { n, panics_at, woken: woken.clone() })))
            .collect();
        (wakers, woken)
    }

    #[test]
    fn wakes_in_push_order_in_place_and_past_the_spill() {
        for n in [0, 1, INLINE_WAKERS - 1, INLINE_WAKERS, INLINE_WAKERS + 1, 3 * INLINE_WAKERS] {
            let (ws, woken) = wakers(n, None);
            let mut batch = WakeBatch::new();
            batch.push(None);
            for w in ws {
                batch.push(Some(w));
            }
            batch.wake_all();
            assert_eq!(*woken.lock().unwrap(), (0..n).collect::<Vec<_>>(), "{n} wakers");
            assert_eq!((batch.len, batch.woken, batch.more.len()), (0, 0, 0));
        }
    }

    #[test]
    fn a_batch_is_reused_after_waking_and_drop_wakes_what_is_left() {
        let (ws, woken) = wakers(2 * INLINE_WAKERS, None);
        let mut ws = ws.into_iter();
        let mut batch = WakeBatch::new();
        for w in ws.by_ref().take(INLINE_WAKERS) {
            batch.push(Some(w));
        }
        batch.wake_all();
        for w in ws {
            batch.push(Some(w));
        }
        drop(batch);
        assert_eq!(*woken.lock().unwrap(), (0..2 * INLINE_WAKERS).collect::<Vec<_>>());
    }

    #[test]
    fn a_panicking_waker_strands_none_of_the_others() {
        let (ws, woken) = wakers(INLINE_WAKERS, Some(3));
        let mut batch = WakeBatch::new();
        for w in ws {
            batch.push(Some(w));
        }
        let r = catch_unwind(AssertUnwindSafe(|| batch.wake_all()));
        assert!(r.is_err(), "the fourth waker panics");
        // What `wake_all` did not reach, `Drop` wakes: each waker exactly once.
        drop(batch);
        assert_eq!(*woken.lock().unwrap(), (0..INLINE_WAKERS).collect::<Vec<_>>());
    }
}
