//! Files and directories in a scratch directory: create, read, write, seek, positional and
//! vectored I/O, lengths, stat, entries, rename, delete, symbolic and hard links, atomic files,
//! append mode, sync, locks, copies, permissions, and the typed errors for missing or existing
//! paths and the wrong kind of file.

use std::io::{IoSlice, IoSliceMut, SeekFrom};

use futures::TryStreamExt;
use kqio::fs::{
    Access, AtomicFlags, CreateFlags, Dir, ErrorKind, FileKind, Lock, OpenDirFlags, OpenFlags,
    Permissions,
};
use kqio::time::{Clock, Timestamp};

use crate::harness::Ctx;
use crate::util::{checksum, pattern};

differential!(fs:
    fs_write_then_read_a_file,
    fs_exclusive_create_of_an_existing_file_fails,
    fs_missing_paths_are_not_found,
    fs_seek_and_position,
    fs_positional_io_leaves_the_position,
    fs_set_length_truncates_and_extends_with_zeros,
    fs_stat_of_files_and_directories,
    fs_entries_list_names_and_kinds,
    fs_rename_moves_and_replaces,
    fs_delete_files_and_directories,
    fs_create_dir_and_create_dir_path,
    fs_symbolic_links,
    fs_hard_links_share_contents,
    fs_sync_and_sync_data,
    fs_append_mode_writes_at_the_end,
    fs_vectored_write_and_read,
    fs_delete_tree,
    fs_atomic_file_commit_and_drop,
    fs_the_wrong_kind_of_file,
    fs_a_file_larger_than_a_chunk,
    fs_locks_between_two_handles,
    fs_access,
    fs_reads_past_the_end_and_on_a_write_only_file,
    fs_a_dir_handle_survives_a_rename,
    fs_copy_from_another_file,
    fs_permissions,
);

const RW: CreateFlags = CreateFlags {
    read: true,
    truncate: true,
    exclusive: false,
    permissions: Permissions::DEFAULT_FILE,
};

async fn names(dir: &Dir) -> Vec<(String, FileKind)> {
    let mut v: Vec<_> = dir
        .entries()
        .map_ok(|e| (e.name.to_string_lossy().into_owned(), e.kind))
        .try_collect()
        .await
        .unwrap();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

async fn fs_write_then_read_a_file(t: Ctx) {
    let dir = t.scratch().await;
    let f = dir.create_file("file.txt", CreateFlags::default()).await.unwrap();
    f.write_all(b"begin").await.unwrap();
    let mut random = [0u8; 1024];
    t.io.random(&mut random);
    f.write_all(&random).await.unwrap();
    f.write_all(b"end").await.unwrap();
    assert_eq!(f.length().await.unwrap(), 1032);
    f.close().await.unwrap();
    let f = dir.open_file("file.txt", OpenFlags::default()).await.unwrap();
    let mut back = Vec::new();
    assert_eq!(f.read_to_end(&mut back).await.unwrap(), 1032);
    assert_eq!(&back[..5], b"begin");
    assert_eq!(&back[5..1029], &random[..]);
    assert_eq!(&back[1029..], b"end");
    dir.write_file("other", b"whole file").await.unwrap();
    assert_eq!(dir.read_file("other").await.unwrap(), b"whole file");
    dir.write_file("other", b"short").await.unwrap();
    assert_eq!(dir.read_file("other").await.unwrap(), b"short", "write_file truncates");
}

async fn fs_exclusive_create_of_an_existing_file_fails(t: Ctx) {
    let dir = t.scratch().await;
    dir.write_file("x", b"123").await.unwrap();
    let e = dir
        .create_file("x", CreateFlags { exclusive: true, ..CreateFlags::default() })
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);
    assert_eq!(dir.read_file("x").await.unwrap(), b"123", "untouched");
    let keep = dir.create_file("x", CreateFlags { truncate: false, ..RW }).await.unwrap();
    assert_eq!(keep.length().await.unwrap(), 3);
    drop(keep);
    let trunc = dir.create_file("x", RW).await.unwrap();
    assert_eq!(trunc.length().await.unwrap(), 0);
    let fresh = dir
        .create_file("y", CreateFlags { exclusive: true, ..CreateFlags::default() })
        .await
        .unwrap();
    fresh.write_all(b"new").await.unwrap();
    assert_eq!(dir.read_file("y").await.unwrap(), b"new");
}

async fn fs_missing_paths_are_not_found(t: Ctx) {
    let dir = t.scratch().await;
    let kind = |r: kqio::fs::Error| r.kind();
    assert_eq!(
        kind(dir.open_file("nope", OpenFlags::default()).await.unwrap_err()),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(dir.open_dir("nope", OpenDirFlags::default()).await.unwrap_err()),
        ErrorKind::NotFound
    );
    assert_eq!(kind(dir.stat_file("nope").await.unwrap_err()), ErrorKind::NotFound);
    assert_eq!(kind(dir.delete_file("nope").await.unwrap_err()), ErrorKind::NotFound);
    assert_eq!(kind(dir.delete_dir("nope").await.unwrap_err()), ErrorKind::NotFound);
    assert_eq!(kind(dir.read_file("nope").await.unwrap_err()), ErrorKind::NotFound);
    assert_eq!(kind(dir.rename("nope", &dir, "other").await.unwrap_err()), ErrorKind::NotFound);
    assert_eq!(
        kind(dir.create_file("no/dir/f", CreateFlags::default()).await.unwrap_err()),
        ErrorKind::NotFound
    );
    assert_eq!(kind(dir.read_link("nope").await.unwrap_err()), ErrorKind::NotFound);
}

async fn fs_seek_and_position(t: Ctx) {
    let dir = t.scratch().await;
    let f = dir.create_file("s", RW).await.unwrap();
    f.write_all(b"0123456789").await.unwrap();
    assert_eq!(f.position().await.unwrap(), 10);
    assert_eq!(f.seek_to(3).await.unwrap(), 3);
    let mut b = [0u8; 4];
    f.read_exact_or_all(&mut b).await;
    assert_eq!(&b, b"3456");
    assert_eq!(f.position().await.unwrap(), 7);
    assert_eq!(f.seek_by(-2).await.unwrap(), 5);
    assert_eq!(f.seek(SeekFrom::End(-1)).await.unwrap(), 9);
    let mut one = [0u8; 1];
    assert_eq!(f.read(&mut one).await.unwrap(), 1);
    assert_eq!(&one, b"9");
    // Writing after a seek past the end leaves a hole of zeros.
    f.seek_to(12).await.unwrap();
    f.write_all(b"!").await.unwrap();
    assert_eq!(dir.read_file("s").await.unwrap(), b"0123456789\0\0!");
}

/// Reads until `buf` is full (a file read may be short only at its end).
trait ReadAll {
    async fn read_exact_or_all(&self, buf: &mut [u8]);
}

impl ReadAll for kqio::fs::File {
    async fn read_exact_or_all(&self, buf: &mut [u8]) {
        let mut at = 0;
        while at < buf.len() {
            let n = self.read(&mut buf[at..]).await.unwrap();
            assert!(n > 0, "the file ended early");
            at += n;
        }
    }
}

async fn fs_positional_io_leaves_the_position(t: Ctx) {
    let dir = t.scratch().await;
    let f = dir.create_file("p", RW).await.unwrap();
    f.write_all(b"abc").await.unwrap();
    f.write_all_at(b"XYZ", 100).await.unwrap();
    assert_eq!(f.position().await.unwrap(), 3);
    assert_eq!(f.length().await.unwrap(), 103);
    let mut b = [0u8; 5];
    assert_eq!(f.read_all_at(&mut b, 98).await.unwrap(), 5);
    assert_eq!(&b, b"\0\0XYZ");
    let mut c = [0u8; 2];
    assert_eq!(f.read_at(&mut c, 1).await.unwrap(), 2);
    assert_eq!(&c, b"bc");
    assert_eq!(f.position().await.unwrap(), 3, "positional I/O leaves the position");
    assert_eq!(f.write_at(b"B", 1).await.unwrap(), 1);
    assert_eq!(&dir.read_file("p").await.unwrap()[..3], b"aBc");
}

async fn fs_set_length_truncates_and_extends_with_zeros(t: Ctx) {
    let dir = t.scratch().await;
    let f = dir.create_file("len", RW).await.unwrap();
    f.write_all(b"0123456789").await.unwrap();
    f.set_length(4).await.unwrap();
    assert_eq!(f.length().await.unwrap(), 4);
    assert_eq!(dir.read_file("len").await.unwrap(), b"0123");
    f.set_length(8).await.unwrap();
    assert_eq!(dir.read_file("len").await.unwrap(), b"0123\0\0\0\0");
    assert_eq!(f.stat().await.unwrap().size, 8);
}

async fn fs_stat_of_files_and_directories(t: Ctx) {
    let dir = t.scratch().await;
    let y2020 = Timestamp::from_nanos(1_577_836_800 * 1_000_000_000);
    dir.write_file("f", b"12345").await.unwrap();
    dir.create_dir("d").await.unwrap();
    let f = dir.stat_file("f").await.unwrap();
    assert_eq!((f.kind, f.size, f.nlink), (FileKind::File, 5, 1));
    assert!(f.is_file() && !f.is_dir());
    assert!(f.mtime > y2020, "{:?}", f.mtime);
    let d = dir.stat_file("d").await.unwrap();
    assert_eq!(d.kind, FileKind::Directory);
    assert!(d.is_dir());
    assert_ne!(f.inode, d.inode);
    assert_eq!(dir.stat().await.unwrap().kind, FileKind::Directory);
    let opened = dir.open_file("f", OpenFlags::default()).await.unwrap();
    let s = opened.stat().await.unwrap();
    assert_eq!((s.inode, s.size, s.kind), (f.inode, 5, FileKind::File));
    // Writing moves the modification time forward, not back (real clock).
    let before = t.io.now(Clock::Real);
    t.io.sleep(kqio::time::Timeout::after(kqio::time::Duration::from_millis(20))).await.unwrap();
    dir.write_file("f", b"changed").await.unwrap();
    let after = dir.stat_file("f").await.unwrap();
    assert_eq!(after.size, 7);
    assert!(
        after.mtime >= f.mtime && after.mtime > before.saturating_sub(kqio::time::Duration::SECOND)
    );
}

async fn fs_entries_list_names_and_kinds(t: Ctx) {
    let dir = t.scratch().await;
    assert_eq!(names(&dir).await, [], "a fresh scratch directory is empty");
    dir.write_file("a", b"").await.unwrap();
    dir.create_dir("b").await.unwrap();
    dir.symlink("a", "c").await.unwrap();
    for i in 0..50 {
        dir.write_file(format!("many-{i:02}"), b"").await.unwrap();
    }
    let all = names(&dir).await;
    assert_eq!(all.len(), 53);
    assert_eq!(
        &all[..3],
        [
            ("a".to_owned(), FileKind::File),
            ("b".to_owned(), FileKind::Directory),
            ("c".to_owned(), FileKind::SymLink),
        ]
    );
    assert!(all[3..].iter().enumerate().all(|(i, e)| e.0 == format!("many-{i:02}")));
    let b = dir.open_dir("b", OpenDirFlags::default()).await.unwrap();
    assert_eq!(names(&b).await, []);
}

async fn fs_rename_moves_and_replaces(t: Ctx) {
    let dir = t.scratch().await;
    dir.write_file("a", b"A").await.unwrap();
    dir.rename("a", &dir, "b").await.unwrap();
    assert_eq!(dir.stat_file("a").await.unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(dir.read_file("b").await.unwrap(), b"A");
    // Over an existing file: replaced.
    dir.write_file("c", b"C").await.unwrap();
    dir.rename("b", &dir, "c").await.unwrap();
    assert_eq!(dir.read_file("c").await.unwrap(), b"A");
    assert_eq!(dir.stat_file("b").await.unwrap_err().kind(), ErrorKind::NotFound);
    // Into another directory, through its handle.
    let sub = dir.create_dir_path_open("sub").await.unwrap();
    dir.rename("c", &sub, "moved").await.unwrap();
    assert_eq!(dir.read_file("sub/moved").await.unwrap(), b"A");
    // A directory is renamed with its contents.
    dir.rename("sub", &dir, "sub2").await.unwrap();
    assert_eq!(dir.read_file("sub2/moved").await.unwrap(), b"A");
}

async fn fs_delete_files_and_directories(t: Ctx) {
    let dir = t.scratch().await;
    dir.write_file("f", b"x").await.unwrap();
    dir.create_dir_path("d/inner").await.unwrap();
    let e = dir.delete_dir("d").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DirNotEmpty);
    let e = dir.delete_dir("f").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotDir);
    dir.delete_dir("d/inner").await.unwrap();
    dir.delete_dir("d").await.unwrap();
    dir.delete_file("f").await.unwrap();
    assert_eq!(names(&dir).await, []);
    // An open file survives the deletion of its name.
    let f = dir.create_file("open", RW).await.unwrap();
    f.write_all(b"still here").await.unwrap();
    dir.delete_file("open").await.unwrap();
    let mut back = [0u8; 10];
    assert_eq!(f.read_all_at(&mut back, 0).await.unwrap(), 10);
    assert_eq!(&back, b"still here");
}

async fn fs_create_dir_and_create_dir_path(t: Ctx) {
    let dir = t.scratch().await;
    dir.create_dir("one").await.unwrap();
    assert_eq!(dir.create_dir("one").await.unwrap_err().kind(), ErrorKind::AlreadyExists);
    assert_eq!(dir.create_dir("missing/two").await.unwrap_err().kind(), ErrorKind::NotFound);
    assert!(dir.create_dir_path("a/b/c/d").await.unwrap());
    assert!(!dir.create_dir_path("a/b/c/d").await.unwrap());
    assert!(!dir.create_dir_path("a/b").await.unwrap());
    assert!(dir.create_dir_path("a/b/e").await.unwrap());
    dir.write_file("file", b"").await.unwrap();
    assert_eq!(dir.create_dir_path("file").await.unwrap_err().kind(), ErrorKind::NotDir);
    assert_eq!(dir.create_dir("file").await.unwrap_err().kind(), ErrorKind::AlreadyExists);
    let q = dir.create_dir_path_open("p/q").await.unwrap();
    q.write_file("inside", b"1").await.unwrap();
    assert_eq!(dir.read_file("p/q/inside").await.unwrap(), b"1");
}

async fn fs_symbolic_links(t: Ctx) {
    let dir = t.scratch().await;
    dir.write_file("target.txt", b"pointed at").await.unwrap();
    dir.symlink("target.txt", "link").await.unwrap();
    assert_eq!(dir.read_link("link").await.unwrap(), std::path::Path::new("target.txt"));
    assert_eq!(dir.stat_link("link").await.unwrap().kind, FileKind::SymLink);
    let through = dir.stat_file("link").await.unwrap();
    assert_eq!((through.kind, through.size), (FileKind::File, 10));
    assert_eq!(dir.read_file("link").await.unwrap(), b"pointed at");
    let e = dir
        .open_file("link", OpenFlags { follow_symlinks: false, ..OpenFlags::default() })
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SymLinkLoop);
    assert_eq!(
        dir.symlink("elsewhere", "link").await.unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    // A dangling link: the link is there, what it names is not.
    dir.symlink("nowhere", "dangling").await.unwrap();
    assert_eq!(dir.stat_link("dangling").await.unwrap().kind, FileKind::SymLink);
    assert_eq!(dir.stat_file("dangling").await.unwrap_err().kind(), ErrorKind::NotFound);
    // A regular file is not a link.
    assert_eq!(dir.read_link("target.txt").await.unwrap_err().kind(), ErrorKind::InvalidInput);
    // Deleting the link leaves the target.
    dir.delete_file("link").await.unwrap();
    assert_eq!(dir.read_file("target.txt").await.unwrap(), b"pointed at");
}

async fn fs_hard_links_share_contents(t: Ctx) {
    let dir = t.scratch().await;
    dir.write_file("one", b"shared").await.unwrap();
    dir.hard_link("one", &dir, "two").await.unwrap();
    let (a, b) = (dir.stat_file("one").await.unwrap(), dir.stat_file("two").await.unwrap());
    assert_eq!(a.inode, b.inode);
    assert_eq!((a.nlink, b.nlink), (2, 2));
    let f = dir.open_file("two", OpenFlags::read_write()).await.unwrap();
    f.write_all_at(b"SH", 0).await.unwrap();
    assert_eq!(dir.read_file("one").await.unwrap(), b"SHared");
    dir.delete_file("one").await.unwrap();
    assert_eq!(dir.stat_file("two").await.unwrap().nlink, 1);
    assert_eq!(dir.read_file("two").await.unwrap(), b"SHared");
    assert_eq!(
        dir.hard_link("missing", &dir, "three").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        dir.hard_link("two", &dir, "two").await.unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
}

async fn fs_sync_and_sync_data(t: Ctx) {
    let dir = t.scratch().await;
    let f = dir.create_file("durable", RW).await.unwrap();
    f.write_all(b"kept").await.unwrap();
    f.sync_data().await.unwrap();
    f.write_all(b" and more").await.unwrap();
    f.sync().await.unwrap();
    f.close().await.unwrap();
    assert_eq!(dir.read_file("durable").await.unwrap(), b"kept and more");
}

async fn fs_append_mode_writes_at_the_end(t: Ctx) {
    let dir = t.scratch().await;
    dir.write_file("log", b"first\n").await.unwrap();
    let f =
        dir.open_file("log", OpenFlags { append: true, ..OpenFlags::write_only() }).await.unwrap();
    f.seek_to(0).await.unwrap();
    f.write_all(b"second\n").await.unwrap();
    let g =
        dir.open_file("log", OpenFlags { append: true, ..OpenFlags::write_only() }).await.unwrap();
    g.write_all(b"third\n").await.unwrap();
    f.write_all(b"fourth\n").await.unwrap();
    assert_eq!(dir.read_file("log").await.unwrap(), b"first\nsecond\nthird\nfourth\n");
}

async fn fs_vectored_write_and_read(t: Ctx) {
    let dir = t.scratch().await;
    let f = dir.create_file("v", RW).await.unwrap();
    let n = f
        .write_vectored(&[IoSlice::new(b"hello"), IoSlice::new(b", "), IoSlice::new(b"world")])
        .await
        .unwrap();
    assert_eq!(n, 12);
    f.seek_to(0).await.unwrap();
    let (mut a, mut b) = ([0u8; 5], [0u8; 16]);
    let n = f.read_vectored(&mut [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)]).await.unwrap();
    assert_eq!(n, 12);
    assert_eq!(&a, b"hello");
    assert_eq!(&b[..7], b", world");
    let n = f.write_vectored_at(&[IoSlice::new(b"H"), IoSlice::new(b"W")], 20).await.unwrap();
    assert_eq!(n, 2);
    assert_eq!(f.length().await.unwrap(), 22);
}

async fn fs_delete_tree(t: Ctx) {
    let dir = t.scratch().await;
    dir.create_dir_path("tree/a/b/c").await.unwrap();
    for p in ["tree/f", "tree/a/g", "tree/a/b/h", "tree/a/b/c/i"] {
        dir.write_file(p, p).await.unwrap();
    }
    dir.symlink("../../outside", "tree/a/link").await.unwrap();
    dir.write_file("outside", b"safe").await.unwrap();
    dir.delete_tree("tree").await.unwrap();
    assert_eq!(dir.stat_file("tree").await.unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(dir.read_file("outside").await.unwrap(), b"safe", "links are not followed");
    dir.delete_tree("tree").await.unwrap(); // a missing path is success
    dir.delete_tree("outside").await.unwrap(); // a file too
    assert_eq!(names(&dir).await, []);
}

async fn fs_atomic_file_commit_and_drop(t: Ctx) {
    let dir = t.scratch().await;
    dir.write_file("config", b"old").await.unwrap();
    let a = dir.create_file_atomic("config", AtomicFlags::default()).await.unwrap();
    a.write_all(b"new contents").await.unwrap();
    assert_eq!(dir.read_file("config").await.unwrap(), b"old", "not replaced before commit");
    a.commit().await.unwrap();
    assert_eq!(dir.read_file("config").await.unwrap(), b"new contents");
    let dropped = dir.create_file_atomic("config", AtomicFlags::default()).await.unwrap();
    dropped.write_all(b"abandoned").await.unwrap();
    drop(dropped);
    assert_eq!(dir.read_file("config").await.unwrap(), b"new contents");
    // The dropped temporary file is deleted (its removal may finish after the drop).
    let mut left = names(&dir).await;
    for _ in 0..100 {
        if left.len() == 1 {
            break;
        }
        t.io.sleep(kqio::time::Timeout::after(kqio::time::Duration::from_millis(1))).await.unwrap();
        left = names(&dir).await;
    }
    assert_eq!(left, [("config".to_owned(), FileKind::File)]);
}

async fn fs_the_wrong_kind_of_file(t: Ctx) {
    let dir = t.scratch().await;
    dir.write_file("file", b"x").await.unwrap();
    dir.create_dir("dir").await.unwrap();
    assert_eq!(
        dir.open_dir("file", OpenDirFlags::default()).await.unwrap_err().kind(),
        ErrorKind::NotDir
    );
    assert_eq!(
        dir.open_file("dir", OpenFlags::read_write()).await.unwrap_err().kind(),
        ErrorKind::IsDir
    );
    assert_eq!(dir.read_file("file/below").await.unwrap_err().kind(), ErrorKind::NotDir);
    assert_eq!(
        dir.create_file("dir", CreateFlags::default()).await.unwrap_err().kind(),
        ErrorKind::IsDir
    );
}

async fn fs_a_file_larger_than_a_chunk(t: Ctx) {
    let dir = t.scratch().await;
    let data = pattern(3, 3 * 1024 * 1024 + 17);
    let f = dir.create_file("big", RW).await.unwrap();
    f.write_all(&data).await.unwrap();
    assert_eq!(f.length().await.unwrap(), data.len() as u64);
    f.seek_to(0).await.unwrap();
    let mut back = Vec::new();
    assert_eq!(f.read_to_end(&mut back).await.unwrap(), data.len());
    assert_eq!(checksum(&back), checksum(&data));
    let mut mid = vec![0u8; 1 << 20];
    assert_eq!(f.read_all_at(&mut mid, 1_500_000).await.unwrap(), 1 << 20);
    assert_eq!(mid, data[1_500_000..1_500_000 + (1 << 20)]);
}

async fn fs_locks_between_two_handles(t: Ctx) {
    let dir = t.scratch().await;
    dir.write_file("lock", b"").await.unwrap();
    let a = dir.open_file("lock", OpenFlags::read_write()).await.unwrap();
    let b = dir.open_file("lock", OpenFlags::read_write()).await.unwrap();
    a.lock(Lock::Exclusive).await.unwrap();
    assert!(!b.try_lock(Lock::Shared).await.unwrap());
    assert!(!b.try_lock(Lock::Exclusive).await.unwrap());
    a.downgrade_lock().await.unwrap();
    assert!(b.try_lock(Lock::Shared).await.unwrap(), "two shared holders");
    assert!(!a.try_lock(Lock::Exclusive).await.unwrap());
    b.unlock().await.unwrap();
    assert!(a.try_lock(Lock::Exclusive).await.unwrap());
    drop(a); // closing releases it
    assert!(b.try_lock(Lock::Exclusive).await.unwrap());
}

async fn fs_access(t: Ctx) {
    let dir = t.scratch().await;
    dir.write_file("here", b"").await.unwrap();
    dir.access("here", Access::EXISTS).await.unwrap();
    dir.access("here", Access::READ).await.unwrap();
    dir.access("here", Access::WRITE).await.unwrap();
    assert_eq!(dir.access("gone", Access::EXISTS).await.unwrap_err().kind(), ErrorKind::NotFound);
}

async fn fs_reads_past_the_end_and_on_a_write_only_file(t: Ctx) {
    let dir = t.scratch().await;
    dir.write_file("short", b"abc").await.unwrap();
    let f = dir.open_file("short", OpenFlags::default()).await.unwrap();
    let mut buf = [0u8; 10];
    assert_eq!(f.read_at(&mut buf, 3).await.unwrap(), 0);
    assert_eq!(f.read_at(&mut buf, 1_000).await.unwrap(), 0);
    assert_eq!(f.read(&mut buf).await.unwrap(), 3);
    assert_eq!(f.read(&mut buf).await.unwrap(), 0);
    assert_eq!(f.write(b"x").await.unwrap_err().kind(), ErrorKind::NotOpenForWriting);
    let w = dir.open_file("short", OpenFlags::write_only()).await.unwrap();
    assert_eq!(w.read(&mut buf).await.unwrap_err().kind(), ErrorKind::NotOpenForReading);
}

async fn fs_a_dir_handle_survives_a_rename(t: Ctx) {
    let dir = t.scratch().await;
    let sub = dir.create_dir_path_open("before").await.unwrap();
    sub.write_file("one", b"1").await.unwrap();
    dir.rename("before", &dir, "after").await.unwrap();
    sub.write_file("two", b"2").await.unwrap();
    assert_eq!(dir.read_file("after/one").await.unwrap(), b"1");
    assert_eq!(dir.read_file("after/two").await.unwrap(), b"2");
    let again = dir.open_dir("after", OpenDirFlags::default()).await.unwrap();
    assert_eq!(again.read_file("two").await.unwrap(), b"2");
}

async fn fs_copy_from_another_file(t: Ctx) {
    let dir = t.scratch().await;
    let data = pattern(11, 300_000);
    dir.write_file("src", &data).await.unwrap();
    let src = dir.open_file("src", OpenFlags::default()).await.unwrap();
    let dst = dir.create_file("dst", RW).await.unwrap();
    dst.write_all(b"head:").await.unwrap();
    src.seek_to(1_000).await.unwrap();
    assert_eq!(dst.copy_from(&src).await.unwrap(), 299_000);
    let back = dir.read_file("dst").await.unwrap();
    assert_eq!(&back[..5], b"head:");
    assert_eq!(checksum(&back[5..]), checksum(&data[1_000..]));
}

async fn fs_permissions(t: Ctx) {
    let dir = t.scratch().await;
    dir.write_file("p", b"").await.unwrap();
    dir.set_permissions("p", Permissions::from_mode(0o640)).await.unwrap();
    assert_eq!(dir.stat_file("p").await.unwrap().permissions.mode() & 0o777, 0o640);
    let f = dir.open_file("p", OpenFlags::default()).await.unwrap();
    f.set_permissions(Permissions::from_mode(0o604)).await.unwrap();
    assert_eq!(f.stat().await.unwrap().permissions.mode() & 0o777, 0o604);
    assert!(Permissions::from_mode(0o444).is_read_only());
}
