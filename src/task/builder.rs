//! `TaskBuilder`: spawning a task with a name, for task dumps, stall reports and `tracing` spans.
//!
//! `io.task().name("conn").concurrent(fut)` is `io.concurrent(fut)` with a name recorded once in
//! the task's header. A `&'static str` name is stored without allocating; a `String` is moved in.
//! The spawn location is recorded as for every spawn (`#[track_caller]`).

use std::borrow::Cow;
use std::future::Future;

use super::spawn;
use super::JoinHandle;
use crate::error::ConcurrencyUnavailable;
use crate::io::Io;

/// Spawns a task with options: made by [`task`](crate::Io#method.task).
///
/// # Examples
///
/// ```
/// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
/// let io = rt.io();
/// let n = rt.block_on(async {
///     let h = io.task().name("answer").concurrent(async { 42 }).expect("a task slot");
///     h.await
/// });
/// assert_eq!(n, 42);
/// # Ok::<(), std::io::Error>(())
/// ```
#[must_use = "a builder does nothing until `r#async` or `concurrent` is called"]
pub struct TaskBuilder<'a> {
    io: &'a dyn Io,
    name: Option<Cow<'static, str>>,
}

impl std::fmt::Debug for TaskBuilder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskBuilder").field("name", &self.name).finish_non_exhaustive()
    }
}

impl<'a> TaskBuilder<'a> {
    pub(crate) fn new(io: &'a dyn Io) -> Self {
        TaskBuilder { io, name: None }
    }

    /// Names the task: task dumps, stall reports and `tracing` spans show it.
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// [`r#async`](crate::Io#method.async) with this builder's options: runs `future` as a task,
    /// or inline (unnamed then) when no unit of concurrency is available.
    #[track_caller]
    pub fn r#async<F>(self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self.io.task_reserve() {
            Ok(owner) => spawn::spawn_named(owner, future, self.name),
            Err(ConcurrencyUnavailable) => self.io.run_inline(future),
        }
    }

    /// [`concurrent`](crate::Io#method.concurrent) with this builder's options.
    ///
    /// # Errors
    ///
    /// [`ConcurrencyUnavailable`] when the task limit is reached or the runtime is shutting
    /// down; the future is dropped unpolled.
    #[track_caller]
    pub fn concurrent<F>(self, future: F) -> Result<JoinHandle<F::Output>, ConcurrencyUnavailable>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let owner = self.io.task_reserve()?;
        Ok(spawn::spawn_named(owner, future, self.name))
    }
}
