#!/usr/bin/env bash
# The end-to-end suite's core against Podman's Docker-compatible API, as CI runs it next to the
# Docker legs of scripts/test.sh: staging from the host and from a running container, pack with an
# archive, the offline proof and its negative controls, and the cleanup checks. The engine is the
# private Podman service of scripts/podman.sh (its own storage and socket; Docker is not touched).
#
# The pixi image is named the way Podman names it (`localhost/...`), the image without pixi the way
# Docker does, so both spellings are exercised. Ends with one line: `podman: N passed, N failed`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${CI:-}" ]; then
  unset PIXI_AIRGAP_SKIP_DOCKER_TESTS
fi

eval "$(scripts/testbed.sh --print-env)"
# The Podman service is the suite's own: it is stopped when this script ends, pass, fail or signal,
# so a test run leaves nothing running behind it.
test_log=$(mktemp)
# shellcheck disable=SC2317 # called by the EXIT trap
finish() {
  rm -f "$test_log"
  scripts/podman.sh --stop || echo "error: the Podman service could not be stopped" >&2
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
eval "$(scripts/podman.sh --print-env)"
export DOCKER_HOST=$PIXI_AIRGAP_PODMAN_HOST
IMAGE=${PIXI_AIRGAP_TEST_IMAGE:-localhost/$PIXI_AIRGAP_TESTBED_IMAGE}
THREADS=${PIXI_AIRGAP_TEST_THREADS:-2}

pm() { podman --remote --url "$PIXI_AIRGAP_PODMAN_HOST" "$@"; }

status=0
checks_passed=0
checks_failed=0
passed() { echo "podman check $1 ... ok" >&2; checks_passed=$((checks_passed + 1)); }
failed() { echo "podman check $1 ... FAILED" >&2; checks_failed=$((checks_failed + 1)); status=1; }

# The core is the tests that the feature `engine-podman` compiles in (tests/it/main.rs): none of
# them depends on the pixi line, so the image's pixi is only shown.
version=$(pm run --rm --network none "$IMAGE" pixi --version | awk '{print $2}')
echo "== Podman $(pm version --format '{{.Server.Version}}') at $DOCKER_HOST, image $IMAGE (pixi $version)" >&2

PIXI_AIRGAP_TEST_IMAGE="$IMAGE" nice cargo test --locked --no-fail-fast --test it --features engine-podman -- \
  --test-threads="$THREADS" 2>&1 | tee -a "$test_log" || status=1

# The tool says which engine it found, and records it in the --json report.
engine_is_podman() {
  local tmp out
  tmp=$(mktemp -d)
  out=$(target/debug/pixi-airgap -v stage-container --container-id pixi-airgap-no-such-container \
    --project-path-in-container /p --workdir "$tmp/wd" 2>&1 || true)
  rm -rf "$tmp"
  grep -q 'using Podman .* (API 1\.[0-9]*)' <<<"$out" || { echo "$out" >&2; return 1; }
}
if engine_is_podman; then passed engine_is_named; else failed engine_is_named; fi

# Every test removes what it starts; a container or network left with our label is a bug.
no_leftovers() {
  local left
  left=$(pm ps -aq --filter label=io.pixi-airgap.managed; pm network ls -q --filter label=io.pixi-airgap.managed; pm volume ls -q --filter label=io.pixi-airgap.managed)
  if [ -n "$left" ]; then
    echo "error: the tests left Podman objects labelled io.pixi-airgap.managed:" >&2
    pm ps -a --filter label=io.pixi-airgap.managed >&2
    pm network ls --filter label=io.pixi-airgap.managed >&2
    pm volume ls --filter label=io.pixi-airgap.managed >&2
    return 1
  fi
}
if no_leftovers; then passed no_labelled_leftovers; else failed no_labelled_leftovers; fi

awk -v cp="$checks_passed" -v cf="$checks_failed" '
  /^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
  END { printf "podman: %d passed, %d failed\n", p + cp, f + cf }' "$test_log"
exit "$status"
