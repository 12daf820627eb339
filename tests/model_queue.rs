//! `Queue` against a model of Zig's `Io.Queue` semantics (`/work/shared/zig-io.md`): random
//! sequences of `put_one`, `get_one`, `put(min 0)`, `get(min 0)`, `close` and drops of waiting
//! operations, on capacities 0 (a rendezvous) to 5, driven on one thread by polling each
//! operation's future by hand.
//!
//! The model: a buffer of at most `capacity` items (one more, briefly, when a dropped getter
//! gives its item back), FIFO lines of waiting getters and putters, and a closed flag.
//! - A put hands its item to the first waiting getter, else buffers it if there is room, else
//!   waits in line (`put(min 0)` stops there instead). On a closed queue it fails.
//! - A get takes the buffer's front, and the first waiting putter then refills the buffer; with
//!   nothing buffered it takes straight from the first waiting putter (capacity 0); else it
//!   fails if the queue is closed, or waits in line (`get(min 0)` returns what it has).
//! - `close` fails every waiting operation (a putter gets its item back); buffered items stay to
//!   be drained.
//! - A getter handed an item but dropped before it saw it gives the item to the next waiting
//!   getter, or back to the buffer's front.
//!
//! After each step every waiting future is polled: exactly those the model completed are ready,
//! with the model's result, and each of them was woken.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use kqio::sync::{GetOne, PutOne, PutOneError, Queue, QueueError};
use proptest::prelude::*;

#[derive(Debug, Clone, Copy)]
enum Op {
    PutOne,
    GetOne,
    /// `put(&mut items, 0)` of this many items.
    PutSome(usize),
    /// `get(&mut out, 0, max)`.
    GetSome(usize),
    Close,
    /// Drops the n-th waiting operation.
    Drop(usize),
    /// `put_one`, then (before anything is polled) drops the n-th waiting getter: the item it
    /// may have been handed must not be lost.
    PutThenDropGetter(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::PutOne),
        6 => Just(Op::GetOne),
        2 => (1usize..5).prop_map(Op::PutSome),
        2 => (1usize..5).prop_map(Op::GetSome),
        1 => Just(Op::Close),
        2 => any::<usize>().prop_map(Op::Drop),
        2 => any::<usize>().prop_map(Op::PutThenDropGetter),
    ]
}

struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A waiting operation of the queue under test.
enum Fut<'q> {
    Get(Pin<Box<GetOne<'q, u32>>>),
    Put(Pin<Box<PutOne<'q, u32>>>),
}

/// What an operation returned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Done {
    Got(Result<u32, QueueError>),
    Put(Result<(), PutOneError<u32>>),
}

struct Waiting<'q> {
    id: usize,
    fut: Fut<'q>,
    flag: Arc<Flag>,
    waker: Waker,
}

impl Waiting<'_> {
    fn poll(&mut self) -> Option<Done> {
        let mut cx = Context::from_waker(&self.waker);
        match &mut self.fut {
            Fut::Get(f) => match f.as_mut().poll(&mut cx) {
                Poll::Ready(r) => Some(Done::Got(r)),
                Poll::Pending => None,
            },
            Fut::Put(f) => match f.as_mut().poll(&mut cx) {
                Poll::Ready(r) => Some(Done::Put(r)),
                Poll::Pending => None,
            },
        }
    }
}

/// The model of the queue.
#[derive(Default)]
struct Model {
    capacity: usize,
    buffer: VecDeque<u32>,
    getters: VecDeque<usize>,
    putters: VecDeque<(usize, u32)>,
    closed: bool,
    /// Results of waiting operations completed by the last step, by id.
    completed: Vec<(usize, Done)>,
}

impl Model {
    /// A put of one item that does not wait: `Ok(true)` if it went in.
    fn offer(&mut self, item: u32) -> bool {
        if let Some(g) = self.getters.pop_front() {
            self.completed.push((g, Done::Got(Ok(item))));
            true
        } else if self.buffer.len() < self.capacity {
            self.buffer.push_back(item);
            true
        } else {
            false
        }
    }

    /// A get of one item that does not wait.
    fn take(&mut self) -> Option<u32> {
        if let Some(v) = self.buffer.pop_front() {
            while self.buffer.len() < self.capacity {
                let Some((p, item)) = self.putters.pop_front() else { break };
                self.buffer.push_back(item);
                self.completed.push((p, Done::Put(Ok(()))));
            }
            Some(v)
        } else if let Some((p, item)) = self.putters.pop_front() {
            self.completed.push((p, Done::Put(Ok(()))));
            Some(item)
        } else {
            None
        }
    }

    /// `put_one`: the result now, or `None` if it waits as `id`.
    fn put_one(&mut self, id: usize, item: u32) -> Option<Done> {
        if self.closed {
            return Some(Done::Put(Err(PutOneError { error: QueueError::Closed, item })));
        }
        if self.offer(item) {
            return Some(Done::Put(Ok(())));
        }
        self.putters.push_back((id, item));
        None
    }

    fn get_one(&mut self, id: usize) -> Option<Done> {
        if let Some(v) = self.take() {
            return Some(Done::Got(Ok(v)));
        }
        if self.closed {
            return Some(Done::Got(Err(QueueError::Closed)));
        }
        self.getters.push_back(id);
        None
    }

    fn put_some(&mut self, items: &mut VecDeque<u32>) -> Result<usize, QueueError> {
        if self.closed {
            return Err(QueueError::Closed);
        }
        let mut n = 0;
        while let Some(&item) = items.front() {
            if !self.offer(item) {
                break;
            }
            items.pop_front();
            n += 1;
        }
        Ok(n)
    }

    fn get_some(&mut self, out: &mut Vec<u32>, max: usize) -> Result<usize, QueueError> {
        while out.len() < max {
            match self.take() {
                Some(v) => out.push(v),
                None => break,
            }
        }
        if out.is_empty() && self.closed {
            return Err(QueueError::Closed);
        }
        Ok(out.len())
    }

    fn close(&mut self) {
        self.closed = true;
        for g in self.getters.drain(..) {
            self.completed.push((g, Done::Got(Err(QueueError::Closed))));
        }
        for (p, item) in self.putters.drain(..) {
            let error = PutOneError { error: QueueError::Closed, item };
            self.completed.push((p, Done::Put(Err(error))));
        }
    }

    /// A waiting operation dropped: it leaves its line; a getter that was handed an item (a
    /// completion not yet seen) passes it on.
    fn drop_waiting(&mut self, id: usize) {
        self.getters.retain(|&g| g != id);
        self.putters.retain(|&(p, _)| p != id);
        if let Some(at) = self.completed.iter().position(|(c, _)| *c == id) {
            if let (_, Done::Got(Ok(item))) = self.completed.remove(at) {
                if let Some(g) = self.getters.pop_front() {
                    self.completed.push((g, Done::Got(Ok(item))));
                } else {
                    self.buffer.push_front(item);
                }
            }
        }
    }
}

fn start(fut: Fut<'_>, id: usize) -> Waiting<'_> {
    let flag = Arc::new(Flag(AtomicBool::new(false)));
    let waker = Waker::from(flag.clone());
    Waiting { id, fut, flag, waker }
}

fn run(capacity: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let queue = Queue::<u32>::new(capacity);
    let mut model = Model { capacity, ..Model::default() };
    let mut waiting: Vec<Waiting<'_>> = Vec::new();
    let mut next_item = 0u32;
    for (id, op) in ops.into_iter().enumerate() {
        match op {
            Op::PutOne | Op::PutThenDropGetter(_) => {
                let item = next_item;
                next_item += 1;
                let mut w = start(Fut::Put(Box::pin(queue.put_one(item))), id);
                let got = w.poll();
                prop_assert_eq!(&got, &model.put_one(id, item), "put_one({})", item);
                if got.is_none() {
                    waiting.push(w);
                }
                if let Op::PutThenDropGetter(n) = op {
                    let getters: Vec<usize> = waiting
                        .iter()
                        .enumerate()
                        .filter(|(_, w)| matches!(w.fut, Fut::Get(_)))
                        .map(|(i, _)| i)
                        .collect();
                    if !getters.is_empty() {
                        let w = waiting.remove(getters[n % getters.len()]);
                        model.drop_waiting(w.id);
                        drop(w);
                    }
                }
            }
            Op::GetOne => {
                let mut w = start(Fut::Get(Box::pin(queue.get_one())), id);
                let got = w.poll();
                prop_assert_eq!(&got, &model.get_one(id), "get_one");
                if got.is_none() {
                    waiting.push(w);
                }
            }
            Op::PutSome(k) => {
                let mut items: VecDeque<u32> = (next_item..next_item + k as u32).collect();
                next_item += k as u32;
                let mut expected_left = items.clone();
                let want = model.put_some(&mut expected_left);
                let got = futures::executor::block_on(queue.put(&mut items, 0));
                prop_assert_eq!(got, want, "put {} items, min 0", k);
                prop_assert_eq!(items, expected_left);
            }
            Op::GetSome(max) => {
                let (mut out, mut expected) = (Vec::new(), Vec::new());
                let want = model.get_some(&mut expected, max);
                let got = futures::executor::block_on(queue.get(&mut out, 0, max));
                prop_assert_eq!(got, want, "get min 0 max {}", max);
                prop_assert_eq!(out, expected);
            }
            Op::Close => {
                queue.close();
                model.close();
                prop_assert!(queue.is_closed());
            }
            Op::Drop(n) => {
                if !waiting.is_empty() {
                    let w = waiting.remove(n % waiting.len());
                    model.drop_waiting(w.id);
                }
            }
        }
        // Every waiting operation: ready exactly when the model completed it, and woken.
        let completed = std::mem::take(&mut model.completed);
        let mut still = Vec::new();
        for mut w in waiting.drain(..) {
            let expected = completed.iter().find(|(c, _)| *c == w.id).map(|(_, d)| d.clone());
            let woken = w.flag.0.swap(false, Ordering::SeqCst);
            let got = w.poll();
            prop_assert_eq!(&got, &expected, "waiting operation {} after {:?}", w.id, op);
            if got.is_some() {
                prop_assert!(woken, "operation {} completed without a wake-up", w.id);
            } else {
                still.push(w);
            }
        }
        waiting = still;
        prop_assert_eq!(queue.len(), model.buffer.len(), "buffered after {:?}", op);
    }
    // The end: close, and the buffer drains in the model's order, then gets fail.
    drop(waiting);
    queue.close();
    let mut drained = Vec::new();
    while let Ok(v) = futures::executor::block_on(queue.get_one()) {
        drained.push(v);
    }
    prop_assert_eq!(drained, Vec::from(model.buffer.clone()));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn queue_matches_zigs_semantics(capacity in 0usize..6, ops in prop::collection::vec(op(), 1..60)) {
        run(capacity, ops)?;
    }
}
