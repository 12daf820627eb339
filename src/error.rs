//! Errors shared by every area of the `Io` interface.
//!
//! The zero-sized errors here are the ones Zig's `std.Io` names in almost every error set:
//! [`Canceled`] (a cancellation point saw a request), [`ConcurrencyUnavailable`] (no unit of
//! concurrency could be had). Each converts into `std::io::Error` so that code returning
//! `io::Result` can use `?` on them; the original value is recoverable with
//! [`Canceled::is_canceled`].

use std::fmt;
use std::io;

/// The error a cancellation point returns once its task has been asked to cancel.
///
/// See [`JoinHandle::cancel`](crate::JoinHandle::cancel) for the whole contract: only the *next*
/// cancellation point after a request returns `Canceled`; later ones do not, unless the task calls
/// [`recancel`](crate::Io::task_recancel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Canceled;

impl fmt::Display for Canceled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("operation canceled")
    }
}

impl std::error::Error for Canceled {}

impl Canceled {
    /// Whether `err` is a [`Canceled`] converted into an `io::Error` (by `?` or `From`).
    ///
    /// # Examples
    ///
    /// ```
    /// let err: std::io::Error = kqio::Canceled.into();
    /// assert!(kqio::Canceled::is_canceled(&err));
    /// ```
    pub fn is_canceled(err: &io::Error) -> bool {
        err.kind() == io::ErrorKind::Interrupted
            && err.get_ref().is_some_and(|inner| inner.is::<Canceled>())
    }
}

impl From<Canceled> for io::Error {
    /// `Canceled` becomes an error of kind `Interrupted` that carries the `Canceled` value.
    fn from(c: Canceled) -> io::Error {
        io::Error::new(io::ErrorKind::Interrupted, c)
    }
}

/// No unit of concurrency is available: the runtime's configured task limit
/// ([`InitOptions::max_tasks`](crate::InitOptions::max_tasks)) is reached, or the runtime is
/// shutting down.
///
/// Returned by [`concurrent`](crate::Io#method.concurrent); [`r#async`](crate::Io#method.async)
/// never fails and runs the future inline instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ConcurrencyUnavailable;

impl fmt::Display for ConcurrencyUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no unit of concurrency available")
    }
}

impl std::error::Error for ConcurrencyUnavailable {}

impl From<ConcurrencyUnavailable> for io::Error {
    fn from(c: ConcurrencyUnavailable) -> io::Error {
        io::Error::new(io::ErrorKind::WouldBlock, c)
    }
}

/// The OS could not provide entropy (Zig `error.EntropyUnavailable`): what
/// [`random_secure`](crate::Io#method.random_secure) returns when `getrandom(2)` (or the
/// platform's equivalent) fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EntropyUnavailable;

impl fmt::Display for EntropyUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the operating system provided no entropy")
    }
}

impl std::error::Error for EntropyUnavailable {}

impl From<EntropyUnavailable> for io::Error {
    fn from(e: EntropyUnavailable) -> io::Error {
        io::Error::other(e)
    }
}

/// The calling thread cannot run local tasks of this runtime: what
/// [`spawn_local`](crate::Io#method.spawn_local) returns when it is called from a thread that is
/// neither one of the runtime's workers nor inside its `block_on`, or on a backend without local
/// tasks.
///
/// A local task (a `!Send` future) runs only on the thread that spawned it, so that thread must be
/// one the runtime drives; any other thread would never poll it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct LocalUnavailable;

impl fmt::Display for LocalUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("this thread cannot run local tasks of this runtime")
    }
}

impl std::error::Error for LocalUnavailable {}

impl From<LocalUnavailable> for io::Error {
    fn from(e: LocalUnavailable) -> io::Error {
        io::Error::new(io::ErrorKind::Unsupported, e)
    }
}
