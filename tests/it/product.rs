//! End-to-end tests of `make-product` and `verify-product`: the offline proof, and the negative
//! controls that show the proof can fail.

use crate::common::*;

#[test]
fn single_env_product_installs_and_verifies_with_the_network_cut() {
    let Some(bed) = testbed() else { return };
    let server = ChannelServer::start(&bed);
    let (tmp, workdir, name) = staged(
        &bed,
        &server,
        "single",
        &[
            "--verify-task",
            "smoke",
            "--verify-expect",
            "hello from the air gap",
        ],
    );
    let leftovers = LeftoverGuard::new(tmp.path());
    assert!(workdir.join("helpers/pixi-airgap").is_file());
    assert!(workdir
        .join("helpers/make-archive-ready-product.sh")
        .is_file());

    let output = make_product_cmd(&workdir, &name)
        .arg("--json")
        .assert_success();
    let product = workdir.join("product");
    let made: serde_json::Value = serde_json::from_slice(&output.stdout).expect("--json report");
    assert_eq!(made["product_dir"], product.display().to_string());
    assert_eq!(
        made["manifest"],
        product.join("pixi-airgap.json").display().to_string()
    );
    assert_eq!(made["environments"], serde_json::json!(["default"]));
    let manifest_now = read_json(&product.join("pixi-airgap.json"));
    assert_eq!(
        made["files"],
        manifest_now["files"].as_array().unwrap().len()
    );
    for part in [
        "single-env/pixi.toml",
        "single-env/pixi.lock",
        "envs.sh",
        "bootstrap-project.sh",
        "pixi-airgap.json",
    ] {
        assert!(product.join(part).exists(), "{part} missing");
    }
    assert!(product.join("pkg-cache/pkgs/airgap-hello-1.0.0-0").is_dir());
    assert!(!product.join("res").exists(), "no resources, no res/");
    assert!(!product.join("single-env/.pixi/envs").exists());

    let manifest = read_json(&product.join("pixi-airgap.json"));
    assert_eq!(manifest["format_version"], 1);
    assert_eq!(manifest["project_name"], "single-env");
    assert_eq!(manifest["environments"], serde_json::json!(["default"]));
    assert_eq!(manifest["platform"], "linux-64");
    assert_eq!(manifest["pixi_version"], bed.pixi_version());
    assert!(manifest["image"]["id"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    let lock = pixi_airgap::pixi::LockInfo::read(&product.join("single-env")).unwrap();
    assert_eq!(manifest["lock"]["sha256"], lock.sha256);
    assert_eq!(manifest["lock"]["format_version"], lock.version.unwrap());
    assert_eq!(manifest["verification"]["spec"]["task"], "smoke");
    let files = manifest["files"].as_array().unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f["path"].as_str().unwrap()).collect();
    // Listed once each, in the order make-product wrote them: its own files, the project, the
    // package cache.
    let part = |p: &str| match p {
        ".pixi-airgap-product"
        | "envs.sh"
        | "bootstrap-project.sh"
        | "sbom.cdx.json"
        | "check-product.sh"
        | "product-facts.txt" => 0,
        p if p.starts_with("single-env/") => 1,
        p if p.starts_with("pkg-cache/") => 2,
        // Written once the trees are in: it lists their folders and links.
        "product-tree.txt" => 3,
        p => panic!("unexpected entry {p}"),
    };
    assert!(
        paths.windows(2).all(|w| part(w[0]) <= part(w[1])),
        "{paths:?}"
    );
    let unique: std::collections::BTreeSet<&str> = paths.iter().copied().collect();
    assert_eq!(unique.len(), paths.len(), "{paths:?}");
    // The product's shape, the same on every pixi line: everything but the package cache and the
    // project's `.pixi/` files, whose layout is pixi's.
    let tree: String = unique
        .iter()
        .filter(|p| !p.starts_with("pkg-cache/") && !p.contains("/.pixi/"))
        .map(|p| format!("{p}\n"))
        .collect();
    insta::assert_snapshot!("product-tree-single", tree);
    let boot = files
        .iter()
        .find(|f| f["path"] == "bootstrap-project.sh")
        .unwrap();
    assert_eq!(boot["executable"], true);
    assert_eq!(
        boot["size"],
        std::fs::metadata(product.join("bootstrap-project.sh"))
            .unwrap()
            .len()
    );

    // The proof, with the verification recorded at staging time.
    let out = tmp.path().join("proof");
    let output = verify_product(&bed, &product, &out, &name, &["--json"]);
    assert_success(&output);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report, read_json(&out.join("verify-report.json")));
    assert_eq!(report["result"], "success");
    assert_eq!(report["network_mode"], "none");
    assert_eq!(report["network_interfaces"], serde_json::json!(["lo"]));
    assert_eq!(report["bootstrap"]["exit_code"], 0);
    assert_eq!(report["verification"]["passed"], true);
    assert!(report["image"]["id"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    // The engine that ran the proof: the one the tests talk to (Docker or Podman).
    assert_eq!(
        report["engine"],
        serde_json::to_value(pixi_airgap::records::EngineRecord::from(
            bed.docker.engine()
        ))
        .unwrap()
    );
    assert!(
        matches!(report["engine"]["name"].as_str(), Some("Docker" | "Podman")),
        "{}",
        report["engine"]
    );
    // ... and how it was reached (local socket, TLS, SSH), with its address.
    if let Some(transport) = expected_transport() {
        assert_eq!(report["engine"]["transport"], transport.as_str());
    }
    assert!(report["engine"]["host"]
        .as_str()
        .is_some_and(|h| h.contains("://")));
    assert_eq!(report["pixi_version"], bed.pixi_version());
    assert_ne!(
        report["product_path_in_container"],
        product.display().to_string()
    );
    let boot_log = std::fs::read_to_string(out.join("proof-bootstrap.log")).unwrap();
    assert!(boot_log.contains("is installed"), "{boot_log}");
    let verify_log = std::fs::read_to_string(out.join("proof-verify.log")).unwrap();
    assert!(
        verify_log.contains("hello from the air gap"),
        "{verify_log}"
    );
    leftovers.assert_clean();

    // A verification given on the command line replaces the recorded one.
    let out2 = tmp.path().join("proof2");
    let output = verify_product(
        &bed,
        &product,
        &out2,
        &name,
        &[
            "--verify-run",
            "--",
            "sh",
            "-c",
            "echo custom-check; exit 4",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(std::fs::read_to_string(out2.join("proof-verify.log"))
        .unwrap()
        .contains("custom-check"));
    assert_eq!(
        read_json(&out2.join("verify-report.json"))["result"],
        "verification-failed"
    );

    // The helper in the workdir makes a product too, without anything installed.
    let helper_out = tmp.path().join("helper-product");
    let status = std::process::Command::new("sh")
        .arg(workdir.join("helpers/make-archive-ready-product.sh"))
        .args(["--output", &helper_out.display().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Same workdir, same manifest bytes.
    assert_eq!(
        std::fs::read(helper_out.join("pixi-airgap.json")).unwrap(),
        std::fs::read(product.join("pixi-airgap.json")).unwrap()
    );
}

#[test]
#[cfg(not(feature = "engine-remote"))]
fn multi_env_product_verifies_as_a_non_root_user_after_moving() {
    let Some(bed) = testbed() else { return };
    let server = ChannelServer::start(&bed);
    let (tmp, workdir, name) = staged(&bed, &server, "multi", &["--verify-task", "smoke"]);
    let output = make_product(&workdir, &name, None);
    assert_success(&output);
    // Move and rename the product: it must not depend on where it was made.
    let moved = tmp.path().join("elsewhere/renamed-product");
    std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
    std::fs::rename(workdir.join("product"), &moved).unwrap();
    let out = tmp.path().join("proof");
    let output = verify_product(&bed, &moved, &out, &name, &["--user", "1000:1000"]);
    assert_success(&output);
    let report = read_json(&out.join("verify-report.json"));
    assert_eq!(report["user"], "1000:1000");
    let boot = std::fs::read_to_string(out.join("proof-bootstrap.log")).unwrap();
    for env in ["default", "alpha", "beta"] {
        assert!(
            boot.contains(&format!("installing environment '{env}'")),
            "{boot}"
        );
    }
}

#[test]
#[cfg(not(feature = "engine-remote"))]
fn bootstrap_runs_twice_offline() {
    let Some(bed) = testbed() else { return };
    let server = ChannelServer::start(&bed);
    let (_tmp, workdir, name) = staged(&bed, &server, "single", &[]);
    assert_eq!(make_product(&workdir, &name, None).status.code(), Some(0));
    let product = workdir.join("product");
    let docker = bed.docker.clone();
    let outputs = runtime().block_on(async {
        use pixi_airgap::docker::{ContainerSpec, ExecSpec};
        let spec = ContainerSpec { image: bed.image.clone(), network: Some("none".into()), ..Default::default() };
        let container = docker.start_container(&spec).await.unwrap();
        upload_tree(&docker, container.id(), &product, "/", "somewhere/else").await;
        let mut outs = Vec::new();
        for _ in 0..2 {
            let exec = ExecSpec::new(["sh", "/somewhere/else/bootstrap-project.sh"]);
            outs.push(container.exec(&exec, None).await.unwrap());
        }
        // Then a user's session: source envs.sh from another folder with its path, run the tool.
        let exec = ExecSpec::new(["bash", "-c", "cd / && . /somewhere/else/envs.sh && cd /somewhere/else/single-env && pixi run hello-airgap"]);
        outs.push(container.exec(&exec, None).await.unwrap());
        container.remove().await.unwrap();
        outs
    });
    for (i, out) in outputs.iter().enumerate() {
        assert!(out.success(), "run {i} failed:\n{}", out.text());
    }
    assert!(
        outputs[1].text().contains("is installed"),
        "{}",
        outputs[1].text()
    );
    assert!(
        outputs[2].text().contains("hello from the air gap"),
        "{}",
        outputs[2].text()
    );
}

#[test]
fn missing_package_makes_the_offline_proof_fail() {
    let Some(bed) = testbed() else { return };
    let server = ChannelServer::start(&bed);
    let (tmp, workdir, name) = staged(&bed, &server, "single", &["--verify-task", "smoke"]);
    let _leftovers = LeftoverGuard::new(tmp.path());
    // Drop one locked package from the cache, then make a product that is consistent with its
    // manifest but lacks the package: only the offline install can notice.
    let pkg = workdir.join("pixi-cache/pkgs/airgap-base-1.0.0-0");
    assert!(pkg.is_dir());
    std::fs::remove_dir_all(&pkg).unwrap();
    let product = tmp.path().join("product-without-base");
    let output = make_product(&workdir, &name, Some(&product));
    assert_success(&output);
    let out = tmp.path().join("proof");
    let output = verify_product(&bed, &product, &out, &name, &[]);
    assert_exit(&output, 1, "did not install without network");
    let report = read_json(&out.join("verify-report.json"));
    assert_eq!(report["result"], "bootstrap-failed");
    assert_ne!(report["bootstrap"]["exit_code"], 0);
    let log = std::fs::read_to_string(out.join("proof-bootstrap.log")).unwrap();
    assert!(
        log.contains("airgap-base"),
        "the log should name what could not be fetched:\n{log}"
    );
}

#[test]
fn a_flipped_byte_is_reported_by_name() {
    let Some(bed) = testbed() else { return };
    let server = ChannelServer::start(&bed);
    let (tmp, workdir, name) = staged(&bed, &server, "single", &[]);
    let _leftovers = LeftoverGuard::new(tmp.path());
    assert_eq!(make_product(&workdir, &name, None).status.code(), Some(0));
    let product = workdir.join("product");
    let victim = product.join("pkg-cache/pkgs/airgap-hello-1.0.0-0/bin/hello-airgap");
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[10] ^= 0x01;
    std::fs::write(&victim, bytes).unwrap();
    std::fs::remove_file(product.join("single-env/pixi.toml")).unwrap();
    let out = tmp.path().join("proof");
    let output = verify_product(&bed, &product, &out, &name, &[]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("changed: pkg-cache/pkgs/airgap-hello-1.0.0-0/bin/hello-airgap"),
        "{err}"
    );
    assert!(err.contains("missing: single-env/pixi.toml"), "{err}");
}

#[test]
#[cfg(not(any(feature = "engine-podman", feature = "engine-remote")))]
fn interrupted_make_product_leaves_the_previous_product() {
    let Some(bed) = testbed() else { return };
    let server = ChannelServer::start(&bed);
    let (_tmp, workdir, name) = staged(&bed, &server, "single", &[]);
    assert_eq!(make_product(&workdir, &name, None).status.code(), Some(0));
    let product = workdir.join("product");
    let before = std::fs::read(product.join("pixi-airgap.json")).unwrap();
    // A large file makes the next run slow enough to be killed half-way.
    let big = workdir.join("pixi-cache/pypi/big.bin");
    std::fs::create_dir_all(big.parent().unwrap()).unwrap();
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
        let chunk: Vec<u8> = (0..1024 * 1024).map(|i| (i * 7 % 251) as u8).collect();
        for _ in 0..400 {
            f.write_all(&chunk).unwrap();
        }
    }
    let partial_exists = || {
        std::fs::read_dir(&workdir).unwrap().flatten().any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".product.partial-")
        })
    };
    // Starts make-product and sends `signal` once it is writing the new product.
    let interrupt = |signal: &str| {
        let mut child = make_product_cmd(&workdir, &name).spawn();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !partial_exists() {
            assert!(
                child.try_wait().unwrap().is_none(),
                "make-product finished before it could be interrupted"
            );
            assert!(std::time::Instant::now() < deadline);
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let status = std::process::Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        child.wait_with_output().unwrap()
    };

    // Ctrl-C: make-product stops, removes its partial product, exits 130.
    let output = interrupt("-INT");
    assert_eq!(
        output.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !partial_exists(),
        "the partial product was not removed after SIGINT"
    );
    assert_eq!(
        std::fs::read(product.join("pixi-airgap.json")).unwrap(),
        before,
        "previous product changed"
    );
    pixi_airgap::product::manifest::check(&product).expect("the previous product is intact");

    // SIGKILL: no chance to clean up; the previous product is still intact.
    let output = interrupt("-KILL");
    assert_eq!(
        output.status.code(),
        None,
        "killed by a signal, not finished"
    );
    assert!(partial_exists());
    assert_eq!(
        std::fs::read(product.join("pixi-airgap.json")).unwrap(),
        before,
        "previous product changed"
    );
    pixi_airgap::product::manifest::check(&product).expect("the previous product is intact");
    // The next run cleans up what the killed one left and replaces the product.
    std::fs::remove_file(&big).unwrap();
    assert_eq!(make_product(&workdir, &name, None).status.code(), Some(0));
    assert!(!partial_exists());
    pixi_airgap::product::manifest::check(&product).unwrap();
}

/// A product bootstrapped in place keeps its `.pixi/envs`. verify-product uploads only the
/// manifest's entries, so that leftover environment cannot stand in for an install from
/// `pkg-cache/`: a product that lacks a package fails its proof even with a complete environment
/// from an earlier bootstrap beside it. (With the whole folder uploaded, as verify-product did
/// before, this proof passed on pixi 0.15.2: the install saw the environment and did nothing.)
#[test]
#[cfg(not(any(feature = "engine-podman", feature = "engine-remote")))]
fn a_leftover_environment_cannot_stand_in_for_the_package_cache() {
    let Some(bed) = testbed() else { return };
    let server = ChannelServer::start(&bed);
    let (tmp, workdir, name) = staged(&bed, &server, "single", &["--verify-task", "smoke"]);
    let _leftovers = LeftoverGuard::new(tmp.path());
    assert_eq!(make_product(&workdir, &name, None).status.code(), Some(0));
    let complete = workdir.join("product");
    // A real environment: bootstrap the complete product in a container, at the very path the
    // proof uses, and bring its `.pixi/` back (a user who bootstrapped the product where it lies
    // has exactly this). Uploaded, it would look installed to the proof's `pixi install`.
    let envs_tar = runtime().block_on(async {
        use futures_util::TryStreamExt;
        use pixi_airgap::docker::{ContainerSpec, ExecSpec};
        let spec = ContainerSpec {
            image: bed.image.clone(),
            network: Some("none".into()),
            ..Default::default()
        };
        let container = bed.docker.start_container(&spec).await.unwrap();
        upload_tree(
            &bed.docker,
            container.id(),
            &complete,
            "/",
            "pixi-airgap-proof/product",
        )
        .await;
        let boot = container
            .exec(
                &ExecSpec::new(["sh", "/pixi-airgap-proof/product/bootstrap-project.sh"]),
                None,
            )
            .await
            .unwrap();
        assert!(boot.success(), "{}", boot.text());
        let chunks: Vec<bytes::Bytes> = bed
            .docker
            .download(
                container.id(),
                &format!("/pixi-airgap-proof/product/{name}/.pixi"),
            )
            .try_collect()
            .await
            .unwrap();
        container.remove().await.unwrap();
        chunks.concat()
    });
    // The same project, one package short in its cache (and in its manifest, which matches).
    std::fs::remove_dir_all(workdir.join("pixi-cache/pkgs/airgap-base-1.0.0-0")).unwrap();
    let product = tmp.path().join("product-without-base");
    let output = make_product(&workdir, &name, Some(&product));
    assert_success(&output);
    tar::Archive::new(envs_tar.as_slice())
        .unpack(product.join(&name))
        .unwrap();
    let leftover = product.join(&name).join(".pixi/envs/default/conda-meta");
    assert!(
        std::fs::read_dir(&leftover)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("airgap-base")),
        "the leftover environment has the package the cache lacks"
    );

    let out = tmp.path().join("proof");
    let output = verify_product(&bed, &product, &out, &name, &[]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("not uploaded: `{name}/.pixi/envs`"))
            && err.contains("runtime state from bootstrapping in place"),
        "{err}"
    );
    let report = read_json(&out.join("verify-report.json"));
    assert_eq!(report["result"], "bootstrap-failed");
    let state = report["runtime_state"].as_array().unwrap();
    assert!(
        state.contains(&serde_json::json!(format!("{name}/.pixi/envs"))),
        "{state:?}"
    );
    let log = std::fs::read_to_string(out.join("proof-bootstrap.log")).unwrap();
    assert!(log.contains("airgap-base"), "{log}");
}
