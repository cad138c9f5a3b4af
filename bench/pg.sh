#!/usr/bin/env bash
# The PostgreSQL section of `make bench` (issue 12); also runs alone:
#   bash bench/pg.sh
# Starts a throwaway PostgreSQL 15 cluster (initdb and postgres as the `postgres` user, a
# loopback port picked now, default settings: fsync and synchronous_commit on) and
# measures, in this run and on this machine:
#   1. PostgreSQL's own pgbench simple-update TPS (pgbench -i, then -c 8 -j 2): the
#      baseline of what this disk and CPU give durable single-row transactions;
#   2. durable orders/s (POST certificate-pack orders; each answered only after its
#      commit) and GET one pack req/s (keep-alive) through the API, with the store in
#      SQLite and in PostgreSQL, one `serve --no-worker` node;
#   3. the same on PostgreSQL with two `serve --no-worker` nodes (each its own --data dir,
#      one master key through TLSWARD_MASTER_KEY_FILE), the load split over both.
# Load comes from wrk (C; bench/wrk.lua sets the request and prints a JSON line): always
# two wrk processes of BENCH_PG_CONCURRENCY/2 connections each, both at the one node or
# one per node, so the client side costs the same in every row. Prints a table (with the
# cluster's WAL syncs per request, which show whether commits were grouped) and one
# summary line of ratios. Nothing is asserted about time. See bench/README.md.
#
# Knobs (environment):
#   BENCH_PG_SECS         seconds per measurement, pgbench's -T too (default 10)
#   BENCH_PG_CONCURRENCY  connections in flight, split over two wrk processes (default 32)
#   BENCH_PG_CLIENTS      pgbench -c (default 8); BENCH_PG_JOBS pgbench -j (default 2)
#   BUILD                 build directory of the release binary (default build)
#   BENCH_SKIP_BUILD      1: do not run `make build` (run.sh has just done it)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
secs=${BENCH_PG_SECS:-10}
concurrency=${BENCH_PG_CONCURRENCY:-32}
pgb_clients=${BENCH_PG_CLIENTS:-8}
pgb_jobs=${BENCH_PG_JOBS:-2}
pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
zone_name=bench.example

for v in secs concurrency pgb_clients pgb_jobs; do
  [[ ${!v} =~ ^[1-9][0-9]{0,4}$ ]] || { say "$v: expected a positive integer, got '${!v}'"; exit 1; }
done
[ "$concurrency" -ge 2 ] || { say "BENCH_PG_CONCURRENCY: at least 2 (two wrk processes)"; exit 1; }
# One run of orders goes to one zone, whose advanced quota is at most 100,000 packs.
[ "$secs" -le 60 ] || { say "BENCH_PG_SECS: at most 60"; exit 1; }
for tool in node curl wrk; do
  command -v "$tool" >/dev/null || { say "'$tool' is required (scripts/deps.sh installs it)"; exit 1; }
done
for b in initdb postgres pg_isready pgbench psql; do
  [ -x "$pg_bin/$b" ] || { say "$pg_bin/$b is missing: install PostgreSQL 15 (scripts/deps.sh)"; exit 1; }
done

# --- cleanup: wrk processes, the API nodes, the cluster, then lib.sh's ------------------
wrk_pids=()
node_pids=()
count_wal=0 # wrk2 also counts the cluster's WAL syncs (PostgreSQL rows)
pg_dir=
pg_runner= # the runuser (or postgres) process started here
pg_pid=    # the postmaster
stop_wrks() {
  local p
  for p in "${wrk_pids[@]}"; do stop_pid "$p" 20; done
  wrk_pids=()
}
# Also lib.sh's server_pid: a node interrupted while starting is not in node_pids yet.
stop_nodes() {
  local p
  stop_server
  for p in "${node_pids[@]}"; do stop_pid "$p" 100; done
  node_pids=()
}
# SIGINT is PostgreSQL's fast shutdown (SIGTERM would wait for the nodes' pooled
# connections); after 10 s SIGKILL, and the shared-memory segment a killed postmaster
# leaves is removed. Then the cluster's directory goes.
stop_pg() {
  # Interrupted while it was starting: the postmaster may be up without pg_pid set yet.
  if [ -z "$pg_pid" ] && [ -n "$pg_runner" ] && [ -s "$pg_dir/data/postmaster.pid" ]; then
    pg_pid=$(head -n 1 "$pg_dir/data/postmaster.pid")
  fi
  if [ -n "$pg_pid" ]; then
    local shmid
    shmid=$(sed -n '7s/^ *[0-9][0-9]* *\([0-9][0-9]*\) *$/\1/p' "$pg_dir/data/postmaster.pid" 2>/dev/null || true)
    kill -INT "$pg_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$pg_pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pg_pid" 2>/dev/null; then
      local kids
      kids=$(pgrep -P "$pg_pid" || true)
      # shellcheck disable=SC2086 # a list of pids
      kill -KILL "$pg_pid" $kids 2>/dev/null || true
      [ -z "$shmid" ] || ipcrm -m "$shmid" 2>/dev/null || true
    fi
    pg_pid=
  fi
  if [ -n "$pg_runner" ]; then
    stop_pid "$pg_runner" 20
    pg_runner=
  fi
  if [ -n "$pg_dir" ]; then
    rm -rf "$pg_dir"
    pg_dir=
  fi
}
pg_cleanup() {
  stop_wrks
  stop_nodes
  stop_pg
  cleanup
}
trap pg_cleanup EXIT

# as_pg CMD...: runs CMD as the `postgres` user when this script is root (initdb refuses
# root), else as ourselves.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}
exec_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    exec runuser -u postgres -- "$@"
  fi
  exec "$@"
}
free_port() { node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'; }

# start_pg: initdb and postgres in a temporary directory the cluster's user owns (lib.sh's
# $tmp is 0700 root's). Default settings but the address, port and socket directory.
# Sets pg_port, pg_url (no password: trust authentication on loopback).
start_pg() {
  pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/tlsward-bench-pg.XXXXXX")
  [ "$(id -u)" -ne 0 ] || chown postgres: "$pg_dir"
  say "PostgreSQL: initdb in $pg_dir"
  (cd "$pg_dir" && LC_ALL=C as_pg "$pg_bin/initdb" -D "$pg_dir/data" --auth=trust --locale=C -E UTF8 \
    -U postgres --no-instructions) >"$tmp/initdb.log" 2>&1 || {
    cat "$tmp/initdb.log" >&2; say "initdb failed"; return 1; }
  local try
  for try in 1 2 3; do # the free port may be taken before postgres binds it
    pg_port=$(free_port)
    # A direct child (runuser forks it and stays as its parent), not pg_ctl's daemon.
    (cd "$pg_dir" && LC_ALL=C exec_pg "$pg_bin/postgres" -D "$pg_dir/data" -k "$pg_dir" -p "$pg_port" \
      -c listen_addresses=127.0.0.1) >"$tmp/postgres.log" 2>&1 &
    pg_runner=$!
    for _ in $(seq 1 300); do
      if "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -t 2; then
        pg_pid=$(head -n 1 "$pg_dir/data/postmaster.pid")
        pg_url=postgresql://postgres@127.0.0.1:$pg_port
        return 0
      fi
      kill -0 "$pg_runner" 2>/dev/null || break
      sleep 0.1
    done
    say "postgres did not start on port $pg_port (try $try); its log:"
    tail -n 5 "$tmp/postgres.log" >&2
    wait "$pg_runner" 2>/dev/null || true
    pg_runner=
  done
  return 1
}

# pg_ticks: CPU ticks of the whole cluster: the postmaster's own and those of the backends
# it has reaped (cutime/cstime), plus its live children's. A backend's ticks move from the
# second sum to the first when it exits, so the total only grows.
pg_ticks() {
  local p files=()
  for p in $(pgrep -P "$pg_pid" || true); do
    [ -r "/proc/$p/stat" ] && files+=("/proc/$p/stat")
  done
  # Fields counted from the end: the command name (field 2) may contain spaces.
  { awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$pg_pid/stat"
    [ ${#files[@]} -eq 0 ] || awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "${files[@]}"
  } 2>/dev/null | awk '{ t += $1 } END { print t + 0 }'
}

# wal_syncs: the cluster's WAL syncs so far (pg_stat_wal), after 1.5 s: a backend
# publishes its statistics once idle and at most once a second.
wal_syncs() {
  sleep 1.5
  "$pg_bin/psql" -X -A -t -d "$pg_url/postgres" -c 'SELECT wal_sync FROM pg_stat_wal'
}

# --- load: two wrk processes at once ----------------------------------------------------
# wrk2 NAME METHOD BODY URL_A URL_B: one wrk at each URL (the same URL twice for one
# node), concurrency/2 connections and one thread each, for $secs. Sets w_rate (answers
# 2xx per second, summed), w_ok (2xx answers), w_p50/w_p99 (the worse of the two), w_bad
# (non-2xx + errors), w_cores (CPU split), w_syncs (the cluster's WAL syncs per 2xx
# answer when count_wal=1, else -).
wrk2() {
  local name=$1 method=$2 body=$3 url_a=$4 url_b=$5 half=$((concurrency / 2))
  local srv0 srv1 pg0 pg1 busy0 busy1 tot0 tot1 cli0 cli1 t0 t1 rc=0 i wal0=0 wal1=0
  [ "$count_wal" = 0 ] || wal0=$(wal_syncs)
  srv0=$(proc_ticks "${node_pids[@]}")
  pg0=$(pg_ticks)
  children_cpu cli0
  read -r busy0 tot0 < <(sys_ticks)
  t0=$(date +%s.%N)
  i=0
  for url in "$url_a" "$url_b"; do
    i=$((i + 1))
    BENCH_TOKEN=$token BENCH_METHOD=$method BENCH_BODY_FILE=$body \
      wrk -t 1 -c "$half" -d "${secs}s" --timeout 30s -s "$root/bench/wrk.lua" "$url" \
      >"$tmp/wrk-$name-$i.out" 2>&1 &
    wrk_pids+=($!)
  done
  for p in "${wrk_pids[@]}"; do wait "$p" || rc=$?; done
  wrk_pids=()
  t1=$(date +%s.%N)
  read -r busy1 tot1 < <(sys_ticks)
  children_cpu cli1
  srv1=$(proc_ticks "${node_pids[@]}" || echo "$srv0")
  pg1=$(pg_ticks)
  local f lines=()
  for f in "$tmp/wrk-$name-1.out" "$tmp/wrk-$name-2.out"; do
    local line
    line=$(grep '^{"requests"' "$f" | tail -n 1 || true)
    if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
      cat "$f" >&2
      say "$name: wrk failed (exit $rc)"
      return 1
    fi
    lines+=("$line")
  done
  read -r w_rate w_p50 w_p99 w_bad w_ok < <(node -e '
    const r = process.argv.slice(1).map((l) => JSON.parse(l));
    const ok = r.reduce((a, x) => a + x.requests - x.non2xx, 0);
    const rate = r.reduce((a, x) => a + (x.requests - x.non2xx) / x.seconds, 0);
    const bad = r.reduce((a, x) => a + x.non2xx + x.errors, 0);
    console.log(rate.toFixed(1), Math.max(...r.map((x) => x.p50_ms)).toFixed(2),
      Math.max(...r.map((x) => x.p99_ms)).toFixed(2), bad, ok);' "${lines[@]}")
  local wall
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
  w_cores=$(awk -v s=$((srv1 - srv0)) -v p=$((pg1 - pg0)) -v c="$(awk -v a="$cli0" -v b="$cli1" 'BEGIN { print b - a }')" \
    -v b=$((busy1 - busy0)) -v t=$((tot1 - tot0)) -v secs="$wall" -v hz="$hz" -v ncpu="$ncpu" \
    'BEGIN { busy = (t > 0 ? ncpu * b / t : 0); srv = s / hz / secs; pg = p / hz / secs; cli = c / secs;
             other = busy - srv - pg - cli; if (other < 0) other = 0;
             printf "tlsward %.2f, postgres %.2f, wrk %.2f, other %.2f", srv, pg, cli, other }')
  w_syncs=-
  if [ "$count_wal" = 1 ]; then
    wal1=$(wal_syncs)
    w_syncs=$(awk -v a="$wal0" -v b="$wal1" -v n="$w_ok" 'BEGIN { if (n > 0) printf "%.2f", (b - a) / n; else print "-" }')
  fi
  if [ "$w_bad" != 0 ]; then
    any_failures=1
    say "$name: $w_bad requests failed; wrk's report:"
    cat "$tmp/wrk-$name-1.out" >&2
  fi
}

# --- tlsward nodes ------------------------------------------------------------------------
# start_node DATA LOG [ARGS...]: `serve --no-worker` (lib.sh's start_server: free loopback
# port, no rate limit); appends its pid to node_pids and sets base.
start_node() {
  start_server "$@" --no-worker
  node_pids+=("$server_pid")
}
# api_post URL JSON FILE: POST; prints .result.id, fails unless HTTP 200 and success.
api_post() {
  curl -sS -o "$3" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$2" "$1" || return 1
  json "$3" 'j.success === true ? j.result.id : undefined' || { head -c 500 "$3" >&2; echo >&2; say "POST $1 failed"; return 1; }
}

# bench_zone LABEL DATA [DB_ARGS...]: through the node at $base, a new zone (its advanced
# quota raised to the largest, 100,000 packs, so that one run of orders fits), the order
# body for it, and one pack in it. Sets z_body (the body's file), z_orders_path and
# z_get_path (below /client/v4).
bench_zone() {
  local label=$1 data=$2 name=$1.$zone_name account zone pack
  shift 2
  account=$(json "$tmp/creds.json" j.account_id)
  zone=$(api_post "$base/zones" "{\"name\":\"$name\",\"account\":{\"id\":\"$account\"}}" "$tmp/zone-$label.json")
  "$bin" zone quota --data "$data" "$@" "$zone" --advanced 100000 >/dev/null 2>"$tmp/quota-$label.log" || {
    cat "$tmp/quota-$label.log" >&2; say "$label: zone quota failed"; return 1; }
  # Advanced, two hosts, txt: the same body every time (the API takes duplicates).
  z_body=$tmp/order-$label.json
  printf '{"certificate_authority":"google","hosts":["%s","o.%s"],"type":"advanced","validation_method":"txt","validity_days":90}' \
    "$name" "$name" >"$z_body"
  z_orders_path=/zones/$zone/ssl/certificate_packs/order
  pack=$(api_post "$base$z_orders_path" "@$z_body" "$tmp/pack-$label.json")
  z_get_path=/zones/$zone/ssl/certificate_packs/$pack
}

# add_row NODES REQUEST: a table row and a CPU row from the last wrk2.
add_row() {
  rows+=("$(printf '  %-22s %-10s %10s %8s %8s %6s %9s' "$1" "$2" "$w_rate" "$w_p50" "$w_p99" "$w_bad" "$w_syncs")")
  cpu_rows+=("$(printf '  %-22s %-10s %s' "$1" "$2" "$w_cores")")
}

# check_orders LABEL URL_BASE: every acknowledged order of the last wrk2 is in the zone
# (its pack count, from any node, is at least the 2xx answers plus the first pack; orders
# still in flight when wrk stopped may have been committed too).
check_orders() {
  curl -sS -o "$tmp/count-$1.json" -H "Authorization: Bearer $token" "$2${z_orders_path%/order}?status=all&per_page=5" || return 1
  local n
  n=$(json "$tmp/count-$1.json" 'j.success === true ? j.result_info.total_count : undefined') || {
    head -c 500 "$tmp/count-$1.json" >&2; echo >&2; say "$1: listing the packs failed"; return 1; }
  if [ "$n" -lt $((w_ok + 1)) ]; then
    say "$1: $w_ok orders acknowledged but only $n packs in the zone"
    any_failures=1
  fi
}

# backend_rows LABEL DATA [DB_ARGS...]: init a store, one node, a zone with one pack, then
# orders and GET with wrk. Sets b_orders b_get and adds table rows.
rows=()
cpu_rows=()
any_failures=0
backend_rows() {
  local label=$1 data=$2
  shift 2
  "$bin" init --data "$data" "$@" --json >"$tmp/creds.json" 2>"$tmp/init-$label.log" || {
    cat "$tmp/init-$label.log" >&2; say "$label: init failed"; return 1; }
  token=$(json "$tmp/creds.json" j.token)
  start_node "$data" "$tmp/server-$label.log" "$@"
  bench_zone "${label,,}" "$data" "$@"
  local u_orders=$base$z_orders_path u_get=$base$z_get_path

  say "$label, one node: orders, $concurrency in flight, ${secs}s"
  wrk2 "$label-orders" POST "$z_body" "$u_orders" "$u_orders"
  b_orders=$w_rate
  check_orders "$label" "$base"
  add_row "$label, 1 node" "orders"
  say "$label, one node: GET pack, $concurrency in flight, ${secs}s"
  wrk2 "$label-get" GET "" "$u_get" "$u_get"
  b_get=$w_rate
  add_row "$label, 1 node" "GET pack"
}

build_release
has_database=0
"$bin" serve --help 2>&1 | grep -q -- '--database' && has_database=1

start_pg
pg_version=$("$pg_bin/postgres" --version | sed -n 's/^postgres (PostgreSQL) \([^ ]*\).*/\1/p')
"$pg_bin/psql" -q -X -v ON_ERROR_STOP=1 -d "$pg_url/postgres" -c 'CREATE DATABASE pgbench' -c 'CREATE DATABASE tlsward' \
  >"$tmp/psql.log" 2>&1 || { cat "$tmp/psql.log" >&2; say "CREATE DATABASE failed"; exit 1; }
pg_settings=$("$pg_bin/psql" -X -A -t -d "$pg_url/postgres" -c \
  "SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'wal_sync_method', 'shared_buffers', 'full_page_writes')")

# --- 1. pgbench ---------------------------------------------------------------------------
say "pgbench -i (scale 1), then simple-update -c $pgb_clients -j $pgb_jobs -T $secs"
"$pg_bin/pgbench" -h 127.0.0.1 -p "$pg_port" -U postgres -i -q pgbench >"$tmp/pgbench-init.log" 2>&1 || {
  cat "$tmp/pgbench-init.log" >&2; say "pgbench -i failed"; exit 1; }
pgb_wal0=$(wal_syncs)
pg0=$(pg_ticks)
children_cpu cli0
read -r busy0 tot0 < <(sys_ticks)
run_child "$pg_bin/pgbench" -h 127.0.0.1 -p "$pg_port" -U postgres -b simple-update \
  -c "$pgb_clients" -j "$pgb_jobs" -T "$secs" pgbench >"$tmp/pgbench.log" 2>&1 || {
  cat "$tmp/pgbench.log" >&2; say "pgbench failed"; exit 1; }
read -r busy1 tot1 < <(sys_ticks)
children_cpu cli1
pg1=$(pg_ticks)
pgb_tps=$(sed -n 's/^tps = \([0-9]*\.[0-9]\).* (without initial connection time).*/\1/p' "$tmp/pgbench.log")
pgb_txs=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$tmp/pgbench.log")
pgb_wal1=$(wal_syncs)
pgb_syncs=$(awk -v a="$pgb_wal0" -v b="$pgb_wal1" -v n="${pgb_txs:-0}" 'BEGIN { if (n > 0) printf "%.2f", (b - a) / n; else print "-" }')
pgb_lat=$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' "$tmp/pgbench.log")
[ -n "$pgb_tps" ] || { cat "$tmp/pgbench.log" >&2; say "could not read pgbench's tps"; exit 1; }
pgb_cores=$(awk -v p=$((pg1 - pg0)) -v c="$(awk -v a="$cli0" -v b="$cli1" 'BEGIN { print b - a }')" \
  -v b=$((busy1 - busy0)) -v t=$((tot1 - tot0)) -v secs="$secs" -v hz="$hz" -v ncpu="$ncpu" \
  'BEGIN { busy = (t > 0 ? ncpu * b / t : 0); pg = p / hz / secs; cli = c / secs; other = busy - pg - cli; if (other < 0) other = 0;
           printf "postgres %.2f, pgbench %.2f, other %.2f", pg, cli, other }')

# --- 2. SQLite, one node --------------------------------------------------------------------
count_wal=0
backend_rows SQLite "$tmp/data-sqlite"
sq_orders=$b_orders sq_get=$b_get
stop_nodes

# --- 2b, 3. PostgreSQL, one node then two -------------------------------------------------
pg_orders=- pg_get=- pg2_orders=- pg2_get=-
if [ "$has_database" = 1 ]; then
  export TLSWARD_MASTER_KEY_FILE=$tmp/master.key # made by init, read by both nodes
  db_url=$pg_url/tlsward
  count_wal=1
  backend_rows PostgreSQL "$tmp/data-pg1" --database "$db_url"
  pg_orders=$b_orders pg_get=$b_get
  url_a=$base
  start_node "$tmp/data-pg2" "$tmp/server-pg2.log" --database "$db_url"
  url_b=$base
  bench_zone pg2 "$tmp/data-pg2" --database "$db_url" # a fresh zone: its own quota
  say "PostgreSQL, two nodes: orders, $concurrency in flight (half at each), ${secs}s"
  wrk2 pg2-orders POST "$z_body" "$url_a$z_orders_path" "$url_b$z_orders_path"
  pg2_orders=$w_rate
  check_orders pg2 "$url_b"
  add_row "PostgreSQL, 2 nodes" "orders"
  say "PostgreSQL, two nodes: GET pack, $concurrency in flight (half at each), ${secs}s"
  wrk2 pg2-get GET "" "$url_a$z_get_path" "$url_b$z_get_path"
  pg2_get=$w_rate
  add_row "PostgreSQL, 2 nodes" "GET pack"
  stop_nodes
else
  say "this tlsward has no --database: the PostgreSQL rows are skipped"
fi
stop_pg

# --- the table ----------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b <= 0) print "-"; else printf "%.3f", a / b }'; }
echo
echo "tlsward bench: PostgreSQL ($ncpu CPUs, PostgreSQL $pg_version, SQLite $(sqlite3 --version 2>/dev/null | awk '{ print $1 }'), $(wrk --version 2>&1 | head -n 1 | awk '{ print $1, $2 }'))"
echo "  throwaway cluster, default settings ($pg_settings)"
echo "  pgbench -b simple-update -c $pgb_clients -j $pgb_jobs -T $secs (scale 1): $pgb_tps tps, latency avg $pgb_lat ms, $pgb_syncs WAL syncs per transaction"
echo "  orders: POST .../certificate_packs/order (advanced, 2 hosts, txt), answered after commit;"
echo "  GET pack: one pack, keep-alive. serve --no-worker --rate-limit 0, release build; two wrk"
echo "  processes of $((concurrency / 2)) connections (one thread) each, ${secs}s per row, both at one node or one per node."
echo
printf '  %-22s %-10s %10s %8s %8s %6s %9s\n' "store, nodes" "request" "per second" "p50 ms" "p99 ms" "failed" "WAL sync"
for row in "${rows[@]}"; do echo "$row"; done
echo
echo "  CPU used, in cores of $ncpu (\"other\" = the rest of the machine; high means a noisy run):"
printf '  %-22s %-10s %s\n' "pgbench" "" "$pgb_cores"
for row in "${cpu_rows[@]}"; do echo "$row"; done
echo
printf 'pg summary: orders/s PG/SQLite %s, PG/pgbench %s; GET/s PG/SQLite %s; two nodes/one: orders %s, GET %s (pgbench %s tps; orders/s SQLite %s, PG %s, PG x2 %s; GET/s SQLite %s, PG %s, PG x2 %s)\n' \
  "$(ratio "$pg_orders" "$sq_orders")" "$(ratio "$pg_orders" "$pgb_tps")" "$(ratio "$pg_get" "$sq_get")" \
  "$(ratio "$pg2_orders" "$pg_orders")" "$(ratio "$pg2_get" "$pg_get")" \
  "$pgb_tps" "$sq_orders" "$pg_orders" "$pg2_orders" "$sq_get" "$pg_get" "$pg2_get"
if [ "$any_failures" -ne 0 ]; then
  say "some requests failed (see the failed column and the messages above)"
  exit 1
fi
