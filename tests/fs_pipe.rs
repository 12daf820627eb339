//! Files that never finish a read: pipes, FIFOs and terminals are read through the reactor, so a
//! canceled read returns `Canceled` at once and loses no byte; work that can only block (`open`
//! of a FIFO with no peer, a read of standard input on the pool, a `flock` wait) is interrupted
//! on cancel; and `deinit` with any of them blocked forever returns within 200 ms, leaving the
//! process's descriptor and thread counts where they were.
//!
//! Every test takes `SERIAL`: descriptor and thread counts are per process, and one test
//! replaces descriptor 0.

#[path = "common/serial.rs"]
mod serial;
#[path = "common/threads.rs"]
mod threads;

mod fs_util;

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use fs_util::{open_fds, Scratch};
use kqio::fs::{Dir, ErrorKind, File, Lock, OpenFlags};
use kqio::{InitOptions, IoRef, Kqueue};

use serial::serial;
use threads::{threads_named, threads_named_settled};

/// The bound the issue sets for `deinit` with a blocked job; generous for a loaded machine
/// only in that the signal and the thread's exit take microseconds when nothing is stuck.
const DEINIT_BOUND: Duration = Duration::from_millis(200);

fn rt(name: &str) -> Kqueue {
    Kqueue::init(InitOptions {
        n_threads: Some(2),
        max_blocking_threads: 1,
        thread_name: name.to_owned(),
        ..Default::default()
    })
    .expect("init")
}

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path; `mkfifo` touches nothing else.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// A pseudo-terminal: the controller (master) and the path of its terminal.
fn openpty() -> (std::fs::File, String) {
    // SAFETY: `posix_openpt` makes a new descriptor; the flags are plain integers.
    let fd = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY) };
    assert!(fd >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
    // SAFETY: `fd` is a new descriptor nothing else owns.
    let master = unsafe { std::fs::File::from_raw_fd(fd) };
    // SAFETY: `grantpt`/`unlockpt` take the descriptor only; `ptsname` returns a static buffer
    // (this test holds `SERIAL`, so no other thread calls it), copied out at once.
    let name = unsafe {
        assert_eq!(libc::grantpt(fd), 0, "grantpt");
        assert_eq!(libc::unlockpt(fd), 0, "unlockpt");
        let p = libc::ptsname(fd);
        assert!(!p.is_null(), "ptsname");
        std::ffi::CStr::from_ptr(p).to_str().unwrap().to_owned()
    };
    (master, name)
}

/// Checks that `f` (which blocks a read or an open forever in a task and cancels it) and then
/// `deinit` leave no descriptor or thread behind, and that `deinit` is prompt.
fn with_runtime(name: &str, f: impl FnOnce(&Kqueue, &IoRef)) {
    let fds = open_fds();
    let threads = threads_named(name);
    assert_eq!(threads, threads.map(|_| 0));
    let rt = rt(name);
    let io = rt.io();
    f(&rt, &io);
    let t = Instant::now();
    rt.deinit();
    let took = t.elapsed();
    assert!(took < DEINIT_BOUND, "deinit took {took:?}");
    drop(io);
    assert_eq!(open_fds(), fds, "descriptors back to the baseline");
    let settled = threads.and_then(|n| threads_named_settled(name, n));
    assert_eq!(settled, threads, "threads back to the baseline");
}

/// Cancels `task` (blocked in a read) and checks it returns `Canceled` promptly.
async fn cancel_prompt<T: std::fmt::Debug>(task: kqio::JoinHandle<kqio::fs::Result<T>>) {
    let t = Instant::now();
    let e = task.cancel().await.expect_err("the read was blocked");
    assert_eq!(e.kind(), ErrorKind::Canceled, "{e}");
    assert!(t.elapsed() < Duration::from_secs(2), "cancel took {:?}", t.elapsed());
}

/// A read task that tells `started` once its first poll is pending.
fn blocked_read(
    io: &IoRef,
    f: std::sync::Arc<File>,
) -> kqio::JoinHandle<kqio::fs::Result<Vec<u8>>> {
    let (tx, rx) = std::sync::mpsc::channel();
    let task = io.r#async(async move {
        let mut buf = [0u8; 64];
        let n = {
            let mut read = std::pin::pin!(f.read(&mut buf));
            let first = futures::poll!(read.as_mut());
            tx.send(first.is_pending()).unwrap();
            match first {
                std::task::Poll::Ready(r) => r?,
                std::task::Poll::Pending => read.await?,
            }
        };
        Ok(buf[..n].to_vec())
    });
    assert!(rx.recv().unwrap(), "the read did not block");
    task
}

/// A FIFO whose writer is open and silent: the read blocks; cancel ends it, and the bytes
/// written afterwards all reach the next read (the canceled one consumed none).
#[test]
fn a_canceled_fifo_read_loses_no_byte() {
    let _s = serial();
    let tmp = Scratch::new("pipe-fifo");
    mkfifo(&tmp.join("fifo"));
    let fifo = tmp.join("fifo");
    let fifo_path = fifo.clone();
    with_runtime("kqfifo", |rt, io| {
        rt.block_on(async {
            let dir = tmp.dir(io).await;
            // The writer's open waits for a reader and ours for a writer: one thread each.
            let writer = std::thread::spawn(move || {
                std::fs::OpenOptions::new().write(true).open(fifo).unwrap()
            });
            let reader = dir.open_file("fifo", OpenFlags::default()).await.unwrap();
            let mut writer = writer.join().unwrap();
            let reader = std::sync::Arc::new(reader);
            for round in 0..20 {
                let task = blocked_read(io, reader.clone());
                // On the reactor: no pool thread sits in `read` for it.
                assert!(!pool_thread_in("kqfifo-blocking", Call::Read));
                cancel_prompt(task).await;
                assert_ne!(nonblocking(&fifo_path), Some(false), "the FIFO is a stream");
                let msg = format!("round {round}");
                std::io::Write::write_all(&mut writer, msg.as_bytes()).unwrap();
                let mut buf = [0u8; 64];
                let n = reader.read(&mut buf).await.unwrap();
                assert_eq!(&buf[..n], msg.as_bytes(), "a canceled read took bytes");
            }
            // Left blocked for `deinit`.
            blocked_read(io, reader.clone()).detach();
            drop(writer);
        });
    });
}

/// `File::pipe`: a read blocks until cancel, loses nothing, and sees the end once the writer
/// is gone; a write into a full pipe is canceled too.
#[test]
fn a_canceled_pipe_read_and_write() {
    let _s = serial();
    with_runtime("kqpipe", |rt, io| {
        rt.block_on(async {
            let (r, w) = File::pipe(io).unwrap();
            assert!(!r.is_tty());
            let r = std::sync::Arc::new(r);
            let task = blocked_read(io, r.clone());
            assert!(!pool_thread_in("kqpipe-blocking", Call::Read), "on the reactor");
            cancel_prompt(task).await;
            w.write_all(b"after the cancel").await.unwrap();
            let mut buf = [0u8; 64];
            let n = r.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"after the cancel");
            // Fill the pipe until a write blocks, then cancel that write.
            let w = std::sync::Arc::new(w);
            let w2 = w.clone();
            let (tx, rx) = std::sync::mpsc::channel();
            let writer = io.r#async(async move {
                let chunk = vec![7u8; 4096];
                let mut total = 0usize;
                loop {
                    let mut write = std::pin::pin!(w2.write(&chunk));
                    match futures::poll!(write.as_mut()) {
                        std::task::Poll::Ready(r) => total += r?,
                        std::task::Poll::Pending => {
                            tx.send(total).unwrap();
                            return write.await.map(|n| total + n);
                        }
                    }
                }
            });
            let filled = rx.recv().unwrap();
            assert!(filled > 0);
            // Canceled with nothing written, or (if the pipe had room for part of the chunk)
            // reporting the part it wrote: either way the count is exact.
            let total = match writer.cancel().await {
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::Canceled, "{e}");
                    filled
                }
                Ok(total) => {
                    assert!(total > filled, "a write that returned wrote something");
                    total
                }
            };
            // The pipe holds exactly what was reported written: drain that, then the end.
            let mut drained = 0;
            while drained < total {
                drained += r.read(&mut vec![0u8; 65536]).await.unwrap();
            }
            assert_eq!(drained, total);
            drop(w);
            assert_eq!(r.read(&mut buf).await.unwrap(), 0, "no byte beyond the count");
            blocked_read(io, std::sync::Arc::new(File::pipe(io).unwrap().0)).detach();
        });
    });
}

/// A terminal (the pty's terminal end, opened by path): a read blocks until cancel and the next
/// line typed reaches the next read.
#[test]
fn a_canceled_pty_read_loses_no_byte() {
    let _s = serial();
    let (mut master, tty) = openpty();
    with_runtime("kqpty", |rt, io| {
        rt.block_on(async {
            let term = Dir::cwd(io).open_file(&tty, OpenFlags::read_write()).await.unwrap();
            assert!(term.is_tty());
            let term = std::sync::Arc::new(term);
            let task = blocked_read(io, term.clone());
            assert!(!pool_thread_in("kqpty-blocking", Call::Read), "on the reactor");
            assert_ne!(nonblocking(Path::new(&tty)), Some(false), "the terminal is a stream");
            cancel_prompt(task).await;
            std::io::Write::write_all(&mut master, b"typed line\n").unwrap();
            let mut buf = [0u8; 64];
            let n = term.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"typed line\n");
            blocked_read(io, term.clone()).detach();
        });
    });
    drop(master);
}

/// Devices the poller may refuse (`/dev/null` and `/dev/zero` on Linux: `EPERM`) fall back to
/// the pool with their flags restored, and work as files.
#[test]
fn unpollable_devices_fall_back_to_the_pool() {
    let _s = serial();
    with_runtime("kqdev", |rt, io| {
        rt.block_on(async {
            let null = Dir::cwd(io).open_file("/dev/null", OpenFlags::read_write()).await.unwrap();
            null.write_all(b"into the void").await.unwrap();
            assert_eq!(null.read(&mut [0u8; 8]).await.unwrap(), 0);
            let zero = Dir::cwd(io).open_file("/dev/zero", OpenFlags::default()).await.unwrap();
            let mut buf = [1u8; 4096];
            assert_eq!(zero.read(&mut buf).await.unwrap(), 4096);
            assert!(buf.iter().all(|&b| b == 0));
        });
    });
}

/// `open` of a FIFO with no writer blocks on the pool; cancel interrupts it: `Canceled` at
/// once, no descriptor, and the pool's only thread is free for the next job.
#[test]
fn a_canceled_fifo_open_is_interrupted() {
    let _s = serial();
    let tmp = Scratch::new("pipe-open");
    mkfifo(&tmp.join("fifo"));
    with_runtime("kqopen", |rt, io| {
        rt.block_on(async {
            let dir = tmp.dir(io).await;
            let before = open_fds();
            for _ in 0..20 {
                let task = io.r#async({
                    let dir = dir.clone();
                    async move { dir.open_file("fifo", OpenFlags::default()).await }
                });
                wait_for_pool_thread("kqopen-blocking", Call::Open);
                cancel_prompt(task).await;
                // One pool thread: this runs only if the open was interrupted, not abandoned.
                let t = Instant::now();
                dir.stat().await.unwrap();
                assert!(t.elapsed() < Duration::from_secs(2), "the pool thread is still held");
                assert_eq!(open_fds(), before);
            }
            // Left blocked for `deinit`.
            let dir2 = dir.clone();
            io.r#async(async move { dir2.open_file("fifo", OpenFlags::default()).await }).detach();
            wait_for_pool_thread("kqopen-blocking", Call::Open);
        });
    });
}

/// A `flock` wait on a file someone else holds locked is interrupted by cancel.
#[test]
fn a_canceled_lock_wait_is_interrupted() {
    let _s = serial();
    let tmp = Scratch::new("pipe-lock");
    std::fs::write(tmp.join("f"), b"x").unwrap();
    let holder = std::fs::File::open(tmp.join("f")).unwrap();
    // SAFETY: `flock` on a descriptor we own.
    assert_eq!(unsafe { libc::flock(holder.as_raw_fd(), libc::LOCK_EX) }, 0);
    with_runtime("kqlock", |rt, io| {
        rt.block_on(async {
            let dir = tmp.dir(io).await;
            let f = std::sync::Arc::new(dir.open_file("f", OpenFlags::default()).await.unwrap());
            let f2 = f.clone();
            let task = io.r#async(async move { f2.lock(Lock::Exclusive).await });
            wait_for_pool_thread("kqlock-blocking", Call::Flock);
            cancel_prompt(task).await;
            assert!(!f.try_lock(Lock::Exclusive).await.unwrap(), "still held elsewhere");
            let f3 = f.clone();
            io.r#async(async move { f3.lock(Lock::Exclusive).await }).detach();
            wait_for_pool_thread("kqlock-blocking", Call::Flock);
        });
    });
    drop(holder);
}

/// Standard input replaced by a pipe with nothing in it: `File::stdin` reads on the pool, and a
/// canceled read is interrupted and consumes nothing.
#[test]
fn a_canceled_stdin_read_is_interrupted_and_loses_no_byte() {
    let _s = serial();
    let (r, w) = pipe();
    // SAFETY: `dup`/`dup2` on descriptors we own or that the process has; descriptor 0 is put
    // back below. No other test of this binary runs meanwhile (`SERIAL`), and the harness does
    // not read standard input.
    let saved = unsafe { libc::dup(0) };
    assert!(saved >= 0);
    assert_eq!(unsafe { libc::dup2(r.as_raw_fd(), 0) }, 0);
    drop(r);
    let mut w = std::fs::File::from(w);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        with_runtime("kqstd", |rt, io| {
            rt.block_on(async {
                let stdin = std::sync::Arc::new(File::stdin(io).unwrap());
                for round in 0..10 {
                    let task = blocked_read(io, stdin.clone());
                    wait_for_pool_thread("kqstd-blocking", Call::Read);
                    cancel_prompt(task).await;
                    let msg = format!("line {round}\n");
                    std::io::Write::write_all(&mut w, msg.as_bytes()).unwrap();
                    let mut buf = [0u8; 64];
                    let n = stdin.read(&mut buf).await.unwrap();
                    assert_eq!(&buf[..n], msg.as_bytes(), "a canceled read took bytes");
                }
                // Opened by path, standard input is read on the reactor only where the path
                // gives a description of its own (Linux reopens it): descriptor 0 never turns
                // non-blocking.
                let by_path = Dir::cwd(io).open_file("/dev/stdin", OpenFlags::default()).await;
                let by_path = by_path.unwrap();
                std::io::Write::write_all(&mut w, b"by path\n").unwrap();
                let mut buf = [0u8; 64];
                let n = by_path.read(&mut buf).await.unwrap();
                assert_eq!(&buf[..n], b"by path\n");
                // SAFETY: `fcntl` reads the flags of descriptor 0.
                let flags = unsafe { libc::fcntl(0, libc::F_GETFL) };
                assert_eq!(flags & libc::O_NONBLOCK, 0, "standard input made non-blocking");
                drop(by_path);
                blocked_read(io, stdin.clone()).detach();
                wait_for_pool_thread("kqstd-blocking", Call::Read);
            });
        });
    }));
    // SAFETY: puts the saved descriptor back as 0 and closes the copy.
    unsafe {
        libc::dup2(saved, 0);
        libc::close(saved);
    }
    drop(w);
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: two writable ints for `pipe`.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: new descriptors nothing else owns.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Waits until a pool thread named `name...` is blocked in system call `sysno` (Linux's
/// `/proc/self/task/*/syscall`), so that the cancel that follows certainly interrupts a running
/// job. Elsewhere the job may not have started yet when the cancel comes; the outcome checked
/// (`Canceled`, nothing lost, the thread free) is the same either way.
#[cfg(target_os = "linux")]
fn wait_for_pool_thread(name: &str, call: Call) {
    fs_util::eventually("a pool thread blocks in the system call", || pool_thread_in(name, call));
}

#[cfg(not(target_os = "linux"))]
fn wait_for_pool_thread(_name: &str, _call: Call) {}

/// Whether one of this process's descriptors open on `path` is non-blocking (Linux's
/// `/proc/self/fdinfo`); `None` where that cannot be seen.
fn nonblocking(path: &Path) -> Option<bool> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let flags = |e: &std::fs::DirEntry| -> Option<i64> {
        if std::fs::read_link(e.path()).ok()? != path {
            return None;
        }
        let info = std::fs::read_to_string(Path::new("/proc/self/fdinfo").join(e.file_name()));
        let flags = info.ok()?.lines().find_map(|l| l.strip_prefix("flags:"))?.trim().to_owned();
        i64::from_str_radix(&flags, 8).ok()
    };
    let fds = std::fs::read_dir("/proc/self/fd").ok()?;
    Some(fds.flatten().filter_map(|e| flags(&e)).any(|f| f & i64::from(libc::O_NONBLOCK) != 0))
}

/// Whether a thread named `name...` is in system call `call` now (Linux; elsewhere `false`).
fn pool_thread_in(name: &str, call: Call) -> bool {
    #[cfg(target_os = "linux")]
    {
        let sysno = match call {
            Call::Open => libc::SYS_openat,
            Call::Read => libc::SYS_read,
            Call::Flock => libc::SYS_flock,
        };
        std::fs::read_dir("/proc/self/task").unwrap().flatten().any(|t| {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            let syscall = std::fs::read_to_string(t.path().join("syscall")).unwrap_or_default();
            comm.starts_with(name) && syscall.split_whitespace().next() == Some(&sysno.to_string())
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (name, call);
        false
    }
}

/// The system call a pool thread is expected to block in.
#[derive(Clone, Copy)]
enum Call {
    Open,
    Read,
    Flock,
}
