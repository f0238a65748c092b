//! The defensive unpacker: every tar we did not write (a container's download, an archive on disk)
//! is read here. Entries are unpacked into a folder the caller made fresh; anything that could
//! reach outside it (paths, symbolic and hard links, a chain of links) is refused with a
//! [`RefusedEntry`], never skipped silently; special files are left out and listed; modes are
//! normalised; and the size of what is written is bounded ([`ExtractLimits`]).

use std::collections::HashSet;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use anyhow::Context;

use super::stream::{read_blocking, ByteStream};

/// Read buffer of the extraction thread: the tar reader's small reads (512-byte headers, 8 KiB of
/// data at a time) are served from it instead of each crossing from the async side.
const READ_BUFFER: usize = 1024 * 1024;

/// What an extraction wrote.
#[derive(Debug, Default, Clone)]
pub struct ExtractStats {
    pub entries: u64,
    pub skipped: u64,
    pub bytes: u64,
    /// FIFOs, devices and other special files that were left out (paths inside the archive):
    /// the first [`SPECIAL_LISTED`] of them; `special_count` counts them all.
    pub special: Vec<PathBuf>,
    pub special_count: u64,
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

/// How many left-out special files [`ExtractStats::special`] names (a hostile archive can hold
/// millions).
pub const SPECIAL_LISTED: usize = 20;

/// Environment variables that override [`ExtractLimits`] (read by the caller; named in the
/// error that a limit was passed).
pub const MAX_BYTES_VAR: &str = crate::settings::MAX_EXTRACT_BYTES.name;
pub const MAX_ENTRIES_VAR: &str = crate::settings::MAX_EXTRACT_ENTRIES.name;

impl Default for ExtractLimits {
    fn default() -> Self {
        Self {
            max_bytes: 256 << 30,
            max_entries: 5_000_000,
        }
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

/// Unpacks a tar stream into `dest` (which should be a fresh, empty folder) as it arrives, leaving
/// out entries for which `skip` says yes. See [`extract_reader`] for what is refused.
pub async fn extract_stream<F>(
    stream: ByteStream,
    dest: PathBuf,
    strip: Option<PathBuf>,
    abs_root: Option<PathBuf>,
    limits: ExtractLimits,
    skip: F,
) -> anyhow::Result<ExtractStats>
where
    F: Fn(&Path) -> bool + Send + 'static,
{
    read_blocking(stream, move |reader| {
        extract_reader(
            std::io::BufReader::with_capacity(READ_BUFFER, reader),
            &dest,
            strip.as_deref(),
            abs_root.as_deref(),
            limits,
            skip,
        )
    })
    .await
}

/// The blocking half of [`extract_stream`]. Every archive is treated as hostile:
/// - entries with `..`, absolute paths, or that would land outside `dest` are refused;
/// - symbolic links whose target is absolute or leaves `dest` are refused (relative links inside
///   the tree, as conda packages have them, are kept), checked by their text when they arrive and
///   again once everything is written, resolved component by component against `dest` as the
///   root ([`resolve_in_tree`]): a chain of links cannot escape, and a link that dangles now is
///   judged by where it would lead, so it cannot leave the tree wherever the tree is moved;
/// - no entry is written through a link that leaves the tree (its folder is resolved the same way
///   before anything is created);
/// - hard links must name a plain file the archive has written, reached without any link;
/// - a second entry for a path may not change what the path is (a link replaced by a file or a
///   folder, or the other way round);
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
    let mut archive = ::tar::Archive::new(reader);
    archive.set_preserve_permissions(false);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    let mut stats = ExtractStats::default();
    let mut links = Vec::new();
    // Folders already created and resolved inside `dest` (stripped mode): an entry under one of
    // them needs no second `create_dir_all` and `canonicalize`. Only a link can change what a path
    // resolves to, so writing a link forgets them all.
    let mut checked_dirs: HashSet<PathBuf> = HashSet::new();
    let root_real = std::fs::canonicalize(dest)
        .with_context(|| format!("failed to resolve `{}`", dest.display()))?;
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
        // Every entry counts toward the limit, written or not: a stream of millions of skipped
        // or special entries costs time and memory too.
        if stats.entries + stats.skipped >= limits.max_entries {
            return Err(refuse(
                &path,
                &format!(
                    "the archive passes the extraction limit of {} entries (raise it with \
                     {MAX_ENTRIES_VAR})",
                    limits.max_entries
                ),
            ));
        }
        if skip(&path) {
            stats.skipped += 1;
            continue;
        }
        // A product names every file in UTF-8: such a name could land here but never ship.
        if path.to_str().is_none() {
            return Err(RefusedEntry {
                path: crate::fsutil::escaped(&path),
                why: "its name is not valid UTF-8 (shown escaped); a product names every file \
                      in UTF-8"
                    .to_string(),
            }
            .into());
        }
        let kind = entry.header().entry_type();
        let mut rewritten: Option<PathBuf> = None;
        match kind {
            ::tar::EntryType::Regular
            | ::tar::EntryType::Continuous
            | ::tar::EntryType::GNUSparse
            | ::tar::EntryType::Directory => {}
            ::tar::EntryType::Symlink => {
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
            ::tar::EntryType::Link => {
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
                if stats.special.len() < SPECIAL_LISTED {
                    stats.special.push(path);
                }
                stats.special_count += 1;
                stats.skipped += 1;
                continue;
            }
        }
        stats.entries += 1;
        stats.bytes += entry.size();
        if stats.bytes > limits.max_bytes {
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
        // Every entry is placed by hand, stripped or not: its folder must resolve inside `dest`
        // (judged by the tree alone, so a link chain that would only leave it once moved is
        // caught), and only then is anything created.
        let target = dest.join(&path);
        if kind == ::tar::EntryType::Symlink || kind == ::tar::EntryType::Link {
            checked_dirs.clear();
        }
        if let Some(parent) = path.parent() {
            if !checked_dirs.contains(parent) {
                if let Err(why) = resolve_in_tree(dest, parent) {
                    return Err(refuse(
                        &path,
                        &format!("it would be written through a link out of the tree ({why})"),
                    ));
                }
                let parent_abs = dest.join(parent);
                std::fs::create_dir_all(&parent_abs)
                    .with_context(|| format!("failed to create `{}`", parent_abs.display()))?;
                let real = std::fs::canonicalize(&parent_abs)
                    .with_context(|| format!("failed to resolve `{}`", parent_abs.display()))?;
                if !real.starts_with(&root_real) {
                    return Err(refuse(
                        &path,
                        "it would be written through a link out of the tree",
                    ));
                }
                checked_dirs.insert(parent.to_path_buf());
            }
        }
        // A later entry for the same path may replace a file by a file (tar's rule), never
        // change its kind: a checked link must not become a folder to write through, nor a
        // folder a link.
        if let Ok(existing) = std::fs::symlink_metadata(&target) {
            let was = kind_name(existing.file_type());
            let now = match kind {
                ::tar::EntryType::Directory => "a folder",
                ::tar::EntryType::Symlink => "a symbolic link",
                _ => "a file",
            };
            if was != now {
                return Err(refuse(
                    &path,
                    &format!("a second entry for this path changes it from {was} to {now}"),
                ));
            }
        }
        if let Some(link_target) = rewritten.take() {
            let _ = std::fs::remove_file(&target);
            std::os::unix::fs::symlink(&link_target, &target)
                .with_context(|| format!("failed to create link `{}`", target.display()))?;
        } else if kind == ::tar::EntryType::Link {
            let source = entry
                .link_name()
                .context("a hard link entry has an unreadable target")?
                .map(|t| t.into_owned())
                .unwrap_or_default();
            let source = source
                .strip_prefix(strip.unwrap_or(Path::new("")))
                .map_err(|_| refuse(&path, "hard link to a file outside the extracted folder"))?;
            // Reached without following any link, not even in the middle of the path.
            if let Err(why) = plain_file_without_links(dest, source) {
                return Err(refuse(
                    &path,
                    &format!("hard link to `{}`: {why}", source.display()),
                ));
            }
            let source = dest.join(source);
            let _ = std::fs::remove_file(&target);
            std::fs::hard_link(&source, &target)
                .with_context(|| format!("failed to link `{}`", target.display()))?;
        } else {
            entry
                .unpack(&target)
                .with_context(|| format!("failed to unpack `{}`", path.display()))?;
        }
        let clean = match kind {
            ::tar::EntryType::Directory => Some(0o755),
            ::tar::EntryType::Symlink => None,
            _ if mode & 0o111 != 0 => Some(0o755),
            _ => Some(0o644),
        };
        if let Some(clean) = clean {
            // The tar reader already gave the entry `mode & 0o777`; only a different mode needs
            // a second change (a hard link shares its source's inode, already clean).
            if mode & 0o7777 != clean && kind != ::tar::EntryType::Link {
                stats.sanitized_modes += u64::from(mode & 0o7002 != 0);
                crate::fsutil::set_mode(&dest.join(&path), clean)?;
            }
        }
    }
    // A link whose text stays inside can still leave through another link: resolve each one
    // against the tree alone, dangling or not (a dangling chain may resolve once moved).
    for link in links {
        if let Err(why) = resolve_in_tree(dest, &link) {
            return Err(refuse(
                &link,
                &format!("it resolves, through other links, outside the extracted tree ({why})"),
            ));
        }
    }
    Ok(stats)
}

/// Whether `rel` below `root` is a plain file reached through real folders only: no link is
/// followed, not even in the middle of the path (`symlink_metadata` follows those).
fn plain_file_without_links(root: &Path, rel: &Path) -> Result<(), String> {
    let mut here = root.to_path_buf();
    let count = rel.components().count();
    for (i, c) in rel.components().enumerate() {
        let Component::Normal(name) = c else {
            return Err("its path is not a plain path inside the tree".to_string());
        };
        here.push(name);
        let meta = std::fs::symlink_metadata(&here)
            .map_err(|_| "the archive has not written it".to_string())?;
        let last = i + 1 == count;
        if meta.file_type().is_symlink() {
            return Err("it is reached through a symbolic link".to_string());
        }
        if last && !meta.is_file() {
            return Err("it is not a plain file".to_string());
        }
        if !last && !meta.is_dir() {
            return Err("its path runs through something that is not a folder".to_string());
        }
    }
    if count == 0 {
        return Err("it names no file".to_string());
    }
    Ok(())
}

fn kind_name(kind: std::fs::FileType) -> &'static str {
    if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_dir() {
        "a folder"
    } else {
        "a file"
    }
}

/// Links followed in one resolution before it is given up as a loop (Linux's own limit): a loop
/// resolves nowhere, so it cannot leave the tree.
const MAX_LINK_HOPS: usize = 40;

/// Resolves `rel` (a path below `root`) component by component as the kernel would, following
/// every symbolic link met on the way, with `root` as the top of the world: a `..` above it or an
/// absolute link target means the path leaves the tree, wherever the tree is put later (the
/// extraction folder is one level below where its folders land). After a component that does not
/// exist (or is not a folder), the rest is judged by its text: it could exist later.
pub fn resolve_in_tree(root: &Path, rel: &Path) -> Result<(), String> {
    enum Part {
        Up,
        Name(std::ffi::OsString),
    }
    fn parts(path: &Path) -> Result<Vec<Part>, String> {
        let mut out = Vec::new();
        for c in path.components() {
            match c {
                Component::Normal(name) => out.push(Part::Name(name.to_os_string())),
                Component::ParentDir => out.push(Part::Up),
                Component::CurDir => {}
                Component::RootDir | Component::Prefix(_) => {
                    return Err(format!("`{}` is absolute", path.display()))
                }
            }
        }
        // Taken from the end, so the first component comes first.
        out.reverse();
        Ok(out)
    }
    let mut real = PathBuf::new();
    let mut pending = parts(rel)?;
    let mut dangling = false;
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        match part {
            Part::Up => {
                if !real.pop() {
                    return Err(format!(
                        "`{}` goes above the top of the tree",
                        rel.display()
                    ));
                }
            }
            Part::Name(name) => {
                real.push(&name);
                if dangling {
                    continue;
                }
                let here = root.join(&real);
                match std::fs::symlink_metadata(&here) {
                    Err(_) => dangling = true,
                    Ok(meta) if meta.file_type().is_symlink() => {
                        hops += 1;
                        if hops > MAX_LINK_HOPS {
                            return Ok(());
                        }
                        let target = std::fs::read_link(&here)
                            .map_err(|err| format!("`{}`: {err}", here.display()))?;
                        real.pop();
                        let more = parts(&target).map_err(|why| {
                            format!(
                                "`{}` links to an absolute path: {why}",
                                real.join(&name).display()
                            )
                        })?;
                        // On top of the stack: the link's target is resolved before the rest.
                        pending.extend(more);
                    }
                    Ok(meta) if meta.is_dir() => {}
                    Ok(_) => dangling = !pending.is_empty(),
                }
            }
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests;
