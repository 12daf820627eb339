//! The order in which a burst of timers wakes its tasks: 10,000 tasks sleep to deadlines spread
//! over 200 ms from one base, on 2 workers. kqio's bound (README, "Timers under a burst"): on the
//! worker that runs them, tasks woken by timers run in deadline order, to the tick; a woken task
//! never waits behind a task whose deadline is later than its own by a tick or more. The bound is
//! stated per worker because it does not depend on load: two workers run side by side, and a
//! worker the OS preempts between taking a task and running it lets the other run ahead, which
//! no runtime can prevent.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use kqio::time::{Clock, Duration, Timeout};
use kqio::{InitOptions, Kqueue};

const TASKS: u64 = 10_000;
const SPREAD_MS: u64 = 200;

/// One task's wake: its place in the global order of wakes, its worker, its deadline (ms after
/// the base), and whether its sleep waited (false: the deadline had passed at the first poll, so
/// no timer woke it).
struct Wake {
    seq: usize,
    thread: ThreadId,
    deadline_ms: u64,
    waited: bool,
}

/// The largest inversion (ms of deadline) in `wakes` taken in order: how much earlier than an
/// already woken task's deadline a later wake's deadline was.
fn max_inversion<'a>(wakes: impl Iterator<Item = &'a Wake>) -> u64 {
    let mut latest = 0;
    let mut worst = 0;
    for w in wakes {
        latest = latest.max(w.deadline_ms);
        worst = worst.max(latest - w.deadline_ms);
    }
    worst
}

#[test]
fn a_burst_of_timers_wakes_in_deadline_order_on_each_worker() {
    let rt = Kqueue::init(InitOptions { n_threads: Some(2), ..Default::default() }).expect("init");
    let io = rt.io();
    let wakes = Arc::new(Mutex::new(Vec::with_capacity(TASKS as usize)));
    let seq = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        // Far enough ahead that every sleep is normally registered before its deadline; a sleep
        // first polled after it is left out of the check (`waited`).
        let base = io.now(Clock::Awake).saturating_add(Duration::from_millis(300));
        let handles: Vec<_> = (0..TASKS)
            .map(|i| {
                // Spawned in a scrambled order of deadlines.
                let deadline_ms = (i * 7_919) % SPREAD_MS;
                let deadline = base.saturating_add(Duration::from_millis(deadline_ms as i64));
                let (io2, wakes, seq) = (io.clone(), wakes.clone(), seq.clone());
                io.r#async(async move {
                    let mut sleep =
                        pin!(io2.sleep(Timeout::Deadline { deadline, clock: Clock::Awake }));
                    let mut first = true;
                    let mut waited = false;
                    std::future::poll_fn(|cx| {
                        let poll = sleep.as_mut().poll(cx);
                        if first && poll.is_pending() {
                            waited = true;
                        }
                        first = false;
                        poll
                    })
                    .await
                    .expect("not canceled");
                    let seq = seq.fetch_add(1, Ordering::SeqCst);
                    let thread = std::thread::current().id();
                    wakes.lock().unwrap().push(Wake { seq, thread, deadline_ms, waited });
                })
            })
            .collect();
        for h in handles {
            h.await;
        }
    });
    rt.deinit();

    let mut wakes = std::mem::take(&mut *wakes.lock().unwrap());
    wakes.sort_by_key(|w| w.seq);
    let timed: Vec<&Wake> = wakes.iter().filter(|w| w.waited).collect();
    assert!(
        timed.len() as u64 >= TASKS / 2,
        "only {} of {TASKS} sleeps were registered before their deadline",
        timed.len()
    );
    let global = max_inversion(timed.iter().copied());
    let mut threads: Vec<ThreadId> = timed.iter().map(|w| w.thread).collect();
    threads.sort_by_key(|t| format!("{t:?}"));
    threads.dedup();
    let per_worker: Vec<u64> = threads
        .iter()
        .map(|t| max_inversion(timed.iter().copied().filter(|w| w.thread == *t)))
        .collect();
    println!(
        "timer-woken tasks: {}; max inversion across workers: {global} ms; per worker: \
         {per_worker:?} ms",
        timed.len()
    );
    // Deadlines are whole milliseconds from one base, so tasks one millisecond apart are a tick
    // apart: on a worker, none may run behind a later tick's task.
    for (t, inv) in threads.iter().zip(&per_worker) {
        assert_eq!(*inv, 0, "on worker {t:?}, a task ran {inv} ms of deadline out of order");
    }
}
