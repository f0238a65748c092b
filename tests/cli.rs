//! The command line as users meet it: help, argument checks and the errors that happen before
//! (or instead of) any container work.

mod common;

use common::{pixi_airgap, stderr};

/// A project with a complete pixi.lock (the pre-flight check runs before any argument that needs
/// Docker).
fn project_with_lock(dir: &std::path::Path) -> std::path::PathBuf {
    let project = dir.join("proj");
    std::fs::create_dir_all(&project).unwrap();
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/locks/v4-multi");
    for file in ["pixi.toml", "pixi.lock"] {
        std::fs::copy(fixture.join(file), project.join(file)).unwrap();
    }
    project
}

#[test]
fn help_documents_exit_codes_and_an_example() {
    let out = pixi_airgap(&["stage-host", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for text in [
        "Exit codes:",
        "130",
        "pixi-airgap stage-host --image",
        "--verify-run",
        "--container-workdir-path",
    ] {
        assert!(help.contains(text), "help lacks {text}:\n{help}");
    }
}

#[test]
fn clean_help_documents_its_rules_and_exit_codes() {
    let out = pixi_airgap(&["clean", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for text in [
        "Exit codes:",
        "pixi-airgap clean --dry-run",
        "--all",
        "--workdir",
        "PIXI_AIRGAP_CONTAINER_MAX_LIFE",
        ".pixi-airgap-workdir",
    ] {
        assert!(help.contains(text), "help lacks {text}:\n{help}");
    }
}

#[test]
fn bad_arguments_exit_2_before_docker() {
    let dir = tempfile::tempdir().unwrap();
    let project = project_with_lock(dir.path());
    let p = project.display().to_string();
    let w = dir.path().join("wd").display().to_string();
    // Unreachable Docker would be exit 3: these must fail earlier, with 2.
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--verify-expect", "x"],
            "--verify-expect needs a verification",
        ),
        (
            vec!["--container-workdir-path", "relative"],
            "must be an absolute path",
        ),
        (
            vec!["--container-workdir-path", "/"],
            "must be an absolute path",
        ),
        (vec!["-e", "nope"], "no environment `nope`"),
        (vec!["--exclude", "a{"], "bad --exclude pattern"),
        (
            vec!["--verify-script", "/nonexistent/check.sh"],
            "is neither in the project nor in the resources folder",
        ),
        (
            vec!["--verify-script", "ci/nope.sh"],
            "does not exist; tried:",
        ),
        (vec!["--", "echo", "hi"], "--verify-run -- CMD"),
    ];
    for (extra, message) in cases {
        let mut args = vec![
            "stage-host",
            "--image",
            "img",
            "--project-dir",
            &p,
            "--workdir",
            &w,
        ];
        args.extend(extra);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_pixi-airgap"))
            .args(&args)
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn project_and_workdir_checks() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = pixi_airgap(&[
        "stage-host",
        "--image",
        "img",
        "--project-dir",
        &empty.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("has no pixi.toml or pyproject.toml"),
        "{}",
        stderr(&out)
    );

    let project = project_with_lock(dir.path());
    let busy = dir.path().join("busy");
    std::fs::create_dir_all(&busy).unwrap();
    std::fs::write(busy.join("file"), "x").unwrap();
    let out = pixi_airgap(&[
        "stage-host",
        "--image",
        "img",
        "--project-dir",
        &project.display().to_string(),
        "--workdir",
        &busy.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is not a pixi-airgap workdir"),
        "a folder we did not make is refused, --force or not: {}",
        stderr(&out)
    );
    // One of ours: refused unless --force.
    std::fs::write(busy.join(".pixi-airgap-workdir"), "x").unwrap();
    let out = pixi_airgap(&[
        "stage-host",
        "--image",
        "img",
        "--project-dir",
        &project.display().to_string(),
        "--workdir",
        &busy.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is not empty"), "{}", stderr(&out));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
}

#[test]
fn unreachable_docker_exits_3_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let project = project_with_lock(dir.path());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pixi-airgap"))
        .args([
            "stage-host",
            "--image",
            "img",
            "--project-dir",
            &project.display().to_string(),
            "--workdir",
            &dir.path().join("wd").display().to_string(),
        ])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("cannot reach the Docker daemon at unix:///nonexistent/docker.sock"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
}

/// `--json | head` and the like: a reader that goes away is not an error, and nothing panics.
#[test]
fn a_closed_stdout_exits_0_quietly() {
    let bin = env!("CARGO_BIN_EXE_pixi-airgap");
    let fixture = common::fixtures().join("locks/v7-mixed");
    for args in [
        "completions zsh".to_string(),
        format!("check --json --project-dir '{}'", fixture.display()),
    ] {
        // `true` exits before the binary has started up, so every write meets a closed pipe.
        let script =
            format!("'{bin}' {args} 2>err.txt | true; echo \"${{PIPESTATUS[0]}}\"; cat err.txt");
        let tmp = tempfile::tempdir().unwrap();
        let output = std::process::Command::new("bash")
            .args(["-c", &script])
            .current_dir(tmp.path())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("0"), "{args}: {text}");
        assert!(
            !text.contains("panicked") && !text.contains("Broken pipe"),
            "{args}: {text}"
        );
    }
}
