//! Signals: a signal sent to the process reaches every listener (two in one runtime, one in
//! another), a canceled wait consumes nothing, deliveries are not lost across many rounds, and
//! signals that cannot be handled are typed errors.

use kqio::signal::{Signal, Signals};
use kqio::time::{Duration, Timeout};
use kqio::{Canceled, InitOptions, Kqueue};

fn rt() -> Kqueue {
    Kqueue::init(InitOptions { n_threads: Some(2), ..Default::default() }).unwrap()
}

fn raise(sig: Signal) {
    if std::env::var_os("KQIO_TSAN").is_none() {
        // SAFETY: `kill` of our own pid with a signal that has a handler installed (the
        // listeners were made first); no memory is involved.
        assert_eq!(unsafe { libc::kill(libc::getpid(), sig.as_raw()) }, 0);
    } else {
        // Under ThreadSanitizer (`.ci/tsan` sets KQIO_TSAN), a signal for the process goes to
        // any thread, and TSan runs the handler only when that thread next enters a function
        // TSan intercepts: a thread blocked in a raw futex call (std's `Mutex`, `Condvar` and
        // `park`, which the test harness's main thread waits in) never does, and the delivery
        // hangs. So the signal goes to this thread, whose `pthread_kill` TSan intercepts and
        // follows with the handler.
        // SAFETY: as above, and `pthread_self` is this live thread.
        assert_eq!(unsafe { libc::pthread_kill(libc::pthread_self(), sig.as_raw()) }, 0);
    }
}

#[test]
fn a_signal_reaches_two_listeners_and_another_runtime() {
    let (rt1, rt2) = (rt(), rt());
    let (io1, io2) = (rt1.io(), rt2.io());
    let mut other = Signals::new(&io2, Signal::USER1).unwrap();
    rt1.block_on(async {
        let mut a = Signals::new(&io1, Signal::USER1).unwrap();
        let mut b = io1.signal(Signal::USER1).unwrap();
        let ta = io1.r#async(async move { a.recv().await });
        let tb = io1.r#async(async move { b.recv().await });
        raise(Signal::USER1);
        ta.await.unwrap();
        tb.await.unwrap();
    });
    rt2.block_on(other.recv()).unwrap();
}

#[test]
fn cancel_of_a_signal_wait_and_nothing_consumed() {
    let rt = rt();
    let io = rt.io();
    rt.block_on(async {
        let mut s = Signals::new(&io, Signal::USER2).unwrap();
        let waiter = io.r#async(async move {
            let r = s.recv().await;
            (r, s)
        });
        io.sleep(Timeout::after(Duration::from_millis(5))).await.unwrap();
        let (r, mut s) = waiter.cancel().await;
        assert!(Canceled::is_canceled(&r.unwrap_err()));
        raise(Signal::USER2);
        s.recv().await.unwrap();
    });
}

/// 200 rounds of raise-then-wait: each wait returns (no delivery is lost between a wait's
/// check and its sleep).
#[test]
fn no_delivery_lost_over_many_rounds() {
    let rt = rt();
    let io = rt.io();
    rt.block_on(async {
        let mut s = Signals::new(&io, Signal::HANGUP).unwrap();
        for _ in 0..200 {
            let raiser = io.r#async(async { raise(Signal::HANGUP) });
            s.recv().await.unwrap();
            raiser.await;
        }
    });
}

#[test]
fn signals_that_cannot_be_handled_are_invalid_input() {
    let rt = rt();
    let io = rt.io();
    for sig in [libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV, 0, -1, 10_000] {
        let err = Signals::new(&io, Signal::from_raw(sig)).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "signal {sig}");
    }
}

#[test]
fn a_listener_of_a_shut_down_runtime_ends_with_canceled() {
    let rt1 = rt();
    let mut s = Signals::new(&rt1.io(), Signal::WINDOW_CHANGE).unwrap();
    rt1.deinit();
    let rt2 = rt();
    let err = rt2.block_on(s.recv()).unwrap_err();
    assert!(Canceled::is_canceled(&err), "{err}");
}
