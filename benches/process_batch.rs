//! Processes and batches, side by side in one process.
//!
//! - `spawn`: spawn and wait for 1,000 `true` processes from 64 concurrent tasks, on kqio,
//!   tokio (`tokio::process`) and async-process (on async-executor), 2 workers each; reported as
//!   processes per second.
//! - `batch`: 64 Unix socket pairs; each round a writer task writes 64 bytes to every pair and
//!   the reader completes the 64 reads as one [`Batch`] (`await_many(64)`), or as 64 reads
//!   awaited one after another, or as 64 spawned tasks awaited together; kqio only (a batch is
//!   kqio's API), 500 rounds per run.
//!
//! `cargo bench --bench process_batch [spawn|batch]`; `BENCH_ITERS=n` sets the timed runs.

mod common;

use std::sync::Arc;

use common::{Args, Stats, Watchdog};
use kqio::batch::Batch;
use kqio::net::UnixStream;

const WORKERS: usize = 2;
const PROCESSES: usize = 1000;
const SPAWNERS: usize = 64;
const PAIRS: usize = 64;
const ROUNDS: usize = 500;

fn share(i: usize) -> usize {
    PROCESSES / SPAWNERS + usize::from(i < PROCESSES % SPAWNERS)
}

fn kqio_rt() -> kqio::Kqueue {
    kqio::Kqueue::init(kqio::InitOptions { n_threads: Some(WORKERS), ..Default::default() })
        .unwrap()
}

fn spawn_kqio(rt: &kqio::Kqueue) {
    let io = rt.io();
    rt.block_on(async {
        let tasks: Vec<_> = (0..SPAWNERS)
            .map(|i| {
                let io2 = io.clone();
                io.r#async(async move {
                    for _ in 0..share(i) {
                        let st = kqio::process::Command::new("true").status(&io2).await.unwrap();
                        assert!(st.success());
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
    });
}

fn spawn_tokio(rt: &tokio::runtime::Runtime) {
    rt.block_on(async {
        let tasks: Vec<_> = (0..SPAWNERS)
            .map(|i| {
                tokio::spawn(async move {
                    for _ in 0..share(i) {
                        let st = tokio::process::Command::new("true").status().await.unwrap();
                        assert!(st.success());
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
}

struct Smol {
    pool: common::SmolPool,
}

impl Smol {
    fn new() -> Smol {
        Smol { pool: common::SmolPool::new(WORKERS) }
    }

    fn spawn(&self) {
        let ex = self.pool.ex.clone();
        async_io::block_on(async {
            let tasks: Vec<_> = (0..SPAWNERS)
                .map(|i| {
                    ex.spawn(async move {
                        for _ in 0..share(i) {
                            let st = async_process::Command::new("true").status().await.unwrap();
                            assert!(st.success());
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await;
            }
        });
    }
}

#[derive(Clone, Copy)]
enum Reads {
    Batch,
    OneByOne,
    Tasks,
}

fn batch_kqio(rt: &kqio::Kqueue, how: Reads) {
    let io = rt.io();
    rt.block_on(async {
        let pairs: Vec<(UnixStream, UnixStream)> =
            (0..PAIRS).map(|_| UnixStream::pair(&io).unwrap()).collect();
        let (readers, writers): (Vec<_>, Vec<_>) = pairs.into_iter().unzip();
        let readers: Vec<Arc<UnixStream>> = readers.into_iter().map(Arc::new).collect();
        let io2 = io.clone();
        let writer = io.r#async(async move {
            let msg = [7u8; 64];
            for _ in 0..ROUNDS {
                for w in &writers {
                    w.write_all(&msg).await.unwrap();
                }
                io2.yield_now().await;
            }
        });
        let mut bufs = vec![[0u8; 64]; PAIRS];
        for _ in 0..ROUNDS {
            match how {
                Reads::Batch => {
                    let mut batch = Batch::with_capacity(&*io, PAIRS);
                    for (r, buf) in readers.iter().zip(bufs.iter_mut()) {
                        batch.read(r.handle(), buf);
                    }
                    assert_eq!(batch.await_many(PAIRS).await.unwrap(), PAIRS);
                }
                Reads::OneByOne => {
                    for (r, buf) in readers.iter().zip(bufs.iter_mut()) {
                        r.read_exact(buf).await.unwrap();
                    }
                }
                Reads::Tasks => {
                    let tasks: Vec<_> = readers
                        .iter()
                        .map(|r| {
                            let r = r.clone();
                            io.r#async(async move {
                                let mut b = [0u8; 64];
                                r.read_exact(&mut b).await.unwrap();
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await;
                    }
                }
            }
        }
        writer.await;
    });
}

fn main() {
    let args = Args::parse();
    let watchdog = Watchdog::start();
    let k = kqio_rt();
    if args.selects("spawn") {
        let t = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .enable_all()
            .build()
            .unwrap();
        let s = Smol::new();
        let stats = common::compare(
            &watchdog,
            "spawn",
            args.iters_or(5),
            &mut [
                ("kqio", &mut || spawn_kqio(&k)),
                ("tokio", &mut || spawn_tokio(&t)),
                ("async-process", &mut || s.spawn()),
            ],
        );
        for (name, s) in ["kqio", "tokio", "async-process"].iter().zip(&stats) {
            common::print_stats("spawn", name, s);
        }
        let rate = |s: &Stats| PROCESSES as f64 / s.median.as_secs_f64();
        println!("\nspawn+wait of {PROCESSES} `true` from {SPAWNERS} tasks, processes/s (higher is better)\n");
        println!("| kqio | tokio | async-process | kqio/tokio | kqio/async-process |");
        println!("| --- | --- | --- | --- | --- |");
        println!(
            "| {:.0} | {:.0} | {:.0} | {:.2} | {:.2} |\n",
            rate(&stats[0]),
            rate(&stats[1]),
            rate(&stats[2]),
            rate(&stats[0]) / rate(&stats[1]),
            rate(&stats[0]) / rate(&stats[2]),
        );
    }
    if args.selects("batch") {
        let stats = common::compare(
            &watchdog,
            "batch",
            args.iters_or(10),
            &mut [
                ("batch", &mut || batch_kqio(&k, Reads::Batch)),
                ("one-by-one", &mut || batch_kqio(&k, Reads::OneByOne)),
                ("64 tasks", &mut || batch_kqio(&k, Reads::Tasks)),
            ],
        );
        for (name, s) in ["batch", "one-by-one", "64 tasks"].iter().zip(&stats) {
            common::print_stats("batch", name, s);
        }
        println!("\n{ROUNDS} rounds of 64 reads on {PAIRS} socket pairs (kqio), medians\n");
        common::print_table(&["batch", "one-by-one", "64 tasks"], &[("64 reads", stats)]);
    }
}
