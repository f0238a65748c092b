#!/bin/sh
# The main process of every container pixi-airgap creates. It runs the given command (or, with
# none, only waits: all work happens through exec) and ends by itself once the time limit has
# passed, so that a container outlives a pixi-airgap that was killed (SIGKILL, a crash) by at most
# that long; the engine then removes it (auto-remove).
#   $1: the limit in seconds; the rest: the command to run, if any.
life=$1
shift
trap 'exit 0' TERM INT
if [ "$#" -eq 0 ]; then
  # One long sleep (busybox has no `sleep infinity`); `wait` lets the trap run at once.
  sleep "$life" &
  wait "$!"
  exit 0
fi
"$@" &
child=$!
trap 'kill "$child" 2>/dev/null; exit 0' TERM INT
(sleep "$life" && kill "$child" 2>/dev/null) &
wait "$child"
