//! The defensive unpacker: every tar we did not write (a container's, an archive on disk) is
//! read here. Entries are unpacked with `unpack_in` into a folder the caller made fresh, and an
//! entry that would land outside it is refused with an error, never skipped silently.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use anyhow::Context;

use super::stream::{read_blocking, ByteStream};

/// A tar entry that would land outside the folder it is unpacked in.
#[derive(Debug, thiserror::Error)]
#[error("refusing tar entry `{path}`: it points outside {outside}")]
pub struct UnsafeEntry {
    pub path: String,
    /// What it would escape: "the destination", "the project".
    pub outside: &'static str,
}

impl UnsafeEntry {
    pub fn new(path: &Path, outside: &'static str) -> Self {
        Self {
            path: path.display().to_string(),
            outside,
        }
    }
}

/// What an extraction wrote.
#[derive(Debug, Default, Clone, Copy)]
pub struct ExtractStats {
    pub entries: u64,
    pub skipped: u64,
    pub bytes: u64,
}

/// Whether a path from a tar stays below the folder it is unpacked in (no `..`, no prefix).
pub fn is_contained(path: &Path) -> bool {
    !path
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::Prefix(_)))
}

/// Unpacks a tar stream into `dest` (which should be a fresh, empty folder) as it arrives,
/// leaving out entries for which `skip` says yes.
pub async fn extract_stream<F>(
    stream: ByteStream,
    dest: PathBuf,
    skip: F,
) -> anyhow::Result<ExtractStats>
where
    F: Fn(&Path) -> bool + Send + 'static,
{
    read_blocking(stream, move |reader| extract_reader(reader, &dest, skip)).await
}

/// The blocking half of [`extract_stream`]; also used for archives on disk.
pub fn extract_reader<R: Read>(
    reader: R,
    dest: &Path,
    skip: impl Fn(&Path) -> bool,
) -> anyhow::Result<ExtractStats> {
    let mut archive = ::tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    let mut stats = ExtractStats::default();
    for entry in archive.entries().context("failed to read the tar stream")? {
        crate::shutdown::check()?;
        let mut entry = entry.context("failed to read a tar entry")?;
        let path = entry
            .path()
            .context("a tar entry has an unreadable path")?
            .into_owned();
        if !is_contained(&path) {
            return Err(UnsafeEntry::new(&path, "the destination").into());
        }
        if skip(&path) {
            stats.skipped += 1;
            continue;
        }
        stats.bytes += entry.size();
        let unpacked = entry
            .unpack_in(dest)
            .with_context(|| format!("failed to unpack `{}`", path.display()))?;
        if !unpacked {
            return Err(UnsafeEntry::new(&path, "the destination").into());
        }
        stats.entries += 1;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tar::write::{plan_tree, write_tar, Owner};

    #[test]
    fn extraction_refuses_escapes() {
        let mut data = Vec::new();
        {
            let mut builder = ::tar::Builder::new(&mut data);
            let mut header = ::tar::Header::new_gnu();
            header.set_size(1);
            header.set_mode(0o644);
            header.set_entry_type(::tar::EntryType::Regular);
            // `append_data` refuses `..`, so write the name into the header directly.
            let name = b"../escape.txt";
            header.as_old_mut().name[..name.len()].copy_from_slice(name);
            header.set_cksum();
            builder.append(&header, &b"x"[..]).unwrap();
            builder.finish().unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("dest");
        std::fs::create_dir(&dest).unwrap();
        let err = extract_reader(data.as_slice(), &dest, |_| false).unwrap_err();
        assert!(err.to_string().contains("outside the destination"), "{err}");
        assert!(!dir.path().join("escape.txt").exists());
    }

    #[test]
    fn extraction_skips_what_it_is_told() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("src");
        std::fs::create_dir_all(root.join("keep")).unwrap();
        std::fs::create_dir_all(root.join("drop")).unwrap();
        std::fs::write(root.join("drop/x"), "x").unwrap();
        let entries = plan_tree(&root, Path::new("w")).unwrap();
        let data = write_tar(&entries, Owner::ROOT, Vec::new()).unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let stats = extract_reader(data.as_slice(), &out, |p| p.starts_with("w/drop")).unwrap();
        assert_eq!(stats.skipped, 2);
        assert!(out.join("w/keep").is_dir());
        assert!(!out.join("w/drop").exists());
    }
}
