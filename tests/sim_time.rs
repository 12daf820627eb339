//! Virtual time on `kqio::sim`: the five clocks, jumps to the next timer, deadlines in the past,
//! on the real clock and far away, drift, steps and suspends of the clocks. Every world runs
//! through `check_replay` (twice under `KQIO_SIM_CHECK_REPLAY=1`); loops take their seeds from
//! `seeds`.

use kqio::sim::{check_replay, replay_twice, seeds, ClockOptions, Sim, SimError, SimOptions};
use kqio::time::{timeout, Clock, Duration, Elapsed, Timeout, Timestamp};
use kqio::IoRef;

fn with_clock(seed: u64, clock: ClockOptions) -> SimOptions {
    SimOptions { seed, clock, ..Default::default() }
}

#[test]
fn clocks_start_at_their_origins_and_advance_with_virtual_time() {
    check_replay(with_clock(1, ClockOptions::default()), |sim| {
        let real_start = ClockOptions::default().real_start;
        let c = sim.client("c", |io: IoRef| async move {
            let t0: Vec<Timestamp> = Clock::ALL.iter().map(|c| io.now(*c)).collect();
            io.sleep(Timeout::after(Duration::from_secs(90))).await.unwrap();
            let t1: Vec<Timestamp> = Clock::ALL.iter().map(|c| io.now(*c)).collect();
            let res: Vec<Duration> = Clock::ALL.iter().map(|c| io.clock_resolution(*c)).collect();
            (t0, t1, res)
        });
        sim.run().unwrap();
        let (t0, t1, res) = c.output().unwrap();
        // Real, Awake, Boot, CpuProcess, CpuThread.
        assert_eq!(t0[0], real_start);
        assert_eq!(t0[1], Timestamp::ZERO);
        assert_eq!(t0[2], Timestamp::ZERO);
        assert_eq!(t1[0].saturating_duration_since(t0[0]), Duration::from_secs(90));
        assert_eq!(t1[1].saturating_duration_since(t0[1]), Duration::from_secs(90));
        assert_eq!(t1[2].saturating_duration_since(t0[2]), Duration::from_secs(90));
        assert!(t1[3] > t0[3], "the CPU clock counts polls");
        assert!(res.iter().all(|r| *r == Duration::NANOSECOND));
    });
}

#[test]
fn deadlines_in_the_past_complete_at_once_and_on_the_real_clock_fire_when_it_reaches_them() {
    check_replay(with_clock(2, ClockOptions::default()), |sim| {
        let c = sim.client("c", |io: IoRef| async move {
            let a0 = io.now(Clock::Awake);
            io.sleep(Timeout::at(Timestamp::MIN, Clock::Awake)).await.unwrap();
            io.sleep(Timeout::after(Duration::from_secs(-5))).await.unwrap();
            io.sleep(Timeout::after(Duration::ZERO)).await.unwrap();
            let past = io.now(Clock::Awake).saturating_duration_since(a0);
            let real_deadline = io.now(Clock::Real).saturating_add(Duration::from_secs(5));
            io.sleep(Timeout::at(real_deadline, Clock::Real)).await.unwrap();
            (past, io.now(Clock::Real), real_deadline)
        });
        sim.run().unwrap();
        let (past, real, deadline) = c.output().unwrap();
        assert_eq!(past, Duration::ZERO);
        assert_eq!(real, deadline, "fired exactly when the real clock reached it");
    });
}

#[test]
fn a_far_deadline_is_a_time_limit_and_a_canceled_one_is_forgotten() {
    let r = check_replay(with_clock(3, ClockOptions::default()), |sim| {
        let _c = sim.client("c", |io: IoRef| async move {
            io.sleep(Timeout::at(Timestamp::MAX, Clock::Awake)).await.unwrap();
        });
        sim.run()
    });
    assert!(matches!(r, Err(SimError::TimeLimit { .. })));

    check_replay(with_clock(3, ClockOptions::default()), |sim| {
        let c = sim.client("c", |io: IoRef| async move {
            let r = timeout(
                &*io,
                Timeout::after(Duration::SECOND),
                io.sleep(Timeout::after(Duration::YEAR.saturating_mul(100))),
            )
            .await;
            (r.map(|_| ()), io.now(Clock::Awake))
        });
        let report = sim.run().unwrap();
        assert_eq!(
            c.output(),
            Some((Err(Elapsed), Timestamp::ZERO.saturating_add(Duration::SECOND)))
        );
        assert_eq!(report.elapsed, Duration::SECOND, "the dropped 100-year sleep left no timer");
    });
}

/// Real-clock readings minus awake-clock readings on two hosts after a day, per seed.
fn skew(seed: u64, clock: ClockOptions) -> Vec<(Duration, Duration)> {
    check_replay(with_clock(seed, clock), skew_run)
}

fn skew_run(sim: &mut Sim) -> Vec<(Duration, Duration)> {
    let mut clients = Vec::new();
    for name in ["a", "b"] {
        clients.push(sim.client(name, |io: IoRef| async move {
            let mut out = Vec::new();
            for _ in 0..24 {
                io.sleep(Timeout::after(Duration::HOUR)).await.unwrap();
                let real = io.now(Clock::Real).as_nanos() - io.now(Clock::Awake).as_nanos();
                let boot = io.now(Clock::Boot).as_nanos() - io.now(Clock::Awake).as_nanos();
                out.push((Duration::from_nanos(real), Duration::from_nanos(boot)));
            }
            out
        }));
    }
    sim.run().unwrap();
    clients.iter().flat_map(|c| c.output().unwrap()).collect()
}

#[test]
fn drift_offsets_steps_and_suspends_are_seeded_and_off_by_default() {
    let start = ClockOptions::default().real_start.as_nanos();
    let plain = skew(4, ClockOptions::default());
    assert!(plain.iter().all(|(r, b)| r.as_nanos() == start && b.is_zero()), "off by default");

    let wild = ClockOptions {
        max_offset: Duration::SECOND,
        max_drift_ppm: 500,
        step_probability: 0.5,
        max_step: Duration::SECOND,
        suspend_probability: 0.5,
        max_suspend: Duration::MINUTE,
        ..Default::default()
    };
    // The same seed gives the same clocks.
    let a = replay_twice(with_clock(4, wild.clone()), skew_run);
    assert_ne!(a, skew(5, wild.clone()), "another seed, other clocks");
    // Host a's readings are the first 24, host b's the next 24: their real clocks disagree.
    assert_ne!(a[23].0, a[47].0);
    // Boot runs ahead of awake, never behind, and grows.
    assert!(a.iter().all(|(_, b)| !b.is_negative()));
    assert!(a[23].1 > a[0].1 || a[47].1 > a[24].1, "a host was suspended in a day");
    // Real clock steps go both ways: some hour's skew is below the one before it.
    let drops = a.windows(2).filter(|w| w[1].0 < w[0].0).count();
    let rises = a.windows(2).filter(|w| w[1].0 > w[0].0).count();
    assert!(drops > 0 && rises > 0, "{drops} {rises}");
}

#[test]
fn run_for_moves_time_to_its_end_with_nothing_to_do() {
    check_replay(with_clock(6, ClockOptions::default()), |sim| {
        let report = sim.run_for(Duration::DAY).unwrap();
        assert_eq!(report.elapsed, Duration::DAY);
        assert_eq!(sim.elapsed(), Duration::DAY);
    });
}

/// A deadline on a drifting real clock fires when that clock reaches it: not late on a fast
/// clock (a timer armed for the distance on the awake clock would fire an hour x drift late)
/// and not early on a slow one. Each seed draws each host's drift in -500..=500 ppm.
#[test]
fn a_real_clock_deadline_fires_when_a_drifting_clock_reaches_it() {
    let clock = ClockOptions { max_drift_ppm: 500, ..Default::default() };
    let (mut fast, mut slow) = (0, 0);
    let seeds = seeds(0..16);
    for &seed in &seeds {
        let (late, slept) = check_replay(with_clock(seed, clock.clone()), |sim| {
            let c = sim.client("c", |io: IoRef| async move {
                let (real0, awake0) = (io.now(Clock::Real), io.now(Clock::Awake));
                let deadline = real0.saturating_add(Duration::HOUR);
                io.sleep(Timeout::Deadline { deadline, clock: Clock::Real }).await.unwrap();
                let (real1, awake1) = (io.now(Clock::Real), io.now(Clock::Awake));
                (
                    real1.saturating_duration_since(deadline),
                    awake1.saturating_duration_since(awake0),
                )
            });
            sim.run().unwrap();
            c.output().unwrap()
        });
        assert!(!late.is_negative(), "seed {seed}: woke {late:?} before the deadline");
        assert!(late <= Duration::from_nanos(2), "seed {seed}: woke {late:?} after the deadline");
        match slept.cmp(&Duration::HOUR) {
            std::cmp::Ordering::Less => fast += 1,
            std::cmp::Ordering::Greater => slow += 1,
            std::cmp::Ordering::Equal => {}
        }
    }
    // Fewer seeds (`KQIO_SIM_SEED`, `KQIO_SIM_SEEDS`) may draw only fast or only slow clocks.
    if seeds.len() >= 16 {
        assert!(
            fast > 0 && slow > 0,
            "the seeds drew fast and slow clocks: {fast} fast, {slow} slow"
        );
    }
}
