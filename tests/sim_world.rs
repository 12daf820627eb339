//! The simulated world's scheduler: tasks, cancellation, groups, selects and sync primitives on
//! `kqio::sim`, seeded interleavings, deadlocks, panics, hosts' lifecycles.
//!
//! Every world runs through `check_replay` (twice under `KQIO_SIM_CHECK_REPLAY=1`, comparing
//! the event logs and outputs), or `replay_twice` where replay is what the test checks; loops
//! take their seeds from `seeds` (`KQIO_SIM_SEED` / `KQIO_SIM_SEEDS`).

#[path = "common/unequal.rs"]
mod unequal;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use kqio::sim::{check_replay, replay_twice, seeds, Sim, SimError, SimOptions};
use kqio::sync::{Event, Queue};
use kqio::time::{Duration, Timeout};
use kqio::{Canceled, Group, IoRef};
use unequal::Unequal;

fn options(seed: u64) -> SimOptions {
    SimOptions { seed, ..Default::default() }
}

#[test]
fn a_client_spawns_awaits_and_its_output_ends_the_run() {
    check_replay(options(1), |sim| {
        let c = sim.client("c", |io: IoRef| async move {
            let a = io.r#async(async { 20 });
            let b = io.concurrent(async { 22 }).expect("a simulated host always has a task");
            a.await + b.await
        });
        let report = sim.run().unwrap();
        assert_eq!(c.output(), Some(42));
        assert_eq!(c.output(), None, "the output is taken once");
        assert!(report.steps >= 3, "three tasks ran: {report:?}");
        report
    });
}

#[test]
fn groups_selects_and_sync_primitives_work_unchanged() {
    let out = check_replay(options(2), |sim| {
        let c = sim.client("c", |io: IoRef| async move {
            // A group of 10 tasks, each adding under a kqio mutex after a sleep.
            let total = Arc::new(kqio::sync::Mutex::new(0));
            let group = Group::new();
            for i in 0..10 {
                let (io2, total) = (io.clone(), total.clone());
                group.r#async(&*io, async move {
                    io2.sleep(Timeout::after(Duration::from_millis(i))).await?;
                    *total.lock().await? += i;
                    Ok(())
                });
            }
            group.wait().await.unwrap();
            let sum = *total.lock().await.unwrap();
            // A select: the shorter sleep wins.
            let sel = kqio::select::<u32>();
            let io2 = io.clone();
            sel.r#async(&*io, async move {
                // Canceled by `cancel_discard` below.
                io2.sleep(Timeout::after(Duration::SECOND)).await.map_or(0, |()| 1)
            });
            let io3 = io.clone();
            sel.r#async(&*io, async move {
                io3.sleep(Timeout::after(Duration::MILLISECOND)).await.unwrap();
                2
            });
            let first = sel.wait().await.unwrap();
            sel.cancel_discard().await;
            // A queue between two tasks.
            let q = Arc::new(Queue::new(2));
            let q2 = q.clone();
            let producer = io.r#async(async move {
                for i in 0..100u32 {
                    q2.put_one(i).await.unwrap();
                }
            });
            let mut got = 0u32;
            for _ in 0..100 {
                got += q.get_one().await.unwrap();
            }
            producer.await;
            (sum, first, got)
        });
        sim.run().unwrap();
        c.output()
    });
    assert_eq!(out, Some((45, 2, 4950)));
}

#[test]
fn an_hour_of_sleeps_takes_well_under_a_second() {
    check_replay(options(3), |sim| {
        let wall = std::time::Instant::now();
        let c = sim.client("c", |io: IoRef| async move {
            let start = io.now(kqio::time::Clock::Awake);
            for _ in 0..3600 {
                io.sleep(Timeout::after(Duration::SECOND)).await.unwrap();
            }
            io.now(kqio::time::Clock::Awake).saturating_duration_since(start)
        });
        let report = sim.run().unwrap();
        assert_eq!(c.output(), Some(Duration::HOUR));
        assert_eq!(report.elapsed, Duration::HOUR);
        assert!(wall.elapsed() < std::time::Duration::from_secs(1), "{:?}", wall.elapsed());
    });
}

/// The order in which 8 ready tasks first run, per seed, and the run's log hash.
fn interleaving(sim: &mut Sim) -> (Vec<usize>, u64) {
    let order = Arc::new(Mutex::new(Vec::new()));
    let o = order.clone();
    sim.client("c", move |io: IoRef| async move {
        let hs: Vec<_> = (0..8)
            .map(|i| {
                let o = o.clone();
                io.r#async(async move { o.lock().unwrap().push(i) })
            })
            .collect();
        for h in hs {
            h.await;
        }
    });
    let report = sim.run().unwrap();
    let v = order.lock().unwrap().clone();
    (v, report.log_hash)
}

#[test]
fn the_seed_chooses_the_interleaving_and_replays_it() {
    // Same seed, same order and log hash.
    replay_twice(options(11), interleaving);
    let seeds = seeds(0..20);
    let mut orders = std::collections::BTreeSet::new();
    let mut hashes = std::collections::BTreeSet::new();
    for &seed in &seeds {
        let (o, h) = check_replay(options(seed), interleaving);
        orders.insert(o);
        hashes.insert(h);
    }
    if seeds.len() >= 20 {
        assert!(orders.len() > 10, "20 seeds gave only {} orders", orders.len());
        assert!(hashes.len() > 10, "20 seeds gave only {} log hashes", hashes.len());
    }
}

/// A task finishing a sleep and a cancel of it requested at the same virtual time: which one
/// wins depends on the seed.
fn cancel_race(sim: &mut Sim) -> bool {
    let c = sim.client("c", |io: IoRef| async move {
        let io2 = io.clone();
        let target = io.r#async(async move {
            io2.sleep(Timeout::after(Duration::MILLISECOND)).await?;
            Ok::<_, Canceled>(())
        });
        io.sleep(Timeout::after(Duration::MILLISECOND)).await.unwrap();
        // Both sleeps fired at 1 ms; whether the target ran first is the seed's choice.
        target.cancel().await.is_ok()
    });
    sim.run().unwrap();
    c.output().unwrap()
}

#[test]
fn cancel_versus_completion_resolves_differently_over_seeds() {
    // Each seed replays its outcome.
    let seeds = seeds(0..40);
    let outcomes: Vec<bool> =
        seeds.iter().map(|&seed| replay_twice(options(seed), cancel_race)).collect();
    if seeds.len() >= 40 {
        assert!(outcomes.iter().any(|c| *c), "some seed lets the task complete first");
        assert!(outcomes.iter().any(|c| !*c), "some seed lets the cancel win");
    }
}

#[test]
fn a_deadlock_is_reported_with_the_blocked_tasks() {
    // The runs are compared by their event logs and the blocked tasks' ids in the world: the
    // tasks' `TaskInfo` ids (and the event's address) are the process's, another in each run.
    let (err, _) = check_replay(options(5), |sim| {
        let _c = sim.client("c", |io: IoRef| async move {
            let never = Arc::new(Event::new());
            let n2 = never.clone();
            let waiter = io.r#async(async move { n2.wait().await });
            waiter.await.unwrap();
            drop(never);
        });
        let err = sim.run().unwrap_err();
        let ids: Vec<u64> = match &err {
            SimError::Deadlock { blocked, .. } => blocked.iter().map(|t| t.id).collect(),
            _ => Vec::new(),
        };
        (Unequal(err), ids)
    });
    let err = err.0;
    match &err {
        SimError::Deadlock { seed, blocked } => {
            assert_eq!(*seed, 5);
            assert_eq!(blocked.len(), 2, "the client's root and its waiter: {blocked:?}");
            assert!(blocked.iter().all(|t| t.host_name == "c"));
            // Where each was spawned and what it waits on (the task header's records).
            assert!(blocked.iter().all(|t| t.task.spawned_at.file().ends_with("sim_world.rs")));
            let waiter = blocked.iter().find(|t| t.task.name.is_none());
            let waiter = waiter.expect("the unnamed waiter (the root is named after its host)");
            assert!(
                matches!(waiter.task.waiting_on, Some(kqio::WaitingOn::Event { .. })),
                "{waiter}"
            );
            assert!(
                blocked
                    .iter()
                    .any(|t| matches!(t.task.waiting_on, Some(kqio::WaitingOn::Join { .. }))),
                "the root waits on the join: {blocked:?}"
            );
        }
        other => panic!("not a deadlock: {other}"),
    }
    assert!(err.to_string().contains("seed 5"), "{err}");
}

#[test]
fn a_panic_in_a_task_is_reraised_at_its_await_and_fails_the_run() {
    let err = check_replay(options(6), |sim| {
        let _c = sim.client("c", |io: IoRef| async move {
            let h = io.r#async(async { panic!("boom in a task") });
            h.await
        });
        sim.run().unwrap_err()
    });
    match err {
        SimError::Panicked { host, message, .. } => {
            assert_eq!(host, "c");
            assert!(message.contains("boom in a task"), "{message}");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn step_limit_stops_a_task_that_spins() {
    let r = check_replay(SimOptions { seed: 7, max_steps: 1000, ..Default::default() }, |sim| {
        let _c = sim.client("c", |io: IoRef| async move {
            loop {
                io.yield_now().await;
            }
        });
        sim.run()
    });
    assert!(matches!(r, Err(SimError::StepLimit { steps: 1000, .. })));
}

#[test]
fn time_limit_stops_a_run_that_waits_beyond_it() {
    let options = SimOptions { seed: 8, max_time: Duration::DAY, ..Default::default() };
    let r = check_replay(options, |sim| {
        let _c = sim.client("c", |io: IoRef| async move {
            io.sleep(Timeout::after(Duration::WEEK)).await.unwrap();
        });
        sim.run()
    });
    assert!(matches!(r, Err(SimError::TimeLimit { .. })));
}

#[test]
fn a_crash_drops_every_task_of_the_host_and_a_restart_runs_it_again() {
    check_replay(options(9), |sim| {
        let starts = Arc::new(AtomicUsize::new(0));
        let drops = Arc::new(AtomicUsize::new(0));
        struct CountDrop(Arc<AtomicUsize>);
        impl Drop for CountDrop {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let (s, d) = (starts.clone(), drops.clone());
        let server = sim.host("server", move |io: IoRef| {
            let (s, d) = (s.clone(), d.clone());
            async move {
                s.fetch_add(1, Ordering::SeqCst);
                for _ in 0..3 {
                    let d = CountDrop(d.clone());
                    let io2 = io.clone();
                    io.r#async(async move {
                        let _d = d;
                        io2.sleep(Timeout::None).await.ok();
                    })
                    .detach();
                }
                let _d = CountDrop(d);
                io.sleep(Timeout::None).await.ok();
            }
        });
        sim.run_for(Duration::SECOND).unwrap();
        assert_eq!(starts.load(Ordering::SeqCst), 1);
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        sim.crash(server);
        assert!(!sim.is_up(server));
        assert_eq!(drops.load(Ordering::SeqCst), 4, "the root and its three tasks were dropped");
        sim.restart(server);
        sim.run_for(Duration::SECOND).unwrap();
        assert_eq!(starts.load(Ordering::SeqCst), 2);
        // A crash at a virtual time.
        sim.crash_at(server, Duration::from_secs(5));
        sim.run_for(Duration::from_secs(10)).unwrap();
        assert!(!sim.is_up(server));
        assert_eq!(drops.load(Ordering::SeqCst), 8);
    });
}

#[test]
fn a_paused_host_runs_nothing_until_resumed() {
    check_replay(options(10), |sim| {
        let ticks = Arc::new(AtomicUsize::new(0));
        let t = ticks.clone();
        let h = sim.host("ticker", move |io: IoRef| {
            let t = t.clone();
            async move {
                loop {
                    io.sleep(Timeout::after(Duration::SECOND)).await.unwrap();
                    t.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        sim.run_for(Duration::from_millis(3500)).unwrap();
        assert_eq!(ticks.load(Ordering::SeqCst), 3);
        sim.pause(h);
        sim.run_for(Duration::from_secs(10)).unwrap();
        assert_eq!(ticks.load(Ordering::SeqCst), 3, "paused: no tick");
        sim.resume(h);
        sim.run_for(Duration::from_millis(10)).unwrap();
        assert_eq!(ticks.load(Ordering::SeqCst), 4, "the due tick runs at once after resume");
    });
}

#[test]
fn blocking_jobs_complete_after_a_simulated_latency() {
    check_replay(options(12), |sim| {
        let c = sim.client("c", |io: IoRef| async move {
            let start = io.now(kqio::time::Clock::Awake);
            let v = io.spawn_blocking(|| 7).await.unwrap();
            (v, io.now(kqio::time::Clock::Awake).saturating_duration_since(start))
        });
        sim.run().unwrap();
        let (v, took) = c.output().unwrap();
        assert_eq!(v, 7);
        assert!(took >= Duration::from_micros(10) && took <= Duration::MILLISECOND, "{took}");
    });
}

#[test]
fn random_is_seeded() {
    let draw = |seed| {
        check_replay(options(seed), |sim| {
            let c = sim.client("c", |io: IoRef| async move {
                let mut a = [0u8; 16];
                io.random(&mut a);
                let mut b = [0u8; 16];
                io.random_secure(&mut b).unwrap();
                (a, b)
            });
            sim.run().unwrap();
            c.output().unwrap()
        })
    };
    assert_eq!(draw(1), draw(1));
    assert_ne!(draw(1), draw(2));
    assert_ne!(draw(1).0, draw(1).1);
}

#[test]
fn block_on_inside_a_simulated_task_panics_as_on_a_worker() {
    let rt =
        kqio::Kqueue::init(kqio::InitOptions { n_threads: Some(1), ..Default::default() }).unwrap();
    let rt = Arc::new(rt);
    check_replay(options(13), |sim| {
        let r = rt.clone();
        let _c = sim.client("c", move |_io: IoRef| async move { r.block_on(async { 1 }) });
        match sim.run().unwrap_err() {
            SimError::Panicked { message, .. } => {
                assert!(message.contains("block_on called from inside a kqio task"), "{message}")
            }
            other => panic!("{other}"),
        }
    });
}
