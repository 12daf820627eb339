//! hyper 1.x through kqio's adapters (feature `hyper`): HTTP/1 and HTTP/2 round trips between a
//! hyper server and a hyper client on kqio streams, the header-read timeout firing through the
//! kqio timer on a client that sends half a request, bodies larger than the socket buffers both
//! ways, and the timer's clock mapping.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration as StdDuration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::rt::Timer as _;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use kqio::compat::hyper::{Executor, Timer};
use kqio::net::{TcpListener, TcpStream, UnixStream};
use kqio::time::{Clock, Duration};
use kqio::{InitOptions, IoRef, Kqueue};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn rt() -> Kqueue {
    Kqueue::init(InitOptions { n_threads: Some(2), ..Default::default() }).expect("init")
}

/// GET answers "hello"; POST echoes the request body, streaming.
async fn service(
    req: Request<Incoming>,
) -> Result<Response<http_body_util::combinators::BoxBody<Bytes, hyper::Error>>, Infallible> {
    Ok(match *req.method() {
        Method::POST => Response::new(req.into_body().boxed()),
        _ => Response::new(
            Full::new(Bytes::from_static(b"hello")).map_err(|never| match never {}).boxed(),
        ),
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Proto {
    Http1,
    Http2,
}

/// Accepts connections on `listener` and serves each with hyper through the kqio adapters.
fn serve(io: &IoRef, listener: TcpListener, proto: Proto) {
    let io2 = io.clone();
    io.r#async(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let conn = serve_stream(io2.clone(), stream, proto);
            io2.r#async(conn).detach();
        }
    })
    .detach();
}

async fn serve_stream<S>(io: IoRef, stream: S, proto: Proto) -> Result<(), hyper::Error>
where
    S: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    match proto {
        Proto::Http1 => {
            hyper::server::conn::http1::Builder::new()
                .timer(Timer::new(io))
                .serve_connection(stream, service_fn(service))
                .await
        }
        Proto::Http2 => {
            hyper::server::conn::http2::Builder::new(Executor::new(io.clone()))
                .timer(Timer::new(io))
                .serve_connection(stream, service_fn(service))
                .await
        }
    }
}

async fn listen(io: &IoRef, proto: Proto) -> SocketAddr {
    let listener = TcpListener::bind(io, "127.0.0.1:0".parse().unwrap()).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    serve(io, listener, proto);
    addr
}

/// A request sender over a fresh connection to `addr`, its connection task spawned on `io`.
enum Client {
    H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

impl Client {
    async fn connect(io: &IoRef, addr: SocketAddr, proto: Proto) -> Result<Client, BoxError> {
        let stream = TcpStream::connect(io, addr).await?;
        Ok(match proto {
            Proto::Http1 => {
                let (sender, conn) = hyper::client::conn::http1::handshake(stream).await?;
                io.r#async(conn).detach();
                Client::H1(sender)
            }
            Proto::Http2 => {
                let (sender, conn) =
                    hyper::client::conn::http2::Builder::new(Executor::new(io.clone()))
                        .timer(Timer::new(io.clone()))
                        .handshake(stream)
                        .await?;
                io.r#async(conn).detach();
                Client::H2(sender)
            }
        })
    }

    async fn send(&mut self, req: Request<Full<Bytes>>) -> Result<(StatusCode, Bytes), BoxError> {
        let res = match self {
            // HTTP/1: the connection takes the next request once the last one is done.
            Client::H1(s) => {
                s.ready().await?;
                s.send_request(req).await?
            }
            Client::H2(s) => s.send_request(req).await?,
        };
        let status = res.status();
        Ok((status, res.into_body().collect().await?.to_bytes()))
    }
}

fn get() -> Request<Full<Bytes>> {
    Request::get("http://localhost/").body(Full::default()).unwrap()
}

fn post(body: Bytes) -> Request<Full<Bytes>> {
    Request::post("http://localhost/").body(Full::new(body)).unwrap()
}

fn round_trips(proto: Proto) {
    let rt = rt();
    let io = rt.io();
    rt.block_on(async {
        let addr = listen(&io, proto).await;
        let mut client = Client::connect(&io, addr, proto).await?;
        // Several requests on one connection (keep-alive for HTTP/1, streams for HTTP/2).
        for i in 0..5 {
            let (status, body) = client.send(get()).await?;
            assert_eq!((status, &body[..]), (StatusCode::OK, &b"hello"[..]), "request {i}");
            let sent = Bytes::from(format!("echo {i}"));
            let (status, body) = client.send(post(sent.clone())).await?;
            assert_eq!((status, body), (StatusCode::OK, sent));
        }
        Ok::<(), BoxError>(())
    })
    .expect("round trips");
}

#[test]
fn http1_round_trips() {
    round_trips(Proto::Http1);
}

#[test]
fn http2_round_trips() {
    round_trips(Proto::Http2);
}

#[test]
fn http2_concurrent_streams_run_as_spawned_tasks() {
    let rt = rt();
    let io = rt.io();
    rt.block_on(async {
        let addr = listen(&io, Proto::Http2).await;
        let Client::H2(sender) = Client::connect(&io, addr, Proto::Http2).await? else {
            unreachable!()
        };
        // 32 requests in flight at once on one connection, each from its own task.
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let mut sender = sender.clone();
                io.r#async(async move {
                    let res = sender.send_request(post(Bytes::from(format!("{i}")))).await?;
                    let body = res.into_body().collect().await?.to_bytes();
                    assert_eq!(body, format!("{i}"));
                    Ok::<(), BoxError>(())
                })
            })
            .collect();
        for t in tasks {
            t.await?;
        }
        Ok::<(), BoxError>(())
    })
    .expect("concurrent streams");
}

#[test]
fn http1_over_a_unix_stream_pair() {
    let rt = rt();
    let io = rt.io();
    rt.block_on(async {
        let (server_side, client_side) = UnixStream::pair(&io)?;
        let server = io.r#async(serve_stream(io.clone(), server_side, Proto::Http1));
        let (mut sender, conn) = hyper::client::conn::http1::handshake(client_side).await?;
        let conn = io.r#async(conn);
        let res = sender.send_request(post(Bytes::from_static(b"over unix"))).await?;
        assert_eq!(res.into_body().collect().await?.to_bytes(), "over unix");
        drop(sender); // the client closes; both connection futures end cleanly
        conn.await?;
        server.await?;
        Ok::<(), BoxError>(())
    })
    .expect("unix round trip");
}

/// Ends the server's connection after `timeout` of waiting for the rest of a request head.
#[test]
fn header_read_timeout_fires_on_half_a_request() {
    const TIMEOUT: StdDuration = StdDuration::from_millis(200);
    let rt = rt();
    let io = rt.io();
    rt.block_on(async {
        let listener = TcpListener::bind(&io, "127.0.0.1:0".parse().unwrap()).await?;
        let addr = listener.local_addr()?;
        let io2 = io.clone();
        let server = io.r#async(async move {
            let (stream, _) = listener.accept().await.expect("accept");
            hyper::server::conn::http1::Builder::new()
                .timer(Timer::new(io2))
                .header_read_timeout(TIMEOUT)
                .serve_connection(stream, service_fn(service))
                .await
        });
        // hyper starts the timeout at its first read of the head, which may come before the
        // client's first byte (as soon as the connection is accepted): time it from before the
        // connection exists.
        let started = io.now(Clock::Awake);
        let client = TcpStream::connect(&io, addr).await?;
        client.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n").await?; // no blank line
                                                                           // The server gives up and closes: the client reads end of stream (maybe after a 408).
        let read_to_end = async {
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            loop {
                match client.read(&mut buf).await {
                    Ok(0) => return Ok(got),
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(got),
                    Err(e) => return Err(e),
                }
            }
        };
        // Bounded, so that a timer that never fires fails the test instead of hanging it.
        let got = kqio::time::timeout(&*io, Duration::from_secs(30).into(), read_to_end)
            .await
            .map_err(|_| "the server never closed the connection")??;
        let waited = io.now(Clock::Awake) - started;
        let err = server.await.expect_err("the connection timed out");
        assert!(err.is_timeout(), "not a timeout: {err:?}");
        assert!(waited >= Duration::from(TIMEOUT), "closed after {waited}, before the timeout");
        assert!(got.is_empty() || got.starts_with(b"HTTP/1.1 408"), "{got:?}");
        Ok::<(), BoxError>(())
    })
    .expect("header timeout");
}

/// 64 MiB: more than the loopback socket buffers hold (4 MiB to send, 32 MiB to receive at
/// most here), so both directions wait on the socket many times.
const LARGE: usize = 64 << 20;

fn large_body() -> Bytes {
    (0..LARGE).map(|i| (i % 251) as u8).collect::<Vec<u8>>().into()
}

fn large_echo(proto: Proto) {
    let rt = rt();
    let io = rt.io();
    rt.block_on(async {
        let addr = listen(&io, proto).await;
        let mut client = Client::connect(&io, addr, proto).await?;
        let body = large_body();
        let (status, echoed) = client.send(post(body.clone())).await?;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(echoed.len(), LARGE);
        assert!(echoed == body, "the echo differs");
        // The connection is still good after it.
        assert_eq!(client.send(get()).await?.1, "hello");
        Ok::<(), BoxError>(())
    })
    .expect("large echo");
}

#[test]
fn http1_body_larger_than_the_socket_buffers() {
    large_echo(Proto::Http1);
}

#[test]
fn http2_body_larger_than_the_socket_buffers() {
    large_echo(Proto::Http2);
}

#[test]
fn writes_are_vectored() {
    use hyper::rt::Write as _;
    let rt = rt();
    let io = rt.io();
    rt.block_on(async {
        let (mut a, b) = UnixStream::pair(&io)?;
        assert!(a.is_write_vectored());
        let parts = [std::io::IoSlice::new(b"head "), std::io::IoSlice::new(b"body")];
        let n =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut a).poll_write_vectored(cx, &parts))
                .await?;
        assert_eq!(n, 9, "both slices in one call");
        let mut got = [0u8; 9];
        b.read_exact(&mut got).await?;
        assert_eq!(&got, b"head body");
        Ok::<(), BoxError>(())
    })
    .expect("vectored write");
}

#[test]
fn timer_maps_the_io_clock_onto_instants() {
    let rt = rt();
    let io = rt.io();
    let timer = Timer::new(io.clone());
    // The mapping round-trips, both sides of the origin.
    let t = io.now(Clock::Awake);
    for d in [Duration::ZERO, Duration::from_millis(1500), Duration::from_millis(-1500)] {
        assert_eq!(timer.timestamp(timer.instant(t + d)), t + d);
    }
    // On the kqueue backend, the timer's instants are the real ones, to the skew of the origin's
    // two readings (a preemption between them on a loaded machine: bounded generously).
    let before = Instant::now();
    let now = timer.now();
    let after = Instant::now();
    let tolerance = StdDuration::from_secs(1);
    assert!(now + tolerance >= before && now <= after + tolerance, "{before:?} {now:?} {after:?}");
    rt.block_on(async {
        // sleep_until on the timer's own instants, never early by the Io clock.
        let start = io.now(Clock::Awake);
        timer.sleep_until(timer.now() + StdDuration::from_millis(5)).await;
        assert!(io.now(Clock::Awake) - start >= Duration::from_millis(5));
        // reset moves an armed sleep (in place) to its new deadline, earlier or later.
        let mut sleep = timer.sleep(StdDuration::from_secs(3600));
        assert!(futures::poll!(sleep.as_mut()).is_pending());
        let start = io.now(Clock::Awake);
        timer.reset(&mut sleep, timer.now() + StdDuration::from_millis(3));
        sleep.await;
        let waited = io.now(Clock::Awake) - start;
        assert!(waited >= Duration::from_millis(3), "{waited}");
        assert!(waited < Duration::from_secs(60), "{waited}");
    });
    assert_eq!(rt.metrics().timers, 0, "every timer freed");
}
