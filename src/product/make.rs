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
    FileRecord, LockRecord, PixiRecord, ProductManifest, RecordedVerification, ToolInfo,
    FORMAT_VERSION,
};
use super::{templates, ProductLayout};
use crate::atomic::PendingDir;
use crate::exit::InputError;
use crate::fsutil::hex;
use crate::tar::write::{plan_dir, EntryKind};
use crate::workdir::report::{BundledPixi, StageReport, StageResult};
use crate::workdir::Workdir;

/// Inputs of [`make()`].
#[derive(Debug, Clone)]
pub struct MakeOptions {
    pub workdir: Workdir,
    pub project_name: String,
    pub output: PathBuf,
    /// Replace an output folder that is not empty and not an earlier product.
    pub force: bool,
}

/// Writes the product for a staged workdir and returns its manifest.
pub fn make(options: &MakeOptions) -> anyhow::Result<ProductManifest> {
    let MakeOptions {
        workdir,
        project_name,
        output,
        force,
    } = options;
    let stage = StageReport::read(workdir)?;
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

    let pending = PendingDir::new(output)?;
    tracing::info!("writing the product into {}", pending.path().display());

    let mut files = Vec::new();
    let staging = pending.path();
    copy_tree(&project, staging, project_name, &mut files, keep_project)?;
    let resources = workdir.resources();
    if crate::fsutil::dir_has_entries(&resources)? {
        copy_tree(
            &resources,
            staging,
            ProductLayout::RESOURCES,
            &mut files,
            |_, _| true,
        )?;
    }
    copy_tree(
        &workdir.pixi_cache(),
        staging,
        ProductLayout::PKG_CACHE,
        &mut files,
        keep_cache,
    )?;
    let pixi = match &stage.bundled_pixi {
        Some(bundled) => Some(copy_bundled_pixi(workdir, bundled, staging, &mut files)?),
        None => None,
    };
    let envs_sh = templates::envs_sh(project_name, &stage.pixi_version)?;
    write_file(staging, ProductLayout::ENVS_SH, &envs_sh, false, &mut files)?;
    let bootstrap =
        templates::bootstrap_sh(project_name, &stage.pixi_version, &stage.environments)?;
    write_file(
        staging,
        ProductLayout::BOOTSTRAP_SH,
        &bootstrap,
        true,
        &mut files,
    )?;
    let created_at = created_at(&stage);
    let lock = crate::lockfile::Lock::read(&staging.join(project_name).join("pixi.lock"))?;
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
    write_file(staging, ProductLayout::SBOM, &sbom_text, false, &mut files)?;
    files.sort_by(|a, b| a.path.cmp(&b.path));

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
        verification: stage.verification.as_ref().map(RecordedVerification::from),
        verifications: stage
            .verifications
            .iter()
            .map(RecordedVerification::from)
            .collect(),
        preflight: stage.preflight.findings.clone(),
        sbom: Some(ProductLayout::SBOM.to_string()),
        pixi,
        files,
    };
    let mut json = serde_json::to_vec_pretty(&manifest).context("failed to encode the manifest")?;
    json.push(b'\n');
    std::fs::write(staging.join(ProductLayout::MANIFEST), json)
        .with_context(|| format!("failed to write {}", ProductLayout::MANIFEST))?;

    pending.commit()?;
    tracing::info!(
        "product ready: {} ({} files, {:.1} MiB)",
        output.display(),
        manifest.files.len(),
        manifest.total_size() as f64 / (1024.0 * 1024.0)
    );
    Ok(manifest)
}

/// Copies `WORKDIR/pixi-bin/pixi` to `bin/pixi`, refusing a binary that is not the one staging
/// recorded.
fn copy_bundled_pixi(
    workdir: &Workdir,
    bundled: &BundledPixi,
    staging: &Path,
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
    let bin = staging.join("bin");
    std::fs::create_dir_all(&bin)
        .with_context(|| format!("failed to create `{}`", bin.display()))?;
    let (sha256, size, _) = copy_file_hashed(&source, &staging.join(ProductLayout::BUNDLED_PIXI))?;
    if sha256 != bundled.sha256 || size != bundled.size {
        return Err(InputError::new(format!(
            "`{}` is not the pixi the staging run copied (sha256 {sha256}, recorded {})",
            source.display(),
            bundled.sha256
        ))
        .with_hint("stage again, bundling the build container's pixi")
        .into());
    }
    crate::fsutil::set_mode(&staging.join(ProductLayout::BUNDLED_PIXI), 0o755)?;
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

/// Copies `src` into `dest_root/prefix`, hashing files as they are copied (one read per byte).
/// Symlinks are recreated as links; nothing is followed.
fn copy_tree(
    src: &Path,
    dest_root: &Path,
    prefix: &str,
    records: &mut Vec<FileRecord>,
    keep: impl Fn(&Path, bool) -> bool,
) -> anyhow::Result<()> {
    // The same sorted walk that never follows a link as every tar we write: names first (cheap),
    // then each entry copied, files hashed as they go.
    let plan = plan_dir(src, Path::new(prefix), |rel, file_type| {
        Ok(keep(rel, file_type.is_dir()))
    })?;
    for special in &plan.special {
        tracing::warn!(
            "skipped `{}`: not a file, folder or symlink",
            src.join(special).display()
        );
    }
    for entry in plan.entries {
        crate::shutdown::check()?;
        let dest = dest_root.join(&entry.path);
        let record_path = crate::fsutil::slash_path(&entry.path)?;
        match entry.kind {
            EntryKind::Dir => {
                std::fs::create_dir_all(&dest)
                    .with_context(|| format!("failed to create `{}`", dest.display()))?;
                crate::fsutil::set_mode(&dest, 0o755)?;
            }
            EntryKind::Symlink { target } => {
                symlink(&target, &dest)?;
                records.push(FileRecord {
                    path: record_path,
                    sha256: None,
                    size: None,
                    executable: false,
                    symlink: Some(target.to_string_lossy().into_owned()),
                });
            }
            EntryKind::File { source, .. } => {
                let (sha256, size, executable) = copy_file_hashed(&source, &dest)?;
                records.push(FileRecord {
                    path: record_path,
                    sha256: Some(sha256),
                    size: Some(size),
                    executable,
                    symlink: None,
                });
            }
        }
    }
    Ok(())
}

#[cfg(unix)]
fn symlink(target: &Path, dest: &Path) -> anyhow::Result<()> {
    std::os::unix::fs::symlink(target, dest)
        .with_context(|| format!("failed to create link `{}`", dest.display()))
}

#[cfg(not(unix))]
fn symlink(_target: &Path, dest: &Path) -> anyhow::Result<()> {
    anyhow::bail!("cannot create link `{}` on this platform", dest.display())
}

fn copy_file_hashed(src: &Path, dest: &Path) -> anyhow::Result<(String, u64, bool)> {
    let mut input =
        File::open(src).with_context(|| format!("failed to open `{}`", src.display()))?;
    let meta = input
        .metadata()
        .with_context(|| format!("failed to stat `{}`", src.display()))?;
    let mut output =
        File::create(dest).with_context(|| format!("failed to create `{}`", dest.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        crate::shutdown::check()?;
        let n = input
            .read(&mut buf)
            .with_context(|| format!("failed to read `{}`", src.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        output
            .write_all(&buf[..n])
            .with_context(|| format!("failed to write `{}`", dest.display()))?;
        size += n as u64;
    }
    output
        .flush()
        .with_context(|| format!("failed to write `{}`", dest.display()))?;
    // Only the execute bit crosses into the product: never setuid, setgid, sticky or world-write.
    let executable = crate::fsutil::is_executable(&meta);
    crate::fsutil::set_mode(dest, if executable { 0o755 } else { 0o644 })?;
    Ok((
        hex(&hasher.finalize()),
        size,
        crate::fsutil::is_executable(&meta),
    ))
}

/// Writes a file the product itself adds (scripts, the SBOM) and records it.
fn write_file(
    root: &Path,
    name: &str,
    text: &str,
    executable: bool,
    records: &mut Vec<FileRecord>,
) -> anyhow::Result<()> {
    let path = root.join(name);
    std::fs::write(&path, text).with_context(|| format!("failed to write `{}`", path.display()))?;
    crate::fsutil::set_mode(&path, if executable { 0o755 } else { 0o644 })?;
    records.push(FileRecord {
        path: name.to_string(),
        sha256: Some(hex(&Sha256::digest(text.as_bytes()))),
        size: Some(text.len() as u64),
        executable,
        symlink: None,
    });
    Ok(())
}

/// The output folder may be replaced: it is new, empty, an earlier product, or `--force` says so;
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
        Ok(_) if ProductManifest::read(output).is_ok() => Ok(()),
        Ok(_) if force => {
            tracing::warn!(
                "replacing `{}`, which is not an earlier product (forced)",
                output.display()
            );
            Ok(())
        }
        Ok(_) => Err(InputError::new(format!(
            "the product folder `{}` is not empty and is not an earlier product (no readable {})",
            output.display(),
            ProductLayout::MANIFEST
        ))
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            "lock_sha256": "00", "lock_version": 4,
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
        };
        let manifest = make(&options).unwrap();
        let paths: Vec<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "bootstrap-project.sh",
                "demo/link",
                "demo/pixi.lock",
                "demo/pixi.toml",
                "envs.sh",
                "pkg-cache/pkgs/a-1-0/bin/tool",
                "sbom.cdx.json",
            ],
            "no envs, no res/ when empty, no lock files or tmp folders from the cache"
        );
        if std::env::var_os("SOURCE_DATE_EPOCH").is_none() {
            assert_eq!(
                manifest.created_at, "2026-01-01T00:01:00Z",
                "the staging run's end"
            );
        }
        assert!(!wd.product().join("res").exists());
        // Same workdir, same manifest bytes.
        let first = std::fs::read(wd.product().join(ProductLayout::MANIFEST)).unwrap();
        make(&options).unwrap();
        assert_eq!(
            std::fs::read(wd.product().join(ProductLayout::MANIFEST)).unwrap(),
            first
        );
        let (_, report) = super::super::manifest::check(&wd.product()).unwrap();
        assert_eq!(report.checked, 7);
        assert!(report.extra.is_empty());

        // A lost execute bit, a retargeted link and an extra file.
        let tool = wd.product().join("pkg-cache/pkgs/a-1-0/bin/tool");
        crate::fsutil::set_mode(&tool, 0o644).unwrap();
        std::fs::remove_file(wd.product().join("demo/link")).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("pixi.lock", wd.product().join("demo/link")).unwrap();
        std::fs::write(wd.product().join("demo/extra.txt"), "x").unwrap();
        let err = super::super::manifest::check(&wd.product()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("changed: pkg-cache/pkgs/a-1-0/bin/tool"),
            "{text}"
        );
        assert!(text.contains("changed: demo/link"), "{text}");
        assert_eq!(crate::exit::classify(&err), crate::exit::Status::InputError);
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
        };
        let err = make(&options).unwrap_err();
        assert!(err.to_string().contains("is not a staged workdir"), "{err}");
        assert_eq!(crate::exit::classify(&err), crate::exit::Status::InputError);
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
