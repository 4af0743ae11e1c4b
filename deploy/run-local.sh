#!/usr/bin/env bash
# Runs stratad on ./var/strata and one strata-front on 127.0.0.1:8080 in the
# foreground; Ctrl-C stops both cleanly (SIGTERM: stratad flushes and exits).
# Environment: BUILD (default build), STRATA_DATA, STRATA_LISTEN.
set -u
BUILD=${BUILD:-build}
DATA=${STRATA_DATA:-./var/strata}
LISTEN=${STRATA_LISTEN:-127.0.0.1:8080}

"$BUILD/stratad" --data "$DATA" &
daemon=$!
for _ in $(seq 1 50); do
  [ -S "$DATA/ctl.sock" ] && break
  kill -0 $daemon 2>/dev/null || { wait $daemon; exit 1; }
  sleep 0.1
done
"$BUILD/strata-front" --data "$DATA" --listen "$LISTEN" &
front=$!

stop() {
  kill -TERM $front $daemon 2>/dev/null
  wait $front 2>/dev/null
  wait $daemon 2>/dev/null
  exit 0
}
trap stop INT TERM

sleep 0.3
cat <<MSG

Strata is running (Ctrl-C stops both processes):
  status     curl http://$LISTEN/api/v1/storage/status
  health     curl http://$LISTEN/healthz     curl http://$LISTEN/readyz
  events     WebSocket ws://$LISTEN/api/v1/ws/storage/buffer-pool  (or .../io, or /api/v1/ws/storage for all)
  CLI        $BUILD/strata --data $DATA status | events | top

MSG
wait -n $daemon $front
stop
