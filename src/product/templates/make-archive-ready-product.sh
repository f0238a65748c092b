#!/bin/sh
# Makes WORKDIR/product from this workdir with the pixi-airgap binary copied next to this script,
# so a workdir moved to another machine can still produce its product without installing anything.
# Exit codes: those of `pixi-airgap make-product`; 2 for a bad argument.
set -eu

here=$(CDPATH='' cd -P -- "$(dirname -- "$0")" && pwd -P)
staged_name=@PROJECT_NAME@
own_workdir=$(dirname -- "$here")

usage() {
  cat <<EOF
Usage: $0 [--workdir DIR] [--project-name NAME] [--output DIR] [--sign-key PATH] [--json]

Makes the product (WORKDIR/product unless --output) from a staged workdir with
the pixi-airgap binary next to this script ($here/pixi-airgap).

  --workdir DIR        the staged workdir [default: $own_workdir]
  --project-name NAME  the staged project [default: $staged_name]; another name is an error
  --output DIR         where to write the product [default: WORKDIR/product]
  --sign-key PATH      sign SHA256SUMS with this OpenSSH private key (a passphrase
                       comes from PIXI_AIRGAP_SIGN_PASSPHRASE)
  --json               print make-product's JSON report on stdout
  -h, --help           print this help
EOF
}

usage_error() {
  echo "make-archive-ready-product.sh: $1" >&2
  usage >&2
  exit 2
}

workdir=
project_name=
output=
sign_key=
json=
while [ "$#" -gt 0 ]; do
  case $1 in
    --workdir | --project-name | --output | --sign-key)
      [ "$#" -ge 2 ] || usage_error "$1 needs a value"
      case $1 in
        --workdir) workdir=$2 ;;
        --project-name) project_name=$2 ;;
        --output) output=$2 ;;
        --sign-key) sign_key=$2 ;;
      esac
      shift 2
      ;;
    --workdir=*) workdir=${1#--workdir=} && shift ;;
    --project-name=*) project_name=${1#--project-name=} && shift ;;
    --output=*) output=${1#--output=} && shift ;;
    --sign-key=*) sign_key=${1#--sign-key=} && shift ;;
    --json) json=1 && shift ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) usage_error "unknown argument '$1'" ;;
  esac
done

[ -n "$workdir" ] || workdir=$own_workdir
[ -d "$workdir" ] || usage_error "--workdir '$workdir' is not a folder"
# This script knows the name staged into its own workdir; make-product checks any other workdir.
if [ "$(CDPATH='' cd -P -- "$workdir" && pwd -P)" = "$own_workdir" ]; then
  if [ -n "$project_name" ] && [ "$project_name" != "$staged_name" ]; then
    echo "make-archive-ready-product.sh: --project-name '$project_name' does not match the project staged in '$own_workdir': '$staged_name'" >&2
    exit 2
  fi
  project_name=$staged_name
fi
if [ -z "$project_name" ]; then
  # Another workdir: its one staged project.
  set -- "$workdir"/project/*/
  if [ "$#" != 1 ] || [ ! -d "$1" ]; then
    usage_error "'$workdir/project' does not hold exactly one staged project: give --project-name"
  fi
  project_name=$(basename -- "$1")
fi

set -- make-product --workdir "$workdir" --project-name "$project_name"
[ -z "$output" ] || set -- "$@" --output "$output"
[ -z "$sign_key" ] || set -- "$@" --sign-key "$sign_key"
[ -z "$json" ] || set -- "$@" --json
if [ ! -x "$here/pixi-airgap" ]; then
  echo "make-archive-ready-product.sh: '$here/pixi-airgap' is missing: stage again, or run 'pixi-airgap $*' with an installed pixi-airgap" >&2
  exit 3
fi
exec "$here/pixi-airgap" "$@"
