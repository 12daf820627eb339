//! The replicated key-value store of `service.rs` on `Kqueue`: three "hosts" (a leader and two
//! followers) as tasks on loopback, each with a data directory under a temporary directory; the
//! same code `tests/sim_kv.rs` runs on `kqio::sim` over crashes and network faults.
//!
//! ```text
//! cargo run --example kv                                  # the correct protocol
//! KQIO_KV_BUG=ack-before-sync cargo run --example kv      # the planted bug (see service.rs)
//! ```
//!
//! It writes from 8 clients, "crashes" the leader (drops its task: on a real kernel the page
//! cache keeps un-synced data, so only the simulator shows the planted bug), restarts it from its
//! log on a new port, reads every key back, inspects the three logs, and checks the guarantee.

#[path = "service.rs"]
mod kv;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use kqio::fs::Dir;
use kqio::net::TcpListener;
use kqio::time::Duration;
use kqio::{InitOptions, IoRef, Kqueue};

use kv::checker::{check_reads, check_replicas, value_of, History};

const CLIENTS: usize = 8;
const WRITES: u64 = 25;
const KEYS: u64 = 5;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = kv::KvOptions::from_env();
    let base = std::env::temp_dir().join(format!("kqio-kv-{}", std::process::id()));
    let rt = Kqueue::init(InitOptions::default())?;
    let io = rt.io();
    let result = rt.block_on(run(io.clone(), base.clone(), options));
    let _ = std::fs::remove_dir_all(&base);
    result
}

async fn open(io: &IoRef, path: &std::path::Path) -> Result<Dir, kqio::fs::Error> {
    let cwd = Dir::cwd(io);
    cwd.create_dir_path(path).await?;
    cwd.open_dir(path, Default::default()).await
}

async fn writes(io: IoRef, leader: SocketAddr, c: usize) -> History {
    let mut client = kv::Client::new(io, leader, Duration::SECOND);
    let mut history = History::default();
    for i in 0..WRITES {
        let (key, version) = (format!("c{c}/k{}", i % KEYS), i / KEYS + 1);
        if client.put(&key, version, &value_of(&key, version)).await.is_ok() {
            history.ack(&key, version);
        }
    }
    history
}

async fn run(
    io: IoRef,
    base: std::path::PathBuf,
    options: kv::KvOptions,
) -> Result<(), Box<dyn std::error::Error>> {
    let dirs = [base.join("leader"), base.join("follower1"), base.join("follower2")];
    let any: SocketAddr = "127.0.0.1:0".parse()?;
    let mut followers = Vec::new();
    let mut addrs = Vec::new();
    for d in &dirs[1..] {
        let listener = TcpListener::bind(&io, any).await?;
        addrs.push(listener.local_addr()?);
        let dir = open(&io, d).await?;
        followers.push(io.r#async(kv::follower(io.clone(), dir, listener)));
    }
    let addrs = [addrs[0], addrs[1]];
    let start_leader = |listener: TcpListener, dir: Dir| {
        io.r#async(kv::leader(io.clone(), dir, listener, addrs, options))
    };
    let listener = TcpListener::bind(&io, any).await?;
    let leader_addr = listener.local_addr()?;
    let leader = start_leader(listener, open(&io, &dirs[0]).await?);
    println!("kv: leader on {leader_addr}, followers on {} and {}", addrs[0], addrs[1]);

    let clients: Vec<_> =
        (0..CLIENTS).map(|c| io.r#async(writes(io.clone(), leader_addr, c))).collect();
    let mut history = History::default();
    for c in clients {
        history.merge(&c.await);
    }
    println!("kv: {CLIENTS} clients wrote; {} writes acknowledged", history.writes());

    // "Crash" the leader (its task and every task it started are dropped) and restart it from
    // its log on a new port.
    drop(leader);
    let listener = TcpListener::bind(&io, any).await?;
    let leader_addr = listener.local_addr()?;
    let leader = start_leader(listener, open(&io, &dirs[0]).await?);
    println!("kv: leader restarted from its log on {leader_addr}");

    let mut reads = BTreeMap::new();
    let mut client = kv::Client::new(io.clone(), leader_addr, Duration::SECOND);
    for (key, _) in history.iter() {
        reads.insert(key.to_owned(), client.get(key).await?);
    }
    check_reads(&history, &reads)?;
    println!("kv: every acknowledged write read back after the restart");

    drop(leader);
    drop(followers);
    let mut logs = Vec::new();
    for d in &dirs {
        logs.push(kv::durable_entries(&open(&io, d).await?).await?);
    }
    check_replicas(&history, [&logs[0], &logs[1], &logs[2]])?;
    println!(
        "kv: logs hold {}, {} and {} entries; every acknowledged write is on the leader and a \
         follower",
        logs[0].len(),
        logs[1].len(),
        logs[2].len()
    );
    Ok(())
}
