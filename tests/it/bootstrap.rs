//! A real product on the machine that installs it: made through the workdir helper exactly as the
//! runbook calls it, bootstrapped by a real pixi from an unrelated folder, then `envs.sh` sourced
//! by every shell from anywhere, two products in one shell, and a product moved after
//! bootstrapping. The installs run on this host with the test bed's pixi binary; the channel's
//! host name only resolves on the test bed's private Docker network, so pixi here has nothing
//! to download from and everything comes from the product's pkg-cache/.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::*;

/// The test bed's host copy of the pixi in the image under test
/// (`~/.cache/pixi-airgap-testbed/bin/pixi-VERSION`), or PIXI_AIRGAP_TEST_HOST_PIXI.
fn host_pixi() -> PathBuf {
    let pixi = std::env::var_os("PIXI_AIRGAP_TEST_HOST_PIXI")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let bed = testbed().expect("the test bed");
            let version = bed.pixi_version();
            let version = version.trim_start_matches("pixi").trim();
            let home = std::env::var_os("HOME").expect("HOME");
            Path::new(&home).join(format!(".cache/pixi-airgap-testbed/bin/pixi-{version}"))
        });
    assert!(
        pixi.is_file(),
        "`{}` is missing: run scripts/testbed.sh (it keeps a host copy of each test-bed pixi there) or set PIXI_AIRGAP_TEST_HOST_PIXI",
        pixi.display()
    );
    pixi
}

/// Where a user's shell runs: a clean environment with pixi on PATH and a fresh HOME.
struct Machine {
    bin: PathBuf,
    home: PathBuf,
    elsewhere: PathBuf,
}

impl Machine {
    fn new(root: &Path) -> Self {
        let bin = root.join("bin");
        let home = root.join("home");
        let elsewhere = root.join("somewhere else");
        for dir in [&bin, &home, &elsewhere] {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::os::unix::fs::symlink(host_pixi(), bin.join("pixi")).unwrap();
        Self {
            bin,
            home,
            elsewhere,
        }
    }

    /// Runs `script` with `shell -c` from the unrelated folder.
    fn run(&self, shell: &[&str], script: &str, env: &[(&str, &Path)]) -> Output {
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut command = Command::new(shell[0]);
        command
            .args(&shell[1..])
            .arg("-c")
            .arg(script)
            .current_dir(&self.elsewhere)
            .env_clear()
            .env("PATH", path)
            .env("HOME", &self.home);
        for (key, value) in env {
            command.env(key, value);
        }
        let out = command.output().expect("run a shell");
        eprintln!(
            "{shell:?} -c {script}\n--- exit {:?}\n--- stdout:\n{}--- stderr:\n{}",
            out.status.code(),
            text(&out.stdout),
            text(&out.stderr)
        );
        out
    }

    fn bootstrap(&self, shell: &[&str], product: &Path) -> Output {
        self.run(
            shell,
            &format!(
                "{} {}",
                shell.join(" "),
                quote(&product.join("bootstrap-project.sh"))
            ),
            &[],
        )
    }

    /// The variables envs.sh sets, after sourcing each of `products` in turn in one shell.
    fn vars_after_sourcing(
        &self,
        shell: &[&str],
        products: &[&Path],
        env: &[(&str, &Path)],
    ) -> (Output, String) {
        let mut script: Vec<String> = products
            .iter()
            .map(|p| format!(". {}", quote(&p.join("envs.sh"))))
            .collect();
        script.push("env | grep -E '^(PIXI_|RATTLER_)' | sort".to_string());
        let out = self.run(shell, &script.join(" && "), env);
        let vars = text(&out.stdout);
        (out, vars)
    }
}

fn quote(path: &Path) -> String {
    pixi_airgap::product::templates::shell_quote(&path.display().to_string())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn expected(product: &Path) -> String {
    let p = product.display();
    format!(
        "PIXI_AIRGAP_PRODUCT_DIR={p}\nPIXI_CACHE_DIR={p}/pkg-cache\nPIXI_FROZEN=true\nPIXI_OFFLINE=true\nRATTLER_CACHE_DIR={p}/pkg-cache\n"
    )
}

/// Stages the `single` fixture and makes its product with the workdir helper, called as the
/// runbook writes it, from an unrelated folder. Returns (tmp, product, project name).
fn product_through_the_helper() -> Option<(tempfile::TempDir, PathBuf, String)> {
    let Locked {
        bed,
        server,
        tmp,
        project,
        leftovers: _leftovers,
    } = Locked::fixture("single")?;
    let workdir = tmp.path().join("wd");
    let w = workdir.display().to_string();
    bed.stage_host(Some(&server), &project, &workdir)
        .args(["--verify-task", "smoke"])
        .assert_success();
    let name = "single-env".to_string();

    let out = Command::new(workdir.join("helpers/make-archive-ready-product.sh"))
        .args(["--workdir", &w, "--project-name", &name, "--json"])
        .current_dir(tmp.path())
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let made: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json report");
    let product = workdir.join("product");
    assert_eq!(made["product_dir"], product.display().to_string());
    pixi_airgap::product::manifest::check(&product).expect("a fresh product matches its manifest");
    Some((tmp, product, name))
}

#[test]
fn bootstrapped_products_work_from_any_folder_in_every_shell_and_a_moved_one_reinstalls() {
    let Some((tmp, made, name)) = product_through_the_helper() else {
        return;
    };
    let shells = shells();
    let machine = Machine::new(&tmp.path().join("target machine"));
    // The product as carried across: in a folder with a space in its name.
    let site = tmp.path().join("target machine/opt dir");
    std::fs::create_dir_all(&site).unwrap();
    let a = site.join("product-a");
    copy_tree(&made, &a);
    let envs_of = |product: &Path| product.join(&name).join(".pixi/envs/default");

    // Before bootstrapping, shells that cannot tell a sourced file's path say what to do.
    let (out, vars) = machine.vars_after_sourcing(&["dash"], &[&a], &[]);
    assert!(!out.status.success() && vars.is_empty());
    assert!(text(&out.stderr).contains("bootstrap-project.sh"));

    // The runbook's first line on the receiving machine: the product is intact, and nothing on
    // this machine stops an install (its pixi reads the lock).
    let self_check = |product: &Path, shell: &[&str], args: &str| {
        machine.run(
            shell,
            &format!(
                "{} {} {args}",
                shell.join(" "),
                quote(&product.join("check-product.sh"))
            ),
            &[],
        )
    };
    let out = self_check(&a, &["sh"], "--preflight");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("preflight: nothing found that stops an install"));

    // Bootstrap with POSIX sh from an unrelated folder: installed offline, location recorded.
    let out = machine.bootstrap(&["dash"], &a);
    assert_eq!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(err.contains("is installed in"), "{err}");
    assert!(!err.contains("reinstall"), "{err}");
    assert!(envs_of(&a).join("conda-meta").is_dir());
    // What bootstrapping changed (the recorded folder, the environments) does not break the
    // product's manifest check.
    let (_, check) =
        pixi_airgap::product::manifest::check(&a).expect("a bootstrapped product still checks");
    assert!(check.changed.is_empty() && check.missing.is_empty());
    // Nor the product's own check, in every shell (what pixi installed is runtime state).
    for shell in &shells {
        let out = self_check(&a, shell, "");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{shell:?}: {}",
            text(&out.stderr)
        );
    }
    // A second run changes nothing and says nothing about moving.
    let envs_sh = std::fs::read(a.join("envs.sh")).unwrap();
    let out = machine.bootstrap(&["sh"], &a);
    assert_eq!(out.status.code(), Some(0));
    assert!(!text(&out.stderr).contains("reinstall"));
    assert_eq!(std::fs::read(a.join("envs.sh")).unwrap(), envs_sh);

    // After bootstrapping, `. /abs/path/envs.sh` works from any folder in every shell, and the
    // installed environment runs.
    for shell in &shells {
        let (out, vars) = machine.vars_after_sourcing(shell, &[&a], &[]);
        assert!(out.status.success(), "{shell:?}");
        assert_eq!(vars, expected(&a), "{shell:?}");
        assert!(out.stderr.is_empty(), "{shell:?}: {}", text(&out.stderr));
    }
    // envs.sh reached through a link (as from /etc/profile.d): the recorded folder, in every shell.
    let profile_d = tmp.path().join("target machine/profile.d");
    std::fs::create_dir_all(&profile_d).unwrap();
    std::os::unix::fs::symlink(a.join("envs.sh"), profile_d.join("product-a.sh")).unwrap();
    for shell in &shells {
        let out = machine.run(
            shell,
            &format!(
                ". {} && env | grep -E '^(PIXI_|RATTLER_)' | sort",
                quote(&profile_d.join("product-a.sh"))
            ),
            &[],
        );
        assert!(out.status.success(), "{shell:?}");
        assert_eq!(text(&out.stdout), expected(&a), "{shell:?}");
    }
    let run_smoke = |shell: &[&str], product: &Path| {
        machine.run(
            shell,
            &format!(
                ". {} && pixi run --frozen --manifest-path \"$PIXI_AIRGAP_PRODUCT_DIR\"/{}/pixi.toml smoke",
                quote(&product.join("envs.sh")),
                name
            ),
            &[],
        )
    };
    let out = run_smoke(&["busybox", "sh"], &a);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("hello from the air gap"));

    // A copy, bootstrapped where it now is: the copy reinstalls, saying why; the original is
    // left alone.
    let b = site.join("product-b");
    copy_tree(&a, &b);
    std::fs::write(envs_of(&b).join("stale-marker"), "from a").unwrap();
    let out = machine.bootstrap(&["busybox", "sh"], &b);
    assert_eq!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "was installed in '{}' and is now in '{}'",
            a.display(),
            b.display()
        )) && err.contains("reinstalling"),
        "{err}"
    );
    assert!(!envs_of(&b).join("stale-marker").exists());
    assert!(envs_of(&b).join("conda-meta").is_dir());
    assert!(
        envs_of(&a).join("conda-meta").is_dir(),
        "the original was touched"
    );

    // Two products in one shell: the last one sourced wins, in every shell, whatever was inherited.
    for shell in &shells {
        let (out, vars) = machine.vars_after_sourcing(shell, &[&a, &b], &[]);
        assert!(out.status.success(), "{shell:?}");
        assert_eq!(vars, expected(&b), "{shell:?}");
        let (out, vars) = machine.vars_after_sourcing(shell, &[&b, &a], &[]);
        assert!(out.status.success(), "{shell:?}");
        assert_eq!(vars, expected(&a), "{shell:?}");
        let (out, vars) =
            machine.vars_after_sourcing(shell, &[&b], &[("PIXI_AIRGAP_PRODUCT_DIR", &a)]);
        assert!(out.status.success(), "{shell:?}");
        assert_eq!(vars, expected(&b), "{shell:?}");
    }

    // Moved after bootstrapping: a shell that knows the path warns; bootstrapping again from the
    // new place reinstalls, saying why, and the product works there.
    let c = site.join("moved here");
    std::fs::rename(&a, &c).unwrap();
    std::fs::write(envs_of(&c).join("stale-marker"), "from a").unwrap();
    let (out, vars) = machine.vars_after_sourcing(&["bash"], &[&c], &[]);
    assert!(out.status.success());
    assert_eq!(vars, expected(&c));
    assert!(
        text(&out.stderr).contains("bootstrap-project.sh' again"),
        "{}",
        text(&out.stderr)
    );
    let out = machine.bootstrap(&["dash"], &c);
    assert_eq!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "was installed in '{}' and is now in '{}'",
            a.display(),
            c.display()
        )) && err.contains("reinstalling"),
        "{err}"
    );
    assert!(!envs_of(&c).join("stale-marker").exists());
    let out = run_smoke(&["dash"], &c);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("hello from the air gap"));
    for shell in &shells {
        let (out, vars) = machine.vars_after_sourcing(shell, &[&c], &[]);
        assert!(out.status.success(), "{shell:?}");
        assert_eq!(vars, expected(&c), "{shell:?}");
        assert!(out.stderr.is_empty(), "{shell:?}: {}", text(&out.stderr));
    }

    // A moved product whose .pixi is a link out of it: bootstrap removes nothing through it.
    let d = site.join("product-d");
    copy_tree(&b, &d);
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(outside.join("envs/default")).unwrap();
    std::fs::write(outside.join("envs/default/keep-me"), "not ours").unwrap();
    std::fs::remove_dir_all(d.join(&name).join(".pixi")).unwrap();
    std::os::unix::fs::symlink(&outside, d.join(&name).join(".pixi")).unwrap();
    // The product's own check refuses it first (a link where the product has a folder) ...
    let out = machine.bootstrap(&["dash"], &d);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "  {name}/.pixi: a link where the product has a folder"
        )),
        "{err}"
    );
    assert!(outside.join("envs/default/keep-me").is_file());
    // ... and with the check skipped, bootstrap itself still removes nothing through the link.
    let out = machine.run(
        &["dash"],
        &format!("dash {}", quote(&d.join("bootstrap-project.sh"))),
        &[("PIXI_AIRGAP_SKIP_CHECK", Path::new("1"))],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("is a symbolic link"));
    assert!(outside.join("envs/default/keep-me").is_file());
}
