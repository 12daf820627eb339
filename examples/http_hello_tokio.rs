//! The twin of `examples/http_hello.rs` on tokio (multi-thread runtime, one worker per core):
//! the same hyper server and reply, through hyper-util's tokio adapters, for side-by-side
//! measurements with `wrk` (benches/README.md).
//!
//! ```text
//! cargo run --release --features hyper --example http_hello_tokio -- 127.0.0.1:8081
//! wrk -t2 -c64 -d10s http://127.0.0.1:8081/
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};

async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"Hello, World!")));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(response)
}

async fn serve(stream: TcpStream) -> Result<(), hyper::Error> {
    let _ = stream.set_nodelay(true);
    http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(std::time::Duration::from_secs(30))
        .serve_connection(TokioIo::new(stream), service_fn(hello))
        .await
}

fn main() -> std::io::Result<()> {
    let mut addr: SocketAddr = "127.0.0.1:8081".parse().unwrap();
    let mut seconds = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => seconds = args.next().and_then(|s| s.parse::<u64>().ok()),
            other => addr = other.parse().expect("an address such as 127.0.0.1:8081"),
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let listener = TcpListener::bind(addr).await?;
        println!("http_hello (tokio): listening on http://{}/", listener.local_addr()?);
        let stop = async {
            match seconds {
                Some(s) => tokio::time::sleep(std::time::Duration::from_secs(s)).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(stop);
        loop {
            tokio::select! {
                r = listener.accept() => match r {
                    Ok((stream, _)) => {
                        tokio::spawn(serve(stream));
                    }
                    Err(e) => eprintln!("accept: {e}"),
                },
                _ = &mut stop => break,
            }
        }
        println!("http_hello (tokio): time is up");
        Ok(())
    })
}
