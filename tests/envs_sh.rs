//! `envs.sh` is sourced by users from many shells; it must set the same variables in each.

use std::path::Path;
use std::process::Command;

fn product(dir: &Path) -> std::path::PathBuf {
    let product = dir.join("my product");
    std::fs::create_dir_all(product.join("pkg-cache")).unwrap();
    std::fs::write(
        product.join("envs.sh"),
        pixi_airgap::product::templates::envs_sh("demo").unwrap(),
    )
    .unwrap();
    product
}

fn vars_after_sourcing(shell: &[&str], cwd: &Path, script: &str) -> (bool, String, String) {
    let out = Command::new(shell[0])
        .args(&shell[1..])
        .arg("-c")
        .arg(format!(
            "{script} && env | grep -E '^(PIXI_|RATTLER_)' | sort"
        ))
        .current_dir(cwd)
        // Only what envs.sh should see: no PIXI_* from the caller's environment.
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PIXI_CACHE_PKGS_DIR", "/somewhere/else")
        .env("PIXI_CACHE_REPODATA_DIR", "/somewhere/else")
        .output()
        .unwrap_or_else(|e| {
            panic!("{shell:?} is needed for this test (scripts/testbed.sh installs it): {e}")
        });
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn same_variables_from_bash_dash_and_busybox() {
    let dir = tempfile::tempdir().unwrap();
    let product = product(dir.path());
    let real = std::fs::canonicalize(&product)
        .unwrap()
        .display()
        .to_string();
    let expected = format!(
        "PIXI_AIRGAP_PRODUCT_DIR={real}\nPIXI_CACHE_DIR={real}/pkg-cache\nPIXI_FROZEN=true\nPIXI_OFFLINE=true\nRATTLER_CACHE_DIR={real}/pkg-cache\n"
    );
    let mut shells: Vec<Vec<&str>> = vec![vec!["bash"], vec!["dash"], vec!["busybox", "sh"]];
    if Command::new("zsh")
        .arg("-c")
        .arg("true")
        .status()
        .is_ok_and(|s| s.success())
    {
        shells.push(vec!["zsh"]);
    }
    for shell in &shells {
        let (ok, vars, err) = vars_after_sourcing(shell, &product, ". ./envs.sh");
        assert!(ok, "{shell:?}: {err}");
        assert_eq!(vars, expected, "{shell:?}");
    }
    // bash (and zsh) find the product from the file's own path, from any folder.
    let (ok, vars, err) = vars_after_sourcing(
        &["bash"],
        Path::new("/"),
        &format!(". '{}/envs.sh'", product.display()),
    );
    assert!(ok, "{err}");
    assert_eq!(vars, expected);
    // dash cannot tell a sourced file's path: outside the product it says what to do, or uses the override.
    let (ok, _, err) = vars_after_sourcing(
        &["dash"],
        Path::new("/"),
        &format!(". '{}/envs.sh'", product.display()),
    );
    assert!(!ok);
    assert!(err.contains("set PIXI_AIRGAP_PRODUCT_DIR"), "{err}");
    let (ok, vars, err) = vars_after_sourcing(
        &["dash"],
        Path::new("/"),
        &format!(
            "PIXI_AIRGAP_PRODUCT_DIR='{}' . '{}/envs.sh'",
            product.display(),
            product.display()
        ),
    );
    assert!(ok, "{err}");
    assert_eq!(vars, expected);
}
