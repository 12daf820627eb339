//! The simulator's deadlock report names, for each blocked task, where it was spawned and what
//! it waits on in the simulated world: a TCP read across a partition that never heals, an
//! accept, a write to a peer that never reads, a UDP receive, a Unix stream read, a file lock
//! held by a task that is itself blocked, a process that never exits, a signal that never comes.
//! A connect (which a partition ends with a timeout, so never a deadlock) is checked in a task
//! dump instead.
//!
//! Every world runs through `check_replay` (twice under `KQIO_SIM_CHECK_REPLAY=1`, comparing the
//! event logs and outputs). A deadlock's report is left out of the comparison of two runs (its
//! tasks' `TaskInfo` ids and wait addresses are the process's, another in each run): the runs
//! are compared by their event logs and the blocked tasks' ids, hosts and names in the world.

#[path = "common/unequal.rs"]
mod unequal;

use std::net::SocketAddr;
use std::sync::Arc;

use kqio::fs::{Dir, Lock, OpenFlags};
use kqio::net::{TcpListener, TcpStream, UdpSocket, UnixStream};
use kqio::process::Command;
use kqio::signal::{Signal, Signals};
use kqio::sim::{check_replay, BlockedTask, Sim, SimError, SimOptions};
use kqio::sync::Event;
use kqio::time::{Duration, Timeout};
use kqio::{IoRef, WaitingOn};
use unequal::Unequal;

const PORT: u16 = 7000;

fn options(seed: u64) -> SimOptions {
    SimOptions { seed, ..Default::default() }
}

/// What two runs of a deadlock must agree on: each blocked task's id in the world, its host's
/// name and its own name.
type Comparable = Vec<(u64, String, Option<String>)>;

/// The blocked tasks of a deadlock and the error's text (every task on its own line), left out
/// of the comparison of two runs; and the parts of them two runs are compared by.
fn deadlock(sim: &mut Sim) -> (Unequal<(Vec<BlockedTask>, String)>, Comparable) {
    match sim.run() {
        Err(e @ SimError::Deadlock { .. }) => {
            let text = e.to_string();
            let SimError::Deadlock { blocked, .. } = e else { unreachable!() };
            let comparable =
                blocked.iter().map(|t| (t.id, t.host_name.clone(), t.task.name.clone())).collect();
            (Unequal((blocked, text)), comparable)
        }
        Err(other) => panic!("not a deadlock: {other}"),
        Ok(report) => panic!("the run ended: {report:?}"),
    }
}

/// The one blocked task named `name`.
fn task<'a>(blocked: &'a [BlockedTask], name: &str) -> &'a BlockedTask {
    let mut found = blocked.iter().filter(|t| t.task.name.as_deref() == Some(name));
    let t = found.next().unwrap_or_else(|| panic!("no task {name:?} in {blocked:#?}"));
    assert!(found.next().is_none(), "two tasks {name:?}: {blocked:#?}");
    t
}

/// The line of this file that spawns the task named `name` (`.name("..").r#async(` on one line).
fn line_of(name: &str) -> u32 {
    line_with(&format!(".name(\"{name}\").r#async("))
}

/// The one line of this file that holds `marker`.
fn line_with(marker: &str) -> u32 {
    let lines = include_str!("sim_deadlock.rs").lines().enumerate();
    let mut found = lines.filter(|(_, l)| l.contains(marker));
    let (i, _) = found.next().unwrap_or_else(|| panic!("no line with {marker:?}"));
    assert!(found.next().is_none(), "two lines with {marker:?}");
    i as u32 + 1
}

/// `t` was spawned in this file where [`line_of`] its name says, waits on `on`, and the
/// report's text says so on the task's own line.
fn assert_blocked(t: &BlockedTask, on: WaitingOn, text: &str) {
    let line = line_of(t.task.name.as_deref().expect("a named task"));
    let at = t.task.spawned_at;
    assert!(at.file().ends_with("sim_deadlock.rs") && at.line() == line, "{t}: spawned at {at}");
    assert_eq!(t.task.waiting_on, Some(on), "{t}");
    let row = text.lines().find(|l| l.contains(&t.task.to_string())).expect(text);
    assert!(row.contains(&format!("sim_deadlock.rs:{line}:")), "{row}");
    assert!(row.contains(&format!("waiting on {on}")), "{row}");
}

#[test]
fn a_read_across_a_partition_that_never_heals_an_accept_and_a_full_write() {
    let (Unequal((blocked, text)), _) = check_replay(options(1), |sim| {
        // The server accepts two connections: it greets the first after 2 s (the partition holds
        // the greeting), never reads the second, and waits in accept for a third.
        let server = sim.host("server", |io: IoRef| async move {
            let any: SocketAddr = format!("0.0.0.0:{PORT}").parse().unwrap();
            let listener = TcpListener::bind(&io, any).await.unwrap();
            let (first, _) = listener.accept().await.unwrap();
            let (second, _) = listener.accept().await.unwrap();
            let io2 = io.clone();
            let acceptor = io.task().name("acceptor").r#async(async move {
                let _ = listener.accept().await;
                drop(second);
            });
            let greeter = io.task().name("greeter").r#async(async move {
                io2.sleep(Timeout::after(Duration::from_secs(2))).await.unwrap();
                first.write_all(b"hello").await.unwrap();
                std::future::pending::<()>().await;
            });
            greeter.detach();
            acceptor.await;
        });
        let addr = SocketAddr::new(sim.address(server), PORT);
        let client = sim.client("client", move |io: IoRef| async move {
            // The server's listener first.
            io.sleep(Timeout::after(Duration::from_millis(10))).await.unwrap();
            let greeted = TcpStream::connect(&io, addr).await.unwrap();
            io.sleep(Timeout::after(Duration::MILLISECOND)).await.unwrap();
            let ignored = TcpStream::connect(&io, addr).await.unwrap();
            let reader = io.task().name("reader").r#async(async move {
                let mut buf = [0u8; 5];
                greeted.read_exact(&mut buf).await
            });
            // Nobody reads `ignored`: its buffers fill, then the write waits for room forever.
            let chunk = vec![7u8; 64 * 1024];
            let writer = io.task().name("writer").r#async(async move {
                loop {
                    if let Err(e) = ignored.write_all(&chunk).await {
                        return e;
                    }
                }
            });
            let _ = writer.await;
            reader.await
        });
        sim.run_for(Duration::SECOND).unwrap();
        sim.partition(server, client.host());
        deadlock(sim)
    });

    assert_blocked(task(&blocked, "reader"), WaitingOn::Read, &text);
    assert_blocked(task(&blocked, "writer"), WaitingOn::Write, &text);
    assert_blocked(task(&blocked, "acceptor"), WaitingOn::Accept, &text);
    assert!(text.contains("waiting on read readiness"), "{text}");
    assert!(text.contains("waiting on write readiness"), "{text}");
    assert!(text.contains("waiting on accept (a connection to a listener)"), "{text}");
    // The hosts' root tasks, named after them, spawned where the test made the hosts, wait on
    // their joins.
    for (root, made) in
        [("server main", "sim.host(\"server\""), ("client main", "sim.client(\"client\"")]
    {
        let t = task(&blocked, root);
        assert_eq!(t.task.spawned_at.line(), line_with(made), "{t}");
        assert!(matches!(t.task.waiting_on, Some(WaitingOn::Join { .. })), "{t}");
    }
    let greeter = task(&blocked, "greeter");
    assert_eq!(greeter.task.spawned_at.line(), line_of("greeter"), "{greeter}");
    assert_eq!(greeter.task.waiting_on, None, "a bare pending records nothing: {greeter}");
}

#[test]
fn a_udp_receive_and_a_unix_stream_read_are_reported() {
    let (Unequal((blocked, text)), _) = check_replay(options(2), |sim| {
        let _c = sim.client("c", |io: IoRef| async move {
            let udp = UdpSocket::bind(&io, "127.0.0.1:0".parse().unwrap()).unwrap();
            let io2 = io.clone();
            let udp_task = io.task().name("udp").r#async(async move {
                let mut buf = [0u8; 16];
                udp.recv_from(&mut buf).await.map(|_| ())
            });
            let unix_task = io.task().name("unix").r#async(async move {
                let (a, _b) = UnixStream::pair(&io2).unwrap();
                let mut buf = [0u8; 16];
                a.read(&mut buf).await.map(|_| ())
            });
            (udp_task.await, unix_task.await)
        });
        deadlock(sim)
    });
    assert_blocked(task(&blocked, "udp"), WaitingOn::Read, &text);
    assert_blocked(task(&blocked, "unix"), WaitingOn::Read, &text);
}

#[test]
fn a_file_lock_held_by_a_blocked_task_is_reported() {
    let (Unequal((blocked, text)), _) = check_replay(options(3), |sim| {
        let _c = sim.client("c", |io: IoRef| async move {
            let cwd = Dir::cwd(&io);
            cwd.write_file("lock", b"").await.unwrap();
            let a = cwd.open_file("lock", OpenFlags::default()).await.unwrap();
            let b = cwd.open_file("lock", OpenFlags::default()).await.unwrap();
            let locked = Arc::new(Event::new());
            let never = Arc::new(Event::new());
            let (l2, n2) = (locked.clone(), never.clone());
            let holder = io.task().name("holder").r#async(async move {
                a.lock(Lock::Exclusive).await.unwrap();
                l2.set();
                let _ = n2.wait().await;
            });
            let waiter = io.task().name("lock-waiter").r#async(async move {
                locked.wait().await.unwrap();
                b.lock(Lock::Exclusive).await
            });
            let r = waiter.await;
            holder.await;
            drop(never);
            r
        });
        deadlock(sim)
    });
    assert_blocked(task(&blocked, "lock-waiter"), WaitingOn::FileLock, &text);
    assert!(text.contains("waiting on file lock (flock)"), "{text}");
    let holder = task(&blocked, "holder");
    assert_eq!(holder.task.spawned_at.line(), line_of("holder"), "{holder}");
    assert!(matches!(holder.task.waiting_on, Some(WaitingOn::Event { .. })), "{holder}");
}

#[test]
fn a_process_that_never_exits_and_a_signal_that_never_comes_are_reported() {
    let (Unequal((blocked, text)), _) = check_replay(options(4), |sim| {
        sim.program("stuck", |_io: IoRef, _args| async move {
            let never = Event::new();
            let _ = never.wait().await;
            0
        });
        let _c = sim.client("shell", |io: IoRef| async move {
            let mut child = Command::new("stuck").spawn(&io).unwrap();
            let mut hup = Signals::new(&io, Signal::HANGUP).unwrap();
            let parent = io.task().name("parent").r#async(async move {
                let _ = child.wait().await;
            });
            let listener = io.task().name("hup").r#async(async move {
                let _ = hup.recv().await;
            });
            parent.await;
            listener.await;
        });
        deadlock(sim)
    });
    let parent = task(&blocked, "parent");
    let Some(WaitingOn::Process { pid }) = parent.task.waiting_on else {
        panic!("{parent}");
    };
    assert!(pid >= 100, "simulated pids count from 100: {parent}");
    assert_blocked(parent, WaitingOn::Process { pid }, &text);
    assert!(text.contains(&format!("waiting on exit of process {pid}")), "{text}");
    let hup = WaitingOn::Signal { signal: Signal::HANGUP };
    assert_blocked(task(&blocked, "hup"), hup, &text);
    assert!(text.contains(&format!("waiting on delivery of signal {}", libc::SIGHUP)), "{text}");
    // The program's task is blocked too, on its event.
    assert!(blocked.iter().any(|t| matches!(t.task.waiting_on, Some(WaitingOn::Event { .. }))));
}

#[test]
fn a_connect_across_a_partition_shows_in_a_task_dump() {
    let waits = check_replay(options(5), |sim| {
        let server = sim.host("listener", |io: IoRef| async move {
            let any: SocketAddr = format!("0.0.0.0:{PORT}").parse().unwrap();
            let listener = TcpListener::bind(&io, any).await.unwrap();
            let _ = listener.accept().await;
        });
        let addr = SocketAddr::new(sim.address(server), PORT);
        let c = sim.client("dialer", move |io: IoRef| async move {
            let connecting = io.task().name("connecting").r#async({
                let io = io.clone();
                async move { TcpStream::connect(&io, addr).await.map(drop) }
            });
            io.sleep(Timeout::after(Duration::MILLISECOND)).await.unwrap();
            let dump = io.task_dump();
            let waits = dump
                .tasks
                .iter()
                .find(|t| t.name.as_deref() == Some("connecting"))
                .map(|t| t.waiting_on);
            connecting.cancel().await.ok();
            waits
        });
        sim.partition(server, c.host());
        sim.run().unwrap();
        c.output()
    });
    assert_eq!(waits, Some(Some(Some(WaitingOn::Connect))));
}
