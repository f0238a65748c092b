//! Atomic replacement of folders and files on this host. What we write is built next to its
//! destination under a hidden name and renamed into place only once it is complete; a folder
//! that was there is moved aside first and deleted last (and put back if the rename fails). So an
//! interrupted run leaves the previous content as it was (plus hidden leftovers, which the next
//! run removes). A run killed between the two renames leaves the previous folder aside
//! (`.NAME.old-*/NAME`) and nothing at `NAME`: the next run puts it back first ([`recover`]),
//! before anything can fail, so it is never lost.
//!
//! Used by the product writer, the archive writer and the copy back into the workdir.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::fsutil::remove_tree;

/// A folder being written for `dest`; [`PendingDir::commit`] puts it in place.
pub struct PendingDir {
    partial: tempfile::TempDir,
    dest: PathBuf,
}

impl PendingDir {
    /// Creates `dest`'s parent if needed, removes what interrupted runs left next to `dest`, and
    /// an empty hidden folder beside it.
    pub fn new(dest: &Path) -> anyhow::Result<Self> {
        let (parent, name) = parent_and_name(dest)?;
        std::fs::create_dir_all(parent)
            .with_context(|| format!("failed to create `{}`", parent.display()))?;
        recover(dest)?;
        remove_leftovers(parent, &name);
        let partial = crate::fsutil::private_tempdir(parent, &format!(".{name}.partial-"))
            .with_context(|| format!("failed to create a folder in `{}`", parent.display()))?;
        Ok(Self {
            partial,
            dest: dest.to_path_buf(),
        })
    }

    /// Where to write.
    pub fn path(&self) -> &Path {
        self.partial.path()
    }

    /// Puts the finished folder at its destination.
    pub fn commit(self) -> anyhow::Result<()> {
        match self.commit_keeping_old()? {
            Some(old) => old.remove(),
            None => Ok(()),
        }
    }

    /// Puts the finished folder at its destination, and hands back the folder it replaced (moved
    /// aside) for the caller to remove when it suits it.
    pub fn commit_keeping_old(self) -> anyhow::Result<Option<Aside>> {
        let partial = self.partial.keep();
        // Private (0700) while it was written; a finished folder is readable like any other.
        let placed = crate::fsutil::set_mode(&partial, 0o755)
            .and_then(|()| replace_dir_keeping_old(&partial, &self.dest));
        if placed.is_err() {
            let _ = remove_tree(&partial);
        }
        placed
    }
}

/// What a replacement moved aside (`.NAME.old-*`, hidden beside the new folder): the old
/// content, no longer in use, to be removed. Freeing a large folder (a product of 20,000 files)
/// takes seconds, so a caller with more to do removes it in the background
/// ([`Removals::spawn`]). Left unremoved (the run killed), it is a hidden leftover the next run
/// removes.
#[derive(Debug)]
#[must_use = "remove it, now or in the background"]
pub struct Aside(PathBuf);

impl Aside {
    pub fn remove(self) -> anyhow::Result<()> {
        remove_tree(&self.0)
    }
}

/// Folders being removed on threads of their own, off the run's critical path. [`Removals::wait`]
/// joins them and reports the first failure; dropped, they are joined all the same (the program
/// never ends with a removal half done by its own choice).
#[derive(Debug, Default)]
#[must_use = "wait for the removals before the program ends"]
pub struct Removals(Vec<std::thread::JoinHandle<anyhow::Result<()>>>);

impl Removals {
    /// Starts removing `aside`.
    pub fn spawn(&mut self, aside: Aside) {
        self.0.push(std::thread::spawn(move || aside.remove()));
    }

    /// Adds what `other` is removing.
    pub fn extend(&mut self, mut other: Removals) {
        self.0.append(&mut other.0);
    }

    /// Waits until every removal has ended.
    pub fn wait(mut self) -> anyhow::Result<()> {
        let mut result = Ok(());
        for handle in self.0.drain(..) {
            let ended = handle
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("a folder removal thread panicked")));
            if result.is_ok() {
                result = ended;
            }
        }
        result
    }
}

impl Drop for Removals {
    fn drop(&mut self) {
        for handle in self.0.drain(..) {
            let _ = handle.join();
        }
    }
}

/// Renames the complete folder `from` to `to` (same file system): an existing `to` is moved aside
/// first and deleted once `from` is in place; if the rename fails, it is put back.
pub fn replace_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    match replace_dir_keeping_old(from, to)? {
        Some(old) => old.remove(),
        None => Ok(()),
    }
}

/// [`replace_dir`], handing back the old `to` (moved aside) instead of deleting it.
pub fn replace_dir_keeping_old(from: &Path, to: &Path) -> anyhow::Result<Option<Aside>> {
    let (parent, name) = parent_and_name(to)?;
    let aside = if std::fs::symlink_metadata(to).is_ok() {
        let aside = crate::fsutil::private_tempdir(parent, &format!(".{name}.old-"))
            .with_context(|| format!("failed to make room for the old `{}`", to.display()))?
            .keep();
        std::fs::rename(to, aside.join(&name))
            .with_context(|| format!("failed to move the old `{}` aside", to.display()))?;
        Some(aside)
    } else {
        None
    };
    if let Err(err) = std::fs::rename(from, to) {
        // Put the old folder back: a failed swap must leave things as they were.
        if let Some(aside) = &aside {
            if let Err(back) = std::fs::rename(aside.join(&name), to) {
                tracing::error!(
                    "could not put the old `{}` back from `{}`: {back}",
                    to.display(),
                    aside.display()
                );
            } else {
                let _ = remove_tree(aside);
            }
        }
        return Err(anyhow::Error::new(err)
            .context(format!("failed to move `{}` into place", to.display())));
    }
    Ok(aside.map(Aside))
}

/// Puts back the folder an interrupted swap moved aside: when nothing is at `dest` and a
/// `.NAME.old-*` folder beside it holds `NAME`, that is the previous content, left there by a run
/// killed between the two renames of [`replace_dir`]. (When `dest` exists, the swap finished and
/// what is aside is the old content, which the next run removes.)
pub fn recover(dest: &Path) -> anyhow::Result<()> {
    let (parent, name) = parent_and_name(dest)?;
    if std::fs::symlink_metadata(dest).is_ok() {
        return Ok(());
    }
    let prefix = format!(".{name}.old-");
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Ok(());
    };
    // The newest, should there be several (there is one unless runs were killed repeatedly).
    let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if !file_name.starts_with(&prefix) || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let held = entry.path().join(&name);
        let Ok(meta) = std::fs::symlink_metadata(&held) else {
            continue;
        };
        if !meta.is_dir() {
            continue;
        }
        let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
        if newest.as_ref().is_none_or(|(t, _)| modified > *t) {
            newest = Some((modified, entry.path()));
        }
    }
    let Some((_, aside)) = newest else {
        return Ok(());
    };
    std::fs::rename(aside.join(&name), dest).with_context(|| {
        format!(
            "failed to put back `{}` from `{}`, where an interrupted run left it",
            dest.display(),
            aside.display()
        )
    })?;
    tracing::warn!(
        "put back `{}`: an interrupted run had moved it aside to `{}`",
        dest.display(),
        aside.display()
    );
    let _ = remove_tree(&aside);
    Ok(())
}

/// A file being written for `dest`; [`PendingFile::commit`] puts it in place.
pub struct PendingFile {
    tmp: tempfile::NamedTempFile,
    dest: PathBuf,
}

impl PendingFile {
    pub fn new(dest: &Path) -> anyhow::Result<Self> {
        let (parent, name) = parent_and_name(dest)?;
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .tempfile_in(parent)
            .with_context(|| format!("failed to create a file in `{}`", parent.display()))?;
        Ok(Self {
            tmp,
            dest: dest.to_path_buf(),
        })
    }

    /// A second handle on the file, to write through.
    pub fn file(&self) -> anyhow::Result<std::fs::File> {
        self.tmp
            .reopen()
            .with_context(|| format!("failed to open a file for `{}`", self.dest.display()))
    }

    /// Renames the finished file to its destination (replacing what was there).
    pub fn commit(self) -> anyhow::Result<()> {
        self.tmp
            .persist(&self.dest)
            .with_context(|| format!("failed to move the file to `{}`", self.dest.display()))?;
        Ok(())
    }
}

fn parent_and_name(dest: &Path) -> anyhow::Result<(&Path, String)> {
    let parent = dest
        .parent()
        .with_context(|| format!("`{}` has no parent folder", dest.display()))?;
    let name = dest
        .file_name()
        .with_context(|| format!("`{}` has no name", dest.display()))?
        .to_string_lossy()
        .into_owned();
    Ok((parent, name))
}

/// Removes `.NAME.partial-*` and `.NAME.old-*` folders that interrupted runs left next to `NAME`.
fn remove_leftovers(parent: &Path, name: &str) {
    let prefixes = [format!(".{name}.partial-"), format!(".{name}.old-")];
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if prefixes.iter().any(|p| file_name.starts_with(p.as_str())) {
            tracing::info!(
                "removing `{}` left by an interrupted run",
                entry.path().display()
            );
            if let Err(err) = remove_tree(&entry.path()) {
                tracing::warn!("{err:#}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_replaces_the_old_one_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out");
        std::fs::create_dir(&dest).unwrap();
        std::fs::write(dest.join("old"), "o").unwrap();
        let pending = PendingDir::new(&dest).unwrap();
        std::fs::write(pending.path().join("new"), "n").unwrap();
        assert!(dest.join("old").exists(), "untouched until committed");
        pending.commit().unwrap();
        assert!(dest.join("new").exists() && !dest.join("old").exists());
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "nothing left beside it");
    }

    /// The old folder is handed back aside, hidden, while the new one is already in place; removed
    /// in the background, it is gone once the removals are waited for; left (a killed run), the
    /// next writer of that folder removes it and keeps the new content.
    #[test]
    fn the_replaced_folder_can_be_removed_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let names = |dir: &Path| -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        let dest = dir.path().join("out");
        for round in 0..2 {
            std::fs::create_dir_all(dest.join("many")).unwrap();
            for n in 0..200 {
                std::fs::write(dest.join(format!("many/{round}-{n}")), "o").unwrap();
            }
            let pending = PendingDir::new(&dest).unwrap();
            std::fs::write(pending.path().join("new"), "n").unwrap();
            let old = pending
                .commit_keeping_old()
                .unwrap()
                .expect("out was there");
            assert_eq!(std::fs::read_to_string(dest.join("new")).unwrap(), "n");
            let listed = names(dir.path());
            assert!(
                listed.len() == 2 && listed[0].starts_with(".out.old-") && listed[1] == "out",
                "{listed:?}"
            );
            if round == 0 {
                let mut removals = Removals::default();
                removals.spawn(old);
                removals.wait().unwrap();
                assert_eq!(names(dir.path()), ["out"]);
            } else {
                // Not removed: the next writer removes it, and the new content stays.
                drop(old);
                let next = PendingDir::new(&dest).unwrap();
                assert_eq!(std::fs::read_to_string(dest.join("new")).unwrap(), "n");
                drop(next);
                assert_eq!(names(dir.path()), ["out"]);
            }
        }
    }

    /// Killed between the two renames: the old folder is aside, nothing is in place. The next
    /// run puts it back before anything else, so a run that then fails leaves it whole.
    #[test]
    fn a_swap_killed_between_its_renames_is_undone_by_the_next_run() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out");
        let aside = dir.path().join(".out.old-abc");
        std::fs::create_dir_all(aside.join("out")).unwrap();
        std::fs::write(aside.join("out/old"), "o").unwrap();
        std::fs::create_dir_all(dir.path().join(".out.partial-def/half")).unwrap();
        let pending = PendingDir::new(&dest).unwrap();
        assert_eq!(std::fs::read_to_string(dest.join("old")).unwrap(), "o");
        drop(pending);
        let mut left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["out"]);
    }

    /// Temporary folders are private while written; the finished folder is 0755.
    #[cfg(unix)]
    #[test]
    fn folders_being_written_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out");
        std::fs::create_dir(&dest).unwrap();
        let pending = PendingDir::new(&dest).unwrap();
        assert_eq!(mode(pending.path()), 0o700);
        pending.commit().unwrap();
        assert_eq!(mode(&dest), 0o755);
    }

    #[test]
    fn leftovers_of_an_interrupted_run_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".out.partial-x/deep")).unwrap();
        std::fs::create_dir_all(dir.path().join(".out.old-y")).unwrap();
        std::fs::create_dir_all(dir.path().join(".other.partial-z")).unwrap();
        let pending = PendingDir::new(&dir.path().join("out")).unwrap();
        pending.commit().unwrap();
        let mut left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, [".other.partial-z", "out"]);
    }
}
