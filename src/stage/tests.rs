//! Unit tests of the staging plan's pure parts: container paths, the exec environment, the
//! host upload's entries.

use super::*;

/// A plan for project `demo` staged into `workdir`, container workdir `/workdir/`.
fn plan(workdir: &Path) -> StagePlan {
    StagePlan {
        source: ProjectSource::Container {
            path: "/p".to_string(),
        },
        manifest: ProjectManifest {
            kind: pixi::ProjectManifestKind::PixiToml,
            path: PathBuf::from("/p/pixi.toml"),
            name: "demo".to_string(),
            environments: vec!["default".to_string()],
        },
        lock: LockInfo {
            path: PathBuf::from("/p/pixi.lock"),
            sha256: String::new(),
            version: Some(4),
            environments: vec!["default".to_string()],
            conda_packages: Vec::new(),
        },
        container_workdir: "/workdir/".to_string(),
        workdir: Workdir::new(workdir).unwrap(),
        environments: vec!["default".to_string()],
        env: vec!["A=1".to_string(), "PIXI_CACHE_DIR=/elsewhere".to_string()],
        filter: StageFilter::new(&[], &[]).unwrap(),
        verifications: Vec::new(),
        preflight: crate::check::PreflightReport::default(),
        bundle_pixi: false,
        pid_file: None,
        cache_from: None,
    }
}

fn paths(entries: &[TarEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e.path.display().to_string())
        .collect()
}

#[test]
fn container_paths_hang_off_the_container_workdir() {
    let plan = plan(Path::new("/tmp/wd"));
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
    let env = plan(Path::new("/tmp/wd")).exec_env();
    assert_eq!(
        env,
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
    std::fs::create_dir_all(project.join("tmp/wd/out")).unwrap();
    std::fs::write(project.join("pixi.toml"), "[project]\n").unwrap();
    std::fs::write(project.join("tmp/wd/out/stage.json"), "{}").unwrap();
    std::fs::create_dir_all(&resources).unwrap();
    std::fs::write(resources.join("data.txt"), "x").unwrap();
    let plan = plan(&project.join("tmp/wd"));
    let (entries, _report) = plan.plan_host_upload(&project, Some(&resources)).unwrap();
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
