//! `pixi-airgap pack`: project to verified product in one command, for CI steps and runbooks.
//! It runs the same code as `stage-host`, `make-product` and `verify-product`, in that order, and
//! stops at the first failure with that step's exit code.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

use crate::cli::{ArchiveArg, PackArgs};
use crate::exit::Status;
use crate::product::archive::{self, ArchiveFormat, Compression};
use crate::product::make::MakeOptions;
use crate::product::split::SplitSize;
use crate::product::ProductLayout;
use crate::proof::{self, ProofOptions};
use crate::records::pack::{Logs, PackReport, PackResult, Phase, ProductSummary};
use crate::workdir::Workdir;

use super::delta::DeltaPlan;
use super::{make_product, stage_host};

#[derive(Debug, Clone)]
pub struct Options {
    pub stage: stage_host::Options,
    pub verify_image: String,
    /// Whether the proof runs in another image than the build (`--verify-image` given and not
    /// the same name as `--image`).
    pub independent_proof: bool,
    pub verify_user: Option<crate::session::RunAs>,
    pub archive: Option<ArchiveFormat>,
    pub split_size: Option<SplitSize>,
    /// zstd level and workers of a tar.zst archive (and of the delta's).
    pub compression: Compression,
    pub delta: Option<DeltaPlan>,
    pub sign_key: Option<crate::signing::SigningKey>,
}

impl Options {
    pub fn resolve(args: PackArgs) -> anyhow::Result<Self> {
        let PackArgs {
            host,
            verify_image,
            verify_user,
            archive,
            split_size,
            compression_level,
            delta,
            sign,
        } = args;
        // The key first: a key that cannot sign must not cost a staging run.
        let sign_key = make_product::resolve_sign(sign)?;
        let stage = stage_host::Options::resolve(host)?;
        let delta = DeltaPlan::resolve(delta, &stage.plan.workdir)?;
        let independent_proof = verify_image.as_ref().is_some_and(|v| *v != stage.image);
        let verify_image = verify_image.unwrap_or_else(|| stage.image.clone());
        let archive = archive.map(|format| match format {
            ArchiveArg::Tar => ArchiveFormat::Tar,
            ArchiveArg::TarZst => ArchiveFormat::TarZst,
        });
        Ok(Self {
            stage,
            verify_image,
            independent_proof,
            verify_user,
            archive,
            split_size,
            compression: Compression::new(compression_level),
            delta,
            sign_key,
        })
    }
}

pub async fn run(options: &Options) -> anyhow::Result<Status> {
    let workdir = options.stage.plan.workdir.clone();
    let mut phases = Vec::new();
    let mut timer = Instant::now();
    let mut lap = |name: &'static str, phases: &mut Vec<Phase>| {
        phases.push(Phase {
            name,
            seconds: timer.elapsed().as_secs_f64(),
        });
        timer = Instant::now();
    };

    if !options.independent_proof {
        tracing::warn!("{SELF_PROOF_WARNING}");
    }
    // One run per workdir, held through the three steps (each step's own lock is then a no-op).
    let _lock = super::lock(workdir.root(), "workdir", options.stage.wait).await?;
    // From make-product on, the product folder too: the product the run replaces is removed in
    // the background while the new one is proven, and nothing else may write there meanwhile.
    // (Taken only then: its lock file would make a new workdir look used to staging.)
    let mut product_lock = None;
    tracing::info!("pack 1/3: stage-host");
    let (stage, staging_removal, mut old_folders) = stage_host::stage(&options.stage).await?;
    lap("stage", &mut phases);
    let logs = Logs {
        stage: workdir.out(),
        proof: workdir.root().join("proof"),
    };
    let mut report = PackReport {
        format_version: crate::records::pack::FORMAT_VERSION,
        result: PackResult::Success,
        workdir: workdir.root().to_path_buf(),
        phases: Vec::new(),
        project_name: stage.project_name.clone(),
        pixi_version: stage.pixi_version.clone(),
        image: stage.image_record(),
        proof_image_independent: options.independent_proof,
        product: None,
        archive: None,
        delta: None,
        logs,
        stage,
        proof: None,
    };
    // The staging container is removed while the product is made and proven; it is gone before
    // pack ends, whatever happens.
    let outcome: anyhow::Result<Status> = async {
        Ok(if report.stage.status() != Status::Success {
            report.result = PackResult::StageVerificationFailed;
            report.stage.status()
        } else {
            // OLD is read first: it may be the very product this run replaces.
            let base = match &options.delta {
                Some(plan) => Some(plan.load_base(&report.project_name).await?),
                None => None,
            };
            tracing::info!("pack 2/3: make-product");
            let make = MakeOptions {
                workdir: workdir.clone(),
                project_name: report.project_name.clone(),
                output: workdir.product(),
                // WORKDIR/product is ours: an earlier product, or nothing.
                force: false,
                sign_key: options.sign_key.clone(),
            };
            product_lock =
                Some(super::lock(&make.output, "product folder", options.stage.wait).await?);
            let (manifest, totals, old_product) = make_product::make(&make, options.stage.wait)
                .await
                .map_err(|err| {
                    // pack never forces it: its --force is staging's.
                    if crate::product::make::refused_bootstrapped(&err) {
                        crate::exit::with_hint(
                            err,
                            "remove that product yourself, or pick another --workdir",
                        )
                    } else {
                        err
                    }
                })?;
            old_folders.extend(old_product);
            lap("make-product", &mut phases);
            report.product = Some(ProductSummary {
                dir: workdir.product(),
                files: totals.files,
                size_bytes: totals.bytes,
                packages: count_packages(&ProductLayout::new(&workdir.product()).packages()),
                signing_key: manifest.signing_key.map(|key| key.fingerprint),
            });

            tracing::info!("pack 3/3: verify-product (network cut)");
            let verify = ProofOptions {
                image: options.verify_image.clone(),
                pull: options.stage.pull,
                product_dir: workdir.product(),
                out_dir: report.logs.proof.clone(),
                project_name: report.project_name.clone(),
                user: options.verify_user,
                keep_container: false,
                // Staging already refused a used workdir without --force.
                force: options.stage.force,
                verify: Vec::new(),
            };
            let (proof, status) = proof::run(&verify).await?;
            lap("verify-product", &mut phases);
            report.proof = Some(proof);
            if status != Status::Success {
                report.result = PackResult::ProofFailed;
                status
            } else {
                if let Some(format) = options.archive {
                    let info =
                        write_archive(options, format, workdir.product(), "product", &workdir)
                            .await?;
                    lap("archive", &mut phases);
                    report.archive = Some((&info).into());
                }
                if let (Some(plan), Some(base)) = (&options.delta, base) {
                    let mut delta = plan
                        .write(base, &workdir.product(), &report.project_name)
                        .await?;
                    if let Some(format) = options.archive {
                        let info =
                            write_archive(options, format, delta.dir.clone(), "delta", &workdir)
                                .await?;
                        delta.archive = Some((&info).into());
                    }
                    lap("delta", &mut phases);
                    report.delta = Some(delta);
                }
                Status::Success
            }
        })
    }
    .await;
    let removed = staging_removal.wait().await;
    let removed_old = super::wait_for(old_folders).await;
    drop(product_lock);
    let status = outcome?;
    removed?;
    removed_old?;
    report.phases = phases;
    summary(&report);
    if options.stage.json {
        crate::output::json(&report)?;
    }
    Ok(status)
}

/// What `pack` says when the proof runs in the build image.
const SELF_PROOF_WARNING: &str = "the offline proof runs in the build image (no --verify-image): the image that built the product also vouches for it, so a build image that lies (a pixi or a shell that reports success) would pass its own proof; give --verify-image with an image you trust independently (like the offline machine's) for a proof that does not rest on the build image";

fn count_packages(pkgs: &std::path::Path) -> usize {
    std::fs::read_dir(pkgs)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
                .count()
        })
        .unwrap_or(0)
}

fn summary(report: &PackReport) {
    let mut lines = vec![format!(
        "pack summary for `{}`: {}",
        report.project_name,
        match report.result {
            PackResult::Success => "verified offline",
            PackResult::StageVerificationFailed => "FAILED: the verification failed while staging",
            PackResult::ProofFailed => "FAILED: the offline proof failed",
        }
    )];
    for phase in &report.phases {
        lines.push(format!("  {:<15} {:>8.1}s", phase.name, phase.seconds));
    }
    if let Some(product) = &report.product {
        lines.push(format!(
            "  product         {} ({} files, {:.1} MiB, {} packages)",
            product.dir.display(),
            product.files,
            product.size_bytes as f64 / (1024.0 * 1024.0),
            product.packages
        ));
    }
    if let Some(archive) = &report.archive {
        lines.push(format!(
            "  archive         {} ({:.1} MiB, sha256 {})",
            archive.path.display(),
            archive.size_bytes as f64 / (1024.0 * 1024.0),
            archive.sha256
        ));
        if let Some(split) = &archive.split {
            lines.push(format!(
                "  parts           {} of at most {} bytes, join with {}",
                split.parts.len(),
                split.split_size,
                split.join_script.display()
            ));
        }
        if let Some(signature) = &archive.signature {
            lines.push(format!("  list signature  {}", signature.display()));
        }
    }
    if let Some(cache) = &report.stage.cache {
        lines.push(if cache.warm {
            format!(
                "  cache           warm: {} conda package(s) reused, {} downloaded, {} dropped (not in the lock){}",
                cache.conda_reused,
                cache.conda_downloaded,
                cache.conda_dropped,
                if cache.uv_cache_seeded { "; uv's cache reused" } else { "" }
            )
        } else {
            format!("  cache           cold: {} conda package(s) downloaded", cache.conda_downloaded)
        });
    }
    lines.push(format!("  pixi            {}", report.pixi_version));
    lines.push(format!(
        "  image           {}",
        report.image.id.as_deref().unwrap_or("unknown")
    ));
    if report.proof.is_some() && !report.proof_image_independent {
        lines.push(
            "  proof image     the build image (not independent: give --verify-image)".to_string(),
        );
    }
    lines.push(format!("  staging logs    {}", report.logs.stage.display()));
    if report.proof.is_some() {
        lines.push(format!("  proof logs      {}", report.logs.proof.display()));
    }
    tracing::info!("{}", lines.join("\n"));
}

/// Writes `<top>.<ext>` of `dir` into the workdir on a blocking thread, as `--split-size`,
/// `--sign-key` and `--compression-level` say: the product's archive and the delta's alike.
async fn write_archive(
    options: &Options,
    format: ArchiveFormat,
    dir: PathBuf,
    top: &'static str,
    workdir: &Workdir,
) -> anyhow::Result<archive::ArchiveInfo> {
    let dest = workdir.root().to_path_buf();
    let (split, key, compression) = (
        options.split_size,
        options.sign_key.clone(),
        options.compression,
    );
    tokio::task::spawn_blocking(move || {
        let options = archive::ArchiveOptions {
            format,
            split,
            key: key.as_ref(),
            compression,
        };
        archive::write_with(&dir, &dest, top, options)
    })
    .await
    .context("the archive thread failed")?
}
