//! How signal deliveries reach the reactor, per platform: the one `cfg`'d place for signals.
//!
//! | platform | mechanism |
//! | --- | --- |
//! | macOS, FreeBSD, NetBSD, OpenBSD, DragonFly: every platform but Linux (kqueue) | a kqueue of its own per runtime with one `EVFILT_SIGNAL` filter per signal listened for; the runtime's reactor watches that kqueue's descriptor (a kqueue is readable while it holds events), and a drain reads each filter's delivery count |
//! | Linux, Android | a self-pipe: the signal handler counts the delivery in a process-wide table and writes a byte to a process-wide pipe; each runtime watches its own `dup` of the read end |
//!
//! On every platform a handler is installed for each signal listened for (kqueue records a
//! delivery but does not stop the default action, which for most signals ends the process).
//! The handler is async-signal-safe (atomics and `write(2)` only) and calls the handler that was
//! installed before it, if that was a function. Dispositions are left installed when listeners
//! go away (as tokio does): a later delivery is then counted and otherwise ignored.
//!
//! Not every signal can be listened for: `SIGKILL` and `SIGSTOP` cannot be caught at all, and
//! `SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGFPE` and `SIGTRAP` report faults of the thread that raised
//! them, which cannot continue past the fault, so a handler that returns would loop. Listening
//! for those is `InvalidInput`, and so is listening for `SIGURG`, which kqio uses to interrupt
//! blocked pool threads (`sys/interrupt.rs`: its handler must not have `SA_RESTART`).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

/// One more than the highest signal number handled (FreeBSD's `_SIG_MAXSIG` is 128).
pub(crate) const MAX_SIGNAL: usize = 129;

/// Whether `sig` may be listened for (see the module docs).
pub(crate) fn check(sig: i32) -> io::Result<()> {
    let forbidden = [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
        libc::SIGTRAP,
        super::interrupt::SIGNAL,
    ];
    if sig <= 0 || sig as usize >= MAX_SIGNAL || forbidden.contains(&sig) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("kqio: signal {sig} cannot be listened for"),
        ));
    }
    Ok(())
}

/// The handler that was installed before ours, per signal (`sa_sigaction` and whether it takes
/// `siginfo`), so that ours can call it; 0 when there was none (default or ignore).
static PREVIOUS: [AtomicUsize; MAX_SIGNAL] = [const { AtomicUsize::new(0) }; MAX_SIGNAL];
static PREVIOUS_SIGINFO: [AtomicUsize; MAX_SIGNAL] = [const { AtomicUsize::new(0) }; MAX_SIGNAL];
/// Signals whose handler is installed (installation happens once per signal per process).
static INSTALLED: Mutex<[bool; MAX_SIGNAL]> = Mutex::new([false; MAX_SIGNAL]);

/// Calls the handler that was installed before one of kqio's (`prev`, 0 for none), with the
/// arguments the kernel gave ours, as the kernel would have called it. Async-signal-safe.
///
/// # Safety
///
/// `prev` is 0 or a value read from the `sa_sigaction` of a handler (not `SIG_DFL`/`SIG_IGN`),
/// and `siginfo` is whether that handler was installed with `SA_SIGINFO`.
pub(crate) unsafe fn call_previous(
    prev: usize,
    siginfo: bool,
    sig: libc::c_int,
    info: *mut libc::siginfo_t,
    ctx: *mut libc::c_void,
) {
    if prev == 0 {
        return;
    }
    if siginfo {
        // SAFETY: the caller promises `prev` is a handler installed with `SA_SIGINFO`, so it is
        // a function of this signature; we pass on our own arguments.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(prev) };
        f(sig, info, ctx);
    } else {
        // SAFETY: as above, for a handler installed without `SA_SIGINFO`.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(prev) };
        f(sig);
    }
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    if sig > 0 && (sig as usize) < MAX_SIGNAL {
        imp::on_signal(sig);
        let prev = PREVIOUS[sig as usize].load(Ordering::Relaxed);
        let siginfo = PREVIOUS_SIGINFO[sig as usize].load(Ordering::Relaxed) != 0;
        // SAFETY: `prev` is 0 or was read from the `sa_sigaction` of the handler installed
        // before ours, and `siginfo` says whether that one was installed with `SA_SIGINFO`.
        unsafe { call_previous(prev, siginfo, sig, info, ctx) };
    }
}

/// Installs the handler for `sig` once per process.
pub(crate) fn install(sig: i32) -> io::Result<()> {
    check(sig)?;
    let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if installed[sig as usize] {
        return Ok(());
    }
    // SAFETY: `sigaction` with a zeroed, then filled, `sigaction` struct we own: the handler is
    // a valid `extern "C"` function for `SA_SIGINFO`, the mask is emptied with `sigemptyset`.
    // `old` receives the previous disposition.
    unsafe {
        let mut new: libc::sigaction = std::mem::zeroed();
        new.sa_sigaction = handler as *const () as usize;
        new.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
        libc::sigemptyset(&mut new.sa_mask);
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(sig, &new, &mut old) != 0 {
            return Err(io::Error::last_os_error());
        }
        let prev = old.sa_sigaction;
        if prev != libc::SIG_DFL && prev != libc::SIG_IGN && prev != handler as *const () as usize {
            PREVIOUS_SIGINFO[sig as usize]
                .store(usize::from(old.sa_flags & libc::SA_SIGINFO != 0), Ordering::Relaxed);
            PREVIOUS[sig as usize].store(prev, Ordering::Release);
        }
    }
    installed[sig as usize] = true;
    Ok(())
}

fn cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: `fcntl` on a descriptor we own; no pointers.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub(crate) use imp::Source;

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod imp {
    use super::*;

    pub(super) fn on_signal(_sig: i32) {
        // kqueue records the delivery itself; the handler only replaces the default action.
    }

    /// A kqueue holding one `EVFILT_SIGNAL` filter per signal listened for, and the deliveries
    /// drained from it so far.
    pub(crate) struct Source {
        kq: OwnedFd,
        counts: [AtomicU64; MAX_SIGNAL],
    }

    fn kevent(
        kq: RawFd,
        changes: &[libc::kevent],
        events: &mut [libc::kevent],
    ) -> io::Result<usize> {
        let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: the change and event buffers are valid for their lengths, which are passed
        // with them; the zero timeout makes the call return at once.
        let n = unsafe {
            libc::kevent(
                kq,
                changes.as_ptr(),
                changes.len() as _,
                events.as_mut_ptr(),
                events.len() as _,
                &zero,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    impl Source {
        pub(crate) fn new() -> io::Result<Source> {
            // SAFETY: `kqueue` takes no arguments; the result is checked before use.
            let fd = unsafe { libc::kqueue() };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `fd` is a new descriptor that nothing else owns.
            let kq = unsafe { OwnedFd::from_raw_fd(fd) };
            cloexec(fd)?;
            Ok(Source { kq, counts: [const { AtomicU64::new(0) }; MAX_SIGNAL] })
        }

        /// Starts recording deliveries of `sig` (idempotent).
        pub(crate) fn add(&self, sig: i32) -> io::Result<()> {
            // SAFETY: an all-zero `kevent` is valid (plain integers and a null `udata`).
            let mut ev: libc::kevent = unsafe { std::mem::zeroed() };
            ev.ident = sig as _;
            ev.filter = libc::EVFILT_SIGNAL as _;
            ev.flags = (libc::EV_ADD | libc::EV_CLEAR) as _;
            kevent(self.kq.as_raw_fd(), std::slice::from_ref(&ev), &mut [])?;
            Ok(())
        }

        /// Reads the deliveries recorded since the last drain into the counts; `WouldBlock`
        /// when there were none.
        pub(crate) fn drain(&self) -> io::Result<()> {
            // SAFETY: as in `add`.
            let mut events: [libc::kevent; 16] = unsafe { std::mem::zeroed() };
            let mut any = false;
            loop {
                let n = kevent(self.kq.as_raw_fd(), &[], &mut events)?;
                for ev in &events[..n] {
                    let sig = ev.ident as usize;
                    if ev.filter == libc::EVFILT_SIGNAL as _ && sig < MAX_SIGNAL {
                        self.counts[sig].fetch_add(ev.data.max(1) as u64, Ordering::SeqCst);
                        any = true;
                    }
                }
                if n < events.len() {
                    break;
                }
            }
            if any {
                Ok(())
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            }
        }

        /// Deliveries of `sig` counted so far.
        pub(crate) fn count(&self, sig: i32) -> u64 {
            self.counts[sig as usize].load(Ordering::SeqCst)
        }
    }

    impl AsRawFd for Source {
        fn as_raw_fd(&self) -> RawFd {
            self.kq.as_raw_fd()
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod imp {
    use std::sync::atomic::AtomicI32;
    use std::sync::OnceLock;

    use super::*;

    /// Deliveries per signal, counted by the handler (process-wide).
    static COUNTS: [AtomicU64; MAX_SIGNAL] = [const { AtomicU64::new(0) }; MAX_SIGNAL];
    /// The write end of the process-wide self-pipe, -1 until it exists. Never closed: the
    /// handler may run at any moment and must never write into a reused descriptor number.
    static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);
    /// The read end, kept for `dup` by each runtime.
    static PIPE_READ: OnceLock<io::Result<OwnedFd>> = OnceLock::new();

    fn nonblocking(fd: RawFd) -> io::Result<()> {
        // SAFETY: `fcntl` on a descriptor we own; no pointers.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }

    pub(super) fn on_signal(sig: i32) {
        COUNTS[sig as usize].fetch_add(1, Ordering::SeqCst);
        let fd = PIPE_WRITE.load(Ordering::Acquire);
        if fd >= 0 {
            let byte = 1u8;
            // SAFETY: `write` of one byte from a local to the pipe; async-signal-safe. A full
            // pipe (EAGAIN) is fine: the reader has a wake-up pending already. `errno` is saved
            // and restored so that the interrupted code does not see it change.
            unsafe {
                let errno = *errno_location();
                libc::write(fd, (&byte as *const u8).cast(), 1);
                *errno_location() = errno;
            }
        }
    }

    unsafe fn errno_location() -> *mut libc::c_int {
        // SAFETY: the C library's thread-local errno; always valid.
        unsafe { libc::__errno_location() }
    }

    fn pipe_read() -> io::Result<&'static OwnedFd> {
        let r = PIPE_READ.get_or_init(|| {
            let mut fds = [0; 2];
            // SAFETY: `pipe` writes two descriptors into `fds`, which has room for them.
            if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: both are new descriptors nothing else owns.
            let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
            for fd in [r.as_raw_fd(), w.as_raw_fd()] {
                cloexec(fd)?;
                nonblocking(fd)?;
            }
            PIPE_WRITE.store(std::os::fd::IntoRawFd::into_raw_fd(w), Ordering::Release);
            Ok(r)
        });
        r.as_ref().map_err(|e| io::Error::new(e.kind(), e.to_string()))
    }

    /// This runtime's `dup` of the self-pipe's read end.
    pub(crate) struct Source {
        read: OwnedFd,
    }

    impl Source {
        pub(crate) fn new() -> io::Result<Source> {
            let read = pipe_read()?.try_clone()?;
            cloexec(read.as_raw_fd())?;
            Ok(Source { read })
        }

        /// Deliveries are recorded by the handler: nothing to do per signal.
        pub(crate) fn add(&self, _sig: i32) -> io::Result<()> {
            Ok(())
        }

        /// Empties the pipe; `WouldBlock` when it was empty.
        pub(crate) fn drain(&self) -> io::Result<()> {
            let mut buf = [0u8; 64];
            let mut any = false;
            loop {
                // SAFETY: `read` into a local buffer of the length passed.
                let n = unsafe {
                    libc::read(self.read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())
                };
                if n > 0 {
                    any = true;
                    continue;
                }
                let e = io::Error::last_os_error();
                if n < 0 && e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                if n < 0 && e.kind() != io::ErrorKind::WouldBlock {
                    return Err(e);
                }
                break;
            }
            if any {
                Ok(())
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            }
        }

        /// Deliveries of `sig` counted so far (process-wide).
        pub(crate) fn count(&self, sig: i32) -> u64 {
            COUNTS[sig as usize].load(Ordering::SeqCst)
        }
    }

    impl AsRawFd for Source {
        fn as_raw_fd(&self) -> RawFd {
            self.read.as_raw_fd()
        }
    }
}
