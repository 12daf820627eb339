//! The order in which an overloaded runtime serves ready connections (ground rule 2 of
//! `src/kqueue/scheduler/mod.rs`): readiness harvested by a later turn of the reactor does not
//! overtake connections harvested by an earlier turn that still wait in the resumed queue.
//!
//! One worker, so that the order is the scheduler's alone. `WAVE1` connections become readable
//! while the worker is held, so one turn of the reactor harvests them all: more than the LIFO slot
//! and the local queue hold, so the rest wait in the resumed queue. While the first of them runs
//! (holding the worker again), `WAVE2` more connections become readable; a later turn harvests
//! them while wave 1 is still queued. No wave-2 read may complete before more than one batch of
//! wave-1 reads (see the assertion). Before the rule, wave 2 went through the LIFO slot and the
//! local queue and overtook 250 to 370 of the 400 wave-1 connections; now 14 to 19.

#[path = "common/rlimit.rs"]
#[allow(dead_code)] // `cpu_time` is for the descriptor-exhaustion tests
mod rlimit;

use std::io::Write;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};

use kqio::net::UnixStream;
use kqio::{InitOptions, Kqueue};
use rlimit::{nofile, set_nofile};

/// More than the LIFO slot and a local queue (256) hold, and within one turn's harvest (1,024).
const WAVE1: usize = 400;
const WAVE2: usize = 40;

/// The most tasks a worker moves from a shared queue into its local queue at once
/// (`INJECTOR_BATCH` of the scheduler).
const BATCH: usize = 32;

/// Raises the soft descriptor limit to what the test needs (two per connection), if the hard
/// limit allows; returns whether it is enough.
fn enough_descriptors(needed: usize) -> bool {
    let lim = nofile();
    let want = (needed as libc::rlim_t).min(lim.rlim_max);
    if lim.rlim_cur < want {
        set_nofile(libc::rlimit { rlim_cur: want, rlim_max: lim.rlim_max });
    }
    nofile().rlim_cur as usize >= needed
}

/// Blocks the calling thread (a worker, here the only one) until the test sends.
fn hold(rx: &Mutex<Receiver<()>>) {
    rx.lock().unwrap().recv().expect("the test releases the worker");
}

#[test]
fn readiness_of_a_later_turn_does_not_overtake_queued_connections() {
    let total = WAVE1 + WAVE2;
    if !enough_descriptors(2 * total + 256) {
        eprintln!("skipped: RLIMIT_NOFILE's hard limit is below {}", 2 * total + 256);
        return;
    }
    let rt = Kqueue::init(InitOptions { n_threads: Some(1), ..Default::default() }).expect("init");
    let io = rt.io();

    let started = Arc::new(AtomicUsize::new(0));
    let seq = Arc::new(AtomicUsize::new(0));
    let (running_tx, running_rx) = channel::<()>();
    let (release_tx, release_rx) = channel::<()>();
    let release_rx = Arc::new(Mutex::new(release_rx));

    let mut writers = Vec::with_capacity(total);
    let mut readers = Vec::with_capacity(total);
    for _ in 0..total {
        let (ours, theirs) = StdUnixStream::pair().expect("socketpair");
        let theirs = UnixStream::from_std(&io, theirs).expect("adopt");
        let (started, seq) = (started.clone(), seq.clone());
        let (running_tx, release_rx) = (running_tx.clone(), release_rx.clone());
        readers.push(io.r#async(async move {
            started.fetch_add(1, Ordering::SeqCst);
            let mut b = [0u8; 1];
            assert_eq!(theirs.read(&mut b).await.expect("read"), 1);
            let place = seq.fetch_add(1, Ordering::SeqCst);
            if place == 0 {
                // The first read served: hold the worker while wave 2 becomes readable.
                running_tx.send(()).unwrap();
                hold(&release_rx);
            }
            place
        }));
        writers.push(ours);
    }
    // One worker: once every reader has begun its first poll, that poll (which registers the
    // read) ends before the worker runs anything else, such as the task spawned next.
    while started.load(Ordering::SeqCst) < total {
        std::thread::yield_now();
    }
    let blocker = {
        let release_rx = release_rx.clone();
        io.r#async(async move {
            running_tx.send(()).unwrap();
            hold(&release_rx);
        })
    };

    // Wave 1, while the worker is held: one turn of the reactor will harvest it all.
    running_rx.recv().unwrap();
    for w in &mut writers[..WAVE1] {
        w.write_all(&[1]).unwrap();
    }
    release_tx.send(()).unwrap();

    // Wave 2, while the first wave-1 read served holds the worker.
    running_rx.recv().unwrap();
    for w in &mut writers[WAVE1..] {
        w.write_all(&[2]).unwrap();
    }
    release_tx.send(()).unwrap();

    let places: Vec<usize> = rt.block_on(async move {
        blocker.await;
        let mut places = Vec::with_capacity(total);
        for r in readers {
            places.push(r.await);
        }
        places
    });
    // Wave 2 joins the back of the resumed queue; it can pass only the wave-1 reads a worker
    // already moved from there into its local queue (at most `BATCH`), when the worker's periodic
    // turn of the resumed queue takes a wave-2 read ahead of them.
    let first_of_wave2 = *places[WAVE1..].iter().min().unwrap();
    let overtaken = places[..WAVE1].iter().filter(|&&p| p > first_of_wave2).count();
    assert!(
        overtaken <= BATCH,
        "wave 2 overtook {overtaken} of the {WAVE1} wave-1 connections (the first wave-2 read \
         was served {first_of_wave2}th)"
    );
    drop(writers);
}
