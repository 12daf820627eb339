//! Streams (TCP and Unix): listen, connect (handshake, refusal, SYN retries), accept, reads and
//! writes through send and receive windows, half-close, reset, close.
//!
//! Ground rules:
//! 1. A connection is two sockets, each with an `inbox` of what its peer sent (data, FIN, RST)
//!    in order; the writer puts segments straight into the peer's inbox with their arrival time.
//! 2. A writer may have at most its send buffer plus the peer's receive window unread in the
//!    peer's inbox (in flight or arrived): beyond that it waits (`writers`) until the reader
//!    reads. The window opens as soon as the reader reads (the ACK's latency is not modelled).
//! 3. A connect's outcome is decided when its SYN leaves (at `connect`, or at a retry), from
//!    the listeners there then; a SYN that cannot cross (partition, clog, full backlog, an
//!    address no host has) is retried at 1 s, 2 s, 4 s ... until `connect_timeout`.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Shutdown, SocketAddr};
use std::task::{Context, Poll};

use super::options::chance;
use super::state::{
    destination, gone, in_family, os, register, unix_address, Binding, Conn, Fx, Kind, Listener,
    Net, Proto, Seg, Segment, Sock, SockId, Stream, HELD,
};
use crate::net::{ListenOptions, SocketAddress};
use crate::sim::env::{Env, HostId};

/// The first SYN retransmission timeout (RFC 6298).
const FIRST_RTO: u64 = 1_000_000_000;

/// Copies bytes into a list of buffers, in order.
pub(super) struct Sink<'a, 'b> {
    bufs: &'a mut [IoSliceMut<'b>],
    i: usize,
    off: usize,
}

impl<'a, 'b> Sink<'a, 'b> {
    pub(super) fn new(bufs: &'a mut [IoSliceMut<'b>]) -> Self {
        Sink { bufs, i: 0, off: 0 }
    }

    /// Copies what fits of `src`; how much.
    pub(super) fn put(&mut self, mut src: &[u8]) -> usize {
        let mut n = 0;
        while !src.is_empty() && self.i < self.bufs.len() {
            let dst = &mut self.bufs[self.i][self.off..];
            let k = dst.len().min(src.len());
            dst[..k].copy_from_slice(&src[..k]);
            n += k;
            src = &src[k..];
            self.off += k;
            if self.off == self.bufs[self.i].len() {
                self.i += 1;
                self.off = 0;
            }
        }
        n
    }

    pub(super) fn full(&self) -> bool {
        self.bufs[self.i..].iter().all(|b| b.is_empty())
    }
}

/// The first `n` bytes of `bufs`, cut into chunks of at most `size`.
pub(super) fn gather(bufs: &[IoSlice<'_>], n: usize, size: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur = Vec::with_capacity(size.min(n));
    let mut left = n;
    for b in bufs {
        let mut b = &b[..b.len().min(left)];
        left -= b.len();
        while !b.is_empty() {
            let k = (size - cur.len()).min(b.len());
            cur.extend_from_slice(&b[..k]);
            b = &b[k..];
            if cur.len() == size {
                out.push(std::mem::replace(&mut cur, Vec::with_capacity(size.min(left + b.len()))));
            }
        }
        if left == 0 {
            break;
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn stream_mut(sock: &mut Sock) -> Option<&mut Stream> {
    match &mut sock.kind {
        Kind::Stream(s) => Some(s),
        _ => None,
    }
}

impl Net {
    pub(super) fn sock(&self, id: SockId) -> io::Result<&Sock> {
        self.socks.get(&id).ok_or_else(gone)
    }

    pub(super) fn sock_mut(&mut self, id: SockId) -> io::Result<&mut Sock> {
        self.socks.get_mut(&id).ok_or_else(gone)
    }

    pub(super) fn insert(&mut self, id: SockId, sock: Sock) {
        self.socks.insert(id, sock);
    }

    pub(super) fn listen(
        &mut self,
        env: &Env,
        fx: &mut Fx,
        host: HostId,
        address: &SocketAddress,
        options: &ListenOptions,
    ) -> io::Result<SockId> {
        let id = self.new_id();
        let mut opts = self.default_opts();
        let local = match address {
            SocketAddress::Ip(a) => {
                let v6_only = options.v6_only.unwrap_or(false);
                self.take_descriptors(host, 1)?;
                let claimed = self.claim(
                    env,
                    host,
                    Proto::Tcp,
                    a.port(),
                    Binding { ip: a.ip(), sock: id, reuse: options.reuse_address, v6_only },
                );
                let port = claimed.inspect_err(|_| self.host_mut(host).open -= 1)?;
                opts.reuse = options.reuse_address;
                opts.v6_only = v6_only;
                SocketAddress::Ip(SocketAddr::new(a.ip(), port))
            }
            SocketAddress::Unix(u) => {
                let path = u.as_pathname().ok_or_else(unnamed)?.to_path_buf();
                if self.host(host).unix.contains_key(&path) {
                    return Err(os(libc::EADDRINUSE));
                }
                self.take_descriptors(host, 1)?;
                self.host_mut(host).unix.insert(path.clone(), id);
                unix_address(Some(&path))
            }
        };
        fx.logs.push(format!("net h{host}: listen {local}"));
        let backlog = (options.backlog as usize).max(1);
        self.insert(
            id,
            Sock {
                host,
                local,
                opts,
                readers: Vec::new(),
                writers: Vec::new(),
                counted: true,
                kind: Kind::Listener(Listener { queue: Vec::new(), backlog }),
            },
        );
        Ok(id)
    }

    pub(super) fn connect(
        &mut self,
        env: &Env,
        fx: &mut Fx,
        host: HostId,
        address: &SocketAddress,
    ) -> io::Result<SockId> {
        match address {
            SocketAddress::Unix(u) => self.connect_unix(env, fx, host, u.as_pathname()),
            SocketAddress::Ip(dst) => {
                let dst = &destination(*dst);
                Net::check_route(dst.ip())?;
                let id = self.new_id();
                self.take_descriptors(host, 1)?;
                let src = self.source_ip(host, dst.ip());
                let port = self
                    .claim(
                        env,
                        host,
                        Proto::Tcp,
                        0,
                        Binding { ip: src, sock: id, reuse: false, v6_only: false },
                    )
                    .inspect_err(|_| self.host_mut(host).open -= 1)?;
                let now = env.now();
                let deadline =
                    now.saturating_add(self.options.connect_timeout.as_nanos().max(0) as u64);
                let conn =
                    Conn::Connecting { target: *dst, next_try: now, rto: FIRST_RTO, deadline };
                let local = SocketAddress::Ip(SocketAddr::new(src, port));
                fx.logs.push(format!("net h{host}: connect {local} -> {dst}"));
                let opts = self.default_opts();
                self.insert(
                    id,
                    Sock {
                        host,
                        local,
                        opts,
                        readers: Vec::new(),
                        writers: Vec::new(),
                        counted: true,
                        kind: Kind::Stream(Stream::new(SocketAddress::Ip(*dst), conn)),
                    },
                );
                self.attempt(env, fx, id);
                Ok(id)
            }
        }
    }

    fn connect_unix(
        &mut self,
        env: &Env,
        fx: &mut Fx,
        host: HostId,
        path: Option<&std::path::Path>,
    ) -> io::Result<SockId> {
        let path = path.ok_or_else(unnamed)?.to_path_buf();
        let l = *self.host(host).unix.get(&path).ok_or_else(|| os(libc::ENOENT))?;
        match &self.sock(l)?.kind {
            Kind::Listener(q) if q.queue.len() >= q.backlog => return Err(os(libc::EAGAIN)),
            Kind::Listener(_) => {}
            _ => return Err(os(libc::EPROTOTYPE)),
        }
        self.take_descriptors(host, 1)?;
        let (client, server) = (self.new_id(), self.new_id());
        let now = env.now();
        let there = now + self.latency(env, host, host);
        let addr = unix_address(Some(&path));
        let mut c = Stream::new(addr.clone(), Conn::Established { at: now });
        c.link(server, host);
        let mut s = Stream::new(unix_address(None), Conn::Established { at: there });
        s.link(client, host);
        let opts = self.default_opts();
        self.insert(client, new_stream(host, unix_address(None), opts.clone(), c, true));
        self.insert(server, new_stream(host, addr.clone(), opts, s, false));
        let sock = self.sock_mut(l)?;
        if let Kind::Listener(q) = &mut sock.kind {
            q.queue.push((there, server));
        }
        fx.wake_all_at(&mut sock.readers, there, now);
        fx.logs.push(format!("net h{host}: connect {addr}: established"));
        Ok(client)
    }

    /// Sends a SYN for the connecting socket `id` and decides its outcome (ground rule 3).
    fn attempt(&mut self, env: &Env, fx: &mut Fx, id: SockId) {
        let now = env.now();
        let Some(sock) = self.socks.get(&id) else { return };
        let host = sock.host;
        let local = sock.local.as_ip().expect("an IP stream has an IP address");
        let Kind::Stream(Stream { conn: Conn::Connecting { target, rto, deadline, .. }, .. }) =
            &sock.kind
        else {
            return;
        };
        let (target, rto, deadline) = (*target, *rto, *deadline);
        let to = self.route(host, target.ip());
        // A SYN (or its answer) lost to the link's loss draw is retried as one a partition took.
        let open = to.filter(|&t| {
            !self.is_blocked(host, t)
                && !self.is_blocked(t, host)
                && !chance(env, self.link(host, t).loss)
        });
        let listener = open.map(|t| {
            (t, self.find_bound(t, Proto::Tcp, target, |s| matches!(s.kind, Kind::Listener(_))))
        });
        let full = |l: SockId| match &self.socks[&l].kind {
            Kind::Listener(q) => q.queue.len() >= q.backlog,
            _ => true,
        };
        let outcome = match listener {
            None => None,
            Some((t, None)) => {
                let at = now + self.latency(env, host, t) + self.latency(env, t, host);
                fx.logs.push(format!("net h{host}: connect {local} -> {target}: refused"));
                Some(Conn::Refused { at })
            }
            Some((_, Some(l))) if full(l) => None,
            Some((t, Some(l))) => {
                let there = now + self.latency(env, host, t);
                let back = there + self.latency(env, t, host);
                let server = self.new_id();
                let lsock = &self.socks[&l];
                let v6 = lsock.local.as_ip().is_some_and(|a| a.is_ipv6());
                let mut s = Stream::new(
                    SocketAddress::Ip(in_family(local, v6)),
                    Conn::Established { at: there },
                );
                s.link(id, host);
                let mut opts = self.default_opts();
                opts.v6_only = lsock.opts.v6_only;
                let server_local = SocketAddress::Ip(in_family(target, v6));
                self.insert(server, new_stream(t, server_local, opts, s, false));
                let lsock = self.socks.get_mut(&l).expect("found above");
                if let Kind::Listener(q) = &mut lsock.kind {
                    q.queue.push((there, server));
                }
                fx.wake_all_at(&mut lsock.readers, there, now);
                if let Some(Kind::Stream(c)) = self.socks.get_mut(&id).map(|s| &mut s.kind) {
                    c.link(server, t);
                }
                fx.logs.push(format!("net h{host}: connect {local} -> {target}: established"));
                Some(Conn::Established { at: back })
            }
        };
        let conn = outcome.unwrap_or_else(|| {
            fx.logs.push(format!("net h{host}: connect {local} -> {target}: SYN lost"));
            Conn::Connecting { target, next_try: (now + rto).min(deadline), rto: rto * 2, deadline }
        });
        if let Some(Kind::Stream(c)) = self.socks.get_mut(&id).map(|s| &mut s.kind) {
            c.conn = conn;
        }
    }

    pub(super) fn poll_connect(
        &mut self,
        env: &Env,
        fx: &mut Fx,
        cx: &mut Context<'_>,
        id: SockId,
    ) -> Poll<io::Result<()>> {
        let now = env.now();
        loop {
            let sock = match self.sock_mut(id) {
                Ok(s) => s,
                Err(e) => return Poll::Ready(Err(e)),
            };
            let host = sock.host;
            let Some(s) = stream_mut(sock) else {
                return Poll::Ready(Err(os(libc::ENOTCONN)));
            };
            let (wait, result) = match s.conn {
                Conn::Connecting { deadline, .. } if now >= deadline => {
                    s.conn = Conn::Failed;
                    fx.logs.push(format!("net h{host}: connect to {}: timed out", s.peer_addr));
                    (None, Some(Err(os(libc::ETIMEDOUT))))
                }
                Conn::Connecting { next_try, .. } if now >= next_try => {
                    self.attempt(env, fx, id);
                    continue;
                }
                Conn::Connecting { next_try, .. } => (Some(next_try), None),
                Conn::Refused { at } if now >= at => {
                    s.conn = Conn::Failed;
                    (None, Some(Err(os(libc::ECONNREFUSED))))
                }
                Conn::Refused { at } => (Some(at), None),
                Conn::Established { at } if now >= at => (None, Some(Ok(()))),
                Conn::Established { at } => (Some(at), None),
                Conn::Failed => (None, Some(Err(os(libc::ENOTCONN)))),
            };
            if let Some(r) = result {
                return Poll::Ready(r);
            }
            if let Some(at) = wait {
                fx.timers.push((at, cx.waker().clone()));
            }
            return Poll::Pending;
        }
    }

    pub(super) fn poll_accept(
        &mut self,
        env: &Env,
        fx: &mut Fx,
        cx: &mut Context<'_>,
        id: SockId,
    ) -> Poll<io::Result<(SockId, SocketAddress)>> {
        let now = env.now();
        let sock = match self.sock_mut(id) {
            Ok(s) => s,
            Err(e) => return Poll::Ready(Err(e)),
        };
        let host = sock.host;
        let Kind::Listener(q) = &mut sock.kind else {
            return Poll::Ready(Err(os(libc::EINVAL)));
        };
        // The connection whose handshake arrived first.
        let ready = q
            .queue
            .iter()
            .enumerate()
            .filter(|(_, (at, _))| *at <= now)
            .min_by_key(|(i, (at, _))| (*at, *i))
            .map(|(i, _)| i);
        let Some(i) = ready else {
            let next = q.queue.iter().map(|(at, _)| *at).filter(|&at| at != HELD).min();
            register(&mut sock.readers, cx);
            if let Some(at) = next {
                fx.timers.push((at, cx.waker().clone()));
            }
            return Poll::Pending;
        };
        // EMFILE leaves the connection queued, as the kernel does.
        if let Err(e) = self.take_descriptors(host, 1) {
            return Poll::Ready(Err(e));
        }
        let Some(Kind::Listener(q)) = self.socks.get_mut(&id).map(|s| &mut s.kind) else {
            unreachable!("checked above")
        };
        let (_, server) = q.queue.remove(i);
        let s = self.socks.get_mut(&server).expect("a queued connection is in the table");
        s.counted = true;
        let peer = match &s.kind {
            Kind::Stream(st) => st.peer_addr.clone(),
            _ => unreachable!("a queued connection is a stream"),
        };
        fx.logs.push(format!("net h{host}: accept {} <- {peer}", s.local));
        Poll::Ready(Ok((server, peer)))
    }

    pub(super) fn read_stream(
        &mut self,
        env: &Env,
        fx: &mut Fx,
        cx: &mut Context<'_>,
        id: SockId,
        bufs: &mut [IoSliceMut<'_>],
        peek: bool,
    ) -> Poll<io::Result<usize>> {
        let now = env.now();
        let sock = match self.sock_mut(id) {
            Ok(s) => s,
            Err(e) => return Poll::Ready(Err(e)),
        };
        let Some(s) = stream_mut(sock) else { return Poll::Ready(Err(os(libc::ENOTCONN))) };
        if !matches!(s.conn, Conn::Established { .. }) {
            return Poll::Ready(Err(os(libc::ENOTCONN)));
        }
        if let Some(e) = s.error.take() {
            s.dead = true;
            return Poll::Ready(Err(os(e)));
        }
        // Nothing to read into (a zero-length `receive_from`): done, as `recv(2)` is.
        if s.read_shut || bufs.iter().all(|b| b.is_empty()) {
            return Poll::Ready(Ok(0));
        }
        let mut sink = Sink::new(bufs);
        let mut total = 0;
        let mut i = 0;
        let mut end: Option<io::Result<usize>> = None;
        while let Some(seg) = s.inbox.get_mut(i) {
            if seg.at > now || sink.full() {
                break;
            }
            match &mut seg.seg {
                Seg::Data(v, off) => {
                    let n = sink.put(&v[*off..]);
                    total += n;
                    if peek {
                        i += 1;
                    } else {
                        *off += n;
                        if *off == v.len() {
                            s.inbox.pop_front();
                        }
                    }
                }
                _ if total > 0 => break,
                Seg::Fin => {
                    if !peek {
                        s.eof = true;
                        s.inbox.pop_front();
                    }
                    end = Some(Ok(0));
                    break;
                }
                Seg::Rst => {
                    if peek {
                        end = Some(Err(os(libc::ECONNRESET)));
                    } else {
                        s.inbox.pop_front();
                        s.dead = true;
                        // After a FIN the reset is silent (Linux: reads keep returning 0).
                        end = Some(if s.eof { Ok(0) } else { Err(os(libc::ECONNRESET)) });
                    }
                    break;
                }
            }
        }
        if total > 0 {
            if !peek {
                s.inbox_bytes -= total;
                // The window opened: the peer's writers may go on.
                if let Some(p) = s.peer.and_then(|p| self.socks.get_mut(&p)) {
                    fx.wake.append(&mut p.writers);
                }
            }
            return Poll::Ready(Ok(total));
        }
        if let Some(r) = end {
            return Poll::Ready(r);
        }
        if s.eof || s.dead {
            return Poll::Ready(Ok(0));
        }
        let next = s.inbox.front().map(|g| g.at).filter(|&at| at != HELD);
        register(&mut sock.readers, cx);
        if let Some(at) = next {
            fx.timers.push((at, cx.waker().clone()));
        }
        Poll::Pending
    }

    pub(super) fn write_stream(
        &mut self,
        env: &Env,
        fx: &mut Fx,
        cx: &mut Context<'_>,
        id: SockId,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let now = env.now();
        let want: usize = bufs.iter().map(|b| b.len()).sum();
        let sock = match self.sock_mut(id) {
            Ok(s) => s,
            Err(e) => return Poll::Ready(Err(e)),
        };
        let host = sock.host;
        let send_buf = sock.opts.send_buf;
        let Some(s) = stream_mut(sock) else { return Poll::Ready(Err(os(libc::ENOTCONN))) };
        if !matches!(s.conn, Conn::Established { .. }) {
            return Poll::Ready(Err(os(libc::ENOTCONN)));
        }
        if let Some(e) = s.error.take() {
            s.dead = true;
            return Poll::Ready(Err(os(e)));
        }
        // An RST that arrived fails the next write even with unread data before it.
        if !s.dead {
            if let Some(i) = s.inbox.iter().position(|g| g.at <= now && matches!(g.seg, Seg::Rst)) {
                s.inbox.remove(i);
                s.dead = true;
                if !s.eof {
                    return Poll::Ready(Err(os(libc::ECONNRESET)));
                }
            }
        }
        if s.dead || s.write_shut {
            return Poll::Ready(Err(os(libc::EPIPE)));
        }
        let Some(peer) = s.peer else { return Poll::Ready(Err(os(libc::ENOTCONN))) };
        let peer_state = self.socks.get(&peer).and_then(|p| match &p.kind {
            Kind::Stream(ps) => Some((p.host, p.opts.recv_buf, ps.inbox_bytes, ps.read_shut)),
            _ => None,
        });
        let Some((to, recv_buf, unread, discard)) = peer_state else {
            // The peer closed: the bytes reach nobody, and its RST answers them. Until it
            // comes, the send buffer fills (nothing acknowledges the bytes).
            self.rst_back(env, fx, id, host);
            let sock = self.socks.get_mut(&id).expect("checked above");
            let Kind::Stream(s) = &mut sock.kind else { unreachable!("checked above") };
            let n = want.min(send_buf.saturating_sub(s.orphaned));
            if n == 0 {
                register(&mut sock.writers, cx);
                if let Some(at) = rst_arrival(&sock.kind) {
                    fx.timers.push((at, cx.waker().clone()));
                }
                return Poll::Pending;
            }
            s.orphaned += n;
            return Poll::Ready(Ok(n));
        };
        if discard {
            return Poll::Ready(Ok(want));
        }
        if to != host && chance(env, self.link(host, to).reset) {
            fx.logs.push(format!("net h{host}: injected reset on write to h{to}"));
            self.send_ctl(env, fx, host, peer, Seg::Rst);
            if let Some(s) = self.socks.get_mut(&id).and_then(stream_mut) {
                s.dead = true;
            }
            return Poll::Ready(Err(os(libc::ECONNRESET)));
        }
        let space = (send_buf + recv_buf).saturating_sub(unread);
        if space == 0 {
            let sock = self.socks.get_mut(&id).expect("checked above");
            register(&mut sock.writers, cx);
            if let Some(at) = rst_arrival(&sock.kind) {
                fx.timers.push((at, cx.waker().clone()));
            }
            return Poll::Pending;
        }
        let n = want.min(space);
        let chunks = gather(bufs, n, self.options.segment_size.max(1));
        let mut first = None;
        for chunk in chunks {
            let last = match &self.socks[&peer].kind {
                Kind::Stream(ps) => ps.last_at,
                _ => unreachable!("checked above"),
            };
            let mut at = self.arrival(env, host, to, last);
            if at != HELD && chance(env, self.link(host, to).loss) {
                // Lost and sent again after the retransmission timeout; what follows waits
                // behind it (head-of-line blocking), as TCP delivers in order.
                at = at.saturating_add(self.retransmit_nanos());
            }
            first.get_or_insert(at);
            if let Some(ps) = self.socks.get_mut(&peer).and_then(stream_mut) {
                ps.inbox.push_back(Segment { at, seg: Seg::Data(chunk, 0) });
                ps.last_at = at;
            }
        }
        let p = self.socks.get_mut(&peer).expect("checked above");
        if let Some(ps) = stream_mut(p) {
            ps.inbox_bytes += n;
        }
        if let Some(at) = first {
            fx.wake_all_at(&mut p.readers, at, now);
        }
        Poll::Ready(Ok(n))
    }

    /// Our peer is gone and we sent it data: its RST comes back after a round trip (once).
    fn rst_back(&mut self, env: &Env, fx: &mut Fx, id: SockId, host: HostId) {
        let now = env.now();
        let Some(sock) = self.socks.get(&id) else { return };
        let Kind::Stream(s) = &sock.kind else { return };
        if s.rst_coming {
            return;
        }
        let to = s.peer_host;
        let at = if self.is_blocked(host, to) || self.is_blocked(to, host) {
            HELD
        } else {
            (now + self.latency(env, host, to) + self.latency(env, to, host)).max(s.last_at)
        };
        let sock = self.socks.get_mut(&id).expect("checked above");
        let Kind::Stream(s) = &mut sock.kind else { return };
        s.rst_coming = true;
        s.inbox.push_back(Segment { at, seg: Seg::Rst });
        s.last_at = at;
        fx.wake_all_at(&mut sock.readers, at, now);
        fx.wake_all_at(&mut sock.writers, at, now);
    }

    /// Sends a FIN or RST from a socket on `from` to the stream `to_id`, after what is in
    /// flight.
    pub(super) fn send_ctl(
        &mut self,
        env: &Env,
        fx: &mut Fx,
        from: HostId,
        to_id: SockId,
        seg: Seg,
    ) {
        let now = env.now();
        let Some(p) = self.socks.get(&to_id) else { return };
        let Kind::Stream(ps) = &p.kind else { return };
        let at = self.arrival(env, from, p.host, ps.last_at);
        let p = self.socks.get_mut(&to_id).expect("checked above");
        let Kind::Stream(ps) = &mut p.kind else { return };
        ps.inbox.push_back(Segment { at, seg });
        ps.last_at = at;
        fx.wake_all_at(&mut p.readers, at, now);
        fx.wake_all_at(&mut p.writers, at, now);
    }

    pub(super) fn shutdown_stream(
        &mut self,
        env: &Env,
        fx: &mut Fx,
        id: SockId,
        how: Shutdown,
    ) -> io::Result<()> {
        let sock = self.sock_mut(id)?;
        let host = sock.host;
        let Some(s) = stream_mut(sock) else { return Err(os(libc::ENOTCONN)) };
        if !matches!(s.conn, Conn::Established { .. }) || (s.dead && s.error.is_none()) {
            return Err(os(libc::ENOTCONN));
        }
        let peer = s.peer;
        if matches!(how, Shutdown::Read | Shutdown::Both) && !s.read_shut {
            s.read_shut = true;
            s.inbox.retain(|g| !matches!(g.seg, Seg::Data(..)));
            s.inbox_bytes = 0;
            if let Some(p) = peer.and_then(|p| self.socks.get_mut(&p)) {
                fx.wake.append(&mut p.writers);
            }
        }
        let s = self.socks.get_mut(&id).and_then(stream_mut).expect("checked above");
        if matches!(how, Shutdown::Write | Shutdown::Both) && !s.write_shut {
            s.write_shut = true;
            if let Some(p) = peer {
                self.send_ctl(env, fx, host, p, Seg::Fin);
            }
        }
        let sock = self.socks.get_mut(&id).expect("checked above");
        fx.wake.append(&mut sock.readers);
        fx.wake.append(&mut sock.writers);
        Ok(())
    }

    /// The handle of `id` was dropped, or its host crashed (`crash`: no FIN, an RST to every
    /// peer): frees its port or name and descriptor, and tells the peer.
    pub(super) fn close(&mut self, env: &Env, fx: &mut Fx, id: SockId, crash: bool) {
        let Some(mut sock) = self.socks.remove(&id) else { return };
        let host = sock.host;
        fx.wake.append(&mut sock.readers);
        fx.wake.append(&mut sock.writers);
        if sock.counted {
            if let Some(h) = self.hosts[host as usize].as_mut() {
                h.open = h.open.saturating_sub(1);
            }
        }
        match &sock.local {
            SocketAddress::Ip(a) => {
                let proto = match sock.kind {
                    Kind::Datagram(_) => Proto::Udp,
                    _ => Proto::Tcp,
                };
                self.release(host, proto, a.port(), id);
            }
            SocketAddress::Unix(u) => {
                if let (Some(p), Some(h)) = (u.as_pathname(), self.hosts[host as usize].as_mut()) {
                    if h.unix.get(p) == Some(&id) {
                        h.unix.remove(p);
                    }
                }
            }
        }
        match sock.kind {
            Kind::Listener(q) => {
                if !q.queue.is_empty() {
                    fx.logs.push(format!(
                        "net h{host}: close listener {}: {} queued connections reset",
                        sock.local,
                        q.queue.len()
                    ));
                }
                for (_, s) in q.queue {
                    self.close(env, fx, s, true);
                }
            }
            Kind::Stream(s) => {
                let Some(peer) = s.peer.filter(|p| self.socks.contains_key(p)) else { return };
                let unread = s.inbox.iter().any(|g| matches!(g.seg, Seg::Data(..)));
                let abort = sock.opts.linger == Some(std::time::Duration::ZERO);
                if crash || unread || abort {
                    if !s.dead {
                        fx.logs
                            .push(format!("net h{host}: reset {} -> {}", sock.local, s.peer_addr));
                        self.send_ctl(env, fx, host, peer, Seg::Rst);
                    }
                } else {
                    if !s.write_shut && !s.dead {
                        self.send_ctl(env, fx, host, peer, Seg::Fin);
                    }
                    fx.logs.push(format!("net h{host}: close {} -> {}", sock.local, s.peer_addr));
                }
            }
            Kind::Datagram(_) => {}
        }
    }
}

/// When the RST on its way to this stream arrives (not held), for a blocked writer to wake:
/// it fails the write.
fn rst_arrival(kind: &Kind) -> Option<u64> {
    let Kind::Stream(s) = kind else { return None };
    s.inbox.iter().find(|g| matches!(g.seg, Seg::Rst)).map(|g| g.at).filter(|&at| at != HELD)
}

fn new_stream(
    host: HostId,
    local: SocketAddress,
    opts: super::state::Opts,
    s: Stream,
    counted: bool,
) -> Sock {
    Sock {
        host,
        local,
        opts,
        readers: Vec::new(),
        writers: Vec::new(),
        counted,
        kind: Kind::Stream(s),
    }
}

/// The error `Kqueue` gives for an unnamed Unix address where a path is needed.
pub(super) fn unnamed() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "kqio: an unnamed Unix address cannot be bound or connected to",
    )
}
