//! A product's signature: `SHA256SUMS.sig`, an SSH signature ([`crate::signing`]) over the
//! product's `SHA256SUMS`, written by `make-product --sign-key` once `SHA256SUMS` is complete,
//! and checked by `verify-product --allowed-signers` before anything else looks at the product.
//!
//! The chain of trust: the signature vouches for `SHA256SUMS`; `SHA256SUMS` holds the sha256 of
//! `pixi-airgap.json`; the manifest holds the sha256 of every other file, link and folder, and
//! the offline proof checks the whole product against it ([`super::manifest::check`]) before a
//! container starts. So [`verify`] checks the signature and the manifest's line, and the usual
//! manifest check does the rest (without hashing every file twice). On the receiving side,
//! `check-product.sh` follows the same chain with `ssh-keygen` and `SHA256SUMS` itself.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::sums::{SHA256SUMS, SHA256SUMS_SIG};
use super::ProductLayout;
use crate::atomic::PendingFile;
use crate::exit::InputError;
use crate::signing::{AllowedSigners, SigningKey, Verified};

/// Signs `product/SHA256SUMS` into `product/SHA256SUMS.sig`. The product is still being written
/// (in its hidden folder), so a plain write is atomic enough: the product appears whole or not.
pub fn sign(product: &Path, key: &SigningKey) -> anyhow::Result<()> {
    let sums = product.join(SHA256SUMS);
    let message =
        std::fs::read(&sums).with_context(|| format!("failed to read `{}`", sums.display()))?;
    let armored = key.sign(&message)?;
    let sig = product.join(SHA256SUMS_SIG);
    std::fs::write(&sig, armored)
        .with_context(|| format!("failed to write `{}`", sig.display()))?;
    crate::fsutil::set_mode(&sig, 0o644)?;
    tracing::info!(
        "signed {SHA256SUMS} with {} ({})",
        key.fingerprint(),
        key.path().display()
    );
    Ok(())
}

/// Signs the `sha256sum` list beside an archive (`<archive>.sha256`: the whole, and every part of
/// a split archive) into `<archive>.sha256.sig`, with the product's key and namespace, so that
/// `join-product.sh --allowed-signers` can trust the list before it trusts any part. Written
/// after the list, atomically: a run killed between the two leaves a signature that does not
/// match the list, which the receiver refuses.
pub fn sign_list(list: &Path, key: &SigningKey) -> anyhow::Result<PathBuf> {
    let message =
        std::fs::read(list).with_context(|| format!("failed to read `{}`", list.display()))?;
    let armored = key.sign(&message)?;
    let sig = list_signature_path(list);
    let pending = PendingFile::new(&sig)?;
    let mut file = pending.file()?;
    file.write_all(armored.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("failed to write `{}`", sig.display()))?;
    pending.commit()?;
    crate::fsutil::set_mode(&sig, 0o644)?;
    tracing::info!(
        "signed {} with {} ({})",
        list.display(),
        key.fingerprint(),
        key.path().display()
    );
    Ok(sig)
}

/// `<list>.sig`: where [`sign_list`] puts the signature of `list`.
pub fn list_signature_path(list: &Path) -> PathBuf {
    let mut name = list.as_os_str().to_os_string();
    name.push(".sig");
    PathBuf::from(name)
}

/// What `verify-product --allowed-signers FILE [--signer-identity ID]` asks for.
#[derive(Debug, Clone)]
pub struct SignatureCheck {
    pub signers: AllowedSigners,
    pub identity: Option<String>,
}

/// Checks the product's signature and that `SHA256SUMS` vouches for its `pixi-airgap.json`.
/// A missing, bad or unknown signature is an input error (exit 2). Never follows a symlink:
/// each of the three files must be a regular file at the product's root.
pub fn verify(product: &Path, check: &SignatureCheck) -> anyhow::Result<Verified> {
    let sums_path = product.join(SHA256SUMS);
    let sig_path = product.join(SHA256SUMS_SIG);
    let sums = read_regular(&sums_path, "the product has no SHA256SUMS")?;
    let sig = read_regular(
        &sig_path,
        "the product is not signed: it has no SHA256SUMS.sig",
    )?;
    let sig = String::from_utf8(sig).map_err(|err| {
        anyhow::Error::from(
            InputError::new(format!("`{}` is not text", sig_path.display())).with_source(err),
        )
    })?;
    let verified = check
        .signers
        .verify(&sums, &sig, check.identity.as_deref(), chrono::Utc::now())
        .with_context(|| format!("the signature `{}` is refused", sig_path.display()))?;
    let listed = listed_hash(&sums, ProductLayout::PRODUCT_MANIFEST).ok_or_else(|| {
        InputError::new(format!(
            "the signed SHA256SUMS does not list {}",
            ProductLayout::PRODUCT_MANIFEST
        ))
    })?;
    let manifest_path = product.join(ProductLayout::PRODUCT_MANIFEST);
    read_regular(&manifest_path, "the product has no pixi-airgap.json")?;
    let actual = crate::fsutil::sha256_file(&manifest_path)?;
    if actual != listed {
        return Err(InputError::new(format!(
            "{} does not match the signed SHA256SUMS (sha256 {actual}, signed {listed}): the \
             product was changed after it was signed",
            ProductLayout::PRODUCT_MANIFEST
        ))
        .into());
    }
    tracing::info!(
        "signature good: SHA256SUMS signed by {} ({}), and it vouches for {}",
        verified.principals,
        verified.fingerprint,
        ProductLayout::PRODUCT_MANIFEST
    );
    Ok(verified)
}

/// The bytes of `path`, which must be a regular file (a symlink is refused, not followed).
fn read_regular(path: &Path, missing: &str) -> anyhow::Result<Vec<u8>> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_file() => {}
        Ok(_) => {
            return Err(
                InputError::new(format!("`{}` is not a regular file", path.display())).into(),
            )
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(InputError::new(missing).into())
        }
        Err(err) => {
            return Err(
                anyhow::Error::new(err).context(format!("failed to read `{}`", path.display()))
            )
        }
    }
    std::fs::read(path).with_context(|| format!("failed to read `{}`", path.display()))
}

/// The hash `SHA256SUMS` lists for `name` (`<hex>  <name>` or `<hex> *<name>`), when it lists it
/// exactly once.
fn listed_hash(sums: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(sums).ok()?;
    let mut found = text.lines().filter_map(|line| {
        let (hash, rest) = line.split_at_checked(64)?;
        let path = rest
            .strip_prefix("  ")
            .or_else(|| rest.strip_prefix(" *"))?;
        (path == name && hash.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| hash.to_ascii_lowercase())
    });
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listed_hash_of_a_name() {
        let a = "a".repeat(64);
        let b = "B".repeat(64);
        let sums = format!("{a}  x\n{b} *pixi-airgap.json\n{a}  pixi-airgap.json.bak\n");
        assert_eq!(
            listed_hash(sums.as_bytes(), "pixi-airgap.json"),
            Some("b".repeat(64))
        );
        assert_eq!(listed_hash(sums.as_bytes(), "x"), Some(a.clone()));
        assert_eq!(listed_hash(sums.as_bytes(), "y"), None);
        let twice = format!("{a}  x\n{a}  x\n");
        assert_eq!(listed_hash(twice.as_bytes(), "x"), None, "listed twice");
        assert_eq!(listed_hash(b"short  x\n", "x"), None);
    }
}
