//! Unit tests of the network model, on a small test `Env` (a manual clock, a seeded
//! splitmix64, a timer list) and a tiny poll loop: poll every woken task, and when none is
//! woken, advance time to the earliest `wake_at` and wake it.

use std::future::{poll_fn, Future};
use std::io::{self, ErrorKind, IoSlice, IoSliceMut};
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use super::*;
use crate::sim::env::SimEnv;
use crate::time::Duration;

struct TestEnv {
    now: Mutex<u64>,
    rng: Mutex<u64>,
    timers: Mutex<Vec<(u64, Waker)>>,
    log: Mutex<Vec<String>>,
}

impl SimEnv for TestEnv {
    fn now(&self) -> u64 {
        *self.now.lock().unwrap()
    }
    fn random_u64(&self) -> u64 {
        let mut s = self.rng.lock().unwrap();
        *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn wake_at(&self, at: u64, waker: Waker) {
        self.timers.lock().unwrap().push((at, waker));
    }
    fn log(&self, event: std::fmt::Arguments<'_>) {
        self.log.lock().unwrap().push(event.to_string());
    }
}

struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

type Task<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// A world of `hosts` hosts ("h0", "h1", ...) on one network.
struct W {
    env: Env,
    t: Arc<TestEnv>,
    net: SimNet,
}

const SEC: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;

fn world(seed: u64, hosts: u32, options: NetOptions) -> W {
    let t = Arc::new(TestEnv {
        now: Mutex::new(0),
        rng: Mutex::new(seed),
        timers: Mutex::new(Vec::new()),
        log: Mutex::new(Vec::new()),
    });
    let net = SimNet::new(options);
    for h in 0..hosts {
        net.add_host(h, &format!("h{h}"));
    }
    W { env: t.clone(), t, net }
}

impl W {
    fn now(&self) -> u64 {
        self.t.now()
    }

    /// Runs `tasks` until all are done, or nothing is ready and no timer is left, or virtual
    /// time would pass `until`. Returns how many finished.
    fn run(&self, tasks: Vec<Task<'_>>, until: u64) -> usize {
        let mut tasks: Vec<(Option<Task<'_>>, Arc<Flag>)> =
            tasks.into_iter().map(|t| (Some(t), Arc::new(Flag(AtomicBool::new(true))))).collect();
        loop {
            let mut progressed = false;
            for (task, flag) in tasks.iter_mut() {
                if task.is_some() && flag.0.swap(false, Ordering::SeqCst) {
                    progressed = true;
                    let waker = Waker::from(flag.clone());
                    if task
                        .as_mut()
                        .unwrap()
                        .as_mut()
                        .poll(&mut Context::from_waker(&waker))
                        .is_ready()
                    {
                        *task = None;
                    }
                }
            }
            let done = tasks.iter().filter(|(t, _)| t.is_none()).count();
            if done == tasks.len() {
                return done;
            }
            if progressed {
                continue;
            }
            let mut timers = self.t.timers.lock().unwrap();
            let Some(at) = timers.iter().map(|(at, _)| *at).min() else { return done };
            if at > until {
                return done;
            }
            let (due, rest): (Vec<_>, Vec<_>) = timers.drain(..).partition(|(a, _)| *a == at);
            *timers = rest;
            drop(timers);
            let mut now = self.t.now.lock().unwrap();
            *now = (*now).max(at);
            drop(now);
            for (_, w) in due {
                w.wake();
            }
        }
    }

    fn listen(&self, host: HostId, addr: &str) -> SocketHandle {
        self.net.listen(&self.env, host, &ip(addr), &ListenOptions::default()).unwrap()
    }

    async fn accept(
        &self,
        host: HostId,
        l: &SocketHandle,
    ) -> io::Result<(SocketHandle, SocketAddress)> {
        poll_fn(|cx| self.net.poll_accept(&self.env, host, cx, l)).await
    }

    async fn connect(&self, host: HostId, addr: &SocketAddress) -> io::Result<SocketHandle> {
        let s = self.net.connect(&self.env, host, addr)?;
        poll_fn(|cx| self.net.poll_connect(&self.env, host, cx, &s)).await?;
        Ok(s)
    }

    async fn read(&self, host: HostId, s: &SocketHandle, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.net.poll_read(&self.env, host, cx, s, buf, false)).await
    }

    async fn write(&self, host: HostId, s: &SocketHandle, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.net.poll_write(&self.env, host, cx, s, buf)).await
    }

    async fn write_all(&self, host: HostId, s: &SocketHandle, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let n = self.write(host, s, buf).await?;
            buf = &buf[n..];
        }
        Ok(())
    }

    async fn read_to_end(&self, host: HostId, s: &SocketHandle) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match self.read(host, s, &mut buf).await? {
                0 => return Ok(out),
                n => out.extend_from_slice(&buf[..n]),
            }
        }
    }

    async fn recv_from(
        &self,
        host: HostId,
        s: &SocketHandle,
        buf: &mut [u8],
    ) -> io::Result<(usize, SocketAddress)> {
        poll_fn(|cx| self.net.poll_receive_from(&self.env, host, cx, s, buf, false)).await
    }

    async fn send_to(
        &self,
        host: HostId,
        s: &SocketHandle,
        buf: &[u8],
        to: &SocketAddress,
    ) -> io::Result<usize> {
        poll_fn(|cx| self.net.poll_send_to(&self.env, host, cx, s, buf, to)).await
    }

    /// One poll with a waker nobody watches.
    fn poll_write_once(
        &self,
        host: HostId,
        s: &SocketHandle,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let waker = Waker::from(Arc::new(Flag(AtomicBool::new(false))));
        self.net.poll_write(&self.env, host, &mut Context::from_waker(&waker), s, buf)
    }

    fn poll_read_once(
        &self,
        host: HostId,
        s: &SocketHandle,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let waker = Waker::from(Arc::new(Flag(AtomicBool::new(false))));
        self.net.poll_read(&self.env, host, &mut Context::from_waker(&waker), s, buf, false)
    }

    fn logs(&self) -> Vec<String> {
        self.t.log.lock().unwrap().clone()
    }
}

fn ip(s: &str) -> SocketAddress {
    SocketAddress::Ip(s.parse::<SocketAddr>().unwrap())
}

fn raw(e: &io::Error) -> Option<i32> {
    e.raw_os_error()
}

#[test]
fn echo_between_two_hosts() {
    let w = world(1, 2, NetOptions::default());
    let l = w.listen(0, "0.0.0.0:7");
    let (mut got, mut peer) = (Vec::new(), None);
    let server = async {
        let (s, from) = w.accept(0, &l).await.unwrap();
        peer = Some(from);
        let data = w.read_to_end(0, &s).await.unwrap();
        w.write_all(0, &s, &data).await.unwrap();
        w.net.shutdown(&w.env, 0, &s, Shutdown::Write).unwrap();
    };
    let client = async {
        let s = w.connect(1, &ip("10.0.0.1:7")).await.unwrap();
        let local = w.net.address(&w.env, 1, &s, AddressKind::Local).unwrap();
        assert_eq!(w.net.address(&w.env, 1, &s, AddressKind::Peer).unwrap(), ip("10.0.0.1:7"));
        assert!(local.as_ip().unwrap().ip() == "10.0.0.2".parse::<IpAddr>().unwrap());
        let msg = vec![7u8; 10_000];
        w.write_all(1, &s, &msg).await.unwrap();
        w.net.shutdown(&w.env, 1, &s, Shutdown::Write).unwrap();
        got = w.read_to_end(1, &s).await.unwrap();
    };
    assert_eq!(w.run(vec![Box::pin(server), Box::pin(client)], u64::MAX), 2);
    assert_eq!(got, vec![7u8; 10_000]);
    assert_eq!(peer.unwrap().as_ip().unwrap().ip(), "10.0.0.2".parse::<IpAddr>().unwrap());
    // A handshake and two transfers: at least four one-way latencies of 50 µs.
    assert!(w.now() >= 4 * 50_000, "{}", w.now());
    assert!(w.logs().iter().any(|l| l.contains("established")));
}

#[test]
fn a_writer_that_outpaces_its_reader_waits() {
    let w = world(2, 2, NetOptions::default());
    let l = w.listen(0, "10.0.0.1:80");
    let c = w.net.connect(&w.env, 1, &ip("10.0.0.1:80")).unwrap();
    let mut accepted = None;
    w.run(vec![Box::pin(async { accepted = Some(w.accept(0, &l).await.unwrap().0) })], u64::MAX);
    let s = accepted.unwrap();
    for (h, sock) in [(1, &c), (0, &s)] {
        w.net.set_option(&w.env, h, sock, SocketOption::SendBufferSize(4096)).unwrap();
        w.net.set_option(&w.env, h, sock, SocketOption::ReceiveBufferSize(4096)).unwrap();
    }
    assert_eq!(
        w.net.option(&w.env, 1, &c, SocketOptionKind::SendBufferSize).unwrap(),
        SocketOption::SendBufferSize(4096)
    );
    let chunk = [1u8; 1000];
    let mut written = 0;
    while let Poll::Ready(n) = w.poll_write_once(1, &c, &chunk) {
        written += n.unwrap();
        assert!(written <= 8192, "no backpressure");
    }
    assert_eq!(written, 8192, "send buffer plus receive window");
    // The reader drains; the writer may go on, and the bytes are all there, in order.
    let mut read = 0;
    w.run(
        vec![Box::pin(async {
            let mut buf = [0u8; 3000];
            while read < 8192 {
                read += w.read(0, &s, &mut buf).await.unwrap();
            }
        })],
        u64::MAX,
    );
    assert_eq!(read, 8192);
    assert!(matches!(w.poll_write_once(1, &c, &chunk), Poll::Ready(Ok(1000))));
}

#[test]
fn half_close_is_end_of_stream_after_the_data_in_flight() {
    let w = world(3, 2, NetOptions::default());
    let l = w.listen(0, "10.0.0.1:9");
    let mut server_got = Vec::new();
    let mut client_got = Vec::new();
    let server = async {
        let (s, _) = w.accept(0, &l).await.unwrap();
        server_got = w.read_to_end(0, &s).await.unwrap();
        // The other half still works.
        w.write_all(0, &s, b"reply").await.unwrap();
    };
    let client = async {
        let s = w.connect(1, &ip("10.0.0.1:9")).await.unwrap();
        w.write_all(1, &s, b"abc").await.unwrap();
        w.net.shutdown(&w.env, 1, &s, Shutdown::Write).unwrap();
        let e = w.write(1, &s, b"x").await.unwrap_err();
        assert_eq!(raw(&e), Some(libc::EPIPE));
        let mut buf = [0u8; 5];
        let mut n = 0;
        while n < 5 {
            n += w.read(1, &s, &mut buf[n..]).await.unwrap();
        }
        client_got = buf.to_vec();
    };
    assert_eq!(w.run(vec![Box::pin(server), Box::pin(client)], u64::MAX), 2);
    assert_eq!(server_got, b"abc");
    assert_eq!(client_got, b"reply");
}

#[test]
fn connect_without_listener_is_refused_after_a_round_trip() {
    let w = world(4, 2, NetOptions::default());
    let mut r = None;
    w.run(vec![Box::pin(async { r = Some(w.connect(1, &ip("10.0.0.1:1234")).await) })], u64::MAX);
    let e = r.unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    assert_eq!(raw(&e), Some(libc::ECONNREFUSED));
    assert!(w.now() >= 100_000, "a round trip of at least 2 x 50 µs, was {}", w.now());
}

#[test]
fn a_crashed_host_resets_its_connections_at_the_peers() {
    let w = world(5, 2, NetOptions::default());
    let l = w.listen(0, "10.0.0.1:5");
    let mut pair = (None, None);
    w.run(
        vec![
            Box::pin(async { pair.0 = Some(w.accept(0, &l).await.unwrap().0) }),
            Box::pin(async { pair.1 = Some(w.connect(1, &ip("10.0.0.1:5")).await.unwrap()) }),
        ],
        u64::MAX,
    );
    let (s, c) = (pair.0.unwrap(), pair.1.unwrap());
    w.net.crash_host(&w.env, 0);
    let mut r = None;
    w.run(vec![Box::pin(async { r = Some(w.read(1, &c, &mut [0u8; 8]).await) })], u64::MAX);
    assert_eq!(r.unwrap().unwrap_err().kind(), ErrorKind::ConnectionReset);
    // The crashed host's handle is gone, typed.
    let e = match w.poll_read_once(0, &s, &mut [0u8; 4]) {
        Poll::Ready(Err(e)) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(e.kind(), ErrorKind::NotConnected);
    assert!(e.get_ref().unwrap().is::<SocketGone>());
    // The port is free again after the crash.
    w.listen(0, "10.0.0.1:5");
}

trait IntoReady<T> {
    fn into_ready(self) -> T;
}

impl<T> IntoReady<T> for Poll<T> {
    fn into_ready(self) -> T {
        match self {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("pending"),
        }
    }
}

fn raw_of(i: i32) -> io::Error {
    io::Error::from_raw_os_error(i)
}

#[test]
fn writes_after_a_reset_fail_with_epipe() {
    let w = world(6, 2, NetOptions::default());
    let l = w.listen(0, "10.0.0.1:5");
    let mut pair = (None, None);
    w.run(
        vec![
            Box::pin(async { pair.0 = Some(w.accept(0, &l).await.unwrap().0) }),
            Box::pin(async { pair.1 = Some(w.connect(1, &ip("10.0.0.1:5")).await.unwrap()) }),
        ],
        u64::MAX,
    );
    let c = pair.1.unwrap();
    w.net.crash_host(&w.env, 0);
    let mut r = None;
    w.run(vec![Box::pin(async { r = Some(w.read(1, &c, &mut [0u8; 8]).await) })], u64::MAX);
    assert_eq!(raw(&r.unwrap().unwrap_err()), Some(libc::ECONNRESET));
    let e = w.poll_write_once(1, &c, b"x").into_ready().unwrap_err();
    assert_eq!(raw(&e), raw(&raw_of(libc::EPIPE)));
    assert!(matches!(w.poll_read_once(1, &c, &mut [0u8; 4]), Poll::Ready(Ok(0))));
}

#[test]
fn closing_with_unread_data_resets_the_peer() {
    let w = world(7, 1, NetOptions::default());
    let l = w.listen(0, "127.0.0.1:6");
    let mut r = None;
    let server = async {
        let (s, _) = w.accept(0, &l).await.unwrap();
        // Wait for the client's bytes, read none, close.
        poll_fn(|cx| w.net.poll_read(&w.env, 0, cx, &s, &mut [0u8; 1], true)).await.unwrap();
        drop(s);
    };
    let client = async {
        let c = w.connect(0, &ip("127.0.0.1:6")).await.unwrap();
        w.write_all(0, &c, b"unread!").await.unwrap();
        r = Some(w.read(0, &c, &mut [0u8; 8]).await);
    };
    assert_eq!(w.run(vec![Box::pin(server), Box::pin(client)], u64::MAX), 2);
    assert_eq!(r.unwrap().unwrap_err().kind(), ErrorKind::ConnectionReset);
}

#[test]
fn a_partition_keeps_a_connect_pending_until_healed_or_timed_out() {
    let w = world(8, 2, NetOptions::default());
    let _l = w.listen(0, "10.0.0.1:8");
    w.net.partition(&w.env, 0, 1);
    let c = w.net.connect(&w.env, 1, &ip("10.0.0.1:8")).unwrap();
    let mut r = None;
    let task = async { r = Some(poll_fn(|cx| w.net.poll_connect(&w.env, 1, cx, &c)).await) };
    let mut tasks: Vec<Task<'_>> = vec![Box::pin(task)];
    // Ten seconds in, still pending (SYNs retried at 1, 3, 7 s).
    assert_eq!(w.run(std::mem::take(&mut tasks), 10 * SEC), 0);
    assert!(w.logs().iter().filter(|l| l.contains("SYN lost")).count() >= 3);
    drop(tasks);
    // Healed: the next retry (at 15 s) connects.
    w.net.heal(&w.env);
    let mut r2 = None;
    w.run(
        vec![Box::pin(async {
            r2 = Some(poll_fn(|cx| w.net.poll_connect(&w.env, 1, cx, &c)).await)
        })],
        u64::MAX,
    );
    assert!(r2.unwrap().is_ok());
    assert!(w.now() >= 15 * SEC && w.now() < 16 * SEC, "{}", w.now());
    let _ = r;

    // Without a heal: TimedOut at the connect timeout.
    let w = world(9, 2, NetOptions::default());
    let _l = w.listen(0, "10.0.0.1:8");
    w.net.partition_one_way(&w.env, 0, 1);
    let mut r = None;
    w.run(vec![Box::pin(async { r = Some(w.connect(1, &ip("10.0.0.1:8")).await) })], u64::MAX);
    assert_eq!(r.unwrap().unwrap_err().kind(), ErrorKind::TimedOut);
    assert_eq!(w.now(), 75 * SEC);
}

#[test]
fn a_partition_holds_stream_data() {
    let w = world(10, 2, NetOptions::default());
    let l = w.listen(0, "10.0.0.1:8");
    let mut pair = (None, None);
    w.run(
        vec![
            Box::pin(async { pair.0 = Some(w.accept(0, &l).await.unwrap().0) }),
            Box::pin(async { pair.1 = Some(w.connect(1, &ip("10.0.0.1:8")).await.unwrap()) }),
        ],
        u64::MAX,
    );
    let (s, c) = (pair.0.unwrap(), pair.1.unwrap());
    w.net.partition(&w.env, 0, 1);
    let data: Vec<u8> = (0..20_000u32).map(|i| i as u8).collect();
    let mut got = Vec::new();
    let t0 = w.now();
    let tasks: Vec<Task<'_>> = vec![
        Box::pin(async { w.write_all(1, &c, &data).await.unwrap() }),
        Box::pin(async {
            let mut buf = [0u8; 777];
            while got.len() < data.len() {
                let n = w.read(0, &s, &mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
            }
        }),
    ];
    // Nothing crosses: both wait with no timer left.
    assert_eq!(w.run(tasks, u64::MAX), 1);
    assert_eq!(w.now(), t0);
    assert!(got.is_empty());
}

#[test]
fn clog_delays_until_unclog() {
    let w = world(11, 2, NetOptions::default());
    let l = w.listen(0, "10.0.0.1:8");
    let mut pair = (None, None);
    w.run(
        vec![
            Box::pin(async { pair.0 = Some(w.accept(0, &l).await.unwrap().0) }),
            Box::pin(async { pair.1 = Some(w.connect(1, &ip("10.0.0.1:8")).await.unwrap()) }),
        ],
        u64::MAX,
    );
    let (s, c) = (pair.0.unwrap(), pair.1.unwrap());
    w.net.clog(&w.env, 0);
    assert!(matches!(w.poll_write_once(1, &c, b"held"), Poll::Ready(Ok(4))));
    let mut buf = [0u8; 8];
    assert!(w.poll_read_once(0, &s, &mut buf).is_pending());
    *w.t.now.lock().unwrap() += 5 * SEC;
    assert!(w.poll_read_once(0, &s, &mut buf).is_pending());
    w.net.unclog(&w.env, 0);
    let t = w.now();
    let mut n = 0;
    w.run(vec![Box::pin(async { n = w.read(0, &s, &mut buf).await.unwrap() })], u64::MAX);
    assert_eq!(&buf[..n], b"held");
    assert!(w.now() >= t + 50_000);
}

#[test]
fn heal_after_partition_delivers_held_data() {
    let w = world(12, 2, NetOptions::default());
    let l = w.listen(0, "10.0.0.1:8");
    let mut pair = (None, None);
    w.run(
        vec![
            Box::pin(async { pair.0 = Some(w.accept(0, &l).await.unwrap().0) }),
            Box::pin(async { pair.1 = Some(w.connect(1, &ip("10.0.0.1:8")).await.unwrap()) }),
        ],
        u64::MAX,
    );
    let (s, c) = (pair.0.unwrap(), pair.1.unwrap());
    let data: Vec<u8> = (0..6000u32).map(|i| (i % 251) as u8).collect();
    assert!(matches!(w.poll_write_once(1, &c, &data[..3000]), Poll::Ready(Ok(3000))));
    w.net.partition(&w.env, 0, 1);
    assert!(matches!(w.poll_write_once(1, &c, &data[3000..]), Poll::Ready(Ok(3000))));
    *w.t.now.lock().unwrap() += SEC;
    w.net.heal_link(&w.env, 0, 1);
    let mut got = Vec::new();
    w.run(
        vec![Box::pin(async {
            let mut buf = [0u8; 1000];
            while got.len() < 6000 {
                let n = w.read(0, &s, &mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
            }
        })],
        u64::MAX,
    );
    assert_eq!(got, data);
}

/// Sends `n` numbered datagrams from h1 to h0 and returns the numbers received, in order.
fn udp_run(seed: u64, link: LinkOptions, n: u32) -> Vec<u32> {
    let o = NetOptions::default().link(link).receive_buffer(1 << 20);
    let w = world(seed, 2, o);
    let r = w.net.bind(&w.env, 0, &ip("10.0.0.1:53"), &BindOptions::default()).unwrap();
    let s = w.net.bind(&w.env, 1, &ip("0.0.0.0:0"), &BindOptions::default()).unwrap();
    let mut got = Vec::new();
    let sender = async {
        for i in 0..n {
            w.send_to(1, &s, &i.to_le_bytes(), &ip("10.0.0.1:53")).await.unwrap();
            // One datagram every 100 µs, less than the latency spread: reordering can show.
            let at = w.now() + 100_000;
            poll_fn(|cx| {
                if w.now() >= at {
                    return Poll::Ready(());
                }
                w.env.wake_at(at, cx.waker().clone());
                Poll::Pending
            })
            .await;
        }
    };
    let receiver = async {
        let mut buf = [0u8; 16];
        loop {
            let (k, from) = w.recv_from(0, &r, &mut buf).await.unwrap();
            assert_eq!(k, 4);
            assert_eq!(from.as_ip().unwrap().ip(), "10.0.0.2".parse::<IpAddr>().unwrap());
            got.push(u32::from_le_bytes(buf[..4].try_into().unwrap()));
        }
    };
    w.run(vec![Box::pin(sender), Box::pin(receiver)], u64::MAX);
    got
}

fn inversions(v: &[u32]) -> usize {
    v.windows(2).filter(|p| p[1] < p[0]).count()
}

#[test]
fn udp_loss_duplication_and_reordering_follow_their_probabilities() {
    let n = 2000;
    let (mut lost, mut dup, mut inv) = (0usize, 0usize, 0usize);
    let seeds = 10;
    for seed in 0..seeds {
        let got = udp_run(seed, LinkOptions::remote().loss(0.1), n);
        lost += n as usize - got.len();
        assert_eq!(inversions(&got), 0, "no reordering without the option");
        let got = udp_run(seed, LinkOptions::remote().duplicate(0.1), n);
        dup += got.len() - n as usize;
        let got = udp_run(seed, LinkOptions::remote().reorder(0.2), n);
        assert_eq!(got.len(), n as usize);
        inv += inversions(&got);
    }
    let total = (n as u64 * seeds) as f64;
    let (l, d) = (lost as f64 / total, dup as f64 / total);
    assert!((0.08..0.12).contains(&l), "loss {l}");
    assert!((0.08..0.12).contains(&d), "duplication {d}");
    assert!(inv as f64 / total > 0.02, "reordering {inv}");
    // A reliable link keeps every datagram, once, in order.
    let got = udp_run(99, LinkOptions::remote(), 500);
    assert_eq!(got, (0..500).collect::<Vec<_>>());
}

#[test]
fn udp_keeps_boundaries_and_truncates_to_the_buffer() {
    let w = world(13, 1, NetOptions::default());
    let a = w.net.bind(&w.env, 0, &ip("127.0.0.1:0"), &BindOptions::default()).unwrap();
    let b = w.net.bind(&w.env, 0, &ip("127.0.0.1:0"), &BindOptions::default()).unwrap();
    let b_addr = w.net.address(&w.env, 0, &b, AddressKind::Local).unwrap();
    let a_addr = w.net.address(&w.env, 0, &a, AddressKind::Local).unwrap();
    let mut out = Vec::new();
    w.run(
        vec![Box::pin(async {
            w.send_to(0, &a, b"0123456789", &b_addr).await.unwrap();
            w.send_to(0, &a, b"ab", &b_addr).await.unwrap();
            // To a port nobody has: gone, silently.
            w.send_to(0, &a, b"lost", &ip("127.0.0.1:1")).await.unwrap();
            let mut buf = [0u8; 4];
            out.push(w.recv_from(0, &b, &mut buf).await.unwrap());
            out.push(w.recv_from(0, &b, &mut buf).await.unwrap());
            // Connected: send and read.
            w.net.connect_datagram(&w.env, 0, &b, &a_addr).unwrap();
            w.write(0, &b, b"back").await.unwrap();
            let n = w.read(0, &a, &mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"back");
        })],
        u64::MAX,
    );
    assert_eq!(out[0], (4, a_addr.clone()));
    assert_eq!(out[1], (2, a_addr));
    let big = vec![0u8; 70_000];
    let e = w.poll_send_to_once(&a, &big, &b_addr);
    assert_eq!(raw(&e), Some(libc::EMSGSIZE));
    let e = w.poll_write_once(0, &a, b"x").into_ready().unwrap_err();
    assert_eq!(raw(&e), Some(libc::EDESTADDRREQ));
}

impl W {
    fn poll_send_to_once(&self, s: &SocketHandle, buf: &[u8], to: &SocketAddress) -> io::Error {
        let waker = Waker::from(Arc::new(Flag(AtomicBool::new(false))));
        self.net
            .poll_send_to(&self.env, 0, &mut Context::from_waker(&waker), s, buf, to)
            .into_ready()
            .unwrap_err()
    }
}

#[test]
fn unix_pairs_listeners_and_names_stay_on_their_host() {
    let w = world(14, 2, NetOptions::default());
    let (a, b) = w.net.socket_pair(&w.env, 0, SocketKind::Stream).unwrap();
    let (x, y) = w.net.socket_pair(&w.env, 0, SocketKind::Datagram).unwrap();
    let l = w
        .net
        .listen(
            &w.env,
            0,
            &SocketAddress::Unix(crate::net::UnixAddress::new("/run/s")),
            &ListenOptions::default(),
        )
        .unwrap();
    let path = SocketAddress::Unix(crate::net::UnixAddress::new("/run/s"));
    let mut checks = 0;
    w.run(
        vec![Box::pin(async {
            w.write_all(0, &a, b"pair").await.unwrap();
            let mut buf = [0u8; 4];
            let mut n = 0;
            while n < 4 {
                n += w.read(0, &b, &mut buf[n..]).await.unwrap();
            }
            assert_eq!(&buf, b"pair");
            w.write(0, &x, b"one").await.unwrap();
            w.write(0, &x, b"two").await.unwrap();
            assert_eq!(w.read(0, &y, &mut buf).await.unwrap(), 3);
            assert_eq!(&buf[..3], b"one");
            assert_eq!(w.read(0, &y, &mut buf).await.unwrap(), 3);
            assert_eq!(&buf[..3], b"two");
            let c = w.connect(0, &path).await.unwrap();
            let (s, from) = w.accept(0, &l).await.unwrap();
            assert!(from.as_unix().unwrap().is_unnamed());
            assert_eq!(w.net.address(&w.env, 0, &c, AddressKind::Peer).unwrap(), path);
            w.write_all(0, &s, b"hi").await.unwrap();
            assert_eq!(w.read(0, &c, &mut buf).await.unwrap(), 2);
            // Another host has no such name.
            assert_eq!(raw(&w.connect(1, &path).await.unwrap_err()), Some(libc::ENOENT));
            checks += 1;
        })],
        u64::MAX,
    );
    assert_eq!(checks, 1);
    // Taken name; freed on close.
    let e = w.net.listen(&w.env, 0, &path, &ListenOptions::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrInUse);
    drop(l);
    w.net.listen(&w.env, 0, &path, &ListenOptions::default()).unwrap();
    let unnamed = SocketAddress::Unix(crate::net::UnixAddress::unnamed());
    assert_eq!(w.net.connect(&w.env, 0, &unnamed).unwrap_err().kind(), ErrorKind::InvalidInput);
}

#[test]
fn ports_ephemeral_in_use_and_reused() {
    let o = NetOptions::default().ephemeral_ports(40000, 40009);
    let w = world(15, 1, o);
    let mut ports = Vec::new();
    for _ in 0..10 {
        let s = w.net.bind(&w.env, 0, &ip("0.0.0.0:0"), &BindOptions::default()).unwrap();
        let p = w.net.address(&w.env, 0, &s, AddressKind::Local).unwrap().as_ip().unwrap().port();
        assert!((40000..=40009).contains(&p));
        ports.push((p, s));
    }
    let mut seen: Vec<u16> = ports.iter().map(|p| p.0).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 10, "distinct ports");
    assert_eq!(
        w.net.bind(&w.env, 0, &ip("0.0.0.0:0"), &BindOptions::default()).unwrap_err().kind(),
        ErrorKind::AddrInUse
    );
    // A taken port, a wildcard and a specific address overlapping, and reuse.
    let _l80 = w.listen(0, "0.0.0.0:80");
    let e = w.net.listen(&w.env, 0, &ip("127.0.0.1:80"), &ListenOptions::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrInUse);
    let reuse = ListenOptions::default().reuse_address(true);
    let _r1 = w.net.listen(&w.env, 0, &ip("10.0.0.1:81"), &reuse).unwrap();
    let _r2 = w.net.listen(&w.env, 0, &ip("10.0.0.1:81"), &reuse).unwrap();
    // An address the host does not have.
    let e = w.net.listen(&w.env, 0, &ip("10.9.9.9:80"), &ListenOptions::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrNotAvailable);
    // Loopback over IPv6 and a wildcard listener reached through each address of the host.
    let mut ok = 0;
    w.run(
        vec![Box::pin(async {
            for a in ["127.0.0.1:80", "10.0.0.1:80", "0.0.0.0:80"] {
                w.connect(0, &ip(a)).await.unwrap();
                ok += 1;
            }
            let _l6 = w.listen(0, "[::1]:90");
            w.connect(0, &ip("[::1]:90")).await.unwrap();
            ok += 1;
        })],
        u64::MAX,
    );
    assert_eq!(ok, 4);
}

#[test]
fn lookup_resolves_host_names_and_localhost() {
    let w = world(16, 3, NetOptions::default());
    let mut r = Vec::new();
    w.run(
        vec![Box::pin(async {
            r.push(w.net.lookup(&w.env, 0, "h2", 443).await);
            r.push(w.net.lookup(&w.env, 0, "LOCALHOST", 80).await);
            r.push(w.net.lookup(&w.env, 0, "nowhere.example", 80).await);
        })],
        u64::MAX,
    );
    let found = r[0].as_ref().unwrap();
    assert_eq!(found.addresses, vec!["10.0.0.3:443".parse::<SocketAddr>().unwrap()]);
    assert_eq!(found.canonical_name.as_deref(), Some("h2"));
    assert!(r[1]
        .as_ref()
        .unwrap()
        .addresses
        .iter()
        .all(|a| a.ip().is_loopback() && a.port() == 80));
    assert_eq!(r[2].as_ref().unwrap_err().kind(), ErrorKind::NotFound);
    assert!(w.now() > 0, "a resolver takes some time");
    assert_eq!(w.net.interface_index(&w.env, 0, "lo").unwrap(), 1);
    assert_eq!(w.net.interface_name(&w.env, 0, 2).unwrap(), "eth0");
    assert_eq!(w.net.interface_name(&w.env, 0, 9).unwrap_err().kind(), ErrorKind::NotFound);
}

#[test]
fn the_descriptor_limit_fails_as_emfile_and_accept_keeps_the_connection() {
    let o = NetOptions::default().descriptor_limit(Some(2));
    let w = world(17, 2, o);
    let l = w.listen(0, "10.0.0.1:80");
    let extra = w.net.bind(&w.env, 0, &ip("10.0.0.1:0"), &BindOptions::default()).unwrap();
    let e = w.net.bind(&w.env, 0, &ip("10.0.0.1:0"), &BindOptions::default()).unwrap_err();
    assert_eq!(raw(&e), Some(libc::EMFILE));
    let mut r = None;
    w.run(
        vec![
            Box::pin(async { r = Some(w.accept(0, &l).await) }),
            Box::pin(async {
                w.connect(1, &ip("10.0.0.1:80")).await.unwrap();
            }),
        ],
        u64::MAX,
    );
    assert_eq!(raw(&r.take().unwrap().unwrap_err()), Some(libc::EMFILE));
    drop(extra);
    w.run(vec![Box::pin(async { r = Some(w.accept(0, &l).await) })], u64::MAX);
    assert!(r.unwrap().is_ok(), "the connection stayed queued");
}

#[test]
fn foreign_stale_and_empty() {
    let w = world(18, 2, NetOptions::default());
    let foreign = SocketHandle::new(Arc::new(5u32));
    let e = w.poll_read_once(0, &foreign, &mut [0u8; 4]).into_ready().unwrap_err();
    assert!(e.get_ref().unwrap().is::<ForeignHandle>());
    let s = w.net.bind(&w.env, 0, &ip("10.0.0.1:0"), &BindOptions::default()).unwrap();
    // Another host's socket is foreign to this one.
    assert!(w
        .net
        .address(&w.env, 1, &s, AddressKind::Local)
        .unwrap_err()
        .get_ref()
        .unwrap()
        .is::<ForeignHandle>());
    // Zero-length buffers complete at once.
    assert!(matches!(w.poll_read_once(0, &s, &mut []), Poll::Ready(Ok(0))));
    assert!(matches!(w.poll_write_once(0, &s, &[]), Poll::Ready(Ok(0))));
    let other = SimNet::new(NetOptions::default());
    other.add_host(0, "x");
    assert!(other.address(&w.env, 0, &s, AddressKind::Local).is_err());
}

#[test]
fn vectored_reads_and_writes_keep_the_order() {
    let w = world(19, 1, NetOptions::default());
    let (a, b) = w.net.socket_pair(&w.env, 0, SocketKind::Stream).unwrap();
    let mut got = [0u8; 9];
    w.run(
        vec![Box::pin(async {
            let bufs = [IoSlice::new(b"abc"), IoSlice::new(b""), IoSlice::new(b"defghi")];
            let n =
                poll_fn(|cx| w.net.poll_write_vectored(&w.env, 0, cx, &a, &bufs)).await.unwrap();
            assert_eq!(n, 9);
            let mut n = 0;
            while n < 9 {
                let (x, y) = got[n..].split_at_mut((9 - n).min(4));
                let mut bufs = [IoSliceMut::new(x), IoSliceMut::new(y)];
                n += poll_fn(|cx| w.net.poll_read_vectored(&w.env, 0, cx, &b, &mut bufs))
                    .await
                    .unwrap();
            }
        })],
        u64::MAX,
    );
    assert_eq!(&got, b"abcdefghi");
}

#[test]
fn an_injected_reset_fails_the_write_and_the_peer() {
    let o = NetOptions::default().link(LinkOptions::remote().reset(1.0));
    let w = world(20, 2, o);
    let l = w.listen(0, "10.0.0.1:80");
    let mut r = (None, None);
    w.run(
        vec![
            Box::pin(async {
                let (s, _) = w.accept(0, &l).await.unwrap();
                r.0 = Some(w.read(0, &s, &mut [0u8; 4]).await);
            }),
            Box::pin(async {
                let c = w.connect(1, &ip("10.0.0.1:80")).await.unwrap();
                r.1 = Some(w.write(1, &c, b"x").await);
            }),
        ],
        u64::MAX,
    );
    assert_eq!(r.0.unwrap().unwrap_err().kind(), ErrorKind::ConnectionReset);
    assert_eq!(r.1.unwrap().unwrap_err().kind(), ErrorKind::ConnectionReset);
}

/// A busy scenario: three clients stream to a server over a jittery link while UDP is lossy,
/// duplicated and reordered; what arrives, in which order, and the log.
fn scenario(seed: u64) -> (Vec<String>, Vec<u32>, u64) {
    let o = NetOptions::default().link(LinkOptions::remote().loss(0.2).duplicate(0.2).reorder(0.3));
    let w = world(seed, 4, o);
    let l = w.listen(0, "0.0.0.0:80");
    let u = w.net.bind(&w.env, 0, &ip("0.0.0.0:53"), &BindOptions::default()).unwrap();
    let order = Mutex::new(Vec::new());
    let mut tasks: Vec<Task<'_>> = Vec::new();
    tasks.push(Box::pin(async {
        for _ in 0..3 {
            let (s, _) = w.accept(0, &l).await.unwrap();
            let data = w.read_to_end(0, &s).await.unwrap();
            order.lock().unwrap().push(1000 + data[0] as u32);
        }
    }));
    tasks.push(Box::pin(async {
        let mut buf = [0u8; 4];
        loop {
            w.recv_from(0, &u, &mut buf).await.unwrap();
            order.lock().unwrap().push(u32::from_le_bytes(buf));
        }
    }));
    for h in 1..4u32 {
        let w = &w;
        tasks.push(Box::pin(async move {
            let c = w.connect(h, &ip("10.0.0.1:80")).await.unwrap();
            w.write_all(h, &c, &vec![h as u8; 5000]).await.unwrap();
            drop(c);
            let s = w.net.bind(&w.env, h, &ip("0.0.0.0:0"), &BindOptions::default()).unwrap();
            for i in 0..20u32 {
                w.send_to(h, &s, &(h * 100 + i).to_le_bytes(), &ip("10.0.0.1:53")).await.unwrap();
            }
        }));
    }
    w.run(tasks, u64::MAX);
    let order = order.into_inner().unwrap();
    (w.logs(), order, w.now())
}

#[test]
fn the_same_seed_gives_the_same_deliveries() {
    let a = scenario(42);
    let b = scenario(42);
    assert_eq!(a, b);
    assert!(a.1.iter().filter(|&&x| x >= 1000).count() == 3);
    let c = scenario(43);
    assert_ne!(a.1, c.1, "another seed, another order");
}

#[test]
fn options_are_kept_and_checked_against_the_socket() {
    let w = world(21, 1, NetOptions::default());
    let t = w.listen(0, "127.0.0.1:0");
    w.net.set_option(&w.env, 0, &t, SocketOption::NoDelay(true)).unwrap();
    assert_eq!(
        w.net.option(&w.env, 0, &t, SocketOptionKind::NoDelay).unwrap(),
        SocketOption::NoDelay(true)
    );
    assert_eq!(w.net.option(&w.env, 0, &t, SocketOptionKind::Ttl).unwrap(), SocketOption::Ttl(64));
    let u = w.net.bind(&w.env, 0, &ip("127.0.0.1:0"), &BindOptions::default()).unwrap();
    let e = w.net.set_option(&w.env, 0, &u, SocketOption::NoDelay(true)).unwrap_err();
    assert_eq!(raw(&e), Some(libc::ENOPROTOOPT));
    let (a, _b) = w.net.socket_pair(&w.env, 0, SocketKind::Stream).unwrap();
    let e = w.net.option(&w.env, 0, &a, SocketOptionKind::Ttl).unwrap_err();
    assert_eq!(raw(&e), Some(libc::EOPNOTSUPP));
}

#[test]
fn a_reset_held_by_a_partition_arrives_after_the_heal() {
    let w = world(22, 2, NetOptions::default());
    let l = w.listen(0, "10.0.0.1:8");
    let mut pair = (None, None);
    w.run(
        vec![
            Box::pin(async { pair.0 = Some(w.accept(0, &l).await.unwrap().0) }),
            Box::pin(async { pair.1 = Some(w.connect(1, &ip("10.0.0.1:8")).await.unwrap()) }),
        ],
        u64::MAX,
    );
    let c = pair.1.unwrap();
    w.net.partition(&w.env, 0, 1);
    w.net.crash_host(&w.env, 0);
    let mut buf = [0u8; 4];
    *w.t.now.lock().unwrap() += SEC;
    assert!(w.poll_read_once(1, &c, &mut buf).is_pending(), "the RST is held");
    w.net.heal(&w.env);
    let mut r = None;
    w.run(vec![Box::pin(async { r = Some(w.read(1, &c, &mut buf).await) })], u64::MAX);
    assert_eq!(r.unwrap().unwrap_err().kind(), ErrorKind::ConnectionReset);
}

#[test]
fn ipv6_beyond_loopback_is_unreachable() {
    let w = world(23, 1, NetOptions::default());
    let e = w.net.connect(&w.env, 0, &ip("[2001:db8::1]:80")).unwrap_err();
    assert_eq!(raw(&e), Some(libc::ENETUNREACH));
    // An address no host has is a black hole: the connect times out.
    let o = NetOptions::default().connect_timeout(Duration::from_secs(3));
    let w = world(24, 1, o);
    let mut r = None;
    w.run(vec![Box::pin(async { r = Some(w.connect(0, &ip("10.1.2.3:80")).await) })], u64::MAX);
    assert_eq!(r.unwrap().unwrap_err().kind(), ErrorKind::TimedOut);
    assert_eq!(w.now(), 3 * SEC);
}

#[test]
fn a_crashed_host_is_unreachable_until_it_is_back() {
    let o = NetOptions::default().connect_timeout(Duration::from_secs(3));
    let w = world(25, 2, o);
    let l = w.listen(0, "10.0.0.1:8");
    w.net.crash_host(&w.env, 0);
    drop(l);
    let mut r = None;
    w.run(vec![Box::pin(async { r = Some(w.connect(1, &ip("10.0.0.1:8")).await) })], u64::MAX);
    assert_eq!(r.take().unwrap().unwrap_err().kind(), ErrorKind::TimedOut);
    // Back, listening again: reachable.
    let _l = w.listen(0, "10.0.0.1:8");
    w.run(vec![Box::pin(async { r = Some(w.connect(1, &ip("10.0.0.1:8")).await) })], u64::MAX);
    assert!(r.take().unwrap().is_ok());
    // Back through the hook, nothing listening: refused.
    w.net.crash_host(&w.env, 0);
    w.net.restart_host(0);
    w.run(vec![Box::pin(async { r = Some(w.connect(1, &ip("10.0.0.1:8")).await) })], u64::MAX);
    assert_eq!(r.take().unwrap().unwrap_err().kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn per_link_latencies_by_name_and_at_run_time() {
    let slow = LinkOptions::remote().latency(Latency::Fixed(Duration::from_millis(10)));
    let o = NetOptions::default().link_between("h1", "h0", slow);
    let w = world(26, 3, o);
    let _l = w.listen(0, "10.0.0.1:8");
    let mut r = None;
    w.run(vec![Box::pin(async { r = Some(w.connect(1, &ip("10.0.0.1:8")).await) })], u64::MAX);
    assert!(r.take().unwrap().is_ok());
    assert_eq!(w.now(), 20_000_000, "a round trip on the 10 ms link");
    // h2 keeps the default, until it is changed.
    let t = w.now();
    w.run(vec![Box::pin(async { r = Some(w.connect(2, &ip("10.0.0.1:8")).await) })], u64::MAX);
    assert!(r.take().unwrap().is_ok());
    assert!(w.now() - t <= 1_000_000);
    let slower = LinkOptions::remote().latency(Latency::Fixed(Duration::from_millis(30)));
    w.net.set_link(&w.env, 2, 0, slower);
    let t = w.now();
    w.run(vec![Box::pin(async { r = Some(w.connect(2, &ip("10.0.0.1:8")).await) })], u64::MAX);
    assert!(r.take().unwrap().is_ok());
    assert_eq!(w.now() - t, 60_000_000);
}

#[test]
fn connecting_to_the_unspecified_address_reaches_the_loopback() {
    let w = world(27, 1, NetOptions::default());
    let _l = w.listen(0, "127.0.0.1:8");
    let mut peer = None;
    w.run(
        vec![Box::pin(async {
            let c = w.connect(0, &ip("0.0.0.0:8")).await.unwrap();
            peer = Some(w.net.address(&w.env, 0, &c, AddressKind::Peer).unwrap());
        })],
        u64::MAX,
    );
    assert_eq!(peer, Some(ip("127.0.0.1:8")));
}

/// Sleeps `ns` of virtual time.
async fn sleep(w: &W, ns: u64) {
    let at = w.now() + ns;
    poll_fn(|cx| {
        if w.now() >= at {
            return Poll::Ready(());
        }
        w.env.wake_at(at, cx.waker().clone());
        Poll::Pending
    })
    .await
}

#[test]
fn streams_stay_whole_and_in_order_through_random_partitions_and_clogs() {
    for seed in 0..30u64 {
        let o = NetOptions::default()
            .send_buffer(4096)
            .receive_buffer(4096)
            .segment_size(100 + seed as usize * 37);
        let w = world(seed, 2, o);
        let l = w.listen(0, "10.0.0.1:8");
        let data: Vec<u8> = (0..60_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut got = Vec::new();
        let tasks: Vec<Task<'_>> = vec![
            Box::pin(async {
                let (s, _) = w.accept(0, &l).await.unwrap();
                got = w.read_to_end(0, &s).await.unwrap();
            }),
            Box::pin(async {
                let c = w.connect(1, &ip("10.0.0.1:8")).await.unwrap();
                let mut rest = &data[..];
                while !rest.is_empty() {
                    let k = rest.len().min(1 + (w.env.random_u64() % 3000) as usize);
                    w.write_all(1, &c, &rest[..k]).await.unwrap();
                    rest = &rest[k..];
                }
                w.net.shutdown(&w.env, 1, &c, Shutdown::Write).unwrap();
            }),
            Box::pin(async {
                // The chaos: cut, clog, heal, unclog at random moments.
                for _ in 0..40 {
                    sleep(&w, w.env.random_u64() % (2 * MS)).await;
                    match w.env.random_u64() % 6 {
                        0 => w.net.partition(&w.env, 0, 1),
                        1 => w.net.partition_one_way(&w.env, 1, 0),
                        2 => w.net.clog(&w.env, (w.env.random_u64() % 2) as u32),
                        3 => w.net.unclog(&w.env, (w.env.random_u64() % 2) as u32),
                        _ => w.net.heal(&w.env),
                    }
                }
                w.net.heal(&w.env);
                w.net.unclog(&w.env, 0);
                w.net.unclog(&w.env, 1);
            }),
        ];
        assert_eq!(w.run(tasks, u64::MAX), 3, "seed {seed}");
        assert!(
            got == data,
            "seed {seed}: {} of {} bytes, first difference at {:?}",
            got.len(),
            data.len(),
            got.iter().zip(&data).position(|(a, b)| a != b)
        );
    }
}
