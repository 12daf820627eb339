//! The task-lifecycle matrix (issue 9, item 4): every combination of
//!
//! - **workers**: 1 worker, 2 workers, "block_on only";
//! - **behaviour** of the task's future: returns, panics on poll, panics on drop;
//! - **action** on its handle: awaited, canceled, dropped, detached;
//! - **when** the action happens: before the first poll, while pending, after completion;
//! - **spawner**: `r#async`, `concurrent`, `Group::r#async`, `Group::concurrent`,
//!   `Select::r#async`, `Select::concurrent`;
//! - **life** of the runtime: alive, or `deinit` between the "when" point and the action;
//!
//! each case asserting its outcome, that the future and its output are each dropped exactly
//! once (or, for an output, never made), that nothing leaks (an `Arc` cloned into the future and
//! the output is back to one strong count; the runtime holds no live task), and that nothing
//! hangs (a watchdog aborts the process with the case's name after [`CASE_LIMIT`]).
//!
//! ## Mappings
//!
//! - "block_on only": `InitOptions::n_threads` counts the workers *besides* the thread calling
//!   `block_on`, and `Some(0)` is `InvalidInput`, so there is no zero-worker runtime. The
//!   configuration where tasks run only on the `block_on` thread is `max_tasks: Some(0)`: no
//!   unit of concurrency is ever available, so `r#async` (and `Group`/`Select::r#async`) runs
//!   the future inline, on the `block_on` thread, before it returns, and `concurrent` fails with
//!   `ConcurrencyUnavailable`, dropping the future unpolled. There, "before the first poll" does
//!   not exist for the inline spawners (`r#async` returns a finished handle) and is skipped;
//!   "while pending" parks the `block_on` thread until a helper thread opens the gate; and for
//!   the `concurrent` spawners only the behaviour matters (action, "when" and life never
//!   meet a task), so each behaviour is run once there instead of 24 identical times.
//! - Group and Select members have no handle: "awaited" is `wait()`, "canceled" is `cancel()`,
//!   "dropped" is dropping the group (or select), which drops its members' tasks, and
//!   "detached" is keeping the group without waiting for it until the member has ended on its
//!   own, then dropping it (what detaching a handle does: let it run, ignore its result).
//! - A Select awaited after `deinit` dropped its member cannot use `wait()`: no result will
//!   ever come and `wait` waits for one by definition; it uses `await_many(1, 1)`, which
//!   returns 0 once no member is left.
//! - "when": before the first poll is made deterministic by occupying every worker with a task
//!   that blocks its thread until released (so the new task sits in a run queue); while
//!   pending, by waiting until the future has returned `Pending` on a gate that stays closed;
//!   after completion, by opening the gate first and waiting until the future was dropped and
//!   the result stored. With `deinit` and "before the first poll", `deinit` runs on a helper
//!   thread and the workers are released only once shutdown has begun, so no worker polls
//!   the task. No case sleeps.
//!
//! ## Outcomes asserted (see `expected`)
//!
//! The future checks for cancellation first on every poll (`check_cancel`: it then returns
//! `Err(Canceled)`), else waits for its gate; once the gate is open it returns `Ok(payload)`
//! (returns, panics on drop) or panics (panics on poll). A future that panics on drop does so
//! wherever it is dropped.
//!
//! - Awaited: the value; a panic of the poll re-raised; a panic of the future's destructor
//!   after it completed re-raised too (its output is then dropped: the panic is the outcome).
//!   After `deinit` dropped an unfinished task: `JoinHandle` panics with its "deinit dropped"
//!   message; `Group::wait` returns `Ok` (the member ended); a Select has no result (0).
//! - Canceled before completion: the first poll (or the next one) sees `Canceled`, so the
//!   output is `Err(Canceled)` (a `JoinHandle`'s and a select's leftover), or, for a group,
//!   the swallowed `Canceled`; a destructor panic is re-raised. After completion: as awaited
//!   (a Select's `cancel` hands the result back as its leftover).
//! - Dropped: the future is dropped without being polled if it had not started, after its
//!   pending poll otherwise; its destructor's panic goes nowhere (the runtime survives); a
//!   finished output is dropped with the handle.
//! - Detached: the task runs to its end; its output or panic is dropped.
//! - In every case: one drop of the future, as many drops of the output as were made (0 or 1),
//!   the exact number of polls where it is determined, and no leak.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::task::AtomicWaker;
use futures::FutureExt;
use kqio::{
    Canceled, ConcurrencyUnavailable, Group, InitOptions, IoRef, JoinHandle, Kqueue, Select,
};

/// A case that runs longer than this aborts the process (with its name printed).
const CASE_LIMIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workers {
    One,
    Two,
    BlockOnOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Returns,
    PanicsOnPoll,
    PanicsOnDrop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Awaited,
    Canceled,
    Dropped,
    Detached,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    BeforeFirstPoll,
    WhilePending,
    AfterCompletion,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spawner {
    Async,
    Concurrent,
    GroupAsync,
    GroupConcurrent,
    SelectAsync,
    SelectConcurrent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    Alive,
    Deinit,
}

const WORKERS: [Workers; 3] = [Workers::One, Workers::Two, Workers::BlockOnOnly];
const BEHAVIOURS: [Behaviour; 3] =
    [Behaviour::Returns, Behaviour::PanicsOnPoll, Behaviour::PanicsOnDrop];
const ACTIONS: [Action; 4] = [Action::Awaited, Action::Canceled, Action::Dropped, Action::Detached];
const WHENS: [When; 3] = [When::BeforeFirstPoll, When::WhilePending, When::AfterCompletion];
const SPAWNERS: [Spawner; 6] = [
    Spawner::Async,
    Spawner::Concurrent,
    Spawner::GroupAsync,
    Spawner::GroupConcurrent,
    Spawner::SelectAsync,
    Spawner::SelectConcurrent,
];
const LIVES: [Life; 2] = [Life::Alive, Life::Deinit];

#[derive(Debug, Clone, Copy)]
struct Case {
    workers: Workers,
    behaviour: Behaviour,
    action: Action,
    when: When,
    spawner: Spawner,
    life: Life,
}

impl Spawner {
    fn is_concurrent(self) -> bool {
        matches!(self, Spawner::Concurrent | Spawner::GroupConcurrent | Spawner::SelectConcurrent)
    }
    fn kind(self) -> Kind {
        match self {
            Spawner::Async | Spawner::Concurrent => Kind::Handle,
            Spawner::GroupAsync | Spawner::GroupConcurrent => Kind::Group,
            Spawner::SelectAsync | Spawner::SelectConcurrent => Kind::Select,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Handle,
    Group,
    Select,
}

impl Case {
    /// The cases this file runs: the cartesian product, less the combinations that do not
    /// exist or would repeat another one (see the module docs).
    fn all() -> Vec<Case> {
        let mut v = Vec::new();
        for workers in WORKERS {
            for behaviour in BEHAVIOURS {
                for action in ACTIONS {
                    for when in WHENS {
                        for spawner in SPAWNERS {
                            for life in LIVES {
                                let c = Case { workers, behaviour, action, when, spawner, life };
                                if c.exists() {
                                    v.push(c);
                                }
                            }
                        }
                    }
                }
            }
        }
        v
    }

    fn exists(&self) -> bool {
        if self.workers != Workers::BlockOnOnly {
            return true;
        }
        if self.spawner.is_concurrent() {
            // Only the behaviour matters: run each once (its canonical representative).
            return self.action == Action::Awaited
                && self.when == When::BeforeFirstPoll
                && self.life == Life::Alive;
        }
        // Inline runs finish before `r#async` returns: there is no "before the first poll".
        self.when != When::BeforeFirstPoll
    }

    fn inline(&self) -> bool {
        self.workers == Workers::BlockOnOnly
    }

    fn name(&self) -> String {
        format!(
            "{:?}/{:?}/{:?}/{:?}/{:?}/{:?}",
            self.workers, self.behaviour, self.action, self.when, self.spawner, self.life
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Instrumentation

/// The panic payload of a future that panics on poll.
struct PollPanic;
/// The panic payload of a future that panics on drop.
struct DropPanic;

/// Counts of what happened to one case's future and output; a condition variable lets the
/// test wait for a count without sleeping.
#[derive(Default)]
struct Probe {
    counts: Mutex<Counts>,
    changed: Condvar,
}

#[derive(Default, Debug, Clone, Copy)]
struct Counts {
    polls: usize,
    pending: usize,
    future_drops: usize,
    outputs_made: usize,
    output_drops: usize,
}

impl Probe {
    fn update(&self, f: impl FnOnce(&mut Counts)) {
        f(&mut self.counts.lock().unwrap_or_else(|e| e.into_inner()));
        self.changed.notify_all();
    }

    fn get(&self) -> Counts {
        *self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait_for(&self, what: impl Fn(&Counts) -> bool) {
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        while !what(&c) {
            c = self.changed.wait(c).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Counts a drop when dropped. Declared as the *last* field of what it counts, so that it is
/// dropped after every other field (the leak tracker among them): once the count is seen, the
/// whole value is gone.
struct Mark {
    probe: Arc<Probe>,
    output: bool,
}

impl Drop for Mark {
    fn drop(&mut self) {
        let output = self.output;
        self.probe.update(|c| if output { c.output_drops += 1 } else { c.future_drops += 1 });
    }
}

/// The output of the future: counted when made and when dropped.
struct Payload {
    _tracker: Arc<()>,
    _mark: Mark,
}

type Out = Result<Payload, Canceled>;

/// A gate the future waits on: opened from any thread.
#[derive(Default)]
struct Gate {
    open: AtomicBool,
    waker: AtomicWaker,
}

impl Gate {
    fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
        self.waker.wake();
    }
    fn is_open(&self) -> bool {
        self.open.load(Ordering::SeqCst)
    }
}

/// The instrumented future of every case.
struct CaseFuture {
    io: IoRef,
    behaviour: Behaviour,
    gate: Arc<Gate>,
    probe: Arc<Probe>,
    tracker: Arc<()>,
    /// Last: see `Mark`.
    _mark: Mark,
}

impl Future for CaseFuture {
    type Output = Out;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Out> {
        let this = &*self;
        this.probe.update(|c| c.polls += 1);
        if let Err(c) = this.io.check_cancel() {
            return Poll::Ready(Err(c));
        }
        this.gate.waker.register(cx.waker());
        if !this.gate.is_open() {
            this.probe.update(|c| c.pending += 1);
            return Poll::Pending;
        }
        match this.behaviour {
            Behaviour::PanicsOnPoll => std::panic::panic_any(PollPanic),
            Behaviour::Returns | Behaviour::PanicsOnDrop => {
                this.probe.update(|c| c.outputs_made += 1);
                Poll::Ready(Ok(Payload {
                    _tracker: this.tracker.clone(),
                    _mark: Mark { probe: this.probe.clone(), output: true },
                }))
            }
        }
    }
}

impl Drop for CaseFuture {
    fn drop(&mut self) {
        // The drop is counted by `_mark`, after the fields (also when this panics).
        if self.behaviour == Behaviour::PanicsOnDrop && !std::thread::panicking() {
            std::panic::panic_any(DropPanic);
        }
    }
}

/// A group member: the case's future itself (so that its destructor runs where the group drops
/// its member), its payload dropped on completion.
struct AsMember(CaseFuture);

impl Future for AsMember {
    type Output = Result<(), Canceled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Canceled>> {
        // `CaseFuture` is `Unpin` (it holds only `Arc`s, an `IoRef` and a `Copy` field).
        Pin::new(&mut self.get_mut().0).poll(cx).map(|r| r.map(drop))
    }
}

/// Silences the expected panics of this file (the hook runs before they are caught).
fn quiet_expected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let p = info.payload();
            let expected = p.is::<PollPanic>()
                || p.is::<DropPanic>()
                || panic_text(p).is_some_and(|s| s.contains("Kqueue::deinit dropped"));
            if !expected {
                default(info);
            }
        }));
    });
}

fn panic_text(p: &(dyn Any + Send)) -> Option<&str> {
    p.downcast_ref::<String>().map(String::as_str).or_else(|| p.downcast_ref::<&str>().copied())
}

// ---------------------------------------------------------------------------------------------
// Watchdog

/// Aborts the process if a case runs longer than `CASE_LIMIT`.
struct Watchdog {
    current: Mutex<Option<(String, Instant)>>,
    changed: Condvar,
}

impl Watchdog {
    fn start() -> Arc<Watchdog> {
        let w = Arc::new(Watchdog { current: Mutex::new(None), changed: Condvar::new() });
        let weak = Arc::downgrade(&w);
        std::thread::spawn(move || loop {
            let Some(w) = weak.upgrade() else { return };
            let cur = w.current.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((name, began)) = &*cur {
                if began.elapsed() > CASE_LIMIT {
                    // Straight to the descriptor: the test harness captures `eprintln!`.
                    let msg =
                        format!("lifecycle matrix: case {name} did not finish in {CASE_LIMIT:?}\n");
                    let _ = std::io::Write::write_all(&mut std::io::stderr(), msg.as_bytes());
                    std::process::abort();
                }
            }
            let _ = w.changed.wait_timeout(cur, Duration::from_millis(200));
        });
        w
    }

    fn arm(&self, name: String) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some((name, Instant::now()));
        self.changed.notify_all();
    }

    fn disarm(&self) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

// ---------------------------------------------------------------------------------------------
// Worker blockers ("before the first poll")

/// Tasks that hold every worker thread (blocking it) until released.
struct Blockers {
    state: Arc<(Mutex<(usize, bool)>, Condvar)>,
    handles: Vec<JoinHandle<()>>,
}

impl Blockers {
    fn hold(io: &IoRef, workers: usize) -> Blockers {
        let state = Arc::new((Mutex::new((0usize, false)), Condvar::new()));
        let handles = (0..workers)
            .map(|_| {
                let s = state.clone();
                io.concurrent(async move {
                    let (m, cv) = &*s;
                    let mut g = m.lock().unwrap();
                    g.0 += 1;
                    cv.notify_all();
                    while !g.1 {
                        g = cv.wait(g).unwrap();
                    }
                })
                .expect("a task slot for a blocker")
            })
            .collect();
        let b = Blockers { state, handles };
        let (m, cv) = &*b.state;
        let mut g = m.lock().unwrap();
        while g.0 < workers {
            g = cv.wait(g).unwrap();
        }
        drop(g);
        b
    }

    fn release(&self) {
        let (m, cv) = &*self.state;
        m.lock().unwrap().1 = true;
        cv.notify_all();
    }
}

// ---------------------------------------------------------------------------------------------
// Outcomes

/// What a case observed (or must observe) from its action.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Seen {
    /// `Ok(payload)` (handle, select result).
    Value,
    /// `Err(Canceled)` as the output (handle, select result).
    CanceledOutput,
    /// A group's `wait` or `cancel` returned normally; a select's `cancel` returned `None`, its
    /// `await_many` 0.
    Nothing,
    /// The poll panic re-raised.
    PollPanic,
    /// The drop panic re-raised.
    DropPanic,
    /// `JoinHandle`'s "deinit dropped this task" panic.
    DeinitPanic,
    /// `concurrent` failed with `ConcurrencyUnavailable`.
    Unavailable,
    /// Dropped or detached: nothing to observe but the counters.
    NotObserved,
}

fn classify_panic(p: Box<dyn Any + Send>) -> Seen {
    if p.is::<PollPanic>() {
        Seen::PollPanic
    } else if p.is::<DropPanic>() {
        Seen::DropPanic
    } else if panic_text(&*p).is_some_and(|s| s.contains("Kqueue::deinit dropped")) {
        Seen::DeinitPanic
    } else {
        std::panic::resume_unwind(p)
    }
}

fn seen_out(out: Out) -> Seen {
    match out {
        Ok(p) => {
            drop(p);
            Seen::Value
        }
        Err(Canceled) => Seen::CanceledOutput,
    }
}

/// Whether the future runs to its end with the gate open and no cancellation seen.
fn completes(c: &Case) -> bool {
    if c.inline() {
        return !c.spawner.is_concurrent();
    }
    match (c.when, c.life, c.action) {
        (When::AfterCompletion, _, _) => true,
        (_, Life::Deinit, _) => false,
        (_, Life::Alive, Action::Awaited | Action::Detached) => true,
        (_, Life::Alive, Action::Canceled | Action::Dropped) => false,
    }
}

/// Whether the future returns `Err(Canceled)` (its first poll after the request).
fn sees_cancel(c: &Case) -> bool {
    !c.inline()
        && c.life == Life::Alive
        && c.when != When::AfterCompletion
        && c.action == Action::Canceled
}

/// The expected observation of `c` (the module docs' table).
fn expected(c: &Case) -> Seen {
    let b = c.behaviour;
    if c.inline() && c.spawner.is_concurrent() {
        return match b {
            // The future is dropped inside `concurrent`: its destructor's panic comes out there.
            Behaviour::PanicsOnDrop => Seen::DropPanic,
            _ => Seen::Unavailable,
        };
    }
    if matches!(c.action, Action::Dropped | Action::Detached) {
        return Seen::NotObserved;
    }
    let done = completes(c);
    let canceled = sees_cancel(c);
    let kind = c.spawner.kind();
    if !done && !canceled {
        // `deinit` dropped the future before it ended.
        return match kind {
            Kind::Handle => Seen::DeinitPanic,
            Kind::Group | Kind::Select => Seen::Nothing,
        };
    }
    // The future ended: by returning its value, by panicking, or with `Canceled`.
    let panic = match (b, canceled) {
        (Behaviour::PanicsOnDrop, _) => Some(Seen::DropPanic),
        (Behaviour::PanicsOnPoll, false) => Some(Seen::PollPanic),
        _ => None,
    };
    if let Some(p) = panic {
        return p;
    }
    match kind {
        Kind::Handle | Kind::Select if canceled => Seen::CanceledOutput,
        Kind::Handle | Kind::Select => Seen::Value,
        Kind::Group => Seen::Nothing,
    }
}

/// The number of polls of the future, where it is determined.
fn expected_polls(c: &Case) -> std::ops::RangeInclusive<usize> {
    if c.inline() {
        return match (c.spawner.is_concurrent(), c.when) {
            (true, _) => 0..=0,
            (false, When::AfterCompletion) => 1..=1,
            // The parked thread may be woken spuriously (its waker is shared with the outer
            // `block_on`), so the pending future may be polled more than once.
            (false, _) => 2..=usize::MAX,
        };
    }
    match (c.when, c.life, c.action) {
        (When::AfterCompletion, _, _) => 1..=1,
        (When::BeforeFirstPoll, Life::Deinit, _) | (When::BeforeFirstPoll, _, Action::Dropped) => {
            0..=0
        }
        (When::BeforeFirstPoll, Life::Alive, _) => 1..=1,
        (When::WhilePending, Life::Deinit, _) | (When::WhilePending, _, Action::Dropped) => 1..=1,
        (When::WhilePending, Life::Alive, _) => 2..=2,
    }
}

// ---------------------------------------------------------------------------------------------
// Running a case

enum Spawned {
    Handle(JoinHandle<Out>),
    Group(Group),
    Select(Select<Out>),
}

fn runtime(workers: Workers) -> Kqueue {
    let (n, max_tasks) = match workers {
        Workers::One => (1, None),
        Workers::Two => (2, None),
        Workers::BlockOnOnly => (1, Some(0)),
    };
    Kqueue::init(InitOptions { n_threads: Some(n), max_tasks, ..Default::default() }).expect("init")
}

fn worker_count(w: Workers) -> usize {
    match w {
        Workers::One => 1,
        Workers::Two => 2,
        Workers::BlockOnOnly => 0,
    }
}

/// Spawns `fut` with `spawner`; `Err` if no unit of concurrency was available.
fn spawn(io: &IoRef, spawner: Spawner, fut: CaseFuture) -> Result<Spawned, ConcurrencyUnavailable> {
    Ok(match spawner {
        Spawner::Async => Spawned::Handle(io.r#async(fut)),
        Spawner::Concurrent => Spawned::Handle(io.concurrent(fut)?),
        Spawner::GroupAsync => {
            let g = Group::new();
            g.r#async(&**io, AsMember(fut));
            Spawned::Group(g)
        }
        Spawner::GroupConcurrent => {
            let g = Group::new();
            g.concurrent(&**io, AsMember(fut))?;
            Spawned::Group(g)
        }
        Spawner::SelectAsync => {
            let s = Select::new();
            s.r#async(&**io, fut);
            Spawned::Select(s)
        }
        Spawner::SelectConcurrent => {
            let s = Select::new();
            s.concurrent(&**io, fut)?;
            Spawned::Select(s)
        }
    })
}

fn is_finished(s: &Spawned) -> bool {
    match s {
        Spawned::Handle(h) => h.is_finished(),
        Spawned::Group(g) => g.live() == 0,
        Spawned::Select(s) => s.live() == 0,
    }
}

fn spin_until(what: impl Fn() -> bool) {
    while !what() {
        std::thread::yield_now();
    }
}

/// Performs `action` on `spawned`, calling `go` after the action has begun (after its first
/// poll), to let the task make progress only then. Returns what it saw, and a group or select
/// kept by "detached" (the caller drops it once its member has ended). `gone`: the member of a
/// select was dropped by `deinit` (see the module docs).
async fn act(
    spawned: Spawned,
    action: Action,
    gone: bool,
    go: impl FnOnce(),
) -> (Seen, Option<Spawned>) {
    match action {
        Action::Dropped => {
            drop(spawned);
            go();
            return (Seen::NotObserved, None);
        }
        Action::Detached => {
            return match spawned {
                Spawned::Handle(h) => {
                    h.detach();
                    go();
                    (Seen::NotObserved, None)
                }
                keep => {
                    go();
                    (Seen::NotObserved, Some(keep))
                }
            };
        }
        Action::Awaited | Action::Canceled => {}
    }
    let canceled = action == Action::Canceled;
    let fut: Pin<Box<dyn Future<Output = Seen>>> = match spawned {
        Spawned::Handle(h) if canceled => Box::pin(h.cancel().map(seen_out)),
        Spawned::Handle(h) => Box::pin(h.map(seen_out)),
        Spawned::Group(g) => Box::pin(async move {
            if canceled {
                g.cancel().await;
            } else {
                assert_eq!(g.wait().await, Ok(()), "group wait");
            }
            Seen::Nothing
        }),
        Spawned::Select(s) => Box::pin(async move {
            if canceled {
                let left = s.cancel().await;
                assert!(s.cancel().await.is_none(), "one member leaves at most one result");
                left.map_or(Seen::Nothing, seen_out)
            } else if gone {
                let mut v = Vec::new();
                assert_eq!(s.await_many(&mut v, 1, 1).await, Ok(0));
                Seen::Nothing
            } else {
                seen_out(s.wait().await.expect("not canceled"))
            }
        }),
    };
    let mut fut = pin!(AssertUnwindSafe(fut).catch_unwind());
    let first = futures::poll!(fut.as_mut());
    go();
    let r = match first {
        Poll::Ready(r) => r,
        Poll::Pending => fut.await,
    };
    (r.unwrap_or_else(classify_panic), None)
}

/// Runs one case on `shared` (a runtime kept across the alive cases of one worker count) or on
/// a runtime of its own (the `deinit` cases).
fn run_case(c: Case, shared: Option<&Kqueue>) {
    let own = match c.life {
        Life::Deinit => Some(runtime(c.workers)),
        Life::Alive => None,
    };
    let rt = own.as_ref().or(shared).expect("a runtime");
    let io = rt.io();
    let probe = Arc::new(Probe::default());
    let gate = Arc::new(Gate::default());
    let tracker = Arc::new(());
    if c.when == When::AfterCompletion {
        gate.open();
    }
    let fut = CaseFuture {
        io: io.clone(),
        behaviour: c.behaviour,
        gate: gate.clone(),
        probe: probe.clone(),
        tracker: tracker.clone(),
        _mark: Mark { probe: probe.clone(), output: false },
    };

    // Spawn, and reach the "when" point.
    let blockers =
        (c.when == When::BeforeFirstPoll).then(|| Blockers::hold(&io, worker_count(c.workers)));
    let spawned = if c.inline() {
        std::thread::scope(|s| {
            if c.when == When::WhilePending {
                let (probe, gate) = (probe.clone(), gate.clone());
                s.spawn(move || {
                    probe.wait_for(|n| n.pending >= 1);
                    gate.open();
                });
            }
            rt.block_on(async { catch_unwind(AssertUnwindSafe(|| spawn(&io, c.spawner, fut))) })
        })
    } else {
        catch_unwind(AssertUnwindSafe(|| spawn(&io, c.spawner, fut)))
    };
    let spawned = match spawned {
        Ok(Ok(s)) => s,
        Ok(Err(ConcurrencyUnavailable)) => {
            return finish(c, (Seen::Unavailable, None), &probe, tracker, own, shared);
        }
        Err(p) => return finish(c, (classify_panic(p), None), &probe, tracker, own, shared),
    };
    match c.when {
        When::BeforeFirstPoll => assert_eq!(probe.get().polls, 0, "{}: not polled yet", c.name()),
        When::WhilePending => probe.wait_for(|n| n.pending >= 1),
        When::AfterCompletion => {
            probe.wait_for(|n| n.future_drops >= 1);
            spin_until(|| is_finished(&spawned));
        }
    }

    // Deinit meanwhile, then act; or act on the live runtime.
    let seen = match own {
        Some(rt) => {
            match blockers {
                Some(b) => std::thread::scope(|s| {
                    s.spawn(move || rt.deinit());
                    // Release the workers only once shutdown has begun: they then exit
                    // without polling the case's task.
                    spin_until(|| io.task_is_shut_down());
                    b.release();
                }),
                None => rt.deinit(),
            }
            assert_eq!(probe.get().future_drops, 1, "{}: deinit dropped the future", c.name());
            let gone = !completes(&c);
            let acted = futures::executor::block_on(act(spawned, c.action, gone, || gate.open()));
            return finish(c, acted, &probe, tracker, None, None);
        }
        None => {
            let go = || {
                if c.action != Action::Canceled {
                    gate.open();
                }
                if let Some(b) = &blockers {
                    b.release();
                }
            };
            let acted = rt.block_on(act(spawned, c.action, false, go));
            if let Some(b) = blockers {
                rt.block_on(async {
                    for h in b.handles {
                        h.await;
                    }
                });
            }
            acted
        }
    };
    finish(c, seen, &probe, tracker, None, shared);
}

fn finish(
    c: Case,
    (seen, kept): (Seen, Option<Spawned>),
    probe: &Probe,
    tracker: Arc<()>,
    own: Option<Kqueue>,
    shared: Option<&Kqueue>,
) {
    let name = c.name();
    // A dropped or detached task ends on its own: wait for it (the watchdog bounds this). A
    // kept group or select is dropped once its member ended.
    probe.wait_for(|n| n.future_drops >= 1);
    if let Some(k) = kept {
        spin_until(|| is_finished(&k));
        drop(k);
    }
    probe.wait_for(|n| n.output_drops >= n.outputs_made);
    drop(own);
    if let Some(rt) = shared {
        spin_until(|| rt.metrics().live_tasks == 0);
    }
    let n = probe.get();
    assert_eq!(seen, expected(&c), "{name}: outcome ({n:?})");
    assert_eq!(n.future_drops, 1, "{name}: the future is dropped exactly once");
    let made =
        usize::from(completes(&c) && !sees_cancel(&c) && c.behaviour != Behaviour::PanicsOnPoll);
    assert_eq!(n.outputs_made, made, "{name}: outputs made");
    assert_eq!(n.output_drops, n.outputs_made, "{name}: each output dropped exactly once");
    assert!(expected_polls(&c).contains(&n.polls), "{name}: polls ({n:?})");
    assert_eq!(Arc::strong_count(&tracker), 1, "{name}: nothing leaked");
}

#[test]
fn lifecycle_matrix() {
    quiet_expected_panics();
    // `LIFECYCLE_MATRIX_FILTER=<substring of case names>` runs a subset, to debug one case.
    let filter = std::env::var("LIFECYCLE_MATRIX_FILTER").ok();
    let cases: Vec<Case> = Case::all()
        .into_iter()
        .filter(|c| filter.as_ref().is_none_or(|f| c.name().contains(f.as_str())))
        .collect();
    let began = Instant::now();
    let counts: Vec<usize> = std::thread::scope(|s| {
        let runners: Vec<_> = WORKERS
            .iter()
            .map(|&w| {
                let cases: Vec<Case> = cases.iter().copied().filter(|c| c.workers == w).collect();
                s.spawn(move || {
                    let dog = Watchdog::start();
                    let rt = runtime(w);
                    for c in &cases {
                        dog.arm(c.name());
                        run_case(*c, Some(&rt));
                        dog.disarm();
                    }
                    assert_eq!(rt.metrics().live_tasks, 0);
                    rt.deinit();
                    cases.len()
                })
            })
            .collect();
        runners.into_iter().map(|r| r.join().expect("a runner panicked")).collect()
    });
    let total: usize = counts.iter().sum();
    eprintln!(
        "lifecycle matrix: {total} cases ({counts:?} for 1 worker, 2 workers, block_on only) in {:?}",
        began.elapsed()
    );
    assert_eq!(total, cases.len());
    if filter.is_none() {
        assert!(total >= 1000, "the matrix has {total} cases");
    }
}
