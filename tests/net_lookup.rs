//! Name lookup: Zig's "localhost lookup", IP literals without a lookup, bad names as typed
//! errors, and cancel of a lookup that has not started (the pool is busy).

use std::sync::mpsc;

use kqio::{Canceled, InitOptions, Kqueue};

#[test]
fn localhost_resolves_to_loopback_with_the_port() {
    let rt = Kqueue::init(InitOptions::default()).unwrap();
    let io = rt.io();
    let found = rt.block_on(io.lookup("localhost", 8080)).unwrap();
    assert!(!found.addresses.is_empty());
    for a in &found.addresses {
        assert!(a.ip().is_loopback(), "{a}");
        assert_eq!(a.port(), 8080);
    }
    // Zig: the canonical name comes back too (the resolver reports "localhost" for it).
    assert!(found.canonical_name.is_some());
}

#[test]
fn ip_literals_need_no_lookup_and_bad_names_are_invalid_input() {
    let rt = Kqueue::init(InitOptions::default()).unwrap();
    let io = rt.io();
    rt.block_on(async {
        let v4 = io.lookup("127.0.0.1", 1).await.unwrap();
        assert_eq!(v4.addresses, vec!["127.0.0.1:1".parse().unwrap()]);
        let v6 = io.lookup("::1", 2).await.unwrap();
        assert_eq!(v6.addresses, vec!["[::1]:2".parse().unwrap()]);
        for bad in [String::new(), "a\0b".to_string(), "x".repeat(254)] {
            let err = io.lookup(&bad, 80).await.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{bad:?}");
        }
        // A name under the reserved .invalid TLD never resolves (RFC 6761), and no network is
        // needed to learn that.
        let err = io.lookup("no-such-host.invalid", 80).await.unwrap_err();
        assert!(!Canceled::is_canceled(&err), "{err}");
    });
}

#[test]
fn cancel_of_a_lookup_that_has_not_started() {
    let rt = Kqueue::init(InitOptions { max_blocking_threads: 1, ..Default::default() }).unwrap();
    let io = rt.io();
    let (release, gate) = mpsc::channel::<()>();
    rt.block_on(async {
        let busy = io.spawn_blocking(move || gate.recv().unwrap());
        let lookup = io.r#async({
            let io = io.clone();
            async move { io.lookup("localhost", 80).await }
        });
        io.yield_now().await;
        let err = lookup.cancel().await.unwrap_err();
        assert!(Canceled::is_canceled(&err), "{err}");
        release.send(()).unwrap();
        busy.await.unwrap();
    });
}
