//! End-to-end tests of `stage-host` against a real Docker engine and a real pixi.

mod common;

use std::path::Path;

use common::*;

fn stage_args<'a>(
    bed: &'a Testbed,
    server: &'a ChannelServer,
    project: &'a str,
    workdir: &'a str,
) -> Vec<&'a str> {
    vec![
        "stage-host",
        "--image",
        &bed.image,
        "--network",
        &server.network,
        "--project-dir",
        project,
        "--workdir",
        workdir,
    ]
}

#[test]
fn stages_single_env_project_with_task_verification() {
    let Some(bed) = testbed() else { return };
    let server = ChannelServer::start(&bed);
    let (tmp, project) = locked_fixture(&bed, &server, "single");
    let workdir = tmp.path().join("wd");
    let (p, w) = (project.display().to_string(), workdir.display().to_string());
    let mut args = stage_args(&bed, &server, &p, &w);
    args.extend([
        "--verify-task",
        "smoke",
        "--verify-expect",
        "hello from the air gap",
    ]);
    let output = pixi_airgap(&args);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));

    // Layout.
    for dir in ["project/single-env", "resources", "pixi-cache", "out"] {
        assert!(workdir.join(dir).is_dir(), "{dir} missing");
    }
    assert!(workdir.join("project/single-env/pixi.toml").is_file());
    assert!(workdir.join("project/single-env/pixi.lock").is_file());
    assert!(
        !workdir.join("project/single-env/.pixi/envs").exists(),
        "envs must not come back"
    );

    // Every locked package is in the cache.
    let lock = pixi_airgap::pixi::LockInfo::read(&project).unwrap();
    assert!(lock.conda_packages.len() >= 2, "{:?}", lock.conda_packages);
    for url in &lock.conda_packages {
        let file = pixi_airgap::pixi::package_file_name(url);
        let dir = file.trim_end_matches(".tar.bz2").trim_end_matches(".conda");
        assert!(
            workdir.join("pixi-cache/pkgs").join(dir).is_dir(),
            "{dir} not in pixi-cache/pkgs: {:?}",
            std::fs::read_dir(workdir.join("pixi-cache/pkgs"))
                .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
        );
    }

    // Logs prove what ran.
    let verify_log = std::fs::read_to_string(workdir.join("out/verify.log")).unwrap();
    assert!(
        verify_log.contains("hello from the air gap"),
        "{verify_log}"
    );
    assert!(verify_log.contains("airgap-base 1.0.0"), "{verify_log}");
    let install_log = std::fs::read_to_string(workdir.join("out/install-default.log")).unwrap();
    assert!(
        install_log.contains("pixi install --locked"),
        "{install_log}"
    );
    let version = std::fs::read_to_string(workdir.join("out/pixi-version.txt")).unwrap();
    assert!(version.starts_with("pixi "), "{version}");
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(workdir.join("out/pixi-info.json")).unwrap())
            .unwrap();
    assert_eq!(info["platform"], "linux-64");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(workdir.join("out/stage.json")).unwrap()).unwrap();
    assert_eq!(report["result"], "success");
    assert_eq!(report["verification"]["passed"], true);
    assert_eq!(report["lock_sha256"], lock.sha256);

    assert!(
        containers_for_workdir(&bed, &workdir).is_empty(),
        "container left behind"
    );
    assert!(Path::new(&p).join("pixi.lock").is_file());
}
