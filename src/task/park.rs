//! Polling a future to completion on the current thread, parking the thread between polls.
//!
//! Used by `Kqueue::block_on` and by inline `r#async`. The waker unparks the thread with
//! `std::thread::Thread::unpark`; a flag makes a wake that arrives before the park count.
//! One waker is built per thread and reused, so a `block_on` allocates nothing after the first.

use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use super::header::TaskHeader;
use super::{coop, current};

struct ThreadWaker {
    thread: Thread,
    notified: AtomicBool,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Release: pairs with the Acquire swap in `park`, so what the waker published before the
        // wake is visible to the thread after it wakes.
        if !self.notified.swap(true, Ordering::Release) {
            self.thread.unpark();
        }
    }
}

thread_local! {
    static THREAD_WAKER: RefCell<Option<(Arc<ThreadWaker>, Waker)>> = const { RefCell::new(None) };
}

fn thread_waker() -> (Arc<ThreadWaker>, Waker) {
    THREAD_WAKER.with(|cell| {
        cell.borrow_mut()
            .get_or_insert_with(|| {
                let tw = Arc::new(ThreadWaker {
                    thread: thread::current(),
                    notified: AtomicBool::new(false),
                });
                let waker = Waker::from(tw.clone());
                (tw, waker)
            })
            .clone()
    })
}

/// This thread's waker: what wakes a `block_on` on it (made once per thread).
pub(crate) fn current_thread_waker() -> Waker {
    thread_waker().1
}

/// Polls `future` with `header` as the current task until it completes.
pub(crate) fn block_on_with_header<F: Future>(header: &TaskHeader, future: F) -> F::Output {
    block_on_driving(header, future, || false)
}

/// [`block_on_with_header`] that also runs other work of this thread between polls of `future`:
/// `drive` runs some (`Kqueue::block_on` runs its local tasks there) and returns whether more is
/// ready, in which case the thread polls again instead of parking. Work queued for `drive` from
/// another thread must wake [`current_thread_waker`] after it is queued.
pub(crate) fn block_on_driving<F: Future>(
    header: &TaskHeader,
    future: F,
    mut drive: impl FnMut() -> bool,
) -> F::Output {
    let (tw, waker) = thread_waker();
    let mut future = pin!(future);
    let mut cx = Context::from_waker(&waker);
    let out = loop {
        header.register_waker(&waker);
        let polled = {
            let _current = current::enter(header);
            let _budget = coop::start();
            future.as_mut().poll(&mut cx)
        };
        if let Poll::Ready(out) = polled {
            break out;
        }
        if drive() {
            continue;
        }
        // Acquire: pairs with the Release swap in `wake_by_ref`.
        while !tw.notified.swap(false, Ordering::Acquire) {
            thread::park();
        }
    };
    header.clear_waker();
    // This thread's waker is shared by nested runs (an inline `r#async` inside `block_on`): a
    // wake meant for an outer run may have been consumed here, so make the outer run poll again.
    tw.notified.store(true, Ordering::Release);
    out
}
