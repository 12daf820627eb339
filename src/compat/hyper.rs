//! hyper 1.x on kqio (feature `hyper`): `hyper::rt::{Read, Write}` on
//! [`TcpStream`] and [`UnixStream`], an [`Executor`] and a [`Timer`] on any [`IoRef`].
//!
//! A kqio stream goes to hyper as it is: no wrapper. The executor spawns hyper's background
//! tasks (HTTP/2 streams and connections) on the runtime; the timer gives hyper its clock and
//! sleeps from the `Io` trait, so that under a simulated backend hyper's timeouts (header read,
//! keep-alive pings) run on simulated time.
//!
//! ```
//! use http_body_util::{BodyExt, Empty, Full};
//! use hyper::body::{Bytes, Incoming};
//! use hyper::{Request, Response};
//! use kqio::compat::hyper::Timer;
//! use kqio::net::{TcpListener, TcpStream};
//!
//! let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
//! let io = rt.io();
//! rt.block_on(async {
//!     let listener = TcpListener::bind(&io, "127.0.0.1:0".parse()?).await?;
//!     let addr = listener.local_addr()?;
//!     let timer = Timer::new(io.clone());
//!     io.r#async(async move {
//!         let (stream, _) = listener.accept().await?;
//!         let hello = hyper::service::service_fn(|_: Request<Incoming>| async {
//!             Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("hello"))))
//!         });
//!         hyper::server::conn::http1::Builder::new()
//!             .timer(timer)                       // header-read timeout on the Io clock
//!             .serve_connection(stream, hello)    // the kqio stream, as it is
//!             .await
//!             .map_err(std::io::Error::other)
//!     })
//!     .detach();
//!
//!     let stream = TcpStream::connect(&io, addr).await?;
//!     let (mut sender, conn) = hyper::client::conn::http1::handshake(stream).await?;
//!     io.r#async(conn).detach();
//!     let response = sender.send_request(Request::get("/").body(Empty::<Bytes>::new())?).await?;
//!     assert_eq!(response.into_body().collect().await?.to_bytes(), "hello");
//!     Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! ```
//!
//! Ground rules:
//! 1. Reads go straight into hyper's uninitialized buffer (at most `MAX_READ`, 64 KiB of it),
//!    through `Io::net_poll_read_uninit` and a [`ReadCursor`], which lets the backend (arbitrary
//!    safe code behind `dyn Io`) count as read only bytes it initialized: the kqueue backend
//!    reads with `recvmsg` into the memory as it is, and a backend without that override zeroes
//!    it first. (Zeroing up to 64 KiB before every read was 5 % of an HTTP server's CPU.)
//! 2. Writes are vectored (`is_write_vectored` is true), so hyper queues a response's head and
//!    body chunks and sends them with one `writev` instead of copying them into one buffer.
//! 3. The [`Timer`] maps the `Io` awake clock onto `std::time::Instant` by one pair of readings
//!    taken when it is made; see its docs.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use ::hyper::rt::{self, ReadBufCursor};
use futures::io::AsyncWrite;

use super::MAX_READ;
use crate::net::stream::StreamCore;
use crate::net::{ReadCursor, TcpStream, UnixStream};
use crate::time::{Clock, Duration, OwnedSleep, Timeout, Timestamp};
use crate::IoRef;

/// `rt::Read::poll_read` for a kqio stream: straight into hyper's (uninitialized) buffer through
/// [`Io::net_poll_read_uninit`](crate::Io::net_poll_read_uninit) (ground rule 1).
fn poll_read(
    core: &StreamCore,
    cx: &mut Context<'_>,
    mut buf: ReadBufCursor<'_>,
) -> Poll<io::Result<()>> {
    // SAFETY: hyper's `as_mut` asks that no initialized byte be de-initialized. The memory only
    // reaches the backend inside a `ReadCursor`, whose safe methods store initialized bytes
    // only, and whose `unfilled_mut` binds its user to the same rule.
    let unfilled = unsafe { buf.as_mut() };
    let len = unfilled.len().min(MAX_READ);
    let mut cursor = ReadCursor::new(&mut unfilled[..len]);
    ready!(core.io.net_poll_read_uninit(cx, &core.handle, &mut cursor))?;
    let n = cursor.filled_len();
    // SAFETY: `ReadCursor` guarantees (its ground rule 3) that its first `filled_len` bytes, the
    // first `n` of hyper's unfilled part, are initialized and hold what was read.
    unsafe { buf.advance(n) };
    Poll::Ready(Ok(()))
}

/// Implements `hyper::rt::{Read, Write}` for a kqio stream type.
macro_rules! impl_hyper_io {
    ($ty:ty) => {
        impl rt::Read for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: ReadBufCursor<'_>,
            ) -> Poll<io::Result<()>> {
                poll_read(self.core(), cx, buf)
            }
        }

        impl rt::Write for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                AsyncWrite::poll_write(self, cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                AsyncWrite::poll_write_vectored(self, cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            /// A socket has nothing to flush.
            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            /// Shuts down writing: the peer reads end of stream.
            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                AsyncWrite::poll_close(self, cx)
            }
        }
    };
}

impl_hyper_io!(TcpStream);
impl_hyper_io!(UnixStream);

/// hyper's executor on a kqio runtime: each future hyper hands it (an HTTP/2 connection or
/// stream, a client's connection) becomes a detached task of the [`IoRef`]'s runtime.
///
/// Futures are spawned with [`concurrent`](crate::Io#method.concurrent), never run inline: an
/// HTTP/2 stream waits on its connection, which would deadlock if it ran on the caller's
/// thread. When no task can be spawned (the runtime's `max_tasks` is reached, or it is shutting
/// down) the future is dropped: hyper then sees the stream or connection reset.
///
/// # Examples
///
/// ```
/// use kqio::compat::hyper::{Executor, Timer};
///
/// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
/// let io = rt.io();
/// let mut http2 = hyper::server::conn::http2::Builder::new(Executor::new(io.clone()));
/// http2.timer(Timer::new(io.clone()));
/// // http2.serve_connection(stream, service) for each accepted kqio stream.
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Executor {
    io: IoRef,
}

impl Executor {
    /// An executor spawning on `io`'s runtime.
    pub fn new(io: IoRef) -> Executor {
        Executor { io }
    }
}

impl<F> rt::Executor<F> for Executor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        // Err: no task slot (limit or shutdown); the future is dropped, see the type's docs.
        if let Ok(task) = self.io.concurrent(future) {
            task.detach();
        }
    }
}

/// hyper's timer on a kqio runtime: `now()` reads the `Io` awake clock, sleeps are the
/// runtime's timers ([`OwnedSleep`]), so that hyper's timeouts follow the backend's time (a
/// simulated backend's virtual clock included).
///
/// # The clock mapping
///
/// hyper speaks `std::time::Instant`, which cannot be made from a number. A `Timer` takes one
/// pair of readings when it is made, `origin = Instant::now()` and `origin_at =
/// io.now(Clock::Awake)`, and maps an awake-clock time `t` to `origin + (t - origin_at)` (and
/// back). Only differences of the `Io` clock reach hyper, so on the kqueue backend the
/// `Instant`s it sees match `Instant::now()` to within the two readings' skew, and on a
/// simulated backend they advance exactly as simulated time does. `Instant`s from one `Timer`
/// (or its clones, which share the origin) are meant for that `Timer`: another one made later
/// on a simulated backend has another origin.
///
/// A time before `origin` that `Instant` cannot represent (before the system booted) maps to
/// `origin`; such times are in the past either way.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hyper::rt::Timer as _;
/// use kqio::compat::hyper::Timer;
///
/// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
/// let timer = Timer::new(rt.io());
/// let start = timer.now();
/// rt.block_on(timer.sleep(Duration::from_millis(2)));
/// assert!(timer.now() - start >= Duration::from_millis(2));
///
/// // For hyper's builders:
/// let mut http1 = hyper::server::conn::http1::Builder::new();
/// http1.timer(timer).header_read_timeout(Duration::from_secs(10));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Timer {
    io: IoRef,
    origin: Instant,
    origin_at: Timestamp,
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timer")
            .field("origin", &self.origin)
            .field("origin_at", &self.origin_at)
            .finish_non_exhaustive()
    }
}

impl Timer {
    /// A timer on `io`'s clock and timers; takes the clock mapping's origin now.
    pub fn new(io: IoRef) -> Timer {
        let origin_at = io.now(Clock::Awake);
        // The one read of the OS clock outside a backend: `Instant` has no other constructor.
        // Only differences from it reach hyper (see "The clock mapping").
        let origin = Instant::now();
        Timer { io, origin, origin_at }
    }

    /// The `Instant` that stands for `t`, a time of the awake clock.
    pub fn instant(&self, t: Timestamp) -> Instant {
        let d = t - self.origin_at;
        if d >= Duration::ZERO {
            let d = d.to_std_saturating();
            // 292 years past the origin at most: only a platform whose `Instant` cannot hold
            // that fails, and then the farthest it can is as good as never.
            self.origin.checked_add(d).unwrap_or_else(|| far_after(self.origin))
        } else {
            self.origin.checked_sub((-d).to_std_saturating()).unwrap_or(self.origin)
        }
    }

    /// The awake-clock time that `instant` stands for (the inverse of
    /// [`instant`](Self::instant)), saturating.
    pub fn timestamp(&self, instant: Instant) -> Timestamp {
        match instant.checked_duration_since(self.origin) {
            Some(after) => self.origin_at + Duration::from(after),
            None => self.origin_at - Duration::from(self.origin - instant),
        }
    }

    fn sleep_at(&self, deadline: Timestamp) -> Sleep {
        Sleep(OwnedSleep::new(self.io.clone(), Timeout::at(deadline, Clock::Awake), false))
    }
}

/// The latest `Instant` after `origin` that the platform holds, halving down from 292 years.
fn far_after(origin: Instant) -> Instant {
    let mut d = std::time::Duration::from_nanos(i64::MAX as u64);
    loop {
        if let Some(t) = origin.checked_add(d) {
            return t;
        }
        d /= 2;
    }
}

impl rt::Timer for Timer {
    fn sleep(&self, duration: std::time::Duration) -> Pin<Box<dyn rt::Sleep>> {
        Box::pin(Sleep(OwnedSleep::new(self.io.clone(), Timeout::after(duration.into()), false)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn rt::Sleep>> {
        Box::pin(self.sleep_at(self.timestamp(deadline)))
    }

    fn now(&self) -> Instant {
        self.instant(self.io.now(Clock::Awake))
    }

    /// Re-arms a sleep of this module in place (no new allocation); any other sleep is
    /// replaced.
    fn reset(&self, sleep: &mut Pin<Box<dyn rt::Sleep>>, new_deadline: Instant) {
        let at = self.timestamp(new_deadline);
        match sleep.as_mut().downcast_mut_pin::<Sleep>() {
            Some(ours) => ours.get_mut().0.reset(Timeout::at(at, Clock::Awake)),
            None => *sleep = Box::pin(self.sleep_at(at)),
        }
    }
}

/// A sleep of [`Timer`]: an uncancelable [`OwnedSleep`] with hyper's output type. hyper's
/// timeouts must fire even in a task asked to cancel (its socket I/O ends the connection then).
struct Sleep(OwnedSleep);

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().0.poll_elapsed(cx)
    }
}

impl rt::Sleep for Sleep {}
