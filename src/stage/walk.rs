//! The filtered view of a project, applied the same way to both of its sources: the sorted walk
//! of folders on this host ([`plan_filtered`]) and the re-filter of a tar stream read out of a
//! container ([`refilter_stream`]). What is left out is decided by [`StageFilter`] alone (and an
//! earlier workdir, by its marker); this module counts it in an [`ExclusionReport`].

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::filter::StageFilter;
use crate::tar::extract::RefusedEntry;
use crate::tar::stream::{read_blocking, ByteStream};
use crate::tar::write::{plan_dir, EntryKind, Owner, TarBuilder, TarEntry};
use crate::workdir::report::{Exclusion, ExclusionReport};

/// Plans the entries for `root`, placed under `prefix` in the archive, without what `filter`
/// leaves out. An excluded folder is not walked into, except for the files the filter keeps
/// inside it; an earlier pixi-airgap workdir (the default `tmp/workdir-*`) is never staged into
/// the next one.
pub fn plan_filtered(
    root: &Path,
    prefix: &Path,
    filter: &StageFilter,
) -> anyhow::Result<(Vec<TarEntry>, ExclusionReport)> {
    let mut report = ExclusionReport::default();
    // Excluded folders entered only for the files the filter keeps inside them.
    let mut entered: Vec<PathBuf> = Vec::new();
    let plan = plan_dir(root, prefix, |rel, file_type| {
        if entered.iter().any(|dir| rel.starts_with(dir)) {
            return Ok(file_type.is_file() && filter.is_kept_inside_junk(rel));
        }
        if file_type.is_dir() && crate::workdir::is_marked(&root.join(rel)) {
            report.record(rel, Exclusion::Junk);
            return Ok(false);
        }
        if let Some(why) = filter.exclusion(rel) {
            report.record(rel, why);
            let holds_kept_file = file_type.is_dir()
                && filter.kept_inside(rel).any(|kept| {
                    std::fs::symlink_metadata(root.join(kept)).is_ok_and(|m| m.is_file())
                });
            if holds_kept_file {
                entered.push(rel.to_path_buf());
            }
            return Ok(holds_kept_file);
        }
        crate::fsutil::require_utf8_name(&root.join(rel), "the staged folders")?;
        if file_type.is_file() {
            if let Some(why) = filter.file_content_exclusion(rel, &root.join(rel))? {
                report.record(rel, why);
                return Ok(false);
            }
        }
        Ok(true)
    })?;
    report.skipped_special.extend(plan.special);
    // The scan read each small file once; the upload reads it again, so it scans again what it
    // streams (a file changed in between stops the upload).
    let mut entries = plan.entries;
    for entry in &mut entries {
        if let EntryKind::File { .. } = entry.kind {
            let rel = entry.path.strip_prefix(prefix).unwrap_or(&entry.path);
            if filter.scans_content(rel) {
                entry.check = Some(crate::tar::write::FileCheck::NoSecret);
            }
        }
    }
    Ok((entries, report))
}

/// Re-packs a tar stream from the engine as it passes, into `out`: the first path component of
/// every entry is replaced by `prefix`, the filter is applied (an excluded folder takes its content
/// with it, but not the files the filter keeps inside it, as in [`plan_filtered`]), headers are
/// normalised like ours, and `lead` entries go first. Returns `out` and what was left out.
pub async fn refilter_stream<W>(
    source: ByteStream,
    lead: Vec<TarEntry>,
    prefix: PathBuf,
    filter: StageFilter,
    out: W,
) -> anyhow::Result<(W, ExclusionReport)>
where
    W: Write + Send + 'static,
{
    read_blocking(source, move |reader| {
        refilter(reader, out, &lead, &prefix, &filter)
    })
    .await
}

fn refilter<R: Read, W: Write>(
    reader: R,
    writer: W,
    lead: &[TarEntry],
    prefix: &Path,
    filter: &StageFilter,
) -> anyhow::Result<(W, ExclusionReport)> {
    let mut builder = TarBuilder::new(writer, Owner::ROOT);
    for entry in lead {
        if let EntryKind::Dir = entry.kind {
            builder.dir(&entry.path)?;
        }
    }
    let mut report = ExclusionReport::default();
    let mut skipped: Vec<PathBuf> = Vec::new();
    // Folders written for the files kept inside an excluded folder.
    let mut kept_parents: HashSet<PathBuf> = HashSet::new();
    let strip = |path: &Path| -> anyhow::Result<PathBuf> {
        if path.components().any(|c| {
            matches!(
                c,
                std::path::Component::ParentDir | std::path::Component::Prefix(_)
            )
        }) {
            return Err(RefusedEntry {
                path: path.display().to_string(),
                why: "it points outside the project".to_string(),
            }
            .into());
        }
        let mut parts = path.components();
        parts.next();
        Ok(parts.as_path().to_path_buf())
    };
    let mut archive = ::tar::Archive::new(reader);
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
            builder.dir(prefix)?;
            continue;
        }
        let kept_inside_junk = kind.is_file() && filter.is_kept_inside_junk(&rel);
        if kept_inside_junk {
            if let Some(parent) = rel.parent() {
                if kept_parents.insert(parent.to_path_buf()) {
                    builder.dir(&prefix.join(parent))?;
                }
            }
        } else {
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
        }
        crate::fsutil::require_utf8_name(&rel, "the project in the container")?;
        let path = prefix.join(&rel);
        match kind {
            ::tar::EntryType::Directory => builder.dir(&path)?,
            ::tar::EntryType::Regular | ::tar::EntryType::Continuous => {
                let size = entry.size();
                let executable = entry.header().mode().unwrap_or(0o644) & 0o111 != 0;
                if kept_inside_junk || size >= crate::secrets::CONTENT_LIMIT {
                    builder.file(&path, size, executable, &mut entry)?;
                } else {
                    // Small files are held (bounded by the limit) for the content check.
                    let mut held = Vec::new();
                    (&mut entry)
                        .take(size)
                        .read_to_end(&mut held)
                        .with_context(|| format!("failed to read `{}`", rel.display()))?;
                    if let Some(why) = filter.content_exclusion(&rel, &held) {
                        report.record(&rel, why);
                        skipped.push(rel);
                        continue;
                    }
                    builder.file(&path, size, executable, held.as_slice())?;
                }
            }
            ::tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .context("unreadable link target")?
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                builder.symlink(&path, &target)?;
            }
            ::tar::EntryType::Link => {
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
                builder.hard_link(&path, &prefix.join(target_rel))?;
            }
            _ => report.skipped_special.push(rel.display().to_string()),
        }
    }
    let mut writer = builder.finish()?;
    writer.flush().context("failed to write the tar")?;
    Ok((writer, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tar::extract::{extract_reader, ExtractLimits};
    use crate::tar::write::{plan_tree, planned, write_tar};

    /// Safety round 2, item 16: a name that is not UTF-8 stops staging (exit 2) naming the path
    /// escaped, from this host's folders and from a container's project stream alike; left out
    /// by a pattern, it is no obstacle.
    #[cfg(unix)]
    #[test]
    fn names_that_are_not_utf8_are_refused_at_staging() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("proj");
        std::fs::create_dir_all(root.join("data")).unwrap();
        std::fs::write(root.join("pixi.toml"), "m").unwrap();
        let bad = root
            .join("data")
            .join(std::ffi::OsStr::from_bytes(b"caf\xe9.txt"));
        std::fs::write(&bad, "x").unwrap();
        let filter = StageFilter::new(&[], &[]).unwrap();
        let err = plan_filtered(&root, Path::new("p"), &filter).unwrap_err();
        assert_eq!(crate::exit::classify(&err), crate::exit::Status::InputError);
        let message = format!("{err:#}");
        assert!(message.contains("data/caf\\xe9.txt"), "{message}");
        assert!(message.contains("not valid UTF-8"), "{message}");
        let filter = StageFilter::new(&["data".to_string()], &[]).unwrap();
        plan_filtered(&root, Path::new("p"), &filter).unwrap();
        // The same project as a container's stream.
        std::fs::remove_file(&bad).unwrap();
        std::fs::write(root.join(std::ffi::OsStr::from_bytes(b"\xff")), "x").unwrap();
        let entries = plan_tree(&root, Path::new("proj")).unwrap();
        let source = write_tar(planned(entries), Owner::ROOT, Vec::new()).unwrap();
        let filter = StageFilter::new(&[], &[]).unwrap();
        let err = refilter(
            source.as_slice(),
            Vec::new(),
            &[],
            Path::new("project/p"),
            &filter,
        )
        .unwrap_err();
        assert_eq!(crate::exit::classify(&err), crate::exit::Status::InputError);
        assert!(format!("{err:#}").contains("`\\xff`"), "{err:#}");
    }

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
        let (entries, _) = plan_filtered(root, Path::new("p"), &filter).unwrap();
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
        let (entries, report) = plan_filtered(root, Path::new("p"), &filter).unwrap();
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
        let entries = plan_tree(&root, Path::new("proj")).unwrap();
        let source = write_tar(planned(entries.clone()), Owner::ROOT, Vec::new()).unwrap();
        let filter = StageFilter::new(&[], &[]).unwrap();
        let lead = vec![TarEntry::dir("project")];
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
}
