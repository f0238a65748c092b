//! Product signatures against the real OpenSSH: what we sign, `ssh-keygen -Y verify` accepts; what
//! `ssh-keygen -Y sign` makes, our verifier accepts; and both refuse the same forgeries. Keys are
//! made here, at test time, with `ssh-keygen` (no private key is committed).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::{assert_exit, assert_success, hand_staged_workdir, TestCommand};
use pixi_airgap::exit::{classify, render, Status};
use pixi_airgap::signing::{AllowedSigners, SigningKey, NAMESPACE};

/// Makes a key pair `dir/name` (+ `.pub`) with `ssh-keygen -t kind`, optionally with a passphrase.
fn keygen(dir: &Path, name: &str, kind: &str, passphrase: &str) -> PathBuf {
    let path = dir.join(name);
    // `ecdsa-384` is `-t ecdsa -b 384`.
    let (kind, bits) = match kind.split_once('-') {
        Some((kind, bits)) => (kind, Some(bits)),
        None => (kind, (kind == "rsa").then_some("2048")),
    };
    let mut cmd = Command::new("ssh-keygen");
    cmd.args([
        "-q",
        "-t",
        kind,
        "-N",
        passphrase,
        "-C",
        &format!("{name}@test"),
        "-f",
    ])
    .arg(&path);
    if let Some(bits) = bits {
        cmd.args(["-b", bits]);
    }
    let out = cmd.output().expect("ssh-keygen runs");
    assert!(out.status.success(), "ssh-keygen -t {kind}: {out:?}");
    path
}

fn public_key(key: &Path) -> String {
    let text = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let mut fields = text.split_whitespace();
    format!("{} {}", fields.next().unwrap(), fields.next().unwrap())
}

/// `ssh-keygen -Y verify -f allowed_signers -I ID -n NAMESPACE -s SIG < MESSAGE`, the exact
/// command the README gives the receiving side.
fn ssh_keygen_verify(
    allowed: &Path,
    identity: &str,
    namespace: &str,
    sig: &Path,
    message: &Path,
) -> Output {
    Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f"])
        .arg(allowed)
        .args(["-I", identity, "-n", namespace, "-s"])
        .arg(sig)
        .stdin(std::fs::File::open(message).unwrap())
        .output()
        .expect("ssh-keygen runs")
}

/// `ssh-keygen -Y sign -f KEY -n NAMESPACE FILE`: writes FILE.sig.
fn ssh_keygen_sign(key: &Path, namespace: &str, file: &Path) -> PathBuf {
    let out = Command::new("ssh-keygen")
        .args(["-Y", "sign", "-f"])
        .arg(key)
        .args(["-n", namespace])
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .expect("ssh-keygen runs");
    assert!(out.status.success(), "ssh-keygen -Y sign: {out:?}");
    PathBuf::from(format!("{}.sig", file.display()))
}

fn write(path: &Path, text: &str) {
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .unwrap();
}

struct Bed {
    _dir: tempfile::TempDir,
    root: PathBuf,
    sums: PathBuf,
}

fn bed() -> Bed {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let sums = root.join("SHA256SUMS");
    write(
        &sums,
        "0000000000000000000000000000000000000000000000000000000000000000  pixi-airgap.json\n",
    );
    Bed {
        _dir: dir,
        root,
        sums,
    }
}

fn verify_ours(
    allowed: &str,
    message: &[u8],
    sig: &str,
    identity: Option<&str>,
) -> anyhow::Result<String> {
    let signers = AllowedSigners::parse(allowed, "allowed_signers")?;
    signers
        .verify(message, sig, identity, chrono::Utc::now())
        .map(|v| v.principals)
}

/// A key of `kind` that ssh-key 0.6 can read. It cannot read an ECDSA key whose private scalar
/// starts with a zero byte (1 in 256 P-256/P-384 keys, half of P-521 keys: a known limit, in the
/// README); such a key is refused with exit 2 and a new one made here.
fn readable_key(dir: &Path, kind: &str) -> (PathBuf, SigningKey) {
    for attempt in 0..20 {
        let name = format!("release-{kind}-{attempt}");
        let path = keygen(dir, &name, kind, "");
        match SigningKey::load_with(&path, None) {
            Ok(key) => return (path, key),
            Err(err) if kind.starts_with("ecdsa") => {
                assert_eq!(classify(&err), Status::InputError, "{}", render(&err))
            }
            Err(err) => panic!("{kind}: {}", render(&err)),
        }
    }
    panic!("no readable {kind} key in 20 tries")
}

#[test]
fn our_signatures_pass_ssh_keygen_verify_for_ed25519_and_ecdsa_keys() {
    let bed = bed();
    for kind in ["ed25519", "ecdsa", "ecdsa-384", "ecdsa-521"] {
        let (key_path, key) = readable_key(&bed.root, kind);
        // The fingerprint is the one ssh-keygen prints.
        let listed = Command::new("ssh-keygen")
            .args(["-l", "-E", "sha256", "-f"])
            .arg(key_path.with_extension("pub"))
            .output()
            .unwrap();
        let listed = String::from_utf8(listed.stdout).unwrap();
        assert_eq!(
            listed.split_whitespace().nth(1),
            Some(key.fingerprint().as_str()),
            "{kind}"
        );
        assert_eq!(key.public_key().unwrap(), public_key(&key_path), "{kind}");

        let sig = bed.root.join(format!("SHA256SUMS.{kind}.sig"));
        write(&sig, &key.sign(&std::fs::read(&bed.sums).unwrap()).unwrap());
        let allowed = bed.root.join(format!("allowed-{kind}"));
        write(
            &allowed,
            &format!(
                "release@example.org namespaces=\"{NAMESPACE}\" {}\n",
                public_key(&key_path)
            ),
        );
        let out = ssh_keygen_verify(&allowed, "release@example.org", NAMESPACE, &sig, &bed.sums);
        assert!(
            out.status.success(),
            "{kind}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout)
                .contains("Good \"pixi-airgap\" signature for release@example.org"),
            "{kind}: {out:?}"
        );
        // The other identity, the other namespace: refused by ssh-keygen too.
        let out = ssh_keygen_verify(&allowed, "other@example.org", NAMESPACE, &sig, &bed.sums);
        assert_eq!(out.status.code(), Some(255), "{kind}: {out:?}");
        let out = ssh_keygen_verify(&allowed, "release@example.org", "file", &sig, &bed.sums);
        assert_eq!(out.status.code(), Some(255), "{kind}: {out:?}");
    }
}

#[test]
fn rsa_keys_cannot_sign_but_their_ssh_keygen_signatures_verify() {
    let bed = bed();
    let key = keygen(&bed.root, "release-rsa", "rsa", "");
    let err = SigningKey::load_with(&key, None).unwrap_err();
    assert_eq!(classify(&err), Status::InputError);
    assert!(
        render(&err).contains("RSA keys are not supported for signing"),
        "{}",
        render(&err)
    );
    let sig = std::fs::read_to_string(ssh_keygen_sign(&key, NAMESPACE, &bed.sums)).unwrap();
    let allowed = format!("rsa@example.org {}\n", public_key(&key));
    let message = std::fs::read(&bed.sums).unwrap();
    assert_eq!(
        verify_ours(&allowed, &message, &sig, Some("rsa@example.org")).unwrap(),
        "rsa@example.org"
    );
    let mut tampered = message.clone();
    tampered[1] = b'9';
    assert!(verify_ours(&allowed, &tampered, &sig, None).is_err());
}

#[test]
fn ssh_keygen_signatures_pass_our_verifier_and_forgeries_fail_both() {
    let bed = bed();
    let key = keygen(&bed.root, "release", "ed25519", "");
    let other = keygen(&bed.root, "other", "ed25519", "");
    let allowed_text = format!(
        "release@example.org,ci@example.org namespaces=\"{NAMESPACE}\" {}\nsomeone@example.org {}\n",
        public_key(&key),
        public_key(&other)
    );
    let allowed = bed.root.join("allowed_signers");
    write(&allowed, &allowed_text);
    let message = std::fs::read(&bed.sums).unwrap();

    let sig_path = ssh_keygen_sign(&key, NAMESPACE, &bed.sums);
    let sig = std::fs::read_to_string(&sig_path).unwrap();
    assert_eq!(
        verify_ours(&allowed_text, &message, &sig, Some("release@example.org")).unwrap(),
        "release@example.org,ci@example.org"
    );
    assert_eq!(
        verify_ours(&allowed_text, &message, &sig, None).unwrap(),
        "release@example.org,ci@example.org",
        "without an identity, the line with the key is found"
    );
    // And our own signature of the same bytes passes ours too.
    let ours = SigningKey::load_with(&key, None)
        .unwrap()
        .sign(&message)
        .unwrap();
    verify_ours(&allowed_text, &message, &ours, Some("ci@example.org")).unwrap();

    // Each forgery: refused by ssh-keygen and by us, with the reason.
    let mut tampered = message.clone();
    tampered[0] = b'1';
    let tampered_path = bed.root.join("tampered");
    std::fs::write(&tampered_path, &tampered).unwrap();
    let out = ssh_keygen_verify(
        &allowed,
        "release@example.org",
        NAMESPACE,
        &sig_path,
        &tampered_path,
    );
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    let err = verify_ours(&allowed_text, &tampered, &sig, Some("release@example.org")).unwrap_err();
    assert_eq!(classify(&err), Status::InputError);
    assert!(
        render(&err).contains("does not match the signed file"),
        "{}",
        render(&err)
    );

    // Another key (in the file, but for another principal; and not in the file at all).
    let other_sig_path = bed.root.join("other.sig");
    let signed_by_other = bed.root.join("other-copy");
    std::fs::write(&signed_by_other, &message).unwrap();
    let made = ssh_keygen_sign(&other, NAMESPACE, &signed_by_other);
    std::fs::rename(&made, &other_sig_path).unwrap();
    let other_sig = std::fs::read_to_string(&other_sig_path).unwrap();
    let out = ssh_keygen_verify(
        &allowed,
        "release@example.org",
        NAMESPACE,
        &other_sig_path,
        &bed.sums,
    );
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    let err = verify_ours(
        &allowed_text,
        &message,
        &other_sig,
        Some("release@example.org"),
    )
    .unwrap_err();
    assert!(
        render(&err).contains("is not allowed for the identity `release@example.org`"),
        "{}",
        render(&err)
    );
    let only_release = format!("release@example.org {}\n", public_key(&key));
    let err = verify_ours(&only_release, &message, &other_sig, None).unwrap_err();
    assert!(
        render(&err).contains("is not allowed for any principal"),
        "{}",
        render(&err)
    );

    // Another namespace (the same key signing for git).
    let git_sig_path = bed.root.join("git.sig");
    let git_copy = bed.root.join("git-copy");
    std::fs::write(&git_copy, &message).unwrap();
    std::fs::rename(ssh_keygen_sign(&key, "git", &git_copy), &git_sig_path).unwrap();
    let out = ssh_keygen_verify(
        &allowed,
        "release@example.org",
        NAMESPACE,
        &git_sig_path,
        &bed.sums,
    );
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    let err = verify_ours(
        &allowed_text,
        &message,
        &std::fs::read_to_string(&git_sig_path).unwrap(),
        None,
    )
    .unwrap_err();
    assert!(render(&err).contains("namespace `git`"), "{}", render(&err));

    // A line that does not allow our namespace: ssh-keygen refuses, and so do we.
    let git_only = format!(
        "release@example.org namespaces=\"git\" {}\n",
        public_key(&key)
    );
    let git_only_path = bed.root.join("allowed-git-only");
    write(&git_only_path, &git_only);
    let out = ssh_keygen_verify(
        &git_only_path,
        "release@example.org",
        NAMESPACE,
        &sig_path,
        &bed.sums,
    );
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    let err = verify_ours(&git_only, &message, &sig, None).unwrap_err();
    assert!(
        render(&err).contains("does not allow the namespace"),
        "{}",
        render(&err)
    );

    // An expired line, and a cert-authority line (it vouches only for certificates).
    for (line, says) in [
        (
            format!(
                "release@example.org valid-before=\"20000101Z\" {}\n",
                public_key(&key)
            ),
            "has expired",
        ),
        (
            format!("release@example.org cert-authority {}\n", public_key(&key)),
            "is not allowed",
        ),
    ] {
        let path = bed.root.join("allowed-line");
        write(&path, &line);
        let out = ssh_keygen_verify(
            &path,
            "release@example.org",
            NAMESPACE,
            &sig_path,
            &bed.sums,
        );
        assert_ne!(out.status.code(), Some(0), "{line}: {out:?}");
        let err = verify_ours(&line, &message, &sig, None).unwrap_err();
        assert!(render(&err).contains(says), "{line}: {}", render(&err));
    }

    // Not a signature at all.
    let err = verify_ours(&allowed_text, &message, "hello\n", None).unwrap_err();
    assert_eq!(classify(&err), Status::InputError);
}

#[test]
fn passphrase_keys_need_the_passphrase() {
    let bed = bed();
    let key = keygen(&bed.root, "locked", "ed25519", "correct horse");
    let err = SigningKey::load_with(&key, None).unwrap_err();
    assert_eq!(classify(&err), Status::InputError);
    let shown = render(&err);
    assert!(shown.contains("protected by a passphrase"), "{shown}");
    assert!(
        shown.contains(
            "hint: put the passphrase in the environment variable PIXI_AIRGAP_SIGN_PASSPHRASE"
        ),
        "{shown}"
    );
    let err = SigningKey::load_with(&key, Some("wrong")).unwrap_err();
    assert_eq!(classify(&err), Status::InputError);
    assert!(
        render(&err).contains("wrong passphrase"),
        "{}",
        render(&err)
    );
    let unlocked = SigningKey::load_with(&key, Some("correct horse")).unwrap();
    let message = std::fs::read(&bed.sums).unwrap();
    let sig = bed.root.join("SHA256SUMS.sig");
    write(&sig, &unlocked.sign(&message).unwrap());
    let allowed = bed.root.join("allowed_signers");
    write(&allowed, &format!("locked@test {}\n", public_key(&key)));
    let out = ssh_keygen_verify(&allowed, "locked@test", NAMESPACE, &sig, &bed.sums);
    assert!(out.status.success(), "{out:?}");

    // Not a private key: the public half, and text.
    let err = SigningKey::load_with(&key.with_extension("pub"), None).unwrap_err();
    assert!(
        render(&err).contains("this is a public key"),
        "{}",
        render(&err)
    );
    let err = SigningKey::load_with(&bed.sums, None).unwrap_err();
    assert!(
        render(&err).contains("is not an OpenSSH private key"),
        "{}",
        render(&err)
    );
    let err = SigningKey::load_with(&bed.root.join("missing"), None).unwrap_err();
    assert_eq!(classify(&err), Status::InputError);
}

// ---- Signed products: make-product --sign-key, then ssh-keygen and verify-product. ----

const ID: &str = "release@example.org";

/// A product of a hand-staged workdir, signed with `key`: the real binary.
fn signed_product(root: &Path, key: &Path) -> PathBuf {
    let workdir = hand_staged_workdir(root);
    let product = root.join("product");
    let out = TestCommand::new()
        .env_remove("PIXI_AIRGAP_SIGN_PASSPHRASE")
        .args(["make-product", "--project-name", "demo", "--json"])
        .path_arg("--workdir", &workdir)
        .path_arg("--output", &product)
        .path_arg("--sign-key", key)
        .assert_success();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["signature"],
        product.join("SHA256SUMS.sig").display().to_string()
    );
    product
}

/// `allowed_signers` with one line for `key`, as the README shows it.
fn allowed_signers(root: &Path, key: &Path) -> PathBuf {
    let path = root.join("allowed_signers");
    write(
        &path,
        &format!("{ID} namespaces=\"pixi-airgap\" {}\n", public_key(key)),
    );
    path
}

/// The receiving side's command, run in the product as the README writes it.
fn receiver_verify(product: &Path, allowed: &Path) -> Output {
    ssh_keygen_verify(
        allowed,
        ID,
        NAMESPACE,
        &product.join("SHA256SUMS.sig"),
        &product.join("SHA256SUMS"),
    )
}

/// verify-product --allowed-signers with an engine that cannot answer: the signature check comes
/// first, so a refused product is exit 2, and one that passes gets as far as the engine (exit 3).
fn verify_product_signed(
    root: &Path,
    product: &Path,
    allowed: &Path,
    identity: Option<&str>,
) -> Output {
    let mut cmd = TestCommand::new();
    cmd.without_docker()
        .args([
            "verify-product",
            "--image",
            "pixi-airgap-testbed:pixi-0.15.2",
            "--project-name",
            "demo",
        ])
        .path_arg("--product-dir", product)
        .path_arg("--out-dir", &root.join("proof"))
        .path_arg("--allowed-signers", allowed);
    if let Some(id) = identity {
        cmd.args(["--signer-identity", id]);
    }
    let out = cmd.output();
    assert!(
        !root.join("proof/proof-bootstrap.log").exists(),
        "nothing may have started"
    );
    out
}

/// Rewrites SHA256SUMS with the current hashes of the files it lists (what someone who changed
/// files would do to cover their tracks).
fn rehash_sums(product: &Path) {
    let sums = std::fs::read_to_string(product.join("SHA256SUMS")).unwrap();
    let paths: Vec<&str> = sums.lines().map(|l| &l[66..]).collect();
    let out = Command::new("sha256sum")
        .arg("--")
        .args(&paths)
        .current_dir(product)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    std::fs::write(product.join("SHA256SUMS"), &out.stdout).unwrap();
    let check = Command::new("sha256sum")
        .args(["-c", "--strict", "--quiet", "SHA256SUMS"])
        .current_dir(product)
        .output()
        .unwrap();
    assert!(check.status.success(), "re-hashed sums hold: {check:?}");
}

/// The shells the receiving side may have (busybox's sh with the usual PATH: ssh-keygen is
/// OpenSSH's, never busybox's).
const SHELLS: [&[&str]; 4] = [&["dash"], &["bash"], &["busybox", "sh"], &["zsh"]];

/// `SHELL check-product.sh ARGS`, from `cwd`.
fn check_product(shell: &[&str], product: &Path, cwd: &Path, args: &[&str]) -> Output {
    let out = Command::new(shell[0])
        .args(&shell[1..])
        .arg(product.join("check-product.sh"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    eprintln!(
        "--- {} check-product.sh {}: exit {:?}\n{}",
        shell.join(" "),
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn fingerprint_of(public: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .args(["-l", "-E", "sha256", "-f"])
        .arg(public)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

#[test]
fn signed_product_passes_ssh_keygen_verify_and_verify_product() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let key = keygen(root, "release", "ed25519", "");
    let product = signed_product(root, &key);
    let allowed = allowed_signers(root, &key);

    // The exact command of the README, on the receiving side.
    let out = receiver_verify(&product, &allowed);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains(&format!("Good \"pixi-airgap\" signature for {ID}")),
        "{out:?}"
    );
    // The signature is not among the sums, and the sums still hold.
    let sums = std::fs::read_to_string(product.join("SHA256SUMS")).unwrap();
    assert!(!sums.contains("SHA256SUMS"), "{sums}");
    let check = Command::new("sha256sum")
        .args(["-c", "--strict", "--quiet", "SHA256SUMS"])
        .current_dir(&product)
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
    // The manifest names the key, as ssh-keygen -l does.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(product.join("pixi-airgap.json")).unwrap()).unwrap();
    assert_eq!(
        manifest["signing_key"],
        serde_json::json!({
            "fingerprint": fingerprint_of(&key.with_extension("pub")),
            "algorithm": "ssh-ed25519",
        })
    );

    // check-product.sh in every shell: with and without --identity, the file named from
    // another folder (relative to the caller) and as `--allowed-signers=FILE`.
    for shell in SHELLS {
        for args in [
            vec!["--allowed-signers", "allowed_signers"],
            vec!["--allowed-signers=allowed_signers", "--identity", ID],
            vec!["--identity", ID, "--allowed-signers", "allowed_signers"],
        ] {
            let out = check_product(shell, &product, root, &args);
            assert_exit(
                &out,
                0,
                &format!("signature good: Good \"pixi-airgap\" signature for {ID}"),
            );
            assert_exit(&out, 0, "is intact");
        }
        let out = check_product(
            shell,
            &product,
            root,
            &[
                "--allowed-signers",
                "allowed_signers",
                "--identity",
                "someone@example.org",
            ],
        );
        assert_exit(&out, 2, "does not verify for someone@example.org");
        let out = check_product(shell, &product, root, &["--identity", ID]);
        assert_exit(&out, 2, "--identity needs --allowed-signers FILE");
        let out = check_product(shell, &product, root, &["--allowed-signers"]);
        assert_exit(&out, 2, "--allowed-signers needs a value");
        let out = check_product(shell, &product, root, &["--allowed-signers", "missing"]);
        assert_exit(&out, 2, "cannot read the allowed-signers file");
    }
    // Without ssh-keygen (a PATH of busybox applets only): exit 3, saying so; the same product
    // checks without a signature.
    let bare = root.join("busybox-only");
    std::fs::create_dir(&bare).unwrap();
    let busybox = String::from_utf8(
        Command::new("which")
            .arg("busybox")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let list = Command::new(busybox.trim()).arg("--list").output().unwrap();
    for applet in String::from_utf8(list.stdout).unwrap().lines() {
        std::os::unix::fs::symlink(busybox.trim(), bare.join(applet)).unwrap();
    }
    let bare_check = |args: &[&str]| {
        Command::new(bare.join("sh"))
            .arg(product.join("check-product.sh"))
            .args(args)
            .current_dir(root)
            .env("PATH", &bare)
            .output()
            .unwrap()
    };
    assert_exit(
        &bare_check(&["--allowed-signers", "allowed_signers"]),
        3,
        "ssh-keygen is not on PATH",
    );
    assert_exit(&bare_check(&[]), 0, "is intact");

    // verify-product: the signature passes (with and without an identity), then the proof would
    // start: here the engine is unreachable, which is exit 3, after the check.
    for identity in [None, Some(ID)] {
        let out = verify_product_signed(root, &product, &allowed, identity);
        assert_exit(
            &out,
            3,
            &format!("signature good: SHA256SUMS signed by {ID}"),
        );
    }
    let out = verify_product_signed(root, &product, &allowed, Some("someone@example.org"));
    assert_exit(
        &out,
        2,
        "is not allowed for the identity `someone@example.org`",
    );
    // --signer-identity needs --allowed-signers.
    TestCommand::new()
        .args([
            "verify-product",
            "--image",
            "x",
            "--project-name",
            "demo",
            "--signer-identity",
            ID,
        ])
        .path_arg("--product-dir", &product)
        .path_arg("--out-dir", &root.join("proof"))
        .assert_exit(2, "--allowed-signers");
}

#[test]
fn tampered_signed_products_fail_ssh_keygen_and_verify_product() {
    type Tamper = fn(&Path, &Path);
    // (what, tamper, ssh-keygen accepts the signature, verify-product says, check-product.sh says)
    let cases: [(&str, Tamper, bool, &str, &str); 7] = [
        (
            "a package file changed and SHA256SUMS re-hashed",
            |product, _| {
                std::fs::write(
                    product.join("pkg-cache/pkgs/a-1-0/bin/tool"),
                    "#!/bin/sh\nevil\n",
                )
                .unwrap();
                rehash_sums(product);
            },
            false,
            "does not match the signed file",
            "does not verify for the principals of its key",
        ),
        (
            "pixi-airgap.json changed and SHA256SUMS re-hashed",
            |product, _| {
                let path = product.join("pixi-airgap.json");
                let text = std::fs::read_to_string(&path).unwrap();
                std::fs::write(&path, text.replace("\"demo\"", "\"dem0\"")).unwrap();
                rehash_sums(product);
            },
            false,
            "does not match the signed file",
            "does not verify for the principals of its key",
        ),
        (
            "a package file changed, SHA256SUMS left as signed",
            |product, _| {
                std::fs::write(
                    product.join("pkg-cache/pkgs/a-1-0/bin/tool"),
                    "#!/bin/sh\nevil\n",
                )
                .unwrap();
            },
            // The signature still covers the sums: ssh-keygen accepts it, the hashes do not.
            true,
            "pkg-cache/pkgs/a-1-0/bin/tool",
            "pkg-cache/pkgs/a-1-0/bin/tool: content differs from SHA256SUMS",
        ),
        (
            "pixi-airgap.json changed, SHA256SUMS left as signed",
            |product, _| {
                let path = product.join("pixi-airgap.json");
                let mut text = std::fs::read_to_string(&path).unwrap();
                text.push(' ');
                std::fs::write(&path, text).unwrap();
            },
            true,
            "pixi-airgap.json does not match the signed SHA256SUMS",
            "pixi-airgap.json: content differs from SHA256SUMS",
        ),
        (
            "a signature from another key",
            |product, root| {
                let other = keygen(root, "intruder", "ed25519", "");
                let sig = product.join("SHA256SUMS.sig");
                std::fs::remove_file(&sig).unwrap();
                let made = ssh_keygen_sign(&other, NAMESPACE, &product.join("SHA256SUMS"));
                assert_eq!(made, sig);
            },
            false,
            "is not allowed for any principal",
            "was not made by a key of",
        ),
        (
            "the signature removed",
            |product, _| std::fs::remove_file(product.join("SHA256SUMS.sig")).unwrap(),
            false,
            "the product is not signed: it has no SHA256SUMS.sig",
            "the product is not signed",
        ),
        (
            "the signature replaced by a link to a good one elsewhere",
            |product, root| {
                let sig = product.join("SHA256SUMS.sig");
                let aside = root.join("aside.sig");
                std::fs::rename(&sig, &aside).unwrap();
                std::os::unix::fs::symlink(&aside, &sig).unwrap();
            },
            // ssh-keygen follows the link: the signature itself is good.
            true,
            "SHA256SUMS.sig` is not a regular file",
            "the product is not signed",
        ),
    ];
    for (what, tamper, ssh_keygen_accepts, says, script_says) in cases {
        eprintln!("=== {what}");
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let key = keygen(root, "release", "ed25519", "");
        let product = signed_product(root, &key);
        let allowed = allowed_signers(root, &key);
        tamper(&product, root);
        let out = receiver_verify(&product, &allowed);
        assert_eq!(out.status.success(), ssh_keygen_accepts, "{what}: {out:?}");
        let out = verify_product_signed(root, &product, &allowed, None);
        assert_exit(&out, 2, says);
        for shell in SHELLS {
            let out = check_product(
                shell,
                &product,
                root,
                &["--allowed-signers", "allowed_signers"],
            );
            assert_exit(&out, 2, script_says);
        }
        let out = check_product(
            SHELLS[0],
            &product,
            root,
            &["--allowed-signers", "allowed_signers", "--identity", ID],
        );
        // With --identity, ssh-keygen -Y verify names the identity instead of finding principals.
        let with_id = if script_says.starts_with("does not verify")
            || script_says.starts_with("was not made")
        {
            format!("does not verify for {ID}")
        } else {
            script_says.to_string()
        };
        assert_exit(&out, 2, &with_id);
    }
}

#[test]
fn an_unsigned_product_is_refused_when_a_signature_is_asked_for() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let key = keygen(root, "release", "ed25519", "");
    let workdir = hand_staged_workdir(root);
    let product = root.join("product");
    let out = TestCommand::new()
        .args(["make-product", "--project-name", "demo", "--json"])
        .path_arg("--workdir", &workdir)
        .path_arg("--output", &product)
        .assert_success();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report.get("signature").is_none(), "{report}");
    let manifest = std::fs::read_to_string(product.join("pixi-airgap.json")).unwrap();
    assert!(!manifest.contains("signing_key"));
    assert!(!product.join("SHA256SUMS.sig").exists());
    let allowed = allowed_signers(root, &key);
    let out = verify_product_signed(root, &product, &allowed, None);
    assert_exit(&out, 2, "the product is not signed");
    // A bad allowed-signers file is refused naming its line, before anything.
    let bad = root.join("bad_signers");
    write(&bad, "release@example.org\n");
    let out = verify_product_signed(root, &product, &bad, None);
    assert_exit(&out, 2, "bad_signers:1: a principal and no key");
}

#[test]
fn passphrase_keys_sign_with_the_passphrase_from_the_environment_only() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let key = keygen(root, "release", "ed25519", "open sesame");
    let workdir = hand_staged_workdir(root);
    let product = root.join("product");
    let make = |passphrase: Option<&str>| {
        let mut cmd = TestCommand::new();
        cmd.args(["make-product", "--project-name", "demo"])
            .path_arg("--workdir", &workdir)
            .path_arg("--output", &product)
            .path_arg("--sign-key", &key);
        match passphrase {
            Some(p) => cmd.env("PIXI_AIRGAP_SIGN_PASSPHRASE", p),
            None => cmd.env_remove("PIXI_AIRGAP_SIGN_PASSPHRASE"),
        };
        cmd.output()
    };
    let out = make(None);
    assert_exit(&out, 2, "is protected by a passphrase");
    assert_exit(
        &out,
        2,
        "hint: put the passphrase in the environment variable PIXI_AIRGAP_SIGN_PASSPHRASE",
    );
    assert!(!product.exists(), "nothing written");
    let out = make(Some("wrong"));
    assert_exit(&out, 2, "wrong passphrase in PIXI_AIRGAP_SIGN_PASSPHRASE");
    assert!(!product.exists(), "nothing written");
    assert_success(&make(Some("open sesame")));
    let out = receiver_verify(&product, &allowed_signers(root, &key));
    assert!(out.status.success(), "{out:?}");

    // A key that cannot sign stops make-product before it writes anything.
    let rsa = keygen(root, "rsa", "rsa", "");
    std::fs::remove_dir_all(&product).unwrap();
    TestCommand::new()
        .args(["make-product", "--project-name", "demo"])
        .path_arg("--workdir", &workdir)
        .path_arg("--output", &product)
        .path_arg("--sign-key", &rsa)
        .assert_exit(2, "RSA keys are not supported for signing");
    assert!(!product.exists(), "nothing written");
}

/// End to end, with the real engine: `pack --sign-key` with a passphrase key, then the receiving
/// side's checks and a second offline proof that checks the signature first.
#[test]
fn signed_pack_passes_every_check_and_proves_offline() {
    let Some(crate::common::Locked {
        bed,
        server,
        tmp,
        project,
        leftovers: _leftovers,
    }) = crate::common::Locked::fixture("single")
    else {
        return;
    };
    let root = tmp.path();
    let key = keygen(root, "release", "ed25519", "open sesame");
    let workdir = root.join("wd");
    let out = bed
        .pack(&server, &project, &workdir)
        .path_arg("--sign-key", &key)
        .env("PIXI_AIRGAP_SIGN_PASSPHRASE", "open sesame")
        .arg("--json")
        .assert_success();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["result"], "success");
    assert_eq!(
        report["product"]["signing_key"],
        fingerprint_of(&key.with_extension("pub"))
    );
    let product = workdir.join("product");
    let allowed = allowed_signers(root, &key);
    let out = receiver_verify(&product, &allowed);
    assert!(out.status.success(), "{out:?}");
    let out = check_product(
        SHELLS[0],
        &product,
        root,
        &["--allowed-signers", "allowed_signers"],
    );
    assert_exit(&out, 0, "signature good");
    assert_exit(&out, 0, "is intact");
    bed.verify_product(&product, &root.join("proof"), "single-env")
        .path_arg("--allowed-signers", &allowed)
        .args(["--signer-identity", ID])
        .assert_exit(0, &format!("signature good: SHA256SUMS signed by {ID}"));
}

#[test]
fn the_workdir_helper_signs_with_sign_key() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let key = keygen(root, "release", "ed25519", "");
    let workdir = hand_staged_workdir(root);
    let helpers = workdir.join("helpers");
    std::fs::create_dir_all(&helpers).unwrap();
    std::fs::write(
        helpers.join("make-archive-ready-product.sh"),
        pixi_airgap::product::templates::make_archive_ready_sh("demo").unwrap(),
    )
    .unwrap();
    std::fs::copy(crate::common::cmd::BIN, helpers.join("pixi-airgap")).unwrap();
    // The key named relative to the caller's folder, as make-product takes it.
    let out = Command::new("sh")
        .arg(helpers.join("make-archive-ready-product.sh"))
        .args(["--sign-key", "release"])
        .current_dir(root)
        .env_remove("PIXI_AIRGAP_SIGN_PASSPHRASE")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_exit(&out, 0, "signed SHA256SUMS with");
    let out = receiver_verify(&workdir.join("product"), &allowed_signers(root, &key));
    assert!(out.status.success(), "{out:?}");
}
