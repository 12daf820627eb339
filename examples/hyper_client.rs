//! An HTTP client on kqio with hyper: one GET, over HTTP/1.1 or HTTP/2 (h2c, prior knowledge),
//! printing the status, headers and body.
//!
//! ```text
//! cargo run --features hyper --example hyper_server &                     # or any server
//! cargo run --features hyper --example hyper_client -- http://127.0.0.1:3000/
//! cargo run --features hyper --example hyper_client -- --http2 http://127.0.0.1:3000/
//! cargo run --features hyper --example hyper_client -- --self-test        # brings its own server
//! ```
//!
//! The host is resolved with `io.lookup`, the connection is a kqio `TcpStream` handed to hyper
//! as it is, and hyper's connection task runs as a kqio task. `--timeout-ms N` (default 10,000)
//! bounds the whole exchange with `kqio::time::timeout`.

use std::convert::Infallible;

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, Uri};
use kqio::compat::hyper::{Executor, Timer};
use kqio::net::{TcpListener, TcpStream};
use kqio::time::{Duration, Timeout};
use kqio::{InitOptions, IoRef, Kqueue};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// GETs `uri` and returns the response with its body read.
async fn get(io: &IoRef, uri: &Uri, http2: bool) -> Result<(Response<()>, Bytes), BoxError> {
    let host = uri.host().ok_or("the URL has no host")?;
    if uri.scheme_str() != Some("http") {
        return Err("only http:// URLs (no TLS in this example)".into());
    }
    let port = uri.port_u16().unwrap_or(80);
    let found = io.lookup(host.trim_start_matches('[').trim_end_matches(']'), port).await?;
    let addr = *found.addresses.first().ok_or("the host has no address")?;
    let stream = TcpStream::connect(io, addr).await?;
    let _ = stream.set_nodelay(true);
    let response = if http2 {
        // HTTP/2 carries the scheme and authority in the request: the whole URI.
        let request = Request::get(uri.clone()).body(Empty::<Bytes>::new())?;
        let (mut sender, conn) =
            hyper::client::conn::http2::Builder::new(Executor::new(io.clone()))
                .timer(Timer::new(io.clone()))
                .handshake(stream)
                .await?;
        io.r#async(conn).detach();
        sender.send_request(request).await?
    } else {
        // HTTP/1.1: the path in the request line, the authority in `Host`.
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let authority = uri.authority().ok_or("the URL has no host")?.as_str();
        let request =
            Request::get(path).header(hyper::header::HOST, authority).body(Empty::<Bytes>::new())?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(stream).await?;
        io.r#async(conn).detach();
        sender.send_request(request).await?
    };
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok((Response::from_parts(parts, ()), body))
}

/// A one-route server for `--self-test`, on both protocols.
async fn hello_server(io: IoRef) -> Result<std::net::SocketAddr, BoxError> {
    let listener = TcpListener::bind(&io, "127.0.0.1:0".parse()?).await?;
    let addr = listener.local_addr()?;
    let server_io = io.clone();
    io.r#async(async move {
        let builder =
            hyper_util::server::conn::auto::Builder::new(Executor::new(server_io.clone()));
        while let Ok((stream, _)) = listener.accept().await {
            let builder = builder.clone();
            server_io
                .r#async(async move {
                    let hello = hyper::service::service_fn(|req: Request<Incoming>| async move {
                        let text = format!("hello over {:?}", req.version());
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text))))
                    });
                    let _ = builder.serve_connection(stream, hello).await;
                })
                .detach();
        }
    })
    .detach();
    Ok(addr)
}

fn main() -> Result<(), BoxError> {
    let (mut url, mut http2, mut test, mut timeout_ms) = (None, false, false, 10_000);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--http2" => http2 = true,
            "--self-test" => test = true,
            "--timeout-ms" => {
                timeout_ms = args.next().and_then(|s| s.parse().ok()).expect("--timeout-ms N")
            }
            other => url = Some(other.parse::<Uri>()?),
        }
    }
    let rt = Kqueue::init(InitOptions::default())?;
    let io = rt.io();
    let limit = Timeout::after(Duration::from_millis(timeout_ms));
    rt.block_on(async {
        if test {
            let addr = hello_server(io.clone()).await?;
            let uri: Uri = format!("http://{addr}/").parse()?;
            for http2 in [false, true] {
                let (res, body) = kqio::time::timeout(&*io, limit, get(&io, &uri, http2)).await??;
                assert!(res.status().is_success());
                println!(
                    "self-test: {:?} {} -> {}",
                    res.version(),
                    res.status(),
                    String::from_utf8_lossy(&body)
                );
            }
            return Ok(());
        }
        let uri =
            url.ok_or("usage: hyper_client [--http2] [--timeout-ms N] http://host:port/path")?;
        let (res, body) = kqio::time::timeout(&*io, limit, get(&io, &uri, http2)).await??;
        println!("{:?} {}", res.version(), res.status());
        for (name, value) in res.headers() {
            println!("{name}: {}", value.to_str().unwrap_or("<binary>"));
        }
        println!();
        println!("{}", String::from_utf8_lossy(&body));
        Ok(())
    })
}
