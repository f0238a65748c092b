//! A user's verification (`--verify`, `--verify-task`, `--verify-script`) as the records carry
//! it: what ran, where, how it ended. `stage.json` and `verify-report.json` record each run with
//! its time and log ([`VerificationRecord`]); `pixi-airgap.json` records it without them
//! ([`RecordedVerification`]), and the proof reads the spec back ([`SpecRecord::to_spec`]).

use crate::verification::{
    ScriptLocation, VerificationKind, VerificationReport, VerificationSpec, VerificationVerdict,
};

/// What a verification runs, tagged by `kind`: `run` (`argv`), `task` (`task`) or `script`
/// (`location`, `path`, `interpreter`); plus `expect`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SpecRecord {
    #[serde(flatten)]
    pub kind: KindRecord,
    pub expect: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum KindRecord {
    Run {
        argv: Vec<String>,
    },
    Task {
        task: String,
    },
    Script {
        location: LocationRecord,
        path: String,
        interpreter: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LocationRecord {
    Project,
    Resources,
}

impl From<&VerificationSpec> for SpecRecord {
    fn from(spec: &VerificationSpec) -> Self {
        let kind = match &spec.kind {
            VerificationKind::Run { argv } => KindRecord::Run { argv: argv.clone() },
            VerificationKind::Task { task } => KindRecord::Task { task: task.clone() },
            VerificationKind::Script {
                location,
                path,
                interpreter,
            } => KindRecord::Script {
                location: match location {
                    ScriptLocation::Project => LocationRecord::Project,
                    ScriptLocation::Resources => LocationRecord::Resources,
                },
                path: path.clone(),
                interpreter: interpreter.clone(),
            },
        };
        SpecRecord {
            kind,
            expect: spec.expect.clone(),
        }
    }
}

impl SpecRecord {
    /// The verification this record names, to run again.
    pub fn to_spec(&self) -> VerificationSpec {
        let kind = match &self.kind {
            KindRecord::Run { argv } => VerificationKind::Run { argv: argv.clone() },
            KindRecord::Task { task } => VerificationKind::Task { task: task.clone() },
            KindRecord::Script {
                location,
                path,
                interpreter,
            } => VerificationKind::Script {
                location: match location {
                    LocationRecord::Project => ScriptLocation::Project,
                    LocationRecord::Resources => ScriptLocation::Resources,
                },
                path: path.clone(),
                interpreter: interpreter.clone(),
            },
        };
        VerificationSpec {
            kind,
            expect: self.expect.clone(),
        }
    }
}

/// A verification that ran: what, where, how it ended, and its log.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct VerificationRecord {
    pub spec: SpecRecord,
    pub environment: String,
    pub command: String,
    pub exit_code: i64,
    /// `None` when no text was expected.
    pub expect_found: Option<bool>,
    pub passed: bool,
    pub seconds: f64,
    pub log: String,
}

impl From<&VerificationReport> for VerificationRecord {
    fn from(v: &VerificationReport) -> Self {
        let VerificationVerdict {
            exit_code,
            expect_found,
            passed,
        } = v.verdict;
        VerificationRecord {
            spec: (&v.spec).into(),
            environment: v.environment.clone(),
            command: v.command.clone(),
            exit_code,
            expect_found,
            passed,
            seconds: v.seconds,
            log: v.log.clone(),
        }
    }
}

/// The staging run's verification as the product records it: what ran and how it ended, without
/// timings, so that the same inputs give the same manifest.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RecordedVerification {
    pub spec: SpecRecord,
    pub environment: String,
    pub command: String,
    pub exit_code: i64,
    pub expect_found: Option<bool>,
    pub passed: bool,
}

impl From<&VerificationRecord> for RecordedVerification {
    fn from(v: &VerificationRecord) -> Self {
        Self {
            spec: v.spec.clone(),
            environment: v.environment.clone(),
            command: v.command.clone(),
            exit_code: v.exit_code,
            expect_found: v.expect_found,
            passed: v.passed,
        }
    }
}

/// Converts a run's verifications; the first goes in `verification` too (what format-1 readers
/// know).
pub fn records(
    reports: &[VerificationReport],
) -> (Option<VerificationRecord>, Vec<VerificationRecord>) {
    let all: Vec<VerificationRecord> = reports.iter().map(VerificationRecord::from).collect();
    (all.first().cloned(), all)
}
