#!/usr/bin/env bash
# Runs the GraphQL conformance test: installs the npm packages if missing,
# starts a real stratad and strata-front on a free loopback port, runs
# test.mjs against them, stops both. BUILD: build dir (default build).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-$root/build}
case "$BUILD" in /*) ;; *) BUILD=$root/$BUILD ;; esac
cd "$here"
if [ ! -d node_modules/graphql ] || [ ! -d node_modules/graphql-ws ] || [ ! -d node_modules/ws ]; then
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund >/dev/null; else npm install --no-audit --no-fund >/dev/null; fi || { echo "npm install failed"; exit 1; }
fi
tmp=$(mktemp -d /tmp/strata-gql.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BUILD/stratad" --data "$tmp/data" --stats-interval-ms 250 >"$tmp/stratad.log" 2>&1 &
daemon=$!
for _ in $(seq 1 100); do [ -S "$tmp/data/ctl.sock" ] && break; sleep 0.05; done
STRATA_GQL_INIT_TIMEOUT_MS=1000 "$BUILD/strata-front" --data "$tmp/data" --listen "127.0.0.1:$port" >"$tmp/front.log" 2>&1 &
front=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
STRATA_GQL_URL="http://127.0.0.1:$port" node test.mjs
rc=$?
kill -TERM $front $daemon 2>/dev/null
wait $front 2>/dev/null
wait $daemon 2>/dev/null
if [ $rc -ne 0 ]; then echo "== logs in $tmp"; tail -n 5 "$tmp/front.log" "$tmp/stratad.log"; else rm -rf "$tmp"; fi
exit $rc
