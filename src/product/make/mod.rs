//! `make-product`'s work: a staged workdir becomes a product folder. The project (without its
//! environments), the resources and the package cache are copied with every file hashed as it
//! goes, the scripts and the SBOM are added, and the manifest ([`super::manifest`]) records it
//! all. The product is written beside its destination and put in place only once complete
//! ([`crate::atomic`]).

use std::path::{Component, Path, PathBuf};

use anyhow::Context;

use super::manifest::{
    entries, FileRecord, LockRecord, ManifestTotals, ManifestWriter, PixiRecord, ProductManifest,
    RecordCheck, SigningKeyRecord, ToolInfo, FORMAT_VERSION,
};
use super::{templates, ProductLayout};
use crate::atomic::PendingDir;
use crate::exit::InputError;
use crate::nofollow::{Dir, TreeWriter};
use crate::signing::SigningKey;
use crate::tar::write::{walk_dir, EntryKind, Walked};
use crate::workdir::report::{BundledPixi, StageReport, StageResult};
use crate::workdir::Workdir;

mod pipeline;
use pipeline::*;

mod copier;
pub use copier::*;

mod output;
pub use output::refused_bootstrapped;
use output::*;

/// Inputs of [`make()`].
#[derive(Debug, Clone)]
pub struct MakeOptions {
    pub workdir: Workdir,
    pub project_name: String,
    pub output: PathBuf,
    /// Replace an earlier product (it carries the marker) even when it was bootstrapped.
    pub force: bool,
    /// Sign `SHA256SUMS` with this key (`--sign-key`).
    pub sign_key: Option<SigningKey>,
}

/// Writes the product for a staged workdir and returns its manifest (without its records), what
/// the records add up to, and the product it replaced, being removed in the background
/// ([`crate::atomic::Removals`]): wait for it before the program ends.
pub fn make(
    options: &MakeOptions,
) -> anyhow::Result<(ProductManifest, ManifestTotals, crate::atomic::Removals)> {
    let MakeOptions {
        workdir,
        project_name,
        output,
        force,
        sign_key,
    } = options;
    // A project named like the product's own folders (`pkg-cache`, `res`, `bin`) would overlay
    // them: refused, whoever built these options.
    crate::names::check_project_name(project_name, "for the product")?;
    let stage = StageReport::read(workdir)?;
    // A product an interrupted run moved aside is put back before it is checked.
    crate::atomic::recover(output)?;
    check_output(output, workdir, &stage, *force)?;
    if &stage.project_name != project_name {
        return Err(InputError::new(format!(
            "the project name `{project_name}` does not match the staged project `{}`",
            stage.project_name
        ))
        .into());
    }
    let project = workdir.project(project_name);
    if !project.is_dir() {
        return Err(InputError::new(format!(
            "`{}` does not exist: the workdir has no staged project `{project_name}`",
            project.display()
        ))
        .into());
    }
    if !workdir.pixi_cache().is_dir() {
        return Err(InputError::new(format!(
            "`{}` does not exist: the workdir has no pixi cache",
            workdir.pixi_cache().display()
        ))
        .into());
    }
    if stage.result != StageResult::Success {
        tracing::warn!("the staging run's verification failed; making the product anyway");
    }
    for source in [
        workdir.projects(),
        workdir.resources(),
        workdir.pixi_cache(),
    ] {
        if output.starts_with(&source) {
            return Err(InputError::new(format!(
                "the product folder `{}` lies inside `{}`, which goes into the product",
                output.display(),
                source.display()
            ))
            .into());
        }
    }

    // Links that would leave the product are refused before anything is written.
    check_links_first(&project, project_name, &workdir.resources())?;

    let pending = PendingDir::new(output)?;
    tracing::info!("writing the product into {}", pending.path().display());

    let staging = pending.path();
    // Everything below is created relative to this handle, never through a link.
    let mut tree = TreeWriter::new(Dir::open(staging)?);
    // The head of the manifest first (it is written before the records), with the files the
    // product adds; then the trees, each record written as its file is copied or linked.
    let mut extra_files = Vec::new();
    let pixi = match &stage.bundled_pixi {
        Some(bundled) => Some(copy_bundled_pixi(
            workdir,
            bundled,
            &mut tree,
            &mut extra_files,
        )?),
        None => None,
    };
    extra_files.push(write_file(
        &mut tree,
        ProductLayout::MARKER,
        super::MARKER_TEXT,
        false,
    )?);
    let envs_sh = templates::envs_sh(project_name, &stage.pixi_version)?;
    extra_files.push(write_file(
        &mut tree,
        ProductLayout::ENVS_SH,
        &envs_sh,
        false,
    )?);
    let bootstrap =
        templates::bootstrap_sh(project_name, &stage.pixi_version, &stage.environments)?;
    extra_files.push(write_file(
        &mut tree,
        ProductLayout::BOOTSTRAP_SH,
        &bootstrap,
        true,
    )?);
    let created_at = created_at(&stage);
    // The SBOM is made from the host's lock, the one staging recorded: a lock changed since
    // (in the container, or in the workdir) is refused.
    let lock_path = project.join("pixi.lock");
    let lock_sha256 = crate::fsutil::sha256_file(&lock_path)?;
    if lock_sha256 != stage.lock_sha256 {
        return Err(crate::exit::InputError::new(format!(
            "`{}` is not the lock that was staged (sha256 {lock_sha256}, staged {})",
            lock_path.display(),
            stage.lock_sha256
        ))
        .with_hint("stage again: the product and its SBOM are made from the lock that went into the build container")
        .into());
    }
    let lock = crate::lockfile::Lock::read(&lock_path)?;
    // What the receiving side checks the product and its machine with (see super::facts).
    extra_files.push(write_file(
        &mut tree,
        ProductLayout::CHECK_SH,
        &templates::check_product_sh(project_name)?,
        true,
    )?);
    let facts = super::facts::ProductFacts::gather(&stage, &lock, &workdir.pixi_cache())?;
    extra_files.push(write_file(
        &mut tree,
        super::facts::PRODUCT_FACTS,
        &facts.text(),
        false,
    )?);
    let sbom = crate::sbom::build(&crate::sbom::SbomInput {
        project_name,
        lock: &lock,
        lock_sha256: &stage.lock_sha256,
        environments: &stage.environments,
        platform: stage.platform.as_deref().unwrap_or("linux-64"),
        cache_dir: Some(&workdir.pixi_cache()),
        timestamp: &created_at,
    });
    let mut sbom_text = serde_json::to_string_pretty(&sbom).context("failed to encode the SBOM")?;
    sbom_text.push('\n');
    extra_files.push(write_file(
        &mut tree,
        ProductLayout::SBOM,
        &sbom_text,
        false,
    )?);

    let manifest = ProductManifest {
        format_version: FORMAT_VERSION,
        tool: ToolInfo {
            name: env!("CARGO_PKG_NAME").to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        },
        created_at,
        project_name: project_name.clone(),
        manifest_file: stage.manifest.clone(),
        environments: stage.environments.clone(),
        platform: stage.platform.clone(),
        pixi_version: stage.pixi_version.clone(),
        image: stage.image_record(),
        lock: LockRecord {
            sha256: stage.lock_sha256.clone(),
            format_version: stage.lock_version,
        },
        verification: stage
            .verification
            .as_ref()
            .map(crate::records::verification::RecordedVerification::from),
        verifications: stage
            .verifications
            .iter()
            .map(crate::records::verification::RecordedVerification::from)
            .collect(),
        preflight: stage.preflight.findings.clone(),
        sbom: Some(ProductLayout::SBOM.to_string()),
        pixi,
        signing_key: sign_key.as_ref().map(|key| SigningKeyRecord {
            fingerprint: key.fingerprint(),
            algorithm: key.algorithm(),
        }),
    };
    let manifest_file = tree.create_file(Path::new(ProductLayout::PRODUCT_MANIFEST), 0o644)?;
    let mut writer = ManifestWriter::new(
        manifest_file,
        &staging.join(ProductLayout::PRODUCT_MANIFEST),
        &manifest,
    )?;
    for record in &extra_files {
        writer.record(record)?;
    }
    // Two stages, so that both cores work: this thread walks and copies or links, a second one
    // hashes the linked package files and writes the records, in the order they were sent.
    let links = cache_links_wanted()?;
    let linked = std::thread::scope(|scope| -> anyhow::Result<u64> {
        let (tx, rx) = std::sync::mpsc::sync_channel(RECORDS_IN_FLIGHT);
        let hasher = scope.spawn(|| drain(rx, &mut writer));
        let copied = (|| {
            let mut sink = Pipeline { tx };
            let mut copier = Copier::new(links);
            copier.tree(
                &project,
                &mut tree,
                project_name,
                &mut sink,
                keep_project,
                |_| false,
            )?;
            let resources = workdir.resources();
            if crate::fsutil::dir_has_entries(&resources)? {
                copier.tree(
                    &resources,
                    &mut tree,
                    ProductLayout::RESOURCES,
                    &mut sink,
                    |_, _| true,
                    |_| false,
                )?;
            }
            copier.tree(
                &workdir.pixi_cache(),
                &mut tree,
                ProductLayout::PKG_CACHE,
                &mut sink,
                keep_cache,
                is_package_content,
            )?;
            Ok::<_, anyhow::Error>(copier.linked)
        })();
        let drained = hasher
            .join()
            .map_err(|_| anyhow::anyhow!("the hashing thread panicked"))?;
        // When both failed, the hasher's error is the cause (the walk only saw it stop).
        drained?;
        copied
    })?;
    if linked > 0 {
        tracing::info!(
            "{linked} package file(s) linked from the workdir's cache instead of copied"
        );
    }
    // The lists a shell can check on the receiving side: product-tree.txt goes into the
    // manifest, SHA256SUMS (from the manifest's hashes) after it is closed.
    let (tree_record, files_seen) = super::sums::write_tree(staging)?;
    writer.record(&tree_record)?;
    // What verify-product would refuse is refused here, before the product replaces anything:
    // a link that leaves the product (from the project into the workdir's other folders).
    let totals = writer.finish()?.map_err(|problems| refusal(&problems))?;
    drop(tree);
    super::sums::write_sums(staging, files_seen)?;
    if let Some(key) = sign_key {
        super::signature::sign(staging, key)?;
    }

    let mut removals = crate::atomic::Removals::default();
    if let Some(old) = pending.commit_keeping_old()? {
        removals.spawn(old);
    }
    tracing::info!(
        "product ready: {} ({} files, {:.1} MiB)",
        output.display(),
        totals.files,
        totals.bytes as f64 / (1024.0 * 1024.0)
    );
    Ok((manifest, totals, removals))
}

/// The error for entries that may not be part of a product.
fn refusal(problems: &RecordCheck) -> anyhow::Error {
    let (text, count) = problems.describe();
    anyhow::Error::from(
        InputError::new(format!(
            "the product would hold {} that may not be part of a product:\n{text}",
            entries(count)
        ))
        .with_hint("a link in the project points outside its folder: make it point inside the project, or put what it points to there"),
    )
}

/// Refuses, before anything is written, a link in the project or the resources that would leave
/// the product (by its text, as the manifest check at the end and verify-product judge it).
fn check_links_first(project: &Path, project_name: &str, resources: &Path) -> anyhow::Result<()> {
    let mut problems = RecordCheck::default();
    // The same trees, filtered the same way, as the copy below.
    type Keep = fn(&Path, bool) -> bool;
    let mut trees: Vec<(&Path, &str, Keep)> = vec![(project, project_name, keep_project)];
    if resources.is_dir() {
        trees.push((resources, ProductLayout::RESOURCES, |_, _| true));
    }
    for (src, prefix, keep) in trees {
        let walk = walk_dir(src, Path::new(prefix), |rel, file_type| {
            Ok(keep(rel, file_type.is_dir()))
        });
        for step in walk {
            crate::shutdown::check()?;
            if let Walked::Entry(entry) = step? {
                if let EntryKind::Symlink { target } = entry.kind {
                    problems.check(&FileRecord {
                        path: crate::fsutil::slash_path(&entry.path)?,
                        sha256: None,
                        size: None,
                        executable: false,
                        symlink: Some(target.to_string_lossy().into_owned()),
                    });
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(refusal(&problems))
    }
}

/// Copies `WORKDIR/pixi-bin/pixi` to `bin/pixi`, refusing a binary that is not the one staging
/// recorded.
fn copy_bundled_pixi(
    workdir: &Workdir,
    bundled: &BundledPixi,
    tree: &mut TreeWriter,
    files: &mut Vec<FileRecord>,
) -> anyhow::Result<PixiRecord> {
    let source = workdir.pixi_bin().join("pixi");
    let meta = std::fs::symlink_metadata(&source).map_err(|err| {
        InputError::new(format!(
            "the staging run bundled pixi, but `{}` is missing",
            source.display()
        ))
        .with_hint("stage again, bundling the build container's pixi")
        .with_source(err)
    })?;
    if !meta.is_file() {
        return Err(
            InputError::new(format!("`{}` is not a regular file", source.display())).into(),
        );
    }
    let bundled_path = Path::new(ProductLayout::BUNDLED_PIXI);
    if let Some(bin) = bundled_path.parent() {
        tree.create_dir(bin, 0o755)?;
    }
    let mut output = tree.create_file(bundled_path, 0o600)?;
    let (sha256, size, _) = copy_file_hashed_with(
        &source,
        &mut output,
        bundled_path,
        &mut vec![0u8; 256 * 1024],
    )?;
    if sha256 != bundled.sha256 || size != bundled.size {
        return Err(InputError::new(format!(
            "`{}` is not the pixi the staging run copied (sha256 {sha256}, recorded {})",
            source.display(),
            bundled.sha256
        ))
        .with_hint("stage again, bundling the build container's pixi")
        .into());
    }
    set_file_mode(&output, bundled_path, 0o755)?;
    files.push(FileRecord {
        path: ProductLayout::BUNDLED_PIXI.to_string(),
        sha256: Some(sha256.clone()),
        size: Some(size),
        executable: true,
        symlink: None,
    });
    Ok(PixiRecord {
        path: ProductLayout::BUNDLED_PIXI.to_string(),
        version: bundled.version.clone(),
        sha256,
        size,
    })
}

fn created_at(stage: &StageReport) -> String {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| stage.finished_at.clone())
}

/// The staged project goes in whole, except environments (not relocatable; pixi rebuilds them).
fn keep_project(rel: &Path, _is_dir: bool) -> bool {
    !rel.starts_with(".pixi/envs")
}

/// The cache goes in except what an offline `pixi install --frozen` cannot use: temporary folders
/// (`.tmp*`), lock files (`*.lock`) and the repodata cache (a frozen install never solves). A
/// package's own files (`pkgs/<package>/...`) are never touched: pixi checks them by hash.
pub fn keep_cache(rel: &Path, is_dir: bool) -> bool {
    let parts: Vec<&std::ffi::OsStr> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    if parts.len() >= 3 && parts[0] == "pkgs" {
        return true;
    }
    let Some(name) = parts.last().map(|n| n.to_string_lossy()) else {
        return true;
    };
    if parts.len() == 1 && is_dir && name == "repodata" {
        return false;
    }
    if is_dir && name.starts_with(".tmp") {
        return false;
    }
    is_dir || !name.ends_with(".lock")
}

#[cfg(test)]
mod tests;
