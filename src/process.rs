//! Child processes (Zig `std.process` through `Io`): [`Command`], [`Child`], its pipes, and
//! the process helpers [`executable_path`] and [`current_dir`].
//!
//! A child's exit is noticed by the reactor (a pidfd on Linux, `EVFILT_PROC` on kqueue
//! platforms, `SIGCHLD` where neither exists), so [`Child::wait`] blocks no thread and is
//! cancelable. Piped stdin/stdout/stderr are non-blocking and implement
//! `futures::io::{AsyncRead, AsyncWrite}`. A [`Child`] dropped before it was waited for is
//! reaped in the background: no zombies. Every descriptor kqio makes is close-on-exec, so a
//! child inherits none of the runtime's.
//!
//! Writing to the stdin of a child that has exited raises `SIGPIPE` where it is not ignored
//! (Rust programs ignore it by default; then the write fails with `BrokenPipe`).

use std::any::Any;
use std::ffi::OsStr;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{ExitStatus, Output, Stdio};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::io::{AsyncRead, AsyncWrite};

use crate::signal::Signal;
use crate::{Io, IoRef};

macro_rules! opaque_handle {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            state: Arc<dyn Any + Send + Sync>,
        }

        impl $name {
            /// Wraps a backend's state. For backend implementors.
            pub fn new<T: Any + Send + Sync>(state: Arc<T>) -> $name {
                $name { state }
            }

            /// The backend's state, if this handle was made by that backend from a `T`. For
            /// backend implementors.
            pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
                self.state.downcast_ref::<T>()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    };
}

opaque_handle!(
    /// An opaque handle to a child process owned by an [`Io`] backend. Dropping the last clone
    /// of an unreaped child hands it to the backend's background reaping.
    ProcessHandle
);

opaque_handle!(
    /// An opaque handle to one end of a pipe to a child, owned by an [`Io`] backend; closed
    /// when the last clone is dropped.
    PipeHandle
);

/// What [`Io::process_spawn`] returns: the child and its piped standard streams.
#[derive(Debug)]
pub struct SpawnedProcess {
    /// The child.
    pub process: ProcessHandle,
    /// Its stdin, if piped.
    pub stdin: Option<PipeHandle>,
    /// Its stdout, if piped.
    pub stdout: Option<PipeHandle>,
    /// Its stderr, if piped.
    pub stderr: Option<PipeHandle>,
}

/// A process builder in the shape of `std::process::Command` (which it wraps; `From` one).
///
/// # Examples
///
/// ```
/// use kqio::process::Command;
///
/// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
/// let io = rt.io();
/// let out = rt.block_on(Command::new("echo").arg("hello").output(&io))?;
/// assert!(out.status.success());
/// assert_eq!(out.stdout, b"hello\n");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Command {
    inner: std::process::Command,
}

impl From<std::process::Command> for Command {
    fn from(inner: std::process::Command) -> Command {
        Command { inner }
    }
}

impl Command {
    /// A command running `program` (looked up in `PATH` if it has no slash).
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command { inner: std::process::Command::new(program) }
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.inner.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inner.args(args);
        self
    }

    /// Sets an environment variable.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command {
        self.inner.env(key, value);
        self
    }

    /// Removes an environment variable.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.inner.env_remove(key);
        self
    }

    /// Starts from an empty environment.
    pub fn env_clear(&mut self) -> &mut Command {
        self.inner.env_clear();
        self
    }

    /// Sets the working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.inner.current_dir(dir);
        self
    }

    /// Sets stdin: `Stdio::inherit()` (the default), `null()` or `piped()`.
    pub fn stdin(&mut self, cfg: Stdio) -> &mut Command {
        self.inner.stdin(cfg);
        self
    }

    /// Sets stdout.
    pub fn stdout(&mut self, cfg: Stdio) -> &mut Command {
        self.inner.stdout(cfg);
        self
    }

    /// Sets stderr.
    pub fn stderr(&mut self, cfg: Stdio) -> &mut Command {
        self.inner.stderr(cfg);
        self
    }

    /// The wrapped `std::process::Command`, for what this builder does not expose
    /// (`std::os::unix::process::CommandExt`: uid, process group, ...).
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.inner
    }

    /// Starts the process (Zig `process.spawn`).
    ///
    /// # Errors
    ///
    /// `NotFound` if the program does not exist, and other errors of `fork`/`exec`.
    pub fn spawn(&mut self, io: &IoRef) -> io::Result<Child> {
        let s = io.process_spawn(&mut self.inner)?;
        Ok(Child {
            io: io.clone(),
            handle: s.process,
            stdin: s.stdin.map(|h| ChildStdin { io: io.clone(), handle: h }),
            stdout: s.stdout.map(|h| ChildStdout { io: io.clone(), handle: h }),
            stderr: s.stderr.map(|h| ChildStderr { io: io.clone(), handle: h }),
        })
    }

    /// Runs the process with stdout and stderr piped (stdin null unless set), collects both
    /// concurrently (a child filling both pipes cannot deadlock it), and waits for it.
    ///
    /// # Cancellation
    ///
    /// A cancellation point; the child is then reaped in the background.
    pub async fn output(&mut self, io: &IoRef) -> io::Result<Output> {
        self.inner.stdout(Stdio::piped()).stderr(Stdio::piped());
        self.spawn(io)?.wait_with_output().await
    }

    /// Runs the process and waits for its exit status.
    ///
    /// # Cancellation
    ///
    /// A cancellation point.
    pub async fn status(&mut self, io: &IoRef) -> io::Result<ExitStatus> {
        self.spawn(io)?.wait().await
    }
}

/// A running (or exited) child process.
#[derive(Debug)]
pub struct Child {
    io: IoRef,
    handle: ProcessHandle,
    /// The child's stdin, if piped. Take it to write; drop it to close the pipe.
    pub stdin: Option<ChildStdin>,
    /// The child's stdout, if piped.
    pub stdout: Option<ChildStdout>,
    /// The child's stderr, if piped.
    pub stderr: Option<ChildStderr>,
}

impl Child {
    /// The process id.
    pub fn id(&self) -> u32 {
        self.io.process_id(&self.handle)
    }

    /// Waits for the child to exit and returns its status (Zig `child.wait`). Closes stdin
    /// first, as a child reading it to its end would otherwise never exit.
    ///
    /// # Cancellation
    ///
    /// A cancellation point; blocks no thread. A canceled wait leaves the child running; it is
    /// reaped by a later wait or in the background once dropped.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        poll_fn(|cx| self.io.process_poll_wait(cx, &self.handle)).await
    }

    /// The exit status if the child has exited, without waiting.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.io.process_try_wait(&self.handle)
    }

    /// Sends `SIGKILL` (Zig `child.kill`). An error if the child was already reaped.
    pub fn kill(&mut self) -> io::Result<()> {
        self.signal(Signal::from_raw(libc::SIGKILL))
    }

    /// Sends `signal`. An error if the child was already reaped.
    pub fn signal(&mut self, signal: Signal) -> io::Result<()> {
        self.io.process_signal(&self.handle, signal)
    }

    /// Collects stdout and stderr (those that are piped) concurrently, then waits.
    ///
    /// # Cancellation
    ///
    /// A cancellation point.
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        async fn collect<R: AsyncRead + Unpin>(r: Option<R>) -> io::Result<Vec<u8>> {
            let mut v = Vec::new();
            if let Some(mut r) = r {
                futures::io::AsyncReadExt::read_to_end(&mut r, &mut v).await?;
            }
            Ok(v)
        }
        let (stdout, stderr) =
            futures::future::try_join(collect(self.stdout.take()), collect(self.stderr.take()))
                .await?;
        let status = self.wait().await?;
        Ok(Output { status, stdout, stderr })
    }
}

macro_rules! pipe_reader {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name {
            io: IoRef,
            handle: PipeHandle,
        }

        impl $name {
            /// Reads into `buf`; `Ok(0)` once the child closed its end.
            ///
            /// # Cancellation
            ///
            /// A cancellation point.
            pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
                poll_fn(|cx| self.io.pipe_poll_read(cx, &self.handle, buf)).await
            }
        }

        impl AsyncRead for $name {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                self.io.pipe_poll_read(cx, &self.handle, buf)
            }
        }
    };
}

pipe_reader!(
    /// The reading end of a child's stdout.
    ChildStdout
);
pipe_reader!(
    /// The reading end of a child's stderr.
    ChildStderr
);

/// The writing end of a child's stdin. Drop it to close the pipe (the child reads its end).
#[derive(Debug)]
pub struct ChildStdin {
    io: IoRef,
    handle: PipeHandle,
}

impl ChildStdin {
    /// Writes some of `buf`.
    ///
    /// # Cancellation
    ///
    /// A cancellation point.
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.io.pipe_poll_write(cx, &self.handle, buf)).await
    }

    /// Writes all of `buf`.
    ///
    /// # Cancellation
    ///
    /// A cancellation point at each write.
    pub async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let n = self.write(buf).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            buf = &buf[n..];
        }
        Ok(())
    }
}

impl AsyncWrite for ChildStdin {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.io.pipe_poll_write(cx, &self.handle, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The pipe closes when this is dropped; there is nothing to flush.
        Poll::Ready(Ok(()))
    }
}

/// The path of the running executable (Zig `process.executablePath`).
pub fn executable_path(io: &dyn Io) -> io::Result<PathBuf> {
    io.process_executable_path()
}

/// The current working directory (Zig `process.currentDir`).
pub fn current_dir(io: &dyn Io) -> io::Result<PathBuf> {
    io.process_current_dir()
}
