//! `Group` (wait, cancel, many members, panics, cancellation forwarded) and `Select` (first
//! result, `await_many`, leftovers handed back).

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::FutureExt;
use kqio::time::{Duration, Timeout};
use kqio::{CancelProtection, Canceled, Group, IoRef, Select};

use crate::harness::Ctx;
use crate::util::panic_message;

differential!(group_select:
    group_wait_with_async_and_concurrent_members,
    group_wait_on_an_empty_group,
    group_cancel_ends_sleepers_recancelers_and_protected_members,
    group_member_returning_canceled_does_not_fail_it,
    group_members_added_during_cancel_are_canceled,
    group_waiter_canceled_propagates_to_members,
    group_member_panic_is_re_raised_by_wait,
    group_many_members_in_rounds,
    select_first_result_wins_and_cancel_ends_the_rest,
    select_await_many_with_a_minimum,
    select_zero_length_buffer_returns_at_once,
    select_cancel_with_no_members_gives_none,
    select_cancel_hands_back_every_leftover,
);

fn secs(s: i64) -> Timeout {
    Timeout::after(Duration::from_secs(s))
}

async fn group_wait_with_async_and_concurrent_members(t: Ctx) {
    let io = t.io;
    for concurrent in [false, true] {
        let sum = Arc::new(AtomicUsize::new(0));
        let group = Group::new();
        for i in 1..=10 {
            let (sum, io2) = (sum.clone(), io.clone());
            let member = async move {
                io2.yield_now().await;
                sum.fetch_add(i, Ordering::SeqCst);
                Ok(())
            };
            if concurrent {
                group.concurrent(&*io, member).unwrap();
            } else {
                group.r#async(&*io, member);
            }
        }
        assert_eq!(group.wait().await, Ok(()));
        assert_eq!(sum.load(Ordering::SeqCst), 55);
        assert_eq!(group.live(), 0);
    }
}

async fn group_wait_on_an_empty_group(t: Ctx) {
    let _ = t;
    let group = Group::new();
    assert_eq!(group.wait().await, Ok(()));
    group.cancel().await;
    assert_eq!(group.live(), 0);
}

async fn group_cancel_ends_sleepers_recancelers_and_protected_members(t: Ctx) {
    let io = t.io;
    let finished = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let group = Group::new();
    let member = |kind: u8| {
        let io: IoRef = io.clone();
        let (finished, started) = (finished.clone(), started.clone());
        async move {
            started.fetch_add(1, Ordering::SeqCst);
            let r = match kind {
                0 => io.sleep(secs(100_000)).await,
                1 => {
                    let r = io.sleep(secs(100_000)).await;
                    io.recancel();
                    r
                }
                _ => {
                    io.swap_cancel_protection(CancelProtection::Blocked);
                    let r = io.sleep(Timeout::after(Duration::from_millis(20))).await;
                    io.swap_cancel_protection(CancelProtection::Unblocked);
                    r
                }
            };
            finished.fetch_add(1, Ordering::SeqCst);
            r
        }
    };
    group.concurrent(&*io, member(0)).unwrap();
    group.concurrent(&*io, member(0)).unwrap();
    group.concurrent(&*io, member(1)).unwrap();
    group.concurrent(&*io, member(2)).unwrap();
    group.r#async(&*io, member(2));
    while started.load(Ordering::SeqCst) < 5 {
        io.yield_now().await;
    }
    group.cancel().await;
    assert_eq!(finished.load(Ordering::SeqCst), 5);
    assert_eq!(group.live(), 0);
}

async fn group_member_returning_canceled_does_not_fail_it(t: Ctx) {
    let io = t.io;
    let group = Group::new();
    group.r#async(&*io, async { Err(Canceled) });
    group.r#async(&*io, async { Ok(()) });
    assert_eq!(group.wait().await, Ok(()));
}

async fn group_members_added_during_cancel_are_canceled(t: Ctx) {
    let io = t.io;
    let group = Arc::new(Group::new());
    let canceled = Arc::new(AtomicUsize::new(0));
    let (g, io2, c) = (group.clone(), io.clone(), canceled.clone());
    group
        .concurrent(&*io, async move {
            io2.swap_cancel_protection(CancelProtection::Blocked);
            let _ = io2.sleep(Timeout::after(Duration::from_millis(10))).await;
            for _ in 0..10 {
                let (io3, c) = (io2.clone(), c.clone());
                g.r#async(&*io2, async move {
                    let r = io3.sleep(secs(100_000)).await;
                    if r.is_err() {
                        c.fetch_add(1, Ordering::SeqCst);
                    }
                    r
                });
            }
            Ok(())
        })
        .unwrap();
    group.cancel().await;
    assert_eq!(canceled.load(Ordering::SeqCst), 10);
    assert_eq!(group.live(), 0);
}

async fn group_waiter_canceled_propagates_to_members(t: Ctx) {
    let io = t.io;
    let saw = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let (io2, saw2, started2) = (io.clone(), saw.clone(), started.clone());
    let waiter = io.r#async(async move {
        let group = Group::new();
        for _ in 0..4 {
            let (io3, saw3, started3) = (io2.clone(), saw2.clone(), started2.clone());
            group.r#async(&*io2, async move {
                started3.fetch_add(1, Ordering::SeqCst);
                let r = io3.sleep(secs(100_000)).await;
                if r.is_err() {
                    saw3.fetch_add(1, Ordering::SeqCst);
                }
                r
            });
        }
        group.wait().await
    });
    while started.load(Ordering::SeqCst) < 4 {
        io.yield_now().await;
    }
    assert_eq!(waiter.cancel().await, Err(Canceled));
    assert_eq!(saw.load(Ordering::SeqCst), 4);
}

async fn group_member_panic_is_re_raised_by_wait(t: Ctx) {
    let io = t.io;
    let group = Group::new();
    group.r#async(&*io, async { panic!("member boom") });
    group.r#async(&*io, async { Ok(()) });
    let err = AssertUnwindSafe(group.wait()).catch_unwind().await.expect_err("re-raised");
    assert_eq!(panic_message(&*err), "member boom");
}

async fn group_many_members_in_rounds(t: Ctx) {
    let io = t.io;
    let group = Group::new();
    let n = Arc::new(AtomicUsize::new(0));
    for _ in 0..10 {
        for _ in 0..200 {
            let n = n.clone();
            group.r#async(&*io, async move {
                n.fetch_add(1, Ordering::Relaxed);
                Ok(())
            });
        }
        group.wait().await.unwrap();
        assert_eq!(group.live(), 0);
    }
    assert_eq!(n.load(Ordering::Relaxed), 2_000);
}

#[derive(Debug, PartialEq)]
enum Msg {
    Fast(u32),
    Slow,
}

async fn select_first_result_wins_and_cancel_ends_the_rest(t: Ctx) {
    let io = t.io;
    for _ in 0..20 {
        let sel = Select::new();
        let (a, b) = (io.clone(), io.clone());
        sel.concurrent(&*io, async move {
            let _ = a.sleep(secs(300)).await;
            Msg::Slow
        })
        .unwrap();
        sel.concurrent(&*io, async move {
            b.yield_now().await;
            Msg::Fast(1)
        })
        .unwrap();
        assert_eq!(sel.wait().await, Ok(Msg::Fast(1)));
        assert_eq!(sel.cancel().await, Some(Msg::Slow), "the canceled sleeper's result");
        assert_eq!(sel.cancel().await, None);
    }
}

async fn select_await_many_with_a_minimum(t: Ctx) {
    let io = t.io;
    let sel = kqio::select();
    for i in 0..3u32 {
        sel.r#async(&*io, async move { Msg::Fast(i) });
    }
    let a = io.clone();
    sel.concurrent(&*io, async move {
        let _ = a.sleep(secs(600)).await;
        Msg::Slow
    })
    .unwrap();
    let mut out = Vec::new();
    let n = sel.await_many(&mut out, 2, 10).await.unwrap();
    assert!((2..=3).contains(&n), "{n}");
    assert_eq!(out.len(), n);
    assert!(out.iter().all(|m| matches!(m, Msg::Fast(_))), "{out:?}");
    let mut rest = Vec::new();
    while let Some(m) = sel.cancel().await {
        rest.push(m);
    }
    // The third fast member may finish before or after the canceled sleeper.
    assert_eq!(out.len() + rest.len(), 4);
    assert_eq!(rest.iter().filter(|m| **m == Msg::Slow).count(), 1, "{rest:?}");
}

async fn select_zero_length_buffer_returns_at_once(t: Ctx) {
    let io = t.io;
    let sel = Select::new();
    let (a, b) = (io.clone(), io.clone());
    sel.r#async(&*io, async move { a.sleep(Timeout::after(Duration::from_nanos(1))).await });
    sel.r#async(&*io, async move { b.sleep(secs(600)).await });
    let mut out = Vec::new();
    assert_eq!(sel.await_many(&mut out, 1, 0).await, Ok(0));
    sel.cancel_discard().await;
    assert_eq!(sel.live(), 0);
}

async fn select_cancel_with_no_members_gives_none(t: Ctx) {
    let _ = t;
    assert_eq!(Select::<u8>::new().cancel().await, None);
}

struct Owned(Arc<AtomicUsize>);

impl Drop for Owned {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

async fn select_cancel_hands_back_every_leftover(t: Ctx) {
    let io = t.io;
    let dropped = Arc::new(AtomicUsize::new(0));
    let sel = Select::new();
    for _ in 0..5 {
        let d = dropped.clone();
        sel.r#async(&*io, async move { Owned(d) });
    }
    let mut n = 0;
    while let Some(owned) = sel.cancel().await {
        drop(owned);
        n += 1;
    }
    assert_eq!(n, 5);
    assert_eq!(dropped.load(Ordering::SeqCst), 5, "nothing leaked");
}
