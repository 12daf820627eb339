//! The examples of README's "Testing with the simulator", verbatim: they must compile and pass.

use kqio::net::{TcpListener, TcpStream};
use kqio::sim::{run_seeds, Sim, SimOptions};
// The second example: a world driven step by step, seeds looped over by hand.
use kqio::sim::{check_replay, seeds};
use kqio::time::{Duration, Timeout};
use kqio::IoRef;

// The code under test, written against `IoRef`: it runs unchanged on `Kqueue`.
async fn echo_server(io: IoRef) {
    let listener = TcpListener::bind(&io, "0.0.0.0:7000".parse().unwrap()).await.unwrap();
    loop {
        let (conn, _) = listener.accept().await.unwrap();
        io.r#async(async move {
            let mut buf = [0u8; 1024];
            loop {
                let n = match conn.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                if conn.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        })
        .detach();
    }
}

async fn exchange(io: &IoRef) -> std::io::Result<Vec<u8>> {
    let addr = io.lookup("server", 7000).await?.addresses[0];
    let conn = TcpStream::connect(io, addr).await?;
    conn.write_all(b"hello").await?;
    let mut reply = [0u8; 5];
    conn.read_exact(&mut reply).await?;
    Ok(reply.to_vec())
}

async fn echo_client(io: IoRef) -> Vec<u8> {
    // The server may not listen yet, or restart under us: try again.
    loop {
        match exchange(&io).await {
            Ok(reply) => return reply,
            Err(_) => io.sleep(Timeout::after(Duration::from_millis(10))).await.unwrap(),
        }
    }
}

#[test]
fn echo_works_on_every_seed() {
    // 100 seeds (KQIO_SIM_SEEDS=10000 for more; KQIO_SIM_SEED=n for one).
    run_seeds(100, |seed| {
        let mut sim = Sim::new(SimOptions { seed, ..Default::default() });
        let server = sim.host("server", echo_server);
        let client = sim.client("client", echo_client);
        // The server restarts somewhere in the first 2 ms: before, during or after the
        // exchange, as the seed's latencies fall.
        sim.restart_at(server, Duration::from_micros((seed % 20) as i64 * 100));
        let report = sim.run()?; // Err(Deadlock | StepLimit | TimeLimit | Panicked)
        assert_eq!(client.output().as_deref(), Some(&b"hello"[..]));
        Ok(report)
    });
}

#[test]
fn echo_works_across_a_restart_of_the_server() {
    for seed in seeds(0..20) {
        let reply = check_replay(SimOptions { seed, ..Default::default() }, |sim| {
            let server = sim.host("server", echo_server);
            let client = sim.client("client", echo_client);
            sim.run_for(Duration::from_micros(300)).unwrap();
            sim.crash(server);
            sim.restart(server);
            sim.run().unwrap();
            client.output()
        });
        assert_eq!(reply.as_deref(), Some(&b"hello"[..]), "seed {seed}");
    }
}
