//! `Mutex<T>`: Zig's `Io.Mutex`, holding the value it protects; waits are futures.
//!
//! Ground rules:
//! 1. `state` holds two bits. `LOCKED`: some guard exists; set by whoever acquires (a CAS),
//!    cleared only by the guard's drop. `WAITERS`: the wait list is not empty; set and cleared
//!    only with the list's lock held, so under that lock it always equals `!list.is_empty()`.
//! 2. `try_lock` and an unlock that sees no `WAITERS` never touch the list (the uncontended
//!    path is one atomic operation each way).
//! 3. A task that must wait takes the list's lock, then in one CAS loop either acquires (the
//!    mutex was released meanwhile) or sets `WAITERS`, and only then links its waiter. The
//!    unlocker clears `LOCKED` first and then reads `WAITERS` from the same RMW; the two RMWs
//!    are totally ordered, so either the waiter acquires or the unlocker sees it.
//! 4. Unlocking wakes one waiter *if the mutex is still free* under the list's lock. It is a
//!    wake-up, not a hand-off: as in Zig, a running task may take the mutex first ("barging"),
//!    and a woken waiter that loses that race goes back to the front of the list. If the mutex
//!    is held again, its holder's unlock does the wake (rule 1 keeps `WAITERS` set).
//! 5. A woken waiter that is canceled or dropped before it retried passes its wake-up on
//!    (rule 4 again), so a wake-up is never lost.

use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicU8, Ordering};
use crate::loom::sync::Mutex as StdMutex;
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::timeout::WaitTimeout;
use super::wait::{lock, WaitKind, WaitList, Waiter};
use crate::error::Canceled;
use crate::io::Io;
use crate::task::current;
use crate::time::Timeout;

/// Some guard exists.
const LOCKED: u8 = 1 << 0;
/// The wait list is not empty (equal to `!list.is_empty()` whenever the list lock is free).
const WAITERS: u8 = 1 << 1;

/// A mutual-exclusion lock for async tasks, protecting a `T` (Zig `Io.Mutex`).
///
/// Waiting for the lock suspends the task, never the thread: [`lock`](Self::lock) is a future.
/// Unlocking is dropping the [`MutexGuard`]. The lock is not fair: as in Zig, a task that asks
/// while it is free takes it even if others are waiting (which keeps the uncontended path to
/// one atomic operation); waiters are woken in FIFO order.
///
/// | Zig | kqio |
/// | --- | --- |
/// | `Mutex.init` | [`Mutex::new`] (the value goes inside) |
/// | `tryLock` | [`try_lock`](Self::try_lock) |
/// | `lock` (`Cancelable!void`) | [`lock`](Self::lock)`.await` → `Result<MutexGuard, Canceled>` |
/// | `lockUncancelable` | [`lock_uncancelable`](Self::lock_uncancelable)`.await` |
/// | (none) | [`lock_timeout(io, t)`](Self::lock_timeout)`.await` → `Result<MutexGuard, WaitTimeoutError>` |
/// | `unlock` | dropping the guard |
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use kqio::sync::Mutex;
///
/// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
/// let io = rt.io();
/// let count = Arc::new(Mutex::new(0));
/// rt.block_on(async {
///     let tasks: Vec<_> = (0..10)
///         .map(|_| {
///             let count = count.clone();
///             io.r#async(async move { *count.lock().await? += 1; Ok::<_, kqio::Canceled>(()) })
///         })
///         .collect();
///     for t in tasks {
///         t.await?;
///     }
///     Ok::<_, kqio::Canceled>(())
/// })?;
/// assert_eq!(*count.try_lock().unwrap(), 10);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Mutex<T: ?Sized> {
    state: AtomicU8,
    waiters: StdMutex<WaitList<()>>,
    value: UnsafeCell<T>,
}

// SAFETY: the mutex hands out access to `T` to one guard at a time, possibly on another thread,
// so `T: Send` is what both need (as for `std::sync::Mutex`).
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    crate::loom::const_fn! {
        /// A new, unlocked mutex holding `value`.
        ///
        /// # Examples
        ///
        /// ```
        /// static M: kqio::sync::Mutex<u32> = kqio::sync::Mutex::new(7);
        /// assert_eq!(*M.try_lock().unwrap(), 7);
        /// ```
        pub const fn new(value: T) -> Self {
            Mutex {
                state: AtomicU8::new(0),
                waiters: StdMutex::new(WaitList::new(WaitKind::Mutex)),
                value: UnsafeCell::new(value),
            }
        }
    }

    /// Consumes the mutex and returns the value.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Takes the lock if it is free (Zig `tryLock`).
    ///
    /// # Cancellation
    ///
    /// Not cancelable: does not block.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = kqio::sync::Mutex::new(());
    /// let g = m.try_lock().expect("free");
    /// assert!(m.try_lock().is_none());
    /// drop(g);
    /// assert!(m.try_lock().is_some());
    /// ```
    #[inline]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.try_acquire().then(|| MutexGuard { mutex: self })
    }

    /// Waits for the lock and takes it (Zig `lock`).
    ///
    /// # Errors
    ///
    /// [`Canceled`] if the task is canceled while it waits.
    ///
    /// # Cancellation
    ///
    /// A cancellation point when it has to wait (a free lock is taken at once); see
    /// [`JoinHandle::cancel`](crate::JoinHandle::cancel). A canceled waiter leaves the queue;
    /// a wake-up it had already been handed goes to the next waiter.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
    /// let m = kqio::sync::Mutex::new(vec![1]);
    /// rt.block_on(async { m.lock().await.map(|mut v| v.push(2)) })?;
    /// assert_eq!(m.into_inner(), [1, 2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lock(&self) -> Lock<'_, T> {
        Lock::new(self, true)
    }

    /// Waits for the lock and takes it, ignoring cancellation (Zig `lockUncancelable`).
    ///
    /// # Cancellation
    ///
    /// Not cancelable: a cancellation request stays pending for the next cancellation point.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
    /// let m = kqio::sync::Mutex::new(1);
    /// let v = rt.block_on(async { *m.lock_uncancelable().await });
    /// assert_eq!(v, 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn lock_uncancelable(&self) -> LockUncancelable<'_, T> {
        LockUncancelable { inner: Lock::new(self, false) }
    }

    /// As [`lock`](Self::lock), giving up when `timeout` passes (no Zig counterpart).
    ///
    /// # Errors
    ///
    /// [`TimedOut`](super::WaitTimeoutError::TimedOut) if the timeout passed first
    /// (a wake-up handed over in the same instant is passed on);
    /// [`Canceled`](super::WaitTimeoutError::Canceled) if the task was canceled.
    ///
    /// # Cancellation
    ///
    /// A cancellation point when it has to wait, as [`lock`](Self::lock).
    pub fn lock_timeout<'a>(
        &'a self,
        io: &'a dyn Io,
        timeout: Timeout,
    ) -> WaitTimeout<'a, Lock<'a, T>> {
        WaitTimeout::new(io, timeout, self.lock())
    }

    /// The value, through a unique borrow of the mutex (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    #[inline]
    fn try_acquire(&self) -> bool {
        let mut cur = self.state.load(Ordering::Relaxed);
        while cur & LOCKED == 0 {
            // Acquire: pairs with the Release in `unlock`: the previous holder's writes to the
            // value are visible to the new one.
            match self.state.compare_exchange_weak(
                cur,
                cur | LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
        false
    }

    /// The slow path of a lock: takes the list's lock, then acquires or queues `waiter`
    /// (ground rule 3). `front`: a woken waiter that lost the race keeps its turn.
    #[cold]
    fn acquire_or_queue(&self, waiter: Pin<&Waiter<()>>, cx: &Context<'_>, front: bool) -> bool {
        let mut list = lock(&self.waiters);
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            if cur & LOCKED == 0 {
                // Acquire: as in `try_acquire`.
                match self.state.compare_exchange_weak(
                    cur,
                    cur | LOCKED,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return true,
                    Err(actual) => cur = actual,
                }
            } else if cur & WAITERS == 0 {
                // Relaxed: the unlocker reads the bit from its own RMW of this word (total
                // order), then takes the list's lock, which orders our link before its pop.
                match self.state.compare_exchange_weak(
                    cur,
                    cur | WAITERS,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break,
                    Err(actual) => cur = actual,
                }
            } else {
                break;
            }
        }
        // SAFETY: `waiter` is pinned inside its future, used only with this list, and the
        // future's drop removes it under this lock (wait.rs ground rules 1 and 2).
        unsafe {
            if front {
                list.push_front(waiter, cx.waker());
            } else {
                list.push_back(waiter, cx.waker());
            }
        }
        false
    }

    /// Releases the lock (the guard's drop).
    #[inline]
    fn unlock(&self) {
        // Release: pairs with the Acquire of the next holder.
        let prev = self.state.fetch_and(!LOCKED, Ordering::Release);
        if prev & WAITERS != 0 {
            self.wake_one();
        }
    }

    /// Wakes the first waiter if the mutex is free (ground rule 4).
    #[cold]
    fn wake_one(&self) {
        let mut list = lock(&self.waiters);
        if self.state.load(Ordering::Relaxed) & LOCKED != 0 {
            // Held again: its holder sees `WAITERS` (still set: the list is not empty) when it
            // unlocks, and wakes the next waiter then.
            return;
        }
        let waker = list.pop_front();
        if list.is_empty() {
            self.state.fetch_and(!WAITERS, Ordering::Relaxed);
        }
        drop(list);
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// A queued or woken waiter gives up (canceled or dropped): it leaves the list, and a
    /// wake-up it had been handed goes on to the next waiter (ground rule 5).
    fn abandon(&self, waiter: &Waiter<()>) {
        if !waiter.take_notified() {
            let mut list = lock(&self.waiters);
            // SAFETY: the waiter belongs to this list.
            if unsafe { list.remove(waiter) } {
                if list.is_empty() {
                    self.state.fetch_and(!WAITERS, Ordering::Relaxed);
                }
                return;
            }
            // Popped between our two looks: we hold a wake-up.
            waiter.take_notified();
        }
        self.wake_one();
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Self {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Some(g) => d.field("value", &&*g),
            None => d.field("value", &format_args!("<locked>")),
        };
        d.field("waiters", &lock(&self.waiters).count()).finish()
    }
}

/// Holds a [`Mutex`] locked; dereferences to the value; unlocks when dropped (Zig `unlock`).
#[must_use = "dropping the guard unlocks the mutex at once"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
}

// SAFETY: a shared guard only gives `&T`, so sharing it between threads needs `T: Sync` (as for
// `std::sync::MutexGuard`); this explicit impl replaces the derived one, which would only ask
// `T: Send`. The guard stays `Send` for `T: Send` (unlike std's): any thread may unlock this
// mutex, so a task holding a guard across an await may move between workers.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// The mutex this guard holds (an associated function, so as not to shadow `T`'s methods).
    pub fn mutex(this: &Self) -> &'a Mutex<T> {
        this.mutex
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard's existence means `LOCKED` is held by it: no other access exists.
        unsafe { &*self.mutex.value.with(|p| p) }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only borrow through the guard.
        unsafe { &mut *self.mutex.value.with_mut(|p| p) }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.mutex.unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Mutex::lock`]: the guard, or [`Canceled`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct Lock<'a, T: ?Sized> {
        mutex: &'a Mutex<T>,
        #[pin]
        waiter: Waiter<()>,
        queued: bool,
        cancelable: bool,
    }

    impl<'a, T: ?Sized> PinnedDrop for Lock<'a, T> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if *this.queued {
                this.mutex.abandon(&this.waiter);
            }
        }
    }
}

impl<'a, T: ?Sized> Lock<'a, T> {
    fn new(mutex: &'a Mutex<T>, cancelable: bool) -> Self {
        Lock { mutex, waiter: Waiter::new(()), queued: false, cancelable }
    }
}

impl<'a, T: ?Sized> Future for Lock<'a, T> {
    type Output = Result<MutexGuard<'a, T>, Canceled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mutex = *this.mutex;
        let waiter = this.waiter.as_ref();
        let front = *this.queued;
        if *this.queued {
            // Woken, or polled again while queued. Cancellation first (wait.rs rule 5).
            if *this.cancelable && current::check_cancel().is_err() {
                *this.queued = false;
                mutex.abandon(&waiter);
                return Poll::Ready(Err(Canceled));
            }
            if !waiter.take_notified() {
                let mut list = lock(&mutex.waiters);
                // SAFETY: the waiter belongs to this mutex's list.
                if unsafe { list.update_waker(&waiter, cx.waker()) } {
                    return Poll::Pending;
                }
                drop(list);
                waiter.take_notified();
            }
            *this.queued = false;
        } else {
            if mutex.try_acquire() {
                return Poll::Ready(Ok(MutexGuard { mutex }));
            }
            if *this.cancelable {
                current::check_cancel()?;
            }
        }
        if mutex.acquire_or_queue(waiter, cx, front) {
            return Poll::Ready(Ok(MutexGuard { mutex }));
        }
        *this.queued = true;
        Poll::Pending
    }
}

impl<T: ?Sized> fmt::Debug for Lock<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock").field("queued", &self.queued).finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Mutex::lock_uncancelable`]: the guard.
    #[must_use = "futures do nothing unless awaited"]
    pub struct LockUncancelable<'a, T: ?Sized> {
        #[pin]
        inner: Lock<'a, T>,
    }
}

impl<'a, T: ?Sized> Future for LockUncancelable<'a, T> {
    type Output = MutexGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx).map(|r| r.expect("an uncancelable lock is never canceled"))
    }
}

impl<T: ?Sized> fmt::Debug for LockUncancelable<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}
