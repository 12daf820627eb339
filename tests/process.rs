//! Child processes: exit statuses, pipes (echo, a 10 MiB round trip through `cat`, 10 MiB on
//! both stdout and stderr without deadlock), kill, cancel of a wait, 1,000 concurrent children,
//! background reaping (no zombie left), and close-on-exec of every descriptor kqio makes.
//!
//! The tests run one at a time (a mutex): the zombie check looks at all children of the
//! process.

#[path = "common/serial.rs"]
mod serial;

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::io::AsyncReadExt;
use kqio::process::Command;
use kqio::time::Timeout;
use kqio::{Canceled, InitOptions, Kqueue};

use serial::serial;

fn rt() -> Kqueue {
    Kqueue::init(InitOptions { n_threads: Some(2), ..Default::default() }).unwrap()
}

/// Whether any child of this process is a zombie (exited, not reaped); does not reap it.
fn zombie_child() -> bool {
    // SAFETY: `waitid` writes into the zeroed `siginfo_t` we own; `WNOWAIT` leaves the child
    // unreaped, `WNOHANG` returns at once.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let rc =
            libc::waitid(libc::P_ALL, 0, &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT);
        rc == 0 && info.si_pid() != 0
    }
}

fn checksum(data: &[u8]) -> u64 {
    data.chunks(8).fold(0xcbf2_9ce4_8422_2325u64, |h, c| {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        (h ^ u64::from_le_bytes(w)).wrapping_mul(0x100_0000_01b3)
    })
}

#[test]
fn true_and_false_exit_statuses_and_echo_through_a_pipe() {
    let _s = serial();
    let rt = rt();
    let io = rt.io();
    rt.block_on(async {
        assert!(Command::new("true").status(&io).await.unwrap().success());
        let st = Command::new("false").status(&io).await.unwrap();
        assert_eq!(st.code(), Some(1));
        let out = Command::new("echo").args(["hello", "kqio"]).output(&io).await.unwrap();
        assert_eq!(out.stdout, b"hello kqio\n");
        let err = Command::new("/no/such/program").spawn(&io).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        assert!(kqio::process::executable_path(&*io).unwrap().is_absolute());
        assert_eq!(kqio::process::current_dir(&*io).unwrap(), std::env::current_dir().unwrap());
    });
}

#[test]
fn cat_round_trips_ten_mebibytes() {
    let _s = serial();
    let rt = rt();
    let io = rt.io();
    rt.block_on(async {
        let data: Vec<u8> =
            (0..10u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let want = checksum(&data);
        let mut child =
            Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn(&io).unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let writer = io.r#async(async move {
            stdin.write_all(&data).await.unwrap();
            // Dropped here: cat sees the end of its input.
        });
        let mut back = Vec::new();
        stdout.read_to_end(&mut back).await.unwrap();
        writer.await;
        assert_eq!(back.len(), 10 << 20);
        assert_eq!(checksum(&back), want);
        assert!(child.wait().await.unwrap().success());
    });
}

#[test]
fn output_collects_ten_mebibytes_from_both_pipes_without_deadlock() {
    let _s = serial();
    let rt = rt();
    let io = rt.io();
    let out = rt
        .block_on(
            Command::new("sh")
                .args(["-c", "head -c 10485760 /dev/zero; head -c 10485760 /dev/zero >&2"])
                .output(&io),
        )
        .unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), 10 << 20);
    assert_eq!(out.stderr.len(), 10 << 20);
}

#[test]
fn kill_shows_the_signal_and_a_canceled_wait_leaves_the_child_to_be_reaped() {
    let _s = serial();
    let rt = rt();
    let io = rt.io();
    rt.block_on(async {
        let mut child = Command::new("sleep").arg("1000").spawn(&io).unwrap();
        let pid = child.id();
        assert!(pid > 0);
        // Cancel a wait on it.
        let waiter = io.r#async(async move {
            let r = child.wait().await;
            (r, child)
        });
        io.sleep(Timeout::after(kqio::time::Duration::from_millis(20))).await.unwrap();
        let started = Instant::now();
        let (r, mut child) = waiter.cancel().await;
        assert!(Canceled::is_canceled(&r.unwrap_err()));
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(child.try_wait().unwrap().is_none(), "still running");
        child.kill().unwrap();
        let st = child.wait().await.unwrap();
        assert_eq!(st.signal(), Some(libc::SIGKILL));
        // Reaped: signaling it now is an error, not a signal to a reused pid.
        assert!(child.kill().is_err());
    });
}

#[test]
fn a_thousand_children_from_64_tasks_are_all_reaped() {
    let _s = serial();
    let rt = rt();
    let io = rt.io();
    rt.block_on(async {
        let tasks: Vec<_> = (0..64)
            .map(|t| {
                let io2 = io.clone();
                io.r#async(async move {
                    let n = 1000 / 64 + usize::from(t < 1000 % 64);
                    for _ in 0..n {
                        assert!(Command::new("true").status(&io2).await.unwrap().success());
                    }
                    n
                })
            })
            .collect();
        let mut total = 0;
        for t in tasks {
            total += t.await;
        }
        assert_eq!(total, 1000);
    });
    assert!(!zombie_child());
}

#[test]
fn dropped_children_are_reaped_in_the_background() {
    let _s = serial();
    let rt = rt();
    let io = rt.io();
    for _ in 0..20 {
        let child = Command::new("sh").args(["-c", "exit 3"]).spawn(&io).unwrap();
        drop(child);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // The children exit at their own pace; each is reaped when its exit is noticed.
        let busy = zombie_child() || rt.metrics().live_tasks > 0;
        if !busy {
            break;
        }
        assert!(Instant::now() < deadline, "a dropped child was left a zombie");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A child dropped unwaited whose runtime is shut down before it exits is still reaped when it
/// exits, with no later spawn to do it.
#[test]
fn children_of_a_runtime_shut_down_are_reaped_without_a_later_spawn() {
    let _s = serial();
    let (read, write) = std::io::pipe().unwrap();
    let rt = rt();
    let io = rt.io();
    // The child waits for the end of its stdin: it exits when the test closes `write`.
    let child = Command::new("sh").args(["-c", "read x"]).stdin(Stdio::from(read)).spawn(&io);
    let pid = child.unwrap().id(); // the handle is dropped here: reaping goes to the background
    rt.deinit(); // ... which ends here, the child still running
    assert!(!zombie_child());
    drop(write);
    let deadline = Instant::now() + Duration::from_secs(10);
    while zombie_child() || !gone(pid) {
        assert!(Instant::now() < deadline, "the orphan {pid} was not reaped");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether no process `pid` exists any more (not even as a zombie).
fn gone(pid: u32) -> bool {
    // SAFETY: `kill` with signal 0 only checks for the process.
    unsafe { libc::kill(pid as libc::pid_t, 0) != 0 }
}

/// The descriptors that are open now.
fn open_fds() -> Vec<i32> {
    (0..1024)
        // SAFETY: `fcntl(F_GETFD)` only queries the descriptor number.
        .filter(|&fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0)
        .collect()
}

#[test]
fn a_child_inherits_none_of_the_runtimes_descriptors() {
    let _s = serial();
    let before = open_fds();
    let rt = rt();
    let io = rt.io();
    rt.block_on(async {
        // Make descriptors of every kind kqio creates: the poller and waker (init), a
        // listener and connected sockets, a signal source, and pipes of another child.
        let l = kqio::net::TcpListener::bind(&io, "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let c = kqio::net::TcpStream::connect(&io, l.local_addr().unwrap()).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        let _signals = kqio::signal::Signals::new(&io, kqio::signal::Signal::USER2).unwrap();
        let mut other =
            Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn(&io).unwrap();
        let ours: Vec<i32> = open_fds().into_iter().filter(|fd| !before.contains(fd)).collect();
        assert!(ours.len() >= 6, "expected runtime descriptors, got {ours:?}");
        // The child checks each of our descriptor numbers with a shell builtin (no descriptor
        // of its own is opened for it).
        let script: String =
            ours.iter().map(|fd| format!("[ -e /dev/fd/{fd} ] && echo {fd};")).collect::<String>()
                + "true";
        let out = Command::new("sh").args(["-c", &script]).output(&io).await.unwrap();
        assert!(out.status.success());
        let leaked = String::from_utf8_lossy(&out.stdout);
        assert!(leaked.trim().is_empty(), "inherited: {leaked}");
        drop((c, s, l));
        other.kill().unwrap();
        other.wait().await.unwrap();
    });
}
