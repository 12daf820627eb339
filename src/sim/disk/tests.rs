//! Tests of the simulated disk on a small test world: a manual clock, a seeded generator, and
//! an executor that jumps time to the earliest `wake_at` when nothing is ready.

use std::future::Future;
use std::io::SeekFrom;
use std::path::Path;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use super::*;
use crate::fs::ErrorKind;
use crate::sim::env::SimEnv;

const H: HostId = 0;

/// The test double's real clock at virtual time 0 (2026-01-01T00:00:00Z).
const REAL_START: i64 = 1_767_225_600 * 1_000_000_000;

struct EnvState {
    now: u64,
    rng: u64,
    timers: Vec<(u64, Waker)>,
    log: Vec<String>,
}

struct TestEnv(Mutex<EnvState>);

impl SimEnv for TestEnv {
    fn now(&self) -> u64 {
        self.0.lock().unwrap().now
    }

    fn real_now(&self, _host: HostId) -> i64 {
        REAL_START + self.now() as i64
    }

    fn random_u64(&self) -> u64 {
        // splitmix64
        let mut s = self.0.lock().unwrap();
        s.rng = s.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = s.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn wake_at(&self, at: u64, waker: Waker) {
        self.0.lock().unwrap().timers.push((at, waker));
    }

    fn log(&self, event: fmt::Arguments<'_>) {
        self.0.lock().unwrap().log.push(event.to_string());
    }
}

fn test_env(seed: u64) -> Arc<TestEnv> {
    Arc::new(TestEnv(Mutex::new(EnvState {
        now: 0,
        rng: seed,
        timers: Vec::new(),
        log: Vec::new(),
    })))
}

struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Runs `fut` to its end, jumping virtual time to the earliest timer whenever nothing woke.
fn block_on<F: Future>(env: &TestEnv, fut: F) -> F::Output {
    let flag = Arc::new(Flag(AtomicBool::new(false)));
    let waker = Waker::from(flag.clone());
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        flag.0.store(false, Ordering::SeqCst);
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        if flag.0.load(Ordering::SeqCst) {
            continue;
        }
        advance(env);
    }
}

/// Moves time to the earliest timer and wakes every timer due then.
fn advance(env: &TestEnv) {
    let due = {
        let mut s = env.0.lock().unwrap();
        let at = s.timers.iter().map(|t| t.0).min().expect("deadlock: nothing ready, no timer");
        s.now = s.now.max(at);
        let now = s.now;
        let (due, later) = std::mem::take(&mut s.timers).into_iter().partition(|t| t.0 <= now);
        s.timers = later;
        due
    };
    due.into_iter().for_each(|(_, w): (u64, Waker)| w.wake());
}

fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    let waker = Waker::noop();
    Pin::new(fut).poll(&mut Context::from_waker(waker))
}

fn kind<T: fmt::Debug>(r: io::Result<T>) -> ErrorKind {
    ErrorKind::from_io(&r.expect_err("an error"))
}

fn disk(options: DiskOptions) -> SimDisk {
    let d = SimDisk::new(options);
    d.add_host(H, REAL_START);
    d
}

fn rw_create() -> OpenOptions {
    OpenOptions { read: true, write: true, create: true, ..OpenOptions::default() }
}

struct Fx {
    test: Arc<TestEnv>,
    env: Env,
    disk: SimDisk,
    root: DirHandle,
}

impl Fx {
    fn new(seed: u64, options: DiskOptions) -> Fx {
        let test = test_env(seed);
        let env: Env = test.clone();
        let disk = disk(options);
        let root = disk.fs_cwd(&env, H);
        Fx { test, env, disk, root }
    }

    fn run<F: Future>(&self, fut: F) -> F::Output {
        block_on(&self.test, fut)
    }

    fn open(&self, path: &str, o: OpenOptions) -> io::Result<FileHandle> {
        self.run(self.disk.dir_open_file(&self.env, H, &self.root, Path::new(path), &o))
    }

    fn write(&self, f: &FileHandle, data: &[u8], at: Offset) -> io::Result<usize> {
        self.run(self.disk.file_write(&self.env, H, f, data.to_vec(), at)).map(|(n, _)| n)
    }

    fn read(&self, f: &FileHandle, len: usize, at: Offset) -> io::Result<Vec<u8>> {
        self.run(self.disk.file_read(&self.env, H, f, Vec::new(), len, at))
    }

    fn sync(&self, f: &FileHandle) {
        self.run(self.disk.file_sync(&self.env, H, f, false)).expect("sync");
    }

    /// Syncs directory `path` (opened read-only as a file, as POSIX programs do).
    fn sync_dir(&self, path: &str) {
        let d = self.open(path, OpenOptions { directory: true, ..OpenOptions::default() });
        self.sync(&d.expect("open the directory"));
    }

    fn read_file(&self, path: &str) -> io::Result<Vec<u8>> {
        self.run(self.disk.dir_read_file(&self.env, H, &self.root, Path::new(path)))
    }

    fn write_file(&self, path: &str, data: &[u8]) -> io::Result<()> {
        let perms = Permissions::DEFAULT_FILE;
        self.run(self.disk.dir_write_file(
            &self.env,
            H,
            &self.root,
            Path::new(path),
            data.to_vec(),
            perms,
        ))
    }

    fn mkdir(&self, path: &str) -> io::Result<()> {
        self.run(self.disk.dir_create_dir(
            &self.env,
            H,
            &self.root,
            Path::new(path),
            Permissions::DEFAULT_DIR,
        ))
    }

    fn log(&self) -> Vec<String> {
        self.test.0.lock().unwrap().log.clone()
    }

    fn crash(&self) -> DirHandle {
        self.disk.crash_host(&self.env, H);
        self.disk.fs_cwd(&self.env, H)
    }
}

#[test]
fn write_then_read_back() {
    let fx = Fx::new(1, DiskOptions::default());
    let f = fx.open("a.txt", rw_create()).unwrap();
    assert_eq!(fx.write(&f, b"hello, ", Offset::Current).unwrap(), 7);
    assert_eq!(fx.write(&f, b"world", Offset::Current).unwrap(), 5);
    assert_eq!(fx.read(&f, 5, Offset::At(7)).unwrap(), b"world");
    assert_eq!(fx.read(&f, 100, Offset::Current).unwrap(), b"", "the cursor is at the end");
    assert_eq!(fx.run(fx.disk.file_seek(&fx.env, H, &f, SeekFrom::Start(0))).unwrap(), 0);
    assert_eq!(fx.read(&f, 100, Offset::Current).unwrap(), b"hello, world");
    let meta = fx.run(fx.disk.file_stat(&fx.env, H, &f)).unwrap();
    assert_eq!((meta.size, meta.kind, meta.nlink), (12, FileKind::File, 1));
    assert_eq!(meta.permissions.mode(), 0o644, "0o666 less the umask");
    assert!(fx.env.now() > 0, "the operations took virtual time");
    assert_eq!(fx.read_file("a.txt").unwrap(), b"hello, world");
    fx.write_file("/b", b"x").unwrap();
    assert_eq!(fx.read_file("b").unwrap(), b"x");
    // Opened read-only, it cannot be written; exclusive creation of an existing file fails.
    let ro = fx.open("a.txt", OpenOptions::default()).unwrap();
    assert_eq!(kind(fx.write(&ro, b"x", Offset::Current)), ErrorKind::Other);
    let excl = OpenOptions { exclusive: true, ..rw_create() };
    assert_eq!(kind(fx.open("a.txt", excl)), ErrorKind::AlreadyExists);
    assert_eq!(kind(fx.open("missing", OpenOptions::default())), ErrorKind::NotFound);
    assert_eq!(kind(fx.open(&"n".repeat(256), rw_create())), ErrorKind::NameTooLong);
    assert_eq!(kind(fx.open("a.txt/x", rw_create())), ErrorKind::NotDir);
    assert_eq!(kind(fx.open("missing/x", rw_create())), ErrorKind::NotFound);
    // Append mode writes at the end whatever the cursor.
    let app = OpenOptions { write: true, append: true, ..OpenOptions::default() };
    let a = fx.open("a.txt", app).unwrap();
    fx.write(&a, b"!", Offset::Current).unwrap();
    assert_eq!(fx.read_file("a.txt").unwrap(), b"hello, world!");
}

#[test]
fn writes_and_syncs_log_their_offset_length_and_descriptor() {
    let fx = Fx::new(1, DiskOptions::default());
    let f = fx.open("a.txt", rw_create()).unwrap();
    fx.write(&f, b"abc", Offset::At(5)).unwrap();
    fx.write(&f, b"de", Offset::Current).unwrap();
    fx.sync(&f);
    let log = fx.log();
    let tail: Vec<&str> = log.iter().rev().take(3).rev().map(|l| l.as_str()).collect();
    let desc = tail[0].rsplit("desc=").next().unwrap().trim_end_matches(": ok");
    assert_eq!(
        tail,
        [
            format!("disk h0 write Some(5) len=3 desc={desc}: ok"),
            format!("disk h0 write None len=2 desc={desc}: ok"),
            format!("disk h0 sync data_only=false desc={desc}: ok"),
        ]
    );
}

#[test]
fn a_crash_keeps_what_was_synced_and_drops_the_rest() {
    let options = DiskOptions { torn_write_probability: 0.0, ..DiskOptions::default() };
    let fx = Fx::new(2, options);
    fx.mkdir("d").unwrap();
    let kept = fx.open("d/kept", rw_create()).unwrap();
    fx.write(&kept, b"durable", Offset::Current).unwrap();
    fx.sync(&kept);
    fx.sync_dir("d");
    fx.sync_dir("/");
    fx.write(&kept, b" and not", Offset::Current).unwrap();
    fx.write_file("d/lost", b"never synced").unwrap();
    let new_root = fx.crash();
    // The old handles are stale.
    assert_eq!(kind(fx.read(&kept, 10, Offset::At(0))), ErrorKind::InputOutput);
    let fx = Fx { root: new_root, ..fx };
    assert_eq!(fx.read_file("d/kept").unwrap(), b"durable");
    assert_eq!(kind(fx.read_file("d/lost")), ErrorKind::NotFound);
    assert_eq!(fx.disk.used(H), 7);
}

#[test]
fn a_torn_write_leaves_a_prefix() {
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..20 {
        let options = DiskOptions { torn_write_probability: 1.0, ..DiskOptions::default() };
        let fx = Fx::new(seed, options);
        let f = fx.open("f", rw_create()).unwrap();
        fx.write(&f, b"0123456789", Offset::Current).unwrap();
        fx.sync(&f);
        fx.sync_dir("/");
        fx.write(&f, b"abcdefgh", Offset::At(4)).unwrap();
        let fx = Fx { root: fx.crash(), ..fx };
        let data = fx.read_file("f").unwrap();
        // Bytes 4.. are a prefix of the torn write, then the synced data.
        let kept = (0..8).take_while(|&i| data.get(4 + i) == Some(&b"abcdefgh"[i])).count();
        assert!(kept < 8, "a torn write never survives whole");
        assert_eq!(data.len(), 10.max(4 + kept), "{data:?}");
        let mut expect = b"0123456789".to_vec();
        expect.resize(10.max(4 + kept), 0);
        expect[4..4 + kept].copy_from_slice(&b"abcdefgh"[..kept]);
        assert_eq!(data, expect, "seed {seed}: kept {kept}");
        seen.insert(kept);
        assert!(fx.log().iter().any(|l| l.contains("torn write")));
    }
    assert!(seen.len() > 3, "the prefix length varies with the seed: {seen:?}");
}

#[test]
fn a_rename_is_durable_once_its_directory_is_synced() {
    let options = DiskOptions { torn_write_probability: 0.0, ..DiskOptions::default() };
    for sync_after_rename in [false, true] {
        let fx = Fx::new(3, options.clone());
        fx.write_file("final", b"old").unwrap();
        let tmp = fx.open("tmp", rw_create()).unwrap();
        fx.write(&tmp, b"new", Offset::Current).unwrap();
        fx.sync(&tmp);
        fx.sync_dir("/");
        fx.run(fx.disk.dir_rename(
            &fx.env,
            H,
            &fx.root,
            Path::new("tmp"),
            &fx.root,
            Path::new("final"),
        ))
        .unwrap();
        assert_eq!(fx.read_file("final").unwrap(), b"new");
        if sync_after_rename {
            fx.sync_dir("/");
        }
        let fx = Fx { root: fx.crash(), ..fx };
        if sync_after_rename {
            assert_eq!(fx.read_file("final").unwrap(), b"new");
            assert_eq!(kind(fx.read_file("tmp")), ErrorKind::NotFound);
        } else {
            // The rename was lost; "final" keeps the entry (with no synced data) it had.
            assert_eq!(fx.read_file("tmp").unwrap(), b"new");
            assert_eq!(fx.read_file("final").unwrap(), b"");
        }
    }
    // Journaled: any sync commits every directory's entries.
    let journaled = DiskOptions { dir_durability: DirDurability::OnAnySync, ..options };
    let fx = Fx::new(3, journaled);
    let tmp = fx.open("tmp", rw_create()).unwrap();
    fx.write(&tmp, b"new", Offset::Current).unwrap();
    fx.run(fx.disk.dir_rename(
        &fx.env,
        H,
        &fx.root,
        Path::new("tmp"),
        &fx.root,
        Path::new("final"),
    ))
    .unwrap();
    fx.sync(&tmp);
    let fx = Fx { root: fx.crash(), ..fx };
    assert_eq!(fx.read_file("final").unwrap(), b"new");
}

#[test]
fn writes_stop_at_the_capacity() {
    let fx = Fx::new(4, DiskOptions { capacity: Some(10), ..DiskOptions::default() });
    let f = fx.open("f", rw_create()).unwrap();
    assert_eq!(fx.write(&f, b"123456", Offset::Current).unwrap(), 6);
    assert_eq!(fx.write(&f, b"abcdef", Offset::Current).unwrap(), 4, "a short write");
    assert_eq!(kind(fx.write(&f, b"x", Offset::Current)), ErrorKind::NoSpace);
    // Overwriting in place takes no room.
    assert_eq!(fx.write(&f, b"AB", Offset::At(0)).unwrap(), 2);
    assert_eq!(kind(fx.write_file("g", b"y")), ErrorKind::NoSpace);
    drop(f);
    fx.run(fx.disk.dir_delete_file(&fx.env, H, &fx.root, Path::new("f"))).unwrap();
    assert_eq!(fx.disk.used(H), 0);
    fx.write_file("g", b"fits now").unwrap();
}

#[test]
fn deleted_files_leave_the_durable_image_once_unreachable() {
    let fx = Fx::new(14, DiskOptions { torn_write_probability: 0.0, ..DiskOptions::default() });
    let durable = |fx: &Fx| lock_inner(&fx.disk).hosts[&H].durable_inodes();
    assert_eq!(durable(&fx), 1, "the root");
    fx.mkdir("d").unwrap();
    let f = fx.open("d/f", rw_create()).unwrap();
    fx.write(&f, b"data", Offset::Current).unwrap();
    fx.sync(&f);
    fx.sync_dir("d");
    fx.sync_dir("/");
    assert_eq!(durable(&fx), 3);
    drop(f);
    fx.run(fx.disk.dir_delete_file(&fx.env, H, &fx.root, Path::new("d/f"))).unwrap();
    assert_eq!(durable(&fx), 3, "still named durably: a crash would bring it back");
    fx.sync_dir("d");
    assert_eq!(durable(&fx), 2, "gone from both images");
    // A synced file not yet named durably is kept for the directory sync that names it.
    let g = fx.open("d/g", rw_create()).unwrap();
    fx.write(&g, b"g", Offset::Current).unwrap();
    fx.sync(&g);
    fx.sync_dir("/");
    fx.sync_dir("d");
    // A whole tree deleted and its parent synced goes too.
    fx.run(fx.disk.dir_delete_tree(&fx.env, H, &fx.root, Path::new("d"))).unwrap();
    drop(g);
    fx.sync_dir("/");
    assert_eq!(durable(&fx), 1);
    let fx = Fx { root: fx.crash(), ..fx };
    assert_eq!(kind(fx.read_file("d/g")), ErrorKind::NotFound);
}

#[test]
fn a_file_synced_before_its_directory_keeps_its_data() {
    let fx = Fx::new(15, DiskOptions { torn_write_probability: 0.0, ..DiskOptions::default() });
    fx.mkdir("d").unwrap();
    fx.sync_dir("/");
    let g = fx.open("d/g", rw_create()).unwrap();
    fx.write(&g, b"g", Offset::Current).unwrap();
    fx.sync(&g);
    // Other directories' syncs in between prune nothing live.
    fx.mkdir("e").unwrap();
    fx.sync_dir("e");
    fx.sync_dir("/");
    fx.sync_dir("d");
    let fx = Fx { root: fx.crash(), ..fx };
    assert_eq!(fx.read_file("d/g").unwrap(), b"g");
}

#[test]
fn an_open_file_outlives_its_name() {
    let fx = Fx::new(5, DiskOptions { capacity: Some(100), ..DiskOptions::default() });
    let f = fx.open("f", rw_create()).unwrap();
    fx.write(&f, b"data", Offset::Current).unwrap();
    fx.run(fx.disk.dir_delete_file(&fx.env, H, &fx.root, Path::new("f"))).unwrap();
    assert_eq!(fx.read(&f, 10, Offset::At(0)).unwrap(), b"data");
    assert_eq!(fx.disk.used(H), 4);
    assert_eq!(kind(fx.run(fx.disk.file_real_path(&fx.env, H, &f))), ErrorKind::NotFound);
    fx.run(fx.disk.file_close(&fx.env, H, f)).unwrap();
    assert_eq!(fx.disk.used(H), 0, "freed with its last handle");
}

/// Seeded `ENOSPC`: a failing write writes nothing (the file keeps its old bytes and length),
/// an empty write never fails, and the rate is the configured one.
#[test]
fn enospc_comes_at_the_configured_rate_and_writes_nothing() {
    let options = DiskOptions { enospc_probability: 0.2, ..DiskOptions::default() };
    let (mut failed, mut written) = (0usize, 0usize);
    for seed in 0..4 {
        let fx = Fx::new(seed, options.clone());
        let f = fx.open("f", rw_create()).unwrap();
        let mut expect: Vec<u8> = Vec::new();
        for i in 0..300u32 {
            let byte = [i as u8];
            assert_eq!(fx.write(&f, &[], Offset::Current).unwrap(), 0, "an empty write");
            match fx.write(&f, &byte, Offset::Current) {
                Ok(n) => {
                    assert_eq!(n, 1);
                    expect.push(byte[0]);
                    written += 1;
                }
                Err(e) => {
                    assert_eq!(ErrorKind::from_io(&e), ErrorKind::NoSpace);
                    failed += 1;
                }
            }
        }
        assert_eq!(fx.read(&f, 1000, Offset::At(0)).unwrap(), expect, "seed {seed}");
    }
    let rate = failed as f64 / (failed + written) as f64;
    assert!((0.15..0.25).contains(&rate), "rate {rate}");
}

#[test]
fn eio_comes_at_the_configured_rate() {
    let p = 0.1;
    let options = DiskOptions { eio_probability: p, ..DiskOptions::default() };
    let mut total_errors = 0;
    let per_seed = 400;
    let seeds = 5;
    for seed in 0..seeds {
        let fx = Fx::new(seed, options.clone());
        let mut errors = 0;
        let mut f = None;
        while f.is_none() {
            f = fx.open("f", rw_create()).ok();
        }
        let f = f.unwrap();
        for i in 0..per_seed {
            match fx.write(&f, &[i as u8], Offset::At(0)) {
                Ok(_) => {}
                Err(e) => {
                    assert_eq!(ErrorKind::from_io(&e), ErrorKind::InputOutput);
                    errors += 1;
                }
            }
        }
        assert!((15..=65).contains(&errors), "seed {seed}: {errors} of {per_seed}");
        total_errors += errors;
    }
    let rate = total_errors as f64 / (per_seed * seeds) as f64;
    assert!((0.07..0.13).contains(&rate), "rate {rate}");
}

#[test]
fn flock_excludes_and_a_canceled_wait_leaves_nothing() {
    let fx = Fx::new(6, DiskOptions::default());
    fx.write_file("lock", b"").unwrap();
    let o = OpenOptions::default();
    let (a, b, c) =
        (fx.open("lock", o).unwrap(), fx.open("lock", o).unwrap(), fx.open("lock", o).unwrap());
    let lock = |f: &FileHandle, l: Lock, wait: bool| fx.disk.file_lock(&fx.env, H, f, l, wait);
    assert!(fx.run(lock(&a, Lock::Exclusive, false)).unwrap());
    assert!(!fx.run(lock(&b, Lock::Exclusive, false)).unwrap());
    assert!(!fx.run(lock(&b, Lock::Shared, false)).unwrap());
    // b waits; c waits and gives up (its future dropped).
    let mut b_wait = lock(&b, Lock::Exclusive, true);
    assert!(poll_once(&mut b_wait).is_pending());
    let mut c_wait = lock(&c, Lock::Shared, true);
    assert!(poll_once(&mut c_wait).is_pending());
    drop(c_wait);
    // a unlocks: b gets it.
    assert!(fx.run(lock(&a, Lock::None, false)).unwrap());
    assert!(fx.run(b_wait).unwrap());
    assert!(!fx.run(lock(&a, Lock::Shared, false)).unwrap());
    // c's canceled wait took nothing: once b's description closes, shared locks coexist.
    let ino = {
        let inner = lock_inner(&fx.disk);
        let h = &inner.hosts[&H];
        h.desc(h.gen, disk_id(&b)).unwrap().ino
    };
    assert_eq!(lock_inner(&fx.disk).hosts[&H].holders(ino), 1);
    drop(b);
    assert_eq!(lock_inner(&fx.disk).hosts[&H].holders(ino), 0, "closing drops the lock");
    assert!(fx.run(lock(&a, Lock::Shared, false)).unwrap());
    assert!(fx.run(lock(&c, Lock::Shared, false)).unwrap());
    assert!(!fx.run(lock(&c, Lock::Exclusive, false)).unwrap());
}

fn lock_inner(d: &SimDisk) -> MutexGuard<'_, Inner> {
    lock(&d.shared)
}

fn disk_id(f: &FileHandle) -> u64 {
    match f.downcast_ref::<SimFile>() {
        Some(SimFile::Disk(d)) => d.id,
        _ => panic!("not a disk file"),
    }
}

#[test]
fn symlinks_resolve_and_loops_are_refused() {
    let fx = Fx::new(7, DiskOptions::default());
    fx.mkdir("dir").unwrap();
    fx.write_file("dir/target", b"t").unwrap();
    let link = |target: &str, name: &str| {
        fx.run(fx.disk.dir_symlink(&fx.env, H, &fx.root, Path::new(target), Path::new(name)))
    };
    link("dir/target", "ok").unwrap();
    link("../dir", "dir/up").unwrap();
    assert_eq!(fx.read_file("ok").unwrap(), b"t");
    assert_eq!(fx.read_file("dir/up/up/target").unwrap(), b"t");
    link("b", "a").unwrap();
    link("a", "b").unwrap();
    assert_eq!(kind(fx.read_file("a")), ErrorKind::SymLinkLoop);
    assert_eq!(kind(fx.open("a/x", OpenOptions::default())), ErrorKind::SymLinkLoop);
    let nofollow = OpenOptions { follow_symlinks: false, ..OpenOptions::default() };
    assert_eq!(kind(fx.open("ok", nofollow)), ErrorKind::SymLinkLoop);
    let read_link = fx.run(fx.disk.dir_read_link(&fx.env, H, &fx.root, Path::new("a")));
    assert_eq!(read_link.unwrap(), Path::new("b"));
    let real = fx.run(fx.disk.dir_real_path(&fx.env, H, &fx.root, Path::new("dir/up/up/target")));
    assert_eq!(real.unwrap(), Path::new("/dir/target"));
    let stat = fx.run(fx.disk.dir_stat_path(&fx.env, H, &fx.root, Path::new("ok"), false));
    assert_eq!(stat.unwrap().kind, FileKind::SymLink);
}

#[test]
fn a_confined_directory_refuses_escapes() {
    let fx = Fx::new(8, DiskOptions::default());
    fx.mkdir("jail").unwrap();
    fx.mkdir("jail/sub").unwrap();
    fx.write_file("secret", b"s").unwrap();
    fx.write_file("jail/sub/inside", b"i").unwrap();
    let link = |target: &str, name: &str| {
        fx.run(fx.disk.dir_symlink(&fx.env, H, &fx.root, Path::new(target), Path::new(name)))
    };
    link("../secret", "jail/out").unwrap();
    link("/secret", "jail/abs").unwrap();
    link("sub/inside", "jail/in").unwrap();
    let open = fx.run(fx.disk.dir_open_dir(&fx.env, H, &fx.root, Path::new("jail"), true)).unwrap();
    let jail = fx.disk.dir_confine(&fx.env, H, &open).unwrap();
    let read =
        |dir: &DirHandle, p: &str| fx.run(fx.disk.dir_read_file(&fx.env, H, dir, Path::new(p)));
    for escape in ["../secret", "/secret", "out", "abs", "sub/../../secret"] {
        assert_eq!(kind(read(&jail, escape)), ErrorKind::PathEscapesDir, "{escape}");
    }
    assert_eq!(read(&jail, "in").unwrap(), b"i");
    assert_eq!(read(&jail, "sub/../sub/inside").unwrap(), b"i");
    // The same paths through the unconfined handle reach outside.
    assert_eq!(read(&open, "out").unwrap(), b"s");
    // A directory opened from a confined one is confined beneath itself.
    let sub = fx.run(fx.disk.dir_open_dir(&fx.env, H, &jail, Path::new("sub"), true)).unwrap();
    assert_eq!(kind(read(&sub, "../in")), ErrorKind::PathEscapesDir);
    assert_eq!(read(&sub, "inside").unwrap(), b"i");
}

#[test]
fn entries_come_in_name_order_and_batches() {
    let fx = Fx::new(9, DiskOptions::default());
    for name in ["c", "a", "B", "b"] {
        fx.write_file(name, b"").unwrap();
    }
    fx.mkdir("d").unwrap();
    let h = fx.run(fx.disk.dir_entries(&fx.env, H, &fx.root)).unwrap();
    let mut names = Vec::new();
    loop {
        let batch = fx.run(fx.disk.dir_entries_next(&fx.env, H, &h, 2)).unwrap();
        if batch.is_empty() {
            break;
        }
        assert!(batch.len() <= 2);
        names.extend(batch.into_iter().map(|e| (e.name.into_string().unwrap(), e.kind)));
    }
    let expect = [("B", FileKind::File), ("a", FileKind::File), ("b", FileKind::File)]
        .into_iter()
        .chain([("c", FileKind::File), ("d", FileKind::Directory)])
        .map(|(n, k)| (n.to_owned(), k))
        .collect::<Vec<_>>();
    assert_eq!(names, expect);
}

#[test]
fn a_pipe_applies_backpressure() {
    let fx = Fx::new(10, DiskOptions { pipe_capacity: 4, ..DiskOptions::default() });
    let (r, w) = fx.disk.fs_pipe(&fx.env, H).unwrap();
    let mut write = fx.disk.file_write(&fx.env, H, &w, b"0123456789".to_vec(), Offset::Current);
    assert!(poll_once(&mut write).is_pending(), "4 bytes fit, the rest waits");
    assert_eq!(fx.read(&r, 100, Offset::Current).unwrap(), b"0123");
    assert!(poll_once(&mut write).is_pending());
    assert_eq!(fx.read(&r, 3, Offset::Current).unwrap(), b"456");
    assert_eq!(fx.read(&r, 100, Offset::Current).unwrap(), b"7");
    assert_eq!(fx.run(write).unwrap().0, 10);
    assert_eq!(fx.read(&r, 100, Offset::Current).unwrap(), b"89");
    let mut read = fx.disk.file_read(&fx.env, H, &r, Vec::new(), 10, Offset::Current);
    assert!(poll_once(&mut read).is_pending(), "empty, a writer left: wait");
    drop(w);
    assert_eq!(fx.run(read).unwrap(), b"", "the writer is gone: end of file");
    let (r2, w2) = fx.disk.fs_pipe(&fx.env, H).unwrap();
    drop(r2);
    assert_eq!(kind(fx.write(&w2, b"x", Offset::Current)), ErrorKind::Other, "EPIPE");
}

#[test]
fn stdio_is_captured_per_host() {
    let fx = Fx::new(11, DiskOptions::default());
    let out = fx.disk.fs_stdio(&fx.env, H, StdStream::Output).unwrap();
    let input = fx.disk.fs_stdio(&fx.env, H, StdStream::Input).unwrap();
    fx.write(&out, b"hello\n", Offset::Current).unwrap();
    assert_eq!(fx.disk.stdout(H), b"hello\n");
    assert!(fx.disk.stderr(H).is_empty());
    assert_eq!(fx.read(&input, 10, Offset::Current).unwrap(), b"");
    assert!(!fx.disk.file_is_tty(&fx.env, H, &out));
    let map = fx.run(fx.disk.file_map(
        &fx.env,
        H,
        &out,
        MapOptions { offset: 0, len: 1, writable: false },
    ));
    let err = map.unwrap_err();
    assert_eq!(ErrorKind::from_io(&err), ErrorKind::Unsupported);
    let inner = err.get_ref().and_then(|e| e.downcast_ref::<crate::sim::SimUnsupported>());
    assert_eq!(inner, Some(&crate::sim::SimUnsupported { operation: "file_map" }));
}

#[test]
fn directories_and_links_follow_posix_rules() {
    let fx = Fx::new(12, DiskOptions::default());
    let d = |p: &str| Path::new(p).to_path_buf();
    let (env, disk, root) = (&fx.env, &fx.disk, &fx.root);
    assert!(fx
        .run(disk.dir_create_dir_path(env, H, root, &d("x/y/z"), Permissions::DEFAULT_DIR))
        .unwrap());
    assert!(!fx
        .run(disk.dir_create_dir_path(env, H, root, &d("x/y"), Permissions::DEFAULT_DIR))
        .unwrap());
    assert_eq!(kind(fx.mkdir("x")), ErrorKind::AlreadyExists);
    fx.write_file("x/y/z/f", b"f").unwrap();
    assert_eq!(
        kind(fx.run(disk.dir_delete_dir(env, H, root, &d("x/y/z")))),
        ErrorKind::DirNotEmpty
    );
    assert_eq!(kind(fx.run(disk.dir_delete_file(env, H, root, &d("x")))), ErrorKind::IsDir);
    assert_eq!(
        kind(fx.run(disk.dir_create_dir_path(
            env,
            H,
            root,
            &d("x/y/z/f/g"),
            Permissions::DEFAULT_DIR
        ))),
        ErrorKind::NotDir
    );
    fx.run(disk.dir_hard_link(env, H, root, &d("x/y/z/f"), root, &d("g"))).unwrap();
    let st = fx.run(disk.dir_stat_path(env, H, root, &d("g"), true)).unwrap();
    assert_eq!(st.nlink, 2);
    // A directory cannot move under itself; a file cannot replace a directory.
    let rename = |a: &str, b: &str| fx.run(disk.dir_rename(env, H, root, &d(a), root, &d(b)));
    assert_eq!(kind(rename("x", "x/y/w")), ErrorKind::InvalidInput);
    assert_eq!(kind(rename("g", "x")), ErrorKind::IsDir);
    rename("x/y", "w").unwrap();
    assert_eq!(fx.read_file("w/z/f").unwrap(), b"f");
    let x_meta = fx.run(disk.dir_stat_path(env, H, root, &d("x"), true)).unwrap();
    assert_eq!(x_meta.nlink, 2, "x lost its subdirectory");
    fx.run(disk.dir_delete_tree(env, H, root, &d("w"))).unwrap();
    fx.run(disk.dir_delete_tree(env, H, root, &d("w"))).unwrap();
    assert_eq!(fx.read_file("g").unwrap(), b"f", "the other link stays");
    // Permissions are enforced for a user that is not root.
    fx.run(disk.dir_set_permissions(env, H, root, &d("g"), Permissions::from_mode(0o400))).unwrap();
    let w = OpenOptions { write: true, ..OpenOptions::default() };
    assert_eq!(kind(fx.open("g", w)), ErrorKind::PermissionDenied);
    assert_eq!(
        kind(fx.run(disk.dir_set_owner(env, H, root, &d("g"), Some(0), None, true))),
        ErrorKind::PermissionDenied
    );
    let ts = Timestamp::from_nanos(1_000_000_000);
    fx.run(disk.dir_set_timestamps(
        env,
        H,
        root,
        &d("g"),
        SetTimestamp::To(ts),
        SetTimestamp::To(ts),
        true,
    ))
    .unwrap();
    let st = fx.run(disk.dir_stat_path(env, H, root, &d("g"), true)).unwrap();
    assert_eq!((st.atime, st.mtime), (ts, ts));
    let foreign = DirHandle::new(Arc::new(0u8));
    assert_eq!(kind(fx.run(disk.dir_stat(env, H, &foreign))), ErrorKind::InvalidInput);
}

#[test]
fn copy_between_files() {
    let fx = Fx::new(13, DiskOptions::default());
    fx.write_file("src", b"0123456789").unwrap();
    let src = fx.open("src", OpenOptions::default()).unwrap();
    let dst = fx.open("dst", rw_create()).unwrap();
    let n = fx.run(fx.disk.file_copy(&fx.env, H, &dst, Offset::Current, &src, Offset::At(2), 100));
    assert_eq!(n.unwrap(), 8);
    let n = fx.run(fx.disk.file_copy(&fx.env, H, &dst, Offset::Current, &src, Offset::Current, 3));
    assert_eq!(n.unwrap(), 3);
    assert_eq!(fx.read_file("dst").unwrap(), b"23456789012");
    let (r, w) = fx.disk.fs_pipe(&fx.env, H).unwrap();
    let n = fx.run(fx.disk.file_copy(&fx.env, H, &w, Offset::Current, &src, Offset::Current, 4));
    assert_eq!(n.unwrap(), 4);
    assert_eq!(fx.read(&r, 10, Offset::Current).unwrap(), b"3456");
}

/// One scenario with every seeded choice in play; its log.
fn scenario(seed: u64) -> Vec<String> {
    let options =
        DiskOptions { eio_probability: 0.2, torn_write_probability: 0.5, ..DiskOptions::default() };
    let fx = Fx::new(seed, options);
    for i in 0..20 {
        let name = format!("f{}", i % 4);
        if let Ok(f) = fx.open(&name, rw_create()) {
            let _ = fx.write(&f, name.as_bytes(), Offset::Current);
            if i % 3 == 0 {
                let _ = fx.run(fx.disk.file_sync(&fx.env, H, &f, i % 2 == 0));
            }
        }
        if i % 7 == 0 {
            let _ = fx.run(fx.disk.dir_rename(
                &fx.env,
                H,
                &fx.root,
                Path::new(&name),
                &fx.root,
                Path::new("r"),
            ));
        }
    }
    fx.crash();
    let mut log = fx.log();
    log.push(format!("end at {}", fx.env.now()));
    log
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let a = scenario(42);
    assert_eq!(a, scenario(42));
    assert!(a.iter().any(|l| l.contains("error")), "faults were injected");
    assert_ne!(a, scenario(43), "another seed, another run");
}

/// Bytes the syncs of host `H` have copied to its durable image so far.
fn synced_bytes(fx: &Fx) -> u64 {
    lock_inner(&fx.disk).hosts[&H].synced_bytes
}

#[test]
fn a_sync_copies_only_what_changed_since_the_last_one() {
    let options = DiskOptions { torn_write_probability: 0.0, ..DiskOptions::default() };
    let fx = Fx::new(9, options);
    let f = fx.open("log", rw_create()).unwrap();
    fx.sync_dir("/");
    let big = vec![7u8; 1 << 20];
    fx.write(&f, &big, Offset::Current).unwrap();
    fx.sync(&f);
    let before = synced_bytes(&fx);
    fx.write(&f, b"appended", Offset::Current).unwrap();
    fx.sync(&f);
    assert_eq!(synced_bytes(&fx) - before, 8, "only the appended bytes were copied");
    fx.sync(&f);
    assert_eq!(synced_bytes(&fx) - before, 8, "a sync with nothing new copies nothing");
    // Shrinking, growing back (zeros) and an overwrite all reach the durable image.
    fx.run(fx.disk.file_set_length(&fx.env, H, &f, 10)).unwrap();
    fx.run(fx.disk.file_set_length(&fx.env, H, &f, 20)).unwrap();
    fx.write(&f, b"ab", Offset::At(2)).unwrap();
    fx.sync(&f);
    let root = fx.crash();
    let fx = Fx { root, ..fx };
    let mut want = vec![7u8; 10];
    want.extend([0; 10]);
    want[2..4].copy_from_slice(b"ab");
    assert_eq!(fx.read_file("log").unwrap(), want);
}
