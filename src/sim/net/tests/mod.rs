//! Unit tests of the network model, on a small test `Env` (a manual clock, a seeded
//! splitmix64, a timer list) and a tiny poll loop: poll every woken task, and when none is
//! woken, advance time to the earliest `wake_at` and wake it.

use std::future::{poll_fn, Future};
use std::io::{self, ErrorKind, IoSlice, IoSliceMut};
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use super::*;
use crate::sim::env::SimEnv;
use crate::time::Duration;

mod datagram;
mod stream;

struct TestEnv {
    now: Mutex<u64>,
    rng: Mutex<u64>,
    timers: Mutex<Vec<(u64, Waker)>>,
    log: Mutex<Vec<String>>,
}

impl SimEnv for TestEnv {
    fn now(&self) -> u64 {
        *self.now.lock().unwrap()
    }
    fn real_now(&self, _host: HostId) -> i64 {
        self.now() as i64
    }

    fn random_u64(&self) -> u64 {
        let mut s = self.rng.lock().unwrap();
        *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn wake_at(&self, at: u64, waker: Waker) {
        self.timers.lock().unwrap().push((at, waker));
    }
    fn log(&self, event: std::fmt::Arguments<'_>) {
        self.log.lock().unwrap().push(event.to_string());
    }
}

struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

type Task<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// A world of `hosts` hosts ("h0", "h1", ...) on one network.
struct W {
    env: Env,
    t: Arc<TestEnv>,
    net: SimNet,
}

const SEC: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;

fn world(seed: u64, hosts: u32, options: NetOptions) -> W {
    let t = Arc::new(TestEnv {
        now: Mutex::new(0),
        rng: Mutex::new(seed),
        timers: Mutex::new(Vec::new()),
        log: Mutex::new(Vec::new()),
    });
    let net = SimNet::new(options);
    for h in 0..hosts {
        net.add_host(h, &format!("h{h}"));
    }
    W { env: t.clone(), t, net }
}

impl W {
    fn now(&self) -> u64 {
        self.t.now()
    }

    /// Runs `tasks` until all are done, or nothing is ready and no timer is left, or virtual
    /// time would pass `until`. Returns how many finished.
    fn run(&self, tasks: Vec<Task<'_>>, until: u64) -> usize {
        let mut tasks: Vec<(Option<Task<'_>>, Arc<Flag>)> =
            tasks.into_iter().map(|t| (Some(t), Arc::new(Flag(AtomicBool::new(true))))).collect();
        loop {
            let mut progressed = false;
            for (task, flag) in tasks.iter_mut() {
                if task.is_some() && flag.0.swap(false, Ordering::SeqCst) {
                    progressed = true;
                    let waker = Waker::from(flag.clone());
                    if task
                        .as_mut()
                        .unwrap()
                        .as_mut()
                        .poll(&mut Context::from_waker(&waker))
                        .is_ready()
                    {
                        *task = None;
                    }
                }
            }
            let done = tasks.iter().filter(|(t, _)| t.is_none()).count();
            if done == tasks.len() {
                return done;
            }
            if progressed {
                continue;
            }
            let mut timers = self.t.timers.lock().unwrap();
            let Some(at) = timers.iter().map(|(at, _)| *at).min() else { return done };
            if at > until {
                return done;
            }
            let (due, rest): (Vec<_>, Vec<_>) = timers.drain(..).partition(|(a, _)| *a == at);
            *timers = rest;
            drop(timers);
            let mut now = self.t.now.lock().unwrap();
            *now = (*now).max(at);
            drop(now);
            for (_, w) in due {
                w.wake();
            }
        }
    }

    fn listen(&self, host: HostId, addr: &str) -> SocketHandle {
        self.net.listen(&self.env, host, &ip(addr), &ListenOptions::default()).unwrap()
    }

    async fn accept(
        &self,
        host: HostId,
        l: &SocketHandle,
    ) -> io::Result<(SocketHandle, SocketAddress)> {
        poll_fn(|cx| self.net.poll_accept(&self.env, host, cx, l)).await
    }

    async fn connect(&self, host: HostId, addr: &SocketAddress) -> io::Result<SocketHandle> {
        let s = self.net.connect(&self.env, host, addr)?;
        poll_fn(|cx| self.net.poll_connect(&self.env, host, cx, &s)).await?;
        Ok(s)
    }

    async fn read(&self, host: HostId, s: &SocketHandle, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.net.poll_read(&self.env, host, cx, s, buf, false)).await
    }

    async fn write(&self, host: HostId, s: &SocketHandle, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.net.poll_write(&self.env, host, cx, s, buf)).await
    }

    async fn write_all(&self, host: HostId, s: &SocketHandle, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let n = self.write(host, s, buf).await?;
            buf = &buf[n..];
        }
        Ok(())
    }

    async fn read_to_end(&self, host: HostId, s: &SocketHandle) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match self.read(host, s, &mut buf).await? {
                0 => return Ok(out),
                n => out.extend_from_slice(&buf[..n]),
            }
        }
    }

    async fn recv_from(
        &self,
        host: HostId,
        s: &SocketHandle,
        buf: &mut [u8],
    ) -> io::Result<(usize, SocketAddress)> {
        poll_fn(|cx| self.net.poll_receive_from(&self.env, host, cx, s, buf, false)).await
    }

    async fn send_to(
        &self,
        host: HostId,
        s: &SocketHandle,
        buf: &[u8],
        to: &SocketAddress,
    ) -> io::Result<usize> {
        poll_fn(|cx| self.net.poll_send_to(&self.env, host, cx, s, buf, to)).await
    }

    /// One poll with a waker nobody watches.
    fn poll_write_once(
        &self,
        host: HostId,
        s: &SocketHandle,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let waker = Waker::from(Arc::new(Flag(AtomicBool::new(false))));
        self.net.poll_write(&self.env, host, &mut Context::from_waker(&waker), s, buf)
    }

    fn poll_read_once(
        &self,
        host: HostId,
        s: &SocketHandle,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let waker = Waker::from(Arc::new(Flag(AtomicBool::new(false))));
        self.net.poll_read(&self.env, host, &mut Context::from_waker(&waker), s, buf, false)
    }

    fn logs(&self) -> Vec<String> {
        self.t.log.lock().unwrap().clone()
    }
}

fn ip(s: &str) -> SocketAddress {
    SocketAddress::Ip(s.parse::<SocketAddr>().unwrap())
}

fn raw(e: &io::Error) -> Option<i32> {
    e.raw_os_error()
}

trait IntoReady<T> {
    fn into_ready(self) -> T;
}

impl<T> IntoReady<T> for Poll<T> {
    fn into_ready(self) -> T {
        match self {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("pending"),
        }
    }
}

fn raw_of(i: i32) -> io::Error {
    io::Error::from_raw_os_error(i)
}

impl W {
    fn poll_send_to_once(&self, s: &SocketHandle, buf: &[u8], to: &SocketAddress) -> io::Error {
        let waker = Waker::from(Arc::new(Flag(AtomicBool::new(false))));
        self.net
            .poll_send_to(&self.env, 0, &mut Context::from_waker(&waker), s, buf, to)
            .into_ready()
            .unwrap_err()
    }
}

/// Sleeps `ns` of virtual time.
async fn sleep(w: &W, ns: u64) {
    let at = w.now() + ns;
    poll_fn(|cx| {
        if w.now() >= at {
            return Poll::Ready(());
        }
        w.env.wake_at(at, cx.waker().clone());
        Poll::Pending
    })
    .await
}
