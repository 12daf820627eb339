//! Observability: what a runtime reports about itself. Snapshots of its counters
//! ([`RuntimeMetrics`], from [`io.metrics()`](crate::Io::metrics)), of its tasks ([`TaskDump`],
//! from [`io.task_dump()`](crate::Io::task_dump)), and reports of polls that held a worker too
//! long ([`StallReport`], see [`InitOptions::stall_threshold`](crate::InitOptions)).
//!
//! With the cargo feature `tracing`, every task also has a `tracing` span, `task` at DEBUG level,
//! with the fields `task.id`, `task.name` (when named through
//! [`TaskBuilder::name`](crate::TaskBuilder::name)) and `spawned_at`, entered around each of
//! its polls; the events `spawn` and `cancel` (DEBUG) and `poll` and `wake` (TRACE) are emitted
//! in it. Without the feature none of this is compiled.
//!
//! Ground rules:
//! 1. Everything here is a snapshot, read on demand; nothing is computed unless asked for. The
//!    counters behind it cost the runtime one uncontended store where they are counted (a
//!    worker's counters are written by that worker only, on a cache line of their own).
//! 2. A backend that does not provide a report returns the type's `Default`, whose `provided`
//!    field is `false`: callers can tell "nothing to report" from "not reported".
//! 3. The types are `#[non_exhaustive]`: fields may be added, never removed or changed in
//!    meaning. A backend outside kqio builds them from `Default` and sets the fields it has.

use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use crate::task::{TaskId, TaskState, WaitingOn};

/// The `tracing` side (feature `tracing`).
#[cfg(feature = "tracing")]
pub(crate) mod tracing_support {
    use std::panic::Location;

    use crate::task::TaskId;

    /// A task's span: `task`, at DEBUG, with the fields `task.id`, `task.name` (when named) and
    /// `spawned_at` (`file:line:column`). Span names are static in `tracing`, so the task's name
    /// is a field, as tokio names its task spans.
    pub(crate) fn task_span(
        id: TaskId,
        name: Option<&str>,
        spawned_at: &'static Location<'static>,
    ) -> tracing::Span {
        match name {
            Some(name) => tracing::debug_span!(
                "task",
                task.id = id.as_u64(),
                task.name = name,
                spawned_at = %spawned_at
            ),
            None => tracing::debug_span!("task", task.id = id.as_u64(), spawned_at = %spawned_at),
        }
    }
}

/// A snapshot of a runtime's counters: [`io.metrics()`](crate::Io::metrics).
///
/// Counts (`polls`, `steals`, `reactor_events`, ...) grow from the runtime's start; depths and
/// thread counts are the values at the time of the call. Taken field by field without a global
/// lock, so fields may be a moment apart.
///
/// # Examples
///
/// ```
/// let rt = kqio::Kqueue::init(kqio::InitOptions { n_threads: Some(2), ..Default::default() })?;
/// let io = rt.io();
/// rt.block_on(async { io.r#async(async {}).await });
/// let m = io.metrics();
/// assert!(m.provided);
/// assert_eq!(m.workers.len(), 2);
/// assert!(m.workers.iter().map(|w| w.polls).sum::<u64>() >= 1);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuntimeMetrics {
    /// Whether the backend reports metrics (`false`: every other field is zero, ground rule 2).
    pub provided: bool,
    /// One entry per worker thread, by index.
    pub workers: Vec<WorkerMetrics>,
    /// Tasks spawned from outside the workers and not yet taken (the injector).
    pub injector_depth: usize,
    /// Tasks woken from outside the workers, or moved out of a full local queue, not yet taken.
    pub resumed_depth: usize,
    /// Tasks woken by timers and not yet taken.
    pub timed_depth: usize,
    /// Threads of the blocking pool alive (busy or idle).
    pub blocking_threads: usize,
    /// Threads of the blocking pool waiting for work.
    pub blocking_idle_threads: usize,
    /// Jobs queued for the blocking pool, not yet started.
    pub blocking_queued: usize,
    /// Jobs the blocking pool has run to their end.
    pub blocking_completed: u64,
    /// Readiness events the reactor has delivered (socket, pipe, process and signal events; not
    /// its internal wake-ups).
    pub reactor_events: u64,
    /// Timers armed now (pending sleeps and timeouts).
    pub timers_pending: usize,
    /// Timers that have fired.
    pub timers_fired: u64,
    /// Spawned tasks whose future has not yet been dropped, counted from their spawn (before
    /// their first poll).
    pub live_tasks: usize,
}

/// The counters of one worker thread, part of [`RuntimeMetrics`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerMetrics {
    /// Task polls run.
    pub polls: u64,
    /// Successful steals from other workers' queues (each takes about half of the victim's).
    pub steals: u64,
    /// Times the worker parked (blocked with no work).
    pub parks: u64,
    /// Time not parked since the worker started: running tasks, looking for work and driving
    /// the reactor. Measured at parks only, so it costs nothing per poll.
    pub busy: Duration,
    /// Tasks in the worker's local queue now.
    pub local_queue_depth: usize,
}

impl RuntimeMetrics {
    /// Task polls run by all workers.
    pub fn total_polls(&self) -> u64 {
        self.workers.iter().map(|w| w.polls).sum()
    }

    /// Parks of all workers.
    pub fn total_parks(&self) -> u64 {
        self.workers.iter().map(|w| w.parks).sum()
    }

    /// Steals of all workers.
    pub fn total_steals(&self) -> u64 {
        self.workers.iter().map(|w| w.steals).sum()
    }
}

/// One task of a [`TaskDump`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskInfo {
    /// The task's id.
    pub id: TaskId,
    /// Its name ([`TaskBuilder::name`](crate::TaskBuilder::name)), if it has one.
    pub name: Option<String>,
    /// Where it was spawned.
    pub spawned_at: &'static Location<'static>,
    /// What it is doing.
    pub state: TaskState,
    /// What it waits on, if it is waiting at a cancellation point kqio knows of.
    pub waiting_on: Option<WaitingOn>,
}

impl fmt::Display for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task {}", self.id)?;
        if let Some(name) = &self.name {
            write!(f, " {name:?}")?;
        }
        write!(f, " spawned at {}: {}", self.spawned_at, self.state)?;
        if let Some(on) = &self.waiting_on {
            write!(f, ", waiting on {on}")?;
        }
        Ok(())
    }
}

/// Every live task of a runtime: [`io.task_dump()`](crate::Io::task_dump). `Display` prints one
/// line per task, in id (spawn) order.
///
/// Lists every task from its spawn, a task not yet polled once included (its state
/// [`Scheduled`](TaskState::Scheduled)), until its future is dropped.
///
/// # Examples
///
/// ```
/// use kqio::time::{Duration, Timeout};
///
/// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
/// let io = rt.io();
/// let sleeper = io.clone();
/// let h = io.task().name("sleeper").r#async(async move {
///     sleeper.sleep(Timeout::after(Duration::from_secs(60))).await
/// });
/// // Wait until it sleeps.
/// while !io.task_dump().tasks.iter().any(|t| t.waiting_on.is_some()) {
///     std::thread::yield_now();
/// }
/// let dump = io.task_dump();
/// assert!(dump.to_string().contains("\"sleeper\""));
/// rt.block_on(h.cancel()).unwrap_err();
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskDump {
    /// Whether the backend provides task dumps (ground rule 2).
    pub provided: bool,
    /// The tasks, by id.
    pub tasks: Vec<TaskInfo>,
}

impl TaskDump {
    /// A dump of `tasks` (sorted here by id), for backends to return.
    pub fn new(mut tasks: Vec<TaskInfo>) -> TaskDump {
        tasks.sort_by_key(|t| t.id);
        TaskDump { provided: true, tasks }
    }
}

impl TaskInfo {
    /// The record of the task whose header is `header`, for backends that walk their tasks.
    pub fn of(header: &crate::TaskHeader) -> TaskInfo {
        TaskInfo {
            id: header.id(),
            name: header.name().map(str::to_owned),
            spawned_at: header.spawned_at(),
            state: header.state(),
            waiting_on: header.waiting_on(),
        }
    }
}

impl fmt::Display for TaskDump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.provided {
            return f.write_str("(this backend provides no task dump)\n");
        }
        writeln!(f, "{} live task(s)", self.tasks.len())?;
        for t in &self.tasks {
            writeln!(f, "  {t}")?;
        }
        Ok(())
    }
}

/// A poll that held a worker longer than
/// [`InitOptions::stall_threshold`](crate::InitOptions): given to
/// [`InitOptions::on_stall`](crate::InitOptions), once per such poll, while it still runs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StallReport {
    /// The worker the poll holds.
    pub worker: usize,
    /// The task being polled.
    pub task: TaskId,
    /// Its name, if it has one.
    pub name: Option<String>,
    /// Where it was spawned.
    pub spawned_at: &'static Location<'static>,
    /// How long the poll had run when it was reported (at least the threshold).
    pub running_for: Duration,
}

impl fmt::Display for StallReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kqio: task {}", self.task)?;
        if let Some(name) = &self.name {
            write!(f, " {name:?}")?;
        }
        write!(
            f,
            " (spawned at {}) has held worker {} for {:?} in one poll; blocking code belongs in \
             spawn_blocking",
            self.spawned_at, self.worker, self.running_for
        )
    }
}

impl StallReport {
    pub(crate) fn new(
        header: &crate::TaskHeader,
        worker: usize,
        running_for: Duration,
    ) -> StallReport {
        StallReport {
            worker,
            task: header.id(),
            name: header.name().map(str::to_owned),
            spawned_at: header.spawned_at(),
            running_for,
        }
    }
}

/// What receives [`StallReport`]s: [`InitOptions::on_stall`](crate::InitOptions). Called on the
/// detector's own thread, once per stalled poll; it should return promptly (a slow hook delays
/// the next reports, never the workers).
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use kqio::observe::StallHook;
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// let opts = kqio::InitOptions {
///     stall_threshold: Some(std::time::Duration::from_millis(100)),
///     on_stall: Some(StallHook::new(move |r| log.lock().unwrap().push(r.to_string()))),
///     ..Default::default()
/// };
/// let rt = kqio::Kqueue::init(opts)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct StallHook(pub Arc<dyn Fn(&StallReport) + Send + Sync>);

impl StallHook {
    /// A hook calling `f`.
    pub fn new(f: impl Fn(&StallReport) + Send + Sync + 'static) -> StallHook {
        StallHook(Arc::new(f))
    }

    /// The default: one line to stderr.
    pub fn stderr() -> StallHook {
        StallHook::new(|r| eprintln!("{r}"))
    }
}

impl fmt::Debug for StallHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StallHook")
    }
}
