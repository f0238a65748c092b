#!/usr/bin/env bash
# Memory and speed benchmark: stage, make and prove a product carrying a large resource file and
# many small ones, and check that peak memory stays flat (streaming, never a whole archive or a
# whole file list in memory).
#
#   benches/memory.sh [SIZE_MIB [FILES]]   default 1024 MiB and no small files; fails when a
#                                          step's peak RSS exceeds the target
#
# FILES small files (1 KiB each, 500 per folder) go into the resources beside the SIZE_MIB file:
# every step walks, copies, hashes, records and uploads each of them.
# Target: peak RSS of every step below PIXI_AIRGAP_BENCH_MAX_RSS_MIB (default 64 MiB), whatever
# SIZE_MIB and FILES are. Prints one line per step: wall time, peak RSS, throughput.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}
files=${2:-0}
max_rss_mib=${PIXI_AIRGAP_BENCH_MAX_RSS_MIB:-64}

eval "$(scripts/testbed.sh --print-env)"
# shellcheck source=scripts/demo-env.sh
. scripts/demo-env.sh
trap demo_cleanup EXIT
demo_setup
cargo build --quiet --release --locked

cp -r tests/fixtures/single "$DEMO_WORK/project"
demo_lock "$DEMO_WORK/project"
mkdir -p "$DEMO_WORK/res"
# Real (non-sparse) bytes, so every copy really moves them.
head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$DEMO_WORK/res/big.bin"
python3 - "$DEMO_WORK/res/many" "$files" <<'PY'
import os, sys
root, count = sys.argv[1], int(sys.argv[2])
for i in range(count):
    folder = os.path.join(root, f"d{i // 500:04d}")
    if i % 500 == 0:
        os.makedirs(folder)
    with open(os.path.join(folder, f"f{i:06d}.bin"), "wb") as f:
        f.write(os.urandom(1024))
PY

bin=target/release/pixi-airgap
failed=0
measure() {
  local name=$1
  shift
  local result
  result=$(python3 - "$@" <<'PY'
import resource, subprocess, sys, time
start = time.monotonic()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
wall = time.monotonic() - start
rss_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(f"{code} {wall:.1f} {rss_mib:.0f}")
PY
)
  local code wall rss
  read -r code wall rss <<<"$result"
  local rate
  rate=$(python3 -c "print(f'{$size_mib / max($wall, 0.001):.0f}')")
  printf '%-16s exit %s  %7ss  peak RSS %5s MiB  ~%s MiB/s\n' "$name" "$code" "$wall" "$rss" "$rate"
  if [ "$code" != 0 ]; then
    echo "bench: $name failed (exit $code)" >&2
    failed=1
  elif [ "$rss" -gt "$max_rss_mib" ]; then
    echo "bench: $name peak RSS ${rss} MiB is over the ${max_rss_mib} MiB target" >&2
    failed=1
  fi
}

echo "bench: ${size_mib} MiB resource and ${files} small files, target peak RSS < ${max_rss_mib} MiB"
measure stage-host "$bin" stage-host --image "$PIXI_AIRGAP_TESTBED_IMAGE" --network "$DEMO_NET" \
  --project-dir "$DEMO_WORK/project" --resources-dir "$DEMO_WORK/res" --workdir "$DEMO_WORK/wd"
measure make-product "$bin" make-product --workdir "$DEMO_WORK/wd" --project-name single-env
measure verify-product "$bin" verify-product --image "$PIXI_AIRGAP_TESTBED_IMAGE" \
  --product-dir "$DEMO_WORK/wd/product" --out-dir "$DEMO_WORK/proof" --project-name single-env
exit "$failed"
