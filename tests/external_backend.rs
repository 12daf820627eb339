//! A backend written outside kqio, with nothing but its public API (`kqio::backend` and the
//! types on the `Io` trait's signatures): one thread, a run queue, and a virtual clock that jumps
//! to the next timer when nothing can run. Tasks and time only; every other method returns a typed
//! error. On it: `r#async`, `concurrent`, sleeps on virtual time, `JoinHandle::cancel` and drop,
//! `check_cancel`, `recancel`, cancel protection, and the typed errors of what it lacks
//! (`from_std`'s `AdoptError::Unsupported`, `as_fd` giving `None`).

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, IoSlice, IoSliceMut, SeekFrom};
use std::net::Shutdown;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use futures::future::BoxFuture;
use kqio::backend::{poll_in_task, Runnable, Schedule, ScheduleReason, TaskHeader, TimerSlot};
use kqio::fs::{
    Access, DirEntry, DirHandle, EntriesHandle, FileHandle, FsFuture, Lock, MapHandle, MapOptions,
    Metadata, Offset, OpenOptions, Permissions, SetTimestamp, StdStream,
};
use kqio::net::{
    AddressKind, AdoptError, BindOptions, ListenOptions, LookupResult, SocketAddress, SocketHandle,
    SocketKind, SocketOption, SocketOptionKind,
};
use kqio::process::{PipeHandle, ProcessHandle, SpawnedProcess};
use kqio::signal::Signal;
use kqio::time::{Clock, Duration, Timeout, Timestamp};
use kqio::{CancelProtection, Canceled, ConcurrencyUnavailable, EntropyUnavailable, Io, IoRef};

/// The typed error of every operation this backend does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NotInThisBackend(&'static str);

impl std::fmt::Display for NotInThisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the toy backend has no {}", self.0)
    }
}

impl std::error::Error for NotInThisBackend {}

fn lacks(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, NotInThisBackend(what))
}

fn lacks_fs<T: Send + 'static>() -> FsFuture<T> {
    Box::pin(std::future::ready(Err(lacks("files"))))
}

/// The run queue: what `Schedule` feeds and `block_on` drains.
#[derive(Default)]
struct Queue {
    runnables: Mutex<VecDeque<Runnable>>,
    spawned: AtomicUsize,
    started: AtomicUsize,
    finished: AtomicUsize,
    yields: AtomicUsize,
}

impl Schedule for Queue {
    fn schedule(&self, runnable: Runnable, reason: ScheduleReason) {
        if reason == ScheduleReason::Spawned {
            self.spawned.fetch_add(1, Ordering::Relaxed);
        }
        if reason == ScheduleReason::Yielded {
            self.yields.fetch_add(1, Ordering::Relaxed);
        }
        self.runnables.lock().unwrap().push_back(runnable);
    }
    fn task_spawned(&self, _task: &TaskHeader) {
        self.started.fetch_add(1, Ordering::Relaxed);
    }
    fn task_finished(&self, _task: &TaskHeader) {
        self.finished.fetch_add(1, Ordering::Relaxed);
    }
}

/// Virtual time and its timers.
#[derive(Default)]
struct Timers {
    now: i64,
    next_id: u64,
    /// id -> (deadline, waker).
    pending: BTreeMap<u64, (i64, Waker)>,
}

/// The backend.
#[derive(Default)]
struct Toy {
    queue: Arc<Queue>,
    timers: Mutex<Timers>,
    random: AtomicU64,
}

/// The waker of `block_on`'s own future: a flag.
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Toy {
    /// Runs `future` as a task of its own on this thread, with the spawned tasks, until it
    /// completes; when nothing can run, virtual time jumps to the next timer.
    fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        let task = TaskHeader::detached(false);
        let flag = Arc::new(Flag(AtomicBool::new(true)));
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        loop {
            if flag.0.swap(false, Ordering::SeqCst) {
                if let Poll::Ready(out) = poll_in_task(&task, future.as_mut(), &mut cx) {
                    return out;
                }
            }
            let next = self.queue.runnables.lock().unwrap().pop_front();
            if let Some(runnable) = next {
                runnable.run();
                continue;
            }
            if flag.0.load(Ordering::SeqCst) {
                continue;
            }
            let waker = {
                let mut t = self.timers.lock().unwrap();
                let earliest = t.pending.iter().min_by_key(|(id, (at, _))| (*at, **id));
                let Some((&id, &(at, _))) = earliest else {
                    panic!("deadlock: nothing runnable, no timer pending")
                };
                t.now = t.now.max(at);
                t.pending.remove(&id).map(|(_, w)| w)
            };
            waker.expect("the timer just found").wake();
        }
    }

    fn now(&self) -> Duration {
        Duration::from_nanos(self.timers.lock().unwrap().now)
    }
}

impl Io for Toy {
    // ----- task: kqio's helpers do the work -----
    fn task_reserve(&self) -> Result<Arc<dyn Schedule>, ConcurrencyUnavailable> {
        Ok(self.queue.clone())
    }
    fn task_is_shut_down(&self) -> bool {
        false
    }

    // ----- time: virtual -----
    fn time_now(&self, _clock: Clock) -> Timestamp {
        Timestamp::from_nanos(self.timers.lock().unwrap().now)
    }
    fn time_resolution(&self, _clock: Clock) -> Duration {
        Duration::from_nanos(1)
    }
    fn time_poll_sleep(
        &self,
        cx: &mut Context<'_>,
        slot: &mut TimerSlot,
        deadline: Timestamp,
        _passed: Timestamp,
    ) -> Poll<()> {
        let mut t = self.timers.lock().unwrap();
        if deadline.as_nanos() <= t.now {
            if slot.0 != 0 {
                t.pending.remove(&slot.0);
                *slot = TimerSlot::default();
            }
            return Poll::Ready(());
        }
        if slot.0 == 0 {
            t.next_id += 1;
            slot.0 = t.next_id;
        }
        // (Re)registered: a timer fired early by `block_on` is never ready before its deadline.
        t.pending.insert(slot.0, (deadline.as_nanos(), cx.waker().clone()));
        Poll::Pending
    }
    fn time_cancel_sleep(&self, slot: &mut TimerSlot) {
        self.timers.lock().unwrap().pending.remove(&slot.0);
        *slot = TimerSlot::default();
    }

    // ----- blocking: run in place (one thread, nothing else to block) -----
    fn blocking_submit(&self, job: Box<dyn FnOnce() + Send>) {
        job()
    }

    // ----- random: a deterministic xorshift -----
    fn random_fill(&self, buf: &mut [u8]) {
        for b in buf {
            let mut x = self.random.load(Ordering::Relaxed) | 1;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.random.store(x, Ordering::Relaxed);
            *b = x as u8;
        }
    }
    fn random_fill_secure(&self, _buf: &mut [u8]) -> Result<(), EntropyUnavailable> {
        Err(EntropyUnavailable)
    }

    // ----- everything else: a typed error -----
    fn net_listen(&self, _: &SocketAddress, _: &ListenOptions) -> io::Result<SocketHandle> {
        Err(lacks("sockets"))
    }
    fn net_poll_accept(
        &self,
        _: &mut Context<'_>,
        _: &SocketHandle,
    ) -> Poll<io::Result<(SocketHandle, SocketAddress)>> {
        Poll::Ready(Err(lacks("sockets")))
    }
    fn net_connect(&self, _: &SocketAddress) -> io::Result<SocketHandle> {
        Err(lacks("sockets"))
    }
    fn net_poll_connect(&self, _: &mut Context<'_>, _: &SocketHandle) -> Poll<io::Result<()>> {
        Poll::Ready(Err(lacks("sockets")))
    }
    fn net_bind(&self, _: &SocketAddress, _: &BindOptions) -> io::Result<SocketHandle> {
        Err(lacks("sockets"))
    }
    fn net_connect_datagram(&self, _: &SocketHandle, _: &SocketAddress) -> io::Result<()> {
        Err(lacks("sockets"))
    }
    fn net_socket_pair(&self, _: SocketKind) -> io::Result<(SocketHandle, SocketHandle)> {
        Err(lacks("sockets"))
    }
    fn net_poll_read(
        &self,
        _: &mut Context<'_>,
        _: &SocketHandle,
        _: &mut [u8],
        _: bool,
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(lacks("sockets")))
    }
    fn net_poll_read_vectored(
        &self,
        _: &mut Context<'_>,
        _: &SocketHandle,
        _: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(lacks("sockets")))
    }
    fn net_poll_write(
        &self,
        _: &mut Context<'_>,
        _: &SocketHandle,
        _: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(lacks("sockets")))
    }
    fn net_poll_write_vectored(
        &self,
        _: &mut Context<'_>,
        _: &SocketHandle,
        _: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(lacks("sockets")))
    }
    fn net_poll_receive_from(
        &self,
        _: &mut Context<'_>,
        _: &SocketHandle,
        _: &mut [u8],
        _: bool,
    ) -> Poll<io::Result<(usize, SocketAddress)>> {
        Poll::Ready(Err(lacks("sockets")))
    }
    fn net_poll_send_to(
        &self,
        _: &mut Context<'_>,
        _: &SocketHandle,
        _: &[u8],
        _: &SocketAddress,
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(lacks("sockets")))
    }
    fn net_shutdown(&self, _: &SocketHandle, _: Shutdown) -> io::Result<()> {
        Err(lacks("sockets"))
    }
    fn net_address(&self, _: &SocketHandle, _: AddressKind) -> io::Result<SocketAddress> {
        Err(lacks("sockets"))
    }
    fn net_set_option(&self, _: &SocketHandle, _: SocketOption) -> io::Result<()> {
        Err(lacks("sockets"))
    }
    fn net_option(&self, _: &SocketHandle, _: SocketOptionKind) -> io::Result<SocketOption> {
        Err(lacks("sockets"))
    }
    fn net_interface_index(&self, _: &str) -> io::Result<u32> {
        Err(lacks("network interfaces"))
    }
    fn net_interface_name(&self, _: u32) -> io::Result<String> {
        Err(lacks("network interfaces"))
    }
    fn net_lookup(&self, _: &str, _: u16) -> BoxFuture<'static, io::Result<LookupResult>> {
        Box::pin(std::future::ready(Err(lacks("name lookup"))))
    }
    fn signal_listen(&self, _: Signal) -> io::Result<u64> {
        Err(lacks("signals"))
    }
    fn signal_poll(&self, _: &mut Context<'_>, _: Signal, _: &mut u64) -> Poll<io::Result<()>> {
        Poll::Ready(Err(lacks("signals")))
    }
    fn process_spawn(&self, _: &mut std::process::Command) -> io::Result<SpawnedProcess> {
        Err(lacks("processes"))
    }
    fn process_poll_wait(
        &self,
        _: &mut Context<'_>,
        _: &ProcessHandle,
    ) -> Poll<io::Result<std::process::ExitStatus>> {
        Poll::Ready(Err(lacks("processes")))
    }
    fn process_try_wait(&self, _: &ProcessHandle) -> io::Result<Option<std::process::ExitStatus>> {
        Err(lacks("processes"))
    }
    fn process_signal(&self, _: &ProcessHandle, _: Signal) -> io::Result<()> {
        Err(lacks("processes"))
    }
    fn process_id(&self, _: &ProcessHandle) -> u32 {
        0
    }
    fn process_executable_path(&self) -> io::Result<PathBuf> {
        Err(lacks("processes"))
    }
    fn process_current_dir(&self) -> io::Result<PathBuf> {
        Err(lacks("processes"))
    }
    fn pipe_poll_read(
        &self,
        _: &mut Context<'_>,
        _: &PipeHandle,
        _: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(lacks("pipes")))
    }
    fn pipe_poll_write(
        &self,
        _: &mut Context<'_>,
        _: &PipeHandle,
        _: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(lacks("pipes")))
    }
    fn fs_cwd(&self) -> DirHandle {
        // A handle that every fs method below refuses.
        DirHandle::new(Arc::new(()))
    }
    fn dir_open_file(&self, _: &DirHandle, _: &Path, _: &OpenOptions) -> FsFuture<FileHandle> {
        lacks_fs()
    }
    fn dir_open_dir(&self, _: &DirHandle, _: &Path, _: bool) -> FsFuture<DirHandle> {
        lacks_fs()
    }
    fn dir_create_dir(&self, _: &DirHandle, _: &Path, _: Permissions) -> FsFuture<()> {
        lacks_fs()
    }
    fn dir_create_dir_path(&self, _: &DirHandle, _: &Path, _: Permissions) -> FsFuture<bool> {
        lacks_fs()
    }
    fn dir_stat(&self, _: &DirHandle) -> FsFuture<Metadata> {
        lacks_fs()
    }
    fn dir_stat_path(&self, _: &DirHandle, _: &Path, _: bool) -> FsFuture<Metadata> {
        lacks_fs()
    }
    fn dir_access(&self, _: &DirHandle, _: &Path, _: Access) -> FsFuture<()> {
        lacks_fs()
    }
    fn dir_read_file(&self, _: &DirHandle, _: &Path) -> FsFuture<Vec<u8>> {
        lacks_fs()
    }
    fn dir_write_file(&self, _: &DirHandle, _: &Path, _: Vec<u8>, _: Permissions) -> FsFuture<()> {
        lacks_fs()
    }
    fn dir_entries(&self, _: &DirHandle) -> FsFuture<EntriesHandle> {
        lacks_fs()
    }
    fn dir_entries_next(&self, _: &EntriesHandle, _: usize) -> FsFuture<Vec<DirEntry>> {
        lacks_fs()
    }
    fn dir_real_path(&self, _: &DirHandle, _: &Path) -> FsFuture<PathBuf> {
        lacks_fs()
    }
    fn dir_delete_file(&self, _: &DirHandle, _: &Path) -> FsFuture<()> {
        lacks_fs()
    }
    fn dir_delete_dir(&self, _: &DirHandle, _: &Path) -> FsFuture<()> {
        lacks_fs()
    }
    fn dir_delete_tree(&self, _: &DirHandle, _: &Path) -> FsFuture<()> {
        lacks_fs()
    }
    fn dir_rename(&self, _: &DirHandle, _: &Path, _: &DirHandle, _: &Path) -> FsFuture<()> {
        lacks_fs()
    }
    fn dir_symlink(&self, _: &DirHandle, _: &Path, _: &Path) -> FsFuture<()> {
        lacks_fs()
    }
    fn dir_read_link(&self, _: &DirHandle, _: &Path) -> FsFuture<PathBuf> {
        lacks_fs()
    }
    fn dir_hard_link(&self, _: &DirHandle, _: &Path, _: &DirHandle, _: &Path) -> FsFuture<()> {
        lacks_fs()
    }
    fn dir_set_permissions(&self, _: &DirHandle, _: &Path, _: Permissions) -> FsFuture<()> {
        lacks_fs()
    }
    fn dir_set_owner(
        &self,
        _: &DirHandle,
        _: &Path,
        _: Option<u32>,
        _: Option<u32>,
        _: bool,
    ) -> FsFuture<()> {
        lacks_fs()
    }
    fn dir_set_timestamps(
        &self,
        _: &DirHandle,
        _: &Path,
        _: SetTimestamp,
        _: SetTimestamp,
        _: bool,
    ) -> FsFuture<()> {
        lacks_fs()
    }
    fn file_stat(&self, _: &FileHandle) -> FsFuture<Metadata> {
        lacks_fs()
    }
    fn file_set_length(&self, _: &FileHandle, _: u64) -> FsFuture<()> {
        lacks_fs()
    }
    fn file_read(&self, _: &FileHandle, _: Vec<u8>, _: usize, _: Offset) -> FsFuture<Vec<u8>> {
        lacks_fs()
    }
    fn file_write(&self, _: &FileHandle, _: Vec<u8>, _: Offset) -> FsFuture<(usize, Vec<u8>)> {
        lacks_fs()
    }
    fn file_seek(&self, _: &FileHandle, _: SeekFrom) -> FsFuture<u64> {
        lacks_fs()
    }
    fn file_sync(&self, _: &FileHandle, _: bool) -> FsFuture<()> {
        lacks_fs()
    }
    fn file_set_permissions(&self, _: &FileHandle, _: Permissions) -> FsFuture<()> {
        lacks_fs()
    }
    fn file_set_owner(&self, _: &FileHandle, _: Option<u32>, _: Option<u32>) -> FsFuture<()> {
        lacks_fs()
    }
    fn file_set_timestamps(
        &self,
        _: &FileHandle,
        _: SetTimestamp,
        _: SetTimestamp,
    ) -> FsFuture<()> {
        lacks_fs()
    }
    fn file_lock(&self, _: &FileHandle, _: Lock, _: bool) -> FsFuture<bool> {
        lacks_fs()
    }
    fn file_is_tty(&self, _: &FileHandle) -> bool {
        false
    }
    fn file_real_path(&self, _: &FileHandle) -> FsFuture<PathBuf> {
        lacks_fs()
    }
    fn file_copy(
        &self,
        _: &FileHandle,
        _: Offset,
        _: &FileHandle,
        _: Offset,
        _: u64,
    ) -> FsFuture<u64> {
        lacks_fs()
    }
    fn file_close(&self, _: FileHandle) -> FsFuture<()> {
        lacks_fs()
    }
    fn file_map(&self, _: &FileHandle, _: MapOptions) -> FsFuture<MapHandle> {
        lacks_fs()
    }
    fn map_flush(&self, _: &MapHandle, _: usize, _: usize) -> FsFuture<()> {
        lacks_fs()
    }
    fn map_set_length(&self, _: &MapHandle, _: usize) -> FsFuture<MapHandle> {
        lacks_fs()
    }
    fn fs_stdio(&self, _: StdStream) -> io::Result<FileHandle> {
        Err(lacks("files"))
    }
    fn fs_pipe(&self) -> io::Result<(FileHandle, FileHandle)> {
        Err(lacks("files"))
    }
}

fn toy() -> (Arc<Toy>, IoRef) {
    let toy = Arc::new(Toy::default());
    let io = IoRef::new(toy.clone());
    (toy, io)
}

#[test]
fn tasks_run_and_sleep_on_virtual_time() {
    let (toy, io) = toy();
    let out = toy.block_on(async {
        let a = io.r#async({
            let io = io.clone();
            async move {
                io.sleep(Timeout::after(Duration::from_secs(10))).await.unwrap();
                io.now(Clock::Awake)
            }
        });
        let b = io.concurrent(async { 22 }).expect("the toy takes any number of tasks");
        let slept_until = a.await;
        (slept_until, b.await + 20)
    });
    // Ten virtual seconds, exactly, and no real ones.
    assert_eq!(out, (Timestamp::from_nanos(Duration::from_secs(10).as_nanos()), 42));
    assert_eq!(toy.now(), Duration::from_secs(10));
    let q = &toy.queue;
    assert_eq!(q.spawned.load(Ordering::Relaxed), 2);
    assert_eq!(q.started.load(Ordering::Relaxed), 2);
    assert_eq!(q.finished.load(Ordering::Relaxed), 2);
}

#[test]
fn cancel_ends_a_sleep_and_yields_the_task_output() {
    let (toy, io) = toy();
    toy.block_on(async {
        let sleeper = io.r#async({
            let io = io.clone();
            async move { io.sleep(Timeout::after(Duration::from_secs(3600))).await }
        });
        // Let it start and register its timer, then cancel it.
        io.yield_now().await;
        assert_eq!(sleeper.cancel().await, Err(Canceled));
    });
    // The hour-long timer was freed, not waited for.
    assert_eq!(toy.now(), Duration::from_nanos(0));
    assert!(toy.timers.lock().unwrap().pending.is_empty());
}

#[test]
fn check_cancel_recancel_and_protection_work_in_tasks() {
    let (toy, io) = toy();
    let polls = Arc::new(AtomicUsize::new(0));
    let seen = toy.block_on({
        let io = io.clone();
        let polls = polls.clone();
        async move {
            let worker = io.r#async({
                let io = io.clone();
                async move {
                    // Spin on yields until canceled: check_cancel is the only cancellation point.
                    loop {
                        polls.fetch_add(1, Ordering::Relaxed);
                        if let Err(Canceled) = io.check_cancel() {
                            break;
                        }
                        io.yield_now().await;
                    }
                    // Delivered once; recancel re-arms it; protection hides it.
                    let after = io.check_cancel();
                    io.recancel();
                    let previous = io.swap_cancel_protection(CancelProtection::Blocked);
                    let protected = io.check_cancel();
                    io.swap_cancel_protection(previous);
                    let rearmed = io.check_cancel();
                    (after, protected, rearmed)
                }
            });
            for _ in 0..3 {
                io.yield_now().await;
            }
            worker.cancel().await
        }
    });
    assert_eq!(seen, (Ok(()), Ok(()), Err(Canceled)));
    assert!(polls.load(Ordering::Relaxed) >= 2, "the task ran before it was canceled");
    assert!(toy.queue.yields.load(Ordering::Relaxed) >= 1, "yields are scheduled as Yielded");
}

#[test]
fn dropping_a_handle_drops_the_task() {
    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let (toy, io) = toy();
    let dropped = Arc::new(AtomicBool::new(false));
    toy.block_on(async {
        let guard = SetOnDrop(dropped.clone());
        let handle = io.r#async({
            let io = io.clone();
            async move {
                let _guard = guard;
                io.sleep(Timeout::None).await
            }
        });
        io.yield_now().await;
        drop(handle);
        // The task is dropped at its next scheduling point: let the queue run.
        io.yield_now().await;
    });
    assert!(dropped.load(Ordering::SeqCst));
    assert_eq!(toy.queue.finished.load(Ordering::Relaxed), 1);
}

#[test]
fn what_the_backend_lacks_fails_with_typed_errors() {
    let (toy, io) = toy();
    toy.block_on(async {
        let e = kqio::net::TcpListener::bind(&io, "127.0.0.1:0".parse().unwrap()).await;
        let e = e.unwrap_err();
        assert_eq!(e.get_ref().and_then(|e| e.downcast_ref()), Some(&NotInThisBackend("sockets")));

        // No descriptors: adoption's default refuses with its own typed error.
        let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let e = kqio::net::UdpSocket::from_std(&io, std_socket).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Unsupported);
        assert_eq!(AdoptError::of(&e), Some(AdoptError::Unsupported));

        // spawn_blocking runs in place; random is the toy's.
        assert_eq!(io.spawn_blocking(|| 7).await, Ok(7));
        let mut buf = [0u8; 8];
        io.random(&mut buf);
        assert_ne!(buf, [0u8; 8]);
        assert_eq!(io.random_secure(&mut buf), Err(EntropyUnavailable));
    });
}
