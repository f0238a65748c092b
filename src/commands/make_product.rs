//! `pixi-airgap make-product`: turn a staged workdir into the folder that crosses the air gap.

use anyhow::Context;

use crate::cli::{MakeProductArgs, SignArgs};
use crate::exit::{with_hint, Status};
use crate::product::make::MakeOptions;
use crate::product::manifest::ProductManifest;
use crate::product::ProductLayout;
use crate::runlock::Wait;
use crate::signing::SigningKey;
use crate::workdir::Workdir;

use super::delta::DeltaPlan;
use crate::records::make_product::MakeReport;

#[derive(Debug, Clone)]
pub struct Options {
    pub make: MakeOptions,
    pub wait: Wait,
    pub json: bool,
    pub delta: Option<DeltaPlan>,
}

impl Options {
    pub fn resolve(args: MakeProductArgs) -> anyhow::Result<Self> {
        let MakeProductArgs {
            workdir,
            project_name,
            output,
            force,
            sign,
            no_wait,
            json,
            delta,
        } = args;
        let sign_key = resolve_sign(sign)?;
        crate::names::check_project_name(&project_name, "given by --project-name")?;
        let workdir = Workdir::new(&workdir)?;
        let output = match output {
            Some(dir) => std::path::absolute(&dir)
                .with_context(|| format!("failed to resolve `{}`", dir.display()))?,
            None => workdir.product(),
        };
        let delta = DeltaPlan::resolve(delta, &workdir)?;
        Ok(Self {
            make: MakeOptions {
                workdir,
                project_name,
                output,
                force,
                sign_key,
            },
            wait: Wait::from_no_wait(no_wait),
            json,
            delta,
        })
    }
}

/// `--sign-key PATH`: the key is read (and decrypted, with the passphrase from
/// `PIXI_AIRGAP_SIGN_PASSPHRASE`) now, so that a key that cannot sign stops the run before any
/// work.
pub fn resolve_sign(args: SignArgs) -> anyhow::Result<Option<SigningKey>> {
    let SignArgs { sign_key } = args;
    sign_key
        .map(|path| {
            SigningKey::load(&path).map_err(|err| {
                with_hint(
                    err,
                    "--sign-key takes an OpenSSH private key: `ssh-keygen -t ed25519 -f release`",
                )
            })
        })
        .transpose()
}

/// Writes the product off the async threads (copying and hashing is blocking file work).
///
/// Holds the workdir and the output folder for the whole run: another run on either waits, or
/// with [`Wait::NoWait`] is refused naming this one.
///
/// The product it replaced is still being removed when this returns: the caller waits for the
/// removals while it holds the workdir and the output folder (`run` below; `pack` holds both for
/// its whole run).
pub async fn make(
    options: &MakeOptions,
    wait: Wait,
) -> anyhow::Result<(
    ProductManifest,
    crate::product::manifest::ManifestTotals,
    crate::atomic::Removals,
)> {
    let _workdir = super::lock(options.workdir.root(), "workdir", wait).await?;
    let _output = super::lock(&options.output, "product folder", wait).await?;
    let make = options.clone();
    let spinner = crate::progress::spinner(format!("writing {}", options.output.display()));
    let made = tokio::task::spawn_blocking(move || crate::product::make::make(&make)).await;
    spinner.finish_and_clear();
    let made = made.context("the product thread failed")??;
    warn_case_clashes(&options.output).await?;
    Ok(made)
}

/// Warns about names that differ only in case in the product (they break on case-insensitive
/// transfer media), listing them.
async fn warn_case_clashes(product: &std::path::Path) -> anyhow::Result<()> {
    let root = product.to_path_buf();
    let found = tokio::task::spawn_blocking(move || crate::case_clash::find(&root, |_| false))
        .await
        .context("the product thread failed")??;
    if !found.is_empty() {
        tracing::warn!(
            "the product holds {} name(s) that differ only in case; copied through a \
             case-insensitive file system (FAT/exFAT media, macOS or Windows defaults) one of \
             each pair is lost: carry the product as its archive (`pack`, or a tar), or on \
             case-sensitive media\n{}",
            found.count,
            found.lines()
        );
    }
    Ok(())
}

pub async fn run(options: &Options) -> anyhow::Result<Status> {
    // OLD is read first: it may be the very folder the new product replaces.
    let base = match &options.delta {
        Some(plan) => Some(plan.load_base(&options.make.project_name).await?),
        None => None,
    };
    // Held until the replaced product is gone too (make's own holds are then no-ops).
    let _workdir = super::lock(options.make.workdir.root(), "workdir", options.wait).await?;
    let _output = super::lock(&options.make.output, "product folder", options.wait).await?;
    let (manifest, totals, old) = make(&options.make, options.wait).await.map_err(|err| {
        if crate::product::make::refused_bootstrapped(&err) {
            with_hint(
                err,
                "give --force to replace it anyway, or pick another --output",
            )
        } else {
            err
        }
    })?;
    super::wait_for(old).await?;
    let delta = match (&options.delta, base) {
        (Some(plan), Some(base)) => Some(
            plan.write(base, &options.make.output, &options.make.project_name)
                .await?,
        ),
        _ => None,
    };
    if options.json {
        let report = MakeReport {
            format_version: crate::records::make_product::FORMAT_VERSION,
            product_dir: options.make.output.clone(),
            manifest: ProductLayout::new(&options.make.output).product_manifest(),
            project_name: manifest.project_name.clone(),
            environments: manifest.environments.clone(),
            pixi_version: manifest.pixi_version.clone(),
            files: totals.files,
            size_bytes: totals.bytes,
            delta,
            signature: manifest.signing_key.as_ref().map(|_| {
                options
                    .make
                    .output
                    .join(crate::product::sums::SHA256SUMS_SIG)
            }),
            signing_key: manifest.signing_key.map(|key| key.fingerprint),
        };
        crate::output::json(&report)?;
    }
    Ok(Status::Success)
}
