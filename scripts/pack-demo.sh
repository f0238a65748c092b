#!/usr/bin/env bash
# What a CI job does with `pack` alone: project in, verified product and archive out.
# Here the "online" channel is the test channel on a private network (see scripts/demo-env.sh);
# in your CI it is your channel or mirror, reached with --network/--env as needed.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/testbed.sh --print-env)"
# shellcheck source=scripts/demo-env.sh
. scripts/demo-env.sh
trap demo_cleanup EXIT
demo_setup

cp -r tests/fixtures/single "$DEMO_WORK/project"
demo_lock "$DEMO_WORK/project"

cargo build --quiet --release --locked
target/release/pixi-airgap pack \
  --image "$PIXI_AIRGAP_TESTBED_IMAGE" \
  --network "$DEMO_NET" \
  --project-dir "$DEMO_WORK/project" \
  --workdir "$DEMO_WORK/wd" \
  --archive tar.zst \
  --verify-task smoke --verify-expect "hello from the air gap" \
  --json >"$DEMO_WORK/pack.json"

python3 - "$DEMO_WORK/pack.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
assert report["result"] == "success", report["result"]
assert report["proof"]["network_mode"] == "none"
print(f"pack-demo: verified offline; archive sha256 {report['archive']['sha256']}")
PY
