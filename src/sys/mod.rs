//! Operating-system specifics: the only place where `cfg(target_os)` may appear.

pub(crate) mod affinity;
pub(crate) mod beneath;
pub(crate) mod clock;
pub(crate) mod fs;
pub(crate) mod interrupt;
pub(crate) mod net;
pub(crate) mod pipe;
pub(crate) mod poll_timer;
pub(crate) mod process;
pub(crate) mod signal;
