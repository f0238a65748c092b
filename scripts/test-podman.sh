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

# The same matrix filter as scripts/test.sh, from the image's own pixi.
version=$(pm run --rm --network none "$IMAGE" pixi --version | awk '{print $2}')
case "$version" in
  0.[0-9].* | 0.1[0-7].*) skip=only_modern_pixi ;;
  *) skip=only_pixi015 ;;
esac
echo "== Podman $(pm version --format '{{.Server.Version}}') at $DOCKER_HOST, image $IMAGE (pixi $version, skipping *$skip*)" >&2

run_tests() { # TARGET TEST...
  local target="$1"
  shift
  PIXI_AIRGAP_TEST_IMAGE="$IMAGE" nice cargo test --locked --no-fail-fast --test "$target" -- \
    --test-threads="$THREADS" --skip "$skip" "$@" 2>&1 | tee -a "$test_log" || status=1
}

run_tests stage_host \
  stages_single_env_project_with_task_verification \
  stages_every_environment_of_a_multi_env_project \
  stager_keeps_files_links_and_names_and_never_stages_secrets \
  failing_verification_exits_1_and_keeps_the_workdir \
  input_and_infrastructure_errors_have_their_exit_codes \
  sigint_removes_the_container \
  sigterm_removes_the_container_too
run_tests stage_container \
  stages_from_a_running_container_like_stage_host_and_leaves_it_clean \
  stopped_and_unknown_containers_are_refused
run_tests pack \
  pack_makes_a_verified_product_and_identical_archives \
  pack_stops_at_the_first_failure_with_its_exit_code
run_tests product \
  single_env_product_installs_and_verifies_with_the_network_cut \
  multi_env_product_verifies_as_a_non_root_user_after_moving \
  bootstrap_runs_twice_offline \
  missing_package_makes_the_offline_proof_fail \
  a_flipped_byte_is_reported_by_name

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
