//! One run at a time per folder: an exclusive `flock` on a lock file beside the folder, held for
//! the whole run (a workdir while it is staged or read, a product's `--output` while it is
//! written). Two runs on one workdir (two CI jobs, a double click in a runbook) would otherwise
//! delete each other's `.incoming-*` and `.product.partial-*` folders.
//!
//! The lock file is `.<name>.pixi-airgap-lock` in the folder's parent, so it exists before the
//! folder does and is not moved away by the rename that replaces the folder. It is ours (it starts
//! with [`HEADER`]) and records its holder (pid, host, command, start time), which a second run
//! names while it waits or, with `--no-wait`, when it gives up (exit 2). The holder removes the
//! file when it is done; a run that was killed leaves it, unlocked, for the next run to take over
//! (the kernel drops a dead process's `flock`, so a stale file never blocks anyone).
//!
//! A lock this process already holds is not taken twice (`pack` holds the workdir while its
//! `make-product` step reads it).

use std::collections::BTreeSet;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;

use crate::exit::InputError;

/// The first line of every lock file we write.
pub const HEADER: &str = "pixi-airgap lock v1";

/// Lock files this process holds.
static HELD: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// What the lock file records about its holder.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    pub command: String,
    pub started: String,
}

impl Holder {
    fn current() -> Self {
        Self {
            pid: std::process::id(),
            host: crate::process::host_name(),
            command: std::env::args().collect::<Vec<_>>().join(" "),
            started: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} on {}, since {}: {}",
            self.pid,
            self.host,
            self.started,
            self.command.escape_debug()
        )
    }
}

/// Whether a second run waits for the holder or gives up at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    Wait,
    NoWait,
}

impl Wait {
    pub fn from_no_wait(no_wait: bool) -> Self {
        if no_wait {
            Self::NoWait
        } else {
            Self::Wait
        }
    }
}

/// An exclusive lock on a folder, released (and its file removed) on drop.
#[derive(Debug)]
pub struct RunLock {
    /// `None` when this process already held the lock (the outer holder releases it).
    held: Option<(std::fs::File, PathBuf)>,
}

/// The lock file for `dir`.
pub fn lock_path(dir: &Path) -> anyhow::Result<PathBuf> {
    let dir = std::path::absolute(dir)
        .with_context(|| format!("failed to resolve `{}`", dir.display()))?;
    let parent = dir
        .parent()
        .with_context(|| format!("`{}` has no parent folder to lock it in", dir.display()))?;
    let name = dir
        .file_name()
        .with_context(|| format!("`{}` has no name", dir.display()))?;
    Ok(parent.join(format!(".{}.pixi-airgap-lock", name.to_string_lossy())))
}

impl RunLock {
    /// Takes the lock on `dir` (`what` names it in messages: "workdir", "product folder").
    /// Waits for another holder, saying who it is, unless `wait` is [`Wait::NoWait`]: then a held
    /// lock is an input error (exit 2) naming the holder.
    pub async fn acquire(dir: &Path, what: &str, wait: Wait) -> anyhow::Result<Self> {
        let path = lock_path(dir)?;
        if lock_set()?.contains(&path) {
            return Ok(Self { held: None });
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("failed to create `{}`", parent.display()))?;
        }
        let mut told = false;
        loop {
            let file = open_lock_file(&path)?;
            if try_flock(&file).with_context(|| format!("failed to lock `{}`", path.display()))? {
                // The file may have been removed by the holder we waited for between our open
                // and our lock: then we locked a file nobody else sees; take the new one.
                if !same_file(&file, &path) {
                    continue;
                }
                let mut file = file;
                write_holder(&mut file, &path)?;
                lock_set()?.insert(path.clone());
                if told {
                    tracing::info!("{what} `{}` is free now", dir.display());
                }
                return Ok(Self {
                    held: Some((file, path)),
                });
            }
            let holder = read_holder(&path)
                .map(|h| h.to_string())
                .unwrap_or_else(|| "a pixi-airgap that did not record itself yet".to_string());
            if wait == Wait::NoWait {
                // No hint: the command says how to wait instead ([`refused_in_use`]).
                return Err(InputError::new(format!(
                    "the {what} `{}` {IN_USE} ({holder})",
                    dir.display()
                ))
                .into());
            }
            if !told {
                tracing::warn!(
                    "the {what} `{}` is in use by another pixi-airgap run ({holder}); waiting for it to end (Ctrl-C to give up)",
                    dir.display()
                );
                told = true;
            }
            drop(file);
            crate::shutdown::until_stopped(async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok(())
            })
            .await?;
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        if let Some((file, path)) = self.held.take() {
            // Removed while still locked: a waiter that opened it sees it is gone (`same_file`)
            // and opens the next one.
            if same_file(&file, &path) {
                let _ = std::fs::remove_file(&path);
            }
            if let Ok(mut set) = HELD.lock() {
                set.remove(&path);
            }
            drop(file);
        }
    }
}

fn lock_set() -> anyhow::Result<std::sync::MutexGuard<'static, BTreeSet<PathBuf>>> {
    HELD.lock()
        .map_err(|_| anyhow::anyhow!("the lock registry is poisoned"))
}

/// Opens (creating) the lock file without following a link in its place, and refuses a file
/// that is not ours.
fn open_lock_file(path: &Path) -> anyhow::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .with_context(|| format!("failed to open the lock file `{}`", path.display()))?;
    let meta = file
        .metadata()
        .with_context(|| format!("failed to read `{}`", path.display()))?;
    if !meta.is_file() {
        return Err(InputError::new(format!(
            "the lock file `{}` is not a regular file",
            path.display()
        ))
        .into());
    }
    if meta.len() > 0 {
        let mut head = vec![0u8; HEADER.len()];
        let ours = (&file).read_exact(&mut head).is_ok() && head == HEADER.as_bytes();
        if !ours {
            return Err(InputError::new(format!(
                "`{}` is in the place of pixi-airgap's lock file but was not written by pixi-airgap",
                path.display()
            ))
            .with_hint("move that file away, or pick another folder")
            .into());
        }
    }
    Ok(file)
}

/// What the refusal of a held folder under [`Wait::NoWait`] says.
const IN_USE: &str = "is in use by another pixi-airgap run";

/// Whether `err` is the refusal of a folder another run holds (under [`Wait::NoWait`]): the
/// command adds how to wait for it instead.
pub fn refused_in_use(err: &anyhow::Error) -> bool {
    err.downcast_ref::<InputError>()
        .is_some_and(|input| input.to_string().contains(IN_USE))
}

/// `flock(LOCK_EX | LOCK_NB)`: `Ok(false)` when another open file holds it.
fn try_flock(file: &std::fs::File) -> std::io::Result<bool> {
    // SAFETY: flock on a file descriptor we own; no memory is passed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(err)
    }
}

fn same_file(file: &std::fs::File, path: &Path) -> bool {
    match (file.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

fn write_holder(file: &mut std::fs::File, path: &Path) -> anyhow::Result<()> {
    let text = format!(
        "{HEADER}\n{}\n",
        serde_json::to_string(&Holder::current()).context("failed to describe this run")?
    );
    (|| -> std::io::Result<()> {
        file.set_len(0)?;
        file.rewind()?;
        file.write_all(text.as_bytes())?;
        file.flush()
    })()
    .with_context(|| format!("failed to write `{}`", path.display()))
}

/// The holder a lock file records, if it can be read.
pub fn read_holder(path: &Path) -> Option<Holder> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    if lines.next()? != HEADER {
        return None;
    }
    serde_json::from_str(lines.next()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_holder_is_refused_and_named_until_the_first_is_done() {
        let dir = tempfile::tempdir().unwrap();
        let wd = dir.path().join("wd");
        let first = RunLock::acquire(&wd, "workdir", Wait::NoWait)
            .await
            .unwrap();
        let path = lock_path(&wd).unwrap();
        let holder = read_holder(&path).unwrap();
        assert_eq!(holder.pid, std::process::id());
        // Another open file description (another process would have its own) is refused.
        let other = open_lock_file(&path).unwrap();
        assert!(!try_flock(&other).unwrap());
        drop(other);
        // The same process does not lock itself out.
        let nested = RunLock::acquire(&wd, "workdir", Wait::NoWait)
            .await
            .unwrap();
        drop(nested);
        assert!(path.exists(), "the outer holder still holds it");
        drop(first);
        assert!(!path.exists(), "removed by its holder");
        let again = RunLock::acquire(&wd, "workdir", Wait::NoWait).await;
        assert!(again.is_ok());
    }

    #[tokio::test]
    async fn a_file_that_is_not_ours_is_never_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let wd = dir.path().join("wd");
        let path = lock_path(&wd).unwrap();
        std::fs::write(&path, "my notes\n").unwrap();
        let err = RunLock::acquire(&wd, "workdir", Wait::NoWait)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("not written by pixi-airgap"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "my notes\n");
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), &path).unwrap();
        RunLock::acquire(&wd, "workdir", Wait::NoWait)
            .await
            .unwrap_err();
        assert!(
            !dir.path().join("elsewhere").exists(),
            "a link is not followed"
        );
    }
}
