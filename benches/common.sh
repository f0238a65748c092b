# shellcheck shell=bash
# What the benchmarks share, sourced by pack-vs-cli.sh, warm-restage.sh and vs-pixi-pack.sh (each
# sets `root` to the checkout and `keep` to 1 for --keep first): a scratch folder, the release
# binary, and a channel served by busybox httpd from a container on a private network (alias
# `airgap-channel`, port 8080, serving `$work/srv`).

now() { date +%s.%N; }

# Lets the file system settle before a timed flow. Each flow ends with mass deletes (containers
# holding tens of thousands of files; the previous run's folders), and ext4 without a journal
# refuses to reuse an inode freed in the last 5 s (300 s while its inode table block is unwritten),
# so every file created soon after a large delete is slowed: profiled on the test machine, 60 % of
# a slow upload was spent in ext4's recently-deleted check. Every flow compared gets the same settled disk.
settle() {
  sync
  sleep 6
}

# bench_start NAME IMAGE [CONTAINER...]: sets `work` (a scratch folder), `net`, `server` (the
# channel's container, on IMAGE) and `bin` (the release binary, built here); on exit the server,
# the CONTAINERs the script starts itself, the network and (unless --keep) the scratch folder go.
bench_start() {
  bench_name=$1
  local image=$2
  shift 2
  bench_boxes=("$@")
  work=$(mktemp -d "${TMPDIR:-/tmp}/$bench_name.XXXXXX")
  net="$bench_name-$$"
  server="$bench_name-channel-$$"
  trap bench_cleanup EXIT

  echo "$bench_name: building the release binary" >&2
  cargo build --quiet --release --locked --bin pixi-airgap
  # shellcheck disable=SC2034 # used by the scripts that source this file
  bin=${root:?set root before sourcing benches/common.sh}/target/release/pixi-airgap

  docker network create "$net" >/dev/null
  mkdir -p "$work/srv"
  docker run -d --name "$server" --network "$net" --network-alias airgap-channel \
    -v "$work/srv:/srv:ro" "$image" busybox httpd -f -p 8080 -h /srv >/dev/null
}

bench_cleanup() {
  docker rm -f "$server" "${bench_boxes[@]}" >/dev/null 2>&1 || true
  docker network rm "$net" >/dev/null 2>&1 || true
  if [ "${keep:-0}" = 1 ]; then
    echo "$bench_name: kept $work" >&2
  else
    rm -rf "$work"
  fi
}
