//! Datagrams (UDP and Unix): bind, connect, send with the link's loss, duplication and
//! reordering, receive with boundaries kept.
//!
//! Ground rules:
//! 1. A datagram is decided when sent: lost (partition, loss draw, no socket there, a full
//!    receive queue), or put into the receiver's queue, sorted by arrival time, once or twice.
//! 2. UDP never waits to send; a Unix datagram waits while the receiver's queue is full, as the
//!    kernel makes it (`writers` of the receiver).
//! 3. Without a reorder draw, datagrams of one link arrive in the order they were sent.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Shutdown, SocketAddr};
use std::task::{Context, Poll};

use super::options::chance;
use super::state::{
    canonical, destination, in_family, os, register, unix_address, Binding, Datagram, Dgram, Fx,
    Kind, Net, Proto, Sock, SockId, HELD, MAX_UDP_PAYLOAD,
};
use super::stream::{gather, unnamed, Sink};
use crate::net::{BindOptions, SocketAddress};
use crate::sim::env::{Env, HostId};

fn dgram_mut(sock: &mut Sock) -> Option<&mut Datagram> {
    match &mut sock.kind {
        Kind::Datagram(d) => Some(d),
        _ => None,
    }
}

fn same(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && canonical(a.ip()) == canonical(b.ip())
}

impl Net {
    pub(super) fn bind(
        &mut self,
        env: &Env,
        fx: &mut Fx,
        host: HostId,
        address: &SocketAddress,
        options: &BindOptions,
    ) -> io::Result<SockId> {
        let id = self.new_id();
        let mut opts = self.default_opts();
        let (local, unix) = match address {
            SocketAddress::Ip(a) => {
                let v6_only = options.v6_only.unwrap_or(false);
                self.take_descriptors(host, 1)?;
                let port = self
                    .claim(
                        env,
                        host,
                        Proto::Udp,
                        a.port(),
                        Binding { ip: a.ip(), sock: id, reuse: options.reuse_address, v6_only },
                    )
                    .inspect_err(|_| self.host_mut(host).open -= 1)?;
                opts.reuse = options.reuse_address;
                opts.v6_only = v6_only;
                opts.broadcast = options.broadcast;
                (SocketAddress::Ip(SocketAddr::new(a.ip(), port)), false)
            }
            SocketAddress::Unix(u) => {
                let path = u.as_pathname().map(|p| p.to_path_buf());
                if let Some(p) = &path {
                    if self.host(host).unix.contains_key(p) {
                        return Err(os(libc::EADDRINUSE));
                    }
                }
                self.take_descriptors(host, 1)?;
                if let Some(p) = &path {
                    self.host_mut(host).unix.insert(p.clone(), id);
                }
                (unix_address(path.as_ref()), true)
            }
        };
        fx.logs.push(format!("net h{host}: bind {local}"));
        self.insert(
            id,
            Sock {
                host,
                local,
                opts,
                readers: Vec::new(),
                writers: Vec::new(),
                counted: true,
                kind: Kind::Datagram(Datagram::new(unix)),
            },
        );
        Ok(id)
    }

    pub(super) fn connect_datagram(
        &mut self,
        id: SockId,
        address: &SocketAddress,
    ) -> io::Result<()> {
        let sock = self.sock(id)?;
        let host = sock.host;
        let unix = match &sock.kind {
            Kind::Datagram(d) => d.unix,
            Kind::Stream(_) => return Err(os(libc::EISCONN)),
            Kind::Listener(_) => return Err(os(libc::EINVAL)),
        };
        match (address, unix) {
            (SocketAddress::Ip(a), false) => {
                let local = sock.local.as_ip().expect("a UDP socket has an IP address");
                if local.is_ipv4() && a.is_ipv6() {
                    return Err(os(libc::EAFNOSUPPORT));
                }
                // Connecting picks the source address a wildcard socket sends from.
                let local = if local.ip().is_unspecified() {
                    let src = self.source_ip(host, a.ip());
                    SocketAddr::new(
                        in_family(SocketAddr::new(src, 0), local.is_ipv6()).ip(),
                        local.port(),
                    )
                } else {
                    local
                };
                let sock = self.sock_mut(id)?;
                sock.local = SocketAddress::Ip(local);
                let d = dgram_mut(sock).expect("checked above");
                d.peer = Some(address.clone());
                Ok(())
            }
            (SocketAddress::Unix(u), true) => {
                let path = u.as_pathname().ok_or_else(unnamed)?;
                let target = *self.host(host).unix.get(path).ok_or_else(|| os(libc::ENOENT))?;
                if !matches!(self.sock(target)?.kind, Kind::Datagram(_)) {
                    return Err(os(libc::EPROTOTYPE));
                }
                let d = dgram_mut(self.sock_mut(id)?).expect("checked above");
                d.peer = Some(address.clone());
                d.peer_sock = Some(target);
                Ok(())
            }
            _ => Err(os(libc::EINVAL)),
        }
    }

    /// Sends one datagram made of `bufs` to `to`, or to the connected peer.
    pub(super) fn send(
        &mut self,
        env: &Env,
        fx: &mut Fx,
        cx: &mut Context<'_>,
        id: SockId,
        bufs: &[IoSlice<'_>],
        to: Option<&SocketAddress>,
    ) -> Poll<io::Result<usize>> {
        let sock = match self.sock(id) {
            Ok(s) => s,
            Err(e) => return Poll::Ready(Err(e)),
        };
        let Kind::Datagram(d) = &sock.kind else {
            return Poll::Ready(Err(os(libc::EISCONN)));
        };
        if d.write_shut {
            return Poll::Ready(Err(os(libc::EPIPE)));
        }
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        if d.unix {
            let target = match to {
                Some(SocketAddress::Unix(u)) => {
                    let Some(path) = u.as_pathname() else { return Poll::Ready(Err(unnamed())) };
                    match self.host(sock.host).unix.get(path) {
                        Some(t) => *t,
                        None => return Poll::Ready(Err(os(libc::ENOENT))),
                    }
                }
                Some(SocketAddress::Ip(_)) => return Poll::Ready(Err(os(libc::EINVAL))),
                None => match d.peer_sock {
                    Some(t) => t,
                    None => return Poll::Ready(Err(os(libc::ENOTCONN))),
                },
            };
            if len > sock.opts.send_buf {
                return Poll::Ready(Err(os(libc::EMSGSIZE)));
            }
            return self.send_unix(env, fx, cx, id, target, bufs, len);
        }
        let dst = match to.or(d.peer.as_ref()) {
            Some(SocketAddress::Ip(a)) => *a,
            Some(SocketAddress::Unix(_)) => return Poll::Ready(Err(os(libc::EINVAL))),
            None => return Poll::Ready(Err(os(libc::EDESTADDRREQ))),
        };
        if len > MAX_UDP_PAYLOAD {
            return Poll::Ready(Err(os(libc::EMSGSIZE)));
        }
        Poll::Ready(self.send_udp(env, fx, id, dst, bufs, len))
    }

    fn send_udp(
        &mut self,
        env: &Env,
        fx: &mut Fx,
        id: SockId,
        dst: SocketAddr,
        bufs: &[IoSlice<'_>],
        len: usize,
    ) -> io::Result<usize> {
        let dst = destination(dst);
        let now = env.now();
        let sock = &self.socks[&id];
        let host = sock.host;
        let local = sock.local.as_ip().expect("a UDP socket has an IP address");
        let dst_v4 = canonical(dst.ip()).is_ipv4();
        if local.is_ipv4() && dst.is_ipv6() {
            return Err(os(libc::EAFNOSUPPORT));
        }
        if local.is_ipv6() && dst_v4 && sock.opts.v6_only {
            return Err(os(libc::ENETUNREACH));
        }
        Net::check_route(dst.ip())?;
        let src_ip =
            if local.ip().is_unspecified() { self.source_ip(host, dst.ip()) } else { local.ip() };
        let from = SocketAddr::new(src_ip, local.port());
        // Silently gone: no route, a partition, the loss draw, no socket there, a socket
        // connected elsewhere, a full queue.
        let Some(to) = self.route(host, dst.ip()) else { return Ok(len) };
        if self.is_cut(host, to) {
            return Ok(len);
        }
        let link = self.link(host, to);
        if chance(env, link.loss) {
            return Ok(len);
        }
        let Some(rid) =
            self.find_bound(to, Proto::Udp, dst, |s| matches!(s.kind, Kind::Datagram(_)))
        else {
            return Ok(len);
        };
        let r = &self.socks[&rid];
        let Kind::Datagram(rd) = &r.kind else { unreachable!("filtered above") };
        let connected_elsewhere = matches!(&rd.peer, Some(SocketAddress::Ip(p)) if !same(*p, from));
        if connected_elsewhere || rd.read_shut || rd.queued_bytes + len > r.opts.recv_buf {
            return Ok(len);
        }
        let r_v6 = r.local.as_ip().is_some_and(|a| a.is_ipv6());
        let copies = if chance(env, link.duplicate) { 2 } else { 1 };
        let data = gather(bufs, len, len.max(1)).pop().unwrap_or_default();
        let mut first = HELD;
        for _ in 0..copies {
            let at = if self.is_clogged(host, to) {
                HELD
            } else {
                let lat = link.latency.draw(env);
                if chance(env, link.reorder) {
                    let spread = link.latency.max_nanos().max(1_000_000);
                    now + lat + 1 + env.random_u64() % spread
                } else {
                    let last = self.udp_last.get(&(host, to)).copied().unwrap_or(0);
                    let at = (now + lat).max(last);
                    self.udp_last.insert((host, to), at);
                    at
                }
            };
            first = first.min(at);
            let g = Dgram {
                at,
                from: SocketAddress::Ip(in_family(from, r_v6)),
                from_host: host,
                data: data.clone(),
            };
            let r = self.socks.get_mut(&rid).expect("found above");
            let rd = dgram_mut(r).expect("found above");
            let pos = rd.queue.partition_point(|q| q.at <= at);
            rd.queue.insert(pos, g);
            rd.queued_bytes += len;
            rd.last_at = rd.last_at.max(at);
        }
        let r = self.socks.get_mut(&rid).expect("found above");
        fx.wake_all_at(&mut r.readers, first, now);
        Ok(len)
    }

    #[allow(clippy::too_many_arguments)]
    fn send_unix(
        &mut self,
        env: &Env,
        fx: &mut Fx,
        cx: &mut Context<'_>,
        id: SockId,
        target: SockId,
        bufs: &[IoSlice<'_>],
        len: usize,
    ) -> Poll<io::Result<usize>> {
        let now = env.now();
        let (host, from) = (self.socks[&id].host, self.socks[&id].local.clone());
        let Some(r) = self.socks.get(&target) else {
            return Poll::Ready(Err(os(libc::ECONNREFUSED)));
        };
        let Kind::Datagram(rd) = &r.kind else { return Poll::Ready(Err(os(libc::EPROTOTYPE))) };
        if rd.peer_sock.is_some_and(|p| p != id) {
            return Poll::Ready(Err(os(libc::EPERM)));
        }
        if rd.read_shut {
            return Poll::Ready(Ok(len));
        }
        if !rd.queue.is_empty() && rd.queued_bytes + len > r.opts.recv_buf {
            let r = self.socks.get_mut(&target).expect("checked above");
            register(&mut r.writers, cx);
            return Poll::Pending;
        }
        let at = (now + self.latency(env, host, host)).max(rd.last_at);
        let data = gather(bufs, len, len.max(1)).pop().unwrap_or_default();
        let r = self.socks.get_mut(&target).expect("checked above");
        let rd = dgram_mut(r).expect("checked above");
        rd.queue.push_back(Dgram { at, from, from_host: host, data });
        rd.queued_bytes += len;
        rd.last_at = at;
        fx.wake_all_at(&mut r.readers, at, now);
        Poll::Ready(Ok(len))
    }

    /// Receives one datagram into `bufs` (the excess is discarded); its length as copied and
    /// its sender.
    pub(super) fn receive(
        &mut self,
        env: &Env,
        fx: &mut Fx,
        cx: &mut Context<'_>,
        id: SockId,
        bufs: &mut [IoSliceMut<'_>],
        peek: bool,
    ) -> Poll<io::Result<(usize, SocketAddress)>> {
        let now = env.now();
        let sock = match self.sock_mut(id) {
            Ok(s) => s,
            Err(e) => return Poll::Ready(Err(e)),
        };
        let local = sock.local.clone();
        let Some(d) = dgram_mut(sock) else { return Poll::Ready(Err(os(libc::ENOTCONN))) };
        if d.read_shut {
            return Poll::Ready(Ok((0, local)));
        }
        match d.queue.front() {
            Some(g) if g.at <= now => {
                let n = Sink::new(bufs).put(&g.data);
                let from = g.from.clone();
                if !peek {
                    let g = d.queue.pop_front().expect("checked above");
                    d.queued_bytes -= g.data.len();
                    fx.wake.append(&mut sock.writers);
                }
                Poll::Ready(Ok((n, from)))
            }
            next => {
                let next = next.map(|g| g.at).filter(|&at| at != HELD);
                register(&mut sock.readers, cx);
                if let Some(at) = next {
                    fx.timers.push((at, cx.waker().clone()));
                }
                Poll::Pending
            }
        }
    }

    pub(super) fn shutdown_datagram(
        &mut self,
        fx: &mut Fx,
        id: SockId,
        how: Shutdown,
    ) -> io::Result<()> {
        let sock = self.sock_mut(id)?;
        let Some(d) = dgram_mut(sock) else { return Err(os(libc::ENOTCONN)) };
        if d.peer.is_none() && d.peer_sock.is_none() {
            return Err(os(libc::ENOTCONN));
        }
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            d.read_shut = true;
            d.queue.clear();
            d.queued_bytes = 0;
        }
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            d.write_shut = true;
        }
        fx.wake.append(&mut sock.readers);
        fx.wake.append(&mut sock.writers);
        Ok(())
    }

    /// A connected pair of Unix sockets on `host`.
    pub(super) fn socket_pair(
        &mut self,
        env: &Env,
        fx: &mut Fx,
        host: HostId,
        stream: bool,
    ) -> io::Result<(SockId, SockId)> {
        self.take_descriptors(host, 2)?;
        let (a, b) = (self.new_id(), self.new_id());
        let opts = self.default_opts();
        let now = env.now();
        for (me, peer) in [(a, b), (b, a)] {
            let kind = if stream {
                let mut s = super::state::Stream::new(
                    unix_address(None),
                    super::state::Conn::Established { at: now },
                );
                s.link(peer, host);
                Kind::Stream(s)
            } else {
                let mut d = Datagram::new(true);
                d.peer = Some(unix_address(None));
                d.peer_sock = Some(peer);
                Kind::Datagram(d)
            };
            self.insert(
                me,
                Sock {
                    host,
                    local: unix_address(None),
                    opts: opts.clone(),
                    readers: Vec::new(),
                    writers: Vec::new(),
                    counted: true,
                    kind,
                },
            );
        }
        fx.logs.push(format!(
            "net h{host}: socket pair ({})",
            if stream { "stream" } else { "datagram" }
        ));
        Ok((a, b))
    }
}
