//! The twin of `examples/http_hello.rs` on tokio (multi-thread runtime, one worker per core):
//! the same parsing and reply, for side-by-side measurements with `wrk` (benches/README.md).
//!
//! ```text
//! cargo run --release --example http_hello_tokio -- 127.0.0.1:8081
//! wrk -t2 -c64 -d10s http://127.0.0.1:8081/
//! ```

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!";

fn request_end(buf: &[u8]) -> Option<(usize, bool)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = &buf[..end];
    let close = head
        .split(|&b| b == b'\n')
        .any(|line| line.to_ascii_lowercase().starts_with(b"connection: close"));
    Some((end, close))
}

async fn serve(mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = vec![0u8; 8192];
    let mut filled = 0;
    let mut out = Vec::with_capacity(RESPONSE.len() * 16);
    loop {
        if filled == buf.len() {
            if buf.len() >= 64 * 1024 {
                return Ok(());
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
                        tokio::spawn(async move {
                            let _ = serve(stream).await;
                        });
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
