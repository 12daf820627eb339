//! `io.task_dump()`: every live task with its name, spawn location, state and what it waits on
//! (a socket read, an accept, a sleep, a mutex, a join, a blocking job, a file lock, a child's
//! exit, a signal).

use std::net::SocketAddr;
use std::panic::Location;
use std::sync::Arc;
use std::time::Instant;

use kqio::net::{TcpListener, TcpStream};
use kqio::sync::Mutex;
use kqio::time::{Duration, Timeout};
use kqio::{InitOptions, IoRef, Kqueue, TaskDump, TaskState, WaitingOn};

fn rt(n: usize) -> Kqueue {
    Kqueue::init(InitOptions { n_threads: Some(n), ..Default::default() }).unwrap()
}

/// Takes dumps until `done` holds for one (bounded: a loaded machine gets 20 s).
fn dump_until(io: &IoRef, what: &str, done: impl Fn(&TaskDump) -> bool) -> TaskDump {
    let start = Instant::now();
    loop {
        let d = io.task_dump();
        if done(&d) {
            return d;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(20), "never saw {what}:\n{d}");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

#[test]
fn the_dump_names_a_task_blocked_on_a_socket_read() {
    let rt = rt(2);
    let io = rt.io();
    let task_io = io.clone();
    let (listener, addr) = rt.block_on(async move {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let l = TcpListener::bind(&task_io, any).await.unwrap();
        let a = l.local_addr().unwrap();
        (l, a)
    });
    let conn_io = io.clone();
    let here = Location::caller().line() + 1;
    let reader = io.task().name("conn-reader").r#async(async move {
        let (s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1];
        s.read(&mut buf).await.unwrap()
    });
    let client = rt.block_on(TcpStream::connect(&conn_io, addr)).unwrap();
    let d = dump_until(&io, "a task waiting on a read", |d| {
        d.tasks.iter().any(|t| t.waiting_on == Some(WaitingOn::Read))
    });
    assert!(d.provided);
    let t = d.tasks.iter().find(|t| t.name.as_deref() == Some("conn-reader")).expect("named");
    assert_eq!(t.spawned_at.file(), file!());
    assert_eq!(t.spawned_at.line(), here);
    assert_eq!(t.state, TaskState::Idle);
    assert_eq!(t.waiting_on, Some(WaitingOn::Read));
    let text = d.to_string();
    assert!(text.contains("\"conn-reader\""), "{text}");
    assert!(text.contains(&format!("{}:{here}", file!())), "{text}");
    assert!(text.contains("waiting on read readiness"), "{text}");
    rt.block_on(client.write_all(b"x")).unwrap();
    assert_eq!(rt.block_on(reader), 1);
    dump_until(&io, "an empty dump", |d| d.tasks.is_empty());
}

#[test]
fn the_dump_tells_sleeps_mutexes_joins_and_blocking_jobs_apart() {
    let rt = rt(2);
    let io = rt.io();
    let mutex = Arc::new(Mutex::new(0u32));
    let mutex_addr_holder = mutex.clone();
    // Hold the mutex from outside the runtime's tasks, in a task that waits for a signal.
    let (release, hold) = futures::channel::oneshot::channel::<()>();
    let (locked_tx, locked) = std::sync::mpsc::channel::<()>();
    let holder = io.task().name("holder").r#async(async move {
        let _g = mutex_addr_holder.lock().await.unwrap();
        locked_tx.send(()).unwrap();
        hold.await.unwrap();
    });
    locked.recv().unwrap();
    let m2 = mutex.clone();
    let locker = io.task().name("locker").r#async(async move {
        *m2.lock().await.unwrap() += 1;
    });
    let sleeper_io = io.clone();
    let sleeper = io
        .task()
        .name("sleeper")
        .r#async(async move { sleeper_io.sleep(Timeout::after(Duration::from_secs(600))).await });
    let (job_go, job_wait) = std::sync::mpsc::channel::<()>();
    let blocking_io = io.clone();
    let blocker = io.task().name("blocker").r#async(async move {
        blocking_io.spawn_blocking(move || job_wait.recv().unwrap()).await.unwrap()
    });
    let joiner = io.task().name(String::from("joiner")).r#async(holder);

    let named =
        |d: &TaskDump, n: &str| d.tasks.iter().find(|t| t.name.as_deref() == Some(n)).cloned();
    let d = dump_until(&io, "every wait recorded", |d| {
        ["locker", "sleeper", "blocker", "joiner"]
            .iter()
            .all(|n| named(d, n).is_some_and(|t| t.waiting_on.is_some()))
    });
    let holder_id = named(&d, "holder").unwrap().id;
    assert!(
        matches!(named(&d, "locker").unwrap().waiting_on, Some(WaitingOn::Mutex { .. })),
        "{d}"
    );
    match named(&d, "sleeper").unwrap().waiting_on {
        Some(WaitingOn::Sleep { deadline }) => {
            let now = io.now(kqio::time::Clock::Awake);
            assert!(deadline > now.saturating_add(Duration::from_secs(500)), "{d}");
        }
        other => panic!("sleeper waits on {other:?}\n{d}"),
    }
    assert_eq!(named(&d, "blocker").unwrap().waiting_on, Some(WaitingOn::Blocking), "{d}");
    assert_eq!(named(&d, "joiner").unwrap().waiting_on, Some(WaitingOn::Join { task: holder_id }));

    // Canceling: the sleeper, asked to cancel, ends; the others are released.
    assert!(rt.block_on(sleeper.cancel()).is_err());
    job_go.send(()).unwrap();
    release.send(()).unwrap();
    rt.block_on(async {
        blocker.await;
        joiner.await;
        locker.await;
    });
    assert_eq!(*rt.block_on(mutex.lock()).unwrap(), 1);
    dump_until(&io, "an empty dump", |d| d.tasks.is_empty());
}

#[test]
fn a_task_asked_to_cancel_shows_canceling() {
    let rt = rt(1);
    let io = rt.io();
    let task_io = io.clone();
    // A task that ignores cancellation for a while: protected, it waits on a channel.
    let (go, wait) = futures::channel::oneshot::channel::<()>();
    let h = io.task().name("stubborn").r#async(async move {
        let prev = task_io.swap_cancel_protection(kqio::CancelProtection::Blocked);
        wait.await.unwrap();
        task_io.swap_cancel_protection(prev);
        task_io.check_cancel()
    });
    dump_until(&io, "the task idle", |d| d.tasks.iter().any(|t| t.state == TaskState::Idle));
    let spawner = io.clone();
    let canceler = spawner.r#async(async move { h.cancel().await });
    dump_until(&io, "the task canceling", |d| {
        d.tasks
            .iter()
            .any(|t| t.name.as_deref() == Some("stubborn") && t.state == TaskState::Canceling)
    });
    go.send(()).unwrap();
    assert!(rt.block_on(canceler).is_err());
}

#[test]
fn group_members_are_located_where_the_group_spawned_them() {
    let rt = rt(1);
    let io = rt.io();
    let group = Arc::new(kqio::Group::new());
    let (go, wait) = futures::channel::oneshot::channel::<()>();
    let line = Location::caller().line() + 1;
    group.r#async(&*io, async move { wait.await.map_err(|_| kqio::Canceled) });
    let d = dump_until(&io, "the member", |d| d.tasks.len() == 1);
    assert_eq!(d.tasks[0].spawned_at.file(), file!());
    assert_eq!(d.tasks[0].spawned_at.line(), line);
    assert_eq!(d.tasks[0].name, None);
    go.send(()).unwrap();
    rt.block_on(group.wait()).unwrap();
}

/// A task is in the dump, and counted live, from its spawn: a child spawned by the only worker's
/// running task cannot have been polled yet (that worker is busy running its parent), and is
/// listed, scheduled, with its name and spawn location.
#[test]
fn a_task_not_yet_polled_is_in_the_dump_and_counted_live() {
    let rt = rt(1);
    let io = rt.io();
    let io2 = io.clone();
    let parent = io.r#async(async move {
        let polled = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let p = polled.clone();
        let here = Location::caller().line() + 1;
        let child = io2.task().name("unpolled").r#async(async move {
            p.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let dump = io2.task_dump();
        let live = io2.metrics().live_tasks;
        assert!(!polled.load(std::sync::atomic::Ordering::SeqCst), "the child has not run");
        child.await;
        (dump, live, here)
    });
    let (dump, live, here) = rt.block_on(parent);
    assert_eq!(dump.tasks.len(), 2, "the parent and its child:\n{dump}");
    assert_eq!(live, 2);
    let t = dump.tasks.iter().find(|t| t.name.as_deref() == Some("unpolled")).expect("listed");
    assert_eq!(t.state, TaskState::Scheduled);
    assert_eq!(t.waiting_on, None);
    assert_eq!((t.spawned_at.file(), t.spawned_at.line()), (file!(), here));
}

#[test]
fn the_dump_says_accept_signal_process_exit_and_file_lock_as_the_simulator_does() {
    use kqio::fs::{Dir, Lock, OpenFlags};
    use kqio::process::Command;
    use kqio::signal::{Signal, Signals};

    let rt = rt(2);
    let io = rt.io();
    let setup_io = io.clone();
    let path = std::env::temp_dir().join(format!("kqio-task-dump-lock-{}", std::process::id()));
    std::fs::write(&path, b"").unwrap();
    let p2 = path.clone();
    let (listener, held, waiting, mut child, signals) = rt.block_on(async move {
        let io = setup_io;
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let l = TcpListener::bind(&io, any).await.unwrap();
        let cwd = Dir::cwd(&io);
        let held = cwd.open_file(&p2, OpenFlags::default()).await.unwrap();
        held.lock(Lock::Exclusive).await.unwrap();
        let waiting = cwd.open_file(&p2, OpenFlags::default()).await.unwrap();
        let child = Command::new("sleep").arg("60").spawn(&io).unwrap();
        let signals = Signals::new(&io, Signal::USER2).unwrap();
        (l, held, waiting, child, signals)
    });
    let pid = child.id();
    let mut signals = signals;
    let accept = io.task().name("accept").r#async(async move { listener.accept().await.map(drop) });
    let lock = io.task().name("lock").r#async(async move { waiting.lock(Lock::Exclusive).await });
    let signal = io.task().name("signal").r#async(async move { signals.recv().await });
    let wait = io.task().name("wait").r#async(async move {
        let r = child.wait().await;
        (child, r)
    });
    let want = [
        ("accept", WaitingOn::Accept),
        ("lock", WaitingOn::FileLock),
        ("signal", WaitingOn::Signal { signal: Signal::USER2 }),
        ("wait", WaitingOn::Process { pid }),
    ];
    let d = dump_until(&io, "the four waits", |d| {
        want.iter().all(|(name, on)| {
            d.tasks.iter().any(|t| t.name.as_deref() == Some(*name) && t.waiting_on == Some(*on))
        })
    });
    let text = d.to_string();
    assert!(text.contains("waiting on accept (a connection to a listener)"), "{text}");
    assert!(text.contains("waiting on file lock (flock)"), "{text}");
    assert!(text.contains(&format!("waiting on exit of process {pid}")), "{text}");
    // Release everything.
    rt.block_on(accept.cancel()).unwrap_err();
    rt.block_on(signal.cancel()).unwrap_err();
    rt.block_on(held.unlock()).unwrap();
    rt.block_on(lock).unwrap();
    // SIGKILL through `kill(1)`, as the child handle is in the waiting task.
    std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
    let (_child, status) = rt.block_on(wait);
    assert!(!status.unwrap().success());
    let _ = std::fs::remove_file(&path);
}
