//! The reactor: one mio `Poll` (kqueue on the BSDs and macOS, epoll on Linux), the registrations
//! of sources, and the delivery of readiness to the tasks waiting for it.
//!
//! Ground rules:
//! 1. Exactly one thread at a time *drives* the reactor (holds `driver`): a worker that is about
//!    to park blocks in `Poll::poll` instead of on its condition variable, and a busy worker
//!    polls without blocking every `EVENT_INTERVAL` ticks. So readiness reaches tasks with one
//!    `kevent`/`epoll_wait` per batch of events and no thread ever spins.
//! 2. A registration is an `Arc<ScheduledIo>`; the token given to mio is the address of that
//!    `ScheduledIo`, and the reactor holds one strong reference for the token from `register`
//!    until the driver's next turn after `deregister`. An event harvested before the
//!    deregistration therefore always finds its `ScheduledIo` alive.
//! 3. Readiness is a word of bits plus a tick that counts events. A waiter that saw readiness at
//!    tick `t` and then got `WouldBlock` clears it only if the tick is still `t`: an event that
//!    arrived in between is never lost (mio's events are edge-triggered).
//! 4. Other threads wake the driver with the `mio::Waker` (an `EVFILT_USER` trigger on kqueue, an
//!    eventfd on Linux).
//! 5. Shutdown (`close`) drops the `Poll`, the registry clone and the waker: every descriptor the
//!    reactor opened is closed then, even if users still hold registrations.
//! 6. Any number of tasks may wait on one registration in each direction (a reader and a writer
//!    of one socket, or several tasks accepting on one listener). An event wakes every waiter of
//!    the directions it concerns; each re-tries its operation and re-registers on `WouldBlock`.

use crate::loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::io;
use std::sync::Arc;

use crate::loom::sync::{Mutex, MutexGuard, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use std::task::Waker;

use mio::{event::Source, Events, Interest, Token};

use crate::sys::poll_timer::PollTimer;

#[cfg(all(test, kqio_loom))]
mod loom_tests;

/// The token of the cross-thread waker. Registration tokens are addresses of `ScheduledIo`s,
/// which are never 0.
const WAKE_TOKEN: Token = Token(0);
/// The token of the precise poll timer (`sys::poll_timer`); its events only wake the driver.
/// Registration tokens are aligned addresses, never 1.
const TIMER_TOKEN: Token = Token(1);

/// The longest timeout handed to the poller. Darwin's `kevent` fails with `EINVAL` for a
/// timeout over 10^8 s (mio passes the `Duration` through as a `timespec`); epoll takes
/// milliseconds in a C `int`, which mio clamps itself. The timers never ask for more than
/// `timer::MAX_PARK` (about 49.7 days), and [`DriverGuard::poll`] clamps to this bound anyway,
/// so no caller can make the poller fail.
pub(crate) const MAX_POLL_TIMEOUT: Duration = Duration::from_secs(100_000_000 - 1);

/// How many events one turn of the driver harvests. A turn that fills the buffer is followed by
/// another turn soon (the driver re-polls before parking), so this bounds latency, not capacity.
pub(crate) const EVENTS_PER_POLL: usize = 1024;

/// Readiness bits of a registration.
pub(crate) mod ready {
    pub(crate) const READABLE: usize = 1 << 0;
    pub(crate) const WRITABLE: usize = 1 << 1;
    pub(crate) const READ_CLOSED: usize = 1 << 2;
    pub(crate) const WRITE_CLOSED: usize = 1 << 3;
    pub(crate) const ERROR: usize = 1 << 4;
    /// The reactor was closed: no event will ever come. Final.
    pub(crate) const SHUTDOWN: usize = 1 << 5;
    /// Bits that make a reader proceed (closed and error are "ready": the read reports them).
    pub(crate) const READ_MASK: usize = READABLE | READ_CLOSED | ERROR | SHUTDOWN;
    /// Bits that make a writer proceed.
    pub(crate) const WRITE_MASK: usize = WRITABLE | WRITE_CLOSED | ERROR | SHUTDOWN;
    pub(crate) const BITS: usize = 16;
    pub(crate) const BITS_MASK: usize = (1 << BITS) - 1;
}

/// A direction of readiness a task can wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Readable (or closed for reading, or in error).
    Read,
    /// Writable (or closed for writing, or in error).
    Write,
}

impl Direction {
    /// The task dump's record of a wait in this direction.
    fn waiting_on(self) -> crate::task::WaitingOn {
        match self {
            Direction::Read => crate::task::WaitingOn::Read,
            Direction::Write => crate::task::WaitingOn::Write,
        }
    }

    fn mask(self) -> usize {
        match self {
            Direction::Read => ready::READ_MASK,
            Direction::Write => ready::WRITE_MASK,
        }
    }
}

/// Readiness observed at one tick (see ground rule 3).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadyEvent {
    tick: usize,
    pub(crate) ready: usize,
}

/// The reactor's state for one registered source.
#[derive(Default)]
pub(crate) struct ScheduledIo {
    /// `tick << ready::BITS | bits`.
    readiness: AtomicUsize,
    /// The tasks waiting for each direction.
    waiters: Mutex<Waiters>,
}

/// The tasks waiting on one registration, per direction (ground rule 6).
#[derive(Default)]
struct Waiters {
    reader: WaiterSet,
    writer: WaiterSet,
}

/// The wakers of the tasks waiting for one direction. The first waiter sits in `first`, which
/// costs no allocation; further *distinct* waiters (two tasks reading one socket) go to `more`.
/// Every readiness event for the direction wakes them all and empties the set, so a waiter that
/// stopped waiting (its future was dropped) costs at most one spurious wake-up, and the set never
/// holds more than one entry per task that polled since the last event.
#[derive(Default)]
struct WaiterSet {
    first: Option<Waker>,
    more: Vec<Waker>,
}

impl WaiterSet {
    fn register(&mut self, waker: &Waker) {
        match &mut self.first {
            None => self.first = Some(waker.clone()),
            Some(w) if w.will_wake(waker) => {}
            Some(_) => {
                if !self.more.iter().any(|w| w.will_wake(waker)) {
                    self.more.push(waker.clone());
                }
            }
        }
    }

    /// Wakes every waiter. `more` keeps its capacity, so a socket shared by several tasks stops
    /// allocating once it has seen its largest crowd.
    fn wake_all(&mut self) {
        if let Some(w) = self.first.take() {
            w.wake();
        }
        for w in self.more.drain(..) {
            w.wake();
        }
    }
}

impl ScheduledIo {
    /// Records an event and wakes the waiters it concerns.
    fn set_readiness(&self, bits: usize) {
        // AcqRel: the Release half pairs with the Acquire load in `poll_ready`, so a waiter that
        // sees the bits also sees everything the kernel reported before them.
        let _ = self.readiness.fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
            let tick = (cur >> ready::BITS).wrapping_add(1);
            Some((tick << ready::BITS) | (cur & ready::BITS_MASK) | bits)
        });
        let mut waiters = lock(&self.waiters);
        // Waking under the lock is fine: a wake-up only schedules the task (never runs it here),
        // and it lets `WaiterSet::wake_all` keep its buffer instead of moving it out.
        if bits & ready::READ_MASK != 0 {
            waiters.reader.wake_all();
        }
        if bits & ready::WRITE_MASK != 0 {
            waiters.writer.wake_all();
        }
    }

    /// The readiness recorded for `dir`, if any, without registering a waiter.
    pub(crate) fn ready_now(&self, dir: Direction) -> Option<ReadyEvent> {
        let cur = self.readiness.load(Ordering::Acquire);
        let ready = cur & dir.mask();
        (ready != 0).then_some(ReadyEvent { tick: cur >> ready::BITS, ready })
    }

    /// Ready if the direction's bits are set; otherwise registers the waker and re-checks.
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, dir: Direction) -> Poll<ReadyEvent> {
        let mask = dir.mask();
        let cur = self.readiness.load(Ordering::Acquire);
        if cur & mask != 0 {
            return Poll::Ready(ReadyEvent { tick: cur >> ready::BITS, ready: cur & mask });
        }
        {
            let mut waiters = lock(&self.waiters);
            match dir {
                Direction::Read => waiters.reader.register(cx.waker()),
                Direction::Write => waiters.writer.register(cx.waker()),
            }
        }
        // Re-check: an event between the first load and the registration would otherwise wake
        // nobody. (`set_readiness` stores the bits before it takes the waiters' lock, and this
        // load comes after we released it, so one of the two sides sees the other.)
        let cur = self.readiness.load(Ordering::Acquire);
        if cur & mask != 0 {
            return Poll::Ready(ReadyEvent { tick: cur >> ready::BITS, ready: cur & mask });
        }
        crate::task::activity::wait_on(dir.waiting_on());
        Poll::Pending
    }

    /// Clears the readiness `ev` reported for `dir`, unless an event arrived since (ground rule
    /// 3). Closed and error bits stay: they are final.
    pub(crate) fn clear_readiness(&self, ev: ReadyEvent, dir: Direction) {
        let clear = match dir {
            Direction::Read => ready::READABLE,
            Direction::Write => ready::WRITABLE,
        } & ev.ready;
        let _ = self.readiness.fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
            if cur >> ready::BITS != ev.tick {
                return None;
            }
            Some(cur & !clear)
        });
    }

    /// Sets the readable bit without an event: a guess (`read_guess.rs`) that makes the next
    /// read try its syscall. No tick is counted and no waiter is woken: a reader that meets
    /// `WouldBlock` clears the bit as it would clear an event's (its tick is unchanged), and the
    /// kernel's event for the bytes, when they come, still counts a tick and wakes as ever.
    pub(crate) fn assume_readable(&self) {
        // Relaxed: the bit carries no data; a reader that sees it only tries a syscall.
        self.readiness.fetch_or(ready::READABLE, Ordering::Relaxed);
    }

    /// Marks the registration shut down and wakes both waiters (used by `Reactor::close`).
    fn shut_down(&self) {
        self.set_readiness(ready::SHUTDOWN);
    }
}

fn event_bits(ev: &mio::event::Event) -> usize {
    let mut bits = 0;
    if ev.is_readable() {
        bits |= ready::READABLE;
    }
    if ev.is_writable() {
        bits |= ready::WRITABLE;
    }
    if ev.is_read_closed() {
        bits |= ready::READ_CLOSED;
    }
    if ev.is_write_closed() {
        bits |= ready::WRITE_CLOSED;
    }
    if ev.is_error() {
        bits |= ready::ERROR;
    }
    bits
}

/// The part of the reactor that only the driving thread touches.
pub(crate) struct Driver {
    poll: mio::Poll,
    events: Events,
    /// Wakes the poller at a timeout's exact end where the poller counts whole milliseconds.
    timer: PollTimer,
}

/// What other threads use: registering sources and waking the driver.
struct Handles {
    registry: mio::Registry,
    waker: mio::Waker,
}

/// The reactor. Shared by the scheduler (which drives it) and by every registration.
pub(crate) struct Reactor {
    driver: Mutex<Option<Driver>>,
    handles: RwLock<Option<Handles>>,
    /// Registrations whose token may still appear in a harvested event (ground rule 2).
    release: Mutex<Vec<Arc<ScheduledIo>>>,
    release_pending: AtomicBool,
    /// Every live registration, so that `close` can wake their waiters.
    live: Mutex<Vec<std::sync::Weak<ScheduledIo>>>,
    /// Registered sources. With none, a non-blocking poll cannot find an event worth a syscall.
    sources: AtomicUsize,
    /// Bumped (Release) by every `register` before it hands the token to the poller, and read
    /// (Acquire) by the driver before it dereferences tokens: the `ScheduledIo` a token points
    /// to was initialised by the registering thread, and the kernel carrying the token is not a
    /// synchronisation the memory model (or ThreadSanitizer) knows of. This makes the
    /// happens-before explicit (ground rule 2).
    published: AtomicUsize,
    /// Readiness events dispatched (metrics; written by the driving thread only, which holds
    /// the driver lock).
    events: AtomicU64,
}

/// The error of registering with a reactor that has been shut down.
fn shut_down() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "kqio: the runtime has been shut down")
}

impl Reactor {
    pub(crate) fn new() -> io::Result<Reactor> {
        let poll = mio::Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = mio::Waker::new(poll.registry(), WAKE_TOKEN)?;
        let timer = PollTimer::new(poll.registry(), TIMER_TOKEN)?;
        Ok(Reactor {
            driver: Mutex::new(Some(Driver {
                poll,
                events: Events::with_capacity(EVENTS_PER_POLL),
                timer,
            })),
            handles: RwLock::new(Some(Handles { registry, waker })),
            release: Mutex::new(Vec::new()),
            release_pending: AtomicBool::new(false),
            live: Mutex::new(Vec::new()),
            sources: AtomicUsize::new(0),
            published: AtomicUsize::new(0),
            events: AtomicU64::new(0),
        })
    }

    /// Registers `source` for read and write readiness.
    pub(crate) fn register(&self, source: &mut impl Source) -> io::Result<Arc<ScheduledIo>> {
        let sio = Arc::new(ScheduledIo::default());
        let token = Token(Arc::as_ptr(&sio) as usize);
        {
            let handles = self.handles.read().unwrap_or_else(|e| e.into_inner());
            let handles = handles.as_ref().ok_or_else(shut_down)?;
            // Publish the new `ScheduledIo` before its token can reach the driver.
            self.published.fetch_add(1, Ordering::Release);
            handles.registry.register(source, token, Interest::READABLE | Interest::WRITABLE)?;
        }
        // The reference owned by the token (ground rule 2).
        std::mem::forget(sio.clone());
        self.sources.fetch_add(1, Ordering::Relaxed);
        let mut live = lock(&self.live);
        if live.len() == live.capacity() {
            // Prune dead entries before growing, so the list stays proportional to live sources.
            live.retain(|w| w.strong_count() > 0);
        }
        live.push(Arc::downgrade(&sio));
        Ok(sio)
    }

    /// Deregisters `source`; `sio` is released after the driver's next turn.
    pub(crate) fn deregister(&self, source: &mut impl Source, sio: &Arc<ScheduledIo>) {
        let handles = self.handles.read().unwrap_or_else(|e| e.into_inner());
        if let Some(handles) = handles.as_ref() {
            // An error here means the descriptor was already closed, which removed it from the
            // poller anyway: nothing is left to undo.
            let _ = handles.registry.deregister(source);
        }
        // SAFETY: `register` forgot one strong reference for the token; this takes it back,
        // exactly once per registration (deregister is called once, from the registration's
        // owner's drop).
        let token_ref = unsafe { Arc::from_raw(Arc::as_ptr(sio)) };
        lock(&self.release).push(token_ref);
        self.release_pending.store(true, Ordering::Release);
        self.sources.fetch_sub(1, Ordering::Relaxed);
    }

    /// Whether any source is registered (a hint: busy workers skip their periodic non-blocking
    /// poll when there is none).
    pub(crate) fn has_sources(&self) -> bool {
        self.sources.load(Ordering::Relaxed) != 0
    }

    /// Readiness events dispatched so far (metrics).
    pub(crate) fn events_delivered(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }

    /// Wakes the driving thread out of `Poll::poll`.
    pub(crate) fn wake(&self) {
        let handles = self.handles.read().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = handles.as_ref() {
            // A failed wake (the eventfd counter is saturated, or EVFILT_USER could not be
            // triggered) still leaves the poller readable or triggered, so the driver wakes.
            let _ = h.waker.wake();
        }
    }

    /// Takes the right to drive the reactor, if no other thread has it.
    pub(crate) fn try_lock_driver(&self) -> Option<DriverGuard<'_>> {
        let guard = self.driver.try_lock().ok()?;
        if guard.is_none() {
            return None;
        }
        Some(DriverGuard { reactor: self, guard })
    }

    /// Closes the poller and wakes every waiter (ground rule 5).
    pub(crate) fn close(&self) {
        let driver = lock(&self.driver).take();
        let handles = self.handles.write().unwrap_or_else(|e| e.into_inner()).take();
        drop((driver, handles));
        for sio in lock(&self.live).drain(..).filter_map(|w| w.upgrade()) {
            sio.shut_down();
        }
        lock(&self.release).clear();
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        self.close();
    }
}

/// The right to drive the reactor; see ground rule 1.
pub(crate) struct DriverGuard<'a> {
    reactor: &'a Reactor,
    guard: MutexGuard<'a, Option<Driver>>,
}

impl DriverGuard<'_> {
    /// Waits for events for at most `timeout` (`None`: until an event or a wake; clamped to
    /// [`MAX_POLL_TIMEOUT`]) and returns how many were harvested. Call
    /// [`dispatch`](Self::dispatch) afterwards.
    pub(crate) fn poll(&mut self, timeout: Option<Duration>) -> usize {
        if self.reactor.release_pending.swap(false, Ordering::Acquire) {
            // Every event harvested by earlier turns has been dispatched (the driver dispatches
            // before it releases the guard), so the tokens released so far are no longer needed.
            let released = std::mem::take(&mut *lock(&self.reactor.release));
            drop(released);
        }
        let driver = self.guard.as_mut().expect("checked in try_lock_driver");
        let timeout = driver.timer.timeout(timeout.map(|t| t.min(MAX_POLL_TIMEOUT)));
        loop {
            match driver.poll.poll(&mut driver.events, timeout) {
                Ok(()) => return driver.events.iter().count(),
                // A signal interrupted the wait: just poll again (a zero or finite timeout is
                // short enough that restarting it is harmless).
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // The poller failing is not something a waiter can act on; treat it as an
                    // empty turn so that workers go on running tasks, and report it once.
                    debug_assert!(false, "kqio: poll failed: {e}");
                    driver.events.clear();
                    return 0;
                }
            }
        }
    }

    /// Delivers the events of the last `poll` to their registrations, waking the waiters.
    pub(crate) fn dispatch(&mut self) {
        // Pairs with the Release in `register` (see `published`): every registration whose
        // token was harvested happened before this load.
        self.reactor.published.load(Ordering::Acquire);
        let driver = self.guard.as_mut().expect("checked in try_lock_driver");
        let mut delivered = 0;
        for ev in driver.events.iter() {
            let token = ev.token();
            if token == WAKE_TOKEN || token == TIMER_TOKEN {
                continue;
            }
            delivered += 1;
            // SAFETY: ground rule 2: the token is the address of a `ScheduledIo` kept alive by the
            // reference the reactor holds for the token until after this dispatch.
            let sio = unsafe { &*(token.0 as *const ScheduledIo) };
            sio.set_readiness(event_bits(ev));
        }
        driver.events.clear();
        if delivered > 0 {
            // Only the driver's holder writes it: a plain add, no read-modify-write.
            let events = &self.reactor.events;
            events.store(events.load(Ordering::Relaxed) + delivered, Ordering::Relaxed);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
