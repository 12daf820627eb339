//! What a task is doing, for task dumps and deadlock reports: its id, its state, and what it
//! waits on.
//!
//! Ground rules:
//! 1. The records are diagnostics, written with `Relaxed` stores and read from other threads
//!    without synchronization: a reader sees a recent value, never a torn one (each is one atomic
//!    word), and nothing in the runtime decides anything on them.
//! 2. Cost: a task's poll stores its state twice (running, then idle if pending), a wake stores
//!    it once; a primitive that returns `Pending` stores what it waits on once ([`wait_on`]). The
//!    ready paths store nothing.
//! 3. The wait record is cleared when a poll starts: a task that returns `Pending` from a future
//!    that records nothing (a user's channel) shows as idle with no wait, never with a stale one.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use super::current;
use crate::time::Timestamp;

/// The id of a task: unique among the tasks of the process, never reused. Ids count up from 1
/// in spawn order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(pub(crate) u64);

impl TaskId {
    /// The id as a number.
    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// The next id. One relaxed `fetch_add` per spawn (as tokio's task ids).
    pub(crate) fn next() -> TaskId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        TaskId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Where a task is in its life, as a task dump sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskState {
    /// Its future is being polled right now.
    Running,
    /// Woken or just spawned: queued to be polled.
    Scheduled,
    /// Waiting for a wake-up (see [`WaitingOn`] for what it waits on, when known).
    Idle,
    /// Asked to cancel and not yet finished (whatever it is doing meanwhile).
    Canceling,
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskState::Running => "running",
            TaskState::Scheduled => "scheduled",
            TaskState::Idle => "idle",
            TaskState::Canceling => "canceling",
        })
    }
}

/// What an idle task waits on: the cancellation point where it last returned `Pending`.
///
/// The sync primitives carry the address of the primitive waited on, so that two tasks waiting
/// on the same mutex can be told from two waiting on different ones (and a deadlock report can
/// match a waiter with a holder).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WaitingOn {
    /// A sleep or timeout, due at `deadline` on the awake clock.
    Sleep {
        /// When the sleep ends ([`Clock::Awake`](crate::time::Clock::Awake)); `Timestamp::MAX`
        /// for a sleep without deadline (`Timeout::None`).
        deadline: Timestamp,
    },
    /// A socket, pipe or other readiness-driven handle becoming readable.
    Read,
    /// A socket, pipe or other readiness-driven handle becoming writable.
    Write,
    /// A [`Mutex`](crate::sync::Mutex) at `addr`.
    Mutex {
        /// The address of the primitive (an identity, not to be dereferenced).
        addr: usize,
    },
    /// A [`Condition`](crate::sync::Condition) at `addr`.
    Condition {
        /// The address of the primitive.
        addr: usize,
    },
    /// An [`Event`](crate::sync::Event) at `addr`.
    Event {
        /// The address of the primitive.
        addr: usize,
    },
    /// A [`Semaphore`](crate::sync::Semaphore) at `addr`.
    Semaphore {
        /// The address of the primitive.
        addr: usize,
    },
    /// An [`RwLock`](crate::sync::RwLock) at `addr`.
    RwLock {
        /// The address of the primitive.
        addr: usize,
    },
    /// Room in a [`Queue`](crate::sync::Queue) at `addr` (a put).
    QueuePut {
        /// The address of the queue's shared state.
        addr: usize,
    },
    /// An item of a [`Queue`](crate::sync::Queue) at `addr` (a get).
    QueueGet {
        /// The address of the queue's shared state.
        addr: usize,
    },
    /// Another task's end (awaiting its [`JoinHandle`](crate::JoinHandle)).
    Join {
        /// The awaited task.
        task: TaskId,
    },
    /// A job on the blocking pool ([`spawn_blocking`](crate::Io#method.spawn_blocking), file
    /// work, a name lookup). Under the simulator, a file operation's or name lookup's simulated
    /// latency (the work a pool thread does on `Kqueue`).
    Blocking,
    /// A connection to accept on a listener (TCP or Unix).
    Accept,
    /// A connection attempt's end (its handshake, a refusal or a timeout).
    Connect,
    /// A file lock ([`File::lock`](crate::fs::File::lock), `flock`) held elsewhere.
    FileLock,
    /// A child process's exit ([`Child::wait`](crate::process::Child::wait)).
    Process {
        /// The child's process id.
        pid: u32,
    },
    /// A signal's delivery ([`Signals::recv`](crate::signal::Signals::recv)).
    Signal {
        /// The awaited signal.
        signal: crate::signal::Signal,
    },
}

impl fmt::Display for WaitingOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WaitingOn::Sleep { deadline } if deadline == Timestamp::MAX => {
                f.write_str("sleep without deadline")
            }
            WaitingOn::Sleep { deadline } => {
                write!(f, "sleep until {} ns (awake clock)", deadline.as_nanos())
            }
            WaitingOn::Read => f.write_str("read readiness"),
            WaitingOn::Write => f.write_str("write readiness"),
            WaitingOn::Mutex { addr } => write!(f, "mutex {addr:#x}"),
            WaitingOn::Condition { addr } => write!(f, "condition {addr:#x}"),
            WaitingOn::Event { addr } => write!(f, "event {addr:#x}"),
            WaitingOn::Semaphore { addr } => write!(f, "semaphore {addr:#x}"),
            WaitingOn::RwLock { addr } => write!(f, "rwlock {addr:#x}"),
            WaitingOn::QueuePut { addr } => write!(f, "queue {addr:#x} (put)"),
            WaitingOn::QueueGet { addr } => write!(f, "queue {addr:#x} (get)"),
            WaitingOn::Join { task } => write!(f, "task {task}"),
            WaitingOn::Blocking => f.write_str("a blocking-pool job"),
            WaitingOn::Accept => f.write_str("accept (a connection to a listener)"),
            WaitingOn::Connect => f.write_str("connect (the handshake's end)"),
            WaitingOn::FileLock => f.write_str("file lock (flock)"),
            WaitingOn::Process { pid } => write!(f, "exit of process {pid}"),
            WaitingOn::Signal { signal } => write!(f, "delivery of {signal}"),
        }
    }
}

/// Bits of the packed wait word that hold the payload; the kind is in the top four.
const PAYLOAD_BITS: u32 = 60;
const PAYLOAD_MASK: u64 = (1 << PAYLOAD_BITS) - 1;

/// The kind of the waits without a payload of their own beyond the first twelve kinds: their
/// payload says which (`PLAIN_*`). New payload-less waits take the next number here; the 16
/// kinds are spent.
const PLAIN: u64 = 15;
const PLAIN_ACCEPT: u64 = 1;
const PLAIN_CONNECT: u64 = 2;
const PLAIN_FILE_LOCK: u64 = 3;

impl WaitingOn {
    /// One word: the kind (1..=15) in the top four bits, a payload (a deadline in nanoseconds, an
    /// address, a task id, a process id, a signal number; for kind 15 which payload-less wait)
    /// in the other 60. 0 is "nothing recorded".
    fn pack(self) -> u64 {
        let (kind, payload) = match self {
            // 2^60 ns is 36 years of awake time: beyond it (`Timestamp::MAX`, a sleep without
            // deadline) is "never". A negative deadline is due anyway.
            WaitingOn::Sleep { deadline } => {
                (1, (deadline.as_nanos().max(0) as u64).min(PAYLOAD_MASK))
            }
            WaitingOn::Read => (2, 0),
            WaitingOn::Write => (3, 0),
            WaitingOn::Mutex { addr } => (4, addr as u64),
            WaitingOn::Condition { addr } => (5, addr as u64),
            WaitingOn::Event { addr } => (6, addr as u64),
            WaitingOn::Semaphore { addr } => (7, addr as u64),
            WaitingOn::RwLock { addr } => (8, addr as u64),
            WaitingOn::QueuePut { addr } => (9, addr as u64),
            WaitingOn::QueueGet { addr } => (10, addr as u64),
            WaitingOn::Join { task } => (11, task.0),
            WaitingOn::Blocking => (12, 0),
            WaitingOn::Process { pid } => (13, u64::from(pid)),
            // The number's bits (a signal number is small and positive; any i32 survives).
            WaitingOn::Signal { signal } => (14, u64::from(signal.as_raw() as u32)),
            WaitingOn::Accept => (PLAIN, PLAIN_ACCEPT),
            WaitingOn::Connect => (PLAIN, PLAIN_CONNECT),
            WaitingOn::FileLock => (PLAIN, PLAIN_FILE_LOCK),
        };
        (kind << PAYLOAD_BITS) | (payload & PAYLOAD_MASK)
    }

    fn unpack(word: u64) -> Option<WaitingOn> {
        let payload = word & PAYLOAD_MASK;
        let addr = payload as usize;
        Some(match word >> PAYLOAD_BITS {
            1 => WaitingOn::Sleep {
                deadline: if payload == PAYLOAD_MASK {
                    Timestamp::MAX
                } else {
                    Timestamp::from_nanos(payload as i64)
                },
            },
            2 => WaitingOn::Read,
            3 => WaitingOn::Write,
            4 => WaitingOn::Mutex { addr },
            5 => WaitingOn::Condition { addr },
            6 => WaitingOn::Event { addr },
            7 => WaitingOn::Semaphore { addr },
            8 => WaitingOn::RwLock { addr },
            9 => WaitingOn::QueuePut { addr },
            10 => WaitingOn::QueueGet { addr },
            11 => WaitingOn::Join { task: TaskId(payload) },
            12 => WaitingOn::Blocking,
            13 => WaitingOn::Process { pid: payload as u32 },
            14 => {
                WaitingOn::Signal { signal: crate::signal::Signal::from_raw(payload as u32 as i32) }
            }
            PLAIN => match payload {
                PLAIN_ACCEPT => WaitingOn::Accept,
                PLAIN_CONNECT => WaitingOn::Connect,
                PLAIN_FILE_LOCK => WaitingOn::FileLock,
                _ => return None,
            },
            _ => return None,
        })
    }
}

const IDLE: u8 = 0;
const SCHEDULED: u8 = 1;
const RUNNING: u8 = 2;

/// A task's state and wait records (ground rule 1), kept in its header.
pub(crate) struct Activity {
    state: AtomicU8,
    waiting: AtomicU64,
}

impl Activity {
    /// A task just spawned: scheduled, waiting on nothing.
    pub(crate) const fn new() -> Self {
        Activity { state: AtomicU8::new(SCHEDULED), waiting: AtomicU64::new(0) }
    }

    /// A poll starts (ground rule 3).
    #[inline]
    pub(crate) fn poll_started(&self) {
        self.state.store(RUNNING, Ordering::Relaxed);
        self.waiting.store(0, Ordering::Relaxed);
    }

    /// The poll returned `Pending`. A wake that came during the poll is handed to the scheduler
    /// after the poll returns (async-task), so it stores `Scheduled` after this.
    #[inline]
    pub(crate) fn poll_pending(&self) {
        self.state.store(IDLE, Ordering::Relaxed);
    }

    /// The task was woken and handed to its scheduler.
    #[inline]
    pub(crate) fn scheduled(&self) {
        self.state.store(SCHEDULED, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn set_waiting(&self, on: WaitingOn) {
        self.waiting.store(on.pack(), Ordering::Relaxed);
    }

    pub(crate) fn state(&self, canceling: bool) -> TaskState {
        match self.state.load(Ordering::Relaxed) {
            RUNNING => TaskState::Running,
            _ if canceling => TaskState::Canceling,
            SCHEDULED => TaskState::Scheduled,
            _ => TaskState::Idle,
        }
    }

    pub(crate) fn waiting_on(&self) -> Option<WaitingOn> {
        WaitingOn::unpack(self.waiting.load(Ordering::Relaxed))
    }
}

/// Records that the current task (if any) is about to return `Pending` waiting on `on`. Called by
/// cancellation points on their pending path only (ground rule 2).
#[inline]
pub(crate) fn wait_on(on: WaitingOn) {
    current::with_current(|h| {
        if let Some(h) = h {
            h.activity.set_waiting(on);
        }
    })
}

/// Records `on` for the current task if `poll` is pending, and passes `poll` through: the one
/// line a cancellation point adds around the backend call that may wait.
#[inline]
pub(crate) fn pending_on<T>(poll: std::task::Poll<T>, on: WaitingOn) -> std::task::Poll<T> {
    if poll.is_pending() {
        wait_on(on);
    }
    poll
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wait_survives_packing() {
        let all = [
            WaitingOn::Sleep { deadline: Timestamp::from_nanos(123_456_789_012) },
            WaitingOn::Sleep { deadline: Timestamp::MAX },
            WaitingOn::Read,
            WaitingOn::Write,
            WaitingOn::Mutex { addr: 0x7fff_1234_5678 },
            WaitingOn::Condition { addr: 8 },
            WaitingOn::Event { addr: 16 },
            WaitingOn::Semaphore { addr: 24 },
            WaitingOn::RwLock { addr: 32 },
            WaitingOn::QueuePut { addr: 40 },
            WaitingOn::QueueGet { addr: 48 },
            WaitingOn::Join { task: TaskId(99) },
            WaitingOn::Blocking,
            WaitingOn::Accept,
            WaitingOn::Connect,
            WaitingOn::FileLock,
            WaitingOn::Process { pid: u32::MAX },
            WaitingOn::Process { pid: 4242 },
            WaitingOn::Signal { signal: crate::signal::Signal::HANGUP },
            WaitingOn::Signal { signal: crate::signal::Signal::from_raw(-1) },
        ];
        for on in all {
            assert_eq!(WaitingOn::unpack(on.pack()), Some(on));
        }
        assert_eq!(WaitingOn::unpack(0), None);
        assert_eq!(WaitingOn::unpack(PLAIN << PAYLOAD_BITS), None);
    }

    #[test]
    fn the_world_waits_say_what_they_wait_on() {
        assert_eq!(WaitingOn::Accept.to_string(), "accept (a connection to a listener)");
        assert_eq!(WaitingOn::Connect.to_string(), "connect (the handshake's end)");
        assert_eq!(WaitingOn::FileLock.to_string(), "file lock (flock)");
        assert_eq!(WaitingOn::Process { pid: 7 }.to_string(), "exit of process 7");
        let hup = WaitingOn::Signal { signal: crate::signal::Signal::HANGUP };
        assert_eq!(hup.to_string(), format!("delivery of signal {}", libc::SIGHUP));
    }

    #[test]
    fn a_running_task_is_running_even_when_canceling() {
        let a = Activity::new();
        assert_eq!(a.state(false), TaskState::Scheduled);
        assert_eq!(a.state(true), TaskState::Canceling);
        a.poll_started();
        assert_eq!(a.state(true), TaskState::Running);
        a.set_waiting(WaitingOn::Read);
        a.poll_pending();
        assert_eq!(a.state(false), TaskState::Idle);
        assert_eq!(a.waiting_on(), Some(WaitingOn::Read));
        a.poll_started();
        assert_eq!(a.waiting_on(), None);
    }
}
