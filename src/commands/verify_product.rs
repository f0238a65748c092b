//! `pixi-airgap verify-product`: the offline proof of a product, from the command line. The
//! proof itself is [`crate::proof`].

use anyhow::Context;

use crate::cli::VerifyProductArgs;
use crate::exit::{with_hint, InputError, Status};
use crate::product::signature::{self, SignatureCheck};
use crate::product::ProductLayout;
use crate::proof::{self, ApplyDelta, ProofOptions};
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
        let product_dir = super::canonical_dir(&product_dir)?;
        let out_dir = std::path::absolute(&out_dir)
            .with_context(|| format!("failed to resolve `{}`", out_dir.display()))?;
        if out_dir.starts_with(&product_dir) {
            return Err(InputError::new("--out-dir must not be inside the product").into());
        }
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

/// Both folders (each checked to be one when the flags were parsed), made canonical.
fn resolve_update(args: crate::cli::UpdateProofArgs) -> anyhow::Result<Option<ApplyDelta>> {
    let crate::cli::UpdateProofArgs { since, delta } = args;
    let (Some(old), Some(delta)) = (since, delta) else {
        return Ok(None);
    };
    Ok(Some(ApplyDelta {
        old_dir: super::canonical_dir(&old)?,
        delta_dir: super::canonical_dir(&delta)?,
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
