#!/bin/sh
# pixi-airgap product bootstrap for @PROJECT_NAME@: installs the project offline from pkg-cache/.
#
#   sh /path/to/product/bootstrap-project.sh
#
# Runs `pixi install --frozen` for each environment that was staged, with the product's own pixi
# (bin/pixi) when it carries one, else the pixi on PATH. Safe to run again.
# Records the product's folder in envs.sh, so that `. /path/to/product/envs.sh` works from any
# folder in any shell. Environments hold absolute paths: run from another folder than the one it
# installed in (the product was moved), it removes the project's own .pixi/envs and installs again.
# First runs check-product.sh --preflight (the product against SHA256SUMS, this machine against
# what it needs); PIXI_AIRGAP_SKIP_CHECK=1 skips that.
# Exit codes: 0 installed; 2 the product is damaged, cannot work on this machine, or is not
# writable; 3 pixi (or a tool the check needs) is missing; otherwise pixi's own exit code.
set -eu

project_name=@PROJECT_NAME@
build_pixi_version=@PIXI_VERSION@
# The line of envs.sh that holds the recorded folder (it is the only one starting so).
marker=_pixi_airgap_recorded=

fail() {
  echo "bootstrap: $1" >&2
  exit 2
}

# The folder recorded in an envs.sh, unquoted; empty when none is.
recorded_in() {
  sed -n "s/^$marker//p" "$1" | sed "s/^'//; s/'\$//; s/'\\\\''/'/g"
}

here=$(CDPATH='' cd -P -- "$(dirname -- "$0")" && pwd -P)
case $project_name in
  '' | . | .. | */*) fail "'$project_name' is not a project folder name" ;;
esac

# Nothing is installed from a damaged product, nor on a machine it cannot work on.
if [ "${PIXI_AIRGAP_SKIP_CHECK:-}" = 1 ]; then
  echo "bootstrap: PIXI_AIRGAP_SKIP_CHECK=1: installing without checking the product (check-product.sh --preflight)" >&2
else
  [ -f "$here/check-product.sh" ] || fail "'$here/check-product.sh' is missing: this is not a complete pixi-airgap product"
  checked=0
  sh "$here/check-product.sh" --preflight || checked=$?
  case $checked in
    0) ;;
    3)
      echo "bootstrap: the check could not run (a tool is missing, see above); nothing was installed (PIXI_AIRGAP_SKIP_CHECK=1 installs without it)" >&2
      exit 3
      ;;
    *) fail "the check found problems (see above); nothing was installed" ;;
  esac
fi
project=$here/$project_name
[ -f "$here/envs.sh" ] || fail "'$here/envs.sh' is missing: this is not a complete pixi-airgap product"
if [ ! -d "$project" ] || [ -L "$project" ]; then
  fail "'$project' is missing or not a folder: this is not a complete pixi-airgap product"
fi
[ "$(grep -c "^$marker" "$here/envs.sh")" = 1 ] || fail "'$here/envs.sh' has no place to record the product's folder (was it edited?)"
case $here in
  *"
"*) fail "the product's folder name holds a line break; move the product to a plain path" ;;
esac

recorded=$(recorded_in "$here/envs.sh")
if [ -n "$recorded" ] && [ "$recorded" != "$here" ]; then
  environments=$project/.pixi/envs
  if [ -L "$project/.pixi" ]; then
    fail "'$project/.pixi' is a symbolic link; remove it yourself before bootstrapping again"
  fi
  if [ -e "$environments" ] || [ -L "$environments" ]; then
    echo "bootstrap: this product was installed in '$recorded' and is now in '$here'; its environments hold the old paths: removing '$environments' and reinstalling" >&2
    rm -rf -- "$environments"
  else
    echo "bootstrap: this product was installed in '$recorded' and is now in '$here': installing it here" >&2
  fi
fi

# Record this folder in envs.sh: written next to it, checked, then renamed over it.
if [ "$recorded" != "$here" ]; then
  quoted=\'$(printf '%s' "$here" | sed "s/'/'\\\\''/g")\'
  temporary=$here/.envs.sh.bootstrap-$$
  # Created anew (set -C), so that what is removed on failure is only ever our own file.
  (set -C && : >"$temporary") 2>/dev/null ||
    fail "cannot create '$temporary': the product folder must be writable by whoever bootstraps it"
  while IFS= read -r line || [ -n "$line" ]; do
    case $line in
      "$marker"*) printf '%s\n' "$marker$quoted" ;;
      *) printf '%s\n' "$line" ;;
    esac
  done <"$here/envs.sh" >"$temporary" || {
    rm -f -- "$temporary"
    fail "cannot write '$temporary'"
  }
  if [ "$(recorded_in "$temporary")" != "$here" ]; then
    rm -f -- "$temporary"
    fail "recording '$here' in envs.sh did not read back the same folder"
  fi
  chmod 0644 "$temporary"
  mv -f -- "$temporary" "$here/envs.sh" || fail "cannot replace '$here/envs.sh'"
fi

export PIXI_AIRGAP_PRODUCT_DIR="$here"
# shellcheck source=envs.sh
. "$here/envs.sh"

# envs.sh put the product's own pixi (bin/pixi, with --bundle-pixi) first on PATH.
if ! command -v pixi >/dev/null 2>&1; then
  echo "bootstrap: pixi is not on PATH and the product carries none (make it with --bundle-pixi to include one)." >&2
  echo "bootstrap: this product was built with $build_pixi_version; install that pixi (a single binary) on this machine and run again." >&2
  exit 3
fi

local_pixi_version=$(pixi --version 2>/dev/null || echo "unknown pixi")
if [ "$local_pixi_version" != "$build_pixi_version" ]; then
  echo "bootstrap: warning: this machine has $local_pixi_version, the product was built with $build_pixi_version" >&2
fi

CDPATH='' cd -P -- "$project"
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
echo "bootstrap: '$project_name' is installed in '$here' ($*)" >&2
