//! The data-loss matrix: every destructive path (`--force` on stage-host, stage-container and pack;
//! `make-product --output`) pointed at something that is not ours (a home-like tree with `.ssh`,
//! the project, a symlinked alias of it, the current folder, the workdir, a staged folder, a home
//! folder in the user's container) is refused with exit 2, and the tree is unchanged. Also: a
//! typo in `--image`, an image without pixi, a network that does not exist, or a refused
//! container folder, with `--force`, leave the last good staging in place.

use std::path::{Path, PathBuf};

use crate::common::*;

fn home_like(root: &Path) -> PathBuf {
    let home = root.join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::create_dir_all(home.join("project")).unwrap();
    std::fs::create_dir_all(home.join("out")).unwrap();
    std::fs::write(home.join(".ssh/id_ed25519"), "sentinel key\n").unwrap();
    std::fs::write(home.join("project/thesis.tex"), "years of work\n").unwrap();
    std::fs::write(home.join("out/results.csv"), "1,2,3\n").unwrap();
    home
}

fn run_in(dir: &Path, args: &[&str]) -> std::process::Output {
    TestCommand::new().args(args).current_dir(dir).output()
}

#[test]
fn destructive_paths_never_touch_what_is_not_ours() {
    let Some(bed) = testbed() else { return };
    let server = ChannelServer::start(&bed);
    let (tmp, workdir, name) = staged(&bed, &server, "single", &["--verify-task", "smoke"]);
    let project = tmp.path().join("single");
    let home = home_like(tmp.path());
    let alias = tmp.path().join("alias-of-project");
    std::os::unix::fs::symlink(&project, &alias).unwrap();
    let (p, n) = (project.display().to_string(), server.network.clone());
    let mut tried = 0;

    // --force on the stage commands, at folders pixi-airgap did not make.
    for target in [&home, &project, &alias] {
        for command in ["stage-host", "pack"] {
            tried += 1;
            let before = (tree_snapshot(&home), tree_snapshot(&project));
            let t = target.display().to_string();
            let output = run_in(
                tmp.path(),
                &[
                    command,
                    "--image",
                    &bed.image,
                    "--network",
                    &n,
                    "--project-dir",
                    &p,
                    "--workdir",
                    &t,
                    "--force",
                ],
            );
            assert_eq!(
                output.status.code(),
                Some(2),
                "{command} --workdir {t}: {}",
                stderr(&output)
            );
            assert_eq!(
                (tree_snapshot(&home), tree_snapshot(&project)),
                before,
                "{command} --workdir {t}"
            );
        }
    }

    // A typo in --image with --force: the previous staging stays whole.
    tried += 1;
    let before = tree_snapshot(&workdir);
    let w = workdir.display().to_string();
    let output = run_in(
        tmp.path(),
        &[
            "stage-host",
            "--image",
            "no-such-image:typo",
            "--project-dir",
            &p,
            "--workdir",
            &w,
            "--force",
        ],
    );
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(
        tree_snapshot(&workdir),
        before,
        "a failed check deleted the last staging"
    );
    // Failures that only show once the container exists (an image without pixi, a network that
    // does not exist): the new staging is swapped in only once it is complete, so the last one
    // stays whole (its logs go to out-failed/, a new folder).
    for (image, network) in [
        (bed.nopixi_image.as_str(), n.as_str()),
        (bed.image.as_str(), "no-such-network-pixi-airgap"),
    ] {
        tried += 1;
        let output = run_in(
            tmp.path(),
            &[
                "stage-host",
                "--image",
                image,
                "--network",
                network,
                "--project-dir",
                &p,
                "--workdir",
                &w,
                "--force",
            ],
        );
        assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
        let _ = std::fs::remove_dir_all(workdir.join("out-failed"));
        assert_eq!(
            tree_snapshot(&workdir),
            before,
            "--image {image} --network {network} --force deleted the last staging"
        );
    }

    // make-product --output at folders the user keeps: refused even with --force.
    let cases: Vec<(PathBuf, PathBuf)> = vec![
        (tmp.path().join("cwd"), tmp.path().join("cwd")),
        (PathBuf::from("."), home.clone()),
        (workdir.clone(), tmp.path().to_path_buf()),
        (workdir.join("pixi-cache/inside"), tmp.path().to_path_buf()),
        (workdir.join("out"), tmp.path().to_path_buf()),
        (project.clone(), tmp.path().to_path_buf()),
        (project.join("product"), tmp.path().to_path_buf()),
        (alias.join("product"), tmp.path().to_path_buf()),
        (tmp.path().to_path_buf(), home.clone()),
    ];
    std::fs::create_dir_all(tmp.path().join("cwd")).unwrap();
    std::fs::write(tmp.path().join("cwd/keep.txt"), "keep\n").unwrap();
    for (output_dir, cwd) in &cases {
        tried += 1;
        let before = (tree_snapshot(tmp.path()),);
        let o = output_dir.display().to_string();
        let output = run_in(
            cwd,
            &[
                "make-product",
                "--workdir",
                &w,
                "--project-name",
                &name,
                "--output",
                &o,
                "--force",
            ],
        );
        assert_eq!(
            output.status.code(),
            Some(2),
            "--output {o} from {}: {}",
            cwd.display(),
            stderr(&output)
        );
        assert_eq!((tree_snapshot(tmp.path()),), before, "--output {o}");
    }
    // Without --force, a non-empty folder that is not a product is refused too.
    tried += 1;
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("data.bin"), "data").unwrap();
    let o = other.display().to_string();
    let output = run_in(
        tmp.path(),
        &[
            "make-product",
            "--workdir",
            &w,
            "--project-name",
            &name,
            "--output",
            &o,
        ],
    );
    assert_exit(&output, 2, "not an earlier product");
    assert!(other.join("data.bin").is_file());
    // An earlier product is replaced; an empty folder is filled.
    let product = tmp.path().join("product");
    let o = product.display().to_string();
    for _ in 0..2 {
        let output = run_in(
            tmp.path(),
            &[
                "make-product",
                "--workdir",
                &w,
                "--project-name",
                &name,
                "--output",
                &o,
            ],
        );
        assert_success(&output);
    }

    // stage-container --force at a home folder (/root) in the user's container.
    tried += 1;
    let container = user_container(&bed, &server, &project);
    let (_, code) = in_container(
        &bed,
        &container,
        "mkdir -p /root/.ssh && echo key > /root/.ssh/id_ed25519 && echo notes > /root/notes",
    );
    assert_eq!(code, 0);
    // The host workdir is the last good staging: refusing the container folder deletes nothing
    // on this host either.
    let before = tree_snapshot(&workdir);
    let project_in = format!(
        "/home/dev/{}",
        project.file_name().unwrap().to_string_lossy()
    );
    let output = run_in(
        tmp.path(),
        &[
            "stage-container",
            "--container-id",
            container.id(),
            "--project-path-in-container",
            &project_in,
            "--container-workdir-path",
            "/root",
            "--workdir",
            &w,
            "--force",
        ],
    );
    assert_exit(&output, 2, "not a pixi-airgap workdir");
    assert_eq!(
        tree_snapshot(&workdir),
        before,
        "stage-container --force wiped the host workdir before refusing /root"
    );
    let (listing, _) = in_container(&bed, &container, "cat /root/.ssh/id_ed25519 /root/notes");
    assert_eq!(listing, "key\nnotes\n");
    runtime().block_on(container.remove()).unwrap();

    record_count(&format!(
        "data-loss matrix: {tried} destructive inputs tried"
    ));
}

/// `clean` acts on stage-container run records: one that names a folder without the workdir
/// marker (a user's home, `/root`) deletes nothing, even when its process is gone.
#[test]
fn clean_never_deletes_a_container_folder_without_the_marker() {
    let Some(bed) = testbed() else { return };
    let container = runtime().block_on(async {
        let spec = pixi_airgap::docker::ContainerSpec {
            image: bed.image.clone(),
            labels: vec![("io.pixi-airgap.test".into(), "user-container".into())],
            network: Some("none".into()),
            ..Default::default()
        };
        bed.docker.start_container(&spec).await.unwrap()
    });
    let (_, code) = in_container(
        &bed,
        &container,
        "mkdir -p /home/dev/project && echo years >/home/dev/project/thesis.tex && echo key >/root/.keep",
    );
    assert_eq!(code, 0);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let runs = state.join("pixi-airgap/runs");
    std::fs::create_dir_all(&runs).unwrap();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let mut tried = 0;
    for folder in ["/home/dev", "/root"] {
        tried += 1;
        let record = serde_json::json!({
            "command": "stage-container",
            "container_id": container.id(),
            "container_workdir": folder,
            "pid_file": format!("{folder}/.pixi-airgap-running.pid"),
            "host_workdir": tmp.path().join("wd"),
            "creator": {"pid": dead, "host": pixi_airgap::process::host_name(),
                        "pid_start": null, "created": "2026-01-01T00:00:00Z"},
        });
        std::fs::write(runs.join("stage-container-x.json"), record.to_string()).unwrap();
        let output = TestCommand::new()
            .args(["clean", "--json", "--workdir"])
            .arg(tmp.path().join("wd"))
            .env("XDG_STATE_HOME", &state)
            .assert_success();
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let found = &report["leftovers"][0];
        assert_eq!(found["action"], "kept", "{folder}: {report:#}");
        assert!(
            found["reason"]
                .as_str()
                .unwrap()
                .contains("has no .pixi-airgap-workdir"),
            "{report:#}"
        );
        let (_, intact) = in_container(
            &bed,
            &container,
            "test -f /home/dev/project/thesis.tex && test -f /root/.keep",
        );
        assert_eq!(
            intact, 0,
            "{folder}: clean deleted a folder that is not ours"
        );
    }
    runtime().block_on(container.remove()).unwrap();
    record_count(&format!(
        "data-loss matrix, clean: {tried} unmarked container folders left alone"
    ));
}
