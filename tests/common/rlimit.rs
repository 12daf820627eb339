//! The process's CPU time and descriptor limit, for the tests that run out of descriptors.

use std::time::Duration;

/// User plus system CPU time this process has used so far.
pub fn cpu_time() -> Duration {
    // SAFETY: `getrusage` writes into the zeroed `rusage` we own and reads nothing else.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut u), 0);
        u
    };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// The process's current `RLIMIT_NOFILE`.
pub fn nofile() -> libc::rlimit {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: writes into `r`, which we own.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) }, 0);
    r
}

/// Sets the process's `RLIMIT_NOFILE` to `r`.
pub fn set_nofile(r: libc::rlimit) {
    // SAFETY: reads `r`, which we own.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) }, 0);
}
