//! `ReadDir`: a directory's entries as a `futures::Stream`, one job per batch.
//!
//! States, in order: `Opening` (the job that opens a fresh stream over the directory), then
//! `Idle` and `Reading` in turn (one batch of at most [`ENTRIES_BATCH`] entries per job), then
//! `Done` at the first empty batch or the first error (which is yielded once).

use std::collections::VecDeque;
use std::fmt;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::dir::Dir;
use super::error::{Error, Op, Result};
use super::types::{DirEntry, EntriesHandle};
use super::{FsFuture, ENTRIES_BATCH};
use crate::IoRef;

/// The entries of a directory (from [`Dir::entries`]): a `futures::Stream` of
/// `Result<DirEntry, Error>`, ending after the last entry or the first error.
///
/// # Cancellation
///
/// Polling it is a cancellation point until the job of the next batch starts.
///
/// # Examples
///
/// ```
/// use futures::TryStreamExt;
/// use kqio::fs::Dir;
///
/// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
/// let io = rt.io();
/// let names: Vec<_> = rt.block_on(async {
///     let src = Dir::cwd(&io).open_dir("src", Default::default()).await?;
///     src.entries().map_ok(|e| e.name).try_collect::<Vec<_>>().await
/// })?;
/// assert!(names.iter().any(|n| n == "lib.rs"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct ReadDir {
    io: IoRef,
    path: PathBuf,
    state: State,
    ready: VecDeque<DirEntry>,
}

enum State {
    Opening(FsFuture<EntriesHandle>),
    Idle(EntriesHandle),
    Reading(EntriesHandle, FsFuture<Vec<DirEntry>>),
    Done,
}

impl fmt::Debug for ReadDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadDir").field("path", &self.path).finish_non_exhaustive()
    }
}

impl ReadDir {
    pub(crate) fn new(dir: &Dir) -> ReadDir {
        ReadDir {
            io: dir.io().clone(),
            path: dir.display_path(std::path::Path::new(".")),
            state: State::Opening(dir.io().dir_entries(dir.handle())),
            ready: VecDeque::new(),
        }
    }

    /// The next entry; `None` after the last (a convenience for `StreamExt::next`).
    pub async fn next_entry(&mut self) -> Option<Result<DirEntry>> {
        futures::StreamExt::next(self).await
    }

    fn fail(&mut self, e: std::io::Error) -> Poll<Option<Result<DirEntry>>> {
        self.state = State::Done;
        Poll::Ready(Some(Err(Error::new(Op::ReadDir, None, e).with_path(self.path.clone()))))
    }
}

impl futures::Stream for ReadDir {
    type Item = Result<DirEntry>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(e) = this.ready.pop_front() {
                return Poll::Ready(Some(Ok(e)));
            }
            match &mut this.state {
                State::Opening(f) => match ready!(f.as_mut().poll(cx)) {
                    Ok(h) => this.state = State::Idle(h),
                    Err(e) => return this.fail(e),
                },
                State::Idle(h) => {
                    let f = this.io.dir_entries_next(h, ENTRIES_BATCH);
                    let h = h.clone();
                    this.state = State::Reading(h, f);
                }
                State::Reading(h, f) => match ready!(f.as_mut().poll(cx)) {
                    Ok(batch) if batch.is_empty() => this.state = State::Done,
                    Ok(batch) => {
                        this.ready = batch.into();
                        this.state = State::Idle(h.clone());
                    }
                    Err(e) => return this.fail(e),
                },
                State::Done => return Poll::Ready(None),
            }
        }
    }
}
