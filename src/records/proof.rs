//! `OUT_DIR/verify-report.json`, the record of an offline proof (`verify-product`), also printed
//! with `--json`. Built once, from the proof's run ([`crate::proof::ProofRun`]) and the host-side
//! check of the product ([`crate::product::manifest::IntegrityReport`]), in [`ProofReport::new`].

use std::path::PathBuf;

use super::verification::VerificationRecord;
use super::{EngineRecord, ImageRecord};
use crate::product::manifest::IntegrityReport;
use crate::proof::ProofRun;

/// The format `verify-report.json` is written in.
pub const FORMAT_VERSION: u32 = 2;

/// `OUT_DIR/verify-report.json`, also printed with `--json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProofReport {
    pub format_version: u32,
    pub tool_version: String,
    pub project_name: String,
    pub product_dir: PathBuf,
    pub product_path_in_container: String,
    /// The proof image.
    pub image: ImageRecord,
    /// What `pixi --version` printed for the pixi the proof ran.
    pub pixi_version: String,
    /// Whether that was the product's own pixi (`--bundle-pixi`) rather than the image's.
    pub bundled_pixi: bool,
    pub network_mode: String,
    pub network_interfaces: Vec<String>,
    pub user: Option<String>,
    pub files_checked: usize,
    /// Files in the product folder that are not in its manifest: never uploaded.
    pub extra_files: Vec<String>,
    /// Folders under `<project>/.pixi/` that bootstrapping in place left (never uploaded).
    pub runtime_state: Vec<String>,
    pub bootstrap: BootstrapReport,
    /// The first of `verifications`.
    pub verification: Option<VerificationRecord>,
    /// Every verification, each in its environment.
    pub verifications: Vec<VerificationRecord>,
    pub timings: Timings,
    pub result: ProofResult,
    /// The engine that ran the proof (Docker or Podman).
    pub engine: EngineRecord,
    /// An update proof's applied delta (`--since OLD --delta DIR`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Option<AppliedDelta>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BootstrapReport {
    pub command: String,
    pub exit_code: i64,
    pub seconds: f64,
    pub log: String,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Timings {
    pub check_seconds: f64,
    pub upload_seconds: f64,
    pub bootstrap_seconds: f64,
    pub verification_seconds: f64,
    pub total_seconds: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProofResult {
    Success,
    BootstrapFailed,
    VerificationFailed,
}

/// The report's record of an applied delta.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AppliedDelta {
    pub old_dir: PathBuf,
    pub delta_dir: PathBuf,
    pub command: String,
    pub exit_code: i64,
    pub seconds: f64,
    pub log: String,
}

impl ProofReport {
    /// The report of a proof that ran to its verdict: what happened in the container (`run`),
    /// what the host-side check found (`integrity`), and the time the check and the whole took.
    pub fn new(
        run: ProofRun,
        integrity: &IntegrityReport,
        check_seconds: f64,
        total_seconds: f64,
    ) -> Self {
        let verification_seconds = run.verifications.iter().map(|v| v.seconds).sum();
        let (verification, verifications) = super::verification::records(&run.verifications);
        ProofReport {
            format_version: FORMAT_VERSION,
            tool_version: super::tool_version(),
            project_name: run.project_name,
            product_dir: run.product_dir,
            product_path_in_container: run.product_path_in_container,
            image: (&run.image).into(),
            pixi_version: run.pixi_version,
            bundled_pixi: run.bundled_pixi,
            network_mode: run.network_mode,
            network_interfaces: run.network_interfaces,
            user: run.user,
            files_checked: integrity.checked,
            extra_files: integrity.extra.clone(),
            runtime_state: integrity.runtime_state.keys().cloned().collect(),
            bootstrap: BootstrapReport {
                command: run.bootstrap.command,
                exit_code: run.bootstrap.exit_code,
                seconds: run.bootstrap.seconds,
                log: run.bootstrap.log,
            },
            verification,
            verifications,
            timings: Timings {
                check_seconds,
                upload_seconds: run.upload_seconds,
                bootstrap_seconds: run.bootstrap.seconds,
                verification_seconds,
                total_seconds,
            },
            result: run.result,
            engine: (&run.engine).into(),
            delta: run.delta.map(|d| AppliedDelta {
                old_dir: d.old_dir,
                delta_dir: d.delta_dir,
                command: d.step.command,
                exit_code: d.step.exit_code,
                seconds: d.step.seconds,
                log: d.step.log,
            }),
        }
    }
}
