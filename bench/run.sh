#!/usr/bin/env bash
# `make bench`: builds the release binary once, then runs the sections in BENCH_SECTIONS,
# each its own script (which also runs alone) with its own temporary directory, servers and
# anchor measured in the same run, and ends with one summary line of the issue-13 figures
# against their goals:
#   packs   GET one pack vs nginx (alternating rounds), list at a random page at 10,000
#           and 100,000 packs, RSS at 100,000, order->active p50/p90, cold start and
#           SIGTERM exit (bench/packs.sh);
#   orders  durable orders through the API vs SQLite's one-INSERT-per-transaction rate on
#           the same file system, every acknowledged order checked in the store
#           (bench/orders.sh);
#   certs   client-certificate signing with an RSA-2048 client CA vs `openssl speed -multi 2`
#           (bench/certs.sh);
#   acme    ACME issuance against Pebble vs lego (bench/acme.sh; not run by default);
#   pg      PostgreSQL: pgbench, orders and GET through the API on SQLite and PostgreSQL,
#           two nodes (bench/pg.sh; not run by default).
# Load comes from wrk (bench/wrk.lua) everywhere. See bench/README.md for how to read it.
#
# Knobs (environment): BENCH_SECTIONS (default "packs orders certs"), BUILD (default
# build), BENCH_KEEP_TMP=1 (keep the temporary directories), and each section's own (its
# script's header and bench/README.md).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
sections=${BENCH_SECTIONS:-packs orders certs}
for section in $sections; do
  case $section in
    packs | orders | certs | acme | pg) ;;
    *) say "unknown section '$section' (expected packs, orders, certs, acme or pg)"; exit 1 ;;
  esac
done
command -v wrk >/dev/null || { say "'wrk' is required (scripts/deps.sh installs it)"; exit 1; }

build_release

export BENCH_SUMMARY=$tmp/summary # the sections add their figures (bench/lib.sh)
: >"$BENCH_SUMMARY"
rc=0
for section in $sections; do
  section_rc=0
  BENCH_SKIP_BUILD=1 run_child bash "$root/bench/$section.sh" || section_rc=$?
  if [ "$section_rc" -ne 0 ]; then
    say "the $section section failed (exit $section_rc)"
    rc=$section_rc
  fi
done
echo
summary_line
exit "$rc"
