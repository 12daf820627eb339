//! Synchronization for tasks: Zig's `Io.Mutex`, `Io.Condition`, `Io.Event`, `Io.RwLock`,
//! `Io.Semaphore` and `Io.Queue(T)`, whose waits are futures that carry cancellation.
//!
//! | file | what |
//! | --- | --- |
//! | `wait.rs` | the one wait/wake mechanism: an intrusive FIFO list of waiters, each stored in its future |
//! | `mutex.rs` | [`Mutex`], [`MutexGuard`] |
//! | `condition.rs` | [`Condition`] |
//! | `event.rs` | [`Event`] |
//! | `rwlock.rs` | [`RwLock`], [`RwLockReadGuard`], [`RwLockWriteGuard`] |
//! | `semaphore.rs` | [`Semaphore`] |
//! | `queue/` | [`Queue`] (`mod.rs`: the type and its polls; `ring.rs`: the lock-free buffer; `transfer.rs`: the fast paths and the transfers under the lock; `ops.rs`: the operations' futures; `stream.rs`: the [`Stream`](futures::Stream) and [`Sink`](futures::Sink) views) |
//! | `timeout.rs` | [`WaitTimeout`]: a wait raced against a sleep (the `*_timeout` methods) |
//! | `error.rs` | [`Closed`], [`QueueError`], [`PutOneError`], [`TimedOut`], [`WaitTimeoutError`] |
//!
//! Ground rules, shared by every primitive:
//! 1. No wait blocks a thread: every wait is a future, woken through its task's waker.
//! 2. The uncontended paths (`try_lock`, an unlock nobody waits for, `set`, `post`, ...) are one
//!    atomic operation; only a task that must wait, or a release that must wake, takes the
//!    primitive's internal lock and touches its wait list (`wait.rs`).
//! 3. A wait allocates nothing: its waiter node lives inside its future.
//! 4. Every wait has a cancelable form, a cancellation point in the sense of
//!    [`JoinHandle::cancel`](crate::JoinHandle::cancel), and an `_uncancelable` form. A waiter
//!    that is canceled, or dropped, leaves the queue; what it had already been handed (a
//!    wake-up, a permit, a lock, an item) is passed on or returned, never lost.

mod condition;
mod error;
mod event;
mod mutex;
mod queue;
mod rwlock;
mod semaphore;
mod timeout;
mod wait;

#[cfg(all(test, kqio_loom))]
mod loom_tests;

pub use condition::{Condition, ConditionWait, ConditionWaitTimeout, ConditionWaitUncancelable};
pub use error::{Closed, PutOneError, QueueError, TimedOut, WaitTimeoutError};
pub use event::{Event, EventWait, EventWaitUncancelable};
pub use mutex::{Lock, LockUncancelable, Mutex, MutexGuard};
pub use queue::{
    Get, GetOne, GetOneUncancelable, GetUncancelable, Put, PutAll, PutAllUncancelable, PutOne,
    PutUncancelable, Queue, QueueSink, QueueStream,
};
pub use rwlock::{
    Read, ReadUncancelable, RwLock, RwLockReadGuard, RwLockWriteGuard, Write, WriteUncancelable,
};
pub use semaphore::{Acquire, AcquireUncancelable, Semaphore};
pub use timeout::WaitTimeout;
