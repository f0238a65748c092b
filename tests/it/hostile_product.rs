//! Adversarial inputs to the product and its scripts (issue 18, second audit): values that could
//! turn into shell code in the product's scripts, links planted where make-product or
//! verify-product write, output folders that are not ours, a killed swap, control characters on
//! the terminal, and a user's `CDPATH`. The hostile values are fixtures in
//! tests/fixtures/hostile/; the workdirs are written by hand, as a hostile or damaged staging run
//! would leave them.

use std::path::{Path, PathBuf};

use crate::common::*;

fn hostile_fixture(name: &str) -> PathBuf {
    fixtures().join("hostile").join(name)
}

/// A workdir as a staging run leaves it, written by hand with the given values (what a hostile
/// container or an edited `out/stage.json` could put there).
fn hand_staged(root: &Path, name: &str, pixi_version: &str, environments: &[&str]) -> PathBuf {
    let project = root.join("project").join(name);
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("pixi.toml"),
        "[project]\nname = \"demo\"\nchannels = []\nplatforms = [\"linux-64\"]\n",
    )
    .unwrap();
    std::fs::write(project.join("pixi.lock"), "version: 4\n").unwrap();
    let pkg = root.join("pixi-cache/pkgs/a-1-0/bin");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("tool"), "#!/bin/sh\n").unwrap();
    std::fs::create_dir_all(root.join("resources")).unwrap();
    std::fs::create_dir_all(root.join("out")).unwrap();
    std::fs::write(
        root.join(".pixi-airgap-workdir"),
        "pixi-airgap workdir: pixi-airgap may replace project/, resources/, pixi-cache/, out/, helpers/ and pixi-bin/ here\n",
    )
    .unwrap();
    let stage = serde_json::json!({
        "format_version": 1, "tool_version": "0", "command": "stage-host",
        "project_name": name, "manifest": "pixi.toml", "environments": environments,
        "image": "img", "image_id": "sha256:abc", "image_repo_digests": [],
        "pixi_version": pixi_version, "platform": "linux-64", "container_workdir": "/workdir",
        "lock_sha256": sha256_file(&project.join("pixi.lock")), "lock_version": 4,
        "excluded": {"counts": {}, "secrets": [], "skipped_special": []},
        "installs": [], "verification": null, "workdir": root,
        "started_at": "2026-01-01T00:00:00Z", "finished_at": "2026-01-01T00:01:00Z",
        "result": "success"
    });
    std::fs::write(root.join("out/stage.json"), stage.to_string()).unwrap();
    root.to_path_buf()
}

/// The hostile values of `tests/fixtures/hostile/<file>`, one a line (`\n` written as `\n`).
fn hostile_values(file: &str) -> Vec<String> {
    std::fs::read_to_string(hostile_fixture(file))
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.replace("\\n", "\n"))
        .collect()
}

/// Item 1: a project name, an environment name or a pixi version that could become shell code in
/// `bootstrap-project.sh` or `envs.sh` (or escape a comment there) is refused with exit 2, at
/// staging and again at make-product; nothing is rendered, nothing runs.
#[test]
fn template_values_that_could_inject_shell_code_are_refused() {
    let mut tried = 0;
    let tmp = tempfile::tempdir().unwrap();
    let pwned = tmp.path().join("PWNED");
    let subst = |s: &str| s.replace("@PWNED@", &pwned.display().to_string());

    // make-product of a workdir whose record carries a hostile pixi version (a pixi whose
    // `--version` prints shell text), with a project name that used to re-expand it.
    for version in hostile_values("injection-pixi-versions") {
        for name in ["demo", "demo@PIXI_VERSION@"] {
            tried += 1;
            let root = tmp.path().join(format!("wd-{tried}"));
            hand_staged(&root, name, &subst(&version), &["default"]);
            let product = tmp.path().join(format!("product-{tried}"));
            let out = make_product_cmd(&root, name)
                .path_arg("--output", &product)
                .output();
            assert_exit(&out, 2, "error: ");
            let text = stderr(&out);
            assert!(
                text.contains("is not a pixi version") || text.contains("is not allowed"),
                "{version:?}: {text}"
            );
            assert!(!product.exists(), "{version:?}: a product was written");
        }
    }
    // Project and environment names outside the safe set, in a staged record.
    for name in hostile_values("injection-names") {
        tried += 1;
        let root = tmp.path().join(format!("wd-{tried}"));
        hand_staged(&root, "demo", "pixi 0.15.2", &["default", &subst(&name)]);
        let product = tmp.path().join(format!("product-{tried}"));
        let out = make_product_cmd(&root, "demo")
            .path_arg("--output", &product)
            .output();
        assert_exit(&out, 2, "environment name");
        assert!(!product.exists());
    }
    // The same names in a project's manifest: refused before any engine work.
    for (i, name) in hostile_values("injection-names").into_iter().enumerate() {
        let name = subst(&name);
        for (field, manifest) in [
            (
                "project name",
                format!(
                    "[project]\nname = {}\nchannels = []\nplatforms = [\"linux-64\"]\n",
                    toml_string(&name)
                ),
            ),
            (
                "environment name",
                format!(
                    "[project]\nname = \"demo\"\nchannels = []\nplatforms = [\"linux-64\"]\n[feature.x.dependencies]\n[environments]\n{} = [\"x\"]\n",
                    toml_string(&name)
                ),
            ),
        ] {
            // `a.b` is a fine project name.
            if field == "project name" && pixi_airgap::names::project_name_problem(&name).is_none()
            {
                continue;
            }
            tried += 1;
            let project = tmp.path().join(format!("p-{i}-{tried}"));
            std::fs::create_dir_all(&project).unwrap();
            std::fs::write(project.join("pixi.toml"), manifest).unwrap();
            std::fs::write(project.join("pixi.lock"), "version: 4\n").unwrap();
            let workdir = tmp.path().join(format!("w-{i}-{tried}"));
            TestCommand::new()
                .without_docker()
                .args(["stage-host", "--image", "pixi-airgap-testbed:absent"])
                .path_arg("--project-dir", &project)
                .path_arg("--workdir", &workdir)
                .assert_exit(2, &format!("{field} "));
            assert!(!workdir.exists());
        }
    }
    // A name the product uses for itself, as --project-name.
    for name in ["pkg-cache", "res", "bin", "envs.sh", "Pkg-Cache"] {
        tried += 1;
        let root = tmp.path().join(format!("wd-{tried}"));
        hand_staged(&root, "demo", "pixi 0.15.2", &["default"]);
        make_product_cmd(&root, name).assert_exit(2, "uses for itself");
    }
    assert!(!pwned.exists(), "injected code ran");
    record_count(&format!(
        "template injection: {tried} hostile names and pixi versions refused"
    ));
}

fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// Item 1, end to end: a container whose `pixi --version` prints shell text is refused (exit 2)
/// before anything is staged.
#[test]
fn a_pixi_version_with_shell_text_from_the_container_is_refused() {
    let Some(bed) = testbed() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("multi-env");
    copy_tree(&fixtures().join("locks/v4-multi"), &project);
    let container = runtime().block_on(async {
        let spec = pixi_airgap::docker::ContainerSpec {
            image: bed.image.clone(),
            labels: vec![("io.pixi-airgap.test".into(), "user-container".into())],
            network: Some("none".into()),
            ..Default::default()
        };
        let container = bed.docker.start_container(&spec).await.unwrap();
        upload_tree(&bed.docker, container.id(), &project, "/tmp", "multi-env").await;
        upload_tree(
            &bed.docker,
            container.id(),
            &fixtures().join("hostile"),
            "/tmp",
            "hostile",
        )
        .await;
        container
    });
    let (text, code) = in_container(
        &bed,
        &container,
        "cp /tmp/hostile/injection-pixi \"$(command -v pixi)\"",
    );
    assert_eq!(code, 0, "{text}");
    let workdir = tmp.path().join("wd");
    let out = TestCommand::new()
        .args([
            "stage-container",
            "--container-id",
            container.id(),
            "--project-path-in-container",
            "/tmp/multi-env",
            "--workdir",
            &workdir.display().to_string(),
        ])
        .output();
    let (marker, _) = in_container(&bed, &container, "ls /tmp/PWNED 2>&1 || true");
    runtime().block_on(container.remove()).unwrap();
    assert_exit(&out, 2, "which is not a pixi version");
    assert!(
        marker.contains("No such file"),
        "the version's shell text ran: {marker}"
    );
    assert!(!workdir.join("project").exists());
}

/// Item 13: a `CDPATH` the user exports must not move the product's scripts to another folder (a
/// `cd product` would go to `$CDPATH/product` and print it into the captured path).
#[test]
fn an_exported_cdpath_does_not_move_the_product_scripts() {
    use pixi_airgap::product::templates;
    // Every script we ship changes folder only in the safe form (the ones run below show that it
    // works; this keeps the scripts added later, check/join/apply, to it too).
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/product/templates");
    let mut scripts = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        scripts += 1;
        for (n, line) in text.lines().enumerate() {
            let code = line.split(" #").next().unwrap_or("");
            for (at, _) in code.match_indices("cd ") {
                let before = &code[..at];
                let is_command = before.is_empty()
                    || before.ends_with(|c: char| {
                        c == ' ' || c == '(' || c == '&' || c == ';' || c == '|'
                    });
                if is_command && !code.trim_start().starts_with('#') && !code.contains("echo") {
                    assert!(
                        before.ends_with("CDPATH='' ") && code[at..].starts_with("cd -P -- "),
                        "{}:{}: `{line}` changes folder without CDPATH='' cd -P --",
                        path.display(),
                        n + 1
                    );
                }
            }
        }
    }
    assert!(
        scripts >= 6,
        "only {scripts} templates found in {}",
        dir.display()
    );
    let tmp = tempfile::tempdir().unwrap();
    let tmp_path = std::fs::canonicalize(tmp.path()).unwrap();
    let write_product = |root: &Path| {
        std::fs::create_dir_all(root.join("pkg-cache")).unwrap();
        std::fs::create_dir_all(root.join("demo")).unwrap();
        std::fs::write(
            root.join("envs.sh"),
            templates::envs_sh("demo", "pixi 0.15.2").unwrap(),
        )
        .unwrap();
        std::fs::write(
            root.join("bootstrap-project.sh"),
            templates::bootstrap_sh("demo", "pixi 0.15.2", &["default".to_string()]).unwrap(),
        )
        .unwrap();
    };
    let work = tmp_path.join("work");
    let decoy = tmp_path.join("decoy");
    write_product(&work.join("product"));
    write_product(&decoy.join("product"));
    let decoy_envs = std::fs::read(decoy.join("product/envs.sh")).unwrap();
    let mut tried = 0;
    // Shells that know a sourced file's own path resolve `product/envs.sh` through `cd`.
    for shell in ["bash", "zsh"] {
        tried += 1;
        let out = std::process::Command::new(shell)
            .args([
                "-c",
                ". product/envs.sh && printf '%s\\n' \"$PIXI_CACHE_DIR\"",
            ])
            .current_dir(&work)
            .env("CDPATH", &decoy)
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}: {out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{}/product/pkg-cache\n", work.display()),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // bootstrap-project.sh finds its own folder, records it, then stops: no pixi on this PATH.
    for shell in ["sh", "dash", "bash"] {
        tried += 1;
        let out = std::process::Command::new(shell)
            .arg("product/bootstrap-project.sh")
            .current_dir(&work)
            .env("CDPATH", &decoy)
            .env("PATH", "/usr/bin:/bin")
            // This hand-made product has no check-product.sh or SHA256SUMS: the folder logic
            // is what is under test here (the check's own `cd` is covered by check_product.rs).
            .env("PIXI_AIRGAP_SKIP_CHECK", "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{shell}: {text}");
        assert!(text.contains("pixi is not on PATH"), "{shell}: {text}");
        let envs = std::fs::read_to_string(work.join("product/envs.sh")).unwrap();
        assert!(
            envs.contains(&format!(
                "_pixi_airgap_recorded='{}/product'\n",
                work.display()
            )),
            "{shell}: {envs}"
        );
        assert_eq!(
            std::fs::read(decoy.join("product/envs.sh")).unwrap(),
            decoy_envs
        );
    }
    record_count(&format!("CDPATH: {tried} shells and scripts kept in place"));
}

/// Item 11: a link planted in `--out-dir` where the proof writes its report or a log is refused
/// (exit 2) before any container starts, and what it points to is never written or created.
#[test]
fn links_in_the_out_dir_are_refused_not_written_through() {
    let tmp = tempfile::tempdir().unwrap();
    let root = hand_staged(&tmp.path().join("wd"), "demo", "pixi 0.15.2", &["default"]);
    let product = tmp.path().join("product");
    make_product_cmd(&root, "demo")
        .path_arg("--output", &product)
        .assert_success();
    let victim = tmp.path().join("victim.txt");
    std::fs::write(&victim, "keep me\n").unwrap();
    let mut tried = 0;
    for (name, target) in [
        ("verify-report.json", victim.clone()),
        ("proof-bootstrap.log", victim.clone()),
        ("proof-verify.log", tmp.path().join("created-outside")),
        ("verify-report.json", tmp.path().join("created-outside")),
    ] {
        for force in [false, true] {
            tried += 1;
            let out_dir = tmp.path().join(format!("out-{tried}"));
            std::fs::create_dir_all(&out_dir).unwrap();
            std::os::unix::fs::symlink(&target, out_dir.join(name)).unwrap();
            let mut cmd = TestCommand::new();
            cmd.without_docker()
                .args(["verify-product", "--image", "pixi-airgap-testbed:absent"])
                .path_arg("--product-dir", &product)
                .path_arg("--out-dir", &out_dir)
                .args(["--project-name", "demo"]);
            if force {
                cmd.arg("--force");
            }
            cmd.assert_exit(2, "is a symbolic link");
            assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me\n");
            assert!(!tmp.path().join("created-outside").exists());
            assert!(out_dir.join(name).is_symlink(), "the link itself is left");
        }
    }
    record_count(&format!(
        "out-dir links: {tried} links at the proof's outputs refused"
    ));
}

/// Item 8: make-product replaces only a folder it made (one that carries `.pixi-airgap-product`):
/// never an unmarked folder, even with `--force` or with a readable `pixi-airgap.json` in it;
/// and an earlier product that was bootstrapped (it may hold the user's files) only with
/// `--force`.
#[test]
fn make_product_replaces_only_folders_it_made() {
    let tmp = tempfile::tempdir().unwrap();
    let root = hand_staged(&tmp.path().join("wd"), "demo", "pixi 0.15.2", &["default"]);
    let make = |output: &Path, force: bool| {
        let mut cmd = make_product_cmd(&root, "demo");
        cmd.path_arg("--output", output);
        if force {
            cmd.arg("--force");
        }
        cmd.output()
    };
    let mut tried = 0;
    let first = tmp.path().join("first");
    assert_success(&make(&first, false));
    assert!(first.join(".pixi-airgap-product").is_file());

    // Unmarked folders: user data; a copy of a product's manifest beside user data; a marker
    // that is a link. Refused with and without --force; nothing in them changes.
    for case in ["data", "manifest-copy", "marker-link"] {
        for force in [false, true] {
            tried += 1;
            let dir = tmp.path().join(format!("{case}-{force}"));
            std::fs::create_dir_all(dir.join("thesis")).unwrap();
            std::fs::write(dir.join("thesis/chapter1.tex"), "years of work\n").unwrap();
            match case {
                "manifest-copy" => {
                    std::fs::copy(first.join("pixi-airgap.json"), dir.join("pixi-airgap.json"))
                        .unwrap();
                }
                "marker-link" => {
                    std::os::unix::fs::symlink(
                        first.join(".pixi-airgap-product"),
                        dir.join(".pixi-airgap-product"),
                    )
                    .unwrap();
                }
                _ => {}
            }
            let before = tree_snapshot(&dir);
            assert_exit(
                &make(&dir, force),
                2,
                "never replaces a folder it did not make",
            );
            assert_eq!(tree_snapshot(&dir), before, "{case}, force {force}");
        }
    }
    // An earlier product, not bootstrapped: replaced without --force.
    tried += 1;
    assert_success(&make(&first, false));
    // Bootstrapped (a recorded folder in envs.sh, or environments in the project): --force only.
    for how in ["recorded", "envs"] {
        tried += 1;
        let product = tmp.path().join(format!("boot-{how}"));
        assert_success(&make(&product, false));
        match how {
            "recorded" => {
                let envs = std::fs::read_to_string(product.join("envs.sh")).unwrap();
                let envs = envs.replace(
                    "_pixi_airgap_recorded=''",
                    &format!("_pixi_airgap_recorded='{}'", product.display()),
                );
                std::fs::write(product.join("envs.sh"), envs).unwrap();
            }
            _ => {
                std::fs::create_dir_all(product.join("demo/.pixi/envs/default")).unwrap();
            }
        }
        std::fs::write(product.join("demo/my-notes.txt"), "mine\n").unwrap();
        let before = tree_snapshot(&product);
        let refused = make(&product, false);
        assert_exit(&refused, 2, "was bootstrapped");
        // The command names its own flag for forcing it.
        assert!(
            stderr(&refused).contains("hint: give --force to replace it anyway"),
            "{}",
            stderr(&refused)
        );
        assert_eq!(tree_snapshot(&product), before);
        assert_success(&make(&product, true));
        assert!(!product.join("demo/my-notes.txt").exists());
    }
    record_count(&format!(
        "make-product --output: {tried} folders, only those it made replaced"
    ));
}

/// Item 2: make-product never writes through a link. A project named like the product's own
/// folders (`pkg-cache`, `res`, `bin`) whose links would overlay them, so that the cache is
/// written through a link to a folder outside, is refused (exit 2); a link that leaves the product
/// is refused before anything is written; and nothing outside the product changes.
#[test]
fn make_product_never_writes_through_links_or_onto_its_own_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(outside.join("pkgs")).unwrap();
    std::fs::write(outside.join("pkgs/keep.txt"), "keep\n").unwrap();
    let before = tree_snapshot(&outside);
    let mut tried = 0;
    // Each overlay: (project name, a link in the project, where it points).
    for (name, link) in [
        ("pkg-cache", "pkgs"),
        ("res", "x"),
        ("bin", "pixi"),
        ("Pkg-Cache", "pkgs"),
    ] {
        tried += 1;
        let root = hand_staged(
            &tmp.path().join(format!("wd-{tried}")),
            name,
            "pixi 0.15.2",
            &["default"],
        );
        std::fs::create_dir_all(root.join("resources")).unwrap();
        std::fs::write(root.join("resources/x"), "resource\n").unwrap();
        let target = if link == "pkgs" {
            outside.join("pkgs")
        } else {
            outside.join(link)
        };
        std::os::unix::fs::symlink(&target, root.join("project").join(name).join(link)).unwrap();
        let product = tmp.path().join(format!("product-{tried}"));
        let out = make_product_cmd(&root, name)
            .path_arg("--output", &product)
            .output();
        assert_exit(&out, 2, "uses for itself");
        assert_eq!(tree_snapshot(&outside), before, "{name}: written outside");
        assert!(!product.exists());
    }
    // A link out of the product: refused before the product is even started.
    for target in ["../../outside", "/etc/passwd", "sub/../../../x"] {
        tried += 1;
        let root = hand_staged(
            &tmp.path().join(format!("wd-{tried}")),
            "demo",
            "pixi 0.15.2",
            &["default"],
        );
        std::os::unix::fs::symlink(target, root.join("project/demo/escape")).unwrap();
        let product = tmp.path().join(format!("product-{tried}"));
        let out = make_product_cmd(&root, "demo")
            .path_arg("--output", &product)
            .output();
        assert_exit(&out, 2, "leaves the product");
        assert!(
            !stderr(&out).contains("writing the product into"),
            "{target}: the product was started before the link was refused"
        );
        assert!(!product.exists());
        let partials = std::fs::read_dir(tmp.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains(".partial-")
            })
            .count();
        assert_eq!(partials, 0);
    }
    record_count(&format!(
        "make-product links: {tried} overlays and escaping links refused"
    ));
}

/// Item 19: a make-product killed between the two renames of its swap leaves the old product
/// aside (`.product.old-*/product`) and nothing in place. The state is made here exactly as that
/// kill leaves it (the renames are microseconds apart, too close to hit with a signal); the next
/// run, even one that then fails, puts the old product back first, byte for byte.
#[test]
fn a_swap_killed_between_its_renames_never_loses_the_old_product() {
    let tmp = tempfile::tempdir().unwrap();
    let root = hand_staged(&tmp.path().join("wd"), "demo", "pixi 0.15.2", &["default"]);
    let product = tmp.path().join("product");
    make_product_cmd(&root, "demo")
        .path_arg("--output", &product)
        .assert_success();
    let before = tree_snapshot(&product);
    // What the first rename did, and the new product that was about to replace it.
    let aside = tmp.path().join(".product.old-Kx7Qa2");
    std::fs::create_dir(&aside).unwrap();
    std::fs::rename(&product, aside.join("product")).unwrap();
    let partial = tmp.path().join(".product.partial-Zp3Lm9");
    std::fs::create_dir_all(partial.join("demo")).unwrap();
    std::fs::write(partial.join("envs.sh"), "half written").unwrap();
    // The next run fails after it started its product (a damaged lock file).
    std::fs::write(root.join("project/demo/pixi.lock"), "{ not a lock").unwrap();
    let out = make_product_cmd(&root, "demo")
        .path_arg("--output", &product)
        .output();
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("put back"), "{}", stderr(&out));
    assert_eq!(tree_snapshot(&product), before, "the old product was lost");
    let left: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".product."))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    record_count("atomic swap: 1 kill between the renames recovered");
}

/// Item 15: the folder a product is written into is private (0700) while it is written, so the
/// files in it are never readable by other users before the product is complete; the finished
/// product is 0755. (Watched from outside while make-product copies a large resource.)
#[test]
fn a_product_being_written_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let root = hand_staged(&tmp.path().join("wd"), "demo", "pixi 0.15.2", &["default"]);
    let big = std::fs::File::create(root.join("resources/big.bin")).unwrap();
    big.set_len(16 << 20).unwrap();
    let out_parent = tmp.path().join("out");
    std::fs::create_dir(&out_parent).unwrap();
    let product = out_parent.join("product");
    let mut child = make_product_cmd(&root, "demo")
        .path_arg("--output", &product)
        .spawn();
    // Every mode each partial folder was seen with, in order (repeats folded).
    let mut seen = std::collections::BTreeMap::<String, Vec<u32>>::new();
    while child.try_wait().unwrap().is_none() {
        for entry in std::fs::read_dir(&out_parent).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(".product.partial-") {
                if let Ok(meta) = std::fs::symlink_metadata(entry.path()) {
                    let modes = seen.entry(name).or_default();
                    let mode = meta.permissions().mode() & 0o7777;
                    if modes.last() != Some(&mode) {
                        modes.push(mode);
                    }
                }
            }
        }
    }
    assert!(child.wait().unwrap().success());
    assert!(!seen.is_empty(), "make-product finished before it was seen");
    // Private from the start and while written; only the complete folder is opened to 0755,
    // the last thing before it is renamed into place (so 0755 may be seen last, never before
    // or instead of 0700).
    for (name, modes) in &seen {
        assert!(
            modes.as_slice() == [0o700] || modes.as_slice() == [0o700, 0o755],
            "{name} was seen with modes {:?} (0700 while written, then 0755 only once complete)",
            modes.iter().map(|m| format!("{m:o}")).collect::<Vec<_>>()
        );
    }
    let mode = std::fs::metadata(&product).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o755);
    record_count("temporary folders: a product being written watched, private");
}

/// Item 17: names and output that carry control characters (a file name from a container, a
/// folder name, an error's text) are printed escaped: no ESC, BEL, carriage return or other
/// control byte reaches the terminal raw, in log lines or in the error report.
#[test]
fn control_characters_never_reach_the_terminal_raw() {
    let raw_controls = |bytes: &[u8]| -> Vec<u8> {
        bytes
            .iter()
            .copied()
            .filter(|b| (*b < 0x20 && *b != b'\n' && *b != b'\t') || *b == 0x7f)
            .collect()
    };
    let tmp = tempfile::tempdir().unwrap();
    let hostile = "x\u{1b}]0;pwned\u{7}\u{1b}[2J\ry";
    let mut tried = 0;
    // The error report: a workdir that does not exist, named with control characters.
    tried += 1;
    let out = make_product_cmd(&tmp.path().join(format!("wd-{hostile}")), "demo").output();
    assert_exit(&out, 2, "\\u{1b}]0;pwned\\u{7}");
    assert_eq!(raw_controls(&out.stderr), b"", "{:?}", stderr(&out));
    // Log lines: a file name in the project the product skips (a FIFO), and the output folder.
    tried += 1;
    let root = hand_staged(&tmp.path().join("wd"), "demo", "pixi 0.15.2", &["default"]);
    let fifo = root.join("project/demo").join(format!("pipe-{hostile}"));
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let product = tmp.path().join(format!("product-{hostile}"));
    let out = make_product_cmd(&root, "demo")
        .path_arg("--output", &product)
        .output();
    assert_exit(&out, 0, "not a file, folder or symlink");
    assert!(stderr(&out).contains("\\u{d}y"), "{}", stderr(&out));
    assert_eq!(raw_controls(&out.stderr), b"", "{:?}", stderr(&out));
    record_count(&format!(
        "terminal escapes: {tried} runs with control characters in names, none printed raw"
    ));
}
