//! The `futures` views of a queue: [`QueueStream`] (a `Stream` of gets) and [`QueueSink`] (a
//! `Sink` of puts).
//!
//! Ground rule: each view allocates its waiter once, when it is made (so the view is `Unpin`
//! and an item costs no allocation), and reuses it for every item through
//! `Queue::poll_get`/`poll_put`; dropping a view with its waiter queued leaves the queue.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{Dst, GetSlot, Phase, PutSlot, Queue, Src};
use crate::sync::error::QueueError;
use crate::sync::wait::Waiter;
use crate::task::current;

/// A [`Stream`](futures::Stream) of a [`Queue`]'s items: what [`Queue::stream`] returns.
///
/// Each item is one [`get_one`](Queue::get_one). The stream ends when the queue is closed and
/// drained. Several streams (and plain gets) may take from one queue; each item goes to one of
/// them.
///
/// The stream allocates its waiter once, when it is made, so it is `Unpin` and each item costs
/// no allocation.
///
/// # Cancellation
///
/// A cancellation point, like `get_one`. A stream's items cannot carry the error, so when the
/// task is canceled while the stream waits, the stream ends early (`None`) and the request is
/// re-armed (Zig `recancel`): the task's next cancellation point returns `Canceled`. No item is
/// lost.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
///
/// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
/// let q = kqio::sync::Queue::new(8);
/// let items: Vec<i32> = rt.block_on(async {
///     q.put_all([1, 2, 3]).await.unwrap();
///     q.close();
///     q.stream().collect().await
/// });
/// assert_eq!(items, [1, 2, 3]);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct QueueStream<'a, T> {
    queue: &'a Queue<T>,
    waiter: Pin<Box<Waiter<GetSlot<T>>>>,
    phase: Phase,
}

impl<'a, T> QueueStream<'a, T> {
    pub(super) fn new(queue: &'a Queue<T>) -> Self {
        QueueStream {
            queue,
            waiter: Box::pin(Waiter::new(GetSlot::new(Dst::One(None)))),
            phase: Phase::Done,
        }
    }
}

impl<T> futures::Stream for QueueStream<'_, T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = &mut *self;
        if this.phase == Phase::Done {
            // SAFETY: not queued: the slot is ours alone.
            unsafe { this.waiter.with_payload(|s| *s = GetSlot::new(Dst::One(None))) };
            this.phase = Phase::Start;
        }
        let r = std::task::ready!(this.queue.poll_get(
            this.waiter.as_ref(),
            &mut this.phase,
            1,
            true,
            cx
        ));
        match r {
            Ok(_) => {
                // SAFETY: done, not queued: the slot is ours alone.
                let item = unsafe {
                    this.waiter.with_payload(|s| match &mut s.dst {
                        Dst::One(v) => v.take(),
                        Dst::Many { .. } => None,
                    })
                };
                Poll::Ready(Some(item.expect("a get_one that succeeded holds its item")))
            }
            Err(QueueError::Closed) => Poll::Ready(None),
            Err(QueueError::Canceled) => {
                current::recancel();
                Poll::Ready(None)
            }
        }
    }
}

impl<T> Drop for QueueStream<'_, T> {
    fn drop(&mut self) {
        if self.phase == Phase::Queued {
            self.queue.abandon_get(&self.waiter);
        }
    }
}

impl<T> fmt::Debug for QueueStream<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueStream").field("phase", &self.phase).finish_non_exhaustive()
    }
}

/// A [`Sink`](futures::Sink) into a [`Queue`]: what [`Queue::sink`] returns.
///
/// `start_send` takes one item and `poll_ready`/`poll_flush` drive its
/// [`put_one`](Queue::put_one) until it is in the queue (a buffer of one item, the usual
/// contract of a `Sink`). `poll_close` flushes; it does not close the queue (other producers may
/// still use it): call [`Queue::close`] for that. An item whose put fails is dropped, and the
/// error ([`QueueError`]) is returned.
///
/// Like [`QueueStream`], the sink allocates its waiter once and is `Unpin`.
///
/// # Cancellation
///
/// A cancellation point while it waits for room: the put returns [`QueueError::Canceled`].
///
/// # Examples
///
/// ```
/// use futures::SinkExt;
///
/// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
/// let q = kqio::sync::Queue::new(8);
/// rt.block_on(async {
///     let mut sink = q.sink();
///     sink.send(1).await?;
///     sink.send(2).await
/// })?;
/// assert_eq!(q.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct QueueSink<'a, T> {
    queue: &'a Queue<T>,
    waiter: Pin<Box<Waiter<PutSlot<T>>>>,
    /// `Done`: no item pending.
    phase: Phase,
}

impl<'a, T> QueueSink<'a, T> {
    pub(super) fn new(queue: &'a Queue<T>) -> Self {
        QueueSink {
            queue,
            waiter: Box::pin(Waiter::new(PutSlot::new(Src::One(None)))),
            phase: Phase::Done,
        }
    }

    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), QueueError>> {
        if self.phase == Phase::Done {
            return Poll::Ready(Ok(()));
        }
        let r = std::task::ready!(self.queue.poll_put(
            self.waiter.as_ref(),
            &mut self.phase,
            1,
            true,
            cx
        ));
        // SAFETY: done, not queued: the slot is ours alone. A failed item is dropped here.
        unsafe { self.waiter.with_payload(|s| *s = PutSlot::new(Src::One(None))) };
        Poll::Ready(r.map(|_| ()))
    }
}

impl<T> futures::Sink<T> for QueueSink<'_, T> {
    type Error = QueueError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), QueueError>> {
        self.get_mut().poll_pending(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: T) -> Result<(), QueueError> {
        let this = self.get_mut();
        assert_eq!(this.phase, Phase::Done, "QueueSink::start_send without poll_ready");
        // SAFETY: not queued (`Done`): the slot is ours alone.
        unsafe { this.waiter.with_payload(|s| *s = PutSlot::new(Src::One(Some(item)))) };
        this.phase = Phase::Start;
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), QueueError>> {
        self.get_mut().poll_pending(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), QueueError>> {
        self.get_mut().poll_pending(cx)
    }
}

impl<T> Drop for QueueSink<'_, T> {
    fn drop(&mut self) {
        if self.phase == Phase::Queued {
            self.queue.abandon_put(&self.waiter);
        }
    }
}

impl<T> fmt::Debug for QueueSink<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueSink").field("phase", &self.phase).finish_non_exhaustive()
    }
}
