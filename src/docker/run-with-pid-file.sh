#!/bin/sh
# Runs a command in a container with this shell's pid in a file, so that a second exec can stop
# it, and what it started, when pixi-airgap is interrupted: the engine has no call that ends an
# exec (see stop-pid-file.sh). The file goes when the command ends.
#   $0: pixi-airgap-run (what stop-pid-file.sh recognises); $1: the pid file; the rest: the command.
pid_file=$1
shift
printf '%s\n' "$$" >"$pid_file" || exit 125
"$@"
status=$?
rm -f -- "$pid_file"
exit "$status"
