//! Unix-domain sockets and UDP: Zig's "unix socket carries Hello world!", socket pairs,
//! datagram boundaries, connected datagram sockets, peeking, and interface names.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::io::{AsyncReadExt, AsyncWriteExt};
use kqio::net::{UdpSocket, UnixDatagram, UnixListener, UnixStream};
use kqio::{InitOptions, Kqueue};

fn rt(n: usize) -> Kqueue {
    Kqueue::init(InitOptions { n_threads: Some(n), ..Default::default() }).expect("init")
}

/// A fresh socket path in the temporary directory, removed when dropped.
struct TempPath(PathBuf);

impl TempPath {
    fn new(tag: &str) -> TempPath {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("kqio-{tag}-{}-{n}.sock", std::process::id()));
        let _ = std::fs::remove_file(&p);
        TempPath(p)
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Zig: a Unix socket carries "Hello world!" (12 bytes).
#[test]
fn unix_socket_carries_hello_world() {
    let rt = rt(2);
    let io = rt.io();
    let path = TempPath::new("hello");
    rt.block_on(async {
        let listener = UnixListener::bind(&io, &path.0).unwrap();
        assert_eq!(listener.local_addr().unwrap().as_pathname(), Some(path.0.as_path()));
        let client = io.r#async({
            let io = io.clone();
            let p = path.0.clone();
            async move {
                let s = UnixStream::connect(&io, &p).await.unwrap();
                s.write_all(b"Hello world!").await.unwrap();
            }
        });
        let (s, peer) = listener.accept().await.unwrap();
        assert!(peer.is_unnamed());
        let mut got = Vec::new();
        (&s).read_to_end(&mut got).await.unwrap();
        assert_eq!(got.len(), 12);
        assert_eq!(got, b"Hello world!");
        client.await;
    });
}

#[test]
fn unix_connect_to_a_missing_path_is_not_found() {
    let rt = rt(1);
    let io = rt.io();
    let path = TempPath::new("missing");
    let err = rt.block_on(UnixStream::connect(&io, &path.0)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
}

#[test]
fn unix_stream_pair_is_connected_both_ways_and_implements_futures_io() {
    let rt = rt(2);
    let io = rt.io();
    rt.block_on(async {
        let (mut a, b) = UnixStream::pair(&io).unwrap();
        a.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        b.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        b.write_all(b"pong").await.unwrap();
        a.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
        // peek leaves the bytes for the next read.
        a.write_all(b"xy").await.unwrap();
        let mut p = [0u8; 2];
        assert_eq!(b.peek(&mut p).await.unwrap(), 2);
        assert_eq!(b.read(&mut buf).await.unwrap(), 2);
        assert_eq!(&buf[..2], b"xy");
        a.close().await.unwrap();
        assert_eq!(b.read(&mut buf).await.unwrap(), 0);
    });
}

#[test]
fn unix_datagrams_keep_their_boundaries() {
    let rt = rt(2);
    let io = rt.io();
    let (pa, pb) = (TempPath::new("dga"), TempPath::new("dgb"));
    rt.block_on(async {
        let a = UnixDatagram::bind(&io, &pa.0).unwrap();
        let b = UnixDatagram::bind(&io, &pb.0).unwrap();
        for msg in [&b"one"[..], b"", b"three!"] {
            assert_eq!(a.send_to(msg, &pb.0).await.unwrap(), msg.len());
        }
        let mut buf = [0u8; 64];
        for msg in [&b"one"[..], b"", b"three!"] {
            let (n, from) = b.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], msg);
            assert_eq!(from.as_pathname(), Some(pa.0.as_path()));
        }
        let (x, y) = UnixDatagram::pair(&io).unwrap();
        x.send(b"paired").await.unwrap();
        assert_eq!(y.recv(&mut buf).await.unwrap(), 6);
        let u = UnixDatagram::unbound(&io).unwrap();
        u.connect(&pb.0).unwrap();
        u.send(b"via connect").await.unwrap();
        let (n, from) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"via connect");
        assert!(from.is_unnamed());
    });
}

#[test]
fn udp_datagrams_keep_their_boundaries_and_truncate_excess() {
    let rt = rt(2);
    let io = rt.io();
    rt.block_on(async {
        let a = UdpSocket::bind(&io, "127.0.0.1:0".parse().unwrap()).unwrap();
        let b = UdpSocket::bind(&io, "127.0.0.1:0".parse().unwrap()).unwrap();
        let to = b.local_addr().unwrap();
        let sizes = [1usize, 0, 100, 1400, 9000, 3];
        for (i, &n) in sizes.iter().enumerate() {
            let msg = vec![i as u8; n];
            assert_eq!(a.send_to(&msg, to).await.unwrap(), n);
        }
        let mut buf = vec![0u8; 65536];
        for (i, &n) in sizes.iter().enumerate() {
            let (peeked, _) = b.peek_from(&mut buf).await.unwrap();
            assert_eq!(peeked, n);
            let (got, from) = b.recv_from(&mut buf).await.unwrap();
            assert_eq!(got, n, "datagram {i}");
            assert!(buf[..got].iter().all(|&x| x == i as u8));
            assert_eq!(from, a.local_addr().unwrap());
        }
        // A datagram longer than the buffer: the excess is dropped, the next one is whole.
        a.send_to(&[9u8; 100], to).await.unwrap();
        a.send_to(b"next", to).await.unwrap();
        let mut small = [0u8; 10];
        let (n, _) = b.recv_from(&mut small).await.unwrap();
        assert_eq!(n, 10);
        let (n, _) = b.recv_from(&mut small).await.unwrap();
        assert_eq!(&small[..n], b"next");
        // Connected sockets.
        a.connect(to).unwrap();
        b.connect(a.local_addr().unwrap()).unwrap();
        assert_eq!(a.peer_addr().unwrap(), to);
        a.send(b"hi").await.unwrap();
        assert_eq!(b.recv(&mut buf).await.unwrap(), 2);
        b.set_broadcast(true).unwrap();
        assert!(b.broadcast().unwrap());
    });
}

/// Many datagrams from several tasks to one receiver: none lost on loopback, none merged.
#[test]
fn udp_many_senders_one_receiver() {
    let rt = rt(2);
    let io = rt.io();
    rt.block_on(async {
        let rx = UdpSocket::bind(&io, "127.0.0.1:0".parse().unwrap()).unwrap();
        rx.set_option(kqio::net::SocketOption::ReceiveBufferSize(1 << 20)).unwrap();
        let to = rx.local_addr().unwrap();
        let mut senders = Vec::new();
        for t in 0u8..4 {
            let io2 = io.clone();
            senders.push(io.r#async(async move {
                let s = UdpSocket::bind(&io2, "127.0.0.1:0".parse().unwrap()).unwrap();
                for i in 0u16..200 {
                    let mut msg = [t, 0, 0];
                    msg[1..].copy_from_slice(&i.to_le_bytes());
                    s.send_to(&msg, to).await.unwrap();
                }
            }));
        }
        let mut next = [0u16; 4];
        let mut buf = [0u8; 16];
        for _ in 0..800 {
            let (n, _) = rx.recv_from(&mut buf).await.unwrap();
            assert_eq!(n, 3);
            let t = buf[0] as usize;
            let i = u16::from_le_bytes([buf[1], buf[2]]);
            assert_eq!(i, next[t], "in order per sender");
            next[t] += 1;
        }
        for s in senders {
            s.await;
        }
    });
}

#[test]
fn interface_name_and_index_round_trip() {
    let rt = rt(1);
    let io = rt.io();
    let name = kqio::net::interface_name(&*io, 1).expect("interface 1 (loopback)");
    assert_eq!(kqio::net::interface_index(&*io, &name).unwrap(), 1);
    let err = kqio::net::interface_index(&*io, "kqio-no-such-if0").unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    let err = kqio::net::interface_index(&*io, "bad\0name").unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}
