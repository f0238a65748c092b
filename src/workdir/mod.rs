//! The host work folder and its layout:
//! `WORKDIR/{project/<name>, resources, pixi-cache, out, helpers, product}`, and the record a
//! staging run leaves in it ([`report`]). Staging writes a workdir, the product is made from one:
//! these types are all the two sides share.

pub mod report;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::exit::InputError;

/// Folders a staging run writes; `--force` replaces exactly these.
pub const STAGED_FOLDERS: [&str; 5] = [
    Workdir::PROJECTS,
    Workdir::RESOURCES,
    Workdir::PIXI_CACHE,
    Workdir::OUT,
    Workdir::HELPERS,
];

#[derive(Debug, Clone)]
pub struct Workdir {
    root: PathBuf,
}

impl Workdir {
    /// `project/<name>`: the staged project.
    pub const PROJECTS: &'static str = "project";
    pub const RESOURCES: &'static str = "resources";
    pub const PIXI_CACHE: &'static str = "pixi-cache";
    /// Logs and records of the staging run.
    pub const OUT: &'static str = "out";
    pub const HELPERS: &'static str = "helpers";
    pub const PRODUCT: &'static str = "product";
    /// The folders a container workdir has, the same as the host's (staging copies one onto the
    /// other).
    pub const CONTAINER_FOLDERS: [&'static str; 3] =
        [Self::PROJECTS, Self::PIXI_CACHE, Self::RESOURCES];

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
        self.root.join(Self::PROJECTS)
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
    /// `out/stage.json`, the record of the staging run.
    pub fn stage_report(&self) -> PathBuf {
        self.out().join("stage.json")
    }
    pub fn helpers(&self) -> PathBuf {
        self.root.join(Self::HELPERS)
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
            .into());
        }
        if force || !self.root.exists() {
            return Ok(());
        }
        if crate::fsutil::dir_has_entries(&self.root)? {
            return Err(
                InputError::new(format!("workdir `{}` is not empty", self.root.display())).into(),
            );
        }
        Ok(())
    }

    /// Creates the workdir, clearing the staged folders of an earlier run (`product/` and anything
    /// else the user keeps there stay), and an empty `out/`.
    pub fn prepare(&self) -> anyhow::Result<()> {
        for folder in STAGED_FOLDERS {
            let path = self.root.join(folder);
            if path.exists() {
                crate::fsutil::remove_tree(&path)?;
            }
        }
        std::fs::create_dir_all(self.out())
            .with_context(|| format!("failed to create `{}`", self.out().display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writable_rules() {
        let dir = tempfile::tempdir().unwrap();
        let wd = Workdir::new(&dir.path().join("new")).unwrap();
        wd.check_writable(false).unwrap();
        wd.prepare().unwrap();
        wd.check_writable(false).unwrap_err();
        std::fs::create_dir_all(wd.product()).unwrap();
        std::fs::write(wd.out().join("old.log"), "x").unwrap();
        wd.check_writable(true).unwrap();
        wd.prepare().unwrap();
        assert!(wd.product().is_dir(), "product/ is kept");
        assert!(!wd.out().join("old.log").exists(), "out/ is cleared");
    }

    #[test]
    fn default_path_is_timestamped() {
        let p = Workdir::default_path();
        let s = p.to_string_lossy();
        assert!(s.starts_with("tmp/workdir-") && s.ends_with('Z'), "{s}");
    }
}
