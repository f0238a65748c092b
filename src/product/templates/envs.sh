# shellcheck shell=sh
# pixi-airgap product environment for @PROJECT_NAME@.
# Source it, do not run it:   . ./envs.sh      (bash, zsh, dash, busybox sh)
#
# Points pixi at this product's package cache and keeps it from going online. The product folder is
# found from PIXI_AIRGAP_PRODUCT_DIR when set, else from this file's own location (bash, zsh), else
# from the current folder (shells that cannot tell a sourced file's path, like dash).

if [ -n "${PIXI_AIRGAP_PRODUCT_DIR:-}" ]; then
  _pixi_airgap_dir=$PIXI_AIRGAP_PRODUCT_DIR
elif [ -n "${BASH_VERSION:-}" ]; then
  # shellcheck disable=SC3028,SC3054
  _pixi_airgap_dir=$(dirname -- "${BASH_SOURCE[0]}")
elif [ -n "${ZSH_VERSION:-}" ]; then
  # zsh syntax, hidden from other shells' parsers by eval.
  eval '_pixi_airgap_dir=${${(%):-%x}:h}'
else
  _pixi_airgap_dir=$PWD
fi

if [ ! -f "$_pixi_airgap_dir/envs.sh" ] || [ ! -d "$_pixi_airgap_dir/pkg-cache" ]; then
  echo "envs.sh: no pixi-airgap product in '$_pixi_airgap_dir': cd into the product folder or set PIXI_AIRGAP_PRODUCT_DIR" >&2
  unset _pixi_airgap_dir
  # shellcheck disable=SC2317
  return 1 2>/dev/null || exit 1
fi
_pixi_airgap_dir=$(cd -- "$_pixi_airgap_dir" && pwd -P)

export PIXI_AIRGAP_PRODUCT_DIR="$_pixi_airgap_dir"
export PIXI_CACHE_DIR="$_pixi_airgap_dir/pkg-cache"
export RATTLER_CACHE_DIR="$_pixi_airgap_dir/pkg-cache"

# Per-kind cache overrides (PIXI_CACHE_*_DIR) would send pixi past pkg-cache.
for _pixi_airgap_var in $(env | sed -n 's/^\(PIXI_CACHE_[A-Za-z0-9_]*_DIR\)=.*/\1/p'); do
  unset "$_pixi_airgap_var"
done

# Never resolve or download: install exactly what pixi.lock says, from pkg-cache.
# PIXI_FROZEN is honoured by every pixi with --frozen; PIXI_OFFLINE by pixi >= 0.74 (older ones ignore it).
export PIXI_FROZEN=true
export PIXI_OFFLINE=true

unset _pixi_airgap_dir _pixi_airgap_var
