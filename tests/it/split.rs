//! Split archives (`--split-size`): parts of at most SIZE, the `.sha256` list, and
//! `join-product.sh` run by real shells (the system `sh`, and busybox alone on PATH): it names
//! missing and damaged parts, joins atomically into exactly the unsplit archive, and unpacks; with
//! `--allowed-signers` it first checks the signature of the list (`.sha256.sig`).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::*;
use pixi_airgap::product::archive::{
    write, write_with, ArchiveFormat, ArchiveInfo, ArchiveOptions,
};
use pixi_airgap::product::split::SplitSize;
use pixi_airgap::signing::SigningKey;

/// A product with enough incompressible bytes to need several parts.
fn product(root: &Path) {
    let files: &[(&str, Vec<u8>, u32)] = &[
        (
            "demo/pixi.toml",
            b"[project]\nname = \"demo\"\n".to_vec(),
            0o644,
        ),
        ("envs.sh", b"export X=1\n".to_vec(), 0o644),
        (
            "bootstrap-project.sh",
            b"#!/bin/sh\necho bootstrap\n".to_vec(),
            0o755,
        ),
        ("pkg-cache/pkgs/big-1.0-0/lib/blob", noise(150_000), 0o644),
        (
            "pkg-cache/pkgs/small-1.0-0/info/index.json",
            b"{}\n".to_vec(),
            0o644,
        ),
    ];
    for (path, content, mode) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).unwrap();
    }
    std::os::unix::fs::symlink("blob", root.join("pkg-cache/pkgs/big-1.0-0/lib/blob.so")).unwrap();
}

/// Deterministic bytes zstd cannot shrink.
/// `root` archived as `product.<ext>` in `dir`, in parts of at most `split` (`None`: whole).
fn write_split(
    root: &Path,
    dir: &Path,
    format: ArchiveFormat,
    split: Option<SplitSize>,
) -> ArchiveInfo {
    let options = ArchiveOptions {
        split,
        ..ArchiveOptions::new(format)
    };
    write_with(root, dir, "product", options).unwrap()
}

fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn join(dir: &Path, shell: &[&str], path_env: Option<&Path>, extra: &[&str]) -> Output {
    let mut cmd = Command::new(shell[0]);
    cmd.args(&shell[1..])
        .arg(dir.join("join-product.sh"))
        .args(extra)
        .current_dir(dir);
    if let Some(path) = path_env {
        cmd.env_clear().env("PATH", path);
    }
    let output = cmd.output().unwrap();
    eprintln!(
        "join-product.sh {extra:?}: {:?}\n{}",
        output.status.code(),
        stderr(&output)
    );
    output
}

/// A folder holding only links to busybox applets: the receiver with nothing else installed.
fn busybox_path(tmp: &Path) -> PathBuf {
    let bin = tmp.join("busybox-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let busybox = which("busybox").expect("busybox is needed for this test");
    let list = Command::new(&busybox).arg("--list").output().unwrap();
    for applet in String::from_utf8(list.stdout).unwrap().lines() {
        std::os::unix::fs::symlink(&busybox, bin.join(applet)).unwrap();
    }
    assert!(bin.join("sha256sum").exists());
    bin
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

#[test]
fn split_parts_sha256_list_and_join_give_the_unsplit_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("product");
    product(&root);
    for format in [ArchiveFormat::Tar, ArchiveFormat::TarZst] {
        let ext = format.extension();
        let whole_dir = tmp.path().join(format!("whole-{ext}"));
        let split_dir = tmp.path().join(format!("split-{ext}"));
        std::fs::create_dir_all(&whole_dir).unwrap();
        std::fs::create_dir_all(&split_dir).unwrap();
        let whole = write(&root, &whole_dir, "product", format).unwrap();
        let size = SplitSize::new(40 << 10).unwrap();
        let info = write_split(&root, &split_dir, format, Some(size));
        assert_eq!(info.sha256, whole.sha256);
        assert_eq!(info.size_bytes, whole.size_bytes);
        let split = info.split.as_ref().unwrap();
        let expected_parts = whole.size_bytes.div_ceil(40 * 1024) as usize;
        assert!(expected_parts >= 4, "{expected_parts}");
        assert_eq!(split.parts.len(), expected_parts);
        let name = format!("product.{ext}");
        let mut expected_names: Vec<String> = (0..expected_parts)
            .map(|i| format!("{name}.{i:03}"))
            .collect();
        expected_names.push(format!("{name}.sha256"));
        expected_names.push("join-product.sh".to_string());
        expected_names.sort();
        // No whole archive on disk, no staging leftovers.
        assert_eq!(names_in(&split_dir), expected_names);
        for (i, part) in split.parts.iter().enumerate() {
            let len = std::fs::metadata(&part.path).unwrap().len();
            assert_eq!(len, part.size_bytes);
            if i + 1 < split.parts.len() {
                assert_eq!(len, 40 * 1024);
            } else {
                assert!(len > 0 && len <= 40 * 1024);
            }
        }

        // The list: every part in order, then the whole under the joined name.
        let list = std::fs::read_to_string(split_dir.join(format!("{name}.sha256"))).unwrap();
        let mut expected = String::new();
        for (i, part) in split.parts.iter().enumerate() {
            expected.push_str(&format!(
                "{}  {name}.{i:03}\n",
                sha256_file(&split_dir.join(format!("{name}.{i:03}")))
            ));
            assert_eq!(part.sha256, sha256_file(&part.path));
        }
        expected.push_str(&format!("{}  {name}\n", whole.sha256));
        assert_eq!(list, expected);

        // The README's join by hand: cat in glob order, then sha256sum -c.
        let by_hand = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "cat {name}.[0-9]* > {name} && sha256sum -c {name}.sha256"
            ))
            .current_dir(&split_dir)
            .output()
            .unwrap();
        assert_eq!(by_hand.status.code(), Some(0), "{}", stderr(&by_hand));
        assert_eq!(
            std::fs::read(split_dir.join(&name)).unwrap(),
            std::fs::read(&whole.path).unwrap()
        );
        std::fs::remove_file(split_dir.join(&name)).unwrap();

        // join-product.sh gives the same bytes.
        let output = join(&split_dir, &["sh"], None, &[]);
        assert_eq!(output.status.code(), Some(0));
        assert!(stderr(&output).contains(&format!("all {expected_parts} parts present and intact")));
        assert_eq!(
            std::fs::read(split_dir.join(&name)).unwrap(),
            std::fs::read(&whole.path).unwrap(),
            "join differs from the unsplit archive"
        );
    }
}

#[test]
fn split_parts_are_deterministic_and_a_rewrite_removes_only_its_own_leftovers() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("product");
    product(&root);
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let size = SplitSize::new(30000);
    let first = write_split(&root, &a, ArchiveFormat::TarZst, size);
    // mtimes must not matter.
    std::fs::write(root.join("envs.sh"), "export X=1\n").unwrap();
    let second = write_split(&root, &b, ArchiveFormat::TarZst, size);
    let (p1, p2) = (
        &first.split.as_ref().unwrap().parts,
        &second.split.as_ref().unwrap().parts,
    );
    assert_eq!(p1.len(), p2.len());
    for (x, y) in p1.iter().zip(p2) {
        assert_eq!(
            std::fs::read(&x.path).unwrap(),
            std::fs::read(&y.path).unwrap()
        );
    }
    assert_eq!(
        std::fs::read(a.join("product.tar.zst.sha256")).unwrap(),
        std::fs::read(b.join("product.tar.zst.sha256")).unwrap()
    );

    // Bigger parts into the same folder: the earlier extra parts go, a file of the user's stays.
    std::fs::write(a.join("notes.txt"), "mine").unwrap();
    let bigger = write_split(&root, &a, ArchiveFormat::TarZst, SplitSize::new(1 << 20));
    assert_eq!(bigger.split.as_ref().unwrap().parts.len(), 1);
    assert_eq!(
        names_in(&a),
        [
            "join-product.sh",
            "notes.txt",
            "product.tar.zst.000",
            "product.tar.zst.sha256"
        ]
    );
    // Unsplit again: the parts and the join script go.
    write(&root, &a, "product", ArchiveFormat::TarZst).unwrap();
    assert_eq!(
        names_in(&a),
        ["notes.txt", "product.tar.zst", "product.tar.zst.sha256"]
    );
}

#[test]
fn join_names_missing_and_damaged_parts_and_leaves_no_half_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("product");
    product(&root);
    let dir = tmp.path().join("media");
    std::fs::create_dir_all(&dir).unwrap();
    let size = SplitSize::new(40 << 10);
    let info = write_split(&root, &dir, ArchiveFormat::Tar, size);
    let parts = &info.split.as_ref().unwrap().parts;
    assert!(parts.len() >= 4);
    let missing = parts[1].path.clone();
    let damaged = parts[2].path.clone();
    let keep_missing = std::fs::read(&missing).unwrap();
    let keep_damaged = std::fs::read(&damaged).unwrap();
    std::fs::remove_file(&missing).unwrap();
    let mut bytes = keep_damaged.clone();
    bytes[100] ^= 1;
    std::fs::write(&damaged, &bytes).unwrap();

    let output = join(&dir, &["sh"], None, &[]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("missing: product.tar.001"), "{err}");
    assert!(err.contains("damaged: product.tar.002"), "{err}");
    assert!(err.contains("2 of"), "{err}");
    for intact in [0, 3] {
        assert!(!err.contains(&format!("product.tar.{intact:03}")), "{err}");
    }
    assert!(!dir.join("product.tar").exists());
    assert!(
        names_in(&dir).iter().all(|n| !n.starts_with('.')),
        "{:?}",
        names_in(&dir)
    );

    // A damaged list (the whole's sum is wrong): the parts pass, the joined whole does not, and
    // nothing is left under the final name or a temporary one.
    std::fs::write(&missing, &keep_missing).unwrap();
    std::fs::write(&damaged, &keep_damaged).unwrap();
    let list_path = dir.join("product.tar.sha256");
    let list = std::fs::read_to_string(&list_path).unwrap();
    let bad_list = list.replace(&info.sha256, &"0".repeat(64));
    std::fs::write(&list_path, &bad_list).unwrap();
    let output = join(&dir, &["sh"], None, &[]);
    assert_exit(&output, 2, "do not give product.tar");
    assert!(!dir.join("product.tar").exists());
    assert!(
        names_in(&dir).iter().all(|n| !n.starts_with('.')),
        "{:?}",
        names_in(&dir)
    );

    // Carried again: it joins.
    std::fs::write(&list_path, &list).unwrap();
    let output = join(&dir, &["sh"], None, &[]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(sha256_file(&dir.join("product.tar")), info.sha256);
    // Run again: already joined, nothing rewritten.
    let output = join(&dir, &["sh"], None, &[]);
    assert_exit(&output, 0, "already joined");
}

#[test]
fn join_and_extract_with_busybox_alone_on_path() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("product");
    product(&root);
    let bin = busybox_path(tmp.path());
    let busybox = which("busybox").unwrap();
    let busybox = busybox.to_str().unwrap();

    // tar: busybox joins and unpacks it.
    let dir = tmp.path().join("media-tar");
    std::fs::create_dir_all(&dir).unwrap();
    let size = SplitSize::new(40 << 10);
    let info = write_split(&root, &dir, ArchiveFormat::Tar, size);
    std::fs::remove_file(&info.split.as_ref().unwrap().parts[0].path).unwrap();
    let output = join(&dir, &[busybox, "sh"], Some(&bin), &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("missing: product.tar.000"));
    let info = write_split(&root, &dir, ArchiveFormat::Tar, size);
    let target = tmp.path().join("installed");
    let t = target.display().to_string();
    let output = join(&dir, &[busybox, "sh"], Some(&bin), &["--extract", &t]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(sha256_file(&dir.join("product.tar")), info.sha256);
    assert_eq!(
        tree_snapshot(&target.join("product")).len(),
        tree_snapshot(&root).len()
    );
    assert_eq!(
        std::fs::read(target.join("product/pkg-cache/pkgs/big-1.0-0/lib/blob")).unwrap(),
        noise(150_000)
    );
    assert_eq!(
        std::fs::read_link(target.join("product/pkg-cache/pkgs/big-1.0-0/lib/blob.so")).unwrap(),
        Path::new("blob")
    );
    assert!(stderr(&output).contains("bootstrap-project.sh"));
    // A second unpack into the same folder is refused: the product there is kept.
    let output = join(&dir, &[busybox, "sh"], Some(&bin), &["--extract", &t]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("already exists"));

    // tar.zst: busybox joins it, and says what unpacking needs.
    let dir = tmp.path().join("media-zst");
    std::fs::create_dir_all(&dir).unwrap();
    let info = write_split(&root, &dir, ArchiveFormat::TarZst, size);
    let t = tmp.path().join("installed-zst").display().to_string();
    let output = join(&dir, &[busybox, "sh"], Some(&bin), &["--extract", &t]);
    assert_eq!(output.status.code(), Some(3));
    assert!(stderr(&output).contains("needs `zstd` or a tar with --zstd"));
    assert_eq!(sha256_file(&dir.join("product.tar.zst")), info.sha256);
    // With zstd on PATH (the system's), it unpacks.
    let output = join(&dir, &["sh"], None, &["--extract", &t]);
    assert_eq!(output.status.code(), Some(0));
    assert!(Path::new(&t).join("product/envs.sh").is_file());
}

#[test]
fn join_script_is_shellcheck_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("join-product.sh");
    std::fs::write(
        &script,
        pixi_airgap::product::split::join_script_text("product.tar.zst", "product").unwrap(),
    )
    .unwrap();
    let output = Command::new("shellcheck")
        .arg("-s")
        .arg("sh")
        .arg(&script)
        .output()
        .expect("shellcheck is needed for this test");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[test]
fn split_size_is_parsed_by_clap_naming_the_flag() {
    for bad in ["0", "12XB", "lots"] {
        let output = TestCommand::new()
            .args([
                "pack",
                "--image",
                "x",
                "--project-dir",
                ".",
                "--archive",
                "tar",
                "--split-size",
                bad,
            ])
            .output();
        assert_exit(&output, 2, "--split-size");
    }
    // Without --archive there is nothing to split.
    let output = TestCommand::new()
        .args([
            "pack",
            "--image",
            "x",
            "--project-dir",
            ".",
            "--split-size",
            "1GiB",
        ])
        .output();
    assert_exit(&output, 2, "--archive");
}

/// `ssh-keygen -t ed25519 -N '' -f dir/name`, made at test time: the key, and an allowed-signers
/// line for it as `id`.
fn keygen(dir: &Path, name: &str, id: &str) -> (SigningKey, String) {
    let path = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .output()
        .expect("ssh-keygen is needed for this test");
    assert!(out.status.success(), "ssh-keygen: {out:?}");
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    let mut fields = public.split_whitespace();
    let (kind, base64) = (fields.next().unwrap(), fields.next().unwrap());
    (
        SigningKey::load_with(&path, None).unwrap(),
        format!("{id} namespaces=\"pixi-airgap\" {kind} {base64}\n"),
    )
}

/// The README's check by hand: `ssh-keygen -Y verify -f allowed_signers -I ID -n pixi-airgap -s
/// X.sha256.sig < X.sha256`.
fn ssh_keygen_verify(allowed: &Path, id: &str, list: &Path) -> Output {
    let sig = format!("{}.sig", list.display());
    Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f"])
        .arg(allowed)
        .args(["-I", id, "-n", "pixi-airgap", "-s", &sig])
        .stdin(std::fs::File::open(list).unwrap())
        .output()
        .unwrap()
}

#[test]
fn a_signed_parts_list_is_checked_by_join_before_any_part() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("product");
    product(&root);
    let (key, allowed_line) = keygen(tmp.path(), "release", "release@example.org");
    let (other, _) = keygen(tmp.path(), "other", "other@example.org");
    let allowed = tmp.path().join("allowed_signers");
    std::fs::write(&allowed, &allowed_line).unwrap();
    let a = allowed.to_str().unwrap();
    let dir = tmp.path().join("media");
    std::fs::create_dir_all(&dir).unwrap();
    let size = SplitSize::new(40 << 10);
    let info = write_with(
        &root,
        &dir,
        "product",
        ArchiveOptions {
            split: size,
            key: Some(&key),
            ..ArchiveOptions::new(ArchiveFormat::Tar)
        },
    )
    .unwrap();
    let list = dir.join("product.tar.sha256");
    let sig = dir.join("product.tar.sha256.sig");
    assert_eq!(info.signature.as_deref(), Some(sig.as_path()));
    let parts = info.split.as_ref().unwrap().parts.clone();
    assert!(names_in(&dir).contains(&"product.tar.sha256.sig".to_string()));

    let out = ssh_keygen_verify(&allowed, "release@example.org", &list);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("Good \"pixi-airgap\" signature for release@example.org"),
        "{out:?}"
    );

    let busybox = which("busybox").expect("busybox is needed for this test");
    let busybox = busybox.to_str().unwrap();
    let shells: [&[&str]; 2] = [&["dash"], &[busybox, "sh"]];
    let joined = dir.join("product.tar");
    for shell in shells {
        for extra in [
            &["--allowed-signers", a][..],
            &["--allowed-signers", a, "--identity", "release@example.org"],
        ] {
            let output = join(&dir, shell, None, extra);
            assert_eq!(output.status.code(), Some(0), "{shell:?} {extra:?}");
            let err = stderr(&output);
            assert!(
                err.contains(
                    "signature good: Good \"pixi-airgap\" signature for release@example.org"
                ),
                "{err}"
            );
            assert!(err.contains("parts present and intact"), "{err}");
            assert_eq!(sha256_file(&joined), info.sha256);
            std::fs::remove_file(&joined).unwrap();
        }
        // Another identity than the key's: refused.
        let output = join(
            &dir,
            shell,
            None,
            &["--allowed-signers", a, "--identity", "other@example.org"],
        );
        assert_eq!(output.status.code(), Some(2), "{shell:?}");
        assert!(stderr(&output).contains("does not verify for other@example.org"));
        // --identity alone is a usage error.
        let output = join(&dir, shell, None, &["--identity", "release@example.org"]);
        assert_eq!(output.status.code(), Some(2), "{shell:?}");
        assert!(stderr(&output).contains("--identity needs --allowed-signers"));
    }

    // A part changed and the list re-hashed to match it: every part passes `sha256sum -c`, but
    // the signature no longer covers the list, and join stops before it looks at any part.
    let (keep_list, keep_part) = (
        std::fs::read_to_string(&list).unwrap(),
        std::fs::read(&parts[1].path).unwrap(),
    );
    let mut bytes = keep_part.clone();
    bytes[100] ^= 1;
    std::fs::write(&parts[1].path, &bytes).unwrap();
    let rehashed = keep_list.replace(&parts[1].sha256, &sha256_file(&parts[1].path));
    assert_ne!(rehashed, keep_list);
    std::fs::write(&list, &rehashed).unwrap();
    for shell in shells {
        for extra in [
            &["--allowed-signers", a][..],
            &["--allowed-signers", a, "--identity", "release@example.org"],
        ] {
            let output = join(&dir, shell, None, extra);
            assert_eq!(output.status.code(), Some(2), "{shell:?} {extra:?}");
            let err = stderr(&output);
            assert!(
                err.contains("the signature product.tar.sha256.sig does not verify"),
                "{err}"
            );
            assert!(err.contains("product.tar.sha256 was changed"), "{err}");
            assert!(!err.contains("parts present"), "{err}");
            assert!(!joined.exists());
        }
    }
    std::fs::write(&list, &keep_list).unwrap();
    std::fs::write(&parts[1].path, &keep_part).unwrap();

    // Signed by another key: its key is not in the file.
    let good_sig = std::fs::read(&sig).unwrap();
    std::fs::write(&sig, other.sign(keep_list.as_bytes()).unwrap()).unwrap();
    assert!(!ssh_keygen_verify(&allowed, "release@example.org", &list)
        .status
        .success());
    for shell in shells {
        let output = join(&dir, shell, None, &["--allowed-signers", a]);
        assert_eq!(output.status.code(), Some(2), "{shell:?}");
        let err = stderr(&output);
        assert!(
            err.contains("the signature product.tar.sha256.sig was not made by a key of"),
            "{err}"
        );
        let output = join(
            &dir,
            shell,
            None,
            &["--allowed-signers", a, "--identity", "release@example.org"],
        );
        assert_eq!(output.status.code(), Some(2), "{shell:?}");
        assert!(stderr(&output).contains("product.tar.sha256.sig does not verify"));
        assert!(!joined.exists());
    }

    // No signature: refused with --allowed-signers, joined without it.
    std::fs::remove_file(&sig).unwrap();
    for shell in shells {
        let output = join(&dir, shell, None, &["--allowed-signers", a]);
        assert_eq!(output.status.code(), Some(2), "{shell:?}");
        let err = stderr(&output);
        assert!(err.contains("the parts list is not signed"), "{err}");
        assert!(err.contains("product.tar.sha256.sig' is missing"), "{err}");
        assert!(!joined.exists());
    }
    let output = join(&dir, &["dash"], None, &[]);
    assert_eq!(output.status.code(), Some(0));
    std::fs::remove_file(&joined).unwrap();

    // Busybox alone on PATH has no ssh-keygen: exit 3, saying so.
    std::fs::write(&sig, &good_sig).unwrap();
    let bin = busybox_path(tmp.path());
    let output = join(
        &dir,
        &[busybox, "sh"],
        Some(&bin),
        &["--allowed-signers", a],
    );
    assert_eq!(output.status.code(), Some(3));
    assert!(stderr(&output).contains("ssh-keygen is not on PATH"));
    assert!(!joined.exists());
}

#[test]
fn an_unsplit_archive_list_is_signed_too_and_an_unsigned_rewrite_drops_the_signature() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("product");
    product(&root);
    let (key, allowed_line) = keygen(tmp.path(), "release", "release@example.org");
    let allowed = tmp.path().join("allowed_signers");
    std::fs::write(&allowed, &allowed_line).unwrap();
    let dir = tmp.path().join("out");
    std::fs::create_dir_all(&dir).unwrap();
    let info = write_with(
        &root,
        &dir,
        "product",
        ArchiveOptions {
            split: None,
            key: Some(&key),
            ..ArchiveOptions::new(ArchiveFormat::TarZst)
        },
    )
    .unwrap();
    assert_eq!(
        names_in(&dir),
        [
            "product.tar.zst",
            "product.tar.zst.sha256",
            "product.tar.zst.sha256.sig"
        ]
    );
    assert_eq!(
        info.signature.as_deref(),
        Some(dir.join("product.tar.zst.sha256.sig").as_path())
    );
    let out = ssh_keygen_verify(&allowed, "release@example.org", &info.sha256_file);
    assert!(out.status.success(), "{out:?}");
    // Unsigned again: the old signature would not vouch for the new list, so it goes.
    let info = write(&root, &dir, "product", ArchiveFormat::TarZst).unwrap();
    assert!(info.signature.is_none());
    assert_eq!(
        names_in(&dir),
        ["product.tar.zst", "product.tar.zst.sha256"]
    );
}
