//! The simulated host's `io.metrics()` (its share of the world, as one worker) and
//! `io.spawn_local` (a `!Send` task of the host, on the world's one thread). Every world runs
//! through `check_replay` (twice under `KQIO_SIM_CHECK_REPLAY=1`); loops take their seeds from
//! `seeds`.

use std::cell::Cell;
use std::rc::Rc;

use kqio::sim::{check_replay, seeds, SimOptions};
use kqio::time::{Duration, Timeout};
use kqio::IoRef;

#[test]
fn metrics_count_the_hosts_tasks_polls_timers_and_ready_queue() {
    for seed in seeds(1..6) {
        check_replay(SimOptions { seed, ..Default::default() }, |sim| {
            // Another host's tasks and timers are not this host's.
            sim.host("other", |io: IoRef| async move {
                let _ = io.sleep(Timeout::after(Duration::from_secs(100))).await;
            });
            let c = sim.client("c", |io: IoRef| async move {
                let m0 = io.metrics();
                assert!(m0.provided);
                assert_eq!(m0.workers.len(), 1, "the world's one thread, as this host sees it");
                assert_eq!((m0.live_tasks, m0.timers_pending), (1, 0), "only the program: {m0:?}");

                let sleepers: Vec<_> = (0..3)
                    .map(|_| {
                        let io2 = io.clone();
                        io.r#async(async move {
                            io2.sleep(Timeout::after(Duration::from_secs(1))).await.unwrap()
                        })
                    })
                    .collect();
                let m1 = io.metrics();
                // Spawned, not yet polled: ready, queued on the host's one worker.
                assert_eq!(m1.workers[0].local_queue_depth, 3, "seed {seed}: {m1:?}");
                assert_eq!(m1.live_tasks, 4);
                assert!(m0.total_polls() >= 1, "the program's own poll counts");
                assert_eq!(m1.total_polls(), m0.total_polls(), "still the same poll");

                // Time does not pass while a task is ready: the three sleepers arm their timers.
                io.sleep(Timeout::after(Duration::from_millis(1))).await.unwrap();
                let m2 = io.metrics();
                assert_eq!(m2.workers[0].local_queue_depth, 0, "seed {seed}: {m2:?}");
                assert_eq!(m2.timers_pending, 3, "seed {seed}: {m2:?}");
                assert_eq!(m2.timers_fired, 1, "the program's 1 ms sleep fired");
                assert!(m2.total_polls() >= m1.total_polls() + 3, "the three sleepers ran");
                assert!(m2.workers[0].busy > m1.workers[0].busy);

                for s in sleepers {
                    s.await;
                }
                let m3 = io.metrics();
                assert_eq!(m3.timers_pending, 0, "seed {seed}: {m3:?}");
                assert_eq!(m3.timers_fired, 4, "seed {seed}: {m3:?}");
                assert_eq!(m3.live_tasks, 1, "the sleepers finished: {m3:?}");
                assert_eq!((m3.reactor_events, m3.blocking_threads), (0, 0), "no reactor, no pool");
                m3.total_polls()
            });
            sim.run().expect("the run ends");
            let polls = c.output().expect("the client ended");
            assert!(polls >= 7, "seed {seed}");
            polls
        });
    }
}

#[test]
fn metrics_start_again_when_a_host_restarts() {
    use std::sync::{Arc, Mutex};
    // What the program saw at each start: (polls, timers fired); then it sleeps 1 ms ten times.
    check_replay(SimOptions { seed: 1, ..Default::default() }, |sim| {
        let starts: Arc<Mutex<Vec<(u64, u64)>>> = Arc::default();
        let s = starts.clone();
        let h = sim.host("server", move |io: IoRef| {
            let s = s.clone();
            async move {
                let m = io.metrics();
                s.lock().unwrap().push((m.total_polls(), m.timers_fired));
                for _ in 0..10 {
                    io.sleep(Timeout::after(Duration::from_millis(1))).await.unwrap();
                }
                let _ = io.sleep(Timeout::after(Duration::from_secs(3600))).await;
            }
        });
        sim.run_for(Duration::from_secs(1)).unwrap();
        let before = sim.io(h).metrics();
        assert_eq!(before.timers_fired, 10, "{before:?}");
        assert!(before.total_polls() >= 11, "{before:?}");
        sim.restart(h);
        sim.run_for(Duration::from_secs(1)).unwrap();
        let starts = starts.lock().unwrap().clone();
        assert_eq!(starts, vec![(1, 0), (1, 0)], "the restarted program starts from zero");
        let after = sim.io(h).metrics();
        assert_eq!(after.timers_fired, 10, "this run's sleeps only: {after:?}");
        assert_eq!(after.total_polls(), before.total_polls(), "the same program, the same polls");
    });
}

#[test]
fn spawn_local_runs_rc_tasks_on_the_simulator() {
    for seed in seeds(1..6) {
        check_replay(SimOptions { seed, ..Default::default() }, |sim| {
            let c = sim.client("c", |io: IoRef| async move {
                let io2 = io.clone();
                // A local task holding an `Rc` across awaits: its future is `!Send`.
                let local = io.spawn_local(async move {
                    let count = Rc::new(Cell::new(0u32));
                    let tasks: Vec<_> = (0..4u32)
                        .map(|i| {
                            let (io3, count) = (io2.clone(), count.clone());
                            let task = io2.spawn_local(async move {
                                io3.sleep(Timeout::after(Duration::from_millis(
                                    u64::from(i) as i64
                                )))
                                .await
                                .unwrap();
                                count.set(count.get() + 1);
                            });
                            task.expect("a task of the simulator may spawn local tasks")
                        })
                        .collect();
                    for t in tasks {
                        t.await;
                    }
                    assert_eq!(Rc::strong_count(&count), 1, "every local task dropped its clone");
                    count.get()
                });
                local.expect("the program runs on the world's thread").await
            });
            let host = c.host();
            sim.run().expect("the run ends");
            assert_eq!(c.output(), Some(4), "seed {seed}");
            // Between steps, on the test's thread, no task of the world runs: no local task.
            let io = sim.io(host);
            assert!(io.spawn_local(async {}).is_err(), "seed {seed}: no task thread to bind it to");
        });
    }
}
