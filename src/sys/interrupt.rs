//! Interrupting one thread's blocking system call: the one `cfg`'d place for it.
//!
//! A handler that does nothing is installed (once per process) for [`SIGNAL`] *without*
//! `SA_RESTART`, and the signal is sent to one thread with `pthread_kill`: the call that thread
//! is blocked in (`read`, `open` of a FIFO, `flock`, ...) returns `EINTR`, and the caller decides
//! what that means (Zig's threaded `Io` does the same with `SIGIO` on Linux).
//!
//! The signal is `SIGURG` on every platform: its default action is to ignore it, the kernel sends
//! it only for out-of-band socket data to an owner set with `F_SETOWN` (which a program opts into),
//! and Go's runtime uses it for goroutine preemption for the same reasons. Realtime signals would
//! do on Linux and FreeBSD but do not exist on macOS. kqio's signal listening refuses `SIGURG`
//! (`sys/signal.rs`), because its handlers are installed with `SA_RESTART`. A handler that was
//! installed before ours is called from ours, so a program's own `SIGURG` handler keeps working.
//! The handler is installed on the first interrupt, not before: a program that never cancels a
//! running job keeps `SIGURG`'s default. Once installed, a `SIGURG` sent to the whole process
//! (`kill -URG`) makes the system call of whichever thread takes it return `EINTR` (std and
//! kqio retry those) where before it was ignored.
//!
//! Ground rules:
//! 1. A signal is sent only to a thread that is alive and cannot exit meanwhile (the caller
//!    holds the lock the thread must take before it moves on; see `kqueue/interrupt.rs`).
//! 2. A thread that may be interrupted calls [`prepare_thread`] first: a mask inherited from the
//!    thread that made it (a program that blocks `SIGURG` to `sigwait` for it) must not hold the
//!    signal back.
//! 3. A signal can arrive just before the thread enters its blocking call, and is then lost: the
//!    sender retries until the thread acknowledges. This module only sends.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// The signal that interrupts a pool thread (see the module docs for why this one).
pub(crate) const SIGNAL: i32 = libc::SIGURG;

/// The handler installed before ours (`sa_sigaction`), 0 if none; and whether it takes `siginfo`.
static PREVIOUS: AtomicUsize = AtomicUsize::new(0);
static PREVIOUS_SIGINFO: AtomicUsize = AtomicUsize::new(0);

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // Nothing to do: being delivered is the point (the blocked call returns EINTR). Only a
    // handler that was there before is called, as the kernel would have.
    let prev = PREVIOUS.load(Ordering::Acquire);
    let siginfo = PREVIOUS_SIGINFO.load(Ordering::Relaxed) != 0;
    // SAFETY: `prev` is 0 or the `sa_sigaction` of the handler installed before ours (recorded
    // with its Release store after `PREVIOUS_SIGINFO`), and `siginfo` says how it was installed.
    unsafe { super::signal::call_previous(prev, siginfo, sig, info, ctx) };
}

/// Installs the handler, once per process; later calls return the first outcome.
pub(crate) fn install() -> io::Result<()> {
    static INSTALLED: OnceLock<Result<(), i32>> = OnceLock::new();
    let r = INSTALLED.get_or_init(|| {
        // SAFETY: `sigaction` with zeroed, then filled, structs we own: the handler is a valid
        // `extern "C"` function for `SA_SIGINFO`, the mask is emptied with `sigemptyset`; `old`
        // receives the previous disposition.
        unsafe {
            let mut new: libc::sigaction = std::mem::zeroed();
            new.sa_sigaction = handler as *const () as usize;
            // No SA_RESTART: the whole point is that the interrupted call returns EINTR.
            new.sa_flags = libc::SA_SIGINFO;
            libc::sigemptyset(&mut new.sa_mask);
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(SIGNAL, &new, &mut old) != 0 {
                return Err(io::Error::last_os_error().raw_os_error().unwrap_or(libc::EINVAL));
            }
            let prev = old.sa_sigaction;
            if prev != libc::SIG_DFL && prev != libc::SIG_IGN {
                PREVIOUS_SIGINFO
                    .store(usize::from(old.sa_flags & libc::SA_SIGINFO != 0), Ordering::Relaxed);
                // Release: pairs with the Acquire in `handler`.
                PREVIOUS.store(prev, Ordering::Release);
            }
        }
        Ok(())
    });
    r.map_err(io::Error::from_raw_os_error)
}

/// A thread that can be sent the signal.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Thread(libc::pthread_t);

// SAFETY: a `pthread_t` is an identifier (an integer or an opaque pointer the thread library
// owns); naming a thread from another thread is what `pthread_kill` is for.
unsafe impl Send for Thread {}
// SAFETY: as above; it is never dereferenced here.
unsafe impl Sync for Thread {}

/// The calling thread.
pub(crate) fn current() -> Thread {
    // SAFETY: `pthread_self` cannot fail.
    Thread(unsafe { libc::pthread_self() })
}

fn signal_set() -> libc::sigset_t {
    // SAFETY: a zeroed `sigset_t` is then initialised by `sigemptyset`; both only write to it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, SIGNAL);
        set
    }
}

/// Unblocks the signal for the calling thread (ground rule 2).
pub(crate) fn prepare_thread() {
    let set = signal_set();
    // SAFETY: `set` is an initialised signal set; the old mask is not asked for. It cannot fail
    // with a valid `how`.
    unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
}

/// Sends the signal to `thread`.
///
/// # Safety
///
/// `thread` must be alive and must not exit before this returns (ground rule 1): `pthread_kill`
/// on a thread that has exited is undefined behaviour.
pub(crate) unsafe fn send(thread: Thread) {
    // SAFETY: the caller keeps `thread` alive. The only errors are ESRCH (impossible by the
    // contract) and EINVAL (not for a valid signal number): nothing to report.
    unsafe { libc::pthread_kill(thread.0, SIGNAL) };
}

/// How many times [`drain`] asks before giving up; each ask is a system call, on whose return a
/// pending, unblocked signal is delivered, so the first or second one does it.
const DRAIN_TRIES: usize = 1000;

/// Makes sure no copy of the signal is still pending for the calling thread, so that it cannot
/// interrupt the next job this thread runs: every ask is a system call, and a pending unblocked
/// signal is delivered when a system call returns.
pub(crate) fn drain() {
    for _ in 0..DRAIN_TRIES {
        // SAFETY: a zeroed `sigset_t` that `sigemptyset` initialises and `sigpending` fills in.
        let pending = unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigpending(&mut set);
            libc::sigismember(&set, SIGNAL) == 1
        };
        if !pending {
            return;
        }
        // SAFETY: no arguments; it gives the kernel a chance to deliver.
        unsafe { libc::sched_yield() };
    }
}

/// The check a job's system calls make before each attempt and after each `EINTR`
/// (`kqueue/interrupt.rs`, its ground rule 2), registered once by the backend. `sys` cannot
/// call into the backend (that would be a circle), so the backend hands it over here.
static CHECK: OnceLock<fn() -> io::Result<()>> = OnceLock::new();

/// Registers the backend's interrupt check (the first registration wins; every backend that
/// registers passes the same function).
pub(crate) fn set_check(check: fn() -> io::Result<()>) {
    let _ = CHECK.set(check);
}

/// Whether the job this thread runs was asked to stop (`Err`, `Canceled` inside) or not
/// (`Ok`); always `Ok` before a backend registered its check or outside a job.
pub(crate) fn check() -> io::Result<()> {
    match CHECK.get() {
        Some(check) => check(),
        None => Ok(()),
    }
}
