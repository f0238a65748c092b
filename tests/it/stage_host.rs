//! End-to-end tests of `stage-host` against a real Docker engine and a real pixi.

use std::path::Path;

use crate::common::*;

#[test]
fn stages_single_env_project_with_task_verification() {
    let Some(Locked {
        bed,
        server,
        tmp,
        project,
        leftovers,
    }) = Locked::fixture("single")
    else {
        return;
    };
    let workdir = tmp.path().join("wd");
    bed.stage_host(Some(&server), &project, &workdir)
        .args([
            "--verify-task",
            "smoke",
            "--verify-expect",
            "hello from the air gap",
        ])
        .assert_success();

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

    leftovers.assert_clean();
    assert!(project.join("pixi.lock").is_file());
}

#[test]
fn stages_every_environment_of_a_multi_env_project() {
    let Some(Locked {
        bed,
        server,
        tmp,
        project,
        leftovers: _leftovers,
    }) = Locked::fixture("multi")
    else {
        return;
    };
    let workdir = tmp.path().join("wd");
    let output = bed
        .stage_host(Some(&server), &project, &workdir)
        .args([
            "--json",
            "--verify-run",
            "--",
            "sh",
            "-c",
            // pixi 0.15 expands `$VAR` in `pixi run` arguments itself, newer pixi passes them on
            // quoted: a shell in the environment expands it the same way on both.
            "cat \"$CONDA_PREFIX/share/airgap-base/VERSION\"",
        ])
        .assert_success();
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("--json prints the report");
    assert_eq!(
        report["environments"],
        serde_json::json!(["default", "alpha", "beta"])
    );
    for env in ["default", "alpha", "beta"] {
        assert!(
            workdir.join(format!("out/install-{env}.log")).is_file(),
            "{env}"
        );
    }
    let pkgs = workdir.join("pixi-cache/pkgs");
    for pkg in [
        "airgap-base-1.0.0-0",
        "airgap-alpha-0.1.0-0",
        "airgap-beta-0.2.0-0",
        "airgap-hello-1.0.0-0",
    ] {
        assert!(pkgs.join(pkg).is_dir(), "{pkg} missing from the cache");
    }
    let verify_log = std::fs::read_to_string(workdir.join("out/verify.log")).unwrap();
    assert!(verify_log.contains("airgap-base 1.0.0"), "{verify_log}");

    // Only the environment asked for is installed, and only its packages are cached.
    let workdir2 = tmp.path().join("wd2");
    bed.stage_host(Some(&server), &project, &workdir2)
        .args(["-e", "alpha"])
        .assert_success();
    let pkgs = workdir2.join("pixi-cache/pkgs");
    assert!(pkgs.join("airgap-alpha-0.1.0-0").is_dir());
    assert!(!pkgs.join("airgap-beta-0.2.0-0").exists());
    assert!(!workdir2.join("out/install-default.log").exists());

    // An unknown environment is bad input, before any container starts.
    bed.stage_host(Some(&server), &project, &tmp.path().join("wd3"))
        .args(["-e", "gamma"])
        .assert_exit(2, "no environment `gamma`");
}

#[test]
fn stager_keeps_files_links_and_names_and_never_stages_secrets() {
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
    let workdir = tmp.path().join("wd");
    let output = bed
        .stage_host(Some(&server), &project, &workdir)
        .path_arg("--resources-dir", &resources)
        .arg("--keep-container")
        .path_arg("--verify-script", &project.join("ci/check.sh"))
        .args(["--verify-expect", "script-ok"])
        .assert_success();
    let log = stderr(&output);
    assert!(log.contains("secrets not staged"), "{log}");
    assert!(!log.contains("TOP-SECRET-VALUE"));

    // Inside the container (kept for this check): no secret, no junk.
    let ids = containers_for_workdir(&bed, &workdir);
    assert_eq!(ids.len(), 1, "--keep-container keeps exactly one container");
    let container_files = runtime().block_on(async {
        let docker = &bed.docker;
        let spec = pixi_airgap::docker::ExecSpec::new(["sh", "-c", "cd /workdir && find . | sort && ! grep -rl TOP-SECRET-VALUE . --exclude-dir=pixi-cache"]);
        let out = exec_in(docker, &ids[0], &spec).await;
        // The container workdir is a scratch volume of the container, labelled as ours, that
        // goes with it.
        let info = engine::inspect("container", &ids[0]);
        let mounts = info["Mounts"].as_array().cloned().unwrap_or_default();
        let scratch: Vec<_> = mounts
            .iter()
            .filter(|m| m["Destination"] == "/workdir")
            .collect();
        assert_eq!(scratch.len(), 1, "{mounts:?}");
        assert_eq!(scratch[0]["Type"], "volume");
        let volume = scratch[0]["Name"].as_str().unwrap().to_string();
        let labels = engine::inspect("volume", &volume)["Labels"].clone();
        // Podman (4.3) does not label anonymous volumes; it removes them with their container.
        if docker.engine().name == "Docker" {
            assert_eq!(labels["io.pixi-airgap.managed"], "true");
        }
        docker.remove_container(&ids[0]).await.unwrap();
        assert!(
            !engine::volume_exists(&volume),
            "the scratch volume {volume} outlived its container"
        );
        out
    });
    assert!(
        container_files.1 == 0,
        "a secret reached the container:\n{}",
        container_files.0
    );
    for gone in [
        "/.env\n",
        ".env.production",
        ".npmrc",
        ".pypirc",
        ".netrc",
        ".git-credentials",
        "id_rsa",
        ".ssh",
        "server.pem",
        "server.key",
        "store.p12",
        ".aws",
        ".docker/config.json",
        "kubeconfig",
        ".rattler/credentials.json",
        "/.git\n",
        "__pycache__",
        "node_modules",
    ] {
        assert!(
            !container_files.0.contains(gone),
            "{gone} reached the container:\n{}",
            container_files.0
        );
    }
    assert!(container_files.0.contains("./project/stager/.env.example"));

    // On the host: the same, and everything else intact.
    let staged = workdir.join("project/stager");
    let mut host_files = Vec::new();
    // What the output can grow: the logs in `out/` (the rest of the workdir is the cache and
    // the helper binary, the same whatever the command prints).
    for entry in walkdir::WalkDir::new(workdir.join("out")) {
        let entry = entry.unwrap();
        host_files.push(
            entry
                .path()
                .strip_prefix(&workdir)
                .unwrap()
                .display()
                .to_string(),
        );
        if entry.file_type().is_file() && !entry.path().starts_with(workdir.join("pixi-cache")) {
            let content = std::fs::read(entry.path()).unwrap();
            assert!(
                !content.windows(16).any(|w| w == b"TOP-SECRET-VALUE"),
                "secret on the host: {}",
                entry.path().display()
            );
        }
    }
    for gone in [
        ".env",
        ".npmrc",
        "id_rsa",
        ".ssh",
        ".aws",
        ".git",
        "node_modules",
        ".pixi/envs",
    ] {
        assert!(!staged.join(gone).exists(), "{gone} staged");
    }
    assert!(!workdir.join("resources/.npmrc").exists());
    assert_eq!(
        std::fs::read_to_string(staged.join(".pixi/config.toml")).unwrap(),
        "# project-local pixi settings\n"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(staged.join("bin/run me.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert!(mode & 0o111 != 0, "executable bit lost: {mode:o}");
    assert_eq!(
        std::fs::read_to_string(staged.join("données/naïve – ünïcode.txt")).unwrap(),
        "ça marche\n"
    );
    assert_eq!(
        std::fs::read_link(staged.join("link-to-file")).unwrap(),
        Path::new("données/naïve – ünïcode.txt")
    );
    assert_eq!(
        std::fs::read_link(staged.join("link-to-dir")).unwrap(),
        Path::new("bin")
    );
    assert!(staged.join("empty/nested").is_dir());
    assert_eq!(
        sha256_file(&workdir.join("resources/models/big.bin")),
        sha256_file(&resources.join("models/big.bin"))
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(workdir.join("out/stage.json")).unwrap()).unwrap();
    let secrets = report["excluded"]["secrets"].as_array().unwrap();
    assert!(secrets.len() >= 16, "{secrets:?}");
}

#[test]
fn failing_verification_exits_1_and_keeps_the_workdir() {
    let Some(Locked {
        bed,
        server,
        tmp,
        project,
        leftovers: _leftovers,
    }) = Locked::fixture("single")
    else {
        return;
    };
    let workdir = tmp.path().join("wd");
    bed.stage_host(Some(&server), &project, &workdir)
        .args([
            "--verify-run",
            "--",
            "sh",
            "-c",
            "echo about to fail; exit 7",
        ])
        .assert_exit(1, "verification failed: it exited with 7");
    let log = std::fs::read_to_string(workdir.join("out/verify.log")).unwrap();
    assert!(log.contains("about to fail"), "{log}");
    assert!(
        workdir.join("pixi-cache/pkgs").is_dir(),
        "the workdir is still written"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(workdir.join("out/stage.json")).unwrap()).unwrap();
    assert_eq!(report["result"], "verification-failed");

    // Exit 0 but without the expected text is a failure too.
    bed.stage_host(Some(&server), &project, &tmp.path().join("wd2"))
        .args([
            "--verify-task",
            "smoke",
            "--verify-expect",
            "text that never appears",
        ])
        .assert_exit(1, "lacks the expected text");
}

#[test]
fn input_and_infrastructure_errors_have_their_exit_codes() {
    let Some(Locked {
        bed,
        server,
        tmp,
        project,
        leftovers,
    }) = Locked::fixture("single")
    else {
        return;
    };

    // Missing image: 3, naming the image.
    TestCommand::new()
        .args(["stage-host", "--image", "pixi-airgap-no-such-image:1"])
        .path_arg("--project-dir", &project)
        .path_arg("--workdir", &tmp.path().join("wd-img"))
        .assert_exit(3, "image `pixi-airgap-no-such-image:1` is not present");

    // Image without pixi: 3.
    let w = tmp.path().join("wd-nopixi");
    TestCommand::new()
        .args(["stage-host", "--image", &bed.nopixi_image])
        .path_arg("--project-dir", &project)
        .path_arg("--workdir", &w)
        .assert_exit(
            3,
            &format!("image {} has no `pixi` on PATH", bed.nopixi_image),
        );
    leftovers.assert_clean();

    // Stale lock: 2, found on the host before any container starts, telling the user to lock
    // again online.
    let stale = tmp.path().join("stale");
    copy_tree(&project, &stale);
    let manifest = std::fs::read_to_string(stale.join("pixi.toml")).unwrap();
    std::fs::write(
        stale.join("pixi.toml"),
        manifest.replace(
            "airgap-hello = \">=1.0\"",
            "airgap-hello = \">=1.0\"\nairgap-alpha = \"*\"",
        ),
    )
    .unwrap();
    let w = tmp.path().join("wd-stale");
    let output = bed
        .stage_host(Some(&server), &stale, &w)
        .assert_exit(2, "[stale-lock]");
    let err = stderr(&output);
    assert!(err.contains("airgap-alpha"), "{err}");
    assert!(err.contains("run `pixi lock` online"), "{err}");
    assert!(
        !err.contains("in container"),
        "no container was needed:\n{err}"
    );
    leftovers.assert_clean();

    // The channel out of reach (no --network): the install fails, 3, pointing at its log.
    let w = tmp.path().join("wd-offline");
    let output = bed
        .stage_host(None, &project, &w)
        .assert_exit(3, "`pixi install --locked` failed with exit code");
    assert!(stderr(&output).contains("install-default.log"));
    let log = std::fs::read_to_string(w.join("out/install-default.log")).unwrap();
    assert!(log.contains("airgap-channel"), "{log}");
    leftovers.assert_clean();

    // Missing lock: 2, before Docker.
    std::fs::remove_file(stale.join("pixi.lock")).unwrap();
    bed.stage_host(None, &stale, &tmp.path().join("wd-nolock"))
        .assert_exit(2, "has no pixi.lock");
}

/// pyproject.toml manifests need pixi >= 0.18, so this runs on the current pixi only (the
/// `pixi-modern` feature). The project depends on `python` (from
/// `requires-python`), which the test bed's channel has.
#[test]
#[cfg(not(feature = "engine-podman"))]
#[cfg(feature = "pixi-modern")]
fn stages_a_pyproject_manifest() {
    let Some(bed) = testbed() else { return };
    require_python_bed();
    let server = ChannelServer::start(&bed);
    let (tmp, project) = locked_fixture(&bed, &server, "pyproject");
    let workdir = tmp.path().join("wd");
    bed.stage_host(Some(&server), &project, &workdir)
        .args([
            "--verify-task",
            "smoke",
            "--verify-expect",
            "hello from the air gap",
        ])
        .assert_success();
    assert!(workdir
        .join("project/pyproject-env/pyproject.toml")
        .is_file());
}

/// Bars and spinners on a terminal; plain log lines in pipes and CI logs.
#[test]
#[cfg(not(feature = "engine-podman"))]
fn progress_is_drawn_only_on_a_terminal() {
    let Some(Locked {
        bed,
        server,
        tmp,
        project,
        leftovers: _leftovers,
    }) = Locked::fixture("single")
    else {
        return;
    };
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let workdir = tmp.path().join("wd-tty");
    let command = [
        crate::common::cmd::BIN,
        "stage-host",
        "--image",
        &bed.image,
        "--network",
        &server.network,
        "--project-dir",
        &project.display().to_string(),
        "--workdir",
        &workdir.display().to_string(),
        "--verify-run",
        "--",
        "sleep",
        "1",
    ]
    .map(quote)
    .join(" ");
    // `script` gives the command a pseudo-terminal and copies what it draws to stdout.
    let out = std::process::Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .output()
        .expect("`script` (util-linux) runs the binary on a terminal");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    assert!(
        screen.contains("pixi run --locked sleep 1 ("),
        "no spinner on a terminal:\n{screen}"
    );

    let output = bed
        .stage_host(Some(&server), &project, &tmp.path().join("wd-pipe"))
        .args(["--verify-run", "--", "sleep", "1"])
        .assert_success();
    let err = stderr(&output);
    assert!(!err.contains("sleep 1 ("), "spinner in a pipe:\n{err}");
    assert!(
        !err.contains('\r') && !err.contains('\u{1b}'),
        "control characters in a pipe:\n{err}"
    );
}

#[test]
#[cfg(not(feature = "engine-podman"))]
fn env_reaches_the_build_container_and_a_workdir_inside_the_project_is_not_staged() {
    let Some(Locked {
        bed,
        server,
        tmp: _tmp,
        project,
        leftovers: _leftovers,
    }) = Locked::fixture("single")
    else {
        return;
    };
    // The default layout when run from the project folder: ./tmp/workdir-... inside the project.
    let workdir = project.join("tmp/wd");
    bed.stage_host(Some(&server), &project, &workdir)
        .args([
            "--env",
            "AIRGAP_TEST_TOKEN=from-the-command-line",
            "--env",
            "PIXI_AIRGAP_TEST_PASSED_THROUGH",
            "--verify-run",
            "--",
            "sh",
            "-c",
            "echo token=$AIRGAP_TEST_TOKEN passed=$PIXI_AIRGAP_TEST_PASSED_THROUGH cache=$PIXI_CACHE_DIR",
        ])
        .env("PIXI_AIRGAP_TEST_PASSED_THROUGH", "from-the-shell")
        .assert_success();
    let log = std::fs::read_to_string(workdir.join("out/verify.log")).unwrap();
    assert!(
        log.contains("token=from-the-command-line passed=from-the-shell cache=/workdir/pixi-cache"),
        "{log}"
    );
    assert!(
        !workdir.join("project/single-env/tmp/wd").exists(),
        "the workdir was staged into itself"
    );
}

/// Stages with a verification that sleeps, sends `signal` while it runs, and checks the cleanup.
fn interrupt_while_verifying(signal: &str, name: &str) {
    let Some(Locked {
        bed,
        server,
        tmp,
        project,
        leftovers: _leftovers,
    }) = Locked::fixture("single")
    else {
        return;
    };
    let workdir = tmp.path().join("wd");
    let mut child = bed
        .stage_host(Some(&server), &project, &workdir)
        .args(["--verify-run", "--", "sleep", "120"])
        .spawn();
    // Wait until the verification runs: the container exists and the verification log is open.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let running = || {
        stage_log_exists(&workdir, "verify.log")
            && !containers_for_workdir(&bed, &workdir).is_empty()
    };
    while !running() {
        assert!(
            std::time::Instant::now() < deadline,
            "staging never reached the verification"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "pixi-airgap ended early"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let status = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{err}");
    assert!(err.contains(&format!("interrupted by {name}")), "{err}");
}

#[test]
fn sigint_removes_the_container() {
    interrupt_while_verifying("-INT", "SIGINT");
}

#[test]
fn sigterm_removes_the_container_too() {
    interrupt_while_verifying("-TERM", "SIGTERM");
}

/// Safety round 2, item 4: a command that prints 1.5 GB leaves pixi-airgap under 64 MiB of
/// memory (its peak, read from /proc while it runs) and the workdir small: the log is cut at
/// `PIXI_AIRGAP_MAX_LOG_BYTES` and says so, and the expected text, printed first, is still found.
#[test]
#[cfg(not(feature = "engine-podman"))]
fn a_command_that_prints_gigabytes_leaves_memory_and_the_workdir_small() {
    let Some(Locked {
        bed,
        server,
        tmp,
        project,
        leftovers: _leftovers,
    }) = Locked::fixture("single")
    else {
        return;
    };
    let workdir = tmp.path().join("wd");
    let mut child = bed
        .stage_host(Some(&server), &project, &workdir)
        .args([
            "--verify-expect",
            "FIRST-LINE-MARK",
            "--verify-run",
            "--",
            "sh",
            "-c",
            "echo FIRST-LINE-MARK; yes 'a line of output from a chatty command' | head -c 1500000000",
        ])
        .spawn();
    let pid = child.id();
    let mut pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut pipe, &mut text).unwrap();
        text
    });
    // VmHWM is the peak resident set so far: the last reading before the exit is the peak.
    let mut peak_kib = 0_u64;
    let status = loop {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            if let Some(kib) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak_kib = peak_kib.max(kib);
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let err = reader.join().unwrap();
    eprintln!("{err}");
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(peak_kib > 0, "no reading of /proc/{pid}/status");
    assert!(
        peak_kib < 64 * 1024,
        "peak RSS {} MiB for 1.5 GB of output",
        peak_kib / 1024
    );
    assert!(err.contains("PIXI_AIRGAP_MAX_LOG_BYTES"), "{err}");
    let mut total = 0;
    let mut cut_log = None;
    // What the output can grow: the logs in `out/` (the rest of the workdir is the cache and
    // the helper binary, the same whatever the command prints).
    for entry in walkdir::WalkDir::new(workdir.join("out")) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let len = entry.metadata().unwrap().len();
            total += len;
            if len > 1 << 20 {
                cut_log = Some(entry.path().to_path_buf());
            }
        }
    }
    assert!(total < 20 << 20, "the workdir's logs hold {total} bytes");
    let log = cut_log.expect("a log of the chatty command");
    let text = std::fs::read(&log).unwrap();
    assert!(text.len() < (16 << 20) + (1 << 20), "{} bytes", text.len());
    let text = String::from_utf8_lossy(&text);
    assert!(text.contains("FIRST-LINE-MARK"));
    assert!(
        text.contains("passed the log limit of 16777216 bytes (PIXI_AIRGAP_MAX_LOG_BYTES)"),
        "the cut is not said in {}",
        log.display()
    );
    // The log ends with the output's end, after the note.
    let end = &text[text.len() - 100..];
    assert!(
        "a line of output from a chatty command\n"
            .repeat(5)
            .contains(end),
        "{end:?}"
    );
    record_count(&format!(
        "unbounded output: 1.5 GB printed, peak RSS {} MiB, logs {} MiB",
        peak_kib / 1024,
        total >> 20
    ));
}

/// The build container runs an image we do not trust: without the capabilities pixi does not
/// need (raw sockets, device nodes, ...), without new privileges, and with the memory and process
/// limits of `--memory` / `--pids-limit`; a bad value is refused by its flag before anything starts.
#[test]
#[cfg(not(feature = "engine-podman"))]
fn the_build_container_is_confined() {
    let Some(Locked {
        bed,
        server,
        tmp,
        project,
        leftovers: _leftovers,
    }) = Locked::fixture("single")
    else {
        return;
    };
    let workdir = tmp.path().join("wd");
    let probe = "grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; \
                 echo pids=$(cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max); \
                 echo memory=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes)";
    bed.stage_host(Some(&server), &project, &workdir)
        .args(["--memory", "1g", "--pids-limit", "500"])
        .args(["--verify-run", "--", "sh", "-c", probe])
        .assert_success();
    let log = std::fs::read_to_string(workdir.join("out/verify.log")).unwrap();
    let cap_eff = log
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|hex| u64::from_str_radix(hex.trim(), 16).unwrap())
        .unwrap_or_else(|| panic!("no CapEff in {log}"));
    let mut tried = 0;
    // Bit numbers from linux/capability.h.
    for (name, bit) in [
        ("NET_RAW", 13),
        ("MKNOD", 27),
        ("SYS_CHROOT", 18),
        ("SETPCAP", 8),
        ("SETFCAP", 31),
        ("AUDIT_WRITE", 29),
        ("NET_BIND_SERVICE", 10),
    ] {
        tried += 1;
        assert_eq!(cap_eff & (1 << bit), 0, "{name} is still there: {log}");
    }
    // What pixi needs stays.
    for (name, bit) in [("CHOWN", 0), ("DAC_OVERRIDE", 1), ("FOWNER", 3)] {
        assert_ne!(cap_eff & (1 << bit), 0, "{name} was dropped: {log}");
    }
    tried += 3;
    assert!(log.contains("NoNewPrivs:\t1"), "{log}");
    assert!(log.contains("pids=500"), "{log}");
    assert!(log.contains(&format!("memory={}", 1u64 << 30)), "{log}");

    for (flag, value) in [
        ("--memory", "lots"),
        ("--memory", "1m"),
        ("--pids-limit", "3"),
    ] {
        tried += 1;
        bed.stage_host(Some(&server), &project, &tmp.path().join("wd-bad"))
            .args([flag, value])
            .assert_exit(2, flag);
    }
    assert!(!tmp.path().join("wd-bad").exists());
    record_count(&format!(
        "confinement: {tried} capability, privilege and limit checks on the build container"
    ));
}
