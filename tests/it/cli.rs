//! The command line as users meet it: help, argument checks and the errors that happen before
//! (or instead of) any container work.

use std::path::Path;

use crate::common::{stderr, TestCommand};

/// A project with a complete pixi.lock (the pre-flight check runs before any argument that needs
/// Docker).
fn project_with_lock(dir: &Path) -> std::path::PathBuf {
    let project = dir.join("proj");
    std::fs::create_dir_all(&project).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/locks/v4-multi");
    for file in ["pixi.toml", "pixi.lock"] {
        std::fs::copy(fixture.join(file), project.join(file)).unwrap();
    }
    project
}

#[test]
fn help_documents_exit_codes_and_an_example() {
    let help = TestCommand::new().args(["stage-host", "--help"]).stdout();
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

/// Every `--help`, as a user reads it (at a fixed width): a changed flag or text shows up in review.
#[test]
fn every_help_matches_its_snapshot() {
    for sub in [
        "",
        "stage-host",
        "stage-container",
        "make-product",
        "verify-product",
        "pack",
        "check",
        "clean",
        "completions",
    ] {
        let mut cmd = TestCommand::new();
        cmd.env("COLUMNS", "100");
        if !sub.is_empty() {
            cmd.arg(sub);
        }
        let help = cmd.arg("--help").stdout();
        let name = if sub.is_empty() { "pixi-airgap" } else { sub };
        insta::assert_snapshot!(format!("help-{name}"), help);
    }
}

/// Argument errors exit 2 before Docker is asked anything (an unreachable engine would be 3).
const ARGUMENT_ERRORS: &[(&[&str], &str)] = &[
    (
        &["--verify-expect", "x"],
        "--verify-expect needs a verification",
    ),
    (
        &["--container-workdir-path", "relative"],
        "invalid value 'relative' for '--container-workdir-path <PATH>': not an absolute path",
    ),
    (
        &["--container-workdir-path", "/"],
        "invalid value '/' for '--container-workdir-path <PATH>': not an absolute path",
    ),
    (
        &["--env", "A B=1"],
        "invalid value 'A B=1' for '--env <KEY[=VALUE]>': not KEY or KEY=VALUE",
    ),
    (
        &["--verify-task", "beta:"],
        "invalid value 'beta:' for '--verify-task <[ENV:]TASK>': not TASK or ENV:TASK",
    ),
    (
        &["--verify-task", "smoke", "--verify-env", " "],
        "invalid value ' ' for '--verify-env <ENV>': names nothing",
    ),
    (
        &["--memory", "8x"],
        "invalid value '8x' for '--memory <SIZE>': not a size",
    ),
    (
        &["--memory", "16MB"],
        "invalid value '16MB' for '--memory <SIZE>': less than 16m",
    ),
    (
        &["--resources-dir", "/nonexistent/res"],
        "invalid value '/nonexistent/res' for '--resources-dir <DIR>': no such folder",
    ),
    (&["-e", "nope"], "no environment `nope`"),
    (&["--exclude", "a{"], "bad --exclude pattern"),
    (
        &["--verify-script", "/nonexistent/check.sh"],
        "is neither in the project nor in the resources folder",
    ),
    (&["--verify-script", "ci/nope.sh"], "does not exist; tried:"),
    (&["--", "echo", "hi"], "--verify-run -- CMD"),
];

/// A bad value is reported by clap naming the flag it was given to (exit 2), also where two
/// commands parse the same kind of value under different flags.
#[test]
fn bad_values_name_their_own_flag() {
    let dir = tempfile::tempdir().unwrap();
    let project = project_with_lock(dir.path());
    let file = project.join("pixi.toml");
    let cases: [(Vec<&str>, &str); 6] = [
        (
            vec!["verify-product", "--user", "root"],
            "invalid value 'root' for '--user <UID[:GID]>': not UID or UID:GID",
        ),
        (
            vec!["pack", "--verify-user", "1:x"],
            "invalid value '1:x' for '--verify-user <UID[:GID]>': not UID or UID:GID",
        ),
        (
            vec!["stage-container", "--project-path-in-container", "proj"],
            "invalid value 'proj' for '--project-path-in-container <PATH>': not an absolute path",
        ),
        (
            vec!["pack", "--archive", "tar", "--split-size", "0"],
            "invalid value '0' for '--split-size <SIZE>': a part holds at least 1 byte",
        ),
        (
            vec!["pack", "--archive", "tar", "--split-size", "1.5GiB"],
            "invalid value '1.5GiB' for '--split-size <SIZE>': not a size",
        ),
        (
            vec!["verify-product", "--product-dir", file.to_str().unwrap()],
            "for '--product-dir <DIR>': not a folder",
        ),
    ];
    for (args, message) in cases {
        TestCommand::new().args(args).assert_exit(2, message);
    }
}

/// The settings read from the environment are listed in the top-level `--help`; a flag that takes
/// its default from one shows it; a bad value from the environment names the variable (exit 2).
#[test]
fn settings_from_the_environment_are_listed_and_named_when_bad() {
    let help = TestCommand::new().arg("--help").stdout();
    for name in [
        "PIXI_AIRGAP_CONTAINER_MAX_LIFE",
        "PIXI_AIRGAP_MAX_LOG_BYTES",
        "PIXI_AIRGAP_MAX_EXTRACT_BYTES",
        "PIXI_AIRGAP_MAX_EXTRACT_ENTRIES",
        "PIXI_AIRGAP_CACHE_LINKS",
        "PIXI_AIRGAP_SIGN_PASSPHRASE",
        "PIXI_AIRGAP_SIGN_KEY",
        "PIXI_AIRGAP_ALLOWED_SIGNERS",
        "PIXI_AIRGAP_NO_WAIT",
    ] {
        assert!(help.contains(name), "help lacks {name}:\n{help}");
    }
    for (sub, shown) in [
        ("make-product", "[env: PIXI_AIRGAP_SIGN_KEY=]"),
        ("make-product", "[env: PIXI_AIRGAP_NO_WAIT=]"),
        ("pack", "[env: PIXI_AIRGAP_SIGN_KEY=]"),
        ("stage-host", "[env: PIXI_AIRGAP_NO_WAIT=]"),
        ("verify-product", "[env: PIXI_AIRGAP_ALLOWED_SIGNERS=]"),
    ] {
        // Wide, so that clap does not wrap inside the bracket.
        let help = TestCommand::new()
            .env("COLUMNS", "400")
            .args([sub, "--help"])
            .stdout();
        assert!(help.contains(shown), "{sub} --help lacks {shown}:\n{help}");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = TestCommand::new()
        .env("PIXI_AIRGAP_NO_WAIT", "maybe")
        .args(["make-product", "--project-name", "p"])
        .path_arg("--workdir", dir.path())
        .assert_exit(2, "invalid value 'maybe' for '--no-wait'");
    assert!(
        stderr(&out).contains("the value came from the environment variable PIXI_AIRGAP_NO_WAIT"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn clean_help_documents_its_rules_and_exit_codes() {
    let help = TestCommand::new().args(["clean", "--help"]).stdout();
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
    let workdir = dir.path().join("wd");
    for (extra, message) in ARGUMENT_ERRORS {
        stage_host_without_docker(&project, &workdir)
            .args(*extra)
            .assert_exit(2, message);
    }
}

/// The main error messages, whole, with the temp folder replaced by `[TMP]` and this crate's
/// folder (where the binary runs) by `[CRATE]`.
#[test]
fn main_error_messages_match_their_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let project = project_with_lock(dir.path());
    let workdir = dir.path().join("wd");
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let busy = dir.path().join("busy");
    std::fs::create_dir_all(&busy).unwrap();
    std::fs::write(busy.join("file"), "x").unwrap();
    let mut runs: Vec<(String, std::process::Output)> = ARGUMENT_ERRORS
        .iter()
        .map(|(extra, _)| {
            let out = stage_host_without_docker(&project, &workdir)
                .args(*extra)
                .output();
            (format!("stage-host {}", extra.join(" ")), out)
        })
        .collect();
    runs.push((
        "stage-host (a project folder without a manifest)".into(),
        stage_host_without_docker(&empty, &workdir).output(),
    ));
    runs.push((
        "stage-host (a folder that is not a workdir of ours)".into(),
        stage_host_without_docker(&project, &busy).output(),
    ));
    let ours = dir.path().join("ours");
    std::fs::create_dir_all(&ours).unwrap();
    std::fs::write(ours.join(".pixi-airgap-workdir"), "x").unwrap();
    std::fs::write(ours.join("file"), "x").unwrap();
    runs.push((
        "stage-host (a workdir of ours that is not empty)".into(),
        stage_host_without_docker(&project, &ours).output(),
    ));
    runs.push((
        "stage-host (no Docker daemon)".into(),
        stage_host_without_docker(&project, &workdir).output(),
    ));
    runs.push((
        "verify-product (a folder that is no product)".into(),
        TestCommand::new()
            .without_docker()
            .args(["verify-product", "--image", "img", "--project-name", "proj"])
            .path_arg("--product-dir", &empty)
            .path_arg("--out-dir", &dir.path().join("proof"))
            .output(),
    ));
    runs.push((
        "make-product (a workdir that was never staged)".into(),
        TestCommand::new()
            .args(["make-product", "--project-name", "proj"])
            .path_arg("--workdir", &empty)
            .output(),
    ));
    let tmp = dir.path().display().to_string();
    let text: String = runs
        .iter()
        .map(|(what, out)| {
            format!(
                "$ {what}\nexit {:?}\n{}\n",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
                    .replace(&tmp, "[TMP]")
                    .replace(env!("CARGO_MANIFEST_DIR"), "[CRATE]")
            )
        })
        .collect();
    insta::assert_snapshot!("main-error-messages", text);
}

fn stage_host_without_docker(project: &Path, workdir: &Path) -> TestCommand {
    let mut cmd = TestCommand::new();
    cmd.without_docker()
        .args(["stage-host", "--image", "img"])
        .path_arg("--project-dir", project)
        .path_arg("--workdir", workdir);
    cmd
}

#[test]
fn project_and_workdir_checks() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    TestCommand::new()
        .args(["stage-host", "--image", "img"])
        .path_arg("--project-dir", &empty)
        .assert_exit(2, "has no pixi.toml or pyproject.toml");

    let project = project_with_lock(dir.path());
    let busy = dir.path().join("busy");
    std::fs::create_dir_all(&busy).unwrap();
    std::fs::write(busy.join("file"), "x").unwrap();
    stage_host_without_docker(&project, &busy).assert_exit(2, "is not a pixi-airgap workdir");
    // One of ours: refused unless --force.
    std::fs::write(busy.join(".pixi-airgap-workdir"), "x").unwrap();
    let out = stage_host_without_docker(&project, &busy).assert_exit(2, "is not empty");
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
}

#[test]
fn unreachable_docker_exits_3_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let project = project_with_lock(dir.path());
    let out = stage_host_without_docker(&project, &dir.path().join("wd")).assert_exit(
        3,
        "cannot reach the Docker daemon at unix:///nonexistent/docker.sock",
    );
    assert!(stderr(&out).contains("hint:"), "{}", stderr(&out));
}

/// `--json | head` and the like: a reader that goes away is not an error, and nothing panics.
#[test]
fn a_closed_stdout_exits_0_quietly() {
    let bin = crate::common::cmd::BIN;
    let fixture = crate::common::fixtures().join("locks/v7-mixed");
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
