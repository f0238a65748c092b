//! End-to-end tests of `pack`, the one-command pipeline, and of `--json` and completions.

use std::path::Path;

use crate::common::*;

fn pack(
    bed: &Testbed,
    server: &ChannelServer,
    project: &Path,
    workdir: &Path,
    extra: &[&str],
) -> std::process::Output {
    bed.pack(server, project, workdir).args(extra).output()
}

#[test]
fn pack_makes_a_verified_product_and_identical_archives() {
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
    let mut reports = Vec::new();
    for run in ["a", "b"] {
        let workdir = tmp.path().join(format!("wd-{run}"));
        let mut args = vec![
            "--archive",
            "tar.zst",
            "--json",
            "--verify-task",
            "smoke",
            "--verify-expect",
            "hello from the air gap",
        ];
        // The second run writes parts for small media: joined, they are the first run's archive.
        if run == "b" {
            args.extend(["--split-size", "4KiB"]);
        }
        let output = pack(&bed, &server, &project, &workdir, &args);
        assert_eq!(output.status.code(), Some(0));
        let report: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("--json report");
        assert_eq!(report["result"], "success");
        let phases: Vec<&str> = report["phases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            phases,
            ["stage", "make-product", "verify-product", "archive"]
        );
        assert_eq!(report["proof"]["network_mode"], "none");
        assert_eq!(report["proof"]["result"], "success");
        assert_eq!(report["product"]["packages"], 2);
        assert!(report["image"]["id"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"));
        // No --verify-image: the build image proved its own product, and the report says so.
        assert_eq!(report["proof_image_independent"], false);
        let err = stderr(&output);
        assert!(err.contains("vouches for it"), "{err}");
        assert!(err.contains("proof image     the build image"), "{err}");
        for text in [
            "pack summary",
            "verify-product",
            "product.tar.zst",
            "proof logs",
        ] {
            assert!(err.contains(text), "summary lacks {text}: {err}");
        }
        let archive = workdir.join("product.tar.zst");
        if run == "b" {
            assert!(!archive.exists(), "a split archive is never whole on disk");
            let parts = report["archive"]["split"]["parts"].as_array().unwrap();
            assert!(parts.len() > 1, "{parts:?}");
            assert!(err.contains("join with"), "{err}");
            // The media runbook: join-product.sh checks, joins and unpacks.
            let installed = tmp.path().join("installed");
            let join = std::process::Command::new("sh")
                .arg(workdir.join("join-product.sh"))
                .arg("--extract")
                .arg(&installed)
                .output()
                .unwrap();
            assert_eq!(join.status.code(), Some(0), "{}", stderr(&join));
            pixi_airgap::product::manifest::check(&installed.join("product")).unwrap();
        }
        let sum = std::fs::read_to_string(workdir.join("product.tar.zst.sha256")).unwrap();
        assert!(
            sum.ends_with(&format!("{}  product.tar.zst\n", sha256_file(&archive))),
            "{sum}"
        );
        assert!(workdir.join("proof/verify-report.json").is_file());
        reports.push((std::fs::read(&archive).unwrap(), report));
    }
    assert!(
        reports[0].0 == reports[1].0,
        "two pack runs of the same project gave different archives"
    );

    // The archive unpacks to a product that matches its manifest.
    let unpacked = tmp.path().join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    let decoder = zstd::Decoder::new(reports[0].0.as_slice()).unwrap();
    pixi_airgap::tar::extract::extract_reader(
        decoder,
        &unpacked,
        None,
        None,
        pixi_airgap::tar::extract::ExtractLimits::default(),
        |_| false,
    )
    .unwrap();
    pixi_airgap::product::manifest::check(&unpacked.join("product")).unwrap();
}

/// Without `--verify-image` the build image vouches for its own proof: `pack` says so before it
/// starts (here it then stops, the engine being unreachable on purpose); with another proof image
/// it does not.
#[test]
#[cfg(not(any(feature = "engine-podman", feature = "engine-remote")))]
fn pack_says_when_the_build_image_vouches_for_its_own_proof() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("multi-env");
    copy_tree(&fixtures().join("locks/v4-multi"), &project);
    for (extra, warned) in [
        (vec![], true),
        (
            vec!["--verify-image", "pixi-airgap-testbed:pixi-0.15.2"],
            true,
        ),
        (vec!["--verify-image", "some-other-image:1"], false),
    ] {
        let workdir = tmp.path().join(format!("wd-{}", extra.len()));
        let output = TestCommand::new()
            .without_docker()
            .args(["pack", "--image", "pixi-airgap-testbed:pixi-0.15.2"])
            .path_arg("--project-dir", &project)
            .path_arg("--workdir", &workdir)
            .args(&extra)
            .output();
        assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
        assert_eq!(
            stderr(&output).contains("the image that built the product also vouches for it"),
            warned,
            "{extra:?}: {}",
            stderr(&output)
        );
    }
}

#[test]
#[cfg(not(any(feature = "engine-podman", feature = "engine-remote")))]
fn pack_works_on_the_other_fixtures() {
    let Some(bed) = testbed() else { return };
    let server = ChannelServer::start(&bed);
    // Several environments; the proof bootstraps all of them and verifies in `default`.
    let (tmp, project) = locked_fixture(&bed, &server, "multi");
    let workdir = tmp.path().join("wd-multi");
    let output = pack(
        &bed,
        &server,
        &project,
        &workdir,
        &["--json", "--verify-task", "smoke", "--verify-user", "4242"],
    );
    assert_eq!(output.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        report["stage"]["environments"],
        serde_json::json!(["default", "alpha", "beta"])
    );
    assert_eq!(report["proof"]["user"], "4242:4242");
    assert_eq!(report["product"]["packages"], 4);

    // Links, odd names, resources and secrets; the verification is a script from the project.
    let (tmp, project) = locked_fixture(&bed, &server, "stager");
    let resources = tmp.path().join("res");
    dress_stager_project(&project, &resources);
    let workdir = tmp.path().join("wd-stager");
    let (r, script) = (
        resources.display().to_string(),
        project.join("ci/check.sh").display().to_string(),
    );
    let output = pack(
        &bed,
        &server,
        &project,
        &workdir,
        &[
            "--json",
            "--resources-dir",
            &r,
            "--verify-script",
            &script,
            "--verify-expect",
            "script-ok",
            "--archive",
            "tar",
        ],
    );
    assert_eq!(output.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["proof"]["verification"]["passed"], true);
    let product = workdir.join("product");
    assert_eq!(
        sha256_file(&product.join("res/models/big.bin")),
        sha256_file(&resources.join("models/big.bin"))
    );
    assert!(!product.join("stager/.env").exists() && !product.join("res/.npmrc").exists());
    assert!(workdir.join("product.tar").is_file());
}

#[test]
fn pack_stops_at_the_first_failure_with_its_exit_code() {
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
    let output = pack(
        &bed,
        &server,
        &project,
        &workdir,
        &["--verify-run", "--", "false"],
    );
    assert_exit(&output, 1, "FAILED: the verification failed while staging");
    assert!(
        !workdir.join("product").exists(),
        "no product after a failed staging verification"
    );

    let workdir = tmp.path().join("wd-proof");
    let output = pack(
        &bed,
        &server,
        &project,
        &workdir,
        &["--verify-image", &bed.nopixi_image],
    );
    assert_eq!(
        output.status.code(),
        Some(3),
        "an offline image without pixi is an infrastructure error"
    );
    assert!(
        workdir.join("product/pixi-airgap.json").is_file(),
        "the product was made before the proof"
    );
}

#[test]
#[cfg(not(any(feature = "engine-podman", feature = "engine-remote")))]
fn completions_are_generated() {
    for shell in ["bash", "zsh", "fish"] {
        let out = TestCommand::new().args(["completions", shell]).output();
        assert_success(&out);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("stage-container") && text.contains("verify-product"),
            "{shell}"
        );
    }
}
