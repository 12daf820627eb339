//! Late work: the hand-shake between `deinit`'s last drain of the shared queues and a
//! `schedule` that pushes to one of them after it (ground rule 5 of `mod.rs`).
//!
//! A task whose spawn reserved its place before shutdown, or a wake from outside the workers,
//! can reach `schedule` once `deinit` has drained the queues for the last time. Nobody would
//! take what it pushes: the task's future would never be dropped, and it would keep the
//! scheduler alive. So whichever side comes second drains.
//!
//! Ground rules:
//! 1. `deinit` closes ([`LastDrain::close`]): it stores `drained` (SeqCst), issues a SeqCst
//!    fence, and drains the shared queues once more.
//! 2. A `schedule` during shutdown pushes, issues a SeqCst fence, and loads `drained`
//!    ([`LastDrain::after_push`]); if it is set, that `schedule` drains the shared queues itself,
//!    on its own thread.
//! 3. By the two fences, either `deinit`'s drain sees the push or the `schedule` sees the store
//!    (the store-buffering pattern, as in `idle.rs` rule 1). The queues need no ordering of
//!    their own beyond a push's Release and a pop's Acquire: `loom_tests.rs`'s
//!    `a_late_push_is_drained_by_one_side` models a queue that has only those.
//! 4. A runnable may be drained by both sides' drains racing; each pop takes it once, so it is
//!    dropped exactly once.

use crate::loom::sync::atomic::{fence, AtomicBool, Ordering};

/// Whether `deinit`'s last drain is over (rule 1), and the two sides of the hand-shake.
#[derive(Debug)]
pub(super) struct LastDrain {
    drained: AtomicBool,
}

impl LastDrain {
    pub(super) fn new() -> Self {
        LastDrain { drained: AtomicBool::new(false) }
    }

    /// `deinit`'s side (rule 1): from now on a late push drains itself; then drains once more
    /// with `drain`.
    pub(super) fn close(&self, drain: impl FnOnce()) {
        self.drained.store(true, Ordering::SeqCst);
        // SeqCst fence: pairs with the fence in `after_push` (rule 3).
        fence(Ordering::SeqCst);
        drain();
    }

    /// A late `schedule`'s side (rule 2), called after its push: drains with `drain` if the
    /// last drain may have missed the push.
    pub(super) fn after_push(&self, drain: impl FnOnce()) {
        // SeqCst fence: pairs with the fence in `close` (rule 3).
        fence(Ordering::SeqCst);
        if self.drained.load(Ordering::SeqCst) {
            drain();
        }
    }
}
