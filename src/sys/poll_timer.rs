//! Waking the reactor's poller at a precise time.
//!
//! kqueue takes its timeout as a `timespec`, to the nanosecond, and mio passes a `Duration`
//! through unchanged. epoll takes whole milliseconds, and mio rounds a `Duration` *up*, so a
//! timer due between two milliseconds would wake the driver up to 1 ms after its deadline. On
//! Linux and Android a `timerfd` on the awake clock, registered with the poller, wakes it at the
//! exact time instead; everywhere else the timeout goes to the poller as it is.
//!
//! Ground rules:
//! 1. [`PollTimer::timeout`] maps the driver's wish ("wake me after `wait`") to the timeout handed
//!    to `mio::Poll::poll`. On kqueue systems it is the identity.
//! 2. On Linux, no wait, a zero wait and a whole number of milliseconds go to epoll as they are. A
//!    wait longer than [`NEAR`] goes to epoll rounded *down* to whole milliseconds: the driver
//!    wakes early, finds nothing due, and parks again for what is left, which is then near. A
//!    near wait arms the timer at its absolute deadline on the awake clock (skipped when that
//!    deadline is already armed) and gives epoll the wait rounded up, as a fallback. So a
//!    far-away timeout (a 30 s request timeout re-armed on every request, say) costs no
//!    `timerfd_settime`, and a near one costs at most one per park.
//! 3. The timer's event needs no read: `timerfd_settime` resets its expiry count, and mio's
//!    registration is edge-triggered. The reactor ignores the event's token: waking the poller is
//!    all it is for.
//! 4. The timer descriptor belongs to the reactor's driver and is closed with it.

use std::io;
use std::time::Duration;

/// Waits at most this long are timed by the precise timer; longer ones are first slept in whole
/// milliseconds (ground rule 2).
#[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
pub(crate) const NEAR: Duration = Duration::from_millis(4);

#[cfg(any(target_os = "linux", target_os = "android"))]
mod imp {
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::time::Duration;

    use mio::unix::SourceFd;
    use mio::{Interest, Registry, Token};

    use super::NEAR;

    const MS: Duration = Duration::from_millis(1);

    pub(crate) struct PollTimer {
        fd: OwnedFd,
        /// The absolute deadline (awake-clock ns) the timer is armed for, or `i64::MIN`.
        armed: i64,
    }

    impl PollTimer {
        pub(crate) fn new(registry: &Registry, token: Token) -> io::Result<PollTimer> {
            // `CLOCK_MONOTONIC` is the runtime's awake clock on Linux (`clock.rs`), the clock
            // every timer deadline is on.
            // SAFETY: `timerfd_create` takes no pointers; the flags are valid constants.
            let raw = unsafe {
                libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC)
            };
            if raw < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `raw` is a descriptor just returned to us, owned by nobody else.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            registry.register(&mut SourceFd(&fd.as_raw_fd()), token, Interest::READABLE)?;
            Ok(PollTimer { fd, armed: i64::MIN })
        }

        pub(crate) fn timeout(&mut self, wait: Option<Duration>) -> Option<Duration> {
            let wait = wait?;
            if wait.is_zero() || wait.subsec_nanos() % 1_000_000 == 0 {
                return Some(wait);
            }
            if wait > NEAR {
                return Some(Duration::from_millis(wait.as_millis() as u64));
            }
            let deadline = now_ns().saturating_add(wait.as_nanos() as i64);
            if deadline != self.armed && self.arm(deadline).is_ok() {
                self.armed = deadline;
            }
            // Whole milliseconds, rounded up: what epoll would wait anyway, so that a timer
            // that could not be armed still wakes the driver no later than before.
            Some(Duration::from_millis(wait.as_millis() as u64) + MS)
        }

        fn arm(&self, deadline_ns: i64) -> io::Result<()> {
            let spec = libc::itimerspec {
                it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
                it_value: libc::timespec {
                    tv_sec: (deadline_ns / 1_000_000_000) as libc::time_t,
                    // An all-zero `it_value` would disarm the timer; the awake clock is past
                    // zero, so the deadline never is.
                    tv_nsec: (deadline_ns % 1_000_000_000) as libc::c_long,
                },
            };
            // SAFETY: `spec` is a live `itimerspec` for the call; the old value is not asked for
            // (null), and the descriptor is ours and open.
            let rc = unsafe {
                libc::timerfd_settime(
                    self.fd.as_raw_fd(),
                    libc::TFD_TIMER_ABSTIME,
                    &spec,
                    std::ptr::null_mut(),
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        }
    }

    fn now_ns() -> i64 {
        crate::sys::clock::now(crate::time::Clock::Awake).as_nanos()
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod imp {
    use std::io;
    use std::time::Duration;

    use mio::{Registry, Token};

    /// kqueue times its wait to the nanosecond: nothing to add.
    pub(crate) struct PollTimer;

    impl PollTimer {
        pub(crate) fn new(_registry: &Registry, _token: Token) -> io::Result<PollTimer> {
            Ok(PollTimer)
        }

        pub(crate) fn timeout(&mut self, wait: Option<Duration>) -> Option<Duration> {
            wait
        }
    }
}

/// The reactor's precise wake-up (module docs).
pub(crate) struct PollTimer(imp::PollTimer);

impl PollTimer {
    /// A timer registered with `registry` under `token` (on kqueue systems, nothing).
    pub(crate) fn new(registry: &mio::Registry, token: mio::Token) -> io::Result<PollTimer> {
        imp::PollTimer::new(registry, token).map(PollTimer)
    }

    /// The timeout to hand to the poller so that it returns after `wait` (ground rules 1 and 2).
    /// The result is never later than `wait` rounded up to a millisecond.
    pub(crate) fn timeout(&mut self, wait: Option<Duration>) -> Option<Duration> {
        self.0.timeout(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Registers a timer with a real poller and checks where the driver's wait ends up.
    fn timer() -> (mio::Poll, PollTimer) {
        let poll = mio::Poll::new().unwrap();
        let t = PollTimer::new(poll.registry(), mio::Token(1)).unwrap();
        (poll, t)
    }

    #[test]
    fn none_and_whole_milliseconds_pass_through() {
        let (_poll, mut t) = timer();
        assert_eq!(t.timeout(None), None);
        assert_eq!(t.timeout(Some(Duration::ZERO)), Some(Duration::ZERO));
        assert_eq!(t.timeout(Some(Duration::from_millis(3))), Some(Duration::from_millis(3)));
    }

    #[test]
    fn never_later_than_rounded_up() {
        let (_poll, mut t) = timer();
        for us in [1, 250, 999, 1_001, 3_999, 4_000, 4_001, 30_000_123, 86_400_000_001] {
            let wait = Duration::from_micros(us);
            let given = t.timeout(Some(wait)).unwrap();
            let ceil = Duration::from_millis(wait.as_nanos().div_ceil(1_000_000) as u64);
            assert!(given <= ceil, "{wait:?} became {given:?}");
        }
    }

    /// The point of the module: a sub-millisecond wait ends close to its deadline, not at the
    /// next whole millisecond. Lower bound exact, upper bound generous (a loaded machine).
    #[test]
    fn a_near_wait_wakes_the_poller_at_its_deadline() {
        let (mut poll, mut t) = timer();
        let mut events = mio::Events::with_capacity(8);
        let wait = Duration::from_micros(300);
        let started = std::time::Instant::now();
        let mut woke = false;
        while started.elapsed() < wait {
            let left = wait.saturating_sub(started.elapsed());
            poll.poll(&mut events, t.timeout(Some(left))).unwrap();
            woke |= events.iter().any(|e| e.token() == mio::Token(1));
        }
        let took = started.elapsed();
        assert!(took >= wait, "woke after {took:?}");
        if cfg!(any(target_os = "linux", target_os = "android")) {
            assert!(woke, "the timer's event woke the poller");
        }
    }
}
