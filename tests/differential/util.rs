//! Small helpers shared by the test bodies: a checksum, a reproducible byte pattern, a
//! request-then-release step for cancellation tests, and waiting on a primitive's `Debug` count.

use futures::channel::oneshot;
use kqio::{IoRef, JoinHandle};

/// A cheap order-sensitive checksum (FNV-1a over 8-byte words).
pub fn checksum(data: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for chunk in data.chunks(8) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// `len` pseudo-random bytes (xorshift), reproducible from `seed`.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Requests cancellation of `h` (the first poll of `cancel` makes the request), then lets the
/// task go on through `go`, then waits for its output.
pub async fn request_then<T>(h: JoinHandle<T>, go: oneshot::Sender<()>) -> T {
    let mut cancel = std::pin::pin!(h.cancel());
    assert!(futures::poll!(cancel.as_mut()).is_pending());
    go.send(()).unwrap();
    cancel.await
}

/// The number after `field: ` in `what`'s `Debug` output (how the sync primitives report their
/// queued waiters: `waiters`, and `getters`/`putters` for a queue).
pub fn debug_count<T: std::fmt::Debug + ?Sized>(what: &T, field: &str) -> usize {
    let s = format!("{what:?}");
    let key = format!("{field}: ");
    let at = s.find(&key).unwrap_or_else(|| panic!("no {field:?} in {s}")) + key.len();
    s[at..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap()
}

/// Yields until `what` reports `n` for `field` (see [`debug_count`]).
pub async fn until_count<T: std::fmt::Debug + ?Sized>(io: &IoRef, what: &T, field: &str, n: usize) {
    while debug_count(what, field) != n {
        io.yield_now().await;
    }
}

/// The message of a panic payload.
pub fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}
