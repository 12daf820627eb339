//! tokio's I/O traits on kqio's streams (feature `tokio-io`): `tokio::io::{AsyncRead,
//! AsyncWrite}` on [`TcpStream`], [`UnixStream`] and the owned halves [`ReadHalf`] and
//! [`WriteHalf`], so that code written against tokio's traits (tokio-util's codecs, tonic
//! transports, `tokio::io::copy`, ...) takes kqio sockets without `.compat()`.
//!
//! Only the traits: tokio comes in with no feature, and nothing here needs a tokio runtime.
//! Code that calls `tokio::spawn`, `tokio::time` or `tokio::net` does need one; the README's
//! section "Crates that need a tokio reactor" says what to do then.
//!
//! `AsyncBufRead` is not implemented: kqio's streams have no buffer of their own; wrap one in
//! `tokio::io::BufReader` for it.
//!
//! ```
//! use futures::{SinkExt, StreamExt};
//! use kqio::net::UnixStream;
//! use tokio_util::codec::{Framed, LinesCodec};
//!
//! let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
//! let io = rt.io();
//! rt.block_on(async {
//!     let (a, b) = UnixStream::pair(&io)?;
//!     let mut a = Framed::new(a, LinesCodec::new());
//!     let mut b = Framed::new(b, LinesCodec::new());
//!     a.send("hello").await?;
//!     assert_eq!(b.next().await.transpose()?, Some("hello".to_string()));
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! With `futures::io`'s traits in scope too, a `poll_read` or `poll_write` call on a kqio stream
//! is ambiguous: name the trait (`tokio::io::AsyncRead::poll_read(..)`). kqio's own `read`,
//! `write`, `read_exact` and `write_all` methods are inherent and win over both traits'
//! extension methods.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use ::tokio::io::ReadBuf;
use futures::io::AsyncWrite;

use super::MAX_READ;
use crate::net::stream::StreamCore;
use crate::net::{ReadCursor, ReadHalf, TcpStream, UnixStream, WriteHalf};

/// `tokio::io::AsyncRead::poll_read` for a kqio stream: straight into tokio's buffer, initialized
/// or not, through [`Io::net_poll_read_uninit`](crate::Io::net_poll_read_uninit) (a `ReadBuf`
/// made over a `BytesMut`'s spare room, as tokio-util's codecs make one per read, would
/// otherwise be zeroed every time).
fn poll_read(
    core: &StreamCore,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<io::Result<()>> {
    // SAFETY: tokio's `unfilled_mut` asks that no initialized byte be de-initialized. The memory
    // only reaches the backend inside a `ReadCursor`, whose safe methods store initialized bytes
    // only, and whose `unfilled_mut` binds its user to the same rule.
    let unfilled = unsafe { buf.unfilled_mut() };
    let len = unfilled.len().min(MAX_READ);
    let mut cursor = ReadCursor::new(&mut unfilled[..len]);
    ready!(core.io.net_poll_read_uninit(cx, &core.handle, &mut cursor))?;
    let n = cursor.filled_len();
    // SAFETY: `ReadCursor` guarantees (its ground rule 3) that its first `filled_len` bytes, the
    // first `n` of tokio's unfilled part, are initialized and hold what was read.
    unsafe { buf.assume_init(n) };
    buf.advance(n);
    Poll::Ready(Ok(()))
}

macro_rules! impl_tokio_read {
    ($ty:ty) => {
        impl ::tokio::io::AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                poll_read(self.core(), cx, buf)
            }
        }
    };
}

macro_rules! impl_tokio_write {
    ($ty:ty) => {
        impl ::tokio::io::AsyncWrite for $ty {
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

impl_tokio_read!(TcpStream);
impl_tokio_write!(TcpStream);
impl_tokio_read!(UnixStream);
impl_tokio_write!(UnixStream);
impl_tokio_read!(ReadHalf);
impl_tokio_write!(WriteHalf);
