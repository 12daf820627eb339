//! The per-task cancellation state word, Zig's cancel protocol as a small state machine.
//!
//! Ground rules:
//! 1. Any thread may *request* cancellation ([`CancelState::request`]); only the task itself
//!    (code running inside its poll) *observes* it at a cancellation point
//!    ([`CancelState::check`]), re-arms it ([`CancelState::recancel`]) or changes protection
//!    ([`CancelState::swap_protection`]).
//! 2. A request is delivered once: the first unprotected cancellation point after it returns
//!    `Canceled` and moves the word from `REQUESTED` to `DELIVERED`; later points see `DELIVERED`
//!    and return `Ok`, as in Zig, until `recancel` moves it back to `REQUESTED`.
//! 3. While `PROTECTED` is set, cancellation points ignore `REQUESTED`; the request stays and is
//!    delivered by the first point after protection is lifted.
//!
//! Orderings: `request` is `SeqCst` and pairs with the `SeqCst` load in `check`, so that a waker
//! registered before `check` runs (see `task::spawn`) is either seen by the requester or the
//! request is seen by the check. The protection bit is only written by the owning task, so its
//! updates need no ordering beyond the read-modify-write itself.

use crate::loom::sync::atomic::{AtomicU8, Ordering};

use crate::error::Canceled;

/// A cancellation request is pending delivery. Never set together with `DELIVERED`.
const REQUESTED: u8 = 1 << 0;
/// A cancellation point has returned `Canceled` for the last request. Cleared only by
/// `recancel`. Never set together with `REQUESTED`.
const DELIVERED: u8 = 1 << 1;
/// Cancellation points ignore requests (Zig `swapCancelProtection(.blocked)`). Set and cleared
/// only by the task itself.
const PROTECTED: u8 = 1 << 2;

/// Whether cancellation points deliver pending requests (Zig `CancelProtection`).
///
/// See [`swap_cancel_protection`](crate::Io#method.swap_cancel_protection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CancelProtection {
    /// Cancellation points deliver requests (the state every task starts in).
    #[default]
    Unblocked,
    /// Cancellation points ignore requests; a request made meanwhile is delivered after the task
    /// switches back to `Unblocked`.
    Blocked,
}

/// What [`CancelState::request`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestOutcome {
    /// The request is new: the task must be woken so that its cancellation point can see it.
    Requested,
    /// A request was already pending or had been delivered: nothing changed.
    AlreadyRequested,
}

/// The cancellation state of one task. See the module docs for the protocol.
#[derive(Debug, Default)]
pub(crate) struct CancelState(AtomicU8);

impl CancelState {
    crate::loom::const_fn! {
        /// A state for a fresh task: nothing requested, unprotected.
        pub(crate) const fn new() -> Self {
            CancelState(AtomicU8::new(0))
        }
    }

    crate::loom::const_fn! {
        /// A state whose first cancellation point returns `Canceled` (used for work that is started
        /// after the runtime began shutting down).
        pub(crate) const fn requested() -> Self {
            CancelState(AtomicU8::new(REQUESTED))
        }
    }

    /// Requests cancellation. A request that is pending or delivered is not made again.
    pub(crate) fn request(&self) -> RequestOutcome {
        let mut cur = self.0.load(Ordering::SeqCst);
        loop {
            if cur & (REQUESTED | DELIVERED) != 0 {
                return RequestOutcome::AlreadyRequested;
            }
            // SeqCst: pairs with the load in `check` (see the module docs).
            match self.0.compare_exchange_weak(
                cur,
                cur | REQUESTED,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return RequestOutcome::Requested,
                Err(actual) => cur = actual,
            }
        }
    }

    /// A cancellation point: delivers a pending, unprotected request exactly once.
    pub(crate) fn check(&self) -> Result<(), Canceled> {
        // SeqCst: pairs with `request`.
        let cur = self.0.load(Ordering::SeqCst);
        if cur & REQUESTED == 0 || cur & PROTECTED != 0 {
            return Ok(());
        }
        // Only the owning task clears REQUESTED, and requesters never touch a word that has
        // REQUESTED set, so this cannot race with anything but a requester's failed CAS.
        self.0.fetch_xor(REQUESTED | DELIVERED, Ordering::SeqCst);
        Err(Canceled)
    }

    /// Whether a request is pending and unprotected (what `check` would deliver), without
    /// delivering it.
    pub(crate) fn is_pending(&self) -> bool {
        self.0.load(Ordering::SeqCst) & (REQUESTED | PROTECTED) == REQUESTED
    }

    /// Whether cancellation was requested (pending or delivered): the task is canceling. For
    /// diagnostics only.
    pub(crate) fn was_requested(&self) -> bool {
        self.0.load(Ordering::Relaxed) & (REQUESTED | DELIVERED) != 0
    }

    /// Whether a request is pending and not held back by protection: the next cancellation
    /// point would deliver it. `SeqCst`, like `check`: the task reads it after registering its
    /// waker (`task::spawn`), and pairs it with `request` in the same way.
    #[inline]
    pub(crate) fn is_deliverable(&self) -> bool {
        self.0.load(Ordering::SeqCst) & (REQUESTED | PROTECTED) == REQUESTED
    }

    /// Whether the word has left its fresh state (a request, a delivery or protection).
    #[inline]
    pub(crate) fn is_untouched(&self) -> bool {
        self.0.load(Ordering::Relaxed) == 0
    }

    /// Zig `recancel`: after `Canceled` was delivered, arms the request again so that the next
    /// cancellation point delivers it too. Does nothing if nothing was delivered.
    pub(crate) fn recancel(&self) {
        let cur = self.0.load(Ordering::SeqCst);
        if cur & DELIVERED != 0 {
            self.0.fetch_xor(REQUESTED | DELIVERED, Ordering::SeqCst);
        }
    }

    /// Zig `swapCancelProtection`: sets the protection and returns the previous one.
    pub(crate) fn swap_protection(&self, p: CancelProtection) -> CancelProtection {
        let prev = match p {
            CancelProtection::Blocked => self.0.fetch_or(PROTECTED, Ordering::SeqCst),
            CancelProtection::Unblocked => self.0.fetch_and(!PROTECTED, Ordering::SeqCst),
        };
        if prev & PROTECTED != 0 {
            CancelProtection::Blocked
        } else {
            CancelProtection::Unblocked
        }
    }
}

#[cfg(all(test, not(kqio_loom)))]
mod tests {
    use super::*;

    #[test]
    fn delivered_once_then_recancel() {
        let s = CancelState::new();
        assert_eq!(s.check(), Ok(()));
        assert_eq!(s.request(), RequestOutcome::Requested);
        assert_eq!(s.request(), RequestOutcome::AlreadyRequested);
        assert_eq!(s.check(), Err(Canceled));
        assert_eq!(s.check(), Ok(()));
        s.recancel();
        assert_eq!(s.check(), Err(Canceled));
        assert_eq!(s.check(), Ok(()));
        // A request after delivery is not made again.
        assert_eq!(s.request(), RequestOutcome::AlreadyRequested);
        assert_eq!(s.check(), Ok(()));
    }

    #[test]
    fn protection_defers_delivery() {
        let s = CancelState::new();
        assert_eq!(s.swap_protection(CancelProtection::Blocked), CancelProtection::Unblocked);
        s.request();
        assert_eq!(s.check(), Ok(()));
        assert!(!s.is_pending());
        assert_eq!(s.swap_protection(CancelProtection::Unblocked), CancelProtection::Blocked);
        assert!(s.is_pending());
        assert_eq!(s.check(), Err(Canceled));
    }

    #[test]
    fn recancel_without_delivery_is_a_no_op() {
        let s = CancelState::new();
        s.recancel();
        assert_eq!(s.check(), Ok(()));
        assert!(s.is_untouched());
    }
}
