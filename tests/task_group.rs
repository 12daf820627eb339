//! `Group` and `Select`, ported from Zig's `std.Io` tests, plus cancellation propagation and
//! leftovers that own resources.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use kqio::time::{Duration, Timeout};
use kqio::{CancelProtection, Canceled, Group, InitOptions, IoRef, Kqueue, Select};

fn rt(n: usize) -> Kqueue {
    Kqueue::init(InitOptions { n_threads: Some(n), ..Default::default() }).expect("init")
}

fn secs(s: i64) -> Timeout {
    Timeout::after(Duration::from_secs(s))
}

#[test]
fn group_of_two_sums_with_async_and_with_concurrent() {
    let rt = rt(2);
    let io = rt.io();
    for concurrent in [false, true] {
        let a = Arc::new(AtomicUsize::new(0));
        let b = Arc::new(AtomicUsize::new(0));
        let group = Group::new();
        let (a2, b2) = (a.clone(), b.clone());
        let sum_a = async move {
            a2.store((1..10).sum(), Ordering::SeqCst);
            Ok(())
        };
        let sum_b = async move {
            b2.store((20..30).sum(), Ordering::SeqCst);
            Ok(())
        };
        if concurrent {
            group.concurrent(&*io, sum_a).unwrap();
            group.concurrent(&*io, sum_b).unwrap();
        } else {
            group.r#async(&*io, sum_a);
            group.r#async(&*io, sum_b);
        }
        rt.block_on(group.wait()).unwrap();
        assert_eq!((a.load(Ordering::SeqCst), b.load(Ordering::SeqCst)), (45, 245));
    }
}

#[test]
fn group_cancel_ends_sleepers_recancelers_and_protected_members() {
    let rt = rt(2);
    let io = rt.io();
    let finished = Arc::new(AtomicUsize::new(0));
    let group = Group::new();
    let started = Arc::new(AtomicUsize::new(0));
    let member = |kind: u8| {
        let io: IoRef = io.clone();
        let finished = finished.clone();
        let started = started.clone();
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
                    let r = io.sleep(Timeout::after(Duration::from_millis(50))).await;
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
    let began = Instant::now();
    rt.block_on(async {
        while started.load(Ordering::SeqCst) < 5 {
            io.yield_now().await;
        }
        group.cancel().await;
    });
    assert_eq!(finished.load(Ordering::SeqCst), 5, "all five finished");
    assert!(began.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(group.live(), 0);
}

#[test]
fn a_member_returning_canceled_does_not_fail_the_group() {
    let rt = rt(2);
    let io = rt.io();
    let group = Group::new();
    group.r#async(&*io, async { Err(Canceled) });
    assert_eq!(rt.block_on(group.wait()), Ok(()));
}

#[test]
fn a_long_sleeper_sees_canceled_after_group_cancel() {
    let rt = rt(2);
    let io = rt.io();
    let saw = Arc::new(AtomicUsize::new(0));
    let group = Group::new();
    let (io2, saw2) = (io.clone(), saw.clone());
    group
        .concurrent(&*io, async move {
            let r = io2.sleep(secs(300)).await;
            if r == Err(Canceled) {
                saw2.fetch_add(1, Ordering::SeqCst);
            }
            r
        })
        .unwrap();
    rt.block_on(async {
        io.yield_now().await;
        group.cancel().await
    });
    assert_eq!(saw.load(Ordering::SeqCst), 1);
}

#[test]
fn members_added_during_cancel_are_canceled_and_cancel_does_not_hang() {
    let rt = rt(2);
    let io = rt.io();
    let group = Arc::new(Group::new());
    let canceled = Arc::new(AtomicUsize::new(0));
    // A protected member that, while the group is being canceled, adds more sleepers.
    let (g, io2, c) = (group.clone(), io.clone(), canceled.clone());
    group
        .concurrent(&*io, async move {
            io2.swap_cancel_protection(CancelProtection::Blocked);
            let _ = io2.sleep(Timeout::after(Duration::from_millis(20))).await;
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
    rt.block_on(group.cancel());
    assert_eq!(canceled.load(Ordering::SeqCst), 10);
    assert_eq!(group.live(), 0);
}

#[test]
fn canceling_the_waiter_propagates_to_the_members() {
    let rt = rt(2);
    let io = rt.io();
    let saw = Arc::new(AtomicUsize::new(0));
    let (io2, saw2) = (io.clone(), saw.clone());
    let waiter = io.r#async(async move {
        let group = Group::new();
        for _ in 0..4 {
            let (io3, saw3) = (io2.clone(), saw2.clone());
            group.r#async(&*io2, async move {
                let r = io3.sleep(secs(100_000)).await;
                if r.is_err() {
                    saw3.fetch_add(1, Ordering::SeqCst);
                }
                r
            });
        }
        group.wait().await
    });
    let r = rt.block_on(async {
        for _ in 0..20 {
            io.yield_now().await;
        }
        waiter.cancel().await
    });
    assert_eq!(r, Err(Canceled));
    assert_eq!(saw.load(Ordering::SeqCst), 4);
}

#[test]
fn a_member_panic_is_re_raised_by_wait() {
    let rt = rt(2);
    let io = rt.io();
    let group = Group::new();
    group.r#async(&*io, async { panic!("member boom") });
    group.r#async(&*io, async { Ok(()) });
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.block_on(group.wait())))
        .expect_err("re-raised");
    assert_eq!(err.downcast_ref::<&str>(), Some(&"member boom"));
}

#[test]
fn a_long_lived_group_holds_only_its_live_members() {
    let rt = rt(2);
    let io = rt.io();
    let group = Group::new();
    for _ in 0..100 {
        for _ in 0..1000 {
            group.r#async(&*io, async { Ok(()) });
        }
        rt.block_on(group.wait()).unwrap();
        assert_eq!(group.live(), 0);
    }
}

#[derive(Debug, PartialEq)]
enum Msg {
    Fast(u32),
    Slow,
}

#[test]
fn select_first_result_wins_and_cancel_ends_the_sleeper() {
    let rt = rt(2);
    let io = rt.io();
    for _ in 0..1000 {
        let first = rt.block_on(async {
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
            let first = sel.wait().await.unwrap();
            assert_eq!(sel.cancel().await, Some(Msg::Slow), "the canceled sleeper's result");
            assert_eq!(sel.cancel().await, None);
            first
        });
        assert_eq!(first, Msg::Fast(1));
    }
}

#[test]
fn select_await_many_with_min_two() {
    let rt = rt(2);
    let io = rt.io();
    let got = rt.block_on(async {
        let sel = kqio::select();
        for i in 0..3u32 {
            sel.r#async(&*io, async move { Msg::Fast(i) });
        }
        let (a, b) = (io.clone(), io.clone());
        sel.concurrent(&*io, async move {
            let _ = a.sleep(secs(600)).await;
            Msg::Slow
        })
        .unwrap();
        let mut out = Vec::new();
        let n = sel.await_many(&mut out, 2, 10).await.unwrap();
        let _ = b;
        sel.cancel_discard().await;
        (n, out)
    });
    assert!(got.0 >= 2 && got.0 <= 3, "{got:?}");
    assert!(got.1.iter().all(|m| matches!(m, Msg::Fast(_))));
}

#[test]
fn select_zero_length_buffer_does_not_deadlock() {
    let rt = rt(1);
    let io = rt.io();
    rt.block_on(async {
        let sel = Select::new();
        let (a, b) = (io.clone(), io.clone());
        sel.r#async(&*io, async move { a.sleep(Timeout::after(Duration::from_nanos(1))).await });
        sel.r#async(&*io, async move { b.sleep(secs(600)).await });
        let mut out = Vec::new();
        assert_eq!(sel.await_many(&mut out, 1, 0).await, Ok(0));
        sel.cancel_discard().await;
    });
}

#[test]
fn select_cancel_with_no_members_gives_none() {
    let rt = rt(1);
    assert_eq!(rt.block_on(Select::<u8>::new().cancel()), None);
}

struct Owned(Arc<AtomicUsize>);

impl Drop for Owned {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn select_cancel_hands_back_every_leftover() {
    let rt = rt(2);
    let io = rt.io();
    let dropped = Arc::new(AtomicUsize::new(0));
    let leftovers = rt.block_on(async {
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
        n
    });
    assert_eq!(leftovers, 5);
    assert_eq!(dropped.load(Ordering::SeqCst), 5, "nothing leaked");
}
