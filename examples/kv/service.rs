//! A small replicated key-value store written only against `IoRef`: the same code runs on
//! `Kqueue` (`cargo run --example kv`) and on `kqio::sim` (`tests/sim_kv.rs`), which finds the bug
//! that [`Bug::AckBeforeSync`] plants.
//!
//! # The protocol
//!
//! Three replicas: a fixed leader and two followers, each with a data directory ([`Dir`]) holding
//! a write-ahead log (`wal.rs`: checksummed records, `sync`ed).
//! - A client sends `Put { key, version, value }` to the leader. The leader appends the entry to
//!   its in-memory log and its log file (a log-writer task writes and `sync`s batches: group
//!   commit), and streams it to both followers.
//! - A follower appends what it receives to its own log, `sync`s it, and answers `Ack(count)`:
//!   the leader's first `count` entries are durable on it. The leader keeps one `Append` in
//!   flight per follower; entries arriving meanwhile form the next one (group commit there too). On each new connection the leader first
//!   sends its whole log (`Reset`), which the follower installs atomically (temporary file,
//!   `sync`, rename, directory `sync`), so a follower never diverges from the leader it follows.
//! - The leader answers `PutOk` once the entry is **durable on the leader and on at least one
//!   follower**. `Get` reads the leader's newest version of a key (possibly not yet
//!   acknowledged: reads are not linearizable).
//! - On start (and restart after a crash: the host closure runs again on its durable disk) a
//!   replica recovers its log: the longest prefix of whole records, torn tail cut off.
//!
//! # The guarantee
//!
//! Every acknowledged write is in the durable log of the leader and of at least one follower, so
//! it survives any single host crash (even one that loses the disk): the leader, restarted from
//! its own log, serves it, and a surviving follower still holds it. `checker.rs` checks exactly
//! that: reads after the faults see every acknowledged version (or a later one), and the
//! replicas' durable logs hold each acknowledged write on the leader and on a follower.
//!
//! Not provided: fail-over (while the leader is down, writes wait; clients time out and retry),
//! membership changes, log compaction. A client's retried `Put` may be logged twice (versions
//! make it idempotent).
//!
//! # The planted bug
//!
//! [`KvOptions::bug`] = `Some(`[`Bug::AckBeforeSync`]`)` (or `KQIO_KV_BUG=ack-before-sync` for the
//! example binary, [`KvOptions::from_env`]) makes the leader acknowledge once the entry is
//! *written* to its log file and durable on a follower, before the leader's `sync`: a leader crash
//! in that window loses an acknowledged write from the leader's log.

#![allow(dead_code)] // Each includer (example, tests, bench) uses its own part.

#[path = "checker.rs"]
pub mod checker;
#[path = "proto.rs"]
pub mod proto;
#[path = "wal.rs"]
pub mod wal;

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;

use futures::future::{select, Either};
use kqio::fs::Dir;
use kqio::net::{TcpListener, TcpStream};
use kqio::sync::{Condition, Mutex, MutexGuard};
use kqio::time::{Duration, Timeout};
use kqio::{Canceled, Group, IoRef};

use proto::{recv, send, Msg};
use wal::Entry;

/// A bug to plant (see the module docs, "The planted bug").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bug {
    /// The leader acknowledges a write before its own log `sync` has completed.
    AckBeforeSync,
}

/// The service's options.
#[derive(Debug, Clone, Copy, Default)]
pub struct KvOptions {
    /// A bug to plant; `None` (the default) runs the correct protocol.
    pub bug: Option<Bug>,
}

impl KvOptions {
    /// Options from the environment: `KQIO_KV_BUG=ack-before-sync` plants
    /// [`Bug::AckBeforeSync`].
    ///
    /// # Panics
    ///
    /// On another value of `KQIO_KV_BUG`.
    pub fn from_env() -> KvOptions {
        match std::env::var("KQIO_KV_BUG").as_deref() {
            Err(_) | Ok("") => KvOptions::default(),
            Ok("ack-before-sync") => KvOptions { bug: Some(Bug::AckBeforeSync) },
            Ok(other) => panic!("KQIO_KV_BUG={other:?}: the only bug is \"ack-before-sync\""),
        }
    }
}

/// How long the leader waits before reconnecting to a follower.
const RECONNECT: Duration = Duration::from_millis(100);

fn canceled(c: Canceled) -> io::Error {
    io::Error::from(c)
}

// --- the leader ---------------------------------------------------------------------------

struct State {
    /// The log, in memory (index = position).
    entries: Vec<Entry>,
    /// Each key's newest version and value among `entries`.
    map: BTreeMap<String, (u64, Vec<u8>)>,
    /// Entries written to the log file (not necessarily durable).
    written: usize,
    /// Entries durable in the log file.
    durable: usize,
    /// Entries durable on each follower (as it acknowledged on its current connection).
    acked: [usize; 2],
}

struct Leader {
    state: Mutex<State>,
    /// Signaled on every change (new entries, progress of the log or of a follower): the log
    /// writer and the replicators wait on it.
    changed: Condition,
    /// Signaled only when the commit point moves: the requests waiting for their
    /// acknowledgement wait on it (a wake per batch committed, not per change).
    commit: Condition,
    options: KvOptions,
}

impl Leader {
    /// Locks the state once `ready` holds, waiting on `condition`.
    async fn wait_until<'a>(
        &'a self,
        condition: &'a Condition,
        mut ready: impl FnMut(&State) -> bool,
    ) -> Result<MutexGuard<'a, State>, Canceled> {
        let mut g = self.state.lock().await?;
        while !ready(&g) {
            let (next, r) = condition.wait(g).await;
            g = next;
            r?;
        }
        Ok(g)
    }

    async fn update(&self, f: impl FnOnce(&mut State)) -> Result<(), Canceled> {
        let moved = {
            let mut g = self.state.lock().await?;
            let before = self.commit_point(&g);
            f(&mut g);
            self.commit_point(&g) > before
        };
        self.changed.broadcast();
        if moved {
            self.commit.broadcast();
        }
        Ok(())
    }

    /// How many entries may be acknowledged: those durable on the leader (with the planted
    /// bug: written) and on at least one follower.
    fn commit_point(&self, s: &State) -> usize {
        let on_follower = s.acked.iter().copied().max().unwrap_or(0);
        let local = match self.options.bug {
            None => s.durable,
            Some(Bug::AckBeforeSync) => s.written,
        };
        on_follower.min(local)
    }

    /// Writes and syncs the log in batches (group commit).
    async fn log_writer(&self, mut log: wal::Log) -> io::Result<()> {
        loop {
            let (batch, upto) = {
                let g = self
                    .wait_until(&self.changed, |s| s.written < s.entries.len())
                    .await
                    .map_err(canceled)?;
                (g.entries[g.written..].to_vec(), g.entries.len())
            };
            log.append(&batch).await?;
            self.update(|s| s.written = upto).await.map_err(canceled)?;
            log.sync().await?;
            self.update(|s| s.durable = upto).await.map_err(canceled)?;
        }
    }

    /// Keeps follower `i` (at `addr`) replicated, reconnecting after every failure.
    async fn replicate(&self, io: &IoRef, i: usize, addr: SocketAddr) -> Result<(), Canceled> {
        loop {
            // Any failure (a cancellation included, which the next await reports) reconnects.
            let _ = self.replicate_once(io, i, addr).await;
            self.update(|s| s.acked[i] = 0).await?;
            io.sleep(Timeout::after(RECONNECT)).await?;
        }
    }

    async fn replicate_once(&self, io: &IoRef, i: usize, addr: SocketAddr) -> io::Result<()> {
        let stream = TcpStream::connect_timeout(io, addr, Timeout::after(Duration::SECOND)).await?;
        stream.set_nodelay(true)?;
        let entries = {
            let mut g = self.state.lock().await.map_err(canceled)?;
            g.acked[i] = 0;
            g.entries.clone()
        };
        let mut sent = entries.len();
        send(&stream, &Msg::Reset { entries }).await?;
        let sender = async {
            loop {
                // One batch in flight: what arrives meanwhile goes in the next batch, so the
                // follower syncs once per batch, not once per entry.
                let batch = {
                    let ready = |s: &State| s.entries.len() > sent && s.acked[i] >= sent;
                    let g = self.wait_until(&self.changed, ready).await.map_err(canceled)?;
                    g.entries[sent..].to_vec()
                };
                send(&stream, &Msg::Append { first: sent as u64, entries: batch.clone() }).await?;
                sent += batch.len();
            }
        };
        let acks = async {
            loop {
                match recv(&stream).await? {
                    Some(Msg::Ack { count }) => {
                        self.update(|s| s.acked[i] = count as usize).await.map_err(canceled)?
                    }
                    Some(other) => return Err(unexpected(&other)),
                    None => return Err(io::ErrorKind::UnexpectedEof.into()),
                }
            }
        };
        let r = match select(pin!(sender), pin!(acks)).await {
            Either::Left((r, _)) | Either::Right((r, _)) => r,
        };
        r
    }

    /// Answers one client connection's requests in order.
    async fn serve_client(&self, stream: TcpStream) -> io::Result<()> {
        stream.set_nodelay(true)?;
        while let Some(msg) = recv(&stream).await? {
            match msg {
                Msg::Put { id, entry } => {
                    let count = {
                        let mut g = self.state.lock().await.map_err(canceled)?;
                        let newer = g.map.get(&entry.key).is_none_or(|(v, _)| *v < entry.version);
                        if newer {
                            g.map.insert(entry.key.clone(), (entry.version, entry.value.clone()));
                        }
                        g.entries.push(entry);
                        g.entries.len()
                    };
                    self.changed.broadcast();
                    let committed = |s: &State| self.commit_point(s) >= count;
                    drop(self.wait_until(&self.commit, committed).await.map_err(canceled)?);
                    send(&stream, &Msg::PutOk { id }).await?;
                }
                Msg::Get { id, key } => {
                    let found = self.state.lock().await.map_err(canceled)?.map.get(&key).cloned();
                    send(&stream, &Msg::GetOk { id, found }).await?;
                }
                other => return Err(unexpected(&other)),
            }
        }
        Ok(())
    }
}

fn unexpected(msg: &Msg) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("kv: unexpected message {msg:?}"))
}

/// Runs the leader: recovers its log in `dir`, replicates to the followers at `followers`, and
/// serves clients on `listener`. Returns only on an error of the log or the listener (or when
/// canceled); dropping its future stops every task it started.
///
/// # Errors
///
/// The log could not be opened, written or synced; `accept` failed.
pub async fn leader(
    io: IoRef,
    dir: Dir,
    listener: TcpListener,
    followers: [SocketAddr; 2],
    options: KvOptions,
) -> io::Result<()> {
    let (log, entries) = wal::open(&dir).await?;
    let mut map = BTreeMap::new();
    for e in &entries {
        let newer = map.get(&e.key).is_none_or(|(v, _): &(u64, Vec<u8>)| *v < e.version);
        if newer {
            map.insert(e.key.clone(), (e.version, e.value.clone()));
        }
    }
    let n = entries.len();
    let state = State { entries, map, written: n, durable: n, acked: [0, 0] };
    let (changed, commit) = (Condition::new(), Condition::new());
    let me = Arc::new(Leader { state: Mutex::new(state), changed, commit, options });
    let tasks = Group::new();
    let (errors, failed) =
        (Arc::new(std::sync::Mutex::new(None)), Arc::new(kqio::sync::Event::new()));
    {
        let (me, errors, failed) = (me.clone(), errors.clone(), failed.clone());
        tasks.r#async(&*io, async move {
            let e = me.log_writer(log).await.unwrap_err();
            *errors.lock().unwrap() = Some(e);
            failed.set();
            Ok(())
        });
    }
    for (i, addr) in followers.into_iter().enumerate() {
        let (me, io2) = (me.clone(), io.clone());
        tasks.r#async(&*io, async move { me.replicate(&io2, i, addr).await });
    }
    loop {
        let accepted = {
            let accept = pin!(listener.accept());
            match select(accept, pin!(failed.wait())).await {
                Either::Left((a, _)) => a,
                Either::Right(_) => break,
            }
        };
        let (stream, _) = accepted?;
        let me = me.clone();
        tasks.r#async(&*io, async move {
            let _ = me.serve_client(stream).await;
            Ok(())
        });
    }
    let e = errors.lock().unwrap().take();
    Err(e.unwrap_or_else(|| io::Error::other("kv: the log writer stopped")))
}

// --- a follower ---------------------------------------------------------------------------

struct Store {
    log: wal::Log,
    /// Entries in the log.
    count: u64,
    /// The newest connection's number: only it may change the log.
    generation: u64,
}

/// Runs a follower: recovers its log in `dir` and applies what the leader sends on connections
/// accepted from `listener` (a newer connection supersedes older ones). Returns only on an error
/// of the log or the listener (or when canceled).
///
/// # Errors
///
/// The log could not be opened; `accept` failed.
pub async fn follower(io: IoRef, dir: Dir, listener: TcpListener) -> io::Result<()> {
    let (log, entries) = wal::open(&dir).await?;
    let store = Arc::new(Mutex::new(Store { log, count: entries.len() as u64, generation: 0 }));
    let connections = Group::new();
    loop {
        let (stream, _) = listener.accept().await?;
        let generation = {
            let mut g = store.lock().await.map_err(canceled)?;
            g.generation += 1;
            g.generation
        };
        let (store, dir) = (store.clone(), dir.clone());
        connections.r#async(&*io, async move {
            let _ = follow(&dir, &store, stream, generation).await;
            Ok(())
        });
    }
}

async fn follow(dir: &Dir, store: &Mutex<Store>, stream: TcpStream, gen: u64) -> io::Result<()> {
    stream.set_nodelay(true)?;
    while let Some(msg) = recv(&stream).await? {
        let count = {
            let mut g = store.lock().await.map_err(canceled)?;
            if g.generation != gen {
                return Ok(()); // A newer leader connection owns the log.
            }
            match msg {
                Msg::Reset { entries } => {
                    g.log = wal::replace(dir, &entries).await?;
                    g.count = entries.len() as u64;
                }
                Msg::Append { first, entries } if first == g.count => {
                    g.log.append(&entries).await?;
                    g.log.sync().await?;
                    g.count += entries.len() as u64;
                }
                other => return Err(unexpected(&other)),
            }
            g.count
        };
        send(&stream, &Msg::Ack { count }).await?;
    }
    Ok(())
}

/// Reads the durable log a replica left in `dir` (for inspection after a crash), without
/// changing it.
///
/// # Errors
///
/// The log could not be read.
pub async fn durable_entries(dir: &Dir) -> io::Result<Vec<Entry>> {
    wal::read(dir).await
}

// --- a client -----------------------------------------------------------------------------

/// A client of the leader: one connection (made on first use and after any failure), one request
/// at a time, each bounded by a timeout.
pub struct Client {
    io: IoRef,
    addr: SocketAddr,
    timeout: Duration,
    stream: Option<TcpStream>,
    next_id: u64,
}

impl Client {
    /// A client of the leader at `addr`; each request gives up after `timeout`.
    pub fn new(io: IoRef, addr: SocketAddr, timeout: Duration) -> Client {
        Client { io, addr, timeout, stream: None, next_id: 0 }
    }

    async fn call(&mut self, msg: Msg) -> io::Result<Msg> {
        let (io, timeout) = (self.io.clone(), Timeout::after(self.timeout));
        let r = kqio::time::timeout(&*io, timeout, self.call_inner(msg)).await;
        let r = r.unwrap_or_else(|elapsed| Err(elapsed.into()));
        if r.is_err() {
            self.stream = None; // A late answer must not be taken for the next request's.
        }
        r
    }

    async fn call_inner(&mut self, msg: Msg) -> io::Result<Msg> {
        if self.stream.is_none() {
            let s = TcpStream::connect(&self.io, self.addr).await?;
            s.set_nodelay(true)?;
            self.stream = Some(s);
        }
        let stream = self.stream.as_ref().expect("connected above");
        send(stream, &msg).await?;
        recv(stream).await?.ok_or_else(|| io::ErrorKind::UnexpectedEof.into())
    }

    /// Writes `key` = `value` at `version`: `Ok` once the leader acknowledged it (see the
    /// guarantee in the module docs).
    ///
    /// # Errors
    ///
    /// The request timed out or its connection failed: the write may or may not have happened.
    pub async fn put(&mut self, key: &str, version: u64, value: &[u8]) -> io::Result<()> {
        self.next_id += 1;
        let id = self.next_id;
        let entry = Entry { key: key.to_owned(), version, value: value.to_vec() };
        match self.call(Msg::Put { id, entry }).await? {
            Msg::PutOk { id: got } if got == id => Ok(()),
            other => {
                self.stream = None;
                Err(unexpected(&other))
            }
        }
    }

    /// Reads `key`: its newest version and value on the leader.
    ///
    /// # Errors
    ///
    /// The request timed out or its connection failed.
    pub async fn get(&mut self, key: &str) -> io::Result<Option<(u64, Vec<u8>)>> {
        self.next_id += 1;
        let id = self.next_id;
        match self.call(Msg::Get { id, key: key.to_owned() }).await? {
            Msg::GetOk { id: got, found } if got == id => Ok(found),
            other => {
                self.stream = None;
                Err(unexpected(&other))
            }
        }
    }
}
