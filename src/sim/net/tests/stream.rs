//! Streams: TCP and Unix streams, handshakes, windows, half-close, resets, and the faults
//! (partitions, clogs, crashes, injected resets) that act on them.

use super::*;

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

/// The virtual time a 50 kB transfer from h1 to h0 takes on `link`, checking every byte.
fn transfer_time(seed: u64, link: LinkOptions) -> u64 {
    let w = world(seed, 2, NetOptions::default().link(link));
    let l = w.listen(0, "10.0.0.1:8");
    let data: Vec<u8> = (0..50_000u32).map(|i| (i % 253) as u8).collect();
    let mut got = Vec::new();
    let mut start = 0;
    let tasks: Vec<Task<'_>> = vec![
        Box::pin(async {
            let (s, _) = w.accept(0, &l).await.unwrap();
            got = w.read_to_end(0, &s).await.unwrap();
        }),
        Box::pin(async {
            let c = w.connect(1, &ip("10.0.0.1:8")).await.unwrap();
            start = w.now();
            w.write_all(1, &c, &data).await.unwrap();
            w.net.shutdown(&w.env, 1, &c, Shutdown::Write).unwrap();
        }),
    ];
    assert_eq!(w.run(tasks, u64::MAX), 2);
    assert!(got == data, "seed {seed}: the stream is whole and in order");
    w.now() - start
}

#[test]
fn tcp_loss_costs_retransmissions_not_bytes() {
    for seed in 0..5 {
        let clean = transfer_time(seed, LinkOptions::remote());
        let lossy = transfer_time(seed, LinkOptions::remote().loss(0.2));
        assert!(clean < 200 * MS, "seed {seed}: {clean}");
        assert!(lossy >= clean + 200 * MS, "seed {seed}: {lossy} vs {clean}");
    }
    // Every SYN lost: the connect times out.
    let o = NetOptions::default()
        .link(LinkOptions::remote().loss(1.0))
        .connect_timeout(Duration::from_secs(5));
    let w = world(7, 2, o);
    let _l = w.listen(0, "10.0.0.1:8");
    let mut r = None;
    w.run(vec![Box::pin(async { r = Some(w.connect(1, &ip("10.0.0.1:8")).await) })], u64::MAX);
    assert_eq!(r.unwrap().unwrap_err().kind(), ErrorKind::TimedOut);
}

#[test]
fn a_writer_blocked_on_a_full_window_sees_the_reset_released_by_a_heal() {
    let o = NetOptions::default().send_buffer(4096).receive_buffer(4096);
    let w = world(28, 2, o);
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
    let mut r = None;
    let tasks: Vec<Task<'_>> = vec![
        Box::pin(async {
            // Fills the window (the data is held), then waits on it.
            r = Some(w.write_all(1, &c, &[0u8; 20_000]).await);
        }),
        Box::pin(async {
            sleep(&w, SEC).await;
            w.net.crash_host(&w.env, 0);
            sleep(&w, SEC).await;
            w.net.heal(&w.env);
        }),
    ];
    assert_eq!(w.run(tasks, u64::MAX), 2);
    assert_eq!(r.unwrap().unwrap_err().kind(), ErrorKind::ConnectionReset);
}

#[test]
fn writes_to_a_closed_peer_fill_the_send_buffer_until_its_reset() {
    let o = NetOptions::default().send_buffer(4096).receive_buffer(4096);
    let w = world(29, 2, o);
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
    drop(pair.0.take());
    // Closed gracefully (nothing unread): the writer may go on until the peer's RST answers.
    let mut written = 0;
    while let Poll::Ready(Ok(n)) = w.poll_write_once(1, &c, &[1u8; 1000]) {
        written += n;
        assert!(written <= 4096, "bounded by the send buffer");
    }
    assert_eq!(written, 4096);
    let mut r = None;
    w.run(vec![Box::pin(async { r = Some(w.write(1, &c, b"x").await) })], u64::MAX);
    assert_eq!(r.unwrap().unwrap_err().kind(), ErrorKind::ConnectionReset);
}
