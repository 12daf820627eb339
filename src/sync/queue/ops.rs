//! The futures of the queue operations: one shared put future and one shared get future
//! (`PutOp`, `GetOp`: a waiter with its transfer, polled by `Queue::poll_put`/`poll_get`), and
//! the public futures that wrap them, each mapping the count to its own output.
//!
//! Ground rule: a future whose waiter is queued leaves the queue when dropped (`PinnedDrop`
//! below), through `Queue::abandon_put`/`abandon_get` (see the ground rules of `queue/mod.rs`).

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{Dst, GetSlot, Phase, PutSlot, Queue, Src};
use crate::sync::error::{Closed, PutOneError, QueueError};
use crate::sync::wait::Waiter;
use crate::task::current;

pin_project_lite::pin_project! {
    /// A put in progress: the shared future under `Put`, `PutAll`, `PutOne`, ...
    pub(super) struct PutOp<'a, T> {
        queue: &'a Queue<T>,
        #[pin]
        waiter: Waiter<PutSlot<T>>,
        phase: Phase,
        min: usize,
        cancelable: bool,
    }

    impl<'a, T> PinnedDrop for PutOp<'a, T> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if *this.phase == Phase::Queued {
                this.queue.abandon_put(&this.waiter);
            }
        }
    }
}

impl<'a, T> PutOp<'a, T> {
    pub(super) fn new(queue: &'a Queue<T>, src: Src<T>, min: usize, cancelable: bool) -> Self {
        PutOp {
            queue,
            waiter: Waiter::new(PutSlot::new(src)),
            phase: Phase::Start,
            min,
            cancelable,
        }
    }

    /// The item of a finished `put_one` that did not go in.
    fn take_item(self: Pin<&mut Self>) -> Option<T> {
        let this = self.project();
        debug_assert_ne!(*this.phase, Phase::Queued);
        // SAFETY: not queued: the slot is ours alone.
        unsafe {
            this.waiter.with_payload(|s| match &mut s.src {
                Src::One(v) => v.take(),
                _ => None,
            })
        }
    }
}

impl<T> Future for PutOp<'_, T> {
    type Output = Result<usize, QueueError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        this.queue.poll_put(this.waiter.as_ref(), this.phase, *this.min, *this.cancelable, cx)
    }
}

pin_project_lite::pin_project! {
    /// A get in progress: the shared future under `Get`, `GetOne`, ...
    pub(super) struct GetOp<'a, T> {
        queue: &'a Queue<T>,
        #[pin]
        waiter: Waiter<GetSlot<T>>,
        phase: Phase,
        min: usize,
        cancelable: bool,
    }

    impl<'a, T> PinnedDrop for GetOp<'a, T> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if *this.phase == Phase::Queued {
                this.queue.abandon_get(&this.waiter);
            }
        }
    }
}

impl<'a, T> GetOp<'a, T> {
    pub(super) fn new(queue: &'a Queue<T>, dst: Dst<T>, min: usize, cancelable: bool) -> Self {
        GetOp {
            queue,
            waiter: Waiter::new(GetSlot::new(dst)),
            phase: Phase::Start,
            min,
            cancelable,
        }
    }

    /// The item a finished `get_one` received.
    fn take_item(self: Pin<&mut Self>) -> Option<T> {
        let this = self.project();
        debug_assert_ne!(*this.phase, Phase::Queued);
        // SAFETY: not queued: the slot is ours alone.
        unsafe {
            this.waiter.with_payload(|s| match &mut s.dst {
                Dst::One(v) => v.take(),
                Dst::Many { .. } => None,
            })
        }
    }
}

impl<T> Future for GetOp<'_, T> {
    type Output = Result<usize, QueueError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        this.queue.poll_get(this.waiter.as_ref(), this.phase, *this.min, *this.cancelable, cx)
    }
}

fn closed_only<V>(r: Result<V, QueueError>) -> Result<V, Closed> {
    r.map_err(|e| match e {
        QueueError::Closed => Closed,
        QueueError::Canceled => unreachable!("an uncancelable queue operation is never canceled"),
    })
}

pin_project_lite::pin_project! {
    /// The future of [`Queue::put`]: how many items went in.
    #[must_use = "futures do nothing unless awaited"]
    pub struct Put<'a, T> {
        #[pin]
        pub(super) op: PutOp<'a, T>,
        pub(super) _items: PhantomData<&'a mut VecDeque<T>>,
    }
}

impl<T> Future for Put<'_, T> {
    type Output = Result<usize, QueueError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().op.poll(cx)
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Queue::put_uncancelable`]: how many items went in.
    #[must_use = "futures do nothing unless awaited"]
    pub struct PutUncancelable<'a, T> {
        #[pin]
        pub(super) op: PutOp<'a, T>,
        pub(super) _items: PhantomData<&'a mut VecDeque<T>>,
    }
}

impl<T> Future for PutUncancelable<'_, T> {
    type Output = Result<usize, Closed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().op.poll(cx).map(closed_only)
    }
}

/// Zig's `putAll`: a short count means the queue was closed or the task canceled; the error is
/// the one the next put would return.
fn all_or_error<T>(
    queue: &Queue<T>,
    wanted: usize,
    r: Result<usize, QueueError>,
) -> Result<(), QueueError> {
    match r? {
        n if n == wanted => Ok(()),
        _ if queue.is_closed() => Err(QueueError::Closed),
        _ => {
            let _ = current::check_cancel();
            Err(QueueError::Canceled)
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Queue::put_all`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct PutAll<'a, T> {
        #[pin]
        pub(super) op: PutOp<'a, T>,
    }
}

impl<T> Future for PutAll<'_, T> {
    type Output = Result<(), QueueError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let (queue, wanted) =
            (*this.op.as_ref().project_ref().queue, *this.op.as_ref().project_ref().min);
        this.op.poll(cx).map(|r| all_or_error(queue, wanted, r))
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Queue::put_all_uncancelable`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct PutAllUncancelable<'a, T> {
        #[pin]
        pub(super) op: PutOp<'a, T>,
    }
}

impl<T> Future for PutAllUncancelable<'_, T> {
    type Output = Result<(), Closed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let wanted = *this.op.as_ref().project_ref().min;
        this.op.poll(cx).map(|r| match closed_only(r)? {
            n if n == wanted => Ok(()),
            _ => Err(Closed),
        })
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Queue::put_one`] and [`Queue::put_one_uncancelable`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct PutOne<'a, T> {
        #[pin]
        pub(super) op: PutOp<'a, T>,
    }
}

impl<T> Future for PutOne<'_, T> {
    type Output = Result<(), PutOneError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut op = self.project().op;
        match std::task::ready!(op.as_mut().poll(cx)) {
            Ok(1) => Poll::Ready(Ok(())),
            Ok(_) => unreachable!("put_one puts one item or fails"),
            Err(error) => {
                let item = op.take_item().expect("a failed put_one still holds its item");
                Poll::Ready(Err(PutOneError { error, item }))
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Queue::get`]: how many items were appended.
    #[must_use = "futures do nothing unless awaited"]
    pub struct Get<'a, T> {
        #[pin]
        pub(super) op: GetOp<'a, T>,
        pub(super) _out: PhantomData<&'a mut Vec<T>>,
    }
}

impl<T> Future for Get<'_, T> {
    type Output = Result<usize, QueueError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().op.poll(cx)
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Queue::get_uncancelable`]: how many items were appended.
    #[must_use = "futures do nothing unless awaited"]
    pub struct GetUncancelable<'a, T> {
        #[pin]
        pub(super) op: GetOp<'a, T>,
        pub(super) _out: PhantomData<&'a mut Vec<T>>,
    }
}

impl<T> Future for GetUncancelable<'_, T> {
    type Output = Result<usize, Closed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().op.poll(cx).map(closed_only)
    }
}

fn one<T>(op: Pin<&mut GetOp<'_, T>>, r: Result<usize, QueueError>) -> Result<T, QueueError> {
    r?;
    Ok(op.take_item().expect("a get_one that succeeded holds its item"))
}

pin_project_lite::pin_project! {
    /// The future of [`Queue::get_one`]: the item.
    #[must_use = "futures do nothing unless awaited"]
    pub struct GetOne<'a, T> {
        #[pin]
        pub(super) op: GetOp<'a, T>,
    }
}

impl<T> Future for GetOne<'_, T> {
    type Output = Result<T, QueueError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut op = self.project().op;
        let r = std::task::ready!(op.as_mut().poll(cx));
        Poll::Ready(one(op, r))
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Queue::get_one_uncancelable`]: the item.
    #[must_use = "futures do nothing unless awaited"]
    pub struct GetOneUncancelable<'a, T> {
        #[pin]
        pub(super) op: GetOp<'a, T>,
    }
}

impl<T> Future for GetOneUncancelable<'_, T> {
    type Output = Result<T, Closed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut op = self.project().op;
        let r = std::task::ready!(op.as_mut().poll(cx));
        Poll::Ready(closed_only(one(op, r)))
    }
}

macro_rules! debug_op {
    ($($name:ident),*) => {$(
        impl<T> fmt::Debug for $name<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("phase", &self.op.phase)
                    .finish_non_exhaustive()
            }
        }
    )*};
}

debug_op!(
    Put,
    PutUncancelable,
    PutAll,
    PutAllUncancelable,
    PutOne,
    Get,
    GetUncancelable,
    GetOne,
    GetOneUncancelable
);
