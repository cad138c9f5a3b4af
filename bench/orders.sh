#!/usr/bin/env bash
# The durable-orders section of `make bench` (issue 13's "durable orders through the API"
# row); also runs alone:
#   bash bench/orders.sh
# In a fresh SQLite store, one `tlsward serve --no-worker` (the API and the store only: no
# issuance competes for the CPUs), BENCH_ORDER_ZONES zones (advanced quota 100,000 each):
#   1. wrk -t2 -c32 POSTs certificate-pack orders (advanced, 2 hosts, txt) round robin over
#      the zones for BENCH_ORDERS_DURATION s; each answer comes only after the order's
#      commit. orders/s, latency, server CPU per order. bench/wrk.lua writes the id of every
#      acknowledged (2xx) order; right after the load the server is killed (SIGKILL: nothing
#      is flushed on the way out) and every one of those ids must be in the store's packs
#      table, else the section fails;
#   2. the anchor, in the same directory (same file system) as the server's store: the
#      sqlite3 CLI (one process, so process start-up is not measured) commits single-row
#      INSERTs in WAL mode with synchronous=FULL, one transaction each, for about
#      BENCH_SQLITE_SECS s, timed inside SQLite (julianday('now') before and after): tx/s.
# ratio = orders/s / SQLite tx/s (goal >= 1, stretch 3). No time is asserted.
#
# Knobs (environment):
#   BENCH_ORDERS_DURATION     seconds of order load (default 5)
#   BENCH_ORDERS_CONNECTIONS  wrk connections, i.e. orders in flight (default 32)
#   BENCH_ORDER_ZONES         zones the orders go to, round robin (default 4)
#   BENCH_SQLITE_SECS         target seconds of the SQLite anchor (default 3)
#   BENCH_WRK_THREADS         wrk threads (default 2)
#   BENCH_PERF                1: perf profile of the server during the order load
#   BUILD, BENCH_SKIP_BUILD, BENCH_KEEP_TMP as in bench/run.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
secs=${BENCH_ORDERS_DURATION:-5}
conns=${BENCH_ORDERS_CONNECTIONS:-32}
nzones=${BENCH_ORDER_ZONES:-4}
sqlite_secs=${BENCH_SQLITE_SECS:-3}
threads=${BENCH_WRK_THREADS:-2}
for v in secs conns nzones sqlite_secs threads; do
  [[ ${!v} =~ ^[1-9][0-9]{0,3}$ ]] || { say "$v: expected a positive integer, got '${!v}'"; exit 1; }
done
if [ "$secs" -gt 60 ] || [ "$sqlite_secs" -gt 60 ] || [ "$nzones" -gt 40 ]; then
  say "BENCH_ORDERS_DURATION and BENCH_SQLITE_SECS: at most 60; BENCH_ORDER_ZONES: at most 40"
  exit 1
fi
for tool in node curl sqlite3 wrk; do
  command -v "$tool" >/dev/null || { say "'$tool' is required (scripts/deps.sh installs it)"; exit 1; }
done

build_release

data=$tmp/data
names=$(seq -f 'z%g.bench.example' 1 "$nzones")
bench_tenant "$data" "$tmp/server.log" "$names" --no-worker || exit 1
export BENCH_TOKEN=$token # bench/wrk.lua reads it (never on a command line)

# The zones, each with its order body (its hosts) and its orders path, paired round robin.
paths=() bodies=()
for i in $(seq 1 "$nzones"); do
  name=z$i.bench.example
  zone=${zones[i - 1]}
  "$bin" zone quota --data "$data" "$zone" --advanced 100000 >/dev/null 2>"$tmp/quota.log" || {
    cat "$tmp/quota.log" >&2; say "zone quota failed"; exit 1; }
  printf '{"certificate_authority":"google","hosts":["%s","o.%s"],"type":"advanced","validation_method":"txt","validity_days":90}' \
    "$name" "$name" >"$tmp/order-$i.json"
  paths+=("/client/v4/zones/$zone/ssl/certificate_packs/order")
  bodies+=("$tmp/order-$i.json")
done
# One order by hand: the answer must carry the id wrk.lua looks for.
curl -sS -o "$tmp/first.json" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  --data-binary "@${bodies[0]}" "http://127.0.0.1:$port${paths[0]}"
grep -q '"result":{"id":"' "$tmp/first.json" || { head -c 500 "$tmp/first.json" >&2; echo >&2; say "the order's answer has no result id first"; exit 1; }
wait_idle "$server_pid"

any_failures=0
mkdir -p "$tmp/ids"
say "orders: wrk -t$threads -c$conns POST, $nzones zones round robin, ${secs}s"
BENCH_METHOD=POST BENCH_PATHS="${paths[*]}" BENCH_BODY_FILES="${bodies[*]}" BENCH_IDS_DIR=$tmp/ids BENCH_PERF_PID=$server_pid \
  wrk_run orders "$threads" "$conns" "$secs" "http://127.0.0.1:$port/" "$server_pid"
o_rate=$w_rate o_ok=$w_ok o_p50=$w_p50 o_p99=$w_p99 o_us=$w_us o_cores=$w_cores o_bad=$w_bad
# No clean shutdown: what the server acknowledged must already be committed.
{ # (the braces also silence bash's "Killed" job notice)
  kill -KILL "$server_pid" || true
  wait "$server_pid" || true
} 2>/dev/null
server_pid=

# Every acknowledged order, by id, in the store.
cat "$tmp"/ids/ids-*.txt >"$tmp/acked.txt"
acked=$(wc -l <"$tmp/acked.txt")
noid=$(grep -c -v '^[0-9a-f]\{32\}$' "$tmp/acked.txt" || true)
missing=$(sqlite3 -bail "$data/tlsward.db" <<SQL
CREATE TEMP TABLE acked (id TEXT NOT NULL);
.mode csv
.import $tmp/acked.txt acked
SELECT count(*) FROM acked WHERE id NOT IN (SELECT id FROM packs);
SQL
)
durable="every one of the $acked acknowledged orders is in the store (server killed with SIGKILL after the load)"
if [ "$acked" -ne "$o_ok" ] || [ "$noid" -ne 0 ] || [ "$missing" -ne 0 ]; then
  durable="LOST: $o_ok acknowledged, $acked ids recorded, $noid without an id, $missing not in the store"
  any_failures=1
fi

# --- the anchor: SQLite alone, WAL + synchronous=FULL, one INSERT per transaction ---------
# anchor_run N: N autocommit INSERTs (each its own transaction, each fsyncing the WAL) in
# $data/anchor.db; prints the milliseconds SQLite measured between the first and the last.
anchor_run() {
  {
    printf "PRAGMA journal_mode = WAL;\nPRAGMA synchronous = FULL;\n"
    printf "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT NOT NULL);\n"
    printf "SELECT 'T0', julianday('now');\n"
    yes "INSERT INTO t (v) VALUES (hex(randomblob(64)));" | head -n "$1"
    printf "SELECT 'T1', julianday('now');\n"
  } | sqlite3 -bail -separator ' ' "$data/anchor.db" |
    awk '$1 == "T0" { a = $2 } $1 == "T1" { b = $2 } END { if (a == "" || b == "") exit 1; printf "%.3f\n", (b - a) * 86400000 }'
}
say "SQLite anchor in $data: calibrating"
cal_ms=$(anchor_run 200) || { say "the SQLite anchor failed"; exit 1; }
ntx=$(awk -v ms="$cal_ms" -v s="$sqlite_secs" 'BEGIN { n = (ms > 0 ? 200 / ms * 1000 * s : 200000); if (n < 200) n = 200; if (n > 200000) n = 200000; printf "%d", n }')
say "SQLite anchor: $ntx single-INSERT transactions (about ${sqlite_secs}s)"
cpu0=0 cpu1=0
children_cpu cpu0
anchor_ms=$(anchor_run "$ntx") || { say "the SQLite anchor failed"; exit 1; }
children_cpu cpu1
sq_tps=$(awk -v n="$ntx" -v ms="$anchor_ms" 'BEGIN { printf "%.1f", (ms > 0 ? n / ms * 1000 : 0) }')
sq_us=$(awk -v a="$cpu0" -v b="$cpu1" -v n="$ntx" 'BEGIN { printf "%.0f", (b - a) / n * 1e6 }')
ratio=$(awk -v a="$o_rate" -v b="$sq_tps" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
summary_put orders_ratio "$ratio"

echo
echo "tlsward bench: durable orders ($ncpu CPUs, SQLite $(sqlite3 --version | awk '{ print $1 }'), store on $(df -P "$data" | awk 'NR == 2 { print $1 }'))"
echo "  POST /zones/:id/ssl/certificate_packs/order (advanced, 2 hosts, txt), $nzones zones round robin,"
echo "  wrk -t$threads -c$conns, ${secs}s; tlsward serve --no-worker --rate-limit 0, SQLite store, release build"
echo
printf '  %-40s %10s %8s %8s %8s %9s\n' "" "per second" "p50 ms" "p99 ms" "failed" "CPU us/op"
printf '  %-40s %10s %8s %8s %8s %9s\n' "tlsward orders (answered after commit)" "$o_rate" "$o_p50" "$o_p99" "$o_bad" "$o_us"
printf '  %-40s %10s %8s %8s %8s %9s\n' "SQLite WAL FULL, 1 INSERT per tx" "$sq_tps" "-" "-" "-" "$sq_us"
echo
echo "  ratio orders/s / SQLite tx/s: $ratio   goal: >= 1 (stretch 3)"
echo "  durability: $durable"
echo "  CPU cores during the orders: $o_cores"
echo "  SQLite: $ntx transactions in $anchor_ms ms (sqlite3 CLI, timed inside SQLite; CPU us/op of the CLI)"
print_profiles
[ -n "${BENCH_SUMMARY:-}" ] || summary_line
if [ "$any_failures" -ne 0 ]; then
  say "some orders failed or were lost (see above)"
  exit 1
fi
