//! Reading again right after a write: the guess that a request/response peer has already
//! answered (ground rule 5 of `net.rs`).
//!
//! A stream read that drains the socket clears its read readiness (`AsyncFd::poll_io_stream`),
//! so the next read waits for the reactor's next event. In a request/response exchange the
//! answer to a write often arrives while that write is still in the kernel: a peer blocked in
//! `read` is woken by the write on the writer's core and runs at once, and its next request is
//! in the socket when `send` returns. Reading again then costs one `recv` that succeeds, where
//! waiting costs a reactor turn, an event, a wake-up and a task switch, and lets the peer's
//! next wake-up land on another core. tokio gets the same effect by trying every read until one
//! returns `WouldBlock`.
//!
//! A guess that meets `WouldBlock` costs a syscall, so each socket keeps score:
//!
//! 1. After a write that moved bytes, the socket guesses unless it is backing off.
//! 2. The next read attempt settles an outstanding guess: bytes (or the end of the stream) are a
//!    hit and reset the score; `WouldBlock` is a miss.
//! 3. The first `FREE_MISSES` misses in a row cost nothing more. After `k > FREE_MISSES` misses
//!    in a row the socket skips the next `2^(k - FREE_MISSES) - 1` writes before guessing again,
//!    up to `MAX_SKIP`: one `WouldBlock` per 64 writes at worst, against one per message with
//!    tokio's way. A hit ends the back-off.
//!
//! Why misses are forgiven at first: a blocking peer answers at once only while it runs on the
//! writer's core, and the kernel moves it now and then. Its guesses miss until it is back, and
//! the first guess after that restores the exchange; a socket that is not guessing then waits
//! for the reactor's event instead. The longest back-off is a choice between the two kinds of
//! peer. On the 2-core machine (`benches/growth.rs`, kqio/tokio round trips at 64 connections,
//! and `EAGAIN` per round trip at 1,000 connections over 64 client threads, where the peer
//! answers later) backing off up to 63 writes gave 0.80-0.90 and 0.017, up to 15 writes 0.87
//! and 0.07, up to 7 writes 0.89-0.92 and 0.13, up to 3 writes 0.94-0.97 and 0.24, never
//! 1.00-1.02 and 0.92. With server and clients in one runtime (`benches/net.rs`) up to 63 writes
//! gave 0.03 `EAGAIN` a round trip and up to 7 writes 0.25, where kqio's read-ahead had removed
//! them all and tokio makes 2.00. Under `wrk` all were level with the build without guesses.
//! benches/README ("growth") has the figures.

//! The score is one relaxed atomic word. A socket read and written by two tasks at once can
//! interleave the updates and lose one; that only changes when the next guess happens, never
//! what a read returns: a guess only sets the readiness bit (`ScheduledIo::assume_readable`),
//! and real events still arrive, are counted and wake waiters as before.

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

/// The most writes a backing-off socket skips between two guesses.
const MAX_SKIP: u32 = 63;

/// Misses in a row that cost no skipped guess.
const FREE_MISSES: u32 = 3;

/// Misses in a row are counted up to this (enough for `MAX_SKIP`: 2^(15 - 3) - 1 > 63).
const MAX_MISSES: u32 = 15;

/// Bit 0: a guess is outstanding. Bits 1-4: misses in a row. Bits 8-15: writes still to skip.
const OUTSTANDING: u32 = 1;
const MISSES_SHIFT: u32 = 1;
const MISSES_MASK: u32 = 0b1111 << MISSES_SHIFT;
const SKIP_SHIFT: u32 = 8;

/// One socket's score of guesses (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct ReadGuess(AtomicU32);

/// How a read attempt ended, as far as a guess is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadOutcome {
    /// Bytes, the end of the stream, or an error other than `WouldBlock`: reading again was
    /// worth a syscall.
    Answered,
    /// `WouldBlock`: the peer had not answered yet.
    WouldBlock,
}

impl ReadOutcome {
    /// The outcome of a read syscall's result.
    pub(crate) fn of<T>(r: &std::io::Result<T>) -> ReadOutcome {
        match r {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => ReadOutcome::WouldBlock,
            _ => ReadOutcome::Answered,
        }
    }
}

impl ReadGuess {
    /// After a stream write that moved bytes: whether to guess that the read side is ready.
    pub(crate) fn after_write(&self) -> bool {
        let cur = self.0.load(Relaxed);
        let skip = cur >> SKIP_SHIFT;
        if skip > 0 {
            self.0.store(((skip - 1) << SKIP_SHIFT) | (cur & MISSES_MASK), Relaxed);
            return false;
        }
        self.0.store((cur & MISSES_MASK) | OUTSTANDING, Relaxed);
        true
    }

    /// After a read attempt (a syscall that ran): settles an outstanding guess.
    pub(crate) fn after_read(&self, outcome: ReadOutcome) {
        let cur = self.0.load(Relaxed);
        if cur & OUTSTANDING == 0 {
            return;
        }
        let next = match outcome {
            ReadOutcome::Answered => 0,
            ReadOutcome::WouldBlock => {
                let misses = (((cur & MISSES_MASK) >> MISSES_SHIFT) + 1).min(MAX_MISSES);
                let skip = match misses.checked_sub(FREE_MISSES) {
                    Some(over @ 1..) => ((1u32 << over) - 1).min(MAX_SKIP),
                    _ => 0,
                };
                (skip << SKIP_SHIFT) | (misses << MISSES_SHIFT)
            }
        };
        self.0.store(next, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The writes skipped before each guess, for a peer whose every guess misses.
    fn skips_while_missing(g: &ReadGuess, guesses: usize) -> Vec<u32> {
        let mut out = Vec::new();
        let mut skipped = 0;
        while out.len() < guesses {
            if g.after_write() {
                out.push(skipped);
                skipped = 0;
                g.after_read(ReadOutcome::WouldBlock);
            } else {
                skipped += 1;
            }
        }
        out
    }

    #[test]
    fn a_peer_that_answers_at_once_is_guessed_after_every_write() {
        let g = ReadGuess::default();
        for _ in 0..1000 {
            assert!(g.after_write());
            g.after_read(ReadOutcome::Answered);
        }
    }

    #[test]
    fn misses_in_a_row_back_off_to_one_guess_in_64_writes() {
        let g = ReadGuess::default();
        assert_eq!(skips_while_missing(&g, 12), [0, 0, 0, 0, 1, 3, 7, 15, 31, 63, 63, 63]);
    }

    #[test]
    fn a_hit_ends_the_back_off() {
        let g = ReadGuess::default();
        skips_while_missing(&g, 8);
        while !g.after_write() {}
        g.after_read(ReadOutcome::Answered);
        assert!(g.after_write(), "a hit resets the score");
        for _ in 0..FREE_MISSES {
            g.after_read(ReadOutcome::WouldBlock);
            assert!(g.after_write(), "the first misses after a hit skip nothing");
        }
        g.after_read(ReadOutcome::WouldBlock);
        assert!(!g.after_write(), "one more skips a write");
        assert!(g.after_write());
    }

    #[test]
    fn only_the_read_after_a_guess_settles_it() {
        let g = ReadGuess::default();
        // Reads with no guess outstanding (readiness from real events) leave the score alone.
        for _ in 0..5 {
            g.after_read(ReadOutcome::WouldBlock);
        }
        assert!(g.after_write());
        g.after_read(ReadOutcome::Answered);
        // The guess is settled: a later `WouldBlock` (the read that drains) is not a miss.
        g.after_read(ReadOutcome::WouldBlock);
        for _ in 0..FREE_MISSES {
            assert!(g.after_write());
            g.after_read(ReadOutcome::WouldBlock);
            g.after_read(ReadOutcome::WouldBlock);
        }
        assert!(g.after_write(), "each second WouldBlock is not counted: no skip yet");
    }

    #[test]
    fn the_outcome_of_a_result() {
        let would_block: std::io::Result<usize> = Err(std::io::ErrorKind::WouldBlock.into());
        let reset: std::io::Result<usize> = Err(std::io::ErrorKind::ConnectionReset.into());
        assert_eq!(ReadOutcome::of(&would_block), ReadOutcome::WouldBlock);
        assert_eq!(ReadOutcome::of(&reset), ReadOutcome::Answered);
        assert_eq!(ReadOutcome::of(&Ok(0usize)), ReadOutcome::Answered);
        assert_eq!(ReadOutcome::of(&Ok(5usize)), ReadOutcome::Answered);
    }
}
