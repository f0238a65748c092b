//! The copy of the project, the resources and the package cache into the product, every file
//! hashed as it goes and package files hard-linked from the workdir's cache where they can be; and
//! the product's own files, written with their records.

use std::fs::File;
use std::io::Write;
use std::path::{Component, Path};

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::exit::InputError;
use crate::fsutil::hex;
use crate::nofollow::TreeWriter;
use crate::product::manifest::FileRecord;
use crate::tar::write::{walk_dir, EntryKind, Walked};

use super::*;

/// Set to `0` to copy every package file into the product instead of hard-linking it from the
/// workdir's cache.
pub const CACHE_LINKS_VAR: &str = crate::settings::CACHE_LINKS.name;

pub(super) fn cache_links_wanted() -> anyhow::Result<bool> {
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
pub(super) fn is_package_content(rel: &Path) -> bool {
    let mut parts = rel.components();
    matches!(parts.next(), Some(Component::Normal(first)) if first == "pkgs")
        && parts.next().is_some()
        && parts.next().is_some()
}

/// Copies trees into the product, hashing every file on the way (one read per byte). Package
/// files may instead be hard-linked from the workdir (same inode, no data written): that is 5-30x
/// faster than a copy for large caches and costs no disk. A link is only kept when the file is a
/// plain file with a clean mode (0644/0755) on the same file system; anything else is copied.
pub(super) struct Copier {
    links: bool,
    pub(super) linked: u64,
    buf: Vec<u8>,
}

impl Copier {
    pub(super) fn new(links: bool) -> Self {
        Self {
            links,
            linked: 0,
            buf: vec![0u8; 256 * 1024],
        }
    }

    /// Copies `src` into `dest_root/prefix`. Symlinks are recreated as links; nothing is
    /// followed. Files for which `linkable` says yes are hard-linked when possible.
    pub(super) fn tree(
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
pub(super) fn copy_file_hashed_with(
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

pub(super) fn set_file_mode(file: &File, path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("failed to set permissions on `{}`", path.display()))
}

/// Writes a file the product itself adds (scripts, the SBOM) and returns its record.
pub(super) fn write_file(
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
