//! A hierarchical timing wheel over a slab of entries: O(1) insert and cancel, and firing in
//! order of deadline within the wheel's resolution.
//!
//! Ground rules:
//! 1. Time is counted in ticks of `RESOLUTION` (1 ms) since the wheel's origin. `elapsed` is the
//!    last tick processed; it only moves forward.
//! 2. `LEVELS` levels of `SLOTS` slots each. Level `l` slots span `SLOTS^l` ticks. An entry whose
//!    deadline is `when` sits at the lowest level where `when` and `elapsed` differ only in that
//!    level's digit (`level_for`), in the slot given by that digit. So every entry of level `l`
//!    is due before any entry of a level above it, and the next expiration is found from the
//!    lowest non-empty level (`occupied` bitmaps, one `u64` per level).
//! 3. Processing a slot fires the entries whose deadline has come and moves the others down
//!    (cascade) to the level their deadline now calls for.
//! 4. Deadlines beyond the top level's span (about 2.2 years) sit in the top level and cascade
//!    again when their slot comes round, so far deadlines never overflow.
//! 5. Entries live in a slab; a key is `(generation << 32) | index`, so a stale key (of an entry
//!    that fired and was reused) is recognised and ignored. Each slot is a doubly linked list
//!    threaded through the slab by index.

use std::task::Waker;

/// Slots per level: one `u64` occupancy bitmap per level.
pub(crate) const SLOTS: usize = 64;
/// Levels: 64^6 ticks of 1 ms is about 2.2 years before an entry needs a second lap.
pub(crate) const LEVELS: usize = 6;
/// The largest delay a level holds before the top level wraps.
const MAX_DELAY: u64 = (1 << (6 * LEVELS)) - 1;

const NIL: u32 = u32::MAX;

/// A timer key handed to the owner of an entry.
pub(crate) type Key = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Free,
    /// In a slot list, not yet due.
    Waiting,
    /// Fired: the owner sees it on its next poll and removes it.
    Fired,
}

struct Entry {
    when: u64,
    waker: Option<Waker>,
    prev: u32,
    next: u32,
    level: u8,
    slot: u8,
    state: State,
    generation: u32,
}

/// What `poll_entry` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryState {
    Waiting,
    Fired,
    /// The key is stale or was removed.
    Gone,
}

/// The timing wheel. Not synchronised: the backend keeps it behind a lock.
pub(crate) struct Wheel {
    elapsed: u64,
    heads: [[u32; SLOTS]; LEVELS],
    occupied: [u64; LEVELS],
    entries: Vec<Entry>,
    free: Vec<u32>,
    len: usize,
}

/// A slot that holds the next entries to process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Expiration {
    level: usize,
    slot: usize,
    /// The first tick at which the slot's entries may be due.
    pub(crate) deadline: u64,
}

fn slot_range(level: usize) -> u64 {
    (SLOTS as u64).pow(level as u32)
}

fn level_range(level: usize) -> u64 {
    (SLOTS as u64).pow(level as u32 + 1)
}

/// Ground rule 2: the level for an entry due at `when` when `elapsed` ticks have passed.
fn level_for(elapsed: u64, when: u64) -> usize {
    const SLOT_MASK: u64 = SLOTS as u64 - 1;
    let mut masked = (elapsed ^ when) | SLOT_MASK;
    if masked >= MAX_DELAY {
        masked = MAX_DELAY - 1;
    }
    let significant = 63 - masked.leading_zeros() as usize;
    significant / 6
}

fn slot_for(when: u64, level: usize) -> usize {
    ((when >> (level * 6)) % SLOTS as u64) as usize
}

impl Wheel {
    pub(crate) fn new() -> Self {
        Wheel {
            elapsed: 0,
            heads: [[NIL; SLOTS]; LEVELS],
            occupied: [0; LEVELS],
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    /// The last tick processed.
    #[cfg(test)]
    pub(crate) fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Number of entries in the wheel (waiting or fired but not yet removed).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes of memory per slab entry (for reports).
    pub(crate) const ENTRY_BYTES: usize = std::mem::size_of::<Entry>();

    /// Adds an entry due at tick `when`. Returns `None` if `when` has already elapsed (the caller
    /// completes at once).
    pub(crate) fn insert(&mut self, when: u64, waker: Waker) -> Option<Key> {
        if when <= self.elapsed {
            return None;
        }
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.entries.push(Entry {
                    when: 0,
                    waker: None,
                    prev: NIL,
                    next: NIL,
                    level: 0,
                    slot: 0,
                    state: State::Free,
                    generation: 0,
                });
                u32::try_from(self.entries.len() - 1).expect("fewer than 2^32 timers")
            }
        };
        let e = &mut self.entries[index as usize];
        e.when = when;
        e.waker = Some(waker);
        e.state = State::Waiting;
        let generation = e.generation;
        self.len += 1;
        self.link(index);
        Some(((generation as u64) << 32) | index as u64)
    }

    fn lookup(&self, key: Key) -> Option<u32> {
        let index = (key & 0xFFFF_FFFF) as u32;
        let e = self.entries.get(index as usize)?;
        (e.generation == (key >> 32) as u32 && e.state != State::Free).then_some(index)
    }

    /// The entry's state; while it waits, its waker is replaced by `waker` if it would not wake
    /// the same task.
    pub(crate) fn poll_entry(&mut self, key: Key, waker: &Waker) -> EntryState {
        let Some(index) = self.lookup(key) else {
            return EntryState::Gone;
        };
        let e = &mut self.entries[index as usize];
        match e.state {
            State::Fired => EntryState::Fired,
            State::Waiting => {
                if !e.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
                    e.waker = Some(waker.clone());
                }
                EntryState::Waiting
            }
            State::Free => EntryState::Gone,
        }
    }

    /// Removes the entry (fired or not); its slab slot is reused. Stale keys are ignored.
    pub(crate) fn remove(&mut self, key: Key) {
        let Some(index) = self.lookup(key) else {
            return;
        };
        if self.entries[index as usize].state == State::Waiting {
            self.unlink(index);
        }
        let e = &mut self.entries[index as usize];
        e.state = State::Free;
        e.waker = None;
        e.generation = e.generation.wrapping_add(1);
        self.free.push(index);
        self.len -= 1;
    }

    fn link(&mut self, index: u32) {
        let when = self.entries[index as usize].when;
        let level = level_for(self.elapsed, when);
        let slot = slot_for(when, level);
        let head = self.heads[level][slot];
        {
            let e = &mut self.entries[index as usize];
            e.level = level as u8;
            e.slot = slot as u8;
            e.prev = NIL;
            e.next = head;
        }
        if head != NIL {
            self.entries[head as usize].prev = index;
        }
        self.heads[level][slot] = index;
        self.occupied[level] |= 1 << slot;
    }

    fn unlink(&mut self, index: u32) {
        let (prev, next, level, slot) = {
            let e = &self.entries[index as usize];
            (e.prev, e.next, e.level as usize, e.slot as usize)
        };
        if prev == NIL {
            self.heads[level][slot] = next;
            if next == NIL {
                self.occupied[level] &= !(1 << slot);
            }
        } else {
            self.entries[prev as usize].next = next;
        }
        if next != NIL {
            self.entries[next as usize].prev = prev;
        }
    }

    /// The next slot to process (ground rule 2), if any entry waits.
    pub(crate) fn next_expiration(&self) -> Option<Expiration> {
        (0..LEVELS).find_map(|level| self.level_expiration(level))
    }

    fn level_expiration(&self, level: usize) -> Option<Expiration> {
        let occupied = self.occupied[level];
        if occupied == 0 {
            return None;
        }
        let now = self.elapsed;
        let now_slot = (now / slot_range(level)) % SLOTS as u64;
        let zeros = occupied.rotate_right(now_slot as u32).trailing_zeros() as u64;
        let slot = ((zeros + now_slot) % SLOTS as u64) as usize;
        let level_start = now & !(level_range(level) - 1);
        let mut deadline = level_start + slot as u64 * slot_range(level);
        if deadline <= now && level > 0 {
            // Only the top level can hold a slot "behind" the current time (ground rule 4):
            // it comes round on the next lap.
            deadline += level_range(level);
        }
        Some(Expiration { level, slot, deadline })
    }

    /// The first tick at which some entry may be due, if any entry waits.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.next_expiration().map(|e| e.deadline.max(self.elapsed))
    }

    /// Processes every slot due by tick `now`, pushing the wakers of fired entries to `fired`.
    pub(crate) fn advance(&mut self, now: u64, fired: &mut Vec<Waker>) {
        while let Some(exp) = self.next_expiration() {
            if exp.deadline > now {
                break;
            }
            self.process(exp, fired);
        }
        if now > self.elapsed {
            self.elapsed = now;
        }
    }

    fn process(&mut self, exp: Expiration, fired: &mut Vec<Waker>) {
        // Detach the whole slot list, then fire or re-link each entry (ground rule 3).
        let mut index = self.heads[exp.level][exp.slot];
        self.heads[exp.level][exp.slot] = NIL;
        self.occupied[exp.level] &= !(1 << exp.slot);
        if exp.deadline > self.elapsed {
            self.elapsed = exp.deadline;
        }
        while index != NIL {
            let next = self.entries[index as usize].next;
            let e = &mut self.entries[index as usize];
            if e.when <= self.elapsed {
                e.state = State::Fired;
                if let Some(w) = e.waker.take() {
                    fired.push(w);
                }
            } else {
                self.link(index);
            }
            index = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn noop() -> Waker {
        futures::task::noop_waker()
    }

    /// Drives the wheel tick by tick and checks each entry fires exactly at its deadline tick.
    #[test]
    fn fires_at_deadline_against_a_model() {
        let mut wheel = Wheel::new();
        let mut model: BTreeMap<u64, Vec<Key>> = BTreeMap::new();
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut keys = Vec::new();
        for _ in 0..2_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let when = 1 + seed % 300_000;
            let key = wheel.insert(when, noop()).expect("in the future");
            model.entry(when).or_default().push(key);
            keys.push((key, when));
        }
        // Cancel every tenth.
        for (i, (key, when)) in keys.iter().enumerate() {
            if i % 10 == 0 {
                wheel.remove(*key);
                model.get_mut(when).unwrap().retain(|k| k != key);
            }
        }
        let mut fired = Vec::new();
        let mut now = 0;
        while let Some(deadline) = wheel.next_deadline() {
            if wheel.len() == 0 {
                break;
            }
            assert!(deadline >= now, "deadlines move forward");
            now = deadline;
            wheel.advance(now, &mut fired);
            for key in model.remove(&now).unwrap_or_default() {
                assert_eq!(wheel.poll_entry(key, &noop()), EntryState::Fired, "due at {now}");
                wheel.remove(key);
            }
            // Nothing due later has fired.
            for keys in model.values() {
                for key in keys {
                    assert_eq!(wheel.poll_entry(*key, &noop()), EntryState::Waiting);
                }
            }
            if model.values().all(|v| v.is_empty()) {
                break;
            }
        }
        assert!(model.values().all(|v| v.is_empty()));
        assert_eq!(wheel.len(), 0);
    }

    #[test]
    fn far_deadlines_wrap_and_still_fire() {
        let mut wheel = Wheel::new();
        let far = MAX_DELAY * 3 + 12_345;
        let key = wheel.insert(far, noop()).unwrap();
        let mut fired = Vec::new();
        let mut laps = 0;
        while let Some(d) = wheel.next_deadline() {
            wheel.advance(d, &mut fired);
            laps += 1;
            if wheel.poll_entry(key, &noop()) == EntryState::Fired {
                break;
            }
            assert!(laps < 100, "a far timer takes a bounded number of cascades");
        }
        assert_eq!(wheel.elapsed(), far);
        assert_eq!(fired.len(), 1);
    }

    #[test]
    fn past_deadline_and_stale_keys() {
        let mut wheel = Wheel::new();
        let mut fired = Vec::new();
        wheel.advance(100, &mut fired);
        assert!(wheel.insert(100, noop()).is_none());
        let key = wheel.insert(101, noop()).unwrap();
        wheel.remove(key);
        assert_eq!(wheel.poll_entry(key, &noop()), EntryState::Gone);
        let key2 = wheel.insert(105, noop()).unwrap();
        // Same slab slot, new generation: the stale key does not touch it.
        wheel.remove(key);
        assert_eq!(wheel.poll_entry(key2, &noop()), EntryState::Waiting);
        assert_eq!(wheel.len(), 1);
    }
}
