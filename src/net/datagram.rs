//! What UDP and Unix datagram sockets share.

use std::future::poll_fn;
use std::io;

use super::{AddressKind, SocketAddress, SocketHandle};
use crate::IoRef;

#[derive(Debug)]
pub(crate) struct DatagramCore {
    pub(crate) io: IoRef,
    pub(crate) handle: SocketHandle,
}

impl DatagramCore {
    pub(crate) fn connect(&self, address: &SocketAddress) -> io::Result<()> {
        self.io.net_connect_datagram(&self.handle, address)
    }

    pub(crate) async fn send_to(&self, buf: &[u8], to: &SocketAddress) -> io::Result<usize> {
        poll_fn(|cx| self.io.net_poll_send_to(cx, &self.handle, buf, to)).await
    }

    pub(crate) async fn recv_from(
        &self,
        buf: &mut [u8],
        peek: bool,
    ) -> io::Result<(usize, SocketAddress)> {
        poll_fn(|cx| self.io.net_poll_receive_from(cx, &self.handle, buf, peek)).await
    }

    pub(crate) async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.io.net_poll_write(cx, &self.handle, buf)).await
    }

    pub(crate) async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        // A datagram read through `read` would treat an empty buffer as "done"; receive so that
        // the datagram is consumed either way.
        poll_fn(|cx| self.io.net_poll_receive_from(cx, &self.handle, buf, false))
            .await
            .map(|(n, _)| n)
    }

    pub(crate) fn address(&self, which: AddressKind) -> io::Result<SocketAddress> {
        self.io.net_address(&self.handle, which)
    }
}
