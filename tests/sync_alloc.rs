//! Waking many waiters allocates nothing: a `Condition::broadcast`, an `Event::set`, a write
//! unlock that admits many readers and a `Queue` put that completes many getters, each to
//! `WAITERS` queued waiters, make no heap allocation on the waking thread. A counting global
//! allocator proves it (counting only on the thread that measures, so other tests' threads do
//! not add to it). The futures are polled by hand, with no runtime, so that nothing but the
//! primitive runs while it counts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use kqio::sync::{Condition, Event, Mutex, Queue, RwLock};

struct Counting;

thread_local! {
    /// Allocations made by this thread while counting; `None` while not counting.
    static ALLOCATIONS: Cell<Option<usize>> = const { Cell::new(None) };
}

fn note_allocation() {
    // `try_with`: a thread being torn down has no thread-locals left, and allocates then too.
    let _ = ALLOCATIONS.try_with(|a| {
        if let Some(n) = a.get() {
            a.set(Some(n + 1));
        }
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s
// guarantees carry over; the counter is a thread-local `Cell` with a const initialiser, whose
// access allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded as is (see the impl).
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Waiters woken at once: the most a wake batch holds without allocating.
const WAITERS: usize = 16;

/// The allocations this thread makes while running `f`.
fn allocations_of(f: impl FnOnce()) -> usize {
    ALLOCATIONS.with(|a| a.set(Some(0)));
    f();
    ALLOCATIONS.with(|a| a.take()).expect("counting")
}

/// Polls `f` once with a waker that does nothing (the tests poll again themselves).
fn poll_once<F: Future + ?Sized>(f: Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

/// Polls `f` once and returns its output; it must be ready.
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match poll_once(f.as_mut()) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("expected a future that is ready at once"),
    }
}

/// Polls every future once and asserts each is waiting.
fn all_pending<F: Future + ?Sized>(futures: &mut [Pin<Box<F>>]) {
    for f in futures.iter_mut() {
        assert!(poll_once(f.as_mut()).is_pending(), "a waiter did not wait");
    }
}

/// Polls every future once, asserts each is done (`what` says what failed otherwise), and
/// returns their outputs.
fn all_ready<F: Future + ?Sized>(futures: &mut [Pin<Box<F>>], what: &str) -> Vec<F::Output> {
    let mut outputs = Vec::with_capacity(futures.len());
    for f in futures.iter_mut() {
        match poll_once(f.as_mut()) {
            Poll::Ready(v) => outputs.push(v),
            Poll::Pending => panic!("{what}"),
        }
    }
    outputs
}

#[test]
fn a_broadcast_to_many_waiters_allocates_nothing() {
    let mutexes: Vec<Mutex<()>> = (0..WAITERS).map(|_| Mutex::new(())).collect();
    let cond = Condition::new();
    let mut waits: Vec<Pin<Box<dyn Future<Output = _>>>> = mutexes
        .iter()
        .map(|m| Box::pin(cond.wait_uncancelable(ready(m.lock_uncancelable()))) as Pin<Box<_>>)
        .collect();
    all_pending(&mut waits);
    assert_eq!(allocations_of(|| cond.broadcast()), 0, "Condition::broadcast");
    all_ready(&mut waits, "a waiter was not woken");
}

#[test]
fn setting_an_event_with_many_waiters_allocates_nothing() {
    let event = Event::new();
    let mut waits: Vec<Pin<Box<dyn Future<Output = ()>>>> =
        (0..WAITERS).map(|_| Box::pin(event.wait_uncancelable()) as Pin<Box<_>>).collect();
    all_pending(&mut waits);
    assert_eq!(allocations_of(|| event.set()), 0, "Event::set");
    all_ready(&mut waits, "a waiter was not woken");
}

#[test]
fn a_write_unlock_that_admits_many_readers_allocates_nothing() {
    let lock = RwLock::new(0u32);
    let writer = ready(lock.write_uncancelable());
    let mut reads: Vec<Pin<Box<dyn Future<Output = _>>>> =
        (0..WAITERS).map(|_| Box::pin(lock.read_uncancelable()) as Pin<Box<_>>).collect();
    all_pending(&mut reads);
    assert_eq!(allocations_of(|| drop(writer)), 0, "the write unlock");
    all_ready(&mut reads, "a reader was not admitted");
}

#[test]
fn a_put_that_completes_many_getters_allocates_nothing() {
    let queue = Queue::new(0);
    let mut gets: Vec<Pin<Box<dyn Future<Output = _>>>> =
        (0..WAITERS).map(|_| Box::pin(queue.get_one_uncancelable()) as Pin<Box<_>>).collect();
    all_pending(&mut gets);
    let mut items: VecDeque<u32> = (0..WAITERS as u32).collect();
    let mut put = std::pin::pin!(queue.put_uncancelable(&mut items, WAITERS));
    let mut done = None;
    assert_eq!(allocations_of(|| done = Some(poll_once(put.as_mut()))), 0, "Queue::put");
    assert!(done.is_some_and(|p| p.is_ready()), "the put did not complete");
    let got = all_ready(&mut gets, "a getter was not handed an item");
    assert_eq!(got.len(), WAITERS);
}
