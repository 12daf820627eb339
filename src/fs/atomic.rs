//! `AtomicFile`: replace a file all at once (Zig `Dir.createFileAtomic`, `AtomicFile`).
//!
//! Ground rules:
//! 1. The temporary file is created exclusively beside the destination (same directory, so the
//!    rename stays on one file system), named `.{name}.{16 random hex digits}.tmp`.
//! 2. `commit` waits for pending write-behind bytes, then renames the temporary over the
//!    destination: readers see the old file or the new one, never a part.
//! 3. Dropped uncommitted, the temporary file is deleted by a detached task with cancellation
//!    blocked. If the runtime is shutting down (its blocking pool refuses the job), the
//!    temporary file stays: nothing can delete it without blocking the dropping thread.

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};

use super::dir::Dir;
use super::error::{Error, ErrorKind, Op, Result};
use super::file::File;
use super::types::{OpenOptions, Permissions};
use crate::task::CancelProtection;

/// How [`Dir::create_file_atomic`] creates the temporary file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AtomicFlags {
    /// Permissions of the file (less the umask). Default: `0o666`.
    pub permissions: Permissions,
    /// Open the temporary file for reading too. Default: `false`.
    pub read: bool,
}

impl Default for AtomicFlags {
    fn default() -> Self {
        AtomicFlags { permissions: Permissions::DEFAULT_FILE, read: false }
    }
}

/// A file being written that replaces its destination when [`commit`](Self::commit)ted. Derefs
/// to the temporary [`File`].
///
/// # Examples
///
/// ```
/// use kqio::fs::Dir;
///
/// let rt = kqio::Kqueue::init(kqio::InitOptions::default())?;
/// let io = rt.io();
/// let base = std::env::temp_dir().join(format!("kqio-doc-atomic-{}", std::process::id()));
/// rt.block_on(async {
///     let dir = Dir::cwd(&io).create_dir_path_open(&base).await?;
///     let f = dir.create_file_atomic("config", Default::default()).await?;
///     f.write_all(b"new contents").await?;
///     f.commit().await?;
///     assert_eq!(dir.read_file("config").await?, b"new contents");
///     Dir::cwd(&io).delete_tree(&base).await
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AtomicFile {
    file: Option<File>,
    dir: Dir,
    tmp: PathBuf,
    dest: PathBuf,
}

impl AtomicFile {
    pub(crate) async fn create(dir: &Dir, dest: &Path, flags: AtomicFlags) -> Result<AtomicFile> {
        // Argument errors name the path joined to the directory's, as every `Dir` error does.
        let shown = dir.display_path(dest);
        super::check_path(Op::CreateFile, dest).map_err(|e| e.with_path(shown.clone()))?;
        let Some(name) = dest.file_name() else {
            return Err(Error::invalid(Op::CreateFile, Some(&shown), "no file name to replace"));
        };
        let parent = dest.parent().unwrap_or(Path::new(""));
        let options = OpenOptions {
            read: flags.read,
            write: true,
            exclusive: true,
            permissions: flags.permissions,
            ..OpenOptions::default()
        };
        let mut attempts = 0;
        loop {
            let mut random = [0u8; 8];
            dir.io().random(&mut random);
            let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
            let mut tmp_name = std::ffi::OsString::from(".");
            tmp_name.push(name);
            tmp_name.push(format!(".{hex}.tmp"));
            let tmp = parent.join(tmp_name);
            match dir.open_with_options(&tmp, &options).await {
                Ok(file) => {
                    return Ok(AtomicFile {
                        file: Some(file),
                        dir: dir.clone(),
                        tmp,
                        dest: dest.to_path_buf(),
                    })
                }
                // A name taken by chance: draw another (64 random bits; a few tries suffice).
                Err(e) if e.kind() == ErrorKind::AlreadyExists && attempts < 8 => attempts += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// The temporary file's path, relative to the directory.
    pub fn temporary_path(&self) -> &Path {
        &self.tmp
    }

    /// Renames the temporary file over the destination (Zig `AtomicFile.finish`). Does not
    /// `sync` first: call [`File::sync`] before for durability across a crash.
    ///
    /// # Errors
    ///
    /// As [`Dir::rename`], or a pending write-behind's error; the temporary file is then deleted
    /// as on drop, and the destination is untouched.
    pub async fn commit(mut self) -> Result<()> {
        let mut file = self.file.take().expect("present until commit or drop");
        futures::AsyncWriteExt::flush(&mut file)
            .await
            .map_err(|e| Error::new(Op::Commit, Some(&self.tmp), e))?;
        drop(file);
        self.dir.rename(&self.tmp, &self.dir, &self.dest).await?;
        self.tmp = PathBuf::new(); // Nothing left to delete.
        Ok(())
    }
}

impl Deref for AtomicFile {
    type Target = File;

    fn deref(&self) -> &File {
        self.file.as_ref().expect("present until commit or drop")
    }
}

impl DerefMut for AtomicFile {
    fn deref_mut(&mut self) -> &mut File {
        self.file.as_mut().expect("present until commit or drop")
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        drop(self.file.take());
        if self.tmp.as_os_str().is_empty() {
            return;
        }
        let (dir, tmp) = (self.dir.clone(), std::mem::take(&mut self.tmp));
        let io = dir.io().clone();
        io.r#async(async move {
            dir.io().swap_cancel_protection(CancelProtection::Blocked);
            // Ignored: nothing is left to tell (ground rule 3).
            let _ = dir.delete_file(&tmp).await;
        })
        .detach();
    }
}
