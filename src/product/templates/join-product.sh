#!/bin/sh
# join-product.sh: written by pixi-airgap next to the parts of a split product archive.
#
#   sh join-product.sh [--extract DIR]
#
# Checks every part listed in the archive's .sha256 file and names each one that is missing or
# damaged (carry only those again), joins the parts under a temporary name, checks the whole and
# renames it into place; with --extract DIR it then unpacks the product into DIR. POSIX sh; the
# join works with busybox alone. Unpacking a .tar.zst archive needs `zstd` or a tar with --zstd.
#
# Exit codes: 0 done; 2 a part is missing or damaged, the list is damaged, or bad usage;
# 3 a needed tool is missing; 4 a write failed.
set -u

ARCHIVE=@ARCHIVE@
TOP=@TOP@

say() { printf 'join-product.sh: %s\n' "$*" >&2; }

usage() {
  say "usage: sh join-product.sh [--extract DIR]"
  exit 2
}

extract=''
while [ $# -gt 0 ]; do
  case $1 in
    --extract)
      [ $# -ge 2 ] || usage
      extract=$2
      shift 2
      ;;
    --extract=*)
      extract=${1#--extract=}
      shift
      ;;
    -h | --help)
      sed -n '4,12p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) usage ;;
  esac
done
if [ -n "$extract" ] && [ -z "${extract##-*}" ]; then
  usage
fi

for tool in sha256sum cat mv rm dirname; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    say "needs \`$tool\` on PATH (coreutils or busybox)"
    exit 3
  fi
done

here=$(CDPATH='' cd -P -- "$(dirname "$0")" && pwd -P) || exit 4
sums="$here/$ARCHIVE.sha256"
if [ ! -f "$sums" ]; then
  say "\`$sums\` is missing: carry it with the parts"
  exit 2
fi

hash_of() {
  # busybox and coreutils both print "<hex>  -" for standard input.
  _h=$(sha256sum <"$1") || return 1
  printf '%s\n' "${_h%% *}"
}

is_sha256() {
  case $1 in
    *[!0-9a-f]* | '') return 1 ;;
  esac
  [ "${#1}" -eq 64 ]
}

# First pass: check every part, in the listed order, and collect them as the positional
# parameters (the loop reads from a redirection, so it runs in this shell).
whole=''
bad=0
count=0
while IFS= read -r line || [ -n "$line" ]; do
  sum=${line%%  *}
  name=${line#*  }
  if ! is_sha256 "$sum" || [ "$name" = "$line" ]; then
    say "\`$sums\` is damaged: unexpected line \`$line\`"
    exit 2
  fi
  case $name in
    "$ARCHIVE")
      whole=$sum
      continue
      ;;
    "$ARCHIVE".[0-9][0-9][0-9]*)
      case ${name#"$ARCHIVE".} in
        *[!0-9]*)
          say "\`$sums\` is damaged: unexpected name \`$name\`"
          exit 2
          ;;
      esac
      ;;
    *)
      say "\`$sums\` is damaged: unexpected name \`$name\`"
      exit 2
      ;;
  esac
  count=$((count + 1))
  if [ ! -f "$here/$name" ]; then
    say "missing: $name"
    bad=$((bad + 1))
  else
    got=$(hash_of "$here/$name") || exit 4
    if [ "$got" != "$sum" ]; then
      say "damaged: $name (sha256 $got, expected $sum)"
      bad=$((bad + 1))
    fi
  fi
  set -- "$@" "$here/$name"
done <"$sums"

if [ -z "$whole" ] || [ "$count" -eq 0 ]; then
  say "\`$sums\` is damaged: it does not list the parts and the whole \`$ARCHIVE\`"
  exit 2
fi
if [ "$bad" -gt 0 ]; then
  say "$bad of $count parts missing or damaged: carry those again, then run this script again"
  exit 2
fi
say "all $count parts present and intact"

target="$here/$ARCHIVE"
if [ -f "$target" ] && [ "$(hash_of "$target")" = "$whole" ]; then
  say "$ARCHIVE is already joined and intact"
else
  tmp="$here/.$ARCHIVE.joining.$$"
  trap 'rm -f "$tmp"' EXIT
  trap 'exit 130' INT TERM
  cat "$@" >"$tmp" || exit 4
  got=$(hash_of "$tmp") || exit 4
  if [ "$got" != "$whole" ]; then
    say "the joined parts do not give $ARCHIVE (sha256 $got, expected $whole): \`$sums\` is damaged"
    exit 2
  fi
  mv -f "$tmp" "$target" || exit 4
  trap - EXIT
  say "joined $target (sha256 $whole)"
fi

if [ -n "$extract" ]; then
  case $ARCHIVE in
    *.tar.zst)
      if command -v zstd >/dev/null 2>&1; then
        unpack='zstd'
      elif tar --help 2>&1 | grep -q -e '--zstd'; then
        unpack='tar-zstd'
      else
        say "unpacking $ARCHIVE needs \`zstd\` or a tar with --zstd (GNU tar 1.31 or newer); the joined archive is $target"
        exit 3
      fi
      ;;
    *) unpack='tar' ;;
  esac
  if ! command -v tar >/dev/null 2>&1; then
    say "unpacking needs \`tar\` on PATH; the joined archive is $target"
    exit 3
  fi
  mkdir -p "$extract" || exit 4
  if [ -e "$extract/$TOP" ] || [ -L "$extract/$TOP" ]; then
    say "\`$extract/$TOP\` already exists: remove it or choose another --extract folder"
    exit 2
  fi
  work="$extract/.$TOP.extracting.$$"
  mkdir "$work" || exit 4
  trap 'rm -rf "$work"' EXIT
  trap 'exit 130' INT TERM
  case $unpack in
    zstd) zstd -dcq "$target" | tar -xf - -C "$work" || exit 4 ;;
    tar-zstd) tar --zstd -xf "$target" -C "$work" || exit 4 ;;
    *) tar -xf "$target" -C "$work" || exit 4 ;;
  esac
  if [ ! -d "$work/$TOP" ]; then
    say "$ARCHIVE holds no \`$TOP\` folder"
    exit 2
  fi
  mv "$work/$TOP" "$extract/$TOP" || exit 4
  say "unpacked $extract/$TOP; next: sh $extract/$TOP/bootstrap-project.sh"
fi
exit 0
