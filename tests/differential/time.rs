//! Sleeps and timeouts (never early by the `Io`'s own clock, deadlines in order, past and
//! far-future deadlines, every `Timeout` form, `time::timeout`), the clocks (monotonic, the real
//! clock since the epoch), and `random`/`random_secure`. Every measurement is by `io.now`: on the
//! simulator time is virtual.

use std::pin::Pin;
use std::sync::Arc;

use futures::channel::oneshot;
use futures::stream::{FuturesUnordered, StreamExt};
use kqio::time::{timeout, Clock, Duration, Elapsed, Timeout, Timestamp};
use kqio::Canceled;

use crate::harness::Ctx;

differential!(time:
    sleep_is_never_early_on_the_awake_clock,
    past_zero_and_negative_timeouts_complete_at_once,
    deadlines_fire_in_order,
    many_sleeps_of_random_lengths_wake_after_their_deadlines,
    timeout_forms_on_every_clock,
    a_deadline_on_the_real_clock_is_reached,
    far_future_and_unbounded_sleeps_end_when_canceled,
    timeout_returns_the_output_or_elapsed,
    timeout_to_deadline_bounds_a_retry_loop,
    the_shorter_of_two_sleeps_wins_a_select,
    clocks_are_monotonic_and_advance_across_sleeps,
    the_real_clock_counts_from_the_epoch,
    clock_resolutions_are_positive,
    random_fills_and_differs,
    random_secure_fills_and_differs,
    random_covers_every_byte_value,
);

fn ms(n: i64) -> Duration {
    Duration::from_millis(n)
}

async fn sleep_is_never_early_on_the_awake_clock(t: Ctx) {
    let io = t.io;
    for n in [1, 2, 5, 13] {
        let before = io.now(Clock::Awake);
        io.sleep(Timeout::after(ms(n))).await.unwrap();
        let slept = io.now(Clock::Awake) - before;
        assert!(slept >= ms(n), "a {n} ms sleep took {slept}");
    }
}

async fn past_zero_and_negative_timeouts_complete_at_once(t: Ctx) {
    let io = t.io;
    let now = io.now(Clock::Awake);
    io.sleep(Timeout::at(now.saturating_sub(Duration::from_secs(1)), Clock::Awake)).await.unwrap();
    io.sleep(Timeout::at(Timestamp::MIN, Clock::Awake)).await.unwrap();
    io.sleep(Timeout::after(Duration::ZERO)).await.unwrap();
    io.sleep(Timeout::after(ms(-5))).await.unwrap();
    io.sleep(Timeout::after(Duration::MIN)).await.unwrap();
    let real = io.now(Clock::Real);
    io.sleep(Timeout::at(real.saturating_sub(Duration::from_secs(60)), Clock::Real)).await.unwrap();
    // Expired timeouts are timeouts, not waits: a pending future is cut off at once.
    let r = timeout(&*io, Timeout::after(Duration::ZERO), futures::future::pending::<()>()).await;
    assert_eq!(r, Err(Elapsed));
}

async fn deadlines_fire_in_order(t: Ctx) {
    let io = t.io;
    let base = io.now(Clock::Awake);
    // Deadlines 5 ms apart, registered in a scrambled order, waited on by one task.
    let order = [4i64, 0, 3, 1, 5, 2];
    let mut sleeps: FuturesUnordered<Pin<Box<dyn std::future::Future<Output = i64> + Send>>> =
        FuturesUnordered::new();
    for &k in &order {
        let io2 = io.clone();
        let deadline = base + ms(5 * (k + 1));
        sleeps.push(Box::pin(async move {
            io2.sleep(Timeout::at(deadline, Clock::Awake)).await.unwrap();
            assert!(io2.now(Clock::Awake) >= deadline);
            k
        }));
    }
    let mut woke = Vec::new();
    while let Some(k) = sleeps.next().await {
        woke.push(k);
    }
    assert_eq!(woke, [0, 1, 2, 3, 4, 5]);
}

async fn many_sleeps_of_random_lengths_wake_after_their_deadlines(t: Ctx) {
    let io = t.io;
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let io2 = io.clone();
            let mut b = [0u8; 2];
            io.random(&mut b);
            let us = i64::from(u16::from_le_bytes(b)) % 20_000;
            io.r#async(async move {
                let deadline = io2.now(Clock::Awake) + Duration::from_micros(us);
                io2.sleep(Timeout::at(deadline, Clock::Awake)).await.unwrap();
                io2.now(Clock::Awake) >= deadline
            })
        })
        .collect();
    for t in tasks {
        assert!(t.await, "woke before its deadline");
    }
}

async fn timeout_forms_on_every_clock(t: Ctx) {
    let io = t.io;
    for clock in [Clock::Awake, Clock::Boot, Clock::Real] {
        // A duration measured on `clock` lasts that long in awake time.
        let before = io.now(Clock::Awake);
        io.sleep(Timeout::Duration { duration: ms(3), clock }).await.unwrap();
        assert!(io.now(Clock::Awake) - before >= ms(3), "{clock:?} duration");
        // A deadline on `clock` is reached on that clock (Real can be stepped by the system;
        // monotonic clocks cannot).
        let deadline = io.now(clock) + ms(3);
        io.sleep(Timeout::at(deadline, clock)).await.unwrap();
        if clock != Clock::Real {
            assert!(io.now(clock) >= deadline, "{clock:?} deadline");
        }
    }
    // `From` conversions are the awake clock.
    assert_eq!(Timeout::from(ms(1)), Timeout::after(ms(1)));
    io.sleep(std::time::Duration::from_millis(1).into()).await.unwrap();
}

async fn a_deadline_on_the_real_clock_is_reached(t: Ctx) {
    let io = t.io;
    let deadline = io.now(Clock::Real) + ms(20);
    io.sleep(Timeout::at(deadline, Clock::Real)).await.unwrap();
    assert!(io.now(Clock::Real) >= deadline);
}

async fn far_future_and_unbounded_sleeps_end_when_canceled(t: Ctx) {
    let io = t.io;
    for timeout in [
        Timeout::None,
        Timeout::after(Duration::MAX),
        Timeout::after(Duration::from_secs(365 * 24 * 3600)),
        Timeout::at(Timestamp::MAX, Clock::Awake),
        Timeout::at(Timestamp::MAX, Clock::Real),
    ] {
        let io2 = io.clone();
        let (tx, rx) = oneshot::channel();
        let before = io.now(Clock::Awake);
        let h = io.r#async(async move {
            tx.send(()).unwrap();
            io2.sleep(timeout).await
        });
        rx.await.unwrap();
        assert_eq!(h.cancel().await, Err(Canceled), "{timeout:?}");
        assert!(io.now(Clock::Awake) - before < Duration::from_secs(3_600), "{timeout:?}");
    }
}

async fn timeout_returns_the_output_or_elapsed(t: Ctx) {
    let io = t.io;
    let t5 = Timeout::after(ms(5));
    assert_eq!(timeout(&*io, t5, async { 7 }).await, Ok(7));
    let before = io.now(Clock::Awake);
    assert_eq!(timeout(&*io, t5, futures::future::pending::<u8>()).await, Err(Elapsed));
    assert!(io.now(Clock::Awake) - before >= ms(5));
    // The inner future finishing first wins even with a short limit.
    let io2 = io.clone();
    let r = timeout(&*io, Timeout::after(Duration::from_secs(60)), async move {
        io2.sleep(Timeout::after(ms(2))).await.unwrap();
        "done"
    })
    .await;
    assert_eq!(r, Ok("done"));
    let e: std::io::Error = Elapsed.into();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
}

async fn timeout_to_deadline_bounds_a_retry_loop(t: Ctx) {
    let io = t.io;
    let whole = Timeout::after(ms(20)).to_deadline(|c| io.now(c));
    let Timeout::Deadline { deadline, clock } = whole else { panic!("{whole:?}") };
    let mut attempts = 0;
    loop {
        attempts += 1;
        // Each attempt waits for something that never comes, bounded by the whole deadline.
        if timeout(&*io, whole, futures::future::pending::<()>()).await.is_err() {
            break;
        }
    }
    assert_eq!(attempts, 1);
    assert!(io.now(clock) >= deadline);
    assert!(whole.remaining(|c| io.now(c)).unwrap() <= Duration::ZERO);
    // The next attempt with the same deadline expires at once.
    assert_eq!(timeout(&*io, whole, futures::future::pending::<()>()).await, Err(Elapsed));
}

async fn the_shorter_of_two_sleeps_wins_a_select(t: Ctx) {
    let io = t.io;
    let sel = kqio::select();
    let (a, b) = (io.clone(), io.clone());
    sel.r#async(&*io, async move {
        a.sleep(Timeout::after(Duration::from_secs(3_600))).await.map(|_| "hour")
    });
    sel.r#async(&*io, async move { b.sleep(Timeout::after(ms(1))).await.map(|_| "ms") });
    assert_eq!(sel.wait().await, Ok(Ok("ms")));
    assert_eq!(sel.cancel().await, Some(Err(Canceled)));
}

async fn clocks_are_monotonic_and_advance_across_sleeps(t: Ctx) {
    let io = t.io;
    for clock in [Clock::Awake, Clock::Boot] {
        let mut last = io.now(clock);
        for _ in 0..100 {
            let now = io.now(clock);
            assert!(now >= last, "{clock:?} went back");
            last = now;
        }
        let before = io.now(clock);
        io.sleep(Timeout::after(ms(2))).await.unwrap();
        assert!(io.now(clock) - before >= ms(2), "{clock:?} did not advance across a sleep");
    }
    let io2 = io.clone();
    let cpu = io.r#async(async move { io2.now(Clock::CpuThread) }).await;
    assert!(cpu >= Timestamp::from_nanos(0));
    assert!(io.now(Clock::CpuProcess) >= Timestamp::from_nanos(0));
}

async fn the_real_clock_counts_from_the_epoch(t: Ctx) {
    let io = t.io;
    // 2020-01-01T00:00:00Z: any world's real clock is later than this.
    let y2020 = Timestamp::from_nanos(1_577_836_800 * 1_000_000_000);
    assert!(io.now(Clock::Real) > y2020, "{:?}", io.now(Clock::Real));
}

async fn clock_resolutions_are_positive(t: Ctx) {
    let io = t.io;
    for clock in Clock::ALL {
        let r = io.clock_resolution(clock);
        assert!(r > Duration::ZERO && r <= ms(20), "{clock:?}: {r}");
    }
}

async fn random_fills_and_differs(t: Ctx) {
    let io = t.io;
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    io.random(&mut a);
    io.random(&mut b);
    assert_ne!(a, [0; 32]);
    assert_ne!(a, b);
    io.random(&mut []);
    // From other tasks too.
    let draws: Vec<_> = (0..8)
        .map(|_| {
            let io2 = io.clone();
            io.r#async(async move {
                let mut x = [0u8; 16];
                io2.random(&mut x);
                x
            })
        })
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    for d in draws {
        assert!(seen.insert(d.await), "two tasks drew the same bytes");
    }
}

async fn random_secure_fills_and_differs(t: Ctx) {
    let io = t.io;
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    io.random_secure(&mut a).unwrap();
    io.random_secure(&mut b).unwrap();
    assert_ne!(a, [0; 32]);
    assert_ne!(a, b);
    io.random_secure(&mut []).unwrap();
}

async fn random_covers_every_byte_value(t: Ctx) {
    let io = t.io;
    let buf = Arc::new({
        let mut v = vec![0u8; 64 * 1024];
        io.random(&mut v);
        v
    });
    let mut counts = [0usize; 256];
    for &b in buf.iter() {
        counts[b as usize] += 1;
    }
    // 256 expected per value: a healthy generator stays far inside these bounds.
    assert!(counts.iter().all(|&c| (100..=450).contains(&c)), "{counts:?}");
}
