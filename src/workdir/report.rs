//! The record of a staging run, `WORKDIR/out/stage.json`: what staging writes and what
//! `make-product` reads. Staging and the product meet here (and in [`super::Workdir`]) only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::Workdir;
use crate::docker::ImageRecord;
use crate::exit::InputError;
use crate::verify::VerificationReport;

/// The file name of the record in `WORKDIR/out/`.
pub const STAGE_REPORT_FILE: &str = "stage.json";

/// What a staging run did; written to `out/stage.json` and printed with `--json`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StageReport {
    pub format_version: u32,
    pub tool_version: String,
    pub command: String,
    pub project_name: String,
    pub manifest: String,
    pub environments: Vec<String>,
    pub image: Option<String>,
    pub image_id: Option<String>,
    pub image_repo_digests: Vec<String>,
    pub pixi_version: String,
    pub platform: Option<String>,
    pub container_workdir: String,
    pub lock_sha256: String,
    pub lock_version: Option<u64>,
    pub excluded: ExclusionReport,
    /// What the pre-flight check found ("will this work offline?"); older reports lack it.
    #[serde(default)]
    pub preflight: crate::check::CheckReport,
    /// The host project and resources folders (stage-host), which make-product never writes over.
    #[serde(default)]
    pub project_dir: Option<PathBuf>,
    #[serde(default)]
    pub resources_dir: Option<PathBuf>,
    pub installs: Vec<StepReport>,
    /// The first of `verifications` (what format-1 readers know).
    pub verification: Option<VerificationReport>,
    /// Every verification, each in its environment (older reports lack it).
    #[serde(default)]
    pub verifications: Vec<VerificationReport>,
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

impl StageReport {
    /// Reads `WORKDIR/out/stage.json`, the record of the staging run a product is made from.
    pub fn read(workdir: &Workdir) -> anyhow::Result<Self> {
        let path = workdir.out().join(STAGE_REPORT_FILE);
        let bytes = std::fs::read(&path).map_err(|err| {
            InputError::new(format!(
                "`{}` is not a staged workdir: cannot read out/{STAGE_REPORT_FILE}",
                workdir.root().display()
            ))
            .with_hint(
                "stage into this workdir first (`pixi-airgap stage-host` or `stage-container`)",
            )
            .with_source(err)
        })?;
        serde_json::from_slice(&bytes).map_err(|err| {
            InputError::new(format!("`{}` is damaged", path.display()))
                .with_source(err)
                .into()
        })
    }

    /// Writes the record to `WORKDIR/out/stage.json`.
    pub fn write(&self, workdir: &Workdir) -> anyhow::Result<()> {
        let json = serde_json::to_vec_pretty(self).context("failed to encode the stage report")?;
        let path = workdir.out().join(STAGE_REPORT_FILE);
        crate::nofollow::write_output_file(&path, &json)
    }

    /// The image the staging run used.
    pub fn image_record(&self) -> ImageRecord {
        ImageRecord {
            name: self.image.clone(),
            id: self.image_id.clone(),
            repo_digests: self.image_repo_digests.clone(),
        }
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

/// Why a path was left out.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Exclusion {
    /// VCS, caches, environments, build output.
    Junk,
    /// Credentials and keys.
    Secret,
    /// A `--exclude` pattern.
    User,
}

impl Exclusion {
    pub fn describe(self) -> &'static str {
        match self {
            Exclusion::Junk => "VCS folders, caches and environments",
            Exclusion::Secret => "secrets",
            Exclusion::User => "your exclude patterns",
        }
    }
}

/// What a walk left out, by reason.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct ExclusionReport {
    pub counts: BTreeMap<Exclusion, usize>,
    /// Relative paths of the secrets left out (names only, never contents).
    pub secrets: Vec<String>,
    /// Things a tar cannot carry (sockets, FIFOs, devices).
    pub skipped_special: Vec<String>,
}

impl ExclusionReport {
    pub(crate) fn record(&mut self, rel: &Path, why: Exclusion) {
        *self.counts.entry(why).or_default() += 1;
        if why == Exclusion::Secret {
            self.secrets.push(rel.display().to_string());
        }
    }

    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }

    pub fn merge(&mut self, other: ExclusionReport) {
        for (why, n) in other.counts {
            *self.counts.entry(why).or_default() += n;
        }
        self.secrets.extend(other.secrets);
        self.skipped_special.extend(other.skipped_special);
    }

    /// Logs a one-line summary plus the names of the secrets that were left out.
    pub fn log(&self, what: &str) {
        if self.total() == 0 {
            tracing::info!("{what}: nothing excluded");
        } else {
            let parts: Vec<String> = self
                .counts
                .iter()
                .map(|(why, n)| format!("{n} {}", why.describe()))
                .collect();
            tracing::info!(
                "{what}: excluded {} paths ({})",
                self.total(),
                parts.join(", ")
            );
        }
        if !self.secrets.is_empty() {
            tracing::info!(
                "{what}: secrets not staged: {} (name one as an included secret to stage it)",
                self.secrets.join(", ")
            );
        }
        for special in &self.skipped_special {
            tracing::warn!("{what}: skipped `{special}`: not a file, folder or symlink");
        }
    }
}
