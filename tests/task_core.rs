//! Tasks: results across threads, spawning at scale, join handles (await, cancel, detach, drop),
//! Zig-style cancellation (delivery once, recancel, protection, forwarding), panics, the
//! concurrency limit, and `block_on` misuse.

use std::os::unix::net::UnixStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use kqio::kqueue::AsyncFd;
use kqio::{CancelProtection, Canceled, ConcurrencyUnavailable, InitOptions, Kqueue};

fn rt(n: usize) -> Kqueue {
    Kqueue::init(InitOptions { n_threads: Some(n), ..Default::default() }).expect("init")
}

/// A descriptor that never becomes readable (its peer is kept open and silent).
fn never_ready(rt: &Kqueue) -> (AsyncFd<UnixStream>, UnixStream) {
    let (a, b) = UnixStream::pair().expect("socketpair");
    a.set_nonblocking(true).expect("nonblocking");
    (AsyncFd::new(&rt.handle(), a).expect("register"), b)
}

/// Sets a flag when dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn results_of_many_tasks_across_threads() {
    for n in [1, 2, 4] {
        let rt = rt(n);
        let io = rt.io();
        let handles: Vec<_> = (0..1000u64).map(|i| io.r#async(async move { i * i })).collect();
        let sum: u64 = rt.block_on(async {
            let mut s = 0;
            for h in handles {
                s += h.await;
            }
            s
        });
        assert_eq!(sum, (0..1000u64).map(|i| i * i).sum());
    }
}

#[test]
fn a_hundred_thousand_tasks_all_complete() {
    let rt = rt(2);
    let io = rt.io();
    let done = Arc::new(AtomicUsize::new(0));
    let io2 = io.clone();
    let d = done.clone();
    rt.block_on(async move {
        let handles: Vec<_> = (0..100_000)
            .map(|_| {
                let d = d.clone();
                io2.r#async(async move {
                    d.fetch_add(1, Ordering::Relaxed);
                })
            })
            .collect();
        for h in handles {
            h.await;
        }
    });
    assert_eq!(done.load(Ordering::Relaxed), 100_000);
    assert_eq!(rt.metrics().live_tasks, 0);
}

#[test]
fn tasks_spawned_inside_tasks() {
    let rt = rt(2);
    let io = rt.io();
    let io2 = io.clone();
    let total = rt.block_on(io.r#async(async move {
        let handles: Vec<_> = (0..1000u32)
            .map(|i| {
                let io3 = io2.clone();
                io2.r#async(async move { io3.r#async(async move { i }).await + 1 })
            })
            .collect();
        let mut s = 0;
        for h in handles {
            s += h.await;
        }
        s
    }));
    assert_eq!(total, (1..=1000).sum());
}

#[test]
fn cancel_of_a_task_parked_on_a_never_ready_fd() {
    let rt = rt(2);
    let io = rt.io();
    for _ in 0..100 {
        let (fd, _peer) = never_ready(&rt);
        let (started_tx, started_rx) = oneshot::channel();
        let h = io.r#async(async move {
            started_tx.send(()).unwrap();
            fd.readable().await
        });
        let began = Instant::now();
        let r = rt.block_on(async {
            started_rx.await.unwrap();
            h.cancel().await
        });
        assert_eq!(r, Err(Canceled), "the task saw Canceled at its wait");
        assert!(began.elapsed() < Duration::from_secs(2));
    }
}

#[test]
fn cancel_of_a_finished_task_returns_its_output() {
    let rt = rt(2);
    let io = rt.io();
    let h = io.r#async(async { 42 });
    rt.block_on(async {
        while !h.is_finished() {
            io.yield_now().await;
        }
    });
    assert_eq!(rt.block_on(h.cancel()), 42);
}

/// Requests cancellation of `h` (the first poll of `cancel` does that), then lets the task go
/// on, then waits for its output.
async fn request_then<T>(h: kqio::JoinHandle<T>, go: oneshot::Sender<()>) -> T {
    let mut cancel = std::pin::pin!(h.cancel());
    assert!(futures::poll!(cancel.as_mut()).is_pending());
    go.send(()).unwrap();
    cancel.await
}

#[test]
fn only_the_next_cancellation_point_sees_the_request_and_recancel_rearms() {
    let rt = rt(2);
    let io = rt.io();
    let io2 = io.clone();
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let h = io.r#async(async move {
        let _ = go_rx.await;
        let first = io2.check_cancel();
        let second = io2.check_cancel();
        io2.recancel();
        let third = io2.check_cancel();
        let fourth = io2.check_cancel();
        (first, second, third, fourth)
    });
    let r = rt.block_on(request_then(h, go_tx));
    assert_eq!(r, (Err(Canceled), Ok(()), Err(Canceled), Ok(())));
}

#[test]
fn protection_defers_the_request_and_resets_per_task() {
    let rt = rt(2);
    let io = rt.io();
    let io2 = io.clone();
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let h = io.r#async(async move {
        assert_eq!(
            io2.swap_cancel_protection(CancelProtection::Blocked),
            CancelProtection::Unblocked
        );
        let _ = go_rx.await;
        let protected = io2.check_cancel();
        // A task spawned now starts unprotected.
        let io3 = io2.clone();
        let child = io2
            .r#async(async move { io3.swap_cancel_protection(CancelProtection::Unblocked) })
            .await;
        assert_eq!(
            io2.swap_cancel_protection(CancelProtection::Unblocked),
            CancelProtection::Blocked
        );
        let after = io2.check_cancel();
        (protected, child, after)
    });
    let (protected, child, after) = rt.block_on(request_then(h, go_tx));
    assert_eq!(protected, Ok(()), "a protected point does not see the request");
    assert_eq!(child, CancelProtection::Unblocked, "protection starts unblocked in every task");
    assert_eq!(after, Err(Canceled), "the first point after unblocking sees it");
}

#[test]
fn a_protected_wait_completes_and_the_next_point_is_canceled() {
    let rt = rt(2);
    let io = rt.io();
    let (fd, mut peer) = never_ready(&rt);
    let io2 = io.clone();
    let (waiting_tx, waiting_rx) = oneshot::channel::<()>();
    let h = io.r#async(async move {
        io2.swap_cancel_protection(CancelProtection::Blocked);
        waiting_tx.send(()).unwrap();
        let wait = fd.readable().await;
        io2.swap_cancel_protection(CancelProtection::Unblocked);
        (wait, io2.check_cancel())
    });
    let r = rt.block_on(async {
        waiting_rx.await.unwrap();
        let mut c = std::pin::pin!(h.cancel());
        // The protected wait ignores the request and ends only when the fd becomes readable.
        for _ in 0..50 {
            assert!(futures::poll!(c.as_mut()).is_pending());
            io.yield_now().await;
        }
        std::io::Write::write_all(&mut peer, b"x").unwrap();
        c.await
    });
    assert_eq!(r, (Ok(()), Err(Canceled)));
}

#[test]
fn awaiting_forwards_the_cancellation_to_the_awaited_task() {
    let rt = rt(2);
    let io = rt.io();
    let (fd, _peer) = never_ready(&rt);
    let io2 = io.clone();
    let (ready_tx, ready_rx) = oneshot::channel::<()>();
    let outer = io.r#async(async move {
        let inner = io2.r#async(async move {
            ready_tx.send(()).unwrap();
            fd.readable().await
        });
        inner.await
    });
    let r = rt.block_on(async {
        ready_rx.await.unwrap();
        outer.cancel().await
    });
    assert_eq!(r, Err(Canceled), "the inner task's wait saw the forwarded request");
}

#[test]
fn dropping_a_handle_drops_the_future() {
    let rt = rt(2);
    let io = rt.io();
    for _ in 0..100 {
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = DropFlag(dropped.clone());
        let (started_tx, started_rx) = oneshot::channel::<()>();
        let h = io.r#async(async move {
            let _flag = flag;
            started_tx.send(()).unwrap();
            futures::future::pending::<()>().await
        });
        rt.block_on(async { started_rx.await.unwrap() });
        drop(h);
        rt.block_on(async {
            while !dropped.load(Ordering::SeqCst) {
                io.yield_now().await;
            }
        });
    }
    assert_eq!(rt.metrics().live_tasks, 0);
}

#[test]
fn a_detached_task_runs_to_completion() {
    let rt = rt(2);
    let io = rt.io();
    let (tx, rx) = oneshot::channel();
    let io2 = io.clone();
    io.r#async(async move {
        io2.yield_now().await;
        tx.send(7).unwrap();
    })
    .detach();
    assert_eq!(rt.block_on(rx).unwrap(), 7);
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

#[test]
fn a_panic_is_re_raised_by_await_and_workers_survive() {
    for n in [1, 2] {
        let rt = rt(n);
        let io = rt.io();
        for i in 0..100 {
            let h = io.r#async(async move {
                if i >= 0 {
                    panic!("boom {i}");
                }
            });
            let err = catch_unwind(AssertUnwindSafe(|| rt.block_on(h))).expect_err("re-raised");
            assert_eq!(panic_message(err), format!("boom {i}"));
        }
        let handles: Vec<_> = (0..100).map(|i| io.r#async(async move { i })).collect();
        let sum: i32 = rt.block_on(async {
            let mut s = 0;
            for h in handles {
                s += h.await;
            }
            s
        });
        assert_eq!(sum, 4950, "the workers still run tasks");
        assert_eq!(rt.metrics().workers, n);
    }
}

#[test]
fn a_panic_in_a_detached_task_is_contained() {
    let rt = rt(1);
    let io = rt.io();
    io.r#async(async { panic!("detached boom") }).detach();
    assert_eq!(rt.block_on(io.r#async(async { 5 })), 5);
}

#[test]
fn block_on_inside_a_task_panics_clearly() {
    let rt = Arc::new(rt(2));
    let io = rt.io();
    let rt2 = rt.clone();
    let h = io.r#async(async move { rt2.block_on(async { 1 }) });
    let err = catch_unwind(AssertUnwindSafe(|| rt.block_on(h))).expect_err("panics");
    let msg = panic_message(err);
    assert!(msg.contains("block_on") && msg.contains("inside a kqio task"), "{msg}");
}

#[test]
fn nested_block_on_panics_clearly() {
    let rt = rt(1);
    let err = catch_unwind(AssertUnwindSafe(|| rt.block_on(async { rt.block_on(async { 1 }) })))
        .expect_err("panics");
    let msg = panic_message(err);
    assert!(msg.contains("inside another block_on"), "{msg}");
    // The runtime is still usable afterwards.
    assert_eq!(rt.block_on(async { 2 }), 2);
}

#[test]
fn the_concurrency_limit_makes_concurrent_fail_and_async_run_inline() {
    let rt =
        Kqueue::init(InitOptions { n_threads: Some(2), max_tasks: Some(2), ..Default::default() })
            .expect("init");
    let io = rt.io();
    let (f1, _p1) = never_ready(&rt);
    let (f2, _p2) = never_ready(&rt);
    let a = io.concurrent(async move { f1.readable().await }).expect("first slot");
    let b = io.concurrent(async move { f2.readable().await }).expect("second slot");
    assert_eq!(io.concurrent(async {}).err(), Some(ConcurrencyUnavailable));
    let ran = Arc::new(AtomicBool::new(false));
    let r2 = ran.clone();
    let caller = std::thread::current().id();
    let h = io.r#async(async move {
        r2.store(true, Ordering::SeqCst);
        std::thread::current().id()
    });
    assert!(ran.load(Ordering::SeqCst), "r#async ran the future before returning");
    assert!(h.is_finished());
    assert_eq!(rt.block_on(h), caller, "inline, on the calling thread");
    assert_eq!(rt.block_on(a.cancel()), Err(Canceled));
    // A slot is free again once a task's future is gone.
    let c = io.concurrent(async { 3 }).expect("a freed slot");
    assert_eq!(rt.block_on(c), 3);
    assert_eq!(rt.block_on(b.cancel()), Err(Canceled));
}

#[test]
fn wake_ups_from_foreign_threads() {
    let rt = rt(2);
    let io = rt.io();
    for i in 0..1000u32 {
        let (tx, rx) = oneshot::channel();
        let h = io.r#async(async move { rx.await.unwrap() + 1 });
        let t = std::thread::spawn(move || tx.send(i).unwrap());
        assert_eq!(rt.block_on(h), i + 1);
        t.join().unwrap();
    }
}
