//! Unit tests of the staging plan: built from a project on disk as `stage-host` builds it (and
//! from a container's copied files as `stage-container` does), then its pure parts: container
//! paths, the exec environment, the host upload's entries.

use std::path::{Path, PathBuf};

use super::plan::{ProjectFiles, ProjectSource, StagePlan};
use crate::cli::VerifyArgs;
use crate::commands::stage_args::CommonOptions;
use crate::exit::{classify, render, Status};
use crate::stage::filter::StageFilter;
use crate::tar::write::TarEntry;
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

fn no_verification() -> VerifyArgs {
    VerifyArgs {
        verify_run: false,
        verify_task: vec![],
        verify_script: None,
        verify_expect: None,
        verify_env: vec![],
        command: vec![],
    }
}

fn host_plan(project: &Path, workdir: &Path, verify: &VerifyArgs) -> anyhow::Result<StagePlan> {
    let files = ProjectFiles::host(project.to_path_buf(), None, "--project-dir");
    StagePlan::build(&common(workdir), files, verify)
}

fn paths(entries: &[TarEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e.path.display().to_string())
        .collect()
}

#[test]
fn a_host_plan_reads_the_project_once_and_binds_its_verifications() {
    let dir = tempfile::tempdir().unwrap();
    let project = project(dir.path());
    let mut verify = no_verification();
    verify.verify_task = vec!["smoke".into(), "alpha:smoke".into()];
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
    assert!(matches!(plan.source, ProjectSource::Host { .. }));
}

#[test]
fn a_host_plan_reads_a_scripts_interpreter_from_its_first_line() {
    let dir = tempfile::tempdir().unwrap();
    let project = project(dir.path());
    let mut verify = no_verification();
    verify.verify_script = Some(project.join("ci/check.py"));
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
    let mut verify = no_verification();
    verify.verify_task = vec!["gamma:smoke".into()];
    let err = host_plan(&project, &wd, &verify).unwrap_err();
    assert_eq!(classify(&err), Status::InputError);
    assert!(
        render(&err).contains("`gamma`: it is not staged"),
        "{err:#}"
    );
    // A workdir that would hold the project.
    let err = host_plan(&project, dir.path(), &no_verification()).unwrap_err();
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
    let err = host_plan(&project, &wd, &no_verification()).unwrap_err();
    assert_eq!(classify(&err), Status::InputError);
    assert!(!render(&err).contains("secret"), "{err:#}");
    // No manifest: the hint names the flag that gave the folder.
    std::fs::remove_file(project.join("pixi.toml")).unwrap();
    let err = host_plan(&project, &wd, &no_verification()).unwrap_err();
    assert!(render(&err).contains("point --project-dir at"), "{err:#}");
}

#[test]
fn a_container_plan_reads_the_copied_files_and_runs_under_a_pid_file() {
    let dir = tempfile::tempdir().unwrap();
    let copy = project(dir.path());
    let heads = [("ci/check.sh".to_string(), b"#!/bin/bash -e\n".to_vec())];
    let files = ProjectFiles::container_for_tests(copy.clone(), "/src/demo", heads.into());
    let mut verify = no_verification();
    verify.verify_script = Some("ci/check.sh".into());
    let plan = StagePlan::build(&common(&dir.path().join("wd")), files, &verify).unwrap();
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
        let files =
            ProjectFiles::container_for_tests(copy.clone(), "/src/demo", Default::default());
        verify.verify_script = Some(script.into());
        let err = StagePlan::build(&common(&dir.path().join("wd")), files, &verify).unwrap_err();
        assert_eq!(classify(&err), Status::InputError);
        assert!(render(&err).contains(says), "{script}: {err:#}");
    }
    // Errors about the project name the container's, not the copy's.
    std::fs::remove_file(copy.join("pixi.lock")).unwrap();
    let files = ProjectFiles::container_for_tests(copy.clone(), "/src/demo", Default::default());
    let err =
        StagePlan::build(&common(&dir.path().join("wd")), files, &no_verification()).unwrap_err();
    assert!(render(&err).contains("in container"), "{err:#}");
}

#[test]
fn container_paths_hang_off_the_container_workdir() {
    let dir = tempfile::tempdir().unwrap();
    let project = project(dir.path());
    let plan = host_plan(&project, &dir.path().join("wd"), &no_verification()).unwrap();
    assert_eq!(plan.container_project(), "/workdir/project/demo");
    assert_eq!(plan.container_resources(), "/workdir/resources");
    assert_eq!(plan.container_cache(), "/workdir/pixi-cache");
    assert_eq!(plan.project_prefix(), Path::new("project/demo"));
    assert_eq!(
        paths(&StagePlan::skeleton()),
        ["project", "pixi-cache", "resources"]
    );
}

#[test]
fn the_cache_redirection_comes_after_the_users_variables_and_wins() {
    let dir = tempfile::tempdir().unwrap();
    let project = project(dir.path());
    let plan = host_plan(&project, &dir.path().join("wd"), &no_verification()).unwrap();
    assert_eq!(
        plan.exec_env(),
        [
            "A=1",
            "PIXI_CACHE_DIR=/elsewhere",
            "PIXI_CACHE_DIR=/workdir/pixi-cache",
            "RATTLER_CACHE_DIR=/workdir/pixi-cache",
        ]
    );
}

#[test]
fn the_host_upload_holds_project_and_resources_but_not_a_workdir_inside_the_project() {
    let dir = tempfile::tempdir().unwrap();
    let project = project(dir.path());
    let resources = dir.path().join("res");
    std::fs::create_dir_all(project.join("tmp/wd/out")).unwrap();
    std::fs::write(project.join("tmp/wd/out/stage.json"), "{}").unwrap();
    std::fs::create_dir_all(&resources).unwrap();
    std::fs::write(resources.join("data.txt"), "x").unwrap();
    // A workdir inside the project (the default ./tmp/... run from the project folder).
    let plan = host_plan(&project, &project.join("tmp/wd"), &no_verification()).unwrap();
    let (entries, _report) =
        super::upload::plan_host_upload(&plan, &project, Some(&resources)).unwrap();
    let paths = paths(&entries);
    for expected in [
        "project",
        "pixi-cache",
        "resources",
        "project/demo/pixi.toml",
        "resources/data.txt",
    ] {
        assert!(paths.iter().any(|p| p == expected), "{expected}: {paths:?}");
    }
    assert!(
        !paths.iter().any(|p| p.starts_with("project/demo/tmp/wd")),
        "the workdir was staged into itself: {paths:?}"
    );
    assert_eq!(
        paths.iter().filter(|p| *p == "resources").count(),
        1,
        "{paths:?}"
    );
}
