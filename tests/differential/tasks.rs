//! Tasks: `r#async` and `concurrent`, awaiting, cancel (delivered once, `recancel`, protection,
//! forwarding), detach, drop, and panics re-raised where a handle is awaited.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use futures::channel::oneshot;
use futures::FutureExt;
use kqio::sync::Event;
use kqio::time::Timeout;
use kqio::{CancelProtection, Canceled};

use crate::harness::Ctx;
use crate::util::{panic_message, request_then};

differential!(tasks:
    async_returns_its_output,
    concurrent_returns_its_output,
    outputs_of_many_tasks,
    tasks_spawned_inside_tasks,
    cancel_of_a_blocked_task_returns_canceled,
    cancel_of_a_finished_task_returns_its_output,
    the_next_point_sees_the_request_once_and_recancel_rearms,
    recancel_after_a_canceled_sleep,
    protection_defers_the_request,
    protection_starts_unblocked_in_every_task,
    a_protected_wait_completes_then_the_next_point_is_canceled,
    awaiting_forwards_the_cancellation,
    dropping_a_handle_drops_the_future,
    dropping_a_finished_handle_drops_its_output,
    a_detached_task_runs_to_completion,
    a_panic_is_re_raised_by_await,
    a_panic_in_a_detached_task_is_contained,
    yield_now_lets_other_tasks_run,
    a_canceled_task_decides_its_output,
);

/// Sets a flag when dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

async fn async_returns_its_output(t: Ctx) {
    let io = t.io;
    let a = io.r#async(async { 20 });
    let b = io.r#async(async { String::from("twenty-two") });
    assert_eq!(a.await, 20);
    assert_eq!(b.await, "twenty-two");
}

async fn concurrent_returns_its_output(t: Ctx) {
    let io = t.io;
    let a = io.concurrent(async { vec![1u8, 2, 3] }).expect("a unit of concurrency");
    let b = io.concurrent(async { 22u64 }).expect("a unit of concurrency");
    assert_eq!(b.await, 22);
    assert_eq!(a.await, [1, 2, 3]);
}

async fn outputs_of_many_tasks(t: Ctx) {
    let io = t.io;
    let done = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..2_000u64)
        .map(|i| {
            let done = done.clone();
            io.r#async(async move {
                done.fetch_add(1, Ordering::Relaxed);
                i * i
            })
        })
        .collect();
    let mut sum = 0;
    for h in handles {
        sum += h.await;
    }
    assert_eq!(sum, (0..2_000u64).map(|i| i * i).sum());
    assert_eq!(done.load(Ordering::Relaxed), 2_000);
}

async fn tasks_spawned_inside_tasks(t: Ctx) {
    let io = t.io;
    let handles: Vec<_> = (0..200u32)
        .map(|i| {
            let io2 = io.clone();
            io.r#async(async move { io2.r#async(async move { i }).await + 1 })
        })
        .collect();
    let mut s = 0;
    for h in handles {
        s += h.await;
    }
    assert_eq!(s, (1..=200).sum());
}

async fn cancel_of_a_blocked_task_returns_canceled(t: Ctx) {
    let io = t.io;
    for _ in 0..20 {
        let (tx, rx) = oneshot::channel();
        let io2 = io.clone();
        let h = io.r#async(async move {
            tx.send(()).unwrap();
            io2.sleep(Timeout::None).await
        });
        rx.await.unwrap();
        assert_eq!(h.cancel().await, Err(Canceled));
    }
}

async fn cancel_of_a_finished_task_returns_its_output(t: Ctx) {
    let io = t.io;
    let h = io.r#async(async { 42 });
    while !h.is_finished() {
        io.yield_now().await;
    }
    assert_eq!(h.cancel().await, 42);
}

async fn the_next_point_sees_the_request_once_and_recancel_rearms(t: Ctx) {
    let io = t.io;
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
    let r = request_then(h, go_tx).await;
    assert_eq!(r, (Err(Canceled), Ok(()), Err(Canceled), Ok(())));
}

async fn recancel_after_a_canceled_sleep(t: Ctx) {
    let io = t.io;
    let io2 = io.clone();
    let (tx, rx) = oneshot::channel();
    let h = io.r#async(async move {
        tx.send(()).unwrap();
        let slept = io2.sleep(Timeout::None).await;
        let without = io2.check_cancel();
        io2.recancel();
        let sleep_again = io2.sleep(Timeout::None).await;
        (slept, without, sleep_again, io2.check_cancel())
    });
    rx.await.unwrap();
    assert_eq!(h.cancel().await, (Err(Canceled), Ok(()), Err(Canceled), Ok(())));
}

async fn protection_defers_the_request(t: Ctx) {
    let io = t.io;
    let io2 = io.clone();
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let h = io.r#async(async move {
        assert_eq!(
            io2.swap_cancel_protection(CancelProtection::Blocked),
            CancelProtection::Unblocked
        );
        let _ = go_rx.await;
        let protected = io2.check_cancel();
        let prev = io2.swap_cancel_protection(CancelProtection::Unblocked);
        (protected, prev, io2.check_cancel(), io2.check_cancel())
    });
    let r = request_then(h, go_tx).await;
    assert_eq!(r, (Ok(()), CancelProtection::Blocked, Err(Canceled), Ok(())));
}

async fn protection_starts_unblocked_in_every_task(t: Ctx) {
    let io = t.io;
    io.swap_cancel_protection(CancelProtection::Blocked);
    let io2 = io.clone();
    let child =
        io.r#async(async move { io2.swap_cancel_protection(CancelProtection::Unblocked) }).await;
    assert_eq!(child, CancelProtection::Unblocked);
    assert_eq!(io.swap_cancel_protection(CancelProtection::Unblocked), CancelProtection::Blocked);
}

async fn a_protected_wait_completes_then_the_next_point_is_canceled(t: Ctx) {
    let io = t.io;
    let ev = Arc::new(Event::new());
    let (waiting_tx, waiting_rx) = oneshot::channel::<()>();
    let (io2, ev2) = (io.clone(), ev.clone());
    let h = io.r#async(async move {
        io2.swap_cancel_protection(CancelProtection::Blocked);
        waiting_tx.send(()).unwrap();
        let wait = ev2.wait().await;
        io2.swap_cancel_protection(CancelProtection::Unblocked);
        (wait, io2.check_cancel())
    });
    waiting_rx.await.unwrap();
    let mut c = std::pin::pin!(h.cancel());
    // The protected wait ignores the request: it ends only once the event is set.
    for _ in 0..50 {
        assert!(futures::poll!(c.as_mut()).is_pending());
        io.yield_now().await;
    }
    ev.set();
    assert_eq!(c.await, (Ok(()), Err(Canceled)));
}

async fn awaiting_forwards_the_cancellation(t: Ctx) {
    let io = t.io;
    let io2 = io.clone();
    let (ready_tx, ready_rx) = oneshot::channel::<()>();
    let outer = io.r#async(async move {
        let io3 = io2.clone();
        let inner = io2.r#async(async move {
            ready_tx.send(()).unwrap();
            io3.sleep(Timeout::None).await
        });
        inner.await
    });
    ready_rx.await.unwrap();
    assert_eq!(outer.cancel().await, Err(Canceled), "the inner sleep saw the forwarded request");
}

async fn dropping_a_handle_drops_the_future(t: Ctx) {
    let io = t.io;
    for _ in 0..20 {
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = DropFlag(dropped.clone());
        let (started_tx, started_rx) = oneshot::channel::<()>();
        let h = io.r#async(async move {
            let _flag = flag;
            started_tx.send(()).unwrap();
            futures::future::pending::<()>().await
        });
        started_rx.await.unwrap();
        drop(h);
        while !dropped.load(Ordering::SeqCst) {
            io.yield_now().await;
        }
    }
}

async fn dropping_a_finished_handle_drops_its_output(t: Ctx) {
    let io = t.io;
    let dropped = Arc::new(AtomicBool::new(false));
    let d = dropped.clone();
    let h = io.r#async(async move { DropFlag(d) });
    while !h.is_finished() {
        io.yield_now().await;
    }
    assert!(!dropped.load(Ordering::SeqCst), "the output is kept for the handle");
    drop(h);
    assert!(dropped.load(Ordering::SeqCst), "dropped with the handle");
}

async fn a_detached_task_runs_to_completion(t: Ctx) {
    let io = t.io;
    let (tx, rx) = oneshot::channel();
    let io2 = io.clone();
    io.r#async(async move {
        for _ in 0..10 {
            io2.yield_now().await;
        }
        tx.send(7).unwrap();
    })
    .detach();
    assert_eq!(rx.await.unwrap(), 7);
}

async fn a_panic_is_re_raised_by_await(t: Ctx) {
    let io = t.io;
    for i in 0..5 {
        let h = io.r#async(async move {
            if i >= 0 {
                panic!("boom {i}");
            }
        });
        let err = AssertUnwindSafe(h).catch_unwind().await.expect_err("re-raised");
        assert_eq!(panic_message(&*err), format!("boom {i}"));
    }
    // Tasks still run afterwards.
    assert_eq!(io.r#async(async { 5 }).await, 5);
}

async fn a_panic_in_a_detached_task_is_contained(t: Ctx) {
    let io = t.io;
    io.r#async(async { panic!("detached boom") }).detach();
    let io2 = io.clone();
    let h = io.r#async(async move {
        io2.yield_now().await;
        6
    });
    assert_eq!(h.await, 6);
}

async fn yield_now_lets_other_tasks_run(t: Ctx) {
    let io = t.io;
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let h = io.r#async(async move { f.store(true, Ordering::SeqCst) });
    while !flag.load(Ordering::SeqCst) {
        io.yield_now().await;
    }
    h.await;
}

async fn a_canceled_task_decides_its_output(t: Ctx) {
    let io = t.io;
    let io2 = io.clone();
    let (tx, rx) = oneshot::channel();
    let h = io.r#async(async move {
        tx.send(()).unwrap();
        match io2.sleep(Timeout::None).await {
            Err(Canceled) => "cleaned up",
            Ok(()) => "slept",
        }
    });
    rx.await.unwrap();
    assert_eq!(h.cancel().await, "cleaned up");
}
