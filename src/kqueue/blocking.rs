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
//!    are joined, so nothing of the runtime outlives `deinit`.
//! 5. A panicking job is caught by the typed side; the pool thread survives.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

/// The default bound on pool threads: enough for many concurrent file operations and lookups
/// (each holds a thread for the length of one syscall or one chunk), small enough that a burst
/// cannot start hundreds of threads on a small machine. tokio's default is 512; Zig's threaded
/// `Io` uses one thread per CPU plus what `concurrent` needs. 64 keeps a 2-core machine
/// responsive while still overlapping I/O latency.
pub(crate) const DEFAULT_MAX_THREADS: usize = 64;

/// How long an idle pool thread waits for work before it exits.
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// A unit of blocking work.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

struct State {
    queue: VecDeque<Job>,
    /// Threads alive (busy or idle).
    threads: usize,
    /// Threads waiting for work.
    idle: usize,
    /// Wake-ups handed to idle threads and not yet taken (so two jobs submitted back to back
    /// wake two threads, not one twice).
    notified: usize,
    shutdown: bool,
    /// Handles of the live threads, by id, so that `shutdown` can join them; a retiring thread
    /// removes (detaches) its own.
    handles: Vec<(thread::ThreadId, thread::JoinHandle<()>)>,
    next_name: usize,
}

pub(crate) struct BlockingPool {
    state: Mutex<State>,
    work: Condvar,
    max_threads: usize,
    keep_alive: Duration,
    thread_name: String,
}

impl BlockingPool {
    pub(crate) fn new(max_threads: usize, keep_alive: Duration, thread_name: String) -> Self {
        BlockingPool {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                threads: 0,
                idle: 0,
                notified: 0,
                shutdown: false,
                handles: Vec::new(),
                next_name: 0,
            }),
            work: Condvar::new(),
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
        let mut st = self.lock();
        loop {
            if let Some(job) = st.queue.pop_front() {
                drop(st);
                job();
                st = self.lock();
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
                let me = thread::current().id();
                st.handles.retain(|(id, _)| *id != me);
                break;
            }
        }
        st.threads -= 1;
    }

    /// Threads alive now.
    pub(crate) fn threads(&self) -> usize {
        self.lock().threads
    }

    /// Ground rule 4.
    pub(crate) fn shutdown(&self) {
        let (queued, handles) = {
            let mut st = self.lock();
            st.shutdown = true;
            (std::mem::take(&mut st.queue), std::mem::take(&mut st.handles))
        };
        self.work.notify_all();
        // Dropping a queued job tells its waiter it will not run.
        drop(queued);
        let me = thread::current().id();
        for (id, h) in handles {
            // A job that shuts its own runtime down cannot join its own thread; it exits after
            // the job as `shutdown` is set.
            if id != me {
                let _ = h.join();
            }
        }
    }
}
