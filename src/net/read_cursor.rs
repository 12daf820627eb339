//! [`ReadCursor`]: a read target that may start uninitialized, so that a reader handing out
//! uninitialized memory (hyper's `ReadBufCursor`, tokio's `ReadBuf`) need not be zeroed first.
//!
//! Ground rules (those of std's unstable `BorrowedBuf`):
//! 1. The buffer is `filled <= init <= capacity`: the first `filled` bytes hold what was read,
//!    the first `init` bytes are initialized.
//! 2. Safe code can only add initialized bytes: `append` copies them in,
//!    `initialize_unfilled` zeroes what is not yet initialized and hands out `&mut [u8]`, after
//!    which `set_filled_from_initialized` may count bytes of it as read. Counting bytes
//!    that a syscall wrote into the uninitialized part takes `advance`,
//!    an `unsafe fn` whose caller vouches for them, and so is handing out the unfilled part as
//!    `MaybeUninit` (whose holder must not store uninitialized values there).
//! 3. So whatever a backend does through the safe methods, the first `filled` bytes are
//!    initialized, which is what the caller that made the cursor relies on.

use std::fmt;
use std::mem::MaybeUninit;

/// A buffer to read into, whose unfilled part may be uninitialized (see the module docs).
///
/// Made by code that has uninitialized memory to read into; given to
/// [`Io::net_poll_read_uninit`](crate::Io::net_poll_read_uninit). After the read,
/// [`filled`](Self::filled) bytes at the start hold the data, and they are initialized.
///
/// ```
/// use std::mem::MaybeUninit;
/// use kqio::net::ReadCursor;
///
/// let mut storage = [MaybeUninit::<u8>::uninit(); 8];
/// let mut cursor = ReadCursor::new(&mut storage);
/// cursor.append(b"hi");
/// assert_eq!(cursor.filled(), b"hi");
/// assert_eq!(cursor.remaining(), 6);
/// ```
pub struct ReadCursor<'a> {
    buf: &'a mut [MaybeUninit<u8>],
    filled: usize,
    init: usize,
}

impl fmt::Debug for ReadCursor<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadCursor")
            .field("capacity", &self.buf.len())
            .field("filled", &self.filled)
            .field("init", &self.init)
            .finish()
    }
}

impl<'a> ReadCursor<'a> {
    /// A cursor over `buf`, nothing filled, nothing known to be initialized.
    pub fn new(buf: &'a mut [MaybeUninit<u8>]) -> Self {
        ReadCursor { buf, filled: 0, init: 0 }
    }

    /// The total size of the buffer.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// How many more bytes fit.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.filled
    }

    /// The bytes read so far.
    pub fn filled(&self) -> &[u8] {
        // SAFETY: ground rule 1: the first `filled` bytes are initialized.
        unsafe { &*(&self.buf[..self.filled] as *const [MaybeUninit<u8>] as *const [u8]) }
    }

    /// How many bytes were read so far.
    pub fn filled_len(&self) -> usize {
        self.filled
    }

    /// Copies `data` in after the filled part.
    ///
    /// # Panics
    ///
    /// If `data` is longer than [`remaining`](Self::remaining).
    pub fn append(&mut self, data: &[u8]) {
        assert!(data.len() <= self.remaining(), "ReadCursor::append past the end");
        let end = self.filled + data.len();
        for (dst, &b) in self.buf[self.filled..end].iter_mut().zip(data) {
            dst.write(b);
        }
        self.filled = end;
        self.init = self.init.max(end);
    }

    /// The unfilled part, initialized (zeroing what was not), for a reader that needs `&mut [u8]`.
    /// Follow with [`set_filled_from_initialized`](Self::set_filled_from_initialized).
    pub fn initialize_unfilled(&mut self) -> &mut [u8] {
        for b in &mut self.buf[self.init..] {
            b.write(0);
        }
        self.init = self.buf.len();
        let unfilled = &mut self.buf[self.filled..];
        // SAFETY: everything from `filled` to the end was initialized just above (or before).
        unsafe { &mut *(unfilled as *mut [MaybeUninit<u8>] as *mut [u8]) }
    }

    /// Counts `n` more bytes as filled, all of them already initialized.
    ///
    /// # Panics
    ///
    /// If fewer than `n` bytes past the filled part are initialized.
    pub fn set_filled_from_initialized(&mut self, n: usize) {
        assert!(n <= self.init - self.filled, "ReadCursor: {n} bytes are not initialized");
        self.filled += n;
    }

    /// The unfilled part, for a syscall to write into; counting what was written takes
    /// [`advance`](Self::advance).
    ///
    /// # Safety
    ///
    /// Nothing may be stored there but initialized bytes (no `MaybeUninit::uninit()`): the
    /// cursor, and the caller that lent it memory (hyper's `ReadBufCursor::as_mut` asks the
    /// same), may count on bytes once initialized staying so.
    pub unsafe fn unfilled_mut(&mut self) -> &mut [MaybeUninit<u8>] {
        &mut self.buf[self.filled..]
    }

    /// Counts `n` more bytes as filled.
    ///
    /// # Safety
    ///
    /// The first `n` bytes of [`unfilled_mut`](Self::unfilled_mut) must have been initialized
    /// (written by a read that returned at least `n`).
    ///
    /// # Panics
    ///
    /// If `n` is more than [`remaining`](Self::remaining).
    pub unsafe fn advance(&mut self, n: usize) {
        assert!(n <= self.remaining(), "ReadCursor::advance past the end");
        self.filled += n;
        self.init = self.init.max(self.filled);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initialize_then_count() {
        let mut storage = [MaybeUninit::<u8>::uninit(); 6];
        let mut c = ReadCursor::new(&mut storage);
        c.append(b"ab");
        let dst = c.initialize_unfilled();
        assert_eq!(dst.len(), 4);
        dst[..2].copy_from_slice(b"cd");
        c.set_filled_from_initialized(2);
        assert_eq!(c.filled(), b"abcd");
        assert_eq!(c.remaining(), 2);
        // A second initialization keeps what was filled and zeroes nothing twice.
        assert_eq!(c.initialize_unfilled().len(), 2);
        assert_eq!(c.filled(), b"abcd");
    }

    #[test]
    #[should_panic(expected = "not initialized")]
    fn uninitialized_bytes_cannot_be_counted_safely() {
        let mut storage = [MaybeUninit::<u8>::uninit(); 4];
        let mut c = ReadCursor::new(&mut storage);
        c.set_filled_from_initialized(1);
    }

    #[test]
    #[should_panic(expected = "past the end")]
    fn append_past_the_end_panics() {
        let mut storage = [MaybeUninit::<u8>::uninit(); 1];
        ReadCursor::new(&mut storage).append(b"ab");
    }

    #[test]
    fn advance_after_a_write() {
        let mut storage = [MaybeUninit::<u8>::uninit(); 4];
        let mut c = ReadCursor::new(&mut storage);
        // SAFETY: only initialized bytes are written.
        for (i, b) in unsafe { c.unfilled_mut() }[..3].iter_mut().enumerate() {
            b.write(b'x' + i as u8);
        }
        // SAFETY: three bytes were written just above.
        unsafe { c.advance(3) };
        assert_eq!(c.filled(), b"xyz");
        assert_eq!(c.filled_len(), 3);
    }
}
