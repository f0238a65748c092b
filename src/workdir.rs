//! The host work folder and its layout:
//! `WORKDIR/{project/<name>, resources, pixi-cache, out, helpers, pixi-bin, product}`.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::exit::InputError;

/// Folders a staging run writes; `--force` replaces exactly these.
pub const STAGED_FOLDERS: [&str; 6] = [
    "project",
    "resources",
    "pixi-cache",
    "out",
    "helpers",
    "pixi-bin",
];

#[derive(Debug, Clone)]
pub struct Workdir {
    root: PathBuf,
}

impl Workdir {
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
        self.root.join("project")
    }
    pub fn project(&self, name: &str) -> PathBuf {
        self.projects().join(name)
    }
    pub fn resources(&self) -> PathBuf {
        self.root.join("resources")
    }
    pub fn pixi_cache(&self) -> PathBuf {
        self.root.join("pixi-cache")
    }
    pub fn out(&self) -> PathBuf {
        self.root.join("out")
    }
    pub fn helpers(&self) -> PathBuf {
        self.root.join("helpers")
    }
    /// The build container's pixi, with `--bundle-pixi`.
    pub fn pixi_bin(&self) -> PathBuf {
        self.root.join("pixi-bin")
    }
    pub fn product(&self) -> PathBuf {
        self.root.join("product")
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
                InputError::new(format!("workdir `{}` is not empty", self.root.display()))
                    .with_hint(
                        "pick a new --workdir, or pass --force to replace its staged folders",
                    )
                    .into(),
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
                remove_tree(&path)?;
            }
        }
        std::fs::create_dir_all(self.out())
            .with_context(|| format!("failed to create `{}`", self.out().display()))
    }
}

/// Removes a folder tree, making read-only folders writable first (package caches have them).
pub fn remove_tree(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => return Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    #[cfg(unix)]
    for entry in walkdir::WalkDir::new(path)
        .follow_root_links(false)
        .into_iter()
        .flatten()
    {
        use std::os::unix::fs::PermissionsExt;
        if entry.file_type().is_dir() {
            let _ = std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o755));
        }
    }
    std::fs::remove_dir_all(path).with_context(|| format!("failed to remove `{}`", path.display()))
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
