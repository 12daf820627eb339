//! Replay on `kqio::sim`: the same seed gives the same event log (hash and lines) for a
//! nontrivial workload, other seeds give other logs; the runner runs many seeds and reports a
//! failing one with its replay command; fault points are seeded.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use kqio::sim::{run_seeds, Sim, SimError, SimOptions, SimReport};
use kqio::sync::{Mutex, Queue};
use kqio::time::{Duration, Timeout};
use kqio::{Group, IoRef};

/// Three hosts: two producers that sleep random spans and push into a shared queue, and a
/// client that consumes with a mutex-guarded tally, under random blocking jobs and timeouts.
fn workload(seed: u64, faults: f64) -> (SimReport, Vec<u64>) {
    let mut sim = Sim::new(SimOptions {
        seed,
        keep_log: true,
        fault_probability: faults,
        ..Default::default()
    });
    let queue = Arc::new(Queue::new(4));
    for p in 0..2u64 {
        let q = queue.clone();
        sim.host(&format!("producer{p}"), move |io: IoRef| {
            let q = q.clone();
            async move {
                for i in 0..50u64 {
                    let mut b = [0u8; 2];
                    io.random(&mut b);
                    let ms = i64::from(u16::from_le_bytes(b) % 20);
                    io.sleep(Timeout::after(Duration::from_millis(ms))).await.unwrap();
                    let extra = if io.fault_point("double") { 10_000 } else { 0 };
                    if q.put_one(p * 1000 + i + extra).await.is_err() {
                        return;
                    }
                }
            }
        });
    }
    let q = queue.clone();
    let c = sim.client("consumer", move |io: IoRef| async move {
        let tally = Arc::new(Mutex::new(Vec::new()));
        let group = Group::new();
        for _ in 0..4 {
            let (q, tally, io2) = (q.clone(), tally.clone(), io.clone());
            group.r#async(&*io, async move {
                for _ in 0..25 {
                    let v = q.get_one().await.map_err(|_| kqio::Canceled)?;
                    let v = io2.spawn_blocking(move || v).await?;
                    tally.lock().await?.push(v);
                }
                Ok(())
            });
        }
        group.wait().await.unwrap();
        q.close();
        let v = tally.lock().await.unwrap().clone();
        v
    });
    let report = sim.run().unwrap();
    (report, c.output().unwrap())
}

#[test]
fn the_same_seed_replays_the_same_log_and_other_seeds_do_not() {
    let (a, va) = workload(42, 0.0);
    let (b, vb) = workload(42, 0.0);
    assert_eq!(a.log_hash, b.log_hash);
    assert_eq!(a.log, b.log, "the lines too");
    assert_eq!(va, vb, "and the application's results");
    assert!(a.log.len() > 500, "a nontrivial run: {} events", a.log.len());
    let (c, vc) = workload(43, 0.0);
    assert_ne!(a.log_hash, c.log_hash);
    assert_ne!(va, vc, "another seed, another order of consumption");
    let mut sorted = va.clone();
    sorted.sort_unstable();
    let mut expected: Vec<u64> = (0..50).chain(1000..1050).collect();
    expected.sort_unstable();
    assert_eq!(sorted, expected, "every item consumed once");
}

#[test]
fn fault_points_fire_with_the_seeded_probability_and_replay() {
    let (_, plain) = workload(7, 0.0);
    assert!(plain.iter().all(|x| *x < 10_000), "no fault without a probability");
    let (a, fa) = workload(7, 0.2);
    let (b, fb) = workload(7, 0.2);
    assert_eq!(a.log_hash, b.log_hash);
    assert_eq!(fa, fb);
    let faulted = fa.iter().filter(|x| **x >= 10_000).count();
    assert!(faulted > 5 && faulted < 60, "about 20% of 100: {faulted}");
    assert!(a.log.iter().any(|l| l.contains("fault double")), "fault points are logged");
}

#[test]
fn run_seeds_runs_each_seed_and_reports_a_failing_one() {
    let ran = AtomicU64::new(0);
    let n = run_seeds(5, |seed| {
        ran.fetch_add(1, Ordering::SeqCst);
        let (report, _) = workload(seed, 0.0);
        Ok(report)
    });
    // Under KQIO_SIM_CHECK_REPLAY=1 each seed runs twice.
    let runs = if std::env::var("KQIO_SIM_CHECK_REPLAY").is_ok_and(|v| v == "1") { 2 } else { 1 };
    assert_eq!(n * runs, ran.load(Ordering::SeqCst));
    if std::env::var("KQIO_SIM_SEED").is_err() && std::env::var("KQIO_SIM_SEEDS").is_err() {
        assert_eq!(n, 5);
    }

    let failed = std::panic::catch_unwind(|| {
        run_seeds(5, |seed| {
            let mut sim = Sim::new(SimOptions { seed, ..Default::default() });
            let _c = sim.client("c", move |io: IoRef| async move {
                if seed == 3 {
                    // Waits for nothing that will ever come: a deadlock on seed 3 only.
                    io.sleep(Timeout::None).await.unwrap();
                }
            });
            sim.run()
        })
    });
    if std::env::var("KQIO_SIM_SEED").is_err() && std::env::var("KQIO_SIM_SEEDS").is_err() {
        let payload = failed.expect_err("seed 3 fails");
        let msg = payload.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("seed 3") && msg.contains("deadlock"), "{msg}");
        assert!(msg.contains("KQIO_SIM_SEED=3 cargo test --test sim_replay"), "{msg}");
    }
}

#[test]
fn errors_carry_their_seed() {
    let mut sim = Sim::new(SimOptions { seed: 99, max_steps: 10, ..Default::default() });
    let _c = sim.client("c", |io: IoRef| async move {
        loop {
            io.yield_now().await;
        }
    });
    let e = sim.run().unwrap_err();
    assert_eq!(e.seed(), 99);
    assert!(matches!(e, SimError::StepLimit { steps: 10, .. }));
}
