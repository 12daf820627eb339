//! Stopping a running job of the blocking pool early: the per-job [`JobInterrupt`] and the
//! [`Interrupter`] that retries the signal until the job acknowledges.
//!
//! Ground rules:
//! 1. A job's *window* is the time its pool thread runs it: [`JobInterrupt::run`] opens it (it
//!    records the thread) and closes it under the window's lock. A signal is sent only under that
//!    lock while the window is open, so a thread is never signaled before its job started, after
//!    it ended, or after it moved on (or exited): the thread cannot close the window while a
//!    signal is being sent. A signal still pending when the window closes is delivered before the
//!    thread takes another job (`sys::interrupt::drain`), so it never interrupts the next one.
//! 2. `requested` is set before any signal is sent. The job's system calls go through
//!    [`check`] before each attempt and after each `EINTR`: a set `requested` makes the call
//!    return `Canceled` (and sets `acked`) instead of blocking. The only way a signal is lost is
//!    to arrive between that check and the call: so the sender retries (the `Interrupter`, with
//!    backoff) until the job acknowledges, its window closes, or [`INTERRUPT_GRACE`] passes.
//! 3. Past [`INTERRUPT_GRACE`] the call is taken to be one the signal does not interrupt (a
//!    hung mount's uninterruptible wait): the waiter is released (`give_up`) and the thread is
//!    left to finish when the OS lets it.

use std::cell::Cell;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::Canceled;
use crate::sys::interrupt as sys;

/// How long a canceled job is given to stop before its waiter stops waiting for it, and how long
/// `deinit` waits for a pool thread running one: long enough for a loaded machine to schedule
/// the thread after the signal (it usually takes microseconds), short enough that a program
/// shutting down on a hung network mount is not held for long.
pub(crate) const INTERRUPT_GRACE: Duration = Duration::from_millis(1000);

/// The first delay before the signal is sent again; it doubles each time, up to
/// [`RETRY_MAX`]. A lost signal (ground rule 2) needs a window of a few instructions to hit,
/// so the first retry almost always finds the job acknowledged.
const RETRY_FIRST: Duration = Duration::from_micros(500);
/// The longest delay between two signals to one job.
const RETRY_MAX: Duration = Duration::from_millis(50);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The window of one job (ground rule 1).
#[derive(Default)]
struct Window {
    /// The job's thread while the job runs.
    thread: Option<sys::Thread>,
    /// Signals sent during the window.
    sent: usize,
}

/// The interrupt state of one job of the pool.
pub(crate) struct JobInterrupt {
    requested: AtomicBool,
    acked: AtomicBool,
    window: Mutex<Window>,
    interrupter: Weak<Interrupter>,
}

std::thread_local! {
    // The job this pool thread runs, or null (ground rule 2: what `check` reads). Real threads
    // only (never a loom model), hence std's macro.
    static CURRENT: Cell<*const JobInterrupt> = const { Cell::new(std::ptr::null()) };
}

/// Whether the job running on this thread was asked to stop: `Err` with [`Canceled`] inside
/// (and the request acknowledged) if so. Call it before every blocking system call of a job
/// and after each `EINTR`. Outside a job it is always `Ok`.
pub(crate) fn check() -> io::Result<()> {
    let p = CURRENT.with(Cell::get);
    if p.is_null() {
        return Ok(());
    }
    // SAFETY: `CURRENT` is non-null only inside `JobInterrupt::run`, whose `self` (kept alive by
    // the caller's `Arc`) it points to.
    let job = unsafe { &*p };
    // Acquire: pairs with the Release store in `request`.
    if job.requested.load(Ordering::Acquire) {
        job.acked.store(true, Ordering::Release);
        return Err(Canceled.into());
    }
    Ok(())
}

impl JobInterrupt {
    /// The interrupt state of a new job of the pool that `interrupter` serves.
    pub(crate) fn new(interrupter: &Arc<Interrupter>) -> Arc<JobInterrupt> {
        Arc::new(JobInterrupt {
            requested: AtomicBool::new(false),
            acked: AtomicBool::new(false),
            window: Mutex::new(Window::default()),
            interrupter: Arc::downgrade(interrupter),
        })
    }

    /// Runs `f` (the job) inside its window, on the calling pool thread.
    pub(crate) fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        lock(&self.window).thread = Some(sys::current());
        struct Restore(*const JobInterrupt);
        impl Drop for Restore {
            fn drop(&mut self) {
                CURRENT.with(|c| c.set(self.0));
            }
        }
        let prev = CURRENT.with(|c| c.replace(self));
        let restore = Restore(prev);
        let r = f();
        drop(restore);
        let sent = {
            let mut w = lock(&self.window);
            w.thread = None;
            w.sent
        };
        if sent > 0 {
            // Ground rule 1: the signal is pending or delivered (it was sent under the lock we
            // just took); make it delivered before this thread runs anything else.
            sys::drain();
        }
        r
    }

    /// Sends one signal if the job is in its window and has not acknowledged. `false` when no
    /// more signals are needed (acknowledged, or the window is closed or not open yet: a job
    /// that has not started sees `requested` at its first check).
    fn signal(&self) -> bool {
        if self.acked.load(Ordering::Acquire) {
            return false;
        }
        let mut w = lock(&self.window);
        let Some(thread) = w.thread else { return false };
        // SAFETY: ground rule 1: the window is open and we hold its lock, so the thread is
        // inside `run` and cannot leave it (nor exit) until we release the lock.
        unsafe { sys::send(thread) };
        w.sent += 1;
        true
    }

    /// Asks the job to stop (ground rule 2). `give_up` is called if it has not stopped within
    /// [`INTERRUPT_GRACE`].
    pub(crate) fn request(self: &Arc<Self>, give_up: Box<dyn FnOnce() + Send>) {
        if sys::install().is_err() {
            // No handler, no interrupt: the job sees the request at its next check only.
            self.requested.store(true, Ordering::Release);
            give_up();
            return;
        }
        if !self.request_once() {
            return;
        }
        match self.interrupter.upgrade() {
            Some(i) => i.retry(self.clone(), give_up),
            // The pool is gone: nobody can retry. Its shutdown waited its bound already.
            None => give_up(),
        }
    }

    /// Asks the job to stop and sends one signal, without retries (the caller retries with
    /// [`resend`](Self::resend)). `false` when no signal is needed (see `signal`).
    pub(crate) fn request_once(&self) -> bool {
        // Without the handler the signal would be ignored (its default action): sending it
        // does no harm, and the waiter's bound still holds.
        let _ = sys::install();
        // Release: pairs with the Acquire in `check`.
        self.requested.store(true, Ordering::Release);
        self.signal()
    }

    /// Sends the signal again if the job still runs unacknowledged (ground rule 2).
    pub(crate) fn resend(&self) {
        self.signal();
    }

    /// Whether the job is still to be waited for at shutdown: it runs and has not acknowledged.
    pub(crate) fn is_stuck(&self) -> bool {
        !self.acked.load(Ordering::Acquire) && lock(&self.window).thread.is_some()
    }
}

impl crate::task::blocking::Interrupt for JobInterrupt {
    fn interrupt(self: Arc<Self>, give_up: Box<dyn FnOnce() + Send>) {
        self.request(give_up)
    }
}

/// A job being signaled until it acknowledges.
struct Retry {
    job: Arc<JobInterrupt>,
    give_up: Option<Box<dyn FnOnce() + Send>>,
    deadline: Instant,
    next: Instant,
    delay: Duration,
}

#[derive(Default)]
struct Retries {
    list: Vec<Retry>,
    /// Whether the retry thread runs.
    running: bool,
    shutdown: bool,
    thread: Option<thread::JoinHandle<()>>,
}

/// Retries signals for interrupted jobs (ground rule 2) on a thread of its own, started when a
/// job is interrupted and gone once every interrupted job has acknowledged or been given up.
pub(crate) struct Interrupter {
    state: Mutex<Retries>,
    cond: Condvar,
    thread_name: String,
}

impl Interrupter {
    pub(crate) fn new(thread_name: String) -> Arc<Interrupter> {
        Arc::new(Interrupter {
            state: Mutex::new(Retries::default()),
            cond: Condvar::new(),
            thread_name,
        })
    }

    fn retry(self: &Arc<Self>, job: Arc<JobInterrupt>, give_up: Box<dyn FnOnce() + Send>) {
        let now = Instant::now();
        let mut st = lock(&self.state);
        if st.shutdown {
            drop(st);
            give_up();
            return;
        }
        st.list.push(Retry {
            job,
            give_up: Some(give_up),
            deadline: now + INTERRUPT_GRACE,
            next: now + RETRY_FIRST,
            delay: RETRY_FIRST,
        });
        if !st.running {
            st.running = true;
            let me = self.clone();
            let name = format!("{}-interrupt", self.thread_name);
            match thread::Builder::new().name(name).spawn(move || me.run()) {
                // The previous thread (if any) has left its loop: join it so it is not leaked.
                Ok(h) => {
                    if let Some(old) = st.thread.replace(h) {
                        drop(st);
                        let _ = old.join();
                        return;
                    }
                }
                Err(_) => {
                    // No thread: give every job up now rather than wait without retries.
                    st.running = false;
                    let gone: Vec<_> =
                        st.list.drain(..).filter_map(|mut r| r.give_up.take()).collect();
                    drop(st);
                    gone.into_iter().for_each(|g| g());
                    return;
                }
            }
        }
        drop(st);
        self.cond.notify_one();
    }

    fn run(self: Arc<Self>) {
        let mut st = lock(&self.state);
        loop {
            let now = Instant::now();
            let mut gone = Vec::new();
            st.list.retain_mut(|r| {
                if !r.job.is_stuck() {
                    return false;
                }
                if now >= r.deadline {
                    gone.extend(r.give_up.take());
                    return false;
                }
                if now >= r.next {
                    r.job.signal();
                    r.delay = (r.delay * 2).min(RETRY_MAX);
                    r.next = now + r.delay;
                }
                true
            });
            if !gone.is_empty() {
                drop(st);
                gone.into_iter().for_each(|g| g());
                st = lock(&self.state);
                continue;
            }
            if st.list.is_empty() || st.shutdown {
                st.running = false;
                return;
            }
            let wake = st.list.iter().map(|r| r.next.min(r.deadline)).min().expect("non-empty");
            let wait = wake.saturating_duration_since(now);
            st = self.cond.wait_timeout(st, wait).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Stops the retry thread and joins it; later requests give up at once. Jobs still on the
    /// list are given up.
    pub(crate) fn shutdown(&self) {
        let (thread, list) = {
            let mut st = lock(&self.state);
            st.shutdown = true;
            (st.thread.take(), std::mem::take(&mut st.list))
        };
        self.cond.notify_all();
        if let Some(t) = thread {
            let _ = t.join();
        }
        for mut r in list {
            if let Some(g) = r.give_up.take() {
                g();
            }
        }
    }
}
