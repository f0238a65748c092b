//! `WORKDIR/helpers/make-archive-ready-product.sh`: its arguments, run by a real `sh`. Making a
//! product through it from a really staged workdir is in `tests/it/bootstrap.rs`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A workdir with the helper as staging writes it (the script and the binary next to it), a
/// staged project folder, and nothing else.
fn workdir(dir: &Path, staged: &str) -> PathBuf {
    let workdir = dir.join("my wd");
    let helpers = workdir.join("helpers");
    std::fs::create_dir_all(&helpers).unwrap();
    std::fs::create_dir_all(workdir.join("project").join(staged)).unwrap();
    std::fs::write(
        helpers.join("make-archive-ready-product.sh"),
        pixi_airgap::product::templates::make_archive_ready_sh(staged).unwrap(),
    )
    .unwrap();
    std::fs::copy(crate::common::cmd::BIN, helpers.join("pixi-airgap")).unwrap();
    std::fs::canonicalize(workdir).unwrap()
}

fn helper(workdir: &Path, cwd: &Path, args: &[&str]) -> Output {
    let out = Command::new("sh")
        .arg(workdir.join("helpers/make-archive-ready-product.sh"))
        .args(args)
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .output()
        .expect("run sh");
    eprintln!(
        "helper {args:?}: exit {:?}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_lists_every_flag_and_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let wd = workdir(dir.path(), "demo");
    for flag in ["--help", "-h"] {
        let out = helper(&wd, dir.path(), &[flag]);
        assert_eq!(out.status.code(), Some(0));
        let help = text(&out.stdout);
        for part in [
            "--workdir DIR",
            "--project-name NAME",
            "--output DIR",
            "--sign-key PATH",
            "--json",
            "--help",
            &format!("[default: {}]", wd.display()),
            "[default: demo]",
        ] {
            assert!(help.contains(part), "{part:?} not in:\n{help}");
        }
    }
}

#[test]
fn unknown_flags_and_missing_values_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let wd = workdir(dir.path(), "demo");
    for (args, says) in [
        (&["--bogus"][..], "unknown argument '--bogus'"),
        (&["--json", "extra"][..], "unknown argument 'extra'"),
        (&["--workdir"][..], "--workdir needs a value"),
        (&["--project-name"][..], "--project-name needs a value"),
        (&["--output"][..], "--output needs a value"),
    ] {
        let out = helper(&wd, dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(err.contains("Usage:"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    assert!(!wd.join("product").exists());
}

#[test]
fn a_mismatching_project_name_names_both() {
    let dir = tempfile::tempdir().unwrap();
    let wd = workdir(dir.path(), "demo");
    let w = wd.display().to_string();
    for args in [
        &["--project-name", "other"][..],
        &["--workdir", &w, "--project-name", "other"][..],
        &["--project-name=other", "--workdir=."][..],
    ] {
        // `--workdir=.` from inside the workdir: the same folder by another name.
        let out = helper(&wd, &wd, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(
            err.contains("'other'") && err.contains("'demo'"),
            "{args:?}: {err}"
        );
    }
    assert!(!wd.join("product").exists());
}

#[test]
fn another_workdir_goes_to_make_product_with_its_own_staged_name() {
    let dir = tempfile::tempdir().unwrap();
    let wd = workdir(dir.path(), "demo");
    let other = dir.path().join("other wd");
    std::fs::create_dir_all(other.join("project/theirs")).unwrap();
    // No --project-name: the one staged there; make-product then finds no staging record.
    let out = helper(
        &wd,
        dir.path(),
        &["--workdir", &other.display().to_string()],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains(&other.display().to_string()), "{err}");
    assert!(!err.contains("Usage:"), "{err}");
    // Two staged projects there: the helper cannot choose.
    std::fs::create_dir_all(other.join("project/second")).unwrap();
    let out = helper(
        &wd,
        dir.path(),
        &["--workdir", &other.display().to_string()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("give --project-name"),
        "{}",
        text(&out.stderr)
    );
    // A workdir that does not exist.
    let out = helper(&wd, dir.path(), &["--workdir", "/nonexistent/wd"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("is not a folder"));
}

#[test]
fn without_the_binary_next_to_it_the_helper_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let wd = workdir(dir.path(), "demo");
    std::fs::remove_file(wd.join("helpers/pixi-airgap")).unwrap();
    let out = helper(&wd, dir.path(), &[]);
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(
        err.contains("helpers/pixi-airgap' is missing") && err.contains("make-product --workdir"),
        "{err}"
    );
}
