//! The text after each subcommand's options in `--help`: an example, what it leaves where (the
//! layout lists made from the `Workdir` and `ProductLayout` names, never copied) and the exit codes.

use crate::product::{facts, sums, ProductLayout};
use crate::workdir::Workdir;

/// What a staging run leaves in a workdir: the staged folders (but the logs of a failed run),
/// each named from its constant.
fn workdir_layout() -> String {
    [
        format!("{}/<name>", Workdir::PROJECT),
        Workdir::RESOURCES.to_string(),
        Workdir::PIXI_CACHE.to_string(),
        format!("{} (logs)", Workdir::OUT),
        Workdir::HELPERS.to_string(),
        format!("{} (with --bundle-pixi)", Workdir::PIXI_BIN),
    ]
    .map(|name| format!("WORKDIR/{name}"))
    .join(", ")
}

/// What a product holds at its top, each named from its constant.
fn product_layout() -> String {
    let always = [
        "<name>/".to_string(),
        format!("{}/", ProductLayout::RESOURCES),
        format!("{}/", ProductLayout::PKG_CACHE),
        ProductLayout::ENVS_SH.to_string(),
        ProductLayout::BOOTSTRAP_SH.to_string(),
        ProductLayout::CHECK_SH.to_string(),
        facts::PRODUCT_FACTS.to_string(),
        ProductLayout::SBOM.to_string(),
        ProductLayout::PRODUCT_MANIFEST.to_string(),
        sums::PRODUCT_TREE.to_string(),
        sums::SHA256SUMS.to_string(),
    ];
    format!(
        "{{{}}}, with {} (--bundle-pixi) and {} (--sign-key)",
        always.join(", "),
        ProductLayout::BUNDLED_PIXI,
        sums::SHA256SUMS_SIG
    )
}

pub(super) const CLEAN_HELP: &str = concat!(
    "\
Example:
  pixi-airgap clean --dry-run          # list what would go
  pixi-airgap clean                    # remove it

A container or network is a leftover when the pixi-airgap process that made it (recorded in
its labels: pid, start time, host) is gone; what a running pixi-airgap uses is never touched.
--all also removes what has no checkable creator (made on another host, or by an older
pixi-airgap). Containers end by themselves after PIXI_AIRGAP_CONTAINER_MAX_LIFE (default 24h)
in any case. stage-container runs are recorded under $XDG_STATE_HOME/pixi-airgap/runs
(default ~/.local/state): for a run that was killed, clean stops what it left running in the
user's container and deletes its container workdir (only if it carries .pixi-airgap-workdir).

",
    exit_codes!()
);

pub(super) const STAGE_CONTAINER_HELP: &str = concat!(
    "\
Example:
  pixi-airgap stage-container --container-id my-devcontainer \\
      --project-path-in-container /home/dev/myproj --workdir ./tmp/workdir-myproj --verify-task smoke

The container needs sh, mkdir, rm and pixi. Result: the same workdir as stage-host.

",
    exit_codes!()
);

pub(super) const CHECK_HELP: &str = concat!(
    "\
Example:
  pixi-airgap check --project-dir ./myproj --pixi-version 0.77.0 --json > check.json

Exit 2 when a finding is an error (the offline install cannot work); warnings exit 0.
The stage commands and pack run the same check before starting a container.

",
    exit_codes!()
);

pub(super) const VERIFY_PRODUCT_HELP: &str = concat!(
    "\
Example:
  pixi-airgap verify-product --image my-pixi-image:latest \\
      --product-dir ./tmp/workdir-myproj/product --out-dir ./tmp/workdir-myproj/out \\
      --project-name myproj --user 1000:1000 --verify-task smoke

Without a verification option, the verifications recorded at staging time run again.
The proof writes OUT_DIR/proof-bootstrap.log, OUT_DIR/proof-verify*.log and
OUT_DIR/verify-report.json next to the staging logs, never over them; an earlier proof there
is an error (exit 2) unless --force.
Exit code 1 also means the product did not install offline (see OUT_DIR/proof-bootstrap.log).

",
    exit_codes!()
);

/// The top-level `--help`: the settings read from the environment (declared in
/// [`crate::settings`]), then the exit codes.
pub(super) fn top_help() -> String {
    format!("{}\n{}", crate::settings::help(), exit_codes!())
}

/// The layout lists are made from the `Workdir` and `ProductLayout` names, never copied.
pub(super) fn pack_help() -> String {
    format!(
        "\
Example:
  pixi-airgap pack --image my-pixi-image:latest --project-dir ./myproj \\
      --workdir ./tmp/workdir-myproj --archive tar.zst --verify-task smoke

Result: {}, WORKDIR/{}, WORKDIR/proof
(offline proof: proof-*.log, verify-report.json) and, with --archive, WORKDIR/product.tar[.zst] + .sha256.
Stops at the first failing step with that step's exit code.

{}",
        workdir_layout(),
        crate::workdir::Workdir::PRODUCT,
        exit_codes!()
    )
}

pub(super) fn make_product_help() -> String {
    format!(
        "\
Example:
  pixi-airgap make-product --workdir ./tmp/workdir-myproj --project-name myproj

Result: WORKDIR/{}/{}

{}",
        crate::workdir::Workdir::PRODUCT,
        product_layout(),
        exit_codes!()
    )
}

pub(super) fn stage_host_help() -> String {
    format!(
        "\
Example:
  pixi-airgap stage-host --image my-pixi-image:latest --project-dir ./myproj \\
      --workdir ./tmp/workdir-myproj --verify-task smoke

Result: {}

{}",
        workdir_layout(),
        exit_codes!()
    )
}
