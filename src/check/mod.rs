//! The pre-flight check: "will this work offline?", answered from the manifest and `pixi.lock` on
//! the host, before any container starts. `pixi-airgap check` runs it alone; the stage commands
//! run it first (errors stop them with exit 2, warnings are logged) and record the findings in
//! `out/stage.json`, from where `make-product` copies them into the product's manifest.
//!
//! What it reports, each finding with a one-line reason and a fix:
//! - PyPI source distributions, path, editable and git dependencies: built at install time, so
//!   the offline install needs their build back-end in the cache (warning), and a path outside the
//!   project is not staged at all (error);
//! - pixi-build source packages (conda locations that are not package archives): built at install
//!   time (warning);
//! - a lock format the build image's pixi cannot read, a `requires-pixi` it does not meet (errors;
//!   needs the image's pixi version, which stage commands learn from the container);
//! - environments or the build platform missing from the lock (errors);
//! - `__glibc` needs above the proof image's glibc (error, when the glibc version is given) and
//!   `__cuda` needs (warning: the proof container has no GPU driver);
//! - a stale lock, judged only where it is certain: a dependency the manifest names for an
//!   environment that the lock's environment does not contain at all (error). Version changes
//!   and removed dependencies are left to `pixi install --locked` in the container.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::lockfile::{self, Lock, PackageKind, PypiSource};
use crate::pixi::ProjectManifest;

mod versions;
pub use versions::*;

mod stale;
use stale::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// One thing an offline install from the cache cannot be expected to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// Stable identifier (`pypi-sdist`, `stale-lock`, ...), for scripts.
    pub code: String,
    /// What it is about: a package, an environment, the lock.
    pub subject: String,
    pub reason: String,
    pub fix: String,
}

impl Finding {
    fn new(
        severity: Severity,
        code: &str,
        subject: impl Into<String>,
        reason: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            severity,
            code: code.to_string(),
            subject: subject.into(),
            reason: reason.into(),
            fix: fix.into(),
        }
    }

    /// One line for a terminal or a log.
    pub fn line(&self) -> String {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        format!(
            "{level}: {} [{}]: {}; fix: {}",
            self.subject, self.code, self.reason, self.fix
        )
    }
}

/// What is known about the machines the project will meet, beyond the project itself.
#[derive(Debug, Clone)]
pub struct CheckInputs {
    /// Environments to check; empty means every environment of the manifest.
    pub environments: Vec<String>,
    /// The platform the build and proof images run (`linux-64`).
    pub platform: String,
    /// `pixi --version` of the build image, when known (`pixi 0.77.0` or `0.77.0`).
    pub pixi_version: Option<String>,
    /// glibc of the proof image, when known (`2.36`).
    pub glibc: Option<String>,
}

impl Default for CheckInputs {
    fn default() -> Self {
        Self {
            environments: Vec::new(),
            platform: "linux-64".to_string(),
            pixi_version: None,
            glibc: None,
        }
    }
}

/// The findings of one check, errors first.
#[derive(Debug, Clone, Default)]
pub struct PreflightReport {
    pub platform: String,
    pub environments: Vec<String>,
    pub lock_version: Option<u64>,
    pub pixi_version: Option<String>,
    /// The manifest's `requires-pixi`, kept for [`PreflightReport::add_pixi_version`].
    pub requires_pixi: Option<String>,
    pub findings: Vec<Finding>,
}

impl PreflightReport {
    /// Adds the findings that need the build image's pixi version (the stage commands learn it
    /// from the container, after the host-side check).
    pub fn add_pixi_version(&mut self, pixi_version: &str) {
        if self.pixi_version.is_some() {
            return;
        }
        self.findings.extend(version_findings(
            self.requires_pixi.as_deref(),
            self.lock_version,
            pixi_version,
        ));
        self.findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        self.pixi_version = Some(pixi_version.to_string());
    }

    pub fn errors(&self) -> usize {
        self.count(Severity::Error)
    }
    pub fn warnings(&self) -> usize {
        self.count(Severity::Warning)
    }
    fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// Logs every finding (errors and warnings alike go to the log as warnings: the caller
    /// decides what an error stops).
    pub fn log(&self) {
        for finding in &self.findings {
            tracing::warn!("{}", finding.line());
        }
    }

    /// The report, or an input error listing its errors when it has any.
    pub fn into_result(self) -> anyhow::Result<Self> {
        if self.errors() == 0 {
            Ok(self)
        } else {
            Err(self.error())
        }
    }

    /// An input error (exit 2) that lists the report's errors.
    pub fn error(&self) -> anyhow::Error {
        let lines: Vec<String> = self
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(Finding::line)
            .collect();
        crate::exit::InputError::new(format!(
            "the project cannot be installed offline as it stands:\n  {}",
            lines.join("\n  ")
        ))
        .with_hint(
            "fix the errors above (`pixi-airgap check` lists them without starting anything)",
        )
        .into()
    }
}

/// The stage commands' host-side check of a project whose manifest and lock the plan has read:
/// logs every finding and fails (exit 2) on errors.
pub fn preflight(
    project_dir: &Path,
    manifest: &ProjectManifest,
    lock: &Lock,
    environments: &[String],
) -> anyhow::Result<PreflightReport> {
    let inputs = CheckInputs {
        environments: environments.to_vec(),
        ..CheckInputs::default()
    };
    let report = run_parsed(project_dir, manifest, lock, environments, &inputs)?;
    report.log();
    report.into_result()
}

/// Checks the project in `project_dir` (manifest and `pixi.lock`).
pub fn run(project_dir: &Path, inputs: &CheckInputs) -> anyhow::Result<PreflightReport> {
    let manifest = ProjectManifest::discover(project_dir)?;
    // The same message for a missing lock as the stage commands give.
    let (_, lock) = crate::pixi::LockInfo::read_parsed(project_dir)?;
    let environments = manifest.select_environments(&inputs.environments)?;
    run_parsed(project_dir, &manifest, &lock, &environments, inputs)
}

fn run_parsed(
    project_dir: &Path,
    manifest: &ProjectManifest,
    lock: &Lock,
    environments: &[String],
    inputs: &CheckInputs,
) -> anyhow::Result<PreflightReport> {
    let text = std::fs::read_to_string(&manifest.path)
        .with_context(|| format!("failed to read `{}`", manifest.path.display()))?;
    let facts = ManifestFacts::parse(manifest.kind, &text, &inputs.platform)?;
    let mut report = check(project_dir, &facts, lock, environments, inputs);
    report.findings.extend(project_case_clashes(project_dir)?);
    Ok(report)
}

/// Names in the project (as it would be staged: the default filter, no earlier workdir) that
/// differ only in case: a case-insensitive transfer medium keeps one of each pair.
fn project_case_clashes(project_dir: &Path) -> anyhow::Result<Option<Finding>> {
    let filter = crate::stage::filter::StageFilter::new(&[], &[])?;
    let found = crate::case_clash::find(project_dir, |rel| {
        filter.exclusion(rel).is_some() || crate::workdir::is_marked(&project_dir.join(rel))
    })?;
    Ok((!found.is_empty()).then(|| {
        Finding::new(
            Severity::Warning,
            "case-clash",
            "project files",
            format!(
                "{} name(s) differ only in case and break on case-insensitive media \
                 (FAT/exFAT, macOS and Windows defaults):\n{}",
                found.count,
                found.lines()
            ),
            "rename one of each pair, or carry the product as an archive or on case-sensitive media",
        )
    }))
}

/// Conda packages known to hold names that differ only in case.
const CASE_CLASH_PACKAGES: &[(&str, &str)] = &[(
    "ncurses",
    "its terminfo database has folders and entries that differ only in case (`E/` and `e/`, ...)",
)];

fn check(
    project_dir: &Path,
    facts: &ManifestFacts,
    lock: &Lock,
    environments: &[String],
    inputs: &CheckInputs,
) -> PreflightReport {
    let mut findings = Vec::new();
    if let Some(v) = &inputs.pixi_version {
        findings.extend(version_findings(
            facts.requires_pixi.as_deref(),
            lock.version,
            v,
        ));
    } else if lock.version.is_some_and(|v| v > lockfile::NEWEST_FORMAT) {
        findings.push(Finding::new(
            Severity::Warning,
            "lock-format-unknown",
            "pixi.lock",
            format!(
                "lock format {} is newer than this tool knows ({})",
                lock.version.unwrap_or_default(),
                lockfile::NEWEST_FORMAT
            ),
            "make sure the build image's pixi is at least as new as the pixi that wrote the lock",
        ));
    }
    let platform = inputs.platform.as_str();
    let mut seen = BTreeSet::new();
    // A lock without any environment (an empty or pre-format-4 lock) cannot be judged here; pixi
    // itself says what it makes of it.
    let environments = if lock.environments.is_empty() {
        &[][..]
    } else {
        environments
    };
    for env in environments {
        let Some(locked) = lock.environments.get(env) else {
            findings.push(Finding::new(
                Severity::Error,
                "environment-not-locked",
                format!("environment `{env}`"),
                "pixi.lock has no such environment",
                "run `pixi lock` online and keep the updated pixi.lock",
            ));
            continue;
        };
        if !locked.packages.contains_key(platform) {
            findings.push(Finding::new(
                Severity::Error,
                "platform-not-locked",
                format!("environment `{env}`"),
                format!(
                    "pixi.lock has no packages for `{platform}`, the platform of the build image"
                ),
                format!("add `{platform}` to the manifest's platforms and run `pixi lock` online"),
            ));
            continue;
        }
        let packages = lock.environment_packages(env, platform);
        findings.extend(stale_findings(env, facts, &packages));
        for pkg in packages {
            if !seen.insert((pkg.kind, pkg.location.clone())) {
                continue;
            }
            if let Some((name, why)) = CASE_CLASH_PACKAGES
                .iter()
                .find(|(name, _)| pkg.kind == PackageKind::Conda && pkg.name == *name)
            {
                findings.push(Finding::new(
                    Severity::Warning,
                    "case-clash",
                    format!("{name} {}", pkg.version.as_deref().unwrap_or("")).trim().to_string(),
                    format!("{why}: a case-insensitive medium (FAT/exFAT, macOS and Windows defaults) keeps one of each"),
                    "carry the product as its archive (`pack`, or a tar) or on case-sensitive media; make-product lists the names",
                ));
            }
            findings.extend(package_findings(project_dir, facts, pkg, inputs));
        }
    }
    if let Some(needed) = lock
        .platform_virtual_packages
        .get(platform)
        .and_then(|v| v.iter().find_map(|p| p.strip_prefix("__glibc=")))
    {
        if let Some(have) = &inputs.glibc {
            if compare_versions(needed, have) == std::cmp::Ordering::Greater {
                findings.push(Finding::new(
                    Severity::Error,
                    "glibc-too-old",
                    "pixi.lock",
                    format!("the lock's system requirements need glibc {needed}, the proof image has {have}"),
                    "use a build and proof image with a newer glibc, or lower [system-requirements] libc",
                ));
            }
        }
    }
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    PreflightReport {
        platform: inputs.platform.clone(),
        environments: environments.to_vec(),
        lock_version: lock.version,
        pixi_version: inputs.pixi_version.clone(),
        requires_pixi: facts.requires_pixi.clone(),
        findings,
    }
}

fn package_findings(
    project_dir: &Path,
    facts: &ManifestFacts,
    pkg: &lockfile::LockedPackage,
    inputs: &CheckInputs,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let subject = match &pkg.version {
        Some(v) => format!("{} {v}", pkg.name),
        None => pkg.name.clone(),
    };
    match pkg.kind {
        PackageKind::Pypi => {
            let editable = pkg.editable
                || facts
                    .editable
                    .contains(&lockfile::normalize_pypi_name(&pkg.name));
            match pkg.pypi_source() {
                None => {}
                Some(PypiSource::Sdist) => out.push(Finding::new(
                    Severity::Warning,
                    "pypi-sdist",
                    format!("PyPI {subject}"),
                    "a source distribution: it is built when installed, which needs its build back-end (e.g. setuptools) from the cache",
                    "prefer a wheel (pin a version that has one), and let the offline proof show that it builds from the cache",
                )),
                Some(PypiSource::Path) => {
                    let path = pkg.location.trim_start_matches("file://");
                    let inside = path_inside(project_dir, path);
                    if !inside {
                        out.push(Finding::new(
                            Severity::Error,
                            "pypi-path-outside-project",
                            format!("PyPI {subject}"),
                            format!("path `{}` lies outside the project, so it is not staged or carried", pkg.location),
                            "move the package into the project folder (or publish a wheel) and lock again",
                        ));
                    } else if editable {
                        out.push(Finding::new(
                            Severity::Warning,
                            "pypi-editable",
                            format!("PyPI {subject}"),
                            format!("editable install of `{}`: built when installed, and tied to the product's copy of the source", pkg.location),
                            "keep its build back-end in the cache (the offline proof shows whether it is), or build a wheel",
                        ));
                    } else {
                        out.push(Finding::new(
                            Severity::Warning,
                            "pypi-path",
                            format!("PyPI {subject}"),
                            format!("local path `{}`: built when installed", pkg.location),
                            "keep its build back-end in the cache (the offline proof shows whether it is), or build a wheel",
                        ));
                    }
                }
                Some(PypiSource::Git) => out.push(Finding::new(
                    Severity::Warning,
                    "pypi-git",
                    format!("PyPI {subject}"),
                    "a git dependency: fetched and built when installed; offline only a cached checkout can serve it",
                    "publish a wheel to an index you lock against, or vendor the package into the project",
                )),
            }
        }
        PackageKind::Conda => {
            if !pkg.is_conda_archive() {
                out.push(Finding::new(
                    Severity::Warning,
                    "source-package",
                    format!("conda {subject}"),
                    format!("a pixi-build source package (`{}`): built when installed, with a build back-end that may need the network", pkg.location),
                    "build the package once and lock the built archive from a channel instead",
                ));
            }
            for dep in &pkg.depends {
                let mut words = dep.split_whitespace();
                match words.next() {
                    Some("__cuda") => out.push(Finding::new(
                        Severity::Warning,
                        "needs-cuda",
                        format!("conda {subject}"),
                        format!("depends on `{dep}`; the proof container has no GPU driver"),
                        "set CONDA_OVERRIDE_CUDA in the build container's environment so pixi installs it; GPU code cannot be verified there",
                    )),
                    Some("__glibc") => {
                        let (Some(have), Some(spec)) = (&inputs.glibc, words.next()) else {
                            continue;
                        };
                        if !spec_matches(spec, have) {
                            out.push(Finding::new(
                                Severity::Error,
                                "glibc-too-old",
                                format!("conda {subject}"),
                                format!("depends on `{dep}`, the proof image has glibc {have}"),
                                "use a build and proof image with a newer glibc",
                            ));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

/// Whether a lock path (relative to the project, or absolute) stays inside the project folder.
fn path_inside(project_dir: &Path, path: &str) -> bool {
    let joined = if Path::new(path).is_absolute() {
        PathBuf::from(path)
    } else {
        project_dir.join(path)
    };
    let mut parts: Vec<std::path::Component> = Vec::new();
    for c in joined.components() {
        match c {
            std::path::Component::ParentDir => {
                parts.pop();
            }
            std::path::Component::CurDir => {}
            other => parts.push(other),
        }
    }
    let normal: PathBuf = parts.iter().collect();
    let project: PathBuf = project_dir
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect();
    normal.starts_with(project)
}

#[cfg(test)]
mod tests;
