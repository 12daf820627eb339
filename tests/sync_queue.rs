//! `kqio::sync::Queue`: Zig's Queue tests (FIFO for capacities 1..5, the exact close sequence,
//! a putter and a getter on a zero-capacity queue with no spare thread), the transfer rules
//! (blocked getters before the buffer, `min`), close, cancellation (short counts, no item lost),
//! dropped operations, an MPMC stress run, and the `Stream`/`Sink` views.
//!
//! No test sleeps to order a race: steps are ordered with manual polls, oneshot channels and by
//! yielding until the queue reports waiting getters or putters.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::channel::oneshot;
use futures::{poll, SinkExt, StreamExt};
use kqio::sync::{Closed, Queue, QueueError};
use kqio::{Canceled, InitOptions, IoRef, Kqueue};

fn runtime(threads: usize) -> Kqueue {
    Kqueue::init(InitOptions { n_threads: Some(threads), ..Default::default() }).unwrap()
}

/// Yields until `q` has `getters` waiting getters and `putters` waiting putters.
async fn until_waiting<T>(io: &IoRef, q: &Queue<T>, getters: usize, putters: usize) {
    let want = format!("getters: {getters}, putters: {putters} }}");
    while !format!("{q:?}").ends_with(&want) {
        io.yield_now().await;
    }
}

/// Zig `testQueue(len)` for len 1..=5: rounds of 1..=len puts then as many gets, in order.
#[test]
fn fifo_for_capacities_1_to_5() {
    let rt = runtime(2);
    rt.block_on(async {
        for len in 1..=5usize {
            let q = Queue::new(len);
            let mut begin = 0;
            for n in 1..=len {
                let end = begin + n;
                for i in begin..end {
                    q.put_one(i).await.unwrap();
                }
                for i in begin..end {
                    assert_eq!(q.get_one().await, Ok(i));
                }
                begin = end;
            }
        }
    });
}

/// Zig "Queue.close single-threaded", step for step.
#[test]
fn close_sequence() {
    let rt = runtime(2);
    rt.block_on(async {
        let q: Queue<u8> = Queue::new(10);
        q.put_all(0..=6).await.unwrap();
        let mut more = VecDeque::from([7, 8, 9, 10]);
        assert_eq!(q.put(&mut more, 0).await, Ok(3)); // room for 3 more
        assert_eq!(more, [10]);

        // Receive some before closing.
        let mut buf = Vec::new();
        assert_eq!(q.get(&mut buf, 0, 4).await, Ok(4));
        assert_eq!(buf, [0, 1, 2, 3]);
        assert_eq!(q.get_one().await, Ok(4));

        // ...and add a couple more now there is room.
        q.put_all([20, 21]).await.unwrap();
        q.close();

        // Receive more after closing.
        buf.clear();
        assert_eq!(q.get(&mut buf, 0, 4).await, Ok(4));
        assert_eq!(buf, [5, 6, 7, 8]);
        assert_eq!(q.get_one().await, Ok(9));

        // Nothing can be put while closed, even with room.
        assert_eq!(
            q.put_one(100).await.map_err(|e| (e.error, e.item)),
            Err((QueueError::Closed, 100))
        );
        assert_eq!(q.put_all([101, 102]).await, Err(QueueError::Closed));
        assert_eq!(q.put_uncancelable(&mut VecDeque::from([103, 104]), 0).await, Err(Closed));

        // Asking for 4, the closed queue gives the last 2.
        buf.clear();
        assert_eq!(q.get(&mut buf, 4, 4).await, Ok(2));
        assert_eq!(buf, [20, 21]);

        // Empty and closed: gets fail too.
        assert_eq!(q.get_one().await, Err(QueueError::Closed));
        assert_eq!(q.get(&mut buf, 0, 4).await, Err(QueueError::Closed));
        assert_eq!(q.put_uncancelable(&mut VecDeque::from([1, 2]), 2).await, Err(Closed));
        assert_eq!(q.get_one_uncancelable().await, Err(Closed));
    });
}

/// Zig "concurrent vs main" and "concurrent vs concurrent" on a zero-capacity queue, with a
/// single worker (no spare thread): both sides finish.
#[test]
fn rendezvous_putter_and_getter_both_finish() {
    let rt = runtime(1);
    let io = rt.io();
    let q = Arc::new(Queue::<u8>::new(0));
    rt.block_on(async {
        let putter = {
            let q = q.clone();
            io.concurrent(async move { q.put_one_uncancelable(42).await.unwrap() }).unwrap()
        };
        assert_eq!(q.get_one_uncancelable().await, Ok(42));
        putter.await;

        let putter = {
            let q = q.clone();
            io.concurrent(async move { q.put_one_uncancelable(42).await.unwrap() }).unwrap()
        };
        let getter = {
            let q = q.clone();
            io.concurrent(async move { q.get_one_uncancelable().await.unwrap() }).unwrap()
        };
        assert_eq!(getter.await, 42);
        putter.await;
    });
}

/// A rendezvous put waits for a get; a get with `min == 0` takes straight from a waiting putter.
#[test]
fn rendezvous_transfers() {
    let rt = runtime(2);
    rt.block_on(async {
        let q = Queue::new(0);
        let mut nothing = VecDeque::from([1]);
        assert_eq!(q.put(&mut nothing, 0).await, Ok(0), "no getter: nothing fits");
        let mut p = Box::pin(q.put_one(7));
        assert!(poll!(p.as_mut()).is_pending());
        let mut out = Vec::new();
        assert_eq!(q.get(&mut out, 0, 5).await, Ok(1));
        assert_eq!(out, [7]);
        assert!(poll!(p.as_mut()).is_ready());
        assert_eq!(q.get(&mut out, 0, 5).await, Ok(0));
    });
}

/// Blocked getters are served before the buffer: a put hands its items to waiting getters
/// first (in FIFO order), and only the rest is buffered.
#[test]
fn blocked_getters_come_before_the_buffer() {
    let rt = runtime(2);
    rt.block_on(async {
        let q = Queue::new(4);
        let mut a = Box::pin(q.get_one());
        let mut out = Vec::new();
        let mut b = Box::pin(q.get(&mut out, 2, 3));
        assert!(poll!(a.as_mut()).is_pending());
        assert!(poll!(b.as_mut()).is_pending());
        q.put_all([1, 2, 3, 4, 5]).await.unwrap();
        assert_eq!(a.await, Ok(1));
        assert_eq!(b.await, Ok(3));
        assert_eq!(out, [2, 3, 4]);
        assert_eq!(q.len(), 1);
        assert_eq!(q.get_one().await, Ok(5));
    });
}

/// `min` semantics: a put waits until `min` items are in, a get until `min` are out; with
/// `min == 0` neither waits. A get takes from waiting putters and refills the buffer from them.
#[test]
fn min_counts() {
    let rt = runtime(2);
    rt.block_on(async {
        let q = Queue::new(2);
        let mut items = VecDeque::from([1, 2, 3, 4, 5]);
        let mut p = Box::pin(q.put(&mut items, 3));
        assert!(poll!(p.as_mut()).is_pending()); // 2 buffered, needs 1 more
        let mut out = Vec::new();
        assert_eq!(q.get(&mut out, 1, 1).await, Ok(1)); // takes 1, refills from the putter
        assert_eq!(p.await, Ok(3));
        assert_eq!(items, [4, 5]);
        assert_eq!(q.get(&mut out, 0, 10).await, Ok(2));
        assert_eq!(out, [1, 2, 3]);
        assert_eq!(q.get(&mut out, 0, 10).await, Ok(0));
        assert_eq!(q.get(&mut out, 0, 0).await, Ok(0));
        assert_eq!(q.put(&mut VecDeque::new(), 0).await, Ok(0));
    });
}

/// `close` wakes every waiter: a getter or putter that moved nothing gets `Closed`, one that
/// moved some gets its count.
#[test]
fn close_wakes_waiters() {
    let rt = runtime(2);
    rt.block_on(async {
        let q = Queue::<i32>::new(1);
        let mut g = Box::pin(q.get_one());
        let mut out = Vec::new();
        assert!(poll!(g.as_mut()).is_pending());
        q.close();
        assert_eq!(g.await, Err(QueueError::Closed));

        let q = Queue::new(1);
        q.put_one(1).await.unwrap();
        let mut p = Box::pin(q.put_one(2));
        assert!(poll!(p.as_mut()).is_pending());
        q.close();
        assert_eq!(p.await.map_err(|e| e.into_inner()), Err(2));

        let q = Queue::new(1);
        let mut g = Box::pin(q.get(&mut out, 3, 3));
        assert!(poll!(g.as_mut()).is_pending());
        q.put_one(9).await.unwrap();
        assert!(poll!(g.as_mut()).is_pending());
        q.close();
        assert_eq!(g.await, Ok(1));
        assert_eq!(out, [9]);
        assert!(q.is_closed());
    });
}

/// Cancellation of a waiting put and of a waiting get, through `JoinHandle::cancel`, returns
/// `Canceled` promptly and leaves no waiter behind.
#[test]
fn cancel_of_waiting_put_and_get_returns_canceled() {
    let rt = runtime(2);
    let io = rt.io();
    let q = Arc::new(Queue::new(1));
    rt.block_on(async {
        let getter = {
            let q = q.clone();
            io.r#async(async move { q.get_one().await })
        };
        until_waiting(&io, &q, 1, 0).await;
        assert_eq!(getter.cancel().await, Err(QueueError::Canceled));

        q.put_one(1).await.unwrap();
        let putter = {
            let q = q.clone();
            io.r#async(async move { q.put_one(2).await.map_err(|e| (e.error, e.item)) })
        };
        until_waiting(&io, &q, 0, 1).await;
        assert_eq!(putter.cancel().await, Err((QueueError::Canceled, 2)));
        until_waiting(&io, &q, 0, 0).await;
        assert_eq!(q.get_one().await, Ok(1));
        assert!(q.is_empty());
    });
}

/// A put canceled midway returns the count it made (the request stays pending), and the next
/// call fails with `Canceled`; the items not put stay with the caller.
#[test]
fn canceled_put_reports_a_short_count_then_fails() {
    let rt = runtime(2);
    let io = rt.io();
    let q = Arc::new(Queue::new(2));
    rt.block_on(async {
        let task = {
            let q = q.clone();
            io.r#async(async move {
                let mut items = VecDeque::from([1, 2, 3, 4]);
                let n = q.put(&mut items, 4).await;
                let next = q.put_one(9).await.map_err(|e| e.error);
                (n, next, items)
            })
        };
        until_waiting(&io, &q, 0, 1).await;
        assert_eq!(task.cancel().await, (Ok(2), Err(QueueError::Canceled), VecDeque::from([3, 4])));
        assert_eq!(q.len(), 2);
    });
}

/// A get canceled midway returns what it took (no item lost) and the next call fails.
#[test]
fn canceled_get_loses_no_item() {
    let rt = runtime(2);
    let io = rt.io();
    let q = Arc::new(Queue::new(4));
    rt.block_on(async {
        let task = {
            let q = q.clone();
            io.r#async(async move {
                let mut out = Vec::new();
                let n = q.get(&mut out, 3, 3).await;
                let next = q.get_one().await;
                (n, out, next)
            })
        };
        until_waiting(&io, &q, 1, 0).await;
        q.put_all([1, 2]).await.unwrap(); // straight to the waiting getter, which needs 1 more
        assert_eq!(task.cancel().await, (Ok(2), vec![1, 2], Err(QueueError::Canceled)));
        assert!(q.is_empty());
    });
}

/// A getter handed an item and canceled in the same instant returns the item (the request
/// stays pending for the task's next cancellation point).
#[test]
fn getter_handed_an_item_when_canceled_returns_it() {
    let rt = runtime(2);
    let io = rt.io();
    let q = Arc::new(Queue::new(1));
    rt.block_on(async {
        let (queued_tx, queued_rx) = oneshot::channel();
        let (go_tx, go_rx) = oneshot::channel::<()>();
        let task = {
            let (q, io) = (q.clone(), io.clone());
            io.clone().r#async(async move {
                let mut g = Box::pin(q.get_one());
                assert!(poll!(g.as_mut()).is_pending());
                queued_tx.send(()).unwrap();
                go_rx.await.unwrap(); // not a cancellation point
                (g.await, io.check_cancel())
            })
        };
        queued_rx.await.unwrap();
        q.put_one(5).await.unwrap(); // handed to the task's getter
        let mut cancel = Box::pin(task.cancel());
        assert!(poll!(cancel.as_mut()).is_pending());
        go_tx.send(()).unwrap();
        assert_eq!(cancel.await, (Ok(5), Err(Canceled)));
    });
}

/// A get future dropped after it was handed an item gives the item back to the front of the
/// queue; dropped while queued, it just leaves.
#[test]
fn dropped_getter_gives_its_item_back() {
    let rt = runtime(2);
    rt.block_on(async {
        let q = Queue::new(1);
        let mut g = Box::pin(q.get_one());
        assert!(poll!(g.as_mut()).is_pending());
        drop(g);
        let mut g = Box::pin(q.get_one());
        assert!(poll!(g.as_mut()).is_pending());
        q.put_one(1).await.unwrap(); // handed to `g`
        q.put_one(2).await.unwrap(); // buffered
        drop(g);
        assert_eq!(q.get_one().await, Ok(1));
        assert_eq!(q.get_one().await, Ok(2));
        // A dropped getter hands its item to the next waiting getter first.
        let mut a = Box::pin(q.get_one());
        let mut b = Box::pin(q.get_one());
        assert!(poll!(a.as_mut()).is_pending());
        assert!(poll!(b.as_mut()).is_pending());
        q.put_one(3).await.unwrap();
        drop(a);
        assert_eq!(b.await, Ok(3));
        // A dropped putter leaves; its item is dropped with it.
        q.put_one(4).await.unwrap();
        let mut p = Box::pin(q.put_one(5));
        assert!(poll!(p.as_mut()).is_pending());
        drop(p);
        assert_eq!(q.get_one().await, Ok(4));
        assert!(format!("{q:?}").ends_with("getters: 0, putters: 0 }"));
    });
}

/// The uncancelable forms do not see a request; the task's next cancellation point does.
#[test]
fn uncancelable_forms_ignore_cancellation() {
    let rt = runtime(2);
    let io = rt.io();
    let q = Arc::new(Queue::new(0));
    rt.block_on(async {
        let task = {
            let (q, io) = (q.clone(), io.clone());
            io.clone().r#async(async move {
                let v = q.get_one_uncancelable().await;
                (v, io.check_cancel())
            })
        };
        until_waiting(&io, &q, 1, 0).await;
        let mut cancel = Box::pin(task.cancel());
        assert!(poll!(cancel.as_mut()).is_pending());
        q.put_one(8).await.unwrap();
        assert_eq!(cancel.await, (Ok(8), Err(Canceled)));
    });
}

/// 4 producers × 25,000 items through queues of capacity 0, 1 and 16 to 4 consumers mixing
/// `get_one` and batched `get`: every item arrives once, each producer's items in order.
#[test]
fn mpmc_every_item_once_in_order() {
    const PER: u32 = 25_000;
    for (threads, cap) in [(2, 0), (4, 1), (4, 16)] {
        let rt = runtime(threads);
        let io = rt.io();
        let q = Arc::new(Queue::<(u32, u32)>::new(cap));
        let seen = rt.block_on(async {
            let producers: Vec<_> = (0..4u32)
                .map(|p| {
                    let q = q.clone();
                    io.r#async(async move {
                        if p % 2 == 0 {
                            for i in 0..PER {
                                q.put_one((p, i)).await.unwrap();
                            }
                        } else {
                            let mut items: VecDeque<_> = (0..PER).map(|i| (p, i)).collect();
                            while !items.is_empty() {
                                let min = items.len().min(7);
                                q.put(&mut items, min).await.unwrap();
                            }
                        }
                    })
                })
                .collect();
            let consumers: Vec<_> = (0..4)
                .map(|c| {
                    let q = q.clone();
                    io.r#async(async move {
                        let mut got = Vec::new();
                        loop {
                            let r = if c % 2 == 0 {
                                q.get_one().await.map(|v| got.push(v))
                            } else {
                                q.get(&mut got, 1, 8).await.map(drop)
                            };
                            if r.is_err() {
                                assert_eq!(r, Err(QueueError::Closed));
                                return got;
                            }
                        }
                    })
                })
                .collect();
            for p in producers {
                p.await;
            }
            q.close();
            let mut all = Vec::new();
            for c in consumers {
                let got = c.await;
                for p in 0..4 {
                    let mine: Vec<_> = got.iter().filter(|x| x.0 == p).map(|x| x.1).collect();
                    assert!(mine.windows(2).all(|w| w[0] < w[1]), "per-producer FIFO");
                }
                all.extend(got);
            }
            all
        });
        let mut seen = seen;
        seen.sort_unstable();
        let expected: Vec<_> = (0..4).flat_map(|p| (0..PER).map(move |i| (p, i))).collect();
        assert!(seen == expected, "capacity {cap}: every item exactly once");
        rt.deinit();
    }
}

/// The `Sink` and `Stream` views: a producer task sends through a sink, a consumer collects a
/// stream until the queue is closed.
#[test]
fn sink_and_stream() {
    let rt = runtime(2);
    let io = rt.io();
    let q = Arc::new(Queue::new(3));
    let got = rt.block_on(async {
        let producer = {
            let q = q.clone();
            io.r#async(async move {
                let mut sink = q.sink();
                for i in 0..100 {
                    sink.send(i).await.unwrap();
                }
                sink.close().await.unwrap();
                q.close();
            })
        };
        let got: Vec<i32> = q.stream().collect().await;
        producer.await;
        got
    });
    assert_eq!(got, (0..100).collect::<Vec<_>>());
    let mut sink = q.sink();
    assert_eq!(rt.block_on(sink.send(1)), Err(QueueError::Closed));
}

/// A stream whose task is canceled while it waits ends, and the request is re-armed for the
/// task's next cancellation point; no item is lost.
#[test]
fn canceled_stream_ends_and_rearms_the_request() {
    let rt = runtime(2);
    let io = rt.io();
    let q = Arc::new(Queue::new(2));
    rt.block_on(async {
        let task = {
            let (q, io) = (q.clone(), io.clone());
            io.clone().r#async(async move {
                let mut s = q.stream();
                let first = s.next().await;
                let second = s.next().await;
                (first, second, io.check_cancel())
            })
        };
        q.put_one(1).await.unwrap();
        until_waiting(&io, &q, 1, 0).await;
        assert_eq!(task.cancel().await, (Some(1), None, Err(Canceled)));
        q.put_one(2).await.unwrap();
        assert_eq!(q.get_one().await, Ok(2));
    });
}

#[test]
fn futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let q = Queue::<String>::new(1);
    let mut d = VecDeque::new();
    let mut v = Vec::new();
    send(&q.put(&mut d, 0));
    send(&q.put_one(String::new()));
    send(&q.put_all([String::new()]));
    send(&q.get(&mut v, 0, 1));
    send(&q.get_one());
    send(&q.stream());
    send(&q.sink());
}
