//! What TCP and Unix listeners share: accept, and its backoff when descriptors run out.

use std::future::poll_fn;
use std::io;
use std::sync::Mutex;

use super::{DescriptorsExhausted, SocketAddress, SocketHandle};
use crate::time::{Clock, Duration, Timeout, Timestamp};
use crate::IoRef;

/// The first wait after `EMFILE`/`ENFILE`, doubled while the condition lasts.
const BACKOFF_FIRST: Duration = Duration::from_millis(1);
/// The longest wait: a listener resumes within this once descriptors are free again.
const BACKOFF_MAX: Duration = Duration::from_millis(100);

#[derive(Debug, Default)]
struct Backoff {
    /// No accept before this (awake clock).
    until: Option<Timestamp>,
    /// The next wait.
    next: Option<Duration>,
}

/// A listening socket, its backend, and its accept backoff.
#[derive(Debug)]
pub(crate) struct ListenerCore {
    pub(crate) io: IoRef,
    pub(crate) handle: SocketHandle,
    backoff: Mutex<Backoff>,
}

impl ListenerCore {
    pub(crate) fn new(io: IoRef, handle: SocketHandle) -> ListenerCore {
        ListenerCore { io, handle, backoff: Mutex::new(Backoff::default()) }
    }

    /// Accepts one connection. On descriptor exhaustion it returns [`DescriptorsExhausted`] and
    /// makes the next call wait first (the pending connection stays in the kernel's queue and
    /// the readiness is kept, so nothing is missed).
    pub(crate) async fn accept(&self) -> io::Result<(SocketHandle, SocketAddress)> {
        let until = self.backoff.lock().unwrap_or_else(|e| e.into_inner()).until;
        if let Some(until) = until {
            self.io.sleep(Timeout::Deadline { deadline: until, clock: Clock::Awake }).await?;
        }
        let result = poll_fn(|cx| self.io.net_poll_accept(cx, &self.handle)).await;
        let mut backoff = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                let wait = backoff.next.unwrap_or(BACKOFF_FIRST);
                backoff.until = Some(self.io.now(Clock::Awake).saturating_add(wait));
                backoff.next = Some(Duration::from_nanos(
                    (wait.as_nanos().saturating_mul(2)).min(BACKOFF_MAX.as_nanos()),
                ));
                let system = e.raw_os_error() == Some(libc::ENFILE);
                Err(DescriptorsExhausted { system }.into())
            }
            other => {
                if backoff.until.is_some() && other.is_ok() {
                    *backoff = Backoff::default();
                }
                other
            }
        }
    }
}
