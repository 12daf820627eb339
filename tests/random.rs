//! Entropy through the `Io` trait: Zig's tests (three 8-byte draws XOR to non-zero; two 50-byte
//! secure draws differ) and buffers of 0, 1 and 1 MiB, from many tasks at once.

use std::collections::HashSet;

use kqio::{InitOptions, Kqueue};

#[test]
fn zig_random_draws_xor_to_non_zero_and_secure_draws_differ() {
    let rt = Kqueue::init(InitOptions::default()).unwrap();
    let io = rt.io();
    let mut x = 0u64;
    for _ in 0..3 {
        let mut b = [0u8; 8];
        io.random(&mut b);
        x ^= u64::from_le_bytes(b);
    }
    assert_ne!(x, 0);
    let (mut a, mut b) = ([0u8; 50], [0u8; 50]);
    io.random_secure(&mut a).unwrap();
    io.random_secure(&mut b).unwrap();
    assert_ne!(a, b);
}

#[test]
fn buffers_of_zero_one_and_a_mebibyte() {
    let rt = Kqueue::init(InitOptions::default()).unwrap();
    let io = rt.io();
    io.random(&mut []);
    io.random_secure(&mut []).unwrap();
    // One byte: over 64 draws, at least two values differ (fails with probability 256^-63).
    let ones: HashSet<u8> = (0..64)
        .map(|_| {
            let mut b = [0u8; 1];
            io.random(&mut b);
            b[0]
        })
        .collect();
    assert!(ones.len() > 1);
    for secure in [false, true] {
        let (mut a, mut b) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
        if secure {
            io.random_secure(&mut a).unwrap();
            io.random_secure(&mut b).unwrap();
        } else {
            io.random(&mut a);
            io.random(&mut b);
        }
        assert!(a.iter().any(|&x| x != 0), "not all zero");
        assert_ne!(a, b, "two calls differ");
        // Every byte value shows up in a mebibyte of uniform bytes (each is missing with
        // probability about e^-4096).
        let mut seen = [false; 256];
        for &x in &a {
            seen[x as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }
}

/// Each worker draws from its own generator: 1,000 tasks over 2 workers and the block_on thread
/// get 1,000 distinct 16-byte values.
#[test]
fn tasks_on_every_thread_draw_distinct_values() {
    let rt = Kqueue::init(InitOptions { n_threads: Some(2), ..Default::default() }).unwrap();
    let io = rt.io();
    let values = rt.block_on(async {
        let handles: Vec<_> = (0..1000)
            .map(|_| {
                let io2 = io.clone();
                io.r#async(async move {
                    let mut b = [0u8; 16];
                    io2.random(&mut b);
                    b
                })
            })
            .collect();
        let mut v = Vec::new();
        for h in handles {
            v.push(h.await);
        }
        let mut b = [0u8; 16];
        io.random(&mut b);
        v.push(b);
        v
    });
    let distinct: HashSet<_> = values.iter().collect();
    assert_eq!(distinct.len(), values.len());
}
