#!/usr/bin/env bash
# bench/ws.sh — event streaming benchmark (issue 8; see bench/README-ws.md).
#
#   bash bench/ws.sh [BUILD_DIR]        (make bench-ws builds and runs it)
#
# Starts a real stratad (--sample-every 1 --rare-limit 0: every page read
# emits PageHit, PagePinned, PageUnpinned on the buffer-pool family) and one
# strata-front on a temp data dir and a free loopback port, then:
#   0. raw nng PUB/SUB lossless rate, 200-byte messages (build/bench/nng_pubsub)
#   1. memory per idle WebSocket connection (RSS of strata-front, 1000 idle)
#   2. 1 client: the highest rate with no loss (doubling, then bisection)
#   3. 100 clients at 2,000 events/s each
#   4. 1,000 clients at 200 events/s each
#   4u. the same over a Unix socket (a second frontend, --listen unix:PATH:
#      the hop from a proxy on the same host)
#   5. the floor of 4 on this machine: the same fan-out (1,000 loopback TCP
#      connections, ~67 bursts/s of 600 bytes, epoll reader in another
#      process) with no Strata in it (build/bench/fanout_floor), 1 and 2
#      sending threads
# Events come from ws_driver calling io.vectored_read on resident pages.
# Prints the raw JSON of each run, the frontend's /api/v1/ws/stats, then a
# table with the ratios. Environment: WS_TRIAL_S (1-client trial, default 2),
# WS_SCEN_S (scenarios 3-4, default 5), WS_IDLE_N (default 1000), WS_FRONT_OPTS
# (more strata-front options, e.g. "--ws-send-threads 1").
set -u
BUILD=${1:-build}
BUILD=$(cd "$BUILD" && pwd) || exit 1
B=$BUILD/bench
for x in "$BUILD/stratad" "$BUILD/strata-front" "$B/ws_client" "$B/ws_driver" "$B/nng_pubsub" "$B/fanout_floor"; do
	[ -x "$x" ] || { echo "ws.sh: missing $x (make bench-ws builds them)" >&2; exit 1; }
done
command -v jq >/dev/null || { echo "ws.sh: needs jq" >&2; exit 1; }
TRIAL_S=${WS_TRIAL_S:-2}
SCEN_S=${WS_SCEN_S:-5}
IDLE_N=${WS_IDLE_N:-1000}
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"

T=$(mktemp -d /tmp/strata-wsbench.XXXXXX)
SD_PID= FR_PID= FU_PID= CL_PID=
cleanup() {
	for p in $CL_PID $FU_PID $FR_PID $SD_PID; do kill "$p" 2>/dev/null; done
	# nothing may outlive the bench: 5 s after SIGTERM, SIGKILL (and say so)
	for p in $CL_PID $FU_PID $FR_PID $SD_PID; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$p" 2>/dev/null && { echo "ws.sh: pid $p ignored SIGTERM for 5 s; SIGKILL" >&2; kill -9 "$p"; }
		wait "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# CPU seconds (user + system) a process has used so far
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0; }

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
CTL=ipc://$T/d/ctl.sock
"$BUILD/stratad" --data "$T/d" --sample-every 1 --rare-limit 0 >"$T/stratad.log" 2>&1 &
SD_PID=$!
for _ in $(seq 100); do [ -S "$T/d/ctl.sock" ] && break; sleep 0.05; done
# shellcheck disable=SC2086 # WS_FRONT_OPTS: more strata-front options, split on spaces
"$BUILD/strata-front" --data "$T/d" --listen "127.0.0.1:$PORT" ${WS_FRONT_OPTS:-} >"$T/front.log" 2>&1 &
FR_PID=$!
for _ in $(seq 100); do curl -sf "$URL/api/v1/ws/stats" >/dev/null && break; sleep 0.05; done
curl -sf "$URL/api/v1/ws/stats" >/dev/null || { echo "ws.sh: strata-front did not come up" >&2; cat "$T"/*.log >&2; exit 1; }

NPAGES=256
ALLOC=$("$B/ws_driver" --ctl "$CTL" --alloc $NPAGES) || { echo "ws.sh: page allocation failed" >&2; exit 1; }
FIRST=$(jq -r .first <<<"$ALLOC")

emit_dropped() { curl -sf "$URL/api/v1/storage/status" | jq '.event_counts["buffer-pool"].dropped'; }

# run_clients N RATE SECONDS OUT: N clients, the driver at RATE events/s.
# CONN (ws_client's connection options) and FRONT (the frontend's pid) say
# which frontend: the TCP one unless set.
CONN="--port $PORT" FRONT=
run_clients() {
	local n=$1 rate=$2 secs=$3 out=$4 FR_PID=${FRONT:-$FR_PID}
	rm -f "$T/ready"
	# shellcheck disable=SC2086
	"$B/ws_client" $CONN -n "$n" --ready-file "$T/ready" --max-s 120 >"$out.client" &
	CL_PID=$!
	for _ in $(seq 600); do [ -s "$T/ready" ] && break; sleep 0.05; done
	sleep 0.3
	local d0; d0=$(emit_dropped)
	local f0 c0 s0; f0=$(cpu_s $FR_PID); c0=$(cpu_s $CL_PID); s0=$(cpu_s $SD_PID)
	"$B/ws_driver" --ctl "$CTL" --first "$FIRST" --pages $NPAGES --rate "$rate" --duration-s "$secs" >"$out.driver"
	local f1 c1 s1; f1=$(cpu_s $FR_PID); c1=$(cpu_s $CL_PID); s1=$(cpu_s $SD_PID)
	kill -USR1 $CL_PID 2>/dev/null
	wait $CL_PID
	CL_PID=
	local d1; d1=$(emit_dropped)
	jq -c --slurpfile c "$out.client" --argjson ed $((d1 - d0)) \
		--argjson cpu "{\"frontend\": $(awk -v a="$f0" -v b="$f1" 'BEGIN{print b-a}'), \"client\": $(awk -v a="$c0" -v b="$c1" 'BEGIN{print b-a}'), \"stratad\": $(awk -v a="$s0" -v b="$s1" 'BEGIN{print b-a}')}" \
		'{driver: ., client: $c[0], emit_dropped: $ed, cpu_s: $cpu}' "$out.driver" >"$out"
}
# A lossless run also kept up: p99 latency under 100 ms. A rate the frontend
# does not sustain builds a backlog in the bus buffers that drains after the
# run (no loss, latency growing to the run's length): not lossless at that rate.
# Lost events of a run: seq jumps + lagged drops + gap seqs + emit-ring drops
# (stratad drops before numbering are invisible to seq).
# lagged drops and gap notices also show as seq jumps: take the larger count.
loss_of() { jq '([.client.missing, .client.lagged_dropped + .client.gap_seqs] | max) + .emit_dropped' "$1"; }
lossless() {
	jq -e '.client.missing == 0 and .client.lagged_dropped == 0 and .client.gap_seqs == 0
	       and .emit_dropped == 0 and .client.closed_by_server == 0 and .client.opened == .client.clients
	       and .driver.failed == 0 and .driver.achieved_ev_s >= 0.95 * .driver.target_ev_s
	       and .client.lat_us.p99 < 100000' "$1" >/dev/null
}
ws_stats() { curl -sf "$URL/api/v1/ws/stats" | jq -c '{sent: .messages_sent, dropped: .messages_dropped,
	lagged_notices, closed_slow, bridge_dropped: .bus.bridge_dropped,
	bus_seqs_lost: .bus.topics["buffer-pool"].seqs_lost, bus_gaps_repaired: .bus.topics["buffer-pool"].gaps_repaired,
	latency_us: {count: .latency_us.count, p50: .latency_us.p50, p99: .latency_us.p99, max: .latency_us.max}, fanout}'; }

echo "== strata-front on 127.0.0.1:$PORT, stratad data $T/d, pages $FIRST..$((FIRST + NPAGES - 1))"

echo "== 0. raw nng pub/sub, 200-byte messages over ipc://"
"$B/nng_pubsub" --size 200 --trial-ms 500 --start 50000 --steps 4 | tee "$T/nng.json"
NNG=$(jq .lossless_msg_s "$T/nng.json")

echo "== 1. memory per idle connection ($IDLE_N idle clients on /api/v1/ws/storage/buffer-pool)"
R0=$(rss_kb $FR_PID)
rm -f "$T/ready"
"$B/ws_client" --port "$PORT" -n "$IDLE_N" --ready-file "$T/ready" --max-s 120 >"$T/idle.client" &
CL_PID=$!
for _ in $(seq 600); do [ -s "$T/ready" ] && break; sleep 0.05; done
sleep 1.5
R1=$(rss_kb $FR_PID)
kill -USR1 $CL_PID; wait $CL_PID; CL_PID=
jq -c '{opened, failed, connect_ms}' "$T/idle.client"
IDLE_OPEN=$(jq .opened "$T/idle.client")
PER_CONN=$(( (R1 - R0) * 1024 / (IDLE_OPEN > 0 ? IDLE_OPEN : 1) ))
echo "rss before ${R0} KiB, with $IDLE_OPEN idle connections ${R1} KiB: $PER_CONN bytes per connection"
sleep 0.5

echo "== 2. one client, highest lossless rate (trials of ${TRIAL_S} s)"
rate=$(( NNG / 2 )); [ "$rate" -lt 5000 ] && rate=5000
good=0 bad=0 best=
for i in $(seq 7); do
	f=$T/one.$i.json
	run_clients 1 "$rate" "$TRIAL_S" "$f"
	if lossless "$f"; then ok=yes; good=$rate; best=$f; else ok=no; bad=$rate; fi
	jq -c --arg ok $ok '{rate: .driver.target_ev_s, driven: .driver.achieved_ev_s, lossless: $ok,
	    received: .client.events, missing: .client.missing, lagged: .client.lagged_dropped,
	    gap: .client.gap_seqs, emit_dropped, lat_us: .client.lat_us}' "$f"
	if [ "$bad" = 0 ]; then rate=$(( rate * 2 ));
	elif [ "$good" = 0 ]; then rate=$(( rate / 2 ));
	else
		[ $(( (bad - good) * 100 / good )) -lt 8 ] && break
		rate=$(( (good + bad) / 2 ))
	fi
done
ws_stats

echo "== 3. 100 clients x 2000 events/s (${SCEN_S} s)"
run_clients 100 2000 "$SCEN_S" "$T/s100.json"
jq -c . "$T/s100.json"
ws_stats
echo "== 4. 1000 clients x 200 events/s (${SCEN_S} s)"
run_clients 1000 200 "$SCEN_S" "$T/s1000.json"
jq -c . "$T/s1000.json"
ws_stats
echo "== 4u. 1000 clients x 200 events/s over a Unix socket (a second strata-front, --listen unix:; ${SCEN_S} s)"
"$BUILD/strata-front" --data "$T/d" --listen "unix:$T/front.sock" ${WS_FRONT_OPTS:-} >"$T/front-unix.log" 2>&1 &
FU_PID=$!
for _ in $(seq 100); do curl -sf --unix-socket "$T/front.sock" http://x/readyz >/dev/null && break; sleep 0.05; done
CONN="--unix $T/front.sock" FRONT=$FU_PID run_clients 1000 200 "$SCEN_S" "$T/s1000u.json"
jq -c . "$T/s1000u.json"
kill $FU_PID; wait $FU_PID 2>/dev/null; FU_PID=
echo "== 5. fan-out floor: 1000 loopback TCP connections, 600-byte bursts at 67/s, no Strata (${SCEN_S} s)"
for th in 1 2; do
	"$B/fanout_floor" -n 1000 --bytes 600 --hz 67 --seconds "$SCEN_S" --threads $th | tee "$T/floor$th.json"
done
EVB=$(jq -r '.client.event_bytes | "\(.avg) (\(.min)..\(.max))"' "$T/s100.json")

echo
echo "Events: buffer-pool PageHit/PagePinned/PageUnpinned (+PoolStats 1/s); WebSocket message bytes avg $EVB"
printf '%-28s %12s %12s %10s %8s %8s %9s\n' scenario "offered ev/s" "deliv. ev/s" loss "p50 ms" "p99 ms" "max ms"
row() { # name file
	jq -r --arg name "$1" --argjson loss "$(loss_of "$2")" '
	  [$name, (.driver.achieved_ev_s * .client.opened | floor | tostring),
	   (.client.delivered_per_s | floor | tostring), ($loss | tostring),
	   (.client.lat_us.p50 / 1000 * 100 | round / 100 | tostring),
	   (.client.lat_us.p99 / 1000 * 100 | round / 100 | tostring),
	   (.client.lat_us.max / 1000 * 100 | round / 100 | tostring)] | @tsv' "$2" |
	  awk -F'\t' '{printf "%-28s %12s %12s %10s %8s %8s %9s\n", $1, $2, $3, $4, $5, $6, $7}'
}
if [ -n "$best" ]; then row "1 client @ $good ev/s" "$best"; else echo "1 client: no lossless rate found (lowest tried $rate ev/s)"; fi
row "100 clients x 2000 ev/s" "$T/s100.json"
row "1000 clients x 200 ev/s" "$T/s1000.json"
row "1000 x 200 ev/s, unix socket" "$T/s1000u.json"
echo
echo "raw nng pub/sub lossless (200 B, ipc://, same run): $NNG msg/s"
awk -v g="$good" -v n="$NNG" 'BEGIN { r = (n > 0) ? g / n : 0;
	printf "1 client lossless / raw nng:  %.2f  (target >= 0.70: %s)\n", r, (r >= 0.7) ? "met" : "NOT met" }'
for s in s100 s1000 s1000u; do
	jq -r --arg s "$s" '"p99 \($s):  \(.client.lat_us.p99 / 1000) ms  (target < 5 ms: \(if .client.lat_us.p99 < 5000 then "met" else "NOT met" end))"' "$T/$s.json"
done
F1=$(jq .lat_us.p99 "$T/floor1.json"); F2=$(jq .lat_us.p99 "$T/floor2.json")
FB=$(( F1 < F2 ? F1 : F2 ))
jq -r --argjson f1 "$F1" --argjson f2 "$F2" --argjson fb "$FB" '"fan-out floor p99 (no Strata, same machine): \($f1 / 1000) ms with 1 sending thread, \($f2 / 1000) ms with 2; s1000 p99 / best floor p99 = \(.client.lat_us.p99 / $fb * 100 | round / 100)"' "$T/s1000.json"
for s in s100 s1000; do
	jq -r --arg s "$s" '"CPU during \($s) (\(.driver.elapsed_s) s): frontend \(.cpu_s.frontend) s, client \(.cpu_s.client) s, stratad \(.cpu_s.stratad) s; frontend \(.cpu_s.frontend * 1e6 / (.client.events + 1) | floor) us per delivered event"' "$T/$s.json"
done
awk -v b="$PER_CONN" 'BEGIN { printf "memory per idle connection:  %.1f KiB  (target < 16 KiB: %s)\n", b / 1024, (b < 16384) ? "met" : "NOT met" }'
