//! Product signatures against the real OpenSSH: what we sign, `ssh-keygen -Y verify` accepts; what
//! `ssh-keygen -Y sign` makes, our verifier accepts; and both refuse the same forgeries. Keys are
//! made here, at test time, with `ssh-keygen` (no private key is committed).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

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

#[test]
fn our_signatures_pass_ssh_keygen_verify_for_ed25519_and_ecdsa_keys() {
    let bed = bed();
    for kind in ["ed25519", "ecdsa", "ecdsa-384", "ecdsa-521"] {
        let key_path = keygen(&bed.root, &format!("release-{kind}"), kind, "");
        let key = SigningKey::load_with(&key_path, None).unwrap();
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
