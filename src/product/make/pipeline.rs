//! The records' way to the product manifest: the walk hands each record (or a file to hash first) to
//! a hashing thread in the manifest's order, with a bounded number in flight.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::fsutil::hex;
use crate::product::manifest::{FileRecord, ManifestWriter};

/// Where [`Copier::tree`](super::copier::Copier::tree) puts the record of each file it copies or links.
pub(super) trait RecordSink {
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
pub(super) const RECORDS_IN_FLIGHT: usize = 1024;

/// What the walk hands the hashing thread, in the manifest's order.
pub(super) enum Job {
    Ready(FileRecord),
    Hash { path: String, source: PathBuf },
}

/// The walk's end of the two stages of [`make`](super::make).
pub(super) struct Pipeline {
    pub(super) tx: std::sync::mpsc::SyncSender<Job>,
}

impl Pipeline {
    pub(super) fn send(&self, job: Job) -> anyhow::Result<()> {
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
pub(super) fn drain(
    rx: std::sync::mpsc::Receiver<Job>,
    writer: &mut ManifestWriter,
) -> anyhow::Result<()> {
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
pub(super) fn read_hashed(
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
pub(super) fn hashed_record(
    path: String,
    source: &Path,
    buf: &mut [u8],
) -> anyhow::Result<FileRecord> {
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
