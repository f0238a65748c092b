#!/usr/bin/env bash
# Shared by scripts/pack-demo.sh and benches/: a private Docker network with the test conda
# channel served on it (as `airgap-channel`, the host the fixture manifests name), and a function
# that locks a project against it the way a user does online. Source it; call demo_cleanup on exit.
# These scripts drive Docker through its CLI; pixi-airgap itself never does.

demo_setup() {
  DEMO_WORK=$(mktemp -d)
  DEMO_NET="pixi-airgap-demo-$$"
  DEMO_SERVER="pixi-airgap-demo-channel-$$"
  cargo run --quiet --release --example test-channel -- "$DEMO_WORK/srv/testchannel"
  docker network create "$DEMO_NET" >/dev/null
  docker run -d --name "$DEMO_SERVER" --network "$DEMO_NET" --network-alias airgap-channel \
    -v "$DEMO_WORK/srv:/srv:ro" "$PIXI_AIRGAP_TESTBED_IMAGE" busybox httpd -f -p 8080 -h /srv >/dev/null
}

# demo_lock DIR: writes DIR/pixi.lock by running `pixi install` online in the test image.
demo_lock() {
  docker run --rm --network "$DEMO_NET" -v "$1:/project" -w /project \
    -e PIXI_CACHE_DIR=/tmp/cache "$PIXI_AIRGAP_TESTBED_IMAGE" pixi install >&2
}

demo_cleanup() {
  docker rm -f "$DEMO_SERVER" >/dev/null 2>&1 || true
  docker network rm "$DEMO_NET" >/dev/null 2>&1 || true
  # Files written by containers are root-owned; remove them through a container when needed.
  rm -rf "$DEMO_WORK" 2>/dev/null ||
    docker run --rm -v "$DEMO_WORK:/w" "$PIXI_AIRGAP_TESTBED_IMAGE" rm -rf /w/srv /w/project >/dev/null 2>&1 || true
  rm -rf "$DEMO_WORK" 2>/dev/null || true
}
