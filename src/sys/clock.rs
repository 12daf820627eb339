use crate::time::{Clock, Duration, Timestamp};
pub(crate) fn now(_c: Clock) -> Timestamp {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    Timestamp::from_nanos(ts.tv_sec * 1_000_000_000 + ts.tv_nsec)
}
pub(crate) fn resolution(_c: Clock) -> Duration {
    Duration::from_nanos(1)
}
