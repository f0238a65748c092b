#!/bin/sh
# pixi-airgap product bootstrap for @PROJECT_NAME@: installs the project offline from pkg-cache/.
#
#   sh bootstrap-project.sh
#
# Runs `pixi install --frozen` for each environment that was staged. Safe to run again.
# Exit codes: 0 installed; 3 pixi is missing; otherwise pixi's own exit code.
set -eu

project_name=@PROJECT_NAME@
build_pixi_version=@PIXI_VERSION@

here=$(cd -- "$(dirname -- "$0")" && pwd -P)
export PIXI_AIRGAP_PRODUCT_DIR="$here"
# shellcheck source=envs.sh
. "$here/envs.sh"

if ! command -v pixi >/dev/null 2>&1; then
  echo "bootstrap: pixi is not on PATH." >&2
  echo "bootstrap: this product was built with $build_pixi_version; install that pixi (a single binary) on this machine and run again." >&2
  exit 3
fi

local_pixi_version=$(pixi --version 2>/dev/null || echo "unknown pixi")
if [ "$local_pixi_version" != "$build_pixi_version" ]; then
  echo "bootstrap: warning: this machine has $local_pixi_version, the product was built with $build_pixi_version" >&2
fi

cd "$here/$project_name"
set -- @ENVIRONMENTS@
for environment in "$@"; do
  echo "bootstrap: installing environment '$environment' of '$project_name' offline" >&2
  if [ "$environment" = default ]; then
    # pixi 0.15 rejects an explicit `--environment default`; no flag means default everywhere.
    pixi install --frozen
  else
    pixi install --frozen --environment "$environment"
  fi
done
echo "bootstrap: '$project_name' is installed ($*)" >&2
