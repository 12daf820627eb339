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

use super::env::HostId;
use super::world::HostSched;
use super::unsupported;
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
    host: HostId,
}

impl SimIo {
    pub(crate) fn new(sched: Arc<HostSched>, host: HostId) -> SimIo {
        SimIo { sched, host }
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
        self.sched.world().clock(self.host, clock)
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
        self.sched.world().poll_sleep(cx, &mut t.0, at)
    }
    fn time_cancel_sleep(&self, t: &mut TimerSlot) {
        self.sched.world().cancel_sleep(&mut t.0)
    }

    // ----- blocking -----
    fn blocking_submit(&self, job: Box<dyn FnOnce() + Send>) {
        self.sched.world().submit_job(job)
    }

    // ----- fault points -----
    fn fault_point(&self, name: &str) -> bool {
        self.sched.world().fault_point(self.host, name)
    }

    // ----- net -----
    fn net_listen(&self, _a: &SocketAddress, _o: &ListenOptions) -> io::Result<SocketHandle> {
        Err(unsupported("net_listen"))
    }
    fn net_poll_accept(
        &self,
        _cx: &mut Context<'_>,
        _listener: &SocketHandle,
    ) -> Poll<io::Result<(SocketHandle, SocketAddress)>> {
        Poll::Ready(Err(unsupported("net_poll_accept")))
    }
    fn net_connect(&self, _a: &SocketAddress) -> io::Result<SocketHandle> {
        Err(unsupported("net_connect"))
    }
    fn net_poll_connect(&self, _cx: &mut Context<'_>, _s: &SocketHandle) -> Poll<io::Result<()>> {
        Poll::Ready(Err(unsupported("net_poll_connect")))
    }
    fn net_bind(&self, _a: &SocketAddress, _o: &BindOptions) -> io::Result<SocketHandle> {
        Err(unsupported("net_bind"))
    }
    fn net_connect_datagram(&self, _s: &SocketHandle, _a: &SocketAddress) -> io::Result<()> {
        Err(unsupported("net_connect_datagram"))
    }
    fn net_socket_pair(&self, _kind: SocketKind) -> io::Result<(SocketHandle, SocketHandle)> {
        Err(unsupported("net_socket_pair"))
    }
    fn net_poll_read(
        &self,
        _cx: &mut Context<'_>,
        _s: &SocketHandle,
        _buf: &mut [u8],
        _peek: bool,
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(unsupported("net_poll_read")))
    }
    fn net_poll_read_vectored(
        &self,
        _cx: &mut Context<'_>,
        _s: &SocketHandle,
        _bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(unsupported("net_poll_read_vectored")))
    }
    fn net_poll_write(
        &self,
        _cx: &mut Context<'_>,
        _s: &SocketHandle,
        _buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(unsupported("net_poll_write")))
    }
    fn net_poll_write_vectored(
        &self,
        _cx: &mut Context<'_>,
        _s: &SocketHandle,
        _bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(unsupported("net_poll_write_vectored")))
    }
    fn net_poll_receive_from(
        &self,
        _cx: &mut Context<'_>,
        _s: &SocketHandle,
        _buf: &mut [u8],
        _peek: bool,
    ) -> Poll<io::Result<(usize, SocketAddress)>> {
        Poll::Ready(Err(unsupported("net_poll_receive_from")))
    }
    fn net_poll_send_to(
        &self,
        _cx: &mut Context<'_>,
        _s: &SocketHandle,
        _buf: &[u8],
        _a: &SocketAddress,
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(unsupported("net_poll_send_to")))
    }
    fn net_shutdown(&self, _s: &SocketHandle, _how: Shutdown) -> io::Result<()> {
        Err(unsupported("net_shutdown"))
    }
    fn net_address(&self, _s: &SocketHandle, _which: AddressKind) -> io::Result<SocketAddress> {
        Err(unsupported("net_address"))
    }
    fn net_set_option(&self, _s: &SocketHandle, _option: SocketOption) -> io::Result<()> {
        Err(unsupported("net_set_option"))
    }
    fn net_option(&self, _s: &SocketHandle, _kind: SocketOptionKind) -> io::Result<SocketOption> {
        Err(unsupported("net_option"))
    }
    fn net_interface_index(&self, _name: &str) -> io::Result<u32> {
        Err(unsupported("net_interface_index"))
    }
    fn net_interface_name(&self, _index: u32) -> io::Result<String> {
        Err(unsupported("net_interface_name"))
    }
    fn net_lookup(&self, _host: &str, _port: u16) -> BoxFuture<'static, io::Result<LookupResult>> {
        Box::pin(std::future::ready(Err(unsupported("net_lookup"))))
    }

    // ----- signal -----
    fn signal_listen(&self, signal: Signal) -> io::Result<u64> {
        Ok(self.sched.world().signal_listen(self.host, signal))
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
        self.sched.world().signal_poll(cx, self.host, sig, seen).map(Ok)
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
        Ok(PathBuf::from(format!("/sim/{}", self.sched.world().host_name(self.host))))
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
        self.sched.world().fill(buf)
    }
    fn random_fill_secure(&self, buf: &mut [u8]) -> Result<(), EntropyUnavailable> {
        self.sched.world().fill(buf);
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
    fn dir_create_dir_path(&self, _d: &DirHandle, _p: &Path, _perms: Permissions) -> FsFuture<bool> {
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
    fn dir_hard_link(&self, _od: &DirHandle, _o: &Path, _nd: &DirHandle, _n: &Path) -> FsFuture<()> {
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
    fn file_read(&self, _f: &FileHandle, _b: Vec<u8>, _len: usize, _at: Offset) -> FsFuture<Vec<u8>> {
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
