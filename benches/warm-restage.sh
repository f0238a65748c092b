#!/usr/bin/env bash
# Warm re-staging: a cold `pack` against `pack --force` of the same workdir after one small
# package was added to the lock.
#
#   benches/warm-restage.sh [--smoke] [--pairs N] [--sizes "MIB:FILES ..."] [--image IMAGE] [--keep]
#
# For each size it writes a conda channel (benches/bench-channel.py: incompressible, deterministic
# packages adding up to MIB MiB in FILES files, plus one small package the project does not use
# yet), serves it over HTTP from a container on a private Docker network and locks the project
# twice: v1 without the small package, v2 with it. Then, N pairs (default 3), alternately
# (the order flips every pair):
#   cold  pack of v2 into a new workdir (nothing to reuse)
#   warm  pack --force of v2 into a workdir whose last staging was v1 (it reuses that cache)
# Before each warm run, the warm workdir is put back to v1 (pack --force of v1, not timed). Both
# flows run the full pack: staging, make-product and the offline proof in a fresh container.
# It prints per size the medians, the ratio warm/cold (pair by pair, then the median), the phase
# medians from pack's --json report (staging split into seed upload, pixi install and the rest;
# the proof into its upload, bootstrap and the rest), and the packages reused and downloaded.
#
# Sizes: 64:2000 and 512:20000 by default. --smoke: the smallest size, one pair, no timing
# assertion (it fails only when a flow fails or the warm run reused nothing). Target: warm at
# most 0.4x cold; the script reports it and never fails on it. Results land in
# target/bench/warm-restage/ unless PIXI_AIRGAP_BENCH_OUT says otherwise. The image is the test
# bed's pixi 0.15.2 image unless --image says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# shellcheck source=benches/common.sh
. benches/common.sh

pairs=3
sizes="64:2000 512:20000"
smoke=0
keep=0
image=""
while [ $# -gt 0 ]; do
  case $1 in
    --smoke) smoke=1 ;;
    --pairs) pairs=$2; shift ;;
    --sizes) sizes=$2; shift ;;
    --image) image=$2; shift ;;
    --keep) keep=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "warm-restage: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$smoke" = 1 ]; then
  pairs=1
  sizes=${sizes%% *}
fi

eval "$(scripts/testbed.sh --print-env)"
image=${image:-$PIXI_AIRGAP_TESTBED_IMAGE}
out=${PIXI_AIRGAP_BENCH_OUT:-$root/target/bench/warm-restage}
mkdir -p "$out"
bench_start warm-restage "$image"

# use_state PROJECT STATE: the project's manifest and lock of version STATE (v1 or v2).
use_state() {
  cp "$1.$2.toml" "$1/pixi.toml"
  cp "$1.$2.lock" "$1/pixi.lock"
}

# pack_run PROJECT WORKDIR REPORT [--force]: one pack, its report in REPORT, its log beside it.
pack_run() {
  local project=$1 wd=$2 report=$3
  shift 3
  "$bin" pack --image "$image" --network "$net" --project-dir "$project" --workdir "$wd" \
    --verify-task check --verify-expect "$expect" --json "$@" >"$report" 2>"$report.log" || {
    echo "warm-restage: pack failed; its log:" >&2
    tail -n 30 "$report.log" >&2
    exit 1
  }
}

# timed_pack FLOW PROJECT WORKDIR PHASES [--force]: a settled, timed pack; its phases into PHASES.
timed_pack() {
  local flow=$1 project=$2 wd=$3 phases=$4 start
  shift 4
  settle
  start=$(now)
  pack_run "$project" "$wd" "$phases.json" "$@"
  awk -v a="$start" -v b="$(now)" 'BEGIN { printf "total %.3f\n", b - a }' >"$phases"
  python3 - "$phases.json" "$flow" >>"$phases" <<'PY'
import json, sys
report, flow = json.load(open(sys.argv[1])), sys.argv[2]
assert report["result"] == "success", report["result"]
assert report["proof"]["network_mode"] == "none", report["proof"]
cache = report["stage"]["cache"]
if flow == "warm":
    assert cache["warm"] and cache["conda_reused"] > 0, cache
    assert cache["conda_downloaded"] == 1, cache
else:
    assert not cache["warm"], cache
phases = {p["name"]: p["seconds"] for p in report["phases"]}
for name, seconds in phases.items():
    print(name, seconds)
stage = report["stage"]
install = sum(step["seconds"] for step in stage["installs"])
run = sum(v["seconds"] for v in stage.get("verifications", []))
seed = cache.get("seed_seconds", 0.0)
print("stage.seed", seed)
print("stage.install", install)
print("stage.run", run)
print("stage.rest", phases["stage"] - seed - install - run)
timings = report["proof"]["timings"]
print("proof.upload", timings["upload_seconds"])
print("proof.bootstrap+run", timings["bootstrap_seconds"] + timings["verification_seconds"])
print("proof.rest", phases["verify-product"] - timings["upload_seconds"]
      - timings["bootstrap_seconds"] - timings["verification_seconds"])
print("reused", cache["conda_reused"])
print("downloaded", cache["conda_downloaded"])
PY
}

results=$out/results.tsv
: >"$results"
for size in $sizes; do
  mib=${size%%:*}
  files=${size##*:}
  label="${mib}MiB-${files}"
  echo "warm-restage: $label: writing the channel and locking the project twice" >&2
  project=$work/$label/bench-$mib
  python3 benches/bench-channel.py "$work/srv/bench-$mib" "$project" \
    "http://airgap-channel:8080/bench-$mib" "$mib" "$files" 1 >/dev/null
  expect="bench ok $files files"
  lock() {
    docker run --rm --network "$net" -v "$project:/project" -w /project \
      -e PIXI_CACHE_DIR=/tmp/cache "$image" sh -c 'pixi install >/dev/null 2>&1 && rm -rf .pixi'
  }
  lock
  cp "$project/pixi.toml" "$project.v1.toml" && cp "$project/pixi.lock" "$project.v1.lock"
  printf 'bench-extra-000 = "*"\n' >>"$project/pixi.toml"
  lock
  cp "$project/pixi.toml" "$project.v2.toml" && cp "$project/pixi.lock" "$project.v2.lock"
  grep -q bench-extra-000 "$project.v2.lock" || { echo "warm-restage: v2 lock lacks the added package" >&2; exit 1; }

  warm_wd=$work/$label/warm-wd
  use_state "$project" v1
  echo "warm-restage: $label: the first staging of v1 (not timed)" >&2
  pack_run "$project" "$warm_wd" "$work/$label/setup.json"
  for i in $(seq 1 "$pairs"); do
    order="cold warm"
    [ $((i % 2)) = 0 ] && order="warm cold"
    for flow in $order; do
      phases=$out/$label.$flow.$i.txt
      if [ "$flow" = warm ]; then
        if [ "$i" -gt 1 ]; then
          echo "warm-restage: $label pair $i: back to v1 (not timed)" >&2
          use_state "$project" v1
          pack_run "$project" "$warm_wd" "$work/$label/reset.json" --force
        fi
        use_state "$project" v2
        echo "warm-restage: $label pair $i: warm" >&2
        timed_pack warm "$project" "$warm_wd" "$phases" --force
      else
        use_state "$project" v2
        echo "warm-restage: $label pair $i: cold" >&2
        rm -rf "$work/$label/cold-wd"
        timed_pack cold "$project" "$work/$label/cold-wd" "$phases"
        [ "$keep" = 1 ] || rm -rf "$work/$label/cold-wd"
      fi
      sed "s/^/$label $flow $i /" "$phases" >>"$results"
    done
  done
  [ "$keep" = 1 ] || rm -rf "${work:?}/$label" "$work/srv/bench-$mib"
done

python3 - "$results" "$pairs" "$image" <<'PY' | tee "$out/table.md"
import collections, statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
data = collections.defaultdict(lambda: collections.defaultdict(dict))
for label, flow, pair, key, value in rows:
    data[label][flow].setdefault(key, {})[int(pair)] = float(value)
def med(values):
    return statistics.median(values) if values else float("nan")
print(f"pairs per size: {sys.argv[2]}; image: {sys.argv[3]}\n")
print("| size | cold pack median (s) | warm re-pack median (s) | warm/cold median (range) | target 0.4x | packages reused / downloaded (warm) |")
print("|---|---:|---:|---:|---|---:|")
for label, flows in data.items():
    cold, warm = flows["cold"], flows["warm"]
    ratios = [warm["total"][p] / cold["total"][p] for p in cold["total"] if p in warm["total"]]
    met = "met" if med(ratios) <= 0.4 else "not met"
    print(f"| {label} | {med(cold['total'].values()):.1f} | {med(warm['total'].values()):.1f} | "
          f"{med(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) | {met} | "
          f"{med(warm['reused'].values()):.0f} / {med(warm['downloaded'].values()):.0f} |")
for label, flows in data.items():
    for flow in ("cold", "warm"):
        phases = [k for k in flows[flow] if k not in ("total", "reused", "downloaded")]
        cells = ", ".join(f"{k} {med(flows[flow][k].values()):.1f}" for k in phases)
        print(f"\n{label} {flow} phase medians (s): {cells}")
PY
