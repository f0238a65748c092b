#!/bin/sh
# Makes WORKDIR/product from this workdir with the pixi-airgap binary copied next to this script,
# so a workdir moved to another machine can still produce its product without installing anything.
#
#   sh helpers/make-archive-ready-product.sh [--output DIR] [--json]
set -eu
here=$(cd -- "$(dirname -- "$0")" && pwd -P)
workdir=$(dirname -- "$here")
exec "$here/pixi-airgap" make-product --workdir "$workdir" --project-name @PROJECT_NAME@ "$@"
