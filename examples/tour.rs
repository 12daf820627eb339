//! A tour of kqio: spawning, awaiting, cancelling, and waiting for a real descriptor.
//!
//! Run it with `cargo run --release --example tour`. Each step prints what happened. Every step
//! is ordered by events (channels, joins), never by timing, so each shows its point on every run;
//! `tests/tour.rs` runs [`run`] and checks each printed line.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Instant;

use kqio::kqueue::AsyncFd;
use kqio::{CancelProtection, Canceled, InitOptions, Kqueue};

#[allow(dead_code)] // `tests/tour.rs` includes this file for `run` only.
fn main() -> std::io::Result<()> {
    run(&mut std::io::stdout())
}

/// Runs the tour, writing one line per step (and a few indented remarks) to `out`.
pub fn run(out: &mut dyn Write) -> std::io::Result<()> {
    let rt = Kqueue::init(InitOptions { n_threads: Some(2), ..Default::default() })?;
    let io = rt.io();
    let handle = rt.handle();

    rt.block_on(async {
        // 1. Spawn and await (Zig `io.async` / `io.concurrent` / `future.await`).
        let a = io.r#async(async { (1..=10).sum::<u32>() });
        let b = io.concurrent(async { (20..=30).sum::<u32>() }).expect("a unit of concurrency");
        let (a, b) = (a.await, b.await);
        writeln!(out, "1. two tasks summed 1..=10 and 20..=30: {a} and {b}")?;

        // 2. Many tasks across the workers.
        let started = Instant::now();
        let handles: Vec<_> = (0..10_000u64).map(|i| io.r#async(async move { i * 2 })).collect();
        let mut total = 0;
        for h in handles {
            total += h.await;
        }
        writeln!(out, "2. 10,000 tasks returned a total of {total} in {:?}", started.elapsed())?;

        // 3. A readiness wait on a real descriptor: a task waits until the socket is readable,
        //    and this thread writes to the other end.
        let (reader, mut writer) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        let reader = AsyncFd::new(&handle, reader)?;
        let waiter = io.r#async(async move {
            let mut buf = [0u8; 32];
            let n = reader.read_with(|mut s| s.read(&mut buf)).await?;
            Ok::<_, std::io::Error>(String::from_utf8_lossy(&buf[..n]).into_owned())
        });
        writer.write_all(b"hello through the reactor")?;
        writeln!(out, "3. the task woke on readiness and read {:?}", waiter.await?)?;

        // 4. Cancel a task that waits forever on a descriptor nobody writes to: the wait is a
        //    cancellation point, so it returns `Canceled` and the task ends as its code decides.
        let (idle, _peer) = UnixStream::pair()?;
        idle.set_nonblocking(true)?;
        let idle = AsyncFd::new(&handle, idle)?;
        let stuck = io.r#async(async move { idle.readable().await });
        let started = Instant::now();
        let outcome = stuck.cancel().await;
        writeln!(
            out,
            "4. cancel of a task blocked on an fd returned {outcome:?} in {:?}",
            started.elapsed()
        )?;
        assert_eq!(outcome, Err(Canceled));

        // 5. Cancel protection: a protected region does not see the request; the first
        //    cancellation point after it does. The task blocks cancellation, then waits on a
        //    channel (not a cancellation point) until the request has certainly been made:
        //    `join!` polls `protected.cancel()` first, whose first poll makes the request, and
        //    only then polls the block that releases the task.
        let io2 = io.clone();
        let (tx, rx) = futures::channel::oneshot::channel::<()>();
        let protected = io.r#async(async move {
            io2.swap_cancel_protection(CancelProtection::Blocked);
            let _ = rx.await; // released only after the request has been made
            let inside = io2.check_cancel();
            io2.swap_cancel_protection(CancelProtection::Unblocked);
            let after = io2.check_cancel();
            (inside, after)
        });
        let ((inside, after), ()) = futures::join!(protected.cancel(), async {
            tx.send(()).expect("the task is waiting");
        });
        writeln!(out, "5. inside protection: {inside:?}; after it: {after:?}")?;

        // 6. A panic in a task is re-raised where its handle is awaited; the runtime carries on.
        //    (A quieter panic hook than the default for this step, so the output stays readable.)
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|info| eprintln!("   (panic hook: {info})")));
        let panicking = io.r#async(async { panic!("a task panicked on purpose") });
        let caught =
            futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(panicking)).await;
        std::panic::set_hook(default_hook);
        writeln!(out, "6. awaiting a panicking task re-raised its panic: {}", caught.is_err())?;
        writeln!(out, "   and the workers still run tasks: {}", io.r#async(async { "yes" }).await)?;
        Ok::<(), std::io::Error>(())
    })?;

    let started = Instant::now();
    rt.deinit();
    writeln!(out, "7. deinit joined the workers and closed the poller in {:?}", started.elapsed())?;
    Ok(())
}
