//! A hierarchical timing wheel over a slab of entries: O(1) insert and cancel, and firing in
//! order of deadline within the wheel's resolution.
//!
//! Ground rules:
//! 1. Time is counted in ticks of `RESOLUTION` (250 µs) since the wheel's origin. `elapsed` is the
//!    last tick processed; it only moves forward.
//! 2. `LEVELS` levels of `SLOTS` slots each. Level `l` slots span `SLOTS^l` ticks. An entry whose
//!    deadline is `when` sits at the lowest level where `when` and `elapsed` differ only in that
//!    level's digit (`level_for`), in the slot given by that digit. So every entry of level `l`
//!    is due before any entry of a level above it, and the next expiration is found from the
//!    lowest non-empty level (`occupied` bitmaps, one `u64` per level).
//! 3. Processing a slot fires the entries whose deadline has come and moves the others down
//!    (cascade) to the level their deadline now calls for.
//! 4. Deadlines beyond the top level's span (about 199 days) sit in the top level and cascade
//!    again when their slot comes round, so far deadlines never overflow. Deadlines are capped
//!    at `MAX_WHEN` ticks (about 285,000 years).
//! 5. Entries live in a slab; a key is `(generation << 32) | index`, so a stale key (of an entry
//!    that fired and was reused) is recognised and ignored.
//! 6. Each slot is a `Vec<u32>` of slab indices, and a waiting entry records its slot (in the
//!    top bits of its deadline word) and its position in that vector. Cancel is a
//!    `swap_remove` that updates the position of the entry moved into the hole: O(1), touching
//!    at most two entries. A cascade walks the slot's vector in batches of `BATCH`, reading the
//!    batch's deadlines first in one pass of independent loads (the cache misses overlap)
//!    instead of chasing a linked list one dependent miss at a time.
//! 7. Entries are 32 bytes, 32-aligned (two per cache line, none straddling two). The vectors
//!    (slab, free list, slots) grow to the peak number of timers and keep their capacity, so a
//!    steady state allocates nothing; a slot's vector keeps its capacity across a cascade too.

use std::task::Waker;

/// Slots per level: one `u64` occupancy bitmap per level.
pub(crate) const SLOTS: usize = 64;
/// Levels: 64^6 ticks of 250 µs is about 199 days before an entry needs a second lap.
pub(crate) const LEVELS: usize = 6;
/// The largest delay a level holds before the top level wraps.
const MAX_DELAY: u64 = (1 << (6 * LEVELS)) - 1;

/// Bits of an entry's deadline word that hold the deadline; the bits above hold its slot.
const WHEN_BITS: u32 = 55;
/// The latest deadline tick the wheel keeps (ground rule 4): later ones are taken as this.
/// 2^55 ticks of 250 µs is about 285,000 years.
pub(crate) const MAX_WHEN: u64 = (1 << WHEN_BITS) - 1;
const _: () = assert!(LEVELS * SLOTS <= 1 << (64 - WHEN_BITS), "a slot id fits above the deadline");

/// `Entry::pos` of a free slab entry.
const FREE: u32 = u32::MAX;
/// `Entry::pos` of an entry that fired and waits for its owner to remove it.
const FIRED: u32 = u32::MAX - 1;

/// Entries whose deadlines a cascade reads in one pass before acting on them (ground rule 6).
const BATCH: usize = 64;

/// A timer key handed to the owner of an entry.
pub(crate) type Key = u64;

/// A slab entry (ground rule 7: 32 bytes, 32-aligned).
#[repr(C, align(32))]
struct Entry {
    /// The deadline tick (low `WHEN_BITS` bits) and, while waiting, the slot it waits in
    /// (`level * SLOTS + slot`, the bits above).
    word: u64,
    /// The task to wake; `None` once fired or freed.
    waker: Option<Waker>,
    /// Waiting: the entry's position in its slot's vector. Otherwise `FIRED` or `FREE`.
    pos: u32,
    /// Bumped when the entry is freed, so that old keys no longer match (ground rule 5).
    generation: u32,
}

const _: () = assert!(std::mem::size_of::<Entry>() == 32 && std::mem::align_of::<Entry>() == 32);

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
    /// `LEVELS * SLOTS` vectors of slab indices, slot `s` of level `l` at `l * SLOTS + s`.
    slots: Box<[Vec<u32>]>,
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
            slots: (0..LEVELS * SLOTS).map(|_| Vec::new()).collect(),
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

    /// Bytes of memory per slab entry (for reports). A waiting entry also takes a `u32` index
    /// in its slot's vector.
    pub(crate) const ENTRY_BYTES: usize = std::mem::size_of::<Entry>();

    /// Adds an entry due at tick `when` (capped at `MAX_WHEN`). Returns `None` if `when` has
    /// already elapsed (the caller completes at once).
    pub(crate) fn insert(&mut self, when: u64, waker: Waker) -> Option<Key> {
        if when <= self.elapsed {
            return None;
        }
        let when = when.min(MAX_WHEN);
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                // Below `FIRED`: a slot's vector then never holds more, so every position is
                // below the `pos` markers.
                assert!(self.entries.len() < FIRED as usize, "fewer than 2^32 - 2 timers");
                self.entries.push(Entry { word: 0, waker: None, pos: FREE, generation: 0 });
                (self.entries.len() - 1) as u32
            }
        };
        let e = &mut self.entries[index as usize];
        e.waker = Some(waker);
        let generation = e.generation;
        self.len += 1;
        self.link(index, when);
        Some(((generation as u64) << 32) | index as u64)
    }

    fn lookup(&self, key: Key) -> Option<u32> {
        let index = (key & 0xFFFF_FFFF) as u32;
        let e = self.entries.get(index as usize)?;
        (e.generation == (key >> 32) as u32 && e.pos != FREE).then_some(index)
    }

    /// The entry's state; while it waits, its waker is replaced by `waker` if it would not wake
    /// the same task.
    pub(crate) fn poll_entry(&mut self, key: Key, waker: &Waker) -> EntryState {
        let Some(index) = self.lookup(key) else {
            return EntryState::Gone;
        };
        let e = &mut self.entries[index as usize];
        match e.pos {
            FREE => EntryState::Gone,
            FIRED => EntryState::Fired,
            _ => {
                if !e.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
                    e.waker = Some(waker.clone());
                }
                EntryState::Waiting
            }
        }
    }

    /// Removes the entry (fired or not); its slab slot is reused. Stale keys are ignored.
    pub(crate) fn remove(&mut self, key: Key) {
        let Some(index) = self.lookup(key) else {
            return;
        };
        let e = &mut self.entries[index as usize];
        let (word, pos) = (e.word, e.pos);
        e.pos = FREE;
        e.waker = None;
        e.generation = e.generation.wrapping_add(1);
        self.free.push(index);
        self.len -= 1;
        if pos < FIRED {
            self.unlink((word >> WHEN_BITS) as usize, pos as usize);
        }
    }

    /// Puts entry `index` in the slot its deadline `when` calls for (ground rule 2).
    fn link(&mut self, index: u32, when: u64) {
        let level = level_for(self.elapsed, when);
        let slot = slot_for(when, level);
        let id = level * SLOTS + slot;
        let list = &mut self.slots[id];
        let pos = list.len() as u32;
        list.push(index);
        self.occupied[level] |= 1 << slot;
        let e = &mut self.entries[index as usize];
        e.word = when | (id as u64) << WHEN_BITS;
        e.pos = pos;
    }

    /// Takes the index at `pos` out of slot `id`: the last index moves into the hole (ground
    /// rule 6).
    fn unlink(&mut self, id: usize, pos: usize) {
        let list = &mut self.slots[id];
        list.swap_remove(pos);
        if let Some(&moved) = list.get(pos) {
            self.entries[moved as usize].pos = pos as u32;
        }
        if list.is_empty() {
            self.occupied[id / SLOTS] &= !(1 << (id % SLOTS));
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
        // The search starts at the current slot, except at the top level: there the current
        // slot only holds entries a lap or more away (ground rule 4; a nearer entry with the
        // same digit would sit lower), so it comes *last*, after the slots ahead in this lap
        // and the wrapped ones of the next. Starting at it would report its next-lap deadline
        // and hide an earlier slot: a timer due in two weeks would wait for the lap (2.2 years)
        // whenever a far timer (`Duration::MAX`) shared the current top slot.
        let first = if level == LEVELS - 1 { (now_slot + 1) % SLOTS as u64 } else { now_slot };
        let zeros = occupied.rotate_right(first as u32).trailing_zeros() as u64;
        let slot = ((zeros + first) % SLOTS as u64) as usize;
        let level_start = now & !(level_range(level) - 1);
        let mut deadline = level_start + slot as u64 * slot_range(level);
        if deadline <= now && level > 0 {
            // Only the top level can hold a slot "behind" the current time (ground rule 4):
            // it comes round on the next lap.
            deadline += level_range(level);
        }
        Some(Expiration { level, slot, deadline })
    }

    /// Entries waiting in a slot (for `cascade_cost`).
    fn slot_len(&self, level: usize, slot: usize) -> usize {
        self.slots[level * SLOTS + slot].len()
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
        // Detach the whole slot, then fire or re-link each entry (ground rule 3).
        let id = exp.level * SLOTS + exp.slot;
        let mut list = std::mem::take(&mut self.slots[id]);
        self.occupied[exp.level] &= !(1 << exp.slot);
        if exp.deadline > self.elapsed {
            self.elapsed = exp.deadline;
        }
        let elapsed = self.elapsed;
        let mut words = [0u64; BATCH];
        for batch in list.chunks(BATCH) {
            // Ground rule 6: the batch's deadlines in one pass of independent loads...
            for (word, &index) in words.iter_mut().zip(batch) {
                *word = self.entries[index as usize].word;
            }
            // ...then each entry, now in cache, fires or moves down.
            for (&word, &index) in words.iter().zip(batch) {
                let when = word & MAX_WHEN;
                if when <= elapsed {
                    let e = &mut self.entries[index as usize];
                    e.pos = FIRED;
                    if let Some(w) = e.waker.take() {
                        fired.push(w);
                    }
                } else {
                    self.link(index, when);
                }
            }
        }
        // Give the slot its vector back, capacity kept (ground rule 7), unless entries a lap
        // away were re-linked into this very slot (the top level only, ground rule 4): those
        // now sit in a fresh vector, and the old one goes.
        if self.slots[id].is_empty() {
            list.clear();
            self.slots[id] = list;
        }
    }

    /// Checks the structure: each waiting entry is at its recorded position in its recorded
    /// slot, each slot lists only waiting entries that say they are there, the occupancy bits
    /// match the non-empty slots, and the count matches the slab.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        let mut listed = 0;
        for (id, list) in self.slots.iter().enumerate() {
            let bit = self.occupied[id / SLOTS] >> (id % SLOTS) & 1;
            assert_eq!(bit == 1, !list.is_empty(), "occupancy of slot {id}");
            for (pos, &index) in list.iter().enumerate() {
                let e = &self.entries[index as usize];
                assert_eq!(e.pos as usize, pos, "position of entry {index} in slot {id}");
                assert_eq!((e.word >> WHEN_BITS) as usize, id, "slot of entry {index}");
                assert!(e.word & MAX_WHEN > self.elapsed, "a waiting entry is due later");
                assert!(e.waker.is_some(), "a waiting entry has a waker");
            }
            listed += list.len();
        }
        let fired = self.entries.iter().filter(|e| e.pos == FIRED).count();
        let free = self.entries.iter().filter(|e| e.pos == FREE).count();
        assert_eq!(listed + fired, self.len);
        assert_eq!(free, self.free.len());
        assert_eq!(self.len + free, self.entries.len());
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
    fn entries_are_32_bytes_two_per_cache_line() {
        assert_eq!(Wheel::ENTRY_BYTES, 32);
        assert_eq!(std::mem::align_of::<Entry>(), 32);
        let mut wheel = Wheel::new();
        for when in 1..100 {
            wheel.insert(when, noop()).unwrap();
        }
        assert_eq!(wheel.entries.as_ptr() as usize % 32, 0, "no entry straddles a cache line");
    }

    /// Cancel takes an entry out of the middle, the start and the end of a shared slot: the
    /// entries moved into the holes still fire, each at its own deadline, and none of the
    /// canceled ones does.
    #[test]
    fn cancel_swaps_the_last_entry_into_the_hole() {
        let mut wheel = Wheel::new();
        // Ticks 64..128 share level 1's slot 1.
        let keys: Vec<(Key, u64)> =
            (0..64).map(|i| (wheel.insert(64 + i, noop()).unwrap(), 64 + i)).collect();
        assert_eq!(wheel.slot_len(1, 1), 64);
        let canceled = [10usize, 0, 63, 62, 31, 1];
        for &i in &canceled {
            wheel.remove(keys[i].0);
            wheel.check_invariants();
        }
        assert_eq!(wheel.slot_len(1, 1), 64 - canceled.len());
        assert_eq!(wheel.len(), 64 - canceled.len());
        let mut fired = Vec::new();
        for (i, &(key, when)) in keys.iter().enumerate() {
            wheel.advance(when, &mut fired);
            wheel.check_invariants();
            let expected = if canceled.contains(&i) { EntryState::Gone } else { EntryState::Fired };
            assert_eq!(wheel.poll_entry(key, &noop()), expected, "entry {i} at {when}");
            if let Some(&(next, _)) = keys.get(i + 1) {
                if !canceled.contains(&(i + 1)) {
                    assert_eq!(wheel.poll_entry(next, &noop()), EntryState::Waiting);
                }
            }
        }
        assert_eq!(fired.len(), 64 - canceled.len());
    }

    /// The same load twice: the second round allocates nothing (every vector kept the capacity
    /// the first round gave it, a cascaded slot's included).
    #[test]
    fn a_steady_state_keeps_capacity() {
        fn round(wheel: &mut Wheel, fired: &mut Vec<Waker>) {
            let start = wheel.elapsed();
            let keys: Vec<Key> = (0..5_000u64)
                .map(|i| wheel.insert(start + 1 + (i * 7_919) % 10_000, noop()).unwrap())
                .collect();
            for key in keys.iter().step_by(3) {
                wheel.remove(*key);
            }
            while wheel.next_deadline().is_some() {
                let next = wheel.next_deadline().unwrap();
                wheel.advance(next, fired);
            }
            for key in keys {
                wheel.remove(key);
            }
            fired.clear();
            assert_eq!(wheel.len(), 0);
        }
        fn capacities(wheel: &Wheel) -> Vec<usize> {
            let mut c: Vec<usize> = wheel.slots.iter().map(Vec::capacity).collect();
            c.extend([wheel.entries.capacity(), wheel.free.capacity()]);
            c
        }
        let mut wheel = Wheel::new();
        let mut fired = Vec::new();
        round(&mut wheel, &mut fired);
        let after_one = capacities(&wheel);
        // Same offsets from the same slot phase: the same slots fill to the same sizes.
        let lap = level_range(2);
        let mut fired2 = Vec::new();
        wheel.advance(lap, &mut fired2);
        round(&mut wheel, &mut fired);
        assert_eq!(capacities(&wheel), after_one);
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

/// The wheel against a model, a `BTreeMap` ordered by `(deadline, insertion)`: random inserts
/// (near, within a lap, beyond the top level), cancels, and advances by random steps or to
/// `next_deadline` as the driver does. After each step the same set has fired (no entry early,
/// none missed), `next_deadline` is never later than the earliest pending deadline (the driver
/// never oversleeps) and always past the present after an advance (the driver never spins).
#[cfg(test)]
mod model_tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, BTreeSet, HashMap};
    use std::sync::{Arc, Mutex};
    use std::task::Wake;

    struct Record {
        id: usize,
        woken: Arc<Mutex<Vec<usize>>>,
    }

    impl Wake for Record {
        fn wake(self: Arc<Self>) {
            self.woken.lock().unwrap().push(self.id);
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64),
        /// Removes the n-th entry (pending or fired) in id order.
        Remove(usize),
        Advance(u64),
        AdvanceToNext,
        /// Removes every fired entry, as their sleeps' next polls do.
        Reap,
    }

    fn op() -> impl Strategy<Value = Op> {
        let delay = prop_oneof![
            4 => 0..4u64,
            4 => 0..200u64,
            2 => 0..(1u64 << 18),
            2 => 0..(1u64 << 30),
            1 => 0..MAX_DELAY * 3,
            1 => Just(MAX_WHEN),
            1 => Just(u64::MAX >> 2),
        ];
        let step = prop_oneof![
            4 => 0..3u64,
            4 => 0..100u64,
            2 => 0..(1u64 << 20),
            1 => 0..(1u64 << 37),
        ];
        prop_oneof![
            6 => delay.prop_map(Op::Insert),
            2 => any::<usize>().prop_map(Op::Remove),
            3 => step.prop_map(Op::Advance),
            3 => Just(Op::AdvanceToNext),
            1 => Just(Op::Reap),
        ]
    }

    struct Harness {
        wheel: Wheel,
        /// The model: pending entries by `(when, id)`.
        pending: BTreeMap<(u64, usize), Key>,
        /// Fired entries not yet removed, by id.
        fired: BTreeMap<usize, Key>,
        wakers: HashMap<usize, Waker>,
        woken: Arc<Mutex<Vec<usize>>>,
        now: u64,
        next_id: usize,
    }

    impl Harness {
        fn advance(&mut self, now: u64) -> Result<(), TestCaseError> {
            let now = now.max(self.now);
            let mut fired = Vec::new();
            self.wheel.advance(now, &mut fired);
            for w in fired {
                w.wake();
            }
            self.now = now;
            prop_assert_eq!(self.wheel.elapsed(), now);
            let mut due = BTreeSet::new();
            while let Some((&(when, id), &key)) = self.pending.first_key_value() {
                if when > now {
                    break;
                }
                self.pending.pop_first();
                self.fired.insert(id, key);
                due.insert(id);
            }
            let woken: BTreeSet<usize> = self.woken.lock().unwrap().drain(..).collect();
            prop_assert_eq!(&woken, &due, "fired at tick {}", now);
            if let Some(next) = self.wheel.next_deadline() {
                prop_assert!(next > now, "next deadline {} not past the present {}", next, now);
            }
            Ok(())
        }

        fn check(&mut self) -> Result<(), TestCaseError> {
            self.wheel.check_invariants();
            prop_assert_eq!(self.wheel.len(), self.pending.len() + self.fired.len());
            let earliest = self.pending.first_key_value().map(|(&(when, _), _)| when);
            match (self.wheel.next_deadline(), earliest) {
                (None, None) => {}
                (Some(next), Some(when)) => {
                    prop_assert!(next <= when, "next deadline {} after a due entry {}", next, when)
                }
                (next, when) => prop_assert!(false, "next deadline {:?}, model {:?}", next, when),
            }
            for (&(_, id), &key) in &self.pending {
                prop_assert_eq!(self.wheel.poll_entry(key, &self.wakers[&id]), EntryState::Waiting);
            }
            for (id, &key) in &self.fired {
                prop_assert_eq!(self.wheel.poll_entry(key, &self.wakers[id]), EntryState::Fired);
            }
            Ok(())
        }

        fn run(&mut self, op: Op) -> Result<(), TestCaseError> {
            match op {
                Op::Insert(delay) => {
                    // The wheel keeps later deadlines as `MAX_WHEN` (ground rule 4).
                    let when = self.now.saturating_add(delay).min(MAX_WHEN);
                    let id = self.next_id;
                    self.next_id += 1;
                    let waker = Waker::from(Arc::new(Record { id, woken: self.woken.clone() }));
                    match self.wheel.insert(when, waker.clone()) {
                        None => prop_assert!(when <= self.now, "refused a future tick {}", when),
                        Some(key) => {
                            prop_assert!(when > self.now, "accepted a past tick {}", when);
                            self.pending.insert((when, id), key);
                            self.wakers.insert(id, waker);
                        }
                    }
                }
                Op::Remove(n) => {
                    let mut ids: Vec<(usize, Option<u64>)> =
                        self.pending.keys().map(|&(when, id)| (id, Some(when))).collect();
                    ids.extend(self.fired.keys().map(|&id| (id, None)));
                    ids.sort_unstable();
                    if !ids.is_empty() {
                        let (id, when) = ids[n % ids.len()];
                        let key = match when {
                            Some(when) => self.pending.remove(&(when, id)).unwrap(),
                            None => self.fired.remove(&id).unwrap(),
                        };
                        self.wheel.remove(key);
                        prop_assert_eq!(
                            self.wheel.poll_entry(key, &self.wakers[&id]),
                            EntryState::Gone
                        );
                        // A second remove of the stale key changes nothing.
                        self.wheel.remove(key);
                    }
                }
                Op::Advance(step) => self.advance(self.now.saturating_add(step))?,
                Op::AdvanceToNext => {
                    if let Some(next) = self.wheel.next_deadline() {
                        self.advance(next)?;
                    }
                }
                Op::Reap => {
                    for (_, key) in std::mem::take(&mut self.fired) {
                        self.wheel.remove(key);
                    }
                }
            }
            self.check()
        }
    }

    /// The case the model found: a far entry in the top level's current slot hid an entry due
    /// in the next top-level slot (`next_deadline` was the far entry's next lap, 2^36 ticks,
    /// instead of 2^30), so the nearer timer fired a lap (about 2.2 years) late.
    #[test]
    fn far_entry_in_the_current_top_slot_does_not_hide_a_nearer_one() {
        let noop = futures::task::noop_waker;
        let mut wheel = Wheel::new();
        let mut fired = Vec::new();
        wheel.advance(1, &mut fired);
        let far = wheel.insert(1 << 62, noop()).unwrap();
        let near = wheel.insert(1 << 30, noop()).unwrap();
        assert_eq!(wheel.next_deadline(), Some(1 << 30));
        wheel.advance(1 << 30, &mut fired);
        assert_eq!(wheel.poll_entry(near, &noop()), EntryState::Fired);
        assert_eq!(wheel.poll_entry(far, &noop()), EntryState::Waiting);
        assert_eq!(fired.len(), 1);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn wheel_matches_a_btreemap(ops in prop::collection::vec(op(), 1..200)) {
            let mut h = Harness {
                wheel: Wheel::new(),
                pending: BTreeMap::new(),
                fired: BTreeMap::new(),
                wakers: HashMap::new(),
                woken: Arc::new(Mutex::new(Vec::new())),
                now: 0,
                next_id: 0,
            };
            for op in ops {
                h.run(op)?;
            }
            // Drain: driving to each next deadline fires everything, in a bounded number of
            // steps. Entries many laps away (a "never" sleep) would take a cascade per lap:
            // cancel those first.
            let horizon = h.now.saturating_add(8 * MAX_DELAY);
            let far: Vec<usize> = h.pending.keys().filter(|k| k.0 > horizon).map(|k| k.1).collect();
            let n = h.pending.len() + h.fired.len();
            for id in far {
                let mut ids: Vec<usize> =
                    h.pending.keys().map(|k| k.1).chain(h.fired.keys().copied()).collect();
                ids.sort_unstable();
                let at = ids.iter().position(|&i| i == id).unwrap();
                h.run(Op::Remove(at))?;
            }
            prop_assert!(h.pending.len() + h.fired.len() <= n);
            let mut steps = 0;
            while !h.pending.is_empty() {
                let next = h.wheel.next_deadline().expect("pending entries have a deadline");
                h.advance(next)?;
                h.check()?;
                steps += 1;
                prop_assert!(steps < 10_000, "the wheel does not converge");
            }
        }
    }
}

/// Backs `kqueue::timer_cascade_cost` (see there).
pub(crate) fn cascade_cost(timers: usize) -> crate::kqueue::CascadeCost {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let waker = futures::task::noop_waker();
    let mut wheel = Wheel::new();
    // Scramble the free list: insert twice as many, remove them in a random order.
    let mut keys: Vec<Key> =
        (0..2 * timers).filter_map(|_| wheel.insert(1 + rand() % 400, waker.clone())).collect();
    for i in (1..keys.len()).rev() {
        keys.swap(i, (rand() % (i as u64 + 1)) as usize);
    }
    for key in keys.drain(..) {
        wheel.remove(key);
    }
    let keys: Vec<Key> =
        (0..timers).filter_map(|_| wheel.insert(4 + rand() % 397, waker.clone())).collect();
    let mut cost = crate::kqueue::CascadeCost::default();
    let mut fired = Vec::with_capacity(timers);
    while let Some(exp) = wheel.next_expiration() {
        let entries = if exp.level == 1 { wheel.slot_len(exp.level, exp.slot) } else { 0 };
        let started = std::time::Instant::now();
        wheel.advance(exp.deadline, &mut fired);
        let ns = started.elapsed().as_nanos() as u64;
        if exp.level == 1 {
            cost.step_ns.push(ns);
            cost.entries.push(entries);
        }
        fired.clear();
    }
    for key in keys {
        wheel.remove(key);
    }
    cost
}
