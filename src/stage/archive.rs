//! Streaming tars in both directions.
//!
//! Upload: a sorted walk of the host folders is planned first (cheap: names only), then a blocking
//! thread writes the tar into a bounded channel that feeds the Docker request body, so memory stays
//! at a few chunks whatever the size of the project.
//!
//! Download: the engine's tar stream is read on a blocking thread as it arrives and unpacked with
//! `unpack_in` into a fresh folder; entries that would land outside it are refused.
//!
//! Tars we write are deterministic: sorted entries, uid/gid 0, fixed mtime, modes reduced to
//! 0644/0755, symlinks stored as links (never followed).

use std::collections::BTreeMap;
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::Context;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use walkdir::WalkDir;

use super::filter::{Exclusion, StageFilter};

/// mtime written into every header: 1980-01-01, the floor that zip-based tools also accept.
pub const FIXED_MTIME: u64 = 315_532_800;
/// Bytes per chunk sent to the engine.
const CHUNK: usize = 256 * 1024;
/// Chunks in flight between the tar thread and the request body.
const CHUNKS_IN_FLIGHT: usize = 8;
/// Read buffer of the extraction thread: the tar reader's small reads (512-byte headers, 8 KiB of
/// data at a time) are served from it instead of each crossing from the async side.
const READ_BUFFER: usize = 1024 * 1024;

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
}

#[derive(Debug, Clone)]
pub enum EntryKind {
    Dir,
    File { source: PathBuf, executable: bool },
    Symlink { target: PathBuf },
}

/// What a walk left out, by reason.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct ExclusionReport {
    pub counts: BTreeMap<Exclusion, usize>,
    /// Relative paths of the secrets left out (names only, never contents).
    pub secrets: Vec<String>,
    /// Things a tar cannot carry (sockets, FIFOs, devices).
    pub skipped_special: Vec<String>,
}

impl ExclusionReport {
    fn record(&mut self, rel: &Path, why: Exclusion) {
        *self.counts.entry(why).or_default() += 1;
        if why == Exclusion::Secret {
            self.secrets.push(rel.display().to_string());
        }
    }

    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }

    pub fn merge(&mut self, other: ExclusionReport) {
        for (why, n) in other.counts {
            *self.counts.entry(why).or_default() += n;
        }
        self.secrets.extend(other.secrets);
        self.skipped_special.extend(other.skipped_special);
    }

    /// Logs a one-line summary plus the names of the secrets that were left out.
    pub fn log(&self, what: &str) {
        if self.total() == 0 {
            tracing::info!("{what}: nothing excluded");
        } else {
            let parts: Vec<String> = self
                .counts
                .iter()
                .map(|(why, n)| format!("{n} {}", why.describe()))
                .collect();
            tracing::info!(
                "{what}: excluded {} paths ({})",
                self.total(),
                parts.join(", ")
            );
        }
        if !self.secrets.is_empty() {
            tracing::info!(
                "{what}: secrets not staged: {} (stage one with --include-secret PATTERN)",
                self.secrets.join(", ")
            );
        }
        for special in &self.skipped_special {
            tracing::warn!("{what}: skipped `{special}`: not a file, folder or symlink");
        }
    }
}

/// Plans the entries for `root`, placed under `prefix` in the archive. The walk is sorted, never
/// follows symlinks and never descends into an excluded folder. With a filter, `.pixi/` is left out
/// except `.pixi/config.toml` (project settings pixi needs on the other side too).
pub fn plan_dir(
    root: &Path,
    prefix: &Path,
    filter: Option<&StageFilter>,
) -> anyhow::Result<(Vec<TarEntry>, ExclusionReport)> {
    let mut entries = Vec::new();
    let mut report = ExclusionReport::default();
    let mut walker = WalkDir::new(root)
        .follow_links(false)
        .follow_root_links(false)
        .sort_by_file_name()
        .into_iter();
    while let Some(item) = walker.next() {
        let item = item.with_context(|| format!("failed to walk `{}`", root.display()))?;
        let rel = item
            .path()
            .strip_prefix(root)
            .context("walked outside the root")?
            .to_path_buf();
        let file_type = item.file_type();
        if let (Some(filter), false) = (filter, rel.as_os_str().is_empty()) {
            // An earlier pixi-airgap workdir inside the project (the default `tmp/workdir-*`) is
            // never staged into the next one.
            if file_type.is_dir() && crate::workdir::is_marked(item.path()) {
                report.record(&rel, Exclusion::Junk);
                walker.skip_current_dir();
                continue;
            }
            if let Some(why) = filter.exclusion(&rel) {
                report.record(&rel, why);
                if file_type.is_dir() {
                    walker.skip_current_dir();
                    if rel == Path::new(".pixi") {
                        keep_pixi_config(item.path(), prefix, &mut entries)?;
                    }
                }
                continue;
            }
        }
        let path = if rel.as_os_str().is_empty() {
            prefix.to_path_buf()
        } else {
            prefix.join(&rel)
        };
        let kind = if file_type.is_dir() {
            EntryKind::Dir
        } else if file_type.is_symlink() {
            let target = std::fs::read_link(item.path())
                .with_context(|| format!("failed to read link `{}`", item.path().display()))?;
            EntryKind::Symlink { target }
        } else if file_type.is_file() {
            if let Some(why) = filter
                .map(|f| f.file_content_exclusion(&rel, item.path()))
                .transpose()?
                .flatten()
            {
                report.record(&rel, why);
                continue;
            }
            let meta = item
                .metadata()
                .with_context(|| format!("failed to stat `{}`", item.path().display()))?;
            EntryKind::File {
                source: item.path().to_path_buf(),
                executable: crate::fsutil::is_executable(&meta),
            }
        } else {
            report.skipped_special.push(rel.display().to_string());
            continue;
        };
        entries.push(TarEntry { path, kind });
    }
    Ok((entries, report))
}

fn keep_pixi_config(
    pixi_dir: &Path,
    prefix: &Path,
    entries: &mut Vec<TarEntry>,
) -> anyhow::Result<()> {
    let config = pixi_dir.join("config.toml");
    let meta = match std::fs::symlink_metadata(&config) {
        Ok(meta) => meta,
        Err(_) => return Ok(()),
    };
    if meta.is_file() {
        entries.push(TarEntry {
            path: prefix.join(".pixi"),
            kind: EntryKind::Dir,
        });
        entries.push(TarEntry {
            path: prefix.join(".pixi/config.toml"),
            kind: EntryKind::File {
                source: config,
                executable: false,
            },
        });
    }
    Ok(())
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

/// Adds directory entries for every ancestor of `path` (so the engine creates them).
pub fn parent_dirs(path: &Path) -> Vec<TarEntry> {
    let mut dirs = Vec::new();
    let mut current = PathBuf::new();
    for component in path.components() {
        current.push(component);
        dirs.push(TarEntry {
            path: current.clone(),
            kind: EntryKind::Dir,
        });
    }
    dirs
}

/// Writes `entries` as a tar into `out`. Used by the streaming upload and for archives on disk.
pub fn write_tar<W: Write>(entries: &[TarEntry], owner: Owner, out: W) -> anyhow::Result<W> {
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    for entry in entries {
        crate::shutdown::check()?;
        match &entry.kind {
            EntryKind::Dir => append(&mut builder, owner, &entry.path, Data::Dir)?,
            EntryKind::Symlink { target } => {
                append(&mut builder, owner, &entry.path, Data::Symlink(target))?
            }
            EntryKind::File { source, executable } => {
                let file = File::open(source)
                    .with_context(|| format!("failed to open `{}`", source.display()))?;
                let size = file
                    .metadata()
                    .with_context(|| format!("failed to stat `{}`", source.display()))?
                    .len();
                let reader = ExactReader {
                    inner: file,
                    remaining: size,
                    path: source,
                };
                let data = Data::File {
                    size,
                    executable: *executable,
                    reader: Box::new(reader),
                };
                append(&mut builder, owner, &entry.path, data)
                    .with_context(|| format!("failed to add `{}`", source.display()))?;
            }
        }
    }
    builder.into_inner().context("failed to finish the tar")
}

/// What one entry of a tar we write carries.
enum Data<'a> {
    Dir,
    File {
        size: u64,
        executable: bool,
        reader: Box<dyn Read + 'a>,
    },
    Symlink(&'a Path),
    HardLink(&'a Path),
}

/// Appends one entry with the normalised header every tar of ours has.
fn append<W: Write>(
    builder: &mut tar::Builder<W>,
    owner: Owner,
    path: &Path,
    data: Data,
) -> anyhow::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_uid(owner.uid);
    header.set_gid(owner.gid);
    header.set_mtime(FIXED_MTIME);
    header.set_size(0);
    let added = match data {
        Data::Dir => {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            builder.append_data(&mut header, path, io::empty())
        }
        Data::Symlink(target) => {
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_mode(0o777);
            builder.append_link(&mut header, path, target)
        }
        Data::HardLink(target) => {
            header.set_entry_type(tar::EntryType::Link);
            header.set_mode(0o644);
            builder.append_link(&mut header, path, target)
        }
        Data::File {
            size,
            executable,
            reader,
        } => {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(if executable { 0o755 } else { 0o644 });
            header.set_size(size);
            builder.append_data(&mut header, path, reader)
        }
    };
    added.with_context(|| format!("failed to add `{}` to the tar", path.display()))
}

/// Re-packs a tar stream from the engine as it passes, into `out`: the first path component of
/// every entry is replaced by `prefix`, the filter is applied (an excluded folder takes its content
/// with it; `.pixi/config.toml` is kept, as in [`plan_dir`]), headers are normalised like ours, and
/// `lead` entries go first. Returns `out` and what was left out.
pub async fn refilter_stream<S, W>(
    source: S,
    lead: Vec<TarEntry>,
    prefix: PathBuf,
    filter: StageFilter,
    out: W,
) -> anyhow::Result<(W, ExclusionReport)>
where
    S: Stream<Item = io::Result<Bytes>> + Send + Unpin + 'static,
    W: Write + Send + 'static,
{
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(source));
    tokio::task::spawn_blocking(move || refilter(reader, out, &lead, &prefix, &filter))
        .await
        .context("the filter thread failed")?
}

fn refilter<R: Read, W: Write>(
    reader: R,
    writer: W,
    lead: &[TarEntry],
    prefix: &Path,
    filter: &StageFilter,
) -> anyhow::Result<(W, ExclusionReport)> {
    let owner = Owner::ROOT;
    let mut builder = tar::Builder::new(writer);
    builder.follow_symlinks(false);
    for entry in lead {
        if let EntryKind::Dir = entry.kind {
            append(&mut builder, owner, &entry.path, Data::Dir)?;
        }
    }
    let mut report = ExclusionReport::default();
    let mut skipped: Vec<PathBuf> = Vec::new();
    let mut pixi_dir_written = false;
    let pixi_config = Path::new(".pixi/config.toml");
    let strip = |path: &Path| -> anyhow::Result<PathBuf> {
        if path
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::Prefix(_)))
        {
            anyhow::bail!(
                "refusing tar entry `{}`: it points outside the project",
                path.display()
            );
        }
        let mut parts = path.components();
        parts.next();
        Ok(parts.as_path().to_path_buf())
    };
    let mut archive = tar::Archive::new(reader);
    for entry in archive
        .entries()
        .context("failed to read the project stream")?
    {
        crate::shutdown::check()?;
        let mut entry = entry.context("failed to read an entry of the project stream")?;
        let rel = strip(&entry.path().context("unreadable entry path")?)?;
        let kind = entry.header().entry_type();
        if rel.as_os_str().is_empty() {
            // The project folder itself: `prefix` comes from the lead entries or is created here.
            append(&mut builder, owner, prefix, Data::Dir)?;
            continue;
        }
        let keep_config = rel == pixi_config && kind.is_file();
        if !keep_config {
            if skipped.iter().any(|s| rel.starts_with(s)) {
                continue;
            }
            if let Some(why) = filter.exclusion(&rel) {
                report.record(&rel, why);
                if kind.is_dir() {
                    skipped.push(rel);
                }
                continue;
            }
        } else if !pixi_dir_written {
            append(&mut builder, owner, &prefix.join(".pixi"), Data::Dir)?;
            pixi_dir_written = true;
        }
        let path = prefix.join(&rel);
        match kind {
            tar::EntryType::Directory => append(&mut builder, owner, &path, Data::Dir)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = entry.size();
                let executable = entry.header().mode().unwrap_or(0o644) & 0o111 != 0;
                // Small files are held (bounded by the limit) for the content check.
                let mut held = Vec::new();
                let reader: Box<dyn Read> = if keep_config || size >= crate::secrets::CONTENT_LIMIT
                {
                    Box::new(&mut entry)
                } else {
                    (&mut entry)
                        .take(size)
                        .read_to_end(&mut held)
                        .with_context(|| format!("failed to read `{}`", rel.display()))?;
                    if let Some(why) = filter.content_exclusion(&rel, &held) {
                        report.record(&rel, why);
                        skipped.push(rel);
                        continue;
                    }
                    Box::new(held.as_slice())
                };
                let data = Data::File {
                    size,
                    executable,
                    reader,
                };
                append(&mut builder, owner, &path, data)?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .context("unreadable link target")?
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                append(&mut builder, owner, &path, Data::Symlink(&target))?;
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .context("unreadable link target")?
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                let target_rel = strip(&target)?;
                if skipped.iter().any(|s| target_rel.starts_with(s))
                    || filter.exclusion(&target_rel).is_some()
                {
                    report.skipped_special.push(rel.display().to_string());
                    continue;
                }
                let target = prefix.join(target_rel);
                append(&mut builder, owner, &path, Data::HardLink(&target))?;
            }
            _ => report.skipped_special.push(rel.display().to_string()),
        }
    }
    let mut writer = builder.into_inner().context("failed to finish the tar")?;
    writer.flush().context("failed to write the tar")?;
    Ok((writer, report))
}

/// Reads exactly the size that was put in the header: a file that changes while it is being
/// archived is an error, not a corrupt archive.
struct ExactReader<'a> {
    inner: File,
    remaining: u64,
    path: &'a Path,
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
        Ok(n)
    }
}

/// A `Write` that sends fixed-size chunks into a bounded channel (blocking when it is full).
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send_buf(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the upload was closed"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK {
            self.send_buf()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buf()
    }
}

/// A tar of `entries` as a byte stream, produced on a blocking thread while it is consumed.
/// A failure while reading files ends the stream with that error, which fails the upload.
pub fn tar_stream(
    entries: Vec<TarEntry>,
    owner: Owner,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel(CHUNKS_IN_FLIGHT);
    let error_tx = tx.clone();
    tokio::task::spawn_blocking(move || {
        let writer = ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        };
        let result =
            write_tar(&entries, owner, writer).and_then(|mut w| w.flush().map_err(Into::into));
        if let Err(err) = result {
            let _ = error_tx.blocking_send(Err(io::Error::other(format!("{err:#}"))));
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

/// What an extraction wrote.
#[derive(Debug, Default, Clone)]
pub struct ExtractStats {
    pub entries: u64,
    pub skipped: u64,
    pub bytes: u64,
    /// FIFOs, devices and other special files that were left out (paths inside the archive).
    pub special: Vec<PathBuf>,
    /// Files whose setuid/setgid/sticky or world-write bits were dropped.
    pub sanitized_modes: u64,
}

/// Bounds on what one extraction may write, so that a container cannot fill the host's disk
/// through us. The defaults are far above any real package cache.
#[derive(Debug, Clone, Copy)]
pub struct ExtractLimits {
    pub max_bytes: u64,
    pub max_entries: u64,
}

/// Environment variables that override [`ExtractLimits`].
pub const MAX_BYTES_VAR: &str = "PIXI_AIRGAP_MAX_EXTRACT_BYTES";
pub const MAX_ENTRIES_VAR: &str = "PIXI_AIRGAP_MAX_EXTRACT_ENTRIES";

impl Default for ExtractLimits {
    fn default() -> Self {
        Self {
            max_bytes: 256 << 30,
            max_entries: 5_000_000,
        }
    }
}

impl ExtractLimits {
    /// The defaults, overridden by `PIXI_AIRGAP_MAX_EXTRACT_BYTES` / `_ENTRIES` when set.
    pub fn from_env() -> anyhow::Result<Self> {
        let mut limits = Self::default();
        let read = |var: &str| -> anyhow::Result<Option<u64>> {
            match std::env::var(var) {
                Ok(v) => v.trim().parse::<u64>().map(Some).map_err(|_| {
                    crate::exit::InputError::new(format!("{var}=`{v}` is not a whole number"))
                        .into()
                }),
                Err(_) => Ok(None),
            }
        };
        if let Some(v) = read(MAX_BYTES_VAR)? {
            limits.max_bytes = v;
        }
        if let Some(v) = read(MAX_ENTRIES_VAR)? {
            limits.max_entries = v;
        }
        Ok(limits)
    }
}

/// A tar entry refused because of what it is (not because the host failed): a hostile or broken
/// archive from a container.
#[derive(Debug, thiserror::Error)]
#[error("refusing tar entry `{path}`: {why}")]
pub struct RefusedEntry {
    pub path: String,
    pub why: String,
}

/// Unpacks a tar stream into `dest` (which should be a fresh, empty folder), leaving out entries for
/// which `skip` says yes. See [`extract_reader`] for what is refused.
pub async fn extract_stream<S, F>(
    stream: S,
    dest: PathBuf,
    strip: Option<PathBuf>,
    abs_root: Option<PathBuf>,
    limits: ExtractLimits,
    skip: F,
) -> anyhow::Result<ExtractStats>
where
    S: Stream<Item = io::Result<Bytes>> + Send + Unpin + 'static,
    F: Fn(&Path) -> bool + Send + 'static,
{
    let reader = tokio_util::io::StreamReader::new(stream);
    let bridge =
        std::io::BufReader::with_capacity(READ_BUFFER, tokio_util::io::SyncIoBridge::new(reader));
    tokio::task::spawn_blocking(move || {
        extract_reader(
            bridge,
            &dest,
            strip.as_deref(),
            abs_root.as_deref(),
            limits,
            skip,
        )
    })
    .await
    .context("the extraction thread failed")?
}

/// The blocking half of [`extract_stream`]. Every archive is treated as hostile:
/// - entries with `..`, absolute paths, or that would land outside `dest` are refused;
/// - symbolic links whose target is absolute or leaves `dest` are refused (relative links inside
///   the tree, as conda packages have them, are kept), checked by their text when they arrive and
///   again through the file system once everything is written (a chain of links cannot escape);
/// - hard links must name a path inside the archive;
/// - FIFOs, devices and other special files are left out and listed;
/// - modes are normalised: files 0644, or 0755 when any execute bit is set; folders 0755 (so a
///   read-only folder from the image never blocks its own children); no setuid, setgid, sticky or
///   world-write bit survives;
/// - more than `limits` bytes or entries stops the extraction with an error.
///
/// `abs_root` is where the stripped folder lives in the container (`/workdir`): absolute links
/// into it are rewritten as relative links (uv's cache has them); other absolute links are refused.
///
/// With `strip`, every entry must lie under that folder of the archive (an engine's download of
/// `/workdir` is `workdir/...`), which is removed from its path: `dest` is then the tree the links
/// are judged against, so nothing can point above it once it is in place. `skip` sees the
/// stripped path.
pub fn extract_reader<R: Read>(
    reader: R,
    dest: &Path,
    strip: Option<&Path>,
    abs_root: Option<&Path>,
    limits: ExtractLimits,
    skip: impl Fn(&Path) -> bool,
) -> anyhow::Result<ExtractStats> {
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(false);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    let mut stats = ExtractStats::default();
    let mut links = Vec::new();
    // Folders already created and resolved inside `dest` (stripped mode): an entry under one of
    // them needs no second `create_dir_all` and `canonicalize`. Only a link can change what a path
    // resolves to, so writing a link forgets them all.
    let mut checked_dirs: HashSet<PathBuf> = HashSet::new();
    let root_real = if strip.is_some() {
        Some(
            std::fs::canonicalize(dest)
                .with_context(|| format!("failed to resolve `{}`", dest.display()))?,
        )
    } else {
        None
    };
    let refuse = |path: &Path, why: &str| -> anyhow::Error {
        RefusedEntry {
            path: path.display().to_string(),
            why: why.to_string(),
        }
        .into()
    };
    for entry in archive.entries().context("failed to read the tar stream")? {
        crate::shutdown::check()?;
        let mut entry = entry.context("failed to read a tar entry")?;
        let path = entry
            .path()
            .context("a tar entry has an unreadable path")?
            .into_owned();
        if path.components().any(|c| {
            matches!(
                c,
                Component::ParentDir | Component::Prefix(_) | Component::RootDir
            )
        }) {
            return Err(refuse(&path, "it points outside the destination"));
        }
        let path = match strip {
            Some(prefix) => match path.strip_prefix(prefix) {
                Ok(rest) if rest.as_os_str().is_empty() => continue,
                Ok(rest) => rest.to_path_buf(),
                Err(_) => {
                    return Err(refuse(
                        &path,
                        &format!("it is not under `{}`", prefix.display()),
                    ))
                }
            },
            None => path,
        };
        if skip(&path) {
            stats.skipped += 1;
            continue;
        }
        let kind = entry.header().entry_type();
        let mut rewritten: Option<PathBuf> = None;
        match kind {
            tar::EntryType::Regular
            | tar::EntryType::Continuous
            | tar::EntryType::GNUSparse
            | tar::EntryType::Directory => {}
            tar::EntryType::Symlink => {
                let mut target = entry
                    .link_name()
                    .context("a link entry has an unreadable target")?
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                // uv's cache links its entries by absolute path inside the container workdir:
                // such a link becomes the same link, relative, so it stays inside (and keeps
                // working wherever the tree is moved). Any other absolute link is refused.
                if let (Some(abs), true) = (abs_root, target.is_absolute()) {
                    if let Ok(inside) = target.strip_prefix(abs) {
                        let relative = shortest_relative(&path, inside);
                        rewritten = Some(relative.clone());
                        target = relative;
                    }
                }
                if !link_stays_inside(&path, &target) {
                    return Err(refuse(
                        &path,
                        &format!(
                            "its link target `{}` leaves the extracted tree",
                            target.display()
                        ),
                    ));
                }
                links.push(path.clone());
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .context("a hard link entry has an unreadable target")?
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                if target.as_os_str().is_empty()
                    || target
                        .components()
                        .any(|c| !matches!(c, Component::Normal(_)))
                {
                    return Err(refuse(
                        &path,
                        &format!("hard link to `{}` outside the archive", target.display()),
                    ));
                }
            }
            // Extended headers are consumed by the tar reader; anything else is special.
            _ => {
                stats.special.push(path);
                stats.skipped += 1;
                continue;
            }
        }
        stats.entries += 1;
        stats.bytes += entry.size();
        if stats.bytes > limits.max_bytes || stats.entries > limits.max_entries {
            return Err(refuse(
                &path,
                &format!(
                    "the archive passes the extraction limit ({} bytes, {} entries; raise it with \
                     {MAX_BYTES_VAR} / {MAX_ENTRIES_VAR})",
                    limits.max_bytes, limits.max_entries
                ),
            ));
        }
        let mode = entry.header().mode().unwrap_or(0o644);
        if strip.is_some() {
            // `unpack_in` places an entry by its own path; a stripped one goes through the same
            // check by hand: its parent must resolve inside `dest`.
            let target = dest.join(&path);
            if kind == tar::EntryType::Symlink || kind == tar::EntryType::Link {
                checked_dirs.clear();
            }
            if let (Some(parent), Some(root)) = (target.parent(), root_real.as_deref()) {
                if !checked_dirs.contains(parent) {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("failed to create `{}`", parent.display()))?;
                    let real = std::fs::canonicalize(parent)
                        .with_context(|| format!("failed to resolve `{}`", parent.display()))?;
                    if !real.starts_with(root) {
                        return Err(refuse(
                            &path,
                            "it would be written through a link out of the tree",
                        ));
                    }
                    checked_dirs.insert(parent.to_path_buf());
                }
            }
            if let Some(link_target) = rewritten.take() {
                let _ = std::fs::remove_file(&target);
                std::os::unix::fs::symlink(&link_target, &target)
                    .with_context(|| format!("failed to create link `{}`", target.display()))?;
            } else if kind == tar::EntryType::Link {
                let source = entry
                    .link_name()
                    .context("a hard link entry has an unreadable target")?
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                let source = source
                    .strip_prefix(strip.unwrap_or(Path::new("")))
                    .map_err(|_| {
                        refuse(&path, "hard link to a file outside the extracted folder")
                    })?;
                let source = dest.join(source);
                let meta = std::fs::symlink_metadata(&source).map_err(|_| {
                    refuse(&path, "hard link to a file the archive has not written")
                })?;
                if !meta.is_file() {
                    return Err(refuse(
                        &path,
                        "hard link to something that is not a plain file",
                    ));
                }
                let _ = std::fs::remove_file(&target);
                std::fs::hard_link(&source, &target)
                    .with_context(|| format!("failed to link `{}`", target.display()))?;
            } else {
                entry
                    .unpack(&target)
                    .with_context(|| format!("failed to unpack `{}`", path.display()))?;
            }
        } else {
            let unpacked = entry
                .unpack_in(dest)
                .with_context(|| format!("failed to unpack `{}`", path.display()))?;
            if !unpacked {
                return Err(refuse(&path, "it points outside the destination"));
            }
        }
        let clean = match kind {
            tar::EntryType::Directory => Some(0o755),
            tar::EntryType::Symlink => None,
            _ if mode & 0o111 != 0 => Some(0o755),
            _ => Some(0o644),
        };
        if let Some(clean) = clean {
            // The tar reader already gave the entry `mode & 0o777`; only a different mode needs
            // a second change (a hard link shares its source's inode, already clean).
            if mode & 0o7777 != clean && kind != tar::EntryType::Link {
                stats.sanitized_modes += u64::from(mode & 0o7002 != 0);
                crate::fsutil::set_mode(&dest.join(&path), clean)?;
            }
        }
    }
    // A link whose text stays inside can still leave through another link: resolve each one.
    let root = std::fs::canonicalize(dest)
        .with_context(|| format!("failed to resolve `{}`", dest.display()))?;
    for link in links {
        if let Ok(resolved) = std::fs::canonicalize(dest.join(&link)) {
            if !resolved.starts_with(&root) {
                return Err(refuse(
                    &link,
                    "it resolves, through other links, outside the extracted tree",
                ));
            }
        }
    }
    Ok(stats)
}

/// The relative link, for a link at `path`, to `target` (both relative to the same root), through
/// their nearest common folder: it survives a rename of the folders above both ends (the workdir's
/// `pixi-cache` is the product's `pkg-cache`).
fn shortest_relative(path: &Path, target: &Path) -> PathBuf {
    let parent: Vec<_> = path
        .parent()
        .map(|p| p.components().collect())
        .unwrap_or_default();
    let target: Vec<_> = target.components().collect();
    let common = parent
        .iter()
        .zip(&target)
        .take_while(|(a, b)| a == b)
        .count();
    let mut relative: PathBuf = (common..parent.len())
        .map(|_| Component::ParentDir)
        .collect();
    relative.extend(&target[common..]);
    if relative.as_os_str().is_empty() {
        relative.push(".");
    }
    relative
}

/// Whether a symbolic link at `path` (relative to the extraction root) with this target stays
/// inside the root, judged by the text alone.
pub fn link_stays_inside(path: &Path, target: &Path) -> bool {
    if target.is_absolute() || target.as_os_str().is_empty() {
        return false;
    }
    let mut depth: usize = path.components().count().saturating_sub(1);
    for c in target.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                if depth == 0 {
                    return false;
                }
                depth -= 1;
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// Makes a (non-`'static`) stream usable by [`extract_stream`].
pub fn boxed<S>(stream: S) -> std::pin::Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>
where
    S: Stream<Item = io::Result<Bytes>> + Send + 'static,
{
    stream.boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earlier_workdirs_inside_the_project_are_not_staged() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("tmp/workdir-old/pixi-cache")).unwrap();
        std::fs::write(
            root.join("tmp/workdir-old").join(crate::workdir::MARKER),
            "x",
        )
        .unwrap();
        std::fs::write(root.join("tmp/workdir-old/pixi-cache/big"), "x").unwrap();
        std::fs::write(root.join("tmp/notes.txt"), "kept").unwrap();
        let filter = StageFilter::new(&[], &[]).unwrap();
        let (entries, _) = plan_dir(root, Path::new("p"), Some(&filter)).unwrap();
        let paths: Vec<String> = entries
            .iter()
            .map(|e| e.path.display().to_string())
            .collect();
        assert_eq!(paths, ["p", "p/tmp", "p/tmp/notes.txt"]);
    }

    #[test]
    fn plan_is_sorted_filtered_and_keeps_pixi_config() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join(".pixi/envs/default")).unwrap();
        std::fs::write(root.join(".pixi/config.toml"), "x").unwrap();
        std::fs::write(root.join(".pixi/envs/default/big"), "x").unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::write(root.join(".env"), "SECRET=1").unwrap();
        std::fs::write(root.join("b.txt"), "b").unwrap();
        std::fs::write(root.join("a.txt"), "a").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("a.txt", root.join("link")).unwrap();
        let filter = StageFilter::new(&[], &[]).unwrap();
        let (entries, report) = plan_dir(root, Path::new("p"), Some(&filter)).unwrap();
        let paths: Vec<String> = entries
            .iter()
            .map(|e| e.path.display().to_string())
            .collect();
        assert_eq!(
            paths,
            [
                "p",
                "p/.pixi",
                "p/.pixi/config.toml",
                "p/a.txt",
                "p/b.txt",
                "p/link"
            ]
        );
        assert_eq!(report.secrets, [".env"]);
        assert_eq!(report.counts[&Exclusion::Junk], 2);
        assert!(matches!(entries[5].kind, EntryKind::Symlink { .. }));
    }

    #[test]
    fn tar_is_deterministic_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("src");
        std::fs::create_dir_all(root.join("empty dir")).unwrap();
        std::fs::write(root.join("ünïcode name.txt"), "hello").unwrap();
        let (entries, _) = plan_dir(&root, Path::new("top"), None).unwrap();
        let a = write_tar(&entries, Owner::ROOT, Vec::new()).unwrap();
        let b = write_tar(&entries, Owner::ROOT, Vec::new()).unwrap();
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
    fn extraction_refuses_escapes() {
        let mut data = Vec::new();
        {
            let mut builder = tar::Builder::new(&mut data);
            let mut header = tar::Header::new_gnu();
            header.set_size(1);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
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
        let err = extract_reader(
            data.as_slice(),
            &dest,
            None,
            None,
            ExtractLimits::default(),
            |_| false,
        )
        .unwrap_err();
        assert!(err.to_string().contains("outside the destination"), "{err}");
        assert!(!dir.path().join("escape.txt").exists());
    }

    #[test]
    fn refilter_renames_filters_and_keeps_pixi_config() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("proj");
        for (path, content) in [
            ("pixi.toml", "m"),
            (".env", "secret"),
            (".pixi/config.toml", "c"),
            (".pixi/envs/default/x", "junk"),
            (".git/config", "junk"),
            ("src/app.py", "code"),
        ] {
            std::fs::create_dir_all(root.join(path).parent().unwrap()).unwrap();
            std::fs::write(root.join(path), content).unwrap();
        }
        // As the engine sends it: everything under the folder's own name, unfiltered.
        let (entries, _) = plan_dir(&root, Path::new("proj"), None).unwrap();
        let source = write_tar(&entries, Owner::ROOT, Vec::new()).unwrap();
        let filter = StageFilter::new(&[], &[]).unwrap();
        let lead = vec![TarEntry {
            path: PathBuf::from("project"),
            kind: EntryKind::Dir,
        }];
        let (out, report) = refilter(
            source.as_slice(),
            Vec::new(),
            &lead,
            Path::new("project/p"),
            &filter,
        )
        .unwrap();
        let dest = dir.path().join("out");
        std::fs::create_dir(&dest).unwrap();
        extract_reader(
            out.as_slice(),
            &dest,
            None,
            None,
            ExtractLimits::default(),
            |_| false,
        )
        .unwrap();
        let p = dest.join("project/p");
        assert_eq!(
            std::fs::read_to_string(p.join("src/app.py")).unwrap(),
            "code"
        );
        assert_eq!(
            std::fs::read_to_string(p.join(".pixi/config.toml")).unwrap(),
            "c"
        );
        assert!(!p.join(".pixi/envs").exists());
        assert!(!p.join(".git").exists());
        assert!(!p.join(".env").exists());
        assert_eq!(report.secrets, [".env"]);
        assert_eq!(report.counts[&Exclusion::Junk], 2);
    }

    #[test]
    fn extraction_skips_what_it_is_told() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("src");
        std::fs::create_dir_all(root.join("keep")).unwrap();
        std::fs::create_dir_all(root.join("drop")).unwrap();
        std::fs::write(root.join("drop/x"), "x").unwrap();
        let (entries, _) = plan_dir(&root, Path::new("w"), None).unwrap();
        let data = write_tar(&entries, Owner::ROOT, Vec::new()).unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let stats = extract_reader(
            data.as_slice(),
            &out,
            None,
            None,
            ExtractLimits::default(),
            |p| p.starts_with("w/drop"),
        )
        .unwrap();
        assert_eq!(stats.skipped, 2);
        assert!(out.join("w/keep").is_dir());
        assert!(!out.join("w/drop").exists());
    }

    /// A hostile archive, built entry by entry.
    fn hostile(entries: &[(&str, tar::EntryType, u32, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, kind, mode, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(*mode);
            match *kind {
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    h.set_size(0);
                    h.set_link_name(data).unwrap();
                    b.append_data(&mut h, path, std::io::empty()).unwrap();
                }
                _ => {
                    h.set_size(data.len() as u64);
                    b.append_data(&mut h, path, data.as_bytes()).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    fn extract(data: &[u8]) -> (tempfile::TempDir, anyhow::Result<ExtractStats>) {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("in");
        std::fs::create_dir(&dest).unwrap();
        let r = extract_reader(
            data,
            &dest,
            Some(Path::new("wd")),
            None,
            ExtractLimits::default(),
            |_| false,
        );
        (tmp, r)
    }

    use tar::EntryType as T;

    #[test]
    fn links_that_leave_the_tree_are_refused() {
        for (name, target) in [
            ("absolute", "/etc/passwd"),
            ("relative", "../../../../root"),
            ("to the workdir's parent", "../.."),
        ] {
            let data = hostile(&[
                ("wd/", T::Directory, 0o755, ""),
                ("wd/x/l", T::Symlink, 0o777, target),
            ]);
            let (_tmp, r) = extract(&data);
            let err = r.expect_err(name);
            assert!(err.is::<RefusedEntry>(), "{name}: {err:#}");
        }
        // Each link alone stays inside; together they point above the root.
        let data = hostile(&[
            ("wd/d/", T::Directory, 0o755, ""),
            ("wd/d/up", T::Symlink, 0o777, ".."),
            ("wd/chain", T::Symlink, 0o777, "d/up/.."),
        ]);
        let (_tmp, r) = extract(&data);
        assert!(r.unwrap_err().is::<RefusedEntry>());
    }

    #[test]
    fn absolute_links_into_the_container_workdir_become_relative() {
        let data = hostile(&[
            ("wd/cache/archive/a1/mod.py", T::Regular, 0o644, "x"),
            (
                "wd/cache/wheels/six/1.0",
                T::Symlink,
                0o777,
                "/workdir/cache/archive/a1",
            ),
            ("wd/cache/evil", T::Symlink, 0o777, "/workdir/../etc"),
        ]);
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("in");
        std::fs::create_dir(&dest).unwrap();
        let err = extract_reader(
            data.as_slice(),
            &dest,
            Some(Path::new("wd")),
            Some(Path::new("/workdir")),
            ExtractLimits::default(),
            |_| false,
        )
        .unwrap_err();
        assert!(
            err.is::<RefusedEntry>(),
            "`/workdir/../etc` still leaves: {err}"
        );
        assert_eq!(
            std::fs::read_link(dest.join("cache/wheels/six/1.0")).unwrap(),
            Path::new("../../archive/a1"),
            "through the nearest common folder, so renaming `cache` keeps it working"
        );
        assert!(dest.join("cache/wheels/six/1.0/mod.py").is_file());
        assert_eq!(
            shortest_relative(Path::new("top"), Path::new("")),
            Path::new(".")
        );
        assert_eq!(
            shortest_relative(Path::new("a/b/l"), Path::new("c/d")),
            Path::new("../../c/d")
        );
    }

    #[test]
    fn in_tree_links_are_kept() {
        let data = hostile(&[
            ("wd/pkg/bin/tool", T::Regular, 0o755, "#!/bin/sh\n"),
            ("wd/pkg/bin/alias", T::Symlink, 0o777, "tool"),
            ("wd/pkg/lib", T::Symlink, 0o777, "../pkg/bin"),
        ]);
        let (tmp, r) = extract(&data);
        r.unwrap();
        let dest = tmp.path().join("in");
        assert_eq!(
            std::fs::read_link(dest.join("pkg/bin/alias")).unwrap(),
            Path::new("tool")
        );
        assert!(dest.join("pkg/lib/tool").is_file());
    }

    #[test]
    fn modes_are_normalised_and_special_files_left_out() {
        use std::os::unix::fs::PermissionsExt;
        let data = hostile(&[
            ("wd/suid", T::Regular, 0o4755, "x"),
            ("wd/sgid", T::Regular, 0o2711, "x"),
            ("wd/ww", T::Regular, 0o666, "x"),
            ("wd/tmp/", T::Directory, 0o1777, ""),
            ("wd/ro/", T::Directory, 0o555, ""),
            ("wd/ro/sub/", T::Directory, 0o555, ""),
            ("wd/ro/sub/child", T::Regular, 0o444, "x"),
            ("wd/pipe", T::Fifo, 0o644, ""),
            ("wd/dev", T::Char, 0o644, ""),
        ]);
        let (tmp, r) = extract(&data);
        let stats = r.unwrap();
        let dest = tmp.path().join("in");
        let mode = |p: &str| {
            std::fs::metadata(dest.join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777
        };
        assert_eq!(mode("suid"), 0o755);
        assert_eq!(mode("sgid"), 0o755);
        assert_eq!(mode("ww"), 0o644);
        assert_eq!(mode("tmp"), 0o755);
        assert_eq!(mode("ro"), 0o755);
        assert_eq!(mode("ro/sub/child"), 0o644);
        assert_eq!(stats.sanitized_modes, 4);
        assert_eq!(stats.special, [PathBuf::from("pipe"), PathBuf::from("dev")]);
        assert!(!dest.join("pipe").exists());
    }

    #[test]
    fn hard_links_stay_inside_and_limits_hold() {
        let data = hostile(&[
            ("wd/a", T::Regular, 0o644, "x"),
            ("wd/b", T::Link, 0o644, "wd/a"),
        ]);
        let (tmp, r) = extract(&data);
        r.unwrap();
        assert_eq!(std::fs::read(tmp.path().join("in/b")).unwrap(), b"x");
        for target in ["/etc/hostname", "wd/../../etc/hostname", "other/a"] {
            let data = hostile(&[
                ("wd/a", T::Regular, 0o644, "x"),
                ("wd/b", T::Link, 0o644, target),
            ]);
            let (_tmp, r) = extract(&data);
            assert!(r.unwrap_err().is::<RefusedEntry>(), "{target}");
        }
        let data = hostile(&[
            ("wd/a", T::Regular, 0o644, "0123456789"),
            ("wd/b", T::Regular, 0o644, "0123456789"),
        ]);
        let tmp = tempfile::tempdir().unwrap();
        let limits = ExtractLimits {
            max_bytes: 15,
            max_entries: 100,
        };
        let err = extract_reader(
            data.as_slice(),
            tmp.path(),
            Some(Path::new("wd")),
            None,
            limits,
            |_| false,
        )
        .unwrap_err();
        assert!(err.to_string().contains(MAX_BYTES_VAR), "{err}");
        let limits = ExtractLimits {
            max_bytes: 100,
            max_entries: 1,
        };
        assert!(extract_reader(
            data.as_slice(),
            tmp.path(),
            Some(Path::new("wd")),
            None,
            limits,
            |_| false
        )
        .is_err());
        // Entries outside the stripped folder are refused.
        let data = hostile(&[("elsewhere/a", T::Regular, 0o644, "x")]);
        let (_tmp, r) = extract(&data);
        assert!(r.unwrap_err().is::<RefusedEntry>());
    }

    #[test]
    fn link_text_checks() {
        assert!(link_stays_inside(Path::new("a/b/l"), Path::new("../c")));
        assert!(link_stays_inside(Path::new("a/b/l"), Path::new("../../c")));
        assert!(!link_stays_inside(
            Path::new("a/b/l"),
            Path::new("../../../c")
        ));
        assert!(!link_stays_inside(Path::new("l"), Path::new("/x")));
        assert!(!link_stays_inside(Path::new("l"), Path::new("")));
    }
}
