//! `make-product`'s work: a staged workdir becomes a product folder. The project (without its
//! environments), the resources and the package cache are copied with every file hashed as it
//! goes, the scripts and the SBOM are added, and the manifest ([`super::manifest`]) records it
//! all. The product is written beside its destination and put in place only once complete
//! ([`crate::atomic`]).

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

use super::manifest::{
    entries, FileRecord, LockRecord, ManifestTotals, ManifestWriter, PixiRecord, ProductManifest,
    RecordCheck, SigningKeyRecord, ToolInfo, FORMAT_VERSION,
};
use super::{templates, ProductLayout};
use crate::atomic::PendingDir;
use crate::exit::InputError;
use crate::fsutil::hex;
use crate::nofollow::{Dir, TreeWriter};
use crate::signing::SigningKey;
use crate::tar::write::{walk_dir, EntryKind, Walked};
use crate::workdir::report::{BundledPixi, StageReport, StageResult};
use crate::workdir::Workdir;

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

/// Writes the product for a staged workdir and returns its manifest (without its records) and
/// what the records add up to.
pub fn make(options: &MakeOptions) -> anyhow::Result<(ProductManifest, ManifestTotals)> {
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

    pending.commit()?;
    tracing::info!(
        "product ready: {} ({} files, {:.1} MiB)",
        output.display(),
        totals.files,
        totals.bytes as f64 / (1024.0 * 1024.0)
    );
    Ok((manifest, totals))
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

/// Where [`Copier::tree`] puts the record of each file it copies or links.
trait RecordSink {
    fn record(&mut self, record: FileRecord) -> anyhow::Result<()>;

    /// A linked file, whose record needs its content hashed: here, by default.
    fn hash_then_record(&mut self, path: String, source: PathBuf) -> anyhow::Result<()> {
        let record = hashed_record(path, &source, &mut vec![0u8; 64 * 1024])?;
        self.record(record)
    }
}

impl RecordSink for Vec<FileRecord> {
    fn record(&mut self, record: FileRecord) -> anyhow::Result<()> {
        self.push(record);
        Ok(())
    }
}

/// Records (or files to hash first) in flight between the walk and the hashing thread.
const RECORDS_IN_FLIGHT: usize = 1024;

/// What the walk hands the hashing thread, in the manifest's order.
enum Job {
    Ready(FileRecord),
    Hash { path: String, source: PathBuf },
}

/// The walk's end of the two stages of [`make`].
struct Pipeline {
    tx: std::sync::mpsc::SyncSender<Job>,
}

impl Pipeline {
    fn send(&self, job: Job) -> anyhow::Result<()> {
        self.tx
            .send(job)
            .map_err(|_| anyhow::anyhow!("the hashing thread stopped"))
    }
}

impl RecordSink for Pipeline {
    fn record(&mut self, record: FileRecord) -> anyhow::Result<()> {
        self.send(Job::Ready(record))
    }

    fn hash_then_record(&mut self, path: String, source: PathBuf) -> anyhow::Result<()> {
        self.send(Job::Hash { path, source })
    }
}

/// The hashing thread: hashes what needs it and writes every record, in the order received.
fn drain(rx: std::sync::mpsc::Receiver<Job>, writer: &mut ManifestWriter) -> anyhow::Result<()> {
    let mut buf = vec![0u8; 256 * 1024];
    for job in rx {
        let record = match job {
            Job::Ready(record) => record,
            Job::Hash { path, source } => hashed_record(path, &source, &mut buf)?,
        };
        writer.record(&record)?;
    }
    Ok(())
}

/// Reads `input` (the file at `path`) to its end through `buf`, hashing each chunk and handing it
/// to `each`; returns the hex sha256 and the size.
fn read_hashed(
    input: &mut File,
    path: &Path,
    buf: &mut [u8],
    mut each: impl FnMut(&[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    loop {
        crate::shutdown::check()?;
        let n = input
            .read(buf)
            .with_context(|| format!("failed to read `{}`", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        each(&buf[..n])?;
        size += n as u64;
    }
    Ok((hex(&hasher.finalize()), size))
}

/// The record of a file whose content is read once here: sha256, size and execute bit.
fn hashed_record(path: String, source: &Path, buf: &mut [u8]) -> anyhow::Result<FileRecord> {
    let mut input = crate::nofollow::open_read(source)?;
    let meta = input
        .metadata()
        .with_context(|| format!("failed to stat `{}`", source.display()))?;
    let (sha256, size) = read_hashed(&mut input, source, buf, |_| Ok(()))?;
    Ok(FileRecord {
        path,
        sha256: Some(sha256),
        size: Some(size),
        executable: crate::fsutil::is_executable(&meta),
        symlink: None,
    })
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

/// Set to `0` to copy every package file into the product instead of hard-linking it from the
/// workdir's cache.
pub const CACHE_LINKS_VAR: &str = "PIXI_AIRGAP_CACHE_LINKS";

fn cache_links_wanted() -> anyhow::Result<bool> {
    match std::env::var(CACHE_LINKS_VAR).as_deref() {
        Err(_) | Ok("1") => Ok(true),
        Ok("0") => Ok(false),
        Ok(other) => Err(InputError::new(format!(
            "{CACHE_LINKS_VAR}=`{other}`: use 1 (link package files, the default) or 0 (copy them)"
        ))
        .into()),
    }
}

/// A package's own files in the cache (`pkgs/<package>/...`): written once by the extraction into
/// a fresh workdir, never edited by us or by pixi afterwards; the only files the product may share
/// with the workdir by hard link.
fn is_package_content(rel: &Path) -> bool {
    let mut parts = rel.components();
    matches!(parts.next(), Some(Component::Normal(first)) if first == "pkgs")
        && parts.next().is_some()
        && parts.next().is_some()
}

/// Copies trees into the product, hashing every file on the way (one read per byte). Package
/// files may instead be hard-linked from the workdir (same inode, no data written): that is 5-30x
/// faster than a copy for large caches and costs no disk. A link is only kept when the file is a
/// plain file with a clean mode (0644/0755) on the same file system; anything else is copied.
struct Copier {
    links: bool,
    linked: u64,
    buf: Vec<u8>,
}

impl Copier {
    fn new(links: bool) -> Self {
        Self {
            links,
            linked: 0,
            buf: vec![0u8; 256 * 1024],
        }
    }

    /// Copies `src` into `dest_root/prefix`. Symlinks are recreated as links; nothing is
    /// followed. Files for which `linkable` says yes are hard-linked when possible.
    fn tree(
        &mut self,
        src: &Path,
        dest: &mut TreeWriter,
        prefix: &str,
        records: &mut impl RecordSink,
        keep: impl Fn(&Path, bool) -> bool,
        linkable: impl Fn(&Path) -> bool,
    ) -> anyhow::Result<()> {
        // The same sorted walk that never follows a link as every tar we write: names first
        // (cheap), then each entry copied or linked, files hashed as they go.
        let walk = walk_dir(src, Path::new(prefix), |rel, file_type| {
            Ok(keep(rel, file_type.is_dir()))
        });
        let prefix = Path::new(prefix);
        for step in walk {
            crate::shutdown::check()?;
            let entry = match step? {
                Walked::Entry(entry) => entry,
                Walked::Special(special) => {
                    tracing::warn!(
                        "skipped `{}`: not a file, folder or symlink",
                        src.join(special).display()
                    );
                    continue;
                }
            };
            let record_path = crate::fsutil::slash_path(&entry.path)?;
            match entry.kind {
                EntryKind::Dir => dest.create_dir(&entry.path, 0o755)?,
                EntryKind::Symlink { target } => {
                    dest.symlink(&target, &entry.path)?;
                    records.record(FileRecord {
                        path: record_path,
                        sha256: None,
                        size: None,
                        executable: false,
                        symlink: Some(target.to_string_lossy().into_owned()),
                    })?;
                }
                EntryKind::File { source, .. } => {
                    let rel = entry.path.strip_prefix(prefix).unwrap_or(&entry.path);
                    if self.links && linkable(rel) && self.link(&source, dest, &entry.path)? {
                        self.linked += 1;
                        records.hash_then_record(record_path, source)?;
                        continue;
                    }
                    let mut output = dest.create_file(&entry.path, 0o600)?;
                    let (sha256, size, executable) =
                        copy_file_hashed_with(&source, &mut output, &entry.path, &mut self.buf)?;
                    records.record(FileRecord {
                        path: record_path,
                        sha256: Some(sha256),
                        size: Some(size),
                        executable,
                        symlink: None,
                    })?;
                }
            }
        }
        Ok(())
    }

    /// Hard-links `src` at `rel` when `src` is a plain file with a clean mode; false (nothing
    /// left at `rel`) when it cannot be linked, e.g. across file systems.
    #[cfg(unix)]
    fn link(&self, src: &Path, dest: &mut TreeWriter, rel: &Path) -> anyhow::Result<bool> {
        use std::os::unix::fs::PermissionsExt;
        let clean_mode = |mode: u32| matches!(mode & 0o7777, 0o644 | 0o755);
        if !std::fs::symlink_metadata(src)
            .is_ok_and(|m| m.is_file() && clean_mode(m.permissions().mode()))
        {
            return Ok(false);
        }
        let (parent, name) = dest.parent(rel)?;
        if parent.hard_link(src, name).is_err() {
            return Ok(false);
        }
        // Checked again through the new name: what is in the product is what was checked.
        let linked = parent.stat(name).is_ok_and(|st| {
            rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile
                && clean_mode(st.st_mode)
        });
        if !linked {
            let _ = parent.remove_file(name);
        }
        Ok(linked)
    }

    #[cfg(not(unix))]
    fn link(&self, _src: &Path, _dest: &mut TreeWriter, _rel: &Path) -> anyhow::Result<bool> {
        Ok(false)
    }
}

/// Copies `src` into `output` (the new file at `dest` in the product) with `buf`, hashing on the
/// way; the copy is 0644, or 0755 when `src` has an execute bit.
fn copy_file_hashed_with(
    src: &Path,
    output: &mut File,
    dest: &Path,
    buf: &mut [u8],
) -> anyhow::Result<(String, u64, bool)> {
    let mut input = crate::nofollow::open_read(src)?;
    let meta = input
        .metadata()
        .with_context(|| format!("failed to stat `{}`", src.display()))?;
    let (sha256, size) = read_hashed(&mut input, src, buf, |chunk| {
        output
            .write_all(chunk)
            .with_context(|| format!("failed to write `{}`", dest.display()))
    })?;
    output
        .flush()
        .with_context(|| format!("failed to write `{}`", dest.display()))?;
    // Only the execute bit crosses into the product: never setuid, setgid, sticky or world-write.
    let executable = crate::fsutil::is_executable(&meta);
    set_file_mode(output, dest, if executable { 0o755 } else { 0o644 })?;
    Ok((sha256, size, executable))
}

fn set_file_mode(file: &File, path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("failed to set permissions on `{}`", path.display()))
}

/// Writes a file the product itself adds (scripts, the SBOM) and returns its record.
fn write_file(
    tree: &mut TreeWriter,
    name: &str,
    text: &str,
    executable: bool,
) -> anyhow::Result<FileRecord> {
    let mut file = tree.create_file(Path::new(name), if executable { 0o755 } else { 0o644 })?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("failed to write `{name}`"))?;
    Ok(FileRecord {
        path: name.to_string(),
        sha256: Some(hex(&Sha256::digest(text.as_bytes()))),
        size: Some(text.len() as u64),
        executable,
        symlink: None,
    })
}

/// The output folder may be replaced: it is new, empty, or an earlier product (it carries the
/// marker) that was not bootstrapped, or was and `--force` says so;
/// and it never is, or holds, a folder the user keeps (the workdir, the current folder, the
/// project, the resources), nor lies inside the project, the resources or a staged folder. Paths
/// compare canonically, so a symlinked alias is caught. (Inside the current folder is fine:
/// `--output ./product` is the common case.)
fn check_output(
    output: &Path,
    workdir: &Workdir,
    stage: &StageReport,
    force: bool,
) -> anyhow::Result<()> {
    let refuse = |why: String| -> anyhow::Error {
        InputError::new(format!("the product folder `{}` {why}", output.display()))
            .with_hint("pick a new folder for the product, e.g. WORKDIR/product (the default)")
            .into()
    };
    let out = crate::fsutil::canonical_or_self(output);
    let cwd = std::env::current_dir().context("failed to read the current folder")?;
    let mut kept: Vec<(PathBuf, &str, bool)> = vec![
        (workdir.root().to_path_buf(), "the workdir", false),
        (cwd, "the current folder", false),
    ];
    for folder in crate::workdir::STAGED_FOLDERS {
        kept.push((workdir.root().join(folder), "a staged folder", true));
    }
    if let Some(p) = &stage.project_dir {
        kept.push((p.clone(), "the project", true));
    }
    if let Some(r) = &stage.resources_dir {
        kept.push((r.clone(), "the resources", true));
    }
    for (path, what, no_inside) in kept {
        let path = crate::fsutil::canonical_or_self(&path);
        if path.starts_with(&out) {
            return Err(refuse(format!(
                "is or contains {what} (`{}`)",
                path.display()
            )));
        }
        if no_inside && out.starts_with(&path) {
            return Err(refuse(format!("lies inside {what} (`{}`)", path.display())));
        }
    }
    match std::fs::symlink_metadata(output) {
        Err(_) => Ok(()),
        Ok(meta) if meta.file_type().is_symlink() || !meta.is_dir() => {
            Err(refuse("exists and is not a folder".to_string()))
        }
        Ok(_) if !crate::fsutil::dir_has_entries(output)? => Ok(()),
        // Only a folder make-product made (it carries the marker) is ever replaced; a readable
        // manifest is not enough, and --force does not change that.
        Ok(_) if !super::is_marked_product(output) => Err(InputError::new(format!(
            "the product folder `{}` is not empty and is not an earlier product (it has no {}): pixi-airgap never replaces a folder it did not make, even with --force",
            output.display(),
            ProductLayout::MARKER
        ))
        .with_hint("pick a new or empty folder for the product, or remove this one yourself")
        .into()),
        Ok(_) if force => {
            tracing::warn!("replacing the earlier product `{}` (forced)", output.display());
            Ok(())
        }
        Ok(_) => match bootstrapped(output) {
            Some(why) => Err(InputError::new(format!(
                "the product folder `{}` is an earlier product that was bootstrapped ({why}): it may hold environments and files of yours",
                output.display()
            ))
            .with_hint("give --force to replace it anyway, or pick another folder")
            .into()),
            None => Ok(()),
        },
    }
}

/// Why an earlier product looks bootstrapped (its `envs.sh` records a folder, or a project in it
/// has `.pixi/envs`); `None` when it does not.
fn bootstrapped(product: &Path) -> Option<String> {
    let envs_sh = product.join(ProductLayout::ENVS_SH);
    let recorded = std::fs::symlink_metadata(&envs_sh)
        .is_ok_and(|m| m.is_file() && m.len() < 1024 * 1024)
        && std::fs::read_to_string(&envs_sh).is_ok_and(|text| {
            text.lines().any(|line| {
                line.strip_prefix(templates::ENVS_SH_RECORD_MARKER)
                    .is_some_and(|value| !value.is_empty() && value != "''")
            })
        });
    if recorded {
        return Some(format!(
            "{} records where it was installed",
            ProductLayout::ENVS_SH
        ));
    }
    let entries = std::fs::read_dir(product).ok()?;
    for entry in entries.flatten() {
        let envs = entry.path().join(".pixi/envs");
        if entry.file_type().is_ok_and(|t| t.is_dir()) && std::fs::symlink_metadata(&envs).is_ok() {
            return Some(format!("`{}` exists", envs.display()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::product::manifest::{check, manifest_entries};

    /// A staged workdir as stage-host leaves it, without running it.
    fn staged_workdir(root: &Path) -> Workdir {
        let wd = Workdir::new(root).unwrap();
        let project = wd.project("demo");
        std::fs::create_dir_all(project.join(".pixi/envs/default")).unwrap();
        std::fs::write(project.join("pixi.toml"), "[project]\nname = \"demo\"\n").unwrap();
        std::fs::write(project.join("pixi.lock"), "version: 4\n").unwrap();
        std::fs::write(project.join(".pixi/envs/default/huge"), "env").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("pixi.toml", project.join("link")).unwrap();
        let pkg = wd.pixi_cache().join("pkgs/a-1-0/bin");
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(pkg.join("tool"), "#!/bin/sh\n").unwrap();
        crate::fsutil::set_mode(&pkg.join("tool"), 0o755).unwrap();
        std::fs::write(wd.pixi_cache().join("pkgs/a-1-0.lock"), "").unwrap();
        std::fs::create_dir_all(wd.pixi_cache().join("pypi/.tmp")).unwrap();
        std::fs::create_dir_all(wd.resources()).unwrap();
        std::fs::create_dir_all(wd.out()).unwrap();
        let stage = serde_json::json!({
            "format_version": 1, "tool_version": "0", "command": "stage-host",
            "project_name": "demo", "manifest": "pixi.toml", "environments": ["default"],
            "image": "img", "image_id": "sha256:abc", "image_repo_digests": [],
            "pixi_version": "pixi 0.15.2", "platform": "linux-64", "container_workdir": "/workdir",
            "lock_sha256": crate::fsutil::sha256_file(&project.join("pixi.lock")).unwrap(),
            "lock_version": 4,
            "excluded": {"counts": {}, "secrets": [], "skipped_special": []},
            "installs": [], "verification": null, "workdir": root,
            "started_at": "2026-01-01T00:00:00Z", "finished_at": "2026-01-01T00:01:00Z",
            "result": "success"
        });
        std::fs::write(wd.out().join("stage.json"), stage.to_string()).unwrap();
        wd
    }

    #[test]
    fn make_then_check_and_detect_damage() {
        let dir = tempfile::tempdir().unwrap();
        let wd = staged_workdir(&dir.path().join("wd"));
        let options = MakeOptions {
            workdir: wd.clone(),
            project_name: "demo".to_string(),
            output: wd.product(),
            force: false,
            sign_key: None,
        };
        let (manifest, totals) = make(&options).unwrap();
        let records: Vec<FileRecord> = crate::product::manifest::records(&wd.product())
            .unwrap()
            .collect::<anyhow::Result<_>>()
            .unwrap();
        let paths: Vec<&str> = records.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                ".pixi-airgap-product",
                "envs.sh",
                "bootstrap-project.sh",
                "check-product.sh",
                "product-facts.txt",
                "sbom.cdx.json",
                "demo/link",
                "demo/pixi.lock",
                "demo/pixi.toml",
                "pkg-cache/pkgs/a-1-0/bin/tool",
                "product-tree.txt",
            ],
            "no envs, no res/ when empty, no lock files or tmp folders from the cache"
        );
        if std::env::var_os("SOURCE_DATE_EPOCH").is_none() {
            assert_eq!(
                manifest.created_at, "2026-01-01T00:01:00Z",
                "the staging run's end"
            );
        }
        assert_eq!(totals.files, 11);
        assert_eq!(
            totals.bytes,
            records.iter().filter_map(|r| r.size).sum::<u64>()
        );
        assert!(!wd.product().join("res").exists());
        // Same workdir, same manifest bytes.
        let first = std::fs::read(wd.product().join(ProductLayout::PRODUCT_MANIFEST)).unwrap();
        make(&options).unwrap();
        assert_eq!(
            std::fs::read(wd.product().join(ProductLayout::PRODUCT_MANIFEST)).unwrap(),
            first
        );
        let (_, report) = check(&wd.product()).unwrap();
        assert_eq!(report.checked, 11);
        assert!(report.extra.is_empty());
        // SHA256SUMS is what `sha256sum -c` reads, and product-tree.txt holds the rest.
        let sums = std::fs::read_to_string(wd.product().join("SHA256SUMS")).unwrap();
        let listed: Vec<&str> = sums.lines().map(|l| &l[66..]).collect();
        assert_eq!(
            listed,
            [
                ".pixi-airgap-product",
                "bootstrap-project.sh",
                "check-product.sh",
                "demo/pixi.lock",
                "demo/pixi.toml",
                "envs.sh",
                "pixi-airgap.json",
                "pkg-cache/pkgs/a-1-0/bin/tool",
                "product-facts.txt",
                "product-tree.txt",
                "sbom.cdx.json",
            ]
        );
        let out = std::process::Command::new("sha256sum")
            .args(["-c", "--strict", "SHA256SUMS"])
            .current_dir(wd.product())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            std::fs::read_to_string(wd.product().join("product-tree.txt")).unwrap(),
            "dir\tdemo\ndir\tdemo/.pixi\nlink\tdemo/link\tpixi.toml\ndir\tpkg-cache\ndir\tpkg-cache/pkgs\ndir\tpkg-cache/pkgs/a-1-0\ndir\tpkg-cache/pkgs/a-1-0/bin\ndir\tpkg-cache/pypi\n"
        );

        // A lost execute bit, a retargeted link and an extra file.
        let tool = wd.product().join("pkg-cache/pkgs/a-1-0/bin/tool");
        crate::fsutil::set_mode(&tool, 0o644).unwrap();
        std::fs::remove_file(wd.product().join("demo/link")).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("pixi.lock", wd.product().join("demo/link")).unwrap();
        std::fs::write(wd.product().join("demo/extra.txt"), "x").unwrap();
        let err = check(&wd.product()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("changed: pkg-cache/pkgs/a-1-0/bin/tool"),
            "{text}"
        );
        assert!(text.contains("changed: demo/link"), "{text}");
        assert_eq!(crate::exit::classify(&err), crate::exit::Status::InputError);
    }

    /// Package files are hard-linked from the workdir (same inode); the project's files are
    /// copied; without links every file is a copy; the manifest is the same either way.
    #[cfg(unix)]
    #[test]
    fn package_files_are_linked_project_files_copied() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let wd = staged_workdir(&dir.path().join("wd"));
        let same_inode = |a: &Path, b: &Path| {
            std::fs::metadata(a).unwrap().ino() == std::fs::metadata(b).unwrap().ino()
        };
        let tool = "pkgs/a-1-0/bin/tool";
        let mut manifests = Vec::new();
        for links in [true, false] {
            let out = dir.path().join(format!("product-{links}"));
            std::fs::create_dir_all(&out).unwrap();
            let mut copier = Copier::new(links);
            let mut records = Vec::new();
            copier
                .tree(
                    &wd.pixi_cache(),
                    &mut TreeWriter::new(Dir::open(&out).unwrap()),
                    "pkg-cache",
                    &mut records,
                    keep_cache,
                    is_package_content,
                )
                .unwrap();
            copier
                .tree(
                    &wd.project("demo"),
                    &mut TreeWriter::new(Dir::open(&out).unwrap()),
                    "demo",
                    &mut records,
                    keep_project,
                    |_| false,
                )
                .unwrap();
            assert_eq!(
                same_inode(
                    &wd.pixi_cache().join(tool),
                    &out.join("pkg-cache").join(tool)
                ),
                links
            );
            assert_eq!(copier.linked, u64::from(links));
            assert!(!same_inode(
                &wd.project("demo").join("pixi.toml"),
                &out.join("demo/pixi.toml")
            ));
            manifests.push(serde_json::to_string(&records).unwrap());
        }
        assert_eq!(manifests[0], manifests[1]);
        // A package file with an unclean mode is copied (and cleaned), never shared.
        crate::fsutil::set_mode(&wd.pixi_cache().join(tool), 0o775).unwrap();
        let out = dir.path().join("product-unclean");
        std::fs::create_dir_all(&out).unwrap();
        let mut copier = Copier::new(true);
        copier
            .tree(
                &wd.pixi_cache(),
                &mut TreeWriter::new(Dir::open(&out).unwrap()),
                "pkg-cache",
                &mut Vec::new(),
                keep_cache,
                is_package_content,
            )
            .unwrap();
        assert_eq!(copier.linked, 0);
        assert!(!same_inode(
            &wd.pixi_cache().join(tool),
            &out.join("pkg-cache").join(tool)
        ));
        assert!(is_package_content(Path::new("pkgs/a-1-0/info/index.json")));
        assert!(!is_package_content(Path::new("pkgs/a-1-0.tar.bz2")));
        assert!(!is_package_content(Path::new("uv-cache/wheels/x/y")));
    }

    #[test]
    fn make_refuses_a_wrong_name_and_an_unstaged_workdir() {
        let dir = tempfile::tempdir().unwrap();
        let wd = staged_workdir(&dir.path().join("wd"));
        let options = MakeOptions {
            workdir: wd.clone(),
            project_name: "other".to_string(),
            output: wd.product(),
            force: false,
            sign_key: None,
        };
        let err = make(&options).unwrap_err();
        assert!(
            err.to_string()
                .contains("does not match the staged project `demo`"),
            "{err}"
        );
        let empty = Workdir::new(&dir.path().join("empty")).unwrap();
        let options = MakeOptions {
            workdir: empty.clone(),
            project_name: "demo".to_string(),
            output: empty.product(),
            force: false,
            sign_key: None,
        };
        let err = make(&options).unwrap_err();
        assert!(err.to_string().contains("is not a staged workdir"), "{err}");
        assert_eq!(crate::exit::classify(&err), crate::exit::Status::InputError);
    }

    /// A made product whose manifest is rewritten by `edit`.
    fn product_with(edit: impl FnOnce(&mut serde_json::Value)) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let wd = staged_workdir(&dir.path().join("wd"));
        let options = MakeOptions {
            workdir: wd.clone(),
            project_name: "demo".to_string(),
            output: wd.product(),
            force: false,
            sign_key: None,
        };
        make(&options).unwrap();
        let path = wd.product().join(ProductLayout::PRODUCT_MANIFEST);
        let mut value: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        edit(&mut value);
        std::fs::write(&path, serde_json::to_vec_pretty(&value).unwrap()).unwrap();
        // As whoever edited it would: SHA256SUMS re-hashed to match, so the manifest's own
        // checks are what is tested.
        let sums_path = wd.product().join(crate::product::sums::SHA256SUMS);
        let sha = crate::fsutil::sha256_file(&path).unwrap();
        let sums: String = std::fs::read_to_string(&sums_path)
            .unwrap()
            .lines()
            .map(|l| match l.strip_suffix(ProductLayout::PRODUCT_MANIFEST) {
                Some(_) if l.len() == 66 + ProductLayout::PRODUCT_MANIFEST.len() => {
                    format!("{sha}  {}\n", ProductLayout::PRODUCT_MANIFEST)
                }
                _ => format!("{l}\n"),
            })
            .collect();
        std::fs::write(&sums_path, sums).unwrap();
        (dir, wd.product())
    }

    #[test]
    fn manifests_that_name_places_outside_the_product_are_refused() {
        let add = |record: serde_json::Value| {
            move |v: &mut serde_json::Value| v["files"].as_array_mut().unwrap().push(record)
        };
        let file = |path: &str| serde_json::json!({"path": path, "sha256": "00", "size": 0});
        type Edit = Box<dyn FnOnce(&mut serde_json::Value)>;
        let cases: Vec<(Edit, &str)> = vec![
            (Box::new(add(file("../x"))), "a `.` or `..` part"),
            (Box::new(add(file("demo/../../x"))), "a `.` or `..` part"),
            (Box::new(add(file("/etc/passwd"))), "an absolute path"),
            (Box::new(add(file("demo//x"))), "an empty part"),
            (Box::new(add(file(""))), "an empty path"),
            (
                Box::new(add(file(ProductLayout::PRODUCT_MANIFEST))),
                "cannot list itself",
            ),
            (Box::new(add(file("envs.sh"))), "listed twice"),
            (
                Box::new(add(
                    serde_json::json!({"path": "demo/up", "symlink": "../../x"}),
                )),
                "leaves the product",
            ),
            (
                Box::new(add(
                    serde_json::json!({"path": "demo/abs", "symlink": "/root"}),
                )),
                "leaves the product",
            ),
            (
                Box::new(add(serde_json::json!({"path": "demo/nohash"}))),
                "without its size",
            ),
            (
                Box::new(|v: &mut serde_json::Value| v["project_name"] = "..".into()),
                "not a plain folder name",
            ),
            (
                Box::new(|v: &mut serde_json::Value| v["format_version"] = 2.into()),
                "has manifest format version 2; this pixi-airgap",
            ),
            (
                Box::new(|v: &mut serde_json::Value| v["format_version"] = 0.into()),
                "has manifest format version 0",
            ),
            (
                Box::new(|v: &mut serde_json::Value| v["format_version"] = "1".into()),
                "no numeric format_version",
            ),
        ];
        for (edit, expect) in cases {
            let (_dir, product) = product_with(edit);
            let err = check(&product).unwrap_err();
            assert!(err.to_string().contains(expect), "{expect}: {err}");
            assert_eq!(crate::exit::classify(&err), crate::exit::Status::InputError);
        }
        // A newer format is refused by its version, whatever else changed.
        let (_dir, product) = product_with(|v| {
            v["format_version"] = 7.into();
            v["files"] = "restructured".into();
        });
        let err = ProductManifest::read(&product).unwrap_err();
        assert!(err.to_string().contains("format version 7"), "{err}");
    }

    #[test]
    fn runtime_state_is_named_and_never_among_the_upload() {
        let (_dir, product) = product_with(|_| {});
        let envs = product.join("demo/.pixi/envs/default/bin");
        std::fs::create_dir_all(&envs).unwrap();
        std::fs::write(envs.join("python"), "x").unwrap();
        std::fs::write(product.join("demo/.pixi/other"), "x").unwrap();
        let (_, report) = check(&product).unwrap();
        let state: Vec<_> = report.runtime_state.into_iter().collect();
        assert_eq!(
            state,
            [
                ("demo/.pixi/envs".to_string(), 1),
                ("demo/.pixi/other".to_string(), 1)
            ]
        );
        assert!(report.extra.is_empty());
        // Anything else added is refused, a folder too.
        std::fs::write(product.join("stray.txt"), "x").unwrap();
        std::fs::create_dir(product.join("pkg-cache/empty")).unwrap();
        let err = check(&product).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("holds 2 entries that its manifest does not list")
                && text.contains("not part of the product: pkg-cache/empty/")
                && text.contains("not part of the product: stray.txt"),
            "{text}"
        );
        assert_eq!(crate::exit::classify(&err), crate::exit::Status::InputError);
        std::fs::remove_file(product.join("stray.txt")).unwrap();
        std::fs::remove_dir(product.join("pkg-cache/empty")).unwrap();
        let entries = manifest_entries(&product, Path::new("p")).unwrap();
        let paths: Vec<String> = entries
            .map(|e| e.unwrap().path.display().to_string())
            .collect();
        assert!(paths.contains(&"p/pkg-cache/pkgs/a-1-0/bin/tool".to_string()));
        assert!(paths.contains(&format!("p/{}", ProductLayout::PRODUCT_MANIFEST)));
        // The product's folders (its empty `.pixi/` too) and SHA256SUMS go, runtime state not.
        assert!(paths.contains(&"p/SHA256SUMS".to_string()));
        assert!(paths.contains(&"p/demo/.pixi".to_string()));
        assert!(
            paths
                .iter()
                .all(|p| !p.contains(".pixi/") && !p.contains("stray")),
            "{paths:?}"
        );
        // Folders come before what they hold.
        let tool = paths
            .iter()
            .position(|p| p == "p/pkg-cache/pkgs/a-1-0/bin/tool");
        let bin = paths.iter().position(|p| p == "p/pkg-cache/pkgs/a-1-0/bin");
        assert!(bin < tool);
    }

    #[test]
    fn make_refuses_a_link_that_would_leave_the_product() {
        let dir = tempfile::tempdir().unwrap();
        let wd = staged_workdir(&dir.path().join("wd"));
        // Inside the workdir (project/demo/../../resources), outside the product (demo/../..).
        std::os::unix::fs::symlink("../../resources/x", wd.project("demo").join("res-link"))
            .unwrap();
        let options = MakeOptions {
            workdir: wd.clone(),
            project_name: "demo".to_string(),
            output: wd.product(),
            force: false,
            sign_key: None,
        };
        let err = make(&options).unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains(
                "`demo/res-link`: a link whose target `../../resources/x` leaves the product"
            ),
            "{text}"
        );
        assert_eq!(crate::exit::classify(&err), crate::exit::Status::InputError);
        assert!(!wd.product().exists());
    }

    #[test]
    fn a_folder_replaced_by_a_link_is_not_followed() {
        let (dir, product) = product_with(|_| {});
        // The same files, but reached through a link: check must not read through it.
        let elsewhere = dir.path().join("elsewhere");
        std::fs::rename(product.join("pkg-cache"), &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, product.join("pkg-cache")).unwrap();
        let err = check(&product).unwrap_err();
        assert!(
            err.to_string()
                .contains("changed: pkg-cache/pkgs/a-1-0/bin/tool"),
            "{err}"
        );
        // A link whose text stays inside (`out/..`) but that resolves outside the product
        // through another link (`out`, not in the manifest).
        let (dir, product) = product_with(|v| {
            for f in v["files"].as_array_mut().unwrap() {
                if f["path"] == "demo/link" {
                    f["symlink"] = "out/..".into();
                }
            }
        });
        std::fs::remove_file(product.join("demo/link")).unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("a/b"), product.join("demo/out")).unwrap();
        std::os::unix::fs::symlink("out/..", product.join("demo/link")).unwrap();
        let err = check(&product).unwrap_err();
        assert!(err.to_string().contains("changed: demo/link"), "{err}");
    }

    #[test]
    fn cache_filter() {
        assert!(keep_cache(Path::new("pkgs"), true));
        assert!(keep_cache(Path::new("pkgs/a-1-0"), true));
        assert!(keep_cache(Path::new("pkgs/a-1-0/yarn.lock"), false));
        assert!(keep_cache(Path::new("pkgs/a-1-0/.tmp"), true));
        assert!(!keep_cache(Path::new("pkgs/a-1-0.lock"), false));
        assert!(!keep_cache(Path::new("cache.lock"), false));
        assert!(!keep_cache(Path::new("pypi/http/.tmp"), true));
        assert!(!keep_cache(Path::new("repodata"), true));
        assert!(keep_cache(Path::new("pypi/http/abc"), false));
    }
}
