//! The backend side of the vtable's signal methods: one `sys::signal::Source` per runtime (made
//! on first use), registered with the reactor; every listener compares the source's delivery
//! count for its signal with the count it has seen.
//!
//! Ground rule: a listener checks the count, then waits for the source's readiness, then checks
//! the count again before returning `Pending`. Deliveries are counted before the source becomes
//! readable (the handler counts before it writes the pipe; a kqueue drain counts before it
//! clears readiness), so whichever of these a delivery races with, the listener sees it or is
//! woken for it. Any listener may drain the source; the readiness event wakes all of them.

use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::async_fd::AsyncFd;
use super::reactor::{Direction, Reactor};
use crate::signal::Signal;
use crate::sys::signal::{self as sys, Source};
use crate::task::current;

pub(crate) struct SignalDriver {
    source: AsyncFd<Source>,
}

impl SignalDriver {
    pub(crate) fn new(reactor: &Arc<Reactor>) -> io::Result<SignalDriver> {
        Ok(SignalDriver { source: AsyncFd::with_reactor(reactor.clone(), Source::new()?)? })
    }

    pub(crate) fn listen(&self, signal: Signal) -> io::Result<u64> {
        let sig = signal.as_raw();
        sys::check(sig)?;
        // Filter first, then handler: a delivery between the two is then recorded by kqueue
        // (and its default action is still the default, as it was before the call).
        self.source.get_ref().add(sig)?;
        sys::install(sig)?;
        Ok(self.source.get_ref().count(sig))
    }

    /// A cancellation point, then [`poll_signal`](Self::poll_signal).
    pub(crate) fn poll(
        &self,
        cx: &mut Context<'_>,
        signal: Signal,
        seen: &mut u64,
    ) -> Poll<io::Result<()>> {
        if let Err(c) = current::check_cancel() {
            return Poll::Ready(Err(c.into()));
        }
        self.poll_signal(cx, signal, seen)
    }

    /// `Ready` once `signal` was delivered since `seen` (updated); not a cancellation point.
    pub(crate) fn poll_signal(
        &self,
        cx: &mut Context<'_>,
        signal: Signal,
        seen: &mut u64,
    ) -> Poll<io::Result<()>> {
        let sig = signal.as_raw();
        if sys::check(sig).is_err() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "kqio: not a signal that can be listened for",
            )));
        }
        let src = self.source.get_ref();
        loop {
            let count = src.count(sig);
            if count != *seen {
                *seen = count;
                return Poll::Ready(Ok(()));
            }
            match self.source.poll_io(cx, Direction::Read, |s| s.drain()) {
                Poll::Ready(Ok(())) => continue,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    let count = src.count(sig);
                    if count != *seen {
                        *seen = count;
                        return Poll::Ready(Ok(()));
                    }
                    // Over the reactor's read readiness (of the signal source): what the task
                    // awaits is the signal (the simulator's record too).
                    crate::task::activity::wait_on(crate::task::WaitingOn::Signal { signal });
                    return Poll::Pending;
                }
            }
        }
    }
}
