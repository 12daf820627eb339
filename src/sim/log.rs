//! The event log: which task ran when, what fired, what the models did. Always hashed (the replay
//! check compares hashes), rendered to lines only with `SimOptions::keep_log`.
//!
//! Ground rules:
//! 1. A line is a sequence of tokens, hashed as they come: text and numbers (`num`, hashed as
//!    one word, never formatted unless lines are kept). Hot call sites (the scheduler's "run"
//!    and "fire", the disk's reads, writes and syncs) write tokens; rare ones may write
//!    `fmt::Arguments` (`args`), which are formatted into text.
//! 2. Each line's tokens come from one call site in a fixed order, so the hash is fixed by the
//!    schedule alone: the same on every machine and build, with `keep_log` or without.

use std::fmt::{self, Write as _};

/// The event log's hash, over each line as a sequence of tokens: text (the bytes as kept lines
/// read them, hashed eight at a time with FNV-1a's step, then their count) and numbers (hashed
/// as one word, without formatting them: `num`). Each line's tokens come from one call site in
/// a fixed order, so the hash is stable (the same on every machine and build, however the
/// formatter splits its output, and with `keep_log` or without), which the standard library's
/// hashers do not promise. Lines are rendered only with `keep_log`.
pub(crate) struct EventLog {
    hash: u64,
    lines: Option<Vec<String>>,
    /// Text not yet hashed.
    pending: String,
    /// The line so far, when lines are kept.
    line: String,
}

const LOG_PRIME: u64 = 0x0000_0100_0000_01B3;

impl fmt::Write for EventLog {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.text(s);
        Ok(())
    }
}

impl EventLog {
    pub(crate) fn new(lines: Option<Vec<String>>) -> EventLog {
        EventLog { hash: 0xCBF2_9CE4_8422_2325, lines, pending: String::new(), line: String::new() }
    }

    fn mix(&mut self, w: u64) {
        self.hash = (self.hash ^ w).wrapping_mul(LOG_PRIME).rotate_left(29);
    }

    pub(crate) fn text(&mut self, s: &str) {
        self.pending.push_str(s);
        if self.lines.is_some() {
            self.line.push_str(s);
        }
    }

    /// Hashes the pending text (nothing when there is none).
    fn flush_text(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        let bytes = pending.as_bytes();
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            self.mix(u64::from_le_bytes(w.try_into().expect("eight bytes")));
        }
        let mut last = [0u8; 8];
        last[..words.remainder().len()].copy_from_slice(words.remainder());
        self.mix(u64::from_le_bytes(last));
        self.mix(bytes.len() as u64);
        self.pending = pending;
        self.pending.clear();
    }

    /// Appends `n`, rendered in decimal (as `Display` does) only when lines are kept.
    pub(crate) fn num(&mut self, n: u64) {
        self.flush_text();
        // A tag no text token's length can take, then the number.
        self.mix(u64::MAX);
        self.mix(n);
        if self.lines.is_some() {
            let mut digits = [0u8; 20];
            let (mut i, mut n) = (digits.len(), n);
            loop {
                i -= 1;
                digits[i] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            self.line.push_str(std::str::from_utf8(&digits[i..]).expect("ASCII digits"));
        }
    }

    pub(crate) fn end_line(&mut self) {
        self.flush_text();
        self.mix(u64::MAX - 1);
        if let Some(lines) = &mut self.lines {
            lines.push(self.line.trim_end().to_owned());
            self.line.clear();
        }
    }
}

impl EventLog {
    /// Appends `args`, formatted (a plain string literal is not formatted).
    pub(crate) fn args(&mut self, args: fmt::Arguments<'_>) {
        match args.as_str() {
            Some(s) => self.text(s),
            None => {
                let _ = self.write_fmt(args);
            }
        }
    }

    /// Appends `"true"` or `"false"`.
    pub(crate) fn bool(&mut self, b: bool) {
        self.text(if b { "true" } else { "false" });
    }

    /// The hash of the lines ended so far.
    pub(crate) fn hash(&self) -> u64 {
        self.hash
    }

    /// The lines ended so far (none unless they are kept).
    pub(crate) fn lines(&self) -> Vec<String> {
        self.lines.clone().unwrap_or_default()
    }

    /// Ends the line and gives it back, for a log that keeps its lines (a model's test double).
    pub(crate) fn take_line(&mut self) -> String {
        self.end_line();
        self.lines.as_mut().and_then(Vec::pop).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write;

    use super::EventLog;

    fn feed(log: &mut EventLog, now: u64, id: u64) {
        log.num(now);
        log.text(" run ");
        log.num(id);
        log.end_line();
        log.num(now);
        log.text(" ");
        let _ = write!(log, "disk h{id} sync: ok");
        log.end_line();
    }

    #[test]
    fn text_hashes_the_same_however_it_is_split() {
        let text = "disk h12 write Some(4096) len=17 desc=3: ok";
        let mut whole = EventLog::new(None);
        whole.text(text);
        whole.end_line();
        for cut in [(1, 2), (3, 11), (8, 16), (7, 30), (0, 43)] {
            let mut split = EventLog::new(None);
            split.text(&text[..cut.0]);
            split.text(&text[cut.0..cut.1]);
            split.text(&text[cut.1..]);
            split.end_line();
            assert_eq!(split.hash(), whole.hash(), "cut at {cut:?}");
        }
        let mut other = EventLog::new(None);
        other.text("disk h12 write Some(4096) len=17 desc=4: ok");
        other.end_line();
        assert_ne!(other.hash(), whole.hash());
    }

    #[test]
    fn the_log_hash_is_the_same_with_lines_kept_or_not_and_lines_read_as_formatted() {
        let (mut kept, mut bare) = (EventLog::new(Some(Vec::new())), EventLog::new(None));
        feed(&mut kept, 1_234_567_890, 0);
        feed(&mut bare, 1_234_567_890, 0);
        assert_eq!(kept.hash, bare.hash);
        assert_eq!(
            kept.lines.as_deref(),
            Some(&["1234567890 run 0".to_owned(), "1234567890 disk h0 sync: ok".to_owned()][..])
        );
        let mut other = EventLog::new(None);
        feed(&mut other, 1_234_567_890, 1);
        assert_ne!(other.hash, bare.hash, "another number, another hash");
    }
}
