//! hyper on simulated time: hyper's HTTP/1 server and client run on `kqio::sim` through
//! `kqio::compat::hyper` (its stream traits, `Executor` and `Timer`), the same adapters the
//! kqueue backend uses. The header-read timeout of 30 s is simulated time: the test sees it pass
//! on the host's awake clock while its own wall time stays well under a second.
//!
//! Same code, two worlds: the HTTP example's server function (`examples/http_hello.rs`, `serve`),
//! the one its `main` runs on `Kqueue` for `wrk`, runs unchanged here over a lossy, partitioned
//! network (5% loss, resets on 1% of writes, the server cut off from two of three clients for
//! two seconds); clients reconnect after a reset or a timeout and check every reply. The same
//! server and clients also run on `Kqueue` over loopback (`the_same_http_server_and_clients_run_on_kqueue`).

use std::convert::Infallible;

#[allow(dead_code)] // The example's `main` and its helpers are not used here.
#[path = "../examples/http_hello.rs"]
mod http_hello;
#[path = "common/lossy_net.rs"]
mod lossy_net;

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::rt::Executor as _;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use kqio::compat::hyper::{Executor, Timer};
use kqio::net::{TcpListener, TcpStream};
use kqio::sim::{check_replay, seeds, SimError, SimOptions, SimReport};
use kqio::time::{Clock, Duration, Timeout};
use kqio::IoRef;

const PORT: u16 = 80;
const HEADER_TIMEOUT: u64 = 30;

async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"Hello, simulated world!"))))
}

/// The server host: hyper's HTTP/1 server on each accepted connection, its header-read timeout
/// on the host's (simulated) clock.
async fn server(io: IoRef) {
    let any = format!("0.0.0.0:{PORT}").parse().unwrap();
    let listener = TcpListener::bind(&io, any).await.expect("bind");
    loop {
        let (stream, _) = listener.accept().await.expect("accept");
        let conn = http1::Builder::new()
            .timer(Timer::new(io.clone()))
            .header_read_timeout(std::time::Duration::from_secs(HEADER_TIMEOUT))
            .serve_connection(stream, service_fn(hello));
        // hyper's errors (the header timeout among them) end the connection, not the server.
        io.r#async(async move {
            let _ = conn.await;
        })
        .detach();
    }
}

/// What the client saw: the reply's body, and how long the server let half a request hang.
#[derive(Debug)]
struct Outcome {
    body: Bytes,
    half_request_closed_after: Duration,
    half_request_reply: Vec<u8>,
}

async fn client(io: IoRef) -> Outcome {
    let addr = io.lookup("server", PORT).await.expect("the server's name resolves").addresses[0];

    // (a) A whole request through hyper's client, its connection task on kqio's executor.
    let stream = TcpStream::connect(&io, addr).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(stream).await.expect("handshake");
    Executor::new(io.clone()).execute(conn);
    let request = Request::get("/").header("host", "server").body(Empty::<Bytes>::new()).unwrap();
    let response = sender.send_request(request).await.expect("a reply");
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.expect("the body").to_bytes();

    // (b) Half a request: the headers never end, the server gives up after its timeout.
    let stream = TcpStream::connect(&io, addr).await.expect("connect");
    stream.write_all(b"GET / HTTP/1.1\r\nHost: server\r\n").await.expect("write");
    let sent = io.now(Clock::Awake);
    let mut reply = Vec::new();
    let mut buf = [0u8; 512];
    // Until the end of the stream (or a reset): the server closed the connection.
    while let Ok(n @ 1..) = stream.read(&mut buf).await {
        reply.extend_from_slice(&buf[..n]);
    }
    let closed = io.now(Clock::Awake);
    Outcome { body, half_request_closed_after: closed - sent, half_request_reply: reply }
}

#[test]
fn hyper_serves_and_times_out_on_simulated_time() {
    for seed in seeds(1..6) {
        check_replay(SimOptions { seed, ..Default::default() }, |sim| {
            let wall = std::time::Instant::now();
            sim.host("server", server);
            let c = sim.client("client", client);
            let report = sim.run().expect("the run ends");
            let wall = wall.elapsed();
            let out = c.output().expect("the client ended");
            assert_eq!(out.body, "Hello, simulated world!", "seed {seed}");
            let after = out.half_request_closed_after;
            let timeout = Duration::from_secs(HEADER_TIMEOUT as i64);
            assert!(
                after >= timeout - Duration::from_secs(1)
                    && after <= timeout + Duration::from_secs(1),
                "seed {seed}: the server closed after {after:?} of simulated time, not about 30 s"
            );
            // hyper ends a timed-out connection without a reply, or with an error status.
            let text = String::from_utf8_lossy(&out.half_request_reply);
            assert!(text.is_empty() || !text.starts_with("HTTP/1.1 200"), "seed {seed}: {text}");
            assert!(report.elapsed >= timeout, "seed {seed}: {:?}", report.elapsed);
            // 30 simulated seconds, not 30 real ones: generous for a loaded machine.
            assert!(wall < std::time::Duration::from_secs(1), "seed {seed}: wall time {wall:?}");
            report
        });
    }
}

const CLIENTS: usize = 3;
const REQUESTS: usize = 20;

/// What a client of the example saw: replies checked, connections it had to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Checked {
    replies: usize,
    connections: usize,
}

/// One GET on `sender`, its reply checked: `Err` for a reset or a closed connection.
async fn get(
    sender: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    c: usize,
    i: usize,
) -> Result<(), hyper::Error> {
    let request =
        Request::get(format!("/{c}/{i}")).header("host", "server").body(Empty::new()).unwrap();
    let response = sender.send_request(request).await?;
    // A reply that arrives must be the right one: a wrong one is a bug, not a fault.
    assert_eq!(response.status(), 200, "client {c}, request {i}");
    assert_eq!(response.headers()["content-type"], "text/plain", "client {c}, request {i}");
    let body = response.into_body().collect().await?.to_bytes();
    assert_eq!(body, "Hello, World!", "client {c}, request {i}");
    Ok(())
}

/// Sends `REQUESTS` GETs over keep-alive connections; reconnects after a reset or a timeout and
/// sends the request again.
async fn http_client(io: IoRef, c: usize) -> Checked {
    let addr = io.lookup("server", PORT).await.expect("the server's name resolves").addresses[0];
    http_client_of(io, c, addr).await
}

/// The client's work against the server at `addr`, on either backend.
async fn http_client_of(io: IoRef, c: usize, addr: std::net::SocketAddr) -> Checked {
    let mut out = Checked { replies: 0, connections: 0 };
    let mut sender = None;
    while out.replies < REQUESTS {
        let mut s = match sender.take() {
            Some(s) => s,
            None => {
                let connect =
                    TcpStream::connect_timeout(&io, addr, Timeout::after(Duration::from_secs(5)));
                let Ok(stream) = connect.await else {
                    io.sleep(Timeout::after(Duration::from_millis(50))).await.unwrap();
                    continue;
                };
                let Ok((s, conn)) = hyper::client::conn::http1::handshake(stream).await else {
                    continue;
                };
                Executor::new(io.clone()).execute(conn);
                out.connections += 1;
                s
            }
        };
        let deadline = Timeout::after(Duration::from_millis(500));
        // A reset or a timeout: a new connection sends the request again.
        if let Ok(Ok(())) = kqio::time::timeout(&*io, deadline, get(&mut s, c, out.replies)).await {
            out.replies += 1;
            sender = Some(s);
        }
    }
    out
}

/// One run of the example's server with `seed`: the clients' outcomes and the report.
fn run_example(seed: u64) -> Result<(Vec<Checked>, SimReport), SimError> {
    // The example's own server function, unchanged.
    let serve = |io, listener| async move {
        http_hello::serve(io, listener, Timeout::None).await.expect("serve");
    };
    lossy_net::run_partitioned(seed, PORT, CLIENTS, serve, http_client)
}

#[test]
fn http_example_serves_unchanged_over_a_lossy_partitioned_network() {
    let mut reconnects = 0;
    let seeds = kqio::sim::run_seeds(20, |seed| {
        let (outcomes, report) = run_example(seed)?;
        for (c, o) in outcomes.iter().enumerate() {
            assert_eq!(o.replies, REQUESTS, "seed {seed}: client {c} checked every reply");
            assert!(o.connections >= 1);
            reconnects += o.connections - 1;
        }
        // The partition lasted 2 s of virtual time: the run cannot have ended before it healed.
        assert!(report.elapsed >= Duration::from_secs(2), "seed {seed}: {:?}", report.elapsed);
        Ok(report)
    });
    println!("{seeds} seeds, {reconnects} reconnections");
    // Faults were real: over the seeds, resets and the partition made clients reconnect.
    assert!(seeds == 1 || reconnects > 0, "no client ever had to reconnect");
}

/// The other world: the same `serve` and the same clients on `Kqueue`, over loopback; canceling
/// the server's task ends it (`serve` takes a cancellation request as an interrupt).
#[test]
fn the_same_http_server_and_clients_run_on_kqueue() {
    let serve = |io, listener| http_hello::serve(io, listener, Timeout::None);
    let outcomes = lossy_net::run_on_loopback(CLIENTS, serve, http_client_of);
    for (c, o) in outcomes.iter().enumerate() {
        assert_eq!(o.replies, REQUESTS, "client {c} checked every reply");
        assert_eq!(o.connections, 1, "client {c}: loopback drops nothing, so one connection");
    }
}
