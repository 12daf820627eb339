//! `kqio::fs::Dir`: creating, opening, stating, listing (a 10,000-entry directory, entry
//! kinds), deleting (files, empty directories, nested trees without following links), renaming,
//! links, permissions, owner, timestamps, atomic files (dropped and committed), the capability
//! semantics (a `Dir` keeps working after its directory is renamed), and the typed errors of
//! every operation for every bad input (missing path, file where a directory is expected, empty
//! path, NUL byte, name too long), with the path in the message.

mod fs_util;

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use fs_util::{eventually, rt, Scratch};
use futures::{StreamExt, TryStreamExt};
use kqio::fs::{
    Access, AtomicFlags, CreateFlags, Dir, DirEntry, Error, ErrorKind, FileKind, Op, OpenDirFlags,
    OpenFlags, Permissions, SetTimestamp,
};
use kqio::time::{Duration, Timestamp};

/// Compile-time checks: the fs types can cross threads and be shared (a `File` is used through
/// `&self` by several tasks).
#[allow(dead_code)]
fn fs_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Dir>();
    send_sync::<kqio::fs::File>();
    send_sync::<kqio::fs::AtomicFile>();
    send_sync::<kqio::fs::MemoryMap>();
    send_sync::<Error>();
    send::<kqio::fs::ReadDir>();
}

fn names(entries: &[DirEntry]) -> Vec<String> {
    let mut v: Vec<String> =
        entries.iter().map(|e| e.name.to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn create_dir_and_create_dir_path() {
    let rt = rt();
    let io = rt.io();
    let tmp = Scratch::new("dir-create");
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        dir.create_dir("one").await.unwrap();
        assert!(tmp.join("one").is_dir());
        let e = dir.create_dir("one").await.unwrap_err();
        assert_eq!((e.kind(), e.op()), (ErrorKind::AlreadyExists, Op::CreateDir));
        let e = dir.create_dir("missing/two").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);

        // mkdir -p: true when it created, false when it was there.
        assert!(dir.create_dir_path("a/b/c/d").await.unwrap());
        assert!(tmp.join("a/b/c/d").is_dir());
        assert!(!dir.create_dir_path("a/b/c/d").await.unwrap());
        assert!(!dir.create_dir_path("a/b").await.unwrap());
        assert!(dir.create_dir_path("a/b/e").await.unwrap());
        assert!(!dir.create_dir_path(".").await.unwrap());
        // A trailing slash is the same directory.
        assert!(!dir.create_dir_path("a/b/e/").await.unwrap());
        // Absolute paths work from any Dir.
        let abs = tmp.join("abs/x");
        assert!(Dir::cwd(&io).create_dir_path(&abs).await.unwrap());
        assert!(abs.is_dir());

        // A file in the way.
        dir.write_file("file", b"").await.unwrap();
        let e = dir.create_dir_path("file").await.unwrap_err();
        assert_eq!((e.kind(), e.op()), (ErrorKind::NotDir, Op::CreateDirPath));
        let e = dir.create_dir_path("file/sub/deeper").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotDir);

        // Create and open.
        let sub = dir.create_dir_path_open("p/q").await.unwrap();
        sub.write_file("inside", b"1").await.unwrap();
        assert_eq!(std::fs::read(tmp.join("p/q/inside")).unwrap(), b"1");
        let again = dir.create_dir_path_open("p/q").await.unwrap();
        assert_eq!(again.read_file("inside").await.unwrap(), b"1");
    });
}

#[test]
fn open_dir_stat_access() {
    let rt = rt();
    let io = rt.io();
    let tmp = Scratch::new("dir-stat");
    std::fs::create_dir(tmp.join("sub")).unwrap();
    std::fs::write(tmp.join("sub/f"), b"12345").unwrap();
    std::os::unix::fs::symlink("sub", tmp.join("link")).unwrap();
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        let st = dir.stat().await.unwrap();
        assert!(st.is_dir());
        assert_eq!(st.inode, std::os::unix::fs::MetadataExt::ino(&tmp.path.metadata().unwrap()));

        let sub = dir.open_dir("sub", OpenDirFlags::default()).await.unwrap();
        assert_eq!(sub.stat().await.unwrap().kind, FileKind::Directory);
        let f = sub.stat_file("f").await.unwrap();
        assert_eq!((f.kind, f.size), (FileKind::File, 5));
        assert_eq!(dir.stat_file("sub/f").await.unwrap().inode, f.inode);

        // Symbolic links: followed by default, not by `stat_link` nor with follow_symlinks off.
        assert_eq!(dir.stat_file("link").await.unwrap().kind, FileKind::Directory);
        assert_eq!(dir.stat_link("link").await.unwrap().kind, FileKind::SymLink);
        let via_link = dir.open_dir("link", OpenDirFlags::default()).await.unwrap();
        assert_eq!(via_link.read_file("f").await.unwrap(), b"12345");
        let flags = OpenDirFlags { follow_symlinks: false, ..Default::default() };
        let e = dir.open_dir("link", flags).await.unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::SymLinkLoop | ErrorKind::NotDir), "{e}");

        // The current directory.
        let cwd = Dir::cwd(&io);
        assert!(cwd.stat().await.unwrap().is_dir());
        assert!(cwd.stat_file(&tmp.path).await.unwrap().is_dir());

        dir.access("sub/f", Access::EXISTS).await.unwrap();
        dir.access("sub/f", Access::READ).await.unwrap();
        dir.access("sub/f", Access::WRITE).await.unwrap();
        dir.access("sub", Access { read: true, write: true, execute: true }).await.unwrap();
        let e = dir.access("nope", Access::EXISTS).await.unwrap_err();
        assert_eq!((e.kind(), e.op()), (ErrorKind::NotFound, Op::Access));
        // SAFETY: `geteuid` touches no memory of ours.
        if unsafe { libc::geteuid() } != 0 {
            std::fs::set_permissions(
                tmp.join("sub/f"),
                std::os::unix::fs::PermissionsExt::from_mode(0o400),
            )
            .unwrap();
            let e = dir.access("sub/f", Access::WRITE).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        }
    });
}

#[test]
fn create_file_truncate_and_exclusive_and_open_file() {
    let rt = rt();
    let io = rt.io();
    let tmp = Scratch::new("dir-create-file");
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        let f = dir.create_file("f", CreateFlags::default()).await.unwrap();
        f.write_all(b"hello world").await.unwrap();
        drop(f);
        // Without truncation the bytes stay (and are overwritten from the start).
        let keep = CreateFlags { truncate: false, ..CreateFlags::default() };
        let f = dir.create_file("f", keep).await.unwrap();
        f.write_all(b"J").await.unwrap();
        drop(f);
        assert_eq!(dir.read_file("f").await.unwrap(), b"Jello world");
        // Truncation (the default) empties it.
        drop(dir.create_file("f", CreateFlags::default()).await.unwrap());
        assert_eq!(dir.read_file("f").await.unwrap(), b"");
        // Exclusive: only a new file.
        let excl = CreateFlags { exclusive: true, ..CreateFlags::default() };
        let e = dir.create_file("f", excl).await.unwrap_err();
        assert_eq!((e.kind(), e.op()), (ErrorKind::AlreadyExists, Op::CreateFile));
        drop(dir.create_file("g", excl).await.unwrap());
        // Permissions of a new file (less the umask, which never removes owner bits).
        let private = CreateFlags { permissions: Permissions::from_mode(0o600), ..excl };
        drop(dir.create_file("h", private).await.unwrap());
        assert_eq!(dir.stat_file("h").await.unwrap().permissions, Permissions::from_mode(0o600));

        // open_file of a directory for writing, of a missing file.
        dir.create_dir("d").await.unwrap();
        let e = dir.open_file("d", OpenFlags::read_write()).await.unwrap_err();
        assert_eq!((e.kind(), e.op()), (ErrorKind::IsDir, Op::OpenFile));
        let e = dir.create_file("d", CreateFlags::default()).await.unwrap_err();
        assert_eq!((e.kind(), e.op()), (ErrorKind::IsDir, Op::CreateFile));
        let e = dir.open_file("missing", OpenFlags::default()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);

        // A symbolic link is refused with follow_symlinks off.
        dir.symlink("g", "to-g").await.unwrap();
        drop(dir.open_file("to-g", OpenFlags::default()).await.unwrap());
        let nofollow = OpenFlags { follow_symlinks: false, ..OpenFlags::default() };
        let e = dir.open_file("to-g", nofollow).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SymLinkLoop, "{e}");

        // read_file / write_file round trip.
        dir.write_file("w", b"whole").await.unwrap();
        assert_eq!(dir.read_file("w").await.unwrap(), b"whole");
        dir.write_file("w", b"x").await.unwrap();
        assert_eq!(dir.read_file("w").await.unwrap(), b"x");
    });
}

/// An uncommitted atomic file leaves nothing behind and the destination untouched; a committed
/// one replaces the destination all at once.
#[test]
fn atomic_file_dropped_and_committed() {
    let rt = rt();
    let io = rt.io();
    let tmp = Scratch::new("dir-atomic");
    std::fs::write(tmp.join("config"), b"old").unwrap();
    rt.block_on(async {
        let dir = tmp.dir(&io).await;

        // Dropped: the temporary goes, the old file stays.
        let f = dir.create_file_atomic("config", AtomicFlags::default()).await.unwrap();
        let tmp_name = f.temporary_path().to_path_buf();
        assert!(tmp.join(&tmp_name).exists());
        assert_ne!(tmp_name, Path::new("config"));
        f.write_all(b"half-written").await.unwrap();
        drop(f);
    });
    eventually("the temporary file is deleted", || {
        std::fs::read_dir(&tmp.path).unwrap().count() == 1
    });
    assert_eq!(std::fs::read(tmp.join("config")).unwrap(), b"old");

    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        // Committed: replaces the destination; the temporary is gone.
        let mut f = dir.create_file_atomic("config", AtomicFlags::default()).await.unwrap();
        f.write_all(b"new contents").await.unwrap();
        futures::io::AsyncWriteExt::write_all(&mut *f, b" + streamed").await.unwrap();
        assert_eq!(dir.read_file("config").await.unwrap(), b"old", "not before commit");
        f.commit().await.unwrap();
        assert_eq!(dir.read_file("config").await.unwrap(), b"new contents + streamed");
        // A new destination (no file there before), in a subdirectory, with permissions.
        dir.create_dir("sub").await.unwrap();
        let flags = AtomicFlags { permissions: Permissions::from_mode(0o600), read: true };
        let f = dir.create_file_atomic("sub/fresh", flags).await.unwrap();
        f.write_all(b"fresh").await.unwrap();
        let mut back = [0u8; 5];
        assert_eq!(f.read_at(&mut back, 0).await.unwrap(), 5);
        f.commit().await.unwrap();
        let st = dir.stat_file("sub/fresh").await.unwrap();
        assert_eq!((st.size, st.permissions), (5, Permissions::from_mode(0o600)));

        // Bad destinations.
        let e = dir.create_file_atomic("", AtomicFlags::default()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let e = dir.create_file_atomic("sub/..", AtomicFlags::default()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let e = dir.create_file_atomic("missing/x", AtomicFlags::default()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
    });
    let mut left: Vec<_> =
        std::fs::read_dir(&tmp.path).unwrap().map(|e| e.unwrap().file_name()).collect();
    left.sort();
    assert_eq!(left, [OsString::from("config"), OsString::from("sub")]);
    assert_eq!(std::fs::read_dir(tmp.join("sub")).unwrap().count(), 1);
}

/// A `Dir` is a capability: it names the same directory after the directory is renamed (and
/// after a new directory takes its old name).
#[test]
fn a_dir_keeps_working_after_its_tree_is_renamed() {
    let rt = rt();
    let io = rt.io();
    let tmp = Scratch::new("dir-capability");
    std::fs::create_dir_all(tmp.join("tree/inner")).unwrap();
    std::fs::write(tmp.join("tree/inner/x"), b"x").unwrap();
    rt.block_on(async {
        let base = tmp.dir(&io).await;
        let tree = base.open_dir("tree", Default::default()).await.unwrap();
        let inner = tree.open_dir("inner", Default::default()).await.unwrap();
        base.rename("tree", &base, "moved").await.unwrap();
        std::fs::create_dir(tmp.join("tree")).unwrap(); // An impostor under the old name.

        assert_eq!(inner.read_file("x").await.unwrap(), b"x");
        inner.write_file("y", b"y").await.unwrap();
        tree.create_dir("made-after").await.unwrap();
        assert_eq!(std::fs::read(tmp.join("moved/inner/y")).unwrap(), b"y");
        assert!(tmp.join("moved/made-after").is_dir());
        assert!(!tmp.join("tree/made-after").exists());
        assert_eq!(std::fs::read_dir(tmp.join("tree")).unwrap().count(), 0);
        let real = tree.real_path(".").await.unwrap();
        assert_eq!(real, std::fs::canonicalize(tmp.join("moved")).unwrap());
        let listed = names(&tree.entries().try_collect::<Vec<_>>().await.unwrap());
        assert_eq!(listed, ["inner", "made-after"]);
    });
}

/// A directory of 10,000 entries is listed exactly once each, in batches.
#[test]
fn read_a_directory_of_ten_thousand_entries() {
    let rt = rt();
    let io = rt.io();
    let tmp = Scratch::new("dir-10k");
    for i in 0..10_000 {
        std::fs::File::create(tmp.join(format!("entry-{i:05}"))).unwrap();
    }
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        let mut seen = HashSet::new();
        let mut entries = dir.entries();
        while let Some(e) = entries.next_entry().await {
            let e = e.unwrap();
            assert_eq!(e.kind, FileKind::File);
            assert!(e.inode != 0);
            assert!(seen.insert(e.name), "listed twice");
        }
        assert_eq!(seen.len(), 10_000);
        for i in 0..10_000 {
            assert!(seen.contains(&OsString::from(format!("entry-{i:05}"))));
        }
        // The stream stays ended.
        assert!(entries.next().await.is_none());
        // Two listings at once do not share a position.
        let (a, b) = futures::join!(dir.entries().count(), dir.entries().count());
        assert_eq!((a, b), (10_000, 10_000));
    });
}

/// Entry kinds, from the directory itself (never `.` or `..`).
#[test]
fn entries_have_kinds() {
    let rt = rt();
    let io = rt.io();
    let tmp = Scratch::new("dir-kinds");
    std::fs::write(tmp.join("file"), b"").unwrap();
    std::fs::create_dir(tmp.join("dir")).unwrap();
    std::os::unix::fs::symlink("file", tmp.join("link")).unwrap();
    std::os::unix::fs::symlink("nowhere", tmp.join("dangling")).unwrap();
    let fifo = std::ffi::CString::new(tmp.join("fifo").into_os_string().into_encoded_bytes());
    // SAFETY: a NUL-terminated path; `mkfifo` touches nothing else.
    assert_eq!(unsafe { libc::mkfifo(fifo.unwrap().as_ptr(), 0o600) }, 0);
    let _sock = std::os::unix::net::UnixListener::bind(tmp.join("sock")).unwrap();
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        let mut got: Vec<(String, FileKind)> = dir
            .entries()
            .map_ok(|e| (e.name.into_string().unwrap(), e.kind))
            .try_collect()
            .await
            .unwrap();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            got,
            [
                ("dangling".to_owned(), FileKind::SymLink),
                ("dir".to_owned(), FileKind::Directory),
                ("fifo".to_owned(), FileKind::NamedPipe),
                ("file".to_owned(), FileKind::File),
                ("link".to_owned(), FileKind::SymLink),
                ("sock".to_owned(), FileKind::UnixDomainSocket),
            ]
        );
        // An empty directory: an empty stream.
        let empty = dir.open_dir("dir", Default::default()).await.unwrap();
        assert_eq!(empty.entries().count().await, 0);
    });
}

/// `delete_tree` removes a nested tree without following symbolic links out of it; a missing
/// path is success; a file is deleted.
#[test]
fn delete_tree_of_a_nested_tree() {
    let rt = rt();
    let io = rt.io();
    let tmp = Scratch::new("dir-delete-tree");
    let outside = tmp.join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("keep"), b"keep").unwrap();
    let mut p = tmp.join("tree");
    for depth in 0..6 {
        std::fs::create_dir_all(&p).unwrap();
        for i in 0..5 {
            std::fs::write(p.join(format!("f{i}")), vec![depth as u8; 100]).unwrap();
        }
        std::fs::create_dir(p.join("empty")).unwrap();
        std::os::unix::fs::symlink(&outside, p.join("link-out")).unwrap();
        p = p.join(format!("level{depth}"));
    }
    // More entries in one directory than one pass of `delete_tree` reads (1,024).
    std::fs::create_dir(tmp.join("tree/wide")).unwrap();
    for i in 0..2500 {
        std::fs::write(tmp.join(format!("tree/wide/{i}")), b"").unwrap();
    }
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        dir.delete_tree("tree").await.unwrap();
        assert!(!tmp.join("tree").exists());
        assert_eq!(std::fs::read(outside.join("keep")).unwrap(), b"keep");
        // Missing: success.
        dir.delete_tree("tree").await.unwrap();
        dir.delete_tree("nope/deeper").await.unwrap();
        // A file, a symbolic link (not its target).
        dir.write_file("lone", b"").await.unwrap();
        dir.delete_tree("lone").await.unwrap();
        dir.symlink(&outside, "ln").await.unwrap();
        dir.delete_tree("ln").await.unwrap();
        assert!(outside.join("keep").exists());
        // Through an absolute path from the current directory.
        std::fs::create_dir_all(tmp.join("abs/a/b")).unwrap();
        Dir::cwd(&io).delete_tree(tmp.join("abs")).await.unwrap();
        assert!(!tmp.join("abs").exists());
        // A file where a parent directory is expected.
        dir.write_file("f", b"").await.unwrap();
        let e = dir.delete_tree("f/x").await.unwrap_err();
        assert_eq!((e.kind(), e.op()), (ErrorKind::NotDir, Op::DeleteTree));
    });
}

#[test]
fn delete_file_and_delete_dir() {
    let rt = rt();
    let io = rt.io();
    let tmp = Scratch::new("dir-delete");
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        dir.write_file("f", b"").await.unwrap();
        dir.create_dir_path("d/inner").await.unwrap();

        dir.delete_file("f").await.unwrap();
        let e = dir.delete_file("f").await.unwrap_err();
        assert_eq!((e.kind(), e.op()), (ErrorKind::NotFound, Op::DeleteFile));
        let e = dir.delete_file("d").await.unwrap_err();
        // Linux says EISDIR; macOS and the BSDs EPERM.
        assert!(matches!(e.kind(), ErrorKind::IsDir | ErrorKind::PermissionDenied), "{e}");

        let e = dir.delete_dir("d").await.unwrap_err();
        assert_eq!((e.kind(), e.op()), (ErrorKind::DirNotEmpty, Op::DeleteDir));
        dir.delete_dir("d/inner").await.unwrap();
        dir.delete_dir("d").await.unwrap();
        dir.write_file("g", b"").await.unwrap();
        let e = dir.delete_dir("g").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotDir);
        let e = dir.delete_dir("d").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
    });
}

#[test]
fn rename_symlink_read_link_hard_link() {
    let rt = rt();
    let io = rt.io();
    let tmp = Scratch::new("dir-links");
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        let other = dir.create_dir_path_open("other").await.unwrap();
        dir.write_file("a", b"A").await.unwrap();
        dir.write_file("b", b"B").await.unwrap();

        // Within one directory, replacing a file.
        dir.rename("a", &dir, "b").await.unwrap();
        assert_eq!(dir.read_file("b").await.unwrap(), b"A");
        assert_eq!(dir.stat_file("a").await.unwrap_err().kind(), ErrorKind::NotFound);
        // Across directories.
        dir.rename("b", &other, "c").await.unwrap();
        assert_eq!(std::fs::read(tmp.join("other/c")).unwrap(), b"A");
        let e = dir.rename("b", &other, "c").await.unwrap_err();
        assert_eq!((e.kind(), e.op()), (ErrorKind::NotFound, Op::Rename));
        // A directory over a non-empty directory.
        dir.create_dir_path("x/full").await.unwrap();
        dir.create_dir("y").await.unwrap();
        let e = dir.rename("y", &dir, "x").await.unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::DirNotEmpty | ErrorKind::AlreadyExists), "{e}");
        // A file over a directory.
        let e = other.rename("c", &dir, "y").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::IsDir);

        // Symbolic links: the target is stored as given.
        dir.symlink("other/c", "sym").await.unwrap();
        assert_eq!(dir.read_link("sym").await.unwrap(), PathBuf::from("other/c"));
        assert_eq!(dir.read_file("sym").await.unwrap(), b"A");
        let long_target = "t".repeat(600);
        dir.symlink(&long_target, "long").await.unwrap();
        assert_eq!(dir.read_link("long").await.unwrap(), PathBuf::from(&long_target));
        let e = dir.symlink("anything", "sym").await.unwrap_err();
        assert_eq!((e.kind(), e.op()), (ErrorKind::AlreadyExists, Op::Symlink));
        let e = dir.read_link("y").await.unwrap_err();
        assert_eq!((e.kind(), e.op()), (ErrorKind::InvalidInput, Op::ReadLink));

        // Hard links: one inode, two names.
        other.hard_link("c", &dir, "hard").await.unwrap();
        let (h, c) = (dir.stat_file("hard").await.unwrap(), other.stat_file("c").await.unwrap());
        assert_eq!((h.inode, h.nlink), (c.inode, 2));
        let e = dir.hard_link("missing", &dir, "h2").await.unwrap_err();
        assert_eq!((e.kind(), e.op()), (ErrorKind::NotFound, Op::HardLink));
        let e = other.hard_link("c", &dir, "hard").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
    });
}

#[test]
fn set_permissions_owner_timestamps_and_real_path() {
    let rt = rt();
    let io = rt.io();
    let tmp = Scratch::new("dir-meta");
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        dir.write_file("f", b"").await.unwrap();
        dir.set_permissions("f", Permissions::from_mode(0o604)).await.unwrap();
        assert_eq!(dir.stat_file("f").await.unwrap().permissions.mode(), 0o604);
        dir.create_dir("d").await.unwrap();
        dir.set_permissions("d", Permissions::from_mode(0o750)).await.unwrap();
        assert_eq!(dir.stat_file("d").await.unwrap().permissions.mode(), 0o750);

        // SAFETY: `getuid` and `getgid` touch no memory of ours.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        dir.set_owner("f", Some(uid), Some(gid)).await.unwrap();
        dir.set_owner("f", None, Some(gid)).await.unwrap();
        dir.set_owner("f", Some(uid), None).await.unwrap();
        let st = dir.stat_file("f").await.unwrap();
        assert_eq!((st.uid, st.gid), (uid, gid));

        let old = dir.stat_file("f").await.unwrap();
        let five = Duration::from_secs(5);
        dir.set_timestamps(
            "f",
            SetTimestamp::To(old.atime - five),
            SetTimestamp::To(old.mtime - five),
        )
        .await
        .unwrap();
        let new = dir.stat_file("f").await.unwrap();
        assert_eq!((new.atime, new.mtime), (old.atime - five, old.mtime - five));
        let t = Timestamp::from_nanos(1_234_567_890_123_456_789);
        dir.set_timestamps("f", SetTimestamp::Unchanged, SetTimestamp::To(t)).await.unwrap();
        let st = dir.stat_file("f").await.unwrap();
        assert_eq!((st.atime, st.mtime), (old.atime - five, t));

        let real = dir.real_path("f").await.unwrap();
        assert_eq!(real, std::fs::canonicalize(tmp.join("f")).unwrap());
        assert!(real.is_absolute());
        dir.symlink("d", "to-d").await.unwrap();
        assert_eq!(
            dir.real_path("to-d").await.unwrap(),
            std::fs::canonicalize(tmp.join("d")).unwrap()
        );
        assert_eq!(dir.real_path(".").await.unwrap(), std::fs::canonicalize(&tmp.path).unwrap());
        let e = dir.real_path("nope").await.unwrap_err();
        assert_eq!((e.kind(), e.op()), (ErrorKind::NotFound, Op::RealPath));
    });
}

/// Every path-taking operation refuses an empty path and a NUL byte before any job, and reports
/// a missing path, a file where a directory is expected and an over-long name with their kinds;
/// every message names the operation and the path.
#[test]
fn errors_for_each_bad_input() {
    let rt = rt();
    let io = rt.io();
    let tmp = Scratch::new("dir-errors");
    std::fs::write(tmp.join("file"), b"").unwrap();
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        let long = "n".repeat(300);
        let cases: Vec<(&str, ErrorKind)> = vec![
            ("", ErrorKind::InvalidInput),
            ("with\0nul", ErrorKind::InvalidInput),
            ("missing/x", ErrorKind::NotFound),
            ("file/x", ErrorKind::NotDir),
            (&long, ErrorKind::NameTooLong),
        ];
        for (path, want) in cases {
            let shown = if path.len() > 20 { &path[..20] } else { path };
            let check = |op: Op, r: Result<(), Error>| {
                let e = r.expect_err(&format!("{op} {shown:?} succeeded"));
                assert_eq!(e.op(), op, "{e}");
                assert_eq!(e.kind(), want, "{op} {shown:?}: {e}");
                let msg = e.to_string();
                assert!(msg.starts_with(&op.to_string()), "{msg}");
                // The path is in the message (`{:?}` of it, so a NUL shows as `\0`).
                let shown_in_msg = format!("{:?}", Path::new(path)).trim_matches('"').to_owned();
                assert!(msg.contains(&shown_in_msg), "{msg} lacks {shown_in_msg}");
                assert_eq!(e.path().map(|p| p.ends_with(path)), Some(true), "{e:?}");
            };
            let d = &dir;
            check(Op::OpenFile, d.open_file(path, OpenFlags::default()).await.map(drop));
            check(Op::CreateFile, d.create_file(path, CreateFlags::default()).await.map(drop));
            check(Op::OpenDir, d.open_dir(path, OpenDirFlags::default()).await.map(drop));
            check(Op::CreateDir, d.create_dir(path).await);
            check(Op::Stat, d.stat_file(path).await.map(drop));
            check(Op::Stat, d.stat_link(path).await.map(drop));
            check(Op::Access, d.access(path, Access::EXISTS).await);
            check(Op::RealPath, d.real_path(path).await.map(drop));
            check(Op::DeleteFile, d.delete_file(path).await);
            check(Op::DeleteDir, d.delete_dir(path).await);
            check(Op::Rename, d.rename(path, d, "elsewhere").await);
            check(Op::ReadLink, d.read_link(path).await.map(drop));
            check(Op::HardLink, d.hard_link(path, d, "elsewhere").await);
            check(Op::SetPermissions, d.set_permissions(path, Permissions::DEFAULT_FILE).await);
            check(Op::SetOwner, d.set_owner(path, None, None).await);
            let keep = SetTimestamp::Unchanged;
            check(Op::SetTimestamps, d.set_timestamps(path, keep, SetTimestamp::Now).await);
            check(Op::Read, d.read_file(path).await.map(drop));
            check(Op::Write, d.write_file(path, b"").await);
            check(Op::Symlink, d.symlink("target", path).await);
            if want != ErrorKind::NotFound {
                // mkdir -p creates missing parents; delete_tree calls a missing path done.
                check(Op::CreateDirPath, d.create_dir_path(path).await.map(drop));
                check(Op::DeleteTree, d.delete_tree(path).await);
            }
            let e = d.create_file_atomic(path, AtomicFlags::default()).await.unwrap_err();
            assert_eq!(e.kind(), want, "atomic {shown:?}: {e}");
        }
        // A file where a directory is expected, as the last component.
        let e = dir.open_dir("file", OpenDirFlags::default()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotDir);
        assert!(e.to_string().contains("file\""), "{e}");
        // An error converts into an `io::Error` that keeps the message.
        let io_err: std::io::Error = e.into();
        assert!(io_err.to_string().contains("open dir"), "{io_err}");
        assert_eq!(io_err.kind(), std::io::ErrorKind::NotADirectory);
    });
    // Nothing was created by the failing calls.
    let mut left: Vec<_> =
        std::fs::read_dir(&tmp.path).unwrap().map(|e| e.unwrap().file_name()).collect();
    left.sort();
    assert_eq!(left, [OsString::from("file")]);
}

/// The error kinds' messages for the kinds not reached above, and `Display` without a path.
#[test]
fn error_display() {
    let e = Error::new(Op::Sync, None, std::io::Error::from_raw_os_error(libc::ENOSPC));
    assert_eq!(e.kind(), ErrorKind::NoSpace);
    assert_eq!(e.to_string(), format!("sync: no space left (os error {})", libc::ENOSPC));
    let e = Error::new(Op::Write, Some(Path::new("p")), std::io::Error::from(kqio::Canceled));
    assert!(e.is_canceled());
    let back: std::io::Error = e.into();
    assert!(kqio::Canceled::is_canceled(&back));
    let e = Error::new(
        Op::Rename,
        Some(Path::new("a b")),
        std::io::Error::from_raw_os_error(libc::EXDEV),
    );
    assert_eq!(e.kind(), ErrorKind::CrossDevice);
    assert_eq!(
        e.to_string(),
        format!("rename \"a b\": across file systems (os error {})", libc::EXDEV)
    );
    assert_eq!(e.raw_os_error(), Some(libc::EXDEV));
}
