//! A memory-checker workload (issue 9, item 3): TCP echo and runtime init/deinit cycles with
//! tasks left blocked, meant to run under valgrind memcheck (`.ci/valgrind`) or AddressSanitizer.
//!
//! ```text
//! cargo run --example stress -- [cycles]      # default 20 cycles
//! ```
//!
//! Each cycle starts a runtime with 2 workers and:
//! 1. echoes 64 messages of 1..=4,096 bytes over each of 8 TCP connections, checking every byte;
//! 2. leaves tasks blocked forever on a socket read, a sleep, a `Mutex` held by another blocked
//!    task, a `Queue` get and a join of a blocked task, plus a blocking-pool job that finishes;
//! 3. calls `deinit`, which must drop every blocked future (checked by a drop counter).
//!
//! It exits with status 1 on any wrong byte or undropped future; memcheck adds its own verdict.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use kqio::net::{TcpListener, TcpStream};
use kqio::sync::{Mutex, Queue};
use kqio::time::{Duration, Timeout};
use kqio::{InitOptions, Kqueue};

const CONNECTIONS: usize = 8;
const MESSAGES: usize = 64;

/// Counts drops of the futures left blocked at `deinit`.
struct Dropped(Arc<AtomicUsize>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn message(conn: usize, i: usize) -> Vec<u8> {
    let len = 1 + (conn * 977 + i * 131) % 4096;
    (0..len).map(|b| (b ^ conn ^ i) as u8).collect()
}

fn echo_round(rt: &Kqueue) -> Result<(), String> {
    let io = rt.io();
    rt.block_on(async {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let listener = TcpListener::bind(&io, any).await.map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let server = io.r#async(async move {
            let mut served = Vec::new();
            for _ in 0..CONNECTIONS {
                let (stream, _) = listener.accept().await?;
                served.push(io_echo(stream));
            }
            for s in served {
                s.await?;
            }
            Ok::<_, std::io::Error>(())
        });
        let clients: Vec<_> = (0..CONNECTIONS)
            .map(|conn| {
                let io2 = io.clone();
                io.r#async(async move {
                    let stream = TcpStream::connect(&io2, addr).await?;
                    for i in 0..MESSAGES {
                        let msg = message(conn, i);
                        stream.write_all(&msg).await?;
                        let mut back = vec![0; msg.len()];
                        stream.read_exact(&mut back).await?;
                        if back != msg {
                            return Err(std::io::Error::other(format!(
                                "connection {conn} message {i}: wrong bytes echoed"
                            )));
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        for c in clients {
            c.await.map_err(|e| e.to_string())?;
        }
        server.await.map_err(|e| e.to_string())
    })
}

/// Echoes one connection until its peer closes it.
async fn io_echo(stream: TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}

/// Leaves futures blocked forever and returns how many `deinit` must drop.
fn leave_blocked(rt: &Kqueue, dropped: &Arc<AtomicUsize>) -> usize {
    let io = rt.io();
    // A socket read that never completes: the peer stays open and silent until deinit.
    let (a, b) = kqio::net::UnixStream::pair(&io).expect("socket pair");
    let mutex = Arc::new(Mutex::new(0u64));
    let queue: Arc<Queue<u64>> = Arc::new(Queue::new(4));
    let (locked_tx, locked_rx) = futures::channel::oneshot::channel::<()>();
    let blocked = [
        {
            let d = Dropped(dropped.clone());
            io.r#async(async move {
                let _d = d;
                let mut buf = [0u8; 16];
                let _ = a.read(&mut buf).await;
                drop(b);
            })
        },
        {
            let (d, io2) = (Dropped(dropped.clone()), io.clone());
            io.r#async(async move {
                let _d = d;
                let _ = io2.sleep(Timeout::after(Duration::from_secs(3_600))).await;
            })
        },
        {
            // Holds the lock forever: it waits for a sleep that deinit cuts short.
            let (d, m, io2) = (Dropped(dropped.clone()), mutex.clone(), io.clone());
            io.r#async(async move {
                let _d = d;
                let _guard = m.lock_uncancelable().await;
                let _ = locked_tx.send(());
                let _ = io2.sleep(Timeout::after(Duration::from_secs(3_600))).await;
            })
        },
        {
            // Queued behind the holder.
            let (d, m) = (Dropped(dropped.clone()), mutex.clone());
            io.r#async(async move {
                let _d = d;
                let _ = locked_rx.await;
                let _ = m.lock().await;
            })
        },
        {
            let (d, q) = (Dropped(dropped.clone()), queue.clone());
            io.r#async(async move {
                let _d = d;
                let _ = q.get_one().await;
            })
        },
    ];
    // A task blocked on joining the others.
    let d = Dropped(dropped.clone());
    io.r#async(async move {
        let _d = d;
        for h in blocked {
            h.await;
        }
    })
    .detach();
    // A blocking-pool job that finishes.
    let job = io.spawn_blocking(|| (0..1_000u64).sum::<u64>());
    assert_eq!(rt.block_on(job).expect("blocking job"), 499_500);
    6
}

fn main() {
    let cycles: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    for cycle in 0..cycles {
        let rt =
            Kqueue::init(InitOptions { n_threads: Some(2), ..Default::default() }).expect("init");
        if let Err(e) = echo_round(&rt) {
            eprintln!("cycle {cycle}: echo failed: {e}");
            std::process::exit(1);
        }
        let dropped = Arc::new(AtomicUsize::new(0));
        let expected = leave_blocked(&rt, &dropped);
        rt.deinit();
        let got = dropped.load(Ordering::SeqCst);
        if got != expected {
            eprintln!("cycle {cycle}: deinit dropped {got} of {expected} blocked futures");
            std::process::exit(1);
        }
    }
    println!("stress: {cycles} cycles of echo + blocked tasks + deinit passed");
}
