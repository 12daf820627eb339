//! TCP through the `Io` trait: Zig's net tests (reuse_address, cancel of a pending accept), bulk
//! transfer over 1,000 connections with checksums, refused and timed-out connects, end of
//! stream, resets, cancellation of waits, and the hard readiness cases (a reader and a writer
//! on one socket, several acceptors, a reset while a write is pending, half-close).

use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use futures::io::{AsyncReadExt, AsyncWriteExt};
use kqio::net::{ListenOptions, SocketOption, SocketOptionKind, TcpListener, TcpStream};
use kqio::time::{Duration, Timeout};
use kqio::{Canceled, InitOptions, IoRef, Kqueue};

fn rt(n: usize) -> Kqueue {
    Kqueue::init(InitOptions { n_threads: Some(n), ..Default::default() }).expect("init")
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A cheap order-sensitive checksum (FNV-1a over 8-byte words).
fn checksum(data: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for chunk in data.chunks(8) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(0x100_0000_01b3);
    }
    h
}

fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn echo_round_trip_and_addresses() {
    let rt = rt(2);
    let io = rt.io();
    rt.block_on(async {
        let listener = TcpListener::bind(&io, any_port()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(addr.port() != 0);
        let server = io.r#async(async move {
            let (s, peer) = listener.accept().await.unwrap();
            assert_eq!(s.peer_addr().unwrap(), peer);
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
        server.await;
    });
}

/// Zig: "reuse_address lets two listeners bind one port".
#[test]
fn reuse_address_lets_two_listeners_bind_one_port() {
    let rt = rt(1);
    let io = rt.io();
    rt.block_on(async {
        let opts = ListenOptions::default().reuse_address(true);
        let a = TcpListener::bind_with(&io, any_port(), &opts).await.unwrap();
        let addr = a.local_addr().unwrap();
        let b = TcpListener::bind_with(&io, addr, &opts).await.unwrap();
        assert_eq!(b.local_addr().unwrap(), addr);
        // Without the option the port is taken.
        let err = TcpListener::bind(&io, addr).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    });
}

/// Zig: "cancel of a pending accept".
#[test]
fn cancel_of_a_pending_accept() {
    let rt = rt(2);
    let io = rt.io();
    rt.block_on(async {
        let listener = Arc::new(TcpListener::bind(&io, any_port()).await.unwrap());
        let addr = listener.local_addr().unwrap();
        let l2 = listener.clone();
        let acceptor = io.r#async(async move { l2.accept().await.map(|_| ()) });
        io.sleep(Timeout::after(Duration::from_millis(10))).await.unwrap();
        let started = Instant::now();
        let err = acceptor.cancel().await.unwrap_err();
        assert!(Canceled::is_canceled(&err), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        // Nothing was taken from the queue: a later connection is accepted normally.
        let c = TcpStream::connect(&io, addr).await.unwrap();
        let (s, _) = listener.accept().await.unwrap();
        c.write_all(b"x").await.unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.unwrap();
    });
}

/// 1,000 concurrent connections, each sending 1 MiB that the server echoes back; every byte
/// checked by checksum on both sides.
///
/// Under ThreadSanitizer (`.ci/tsan` sets KQIO_TSAN) each connection sends 64 KiB: the
/// interleavings are those of the full run (1,000 connections, many partial reads and writes
/// each), while TSan's shadow memory makes each byte copied cost some hundred times more (the
/// full run took 4 minutes there).
#[test]
fn thousand_connections_exchange_a_mebibyte_each() {
    const CONNS: usize = 1000;
    let bytes: usize = if std::env::var_os("KQIO_TSAN").is_some() { 64 << 10 } else { 1 << 20 };
    let rt = rt(2);
    let io = rt.io();
    let ok = rt.block_on(async {
        let listener =
            TcpListener::bind_with(&io, any_port(), &ListenOptions::default()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server_io = io.clone();
        let server = io.r#async(async move {
            let mut echoes = Vec::new();
            for _ in 0..CONNS {
                let (s, _) = listener.accept().await.unwrap();
                echoes.push(server_io.r#async(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut seen = Vec::with_capacity(bytes);
                    loop {
                        let n = s.read(&mut buf).await.unwrap();
                        if n == 0 {
                            break;
                        }
                        seen.extend_from_slice(&buf[..n]);
                        s.write_all(&buf[..n]).await.unwrap();
                    }
                    s.shutdown(Shutdown::Write).unwrap();
                    checksum(&seen)
                }));
            }
            let mut sums = Vec::new();
            for e in echoes {
                sums.push(e.await);
            }
            sums
        });
        let ok = Arc::new(AtomicUsize::new(0));
        let mut clients = Vec::new();
        for i in 0..CONNS {
            let io2 = io.clone();
            let ok = ok.clone();
            clients.push(io.r#async(async move {
                let data = pattern(i as u64, bytes);
                let want = checksum(&data);
                let s = TcpStream::connect(&io2, addr).await.unwrap();
                let (r, mut w) = s.into_split();
                let writer = io2.r#async(async move {
                    w.write_all(&data).await.unwrap();
                    w.close().await.unwrap();
                });
                let mut back = Vec::with_capacity(bytes);
                let mut r = r;
                r.read_to_end(&mut back).await.unwrap();
                writer.await;
                assert_eq!(back.len(), bytes);
                assert_eq!(checksum(&back), want, "connection {i}");
                ok.fetch_add(1, Ordering::Relaxed);
                want
            }));
        }
        let mut sent = Vec::new();
        for c in clients {
            sent.push(c.await);
        }
        let mut echoed = server.await;
        sent.sort_unstable();
        echoed.sort_unstable();
        assert_eq!(sent, echoed, "the server saw exactly what the clients sent");
        ok.load(Ordering::Relaxed)
    });
    assert_eq!(ok, CONNS);
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    let rt = rt(1);
    let io = rt.io();
    // Bind then drop a listener: the port is (for a moment) certainly unused.
    let addr = rt.block_on(async {
        let l = TcpListener::bind(&io, any_port()).await.unwrap();
        l.local_addr().unwrap()
    });
    let err = rt.block_on(TcpStream::connect(&io, addr)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
}

/// A connect that cannot complete (the listener's backlog is full and it never accepts) ends
/// with `TimedOut` after the timeout, not before. Kernels differ on a full backlog (Linux drops
/// the SYN, so the connect hangs; some BSDs refuse or complete it), so an attempt may also end
/// otherwise; on Linux at least one must time out.
#[test]
fn connect_timeout_against_a_full_backlog() {
    let rt = rt(2);
    let io = rt.io();
    rt.block_on(async {
        let l = TcpListener::bind_with(&io, any_port(), &ListenOptions::default().backlog(1))
            .await
            .unwrap();
        let addr = l.local_addr().unwrap();
        let mut held = Vec::new();
        let mut timed_out = 0;
        for _ in 0..16 {
            let started = io.now(kqio::time::Clock::Awake);
            let t = Duration::from_millis(150);
            match TcpStream::connect_timeout(&io, addr, Timeout::after(t)).await {
                Ok(s) => held.push(s),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    let waited =
                        io.now(kqio::time::Clock::Awake).saturating_duration_since(started);
                    assert!(waited >= t, "timed out early: {waited}");
                    timed_out += 1;
                    if timed_out == 2 {
                        break;
                    }
                }
                Err(e) => assert!(
                    matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset
                    ),
                    "{e}"
                ),
            }
        }
        if cfg!(target_os = "linux") {
            assert!(timed_out >= 1, "a full backlog made no connect wait");
        }
        drop(l);
    });
}

#[test]
fn reading_from_a_socket_the_peer_closed_gives_zero_and_half_close_works() {
    let rt = rt(2);
    let io = rt.io();
    rt.block_on(async {
        let l = TcpListener::bind(&io, any_port()).await.unwrap();
        let c = TcpStream::connect(&io, l.local_addr().unwrap()).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        // Half-close: the client stops writing but can still read.
        c.write_all(b"last words").await.unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut got = Vec::new();
        (&s).read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"last words");
        let mut buf = [0u8; 8];
        assert_eq!(s.read(&mut buf).await.unwrap(), 0, "end of stream stays end of stream");
        s.write_all(b"reply").await.unwrap();
        drop(s);
        let mut got = Vec::new();
        (&c).read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"reply");
        assert_eq!(c.read(&mut buf).await.unwrap(), 0);
    });
}

/// A peer that resets the connection (linger 0) makes writes fail, and a write that was
/// pending on a full send buffer when the reset came ends with an error instead of hanging.
#[test]
fn writes_to_a_reset_connection_fail_even_when_pending() {
    let rt = rt(2);
    let io = rt.io();
    rt.block_on(async {
        let l = TcpListener::bind(&io, any_port()).await.unwrap();
        let c = Arc::new(TcpStream::connect(&io, l.local_addr().unwrap()).await.unwrap());
        let (s, _) = l.accept().await.unwrap();
        c.set_option(SocketOption::SendBufferSize(4096)).unwrap();
        s.set_option(SocketOption::ReceiveBufferSize(4096)).unwrap();
        // Fill the pipe until a write waits, in a task.
        let c2 = c.clone();
        let writer = io.r#async(async move {
            let chunk = vec![7u8; 64 * 1024];
            loop {
                c2.write(&chunk).await?;
            }
            #[allow(unreachable_code)]
            Ok::<(), std::io::Error>(())
        });
        // Let the writer fill both buffers and block, then reset from the server side.
        io.sleep(Timeout::after(Duration::from_millis(50))).await.unwrap();
        s.set_linger(Some(std::time::Duration::ZERO)).unwrap();
        drop(s);
        let err = writer.await.unwrap_err();
        assert!(
            matches!(
                err.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ),
            "{err}"
        );
        // And a fresh write fails too.
        assert!(c.write(b"more").await.is_err());
    });
}

#[test]
fn cancel_of_a_read_waiting_forever() {
    let rt = rt(2);
    let io = rt.io();
    rt.block_on(async {
        let l = TcpListener::bind(&io, any_port()).await.unwrap();
        let c = Arc::new(TcpStream::connect(&io, l.local_addr().unwrap()).await.unwrap());
        let (s, _) = l.accept().await.unwrap();
        let c2 = c.clone();
        let reader = io.r#async(async move {
            let mut buf = [0u8; 4];
            c2.read(&mut buf).await
        });
        io.sleep(Timeout::after(Duration::from_millis(10))).await.unwrap();
        let err = reader.cancel().await.unwrap_err();
        assert!(Canceled::is_canceled(&err), "{err}");
        // Nothing was consumed: data sent afterwards is read whole.
        s.write_all(b"data").await.unwrap();
        let mut buf = [0u8; 4];
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"data");
    });
}

/// A task waiting on a stream is dropped (its handle dropped: the future and the stream with
/// it); the connection closes and the runtime carries on. And a write half dropped while the
/// read half waits in another task: the peer reads end of stream, the reader still gets data.
#[test]
fn drop_of_a_stream_while_another_task_waits_on_it() {
    let rt = rt(2);
    let io = rt.io();
    rt.block_on(async {
        let l = TcpListener::bind(&io, any_port()).await.unwrap();
        let addr = l.local_addr().unwrap();

        let c = TcpStream::connect(&io, addr).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        let waiting = io.r#async(async move {
            let mut buf = [0u8; 1];
            c.read(&mut buf).await
        });
        io.sleep(Timeout::after(Duration::from_millis(5))).await.unwrap();
        drop(waiting);
        let mut buf = [0u8; 1];
        assert_eq!(s.read(&mut buf).await.unwrap(), 0, "dropping the task closed the socket");

        let c = TcpStream::connect(&io, addr).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        let (r, w) = c.into_split();
        let reader = io.r#async(async move {
            let mut buf = [0u8; 5];
            r.read_exact(&mut buf).await.map(|()| buf)
        });
        io.sleep(Timeout::after(Duration::from_millis(5))).await.unwrap();
        drop(w);
        let mut buf = [0u8; 1];
        assert_eq!(s.read(&mut buf).await.unwrap(), 0, "write half dropped: end of stream");
        s.write_all(b"still").await.unwrap();
        assert_eq!(&reader.await.unwrap(), b"still");
    });
}

/// A reader and a writer on one socket from two tasks, and several tasks accepting on one
/// listener: every waiter is woken by the events that concern it.
#[test]
fn reader_and_writer_tasks_share_a_socket_and_acceptors_share_a_listener() {
    let rt = rt(2);
    let io = rt.io();
    rt.block_on(async {
        let l = Arc::new(TcpListener::bind(&io, any_port()).await.unwrap());
        let addr = l.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let mut acceptors = Vec::new();
        for _ in 0..4 {
            let (l, accepted) = (l.clone(), accepted.clone());
            acceptors.push(io.r#async(async move {
                let (s, _) = l.accept().await.unwrap();
                accepted.fetch_add(1, Ordering::SeqCst);
                s
            }));
        }
        let mut clients = Vec::new();
        for _ in 0..4 {
            clients.push(Arc::new(TcpStream::connect(&io, addr).await.unwrap()));
        }
        let mut servers = Vec::new();
        for a in acceptors {
            servers.push(Arc::new(a.await));
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 4);

        // On each connection: one task reads 1,000 messages while another writes 1,000, both on
        // the client's socket, with the server echoing.
        let mut jobs = Vec::new();
        for (c, s) in clients.into_iter().zip(servers) {
            jobs.push(io.r#async(async move {
                let mut buf = [0u8; 4096];
                loop {
                    let n = s.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    s.write_all(&buf[..n]).await.unwrap();
                }
            }));
            let c2 = c.clone();
            jobs.push(io.r#async(async move {
                for i in 0u32..1000 {
                    c2.write_all(&i.to_le_bytes()).await.unwrap();
                }
            }));
            jobs.push(io.r#async(async move {
                for i in 0u32..1000 {
                    let mut b = [0u8; 4];
                    c.read_exact(&mut b).await.unwrap();
                    assert_eq!(u32::from_le_bytes(b), i);
                }
                c.shutdown(Shutdown::Write).unwrap();
            }));
        }
        for j in jobs {
            j.await;
        }
    });
}

/// Edge-triggered readiness is never missed: 20,000 one-byte ping-pongs across two workers.
#[test]
fn ping_pong_of_single_bytes_never_stalls() {
    let rt = rt(2);
    let io = rt.io();
    rt.block_on(async {
        let l = TcpListener::bind(&io, any_port()).await.unwrap();
        let c = TcpStream::connect(&io, l.local_addr().unwrap()).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        c.set_nodelay(true).unwrap();
        s.set_nodelay(true).unwrap();
        assert!(c.nodelay().unwrap());
        let server = io.r#async(async move {
            let mut b = [0u8; 1];
            while s.read(&mut b).await.unwrap() == 1 {
                s.write_all(&b).await.unwrap();
            }
        });
        let mut b = [0u8; 1];
        for i in 0..20_000u32 {
            c.write_all(&[i as u8]).await.unwrap();
            c.read_exact(&mut b).await.unwrap();
            assert_eq!(b[0], i as u8);
        }
        drop(c);
        server.await;
    });
}

#[test]
fn options_round_trip_and_bad_inputs_are_typed_errors() {
    let rt = rt(1);
    let io: IoRef = rt.io();
    rt.block_on(async {
        let l = TcpListener::bind(&io, any_port()).await.unwrap();
        let c = TcpStream::connect(&io, l.local_addr().unwrap()).await.unwrap();
        c.set_ttl(42).unwrap();
        assert_eq!(c.ttl().unwrap(), 42);
        c.set_option(SocketOption::KeepAlive(true)).unwrap();
        assert_eq!(c.option(SocketOptionKind::KeepAlive).unwrap(), SocketOption::KeepAlive(true));
        c.set_linger(Some(std::time::Duration::from_secs(1))).unwrap();
        assert_eq!(
            c.option(SocketOptionKind::Linger).unwrap(),
            SocketOption::Linger(Some(std::time::Duration::from_secs(1)))
        );
        // Zero-length buffers complete at once.
        assert_eq!(c.read(&mut []).await.unwrap(), 0);
        assert_eq!(c.write(&[]).await.unwrap(), 0);
        // An address of the wrong family for the port, and a port in use.
        let err = TcpListener::bind(&io, "192.0.2.1:0".parse().unwrap()).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrNotAvailable, "{err}");
        // A socket handle of another backend is refused, not misread.
        let foreign = kqio::net::SocketHandle::new(Arc::new(17u32));
        let err = io.net_shutdown(&foreign, Shutdown::Both).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert!(err.get_ref().unwrap().is::<kqio::net::ForeignHandle>());
    });
}

/// Operations on sockets of a runtime that was shut down end with `Canceled`, not a hang.
#[test]
fn sockets_outliving_their_runtime_fail_cleanly() {
    let rt1 = rt(1);
    let io1 = rt1.io();
    let (c, _s) = rt1.block_on(async {
        let l = TcpListener::bind(&io1, any_port()).await.unwrap();
        let c = TcpStream::connect(&io1, l.local_addr().unwrap()).await.unwrap();
        let s = l.accept().await.unwrap();
        (c, s)
    });
    rt1.deinit();
    let rt2 = rt(1);
    let err = rt2
        .block_on(async {
            let mut b = [0u8; 1];
            c.read(&mut b).await
        })
        .unwrap_err();
    assert!(Canceled::is_canceled(&err), "{err}");
}

/// Two tasks wait to read one socket; one byte arrives. Both are woken (the readiness event
/// concerns both), exactly one gets the byte, and the other finds nothing (a spurious wake-up
/// for it): it must wait again, not fail or spin, and gets the next byte.
#[test]
fn spurious_readiness_sends_the_loser_back_to_waiting() {
    let rt = rt(2);
    let io = rt.io();
    rt.block_on(async {
        let l = TcpListener::bind(&io, any_port()).await.unwrap();
        let c = Arc::new(TcpStream::connect(&io, l.local_addr().unwrap()).await.unwrap());
        let (s, _) = l.accept().await.unwrap();
        let got = Arc::new(AtomicUsize::new(0));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (c, got) = (c.clone(), got.clone());
                io.r#async(async move {
                    let mut b = [0u8; 1];
                    let n = c.read(&mut b).await.unwrap();
                    got.fetch_add(n, Ordering::SeqCst);
                    b[0]
                })
            })
            .collect();
        io.sleep(Timeout::after(Duration::from_millis(10))).await.unwrap();
        s.write_all(b"a").await.unwrap();
        // Exactly one reader completes; the other keeps waiting.
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        while got.load(Ordering::SeqCst) == 0 {
            assert!(Instant::now() < deadline);
            io.yield_now().await;
        }
        io.sleep(Timeout::after(Duration::from_millis(20))).await.unwrap();
        assert_eq!(got.load(Ordering::SeqCst), 1, "only one byte was there to read");
        s.write_all(b"b").await.unwrap();
        let mut bytes = Vec::new();
        for r in readers {
            bytes.push(r.await);
        }
        bytes.sort_unstable();
        assert_eq!(bytes, b"ab");
    });
}

/// A peer for the two tests below: a std thread with a blocking socket that reads each 8-byte
/// message and answers it with the value plus one, at once in most rounds and after 1 ms in
/// every fourth (so that the server's read after its write, tried at once by the read guess of
/// `src/kqueue/read_guess.rs`, meets `WouldBlock` there and must wait for the real event). The
/// delay only chooses which path a round takes; every round must give the same answer. Returns
/// the address it listens on (before this returns, so a connect needs no retry) and its thread.
fn answering_peer(rounds: u64) -> (SocketAddr, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind(any_port()).unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = listener.accept().unwrap();
        s.set_nodelay(true).unwrap();
        let mut buf = [0u8; 8];
        for round in 0..rounds {
            s.read_exact(&mut buf).unwrap();
            if round % 4 == 3 {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            let answer = u64::from_le_bytes(buf) + 1;
            s.write_all(&answer.to_le_bytes()).unwrap();
        }
    });
    (addr, peer)
}

/// The read that follows a write tries the socket at once (the read guess); when the answer is
/// not there yet it must still wait for it and get it, in every round, whichever path it took.
#[test]
fn a_read_right_after_a_write_gets_the_answer_early_or_late() {
    const ROUNDS: u64 = 400;
    let rt = rt(2);
    let io = rt.io();
    let (addr, peer) = answering_peer(ROUNDS);
    rt.block_on(async {
        let s = TcpStream::connect(&io, addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        let rounds = async {
            for round in 0..ROUNDS {
                let value = round * 1_000;
                s.write_all(&value.to_le_bytes()).await.unwrap();
                let mut buf = [0u8; 8];
                s.read_exact(&mut buf).await.unwrap();
                assert_eq!(u64::from_le_bytes(buf), value + 1, "round {round}");
            }
        };
        kqio::time::timeout(&*io, Timeout::after(Duration::from_secs(60)), rounds)
            .await
            .expect("a read after a write was never woken");
    });
    peer.join().unwrap();
}

/// A write's guess marks the socket readable without waking anyone: a reader parked in another
/// task must still be woken by the answer's own event, every time.
#[test]
fn a_reader_in_another_task_is_woken_by_answers_to_another_tasks_writes() {
    const ROUNDS: u64 = 400;
    let rt = rt(2);
    let io = rt.io();
    let (addr, peer) = answering_peer(ROUNDS);
    rt.block_on(async {
        let s = Arc::new(TcpStream::connect(&io, addr).await.unwrap());
        s.set_nodelay(true).unwrap();
        // One message in flight at a time: the writer sends the next only after the reader got
        // the answer, so the reader is parked (or about to be) when each write's guess is made.
        let (got_tx, got_rx) = futures::channel::mpsc::unbounded::<u64>();
        let reader = {
            let s = s.clone();
            io.r#async(async move {
                for round in 0..ROUNDS {
                    let mut buf = [0u8; 8];
                    s.read_exact(&mut buf).await.unwrap();
                    assert_eq!(u64::from_le_bytes(buf), round * 7 + 1, "round {round}");
                    got_tx.unbounded_send(round).unwrap();
                }
            })
        };
        let writer = async {
            let mut got_rx = got_rx;
            for round in 0..ROUNDS {
                s.write_all(&(round * 7).to_le_bytes()).await.unwrap();
                use futures::StreamExt;
                assert_eq!(got_rx.next().await, Some(round));
            }
        };
        kqio::time::timeout(&*io, Timeout::after(Duration::from_secs(60)), async {
            writer.await;
            reader.await;
        })
        .await
        .expect("a parked reader was never woken");
    });
    peer.join().unwrap();
}
