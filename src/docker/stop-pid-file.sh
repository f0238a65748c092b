#!/bin/sh
# Stops a command started by run-with-pid-file.sh, and every process below it: TERM, then KILL
# after a grace period. Only /proc is read (no ps or pkill needed in the image), and only a
# process that is still our wrapper (its command line says pixi-airgap-run) is touched: a reused
# pid is left alone.
#   $1: the pid file. Exits 0 when nothing of ours is left running.
pid_file=$1
[ -f "$pid_file" ] || exit 0
root=
read -r root <"$pid_file" || true
case $root in
  '' | *[!0-9]*)
    rm -f -- "$pid_file"
    exit 0
    ;;
esac
cmdline=$(tr '\000' ' ' <"/proc/$root/cmdline" 2>/dev/null) || cmdline=
case $cmdline in
  *pixi-airgap-run*) ;;
  *)
    rm -f -- "$pid_file"
    exit 0
    ;;
esac

# Whether a process runs (a zombie has ended: it only waits to be reaped).
running() {
  [ -r "/proc/$1/status" ] || return 1
  while read -r key value; do
    if [ "$key" = State: ]; then
      case $value in Z*) return 1 ;; esac
      return 0
    fi
  done 2>/dev/null <"/proc/$1/status"
  return 1
}

# The wrapper and all its descendants, found through the PPid lines of /proc/*/status.
tree=" $root "
more=1
while [ "$more" = 1 ]; do
  more=0
  for status in /proc/[0-9]*/status; do
    pid=${status#/proc/}
    pid=${pid%/status}
    case $tree in *" $pid "*) continue ;; esac
    ppid=
    while read -r key value; do
      if [ "$key" = PPid: ]; then
        ppid=$value
        break
      fi
    done 2>/dev/null <"$status"
    case $tree in *" $ppid "*)
      tree="$tree$pid "
      more=1
      ;;
    esac
  done
done

# shellcheck disable=SC2086 # a list of pids
kill -TERM $tree 2>/dev/null
tries=0
left=$tree
while [ "$tries" -lt 10 ]; do
  left=
  for pid in $tree; do
    if running "$pid"; then left="$left $pid"; fi
  done
  [ -z "$left" ] && break
  sleep 1
  tries=$((tries + 1))
done
# shellcheck disable=SC2086 # a list of pids
[ -n "$left" ] && kill -KILL $left 2>/dev/null
rm -f -- "$pid_file"
exit 0
