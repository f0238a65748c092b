//! `pixi-airgap.json`, the product's manifest: the contract between `make-product`, which writes
//! it ([`super::make`]), and the offline proof, which reads it and checks the product against it
//! ([`check`]) before anything runs. Its schema, how it is read, and that check live here.

use std::path::{Path, PathBuf};

use super::{templates, ProductLayout};
use crate::docker::ImageRecord;
use crate::exit::InputError;
use crate::tar::write::{plan_dir, EntryKind};
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

    pub fn read(product_dir: &Path) -> anyhow::Result<Self> {
        let path = product_dir.join(ProductLayout::MANIFEST);
        let bytes = std::fs::read(&path).map_err(|err| {
            InputError::new(format!(
                "`{}` is not a pixi-airgap product: cannot read {}",
                product_dir.display(),
                ProductLayout::MANIFEST
            ))
            .with_source(err)
        })?;
        serde_json::from_slice(&bytes).map_err(|err| {
            InputError::new(format!("`{}` is damaged", path.display()))
                .with_source(err)
                .into()
        })
    }
}

/// What [`check`] found.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct CheckReport {
    pub checked: usize,
    pub missing: Vec<String>,
    pub changed: Vec<String>,
    /// Files not in the manifest (reported, not fatal: pixi adds environments and caches here).
    pub extra: Vec<String>,
}

/// Checks every file of the product against its manifest. Missing or changed files are an input
/// error naming them; extra files are returned for a warning.
pub fn check(product_dir: &Path) -> anyhow::Result<(ProductManifest, CheckReport)> {
    let manifest = ProductManifest::read(product_dir)?;
    let mut report = CheckReport::default();
    let mut known = std::collections::HashSet::new();
    for record in &manifest.files {
        crate::shutdown::check()?;
        known.insert(record.path.clone());
        let path = product_dir.join(&record.path);
        report.checked += 1;
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            report.missing.push(record.path.clone());
            continue;
        };
        let intact = match &record.symlink {
            Some(target) => {
                meta.file_type().is_symlink()
                    && std::fs::read_link(&path)
                        .is_ok_and(|t| t.to_string_lossy() == target.as_str())
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
    // What is on disk, by the same walk every tar we write uses (sorted, no link followed).
    let plan = plan_dir(product_dir, Path::new(""), |_, _| Ok(true))?;
    let on_disk = plan
        .entries
        .iter()
        .filter(|e| !matches!(e.kind, EntryKind::Dir))
        .map(|e| e.path.clone())
        .chain(plan.special.iter().map(PathBuf::from));
    for path in on_disk {
        let rel = crate::fsutil::slash_path(&path)?;
        if rel != ProductLayout::MANIFEST && !known.contains(&rel) {
            report.extra.push(rel);
        }
    }
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
