//! The pre-flight findings ("will this work offline?") as `check --json` prints them, as
//! `stage.json` records them (`preflight`) and as `pixi-airgap.json` carries them (`preflight`,
//! the findings alone).

use crate::check::{Finding, PreflightReport, Severity};

/// The format of `check --json`.
pub const FORMAT_VERSION: u32 = 1;

/// `check --json`: the pre-flight record with its format version.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckOutput {
    pub format_version: u32,
    #[serde(flatten)]
    pub preflight: PreflightRecord,
}

impl From<&PreflightReport> for CheckOutput {
    fn from(report: &PreflightReport) -> Self {
        CheckOutput {
            format_version: FORMAT_VERSION,
            preflight: report.into(),
        }
    }
}

/// The findings of one pre-flight check, errors first.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct PreflightRecord {
    pub platform: String,
    pub environments: Vec<String>,
    pub lock_version: Option<u64>,
    pub pixi_version: Option<String>,
    /// The project manifest's `requires-pixi`.
    pub requires_pixi: Option<String>,
    pub findings: Vec<FindingRecord>,
}

/// One thing an offline install from the cache cannot be expected to do.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FindingRecord {
    pub severity: SeverityRecord,
    /// Stable identifier (`pypi-sdist`, `stale-lock`, ...), for scripts.
    pub code: String,
    pub subject: String,
    pub reason: String,
    pub fix: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SeverityRecord {
    Warning,
    Error,
}

impl From<&Finding> for FindingRecord {
    fn from(f: &Finding) -> Self {
        FindingRecord {
            severity: match f.severity {
                Severity::Warning => SeverityRecord::Warning,
                Severity::Error => SeverityRecord::Error,
            },
            code: f.code.clone(),
            subject: f.subject.clone(),
            reason: f.reason.clone(),
            fix: f.fix.clone(),
        }
    }
}

impl From<&PreflightReport> for PreflightRecord {
    fn from(r: &PreflightReport) -> Self {
        PreflightRecord {
            platform: r.platform.clone(),
            environments: r.environments.clone(),
            lock_version: r.lock_version,
            pixi_version: r.pixi_version.clone(),
            requires_pixi: r.requires_pixi.clone(),
            findings: r.findings.iter().map(FindingRecord::from).collect(),
        }
    }
}
