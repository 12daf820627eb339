//! `RwLock<T>`: Zig's `Io.RwLock`, shared (read) and exclusive (write) locking of a value.
//!
//! Ground rules:
//! 1. `state` is `readers << 2 | WAITERS | WRITER`. `WRITER`: a write guard exists. `readers`:
//!    the number of read guards. `WAITERS`: the wait list is not empty; set and cleared only
//!    with the list's lock held, so under that lock it equals `!list.is_empty()`.
//! 2. Fast paths, one CAS each: `try_read` when there is no writer *and no waiter* (queued
//!    writers are not overtaken, so they cannot starve), `try_write` from an all-zero word, and
//!    unlocks that leave the lock free with no `WAITERS`, or leave readers behind.
//! 3. A task that must wait takes the list's lock, then in one CAS loop either acquires (only if
//!    the list is empty: FIFO) or sets `WAITERS`, and only then links its waiter.
//! 4. The lock is handed over, under the list's lock, by [`RwLock::grant`]: a writer at the
//!    front gets it once it is free; a run of readers at the front gets it together (also while
//!    other readers hold it). The waiter is popped with the lock already taken in its name.
//!    Every release that may make the front grantable calls `grant`: the last reader or a
//!    writer unlocking with `WAITERS` set, and a waiter leaving the front of the list.
//! 5. A waiter that was granted the lock and is canceled or dropped before it returns releases
//!    what it was granted through the ordinary unlock, which grants the next waiters.

use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::loom::sync::Mutex as StdMutex;
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::timeout::WaitTimeout;
use super::wait::{lock, WaitKind, WaitList, Waiter, WakeBatch};
use crate::error::Canceled;
use crate::io::Io;
use crate::task::current;
use crate::time::Timeout;

/// A write guard exists.
const WRITER: usize = 1 << 0;
/// The wait list is not empty (equal to `!list.is_empty()` whenever the list lock is free).
const WAITERS: usize = 1 << 1;
/// One reader in `state`.
const READER: usize = 1 << 2;

/// What a waiter asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
}

/// A reader-writer lock for async tasks, protecting a `T` (Zig `Io.RwLock`).
///
/// Any number of readers, or one writer. Waiting tasks are served in FIFO order: a writer waits
/// for the readers before it, and readers that arrive after a waiting writer wait for it, so
/// neither side starves.
///
/// | Zig | kqio |
/// | --- | --- |
/// | `RwLock.init` | [`RwLock::new`] (the value goes inside) |
/// | `tryLock`, `lock`, `lockUncancelable`, `unlock` | [`try_write`](Self::try_write), [`write`](Self::write), [`write_uncancelable`](Self::write_uncancelable), dropping the [`RwLockWriteGuard`] |
/// | `tryLockShared`, `lockShared`, `lockSharedUncancelable`, `unlockShared` | [`try_read`](Self::try_read), [`read`](Self::read), [`read_uncancelable`](Self::read_uncancelable), dropping the [`RwLockReadGuard`] |
///
/// # Examples
///
/// ```
/// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
/// let lock = kqio::sync::RwLock::new(5);
/// rt.block_on(async {
///     {
///         let a = lock.read().await?;
///         let b = lock.read().await?;
///         assert_eq!(*a + *b, 10);
///     }
///     *lock.write().await? += 1;
///     Ok::<_, kqio::Canceled>(())
/// })?;
/// assert_eq!(lock.into_inner(), 6);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RwLock<T: ?Sized> {
    state: AtomicUsize,
    waiters: StdMutex<WaitList<Kind>>,
    value: UnsafeCell<T>,
}

// SAFETY: a write guard hands out `&mut T` on any thread (`T: Send`); read guards hand out `&T`
// to several threads at once (`T: Sync`), as for `std::sync::RwLock`.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

impl<T> RwLock<T> {
    crate::loom::const_fn! {
        /// A new, unlocked lock holding `value`.
        pub const fn new(value: T) -> Self {
            RwLock {
                state: AtomicUsize::new(0),
                waiters: StdMutex::new(WaitList::new(WaitKind::RwLock)),
                value: UnsafeCell::new(value),
            }
        }
    }

    /// Consumes the lock and returns the value.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Takes a shared lock if no writer holds or waits for the lock (Zig `tryLockShared`).
    ///
    /// # Cancellation
    ///
    /// Not cancelable: does not block.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = kqio::sync::RwLock::new(1);
    /// let a = lock.try_read().unwrap();
    /// let b = lock.try_read().unwrap();
    /// assert!(lock.try_write().is_none());
    /// assert_eq!(*a + *b, 2);
    /// ```
    #[inline]
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        let mut cur = self.state.load(Ordering::Relaxed);
        while cur & (WRITER | WAITERS) == 0 {
            // Acquire: pairs with the Release of the last writer's unlock.
            match self.state.compare_exchange_weak(
                cur,
                cur + READER,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(RwLockReadGuard { lock: self }),
                Err(actual) => cur = actual,
            }
        }
        None
    }

    /// Takes the exclusive lock if it is free (Zig `tryLock`).
    ///
    /// # Cancellation
    ///
    /// Not cancelable: does not block.
    #[inline]
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        // Acquire: pairs with the Release of the previous holders' unlocks.
        self.state
            .compare_exchange(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| RwLockWriteGuard { lock: self })
    }

    /// Waits for a shared lock and takes it (Zig `lockShared`).
    ///
    /// # Errors
    ///
    /// [`Canceled`] if the task is canceled while it waits.
    ///
    /// # Cancellation
    ///
    /// A cancellation point when it has to wait; see
    /// [`JoinHandle::cancel`](crate::JoinHandle::cancel). A canceled waiter leaves the queue
    /// (the lock is as if it never asked); if it had just been granted the lock, it releases it.
    pub fn read(&self) -> Read<'_, T> {
        Read { inner: RawLock::new(self, Kind::Read, true) }
    }

    /// Waits for a shared lock and takes it, ignoring cancellation (Zig
    /// `lockSharedUncancelable`).
    ///
    /// # Cancellation
    ///
    /// Not cancelable: a cancellation request stays pending for the next cancellation point.
    pub fn read_uncancelable(&self) -> ReadUncancelable<'_, T> {
        ReadUncancelable { inner: RawLock::new(self, Kind::Read, false) }
    }

    /// Waits for the exclusive lock and takes it (Zig `lock`).
    ///
    /// # Errors
    ///
    /// [`Canceled`] if the task is canceled while it waits.
    ///
    /// # Cancellation
    ///
    /// A cancellation point when it has to wait; as for [`read`](Self::read).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
    /// let lock = kqio::sync::RwLock::new(String::from("a"));
    /// rt.block_on(async {
    ///     lock.write().await?.push('b');
    ///     assert_eq!(*lock.read().await?, "ab");
    ///     Ok::<_, kqio::Canceled>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write(&self) -> Write<'_, T> {
        Write { inner: RawLock::new(self, Kind::Write, true) }
    }

    /// Waits for the exclusive lock and takes it, ignoring cancellation (Zig
    /// `lockUncancelable`).
    ///
    /// # Cancellation
    ///
    /// Not cancelable: a cancellation request stays pending for the next cancellation point.
    pub fn write_uncancelable(&self) -> WriteUncancelable<'_, T> {
        WriteUncancelable { inner: RawLock::new(self, Kind::Write, false) }
    }

    /// As [`read`](Self::read), giving up when `timeout` passes (no Zig counterpart).
    ///
    /// # Errors
    ///
    /// [`TimedOut`](super::WaitTimeoutError::TimedOut) if the timeout passed first
    /// (a grant in the same instant wins);
    /// [`Canceled`](super::WaitTimeoutError::Canceled) if the task was canceled.
    ///
    /// # Cancellation
    ///
    /// A cancellation point when it has to wait, as [`read`](Self::read).
    pub fn read_timeout<'a>(
        &'a self,
        io: &'a dyn Io,
        timeout: Timeout,
    ) -> WaitTimeout<'a, Read<'a, T>> {
        WaitTimeout::new(io, timeout, self.read())
    }

    /// As [`write`](Self::write), giving up when `timeout` passes (no Zig counterpart).
    ///
    /// # Errors
    ///
    /// As for [`read_timeout`](Self::read_timeout).
    ///
    /// # Cancellation
    ///
    /// A cancellation point when it has to wait, as [`write`](Self::write).
    pub fn write_timeout<'a>(
        &'a self,
        io: &'a dyn Io,
        timeout: Timeout,
    ) -> WaitTimeout<'a, Write<'a, T>> {
        WaitTimeout::new(io, timeout, self.write())
    }

    /// The value, through a unique borrow of the lock (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    fn try_acquire(&self, kind: Kind) -> bool {
        match kind {
            Kind::Read => self.try_read().map(std::mem::forget).is_some(),
            Kind::Write => self.try_write().map(std::mem::forget).is_some(),
        }
    }

    /// The slow path of a lock: acquires (`true`) or queues `waiter` (rule 3).
    #[cold]
    fn acquire_or_queue(&self, kind: Kind, waiter: Pin<&Waiter<Kind>>, cx: &Context<'_>) -> bool {
        let mut list = lock(&self.waiters);
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            let free = match kind {
                Kind::Read => cur & (WRITER | WAITERS) == 0,
                Kind::Write => cur == 0,
            };
            let (new, success) = if free {
                // Acquire: as in the fast paths.
                (if kind == Kind::Read { cur + READER } else { WRITER }, Ordering::Acquire)
            } else if cur & WAITERS == 0 {
                // Relaxed: an unlocker sees the bit in its own RMW of this word, then takes the
                // list's lock, which orders our link before its grant.
                (cur | WAITERS, Ordering::Relaxed)
            } else {
                break;
            };
            match self.state.compare_exchange_weak(cur, new, success, Ordering::Relaxed) {
                Ok(_) if free => return true,
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
        // SAFETY: `waiter` is pinned inside its future, used only with this list, and the
        // future's drop removes it under this lock (wait.rs ground rules 1 and 2).
        unsafe { list.push_back(waiter, cx.waker()) };
        false
    }

    fn read_unlock(&self) {
        // Release: pairs with the Acquire of the next writer.
        let prev = self.state.fetch_sub(READER, Ordering::Release);
        if prev & !WAITERS == READER && prev & WAITERS != 0 {
            self.grant_slow();
        }
    }

    fn write_unlock(&self) {
        // Release: pairs with the Acquire of the next holders.
        if self.state.compare_exchange(WRITER, 0, Ordering::Release, Ordering::Relaxed).is_err() {
            // `WAITERS` is set (nothing else can change while we hold the lock).
            self.state.fetch_and(!WRITER, Ordering::Release);
            self.grant_slow();
        }
    }

    #[cold]
    fn grant_slow(&self) {
        let mut batch = WakeBatch::new();
        let list = lock(&self.waiters);
        self.grant(list, &mut batch);
        batch.wake_all();
    }

    /// Hands the lock to the front of the list if it can have it (rule 4); releases the list's
    /// lock; the caller wakes `batch`.
    fn grant(
        &self,
        mut list: crate::loom::sync::MutexGuard<'_, WaitList<Kind>>,
        batch: &mut WakeBatch,
    ) {
        // Acquire: the holders we follow released with Release.
        let cur = self.state.load(Ordering::Acquire);
        if cur & WRITER != 0 {
            return;
        }
        // Each grant is added to the word *before* its waiter is popped: the pop publishes it
        // (the Release of `notified`), and a granted waiter may return and unlock at once,
        // without this lock (a spurious poll sees `notified`). Adding after the pop let that
        // unlock run before the grant was counted, leaving the lock held forever (found by the
        // loom model `rwlock_reader_and_writer_vs_unlock`). Only readers leaving change the
        // word meanwhile (fast paths fail while `WAITERS` is set and we hold the list's lock).
        let mut granted = 0;
        while let Some(&mut kind) = list.front_mut() {
            match kind {
                Kind::Write if cur < READER && granted == 0 => {
                    self.state.fetch_add(WRITER, Ordering::Relaxed);
                    batch.push(list.pop_front());
                    break;
                }
                Kind::Read => {
                    granted += READER;
                    self.state.fetch_add(READER, Ordering::Relaxed);
                    batch.push(list.pop_front());
                }
                Kind::Write => break,
            }
        }
        // `WAITERS` cleared if nobody is left.
        if list.is_empty() {
            self.state.fetch_and(!WAITERS, Ordering::Relaxed);
        }
        drop(list);
    }

    /// A queued waiter gives up: it leaves the list (and the front may become grantable), or it
    /// releases what it was granted (rule 5).
    fn abandon(&self, kind: Kind, waiter: &Waiter<Kind>) {
        if !waiter.take_notified() {
            let mut list = lock(&self.waiters);
            // SAFETY: the waiter belongs to this list.
            if unsafe { list.remove(waiter) } {
                let mut batch = WakeBatch::new();
                if list.is_empty() {
                    self.state.fetch_and(!WAITERS, Ordering::Relaxed);
                    drop(list);
                } else {
                    self.grant(list, &mut batch);
                }
                batch.wake_all();
                return;
            }
            drop(list);
            waiter.take_notified();
        }
        match kind {
            Kind::Read => self.read_unlock(),
            Kind::Write => self.write_unlock(),
        }
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    fn from(value: T) -> Self {
        RwLock::new(value)
    }
}

impl<T: ?Sized> fmt::Debug for RwLock<T> {
    /// The lock's state (not the value): readers, writer, waiters. A lock that is free shows
    /// the same as a new one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let waiters = lock(&self.waiters).count();
        let s = self.state.load(Ordering::Relaxed);
        f.debug_struct("RwLock")
            .field("readers", &(s / READER))
            .field("writer", &(s & WRITER != 0))
            .field("waiters", &waiters)
            .field("waiters_bit", &(s & WAITERS != 0))
            .finish()
    }
}

/// Holds an [`RwLock`] shared; dereferences to the value; unlocks when dropped (Zig
/// `unlockShared`).
#[must_use = "dropping the guard unlocks at once"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

// SAFETY: a shared read guard gives `&T` on several threads: `T: Sync`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}
// SAFETY: moving a read guard moves a `&T` (`T: Sync`); any thread may unlock.
unsafe impl<T: ?Sized + Sync> Send for RwLockReadGuard<'_, T> {}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: a read guard means `readers > 0` and no writer: only shared access exists.
        unsafe { &*self.lock.value.with(|p| p) }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.read_unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Holds an [`RwLock`] exclusively; dereferences to the value; unlocks when dropped (Zig
/// `unlock`).
#[must_use = "dropping the guard unlocks at once"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

// SAFETY: a shared write guard gives `&T` on several threads: `T: Sync`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}
// SAFETY: moving a write guard moves a `&mut T` (`T: Send`); any thread may unlock.
unsafe impl<T: ?Sized + Send> Send for RwLockWriteGuard<'_, T> {}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: a write guard means `WRITER` is held by it: no other access exists.
        unsafe { &*self.lock.value.with(|p| p) }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only borrow through the guard.
        unsafe { &mut *self.lock.value.with_mut(|p| p) }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.write_unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

pin_project_lite::pin_project! {
    /// The lock future shared by the four waiting lock operations.
    struct RawLock<'a, T: ?Sized> {
        lock: &'a RwLock<T>,
        #[pin]
        waiter: Waiter<Kind>,
        kind: Kind,
        queued: bool,
        cancelable: bool,
    }

    impl<'a, T: ?Sized> PinnedDrop for RawLock<'a, T> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if *this.queued {
                this.lock.abandon(*this.kind, &this.waiter);
            }
        }
    }
}

impl<'a, T: ?Sized> RawLock<'a, T> {
    fn new(lock: &'a RwLock<T>, kind: Kind, cancelable: bool) -> Self {
        RawLock { lock, waiter: Waiter::new(kind), kind, queued: false, cancelable }
    }
}

impl<'a, T: ?Sized> Future for RawLock<'a, T> {
    /// The lock, once it is held in the name of the caller (who builds the guard).
    type Output = Result<&'a RwLock<T>, Canceled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let lock = *this.lock;
        let waiter = this.waiter.as_ref();
        if *this.queued {
            if *this.cancelable && current::check_cancel().is_err() {
                *this.queued = false;
                lock.abandon(*this.kind, &waiter);
                return Poll::Ready(Err(Canceled));
            }
            if !waiter.take_notified() {
                let mut list = super::wait::lock(&lock.waiters);
                // SAFETY: the waiter belongs to this lock's list.
                if unsafe { list.update_waker(&waiter, cx.waker()) } {
                    return Poll::Pending;
                }
                drop(list);
                waiter.take_notified();
            }
            // Granted (rule 4).
            *this.queued = false;
            return Poll::Ready(Ok(lock));
        }
        if lock.try_acquire(*this.kind) {
            return Poll::Ready(Ok(lock));
        }
        if *this.cancelable {
            current::check_cancel()?;
        }
        if lock.acquire_or_queue(*this.kind, waiter, cx) {
            return Poll::Ready(Ok(lock));
        }
        *this.queued = true;
        Poll::Pending
    }
}

macro_rules! lock_future {
    ($(#[$doc:meta])* $name:ident, $guard:ident, $output:ty, $map:expr) => {
        pin_project_lite::pin_project! {
            $(#[$doc])*
            #[must_use = "futures do nothing unless awaited"]
            pub struct $name<'a, T: ?Sized> {
                #[pin]
                inner: RawLock<'a, T>,
            }
        }

        impl<'a, T: ?Sized> Future for $name<'a, T> {
            type Output = $output;

            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                self.project().inner.poll(cx).map(|r| $map(r.map(|lock| $guard { lock })))
            }
        }

        impl<T: ?Sized> fmt::Debug for $name<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("queued", &self.inner.queued)
                    .finish_non_exhaustive()
            }
        }
    };
}

fn keep<G>(r: Result<G, Canceled>) -> Result<G, Canceled> {
    r
}

fn never_canceled<G>(r: Result<G, Canceled>) -> G {
    r.expect("an uncancelable lock is never canceled")
}

lock_future!(
    /// The future of [`RwLock::read`]: a read guard, or [`Canceled`].
    Read, RwLockReadGuard, Result<RwLockReadGuard<'a, T>, Canceled>, keep
);
lock_future!(
    /// The future of [`RwLock::read_uncancelable`]: a read guard.
    ReadUncancelable, RwLockReadGuard, RwLockReadGuard<'a, T>, never_canceled
);
lock_future!(
    /// The future of [`RwLock::write`]: the write guard, or [`Canceled`].
    Write, RwLockWriteGuard, Result<RwLockWriteGuard<'a, T>, Canceled>, keep
);
lock_future!(
    /// The future of [`RwLock::write_uncancelable`]: the write guard.
    WriteUncancelable, RwLockWriteGuard, RwLockWriteGuard<'a, T>, never_canceled
);
