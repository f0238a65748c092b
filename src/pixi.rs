//! What pixi-airgap knows about pixi: manifests, lock files, cache variables and command lines.
//!
//! Project manifests ([`ProjectManifest`]): `pixi.toml` (`[workspace]` in pixi >= 0.40,
//! `[project]` before) or `pyproject.toml` with a `[tool.pixi]` table (pixi >= 0.18). When both
//! exist, pixi uses `pixi.toml`; so do we. In this crate "the project manifest" is always this
//! file; the product's `pixi-airgap.json` is "the product manifest" ([`crate::records::product_manifest`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::exit::InputError;

/// Variables that point pixi's package cache somewhere; pixi reads the first, older pixi (and
/// rattler) the second.
pub const CACHE_VARS: [&str; 2] = ["PIXI_CACHE_DIR", "RATTLER_CACHE_DIR"];

/// The text pixi prints when `--locked` finds the lock file behind the manifest
/// ("... with the project" up to 0.3x, "... with the workspace" later).
const STALE_LOCK_MARKER: &str = "not up-to-date with the";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectManifestKind {
    PixiToml,
    Pyproject,
}

impl ProjectManifestKind {
    pub fn file_name(self) -> &'static str {
        match self {
            ProjectManifestKind::PixiToml => "pixi.toml",
            ProjectManifestKind::Pyproject => "pyproject.toml",
        }
    }
}

/// A project manifest, read far enough to know its name and environments.
#[derive(Debug, Clone)]
pub struct ProjectManifest {
    pub kind: ProjectManifestKind,
    pub path: PathBuf,
    pub name: String,
    /// Every environment: `default` first, then those under `[environments]` in file order.
    pub environments: Vec<String>,
}

impl ProjectManifest {
    /// Finds and reads the manifest in `project_dir`.
    pub fn discover(project_dir: &Path) -> anyhow::Result<Self> {
        let pixi_toml = project_dir.join("pixi.toml");
        let pyproject = project_dir.join("pyproject.toml");
        let (kind, path) = if pixi_toml.is_file() {
            (ProjectManifestKind::PixiToml, pixi_toml)
        } else if pyproject.is_file() {
            (ProjectManifestKind::Pyproject, pyproject)
        } else {
            return Err(InputError::new(format!(
                "`{}` has no pixi.toml or pyproject.toml",
                project_dir.display()
            ))
            .into());
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("failed to read `{}`", path.display()))?;
        let folder_name = project_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "project".to_string());
        Self::parse(kind, path, &text, &folder_name)
    }

    /// Reads a manifest's text; `folder_name` is the fallback project name.
    pub fn parse(
        kind: ProjectManifestKind,
        path: PathBuf,
        text: &str,
        folder_name: &str,
    ) -> anyhow::Result<Self> {
        let doc: toml::Table = text.parse().map_err(|err: toml::de::Error| {
            anyhow::Error::new(InputError::new(format!(
                "`{}` is not valid TOML: {}",
                path.display(),
                err.message()
            )))
        })?;
        let pixi = match kind {
            ProjectManifestKind::PixiToml => Some(&doc),
            ProjectManifestKind::Pyproject => doc
                .get("tool")
                .and_then(|t| t.get("pixi"))
                .and_then(|p| p.as_table()),
        };
        let Some(pixi) = pixi else {
            return Err(InputError::new(format!(
                "`{}` has no [tool.pixi] table, so it is not a pixi project",
                path.display()
            ))
            .with_hint("run `pixi init --format pyproject` or add a pixi.toml")
            .into());
        };
        let table_name = |table: &toml::Table| {
            ["workspace", "project"].iter().find_map(|section| {
                table
                    .get(*section)
                    .and_then(|s| s.get("name"))
                    .and_then(|n| n.as_str())
                    .map(str::to_string)
            })
        };
        let name = table_name(pixi)
            .or_else(|| match kind {
                // PEP 621 `[project] name` is the pyproject fallback pixi itself uses.
                ProjectManifestKind::Pyproject => table_name(&doc),
                ProjectManifestKind::PixiToml => None,
            })
            .unwrap_or_else(|| folder_name.to_string());
        crate::names::check_project_name(&name, &format!("in `{}`", path.display()))?;
        let mut environments = vec!["default".to_string()];
        if let Some(envs) = pixi.get("environments").and_then(|e| e.as_table()) {
            for key in envs.keys() {
                crate::names::check_environment_name(key, &format!("in `{}`", path.display()))?;
                if !environments.contains(key) {
                    environments.push(key.clone());
                }
            }
        }
        Ok(Self {
            kind,
            path,
            name,
            environments,
        })
    }

    /// The environments to install: all of them when none were asked for; otherwise the ones
    /// asked for, which must exist.
    pub fn select_environments(&self, requested: &[String]) -> anyhow::Result<Vec<String>> {
        if requested.is_empty() {
            return Ok(self.environments.clone());
        }
        let mut selected = Vec::new();
        for env in requested {
            if !self.environments.contains(env) {
                return Err(InputError::new(format!(
                    "the manifest has no environment `{env}` (it has: {})",
                    self.environments.join(", ")
                ))
                .into());
            }
            if !selected.contains(env) {
                selected.push(env.clone());
            }
        }
        Ok(selected)
    }
}

/// The parts of `pixi.lock` that the product records.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LockInfo {
    pub path: PathBuf,
    pub sha256: String,
    /// The lock file format version (`version:` at the top).
    pub version: Option<u64>,
    /// Environment names the lock file has (format 4 and later).
    pub environments: Vec<String>,
    /// URLs of every conda package the lock file names, sorted and unique.
    pub conda_packages: Vec<String>,
}

impl LockInfo {
    /// Reads `pixi.lock` next to the manifest; a missing lock is an input error.
    pub fn read(project_dir: &Path) -> anyhow::Result<Self> {
        Ok(Self::read_parsed(project_dir)?.0)
    }

    /// [`LockInfo::read`], with the lock it parsed on the way.
    pub fn read_parsed(project_dir: &Path) -> anyhow::Result<(Self, crate::lockfile::Lock)> {
        let path = project_dir.join("pixi.lock");
        if !path.is_file() {
            return Err(InputError::new(format!(
                "`{}` has no pixi.lock",
                project_dir.display()
            ))
            .with_hint("run `pixi install` (or `pixi lock`) online first and keep pixi.lock with the project: an air-gapped install needs the exact packages")
            .into());
        }
        let bytes =
            std::fs::read(&path).with_context(|| format!("failed to read `{}`", path.display()))?;
        let sha256 = crate::fsutil::hex(&Sha256::digest(&bytes));
        let lock = crate::lockfile::Lock::parse(&bytes).map_err(|err| {
            InputError::new(format!("`{}` is not a valid lock file", path.display()))
                .with_source(err)
        })?;
        let conda_packages: BTreeSet<String> = lock
            .packages
            .iter()
            .filter(|p| p.is_conda_archive())
            .map(|p| p.location.clone())
            .collect();
        let version = lock.version;
        let environments = lock.environments.keys().cloned().collect();
        let info = Self {
            path,
            sha256,
            version,
            environments,
            conda_packages: conda_packages.into_iter().collect(),
        };
        Ok((info, lock))
    }
}

/// `--environment NAME` for pixi, or nothing for `default`: pixi 0.15 rejects an explicit
/// `--environment default` ("unknown environment"), while every version treats no flag as default.
pub fn environment_args(environment: &str) -> Vec<String> {
    if environment == "default" {
        Vec::new()
    } else {
        vec!["--environment".to_string(), environment.to_string()]
    }
}

/// Whether pixi's output says the lock file is behind the manifest.
pub fn is_stale_lock_output(output: &str) -> bool {
    output.contains(STALE_LOCK_MARKER)
}

/// The file name part of a package URL (`.../airgap-hello-1.0.0-0.tar.bz2`).
pub fn package_file_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(kind: ProjectManifestKind, text: &str) -> anyhow::Result<ProjectManifest> {
        ProjectManifest::parse(kind, PathBuf::from(kind.file_name()), text, "folder")
    }

    #[test]
    fn pixi_toml_project_name_and_environments() {
        let m = parse(
            ProjectManifestKind::PixiToml,
            r#"
[project]
name = "demo"
channels = []
platforms = ["linux-64"]

[environments]
beta = ["beta"]
alpha = { features = ["alpha"] }
"#,
        )
        .unwrap();
        assert_eq!(m.name, "demo");
        assert_eq!(m.environments, ["default", "beta", "alpha"]);
    }

    #[test]
    fn workspace_table_wins_over_project() {
        let m = parse(
            ProjectManifestKind::PixiToml,
            "[workspace]\nname = \"ws\"\n[project]\nname = \"old\"\n",
        )
        .unwrap();
        assert_eq!(m.name, "ws");
    }

    #[test]
    fn pixi_toml_without_name_uses_folder() {
        let m = parse(
            ProjectManifestKind::PixiToml,
            "[workspace]\nchannels = []\n",
        )
        .unwrap();
        assert_eq!(m.name, "folder");
        assert_eq!(m.environments, ["default"]);
    }

    #[test]
    fn pyproject_needs_tool_pixi() {
        let err = parse(ProjectManifestKind::Pyproject, "[project]\nname = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("no [tool.pixi] table"), "{err}");
        assert_eq!(crate::exit::classify(&err), crate::exit::Status::InputError);
    }

    #[test]
    fn pyproject_name_from_pep621_then_tool_pixi() {
        let m = parse(
            ProjectManifestKind::Pyproject,
            "[project]\nname = \"pep\"\n[tool.pixi.workspace]\nchannels = []\n[tool.pixi.environments]\ntest = [\"test\"]\n",
        )
        .unwrap();
        assert_eq!(m.name, "pep");
        assert_eq!(m.environments, ["default", "test"]);
        let m = parse(
            ProjectManifestKind::Pyproject,
            "[project]\nname = \"pep\"\n[tool.pixi.project]\nname = \"own\"\n",
        )
        .unwrap();
        assert_eq!(m.name, "own");
    }

    #[test]
    fn bad_names_are_rejected() {
        for name in ["..", "a/b", "", "two\nlines"] {
            let text = format!("[project]\nname = {name:?}\n");
            assert!(
                parse(ProjectManifestKind::PixiToml, &text).is_err(),
                "{name}"
            );
        }
    }

    #[test]
    fn bad_environment_names_are_rejected() {
        let text = "[project]\nname = \"p\"\n[environments]\n\"../x\" = []\n";
        assert!(parse(ProjectManifestKind::PixiToml, text).is_err());
    }

    #[test]
    fn invalid_toml_is_an_input_error() {
        let err = parse(ProjectManifestKind::PixiToml, "[project\n").unwrap_err();
        assert_eq!(crate::exit::classify(&err), crate::exit::Status::InputError);
    }

    #[test]
    fn discover_prefers_pixi_toml() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("pyproject.toml"),
            "[tool.pixi.project]\nname=\"py\"\n",
        )
        .unwrap();
        assert_eq!(
            ProjectManifest::discover(dir.path()).unwrap().kind,
            ProjectManifestKind::Pyproject
        );
        std::fs::write(dir.path().join("pixi.toml"), "[project]\nname=\"px\"\n").unwrap();
        let m = ProjectManifest::discover(dir.path()).unwrap();
        assert_eq!(
            (m.kind, m.name.as_str()),
            (ProjectManifestKind::PixiToml, "px")
        );
    }

    #[test]
    fn select_environments_checks_names() {
        let m = parse(
            ProjectManifestKind::PixiToml,
            "[project]\nname=\"p\"\n[environments]\na=[\"a\"]\n",
        )
        .unwrap();
        assert_eq!(m.select_environments(&[]).unwrap(), ["default", "a"]);
        assert_eq!(
            m.select_environments(&["a".into(), "a".into()]).unwrap(),
            ["a"]
        );
        let err = m.select_environments(&["zzz".into()]).unwrap_err();
        assert!(err.to_string().contains("has: default, a"), "{err}");
    }

    #[test]
    fn lock_info_reads_v4_and_v3() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("pixi.lock"),
            "version: 4\nenvironments:\n  default:\n    packages: {}\npackages:\n- kind: conda\n  name: b\n  url: http://x/noarch/b-1-0.tar.bz2\n- conda: http://x/noarch/a-1-0.tar.bz2\n- kind: pypi\n  url: http://x/e.whl\n",
        )
        .unwrap();
        let lock = LockInfo::read(dir.path()).unwrap();
        assert_eq!(lock.version, Some(4));
        assert_eq!(lock.environments, ["default"]);
        assert_eq!(
            lock.conda_packages,
            [
                "http://x/noarch/a-1-0.tar.bz2",
                "http://x/noarch/b-1-0.tar.bz2"
            ]
        );
        assert_eq!(lock.sha256.len(), 64);
        std::fs::write(
            dir.path().join("pixi.lock"),
            "version: 3\npackage:\n- manager: conda\n  url: http://x/c-1-0.conda\n- manager: pypi\n  url: http://x/d.whl\n",
        )
        .unwrap();
        let lock = LockInfo::read(dir.path()).unwrap();
        assert_eq!(lock.conda_packages, ["http://x/c-1-0.conda"]);
    }

    #[test]
    fn missing_lock_is_input_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = LockInfo::read(dir.path()).unwrap_err();
        assert_eq!(crate::exit::classify(&err), crate::exit::Status::InputError);
        assert!(err.to_string().contains("has no pixi.lock"));
    }

    #[test]
    fn stale_lock_marker_matches_old_and_new_pixi() {
        assert!(is_stale_lock_output(
            "Error: lock-file not up-to-date with the project"
        ));
        assert!(is_stale_lock_output(
            "lock-file not up-to-date with the workspace"
        ));
        assert!(!is_stale_lock_output("the lock-file is up-to-date"));
    }
}
