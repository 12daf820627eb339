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

/// A gate jobs wait at until the test opens it: saturates the pool without sleeping.
struct Gate {
    open: std::sync::Mutex<bool>,
    cond: std::sync::Condvar,
}

impl Gate {
    fn new() -> Arc<Gate> {
        Arc::new(Gate { open: std::sync::Mutex::new(false), cond: std::sync::Condvar::new() })
    }

    fn wait(&self) {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.cond.wait(open).unwrap();
        }
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.cond.notify_all();
    }
}

#[test]
fn the_pool_is_bounded_and_runs_every_job() {
    let rt = rt(3);
    let io = rt.io();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let gate = Gate::new();
    let jobs: Vec<_> = (0..40)
        .map(|i| {
            let (running, peak, gate) = (running.clone(), peak.clone(), gate.clone());
            io.spawn_blocking(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                gate.wait();
                running.fetch_sub(1, Ordering::SeqCst);
                i
            })
        })
        .collect();
    // 40 jobs wait at the gate: exactly 3 run, the other 37 are queued, and no 4th thread starts.
    eventually("3 jobs running", || running.load(Ordering::SeqCst) == 3);
    assert_eq!(rt.metrics().blocking_threads, 3);
    gate.open();
    let total = rt.block_on(async {
        let mut total = 0;
        for j in jobs {
            total += j.await.unwrap();
        }
        total
    });
    assert_eq!(total, (0..40).sum::<usize>());
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    assert!(rt.metrics().blocking_threads <= 3);
    // Idle threads retire after the keep-alive (50 ms here).
    eventually("pool threads retired", || rt.metrics().blocking_threads == 0);
    // And the pool starts threads again on demand.
    assert_eq!(rt.block_on(io.spawn_blocking(|| 9)), Ok(9));
}

#[test]
fn queued_jobs_run_in_submission_order() {
    let rt = rt(1);
    let io = rt.io();
    let gate = Gate::new();
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let g = gate.clone();
    let blocker = io.spawn_blocking(move || g.wait());
    let jobs: Vec<_> = (0..20)
        .map(|i| {
            let order = order.clone();
            io.spawn_blocking(move || order.lock().unwrap().push(i))
        })
        .collect();
    gate.open();
    rt.block_on(async {
        blocker.await.unwrap();
        for j in jobs {
            j.await.unwrap();
        }
    });
    assert_eq!(*order.lock().unwrap(), (0..20).collect::<Vec<_>>());
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
        let (submitted_tx, submitted) = futures::channel::oneshot::channel::<()>();
        let queued = io.r#async({
            let io = io.clone();
            async move {
                // `spawn_blocking` queues the job when called, before the first poll.
                let job = io.spawn_blocking(move || ran2.store(true, Ordering::SeqCst));
                submitted_tx.send(()).unwrap();
                job.await
            }
        });
        submitted.await.unwrap();
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
