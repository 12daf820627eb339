//! `Select`: Zig's `Io.Select(U)`, a group whose members' results go into a queue, so that the
//! first one to finish can be taken.
//!
//! Ground rules:
//! 1. Members are the members of an inner [`Group`]; each one pushes its result on the shared
//!    queue when it ends, then wakes the waiters.
//! 2. The queue is unbounded (members never wait to deliver) and behind one lock held for a few
//!    instructions; results are taken in the order members finished.
//! 3. A member's panic (of its poll or of its destructor) is caught by its wrapper and kept
//!    beside the queue (the first one), and the waiters are woken: `wait` and `await_many`
//!    re-raise it once no result is left to take, `cancel` and `cancel_discard` once every
//!    member has ended. A waiter is never left waiting for the result of a member that panicked.

use std::any::Any;
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::panic::{resume_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::loom::sync::{Mutex, MutexGuard};
use std::task::{Poll, Waker};

use futures::FutureExt;

use super::current;
use super::group::Group;
use super::spawn::DropOnReady;
use crate::error::{Canceled, ConcurrencyUnavailable};
use crate::io::Io;

struct Results<U> {
    queue: VecDeque<U>,
    waiters: Vec<Waker>,
    /// The first member panic not re-raised yet (rule 3).
    panic: Option<Box<dyn Any + Send>>,
}

struct Shared<U> {
    results: Mutex<Results<U>>,
}

impl<U> Shared<U> {
    fn lock(&self) -> MutexGuard<'_, Results<U>> {
        self.results.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, outcome: Result<U, Box<dyn Any + Send>>) {
        let waiters = {
            let mut r = self.lock();
            match outcome {
                Ok(u) => r.queue.push_back(u),
                Err(payload) => {
                    r.panic.get_or_insert(payload);
                }
            }
            std::mem::take(&mut r.waiters)
        };
        waiters.into_iter().for_each(Waker::wake);
    }

    /// Drops results nobody took; a panic in their destructors is caught and discarded, as when
    /// a [`JoinHandle`](crate::JoinHandle) drops an output.
    fn discard(&self) {
        let left: VecDeque<U> = std::mem::take(&mut self.lock().queue);
        super::join::drop_quietly(move || {
            // Each in its own catch, so one panicking result does not leak the rest.
            for u in left {
                super::join::drop_quietly(move || drop(u));
            }
        });
    }

    /// Re-raises a member's panic, if one is kept (rule 3).
    fn raise_panic(&self) {
        let panic = self.lock().panic.take();
        if let Some(payload) = panic {
            resume_unwind(payload);
        }
    }
}

/// Zig `Io.Select(U)`: runs several futures and yields their results as they finish.
///
/// `U` stands for Zig's union of the possible results: typically an enum with one variant per
/// kind of member.
///
/// # Examples
///
/// ```
/// use kqio::time::{Duration, Timeout};
///
/// #[derive(Debug, PartialEq)]
/// enum Won { Fast, Slow }
///
/// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
/// let io = rt.io();
/// let first = rt.block_on(async {
///     let select = kqio::Select::new();
///     let (a, b) = (io.clone(), io.clone());
///     select.r#async(&*io, async move {
///         let _ = a.sleep(Timeout::after(Duration::from_secs(600))).await;
///         Won::Slow
///     });
///     select.r#async(&*io, async move {
///         let _ = b.sleep(Timeout::after(Duration::from_millis(1))).await;
///         Won::Fast
///     });
///     let first = select.wait().await;
///     select.cancel_discard().await;
///     first
/// })?;
/// assert_eq!(first, Won::Fast);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Select<U> {
    group: Group,
    shared: Arc<Shared<U>>,
}

impl<U> Drop for Shared<U> {
    fn drop(&mut self) {
        // The last owner (the select or a member's wrapper) drops the leftover results; a
        // destructor's panic is discarded, never unwound into that owner.
        self.discard();
    }
}

impl<U: Send + 'static> Default for Select<U> {
    fn default() -> Self {
        Select::new()
    }
}

impl<U> std::fmt::Debug for Select<U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Select")
            .field("live", &self.group.live())
            .field("results", &self.shared.lock().queue.len())
            .finish()
    }
}

/// A new, empty [`Select`] (`kqio::select()` reads like Zig's `Io.Select(U).init`).
pub fn select<U: Send + 'static>() -> Select<U> {
    Select::new()
}

impl<U: Send + 'static> Select<U> {
    /// An empty select.
    pub fn new() -> Select<U> {
        Select {
            group: Group::new(),
            shared: Arc::new(Shared {
                results: Mutex::new(Results {
                    queue: VecDeque::new(),
                    waiters: Vec::new(),
                    panic: None,
                }),
            }),
        }
    }

    fn wrap<F>(&self, future: F) -> impl Future<Output = Result<(), Canceled>> + Send + 'static
    where
        F: Future<Output = U> + Send + 'static,
    {
        let shared = self.shared.clone();
        async move {
            // The member is consumed inside the catch: a panic of its destructor is caught too.
            shared.push(AssertUnwindSafe(DropOnReady::new(future)).catch_unwind().await);
            Ok(())
        }
    }

    /// Adds a member (Zig `select.async`): concurrent if possible, else run inline before this
    /// returns, as [`r#async`](crate::Io#method.async).
    #[track_caller]
    pub fn r#async<F>(&self, io: &dyn Io, future: F)
    where
        F: Future<Output = U> + Send + 'static,
    {
        self.group.r#async(io, self.wrap(future));
    }

    /// Adds a member that is guaranteed to run concurrently (Zig `select.concurrent`).
    ///
    /// # Errors
    ///
    /// [`ConcurrencyUnavailable`], as for [`concurrent`](crate::Io#method.concurrent).
    #[track_caller]
    pub fn concurrent<F>(&self, io: &dyn Io, future: F) -> Result<(), ConcurrencyUnavailable>
    where
        F: Future<Output = U> + Send + 'static,
    {
        self.group.concurrent(io, self.wrap(future))
    }

    /// Members still running.
    pub fn live(&self) -> usize {
        self.group.live()
    }

    /// Waits for the next result (Zig `select.await`): the first member to finish, then the next.
    ///
    /// # Cancellation
    ///
    /// A cancellation point. The members are left running: call [`cancel`](Self::cancel) or
    /// [`cancel_discard`](Self::cancel_discard) to end them.
    ///
    /// # Panics
    ///
    /// Re-raises the first panic of a member once no result is left to take.
    pub async fn wait(&self) -> Result<U, Canceled> {
        poll_fn(|cx| {
            current::check_cancel()?;
            let mut r = self.shared.lock();
            if let Some(u) = r.queue.pop_front() {
                return Poll::Ready(Ok(u));
            }
            if let Some(payload) = r.panic.take() {
                drop(r);
                resume_unwind(payload);
            }
            if !r.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                r.waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    /// Zig `select.awaitMany`: waits until at least `min` results are ready (or every member
    /// has ended), then moves up to `max` of them into `out`. Returns how many it moved.
    ///
    /// # Cancellation
    ///
    /// A cancellation point; no result is taken when it returns `Canceled`.
    ///
    /// # Panics
    ///
    /// Re-raises the first panic of a member when it would otherwise return 0.
    pub async fn await_many(
        &self,
        out: &mut Vec<U>,
        min: usize,
        max: usize,
    ) -> Result<usize, Canceled> {
        let min = min.min(max);
        poll_fn(|cx| {
            current::check_cancel()?;
            let mut r = self.shared.lock();
            if r.queue.len() >= min || self.group.live() == 0 || r.panic.is_some() {
                let n = r.queue.len().min(max);
                if n == 0 {
                    if let Some(payload) = r.panic.take() {
                        drop(r);
                        resume_unwind(payload);
                    }
                }
                out.extend(r.queue.drain(..n));
                return Poll::Ready(Ok(n));
            }
            if !r.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                r.waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    /// Zig `select.cancel`: cancels every member, waits for all of them, and returns one result
    /// that was not taken, if any. Results can own resources: call it until it returns `None`.
    ///
    /// # Cancellation
    ///
    /// Not a cancellation point: it always waits for every member.
    ///
    /// # Panics
    ///
    /// Re-raises the first panic of a member (its leftover results stay for the next call).
    pub async fn cancel(&self) -> Option<U> {
        self.group.cancel().await;
        self.shared.raise_panic();
        self.shared.lock().queue.pop_front()
    }

    /// Zig `select.cancelDiscard`: cancels and waits for every member, then drops every result
    /// not taken.
    ///
    /// # Cancellation
    ///
    /// Not a cancellation point.
    ///
    /// # Panics
    ///
    /// Re-raises the first panic of a member, after dropping the results. A panic in a result's
    /// `Drop` is caught and discarded (reported only by the panic hook), here and when a select
    /// with results left is dropped, as for a dropped [`JoinHandle`](crate::JoinHandle).
    pub async fn cancel_discard(&self) {
        self.group.cancel().await;
        self.shared.discard();
        self.shared.raise_panic();
    }
}
