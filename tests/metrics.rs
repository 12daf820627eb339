//! `io.metrics()`: the counters move as the runtime works (polls, parks, the blocking pool,
//! timers, the reactor, live tasks), read from an `IoRef` alone.

use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Instant;

use kqio::net::{TcpListener, TcpStream};
use kqio::time::{Duration, Timeout};
use kqio::{InitOptions, IoRef, Kqueue, RuntimeMetrics};

fn rt(n: usize) -> Kqueue {
    Kqueue::init(InitOptions { n_threads: Some(n), ..Default::default() }).unwrap()
}

/// Polls `io.metrics()` until `done` holds (bounded: a loaded machine gets 20 s).
fn wait_for(io: &IoRef, what: &str, done: impl Fn(&RuntimeMetrics) -> bool) -> RuntimeMetrics {
    let start = Instant::now();
    loop {
        let m = io.metrics();
        if done(&m) {
            return m;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(20), "never saw {what}: {m:?}");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

#[test]
fn an_idle_runtime_reports_its_shape() {
    let rt = rt(2);
    let m = rt.io().metrics();
    assert!(m.provided);
    assert_eq!(m.workers.len(), 2);
    assert_eq!(m.live_tasks, 0);
    assert_eq!(m.timers_pending, 0);
    assert_eq!(m.blocking_queued, 0);
    // The old owner-only view agrees.
    assert_eq!(rt.metrics().workers, 2);
    assert!(!RuntimeMetrics::default().provided);
}

#[test]
fn polls_count_every_task_and_live_tasks_return_to_zero() {
    const N: usize = 200;
    let rt = rt(2);
    let io = rt.io();
    let before = io.metrics().total_polls();
    let spawner = io.clone();
    rt.block_on(async move {
        let hs: Vec<_> = (0..N).map(|i| spawner.r#async(async move { i })).collect();
        for (i, h) in hs.into_iter().enumerate() {
            assert_eq!(h.await, i);
        }
    });
    let m = wait_for(&io, "no live task", |m| m.live_tasks == 0);
    assert!(m.total_polls() - before >= N as u64, "{m:?}");
    assert!(m.workers.iter().all(|w| w.local_queue_depth == 0));
    assert_eq!(m.injector_depth + m.resumed_depth + m.timed_depth, 0);
}

#[test]
fn live_tasks_count_a_waiting_task() {
    let rt = rt(1);
    let io = rt.io();
    let (tx, rx) = futures::channel::oneshot::channel::<()>();
    let h = io.r#async(async move { rx.await.is_ok() });
    wait_for(&io, "one live task", |m| m.live_tasks == 1);
    tx.send(()).unwrap();
    assert!(rt.block_on(h));
    wait_for(&io, "no live task", |m| m.live_tasks == 0);
}

#[test]
fn a_parked_runtime_counts_parks_and_busy_time() {
    let rt = rt(2);
    let io = rt.io();
    let first = wait_for(&io, "a park", |m| m.total_parks() >= 1);
    for _ in 0..3 {
        let spawner = io.clone();
        rt.block_on(async move { spawner.r#async(async { 1 }).await });
    }
    // Each task woke a worker, which parked again afterwards.
    let m = wait_for(&io, "more parks", |m| m.total_parks() > first.total_parks());
    assert!(m.workers.iter().any(|w| w.busy > std::time::Duration::ZERO), "{m:?}");
}

#[test]
fn a_blocking_job_moves_the_pool_counters() {
    let rt = Kqueue::init(InitOptions {
        n_threads: Some(1),
        max_blocking_threads: 1,
        ..Default::default()
    })
    .unwrap();
    let io = rt.io();
    let (release, hold) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel::<()>();
    let first = io.spawn_blocking(move || {
        started_tx.send(()).unwrap();
        hold.recv().unwrap();
        1
    });
    started.recv().unwrap();
    // The one thread is busy: a second job queues.
    let second = io.spawn_blocking(|| 2);
    let m = io.metrics();
    assert_eq!(m.blocking_threads, 1, "{m:?}");
    assert_eq!(m.blocking_queued, 1, "{m:?}");
    assert_eq!(m.blocking_completed, 0, "{m:?}");
    release.send(()).unwrap();
    assert_eq!(rt.block_on(async { first.await.unwrap() + second.await.unwrap() }), 3);
    let m = wait_for(&io, "two completed jobs", |m| m.blocking_completed == 2);
    assert_eq!(m.blocking_queued, 0);
}

#[test]
fn a_sleep_is_a_pending_then_a_fired_timer() {
    let rt = rt(1);
    let io = rt.io();
    let before = io.metrics().timers_fired;
    let (go, wait) = futures::channel::oneshot::channel::<()>();
    let sleeper = io.clone();
    let h = io.r#async(async move {
        sleeper.sleep(Timeout::after(Duration::from_millis(30))).await.unwrap();
        wait.await.unwrap();
    });
    wait_for(&io, "a pending timer", |m| m.timers_pending == 1);
    let m = wait_for(&io, "a fired timer", |m| m.timers_fired > before);
    assert_eq!(m.timers_pending, 0);
    go.send(()).unwrap();
    rt.block_on(h);
}

#[test]
fn a_socket_read_counts_reactor_events() {
    let rt = rt(2);
    let io = rt.io();
    let before = io.metrics().reactor_events;
    let task_io = io.clone();
    let got = rt.block_on(async move {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let listener = TcpListener::bind(&task_io, any).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let reader = task_io.r#async(async move {
            let (s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).await.unwrap();
            buf
        });
        let c = TcpStream::connect(&task_io, addr).await.unwrap();
        c.write_all(b"hello").await.unwrap();
        reader.await
    });
    assert_eq!(&got, b"hello");
    let m = io.metrics();
    assert!(m.reactor_events > before, "{m:?}");
}
