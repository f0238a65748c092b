use super::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/locks")
        .join(name)
}

fn codes(report: &PreflightReport) -> Vec<(Severity, &str, &str)> {
    report
        .findings
        .iter()
        .map(|f| (f.severity, f.code.as_str(), f.subject.as_str()))
        .collect()
}

#[test]
fn a_conda_only_project_has_no_findings() {
    let report = run(&fixture("v4-multi"), &CheckInputs::default()).unwrap();
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert_eq!(report.environments, ["default", "alpha", "beta"]);
}

#[test]
fn pypi_sources_are_warnings() {
    let report = run(&fixture("v7-mixed"), &CheckInputs::default()).unwrap();
    let c = codes(&report);
    assert!(
        c.contains(&(Severity::Warning, "pypi-sdist", "PyPI pyperclip 1.9.0")),
        "{c:?}"
    );
    assert!(
        c.contains(&(Severity::Warning, "pypi-editable", "PyPI localpkg")),
        "{c:?}"
    );
    assert!(
        c.contains(&(Severity::Warning, "pypi-git", "PyPI gitpkg 0.1.0")),
        "{c:?}"
    );
    assert_eq!(report.errors(), 0, "{c:?}");
    assert_eq!(report.warnings(), 3, "{c:?}");
}

#[test]
fn versions_of_pixi_that_cannot_read_the_lock() {
    let inputs = CheckInputs {
        pixi_version: Some("pixi 0.15.2".into()),
        ..CheckInputs::default()
    };
    let report = run(&fixture("v7-mixed"), &inputs).unwrap();
    assert!(codes(&report).contains(&(Severity::Error, "lock-format-unreadable", "pixi.lock")));
    assert_eq!(report.findings[0].severity, Severity::Error, "errors first");
    let inputs = CheckInputs {
        pixi_version: Some("pixi 0.77.0".into()),
        ..CheckInputs::default()
    };
    let report = run(&fixture("v7-mixed"), &inputs).unwrap();
    assert_eq!(report.errors(), 0);
    assert!(run(
        &fixture("v4-multi"),
        &CheckInputs {
            pixi_version: Some("0.15.2".into()),
            ..CheckInputs::default()
        }
    )
    .unwrap()
    .findings
    .is_empty());
}

fn copy_fixture(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["pixi.toml", "pixi.lock"] {
        std::fs::copy(fixture(name).join(f), dir.join(f)).unwrap();
    }
    (tmp, dir)
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from} not in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn requires_pixi_and_platforms_and_environments() {
    let (_tmp, dir) = copy_fixture("v4-multi");
    edit(
        &dir.join("pixi.toml"),
        "version = \"0.1.0\"",
        "version = \"0.1.0\"\nrequires-pixi = \">=0.40\"",
    );
    let inputs = CheckInputs {
        pixi_version: Some("pixi 0.15.2".into()),
        platform: "linux-aarch64".into(),
        ..CheckInputs::default()
    };
    let report = run(&dir, &inputs).unwrap();
    let c = codes(&report);
    assert!(
        c.contains(&(Severity::Error, "requires-pixi", "manifest")),
        "{c:?}"
    );
    assert!(
        c.contains(&(
            Severity::Error,
            "platform-not-locked",
            "environment `alpha`"
        )),
        "{c:?}"
    );
    assert!(report.clone().into_result().is_err());

    edit(
        &dir.join("pixi.toml"),
        "beta = [\"beta\"]",
        "beta = [\"beta\"]\ngamma = [\"alpha\"]",
    );
    let report = run(&dir, &CheckInputs::default()).unwrap();
    assert!(codes(&report).contains(&(
        Severity::Error,
        "environment-not-locked",
        "environment `gamma`"
    )));
}

#[test]
fn a_dependency_missing_from_the_lock_is_a_stale_lock() {
    let (_tmp, dir) = copy_fixture("v4-multi");
    edit(
        &dir.join("pixi.toml"),
        "[feature.beta.dependencies]",
        "[feature.beta.dependencies]\nairgap-new = \"*\"",
    );
    let report = run(&dir, &CheckInputs::default()).unwrap();
    assert_eq!(
        codes(&report),
        [(Severity::Error, "stale-lock", "environment `beta`")],
        "only the environment with the feature"
    );
    assert!(report.findings[0].reason.contains("airgap-new"));
}

#[test]
fn virtual_packages() {
    let (_tmp, dir) = copy_fixture("v4-multi");
    edit(
        &dir.join("pixi.lock"),
        "  depends:\n  - airgap-base\n",
        "  depends:\n  - airgap-base\n  - __glibc >=2.38\n  - __cuda\n",
    );
    let inputs = CheckInputs {
        glibc: Some("2.36".into()),
        ..CheckInputs::default()
    };
    let c = codes(&run(&dir, &inputs).unwrap())
        .into_iter()
        .map(|(s, c, _)| (s, c.to_string()))
        .collect::<Vec<_>>();
    assert!(
        c.contains(&(Severity::Error, "glibc-too-old".into())),
        "{c:?}"
    );
    assert!(
        c.contains(&(Severity::Warning, "needs-cuda".into())),
        "{c:?}"
    );
}

#[test]
fn source_packages_are_warnings() {
    let report = run(&fixture("v7-source"), &CheckInputs::default()).unwrap();
    let c = codes(&report);
    assert_eq!(
        c,
        [(Severity::Warning, "source-package", "conda mypkg 0.1.0")]
    );
}

#[test]
fn paths_outside_the_project_are_errors() {
    let p = Path::new("/work/proj");
    assert!(path_inside(p, "./localpkg"));
    assert!(path_inside(p, "."));
    assert!(!path_inside(p, "../other"));
    assert!(!path_inside(p, "/opt/pkg"));
    assert!(path_inside(p, "/work/proj/sub"));
}

#[test]
fn version_specs() {
    assert!(spec_matches(">=0.40", "0.77.0"));
    assert!(!spec_matches(">=0.40", "0.15.2"));
    assert!(spec_matches(">=0.40,<1", "0.77.0"));
    assert!(spec_matches("0.77.*", "0.77.0"));
    assert!(!spec_matches("==0.76.0", "0.77.0"));
    assert!(spec_matches("~=0.77.0", "0.77.3"));
    assert!(spec_matches(">=2.17", "2.36"));
    assert!(!spec_matches(">=2.38", "2.36"));
    assert_eq!(
        pep508_name("Requests[socks] >=2; python_version>'3'"),
        "requests"
    );
}
