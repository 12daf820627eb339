//! The blocking pool: bounded, FIFO, threads retired when idle; a queued job whose waiter is
//! canceled never runs; a running one finishes and its result is dropped; `deinit` waits for
//! running jobs and drops queued ones; a panicking job does not hurt the pool.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kqio::{Canceled, InitOptions, Kqueue};

fn rt(blocking: usize) -> Kqueue {
    Kqueue::init(InitOptions {
        n_threads: Some(2),
        max_blocking_threads: blocking,
        blocking_keep_alive: Duration::from_millis(50),
        ..Default::default()
    })
    .unwrap()
}

/// Waits (polling, with a deadline) until `cond` holds.
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn the_pool_is_bounded_and_runs_every_job() {
    let rt = rt(3);
    let io = rt.io();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let total = rt.block_on(async {
        let jobs: Vec<_> = (0..40)
            .map(|i| {
                let (running, peak) = (running.clone(), peak.clone());
                io.spawn_blocking(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(2));
                    running.fetch_sub(1, Ordering::SeqCst);
                    i
                })
            })
            .collect();
        let mut total = 0;
        for j in jobs {
            total += j.await.unwrap();
        }
        total
    });
    assert_eq!(total, (0..40).sum::<usize>());
    assert!(peak.load(Ordering::SeqCst) <= 3, "peak {}", peak.load(Ordering::SeqCst));
    assert!(rt.metrics().blocking_threads <= 3);
    // Idle threads retire.
    eventually("pool threads retired", || rt.metrics().blocking_threads == 0);
}

#[test]
fn a_queued_job_whose_waiter_is_canceled_never_runs() {
    let rt = rt(1);
    let io = rt.io();
    let (release, gate) = mpsc::channel::<()>();
    let ran = Arc::new(AtomicBool::new(false));
    rt.block_on(async {
        // Occupy the only pool thread.
        let blocker = io.spawn_blocking(move || gate.recv().unwrap());
        let ran2 = ran.clone();
        let queued = io.r#async({
            let io = io.clone();
            async move { io.spawn_blocking(move || ran2.store(true, Ordering::SeqCst)).await }
        });
        io.sleep(kqio::time::Timeout::after(kqio::time::Duration::from_millis(5))).await.unwrap();
        assert_eq!(queued.cancel().await, Err(Canceled));
        release.send(()).unwrap();
        blocker.await.unwrap();
        // A job queued after the canceled one has run, so the canceled one was dequeued first.
        io.spawn_blocking(|| ()).await.unwrap();
    });
    assert!(!ran.load(Ordering::SeqCst), "the canceled job ran");
}

#[test]
fn a_running_job_whose_waiter_is_canceled_finishes_and_drops_its_result() {
    let rt = rt(2);
    let io = rt.io();
    let dropped = Arc::new(AtomicUsize::new(0));
    let (release, gate) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel::<()>();
    let d2 = dropped.clone();
    rt.block_on(async {
        let waiter = io.r#async({
            let io = io.clone();
            async move {
                io.spawn_blocking(move || {
                    started_tx.send(()).unwrap();
                    gate.recv().unwrap();
                    DropCount(d2)
                })
                .await
                .map(|_| ())
            }
        });
        started.recv().unwrap();
        assert_eq!(waiter.cancel().await, Err(Canceled));
        assert_eq!(dropped.load(Ordering::SeqCst), 0, "still running");
        release.send(()).unwrap();
    });
    eventually("the result was dropped on the pool thread", || dropped.load(Ordering::SeqCst) == 1);
}

#[test]
fn deinit_waits_for_running_jobs_and_drops_queued_ones() {
    let rt = rt(1);
    let io = rt.io();
    let finished = Arc::new(AtomicBool::new(false));
    let (started_tx, started) = mpsc::channel::<()>();
    let f2 = finished.clone();
    let running = io.spawn_blocking(move || {
        started_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        f2.store(true, Ordering::SeqCst);
    });
    let queued = io.spawn_blocking(|| 7);
    started.recv().unwrap();
    rt.deinit();
    assert!(finished.load(Ordering::SeqCst), "deinit returned before the running job finished");
    assert_eq!(futures::executor::block_on(running), Ok(()));
    assert_eq!(futures::executor::block_on(queued), Err(Canceled));
    // Work submitted after deinit is not run.
    assert_eq!(futures::executor::block_on(io.spawn_blocking(|| 1)), Err(Canceled));
}

#[test]
fn a_panicking_job_panics_its_waiter_and_the_pool_goes_on() {
    let rt = rt(1);
    let io = rt.io();
    rt.block_on(async {
        let h = io.r#async({
            let io = io.clone();
            async move { io.spawn_blocking(|| -> u32 { panic!("job panicked") }).await }
        });
        let caught = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(h)).await;
        assert!(caught.is_err());
        assert_eq!(io.spawn_blocking(|| 5).await, Ok(5));
    });
}

/// 1,000 jobs, each canceled at a different moment from a task: every outcome is either the
/// real result or `Canceled`, and a result that was not delivered was dropped exactly once.
#[test]
fn cancel_races_lose_nothing() {
    let rt = rt(4);
    let io = rt.io();
    let made = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        for i in 0..1000 {
            let (m, d) = (made.clone(), dropped.clone());
            let t = io.r#async({
                let io = io.clone();
                async move {
                    io.spawn_blocking(move || {
                        m.fetch_add(1, Ordering::SeqCst);
                        DropCount(d)
                    })
                    .await
                }
            });
            if i % 3 != 0 {
                for _ in 0..(i % 5) {
                    io.yield_now().await;
                }
            }
            let _ = t.cancel().await;
        }
    });
    rt.deinit();
    assert_eq!(made.load(Ordering::SeqCst), dropped.load(Ordering::SeqCst));
}
