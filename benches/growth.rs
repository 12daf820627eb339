//! How kqio's costs grow with the number of connections and tasks (issue 15, items 1 and 7),
//! against tokio, with a client that no runtime helps.
//!
//! - `echo`: an echo server (64-byte messages, `TCP_NODELAY`) on kqio and on tokio's
//!   multi-thread runtime, 2 workers each, driven by a client in a child process (this binary,
//!   started with `GROWTH_CLIENT`) made of 64 plain std threads with blocking sockets. The
//!   threads share C connections (C = 64, 1,000, 10,000): each round, a thread writes a message
//!   on each of its connections, then reads each echo back. Reported: round trips per second and
//!   the p50/p99 round-trip time (from a connection's write to the end of its read). With 64
//!   connections this is the classic one-thread-per-connection ping-pong.
//! - `spawn`: N empty tasks spawned from a task, then awaited (N = 10^3 .. 10^6): nanoseconds per
//!   task, spawn to join.
//!
//! Each configuration runs on the two runtimes in turn, `BENCH_ITERS` times (default 3; medians
//! reported), so background load is shared out. The echo server and its client are separate
//! processes with their own descriptor limits (10,000 connections need 10,000 on each side; the
//! soft `RLIMIT_NOFILE` is raised to the hard limit, and a lower limit caps C, which is said).
//!
//! `cargo bench --bench growth [echo|spawn]`; `GROWTH_SECS=s` sets each echo run's length
//! (default 3), `GROWTH_CONNS=64,1000` the connection counts, and `GROWTH_ONLY=kqio` (or
//! `tokio`) runs one runtime's echo alone, for `perf` or `strace -f` (its column then reads 0).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::Args;

const WORKERS: usize = 2;
const MESSAGE: usize = 64;
const CLIENT_THREADS: usize = 64;

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

// ----- The client (child process) ----------------------------------------------------------------

/// What one client run measured.
struct ClientReport {
    round_trips_per_s: f64,
    p50_us: f64,
    p99_us: f64,
}

/// `GROWTH_CLIENT="addr conns secs"`: connect, run rounds for `secs`, print one report line.
fn client_main(spec: &str) {
    let mut parts = spec.split_whitespace();
    let addr: SocketAddr = parts.next().unwrap().parse().unwrap();
    let conns: usize = parts.next().unwrap().parse().unwrap();
    let secs: f64 = parts.next().unwrap().parse().unwrap();
    raise_nofile();
    let threads = CLIENT_THREADS.min(conns);
    let start = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let mine = conns / threads + usize::from(t < conns % threads);
            let start = start.clone();
            std::thread::spawn(move || {
                let mut streams: Vec<TcpStream> = (0..mine)
                    .map(|_| {
                        let s = TcpStream::connect(addr).expect("connect");
                        s.set_nodelay(true).unwrap();
                        s
                    })
                    .collect();
                start.wait();
                start.wait();
                let deadline = Instant::now() + Duration::from_secs_f64(secs);
                let msg = [7u8; MESSAGE];
                let mut buf = [0u8; MESSAGE];
                let mut sent_at = vec![Instant::now(); mine];
                let mut rtts_us: Vec<u32> = Vec::with_capacity(1 << 16);
                let mut round_trips = 0u64;
                while Instant::now() < deadline {
                    for (s, at) in streams.iter_mut().zip(sent_at.iter_mut()) {
                        *at = Instant::now();
                        s.write_all(&msg).expect("write");
                    }
                    for (s, at) in streams.iter_mut().zip(&sent_at) {
                        s.read_exact(&mut buf).expect("read");
                        rtts_us.push(at.elapsed().as_micros().min(u32::MAX as u128) as u32);
                    }
                    round_trips += mine as u64;
                }
                (round_trips, rtts_us)
            })
        })
        .collect();
    start.wait(); // every thread has connected
    let began = Instant::now();
    start.wait();
    let mut total = 0;
    let mut rtts = Vec::new();
    for h in handles {
        let (n, r) = h.join().expect("client thread");
        total += n;
        rtts.extend(r);
    }
    let elapsed = began.elapsed().as_secs_f64();
    rtts.sort_unstable();
    let at = |q: f64| rtts[((rtts.len() - 1) as f64 * q) as usize] as f64;
    println!("{} {} {}", total as f64 / elapsed, at(0.50), at(0.99));
}

/// Runs the client against `addr` in a child process and parses its report.
fn run_client(addr: SocketAddr, conns: usize, secs: f64) -> ClientReport {
    let exe = std::env::current_exe().expect("current_exe");
    let out = Command::new(exe)
        .env("GROWTH_CLIENT", format!("{addr} {conns} {secs}"))
        .stderr(Stdio::inherit())
        .output()
        .expect("start the client");
    assert!(out.status.success(), "the client failed: {:?}", out.status);
    let line = String::from_utf8(out.stdout).expect("utf-8");
    let v: Vec<f64> = line.split_whitespace().map(|x| x.parse().expect("a number")).collect();
    ClientReport { round_trips_per_s: v[0], p50_us: v[1], p99_us: v[2] }
}

// ----- The servers ---------------------------------------------------------------------------------

trait Runtime {
    /// Serves echo on a fresh listener while `client` runs against it.
    fn echo(&self, client: &dyn Fn(SocketAddr) -> ClientReport) -> ClientReport;
    /// Spawns `n` empty tasks from a task and awaits them.
    fn spawn_join(&self, n: usize);
}

struct Kqio(kqio::Kqueue);

impl Runtime for Kqio {
    fn echo(&self, client: &dyn Fn(SocketAddr) -> ClientReport) -> ClientReport {
        use kqio::net::TcpListener;
        let io = self.0.io();
        let listener =
            self.0.block_on(TcpListener::bind(&io, "127.0.0.1:0".parse().unwrap())).expect("bind");
        let addr = listener.local_addr().unwrap();
        let server_io = io.clone();
        let server = io.r#async(async move {
            while let Ok((s, _)) = listener.accept().await {
                s.set_nodelay(true).unwrap();
                server_io
                    .r#async(async move {
                        let mut buf = [0u8; MESSAGE];
                        while let Ok(n @ 1..) = s.read(&mut buf).await {
                            if s.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    })
                    .detach();
            }
        });
        let report = client(addr);
        self.0.block_on(server.cancel());
        report
    }

    fn spawn_join(&self, n: usize) {
        let io = self.0.io();
        self.0.block_on(self.0.io().r#async(async move {
            let handles: Vec<_> = (0..n).map(|_| io.r#async(async {})).collect();
            for h in handles {
                h.await;
            }
        }));
    }
}

struct Tokio(tokio::runtime::Runtime);

impl Runtime for Tokio {
    fn echo(&self, client: &dyn Fn(SocketAddr) -> ClientReport) -> ClientReport {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = self.0.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
        let addr = listener.local_addr().unwrap();
        let server = self.0.spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                s.set_nodelay(true).unwrap();
                tokio::spawn(async move {
                    let mut buf = [0u8; MESSAGE];
                    while let Ok(n @ 1..) = s.read(&mut buf).await {
                        if s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let report = client(addr);
        server.abort();
        let _ = self.0.block_on(server);
        report
    }

    fn spawn_join(&self, n: usize) {
        self.0.block_on(async {
            tokio::spawn(async move {
                let handles: Vec<_> = (0..n).map(|_| tokio::spawn(async {})).collect();
                for h in handles {
                    h.await.unwrap();
                }
            })
            .await
            .unwrap()
        });
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    if let Ok(spec) = std::env::var("GROWTH_CLIENT") {
        return client_main(&spec);
    }
    let args = Args::parse();
    let iters = args.iters_or(3);
    let limit = raise_nofile();
    let k = Kqio(
        kqio::Kqueue::init(kqio::InitOptions { n_threads: Some(WORKERS), ..Default::default() })
            .expect("kqio"),
    );
    let t = Tokio(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .enable_all()
            .build()
            .expect("tokio"),
    );
    println!(
        "growth: {WORKERS} workers per runtime, medians of {iters} interleaved runs; load average {}",
        common::load_average().map_or("?".into(), |l| format!("{l:.2}"))
    );
    if args.selects("echo") {
        let secs: f64 =
            std::env::var("GROWTH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(3.0);
        let counts: Vec<usize> = std::env::var("GROWTH_CONNS")
            .ok()
            .map(|s| s.split(',').map(|c| c.trim().parse().expect("GROWTH_CONNS")).collect())
            .unwrap_or(vec![64, 1_000, 10_000]);
        println!("\necho: {MESSAGE} B messages, client of {CLIENT_THREADS} std threads in a child process, {secs} s per run\n");
        println!(
            "| connections | kqio round trips/s | tokio round trips/s | kqio/tokio | kqio p50 / p99 µs | tokio p50 / p99 µs |"
        );
        println!("| --- | --- | --- | --- | --- | --- |");
        for conns in counts {
            let fit = limit.saturating_sub(64);
            if conns > fit {
                println!("| {conns} | skipped: RLIMIT_NOFILE is {limit} | | | | |");
                continue;
            }
            let client = |addr| run_client(addr, conns, secs);
            let only = std::env::var("GROWTH_ONLY").ok();
            let skip = |name: &str| only.as_deref().is_some_and(|o| o != name);
            let none = || ClientReport { round_trips_per_s: 0.0, p50_us: 0.0, p99_us: 0.0 };
            let (mut kr, mut tr) = (Vec::new(), Vec::new());
            for _ in 0..iters {
                kr.push(if skip("kqio") { none() } else { k.echo(&client) });
                tr.push(if skip("tokio") { none() } else { t.echo(&client) });
            }
            let col =
                |v: &[ClientReport], f: fn(&ClientReport) -> f64| median(v.iter().map(f).collect());
            let (kq, tk) = (col(&kr, |r| r.round_trips_per_s), col(&tr, |r| r.round_trips_per_s));
            println!(
                "| {conns} | {kq:.0} | {tk:.0} | {:.2} | {:.0} / {:.0} | {:.0} / {:.0} |",
                kq / tk,
                col(&kr, |r| r.p50_us),
                col(&kr, |r| r.p99_us),
                col(&tr, |r| r.p50_us),
                col(&tr, |r| r.p99_us),
            );
        }
    }
    if args.selects("spawn") {
        println!("\nspawn: N empty tasks spawned from a task, then awaited (ns per task)\n");
        println!("| tasks | kqio ns/task | tokio ns/task | kqio/tokio |");
        println!("| --- | --- | --- | --- |");
        for n in [1_000, 10_000, 100_000, 1_000_000] {
            let per_task = |rt: &dyn Fn(usize)| {
                let t0 = Instant::now();
                rt(n);
                t0.elapsed().as_nanos() as f64 / n as f64
            };
            k.spawn_join(n); // warm-up: grows the allocator's and the runtimes' buffers
            t.spawn_join(n);
            let (mut kr, mut tr) = (Vec::new(), Vec::new());
            for _ in 0..iters.max(3) {
                kr.push(per_task(&|n| k.spawn_join(n)));
                tr.push(per_task(&|n| t.spawn_join(n)));
            }
            let (kq, tk) = (median(kr), median(tr));
            println!("| {n} | {kq:.0} | {tk:.0} | {:.2} |", kq / tk);
        }
    }
}
