//! Tasks: join handles, Zig-style cancellation, and the contract between the typed helpers and a
//! backend's scheduler.
//!
//! | file | what |
//! | --- | --- |
//! | `activity.rs` | task ids, states and what a task waits on (task dumps) |
//! | `builder.rs` | `TaskBuilder`: spawning with a name |
//! | `cancel.rs` | the cancel state word (requested / delivered / protected) |
//! | `coop.rs` | the per-poll budget that makes always-ready tasks yield |
//! | `header.rs` | `TaskHeader`, the metadata of every task, and the `Schedule` trait |
//! | `current.rs` | which task this thread is polling; cancellation points |
//! | `spawn.rs` | the `TaskFuture` wrapper, spawning, inline runs |
//! | `local.rs` | spawning a local (`!Send`) task, and what its owner must guarantee |
//! | `join.rs` | `JoinHandle` |
//! | `group.rs` | `Group`: many tasks waited for or canceled together |
//! | `select.rs` | `Select`: the first result of several tasks |
//! | `park.rs` | polling a future to completion on the current thread |
//! | `yield_now.rs` | yielding once to the scheduler |

pub(crate) mod activity;
pub(crate) mod blocking;
mod builder;
mod cancel;
pub(crate) mod coop;
pub(crate) mod current;
mod group;
mod header;
mod join;
pub(crate) mod local;
#[cfg(all(test, kqio_loom))]
mod loom_tests;
pub(crate) mod park;
mod select;
pub(crate) mod spawn;
mod yield_now;

pub use activity::{TaskId, TaskState, WaitingOn};
pub use blocking::Blocking;
pub use builder::TaskBuilder;
pub use cancel::CancelProtection;
pub use group::Group;
pub(crate) use header::NO_HOME;
pub use header::{Runnable, Schedule, TaskHeader};
pub use join::JoinHandle;
pub use select::{select, Select};
pub use spawn::ScheduleReason;
pub use yield_now::YieldNow;
