//! Counting this process's threads by name.

use std::time::{Duration, Instant};

/// How many of this process's threads have a name starting with `prefix`, on Linux (from
/// `/proc/self/task`); `None` elsewhere.
pub fn threads_named(prefix: &str) -> Option<usize> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    Some(
        std::fs::read_dir("/proc/self/task")
            .expect("procfs")
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|name| name.starts_with(prefix))
            .count(),
    )
}

/// [`threads_named`] once it is at most `expected`, waiting up to 5 s for joined threads to
/// leave the listing: `pthread_join` returns when the kernel clears the thread's id, a moment
/// before it unlists the thread, so a count right after `deinit` can still see a joined worker.
/// A thread that was never joined stays listed, and the count returned then shows it.
pub fn threads_named_settled(prefix: &str, expected: usize) -> Option<usize> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let n = threads_named(prefix)?;
        if n <= expected || Instant::now() >= deadline {
            return Some(n);
        }
        std::thread::yield_now();
    }
}
