//! Which files of a project are staged. Caches, VCS folders and environments are junk (never
//! walked into); credentials are secrets ([`crate::secrets`]: by name or content, never staged unless
//! named with `--include-secret`);
//! `--exclude` adds the user's own patterns.
//!
//! Patterns without a `/` match a name at any depth (like `.gitignore`); patterns with one match
//! the path relative to the staged folder.

use std::path::Path;

use anyhow::Context;
use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::secrets::SecretNames;
use crate::workdir::report::Exclusion;

/// Folders that are never walked into: VCS data, environments, build output and tool caches
/// (except for the files in [`KEPT_INSIDE_JUNK`]).
const JUNK: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    ".bzr",
    "_darcs",
    ".jj",
    ".pixi",
    "__pycache__",
    ".venv",
    "node_modules",
    "target",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".tox",
    ".nox",
    ".ipynb_checkpoints",
    ".hypothesis",
    ".cache",
    ".DS_Store",
    "*.pyc",
    "*.pyo",
    // A workdir's lock file lies beside it (see `runlock`): never staged with the project.
    "*.pixi-airgap-lock",
];

/// Files kept although the folder they are in is junk: the project's own pixi settings, which
/// pixi needs on the other side too. Each is kept whatever the other patterns say.
const KEPT_INSIDE_JUNK: &[&str] = &[".pixi/config.toml"];

/// A pattern list that does not compile, by list (the caller knows what the user called it).
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("bad exclude pattern")]
    Exclude(#[source] anyhow::Error),
    #[error("bad include-secret pattern")]
    IncludeSecret(#[source] anyhow::Error),
    #[error("the built-in patterns do not compile")]
    BuiltIn(#[source] anyhow::Error),
}

/// The compiled filter; build it once, use it for every walk.
#[derive(Debug, Clone)]
pub struct StageFilter {
    junk: GlobSet,
    secrets: SecretNames,
    user: GlobSet,
    include_secrets: GlobSet,
}

impl StageFilter {
    /// Compiles the default lists plus the user's patterns; a bad pattern is an input error.
    pub fn new(exclude: &[String], include_secret: &[String]) -> Result<Self, FilterError> {
        Ok(Self {
            junk: compile(JUNK.iter().copied()).map_err(FilterError::BuiltIn)?,
            secrets: SecretNames::new().map_err(FilterError::BuiltIn)?,
            user: compile(exclude.iter().map(String::as_str)).map_err(FilterError::Exclude)?,
            include_secrets: compile(include_secret.iter().map(String::as_str))
                .map_err(FilterError::IncludeSecret)?,
        })
    }

    /// Why `rel` (a path relative to the staged folder) is left out, or `None` to stage it.
    pub fn exclusion(&self, rel: &Path) -> Option<Exclusion> {
        if self.user.is_match(rel) {
            return Some(Exclusion::User);
        }
        if self.secrets.is_secret(rel) && !self.include_secrets.is_match(rel) {
            return Some(Exclusion::Secret);
        }
        if self.junk.is_match(rel) {
            return Some(Exclusion::Junk);
        }
        None
    }

    /// The content check for a file that [`Self::exclusion`] let through: a secret in its text
    /// excludes it, unless `--include-secret` names it. `data` is the whole file (callers only
    /// check files under [`crate::secrets::CONTENT_LIMIT`]).
    pub fn content_exclusion(&self, rel: &Path, data: &[u8]) -> Option<Exclusion> {
        if self.include_secrets.is_match(rel) {
            return None;
        }
        let finding = crate::secrets::content_finding(data)?;
        tracing::debug!("`{}` holds a {finding}", rel.display());
        Some(Exclusion::Secret)
    }

    /// Whether the content check applies to `rel` (not brought back by `--include-secret`).
    pub fn scans_content(&self, rel: &Path) -> bool {
        !self.include_secrets.is_match(rel)
    }

    /// [`Self::content_exclusion`] for a file on disk (read only when it is small enough).
    pub fn file_content_exclusion(
        &self,
        rel: &Path,
        path: &Path,
    ) -> anyhow::Result<Option<Exclusion>> {
        if self.include_secrets.is_match(rel) {
            return Ok(None);
        }
        let finding = crate::secrets::file_content_finding(path)?;
        Ok(finding.map(|finding| {
            tracing::debug!("`{}` holds a {finding}", rel.display());
            Exclusion::Secret
        }))
    }
}

impl StageFilter {
    /// Whether `rel` is one of the files kept although the folder it is in is left out.
    pub fn is_kept_inside_junk(&self, rel: &Path) -> bool {
        KEPT_INSIDE_JUNK.iter().any(|kept| rel == Path::new(kept))
    }

    /// The files kept inside the folder `rel_dir` although it is left out (relative paths).
    pub fn kept_inside<'a>(&self, rel_dir: &'a Path) -> impl Iterator<Item = &'static Path> + 'a {
        KEPT_INSIDE_JUNK
            .iter()
            .map(Path::new)
            .filter(move |kept| kept.parent() == Some(rel_dir))
    }
}

fn compile<'a>(patterns: impl IntoIterator<Item = &'a str>) -> anyhow::Result<GlobSet> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let trimmed = pattern.trim_end_matches('/');
        let anchored = trimmed.trim_start_matches('/');
        let full = if trimmed.contains('/') {
            anchored.to_string()
        } else {
            format!("**/{anchored}")
        };
        let glob = Glob::new(&full).with_context(|| format!("invalid pattern `{pattern}`"))?;
        builder.add(glob);
    }
    builder.build().context("failed to compile patterns")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(filter: &StageFilter, path: &str) -> Option<Exclusion> {
        filter.exclusion(Path::new(path))
    }

    #[test]
    fn default_lists() {
        let f = StageFilter::new(&[], &[]).unwrap();
        for secret in [
            ".env",
            "sub/.env.production",
            ".npmrc",
            ".pypirc",
            ".netrc",
            ".git-credentials",
            "id_rsa",
            "keys/id_ed25519.pub",
            ".ssh",
            "certs/server.pem",
            "tls.key",
            "store.p12",
            "x.pfx",
            ".aws",
            ".docker/config.json",
            "kubeconfig",
            "a/.rattler/credentials.json",
        ] {
            assert_eq!(check(&f, secret), Some(Exclusion::Secret), "{secret}");
        }
        for junk in [
            ".git",
            "sub/.git",
            "__pycache__",
            ".venv",
            "node_modules",
            "target",
            "a.pyc",
            "tmp/.workdir-x.pixi-airgap-lock",
        ] {
            assert_eq!(check(&f, junk), Some(Exclusion::Junk), "{junk}");
        }
        for kept in [
            ".env.example",
            "pixi.toml",
            "src/main.py",
            "docs/keyboard.md",
            ".docker/other.json",
            "environment.yml",
        ] {
            assert_eq!(check(&f, kept), None, "{kept}");
        }
    }

    #[test]
    fn user_patterns_and_opt_in() {
        let f = StageFilter::new(
            &["*.log".to_string(), "data/raw".to_string()],
            &[".npmrc".to_string()],
        )
        .unwrap();
        assert_eq!(check(&f, "deep/x.log"), Some(Exclusion::User));
        assert_eq!(check(&f, "data/raw"), Some(Exclusion::User));
        assert_eq!(check(&f, "other/data/raw"), None);
        assert_eq!(check(&f, ".npmrc"), None);
        assert_eq!(check(&f, ".pypirc"), Some(Exclusion::Secret));
    }

    #[test]
    fn bad_pattern_is_input_error() {
        let err = StageFilter::new(&["a{".to_string()], &[]).unwrap_err();
        assert!(matches!(err, FilterError::Exclude(_)), "{err}");
    }
}
