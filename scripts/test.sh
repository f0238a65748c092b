#!/usr/bin/env bash
# The whole test suite, as CI runs it: prepare the test bed (cached), then format, lint and test.
# Docker tests are never skipped under CI, whatever the environment says.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${CI:-}" ]; then
  unset PIXI_AIRGAP_SKIP_DOCKER_TESTS
fi

eval "$(scripts/testbed.sh --print-env)"

echo "== shellcheck" >&2
shellcheck -x scripts/*.sh benches/*.sh .ci/run
echo "== cargo fmt --check" >&2
cargo fmt --all -- --check
echo "== cargo clippy" >&2
cargo clippy --all-targets --locked -- -D warnings
# Each leg's feature compiles its own selection of the integration tests (tests/it/main.rs).
for features in pixi015 pixi-modern engine-podman engine-remote; do
  cargo clippy --test it --locked --features "$features" -- -D warnings
done
echo "== cargo doc" >&2
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --document-private-items --locked --quiet
test_log=$(mktemp)
trap 'rm -f "$test_log"' EXIT
status=0
# What the adversarial tests tried (attacks, bad inputs, secrets, kill points), one line each;
# shown at the end (tests/it/common/mod.rs: record_count).
counts=target/tmp/safety-counts.log
rm -f "$counts"
# One closing line for the whole suite (cargo prints one `test result:` line per test binary; the
# Podman leg's lines are in the same log).
summary() {
  awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
       END { printf "tests: %d passed, %d failed\n", p, f }' "$test_log"
}
show_counts() {
  echo "== safety suite: what the adversarial tests tried" >&2
  if [ -s "$counts" ]; then sort "$counts" >&2; else echo "(nothing recorded)" >&2; fi
}

# Some tests need pixi >= 0.18 (pyproject.toml manifests, PyPI through uv), some the 0.15 line:
# the features `pixi-modern` and `pixi015` compile them in (tests/it/main.rs). The image's own
# `pixi --version` picks the feature.
pixi_feature() {
  local version
  version=$(docker run --rm --network none "$1" pixi --version | awk '{print $2}')
  case "$version" in
    0.[0-9].* | 0.1[0-7].*) echo pixi015 ;;
    *) echo pixi-modern ;;
  esac
}

# One leg of the matrix: the tests against one pixi image ($2...: which test targets).
run_leg() {
  local image="$1" feature
  shift
  feature=$(pixi_feature "$image")
  echo "== cargo test --features $feature on $image" >&2
  PIXI_AIRGAP_TEST_IMAGE="$image" cargo test --locked --no-fail-fast --features "$feature" "$@" -- \
    --test-threads="${PIXI_AIRGAP_TEST_THREADS:-2}" 2>&1 | tee -a "$test_log" || status=1
  # Every test removes what it starts; a container or network left with our label is a bug.
  local leftovers
  leftovers=$(docker ps -aq --filter label=io.pixi-airgap.managed; docker network ls -q --filter label=io.pixi-airgap.managed; docker volume ls -q --filter label=io.pixi-airgap.managed)
  if [ -n "$leftovers" ]; then
    echo "error: the tests left Docker objects labelled io.pixi-airgap.managed:" >&2
    docker ps -a --filter label=io.pixi-airgap.managed >&2
    docker network ls --filter label=io.pixi-airgap.managed >&2
    docker volume ls --filter label=io.pixi-airgap.managed >&2
    status=1
  fi
}

# Leg 1: everything (unit, CLI and end-to-end tests) on the first image; leg 2: the integration
# tests (tests/it) again on the current pixi line.
run_leg "$PIXI_AIRGAP_TESTBED_IMAGE"
if [ -n "${PIXI_AIRGAP_TESTBED_MODERN_IMAGE:-}" ] && [ -z "${PIXI_AIRGAP_TEST_IMAGE:-}" ]; then
  run_leg "$PIXI_AIRGAP_TESTBED_MODERN_IMAGE" --test it
elif [ -n "${PIXI_AIRGAP_TEST_IMAGE:-}" ]; then
  echo "== PIXI_AIRGAP_TEST_IMAGE=$PIXI_AIRGAP_TEST_IMAGE: the suite ran on that image only" >&2
else
  echo "== the pixi 0.77 leg did NOT run: ../shared/testbed is not beside this clone" >&2
fi
# Leg 3: the end-to-end core against Podman's Docker API (a private service from scripts/podman.sh).
echo "== end-to-end core on Podman" >&2
scripts/test-podman.sh 2>&1 | tee -a "$test_log" || status=1
# test-podman.sh stops the service it started (a trap); one still running is a bug.
if pgrep -f "podman.*system service" >/dev/null 2>&1; then
  echo "error: a Podman API service is still running after the Podman leg" >&2
  status=1
fi
# Leg 4: the end-to-end core through remote engines (a TLS front and an sshd, scripts/test-remote.sh).
echo "== end-to-end core through TLS and SSH" >&2
scripts/test-remote.sh 2>&1 | tee -a "$test_log" || status=1
# test-remote.sh stops its TLS front and sshd with a trap; one still running is a bug.
if pgrep -f "socat OPENSSL-LISTEN" >/dev/null 2>&1 || pgrep -f "sshd -D -e -f .*/sshd_config" >/dev/null 2>&1; then
  echo "error: the TLS front or the sshd of the remote-engine leg is still running" >&2
  status=1
fi

if [ "$status" -ne 0 ]; then
  show_counts
  summary
  exit 1
fi

echo "== pack demo (what a CI job does with pack alone)" >&2
scripts/pack-demo.sh
echo "== memory benchmark" >&2
benches/memory.sh "${PIXI_AIRGAP_BENCH_SIZE_MIB:-512}" "${PIXI_AIRGAP_BENCH_FILES:-20000}"
echo "== pack against the docker-CLI hand flow (smoke: smallest size, one pair, no timing assertion)" >&2
benches/pack-vs-cli.sh --smoke
echo "== warm re-staging (smoke: smallest size, one pair, both pixi lines; fails if a pack fails or the re-pack reuses nothing)" >&2
benches/warm-restage.sh --smoke
if [ -n "${PIXI_AIRGAP_TESTBED_MODERN_IMAGE:-}" ]; then
  benches/warm-restage.sh --smoke --image "$PIXI_AIRGAP_TESTBED_MODERN_IMAGE"
fi

show_counts
# One closing line for the whole suite, both legs (cargo prints one per test binary).
summary
