//! Operation batches (Zig's `Io.Batch`): several socket reads, receives and writes submitted
//! together and awaited together by one task.
//!
//! # What a batch saves here
//!
//! kqio's I/O is readiness-based: every operation is one non-blocking syscall once its socket
//! is ready, batched or not, so a batch saves no syscall. What it saves is tasks and wake-ups:
//! one future drives all the operations, registers one waker with every socket that is not
//! ready, and one wake-up lets it complete every operation that became ready meanwhile. Awaiting
//! 64 reads one by one takes 64 wake-ups when the data arrives one socket at a time; spawning
//! 64 tasks to await them concurrently costs 64 task allocations and schedulings. The
//! `batch` benchmark (`cargo bench --bench process_batch`) measures both against a batch.
//!
//! # Cancellation
//!
//! [`Batch::await_many`] is a cancellation point. A canceled call returns `Canceled` and leaves
//! every operation either completed (its result kept, see [`Batch::result`]) or not started:
//! nothing is half done, and nothing stays registered that could act later (readiness
//! registrations only hold a waker).

use std::io;
use std::task::Poll;

use crate::error::Canceled;
use crate::net::{SocketAddress, SocketHandle};
use crate::task::current;
use crate::Io;

enum Op<'a> {
    Read(&'a SocketHandle, &'a mut [u8]),
    Write(&'a SocketHandle, &'a [u8]),
    Receive(&'a SocketHandle, &'a mut [u8]),
}

/// What a completed operation of a batch produced.
#[derive(Debug)]
pub enum Completion {
    /// A read or write moved this many bytes.
    Bytes(usize),
    /// A receive got a datagram of this many bytes from this address.
    Received(usize, SocketAddress),
}

impl Completion {
    /// The byte count of either kind.
    pub fn len(&self) -> usize {
        match self {
            Completion::Bytes(n) | Completion::Received(n, _) => *n,
        }
    }

    /// Whether no byte moved (end of stream for a read).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A set of socket operations completed together (Zig `Io.Batch`).
///
/// Add operations with [`read`](Self::read), [`write`](Self::write) and
/// [`receive`](Self::receive) (each returns the operation's index), then
/// [`await_many`](Self::await_many) until enough have completed, and read each one's
/// [`result`](Self::result).
///
/// # Examples
///
/// ```
/// use kqio::batch::Batch;
/// use kqio::net::UnixStream;
///
/// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
/// let io = rt.io();
/// rt.block_on(async {
///     let (a1, b1) = UnixStream::pair(&io)?;
///     let (a2, b2) = UnixStream::pair(&io)?;
///     b1.write_all(b"one").await?;
///     b2.write_all(b"two").await?;
///     let (mut x, mut y) = ([0u8; 8], [0u8; 8]);
///     let mut batch = Batch::new(&*io);
///     let i = batch.read(a1.handle(), &mut x);
///     let j = batch.read(a2.handle(), &mut y);
///     assert_eq!(batch.await_many(2).await?, 2);
///     assert_eq!(batch.result(i).unwrap().as_ref().unwrap().len(), 3);
///     assert_eq!(batch.result(j).unwrap().as_ref().unwrap().len(), 3);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Batch<'a> {
    io: &'a dyn Io,
    ops: Vec<(Op<'a>, Option<io::Result<Completion>>)>,
    done: usize,
}

impl std::fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch").field("ops", &self.ops.len()).field("done", &self.done).finish()
    }
}

impl<'a> Batch<'a> {
    /// An empty batch on `io`.
    pub fn new(io: &'a dyn Io) -> Batch<'a> {
        Batch { io, ops: Vec::new(), done: 0 }
    }

    /// An empty batch with room for `n` operations (one allocation, here).
    pub fn with_capacity(io: &'a dyn Io, n: usize) -> Batch<'a> {
        Batch { io, ops: Vec::with_capacity(n), done: 0 }
    }

    fn push(&mut self, op: Op<'a>) -> usize {
        self.ops.push((op, None));
        self.ops.len() - 1
    }

    /// Adds a read (or connected receive) from `socket` into `buf`; returns its index.
    pub fn read(&mut self, socket: &'a SocketHandle, buf: &'a mut [u8]) -> usize {
        self.push(Op::Read(socket, buf))
    }

    /// Adds a write (or connected send) of `buf` to `socket`; returns its index.
    pub fn write(&mut self, socket: &'a SocketHandle, buf: &'a [u8]) -> usize {
        self.push(Op::Write(socket, buf))
    }

    /// Adds a datagram receive from `socket` into `buf`; returns its index.
    pub fn receive(&mut self, socket: &'a SocketHandle, buf: &'a mut [u8]) -> usize {
        self.push(Op::Receive(socket, buf))
    }

    /// The number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the batch has no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// How many operations have completed.
    pub fn completed(&self) -> usize {
        self.done
    }

    /// The result of operation `index`, once it completed (`None` before, or for an index that
    /// is not in the batch).
    pub fn result(&self, index: usize) -> Option<&io::Result<Completion>> {
        self.ops.get(index).and_then(|(_, r)| r.as_ref())
    }

    /// Waits until at least `min` operations (all of them, if fewer) have completed, and returns
    /// how many have. Operations that fail complete with their error.
    ///
    /// # Errors
    ///
    /// [`Canceled`] if the task is canceled first; completed operations keep their results,
    /// the others have not started.
    ///
    /// # Cancellation
    ///
    /// A cancellation point.
    pub async fn await_many(&mut self, min: usize) -> Result<usize, Canceled> {
        let min = min.min(self.ops.len());
        std::future::poll_fn(|cx| {
            current::check_cancel()?;
            let io = self.io;
            for (op, result) in self.ops.iter_mut() {
                if result.is_some() {
                    continue;
                }
                let polled = match op {
                    Op::Read(s, buf) => {
                        io.net_poll_read(cx, s, buf, false).map(|r| r.map(Completion::Bytes))
                    }
                    Op::Write(s, buf) => {
                        io.net_poll_write(cx, s, buf).map(|r| r.map(Completion::Bytes))
                    }
                    Op::Receive(s, buf) => io
                        .net_poll_receive_from(cx, s, buf, false)
                        .map(|r| r.map(|(n, from)| Completion::Received(n, from))),
                };
                match polled {
                    // A request that arrived during this poll: the operation did not start.
                    Poll::Ready(Err(e)) if Canceled::is_canceled(&e) => {
                        return Poll::Ready(Err(Canceled));
                    }
                    Poll::Ready(r) => {
                        *result = Some(r);
                        self.done += 1;
                    }
                    Poll::Pending => {}
                }
            }
            if self.done >= min {
                Poll::Ready(Ok(self.done))
            } else {
                Poll::Pending
            }
        })
        .await
    }
}
