#!/bin/sh
# The main process of every container pixi-airgap creates. It only waits (all work happens through
# exec) and ends by itself once the time limit has passed, so that a container outlives a
# pixi-airgap that was killed (SIGKILL, a crash) by at most that long; the engine then removes it
# (auto-remove).
#   $1: the limit in seconds.
life=$1
trap 'exit 0' TERM INT
# One long sleep (busybox has no `sleep infinity`); `wait` lets the trap run at once.
sleep "$life" &
wait "$!"
exit 0
