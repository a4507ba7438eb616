#!/bin/sh
# make demo: a real s6-svscan on a temporary scandir, the bundled example
# HERMES_HOME (test/fixtures/home, bad entries included), one reconcile pass,
# the plan and the status, then everything started is stopped again.
set -eu
bin=${1:-bin/hermes-reconcile}
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
tmp=$(mktemp -d)
svscan=
cleanup() {
  if [ -n "$svscan" ]; then
    kill -TERM "$svscan" 2>/dev/null || true
    wait "$svscan" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

cp -R "$repo/test/fixtures/home" "$tmp/home"
mkdir "$tmp/scan"
HERMES_HOME=$tmp/home s6-svscan "$tmp/scan" >"$tmp/svscan.log" 2>&1 &
svscan=$!

# Hermes itself is not installed here: slots run the stand-in gateway, and
# the topology is decided as a Hermes 0.21.3 image would (its config.yaml
# says multiplex_profiles: false).
HERMES_HOME=$tmp/home
HERMES_RECONCILE_HERMES_VERSION=0.21.3
HERMES_RECONCILE_SCANDIR=$tmp/scan
HERMES_RECONCILE_SHEBANG='#!/bin/sh'
HERMES_RECONCILE_USER=
HERMES_RECONCILE_GATEWAY_COMMAND=$repo/test/fake-gateway
HERMES_RECONCILE_HOME_DIR=$tmp/home
HERMES_RECONCILE_LOG_HERMES_HOME=$tmp/home
HERMES_RECONCILE_LOG_FORMAT=console
export HERMES_HOME HERMES_RECONCILE_HERMES_VERSION HERMES_RECONCILE_SCANDIR HERMES_RECONCILE_SHEBANG HERMES_RECONCILE_USER \
  HERMES_RECONCILE_GATEWAY_COMMAND HERMES_RECONCILE_HOME_DIR HERMES_RECONCILE_LOG_HERMES_HOME \
  HERMES_RECONCILE_LOG_FORMAT

i=0
until [ -p "$tmp/scan/.s6-svscan/control" ]; do
  i=$((i + 1)); [ "$i" -lt 500 ] || { echo "s6-svscan did not start" >&2; exit 1; }
  sleep 0.01
done

echo "== hermes-reconcile --dry-run (the plan)"
"$bin" --dry-run || true
echo
echo "== hermes-reconcile --once"
"$bin" --once -v 0 2>/dev/null
echo
echo "== hermes-reconcile status"
"$bin" status 2>/dev/null
echo
echo "== hermes-reconcile --once again (nothing to do)"
"$bin" --once --detailed-exitcode 2>/dev/null
