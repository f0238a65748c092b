#!/bin/sh
# apply-delta.sh: written by pixi-airgap into a delta product (the update of @PROJECT@).
#
#   sh apply-delta.sh /path/to/old/product
#
# Checks that the folder is exactly this delta's base (else it names what differs and changes
# nothing), builds the new product beside it (unchanged files hard-linked where the file system
# allows, copied otherwise, new and changed files from files/), checks it against the new
# SHA256SUMS and swaps it in by rename. A kill at any point leaves the old product intact (for an
# instant between the two renames it is beside its place, under .<name>.applied-*); running the
# script again finishes the job. The new product must be bootstrapped again afterwards.
# POSIX sh; needs sha256sum, find, sort, awk, sed, cp, ln, mv, rm, mkdir, readlink (busybox will do).
#
# Exit codes: 0 applied (or already applied); 1 the new product did not come out as listed;
# 2 the folder is not the delta's base (nothing changed), the delta is damaged, or bad usage;
# 3 a needed tool is missing; 4 a write failed.
set -u

PROJECT=@PROJECT@
BASE_SUMS=@BASE_SUMS@
TARGET_SUMS=@TARGET_SUMS@
WITH_SUMS=@WITH_SUMS@
BASE_DIRS_EXACT=@BASE_DIRS_EXACT@

say() { printf 'apply-delta.sh: %s\n' "$*" >&2; }

# Tests stop the script at a named point to kill it there.
pause_point() {
  if [ "${PIXI_AIRGAP_TEST_PAUSE_AT:-}" = "$1" ]; then
    : >"${PIXI_AIRGAP_TEST_PAUSE_FILE:?}"
    while :; do sleep 1; done
  fi
}

if [ $# -ne 1 ] || [ -z "$1" ]; then
  case ${1:-} in
    -h | --help)
      sed -n '4,17p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
  esac
  say "usage: sh apply-delta.sh /path/to/old/product"
  exit 2
fi
case $1 in
  -h | --help)
    sed -n '4,17p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
esac

for tool in sha256sum find sort awk sed cp ln mv rm mkdir readlink dirname basename cmp cut mktemp; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    say "needs \`$tool\` on PATH (coreutils, findutils, or busybox)"
    exit 3
  fi
done

LC_ALL=C
export LC_ALL

here=$(CDPATH='' cd -P -- "$(dirname "$0")" && pwd -P) || exit 4
name=$(basename "$1")
case $name in
  '' | . | .. | /)
    say "\`$1\` does not name a product folder"
    exit 2
    ;;
esac
parent=$(CDPATH='' cd -P -- "$(dirname "$1")" && pwd -P) || {
  say "the folder holding \`$1\` does not exist"
  exit 2
}
old=$parent/$name
short=$(printf '%s' "$TARGET_SUMS" | cut -c1-12)
staging=$parent/.$name.apply-$short
ready=$staging.ready
aside=$parent/.$name.applied-$short

scratch=$(mktemp -d "${TMPDIR:-/tmp}/apply-delta.XXXXXX") || exit 4
trap 'rm -rf "$scratch"' EXIT
trap 'exit 130' INT TERM

hash_of() {
  _h=$(sha256sum <"$1") || return 1
  printf '%s\n' "${_h%% *}"
}

# Prints at most 40 lines of a list file, and how many more there are.
show() {
  _n=0
  while IFS= read -r _l; do
    _n=$((_n + 1))
    [ "$_n" -le 40 ] && say "  $_l"
  done <"$1"
  [ "$_n" -gt 40 ] && say "  ... and $((_n - 40)) more"
  return 0
}

# check_state DIR SUMS TREE DIRS_EXACT: writes what differs to $scratch/diff; 0 when none.
check_state() {
  _dir=$1
  _sums=$2
  _tree=$3
  {
    awk '{ p = substr($0, 67); print "f\t" p }' "$_sums"
    awk -F '\t' '$1 == "dir" { print "d\t" $2 } $1 == "link" { print "l\t" $2 "\t" $3 }' "$_tree"
  } | sort >"$scratch/expected"
  (
    CDPATH='' cd -P -- "$_dir" || exit 4
    find . ! -name . -type d | awk '{ print "d\t" substr($0, 3) }'
    find . -type f | awk '{ print "f\t" substr($0, 3) }'
    find . -type l | while IFS= read -r _p; do
      printf 'l\t%s\t%s\n' "${_p#./}" "$(readlink "$_p")"
    done
    find . ! -type d ! -type f ! -type l | awk '{ print "o\t" substr($0, 3) }'
  ) | sort >"$scratch/actual" || return 4
  awk -F '\t' -v pixi="$PROJECT/.pixi" -v dirs_exact="$4" '
    function named(kind, path, target) {
      if (kind == "f") return "file " path
      if (kind == "d") return "folder " path
      if (kind == "l") return "link " path " -> " target
      return "special file " path
    }
    FNR == NR { want[$0] = 1; next }
    {
      if ($0 in want) { seen[$0] = 1; next }
      if ($2 == pixi || index($2, pixi "/") == 1) next
      if ($1 == "f" && ($2 == "SHA256SUMS" || $2 == "SHA256SUMS.sig")) next
      if ($1 == "d" && dirs_exact != "1") next
      print "extra: " named($1, $2, $3)
    }
    END {
      for (k in want) if (!(k in seen)) {
        split(k, a, "\t")
        print "missing: " named(a[1], a[2], a[3])
      }
    }' "$scratch/expected" "$scratch/actual" >"$scratch/tree-diff"
  # The contents of the listed files that find saw as regular files (never one reached through
  # a link). envs.sh is compared as made (bootstrapping records the product's folder in it).
  awk -F '\t' 'FNR == NR { if ($1 == "f") have[$2] = 1; next }
    { p = substr($0, 67); if (p != "envs.sh" && (p in have)) print }' \
    "$scratch/actual" "$_sums" >"$scratch/sums"
  : >"$scratch/content-diff"
  if [ -s "$scratch/sums" ]; then
    (CDPATH='' cd -P -- "$_dir" && sha256sum -c "$scratch/sums" 2>/dev/null) |
      sed -n 's/: FAILED.*$//p' | sed 's/^/changed: file /' >"$scratch/content-diff"
  fi
  sort "$scratch/tree-diff" "$scratch/content-diff" >"$scratch/diff"
  _want=$(awk 'substr($0, 67) == "envs.sh" { print substr($0, 1, 64) }' "$_sums")
  if [ -n "$_want" ] && [ -f "$_dir/envs.sh" ] && [ ! -L "$_dir/envs.sh" ]; then
    _got=$(sed "s/^_pixi_airgap_recorded=.*/_pixi_airgap_recorded=''/" "$_dir/envs.sh" | sha256sum)
    [ "${_got%% *}" = "$_want" ] || echo "changed: file envs.sh" >>"$scratch/diff"
  fi
  if [ -f "$_dir/SHA256SUMS" ] && ! cmp -s "$_dir/SHA256SUMS" "$_sums"; then
    echo "changed: file SHA256SUMS (it does not list these files)" >>"$scratch/diff"
  fi
  [ ! -s "$scratch/diff" ]
}

# The delta itself: its lists must be the ones this script was written for, its files intact.
if [ "$(hash_of "$here/SHA256SUMS" 2>/dev/null)" != "$TARGET_SUMS" ] ||
  [ "$(hash_of "$here/base/SHA256SUMS" 2>/dev/null)" != "$BASE_SUMS" ] ||
  [ ! -f "$here/product-tree.txt" ] || [ ! -f "$here/base/product-tree.txt" ]; then
  say "the delta in $here is damaged or incomplete: its SHA256SUMS lists are not the ones apply-delta.sh was written for"
  exit 2
fi
if [ -s "$here/files.SHA256SUMS" ]; then
  (CDPATH='' cd -P -- "$here/files" && sha256sum -c "$here/files.SHA256SUMS" 2>/dev/null) |
    sed -n 's/: FAILED.*$//p' >"$scratch/damaged"
  if [ -s "$scratch/damaged" ]; then
    say "the delta in $here is damaged: these files of files/ are missing or changed:"
    show "$scratch/damaged"
    exit 2
  fi
fi

finish_swap() {
  rm -f "$ready"
  if [ -d "$aside" ] && [ ! -L "$aside" ]; then
    rm -rf "$aside" || say "could not remove the old product at $aside; remove it yourself"
  fi
  say "applied: $old is now the new product (SHA256SUMS $TARGET_SUMS)"
  say "its environments must be installed again: sh $old/bootstrap-project.sh"
}

# A run killed between the two renames: the old product is beside its place.
if [ ! -e "$old" ] && [ ! -L "$old" ]; then
  if [ -d "$aside" ] && [ ! -L "$aside" ]; then
    if [ -f "$ready" ] && [ -d "$staging" ] && [ ! -L "$staging" ]; then
      say "finishing an interrupted swap"
      mv "$staging" "$old" || exit 4
      finish_swap
      exit 0
    fi
    say "putting the old product back from $aside"
    mv "$aside" "$old" || exit 4
  else
    say "\`$old\` does not exist"
    exit 2
  fi
fi
if [ -L "$old" ] || [ ! -d "$old" ]; then
  say "\`$old\` is not a folder"
  exit 2
fi

say "checking that $old is this delta's base"
if check_state "$old" "$here/base/SHA256SUMS" "$here/base/product-tree.txt" "$BASE_DIRS_EXACT"; then
  :
else
  cp "$scratch/diff" "$scratch/base-diff"
  if check_state "$old" "$here/SHA256SUMS" "$here/product-tree.txt" 1; then
    rm -f "$ready"
    for leftover in "$staging" "$aside"; do
      if [ -d "$leftover" ] && [ ! -L "$leftover" ]; then
        rm -rf "$leftover"
      fi
    done
    say "$old is already this delta's new product: nothing to do"
    exit 0
  fi
  say "$old is not this delta's base (SHA256SUMS $BASE_SUMS); nothing was changed. What differs:"
  show "$scratch/base-diff"
  exit 2
fi
pause_point checked

# Build the new product beside the old one.
for leftover in "$staging" "$aside"; do
  if [ -d "$leftover" ] && [ ! -L "$leftover" ]; then
    rm -rf "$leftover" || exit 4
  fi
done
rm -f "$ready"
say "building the new product in $staging"
mkdir "$staging" || exit 4
awk -F '\t' '$1 == "dir" { print $2 }' "$here/product-tree.txt" >"$scratch/dirs"
while IFS= read -r p; do
  mkdir "$staging/$p" || exit 4
done <"$scratch/dirs"
linked=0
copied=0
while IFS= read -r line; do
  p=${line#*  }
  if [ -f "$here/files/$p" ]; then
    cp -p "$here/files/$p" "$staging/$p" || exit 4
    copied=$((copied + 1))
  elif ln "$old/$p" "$staging/$p" 2>/dev/null; then
    linked=$((linked + 1))
  else
    cp -p "$old/$p" "$staging/$p" || exit 4
    copied=$((copied + 1))
  fi
  if [ "$((linked + copied))" -eq 1 ]; then
    pause_point building
  fi
done <"$here/SHA256SUMS"
awk -F '\t' '$1 == "link" { print $2 "\t" $3 }' "$here/product-tree.txt" >"$scratch/links"
while IFS='	' read -r p target; do
  ln -s "$target" "$staging/$p" || exit 4
done <"$scratch/links"
if [ "$WITH_SUMS" = 1 ]; then
  cp "$here/SHA256SUMS" "$staging/SHA256SUMS" || exit 4
  if [ -f "$here/SHA256SUMS.sig" ]; then
    cp "$here/SHA256SUMS.sig" "$staging/SHA256SUMS.sig" || exit 4
  fi
fi
say "checking the new product against SHA256SUMS ($linked files linked, $copied copied)"
if ! check_state "$staging" "$here/SHA256SUMS" "$here/product-tree.txt" 1; then
  say "the new product in $staging does not match the delta's SHA256SUMS:"
  show "$scratch/diff"
  rm -rf "$staging"
  exit 1
fi
pause_point verified

# The swap: two renames in one folder.
: >"$ready" || exit 4
mv "$old" "$aside" || exit 4
pause_point swapping
if ! mv "$staging" "$old"; then
  mv "$aside" "$old"
  exit 4
fi
finish_swap
exit 0
