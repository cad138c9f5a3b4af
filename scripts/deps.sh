#!/usr/bin/env bash
# Installs what tlsward needs to build and test on Debian 12: the -dev packages through
# apt-get (only when one is missing, and only as root), then the e2e suite's npm packages
# from the committed lockfile.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake pkg-config clang
          libmicrohttpd-dev libjansson-dev libssl-dev openssl libsqlite3-dev sqlite3
          libc-ares-dev libcurl4-openssl-dev libpq-dev libcmocka-dev
          libldns-dev   # RFC 2136 updates with TSIG (src/dns/publish.c)
          liblz4-dev    # the rendered-pack cache's compressed texts (src/api/pack_cache.c)
          knot knot-dnsutils unbound  # tests: the DNS server tlsward updates, a resolver in front
          dnsmasq-base  # the DNS server test_dcv starts on a loopback port
          faketime      # e2e renewal: the server run with its clock moved ahead
          nginx curl    # e2e: nginx serves a pack's deployed files, curl fetches through it
          pebble lego   # unit and e2e: a real ACME test CA; make bench: the ACME client compared against
          postgresql postgresql-contrib  # tests: throwaway PostgreSQL 15 clusters (initdb, postgres, psql); bench: pgbench
          wrk           # make bench: the HTTP load generator of every section
          nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node may come from outside Debian (e.g. a newer build already on PATH): keep it.
if command -v node >/dev/null && command -v npm >/dev/null; then
  tmp=()
  for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || tmp+=("$p"); done
  missing=("${tmp[@]+"${tmp[@]}"}")
fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: missing packages: ${missing[*]} (run as root or install them)" >&2
    exit 1
  fi
  echo "deps.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ "${1:-}" != "--no-npm" ] && [ -f tests/e2e/package-lock.json ]; then
  if [ ! -d tests/e2e/node_modules ] || [ tests/e2e/package-lock.json -nt tests/e2e/node_modules ]; then
    (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
    touch tests/e2e/node_modules
  fi
fi
