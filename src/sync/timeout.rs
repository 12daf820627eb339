//! `WaitTimeout`: a cancelable wait of `kqio::sync` raced against a sleep (Zig's `waitTimeout`).
//!
//! Ground rules:
//! 1. The wait is polled first: if it and the deadline are ready in the same poll, the wait
//!    wins. When the deadline has passed, the wait is polled once more (a wake-up may have been
//!    handed to it since), and only then dropped in place.
//! 2. Dropping the wait is how it gives up: the wait's own drop leaves the queue and passes on a
//!    wake-up, permit or lock it was handed (wait.rs rule 5), so a timeout loses nothing.
//! 3. The sleep is not itself a cancellation point here: the wait is, and the backend's timer is
//!    freed when the sleep is dropped with this future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::error::WaitTimeoutError;
use crate::error::Canceled;
use crate::io::Io;
use crate::time::{Sleep, Timeout};

pin_project_lite::pin_project! {
    /// A wait bounded by a [`Timeout`]: what `wait_timeout`, `lock_timeout`, `read_timeout` and
    /// `write_timeout` return. Its output is the wait's, with [`WaitTimeoutError::TimedOut`] if
    /// the timeout passed first.
    #[must_use = "futures do nothing unless awaited"]
    pub struct WaitTimeout<'a, F> {
        #[pin]
        wait: Option<F>,
        sleep: Sleep<'a>,
    }
}

impl<'a, F> WaitTimeout<'a, F> {
    pub(crate) fn new(io: &'a dyn Io, timeout: Timeout, wait: F) -> Self {
        WaitTimeout { wait: Some(wait), sleep: Sleep::new(io, timeout, false) }
    }
}

impl<F, T> Future for WaitTimeout<'_, F>
where
    F: Future<Output = Result<T, Canceled>>,
{
    type Output = Result<T, WaitTimeoutError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let mut wait =
            this.wait.as_mut().as_pin_mut().expect("WaitTimeout polled after completion");
        if let Poll::Ready(r) = wait.as_mut().poll(cx) {
            this.wait.set(None);
            return Poll::Ready(r.map_err(WaitTimeoutError::from));
        }
        if this.sleep.poll_elapsed(cx).is_pending() {
            return Poll::Pending;
        }
        // The deadline passed: one more look at the wait (rule 1), then give it up (rule 2).
        let r = match wait.poll(cx) {
            Poll::Ready(r) => r.map_err(WaitTimeoutError::from),
            Poll::Pending => Err(WaitTimeoutError::TimedOut),
        };
        this.wait.set(None);
        Poll::Ready(r)
    }
}

impl<F: fmt::Debug> fmt::Debug for WaitTimeout<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitTimeout").field("wait", &self.wait).finish_non_exhaustive()
    }
}
