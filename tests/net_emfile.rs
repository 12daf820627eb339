//! Accept survives descriptor exhaustion: with `RLIMIT_NOFILE` lowered so that the next
//! descriptor cannot be had, `accept` reports `DescriptorsExhausted`, a loop retrying it at once
//! does not spin (it makes a few dozen attempts a second and uses almost no CPU), and once the
//! limit is raised again the waiting connections are accepted within the backoff.
//!
//! Alone in its binary: the limit is per process.

#[path = "common/rlimit.rs"]
mod rlimit;

use std::time::Instant;

use kqio::net::{DescriptorsExhausted, TcpListener, TcpStream};
use kqio::{InitOptions, Kqueue};

use rlimit::{cpu_time, nofile, set_nofile};

/// The lowest descriptor number not in use.
fn lowest_free_fd() -> libc::rlim_t {
    // SAFETY: `dup` of standard input makes a new descriptor that we close at once.
    unsafe {
        let fd = libc::dup(0);
        assert!(fd >= 0);
        libc::close(fd);
        fd as libc::rlim_t
    }
}

#[test]
fn accept_backs_off_on_emfile_and_recovers() {
    let rt = Kqueue::init(InitOptions { n_threads: Some(2), ..Default::default() }).unwrap();
    let io = rt.io();
    let original = nofile();
    rt.block_on(async {
        let listener = TcpListener::bind(&io, "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut clients = Vec::new();
        for _ in 0..8 {
            clients.push(TcpStream::connect(&io, addr).await.unwrap());
        }
        // From here on no new descriptor can be made.
        set_nofile(libc::rlimit { rlim_cur: lowest_free_fd(), rlim_max: original.rlim_max });

        let cpu_before = cpu_time();
        let started = Instant::now();
        let mut attempts = 0u32;
        while started.elapsed() < std::time::Duration::from_secs(1) {
            let err = listener.accept().await.map(|_| ()).unwrap_err();
            assert!(DescriptorsExhausted::is(&err), "{err}");
            attempts += 1;
        }
        let cpu = cpu_time() - cpu_before;
        assert!(attempts >= 5, "the backoff is short enough to retry: {attempts}");
        assert!(attempts <= 100, "a retry loop must not spin: {attempts} attempts in 1 s");
        assert!(cpu < std::time::Duration::from_millis(200), "accept loop used {cpu:?} CPU in 1 s");

        set_nofile(original);
        let resumed = Instant::now();
        for _ in 0..clients.len() {
            listener.accept().await.unwrap();
        }
        let took = resumed.elapsed();
        assert!(took < std::time::Duration::from_secs(1), "resumed after {took:?}");
    });
}
