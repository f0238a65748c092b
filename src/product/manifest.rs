//! `pixi-airgap.json`, the product's manifest: the contract between `make-product`, which writes
//! it ([`super::make`]), and the offline proof, which reads it and checks the product against it
//! ([`check`]) before anything runs. Its schema, how it is read, and that check live here.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use super::{templates, ProductLayout};
use crate::docker::ImageRecord;
use crate::exit::InputError;
use crate::tar::write::{walk_dir, EntryKind, TarEntry, Walked};
use crate::verify::VerificationReport;

/// Bumped when the manifest changes incompatibly.
pub const FORMAT_VERSION: u32 = 1;

/// `pixi-airgap.json`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ProductManifest {
    pub format_version: u32,
    pub tool: ToolInfo,
    /// When the product's content was fixed: `SOURCE_DATE_EPOCH` when set, else the end of the
    /// staging run; so the same workdir always gives the same manifest bytes.
    pub created_at: String,
    pub project_name: String,
    pub manifest_file: String,
    pub environments: Vec<String>,
    pub platform: Option<String>,
    pub pixi_version: String,
    pub image: ImageRecord,
    pub lock: LockRecord,
    /// The first of `verifications` (what format-1 readers know).
    pub verification: Option<RecordedVerification>,
    /// Every verification of the staging run, each with its environment; `verify-product` runs
    /// them all again offline. Older manifests only have `verification`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verifications: Vec<RecordedVerification>,
    /// The pre-flight findings of the staging run (what may not work offline, and why).
    #[serde(default)]
    pub preflight: Vec<crate::check::Finding>,
    /// The CycloneDX SBOM's file name in the product (listed in `files` too).
    #[serde(default)]
    pub sbom: Option<String>,
    /// The pixi the product carries (`--bundle-pixi`); listed in `files` too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pixi: Option<PixiRecord>,
    pub files: Vec<FileRecord>,
}

/// The bundled pixi: the binary that filled the package cache, taken from the build container.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PixiRecord {
    /// `/`-separated path in the product.
    pub path: String,
    /// What `pixi --version` printed in the build container.
    pub version: String,
    pub sha256: String,
    pub size: u64,
}

/// The staging run's verification as the product records it: what ran and how it ended, without
/// timings, so that the same inputs give the same manifest.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RecordedVerification {
    pub spec: crate::verify::VerifySpec,
    pub environment: String,
    pub command: String,
    pub exit_code: i64,
    pub expect_found: Option<bool>,
    pub passed: bool,
}

impl From<&VerificationReport> for RecordedVerification {
    fn from(v: &VerificationReport) -> Self {
        Self {
            spec: v.spec.clone(),
            environment: v.environment.clone(),
            command: v.command.clone(),
            exit_code: v.verdict.exit_code,
            expect_found: v.verdict.expect_found,
            passed: v.verdict.passed,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LockRecord {
    pub sha256: String,
    pub format_version: Option<u64>,
}

/// One file (or symlink) of the product, by `/`-separated path.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileRecord {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub size: Option<u64>,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub executable: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub symlink: Option<String>,
}

impl ProductManifest {
    /// The staging run's verifications, from either field.
    pub fn recorded_verifications(&self) -> Vec<crate::verify::Verification> {
        let recorded = if self.verifications.is_empty() {
            self.verification.iter().collect::<Vec<_>>()
        } else {
            self.verifications.iter().collect()
        };
        recorded
            .into_iter()
            .map(|r| crate::verify::Verification {
                environment: r.environment.clone(),
                spec: r.spec.clone(),
            })
            .collect()
    }

    pub fn total_size(&self) -> u64 {
        self.files.iter().filter_map(|f| f.size).sum()
    }

    /// Reads and validates `pixi-airgap.json`: a format this build knows, and entries that all
    /// name a place inside the product (see [`ProductManifest::validate`]).
    pub fn read(product_dir: &Path) -> anyhow::Result<Self> {
        let path = product_dir.join(ProductLayout::MANIFEST);
        let open = || {
            File::open(&path).map(BufReader::new).map_err(|err| {
                InputError::new(format!(
                    "`{}` is not a pixi-airgap product: cannot read {}",
                    product_dir.display(),
                    ProductLayout::MANIFEST
                ))
                .with_source(err)
            })
        };
        let damaged = |err: serde_json::Error| {
            InputError::new(format!("`{}` is damaged", path.display())).with_source(err)
        };
        // The version first: a newer format may have changed any other field. Both reads stream
        // the file; nothing but the version is kept from the first (no document tree in memory).
        let probe: VersionProbe = serde_json::from_reader(open()?).map_err(damaged)?;
        check_format_version(&path, probe.format_version.as_ref())?;
        let manifest: Self = serde_json::from_reader(open()?).map_err(damaged)?;
        manifest.validate(&path)?;
        Ok(manifest)
    }

    /// Every entry must name a place inside the product: a relative `/`-separated path without
    /// `.`, `..` or empty parts, listed once, never the manifest itself; a file has its size and
    /// sha256; a link's target stays inside the product (by its text). The project name is one
    /// plain folder name.
    pub fn validate(&self, manifest_path: &Path) -> anyhow::Result<()> {
        let problems = self.problems();
        if problems.is_empty() {
            return Ok(());
        }
        Err(InputError::new(format!(
            "`{}` lists {} that may not be part of a product:\n{}",
            manifest_path.display(),
            entries(problems.len()),
            shown(&problems)
        ))
        .with_hint("this manifest was not written by make-product: make the product again on the build machine")
        .into())
    }

    /// What [`ProductManifest::validate`] refuses, one line each.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if plain_path_problem(&self.project_name).is_some() || self.project_name.contains('/') {
            problems.push(format!(
                "  project_name `{}`: not a plain folder name",
                self.project_name
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for record in &self.files {
            if let Some(why) = record_problem(record) {
                problems.push(format!("  `{}`: {why}", record.path.escape_debug()));
            } else if !seen.insert(record.path.as_str()) {
                problems.push(format!("  `{}`: listed twice", record.path));
            }
        }
        problems
    }
}

pub(crate) fn entries(n: usize) -> String {
    format!("{n} entr{}", if n == 1 { "y" } else { "ies" })
}

/// The first 20 lines, and `...` when there are more.
pub(crate) fn shown(lines: &[String]) -> String {
    let n = lines.len().min(20);
    let more = if lines.len() > n { "\n  ..." } else { "" };
    format!("{}{more}", lines[..n].join("\n"))
}

/// The one field read before the rest (whatever its type, so a wrong one is reported as such).
#[derive(serde::Deserialize)]
struct VersionProbe {
    format_version: Option<serde_json::Value>,
}

/// Refuses a manifest whose format this build does not know (older than 1, or newer).
fn check_format_version(path: &Path, version: Option<&serde_json::Value>) -> anyhow::Result<()> {
    match version.and_then(serde_json::Value::as_u64) {
        Some(v) if (1..=u64::from(FORMAT_VERSION)).contains(&v) => Ok(()),
        Some(v) => Err(InputError::new(format!(
            "`{}` has manifest format version {v}; this pixi-airgap ({}) reads format {FORMAT_VERSION}",
            path.display(),
            env!("CARGO_PKG_VERSION")
        ))
        .with_hint("use the pixi-airgap that made the product (or a newer one): its version is `tool.version` in the manifest")
        .into()),
        None => Err(InputError::new(format!(
            "`{}` is damaged: it has no numeric format_version",
            path.display()
        ))
        .into()),
    }
}

/// Why `path` is not a relative, `/`-separated path of plain names; `None` when it is.
fn plain_path_problem(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("an empty path");
    }
    if path.starts_with('/') {
        return Some("an absolute path");
    }
    if path.contains('\0') {
        return Some("a NUL byte in the path");
    }
    for part in path.split('/') {
        match part {
            "" => return Some("an empty part (`//` or a trailing `/`)"),
            "." | ".." => return Some("a `.` or `..` part"),
            _ => {}
        }
    }
    None
}

/// Why a manifest entry may not be part of a product; `None` when it may.
fn record_problem(record: &FileRecord) -> Option<String> {
    if let Some(why) = plain_path_problem(&record.path) {
        return Some(why.to_string());
    }
    if record.path == ProductLayout::MANIFEST {
        return Some("the manifest cannot list itself".to_string());
    }
    match &record.symlink {
        Some(target) => {
            (!crate::tar::extract::link_stays_inside(Path::new(&record.path), Path::new(target)))
                .then(|| format!("a link whose target `{target}` leaves the product"))
        }
        None => (record.size.is_none() || record.sha256.is_none())
            .then(|| "a file without its size or sha256".to_string()),
    }
}

/// What [`check`] found.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct CheckReport {
    pub checked: usize,
    pub missing: Vec<String>,
    pub changed: Vec<String>,
    /// Files not in the manifest, other than runtime state (reported, not fatal).
    /// `verify-product` never uploads them.
    pub extra: Vec<String>,
    /// The folders under `<project>/.pixi/` that hold files not in the manifest: what
    /// bootstrapping in place left (environments, pixi's state), with how many files each holds.
    /// Counted, not listed: an environment has tens of thousands of files.
    pub runtime_state: BTreeMap<String, usize>,
}

/// The runtime-state folder an extra file belongs to: `<project>/.pixi/<first part>` (or the
/// file itself directly under `.pixi/`).
fn runtime_state_folder(project_name: &str, rel: &str) -> Option<String> {
    let rest = rel.strip_prefix(project_name)?.strip_prefix("/.pixi/")?;
    let first = rest.split('/').next().unwrap_or(rest);
    Some(format!("{project_name}/.pixi/{first}"))
}

/// Checks every file of the product against its manifest. Missing or changed files are an input
/// error naming them; extra files are returned for a warning. Nothing is followed: an entry whose
/// folder on disk is a link, or a link that resolves outside the product, counts as changed.
/// Memory: the manifest's records, and the folders seen; the product is walked lazily.
pub fn check(product_dir: &Path) -> anyhow::Result<(ProductManifest, CheckReport)> {
    let manifest = ProductManifest::read(product_dir)?;
    let mut report = CheckReport::default();
    let real_root = std::fs::canonicalize(product_dir)
        .with_context(|| format!("failed to resolve `{}`", product_dir.display()))?;
    let mut real_dirs = HashSet::new();
    for record in &manifest.files {
        crate::shutdown::check()?;
        let path = product_dir.join(&record.path);
        report.checked += 1;
        // Every folder on the way must be a real folder: a link there would make us read (and
        // upload) what lies behind it.
        if !folders_are_real(product_dir, &record.path, &mut real_dirs) {
            report.changed.push(record.path.clone());
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            report.missing.push(record.path.clone());
            continue;
        };
        let intact = match &record.symlink {
            Some(target) => {
                meta.file_type().is_symlink()
                    && std::fs::read_link(&path)
                        .is_ok_and(|t| t.to_string_lossy() == target.as_str())
                    // Through other links it may still leave: judged by the file system too
                    // (a dangling link is fine; it points nowhere outside).
                    && std::fs::canonicalize(&path).map_or(true, |real| real.starts_with(&real_root))
            }
            // A lost execute bit breaks a package's programs just like changed bytes do.
            None => {
                meta.is_file()
                    && Some(meta.len()) == record.size
                    && crate::fsutil::is_executable(&meta) == record.executable
                    && record.sha256.as_deref() == Some(crate::fsutil::sha256_file(&path)?.as_str())
            }
        };
        // bootstrap-project.sh records the product's folder in envs.sh; nothing else may differ.
        let intact = intact
            || (record.path == ProductLayout::ENVS_SH
                && meta.is_file()
                && crate::fsutil::is_executable(&meta) == record.executable
                && match (record.size, record.sha256.as_deref()) {
                    (Some(size), Some(sha256)) => {
                        templates::envs_sh_matches_as_made(&path, size, sha256)?
                    }
                    _ => false,
                });
        if !intact {
            report.changed.push(record.path.clone());
        }
    }
    drop(real_dirs);
    // What is on disk, by the same walk every tar we write uses (sorted, no link followed), one
    // entry at a time.
    let known: HashSet<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    for step in walk_dir(product_dir, Path::new(""), |_, _| Ok(true)) {
        let rel = match step? {
            Walked::Entry(TarEntry {
                kind: EntryKind::Dir,
                ..
            }) => continue,
            Walked::Entry(entry) => crate::fsutil::slash_path(&entry.path)?,
            Walked::Special(rel) => crate::fsutil::slash_path(Path::new(&rel))?,
        };
        if rel == ProductLayout::MANIFEST || known.contains(rel.as_str()) {
            continue;
        }
        match runtime_state_folder(&manifest.project_name, &rel) {
            Some(folder) => *report.runtime_state.entry(folder).or_default() += 1,
            None => report.extra.push(rel),
        }
    }
    drop(known);
    report.extra.sort();
    if !report.missing.is_empty() || !report.changed.is_empty() {
        let mut lines = Vec::new();
        for path in &report.changed {
            lines.push(format!("  changed: {path}"));
        }
        for path in &report.missing {
            lines.push(format!("  missing: {path}"));
        }
        return Err(InputError::new(format!(
            "the product in `{}` does not match its manifest ({} changed, {} missing):\n{}",
            product_dir.display(),
            report.changed.len(),
            report.missing.len(),
            lines.join("\n")
        ))
        .with_hint("copy the product again from the build machine (or unpack its archive again)")
        .into());
    }
    Ok((manifest, report))
}

/// Whether every folder between `root` and the entry `rel` is a real folder (not a link).
/// `seen` remembers folders already found real.
fn folders_are_real(root: &Path, rel: &str, seen: &mut std::collections::HashSet<String>) -> bool {
    let mut end = 0;
    while let Some(slash) = rel[end..].find('/') {
        end += slash;
        let folder = &rel[..end];
        if !seen.contains(folder) {
            let real = std::fs::symlink_metadata(root.join(folder)).is_ok_and(|m| m.is_dir());
            if !real {
                return false;
            }
            seen.insert(folder.to_string());
        }
        end += 1;
    }
    true
}

/// The tar entries of exactly the manifest's files (and the manifest), under `prefix`, produced
/// one at a time as the upload reads them: the manifest first, then each file or link as the
/// manifest records it, each folder on its way just before the first entry inside it. Nothing else
/// in the product folder is read. Call [`check`] first: it makes sure every entry is what the
/// manifest says and that no folder on the way is a link.
pub fn manifest_entries(
    product_dir: &Path,
    manifest: Arc<ProductManifest>,
    prefix: &Path,
) -> ManifestEntries {
    let mut pending = VecDeque::new();
    pending.push_back(TarEntry::dir(prefix));
    pending.push_back(TarEntry {
        path: prefix.join(ProductLayout::MANIFEST),
        kind: EntryKind::File {
            source: product_dir.join(ProductLayout::MANIFEST),
            executable: false,
        },
    });
    ManifestEntries {
        product_dir: product_dir.to_path_buf(),
        prefix: prefix.to_path_buf(),
        manifest,
        next: 0,
        pending,
        folders: HashSet::new(),
    }
}

/// See [`manifest_entries`]. Holds the folders written so far, never a list of the files.
pub struct ManifestEntries {
    product_dir: PathBuf,
    prefix: PathBuf,
    manifest: Arc<ProductManifest>,
    next: usize,
    pending: VecDeque<TarEntry>,
    folders: HashSet<String>,
}

impl Iterator for ManifestEntries {
    type Item = TarEntry;

    fn next(&mut self) -> Option<TarEntry> {
        if let Some(entry) = self.pending.pop_front() {
            return Some(entry);
        }
        let record = self.manifest.files.get(self.next)?;
        self.next += 1;
        // The folders on the way that are not written yet, outermost first.
        let mut missing = Vec::new();
        let mut end = record.path.len();
        while let Some(slash) = record.path[..end].rfind('/') {
            let folder = &record.path[..slash];
            if self.folders.contains(folder) {
                break;
            }
            missing.push(folder.to_string());
            end = slash;
        }
        for folder in missing.into_iter().rev() {
            self.pending
                .push_back(TarEntry::dir(self.prefix.join(&folder)));
            self.folders.insert(folder);
        }
        let kind = match &record.symlink {
            Some(target) => EntryKind::Symlink {
                target: PathBuf::from(target),
            },
            None => EntryKind::File {
                source: self.product_dir.join(&record.path),
                executable: record.executable,
            },
        };
        self.pending.push_back(TarEntry {
            path: self.prefix.join(&record.path),
            kind,
        });
        self.pending.pop_front()
    }
}
