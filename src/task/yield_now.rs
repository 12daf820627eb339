//! Yielding once to the scheduler.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The future returned by [`yield_now`](crate::Io#method.yield_now): pending once, then ready.
///
/// The task wakes itself while it is running, which a kqio scheduler treats as a yield: the task
/// goes behind the work already queued.
#[derive(Debug, Default)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl YieldNow {
    pub(crate) fn new() -> Self {
        YieldNow { yielded: false }
    }
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
