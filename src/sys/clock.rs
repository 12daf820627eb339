//! Which OS clock backs each [`Clock`], per platform: the one place that decides it, and the one
//! place that reads clocks (`clock_gettime`, `clock_getres`).
//!
//! | `Clock` | Linux, Android | macOS (Apple) | FreeBSD | OpenBSD | NetBSD, others |
//! | --- | --- | --- | --- | --- | --- |
//! | `Real` | `CLOCK_REALTIME` | `CLOCK_REALTIME` | `CLOCK_REALTIME` | `CLOCK_REALTIME` | `CLOCK_REALTIME` |
//! | `Awake` | `CLOCK_MONOTONIC` | `CLOCK_UPTIME_RAW` | `CLOCK_UPTIME` | `CLOCK_UPTIME` | `CLOCK_MONOTONIC` |
//! | `Boot` | `CLOCK_BOOTTIME` | `CLOCK_MONOTONIC_RAW` | `CLOCK_MONOTONIC` | `CLOCK_BOOTTIME` | `CLOCK_MONOTONIC` |
//! | `CpuProcess` | `CLOCK_PROCESS_CPUTIME_ID` | same | same | same | same |
//! | `CpuThread` | `CLOCK_THREAD_CPUTIME_ID` | same | same | same | same |
//!
//! Why, platform by platform:
//!
//! 1. Linux: `CLOCK_MONOTONIC` stops during suspend and `CLOCK_BOOTTIME` does not; this is Zig's
//!    choice too.
//! 2. macOS: `CLOCK_UPTIME_RAW` stops during sleep; for `Boot`, Zig takes `CLOCK_MONOTONIC_RAW`
//!    (which keeps counting), and so does kqio.
//! 3. FreeBSD: `CLOCK_UPTIME` is the clock named for "time the machine has been running";
//!    `CLOCK_MONOTONIC` serves as `Boot`. The FreeBSD kernel reads both from the same counter
//!    (its `CLOCK_BOOTTIME` is an alias of `CLOCK_UPTIME`), so the two behave alike across a
//!    suspend, which Zig's definition of `boot` allows ("may behave identically to `awake`").
//! 4. OpenBSD has both meanings exactly: `CLOCK_UPTIME` excludes suspend, `CLOCK_BOOTTIME`
//!    includes it.
//! 5. NetBSD (and any other unix) offers only `CLOCK_MONOTONIC`, so it backs both. The `libc`
//!    crate lacks NetBSD's CPU-time clock ids; they are spelled here from NetBSD's `<sys/time.h>`.
//!
//! Readings cannot fail: the ids above are valid constants and the `timespec` is ours. Should
//! `clock_gettime` fail anyway, debug builds panic and release builds read the clock's epoch
//! ([`Timestamp::ZERO`]); a failing `clock_getres` reads as 1 ns.

use crate::time::{Clock, Duration, Timestamp};

/// The OS clock ids for `Awake` and `Boot` on this platform (see the table above).
#[cfg(any(target_os = "linux", target_os = "android"))]
mod ids {
    pub(super) const AWAKE: libc::clockid_t = libc::CLOCK_MONOTONIC;
    pub(super) const BOOT: libc::clockid_t = libc::CLOCK_BOOTTIME;
}

#[cfg(target_vendor = "apple")]
mod ids {
    pub(super) const AWAKE: libc::clockid_t = libc::CLOCK_UPTIME_RAW;
    pub(super) const BOOT: libc::clockid_t = libc::CLOCK_MONOTONIC_RAW;
}

#[cfg(target_os = "freebsd")]
mod ids {
    pub(super) const AWAKE: libc::clockid_t = libc::CLOCK_UPTIME;
    pub(super) const BOOT: libc::clockid_t = libc::CLOCK_MONOTONIC;
}

#[cfg(target_os = "openbsd")]
mod ids {
    pub(super) const AWAKE: libc::clockid_t = libc::CLOCK_UPTIME;
    pub(super) const BOOT: libc::clockid_t = libc::CLOCK_BOOTTIME;
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "openbsd"
)))]
mod ids {
    pub(super) const AWAKE: libc::clockid_t = libc::CLOCK_MONOTONIC;
    pub(super) const BOOT: libc::clockid_t = libc::CLOCK_MONOTONIC;
}

/// The CPU-time clock ids: `libc`'s everywhere but NetBSD.
#[cfg(not(target_os = "netbsd"))]
mod cpu_ids {
    pub(super) const PROCESS: libc::clockid_t = libc::CLOCK_PROCESS_CPUTIME_ID;
    pub(super) const THREAD: libc::clockid_t = libc::CLOCK_THREAD_CPUTIME_ID;
}

/// NetBSD's `<sys/time.h>` (since NetBSD 7): `CLOCK_THREAD_CPUTIME_ID 0x20000000`,
/// `CLOCK_PROCESS_CPUTIME_ID 0x40000000`. The `libc` crate does not define them for NetBSD.
#[cfg(target_os = "netbsd")]
mod cpu_ids {
    pub(super) const PROCESS: libc::clockid_t = 0x4000_0000;
    pub(super) const THREAD: libc::clockid_t = 0x2000_0000;
}

/// The OS clock id that backs `clock`.
fn clock_id(clock: Clock) -> libc::clockid_t {
    match clock {
        Clock::Real => libc::CLOCK_REALTIME,
        Clock::Awake => ids::AWAKE,
        Clock::Boot => ids::BOOT,
        Clock::CpuProcess => cpu_ids::PROCESS,
        Clock::CpuThread => cpu_ids::THREAD,
    }
}

/// Nanoseconds in `ts`, saturating (a real-clock reading past the year 2262 reads as
/// `i64::MAX`).
// `time_t` and `c_long` are `i64` on the 64-bit targets but `i32` on some 32-bit ones, so these
// casts are widening there and no-ops here.
#[allow(clippy::unnecessary_cast)]
fn to_nanos(ts: &libc::timespec) -> i64 {
    (ts.tv_sec as i64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as i64)
}

/// The current time of `clock` (Zig `now`). Cannot fail; see the module docs for the impossible
/// case.
pub(crate) fn now(clock: Clock) -> Timestamp {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a live, writable `timespec` for the whole call, and `clock_gettime` writes
    // nothing else; the clock id is one of the constants chosen above.
    let rc = unsafe { libc::clock_gettime(clock_id(clock), &mut ts) };
    if rc != 0 {
        // Only EINVAL (unknown id) or EFAULT (bad pointer) are possible, and neither applies.
        debug_assert_eq!(rc, 0, "clock_gettime({clock:?}) failed");
        return Timestamp::ZERO;
    }
    Timestamp::from_nanos(to_nanos(&ts))
}

/// The resolution of `clock` (Zig `clockResolution`). Never zero: a clock that reports less than
/// 1 ns, or an impossible `clock_getres` failure, reads as 1 ns, the unit of [`Timestamp`].
pub(crate) fn resolution(clock: Clock) -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a live, writable `timespec` for the whole call, and `clock_getres` writes
    // nothing else; the clock id is one of the constants chosen above.
    let rc = unsafe { libc::clock_getres(clock_id(clock), &mut ts) };
    if rc != 0 {
        // As in `now`: impossible for these ids.
        debug_assert_eq!(rc, 0, "clock_getres({clock:?}) failed");
        return Duration::NANOSECOND;
    }
    Duration::from_nanos(to_nanos(&ts).max(1))
}
