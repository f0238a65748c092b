#!/usr/bin/env bash
# Prepares (and caches) everything the end-to-end tests need:
#   - host tools: debootstrap, shellcheck, dash, busybox, zstd, zsh, ssh-keygen (openssh-client);
#     socat and openssh-server for the TLS front and the sshd of scripts/test-remote.sh
#   - a reachable Docker daemon (started when installed but not running)
#   - pixi 0.15.2 built from its crates.io source (the only pixi a registry here serves)
#   - two local images: one with pixi (the build and offline-proof image), one without (negative test)
#
# Everything is cached under $PIXI_AIRGAP_TESTBED_CACHE (default ~/.cache/pixi-airgap-testbed) and
# rebuilt only when missing. Prints `export` lines for the test environment on stdout when run with
# `--print-env`; everything else goes to stderr.
#
# Set PIXI_AIRGAP_TEST_IMAGE to use your own pixi image instead of building one (the script then
# only checks that the image exists).
set -euo pipefail

PIXI_VERSION=0.15.2
CACHE=${PIXI_AIRGAP_TESTBED_CACHE:-$HOME/.cache/pixi-airgap-testbed}
IMAGE_TAG=${PIXI_AIRGAP_TESTBED_IMAGE_TAG:-pixi-airgap-testbed:pixi-$PIXI_VERSION}
NOPIXI_TAG=${PIXI_AIRGAP_TESTBED_NOPIXI_TAG:-pixi-airgap-testbed:no-pixi}
# The current pixi line, from the prebuilt binary that CI always has beside the clone (never
# committed, never shipped in a product).
MODERN_VERSION=0.77.0
MODERN_TAG=${PIXI_AIRGAP_TESTBED_MODERN_TAG:-pixi-airgap-testbed:pixi-$MODERN_VERSION}
SHARED_TESTBED=${PIXI_AIRGAP_SHARED_TESTBED:-$(cd "$(dirname "$0")/.." && pwd)/../shared/testbed}
# Without the shared test bed (a hosted CI runner): pixi's official release archive, checked
# against this sha256 before anything in it is used. PIN IT HERE: the sum pixi publishes beside
# the archive (`$MODERN_ARCHIVE.sha256` on the v$MODERN_VERSION release). It is empty because it
# could not be fetched or verified where this script was written (no route to the release
# host); until it is pinned, PIXI_AIRGAP_PIXI_ARCHIVE_SHA256 must give it (CI: a repository
# variable), and without either the download path refuses to run. Never fill it in from a
# download you did not check against the published .sha256.
MODERN_ARCHIVE=pixi-x86_64-unknown-linux-musl.tar.gz
MODERN_ARCHIVE_SHA256_PINNED=""
MODERN_URL=${PIXI_AIRGAP_PIXI_ARCHIVE_URL:-https://github.com/prefix-dev/pixi/releases/download/v$MODERN_VERSION/$MODERN_ARCHIVE}
SUITE=bookworm
# Packages the image needs on top of minbase: pixi 0.15 links libssl3 and reads the glibc version
# from `ldd` (libc-bin, already in minbase); newer pixi needs CA certificates; busybox serves the
# test channel over HTTP and gives the tests a second POSIX sh.
IMAGE_PACKAGES=libssl3,ca-certificates,busybox,libexpat1,zlib1g

log() { printf 'testbed: %s\n' "$*" >&2; }
die() { printf 'testbed: error: %s\n' "$*" >&2; exit 1; }

need_root_or_sudo() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_host_tools() {
  local missing=()
  command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
  command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
  command -v dash >/dev/null 2>&1 || missing+=(dash)
  command -v busybox >/dev/null 2>&1 || missing+=(busybox)
  command -v zstd >/dev/null 2>&1 || missing+=(zstd)
  command -v zsh >/dev/null 2>&1 || missing+=(zsh)
  command -v socat >/dev/null 2>&1 || missing+=(socat)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
  # ssh for the SSH engine, ssh-keygen for the receiving side's signature check (tests/it/signing.rs
  # runs the real OpenSSH): both come with openssh-client.
  if ! command -v ssh >/dev/null 2>&1 || ! command -v ssh-keygen >/dev/null 2>&1; then
    missing+=(openssh-client)
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing host packages: ${missing[*]}"
    need_root_or_sudo apt-get update -qq >&2
    need_root_or_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  fi
}

ensure_docker() {
  if docker info >/dev/null 2>&1; then return; fi
  if [ -n "${DOCKER_HOST:-}" ]; then
    die "the Docker daemon at DOCKER_HOST=$DOCKER_HOST does not answer"
  fi
  if command -v dockerd >/dev/null 2>&1; then
    log "Docker daemon not reachable; starting it"
    if command -v systemctl >/dev/null 2>&1 && systemctl start docker >/dev/null 2>&1; then :; \
    elif command -v service >/dev/null 2>&1 && service docker start >/dev/null 2>&1; then :; \
    else
      need_root_or_sudo sh -c 'nohup dockerd >/var/log/dockerd-testbed.log 2>&1 &'
    fi
    for _ in $(seq 1 60); do
      docker info >/dev/null 2>&1 && return
      sleep 1
    done
  fi
  die "no Docker daemon is reachable and none could be started (install Docker Engine first)"
}

# The Debian mirror this machine already uses: the first bookworm `URIs:`/`deb` entry of its apt
# sources, so the script never hard-codes a host.
debian_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  local m=""
  if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
    m=$(awk '/^URIs:/ {u=$2} /^Suites:/ && /bookworm([ ]|$)/ && u!="" {print u; exit}' \
      /etc/apt/sources.list.d/*.sources)
  fi
  if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
    m=$(awk '$1=="deb" && $3=="bookworm" {print $2; exit}' /etc/apt/sources.list)
  fi
  [ -n "$m" ] || die "cannot find a Debian bookworm mirror in the apt sources; set DEBIAN_MIRROR"
  echo "$m"
}

ensure_pixi() {
  local bin="$CACHE/bin/pixi-$PIXI_VERSION"
  if [ -x "$bin" ]; then echo "$bin"; return; fi
  log "building pixi $PIXI_VERSION from crates.io (about 8 minutes on 2 cores; cached afterwards)"
  local work="$CACHE/pixi-fetch"
  rm -rf "$work" && mkdir -p "$work/src"
  # cargo itself fetches the crate: a throwaway package that depends on it.
  cat >"$work/Cargo.toml" <<TOML
[package]
name = "pixi-fetch"
version = "0.0.0"
edition = "2021"
publish = false
[dependencies]
pixi = "=$PIXI_VERSION"
TOML
  echo 'fn main() {}' >"$work/src/main.rs"
  (cd "$work" && cargo fetch --quiet >&2)
  local src
  src=$(cd "$work" && cargo metadata --format-version 1 --quiet \
    | python3 -c 'import json,sys; m=json.load(sys.stdin); print(next(p["manifest_path"] for p in m["packages"] if p["name"]=="pixi"))')
  src=$(dirname "$src")
  rm -rf "$CACHE/pixi-src" && cp -r "$src" "$CACHE/pixi-src"
  (
    cd "$CACHE/pixi-src"
    # The crate pins an old toolchain, and its locked `time` does not compile with current Rust.
    rm -f rust-toolchain rust-toolchain.toml
    cargo update --quiet -p time --precise 0.3.36 >&2
    cargo build --release --locked >&2
  )
  mkdir -p "$CACHE/bin"
  cp "$CACHE/pixi-src/target/release/pixi" "$bin.tmp" && mv "$bin.tmp" "$bin"
  rm -rf "$CACHE/pixi-src/target" "$work"
  echo "$bin"
}

# A short cache key for what a cached item is made of (words, and the files named with `file:`):
# a changed recipe builds afresh instead of reusing a stale cache.
cache_key() {
  local word
  for word in "$@"; do
    case "$word" in
      file:*) sha256sum <"${word#file:}" ;;
      *) printf '%s\n' "$word" ;;
    esac
  done | sha256sum | cut -c1-12
}
HELPER_PY="$(dirname "$0")/testbed-python.py"

ensure_rootfs() {
  # The cache key includes the package list, so adding a package rebuilds the root file system.
  local key
  key=$(printf '%s' "$IMAGE_PACKAGES" | sha256sum | cut -c1-12)
  local tarball="$CACHE/rootfs-$SUITE-$key.tar"
  if [ -f "$tarball" ]; then echo "$tarball"; return; fi
  local mirror dir
  mirror=$(debian_mirror)
  dir="$CACHE/rootfs-$SUITE.d"
  log "debootstrap --variant=minbase $SUITE (packages: $IMAGE_PACKAGES)"
  need_root_or_sudo rm -rf "$dir"
  need_root_or_sudo debootstrap --variant=minbase --include="$IMAGE_PACKAGES" "$SUITE" "$dir" "$mirror" >&2
  # Keep the image small: apt lists and caches are of no use in a test image.
  need_root_or_sudo rm -rf "$dir/var/cache/apt/archives/"*.deb "$dir/var/lib/apt/lists/"*
  need_root_or_sudo tar -C "$dir" --numeric-owner -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  need_root_or_sudo rm -rf "$dir"
  echo "$tarball"
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

ensure_nopixi_image() {
  local rootfs="$1"
  if ! image_exists "$NOPIXI_TAG"; then
    log "importing $NOPIXI_TAG"
    docker import --change 'CMD ["/bin/sh"]' \
      --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
      "$rootfs" "$NOPIXI_TAG" >/dev/null
  fi
}

ensure_pixi_image() {
  local pixi_bin="$1" rootfs="$2" tag="${3:-$IMAGE_TAG}" version="${4:-$PIXI_VERSION}"
  if ! image_exists "$tag"; then
    log "importing $tag"
    local staging
    staging=$(mktemp -d)
    mkdir -p "$staging/usr/local/bin"
    install -m 0755 "$pixi_bin" "$staging/usr/local/bin/pixi"
    # Append pixi to a copy of the rootfs tar, so the image is one layer.
    cp "$rootfs" "$staging/image.tar"
    tar -C "$staging" --owner=0 --group=0 --numeric-owner -rf "$staging/image.tar" ./usr/local/bin/pixi
    docker import --change 'CMD ["/bin/sh"]' \
      --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change "LABEL io.pixi-airgap.testbed.pixi-version=$version" \
      "$staging/image.tar" "$tag" >/dev/null
    rm -rf "$staging"
  fi
}

# The adversarial image: the same rootfs, with tests/fixtures/hostile/pixi as its "pixi" (it plants
# attacks in the container workdir instead of installing). Rebuilt when the script changes.
HOSTILE_TAG=${PIXI_AIRGAP_TESTBED_HOSTILE_TAG:-pixi-airgap-testbed:hostile}
ensure_hostile_image() {
  local script sum
  script="$(cd "$(dirname "$0")/.." && pwd)/tests/fixtures/hostile/pixi"
  sum=$(sha256sum <"$script" | cut -c1-16)
  if [ "$(docker image inspect -f '{{ index .Config.Labels "io.pixi-airgap.testbed.hostile" }}' "$HOSTILE_TAG" 2>/dev/null)" = "$sum" ]; then
    return
  fi
  log "importing $HOSTILE_TAG"
  local staging
  staging=$(mktemp -d)
  mkdir -p "$staging/usr/local/bin"
  install -m 0755 "$script" "$staging/usr/local/bin/pixi"
  cp "$(ensure_rootfs)" "$staging/image.tar"
  tar -C "$staging" --owner=0 --group=0 --numeric-owner -rf "$staging/image.tar" ./usr/local/bin/pixi
  docker import --change 'CMD ["/bin/sh"]' \
    --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "LABEL io.pixi-airgap.testbed.hostile=$sum" \
    "$staging/image.tar" "$HOSTILE_TAG" >/dev/null
  rm -rf "$staging"
}

# A `python` conda package from the suite's own Debian python3.11 (see scripts/testbed-python.py).
# Prints the folder holding the package and its repodata record.
PYTHON_DEBS="python3.11-minimal libpython3.11-minimal libpython3.11-stdlib"
ensure_python_pkg() {
  local out
  out="$CACHE/python-pkg-$(cache_key "$SUITE" "$PYTHON_DEBS" "file:$HELPER_PY")"
  if compgen -G "$out/python-*.tar.bz2.json" >/dev/null; then echo "$out"; return; fi
  log "assembling a python conda package from Debian's $PYTHON_DEBS"
  local work="$CACHE/python-debs"
  rm -rf "$work" && mkdir -p "$work/x"
  # shellcheck disable=SC2086 # a list of package names
  if ! (cd "$work" && apt-get download -qq $PYTHON_DEBS >&2); then
    need_root_or_sudo apt-get update -qq >&2
    # shellcheck disable=SC2086
    (cd "$work" && apt-get download -qq $PYTHON_DEBS >&2)
  fi
  for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/x"; done
  python3 "$HELPER_PY" conda-python "$work/x" "$out.tmp"
  rm -rf "$out" && mv "$out.tmp" "$out" && rm -rf "$work"
  echo "$out"
}

# A PEP 503 index of real wheels (a package with a dependency between two wheels; setuptools to
# build sdists) and one sdist-only package, fetched once from PyPI with pip.
PYPI_WHEELS="python-dateutil==2.9.0.post0 six==1.16.0 setuptools==75.3.0"
PYPI_SDISTS="pyperclip==1.9.0"
ensure_pypi_index() {
  local out
  out="$CACHE/pypi-index-$(cache_key "$PYPI_WHEELS" "$PYPI_SDISTS" "file:$HELPER_PY")"
  if [ -f "$out/simple/index.html" ]; then echo "$out"; return; fi
  log "downloading the PyPI test index: $PYPI_WHEELS $PYPI_SDISTS"
  local dl="$CACHE/pypi-download"
  rm -rf "$dl" && mkdir -p "$dl"
  # shellcheck disable=SC2086 # lists of requirements
  PIP_FIND_LINKS='' python3 -m pip download -q --no-deps --only-binary=:all: -d "$dl" $PYPI_WHEELS >&2
  # shellcheck disable=SC2086
  PIP_FIND_LINKS='' python3 -m pip download -q --no-deps --no-binary=:all: -d "$dl" $PYPI_SDISTS >&2
  python3 "$HELPER_PY" pypi-index "$dl" "$out.tmp"
  rm -rf "$out" && mv "$out.tmp" "$out" && rm -rf "$dl"
  echo "$out"
}

# The CycloneDX 1.5 JSON schema (and the SPDX and JSF schemas it references), as the
# cyclonedx-python-lib package ships them, for the test that validates the product's SBOM.
CYCLONEDX_LIB="cyclonedx-python-lib==11.12.0"
ensure_cyclonedx_schema() {
  local out
  out="$CACHE/cyclonedx-schema-$(cache_key "$CYCLONEDX_LIB")"
  if [ -f "$out/bom-1.5.SNAPSHOT.schema.json" ]; then echo "$out"; return; fi
  log "downloading the CycloneDX schema ($CYCLONEDX_LIB)"
  local dl="$CACHE/cyclonedx-download"
  rm -rf "$dl" && mkdir -p "$dl"
  PIP_FIND_LINKS='' python3 -m pip download -q --no-deps --only-binary=:all: -d "$dl" "$CYCLONEDX_LIB" >&2
  python3 - "$dl" "$out.tmp" <<'PY'
import glob, os, sys, zipfile
dl, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
with zipfile.ZipFile(glob.glob(os.path.join(dl, "*.whl"))[0]) as z:
    for name in ("bom-1.5.SNAPSHOT.schema.json", "spdx.SNAPSHOT.schema.json", "jsf-0.82.SNAPSHOT.schema.json"):
        with open(os.path.join(out, name), "wb") as f:
            f.write(z.read("cyclonedx/schema/_res/" + name))
PY
  rm -rf "$out" && mv "$out.tmp" "$out" && rm -rf "$dl"
  echo "$out"
}

# The prebuilt pixi of the current line: from the shared test bed beside this clone (checked
# against both sha256 sums of its SHA256SUMS), else the official release archive (see
# download_modern_pixi). Prints the binary's path, or nothing when there is neither.
ensure_modern_pixi() {
  local bin="$CACHE/bin/pixi-$MODERN_VERSION"
  local zst="$SHARED_TESTBED/pixi-$MODERN_VERSION-x86_64-unknown-linux-gnu.zst"
  local sums="$SHARED_TESTBED/SHA256SUMS"
  if [ ! -f "$zst" ] || [ ! -f "$sums" ]; then
    download_modern_pixi
    return 0
  fi
  local want_zst want_bin
  want_zst=$(awk -v f="$(basename "$zst")" '$2 == f {print $1}' "$sums")
  want_bin=$(awk -v f="pixi-$MODERN_VERSION" '$2 == f {print $1}' "$sums")
  if [ -z "$want_zst" ] || [ -z "$want_bin" ]; then die "$sums lacks the sums of pixi $MODERN_VERSION"; fi
  if [ -x "$bin" ] && [ "$(sha256sum <"$bin" | cut -d' ' -f1)" = "$want_bin" ]; then
    echo "$bin"; return
  fi
  [ "$(sha256sum <"$zst" | cut -d' ' -f1)" = "$want_zst" ] || die "sha256 mismatch: $zst"
  mkdir -p "$CACHE/bin"
  zstd -q -d -f -o "$bin.tmp" "$zst"
  [ "$(sha256sum <"$bin.tmp" | cut -d' ' -f1)" = "$want_bin" ] || { rm -f "$bin.tmp"; die "sha256 mismatch: decompressed pixi $MODERN_VERSION"; }
  chmod 0755 "$bin.tmp" && mv "$bin.tmp" "$bin"
  echo "$bin"
}

# The sha256 the release archive must have: the one pinned above, or PIXI_AIRGAP_PIXI_ARCHIVE_SHA256
# while none is pinned (both given and different: refused). Prints nothing when there is none.
modern_archive_sha256() {
  local pinned=$MODERN_ARCHIVE_SHA256_PINNED given=${PIXI_AIRGAP_PIXI_ARCHIVE_SHA256:-}
  if [ -n "$pinned" ] && [ -n "$given" ] && [ "$pinned" != "$given" ]; then
    die "PIXI_AIRGAP_PIXI_ARCHIVE_SHA256 differs from the sha256 pinned in $0 for $MODERN_ARCHIVE $MODERN_VERSION"
  fi
  local want=${pinned:-$given}
  if [ -n "$want" ] && ! printf '%s' "$want" | grep -Eq '^[0-9a-f]{64}$'; then
    die "the sha256 for $MODERN_ARCHIVE is not 64 lowercase hex digits: $want"
  fi
  printf '%s' "$want"
}

# pixi's official release archive for x86_64 Linux (musl, static), downloaded once into the cache
# and checked against the pinned sha256 on every run before the binary in it is used; the binary
# must then say it is pixi $MODERN_VERSION. Without a sha256 it refuses (under CI: fails the run).
download_modern_pixi() {
  local want archive="$CACHE/pixi-$MODERN_VERSION-$MODERN_ARCHIVE" bin="$CACHE/bin/pixi-$MODERN_VERSION-musl"
  want=$(modern_archive_sha256)
  if [ -z "$want" ]; then
    local why="pixi $MODERN_VERSION is not in $SHARED_TESTBED, and no sha256 is pinned for its release archive (set PIXI_AIRGAP_PIXI_ARCHIVE_SHA256 to the published sum of $MODERN_ARCHIVE, or pin it in $0)"
    if [ -n "${CI:-}" ]; then die "$why: CI runs the suite on pixi $MODERN_VERSION and never skips it"; fi
    log "$why: the pixi $MODERN_VERSION leg will not run"
    return 0
  fi
  if [ ! -f "$archive" ] || [ "$(sha256sum <"$archive" | cut -d' ' -f1)" != "$want" ]; then
    log "downloading pixi $MODERN_VERSION ($MODERN_URL)"
    mkdir -p "$CACHE"
    rm -f "$archive.tmp"
    if ! curl -fsSL --retry 3 --proto '=https' -o "$archive.tmp" "$MODERN_URL"; then
      rm -f "$archive.tmp"
      if [ -n "${CI:-}" ]; then die "could not download $MODERN_URL"; fi
      log "could not download $MODERN_URL: the pixi $MODERN_VERSION leg will not run"
      return 0
    fi
    local got
    got=$(sha256sum <"$archive.tmp" | cut -d' ' -f1)
    if [ "$got" != "$want" ]; then
      rm -f "$archive.tmp"
      die "sha256 mismatch: $MODERN_URL is $got, pinned $want; nothing from it was used"
    fi
    mv "$archive.tmp" "$archive"
  fi
  # Only the one member, a regular file named pixi; nothing else of the archive reaches the disk.
  local work
  work=$(mktemp -d "$CACHE/pixi-unpack.XXXXXX")
  if ! tar -xzf "$archive" -C "$work" --no-same-owner --no-same-permissions pixi || [ -L "$work/pixi" ] || [ ! -f "$work/pixi" ]; then
    rm -rf "$work"
    die "$archive does not hold a plain file named pixi"
  fi
  chmod 0755 "$work/pixi"
  local version
  version=$("$work/pixi" --version 2>/dev/null || true)
  if [ "$version" != "pixi $MODERN_VERSION" ]; then
    rm -rf "$work"
    die "the pixi in $archive says '$version', not pixi $MODERN_VERSION"
  fi
  mkdir -p "$CACHE/bin"
  mv "$work/pixi" "$bin" && rm -rf "$work"
  echo "$bin"
}

main() {
  mkdir -p "$CACHE"
  ensure_host_tools
  ensure_docker
  if [ -n "${PIXI_AIRGAP_TEST_IMAGE:-}" ]; then
    image_exists "$PIXI_AIRGAP_TEST_IMAGE" || die "PIXI_AIRGAP_TEST_IMAGE=$PIXI_AIRGAP_TEST_IMAGE is not a local image"
    log "using your pixi image $PIXI_AIRGAP_TEST_IMAGE"
  fi
  local pixi_bin="" rootfs
  if image_exists "$IMAGE_TAG" && image_exists "$NOPIXI_TAG"; then
    log "images $IMAGE_TAG and $NOPIXI_TAG are ready (cached)"
  elif [ -n "${PIXI_AIRGAP_TEST_IMAGE:-}" ] && ! image_exists "$IMAGE_TAG"; then
    # Your own pixi image replaces ours: only the image without pixi is still needed.
    rootfs=$(ensure_rootfs)
    ensure_nopixi_image "$rootfs"
  else
    pixi_bin=$(ensure_pixi)
    rootfs=$(ensure_rootfs)
    ensure_nopixi_image "$rootfs"
    ensure_pixi_image "$pixi_bin" "$rootfs"
  fi
  local modern_bin modern_image=""
  modern_bin=$(ensure_modern_pixi)
  if [ -n "$modern_bin" ]; then
    if ! image_exists "$MODERN_TAG"; then
      ensure_pixi_image "$modern_bin" "$(ensure_rootfs)" "$MODERN_TAG" "$MODERN_VERSION"
    fi
    modern_image=$MODERN_TAG
  fi
  ensure_hostile_image
  local python_pkg pypi_index cyclonedx_schema
  python_pkg=$(ensure_python_pkg)
  pypi_index=$(ensure_pypi_index)
  cyclonedx_schema=$(ensure_cyclonedx_schema)
  if [ "${1:-}" = "--print-env" ]; then
    echo "export PIXI_AIRGAP_TESTBED_CYCLONEDX_SCHEMA='$cyclonedx_schema'"
    echo "export PIXI_AIRGAP_TESTBED_LEGACY_IMAGE='$IMAGE_TAG'"
    echo "export PIXI_AIRGAP_TESTBED_HOSTILE_IMAGE='$HOSTILE_TAG'"
    echo "export PIXI_AIRGAP_TESTBED_PYTHON_PKG='$python_pkg'"
    echo "export PIXI_AIRGAP_TESTBED_PYPI_INDEX='$pypi_index'"
    echo "export PIXI_AIRGAP_TESTBED_MODERN_IMAGE='$modern_image'"
    echo "export PIXI_AIRGAP_TESTBED_IMAGE='${PIXI_AIRGAP_TEST_IMAGE:-$IMAGE_TAG}'"
    echo "export PIXI_AIRGAP_TESTBED_NOPIXI_IMAGE='$NOPIXI_TAG'"
  fi
}

main "$@"
