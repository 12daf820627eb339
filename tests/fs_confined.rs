//! A confined `Dir` (`Dir::confine`): no path leads outside it, whatever the path, the links in
//! the tree or another thread's renames; escapes fail with `ErrorKind::PathEscapesDir`, and a
//! sentinel tree beside the confined one is checked to be untouched after every test.
//!
//! Every test runs twice: with the kernel's resolution (`openat2(RESOLVE_BENEATH)` here on
//! Linux) and with kqio's own walk (`InitOptions::confine_by_walk`), which macOS, NetBSD and
//! OpenBSD use.

mod fs_util;

use std::future::Future;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use fs_util::Scratch;
use kqio::fs::{
    Access, AtomicFlags, CreateFlags, Dir, ErrorKind, FileKind, Op, OpenDirFlags, OpenFlags,
    Permissions, SetTimestamp,
};
use kqio::time::Timestamp;
use kqio::{InitOptions, IoRef, Kqueue};

/// The tree every test starts from, under a scratch directory `base`:
///
/// ```text
/// outside/secret, outside/b/file, outside/b/victim   "SECRET" (the sentinels)
/// root/                                              the directory that is confined
/// root/a/b/file                                      "inside"
/// root/rootlink -> /
/// root/tosecret -> ../outside/secret
/// root/abssecret -> {base}/outside/secret
/// root/chain1 -> chain2,  root/chain2 -> a/chain3,  root/a/chain3 -> ../../outside
/// root/loop1 -> loop2,  root/loop2 -> loop1,  root/self -> self
/// root/in -> a/b,  root/a/up -> ../a                 links that stay inside
/// ```
struct Tree {
    scratch: Scratch,
    /// Which resolver, for messages.
    how: &'static str,
    /// The sentinels as they were made.
    before: Vec<Snapshot>,
}

/// What is checked of each path outside the confined directory.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    path: PathBuf,
    inode: u64,
    mode: u32,
    mtime: (i64, i64),
    contents: Option<Vec<u8>>,
}

impl Tree {
    fn new(test: &str, how: &'static str) -> Tree {
        let scratch = Scratch::new(&format!("confined-{test}-{how}"));
        let base = scratch.path.clone();
        let out = base.join("outside");
        std::fs::create_dir_all(out.join("b")).unwrap();
        for f in ["secret", "b/file", "b/victim"] {
            std::fs::write(out.join(f), b"SECRET").unwrap();
            std::fs::set_permissions(out.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let root = base.join("root");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/file"), b"inside").unwrap();
        let link = |target: &str, at: &str| std::os::unix::fs::symlink(target, root.join(at));
        link("/", "rootlink").unwrap();
        link("../outside/secret", "tosecret").unwrap();
        std::os::unix::fs::symlink(out.join("secret"), root.join("abssecret")).unwrap();
        link("chain2", "chain1").unwrap();
        link("a/chain3", "chain2").unwrap();
        link("../../outside", "a/chain3").unwrap();
        link("loop2", "loop1").unwrap();
        link("loop1", "loop2").unwrap();
        link("self", "self").unwrap();
        link("a/b", "in").unwrap();
        link("../a", "a/up").unwrap();
        let mut tree = Tree { scratch, how, before: Vec::new() };
        tree.before = tree.snapshot();
        tree
    }

    fn base(&self) -> &Path {
        &self.scratch.path
    }

    fn root(&self) -> PathBuf {
        self.base().join("root")
    }

    /// Everything in `base` but the confined directory's contents.
    fn snapshot(&self) -> Vec<Snapshot> {
        fn visit(p: &Path, out: &mut Vec<Snapshot>) {
            let m = std::fs::symlink_metadata(p).unwrap();
            let contents = m.is_file().then(|| std::fs::read(p).unwrap());
            out.push(Snapshot {
                path: p.to_path_buf(),
                inode: m.ino(),
                mode: m.mode(),
                mtime: (m.mtime(), m.mtime_nsec()),
                contents,
            });
            if m.is_dir() {
                let mut names: Vec<_> =
                    std::fs::read_dir(p).unwrap().map(|e| e.unwrap().path()).collect();
                names.sort();
                for n in names {
                    visit(&n, out);
                }
            }
        }
        let mut out = Vec::new();
        visit(&self.base().join("outside"), &mut out);
        let mut top: Vec<_> =
            std::fs::read_dir(self.base()).unwrap().map(|e| e.unwrap().file_name()).collect();
        top.sort();
        assert_eq!(top, ["outside", "root"], "{}: something was made beside the root", self.how);
        out
    }

    /// Panics if anything outside the confined directory changed.
    fn assert_outside_untouched(&self) {
        assert_eq!(self.snapshot(), self.before, "{}: the outside changed", self.how);
    }
}

/// Runs `body` on a fresh tree, with the kernel's resolution and then with the walk, checking
/// the outside after each.
fn both<F, Fut>(test: &str, body: F)
where
    F: Fn(IoRef, Dir, Arc<Tree>) -> Fut,
    Fut: Future<Output = ()>,
{
    for (how, walk) in [("kernel", false), ("walk", true)] {
        let rt = Kqueue::init(InitOptions {
            n_threads: Some(2),
            confine_by_walk: walk,
            ..Default::default()
        })
        .expect("init");
        let io = rt.io();
        let tree = Arc::new(Tree::new(test, how));
        let root = tree.root();
        rt.block_on(async {
            let dir = Dir::cwd(&io).open_dir(&root, OpenDirFlags::confined()).await.unwrap();
            body(io.clone(), dir, tree.clone()).await;
        });
        tree.assert_outside_untouched();
    }
}

/// Asserts `r` is a `PathEscapesDir` error of `op`.
#[track_caller]
fn escapes<T: std::fmt::Debug>(how: &str, op: Op, r: kqio::fs::Result<T>) {
    match r {
        Err(e) if e.kind() == ErrorKind::PathEscapesDir && e.op() == op => {}
        other => panic!("{how}: expected {op} to fail with PathEscapesDir, got {other:?}"),
    }
}

#[test]
fn dotdot_that_leaves_is_refused() {
    both("dotdot", |_, dir, t| async move {
        for p in ["..", "../outside/secret", "a/../../outside/secret", "a/b/../../../outside/b"] {
            escapes(t.how, Op::OpenFile, dir.open_file(p, OpenFlags::default()).await);
        }
        escapes(t.how, Op::Read, dir.read_file("./a/./../../outside/secret").await);
        // The message names the path joined to the directory's, as other errors do.
        let e = dir.open_file("../outside/secret", OpenFlags::default()).await.unwrap_err();
        assert_eq!(e.path(), Some(t.root().join("../outside/secret").as_path()));
        let text = e.to_string();
        assert!(text.contains("leads outside the confined directory"), "{text}");
        assert!(text.contains("outside/secret"), "{text}");
    });
}

#[test]
fn absolute_paths_are_refused() {
    both("absolute", |_, dir, t| async move {
        escapes(t.how, Op::OpenFile, dir.open_file("/etc/passwd", OpenFlags::default()).await);
        escapes(t.how, Op::OpenDir, dir.open_dir("/", OpenDirFlags::default()).await);
        // Even one that names a file inside: a confined path is relative, always.
        let inside = t.root().join("a/b/file");
        escapes(t.how, Op::Read, dir.read_file(&inside).await);
        escapes(t.how, Op::Stat, dir.stat_file(&inside).await);
    });
}

#[test]
fn a_symlink_to_the_root_is_refused() {
    both("rootlink", |_, dir, t| async move {
        escapes(t.how, Op::OpenDir, dir.open_dir("rootlink", OpenDirFlags::default()).await);
        escapes(
            t.how,
            Op::OpenFile,
            dir.open_file("rootlink/etc/passwd", OpenFlags::default()).await,
        );
        escapes(t.how, Op::Stat, dir.stat_file("rootlink").await);
        escapes(t.how, Op::Stat, dir.stat_file("rootlink/").await);
        // The link itself is inside: it can be looked at, not followed.
        assert_eq!(dir.stat_link("rootlink").await.unwrap().kind, FileKind::SymLink);
        assert_eq!(dir.read_link("rootlink").await.unwrap(), Path::new("/"));
    });
}

#[test]
fn a_symlink_chain_that_leaves_is_refused() {
    both("chain", |_, dir, t| async move {
        escapes(t.how, Op::OpenFile, dir.open_file("chain1/secret", OpenFlags::default()).await);
        escapes(t.how, Op::Read, dir.read_file("chain2/b/file").await);
        escapes(t.how, Op::OpenDir, dir.open_dir("chain1", OpenDirFlags::default()).await);
        escapes(t.how, Op::Read, dir.read_file("tosecret").await);
        escapes(t.how, Op::Read, dir.read_file("abssecret").await);
        escapes(t.how, Op::Stat, dir.stat_file("a/chain3").await);
    });
}

#[test]
fn symlink_loops_are_a_typed_error() {
    both("loop", |_, dir, t| async move {
        for p in ["loop1", "loop2/x", "self", "a/b/../../self"] {
            let e = dir.open_file(p, OpenFlags::default()).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::SymLinkLoop, "{}: {p}: {e}", t.how);
        }
        let e = dir.stat_file("loop1").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SymLinkLoop, "{}: {e}", t.how);
    });
}

#[test]
fn dotdot_and_links_that_stay_inside_work() {
    both("inside", |_, dir, t| async move {
        for p in [
            "a/b/file",
            "./a/./b/file",
            "a/b/../b/file",
            "a/../a/b/../../a/b/file",
            "in/file",
            "in/../b/file",
            "a/up/b/file",
            "a/up/up/up/b/file",
        ] {
            assert_eq!(dir.read_file(p).await.unwrap(), b"inside", "{}: {p}", t.how);
        }
        // A path that would leave and come back is refused: `..` is checked where it happens.
        escapes(t.how, Op::Read, dir.read_file("../root/a/b/file").await);
        assert_eq!(dir.stat_file("in").await.unwrap().kind, FileKind::Directory);
        let via = dir.open_dir("in", OpenDirFlags::default()).await.unwrap();
        assert_eq!(via.read_file("file").await.unwrap(), b"inside");
        let real = dir.real_path("in").await.unwrap();
        assert_eq!(real, std::fs::canonicalize(t.root().join("a/b")).unwrap());
        // Calls that follow a final link reach its target when it stays inside.
        dir.access("in/file", Access::READ).await.unwrap();
        dir.set_permissions("a/up/b/file", Permissions::from_mode(0o600)).await.unwrap();
        let mode = std::fs::metadata(t.root().join("a/b/file")).unwrap().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", t.how);
        let when = SetTimestamp::To(Timestamp::from_nanos(1_000_000_000));
        dir.set_timestamps("in/file", when, when).await.unwrap();
        assert_eq!(std::fs::metadata(t.root().join("a/b/file")).unwrap().mtime(), 1);
        dir.set_owner("in/file", None, None).await.unwrap();
        dir.symlink("b/file", "a/filelink").await.unwrap();
        assert_eq!(dir.stat_file("a/filelink").await.unwrap().kind, FileKind::File);
        dir.set_permissions("a/filelink", Permissions::from_mode(0o640)).await.unwrap();
        let mode = std::fs::metadata(t.root().join("a/b/file")).unwrap().mode();
        assert_eq!(mode & 0o777, 0o640, "{}", t.how);
        dir.delete_file("a/filelink").await.unwrap();
        // Creating through a dangling link that stays inside creates its target.
        dir.symlink("a/new.txt", "newlink").await.unwrap();
        dir.write_file("newlink", b"new").await.unwrap();
        assert_eq!(std::fs::read(t.root().join("a/new.txt")).unwrap(), b"new");
        // Entries of a confined subdirectory.
        let sub = dir.open_dir("a", OpenDirFlags::default()).await.unwrap();
        let mut names: Vec<_> = futures::TryStreamExt::try_collect::<Vec<_>>(sub.entries())
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.name.into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["b", "chain3", "new.txt", "up"]);
        dir.stat_file(".").await.unwrap();
        dir.stat_file("a/..").await.unwrap();
    });
}

#[test]
fn every_operation_refuses_an_escape() {
    both("every", |io, dir, t| async move {
        let how = t.how;
        let other = dir.open_dir("a", OpenDirFlags::default()).await.unwrap();
        for p in ["../outside/b/victim", "tosecret", "chain1/secret", "abssecret"] {
            // Opening, creating, reading, writing.
            escapes(how, Op::OpenFile, dir.open_file(p, OpenFlags::read_write()).await);
            escapes(how, Op::CreateFile, dir.create_file(p, CreateFlags::default()).await);
            escapes(how, Op::Read, dir.read_file(p).await);
            escapes(how, Op::Write, dir.write_file(p, b"escaped").await);
            // Looking.
            escapes(how, Op::Stat, dir.stat_file(p).await);
            escapes(how, Op::Access, dir.access(p, Access::EXISTS).await);
            escapes(how, Op::RealPath, dir.real_path(p).await);
            // Changing what it points at.
            let perms = Permissions::from_mode(0o600);
            escapes(how, Op::SetPermissions, dir.set_permissions(p, perms).await);
            escapes(how, Op::SetOwner, dir.set_owner(p, None, None).await);
            let epoch = SetTimestamp::To(Timestamp::from_nanos(0));
            escapes(how, Op::SetTimestamps, dir.set_timestamps(p, epoch, epoch).await);
        }
        for p in ["../outside/b/victim", "chain1/b/victim", "rootlink/tmp/x", "tosecret/.."] {
            escapes(how, Op::DeleteFile, dir.delete_file(p).await);
            escapes(how, Op::DeleteDir, dir.delete_dir(p).await);
            escapes(how, Op::DeleteTree, dir.delete_tree(p).await);
            escapes(how, Op::Stat, dir.stat_link(p).await);
            escapes(how, Op::ReadLink, dir.read_link(p).await);
            escapes(how, Op::CreateDir, dir.create_dir(p).await);
            escapes(how, Op::CreateDirPath, dir.create_dir_path(p).await);
            escapes(how, Op::OpenDir, dir.open_dir(p, OpenDirFlags::default()).await);
            escapes(how, Op::Symlink, dir.symlink("a", p).await);
            // Both sides of a rename and a hard link, and a destination in another confined
            // directory that would leave that one.
            escapes(how, Op::Rename, dir.rename(p, &dir, "a/moved").await);
            escapes(how, Op::Rename, dir.rename("a/b/file", &dir, p).await);
            escapes(how, Op::HardLink, dir.hard_link(p, &dir, "a/linked").await);
            escapes(how, Op::HardLink, dir.hard_link("a/b/file", &dir, p).await);
        }
        for p in ["../outside/b/victim", "chain1/b/victim", "rootlink/tmp/x"] {
            // The temporary file goes beside the destination: outside, so refused.
            escapes(how, Op::CreateFile, dir.create_file_atomic(p, AtomicFlags::default()).await);
        }
        escapes(how, Op::DeleteTree, dir.delete_tree("../outside").await);
        escapes(how, Op::CreateDirPath, dir.create_dir_path("a/../../outside/made/deep").await);
        escapes(how, Op::Rename, dir.rename("a/b/file", &other, "../b/renamed").await);
        escapes(how, Op::HardLink, dir.hard_link("a/b/file", &other, "../b/linked").await);
        // A directory opened from a confined one is confined beneath itself.
        escapes(how, Op::Read, other.read_file("../a/b/file").await);
        escapes(how, Op::Read, other.read_file("up/b/file").await);
        assert_eq!(other.read_file("b/file").await.unwrap(), b"inside");
        // A link may point outside (its target is data), but nothing confined follows it.
        dir.symlink(t.base().join("outside/secret"), "evil").await.unwrap();
        escapes(how, Op::Read, dir.read_file("evil").await);
        // Operations on a last component that do not follow it act on the link, inside.
        dir.rename("tosecret", &dir, "a/tosecret").await.unwrap();
        dir.hard_link("a/tosecret", &dir, "tosecret2").await.unwrap();
        assert_eq!(dir.stat_link("tosecret2").await.unwrap().kind, FileKind::SymLink);
        dir.delete_file("a/tosecret").await.unwrap();
        dir.delete_tree("tosecret2").await.unwrap();
        dir.delete_tree("chain1").await.unwrap();
        // Nothing of the above made anything in the confined directory either.
        for p in ["a/moved", "a/linked", "a/b/renamed", "b", "made"] {
            assert!(!t.root().join(p).exists(), "{how}: {p} was made");
        }
        // The confined current directory.
        let cwd = Dir::cwd(&io).confine().unwrap();
        assert!(cwd.stat_file("Cargo.toml").await.unwrap().kind == FileKind::File);
        escapes(how, Op::Read, cwd.read_file("/etc/passwd").await);
        escapes(how, Op::Stat, cwd.stat_file("..").await);
    });
}

#[test]
fn plain_dirs_are_not_confined() {
    // The same paths from a `Dir` opened without confinement reach outside: the tree really
    // offers the escapes the other tests see refused.
    both("plain", |io, _, t| async move {
        let plain = Dir::cwd(&io).open_dir(t.root(), OpenDirFlags::default()).await.unwrap();
        assert_eq!(plain.read_file("../outside/secret").await.unwrap(), b"SECRET");
        assert_eq!(plain.read_file("tosecret").await.unwrap(), b"SECRET");
        assert_eq!(plain.read_file("chain1/b/file").await.unwrap(), b"SECRET");
        assert!(plain.stat_file("rootlink/").await.unwrap().is_dir());
        // And confining it afterwards leaves the original as it was.
        let confined = plain.confine().unwrap();
        escapes(t.how, Op::Read, confined.read_file("tosecret").await);
        assert_eq!(plain.read_file("tosecret").await.unwrap(), b"SECRET");
    });
}

/// Iterations of the race loop at least, and more until both outcomes were seen.
const RACE_MIN_ITERATIONS: usize = 2000;
/// The most iterations before the race test gives up seeing both outcomes.
const RACE_MAX_ITERATIONS: usize = 200_000;

#[test]
fn race_renames_and_symlink_swaps_never_lead_outside() {
    both("race", |_, dir, t| async move {
        let how = t.how;
        let root = t.root();
        let inode = std::fs::metadata(root.join("a/b/file")).unwrap().ino();
        let stop = Arc::new(AtomicBool::new(false));
        // Another thread keeps replacing `a`, then `a/b`, by a link out of the tree (one
        // relative, one absolute), and putting them back.
        let attacker = {
            let (stop, root, out) = (stop.clone(), root.clone(), t.base().join("outside"));
            std::thread::spawn(move || {
                let mut swaps = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let (a, a_moved) = (root.join("a"), root.join("a.moved"));
                    std::fs::rename(&a, &a_moved).unwrap();
                    std::os::unix::fs::symlink("../outside", &a).unwrap();
                    std::fs::remove_file(&a).unwrap();
                    std::os::unix::fs::symlink(&out, &a).unwrap();
                    std::fs::remove_file(&a).unwrap();
                    std::fs::rename(&a_moved, &a).unwrap();
                    let (b, b_moved) = (root.join("a/b"), root.join("a/b.moved"));
                    std::fs::rename(&b, &b_moved).unwrap();
                    std::os::unix::fs::symlink("../../outside/b", &b).unwrap();
                    std::fs::remove_file(&b).unwrap();
                    std::fs::rename(&b_moved, &b).unwrap();
                    swaps += 1;
                }
                swaps
            })
        };
        let (mut ok, mut refused, mut missing) = (0usize, 0usize, 0usize);
        let mut i = 0;
        while i < RACE_MIN_ITERATIONS || ok == 0 || refused == 0 {
            assert!(i < RACE_MAX_ITERATIONS, "{how}: ok {ok}, refused {refused} after {i}");
            let mut tally = |r: Result<(), kqio::fs::Error>| match r {
                Ok(()) => ok += 1,
                Err(e) if e.kind() == ErrorKind::PathEscapesDir => refused += 1,
                // `a` or `a/b` moved away, or `made` left by an iteration that lost it.
                Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::AlreadyExists) => {
                    missing += 1
                }
                Err(e) => panic!("{how}: an error that is neither: {e}"),
            };
            tally(dir.read_file("a/b/file").await.map(|c| assert_eq!(c, b"inside", "{how}")));
            tally(dir.write_file("a/b/file", b"inside").await);
            tally(dir.stat_file("a/b/file").await.map(|m| assert_eq!(m.inode, inode, "{how}")));
            tally(match dir.open_dir("a/b", OpenDirFlags::default()).await {
                Ok(b) => b.read_file("file").await.map(|c| assert_eq!(c, b"inside", "{how}")),
                Err(e) => Err(e),
            });
            tally(dir.set_timestamps("a/b/file", SetTimestamp::Now, SetTimestamp::Now).await);
            tally(dir.create_dir("a/b/made").await);
            tally(dir.delete_dir("a/b/made").await);
            tally(dir.delete_file("a/b/victim").await);
            i += 1;
        }
        stop.store(true, Ordering::Relaxed);
        let swaps = attacker.join().unwrap();
        eprintln!(
            "{how}: {i} iterations, {swaps} swaps: ok {ok}, refused {refused}, not found {missing}"
        );
    });
}
