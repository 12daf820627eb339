//! Loose ends of `Dir` fixed after the fact: the argument errors of `create_file_atomic` carry
//! the path joined to the directory's, as every other `Dir` error does. (The race of
//! `create_dir_path` with a file appearing, and a `readdir` error mid-batch, are unit tests in
//! `src/kqueue/fs.rs`: they need a seam inside the backend to happen on demand.)

mod fs_util;

use std::path::Path;

use fs_util::{rt, Scratch};
use kqio::fs::{AtomicFlags, ErrorKind};

#[test]
fn create_file_atomic_argument_errors_carry_the_joined_path() {
    let rt = rt();
    let io = rt.io();
    let tmp = Scratch::new("atomic-args");
    rt.block_on(async {
        let dir = tmp.dir(&io).await;
        for bad in ["", "sub/..", "a\0b"] {
            let e = dir.create_file_atomic(bad, AtomicFlags::default()).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad:?}: {e}");
            assert_eq!(e.path(), Some(tmp.join(bad).as_path()), "{bad:?}: {e}");
        }
        // An error from the system call had it already: the two agree.
        let e = dir.create_file_atomic("missing/x", AtomicFlags::default()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.path().is_some_and(|p| p.starts_with(&tmp.path)), "{e}");
        assert!(!e.path().unwrap().starts_with(Path::new("missing")));
    });
}
