//! The stall detector: a poll that holds a worker past `InitOptions::stall_threshold` is
//! reported once, naming the task and where it was spawned; short polls are not reported.

use std::panic::Location;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kqio::observe::{StallHook, StallReport};
use kqio::{InitOptions, Kqueue};

const THRESHOLD: Duration = Duration::from_millis(200);

fn rt_with_reports(n: usize) -> (Kqueue, Arc<Mutex<Vec<StallReport>>>) {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = reports.clone();
    let rt = Kqueue::init(InitOptions {
        n_threads: Some(n),
        stall_threshold: Some(THRESHOLD),
        on_stall: Some(StallHook::new(move |r| sink.lock().unwrap().push(r.clone()))),
        ..Default::default()
    })
    .unwrap();
    (rt, reports)
}

/// Holds its worker for `d` of wall-clock time without yielding.
fn spin(d: Duration) -> u64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < d {
        n = std::hint::black_box(n.wrapping_add(1));
    }
    n
}

#[test]
fn two_cpu_bound_tasks_on_both_workers_are_reported_once_each() {
    let (rt, reports) = rt_with_reports(2);
    let io = rt.io();
    // Both tasks start their spin only once both run, so that they hold both workers at once.
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let (b1, b2) = (barrier.clone(), barrier);
    let line_a = Location::caller().line() + 1;
    let a = io.task().name("crunch-a").concurrent(async move {
        b1.wait();
        spin(THRESHOLD * 3)
    });
    let line_b = Location::caller().line() + 1;
    let b = io.task().name("crunch-b").concurrent(async move {
        b2.wait();
        spin(THRESHOLD * 3)
    });
    let (a, b) = (a.unwrap(), b.unwrap());
    rt.block_on(async { (a.await, b.await) });

    let reports = reports.lock().unwrap().clone();
    assert_eq!(reports.len(), 2, "{reports:#?}");
    for (name, line) in [("crunch-a", line_a), ("crunch-b", line_b)] {
        let r = reports.iter().find(|r| r.name.as_deref() == Some(name)).expect(name);
        assert_eq!(r.spawned_at.file(), file!());
        assert_eq!(r.spawned_at.line(), line);
        assert!(r.running_for >= THRESHOLD, "{r:?}");
        let text = r.to_string();
        assert!(text.contains(name) && text.contains(&format!("{}:{line}", file!())), "{text}");
    }
    // One per worker: they ran at the same time.
    assert_ne!(reports[0].worker, reports[1].worker);
}

#[test]
fn short_polls_are_not_reported() {
    let (rt, reports) = rt_with_reports(2);
    let io = rt.io();
    let spawner = io.clone();
    rt.block_on(async move {
        let hs: Vec<_> = (0..200)
            .map(|_| {
                let io = spawner.clone();
                spawner.r#async(async move {
                    for _ in 0..20 {
                        io.yield_now().await;
                    }
                })
            })
            .collect();
        for h in hs {
            h.await;
        }
        // Idle for longer than the threshold too: nothing runs, nothing is reported.
        spawner.sleep(kqio::time::Timeout::after(kqio::time::Duration::from_millis(300))).await
    })
    .unwrap();
    assert!(reports.lock().unwrap().is_empty(), "{:#?}", reports.lock().unwrap());
}

#[test]
fn the_default_hook_and_shutdown_do_not_hang() {
    // No hook: reports go to stderr. Deinit stops the watchdog mid-stall of nothing.
    let rt = Kqueue::init(InitOptions {
        n_threads: Some(1),
        stall_threshold: Some(Duration::from_millis(20)),
        ..Default::default()
    })
    .unwrap();
    let io = rt.io();
    rt.block_on(io.r#async(async { spin(Duration::from_millis(60)) }));
    rt.deinit();
}
