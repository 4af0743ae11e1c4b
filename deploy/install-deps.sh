#!/usr/bin/env bash
# Installs the Debian packages Strata needs to build and test. Idempotent:
# only missing packages are installed. Runs as root, or through sudo.
# Usage: deploy/install-deps.sh [--bench]
set -euo pipefail

pkgs=(build-essential pkg-config liburing-dev libnng-dev libmsgpack-dev
      libjansson-dev libwebsockets-dev libzstd-dev liblz4-dev libcriterion-dev
      libisal-dev libssl-dev python3 python3-websockets python3-pytest curl ca-certificates
      nginx)  # nginx: tests/integration/test_deploy_lb.py runs deploy/nginx.conf
# The GraphQL conformance test runs graphql-js under Node (any Node >= 18).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  pkgs+=(nodejs npm)
fi
if [ "${1:-}" = "--bench" ]; then
  pkgs+=(fio librocksdb-dev libleveldb-dev lz4 zstd)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
# Debian starts nginx's own service (port 80) on install: the tests run
# their own nginx, so a service only just installed for them is stopped.
if [[ " ${missing[*]} " == *" nginx "* ]] && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now nginx.service >/dev/null 2>&1 || true
fi
