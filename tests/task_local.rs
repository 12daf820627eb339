//! Local tasks (`io.spawn_local`): `!Send` futures pinned to the worker (or `block_on` thread)
//! that spawned them: `Rc` state shared between them, wakes from other threads, cancellation,
//! panics, turns with `Send` tasks, the concurrency limit, dropping at `deinit` and at the end of
//! `block_on` on their own thread, and the typed error off the runtime.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration as StdDuration;

use futures::FutureExt;
use kqio::sync::Event;
use kqio::time::Timeout;
use kqio::{Canceled, InitOptions, IoRef, Kqueue, LocalUnavailable};

fn rt(n: usize) -> Kqueue {
    Kqueue::init(InitOptions { n_threads: Some(n), ..Default::default() }).expect("init")
}

/// A bound for waits that only a bug makes long (the machine may be loaded).
const PATIENCE: StdDuration = StdDuration::from_secs(30);

/// Runs the `!Send` future `make` builds as a local task spawned by a task on a worker, and
/// returns its output.
fn on_worker<T, Fut>(rt: &Kqueue, make: impl FnOnce(IoRef) -> Fut + Send + 'static) -> T
where
    T: Send + 'static,
    Fut: Future<Output = T> + 'static,
{
    let io = rt.io();
    rt.block_on(io.r#async({
        let io = io.clone();
        async move {
            let handle = io.spawn_local(make(io.clone())).expect("on a worker");
            handle.await
        }
    }))
}

/// Records, when dropped, the thread it was made on and the thread it is dropped on.
struct DropProbe {
    home: ThreadId,
    log: Arc<Mutex<Vec<(ThreadId, ThreadId)>>>,
}

impl DropProbe {
    fn new(log: &Arc<Mutex<Vec<(ThreadId, ThreadId)>>>) -> Self {
        DropProbe { home: thread::current().id(), log: log.clone() }
    }
}

impl Drop for DropProbe {
    fn drop(&mut self) {
        self.log.lock().unwrap().push((self.home, thread::current().id()));
    }
}

/// Local tasks sharing an `Rc<RefCell<..>>`, each polled many times around yields.
async fn rc_round(io: IoRef) -> (usize, Vec<ThreadId>) {
    let shared = Rc::new(RefCell::new(Vec::new()));
    let threads = Rc::new(RefCell::new(Vec::new()));
    let handles: Vec<_> = (0..10)
        .map(|i| {
            let (shared, threads, io2) = (shared.clone(), threads.clone(), io.clone());
            io.spawn_local(async move {
                for _ in 0..5 {
                    shared.borrow_mut().push(i);
                    threads.borrow_mut().push(thread::current().id());
                    io2.yield_now().await;
                }
            })
            .expect("local")
        })
        .collect();
    for h in handles {
        h.await;
    }
    let n = shared.borrow().len();
    let t = threads.borrow().clone();
    (n, t)
}

#[test]
fn local_tasks_share_an_rc_on_their_worker() {
    let rt = rt(4);
    let (home, n, threads) = on_worker(&rt, |io| async move {
        let home = thread::current().id();
        let (n, threads) = rc_round(io).await;
        (home, n, threads)
    });
    assert_eq!(n, 50);
    assert_eq!(threads.len(), 50);
    assert!(threads.iter().all(|t| *t == home), "a local task ran off its worker");
    assert_ne!(home, thread::current().id());
}

#[test]
fn local_tasks_share_an_rc_in_block_on() {
    let rt = rt(2);
    let io = rt.io();
    let (n, threads) = rt.block_on(rc_round(io));
    assert_eq!(n, 50);
    assert!(threads.iter().all(|t| *t == thread::current().id()));
}

/// Many local tasks each wait for an event per round; a plain thread sets them one at a time (in
/// turn itself and through `Send` tasks), waiting for each to be seen, so that the worker is
/// often parked when the wake arrives.
#[test]
fn local_tasks_woken_from_other_threads_run_on_their_worker() {
    const TASKS: usize = 32;
    const ROUNDS: usize = 20;
    let rt = rt(4);
    let io = rt.io();
    let events: Arc<Vec<Vec<Event>>> =
        Arc::new((0..TASKS).map(|_| (0..ROUNDS).map(|_| Event::new()).collect()).collect());
    let off_home = Arc::new(AtomicUsize::new(0));
    let (ack_tx, ack_rx) = mpsc::channel::<usize>();
    let (home_tx, home_rx) = mpsc::channel::<ThreadId>();
    let root = {
        let (events, off_home) = (events.clone(), off_home.clone());
        io.concurrent({
            let io = io.clone();
            async move {
                let io2 = io.clone();
                let spawned = io2.spawn_local(async move {
                    let home = thread::current().id();
                    home_tx.send(home).unwrap();
                    let handles: Vec<_> = (0..TASKS)
                        .map(|i| {
                            let (events, off_home, ack_tx) =
                                (events.clone(), off_home.clone(), ack_tx.clone());
                            // `Rc` keeps each task `!Send`.
                            let seen = Rc::new(Cell::new(0));
                            io.spawn_local(async move {
                                for round in 0..ROUNDS {
                                    events[i][round].wait().await.expect("not canceled");
                                    if thread::current().id() != home {
                                        off_home.fetch_add(1, Ordering::SeqCst);
                                    }
                                    seen.set(seen.get() + 1);
                                    ack_tx.send(i).unwrap();
                                }
                                seen.get()
                            })
                            .expect("local")
                        })
                        .collect();
                    let mut total = 0;
                    for h in handles {
                        total += h.await;
                    }
                    total
                });
                spawned.expect("on a worker").await
            }
        })
        .expect("a task slot")
    };
    let home = home_rx.recv_timeout(PATIENCE).expect("the root local task started");
    for round in 0..ROUNDS {
        for i in 0..TASKS {
            if i % 2 == 0 {
                events[i][round].set();
            } else {
                let events = events.clone();
                io.r#async(async move { events[i][round].set() }).detach();
            }
            let got = ack_rx.recv_timeout(PATIENCE).expect("the woken local task ran");
            assert_eq!(got, i);
        }
    }
    let total = rt.block_on(root);
    assert_eq!(total, TASKS * ROUNDS);
    assert_eq!(off_home.load(Ordering::SeqCst), 0, "local tasks ran off their worker");
    assert_ne!(home, thread::current().id());
}

#[test]
fn cancel_delivers_canceled_and_drops_on_the_worker() {
    let rt = rt(2);
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    let (sleep_out, check_out) = on_worker(&rt, move |io| async move {
        // A sleep forever, canceled: the cancellation point returns `Canceled`.
        let probe = DropProbe::new(&log2);
        let io2 = io.clone();
        let sleeper = io
            .spawn_local(async move {
                let _probe = probe;
                let _rc = Rc::new(());
                io2.sleep(Timeout::None).await
            })
            .expect("local");
        io.yield_now().await;
        let sleep_out = sleeper.cancel().await;
        // `check_cancel` inside a loop.
        let io2 = io.clone();
        let spinner = io
            .spawn_local(async move {
                let _rc = Rc::new(());
                loop {
                    io2.check_cancel()?;
                    io2.yield_now().await;
                }
            })
            .expect("local");
        io.yield_now().await;
        let check_out: Result<(), Canceled> = spinner.cancel().await;
        (sleep_out, check_out)
    });
    assert_eq!(sleep_out, Err(Canceled));
    assert_eq!(check_out, Err(Canceled));
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].0, log[0].1, "dropped off its worker");
}

/// The handle of a local task (with a `Send` output) dropped on a plain thread: the task's future
/// is dropped on its worker.
#[test]
fn a_handle_dropped_on_another_thread_drops_the_task_on_its_worker() {
    let rt = rt(2);
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    let (handle_tx, handle_rx) = mpsc::channel::<kqio::JoinHandle<()>>();
    let dropper = thread::spawn(move || {
        let handle = handle_rx.recv_timeout(PATIENCE).expect("a handle");
        drop(handle);
    });
    let home = on_worker(&rt, move |io| async move {
        let started = Arc::new(Event::new());
        let dropped = Arc::new(Event::new());
        let probe = DropProbe::new(&log2);
        let (s, d) = (started.clone(), dropped.clone());
        let handle = io
            .spawn_local(async move {
                // Drops the probe, then sets `dropped`.
                struct SetOnDrop {
                    probe: Option<DropProbe>,
                    event: Arc<Event>,
                }
                impl Drop for SetOnDrop {
                    fn drop(&mut self) {
                        drop(self.probe.take());
                        self.event.set();
                    }
                }
                let _guard = SetOnDrop { probe: Some(probe), event: d };
                let _rc = Rc::new(());
                s.set();
                std::future::pending::<()>().await
            })
            .expect("local");
        started.wait().await.expect("not canceled");
        handle_tx.send(handle).unwrap();
        dropped.wait().await.expect("not canceled");
        thread::current().id()
    });
    dropper.join().unwrap();
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0], (home, home), "the future was dropped off its worker");
}

#[test]
fn a_panic_is_reraised_where_the_handle_is_awaited() {
    let rt = rt(2);
    let (message, after) = on_worker(&rt, |io| async move {
        let _rc = Rc::new(());
        let h = io
            .spawn_local(async {
                let _rc = Rc::new(());
                panic!("local boom");
            })
            .expect("local");
        let caught = AssertUnwindSafe(h).catch_unwind().await.expect_err("the panic");
        let message = caught.downcast_ref::<&str>().copied().unwrap_or("?").to_owned();
        // The worker survives and runs local tasks on.
        let after = io.spawn_local(async { Rc::new(7).as_ref() + 1 }).expect("local").await;
        (message, after)
    });
    assert_eq!(message, "local boom");
    assert_eq!(after, 8);
}

/// With one worker, a local task that yields until a `Send` task acts, and a `Send` task that
/// yields until a local task acts, both finish: the worker takes turns between them.
#[test]
fn local_and_send_tasks_take_turns_on_one_worker() {
    const GIVE_UP: usize = 1_000_000;
    let rt = rt(1);
    let (local_saw, send_saw) = on_worker(&rt, |io| async move {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let io2 = io.clone();
        let local = io
            .spawn_local(async move {
                let _rc = Rc::new(());
                for _ in 0..GIVE_UP {
                    if f.load(Ordering::SeqCst) {
                        return true;
                    }
                    io2.yield_now().await;
                }
                false
            })
            .expect("local");
        let f = flag.clone();
        io.r#async(async move { f.store(true, Ordering::SeqCst) }).detach();
        let local_saw = local.await;

        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let io2 = io.clone();
        let send = io.r#async(async move {
            for _ in 0..GIVE_UP {
                if f.load(Ordering::SeqCst) {
                    return true;
                }
                io2.yield_now().await;
            }
            false
        });
        let f = flag.clone();
        io.spawn_local(async move {
            let _rc = Rc::new(());
            f.store(true, Ordering::SeqCst)
        })
        .expect("local")
        .detach();
        (local_saw, send.await)
    });
    assert!(local_saw, "the Send task never ran while a local task yielded");
    assert!(send_saw, "the local task never ran while a Send task yielded");
}

#[test]
fn at_the_task_limit_spawn_local_runs_inline() {
    let rt =
        Kqueue::init(InitOptions { n_threads: Some(1), max_tasks: Some(1), ..Default::default() })
            .expect("init");
    let io = rt.io();
    rt.block_on(async {
        let gate = Rc::new(Event::new());
        let g = gate.clone();
        let first = io.spawn_local(async move { g.wait().await }).expect("local");
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let second = io.spawn_local(async move { r.set(true) }).expect("inline");
        assert!(ran.get() && second.is_finished(), "the limit is reached: run inline");
        gate.set();
        first.await.expect("not canceled");
    });
}

/// `deinit` with local tasks blocked on two workers: each is dropped on the worker it ran on.
#[test]
fn deinit_drops_blocked_local_tasks_on_their_worker() {
    const PER_WORKER: usize = 8;
    let rt = rt(2);
    let io = rt.io();
    let log = Arc::new(Mutex::new(Vec::new()));
    let never = Arc::new(Event::new());
    let (started_tx, started_rx) = mpsc::channel::<ThreadId>();
    for _ in 0..2 {
        let (io2, log, never, started_tx) =
            (io.clone(), log.clone(), never.clone(), started_tx.clone());
        io.r#async(async move {
            let (sender, receiver) = async_channel::bounded::<()>(1);
            for i in 0..PER_WORKER {
                let (log, never, started_tx, receiver) =
                    (log.clone(), never.clone(), started_tx.clone(), receiver.clone());
                io2.spawn_local(async move {
                    let _probe = DropProbe::new(&log);
                    let _rc = Rc::new(());
                    started_tx.send(thread::current().id()).unwrap();
                    // Blocked three ways: on an event, on a channel whose sender a `Send` task
                    // holds (dropped by `deinit` after this worker ended), on nothing at all.
                    match i % 3 {
                        0 => {
                            let _ = never.wait().await;
                        }
                        1 => {
                            let _ = receiver.recv().await;
                        }
                        _ => std::future::pending::<()>().await,
                    }
                })
                .expect("on a worker")
                .detach();
            }
            let _sender = sender;
            std::future::pending::<()>().await
        })
        .detach();
    }
    let mut homes = Vec::new();
    for _ in 0..2 * PER_WORKER {
        homes.push(started_rx.recv_timeout(PATIENCE).expect("a local task started"));
    }
    rt.deinit();
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 2 * PER_WORKER, "every local task was dropped");
    for (home, dropped_on) in log.iter() {
        assert_eq!(home, dropped_on, "a local task was dropped off its worker");
        assert_ne!(*home, thread::current().id());
    }
}

/// Local tasks spawned in `block_on` and unfinished when it returns are dropped before it
/// returns, on its thread; awaiting such a task's handle later panics.
#[test]
fn block_on_drops_its_unfinished_local_tasks_on_its_thread() {
    let rt = rt(2);
    let io = rt.io();
    let log = Arc::new(Mutex::new(Vec::new()));
    let never = Arc::new(Event::new());
    // A handle returned out of `block_on`, to be awaited in another one.
    #[allow(clippy::async_yields_async)]
    let handle = rt.block_on(async {
        let mut handles = Vec::new();
        for i in 0..6 {
            let (log, never, io2) = (log.clone(), never.clone(), io.clone());
            handles.push(
                io.spawn_local(async move {
                    let _probe = DropProbe::new(&log);
                    let _rc = Rc::new(());
                    if i % 2 == 0 {
                        let _ = never.wait().await;
                    } else {
                        let _ = io2.sleep(Timeout::None).await;
                    }
                })
                .expect("in block_on"),
            );
        }
        io.yield_now().await;
        handles.pop().expect("a handle")
    });
    {
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 6, "every local task was dropped before block_on returned");
        let me = thread::current().id();
        assert!(log.iter().all(|&(home, dropped_on)| home == me && dropped_on == me));
    }
    let awaited = std::panic::catch_unwind(AssertUnwindSafe(|| rt.block_on(handle)));
    let payload = awaited.expect_err("the task was dropped unfinished: no output");
    let text = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("");
    assert!(text.contains("the end of the block_on"), "{text}");
}

#[test]
fn off_the_runtime_spawn_local_is_a_typed_error() {
    let rt_a = rt(1);
    let rt_b = rt(1);
    let io = rt_a.io();
    // The thread that made the runtime, outside `block_on`.
    assert_eq!(io.spawn_local(async {}).err(), Some(LocalUnavailable));
    // A plain thread.
    let io2 = io.clone();
    let plain = thread::spawn(move || io2.spawn_local(async {}).err()).join().unwrap();
    assert_eq!(plain, Some(LocalUnavailable));
    // Another runtime's worker, and its `block_on`.
    let io2 = io.clone();
    let other = rt_b.block_on(rt_b.io().r#async(async move { io2.spawn_local(async {}).err() }));
    assert_eq!(other, Some(LocalUnavailable));
    assert_eq!(rt_b.block_on(async { io.spawn_local(async {}).err() }), Some(LocalUnavailable));
    // After `block_on` returned.
    rt_a.block_on(async {});
    assert_eq!(io.spawn_local(async {}).err(), Some(LocalUnavailable));
    let err: std::io::Error = LocalUnavailable.into();
    assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
}

/// A runtime dropped by one of its own tasks: `deinit` runs on that task's worker, which is not
/// joined; the worker's blocked local tasks are dropped by `deinit` all the same, on the worker.
#[test]
fn deinit_run_by_a_task_drops_that_workers_local_tasks_there() {
    const LOCALS: usize = 4;
    let rt = rt(2);
    let io = rt.io();
    let owner = Arc::new(Mutex::new(Some(rt)));
    let log = Arc::new(Mutex::new(Vec::new()));
    let (done_tx, done_rx) = mpsc::channel();
    {
        let (io2, owner, log) = (io.clone(), owner.clone(), log.clone());
        io.r#async(async move {
            let started = Arc::new(kqio::sync::Semaphore::new(0));
            for _ in 0..LOCALS {
                let (log, started) = (log.clone(), started.clone());
                io2.spawn_local(async move {
                    let _probe = DropProbe::new(&log);
                    let _rc = Rc::new(());
                    started.post();
                    std::future::pending::<()>().await
                })
                .expect("on a worker")
                .detach();
            }
            for _ in 0..LOCALS {
                started.wait().await.expect("not canceled");
            }
            let rt = owner.lock().unwrap().take().expect("the runtime");
            drop(rt);
            let snapshot = log.lock().unwrap().clone();
            done_tx.send((thread::current().id(), snapshot)).unwrap();
        })
        .detach();
    }
    let (worker, snapshot) = done_rx.recv_timeout(PATIENCE).expect("the task dropped the runtime");
    assert_eq!(snapshot.len(), LOCALS, "deinit dropped the worker's local tasks");
    assert!(snapshot.iter().all(|&(home, dropped_on)| home == worker && dropped_on == worker));
}

/// `deinit` while plain threads keep waking local tasks on both workers: wakes race the workers'
/// ends, and every local task is still dropped on its own worker (a wake that arrives after a
/// worker ended finds its task gone).
#[test]
fn deinit_while_other_threads_wake_local_tasks() {
    const PER_WORKER: usize = 16;
    for _ in 0..5 {
        let rt = rt(2);
        let io = rt.io();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (started_tx, started_rx) = mpsc::channel::<()>();
        let (sender_tx, sender_rx) = mpsc::channel::<async_channel::Sender<()>>();
        for _ in 0..2 {
            let (io2, log, started_tx, sender_tx) =
                (io.clone(), log.clone(), started_tx.clone(), sender_tx.clone());
            io.r#async(async move {
                for _ in 0..PER_WORKER {
                    let (tx, rx) = async_channel::bounded::<()>(1);
                    sender_tx.send(tx).unwrap();
                    let (log, started_tx) = (log.clone(), started_tx.clone());
                    io2.spawn_local(async move {
                        let _probe = DropProbe::new(&log);
                        let _rc = Rc::new(());
                        started_tx.send(()).unwrap();
                        while rx.recv().await.is_ok() {}
                    })
                    .expect("on a worker")
                    .detach();
                }
            })
            .detach();
        }
        let senders: Vec<_> = (0..2 * PER_WORKER)
            .map(|_| sender_rx.recv_timeout(PATIENCE).expect("a sender"))
            .collect();
        for _ in 0..2 * PER_WORKER {
            started_rx.recv_timeout(PATIENCE).expect("a local task started");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let wakers: Vec<_> = senders
            .chunks(PER_WORKER)
            .map(|chunk| {
                let (chunk, stop) = (chunk.to_vec(), stop.clone());
                thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        for tx in &chunk {
                            let _ = tx.try_send(());
                        }
                        // Leave the workers room to run on a small machine.
                        thread::yield_now();
                    }
                })
            })
            .collect();
        rt.deinit();
        stop.store(true, Ordering::SeqCst);
        for w in wakers {
            w.join().unwrap();
        }
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 2 * PER_WORKER, "every local task was dropped");
        assert!(log.iter().all(|(home, dropped_on)| home == dropped_on), "dropped off its worker");
    }
}

/// Local tasks of `block_on` woken by a plain thread, one at a time (so that the `block_on`
/// thread is parked when the wake arrives): each wake reaches that thread and runs the task
/// there. On a missed wake the plain thread gives up through an event the `block_on` future
/// also waits on, so that a failure ends the test instead of hanging it.
#[test]
fn local_tasks_of_block_on_woken_from_a_plain_thread_run_there() {
    const TASKS: usize = 16;
    let rt = rt(2);
    let io = rt.io();
    let events: Arc<Vec<Event>> = Arc::new((0..TASKS).map(|_| Event::new()).collect());
    let give_up = Arc::new(Event::new());
    let (ack_tx, ack_rx) = mpsc::channel::<usize>();
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let setter = {
        let (events, give_up) = (events.clone(), give_up.clone());
        thread::spawn(move || {
            ready_rx.recv_timeout(PATIENCE).expect("the tasks were spawned");
            for i in 0..TASKS {
                events[i].set();
                if ack_rx.recv_timeout(PATIENCE) != Ok(i) {
                    give_up.set();
                    return false;
                }
            }
            true
        })
    };
    let me = thread::current().id();
    let ran_here = rt.block_on(async {
        let handles: Vec<_> = (0..TASKS)
            .map(|i| {
                let (events, ack_tx) = (events.clone(), ack_tx.clone());
                io.spawn_local(async move {
                    let _rc = Rc::new(());
                    events[i].wait().await.expect("not canceled");
                    ack_tx.send(i).unwrap();
                    thread::current().id() == me
                })
                .expect("in block_on")
            })
            .collect();
        ready_tx.send(()).unwrap();
        let all = futures::future::join_all(handles);
        match futures::future::select(std::pin::pin!(all), std::pin::pin!(give_up.wait())).await {
            futures::future::Either::Left((ran_here, _)) => ran_here.into_iter().all(|b| b),
            futures::future::Either::Right(_) => false,
        }
    });
    assert!(setter.join().unwrap(), "a wake from the plain thread did not reach block_on");
    assert!(ran_here, "a local task ran off the block_on thread");
}
