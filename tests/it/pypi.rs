//! End-to-end tests of projects with PyPI dependencies: locked against the test bed's PyPI index
//! (real wheels fetched once by scripts/testbed.sh), staged online, and installed from the product
//! with the network cut, the verification importing every PyPI package. pixi 0.15 cannot install
//! PyPI packages without a system-wide Python of its own choosing, so these run on the current pixi
//! only (the `pixi-modern` feature: tests/it/main.rs).

use std::path::{Path, PathBuf};

use crate::common::*;

const IMPORTS_OK: &str = "pypi ok 2.9.0.post0 1.16.0 2024";

/// Every file under `root` whose path names the `six` distribution (its wheel, unpacked or not).
fn six_in_uv_cache(root: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(root)
        .min_depth(1)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().to_lowercase();
            name.starts_with("six-1.16.0") || name == "six"
        })
        .map(|e| e.into_path())
        .collect()
}

#[test]
fn pypi_dependencies_install_offline() {
    let Some(bed) = testbed() else { return };
    require_python_bed();
    let server = ChannelServer::start(&bed);
    let (tmp, workdir, name) = staged(
        &bed,
        &server,
        "pypi",
        &["--verify-task", "imports", "--verify-expect", IMPORTS_OK],
    );
    let _leftovers = LeftoverGuard::new(tmp.path());
    let lock = std::fs::read_to_string(workdir.join("project/pypi-env/pixi.lock")).unwrap();
    assert!(lock.contains("six-1.16.0-py2.py3-none-any.whl"), "{lock}");
    assert!(
        !six_in_uv_cache(&workdir.join("pixi-cache/uv-cache")).is_empty(),
        "the uv cache in the workdir holds the wheels"
    );

    let product = tmp.path().join("product");
    make_product_cmd(&workdir, &name)
        .path_arg("--output", &product)
        .assert_success();
    // uv links its wheels by absolute path inside the container: in the product they are relative
    // links that resolve where the product is.
    let uv_links: Vec<_> = walkdir::WalkDir::new(product.join("pkg-cache/uv-cache"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.path_is_symlink())
        .collect();
    assert!(!uv_links.is_empty(), "uv's cache links its unpacked wheels");
    for link in &uv_links {
        let target = std::fs::read_link(link.path()).unwrap();
        assert!(
            target.is_relative(),
            "{}: {}",
            link.path().display(),
            target.display()
        );
        assert!(link.path().exists(), "{} dangles", link.path().display());
    }
    let out = tmp.path().join("proof");
    bed.verify_product(&product, &out, &name).assert_success();
    let report = read_json(&out.join("verify-report.json"));
    assert_eq!(report["network_mode"], "none");
    assert_eq!(report["verification"]["passed"], true);
    let log = std::fs::read_to_string(out.join("proof-verify.log")).unwrap();
    assert!(log.contains(IMPORTS_OK), "{log}");
}

#[test]
fn pyproject_with_pypi_dependencies_packs() {
    require_python_bed();
    let Some(t) = Locked::fixture("pyproject") else {
        return;
    };
    let workdir = t.tmp.path().join("wd");
    t.bed
        .pack(&t.server, &t.project, &workdir)
        .args([
            "--archive",
            "tar",
            "--verify-task",
            "imports",
            "--verify-expect",
            IMPORTS_OK,
        ])
        .assert_success();
    assert!(workdir
        .join("product/pyproject-env/pyproject.toml")
        .is_file());
    assert!(workdir.join("product.tar").is_file());
    let proof = std::fs::read_to_string(workdir.join("proof/proof-verify.log")).unwrap();
    assert!(proof.contains(IMPORTS_OK), "{proof}");
    let report = read_json(&workdir.join("proof/verify-report.json"));
    assert_eq!(report["network_mode"], "none", "{report}");
}

/// Negative control: the proof really reads the PyPI packages from the product's uv cache.
#[test]
fn product_missing_a_wheel_fails_offline() {
    let Some(bed) = testbed() else { return };
    require_python_bed();
    let server = ChannelServer::start(&bed);
    let (tmp, workdir, name) = staged(&bed, &server, "pypi", &["--verify-task", "imports"]);
    let removed = six_in_uv_cache(&workdir.join("pixi-cache/uv-cache"));
    assert!(!removed.is_empty(), "six is in the uv cache");
    for path in &removed {
        if path.is_dir() {
            std::fs::remove_dir_all(path).unwrap();
        } else if path.exists() || path.is_symlink() {
            std::fs::remove_file(path).unwrap();
        }
    }
    let product = tmp.path().join("product-without-six");
    make_product_cmd(&workdir, &name)
        .path_arg("--output", &product)
        .assert_success();
    let out = tmp.path().join("proof");
    bed.verify_product(&product, &out, &name).assert_exit(
        1,
        "offline proof failed: the product did not install without network",
    );
    let report = read_json(&out.join("verify-report.json"));
    assert_eq!(report["result"], "bootstrap-failed", "{report}");
    let log = std::fs::read_to_string(out.join("proof-bootstrap.log")).unwrap();
    assert!(
        log.to_lowercase().contains("six"),
        "the log names the wheel:\n{log}"
    );
}
