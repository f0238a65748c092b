#!/bin/sh
# join-product.sh: written by pixi-airgap next to the parts of a split product archive.
#
#   sh join-product.sh [--extract DIR] [--allowed-signers FILE [--identity ID]]
#
# Checks every part listed in the archive's .sha256 file and names each one that is missing or
# damaged (carry only those again), joins the parts under a temporary name, checks the whole and
# renames it into place; with --extract DIR it then unpacks the product into DIR. POSIX sh; the
# join works with busybox alone. Unpacking a .tar.zst archive needs `zstd` or a tar with --zstd.
# With --allowed-signers (an OpenSSH allowed-signers file), ssh-keygen first checks that the
# .sha256.sig beside the list is a good signature of it (namespace pixi-airgap; for --identity
# ID, else any principal of the signing key), before any part is checked.
#
# Exit codes: 0 done; 2 a part is missing or damaged, the list is damaged, its signature is
# missing or bad, or bad usage; 3 a needed tool is missing; 4 a write failed.
set -u

ARCHIVE=@ARCHIVE@
TOP=@TOP@

say() { printf 'join-product.sh: %s\n' "$*" >&2; }

usage() {
  say "usage: sh join-product.sh [--extract DIR] [--allowed-signers FILE [--identity ID]]"
  exit 2
}

extract=''
allowed_signers=''
identity=''
while [ $# -gt 0 ]; do
  case $1 in
    --extract | --allowed-signers | --identity)
      if [ $# -lt 2 ] || [ -z "$2" ]; then
        usage
      fi
      case $1 in
        --extract) extract=$2 ;;
        --allowed-signers) allowed_signers=$2 ;;
        *) identity=$2 ;;
      esac
      shift 2
      ;;
    --extract=*)
      extract=${1#--extract=}
      shift
      ;;
    --allowed-signers=*)
      allowed_signers=${1#--allowed-signers=}
      [ -n "$allowed_signers" ] || usage
      shift
      ;;
    --identity=*)
      identity=${1#--identity=}
      [ -n "$identity" ] || usage
      shift
      ;;
    -h | --help)
      sed -n '4,16p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) usage ;;
  esac
done
if [ -n "$extract" ] && [ -z "${extract##-*}" ]; then
  usage
fi
if [ -n "$identity" ] && [ -z "$allowed_signers" ]; then
  say "--identity needs --allowed-signers FILE"
  exit 2
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

# With --allowed-signers: $sums.sig must be a good signature of $sums (namespace pixi-airgap)
# by a key the file allows, checked with ssh-keygen before anything trusts the list: for
# --identity ID, or else for any principal `ssh-keygen -Y find-principals` finds for the key.
# Exit 2 on a bad or missing signature, 3 without ssh-keygen (as check-product.sh does).
# Without --allowed-signers: nothing.
check_signature() {
  [ -n "$allowed_signers" ] || return 0
  command -v ssh-keygen >/dev/null 2>&1 || {
    say "ssh-keygen is not on PATH: it checks the signature (--allowed-signers); install the OpenSSH client, or compare the sha256 of $ARCHIVE.sha256 with the one you were given by another route"
    exit 3
  }
  if [ ! -f "$allowed_signers" ] || [ ! -r "$allowed_signers" ]; then
    say "cannot read the allowed-signers file '$allowed_signers'"
    exit 2
  fi
  sig="$sums.sig"
  if [ ! -f "$sig" ] || [ -L "$sig" ]; then
    say "the parts list is not signed: '$sig' is missing (or not a regular file); join nothing from these parts"
    exit 2
  fi
  if [ -n "$identity" ]; then
    principals=$identity
  elif ! principals=$(ssh-keygen -Y find-principals -f "$allowed_signers" -s "$sig" 2>&1); then
    say "the signature $ARCHIVE.sha256.sig was not made by a key of '$allowed_signers'; join nothing from these parts"
    printf '%s\n' "$principals" | sed 's/^/  ssh-keygen: /' >&2
    exit 2
  fi
  log=''
  while IFS= read -r principal; do
    [ -n "$principal" ] || continue
    if out=$(ssh-keygen -Y verify -f "$allowed_signers" -I "$principal" -n pixi-airgap -s "$sig" <"$sums" 2>&1); then
      say "signature good: ${out%%"$nl"*}"
      return 0
    fi
    log="$log$out$nl"
  done <<EOF
$principals
EOF
  say "the signature $ARCHIVE.sha256.sig does not verify for ${identity:-the principals of its key} with '$allowed_signers' (namespace pixi-airgap): $ARCHIVE.sha256 was changed, or signed by another key; join nothing from these parts"
  printf '%s' "$log" | sed 's/^/  ssh-keygen: /' >&2
  exit 2
}
nl='
'
check_signature

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
