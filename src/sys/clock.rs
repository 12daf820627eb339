//! Which OS clock backs each [`Clock`], per platform: the one place that decides it.
//!
//! | `Clock` | Linux | macOS | FreeBSD | NetBSD, OpenBSD |
//! | --- | --- | --- | --- | --- |
//! | `Real` | `CLOCK_REALTIME` | `CLOCK_REALTIME` | `CLOCK_REALTIME` | `CLOCK_REALTIME` |
//! | `Awake` | `CLOCK_MONOTONIC` | `CLOCK_UPTIME_RAW` | `CLOCK_UPTIME` | `CLOCK_MONOTONIC` |
//! | `Boot` | `CLOCK_BOOTTIME` | `CLOCK_MONOTONIC_RAW` | `CLOCK_MONOTONIC` | `CLOCK_MONOTONIC` (OpenBSD: `CLOCK_BOOTTIME`) |
//! | `CpuProcess` | `CLOCK_PROCESS_CPUTIME_ID` | same | same | same |
//! | `CpuThread` | `CLOCK_THREAD_CPUTIME_ID` | same | same | same |
//!
//! Linux's `CLOCK_MONOTONIC` stops during suspend, which is what `Awake` means; FreeBSD's
//! `CLOCK_MONOTONIC` counts suspend, so it serves as `Boot` there. NetBSD has no clock that
//! stops during suspend, so its `Awake` is its monotonic clock.

use crate::time::{Clock, Duration, Timestamp};

fn clock_id(clock: Clock) -> libc::clockid_t {
    match clock {
        Clock::Real => libc::CLOCK_REALTIME,
        Clock::Awake => awake_id(),
        Clock::Boot => boot_id(),
        Clock::CpuProcess => libc::CLOCK_PROCESS_CPUTIME_ID,
        Clock::CpuThread => libc::CLOCK_THREAD_CPUTIME_ID,
    }
}

#[cfg(target_os = "macos")]
fn awake_id() -> libc::clockid_t {
    libc::CLOCK_UPTIME_RAW
}
#[cfg(target_os = "freebsd")]
fn awake_id() -> libc::clockid_t {
    libc::CLOCK_UPTIME
}
#[cfg(not(any(target_os = "macos", target_os = "freebsd")))]
fn awake_id() -> libc::clockid_t {
    libc::CLOCK_MONOTONIC
}

#[cfg(any(target_os = "linux", target_os = "android", target_os = "openbsd"))]
fn boot_id() -> libc::clockid_t {
    libc::CLOCK_BOOTTIME
}
#[cfg(target_os = "macos")]
fn boot_id() -> libc::clockid_t {
    libc::CLOCK_MONOTONIC_RAW
}
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "openbsd",
    target_os = "macos"
)))]
fn boot_id() -> libc::clockid_t {
    libc::CLOCK_MONOTONIC
}

// `time_t` and `c_long` are `i64` here but `i32` on some targets: the casts are not always no-ops.
#[allow(clippy::unnecessary_cast)]
fn to_nanos(ts: &libc::timespec) -> i64 {
    (ts.tv_sec as i64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as i64)
}

/// The current time of `clock`.
///
/// `clock_gettime` fails only for an invalid clock id or pointer, neither of which can happen
/// here; should it fail anyway, the epoch is returned rather than a panic (debug builds assert).
pub(crate) fn now(clock: Clock) -> Timestamp {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(clock_id(clock), &mut ts) };
    debug_assert_eq!(rc, 0, "clock_gettime({clock:?})");
    Timestamp::from_nanos(to_nanos(&ts))
}

/// The resolution of `clock` (never zero: 1 ns when the OS reports less).
pub(crate) fn resolution(clock: Clock) -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_getres(clock_id(clock), &mut ts) };
    debug_assert_eq!(rc, 0, "clock_getres({clock:?})");
    Duration::from_nanos(to_nanos(&ts).max(1))
}
