//! The key-value example's wire protocol: length-prefixed frames over TCP, one message each.
//!
//! Ground rules:
//! 1. A frame is `[body length: u32 LE][tag: u8][fields]`; integers little-endian, strings and
//!    byte strings length-prefixed (u32). A frame over [`MAX_FRAME`] or a body that does not
//!    decode is `InvalidData`: the connection is dropped, and the peer reconnects.
//! 2. Clients talk to the leader (`Put`, `Get` -> `PutOk`, `GetOk`); the leader talks to each
//!    follower (`Reset`, `Append` -> `Ack`).

use std::io;

use kqio::net::TcpStream;

use super::wal::Entry;

/// The largest frame accepted (a `Reset` carries a whole log).
pub const MAX_FRAME: usize = 64 << 20;

/// One message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// Client to leader: write `entry`; answered by `PutOk` once acknowledged.
    Put {
        /// The request's id, echoed in the answer.
        id: u64,
        /// The write.
        entry: Entry,
    },
    /// Client to leader: read `key`.
    Get {
        /// The request's id, echoed in the answer.
        id: u64,
        /// The key.
        key: String,
    },
    /// Leader to client: the `Put` with this id is acknowledged (see the guarantee in
    /// `service.rs`).
    PutOk {
        /// The request's id.
        id: u64,
    },
    /// Leader to client: the newest version and value of the key, if any.
    GetOk {
        /// The request's id.
        id: u64,
        /// `(version, value)`.
        found: Option<(u64, Vec<u8>)>,
    },
    /// Leader to follower, first on each connection: your log is exactly these entries.
    Reset {
        /// The leader's whole log.
        entries: Vec<Entry>,
    },
    /// Leader to follower: these entries follow the first `first` ones.
    Append {
        /// How many entries precede them.
        first: u64,
        /// The entries.
        entries: Vec<Entry>,
    },
    /// Follower to leader: the first `count` entries of the leader's log are durable here.
    Ack {
        /// How many.
        count: u64,
    },
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("kv protocol: {what}"))
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl Reader<'_> {
    fn u8(&mut self) -> io::Result<u8> {
        let (&b, rest) = self.buf.split_first().ok_or_else(|| bad("short frame"))?;
        self.buf = rest;
        Ok(b)
    }

    fn u64(&mut self) -> io::Result<u64> {
        let b = self.buf.get(..8).ok_or_else(|| bad("short frame"))?;
        let v = u64::from_le_bytes(b.try_into().unwrap());
        self.buf = &self.buf[8..];
        Ok(v)
    }

    fn bytes(&mut self) -> io::Result<Vec<u8>> {
        let b = self.buf.get(..4).ok_or_else(|| bad("short frame"))?;
        let n = u32::from_le_bytes(b.try_into().unwrap()) as usize;
        let v = self.buf.get(4..4 + n).ok_or_else(|| bad("short frame"))?.to_vec();
        self.buf = &self.buf[4 + n..];
        Ok(v)
    }

    fn string(&mut self) -> io::Result<String> {
        String::from_utf8(self.bytes()?).map_err(|_| bad("key not UTF-8"))
    }

    fn entry(&mut self) -> io::Result<Entry> {
        let (e, used) = Entry::decode(self.buf).ok_or_else(|| bad("bad entry"))?;
        self.buf = &self.buf[used..];
        Ok(e)
    }

    fn entries(&mut self) -> io::Result<Vec<Entry>> {
        let n = self.u64()?;
        let mut v = Vec::new();
        for _ in 0..n {
            v.push(self.entry()?);
        }
        Ok(v)
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

fn put_entries(out: &mut Vec<u8>, entries: &[Entry]) {
    out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for e in entries {
        e.encode(out);
    }
}

fn entries_len(entries: &[Entry]) -> usize {
    8 + entries.iter().map(Entry::encoded_len).sum::<usize>()
}

impl Msg {
    /// The length of the frame [`encode`](Self::encode) makes (its 4-byte length included).
    pub fn encoded_len(&self) -> usize {
        4 + 1
            + match self {
                Msg::Put { entry, .. } => 8 + entry.encoded_len(),
                Msg::Get { key, .. } => 8 + 4 + key.len(),
                Msg::PutOk { .. } => 8,
                Msg::GetOk { found: None, .. } => 8 + 1,
                Msg::GetOk { found: Some((_, value)), .. } => 8 + 1 + 8 + 4 + value.len(),
                Msg::Reset { entries } => entries_len(entries),
                Msg::Append { entries, .. } => 8 + entries_len(entries),
                Msg::Ack { .. } => 8,
            }
    }

    /// The message as one frame.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(&[0u8; 4]);
        match self {
            Msg::Put { id, entry } => {
                out.push(1);
                out.extend_from_slice(&id.to_le_bytes());
                entry.encode(&mut out);
            }
            Msg::Get { id, key } => {
                out.push(2);
                out.extend_from_slice(&id.to_le_bytes());
                put_bytes(&mut out, key.as_bytes());
            }
            Msg::PutOk { id } => {
                out.push(3);
                out.extend_from_slice(&id.to_le_bytes());
            }
            Msg::GetOk { id, found } => {
                out.push(4);
                out.extend_from_slice(&id.to_le_bytes());
                match found {
                    None => out.push(0),
                    Some((version, value)) => {
                        out.push(1);
                        out.extend_from_slice(&version.to_le_bytes());
                        put_bytes(&mut out, value);
                    }
                }
            }
            Msg::Reset { entries } => {
                out.push(5);
                put_entries(&mut out, entries);
            }
            Msg::Append { first, entries } => {
                out.push(6);
                out.extend_from_slice(&first.to_le_bytes());
                put_entries(&mut out, entries);
            }
            Msg::Ack { count } => {
                out.push(7);
                out.extend_from_slice(&count.to_le_bytes());
            }
        }
        debug_assert_eq!(out.len(), self.encoded_len());
        let len = (out.len() - 4) as u32;
        out[..4].copy_from_slice(&len.to_le_bytes());
        out
    }

    /// Decodes a frame's body.
    pub fn decode(body: &[u8]) -> io::Result<Msg> {
        let mut r = Reader { buf: body };
        let msg = match r.u8()? {
            1 => Msg::Put { id: r.u64()?, entry: r.entry()? },
            2 => Msg::Get { id: r.u64()?, key: r.string()? },
            3 => Msg::PutOk { id: r.u64()? },
            4 => {
                let id = r.u64()?;
                let found = match r.u8()? {
                    0 => None,
                    _ => Some((r.u64()?, r.bytes()?)),
                };
                Msg::GetOk { id, found }
            }
            5 => Msg::Reset { entries: r.entries()? },
            6 => Msg::Append { first: r.u64()?, entries: r.entries()? },
            7 => Msg::Ack { count: r.u64()? },
            t => return Err(bad(&format!("unknown tag {t}"))),
        };
        if !r.buf.is_empty() {
            return Err(bad("trailing bytes"));
        }
        Ok(msg)
    }
}

/// Writes `msg` as one frame.
pub async fn send(stream: &TcpStream, msg: &Msg) -> io::Result<()> {
    stream.write_all(&msg.encode()).await
}

/// Reads one frame: `Ok(None)` at a clean end of stream.
pub async fn recv(stream: &TcpStream) -> io::Result<Option<Msg>> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = stream.read(&mut len[got..]).await?;
        if n == 0 {
            return if got == 0 { Ok(None) } else { Err(bad("end of stream inside a frame")) };
        }
        got += n;
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(bad("frame too large"));
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await?;
    Msg::decode(&body).map(Some)
}
