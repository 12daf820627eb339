//! The simulator's speed on a real service (issue 14, "Speed"): the replicated key-value store of
//! `examples/kv/` with 3 server hosts (leader, two followers, each with its disk) and 64 client
//! hosts, for 60 simulated seconds. Prints simulated seconds per wall second and its ratio to the
//! goal (above 1,000x; TigerBeetle states up to 700x for its VOPR).
//!
//! The figure depends on the load, so two are printed: clients that write about once a second
//! (think time uniform in 0..2 s: 64 writes per simulated second, a lightly loaded service) and
//! clients that write about 20 times a second (0..100 ms: about 1,300 writes per second, each
//! logged, synced and replicated twice).
//!
//! `cargo bench --bench sim_kv` runs both; `-- light` or `-- heavy` runs one (for a profiler:
//! `valgrind --tool=callgrind target/release/deps/sim_kv-<hash> light`). Each prints the event
//! log's hash: a change meant only to make the simulator faster must leave it as it was.
//!
//! Measured (release, seed 1, median of 10 runs interleaved with the build before issue 14's
//! speed work, on 2 cores shared with other builds, so single runs vary up to 2x): light load
//! about 1,300 simulated s per wall s (1.3x the goal; 3,854 writes, 148,526 steps in about
//! 0.048 s; was about 970x before the speed work: timers in a heap, tokens in the event log,
//! hashed tables, sized buffers), heavy load about 140x (69,089 writes, 1.23 million steps in
//! about 0.43 s; was about 92x). Instructions (callgrind, deterministic): light 545M -> 391M,
//! heavy 4,841M -> 3,585M. What is left is spread thin: the
//! application's own futures, the stream model's reads and writes, the timer heap, malloc.

#[path = "../examples/kv/service.rs"]
mod kv;

use std::time::Instant;

use kqio::fs::Dir;
use kqio::net::TcpListener;
use kqio::sim::{Sim, SimOptions};
use kqio::time::{Clock, Duration, Timeout, Timestamp};
use kqio::IoRef;

const CLIENTS: usize = 64;
const SIMULATED: Duration = Duration::from_secs(60);
const PORT: u16 = 7000;
const GOAL: f64 = 1_000.0;

async fn server(io: IoRef, role: usize) {
    let dir = Dir::cwd(&io);
    let listener = TcpListener::bind(&io, format!("0.0.0.0:{PORT}").parse().unwrap()).await;
    let listener = listener.expect("bind");
    let r = if role == 0 {
        let f1 = io.lookup("follower1", PORT).await.unwrap().addresses[0];
        let f2 = io.lookup("follower2", PORT).await.unwrap().addresses[0];
        kv::leader(io, dir, listener, [f1, f2], kv::KvOptions::default()).await
    } else {
        kv::follower(io, dir, listener).await
    };
    panic!("server {role} stopped: {r:?}");
}

async fn client(io: IoRef, c: usize, think_ms: u64) -> u64 {
    let leader = io.lookup("leader", PORT).await.unwrap().addresses[0];
    let mut kv = kv::Client::new(io.clone(), leader, Duration::SECOND);
    let end = Timestamp::from_nanos(SIMULATED.as_nanos());
    let mut acked = 0;
    while io.now(Clock::Awake) < end {
        let mut b = [0u8; 8];
        io.random(&mut b);
        let think = Duration::from_millis((u64::from_le_bytes(b) % think_ms) as i64);
        io.sleep(Timeout::after(think)).await.unwrap();
        let key = format!("c{c}/k{}", acked % 8);
        let version = acked / 8 + 1;
        if kv.put(&key, version, &kv::checker::value_of(&key, version)).await.is_ok() {
            acked += 1;
        }
    }
    acked
}

fn measure(think_ms: u64) {
    let wall = Instant::now();
    let mut sim = Sim::new(SimOptions { seed: 1, ..Default::default() });
    for (role, name) in ["leader", "follower1", "follower2"].into_iter().enumerate() {
        sim.host(name, move |io| server(io, role));
    }
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| sim.client(&format!("client{c}"), move |io| client(io, c, think_ms)))
        .collect();
    let report = sim.run().expect("the bench runs to its end");
    let took = wall.elapsed().as_secs_f64();
    let writes: u64 = clients.iter().map(|c| c.output().unwrap()).sum();
    let speed = report.elapsed.as_secs_f64() / took;
    println!(
        "sim_kv: 3 servers, {CLIENTS} clients, think time 0..{think_ms} ms: {writes} acknowledged \
         writes in {:.1} simulated s, {} steps, {took:.3} s wall: {speed:.0} simulated s per wall \
         s ({:.2}x the goal of {GOAL:.0}x; log hash {:#x})",
        report.elapsed.as_secs_f64(),
        report.steps,
        speed / GOAL,
        report.log_hash,
    );
}

fn main() {
    // `cargo bench --bench sim_kv -- light` (or `heavy`) runs one of the two (for a profiler).
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let wants = |name: &str| only.is_empty() || only.iter().any(|a| a == name);
    if wants("light") {
        measure(2_000);
    }
    if wants("heavy") {
        measure(100);
    }
}
