//! The simulated network's options: faults as data. [`NetOptions`] is given to the world once
//! (`SimOptions::net`); [`LinkOptions`] describe one link (a pair of hosts, or a host's
//! loopback); [`Latency`] is a seeded one-way delay distribution.
//!
//! Ground rules:
//! 1. Every field has a default that gives a reliable network with small latencies, so a test
//!    states only the faults it wants.
//! 2. A probability of 0 draws nothing from the world's generator, so adding a host or a link
//!    with no faults does not shift the draws of the rest of the run.

use crate::sim::env::Env;
use crate::time::Duration;

/// A seeded distribution of one-way delays on a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Latency {
    /// Always this delay (draws nothing).
    Fixed(Duration),
    /// A delay drawn uniformly in `min..=max` (a negative bound counts as 0).
    Uniform {
        /// The shortest delay.
        min: Duration,
        /// The longest delay.
        max: Duration,
    },
}

impl Latency {
    /// `Latency::Uniform { min, max }`.
    pub const fn uniform(min: Duration, max: Duration) -> Latency {
        Latency::Uniform { min, max }
    }

    /// Draws one delay, in nanoseconds.
    pub(crate) fn draw(&self, env: &Env) -> u64 {
        match *self {
            Latency::Fixed(d) => nanos(d),
            Latency::Uniform { min, max } => {
                let (lo, hi) = (nanos(min), nanos(max));
                if hi <= lo {
                    return lo;
                }
                lo + env.random_u64() % (hi - lo + 1)
            }
        }
    }

    /// The longest delay this can draw, in nanoseconds.
    pub(crate) fn max_nanos(&self) -> u64 {
        match *self {
            Latency::Fixed(d) => nanos(d),
            Latency::Uniform { min, max } => nanos(min).max(nanos(max)),
        }
    }
}

fn nanos(d: Duration) -> u64 {
    d.as_nanos().max(0) as u64
}

/// The behaviour of one link: its latency and its faults. Probabilities are in `0.0..=1.0`.
///
/// Duplication and reordering apply to datagrams (UDP) only; TCP hides them from the
/// application (the model delivers a stream's bytes once and in order). Loss drops a datagram;
/// for TCP it costs time instead: a lost segment arrives a retransmission later
/// ([`NetOptions::retransmit_delay`]) with everything behind it, a lost SYN is retried.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct LinkOptions {
    /// One-way delay of every segment or datagram. Default uniform in 50..=500 µs between
    /// hosts, 5..=20 µs on a loopback.
    pub latency: Latency,
    /// Probability that a packet is lost: a UDP datagram is gone, a TCP segment is delayed by
    /// a retransmission, a SYN is retried (1 s, then doubling). Default 0.
    pub loss: f64,
    /// Probability that a UDP datagram is delivered twice (the copy with its own latency).
    /// Default 0.
    pub duplicate: f64,
    /// Probability that a UDP datagram is held back by up to another maximal latency, so that
    /// later ones overtake it. Without it, datagrams between two hosts arrive in the order they
    /// were sent. Default 0.
    pub reorder: f64,
    /// Probability that a TCP write (between two hosts) resets its connection: the write fails
    /// with `ConnectionReset` and the peer reads `ConnectionReset` after the link's latency
    /// (an injected `ECONNRESET`). Default 0.
    pub reset: f64,
}

impl LinkOptions {
    /// The default between two hosts: reliable, 50..=500 µs.
    pub const fn remote() -> LinkOptions {
        LinkOptions {
            latency: Latency::Uniform {
                min: Duration::from_micros(50),
                max: Duration::from_micros(500),
            },
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reset: 0.0,
        }
    }

    /// The default loopback of a host (127.0.0.1, ::1, Unix sockets): reliable, 5..=20 µs.
    pub const fn loopback() -> LinkOptions {
        LinkOptions {
            latency: Latency::Uniform {
                min: Duration::from_micros(5),
                max: Duration::from_micros(20),
            },
            ..LinkOptions::remote()
        }
    }

    /// Sets [`latency`](Self::latency).
    pub fn latency(mut self, latency: Latency) -> Self {
        self.latency = latency;
        self
    }

    /// Sets [`loss`](Self::loss).
    pub fn loss(mut self, p: f64) -> Self {
        self.loss = p;
        self
    }

    /// Sets [`duplicate`](Self::duplicate).
    pub fn duplicate(mut self, p: f64) -> Self {
        self.duplicate = p;
        self
    }

    /// Sets [`reorder`](Self::reorder).
    pub fn reorder(mut self, p: f64) -> Self {
        self.reorder = p;
        self
    }

    /// Sets [`reset`](Self::reset).
    pub fn reset(mut self, p: f64) -> Self {
        self.reset = p;
        self
    }
}

impl Default for LinkOptions {
    fn default() -> Self {
        LinkOptions::remote()
    }
}

/// The simulated network of a world (`SimOptions::net`).
///
/// # Examples
///
/// ```
/// use kqio::sim::{Latency, LinkOptions, NetOptions};
/// use kqio::time::Duration;
///
/// let net = NetOptions::default()
///     .link(LinkOptions::remote().loss(0.01).duplicate(0.01).reorder(0.05))
///     // A slow, lossy link between two named hosts.
///     .link_between(
///         "server",
///         "replica",
///         LinkOptions::remote()
///             .latency(Latency::uniform(Duration::from_millis(20), Duration::from_millis(80)))
///             .loss(0.1),
///     )
///     .descriptor_limit(Some(64));
/// assert_eq!(net.links.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NetOptions {
    /// Every link between two distinct hosts without an override.
    pub link: LinkOptions,
    /// Each host's loopback (127.0.0.1, ::1, Unix sockets). Loopback traffic is never
    /// partitioned nor clogged.
    pub loopback: LinkOptions,
    /// Per-link overrides, by host names (symmetric: `(a, b)` also covers `b` to `a`); the
    /// last entry for a pair wins. The world's `set_link` changes one at run time.
    pub links: Vec<(String, String, LinkOptions)>,
    /// The most sockets a host may have open at once (listeners, streams, datagram sockets;
    /// simulated files are not counted). Past it, creating a socket fails as `EMFILE` does on
    /// `Kqueue` (the raw OS error `EMFILE`), and `accept` fails with
    /// [`DescriptorsExhausted`](crate::net::DescriptorsExhausted) leaving the connection queued.
    /// Default `None`: no limit.
    pub descriptor_limit: Option<usize>,
    /// Ports that port 0 picks from (a seeded draw). Default `49152..=65535` (IANA).
    pub ephemeral_ports: (u16, u16),
    /// A stream socket's send buffer, in bytes (`SO_SNDBUF`). Default 64 KiB.
    pub send_buffer: usize,
    /// A socket's receive buffer (the stream's receive window; the datagram queue's limit), in
    /// bytes (`SO_RCVBUF`). Default 64 KiB.
    pub receive_buffer: usize,
    /// The largest segment a stream write is cut into; each segment draws its own latency
    /// (delivery stays in order), so a reader may see a write in several parts. Default 1460.
    pub segment_size: usize,
    /// How long an unanswered connect keeps retrying (its SYN lost to a partition, a clog, a
    /// full backlog or an address no host has) before `TimedOut`. Retries are at 1 s, then
    /// doubling, as TCP does. Default 75 s (the BSD value).
    pub connect_timeout: Duration,
    /// How much later a TCP segment lost to [`LinkOptions::loss`] arrives (its retransmission
    /// timeout). Default 200 ms (Linux's minimum RTO).
    pub retransmit_delay: Duration,
}

impl Default for NetOptions {
    fn default() -> Self {
        NetOptions {
            link: LinkOptions::remote(),
            loopback: LinkOptions::loopback(),
            links: Vec::new(),
            descriptor_limit: None,
            ephemeral_ports: (49152, 65535),
            send_buffer: 64 * 1024,
            receive_buffer: 64 * 1024,
            segment_size: 1460,
            connect_timeout: Duration::from_secs(75),
            retransmit_delay: Duration::from_millis(200),
        }
    }
}

impl NetOptions {
    /// Sets [`link`](Self::link).
    pub fn link(mut self, link: LinkOptions) -> Self {
        self.link = link;
        self
    }

    /// Sets [`loopback`](Self::loopback).
    pub fn loopback(mut self, link: LinkOptions) -> Self {
        self.loopback = link;
        self
    }

    /// Adds an override of the link between the hosts named `a` and `b` to
    /// [`links`](Self::links).
    pub fn link_between(mut self, a: &str, b: &str, link: LinkOptions) -> Self {
        self.links.push((a.to_owned(), b.to_owned(), link));
        self
    }

    /// Sets [`descriptor_limit`](Self::descriptor_limit).
    pub fn descriptor_limit(mut self, limit: Option<usize>) -> Self {
        self.descriptor_limit = limit;
        self
    }

    /// Sets [`ephemeral_ports`](Self::ephemeral_ports) to `first..=last`.
    pub fn ephemeral_ports(mut self, first: u16, last: u16) -> Self {
        self.ephemeral_ports = (first, last);
        self
    }

    /// Sets [`send_buffer`](Self::send_buffer).
    pub fn send_buffer(mut self, bytes: usize) -> Self {
        self.send_buffer = bytes;
        self
    }

    /// Sets [`receive_buffer`](Self::receive_buffer).
    pub fn receive_buffer(mut self, bytes: usize) -> Self {
        self.receive_buffer = bytes;
        self
    }

    /// Sets [`segment_size`](Self::segment_size).
    pub fn segment_size(mut self, bytes: usize) -> Self {
        self.segment_size = bytes;
        self
    }

    /// Sets [`retransmit_delay`](Self::retransmit_delay).
    pub fn retransmit_delay(mut self, delay: Duration) -> Self {
        self.retransmit_delay = delay;
        self
    }

    /// Sets [`connect_timeout`](Self::connect_timeout).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
}

/// `true` with probability `p`; draws only when `0 < p < 1`.
pub(crate) fn chance(env: &Env, p: f64) -> bool {
    if p <= 0.0 || p.is_nan() {
        return false;
    }
    if p >= 1.0 {
        return true;
    }
    ((env.random_u64() >> 11) as f64) / ((1u64 << 53) as f64) < p
}
