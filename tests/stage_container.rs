//! End-to-end tests of `stage-container`: a project inside the user's running container.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;
use pixi_airgap::docker::ContainerSpec;

fn tree(root: &Path) -> BTreeSet<String> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| {
            e.unwrap()
                .path()
                .strip_prefix(root)
                .unwrap()
                .display()
                .to_string()
        })
        .collect()
}

#[test]
fn stages_from_a_running_container_like_stage_host_and_leaves_it_clean() {
    let Some(Locked {
        bed,
        server,
        tmp,
        project,
    }) = Locked::fixture("stager")
    else {
        return;
    };
    let resources = tmp.path().join("res");
    dress_stager_project(&project, &resources);
    let container = user_container(&bed, &server, &project);
    let id = container.id().to_string();

    // The same project staged from the host, for comparison.
    let host_wd = tmp.path().join("host-wd");
    bed.stage_host(Some(&server), &project, &host_wd)
        .assert_exit(0, "");

    let wd = tmp.path().join("container-wd");
    let w = wd.display().to_string();
    // A project-relative script, from a folder that has nothing to do with the project.
    let out = pixi_airgap_in(
        tmp.path(),
        &[
            "stage-container",
            "--container-id",
            &id,
            "--project-path-in-container",
            "/home/dev/stager",
            "--workdir",
            &w,
            "--json",
            "--verify-script",
            "ci/check.sh",
            "--verify-expect",
            "script-ok",
            "--bundle-pixi",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["command"], "stage-container");
    assert_eq!(report["verification"]["passed"], true);
    // --bundle-pixi: the user's container's own pixi, copied out through the engine.
    assert_eq!(
        report["bundled_pixi"]["version"],
        bed.pixi_version().as_str()
    );
    assert_eq!(
        report["bundled_pixi"]["sha256"],
        sha256_file(&wd.join("pixi-bin/pixi")).as_str()
    );
    assert!(stderr(&out).contains("secrets not staged"));

    // Same staged project, same cached packages, as stage-host.
    assert_eq!(
        tree(&wd.join("project/stager")),
        tree(&host_wd.join("project/stager"))
    );
    assert_eq!(
        tree(&wd.join("pixi-cache/pkgs")),
        tree(&host_wd.join("pixi-cache/pkgs"))
    );
    assert!(!wd.join("project/stager/.env").exists());
    assert_eq!(
        std::fs::read_link(wd.join("project/stager/link-to-file")).unwrap(),
        Path::new("données/naïve – ünïcode.txt")
    );
    assert!(wd.join("helpers/pixi-airgap").is_file());

    // The user's container still runs, holds nothing of ours, and its project is untouched.
    let info = runtime()
        .block_on(bed.docker.inspect_container(&id))
        .unwrap();
    assert_eq!(info.state.unwrap().running, Some(true));
    let (_, code) = in_container(&bed, &container, "test -e /workdir");
    assert_ne!(code, 0, "/workdir was left in the user's container");
    let (text, code) = in_container(
        &bed,
        &container,
        "cat /home/dev/stager/.env && test -d /home/dev/stager/.git",
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("TOP-SECRET-VALUE"));

    // An existing container workdir is refused without --force, replaced with it.
    let keep_wd = tmp.path().join("keep-wd").display().to_string();
    let out = pixi_airgap(&[
        "stage-container",
        "--container-id",
        &id,
        "--project-path-in-container",
        "/home/dev/stager",
        "--workdir",
        &keep_wd,
        "--container-workdir-path",
        "/tmp/airgap-wd",
        "--keep-container-workdir",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (_, code) = in_container(&bed, &container, "test -d /tmp/airgap-wd/pixi-cache/pkgs");
    assert_eq!(code, 0, "--keep-container-workdir keeps it");
    let again = tmp.path().join("again-wd").display().to_string();
    let args = [
        "stage-container",
        "--container-id",
        &id,
        "--project-path-in-container",
        "/home/dev/stager",
        "--workdir",
        &again,
        "--container-workdir-path",
        "/tmp/airgap-wd",
    ];
    let out = pixi_airgap(&args);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    let mut forced = args.to_vec();
    forced.push("--force");
    let out = pixi_airgap(&forced);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (_, code) = in_container(&bed, &container, "test -e /tmp/airgap-wd");
    assert_ne!(code, 0);

    // A script that is not in the container's project names the place tried.
    let out = pixi_airgap(&[
        "stage-container",
        "--container-id",
        &id,
        "--project-path-in-container",
        "/home/dev/stager",
        "--workdir",
        &tmp.path().join("nope-wd").display().to_string(),
        "--verify-script",
        "./ci/nope.sh",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("/home/dev/stager/ci/nope.sh (the project in the container)"),
        "{}",
        stderr(&out)
    );

    // A container workdir that overlaps the project is refused before anything is deleted.
    let out = pixi_airgap(&[
        "stage-container",
        "--container-id",
        &id,
        "--project-path-in-container",
        "/home/dev/stager",
        "--workdir",
        &tmp.path().join("x").display().to_string(),
        "--container-workdir-path",
        "/home/dev",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("overlaps the project"),
        "{}",
        stderr(&out)
    );

    runtime().block_on(container.remove()).unwrap();
}

#[test]
fn stopped_and_unknown_containers_are_refused() {
    let Some(bed) = testbed() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let stopped = runtime().block_on(async {
        let spec = ContainerSpec {
            image: bed.image.clone(),
            cmd: Some(vec!["true".to_string()]),
            // A stopped container is what this test needs: the engine must not remove it.
            keep_after_exit: true,
            ..Default::default()
        };
        let container = bed.docker.start_container(&spec).await.unwrap();
        // `true` exits at once; wait for the engine to see it.
        for _ in 0..100 {
            let info = bed.docker.inspect_container(container.id()).await.unwrap();
            if info.state.and_then(|s| s.running) == Some(false) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        container
    });
    let w = tmp.path().join("wd").display().to_string();
    let out = pixi_airgap(&[
        "stage-container",
        "--container-id",
        stopped.id(),
        "--project-path-in-container",
        "/p",
        "--workdir",
        &w,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is not running (state: exited)"),
        "{}",
        stderr(&out)
    );
    let info = runtime()
        .block_on(bed.docker.inspect_container(stopped.id()))
        .unwrap();
    assert_eq!(
        info.state.and_then(|s| s.running),
        Some(false),
        "a stopped container stays stopped"
    );
    runtime().block_on(stopped.remove()).unwrap();

    let out = pixi_airgap(&[
        "stage-container",
        "--container-id",
        "pixi-airgap-no-such-container",
        "--project-path-in-container",
        "/p",
        "--workdir",
        &tmp.path().join("wd2").display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("there is no container `pixi-airgap-no-such-container`"),
        "{}",
        stderr(&out)
    );
}
