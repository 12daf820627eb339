//! A deadline on the real clock fires when the real clock reaches it, steps included (issue 14,
//! item 3): on `kqio::sim` with `Sim::step_real_clock` and the seeded steps of `ClockOptions`, for
//! `io.sleep`, `timeout`, `sleep_owned` and `timeout_owned`; and on `Kqueue`, that such a
//! deadline still fires. Every world runs through `check_replay` (twice under
//! `KQIO_SIM_CHECK_REPLAY=1`); loops take their seeds from `seeds`.

use kqio::sim::{check_replay, seeds, ClockOptions, SimOptions};
use kqio::time::{sleep_owned, timeout, timeout_owned, Clock, Duration, Elapsed, Timeout};
use kqio::IoRef;

/// The four forms a real-clock deadline can take.
#[derive(Debug, Clone, Copy)]
enum Form {
    Sleep,
    Timeout,
    Owned,
    OwnedTimeout,
}

const FORMS: [Form; 4] = [Form::Sleep, Form::Timeout, Form::Owned, Form::OwnedTimeout];

async fn wait_real(io: &IoRef, t: Timeout, form: Form) {
    let never = futures::future::pending::<()>();
    match form {
        Form::Sleep => io.sleep(t).await.unwrap(),
        Form::Timeout => assert_eq!(timeout(&**io, t, never).await, Err(Elapsed)),
        Form::Owned => sleep_owned(io.clone(), t).await.unwrap(),
        Form::OwnedTimeout => assert_eq!(timeout_owned(io.clone(), t, never).await, Err(Elapsed)),
    }
}

/// A client sleeps until 60 s ahead on its real clock; at 10 s of virtual time its real clock is
/// stepped by `step`. Returns the awake time elapsed at completion and the real clock's excess
/// over the deadline then.
fn stepped(seed: u64, form: Form, step: Duration) -> (Duration, Duration) {
    check_replay(SimOptions { seed, ..Default::default() }, |sim| {
        let c = sim.client("c", move |io: IoRef| async move {
            let a0 = io.now(Clock::Awake);
            let deadline = io.now(Clock::Real) + Duration::from_secs(60);
            wait_real(&io, Timeout::at(deadline, Clock::Real), form).await;
            let real = io.now(Clock::Real);
            assert!(
                real >= deadline,
                "{form:?} completed before its deadline: {real:?} < {deadline:?}"
            );
            (
                io.now(Clock::Awake).saturating_duration_since(a0),
                real.saturating_duration_since(deadline),
            )
        });
        sim.run_for(Duration::from_secs(10)).unwrap();
        sim.step_real_clock(c.host(), step);
        sim.run().unwrap();
        c.output().expect("the client finished")
    })
}

#[test]
fn a_step_forward_past_a_real_deadline_completes_it_at_the_step() {
    for seed in seeds(1..7) {
        for form in FORMS {
            let (awake, late) = stepped(seed, form, Duration::from_secs(100));
            assert_eq!(awake, Duration::from_secs(10), "seed {seed} {form:?}: at the step");
            assert_eq!(late, Duration::from_secs(50), "seed {seed} {form:?}");
        }
    }
}

#[test]
fn a_step_back_delays_a_real_deadline_until_the_real_clock_reaches_it() {
    for seed in seeds(1..7) {
        for form in FORMS {
            let (awake, late) = stepped(seed, form, Duration::from_secs(-30));
            assert_eq!(awake, Duration::from_secs(90), "seed {seed} {form:?}: 60 s + 30 s back");
            assert_eq!(late, Duration::ZERO, "seed {seed} {form:?}: exactly at the deadline");
        }
    }
}

#[test]
fn a_step_forward_short_of_the_deadline_brings_it_nearer() {
    for form in FORMS {
        let (awake, late) = stepped(7, form, Duration::from_secs(20));
        assert_eq!(awake, Duration::from_secs(40), "{form:?}: 60 s - 20 s ahead");
        assert_eq!(late, Duration::ZERO, "{form:?}");
    }
}

#[test]
fn seeded_steps_and_suspends_never_complete_a_real_deadline_early() {
    let clock = ClockOptions {
        step_probability: 0.3,
        max_step: Duration::from_secs(20),
        suspend_probability: 0.1,
        max_suspend: Duration::from_secs(5),
        ..Default::default()
    };
    let mut stepped_back = 0;
    let seeds = seeds(1..13);
    for &seed in &seeds {
        stepped_back +=
            check_replay(SimOptions { seed, clock: clock.clone(), ..Default::default() }, |sim| {
                let c = sim.client("c", |io: IoRef| async move {
                    let mut awake_longer = 0;
                    for (i, form) in FORMS.iter().cycle().take(12).enumerate() {
                        let wait = Duration::from_secs(5 + i as i64);
                        let a0 = io.now(Clock::Awake);
                        let deadline = io.now(Clock::Real) + wait;
                        wait_real(&io, Timeout::at(deadline, Clock::Real), *form).await;
                        let real = io.now(Clock::Real);
                        assert!(real >= deadline, "{form:?} early: {real:?} < {deadline:?}");
                        if io.now(Clock::Awake).saturating_duration_since(a0) > wait {
                            awake_longer += 1;
                        }
                    }
                    awake_longer
                });
                sim.run().unwrap();
                c.output().expect("the client finished")
            });
    }
    if seeds.len() >= 12 {
        assert!(stepped_back > 0, "some seed stepped a real clock back during a sleep");
    }
}

#[test]
fn on_kqueue_a_real_clock_deadline_still_fires() {
    let rt = kqio::Kqueue::init(kqio::InitOptions::default()).unwrap();
    let io = rt.io();
    for form in FORMS {
        let deadline = io.now(Clock::Real) + Duration::from_millis(20);
        rt.block_on(wait_real(&io, Timeout::at(deadline, Clock::Real), form));
        let real = io.now(Clock::Real);
        assert!(real >= deadline, "{form:?} completed early: {real:?} < {deadline:?}");
    }
}
