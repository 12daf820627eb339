//! Waiting, without sleeping, until a sync primitive has queued a given number of waiters.

use kqio::IoRef;

/// Yields until `primitive` has exactly `n` queued waiters, as its `Debug` output reports (the
/// sync primitives' `Debug` ends with `waiters: N }`).
pub async fn until_waiters<T: std::fmt::Debug + ?Sized>(io: &IoRef, primitive: &T, n: usize) {
    let want = format!("waiters: {n} }}");
    while !format!("{primitive:?}").ends_with(&want) {
        io.yield_now().await;
    }
}
