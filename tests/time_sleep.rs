//! Sleeps and timeouts on the runtime's timing wheel: never early, promptly canceled, in deadline
//! order at scale, and a dropped sleep frees its timer at once.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Wake, Waker};
use std::time::Instant;

use kqio::time::{timeout, Clock, Duration, Elapsed, Timeout};
use kqio::{Canceled, InitOptions, Kqueue};

fn rt(n: usize) -> Kqueue {
    Kqueue::init(InitOptions { n_threads: Some(n), ..Default::default() }).expect("init")
}

#[test]
fn sleep_is_never_early() {
    let rt = rt(2);
    let io = rt.io();
    for ms in [1, 2, 5, 13] {
        let started = Instant::now();
        rt.block_on(io.sleep(Timeout::after(Duration::from_millis(ms)))).expect("not canceled");
        let took = started.elapsed();
        assert!(took >= std::time::Duration::from_millis(ms as u64), "{ms} ms sleep took {took:?}");
    }
}

#[test]
fn past_and_zero_deadlines_complete_at_once() {
    let rt = rt(1);
    let io = rt.io();
    rt.block_on(async {
        let now = io.now(Clock::Awake);
        let past = now.saturating_add(Duration::from_millis(-1_000));
        io.sleep(Timeout::Deadline { deadline: past, clock: Clock::Awake }).await.unwrap();
        io.sleep(Timeout::after(Duration::from_nanos(0))).await.unwrap();
        io.sleep(Timeout::after(Duration::from_millis(-5))).await.unwrap();
    });
    assert_eq!(rt.metrics().timers, 0);
}

/// A sleep whose deadline was in the future when it was made but has passed by its first poll
/// (the backend then skips its own clock read and lets the next timer turn fire it): it completes
/// promptly, from `block_on` and from a worker, with the driver parked or busy.
#[test]
fn a_deadline_that_passes_before_the_first_poll_still_fires_promptly() {
    for workers in [1, 2] {
        let rt = rt(workers);
        let io = rt.io();
        for round in 0..50 {
            let sleep = io.sleep(Timeout::after(Duration::from_micros(200)));
            // The operation under test: the deadline passes before the first poll.
            std::thread::sleep(std::time::Duration::from_millis(1));
            let started = Instant::now();
            rt.block_on(sleep).unwrap();
            let io2 = io.clone();
            let h = io.r#async(async move {
                let sleep = io2.sleep(Timeout::after(Duration::from_micros(200)));
                std::thread::sleep(std::time::Duration::from_millis(1));
                sleep.await
            });
            rt.block_on(h).unwrap();
            let took = started.elapsed();
            assert!(took < std::time::Duration::from_secs(1), "round {round}: took {took:?}");
        }
        assert_eq!(rt.metrics().timers, 0);
    }
}

#[test]
fn cancel_of_a_far_sleep_is_prompt_and_frees_the_timer() {
    let rt = rt(2);
    let io = rt.io();
    for timeout in [Timeout::None, Timeout::after(Duration::from_millis(i64::MAX / 1_000_000))] {
        let io2 = io.clone();
        let h = io.r#async(async move { io2.sleep(timeout).await });
        let started = Instant::now();
        let r = rt.block_on(async {
            // Let it start waiting first: yield until the timer (or the task) is in place.
            for _ in 0..100 {
                io.yield_now().await;
            }
            h.cancel().await
        });
        assert_eq!(r, Err(Canceled));
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
    assert_eq!(rt.metrics().timers, 0, "a canceled sleep frees its timer entry");
}

#[test]
fn dropped_sleeps_free_their_timers() {
    let rt = rt(1);
    let io = rt.io();
    rt.block_on(async {
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        let mut sleeps: Vec<_> = (0..10_000)
            .map(|_| Box::pin(io.sleep(Timeout::after(Duration::from_millis(60_000)))))
            .collect();
        for s in &mut sleeps {
            assert!(s.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(rt.metrics().timers, 10_000);
        drop(sleeps);
        assert_eq!(rt.metrics().timers, 0);
    });
}

/// A million sleeps pending at once: each costs one wheel entry (`TIMER_ENTRY_BYTES`, 32 bytes)
/// and a 4-byte slot index plus the future itself, and all are freed when the futures are
/// dropped.
#[test]
fn a_million_concurrent_sleeps() {
    const N: usize = 1_000_000;
    let rt = rt(1);
    let io = rt.io();
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    let mut sleeps = Vec::with_capacity(N);
    for i in 0..N {
        let mut s =
            Box::pin(io.sleep(Timeout::after(Duration::from_millis(1_000 + (i % 5_000) as i64))));
        assert!(s.as_mut().poll(&mut cx).is_pending());
        sleeps.push(s);
    }
    assert_eq!(rt.metrics().timers, N);
    const { assert!(kqio::kqueue::TIMER_ENTRY_BYTES == 32) };
    drop(sleeps);
    assert_eq!(rt.metrics().timers, 0);
}

#[test]
fn timeout_bounds_a_future() {
    let rt = rt(2);
    let io = rt.io();
    rt.block_on(async {
        let r = timeout(
            &*io,
            Timeout::after(Duration::from_millis(3)),
            futures::future::pending::<u8>(),
        )
        .await;
        assert_eq!(r, Err(Elapsed));
        let r = timeout(&*io, Timeout::after(Duration::from_millis(10_000)), async { 7 }).await;
        assert_eq!(r, Ok(7));
    });
    assert_eq!(rt.metrics().timers, 0);
}

/// Records when the timer woke its sleep (not when the task ran), then wakes the task.
struct Recorder {
    io: kqio::IoRef,
    deadline: i64,
    task: Mutex<Option<Waker>>,
    log: Arc<Mutex<Vec<(i64, i64)>>>,
    fired: AtomicBool,
}

impl Wake for Recorder {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if !self.fired.swap(true, Ordering::AcqRel) {
            let at = self.io.now(Clock::Awake).as_nanos();
            self.log.lock().unwrap().push((self.deadline, at));
        }
        if let Some(w) = self.task.lock().unwrap().take() {
            w.wake();
        }
    }
}

/// 100,000 concurrent sleeps of pseudo-random length: each timer fires no earlier than its
/// deadline, the timers fire in deadline order (to the wheel's 250 µs resolution), and none fires
/// far later than asked.
#[test]
fn many_sleeps_fire_in_deadline_order() {
    const N: usize = 100_000;
    let rt = rt(2);
    let io = rt.io();
    let log = Arc::new(Mutex::new(Vec::with_capacity(N)));
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let handles: Vec<_> = (0..N)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let ms = 1 + (seed % 200) as i64;
            let io2 = io.clone();
            let log = log.clone();
            io.r#async(async move {
                let deadline = io2.now(Clock::Awake).saturating_add(Duration::from_millis(ms));
                let rec = Arc::new(Recorder {
                    io: io2.clone(),
                    deadline: deadline.as_nanos(),
                    task: Mutex::new(None),
                    log,
                    fired: AtomicBool::new(false),
                });
                let waker = Waker::from(rec.clone());
                let mut sleep =
                    std::pin::pin!(io2.sleep(Timeout::Deadline { deadline, clock: Clock::Awake }));
                std::future::poll_fn(|cx| {
                    *rec.task.lock().unwrap() = Some(cx.waker().clone());
                    sleep.as_mut().poll(&mut Context::from_waker(&waker))
                })
                .await
                .unwrap();
                // A task preempted past its deadline before its first poll finds the deadline
                // passed and completes without a timer: record that completion, out of order.
                if !rec.fired.swap(true, Ordering::AcqRel) {
                    let at = io2.now(Clock::Awake).as_nanos();
                    rec.log.lock().unwrap().push((rec.deadline, -at));
                }
            })
        })
        .collect();
    rt.block_on(async {
        for h in handles {
            h.await;
        }
    });
    let fired = std::mem::take(&mut *log.lock().unwrap());
    assert_eq!(fired.len(), N, "every timer fired once");
    let tick = |ns: i64| ns / 1_000_000;
    let mut latest_tick = i64::MIN;
    let mut worst_late = 0;
    for &(deadline, at) in &fired {
        if at < 0 {
            assert!(-at >= deadline, "completed early");
            continue;
        }
        assert!(at >= deadline, "a timer fired {} ns early", deadline - at);
        assert!(
            tick(deadline) + 1 >= latest_tick,
            "a timer fired after one due over a millisecond later"
        );
        latest_tick = latest_tick.max(tick(deadline));
        worst_late = worst_late.max(at - deadline);
    }
    let without_timer = fired.iter().filter(|&&(_, at)| at < 0).count();
    assert!(without_timer < N / 100, "{without_timer} sleeps found their deadline passed");
    // Generous for a loaded CI machine; the timers benchmark reports the real figure.
    assert!(worst_late < 250_000_000, "worst lateness {worst_late} ns");
    assert_eq!(rt.metrics().timers, 0);
}
