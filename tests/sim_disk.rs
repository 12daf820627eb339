//! The simulated disk through the user types (`Dir`, `File`) on a `Sim`: a write, a sync, a
//! crash, a restart and a read; locks between tasks; cancellation of a disk operation. Every
//! world runs through `check_replay` (twice under `KQIO_SIM_CHECK_REPLAY=1`); loops take their
//! seeds from `seeds`, single seeds from `seed_from_env`.

use std::sync::{Arc, Mutex};

use kqio::fs::{CreateFlags, Dir, ErrorKind, Lock, OpenFlags};
use kqio::sim::disk::DiskOptions;
use kqio::sim::{check_replay, replay_twice, seed_from_env, seeds, Sim, SimOptions};
use kqio::time::{Duration, Timeout};
use kqio::IoRef;

fn options(seed: u64, disk: DiskOptions) -> SimOptions {
    SimOptions { seed, disk, ..Default::default() }
}

/// What the program saw in its write-ahead log at each start.
type Seen = Arc<Mutex<Vec<Option<Vec<u8>>>>>;

/// Reads the log, then (first start only) appends a synced record and an un-synced one.
async fn wal_program(io: IoRef, seen: Seen) {
    let cwd = Dir::cwd(&io);
    let before = cwd.read_file("wal").await.ok();
    let first = before.is_none();
    seen.lock().unwrap().push(before);
    if first {
        let f = cwd.create_file("wal", CreateFlags::default()).await.unwrap();
        f.write_all(b"acked;").await.unwrap();
        f.sync().await.unwrap();
        // The new name is durable once its directory is synced.
        cwd.open_file(".", OpenFlags::default()).await.unwrap().sync().await.unwrap();
        f.write_all(b"lost;").await.unwrap();
    }
    let _ = io.sleep(Timeout::after(Duration::from_secs(3600))).await;
}

fn run_wal(seed: u64, disk: DiskOptions) -> Vec<Option<Vec<u8>>> {
    check_replay(options(seed, disk), |sim| {
        let seen: Seen = Arc::default();
        let s = seen.clone();
        let db = sim.host("db", move |io: IoRef| wal_program(io, s.clone()));
        sim.run_for(Duration::SECOND).unwrap();
        sim.crash(db);
        sim.restart(db);
        sim.run_for(Duration::SECOND).unwrap();
        let seen = seen.lock().unwrap().clone();
        seen
    })
}

#[test]
fn synced_data_survives_a_crash_and_the_rest_does_not() {
    let disk = DiskOptions { torn_write_probability: 0.0, ..DiskOptions::default() };
    assert_eq!(run_wal(seed_from_env(1), disk), vec![None, Some(b"acked;".to_vec())]);
}

#[test]
fn a_torn_write_survives_as_a_prefix() {
    let disk = DiskOptions { torn_write_probability: 1.0, ..DiskOptions::default() };
    for seed in seeds(0..8) {
        let seen = run_wal(seed, disk.clone());
        let after = seen[1].clone().expect("the synced record");
        assert!(after.starts_with(b"acked;"), "seed {seed}: {after:?}");
        assert!(b"acked;lost;".starts_with(&after), "seed {seed}: {after:?}");
        assert!(after.len() < b"acked;lost;".len(), "seed {seed}: never whole");
    }
}

#[test]
fn flock_between_tasks_and_a_canceled_wait() {
    check_replay(options(seed_from_env(3), DiskOptions::default()), |sim| {
        let c = sim.client("c", |io: IoRef| async move {
            let cwd = Dir::cwd(&io);
            cwd.write_file("lock", b"").await.unwrap();
            let a = cwd.open_file("lock", OpenFlags::default()).await.unwrap();
            let b = cwd.open_file("lock", OpenFlags::default()).await.unwrap();
            a.lock(Lock::Exclusive).await.unwrap();
            assert!(!b.try_lock(Lock::Shared).await.unwrap());
            // A waiting lock in another task, canceled: it takes nothing.
            let b2 = cwd.open_file("lock", OpenFlags::default()).await.unwrap();
            let waiter =
                io.r#async(async move { b2.lock(Lock::Exclusive).await.map_err(|e| e.kind()) });
            io.sleep(Timeout::after(Duration::MILLISECOND)).await.unwrap();
            assert_eq!(waiter.cancel().await, Err(ErrorKind::Canceled));
            a.unlock().await.unwrap();
            assert!(b.try_lock(Lock::Exclusive).await.unwrap(), "no lock was left behind");
            // A read canceled before its latency ends reads nothing and says Canceled.
            let f = cwd.open_file("lock", OpenFlags::default()).await.unwrap();
            let read = io.r#async(async move {
                let mut buf = [0u8; 4];
                f.read(&mut buf).await.map_err(|e| e.kind())
            });
            assert_eq!(read.cancel().await, Err(ErrorKind::Canceled));
            "done"
        });
        sim.run().unwrap();
        assert_eq!(c.output(), Some("done"));
    });
}

#[test]
fn the_same_seed_gives_the_same_log() {
    let options = |seed| {
        let disk = DiskOptions { eio_probability: 0.05, ..DiskOptions::default() };
        SimOptions { seed, disk, keep_log: true, ..Default::default() }
    };
    let run = |sim: &mut Sim| {
        let seen: Seen = Arc::default();
        let s = seen.clone();
        let db = sim.host("db", move |io: IoRef| {
            let s = s.clone();
            async move {
                // EIO may strike anywhere: record what happened instead of unwrapping.
                let cwd = Dir::cwd(&io);
                for i in 0..20u8 {
                    let r = cwd.write_file(format!("f{}", i % 3), [i]).await;
                    s.lock().unwrap().push(r.err().map(|e| vec![e.kind() as u8]));
                }
                let _ = io.sleep(Timeout::after(Duration::from_secs(3600))).await;
            }
        });
        sim.run_for(Duration::SECOND).unwrap();
        sim.crash(db);
        let report = sim.run_for(Duration::SECOND).unwrap();
        let seen = seen.lock().unwrap().clone();
        (report.log_hash, seen)
    };
    // The same seed, the same log hash and the same errors.
    let seven = replay_twice(options(7), run);
    assert_ne!(seven.0, check_replay(options(8), run).0);
}

#[test]
fn file_times_come_from_the_hosts_real_clock() {
    use kqio::sim::ClockOptions;
    use kqio::time::{Clock, Timestamp};
    // A real clock that starts in 2030, with this host's own offset (up to an hour).
    let clock = ClockOptions {
        real_start: Timestamp::from_nanos(1_893_456_000 * 1_000_000_000),
        max_offset: Duration::from_secs(3600),
        ..Default::default()
    };
    check_replay(SimOptions { seed: 3, clock: clock.clone(), ..Default::default() }, |sim| {
        let c = sim.client("c", |io: IoRef| async move {
            let cwd = Dir::cwd(&io);
            let mut seen = Vec::new();
            for name in ["a", "b"] {
                let before = io.now(Clock::Real);
                cwd.write_file(name, b"x").await.unwrap();
                let after = io.now(Clock::Real);
                seen.push((before, cwd.stat_file(name).await.unwrap().mtime, after));
                // Between the two files the host's real clock is stepped a day ahead.
                io.sleep(Timeout::after(Duration::from_secs(10))).await.unwrap();
            }
            seen
        });
        sim.run_for(Duration::from_secs(5)).unwrap();
        sim.step_real_clock(c.host(), Duration::DAY);
        sim.run().unwrap();
        let seen = c.output().unwrap();
        for (before, mtime, after) in &seen {
            assert!(before <= mtime && mtime <= after, "{before:?} <= {mtime:?} <= {after:?}");
        }
        let (_, first, _) = seen[0];
        assert!(first >= Timestamp::from_nanos(1_893_456_000 * 1_000_000_000 - 3_600_000_000_000));
        let (_, second, _) = seen[1];
        assert!(second - first >= Duration::DAY, "the step shows in the second file's time");
    });
}
