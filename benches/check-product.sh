#!/bin/sh
# Benchmark: check-product.sh against plain `sha256sum -c SHA256SUMS` on the same generated
# product (default 512 MiB in 20,000 files; --smoke: 8 MiB in 500 files). The target (issue 19)
# is at most 1.5x. Each is run 3 times with a warm page cache; the best run counts.
#
#   sh benches/check-product.sh [--smoke]
#
# The product is synthetic (random package files in 100 folders, the project's check-product.sh
# template rendered for a project `demo`), written with the formats make-product writes: SHA256SUMS
# sorted bytewise, product-tree.txt with every folder.
set -eu

size_mib=512
files=20000
case ${1:-} in
  --smoke)
    size_mib=8
    files=500
    ;;
  '') ;;
  *)
    echo "usage: sh benches/check-product.sh [--smoke]" >&2
    exit 2
    ;;
esac

repo=$(cd -- "$(dirname -- "$0")/.." && pwd -P)
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
product=$work/product
mkdir -p "$product/demo"
sed "s/@PROJECT_NAME@/'demo'/" "$repo/src/product/templates/check-product.sh" >"$product/check-product.sh"
printf '[project]\nname = "demo"\n' >"$product/demo/pixi.toml"

folders=100
per_folder=$((files / folders))
bytes_per_file=$((size_mib * 1024 * 1024 / files))
echo "generating $files files of $bytes_per_file bytes in $folders folders ($size_mib MiB)..." >&2
i=0
while [ "$i" -lt "$folders" ]; do
  dir=$product/pkg-cache/pkgs/pkg-$i-1.0-0/lib
  mkdir -p "$dir"
  head -c $((per_folder * bytes_per_file)) /dev/urandom | (cd "$dir" && split -b "$bytes_per_file" -d -a 5 - part-)
  i=$((i + 1))
done

cd "$product"
find . -type d ! -name . | sed 's|^\./||' | LC_ALL=C sort | sed 's/^/dir\t/' >product-tree.txt
find . -type f | sed 's|^\./||' | LC_ALL=C sort | xargs sha256sum >"$work/sums"
mv "$work/sums" SHA256SUMS
count=$(wc -l <SHA256SUMS | tr -d ' ')

best() {
  best_s=
  for _ in 1 2 3; do
    start=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || {
      echo "failed: $*" >&2
      exit 1
    }
    end=$(date +%s.%N)
    s=$(echo "$end - $start" | bc)
    if [ -z "$best_s" ] || [ "$(echo "$s < $best_s" | bc)" = 1 ]; then best_s=$s; fi
  done
  echo "$best_s"
}

# Warm the cache once.
sha256sum -c --quiet SHA256SUMS >/dev/null
plain=$(best sha256sum -c --quiet SHA256SUMS)
check=$(best sh ./check-product.sh)
ratio=$(echo "scale=2; $check / $plain" | bc)
echo "files: $count, size: $size_mib MiB"
echo "sha256sum -c SHA256SUMS: ${plain}s"
echo "sh check-product.sh:     ${check}s"
echo "ratio: ${ratio}x (target <= 1.5x)"
