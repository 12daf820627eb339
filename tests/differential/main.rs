//! The differential suite (issue 14, "Proof that it is real"): one body of tests written against
//! `IoRef`, each run on `Kqueue` and on the simulator (`kqio::sim::Sim`) with the same
//! assertions. See `harness.rs` for how a test is declared and run, and for the one list of
//! simulator variants not run yet.
//!
//! `cargo test --test differential kqueue` runs the Kqueue half, `... sim` the simulator half;
//! `KQIO_SIM_SEED=n` picks the simulator's first seed.
//!
//! | file | area |
//! | --- | --- |
//! | `tasks.rs` | `r#async`, `concurrent`, await, cancel, detach, drop, panics, protection, `check_cancel`, `recancel` |
//! | `group_select.rs` | `Group`, `Select` |
//! | `sync_locks.rs` | `Mutex`, `RwLock` |
//! | `sync_signals.rs` | `Condition`, `Event`, `Semaphore` |
//! | `sync_queue.rs` | `Queue` |
//! | `time.rs` | sleeps, timeouts, clocks, `random` |
//! | `tcp.rs` | TCP |
//! | `udp_unix.rs` | UDP, Unix sockets |
//! | `fs.rs` | files and directories |

#[macro_use]
mod harness;
mod util;

mod fs;
mod group_select;
mod sync_locks;
mod sync_queue;
mod sync_signals;
mod tasks;
mod tcp;
mod time;
mod udp_unix;
