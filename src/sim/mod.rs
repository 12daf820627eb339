//! The deterministic simulation backend: the same application code, run on one OS thread over a
//! seeded world of hosts, networks, disks and clocks (issue 14; DESIGN.md, "The second backend").
//!
//! Ground rules:
//! 1. Everything nondeterministic (the next task to run, latencies, losses, faults, `random`) is
//!    drawn from the world's one seeded generator, in the order the world's single thread asks,
//!    so the same seed replays the same run.
//! 2. The models (network, disk) are passive: they hold state and wakers, read the virtual clock
//!    and the seeded generator through [`env::SimEnv`], and ask the world for a wake-up at a
//!    virtual time; they never spawn, sleep or read the OS.

pub mod disk;
pub(crate) mod env;
