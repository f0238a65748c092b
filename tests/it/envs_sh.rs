//! `envs.sh` is sourced by users from many shells; it must set the same variables in each, find
//! its product from any folder where the shell can tell a sourced file's path, and never let an
//! inherited product folder win over its own. (After bootstrapping, every shell finds the product
//! from any folder: `tests/it/bootstrap.rs` shows it with a real product and a real pixi.)

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::shells;

/// A product as far as envs.sh cares: envs.sh and pkg-cache/.
fn product(dir: &Path, name: &str) -> PathBuf {
    let product = dir.join(name);
    std::fs::create_dir_all(product.join("pkg-cache")).unwrap();
    std::fs::write(
        product.join("envs.sh"),
        pixi_airgap::product::templates::envs_sh("demo", "pixi 0.15.2").unwrap(),
    )
    .unwrap();
    std::fs::canonicalize(product).unwrap()
}

fn expected(product: &Path) -> String {
    let real = product.display();
    format!(
        "PIXI_AIRGAP_PRODUCT_DIR={real}\nPIXI_CACHE_DIR={real}/pkg-cache\nPIXI_FROZEN=true\nPIXI_OFFLINE=true\nRATTLER_CACHE_DIR={real}/pkg-cache\n"
    )
}

/// Shells that cannot tell a sourced file's path.
fn pathless(shell: &[&str]) -> bool {
    matches!(shell[0], "dash" | "busybox")
}

/// Runs `script` in `shell` from `cwd` with a clean environment plus `env`, then prints the
/// variables envs.sh manages.
fn vars_after(
    shell: &[&str],
    cwd: &Path,
    script: &str,
    env: &[(&str, &str)],
) -> (bool, String, String) {
    let mut command = Command::new(shell[0]);
    command
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
        .env("PIXI_CACHE_REPODATA_DIR", "/somewhere/else");
    for (key, value) in env {
        command.env(key, value);
    }
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{shell:?} could not run: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn source(product: &Path) -> String {
    format!(
        ". {}",
        pixi_airgap::product::templates::shell_quote(
            &product.join("envs.sh").display().to_string()
        )
    )
}

#[test]
fn same_variables_from_every_shell_inside_the_product() {
    let dir = tempfile::tempdir().unwrap();
    let product = product(dir.path(), "my product");
    for shell in &shells() {
        let (ok, vars, err) = vars_after(shell, &product, ". ./envs.sh", &[]);
        assert!(ok, "{shell:?}: {err}");
        assert_eq!(vars, expected(&product), "{shell:?}");
        assert!(err.is_empty(), "{shell:?}: {err}");
    }
}

#[test]
fn before_bootstrapping_from_another_folder() {
    let dir = tempfile::tempdir().unwrap();
    // A quote and a space in the path: every path is quoted.
    let product = product(dir.path(), "it's my product");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    for shell in &shells() {
        let (ok, vars, err) = vars_after(shell, &elsewhere, &source(&product), &[]);
        if pathless(shell) {
            // Cannot tell where envs.sh is and nothing recorded yet: a clear error, no variables.
            assert!(!ok, "{shell:?}: {vars}");
            assert!(vars.is_empty(), "{shell:?}: {vars}");
            assert!(
                err.contains("no pixi-airgap product")
                    && err.contains("bootstrap-project.sh")
                    && err.contains("set PIXI_AIRGAP_PRODUCT_DIR"),
                "{shell:?}: {err}"
            );
            // The explicit override works.
            let (ok, vars, err) = vars_after(
                shell,
                &elsewhere,
                &source(&product),
                &[("PIXI_AIRGAP_PRODUCT_DIR", &product.display().to_string())],
            );
            assert!(ok, "{shell:?}: {err}");
            assert_eq!(vars, expected(&product), "{shell:?}");
        } else {
            // bash and zsh find the product from the file's own path.
            assert!(ok, "{shell:?}: {err}");
            assert_eq!(vars, expected(&product), "{shell:?}");
        }
    }
}

#[test]
fn a_shell_that_knows_the_path_does_not_mix_two_products() {
    let dir = tempfile::tempdir().unwrap();
    let a = product(dir.path(), "product a");
    let b = product(dir.path(), "product b");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let knowing: Vec<_> = shells().into_iter().filter(|s| !pathless(s)).collect();
    assert!(
        !knowing.is_empty(),
        "no shell that can tell a sourced file's path"
    );
    for shell in &knowing {
        // A, then B, in one shell: pixi ends on B's cache, and the other way round.
        let script = format!("{} && {}", source(&a), source(&b));
        let (ok, vars, err) = vars_after(shell, &elsewhere, &script, &[]);
        assert!(ok, "{shell:?}: {err}");
        assert_eq!(vars, expected(&b), "{shell:?}");
        let script = format!("{} && {}", source(&b), source(&a));
        let (ok, vars, err) = vars_after(shell, &elsewhere, &script, &[]);
        assert!(ok, "{shell:?}: {err}");
        assert_eq!(vars, expected(&a), "{shell:?}");
        // A folder inherited from another product (a parent shell sourced A) does not win.
        let (ok, vars, err) = vars_after(
            shell,
            &elsewhere,
            &source(&b),
            &[("PIXI_AIRGAP_PRODUCT_DIR", &a.display().to_string())],
        );
        assert!(ok, "{shell:?}: {err}");
        assert_eq!(vars, expected(&b), "{shell:?}");
    }
}

#[test]
fn a_folder_without_pkg_cache_is_refused_in_every_shell() {
    let dir = tempfile::tempdir().unwrap();
    let product = product(dir.path(), "broken");
    std::fs::remove_dir(product.join("pkg-cache")).unwrap();
    for shell in &shells() {
        let (ok, vars, err) = vars_after(shell, &product, ". ./envs.sh", &[]);
        assert!(!ok, "{shell:?}: {vars}");
        assert!(vars.is_empty(), "{shell:?}: {vars}");
        assert!(err.contains("no pixi-airgap product"), "{shell:?}: {err}");
    }
}
