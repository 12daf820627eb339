//! Adapters for other ecosystems' I/O traits, each behind a cargo feature (the modules exist
//! only with it).
//!
//! | feature | module | what it gives |
//! | --- | --- | --- |
//! | `hyper` | `compat::hyper` (hyper 1.x) | `hyper::rt::{Read, Write}` on [`TcpStream`](crate::net::TcpStream) and [`UnixStream`](crate::net::UnixStream); an `Executor` and a `Timer` on any [`IoRef`](crate::IoRef) |
//! | `tokio-io` | `compat::tokio` | `tokio::io::{AsyncRead, AsyncWrite}` on kqio's streams and their halves (tokio-util codecs, tonic transports, ...) |
//!
//! Ground rules:
//! 1. Adapters take an [`IoRef`](crate::IoRef), never a [`Kqueue`](crate::Kqueue), so they
//!    run on any backend, a simulated one included; they call only the `Io` trait and kqio's
//!    public types.
//! 2. Trait implementations go on kqio's own types where coherence allows (no wrapper to name),
//!    and reach kqio's streams through their `futures::io` implementations, which are the
//!    vtable's `net_poll_*` calls.
//! 3. No `unsafe` but where the foreign trait's API offers nothing safe (hyper's
//!    `ReadBufCursor::advance`), each with its `// SAFETY:` argument.

#[cfg(feature = "hyper")]
pub mod hyper;
#[cfg(feature = "tokio-io")]
pub mod tokio;

/// The most one adapter read asks of the socket. Foreign read buffers come uninitialized and are
/// zeroed before kqio reads into them (a backend is arbitrary safe code that may look at the
/// buffer it is given, so it must never see uninitialized bytes): this bounds the zeroing per
/// read. At 64 KiB a large body still takes few syscalls, and the zeroing stays a small part of
/// the cost of the copy the kernel makes anyway.
#[cfg(any(feature = "hyper", feature = "tokio-io"))]
const MAX_READ: usize = 64 * 1024;
