//! `fs_pipe`: an in-memory pipe with a bounded buffer, waits as wakers, and end-of-file and
//! `EPIPE` when the other side is gone.
//!
//! Ground rules:
//! 1. The pipe is its own state behind its own `Mutex` (no disk involved); each end counts
//!    itself in `readers`/`writers` and leaves when its last handle is dropped, waking the
//!    other side.
//! 2. Wakers are woken after the lock is released.
//! 3. A read returns what is buffered (at most the length asked), waits while the buffer is
//!    empty and a writer remains, and returns nothing (end of file) once none does. A write
//!    puts what fits and waits for room until all is written; with no reader left it fails
//!    with `EPIPE` if nothing was written yet, else reports the count. A write dropped while
//!    waiting leaves what it wrote in the pipe (a real pipe's partial write does the same).
//! 4. A read or write that waits records read or write readiness for its task, as a pipe on
//!    `Kqueue` does (the reactor's record).

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use super::tree::errno;

struct State {
    buf: VecDeque<u8>,
    cap: usize,
    readers: usize,
    writers: usize,
    read_waiters: Vec<Waker>,
    write_waiters: Vec<Waker>,
}

/// One end of a pipe (ground rule 1).
pub(super) struct PipeEnd {
    state: Arc<Mutex<State>>,
    pub write: bool,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

fn park(waiters: &mut Vec<Waker>, waker: &Waker) {
    if !waiters.iter().any(|w| w.will_wake(waker)) {
        waiters.push(waker.clone());
    }
}

fn wake(wakers: Vec<Waker>) {
    wakers.into_iter().for_each(Waker::wake);
}

/// A new pipe holding at most `cap` (at least 1) buffered bytes: its read and write ends.
pub(super) fn pipe(cap: usize) -> (PipeEnd, PipeEnd) {
    let state = Arc::new(Mutex::new(State {
        buf: VecDeque::new(),
        cap: cap.max(1),
        readers: 1,
        writers: 1,
        read_waiters: Vec::new(),
        write_waiters: Vec::new(),
    }));
    (PipeEnd { state: state.clone(), write: false }, PipeEnd { state, write: true })
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        let wakers = {
            let mut s = lock(&self.state);
            if self.write {
                s.writers -= 1;
                std::mem::take(&mut s.read_waiters)
            } else {
                s.readers -= 1;
                std::mem::take(&mut s.write_waiters)
            }
        };
        wake(wakers);
    }
}

impl PipeEnd {
    /// Bytes buffered now.
    pub fn buffered(&self) -> usize {
        lock(&self.state).buf.len()
    }

    /// Reads at most `len` bytes into `buf` (ground rule 3).
    pub fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut Vec<u8>,
        len: usize,
    ) -> Poll<io::Result<()>> {
        let (ready, wakers) = {
            let mut s = lock(&self.state);
            if len == 0 {
                return Poll::Ready(Ok(()));
            }
            if s.buf.is_empty() {
                if s.writers == 0 {
                    return Poll::Ready(Ok(()));
                }
                park(&mut s.read_waiters, cx.waker());
                (false, Vec::new())
            } else {
                let n = len.min(s.buf.len());
                buf.extend(s.buf.drain(..n));
                (true, std::mem::take(&mut s.write_waiters))
            }
        };
        wake(wakers);
        if ready {
            Poll::Ready(Ok(()))
        } else {
            crate::task::activity::wait_on(crate::task::WaitingOn::Read);
            Poll::Pending
        }
    }

    /// Puts what fits of `data[*done..]`; ready with the count once all is written.
    pub fn poll_write(
        &self,
        cx: &mut Context<'_>,
        data: &[u8],
        done: &mut usize,
    ) -> Poll<io::Result<usize>> {
        let (result, wakers) = {
            let mut s = lock(&self.state);
            if s.readers == 0 {
                let r = if *done == 0 { Err(errno(libc::EPIPE)) } else { Ok(*done) };
                return Poll::Ready(r);
            }
            let room = s.cap - s.buf.len().min(s.cap);
            let n = room.min(data.len() - *done);
            s.buf.extend(&data[*done..*done + n]);
            *done += n;
            let wakers = if n > 0 { std::mem::take(&mut s.read_waiters) } else { Vec::new() };
            if *done == data.len() {
                (Poll::Ready(Ok(*done)), wakers)
            } else {
                park(&mut s.write_waiters, cx.waker());
                crate::task::activity::wait_on(crate::task::WaitingOn::Write);
                (Poll::Pending, wakers)
            }
        };
        wake(wakers);
        result
    }
}
