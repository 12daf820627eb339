//! The simulated host's side of the [`Io`] trait: the table of delegations from the vtable to
//! the world (tasks, time, blocking jobs, random, signals, processes) and to the models (network,
//! disk).
//!
//! Ground rules:
//! 1. Every method is one line into the world or a model, as the kqueue backend's table is (with
//!    the wait's record of rule 2 around it); the logic lives there.
//! 2. A method that may return `Pending` on the simulated world records what its task waits on
//!    (`pending_on`, one store on the pending path), with the variant the kqueue backend records
//!    for the same wait: read/write readiness for socket transfers, accept, connect, a signal.
//!    (A process wait records in `process.rs`, the disk's futures in `disk/wait.rs` and
//!    `disk/pipe.rs`, a sleep in `sleep.rs`, above the backends.)
//! 3. A `SimIo` belongs to one epoch of one host: after the host crashes it reports itself shut
//!    down, and the tasks it spawns are dropped unrun.

use std::io::{self, IoSlice, IoSliceMut, SeekFrom};
use std::net::Shutdown;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;

use super::env::{Env, HostId};
use super::unsupported;
use super::world::{HostSched, World};
use crate::error::{Canceled, ConcurrencyUnavailable, EntropyUnavailable, LocalUnavailable};
use crate::fs::{
    Access, DirEntry, DirHandle, EntriesHandle, FileHandle, FsFuture, Lock, MapHandle, MapOptions,
    Metadata, Offset, OpenOptions, Permissions, SetTimestamp, StdStream,
};
use crate::io::Io;
use crate::net::{
    AddressKind, BindOptions, ListenOptions, LookupResult, SocketAddress, SocketHandle, SocketKind,
    SocketOption, SocketOptionKind,
};
use crate::process::{PipeHandle, ProcessHandle, SpawnedProcess};
use crate::signal::Signal;
use crate::sleep::TimerSlot;
use crate::task::activity::pending_on;
use crate::task::{Schedule, WaitingOn};
use crate::time::{Clock, Duration, Timestamp};

/// The `Io` object of one epoch of one simulated host.
pub(crate) struct SimIo {
    sched: Arc<HostSched>,
    world: Arc<World>,
    /// The world, as the models take it.
    env: Env,
    host: HostId,
}

impl SimIo {
    pub(crate) fn new(sched: Arc<HostSched>, host: HostId) -> SimIo {
        let world = sched.world().clone();
        SimIo { env: world.clone(), world, sched, host }
    }
}

impl Io for SimIo {
    // ----- task -----
    fn task_reserve(&self) -> Result<Arc<dyn Schedule>, ConcurrencyUnavailable> {
        // Never refused: an inline run (what `r#async` does on a refusal) would park the world's
        // only thread. A task of a crashed host is dropped unrun by its scheduler instead.
        Ok(self.sched.clone() as Arc<dyn Schedule>)
    }
    fn task_is_shut_down(&self) -> bool {
        self.sched.is_shut_down()
    }
    /// The world runs every task on the one thread that steps it, so a local task is an ordinary
    /// task of the host, spawned from one of its tasks. From elsewhere (the test's code between
    /// steps, a blocking job) there is no task thread to bind it to: `LocalUnavailable`. A world
    /// with local tasks must then be stepped on that thread only (the `Sim` is not moved to
    /// another), or the local task's poll panics (the check of `task/local.rs`, ground rule 3).
    fn task_reserve_local(
        &self,
    ) -> Result<Result<Arc<dyn Schedule>, ConcurrencyUnavailable>, LocalUnavailable> {
        if !self.world.is_driving_thread() {
            return Err(LocalUnavailable);
        }
        Ok(self.task_reserve())
    }

    // ----- time -----
    fn time_now(&self, clock: Clock) -> Timestamp {
        self.world.clock(self.host, clock)
    }
    fn time_resolution(&self, _clock: Clock) -> Duration {
        Duration::NANOSECOND
    }
    fn time_poll_sleep(
        &self,
        cx: &mut Context<'_>,
        t: &mut TimerSlot,
        at: Timestamp,
        _passed: Timestamp,
    ) -> Poll<()> {
        self.world.poll_sleep(self.host, cx, &mut t.0, at)
    }
    fn time_cancel_sleep(&self, t: &mut TimerSlot) {
        self.world.cancel_sleep(&mut t.0)
    }
    fn time_until(&self, clock: Clock, deadline: Timestamp) -> Duration {
        self.world.until(self.host, clock, deadline)
    }

    // ----- blocking -----
    fn blocking_submit(&self, job: Box<dyn FnOnce() + Send>) {
        self.world.submit_job(job)
    }

    // ----- observe -----
    /// The host's share of the world, as one "worker" (the world's one thread, as this host
    /// sees it): `polls` of the host's tasks, `busy` their simulated CPU time (1 µs a poll, as
    /// the CPU clocks count), `local_queue_depth` its tasks ready to run now (held ones of a
    /// paused host included); no steals or parks. `timers_pending` and `timers_fired` count the
    /// host's sleeps and timeouts (not the models' internal timers); `live_tasks` its tasks
    /// spawned and not yet finished. No reactor, no blocking pool (jobs are the world's timers):
    /// those fields are zero. Counters run since the host's program last
    /// started: a restart resets them, as a restarted process starts with a new runtime.
    fn metrics(&self) -> crate::observe::RuntimeMetrics {
        self.world.metrics(self.host)
    }
    fn task_dump(&self) -> crate::observe::TaskDump {
        self.world.task_dump(self.host)
    }

    // ----- fault points -----
    fn fault_point(&self, name: &str) -> bool {
        self.world.fault_point(self.host, name)
    }

    // ----- net -----
    fn net_listen(&self, a: &SocketAddress, o: &ListenOptions) -> io::Result<SocketHandle> {
        self.world.net.listen(&self.env, self.host, a, o)
    }
    fn net_poll_accept(
        &self,
        cx: &mut Context<'_>,
        listener: &SocketHandle,
    ) -> Poll<io::Result<(SocketHandle, SocketAddress)>> {
        pending_on(
            self.world.net.poll_accept(&self.env, self.host, cx, listener),
            WaitingOn::Accept,
        )
    }
    fn net_connect(&self, a: &SocketAddress) -> io::Result<SocketHandle> {
        self.world.net.connect(&self.env, self.host, a)
    }
    fn net_poll_connect(&self, cx: &mut Context<'_>, s: &SocketHandle) -> Poll<io::Result<()>> {
        pending_on(self.world.net.poll_connect(&self.env, self.host, cx, s), WaitingOn::Connect)
    }
    fn net_bind(&self, a: &SocketAddress, o: &BindOptions) -> io::Result<SocketHandle> {
        self.world.net.bind(&self.env, self.host, a, o)
    }
    fn net_connect_datagram(&self, s: &SocketHandle, a: &SocketAddress) -> io::Result<()> {
        self.world.net.connect_datagram(&self.env, self.host, s, a)
    }
    fn net_socket_pair(&self, kind: SocketKind) -> io::Result<(SocketHandle, SocketHandle)> {
        self.world.net.socket_pair(&self.env, self.host, kind)
    }
    fn net_poll_read(
        &self,
        cx: &mut Context<'_>,
        s: &SocketHandle,
        buf: &mut [u8],
        peek: bool,
    ) -> Poll<io::Result<usize>> {
        pending_on(
            self.world.net.poll_read(&self.env, self.host, cx, s, buf, peek),
            WaitingOn::Read,
        )
    }
    fn net_poll_read_vectored(
        &self,
        cx: &mut Context<'_>,
        s: &SocketHandle,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = self.world.net.poll_read_vectored(&self.env, self.host, cx, s, bufs);
        pending_on(r, WaitingOn::Read)
    }
    fn net_poll_write(
        &self,
        cx: &mut Context<'_>,
        s: &SocketHandle,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        pending_on(self.world.net.poll_write(&self.env, self.host, cx, s, buf), WaitingOn::Write)
    }
    fn net_poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        s: &SocketHandle,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = self.world.net.poll_write_vectored(&self.env, self.host, cx, s, bufs);
        pending_on(r, WaitingOn::Write)
    }
    fn net_poll_receive_from(
        &self,
        cx: &mut Context<'_>,
        s: &SocketHandle,
        buf: &mut [u8],
        peek: bool,
    ) -> Poll<io::Result<(usize, SocketAddress)>> {
        let r = self.world.net.poll_receive_from(&self.env, self.host, cx, s, buf, peek);
        pending_on(r, WaitingOn::Read)
    }
    fn net_poll_send_to(
        &self,
        cx: &mut Context<'_>,
        s: &SocketHandle,
        buf: &[u8],
        a: &SocketAddress,
    ) -> Poll<io::Result<usize>> {
        pending_on(
            self.world.net.poll_send_to(&self.env, self.host, cx, s, buf, a),
            WaitingOn::Write,
        )
    }
    fn net_shutdown(&self, s: &SocketHandle, how: Shutdown) -> io::Result<()> {
        self.world.net.shutdown(&self.env, self.host, s, how)
    }
    fn net_address(&self, s: &SocketHandle, which: AddressKind) -> io::Result<SocketAddress> {
        self.world.net.address(&self.env, self.host, s, which)
    }
    fn net_set_option(&self, s: &SocketHandle, option: SocketOption) -> io::Result<()> {
        self.world.net.set_option(&self.env, self.host, s, option)
    }
    fn net_option(&self, s: &SocketHandle, kind: SocketOptionKind) -> io::Result<SocketOption> {
        self.world.net.option(&self.env, self.host, s, kind)
    }
    fn net_interface_index(&self, name: &str) -> io::Result<u32> {
        self.world.net.interface_index(&self.env, self.host, name)
    }
    fn net_interface_name(&self, index: u32) -> io::Result<String> {
        self.world.net.interface_name(&self.env, self.host, index)
    }
    fn net_lookup(&self, host: &str, port: u16) -> BoxFuture<'static, io::Result<LookupResult>> {
        self.world.net.lookup(&self.env, self.host, host, port)
    }

    // ----- signal -----
    fn signal_listen(&self, signal: Signal) -> io::Result<u64> {
        Ok(self.world.signal_listen(self.host, signal))
    }
    fn signal_poll(
        &self,
        cx: &mut Context<'_>,
        sig: Signal,
        seen: &mut u64,
    ) -> Poll<io::Result<()>> {
        if let Err(c) = crate::task::current::check_cancel() {
            return Poll::Ready(Err(c.into()));
        }
        if self.sched.is_shut_down() {
            return Poll::Ready(Err(Canceled.into()));
        }
        let r = self.world.signal_poll(cx, self.host, sig, seen).map(Ok);
        pending_on(r, WaitingOn::Signal { signal: sig })
    }

    // ----- process -----
    fn process_spawn(&self, command: &mut std::process::Command) -> io::Result<SpawnedProcess> {
        super::process::spawn(&self.sched, self.host, command)
    }
    fn process_poll_wait(
        &self,
        cx: &mut Context<'_>,
        p: &ProcessHandle,
    ) -> Poll<io::Result<std::process::ExitStatus>> {
        super::process::poll_wait(cx, p)
    }
    fn process_try_wait(&self, p: &ProcessHandle) -> io::Result<Option<std::process::ExitStatus>> {
        super::process::try_wait(p)
    }
    fn process_signal(&self, p: &ProcessHandle, signal: Signal) -> io::Result<()> {
        super::process::send_signal(p, signal)
    }
    fn process_id(&self, p: &ProcessHandle) -> u32 {
        super::process::id(p)
    }
    fn process_executable_path(&self) -> io::Result<std::path::PathBuf> {
        Ok(PathBuf::from(format!("/sim/{}", self.world.host_name(self.host))))
    }
    fn process_current_dir(&self) -> io::Result<std::path::PathBuf> {
        Ok(PathBuf::from("/"))
    }
    fn pipe_poll_read(
        &self,
        _cx: &mut Context<'_>,
        _p: &PipeHandle,
        _buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(unsupported("pipe_poll_read")))
    }
    fn pipe_poll_write(
        &self,
        _cx: &mut Context<'_>,
        _p: &PipeHandle,
        _buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(unsupported("pipe_poll_write")))
    }

    // ----- random -----
    fn random_fill(&self, buf: &mut [u8]) {
        self.world.fill(buf)
    }
    fn random_fill_secure(&self, buf: &mut [u8]) -> Result<(), EntropyUnavailable> {
        self.world.fill(buf);
        Ok(())
    }

    // ----- fs -----
    fn fs_cwd(&self) -> DirHandle {
        self.world.disk.fs_cwd(&self.env, self.host)
    }
    fn dir_open_file(&self, d: &DirHandle, p: &Path, o: &OpenOptions) -> FsFuture<FileHandle> {
        self.world.disk.dir_open_file(&self.env, self.host, d, p, o)
    }
    fn dir_confine(&self, d: &DirHandle) -> io::Result<DirHandle> {
        self.world.disk.dir_confine(&self.env, self.host, d)
    }
    fn dir_open_dir(&self, d: &DirHandle, p: &Path, follow: bool) -> FsFuture<DirHandle> {
        self.world.disk.dir_open_dir(&self.env, self.host, d, p, follow)
    }
    fn dir_create_dir(&self, d: &DirHandle, p: &Path, perms: Permissions) -> FsFuture<()> {
        self.world.disk.dir_create_dir(&self.env, self.host, d, p, perms)
    }
    fn dir_create_dir_path(&self, d: &DirHandle, p: &Path, perms: Permissions) -> FsFuture<bool> {
        self.world.disk.dir_create_dir_path(&self.env, self.host, d, p, perms)
    }
    fn dir_stat(&self, d: &DirHandle) -> FsFuture<Metadata> {
        self.world.disk.dir_stat(&self.env, self.host, d)
    }
    fn dir_stat_path(&self, d: &DirHandle, p: &Path, follow: bool) -> FsFuture<Metadata> {
        self.world.disk.dir_stat_path(&self.env, self.host, d, p, follow)
    }
    fn dir_access(&self, d: &DirHandle, p: &Path, a: Access) -> FsFuture<()> {
        self.world.disk.dir_access(&self.env, self.host, d, p, a)
    }
    fn dir_read_file(&self, d: &DirHandle, p: &Path) -> FsFuture<Vec<u8>> {
        self.world.disk.dir_read_file(&self.env, self.host, d, p)
    }
    fn dir_write_file(
        &self,
        d: &DirHandle,
        p: &Path,
        data: Vec<u8>,
        m: Permissions,
    ) -> FsFuture<()> {
        self.world.disk.dir_write_file(&self.env, self.host, d, p, data, m)
    }
    fn dir_entries(&self, d: &DirHandle) -> FsFuture<EntriesHandle> {
        self.world.disk.dir_entries(&self.env, self.host, d)
    }
    fn dir_entries_next(&self, e: &EntriesHandle, max: usize) -> FsFuture<Vec<DirEntry>> {
        self.world.disk.dir_entries_next(&self.env, self.host, e, max)
    }
    fn dir_real_path(&self, d: &DirHandle, p: &Path) -> FsFuture<PathBuf> {
        self.world.disk.dir_real_path(&self.env, self.host, d, p)
    }
    fn dir_delete_file(&self, d: &DirHandle, p: &Path) -> FsFuture<()> {
        self.world.disk.dir_delete_file(&self.env, self.host, d, p)
    }
    fn dir_delete_dir(&self, d: &DirHandle, p: &Path) -> FsFuture<()> {
        self.world.disk.dir_delete_dir(&self.env, self.host, d, p)
    }
    fn dir_delete_tree(&self, d: &DirHandle, p: &Path) -> FsFuture<()> {
        self.world.disk.dir_delete_tree(&self.env, self.host, d, p)
    }
    fn dir_rename(&self, od: &DirHandle, o: &Path, nd: &DirHandle, n: &Path) -> FsFuture<()> {
        self.world.disk.dir_rename(&self.env, self.host, od, o, nd, n)
    }
    fn dir_symlink(&self, d: &DirHandle, target: &Path, link: &Path) -> FsFuture<()> {
        self.world.disk.dir_symlink(&self.env, self.host, d, target, link)
    }
    fn dir_read_link(&self, d: &DirHandle, p: &Path) -> FsFuture<PathBuf> {
        self.world.disk.dir_read_link(&self.env, self.host, d, p)
    }
    fn dir_hard_link(&self, od: &DirHandle, o: &Path, nd: &DirHandle, n: &Path) -> FsFuture<()> {
        self.world.disk.dir_hard_link(&self.env, self.host, od, o, nd, n)
    }
    fn dir_set_permissions(&self, d: &DirHandle, p: &Path, m: Permissions) -> FsFuture<()> {
        self.world.disk.dir_set_permissions(&self.env, self.host, d, p, m)
    }
    fn dir_set_owner(
        &self,
        d: &DirHandle,
        p: &Path,
        owner: Option<u32>,
        group: Option<u32>,
        follow: bool,
    ) -> FsFuture<()> {
        self.world.disk.dir_set_owner(&self.env, self.host, d, p, owner, group, follow)
    }
    fn dir_set_timestamps(
        &self,
        d: &DirHandle,
        p: &Path,
        atime: SetTimestamp,
        mtime: SetTimestamp,
        follow: bool,
    ) -> FsFuture<()> {
        self.world.disk.dir_set_timestamps(&self.env, self.host, d, p, atime, mtime, follow)
    }
    fn file_stat(&self, f: &FileHandle) -> FsFuture<Metadata> {
        self.world.disk.file_stat(&self.env, self.host, f)
    }
    fn file_set_length(&self, f: &FileHandle, len: u64) -> FsFuture<()> {
        self.world.disk.file_set_length(&self.env, self.host, f, len)
    }
    fn file_read(&self, f: &FileHandle, b: Vec<u8>, len: usize, at: Offset) -> FsFuture<Vec<u8>> {
        self.world.disk.file_read(&self.env, self.host, f, b, len, at)
    }
    fn file_write(&self, f: &FileHandle, b: Vec<u8>, at: Offset) -> FsFuture<(usize, Vec<u8>)> {
        self.world.disk.file_write(&self.env, self.host, f, b, at)
    }
    fn file_seek(&self, f: &FileHandle, pos: SeekFrom) -> FsFuture<u64> {
        self.world.disk.file_seek(&self.env, self.host, f, pos)
    }
    fn file_sync(&self, f: &FileHandle, data_only: bool) -> FsFuture<()> {
        self.world.disk.file_sync(&self.env, self.host, f, data_only)
    }
    fn file_set_permissions(&self, f: &FileHandle, m: Permissions) -> FsFuture<()> {
        self.world.disk.file_set_permissions(&self.env, self.host, f, m)
    }
    fn file_set_owner(&self, f: &FileHandle, o: Option<u32>, g: Option<u32>) -> FsFuture<()> {
        self.world.disk.file_set_owner(&self.env, self.host, f, o, g)
    }
    fn file_set_timestamps(
        &self,
        f: &FileHandle,
        a: SetTimestamp,
        m: SetTimestamp,
    ) -> FsFuture<()> {
        self.world.disk.file_set_timestamps(&self.env, self.host, f, a, m)
    }
    fn file_lock(&self, f: &FileHandle, lock: Lock, wait: bool) -> FsFuture<bool> {
        self.world.disk.file_lock(&self.env, self.host, f, lock, wait)
    }
    fn file_is_tty(&self, f: &FileHandle) -> bool {
        self.world.disk.file_is_tty(&self.env, self.host, f)
    }
    fn file_real_path(&self, f: &FileHandle) -> FsFuture<PathBuf> {
        self.world.disk.file_real_path(&self.env, self.host, f)
    }
    fn file_copy(
        &self,
        to: &FileHandle,
        to_at: Offset,
        from: &FileHandle,
        from_at: Offset,
        len: u64,
    ) -> FsFuture<u64> {
        self.world.disk.file_copy(&self.env, self.host, to, to_at, from, from_at, len)
    }
    fn file_close(&self, f: FileHandle) -> FsFuture<()> {
        self.world.disk.file_close(&self.env, self.host, f)
    }
    fn file_map(&self, f: &FileHandle, o: MapOptions) -> FsFuture<MapHandle> {
        self.world.disk.file_map(&self.env, self.host, f, o)
    }
    fn map_flush(&self, m: &MapHandle, offset: usize, len: usize) -> FsFuture<()> {
        self.world.disk.map_flush(&self.env, self.host, m, offset, len)
    }
    fn map_set_length(&self, m: &MapHandle, len: usize) -> FsFuture<MapHandle> {
        self.world.disk.map_set_length(&self.env, self.host, m, len)
    }
    fn fs_stdio(&self, stream: StdStream) -> io::Result<FileHandle> {
        self.world.disk.fs_stdio(&self.env, self.host, stream)
    }
    fn fs_pipe(&self) -> io::Result<(FileHandle, FileHandle)> {
        self.world.disk.fs_pipe(&self.env, self.host)
    }
}
