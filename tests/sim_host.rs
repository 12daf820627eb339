//! Hosts of `kqio::sim` and what the world delivers to them: signals, registered programs run
//! as processes through `kqio::process`, task dumps. Every world runs through `check_replay`
//! (twice under `KQIO_SIM_CHECK_REPLAY=1`).

use std::io;

use kqio::process::Command;
use kqio::signal::{Signal, Signals};
use kqio::sim::{check_replay, SimOptions, SimUnsupported};
use kqio::time::{Clock, Duration, Timeout};
use kqio::IoRef;

fn options(seed: u64) -> SimOptions {
    SimOptions { seed, ..Default::default() }
}

#[test]
fn signals_are_delivered_by_the_world_now_or_at_a_time() {
    check_replay(options(1), |sim| {
        let c = sim.client("daemon", |io: IoRef| async move {
            let mut hup = Signals::new(&io, Signal::HANGUP).unwrap();
            let mut times = Vec::new();
            for _ in 0..2 {
                hup.recv().await.unwrap();
                times.push(io.now(Clock::Awake));
            }
            times
        });
        let host = c.host();
        sim.run_for(Duration::SECOND).unwrap();
        sim.signal(host, Signal::HANGUP);
        sim.signal_at(host, Signal::HANGUP, Duration::from_secs(30));
        sim.run().unwrap();
        let times = c.output().unwrap();
        assert_eq!(times[0].as_nanos(), Duration::SECOND.as_nanos());
        assert_eq!(times[1].as_nanos(), Duration::from_secs(30).as_nanos());
    });
}

#[test]
fn registered_programs_run_as_processes_and_can_be_killed() {
    check_replay(options(2), |sim| {
        sim.program("worker", |io: IoRef, args| async move {
            let secs: i64 = args.args[0].to_str().unwrap().parse().unwrap();
            io.sleep(Timeout::after(Duration::from_secs(secs))).await.unwrap();
            (secs * 2) as i32
        });
        let c = sim.client("parent", |io: IoRef| async move {
            let t0 = io.now(Clock::Awake);
            let status = Command::new("worker").arg("3").status(&io).await.unwrap();
            let took = io.now(Clock::Awake).saturating_duration_since(t0);

            let mut child = Command::new("worker").arg("100").spawn(&io).unwrap();
            assert!(child.id() >= 100);
            assert!(child.try_wait().unwrap().is_none());
            io.sleep(Timeout::after(Duration::SECOND)).await.unwrap();
            child.kill().unwrap();
            let killed = child.wait().await.unwrap();
            assert!(child.kill().is_err(), "reaped: a signal is an error");

            let missing = Command::new("/bin/true").spawn(&io).unwrap_err();
            (status, took, killed, missing)
        });
        let report = sim.run().unwrap();
        let (status, took, killed, missing) = c.output().unwrap();
        assert_eq!(status.code(), Some(6));
        assert_eq!(took, Duration::from_secs(3));
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(killed.signal(), Some(9));
        assert_eq!(missing.kind(), io::ErrorKind::Unsupported);
        assert!(missing.get_ref().unwrap().downcast_ref::<SimUnsupported>().is_some());
        assert_eq!(report.elapsed, Duration::from_secs(4), "the killed program's sleep is gone");
    });
}

#[test]
fn restarting_a_client_panics_at_the_call_and_leaves_it_running() {
    check_replay(options(1), |sim| {
        let c = sim.client("c", |io: IoRef| async move {
            io.sleep(Timeout::after(Duration::from_secs(1))).await.unwrap();
            7
        });
        sim.run_for(Duration::from_millis(10)).unwrap();
        for restart_at in [false, true] {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                if restart_at {
                    sim.restart_at(c.host(), Duration::from_millis(500));
                } else {
                    sim.restart(c.host());
                }
            }));
            let payload = r.expect_err("a client cannot be restarted");
            let msg = payload.downcast_ref::<String>().cloned().unwrap_or_default();
            assert!(msg.contains("client host \"c\" cannot be restarted"), "{msg}");
            assert!(sim.is_up(c.host()), "the client was not crashed on the way");
        }
        sim.run().expect("the client runs to its end");
        assert_eq!(c.output(), Some(7));
    });
}

#[test]
fn task_dump_lists_the_hosts_tasks() {
    check_replay(options(3), |sim| {
        let c = sim.client("c", |io: IoRef| async move {
            let io2 = io.clone();
            let h = io.task().name("sleeper").r#async(async move {
                io2.sleep(Timeout::after(Duration::SECOND)).await.unwrap();
            });
            io.yield_now().await;
            let dump = io.task_dump();
            h.await;
            dump
        });
        sim.run().unwrap();
        let dump = c.output().unwrap();
        assert!(dump.provided);
        assert_eq!(dump.tasks.len(), 2, "{dump}");
        assert!(dump.tasks.iter().any(|t| t.name.as_deref() == Some("sleeper")), "{dump}");
    });
}

/// Each host has its own process table: ids count up from 100 per host, so two hosts' first
/// children have the same id, and a host's ids are never reused while it lives.
#[test]
fn each_host_numbers_its_processes_from_100() {
    check_replay(options(3), |sim| {
        sim.program("noop", |_io: IoRef, _args| async move { 0 });
        let spawn_three = |io: IoRef| async move {
            let mut ids = Vec::new();
            for _ in 0..3 {
                let mut child = Command::new("noop").spawn(&io).unwrap();
                ids.push(child.id());
                assert!(child.wait().await.unwrap().success());
            }
            ids
        };
        let a = sim.client("a", spawn_three);
        let b = sim.client("b", spawn_three);
        sim.run().unwrap();
        assert_eq!(a.output().unwrap(), [100, 101, 102]);
        assert_eq!(b.output().unwrap(), [100, 101, 102]);
    });
}
