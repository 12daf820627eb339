//! Cooperative budget: how many times one poll of a task may find a resource ready.
//!
//! A task whose sockets are always ready would otherwise loop inside one poll forever and starve
//! the other tasks of its worker. Each poll of a task starts with `BUDGET` units; every
//! operation of a kqio resource that completes without waiting spends one ([`poll_proceed`]);
//! when none is left the operation returns `Pending` after waking its task, which then goes to
//! the back of the run queue (a yield). tokio calls the same thing "coop".

use std::cell::Cell;
use std::task::{Context, Poll};

/// Units per poll of a task: enough that a busy connection does a good batch of work per poll,
/// few enough that a worker cycles through its queue often. 128 as in tokio.
pub(crate) const BUDGET: u32 = 128;

/// No budget in force (outside any task): operations never yield for budget reasons.
const UNCONSTRAINED: u32 = u32::MAX;

crate::loom::thread_local_const! {
    static REMAINING: Cell<u32> = Cell::new(UNCONSTRAINED);
}

/// Restores the previous budget when dropped.
pub(crate) struct BudgetGuard {
    prev: u32,
}

impl Drop for BudgetGuard {
    #[inline]
    fn drop(&mut self) {
        REMAINING.with(|c| c.set(self.prev));
    }
}

/// Starts a fresh budget for one poll of a task.
#[inline]
pub(crate) fn start() -> BudgetGuard {
    BudgetGuard { prev: REMAINING.with(|c| c.replace(BUDGET)) }
}

/// Spends one unit of the current task's budget, or, when it is spent, wakes the task and returns
/// `Pending` so that it yields its worker.
#[inline]
pub fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    let left = REMAINING.with(Cell::get);
    if left == UNCONSTRAINED {
        return Poll::Ready(());
    }
    if left == 0 {
        cx.waker().wake_by_ref();
        return Poll::Pending;
    }
    REMAINING.with(|c| c.set(left - 1));
    Poll::Ready(())
}

#[cfg(all(test, not(kqio_loom)))]
mod tests {
    use super::*;

    #[test]
    fn budget_runs_out_and_restores() {
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(poll_proceed(&mut cx).is_ready(), "unconstrained outside a task");
        {
            let _g = start();
            for _ in 0..BUDGET {
                assert!(poll_proceed(&mut cx).is_ready());
            }
            assert!(poll_proceed(&mut cx).is_pending());
        }
        assert!(poll_proceed(&mut cx).is_ready(), "restored after the poll");
    }
}
