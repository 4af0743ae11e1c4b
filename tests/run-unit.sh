#!/usr/bin/env bash
# Runs each criterion unit-test binary; fails if any fails. Each binary runs
# its tests in separate processes with a timeout (criterion's default).
set -u
fail=0
for t in "$@"; do
  echo "== $t"
  supp=""
  case "$t" in
    */test_ipc) supp="suppressions=$(cd "$(dirname "$0")" && pwd)/lsan-nng.supp" ;;
  esac
  LSAN_OPTIONS="${LSAN_OPTIONS:-}${LSAN_OPTIONS:+:}$supp" "$t" --timeout 120 || { echo "FAILED: $t"; fail=1; }
done
exit $fail
