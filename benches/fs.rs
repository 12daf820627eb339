//! Files, side by side in one process: kqio (`kqio::fs`) vs `tokio::fs` (multi-thread runtime)
//! vs async-fs (on async-executor, with the `blocking` crate's pool), each with 2 worker threads.
//!
//! - `read_64k`, `read_1m`: open a 512 MiB file and read it from start to end in 64 KiB or 1 MiB
//!   reads (one task); reported as GiB/s.
//! - `small_files`: 10,000 files of 4 KiB, one task, one file after the other: create, write
//!   4 KiB and close each, then open, read 4 KiB and close each; reported as files per second (a
//!   file counted once for its write and once for its read). The files exist already (made with
//!   the fixtures, as creating a file is slow on some file systems) and are opened with
//!   `O_CREAT` and overwritten in place, without truncation: on ext4, truncating a file that has
//!   data and writing it again makes `close` start writeback (`auto_da_alloc`), which costs ~1 ms
//!   a file and would measure the disk, not the runtime.
//! - `small_files_64`: the same 10,000 files shared out among 64 concurrent tasks.
//! - `stat`: `stat` of 10,000 paths from 64 concurrent tasks; reported as stats per second.
//!
//! Every fixture (the 512 MiB file, the 10,000 small files) is made before anything is timed,
//! in a directory under `std::env::temp_dir()` (`TMPDIR`) that is removed at exit. The page
//! cache is warm after the first run, so the figures measure each runtime's overhead (hand-offs
//! to its blocking pool, copies, allocations), not the disk.
//!
//! Every run checks what it got: the bytes read add up to the file's size and sampled bytes of
//! each read match the pattern the file was written with; each small file reads back as written;
//! each `stat` says 4,096 bytes. A runtime that skipped work would fail, not look fast.
//!
//! `cargo bench --bench fs [filter]`; `BENCH_ITERS=n` sets the timed runs per runtime;
//! `FS_ONLY=kqio` (or `tokio`, `async-fs`) runs the workloads on that runtime alone, for `perf`
//! or `strace`.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{Args, Stats, Watchdog};

const WORKERS: usize = 2;
const BIG_BYTES: u64 = 512 << 20;
const SMALL_FILES: usize = 10_000;
const SMALL_BYTES: usize = 4096;
const TASKS: usize = 64;

/// The byte at `offset` of the big file: varies with every low bit and with the block number, so
/// a read of the wrong place or a short copy shows.
fn byte_at(offset: u64) -> u8 {
    (offset ^ (offset >> 8) ^ (offset >> 16) ^ (offset >> 24)) as u8
}

/// Checks one read of `data` at `offset` of the big file: its first, middle and last bytes.
fn check_chunk(offset: u64, data: &[u8]) {
    let n = data.len() as u64;
    assert!(n > 0);
    for i in [0, n / 2, n - 1] {
        assert_eq!(data[i as usize], byte_at(offset + i), "wrong byte at {}", offset + i);
    }
}

/// The content of small file `i`: 4 KiB, first and last bytes naming the file.
fn small_content(i: usize) -> Vec<u8> {
    let mut v = vec![(i % 251) as u8; SMALL_BYTES];
    v[..8].copy_from_slice(&(i as u64).to_le_bytes());
    v[SMALL_BYTES - 8..].copy_from_slice(&(i as u64).to_le_bytes());
    v
}

fn check_small(i: usize, data: &[u8]) {
    assert_eq!(data.len(), SMALL_BYTES);
    assert_eq!(data[..8], (i as u64).to_le_bytes());
    assert_eq!(data[SMALL_BYTES - 8..], (i as u64).to_le_bytes());
    assert_eq!(data[SMALL_BYTES / 2], (i % 251) as u8);
}

/// The files of `tasks` tasks: task `t` takes files `t`, `t + tasks`, ...
fn share(t: usize, tasks: usize, n: usize) -> impl Iterator<Item = usize> {
    (t..n).step_by(tasks)
}

/// The temporary directory of the run and its fixtures; removed on drop.
struct Fixtures {
    root: PathBuf,
    /// The 512 MiB file of `read_*`.
    big: PathBuf,
    /// The 10,000 files of 4 KiB: `small_files` (every runtime) overwrites them with the same
    /// bytes, `stat` stats them. Made here, because creating a file is the slow part on some
    /// file systems (about 1.7 ms a file on the ext4 of the machine these figures come from,
    /// against 15 µs to open, write and close an existing one).
    small: Arc<Vec<PathBuf>>,
}

impl Fixtures {
    fn new(args: &Args) -> Fixtures {
        let start = std::time::Instant::now();
        let root = std::env::temp_dir().join(format!("kqio-fsbench-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        let big = root.join("big");
        if args.selects("read_64k") || args.selects("read_1m") {
            use std::io::Write;
            let mut f =
                std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&big).unwrap());
            let mut block = vec![0u8; 1 << 20];
            for start in (0..BIG_BYTES).step_by(block.len()) {
                for (i, b) in block.iter_mut().enumerate() {
                    *b = byte_at(start + i as u64);
                }
                f.write_all(&block).unwrap();
            }
            f.flush().unwrap();
        }
        let dir = root.join("small");
        std::fs::create_dir_all(&dir).unwrap();
        let small: Vec<PathBuf> = (0..SMALL_FILES).map(|i| dir.join(format!("f{i:05}"))).collect();
        if args.selects("small_files") || args.selects("small_files_64") || args.selects("stat") {
            for (i, p) in small.iter().enumerate() {
                std::fs::write(p, small_content(i)).unwrap();
            }
        }
        eprintln!("fixtures made in {:.1} s", start.elapsed().as_secs_f64());
        Fixtures { root, big, small: Arc::new(small) }
    }
}

impl Drop for Fixtures {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
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

    fn read(&self, path: &Path, chunk: usize) {
        use kqio::fs::Dir;
        let io = self.rt.io();
        let total = self.rt.block_on(async {
            let f = Dir::cwd(&io).open_file(path, Default::default()).await.unwrap();
            let mut buf = vec![0u8; chunk];
            let mut total = 0u64;
            loop {
                let n = f.read(&mut buf).await.unwrap();
                if n == 0 {
                    break total;
                }
                check_chunk(total, &buf[..n]);
                total += n as u64;
            }
        });
        assert_eq!(total, BIG_BYTES);
    }

    fn small_files(&self, paths: &Arc<Vec<PathBuf>>, tasks: usize) {
        use kqio::fs::{CreateFlags, Dir};
        let io = self.rt.io();
        self.rt.block_on(async {
            let handles: Vec<_> = (0..tasks)
                .map(|t| {
                    let (io, paths) = (io.clone(), paths.clone());
                    io.clone().r#async(async move {
                        let dir = Dir::cwd(&io);
                        let flags = CreateFlags { truncate: false, ..CreateFlags::default() };
                        for i in share(t, tasks, paths.len()) {
                            let f = dir.create_file(&paths[i], flags).await.unwrap();
                            f.write_all(&small_content(i)).await.unwrap();
                            drop(f);
                        }
                        let mut buf = vec![0u8; SMALL_BYTES];
                        for i in share(t, tasks, paths.len()) {
                            let f = dir.open_file(&paths[i], Default::default()).await.unwrap();
                            let mut n = 0;
                            while n < SMALL_BYTES {
                                let r = f.read(&mut buf[n..]).await.unwrap();
                                assert!(r > 0, "{} ends early", paths[i].display());
                                n += r;
                            }
                            drop(f);
                            check_small(i, &buf);
                        }
                    })
                })
                .collect();
            for h in handles {
                h.await;
            }
        });
    }

    fn stat(&self, paths: &Arc<Vec<PathBuf>>) {
        use kqio::fs::Dir;
        let io = self.rt.io();
        self.rt.block_on(async {
            let handles: Vec<_> = (0..TASKS)
                .map(|t| {
                    let (io, paths) = (io.clone(), paths.clone());
                    io.clone().r#async(async move {
                        let dir = Dir::cwd(&io);
                        let mut n = 0;
                        for i in share(t, TASKS, paths.len()) {
                            assert_eq!(dir.stat_file(&paths[i]).await.unwrap().size, 4096);
                            n += 1;
                        }
                        n
                    })
                })
                .collect();
            let mut n = 0;
            for h in handles {
                n += h.await;
            }
            assert_eq!(n, paths.len());
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

    fn read(&self, path: &Path, chunk: usize) {
        use tokio::io::AsyncReadExt;
        let total = self.rt.block_on(async {
            let mut f = tokio::fs::File::open(path).await.unwrap();
            let mut buf = vec![0u8; chunk];
            let mut total = 0u64;
            loop {
                let n = f.read(&mut buf).await.unwrap();
                if n == 0 {
                    break total;
                }
                check_chunk(total, &buf[..n]);
                total += n as u64;
            }
        });
        assert_eq!(total, BIG_BYTES);
    }

    fn small_files(&self, paths: &Arc<Vec<PathBuf>>, tasks: usize) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        self.rt.block_on(async {
            let handles: Vec<_> = (0..tasks)
                .map(|t| {
                    let paths = paths.clone();
                    tokio::spawn(async move {
                        for i in share(t, tasks, paths.len()) {
                            let mut f = tokio::fs::OpenOptions::new()
                                .write(true)
                                .create(true)
                                .truncate(false)
                                .open(&paths[i])
                                .await
                                .unwrap();
                            f.write_all(&small_content(i)).await.unwrap();
                            // tokio's writes are write-behind: wait for this one.
                            f.flush().await.unwrap();
                            drop(f);
                        }
                        let mut buf = vec![0u8; SMALL_BYTES];
                        for i in share(t, tasks, paths.len()) {
                            let mut f = tokio::fs::File::open(&paths[i]).await.unwrap();
                            f.read_exact(&mut buf).await.unwrap();
                            drop(f);
                            check_small(i, &buf);
                        }
                    })
                })
                .collect();
            for h in handles {
                h.await.unwrap();
            }
        });
    }

    fn stat(&self, paths: &Arc<Vec<PathBuf>>) {
        self.rt.block_on(async {
            let handles: Vec<_> = (0..TASKS)
                .map(|t| {
                    let paths = paths.clone();
                    tokio::spawn(async move {
                        let mut n = 0;
                        for i in share(t, TASKS, paths.len()) {
                            assert_eq!(tokio::fs::metadata(&paths[i]).await.unwrap().len(), 4096);
                            n += 1;
                        }
                        n
                    })
                })
                .collect();
            let mut n = 0;
            for h in handles {
                n += h.await.unwrap();
            }
            assert_eq!(n, paths.len());
        });
    }
}

// ----- async-fs on async-executor -----

struct AsyncFs {
    pool: common::SmolPool,
}

impl AsyncFs {
    fn new() -> AsyncFs {
        AsyncFs { pool: common::SmolPool::new(WORKERS) }
    }

    fn read(&self, path: &Path, chunk: usize) {
        use futures_lite::AsyncReadExt;
        let path = path.to_path_buf();
        let total = async_io::block_on(self.pool.ex.spawn(async move {
            let mut f = async_fs::File::open(&path).await.unwrap();
            let mut buf = vec![0u8; chunk];
            let mut total = 0u64;
            loop {
                let n = f.read(&mut buf).await.unwrap();
                if n == 0 {
                    break total;
                }
                check_chunk(total, &buf[..n]);
                total += n as u64;
            }
        }));
        assert_eq!(total, BIG_BYTES);
    }

    fn small_files(&self, paths: &Arc<Vec<PathBuf>>, tasks: usize) {
        use futures_lite::{AsyncReadExt, AsyncWriteExt};
        let ex = self.pool.ex.clone();
        async_io::block_on(async {
            let handles: Vec<_> = (0..tasks)
                .map(|t| {
                    let paths = paths.clone();
                    ex.spawn(async move {
                        for i in share(t, tasks, paths.len()) {
                            let mut f = async_fs::OpenOptions::new()
                                .write(true)
                                .create(true)
                                .truncate(false)
                                .open(&paths[i])
                                .await
                                .unwrap();
                            f.write_all(&small_content(i)).await.unwrap();
                            // async-fs's writes are write-behind: wait for this one.
                            f.flush().await.unwrap();
                            drop(f);
                        }
                        let mut buf = vec![0u8; SMALL_BYTES];
                        for i in share(t, tasks, paths.len()) {
                            let mut f = async_fs::File::open(&paths[i]).await.unwrap();
                            f.read_exact(&mut buf).await.unwrap();
                            drop(f);
                            check_small(i, &buf);
                        }
                    })
                })
                .collect();
            for h in handles {
                h.await;
            }
        });
    }

    fn stat(&self, paths: &Arc<Vec<PathBuf>>) {
        let ex = self.pool.ex.clone();
        async_io::block_on(async {
            let handles: Vec<_> = (0..TASKS)
                .map(|t| {
                    let paths = paths.clone();
                    ex.spawn(async move {
                        let mut n = 0;
                        for i in share(t, TASKS, paths.len()) {
                            assert_eq!(async_fs::metadata(&paths[i]).await.unwrap().len(), 4096);
                            n += 1;
                        }
                        n
                    })
                })
                .collect();
            let mut n = 0;
            for h in handles {
                n += h.await;
            }
            assert_eq!(n, paths.len());
        });
    }
}

fn rate(count: f64, s: &Stats) -> f64 {
    count / s.median.as_secs_f64()
}

/// What each runtime does, for `FS_ONLY`.
trait Runtime {
    fn read(&self, path: &Path, chunk: usize);
    fn small_files(&self, paths: &Arc<Vec<PathBuf>>, tasks: usize);
    fn stat(&self, paths: &Arc<Vec<PathBuf>>);
}

macro_rules! runtime {
    ($($t:ty),*) => {$(
        impl Runtime for $t {
            fn read(&self, path: &Path, chunk: usize) {
                <$t>::read(self, path, chunk)
            }
            fn small_files(&self, paths: &Arc<Vec<PathBuf>>, tasks: usize) {
                <$t>::small_files(self, paths, tasks)
            }
            fn stat(&self, paths: &Arc<Vec<PathBuf>>) {
                <$t>::stat(self, paths)
            }
        }
    )*};
}
runtime!(Kqio, Tokio, AsyncFs);

/// `FS_ONLY=<runtime>`: the selected workloads on that runtime alone, so that `perf` or
/// `strace` sees only it; prints each workload's figures.
fn only(name: &str, args: &Args, fx: &Fixtures) {
    let small = &fx.small;
    let rt: Box<dyn Runtime> = match name {
        "kqio" => Box::new(Kqio::new()),
        "tokio" => Box::new(Tokio::new()),
        "async-fs" => Box::new(AsyncFs::new()),
        _ => panic!("FS_ONLY must be kqio, tokio or async-fs, got {name:?}"),
    };
    let workloads: [(&str, usize, &dyn Fn()); 5] = [
        ("read_64k", 10, &|| rt.read(&fx.big, 64 << 10)),
        ("read_1m", 10, &|| rt.read(&fx.big, 1 << 20)),
        ("small_files", 3, &|| rt.small_files(small, 1)),
        ("small_files_64", 5, &|| rt.small_files(small, TASKS)),
        ("stat", 10, &|| rt.stat(&fx.small)),
    ];
    for (workload, iters, run) in workloads {
        if !args.selects(workload) {
            continue;
        }
        let cpu = common::process_cpu_time();
        let samples: Vec<_> = (0..args.iters_or(iters))
            .map(|_| {
                let start = std::time::Instant::now();
                run();
                start.elapsed()
            })
            .collect();
        let cpu = (common::process_cpu_time() - cpu) / samples.len() as u32;
        common::print_stats(workload, name, &Stats::from_samples(samples));
        println!("  {workload:<24} {name:<11} CPU time per run {}", common::fmt_duration(cpu));
    }
}

fn main() {
    let args = Args::parse();
    let fx = Fixtures::new(&args);
    if let Ok(name) = std::env::var("FS_ONLY") {
        return only(&name, &args, &fx);
    }
    let watchdog = Watchdog::start();
    let (k, t, a) = (Kqio::new(), Tokio::new(), AsyncFs::new());
    let runtimes = ["kqio", "tokio", "async-fs"];
    println!(
        "fs: {}, {WORKERS} workers per runtime, timed runs interleaved, page cache warm{}\n",
        fx.root.display(),
        common::load_average().map_or(String::new(), |l| format!(", load average {l:.2}")),
    );
    let mut rows = Vec::new();
    let mut rates = Vec::new();
    let gib = BIG_BYTES as f64 / (1u64 << 30) as f64;
    for (name, chunk, iters) in [("read_64k", 64 << 10, 10), ("read_1m", 1 << 20, 10)] {
        if !args.selects(name) {
            continue;
        }
        let stats = common::compare(
            &watchdog,
            name,
            args.iters_or(iters),
            &mut [
                ("kqio", &mut || k.read(&fx.big, chunk)),
                ("tokio", &mut || t.read(&fx.big, chunk)),
                ("async-fs", &mut || a.read(&fx.big, chunk)),
            ],
        );
        let r: Vec<f64> = stats.iter().map(|s| rate(gib, s)).collect();
        rates.push((format!("{name}: 512 MiB in {} KiB reads, GiB/s", chunk >> 10), r));
        rows.push((name, stats));
    }
    for (name, tasks, iters) in [("small_files", 1, 3), ("small_files_64", TASKS, 5)] {
        if !args.selects(name) {
            continue;
        }
        let stats = common::compare(
            &watchdog,
            name,
            args.iters_or(iters),
            &mut [
                ("kqio", &mut || k.small_files(&fx.small, tasks)),
                ("tokio", &mut || t.small_files(&fx.small, tasks)),
                ("async-fs", &mut || a.small_files(&fx.small, tasks)),
            ],
        );
        let files = (2 * SMALL_FILES) as f64;
        let r: Vec<f64> = stats.iter().map(|s| rate(files, s)).collect();
        rates.push((
            format!("{name}: {SMALL_FILES} x 4 KiB written then read, {tasks} task(s), files/s"),
            r,
        ));
        rows.push((name, stats));
    }
    if args.selects("stat") {
        let stats = common::compare(
            &watchdog,
            "stat",
            args.iters_or(10),
            &mut [
                ("kqio", &mut || k.stat(&fx.small)),
                ("tokio", &mut || t.stat(&fx.small)),
                ("async-fs", &mut || a.stat(&fx.small)),
            ],
        );
        let r: Vec<f64> = stats.iter().map(|s| rate(SMALL_FILES as f64, s)).collect();
        rates.push((format!("stat: {SMALL_FILES} paths from {TASKS} tasks, stats/s"), r));
        rows.push(("stat", stats));
    }
    for (name, stats) in &rows {
        for (r, s) in runtimes.iter().zip(stats) {
            common::print_stats(name, r, s);
        }
    }
    println!("\nmedian times; ratio = kqio's time / the other's (below 1.00: kqio is faster)\n");
    common::print_table(&runtimes, &rows);
    println!("\nrates from the medians (higher is better)\n");
    println!("| workload | kqio | tokio | async-fs | kqio/tokio | kqio/async-fs |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (name, r) in rates {
        let fmt = |x: f64| if x < 100.0 { format!("{x:.2}") } else { format!("{x:.0}") };
        println!(
            "| {name} | {} | {} | {} | {:.2} | {:.2} |",
            fmt(r[0]),
            fmt(r[1]),
            fmt(r[2]),
            r[0] / r[1],
            r[0] / r[2]
        );
    }
}
