#!/usr/bin/env bash
# The end-to-end core through remote engines, as CI jobs reach them (scripts/test.sh runs it after
# its legs):
#   - TLS: a front with client-certificate verification (socat, certificates made here with
#     openssl) on 127.0.0.1:<free port>, forwarding to the test engine's socket; reached with
#     DOCKER_HOST=tcp://... DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=..., and through a Docker context
#     made by `docker context create` with the same certificates (contexts/tls/...).
#   - SSH: an sshd on 127.0.0.1:<free port> with a host key and a user key made here, whose user
#     runs the host's `docker` CLI; reached with DOCKER_HOST=ssh://USER@127.0.0.1:PORT through the
#     user's `ssh`, given a private config with `-F` by a wrapper first on PATH (~/.ssh is never
#     touched), and through a context whose endpoint is a Host alias of that config.
# Both services run from a private 0700 folder and are stopped by a trap when the run ends, pass
# or fail. Ends with one line: `remote: N passed, N failed`.
#
# Each engine's environment (DOCKER_HOST, ...) is exported in a subshell of its own, on purpose:
# shellcheck disable=SC2030,SC2031
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${CI:-}" ]; then
  unset PIXI_AIRGAP_SKIP_DOCKER_TESTS
fi

eval "$(scripts/testbed.sh --print-env)"
IMAGE=${PIXI_AIRGAP_TEST_IMAGE:-$PIXI_AIRGAP_TESTBED_IMAGE}
THREADS=${PIXI_AIRGAP_TEST_THREADS:-2}
BIN=target/debug/pixi-airgap
USER_NAME=$(id -un)
# The engine behind the fronts: the local socket the other legs use.
ENGINE_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}
case "$ENGINE_HOST" in
  unix://*) ENGINE_SOCKET=${ENGINE_HOST#unix://} ;;
  *) echo "remote: error: the fronts forward to a local socket; DOCKER_HOST=$DOCKER_HOST is not one" >&2; exit 1 ;;
esac
unset DOCKER_HOST DOCKER_TLS_VERIFY DOCKER_CERT_PATH DOCKER_CONTEXT

work=$(mktemp -d -t pixi-airgap-remote.XXXXXX)
chmod 0700 "$work"
test_log=$work/test.log
service_pids=()
# shellcheck disable=SC2317 # called by the trap
stop_services() {
  local pid
  for pid in "${service_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${service_pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap stop_services EXIT

status=0
# The checks run in subshells (each with its own engine environment): tallied in a file.
checks=$work/checks
: >"$checks"
passed() { echo "remote check $1 ... ok" >&2; echo ok >>"$checks"; }
failed() { echo "remote check $1 ... FAILED" >&2; echo failed >>"$checks"; status=1; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_port() { # PORT PID NAME LOG
  for _ in $(seq 1 100); do
    if ! kill -0 "$2" 2>/dev/null; then
      echo "remote: error: $3 exited at start:" >&2
      cat "$4" >&2
      return 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "remote: error: $3 does not listen on 127.0.0.1:$1" >&2
  return 1
}

# --- certificates: a CA, the engine's certificate (for 127.0.0.1), a client certificate, and a
# client certificate from another CA (the wrong one).
make_certs() {
  local d=$work/pki
  mkdir -p "$d" "$work/certs" "$work/wrong-client" "$work/wrong-ca" "$work/no-key"
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  for ca in ca other-ca; do
    openssl req -x509 "${ec[@]}" -days 2 -subj "/CN=pixi-airgap test $ca" \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
      -keyout "$d/$ca-key.pem" -out "$d/$ca.pem" 2>/dev/null
  done
  sign() { # NAME CA EXTENSIONS...
    local name=$1 ca=$2
    shift 2
    openssl req "${ec[@]}" -subj "/CN=$name" -keyout "$d/$name-key.pem" -out "$d/$name.csr" 2>/dev/null
    printf '%s\n' "$@" >"$d/$name.ext"
    openssl x509 -req -in "$d/$name.csr" -CA "$d/$ca.pem" -CAkey "$d/$ca-key.pem" -CAcreateserial \
      -days 2 -extfile "$d/$name.ext" -out "$d/$name.pem" 2>/dev/null
  }
  sign server ca "subjectAltName=IP:127.0.0.1,DNS:localhost" "extendedKeyUsage=serverAuth"
  sign client ca "extendedKeyUsage=clientAuth"
  sign intruder other-ca "extendedKeyUsage=clientAuth"
  # The layout of DOCKER_CERT_PATH.
  cp "$d/ca.pem" "$work/certs/ca.pem"
  cp "$d/client.pem" "$work/certs/cert.pem"
  cp "$d/client-key.pem" "$work/certs/key.pem"
  # A client the engine's front does not trust.
  cp "$d/ca.pem" "$work/wrong-client/ca.pem"
  cp "$d/intruder.pem" "$work/wrong-client/cert.pem"
  cp "$d/intruder-key.pem" "$work/wrong-client/key.pem"
  # A CA that did not sign the engine's certificate.
  cp "$d/other-ca.pem" "$work/wrong-ca/ca.pem"
  cp "$d/client.pem" "$work/wrong-ca/cert.pem"
  cp "$d/client-key.pem" "$work/wrong-ca/key.pem"
  # A folder without the client key.
  cp "$d/ca.pem" "$d/client.pem" "$work/no-key/"
  mv "$work/no-key/client.pem" "$work/no-key/cert.pem"
}

start_tls_front() {
  TLS_PORT=$(free_port)
  socat "OPENSSL-LISTEN:$TLS_PORT,bind=127.0.0.1,reuseaddr,fork,cert=$work/pki/server.pem,key=$work/pki/server-key.pem,cafile=$work/pki/ca.pem,verify=1" \
    "UNIX-CONNECT:$ENGINE_SOCKET" 2>"$work/socat.log" &
  service_pids+=($!)
  wait_for_port "$TLS_PORT" "$!" "the TLS front (socat)" "$work/socat.log"
  echo "== TLS front on 127.0.0.1:$TLS_PORT -> $ENGINE_SOCKET (client certificates verified)" >&2
}

start_sshd() {
  local d=$work/ssh user
  user=$(id -un)
  mkdir -p "$d" "$work/bin"
  ssh-keygen -q -t ed25519 -N '' -C pixi-airgap-test-host -f "$d/host_key"
  ssh-keygen -q -t ed25519 -N '' -C pixi-airgap-test-user -f "$d/user_key"
  cp "$d/user_key.pub" "$d/authorized_keys"
  SSH_PORT=$(free_port)
  cat >"$d/sshd_config" <<EOF
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $d/host_key
AuthorizedKeysFile $d/authorized_keys
PidFile $d/sshd.pid
AllowUsers $user
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
EOF
  # The client side: what a user's ~/.ssh/config would say (a Host alias too).
  cat >"$d/ssh_config" <<EOF
Host 127.0.0.1 airgap-engine
  HostName 127.0.0.1
  Port $SSH_PORT
  User $user
  IdentityFile $d/user_key
  IdentitiesOnly yes
  UserKnownHostsFile $d/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
EOF
  echo "[127.0.0.1]:$SSH_PORT $(cat "$d/host_key.pub")" >"$d/known_hosts"
  local ssh_bin
  ssh_bin=$(command -v ssh)
  printf '#!/bin/sh\nexec %s -F %s "$@"\n' "$ssh_bin" "$d/ssh_config" >"$work/bin/ssh"
  chmod +x "$work/bin/ssh"
  # sshd's privilege separation folder (Debian's package makes it at boot only).
  if [ "$(id -u)" -eq 0 ]; then mkdir -p /run/sshd; fi
  /usr/sbin/sshd -D -e -f "$d/sshd_config" 2>"$work/sshd.log" &
  service_pids+=($!)
  wait_for_port "$SSH_PORT" "$!" "sshd" "$work/sshd.log"
  echo "== sshd on 127.0.0.1:$SSH_PORT for $user (remote command: docker system dial-stdio)" >&2
}

run_tests() { # LABEL [TEST]
  local label=$1
  shift
  echo "== [$label] cargo test --test it --features engine-remote on $IMAGE" >&2
  PIXI_AIRGAP_TEST_IMAGE="$IMAGE" nice cargo test --locked --no-fail-fast --test it --features engine-remote -- \
    --test-threads="$THREADS" "$@" 2>&1 | tee -a "$test_log" || status=1
}

# The core through one engine (the tests that the feature `engine-remote` compiles in,
# tests/it/main.rs): pack (with the archive and the proof), verify-product and its negative
# controls, clean. None of them depends on the pixi line.
core_tests() { # LABEL
  run_tests "$1"
}

# `pixi-airgap -v` against the current environment, connecting and stopping at an unknown
# container (exit 2 once connected); prints the exit code and then everything it said.
probe() {
  local out code=0
  out=$("$BIN" -v stage-container --container-id pixi-airgap-no-such-container \
    --project-path-in-container /p --workdir "$work/probe-wd" 2>&1) || code=$?
  printf '%s\n%s\n' "$code" "$out"
}

expect_probe() { # NAME CODE PATTERN...
  local name=$1 code=$2 out
  shift 2
  out=$(probe)
  if [ "$(head -n1 <<<"$out")" != "$code" ]; then
    echo "$out" >&2
    failed "$name"
    return
  fi
  local pattern
  for pattern in "$@"; do
    if ! grep -q -- "$pattern" <<<"$out"; then
      echo "missing /$pattern/ in:" >&2
      echo "$out" >&2
      failed "$name"
      return
    fi
  done
  passed "$name"
}

# The legs: functions whose body runs in `( ... )`, each with its engine's environment.
tls_host_leg() (
  export DOCKER_HOST=tcp://127.0.0.1:$TLS_PORT DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$work/certs
  export PIXI_AIRGAP_TEST_EXPECT_TRANSPORT=tls
  expect_probe tls_engine_is_reached 2 "over tls (from DOCKER_HOST)" "no container"
  core_tests tls
  exit "$status"
)

tls_errors_leg() (
  export DOCKER_HOST=tcp://127.0.0.1:$TLS_PORT DOCKER_TLS_VERIFY=1
  export DOCKER_CERT_PATH=$work/wrong-client
  expect_probe tls_unknown_client_certificate_exits_3 3 "over TLS" "$work/wrong-client" "DOCKER_CERT_PATH"
  export DOCKER_CERT_PATH=$work/wrong-ca
  expect_probe tls_engine_not_signed_by_ca_exits_3 3 "over TLS" "$work/wrong-ca" "[Cc]ertificate"
  export DOCKER_CERT_PATH=$work/no-key
  expect_probe tls_missing_key_exits_3 3 "TLS certificates" "$work/no-key" "key.pem. is missing"
  export DOCKER_CERT_PATH=$work/absent
  expect_probe tls_missing_folder_exits_3 3 "TLS certificates" "$work/absent" "does not exist"
  # Plain HTTP to the TLS front: no answer an HTTP client understands.
  unset DOCKER_TLS_VERIFY
  expect_probe tls_front_refuses_plain_http_exits_3 3 "cannot reach the Docker daemon at tcp://"
  exit "$status"
)

# A Docker context made by the Docker CLI itself (it copies the certificates to contexts/tls/).
tls_context_leg() (
  export DOCKER_CONFIG=$work/docker-config
  docker context create airgap-tls --description "pixi-airgap test TLS front" \
    --docker "host=tcp://127.0.0.1:$TLS_PORT,ca=$work/certs/ca.pem,cert=$work/certs/cert.pem,key=$work/certs/key.pem" >/dev/null
  export DOCKER_CONTEXT=airgap-tls PIXI_AIRGAP_TEST_EXPECT_TRANSPORT=tls
  expect_probe tls_context_is_reached 2 "over tls (from Docker context .airgap-tls.)"
  # One test of the core is enough to show the context's engine is the one used.
  run_tests tls-context --exact product::single_env_product_installs_and_verifies_with_the_network_cut
  exit "$status"
)

ssh_host_leg() (
  export PATH=$work/bin:$PATH
  export DOCKER_HOST=ssh://$USER_NAME@127.0.0.1:$SSH_PORT PIXI_AIRGAP_TEST_EXPECT_TRANSPORT=ssh
  expect_probe ssh_engine_is_reached 2 "over ssh (from DOCKER_HOST)" "no container"
  core_tests ssh
  # Nothing listens on port 1: ssh's own words, exit 3.
  export DOCKER_HOST=ssh://$USER_NAME@127.0.0.1:1
  expect_probe ssh_unreachable_host_exits_3 3 "over SSH" "ssh said: .*Connection refused"
  exit "$status"
)

# A context whose endpoint is a Host alias that only the ssh configuration resolves.
ssh_context_leg() (
  export PATH=$work/bin:$PATH DOCKER_CONFIG=$work/docker-config-ssh
  mkdir -p "$DOCKER_CONFIG"
  docker context create airgap-ssh --docker "host=ssh://airgap-engine" >/dev/null
  export DOCKER_CONTEXT=airgap-ssh PIXI_AIRGAP_TEST_EXPECT_TRANSPORT=ssh
  expect_probe ssh_context_with_host_alias_is_reached 2 "over ssh (from Docker context .airgap-ssh.)"
  exit "$status"
)

cargo build --locked --quiet
make_certs
start_tls_front
start_sshd
tls_host_leg || status=1
tls_errors_leg || status=1
tls_context_leg || status=1
ssh_host_leg || status=1
ssh_context_leg || status=1

# Every test removes what it starts; a container, network or volume left with our label is a bug.
leftovers=$(docker ps -aq --filter label=io.pixi-airgap.managed; docker network ls -q --filter label=io.pixi-airgap.managed; docker volume ls -q --filter label=io.pixi-airgap.managed)
if [ -z "$leftovers" ]; then passed no_labelled_leftovers; else failed no_labelled_leftovers; fi

awk -v cp="$(grep -c '^ok$' "$checks" || true)" -v cf="$(grep -c '^failed$' "$checks" || true)" '
  /^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
  END { printf "remote: %d passed, %d failed\n", p + cp, f + cf }' "$test_log"
exit "$status"
