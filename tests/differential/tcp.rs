//! TCP over loopback: echo and addresses, half-close as end of stream, refused connects, many
//! connections, a large transfer under backpressure, vectored I/O, peeking, options, listeners
//! sharing a port, canceled accepts and reads (nothing consumed), split halves, resets.

use std::io::{ErrorKind, IoSlice, IoSliceMut};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::channel::oneshot;
use futures::io::{AsyncReadExt, AsyncWriteExt};
use kqio::net::{ListenOptions, SocketOption, SocketOptionKind, TcpListener, TcpStream};
use kqio::time::{Duration, Timeout};
use kqio::{Canceled, IoRef};

use crate::harness::Ctx;
use crate::util::{checksum, pattern};

differential!(tcp:
    tcp_echo_and_addresses,
    tcp_half_close_is_end_of_stream_and_the_other_half_works,
    tcp_peer_close_is_end_of_stream,
    tcp_connect_with_no_listener_is_refused,
    tcp_many_connections_echo,
    tcp_large_transfer_with_backpressure,
    tcp_vectored_writes_and_reads,
    tcp_peek_leaves_the_bytes,
    tcp_options_round_trip,
    tcp_reuse_address_shares_a_port,
    tcp_cancel_of_a_pending_accept_takes_nothing,
    tcp_cancel_of_a_pending_read_consumes_nothing,
    tcp_split_halves_in_two_tasks,
    tcp_connections_wait_in_the_backlog,
    tcp_futures_io_traits,
    tcp_zero_length_transfers_complete_at_once,
    tcp_writes_to_a_reset_connection_fail,
    tcp_connect_timeout_connects,
    tcp_ipv6_loopback,
);

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A connected pair: (client, server side).
async fn pair(io: &IoRef) -> (TcpStream, TcpStream) {
    let l = TcpListener::bind(io, any_port()).await.unwrap();
    let c = TcpStream::connect(io, l.local_addr().unwrap()).await.unwrap();
    let (s, _) = l.accept().await.unwrap();
    (c, s)
}

async fn tcp_echo_and_addresses(t: Ctx) {
    let io = t.io;
    let listener = TcpListener::bind(&io, any_port()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    assert!(addr.ip().is_loopback() && addr.port() != 0);
    let (tx, rx) = oneshot::channel();
    let server = io.r#async(async move {
        let (s, peer) = listener.accept().await.unwrap();
        assert_eq!(s.peer_addr().unwrap(), peer);
        assert_eq!(s.local_addr().unwrap(), addr);
        tx.send(peer).unwrap();
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).await.unwrap();
        s.write_all(&buf).await.unwrap();
    });
    let c = TcpStream::connect(&io, addr).await.unwrap();
    assert_eq!(c.peer_addr().unwrap(), addr);
    c.write_all(b"hello").await.unwrap();
    let mut buf = [0u8; 5];
    c.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"hello");
    assert_eq!(rx.await.unwrap(), c.local_addr().unwrap(), "the server saw our address");
    server.await;
}

async fn tcp_half_close_is_end_of_stream_and_the_other_half_works(t: Ctx) {
    let io = t.io;
    let (c, s) = pair(&io).await;
    c.write_all(b"last words").await.unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    (&s).read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"last words");
    let mut buf = [0u8; 8];
    assert_eq!(s.read(&mut buf).await.unwrap(), 0, "end of stream stays end of stream");
    s.write_all(b"reply").await.unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    (&c).read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"reply");
}

async fn tcp_peer_close_is_end_of_stream(t: Ctx) {
    let io = t.io;
    let (c, s) = pair(&io).await;
    s.write_all(b"bye").await.unwrap();
    drop(s);
    let mut got = Vec::new();
    (&c).read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"bye");
    let mut buf = [0u8; 4];
    assert_eq!(c.read(&mut buf).await.unwrap(), 0);
}

async fn tcp_connect_with_no_listener_is_refused(t: Ctx) {
    let io = t.io;
    let l = TcpListener::bind(&io, any_port()).await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let err = TcpStream::connect(&io, addr).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
}

async fn tcp_many_connections_echo(t: Ctx) {
    let io = t.io;
    const N: usize = 40;
    const LEN: usize = 32 * 1024;
    let listener = TcpListener::bind(&io, any_port()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let io2 = io.clone();
    let server = io.r#async(async move {
        let mut echoes = Vec::new();
        for _ in 0..N {
            let (s, _) = listener.accept().await.unwrap();
            echoes.push(io2.r#async(async move {
                let mut buf = vec![0u8; 4096];
                loop {
                    let n = s.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    s.write_all(&buf[..n]).await.unwrap();
                }
            }));
        }
        for e in echoes {
            e.await;
        }
    });
    let clients: Vec<_> = (0..N)
        .map(|i| {
            let io2 = io.clone();
            io.r#async(async move {
                let c = TcpStream::connect(&io2, addr).await.unwrap();
                let data = pattern(i as u64, LEN);
                let (r, w) = c.into_split();
                let writer = io2.r#async(async move {
                    let mut w = w;
                    w.write_all(&data).await.unwrap();
                    AsyncWriteExt::close(&mut w).await.unwrap(); // shuts the write side down
                    checksum(&data)
                });
                let mut back = Vec::new();
                let mut r = r;
                r.read_to_end(&mut back).await.unwrap();
                assert_eq!(back.len(), LEN);
                assert_eq!(checksum(&back), writer.await);
            })
        })
        .collect();
    for c in clients {
        c.await;
    }
    server.await;
}

async fn tcp_large_transfer_with_backpressure(t: Ctx) {
    let io = t.io;
    const LEN: usize = 4 * 1024 * 1024;
    let (c, s) = pair(&io).await;
    c.set_option(SocketOption::SendBufferSize(64 * 1024)).unwrap();
    s.set_option(SocketOption::ReceiveBufferSize(64 * 1024)).unwrap();
    let sent = Arc::new(AtomicUsize::new(0));
    let sent2 = sent.clone();
    let writer = io.r#async(async move {
        let data = pattern(7, LEN);
        for chunk in data.chunks(16 * 1024) {
            c.write_all(chunk).await.unwrap();
            sent2.fetch_add(chunk.len(), Ordering::SeqCst);
        }
        c.shutdown(Shutdown::Write).unwrap();
        checksum(&data)
    });
    while sent.load(Ordering::SeqCst) < 64 * 1024 {
        io.sleep(Timeout::after(Duration::from_millis(1))).await.unwrap();
    }
    // Nobody reads: the writer is held back by the buffers, far short of the whole.
    io.sleep(Timeout::after(Duration::from_millis(20))).await.unwrap();
    let held = sent.load(Ordering::SeqCst);
    assert!(held < LEN, "the writer sent all {held} bytes with nobody reading");
    assert!(!writer.is_finished());
    let mut got = Vec::with_capacity(LEN);
    let mut buf = vec![0u8; 7 * 1024];
    loop {
        let n = s.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got.len(), LEN);
    assert_eq!(checksum(&got), writer.await);
}

async fn tcp_vectored_writes_and_reads(t: Ctx) {
    let io = t.io;
    let (c, s) = pair(&io).await;
    let parts: [&[u8]; 3] = [b"hello", b", ", b"world!"];
    let mut written = 0;
    while written < 13 {
        // Skip what went already (a vectored write may be short).
        let mut slices = Vec::new();
        let mut skip = written;
        for p in parts {
            if skip >= p.len() {
                skip -= p.len();
            } else {
                slices.push(IoSlice::new(&p[skip..]));
                skip = 0;
            }
        }
        written += c.write_vectored(&slices).await.unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 13 {
        let (mut a, mut b) = ([0u8; 4], [0u8; 16]);
        let n = {
            let mut bufs = [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)];
            s.read_vectored(&mut bufs).await.unwrap()
        };
        assert!(n > 0);
        got.extend_from_slice(&a[..n.min(4)]);
        if n > 4 {
            got.extend_from_slice(&b[..n - 4]);
        }
    }
    assert_eq!(got, b"hello, world!");
}

async fn tcp_peek_leaves_the_bytes(t: Ctx) {
    let io = t.io;
    let (c, s) = pair(&io).await;
    c.write_all(b"abcdef").await.unwrap();
    let mut p = [0u8; 3];
    let n = s.peek(&mut p).await.unwrap();
    assert!(n >= 1);
    assert_eq!(&p[..n], &b"abc"[..n]);
    let mut all = [0u8; 6];
    s.read_exact(&mut all).await.unwrap();
    assert_eq!(&all, b"abcdef");
}

async fn tcp_options_round_trip(t: Ctx) {
    let io = t.io;
    let (c, _s) = pair(&io).await;
    c.set_nodelay(true).unwrap();
    assert!(c.nodelay().unwrap());
    c.set_nodelay(false).unwrap();
    assert!(!c.nodelay().unwrap());
    c.set_ttl(42).unwrap();
    assert_eq!(c.ttl().unwrap(), 42);
    c.set_option(SocketOption::KeepAlive(true)).unwrap();
    assert_eq!(c.option(SocketOptionKind::KeepAlive).unwrap(), SocketOption::KeepAlive(true));
    c.set_linger(Some(std::time::Duration::from_secs(1))).unwrap();
    assert_eq!(
        c.option(SocketOptionKind::Linger).unwrap(),
        SocketOption::Linger(Some(std::time::Duration::from_secs(1)))
    );
}

async fn tcp_reuse_address_shares_a_port(t: Ctx) {
    let io = t.io;
    let opts = ListenOptions::default().reuse_address(true);
    let a = TcpListener::bind_with(&io, any_port(), &opts).await.unwrap();
    let addr = a.local_addr().unwrap();
    let b = TcpListener::bind_with(&io, addr, &opts).await.unwrap();
    assert_eq!(b.local_addr().unwrap(), addr);
    let err = TcpListener::bind(&io, addr).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
}

async fn tcp_cancel_of_a_pending_accept_takes_nothing(t: Ctx) {
    let io = t.io;
    let listener = Arc::new(TcpListener::bind(&io, any_port()).await.unwrap());
    let addr = listener.local_addr().unwrap();
    let l2 = listener.clone();
    let (tx, rx) = oneshot::channel();
    let acceptor = io.r#async(async move {
        tx.send(()).unwrap();
        l2.accept().await.map(|_| ())
    });
    rx.await.unwrap();
    let err = acceptor.cancel().await.unwrap_err();
    assert!(Canceled::is_canceled(&err), "{err}");
    let c = TcpStream::connect(&io, addr).await.unwrap();
    let (s, _) = listener.accept().await.unwrap();
    c.write_all(b"x").await.unwrap();
    let mut b = [0u8; 1];
    s.read_exact(&mut b).await.unwrap();
}

async fn tcp_cancel_of_a_pending_read_consumes_nothing(t: Ctx) {
    let io = t.io;
    let (c, s) = pair(&io).await;
    let s = Arc::new(s);
    let s2 = s.clone();
    let (tx, rx) = oneshot::channel();
    let reader = io.r#async(async move {
        tx.send(()).unwrap();
        let mut b = [0u8; 4];
        s2.read(&mut b).await
    });
    rx.await.unwrap();
    let err = reader.cancel().await.unwrap_err();
    assert!(Canceled::is_canceled(&err), "{err}");
    c.write_all(b"data").await.unwrap();
    let mut b = [0u8; 4];
    s.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"data");
}

async fn tcp_split_halves_in_two_tasks(t: Ctx) {
    let io = t.io;
    let (c, s) = pair(&io).await;
    let (r, w) = s.into_split();
    // The server echoes upper-cased: its reader task feeds its writer task.
    let (tx, mut rx) = futures::channel::mpsc::unbounded::<Vec<u8>>();
    let reader = io.r#async(async move {
        let mut buf = [0u8; 64];
        loop {
            let n = r.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            tx.unbounded_send(buf[..n].to_ascii_uppercase()).unwrap();
        }
    });
    let writer = io.r#async(async move {
        use futures::StreamExt;
        while let Some(v) = rx.next().await {
            w.write_all(&v).await.unwrap();
        }
    });
    c.write_all(b"split halves").await.unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    (&c).read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"SPLIT HALVES");
    reader.await;
    writer.await;
}

async fn tcp_connections_wait_in_the_backlog(t: Ctx) {
    let io = t.io;
    let l = TcpListener::bind(&io, any_port()).await.unwrap();
    let addr = l.local_addr().unwrap();
    let mut clients = Vec::new();
    for i in 0..10u8 {
        let c = TcpStream::connect(&io, addr).await.unwrap();
        c.write_all(&[i]).await.unwrap();
        clients.push(c);
    }
    let mut seen = Vec::new();
    for _ in 0..10 {
        let (s, _) = l.accept().await.unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.unwrap();
        seen.push(b[0]);
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..10).collect::<Vec<u8>>());
}

async fn tcp_futures_io_traits(t: Ctx) {
    let io = t.io;
    let (mut c, mut s) = pair(&io).await;
    AsyncWriteExt::write_all(&mut c, b"through the traits").await.unwrap();
    AsyncWriteExt::flush(&mut c).await.unwrap();
    AsyncWriteExt::close(&mut c).await.unwrap();
    let mut got = String::new();
    AsyncReadExt::read_to_string(&mut s, &mut got).await.unwrap();
    assert_eq!(got, "through the traits");
}

async fn tcp_zero_length_transfers_complete_at_once(t: Ctx) {
    let io = t.io;
    let (c, s) = pair(&io).await;
    assert_eq!(c.write(&[]).await.unwrap(), 0);
    assert_eq!(s.read(&mut []).await.unwrap(), 0);
    c.write_all(b"z").await.unwrap();
    let mut b = [0u8; 1];
    s.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"z");
}

async fn tcp_writes_to_a_reset_connection_fail(t: Ctx) {
    let io = t.io;
    let (c, s) = pair(&io).await;
    s.set_linger(Some(std::time::Duration::ZERO)).unwrap();
    drop(s);
    let chunk = vec![1u8; 16 * 1024];
    let err = loop {
        match c.write(&chunk).await {
            Ok(_) => io.sleep(Timeout::after(Duration::from_millis(1))).await.unwrap(),
            Err(e) => break e,
        }
    };
    assert!(matches!(err.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe), "{err}");
}

async fn tcp_connect_timeout_connects(t: Ctx) {
    let io = t.io;
    let l = TcpListener::bind(&io, any_port()).await.unwrap();
    let c = TcpStream::connect_timeout(
        &io,
        l.local_addr().unwrap(),
        Timeout::after(Duration::from_secs(10)),
    )
    .await
    .unwrap();
    let (s, _) = l.accept().await.unwrap();
    s.write_all(b"ok").await.unwrap();
    let mut b = [0u8; 2];
    c.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"ok");
}

async fn tcp_ipv6_loopback(t: Ctx) {
    let io = t.io;
    let l = TcpListener::bind(&io, "[::1]:0".parse().unwrap()).await.unwrap();
    let addr = l.local_addr().unwrap();
    assert!(addr.is_ipv6() && addr.ip().is_loopback());
    let c = TcpStream::connect(&io, addr).await.unwrap();
    let (s, peer) = l.accept().await.unwrap();
    assert!(peer.ip().is_loopback());
    c.write_all(b"six").await.unwrap();
    let mut b = [0u8; 3];
    s.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"six");
}
