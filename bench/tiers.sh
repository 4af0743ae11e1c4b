#!/usr/bin/env bash
# Tier codecs as core/tiered uses them (per page, per-thread contexts) vs
# the libraries' own benchmarks on the same data in blocks of the same size
# (`lz4 -b1 -B4028`, `zstd -b3 -B4028`; Debian packages lz4 and zstd), and
# read latency per tier. Target: ours / theirs >= 0.9 for each figure.
# Usage: bench/tiers.sh [BUILD]   Environment: BENCH_DIR, BENCH_SECONDS (3),
# BENCH_PAGES (4096).
set -u
BUILD=${1:-build}
DIR=${BENCH_DIR:-/var/tmp/strata-bench}
SECS=${BENCH_SECONDS:-3}
PAGES=${BENCH_PAGES:-4096}
mkdir -p "$DIR"
CORPUS="$DIR/tier-corpus.bin"
[ -x "$BUILD/bench/tier_codec" ] || make --no-print-directory BUILD="$BUILD" "$BUILD/bench/tier_codec" >/dev/null
out=$("$BUILD/bench/tier_codec" "$CORPUS" "$PAGES" "$SECS" "$DIR") || { echo "$out"; exit 1; }
echo "$out"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p"; }
# "<level>#<file> : N -> M (ratio), C MB/s , D MB/s": the last two MB/s figures
cli_speeds() { tr '\r' '\n' | grep 'MB/s' | tail -1 | grep -o '[0-9.]* *MB/s' | grep -o '^[0-9.]*' | xargs; }
for c in lz4 zstd; do
  line=$(grep "codec=$c " <<<"$out")
  oc=$(field compress_mbps <<<"$line"); od=$(field decompress_mbps <<<"$line")
  if command -v "$c" >/dev/null; then
    if [ "$c" = lz4 ]; then speeds=$(lz4 -b1 -B4028 -i"$SECS" "$CORPUS" 2>&1 | cli_speeds)
    else speeds=$(zstd -b3 -B4028 -i"$SECS" "$CORPUS" 2>&1 | cli_speeds); fi
    tc=${speeds%% *}; td=${speeds##* }
    echo "$c: compress ours=${oc} MB/s cli=${tc} MB/s ratio=$(ratio "$oc" "$tc");" \
         "decompress ours=${od} MB/s cli=${td} MB/s ratio=$(ratio "$od" "$td")"
  else
    echo "$c: CLI not installed (apt-get install $c)"
  fi
done
rm -f "$CORPUS"
