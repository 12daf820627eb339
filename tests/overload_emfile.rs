//! Accept under overload: a listener in a process limited to 64 descriptors (`RLIMIT_NOFILE`)
//! with 200 connections waiting. It accepts until the limit bites and holds those connections;
//! then a loop retrying `accept` at once for 10 s gets the typed `DescriptorsExhausted` every
//! time and uses at most 5 % of a core (no spin); once descriptors are freed, the next accept
//! succeeds within 1 s and every remaining connection is served.
//!
//! The 200 clients live in a child process (this test binary again, in a client mode chosen by
//! an environment variable), so that they do not count against the limit. Alone in its binary,
//! with one test: the limit is per process.

#[path = "common/rlimit.rs"]
mod rlimit;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kqio::net::{DescriptorsExhausted, ListenOptions, TcpListener};
use kqio::{InitOptions, Kqueue};

use rlimit::{cpu_time, nofile, set_nofile};

const CLIENT: &str = "KQIO_OVERLOAD_CLIENT_OF";
const READY: &str = "kqio-overload-clients-connected";
const CONNECTIONS: usize = 200;
const LIMIT: libc::rlim_t = 64;
const WINDOW: Duration = Duration::from_secs(10);

/// The client mode: connect `CONNECTIONS` times, say so, hold them until stdin closes.
fn clients(addr: SocketAddr) {
    let held: Vec<_> =
        (0..CONNECTIONS).map(|_| std::net::TcpStream::connect(addr).expect("connect")).collect();
    let mut out = std::io::stdout();
    writeln!(out, "{READY}").unwrap();
    out.flush().unwrap();
    let mut rest = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut rest);
    drop(held);
}

#[test]
fn accept_under_rlimit_64_with_200_connections() {
    if let Ok(addr) = std::env::var(CLIENT) {
        return clients(addr.parse().expect("an address"));
    }
    let rt = Kqueue::init(InitOptions { n_threads: Some(1), ..Default::default() }).unwrap();
    let io = rt.io();
    let options = ListenOptions::default().backlog(2 * CONNECTIONS as u32);
    let listener =
        rt.block_on(TcpListener::bind_with(&io, "127.0.0.1:0".parse().unwrap(), &options)).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["accept_under_rlimit_64_with_200_connections", "--exact", "--nocapture"])
        .args(["--test-threads=1"])
        .env(CLIENT, addr.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the clients");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        lines.by_ref().map_while(Result::ok).any(|l| l.contains(READY)),
        "the clients did not connect"
    );

    let original = nofile();
    set_nofile(libc::rlimit { rlim_cur: LIMIT, rlim_max: original.rlim_max });
    let (cpu, attempts, resumed_after, held) = rt.block_on(async {
        // Accept until the limit bites, holding every connection.
        let mut held = Vec::new();
        let first_err = loop {
            match listener.accept().await {
                Ok((stream, _)) => held.push(stream),
                Err(e) => break e,
            }
        };
        assert!(DescriptorsExhausted::is(&first_err), "{first_err}");
        let inner = first_err.get_ref().and_then(|e| e.downcast_ref::<DescriptorsExhausted>());
        assert_eq!(inner, Some(&DescriptorsExhausted { system: false }), "EMFILE, not ENFILE");
        assert!(!held.is_empty() && held.len() < CONNECTIONS, "held {}", held.len());

        // A loop that retries at once, for 10 s.
        let cpu_before = cpu_time();
        let started = Instant::now();
        let mut attempts = 0u32;
        while started.elapsed() < WINDOW {
            let err = listener.accept().await.map(|_| ()).unwrap_err();
            assert!(DescriptorsExhausted::is(&err), "{err}");
            attempts += 1;
        }
        let cpu = cpu_time() - cpu_before;

        // Free some descriptors: the next accept succeeds within 1 s.
        let held_count = held.len();
        held.truncate(held_count - 10);
        let freed = Instant::now();
        let (first, _) = listener.accept().await.expect("accept after descriptors were freed");
        let resumed_after = freed.elapsed();
        drop(first);
        // And every other waiting connection is served.
        let mut accepted = held_count + 1;
        while accepted < CONNECTIONS {
            drop(listener.accept().await.expect("accept"));
            accepted += 1;
        }
        (cpu, attempts, resumed_after, held_count)
    });
    set_nofile(original);
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success(), "the client process failed");

    eprintln!(
        "held {held} connections at the limit; {attempts} accept attempts in {WINDOW:?} used \
         {cpu:?} CPU ({:.2} % of a core); resumed {resumed_after:?} after descriptors were freed",
        cpu.as_secs_f64() / WINDOW.as_secs_f64() * 100.0
    );
    assert!(cpu <= WINDOW / 20, "the accept loop used {cpu:?} CPU in {WINDOW:?}: over 5 %");
    assert!(attempts >= 20, "the backoff is short enough to retry: {attempts}");
    assert!(attempts <= 250, "a retry loop must not spin: {attempts} attempts in {WINDOW:?}");
    assert!(resumed_after < Duration::from_secs(1), "resumed after {resumed_after:?}");
}
