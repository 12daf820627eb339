//! The network's state: hosts and their addresses, port and Unix-name tables, sockets, links
//! (latency, partitions, clogs), and the effects a call leaves for after the lock.
//!
//! Ground rules:
//! 1. Time is never stored as "now": a message carries its arrival time and is visible once
//!    `env.now()` reaches it (lazy delivery), so nothing has to run at the arrival instant; a
//!    waiter asks the world for a wake-up at the arrival (`Fx::timers`).
//! 2. A message that a partition or a clog holds back carries [`HELD`]; a change of the
//!    controls re-times every held message at once (`Net::retime`), in order.
//! 3. Wakers are never woken, nor dropped, and `env.log` never called, under the lock: they go
//!    into [`Fx`], flushed by the caller after unlocking (a woken or dropped task may drop a
//!    socket handle, whose `Drop` takes the lock again).
//! 4. Only `BTreeMap`, `BTreeSet`, `Vec` and `VecDeque`, and the socket table, an `IdMap` (a
//!    fixed hasher) walked only in id order: iteration order is part of the replay.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::task::{Context, Waker};

use super::options::{LinkOptions, NetOptions};
use crate::net::{SocketAddress, SocketOption, UnixAddress};
use crate::sim::env::{Env, HostId};
use crate::sim::idmap::{sorted_ids, IdMap};

/// A socket's identity in [`Net::socks`]; never reused.
pub(super) type SockId = u64;

/// The arrival time of a message held back by a partition or a clog.
pub(super) const HELD: u64 = u64::MAX;

/// Host 0's address, 10.0.0.1; host `n` has 10.0.0.1 + `n` (10.0.0.0/8 holds 16 million).
const FIRST_IP: u32 = 0x0A00_0001;

/// The largest UDP payload (IPv4: 65535 less the IP and UDP headers).
pub(super) const MAX_UDP_PAYLOAD: usize = 65_507;

/// A raw OS error: the sim returns the errors the kernel gives `Kqueue`, with the same codes.
pub(super) fn os(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// The error of a handle whose socket is gone (its host crashed), as `NotConnected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketGone;

impl std::fmt::Display for SocketGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("kqio sim: the socket is gone (its host crashed)")
    }
}

impl std::error::Error for SocketGone {}

pub(super) fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, SocketGone)
}

/// What a call leaves for after the lock (ground rule 3).
#[derive(Default)]
pub(super) struct Fx {
    pub(super) wake: Vec<Waker>,
    pub(super) timers: Vec<(u64, Waker)>,
    pub(super) logs: Vec<String>,
}

impl Fx {
    /// Logs, then asks for the timed wake-ups, then wakes. Calls nothing on `env` when empty.
    pub(super) fn flush(self, env: &Env) {
        for line in &self.logs {
            env.log(format_args!("{line}"));
        }
        for (at, w) in self.timers {
            env.wake_at(at, w);
        }
        for w in self.wake {
            w.wake();
        }
    }

    /// Wakes everyone in `list` once `at` comes (at once if it has passed; never if held).
    pub(super) fn wake_all_at(&mut self, list: &mut Vec<Waker>, at: u64, now: u64) {
        if at == HELD {
            return;
        }
        if at <= now {
            self.wake.append(list);
        } else {
            self.timers.extend(list.drain(..).map(|w| (at, w)));
        }
    }
}

/// Adds `cx`'s waker to `list` unless it is there already.
pub(super) fn register(list: &mut Vec<Waker>, cx: &Context<'_>) {
    if !list.iter().any(|w| w.will_wake(cx.waker())) {
        list.push(cx.waker().clone());
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Proto {
    Tcp,
    Udp,
}

/// One socket's claim on a port.
#[derive(Debug, Clone)]
pub(super) struct Binding {
    pub(super) ip: IpAddr,
    pub(super) sock: SockId,
    pub(super) reuse: bool,
    pub(super) v6_only: bool,
}

pub(super) struct Host {
    pub(super) name: String,
    pub(super) ip: Ipv4Addr,
    pub(super) ports: BTreeMap<(Proto, u16), Vec<Binding>>,
    /// Path-named Unix sockets (listeners and bound datagram sockets). A name is freed when its
    /// socket closes (there is no socket file on the simulated disk).
    pub(super) unix: BTreeMap<PathBuf, SockId>,
    /// Sockets counted against `NetOptions::descriptor_limit`.
    pub(super) open: usize,
    /// Crashed and not back: nothing reaches it (SYNs are lost, datagrams dropped). Back up at
    /// its restart, or at its first socket call after the crash.
    pub(super) down: bool,
}

/// Socket options as set; only the buffer sizes and linger change the model.
#[derive(Debug, Clone)]
pub(super) struct Opts {
    pub(super) no_delay: bool,
    pub(super) ttl: u32,
    pub(super) broadcast: bool,
    pub(super) v6_only: bool,
    pub(super) linger: Option<std::time::Duration>,
    pub(super) keep_alive: bool,
    pub(super) reuse: bool,
    pub(super) recv_buf: usize,
    pub(super) send_buf: usize,
}

pub(super) struct Sock {
    pub(super) host: HostId,
    pub(super) local: SocketAddress,
    pub(super) opts: Opts,
    pub(super) readers: Vec<Waker>,
    pub(super) writers: Vec<Waker>,
    /// Counted in its host's `open` (a connection waiting in a backlog is not, until accepted).
    pub(super) counted: bool,
    pub(super) kind: Kind,
}

pub(super) enum Kind {
    Listener(Listener),
    Stream(Stream),
    Datagram(Datagram),
}

pub(super) struct Listener {
    /// Connections whose handshake reaches us at `.0`, in arrival order of their SYN.
    pub(super) queue: Vec<(u64, SockId)>,
    pub(super) backlog: usize,
}

pub(super) enum Conn {
    /// SYN sent (or lost): retried at `next_try`, `TimedOut` at `deadline`.
    Connecting { target: SocketAddr, next_try: u64, rto: u64, deadline: u64 },
    /// The RST answering our SYN arrives at `at`.
    Refused { at: u64 },
    /// Established at `at` (the SYN-ACK's arrival on our side).
    Established { at: u64 },
    /// The connect failed (its error was returned once).
    Failed,
}

pub(super) enum Seg {
    Data(Vec<u8>, usize),
    Fin,
    Rst,
}

pub(super) struct Segment {
    pub(super) at: u64,
    pub(super) seg: Seg,
}

pub(super) struct Stream {
    pub(super) peer_addr: SocketAddress,
    pub(super) conn: Conn,
    pub(super) peer: Option<SockId>,
    /// The host of `peer` (known after the peer is gone, for the RSTs and FINs it sent).
    pub(super) peer_host: HostId,
    /// What travels to this socket, in order (arrived or not).
    pub(super) inbox: VecDeque<Segment>,
    /// The arrival time of the last segment sent to this socket (delivery stays in order).
    pub(super) last_at: u64,
    /// Unread data bytes in `inbox` (arrived or not): the peer's send window is measured
    /// against it.
    pub(super) inbox_bytes: usize,
    pub(super) read_shut: bool,
    pub(super) write_shut: bool,
    /// A FIN was read: reads return 0.
    pub(super) eof: bool,
    /// An error to return once from the next read or write (`ECONNRESET`).
    pub(super) error: Option<i32>,
    /// Reset and its error returned: reads give 0, writes `EPIPE`.
    pub(super) dead: bool,
    /// We wrote to a peer that had closed: its RST is on the way (sent once).
    pub(super) rst_coming: bool,
    /// Bytes written after the peer was gone, that nothing will acknowledge (bounded by the
    /// send buffer).
    pub(super) orphaned: usize,
}

pub(super) struct Dgram {
    pub(super) at: u64,
    pub(super) from: SocketAddress,
    pub(super) from_host: HostId,
    pub(super) data: Vec<u8>,
}

pub(super) struct Datagram {
    pub(super) unix: bool,
    /// The default peer (`connect`), as given.
    pub(super) peer: Option<SocketAddress>,
    /// For Unix: the peer socket itself (a pair's other end, or the socket a path named at
    /// `connect` time).
    pub(super) peer_sock: Option<SockId>,
    pub(super) queue: VecDeque<Dgram>,
    pub(super) queued_bytes: usize,
    pub(super) last_at: u64,
    pub(super) read_shut: bool,
    pub(super) write_shut: bool,
}

impl Stream {
    pub(super) fn new(peer_addr: SocketAddress, conn: Conn) -> Stream {
        Stream {
            peer_addr,
            conn,
            peer: None,
            peer_host: 0,
            inbox: VecDeque::new(),
            last_at: 0,
            inbox_bytes: 0,
            read_shut: false,
            write_shut: false,
            eof: false,
            error: None,
            dead: false,
            rst_coming: false,
            orphaned: 0,
        }
    }
}

impl Stream {
    /// Connects this end to the socket `peer` on `host`.
    pub(super) fn link(&mut self, peer: SockId, host: HostId) {
        self.peer = Some(peer);
        self.peer_host = host;
    }
}

impl Datagram {
    pub(super) fn new(unix: bool) -> Datagram {
        Datagram {
            unix,
            peer: None,
            peer_sock: None,
            queue: VecDeque::new(),
            queued_bytes: 0,
            last_at: 0,
            read_shut: false,
            write_shut: false,
        }
    }
}

pub(super) struct Net {
    pub(super) options: NetOptions,
    pub(super) hosts: Vec<Option<Host>>,
    /// By id; an [`IdMap`], walked only in id order (`sorted_ids`).
    pub(super) socks: IdMap<Sock>,
    next_id: SockId,
    /// Directed partitions: `(from, to)` loses everything from `from` to `to`.
    pub(super) cut: BTreeSet<(HostId, HostId)>,
    pub(super) clogged: BTreeSet<HostId>,
    /// Per-link overrides, keyed by the ordered pair.
    pub(super) links: BTreeMap<(HostId, HostId), LinkOptions>,
    /// The arrival of the last datagram (not reordered) per directed link.
    pub(super) udp_last: BTreeMap<(HostId, HostId), u64>,
}

impl Net {
    pub(super) fn new(options: NetOptions) -> Net {
        Net {
            options,
            hosts: Vec::new(),
            socks: IdMap::default(),
            next_id: 1,
            cut: BTreeSet::new(),
            clogged: BTreeSet::new(),
            links: BTreeMap::new(),
            udp_last: BTreeMap::new(),
        }
    }

    pub(super) fn add_host(&mut self, host: HostId, name: &str) -> IpAddr {
        let i = host as usize;
        if self.hosts.len() <= i {
            self.hosts.resize_with(i + 1, || None);
        }
        let ip = Ipv4Addr::from(FIRST_IP.wrapping_add(host));
        self.hosts[i] = Some(Host {
            name: name.to_owned(),
            ip,
            ports: BTreeMap::new(),
            unix: BTreeMap::new(),
            open: 0,
            down: false,
        });
        // Overrides given by name in the options, for the links this host closes.
        let named: Vec<_> = self.options.links.clone();
        for (a, b, link) in named {
            let (Some(ha), Some(hb)) = (self.host_by_name(&a), self.host_by_name(&b)) else {
                continue;
            };
            if ha == host || hb == host {
                self.links.insert(pair(ha, hb), link);
            }
        }
        IpAddr::V4(ip)
    }

    pub(super) fn host(&self, host: HostId) -> &Host {
        self.hosts[host as usize].as_ref().expect("kqio sim: a net call from a host never added")
    }

    pub(super) fn host_mut(&mut self, host: HostId) -> &mut Host {
        self.hosts[host as usize].as_mut().expect("kqio sim: a net call from a host never added")
    }

    pub(super) fn host_by_name(&self, name: &str) -> Option<HostId> {
        self.hosts.iter().enumerate().find_map(|(i, h)| {
            h.as_ref().filter(|h| h.name.eq_ignore_ascii_case(name)).map(|_| i as HostId)
        })
    }

    /// The host with address `ip`: the inverse of `add_host`'s numbering, in O(1).
    pub(super) fn host_by_ip(&self, ip: Ipv4Addr) -> Option<HostId> {
        let host = u32::from(ip).checked_sub(FIRST_IP)?;
        let h = self.hosts.get(host as usize)?.as_ref()?;
        (h.ip == ip).then_some(host)
    }

    pub(super) fn new_id(&mut self) -> SockId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub(super) fn default_opts(&self) -> Opts {
        Opts {
            no_delay: false,
            ttl: 64,
            broadcast: false,
            v6_only: false,
            linger: None,
            keep_alive: false,
            reuse: false,
            recv_buf: self.options.receive_buffer,
            send_buf: self.options.send_buffer,
        }
    }

    /// Takes `n` descriptors of `host`, or fails as `EMFILE`. A host that makes sockets is up.
    pub(super) fn take_descriptors(&mut self, host: HostId, n: usize) -> io::Result<()> {
        let limit = self.options.descriptor_limit;
        let h = self.host_mut(host);
        h.down = false;
        if limit.is_some_and(|l| h.open + n > l) {
            return Err(os(libc::EMFILE));
        }
        h.open += n;
        Ok(())
    }

    // ----- links -----

    pub(super) fn link(&self, from: HostId, to: HostId) -> LinkOptions {
        if from == to {
            return self.options.loopback;
        }
        self.links.get(&pair(from, to)).copied().unwrap_or(self.options.link)
    }

    pub(super) fn latency(&self, env: &Env, from: HostId, to: HostId) -> u64 {
        self.link(from, to).latency.draw(env)
    }

    /// `NetOptions::retransmit_delay`, in nanoseconds.
    pub(super) fn retransmit_nanos(&self) -> u64 {
        self.options.retransmit_delay.as_nanos().max(0) as u64
    }

    /// Whether a partition cuts `from` to `to` (never a host's loopback).
    pub(super) fn is_cut(&self, from: HostId, to: HostId) -> bool {
        from != to && self.cut.contains(&(from, to))
    }

    /// Whether a clog of either end holds traffic from `from` to `to`.
    pub(super) fn is_clogged(&self, from: HostId, to: HostId) -> bool {
        from != to && (self.clogged.contains(&from) || self.clogged.contains(&to))
    }

    pub(super) fn is_blocked(&self, from: HostId, to: HostId) -> bool {
        self.is_cut(from, to) || self.is_clogged(from, to)
    }

    /// The arrival time of a segment sent now from `from` to a stream whose last segment
    /// arrives at `last_at`: after the link's latency, never before that last one.
    pub(super) fn arrival(&self, env: &Env, from: HostId, to: HostId, last_at: u64) -> u64 {
        if last_at == HELD || self.is_blocked(from, to) {
            return HELD;
        }
        (env.now() + self.latency(env, from, to)).max(last_at)
    }

    /// Re-times the messages on every link after a control changed: those in flight on a link
    /// now blocked are held (datagrams on a cut link are lost), held ones on a link now open
    /// leave now, in order. Wakes whoever waits on them.
    pub(super) fn retime(&mut self, env: &Env, fx: &mut Fx) {
        let now = env.now();
        let ids: Vec<SockId> = sorted_ids(&self.socks, |_| true);
        for id in ids {
            let to = self.socks[&id].host;
            match &self.socks[&id].kind {
                Kind::Stream(s) => {
                    if s.peer.is_some() {
                        let from = s.peer_host;
                        self.retime_stream(env, fx, id, from, to, now);
                    }
                }
                Kind::Datagram(_) => self.retime_datagrams(env, fx, id, to, now),
                Kind::Listener(_) => {}
            }
        }
    }

    fn retime_stream(
        &mut self,
        env: &Env,
        fx: &mut Fx,
        id: SockId,
        from: HostId,
        to: HostId,
        now: u64,
    ) {
        let blocked = self.is_blocked(from, to);
        let Some(Kind::Stream(s)) = self.socks.get_mut(&id).map(|s| &mut s.kind) else { return };
        let mut inbox = std::mem::take(&mut s.inbox);
        let mut prev = 0;
        let mut first_new = None;
        for seg in inbox.iter_mut() {
            if seg.at > now {
                if blocked {
                    seg.at = HELD;
                } else if seg.at == HELD {
                    seg.at = (now + self.latency(env, from, to)).max(prev);
                    first_new.get_or_insert(seg.at);
                }
            }
            prev = seg.at;
        }
        let sock = self.socks.get_mut(&id).expect("checked above");
        let Kind::Stream(s) = &mut sock.kind else { unreachable!("checked above") };
        s.last_at = inbox.back().map_or(s.last_at.min(now), |g| g.at);
        s.inbox = inbox;
        if let Some(at) = first_new {
            // Writers too: a released RST ends a writer's wait for a window that will not open.
            fx.wake_all_at(&mut sock.readers, at, now);
            fx.wake_all_at(&mut sock.writers, at, now);
        }
    }

    fn retime_datagrams(&mut self, env: &Env, fx: &mut Fx, id: SockId, to: HostId, now: u64) {
        let Some(Kind::Datagram(d)) = self.socks.get_mut(&id).map(|s| &mut s.kind) else { return };
        let mut queue = std::mem::take(&mut d.queue);
        let mut lost = 0;
        let mut first_new: Option<u64> = None;
        // In flight: lost on a cut link, held on a clogged one, sent now if it was held.
        queue.retain_mut(|g| {
            if g.at <= now {
                return true;
            }
            if self.is_cut(g.from_host, to) {
                lost += g.data.len();
                return false;
            }
            if self.is_clogged(g.from_host, to) {
                g.at = HELD;
            } else if g.at == HELD {
                g.at = now + self.latency(env, g.from_host, to);
                first_new = Some(first_new.map_or(g.at, |f| f.min(g.at)));
            }
            true
        });
        // Stable: datagrams of one link keep their order among equal times.
        queue.make_contiguous().sort_by_key(|g| g.at);
        let sock = self.socks.get_mut(&id).expect("checked above");
        let Kind::Datagram(d) = &mut sock.kind else { unreachable!("checked above") };
        d.queue = queue;
        d.queued_bytes -= lost;
        d.last_at = d.queue.back().map_or(d.last_at.min(now), |g| g.at);
        if let Some(at) = first_new {
            fx.wake_all_at(&mut sock.readers, at, now);
        }
        if lost > 0 {
            // Room freed for blocked Unix senders (never reached: Unix is loopback only).
            fx.wake.append(&mut sock.writers);
        }
    }

    // ----- addresses and ports -----

    /// The host an IP address reaches from `from`: its loopback for 127/8, ::1 and the
    /// unspecified addresses (as the kernel treats a connect to 0.0.0.0), a host by its
    /// address, or none (a black hole).
    pub(super) fn route(&self, from: HostId, ip: IpAddr) -> Option<HostId> {
        match canonical(ip) {
            ip if ip.is_loopback() || ip.is_unspecified() => Some(from),
            IpAddr::V4(v4) => self.host_by_ip(v4).filter(|&h| !self.host(h).down),
            IpAddr::V6(_) => None,
        }
    }

    /// `ENETUNREACH` for an IPv6 address that is neither loopback nor IPv4-mapped: hosts have
    /// no IPv6 route, as a machine without IPv6 connectivity.
    pub(super) fn check_route(ip: IpAddr) -> io::Result<()> {
        match canonical(ip) {
            IpAddr::V6(v6) if !v6.is_loopback() && !v6.is_unspecified() => {
                Err(os(libc::ENETUNREACH))
            }
            _ => Ok(()),
        }
    }

    /// Whether `host` owns `ip` (so may bind it).
    pub(super) fn owns(&self, host: HostId, ip: IpAddr) -> bool {
        match canonical(ip) {
            ip if ip.is_loopback() || ip.is_unspecified() => true,
            IpAddr::V4(v4) => self.host(host).ip == v4,
            IpAddr::V6(_) => false,
        }
    }

    /// The source address `host` sends from to reach `dst`, in `dst`'s family.
    pub(super) fn source_ip(&self, host: HostId, dst: IpAddr) -> IpAddr {
        let c = canonical(dst);
        let v4 = if c.is_loopback() || c.is_unspecified() {
            Ipv4Addr::LOCALHOST
        } else {
            self.host(host).ip
        };
        match dst {
            IpAddr::V4(_) => IpAddr::V4(v4),
            IpAddr::V6(d) if d.to_ipv4_mapped().is_some() => IpAddr::V6(v4.to_ipv6_mapped()),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        }
    }

    /// Claims `new.ip:port` (port 0: a seeded ephemeral one) for `new.sock`; the port claimed.
    pub(super) fn claim(
        &mut self,
        env: &Env,
        host: HostId,
        proto: Proto,
        port: u16,
        new: Binding,
    ) -> io::Result<u16> {
        if !self.owns(host, new.ip) {
            return Err(os(libc::EADDRNOTAVAIL));
        }
        let reuse = new.reuse;
        let port = if port == 0 {
            let (lo, hi) = self.options.ephemeral_ports;
            let (lo, hi) = (lo.min(hi).max(1), hi.max(lo).max(1));
            let span = u64::from(hi - lo) + 1;
            let start = env.random_u64() % span;
            let h = self.host(host);
            (0..span)
                .map(|k| lo + ((start + k) % span) as u16)
                .find(|p| h.ports.get(&(proto, *p)).is_none_or(|b| b.is_empty()))
                .ok_or_else(|| os(libc::EADDRINUSE))?
        } else {
            let h = self.host(host);
            if let Some(list) = h.ports.get(&(proto, port)) {
                if list.iter().any(|b| overlaps(b, &new) && !(b.reuse && reuse)) {
                    return Err(os(libc::EADDRINUSE));
                }
            }
            port
        };
        self.host_mut(host).ports.entry((proto, port)).or_default().push(new);
        Ok(port)
    }

    pub(super) fn release(&mut self, host: HostId, proto: Proto, port: u16, sock: SockId) {
        let Some(h) = self.hosts[host as usize].as_mut() else { return };
        if let Some(list) = h.ports.get_mut(&(proto, port)) {
            list.retain(|b| b.sock != sock);
            if list.is_empty() {
                h.ports.remove(&(proto, port));
            }
        }
    }

    /// The socket bound on `host` that receives `proto` traffic for `dst`: an exact address
    /// first, else a wildcard of a matching family. `want` filters the candidates.
    pub(super) fn find_bound(
        &self,
        host: HostId,
        proto: Proto,
        dst: SocketAddr,
        want: impl Fn(&Sock) -> bool,
    ) -> Option<SockId> {
        let list = self.host(host).ports.get(&(proto, dst.port()))?;
        let ok = |b: &&Binding| self.socks.get(&b.sock).is_some_and(&want);
        let exact = list.iter().filter(ok).find(|b| canonical(b.ip) == canonical(dst.ip()));
        let wild = || {
            list.iter().filter(ok).find(|b| {
                b.ip.is_unspecified()
                    && match (b.ip, dst.ip()) {
                        (IpAddr::V4(_), IpAddr::V4(_)) => true,
                        (IpAddr::V4(_), IpAddr::V6(d)) => d.to_ipv4_mapped().is_some(),
                        (IpAddr::V6(_), IpAddr::V6(_)) => true,
                        (IpAddr::V6(_), IpAddr::V4(_)) => !b.v6_only,
                    }
            })
        };
        exact.or_else(wild).map(|b| b.sock)
    }
}

/// The link key of two hosts, in either order.
pub(super) fn pair(a: HostId, b: HostId) -> (HostId, HostId) {
    (a.min(b), a.max(b))
}

/// A destination as the kernel reads it: the unspecified address means this host's loopback
/// (Linux and the BSDs connect 0.0.0.0 to 127.0.0.1).
pub(super) fn destination(dst: SocketAddr) -> SocketAddr {
    match dst.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), dst.port())
        }
        IpAddr::V6(v6) if v6.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), dst.port())
        }
        _ => dst,
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 one; others as they are.
pub(super) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// `addr` as a socket of family `v6` sees it (IPv4 as IPv4-mapped IPv6 on an IPv6 socket).
pub(super) fn in_family(addr: SocketAddr, v6: bool) -> SocketAddr {
    match (addr, v6) {
        (SocketAddr::V4(a), true) => SocketAddr::new(IpAddr::V6(a.ip().to_ipv6_mapped()), a.port()),
        (SocketAddr::V6(a), false) => match a.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), a.port()),
            None => addr,
        },
        _ => addr,
    }
}

fn overlaps(a: &Binding, b: &Binding) -> bool {
    let (ca, cb) = (canonical(a.ip), canonical(b.ip));
    if ca == cb {
        return true;
    }
    let covers = |w: &Binding, other: IpAddr| {
        w.ip.is_unspecified()
            && match (w.ip, other) {
                (IpAddr::V4(_), o) => canonical(o).is_ipv4(),
                (IpAddr::V6(_), IpAddr::V6(o)) if o.to_ipv4_mapped().is_none() => true,
                (IpAddr::V6(_), _) => !w.v6_only,
            }
    };
    covers(a, b.ip) || covers(b, a.ip)
}

/// The local address of a socket bound to a Unix path, or unnamed.
pub(super) fn unix_address(path: Option<&PathBuf>) -> SocketAddress {
    SocketAddress::Unix(path.map_or_else(UnixAddress::unnamed, UnixAddress::new))
}

impl Opts {
    pub(super) fn set(&mut self, option: SocketOption) {
        match option {
            SocketOption::NoDelay(v) => self.no_delay = v,
            SocketOption::Ttl(v) => self.ttl = v,
            SocketOption::Broadcast(v) => self.broadcast = v,
            SocketOption::V6Only(v) => self.v6_only = v,
            SocketOption::Linger(v) => self.linger = v,
            SocketOption::KeepAlive(v) => self.keep_alive = v,
            SocketOption::ReuseAddress(v) => self.reuse = v,
            // The kernel's floor (Linux: 2304/4608 bytes after its doubling); below it a window
            // of 0 would stall a connection forever.
            SocketOption::ReceiveBufferSize(v) => self.recv_buf = v.max(MIN_BUFFER),
            SocketOption::SendBufferSize(v) => self.send_buf = v.max(MIN_BUFFER),
        }
    }
}

/// The smallest buffer a socket option can set.
pub(super) const MIN_BUFFER: usize = 2048;
