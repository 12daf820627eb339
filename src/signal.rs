//! Signals (`io.signal(kind)`): a stream of deliveries of one signal, and [`ctrl_c`].
//!
//! On kqueue platforms deliveries come through an `EVFILT_SIGNAL` filter; on Linux through a
//! self-pipe written by the signal handler (`src/sys/signal.rs` has the details). Several
//! listeners of one signal (in one runtime or several) are all notified of each delivery.
//! Deliveries that arrive close together may be reported as one, as with every signal
//! mechanism: a listener learns "at least one delivery since you last looked".
//!
//! # Which signals can be handled
//!
//! `SIGKILL` and `SIGSTOP` cannot be caught; `SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGFPE` and `SIGTRAP`
//! report faults the faulting thread cannot continue past. Listening for any of these is
//! `InvalidInput`. Listening installs a process-wide handler for the signal that stays
//! installed: from then on the signal's default action (for `SIGINT`, ending the process) no
//! longer happens, and a handler installed before kqio's is still called.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::IoRef;

/// A signal number, with names for the usual ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signal(i32);

impl Signal {
    /// `SIGINT`: Ctrl-C at a terminal.
    pub const INTERRUPT: Signal = Signal(libc::SIGINT);
    /// `SIGTERM`: the polite request to stop.
    pub const TERMINATE: Signal = Signal(libc::SIGTERM);
    /// `SIGHUP`: the terminal went away; by convention also "reload the configuration".
    pub const HANGUP: Signal = Signal(libc::SIGHUP);
    /// `SIGQUIT`.
    pub const QUIT: Signal = Signal(libc::SIGQUIT);
    /// `SIGUSR1`.
    pub const USER1: Signal = Signal(libc::SIGUSR1);
    /// `SIGUSR2`.
    pub const USER2: Signal = Signal(libc::SIGUSR2);
    /// `SIGCHLD`: a child process changed state.
    pub const CHILD: Signal = Signal(libc::SIGCHLD);
    /// `SIGWINCH`: the terminal's size changed.
    pub const WINDOW_CHANGE: Signal = Signal(libc::SIGWINCH);
    /// `SIGPIPE`.
    pub const PIPE: Signal = Signal(libc::SIGPIPE);
    /// `SIGALRM`.
    pub const ALARM: Signal = Signal(libc::SIGALRM);

    /// The signal with number `n` (as in `<signal.h>`).
    pub const fn from_raw(n: i32) -> Signal {
        Signal(n)
    }

    /// The signal's number.
    pub const fn as_raw(self) -> i32 {
        self.0
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "signal {}", self.0)
    }
}

/// A listener for one signal: each [`recv`](Self::recv) returns after a delivery that happened
/// since the listener was made or last returned. Also a `futures::Stream` of `io::Result<()>`.
///
/// # Examples
///
/// ```
/// use kqio::signal::{Signal, Signals};
///
/// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
/// let io = rt.io();
/// rt.block_on(async {
///     let mut usr1 = Signals::new(&io, Signal::USER1)?;
///     // Signal ourselves, for the example.
///     std::process::Command::new("kill")
///         .args(["-USR1", &std::process::id().to_string()])
///         .status()?;
///     usr1.recv().await
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Signals {
    io: IoRef,
    signal: Signal,
    seen: u64,
}

impl Signals {
    /// Starts listening for `signal` (Zig has no equivalent; kqio's `io.signal(kind)`).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a signal that cannot be handled (see the module docs); the OS error if
    /// the handler or filter cannot be installed.
    pub fn new(io: &IoRef, signal: Signal) -> io::Result<Signals> {
        let seen = io.signal_listen(signal)?;
        Ok(Signals { io: io.clone(), signal, seen })
    }

    /// The signal listened for.
    pub fn signal(&self) -> Signal {
        self.signal
    }

    /// Waits for the next delivery.
    ///
    /// # Errors
    ///
    /// `Canceled` (see [`Canceled::is_canceled`](crate::Canceled::is_canceled)) on cancellation
    /// or once the runtime has shut down.
    ///
    /// # Cancellation
    ///
    /// A cancellation point; a delivery is not consumed by a canceled wait.
    pub async fn recv(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.io.signal_poll(cx, self.signal, &mut self.seen)).await
    }
}

impl futures::Stream for Signals {
    type Item = io::Result<()>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        this.io.signal_poll(cx, this.signal, &mut this.seen).map(Some)
    }
}

/// Waits for Ctrl-C (`SIGINT`) once; for graceful shutdown. Listening starts at the call.
///
/// # Errors
///
/// As [`Signals::new`] and [`Signals::recv`].
///
/// # Cancellation
///
/// A cancellation point.
pub async fn ctrl_c(io: &IoRef) -> io::Result<()> {
    Signals::new(io, Signal::INTERRUPT)?.recv().await
}
