//! Dropping or detaching a `JoinHandle` never panics, even when the finished task's output
//! panics in its destructor (async-task drops the output on the caller's stack); the same for
//! the results a `Select` drops. The output is still dropped (not leaked).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use kqio::{InitOptions, JoinHandle, Kqueue, Select};

fn rt() -> Kqueue {
    Kqueue::init(InitOptions { n_threads: Some(2), ..Default::default() }).expect("init")
}

/// Panics when dropped, after counting the drop.
struct Bomb(Arc<AtomicUsize>);

impl Drop for Bomb {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("a task output panicked in its Drop on purpose");
    }
}

/// A handle to a task that has finished with a `Bomb` output.
fn finished_bomb(rt: &Kqueue, drops: &Arc<AtomicUsize>) -> JoinHandle<Bomb> {
    let d = drops.clone();
    let h = rt.io().r#async(async move { Bomb(d) });
    while !h.is_finished() {
        std::thread::yield_now();
    }
    h
}

fn quiet_panics() {
    std::panic::set_hook(Box::new(|_| {}));
}

#[test]
fn dropping_or_detaching_a_finished_handle_never_panics() {
    quiet_panics();
    let rt = rt();
    let drops = Arc::new(AtomicUsize::new(0));

    let h = finished_bomb(&rt, &drops);
    assert!(catch_unwind(AssertUnwindSafe(|| drop(h))).is_ok(), "drop unwound");
    assert_eq!(drops.load(Ordering::SeqCst), 1, "the output was dropped");

    let h = finished_bomb(&rt, &drops);
    assert!(catch_unwind(AssertUnwindSafe(|| h.detach())).is_ok(), "detach unwound");
    assert_eq!(drops.load(Ordering::SeqCst), 2, "the output was dropped");

    // Inside a task too (the handle dropped on a worker).
    let d = drops.clone();
    let io = rt.io();
    let ok = rt.block_on(async move {
        let h = io.r#async(async move { Bomb(d) });
        let io2 = io.clone();
        io.r#async(async move {
            while !h.is_finished() {
                io2.yield_now().await;
            }
            drop(h);
            true
        })
        .await
    });
    assert!(ok);
    assert_eq!(drops.load(Ordering::SeqCst), 3, "the output was dropped");
    rt.deinit();
}

#[test]
fn dropping_a_handle_while_unwinding_does_not_abort() {
    quiet_panics();
    let rt = rt();
    let drops = Arc::new(AtomicUsize::new(0));
    let h = finished_bomb(&rt, &drops);
    // A panic that unwinds past the handle: its drop runs during the unwind, where a second
    // panic escaping a destructor would abort the process.
    let r = catch_unwind(AssertUnwindSafe(move || {
        let _h = h;
        panic!("the owner of the handle panicked");
    }));
    assert!(r.is_err());
    assert_eq!(drops.load(Ordering::SeqCst), 1, "the output was dropped");
    rt.deinit();
}

#[test]
fn select_drops_leftover_results_without_panicking() {
    quiet_panics();
    let rt = rt();
    let io = rt.io();
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let ok = rt.block_on(async move {
        // `cancel_discard` drops the results nobody took.
        let select: Select<Bomb> = Select::new();
        for _ in 0..3 {
            let d = d.clone();
            select.r#async(&*io, async move { Bomb(d) });
        }
        let discard = AssertUnwindSafe(select.cancel_discard());
        let discarded = futures::FutureExt::catch_unwind(discard).await.is_ok();

        // Dropping a select drops them too.
        let select: Select<Bomb> = Select::new();
        for _ in 0..3 {
            let d = d.clone();
            select.r#async(&*io, async move { Bomb(d) });
        }
        while select.live() > 0 {
            io.yield_now().await;
        }
        let dropped = catch_unwind(AssertUnwindSafe(move || drop(select))).is_ok();
        discarded && dropped
    });
    assert!(ok);
    assert_eq!(drops.load(Ordering::SeqCst), 6, "every result was dropped");
    rt.deinit();
}
