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
echo "== cargo doc" >&2
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked --quiet
echo "== cargo test" >&2
test_log=$(mktemp)
trap 'rm -f "$test_log"' EXIT
cargo test --locked -- --test-threads="${PIXI_AIRGAP_TEST_THREADS:-2}" 2>&1 | tee "$test_log"
# Every test removes what it starts; a container or network left with our label is a bug.
leftovers=$(docker ps -aq --filter label=io.pixi-airgap.managed; docker network ls -q --filter label=io.pixi-airgap.managed)
if [ -n "$leftovers" ]; then
  echo "error: the tests left Docker objects labelled io.pixi-airgap.managed:" >&2
  docker ps -a --filter label=io.pixi-airgap.managed >&2
  docker network ls --filter label=io.pixi-airgap.managed >&2
  exit 1
fi
echo "== pack demo (what a CI job does with pack alone)" >&2
scripts/pack-demo.sh
echo "== memory benchmark" >&2
benches/memory.sh "${PIXI_AIRGAP_BENCH_SIZE_MIB:-512}"

# One closing line for the whole suite (cargo prints one per test binary, the last of which is the
# doc tests').
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$test_log"
