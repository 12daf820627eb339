//! Datagrams (UDP loss, duplication, reordering; boundaries; Unix), addresses and ports,
//! lookup, the descriptor limit, handles, options, and replay.

use super::*;

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
    // A zero-length receive on a stream completes at once too.
    let (a, _b) = w.net.socket_pair(&w.env, 0, SocketKind::Stream).unwrap();
    let waker = Waker::from(Arc::new(Flag(AtomicBool::new(false))));
    let r =
        w.net.poll_receive_from(&w.env, 0, &mut Context::from_waker(&waker), &a, &mut [], false);
    assert!(matches!(r, Poll::Ready(Ok((0, _)))), "{r:?}");
    let other = SimNet::new(NetOptions::default());
    other.add_host(0, "x");
    assert!(other.address(&w.env, 0, &s, AddressKind::Local).is_err());
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
