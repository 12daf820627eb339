//! "Hello, World!" over HTTP/1.1 with hyper on kqio: the server `wrk` measures. Its twin on
//! tokio is `examples/http_hello_tokio.rs` (the same hyper server, the same reply), for
//! side-by-side measurements (benches/README.md).
//!
//! ```text
//! cargo run --release --features hyper --example http_hello        # 127.0.0.1:8080, until Ctrl-C
//! cargo run --release --features hyper --example http_hello -- 127.0.0.1:0 --seconds 2 --self-test
//! wrk -t2 -c64 -d10s http://127.0.0.1:8080/
//! ```
//!
//! The kqio stream goes to hyper as it is (`kqio::compat::hyper` implements hyper's I/O traits
//! on it); the timer gives hyper its header-read timeout on the runtime's clock. Keep-alive and
//! pipelining are hyper's.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::pin;

use futures::future::{select, Either};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use kqio::compat::hyper::Timer;
use kqio::net::{TcpListener, TcpStream};
use kqio::signal::{Signal, Signals};
use kqio::time::{Clock, Duration, Timeout};
use kqio::{InitOptions, IoRef, Kqueue};

async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"Hello, World!")));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(response)
}

async fn serve_connection(io: IoRef, stream: TcpStream) -> Result<(), hyper::Error> {
    let _ = stream.set_nodelay(true);
    http1::Builder::new()
        .timer(Timer::new(io))
        .header_read_timeout(std::time::Duration::from_secs(30))
        .serve_connection(stream, service_fn(hello))
        .await
}

/// Serves "Hello, World!" on `listener` until `deadline` passes or the process is interrupted
/// (SIGINT); open connections are left to finish on their own (hyper closes idle ones after its
/// header-read timeout). Written against `IoRef` only, so the same function runs on `Kqueue`
/// (`main` below) and on `kqio::sim` (`tests/sim_hyper.rs` drives it over a lossy, partitioned
/// network).
///
/// # Errors
///
/// The signal listener could not be set up.
pub async fn serve(io: IoRef, listener: TcpListener, deadline: Timeout) -> std::io::Result<()> {
    let mut interrupt = Signals::new(&io, Signal::INTERRUPT)?;
    loop {
        let next = {
            let accept = pin!(listener.accept());
            let interrupted = pin!(interrupt.recv());
            // Keep only the winner's output: the loser borrows what the next round needs.
            kqio::time::timeout(&*io, deadline, select(accept, interrupted)).await.map(
                |r| match r {
                    Either::Left((accepted, _)) => Either::Left(accepted),
                    Either::Right((interrupted, _)) => Either::Right(interrupted),
                },
            )
        };
        match next {
            Ok(Either::Left(Ok((stream, _)))) => {
                io.r#async(serve_connection(io.clone(), stream)).detach();
            }
            // A cancellation request (the task running this was canceled) ends the server as an
            // interrupt does; the request is delivered once, so accepting on would block.
            Ok(Either::Left(Err(e))) if kqio::Canceled::is_canceled(&e) => return Ok(()),
            Ok(Either::Left(Err(e))) => eprintln!("accept: {e}"),
            Ok(Either::Right(_)) | Err(_) => return Ok(()),
        }
    }
}

/// Two pipelined requests on one connection, the second asking to close: two replies, then the
/// end of the stream.
async fn self_test(io: IoRef, addr: SocketAddr) -> std::io::Result<()> {
    let c = TcpStream::connect(&io, addr).await?;
    let req =
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    c.write_all(req).await?;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = c.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    assert_eq!(text.matches("HTTP/1.1 200 OK\r\n").count(), 2, "{text}");
    assert_eq!(text.matches("\r\n\r\nHello, World!").count(), 2, "{text}");
    println!("self-test: two pipelined requests, two replies, then close");
    Ok(())
}

fn main() -> std::io::Result<()> {
    let mut addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let (mut seconds, mut test) = (None, false);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => seconds = args.next().and_then(|s| s.parse::<i64>().ok()),
            "--self-test" => test = true,
            other => addr = other.parse().expect("an address such as 127.0.0.1:8080"),
        }
    }
    let rt = Kqueue::init(InitOptions::default())?;
    let io = rt.io();
    rt.block_on(async {
        let listener = TcpListener::bind(&io, addr).await?;
        let addr = listener.local_addr()?;
        println!("http_hello (kqio): listening on http://{addr}/");
        let deadline = seconds.map_or(Timeout::None, |s| Timeout::Deadline {
            deadline: io.now(Clock::Awake).saturating_add(Duration::from_secs(s)),
            clock: Clock::Awake,
        });
        let test = test.then(|| io.r#async(self_test(io.clone(), addr)));
        serve(io.clone(), listener, deadline).await?;
        println!("http_hello (kqio): stopping (time is up or Ctrl-C)");
        if let Some(t) = test {
            t.await?;
        }
        Ok(())
    })
}
