//! The runtime's life cycle at scale: 1,000 init/deinit cycles with tasks blocked on a socket
//! read, a sleep and a mutex leave no descriptor and no thread behind; `deinit` with 10,000
//! blocked tasks takes under 200 ms at the 99th percentile (of 20 rounds); and every descriptor
//! kqio makes (poller, waker, TCP, UDP and Unix sockets, accepted ones and pairs, the signal
//! pipe, child pipes and the child's pidfd) carries `FD_CLOEXEC`.
//!
//! The tests count this process's descriptors and threads, so they run one at a time (a mutex).

#[path = "common/serial.rs"]
mod serial;
#[path = "common/threads.rs"]
mod threads;

use std::collections::BTreeSet;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kqio::net::{TcpListener, TcpStream, UdpSocket, UnixDatagram, UnixListener, UnixStream};
use kqio::process::Command;
use kqio::signal::Signal;
use kqio::sync::{Mutex, Queue};
use kqio::time::{Duration as KDuration, Timeout};
use kqio::{InitOptions, Kqueue};

use serial::serial;
use threads::threads_named_settled;

fn rt(n: usize, name: &str) -> Kqueue {
    Kqueue::init(InitOptions {
        n_threads: Some(n),
        thread_name: name.to_owned(),
        ..Default::default()
    })
    .expect("init")
}

/// This process's open descriptors (the listing's own descriptor is among them, every time).
fn fds() -> BTreeSet<i32> {
    let dir = if cfg!(target_os = "linux") { "/proc/self/fd" } else { "/dev/fd" };
    std::fs::read_dir(dir)
        .expect("the descriptor directory")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

fn hour() -> Timeout {
    Timeout::after(KDuration::HOUR)
}

#[test]
fn a_thousand_cycles_with_blocked_tasks_leak_no_descriptor_or_thread() {
    const CYCLES: usize = 1_000;
    let _s = serial();
    let cycle = || {
        let rt = rt(1, "kqcyc");
        let io = rt.io();
        let (reader, peer) = UnixStream::pair(&io).unwrap();
        let mutex = Arc::new(Mutex::new(()));
        let held = mutex.try_lock().unwrap();
        let (started_tx, started) = std::sync::mpsc::channel();
        let tx = started_tx.clone();
        io.r#async(async move {
            tx.send(()).unwrap();
            let _ = reader.read(&mut [0u8; 8]).await;
        })
        .detach();
        let (io2, tx) = (io.clone(), started_tx.clone());
        io.r#async(async move {
            tx.send(()).unwrap();
            let _ = io2.sleep(hour()).await;
        })
        .detach();
        let (m, tx) = (mutex.clone(), started_tx);
        io.r#async(async move {
            tx.send(()).unwrap();
            let _ = m.lock().await;
        })
        .detach();
        for _ in 0..3 {
            started.recv().unwrap();
        }
        rt.deinit();
        drop((held, peer));
    };
    // Warm up what the first runtime allocates once per process.
    cycle();
    let baseline = fds();
    if let Some(n) = threads_named_settled("kqcyc", 0) {
        assert_eq!(n, 0, "no kqio thread outlives deinit");
    }
    let began = Instant::now();
    for _ in 0..CYCLES {
        cycle();
    }
    let took = began.elapsed();
    eprintln!("{CYCLES} init/deinit cycles with 3 blocked tasks: {took:?}");
    assert_eq!(fds(), baseline, "descriptors after {CYCLES} cycles");
    if let Some(n) = threads_named_settled("kqcyc", 0) {
        assert_eq!(n, 0, "threads after {CYCLES} cycles");
    }
}

#[test]
fn deinit_p99_under_200_ms_with_10_000_blocked_tasks() {
    const TASKS: usize = 10_000;
    const ROUNDS: usize = 20;
    const PAIRS: usize = 50;
    let _s = serial();
    let mut times = Vec::new();
    for _ in 0..ROUNDS {
        let rt = rt(2, "kqp99");
        let io = rt.io();
        let mutex = Arc::new(Mutex::new(()));
        let held = mutex.try_lock().unwrap();
        let queue = Arc::new(Queue::<u32>::new(4));
        let mut peers = Vec::new();
        let readers: Vec<Arc<UnixStream>> = (0..PAIRS)
            .map(|_| {
                let (a, b) = UnixStream::pair(&io).unwrap();
                peers.push(b);
                Arc::new(a)
            })
            .collect();
        let started = Arc::new(AtomicUsize::new(0));
        let mut sleepers = 0;
        for i in 0..TASKS {
            let started = started.clone();
            match i % 4 {
                0 => {
                    let r = readers[i % PAIRS].clone();
                    io.r#async(async move {
                        started.fetch_add(1, Ordering::SeqCst);
                        let _ = r.read(&mut [0u8; 8]).await;
                    })
                }
                1 => {
                    sleepers += 1;
                    let io2 = io.clone();
                    io.r#async(async move {
                        started.fetch_add(1, Ordering::SeqCst);
                        let _ = io2.sleep(hour()).await;
                    })
                }
                2 => {
                    let m = mutex.clone();
                    io.r#async(async move {
                        started.fetch_add(1, Ordering::SeqCst);
                        let _ = m.lock().await;
                    })
                }
                _ => {
                    let q = queue.clone();
                    io.r#async(async move {
                        started.fetch_add(1, Ordering::SeqCst);
                        let _ = q.get_one().await;
                    })
                }
            }
            .detach();
        }
        // Every task has started and every sleeper has its timer: they are all blocked.
        let wait = Instant::now();
        while started.load(Ordering::SeqCst) < TASKS || rt.metrics().timers < sleepers {
            assert!(wait.elapsed() < Duration::from_secs(30), "the tasks did not start");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(rt.metrics().live_tasks, TASKS);
        let began = Instant::now();
        rt.deinit();
        times.push(began.elapsed());
        drop((held, peers));
    }
    times.sort();
    let p99 = times[(times.len() * 99).div_ceil(100) - 1];
    let median = times[times.len() / 2];
    eprintln!("deinit with {TASKS} blocked tasks, {ROUNDS} rounds: median {median:?}, p99 {p99:?}");
    // The bound, 200 ms. Under ThreadSanitizer (`.ci/tsan` sets KQIO_TSAN), which slows
    // every memory access several times over, this measures TSan rather than kqio (a median of
    // 170 ms was seen there): the bound is then 10 times wider, and still catches a `deinit`
    // that waits on its tasks.
    let limit = if std::env::var_os("KQIO_TSAN").is_some() { 2_000 } else { 200 };
    assert!(p99 < Duration::from_millis(limit), "deinit p99 {p99:?} (all: {times:?})");
}

#[test]
fn every_descriptor_kqio_makes_is_close_on_exec() {
    let _s = serial();
    let before = fds();
    let rt = rt(2, "kqexec");
    let io = rt.io();
    let dir = std::env::temp_dir().join(format!("kqio-cloexec-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    rt.block_on(async {
        let tcp = TcpListener::bind(&io, "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let client = TcpStream::connect(&io, tcp.local_addr().unwrap()).await.unwrap();
        let accepted = tcp.accept().await.unwrap();
        let udp = UdpSocket::bind(&io, "127.0.0.1:0".parse().unwrap()).unwrap();
        let pair = UnixStream::pair(&io).unwrap();
        let dgrams = UnixDatagram::pair(&io).unwrap();
        let unbound = UnixDatagram::unbound(&io).unwrap();
        let unix = UnixListener::bind(&io, dir.join("l.sock")).unwrap();
        let unix_client = UnixStream::connect(&io, dir.join("l.sock")).await.unwrap();
        let unix_accepted = unix.accept().await.unwrap();
        let signals = io.signal(Signal::USER2).unwrap();
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn(&io)
            .unwrap();
        io.spawn_blocking(|| ()).await.unwrap();
        let _ = io.lookup("localhost", 80).await;

        let new: Vec<i32> = fds().difference(&before).copied().collect();
        let mut checked = 0;
        for fd in new {
            // SAFETY: `fcntl(F_GETFD)` only reads the descriptor's flags; a descriptor closed
            // since the listing (the listing's own) gives -1.
            let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
            if flags < 0 {
                continue;
            }
            let target = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok();
            assert!(flags & libc::FD_CLOEXEC != 0, "descriptor {fd} ({target:?}) lacks FD_CLOEXEC");
            checked += 1;
        }
        // The poller, the waker, 3 TCP, 1 UDP, 2 + 2 + 1 Unix, 2 Unix listener ones, the signal
        // pipe (Linux) and 3 pipes and a pidfd of the child (Linux): at least 14 anywhere.
        assert!(checked >= 14, "only {checked} new descriptors");
        eprintln!("{checked} new descriptors, all close-on-exec");
        child.kill().unwrap();
        child.wait().await.unwrap();
        drop((tcp, client, accepted, udp, pair, dgrams, unbound, unix, unix_client));
        drop((unix_accepted, signals));
    });
    rt.deinit();
    let _ = std::fs::remove_dir_all(&dir);
}
