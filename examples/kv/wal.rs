//! The write-ahead log of the key-value example: entries as checksummed records in one file.
//!
//! Ground rules:
//! 1. A record is `[payload length: u32 LE][FNV-1a 64 of the payload: u64 LE][payload]`. Recovery
//!    keeps the longest prefix of whole records whose checksums match: a crash may tear the last
//!    write (the simulator does), and a torn record, or anything after it, is not part of the log.
//! 2. The file is truncated to that prefix (and synced) before anything is appended, so new
//!    records never sit behind garbage a later recovery would stop at.
//! 3. Only `kqio::fs` through an `IoRef`: the same code runs on `Kqueue` and on `kqio::sim`.

use std::io;

use kqio::fs::{CreateFlags, Dir, File, OpenFlags};

/// One write: `key` set to `value` at `version` (the client's per-key counter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// The version the client gave this write; later writes of a key have higher versions.
    pub version: u64,
    /// The value.
    pub value: Vec<u8>,
}

/// The log file's name in a replica's data directory.
pub const LOG: &str = "wal";

const HEADER: usize = 12;

/// FNV-1a, 64 bits: enough to tell a torn record from a whole one.
pub fn checksum(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Entry {
    /// Appends the entry's encoding (without the record header) to `out`.
    /// The length of [`encode`](Self::encode)'s output.
    pub fn encoded_len(&self) -> usize {
        4 + self.key.len() + 8 + 4 + self.value.len()
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.key.len() as u32).to_le_bytes());
        out.extend_from_slice(self.key.as_bytes());
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&(self.value.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.value);
    }

    /// Decodes one entry from the front of `buf`; the entry and the bytes it took.
    pub fn decode(buf: &[u8]) -> Option<(Entry, usize)> {
        let klen = u32::from_le_bytes(buf.get(..4)?.try_into().ok()?) as usize;
        let key = String::from_utf8(buf.get(4..4 + klen)?.to_vec()).ok()?;
        let mut at = 4 + klen;
        let version = u64::from_le_bytes(buf.get(at..at + 8)?.try_into().ok()?);
        at += 8;
        let vlen = u32::from_le_bytes(buf.get(at..at + 4)?.try_into().ok()?) as usize;
        at += 4;
        let value = buf.get(at..at + vlen)?.to_vec();
        Some((Entry { key, version, value }, at + vlen))
    }
}

/// The length of `entries` as log records.
pub fn records_len(entries: &[Entry]) -> usize {
    entries.iter().map(|e| HEADER + e.encoded_len()).sum()
}

/// Appends `entry` as one log record to `out`.
pub fn encode_record(entry: &Entry, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER]);
    entry.encode(out);
    let payload_len = out.len() - start - HEADER;
    let sum = checksum(&out[start + HEADER..]);
    out[start..start + 4].copy_from_slice(&(payload_len as u32).to_le_bytes());
    out[start + 4..start + HEADER].copy_from_slice(&sum.to_le_bytes());
}

/// The whole records at the front of `bytes`, and where the valid prefix ends.
pub fn decode_records(bytes: &[u8]) -> (Vec<Entry>, u64) {
    let mut entries = Vec::new();
    let mut at = 0;
    while let Some(head) = bytes.get(at..at + HEADER) {
        let len = u32::from_le_bytes(head[..4].try_into().unwrap()) as usize;
        let sum = u64::from_le_bytes(head[4..].try_into().unwrap());
        let Some(payload) = bytes.get(at + HEADER..at + HEADER + len) else { break };
        if checksum(payload) != sum {
            break;
        }
        match Entry::decode(payload) {
            Some((e, used)) if used == len => entries.push(e),
            _ => break,
        }
        at += HEADER + len;
    }
    (entries, at as u64)
}

/// Makes `dir`'s entries durable (a new or renamed file's name survives a crash only once its
/// directory is synced).
pub async fn sync_dir(dir: &Dir) -> io::Result<()> {
    let d = dir.open_file(".", OpenFlags::default()).await?;
    d.sync().await?;
    Ok(())
}

/// An open log: the file, its entries as recovered, and where the next record goes.
pub struct Log {
    /// The log file, open for reading and writing.
    pub file: File,
    /// The offset after the last whole record.
    pub end: u64,
}

/// Reads the durable log in `dir` without changing anything (for inspection): its entries.
pub async fn read(dir: &Dir) -> io::Result<Vec<Entry>> {
    match dir.read_file(LOG).await {
        Ok(bytes) => Ok(decode_records(&bytes).0),
        Err(e) if e.kind() == kqio::fs::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// Opens (creating it if needed) the log in `dir`, recovers its entries, cuts a torn tail off,
/// and makes the file and its name durable.
pub async fn open(dir: &Dir) -> io::Result<(Log, Vec<Entry>)> {
    let flags = CreateFlags { read: true, truncate: false, ..Default::default() };
    let file = dir.create_file(LOG, flags).await?;
    let mut bytes = Vec::new();
    read_whole(&file, &mut bytes).await?;
    let (entries, end) = decode_records(&bytes);
    if end != bytes.len() as u64 {
        file.set_length(end).await?;
    }
    file.sync().await?;
    sync_dir(dir).await?;
    Ok((Log { file, end }, entries))
}

/// Replaces the log in `dir` by one holding exactly `entries`, atomically: a crash leaves the
/// old log or the new one (written to a temporary file, synced, renamed, directory synced).
pub async fn replace(dir: &Dir, entries: &[Entry]) -> io::Result<Log> {
    let tmp = "wal.tmp";
    let flags = CreateFlags { read: true, truncate: true, ..Default::default() };
    let file = dir.create_file(tmp, flags).await?;
    let mut buf = Vec::with_capacity(records_len(entries));
    for e in entries {
        encode_record(e, &mut buf);
    }
    file.write_all_at(&buf, 0).await?;
    file.sync().await?;
    dir.rename(tmp, dir, LOG).await?;
    sync_dir(dir).await?;
    Ok(Log { file, end: buf.len() as u64 })
}

impl Log {
    /// Appends `entries` (not yet durable: call [`sync`](Self::sync)).
    pub async fn append(&mut self, entries: &[Entry]) -> io::Result<()> {
        let mut buf = Vec::with_capacity(records_len(entries));
        for e in entries {
            encode_record(e, &mut buf);
        }
        self.file.write_all_at(&buf, self.end).await?;
        self.end += buf.len() as u64;
        Ok(())
    }

    /// Makes what was appended durable (`fdatasync`: the data and the length, what a log
    /// needs; the file's name was made durable when it was opened or installed).
    pub async fn sync(&self) -> io::Result<()> {
        self.file.sync_data().await?;
        Ok(())
    }
}

/// Reads the whole file from offset 0 into `out`.
async fn read_whole(file: &File, out: &mut Vec<u8>) -> io::Result<()> {
    let mut chunk = vec![0u8; 64 * 1024];
    let mut at = 0u64;
    loop {
        let n = file.read_at(&mut chunk, at).await?;
        if n == 0 {
            return Ok(());
        }
        out.extend_from_slice(&chunk[..n]);
        at += n as u64;
    }
}
