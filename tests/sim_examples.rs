//! Same code, two worlds: the echo example's server function (`examples/echo.rs`, `serve`), the
//! one its `main` runs on `Kqueue`, runs unchanged on `kqio::sim` over a lossy, partitioned
//! network, and clients check every byte it echoes; the same server and clients also run on
//! `Kqueue` over loopback (`the_same_server_and_clients_run_on_kqueue`).
//!
//! The network: every link between hosts drops 5% of datagrams (TCP hides loss: the model turns
//! it into delay) and resets a connection on 1% of writes (an injected `ECONNRESET`); the server
//! is partitioned from two of the three clients for two seconds, mid-run, then healed. Clients
//! reconnect after a reset or a timeout and resend the chunk they were waiting for.

#[allow(dead_code)] // The example's `main` and its helpers are not used here.
#[path = "../examples/echo.rs"]
mod echo;
#[path = "common/lossy_net.rs"]
mod lossy_net;

use kqio::net::TcpStream;
use kqio::sim::{SimError, SimReport};
use kqio::time::{Duration, Timeout};
use kqio::IoRef;

const PORT: u16 = 7;
const CLIENTS: usize = 3;
const BYTES: usize = 20_000;

fn byte(client: usize, i: usize) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 8) ^ client.wrapping_mul(97)) as u8
}

/// What a client saw: bytes echoed and checked, and connections it had to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Outcome {
    checked: usize,
    connections: usize,
}

/// Sends `BYTES` bytes in chunks of seeded sizes, each checked when echoed; reconnects after any
/// failure and resends the chunk.
async fn client(io: IoRef, c: usize) -> Outcome {
    let addr = io.lookup("server", PORT).await.expect("the server's name resolves").addresses[0];
    client_of(io, c, addr).await
}

/// The client's work against the server at `addr`, on either backend.
async fn client_of(io: IoRef, c: usize, addr: std::net::SocketAddr) -> Outcome {
    let mut out = Outcome { checked: 0, connections: 0 };
    let mut stream: Option<TcpStream> = None;
    while out.checked < BYTES {
        let mut size = [0u8; 2];
        io.random(&mut size);
        let len = (1 + usize::from(u16::from_le_bytes(size)) % 3000).min(BYTES - out.checked);
        let chunk: Vec<u8> = (out.checked..out.checked + len).map(|i| byte(c, i)).collect();
        let s = match stream.take() {
            Some(s) => s,
            None => {
                let connect =
                    TcpStream::connect_timeout(&io, addr, Timeout::after(Duration::from_secs(5)));
                match connect.await {
                    Ok(s) => {
                        out.connections += 1;
                        s
                    }
                    Err(_) => {
                        io.sleep(Timeout::after(Duration::from_millis(50))).await.unwrap();
                        continue;
                    }
                }
            }
        };
        let round = async {
            s.write_all(&chunk).await?;
            let mut got = vec![0u8; len];
            s.read_exact(&mut got).await?;
            Ok::<_, std::io::Error>(got)
        };
        let deadline = Timeout::after(Duration::from_millis(500));
        // A reset or a timeout: a new connection resends the chunk.
        if let Ok(Ok(got)) = kqio::time::timeout(&*io, deadline, round).await {
            // Every byte echoed must be the byte sent: a wrong one is a bug, not a fault.
            assert_eq!(got, chunk, "client {c}: wrong bytes echoed at offset {}", out.checked);
            out.checked += len;
            stream = Some(s);
        }
    }
    out
}

/// One run of the world with `seed`: the outcomes and the report.
fn run(seed: u64) -> Result<(Vec<Outcome>, SimReport), SimError> {
    // The example's own server function, unchanged.
    let serve = |io, listener| async move {
        echo::serve(io, listener, Timeout::None).await.expect("serve");
    };
    lossy_net::run_partitioned(seed, PORT, CLIENTS, serve, client)
}

#[test]
fn echo_serves_unchanged_over_a_lossy_partitioned_network() {
    let mut reconnects = 0;
    let seeds = kqio::sim::run_seeds(50, |seed| {
        let (outcomes, report) = run(seed)?;
        for (c, o) in outcomes.iter().enumerate() {
            assert_eq!(o.checked, BYTES, "seed {seed}: client {c} checked every byte");
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

#[test]
fn echo_runs_replay_exactly() {
    for seed in [1, 2, 3] {
        let (a, ra) = run(seed).expect("first run");
        let (b, rb) = run(seed).expect("second run");
        assert_eq!(a, b, "seed {seed}: same outcomes");
        assert_eq!(ra.log_hash, rb.log_hash, "seed {seed}: same event log");
    }
    let (_, r1) = run(1).unwrap();
    let (_, r2) = run(2).unwrap();
    assert_ne!(r1.log_hash, r2.log_hash, "different seeds, different runs");
}

/// The other world: the same `serve` and the same client code on `Kqueue`, over loopback;
/// canceling the server's task ends it (`serve` takes a cancellation request as an interrupt).
#[test]
fn the_same_server_and_clients_run_on_kqueue() {
    let serve = |io, listener| echo::serve(io, listener, Timeout::None);
    let outcomes = lossy_net::run_on_loopback(CLIENTS, serve, client_of);
    for (c, o) in outcomes.iter().enumerate() {
        assert_eq!(o.checked, BYTES, "client {c} checked every byte");
        assert_eq!(o.connections, 1, "client {c}: loopback drops nothing, so one connection");
    }
}
