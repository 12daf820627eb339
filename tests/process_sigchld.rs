//! The `SIGCHLD` fallback of process exit, forced with `KQIO_FORCE_SIGCHLD=1` on a kernel that
//! has exit descriptors (pidfd, `EVFILT_PROC`): the exits are then seen through the signal, and
//! wait, concurrent waits and background reaping work as with the descriptor. `.ci/run` also
//! runs all of `tests/process.rs` with the variable set.
//!
//! One test in this binary: it sets the variable before the first spawn, which reads it once.

use std::os::unix::process::ExitStatusExt;

use kqio::process::Command;
use kqio::{InitOptions, Kqueue};

/// Whether a handler of our own (not the default, not "ignore") is installed for `SIGCHLD`.
fn sigchld_handled() -> bool {
    // SAFETY: `sigaction` with a null new action only reads the current one into `old`.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        assert_eq!(libc::sigaction(libc::SIGCHLD, std::ptr::null(), &mut old), 0);
        old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN
    }
}

#[test]
fn exits_are_seen_through_sigchld_when_forced() {
    // Edition 2021: `set_var` is safe; no other thread of this binary reads the environment.
    std::env::set_var("KQIO_FORCE_SIGCHLD", "1");
    assert!(!sigchld_handled(), "nothing listens for SIGCHLD before the first spawn");
    let rt = Kqueue::init(InitOptions { n_threads: Some(2), ..Default::default() }).unwrap();
    let io = rt.io();
    rt.block_on(async {
        let status = Command::new("sh").args(["-c", "exit 7"]).spawn(&io).unwrap().wait().await;
        assert_eq!(status.unwrap().code(), Some(7));
        assert!(sigchld_handled(), "the wait listened for SIGCHLD: the fallback ran");

        // Many at once: one SIGCHLD may stand for several exits.
        let waits: Vec<_> = (0..50)
            .map(|i| {
                let io2 = io.clone();
                io.r#async(async move {
                    let mut c =
                        Command::new("sh").args(["-c", &format!("exit {i}")]).spawn(&io2)?;
                    c.wait().await
                })
            })
            .collect();
        for (i, w) in waits.into_iter().enumerate() {
            assert_eq!(w.await.unwrap().code(), Some(i as i32));
        }
        let mut killed = Command::new("sleep").arg("100").spawn(&io).unwrap();
        killed.kill().unwrap();
        assert_eq!(killed.wait().await.unwrap().signal(), Some(libc::SIGKILL));
    });
    rt.deinit();
}
