#!/usr/bin/env bash
# bench/columnar.sh — Strata columnar tables vs DuckDB (single-threaded) on the
# same generated data (bench/columnar_bench.c, bench/duckdb/columnar.mjs).
#   bash bench/columnar.sh [ROWS] [REPS]      (default 10000000 5)
# Needs `make` (build/bench/columnar_bench) and Node.js with npm; installs
# @duckdb/node-api into bench/duckdb/node_modules on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-10000000}
REPS=${2:-5}
BUILD=${BUILD:-build}
make --no-print-directory "$BUILD/bench/columnar_bench" >/dev/null
if [ ! -d bench/duckdb/node_modules/@duckdb/node-api ]; then
  (cd bench/duckdb && npm install --no-audit --no-fund >/dev/null)
fi
strata=$("$BUILD/bench/columnar_bench" --rows "$ROWS" --reps "$REPS")
duck=$(cd bench/duckdb && node columnar.mjs "$ROWS" "$REPS")
/usr/bin/python3 - "$strata" "$duck" <<'PY'
import json, sys
s, d = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"rows: {s['rows']:,}   (DuckDB threads=1; warm, best of N; ratio = DuckDB time / Strata time, >1 means Strata is faster)")
print(f"{'':28}{'Strata':>14}{'DuckDB':>14}{'ratio':>8}")
print(f"{'load (s)':28}{s['load_s']:>14.2f}{d['load_s']:>14.2f}{d['load_s']/s['load_s']:>8.2f}")
print(f"{'stored bytes (MB)':28}{s['stored_bytes']/1e6:>14.1f}{d['stored_bytes']/1e6:>14.1f}{d['stored_bytes']/s['stored_bytes']:>8.2f}")
ok = True
for q, dq in d['queries'].items():
    sq = s['queries'][q]
    same = abs(float(sq['value']) - float(dq['value'])) <= 1e-9 * max(1.0, abs(float(dq['value'])))
    ok &= same
    print(f"{q + ' (Mrows/s)':28}{sq['rows_per_s']/1e6:>14.0f}{dq['rows_per_s']/1e6:>14.0f}"
          f"{dq['seconds']/sq['seconds']:>8.2f}{'' if same else '  ANSWERS DIFFER: %s vs %s' % (sq['value'], dq['value'])}")
    sc = s['queries'].get(q + '_scalar')
    if sc:
        print(f"{'  scalar kernels':28}{sc['rows_per_s']/1e6:>14.0f}{'':>14}{dq['seconds']/sc['seconds']:>8.2f}")
print("simd kernel calls:", s['simd_calls'])
sys.exit(0 if ok else 1)
PY
