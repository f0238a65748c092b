#!/bin/sh
# pixi-airgap product check for @PROJECT_NAME@: checks the folder this script sits in, with only a
# shell and the usual tools (no pixi-airgap, no Docker, no network).
#
#   sh /path/to/product/check-product.sh               is the product intact?
#   sh /path/to/product/check-product.sh --preflight   ... and can it install on this machine?
#   sh check-product.sh --allowed-signers FILE [--identity ID]   ... and signed by a key of FILE?
#
# Intact means: every file SHA256SUMS lists is there, a regular file, with its sha256 (with
# sha256sum, else shasum -a 256, else openssl dgst -sha256, else busybox sha256sum); every folder
# and link product-tree.txt lists is there (a link with the same target, none leaving the
# product); and nothing else is, except the runtime state bootstrap-project.sh creates: anything
# under the project's .pixi/ folder (the environments, pixi's state), in pkg-cache/ what pixi
# creates while installing (.tmp* folders, *.lock files, repodata/; never inside a package), and
# in envs.sh the recorded-folder line in the one form bootstrap writes
# (_pixi_airgap_recorded='<folder>').
# SHA256SUMS.sig (a signature of SHA256SUMS) may sit beside SHA256SUMS. With --allowed-signers
# (an OpenSSH allowed-signers file), ssh-keygen checks that signature first (namespace
# pixi-airgap; for --identity ID, else any principal of the signing key) and a missing or bad
# one is exit 2, before any hash is trusted.
#
# --preflight then compares what the product needs (product-facts.txt) with this machine: the
# platform, the glibc, the free space, and the pixi that will run against the lock's format.
#
# Exit codes: 0 intact (and nothing found that cannot work here); 2 damaged, or cannot work here
# (every bad path named, the first 50 then a count); 3 a tool this check needs is missing (with
# --preflight: or there is no pixi to install with).
# PIXI_AIRGAP_HASH_TOOL=sha256sum|shasum|openssl|busybox picks the hash tool.
set -u
# (zsh gives a function its own name as $0.)
self=$0

project_name=@PROJECT_NAME@
marker=_pixi_airgap_recorded=
# What the check reports at most, then a count.
limit=50

say() {
  printf 'check-product: %s\n' "$*" >&2
}

usage() {
  sed -n '2,28s/^# \{0,1\}//p' "$self" >&2
}

preflight=0
allowed_signers=
identity=
# An option's value: the next argument, which must be there.
value_of() {
  [ "$2" -ge 2 ] || {
    say "$1 needs a value (see --help)"
    exit 2
  }
}
while [ $# -gt 0 ]; do
  case $1 in
    --preflight) preflight=1 ;;
    --allowed-signers | --allowed-signers=*)
      case $1 in
        *=*) allowed_signers=${1#*=} ;;
        *)
          value_of "$1" "$#"
          allowed_signers=$2
          shift
          ;;
      esac
      # Named from the caller's folder; the check runs in the product's.
      case $allowed_signers in
        /*) ;;
        '') ;;
        *) allowed_signers=$(pwd)/$allowed_signers ;;
      esac
      [ -n "$allowed_signers" ] || {
        say "--allowed-signers needs a FILE"
        exit 2
      }
      ;;
    --identity | --identity=*)
      case $1 in
        *=*) identity=${1#*=} ;;
        *)
          value_of "$1" "$#"
          identity=$2
          shift
          ;;
      esac
      [ -n "$identity" ] || {
        say "--identity needs an ID"
        exit 2
      }
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      say "unknown argument '$1' (see --help)"
      exit 2
      ;;
  esac
  shift
done
if [ -n "$identity" ] && [ -z "$allowed_signers" ]; then
  say "--identity needs --allowed-signers FILE"
  exit 2
fi

here=$(CDPATH='' cd -P -- "$(dirname -- "$0")" && pwd -P) || exit 2
CDPATH='' cd -P -- "$here" || exit 2
case $project_name in
  '' | . | .. | */*)
    say "'$project_name' is not a project folder name"
    exit 2
    ;;
esac

# The hash tool: the first one found (or the one PIXI_AIRGAP_HASH_TOOL names).
find_hash_tool() {
  for tool in sha256sum shasum openssl busybox; do
    case ${PIXI_AIRGAP_HASH_TOOL:-any} in
      any | "$tool") ;;
      *) continue ;;
    esac
    case $tool in
      sha256sum | shasum | openssl) command -v "$tool" >/dev/null 2>&1 && return 0 ;;
      busybox) command -v busybox >/dev/null 2>&1 && busybox sha256sum </dev/null >/dev/null 2>&1 && return 0 ;;
    esac
  done
  say "no sha256 tool found: looked for sha256sum, shasum (-a 256), openssl (dgst -sha256) and busybox (sha256sum) on PATH"
  exit 3
}

# The sha256 of standard input, as 64 lowercase hex digits.
hash_stdin() {
  case $tool in
    sha256sum) sha256sum ;;
    shasum) shasum -a 256 ;;
    openssl) openssl dgst -sha256 -r ;;
    busybox) busybox sha256sum ;;
  esac | sed -n 's/^\([0-9a-f]\{64\}\).*/\1/p'
}

# Reads `<hash>  <path>` lines (SHA256SUMS's format) from the file $1 and prints the path of every
# file whose content has that hash.
hash_matches() {
  case $tool in
    sha256sum | shasum | busybox)
      case $tool in
        sha256sum) sha256sum -c "$1" ;;
        shasum) shasum -a 256 -c "$1" ;;
        busybox) busybox sha256sum -c "$1" ;;
      esac 2>/dev/null | sed -n 's/: OK$//p'
      ;;
    openssl)
      # No -c: the files are hashed in batches, and the results compared with the list.
      {
        set --
        while IFS= read -r line; do
          set -- "$@" "${line#*  }"
          if [ $# -ge 200 ]; then
            openssl dgst -sha256 -r -- "$@" 2>/dev/null
            set --
          fi
        done <"$1"
        [ $# -eq 0 ] || openssl dgst -sha256 -r -- "$@" 2>/dev/null
      } | awk 'NR == FNR { want[substr($0, 67)] = substr($0, 1, 64); next }
        { path = substr($0, 67); if (path in want && want[path] == substr($0, 1, 64)) print path }' "$1" -
      ;;
  esac
}

# With --allowed-signers: SHA256SUMS.sig must be a good signature of SHA256SUMS (namespace
# pixi-airgap) by a key the file allows, checked with ssh-keygen before anything trusts SHA256SUMS:
# for --identity ID, or else for any principal `ssh-keygen -Y find-principals` finds for the key.
# Exit 2 on a bad or missing signature, 3 without ssh-keygen. Without --allowed-signers: nothing.
check_signature() {
  [ -n "$allowed_signers" ] || return 0
  command -v ssh-keygen >/dev/null 2>&1 || {
    say "ssh-keygen is not on PATH: it checks the signature (--allowed-signers); install the OpenSSH client, or compare the sha256 of SHA256SUMS with the one you were given by another route"
    exit 3
  }
  if [ ! -f "$allowed_signers" ] || [ ! -r "$allowed_signers" ]; then
    say "cannot read the allowed-signers file '$allowed_signers'"
    exit 2
  fi
  if [ ! -f SHA256SUMS.sig ] || [ -L SHA256SUMS.sig ]; then
    say "the product is not signed: '$here/SHA256SUMS.sig' is missing (or not a regular file); install nothing from it"
    exit 2
  fi
  if [ -n "$identity" ]; then
    printf '%s\n' "$identity" >"$tmp/principals"
  elif ! ssh-keygen -Y find-principals -f "$allowed_signers" -s SHA256SUMS.sig >"$tmp/principals" 2>"$tmp/ssh-keygen.log"; then
    say "the signature SHA256SUMS.sig was not made by a key of '$allowed_signers'; install nothing from this product"
    sed 's/^/  ssh-keygen: /' "$tmp/ssh-keygen.log" >&2
    exit 2
  fi
  while IFS= read -r principal; do
    [ -n "$principal" ] || continue
    if ssh-keygen -Y verify -f "$allowed_signers" -I "$principal" -n pixi-airgap -s SHA256SUMS.sig \
      <SHA256SUMS >"$tmp/ssh-keygen.out" 2>>"$tmp/ssh-keygen.log"; then
      say "signature good: $(head -n 1 "$tmp/ssh-keygen.out")"
      return 0
    fi
  done <"$tmp/principals"
  say "the signature SHA256SUMS.sig does not verify for ${identity:-the principals of its key} with '$allowed_signers' (namespace pixi-airgap): SHA256SUMS was changed, or signed by another key; install nothing from this product"
  sed 's/^/  ssh-keygen: /' "$tmp/ssh-keygen.log" >&2
  exit 2
}

tmp=
cleanup() {
  [ -z "$tmp" ] || rm -rf -- "$tmp"
}
trap cleanup EXIT
trap 'exit 2' HUP INT TERM
tmp=$(mktemp -d 2>/dev/null) || {
  tmp=${TMPDIR:-/tmp}/check-product.$$
  mkdir -m 700 -- "$tmp" || {
    tmp=
    say "cannot create a temporary folder (set TMPDIR to a writable folder)"
    exit 3
  }
}

# Prints the problems in $tmp/problems (`path<TAB>what`): the first $limit, then a count.
report_problems() {
  count=$(wc -l <"$tmp/problems" | tr -d ' ')
  [ "$count" -gt 0 ] || return 0
  say "the product in '$here' is damaged: $count problem(s)"
  head -n "$limit" "$tmp/problems" | awk -F '\t' '{ printf "  %s: %s\n", $1, $2 }' >&2
  [ "$count" -le "$limit" ] || say "... and $((count - limit)) more"
  return 1
}

check_integrity() {
  for list in SHA256SUMS product-tree.txt; do
    if [ ! -f "$list" ] || [ -L "$list" ]; then
      say "the product in '$here' is damaged: 1 problem(s)"
      printf '  %s: missing, or not a regular file (not a complete pixi-airgap product, or one made before pixi-airgap wrote it)\n' "$list" >&2
      say "install nothing from it: copy the product again from the build machine (or unpack its archive again)"
      exit 2
    fi
  done
  command -v readlink >/dev/null 2>&1 || {
    say "readlink is not on PATH (coreutils or busybox have it)"
    exit 3
  }
  find_hash_tool
  check_signature

  # What is on disk, by kind, never following a link; the project's environments (.pixi/envs,
  # never part of a product) are not walked. Links with their target, and whether it resolves
  # inside the product.
  envs_pattern=$(printf '%s' "./$project_name/.pixi/envs" | sed 's/[][*?\\]/\\&/g')
  {
    find . -path "$envs_pattern" -prune -o -type d -print | sed 's/^/d /'
    find . -path "$envs_pattern" -prune -o -type f -print | sed 's/^/f /'
    find . -path "$envs_pattern" -prune -o ! -type d ! -type f ! -type l -print | sed 's/^/o /'
    find . -path "$envs_pattern" -prune -o -type l -print | while IFS= read -r link; do
      target=$(readlink -- "$link")
      real=$(readlink -f -- "$link" 2>/dev/null) || real=
      case $real in
        "$here" | "$here"/*) where=in ;;
        '') where=dangling ;;
        *) where=out ;;
      esac
      printf 'l %s\t%s\t%s\n' "$link" "$target" "$where"
    done
  } >"$tmp/found" || {
    say "cannot list '$here'"
    exit 3
  }

  # The lists against what is there: problems, and the files to hash (envs.sh aside).
  awk -v project="$project_name" -v problems="$tmp/problems" -v sums="$tmp/sums" '
    function bad(path, what) { printf "%s\t%s\n", path, what > problems }
    function plain(path,   n, parts, i) {
      if (path == "" || substr(path, 1, 1) == "/") return 0
      n = split(path, parts, "/")
      for (i = 1; i <= n; i++) if (parts[i] == "" || parts[i] == "." || parts[i] == "..") return 0
      return 1
    }
    # Whether a link at `path` with `target` stays inside the product by its text.
    function inside(path, target,   depth, n, parts, i) {
      if (target == "" || substr(target, 1, 1) == "/") return 0
      depth = split(path, parts, "/") - 1
      n = split(target, parts, "/")
      for (i = 1; i <= n; i++) {
        if (parts[i] == "..") { if (depth == 0) return 0; depth-- }
        else if (parts[i] != "." && parts[i] != "") depth++
      }
      return 1
    }
    # What pixi creates in the package cache while it installs, and make-product leaves out:
    # .tmp* folders, *.lock files, the repodata cache; never inside a package (pkgs/<name>/...).
    function cache_state(path, dir,   n, parts, i, isdir) {
      if (index(path, "pkg-cache/") != 1) return 0
      n = split(substr(path, 11), parts, "/")
      for (i = 1; i <= n; i++) {
        if (i >= 3 && parts[1] == "pkgs") return 0
        isdir = (i < n) || dir
        if (isdir && substr(parts[i], 1, 4) == ".tmp") return 1
        if (i == 1 && isdir && parts[i] == "repodata") return 1
        if (!isdir && parts[i] ~ /\.lock$/) return 1
      }
      return 0
    }
    function name(kind) { return kind == "f" ? "file" : kind == "d" ? "folder" : kind == "l" ? "link" : "special file" }
    FILENAME == "SHA256SUMS" {
      path = substr($0, 67)
      if ($0 !~ /^[0-9a-f][0-9a-f]*  / || substr($0, 65, 2) != "  " || substr($0, 1, 64) ~ /[^0-9a-f]/ || !plain(path) || (path in kind)) {
        bad("SHA256SUMS", "line " FNR " is not `<sha256>  <path>` of a new path inside the product"); next
      }
      kind[path] = "f"; hash[path] = substr($0, 1, 64); next
    }
    FILENAME == "product-tree.txt" {
      n = split($0, f, "\t")
      if (n == 2 && f[1] == "dir" && plain(f[2]) && !(f[2] in kind)) { kind[f[2]] = "d"; next }
      if (n == 3 && f[1] == "link" && plain(f[2]) && !(f[2] in kind) && inside(f[2], f[3])) { kind[f[2]] = "l"; target[f[2]] = f[3]; next }
      bad("product-tree.txt", "line " FNR " is not `dir<TAB>path` or `link<TAB>path<TAB>target` of a new path inside the product"); next
    }
    {
      k = substr($0, 1, 1); rest = substr($0, 3)
      if (k == "l") { n = split(rest, f, "\t"); path = f[1]; to = f[2]; where = f[3] } else path = rest
      if (path == ".") next
      if (substr(path, 1, 2) != "./") { bad(path, "a name the listing cannot carry (a line break?)"); next }
      path = substr(path, 3)
      if (seen[path]++) { bad(path, "listed twice on disk: a name with a line break?"); next }
      if (!(path in kind)) {
        # Runtime state: what bootstrap and pixi add under the .pixi/ folder of the project.
        if (k == "d" && path == project "/.pixi") next
        if (index(path, project "/.pixi/") == 1) next
        if (cache_state(path, k == "d")) next
        if (k == "f" && (path == "SHA256SUMS" || path == "SHA256SUMS.sig")) next
        bad(path, "a " name(k) " that is not part of the product"); next
      }
      if (kind[path] != k) { bad(path, "a " name(k) " where the product has a " name(kind[path])); next }
      if (k == "l") {
        if (to != target[path]) bad(path, "a link to `" to "`; the product has it point to `" target[path] "`")
        else if (where == "out") bad(path, "a link that leaves the product (through another link)")
        next
      }
      if (k == "f") {
        if (path == "envs.sh") print hash[path] > (sums ".envs")
        else printf "%s  %s\n", hash[path], path > sums
      }
    }
    END {
      for (path in kind) if (!(path in seen)) bad(path, "missing (a listed " name(kind[path]) ")")
    }
  ' SHA256SUMS product-tree.txt "$tmp/found"
  : >>"$tmp/problems"
  : >>"$tmp/sums"

  # The files' content.
  hash_matches "$tmp/sums" >"$tmp/ok"
  awk 'NR == FNR { ok[$0] = 1; next } !(substr($0, 67) in ok) { printf "%s\tcontent differs from SHA256SUMS (or cannot be read)\n", substr($0, 67) }' \
    "$tmp/ok" "$tmp/sums" >>"$tmp/problems"

  # envs.sh: bootstrap records the product's folder in one line, in one form; with that line as
  # made, the file must have its listed hash.
  if [ -f "$tmp/sums.envs" ]; then
    exact="^$marker'([^']|'\\\\'')*'\$"
    lines=$(grep -c "^$marker" envs.sh)
    if [ "$lines" != 1 ] || ! grep "^$marker" envs.sh | grep -Eq "$exact"; then
      printf 'envs.sh\tthe recorded-folder line is not the one form bootstrap writes (%s'\''<folder>'\'')\n' "$marker" >>"$tmp/problems"
    elif [ "$(sed "s/^$marker.*/$marker''/" envs.sh | hash_stdin)" != "$(cat "$tmp/sums.envs")" ]; then
      printf 'envs.sh\tcontent differs from SHA256SUMS (beyond the recorded folder)\n' >>"$tmp/problems"
    fi
  fi

  sort "$tmp/problems" >"$tmp/sorted" && mv -f "$tmp/sorted" "$tmp/problems"
  if ! report_problems; then
    say "install nothing from it: copy the product again from the build machine (or unpack its archive again)"
    exit 2
  fi
  files=$(wc -l <SHA256SUMS | tr -d ' ')
  say "the product in '$here' is intact ($files files checked with $tool)"
}

# A fact make-product recorded in product-facts.txt (`key=value` lines), empty when absent.
fact() {
  sed -n "s/^$1=//p" product-facts.txt | head -n 1
}

# Whether version $1 is older than version $2 (dotted numbers; a missing part counts as 0).
older() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    na = split(a, x, /[.+-]/); nb = split(b, y, /[.+-]/); n = na > nb ? na : nb
    for (i = 1; i <= n; i++) {
      p = (i <= na && x[i] != "") ? x[i] + 0 : 0; q = (i <= nb && y[i] != "") ? y[i] + 0 : 0
      if (p < q) exit 0
      if (p > q) exit 1
    }
    exit 1
  }'
}

# Whether version $1 meets the pixi-style spec $2 (`>=0.40, <1`); 2 when the spec is beyond this
# script (then it is only a warning).
meets() {
  awk -v v="$1" -v spec="$2" '
    function cmp(a, b,   na, nb, n, i, p, q, x, y) {
      na = split(a, x, /[.+-]/); nb = split(b, y, /[.+-]/); n = na > nb ? na : nb
      for (i = 1; i <= n; i++) {
        p = (i <= na && x[i] != "") ? x[i] + 0 : 0; q = (i <= nb && y[i] != "") ? y[i] + 0 : 0
        if (p != q) return p < q ? -1 : 1
      }
      return 0
    }
    BEGIN {
      n = split(spec, parts, ",")
      for (i = 1; i <= n; i++) {
        c = parts[i]; gsub(/[ \t]/, "", c)
        if (c == "") continue
        if (c ~ /\*/) exit 2
        if (match(c, /^(>=|<=|==|!=|>|<|=)/)) { op = substr(c, 1, RLENGTH); w = substr(c, RLENGTH + 1) } else { op = "=="; w = c }
        if (w !~ /^[0-9][0-9.]*$/) exit 2
        r = cmp(v, w)
        if ((op == ">=" && r < 0) || (op == "<=" && r > 0) || (op == ">" && r <= 0) || (op == "<" && r >= 0) ||
            ((op == "==" || op == "=") && r != 0) || (op == "!=" && r == 0)) exit 1
      }
      exit 0
    }'
}

errors=0
warnings=0
no_pixi=0
cannot() {
  say "preflight: error: $*"
  errors=$((errors + 1))
}
may_not() {
  say "preflight: warning: $*"
  warnings=$((warnings + 1))
}

# What would fail on this machine, before anything is installed.
check_preflight() {
  if [ ! -f product-facts.txt ]; then
    may_not "this product records no facts to check (product-facts.txt; made before pixi-airgap wrote it)"
    return 0
  fi
  platform=$(fact platform)
  machine="$(uname -s 2>/dev/null)/$(uname -m 2>/dev/null)"
  case $machine in
    Linux/x86_64 | Linux/amd64) here_platform=linux-64 ;;
    Linux/aarch64 | Linux/arm64) here_platform=linux-aarch64 ;;
    Linux/ppc64le) here_platform=linux-ppc64le ;;
    Darwin/x86_64) here_platform=osx-64 ;;
    Darwin/arm64) here_platform=osx-arm64 ;;
    *) here_platform= ;;
  esac
  if [ -z "$here_platform" ]; then
    may_not "cannot tell the platform of this machine ($machine); the product is for $platform"
  elif [ -n "$platform" ] && [ "$platform" != "$here_platform" ]; then
    cannot "the product is for $platform, this machine is $here_platform ($machine): its packages cannot run here"
  fi

  glibc=$(fact glibc)
  if [ -n "$glibc" ]; then
    have=$(getconf GNU_LIBC_VERSION 2>/dev/null | sed -n 's/^glibc \([0-9][0-9.]*\).*/\1/p')
    [ -n "$have" ] || have=$(ldd --version 2>/dev/null | sed -n '1s/.* \([0-9][0-9]*\.[0-9][0-9.]*\)$/\1/p')
    if [ -z "$have" ]; then
      may_not "the lock needs glibc $glibc; cannot tell this machine's glibc (no getconf GNU_LIBC_VERSION, no ldd --version): a machine without glibc (musl) cannot run these packages"
    elif older "$have" "$glibc"; then
      cannot "the lock needs glibc $glibc, this machine has glibc $have"
    fi
  fi

  need=$(fact install_bytes)
  if [ -n "$need" ]; then
    need_k=$(((need + 1023) / 1024))
    free_k=$(df -Pk . 2>/dev/null | awk 'NR == 2 { print $4 }')
    case $free_k in
      '' | *[!0-9]*) may_not "cannot tell the free space in '$here' (df -Pk); installing needs about $need_k KiB" ;;
      *)
        if [ "$free_k" -lt "$need_k" ]; then
          cannot "installing needs about $need_k KiB in '$here' (the environments, when pkg-cache cannot be hard-linked), the file system has $free_k KiB free"
        elif [ "$free_k" -lt $((need_k + need_k / 5)) ]; then
          may_not "installing needs about $need_k KiB in '$here', the file system has only $free_k KiB free"
        fi
        ;;
    esac
  fi

  # The pixi that bootstrap will run: the bundled one, unless PIXI_AIRGAP_USE_PATH_PIXI=1 and
  # PATH has one (as envs.sh decides).
  build_pixi=$(fact build_pixi)
  pixi=
  if [ -f bin/pixi ] && [ -x bin/pixi ] && ! { [ "${PIXI_AIRGAP_USE_PATH_PIXI:-}" = 1 ] && command -v pixi >/dev/null 2>&1; }; then
    pixi=$here/bin/pixi
  else
    pixi=$(command -v pixi 2>/dev/null) || pixi=
  fi
  if [ -z "$pixi" ]; then
    say "preflight: error: no pixi: the product carries none (bin/pixi) and PATH has none; install $build_pixi (a single binary) on this machine"
    no_pixi=1
    return 0
  fi
  version=$("$pixi" --version 2>/dev/null | sed -n '1s/^pixi \([0-9][0-9.]*\).*/\1/p')
  if [ -z "$version" ]; then
    cannot "'$pixi --version' does not run on this machine"
    return 0
  fi
  lock_version=$(fact lock_version)
  pixi_min=$(fact lock_pixi_min)
  if [ -n "$pixi_min" ] && older "$version" "$pixi_min"; then
    cannot "pixi.lock is lock format $lock_version, which needs pixi $pixi_min or newer; '$pixi' is pixi $version and cannot read it"
  fi
  requires=$(fact requires_pixi)
  if [ -n "$requires" ]; then
    meets "$version" "$requires"
    case $? in
      0) ;;
      1) cannot "the project has requires-pixi = \"$requires\"; '$pixi' is pixi $version" ;;
      *) may_not "cannot judge requires-pixi = \"$requires\" here; '$pixi' is pixi $version" ;;
    esac
  fi
  if [ -n "$build_pixi" ] && [ "pixi $version" != "$build_pixi" ]; then
    may_not "'$pixi' is pixi $version, the product was built with $build_pixi"
  fi
}

check_integrity
[ "$preflight" = 1 ] || exit 0
check_preflight
if [ "$errors" -gt 0 ]; then
  say "preflight: $errors problem(s) that stop an install on this machine, $warnings warning(s)"
  exit 2
fi
if [ "$no_pixi" = 1 ]; then
  say "preflight: pixi is missing; nothing else found that stops an install on this machine ($warnings warning(s))"
  exit 3
fi
say "preflight: nothing found that stops an install on this machine ($warnings warning(s))"
