//! Binding a thread to one CPU, for [`InitOptions::pin_workers`](crate::InitOptions): the one
//! place that reads and sets CPU affinity.
//!
//! | | Linux, Android | FreeBSD | macOS, NetBSD, OpenBSD, others |
//! | --- | --- | --- | --- |
//! | the CPUs this thread may run on | `sched_getaffinity` | `cpuset_getaffinity` | `Unsupported` |
//! | bind this thread to one of them | `sched_setaffinity` | `cpuset_setaffinity` | `Unsupported` |
//!
//! macOS has no call that binds a thread to a CPU (its affinity tags only group threads, and
//! Apple silicon ignores them). NetBSD's and OpenBSD's calls need privileges or do not exist.
//! There `pin_workers` is refused with `ErrorKind::Unsupported` rather than silently ignored.
//!
//! The CPUs are those of the calling thread's own mask, not `0..n`: a process started under
//! `taskset`, a cgroup's `cpuset` or FreeBSD's `cpuset(1)` keeps its workers inside what it was
//! given.

use std::io;

/// The CPUs the calling thread may run on, in increasing order; never empty.
pub(crate) fn allowed_cpus() -> io::Result<Vec<usize>> {
    let cpus = imp::allowed_cpus()?;
    if cpus.is_empty() {
        // The calling thread runs, so its mask names a CPU; one past the set's size cannot be
        // named, and is not bound to.
        return Err(io::Error::other("kqio: this thread's CPU mask names no CPU kqio can bind"));
    }
    Ok(cpus)
}

/// Binds the calling thread to `cpu` (one of [`allowed_cpus`]).
pub(crate) fn pin_current_thread(cpu: usize) -> io::Result<()> {
    imp::pin_current_thread(cpu)
}

/// What binding takes on an OS that has the calls: its CPU set type is a plain bit array, read
/// and written with libc's `CPU_ISSET`/`CPU_SET`; `os` holds the two calls that differ.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
mod imp {
    use std::io;
    use std::mem;

    use super::os::{get_affinity, set_affinity, CpuSet};

    /// The CPUs a set can name (1,024 on Linux; FreeBSD's `CPU_SETSIZE` depends on its version);
    /// a CPU number past it cannot be named.
    const SET_BITS: usize = 8 * mem::size_of::<CpuSet>();

    pub(super) fn allowed_cpus() -> io::Result<Vec<usize>> {
        // SAFETY: a CPU set is a plain bit array, for which all zeroes is the empty set.
        let mut set: CpuSet = unsafe { mem::zeroed() };
        get_affinity(&mut set)?;
        Ok((0..SET_BITS)
            // SAFETY: reads one bit of `set`, with `cpu` below its size.
            .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
            .collect())
    }

    pub(super) fn pin_current_thread(cpu: usize) -> io::Result<()> {
        if cpu >= SET_BITS {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "kqio: no such CPU"));
        }
        // SAFETY: as above, all zeroes is the empty set.
        let mut set: CpuSet = unsafe { mem::zeroed() };
        // SAFETY: sets one bit of `set`; `cpu` was checked to be below its size.
        unsafe { libc::CPU_SET(cpu, &mut set) };
        set_affinity(&set)
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod os {
    use std::io;
    use std::mem;

    pub(super) type CpuSet = libc::cpu_set_t;

    /// Reads the calling thread's mask into `set`.
    pub(super) fn get_affinity(set: &mut CpuSet) -> io::Result<()> {
        // SAFETY: pid 0 is the calling thread; the size is that of `set`, which the kernel
        // writes at most that many bytes of.
        if unsafe { libc::sched_getaffinity(0, mem::size_of::<CpuSet>(), set) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Sets the calling thread's mask to `set`.
    pub(super) fn set_affinity(set: &CpuSet) -> io::Result<()> {
        // SAFETY: pid 0 is the calling thread; `set` is initialised and its size is passed.
        if unsafe { libc::sched_setaffinity(0, mem::size_of::<CpuSet>(), set) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

#[cfg(target_os = "freebsd")]
mod os {
    use std::io;
    use std::mem;

    pub(super) type CpuSet = libc::cpuset_t;

    /// Reads the calling thread's mask into `set`.
    pub(super) fn get_affinity(set: &mut CpuSet) -> io::Result<()> {
        // SAFETY: id -1 with `CPU_WHICH_TID` is the calling thread; the size is that of `set`,
        // which the kernel writes at most that many bytes of.
        let r = unsafe {
            libc::cpuset_getaffinity(
                libc::CPU_LEVEL_WHICH,
                libc::CPU_WHICH_TID,
                -1,
                mem::size_of::<CpuSet>(),
                set,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Sets the calling thread's mask to `set`.
    pub(super) fn set_affinity(set: &CpuSet) -> io::Result<()> {
        // SAFETY: id -1 with `CPU_WHICH_TID` is the calling thread; `set` is initialised and its
        // size is passed.
        let r = unsafe {
            libc::cpuset_setaffinity(
                libc::CPU_LEVEL_WHICH,
                libc::CPU_WHICH_TID,
                -1,
                mem::size_of::<CpuSet>(),
                set,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
mod imp {
    use std::io;

    fn unsupported() -> io::Error {
        io::Error::new(
            io::ErrorKind::Unsupported,
            "kqio: InitOptions::pin_workers: this OS cannot bind a thread to a CPU",
        )
    }

    pub(super) fn allowed_cpus() -> io::Result<Vec<usize>> {
        Err(unsupported())
    }

    pub(super) fn pin_current_thread(_cpu: usize) -> io::Result<()> {
        Err(unsupported())
    }
}
