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
# Both run in BENCH_ORDERS_ROUNDS alternating rounds (orders, anchor, orders, anchor, ...):
# the anchor is an fsync rate, and this virtual disk's fsync rate drifts by 2-3x within
# minutes (and collapses while anything else writes), so a ratio is only fair between a
# load and an anchor measured next to each other. Each round gives its own ratio; the
# section reports every round and the median ratio. The durability check runs after the
# last round, over the orders of all rounds.
# ratio = orders/s / SQLite tx/s (goal >= 1, stretch 3). No time is asserted.
#
# Knobs (environment):
#   BENCH_ORDERS_DURATION     seconds of order load (default 5)
#   BENCH_ORDERS_CONNECTIONS  wrk connections, i.e. orders in flight (default 32)
#   BENCH_ORDER_ZONES         zones the orders go to, round robin (default 4)
#   BENCH_SQLITE_SECS         target seconds of the SQLite anchor (default 3)
#   BENCH_ORDERS_ROUNDS       alternating rounds of orders and anchor (default 3)
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
rounds=${BENCH_ORDERS_ROUNDS:-3}
for v in secs conns nzones sqlite_secs threads rounds; do
  [[ ${!v} =~ ^[1-9][0-9]{0,3}$ ]] || { say "$v: expected a positive integer, got '${!v}'"; exit 1; }
done
if [ "$secs" -gt 60 ] || [ "$sqlite_secs" -gt 60 ] || [ "$nzones" -gt 40 ] || [ "$rounds" -gt 9 ]; then
  say "BENCH_ORDERS_DURATION and BENCH_SQLITE_SECS: at most 60; BENCH_ORDER_ZONES: at most 40; BENCH_ORDERS_ROUNDS: at most 9"
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

# anchor_round: one anchor measurement of about $sqlite_secs s (calibrated on 200
# transactions first). Sets a_tps a_us a_ntx a_ms.
anchor_round() {
  local cal_ms cpu0=0 cpu1=0
  cal_ms=$(anchor_run 200) || { say "the SQLite anchor failed"; exit 1; }
  a_ntx=$(awk -v ms="$cal_ms" -v s="$sqlite_secs" 'BEGIN { n = (ms > 0 ? 200 / ms * 1000 * s : 200000); if (n < 200) n = 200; if (n > 200000) n = 200000; printf "%d", n }')
  children_cpu cpu0
  a_ms=$(anchor_run "$a_ntx") || { say "the SQLite anchor failed"; exit 1; }
  children_cpu cpu1
  a_tps=$(awk -v n="$a_ntx" -v ms="$a_ms" 'BEGIN { printf "%.1f", (ms > 0 ? n / ms * 1000 : 0) }')
  a_us=$(awk -v a="$cpu0" -v b="$cpu1" -v n="$a_ntx" 'BEGIN { printf "%.0f", (b - a) / n * 1e6 }')
}

any_failures=0
mkdir -p "$tmp/ids"
round_rows=() ratios=() total_ok=0
for r in $(seq 1 "$rounds"); do
  say "round $r of $rounds: orders, wrk -t$threads -c$conns POST, $nzones zones round robin, ${secs}s"
  # Each round's acknowledged ids in a directory of its own (wrk.lua writes a file per thread).
  mkdir -p "$tmp/ids/$r"
  perf_pid_arg=
  [ "$r" -ne 1 ] || perf_pid_arg=$server_pid # one profile, of the first round
  BENCH_METHOD=POST BENCH_PATHS="${paths[*]}" BENCH_BODY_FILES="${bodies[*]}" BENCH_IDS_DIR=$tmp/ids/$r BENCH_PERF_PID=$perf_pid_arg \
    wrk_run "orders-$r" "$threads" "$conns" "$secs" "http://127.0.0.1:$port/" "$server_pid"
  total_ok=$((total_ok + w_ok))
  say "round $r of $rounds: SQLite anchor in $data (about ${sqlite_secs}s)"
  anchor_round
  ratio_r=$(awk -v a="$w_rate" -v b="$a_tps" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
  ratios+=("$ratio_r")
  round_rows+=("$(printf '  %-6s %10s %8s %8s %8s %9s %12s %9s %7s   %s' "$r" "$w_rate" "$w_p50" "$w_p99" "$w_bad" "$w_us" "$a_tps" "$a_us" "$ratio_r" "$w_cores")")
done
# No clean shutdown: what the server acknowledged must already be committed.
{ # (the braces also silence bash's "Killed" job notice)
  kill -KILL "$server_pid" || true
  wait "$server_pid" || true
} 2>/dev/null
server_pid=

# Every acknowledged order of every round, by id, in the store.
cat "$tmp"/ids/*/ids-*.txt >"$tmp/acked.txt"
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
if [ "$acked" -ne "$total_ok" ] || [ "$noid" -ne 0 ] || [ "$missing" -ne 0 ]; then
  durable="LOST: $total_ok acknowledged, $acked ids recorded, $noid without an id, $missing not in the store"
  any_failures=1
fi
ratio=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END { printf "%.2f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }')
summary_put orders_ratio "$ratio"

echo
echo "tlsward bench: durable orders ($ncpu CPUs, SQLite $(sqlite3 --version | awk '{ print $1 }'), store on $(df -P "$data" | awk 'NR == 2 { print $1 }'))"
echo "  POST /zones/:id/ssl/certificate_packs/order (advanced, 2 hosts, txt), $nzones zones round robin,"
echo "  wrk -t$threads -c$conns, ${secs}s; tlsward serve --no-worker --rate-limit 0, SQLite store, release build"
echo
printf '  %-6s %10s %8s %8s %8s %9s %12s %9s %7s   %s\n' "round" "orders/s" "p50 ms" "p99 ms" "failed" "CPU us/op" "SQLite tx/s" "CPU us/op" "ratio" "CPU cores during the orders"
for row in "${round_rows[@]}"; do echo "$row"; done
echo
echo "  ratio orders/s / SQLite tx/s, median of the rounds: $ratio   goal: >= 1 (stretch 3)"
echo "  durability: $durable"
echo "  SQLite: the sqlite3 CLI, one INSERT per transaction, timed inside SQLite, right after each"
echo "  round's orders (CPU us/op: the CLI's)"
print_profiles
[ -n "${BENCH_SUMMARY:-}" ] || summary_line
if [ "$any_failures" -ne 0 ]; then
  say "some orders failed or were lost (see above)"
  exit 1
fi
