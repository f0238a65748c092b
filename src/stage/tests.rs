//! Unit tests of the staging plan's pure parts: container paths, the exec environment, the host
//! upload's entries. (How a plan is built is tested with its builder, in
//! `crate::commands::stage_plan`.)

use std::path::Path;

use super::plan::StagePlan;
use crate::tar::write::TarEntry;

fn paths(entries: &[TarEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e.path.display().to_string())
        .collect()
}

#[test]
fn container_paths_hang_off_the_container_workdir() {
    let dir = tempfile::tempdir().unwrap();
    let plan = StagePlan::for_tests(&dir.path().join("demo"), &dir.path().join("wd"));
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
    let plan = StagePlan::for_tests(&dir.path().join("demo"), &dir.path().join("wd"));
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
    let project = dir.path().join("demo");
    let resources = dir.path().join("res");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join("pixi.toml"), "[project]\n").unwrap();
    std::fs::create_dir_all(project.join("tmp/wd/out")).unwrap();
    std::fs::write(project.join("tmp/wd/out/stage.json"), "{}").unwrap();
    std::fs::create_dir_all(&resources).unwrap();
    std::fs::write(resources.join("data.txt"), "x").unwrap();
    // A workdir inside the project (the default ./tmp/... run from the project folder).
    let plan = StagePlan::for_tests(&project, &project.join("tmp/wd"));
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
