//! `Group`: Zig's `Io.Group`, many tasks waited for or canceled together.
//!
//! Ground rules:
//! 1. The group's state (member slots, live count, waiters, the first panic) sits behind one
//!    lock, held for a few instructions, never across an await or while running user code.
//! 2. A member is spawned wrapped: the wrapper catches the member's panic (of its poll or of its
//!    destructor) and reports its end to the group (`member_done`), exactly once, also when the
//!    wrapper is dropped unfinished (`MemberEnd`); that frees the member's slot at once, so a
//!    group that runs millions of short tasks over its life holds only the live ones.
//! 3. A slot is reserved before the member is spawned and filled with its handle after; a member
//!    that ends in between (it ran inline, or its wrapper was dropped unspawned) marks the slot
//!    `Done`, and the filler then frees it.
//! 4. While `cancel` runs (`canceling > 0`), every member added is asked to cancel as soon as it
//!    is spawned.

use std::any::Any;
use std::future::{poll_fn, Future};
use std::panic::{resume_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::loom::sync::{Mutex, MutexGuard};
use std::task::{Poll, Waker};

use futures::FutureExt;

use super::current;
use super::join::JoinHandle;
use super::spawn::DropOnReady;
use crate::error::{Canceled, ConcurrencyUnavailable};
use crate::io::Io;

enum Slot {
    Free,
    /// Reserved for a member being spawned (rule 3).
    Reserved,
    Running(JoinHandle<()>),
    /// The member ended before its handle was stored (rule 3).
    Done,
}

#[derive(Default)]
struct State {
    slots: Vec<Slot>,
    free: Vec<usize>,
    live: usize,
    canceling: usize,
    waiters: Vec<Waker>,
    panic: Option<Box<dyn Any + Send>>,
}

struct Shared {
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Rule 2: a member ended with `outcome` (a panic payload if it panicked).
    fn member_done(&self, slot: usize, outcome: Result<(), Box<dyn Any + Send>>) {
        let (handle, waiters) = {
            let mut st = self.lock();
            if let Err(payload) = outcome {
                st.panic.get_or_insert(payload);
            }
            // The slots are gone if the group was dropped meanwhile.
            let taken = st.slots.get_mut(slot).map(|s| std::mem::replace(s, Slot::Free));
            let handle = match taken {
                Some(Slot::Running(h)) => {
                    st.free.push(slot);
                    Some(h)
                }
                Some(Slot::Reserved) => {
                    st.slots[slot] = Slot::Done;
                    None
                }
                None => None,
                Some(Slot::Free | Slot::Done) => unreachable!("a member ends once"),
            };
            st.live -= 1;
            let waiters = if st.live == 0 { std::mem::take(&mut st.waiters) } else { Vec::new() };
            (handle, waiters)
        };
        // This runs inside the member's own task: detaching its handle lets it finish normally.
        if let Some(h) = handle {
            h.detach();
        }
        for w in waiters {
            w.wake();
        }
    }
}

/// Reports a member's end to its group exactly once (rule 2): when the member completes, or, if
/// its task is dropped before (the group dropped, or `deinit`), from that drop, so that `wait`
/// and `cancel` never wait for a member that no longer exists.
struct MemberEnd {
    shared: Option<Arc<Shared>>,
    slot: usize,
}

impl MemberEnd {
    fn done(mut self, outcome: Result<(), Box<dyn Any + Send>>) {
        if let Some(shared) = self.shared.take() {
            shared.member_done(self.slot, outcome);
        }
    }
}

impl Drop for MemberEnd {
    fn drop(&mut self) {
        // Dropped unfinished: the member ended without an outcome (a hard cancel).
        if let Some(shared) = self.shared.take() {
            shared.member_done(self.slot, Ok(()));
        }
    }
}

/// Zig `Io.Group`: a set of tasks that are waited for, or canceled, together.
///
/// Members return `Result<(), Canceled>`; a member that returns `Err(Canceled)` is not an error
/// of the group: a group is a cancellation boundary, as in Zig.
///
/// Dropping a group with members still running drops their tasks (hard cancel: each future is
/// dropped at its next scheduling point); call [`cancel`](Self::cancel) first for Zig's
/// cooperative shutdown. A member whose task [`Kqueue::deinit`](crate::Kqueue::deinit) dropped
/// has ended (without a panic) as far as `wait` and `cancel` are concerned.
///
/// # Panics
///
/// A member's panic is caught; [`wait`](Self::wait) and [`cancel`](Self::cancel) re-raise the
/// first one once all members have ended.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
///
/// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
/// let io = rt.io();
/// let total = Arc::new(AtomicU32::new(0));
/// let group = kqio::Group::new();
/// for i in 1..=10 {
///     let total = total.clone();
///     group.r#async(&*io, async move {
///         total.fetch_add(i, Ordering::Relaxed);
///         Ok(())
///     });
/// }
/// rt.block_on(group.wait())?;
/// assert_eq!(total.load(Ordering::Relaxed), 55);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Group {
    shared: Arc<Shared>,
}

impl Default for Group {
    fn default() -> Self {
        Group::new()
    }
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group").field("live", &self.live()).finish()
    }
}

impl Group {
    /// An empty group.
    pub fn new() -> Group {
        Group { shared: Arc::new(Shared { state: Mutex::new(State::default()) }) }
    }

    /// Members that have not ended yet.
    pub fn live(&self) -> usize {
        self.shared.lock().live
    }

    fn reserve(&self) -> (usize, bool) {
        let mut st = self.shared.lock();
        st.live += 1;
        let slot = match st.free.pop() {
            Some(i) => {
                st.slots[i] = Slot::Reserved;
                i
            }
            None => {
                st.slots.push(Slot::Reserved);
                st.slots.len() - 1
            }
        };
        (slot, st.canceling > 0)
    }

    fn wrap<F>(&self, slot: usize, future: F) -> impl Future<Output = ()> + Send + 'static
    where
        F: Future<Output = Result<(), Canceled>> + Send + 'static,
    {
        let end = MemberEnd { shared: Some(self.shared.clone()), slot };
        async move {
            // The member is consumed inside the catch, so a panic of its destructor (which runs
            // when it completes) is caught too. A returned `Canceled` is swallowed (the group is
            // a cancellation boundary).
            let outcome = AssertUnwindSafe(DropOnReady::new(future)).catch_unwind().await;
            end.done(outcome.map(|_| ()));
        }
    }

    fn store(&self, slot: usize, handle: JoinHandle<()>, cancel_now: bool) {
        if cancel_now {
            handle.request_cancel();
        }
        let mut st = self.shared.lock();
        match st.slots[slot] {
            Slot::Reserved => st.slots[slot] = Slot::Running(handle),
            Slot::Done => {
                st.slots[slot] = Slot::Free;
                st.free.push(slot);
            }
            Slot::Free | Slot::Running(_) => unreachable!("slot {slot} was reserved"),
        }
    }

    /// Zig `group.async`: adds a member, run concurrently if a unit of concurrency is available,
    /// else inline before this returns (as [`r#async`](crate::Io#method.async)).
    #[track_caller]
    pub fn r#async<F>(&self, io: &dyn Io, future: F)
    where
        F: Future<Output = Result<(), Canceled>> + Send + 'static,
    {
        let (slot, cancel_now) = self.reserve();
        let handle = io.r#async(self.wrap(slot, future));
        self.store(slot, handle, cancel_now);
    }

    /// Zig `group.concurrent`: adds a member that is guaranteed to run concurrently.
    ///
    /// # Errors
    ///
    /// [`ConcurrencyUnavailable`] as for [`concurrent`](crate::Io#method.concurrent); the future
    /// is dropped and the group is unchanged.
    #[track_caller]
    pub fn concurrent<F>(&self, io: &dyn Io, future: F) -> Result<(), ConcurrencyUnavailable>
    where
        F: Future<Output = Result<(), Canceled>> + Send + 'static,
    {
        let (slot, cancel_now) = self.reserve();
        match io.concurrent(self.wrap(slot, future)) {
            Ok(handle) => {
                self.store(slot, handle, cancel_now);
                Ok(())
            }
            Err(e) => {
                // The wrapper was dropped unpolled, and its `MemberEnd` reported the end (the
                // live count is back, the slot is `Done`): free the slot.
                let mut st = self.shared.lock();
                if let Slot::Done = st.slots[slot] {
                    st.slots[slot] = Slot::Free;
                    st.free.push(slot);
                }
                Err(e)
            }
        }
    }

    /// Asks every running member to cancel (the first half of [`cancel`](Self::cancel)).
    fn request_cancel_all(&self) {
        let st = self.shared.lock();
        for slot in &st.slots {
            if let Slot::Running(h) = slot {
                h.request_cancel();
            }
        }
    }

    /// Waits until no member is live (not a cancellation point); re-raises a member's panic.
    async fn wait_all(&self) {
        poll_fn(|cx| {
            let mut st = self.shared.lock();
            if st.live == 0 {
                return Poll::Ready(st.panic.take());
            }
            if !st.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                st.waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
        .map_or((), |payload| resume_unwind(payload))
    }

    /// Zig `group.await`: waits until every member has ended.
    ///
    /// # Cancellation
    ///
    /// A cancellation point. If the waiting task is asked to cancel, the request is passed to
    /// every member, this waits for all of them to end, and returns `Err(Canceled)`.
    ///
    /// # Panics
    ///
    /// Re-raises the first panic of a member.
    pub async fn wait(&self) -> Result<(), Canceled> {
        let outcome = poll_fn(|cx| {
            if current::check_cancel().is_err() {
                return Poll::Ready(Err(Canceled));
            }
            let mut st = self.shared.lock();
            if st.live == 0 {
                return Poll::Ready(Ok(st.panic.take()));
            }
            if !st.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                st.waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await;
        match outcome {
            Ok(None) => Ok(()),
            Ok(Some(payload)) => resume_unwind(payload),
            Err(Canceled) => {
                self.cancel().await;
                Err(Canceled)
            }
        }
    }

    /// Zig `group.cancel`: asks every member to cancel and waits until all have ended. Members
    /// added while this runs are asked to cancel as soon as they are added. Afterwards the group
    /// is empty and can be used again.
    ///
    /// # Cancellation
    ///
    /// Not a cancellation point: it always waits for every member.
    ///
    /// # Panics
    ///
    /// Re-raises the first panic of a member.
    pub async fn cancel(&self) {
        self.shared.lock().canceling += 1;
        self.request_cancel_all();
        struct Done<'a>(&'a Group);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                self.0.shared.lock().canceling -= 1;
            }
        }
        let _done = Done(self);
        self.wait_all().await;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let handles: Vec<Slot> = std::mem::take(&mut self.shared.lock().slots);
        // Dropping the handles (outside the lock: a dropped task's destructor may end a member,
        // which locks the group) drops the members' tasks.
        drop(handles);
    }
}
