//! The receiving side: a product checks itself with a shell (`check-product.sh`), and
//! `verify-product` and `bootstrap-project.sh` refuse a damaged one. One product is made once per
//! test binary from a staged workdir (no engine needed: make-product is a library call) and copied
//! per case; every case runs the real script with dash, bash, busybox sh, zsh and with a PATH that
//! holds only busybox's applets, and the real `verify-product` binary (which refuses before any
//! container starts).

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::common::cmd::TestCommand;
use pixi_airgap::product::make::{make, MakeOptions};
use pixi_airgap::workdir::Workdir;

/// A lock as pixi 0.15 writes it (format 4), whose package needs glibc 2.17.
const LOCK_V4: &str = r#"version: 4
environments:
  default:
    channels:
    - url: https://example.invalid/c/
    packages:
      linux-64:
      - conda: https://example.invalid/c/linux-64/a-1-0.conda
packages:
- kind: conda
  name: a
  version: '1'
  build: '0'
  subdir: linux-64
  url: https://example.invalid/c/linux-64/a-1-0.conda
  sha256: 0000000000000000000000000000000000000000000000000000000000000000
  md5: 00000000000000000000000000000000
  depends:
  - __glibc >=2.17,<3.0.a0
"#;

/// A lock as current pixi writes it (format 7), whose package needs a glibc no machine has.
const LOCK_V7_NEW_GLIBC: &str = r#"version: 7
environments:
  default:
    channels:
    - url: https://example.invalid/c/
    packages:
      linux-64:
      - conda: https://example.invalid/c/linux-64/a-1-0.conda
packages:
- conda: https://example.invalid/c/linux-64/a-1-0.conda
  sha256: 0000000000000000000000000000000000000000000000000000000000000000
  depends:
  - __glibc >=99.0
"#;

/// A workdir as stage-host leaves it (project, resources, a package cache with a link inside a
/// package), without running it.
fn staged_workdir(root: &Path, lock: &str, lock_version: u64) -> Workdir {
    let wd = Workdir::new(root).unwrap();
    let project = wd.project("demo");
    std::fs::create_dir_all(project.join(".pixi/envs/default")).unwrap();
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::write(
        project.join("pixi.toml"),
        "[project]\nname = \"demo\"\nchannels = []\nplatforms = [\"linux-64\"]\n",
    )
    .unwrap();
    std::fs::write(project.join("pixi.lock"), lock).unwrap();
    std::fs::write(project.join("src/app.py"), "print('hello')\n").unwrap();
    std::fs::write(project.join("it's here.txt"), "a name with a quote\n").unwrap();
    std::fs::write(project.join(".pixi/envs/default/huge"), "env").unwrap();
    std::fs::write(
        project.join(".pixi/config.toml"),
        "[mirrors]\n# staged with the project\n",
    )
    .unwrap();
    symlink("src", project.join("current")).unwrap();
    std::fs::create_dir_all(project.join("empty")).unwrap();
    let pkg = wd.pixi_cache().join("pkgs/a-1-0");
    for dir in ["bin", "lib", "info"] {
        std::fs::create_dir_all(pkg.join(dir)).unwrap();
    }
    std::fs::write(pkg.join("bin/tool"), "#!/bin/sh\necho tool\n").unwrap();
    std::fs::set_permissions(pkg.join("bin/tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(pkg.join("lib/liba.so.1"), vec![7u8; 70_000]).unwrap();
    symlink("liba.so.1", pkg.join("lib/liba.so")).unwrap();
    std::fs::write(pkg.join("info/index.json"), "{\"name\": \"a\"}\n").unwrap();
    std::fs::create_dir_all(wd.resources()).unwrap();
    std::fs::write(wd.resources().join("data.txt"), "data\n").unwrap();
    std::fs::create_dir_all(wd.out()).unwrap();
    let stage = serde_json::json!({
        "format_version": 1, "tool_version": "0", "command": "stage-host",
        "project_name": "demo", "manifest": "pixi.toml", "environments": ["default"],
        "image": "img", "image_id": "sha256:abc", "image_repo_digests": [],
        "pixi_version": "pixi 0.15.2", "platform": "linux-64", "container_workdir": "/workdir",
        "lock_sha256": crate::common::sha256_file(&project.join("pixi.lock")), "lock_version": lock_version,
        "excluded": {"counts": {}, "secrets": [], "skipped_special": []},
        "installs": [], "verification": null, "workdir": root,
        "started_at": "2026-01-01T00:00:00Z", "finished_at": "2026-01-01T00:01:00Z",
        "result": "success"
    });
    std::fs::write(wd.out().join("stage.json"), stage.to_string()).unwrap();
    wd
}

/// A product made from a staged workdir with `lock`, in `dir/product`.
fn make_product_from(dir: &Path, lock: &str, lock_version: u64) -> PathBuf {
    let wd = staged_workdir(&dir.join("wd"), lock, lock_version);
    let (_, _, old) = make(&MakeOptions {
        workdir: wd.clone(),
        project_name: "demo".to_string(),
        output: dir.join("product"),
        force: false,
        sign_key: None,
    })
    .unwrap();
    old.wait().unwrap();
    dir.join("product")
}

/// The product, made once for this test binary.
fn product() -> &'static Path {
    static PRODUCT: OnceLock<PathBuf> = OnceLock::new();
    PRODUCT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        make_product_from(&dir, LOCK_V4, 4)
    })
}

/// A fresh copy of the product at `dest` (links kept as links).
fn copy_product(dest: &Path) -> PathBuf {
    let status = Command::new("cp")
        .arg("-a")
        .arg(product())
        .arg(dest)
        .status()
        .unwrap();
    assert!(status.success());
    dest.to_path_buf()
}

/// A folder of links to every busybox applet: a PATH with nothing else on it.
fn busybox_path() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let busybox = which("busybox").expect("busybox is needed for this test");
        let list = Command::new(&busybox).arg("--list").output().unwrap();
        for applet in String::from_utf8(list.stdout).unwrap().lines() {
            symlink(&busybox, dir.join(applet)).unwrap();
        }
        dir
    })
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// The ways the check is run: each shell with the usual PATH, and busybox's sh with a PATH of
/// busybox applets only.
fn runners() -> Vec<(&'static str, Vec<String>, Option<&'static Path>)> {
    let mut out = vec![
        ("dash", vec!["dash".to_string()], None),
        ("bash", vec!["bash".to_string()], None),
        (
            "busybox sh",
            vec!["busybox".to_string(), "sh".to_string()],
            None,
        ),
        ("zsh", vec!["zsh".to_string()], None),
    ];
    out.push((
        "busybox-only PATH",
        vec![busybox_path().join("sh").display().to_string()],
        Some(busybox_path()),
    ));
    out
}

fn run_check(product: &Path, runner: &(&str, Vec<String>, Option<&Path>), args: &[&str]) -> Output {
    let (_, argv, path) = runner;
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .arg(product.join("check-product.sh"))
        .args(args);
    if let Some(path) = path {
        cmd.env("PATH", path);
    }
    cmd.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Replaces `rel`'s line in SHA256SUMS with the hash of its current content (what someone who
/// re-hashes after a change does; here, a product made for other facts).
fn rehash(product: &Path, rel: &str) {
    let sha = crate::common::sha256_file(&product.join(rel));
    let sums = std::fs::read_to_string(product.join("SHA256SUMS")).unwrap();
    let fixed: String = sums
        .lines()
        .map(|l| {
            if &l[66..] == rel {
                format!("{sha}  {rel}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(product.join("SHA256SUMS"), fixed).unwrap();
}

#[test]
fn an_intact_product_passes_in_every_shell_fresh_bootstrapped_moved_and_renamed() {
    let dir = tempfile::tempdir().unwrap();
    let copy = copy_product(&dir.path().join("product"));
    // What sha256sum itself says.
    let out = Command::new("sha256sum")
        .args(["-c", "--strict", "--quiet", "SHA256SUMS"])
        .current_dir(&copy)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stdout));
    for runner in runners() {
        let out = run_check(&copy, &runner, &[]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{}: {err}", runner.0);
        assert!(err.contains("is intact ("), "{}: {err}", runner.0);
    }
    // Each hash tool of the fallback chain.
    for tool in ["sha256sum", "shasum", "openssl", "busybox"] {
        let out = Command::new("sh")
            .arg(copy.join("check-product.sh"))
            .env("PIXI_AIRGAP_HASH_TOOL", tool)
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{tool}: {err}");
        assert!(err.contains(&format!("checked with {tool})")), "{err}");
    }
    let out = Command::new("sh")
        .arg(copy.join("check-product.sh"))
        .env("PIXI_AIRGAP_HASH_TOOL", "none-here")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains(
            "looked for sha256sum, shasum (-a 256), openssl (dgst -sha256) and busybox (sha256sum)"
        ),
        "{}",
        text(&out.stderr)
    );

    // Bootstrapped: envs.sh records the folder (a quote in it, written `'\''`), the environments
    // and pixi's state appear under demo/.pixi/. This machine has no pixi: the check passes the
    // product and stops bootstrap at "no pixi" (exit 3) before it changes anything; past the
    // check, bootstrap records the folder and stops at "pixi is not on PATH".
    let quoted = dir.path().join("it's a product");
    std::fs::rename(&copy, &quoted).unwrap();
    let bootstrap = |skip: &str| {
        Command::new("sh")
            .arg(quoted.join("bootstrap-project.sh"))
            .env("PATH", "/usr/bin:/bin")
            .env("PIXI_AIRGAP_SKIP_CHECK", skip)
            .output()
            .unwrap()
    };
    let out = bootstrap("0");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("is intact ("), "{err}");
    assert!(err.contains("preflight: error: no pixi"), "{err}");
    assert_eq!(
        std::fs::read(quoted.join("envs.sh")).unwrap(),
        std::fs::read(product().join("envs.sh")).unwrap()
    );
    let out = bootstrap("1");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let envs = std::fs::read_to_string(quoted.join("envs.sh")).unwrap();
    assert!(
        envs.contains(r"_pixi_airgap_recorded='/") && envs.contains(r"it'\''s a product'"),
        "{err}\n{envs}"
    );
    let env_bin = quoted.join("demo/.pixi/envs/default/bin");
    std::fs::create_dir_all(&env_bin).unwrap();
    std::fs::write(env_bin.join("python"), "#!/bin/sh\n").unwrap();
    symlink("/usr/bin/python3", env_bin.join("python3")).unwrap();
    std::fs::write(quoted.join("demo/.pixi/state.json"), "{}").unwrap();
    // What pixi leaves in the package cache while installing (make-product leaves it out too).
    std::fs::create_dir_all(quoted.join("pkg-cache/.tmp-install")).unwrap();
    std::fs::create_dir_all(quoted.join("pkg-cache/pkgs/.tmpAbc/x")).unwrap();
    std::fs::write(quoted.join("pkg-cache/pkgs/a-1-0.lock"), "").unwrap();
    // Moved and renamed after bootstrap.
    let moved = dir.path().join("elsewhere/renamed");
    std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
    std::fs::rename(&quoted, &moved).unwrap();
    for runner in runners() {
        let out = run_check(&moved, &runner, &[]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            runner.0,
            text(&out.stderr)
        );
    }
    // And verify-product's own check agrees (it refuses before any container when it does not).
    let (_, report) = pixi_airgap::product::manifest::check(&moved).unwrap();
    assert!(report.extra.is_empty(), "{:?}", report.extra);
    assert!(report.runtime_state.contains_key("demo/.pixi/envs"));
}

/// One way to damage a product, and the path the check must name.
struct Case {
    name: &'static str,
    damage: fn(&Path),
    names: &'static str,
}

fn flip_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 1;
    std::fs::write(path, bytes).unwrap();
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "flipped byte in a package file",
            damage: |p| flip_byte(&p.join("pkg-cache/pkgs/a-1-0/lib/liba.so.1")),
            names: "pkg-cache/pkgs/a-1-0/lib/liba.so.1",
        },
        Case {
            name: "flipped byte in the project",
            damage: |p| flip_byte(&p.join("demo/src/app.py")),
            names: "demo/src/app.py",
        },
        Case {
            name: "flipped byte in envs.sh",
            damage: |p| {
                let text = std::fs::read_to_string(p.join("envs.sh")).unwrap();
                std::fs::write(
                    p.join("envs.sh"),
                    text.replace("PIXI_FROZEN=true", "PIXI_FROZEN=truf"),
                )
                .unwrap();
            },
            names: "envs.sh",
        },
        Case {
            name: "envs.sh recorded line with code after it",
            damage: |p| {
                let text = std::fs::read_to_string(p.join("envs.sh")).unwrap();
                std::fs::write(
                    p.join("envs.sh"),
                    text.replace(
                        "_pixi_airgap_recorded=''\n",
                        "_pixi_airgap_recorded=''; echo evil\n",
                    ),
                )
                .unwrap();
            },
            names: "envs.sh",
        },
        Case {
            name: "flipped byte in the project's .pixi/config.toml (listed, not runtime state)",
            damage: |p| flip_byte(&p.join("demo/.pixi/config.toml")),
            names: "demo/.pixi/config.toml",
        },
        Case {
            name: "file removed",
            damage: |p| std::fs::remove_file(p.join("demo/pixi.lock")).unwrap(),
            names: "demo/pixi.lock",
        },
        Case {
            name: "file added in pkg-cache",
            damage: |p| std::fs::write(p.join("pkg-cache/pkgs/a-1-0/bin/extra"), "x").unwrap(),
            names: "pkg-cache/pkgs/a-1-0/bin/extra",
        },
        Case {
            name: "file added at the root",
            damage: |p| std::fs::write(p.join("README.txt"), "x").unwrap(),
            names: "README.txt",
        },
        Case {
            name: "bin/pixi added",
            damage: |p| {
                std::fs::create_dir_all(p.join("bin")).unwrap();
                std::fs::write(p.join("bin/pixi"), "#!/bin/sh\necho pixi 0.15.2\n").unwrap();
                std::fs::set_permissions(
                    p.join("bin/pixi"),
                    std::fs::Permissions::from_mode(0o755),
                )
                .unwrap();
            },
            names: "bin/pixi",
        },
        Case {
            name: "file replaced by a link (same content)",
            damage: |p| {
                let target = p.join("demo/src/app.py");
                let keep = p.parent().unwrap().join("app.py.outside");
                std::fs::copy(&target, &keep).unwrap();
                std::fs::remove_file(&target).unwrap();
                symlink(&keep, &target).unwrap();
            },
            names: "demo/src/app.py",
        },
        Case {
            name: "link retargeted",
            damage: |p| {
                let link = p.join("pkg-cache/pkgs/a-1-0/lib/liba.so");
                std::fs::remove_file(&link).unwrap();
                symlink("../bin/tool", &link).unwrap();
            },
            names: "pkg-cache/pkgs/a-1-0/lib/liba.so",
        },
        Case {
            name: "a .tmp folder added inside a package (never runtime state there)",
            damage: |p| std::fs::create_dir(p.join("pkg-cache/pkgs/a-1-0/lib/.tmp")).unwrap(),
            names: "pkg-cache/pkgs/a-1-0/lib/.tmp",
        },
        Case {
            name: "empty folder added",
            damage: |p| std::fs::create_dir(p.join("pkg-cache/pkgs/b-1-0")).unwrap(),
            names: "pkg-cache/pkgs/b-1-0",
        },
        Case {
            name: "file and manifest changed together (manifest re-hashed, SHA256SUMS not)",
            damage: |p| {
                flip_byte(&p.join("demo/src/app.py"));
                let sha = crate::common::sha256_file(&p.join("demo/src/app.py"));
                let path = p.join("pixi-airgap.json");
                let mut manifest: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                for f in manifest["files"].as_array_mut().unwrap() {
                    if f["path"] == "demo/src/app.py" {
                        f["sha256"] = sha.clone().into();
                    }
                }
                std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
            },
            names: "demo/src/app.py",
        },
        Case {
            name: "SHA256SUMS removed",
            damage: |p| std::fs::remove_file(p.join("SHA256SUMS")).unwrap(),
            names: "SHA256SUMS",
        },
        Case {
            name: "folder replaced by a link to a copy",
            damage: |p| {
                let src = p.join("demo/src");
                let away = p.parent().unwrap().join("src-away");
                std::fs::rename(&src, &away).unwrap();
                symlink(&away, &src).unwrap();
            },
            names: "demo/src",
        },
    ]
}

#[test]
fn every_tampering_is_named_by_every_shell_and_refused_by_verify_product_and_bootstrap() {
    let dir = tempfile::tempdir().unwrap();
    for (n, case) in cases().into_iter().enumerate() {
        let case_dir = dir.path().join(format!("case-{n}"));
        std::fs::create_dir_all(&case_dir).unwrap();
        let copy = copy_product(&case_dir.join("product"));
        (case.damage)(&copy);
        for runner in runners() {
            let out = run_check(&copy, &runner, &[]);
            let err = text(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{} with {}: {err}",
                case.name,
                runner.0
            );
            assert!(
                err.contains(&format!("  {}: ", case.names)),
                "{} with {}: {err}",
                case.name,
                runner.0
            );
            assert!(err.contains("install nothing from it"), "{err}");
        }
        // verify-product refuses before any container (no engine is asked).
        let out = TestCommand::new()
            .args(["verify-product", "--image", "no-such-image:never-pulled"])
            .path_arg("--product-dir", &copy)
            .path_arg("--out-dir", &case_dir.join("proof"))
            .args(["--project-name", "demo"])
            .without_docker()
            .output();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {err}", case.name);
        assert!(err.contains(case.names), "{}: {err}", case.name);
        assert!(!case_dir.join("proof/verify-report.json").exists());
        // Bootstrap installs nothing: it stops at the check, before recording its folder.
        let envs_before = std::fs::read(copy.join("envs.sh")).unwrap();
        let out = Command::new("sh")
            .arg(copy.join("bootstrap-project.sh"))
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {err}", case.name);
        assert!(
            err.contains("nothing was installed"),
            "{}: {err}",
            case.name
        );
        assert_eq!(std::fs::read(copy.join("envs.sh")).unwrap(), envs_before);
        assert!(!copy.join("demo/.pixi/envs").exists());
    }
}

#[test]
fn many_problems_are_counted_after_the_first_fifty() {
    let dir = tempfile::tempdir().unwrap();
    let copy = copy_product(&dir.path().join("product"));
    for i in 0..60 {
        std::fs::write(copy.join(format!("pkg-cache/added-{i:02}")), "x").unwrap();
    }
    let out = run_check(&copy, &runners()[0], &[]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("damaged: 60 problem(s)"), "{err}");
    assert!(err.contains("pkg-cache/added-49: a file that is not part of the product"));
    assert!(!err.contains("pkg-cache/added-50:"), "{err}");
    assert!(err.contains("... and 10 more"), "{err}");
}

#[test]
fn bootstrap_skips_the_check_only_when_told_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let copy = copy_product(&dir.path().join("product"));
    std::fs::write(copy.join("README.txt"), "x").unwrap();
    let out = Command::new("sh")
        .arg(copy.join("bootstrap-project.sh"))
        .env("PIXI_AIRGAP_SKIP_CHECK", "1")
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(
        err.contains("PIXI_AIRGAP_SKIP_CHECK=1: installing without checking the product"),
        "{err}"
    );
    // Past the check: it recorded its folder and stopped only for the missing pixi.
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("pixi is not on PATH"), "{err}");
}

fn preflight(product: &Path, path: &str) -> Output {
    Command::new("sh")
        .arg(product.join("check-product.sh"))
        .arg("--preflight")
        .env("PATH", path)
        .output()
        .unwrap()
}

#[test]
fn preflight_refuses_a_foreign_platform_and_a_lock_that_needs_a_newer_glibc() {
    let dir = tempfile::tempdir().unwrap();
    // The facts make-product recorded from the lock.
    let facts = std::fs::read_to_string(product().join("product-facts.txt")).unwrap();
    assert!(facts.contains("\nplatform=linux-64\n"), "{facts}");
    assert!(facts.contains("\nglibc=2.17\n"), "{facts}");
    assert!(facts.contains("\nlock_version=4\n"), "{facts}");
    assert!(facts.contains("\nlock_pixi_min=0.13.0\n"), "{facts}");
    assert!(facts.contains("\nbuild_pixi=pixi 0.15.2\n"), "{facts}");
    assert!(facts.contains("\ninstall_bytes=70034\n"), "{facts}");

    // A lock that needs glibc 99: made from it, the product says so here.
    let newer = make_product_from(&dir.path().join("glibc"), LOCK_V7_NEW_GLIBC, 7);
    let out = preflight(&newer, "/usr/bin:/bin");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("is intact ("), "{err}");
    let have = text(
        &Command::new("getconf")
            .arg("GNU_LIBC_VERSION")
            .output()
            .unwrap()
            .stdout,
    );
    let have = have.trim().trim_start_matches("glibc ");
    assert!(
        err.contains(&format!(
            "preflight: error: the lock needs glibc 99.0, this machine has glibc {have}"
        )),
        "{err}"
    );

    // A product made for another platform (its facts say so, and its SHA256SUMS agrees).
    let foreign = copy_product(&dir.path().join("foreign"));
    let facts_path = foreign.join("product-facts.txt");
    let text_now = std::fs::read_to_string(&facts_path).unwrap();
    std::fs::write(
        &facts_path,
        text_now.replace("platform=linux-64", "platform=linux-aarch64"),
    )
    .unwrap();
    rehash(&foreign, "product-facts.txt");
    let out = preflight(&foreign, "/usr/bin:/bin");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("preflight: error: the product is for linux-aarch64, this machine is linux-64 (Linux/x86_64)"),
        "{err}"
    );
    // Bootstrap stops there too, before it changes anything.
    let envs_before = std::fs::read(foreign.join("envs.sh")).unwrap();
    let out = Command::new("sh")
        .arg(foreign.join("bootstrap-project.sh"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(foreign.join("envs.sh")).unwrap(), envs_before);
}

/// Unmounts on drop.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn preflight_refuses_a_nearly_full_file_system() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "this test mounts a 1 MiB tmpfs (it needs root, or CAP_SYS_ADMIN)"
    );
    let _mount = Mount(mnt.clone());
    let copy = copy_product(&mnt.join("product"));
    // Fill the file system until less than the install needs (70 KiB) is left.
    let free_k = |path: &Path| -> u64 {
        let out = Command::new("df").arg("-Pk").arg(path).output().unwrap();
        text(&out.stdout)
            .lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .nth(3)
            .unwrap()
            .parse()
            .unwrap()
    };
    let fill = free_k(&mnt).saturating_sub(40);
    std::fs::write(mnt.join("filler"), vec![0u8; (fill * 1024) as usize]).unwrap();
    let left = free_k(&mnt);
    assert!(left < 69, "{left} KiB left");
    let out = preflight(&copy, "/usr/bin:/bin");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "preflight: error: installing needs about 69 KiB in '{}' (the environments, when pkg-cache cannot be hard-linked), the file system has {left} KiB free",
            copy.display()
        )),
        "{err}"
    );
}

/// In the test image (pixi 0.15.2 on PATH): a product whose lock is format 7 cannot be installed
/// with it, and pre-flight says so; the format-4 product passes; without pixi, exit 3.
#[test]
#[cfg(feature = "pixi015")]
fn preflight_in_the_image_refuses_a_v7_lock_for_pixi_015() {
    let Some(bed) = crate::common::testbed() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let v7 = make_product_from(&dir.path().join("v7"), LOCK_V7_NEW_GLIBC, 7);
    let v4 = copy_product(&dir.path().join("v4"));
    for (image, product, want, message) in [
        (
            &bed.image,
            &v7,
            2,
            "preflight: error: pixi.lock is lock format 7, which needs pixi 0.68.0 or newer; '",
        ),
        (
            &bed.image,
            &v4,
            0,
            "preflight: nothing found that stops an install on this machine (0 warning(s))",
        ),
        (&bed.nopixi_image, &v4, 3, "preflight: error: no pixi"),
    ] {
        let (out, code) = crate::common::runtime().block_on(async {
            let spec = pixi_airgap::docker::ContainerSpec {
                image: image.clone(),
                labels: vec![("io.pixi-airgap.test".into(), "preflight".into())],
                network: Some("none".into()),
                ..Default::default()
            };
            let container = bed.docker.start_container(&spec).await.unwrap();
            crate::common::upload_tree(&bed.docker, container.id(), product, "/tmp", "product")
                .await;
            let result = crate::common::exec_in(
                &bed.docker,
                container.id(),
                &pixi_airgap::docker::ExecSpec::new([
                    "sh",
                    "-c",
                    "sh /tmp/product/check-product.sh --preflight 2>&1",
                ]),
            )
            .await;
            container.remove().await.unwrap();
            result
        });
        assert_eq!(code, i64::from(want), "{image}: {out}");
        assert!(out.contains(message), "{image}: {out}");
        if want == 2 {
            assert!(out.contains("' is pixi 0.15.2 and cannot read it"), "{out}");
        }
    }
}

/// The pixi on PATH (the test bed's host copy of pixi 0.15.2) against the lock's format and the
/// project's `requires-pixi`, recorded in the product's facts.
#[test]
fn preflight_judges_the_pixi_on_path_against_the_lock_and_requires_pixi() {
    let home = std::env::var_os("HOME").expect("HOME");
    let pixi = Path::new(&home).join(".cache/pixi-airgap-testbed/bin/pixi-0.15.2");
    assert!(
        pixi.is_file(),
        "`{}` is missing: run scripts/testbed.sh (it keeps a host copy of each test-bed pixi)",
        pixi.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    symlink(&pixi, bin.join("pixi")).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.display());
    // The format-4 product: this pixi reads it, and is the build's.
    let out = preflight(product(), &path);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(
            "preflight: nothing found that stops an install on this machine (0 warning(s))"
        ),
        "{err}"
    );
    // A format-7 lock: pixi 0.15 cannot read it, and the check says so instead of pixi failing.
    let v7 = make_product_from(&dir.path().join("v7"), LOCK_V7_NEW_GLIBC, 7);
    let out = preflight(&v7, &path);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "pixi.lock is lock format 7, which needs pixi 0.68.0 or newer; '{}' is pixi 0.15.2 and cannot read it",
            bin.join("pixi").display()
        )),
        "{err}"
    );
    // requires-pixi: met, unmet, and a spec beyond the script (a warning).
    for (spec, code, says) in [
        (">=0.15, <1", 0, None),
        (
            ">=0.40",
            2,
            Some("error: the project has requires-pixi = \">=0.40\"; '"),
        ),
        (
            "~=0.15.0",
            0,
            Some("warning: cannot judge requires-pixi = \"~=0.15.0\" here"),
        ),
    ] {
        let copy = copy_product(&dir.path().join(format!("req-{code}-{}", spec.len())));
        let facts = copy.join("product-facts.txt");
        let now = std::fs::read_to_string(&facts).unwrap();
        std::fs::write(
            &facts,
            now.replace("requires_pixi=\n", &format!("requires_pixi={spec}\n")),
        )
        .unwrap();
        rehash(&copy, "product-facts.txt");
        let out = preflight(&copy, &path);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{spec}: {err}");
        if let Some(says) = says {
            assert!(err.contains(says), "{spec}: {err}");
        }
    }
}
