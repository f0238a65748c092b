//! `pixi-airgap.json`, the product's manifest: the contract between `make-product`, which writes
//! it ([`super::make`]), and the offline proof, which reads it and checks the product against it
//! ([`check`], the integrity check) before anything runs. Its format is
//! [`crate::records::product_manifest`]; how it is written, read and checked lives here.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Write};
use std::path::Path;

use anyhow::Context;

use super::ProductLayout;
use crate::exit::InputError;
pub use crate::records::product_manifest::{
    FileRecord, LockRecord, PixiRecord, ProductManifest, SigningKeyRecord, ToolInfo, FORMAT_VERSION,
};

mod integrity;
pub use integrity::*;

mod entries;
pub use entries::*;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::{classify, Status};

    fn file(path: &str) -> FileRecord {
        FileRecord {
            path: path.to_string(),
            sha256: Some("00".to_string()),
            size: Some(0),
            executable: false,
            symlink: None,
        }
    }

    fn link(path: &str, target: &str) -> FileRecord {
        FileRecord {
            symlink: Some(target.to_string()),
            sha256: None,
            size: None,
            ..file(path)
        }
    }

    #[test]
    fn a_record_names_a_plain_relative_path_inside_the_product() {
        for (path, why) in [
            ("../x", "a `.` or `..` part"),
            ("demo/../../home/.ssh/id_ed25519", "a `.` or `..` part"),
            ("demo/./x", "a `.` or `..` part"),
            ("/etc/shadow", "an absolute path"),
            ("demo//x", "an empty part (`//` or a trailing `/`)"),
            ("demo/", "an empty part (`//` or a trailing `/`)"),
            ("", "an empty path"),
            ("a\0b", "a NUL byte in the path"),
            (
                ProductLayout::PRODUCT_MANIFEST,
                "the manifest cannot list itself",
            ),
        ] {
            assert_eq!(
                record_problem(&file(path)).as_deref(),
                Some(why),
                "{path:?}"
            );
        }
        for path in [
            "demo/pixi.toml",
            "pkg-cache/pkgs/a-1-0/bin/tool",
            "..x/y..",
            ".hidden",
        ] {
            assert_eq!(record_problem(&file(path)), None, "{path:?}");
        }
    }

    #[test]
    fn a_link_must_stay_inside_and_a_file_needs_its_size_and_hash() {
        assert_eq!(record_problem(&link("demo/lib", "../pkg-cache")), None);
        for (path, target) in [("demo/root", "/"), ("demo/up", "../../..")] {
            assert_eq!(
                record_problem(&link(path, target)),
                Some(format!("a link whose target `{target}` leaves the product")),
                "{path} -> {target}"
            );
        }
        let no_hash = FileRecord {
            sha256: None,
            ..file("demo/x")
        };
        let no_size = FileRecord {
            size: None,
            ..file("demo/x")
        };
        for record in [no_hash, no_size] {
            assert_eq!(
                record_problem(&record).as_deref(),
                Some("a file without its size or sha256")
            );
        }
    }

    #[test]
    fn only_known_format_versions_are_read() {
        let path = Path::new("/p/pixi-airgap.json");
        check_format_version(path, Some(&serde_json::json!(FORMAT_VERSION))).unwrap();
        for (version, says) in [
            (
                Some(serde_json::json!(FORMAT_VERSION + 1)),
                "has manifest format version 2; this pixi-airgap",
            ),
            (Some(serde_json::json!(0)), "has manifest format version 0"),
            (
                Some(serde_json::json!("1")),
                "has no numeric format_version",
            ),
            (None, "has no numeric format_version"),
        ] {
            let err = check_format_version(path, version.as_ref()).unwrap_err();
            assert_eq!(classify(&err), Status::InputError, "{version:?}");
            assert!(format!("{err:#}").contains(says), "{version:?}: {err:#}");
        }
    }

    #[test]
    fn a_path_listed_twice_is_a_problem_the_second_time() {
        let mut check = RecordCheck::default();
        assert!(check.check(&file("demo/x")));
        assert!(check.seen.contains("demo/x"));
        assert!(!check.seen.contains("demo/y"));
        assert!(check.is_empty());
        assert!(!check.check(&file("demo/x")));
        assert!(!check.check(&file("../y")));
        assert!(!check.is_empty());
        assert_eq!(check.describe().1, 2);
    }
}
