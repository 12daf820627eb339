//! The errors of `kqio::sync`: [`Closed`], [`QueueError`], [`PutOneError`], and the timeout
//! error of the timed waits, [`TimedOut`] and [`WaitTimeoutError`].
//!
//! Each is a small value a caller can match on (STYLE.md habit 8); each converts into
//! `std::io::Error` for code that returns `io::Result`.

use std::fmt;
use std::io;

use crate::error::Canceled;

/// The queue is closed: puts fail at once; gets fail once what was buffered is drained.
///
/// Returned by the queue operations (alone by the uncancelable ones, inside [`QueueError`] by
/// the others); see [`Queue::close`](super::Queue::close).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue closed")
    }
}

impl std::error::Error for Closed {}

impl From<Closed> for io::Error {
    /// `Closed` becomes an error of kind `BrokenPipe`.
    fn from(c: Closed) -> io::Error {
        io::Error::new(io::ErrorKind::BrokenPipe, c)
    }
}

/// Why a cancelable queue operation failed (Zig `QueueClosedError || Cancelable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum QueueError {
    /// The queue is closed (and, for a get, drained).
    Closed,
    /// The task was canceled while the operation waited.
    Canceled,
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueError::Closed => fmt::Display::fmt(&Closed, f),
            QueueError::Canceled => fmt::Display::fmt(&Canceled, f),
        }
    }
}

impl std::error::Error for QueueError {}

impl From<Closed> for QueueError {
    fn from(_: Closed) -> Self {
        QueueError::Closed
    }
}

impl From<Canceled> for QueueError {
    fn from(_: Canceled) -> Self {
        QueueError::Canceled
    }
}

impl From<QueueError> for io::Error {
    fn from(e: QueueError) -> io::Error {
        match e {
            QueueError::Closed => Closed.into(),
            QueueError::Canceled => Canceled.into(),
        }
    }
}

/// A [`put_one`](super::Queue::put_one) that failed, with the item given back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PutOneError<T> {
    /// Why the put failed.
    pub error: QueueError,
    /// The item that was not put.
    pub item: T,
}

impl<T> PutOneError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        self.item
    }
}

impl<T> fmt::Display for PutOneError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl<T: fmt::Debug> std::error::Error for PutOneError<T> {}

/// A timed wait ran out of time (Zig `error.Timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TimedOut;

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("wait timed out")
    }
}

impl std::error::Error for TimedOut {}

impl From<TimedOut> for io::Error {
    /// `TimedOut` becomes an error of kind `TimedOut`.
    fn from(t: TimedOut) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, t)
    }
}

/// Why a cancelable timed wait failed (Zig `Cancelable || Timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WaitTimeoutError {
    /// The timeout passed first.
    TimedOut,
    /// The task was canceled while it waited.
    Canceled,
}

impl fmt::Display for WaitTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitTimeoutError::TimedOut => fmt::Display::fmt(&TimedOut, f),
            WaitTimeoutError::Canceled => fmt::Display::fmt(&Canceled, f),
        }
    }
}

impl std::error::Error for WaitTimeoutError {}

impl From<TimedOut> for WaitTimeoutError {
    fn from(_: TimedOut) -> Self {
        WaitTimeoutError::TimedOut
    }
}

impl From<Canceled> for WaitTimeoutError {
    fn from(_: Canceled) -> Self {
        WaitTimeoutError::Canceled
    }
}

impl From<WaitTimeoutError> for io::Error {
    fn from(e: WaitTimeoutError) -> io::Error {
        match e {
            WaitTimeoutError::TimedOut => TimedOut.into(),
            WaitTimeoutError::Canceled => Canceled.into(),
        }
    }
}
