//! The simulated network (`SimNet`): every host's addresses and name, TCP, UDP and Unix
//! sockets, links with seeded latency, loss, duplication and reordering, partitions, clogs and
//! injected errors. A passive model (sim/env.rs): the world's `impl Io` delegates each `net_*`
//! method to the method of the same name here (`net_poll_read` -> [`SimNet::poll_read`]), with
//! the world's [`Env`] and the calling host first.
//!
//! What the model does, and what it does not:
//! - Hosts get 10.0.0.1, 10.0.0.2, ... in the order of their ids; `lookup` resolves their
//!   names (case-insensitive) and "localhost" (127.0.0.1, then ::1). Hosts have no IPv6
//!   address but ::1; an IPv6 socket reaches IPv4 peers as IPv4-mapped addresses.
//! - Streams keep the bytes in order and whole; a write is cut into segments of
//!   `NetOptions::segment_size`, each with its own latency, so reads may see it in parts. Send
//!   buffer plus receive window bound what a writer may have unread at the peer (backpressure);
//!   the window reopens when the reader reads (no ACK latency, no congestion control).
//! - A stream's data is never lost: a partition or a clog holds it until the link reopens
//!   (TCP's retransmissions); a segment lost to the link's loss draw arrives
//!   `NetOptions::retransmit_delay` later, with what follows it; a lost SYN is retried. There
//!   is no retransmission timeout that kills a connection.
//! - `Refused` after one round trip; a SYN that cannot cross is retried at 1 s, 2 s, ... and
//!   the connect fails with `TimedOut` after `NetOptions::connect_timeout` (a caller's own
//!   timeout usually comes first).
//! - Close with unread data (or `Linger(Some(0))`) resets the peer; otherwise the peer reads
//!   end of stream after what was in flight. A crashed host resets every connection at its
//!   peers (its RSTs travel the links) and loses its sockets; a handle that outlived it gets
//!   `NotConnected` with [`SocketGone`] inside.
//! - UDP: loss, duplication and reordering per link; a datagram to an address without a
//!   socket, or to a full queue, is dropped silently (no ICMP errors are modelled).
//! - Unix sockets live in a per-host name table, apart from the simulated disk: no socket
//!   file appears, the name is freed when the socket closes (the kernel leaves a file behind),
//!   and a path never reaches another host. Loopback and Unix traffic is never partitioned
//!   nor clogged.
//! - Socket options are kept and read back as set (no doubling of buffer sizes). Only the
//!   buffer sizes (windows) and `Linger(Some(0))` change the model; `NoDelay`, `Ttl`,
//!   `KeepAlive`, `Broadcast` have no effect on delivery.
//! - Errors are the kernel's, as raw OS errors where `Kqueue` returns one (`ECONNREFUSED`,
//!   `ECONNRESET`, `EPIPE`, `ENOTCONN`, `EADDRINUSE`, `EADDRNOTAVAIL`, `EMFILE`, `ENOENT`,
//!   `ETIMEDOUT`, `EMSGSIZE`, ...), so the same application code sees the same `io::Error`s.
//!
//! - A partition that never heals leaves a connection's data waiting (no retransmission
//!   timeout ends it): with nothing else scheduled, the world reports a deadlock.
//!
//! Wiring (what the world does): `SimNet::new(SimOptions::net)`; `add_host(id, name)` for each
//! host (its address is 10.0.0.1 + id); each `net_*` method of a host's `impl Io` calls the
//! method here with `(&env, host, ..)`; on a crash, [`SimNet::crash_host`] *before* the host's
//! tasks are dropped (else their sockets close gracefully, and peers read end of stream
//! instead of `ConnectionReset`), and [`SimNet::restart_host`] at its restart; the fault
//! controls (`partition`, `partition_one_way`, `heal`, `heal_link`, `heal_one_way`, `clog`,
//! `unclog`, `set_link`) forwarded from `Sim`.
//!
//! Ground rules:
//! 1. One `Mutex` around the state; no `env` call, wake or waker drop under it (state.rs,
//!    ground rule 3).
//! 2. Every `poll_*` method checks its handle first (a foreign handle: [`ForeignHandle`]),
//!    answers an empty buffer at once as `Kqueue` does, then is a cancellation point.
//! 3. A socket handle holds the `Env` it was made with, so that dropping it closes the socket
//!    (FIN or RST to the peer) like `close(2)`: the world must not hold its own lock while it
//!    drops task futures.

mod datagram;
mod options;
mod state;
mod stream;
#[cfg(test)]
mod tests;

pub use options::{Latency, LinkOptions, NetOptions};
pub use state::SocketGone;

use std::future::Future;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures::future::BoxFuture;

use crate::net::{
    AddressKind, BindOptions, ForeignHandle, ListenOptions, LookupResult, SocketAddress,
    SocketHandle, SocketKind, SocketOption, SocketOptionKind,
};
use crate::sim::env::{Env, HostId};
use crate::sim::idmap::sorted_ids;
use crate::task::current;
use state::{os, pair, Fx, Kind, Net, SockId};

/// The simulated network of a world.
pub(crate) struct SimNet {
    shared: Arc<Shared>,
}

struct Shared {
    net: Mutex<Net>,
}

/// What a `SocketHandle` made by `SimNet` holds.
struct SimSocket {
    shared: Arc<Shared>,
    env: Env,
    host: HostId,
    id: SockId,
}

impl Drop for SimSocket {
    fn drop(&mut self) {
        let mut fx = Fx::default();
        lock(&self.shared).close(&self.env, &mut fx, self.id, false);
        fx.flush(&self.env);
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, Net> {
    // A panic under the lock (a model bug) must not turn every later drop into a panic.
    shared.net.lock().unwrap_or_else(|e| e.into_inner())
}

macro_rules! ready_or {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Poll::Ready(Err(e)),
        }
    };
}

fn cancel_point() -> io::Result<()> {
    current::check_cancel().map_err(io::Error::from)
}

impl SimNet {
    /// A network with `options` and no hosts yet.
    pub(crate) fn new(options: NetOptions) -> SimNet {
        SimNet { shared: Arc::new(Shared { net: Mutex::new(Net::new(options)) }) }
    }

    /// Adds `host` (ids need not be dense) called `name` (what `lookup` resolves); its
    /// address.
    pub(crate) fn add_host(&self, host: HostId, name: &str) -> IpAddr {
        lock(&self.shared).add_host(host, name)
    }

    /// Crashes `host`: resets its connections at their peers, drops its sockets, frees its
    /// ports, names and descriptors, wakes every waiter. Its address and name stay (a
    /// restarted host is the same machine); until it is back (`restart_host`, or its first
    /// socket call) nothing reaches it: a connect to it retries and times out.
    ///
    /// Call it before dropping the host's tasks: a socket handle dropped first closes
    /// gracefully (its peer reads end of stream instead of `ConnectionReset`).
    pub(crate) fn crash_host(&self, env: &Env, host: HostId) {
        self.run(env, |net, fx| {
            let ids: Vec<SockId> = sorted_ids(&net.socks, |s| s.host == host);
            fx.logs.push(format!("net h{host}: crash, {} sockets dropped", ids.len()));
            for id in ids {
                net.close(env, fx, id, true);
            }
            let h = net.host_mut(host);
            h.ports.clear();
            h.unix.clear();
            h.open = 0;
            h.down = true;
        })
    }

    /// Marks a crashed `host` as back (its restart): its address answers again (connects to
    /// a port with no listener are refused). Without this call a host comes back at its first
    /// socket call.
    pub(crate) fn restart_host(&self, host: HostId) {
        lock(&self.shared).host_mut(host).down = false;
    }

    fn run<R>(&self, env: &Env, f: impl FnOnce(&mut Net, &mut Fx) -> R) -> R {
        let mut fx = Fx::default();
        let r = f(&mut lock(&self.shared), &mut fx);
        fx.flush(env);
        r
    }

    /// The id of a socket of this network made for `host`.
    fn id(&self, host: HostId, handle: &SocketHandle) -> io::Result<SockId> {
        match handle.downcast_ref::<SimSocket>() {
            Some(s) if Arc::ptr_eq(&s.shared, &self.shared) && s.host == host => Ok(s.id),
            _ => Err(ForeignHandle.into()),
        }
    }

    fn handle(&self, env: &Env, host: HostId, id: SockId) -> SocketHandle {
        SocketHandle::new(Arc::new(SimSocket {
            shared: self.shared.clone(),
            env: env.clone(),
            host,
            id,
        }))
    }

    // ----- the Io trait's net methods -----

    /// `Io::net_listen`.
    pub(crate) fn listen(
        &self,
        env: &Env,
        host: HostId,
        address: &SocketAddress,
        options: &ListenOptions,
    ) -> io::Result<SocketHandle> {
        let id = self.run(env, |net, fx| net.listen(env, fx, host, address, options))?;
        Ok(self.handle(env, host, id))
    }

    /// `Io::net_poll_accept`.
    pub(crate) fn poll_accept(
        &self,
        env: &Env,
        host: HostId,
        cx: &mut Context<'_>,
        listener: &SocketHandle,
    ) -> Poll<io::Result<(SocketHandle, SocketAddress)>> {
        let id = ready_or!(self.id(host, listener));
        ready_or!(cancel_point());
        let (sid, peer) =
            std::task::ready!(self.run(env, |net, fx| net.poll_accept(env, fx, cx, id)))?;
        Poll::Ready(Ok((self.handle(env, host, sid), peer)))
    }

    /// `Io::net_connect`.
    pub(crate) fn connect(
        &self,
        env: &Env,
        host: HostId,
        address: &SocketAddress,
    ) -> io::Result<SocketHandle> {
        let id = self.run(env, |net, fx| net.connect(env, fx, host, address))?;
        Ok(self.handle(env, host, id))
    }

    /// `Io::net_poll_connect`.
    pub(crate) fn poll_connect(
        &self,
        env: &Env,
        host: HostId,
        cx: &mut Context<'_>,
        socket: &SocketHandle,
    ) -> Poll<io::Result<()>> {
        let id = ready_or!(self.id(host, socket));
        ready_or!(cancel_point());
        self.run(env, |net, fx| net.poll_connect(env, fx, cx, id))
    }

    /// `Io::net_bind`.
    pub(crate) fn bind(
        &self,
        env: &Env,
        host: HostId,
        address: &SocketAddress,
        options: &BindOptions,
    ) -> io::Result<SocketHandle> {
        let id = self.run(env, |net, fx| net.bind(env, fx, host, address, options))?;
        Ok(self.handle(env, host, id))
    }

    /// `Io::net_connect_datagram`.
    pub(crate) fn connect_datagram(
        &self,
        env: &Env,
        host: HostId,
        socket: &SocketHandle,
        address: &SocketAddress,
    ) -> io::Result<()> {
        let id = self.id(host, socket)?;
        self.run(env, |net, _| net.connect_datagram(id, address))
    }

    /// `Io::net_socket_pair`.
    pub(crate) fn socket_pair(
        &self,
        env: &Env,
        host: HostId,
        kind: SocketKind,
    ) -> io::Result<(SocketHandle, SocketHandle)> {
        let stream = kind == SocketKind::Stream;
        let (a, b) = self.run(env, |net, fx| net.socket_pair(env, fx, host, stream))?;
        Ok((self.handle(env, host, a), self.handle(env, host, b)))
    }

    /// `Io::net_poll_read`.
    pub(crate) fn poll_read(
        &self,
        env: &Env,
        host: HostId,
        cx: &mut Context<'_>,
        socket: &SocketHandle,
        buf: &mut [u8],
        peek: bool,
    ) -> Poll<io::Result<usize>> {
        let id = ready_or!(self.id(host, socket));
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        ready_or!(cancel_point());
        self.read(env, cx, id, &mut [IoSliceMut::new(buf)], peek)
    }

    /// `Io::net_poll_read_vectored`.
    pub(crate) fn poll_read_vectored(
        &self,
        env: &Env,
        host: HostId,
        cx: &mut Context<'_>,
        socket: &SocketHandle,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        let id = ready_or!(self.id(host, socket));
        if bufs.iter().all(|b| b.is_empty()) {
            return Poll::Ready(Ok(0));
        }
        ready_or!(cancel_point());
        self.read(env, cx, id, bufs, false)
    }

    fn read(
        &self,
        env: &Env,
        cx: &mut Context<'_>,
        id: SockId,
        bufs: &mut [IoSliceMut<'_>],
        peek: bool,
    ) -> Poll<io::Result<usize>> {
        self.run(env, |net, fx| match net.sock(id).map(|s| matches!(s.kind, Kind::Datagram(_))) {
            Ok(true) => net.receive(env, fx, cx, id, bufs, peek).map_ok(|(n, _)| n),
            Ok(false) => net.read_stream(env, fx, cx, id, bufs, peek),
            Err(e) => Poll::Ready(Err(e)),
        })
    }

    /// `Io::net_poll_write`.
    pub(crate) fn poll_write(
        &self,
        env: &Env,
        host: HostId,
        cx: &mut Context<'_>,
        socket: &SocketHandle,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let id = ready_or!(self.id(host, socket));
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        ready_or!(cancel_point());
        self.write(env, cx, id, &[IoSlice::new(buf)])
    }

    /// `Io::net_poll_write_vectored`.
    pub(crate) fn poll_write_vectored(
        &self,
        env: &Env,
        host: HostId,
        cx: &mut Context<'_>,
        socket: &SocketHandle,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let id = ready_or!(self.id(host, socket));
        if bufs.iter().all(|b| b.is_empty()) {
            return Poll::Ready(Ok(0));
        }
        ready_or!(cancel_point());
        self.write(env, cx, id, bufs)
    }

    fn write(
        &self,
        env: &Env,
        cx: &mut Context<'_>,
        id: SockId,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.run(env, |net, fx| match net.sock(id).map(|s| matches!(s.kind, Kind::Datagram(_))) {
            Ok(true) => net.send(env, fx, cx, id, bufs, None),
            Ok(false) => net.write_stream(env, fx, cx, id, bufs),
            Err(e) => Poll::Ready(Err(e)),
        })
    }

    /// `Io::net_poll_receive_from`. On a stream it reads, and names the peer.
    pub(crate) fn poll_receive_from(
        &self,
        env: &Env,
        host: HostId,
        cx: &mut Context<'_>,
        socket: &SocketHandle,
        buf: &mut [u8],
        peek: bool,
    ) -> Poll<io::Result<(usize, SocketAddress)>> {
        let id = ready_or!(self.id(host, socket));
        ready_or!(cancel_point());
        let bufs = &mut [IoSliceMut::new(buf)];
        self.run(env, |net, fx| match net.sock(id).map(|s| &s.kind) {
            Ok(Kind::Datagram(_)) => net.receive(env, fx, cx, id, bufs, peek),
            Ok(Kind::Stream(s)) => {
                let peer = s.peer_addr.clone();
                net.read_stream(env, fx, cx, id, bufs, peek).map_ok(|n| (n, peer))
            }
            Ok(Kind::Listener(_)) => Poll::Ready(Err(os(libc::ENOTCONN))),
            Err(e) => Poll::Ready(Err(e)),
        })
    }

    /// `Io::net_poll_send_to`.
    pub(crate) fn poll_send_to(
        &self,
        env: &Env,
        host: HostId,
        cx: &mut Context<'_>,
        socket: &SocketHandle,
        buf: &[u8],
        address: &SocketAddress,
    ) -> Poll<io::Result<usize>> {
        let id = ready_or!(self.id(host, socket));
        ready_or!(cancel_point());
        self.run(env, |net, fx| net.send(env, fx, cx, id, &[IoSlice::new(buf)], Some(address)))
    }

    /// `Io::net_shutdown`.
    pub(crate) fn shutdown(
        &self,
        env: &Env,
        host: HostId,
        socket: &SocketHandle,
        how: Shutdown,
    ) -> io::Result<()> {
        let id = self.id(host, socket)?;
        self.run(env, |net, fx| match &net.sock(id)?.kind {
            Kind::Datagram(_) => net.shutdown_datagram(fx, id, how),
            Kind::Stream(_) => net.shutdown_stream(env, fx, id, how),
            Kind::Listener(_) => Err(os(libc::ENOTCONN)),
        })
    }

    /// `Io::net_address`.
    pub(crate) fn address(
        &self,
        env: &Env,
        host: HostId,
        socket: &SocketHandle,
        which: AddressKind,
    ) -> io::Result<SocketAddress> {
        let id = self.id(host, socket)?;
        let now = env.now();
        let net = lock(&self.shared);
        let sock = net.sock(id)?;
        match (which, &sock.kind) {
            (AddressKind::Local, _) => Ok(sock.local.clone()),
            (AddressKind::Peer, Kind::Stream(s)) => match s.conn {
                state::Conn::Established { at } if at <= now && !s.dead => Ok(s.peer_addr.clone()),
                _ => Err(os(libc::ENOTCONN)),
            },
            (AddressKind::Peer, Kind::Datagram(d)) => {
                d.peer.clone().ok_or_else(|| os(libc::ENOTCONN))
            }
            (AddressKind::Peer, Kind::Listener(_)) => Err(os(libc::ENOTCONN)),
        }
    }

    /// `Io::net_set_option`. Options are kept as set; see the module header for which change
    /// the model.
    pub(crate) fn set_option(
        &self,
        env: &Env,
        host: HostId,
        socket: &SocketHandle,
        option: SocketOption,
    ) -> io::Result<()> {
        let id = self.id(host, socket)?;
        let kind = option_kind(option);
        self.run(env, |net, fx| {
            let sock = net.sock_mut(id)?;
            check_option(sock, kind)?;
            sock.opts.set(option);
            // A larger window may let a blocked writer go on.
            fx.wake.append(&mut sock.writers);
            Ok(())
        })
    }

    /// `Io::net_option`.
    pub(crate) fn option(
        &self,
        _env: &Env,
        host: HostId,
        socket: &SocketHandle,
        kind: SocketOptionKind,
    ) -> io::Result<SocketOption> {
        let id = self.id(host, socket)?;
        let net = lock(&self.shared);
        let sock = net.sock(id)?;
        check_option(sock, kind)?;
        let o = &sock.opts;
        Ok(match kind {
            SocketOptionKind::NoDelay => SocketOption::NoDelay(o.no_delay),
            SocketOptionKind::Ttl => SocketOption::Ttl(o.ttl),
            SocketOptionKind::Broadcast => SocketOption::Broadcast(o.broadcast),
            SocketOptionKind::V6Only => SocketOption::V6Only(o.v6_only),
            SocketOptionKind::Linger => SocketOption::Linger(o.linger),
            SocketOptionKind::KeepAlive => SocketOption::KeepAlive(o.keep_alive),
            SocketOptionKind::ReuseAddress => SocketOption::ReuseAddress(o.reuse),
            SocketOptionKind::ReceiveBufferSize => SocketOption::ReceiveBufferSize(o.recv_buf),
            SocketOptionKind::SendBufferSize => SocketOption::SendBufferSize(o.send_buf),
            // `SocketOptionKind` is non-exhaustive: a kind added later is not simulated yet.
            #[allow(unreachable_patterns)]
            _ => return Err(os(libc::ENOPROTOOPT)),
        })
    }

    /// `Io::net_interface_index`: every host has "lo" (1) and "eth0" (2).
    pub(crate) fn interface_index(&self, _env: &Env, _host: HostId, name: &str) -> io::Result<u32> {
        if name.contains('\0') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "kqio: interface name contains a NUL byte",
            ));
        }
        INTERFACES.iter().position(|n| *n == name).map(|i| i as u32 + 1).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("kqio: no network interface named {name:?}"),
            )
        })
    }

    /// `Io::net_interface_name`.
    pub(crate) fn interface_name(
        &self,
        _env: &Env,
        _host: HostId,
        index: u32,
    ) -> io::Result<String> {
        index
            .checked_sub(1)
            .and_then(|i| INTERFACES.get(i as usize))
            .map(|n| (*n).to_owned())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("kqio: no network interface with index {index}"),
                )
            })
    }

    /// `Io::net_lookup`: host names (case-insensitive) and "localhost", answered after a
    /// loopback latency (the resolver is local). `NotFound` otherwise, as `getaddrinfo`'s
    /// `EAI_NONAME`.
    pub(crate) fn lookup(
        &self,
        env: &Env,
        host: HostId,
        name: &str,
        port: u16,
    ) -> BoxFuture<'static, io::Result<LookupResult>> {
        let (result, at) = self.run(env, |net, fx| {
            let name = name.strip_suffix('.').unwrap_or(name);
            let result = if name.eq_ignore_ascii_case("localhost") {
                Ok(LookupResult {
                    addresses: vec![
                        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
                        SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port),
                    ],
                    canonical_name: Some("localhost".to_owned()),
                })
            } else if let Some(h) = net.host_by_name(name) {
                let h = net.host(h);
                Ok(LookupResult {
                    addresses: vec![SocketAddr::new(IpAddr::V4(h.ip), port)],
                    canonical_name: Some(h.name.clone()),
                })
            } else {
                Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("kqio: lookup of {name:?}: Name or service not known"),
                ))
            };
            fx.logs.push(format!(
                "net h{host}: lookup {name:?}: {}",
                if result.is_ok() { "found" } else { "not found" }
            ));
            (result, env.now() + net.latency(env, host, host))
        });
        let env = env.clone();
        Box::pin(async move {
            Until { env, at }.await;
            result
        })
    }

    // ----- fault controls (the world forwards them through `Sim`) -----

    /// Cuts the link between `a` and `b` both ways: datagrams are lost, stream data and
    /// FIN/RST are held (TCP retransmits) until [`heal`](Self::heal), SYNs are lost (a connect
    /// retries, then times out).
    pub(crate) fn partition(&self, env: &Env, a: HostId, b: HostId) {
        self.control(env, format!("partition h{a} <-> h{b}"), |net| {
            net.cut.insert((a, b));
            net.cut.insert((b, a));
        })
    }

    /// Cuts the link from `from` to `to` only (as [`partition`](Self::partition), one way;
    /// a connect needs both ways).
    pub(crate) fn partition_one_way(&self, env: &Env, from: HostId, to: HostId) {
        self.control(env, format!("partition h{from} -> h{to}"), |net| {
            net.cut.insert((from, to));
        })
    }

    /// Heals every partition: held stream data leaves now, with fresh latencies, in order.
    pub(crate) fn heal(&self, env: &Env) {
        self.control(env, "heal all".to_owned(), |net| net.cut.clear())
    }

    /// Heals the partition between `a` and `b` (both ways).
    pub(crate) fn heal_link(&self, env: &Env, a: HostId, b: HostId) {
        self.control(env, format!("heal h{a} <-> h{b}"), |net| {
            net.cut.remove(&(a, b));
            net.cut.remove(&(b, a));
        })
    }

    /// Heals the partition from `from` to `to` only (the inverse of
    /// [`partition_one_way`](Self::partition_one_way)); a cut from `to` to `from` stays. Held
    /// stream data from `from` to `to` leaves now, with fresh latencies, in order.
    pub(crate) fn heal_one_way(&self, env: &Env, from: HostId, to: HostId) {
        self.control(env, format!("heal h{from} -> h{to}"), |net| {
            net.cut.remove(&(from, to));
        })
    }

    /// Clogs `host`: everything to or from it (segments, datagrams, SYNs) is delayed, not lost,
    /// until [`unclog`](Self::unclog); SYNs are retried as under a partition.
    pub(crate) fn clog(&self, env: &Env, host: HostId) {
        self.control(env, format!("clog h{host}"), |net| {
            net.clogged.insert(host);
        })
    }

    /// Unclogs `host`: what it held leaves now, in order, after fresh latencies.
    pub(crate) fn unclog(&self, env: &Env, host: HostId) {
        self.control(env, format!("unclog h{host}"), |net| {
            net.clogged.remove(&host);
        })
    }

    /// Sets the link between `a` and `b` (both ways; `a == b`: nothing, loopback is
    /// `NetOptions::loopback`) from now on. Messages already sent keep their times.
    pub(crate) fn set_link(&self, env: &Env, a: HostId, b: HostId, link: LinkOptions) {
        self.control(env, format!("set link h{a} <-> h{b}"), |net| {
            if a != b {
                net.links.insert(pair(a, b), link);
            }
        })
    }

    /// The address of `host`.
    pub(crate) fn host_address(&self, host: HostId) -> IpAddr {
        IpAddr::V4(lock(&self.shared).host(host).ip)
    }

    fn control(&self, env: &Env, what: String, f: impl FnOnce(&mut Net)) {
        self.run(env, |net, fx| {
            fx.logs.push(format!("net: {what}"));
            f(net);
            net.retime(env, fx);
        })
    }
}

const INTERFACES: [&str; 2] = ["lo", "eth0"];

fn option_kind(option: SocketOption) -> SocketOptionKind {
    match option {
        SocketOption::NoDelay(_) => SocketOptionKind::NoDelay,
        SocketOption::Ttl(_) => SocketOptionKind::Ttl,
        SocketOption::Broadcast(_) => SocketOptionKind::Broadcast,
        SocketOption::V6Only(_) => SocketOptionKind::V6Only,
        SocketOption::Linger(_) => SocketOptionKind::Linger,
        SocketOption::KeepAlive(_) => SocketOptionKind::KeepAlive,
        SocketOption::ReuseAddress(_) => SocketOptionKind::ReuseAddress,
        SocketOption::ReceiveBufferSize(_) => SocketOptionKind::ReceiveBufferSize,
        SocketOption::SendBufferSize(_) => SocketOptionKind::SendBufferSize,
    }
}

/// The kernel's refusals of options that do not fit the socket: IP-level options on a Unix
/// socket (`EOPNOTSUPP`), TCP's on a datagram socket and IPv6's on an IPv4 one
/// (`ENOPROTOOPT`).
fn check_option(sock: &state::Sock, kind: SocketOptionKind) -> io::Result<()> {
    let ip = sock.local.as_ip();
    let ip_level = matches!(
        kind,
        SocketOptionKind::NoDelay | SocketOptionKind::Ttl | SocketOptionKind::V6Only
    );
    match ip {
        None if ip_level => Err(os(libc::EOPNOTSUPP)),
        Some(_) if kind == SocketOptionKind::NoDelay && matches!(sock.kind, Kind::Datagram(_)) => {
            Err(os(libc::ENOPROTOOPT))
        }
        Some(a) if kind == SocketOptionKind::V6Only && a.is_ipv4() => Err(os(libc::ENOPROTOOPT)),
        _ => Ok(()),
    }
}

/// Ready once virtual time reaches `at`.
struct Until {
    env: Env,
    at: u64,
}

impl Future for Until {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.env.now() >= self.at {
            return Poll::Ready(());
        }
        self.env.wake_at(self.at, cx.waker().clone());
        // A name lookup is a blocking-pool job on `Kqueue`: the same record.
        crate::task::activity::wait_on(crate::task::WaitingOn::Blocking);
        Poll::Pending
    }
}
