//! End-to-end tests of `stage-container`: a project inside the user's running container.

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::*;

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
        leftovers: _leftovers,
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
        .assert_success();

    let wd = tmp.path().join("container-wd");
    let w = wd.display().to_string();
    // A project-relative script, from a folder that has nothing to do with the project.
    let out = TestCommand::new()
        .current_dir(tmp.path())
        .args([
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
        ])
        .output();
    assert_success(&out);
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
    let out = TestCommand::new()
        .args([
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
        ])
        .output();
    assert_success(&out);
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
    let out = TestCommand::new().args(args).output();
    assert_exit(&out, 2, "already exists");
    let mut forced = args.to_vec();
    forced.push("--force");
    let out = TestCommand::new().args(&forced).output();
    assert_success(&out);
    let (_, code) = in_container(&bed, &container, "test -e /tmp/airgap-wd");
    assert_ne!(code, 0);

    // A script that is not in the container's project names the place tried.
    let out = TestCommand::new()
        .args([
            "stage-container",
            "--container-id",
            &id,
            "--project-path-in-container",
            "/home/dev/stager",
            "--workdir",
            &tmp.path().join("nope-wd").display().to_string(),
            "--verify-script",
            "./ci/nope.sh",
        ])
        .output();
    assert_exit(
        &out,
        2,
        "/home/dev/stager/ci/nope.sh (the project in the container)",
    );

    // A container workdir that overlaps the project is refused before anything is deleted.
    let out = TestCommand::new()
        .args([
            "stage-container",
            "--container-id",
            &id,
            "--project-path-in-container",
            "/home/dev/stager",
            "--workdir",
            &tmp.path().join("x").display().to_string(),
            "--container-workdir-path",
            "/home/dev",
        ])
        .output();
    assert_exit(&out, 2, "overlaps the project");

    runtime().block_on(container.remove()).unwrap();
}

#[test]
fn stopped_and_unknown_containers_are_refused() {
    let Some(bed) = testbed() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let stopped = engine::stopped_container(&bed.image);
    let w = tmp.path().join("wd").display().to_string();
    let out = TestCommand::new()
        .args([
            "stage-container",
            "--container-id",
            &stopped,
            "--project-path-in-container",
            "/p",
            "--workdir",
            &w,
        ])
        .output();
    assert_exit(&out, 2, "is not running (state: exited)");
    assert!(
        !engine::is_running(&stopped),
        "a stopped container stays stopped"
    );
    engine::remove_container(&stopped);
    let out = TestCommand::new()
        .args([
            "stage-container",
            "--container-id",
            "pixi-airgap-no-such-container",
            "--project-path-in-container",
            "/p",
            "--workdir",
            &tmp.path().join("wd2").display().to_string(),
        ])
        .output();
    assert_exit(
        &out,
        2,
        "there is no container `pixi-airgap-no-such-container`",
    );
}
