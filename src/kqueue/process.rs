//! The backend side of the vtable's process methods: children spawned with
//! `std::process::Command`, their exit noticed through the reactor (`sys/process.rs`: a pidfd,
//! or an `EVFILT_PROC` kqueue), their pipes non-blocking and registered with the reactor.
//!
//! Ground rules:
//! 1. A child is reaped (`waitpid`) exactly once, under its state's lock, and a signal is sent
//!    only under that lock while it is unreaped: a pid is never signaled after it was reaped
//!    (and possibly reused).
//! 2. A child whose handle is dropped unreaped is reaped in the background: a detached task of
//!    the runtime waits for its exit. If the runtime is shut down meanwhile (or already), the
//!    child is an orphan: a small thread of its own (`kqio-reaper`, 64 KiB of stack) blocks in
//!    `waitpid` for it and ends once it is reaped, so no zombie waits for a later spawn. Only if
//!    that thread cannot be started does the child go to a process-wide orphan list that every
//!    later spawn tries to reap.
//! 3. Without an exit descriptor (old kernels), the wait listens for `SIGCHLD` and tries
//!    `waitpid` after each delivery.

use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Child, ExitStatus};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use super::async_fd::AsyncFd;
use super::reactor::{Direction, Reactor};
use super::scheduler::Shared;
use super::signal::SignalDriver;
use crate::process::{PipeHandle, ProcessHandle, SpawnedProcess};
use crate::signal::Signal;
use crate::sys::process::exit_fd;
use crate::task::{current, Schedule};

/// Children whose handle and runtime are gone before they exited, and for which no reaper
/// thread could be started (ground rule 2).
static ORPHANS: Mutex<Vec<Child>> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn reap_orphans() {
    let mut orphans = lock(&ORPHANS);
    orphans.retain_mut(|c| matches!(c.try_wait(), Ok(None)));
}

enum ExitWatch {
    Fd(AsyncFd<OwnedFd>),
    Sigchld { driver: Arc<SignalDriver>, seen: u64 },
}

/// A child and its exit status once reaped.
struct Exit {
    /// `None` once reaped.
    child: Option<Child>,
    status: Option<ExitStatus>,
}

impl Exit {
    /// Reaps the child if it exited (ground rule 1: called under the process's lock).
    fn try_reap(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(s) = self.status {
            return Ok(Some(s));
        }
        let child = self.child.as_mut().expect("unreaped until status is set");
        if let Some(s) = child.try_wait()? {
            self.status = Some(s);
            self.child = None;
        }
        Ok(self.status)
    }
}

impl Drop for Exit {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(None) = child.try_wait() {
                reap_orphan(child);
            }
        }
    }
}

/// Reaps an orphan (ground rule 2) on a thread of its own that waits for its exit.
fn reap_orphan(child: Child) {
    // The child is handed over through a slot, so that it is not lost (left a zombie for good)
    // if the thread cannot be started: then it is still here, for the orphan list.
    let slot = Arc::new(Mutex::new(Some(child)));
    let theirs = slot.clone();
    let started = std::thread::Builder::new()
        .name("kqio-reaper".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            let child = lock(&theirs).take();
            if let Some(mut child) = child {
                let _ = child.wait();
            }
        });
    if started.is_err() {
        if let Some(child) = lock(&slot).take() {
            lock(&ORPHANS).push(child);
        }
    }
}

/// A child and what notices its exit.
struct Reaper {
    exit: Exit,
    watch: ExitWatch,
}

impl Reaper {
    fn poll_exit(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        if let Some(s) = self.exit.status {
            return Poll::Ready(Ok(s));
        }
        let exit = &mut self.exit;
        match &mut self.watch {
            ExitWatch::Fd(fd) => fd.poll_io(cx, Direction::Read, |_| match exit.try_reap()? {
                Some(s) => Ok(s),
                None => Err(io::ErrorKind::WouldBlock.into()),
            }),
            ExitWatch::Sigchld { driver, seen } => loop {
                if let Some(s) = exit.try_reap()? {
                    return Poll::Ready(Ok(s));
                }
                match driver.poll_signal(cx, Signal::CHILD, seen) {
                    Poll::Ready(Ok(())) => continue,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                }
            },
        }
    }
}

/// A child of this backend: what a `ProcessHandle` made here holds.
pub(crate) struct Process {
    pid: u32,
    reaper: Mutex<Option<Reaper>>,
    shared: Arc<Shared>,
}

impl Drop for Process {
    fn drop(&mut self) {
        let Some(mut reaper) = self.reaper.get_mut().unwrap_or_else(|e| e.into_inner()).take()
        else {
            return;
        };
        if let Ok(Some(_)) = reaper.exit.try_reap() {
            return;
        }
        // Ground rule 2: wait for the exit in a detached task.
        if self.shared.reserve().is_ok() {
            let owner = self.shared.clone() as Arc<dyn Schedule>;
            crate::task::spawn::spawn(owner, async move {
                let _ = poll_fn(|cx| reaper.poll_exit(cx)).await;
            })
            .detach();
        }
        // Otherwise `reaper` is dropped here and its child joins the orphans.
    }
}

fn process(h: &ProcessHandle) -> io::Result<&Process> {
    h.downcast_ref::<Process>().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "kqio: process handle of another Io backend")
    })
}

/// A non-blocking pipe end registered with the reactor.
pub(crate) struct Pipe {
    fd: AsyncFd<std::fs::File>,
}

fn pipe(h: &PipeHandle) -> io::Result<&Pipe> {
    h.downcast_ref::<Pipe>().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "kqio: pipe handle of another Io backend")
    })
}

fn register_pipe(reactor: &Arc<Reactor>, fd: OwnedFd) -> io::Result<PipeHandle> {
    // SAFETY: `fcntl` on a descriptor we own; no pointers.
    unsafe {
        let raw = fd.as_raw_fd();
        let flags = libc::fcntl(raw, libc::F_GETFL);
        if flags < 0 || libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let fd = AsyncFd::with_reactor(reactor.clone(), std::fs::File::from(fd))?;
    Ok(PipeHandle::new(Arc::new(Pipe { fd })))
}

pub(crate) fn spawn(
    shared: &Arc<Shared>,
    signals: impl FnOnce() -> io::Result<Arc<SignalDriver>>,
    command: &mut std::process::Command,
) -> io::Result<SpawnedProcess> {
    reap_orphans();
    let reactor = &shared.reactor;
    // Without an exit descriptor, SIGCHLD must be listened for before the child can exit.
    let mut child = command.spawn()?;
    let pid = child.id();
    let watch = match exit_fd(pid) {
        Ok(Some(fd)) => ExitWatch::Fd(AsyncFd::with_reactor(reactor.clone(), fd)?),
        Ok(None) => {
            let driver = signals()?;
            let seen = driver.listen(Signal::CHILD)?;
            ExitWatch::Sigchld { driver, seen }
        }
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
    };
    let stdin = child.stdin.take().map(|p| register_pipe(reactor, p.into())).transpose()?;
    let stdout = child.stdout.take().map(|p| register_pipe(reactor, p.into())).transpose()?;
    let stderr = child.stderr.take().map(|p| register_pipe(reactor, p.into())).transpose()?;
    let reaper = Reaper { exit: Exit { child: Some(child), status: None }, watch };
    let process = Process { pid, reaper: Mutex::new(Some(reaper)), shared: shared.clone() };
    Ok(SpawnedProcess { process: ProcessHandle::new(Arc::new(process)), stdin, stdout, stderr })
}

pub(crate) fn poll_wait(cx: &mut Context<'_>, h: &ProcessHandle) -> Poll<io::Result<ExitStatus>> {
    let p = match process(h) {
        Ok(p) => p,
        Err(e) => return Poll::Ready(Err(e)),
    };
    if let Err(c) = current::check_cancel() {
        return Poll::Ready(Err(c.into()));
    }
    let mut reaper = lock(&p.reaper);
    let r = reaper.as_mut().expect("present until drop").poll_exit(cx);
    // Over the reactor's or the signal's record (the exit descriptor, `SIGCHLD`): what the task
    // awaits is the child's exit (the simulator's record too).
    crate::task::activity::pending_on(r, crate::task::WaitingOn::Process { pid: p.pid })
}

pub(crate) fn try_wait(h: &ProcessHandle) -> io::Result<Option<ExitStatus>> {
    let p = process(h)?;
    let mut reaper = lock(&p.reaper);
    reaper.as_mut().expect("present until drop").exit.try_reap()
}

pub(crate) fn send_signal(h: &ProcessHandle, signal: Signal) -> io::Result<()> {
    let p = process(h)?;
    let reaper = lock(&p.reaper);
    let reaper = reaper.as_ref().expect("present until drop");
    if reaper.exit.status.is_some() {
        // Already reaped (ground rule 1): its pid may belong to another process now.
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "kqio: the process was reaped"));
    }
    // SAFETY: `kill` with the pid of our unreaped child (it cannot be reused while unreaped).
    if unsafe { libc::kill(p.pid as libc::pid_t, signal.as_raw()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub(crate) fn id(h: &ProcessHandle) -> u32 {
    process(h).map_or(0, |p| p.pid)
}

pub(crate) fn poll_read(
    cx: &mut Context<'_>,
    h: &PipeHandle,
    buf: &mut [u8],
) -> Poll<io::Result<usize>> {
    let p = match pipe(h) {
        Ok(p) => p,
        Err(e) => return Poll::Ready(Err(e)),
    };
    if let Err(c) = current::check_cancel() {
        return Poll::Ready(Err(c.into()));
    }
    if buf.is_empty() {
        return Poll::Ready(Ok(0));
    }
    let want = buf.len();
    p.fd.poll_io_stream(cx, Direction::Read, want, |mut f| f.read(buf))
}

pub(crate) fn poll_write(
    cx: &mut Context<'_>,
    h: &PipeHandle,
    buf: &[u8],
) -> Poll<io::Result<usize>> {
    let p = match pipe(h) {
        Ok(p) => p,
        Err(e) => return Poll::Ready(Err(e)),
    };
    if let Err(c) = current::check_cancel() {
        return Poll::Ready(Err(c.into()));
    }
    if buf.is_empty() {
        return Poll::Ready(Ok(0));
    }
    p.fd.poll_io_stream(cx, Direction::Write, buf.len(), |mut f| f.write(buf))
}
