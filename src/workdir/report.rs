//! Where the record of a staging run, `WORKDIR/out/stage.json`, lives in the workdir, and how it
//! is read and written (its format is [`crate::records::stage`]): what staging writes and what
//! `make-product` reads. Staging and the product meet here (and in [`super::Workdir`]) only. Also
//! what the walks leave out ([`ExclusionReport`]), which the record counts.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

use super::Workdir;
use crate::exit::InputError;
pub use crate::records::stage::{
    BundledPixi, CacheReport, SeedOrigin, StageReport, StageResult, StepReport,
};

/// The file name of the record in `WORKDIR/out/`.
pub const STAGE_REPORT_FILE: &str = "stage.json";

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
        let damaged = |err: serde_json::Error| {
            anyhow::Error::from(
                InputError::new(format!("`{}` is damaged", path.display())).with_source(err),
            )
        };
        let mut doc: serde_json::Value = serde_json::from_slice(&bytes).map_err(damaged)?;
        crate::records::stage::upgrade(&mut doc);
        let report: Self = serde_json::from_value(doc).map_err(damaged)?;
        if report.format_version != crate::records::stage::FORMAT_VERSION {
            return Err(InputError::new(format!(
                "`{}` has format version {}; this pixi-airgap ({}) reads format {}",
                path.display(),
                report.format_version,
                env!("CARGO_PKG_VERSION"),
                crate::records::stage::FORMAT_VERSION
            ))
            .with_hint("stage again with this pixi-airgap")
            .into());
        }
        Ok(report)
    }

    /// Writes the record to `WORKDIR/out/stage.json`.
    pub fn write(&self, workdir: &Workdir) -> anyhow::Result<()> {
        let json = serde_json::to_vec_pretty(self).context("failed to encode the stage report")?;
        let path = workdir.out().join(STAGE_REPORT_FILE);
        crate::nofollow::write_output_file(&path, &json)
    }
}

/// Why a path was left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
#[derive(Debug, Default, Clone)]
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
