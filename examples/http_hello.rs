//! A minimal HTTP/1.1 keep-alive server on kqio answering every request with "Hello, World!":
//! enough for `wrk`. Its twin on tokio is `examples/http_hello_tokio.rs` (same parsing, same
//! reply), for side-by-side measurements (benches/README.md).
//!
//! ```text
//! cargo run --release --example http_hello                       # 127.0.0.1:8080, until Ctrl-C
//! cargo run --release --example http_hello -- 127.0.0.1:0 --seconds 2 --self-test
//! wrk -t2 -c64 -d10s http://127.0.0.1:8080/
//! ```
//!
//! Requests may be pipelined; a request with `Connection: close` gets its reply and the
//! connection closes. Request bodies are not supported (GET and HEAD only is what it is for).

use std::net::SocketAddr;

use std::pin::pin;

use futures::future::{select, Either};
use kqio::net::{TcpListener, TcpStream};
use kqio::signal::{Signal, Signals};
use kqio::time::{Clock, Duration, Timeout};
use kqio::{InitOptions, IoRef, Kqueue};

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!";

/// The end of the first complete request head in `buf`, and whether it asks to close.
fn request_end(buf: &[u8]) -> Option<(usize, bool)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = &buf[..end];
    let close = head
        .split(|&b| b == b'\n')
        .any(|line| line.to_ascii_lowercase().starts_with(b"connection: close"));
    Some((end, close))
}

async fn serve(stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = vec![0u8; 8192];
    let mut filled = 0;
    let mut out = Vec::with_capacity(RESPONSE.len() * 16);
    loop {
        if filled == buf.len() {
            if buf.len() >= 64 * 1024 {
                return Ok(()); // A request head this large is not for this server.
            }
            buf.resize(buf.len() * 2, 0);
        }
        let n = stream.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
        let mut start = 0;
        let mut close = false;
        while let Some((end, c)) = request_end(&buf[start..filled]) {
            out.extend_from_slice(RESPONSE);
            start += end;
            if c {
                close = true;
                break;
            }
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
        if close {
            return Ok(());
        }
    }
}

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
    assert_eq!(got, [RESPONSE, RESPONSE].concat());
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
        let mut interrupt = Signals::new(&io, Signal::INTERRUPT)?;
        loop {
            let next = {
                let accept = pin!(listener.accept());
                let interrupted = pin!(interrupt.recv());
                // Keep only the winner's output: the loser borrows what the next round needs.
                kqio::time::timeout(&*io, deadline, select(accept, interrupted)).await.map(|r| {
                    match r {
                        Either::Left((accepted, _)) => Either::Left(accepted),
                        Either::Right((interrupted, _)) => Either::Right(interrupted),
                    }
                })
            };
            match next {
                Ok(Either::Left(Ok((stream, _)))) => {
                    io.r#async(async move {
                        let _ = serve(stream).await;
                    })
                    .detach();
                }
                Ok(Either::Left(Err(e))) => eprintln!("accept: {e}"),
                Ok(Either::Right(_)) | Err(_) => break,
            }
        }
        println!("http_hello (kqio): stopping (time is up or Ctrl-C)");
        if let Some(t) = test {
            t.await?;
        }
        Ok(())
    })
}
