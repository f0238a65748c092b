//! `pixi-airgap check`: the pre-flight "will this work offline?" report on its own, from the
//! manifest and `pixi.lock` on this host; nothing is started. Exit 2 when a finding is an error.

use std::path::PathBuf;

use anyhow::Context;

use crate::check::{self, CheckInputs};
use crate::cli::CheckArgs;
use crate::exit::Status;

#[derive(Debug, Clone)]
pub struct Options {
    pub project_dir: PathBuf,
    pub inputs: CheckInputs,
    pub json: bool,
}

impl Options {
    pub fn resolve(args: CheckArgs) -> anyhow::Result<Self> {
        let CheckArgs {
            project_dir,
            environments,
            platform,
            pixi_version,
            glibc,
            json,
        } = args;
        let project_dir = std::path::absolute(&project_dir)
            .with_context(|| format!("failed to resolve `{}`", project_dir.display()))?;
        Ok(Self {
            project_dir,
            inputs: CheckInputs {
                environments,
                platform,
                pixi_version,
                glibc,
            },
            json,
        })
    }
}

pub async fn run(options: &Options) -> anyhow::Result<Status> {
    let report = check::run(&options.project_dir, &options.inputs)?;
    for finding in &report.findings {
        eprintln!("{}", finding.line());
    }
    eprintln!(
        "check: {} error(s), {} warning(s) for {} ({})",
        report.errors(),
        report.warnings(),
        report.environments.join(", "),
        report.platform
    );
    if options.json {
        crate::output::json(&crate::records::preflight::CheckOutput::from(&report))?;
    }
    Ok(if report.errors() > 0 {
        Status::InputError
    } else {
        Status::Success
    })
}
