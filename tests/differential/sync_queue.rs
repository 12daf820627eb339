//! `Queue`: FIFO at every capacity, Zig's close sequence, rendezvous (capacity 0), blocked
//! getters served before the buffer, close waking waiters, canceled gets and puts (nothing lost),
//! many producers and consumers, and the `Stream`/`Sink` views.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::{poll, SinkExt, StreamExt};
use kqio::sync::{Closed, Queue, QueueError};
use kqio::Canceled;

use crate::harness::Ctx;
use crate::util::until_count;

differential!(sync_queue:
    queue_is_fifo_for_capacities_0_to_5,
    queue_close_sequence,
    queue_rendezvous_putter_and_getter,
    queue_blocked_getters_come_before_the_buffer,
    queue_close_wakes_waiting_getters_and_putters,
    queue_canceled_get_takes_nothing,
    queue_canceled_put_reports_what_it_put,
    queue_many_producers_and_consumers,
    queue_sink_and_stream,
    queue_canceled_stream_ends_and_rearms,
);

async fn queue_is_fifo_for_capacities_0_to_5(t: Ctx) {
    let io = t.io;
    for cap in 0..=5usize {
        let q = Arc::new(Queue::new(cap));
        let q2 = q.clone();
        let producer = io.r#async(async move {
            for i in 0..40u32 {
                q2.put_one(i).await.unwrap();
            }
            q2.close();
        });
        let mut got = Vec::new();
        while let Ok(v) = q.get_one().await {
            got.push(v);
        }
        producer.await;
        assert_eq!(got, (0..40).collect::<Vec<_>>(), "capacity {cap}");
    }
}

async fn queue_close_sequence(t: Ctx) {
    let _ = t;
    let q: Queue<u8> = Queue::new(10);
    q.put_all(0..=6).await.unwrap();
    let mut more = VecDeque::from([7, 8, 9, 10]);
    assert_eq!(q.put(&mut more, 0).await, Ok(3));
    assert_eq!(more, [10]);
    let mut buf = Vec::new();
    assert_eq!(q.get(&mut buf, 0, 4).await, Ok(4));
    assert_eq!(buf, [0, 1, 2, 3]);
    assert_eq!(q.get_one().await, Ok(4));
    q.put_all([20, 21]).await.unwrap();
    q.close();
    assert!(q.is_closed());
    buf.clear();
    assert_eq!(q.get(&mut buf, 0, 4).await, Ok(4));
    assert_eq!(buf, [5, 6, 7, 8]);
    assert_eq!(q.get_one().await, Ok(9));
    assert_eq!(q.put_one(100).await.map_err(|e| (e.error, e.item)), Err((QueueError::Closed, 100)));
    assert_eq!(q.put_all([101, 102]).await, Err(QueueError::Closed));
    buf.clear();
    assert_eq!(q.get(&mut buf, 4, 4).await, Ok(2));
    assert_eq!(buf, [20, 21]);
    assert_eq!(q.get_one().await, Err(QueueError::Closed));
    assert_eq!(q.get_one_uncancelable().await, Err(Closed));
}

async fn queue_rendezvous_putter_and_getter(t: Ctx) {
    let io = t.io;
    let q = Arc::new(Queue::<u8>::new(0));
    let q2 = q.clone();
    let putter = io.concurrent(async move { q2.put_one_uncancelable(42).await.unwrap() }).unwrap();
    assert_eq!(q.get_one_uncancelable().await, Ok(42));
    putter.await;
    let mut nothing = VecDeque::from([1]);
    assert_eq!(q.put(&mut nothing, 0).await, Ok(0), "no getter: nothing fits");
    let (q3, q4) = (q.clone(), q.clone());
    let putter = io.concurrent(async move { q3.put_one_uncancelable(43).await.unwrap() }).unwrap();
    let getter = io.concurrent(async move { q4.get_one_uncancelable().await.unwrap() }).unwrap();
    assert_eq!(getter.await, 43);
    putter.await;
}

async fn queue_blocked_getters_come_before_the_buffer(t: Ctx) {
    let _ = t;
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
}

async fn queue_close_wakes_waiting_getters_and_putters(t: Ctx) {
    let io = t.io;
    let empty = Arc::new(Queue::<u8>::new(1));
    let getters: Vec<_> = (0..3)
        .map(|_| {
            let q = empty.clone();
            io.r#async(async move { q.get_one().await })
        })
        .collect();
    until_count(&io, &*empty, "getters", 3).await;
    empty.close();
    for g in getters {
        assert_eq!(g.await, Err(QueueError::Closed));
    }
    let full = Arc::new(Queue::<u8>::new(1));
    full.put_one(1).await.unwrap();
    let q = full.clone();
    let putter = io.r#async(async move { q.put_one(2).await.map_err(|e| (e.error, e.item)) });
    until_count(&io, &*full, "putters", 1).await;
    full.close();
    assert_eq!(putter.await, Err((QueueError::Closed, 2)));
    assert_eq!(full.get_one().await, Ok(1), "what was buffered stays readable");
}

async fn queue_canceled_get_takes_nothing(t: Ctx) {
    let io = t.io;
    let q = Arc::new(Queue::<u32>::new(2));
    let q2 = q.clone();
    let getter = io.r#async(async move { q2.get_one().await });
    until_count(&io, &*q, "getters", 1).await;
    assert_eq!(getter.cancel().await, Err(QueueError::Canceled));
    q.put_one(5).await.unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q.get_one().await, Ok(5));
}

async fn queue_canceled_put_reports_what_it_put(t: Ctx) {
    let io = t.io;
    let q = Arc::new(Queue::<u32>::new(2));
    let (q2, io2) = (q.clone(), io.clone());
    let putter = io.r#async(async move {
        let mut items = VecDeque::from([1, 2, 3, 4]);
        let r = q2.put(&mut items, 4).await;
        (r, items, io2.check_cancel())
    });
    until_count(&io, &*q, "putters", 1).await;
    let (r, left, next) = putter.cancel().await;
    // Two fit in the buffer before the wait: their count is returned, the rest handed back, and
    // the request stays pending for the next cancellation point.
    assert_eq!(r, Ok(2));
    assert_eq!(left, [3, 4]);
    assert_eq!(next, Err(Canceled));
    let mut out = Vec::new();
    assert_eq!(q.get(&mut out, 0, 10).await, Ok(2));
    assert_eq!(out, [1, 2]);
}

async fn queue_many_producers_and_consumers(t: Ctx) {
    let io = t.io;
    const PER: u32 = 300;
    for cap in [0usize, 1, 16] {
        let q = Arc::new(Queue::new(cap));
        let producers: Vec<_> = (0..4u32)
            .map(|p| {
                let q = q.clone();
                io.r#async(async move {
                    for i in 0..PER {
                        q.put_one((p, i)).await.unwrap();
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..3)
            .map(|c| {
                let q = q.clone();
                io.r#async(async move {
                    let mut got = Vec::new();
                    loop {
                        let r = if c == 0 {
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
        all.sort_unstable();
        let want: Vec<_> = (0..4).flat_map(|p| (0..PER).map(move |i| (p, i))).collect();
        assert!(all == want, "capacity {cap}: every item exactly once");
    }
}

async fn queue_sink_and_stream(t: Ctx) {
    let io = t.io;
    let q = Arc::new(Queue::new(3));
    let q2 = q.clone();
    let producer = io.r#async(async move {
        let mut sink = q2.sink();
        for i in 0..100 {
            sink.send(i).await.unwrap();
        }
        sink.close().await.unwrap();
        q2.close();
    });
    let got: Vec<i32> = q.stream().collect().await;
    producer.await;
    assert_eq!(got, (0..100).collect::<Vec<_>>());
    assert_eq!(q.sink().send(1).await, Err(QueueError::Closed));
}

async fn queue_canceled_stream_ends_and_rearms(t: Ctx) {
    let io = t.io;
    let q = Arc::new(Queue::new(2));
    let (q2, io2) = (q.clone(), io.clone());
    let task = io.r#async(async move {
        let mut s = q2.stream();
        let first = s.next().await;
        let second = s.next().await;
        (first, second, io2.check_cancel())
    });
    q.put_one(1).await.unwrap();
    until_count(&io, &*q, "getters", 1).await;
    assert_eq!(task.cancel().await, (Some(1), None, Err(Canceled)));
    q.put_one(2).await.unwrap();
    assert_eq!(q.get_one().await, Ok(2));
}
