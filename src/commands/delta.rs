//! `--since OLD` and `--delta-output DIR`, shared by `make-product` and `pack`: read the base's
//! state before the new product replaces anything, then write the delta beside it
//! ([`crate::product::delta`]).

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::DeltaArgs;
use crate::exit::{with_hint, InputError};
use crate::product::delta::{self, DeltaOptions, ProductState};
use crate::records::make_product::DeltaReport;
use crate::workdir::Workdir;

/// A resolved `--since`: OLD and where the delta goes.
#[derive(Debug, Clone)]
pub struct DeltaPlan {
    pub since: PathBuf,
    pub output: PathBuf,
}

impl DeltaPlan {
    pub fn resolve(args: DeltaArgs, workdir: &Workdir) -> anyhow::Result<Option<Self>> {
        let DeltaArgs {
            since,
            delta_output,
        } = args;
        let Some(since) = since else {
            return Ok(None);
        };
        let absolute = |p: &Path| {
            std::path::absolute(p).with_context(|| format!("failed to resolve `{}`", p.display()))
        };
        let since = absolute(&since)?;
        let output = match delta_output {
            Some(dir) => absolute(&dir)?,
            None => workdir.root().join("delta"),
        };
        if std::fs::symlink_metadata(&since).is_err() {
            return Err(
                InputError::new(format!("--since `{}` does not exist", since.display()))
                    .with_hint(
                        "give the old product's folder, its SHA256SUMS or its pixi-airgap.json",
                    )
                    .into(),
            );
        }
        let canonical = crate::fsutil::canonical_or_self;
        let (out, old) = (canonical(&output), canonical(&since));
        if out.starts_with(&old) || old.starts_with(&out) {
            return Err(InputError::new(format!(
                "--delta-output `{}` and --since `{}` overlap",
                output.display(),
                since.display()
            ))
            .into());
        }
        Ok(Some(Self { since, output }))
    }

    /// The base's state, read off the async threads (a folder is hashed).
    pub async fn load_base(&self, project_name: &str) -> anyhow::Result<ProductState> {
        let (since, name) = (self.since.clone(), project_name.to_string());
        tokio::task::spawn_blocking(move || delta::load_base(&since, &name))
            .await
            .context("the delta thread failed")?
            .map_err(|err| {
                with_hint(
                    err,
                    "--since takes the old product: its folder, its SHA256SUMS or its pixi-airgap.json",
                )
            })
    }

    /// Writes the delta from `base` to the product at `target`.
    pub async fn write(
        &self,
        base: ProductState,
        target: &Path,
        project_name: &str,
    ) -> anyhow::Result<DeltaReport> {
        let (out, tgt) = (
            crate::fsutil::canonical_or_self(&self.output),
            crate::fsutil::canonical_or_self(target),
        );
        if out.starts_with(&tgt) || tgt.starts_with(&out) {
            return Err(InputError::new(format!(
                "--delta-output `{}` and the product `{}` overlap",
                self.output.display(),
                target.display()
            ))
            .into());
        }
        // Checked here too (delta::write checks it again) to name the flag in the hint.
        delta::refuse_foreign_output(&self.output)
            .map_err(|err| with_hint(err, "choose another --delta-output folder"))?;
        let options = DeltaOptions {
            target: target.to_path_buf(),
            output: self.output.clone(),
            project_name: project_name.to_string(),
        };
        let spinner = crate::progress::spinner(format!("writing {}", self.output.display()));
        let written = tokio::task::spawn_blocking(move || delta::write(&base, &options)).await;
        spinner.finish_and_clear();
        let manifest = written.context("the delta thread failed")??;
        tracing::info!(
            "delta {}: {} files carried ({:.1} MiB of {:.1} MiB), {} removed; apply with `sh apply-delta.sh /path/to/old/product`",
            self.output.display(),
            manifest.sizes.carried_files,
            manifest.sizes.carried_bytes as f64 / (1024.0 * 1024.0),
            manifest.sizes.target_bytes as f64 / (1024.0 * 1024.0),
            manifest.removed.len()
        );
        Ok(DeltaReport {
            dir: self.output.clone(),
            delta: manifest,
            archive: None,
        })
    }
}
