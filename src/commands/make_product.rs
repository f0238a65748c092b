//! `pixi-airgap make-product`: turn a staged workdir into the folder that crosses the air gap.

use std::path::PathBuf;

use anyhow::Context;

use crate::cli::MakeProductArgs;
use crate::exit::{InputError, Status};
use crate::product::make::MakeOptions;
use crate::product::manifest::ProductManifest;
use crate::product::ProductLayout;
use crate::runlock::{RunLock, Wait};
use crate::workdir::Workdir;

#[derive(Debug, Clone)]
pub struct Options {
    pub make: MakeOptions,
    pub wait: Wait,
    pub json: bool,
}

impl Options {
    pub fn resolve(args: MakeProductArgs) -> anyhow::Result<Self> {
        let MakeProductArgs {
            workdir,
            project_name,
            output,
            force,
            no_wait,
            json,
        } = args;
        if !workdir.is_dir() {
            return Err(InputError::new(format!(
                "workdir `{}` is not a folder",
                workdir.display()
            ))
            .into());
        }
        let workdir = Workdir::new(&workdir)?;
        let output = match output {
            Some(dir) => std::path::absolute(&dir)
                .with_context(|| format!("failed to resolve `{}`", dir.display()))?,
            None => workdir.product(),
        };
        Ok(Self {
            make: MakeOptions {
                workdir,
                project_name,
                output,
                force,
            },
            wait: Wait::from_no_wait(no_wait),
            json,
        })
    }
}

/// Writes the product off the async threads (copying and hashing is blocking file work).
///
/// Holds the workdir and the output folder for the whole run: another run on either waits, or
/// with [`Wait::NoWait`] is refused naming this one.
pub async fn make(
    options: &MakeOptions,
    wait: Wait,
) -> anyhow::Result<(ProductManifest, crate::product::manifest::ManifestTotals)> {
    let _workdir = RunLock::acquire(options.workdir.root(), "workdir", wait).await?;
    let _output = RunLock::acquire(&options.output, "product folder", wait).await?;
    let make = options.clone();
    let spinner = crate::progress::spinner(format!("writing {}", options.output.display()));
    let made = tokio::task::spawn_blocking(move || crate::product::make::make(&make)).await;
    spinner.finish_and_clear();
    made.context("the product thread failed")?
}

/// The `--json` report.
#[derive(Debug, serde::Serialize)]
pub struct MakeReport {
    pub product_dir: PathBuf,
    pub manifest: PathBuf,
    pub project_name: String,
    pub environments: Vec<String>,
    pub pixi_version: String,
    pub files: usize,
    pub size_bytes: u64,
}

pub async fn run(options: &Options) -> anyhow::Result<Status> {
    let (manifest, totals) = make(&options.make, options.wait).await?;
    if options.json {
        let report = MakeReport {
            product_dir: options.make.output.clone(),
            manifest: ProductLayout::new(&options.make.output).manifest(),
            project_name: manifest.project_name.clone(),
            environments: manifest.environments.clone(),
            pixi_version: manifest.pixi_version.clone(),
            files: totals.files,
            size_bytes: totals.bytes,
        };
        crate::output::json(&report)?;
    }
    Ok(Status::Success)
}
