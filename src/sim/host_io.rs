//! The simulated host's side of the [`Io`] trait: the table of delegations from the vtable to
//! the world (tasks, time, blocking jobs, random, signals, processes) and to the models (network,
//! disk).
//!
//! Ground rules:
//! 1. Every method is one line into the world or a model, as the kqueue backend's table is; the
//!    logic lives there.
//! 2. A `SimIo` belongs to one epoch of one host: after the host crashes it reports itself shut
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
use crate::error::{Canceled, ConcurrencyUnavailable, EntropyUnavailable};
use crate::fs::{
    Access, DirEntry, DirHandle, EntriesHandle, FileHandle, FsFuture, Lock, MapHandle, MapOptions,
    Metadata, Offset, OpenOptions, Permissions, SetTimestamp, StdStream,
};
use crate::io::{task_local, Io};
use crate::net::{
    AddressKind, BindOptions, ListenOptions, LookupResult, SocketAddress, SocketHandle, SocketKind,
    SocketOption, SocketOptionKind,
};
use crate::process::{PipeHandle, ProcessHandle, SpawnedProcess};
use crate::signal::Signal;
use crate::sleep::TimerSlot;
use crate::task::{CancelProtection, Schedule};
use crate::time::{Clock, Duration, Timestamp};

/// The directory handle of a host while no disk model is wired: every operation on it is
/// `Unsupported`.
struct NoDisk;

fn unsupported_fs<T: Send + 'static>(op: &'static str) -> FsFuture<T> {
    Box::pin(std::future::ready(Err(unsupported(op))))
}

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
    fn task_check_cancel(&self) -> Result<(), Canceled> {
        task_local::check_cancel()
    }
    fn task_recancel(&self) {
        task_local::recancel()
    }
    fn task_swap_cancel_protection(&self, p: CancelProtection) -> CancelProtection {
        task_local::swap_cancel_protection(p)
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
        self.world.poll_sleep(cx, &mut t.0, at)
    }
    fn time_cancel_sleep(&self, t: &mut TimerSlot) {
        self.world.cancel_sleep(&mut t.0)
    }

    // ----- blocking -----
    fn blocking_submit(&self, job: Box<dyn FnOnce() + Send>) {
        self.world.submit_job(job)
    }

    // ----- observe -----
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
        self.world.net.poll_accept(&self.env, self.host, cx, listener)
    }
    fn net_connect(&self, a: &SocketAddress) -> io::Result<SocketHandle> {
        self.world.net.connect(&self.env, self.host, a)
    }
    fn net_poll_connect(&self, cx: &mut Context<'_>, s: &SocketHandle) -> Poll<io::Result<()>> {
        self.world.net.poll_connect(&self.env, self.host, cx, s)
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
        self.world.net.poll_read(&self.env, self.host, cx, s, buf, peek)
    }
    fn net_poll_read_vectored(
        &self,
        cx: &mut Context<'_>,
        s: &SocketHandle,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        self.world.net.poll_read_vectored(&self.env, self.host, cx, s, bufs)
    }
    fn net_poll_write(
        &self,
        cx: &mut Context<'_>,
        s: &SocketHandle,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.world.net.poll_write(&self.env, self.host, cx, s, buf)
    }
    fn net_poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        s: &SocketHandle,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.world.net.poll_write_vectored(&self.env, self.host, cx, s, bufs)
    }
    fn net_poll_receive_from(
        &self,
        cx: &mut Context<'_>,
        s: &SocketHandle,
        buf: &mut [u8],
        peek: bool,
    ) -> Poll<io::Result<(usize, SocketAddress)>> {
        self.world.net.poll_receive_from(&self.env, self.host, cx, s, buf, peek)
    }
    fn net_poll_send_to(
        &self,
        cx: &mut Context<'_>,
        s: &SocketHandle,
        buf: &[u8],
        a: &SocketAddress,
    ) -> Poll<io::Result<usize>> {
        self.world.net.poll_send_to(&self.env, self.host, cx, s, buf, a)
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
        if let Err(c) = task_local::check_cancel() {
            return Poll::Ready(Err(c.into()));
        }
        if self.sched.is_shut_down() {
            return Poll::Ready(Err(Canceled.into()));
        }
        self.world.signal_poll(cx, self.host, sig, seen).map(Ok)
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
        DirHandle::new(Arc::new(NoDisk))
    }
    fn dir_open_file(&self, _d: &DirHandle, _p: &Path, _o: &OpenOptions) -> FsFuture<FileHandle> {
        unsupported_fs("dir_open_file")
    }
    fn dir_confine(&self, _d: &DirHandle) -> io::Result<DirHandle> {
        Err(unsupported("dir_confine"))
    }
    fn dir_open_dir(&self, _d: &DirHandle, _p: &Path, _follow: bool) -> FsFuture<DirHandle> {
        unsupported_fs("dir_open_dir")
    }
    fn dir_create_dir(&self, _d: &DirHandle, _p: &Path, _perms: Permissions) -> FsFuture<()> {
        unsupported_fs("dir_create_dir")
    }
    fn dir_create_dir_path(
        &self,
        _d: &DirHandle,
        _p: &Path,
        _perms: Permissions,
    ) -> FsFuture<bool> {
        unsupported_fs("dir_create_dir_path")
    }
    fn dir_stat(&self, _d: &DirHandle) -> FsFuture<Metadata> {
        unsupported_fs("dir_stat")
    }
    fn dir_stat_path(&self, _d: &DirHandle, _p: &Path, _follow: bool) -> FsFuture<Metadata> {
        unsupported_fs("dir_stat_path")
    }
    fn dir_access(&self, _d: &DirHandle, _p: &Path, _a: Access) -> FsFuture<()> {
        unsupported_fs("dir_access")
    }
    fn dir_read_file(&self, _d: &DirHandle, _p: &Path) -> FsFuture<Vec<u8>> {
        unsupported_fs("dir_read_file")
    }
    fn dir_write_file(
        &self,
        _d: &DirHandle,
        _p: &Path,
        _data: Vec<u8>,
        _m: Permissions,
    ) -> FsFuture<()> {
        unsupported_fs("dir_write_file")
    }
    fn dir_entries(&self, _d: &DirHandle) -> FsFuture<EntriesHandle> {
        unsupported_fs("dir_entries")
    }
    fn dir_entries_next(&self, _e: &EntriesHandle, _max: usize) -> FsFuture<Vec<DirEntry>> {
        unsupported_fs("dir_entries_next")
    }
    fn dir_real_path(&self, _d: &DirHandle, _p: &Path) -> FsFuture<PathBuf> {
        unsupported_fs("dir_real_path")
    }
    fn dir_delete_file(&self, _d: &DirHandle, _p: &Path) -> FsFuture<()> {
        unsupported_fs("dir_delete_file")
    }
    fn dir_delete_dir(&self, _d: &DirHandle, _p: &Path) -> FsFuture<()> {
        unsupported_fs("dir_delete_dir")
    }
    fn dir_delete_tree(&self, _d: &DirHandle, _p: &Path) -> FsFuture<()> {
        unsupported_fs("dir_delete_tree")
    }
    fn dir_rename(&self, _od: &DirHandle, _o: &Path, _nd: &DirHandle, _n: &Path) -> FsFuture<()> {
        unsupported_fs("dir_rename")
    }
    fn dir_symlink(&self, _d: &DirHandle, _target: &Path, _link: &Path) -> FsFuture<()> {
        unsupported_fs("dir_symlink")
    }
    fn dir_read_link(&self, _d: &DirHandle, _p: &Path) -> FsFuture<PathBuf> {
        unsupported_fs("dir_read_link")
    }
    fn dir_hard_link(
        &self,
        _od: &DirHandle,
        _o: &Path,
        _nd: &DirHandle,
        _n: &Path,
    ) -> FsFuture<()> {
        unsupported_fs("dir_hard_link")
    }
    fn dir_set_permissions(&self, _d: &DirHandle, _p: &Path, _m: Permissions) -> FsFuture<()> {
        unsupported_fs("dir_set_permissions")
    }
    fn dir_set_owner(
        &self,
        _d: &DirHandle,
        _p: &Path,
        _owner: Option<u32>,
        _group: Option<u32>,
        _follow: bool,
    ) -> FsFuture<()> {
        unsupported_fs("dir_set_owner")
    }
    fn dir_set_timestamps(
        &self,
        _d: &DirHandle,
        _p: &Path,
        _atime: SetTimestamp,
        _mtime: SetTimestamp,
        _follow: bool,
    ) -> FsFuture<()> {
        unsupported_fs("dir_set_timestamps")
    }
    fn file_stat(&self, _f: &FileHandle) -> FsFuture<Metadata> {
        unsupported_fs("file_stat")
    }
    fn file_set_length(&self, _f: &FileHandle, _len: u64) -> FsFuture<()> {
        unsupported_fs("file_set_length")
    }
    fn file_read(
        &self,
        _f: &FileHandle,
        _b: Vec<u8>,
        _len: usize,
        _at: Offset,
    ) -> FsFuture<Vec<u8>> {
        unsupported_fs("file_read")
    }
    fn file_write(&self, _f: &FileHandle, _b: Vec<u8>, _at: Offset) -> FsFuture<(usize, Vec<u8>)> {
        unsupported_fs("file_write")
    }
    fn file_seek(&self, _f: &FileHandle, _pos: SeekFrom) -> FsFuture<u64> {
        unsupported_fs("file_seek")
    }
    fn file_sync(&self, _f: &FileHandle, _data_only: bool) -> FsFuture<()> {
        unsupported_fs("file_sync")
    }
    fn file_set_permissions(&self, _f: &FileHandle, _m: Permissions) -> FsFuture<()> {
        unsupported_fs("file_set_permissions")
    }
    fn file_set_owner(&self, _f: &FileHandle, _o: Option<u32>, _g: Option<u32>) -> FsFuture<()> {
        unsupported_fs("file_set_owner")
    }
    fn file_set_timestamps(
        &self,
        _f: &FileHandle,
        _a: SetTimestamp,
        _m: SetTimestamp,
    ) -> FsFuture<()> {
        unsupported_fs("file_set_timestamps")
    }
    fn file_lock(&self, _f: &FileHandle, _lock: Lock, _wait: bool) -> FsFuture<bool> {
        unsupported_fs("file_lock")
    }
    fn file_is_tty(&self, _f: &FileHandle) -> bool {
        false
    }
    fn file_real_path(&self, _f: &FileHandle) -> FsFuture<PathBuf> {
        unsupported_fs("file_real_path")
    }
    fn file_copy(
        &self,
        _to: &FileHandle,
        _to_at: Offset,
        _from: &FileHandle,
        _from_at: Offset,
        _len: u64,
    ) -> FsFuture<u64> {
        unsupported_fs("file_copy")
    }
    fn file_close(&self, _f: FileHandle) -> FsFuture<()> {
        unsupported_fs("file_close")
    }
    fn file_map(&self, _f: &FileHandle, _o: MapOptions) -> FsFuture<MapHandle> {
        unsupported_fs("file_map")
    }
    fn map_flush(&self, _m: &MapHandle, _offset: usize, _len: usize) -> FsFuture<()> {
        unsupported_fs("map_flush")
    }
    fn map_set_length(&self, _m: &MapHandle, _len: usize) -> FsFuture<MapHandle> {
        unsupported_fs("map_set_length")
    }
    fn fs_stdio(&self, _stream: StdStream) -> io::Result<FileHandle> {
        Err(unsupported("fs_stdio"))
    }
    fn fs_pipe(&self) -> io::Result<(FileHandle, FileHandle)> {
        Err(unsupported("fs_pipe"))
    }
}
