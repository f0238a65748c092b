//! The host work folder and its layout:
//! `WORKDIR/{project/<name>, resources, pixi-cache, out, helpers, pixi-bin, product}`.
//!
//! A workdir we create carries a marker file, [`MARKER`]; `--force` only ever deletes the staged
//! folders of a workdir that carries it, and the stagers skip any folder that carries it (an
//! earlier default workdir inside the project is never staged into the next one).
//!
//! With the record a staging run leaves in it ([`report`]), these types are all that staging and
//! the product share: staging writes a workdir, the product is made from one.

pub mod report;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::exit::InputError;

/// Folders a staging run writes; `--force` replaces exactly these.
pub const STAGED_FOLDERS: [&str; 7] = [
    Workdir::PROJECT,
    Workdir::RESOURCES,
    Workdir::PIXI_CACHE,
    Workdir::OUT,
    Workdir::HELPERS,
    Workdir::PIXI_BIN,
    Workdir::FAILED_OUT,
];

/// The file that says "pixi-airgap made this workdir" (host side and, for stage-container, in the
/// container's workdir).
pub const MARKER: &str = ".pixi-airgap-workdir";
/// Prefix of the temporary folder a copy-back writes into before the staged folders are swapped.
pub const INCOMING_PREFIX: &str = ".incoming-";
/// Prefix of the temporary folder `--bundle-pixi` copies the container's pixi into.
pub const PIXI_BIN_INCOMING_PREFIX: &str = ".pixi-bin-incoming-";
/// Prefix of the temporary file stage-container spools the filtered project through.
pub const SPOOL_PREFIX: &str = ".stage-spool-";
/// What the marker file holds: the folders `--force` may replace, named from [`STAGED_FOLDERS`].
pub static MARKER_TEXT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let folders: Vec<String> = STAGED_FOLDERS.iter().map(|f| format!("{f}/")).collect();
    format!(
        "pixi-airgap workdir: pixi-airgap may replace {} here\n",
        and_list(&folders)
    )
});

/// `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Whether `dir` carries the workdir marker.
pub fn is_marked(dir: &Path) -> bool {
    std::fs::symlink_metadata(dir.join(MARKER)).is_ok_and(|m| m.is_file())
}

#[derive(Debug, Clone)]
pub struct Workdir {
    root: PathBuf,
}

impl Workdir {
    /// `project/<name>`: the folder that holds the staged project.
    pub const PROJECT: &'static str = "project";
    pub const RESOURCES: &'static str = "resources";
    pub const PIXI_CACHE: &'static str = "pixi-cache";
    /// Logs and records of the staging run.
    pub const OUT: &'static str = "out";
    pub const HELPERS: &'static str = "helpers";
    /// The build container's pixi, with `--bundle-pixi`.
    pub const PIXI_BIN: &'static str = "pixi-bin";
    pub const PRODUCT: &'static str = "product";
    /// The logs of a run that failed over an earlier staging (which it leaves whole).
    pub const FAILED_OUT: &'static str = "out-failed";
    /// The folders a container workdir has, the same as the host's (staging copies one onto the
    /// other).
    pub const CONTAINER_FOLDERS: [&'static str; 3] =
        [Self::PROJECT, Self::PIXI_CACHE, Self::RESOURCES];

    /// `path` made absolute; nothing is touched.
    pub fn new(path: &Path) -> anyhow::Result<Self> {
        let root = std::path::absolute(path)
            .with_context(|| format!("failed to resolve `{}`", path.display()))?;
        Ok(Self { root })
    }

    /// `./tmp/workdir-<UTC timestamp>` under the current folder.
    pub fn default_path() -> PathBuf {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        PathBuf::from("tmp").join(format!("workdir-{stamp}"))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn projects(&self) -> PathBuf {
        self.root.join(Self::PROJECT)
    }
    pub fn project(&self, name: &str) -> PathBuf {
        self.projects().join(name)
    }
    pub fn resources(&self) -> PathBuf {
        self.root.join(Self::RESOURCES)
    }
    pub fn pixi_cache(&self) -> PathBuf {
        self.root.join(Self::PIXI_CACHE)
    }
    pub fn out(&self) -> PathBuf {
        self.root.join(Self::OUT)
    }
    pub fn helpers(&self) -> PathBuf {
        self.root.join(Self::HELPERS)
    }
    /// The build container's pixi, with `--bundle-pixi`.
    pub fn pixi_bin(&self) -> PathBuf {
        self.root.join(Self::PIXI_BIN)
    }
    pub fn product(&self) -> PathBuf {
        self.root.join(Self::PRODUCT)
    }

    /// Checks (before any Docker work) that the workdir may be written: absent, empty, or `force`.
    pub fn check_writable(&self, force: bool) -> anyhow::Result<()> {
        if self.root.exists() && !self.root.is_dir() {
            return Err(InputError::new(format!(
                "workdir `{}` exists and is not a folder",
                self.root.display()
            ))
            .with_hint("pick another folder for the workdir")
            .into());
        }
        if !self.root.exists() || !crate::fsutil::dir_has_entries(&self.root)? {
            return Ok(());
        }
        if !is_marked(&self.root) {
            return Err(InputError::new(format!(
                "workdir `{}` is not empty and is not a pixi-airgap workdir (it has no {MARKER})",
                self.root.display()
            ))
            .with_hint("pick a new or empty folder for the workdir: pixi-airgap only ever replaces folders in a workdir it made")
            .into());
        }
        if !force {
            return Err(
                InputError::new(format!("workdir `{}` is not empty", self.root.display())).into(),
            );
        }
        Ok(())
    }

    /// Refuses a workdir that is, or contains, a folder the user keeps (the project, the
    /// resources): deleting its staged folders could reach them. Compared by canonical path, so a
    /// symlinked alias is caught. (A workdir inside the project is fine: it is never staged.)
    pub fn check_not_over(&self, keep: &Path, what: &str) -> anyhow::Result<()> {
        let root = crate::fsutil::canonical_or_self(&self.root);
        let keep = crate::fsutil::canonical_or_self(keep);
        if keep.starts_with(&root) {
            return Err(InputError::new(format!(
                "the workdir `{}` would hold the {what} `{}`",
                self.root.display(),
                keep.display()
            ))
            .with_hint("pick a workdir outside the project, e.g. a new folder next to it")
            .into());
        }
        Ok(())
    }

    /// What a killed run leaves at the top of the workdir, which only pixi-airgap writes there
    /// (this workdir carries the marker; names are ours): real folders named
    /// `{INCOMING_PREFIX}*` (copy-backs) and `{PIXI_BIN_INCOMING_PREFIX}*` (`--bundle-pixi`),
    /// and plain files named `{SPOOL_PREFIX}*.tar` (stage-container's spool). Links are never
    /// listed, nor anything of another kind than its name promises.
    pub fn interrupted_copies(&self) -> anyhow::Result<Vec<PathBuf>> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => {
                return Err(err)
                    .with_context(|| format!("failed to read `{}`", self.root.display()))
            }
        };
        let mut found = Vec::new();
        for entry in entries {
            let entry =
                entry.with_context(|| format!("failed to read `{}`", self.root.display()))?;
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let ours = if kind.is_dir() {
                name.starts_with(INCOMING_PREFIX) || name.starts_with(PIXI_BIN_INCOMING_PREFIX)
            } else if kind.is_file() {
                name.starts_with(SPOOL_PREFIX) && name.ends_with(".tar")
            } else {
                false
            };
            if ours {
                found.push(entry.path());
            }
        }
        found.sort();
        Ok(found)
    }

    /// Creates the workdir (with its marker) and removes the half-written copies of a killed
    /// run. The staged folders of an earlier run stay as they are: a run writes into a
    /// [`Staging`] folder and swaps it in only once it is complete, so a run that fails (an image
    /// without pixi, a bad network, an install that fails) leaves the last staging whole.
    pub fn prepare(&self) -> anyhow::Result<()> {
        // The same rules again, now that the work is about to start: never delete in a folder we
        // did not make.
        if self.root.exists()
            && crate::fsutil::dir_has_entries(&self.root)?
            && !is_marked(&self.root)
        {
            return Err(InputError::new(format!(
                "workdir `{}` is not a pixi-airgap workdir (it has no {MARKER}); nothing was deleted",
                self.root.display()
            ))
            .into());
        }
        std::fs::create_dir_all(&self.root)
            .with_context(|| format!("failed to create `{}`", self.root.display()))?;
        std::fs::write(self.root.join(MARKER), MARKER_TEXT.as_str())
            .with_context(|| format!("failed to write `{}`", self.root.join(MARKER).display()))?;
        // A killed run leaves its half-written `.incoming-*` folder (or a pixi copy, or a spool
        // file) behind.
        for path in self.interrupted_copies()? {
            if path.is_dir() {
                crate::fsutil::remove_tree(&path)?;
            } else {
                std::fs::remove_file(&path)
                    .with_context(|| format!("failed to remove `{}`", path.display()))?;
            }
            tracing::info!("removed `{}`, left by a killed run", path.display());
        }
        Ok(())
    }

    /// Where the logs of a run that fails go: `out/` when the workdir holds no staging record
    /// yet, else `out-failed/` (the last staging's `out/` stays with it).
    pub fn failed_logs(&self) -> PathBuf {
        if self.out().join(report::STAGE_REPORT_FILE).exists() {
            self.root.join(Self::FAILED_OUT)
        } else {
            self.out()
        }
    }

    /// A fresh, hidden folder in the workdir (named `{INCOMING_PREFIX}*`, so a killed run's is
    /// removed by the next [`Workdir::prepare`]) that a run writes everything into.
    pub fn begin_staging(&self) -> anyhow::Result<Staging> {
        let dir = crate::fsutil::private_tempdir(&self.root, INCOMING_PREFIX)
            .with_context(|| format!("failed to create a folder in `{}`", self.root.display()))?;
        let workdir = Workdir {
            root: dir.path().to_path_buf(),
        };
        std::fs::create_dir_all(workdir.out())
            .with_context(|| format!("failed to create `{}`", workdir.out().display()))?;
        Ok(Staging { dir, workdir })
    }
}

/// A staging run's folder inside the workdir: laid out as a workdir, swapped into place by
/// [`Staging::commit`] once everything is back; removed when dropped.
pub struct Staging {
    dir: tempfile::TempDir,
    workdir: Workdir,
}

impl Staging {
    /// Where the run writes (a workdir layout).
    pub fn workdir(&self) -> &Workdir {
        &self.workdir
    }

    /// Puts the new staged folders in place of the old ones in `into`, one folder at a time by
    /// rename; a staged folder this run did not write (say `pixi-bin/` without `--bundle-pixi`)
    /// goes, so the workdir holds one run only.
    pub fn commit(self, into: &Workdir) -> anyhow::Result<()> {
        self.commit_removing_in_background(into)?.wait()
    }

    /// [`Staging::commit`], with the old folders (the last staging's cache can hold tens of
    /// thousands of files) removed on threads of their own while the caller goes on.
    pub fn commit_removing_in_background(
        self,
        into: &Workdir,
    ) -> anyhow::Result<crate::atomic::Removals> {
        let mut removals = crate::atomic::Removals::default();
        for folder in STAGED_FOLDERS {
            let from = self.workdir.root.join(folder);
            let to = into.root.join(folder);
            if std::fs::symlink_metadata(&from).is_ok() {
                if let Some(old) = crate::atomic::replace_dir_keeping_old(&from, &to)? {
                    removals.spawn(old);
                }
            } else if std::fs::symlink_metadata(&to).is_ok() {
                crate::fsutil::remove_tree(&to)?;
            }
        }
        drop(self.dir);
        Ok(removals)
    }

    /// After a failed run: keeps its logs where the user looks for them, without touching an
    /// earlier staging. `out/` when the workdir holds no staging record yet, else
    /// `out-failed/` (the last staging's `out/` stays with it). Best effort; returns where.
    pub fn keep_logs(self, into: &Workdir) -> Option<PathBuf> {
        let from = self.workdir.out();
        let to = into.failed_logs();
        match crate::atomic::replace_dir(&from, &to) {
            Ok(()) => Some(to),
            Err(err) => {
                tracing::warn!("could not keep the logs of the failed run: {err:#}");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The marker's text is made from the staged folders; workdirs already marked hold this.
    #[test]
    fn the_marker_names_every_staged_folder() {
        assert_eq!(
            MARKER_TEXT.as_str(),
            "pixi-airgap workdir: pixi-airgap may replace project/, resources/, pixi-cache/, out/, helpers/, pixi-bin/ and out-failed/ here\n"
        );
    }

    #[test]
    fn writable_rules() {
        let dir = tempfile::tempdir().unwrap();
        let wd = Workdir::new(&dir.path().join("new")).unwrap();
        wd.check_writable(false).unwrap();
        wd.prepare().unwrap();
        assert!(is_marked(wd.root()));
        wd.check_writable(false).unwrap_err();
        std::fs::create_dir_all(wd.product()).unwrap();
        std::fs::create_dir_all(wd.out()).unwrap();
        std::fs::write(wd.out().join("old.log"), "x").unwrap();
        wd.check_writable(true).unwrap();
        wd.prepare().unwrap();
        assert!(
            wd.out().join("old.log").exists(),
            "kept until a new run is complete"
        );
        let staging = wd.begin_staging().unwrap();
        std::fs::write(staging.workdir().out().join("new.log"), "n").unwrap();
        std::fs::create_dir_all(wd.pixi_bin()).unwrap();
        staging.commit(&wd).unwrap();
        assert!(wd.product().is_dir(), "product/ is kept");
        assert!(!wd.out().join("old.log").exists(), "out/ is replaced");
        assert!(wd.out().join("new.log").exists(), "out/ is replaced");
        assert!(
            !wd.pixi_bin().exists(),
            "what the new run did not write goes"
        );
        assert!(wd.interrupted_copies().unwrap().is_empty());
        // A failed run keeps its logs beside the last staging, which stays whole.
        std::fs::write(wd.out().join("stage.json"), "{}").unwrap();
        let staging = wd.begin_staging().unwrap();
        std::fs::write(staging.workdir().out().join("install.log"), "failed").unwrap();
        assert_eq!(
            staging.keep_logs(&wd),
            Some(wd.root().join(Workdir::FAILED_OUT))
        );
        assert!(wd.out().join("new.log").exists());
        assert!(wd.root().join("out-failed/install.log").exists());
        assert!(wd.interrupted_copies().unwrap().is_empty());
        // A killed copy-back's folder goes with the next run; a link of that name stays a link
        // and what it points at is untouched.
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("keep"), "x").unwrap();
        std::fs::create_dir_all(wd.root().join(".incoming-abc/pixi-cache")).unwrap();
        std::os::unix::fs::symlink(&outside, wd.root().join(".incoming-link")).unwrap();
        assert_eq!(
            wd.interrupted_copies().unwrap(),
            [wd.root().join(".incoming-abc")]
        );
        wd.prepare().unwrap();
        assert!(!wd.root().join(".incoming-abc").exists());
        assert!(outside.join("keep").is_file());
    }

    /// Safety round 2, item 14: a `--bundle-pixi` copy and a stage-container spool left by a
    /// SIGKILL go with the next run too; links and things of the wrong kind stay.
    #[test]
    fn a_killed_runs_pixi_copy_and_spool_go_with_the_next_run() {
        let dir = tempfile::tempdir().unwrap();
        let wd = Workdir::new(&dir.path().join("wd")).unwrap();
        wd.prepare().unwrap();
        let outside = dir.path().join("outside.tar");
        std::fs::write(&outside, "keep").unwrap();
        let root = wd.root();
        std::fs::create_dir_all(root.join(".pixi-bin-incoming-Ab12")).unwrap();
        std::fs::write(root.join(".pixi-bin-incoming-Ab12/pixi"), "binary").unwrap();
        std::fs::write(root.join(".stage-spool-Xy34.tar"), "tar").unwrap();
        std::os::unix::fs::symlink(&outside, root.join(".stage-spool-link.tar")).unwrap();
        std::fs::create_dir_all(root.join(".stage-spool-dir.tar")).unwrap();
        std::fs::write(root.join("notes.txt"), "the user's").unwrap();
        assert_eq!(
            wd.interrupted_copies().unwrap(),
            [
                root.join(".pixi-bin-incoming-Ab12"),
                root.join(".stage-spool-Xy34.tar")
            ]
        );
        wd.prepare().unwrap();
        assert!(!root.join(".pixi-bin-incoming-Ab12").exists());
        assert!(!root.join(".stage-spool-Xy34.tar").exists());
        assert!(root.join(".stage-spool-link.tar").is_symlink());
        assert!(root.join(".stage-spool-dir.tar").is_dir());
        assert!(root.join("notes.txt").is_file());
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep");
    }

    #[test]
    fn force_never_touches_a_folder_we_did_not_make() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join("project")).unwrap();
        std::fs::write(home.join("project/thesis.tex"), "years of work").unwrap();
        let wd = Workdir::new(&home).unwrap();
        let err = wd.check_writable(true).unwrap_err();
        assert!(
            err.to_string().contains("not a pixi-airgap workdir"),
            "{err}"
        );
        wd.prepare().unwrap_err();
        assert!(home.join("project/thesis.tex").is_file());
        // The project itself, or a link to it, is never a workdir.
        let link = dir.path().join("alias");
        std::os::unix::fs::symlink(&home, &link).unwrap();
        let wd = Workdir::new(&link).unwrap();
        wd.check_not_over(&home, "project").unwrap_err();
        let wd = Workdir::new(&dir.path().join("wd")).unwrap();
        wd.check_not_over(&home, "project").unwrap();
    }

    #[test]
    fn default_path_is_timestamped() {
        let p = Workdir::default_path();
        let s = p.to_string_lossy();
        assert!(s.starts_with("tmp/workdir-") && s.ends_with('Z'), "{s}");
    }
}
