//! `WORKDIR/out/stage.json`: the record of a staging run, what staging writes and what
//! `make-product` reads (staging and the product meet here and in [`crate::workdir::Workdir`]
//! only). `stage-host --json` and `stage-container --json` print it with the engine.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::preflight::PreflightRecord;
use super::verification::VerificationRecord;
use super::ImageRecord;
use crate::workdir::report::{Exclusion, ExclusionReport};

/// The format `stage.json` is written in; readers know it and nothing newer.
pub const FORMAT_VERSION: u32 = 2;

/// What a staging run did; written to `out/stage.json` and printed with `--json`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StageReport {
    pub format_version: u32,
    pub tool_version: String,
    pub command: String,
    pub project_name: String,
    /// The project manifest's file name: `pixi.toml` or `pyproject.toml`.
    pub manifest: String,
    pub environments: Vec<String>,
    /// The build image (stage-container: the container's image).
    pub image: ImageRecord,
    pub pixi_version: String,
    pub platform: Option<String>,
    pub container_workdir: String,
    pub lock_sha256: String,
    pub lock_version: Option<u64>,
    pub excluded: ExcludedRecord,
    /// What the pre-flight check found ("will this work offline?"); older reports lack it.
    #[serde(default)]
    pub preflight: PreflightRecord,
    /// The host project and resources folders (stage-host), which make-product never writes over.
    #[serde(default)]
    pub project_dir: Option<PathBuf>,
    #[serde(default)]
    pub resources_dir: Option<PathBuf>,
    pub installs: Vec<StepReport>,
    /// The first of `verifications` (what the first readers of format 1 knew).
    pub verification: Option<VerificationRecord>,
    /// Every verification, each in its environment (older reports lack it).
    #[serde(default)]
    pub verifications: Vec<VerificationRecord>,
    /// The build container's pixi, copied with `--bundle-pixi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundled_pixi: Option<BundledPixi>,
    /// Whether the run reused an earlier cache, and what it reused, downloaded and left out
    /// (older reports lack it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheReport>,
    pub workdir: PathBuf,
    pub started_at: String,
    pub finished_at: String,
    pub result: StageResult,
}

/// Brings a `stage.json` of an earlier format to this one, in place; a document of any other
/// format is left as it is (and refused by its version). Format 1 spelled the image flat, as
/// `image` (the name), `image_id` and `image_repo_digests`; format 2 nests it like every record.
pub fn upgrade(doc: &mut serde_json::Value) {
    let Some(fields) = doc.as_object_mut() else {
        return;
    };
    if fields
        .get("format_version")
        .and_then(serde_json::Value::as_u64)
        != Some(1)
    {
        return;
    }
    let mut take = |key: &str| fields.remove(key).unwrap_or(serde_json::Value::Null);
    let (name, id, digests) = (take("image"), take("image_id"), take("image_repo_digests"));
    let digests = if digests.is_null() {
        serde_json::Value::Array(Vec::new())
    } else {
        digests
    };
    fields.insert(
        "image".to_string(),
        serde_json::json!({"name": name, "id": id, "repo_digests": digests}),
    );
    fields.insert("format_version".to_string(), FORMAT_VERSION.into());
}

impl StageReport {
    /// The image the staging run used.
    pub fn image_record(&self) -> ImageRecord {
        self.image.clone()
    }

    /// The exit status this run ends with.
    pub fn status(&self) -> crate::exit::Status {
        match self.result {
            StageResult::Success => crate::exit::Status::Success,
            StageResult::VerificationFailed => crate::exit::Status::VerificationFailed,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StageResult {
    Success,
    VerificationFailed,
}

/// One `pixi install`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StepReport {
    pub environment: String,
    pub command: String,
    pub exit_code: i64,
    pub seconds: f64,
    pub log: String,
}

/// The build container's pixi binary, copied to the workdir with `--bundle-pixi`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BundledPixi {
    /// In the workdir, `/`-separated.
    pub path: String,
    /// Where it was in the container.
    pub source: String,
    /// `pixi --version` of that binary.
    pub version: String,
    pub sha256: String,
    pub size: u64,
}

/// What the walks left out, by reason: `junk`, `secret`, `user`.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct ExcludedRecord {
    pub counts: BTreeMap<ExclusionRecord, usize>,
    /// Relative paths of the secrets left out (names only, never contents).
    pub secrets: Vec<String>,
    /// Things a tar cannot carry (sockets, FIFOs, devices).
    pub skipped_special: Vec<String>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum ExclusionRecord {
    Junk,
    Secret,
    User,
}

impl From<&ExclusionReport> for ExcludedRecord {
    fn from(report: &ExclusionReport) -> Self {
        ExcludedRecord {
            counts: report
                .counts
                .iter()
                .map(|(why, n)| {
                    let why = match why {
                        Exclusion::Junk => ExclusionRecord::Junk,
                        Exclusion::Secret => ExclusionRecord::Secret,
                        Exclusion::User => ExclusionRecord::User,
                    };
                    (why, *n)
                })
                .collect(),
            secrets: report.secrets.clone(),
            skipped_special: report.skipped_special.clone(),
        }
    }
}

/// Where a seed comes from, as the report names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SeedOrigin {
    /// The workdir's own `pixi-cache/`, from its last staging (`--force`).
    Workdir,
    /// `--cache-from` a workdir (`DIR/pixi-cache`).
    CacheFromWorkdir,
    /// `--cache-from` a product (`DIR/pkg-cache`).
    CacheFromProduct,
}

/// Warm re-staging: whether the run seeded its cache from an earlier one, and what it reused,
/// downloaded and left out (`cache` in `out/stage.json`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CacheReport {
    /// Whether a cache was seeded before `pixi install`.
    pub warm: bool,
    /// Where it came from (absent for a cold run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<SeedOrigin>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<PathBuf>,
    /// Conda packages the staged environments need (the lock, this platform).
    pub conda_packages: usize,
    /// Of those, found in the seed (not downloaded).
    pub conda_reused: usize,
    /// Of those, downloaded by this run.
    pub conda_downloaded: usize,
    /// Seeded packages the lock no longer needs: left out of the copy back.
    pub conda_dropped: usize,
    /// Whether uv's cache (PyPI) was seeded.
    pub uv_cache_seeded: bool,
    /// How long streaming the seed into the container took.
    #[serde(default)]
    pub seed_seconds: f64,
}
