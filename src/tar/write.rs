//! Writing tars: entries planned from a sorted walk that never follows symlinks ([`plan_dir`]),
//! and the deterministic builder that turns them into bytes ([`TarBuilder`], [`write_tar`]):
//! the same tree gives the same bytes.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};
use walkdir::WalkDir;

/// mtime written into every header: 1980-01-01, the floor that zip-based tools also accept.
pub const FIXED_MTIME: u64 = 315_532_800;

/// Owner written into every header of a tar we write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub uid: u64,
    pub gid: u64,
}

impl Owner {
    pub const ROOT: Owner = Owner { uid: 0, gid: 0 };
}

/// One entry of a tar we write.
#[derive(Debug, Clone)]
pub struct TarEntry {
    /// Path inside the archive (relative, `/`-separated).
    pub path: PathBuf,
    pub kind: EntryKind,
    /// For a file: what its bytes must still be when they are streamed (checked on the bytes
    /// that go into the tar, not by opening the file again).
    pub check: Option<FileCheck>,
}

/// A check made earlier on a file, made again on the bytes as they are archived: a file changed
/// in between stops the tar with an error instead of shipping what was never checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileCheck {
    /// The size and sha256 a product's manifest records.
    Sha256 { size: u64, sha256: String },
    /// The secret scan found nothing in this small file ([`crate::secrets::content_finding`]).
    NoSecret,
}

impl TarEntry {
    /// A folder entry.
    pub fn dir(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            kind: EntryKind::Dir,
            check: None,
        }
    }
}

#[derive(Debug, Clone)]
pub enum EntryKind {
    Dir,
    File { source: PathBuf, executable: bool },
    Symlink { target: PathBuf },
}

/// What a walk planned: the entries, and the things a tar cannot carry (sockets, FIFOs, devices)
/// by relative path.
#[derive(Debug, Default)]
pub struct Plan {
    pub entries: Vec<TarEntry>,
    pub special: Vec<String>,
}

/// One step of a [`Walk`]: an entry to archive, or a thing a tar cannot carry (a socket, FIFO or
/// device), by its path relative to the root.
#[derive(Debug)]
pub enum Walked {
    Entry(TarEntry),
    Special(String),
}

/// A sorted walk of `root` that never follows symlinks (not even a linked root), yielding its
/// entries one at a time under `prefix`: memory stays at the folders being walked, whatever the
/// number of files. `keep(rel, file_type)` is asked about every path below `root`; a folder it
/// refuses is not walked into.
pub struct Walk<F> {
    walker: walkdir::IntoIter,
    root: PathBuf,
    prefix: PathBuf,
    keep: F,
}

/// Starts a [`Walk`] of `root`, placed under `prefix` in the archive.
pub fn walk_dir<F>(root: &Path, prefix: &Path, keep: F) -> Walk<F>
where
    F: FnMut(&Path, &std::fs::FileType) -> anyhow::Result<bool>,
{
    Walk {
        walker: WalkDir::new(root)
            .follow_links(false)
            .follow_root_links(false)
            .sort_by_file_name()
            .into_iter(),
        root: root.to_path_buf(),
        prefix: prefix.to_path_buf(),
        keep,
    }
}

impl<F> Walk<F>
where
    F: FnMut(&Path, &std::fs::FileType) -> anyhow::Result<bool>,
{
    /// The next step, `None` at the end.
    fn step(&mut self) -> anyhow::Result<Option<Walked>> {
        loop {
            let Some(item) = self.walker.next() else {
                return Ok(None);
            };
            let item = item.with_context(|| format!("failed to walk `{}`", self.root.display()))?;
            let rel = item
                .path()
                .strip_prefix(&self.root)
                .context("walked outside the root")?;
            let file_type = item.file_type();
            if !rel.as_os_str().is_empty() && !(self.keep)(rel, &file_type)? {
                if file_type.is_dir() {
                    self.walker.skip_current_dir();
                }
                continue;
            }
            let path = if rel.as_os_str().is_empty() {
                self.prefix.clone()
            } else {
                self.prefix.join(rel)
            };
            let kind = if file_type.is_dir() {
                EntryKind::Dir
            } else if file_type.is_symlink() {
                let target = std::fs::read_link(item.path())
                    .with_context(|| format!("failed to read link `{}`", item.path().display()))?;
                EntryKind::Symlink { target }
            } else if file_type.is_file() {
                let meta = item
                    .metadata()
                    .with_context(|| format!("failed to stat `{}`", item.path().display()))?;
                EntryKind::File {
                    source: item.path().to_path_buf(),
                    executable: crate::fsutil::is_executable(&meta),
                }
            } else {
                return Ok(Some(Walked::Special(rel.display().to_string())));
            };
            return Ok(Some(Walked::Entry(TarEntry {
                path,
                kind,
                check: None,
            })));
        }
    }
}

impl<F> Iterator for Walk<F>
where
    F: FnMut(&Path, &std::fs::FileType) -> anyhow::Result<bool>,
{
    type Item = anyhow::Result<Walked>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step().transpose()
    }
}

/// Plans the entries for `root`, placed under `prefix` in the archive: a [`Walk`], collected.
/// For trees that stay small (a project); large ones are walked lazily.
pub fn plan_dir(
    root: &Path,
    prefix: &Path,
    keep: impl FnMut(&Path, &std::fs::FileType) -> anyhow::Result<bool>,
) -> anyhow::Result<Plan> {
    let mut plan = Plan::default();
    for step in walk_dir(root, prefix, keep) {
        match step? {
            Walked::Entry(entry) => plan.entries.push(entry),
            Walked::Special(rel) => plan.special.push(rel),
        }
    }
    Ok(plan)
}

/// All of `root` under `prefix`, lazily; things a tar cannot carry are skipped with a warning.
pub fn tree_entries(
    root: &Path,
    prefix: &Path,
) -> impl Iterator<Item = anyhow::Result<TarEntry>> + Send + 'static {
    walk_dir(root, prefix, |_, _| Ok(true)).filter_map(|step| match step {
        Ok(Walked::Entry(entry)) => Some(Ok(entry)),
        Ok(Walked::Special(special)) => {
            tracing::warn!("skipped `{special}`: not a file, folder or symlink");
            None
        }
        Err(err) => Some(Err(err)),
    })
}

/// All of `root` under `prefix`, collected (see [`tree_entries`]).
pub fn plan_tree(root: &Path, prefix: &Path) -> anyhow::Result<Vec<TarEntry>> {
    tree_entries(root, prefix).collect()
}

/// Entries already planned, as [`write_tar`] and the streaming upload take them.
pub fn planned(entries: Vec<TarEntry>) -> impl Iterator<Item = anyhow::Result<TarEntry>> {
    entries.into_iter().map(Ok)
}

/// The bytes of file content a list of entries will carry (for progress bars; a file that cannot
/// be read counts as empty here and fails properly when it is archived).
pub fn content_size(entries: &[TarEntry]) -> u64 {
    entries
        .iter()
        .map(|e| match &e.kind {
            EntryKind::File { source, .. } => {
                std::fs::metadata(source).map(|m| m.len()).unwrap_or(0)
            }
            _ => 0,
        })
        .sum()
}

/// Writes `entries` as a tar into `out`, taking them one at a time (a lazy walk stays lazy).
/// Used by the streaming upload and for archives on disk.
pub fn write_tar<W: Write>(
    entries: impl IntoIterator<Item = anyhow::Result<TarEntry>>,
    owner: Owner,
    out: W,
) -> anyhow::Result<W> {
    let mut builder = TarBuilder::new(out, owner);
    for entry in entries {
        crate::shutdown::check()?;
        builder.entry(&entry?)?;
    }
    builder.finish()
}

/// A tar builder whose every header is normalised: the given owner, [`FIXED_MTIME`], modes
/// 0755 (folders and executables) or 0644, links stored as links.
pub struct TarBuilder<W: Write> {
    inner: ::tar::Builder<W>,
    owner: Owner,
}

impl<W: Write> TarBuilder<W> {
    pub fn new(out: W, owner: Owner) -> Self {
        let mut inner = ::tar::Builder::new(out);
        inner.follow_symlinks(false);
        Self { inner, owner }
    }

    fn header(&self, kind: ::tar::EntryType, mode: u32, size: u64) -> ::tar::Header {
        let mut header = ::tar::Header::new_gnu();
        header.set_uid(self.owner.uid);
        header.set_gid(self.owner.gid);
        header.set_mtime(FIXED_MTIME);
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(size);
        header
    }

    pub fn dir(&mut self, path: &Path) -> anyhow::Result<()> {
        let mut header = self.header(::tar::EntryType::Directory, 0o755, 0);
        self.inner
            .append_data(&mut header, path, io::empty())
            .with_context(|| added(path))
    }

    /// A regular file of exactly `size` bytes read from `data`.
    pub fn file(
        &mut self,
        path: &Path,
        size: u64,
        executable: bool,
        data: impl Read,
    ) -> anyhow::Result<()> {
        let mode = if executable { 0o755 } else { 0o644 };
        let mut header = self.header(::tar::EntryType::Regular, mode, size);
        self.inner
            .append_data(&mut header, path, data)
            .with_context(|| added(path))
    }

    pub fn symlink(&mut self, path: &Path, target: &Path) -> anyhow::Result<()> {
        let mut header = self.header(::tar::EntryType::Symlink, 0o777, 0);
        self.inner
            .append_link(&mut header, path, target)
            .with_context(|| added(path))
    }

    /// A hard link to `target`, an earlier entry of the same tar.
    pub fn hard_link(&mut self, path: &Path, target: &Path) -> anyhow::Result<()> {
        let mut header = self.header(::tar::EntryType::Link, 0o644, 0);
        self.inner
            .append_link(&mut header, path, target)
            .with_context(|| added(path))
    }

    /// One planned entry; a file is read from its source as it is written.
    pub fn entry(&mut self, entry: &TarEntry) -> anyhow::Result<()> {
        match &entry.kind {
            EntryKind::Dir => self.dir(&entry.path),
            EntryKind::Symlink { target } => self.symlink(&entry.path, target),
            EntryKind::File { source, executable } => {
                // Opened once, no link followed: the walk saw a plain file here.
                let (file, meta) = crate::fsutil::open_no_follow(source)?;
                let size = meta.len();
                let changed = |what: &str| {
                    anyhow::anyhow!(
                        "`{}` changed after it was checked ({what}); nothing unchecked is archived",
                        source.display()
                    )
                };
                let mut reader = ExactReader {
                    inner: file,
                    remaining: size,
                    path: source,
                    hasher: None,
                };
                match &entry.check {
                    None => {}
                    Some(FileCheck::Sha256 { size: want, .. }) if *want != size => {
                        return Err(changed("its size differs from the manifest"))
                    }
                    Some(FileCheck::Sha256 { .. }) => reader.hasher = Some(Sha256::new()),
                    Some(FileCheck::NoSecret) if size < crate::secrets::CONTENT_LIMIT => {
                        // Small (under the scan's limit): held, scanned again, then archived.
                        let mut held = Vec::new();
                        reader
                            .read_to_end(&mut held)
                            .with_context(|| format!("failed to read `{}`", source.display()))?;
                        if let Some(finding) = crate::secrets::content_finding(&held) {
                            return Err(changed(&format!("it now holds a {finding}")));
                        }
                        return self
                            .file(&entry.path, size, *executable, held.as_slice())
                            .with_context(|| format!("failed to add `{}`", source.display()));
                    }
                    Some(FileCheck::NoSecret) => {}
                }
                self.file(&entry.path, size, *executable, &mut reader)
                    .with_context(|| format!("failed to add `{}`", source.display()))?;
                if let (Some(hasher), Some(FileCheck::Sha256 { sha256, .. })) =
                    (reader.hasher.take(), &entry.check)
                {
                    if crate::fsutil::hex(&hasher.finalize()) != *sha256 {
                        return Err(changed("its sha256 differs from the manifest"));
                    }
                }
                Ok(())
            }
        }
    }

    /// Writes the end-of-archive marker and returns the output.
    pub fn finish(self) -> anyhow::Result<W> {
        self.inner.into_inner().context("failed to finish the tar")
    }
}

fn added(path: &Path) -> String {
    format!("failed to add `{}` to the tar", path.display())
}

/// Reads exactly the size that was put in the header: a file that changes while it is being
/// archived is an error, not a corrupt archive.
struct ExactReader<'a> {
    inner: File,
    remaining: u64,
    path: &'a Path,
    /// Hashes what is read, when the entry carries a [`FileCheck::Sha256`].
    hasher: Option<Sha256>,
}

impl Read for ExactReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let max = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "`{}` shrank while it was being archived",
                    self.path.display()
                ),
            ));
        }
        self.remaining -= n as u64;
        if let Some(hasher) = self.hasher.as_mut() {
            hasher.update(&buf[..n]);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tar::extract::{extract_reader, ExtractLimits};

    /// Safety round 2, item 12: a file is archived as checked, or not at all.
    #[test]
    fn files_are_archived_as_they_were_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "hello\n").unwrap();
        let entry = |check| TarEntry {
            path: PathBuf::from("f"),
            kind: EntryKind::File {
                source: path.clone(),
                executable: false,
            },
            check: Some(check),
        };
        let sha = crate::fsutil::sha256_file(&path).unwrap();
        let good = FileCheck::Sha256 {
            size: 6,
            sha256: sha,
        };
        write_tar(planned(vec![entry(good.clone())]), Owner::ROOT, Vec::new()).unwrap();
        std::fs::write(&path, "HELLO\n").unwrap();
        let err = write_tar(planned(vec![entry(good)]), Owner::ROOT, Vec::new()).unwrap_err();
        assert!(err.to_string().contains("sha256 differs"), "{err:#}");
        // A small file that holds a secret by the time it is streamed.
        // Assembled at run time, so that this file does not itself look like a leak.
        let (begin, end) = (
            format!("-----BEGIN RSA {}", "PRIVATE KEY-----"),
            format!("-----END RSA {}", "PRIVATE KEY-----"),
        );
        let key = format!("{begin}\n{}\n{end}\n", "FAKEKEY0".repeat(12));
        std::fs::write(&path, "clean\n").unwrap();
        write_tar(
            planned(vec![entry(FileCheck::NoSecret)]),
            Owner::ROOT,
            Vec::new(),
        )
        .unwrap();
        std::fs::write(&path, key).unwrap();
        let err = write_tar(
            planned(vec![entry(FileCheck::NoSecret)]),
            Owner::ROOT,
            Vec::new(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("it now holds a"), "{err:#}");
    }

    #[test]
    fn tar_is_deterministic_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("src");
        std::fs::create_dir_all(root.join("empty dir")).unwrap();
        std::fs::write(root.join("ünïcode name.txt"), "hello").unwrap();
        let entries = plan_tree(&root, Path::new("top")).unwrap();
        let a = write_tar(planned(entries.clone()), Owner::ROOT, Vec::new()).unwrap();
        let b = write_tar(planned(entries.clone()), Owner::ROOT, Vec::new()).unwrap();
        assert_eq!(a, b);
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let stats = extract_reader(
            a.as_slice(),
            &out,
            None,
            None,
            ExtractLimits::default(),
            |_| false,
        )
        .unwrap();
        assert_eq!(stats.entries, 3);
        assert_eq!(
            std::fs::read_to_string(out.join("top/ünïcode name.txt")).unwrap(),
            "hello"
        );
        assert!(out.join("top/empty dir").is_dir());
    }

    #[test]
    fn plan_asks_about_every_path_and_skips_refused_folders() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("drop/deep")).unwrap();
        std::fs::write(root.join("drop/deep/x"), "x").unwrap();
        std::fs::write(root.join("b"), "b").unwrap();
        let mut asked = Vec::new();
        let plan = plan_dir(root, Path::new("p"), |rel, _| {
            asked.push(rel.display().to_string());
            Ok(rel != Path::new("drop"))
        })
        .unwrap();
        assert_eq!(asked, ["b", "drop"]);
        let paths: Vec<_> = plan.entries.iter().map(|e| e.path.clone()).collect();
        assert_eq!(paths, [PathBuf::from("p"), PathBuf::from("p/b")]);
    }
}
