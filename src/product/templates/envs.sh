# shellcheck shell=sh
# pixi-airgap product environment for @PROJECT_NAME@.
# Source it, do not run it:   . /path/to/product/envs.sh      (bash, zsh, dash, busybox sh)
#
# Points pixi at this product's package cache and keeps it from going online. The product folder is
# this file's own folder when the shell can tell it (bash, zsh; through a link, the recorded one);
# otherwise (dash, busybox sh) the folder recorded below by bootstrap-project.sh, else
# PIXI_AIRGAP_PRODUCT_DIR, else the current folder. A shell that knows the file's path never takes
# an inherited PIXI_AIRGAP_PRODUCT_DIR, so sourcing a second product moves pixi onto its cache.

# Written by bootstrap-project.sh (the folder it installed the product in); empty until then.
_pixi_airgap_recorded=''

# This file's own path, where the shell can tell it.
_pixi_airgap_self=
if [ -n "${BASH_VERSION:-}" ]; then
  # shellcheck disable=SC3028,SC3054
  _pixi_airgap_self=${BASH_SOURCE[0]:-}
elif [ -n "${ZSH_VERSION:-}" ]; then
  # zsh syntax, hidden from other shells' parsers by eval.
  eval '_pixi_airgap_self=${(%):-%x}'
fi

if [ -n "$_pixi_airgap_self" ]; then
  _pixi_airgap_dir=$(dirname -- "$_pixi_airgap_self")
  # Reached through a link (from /etc/profile.d, say): the folder bootstrapping recorded.
  if [ ! -d "$_pixi_airgap_dir/pkg-cache" ] && [ -n "$_pixi_airgap_recorded" ] && [ -f "$_pixi_airgap_recorded/envs.sh" ] && [ -d "$_pixi_airgap_recorded/pkg-cache" ]; then
    _pixi_airgap_dir=$_pixi_airgap_recorded
  fi
elif [ -n "$_pixi_airgap_recorded" ] && [ -f "$_pixi_airgap_recorded/envs.sh" ] && [ -d "$_pixi_airgap_recorded/pkg-cache" ]; then
  _pixi_airgap_dir=$_pixi_airgap_recorded
elif [ -n "${PIXI_AIRGAP_PRODUCT_DIR:-}" ]; then
  _pixi_airgap_dir=$PIXI_AIRGAP_PRODUCT_DIR
else
  _pixi_airgap_dir=$PWD
fi

if [ ! -f "$_pixi_airgap_dir/envs.sh" ] || [ ! -d "$_pixi_airgap_dir/pkg-cache" ]; then
  echo "envs.sh: no pixi-airgap product (envs.sh and pkg-cache/) in '$_pixi_airgap_dir'" >&2
  echo "envs.sh: shells like dash cannot tell where a sourced file is: run the product's bootstrap-project.sh once (it records the product's folder in envs.sh), cd into the product folder, or set PIXI_AIRGAP_PRODUCT_DIR" >&2
  unset _pixi_airgap_dir _pixi_airgap_recorded _pixi_airgap_self
  # shellcheck disable=SC2317
  return 1 2>/dev/null || exit 1
fi
_pixi_airgap_dir=$(CDPATH='' cd -P -- "$_pixi_airgap_dir" && pwd -P)

# Environments hold absolute paths: a product used from another folder than the one it was
# installed in needs bootstrapping again.
if [ -n "$_pixi_airgap_recorded" ] && [ "$_pixi_airgap_recorded" != "$_pixi_airgap_dir" ]; then
  echo "envs.sh: warning: this product was installed in '$_pixi_airgap_recorded' and is now in '$_pixi_airgap_dir': run '$_pixi_airgap_dir/bootstrap-project.sh' again" >&2
fi

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

# A product made with --bundle-pixi carries the pixi that filled pkg-cache in bin/pixi: it goes
# first on PATH. Another pixi on PATH of another version gets a warning; to use that one instead,
# set PIXI_AIRGAP_USE_PATH_PIXI=1 before sourcing this file.
_pixi_airgap_build_pixi=@PIXI_VERSION@
if [ -x "$_pixi_airgap_dir/bin/pixi" ] && [ -f "$_pixi_airgap_dir/bin/pixi" ]; then
  _pixi_airgap_other=$(command -v pixi 2>/dev/null || true)
  if [ "${PIXI_AIRGAP_USE_PATH_PIXI:-}" = 1 ] && [ -n "$_pixi_airgap_other" ]; then
    echo "envs.sh: PIXI_AIRGAP_USE_PATH_PIXI=1: using '$_pixi_airgap_other', not the bundled $_pixi_airgap_build_pixi" >&2
  else
    if [ -n "$_pixi_airgap_other" ] && [ "$_pixi_airgap_other" != "$_pixi_airgap_dir/bin/pixi" ]; then
      _pixi_airgap_other_version=$("$_pixi_airgap_other" --version 2>/dev/null || echo "an unknown pixi")
      if [ "$_pixi_airgap_other_version" != "$_pixi_airgap_build_pixi" ]; then
        echo "envs.sh: warning: PATH has $_pixi_airgap_other_version ('$_pixi_airgap_other'); using the product's bundled $_pixi_airgap_build_pixi ('$_pixi_airgap_dir/bin/pixi'). Set PIXI_AIRGAP_USE_PATH_PIXI=1 to use the one on PATH instead" >&2
      fi
    fi
    case $PATH in
      "$_pixi_airgap_dir/bin:"*) ;;
      *) export PATH="$_pixi_airgap_dir/bin:$PATH" ;;
    esac
  fi
fi

unset _pixi_airgap_dir _pixi_airgap_var _pixi_airgap_recorded _pixi_airgap_self _pixi_airgap_build_pixi _pixi_airgap_other _pixi_airgap_other_version
