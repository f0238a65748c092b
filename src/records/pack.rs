//! `pack --json`: the phases of a pack run, what each made, and the staging and proof records.
//! The report is composed of the records its steps made (`stage.json`, the product summary,
//! `verify-report.json`, the archive and delta records), not converted from internal types: a
//! `None` means the run stopped before that step, never a value still to be filled in.

use std::path::PathBuf;

use super::archive::ArchiveRecord;
use super::make_product::DeltaReport;
use super::proof::ProofReport;
use super::stage::StageReport;

/// The format of `pack --json`.
pub const FORMAT_VERSION: u32 = 2;

/// The `--json` report of a pack run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PackReport {
    pub format_version: u32,
    pub result: PackResult,
    pub workdir: PathBuf,
    pub phases: Vec<Phase>,
    pub project_name: String,
    pub pixi_version: String,
    /// The build image (the same record as `stage`'s).
    pub image: super::ImageRecord,
    /// Whether the offline proof ran in another image than the build (`--verify-image`); when
    /// not, the image that built the product also vouches for it.
    pub proof_image_independent: bool,
    pub product: Option<ProductSummary>,
    pub archive: Option<ArchiveRecord>,
    /// With `--since`: the delta (and its archive with `--archive`).
    pub delta: Option<DeltaReport>,
    pub logs: Logs,
    pub stage: StageReport,
    pub proof: Option<ProofReport>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PackResult {
    Success,
    StageVerificationFailed,
    ProofFailed,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Phase {
    pub name: &'static str,
    pub seconds: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ProductSummary {
    pub dir: PathBuf,
    pub files: usize,
    pub size_bytes: u64,
    pub packages: usize,
    /// The fingerprint of the key that signed SHA256SUMS (`--sign-key`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Logs {
    pub stage: PathBuf,
    pub proof: PathBuf,
}
