//! The blocking pool: threads for what the OS only offers as blocking calls (regular files,
//! directories, name lookup), so that no worker thread ever blocks on them.
//!
//! Ground rules:
//! 1. Bounded: at most `max_threads` threads (`InitOptions::max_blocking_threads`, default
//!    [`DEFAULT_MAX_THREADS`]). A thread is started when a job arrives and no thread is idle;
//!    beyond the bound, jobs wait in a FIFO queue.
//! 2. Threads retire after [`KEEP_ALIVE`] without work, so an idle runtime holds no pool threads.
//! 3. A job is a boxed closure. What it returns, and whether it may still start, is the business
//!    of the typed side (`task/blocking.rs`): a job whose waiter gave up before it started
//!    returns at once without doing anything, and a job that is dropped unrun (at shutdown) tells
//!    its waiter so through its own destructor.
//! 4. `shutdown` (from `Kqueue::deinit`): no new job is accepted (it is dropped, so its waiter
//!    sees `Canceled`), queued jobs are dropped, and running jobs are waited for: their threads
//!    are joined, so nothing of the runtime outlives `deinit`. Except: a running *interruptible*
//!    job (the backend's own file work, `submit_interruptible`) is interrupted
//!    (`interrupt.rs`), and its thread is waited for at most [`INTERRUPT_GRACE`] after that;
//!    a thread still blocked then (a call the signal does not interrupt) is detached. A job of
//!    `spawn_blocking` (the user's code, which kqio cannot stop) is waited for to its end.
//! 5. A panicking job is caught by the typed side; the pool thread survives.
//! 6. Pool threads unblock the interrupt signal when they start (`sys/interrupt.rs`).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use super::interrupt::{Interrupter, JobInterrupt, INTERRUPT_GRACE};
use crate::sys::interrupt as sys_interrupt;

/// The default bound on pool threads: enough for many concurrent file operations and lookups
/// (each holds a thread for the length of one syscall or one chunk), small enough that a burst
/// cannot start hundreds of threads on a small machine. tokio's default is 512; Zig's threaded
/// `Io` uses one thread per CPU plus what `concurrent` needs. 64 keeps a 2-core machine
/// responsive while still overlapping I/O latency.
pub(crate) const DEFAULT_MAX_THREADS: usize = 64;

/// How long an idle pool thread waits for work before it exits.
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// How often `shutdown` sends the interrupt again to jobs that have not stopped (the first
/// signal can be lost, `interrupt.rs` ground rule 2). A lost signal is rare, so this only bounds
/// how late such a job stops.
const SHUTDOWN_RESEND: Duration = Duration::from_millis(2);

/// A unit of blocking work.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// A queued job and, for an interruptible one, its interrupt state.
struct Queued {
    job: Job,
    interrupt: Option<Arc<JobInterrupt>>,
}

struct State {
    queue: VecDeque<Queued>,
    /// The job each busy thread runs: its interrupt state, `None` for one that cannot be
    /// interrupted (ground rule 4).
    running: Vec<(thread::ThreadId, Option<Arc<JobInterrupt>>)>,
    /// Threads alive (busy or idle).
    threads: usize,
    /// Threads waiting for work.
    idle: usize,
    /// Wake-ups handed to idle threads and not yet taken (so two jobs submitted back to back
    /// wake two threads, not one twice).
    notified: usize,
    shutdown: bool,
    /// Jobs run to their end (for metrics).
    completed: u64,
    /// Handles of the live threads, by id, so that `shutdown` can join them; a retiring thread
    /// removes (detaches) its own.
    handles: Vec<(thread::ThreadId, thread::JoinHandle<()>)>,
    next_name: usize,
}

pub(crate) struct BlockingPool {
    state: Mutex<State>,
    work: Condvar,
    /// Notified when a thread exits (for `shutdown`'s bounded wait).
    exited: Condvar,
    interrupter: Arc<Interrupter>,
    max_threads: usize,
    keep_alive: Duration,
    thread_name: String,
}

impl BlockingPool {
    pub(crate) fn new(max_threads: usize, keep_alive: Duration, thread_name: String) -> Self {
        BlockingPool {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                running: Vec::new(),
                threads: 0,
                idle: 0,
                notified: 0,
                shutdown: false,
                completed: 0,
                handles: Vec::new(),
                next_name: 0,
            }),
            work: Condvar::new(),
            exited: Condvar::new(),
            interrupter: Interrupter::new(thread_name.clone()),
            max_threads: max_threads.max(1),
            keep_alive,
            thread_name,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `job`; after shutdown it is dropped unrun (ground rule 4).
    pub(crate) fn submit(self: &Arc<Self>, job: Job) {
        self.push(Queued { job, interrupt: None })
    }

    /// The interrupt state for a new interruptible job, to build the job with (its waiter
    /// uses it to stop the job) and to pass to [`submit_interruptible`](Self::submit_interruptible).
    pub(crate) fn new_interrupt(&self) -> Arc<JobInterrupt> {
        JobInterrupt::new(&self.interrupter)
    }

    /// Queues `job`, which runs inside `interrupt`'s window and can be stopped through it.
    pub(crate) fn submit_interruptible(self: &Arc<Self>, job: Job, interrupt: Arc<JobInterrupt>) {
        let i = interrupt.clone();
        let job: Job = Box::new(move || i.run(job));
        self.push(Queued { job, interrupt: Some(interrupt) })
    }

    fn push(self: &Arc<Self>, job: Queued) {
        let mut st = self.lock();
        if st.shutdown {
            drop(st);
            drop(job);
            return;
        }
        st.queue.push_back(job);
        if st.idle > st.notified {
            st.notified += 1;
            drop(st);
            self.work.notify_one();
            return;
        }
        if st.threads < self.max_threads {
            st.threads += 1;
            let name = format!("{}-blocking-{}", self.thread_name, st.next_name);
            st.next_name += 1;
            let pool = self.clone();
            match thread::Builder::new().name(name).spawn(move || pool.run()) {
                Ok(h) => st.handles.push((h.thread().id(), h)),
                // No thread could be made: the job stays queued for a thread that exists (if
                // none does, the next submit tries again).
                Err(_) => st.threads -= 1,
            }
        }
    }

    fn run(self: Arc<Self>) {
        sys_interrupt::prepare_thread();
        let me = thread::current().id();
        let mut st = self.lock();
        loop {
            if let Some(Queued { job, interrupt }) = st.queue.pop_front() {
                st.running.push((me, interrupt));
                drop(st);
                job();
                st = self.lock();
                st.running.retain(|(id, _)| *id != me);
                st.completed += 1;
                continue;
            }
            if st.shutdown {
                break;
            }
            st.idle += 1;
            let (guard, timeout) =
                self.work.wait_timeout(st, self.keep_alive).unwrap_or_else(|e| e.into_inner());
            st = guard;
            st.idle -= 1;
            if st.notified > 0 {
                st.notified -= 1;
            } else if timeout.timed_out() && st.queue.is_empty() {
                // Retire (ground rule 2): detach our own handle.
                st.handles.retain(|(id, _)| *id != me);
                break;
            }
        }
        st.threads -= 1;
        drop(st);
        self.exited.notify_all();
    }

    /// Threads alive now.
    pub(crate) fn threads(&self) -> usize {
        self.lock().threads
    }

    /// For metrics: threads alive, threads idle, jobs queued, jobs completed.
    pub(crate) fn stats(&self) -> (usize, usize, usize, u64) {
        let st = self.lock();
        (st.threads, st.idle, st.queue.len(), st.completed)
    }

    /// Ground rule 4.
    pub(crate) fn shutdown(&self) {
        let me = thread::current().id();
        let (queued, interrupts) = {
            let mut st = self.lock();
            st.shutdown = true;
            let interrupts: Vec<_> =
                st.running.iter().filter_map(|(_, i)| i.clone()).collect::<Vec<_>>();
            (std::mem::take(&mut st.queue), interrupts)
        };
        self.work.notify_all();
        // Dropping a queued job tells its waiter it will not run.
        drop(queued);
        // Stop the interruptible jobs; their waiters (if any are left) are given up on below.
        for i in &interrupts {
            i.request_once();
        }
        let deadline = Instant::now() + INTERRUPT_GRACE;
        let mut st = self.lock();
        loop {
            // A job that shuts its own runtime down cannot wait for its own thread; it exits
            // after the job as `shutdown` is set.
            let others = st.running.iter().filter(|(id, _)| *id != me);
            let waited = st.threads - usize::from(st.running.iter().any(|(id, _)| *id == me));
            if waited == 0 {
                break;
            }
            // Only interruptible jobs are left (idle threads exit at once and uninterruptible
            // jobs are waited for): after the grace, detach them, acknowledged or not (one that
            // acknowledged may still be blocked, in a `close` on a hung mount say).
            let stuck: Vec<_> = others.filter_map(|(_, i)| i.clone()).collect();
            let only_stuck = stuck.len() == waited;
            let now = Instant::now();
            if only_stuck && now >= deadline {
                break;
            }
            if now >= deadline {
                // Past the grace only threads of uninterruptible jobs are waited for: every
                // change worth a look comes with a thread's exit, which notifies.
                st = self.exited.wait(st).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            // The signal may have been lost (`interrupt.rs` ground rule 2): send it again at
            // each wake-up; a waited thread's exit wakes us too.
            for i in &stuck {
                i.resend();
            }
            let wait = (deadline - now).min(SHUTDOWN_RESEND);
            st = self.exited.wait_timeout(st, wait).unwrap_or_else(|e| e.into_inner()).0;
        }
        let detached: Vec<_> = st.running.iter().map(|(id, _)| *id).collect();
        let handles = std::mem::take(&mut st.handles);
        drop(st);
        self.interrupter.shutdown();
        for (id, h) in handles {
            // Detached (dropped without a join): a thread still blocked after the grace, or the
            // one running this shutdown.
            if id != me && !detached.contains(&id) {
                let _ = h.join();
            }
        }
    }
}

#[cfg(all(test, not(kqio_loom)))]
mod tests {
    use super::*;
    use crate::error::Canceled;
    use crate::kqueue::{InitOptions, Kqueue};
    use std::sync::mpsc;

    /// A job the signal does not stop (it waits on a channel, whose wait retries `EINTR`, as a
    /// hung mount's uninterruptible wait would not even see it): its canceled waiter is released
    /// after the grace, and `deinit` detaches its thread after the grace instead of hanging.
    #[test]
    fn a_job_the_signal_does_not_stop_is_given_up_after_the_grace() {
        let rt = Kqueue::init(InitOptions {
            n_threads: Some(1),
            max_blocking_threads: 1,
            thread_name: "kqgrace".to_owned(),
            ..Default::default()
        })
        .unwrap();
        let io = rt.io();
        let pool = rt.io.blocking.clone();
        let (started_tx, started) = mpsc::channel();
        let (release_tx, release) = mpsc::channel::<()>();
        let (finished_tx, finished) = mpsc::channel();
        let interrupt = pool.new_interrupt();
        let (job, waiter) = crate::task::blocking::job_interruptible(
            move || {
                started_tx.send(()).unwrap();
                let _ = release.recv();
                finished_tx.send(()).unwrap();
                Ok(())
            },
            interrupt.clone(),
        );
        pool.submit_interruptible(job, interrupt);
        started.recv().unwrap();
        let task = io.r#async(waiter);
        let t = Instant::now();
        let r = rt.block_on(task.cancel());
        let took = t.elapsed();
        assert!(matches!(r, Err(Canceled)), "{r:?}");
        assert!(took >= INTERRUPT_GRACE / 2, "released before the grace: {took:?}");
        assert!(took < INTERRUPT_GRACE * 10, "released late: {took:?}");
        let t = Instant::now();
        rt.deinit();
        let took = t.elapsed();
        assert!(took >= INTERRUPT_GRACE / 2, "deinit did not wait for the job: {took:?}");
        assert!(took < INTERRUPT_GRACE * 10, "deinit took {took:?}");
        // The detached thread is still there; let it go.
        assert!(finished.try_recv().is_err(), "the job cannot have finished");
        release_tx.send(()).unwrap();
        finished.recv().unwrap();
    }
}
