#!/usr/bin/env bash
# The Podman leg of the test bed: a Podman engine serving the Docker API on a private socket, with
# the test images loaded into it.
#   - installs podman (Debian package) and the runtimes it needs when they are missing
#   - writes a private containers.conf and storage.conf under $PIXI_AIRGAP_TESTBED_CACHE/podman
#     (default ~/.cache/pixi-airgap-testbed/podman): its own image store, run root, temp dir and
#     network definitions, so nothing global changes and Docker is never touched
#   - starts `podman system service` on $DIR/podman.sock (reused when it already answers), in its
#     own network and mount namespaces: rootful Podman 4 keeps netavark's state (IP allocations,
#     the aardvark-dns configuration and pid file) in the fixed folder /run/containers/networks, so
#     two services on one machine would share one DNS server and clash; a private tmpfs there and a
#     private network namespace keep this one apart from any other Podman, and from Docker's
#     bridges and firewall rules. The tests need no outside network (the channel is a container).
#   - copies the test images from Docker into it (`docker save | podman load`), only when missing
#     or changed
#
# The containers.conf lowers podman's default rlimits: where root lacks CAP_SYS_RESOURCE (many CI
# sandboxes), podman's defaults (nofile/nproc 1048576) make every container start fail with
# "error setting rlimits ... operation not permitted".
#
# With `--print-env`, prints `export PIXI_AIRGAP_PODMAN_HOST=unix://...` on stdout; everything
# else goes to stderr. `--stop` stops the service this script started.
set -euo pipefail

CACHE=${PIXI_AIRGAP_TESTBED_CACHE:-$HOME/.cache/pixi-airgap-testbed}
DIR=$CACHE/podman
SOCK=$DIR/podman.sock
PIDFILE=$DIR/service.pid
IMAGES=(
  "${PIXI_AIRGAP_TESTBED_IMAGE:-pixi-airgap-testbed:pixi-0.15.2}"
  "${PIXI_AIRGAP_TESTBED_NOPIXI_IMAGE:-pixi-airgap-testbed:no-pixi}"
)
if [ -n "${PIXI_AIRGAP_TESTBED_MODERN_IMAGE:-}" ]; then IMAGES+=("$PIXI_AIRGAP_TESTBED_MODERN_IMAGE"); fi

log() { printf 'podman-testbed: %s\n' "$*" >&2; }
die() { printf 'podman-testbed: error: %s\n' "$*" >&2; exit 1; }

need_root_or_sudo() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_packages() {
  local missing=()
  command -v podman >/dev/null 2>&1 || missing+=(podman)
  command -v runc >/dev/null 2>&1 || [ -x /usr/sbin/runc ] || missing+=(runc)
  command -v crun >/dev/null 2>&1 || missing+=(crun)
  command -v fuse-overlayfs >/dev/null 2>&1 || missing+=(fuse-overlayfs)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  if [ "$(id -u)" -ne 0 ]; then
    command -v newuidmap >/dev/null 2>&1 || missing+=(uidmap)
    command -v slirp4netns >/dev/null 2>&1 || missing+=(slirp4netns)
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing host packages: ${missing[*]}"
    need_root_or_sudo apt-get update -qq >&2
    need_root_or_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  fi
}

# Private configuration: every path podman writes to is under $DIR.
write_config() {
  mkdir -p "$DIR/root" "$DIR/runroot" "$DIR/tmp" "$DIR/networks"
  local runtime=runc
  command -v runc >/dev/null 2>&1 || [ -x /usr/sbin/runc ] || runtime=crun
  cat >"$DIR/containers.conf.tmp" <<EOF
# Written by scripts/podman.sh for the pixi-airgap test bed; passed with CONTAINERS_CONF.
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]

[engine]
runtime = "$runtime"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$DIR/tmp"

[network]
network_config_dir = "$DIR/networks"
EOF
  mv "$DIR/containers.conf.tmp" "$DIR/containers.conf"
  # Native overlay is often refused inside containers and sandboxes; fuse-overlayfs works there.
  cat >"$DIR/storage.conf.tmp" <<EOF
# Written by scripts/podman.sh for the pixi-airgap test bed; passed with CONTAINERS_STORAGE_CONF.
[storage]
driver = "overlay"
graphroot = "$DIR/root"
runroot = "$DIR/runroot"

[storage.options.overlay]
mount_program = "$(command -v fuse-overlayfs)"
EOF
  mv "$DIR/storage.conf.tmp" "$DIR/storage.conf"
}

# The podman client, through the service (never a second engine on the same storage).
pm() { podman --remote --url "unix://$SOCK" "$@"; }

answering() {
  [ -S "$SOCK" ] && curl -fsS --max-time 5 --unix-socket "$SOCK" http://podman/_ping >/dev/null 2>&1
}

ensure_service() {
  if answering; then
    log "the Podman service on $SOCK is running (reused)"
    return
  fi
  if [ -f "$PIDFILE" ]; then
    local old
    old=$(cat "$PIDFILE")
    # A stale pid file: stop what is left of our own service only.
    if [ -n "$old" ] && kill -0 "$old" 2>/dev/null \
      && tr '\0\n' '  ' <"/proc/$old/cmdline" 2>/dev/null | grep -q "unshare.*system service.*$SOCK"; then
      local child
      for child in $(pgrep -P "$old"); do kill "$child" 2>/dev/null || true; done
      sleep 1
    fi
    rm -f "$PIDFILE"
  fi
  rm -f "$SOCK"
  log "starting the Podman service on $SOCK (log: $DIR/service.log)"
  mkdir -p /run/containers/networks
  # shellcheck disable=SC2016 # expanded by the inner shell
  CONTAINERS_CONF="$DIR/containers.conf" CONTAINERS_STORAGE_CONF="$DIR/storage.conf" \
    nohup unshare --mount --net --fork --kill-child=SIGTERM --propagation private sh -c '
      mount -t tmpfs -o mode=0755 podman-netavark /run/containers/networks || exit 1
      if command -v ip >/dev/null 2>&1; then ip link set lo up; fi
      exec podman --root "$1/root" --runroot "$1/runroot" system service --time=0 "unix://$2"
    ' sh "$DIR" "$SOCK" >"$DIR/service.log" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 60); do
    answering && return
    sleep 0.5
  done
  die "the Podman service did not answer on $SOCK; see $DIR/service.log"
}

stop_service() {
  if [ -f "$PIDFILE" ]; then
    local pid
    pid=$(cat "$PIDFILE")
    if [ -n "$pid" ] && tr '\0\n' '  ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "unshare.*system service.*$SOCK"; then
      log "stopping the Podman service (pid $pid)"
      # unshare --fork ignores SIGTERM while it waits: stop its child, the service, and it follows.
      local child
      for child in $(pgrep -P "$pid"); do kill "$child" 2>/dev/null || true; done
      for _ in $(seq 1 20); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
      done
      if kill -0 "$pid" 2>/dev/null; then die "the Podman service (pid $pid) did not stop"; fi
    fi
    rm -f "$PIDFILE"
  fi
}

# Copies an image from Docker unless Podman already has the same image ID.
load_image() {
  local image="$1" want have
  want=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null) \
    || die "image $image is not in Docker: run scripts/testbed.sh first"
  have=$(pm image inspect -f '{{.Id}}' "localhost/$image" 2>/dev/null || true)
  if [ "sha256:${have#sha256:}" = "$want" ]; then
    return
  fi
  log "loading $image into Podman"
  docker save "$image" | pm load -q >&2
}

main() {
  if [ "${1:-}" = "--stop" ]; then
    stop_service
    return
  fi
  ensure_packages
  write_config
  ensure_service
  local image
  for image in "${IMAGES[@]}"; do load_image "$image"; done
  if [ "${1:-}" = "--print-env" ]; then
    echo "export PIXI_AIRGAP_PODMAN_HOST='unix://$SOCK'"
  fi
}

main "$@"
