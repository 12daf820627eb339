//! The hot path allocates nothing: after a warm-up, 10,000 echo round trips over TCP (a write,
//! a wait for readiness, a read, on both sides, across two workers) make zero heap allocations
//! in the whole process. A counting global allocator proves it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use kqio::net::{TcpListener, TcpStream};
use kqio::{InitOptions, Kqueue};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s
// guarantees carry over; the counter is a side effect that allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded as is (see the impl).
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const WARM_UP: usize = 2_000;
const MEASURED: usize = 10_000;

#[test]
fn ten_thousand_echo_round_trips_allocate_nothing() {
    let rt = Kqueue::init(InitOptions { n_threads: Some(2), ..Default::default() }).unwrap();
    let io = rt.io();
    let allocations = rt.block_on(async {
        let listener = TcpListener::bind(&io, "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = io.r#async(async move {
            let (s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 64];
            loop {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                s.write_all(&buf[..n]).await.unwrap();
            }
        });
        let client_io = io.clone();
        let client = io.r#async(async move {
            let c = TcpStream::connect(&client_io, addr).await.unwrap();
            c.set_nodelay(true).unwrap();
            let msg = [42u8; 64];
            let mut buf = [0u8; 64];
            for i in 0..WARM_UP + MEASURED {
                if i == WARM_UP {
                    ALLOCATIONS.store(0, Ordering::SeqCst);
                    COUNTING.store(true, Ordering::SeqCst);
                }
                c.write_all(&msg).await.unwrap();
                c.read_exact(&mut buf).await.unwrap();
                assert_eq!(buf, msg);
            }
            COUNTING.store(false, Ordering::SeqCst);
            ALLOCATIONS.load(Ordering::SeqCst)
        });
        let n = client.await;
        server.await;
        n
    });
    assert_eq!(allocations, 0, "{allocations} allocations in {MEASURED} round trips");
}
