#!/bin/sh
# Shell baselines for a cold converge, the least a script can do:
#   converge.sh batch    SCANDIR GATEWAY NAME...  build every slot (dot-named
#       staging dir, files, down marker, rename), one s6-svscanctl -a, then
#       wait until each is supervised (s6-svok);
#   converge.sh per-slot SCANDIR GATEWAY NAME...  build one slot, rescan,
#       wait for it, and on to the next: what registering each profile at
#       run time costs, as Hermes's own S6ServiceManager does.
# The files match the benchmark rendering (stand-in gateway, no user drop).
set -eu
mode=$1 scandir=$2 gateway=$3
shift 3

build() {
  d="$scandir/.gateway-$1.tmp"
  mkdir "$d" "$d/log" "$d/data"
  printf 'longrun\n' >"$d/type"
  printf '#!/bin/sh\n# shellcheck shell=sh\nset -e\nexport HERMES_S6_SUPERVISED_CHILD=1\nexport HERMES_SUPERVISED_CHILD=1\nexec %s -p %s gateway run --replace\n' "$gateway" "$1" >"$d/run"
  # shellcheck disable=SC2016 # $1 is the script's own argument
  printf '#!/bin/sh\nif [ "$1" = "78" ] || [ "$1" = "0" ]; then\n  exit 125\nfi\nexit 0\n' >"$d/finish"
  # shellcheck disable=SC2016 # expanded when log/run runs
  printf '#!/bin/sh\n: "${HERMES_HOME:=/tmp}"\nlog_dir="$HERMES_HOME/logs/gateways/%s"\nmkdir -p "$log_dir"\nrm -f "$log_dir/lock"\nexec s6-log 1 n10 s1000000 T "$log_dir"\n' "$1" >"$d/log/run"
  : >"$d/down"
  printf 'shell\n' >"$d/data/hermes-reconcile.hash"
  chmod 0755 "$d/run" "$d/finish" "$d/log/run"
  mv "$d" "$scandir/gateway-$1"
}

# waitok polls s6-svok, bounded (about 10 s).
waitok() {
  i=0
  until s6-svok "$scandir/gateway-$1"; do
    i=$((i + 1))
    if [ "$i" -gt 10000 ]; then
      echo "gateway-$1 not supervised" >&2
      exit 1
    fi
    sleep 0.001
  done
}

case $mode in
batch)
  for p in "$@"; do build "$p"; done
  s6-svscanctl -a "$scandir"
  for p in "$@"; do waitok "$p"; done
  ;;
per-slot)
  for p in "$@"; do
    build "$p"
    s6-svscanctl -a "$scandir"
    waitok "$p"
  done
  ;;
*)
  echo "usage: $0 batch|per-slot SCANDIR GATEWAY NAME..." >&2
  exit 2
  ;;
esac
