//! Split archives for removable media (`--split-size`): the archive streamed straight into parts
//! `<archive>.000`, `<archive>.001`, ... of at most SIZE bytes each, never as a whole on disk.
//!
//! The parts are written into a hidden folder next to their destination under provisional names
//! and renamed into place once the archive is complete, with a width of at least three digits
//! that fits the last part, so `cat <archive>.[0-9]*` joins them in order. Then
//! `join-product.sh` and, last, `<archive>.sha256` (every part and the whole, `sha256sum` format)
//! are written: the list appears only when everything it names is there.

use std::fmt;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::atomic::PendingFile;
use crate::fsutil::{hex, set_mode};
use crate::product::templates::{render, Value};

/// The receiver's script that checks and joins the parts of `<top>.<ext>`: `join-product.sh` for
/// a product, `join-delta.sh` for a delta.
pub fn join_script_name(top: &str) -> String {
    format!("join-{top}.sh")
}
pub const JOIN_SH: &str = include_str!("templates/join-product.sh");

/// The most bytes a part holds: at least one (parsed from the command line by
/// [`crate::cli::values::parse_split_size`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitSize(u64);

impl SplitSize {
    /// `None` for 0: a part holds something.
    pub fn new(bytes: u64) -> Option<Self> {
        (bytes > 0).then_some(Self(bytes))
    }

    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl fmt::Display for SplitSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.0)
    }
}

/// One part as written.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Part {
    pub path: PathBuf,
    pub sha256: String,
    pub size_bytes: u64,
}

/// What a split archive left next to its (never written) whole name.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SplitInfo {
    pub split_size: u64,
    pub parts: Vec<Part>,
    pub join_script: PathBuf,
}

/// A `Write` that fills part files of at most `size` bytes in a hidden folder, starting the next
/// one only when there is more to write (so there is never an empty last part).
pub struct PartsWriter {
    staging: tempfile::TempDir,
    size: u64,
    current: Option<OpenPart>,
    done: Vec<(PathBuf, String, u64)>,
}

struct OpenPart {
    path: PathBuf,
    file: BufWriter<File>,
    hasher: Sha256,
    written: u64,
}

impl PartsWriter {
    /// Parts of `dest_dir/name`, staged in `dest_dir` (same file system, so they are renamed).
    pub fn new(dest_dir: &Path, name: &str, size: SplitSize) -> anyhow::Result<Self> {
        let staging = tempfile::Builder::new()
            .prefix(&format!(".{name}.parts-"))
            .tempdir_in(dest_dir)
            .with_context(|| format!("failed to create a folder in `{}`", dest_dir.display()))?;
        Ok(Self {
            staging,
            size: size.bytes(),
            current: None,
            done: Vec::new(),
        })
    }

    fn close_current(&mut self) -> std::io::Result<()> {
        if let Some(mut part) = self.current.take() {
            part.file.flush()?;
            part.file.get_ref().sync_all()?;
            self.done
                .push((part.path, hex(&part.hasher.finalize()), part.written));
        }
        Ok(())
    }

    /// Closes the last part and puts every part in place as `dest_dir/name.NNN`.
    fn finish(mut self, dest_dir: &Path, name: &str) -> anyhow::Result<Vec<Part>> {
        self.close_current()
            .context("failed to write the last archive part")?;
        let width = part_width(self.done.len());
        let mut parts = Vec::with_capacity(self.done.len());
        for (index, (staged, sha256, size_bytes)) in self.done.into_iter().enumerate() {
            let path = dest_dir.join(format!("{name}.{index:0width$}"));
            std::fs::rename(&staged, &path)
                .with_context(|| format!("failed to move `{}` into place", path.display()))?;
            parts.push(Part {
                path,
                sha256,
                size_bytes,
            });
        }
        Ok(parts)
    }
}

/// At least three digits, more when there are more than 1000 parts: all parts have one width, so
/// their names sort in order.
pub fn part_width(count: usize) -> usize {
    let last = count.saturating_sub(1);
    last.to_string().len().max(3)
}

impl Write for PartsWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self
            .current
            .as_ref()
            .is_some_and(|p| p.written >= self.size)
        {
            self.close_current()?;
        }
        if self.current.is_none() {
            let path = self
                .staging
                .path()
                .join(format!("part-{}", self.done.len()));
            let file = File::create(&path)?;
            self.current = Some(OpenPart {
                path,
                file: BufWriter::with_capacity(1 << 20, file),
                hasher: Sha256::new(),
                written: 0,
            });
        }
        let part = self
            .current
            .as_mut()
            .ok_or_else(|| std::io::Error::other("no open part"))?;
        let room = self.size - part.written;
        let n = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = part.file.write(&buf[..n])?;
        part.hasher.update(&buf[..n]);
        part.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.current {
            Some(part) => part.file.flush(),
            None => Ok(()),
        }
    }
}

/// Puts the parts in place, writes the join script and then `name.sha256`, and removes what an
/// earlier archive of the same name left that this one does not have (only names the earlier
/// `.sha256` listed: files we wrote). `whole` is the archive's sha256.
pub fn commit(
    writer: PartsWriter,
    dest_dir: &Path,
    name: &str,
    top: &str,
    whole: &str,
    split_size: SplitSize,
) -> anyhow::Result<SplitInfo> {
    let sha256_file = dest_dir.join(format!("{name}.sha256"));
    let earlier = listed_names(&sha256_file, name, top);
    let parts = writer.finish(dest_dir, name)?;
    let join_script = dest_dir.join(join_script_name(top));
    let script = join_script_text(name, top)?;
    write_atomic(&join_script, script.as_bytes())?;
    set_mode(&join_script, 0o755)?;
    let mut list = String::new();
    for part in &parts {
        list.push_str(&format!("{}  {}\n", part.sha256, file_name(&part.path)));
    }
    list.push_str(&format!("{whole}  {name}\n"));
    write_atomic(&sha256_file, list.as_bytes())?;
    let current: Vec<String> = parts.iter().map(|p| file_name(&p.path)).collect();
    remove_stale(dest_dir, &earlier, &current, top);
    Ok(SplitInfo {
        split_size: split_size.bytes(),
        parts,
        join_script,
    })
}

/// After an unsplit archive is written: the parts an earlier split archive of the same name
/// left (as its `.sha256` listed them, read before it was replaced) and its join script.
pub fn remove_parts_listed(dest_dir: &Path, name: &str, top: &str, earlier: &[String]) {
    let script = join_script_name(top);
    if !earlier.contains(&script) {
        return;
    }
    remove_stale(dest_dir, earlier, &[name.to_string()], top);
    let _ = std::fs::remove_file(dest_dir.join(script));
}

/// The names an earlier `name.sha256` listed that are ours to remove: `name` and `name.<digits>`.
/// With parts listed, the join script is returned too (it came with them).
pub fn listed_names(sha256_file: &Path, name: &str, top: &str) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(sha256_file) else {
        return Vec::new();
    };
    let mut names: Vec<String> = text
        .lines()
        .filter_map(|line| line.split_once("  ").map(|(_, n)| n.to_string()))
        .filter(|n| is_part_or_whole(n, name))
        .collect();
    if names.iter().any(|n| n != name) {
        names.push(join_script_name(top));
    }
    names
}

fn is_part_or_whole(candidate: &str, name: &str) -> bool {
    candidate == name
        || candidate
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('.'))
            .is_some_and(|digits| digits.len() >= 3 && digits.bytes().all(|b| b.is_ascii_digit()))
}

fn remove_stale(dest_dir: &Path, earlier: &[String], current: &[String], top: &str) {
    let script = join_script_name(top);
    for stale in earlier {
        if *stale == script || current.contains(stale) {
            continue;
        }
        let path = dest_dir.join(stale);
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
            if let Err(err) = std::fs::remove_file(&path) {
                tracing::warn!("could not remove the earlier `{}`: {err}", path.display());
            }
        }
    }
}

/// `join-product.sh` for the archive `name` whose content is under `top/`.
pub fn join_script_text(name: &str, top: &str) -> anyhow::Result<String> {
    render(
        JOIN_SH,
        &[("ARCHIVE", Value::Word(name)), ("TOP", Value::Word(top))],
    )
}

fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let pending = PendingFile::new(path)?;
    let mut file = pending.file()?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("failed to write `{}`", path.display()))?;
    pending.commit()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn width_fits_the_last_part() {
        assert_eq!(part_width(1), 3);
        assert_eq!(part_width(1000), 3);
        assert_eq!(part_width(1001), 4);
    }

    #[test]
    fn parts_hold_at_most_size_and_join_back() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut writer = PartsWriter::new(dir.path(), "a.tar", SplitSize(3000)).unwrap();
        // Uneven writes, as a tar or zstd stream makes them.
        for chunk in data.chunks(777) {
            writer.write_all(chunk).unwrap();
        }
        let whole = hex(&Sha256::digest(&data));
        let info = commit(
            writer,
            dir.path(),
            "a.tar",
            "product",
            &whole,
            SplitSize(3000),
        )
        .unwrap();
        let sizes: Vec<u64> = info.parts.iter().map(|p| p.size_bytes).collect();
        assert_eq!(sizes, [3000, 3000, 3000, 1000]);
        let mut joined = Vec::new();
        for (i, part) in info.parts.iter().enumerate() {
            assert_eq!(part.path, dir.path().join(format!("a.tar.{i:03}")));
            joined.extend(std::fs::read(&part.path).unwrap());
        }
        assert_eq!(joined, data);
        // Nothing else left behind: no staging folder.
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "a.tar.000",
                "a.tar.001",
                "a.tar.002",
                "a.tar.003",
                "a.tar.sha256",
                "join-product.sh"
            ]
        );
    }

    #[test]
    fn exact_multiple_has_no_empty_last_part() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = PartsWriter::new(dir.path(), "a.tar", SplitSize(100)).unwrap();
        writer.write_all(&[1u8; 300]).unwrap();
        let info = commit(writer, dir.path(), "a.tar", "product", "x", SplitSize(100)).unwrap();
        assert_eq!(info.parts.len(), 3);
        assert!(info.parts.iter().all(|p| p.size_bytes == 100));
    }

    #[test]
    fn join_script_renders_and_has_no_placeholders() {
        let text = join_script_text("product.tar.zst", "product").unwrap();
        assert!(text.contains("ARCHIVE='product.tar.zst'"));
        assert!(text.contains("TOP='product'"));
        insta::assert_snapshot!("join-product.sh", text);
    }
}
