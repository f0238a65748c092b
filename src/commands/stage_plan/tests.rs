//! Unit tests of the plan builder: a plan built from a project on disk as `stage-host` builds it,
//! and from a container's copied files as `stage-container` does.

use std::path::{Path, PathBuf};

use super::build;
use crate::cli::VerifyArgs;
use crate::commands::stage_args::CommonOptions;
use crate::exit::{classify, render, Status};
use crate::stage::filter::StageFilter;
use crate::stage::{ProjectFiles, ProjectSource, StagePlan};
use crate::verification::VerificationKind;
use crate::workdir::Workdir;

const MANIFEST: &str = r#"[project]
name = "demo"
channels = ["https://example.invalid/c"]
platforms = ["linux-64"]

[tasks]
smoke = "true"

[environments]
alpha = []
"#;

const LOCK: &str = r#"version: 6
environments:
  default:
    channels: [{url: "https://example.invalid/c/"}]
    packages:
      linux-64:
      - conda: https://example.invalid/c/linux-64/a-1-0.conda
  alpha:
    channels: [{url: "https://example.invalid/c/"}]
    packages:
      linux-64:
      - conda: https://example.invalid/c/linux-64/a-1-0.conda
packages:
- conda: https://example.invalid/c/linux-64/a-1-0.conda
  sha256: "00"
"#;

/// A project `demo` in `root/demo`, with the manifest and lock above.
fn project(root: &Path) -> PathBuf {
    let project = root.join("demo");
    std::fs::create_dir_all(project.join("ci")).unwrap();
    std::fs::write(project.join("pixi.toml"), MANIFEST).unwrap();
    std::fs::write(project.join("pixi.lock"), LOCK).unwrap();
    std::fs::write(project.join("ci/check.py"), "#!/usr/bin/env python3\n").unwrap();
    project
}

fn common(workdir: &Path) -> CommonOptions {
    CommonOptions {
        container_workdir: "/workdir".to_string(),
        workdir: Workdir::new(workdir).unwrap(),
        requested_environments: Vec::new(),
        env: vec!["A=1".to_string(), "PIXI_CACHE_DIR=/elsewhere".to_string()],
        filter: StageFilter::new(&[], &[]).unwrap(),
        allow_url_credentials: false,
        force: false,
        wait: crate::runlock::Wait::from_no_wait(true),
        json: false,
        bundle_pixi: false,
        cache_from: None,
    }
}

fn host_plan(project: &Path, workdir: &Path, verify: &VerifyArgs) -> anyhow::Result<StagePlan> {
    let files = ProjectFiles::host(project.to_path_buf(), None);
    build(&common(workdir), files, verify)
}

#[test]
fn a_host_plan_reads_the_project_once_and_binds_its_verifications() {
    let dir = tempfile::tempdir().unwrap();
    let project = project(dir.path());
    let verify = VerifyArgs {
        verify_task: vec!["smoke".parse().unwrap(), "alpha:smoke".parse().unwrap()],
        ..VerifyArgs::default()
    };
    let plan = host_plan(&project, &dir.path().join("wd"), &verify).unwrap();
    assert_eq!(plan.manifest.name, "demo");
    assert_eq!(plan.environments, ["default", "alpha"]);
    assert_eq!(plan.lock.version, Some(6));
    assert_eq!(plan.lock_file.packages.len(), 1);
    let bound: Vec<&str> = plan
        .verifications
        .iter()
        .map(|v| v.environment.as_str())
        .collect();
    assert_eq!(bound, ["default", "alpha"]);
    // Our own container: nothing runs under a pid file.
    assert_eq!(plan.pid_file, None);
    assert!(matches!(plan.source(), ProjectSource::Host { .. }));
}

#[test]
fn a_host_plan_reads_a_scripts_interpreter_from_its_first_line() {
    let dir = tempfile::tempdir().unwrap();
    let project = project(dir.path());
    let verify = VerifyArgs {
        verify_script: Some(project.join("ci/check.py")),
        ..VerifyArgs::default()
    };
    let plan = host_plan(&project, &dir.path().join("wd"), &verify).unwrap();
    assert_eq!(
        plan.verifications[0].spec.kind,
        VerificationKind::Script {
            location: crate::verification::ScriptLocation::Project,
            path: "ci/check.py".into(),
            interpreter: vec!["/usr/bin/env".into(), "python3".into()],
        }
    );
}

#[test]
fn a_plan_refuses_what_cannot_be_staged_before_any_container() {
    let dir = tempfile::tempdir().unwrap();
    let project = project(dir.path());
    let wd = dir.path().join("wd");
    // A verification in an environment that is not staged.
    let verify = VerifyArgs {
        verify_task: vec!["gamma:smoke".parse().unwrap()],
        ..VerifyArgs::default()
    };
    let err = host_plan(&project, &wd, &verify).unwrap_err();
    assert_eq!(classify(&err), Status::InputError);
    assert!(
        render(&err).contains("`gamma`: it is not staged"),
        "{err:#}"
    );
    // A workdir that would hold the project.
    let err = host_plan(&project, dir.path(), &VerifyArgs::default()).unwrap_err();
    assert!(render(&err).contains("would hold the project"), "{err:#}");
    // Credentials in a URL pixi reads.
    std::fs::write(
        project.join("pixi.toml"),
        MANIFEST.replace(
            "https://example.invalid",
            "https://user:secret@example.invalid",
        ),
    )
    .unwrap();
    let err = host_plan(&project, &wd, &VerifyArgs::default()).unwrap_err();
    assert_eq!(classify(&err), Status::InputError);
    assert!(!render(&err).contains("secret"), "{err:#}");
    // No manifest: the hint names the flag that gave the folder.
    std::fs::remove_file(project.join("pixi.toml")).unwrap();
    let err = host_plan(&project, &wd, &VerifyArgs::default()).unwrap_err();
    assert!(render(&err).contains("point --project-dir at"), "{err:#}");
}

#[test]
fn a_container_plan_reads_the_copied_files_and_runs_under_a_pid_file() {
    let dir = tempfile::tempdir().unwrap();
    let copy = project(dir.path());
    let head = ("ci/check.sh".to_string(), b"#!/bin/bash -e\n".to_vec());
    let files = ProjectFiles::container_for_tests(copy.clone(), "/src/demo", Some(head));
    let mut verify = VerifyArgs {
        verify_script: Some("ci/check.sh".into()),
        ..VerifyArgs::default()
    };
    let plan = build(&common(&dir.path().join("wd")), files, &verify).unwrap();
    assert_eq!(
        plan.pid_file.as_deref(),
        Some("/workdir/.pixi-airgap-running.pid")
    );
    match &plan.verifications[0].spec.kind {
        VerificationKind::Script {
            path, interpreter, ..
        } => {
            assert_eq!(path, "ci/check.sh");
            assert_eq!(interpreter, &["/bin/bash", "-e"]);
        }
        other => panic!("{other:?}"),
    }
    // A script the container does not have; one outside its project.
    for (script, says) in [
        ("ci/missing.sh", "/src/demo/ci/missing.sh"),
        ("/etc/profile", "neither in the project"),
    ] {
        let files = ProjectFiles::container_for_tests(copy.clone(), "/src/demo", None);
        verify.verify_script = Some(script.into());
        let err = build(&common(&dir.path().join("wd")), files, &verify).unwrap_err();
        assert_eq!(classify(&err), Status::InputError);
        assert!(render(&err).contains(says), "{script}: {err:#}");
    }
    // Errors about the project name the container's, not the copy's.
    std::fs::remove_file(copy.join("pixi.lock")).unwrap();
    let files = ProjectFiles::container_for_tests(copy.clone(), "/src/demo", None);
    let err = build(
        &common(&dir.path().join("wd")),
        files,
        &VerifyArgs::default(),
    )
    .unwrap_err();
    assert!(render(&err).contains("in container"), "{err:#}");
}
