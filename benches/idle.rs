//! The memory cost of waiting things: resident bytes per idle TCP connection and per idle task,
//! kqio against tokio (multi-thread), 2 worker threads each.
//!
//! - `conns`: `IDLE_CONNS` (10,000) loopback connections, each accepted by the runtime and
//!   served by a task parked in `read` on a 64-byte buffer (the echo server of `benches/net.rs`);
//!   the client ends are plain blocking `std::net::TcpStream`s, which hold no user-space memory
//!   beyond the descriptor.
//! - `tasks`: `IDLE_TASKS` (100,000) spawned tasks, each parked on one shared
//!   `kqio::sync::Event` (`event.wait()`) or, on tokio, `tokio::sync::Notify` (`notified()`).
//!
//! Method: every (runtime, workload) pair runs in a child process of its own (this binary run
//! again with `IDLE_CHILD=<runtime>-<workload>`), so that neither runtime's allocations (nor
//! the allocator's arenas and free lists they leave) land in the other's figure. The child
//! builds its runtime, binds the listener and warms up with one connection (or task) that
//! comes and goes, reads its resident set size, creates the N waiting things, waits until every
//! task has started (a counter each one bumps right before its wait) plus 200 ms for the last
//! ones to park, reads the resident set again, and prints `(after - before) / N`. Then it lets
//! them all finish (closes the clients, or sets the event) and checks they did. The resident
//! set is the pages touched, so the figure includes each thing's heap blocks and the
//! allocator's overhead for them, rounded over N things to bytes. Kernel socket memory is not in
//! it (it is the same for every runtime).
//!
//! The resident size comes from `/proc/self/statm` where it exists (Linux), else from
//! `getrusage`'s high-water mark (which only grows, and the bench only grows memory before it
//! measures). 10,000 connections need 20,000 descriptors: the bench raises its soft
//! `RLIMIT_NOFILE` to the hard limit and, if that is too low, uses as many connections as it
//! allows (and says so).
//!
//! `cargo bench --bench idle [conns|tasks]`; `IDLE_CONNS=n`, `IDLE_TASKS=n` change the counts.

use std::io::Write;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const WORKERS: usize = 2;
const MESSAGE: usize = 64;
/// Time for the tasks that bumped the counter to reach their wait.
const SETTLE: Duration = Duration::from_millis(200);

fn count(var: &str, default: usize) -> usize {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

// ----- platform helpers (the only system-specific code) -----

/// The resident set size of this process, in bytes.
fn rss() -> usize {
    if let Ok(s) = std::fs::read_to_string("/proc/self/statm") {
        let pages: usize = s.split_whitespace().nth(1).unwrap().parse().unwrap();
        // SAFETY: sysconf has no memory-safety preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        return pages * page;
    }
    let mut u = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage fills the struct it is given and returns 0 on success.
    let u = unsafe {
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, u.as_mut_ptr()), 0);
        u.assume_init()
    };
    // Kilobytes everywhere but on Apple systems, where it is bytes.
    let scale = if cfg!(target_vendor = "apple") { 1 } else { 1024 };
    u.ru_maxrss as usize * scale
}

/// Raises the soft descriptor limit to the hard one; returns the soft limit now in force.
fn raise_nofile() -> usize {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit read and write the struct they are given.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        let want = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
            lim = want;
        }
    }
    usize::try_from(lim.rlim_cur).unwrap_or(usize::MAX)
}

/// How many connections fit: two descriptors each, and 64 kept for the runtime and the rest.
fn connections_allowed(wanted: usize) -> usize {
    let limit = raise_nofile();
    let fit = limit.saturating_sub(64) / 2;
    if fit < wanted {
        eprintln!("RLIMIT_NOFILE hard limit is {limit}: using {fit} connections, not {wanted}");
    }
    wanted.min(fit)
}

/// Waits until `started` reaches `n`, then lets the tasks park.
fn wait_started(started: &AtomicUsize, n: usize) {
    while started.load(Ordering::Acquire) < n {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(SETTLE);
}

/// Waits until every task has decremented `started` on its way out.
fn wait_ended(started: &AtomicUsize) {
    while started.load(Ordering::Acquire) != 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Prints the size of the first task future it is given (on stderr, which the parent passes
/// through): the part of a task's bytes that is the user's state machine, not the runtime's.
fn note_future<F>(what: &str, f: &F) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        eprintln!("  {what}: the task's future is {} bytes", std::mem::size_of_val(f))
    });
}

fn report(what: &str, before: usize, after: usize, n: usize) {
    let per = after.saturating_sub(before) as f64 / n as f64;
    println!("{what} {n} {per:.0}");
}

// ----- kqio -----

fn kqio_runtime() -> kqio::Kqueue {
    let opts = kqio::InitOptions { n_threads: Some(WORKERS), ..Default::default() };
    kqio::Kqueue::init(opts).unwrap()
}

fn kqio_conns(n: usize) {
    use kqio::net::TcpListener;
    let rt = kqio_runtime();
    let io = rt.io();
    let started = Arc::new(AtomicUsize::new(0));
    let listener = rt.block_on(TcpListener::bind(&io, "127.0.0.1:0".parse().unwrap())).unwrap();
    let addr = listener.local_addr().unwrap();
    let (st, sio) = (started.clone(), io.clone());
    let server = io.r#async(async move {
        // One more than `n`: the first is the warm-up connection.
        for _ in 0..=n {
            let (s, _) = listener.accept().await.unwrap();
            let st = st.clone();
            let fut = async move {
                let mut buf = [0u8; MESSAGE];
                st.fetch_add(1, Ordering::Release);
                while s.read(&mut buf).await.unwrap_or(0) != 0 {
                    s.write_all(&buf).await.unwrap();
                }
                st.fetch_sub(1, Ordering::Release);
            };
            note_future("kqio conns", &fut);
            sio.r#async(fut).detach();
        }
    });
    let warm = std::net::TcpStream::connect(addr).unwrap();
    wait_started(&started, 1);
    drop(warm);
    wait_ended(&started);
    let before = rss();
    let clients: Vec<_> = (0..n).map(|_| std::net::TcpStream::connect(addr).unwrap()).collect();
    wait_started(&started, n);
    let after = rss();
    report("kqio conns", before, after, n);
    drop(clients);
    rt.block_on(server);
    wait_ended(&started);
}

fn kqio_tasks(n: usize) {
    use kqio::sync::Event;
    let rt = kqio_runtime();
    let io = rt.io();
    let started = Arc::new(AtomicUsize::new(0));
    let event = Arc::new(Event::new());
    // Detached, so that the figure is the task's alone (a kept handle is the caller's memory).
    let spawn = |count: usize| {
        for _ in 0..count {
            let (st, ev) = (started.clone(), event.clone());
            let fut = async move {
                st.fetch_add(1, Ordering::Release);
                ev.wait().await.unwrap();
                st.fetch_sub(1, Ordering::Release);
            };
            note_future("kqio tasks", &fut);
            io.r#async(fut).detach();
        }
    };
    // Warm-up: one task that waits and ends.
    spawn(1);
    wait_started(&started, 1);
    event.set();
    wait_ended(&started);
    event.reset();
    let before = rss();
    spawn(n);
    wait_started(&started, n);
    let after = rss();
    report("kqio tasks", before, after, n);
    event.set();
    wait_ended(&started);
}

// ----- tokio -----

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()
        .unwrap()
}

fn tokio_conns(n: usize) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio_runtime();
    let started = Arc::new(AtomicUsize::new(0));
    let listener =
        rt.block_on(async { tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap() });
    let addr = listener.local_addr().unwrap();
    let st = started.clone();
    let server = rt.spawn(async move {
        for _ in 0..=n {
            let (mut s, _) = listener.accept().await.unwrap();
            let st = st.clone();
            let fut = async move {
                let mut buf = [0u8; MESSAGE];
                st.fetch_add(1, Ordering::Release);
                while s.read(&mut buf).await.unwrap_or(0) != 0 {
                    s.write_all(&buf).await.unwrap();
                }
                st.fetch_sub(1, Ordering::Release);
            };
            note_future("tokio conns", &fut);
            tokio::spawn(fut);
        }
    });
    let warm = std::net::TcpStream::connect(addr).unwrap();
    wait_started(&started, 1);
    drop(warm);
    wait_ended(&started);
    let before = rss();
    let clients: Vec<_> = (0..n).map(|_| std::net::TcpStream::connect(addr).unwrap()).collect();
    wait_started(&started, n);
    let after = rss();
    report("tokio conns", before, after, n);
    drop(clients);
    rt.block_on(server).unwrap();
    wait_ended(&started);
}

fn tokio_tasks(n: usize) {
    use tokio::sync::Notify;
    let rt = tokio_runtime();
    let started = Arc::new(AtomicUsize::new(0));
    let notify = Arc::new(Notify::new());
    // Detached (the handle dropped), as for kqio.
    let spawn = |count: usize| {
        for _ in 0..count {
            let (st, nf) = (started.clone(), notify.clone());
            let fut = async move {
                let notified = nf.notified();
                st.fetch_add(1, Ordering::Release);
                notified.await;
                st.fetch_sub(1, Ordering::Release);
            };
            note_future("tokio tasks", &fut);
            rt.spawn(fut);
        }
    };
    spawn(1);
    wait_started(&started, 1);
    notify.notify_waiters();
    wait_ended(&started);
    let before = rss();
    spawn(n);
    wait_started(&started, n);
    let after = rss();
    report("tokio tasks", before, after, n);
    // `notify_waiters` wakes every `notified()` future created before the call, and each task
    // created its future before bumping `started`.
    notify.notify_waiters();
    wait_ended(&started);
}

// ----- driver -----

fn child(which: &str) {
    let conns = || connections_allowed(count("IDLE_CONNS", 10_000));
    let tasks = || count("IDLE_TASKS", 100_000);
    match which {
        "kqio-conns" => kqio_conns(conns()),
        "tokio-conns" => tokio_conns(conns()),
        "kqio-tasks" => kqio_tasks(tasks()),
        "tokio-tasks" => tokio_tasks(tasks()),
        other => panic!("IDLE_CHILD: unknown {other:?}"),
    }
    std::io::stdout().flush().unwrap();
}

/// Runs one child and returns its `(count, bytes per thing)`.
fn run_child(which: &str) -> (usize, f64) {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe).env("IDLE_CHILD", which).output().unwrap();
    std::io::stderr().write_all(&out.stderr).unwrap();
    assert!(out.status.success(), "child {which} failed: {}", out.status);
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.lines().last().unwrap_or_else(|| panic!("child {which} printed nothing"));
    let f: Vec<&str> = line.split_whitespace().collect();
    (f[2].parse().unwrap(), f[3].parse().unwrap())
}

fn main() {
    if let Ok(which) = std::env::var("IDLE_CHILD") {
        return child(&which);
    }
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-')).unwrap_or_default();
    println!("idle: resident bytes per waiting thing, {WORKERS} workers, one child process each\n");
    println!("| workload | count | kqio (B) | tokio (B) | kqio/tokio |");
    println!("| --- | --- | --- | --- | --- |");
    for (name, what) in
        [("conns", "idle connection (parked in read)"), ("tasks", "idle task (Event / Notify)")]
    {
        if !name.contains(filter.as_str()) {
            continue;
        }
        let (n, k) = run_child(&format!("kqio-{name}"));
        let (_, t) = run_child(&format!("tokio-{name}"));
        println!("| {what} | {n} | {k:.0} | {t:.0} | {:.2} |", k / t);
    }
}
