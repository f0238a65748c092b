//! `pixi-airgap.json`, the product's manifest: the contract between `make-product`, which writes
//! it ([`super::make`]), and the offline proof, which reads it and checks the product against it
//! ([`check`], the integrity check) before anything runs. Its format is
//! [`crate::records::product_manifest`]; how it is written, read and checked lives here.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{templates, ProductLayout};
use crate::exit::InputError;
pub use crate::records::product_manifest::{
    FileRecord, LockRecord, PixiRecord, ProductManifest, SigningKeyRecord, ToolInfo, FORMAT_VERSION,
};
use crate::tar::write::{walk_dir, EntryKind, FileCheck, TarEntry, Walked};

impl ProductManifest {
    /// Reads `pixi-airgap.json` without its file list: a format this build knows, and a
    /// project name that is one plain folder name. The records are read, and checked, by
    /// [`records`].
    pub fn read(product_dir: &Path) -> anyhow::Result<Self> {
        let path = product_dir.join(ProductLayout::PRODUCT_MANIFEST);
        let damaged = |err: serde_json::Error| damaged(&path, err);
        // The version first: a newer format may have changed any other field. Both reads stream
        // the file and skip the records (no document tree in memory).
        let probe: VersionProbe =
            serde_json::from_reader(open_manifest(product_dir)?).map_err(damaged)?;
        check_format_version(&path, probe.format_version.as_ref())?;
        let manifest: Self =
            serde_json::from_reader(open_manifest(product_dir)?).map_err(damaged)?;
        if plain_path_problem(&manifest.project_name).is_some()
            || manifest.project_name.contains('/')
            || crate::names::project_name_problem(&manifest.project_name).is_some()
        {
            return Err(Problems::refusal(
                &path,
                &[format!(
                    "  project_name `{}`: not a plain folder name ({})",
                    manifest.project_name.escape_debug(),
                    crate::names::PROJECT_NAME_RULE
                )],
                1,
            ));
        }
        Ok(manifest)
    }
}

fn open_manifest(product_dir: &Path) -> anyhow::Result<BufReader<File>> {
    let path = product_dir.join(ProductLayout::PRODUCT_MANIFEST);
    let file = File::open(path).map_err(|err| {
        InputError::new(format!(
            "`{}` is not a pixi-airgap product: cannot read {}",
            product_dir.display(),
            ProductLayout::PRODUCT_MANIFEST
        ))
        .with_source(err)
    })?;
    Ok(BufReader::with_capacity(256 * 1024, file))
}

fn damaged(path: &Path, err: serde_json::Error) -> anyhow::Error {
    InputError::new(format!("`{}` is damaged", path.display()))
        .with_source(err)
        .into()
}

/// The check of a manifest's records, one at a time: every entry must name a place inside the
/// product (a relative `/`-separated path without `.`, `..` or empty parts, listed once, never the
/// manifest itself); a file has its size and sha256; a link's target stays inside the product (by
/// its text). What is wrong goes to [`Problems`]; the paths checked, to [`SeenPaths`].
#[derive(Debug, Default)]
pub struct RecordCheck {
    pub problems: Problems,
    pub seen: SeenPaths,
}

impl RecordCheck {
    /// Checks one record; `false` when it may not be part of a product (it is then recorded
    /// as a problem, and nothing it names may be read).
    pub fn check(&mut self, record: &FileRecord) -> bool {
        let why = match record_problem(record) {
            Some(why) => format!("  `{}`: {why}", record.path.escape_debug()),
            None if !self.seen.insert(&record.path) => {
                format!("  `{}`: listed twice", record.path)
            }
            None => return true,
        };
        self.problems.add(why);
        false
    }

    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// See [`Problems::describe`].
    pub fn describe(&self) -> (String, usize) {
        self.problems.describe()
    }

    /// See [`Problems::refuse`].
    pub fn refuse(&self, manifest_path: &Path) -> anyhow::Error {
        self.problems.refuse(manifest_path)
    }
}

/// The paths of the records checked so far, as 128-bit hashes: a duplicate is found, and a path
/// looked up, without keeping the paths.
#[derive(Debug, Default)]
pub struct SeenPaths {
    keys: HashSet<u128>,
    hashers: (
        std::collections::hash_map::RandomState,
        std::collections::hash_map::RandomState,
    ),
}

impl SeenPaths {
    /// Notes `path`; `false` when it was seen before.
    fn insert(&mut self, path: &str) -> bool {
        let key = self.key(path);
        self.keys.insert(key)
    }

    /// Whether a record with this path was checked (a 128-bit hash of it was).
    pub fn contains(&self, path: &str) -> bool {
        self.keys.contains(&self.key(path))
    }

    fn key(&self, path: &str) -> u128 {
        use std::hash::BuildHasher;
        (u128::from(self.hashers.0.hash_one(path)) << 64)
            | u128::from(self.hashers.1.hash_one(path))
    }
}

/// What is wrong with a manifest's records: the first lines are kept for the message, the rest
/// only counted.
#[derive(Debug, Default)]
pub struct Problems {
    shown: Vec<String>,
    count: usize,
}

impl Problems {
    /// Lines kept for the message.
    const SHOWN: usize = 20;

    fn add(&mut self, line: String) {
        self.count += 1;
        if self.shown.len() < Self::SHOWN {
            self.shown.push(line);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The problems as lines (at most 20, then `...`), and how many there are.
    pub fn describe(&self) -> (String, usize) {
        let more = if self.count > self.shown.len() {
            "\n  ..."
        } else {
            ""
        };
        (format!("{}{more}", self.shown.join("\n")), self.count)
    }

    /// The error a reader of a manifest with problems gives.
    fn refusal(manifest_path: &Path, shown: &[String], count: usize) -> anyhow::Error {
        InputError::new(format!(
            "`{}` lists {} that may not be part of a product:\n{}",
            manifest_path.display(),
            entries(count),
            shown.join("\n")
        ))
        .with_hint("this manifest was not written by make-product: make the product again on the build machine")
        .into()
    }

    /// The error a reader of a manifest with these problems gives.
    pub fn refuse(&self, manifest_path: &Path) -> anyhow::Error {
        let (text, count) = self.describe();
        Self::refusal(manifest_path, &[text], count)
    }
}

pub(crate) fn entries(n: usize) -> String {
    format!("{n} entr{}", if n == 1 { "y" } else { "ies" })
}

/// The records of a product's manifest, read one at a time as they are taken: a thread parses
/// the file and hands each record over a bounded channel, so memory holds a few records whatever
/// the size of the product. Records are not checked here (see [`RecordCheck`]). A damaged file ends
/// the records with an error.
pub struct Records {
    rx: std::sync::mpsc::Receiver<anyhow::Result<FileRecord>>,
}

/// Records in flight between the parsing thread and the reader.
const RECORDS_IN_FLIGHT: usize = 1024;

/// Starts reading the records of `product_dir`'s manifest.
pub fn records(product_dir: &Path) -> anyhow::Result<Records> {
    let reader = open_manifest(product_dir)?;
    let path = product_dir.join(ProductLayout::PRODUCT_MANIFEST);
    let (tx, rx) = std::sync::mpsc::sync_channel(RECORDS_IN_FLIGHT);
    std::thread::Builder::new()
        .name("manifest-records".to_string())
        .spawn(move || {
            let mut de = serde_json::Deserializer::from_reader(reader);
            let result = serde::de::DeserializeSeed::deserialize(FilesOf { tx: &tx }, &mut de)
                .and_then(|()| de.end());
            if let Err(err) = result {
                // A closed channel: the reader stopped taking records; nothing to tell.
                let _ = tx.send(Err(damaged(&path, err)));
            }
        })
        .context("failed to start reading the manifest")?;
    Ok(Records { rx })
}

impl Iterator for Records {
    type Item = anyhow::Result<FileRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rx.recv().ok()
    }
}

/// Reads a manifest, sending the records of its `files` and skipping every other field.
struct FilesOf<'a> {
    tx: &'a std::sync::mpsc::SyncSender<anyhow::Result<FileRecord>>,
}

impl<'de> serde::de::DeserializeSeed<'de> for FilesOf<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for FilesOf<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a pixi-airgap manifest")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "files" && !found {
                found = true;
                map.next_value_seed(FileList { tx: self.tx })?;
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        if !found {
            return Err(serde::de::Error::missing_field("files"));
        }
        Ok(())
    }
}

/// The `files` array, record by record.
struct FileList<'a> {
    tx: &'a std::sync::mpsc::SyncSender<anyhow::Result<FileRecord>>,
}

impl<'de> serde::de::DeserializeSeed<'de> for FileList<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for FileList<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of file records")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(record) = seq.next_element::<FileRecord>()? {
            if self.tx.send(Ok(record)).is_err() {
                return Err(serde::de::Error::custom("the reader stopped"));
            }
        }
        Ok(())
    }
}

/// Writes `pixi-airgap.json` as the product is made: the head first, then each record as it
/// comes (never the whole list in memory), checked on the way (see [`RecordCheck`]).
pub struct ManifestWriter {
    out: std::io::BufWriter<File>,
    problems: RecordCheck,
    files: usize,
    bytes: u64,
}

/// What a [`ManifestWriter`] wrote.
#[derive(Debug, Clone, Copy, Default)]
pub struct ManifestTotals {
    /// Records (files and links).
    pub files: usize,
    /// Bytes of file content.
    pub bytes: u64,
}

impl ManifestWriter {
    /// Creates `path` and writes `head`, the manifest without its records.
    pub fn create(path: &Path, head: &ProductManifest) -> anyhow::Result<Self> {
        let file =
            File::create(path).with_context(|| format!("failed to write `{}`", path.display()))?;
        Self::new(file, path, head)
    }

    /// Writes `head` into `file`, the new manifest at `path`.
    pub fn new(file: File, path: &Path, head: &ProductManifest) -> anyhow::Result<Self> {
        let failed = || format!("failed to write `{}`", path.display());
        // The head as serde_json's pretty printer writes it, left open for the records.
        let text = serde_json::to_string_pretty(head).context("failed to encode the manifest")?;
        let open = text
            .strip_suffix("\n}")
            .context("the manifest head is not a JSON object")?;
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, file);
        write!(out, "{open},\n  \"files\": [").with_context(failed)?;
        Ok(Self {
            out,
            problems: RecordCheck::default(),
            files: 0,
            bytes: 0,
        })
    }

    /// Adds one record (indented as the pretty printer would).
    pub fn record(&mut self, record: &FileRecord) -> anyhow::Result<()> {
        self.problems.check(record);
        let text = serde_json::to_string_pretty(record).context("failed to encode the manifest")?;
        let lead = if self.files == 0 { "" } else { "," };
        let mut chunk = String::with_capacity(text.len() + 64);
        chunk.push_str(lead);
        for line in text.lines() {
            chunk.push_str("\n    ");
            chunk.push_str(line);
        }
        self.out
            .write_all(chunk.as_bytes())
            .context("failed to write the manifest")?;
        self.files += 1;
        self.bytes += record.size.unwrap_or(0);
        Ok(())
    }

    /// Closes the list and the file. The problems found on the way come back instead of the
    /// totals when there are any: the caller refuses the product.
    pub fn finish(mut self) -> anyhow::Result<Result<ManifestTotals, RecordCheck>> {
        let close = if self.files == 0 {
            "]\n}\n"
        } else {
            "\n  ]\n}\n"
        };
        self.out
            .write_all(close.as_bytes())
            .context("failed to write the manifest")?;
        self.out
            .into_inner()
            .map_err(|err| err.into_error())
            .context("failed to write the manifest")?;
        if !self.problems.is_empty() {
            return Ok(Err(self.problems));
        }
        Ok(Ok(ManifestTotals {
            files: self.files,
            bytes: self.bytes,
        }))
    }
}

/// The one field read before the rest (whatever its type, so a wrong one is reported as such).
#[derive(serde::Deserialize)]
struct VersionProbe {
    format_version: Option<serde_json::Value>,
}

/// Refuses a manifest whose format this build does not know (older than 1, or newer).
fn check_format_version(path: &Path, version: Option<&serde_json::Value>) -> anyhow::Result<()> {
    match version.and_then(serde_json::Value::as_u64) {
        Some(v) if (1..=u64::from(FORMAT_VERSION)).contains(&v) => Ok(()),
        Some(v) => Err(InputError::new(format!(
            "`{}` has manifest format version {v}; this pixi-airgap ({}) reads format {FORMAT_VERSION}",
            path.display(),
            env!("CARGO_PKG_VERSION")
        ))
        .with_hint("use the pixi-airgap that made the product (or a newer one): its version is `tool.version` in the manifest")
        .into()),
        None => Err(InputError::new(format!(
            "`{}` is damaged: it has no numeric format_version",
            path.display()
        ))
        .into()),
    }
}

/// Why `path` is not a relative, `/`-separated path of plain names; `None` when it is.
fn plain_path_problem(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("an empty path");
    }
    if path.starts_with('/') {
        return Some("an absolute path");
    }
    if path.contains('\0') {
        return Some("a NUL byte in the path");
    }
    for part in path.split('/') {
        match part {
            "" => return Some("an empty part (`//` or a trailing `/`)"),
            "." | ".." => return Some("a `.` or `..` part"),
            _ => {}
        }
    }
    None
}

/// Why a manifest entry may not be part of a product; `None` when it may.
fn record_problem(record: &FileRecord) -> Option<String> {
    if let Some(why) = plain_path_problem(&record.path) {
        return Some(why.to_string());
    }
    if record.path == ProductLayout::PRODUCT_MANIFEST {
        return Some("the manifest cannot list itself".to_string());
    }
    match &record.symlink {
        Some(target) => {
            (!crate::tar::extract::link_stays_inside(Path::new(&record.path), Path::new(target)))
                .then(|| format!("a link whose target `{target}` leaves the product"))
        }
        None => (record.size.is_none() || record.sha256.is_none())
            .then(|| "a file without its size or sha256".to_string()),
    }
}

/// What the integrity [`check`] of a product against its manifest found.
#[derive(Debug, Default, Clone)]
pub struct IntegrityReport {
    /// Records checked (files and links).
    pub checked: usize,
    /// Bytes of file content the records hold.
    pub bytes: u64,
    pub missing: Vec<String>,
    pub changed: Vec<String>,
    /// Files, links and folders (with a trailing `/`) not in the manifest, other than runtime
    /// state: [`check`] refuses a product that has any.
    pub extra: Vec<String>,
    /// The folders under `<project>/.pixi/` that hold files not in the manifest: what
    /// bootstrapping in place left (environments, pixi's state), with how many files each holds.
    /// Counted, not listed: an environment has tens of thousands of files.
    pub runtime_state: BTreeMap<String, usize>,
}

/// The runtime-state folder an extra entry belongs to: `<project>/.pixi/<first part>` (or the
/// file itself directly under `.pixi/`); or, in the package cache, what pixi creates while it
/// installs and make-product leaves out ([`super::make::keep_cache`]: `.tmp*` folders, `*.lock`
/// files, the repodata cache; never inside a package's own folder).
fn runtime_state_folder(project_name: &str, rel: &str, is_dir: bool) -> Option<String> {
    if let Some(rest) = rel
        .strip_prefix(project_name)
        .and_then(|r| r.strip_prefix("/.pixi/"))
    {
        let first = rest.split('/').next().unwrap_or(rest);
        return Some(format!("{project_name}/.pixi/{first}"));
    }
    let rest = rel
        .strip_prefix(ProductLayout::PKG_CACHE)?
        .strip_prefix('/')?;
    let parts: Vec<&str> = rest.split('/').collect();
    for end in 1..=parts.len() {
        let dir = end < parts.len() || is_dir;
        if !super::make::keep_cache(Path::new(&parts[..end].join("/")), dir) {
            return Some(format!(
                "{}/{}",
                ProductLayout::PKG_CACHE,
                parts[..end].join("/")
            ));
        }
    }
    None
}

/// Checks every file of the product against its manifest. A manifest entry that names a place
/// outside the product, a missing or changed file, or a file, link or folder the manifest (and
/// `product-tree.txt`) does not list, other than bootstrap's runtime state under the project's
/// `.pixi/`, is an input error naming them. Nothing is followed: an entry whose folder on disk is a link, or a
/// link that resolves outside the product, counts as changed. Memory stays flat: the records are
/// read one at a time, the product is walked lazily, and what is kept per file is a 16-byte hash
/// of its path.
pub fn check(product_dir: &Path) -> anyhow::Result<(ProductManifest, IntegrityReport)> {
    let manifest = ProductManifest::read(product_dir)?;
    let manifest_path = product_dir.join(ProductLayout::PRODUCT_MANIFEST);
    let mut report = IntegrityReport::default();
    let mut problems = RecordCheck::default();
    let real_root = std::fs::canonicalize(product_dir)
        .with_context(|| format!("failed to resolve `{}`", product_dir.display()))?;
    let mut real_dirs = HashSet::new();
    // SHA256SUMS (what check-product.sh and a signature trust) must agree with the manifest.
    let mut sums = super::sums::SumsIndex::load(product_dir)?;
    for record in records(product_dir)? {
        let record = record?;
        crate::shutdown::check()?;
        if let Some(sums) = sums.as_mut() {
            sums.note(&record);
        }
        // An entry that may not be part of a product names nothing that is read.
        if !problems.check(&record) {
            continue;
        }
        report.checked += 1;
        report.bytes += record.size.unwrap_or(0);
        match record_state(product_dir, &real_root, &record, &mut real_dirs)? {
            RecordState::Intact => {}
            RecordState::Changed => report.changed.push(record.path),
            RecordState::Missing => report.missing.push(record.path),
        }
    }
    if !problems.is_empty() {
        return Err(problems.refuse(&manifest_path));
    }
    drop(real_dirs);
    match sums {
        Some(sums) => sums.finish(product_dir)?,
        // Products list product-tree.txt since they carry SHA256SUMS: one without it lost it.
        None if problems.seen.contains(super::sums::PRODUCT_TREE) => {
            return Err(InputError::new(format!(
                "the product in `{}` has no {}",
                product_dir.display(),
                super::sums::SHA256SUMS
            ))
            .with_hint(
                "copy the product again from the build machine (or unpack its archive again)",
            )
            .into())
        }
        None => {}
    }
    // The folders the product holds, from product-tree.txt once the record pass found it intact
    // (a product made before it existed has no folder list: its folders are not judged).
    let folders = if report.missing.is_empty() && report.changed.is_empty() {
        product_folders(product_dir, &problems.seen)?
    } else {
        None
    };
    // What is on disk, by the same walk every tar we write uses (sorted, no link followed), one
    // entry at a time; a path is known when the check above saw it.
    let known = problems.seen;
    for step in walk_dir(product_dir, Path::new(""), |_, _| Ok(true)) {
        let rel = match step? {
            Walked::Entry(TarEntry {
                kind: EntryKind::Dir,
                path,
                ..
            }) => {
                let rel = crate::fsutil::slash_path(&path)?;
                let listed = folders.as_ref().is_none_or(|f| f.contains(&rel));
                if rel.is_empty()
                    || listed
                    || rel == format!("{}/.pixi", manifest.project_name)
                    || runtime_state_folder(&manifest.project_name, &rel, true).is_some()
                {
                    continue;
                }
                report.extra.push(format!("{rel}/"));
                continue;
            }
            Walked::Entry(entry) => crate::fsutil::slash_path(&entry.path)?,
            Walked::Special(rel) => crate::fsutil::slash_path(Path::new(&rel))?,
        };
        // SHA256SUMS lists the manifest, so it cannot be in it (nor its signature).
        if rel == ProductLayout::PRODUCT_MANIFEST
            || rel == super::sums::SHA256SUMS
            || rel == super::sums::SHA256SUMS_SIG
            || known.contains(&rel)
        {
            continue;
        }
        match runtime_state_folder(&manifest.project_name, &rel, false) {
            Some(folder) => *report.runtime_state.entry(folder).or_default() += 1,
            None => report.extra.push(rel),
        }
    }
    drop(known);
    report.extra.sort();
    if report.missing.is_empty() && report.changed.is_empty() && !report.extra.is_empty() {
        let shown: Vec<String> = report
            .extra
            .iter()
            .take(EXTRA_SHOWN)
            .map(|p| format!("  not part of the product: {p}"))
            .collect();
        let more = report.extra.len().saturating_sub(EXTRA_SHOWN);
        return Err(InputError::new(format!(
            "the product in `{}` holds {} that its manifest does not list (only bootstrap's runtime state under `{}/.pixi/` may be added):\n{}{}",
            product_dir.display(),
            entries(report.extra.len()),
            manifest.project_name,
            shown.join("\n"),
            if more > 0 { format!("\n  ... and {more} more") } else { String::new() }
        ))
        .with_hint("copy the product again from the build machine (or unpack its archive again), or remove what was added")
        .into());
    }
    if !report.missing.is_empty() || !report.changed.is_empty() {
        let mut lines = Vec::new();
        for path in &report.changed {
            lines.push(format!("  changed: {path}"));
        }
        for path in &report.missing {
            lines.push(format!("  missing: {path}"));
        }
        return Err(InputError::new(format!(
            "the product in `{}` does not match its manifest ({} changed, {} missing):\n{}",
            product_dir.display(),
            report.changed.len(),
            report.missing.len(),
            lines.join("\n")
        ))
        .with_hint("copy the product again from the build machine (or unpack its archive again)")
        .into());
    }
    Ok((manifest, report))
}

/// How many added paths an error names (then a count).
const EXTRA_SHOWN: usize = 50;

/// The folders `product-tree.txt` lists, when the manifest lists that file (the record pass has
/// then checked its content); `None` for a product made before it existed.
fn product_folders(
    product_dir: &Path,
    known: &SeenPaths,
) -> anyhow::Result<Option<HashSet<String>>> {
    if !known.contains(super::sums::PRODUCT_TREE) {
        return Ok(None);
    }
    let path = product_dir.join(super::sums::PRODUCT_TREE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("failed to read `{}`", path.display()))?;
    Ok(Some(
        text.lines()
            .filter_map(|line| line.strip_prefix("dir\t"))
            .map(str::to_string)
            .collect(),
    ))
}

/// What [`record_state`] found.
enum RecordState {
    Intact,
    Changed,
    Missing,
}

/// Whether the product holds `record` as the manifest says.
fn record_state(
    product_dir: &Path,
    real_root: &Path,
    record: &FileRecord,
    real_dirs: &mut HashSet<String>,
) -> anyhow::Result<RecordState> {
    let path = product_dir.join(&record.path);
    // Every folder on the way must be a real folder: a link there would make us read (and
    // upload) what lies behind it.
    if !folders_are_real(product_dir, &record.path, real_dirs) {
        return Ok(RecordState::Changed);
    }
    let Ok(meta) = std::fs::symlink_metadata(&path) else {
        return Ok(RecordState::Missing);
    };
    let intact = match &record.symlink {
        Some(target) => {
            meta.file_type().is_symlink()
                && std::fs::read_link(&path).is_ok_and(|t| t.to_string_lossy() == target.as_str())
                // Through other links it may still leave: judged by the file system too
                // (a dangling link is fine; it points nowhere outside).
                && std::fs::canonicalize(&path).map_or(true, |real| real.starts_with(real_root))
        }
        // A lost execute bit breaks a package's programs just like changed bytes do. Size, mode
        // and content are read through one open file that no link leads to.
        None => {
            meta.is_file()
                && match crate::fsutil::open_no_follow(&path) {
                    Err(_) => false,
                    Ok((file, meta)) => {
                        Some(meta.len()) == record.size
                            && crate::fsutil::is_executable(&meta) == record.executable
                            && record.sha256.as_deref()
                                == Some(
                                    crate::fsutil::sha256_reader(file)
                                        .with_context(|| {
                                            format!("failed to read `{}`", path.display())
                                        })?
                                        .0
                                        .as_str(),
                                )
                    }
                }
        }
    };
    // bootstrap-project.sh records the product's folder in envs.sh; nothing else may differ.
    let intact = intact
        || (record.path == ProductLayout::ENVS_SH
            && meta.is_file()
            && crate::fsutil::is_executable(&meta) == record.executable
            && match (record.size, record.sha256.as_deref()) {
                (Some(size), Some(sha256)) => {
                    templates::envs_sh_matches_as_made(&path, size, sha256)?
                }
                _ => false,
            });
    Ok(if intact {
        RecordState::Intact
    } else {
        RecordState::Changed
    })
}

/// Whether every folder between `root` and the entry `rel` is a real folder (not a link).
/// `seen` remembers folders already found real.
fn folders_are_real(root: &Path, rel: &str, seen: &mut HashSet<String>) -> bool {
    let mut end = 0;
    while let Some(slash) = rel[end..].find('/') {
        end += slash;
        let folder = &rel[..end];
        if !seen.contains(folder) {
            let real = std::fs::symlink_metadata(root.join(folder)).is_ok_and(|m| m.is_dir());
            if !real {
                return false;
            }
            seen.insert(folder.to_string());
        }
        end += 1;
    }
    true
}

/// The tar entries of exactly the manifest's files (and the manifest), under `prefix`, produced
/// one at a time as the upload reads them: the manifest first, then each file or link as the
/// manifest records it, each folder on its way just before the first entry inside it. Nothing else
/// in the product folder is read. Call [`check`] first: it makes sure every entry is what the
/// manifest says and that no folder on the way is a link. The records are read from the file
/// again and checked again on the way (a manifest replaced in between cannot name a place
/// outside the product).
pub fn manifest_entries(product_dir: &Path, prefix: &Path) -> anyhow::Result<ManifestEntries> {
    let mut pending = VecDeque::new();
    pending.push_back(TarEntry::dir(prefix));
    pending.push_back(TarEntry {
        path: prefix.join(ProductLayout::PRODUCT_MANIFEST),
        kind: EntryKind::File {
            source: product_dir.join(ProductLayout::PRODUCT_MANIFEST),
            executable: false,
        },
        check: None,
    });
    // The checksums (so the product's own check-product.sh can run where it is uploaded) and
    // every folder of product-tree.txt (empty ones too), parents first as the list is sorted.
    for name in [super::sums::SHA256SUMS, super::sums::SHA256SUMS_SIG] {
        let source = product_dir.join(name);
        if std::fs::symlink_metadata(&source).is_ok_and(|m| m.is_file()) {
            pending.push_back(TarEntry {
                path: prefix.join(name),
                kind: EntryKind::File {
                    source,
                    executable: false,
                },
                // SHA256SUMS is checked against the manifest before the upload; the proof's own
                // check-product.sh checks it again inside the container.
                check: None,
            });
        }
    }
    let mut folders = HashSet::new();
    let tree = product_dir.join(super::sums::PRODUCT_TREE);
    if std::fs::symlink_metadata(&tree).is_ok_and(|m| m.is_file()) {
        let text = std::fs::read_to_string(&tree)
            .with_context(|| format!("failed to read `{}`", tree.display()))?;
        for folder in text.lines().filter_map(|l| l.strip_prefix("dir\t")) {
            if plain_path_problem(folder).is_some() {
                return Err(InputError::new(format!(
                    "`{}` lists a folder `{}` that may not be part of a product",
                    tree.display(),
                    folder.escape_debug()
                ))
                .into());
            }
            pending.push_back(TarEntry::dir(prefix.join(folder)));
            folders.insert(folder.to_string());
        }
    }
    Ok(ManifestEntries {
        product_dir: product_dir.to_path_buf(),
        prefix: prefix.to_path_buf(),
        records: records(product_dir)?,
        problems: RecordCheck::default(),
        pending,
        folders,
    })
}

/// See [`manifest_entries`]. Holds the folders written so far, never a list of the files.
pub struct ManifestEntries {
    product_dir: PathBuf,
    prefix: PathBuf,
    records: Records,
    problems: RecordCheck,
    pending: VecDeque<TarEntry>,
    folders: HashSet<String>,
}

impl ManifestEntries {
    fn step(&mut self) -> anyhow::Result<Option<TarEntry>> {
        if let Some(entry) = self.pending.pop_front() {
            return Ok(Some(entry));
        }
        let Some(record) = self.records.next().transpose()? else {
            return Ok(None);
        };
        if !self.problems.check(&record) {
            return Err(self
                .problems
                .refuse(&self.product_dir.join(ProductLayout::PRODUCT_MANIFEST)));
        }
        // The folders on the way that are not written yet, outermost first.
        let mut missing = Vec::new();
        let mut end = record.path.len();
        while let Some(slash) = record.path[..end].rfind('/') {
            let folder = &record.path[..slash];
            if self.folders.contains(folder) {
                break;
            }
            missing.push(folder.to_string());
            end = slash;
        }
        for folder in missing.into_iter().rev() {
            self.pending
                .push_back(TarEntry::dir(self.prefix.join(&folder)));
            self.folders.insert(folder);
        }
        // A file is hashed again as it is uploaded: what the proof installs is what the
        // manifest records, even if the file changed after `check` read it. `envs.sh` is the
        // one file bootstrap may rewrite (checked by `check`, not here).
        let check = match (&record.symlink, record.size, &record.sha256) {
            (None, Some(size), Some(sha256)) if record.path != ProductLayout::ENVS_SH => {
                Some(FileCheck::Sha256 {
                    size,
                    sha256: sha256.clone(),
                })
            }
            _ => None,
        };
        let kind = match record.symlink {
            Some(target) => EntryKind::Symlink {
                target: PathBuf::from(target),
            },
            None => EntryKind::File {
                source: self.product_dir.join(&record.path),
                executable: record.executable,
            },
        };
        self.pending.push_back(TarEntry {
            path: self.prefix.join(&record.path),
            kind,
            check,
        });
        Ok(self.pending.pop_front())
    }
}

impl Iterator for ManifestEntries {
    type Item = anyhow::Result<TarEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step().transpose()
    }
}
