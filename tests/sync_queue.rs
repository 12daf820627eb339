//! `kqio::sync::Queue`: Zig's Queue tests (FIFO for capacities 1..5, the exact close sequence,
//! a putter and a getter on a zero-capacity queue with no spare thread), the transfer rules
//! (blocked getters before the buffer, `min`), close, cancellation (short counts, no item lost),
//! dropped operations, an MPMC stress run, and the `Stream`/`Sink` views.
//!
//! No test sleeps to order a race: steps are ordered with manual polls, oneshot channels and by
//! yielding until the queue reports waiting getters or putters.

use std::collections::VecDeque;
use std::io::Write;
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

// ----- multi-thread stress: the lock-free fast path against the waiters -----
//
// These runs race the fast paths (a push or pop that claims a ring slot without the lock)
// against tasks that announce themselves and wait, on 2 to 4 workers, many rounds each. A lost
// wake-up would hang a run: the watchdog turns that into a failure. Nothing sleeps; steps are
// ordered by progress counters and yields.

/// Aborts the test process if it is not dropped within `secs` (a lost wake-up hangs instead of
/// failing).
struct Watchdog(Option<std::sync::mpsc::Sender<()>>, Option<std::thread::JoinHandle<()>>);

fn watchdog(what: &'static str, secs: u64) -> Watchdog {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            rx.recv_timeout(std::time::Duration::from_secs(secs))
        {
            // Not `eprintln!`: the test harness captures it, and the abort would lose it.
            let _ = writeln!(std::io::stderr(), "{what}: stuck for {secs} s (a lost wake-up?)");
            std::process::abort();
        }
    });
    Watchdog(Some(tx), Some(t))
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.0.take());
        self.1.take().unwrap().join().unwrap();
    }
}

type Item = (u32, u32);

/// `received` holds every item of `put` exactly once, and nothing else.
fn assert_exactly_once(mut put: Vec<Item>, mut received: Vec<Item>, what: &str) {
    put.sort_unstable();
    received.sort_unstable();
    let dup = received.windows(2).find(|w| w[0] == w[1]);
    assert!(dup.is_none(), "{what}: {:?} received twice", dup.unwrap()[0]);
    let (np, nr) = (put.len(), received.len());
    assert!(put == received, "{what}: {np} items put, {nr} received, not the same");
}

/// Takes everything left in a closed queue.
async fn drain(q: &Queue<Item>) -> Vec<Item> {
    let mut left = Vec::new();
    while q.get(&mut left, 0, usize::MAX).await.is_ok() {}
    left
}

/// Yields until `counter` reaches `n`.
async fn until_count(io: &IoRef, counter: &std::sync::atomic::AtomicUsize, n: usize) {
    while counter.load(std::sync::atomic::Ordering::Relaxed) < n {
        io.yield_now().await;
    }
}

/// 4 producers × 4 consumers on capacities 0, 1, 2 and 1,024, on 2, 3 and 4 workers, every
/// kind of put (one, batch with a `min`, all, sink) against every kind of get (one, batch with
/// `min` 1 and 3, stream): every item arrives exactly once, each producer's items in order.
#[test]
fn stress_every_item_once_for_capacities_0_1_2_1024() {
    const PER: u32 = 3_000;
    let _w = watchdog("stress_every_item_once", 120);
    for cap in [0, 1, 2, 1024] {
        for threads in [2, 3, 4] {
            for round in 0..2 {
                let rt = runtime(threads);
                let io = rt.io();
                let q = Arc::new(Queue::<Item>::new(cap));
                let got = rt.block_on(async {
                    let producers: Vec<_> = (0..4u32)
                        .map(|p| {
                            let q = q.clone();
                            io.concurrent(async move {
                                let mut items: VecDeque<Item> = (0..PER).map(|i| (p, i)).collect();
                                let mut sink = q.sink();
                                let mut k = 0;
                                while !items.is_empty() {
                                    k += 1;
                                    match (p + round) % 4 {
                                        0 => q.put_one(items.pop_front().unwrap()).await.unwrap(),
                                        1 => {
                                            let min = items.len().min(1 + k % 5);
                                            q.put(&mut items, min).await.unwrap();
                                        }
                                        2 => {
                                            let n = items.len().min(3);
                                            q.put_all(items.drain(..n)).await.unwrap();
                                        }
                                        _ => sink.send(items.pop_front().unwrap()).await.unwrap(),
                                    }
                                }
                            })
                            .unwrap()
                        })
                        .collect();
                    let consumers: Vec<_> = (0..4u32)
                        .map(|c| {
                            let q = q.clone();
                            io.concurrent(async move {
                                let mut got = Vec::new();
                                let mut stream = q.stream();
                                loop {
                                    let more = match c % 4 {
                                        0 => q.get_one().await.map(|v| got.push(v)).is_ok(),
                                        1 => q.get(&mut got, 1, 8).await.is_ok(),
                                        2 => q.get(&mut got, 3, 5).await.is_ok(),
                                        _ => stream.next().await.map(|v| got.push(v)).is_some(),
                                    };
                                    if !more {
                                        return got;
                                    }
                                }
                            })
                            .unwrap()
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
                            let mine: Vec<_> =
                                got.iter().filter(|x| x.0 == p).map(|x| x.1).collect();
                            assert!(mine.windows(2).all(|w| w[0] < w[1]), "per-producer FIFO");
                        }
                        all.extend(got);
                    }
                    all
                });
                let put = (0..4).flat_map(|p| (0..PER).map(move |i| (p, i))).collect();
                assert_exactly_once(put, got, &format!("capacity {cap}, {threads} workers"));
                assert!(format!("{q:?}").ends_with("getters: 0, putters: 0 }"));
                rt.deinit();
            }
        }
    }
}

/// Ping-pong, where a missed wake-up cannot be made good by later traffic: each round a putter
/// puts `capacity + 1` items one by one (so it waits on a full ring once) and then waits for an
/// acknowledgement, while a getter takes them one by one (so it waits on an empty ring once).
/// Every round races a fast put against a getter about to wait, and a fast get against a
/// putter about to wait; a lost wake-up hangs the pair, and the watchdog fails the test. Each
/// putter runs in `block_on` on a thread of its own, so that the two sides of a pair run in
/// parallel (two tasks might share a worker), and several pairs run at once.
#[test]
fn stress_ping_pong_no_lost_wake_up() {
    const ROUNDS: u32 = 5_000;
    const PAIRS: usize = 3;
    let _w = watchdog("stress_ping_pong_no_lost_wake_up", 120);
    for cap in [0usize, 1, 2, 3] {
        for threads in [2, 3, 4] {
            let rt = runtime(threads);
            let io = rt.io();
            std::thread::scope(|s| {
                for _ in 0..PAIRS {
                    let q = Arc::new(Queue::<u32>::new(cap));
                    let ack = Arc::new(Queue::<u32>::new(1));
                    let getter = {
                        let (q, ack) = (q.clone(), ack.clone());
                        io.concurrent(async move {
                            let mut next = 0;
                            for r in 0..ROUNDS {
                                for _ in 0..=cap {
                                    assert_eq!(q.get_one().await, Ok(next));
                                    next += 1;
                                }
                                ack.put_one(r).await.unwrap();
                            }
                        })
                        .unwrap()
                    };
                    let rt = &rt;
                    s.spawn(move || {
                        rt.block_on(async {
                            let mut next = 0;
                            for r in 0..ROUNDS {
                                for _ in 0..=cap {
                                    q.put_one(next).await.unwrap();
                                    next += 1;
                                }
                                assert_eq!(ack.get_one().await, Ok(r));
                            }
                            getter.await;
                        })
                    });
                }
            });
            rt.deinit();
        }
    }
}

/// `close` while putters or getters wait (more producers than consumers, and the reverse), at a
/// different point each round: every put that succeeded is received exactly once, every put
/// that failed gets its item back with `Closed`, and a get that failed with `Closed` fails
/// again (closed and empty is final).
#[test]
fn stress_close_while_blocked() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let _w = watchdog("stress_close_while_blocked", 120);
    for cap in [0, 1, 2, 8] {
        for (np, nc) in [(4u32, 1u32), (1, 4), (3, 3)] {
            for round in 0..8usize {
                let rt = runtime(2 + round % 3);
                let io = rt.io();
                let q = Arc::new(Queue::<Item>::new(cap));
                let received = Arc::new(AtomicUsize::new(0));
                let (put, got) = rt.block_on(async {
                    let producers: Vec<_> = (0..np)
                        .map(|p| {
                            let q = q.clone();
                            io.concurrent(async move {
                                let mut put = Vec::new();
                                for i in 0.. {
                                    let r = if i % 2 == 0 {
                                        q.put_one((p, i)).await.map_err(|e| (e.error, e.item))
                                    } else {
                                        let mut one = VecDeque::from([(p, i)]);
                                        match q.put(&mut one, 1).await {
                                            Ok(_) => Ok(()),
                                            Err(e) => Err((e, one.pop_front().unwrap())),
                                        }
                                    };
                                    match r {
                                        Ok(()) => put.push((p, i)),
                                        Err((e, item)) => {
                                            assert_eq!((e, item), (QueueError::Closed, (p, i)));
                                            return put;
                                        }
                                    }
                                }
                                unreachable!()
                            })
                            .unwrap()
                        })
                        .collect();
                    let consumers: Vec<_> = (0..nc)
                        .map(|c| {
                            let (q, received) = (q.clone(), received.clone());
                            io.concurrent(async move {
                                let mut got = Vec::new();
                                loop {
                                    let r = if c % 2 == 0 {
                                        q.get_one().await.map(|v| got.push(v))
                                    } else {
                                        q.get(&mut got, 1, 4).await.map(drop)
                                    };
                                    received.store(got.len(), Ordering::Relaxed);
                                    if let Err(e) = r {
                                        assert_eq!(e, QueueError::Closed);
                                        assert_eq!(q.get_one().await, Err(QueueError::Closed));
                                        return got;
                                    }
                                }
                            })
                            .unwrap()
                        })
                        .collect();
                    until_count(&io, &received, round * 37 % 200).await;
                    q.close();
                    let (mut put, mut got) = (Vec::new(), Vec::new());
                    for p in producers {
                        put.extend(p.await);
                    }
                    for c in consumers {
                        got.extend(c.await);
                    }
                    got.extend(drain(&q).await);
                    (put, got)
                });
                assert_exactly_once(put, got, &format!("capacity {cap}, {np}x{nc}, round {round}"));
                assert!(q.is_empty() && q.is_closed());
                rt.deinit();
            }
        }
    }
}

/// Tasks canceled at arbitrary points while they put and get (queued or not, handed items or
/// not): no item is lost or duplicated. Canceled getters return what they took, canceled
/// putters keep what did not go in; the rest is drained after `close`.
#[test]
fn stress_cancel_putters_and_getters() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let _w = watchdog("stress_cancel_putters_and_getters", 120);
    for cap in [0, 1, 2, 16] {
        for round in 0..8usize {
            let rt = runtime(2 + round % 3);
            let io = rt.io();
            let q = Arc::new(Queue::<Item>::new(cap));
            let received = Arc::new(AtomicUsize::new(0));
            let (put, got) = rt.block_on(async {
                let producers: Vec<_> = (0..4u32)
                    .map(|p| {
                        let q = q.clone();
                        io.concurrent(async move {
                            let mut put = Vec::new();
                            let mut items: VecDeque<Item> = VecDeque::new();
                            for i in 0.. {
                                if p % 2 == 0 {
                                    match q.put_one((p, i)).await {
                                        Ok(()) => put.push((p, i)),
                                        Err(e) => {
                                            assert_eq!(e.item, (p, i));
                                            return put;
                                        }
                                    }
                                } else {
                                    items.extend([(p, 2 * i), (p, 2 * i + 1)]);
                                    let before = items.clone();
                                    let r = q.put(&mut items, 2).await;
                                    let n = before.len() - items.len();
                                    assert_eq!(r.unwrap_or(0), n);
                                    put.extend(before.iter().take(n));
                                    if r.is_err() || n < 2 {
                                        return put;
                                    }
                                }
                            }
                            unreachable!()
                        })
                        .unwrap()
                    })
                    .collect();
                let consumers: Vec<_> = (0..4u32)
                    .map(|c| {
                        let (q, received) = (q.clone(), received.clone());
                        io.concurrent(async move {
                            let mut got = Vec::new();
                            loop {
                                let r = if c % 2 == 0 {
                                    q.get_one().await.map(|v| got.push(v))
                                } else {
                                    q.get(&mut got, 2, 3).await.map(drop)
                                };
                                received.fetch_add(1, Ordering::Relaxed);
                                if r.is_err() {
                                    return got;
                                }
                            }
                        })
                        .unwrap()
                    })
                    .collect();
                let mut producers: VecDeque<_> = producers.into();
                let mut consumers: VecDeque<_> = consumers.into();
                let (mut put, mut got) = (Vec::new(), Vec::new());
                // Cancel one getter and one putter at a time, each after some progress.
                let mut target = 0;
                for k in 0..4 {
                    target += 50 + (round * 13 + k * 7) % 100;
                    until_count(&io, &received, target).await;
                    if k < 3 {
                        got.extend(consumers.pop_front().unwrap().cancel().await);
                    }
                    put.extend(producers.pop_front().unwrap().cancel().await);
                }
                got.extend(consumers.pop_front().unwrap().cancel().await);
                q.close();
                got.extend(drain(&q).await);
                (put, got)
            });
            assert_exactly_once(put, got, &format!("capacity {cap}, round {round}"));
            rt.deinit();
        }
    }
}

/// Get futures polled once and then dropped, some after they were handed an item (which goes
/// back to the queue's front, or to the next waiting getter), against producers on the fast
/// path: every item arrives exactly once.
#[test]
fn stress_dropped_getters_give_items_back() {
    let _w = watchdog("stress_dropped_getters_give_items_back", 120);
    const PER: u32 = 2_000;
    for cap in [0, 1, 2, 16] {
        for round in 0..4usize {
            let rt = runtime(2 + round % 3);
            let io = rt.io();
            let q = Arc::new(Queue::<Item>::new(cap));
            let got = rt.block_on(async {
                let producers: Vec<_> = (0..3u32)
                    .map(|p| {
                        let q = q.clone();
                        io.concurrent(async move {
                            for i in 0..PER {
                                q.put_one((p, i)).await.unwrap();
                            }
                        })
                        .unwrap()
                    })
                    .collect();
                let consumers: Vec<_> = (0..3usize)
                    .map(|c| {
                        let (q, io) = (q.clone(), io.clone());
                        io.clone()
                            .concurrent(async move {
                                let mut got = Vec::new();
                                for k in 0.. {
                                    let mut g = std::pin::pin!(q.get_one());
                                    let r = match poll!(g.as_mut()) {
                                        std::task::Poll::Ready(r) => r,
                                        std::task::Poll::Pending => {
                                            io.yield_now().await;
                                            if (k + c) % 3 == 0 {
                                                continue; // dropped, maybe holding an item
                                            }
                                            g.await
                                        }
                                    };
                                    match r {
                                        Ok(v) => got.push(v),
                                        Err(_) => return got,
                                    }
                                }
                                unreachable!()
                            })
                            .unwrap()
                    })
                    .collect();
                for p in producers {
                    p.await;
                }
                q.close();
                let mut got = Vec::new();
                for c in consumers {
                    got.extend(c.await);
                }
                got.extend(drain(&q).await);
                got
            });
            let put = (0..3).flat_map(|p| (0..PER).map(move |i| (p, i))).collect();
            assert_exactly_once(put, got, &format!("capacity {cap}, round {round}"));
            rt.deinit();
        }
    }
}
