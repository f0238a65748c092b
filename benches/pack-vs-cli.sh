#!/usr/bin/env bash
# `pixi-airgap pack` against the same steps done by hand with the docker CLI, side by side.
#
#   benches/pack-vs-cli.sh [--smoke] [--large] [--pairs N] [--sizes "MIB:FILES ..."] [--keep]
#
# For each size it writes a conda channel of noarch packages whose contents add up to MIB MiB in
# FILES files (benches/bench-channel.py: incompressible, deterministic), serves it over HTTP from a
# container on a private Docker network, locks a project against it in the test image, then runs
# the hand flow and `pack` (release build) alternately, N pairs (default 3; the order flips every
# pair). It prints per size: medians of both, the ratio pack/hand (pair by pair, then the median),
# the median of each phase, and the peak RSS of the largest process (/usr/bin/time -v).
#
# Sizes: 64:2000 and 512:20000 by default; --large adds 2048:50000. --smoke: the smallest size,
# one pair, for CI (no timing assertion; it fails only when a flow fails). Results (raw runs and the
# table) land in target/bench/pack-vs-cli/ unless PIXI_AIRGAP_BENCH_OUT says otherwise.
#
# The hand flow, timed phase by phase:
#   container  docker create (network, cache in the work folder) + start
#   upload     tar -c project | docker cp - C:/workdir
#   install    docker exec pixi install --locked
#   run        docker exec pixi run check
#   copy-back  docker cp C:/workdir - | tar -x   (after removing .pixi/envs, which pack leaves out)
#   product    cp -a project and cache into a product folder, write a bootstrap script
#   proof      docker create --network none + start + docker cp product in + bootstrap + run
#   cleanup    docker rm -f of both containers
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# shellcheck source=benches/common.sh
. benches/common.sh

# lap NAME: appends the time since the previous lap to $phases_file.
lap() {
  local t
  t=$(now)
  awk -v a="$lap_start" -v b="$t" -v n="$1" 'BEGIN { printf "%s %.3f\n", n, b - a }' >>"$phases_file"
  lap_start=$t
}

# The hand flow for project $1 into folder $2, phases into $3. Runs as its own process (below) so
# that /usr/bin/time -v sees all of it.
hand_flow() {
  local project=$1 dest=$2 name
  phases_file=$3
  name=$(basename "$project")
  lap_start=$(now)
  docker create --name "$hand_box" --network "$net" -e PIXI_CACHE_DIR=/workdir/pixi-cache \
    "$image" sleep infinity >/dev/null
  docker start "$hand_box" >/dev/null
  docker exec "$hand_box" mkdir -p /workdir
  lap container
  tar -C "$(dirname "$project")" -c "$name" | docker cp - "$hand_box:/workdir"
  lap upload
  docker exec -w "/workdir/$name" "$hand_box" pixi install --locked >/dev/null 2>&1
  lap install
  docker exec -w "/workdir/$name" "$hand_box" pixi run check >"$dest.stage-check" 2>/dev/null
  lap run
  docker exec "$hand_box" rm -rf "/workdir/$name/.pixi/envs"
  mkdir -p "$dest"
  docker cp "$hand_box:/workdir" - | tar -x -C "$dest"
  lap copy-back
  mkdir -p "$dest/product"
  cp -a "$dest/workdir/$name" "$dest/product/$name"
  cp -a "$dest/workdir/pixi-cache" "$dest/product/pkg-cache"
  cat >"$dest/product/bootstrap.sh" <<EOF
#!/bin/sh
set -eu
here=\$(cd -- "\$(dirname -- "\$0")" && pwd)
cd "\$here/$name"
PIXI_CACHE_DIR="\$here/pkg-cache" pixi install --frozen
EOF
  lap product
  docker create --name "$proof_box" --network none "$image" sleep infinity >/dev/null
  docker start "$proof_box" >/dev/null
  docker cp "$dest/product" "$proof_box:/product"
  docker exec "$proof_box" sh /product/bootstrap.sh >/dev/null 2>&1
  docker exec -w "/product/$name" -e PIXI_CACHE_DIR=/product/pkg-cache "$proof_box" \
    pixi run check >"$dest.proof-check" 2>/dev/null
  lap proof
  docker rm -f "$hand_box" "$proof_box" >/dev/null
  lap cleanup
}
# The hand flow runs as a child of this script (so that /usr/bin/time -v sees all of it), with
# image, network and container names in the environment.
if [ "${1:-}" = --hand-flow ]; then
  shift
  image=$BENCH_IMAGE net=$BENCH_NET hand_box=$BENCH_HAND_BOX proof_box=$BENCH_PROOF_BOX
  hand_flow "$@"
  exit 0
fi

pairs=3
sizes="64:2000 512:20000"
smoke=0
keep=0
while [ $# -gt 0 ]; do
  case $1 in
    --smoke) smoke=1 ;;
    --large) sizes="$sizes 2048:50000" ;;
    --pairs) pairs=$2; shift ;;
    --sizes) sizes=$2; shift ;;
    --keep) keep=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "pack-vs-cli: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$smoke" = 1 ]; then
  pairs=1
  sizes=${sizes%% *}
fi

eval "$(scripts/testbed.sh --print-env)"
image=$PIXI_AIRGAP_TESTBED_IMAGE
out=${PIXI_AIRGAP_BENCH_OUT:-$root/target/bench/pack-vs-cli}
mkdir -p "$out"
hand_box="pack-vs-cli-hand-$$"
proof_box="pack-vs-cli-proof-$$"
bench_start pack-vs-cli "$image" "$hand_box" "$proof_box"
export BENCH_IMAGE=$image BENCH_NET=$net BENCH_HAND_BOX=$hand_box BENCH_PROOF_BOX=$proof_box

# timed NAME PHASES -- CMD...: runs CMD under /usr/bin/time -v; appends "total SECONDS" and
# "rss KIB" to PHASES.
timed() {
  local phases=$2 start status=0
  shift 3
  start=$(now)
  /usr/bin/time -v -o "$phases.time" "$@" || status=$?
  awk -v a="$start" -v b="$(now)" 'BEGIN { printf "total %.3f\n", b - a }' >>"$phases"
  echo "rss $(awk -F': ' '/Maximum resident set size/ {print $2}' "$phases.time")" >>"$phases"
  return "$status"
}

run_hand() {
  local project=$1 run=$2 expect=$3 phases=$4
  rm -rf "$run" && mkdir -p "$(dirname "$run")"
  settle
  : >"$phases"
  timed hand "$phases" -- env -u BASH_ENV bash "$0" --hand-flow "$project" "$run" "$phases"
  grep -qx "$expect" "$run.proof-check" || {
    echo "pack-vs-cli: the hand flow's offline run did not print '$expect'" >&2
    exit 1
  }
}

run_pack() {
  local project=$1 run=$2 expect=$3 phases=$4
  rm -rf "$run" && mkdir -p "$run"
  settle
  : >"$phases"
  timed pack "$phases" -- "$bin" pack --image "$image" --network "$net" --project-dir "$project" \
    --workdir "$run/wd" --verify-task check --verify-expect "$expect" --json \
    >"$run/pack.json" 2>"$run/pack.log" || {
    echo "pack-vs-cli: pack failed; its log:" >&2
    tail -n 30 "$run/pack.log" >&2
    exit 1
  }
  python3 - "$run/pack.json" >>"$phases" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
assert report["result"] == "success", report["result"]
assert report["proof"]["network_mode"] == "none", report["proof"]
phases = {p["name"]: p["seconds"] for p in report["phases"]}
for name, seconds in phases.items():
    print(name, seconds)
# Inside the phases: what pixi itself spends (install, the task) and the rest (containers, copies,
# hashing, the network check), so that pack's own overhead shows.
stage = report["stage"]
install = sum(step["seconds"] for step in stage["installs"])
run = stage["verification"]["seconds"] if stage.get("verification") else 0.0
print("stage.install", install)
print("stage.run", run)
print("stage.rest", phases["stage"] - install - run)
timings = report["proof"]["timings"]
print("proof.check", timings["check_seconds"])
print("proof.upload", timings["upload_seconds"])
print("proof.bootstrap+run", timings["bootstrap_seconds"] + timings["verification_seconds"])
print("proof.rest", phases["verify-product"] - timings["check_seconds"] - timings["upload_seconds"]
      - timings["bootstrap_seconds"] - timings["verification_seconds"])
PY
}

results=$out/results.tsv
: >"$results"
for size in $sizes; do
  mib=${size%%:*}
  files=${size##*:}
  label="${mib}MiB-${files}"
  echo "pack-vs-cli: $label: writing the channel and locking the project" >&2
  project=$work/$label/bench-$mib
  python3 benches/bench-channel.py "$work/srv/bench-$mib" "$project" \
    "http://airgap-channel:8080/bench-$mib" "$mib" "$files" >/dev/null
  expect="bench ok $files files"
  docker run --rm --network "$net" -v "$project:/project" -w /project \
    -e PIXI_CACHE_DIR=/tmp/cache "$image" sh -c 'pixi install >/dev/null 2>&1 && rm -rf .pixi'
  for i in $(seq 1 "$pairs"); do
    order="hand pack"
    [ $((i % 2)) = 0 ] && order="pack hand"
    for flow in $order; do
      echo "pack-vs-cli: $label pair $i: $flow" >&2
      phases=$out/$label.$flow.$i.txt
      "run_$flow" "$project" "$work/$label/$flow-$i" "$expect" "$phases"
      sed "s/^/$label $flow $i /" "$phases" >>"$results"
      [ "$keep" = 1 ] || rm -rf "$work/$label/$flow-$i"
    done
  done
  [ "$keep" = 1 ] || rm -rf "${work:?}/$label" "$work/srv/bench-$mib"
done

python3 - "$results" "$pairs" <<'PY' | tee "$out/table.md"
import collections, statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
data = collections.defaultdict(lambda: collections.defaultdict(dict))
for label, flow, pair, key, value in rows:
    data[label][flow].setdefault(key, {})[int(pair)] = float(value)
def med(values):
    return statistics.median(values) if values else float("nan")
print(f"pairs per size: {sys.argv[2]}\n")
print("| size | hand median (s) | pack median (s) | pack/hand median (range) | hand peak RSS | pack peak RSS |")
print("|---|---:|---:|---:|---:|---:|")
for label, flows in data.items():
    hand, pack = flows["hand"], flows["pack"]
    ratios = [pack["total"][p] / hand["total"][p] for p in hand["total"] if p in pack["total"]]
    print(f"| {label} | {med(hand['total'].values()):.1f} | {med(pack['total'].values()):.1f} | "
          f"{med(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) | "
          f"{max(hand['rss'].values()) / 1024:.0f} MiB | {max(pack['rss'].values()) / 1024:.0f} MiB |")
for label, flows in data.items():
    for flow in ("hand", "pack"):
        phases = [k for k in flows[flow] if k not in ("total", "rss")]
        cells = ", ".join(f"{k} {med(flows[flow][k].values()):.1f}" for k in phases)
        print(f"\n{label} {flow} phase medians (s): {cells}")
PY
