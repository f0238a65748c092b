//! The pre-flight check ("will this work offline?") and the product's SBOM: the `check` command on
//! real lock files, the stage commands refusing what cannot work before anything is uploaded, the
//! sdist and editable warnings followed through the offline proof, and the SBOM of a real product
//! validated against the CycloneDX 1.5 schema.

use std::path::{Path, PathBuf};

use crate::common::*;

fn lock_fixture(name: &str) -> PathBuf {
    fixtures().join("locks").join(name)
}

fn codes(report: &serde_json::Value) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["severity"].as_str().unwrap().to_string(),
                f["code"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pair(severity: &str, code: &str) -> (String, String) {
    (severity.to_string(), code.to_string())
}

/// The whole outcome of `check` as users read it: a lock with PyPI sources (warnings, exit 0), the
/// same lock for a pixi that cannot read it (exit 2), and a stale lock (exit 2), each with stdout
/// and stderr.
#[test]
fn check_outcomes_match_their_snapshot() {
    let v7 = lock_fixture("v7-mixed");
    let tmp = tempfile::tempdir().unwrap();
    let stale = tmp.path().join("multi");
    copy_tree(&lock_fixture("v4-multi"), &stale);
    let manifest = std::fs::read_to_string(stale.join("pixi.toml")).unwrap();
    std::fs::write(
        stale.join("pixi.toml"),
        manifest.replace("[dependencies]\n", "[dependencies]\nairgap-added = \"*\"\n"),
    )
    .unwrap();
    let mut text = String::new();
    for (what, project, extra) in [
        (
            "a lock with PyPI sources",
            &v7,
            &["--pixi-version", "0.77.0"][..],
        ),
        (
            "a format-7 lock for pixi 0.15",
            &v7,
            &["--pixi-version", "0.15.2"][..],
        ),
        ("a stale lock", &stale, &[][..]),
    ] {
        let outcome = TestCommand::new()
            .arg("check")
            .path_arg("--project-dir", project)
            .args(extra)
            .outcome(&[]);
        text.push_str(&format!("$ check ({what})\n{outcome}\n"));
    }
    insta::assert_snapshot!("check-outcomes", text);
}

#[test]
fn check_reports_pypi_sources_as_warnings_and_exits_0() {
    let dir = lock_fixture("v7-mixed").display().to_string();
    let output = TestCommand::new()
        .args(["check", "--project-dir", &dir, "--json"])
        .output();
    assert_success(&output);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let found = codes(&report);
    for code in ["pypi-sdist", "pypi-editable", "pypi-git"] {
        assert!(found.contains(&pair("warning", code)), "{found:?}");
    }
    assert_eq!(report["lock_version"], 7);
    let err = stderr(&output);
    assert!(
        err.contains("warning: PyPI pyperclip 1.9.0 [pypi-sdist]"),
        "{err}"
    );
    assert!(
        err.contains("fix: "),
        "every finding says how to fix it:\n{err}"
    );
    assert!(err.contains("0 error(s), 3 warning(s)"), "{err}");
}

#[test]
fn check_exits_2_when_the_image_pixi_cannot_read_the_lock() {
    let dir = lock_fixture("v7-mixed").display().to_string();
    let output = TestCommand::new()
        .args(["check", "--project-dir", &dir, "--pixi-version", "0.15.2"])
        .output();
    assert_exit(
        &output,
        2,
        "error: pixi.lock [lock-format-unreadable]: lock format 7 needs pixi 0.68.0",
    );
    let output = TestCommand::new()
        .args(["check", "--project-dir", &dir, "--pixi-version", "0.77.0"])
        .output();
    assert_success(&output);
}

#[test]
fn check_finds_a_stale_lock_and_unlocked_platforms() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("multi");
    copy_tree(&lock_fixture("v4-multi"), &project);
    let manifest = project.join("pixi.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("[dependencies]\n", "[dependencies]\nairgap-added = \"*\"\n"),
    )
    .unwrap();
    let p = project.display().to_string();
    let output = TestCommand::new()
        .args(["check", "--project-dir", &p, "--json"])
        .output();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let stale: Vec<_> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "stale-lock")
        .collect();
    assert_eq!(
        stale.len(),
        3,
        "every environment has the default feature: {report}"
    );
    assert!(stale[0]["reason"]
        .as_str()
        .unwrap()
        .contains("airgap-added"));

    let output = TestCommand::new()
        .args([
            "check",
            "--project-dir",
            &p,
            "--platform",
            "osx-arm64",
            "-e",
            "alpha",
        ])
        .output();
    assert_exit(&output, 2, "[platform-not-locked]");
}

/// A `requires-pixi` the image does not meet stops staging with exit 2 once the container says
/// which pixi it has, before the project is uploaded or anything installed.
#[test]
fn staging_stops_before_upload_when_requires_pixi_is_unmet() {
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
    let manifest = project.join("pixi.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace(
            "version = \"0.1.0\"\n",
            "version = \"0.1.0\"\nrequires-pixi = \">=999\"\n",
        ),
    )
    .unwrap();
    let workdir = tmp.path().join("wd");
    let output = bed
        .stage_host(Some(&server), &project, &workdir)
        .assert_exit(2, "[requires-pixi]");
    let err = stderr(&output);
    assert!(err.contains(">=999"), "{err}");
    assert!(!err.contains("copying"), "nothing was uploaded:\n{err}");
    assert!(!workdir.join("out/install-default.log").exists());
}

/// A lock written by the current pixi, staged with an image whose pixi predates its format.
#[test]
#[cfg(feature = "pixi-modern")]
fn a_lock_too_new_for_the_image_is_refused() {
    let legacy = std::env::var("PIXI_AIRGAP_TESTBED_LEGACY_IMAGE")
        .expect("PIXI_AIRGAP_TESTBED_LEGACY_IMAGE (scripts/testbed.sh exports it)");
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
    let legacy_bed = Testbed {
        image: legacy,
        ..bed.clone()
    };
    legacy_bed
        .stage_host(Some(&server), &project, &workdir)
        .assert_exit(2, "[lock-format-unreadable]");
}

/// The warnings for a PyPI sdist and an editable local package are recorded in the stage report
/// and the product; the offline proof then shows what happens to them: both are built again at
/// install time from what the product's cache holds, with the network cut.
#[test]
#[cfg(feature = "pixi-modern")]
fn sdist_and_editable_warnings_followed_through_the_proof() {
    let Some(bed) = testbed() else { return };
    require_python_bed();
    let server = ChannelServer::start(&bed);
    let (tmp, workdir, name) = staged(
        &bed,
        &server,
        "pypi-sources",
        &[
            "--verify-task",
            "imports",
            "--verify-expect",
            "sources ok 1.9.0 local",
        ],
    );
    let stage = read_json(&workdir.join("out/stage.json"));
    let found = codes(&stage["preflight"]);
    assert!(found.contains(&pair("warning", "pypi-sdist")), "{found:?}");
    assert!(
        found.contains(&pair("warning", "pypi-editable")),
        "{found:?}"
    );

    let product = tmp.path().join("product");
    let output = make_product(&workdir, &name, Some(&product));
    assert_success(&output);
    let manifest = read_json(&product.join("pixi-airgap.json"));
    let recorded: Vec<&str> = manifest["preflight"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(
        recorded.contains(&"pypi-sdist") && recorded.contains(&"pypi-editable"),
        "{recorded:?}"
    );

    let out = tmp.path().join("proof");
    let output = verify_product(&bed, &product, &out, &name, &[]);
    let report = read_json(&out.join("verify-report.json"));
    let log = std::fs::read_to_string(out.join("proof-bootstrap.log")).unwrap_or_default();
    // What the proof does with them is the claim the README makes: recorded here either way.
    assert_eq!(
        output.status.code(),
        Some(0),
        "the sdist and the editable package install offline from the product's cache:\n{}\n{log}",
        stderr(&output)
    );
    assert_eq!(report["verification"]["passed"], true);
}

fn cyclonedx_validator(dir: &Path) -> jsonschema::Validator {
    let load = |name: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(dir.join(name)).unwrap()).unwrap()
    };
    let base = "http://cyclonedx.org/schema/";
    let registry = Box::leak(Box::new(
        jsonschema::Registry::new()
            .add(
                format!("{base}spdx.SNAPSHOT.schema.json"),
                load("spdx.SNAPSHOT.schema.json"),
            )
            .unwrap()
            .add(
                format!("{base}jsf-0.82.SNAPSHOT.schema.json"),
                load("jsf-0.82.SNAPSHOT.schema.json"),
            )
            .unwrap()
            .prepare()
            .unwrap(),
    ));
    let schema = Box::leak(Box::new(load("bom-1.5.SNAPSHOT.schema.json")));
    jsonschema::options()
        .with_registry(registry)
        .should_validate_formats(true)
        .build(schema)
        .unwrap()
}

/// The product's SBOM lists every conda and PyPI package and is valid CycloneDX 1.5.
#[test]
fn the_product_sbom_is_valid_cyclonedx() {
    let Some(bed) = testbed() else { return };
    let schema_dir = std::env::var_os("PIXI_AIRGAP_TESTBED_CYCLONEDX_SCHEMA")
        .expect("PIXI_AIRGAP_TESTBED_CYCLONEDX_SCHEMA (scripts/testbed.sh exports it)");
    let validator = cyclonedx_validator(Path::new(&schema_dir));
    let server = ChannelServer::start(&bed);
    let (tmp, workdir, name) = staged(&bed, &server, "multi", &[]);
    let product = tmp.path().join("product");
    let output = make_product(&workdir, &name, Some(&product));
    assert_success(&output);
    let manifest = read_json(&product.join("pixi-airgap.json"));
    assert_eq!(manifest["sbom"], "sbom.cdx.json");
    assert!(manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["path"] == "sbom.cdx.json"));
    let bom = read_json(&product.join("sbom.cdx.json"));
    let errors: Vec<String> = validator.iter_errors(&bom).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let names: Vec<&str> = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["airgap-alpha", "airgap-base", "airgap-beta", "airgap-hello"]
    );
    for c in bom["components"].as_array().unwrap() {
        assert_eq!(c["licenses"][0]["license"]["name"], "MIT", "{c}");
        assert_eq!(c["hashes"][0]["alg"], "SHA-256");
        assert!(c["purl"].as_str().unwrap().starts_with("pkg:conda/"));
    }
    // A broken document is rejected: the validation is real.
    let mut broken = bom.clone();
    broken["components"][0]["hashes"][0]["alg"] = "NOT-AN-ALG".into();
    assert!(!validator.is_valid(&broken));
}

/// With PyPI packages: wheels carry their licences in METADATA, read from the uv cache.
#[test]
#[cfg(feature = "pixi-modern")]
fn the_sbom_lists_pypi_packages() {
    let Some(bed) = testbed() else { return };
    require_python_bed();
    let schema_dir = std::env::var_os("PIXI_AIRGAP_TESTBED_CYCLONEDX_SCHEMA")
        .expect("PIXI_AIRGAP_TESTBED_CYCLONEDX_SCHEMA (scripts/testbed.sh exports it)");
    let validator = cyclonedx_validator(Path::new(&schema_dir));
    let server = ChannelServer::start(&bed);
    let (tmp, workdir, name) = staged(&bed, &server, "pypi", &[]);
    let product = tmp.path().join("product");
    let output = make_product(&workdir, &name, Some(&product));
    assert_success(&output);
    let bom = read_json(&product.join("sbom.cdx.json"));
    let errors: Vec<String> = validator.iter_errors(&bom).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let find = |purl: &str| {
        bom["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["purl"] == purl)
            .unwrap_or_else(|| panic!("{purl} missing: {bom}"))
            .clone()
    };
    let six = find("pkg:pypi/six@1.16.0");
    assert_eq!(six["licenses"][0]["license"]["name"], "MIT", "{six}");
    assert!(six["externalReferences"][0]["url"]
        .as_str()
        .unwrap()
        .ends_with("six-1.16.0-py2.py3-none-any.whl"));
    find("pkg:pypi/python-dateutil@2.9.0.post0");
    find("pkg:conda/python@3.11.2?subdir=linux-64");
}

/// Safety round 2, item 20: `check` warns about project files whose names differ only in case,
/// and about packages known to carry such names (ncurses' terminfo), listing them; exit 0.
#[test]
fn check_warns_about_names_that_differ_only_in_case() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("multi-env");
    copy_tree(&lock_fixture("v4-multi"), &project);
    let lock = std::fs::read_to_string(project.join("pixi.lock")).unwrap();
    std::fs::write(
        project.join("pixi.lock"),
        lock.replace("name: airgap-hello", "name: ncurses"),
    )
    .unwrap();
    std::fs::create_dir_all(project.join("docs")).unwrap();
    std::fs::write(project.join("docs/README.md"), "a").unwrap();
    std::fs::write(project.join("docs/readme.md"), "b").unwrap();
    // Not staged, so not a problem: pixi's own folder.
    std::fs::create_dir_all(project.join(".pixi/envs/default/X")).unwrap();
    std::fs::create_dir_all(project.join(".pixi/envs/default/x")).unwrap();
    let dir = project.display().to_string();
    let output = TestCommand::new()
        .args(["check", "--project-dir", &dir, "--json"])
        .output();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let clashes: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "case-clash")
        .collect();
    assert_eq!(clashes.len(), 2, "{err}");
    assert!(err.contains("docs/README.md  and  docs/readme.md"), "{err}");
    assert!(err.contains("ncurses 1.0.0 [case-clash]"), "{err}");
    assert!(!err.contains(".pixi/envs"), "{err}");
    record_count("case clashes: 2 kinds warned about by check");
}
