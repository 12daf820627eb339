//! Spawning a local task: a `!Send` future that runs only on the thread that spawned it
//! ([`spawn_local`](crate::Io#method.spawn_local); tokio's `spawn_local`, smol's
//! `LocalExecutor`).
//!
//! Ground rules:
//! 1. A local task is a task as any other (one async-task allocation with a [`TaskFuture`] and a
//!    [`TaskHeader`], the same [`JoinHandle`], cancellation and panic capture), built with
//!    async-task's `spawn_local` instead of `spawn`. Only its owner differs: the
//!    [`Schedule`] that `Io::task_reserve_local` returns belongs to the calling thread.
//! 2. The owner's contract: every runnable it is handed is run or dropped on the thread that
//!    spawned the task, never elsewhere (a `Runnable` is `Send`, so the owner may carry it
//!    through a queue other threads push to, but only that thread takes it out). Only running or
//!    dropping a runnable polls or drops the future (async-task drops a task's future nowhere
//!    else), so the future never leaves its thread.
//! 3. No `unsafe` here: async-task's `spawn_local` wraps the future in a check of the thread at
//!    every poll and at its drop (a panic on the wrong thread; in the drop, which async-task
//!    guards, an abort). An owner that broke rule 2 would stop the process, never run a `!Send`
//!    future on two threads. The check costs a thread-local read per poll, on local tasks only.
//! 4. The output needs no `Send`: the handle is then `!Send` and stays on the task's thread too;
//!    with a `Send` output the handle can be awaited, canceled or dropped anywhere, since async-task
//!    hands a cancellation to the owner (rule 2) rather than drop the future itself.

use std::future::Future;
use std::panic::Location;
use std::sync::Arc;

use super::header::{Schedule, TaskHeader};
use super::join::JoinHandle;
use super::spawn::{schedule_woken, ScheduleReason, TaskFuture};

/// Spawns the `!Send` `future` as a task owned by `owner` (which must keep rule 2) and schedules
/// its first poll. Called on the thread the task belongs to.
#[track_caller]
pub(crate) fn spawn_local<F>(owner: Arc<dyn Schedule>, future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let first = owner.clone();
    let (runnable, task) = async_task::Builder::new()
        .metadata(TaskHeader::new(owner, Location::caller(), None))
        .propagate_panic(true)
        .spawn_local(
            |header: &TaskHeader| TaskFuture::new(header, future),
            async_task::WithInfo(schedule_woken),
        );
    let handle = JoinHandle::from_task(task);
    first.task_spawned(runnable.metadata());
    first.schedule(runnable, ScheduleReason::Spawned);
    handle
}
