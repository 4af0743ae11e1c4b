#!/usr/bin/env bash
# Runs every benchmark once and prints each figure beside its anchor, as a
# ratio measured in the same run. Not a test: nothing here passes or fails
# on speed. Usage: bench/run.sh [BUILD]   (make bench runs it)
# Environment: BENCH_DIR (default /var/tmp/strata-bench: must not be tmpfs,
# the disk benchmark uses O_DIRECT), BENCH_SECONDS (default 5), BENCH_GIB (1).
set -u
BUILD=${1:-build}
DIR=${BENCH_DIR:-/var/tmp/strata-bench}
SECS=${BENCH_SECONDS:-5}
GIB=${BENCH_GIB:-1}
mkdir -p "$DIR"

echo "== CRC32C: page checksum path vs ISA-L crc32_iscsi (target >= 0.8x)"
"$BUILD/bench/crc32c_bench"

echo
echo "== Buffer pool hits: fetch + release of resident pages (target >= 10M/s/thread)"
"$BUILD/bench/bufpool_hits" "$SECS"

echo
echo "== Random 4 KiB O_DIRECT reads, ${GIB} GiB file: disk manager (io_uring) vs fio (target >= 0.9x)"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
for qd in 1 32; do
  line=$("$BUILD/bench/disk_randread" "$DIR" "$GIB" "$qd" "$SECS" 2>/dev/null | grep '^bench=')
  ours=$(sed -n 's/.* iops=\([0-9]*\).*/\1/p' <<<"$line")
  if command -v fio >/dev/null; then
    fio_iops=$(fio --name=randread --filename="$DIR/data.db" --rw=randread --bs=4k --direct=1 \
      --ioengine=io_uring --iodepth="$qd" --runtime="$SECS" --time_based --readonly \
      --output-format=terse --terse-version=3 2>/dev/null | awk -F';' '{print $8}')
  else
    fio_iops=0
  fi
  echo "qd=$qd strata_iops=${ours:-0} fio_iops=${fio_iops:-0} ratio=$(ratio "${ours:-0}" "${fio_iops:-0}")   [$line]"
done
[ -n "$(command -v fio)" ] || echo "(fio not installed: make bench-deps)"

echo
echo "== LSM: db_bench-style workloads, Strata core/lsm vs RocksDB and LevelDB, one process (target >= 1.0x the faster)"
if [ -x "$BUILD/bench/lsm_bench" ]; then
  "$BUILD/bench/lsm_bench" --dir="$DIR/lsm" ${LSM_BENCH_ARGS:-}
else
  echo "(lsm_bench not built: make bench-deps && make $BUILD/bench/lsm_bench)"
fi

echo
echo "== Tier codecs per page vs lz4 -b / zstd -b, and read latency per tier (target >= 0.9x)"
bash bench/tiers.sh "$BUILD" || echo "(tiers bench failed)"

echo
echo "== Columnar tables vs DuckDB (threads=1), ${COLUMNAR_ROWS:-10000000} rows (target >= 1.0x on scans and aggregates)"
BUILD="$BUILD" bash bench/columnar.sh "${COLUMNAR_ROWS:-10000000}" "${COLUMNAR_REPS:-5}" || echo "(columnar bench failed)"

echo
echo "== WebSocket fan-out: stratad -> one frontend -> C clients, vs raw nng pub/sub (bench/README-ws.md)"
bash bench/ws.sh "$BUILD" || echo "(ws bench failed)"
