//! Loom models of the task state: kqio's cancel word and header waker around real async-task
//! tasks. async-task itself is not loom-instrumented (its state word is no preemption point):
//! these models check kqio's protocols around it, with real spawned tasks run by a model
//! executor (a loom-locked run queue).
//!
//! Leak checks: the executor's `Arc` strong count returns to 1 (every task reference, waker and
//! runnable is gone), the future is dropped exactly once (`task_finished` once per spawn), and a
//! task's output is dropped (an `Arc` it holds returns to count 1).

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;

use super::cancel::{CancelProtection, CancelState, RequestOutcome};
use super::header::{Runnable, Schedule, TaskHeader};
use super::spawn::{spawn, ScheduleReason};
use super::{current, JoinHandle};
use crate::error::Canceled;
use crate::loom::future::AtomicWaker;
use crate::loom::model::{block_on_as, model};
use crate::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use crate::loom::sync::{Condvar, Mutex};

/// A model executor: a run queue under a loom lock, and counters of the `Schedule` hooks.
#[derive(Default)]
struct Exec {
    queue: Mutex<VecDeque<Runnable>>,
    cv: Condvar,
    started: AtomicUsize,
    finished: AtomicUsize,
}

impl Schedule for Exec {
    fn schedule(&self, runnable: Runnable, _reason: ScheduleReason) {
        self.queue.lock().unwrap().push_back(runnable);
        self.cv.notify_one();
    }

    fn task_spawned(&self, _task: &TaskHeader) {
        self.started.fetch_add(1, Ordering::SeqCst);
    }

    fn task_finished(&self, _task: &TaskHeader) {
        self.finished.fetch_add(1, Ordering::SeqCst);
    }
}

impl Exec {
    fn new() -> Arc<Exec> {
        Arc::new(Exec::default())
    }

    /// Runs queued tasks until `n` tasks have finished (their futures dropped), waiting for
    /// wake-ups meanwhile: a task that is never rescheduled is a deadlock loom reports.
    fn run_until_finished(&self, n: usize) {
        loop {
            let next = {
                let mut q = self.queue.lock().unwrap();
                loop {
                    if let Some(r) = q.pop_front() {
                        break Some(r);
                    }
                    if self.finished.load(Ordering::SeqCst) >= n {
                        break None;
                    }
                    q = self.cv.wait(q).unwrap();
                }
            };
            match next {
                Some(r) => {
                    r.run();
                    // A task that ended wakes the loop's own wait (it may be the last one).
                    self.cv.notify_one();
                }
                None => return,
            }
        }
    }

    /// The leak check: nothing but the model holds the executor.
    fn assert_no_leak(self: &Arc<Self>, spawned: usize) {
        assert_eq!(self.finished.load(Ordering::SeqCst), spawned, "each future dropped once");
        assert!(self.queue.lock().unwrap().is_empty());
        assert_eq!(Arc::strong_count(self), 1, "a task, waker or runnable leaked");
    }
}

fn owner(exec: &Arc<Exec>) -> Arc<dyn Schedule> {
    exec.clone()
}

/// An event another thread signals: a flag and the waker of the task waiting for it.
struct Signal {
    set: AtomicBool,
    waker: AtomicWaker,
}

impl Signal {
    fn new() -> Arc<Signal> {
        Arc::new(Signal { set: AtomicBool::new(false), waker: AtomicWaker::new() })
    }

    fn set(&self) {
        self.set.store(true, Ordering::SeqCst);
        self.waker.wake();
    }

    /// Ready once set (register, then re-check: no lost wake-up).
    fn poll(&self, cx: &mut std::task::Context<'_>) -> Poll<()> {
        if self.set.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        self.waker.register(cx.waker());
        if self.set.load(Ordering::SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

fn output_of<T>(handle: JoinHandle<T>) -> T {
    block_on_as(&TaskHeader::detached(false), handle)
}

/// A wake that arrives while the task is being polled (after it registered its waker, before
/// its poll returns) reschedules it: the task completes, polled again, never lost.
#[test]
fn wake_during_poll() {
    model(|| {
        let exec = Exec::new();
        let sig = Signal::new();
        let polls = Arc::new(AtomicUsize::new(0));
        let handle = {
            let (sig, polls) = (sig.clone(), polls.clone());
            spawn(owner(&exec), async move {
                poll_fn(|cx| {
                    polls.fetch_add(1, Ordering::SeqCst);
                    sig.poll(cx)
                })
                .await;
                42
            })
        };
        let waker = {
            let sig = sig.clone();
            loom::thread::spawn(move || sig.set())
        };
        exec.run_until_finished(1);
        waker.join().unwrap();
        assert_eq!(output_of(handle), 42);
        assert!(polls.load(Ordering::SeqCst) <= 2, "one poll, or two around the wake");
        drop(sig);
        exec.assert_no_leak(1);
    });
}

/// An event wake and a cancellation request race a waiting task: it ends exactly once, with
/// the event or with `Canceled` (delivered at most once), and is never stranded.
#[test]
fn wake_and_cancel() {
    model(|| {
        let exec = Exec::new();
        let sig = Signal::new();
        let handle = Arc::new({
            let sig = sig.clone();
            spawn(owner(&exec), async move {
                poll_fn(|cx| {
                    if current::check_cancel().is_err() {
                        return Poll::Ready(Err(Canceled));
                    }
                    sig.poll(cx).map(Ok)
                })
                .await
            })
        });
        let canceler = {
            let handle = handle.clone();
            loom::thread::spawn(move || handle.request_cancel())
        };
        let waker = {
            let sig = sig.clone();
            loom::thread::spawn(move || sig.set())
        };
        exec.run_until_finished(1);
        canceler.join().unwrap();
        waker.join().unwrap();
        let handle = Arc::try_unwrap(handle).unwrap();
        let out = output_of(handle);
        assert!(out == Ok(()) || out == Err(Canceled));
        drop(sig);
        exec.assert_no_leak(1);
    });
}

/// A request racing the first poll of a task that waits for nothing else: the task keeps its
/// waker only from that poll's `Pending` (`spawn::keep_waker`), so a request made during the
/// poll, after its check, finds no waker; the check after registering must wake the task, or
/// it is stranded (a deadlock loom reports).
#[test]
fn cancel_races_the_first_poll() {
    model(|| {
        let exec = Exec::new();
        let handle = Arc::new(spawn(owner(&exec), async move {
            poll_fn(|_| match current::check_cancel() {
                Err(Canceled) => Poll::Ready(()),
                Ok(()) => Poll::Pending,
            })
            .await
        }));
        let canceler = {
            let handle = handle.clone();
            loom::thread::spawn(move || handle.request_cancel())
        };
        exec.run_until_finished(1);
        canceler.join().unwrap();
        output_of(Arc::try_unwrap(handle).unwrap());
        exec.assert_no_leak(1);
    });
}

/// A cancellation request racing the task's last poll: the task's output is what its code
/// decided (the value, or `Canceled` if its cancellation point saw the request), the request
/// is harmless after completion, and nothing leaks.
#[test]
fn cancel_during_completion() {
    model(|| {
        let exec = Exec::new();
        let handle = Arc::new(spawn(owner(&exec), async { current::check_cancel().map(|()| 7) }));
        let canceler = {
            let handle = handle.clone();
            loom::thread::spawn(move || handle.request_cancel())
        };
        exec.run_until_finished(1);
        canceler.join().unwrap();
        let handle = Arc::try_unwrap(handle).unwrap();
        assert!(handle.is_finished());
        let out = output_of(handle);
        assert!(out == Ok(7) || out == Err(Canceled));
        exec.assert_no_leak(1);
    });
}

/// The handle is dropped while the task is scheduled (woken, in the run queue) or running:
/// the future is dropped exactly once, on the executor, and nothing leaks.
#[test]
fn handle_drop_while_scheduled() {
    model(|| {
        let exec = Exec::new();
        let sig = Signal::new();
        let dropped = Arc::new(());
        let handle = {
            let (sig, dropped) = (sig.clone(), dropped.clone());
            spawn(owner(&exec), async move {
                let _held = dropped;
                poll_fn(|cx| sig.poll(cx)).await;
                // Pending forever after the event: only dropping the task ends it.
                std::future::pending::<()>().await;
            })
        };
        let waker = {
            let sig = sig.clone();
            loom::thread::spawn(move || sig.set())
        };
        let dropper = loom::thread::spawn(move || drop(handle));
        exec.run_until_finished(1);
        waker.join().unwrap();
        dropper.join().unwrap();
        assert_eq!(Arc::strong_count(&dropped), 1, "the future was dropped");
        drop(sig);
        exec.assert_no_leak(1);
    });
}

/// `request_cancel` then `detach` from another thread while the task runs: the task sees the
/// request, ends on its own, and its output is dropped (not leaked).
#[test]
fn cancel_then_detach() {
    model(|| {
        let exec = Exec::new();
        let out = Arc::new(());
        let handle = {
            let out = out.clone();
            spawn(owner(&exec), async move {
                poll_fn(|_| match current::check_cancel() {
                    Err(Canceled) => Poll::Ready(()),
                    // Nothing but the cancellation request wakes this task.
                    Ok(()) => Poll::Pending,
                })
                .await;
                out
            })
        };
        let canceler = loom::thread::spawn(move || {
            handle.request_cancel();
            handle.detach();
        });
        exec.run_until_finished(1);
        canceler.join().unwrap();
        assert_eq!(Arc::strong_count(&out), 1, "the detached task's output was dropped");
        exec.assert_no_leak(1);
    });
}

/// A request made while the task is protected is delivered by the first cancellation point
/// after protection is lifted, and wakes the task if it is then waiting (the waker is
/// re-registered after the state changed).
#[test]
fn cancel_during_protection_wakes_later() {
    model(|| {
        let exec = Exec::new();
        let sig = Signal::new();
        let handle = Arc::new({
            let sig = sig.clone();
            spawn(owner(&exec), async move {
                let prev = current::swap_cancel_protection(CancelProtection::Blocked);
                assert_eq!(prev, CancelProtection::Unblocked);
                // A protected wait: a request made now is not delivered here.
                let mut protected_ok = true;
                poll_fn(|cx| {
                    protected_ok &= current::check_cancel().is_ok();
                    sig.poll(cx)
                })
                .await;
                current::swap_cancel_protection(CancelProtection::Unblocked);
                // Unprotected: wait for the request (only it can wake this task now).
                poll_fn(|_| match current::check_cancel() {
                    Err(Canceled) => Poll::Ready(()),
                    Ok(()) => Poll::Pending,
                })
                .await;
                protected_ok
            })
        });
        let canceler = {
            let handle = handle.clone();
            loom::thread::spawn(move || handle.request_cancel())
        };
        sig.set();
        exec.run_until_finished(1);
        canceler.join().unwrap();
        assert!(output_of(Arc::try_unwrap(handle).unwrap()), "delivered while protected");
        drop(sig);
        exec.assert_no_leak(1);
    });
}

// --- The cancel word alone ---

/// A request racing two cancellation points: `Canceled` is delivered at most once, and a
/// request not delivered is still pending (never lost).
#[test]
fn cancel_word_request_vs_check() {
    model(|| {
        let s = Arc::new(CancelState::new());
        let t = {
            let s = s.clone();
            loom::thread::spawn(move || {
                [s.check(), s.check()].iter().filter(|r| r.is_err()).count()
            })
        };
        assert_eq!(s.request(), RequestOutcome::Requested);
        let delivered = t.join().unwrap();
        assert!(delivered <= 1);
        if delivered == 0 {
            assert!(s.is_pending(), "an undelivered request stays pending");
            assert_eq!(s.check(), Err(Canceled));
        }
        assert_eq!(s.check(), Ok(()));
    });
}

/// A request racing protection being set and lifted: no point delivers it while protected,
/// and it is delivered exactly once in the end.
#[test]
fn cancel_word_request_vs_protection() {
    model(|| {
        let s = Arc::new(CancelState::new());
        let t = {
            let s = s.clone();
            loom::thread::spawn(move || {
                s.swap_protection(CancelProtection::Blocked);
                assert_eq!(s.check(), Ok(()), "delivered while protected");
                s.swap_protection(CancelProtection::Unblocked);
                s.check().is_err()
            })
        };
        s.request();
        let delivered = t.join().unwrap();
        let later = s.check().is_err();
        assert!(delivered != later, "delivered exactly once");
    });
}

/// Two requesters and a `recancel`: exactly one request is new; after delivery, `recancel`
/// re-arms it for exactly one more delivery, whatever the requesters did meanwhile.
#[test]
fn cancel_word_two_requests_vs_recancel() {
    model(|| {
        let s = Arc::new(CancelState::new());
        let rs: Vec<_> = (0..2)
            .map(|_| {
                let s = s.clone();
                loom::thread::spawn(move || s.request() == RequestOutcome::Requested)
            })
            .collect();
        let mut seen = 0;
        while seen == 0 {
            if s.check().is_err() {
                seen += 1;
            } else {
                loom::thread::yield_now();
            }
        }
        s.recancel();
        assert_eq!(s.check(), Err(Canceled), "re-armed");
        let new = rs.into_iter().map(|r| r.join().unwrap()).filter(|&b| b).count();
        assert_eq!(new, 1, "exactly one request was new");
        assert_eq!(s.check(), Ok(()));
    });
}
