#!/usr/bin/env bash
# `pixi-airgap pack --archive tar.zst` against pixi-pack 0.7.10, side by side, on pixi 0.77 locks.
#
#   benches/vs-pixi-pack.sh --pixi-pack PATH --pixi-unpack PATH [--pairs N]
#       [--projects "64:2000 512:20000 python"] [--level N] [--keep]
#
# PATH: the two binaries of pixi-pack 0.7.10 (or PIXI_PACK / PIXI_UNPACK in the environment).
# Nothing here fetches or builds them, and they are never shipped: build them yourself from a
# clone of pixi-pack's public source repository (Quantco/pixi-pack) at its tag v0.7.10, with
# `cargo build --release --locked` (binaries in target/release/); they must run on the test
# image's glibc (Debian bookworm; building on bookworm or older is enough).
#
# Projects, each locked by the test bed's pixi 0.77 image (PIXI_AIRGAP_TESTBED_MODERN_IMAGE):
#   MIB:FILES  the generated channel of benches/bench-channel.py (incompressible package data),
#              task `check` counts the installed files;
#   python     the test bed's python package and the PyPI wheels of tests/fixtures/pypi
#              (python-dateutil, six), task `imports`.
# The channels and the PyPI index are served by busybox httpd from a container on a private
# Docker network; pixi-pack runs in a container on that network (it must reach the channel).
#
# Per pair (the order of the two tools flips every pair; the disk settles before every timed
# run, as in benches/pack-vs-cli.sh):
#   build side to a proven install:
#     ours    pixi-airgap pack --archive tar.zst (stage online, product, offline proof, archive)
#     theirs  pixi-pack in a container on the channel's network (output and TMPDIR on a host
#             folder), then a --network none container (scratch volume): docker cp
#             environment.tar and pixi-unpack in, pixi-unpack, run the task, remove it
#   receiving side, offline (a --network none container, a fresh scratch volume, the archive
#   copied in beforehand, not timed):
#     ours    zstd -d | tar -x, then sh product/bootstrap-project.sh (its check included)
#     theirs  pixi-unpack environment.tar
#   peak RSS (/usr/bin/time -v): pixi-airgap pack; pixi-pack and pixi-unpack (the larger)
#   the physical floor of pack: pixi's two installs (online, offline) and the proof's one hashed
#   read of the product, from pack's --json report; pack's time as a multiple of it
# Bytes (once per project): product.tar.zst and environment.tar, and both as plain tars
# compressed with the same zstd settings (the product's own: level, 16 MiB window).
# Prints one table per project (medians; ratios pair by pair, median and range). Raw results
# land in target/bench/vs-pixi-pack/ unless PIXI_AIRGAP_BENCH_OUT says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# shellcheck source=benches/common.sh
. benches/common.sh

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

pixi_pack=${PIXI_PACK:-}
pixi_unpack=${PIXI_UNPACK:-}
pairs=3
projects="64:2000 512:20000 python"
level=10
keep=0
while [ $# -gt 0 ]; do
  case $1 in
    --pixi-pack) pixi_pack=$2; shift ;;
    --pixi-unpack) pixi_unpack=$2; shift ;;
    --pairs) pairs=$2; shift ;;
    --projects) projects=$2; shift ;;
    --level) level=$2; shift ;;
    --keep) keep=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "vs-pixi-pack: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
for tool in "$pixi_pack" "$pixi_unpack"; do
  if [ -z "$tool" ] || [ ! -x "$tool" ]; then
    echo "vs-pixi-pack: give --pixi-pack PATH and --pixi-unpack PATH (executables; see --help)" >&2
    exit 2
  fi
done
pixi_pack=$(realpath "$pixi_pack")
pixi_unpack=$(realpath "$pixi_unpack")
for tool in /usr/bin/time docker zstd python3; do
  command -v "$tool" >/dev/null || { echo "vs-pixi-pack: $tool is missing" >&2; exit 3; }
done

eval "$(scripts/testbed.sh --print-env)"
image=$PIXI_AIRGAP_TESTBED_MODERN_IMAGE
out=${PIXI_AIRGAP_BENCH_OUT:-$root/target/bench/vs-pixi-pack}
mkdir -p "$out"
box="vs-pixi-pack-box-$$"
bench_start vs-pixi-pack "$image" "$box"

since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
# peak_rss FILE: the peak RSS in KiB from /usr/bin/time -v's report.
peak_rss() { awk -F': ' '/Maximum resident set size/ {print $2}' "$1"; }

# box_start NETWORK: a fresh container $box with a scratch volume at /work, GNU time and (for
# the receiving side) zstd copied in from this host.
box_start() {
  docker rm -f "$box" >/dev/null 2>&1 || true
  docker create --name "$box" --network "$1" -v /work "$image" sleep infinity >/dev/null
  docker cp -L /usr/bin/time "$box:/usr/local/bin/gnutime"
  docker start "$box" >/dev/null
}

# ours_build PROJECT RUN EXPECT TASK RESULTS
ours_build() {
  local project=$1 run=$2 expect=$3 task=$4 results=$5 start status=0
  rm -rf "$run" && mkdir -p "$run"
  settle
  start=$(now)
  /usr/bin/time -v -o "$run/time.txt" "$bin" pack --image "$image" --network "$net" \
    --project-dir "$project" --workdir "$run/wd" --verify-task "$task" --verify-expect "$expect" \
    --archive tar.zst --compression-level "$level" --json >"$run/pack.json" 2>"$run/pack.log" ||
    status=$?
  echo "build $(since "$start")" >>"$results"
  if [ "$status" != 0 ]; then
    echo "vs-pixi-pack: pack failed (exit $status); its log:" >&2
    tail -n 30 "$run/pack.log" >&2
    exit 1
  fi
  {
    echo "build_rss $(peak_rss "$run/time.txt")"
    echo "archive_bytes $(stat -c %s "$run/wd/product.tar.zst")"
  } >>"$results"
  python3 - "$run/pack.json" >>"$results" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
assert report["result"] == "success", report["result"]
for phase in report["phases"]:
    print(f"build.{phase['name']} {phase['seconds']:.3f}")
# The physical floor: pixi's two installs (online while staging, offline in the proof) and one
# read of every byte (the proof's re-check hashes the whole product once).
installs = sum(step["seconds"] for step in report["stage"]["installs"])
timings = report["proof"]["timings"]
print(f"floor {installs + timings['bootstrap_seconds'] + timings['check_seconds']:.3f}")
PY
}

# theirs_build PROJECT RUN EXPECT CMD RESULTS
theirs_build() {
  local project=$1 run=$2 expect=$3 cmd=$4 results=$5 start lap
  rm -rf "$run" && mkdir -p "$run/out/tmp"
  settle
  start=$(now)
  lap=$start
  # pixi-pack where the channel is reachable; output and downloads on a host folder.
  docker rm -f "$box" >/dev/null 2>&1 || true
  docker create --name "$box" --network "$net" -e TMPDIR=/out/tmp \
    -v "$project:/project:ro" -v "$run/out:/out" "$image" sleep infinity >/dev/null
  docker cp -L /usr/bin/time "$box:/usr/local/bin/gnutime"
  docker cp "$pixi_pack" "$box:/usr/local/bin/pixi-pack"
  docker start "$box" >/dev/null
  docker exec "$box" gnutime -v -o /out/pack-time.txt \
    pixi-pack /project/pixi.toml -o /out/environment.tar >"$run/pack.log" 2>&1 || {
    echo "vs-pixi-pack: pixi-pack failed; its log:" >&2
    tail -n 30 "$run/pack.log" >&2
    exit 1
  }
  docker rm -f "$box" >/dev/null
  echo "build.pack $(since "$lap")" >>"$results"
  lap=$(now)
  # The proof a pixi-pack user would run: carry it into a network-none container, unpack, run.
  box_start none
  docker cp "$run/out/environment.tar" "$box:/work/environment.tar"
  docker cp "$pixi_unpack" "$box:/usr/local/bin/pixi-unpack"
  echo "build.copy-in $(since "$lap")" >>"$results"
  lap=$(now)
  docker exec -w /work "$box" gnutime -v -o /work/unpack-time.txt \
    pixi-unpack environment.tar >"$run/unpack.log" 2>&1 || {
    echo "vs-pixi-pack: pixi-unpack failed; its log:" >&2
    tail -n 30 "$run/unpack.log" >&2
    exit 1
  }
  echo "build.unpack $(since "$lap")" >>"$results"
  lap=$(now)
  docker exec -w /work "$box" bash -c ". ./activate.sh && $cmd" >"$run/run.log" 2>&1 || true
  docker rm -f "$box" >/dev/null
  echo "build.run+remove $(since "$lap")" >>"$results"
  echo "build $(since "$start")" >>"$results"
  grep -qxF "$expect" "$run/run.log" || {
    echo "vs-pixi-pack: pixi-pack's offline run did not print '$expect':" >&2
    cat "$run/run.log" >&2
    exit 1
  }
  {
    echo "build_rss $(peak_rss "$run/out/pack-time.txt")"
    echo "archive_bytes $(stat -c %s "$run/out/environment.tar")"
  } >>"$results"
}

# recv FLOW ARCHIVE RESULTS: the receiving side, offline, in a fresh scratch volume.
recv() {
  local flow=$1 archive=$2 results=$3 start status=0
  box_start none
  docker cp -L "$(command -v zstd)" "$box:/usr/local/bin/zstd"
  docker cp "$archive" "$box:/work/$(basename "$archive")"
  [ "$flow" = ours ] || docker cp "$pixi_unpack" "$box:/usr/local/bin/pixi-unpack"
  settle
  start=$(now)
  if [ "$flow" = ours ]; then
    docker exec -w /work "$box" sh -c \
      'zstd -dc product.tar.zst | tar -xf - && sh product/bootstrap-project.sh' \
      >"$archive.recv.log" 2>&1 || status=$?
  else
    docker exec -w /work "$box" gnutime -v -o /work/unpack-time.txt \
      pixi-unpack environment.tar >"$archive.recv.log" 2>&1 || status=$?
  fi
  echo "recv $(since "$start")" >>"$results"
  if [ "$status" != 0 ]; then
    echo "vs-pixi-pack: the $flow receiving side failed (exit $status):" >&2
    tail -n 30 "$archive.recv.log" >&2
    exit 1
  fi
  if [ "$flow" = theirs ]; then
    echo "recv_rss $(docker exec "$box" cat /work/unpack-time.txt |
      awk -F': ' '/Maximum resident set size/ {print $2}')" >>"$results"
  fi
  docker rm -f "$box" >/dev/null
}

# python_project DIR: the test bed's python package as a channel, the PyPI index, and the
# project of tests/fixtures/pypi.
python_project() {
  local dir=$1
  mkdir -p "$work/srv/testchannel/noarch" "$work/srv/testchannel/linux-64" "$work/srv/pypi"
  python3 - "$PIXI_AIRGAP_TESTBED_PYTHON_PKG" "$work/srv/testchannel" <<'PY'
import json, os, shutil, sys
pkg_dir, channel = sys.argv[1:3]
records = {}
for name in sorted(os.listdir(pkg_dir)):
    if not name.endswith(".json"):
        continue
    sidecar = json.load(open(os.path.join(pkg_dir, name)))
    shutil.copy(os.path.join(pkg_dir, sidecar["file_name"]), os.path.join(channel, "linux-64"))
    records[sidecar["file_name"]] = sidecar["record"]
for subdir, packages in (("linux-64", records), ("noarch", {})):
    with open(os.path.join(channel, subdir, "repodata.json"), "w") as f:
        json.dump({"info": {"subdir": subdir}, "packages": packages, "packages.conda": {},
                   "repodata_version": 1}, f)
PY
  cp -r "$PIXI_AIRGAP_TESTBED_PYPI_INDEX/." "$work/srv/pypi/"
  cp -r tests/fixtures/pypi "$dir"
}

results=$out/results.tsv
: >"$results"
for spec in $projects; do
  if [ "$spec" = python ]; then
    label=python
    project=$work/$label/pypi-env
    mkdir -p "$work/$label"
    python_project "$project"
    task=imports
    expect="pypi ok 2.9.0.post0 1.16.0 2024"
    cmd="python -c 'import dateutil, six; from dateutil.parser import parse; print(\"pypi ok\", dateutil.__version__, six.__version__, parse(\"2024-01-02\").year)'"
  else
    mib=${spec%%:*}
    files=${spec##*:}
    label="${mib}MiB-${files}"
    project=$work/$label/bench-$mib
    python3 benches/bench-channel.py "$work/srv/bench-$mib" "$project" \
      "http://airgap-channel:8080/bench-$mib" "$mib" "$files" >/dev/null
    task=check
    expect="bench ok $files files"
    cmd=bench-check
  fi
  echo "vs-pixi-pack: $label: locking the project with $image" >&2
  docker run --rm --network "$net" -v "$project:/project" -w /project \
    -e PIXI_CACHE_DIR=/tmp/cache "$image" sh -c 'pixi install >/dev/null 2>&1 && rm -rf .pixi'
  [ -f "$project/pixi.lock" ] || { echo "vs-pixi-pack: $label: locking failed" >&2; exit 1; }
  for i in $(seq 1 "$pairs"); do
    order="ours theirs"
    [ $((i % 2)) = 0 ] && order="theirs ours"
    for flow in $order; do
      echo "vs-pixi-pack: $label pair $i: $flow, build side" >&2
      run=$work/$label/$flow-$i
      part=$out/$label.$flow.$i.txt
      : >"$part"
      if [ "$flow" = ours ]; then
        ours_build "$project" "$run" "$expect" "$task" "$part"
      else
        theirs_build "$project" "$run" "$expect" "$cmd" "$part"
      fi
    done
    for flow in $order; do
      echo "vs-pixi-pack: $label pair $i: $flow, receiving side" >&2
      run=$work/$label/$flow-$i
      part=$out/$label.$flow.$i.txt
      if [ "$flow" = ours ]; then
        recv ours "$run/wd/product.tar.zst" "$part"
      else
        recv theirs "$run/out/environment.tar" "$part"
      fi
    done
    if [ "$i" = 1 ]; then
      # Both as plain tars, compressed alike (the product's settings), for the record.
      zstd -dc "$work/$label/ours-1/wd/product.tar.zst" |
        zstd -q "-$level" --zstd=wlog=24 -T0 -c | wc -c | sed 's/^/same_zstd_bytes /' \
        >>"$out/$label.ours.1.txt"
      zstd -dc "$work/$label/ours-1/wd/product.tar.zst" | wc -c | sed 's/^/plain_tar_bytes /' \
        >>"$out/$label.ours.1.txt"
      zstd -q "-$level" --zstd=wlog=24 -T0 -c "$work/$label/theirs-1/out/environment.tar" |
        wc -c | sed 's/^/same_zstd_bytes /' >>"$out/$label.theirs.1.txt"
      stat -c %s "$work/$label/theirs-1/out/environment.tar" | sed 's/^/plain_tar_bytes /' \
        >>"$out/$label.theirs.1.txt"
    fi
    for flow in ours theirs; do
      sed "s/^/$label $flow $i /" "$out/$label.$flow.$i.txt" >>"$results"
      [ "$keep" = 1 ] || [ "$i" = 1 ] || rm -rf "$work/$label/$flow-$i"
    done
  done
  [ "$keep" = 1 ] || rm -rf "${work:?}/$label" "$work/srv/bench-${spec%%:*}"
done

python3 - "$results" "$pairs" "$level" <<'PY' | tee "$out/table.md"
import collections, statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
data = collections.defaultdict(lambda: collections.defaultdict(lambda: collections.defaultdict(dict)))
for label, flow, pair, key, value in rows:
    data[label][flow][key][int(pair)] = float(value)
def med(values):
    values = list(values)
    return statistics.median(values) if values else float("nan")
def ratios(key, label):
    ours, theirs = data[label]["ours"][key], data[label]["theirs"][key]
    return [ours[p] / theirs[p] for p in ours if p in theirs and theirs[p]]
MIB = 1024 * 1024
print(f"pairs per project: {sys.argv[2]}; zstd level {sys.argv[3]}\n")
for label, flows in data.items():
    ours, theirs = flows["ours"], flows["theirs"]
    print(f"### {label}\n")
    print("| measure | pixi-airgap | pixi-pack | ratio: median (range) |")
    print("|---|---:|---:|---:|")
    for key, name in (("build", "build side to a proven install (s)"),
                      ("recv", "receiving side, offline (s)")):
        r = ratios(key, label)
        print(f"| {name} | {med(ours[key].values()):.1f} | {med(theirs[key].values()):.1f} | "
              f"{med(r):.2f} ({min(r):.2f}-{max(r):.2f}) |")
    for key, name in (("archive_bytes", "bytes to carry (MiB): product.tar.zst / environment.tar"),
                      ("same_zstd_bytes", f"the same, plain tars compressed alike, zstd -{sys.argv[3]} (MiB)"),
                      ("plain_tar_bytes", "plain tars (MiB)")):
        o, t = med(ours[key].values()), med(theirs[key].values())
        print(f"| {name} | {o / MIB:.2f} | {t / MIB:.2f} | {o / t:.3f} |")
    o = max(ours["build_rss"].values()) / 1024
    t = max(list(theirs["build_rss"].values()) + list(theirs.get("recv_rss", {}).values())) / 1024
    print(f"| peak RSS (MiB): pack / the larger of pixi-pack, pixi-unpack | {o:.0f} | {t:.0f} | {o / t:.2f} |")
    floor = med(ours["floor"].values())
    print(f"| physical floor (pixi's two installs + one hashed read of the product) | {floor:.1f} | | "
          f"pack = {med(ours['build'].values()) / floor:.1f}x the floor |")
    for flow in ("ours", "theirs"):
        keys = [k for k in flows[flow] if k.startswith("build.")]
        cells = ", ".join(f"{k[6:]} {med(flows[flow][k].values()):.1f}" for k in keys)
        print(f"\n{flow} build-side phase medians (s): {cells}")
    print()
PY
