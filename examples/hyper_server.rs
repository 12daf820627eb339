//! An HTTP server on kqio with hyper: HTTP/1.1 and HTTP/2 (h2c, prior knowledge) on one port,
//! with a header-read timeout on the runtime's clock.
//!
//! ```text
//! cargo run --release --features hyper --example hyper_server                # 127.0.0.1:3000
//! cargo run --release --features hyper --example hyper_server -- 127.0.0.1:0 --seconds 5 --self-test
//! curl http://127.0.0.1:3000/                                 # HTTP/1.1
//! curl --http2-prior-knowledge http://127.0.0.1:3000/         # HTTP/2 over cleartext
//! curl --data-binary @Cargo.toml http://127.0.0.1:3000/echo   # the body comes back
//! ```
//!
//! Routes: `GET /` says hello and which protocol it came over; `POST /echo` streams the request
//! body back. The kqio glue is two names: `Executor` (hyper spawns HTTP/2 streams on the
//! runtime) and `Timer` (hyper's timeouts on the runtime's clock); kqio's `TcpStream` goes to
//! hyper as it is. hyper-util's `auto::Builder` tells HTTP/1 from HTTP/2 by the connection's
//! first bytes.
//!
//! `--header-timeout-ms N` (default 10,000) bounds how long a client may take to send a request
//! head; `--self-test` runs a client over both protocols, then one that sends half a request
//! and checks that the server hangs up on it after the timeout (set to 300 ms for the test).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::pin;

use futures::future::{select, Either};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, Version};
use hyper_util::server::conn::auto;
use kqio::compat::hyper::{Executor, Timer};
use kqio::net::{TcpListener, TcpStream};
use kqio::signal::{Signal, Signals};
use kqio::time::{Clock, Duration, Timeout};
use kqio::{InitOptions, IoRef, Kqueue};

type Body = BoxBody<Bytes, hyper::Error>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn full(text: impl Into<Bytes>) -> Body {
    Full::new(text.into()).map_err(|never| match never {}).boxed()
}

async fn route(req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let response = match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => {
            Response::new(full(format!("Hello from kqio over {:?}\n", req.version())))
        }
        (&Method::POST, "/echo") => Response::new(req.into_body().boxed()),
        _ => {
            let mut r = Response::new(full("not found\n"));
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
    };
    Ok(response)
}

/// The connection builder: HTTP/1 with a header-read timeout, HTTP/2 with keep-alive pings,
/// both on kqio's executor and timer.
fn builder(io: &IoRef, header_timeout: std::time::Duration) -> auto::Builder<Executor> {
    let mut builder = auto::Builder::new(Executor::new(io.clone()));
    builder.http1().timer(Timer::new(io.clone())).header_read_timeout(header_timeout);
    builder
        .http2()
        .timer(Timer::new(io.clone()))
        .keep_alive_interval(std::time::Duration::from_secs(20));
    builder
}

async fn self_test(io: IoRef, addr: SocketAddr, header_timeout: Duration) -> Result<(), BoxError> {
    // HTTP/1.1.
    let stream = TcpStream::connect(&io, addr).await?;
    let (mut h1, conn) = hyper::client::conn::http1::handshake(stream).await?;
    io.r#async(conn).detach();
    let res = h1.send_request(Request::get("/").body(full(""))?).await?;
    assert_eq!(res.version(), Version::HTTP_11);
    let body = res.into_body().collect().await?.to_bytes();
    println!("self-test: HTTP/1.1 GET / -> {}", String::from_utf8_lossy(&body).trim());

    // HTTP/2, prior knowledge; the client's connection task runs on kqio's executor too.
    let stream = TcpStream::connect(&io, addr).await?;
    let (mut h2, conn) = hyper::client::conn::http2::Builder::new(Executor::new(io.clone()))
        .handshake(stream)
        .await?;
    io.r#async(conn).detach();
    let res = h2.send_request(Request::get("http://x/").body(full(""))?).await?;
    assert_eq!(res.version(), Version::HTTP_2);
    let body = res.into_body().collect().await?.to_bytes();
    println!("self-test: HTTP/2   GET / -> {}", String::from_utf8_lossy(&body).trim());
    let payload = Bytes::from(vec![b'x'; 1 << 20]);
    let res = h2.send_request(Request::post("http://x/echo").body(full(payload.clone()))?).await?;
    assert!(res.into_body().collect().await?.to_bytes() == payload);
    println!("self-test: HTTP/2   POST /echo of 1 MiB came back whole");

    // Half a request head: the server hangs up once the header-read timeout has passed.
    let started = io.now(Clock::Awake);
    let slow = TcpStream::connect(&io, addr).await?;
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await?;
    let mut buf = [0u8; 1024];
    while slow.read(&mut buf).await.unwrap_or(0) > 0 {}
    let waited = io.now(Clock::Awake) - started;
    assert!(waited >= header_timeout, "hung up after {waited}, before {header_timeout}");
    println!("self-test: half a request head: the server hung up after {waited}");
    Ok(())
}

fn main() -> Result<(), BoxError> {
    let mut addr: SocketAddr = "127.0.0.1:3000".parse().unwrap();
    let (mut seconds, mut test, mut header_ms) = (None, false, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => seconds = args.next().and_then(|s| s.parse::<i64>().ok()),
            "--header-timeout-ms" => header_ms = args.next().and_then(|s| s.parse::<i64>().ok()),
            "--self-test" => test = true,
            other => addr = other.parse().expect("an address such as 127.0.0.1:3000"),
        }
    }
    let header_timeout =
        Duration::from_millis(header_ms.unwrap_or(if test { 300 } else { 10_000 }));
    let rt = Kqueue::init(InitOptions::default())?;
    let io = rt.io();
    rt.block_on(async {
        let listener = TcpListener::bind(&io, addr).await?;
        let addr = listener.local_addr()?;
        println!("hyper_server (kqio): HTTP/1.1 and h2c on http://{addr}/");
        let builder = builder(&io, header_timeout.to_std_saturating());
        let deadline = seconds.map_or(Timeout::None, |s| Timeout::Deadline {
            deadline: io.now(Clock::Awake).saturating_add(Duration::from_secs(s)),
            clock: Clock::Awake,
        });
        let test = test.then(|| io.r#async(self_test(io.clone(), addr, header_timeout)));
        let mut interrupt = Signals::new(&io, Signal::INTERRUPT)?;
        loop {
            let next = {
                let accept = pin!(listener.accept());
                let interrupted = pin!(interrupt.recv());
                kqio::time::timeout(&*io, deadline, select(accept, interrupted)).await.map(|r| {
                    match r {
                        Either::Left((accepted, _)) => Either::Left(accepted),
                        Either::Right((interrupted, _)) => Either::Right(interrupted),
                    }
                })
            };
            match next {
                Ok(Either::Left(Ok((stream, peer)))) => {
                    let builder = builder.clone();
                    io.r#async(async move {
                        if let Err(e) = builder.serve_connection(stream, service_fn(route)).await {
                            eprintln!("connection from {peer}: {e}");
                        }
                    })
                    .detach();
                }
                // A cancellation request (the task running this was canceled) ends the server as an
                // interrupt does; the request is delivered once, so accepting on would block.
                Ok(Either::Left(Err(e))) if kqio::Canceled::is_canceled(&e) => break,
                Ok(Either::Left(Err(e))) => eprintln!("accept: {e}"),
                Ok(Either::Right(_)) | Err(_) => break,
            }
        }
        println!("hyper_server (kqio): stopping (time is up or Ctrl-C)");
        if let Some(t) = test {
            t.await?;
        }
        Ok(())
    })
}
