//! Networking over loopback, side by side in one process: kqio vs tokio (multi-thread) vs
//! async-net (smol's, on async-executor), each with 2 worker threads.
//!
//! - `echo`: 64 connections, each ping-ponging a 64-byte message `ECHO_ROUND_TRIPS` times
//!   (server and clients in the same runtime); reported as round trips per second.
//! - `throughput`: one connection streaming 1 GiB in 64 KiB writes to a reader that discards
//!   it (writer and reader are both spawned tasks); reported as GiB/s.
//!
//! `cargo bench --bench net [filter]`; `BENCH_ITERS=n` sets the timed runs per runtime. The HTTP
//! comparison with `wrk` is in benches/README.md.

mod common;

use std::net::SocketAddr;

use common::{Args, Stats, Watchdog};

const WORKERS: usize = 2;
const CONNECTIONS: usize = 64;
const ECHO_ROUND_TRIPS: usize = 20_000;
const MESSAGE: usize = 64;
const STREAM_BYTES: usize = 1 << 30;
const CHUNK: usize = 64 * 1024;

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

// ----- kqio -----

struct Kqio {
    rt: kqio::Kqueue,
}

impl Kqio {
    fn new() -> Kqio {
        let opts = kqio::InitOptions { n_threads: Some(WORKERS), ..Default::default() };
        Kqio { rt: kqio::Kqueue::init(opts).unwrap() }
    }

    fn echo(&self, round_trips: usize) {
        use kqio::net::{TcpListener, TcpStream};
        let io = self.rt.io();
        self.rt.block_on(async {
            let listener = TcpListener::bind(&io, any_port()).await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server_io = io.clone();
            let server = io.r#async(async move {
                for _ in 0..CONNECTIONS {
                    let (s, _) = listener.accept().await.unwrap();
                    s.set_nodelay(true).unwrap();
                    server_io
                        .r#async(async move {
                            let mut buf = [0u8; MESSAGE];
                            while s.read(&mut buf).await.unwrap_or(0) != 0 {
                                s.write_all(&buf).await.unwrap();
                            }
                        })
                        .detach();
                }
            });
            let clients: Vec<_> = (0..CONNECTIONS)
                .map(|_| {
                    let io = io.clone();
                    io.clone().r#async(async move {
                        let c = TcpStream::connect(&io, addr).await.unwrap();
                        c.set_nodelay(true).unwrap();
                        let mut buf = [7u8; MESSAGE];
                        for _ in 0..round_trips {
                            c.write_all(&buf).await.unwrap();
                            c.read_exact(&mut buf).await.unwrap();
                        }
                    })
                })
                .collect();
            server.await;
            for c in clients {
                c.await;
            }
        });
    }

    fn throughput(&self) {
        use kqio::net::{TcpListener, TcpStream};
        let io = self.rt.io();
        self.rt.block_on(async {
            let listener = TcpListener::bind(&io, any_port()).await.unwrap();
            let addr = listener.local_addr().unwrap();
            let reader = io.r#async(async move {
                let (s, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; CHUNK];
                let mut total = 0;
                loop {
                    let n = s.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break total;
                    }
                    total += n;
                }
            });
            let writer_io = io.clone();
            let writer = io.r#async(async move {
                let c = TcpStream::connect(&writer_io, addr).await.unwrap();
                let chunk = vec![1u8; CHUNK];
                for _ in 0..STREAM_BYTES / CHUNK {
                    c.write_all(&chunk).await.unwrap();
                }
            });
            writer.await;
            assert_eq!(reader.await, STREAM_BYTES);
        });
    }
}

// ----- tokio -----

struct Tokio {
    rt: tokio::runtime::Runtime,
}

impl Tokio {
    fn new() -> Tokio {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .enable_all()
            .build()
            .unwrap();
        Tokio { rt }
    }

    fn echo(&self, round_trips: usize) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use tokio::net::{TcpListener, TcpStream};
        self.rt.block_on(async {
            let listener = TcpListener::bind(any_port()).await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = tokio::spawn(async move {
                for _ in 0..CONNECTIONS {
                    let (mut s, _) = listener.accept().await.unwrap();
                    s.set_nodelay(true).unwrap();
                    tokio::spawn(async move {
                        let mut buf = [0u8; MESSAGE];
                        while s.read(&mut buf).await.unwrap_or(0) != 0 {
                            s.write_all(&buf).await.unwrap();
                        }
                    });
                }
            });
            let clients: Vec<_> = (0..CONNECTIONS)
                .map(|_| {
                    tokio::spawn(async move {
                        let mut c = TcpStream::connect(addr).await.unwrap();
                        c.set_nodelay(true).unwrap();
                        let mut buf = [7u8; MESSAGE];
                        for _ in 0..round_trips {
                            c.write_all(&buf).await.unwrap();
                            c.read_exact(&mut buf).await.unwrap();
                        }
                    })
                })
                .collect();
            server.await.unwrap();
            for c in clients {
                c.await.unwrap();
            }
        });
    }

    fn throughput(&self) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use tokio::net::{TcpListener, TcpStream};
        self.rt.block_on(async {
            let listener = TcpListener::bind(any_port()).await.unwrap();
            let addr = listener.local_addr().unwrap();
            let reader = tokio::spawn(async move {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; CHUNK];
                let mut total = 0;
                loop {
                    let n = s.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break total;
                    }
                    total += n;
                }
            });
            let writer = tokio::spawn(async move {
                let mut c = TcpStream::connect(addr).await.unwrap();
                let chunk = vec![1u8; CHUNK];
                for _ in 0..STREAM_BYTES / CHUNK {
                    c.write_all(&chunk).await.unwrap();
                }
            });
            writer.await.unwrap();
            assert_eq!(reader.await.unwrap(), STREAM_BYTES);
        });
    }
}

// ----- async-net on async-executor -----

struct AsyncNet {
    pool: common::SmolPool,
}

impl AsyncNet {
    fn new() -> AsyncNet {
        AsyncNet { pool: common::SmolPool::new(WORKERS) }
    }

    fn echo(&self, round_trips: usize) {
        use async_net::{TcpListener, TcpStream};
        use futures_lite::{AsyncReadExt, AsyncWriteExt};
        let ex = self.pool.ex.clone();
        async_io::block_on(async {
            let listener = TcpListener::bind(any_port()).await.unwrap();
            let addr = listener.local_addr().unwrap();
            let ex2 = ex.clone();
            let server = ex.spawn(async move {
                for _ in 0..CONNECTIONS {
                    let (mut s, _) = listener.accept().await.unwrap();
                    s.set_nodelay(true).unwrap();
                    ex2.spawn(async move {
                        let mut buf = [0u8; MESSAGE];
                        while s.read(&mut buf).await.unwrap_or(0) != 0 {
                            s.write_all(&buf).await.unwrap();
                        }
                    })
                    .detach();
                }
            });
            let clients: Vec<_> = (0..CONNECTIONS)
                .map(|_| {
                    ex.spawn(async move {
                        let mut c = TcpStream::connect(addr).await.unwrap();
                        c.set_nodelay(true).unwrap();
                        let mut buf = [7u8; MESSAGE];
                        for _ in 0..round_trips {
                            c.write_all(&buf).await.unwrap();
                            c.read_exact(&mut buf).await.unwrap();
                        }
                    })
                })
                .collect();
            server.await;
            for c in clients {
                c.await;
            }
        });
    }

    fn throughput(&self) {
        use async_net::{TcpListener, TcpStream};
        use futures_lite::{AsyncReadExt, AsyncWriteExt};
        let ex = self.pool.ex.clone();
        async_io::block_on(async {
            let listener = TcpListener::bind(any_port()).await.unwrap();
            let addr = listener.local_addr().unwrap();
            let reader = ex.spawn(async move {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; CHUNK];
                let mut total = 0;
                loop {
                    let n = s.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break total;
                    }
                    total += n;
                }
            });
            let writer = ex.spawn(async move {
                let mut c = TcpStream::connect(addr).await.unwrap();
                let chunk = vec![1u8; CHUNK];
                for _ in 0..STREAM_BYTES / CHUNK {
                    c.write_all(&chunk).await.unwrap();
                }
            });
            writer.await;
            assert_eq!(reader.await, STREAM_BYTES);
        });
    }
}

fn rate(count: f64, s: &Stats) -> f64 {
    count / s.median.as_secs_f64()
}

/// `NET_ONLY=kqio|tokio|async-net`: run one echo on that runtime alone and exit, so that
/// `strace -c -f` can count the syscalls of one runtime (see benches/README.md).
fn only(name: &str) {
    let run: Box<dyn Fn()> = match name {
        "kqio" => {
            let k = Kqio::new();
            Box::new(move || k.echo(ECHO_ROUND_TRIPS))
        }
        "tokio" => {
            let t = Tokio::new();
            Box::new(move || t.echo(ECHO_ROUND_TRIPS))
        }
        "async-net" => {
            let a = AsyncNet::new();
            Box::new(move || a.echo(ECHO_ROUND_TRIPS))
        }
        other => panic!("NET_ONLY: unknown runtime {other:?}"),
    };
    run();
    println!("{name}: echo of {CONNECTIONS} x {ECHO_ROUND_TRIPS} round trips done");
}

fn main() {
    if let Ok(name) = std::env::var("NET_ONLY") {
        return only(&name);
    }
    let args = Args::parse();
    let watchdog = Watchdog::start();
    let (k, t, a) = (Kqio::new(), Tokio::new(), AsyncNet::new());
    let runtimes = ["kqio", "tokio", "async-net"];
    println!("net: loopback, {WORKERS} workers per runtime, timed runs interleaved\n");
    let mut rows = Vec::new();
    let mut rates = Vec::new();
    if args.selects("echo") {
        let iters = args.iters_or(3);
        let rt = ECHO_ROUND_TRIPS;
        let stats = common::compare(
            &watchdog,
            "echo",
            iters,
            &mut [
                ("kqio", &mut || k.echo(rt)),
                ("tokio", &mut || t.echo(rt)),
                ("async-net", &mut || a.echo(rt)),
            ],
        );
        let total = (CONNECTIONS * ECHO_ROUND_TRIPS) as f64;
        let r: Vec<f64> = stats.iter().map(|s| rate(total, s)).collect();
        rates.push((
            format!("echo ({CONNECTIONS} conns x {ECHO_ROUND_TRIPS} x {MESSAGE} B), round trips/s"),
            r,
        ));
        rows.push(("echo", stats));
    }
    if args.selects("throughput") {
        let iters = args.iters_or(5);
        let stats = common::compare(
            &watchdog,
            "throughput",
            iters,
            &mut [
                ("kqio", &mut || k.throughput()),
                ("tokio", &mut || t.throughput()),
                ("async-net", &mut || a.throughput()),
            ],
        );
        let gib = STREAM_BYTES as f64 / (1u64 << 30) as f64;
        let r: Vec<f64> = stats.iter().map(|s| rate(gib, s)).collect();
        rates.push(("throughput (1 GiB in 64 KiB writes), GiB/s".to_string(), r));
        rows.push(("throughput", stats));
    }
    for (name, stats) in &rows {
        for (r, s) in runtimes.iter().zip(stats) {
            common::print_stats(name, r, s);
        }
    }
    println!("\nmedian times; ratio = kqio's time / the other's (below 1.00: kqio is faster)\n");
    common::print_table(&runtimes, &rows);
    println!("\nrates from the medians (higher is better)\n");
    println!("| workload | kqio | tokio | async-net | kqio/tokio |");
    println!("| --- | --- | --- | --- | --- |");
    for (name, r) in rates {
        println!("| {name} | {:.3e} | {:.3e} | {:.3e} | {:.2} |", r[0], r[1], r[2], r[0] / r[1]);
    }
}
