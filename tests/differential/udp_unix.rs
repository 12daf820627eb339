//! UDP over loopback (datagram boundaries, truncation, peeking, connected sockets, many senders,
//! options, canceled receives) and Unix sockets (stream pairs, a listener at a path, datagrams,
//! a missing path).

use std::io::ErrorKind;
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;

use futures::channel::oneshot;
use futures::io::{AsyncReadExt, AsyncWriteExt};
use kqio::net::{SocketOption, UdpSocket, UnixDatagram, UnixListener, UnixStream};
use kqio::Canceled;

use crate::harness::Ctx;

differential!(udp_unix:
    udp_datagrams_keep_their_boundaries,
    udp_a_long_datagram_is_truncated_and_the_next_is_whole,
    udp_peek_leaves_the_datagram,
    udp_connected_sockets,
    udp_many_senders_one_receiver,
    udp_cancel_of_a_pending_receive,
    udp_options_round_trip,
    unix_stream_pair_both_ways,
    unix_listener_at_a_path,
    unix_connect_to_a_missing_path_is_not_found,
    unix_stream_half_close,
    unix_datagrams_keep_their_boundaries,
    unix_datagram_pair_and_connected_unbound_socket,
);

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn udp_datagrams_keep_their_boundaries(t: Ctx) {
    let io = t.io;
    let a = UdpSocket::bind(&io, loopback()).unwrap();
    let b = UdpSocket::bind(&io, loopback()).unwrap();
    let to = b.local_addr().unwrap();
    assert!(to.port() != 0 && to.ip().is_loopback());
    let sizes = [1usize, 0, 100, 1400, 9000, 3];
    for (i, &n) in sizes.iter().enumerate() {
        assert_eq!(a.send_to(&vec![i as u8; n], to).await.unwrap(), n);
    }
    let mut buf = vec![0u8; 65536];
    for (i, &n) in sizes.iter().enumerate() {
        let (got, from) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!(got, n, "datagram {i}");
        assert!(buf[..got].iter().all(|&x| x == i as u8));
        assert_eq!(from, a.local_addr().unwrap());
    }
}

async fn udp_a_long_datagram_is_truncated_and_the_next_is_whole(t: Ctx) {
    let io = t.io;
    let a = UdpSocket::bind(&io, loopback()).unwrap();
    let b = UdpSocket::bind(&io, loopback()).unwrap();
    let to = b.local_addr().unwrap();
    a.send_to(&[9u8; 100], to).await.unwrap();
    a.send_to(b"next", to).await.unwrap();
    let mut small = [0u8; 10];
    let (n, _) = b.recv_from(&mut small).await.unwrap();
    assert_eq!(n, 10);
    assert_eq!(small, [9u8; 10]);
    let (n, _) = b.recv_from(&mut small).await.unwrap();
    assert_eq!(&small[..n], b"next");
}

async fn udp_peek_leaves_the_datagram(t: Ctx) {
    let io = t.io;
    let a = UdpSocket::bind(&io, loopback()).unwrap();
    let b = UdpSocket::bind(&io, loopback()).unwrap();
    a.send_to(b"peekaboo", b.local_addr().unwrap()).await.unwrap();
    let mut buf = [0u8; 32];
    let (n, from) = b.peek_from(&mut buf).await.unwrap();
    assert_eq!((&buf[..n], from), (&b"peekaboo"[..], a.local_addr().unwrap()));
    let (n, _) = b.peek_from(&mut buf).await.unwrap();
    assert_eq!(n, 8);
    let (n, _) = b.recv_from(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"peekaboo");
}

async fn udp_connected_sockets(t: Ctx) {
    let io = t.io;
    let a = UdpSocket::bind(&io, loopback()).unwrap();
    let b = UdpSocket::bind(&io, loopback()).unwrap();
    let (aa, ba) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    a.connect(ba).unwrap();
    b.connect(aa).unwrap();
    assert_eq!(a.peer_addr().unwrap(), ba);
    assert_eq!(b.peer_addr().unwrap(), aa);
    a.send(b"hi").await.unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(b.recv(&mut buf).await.unwrap(), 2);
    assert_eq!(&buf[..2], b"hi");
    b.send(b"there").await.unwrap();
    assert_eq!(a.recv(&mut buf).await.unwrap(), 5);
    // An unconnected socket has no peer.
    let c = UdpSocket::bind(&io, loopback()).unwrap();
    assert!(c.peer_addr().is_err());
}

async fn udp_many_senders_one_receiver(t: Ctx) {
    let io = t.io;
    let rx = UdpSocket::bind(&io, loopback()).unwrap();
    rx.set_option(SocketOption::ReceiveBufferSize(1 << 20)).unwrap();
    let to = rx.local_addr().unwrap();
    let senders: Vec<_> = (0u8..4)
        .map(|s| {
            let io2 = io.clone();
            io.r#async(async move {
                let sock = UdpSocket::bind(&io2, loopback()).unwrap();
                for i in 0u16..100 {
                    let mut msg = [s, 0, 0];
                    msg[1..].copy_from_slice(&i.to_le_bytes());
                    sock.send_to(&msg, to).await.unwrap();
                }
            })
        })
        .collect();
    let mut next = [0u16; 4];
    let mut buf = [0u8; 16];
    for _ in 0..400 {
        let (n, _) = rx.recv_from(&mut buf).await.unwrap();
        assert_eq!(n, 3);
        let s = buf[0] as usize;
        let i = u16::from_le_bytes([buf[1], buf[2]]);
        assert_eq!(i, next[s], "in order per sender");
        next[s] += 1;
    }
    for s in senders {
        s.await;
    }
}

async fn udp_cancel_of_a_pending_receive(t: Ctx) {
    let io = t.io;
    let a = UdpSocket::bind(&io, loopback()).unwrap();
    let b = Arc::new(UdpSocket::bind(&io, loopback()).unwrap());
    let b2 = b.clone();
    let (tx, rx) = oneshot::channel();
    let receiver = io.r#async(async move {
        tx.send(()).unwrap();
        let mut buf = [0u8; 8];
        b2.recv_from(&mut buf).await.map(|(n, _)| n)
    });
    rx.await.unwrap();
    let err = receiver.cancel().await.unwrap_err();
    assert!(Canceled::is_canceled(&err), "{err}");
    a.send_to(b"later", b.local_addr().unwrap()).await.unwrap();
    let mut buf = [0u8; 8];
    let (n, _) = b.recv_from(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"later");
}

async fn udp_options_round_trip(t: Ctx) {
    let io = t.io;
    let s = UdpSocket::bind(&io, loopback()).unwrap();
    s.set_broadcast(true).unwrap();
    assert!(s.broadcast().unwrap());
    s.set_broadcast(false).unwrap();
    assert!(!s.broadcast().unwrap());
    s.set_ttl(17).unwrap();
    assert_eq!(s.option(kqio::net::SocketOptionKind::Ttl).unwrap(), SocketOption::Ttl(17));
}

async fn unix_stream_pair_both_ways(t: Ctx) {
    let io = t.io;
    let (mut a, b) = UnixStream::pair(&io).unwrap();
    a.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    b.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");
    b.write_all(b"pong").await.unwrap();
    a.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"pong");
    a.write_all(b"xy").await.unwrap();
    let mut p = [0u8; 2];
    assert_eq!(b.peek(&mut p).await.unwrap(), 2);
    assert_eq!(b.read(&mut buf).await.unwrap(), 2);
    assert_eq!(&buf[..2], b"xy");
    a.close().await.unwrap();
    assert_eq!(b.read(&mut buf).await.unwrap(), 0);
}

async fn unix_listener_at_a_path(t: Ctx) {
    let io = t.io.clone();
    let path = t.unix_path("hello.sock");
    let listener = UnixListener::bind(&io, &path).unwrap();
    assert_eq!(listener.local_addr().unwrap().as_pathname(), Some(path.as_path()));
    let (io2, p) = (io.clone(), path.clone());
    let client = io.r#async(async move {
        let s = UnixStream::connect(&io2, &p).await.unwrap();
        assert_eq!(s.peer_addr().unwrap().as_pathname(), Some(p.as_path()));
        s.write_all(b"Hello world!").await.unwrap();
    });
    let (s, peer) = listener.accept().await.unwrap();
    assert!(peer.is_unnamed());
    let mut got = Vec::new();
    (&s).read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"Hello world!");
    client.await;
    // The name is taken while the listener lives.
    let err = UnixListener::bind(&io, &path).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
}

async fn unix_connect_to_a_missing_path_is_not_found(t: Ctx) {
    let io = t.io.clone();
    let err = UnixStream::connect(&io, t.unix_path("missing.sock")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

async fn unix_stream_half_close(t: Ctx) {
    let io = t.io;
    let (a, b) = UnixStream::pair(&io).unwrap();
    a.write_all(b"done").await.unwrap();
    a.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    (&b).read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"done");
    b.write_all(b"ack").await.unwrap();
    drop(b);
    let mut got = Vec::new();
    (&a).read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"ack");
}

async fn unix_datagrams_keep_their_boundaries(t: Ctx) {
    let io = t.io.clone();
    let (pa, pb) = (t.unix_path("dga.sock"), t.unix_path("dgb.sock"));
    let a = UnixDatagram::bind(&io, &pa).unwrap();
    let b = UnixDatagram::bind(&io, &pb).unwrap();
    assert_eq!(b.local_addr().unwrap().as_pathname(), Some(pb.as_path()));
    for msg in [&b"one"[..], b"", b"three!"] {
        assert_eq!(a.send_to(msg, &pb).await.unwrap(), msg.len());
    }
    let mut buf = [0u8; 64];
    for msg in [&b"one"[..], b"", b"three!"] {
        let (n, from) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], msg);
        assert_eq!(from.as_pathname(), Some(pa.as_path()));
    }
    let err = a.send_to(b"x", t.unix_path("nobody.sock")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

async fn unix_datagram_pair_and_connected_unbound_socket(t: Ctx) {
    let io = t.io.clone();
    let (x, y) = UnixDatagram::pair(&io).unwrap();
    x.send(b"paired").await.unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(y.recv(&mut buf).await.unwrap(), 6);
    assert_eq!(&buf[..6], b"paired");
    let pb = t.unix_path("dgc.sock");
    let b = UnixDatagram::bind(&io, &pb).unwrap();
    let u = UnixDatagram::unbound(&io).unwrap();
    u.connect(&pb).unwrap();
    u.send(b"via connect").await.unwrap();
    let (n, from) = b.recv_from(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"via connect");
    assert!(from.is_unnamed());
}
