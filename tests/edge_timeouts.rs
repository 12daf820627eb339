//! Timeouts at the edges, through the public API: a table of inputs (0, 1 ns, sub-millisecond,
//! 10^8 s + 1 ns, `Duration::MAX`, 1,000 years ahead, past deadlines, `Timestamp::MIN`/`MAX`),
//! as durations and as deadlines, on every clock, for five operations (sleep, a socket read,
//! accept, a mutex lock, a queue get), and 100,000 random durations and deadlines (proptest)
//! through `sleep`.
//!
//! What each must do (`time.rs` rule 4 and `sleep.rs`):
//! - expired (zero, negative, past): the operation times out on its first poll;
//! - short: it times out, never before the deadline: on the real, awake and boot clocks the clock
//!   itself has reached the deadline; a CPU-time clock's timeout lasts that long in awake time
//!   (`sleep.rs`, `awake_deadline`), so at least that much awake time has passed;
//! - huge: the operation stays pending (raced against a 5 ms sleep), nothing panics or
//!   overflows, and dropping it frees its timer.
//!
//! That every timeout handed to the poller is within its range (Darwin's `kevent` rejects more
//! than 10^8 s) is the pure conversion's property, tested in `src/kqueue/timer/mod.rs`.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::Instant;

use futures::FutureExt;
use kqio::net::{TcpListener, UnixStream};
use kqio::sync::{Mutex, Queue, WaitTimeoutError};
use kqio::time::{timeout, Clock, Duration, Timeout, Timestamp};
use kqio::{InitOptions, IoRef, Kqueue};
use proptest::prelude::*;

fn rt() -> Kqueue {
    Kqueue::init(InitOptions { n_threads: Some(2), ..Default::default() }).expect("init")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Sleep,
    Read,
    Accept,
    Lock,
    QueueGet,
}

const OPS: [Op; 5] = [Op::Sleep, Op::Read, Op::Accept, Op::Lock, Op::QueueGet];

/// What an input is expected to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Times out on the first poll.
    Expired,
    /// Times out, not before the deadline.
    Short,
    /// Stays pending.
    Huge,
}

/// One row of the table: how to build the timeout on `clock` at `now` (that clock's reading).
#[derive(Debug, Clone, Copy)]
enum Input {
    Duration(Duration),
    /// A deadline `now + d` (saturating).
    Ahead(Duration),
    /// A fixed timestamp.
    At(Timestamp),
}

const SUB_MS: Duration = Duration::from_micros(300);
const OVER_DARWIN: Duration = Duration::from_nanos(100_000_000 * 1_000_000_000 + 1);

fn table() -> Vec<(Input, Expect)> {
    let thousand_years = Duration::YEAR * 1000; // saturates at Duration::MAX (292 years)
    let mut rows = Vec::new();
    for (d, expect) in [
        (Duration::ZERO, Expect::Expired),
        (Duration::from_nanos(-1), Expect::Expired),
        (Duration::from_secs(-1), Expect::Expired),
        (Duration::MIN, Expect::Expired),
        (Duration::NANOSECOND, Expect::Short),
        (SUB_MS, Expect::Short),
        (OVER_DARWIN, Expect::Huge),
        (Duration::MAX, Expect::Huge),
        (thousand_years, Expect::Huge),
    ] {
        rows.push((Input::Duration(d), expect));
        rows.push((Input::Ahead(d), expect));
    }
    rows.push((Input::At(Timestamp::MIN), Expect::Expired));
    rows.push((Input::At(Timestamp::ZERO), Expect::Expired)); // every clock is past its epoch
    rows.push((Input::At(Timestamp::MAX), Expect::Huge));
    rows
}

/// The operations' objects: a socket with nothing to read, a listener nobody connects to, a
/// locked mutex, an empty queue.
struct Env {
    io: IoRef,
    stream: UnixStream,
    _peer: UnixStream,
    listener: TcpListener,
    mutex: Mutex<()>,
    queue: Queue<u32>,
}

/// The operation bounded by `t`; completes when it timed out (and fails the test if it
/// completed any other way).
fn run_op<'a>(env: &'a Env, op: Op, t: Timeout) -> Pin<Box<dyn Future<Output = ()> + 'a>> {
    let io = &*env.io;
    match op {
        Op::Sleep => Box::pin(async move { io.sleep(t).await.expect("not canceled") }),
        Op::Read => Box::pin(async move {
            let mut buf = [0u8; 8];
            let r = timeout(io, t, env.stream.read(&mut buf)).await;
            assert!(r.is_err(), "read completed: {r:?}");
        }),
        Op::Accept => Box::pin(async move {
            let r = timeout(io, t, env.listener.accept()).await;
            assert!(r.is_err(), "accept completed: {:?}", r.map(|r| r.map(|(_, a)| a)));
        }),
        Op::Lock => Box::pin(async move {
            let r = env.mutex.lock_timeout(io, t).await;
            assert_eq!(r.map(|_| ()).unwrap_err(), WaitTimeoutError::TimedOut);
        }),
        Op::QueueGet => Box::pin(async move {
            let r = timeout(io, t, env.queue.get_one()).await;
            assert!(r.is_err(), "get completed: {r:?}");
        }),
    }
}

fn is_cpu(clock: Clock) -> bool {
    matches!(clock, Clock::CpuProcess | Clock::CpuThread)
}

#[test]
fn timeout_table_on_every_clock_for_every_operation() {
    let rt = rt();
    let io = rt.io();
    let rows = table();
    rt.block_on(async {
        let (stream, peer) = UnixStream::pair(&io).unwrap();
        let listener = TcpListener::bind(&io, "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let env = Env {
            io: io.clone(),
            stream,
            _peer: peer,
            listener,
            mutex: Mutex::new(()),
            queue: Queue::new(1),
        };
        let _held = env.mutex.try_lock().expect("unlocked");
        let mut cases = 0;
        for &(input, expect) in &rows {
            for clock in Clock::ALL {
                for op in OPS {
                    let what = format!("{op:?} {input:?} on {clock:?}");
                    let started = Instant::now();
                    let now = io.now(clock);
                    let (t, deadline) = match input {
                        Input::Duration(d) => (Timeout::Duration { duration: d, clock }, None),
                        Input::Ahead(d) => {
                            (Timeout::Deadline { deadline: now + d, clock }, Some(now + d))
                        }
                        Input::At(at) => (Timeout::Deadline { deadline: at, clock }, Some(at)),
                    };
                    let mut fut = run_op(&env, op, t);
                    match expect {
                        Expect::Expired => {
                            assert!((&mut fut).now_or_never().is_some(), "{what}: not at once");
                        }
                        Expect::Short => {
                            // The operation reads the clock when first polled.
                            let first = (&mut fut).now_or_never();
                            let after_first_poll = io.now(clock);
                            if first.is_none() {
                                fut.await;
                            }
                            let took = Duration::from(started.elapsed());
                            // How long the wait must last in awake time (see the module docs).
                            // A CPU clock's deadline counts from the CPU time at the first poll,
                            // which is at most `after_first_poll`.
                            let least = match (input, deadline) {
                                (Input::Duration(d), _) => d,
                                (_, Some(at)) if is_cpu(clock) => at - after_first_poll,
                                (_, Some(at)) => at - now,
                                (_, None) => unreachable!("a deadline input"),
                            };
                            assert!(took >= least, "{what}: early, after {took}");
                            if let (Some(at), false) = (deadline, is_cpu(clock)) {
                                let now = io.now(clock);
                                assert!(now >= at, "{what}: early, {} before", at - now);
                            }
                            assert!(took < Duration::from_secs(2), "{what}: took {took}");
                        }
                        Expect::Huge => {
                            let r =
                                timeout(&*io, Timeout::after(Duration::from_millis(5)), fut).await;
                            assert!(r.is_err(), "{what}: completed");
                        }
                    }
                    assert_eq!(rt.metrics().timers, 0, "{what}: the timer was freed");
                    cases += 1;
                }
            }
        }
        assert_eq!(cases, rows.len() * Clock::ALL.len() * OPS.len());
        // The objects are intact: the socket, listener, lock and queue still work.
        env.queue.put_one(7).await.unwrap();
        assert_eq!(env.queue.get_one().await, Ok(7));
    });
}

struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Durations from every range, weighted toward the edges.
fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (-2_000_000i64..2_000_000).prop_map(Duration::from_nanos),
        (-10_000_000_000i64..10_000_000_000).prop_map(Duration::from_nanos),
        any::<i64>().prop_map(Duration::from_nanos),
        (0i64..64).prop_map(|s| Duration::from_nanos(i64::MAX >> s)),
        (0i64..64).prop_map(|s| Duration::from_nanos(i64::MIN >> s)),
    ]
}

fn clock() -> impl Strategy<Value = Clock> {
    (0..Clock::ALL.len()).prop_map(|i| Clock::ALL[i])
}

#[test]
fn random_durations_and_deadlines_never_panic_never_wake_early() {
    let rt = rt();
    let io = rt.io();
    let flag = Arc::new(Flag(AtomicBool::new(false)));
    let waker = Waker::from(flag.clone());
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(100_000));
    runner
        .run(&(duration(), clock(), any::<bool>()), |(d, clock, as_deadline)| {
            let started = Instant::now();
            let now = io.now(clock);
            let t = if as_deadline {
                Timeout::Deadline { deadline: now + d, clock }
            } else {
                Timeout::Duration { duration: d, clock }
            };
            let mut sleep = io.sleep(t);
            let ready = Pin::new(&mut sleep).poll(&mut Context::from_waker(&waker)).is_ready();
            let took = Duration::from(started.elapsed());
            if d <= Duration::ZERO {
                prop_assert!(ready, "{:?} not expired at once", t);
            } else if ready && !as_deadline {
                prop_assert!(took >= d, "{:?} early", t);
            } else if ready && is_cpu(clock) {
                // Counted from the CPU time when the sleep was made, at most the present one.
                prop_assert!(took >= (now + d) - io.now(clock), "{:?} early", t);
            } else if ready {
                prop_assert!(took >= d && io.now(clock) >= now + d, "{:?} early", t);
            }
            drop(sleep);
            prop_assert_eq!(rt.metrics().timers, 0);
            Ok(())
        })
        .unwrap();
    // A timer that fired while the last sleep was pending would have set the flag; a dropped
    // sleep's timer is gone, so nothing wakes it later either.
    flag.0.store(false, Ordering::SeqCst);
    rt.block_on(io.sleep(Timeout::after(Duration::from_millis(2)))).unwrap();
    assert!(!flag.0.load(Ordering::SeqCst), "a dropped sleep woke its waker");
}
