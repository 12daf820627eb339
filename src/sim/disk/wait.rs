//! The futures that wait: a simulated latency ([`Delay`]) and a `flock` wait ([`LockWait`]),
//! both cancellation points of the task polling them.
//!
//! Ground rules:
//! 1. A wait registers its waker with the world (`wake_at`) or the inode's queue, and again
//!    only when the waker changes.
//! 2. Canceled (the task's request seen at a poll), a wait returns `Canceled` and leaves
//!    nothing behind: no lock taken, no waiter queued (`Drop` forgets it).
//! 3. Wakers are woken after the disk's lock is released.
//! 4. A pending poll records what its task waits on: a [`Delay`] a blocking-pool job (what the
//!    operation is on `Kqueue`), a [`LockWait`] a file lock.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use super::handle::SimFile;
use super::{host_mut, lock, outcome, wake, Env, HostId, Shared};
use crate::fs::Lock;

/// The calling task's cancellation point: `Canceled` (as an `io::Error`) once after a request.
pub(super) fn check_cancel() -> io::Result<()> {
    crate::task::current::check_cancel().map_err(io::Error::from)
}

/// Waits until virtual time `at`; a cancellation point at every poll.
pub(super) struct Delay {
    pub env: Env,
    pub at: u64,
    pub registered: Option<Waker>,
}

impl Future for Delay {
    type Output = io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        check_cancel()?;
        if self.env.now() >= self.at {
            return Poll::Ready(Ok(()));
        }
        if !self.registered.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            self.env.wake_at(self.at, cx.waker().clone());
            self.registered = Some(cx.waker().clone());
        }
        // The work a pool thread does on `Kqueue`: the same record.
        crate::task::activity::wait_on(crate::task::WaitingOn::Blocking);
        Poll::Pending
    }
}

/// A `file_lock` in progress (module docs, "`flock`"): tries at each poll, waits as a waker in
/// the inode's queue, and leaves the queue when done or dropped.
pub(super) struct LockWait {
    pub shared: Arc<Shared>,
    pub env: Env,
    /// Keeps the description open while the lock is asked for.
    pub _file: Arc<SimFile>,
    pub host: HostId,
    pub gen: u64,
    pub id: u64,
    pub lock: Lock,
    pub wait: bool,
    /// Our key in the waiter queue, once registered.
    pub key: Option<u64>,
}

impl Future for LockWait {
    type Output = io::Result<bool>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        let this = &mut *self;
        if let Err(e) = check_cancel() {
            // Canceled: no lock taken; `Drop` leaves the queue.
            return Poll::Ready(Err(e));
        }
        let (result, wakers) = {
            let mut inner = lock(&this.shared);
            let h = host_mut(&mut inner, this.host);
            match h.try_lock(this.gen, this.id, this.lock) {
                Err(e) => (Poll::Ready(Err(e)), Vec::new()),
                Ok((true, wakers)) => {
                    if let Some(key) = this.key.take() {
                        h.forget_waiter(key);
                    }
                    (Poll::Ready(Ok(true)), wakers)
                }
                Ok((false, wakers)) if !this.wait => (Poll::Ready(Ok(false)), wakers),
                Ok((false, wakers)) => match h.wait_lock(this.gen, this.id, this.key, cx.waker()) {
                    Ok(key) => {
                        this.key = Some(key);
                        crate::task::activity::wait_on(crate::task::WaitingOn::FileLock);
                        (Poll::Pending, wakers)
                    }
                    Err(e) => (Poll::Ready(Err(e)), wakers),
                },
            }
        };
        wake(wakers);
        if let Poll::Ready(r) = &result {
            let (host, id, l) = (this.host, this.id, this.lock);
            this.env.log(format_args!("disk h{host} lock {l:?} desc={id}: {}", outcome(r)));
        }
        result
    }
}

impl Drop for LockWait {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            if let Some(h) = lock(&self.shared).hosts.get_mut(&self.host) {
                h.forget_waiter(key);
            }
        }
    }
}
