//! What TCP and Unix streams share: the read/write calls, `AsyncRead`/`AsyncWrite`, and owned
//! halves.

use std::future::poll_fn;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::Shutdown;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::io::{AsyncRead, AsyncWrite};

use super::{AddressKind, SocketAddress, SocketHandle};
use crate::IoRef;

/// A connected stream socket: its backend and handle.
#[derive(Debug, Clone)]
pub(crate) struct StreamCore {
    pub(crate) io: IoRef,
    pub(crate) handle: SocketHandle,
}

impl StreamCore {
    pub(crate) async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.io.net_poll_read(cx, &self.handle, buf, false)).await
    }

    pub(crate) async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.io.net_poll_read(cx, &self.handle, buf, true)).await
    }

    pub(crate) async fn read_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        poll_fn(|cx| self.io.net_poll_read_vectored(cx, &self.handle, bufs)).await
    }

    pub(crate) async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.io.net_poll_write(cx, &self.handle, buf)).await
    }

    pub(crate) async fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        poll_fn(|cx| self.io.net_poll_write_vectored(cx, &self.handle, bufs)).await
    }

    pub(crate) async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let n = self.write(buf).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            buf = &buf[n..];
        }
        Ok(())
    }

    pub(crate) async fn read_exact(&self, mut buf: &mut [u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let n = self.read(buf).await?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            buf = &mut buf[n..];
        }
        Ok(())
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.net_shutdown(&self.handle, how)
    }

    pub(crate) fn address(&self, which: AddressKind) -> io::Result<SocketAddress> {
        self.io.net_address(&self.handle, which)
    }

    pub(crate) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.io.net_poll_read(cx, &self.handle, buf, false)
    }

    pub(crate) fn poll_read_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        self.io.net_poll_read_vectored(cx, &self.handle, bufs)
    }

    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io.net_poll_write(cx, &self.handle, buf)
    }

    pub(crate) fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.io.net_poll_write_vectored(cx, &self.handle, bufs)
    }

    /// `poll_close` of `AsyncWrite`: shuts down writing (a socket has nothing to flush). A peer
    /// that already went away makes this a no-op, not an error.
    pub(crate) fn poll_close(&self) -> Poll<io::Result<()>> {
        match self.shutdown(Shutdown::Write) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Poll::Ready(Ok(())),
            r => Poll::Ready(r),
        }
    }
}

/// Implements `futures::io::{AsyncRead, AsyncWrite}` for a type with a `core: StreamCore` field,
/// and for a shared reference to it.
macro_rules! impl_async_io {
    ($ty:ty) => {
        impl futures::io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.core.poll_read(cx, buf)
            }
            fn poll_read_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.core.poll_read_vectored(cx, bufs)
            }
        }
        impl futures::io::AsyncRead for &$ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.core.poll_read(cx, buf)
            }
            fn poll_read_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.core.poll_read_vectored(cx, bufs)
            }
        }
        impl futures::io::AsyncWrite for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.core.poll_write(cx, buf)
            }
            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.core.poll_write_vectored(cx, bufs)
            }
            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }
            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.core.poll_close()
            }
        }
        impl futures::io::AsyncWrite for &$ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.core.poll_write(cx, buf)
            }
            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.core.poll_write_vectored(cx, bufs)
            }
            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }
            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.core.poll_close()
            }
        }
    };
}
pub(crate) use impl_async_io;

/// Defines the read/write methods shared by `TcpStream` and `UnixStream` on a type with a
/// `core: StreamCore` field.
macro_rules! stream_methods {
    () => {
        /// Reads into `buf` and returns how many bytes were read; `Ok(0)` means the peer closed
        /// its writing side (or `buf` is empty). Waits until data is there.
        ///
        /// # Cancellation
        ///
        /// A cancellation point; nothing is consumed when it returns `Canceled`.
        pub async fn read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.core.read(buf).await
        }

        /// Reads exactly `buf.len()` bytes; `UnexpectedEof` if the peer closes first.
        ///
        /// # Cancellation
        ///
        /// A cancellation point at each read; bytes already read into `buf` stay there.
        pub async fn read_exact(&self, buf: &mut [u8]) -> std::io::Result<()> {
            self.core.read_exact(buf).await
        }

        /// Reads into `buf` without consuming: the next read returns the same bytes.
        ///
        /// # Cancellation
        ///
        /// A cancellation point.
        pub async fn peek(&self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.core.peek(buf).await
        }

        /// Reads into several buffers in order (`readv`; at most 1,024 buffers per call).
        ///
        /// # Cancellation
        ///
        /// A cancellation point.
        pub async fn read_vectored(
            &self,
            bufs: &mut [std::io::IoSliceMut<'_>],
        ) -> std::io::Result<usize> {
            self.core.read_vectored(bufs).await
        }

        /// Writes some of `buf` and returns how many bytes; waits until the socket can take
        /// some. Writing to a connection the peer reset is an error (`BrokenPipe` or
        /// `ConnectionReset`), never a signal.
        ///
        /// # Cancellation
        ///
        /// A cancellation point; nothing was written when it returns `Canceled`.
        pub async fn write(&self, buf: &[u8]) -> std::io::Result<usize> {
            self.core.write(buf).await
        }

        /// Writes all of `buf`.
        ///
        /// # Cancellation
        ///
        /// A cancellation point at each write: a part of `buf` may have been sent when it
        /// returns `Canceled`.
        pub async fn write_all(&self, buf: &[u8]) -> std::io::Result<()> {
            self.core.write_all(buf).await
        }

        /// Writes from several buffers in order (`writev`; at most 1,024 buffers per call).
        ///
        /// # Cancellation
        ///
        /// A cancellation point.
        pub async fn write_vectored(
            &self,
            bufs: &[std::io::IoSlice<'_>],
        ) -> std::io::Result<usize> {
            self.core.write_vectored(bufs).await
        }

        /// Shuts down the reading, writing or both halves of the connection (`shutdown(2)`):
        /// after `Write`, the peer reads end of stream.
        pub fn shutdown(&self, how: std::net::Shutdown) -> std::io::Result<()> {
            self.core.shutdown(how)
        }

        /// Splits the stream into a reading and a writing half that two tasks can own. Dropping
        /// the write half shuts down writing; the socket closes when both are dropped.
        pub fn into_split(self) -> ($crate::net::ReadHalf, $crate::net::WriteHalf) {
            $crate::net::stream::split(self.core)
        }

        /// The socket's opaque handle.
        pub fn handle(&self) -> &$crate::net::SocketHandle {
            &self.core.handle
        }
    };
}
pub(crate) use stream_methods;

pub(crate) fn split(core: StreamCore) -> (ReadHalf, WriteHalf) {
    (ReadHalf { core: core.clone() }, WriteHalf { core })
}

/// The reading half of a stream, from `TcpStream::into_split` or `UnixStream::into_split`.
#[derive(Debug)]
pub struct ReadHalf {
    core: StreamCore,
}

impl ReadHalf {
    /// The backend and handle (for the compat adapters).
    #[cfg(feature = "tokio-io")]
    pub(crate) fn core(&self) -> &StreamCore {
        &self.core
    }

    /// As [`TcpStream::read`](super::TcpStream::read).
    ///
    /// # Cancellation
    ///
    /// A cancellation point.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.core.read(buf).await
    }

    /// As [`TcpStream::read_exact`](super::TcpStream::read_exact).
    ///
    /// # Cancellation
    ///
    /// A cancellation point at each read.
    pub async fn read_exact(&self, buf: &mut [u8]) -> io::Result<()> {
        self.core.read_exact(buf).await
    }

    /// As [`TcpStream::peek`](super::TcpStream::peek).
    ///
    /// # Cancellation
    ///
    /// A cancellation point.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.core.peek(buf).await
    }

    /// The peer's address.
    pub fn peer_address(&self) -> io::Result<SocketAddress> {
        self.core.address(AddressKind::Peer)
    }
}

/// The writing half of a stream. Dropping it shuts down writing, so the peer reads end of
/// stream even while the read half lives on.
#[derive(Debug)]
pub struct WriteHalf {
    core: StreamCore,
}

impl WriteHalf {
    /// As [`TcpStream::write`](super::TcpStream::write).
    ///
    /// # Cancellation
    ///
    /// A cancellation point.
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.core.write(buf).await
    }

    /// As [`TcpStream::write_all`](super::TcpStream::write_all).
    ///
    /// # Cancellation
    ///
    /// A cancellation point at each write.
    pub async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        self.core.write_all(buf).await
    }

    /// The peer's address.
    pub fn peer_address(&self) -> io::Result<SocketAddress> {
        self.core.address(AddressKind::Peer)
    }
}

impl Drop for WriteHalf {
    fn drop(&mut self) {
        // The peer may be gone already; there is nobody to tell then.
        let _ = self.core.shutdown(Shutdown::Write);
    }
}

impl AsyncRead for ReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.core.poll_read(cx, buf)
    }
    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        self.core.poll_read_vectored(cx, bufs)
    }
}

impl AsyncWrite for WriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.core.poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.core.poll_write_vectored(cx, bufs)
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.core.poll_close()
    }
}
