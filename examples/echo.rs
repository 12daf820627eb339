//! A TCP echo server on kqio: every connection gets its bytes back.
//!
//! ```text
//! cargo run --release --example echo                      # 127.0.0.1:7878, until Ctrl-C
//! cargo run --release --example echo -- 127.0.0.1:9000    # another address
//! cargo run --release --example echo -- 127.0.0.1:0 --seconds 2 --self-test
//! ```
//!
//! `--seconds N` stops accepting after N seconds; `--self-test` also runs a client that sends a
//! few messages and checks the replies, so the example proves itself in a bounded run. When the
//! time is up, or on Ctrl-C (SIGINT), the listener closes and the open connections finish.

use std::net::SocketAddr;

use std::pin::pin;

use futures::future::{select, Either};
use kqio::net::{TcpListener, TcpStream};
use kqio::signal::{Signal, Signals};
use kqio::time::{Clock, Duration, Timeout};
use kqio::{InitOptions, IoRef, Kqueue};

struct Options {
    addr: SocketAddr,
    seconds: Option<i64>,
    self_test: bool,
}

fn options() -> Options {
    let mut opts =
        Options { addr: "127.0.0.1:7878".parse().unwrap(), seconds: None, self_test: false };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => {
                opts.seconds = args.next().and_then(|s| s.parse().ok());
                if opts.seconds.is_none() {
                    eprintln!("--seconds needs a whole number");
                    std::process::exit(2);
                }
            }
            "--self-test" => opts.self_test = true,
            addr => match addr.parse() {
                Ok(a) => opts.addr = a,
                Err(e) => {
                    eprintln!("not an address: {addr:?} ({e})");
                    std::process::exit(2);
                }
            },
        }
    }
    opts
}

/// Echoes `stream`'s bytes back until its end: the bytes echoed.
pub async fn echo(stream: TcpStream) -> std::io::Result<u64> {
    let mut buf = [0u8; 16 * 1024];
    let mut total = 0;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(total);
        }
        stream.write_all(&buf[..n]).await?;
        total += n as u64;
    }
}

async fn self_test(io: IoRef, addr: SocketAddr) -> std::io::Result<()> {
    let c = TcpStream::connect(&io, addr).await?;
    for msg in ["hello", "kqio", "echo"] {
        c.write_all(msg.as_bytes()).await?;
        let mut buf = vec![0u8; msg.len()];
        c.read_exact(&mut buf).await?;
        assert_eq!(buf, msg.as_bytes());
        println!("self-test: sent {msg:?}, got it back");
    }
    Ok(())
}

/// Serves echo on `listener` until `deadline` passes, the process is interrupted (SIGINT) or the
/// task running it is canceled, then waits for the open connections to finish. Written against `IoRef` only, so the same
/// function runs on `Kqueue` (`main` below) and on `kqio::sim` (`tests/sim_examples.rs` drives it
/// over a lossy, partitioned network).
///
/// # Errors
///
/// The signal listener could not be set up.
pub async fn serve(io: IoRef, listener: TcpListener, deadline: Timeout) -> std::io::Result<()> {
    let connections = kqio::Group::new();
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
            Ok(Either::Left(Ok((stream, peer)))) => connections.r#async(&*io, async move {
                match echo(stream).await {
                    Ok(n) => println!("echo: {peer} done after {n} bytes"),
                    Err(e) => println!("echo: {peer}: {e}"),
                }
                Ok(())
            }),
            // A cancellation request (the task running `serve` was canceled) ends the server as
            // an interrupt does; the request is delivered once, so accepting on would block.
            Ok(Either::Left(Err(e))) if kqio::Canceled::is_canceled(&e) => {
                println!("echo: canceled, shutting down");
                break;
            }
            Ok(Either::Left(Err(e))) => eprintln!("echo: accept: {e}"),
            Ok(Either::Right(_)) => {
                println!("echo: interrupted (Ctrl-C), shutting down");
                break;
            }
            Err(_elapsed) => {
                println!("echo: time is up, shutting down");
                break;
            }
        }
    }
    drop(listener);
    // Open connections finish (their peers close them) before the server returns.
    let _ = connections.wait().await;
    Ok(())
}

fn main() -> std::io::Result<()> {
    let opts = options();
    let rt = Kqueue::init(InitOptions::default())?;
    let io = rt.io();
    rt.block_on(async {
        let listener = TcpListener::bind(&io, opts.addr).await?;
        let addr = listener.local_addr()?;
        println!("echo: listening on {addr}");
        let deadline = opts
            .seconds
            .map(|s| io.now(Clock::Awake).saturating_add(Duration::from_secs(s)))
            .map_or(Timeout::None, |d| Timeout::Deadline { deadline: d, clock: Clock::Awake });
        let test = opts.self_test.then(|| io.r#async(self_test(io.clone(), addr)));
        serve(io.clone(), listener, deadline).await?;
        if let Some(t) = test {
            t.await?;
        }
        Ok(())
    })
}
