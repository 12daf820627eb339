//! `kqio::fs::File`: Zig's file tests (write/read/delete, seek, set length, truncate and extend,
//! timestamps, memory maps), then every other operation: positional, streaming and vectored
//! transfers, transfers larger than a chunk, append mode, the `futures::io` traits (including
//! a read-ahead left unread before a seek and a write), `flock` between two handles, copies in
//! the kernel and through the fallback loop, permissions, owner, real path, terminals, sync and
//! close.

mod fs_util;

use std::io::{IoSlice, IoSliceMut, SeekFrom};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;

use fs_util::{checksum, pattern, rt, rt_with_pool, Gate, Scratch};
use futures::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use kqio::fs::{
    AccessMode, CreateFlags, ErrorKind, File, FileKind, Lock, MapOptions, OpenFlags, Permissions,
    SetTimestamp, CHUNK_SIZE, COPY_CHUNK,
};
use kqio::time::{Clock, Duration, Timestamp};

const RW: CreateFlags = CreateFlags {
    read: true,
    truncate: true,
    exclusive: false,
    permissions: Permissions::DEFAULT_FILE,
};

/// Zig: "write a file, read it, then delete it": "begin" + 1024 random bytes + "end", an
/// exclusive create of the same name fails, the length is 1030, the contents match, delete.
#[test]
fn zig_write_read_then_delete() {
    let rt = rt();
    let io = rt.io();
    let tmp = Scratch::new("file-zig-write");
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        let mut data = Vec::with_capacity(1032);
        data.extend_from_slice(b"begin");
        let mut random = [0u8; 1024];
        io.random(&mut random);
        data.extend_from_slice(&random);
        data.extend_from_slice(b"end");

        let f = dir.create_file("file.txt", CreateFlags::default()).await.unwrap();
        f.write_all(&data).await.unwrap();
        let e = dir
            .create_file("file.txt", CreateFlags { exclusive: true, ..CreateFlags::default() })
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        // "begin" + 1024 + "end": 1032 bytes (Zig computes the same sum).
        assert_eq!(f.length().await.unwrap(), 1032);
        f.close().await.unwrap();

        let f = dir.open_file("file.txt", OpenFlags::default()).await.unwrap();
        let mut back = Vec::new();
        assert_eq!(f.read_to_end(&mut back).await.unwrap(), 1032);
        assert_eq!(back, data);
        drop(f);

        dir.delete_file("file.txt").await.unwrap();
        let e = dir.stat_file("file.txt").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
    });
    assert_eq!(std::fs::read_dir(&tmp.path).unwrap().count(), 0);
}

/// Zig: "File seek ops": 8192 bytes, seek to the end, by -4096, by +10, to 1234.
#[test]
fn zig_seek_positions() {
    let rt = rt();
    let io = rt.io();
    let tmp = Scratch::new("file-zig-seek");
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        let f = dir.create_file("seek", CreateFlags::default()).await.unwrap();
        f.write_all(&[0x55; 8192]).await.unwrap();
        assert_eq!(f.seek(SeekFrom::End(0)).await.unwrap(), 8192);
        assert_eq!(f.position().await.unwrap(), f.length().await.unwrap());
        assert_eq!(f.seek_by(-4096).await.unwrap(), 4096);
        assert_eq!(f.position().await.unwrap(), 4096);
        assert_eq!(f.seek_by(10).await.unwrap(), 4106);
        assert_eq!(f.position().await.unwrap(), 4106);
        assert_eq!(f.seek_to(1234).await.unwrap(), 1234);
        assert_eq!(f.position().await.unwrap(), 1234);
        // Before the start: an error, and the position is unchanged.
        let e = f.seek_by(-2000).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(f.position().await.unwrap(), 1234);
    });
}

/// Zig: "setEndPos": 0 -> 8192 -> 4096 -> 0; the position does not move.
#[test]
fn zig_set_length() {
    let rt = rt();
    let io = rt.io();
    let tmp = Scratch::new("file-zig-setlen");
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        let f = dir.create_file("len", RW).await.unwrap();
        assert_eq!(f.length().await.unwrap(), 0);
        f.set_length(8192).await.unwrap();
        assert_eq!(f.length().await.unwrap(), 8192);
        assert_eq!(f.position().await.unwrap(), 0);
        f.seek_to(100).await.unwrap();
        f.set_length(4096).await.unwrap();
        assert_eq!(f.length().await.unwrap(), 4096);
        assert_eq!(f.position().await.unwrap(), 100);
        f.set_length(0).await.unwrap();
        assert_eq!(f.length().await.unwrap(), 0);
        assert_eq!(f.position().await.unwrap(), 100);
    });
}

/// Zig: "truncate": "ninebytes" extended to 13 bytes reads back with 4 zero bytes; truncated
/// to 4, "nine".
#[test]
fn zig_truncate_and_extend() {
    let rt = rt();
    let io = rt.io();
    let tmp = Scratch::new("file-zig-trunc");
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        let f = dir.create_file("t", RW).await.unwrap();
        f.write_all(b"ninebytes").await.unwrap();
        f.set_length(13).await.unwrap();
        let mut buf = [0xffu8; 20];
        assert_eq!(f.read_all_at(&mut buf, 0).await.unwrap(), 13);
        assert_eq!(&buf[..13], b"ninebytes\0\0\0\0");
        f.set_length(4).await.unwrap();
        assert_eq!(f.read_all_at(&mut buf, 0).await.unwrap(), 4);
        assert_eq!(&buf[..4], b"nine");
        assert_eq!(dir.read_file("t").await.unwrap(), b"nine");
    });
}

/// Zig: "setTimestamps": both times set 5 s earlier read back earlier, to the nanosecond;
/// `Unchanged` leaves one alone and `Now` sets it to about now.
#[test]
fn zig_timestamps_five_seconds_earlier() {
    let rt = rt();
    let io = rt.io();
    let tmp = Scratch::new("file-zig-times");
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        let f = dir.create_file("times", CreateFlags::default()).await.unwrap();
        let old = f.stat().await.unwrap();
        let five = Duration::from_secs(5);
        let (atime, mtime) = (old.atime - five, old.mtime - five);
        f.set_timestamps(SetTimestamp::To(atime), SetTimestamp::To(mtime)).await.unwrap();
        let new = f.stat().await.unwrap();
        assert!(new.atime < old.atime && new.mtime < old.mtime);
        assert_eq!((new.atime, new.mtime), (atime, mtime));

        // Only the modification time, to an exact value with a fraction of a second.
        let exact = Timestamp::from_nanos(1_000_000_000 * 1_600_000_000 + 123_456_789);
        f.set_timestamps(SetTimestamp::Unchanged, SetTimestamp::To(exact)).await.unwrap();
        let st = f.stat().await.unwrap();
        assert_eq!((st.atime, st.mtime), (atime, exact));

        // Before the epoch: the nanoseconds stay positive in the kernel's `timespec`.
        let before_epoch = Timestamp::from_nanos(-1_500_000_000);
        f.set_timestamps(SetTimestamp::To(before_epoch), SetTimestamp::Unchanged).await.unwrap();
        assert_eq!(f.stat().await.unwrap().atime, before_epoch);

        let now = io.now(Clock::Real);
        f.set_timestamps(SetTimestamp::Now, SetTimestamp::Now).await.unwrap();
        let st = f.stat().await.unwrap();
        for t in [st.atime, st.mtime] {
            let off = t - now;
            assert!(off.abs() < Duration::from_secs(5), "`Now` set {t:?}, now is {now:?}");
        }
    });
}

/// Zig: "memory map": writes through a writable map reach the file; a read-only map sees the
/// file; `set_length` grows the file and the map; bad arguments are refused.
#[test]
fn zig_memory_map_write_through() {
    let rt = rt();
    let io = rt.io();
    let tmp = Scratch::new("file-zig-mmap");
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        let f = dir.create_file("map", RW).await.unwrap();
        f.set_length(4096).await.unwrap();
        let opts = MapOptions { offset: 0, len: 4096, writable: true };
        // SAFETY: nothing else touches the file while the map lives.
        let mut map = unsafe { f.memory_map(opts) }.await.unwrap();
        assert_eq!(map.len(), 4096);
        assert!(map.as_slice().iter().all(|&b| b == 0));
        map.as_mut_slice()[..5].copy_from_slice(b"hello");
        map.as_mut_slice()[4090..].copy_from_slice(b"world!");
        map.flush().await.unwrap();
        let mut head = [0u8; 5];
        f.read_at(&mut head, 0).await.unwrap();
        assert_eq!(&head, b"hello");
        let all = dir.read_file("map").await.unwrap();
        assert_eq!(&all[4090..], b"world!");

        // Grow the file through the map: the old bytes stay, the new ones are zero.
        map.set_length(8192).await.unwrap();
        assert_eq!(map.len(), 8192);
        assert_eq!(f.length().await.unwrap(), 8192);
        assert_eq!(&map.as_slice()[..5], b"hello");
        assert!(map.as_slice()[4096..].iter().all(|&b| b == 0));
        map.as_mut_slice()[8191] = b'!';
        map.flush_range(4096, 4096).await.unwrap();
        drop(map);
        assert_eq!(dir.read_file("map").await.unwrap()[8191], b'!');

        // A read-only map at an offset of one page sees what the file holds there.
        f.write_all_at(b"second page", 4096).await.unwrap();
        let ro = MapOptions { offset: 4096, len: 11, writable: false };
        // SAFETY: as above (the write happened before the map was made).
        let map = unsafe { f.memory_map(ro) }.await.unwrap();
        assert_eq!(map.as_slice(), b"second page");
        drop(map);

        // Refused: 0 bytes, an offset that is not a multiple of the page size.
        for bad in [
            MapOptions { offset: 0, len: 0, writable: false },
            MapOptions { offset: 1, len: 10, writable: false },
        ] {
            // SAFETY: as above.
            let e = unsafe { f.memory_map(bad) }.await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad:?}: {e}");
        }
        // A writable map of a file open only for reading.
        let ro_file = dir.open_file("map", OpenFlags::default()).await.unwrap();
        // SAFETY: as above.
        let e = unsafe { ro_file.memory_map(opts) }.await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
        assert!(e.to_string().contains("map"), "{e}");
    });
}

/// Positional reads and writes leave the file position alone; streaming ones advance it.
#[test]
fn positional_and_streaming_transfers() {
    let rt = rt();
    let io = rt.io();
    let tmp = Scratch::new("file-pos");
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        let f = dir.create_file("p", RW).await.unwrap();
        assert_eq!(f.write(b"0123456789").await.unwrap(), 10);
        assert_eq!(f.position().await.unwrap(), 10);
        assert_eq!(f.write_at(b"ab", 2).await.unwrap(), 2);
        assert_eq!(f.position().await.unwrap(), 10);
        let mut buf = [0u8; 4];
        assert_eq!(f.read_at(&mut buf, 1).await.unwrap(), 4);
        assert_eq!(&buf, b"1ab4");
        assert_eq!(f.position().await.unwrap(), 10);
        // At the end: 0.
        assert_eq!(f.read(&mut buf).await.unwrap(), 0);
        assert_eq!(f.read_at(&mut buf, 100).await.unwrap(), 0);
        f.seek_to(6).await.unwrap();
        assert_eq!(f.read(&mut buf).await.unwrap(), 4);
        assert_eq!(&buf, b"6789");
        assert_eq!(f.position().await.unwrap(), 10);
        // Empty buffers do nothing.
        assert_eq!(f.read(&mut []).await.unwrap(), 0);
        assert_eq!(f.write(&[]).await.unwrap(), 0);
        // A write past the end leaves a hole of zeros.
        f.write_all_at(b"end", 20).await.unwrap();
        assert_eq!(dir.read_file("p").await.unwrap(), b"01ab456789\0\0\0\0\0\0\0\0\0\0end");
        f.sync().await.unwrap();
        f.sync_data().await.unwrap();
        let st = f.stat().await.unwrap();
        assert_eq!((st.size, st.kind), (23, FileKind::File));
        assert!(st.is_file() && !st.is_dir());
    });
}

/// One `read` or `write` moves at most `CHUNK_SIZE` bytes (one job); the `_all` forms loop.
#[test]
fn transfers_larger_than_a_chunk() {
    let rt = rt();
    let io = rt.io();
    let tmp = Scratch::new("file-chunks");
    let data = pattern(7, 2 * CHUNK_SIZE + CHUNK_SIZE / 2 + 3);
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        let f = dir.create_file("big", RW).await.unwrap();
        assert_eq!(f.write(&data).await.unwrap(), CHUNK_SIZE);
        f.write_all(&data[CHUNK_SIZE..]).await.unwrap();
        assert_eq!(f.length().await.unwrap(), data.len() as u64);

        let mut back = vec![0u8; data.len()];
        f.seek_to(0).await.unwrap();
        assert_eq!(f.read(&mut back).await.unwrap(), CHUNK_SIZE);
        assert_eq!(
            f.read_at(&mut back[CHUNK_SIZE..], CHUNK_SIZE as u64).await.unwrap(),
            CHUNK_SIZE
        );
        assert_eq!(f.read_all_at(&mut back, 0).await.unwrap(), data.len());
        assert_eq!(checksum(&back), checksum(&data));

        let mut all = Vec::new();
        f.seek_to(0).await.unwrap();
        assert_eq!(f.read_to_end(&mut all).await.unwrap(), data.len());
        assert_eq!(checksum(&all), checksum(&data));

        // Positional writes across chunks.
        let g = dir.create_file("big2", RW).await.unwrap();
        g.write_all_at(&data, 5).await.unwrap();
        let mut back = vec![0u8; data.len() + 5];
        assert_eq!(g.read_all_at(&mut back, 0).await.unwrap(), data.len() + 5);
        assert_eq!(&back[..5], &[0; 5]);
        assert_eq!(checksum(&back[5..]), checksum(&data));
        assert_eq!(dir.read_file("big2").await.unwrap().len(), data.len() + 5);
    });
}

/// Vectored reads and writes gather and scatter across the buffers in order.
#[test]
fn vectored_read_and_write() {
    let rt = rt();
    let io = rt.io();
    let tmp = Scratch::new("file-vec");
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        let f = dir.create_file("v", RW).await.unwrap();
        let bufs = [IoSlice::new(b"ab"), IoSlice::new(b""), IoSlice::new(b"cde")];
        assert_eq!(f.write_vectored(&bufs).await.unwrap(), 5);
        assert_eq!(f.position().await.unwrap(), 5);
        let bufs = [IoSlice::new(b"XY"), IoSlice::new(b"Z")];
        assert_eq!(f.write_vectored_at(&bufs, 1).await.unwrap(), 3);
        assert_eq!(f.position().await.unwrap(), 5);
        assert_eq!(dir.read_file("v").await.unwrap(), b"aXYZe");

        let (mut a, mut b, mut c) = ([0u8; 2], [0u8; 0], [0u8; 10]);
        f.seek_to(0).await.unwrap();
        let n = f
            .read_vectored(&mut [
                IoSliceMut::new(&mut a),
                IoSliceMut::new(&mut b),
                IoSliceMut::new(&mut c),
            ])
            .await
            .unwrap();
        assert_eq!(n, 5);
        assert_eq!((&a, &c[..3]), (b"aX", &b"YZe"[..]));
        assert_eq!(f.position().await.unwrap(), 5);
        let (mut a, mut b) = ([0u8; 1], [0u8; 1]);
        let n = f
            .read_vectored_at(&mut [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)], 3)
            .await
            .unwrap();
        assert_eq!((n, a, b), (2, *b"Z", *b"e"));
        assert_eq!(f.read_vectored(&mut []).await.unwrap(), 0);
        assert_eq!(f.write_vectored(&[]).await.unwrap(), 0);
    });
}

/// Append mode: every streaming write goes to the end, whatever the position.
#[test]
fn append_mode_writes_at_the_end() {
    let rt = rt();
    let io = rt.io();
    let tmp = Scratch::new("file-append");
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        dir.write_file("log", b"base").await.unwrap();
        let flags = OpenFlags { mode: AccessMode::ReadWrite, append: true, ..Default::default() };
        let f = dir.open_file("log", flags).await.unwrap();
        f.write_all(b"+one").await.unwrap();
        f.seek_to(0).await.unwrap();
        f.write_all(b"+two").await.unwrap();
        assert_eq!(dir.read_file("log").await.unwrap(), b"base+one+two");
        // The AsyncWrite side too.
        let mut f = f;
        f.seek(SeekFrom::Start(1)).await.unwrap();
        AsyncWriteExt::write_all(&mut f, b"+three").await.unwrap();
        f.close().await.unwrap();
        assert_eq!(dir.read_file("log").await.unwrap(), b"base+one+two+three");
    });
}

/// Open modes: a read-only file refuses writes, a write-only one reads.
#[test]
fn open_modes_are_enforced() {
    let rt = rt();
    let io = rt.io();
    let tmp = Scratch::new("file-modes");
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        dir.write_file("m", b"data").await.unwrap();
        let ro = dir.open_file("m", OpenFlags::default()).await.unwrap();
        let e = ro.write(b"x").await.unwrap_err();
        assert_eq!((e.op(), e.kind()), (kqio::fs::Op::Write, ErrorKind::NotOpenForWriting));
        assert!(e.to_string().contains("m\": not open for writing"), "{e}");
        let wo = dir.open_file("m", OpenFlags::write_only()).await.unwrap();
        let mut buf = [0u8; 4];
        let e = wo.read(&mut buf).await.unwrap_err();
        assert_eq!((e.op(), e.kind()), (kqio::fs::Op::Read, ErrorKind::NotOpenForReading));
        wo.write_all(b"DA").await.unwrap();
        let rw = dir.open_file("m", OpenFlags::read_write()).await.unwrap();
        assert_eq!(rw.read(&mut buf).await.unwrap(), 4);
        assert_eq!(&buf, b"DAta");
        rw.write_all(b"!").await.unwrap();
        assert_eq!(dir.read_file("m").await.unwrap(), b"DAta!");
    });
}

/// `futures::io`: `copy` between two files, `read_to_end`, seek then read, write then close.
#[test]
fn futures_io_traits() {
    let rt = rt();
    let io = rt.io();
    let tmp = Scratch::new("file-futures-io");
    let data = pattern(3, CHUNK_SIZE + 4321);
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        let mut src = dir.create_file("src", RW).await.unwrap();
        AsyncWriteExt::write_all(&mut src, &data).await.unwrap();
        AsyncWriteExt::flush(&mut src).await.unwrap();
        assert_eq!(AsyncSeekExt::seek(&mut src, SeekFrom::Start(0)).await.unwrap(), 0);

        let mut dst = dir.create_file("dst", RW).await.unwrap();
        let n = futures::io::copy(&mut src, &mut dst).await.unwrap();
        assert_eq!(n, data.len() as u64);
        dst.close().await.unwrap();
        assert_eq!(checksum(&dir.read_file("dst").await.unwrap()), checksum(&data));

        // `copy_buf` through a chunk-sized buffer: a MiB per job on both sides.
        AsyncSeekExt::seek(&mut src, SeekFrom::Start(0)).await.unwrap();
        let mut dst2 = dir.create_file("dst2", CreateFlags::default()).await.unwrap();
        let reader = futures::io::BufReader::with_capacity(CHUNK_SIZE, &mut src);
        let n = futures::io::copy_buf(reader, &mut dst2).await.unwrap();
        assert_eq!(n, data.len() as u64);
        dst2.close().await.unwrap();
        assert_eq!(checksum(&dir.read_file("dst2").await.unwrap()), checksum(&data));

        let mut dst = dir.open_file("dst", OpenFlags::default()).await.unwrap();
        let mut all = Vec::new();
        AsyncReadExt::read_to_end(&mut dst, &mut all).await.unwrap();
        assert_eq!(checksum(&all), checksum(&data));

        // Seek then read.
        assert_eq!(AsyncSeekExt::seek(&mut dst, SeekFrom::Start(1000)).await.unwrap(), 1000);
        let mut buf = [0u8; 100];
        AsyncReadExt::read_exact(&mut dst, &mut buf).await.unwrap();
        assert_eq!(&buf[..], &data[1000..1100]);
        assert_eq!(AsyncSeekExt::seek(&mut dst, SeekFrom::Current(-50)).await.unwrap(), 1050);
        AsyncReadExt::read_exact(&mut dst, &mut buf[..10]).await.unwrap();
        assert_eq!(&buf[..10], &data[1050..1060]);
        let end = AsyncSeekExt::seek(&mut dst, SeekFrom::End(-10)).await.unwrap();
        assert_eq!(end, data.len() as u64 - 10);
        let mut tail = Vec::new();
        assert_eq!(AsyncReadExt::read_to_end(&mut dst, &mut tail).await.unwrap(), 10);
        assert_eq!(&tail[..], &data[data.len() - 10..]);
        // At the end, reads return 0.
        assert_eq!(AsyncReadExt::read(&mut dst, &mut buf).await.unwrap(), 0);

        // Writes, then `close`, which waits for the write-behind.
        let mut w = dir.create_file("w", CreateFlags::default()).await.unwrap();
        for i in 0..100u8 {
            AsyncWriteExt::write_all(&mut w, &[i; 100]).await.unwrap();
        }
        AsyncWriteExt::close(&mut w).await.unwrap();
        w.close().await.unwrap();
        let back = dir.read_file("w").await.unwrap();
        assert_eq!(back.len(), 10_000);
        assert!(back.chunks(100).enumerate().all(|(i, c)| c.iter().all(|&b| b == i as u8)));
    });
}

/// A read-ahead started for a large buffer and finished for a smaller one leaves unread bytes
/// in the `File`: a seek and a write account for them (the kernel's position is past them).
#[test]
fn futures_io_unread_bytes_before_seek_and_write() {
    // One pool thread held at a gate: the first poll of the read is certainly pending.
    let rt = rt_with_pool(1, "fsunread");
    let io = rt.io();
    let tmp = Scratch::new("file-unread");
    std::fs::write(tmp.join("u"), b"0123456789").unwrap();
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        let mut f = dir.open_file("u", OpenFlags::read_write()).await.unwrap();
        let gate = Gate::new();
        let g = gate.clone();
        let blocker = io.spawn_blocking(move || g.wait());
        let mut big = [0u8; 10];
        let first = futures::future::poll_fn(|cx| {
            Poll::Ready(futures::io::AsyncRead::poll_read(Pin::new(&mut f), cx, &mut big))
        })
        .await;
        assert!(first.is_pending(), "the pool is held: the read cannot have run");
        gate.open();
        blocker.await.unwrap();
        let mut small = [0u8; 3];
        assert_eq!(AsyncReadExt::read(&mut f, &mut small).await.unwrap(), 3);
        assert_eq!(&small, b"012");
        // Seven bytes are buffered; the position is 3 all the same.
        assert_eq!(AsyncSeekExt::seek(&mut f, SeekFrom::Current(0)).await.unwrap(), 3);
        assert_eq!(AsyncReadExt::read(&mut f, &mut small).await.unwrap(), 3);
        assert_eq!(&small, b"345");
        AsyncWriteExt::write_all(&mut f, b"X").await.unwrap();
        AsyncWriteExt::flush(&mut f).await.unwrap();
        assert_eq!(f.position().await.unwrap(), 7);
        assert_eq!(dir.read_file("u").await.unwrap(), b"012345X789");
    });
}

/// Bytes an `AsyncWrite` accepted reach the file even when the `File` is dropped before its
/// write-behind job has started.
#[test]
fn futures_io_write_behind_survives_drop() {
    let rt = rt_with_pool(1, "fswb");
    let io = rt.io();
    let tmp = Scratch::new("file-write-behind");
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        let mut f = dir.create_file("wb", CreateFlags::default()).await.unwrap();
        let gate = Gate::new();
        let g = gate.clone();
        let blocker = io.spawn_blocking(move || g.wait());
        // Accepted at once (write-behind), queued behind the gate.
        assert_eq!(AsyncWriteExt::write(&mut f, b"accepted").await.unwrap(), 8);
        drop(f);
        gate.open();
        blocker.await.unwrap();
    });
    fs_util::eventually("the accepted bytes are in the file", || {
        std::fs::read(tmp.join("wb")).unwrap() == b"accepted"
    });
}

/// `flock` between two handles: exclusive excludes both kinds, shared admits shared,
/// downgrade turns exclusive into shared, and a blocking `lock` waits for the holder.
#[test]
fn flock_between_two_handles() {
    let rt = rt();
    let io = rt.io();
    let tmp = Scratch::new("file-flock");
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        dir.write_file("lock", b"").await.unwrap();
        let a = dir.open_file("lock", OpenFlags::default()).await.unwrap();
        let b = dir.open_file("lock", OpenFlags::default()).await.unwrap();

        a.lock(Lock::Exclusive).await.unwrap();
        assert!(!b.try_lock(Lock::Exclusive).await.unwrap());
        assert!(!b.try_lock(Lock::Shared).await.unwrap());
        a.unlock().await.unwrap();

        // Shared + shared.
        assert!(a.try_lock(Lock::Shared).await.unwrap());
        assert!(b.try_lock(Lock::Shared).await.unwrap());
        assert!(!a.try_lock(Lock::Exclusive).await.unwrap());
        b.unlock().await.unwrap();
        assert!(a.try_lock(Lock::Exclusive).await.unwrap(), "upgrade once alone");

        // Downgrade: b may then share, not take it exclusively.
        assert!(!b.try_lock(Lock::Shared).await.unwrap());
        a.downgrade_lock().await.unwrap();
        assert!(b.try_lock(Lock::Shared).await.unwrap());
        assert!(!b.try_lock(Lock::Exclusive).await.unwrap());
        b.unlock().await.unwrap();
        a.unlock().await.unwrap();

        // A blocking lock waits (on the pool) until the holder lets go.
        a.lock(Lock::Exclusive).await.unwrap();
        let released = Arc::new(AtomicBool::new(false));
        let waiter = io.r#async({
            let released = released.clone();
            async move {
                b.lock(Lock::Exclusive).await.unwrap();
                let after_release = released.load(Ordering::SeqCst);
                b.unlock().await.unwrap();
                after_release
            }
        });
        released.store(true, Ordering::SeqCst);
        a.unlock().await.unwrap();
        assert!(waiter.await, "b got the lock while a held it");
    });
}

/// `copy_from` a file of more than one copy job and more than one chunk (checksummed), into a
/// file open to append (where `copy_file_range` refuses and the loop copies), and
/// `copy_range_from` at offsets.
#[test]
fn copy_from_another_file() {
    let rt = rt();
    let io = rt.io();
    let tmp = Scratch::new("file-copy");
    let len = COPY_CHUNK as usize + CHUNK_SIZE + 123;
    let data = pattern(11, len);
    std::fs::write(tmp.join("src"), &data).unwrap();
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        let src = dir.open_file("src", OpenFlags::default()).await.unwrap();
        src.seek_to(100).await.unwrap();
        let dst = dir.create_file("dst", RW).await.unwrap();
        dst.write_all(b"head").await.unwrap();
        assert_eq!(dst.copy_from(&src).await.unwrap(), (len - 100) as u64);
        // Both positions advanced.
        assert_eq!(src.position().await.unwrap(), len as u64);
        assert_eq!(dst.position().await.unwrap(), (len - 100 + 4) as u64);
        let mut back = vec![0u8; len - 100];
        assert_eq!(dst.read_all_at(&mut back, 4).await.unwrap(), len - 100);
        assert_eq!(checksum(&back), checksum(&data[100..]));
        drop(back);
        // Nothing left to copy.
        assert_eq!(dst.copy_from(&src).await.unwrap(), 0);

        // Positional: positions untouched, and short only at the end of the source.
        src.seek_to(0).await.unwrap();
        let part = dir.create_file("part", RW).await.unwrap();
        assert_eq!(part.copy_range_from(&src, 10, 3, 1000).await.unwrap(), 1000);
        assert_eq!(src.position().await.unwrap(), 0);
        assert_eq!(part.position().await.unwrap(), 0);
        let got = dir.read_file("part").await.unwrap();
        assert_eq!(&got[..3], &[0, 0, 0]);
        assert_eq!(&got[3..], &data[10..1010]);
        assert_eq!(part.copy_range_from(&src, len as u64 - 5, 0, 100).await.unwrap(), 5);
        let part_bytes = dir.read_file("part").await.unwrap();
        assert_eq!(&part_bytes[..5], &data[len - 5..]);

        // Into an append-mode file.
        std::fs::write(tmp.join("app"), b"start:").unwrap();
        let flags = OpenFlags { mode: AccessMode::WriteOnly, append: true, ..Default::default() };
        let app = dir.open_file("app", flags).await.unwrap();
        let small = dir.open_file("part", OpenFlags::default()).await.unwrap();
        assert_eq!(app.copy_from(&small).await.unwrap(), 1003);
        let got = dir.read_file("app").await.unwrap();
        assert_eq!(&got[..6], b"start:");
        assert_eq!(&got[6..], &part_bytes[..]);
    });
}

/// Permissions, owner (our own uid and gid: no privilege needed), real path, terminals.
#[test]
fn metadata_changes_real_path_and_tty() {
    let rt = rt();
    let io = rt.io();
    let tmp = Scratch::new("file-meta");
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        let f = dir.create_file("meta", CreateFlags::default()).await.unwrap();
        f.set_permissions(Permissions::from_mode(0o640)).await.unwrap();
        let st = f.stat().await.unwrap();
        assert_eq!(st.permissions, Permissions::from_mode(0o640));
        assert!(!st.permissions.is_read_only());
        f.set_permissions(Permissions::from_mode(0o444)).await.unwrap();
        assert!(f.stat().await.unwrap().permissions.is_read_only());

        // SAFETY: `getuid` and `getgid` cannot fail and touch no memory of ours.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        f.set_owner(Some(uid), Some(gid)).await.unwrap();
        f.set_owner(None, None).await.unwrap();
        let st = f.stat().await.unwrap();
        assert_eq!((st.uid, st.gid), (uid, gid));

        let real = f.real_path().await.unwrap();
        assert_eq!(real, std::fs::canonicalize(tmp.join("meta")).unwrap());
        // The path follows a rename.
        dir.rename("meta", &dir, "renamed").await.unwrap();
        let real = f.real_path().await.unwrap();
        assert_eq!(real, std::fs::canonicalize(tmp.join("renamed")).unwrap());

        assert!(!f.is_tty());
        let null = kqio::fs::Dir::cwd(&io).open_file("/dev/null", OpenFlags::default()).await;
        assert!(!null.unwrap().is_tty());
    });
}

/// `is_tty` is true for a pseudo-terminal.
#[test]
fn is_tty_on_a_pseudo_terminal() {
    // SAFETY: `posix_openpt` returns a new descriptor or -1; nothing else is touched.
    let master = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY) };
    if master < 0 {
        eprintln!("no pseudo-terminals here: {}", std::io::Error::last_os_error());
        return;
    }
    // SAFETY: `master` is the descriptor just opened; `ptsname` returns a NUL-terminated string
    // in static storage, copied at once (no other thread of this test calls it).
    let slave = unsafe {
        assert_eq!(libc::grantpt(master), 0);
        assert_eq!(libc::unlockpt(master), 0);
        let name = libc::ptsname(master);
        assert!(!name.is_null());
        std::ffi::CStr::from_ptr(name).to_str().unwrap().to_owned()
    };
    let rt = rt();
    let io = rt.io();
    rt.block_on(async {
        let flags = OpenFlags { mode: AccessMode::ReadWrite, ..Default::default() };
        let tty = kqio::fs::Dir::cwd(&io).open_file(&slave, flags).await.unwrap();
        assert!(tty.is_tty());
    });
    // SAFETY: `master` is ours and not used again.
    unsafe { libc::close(master) };
}

/// `close` reports success, and a closed file's name may be reused at once.
#[test]
fn close_and_reopen() {
    let rt = rt();
    let io = rt.io();
    let tmp = Scratch::new("file-close");
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        for i in 0..10u8 {
            let f = dir.create_file("c", CreateFlags::default()).await.unwrap();
            f.write_all(&[i]).await.unwrap();
            f.close().await.unwrap();
            assert_eq!(dir.read_file("c").await.unwrap(), [i]);
        }
        // A clone of the handle keeps it open: closing one only drops it.
        let f = dir.create_file("c", RW).await.unwrap();
        let other = File::from_handle(io.clone(), f.handle().clone(), None);
        f.close().await.unwrap();
        other.write_all(b"still open").await.unwrap();
        assert_eq!(dir.read_file("c").await.unwrap(), b"still open");
    });
}

/// Several tasks share one `File` through `&self`: positional writes do not disturb each other.
#[test]
fn concurrent_positional_writes_from_tasks() {
    let rt = rt();
    let io = rt.io();
    let tmp = Scratch::new("file-concurrent");
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        let f = Arc::new(dir.create_file("shared", RW).await.unwrap());
        let tasks: Vec<_> = (0..16u64)
            .map(|i| {
                let f = f.clone();
                io.r#async(async move {
                    let block = pattern(i, 4096);
                    f.write_all_at(&block, i * 4096).await.unwrap();
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
        let all = dir.read_file("shared").await.unwrap();
        assert_eq!(all.len(), 16 * 4096);
        for (i, block) in all.chunks(4096).enumerate() {
            assert_eq!(block, &pattern(i as u64, 4096)[..], "block {i}");
        }
    });
}

/// A pinned `read` future polled once and dropped leaves the file usable.
#[test]
fn dropped_operations_leave_the_file_usable() {
    let rt = rt();
    let io = rt.io();
    let tmp = Scratch::new("file-dropped-op");
    std::fs::write(tmp.join("d"), b"abcdef").unwrap();
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        let f = dir.open_file("d", OpenFlags::default()).await.unwrap();
        for _ in 0..100 {
            let mut buf = [0u8; 6];
            {
                let mut fut = pin!(f.read_at(&mut buf, 0));
                let _ = futures::poll!(fut.as_mut());
            }
            assert_eq!(f.read_at(&mut buf, 0).await.unwrap(), 6);
            assert_eq!(&buf, b"abcdef");
        }
    });
}
