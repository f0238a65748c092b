//! The project that comes back from the build container must be the project that went in.
//!
//! What is uploaded into `project/<name>/` is recorded as it goes in (each file's sha256, each
//! link's target). After the copy back, the returned project is compared with that record: a file
//! that came back changed, one that did not come back, and a file that was not uploaded and is
//! not something pixi (or Python, running a task) creates are refused, naming the file (exit 2).
//! What pixi may create is the short list [`PIXI_CREATES`]. A container (a hostile image, a
//! hostile pixi, a verification that writes into the project) cannot slip a file into the
//! product, or change the lock the SBOM is made from.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use globset::{Glob, GlobSet, GlobSetBuilder};
use sha2::{Digest, Sha256};

use crate::exit::InputError;
use crate::tar::write::{EntryKind, TarEntry};

/// What pixi (and Python running a task) may add to a project, relative to the project.
pub const PIXI_CREATES: &[&str] = &[
    ".pixi/**",
    "**/__pycache__/**",
    "**/*.pyc",
    "**/*.egg-info/**",
];

/// One uploaded entry: a file's sha256 or a link's target.
#[derive(Debug, Clone, PartialEq, Eq)]
enum WentIn {
    File(String),
    Link(PathBuf),
}

/// The project as it went into the container, by path relative to the project.
#[derive(Debug, Default)]
pub struct Provenance {
    entries: HashMap<PathBuf, WentIn>,
}

impl Provenance {
    /// From the planned upload of host folders (`prefix` = `project/<name>`): each file is hashed
    /// now, as it goes in.
    pub fn from_plan(entries: &[TarEntry], prefix: &Path) -> anyhow::Result<Self> {
        let mut record = Self::default();
        for entry in entries {
            let Ok(rel) = entry.path.strip_prefix(prefix) else {
                continue;
            };
            match &entry.kind {
                EntryKind::File { source, .. } => {
                    record.entries.insert(
                        rel.to_path_buf(),
                        WentIn::File(crate::fsutil::sha256_file(source)?),
                    );
                }
                EntryKind::Symlink { target } => {
                    record
                        .entries
                        .insert(rel.to_path_buf(), WentIn::Link(target.clone()));
                }
                EntryKind::Dir => {}
            }
        }
        Ok(record)
    }

    /// From the tar that was uploaded (stage-container's spool file).
    pub fn from_tar(path: &Path, prefix: &Path) -> anyhow::Result<Self> {
        let file = std::fs::File::open(path)
            .with_context(|| format!("failed to read `{}`", path.display()))?;
        let mut archive = tar::Archive::new(std::io::BufReader::new(file));
        let mut record = Self::default();
        for entry in archive
            .entries()
            .context("failed to read the uploaded tar")?
        {
            let mut entry = entry.context("failed to read the uploaded tar")?;
            let path = entry
                .path()
                .context("failed to read the uploaded tar")?
                .into_owned();
            let Ok(rel) = path.strip_prefix(prefix).map(Path::to_path_buf) else {
                continue;
            };
            let kind = entry.header().entry_type();
            if kind.is_symlink() {
                if let Some(target) = entry.link_name().context("failed to read a link")? {
                    record
                        .entries
                        .insert(rel, WentIn::Link(target.into_owned()));
                }
            } else if kind.is_file() {
                let mut hasher = Sha256::new();
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = entry
                        .read(&mut buf)
                        .context("failed to read the uploaded tar")?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                }
                record
                    .entries
                    .insert(rel, WentIn::File(crate::fsutil::hex(&hasher.finalize())));
            }
        }
        Ok(record)
    }

    /// Compares the project that came back (`project`, shown as `shown`) with what went in.
    pub fn check(&self, project: &Path, shown: &str) -> anyhow::Result<()> {
        let allowed = allowed()?;
        let mut seen = std::collections::HashSet::new();
        for entry in walkdir::WalkDir::new(project)
            .follow_links(false)
            .follow_root_links(false)
            .sort_by_file_name()
        {
            let entry = entry.with_context(|| format!("failed to read `{}`", project.display()))?;
            let Ok(rel) = entry.path().strip_prefix(project) else {
                continue;
            };
            let kind = entry.file_type();
            if kind.is_dir() {
                continue;
            }
            let came_back = if kind.is_symlink() {
                WentIn::Link(
                    std::fs::read_link(entry.path())
                        .with_context(|| format!("failed to read `{}`", entry.path().display()))?,
                )
            } else {
                WentIn::File(crate::fsutil::sha256_file(entry.path())?)
            };
            match self.entries.get(rel) {
                Some(went_in) if *went_in == came_back => {}
                Some(_) => return Err(refused(shown, rel, "came back changed from the container")),
                None if allowed.is_match(rel) => {
                    tracing::debug!("pixi created `{shown}/{}`", rel.display());
                }
                None => {
                    return Err(refused(
                        shown,
                        rel,
                        "was added in the container, and it is not something pixi creates",
                    ))
                }
            }
            seen.insert(rel.to_path_buf());
        }
        let mut missing: Vec<&PathBuf> =
            self.entries.keys().filter(|p| !seen.contains(*p)).collect();
        missing.sort();
        if let Some(rel) = missing.first() {
            return Err(refused(
                shown,
                rel,
                "went into the container and did not come back",
            ));
        }
        Ok(())
    }
}

fn refused(shown: &str, rel: &Path, what: &str) -> anyhow::Error {
    InputError::new(format!(
        "`{shown}/{}` {what}: the staged project must be the project that went in",
        rel.display()
    ))
    .with_hint(format!(
        "pixi may only add {}; look at what the image, its pixi or the verification does to the project",
        PIXI_CREATES.join(", ")
    ))
    .into()
}

fn allowed() -> anyhow::Result<GlobSet> {
    let mut builder = GlobSetBuilder::new();
    for pattern in PIXI_CREATES {
        builder.add(Glob::new(pattern).context("a built-in pattern does not compile")?);
    }
    builder
        .build()
        .context("the built-in patterns do not compile")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_went_in_and_what_pixi_creates_comes_back() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("pkg")).unwrap();
        std::fs::write(src.join("pixi.lock"), "lock").unwrap();
        std::fs::write(src.join("pkg/mod.py"), "x = 1").unwrap();
        let prefix = Path::new("project/demo");
        let entries = vec![
            TarEntry::dir(prefix),
            TarEntry {
                path: prefix.join("pixi.lock"),
                kind: EntryKind::File {
                    source: src.join("pixi.lock"),
                    executable: false,
                },
                check: None,
            },
            TarEntry {
                path: prefix.join("pkg/mod.py"),
                kind: EntryKind::File {
                    source: src.join("pkg/mod.py"),
                    executable: false,
                },
                check: None,
            },
        ];
        let record = Provenance::from_plan(&entries, prefix).unwrap();
        let back = dir.path().join("back");
        std::fs::create_dir_all(back.join("pkg")).unwrap();
        std::fs::copy(src.join("pixi.lock"), back.join("pixi.lock")).unwrap();
        std::fs::copy(src.join("pkg/mod.py"), back.join("pkg/mod.py")).unwrap();
        record.check(&back, "project/demo").unwrap();
        // What pixi and Python make is fine.
        std::fs::create_dir_all(back.join(".pixi")).unwrap();
        std::fs::write(back.join(".pixi/.gitignore"), "*").unwrap();
        std::fs::create_dir_all(back.join("pkg/__pycache__")).unwrap();
        std::fs::write(back.join("pkg/__pycache__/mod.cpython-312.pyc"), "c").unwrap();
        record.check(&back, "project/demo").unwrap();
        // Anything else is named.
        std::fs::write(back.join("planted.sh"), "evil").unwrap();
        let err = record.check(&back, "project/demo").unwrap_err();
        assert!(err.to_string().contains("project/demo/planted.sh"), "{err}");
        std::fs::remove_file(back.join("planted.sh")).unwrap();
        std::fs::write(back.join("pixi.lock"), "another lock").unwrap();
        let err = record.check(&back, "project/demo").unwrap_err();
        assert!(
            err.to_string().contains("pixi.lock` came back changed"),
            "{err}"
        );
        std::fs::remove_file(back.join("pixi.lock")).unwrap();
        let err = record.check(&back, "project/demo").unwrap_err();
        assert!(err.to_string().contains("did not come back"), "{err}");
    }
}
