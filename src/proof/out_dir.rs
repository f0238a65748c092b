//! The proof's output folder (`--out-dir`): which files are a proof's, an earlier proof kept as
//! evidence unless `--force`, and never a write through a link.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::exit::InputError;

use super::*;

/// The files of an earlier proof in `out_dir`: `verify-report.json` and `proof-*.log`.
pub fn earlier_proof(out_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(out_dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => {
            return Err(err).with_context(|| format!("failed to read `{}`", out_dir.display()))
        }
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("failed to read `{}`", out_dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = is_proof_output(&name);
        if ours && entry.file_type().is_ok_and(|t| t.is_file()) {
            found.push(entry.path());
        }
    }
    found.sort();
    Ok(found)
}

/// Whether `name` is one of the files a proof writes in its output folder.
pub(super) fn is_proof_output(name: &str) -> bool {
    name == REPORT_FILE || (name.starts_with(PROOF_LOG_PREFIX) && name.ends_with(".log"))
}

/// Refuses (exit 2), before any container starts, an output folder where a proof's file name is
/// taken by a link or anything but a plain file: the proof never writes through it (and the
/// files are opened without following links again when written).
pub fn refuse_links_at_outputs(out_dir: &Path) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(out_dir)
        .with_context(|| format!("failed to read `{}`", out_dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("failed to read `{}`", out_dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !is_proof_output(&name) {
            continue;
        }
        let file_type = entry
            .file_type()
            .with_context(|| format!("failed to read `{}`", entry.path().display()))?;
        if !file_type.is_file() {
            let what = if file_type.is_symlink() {
                "a symbolic link"
            } else {
                "not a plain file"
            };
            return Err(InputError::new(format!(
                "`{}` is {what}: the proof writes its own `{}` there and never through a link",
                entry.path().display(),
                name.escape_debug()
            ))
            .with_hint("remove it, or prove into another folder")
            .into());
        }
    }
    Ok(())
}

/// An earlier proof is evidence: it is only replaced on request.
pub fn refuse_earlier_proof(out_dir: &Path) -> anyhow::Result<()> {
    let found = earlier_proof(out_dir)?;
    if let Some(first) = found.first() {
        return Err(InputError::new(format!(
            "`{}` already holds an offline proof (`{}`)",
            out_dir.display(),
            first
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ))
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::{classify, Status};

    /// The log of the one verification of a proof.
    const VERIFY_LOG: &str = "proof-verify.log";

    #[test]
    fn proof_outputs_are_the_report_and_proof_logs_only() {
        for name in [
            REPORT_FILE,
            BOOTSTRAP_LOG,
            "proof-verify.log",
            "proof-verify-2-test.log",
        ] {
            assert!(is_proof_output(name), "{name}");
        }
        // A staging run's records in the same folder (`--out-dir WORKDIR/out`) are not.
        for name in [
            "verify.log",
            "install-default.log",
            "stage.json",
            "proof-notes.txt",
            "proof-",
        ] {
            assert!(!is_proof_output(name), "{name}");
        }
    }

    #[test]
    fn an_earlier_proof_is_found_and_refused() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        // No folder, or one with a staging run's logs only: no earlier proof.
        assert!(earlier_proof(&out.join("absent")).unwrap().is_empty());
        std::fs::write(out.join("verify.log"), "staging").unwrap();
        std::fs::create_dir(out.join("proof-dir.log")).unwrap();
        assert!(earlier_proof(out).unwrap().is_empty());
        refuse_earlier_proof(out).unwrap();

        std::fs::write(out.join(VERIFY_LOG), "").unwrap();
        std::fs::write(out.join(REPORT_FILE), "{}").unwrap();
        assert_eq!(
            earlier_proof(out).unwrap(),
            [out.join(VERIFY_LOG), out.join(REPORT_FILE)]
        );
        let err = refuse_earlier_proof(out).unwrap_err();
        assert_eq!(classify(&err), Status::InputError);
        assert!(
            format!("{err:#}").contains("already holds an offline proof (`proof-verify.log`)"),
            "{err:#}"
        );
    }

    #[test]
    fn a_link_or_folder_in_place_of_a_proof_output_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        std::fs::write(out.join(BOOTSTRAP_LOG), "").unwrap();
        // Links under other names are not the proof's business.
        std::os::unix::fs::symlink("/etc/passwd", out.join("notes.txt")).unwrap();
        refuse_links_at_outputs(out).unwrap();

        std::os::unix::fs::symlink("/etc/passwd", out.join(REPORT_FILE)).unwrap();
        let err = refuse_links_at_outputs(out).unwrap_err();
        assert_eq!(classify(&err), Status::InputError);
        assert!(format!("{err:#}").contains("is a symbolic link"), "{err:#}");
        std::fs::remove_file(out.join(REPORT_FILE)).unwrap();

        std::fs::create_dir(out.join(VERIFY_LOG)).unwrap();
        let err = refuse_links_at_outputs(out).unwrap_err();
        assert!(
            format!("{err:#}").contains("is not a plain file"),
            "{err:#}"
        );
    }
}
