//! The runtime's life cycle and wake paths: options, `deinit` (prompt with blocked tasks, futures
//! dropped, no descriptor or thread leaked over 100 cycles), work submitted after `deinit`, no
//! lost wake-up under cross-thread stress, and readiness of real descriptors through the reactor.
//!
//! The leak test counts this process's descriptors and threads, so it runs alone: it is the only
//! test here that starts runtimes while it counts, and the others run after it (a mutex).

// Serialises the tests of this file: the leak test must not see another test's threads.
#[path = "common/serial.rs"]
mod serial;

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use kqio::kqueue::{AsyncFd, Interest};
use kqio::{Canceled, ConcurrencyUnavailable, InitOptions, Kqueue};

use serial::serial;

fn rt(n: usize) -> Kqueue {
    Kqueue::init(InitOptions { n_threads: Some(n), ..Default::default() }).expect("init")
}

struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn zero_threads_is_invalid_input_and_none_means_one_per_core() {
    let _s = serial();
    let err = Kqueue::init(InitOptions { n_threads: Some(0), ..Default::default() }).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let rt = Kqueue::init(InitOptions::default()).expect("default");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(rt.metrics().workers, cores);
}

/// A CPU list as `/proc`'s `Cpus_allowed_list` writes it (`0-3,6`).
#[cfg(target_os = "linux")]
fn parse_cpu_list(list: &str) -> Vec<usize> {
    let mut cpus = Vec::new();
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => cpus.extend(a.parse::<usize>().unwrap()..=b.parse().unwrap()),
            None => cpus.push(part.parse().unwrap()),
        }
    }
    cpus
}

/// The CPUs each thread of this process named `{prefix}-{i}` may run on, by `i`.
#[cfg(target_os = "linux")]
fn masks_of_threads_named(prefix: &str) -> std::collections::BTreeMap<usize, Vec<usize>> {
    let mut masks = std::collections::BTreeMap::new();
    for task in std::fs::read_dir("/proc/self/task").expect("procfs").flatten() {
        let Ok(comm) = std::fs::read_to_string(task.path().join("comm")) else { continue };
        let Some(index) = comm.trim().strip_prefix(prefix).and_then(|i| i.parse().ok()) else {
            continue;
        };
        let status = std::fs::read_to_string(task.path().join("status")).expect("status");
        let list = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .expect("Cpus_allowed_list");
        masks.insert(index, parse_cpu_list(list));
    }
    masks
}

/// `pin_workers`: with one worker more than CPUs, worker `i` runs on the `i`-th CPU of the mask
/// (the last one wraps to the first); without it, every worker keeps the whole mask. The binding
/// is in place when `init` returns.
#[cfg(target_os = "linux")]
#[test]
fn pin_workers_binds_worker_i_to_the_i_th_cpu_of_the_mask() {
    let _s = serial();
    let this = std::fs::read_to_string("/proc/thread-self/status").expect("status");
    let allowed = parse_cpu_list(
        this.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).expect("mask"),
    );
    let n = allowed.len() + 1;
    let opts = |pin_workers| InitOptions {
        n_threads: Some(n),
        thread_name: "pinned".to_owned(),
        pin_workers,
        ..Default::default()
    };
    let rt = Kqueue::init(opts(true)).expect("init with pin_workers");
    let masks = masks_of_threads_named("pinned-");
    assert_eq!(masks.len(), n, "{masks:?}");
    for (i, mask) in &masks {
        assert_eq!(mask, &vec![allowed[i % allowed.len()]], "worker {i}");
    }
    // The bound workers run tasks as any others.
    let io = rt.io();
    let sum = rt.block_on(async {
        let tasks: Vec<_> = (0..100u64).map(|i| io.r#async(async move { i })).collect();
        let mut sum = 0;
        for t in tasks {
            sum += t.await;
        }
        sum
    });
    assert_eq!(sum, 4950);
    drop(rt);
    let rt = Kqueue::init(opts(false)).expect("init");
    // An unbound worker is not waited for by `init`, and a thread names itself once it runs.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut masks = masks_of_threads_named("pinned-");
    while masks.len() < n && Instant::now() < deadline {
        std::thread::yield_now();
        masks = masks_of_threads_named("pinned-");
    }
    assert_eq!(masks.len(), n, "{masks:?}");
    assert!(masks.values().all(|m| m == &allowed), "{masks:?}");
    drop(rt);
}

/// `pin_workers` takes its CPUs from the mask of the thread that calls `init`: started from a
/// thread bound to one CPU, every worker is bound to that CPU.
#[cfg(target_os = "linux")]
#[test]
fn pin_workers_stays_inside_the_callers_mask() {
    let _s = serial();
    let last = std::thread::available_parallelism().map_or(1, |n| n.get()) - 1;
    std::thread::spawn(move || {
        // SAFETY: an all-zero `cpu_set_t` is the empty set; one bit below its size is set, and
        // pid 0 is this thread.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(last, &mut set);
            assert_eq!(
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set),
                0,
                "{}",
                std::io::Error::last_os_error()
            );
        }
        let rt = Kqueue::init(InitOptions {
            n_threads: Some(3),
            thread_name: "inside".to_owned(),
            pin_workers: true,
            ..Default::default()
        })
        .expect("init");
        let masks = masks_of_threads_named("inside-");
        assert_eq!(masks.len(), 3);
        assert!(masks.values().all(|m| m == &vec![last]), "{masks:?}");
        drop(rt);
    })
    .join()
    .expect("the bound thread");
}

#[cfg(target_os = "linux")]
fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).expect("procfs").count()
}

/// Threads of this process named by kqio (`kqio-worker-*`, `kqio-worker-blocking-*`). Other
/// threads come and go with the test harness (a test thread waiting for `SERIAL`).
#[cfg(target_os = "linux")]
fn kqio_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("procfs")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("kqio"))
        .count()
}

/// `kqio_threads()` once no joined thread is still being reaped: `pthread_join` returns when the
/// kernel clears the thread's id, a moment before it removes the thread from `/proc/self/task`,
/// so a count taken right after `deinit` can still see a thread that has been joined. Waits for
/// the count to reach zero, up to 5 s (a thread that really outlives `deinit` stays and fails).
#[cfg(target_os = "linux")]
fn kqio_threads_settled() -> usize {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let n = kqio_threads();
        if n == 0 || Instant::now() >= deadline {
            return n;
        }
        std::thread::yield_now();
    }
}

#[cfg(target_os = "linux")]
#[test]
fn init_deinit_a_hundred_times_leaks_no_fd_or_thread() {
    let _s = serial();
    // Warm up what the first runtime allocates once per process (thread-locals, the allocator).
    rt(2).deinit();
    let fds = count("/proc/self/fd");
    assert_eq!(kqio_threads_settled(), 0, "no kqio thread outlives deinit");
    for i in 0..100 {
        let rt = rt(1 + i % 3);
        let io = rt.io();
        let (a, _b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let fd = AsyncFd::new(&rt.handle(), a).unwrap();
        io.r#async(async move { fd.readable().await }).detach();
        let io2 = io.clone();
        io.r#async(async move { io2.sleep(kqio::time::Timeout::None).await }).detach();
        rt.block_on(io.r#async(async { 1 }));
        rt.deinit();
    }
    assert_eq!(count("/proc/self/fd"), fds, "descriptors");
    assert_eq!(kqio_threads_settled(), 0, "threads");
}

#[test]
fn deinit_returns_promptly_with_tasks_blocked_forever_and_drops_their_futures() {
    let _s = serial();
    for _ in 0..20 {
        let rt = rt(2);
        let io = rt.io();
        let dropped = Arc::new(AtomicUsize::new(0));
        let mut peers = Vec::new();
        let mut senders = Vec::new();
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        for i in 0..30 {
            let guard = DropCount(dropped.clone());
            let started = started_tx.clone();
            let h = match i % 3 {
                0 => {
                    let (a, b) = UnixStream::pair().unwrap();
                    a.set_nonblocking(true).unwrap();
                    peers.push(b);
                    let fd = AsyncFd::new(&rt.handle(), a).unwrap();
                    io.r#async(async move {
                        let _g = guard;
                        started.send(()).unwrap();
                        let _ = fd.readable().await;
                    })
                }
                1 => io.r#async(async move {
                    let _g = guard;
                    started.send(()).unwrap();
                    futures::future::pending::<()>().await
                }),
                _ => {
                    let (tx, rx) = oneshot::channel::<()>();
                    // Kept, never used, until after deinit: the receiver waits forever.
                    senders.push(tx);
                    io.r#async(async move {
                        let _g = guard;
                        started.send(()).unwrap();
                        let _ = rx.await;
                    })
                }
            };
            h.detach();
        }
        for _ in 0..30 {
            started_rx.recv().unwrap();
        }
        let began = Instant::now();
        rt.deinit();
        assert!(began.elapsed() < Duration::from_secs(2), "deinit took {:?}", began.elapsed());
        assert_eq!(dropped.load(Ordering::SeqCst), 30, "every blocked future was dropped");
        drop(senders);
    }
}

/// Sends on its channel when dropped.
struct SignalDrop(std::sync::mpsc::Sender<()>);

impl Drop for SignalDrop {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// `deinit` called by a task, on a runtime of one worker (so every other task is that worker's):
/// it drops the task the caller has just woken (in the worker's LIFO slot), one spawned and not
/// yet run (in its local queue) and one blocked forever, all before it returns; and the calling
/// task itself, which then waits forever, is dropped by its worker once its poll returns.
#[test]
fn deinit_run_by_a_task_drops_every_other_task_then_the_caller() {
    let _s = serial();
    // Not a `kqio` thread name: this worker is not joined (it ends by itself once the task
    // returns), so the leak test must not count it should it still be exiting.
    let rt = Kqueue::init(InitOptions {
        n_threads: Some(1),
        thread_name: "selfdeinit".into(),
        ..Default::default()
    })
    .expect("init");
    let io = rt.io();
    let owner = Arc::new(Mutex::new(Some(rt)));
    let dropped = Arc::new(AtomicUsize::new(0));
    let (report_tx, report_rx) = std::sync::mpsc::channel();
    let (caller_tx, caller_rx) = std::sync::mpsc::channel();
    let io2 = io.clone();
    let caller = io.r#async(async move {
        let _caller = SignalDrop(caller_tx);
        let started = Arc::new(AtomicUsize::new(0));
        // Blocked forever.
        let (g, st) = (DropCount(dropped.clone()), started.clone());
        io2.r#async(async move {
            let _g = g;
            st.fetch_add(1, Ordering::SeqCst);
            futures::future::pending::<()>().await
        })
        .detach();
        // Blocked until the caller wakes it, just before `deinit`.
        let (wake_tx, wake_rx) = oneshot::channel::<()>();
        let (g, st) = (DropCount(dropped.clone()), started.clone());
        io2.r#async(async move {
            let _g = g;
            st.fetch_add(1, Ordering::SeqCst);
            let _ = wake_rx.await;
            futures::future::pending::<()>().await
        })
        .detach();
        // One worker: yielding lets both run up to their wait.
        while started.load(Ordering::SeqCst) < 2 {
            io2.yield_now().await;
        }
        // Spawned, never run.
        let g = DropCount(dropped.clone());
        io2.r#async(async move {
            let _g = g;
        })
        .detach();
        wake_tx.send(()).unwrap();
        let began = Instant::now();
        owner.lock().unwrap().take().expect("the runtime").deinit();
        report_tx.send((dropped.load(Ordering::SeqCst), began.elapsed())).unwrap();
        // The caller outlives the runtime, waiting for nothing.
        futures::future::pending::<()>().await
    });
    caller.detach();
    let (dropped, took) =
        report_rx.recv_timeout(Duration::from_secs(60)).expect("the task ran deinit");
    assert_eq!(dropped, 3, "deinit dropped the woken, the queued and the blocked task");
    assert!(took < Duration::from_secs(2), "deinit took {took:?}");
    caller_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the calling task was dropped once it returned from its poll");
}

#[test]
fn work_submitted_after_deinit_runs_inline_already_canceled() {
    let _s = serial();
    let rt = rt(2);
    let io = rt.io();
    rt.deinit();
    assert_eq!(io.concurrent(async {}).err(), Some(ConcurrencyUnavailable));
    let io2 = io.clone();
    let h = io.r#async(async move { (io2.check_cancel(), io2.check_cancel()) });
    assert!(h.is_finished());
    assert_eq!(futures::executor::block_on(h), (Err(Canceled), Ok(())));
}

#[test]
fn awaiting_a_task_dropped_by_deinit_panics_with_a_clear_message() {
    let _s = serial();
    let rt = rt(1);
    let io = rt.io();
    let h = io.r#async(futures::future::pending::<()>());
    rt.block_on(async {
        for _ in 0..10 {
            io.yield_now().await;
        }
    });
    rt.deinit();
    let err =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| futures::executor::block_on(h)))
            .expect_err("panics");
    let msg = err.downcast_ref::<&str>().map(|s| s.to_string()).unwrap_or_default();
    assert!(msg.contains("deinit"), "{msg}");
}

/// 1,000 rounds of wake-ups crossing threads: task <-> foreign thread and task <-> task on
/// different workers. A watchdog fails the test instead of letting a lost wake-up hang it.
#[test]
fn no_lost_wake_up_under_cross_thread_stress() {
    let _s = serial();
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let watchdog = std::thread::spawn(move || {
        let began = Instant::now();
        while !d.load(Ordering::SeqCst) {
            assert!(began.elapsed() < Duration::from_secs(60), "a wake-up was lost: stuck");
            std::thread::park_timeout(Duration::from_millis(50));
        }
    });
    for n in [1, 2, 3] {
        let rt = rt(n);
        let io = rt.io();
        // Task <-> foreign thread ping-pong.
        let (to_thread_tx, to_thread_rx) = std::sync::mpsc::channel::<oneshot::Sender<u32>>();
        let pong = std::thread::spawn(move || {
            let mut i = 0;
            while let Ok(tx) = to_thread_rx.recv() {
                tx.send(i).unwrap();
                i += 1;
            }
        });
        let got = rt.block_on(io.r#async(async move {
            let mut sum = 0u64;
            for _ in 0..1000 {
                let (tx, rx) = oneshot::channel();
                to_thread_tx.send(tx).unwrap();
                sum += rx.await.unwrap() as u64;
            }
            sum
        }));
        assert_eq!(got, (0..1000u64).sum());
        pong.join().unwrap();
        // Task <-> task, each waiting for the other.
        let io2 = io.clone();
        rt.block_on(io.r#async(async move {
            for _ in 0..1000 {
                let (a_tx, a_rx) = oneshot::channel::<()>();
                let (b_tx, b_rx) = oneshot::channel::<()>();
                let other = io2.r#async(async move {
                    a_rx.await.unwrap();
                    b_tx.send(()).unwrap();
                });
                a_tx.send(()).unwrap();
                b_rx.await.unwrap();
                other.await;
            }
        }));
    }
    done.store(true, Ordering::SeqCst);
    watchdog.join().unwrap();
}

#[test]
fn readiness_of_real_descriptors_in_both_directions() {
    let _s = serial();
    let rt = rt(2);
    let io = rt.io();
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    let a = Arc::new(AsyncFd::new(&rt.handle(), a).unwrap());
    let b = Arc::new(AsyncFd::new(&rt.handle(), b).unwrap());
    // Reader and writer on two tasks, 1 MiB through a small socket buffer: both directions block
    // and are woken by readiness many times.
    const TOTAL: usize = 1 << 20;
    let writer = {
        let a = a.clone();
        io.r#async(async move {
            let chunk = vec![7u8; 16 * 1024];
            let mut sent = 0;
            while sent < TOTAL {
                let n = (TOTAL - sent).min(chunk.len());
                sent += a.write_with(|mut s| s.write(&chunk[..n])).await.unwrap();
            }
            sent
        })
    };
    let reader = {
        let b = b.clone();
        io.r#async(async move {
            let mut buf = vec![0u8; 8 * 1024];
            let mut got = 0;
            while got < TOTAL {
                let n = b.read_with(|mut s| s.read(&mut buf)).await.unwrap();
                assert!(buf[..n].iter().all(|&x| x == 7));
                got += n;
            }
            got
        })
    };
    let (sent, got) = rt.block_on(async { (writer.await, reader.await) });
    assert_eq!((sent, got), (TOTAL, TOTAL));
    // A cleared readiness waits for a new event; one that arrived meanwhile is kept.
    b.clear_readiness(Interest::Readable);
    a.get_ref().write_all(b"z").unwrap();
    let n = rt.block_on(async {
        b.readable().await.unwrap();
        let mut one = [0u8; 1];
        b.read_with(|mut s| s.read(&mut one)).await.unwrap()
    });
    assert_eq!(n, 1);
}

/// On one worker, a task whose descriptor is always ready, and a task that keeps waking itself,
/// cannot starve another task: the coop budget and the yield path put them behind it.
#[test]
fn always_ready_and_self_waking_tasks_do_not_starve_others() {
    let _s = serial();
    let rt = rt(1);
    let io = rt.io();
    // A socket whose peer is closed reads 0 forever: always readable.
    let (a, b) = UnixStream::pair().unwrap();
    drop(b);
    a.set_nonblocking(true).unwrap();
    let fd = AsyncFd::new(&rt.handle(), a).unwrap();
    let other_ran = Arc::new(AtomicBool::new(false));
    let (seen1, seen2) = (other_ran.clone(), other_ran.clone());
    let spinner = io.r#async(async move {
        let mut reads = 0u64;
        while !seen1.load(Ordering::SeqCst) {
            let mut buf = [0u8; 8];
            assert_eq!(fd.read_with(|mut s| s.read(&mut buf)).await.unwrap(), 0);
            reads += 1;
        }
        reads
    });
    let io2 = io.clone();
    let yielder = io.r#async(async move {
        let mut yields = 0u64;
        while !seen2.load(Ordering::SeqCst) {
            io2.yield_now().await;
            yields += 1;
        }
        yields
    });
    // Starvation would hang the runtime's only worker: fail the whole test binary instead.
    let watched = other_ran.clone();
    let watchdog = std::thread::spawn(move || {
        let began = Instant::now();
        while !watched.load(Ordering::SeqCst) {
            if began.elapsed() > Duration::from_secs(30) {
                eprintln!("a task was starved by an always-ready or self-waking task");
                std::process::exit(101);
            }
            std::thread::park_timeout(Duration::from_millis(20));
        }
    });
    let flag = other_ran.clone();
    let other = io.r#async(async move { flag.store(true, Ordering::SeqCst) });
    let (reads, yields) = rt.block_on(async {
        other.await;
        (spinner.await, yielder.await)
    });
    assert!(other_ran.load(Ordering::SeqCst));
    assert!(reads < 1_000_000 && yields < 1_000_000, "reads {reads}, yields {yields}");
    // Joined, so that the leak test of this file never counts it.
    watchdog.join().unwrap();
}

/// A task that has already run and is woken from outside the workers is not queued behind a
/// burst of new tasks spawned from outside (the injector / resumed split of `scheduler/mod.rs`):
/// it runs within one periodic fairness turn, whatever the burst's size. With one shared queue
/// it ran after the whole burst, which made timers fire tens of milliseconds late under a burst
/// of spawns.
#[test]
fn a_resumed_task_runs_ahead_of_a_burst_of_new_tasks() {
    let _s = serial();
    const BURST: usize = 10_000;
    let rt = rt(1);
    let io = rt.io();
    for round in 0..20 {
        let order = Arc::new(Mutex::new(Vec::with_capacity(BURST + 1)));
        // The resumed task: pending on its first poll, its waker published for this thread.
        let parked: Arc<Mutex<Option<std::task::Waker>>> = Arc::new(Mutex::new(None));
        let resumed = {
            let (order, parked) = (order.clone(), parked.clone());
            let mut polled = false;
            io.r#async(async move {
                std::future::poll_fn(|cx| {
                    if polled {
                        std::task::Poll::Ready(())
                    } else {
                        polled = true;
                        *parked.lock().unwrap() = Some(cx.waker().clone());
                        std::task::Poll::Pending
                    }
                })
                .await;
                order.lock().unwrap().push(usize::MAX);
            })
        };
        let waker = loop {
            if let Some(w) = parked.lock().unwrap().take() {
                break w;
            }
            std::thread::yield_now();
        };
        // Hold the only worker while the burst and the wake are queued, so the order in which it
        // takes them is the scheduler's choice alone.
        let (started, release) =
            (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let blocker = {
            let (started, release) = (started.clone(), release.clone());
            io.r#async(async move {
                started.store(true, Ordering::Release);
                while !release.load(Ordering::Acquire) {
                    std::hint::spin_loop();
                }
            })
        };
        while !started.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
        let burst: Vec<_> = (0..BURST)
            .map(|i| {
                let order = order.clone();
                io.r#async(async move { order.lock().unwrap().push(i) })
            })
            .collect();
        waker.wake();
        release.store(true, Ordering::Release);
        rt.block_on(async {
            blocker.await;
            resumed.await;
            for h in burst {
                h.await;
            }
        });
        let order = order.lock().unwrap();
        let position = order.iter().position(|&i| i == usize::MAX).expect("the resumed task ran");
        assert!(position <= 61, "round {round}: the resumed task ran after {position} new tasks");
    }
}

/// Spawns from another thread race with `deinit`: every spawned future is dropped by the time
/// `deinit` has returned and the spawner has stopped, whether it ran, was queued, was dropped by
/// shutdown, arrived after the last drain (dropped at its schedule) or ran inline canceled.
#[test]
fn spawns_racing_deinit_are_all_dropped() {
    let _s = serial();
    for round in 0..100 {
        let rt = rt(2);
        let io = rt.io();
        let (spawned, dropped) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let spawner = {
            let (io, spawned, dropped, stop) =
                (io.clone(), spawned.clone(), dropped.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let guard = DropCount(dropped.clone());
                    let io2 = io.clone();
                    spawned.fetch_add(1, Ordering::SeqCst);
                    // Ends when canceled (inline after deinit) or dropped (by shutdown).
                    io.r#async(async move {
                        let _guard = guard;
                        let _ = io2.sleep(kqio::time::Timeout::None).await;
                    })
                    .detach();
                }
            })
        };
        // Deinit while spawns are under way (a spin on the counter, not a sleep).
        while spawned.load(Ordering::SeqCst) < 50 + round {
            std::hint::spin_loop();
        }
        rt.deinit();
        stop.store(true, Ordering::SeqCst);
        spawner.join().unwrap();
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            spawned.load(Ordering::SeqCst),
            "round {round}: every spawned future was dropped"
        );
    }
}
