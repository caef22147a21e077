#!/bin/sh
# The init script the Ansible peer calls to stop and start one instance (what systemd does for a real
# service): it keeps the same pid and install records as zerodown's local runtime
# (src/adapters/local-runtime.ts), so the fleet stays one fleet whichever tool deployed it last.
#   instance-ctl.sh stop  <instance>
#   instance-ctl.sh start <instance> <version>
# Environment (set by the playbook from the inventory): SERVICE STATE_DIR BUILDS_ROOT NODE ADDRESS PORT
set -eu
action=$1
instance=$2
dir="$STATE_DIR/instances/$SERVICE/$instance"
mkdir -p "$dir"
pid_of() { sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$dir/instance.pid" 2>/dev/null || true; }
case "$action" in
stop)
  pid=$(pid_of)
  # Only the instance itself: a pid reused by another process does not carry its marker.
  marker="ZERODOWN_INSTANCE_ID=$SERVICE/$instance@$ADDRESS:$PORT"
  if [ -n "$pid" ] && tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxF "$marker" && kill -TERM "$pid"; then
    # Like systemd's TimeoutStopSec: wait for a graceful exit, at most 10 s.
    i=0
    while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/instance.pid"
  ;;
start)
  version=$3
  now=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
  printf '{"version":"%s","installedAt":"%s"}\n' "$version" "$now" >"$dir/installed.json"
  cd "$BUILDS_ROOT/$SERVICE/$version"
  HOST=$ADDRESS PORT=$PORT ZERODOWN_SERVICE=$SERVICE ZERODOWN_INSTANCE=$instance ZERODOWN_ROLE=api \
    ZERODOWN_VERSION=$version ZERODOWN_INSTANCE_ID="$SERVICE/$instance@$ADDRESS:$PORT" \
    setsid "$NODE" build/server.mjs </dev/null >>"$dir/instance.log" 2>&1 &
  printf '{"pid":%s,"version":"%s","startedAt":"%s"}\n' "$!" "$version" "$now" >"$dir/instance.pid"
  ;;
*)
  echo "usage: instance-ctl.sh stop <instance> | start <instance> <version>" >&2
  exit 2
  ;;
esac
