//! The synchronisation primitives of the runtime core, through one door: `std` normally, and
//! [loom](https://docs.rs/loom)'s checked versions when the library's unit tests are built with
//! `RUSTFLAGS="--cfg kqio_loom"` (see `.ci/loom` and the README, "Checking").
//!
//! Every atomic, lock, condition variable, `UnsafeCell`, `AtomicWaker` and thread-local of the
//! core (`task/`, `kqueue/scheduler/`, `kqueue/timer/`, `kqueue/reactor.rs`, `sync/`) comes from
//! here, so that the loom models (`*/loom_tests.rs`, `#[cfg(all(test, kqio_loom))]`) explore every
//! interleaving of kqio's own protocols.
//!
//! What stays on `std` on purpose:
//! - `Arc`: loom's `Arc` cannot hold the unsized `Arc<dyn Schedule>` of a task header, and no
//!   kqio protocol lives in a reference count. The models check leaks with `Arc::strong_count`.
//! - `OnceLock`, and the locks of the signal, process and blocking-pool drivers, and of `net`:
//!   none is on a modelled path (they block real threads on real descriptors). Likewise
//!   `task/park.rs` (`block_on` parks the OS thread) and the worker thread's own thread-local
//!   context in `scheduler/worker.rs` (the models run the scheduler's parts without a worker).
//! - The injector (`concurrent-queue`): like async-task, a dependency whose operations are
//!   single steps in the models.
//! - async-task's task state word: the crate is not loom-instrumented, so its own atomics are
//!   not preemption points. The models check kqio's state machines *around* it (the cancel word,
//!   the header's waker, the queues a runnable travels through), with real async-task tasks.
//! - mio: it cannot run under loom. The reactor's parts that do not touch the OS (a
//!   registration's readiness word and waiters, the parker's hand-off to the poller's wake) are
//!   modelled on their own.
//!
//! Under loom the types are loom's, so constructors cannot be `const`: [`const_fn!`] drops the
//! `const` of a constructor in that build only.

#[cfg(not(all(test, kqio_loom)))]
mod imp {
    pub(crate) mod sync {
        pub(crate) use std::sync::{Condvar, Mutex, MutexGuard, RwLock};

        pub(crate) mod atomic {
            pub(crate) use std::sync::atomic::{
                fence, AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
            };
        }
    }

    pub(crate) mod cell {
        /// `std::cell::UnsafeCell` behind loom's closure API (`with`, `with_mut`), so that the
        /// same code runs checked under loom.
        #[derive(Debug, Default)]
        #[repr(transparent)]
        pub(crate) struct UnsafeCell<T: ?Sized>(std::cell::UnsafeCell<T>);

        impl<T> UnsafeCell<T> {
            #[inline]
            pub(crate) const fn new(value: T) -> Self {
                UnsafeCell(std::cell::UnsafeCell::new(value))
            }

            #[inline]
            pub(crate) fn into_inner(self) -> T {
                self.0.into_inner()
            }
        }

        impl<T: ?Sized> UnsafeCell<T> {
            /// Runs `f` with a pointer for reading the value.
            #[inline(always)]
            pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
                f(self.0.get())
            }

            /// Runs `f` with a pointer for writing the value.
            #[inline(always)]
            pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
                f(self.0.get())
            }

            /// The value, through a unique borrow.
            #[inline]
            pub(crate) fn get_mut(&mut self) -> &mut T {
                self.0.get_mut()
            }
        }
    }

    pub(crate) mod future {
        use std::task::Waker;

        /// `futures`' `AtomicWaker` with the API the core uses.
        #[derive(Debug, Default)]
        pub(crate) struct AtomicWaker(futures::task::AtomicWaker);

        impl AtomicWaker {
            pub(crate) fn new() -> Self {
                AtomicWaker(futures::task::AtomicWaker::new())
            }

            #[inline]
            pub(crate) fn register(&self, waker: &Waker) {
                self.0.register(waker)
            }

            #[inline]
            pub(crate) fn wake(&self) {
                self.0.wake()
            }

            #[inline]
            pub(crate) fn take(&self) -> Option<Waker> {
                self.0.take()
            }
        }
    }

    pub(crate) mod hint {
        pub(crate) use std::hint::spin_loop;
    }

    pub(crate) mod thread {
        pub(crate) use std::thread::yield_now;
    }

    /// `std::thread_local!` with `const` initialisers (loom's takes plain ones).
    macro_rules! thread_local_const {
        ($($vis:vis static $name:ident: $t:ty = $init:expr;)*) => {
            std::thread_local! { $($vis static $name: $t = const { $init };)* }
        };
    }

    /// A `const fn` (under loom, a plain `fn`: loom's constructors are not `const`).
    macro_rules! const_fn {
        ($(#[$m:meta])* $vis:vis const fn $($rest:tt)*) => {
            $(#[$m])* $vis const fn $($rest)*
        };
    }

    pub(crate) use {const_fn, thread_local_const};
}

#[cfg(all(test, kqio_loom))]
mod imp {
    pub(crate) mod sync {
        pub(crate) use ::loom::sync::{Condvar, Mutex, MutexGuard, RwLock};

        pub(crate) mod atomic {
            pub(crate) use ::loom::sync::atomic::{
                fence, AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
            };
        }
    }

    pub(crate) mod cell {
        /// loom's `UnsafeCell`, plus `get_mut` through a unique borrow.
        #[derive(Debug, Default)]
        pub(crate) struct UnsafeCell<T: ?Sized>(::loom::cell::UnsafeCell<T>);

        impl<T> UnsafeCell<T> {
            pub(crate) fn new(value: T) -> Self {
                UnsafeCell(::loom::cell::UnsafeCell::new(value))
            }

            pub(crate) fn into_inner(self) -> T {
                self.0.into_inner()
            }
        }

        impl<T: ?Sized> UnsafeCell<T> {
            pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
                self.0.with(f)
            }

            pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
                self.0.with_mut(f)
            }

            pub(crate) fn get_mut(&mut self) -> &mut T {
                // SAFETY: `&mut self` is unique: no other access can exist meanwhile.
                self.0.with_mut(|p| unsafe { &mut *p })
            }
        }
    }

    pub(crate) mod future {
        use std::task::Waker;

        use super::cell::UnsafeCell;
        use super::sync::atomic::{AtomicUsize, Ordering};

        const WAITING: usize = 0;
        const REGISTERING: usize = 0b01;
        const WAKING: usize = 0b10;

        /// `futures`' `AtomicWaker` algorithm on loom's atomics and cell, so that the models
        /// check the protocol the runtime really runs (loom's own mock is a lock, with other
        /// orderings: a register that meets a concurrent wake acquires nothing from it).
        pub(crate) struct AtomicWaker {
            state: AtomicUsize,
            waker: UnsafeCell<Option<Waker>>,
        }

        impl std::fmt::Debug for AtomicWaker {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("AtomicWaker")
            }
        }

        // SAFETY: the cell is only accessed by the thread that moved `state` out of WAITING
        // (into REGISTERING or WAKING), as in `futures`.
        unsafe impl Send for AtomicWaker {}
        // SAFETY: as above.
        unsafe impl Sync for AtomicWaker {}

        impl AtomicWaker {
            pub(crate) fn new() -> Self {
                AtomicWaker { state: AtomicUsize::new(WAITING), waker: UnsafeCell::new(None) }
            }

            pub(crate) fn register(&self, waker: &Waker) {
                match self
                    .state
                    .compare_exchange(WAITING, REGISTERING, Ordering::Acquire, Ordering::Acquire)
                    .unwrap_or_else(|x| x)
                {
                    WAITING => {
                        // SAFETY: REGISTERING gives this thread the cell.
                        self.waker.with_mut(|w| unsafe {
                            match &*w {
                                Some(old) if old.will_wake(waker) => {}
                                _ => *w = Some(waker.clone()),
                            }
                        });
                        if self
                            .state
                            .compare_exchange(
                                REGISTERING,
                                WAITING,
                                Ordering::AcqRel,
                                Ordering::Acquire,
                            )
                            .is_err()
                        {
                            // A wake came in meanwhile: wake now.
                            // SAFETY: still REGISTERING (with WAKING): the cell is ours.
                            let w = self.waker.with_mut(|w| unsafe { (*w).take() });
                            self.state.swap(WAITING, Ordering::AcqRel);
                            if let Some(w) = w {
                                w.wake();
                            }
                        }
                    }
                    WAKING => {
                        waker.wake_by_ref();
                        ::loom::hint::spin_loop();
                    }
                    _ => {} // Registering concurrently: not done by the core.
                }
            }

            pub(crate) fn wake(&self) {
                if let Some(w) = self.take() {
                    w.wake();
                }
            }

            pub(crate) fn take(&self) -> Option<Waker> {
                match self.state.fetch_or(WAKING, Ordering::AcqRel) {
                    WAITING => {
                        // SAFETY: WAKING from WAITING gives this thread the cell.
                        let w = self.waker.with_mut(|w| unsafe { (*w).take() });
                        self.state.fetch_and(!WAKING, Ordering::Release);
                        w
                    }
                    _ => None,
                }
            }
        }
    }

    pub(crate) mod hint {
        pub(crate) use ::loom::hint::spin_loop;
    }

    pub(crate) mod thread {
        pub(crate) use ::loom::thread::yield_now;
    }

    macro_rules! thread_local_const {
        ($($vis:vis static $name:ident: $t:ty = $init:expr;)*) => {
            ::loom::thread_local! { $($vis static $name: $t = $init;)* }
        };
    }

    macro_rules! const_fn {
        ($(#[$m:meta])* $vis:vis const fn $($rest:tt)*) => {
            $(#[$m])* $vis fn $($rest)*
        };
    }

    pub(crate) use {const_fn, thread_local_const};
}

pub(crate) use imp::*;

/// Helpers of the loom models (`*/loom_tests.rs`).
#[cfg(all(test, kqio_loom))]
pub(crate) mod model {
    use std::future::{poll_fn, Future};
    use std::pin::pin;
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    use super::sync::atomic::{AtomicUsize, Ordering};
    use crate::task::current;
    use crate::task::TaskHeader;

    /// Explores every interleaving of `f` (preemptions bounded by `LOOM_MAX_PREEMPTIONS`).
    pub(crate) fn model(f: impl Fn() + Sync + Send + 'static) {
        ::loom::model(f)
    }

    /// A waker that counts its wake-ups.
    #[derive(Default)]
    pub(crate) struct CountingWaker {
        wakes: AtomicUsize,
    }

    impl CountingWaker {
        pub(crate) fn wakes(&self) -> usize {
            self.wakes.load(Ordering::SeqCst)
        }
    }

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref()
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.wakes.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A counting waker and the `Waker` made from it (`Arc::strong_count` of the first is the
    /// leak check: 1 once every clone of the waker is gone).
    pub(crate) fn counting_waker() -> (Arc<CountingWaker>, Waker) {
        let c = Arc::new(CountingWaker::default());
        (c.clone(), Waker::from(c))
    }

    /// Polls `future` to completion on this loom thread as the task `header` (its cancellation
    /// points see that task; `header.request_cancel()` wakes it). loom's `block_on` parks the
    /// thread while the future is pending: a lost wake-up is a deadlock, which loom reports.
    pub(crate) fn block_on_as<F: Future>(header: &TaskHeader, future: F) -> F::Output {
        let mut future = pin!(future);
        let mut first = true;
        ::loom::future::block_on(poll_fn(|cx| {
            // As `TaskFuture::poll`: register on the first poll and after the cancel state
            // changed (a request takes the waker out).
            if std::mem::take(&mut first) || !header.cancel.is_untouched() {
                header.register_waker(cx.waker());
            }
            let _current = current::enter(header);
            future.as_mut().poll(cx)
        }))
    }

    /// Polls `future` once as the task `header` with `waker`.
    pub(crate) fn poll_once_as<F: Future>(
        header: &TaskHeader,
        future: std::pin::Pin<&mut F>,
        waker: &Waker,
    ) -> std::task::Poll<F::Output> {
        header.register_waker(waker);
        let _current = current::enter(header);
        future.poll(&mut std::task::Context::from_waker(waker))
    }
}
