//! Cancellation at every poll point (issue 9, item 5): each cancelable operation is run in a
//! task of its own, polled k = 0..=K times while genuinely pending (the first poll, then
//! re-polls forced by waking the task), and then its task is canceled (`JoinHandle::cancel`).
//! k = 0 cancels before the operation's first poll.
//!
//! Each operation runs in two modes: *held* (its resource stays unavailable until after the
//! cancel: the outcome must be `Canceled`) and *released* (the resource is made available just
//! before the cancel request, so the real result and `Canceled` race: either is fine). Two
//! exceptions, where "unavailable" cannot be made certain from outside: a loopback `connect` may
//! complete on its first poll, and a socket filled until a write waits may still take a small one
//! (readiness is not the kernel's admission rule); both accept either outcome when held. In both
//! the resource accounting is exact: a `Canceled` operation consumed nothing (the queue still has
//! the item, the semaphore its permit, the lock is free, the byte is still readable, the
//! connection is still acceptable, the blocking job did not run), a real result consumed exactly
//! once, and no descriptor or timer is left behind. Where a wake-up could be lost (mutex, rwlock,
//! semaphore, condition), a second waiter queued behind the canceled one must still get it.
//!
//! Also: a `Select` whose losing member holds a `Mutex` guard across an await must not deadlock
//! a later lock, and canceling a select hands back every result it holds.
//!
//! The tests run one at a time (they count this process's descriptors), each under a watchdog.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex as StdMutex, MutexGuard as StdGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration as StdDuration;

use kqio::net::{TcpListener, TcpStream, UnixStream};
use kqio::sync::{Condition, Event, Mutex, Queue, QueueError, RwLock, Semaphore};
use kqio::time::{Duration, Timeout};
use kqio::{Canceled, Group, InitOptions, IoRef, Kqueue, Select};

/// The highest poll index at which a cancel is requested.
const K: usize = 3;

static SERIAL: StdMutex<()> = StdMutex::new(());

/// Runs alone (descriptor counts) and aborts the process if it takes longer than 30 s.
struct Guard {
    _serial: StdGuard<'static, ()>,
    _dog: mpsc::Sender<()>,
}

fn guard(name: &'static str) -> Guard {
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (tx, rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        if rx.recv_timeout(StdDuration::from_secs(30)) == Err(mpsc::RecvTimeoutError::Timeout) {
            let msg = format!("cancel_points: {name} did not finish in 30 s\n");
            let _ = std::io::Write::write_all(&mut std::io::stderr(), msg.as_bytes());
            std::process::abort();
        }
    });
    Guard { _serial: serial, _dog: tx }
}

fn rt() -> Kqueue {
    Kqueue::init(InitOptions { n_threads: Some(2), max_blocking_threads: 1, ..Default::default() })
        .expect("init")
}

#[cfg(target_os = "linux")]
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").expect("procfs").count()
}

#[cfg(not(target_os = "linux"))]
fn open_fds() -> usize {
    std::fs::read_dir("/dev/fd").expect("/dev/fd").count()
}

fn is_canceled(e: &std::io::Error) -> bool {
    Canceled::is_canceled(e)
}

// ---------------------------------------------------------------------------------------------
// The harness

#[derive(Default)]
struct PokeState {
    polls: usize,
    pending: bool,
    ready: bool,
    waker: Option<Waker>,
    open: bool,
    gate_waker: Option<Waker>,
}

/// Shared between the task running the operation and the driver.
#[derive(Default)]
struct Poke {
    st: StdMutex<PokeState>,
    cv: Condvar,
}

impl Poke {
    fn lock(&self) -> StdGuard<'_, PokeState> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn open_gate(&self) {
        let w = {
            let mut st = self.lock();
            st.open = true;
            st.gate_waker.take()
        };
        if let Some(w) = w {
            w.wake();
        }
    }

    /// Blocks until the operation has been polled `n` times and is pending, or has completed.
    fn wait_polled(&self, n: usize) {
        let mut st = self.lock();
        while !(st.ready || (st.polls >= n && st.pending)) {
            st = self.cv.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Wakes the task (a re-poll while the operation is still pending).
    fn wake(&self) {
        let w = self.lock().waker.clone();
        if let Some(w) = w {
            w.wake();
        }
    }
}

/// Waits for the gate: not a cancellation point.
struct GateWait(Arc<Poke>);

impl Future for GateWait {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = self.0.lock();
        if st.open {
            Poll::Ready(())
        } else {
            st.gate_waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

/// Polls the operation and records each poll.
struct Counted<F> {
    inner: Pin<Box<F>>,
    poke: Arc<Poke>,
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let r = self.inner.as_mut().poll(cx);
        let mut st = self.poke.lock();
        st.polls += 1;
        st.pending = r.is_pending();
        st.ready = r.is_ready();
        st.waker = Some(cx.waker().clone());
        drop(st);
        self.poke.cv.notify_all();
        r
    }
}

/// What the driver does around the cancel request.
#[derive(Default)]
struct Hooks<'a> {
    /// Makes the resource available just before the request ("released" mode).
    release: Option<Box<dyn FnOnce() + 'a>>,
    /// Runs once the operation is queued (after its first pending poll; k >= 1 only): queues a
    /// second waiter behind it.
    queued: Option<Box<dyn FnOnce() + 'a>>,
}

fn cancel_at<T: Send + 'static>(
    rt: &Kqueue,
    k: usize,
    op: impl Future<Output = T> + Send + 'static,
    release: Option<Box<dyn FnOnce() + '_>>,
) -> T {
    cancel_at_with(rt, k, op, Hooks { release, queued: None })
}

/// Runs `op` in a task, lets it be polled `k` times while pending, runs the hooks, requests
/// cancellation of the task, and returns the operation's output.
fn cancel_at_with<T: Send + 'static>(
    rt: &Kqueue,
    k: usize,
    op: impl Future<Output = T> + Send + 'static,
    hooks: Hooks<'_>,
) -> T {
    let io = rt.io();
    let poke = Arc::new(Poke::default());
    let p = poke.clone();
    let h = io
        .concurrent(async move {
            GateWait(p.clone()).await;
            Counted { inner: Box::pin(op), poke: p }.await
        })
        .expect("a task slot");
    let Hooks { release, mut queued } = hooks;
    rt.block_on(async {
        let mut cancel = pin!(h.cancel());
        if k == 0 {
            if let Some(r) = release {
                r();
            }
            // The first poll of `cancel` makes the request; the operation has not started.
            if let Poll::Ready(v) = futures::poll!(cancel.as_mut()) {
                return v;
            }
            poke.open_gate();
        } else {
            poke.open_gate();
            for i in 1..=k {
                poke.wait_polled(i);
                if let Some(q) = queued.take() {
                    q();
                }
                if i < k {
                    poke.wake();
                }
            }
            if let Some(r) = release {
                r();
            }
        }
        cancel.await
    })
}

/// Spawns `f` and returns once it has been polled (it is then queued, if it waits).
fn spawn_queued<T: Send + 'static>(
    rt: &Kqueue,
    f: impl Future<Output = T> + Send + 'static,
) -> kqio::JoinHandle<T> {
    let poke = Arc::new(Poke::default());
    let p = poke.clone();
    let h = rt.io().concurrent(Counted { inner: Box::pin(f), poke: p }).expect("a task slot");
    poke.wait_polled(1);
    h
}

/// `(k, released)` for every run of one operation.
fn runs() -> impl Iterator<Item = (usize, bool)> {
    (0..=K).flat_map(|k| [(k, false), (k, true)])
}

// ---------------------------------------------------------------------------------------------
// Time and descriptors

#[test]
fn sleep() {
    let _g = guard("sleep");
    let rt = rt();
    let io = rt.io();
    for (k, released) in runs() {
        // "Released": a deadline already past, so the sleep can complete at its first poll.
        let t = if released { Duration::from_nanos(0) } else { Duration::from_secs(600) };
        let io2 = io.clone();
        let r = cancel_at(&rt, k, async move { io2.sleep(Timeout::after(t)).await }, None);
        if !released {
            assert_eq!(r, Err(Canceled), "k={k}");
        }
        assert_eq!(rt.metrics().timers, 0, "k={k}: no timer left in the wheel");
    }
}

#[test]
fn read() {
    let _g = guard("read");
    let rt = rt();
    let io = rt.io();
    let fds = open_fds();
    for (k, released) in runs() {
        let (a, b) = UnixStream::pair(&io).unwrap();
        let op = async move {
            let mut buf = [0u8; 8];
            let r = a.read(&mut buf).await.map(|n| buf[..n].to_vec());
            (a, r)
        };
        let b_ref = &b;
        let release: Option<Box<dyn FnOnce()>> = released.then(|| -> Box<dyn FnOnce()> {
            Box::new(move || futures::executor::block_on(b_ref.write_all(b"x")).unwrap())
        });
        let (a, r) = cancel_at(&rt, k, op, release);
        match r {
            Ok(v) => {
                assert!(released, "k={k}: a read of nothing completed");
                assert_eq!(v, b"x");
            }
            Err(e) => {
                assert!(is_canceled(&e), "k={k}: {e}");
                if released {
                    // Not consumed: the byte is still there.
                    let mut buf = [0u8; 8];
                    let n = rt.block_on(a.read(&mut buf)).unwrap();
                    assert_eq!(&buf[..n], b"x", "k={k}");
                }
            }
        }
        // Nothing else is readable.
        drop(b);
        rt.block_on(async {
            let mut buf = [0u8; 8];
            let n = a.read(&mut buf).await.unwrap();
            assert_eq!(n, 0, "k={k}: only EOF is left");
        });
    }
    assert_eq!(open_fds(), fds, "no descriptor leaked");
}

/// Reads everything readable now from `s`; returns (filler bytes, marked bytes).
fn drain(s: &UnixStream) -> (usize, usize) {
    let (mut zeros, mut marked) = (0, 0);
    futures::executor::block_on(async {
        let mut buf = vec![0u8; 65536];
        loop {
            let polled = {
                let mut r = pin!(s.read(&mut buf));
                futures::poll!(r.as_mut())
            };
            match polled {
                Poll::Ready(Ok(n)) => {
                    assert!(n > 0);
                    for &b in &buf[..n] {
                        match b {
                            0 => zeros += 1,
                            0xAB => marked += 1,
                            other => panic!("unexpected byte {other}"),
                        }
                    }
                }
                Poll::Ready(Err(e)) => panic!("{e}"),
                Poll::Pending => break,
            }
        }
    });
    (zeros, marked)
}

/// Reads exactly `expected` bytes from `s`, waiting for them, and counts filler (0) and marked
/// (0xAB) bytes as [`drain`] does.
fn read_counted(rt: &kqio::Kqueue, s: &UnixStream, expected: usize) -> (usize, usize) {
    rt.block_on(async {
        let (mut zeros, mut marked) = (0, 0);
        let mut buf = vec![0u8; 65536];
        while zeros + marked < expected {
            let want = (expected - zeros - marked).min(buf.len());
            let n = s.read(&mut buf[..want]).await.expect("read");
            assert!(n > 0, "EOF before {expected} bytes");
            for &b in &buf[..n] {
                match b {
                    0 => zeros += 1,
                    0xAB => marked += 1,
                    other => panic!("unexpected byte {other}"),
                }
            }
        }
        (zeros, marked)
    })
}

#[test]
fn write() {
    let _g = guard("write");
    let rt = rt();
    let io = rt.io();
    let fds = open_fds();
    for (k, released) in runs() {
        let (a, b) = UnixStream::pair(&io).unwrap();
        // Fill the socket until even a one-byte write would wait (a big write that would wait
        // says nothing of a small one).
        let filled = futures::executor::block_on(async {
            let mut filled = 0;
            for size in [65536, 4096, 256, 16, 1] {
                let chunk = vec![0u8; size];
                loop {
                    let mut w = pin!(a.write(&chunk));
                    match futures::poll!(w.as_mut()) {
                        Poll::Ready(Ok(n)) => filled += n,
                        Poll::Ready(Err(e)) => panic!("{e}"),
                        Poll::Pending => break,
                    }
                }
            }
            filled
        });
        let op = async move {
            let r = a.write(&[0xAB; 100]).await;
            (a, r)
        };
        let drained = std::cell::Cell::new((0, 0));
        let (b_ref, d) = (&b, &drained);
        let release: Option<Box<dyn FnOnce()>> =
            released.then(|| -> Box<dyn FnOnce()> { Box::new(move || d.set(drain(b_ref))) });
        let (a, r) = cancel_at(&rt, k, op, release);
        let (z1, m1) = drained.get();
        // What must still arrive: the filler bytes not drained yet, and the rest of a write that
        // completed. Wait for them: after a drain that emptied the socket, readiness can lag
        // the kernel (the driver has not seen the new data's event yet), so a poll-once drain
        // here could stop early and see bytes "missing" that are on their way.
        let written = r.as_ref().map_or(0, |&n| n);
        let (z2, m2) = read_counted(&rt, &b, filled - z1 + written.saturating_sub(m1));
        let (z3, m3) = drain(&b);
        assert_eq!((z3, m3), (0, 0), "k={k}: nothing more than the filler and the write arrived");
        assert_eq!(z1 + z2, filled, "k={k}: every filler byte arrived once");
        match r {
            Ok(n) => {
                // Even "held", the write may complete: the fill above stops at the first
                // `Pending`, which readiness (cleared after a short write, or a Unix socket's
                // poll rule of a quarter of the send buffer) may report while the kernel would
                // still take a small write. What must hold either way: the bytes written arrived
                // once, nothing else did.
                assert_eq!(m1 + m2, n, "k={k}: exactly the bytes written arrived");
            }
            Err(e) => {
                assert!(is_canceled(&e), "k={k}: {e}");
                assert_eq!(m1 + m2, 0, "k={k}: a canceled write wrote nothing");
            }
        }
        drop((a, b));
    }
    assert_eq!(open_fds(), fds, "no descriptor leaked");
}

#[test]
fn accept() {
    let _g = guard("accept");
    let rt = rt();
    let io = rt.io();
    let fds = open_fds();
    for (k, released) in runs() {
        let l = rt.block_on(TcpListener::bind(&io, "127.0.0.1:0".parse().unwrap())).unwrap();
        let addr = l.local_addr().unwrap();
        let client = std::cell::RefCell::new(None);
        let c = &client;
        let op = async move {
            let r = l.accept().await.map(|(s, _)| s);
            (l, r)
        };
        let release: Option<Box<dyn FnOnce()>> = released.then(|| -> Box<dyn FnOnce()> {
            Box::new(move || *c.borrow_mut() = Some(std::net::TcpStream::connect(addr).unwrap()))
        });
        let (l, r) = cancel_at(&rt, k, op, release);
        match r {
            Ok(s) => {
                assert!(released, "k={k}: accepted a connection nobody made");
                let client = client.borrow();
                assert_eq!(s.peer_addr().unwrap(), client.as_ref().unwrap().local_addr().unwrap());
            }
            Err(e) => {
                assert!(is_canceled(&e), "k={k}: {e}");
                if released {
                    // Not consumed: the connection is still in the queue.
                    let (s, _) = rt.block_on(l.accept()).unwrap();
                    let client = client.borrow();
                    assert_eq!(
                        s.peer_addr().unwrap(),
                        client.as_ref().unwrap().local_addr().unwrap()
                    );
                }
            }
        }
    }
    assert_eq!(open_fds(), fds, "no descriptor leaked");
}

#[test]
fn connect() {
    let _g = guard("connect");
    let rt = rt();
    let io = rt.io();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let fds = open_fds();
    for (k, _) in runs() {
        // A loopback connect may complete at its first poll: at k >= 1 the real result is then
        // the outcome (the harness stops waiting for more polls once the operation is done).
        let io2 = io.clone();
        let r = cancel_at(&rt, k, async move { TcpStream::connect(&io2, addr).await }, None);
        match r {
            Ok(s) => {
                assert!(k > 0, "k=0: the request was there before the connect's first poll");
                assert_eq!(s.peer_addr().unwrap(), addr);
            }
            Err(e) => assert!(is_canceled(&e), "k={k}: {e}"),
        }
        // Accept (and close) whatever reached the listener.
        while listener.accept().is_ok() {}
    }
    assert_eq!(open_fds(), fds, "no descriptor leaked (a canceled connect closes its socket)");
}

/// Occupies the only blocking-pool thread until the returned sender is dropped or sent to.
fn saturate_pool(io: &IoRef) -> (mpsc::Sender<()>, kqio::Blocking<()>) {
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let job = io.spawn_blocking(move || {
        started_tx.send(()).unwrap();
        let _ = release_rx.recv();
    });
    started_rx.recv().unwrap();
    (release_tx, job)
}

#[test]
fn lookup_not_started() {
    let _g = guard("lookup");
    let rt = rt();
    let io = rt.io();
    for (k, released) in runs() {
        let (release_tx, busy) = saturate_pool(&io);
        let io2 = io.clone();
        let release: Option<Box<dyn FnOnce()>> = released.then(|| -> Box<dyn FnOnce()> {
            let tx = release_tx.clone();
            Box::new(move || tx.send(()).unwrap())
        });
        let r = cancel_at(&rt, k, async move { io2.lookup("localhost", 80).await }, release);
        match r {
            Ok(found) => {
                assert!(released, "k={k}: a queued lookup ran");
                assert!(found.addresses.iter().all(|a| a.port() == 80));
            }
            Err(e) => assert!(is_canceled(&e), "k={k}: {e}"),
        }
        drop(release_tx);
        assert_eq!(rt.block_on(busy), Ok(()));
    }
}

#[test]
fn file_operation_not_started() {
    let _g = guard("file operation");
    let rt = rt();
    let io = rt.io();
    for (k, released) in runs() {
        let (release_tx, busy) = saturate_pool(&io);
        let ran = Arc::new(AtomicUsize::new(0));
        let results_dropped = Arc::new(AtomicUsize::new(0));
        struct Res(Arc<AtomicUsize>);
        impl Drop for Res {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let (ran2, dropped2) = (ran.clone(), results_dropped.clone());
        let job = io.spawn_blocking(move || {
            ran2.fetch_add(1, Ordering::SeqCst);
            Res(dropped2)
        });
        let release: Option<Box<dyn FnOnce()>> = released.then(|| -> Box<dyn FnOnce()> {
            let tx = release_tx.clone();
            Box::new(move || tx.send(()).unwrap())
        });
        let r = cancel_at(&rt, k, job, release);
        drop(release_tx);
        assert_eq!(rt.block_on(busy), Ok(()));
        // FIFO: once a job queued after it has run, the canceled job would have run too.
        assert_eq!(rt.block_on(io.spawn_blocking(|| ())), Ok(()));
        match r {
            Ok(res) => {
                assert!(released, "k={k}");
                assert_eq!(ran.load(Ordering::SeqCst), 1);
                drop(res);
            }
            Err(Canceled) if !released => {
                assert_eq!(ran.load(Ordering::SeqCst), 0, "k={k}: the canceled job never runs");
            }
            // It may have started before the request: it ran once and its result was dropped.
            Err(Canceled) => assert!(ran.load(Ordering::SeqCst) <= 1),
        }
        assert_eq!(
            results_dropped.load(Ordering::SeqCst),
            ran.load(Ordering::SeqCst),
            "k={k}: each result dropped exactly once"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Synchronization

/// A slot the driver's hooks fill or empty.
type Slot<T> = std::cell::RefCell<Option<T>>;

#[test]
fn mutex() {
    let _g = guard("mutex");
    let rt = rt();
    for (k, released) in runs() {
        let m = Arc::new(Mutex::new(0u32));
        let held: Slot<_> = Slot::new(Some(m.try_lock().unwrap()));
        let second: Slot<kqio::JoinHandle<()>> = Slot::new(None);
        let m2 = m.clone();
        let m3 = m.clone();
        let hooks = Hooks {
            release: released
                .then(|| -> Box<dyn FnOnce() + '_> { Box::new(|| drop(held.borrow_mut().take())) }),
            queued: Some(Box::new(|| {
                *second.borrow_mut() = Some(spawn_queued(&rt, async move {
                    *m3.lock().await.unwrap() += 10;
                }));
            })),
        };
        let r = cancel_at_with(&rt, k, async move { m2.lock().await.map(|mut g| *g += 1) }, hooks);
        if !released {
            assert_eq!(r, Err(Canceled), "k={k}");
        }
        drop(held.borrow_mut().take());
        // The waiter behind gets the lock: no wake-up was lost with the canceled waiter.
        let second = second.borrow_mut().take();
        let had_second = second.is_some();
        if let Some(h) = second {
            rt.block_on(h);
        }
        let value = *m.try_lock().expect("the mutex is free at the end");
        assert_eq!(value, u32::from(r.is_ok()) + if had_second { 10 } else { 0 }, "k={k}");
    }
}

#[test]
fn rwlock() {
    let _g = guard("rwlock");
    let rt = rt();
    for write in [false, true] {
        for (k, released) in runs() {
            let l = Arc::new(RwLock::new(0u32));
            let held: Slot<_> = Slot::new(Some(l.try_write().unwrap()));
            let second: Slot<kqio::JoinHandle<()>> = Slot::new(None);
            let (l2, l3) = (l.clone(), l.clone());
            let hooks = Hooks {
                release: released.then(|| -> Box<dyn FnOnce() + '_> {
                    Box::new(|| drop(held.borrow_mut().take()))
                }),
                queued: Some(Box::new(|| {
                    *second.borrow_mut() = Some(spawn_queued(&rt, async move {
                        *l3.write().await.unwrap() += 10;
                    }));
                })),
            };
            let op = async move {
                if write {
                    l2.write().await.map(|mut g| *g += 1)
                } else {
                    l2.read().await.map(|g| assert_eq!(*g, 0))
                }
            };
            let r = cancel_at_with(&rt, k, op, hooks);
            if !released {
                assert_eq!(r, Err(Canceled), "k={k} write={write}");
            }
            drop(held.borrow_mut().take());
            let second = second.borrow_mut().take();
            let had_second = second.is_some();
            if let Some(h) = second {
                rt.block_on(h);
            }
            let value = *l.try_write().expect("the lock is free at the end");
            let mine = u32::from(r.is_ok() && write);
            assert_eq!(value, mine + if had_second { 10 } else { 0 }, "k={k} write={write}");
        }
    }
}

#[test]
fn semaphore() {
    let _g = guard("semaphore");
    let rt = rt();
    for (k, released) in runs() {
        let sem = Arc::new(Semaphore::new(0));
        let second: Slot<kqio::JoinHandle<()>> = Slot::new(None);
        let (s2, s3) = (sem.clone(), sem.clone());
        let hooks = Hooks {
            release: released.then(|| -> Box<dyn FnOnce() + '_> { Box::new(|| sem.post()) }),
            queued: Some(Box::new(|| {
                *second.borrow_mut() =
                    Some(spawn_queued(&rt, async move { s3.wait().await.unwrap() }));
            })),
        };
        let r = cancel_at_with(&rt, k, async move { s2.wait().await }, hooks);
        let mut posted = usize::from(released);
        if !released {
            assert_eq!(r, Err(Canceled), "k={k}");
        }
        let second = second.borrow_mut().take();
        let mut taken = usize::from(r.is_ok());
        if let Some(h) = second {
            // A permit the canceled waiter was handed goes on to this one; else post one.
            if !(released && r.is_err()) {
                sem.post();
                posted += 1;
            }
            rt.block_on(h);
            taken += 1;
        }
        assert_eq!(sem.permits() + taken, posted, "k={k}: no permit lost or made");
    }
}

#[test]
fn event() {
    let _g = guard("event");
    let rt = rt();
    for (k, released) in runs() {
        let ev = Arc::new(Event::new());
        let e2 = ev.clone();
        let release: Option<Box<dyn FnOnce()>> =
            released.then(|| -> Box<dyn FnOnce()> { Box::new(|| ev.set()) });
        let r = cancel_at(&rt, k, async move { e2.wait().await }, release);
        if !released {
            assert_eq!(r, Err(Canceled), "k={k}");
        }
        assert_eq!(ev.is_set(), released, "k={k}: a wait consumes nothing");
    }
}

#[test]
fn condition() {
    let _g = guard("condition");
    let rt = rt();
    for (k, released) in runs() {
        let pair = Arc::new((Mutex::new(0u32), Condition::new()));
        let second: Slot<kqio::JoinHandle<()>> = Slot::new(None);
        let (p2, p3) = (pair.clone(), pair.clone());
        let hooks = Hooks {
            release: released.then(|| -> Box<dyn FnOnce() + '_> { Box::new(|| pair.1.signal()) }),
            queued: Some(Box::new(|| {
                *second.borrow_mut() = Some(spawn_queued(&rt, async move {
                    let (m, c) = &*p3;
                    let g = m.lock().await.unwrap();
                    let (mut g, r) = c.wait(g).await;
                    r.unwrap();
                    *g += 10;
                }));
            })),
        };
        let op = async move {
            let (m, c) = &*p2;
            let g = m.lock().await?;
            let (mut g, r) = c.wait(g).await;
            // The mutex is locked again on every path.
            assert!(m.try_lock().is_none());
            if r.is_ok() {
                *g += 1;
            }
            r
        };
        let r = cancel_at_with(&rt, k, op, hooks);
        if !released {
            assert_eq!(r, Err(Canceled), "k={k}");
        }
        let second = second.borrow_mut().take();
        let had_second = second.is_some();
        if let Some(h) = second {
            // A signal the canceled waiter was handed goes on to this one; else signal again.
            if !(released && r.is_err()) {
                pair.1.signal();
            }
            rt.block_on(h);
        }
        let value = *pair.0.try_lock().expect("the mutex is free at the end");
        assert_eq!(value, u32::from(r.is_ok()) + if had_second { 10 } else { 0 }, "k={k}");
    }
}

/// Takes what is in the queue now, without waiting.
fn left<T>(q: &Queue<T>) -> Vec<T> {
    let mut out = Vec::new();
    futures::executor::block_on(q.get(&mut out, 0, 16)).unwrap();
    out
}

#[test]
fn queue_get() {
    let _g = guard("queue get");
    let rt = rt();
    for (k, released) in runs() {
        let q = Arc::new(Queue::<u32>::new(1));
        let q2 = q.clone();
        let release: Option<Box<dyn FnOnce()>> = released.then(|| -> Box<dyn FnOnce()> {
            Box::new(|| futures::executor::block_on(q.put_one(7)).unwrap())
        });
        let r = cancel_at(&rt, k, async move { q2.get_one().await }, release);
        let rest = left(&q);
        match r {
            Ok(v) => {
                assert!(released, "k={k}");
                assert_eq!((v, rest), (7, vec![]), "k={k}: taken once");
            }
            Err(e) => {
                assert_eq!(e, QueueError::Canceled, "k={k}");
                let expect = if released { vec![7] } else { vec![] };
                assert_eq!(rest, expect, "k={k}: a canceled get takes nothing");
            }
        }
    }
}

#[test]
fn queue_put() {
    let _g = guard("queue put");
    let rt = rt();
    for (k, released) in runs() {
        let q = Arc::new(Queue::<u32>::new(1));
        rt.block_on(q.put_one(1)).unwrap();
        let q2 = q.clone();
        let taken: Slot<Vec<u32>> = Slot::new(None);
        let release: Option<Box<dyn FnOnce()>> = released
            .then(|| -> Box<dyn FnOnce()> { Box::new(|| *taken.borrow_mut() = Some(left(&q))) });
        let r = cancel_at(&rt, k, async move { q2.put_one(2).await }, release);
        let mut all: Vec<u32> = taken.borrow_mut().take().unwrap_or_default();
        all.extend(left(&q));
        match r {
            Ok(()) => {
                assert!(released, "k={k}");
                assert_eq!(all, vec![1, 2], "k={k}: put once");
            }
            Err(e) => {
                assert_eq!((e.error, e.into_inner()), (QueueError::Canceled, 2), "k={k}");
                assert_eq!(all, vec![1], "k={k}: a canceled put puts nothing");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Group, Select, join

#[test]
fn group_wait() {
    let _g = guard("group wait");
    let rt = rt();
    let io = rt.io();
    for (k, released) in runs() {
        let ev = Arc::new(Event::new());
        let ended = Arc::new(AtomicUsize::new(0));
        let saw_cancel = Arc::new(AtomicBool::new(false));
        let group = Arc::new(Group::new());
        let (e2, end2, saw2) = (ev.clone(), ended.clone(), saw_cancel.clone());
        group
            .concurrent(&*io, async move {
                let r = e2.wait().await;
                saw2.store(r.is_err(), Ordering::SeqCst);
                end2.fetch_add(1, Ordering::SeqCst);
                r
            })
            .unwrap();
        let g2 = group.clone();
        let release: Option<Box<dyn FnOnce()>> =
            released.then(|| -> Box<dyn FnOnce()> { Box::new(|| ev.set()) });
        let r = cancel_at(&rt, k, async move { g2.wait().await }, release);
        if !released {
            assert_eq!(r, Err(Canceled), "k={k}");
        }
        if r.is_err() {
            // The request went to the member, and wait returned only after it ended.
            assert_eq!(ended.load(Ordering::SeqCst), 1, "k={k}");
        } else {
            assert!(!saw_cancel.load(Ordering::SeqCst), "k={k}: ended normally");
        }
        rt.block_on(group.wait()).unwrap();
        assert_eq!((group.live(), ended.load(Ordering::SeqCst)), (0, 1), "k={k}: ended once");
    }
}

#[derive(Debug, PartialEq)]
enum Arm {
    Done(u8),
    Canceled(u8),
}

#[test]
fn select_wait_hands_back_its_leftovers() {
    let _g = guard("select wait");
    let rt = rt();
    let io = rt.io();
    for (k, released) in runs() {
        let evs: Vec<Arc<Event>> = (0..2).map(|_| Arc::new(Event::new())).collect();
        let select = Arc::new(Select::<Arm>::new());
        for (i, ev) in evs.iter().enumerate() {
            let ev = ev.clone();
            select
                .concurrent(&*io, async move {
                    match ev.wait().await {
                        Ok(()) => Arm::Done(i as u8),
                        Err(Canceled) => Arm::Canceled(i as u8),
                    }
                })
                .unwrap();
        }
        let s2 = select.clone();
        let release: Option<Box<dyn FnOnce()>> =
            released.then(|| -> Box<dyn FnOnce()> { Box::new(|| evs[0].set()) });
        let r = cancel_at(&rt, k, async move { s2.wait().await }, release);
        if !released {
            assert_eq!(r, Err(Canceled), "k={k}");
        }
        let taken = r.as_ref().ok().map(|u| match u {
            Arm::Done(i) => Arm::Done(*i),
            Arm::Canceled(i) => Arm::Canceled(*i),
        });
        let mut results: Vec<Arm> = r.into_iter().collect();
        rt.block_on(async {
            while let Some(u) = select.cancel().await {
                results.push(u);
            }
        });
        results.sort_by_key(|a| match a {
            Arm::Done(i) | Arm::Canceled(i) => *i,
        });
        // Released, member 0 may still see the request of `select.cancel` before its event.
        let first =
            if released && results[0] == Arm::Done(0) { Arm::Done(0) } else { Arm::Canceled(0) };
        assert_eq!(results, vec![first, Arm::Canceled(1)], "k={k}: every result once");
        if let Some(u) = taken {
            assert_eq!(u, Arm::Done(0), "k={k}: only a finished member's result is taken");
        }
    }
}

#[test]
fn join() {
    let _g = guard("join");
    let rt = rt();
    let io = rt.io();
    for (k, released) in runs() {
        let ev = Arc::new(Event::new());
        let e2 = ev.clone();
        let inner = io.concurrent(async move { e2.wait().await }).unwrap();
        let release: Option<Box<dyn FnOnce()>> =
            released.then(|| -> Box<dyn FnOnce()> { Box::new(|| ev.set()) });
        // Awaiting is not itself a cancellation point: the request is forwarded to `inner`,
        // whose wait sees it, and its output is returned.
        let r = cancel_at(&rt, k, inner, release);
        if !released {
            assert_eq!(r, Err(Canceled), "k={k}");
        }
        assert_eq!(rt.metrics().live_tasks, 0, "k={k}: the inner task ended");
    }
}

// ---------------------------------------------------------------------------------------------
// A lock held in a losing Select arm

#[test]
fn a_losing_select_arm_holding_a_lock_does_not_deadlock() {
    let _g = guard("losing arm");
    let rt = rt();
    let io = rt.io();
    for round in 0..50 {
        let m = Arc::new(Mutex::new(0u32));
        let never = Arc::new(Event::new());
        let holding = Arc::new(Event::new());
        let select = Select::<&'static str>::new();
        let (m2, n2, h2) = (m.clone(), never.clone(), holding.clone());
        // The losing arm takes the lock and holds its guard across a wait that never ends.
        select
            .concurrent(&*io, async move {
                let mut g = m2.lock_uncancelable().await;
                *g += 1;
                h2.set();
                let _ = n2.wait().await;
                *g += 1;
                "lock holder"
            })
            .unwrap();
        // A third task queued on the lock while the arm holds it.
        let (m3, h3) = (m.clone(), holding.clone());
        let queued = io
            .concurrent(async move {
                h3.wait().await.unwrap();
                *m3.lock().await.unwrap() += 100;
            })
            .unwrap();
        let io2 = io.clone();
        select
            .concurrent(&*io, async move {
                if round % 2 == 0 {
                    io2.yield_now().await;
                }
                "winner"
            })
            .unwrap();
        let (first, left) = rt.block_on(async {
            holding.wait().await.unwrap();
            let first = select.wait().await.unwrap();
            // The loser is canceled at its wait and drops its guard on the way out.
            let left = select.cancel().await;
            (first, left)
        });
        assert_eq!(first, "winner");
        assert_eq!(left, Some("lock holder"), "the loser's result is handed back");
        assert_eq!(rt.block_on(select.cancel()), None);
        rt.block_on(queued);
        // The lock is free: a later lock does not deadlock.
        let v = rt.block_on(async { *m.lock().await.unwrap() });
        assert_eq!(v, 102);
    }
}

#[test]
fn canceling_a_select_with_several_results_hands_back_each_once() {
    let _g = guard("select leftovers");
    let rt = rt();
    let io = rt.io();
    let select = Select::<Arc<()>>::new();
    let token = Arc::new(());
    for _ in 0..8 {
        let t = token.clone();
        select.concurrent(&*io, async move { t }).unwrap();
    }
    rt.block_on(async {
        while select.live() > 0 {
            io.yield_now().await;
        }
    });
    let mut back = 0;
    rt.block_on(async {
        while let Some(t) = select.cancel().await {
            drop(t);
            back += 1;
        }
    });
    assert_eq!(back, 8);
    assert_eq!(Arc::strong_count(&token), 1, "every result handed back and dropped");
}
