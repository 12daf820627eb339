//! Cancellation and descriptors of the fs layer on the blocking pool: an operation whose job
//! is still queued when its task is canceled does nothing and returns `Canceled` (the pool is
//! saturated with a gate, so "queued" is certain); a running open whose task is canceled is
//! interrupted and leaves no descriptor; an accepted write-behind is not
//! abandoned by a cancel; and no descriptor leaks over 10,000 open/close cycles or 1,000
//! cancels at random moments.
//!
//! Every test here takes `SERIAL`: descriptor counts are per process, so no other test of this
//! binary may open files meanwhile.

#[path = "common/serial.rs"]
mod serial;

mod fs_util;

use std::future::Future;
use std::pin::{pin, Pin};

use fs_util::{open_fds, rt_with_pool, Gate, Scratch};
use futures::io::AsyncWriteExt;
use kqio::fs::{CreateFlags, Dir, ErrorKind, OpenFlags, Permissions};

use serial::serial;

type Op = fn(Dir) -> Pin<Box<dyn Future<Output = kqio::fs::Result<()>> + Send>>;

/// Each operation has a visible effect if it runs; queued and canceled, none may happen.
#[test]
fn a_queued_operation_whose_task_is_canceled_does_nothing() {
    let _serial = serial();
    let rt = rt_with_pool(1, "fsqueued");
    let io = rt.io();
    let tmp = Scratch::new("cancel-queued");
    std::fs::write(tmp.join("keep"), b"original").unwrap();
    let ops: Vec<(&str, Op)> = vec![
        ("create_file", |d| {
            Box::pin(async move { d.create_file("new", CreateFlags::default()).await.map(drop) })
        }),
        ("create_dir", |d| Box::pin(async move { d.create_dir("newdir").await })),
        ("create_dir_path", |d| Box::pin(async move { d.create_dir_path("p/q").await.map(drop) })),
        ("write_file", |d| Box::pin(async move { d.write_file("keep", b"overwritten").await })),
        ("delete_file", |d| Box::pin(async move { d.delete_file("keep").await })),
        ("delete_tree", |d| Box::pin(async move { d.delete_tree("keep").await })),
        ("rename", |d| Box::pin(async move { d.rename("keep", &d, "moved").await })),
        ("symlink", |d| Box::pin(async move { d.symlink("keep", "sym").await })),
        ("hard_link", |d| Box::pin(async move { d.hard_link("keep", &d, "hard").await })),
        ("set_permissions", |d| {
            Box::pin(async move { d.set_permissions("keep", Permissions::from_mode(0o600)).await })
        }),
        ("truncating open", |d| {
            Box::pin(async move { d.create_file("keep", CreateFlags::default()).await.map(drop) })
        }),
    ];
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        let mode_before = dir.stat_file("keep").await.unwrap().permissions;
        // A file operation queued the same way.
        let file =
            std::sync::Arc::new(dir.open_file("keep", OpenFlags::read_write()).await.unwrap());
        for (name, op) in ops {
            let gate = Gate::new();
            let g = gate.clone();
            let blocker = io.spawn_blocking(move || g.wait());
            let (queued_tx, queued) = futures::channel::oneshot::channel::<()>();
            let task = io.r#async({
                let dir = dir.clone();
                async move {
                    let mut fut = op(dir);
                    // The first poll queues the job behind the gate.
                    assert!(futures::poll!(fut.as_mut()).is_pending());
                    queued_tx.send(()).unwrap();
                    fut.await
                }
            });
            queued.await.unwrap();
            let e = task.cancel().await.expect_err(name);
            assert_eq!(e.kind(), ErrorKind::Canceled, "{name}: {e}");
            assert!(e.is_canceled());
            gate.open();
            blocker.await.unwrap();
            // One thread, FIFO: this job runs after the canceled one would have.
            dir.stat().await.unwrap();
        }
        for (name, fut) in [
            ("write_at", {
                let f = file.clone();
                Box::pin(async move { f.write_all_at(b"CHANGED", 0).await })
                    as Pin<Box<dyn Future<Output = kqio::fs::Result<()>> + Send>>
            }),
            ("set_length", {
                let f = file.clone();
                Box::pin(async move { f.set_length(1).await })
            }),
        ] {
            let gate = Gate::new();
            let g = gate.clone();
            let blocker = io.spawn_blocking(move || g.wait());
            let (queued_tx, queued) = futures::channel::oneshot::channel::<()>();
            let task = io.r#async(async move {
                let mut fut = fut;
                assert!(futures::poll!(fut.as_mut()).is_pending());
                queued_tx.send(()).unwrap();
                fut.await
            });
            queued.await.unwrap();
            assert_eq!(task.cancel().await.unwrap_err().kind(), ErrorKind::Canceled, "{name}");
            gate.open();
            blocker.await.unwrap();
            dir.stat().await.unwrap();
        }
        assert_eq!(dir.stat_file("keep").await.unwrap().permissions, mode_before);
    });
    let mut left: Vec<_> =
        std::fs::read_dir(&tmp.path).unwrap().map(|e| e.unwrap().file_name()).collect();
    left.sort();
    assert_eq!(left, ["keep"], "a canceled operation ran");
    assert_eq!(std::fs::read(tmp.join("keep")).unwrap(), b"original");
}

/// A write the `AsyncWrite` implementation accepted is not abandoned when its task is canceled
/// during `flush`: the flush waits for it, and the request is delivered at the next
/// cancellation point.
#[test]
fn an_accepted_write_behind_survives_a_cancel() {
    let _serial = serial();
    let rt = rt_with_pool(1, "fswbcancel");
    let io = rt.io();
    let tmp = Scratch::new("cancel-write-behind");
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        let mut f = dir.create_file("wb", CreateFlags::default()).await.unwrap();
        let gate = Gate::new();
        let g = gate.clone();
        let blocker = io.spawn_blocking(move || g.wait());
        let (written_tx, written) = futures::channel::oneshot::channel::<()>();
        let (go_tx, go) = futures::channel::oneshot::channel::<()>();
        let (polled_tx, polled) = futures::channel::oneshot::channel::<()>();
        let task = io.r#async({
            let io = io.clone();
            async move {
                // The `AsyncWrite` method (the inherent `File::write` would wait for the job).
                assert_eq!(AsyncWriteExt::write(&mut f, b"accepted bytes").await.unwrap(), 14);
                written_tx.send(()).unwrap();
                go.await.unwrap(); // Not a cancellation point: the request stays pending.
                let mut flush = pin!(AsyncWriteExt::flush(&mut f));
                let first = futures::poll!(flush.as_mut());
                polled_tx.send(()).unwrap();
                let flushed = match first {
                    std::task::Poll::Ready(r) => r,
                    std::task::Poll::Pending => flush.await,
                };
                (flushed.map_err(|e| e.kind()), io.check_cancel())
            }
        });
        written.await.unwrap();
        let mut cancel = pin!(task.cancel());
        assert!(futures::poll!(cancel.as_mut()).is_pending(), "the request is made");
        go_tx.send(()).unwrap();
        polled.await.unwrap();
        gate.open();
        blocker.await.unwrap();
        let (flushed, after) = cancel.await;
        assert_eq!(flushed, Ok(()));
        assert_eq!(after, Err(kqio::Canceled), "the request is delivered afterwards");
        assert_eq!(dir.read_file("wb").await.unwrap(), b"accepted bytes");
    });
}

/// A running open whose task is canceled is interrupted: the open blocks on a FIFO with no
/// writer, so the cancel certainly comes while it runs (Linux's `/proc/self/task/*/syscall`
/// tells when the pool thread is inside `openat`); its thread is signaled, `openat` returns
/// `EINTR`, the job ends `Canceled` with no descriptor, and the pool's only thread is free.
#[cfg(target_os = "linux")]
#[test]
fn a_running_open_whose_task_is_canceled_is_interrupted() {
    let _serial = serial();
    let rt = rt_with_pool(1, "fsfifo");
    let io = rt.io();
    let tmp = Scratch::new("cancel-running-open");
    let fifo = tmp.join("fifo");
    let c = std::ffi::CString::new(fifo.clone().into_os_string().into_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path; `mkfifo` touches nothing else.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        let baseline = open_fds();
        let task = io.r#async({
            let dir = dir.clone();
            async move { dir.open_file("fifo", OpenFlags::default()).await.map(drop) }
        });
        fs_util::eventually("the pool thread blocks in openat", pool_thread_in_openat);
        let e = task.cancel().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Canceled);
        assert_eq!(open_fds(), baseline, "no descriptor from the interrupted open");
        // One pool thread: this runs only because the open no longer holds it.
        dir.stat().await.unwrap();
        assert_eq!(open_fds(), baseline);
    });
}

#[cfg(target_os = "linux")]
fn pool_thread_in_openat() -> bool {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return false };
    tasks.flatten().any(|t| {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        let syscall = std::fs::read_to_string(t.path().join("syscall")).unwrap_or_default();
        comm.starts_with("fsfifo-blocking")
            && syscall.split_whitespace().next() == Some(&libc::SYS_openat.to_string())
    })
}

/// 10,000 open/close cycles of files and directories leave no descriptor behind.
#[test]
fn no_descriptor_leaks_over_ten_thousand_open_close_cycles() {
    let _serial = serial();
    let rt = rt_with_pool(4, "fscycles");
    let io = rt.io();
    let tmp = Scratch::new("cancel-cycles");
    std::fs::write(tmp.join("f"), b"data").unwrap();
    std::fs::create_dir(tmp.join("d")).unwrap();
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        let baseline = open_fds();
        for i in 0..10_000 {
            match i % 4 {
                0 => drop(dir.open_file("f", OpenFlags::default()).await.unwrap()),
                1 => dir.open_file("f", OpenFlags::default()).await.unwrap().close().await.unwrap(),
                2 => drop(dir.open_dir("d", Default::default()).await.unwrap()),
                _ => {
                    // A directory listing dropped before its end.
                    let mut entries = dir.entries();
                    assert!(entries.next_entry().await.is_some());
                }
            }
        }
        assert_eq!(open_fds(), baseline);
        // Failed opens leak nothing either.
        for _ in 0..1000 {
            let e = dir.open_file("missing", OpenFlags::default()).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::NotFound);
        }
        assert_eq!(open_fds(), baseline);
    });
}

/// 1,000 opens canceled at different moments (queued, running or done): every outcome is
/// `Ok` or `Canceled`, and once the runtime is gone not one descriptor is left.
#[test]
fn no_descriptor_leaks_after_cancels() {
    let _serial = serial();
    let tmp = Scratch::new("cancel-races");
    std::fs::write(tmp.join("f"), b"data").unwrap();
    let before = open_fds();
    let rt = rt_with_pool(4, "fsraces");
    let io = rt.io();
    let (mut ok, mut canceled) = (0, 0);
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        for i in 0..1000 {
            let task = io.r#async({
                let dir = dir.clone();
                async move {
                    let f = dir.open_file("f", OpenFlags::default()).await?;
                    let mut buf = [0u8; 4];
                    f.read_at(&mut buf, 0).await?;
                    Ok::<_, kqio::fs::Error>(f)
                }
            });
            for _ in 0..(i % 7) {
                io.yield_now().await;
            }
            match task.cancel().await {
                Ok(f) => {
                    ok += 1;
                    drop(f);
                }
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::Canceled, "{e}");
                    canceled += 1;
                }
            }
        }
    });
    // `deinit` waits for the running jobs, whose results are dropped on their threads.
    rt.deinit();
    drop(io);
    assert_eq!(open_fds(), before, "{ok} completed, {canceled} canceled");
    assert!(canceled > 0, "no cancel landed in {} tries", ok + canceled);
}
