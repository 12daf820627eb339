//! Simulated processes: programs registered with the world ([`Sim::program`](super::Sim::program))
//! and spawned through the normal `kqio::process` API.
//!
//! Ground rules:
//! 1. A program is an async function of the spawning host's `IoRef` and its arguments; spawning
//!    it runs it as a task of that host (so a host crash ends it too), its output is its exit
//!    code. A name nobody registered is `Unsupported` (no real process is ever started).
//! 2. Any signal sent to a simulated process ends it, as the default action of `SIGTERM`,
//!    `SIGKILL`, `SIGINT` does: its task is dropped and it exits "killed by" that signal.
//! 3. Standard streams are not simulated: `std::process::Command` does not tell how they were
//!    configured, so a simulated child has no pipes (`Command::output` collects nothing).
//! 4. Each host has its own process ids: they count up from 100 in the host's spawn order (a
//!    restart does not reset them, so an id is never reused on a host), and two hosts' children
//!    may have the same id, as on two machines.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::future::Future;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use futures::future::BoxFuture;
use futures::FutureExt;

use super::env::HostId;
use super::unsupported;
use super::world::HostSched;
use crate::io::IoRef;
use crate::process::{ProcessHandle, SpawnedProcess};
use crate::signal::Signal;
use crate::task::current;
use crate::JoinHandle;

/// What a simulated program is started with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProgramArgs {
    /// The arguments after the program's name.
    pub args: Vec<OsString>,
    /// The variables the command set (`Command::env`); `None` for one it removed.
    pub env: Vec<(OsString, Option<OsString>)>,
    /// The working directory the command set, if any.
    pub current_dir: Option<std::path::PathBuf>,
}

type Program = Arc<dyn Fn(IoRef, ProgramArgs) -> BoxFuture<'static, i32> + Send + Sync>;

/// The world's registered programs and each host's next process id.
#[derive(Default)]
pub(crate) struct Programs {
    by_name: Mutex<BTreeMap<OsString, Program>>,
    next_pid: Mutex<BTreeMap<HostId, u32>>,
}

/// A host's first process id.
const FIRST_PID: u32 = 100;

impl Programs {
    pub(crate) fn register<F, Fut>(&self, name: &str, program: F)
    where
        F: Fn(IoRef, ProgramArgs) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = i32> + Send + 'static,
    {
        let p: Program = Arc::new(move |io, args| Box::pin(program(io, args)));
        self.by_name.lock().unwrap_or_else(|e| e.into_inner()).insert(name.into(), p);
    }

    fn get(&self, name: &std::ffi::OsStr) -> Option<Program> {
        self.by_name.lock().unwrap_or_else(|e| e.into_inner()).get(name).cloned()
    }
}

struct SimProcess {
    pid: u32,
    state: Mutex<ProcState>,
}

#[derive(Default)]
struct ProcState {
    exit: Option<ExitStatus>,
    reaped: bool,
    waiters: Vec<Waker>,
    task: Option<JoinHandle<()>>,
}

impl SimProcess {
    fn lock(&self) -> MutexGuard<'_, ProcState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the exit (the first one wins) and wakes the waiters.
    fn finish(&self, status: ExitStatus) {
        let (waiters, task) = {
            let mut st = self.lock();
            if st.exit.is_some() {
                return;
            }
            st.exit = Some(status);
            (std::mem::take(&mut st.waiters), st.task.take())
        };
        // Dropping the handle drops a still-running program's task (a kill); outside the lock.
        drop(task);
        waiters.into_iter().for_each(Waker::wake);
    }
}

fn process(h: &ProcessHandle) -> io::Result<&SimProcess> {
    h.downcast_ref::<SimProcess>()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, crate::net::ForeignHandle))
}

/// `Io::process_spawn` on a simulated host.
pub(crate) fn spawn(
    sched: &Arc<HostSched>,
    host: HostId,
    command: &mut std::process::Command,
) -> io::Result<SpawnedProcess> {
    let world = sched.world();
    let Some(program) = world.programs.get(command.get_program()) else {
        return Err(unsupported("process_spawn of a program not registered with Sim::program"));
    };
    let args = ProgramArgs {
        args: command.get_args().map(|a| a.to_owned()).collect(),
        env: command.get_envs().map(|(k, v)| (k.to_owned(), v.map(|v| v.to_owned()))).collect(),
        current_dir: command.get_current_dir().map(|d| d.to_owned()),
    };
    let pid = {
        let mut next = world.programs.next_pid.lock().unwrap_or_else(|e| e.into_inner());
        let next = next.entry(host).or_insert(FIRST_PID);
        *next += 1;
        *next - 1
    };
    let proc = Arc::new(SimProcess { pid, state: Mutex::default() });
    let io = world.io(host);
    let future = program(io.clone(), args);
    let p = proc.clone();
    let task = io.r#async(async move {
        // A panicking Rust program exits with 101.
        let code = std::panic::AssertUnwindSafe(future).catch_unwind().await.unwrap_or(101);
        p.finish(ExitStatus::from_raw((code & 0xff) << 8));
    });
    {
        let mut st = proc.lock();
        if st.exit.is_none() {
            st.task = Some(task);
        } else {
            drop(st);
            task.detach();
        }
    }
    Ok(SpawnedProcess {
        process: ProcessHandle::new(proc),
        stdin: None,
        stdout: None,
        stderr: None,
    })
}

pub(crate) fn poll_wait(cx: &mut Context<'_>, h: &ProcessHandle) -> Poll<io::Result<ExitStatus>> {
    let p = match process(h) {
        Ok(p) => p,
        Err(e) => return Poll::Ready(Err(e)),
    };
    if let Err(c) = current::check_cancel() {
        return Poll::Ready(Err(c.into()));
    }
    let mut st = p.lock();
    if let Some(status) = st.exit {
        st.reaped = true;
        return Poll::Ready(Ok(status));
    }
    if !st.waiters.iter().any(|w| w.will_wake(cx.waker())) {
        st.waiters.push(cx.waker().clone());
    }
    crate::task::activity::wait_on(crate::task::WaitingOn::Process { pid: p.pid });
    Poll::Pending
}

pub(crate) fn try_wait(h: &ProcessHandle) -> io::Result<Option<ExitStatus>> {
    let p = process(h)?;
    let mut st = p.lock();
    if st.exit.is_some() {
        st.reaped = true;
    }
    Ok(st.exit)
}

pub(crate) fn send_signal(h: &ProcessHandle, signal: Signal) -> io::Result<()> {
    let p = process(h)?;
    if p.lock().reaped {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "kqio: the process was reaped"));
    }
    p.finish(ExitStatus::from_raw(signal.as_raw() & 0x7f));
    Ok(())
}

pub(crate) fn id(h: &ProcessHandle) -> u32 {
    process(h).map_or(0, |p| p.pid)
}
