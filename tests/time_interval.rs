//! `Interval` and the owned sleeps: each missed-tick policy under a CPU-hogging task, asserted on
//! the ticks' `Io` timestamps; the stream ending on cancellation; owned sleeps and timeouts boxed
//! and stored, re-armed, canceled, and freeing their timers.
//!
//! The load tests run on one worker: the interval's task and the hog share it, so the hog really
//! keeps the interval from ticking. Every bound is derived from timestamps the test read (when
//! the hog ended, when a tick was observed), never from the machine being quiet.

use std::future::Future;
use std::pin::Pin;

use futures::channel::oneshot;
use futures::StreamExt;
use kqio::time::{
    interval, sleep_owned, timeout_owned, Clock, Duration, Elapsed, MissedTickBehavior, OwnedSleep,
    Timeout, Timestamp,
};
use kqio::{Canceled, InitOptions, Kqueue};

const PERIOD: Duration = Duration::from_millis(20);
/// How long the hog holds the only worker, from when tick 1 was observed.
const HOG: Duration = Duration::from_millis(70);
/// Ticks taken after the hog.
const AFTER: usize = 4;

fn rt(n: usize) -> Kqueue {
    Kqueue::init(InitOptions { n_threads: Some(n), ..Default::default() }).expect("init")
}

/// One tick: when it was due (what `tick` returned) and when the task observed it.
#[derive(Debug, Clone, Copy)]
struct Tick {
    due: Timestamp,
    seen: Timestamp,
}

/// Takes ticks 0 and 1, then starts a task that spins on the (only) worker until `hog_end`, then
/// takes `AFTER` more ticks. Returns the ticks and `hog_end`.
fn ticks_under_load(policy: MissedTickBehavior) -> (Vec<Tick>, Timestamp) {
    let rt = rt(1);
    let io = rt.io();
    let task = io.clone().r#async(async move {
        let mut every = interval(io.clone(), PERIOD);
        every.set_missed_tick_behavior(policy);
        let mut ticks = Vec::new();
        for _ in 0..2 {
            let due = every.tick().await.expect("not canceled");
            ticks.push(Tick { due, seen: io.now(Clock::Awake) });
        }
        let hog_end = ticks[1].seen + HOG;
        let (started, hog_started) = oneshot::channel();
        let hog_io = io.clone();
        let hog = io.r#async(async move {
            started.send(()).expect("the interval task waits");
            while hog_io.now(Clock::Awake) < hog_end {
                std::hint::spin_loop();
            }
        });
        // Yield to the hog: this task runs again only once the hog has finished.
        hog_started.await.expect("the hog started");
        for _ in 0..AFTER {
            let due = every.tick().await.expect("not canceled");
            ticks.push(Tick { due, seen: io.now(Clock::Awake) });
        }
        hog.await;
        (ticks, hog_end)
    });
    let out = rt.block_on(task);
    rt.deinit();
    out
}

/// What holds for every policy: never early, due times increasing, the first tick at once, and
/// the hog really held the interval back (tick 2 observed after the hog, though due before).
fn common(ticks: &[Tick], hog_end: Timestamp) {
    for t in ticks {
        assert!(t.seen >= t.due, "a tick observed before it was due: {ticks:?}");
    }
    for w in ticks.windows(2) {
        assert!(w[1].due > w[0].due, "due times not increasing: {ticks:?}");
    }
    assert!(
        ticks[2].due < hog_end,
        "tick 2 was due during the hog: {ticks:?}, hog end {hog_end:?}"
    );
    assert!(ticks[2].seen >= hog_end, "tick 2 observed only after the hog: {ticks:?}");
}

#[test]
fn burst_takes_the_missed_ticks_at_once_and_keeps_the_schedule() {
    let (ticks, hog_end) = ticks_under_load(MissedTickBehavior::Burst);
    common(&ticks, hog_end);
    // The schedule never moves: tick k is due at start + k * period, whatever the lateness.
    for (k, t) in ticks.iter().enumerate() {
        assert_eq!(t.due, ticks[0].due + PERIOD * k as i64, "tick {k}: {ticks:?}");
    }
    // Tick 3 was also due during the hog, and came right after it, in the burst.
    assert!(ticks[3].due < hog_end, "{ticks:?}, hog end {hog_end:?}");
    assert!(ticks[3].seen >= hog_end);
}

#[test]
fn delay_counts_the_period_from_the_late_tick() {
    let (ticks, hog_end) = ticks_under_load(MissedTickBehavior::Delay);
    common(&ticks, hog_end);
    // The tick after the missed one is a whole period after it was taken (at or after the hog's
    // end), not on the old schedule.
    assert!(ticks[3].due >= hog_end + PERIOD, "{ticks:?}, hog end {hog_end:?}");
    assert!(ticks[3].due <= ticks[2].seen + PERIOD, "{ticks:?}");
    // No two ticks closer than a period.
    for w in ticks.windows(2) {
        assert!(w[1].due - w[0].due >= PERIOD, "{ticks:?}");
    }
}

#[test]
fn skip_drops_the_missed_ticks_and_keeps_the_grid() {
    let (ticks, hog_end) = ticks_under_load(MissedTickBehavior::Skip);
    common(&ticks, hog_end);
    // Tick 3 is the first time of the original grid after tick 2 was taken: in the future then,
    // on the grid, and at least one tick of the grid was dropped.
    let gap = ticks[3].due - ticks[2].due;
    assert_eq!(gap.as_nanos() % PERIOD.as_nanos(), 0, "off the grid: {ticks:?}");
    assert!(gap >= PERIOD * 2, "nothing skipped: {ticks:?}");
    assert!(ticks[3].due >= hog_end, "{ticks:?}, hog end {hog_end:?}");
    assert!(ticks[3].due <= ticks[2].seen + PERIOD, "{ticks:?}");
    for w in ticks[2..].windows(2) {
        let gap = w[1].due - w[0].due;
        assert_eq!(gap.as_nanos() % PERIOD.as_nanos(), 0, "off the grid: {ticks:?}");
    }
}

#[test]
fn the_stream_ends_when_its_task_is_canceled_and_tick_is_a_cancellation_point() {
    let rt = rt(2);
    let io = rt.io();
    let (first, got_first) = oneshot::channel();
    let io2 = io.clone();
    let counter = io.r#async(async move {
        let mut ticks = interval(io2.clone(), Duration::from_millis(1));
        let mut first = Some(first);
        let mut n = 0u32;
        while let Some(_due) = ticks.next().await {
            n += 1;
            if let Some(tx) = first.take() {
                tx.send(()).expect("the test waits");
            }
        }
        // The request was delivered by the stream: `tick` now waits again, and a re-armed
        // request ends it with `Canceled`.
        io2.recancel();
        (n, ticks.tick().await)
    });
    rt.block_on(async move {
        got_first.await.expect("a first tick");
        let (n, after) = counter.cancel().await;
        assert!(n >= 1);
        assert_eq!(after, Err(Canceled));
    });
}

#[test]
fn owned_sleeps_box_into_a_vec_and_each_waits_its_time() {
    let rt = rt(2);
    let io = rt.io();
    type Boxed = Pin<Box<dyn Future<Output = Result<(), Elapsed>> + Send>>;
    let start = io.now(Clock::Awake);
    let mut stored: Vec<(Duration, Boxed)> = Vec::new();
    for ms in [15, 1, 8, 3] {
        let d = Duration::from_millis(ms);
        let sleep = sleep_owned(io.clone(), Timeout::after(d));
        stored.push((d, Box::pin(async move { sleep.await.map_err(|_| Elapsed) })));
    }
    // And an owned timeout that elapses, boxed the same way.
    let bounded = timeout_owned(
        io.clone(),
        Timeout::after(Duration::from_millis(5)),
        futures::future::pending::<()>(),
    );
    stored.push((Duration::from_millis(5), Box::pin(async move { bounded.await.map(|_| ()) })));
    // Each runs as its own task ('static), and none ends before its time.
    let handles: Vec<_> = stored
        .into_iter()
        .map(|(d, fut)| {
            let io2 = io.clone();
            (d, io.r#async(async move { (fut.await, io2.now(Clock::Awake)) }))
        })
        .collect();
    rt.block_on(async {
        for (d, h) in handles {
            let (out, ended) = h.await;
            assert!(ended - start >= d, "a {d} sleep ended after {}", ended - start);
            if d == Duration::from_millis(5) {
                assert_eq!(out, Err(Elapsed), "the timeout elapsed");
            } else {
                assert_eq!(out, Ok(()), "the sleep completed");
            }
        }
    });
    assert_eq!(rt.metrics().timers, 0, "every timer freed");
}

#[test]
fn owned_timeout_passes_the_output_through_and_is_spawnable() {
    let rt = rt(2);
    let io = rt.io();
    let quick = timeout_owned(io.clone(), Timeout::after(Duration::from_secs(10)), async { 42 });
    assert!(quick.deadline().is_some());
    assert_eq!(rt.block_on(io.r#async(quick)), Ok(42));
    assert_eq!(rt.metrics().timers, 0, "the unfired deadline was freed");
}

#[test]
fn owned_sleep_reset_rearms_it_and_drop_frees_its_timer() {
    let rt = rt(1);
    let io = rt.io();
    rt.block_on(async {
        let mut s: OwnedSleep = sleep_owned(io.clone(), Timeout::after(Duration::from_millis(2)));
        (&mut s).await.expect("not canceled");
        let before = io.now(Clock::Awake);
        s.reset(Timeout::after(Duration::from_millis(4)));
        (&mut s).await.expect("not canceled");
        assert!(io.now(Clock::Awake) - before >= Duration::from_millis(4));
        // Reset while armed: the new deadline counts, not the old one.
        s.reset(Timeout::after(Duration::from_secs(3600)));
        let far = s.deadline().expect("a deadline");
        s.reset(Timeout::after(Duration::from_millis(1)));
        assert!(s.deadline().expect("a deadline") < far);
        (&mut s).await.expect("not canceled");
        // Armed, polled once (a timer taken), then dropped: the timer is freed at once.
        let mut pending = sleep_owned(io.clone(), Timeout::after(Duration::from_secs(3600)));
        assert!(futures::poll!(&mut pending).is_pending());
    });
    assert_eq!(rt.metrics().timers, 0);
}

#[test]
fn owned_sleep_is_a_cancellation_point_unless_uncancelable() {
    let rt = rt(2);
    let io = rt.io();
    let (a_tx, a_rx) = oneshot::channel::<()>();
    let io2 = io.clone();
    let forever = io.r#async(async move {
        let s = sleep_owned(io2, Timeout::None);
        drop(a_tx);
        s.await
    });
    let io3 = io.clone();
    let (b_tx, b_rx) = oneshot::channel::<()>();
    let shielded = io.r#async(async move {
        let s = sleep_owned(io3, Timeout::after(Duration::from_millis(30))).uncancelable();
        drop(b_tx);
        s.await
    });
    rt.block_on(async {
        let _ = a_rx.await;
        let _ = b_rx.await;
        assert_eq!(forever.cancel().await, Err(Canceled));
        assert_eq!(shielded.cancel().await, Ok(()), "ran to its deadline");
    });
}
