//! `make-product --json`: the product (and its delta, with `--since`) that a run made.

use std::path::PathBuf;

use super::archive::ArchiveRecord;
use super::delta::DeltaManifest;

/// The format of `make-product --json`.
pub const FORMAT_VERSION: u32 = 1;

/// The `--json` report.
#[derive(Debug, serde::Serialize)]
pub struct MakeReport {
    pub format_version: u32,
    pub product_dir: PathBuf,
    /// The path of the product manifest, `pixi-airgap.json`.
    pub manifest: PathBuf,
    pub project_name: String,
    pub environments: Vec<String>,
    pub pixi_version: String,
    pub files: usize,
    pub size_bytes: u64,
    /// With `--since`: the delta's folder and its `delta.json`.
    pub delta: Option<DeltaReport>,
    /// `SHA256SUMS.sig`, with --sign-key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<PathBuf>,
    /// The signing key's fingerprint (`SHA256:...`), with --sign-key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<String>,
}

/// What `--json` reports of a delta (make-product and pack).
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeltaReport {
    pub dir: PathBuf,
    pub delta: DeltaManifest,
    /// With `pack --archive`: the delta's archive (`WORKDIR/delta.<FORMAT>`).
    pub archive: Option<ArchiveRecord>,
}
