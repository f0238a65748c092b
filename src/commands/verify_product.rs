//! `pixi-airgap verify-product`: the offline proof of a product, from the command line. The
//! proof itself is [`crate::proof`].

use anyhow::Context;

use crate::cli::VerifyProductArgs;
use crate::exit::{with_hint, InputError, Status};
use crate::product::signature::{self, SignatureCheck};
use crate::product::ProductLayout;
use crate::proof::{self, ApplyDelta, ProofOptions};
use crate::session::RunAs;
use crate::signing::AllowedSigners;

#[derive(Debug, Clone)]
pub struct Options {
    pub proof: ProofOptions,
    /// `--allowed-signers` (and `--signer-identity`): checked before the proof starts.
    pub signature: Option<SignatureCheck>,
    pub json: bool,
    /// `--since OLD --delta DIR`: prove the update instead.
    pub update: Option<ApplyDelta>,
}

impl Options {
    pub fn resolve(args: VerifyProductArgs) -> anyhow::Result<Self> {
        let VerifyProductArgs {
            image,
            pull,
            product_dir,
            out_dir,
            project_name,
            user,
            keep_container,
            force,
            allowed_signers,
            signer_identity,
            json,
            verify,
            update,
        } = args;
        // Read and checked once, here: a file ssh-keygen would refuse is refused before any work.
        let signature = allowed_signers
            .map(|path| {
                AllowedSigners::read(&path).map(|signers| SignatureCheck {
                    signers,
                    identity: signer_identity,
                })
            })
            .transpose()?;
        if !product_dir.is_dir() {
            return Err(InputError::new(format!(
                "--product-dir `{}` is not a folder",
                product_dir.display()
            ))
            .into());
        }
        let product_dir = std::fs::canonicalize(&product_dir)
            .with_context(|| format!("failed to resolve `{}`", product_dir.display()))?;
        let out_dir = std::path::absolute(&out_dir)
            .with_context(|| format!("failed to resolve `{}`", out_dir.display()))?;
        if out_dir.starts_with(&product_dir) {
            return Err(InputError::new("--out-dir must not be inside the product").into());
        }
        let user = user.as_deref().map(parse_user).transpose()?;
        if !force {
            proof::refuse_earlier_proof(&out_dir).map_err(|err| {
                with_hint(err, "pass --force to replace it, or pick another --out-dir")
            })?;
        }
        let update = resolve_update(update)?;
        let layout = ProductLayout::new(&product_dir);
        let verify = super::verify_args::resolve(
            &verify,
            &layout.project(&project_name),
            Some(&layout.resources()),
        )?;
        Ok(Self {
            proof: ProofOptions {
                image,
                pull,
                product_dir,
                out_dir,
                project_name,
                user,
                keep_container,
                force,
                verify,
            },
            signature,
            json,
            update,
        })
    }
}

/// `UID` or `UID:GID`, numeric: the product's files are handed to that user in the container.
pub fn parse_user(text: &str) -> anyhow::Result<RunAs> {
    let parse = |s: &str| s.parse::<u64>().ok();
    let user = match text.split_once(':') {
        Some((u, g)) => parse(u).zip(parse(g)).map(|(uid, gid)| RunAs { uid, gid }),
        None => parse(text).map(|uid| RunAs { uid, gid: uid }),
    };
    user.ok_or_else(|| {
        InputError::new(format!("--user `{text}` is not UID or UID:GID (numbers)")).into()
    })
}

/// Both folders, made absolute; each must be a folder.
fn resolve_update(args: crate::cli::UpdateProofArgs) -> anyhow::Result<Option<ApplyDelta>> {
    let crate::cli::UpdateProofArgs { since, delta } = args;
    let (Some(old), Some(delta)) = (since, delta) else {
        return Ok(None);
    };
    let folder = |flag: &str, dir: &std::path::Path| -> anyhow::Result<std::path::PathBuf> {
        if !dir.is_dir() {
            return Err(
                InputError::new(format!("{flag} `{}` is not a folder", dir.display())).into(),
            );
        }
        std::fs::canonicalize(dir).with_context(|| format!("failed to resolve `{}`", dir.display()))
    };
    Ok(Some(ApplyDelta {
        old_dir: folder("--since", &old)?,
        delta_dir: folder("--delta", &delta)?,
    }))
}

pub async fn run(options: &Options) -> anyhow::Result<Status> {
    if let Some(check) = &options.signature {
        let product = options.proof.product_dir.clone();
        let check = check.clone();
        tokio::task::spawn_blocking(move || signature::verify(&product, &check))
            .await
            .context("the signature thread failed")??;
    }
    let (report, status) = match &options.update {
        Some(update) => proof::run_update(&options.proof, update).await?,
        None => proof::run(&options.proof).await?,
    };
    if options.json {
        crate::output::json(&report)?;
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users() {
        assert_eq!(
            parse_user("1000").unwrap(),
            RunAs {
                uid: 1000,
                gid: 1000
            }
        );
        assert_eq!(parse_user("1000:50").unwrap(), RunAs { uid: 1000, gid: 50 });
        for bad in ["", "root", "1000:", ":1", "1:2:3"] {
            assert!(parse_user(bad).is_err(), "{bad}");
        }
    }
}
