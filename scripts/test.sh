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
shellcheck scripts/*.sh .ci/run
echo "== cargo fmt --check" >&2
cargo fmt --all -- --check
echo "== cargo clippy" >&2
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo test" >&2
cargo test --locked -- --test-threads="${PIXI_AIRGAP_TEST_THREADS:-2}"
