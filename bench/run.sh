#!/usr/bin/env bash
# `make bench`: builds the release binary once, then runs the sections in BENCH_SECTIONS:
#   certs  client-certificate signing throughput, as a ratio to what `openssl speed -multi 2`
#          signs with the same key type on this machine, measured in the same run (issue 4);
#   packs  certificate-pack GET/list throughput and latency at 1,000 and 100,000 packs
#          against nginx serving the same JSON, and order->active latency (issue 5;
#          bench/packs.sh, which can also be run alone and has its own knobs);
#   acme   ACME issuance against Pebble: lego 4.9's median seconds per certificate next to
#          tlsward's order->active per pack through ACME (issue 11; bench/acme.sh, which
#          also runs alone; tlsward's side is skipped while the binary has no ACME client);
#   pg     PostgreSQL's pgbench simple-update TPS, then durable orders/s and GET pack req/s
#          through the API with the store in SQLite and in PostgreSQL, and two API nodes
#          against one on the same PostgreSQL (issue 12; bench/pg.sh, which also runs alone).
# See bench/README.md for how to read the output.
#
# Knobs (environment):
#   BENCH_SECTIONS     sections to run, space separated (default "certs packs acme pg")
#   BENCH_KEYS         CA key types to run, space separated (default "rsa ec")
#   BENCH_CONCURRENCY  requests in flight (default 8)
#   BENCH_DURATION     seconds of load per key type (default 10)
#   BENCH_SPEED_SECS   seconds per `openssl speed` measurement (default 5)
#   BENCH_MULTI        processes for `openssl speed -multi` (default 2)
#   BENCH_CSRS         distinct CSRs sent round robin (default 4)
#   BUILD              build directory of the release binary (default build)
#   BENCH_KEEP_TMP     1: keep the temporary directories (stores, logs) for a look afterwards
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
sections=${BENCH_SECTIONS:-certs packs acme pg}
keys=${BENCH_KEYS:-rsa ec}
concurrency=${BENCH_CONCURRENCY:-8}
duration=${BENCH_DURATION:-10}
speed_secs=${BENCH_SPEED_SECS:-5}
multi=${BENCH_MULTI:-2}
ncsrs=${BENCH_CSRS:-4}

for tool in node openssl curl; do
  command -v "$tool" >/dev/null || { echo "bench: '$tool' is required" >&2; exit 1; }
done
for section in $sections; do
  case $section in
    certs | packs | acme | pg) ;;
    *) say "unknown section '$section' (expected certs, packs, acme or pg)"; exit 1 ;;
  esac
done

# --- release build -----------------------------------------------------------------------
build_release

# --- packs (issue 5): its own script, temporary directory and servers --------------------
packs_rc=0
if [[ " $sections " == *" packs "* ]]; then
  BENCH_SKIP_BUILD=1 run_child bash "$root/bench/packs.sh" || packs_rc=$?
  [ "$packs_rc" -eq 0 ] || say "the packs section failed (exit $packs_rc)"
fi
# --- acme (issue 11): its own script, Pebble, dnsmasq and lego -----------------------------
if [[ " $sections " == *" acme "* ]]; then
  acme_rc=0
  BENCH_SKIP_BUILD=1 run_child bash "$root/bench/acme.sh" || acme_rc=$?
  [ "$acme_rc" -eq 0 ] || { say "the acme section failed (exit $acme_rc)"; packs_rc=$acme_rc; }
fi
# --- pg (issue 12): its own script, PostgreSQL cluster, nodes and wrk ----------------------
if [[ " $sections " == *" pg "* ]]; then
  pg_rc=0
  BENCH_SKIP_BUILD=1 run_child bash "$root/bench/pg.sh" || pg_rc=$?
  [ "$pg_rc" -eq 0 ] || { say "the pg section failed (exit $pg_rc)"; packs_rc=$pg_rc; }
fi
if [[ " $sections " != *" certs "* ]]; then
  exit "$packs_rc"
fi

# --- certs (issue 4) ----------------------------------------------------------------------
# --- CSRs (EC P-256 client keys; each signing still makes a new certificate) -------------
say "generating $ncsrs CSRs"
body_args=()
for i in $(seq 1 "$ncsrs"); do
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$tmp/client$i.key" -subj "/CN=bench-client-$i/O=tlsward bench" \
    -out "$tmp/client$i.csr" 2>/dev/null
  node -e 'const fs = require("fs"); fs.writeFileSync(process.argv[2], JSON.stringify({ csr: fs.readFileSync(process.argv[1], "utf8"), validity_days: 30 }));' \
    "$tmp/client$i.csr" "$tmp/body$i.json"
  body_args+=(--body-file "$tmp/body$i.json")
done

# --- one key type: server, zone, warm-up, load, stop, openssl speed ----------------------
# Sets: r_rate r_p50 r_p99 r_requests r_failures r_seconds r_speed r_ratio r_alg
#       r_sig_us r_srv_us (server CPU per certificate) r_cores r_cores_speed (CPU use
#       during the load and during openssl speed)
run_one() {
  local mode=$1 data=$tmp/data-$1 log=$tmp/server-$1.log
  local speed_alg speed_pat
  case $mode in
    rsa) speed_alg=rsa2048 speed_pat='^rsa 2048 bits ' ;;
    ec) speed_alg=ecdsap256 speed_pat='ecdsa \(nistp256\)' ;;
    *) say "unknown key type '$mode' (expected rsa or ec)"; return 1 ;;
  esac

  "$bin" init --data "$data" --json >"$tmp/creds-$mode.json" 2>"$tmp/init-$mode.log" || {
    cat "$tmp/init-$mode.log" >&2; say "init failed"; return 1; }
  local token account
  token=$(json "$tmp/creds-$mode.json" j.token)
  account=$(json "$tmp/creds-$mode.json" j.account_id)

  local port base
  start_server "$data" "$log" --client-ca-key "$mode"

  curl -sS -o "$tmp/zone-$mode.json" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d "{\"name\":\"bench.example\",\"account\":{\"id\":\"$account\"}}" "$base/zones"
  local zone
  zone=$(json "$tmp/zone-$mode.json" 'j.success === true ? j.result.id : undefined') || {
    cat "$tmp/zone-$mode.json" >&2; echo >&2; say "zone creation failed"; return 1; }
  local url=$base/zones/$zone/client_certificates

  # Warm-up: the first signing creates the account's client CA (key generation).
  curl -sS -o "$tmp/warm-$mode.json" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    --data-binary "@$tmp/body1.json" "$url"
  json "$tmp/warm-$mode.json" 'j.success === true ? j.result.certificate : undefined' >"$tmp/warm-$mode.pem" || {
    cat "$tmp/warm-$mode.json" >&2; echo >&2; say "warm-up signing failed"; return 1; }
  # The certificate's signature algorithm shows which CA key type actually signed.
  r_alg=$(openssl x509 -in "$tmp/warm-$mode.pem" -noout -text | sed -n 's/^ *Signature Algorithm: *//p' | head -n 1)
  case $mode:$r_alg in
    rsa:*RSA* | ec:ecdsa*) ;;
    *) say "$mode: the CA signed with '$r_alg': wrong baseline, stopping"; return 1 ;;
  esac

  say "$mode: signing at concurrency $concurrency for ${duration}s (CA signs with $r_alg)"
  local rc=0 srv0 srv1 busy0 busy1 tot0 tot1
  srv0=$(proc_ticks "$server_pid")
  read -r busy0 tot0 < <(sys_ticks)
  run_child node "$root/bench/load.mjs" --url "$url" --token="$token" "${body_args[@]}" \
    --concurrency "$concurrency" --duration "$duration" --max-failures 100 \
    >"$tmp/load-$mode.json" || rc=$?
  srv1=$(proc_ticks "$server_pid" 2>/dev/null || echo "$srv0")
  read -r busy1 tot1 < <(sys_ticks)
  stop_server
  if [ "$rc" -ne 0 ] || ! [ -s "$tmp/load-$mode.json" ]; then
    say "load generator failed (exit $rc); last server log lines:"
    tail -n 5 "$log" >&2
    return 1
  fi
  r_requests=$(json "$tmp/load-$mode.json" j.requests)
  r_failures=$(json "$tmp/load-$mode.json" j.failures)
  r_seconds=$(json "$tmp/load-$mode.json" j.seconds)
  r_rate=$(json "$tmp/load-$mode.json" j.rate)
  r_p50=$(json "$tmp/load-$mode.json" j.p50_ms) || r_p50=-
  r_p99=$(json "$tmp/load-$mode.json" j.p99_ms) || r_p99=-
  local client_cpu
  client_cpu=$(json "$tmp/load-$mode.json" j.cpu_s)
  # CPU seconds of the server, of the load generator, and of everything else on the
  # machine during the load: a large "other" means a busy machine and a suspect result.
  r_srv_us=$(awk -v t=$((srv1 - srv0)) -v hz="$hz" -v n="$r_requests" 'BEGIN { if (n > 0) printf "%.0f", t / hz / n * 1e6; else print "-" }')
  r_cores=$(awk -v s=$((srv1 - srv0)) -v hz="$hz" -v c="$client_cpu" -v b=$((busy1 - busy0)) -v t=$((tot1 - tot0)) -v ncpu="$ncpu" -v secs="$r_seconds" \
    'BEGIN { busy = (t > 0 ? ncpu * b / t : 0); srv = s / hz / secs; cli = c / secs; other = busy - srv - cli; if (other < 0) other = 0;
             printf "server %.2f, client %.2f, other %.2f", srv, cli, other }')

  # Baseline with the server stopped: OpenSSL alone, $multi processes. With -multi the
  # summary line sums all processes; sign/s is the next-to-last column.
  say "$mode: openssl speed -multi $multi -seconds $speed_secs $speed_alg"
  local ossl0 ossl1 t0 t1
  children_cpu ossl0
  read -r busy0 tot0 < <(sys_ticks)
  t0=$(date +%s.%N)
  run_child openssl speed -multi "$multi" -seconds "$speed_secs" "$speed_alg" >"$tmp/speed-$mode.txt" 2>/dev/null
  t1=$(date +%s.%N)
  read -r busy1 tot1 < <(sys_ticks)
  children_cpu ossl1
  r_cores_speed=$(awk -v o0="$ossl0" -v o1="$ossl1" -v b=$((busy1 - busy0)) -v t=$((tot1 - tot0)) -v ncpu="$ncpu" -v secs="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
    'BEGIN { busy = (t > 0 ? ncpu * b / t : 0); o = (o1 - o0) / secs; other = busy - o; if (other < 0) other = 0;
             printf "openssl %.2f, other %.2f", o, other }')
  r_speed=$(grep -E "$speed_pat" "$tmp/speed-$mode.txt" | tail -n 1 | awk '{ print $(NF-1) }')
  if ! [[ $r_speed =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
    cat "$tmp/speed-$mode.txt" >&2
    say "could not read sign/s from openssl speed"
    return 1
  fi
  r_ratio=$(awk -v a="$r_rate" -v b="$r_speed" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
  # CPU time of one signature in the baseline ($multi processes, each on its own CPU).
  r_sig_us=$(awk -v m="$multi" -v b="$r_speed" 'BEGIN { printf "%.0f", m / b * 1e6 }')
}

rows=()
cpu_rows=()
any_failures=0
for mode in $keys; do
  run_one "$mode"
  case $mode in rsa) label=rsa2048 ;; ec) label=ecdsap256 ;; esac
  rows+=("$(printf '  %-10s %9.1f %8s %8s %7s %8s %10s %11.1f %10s %7s' \
    "$label" "$r_rate" "$r_p50" "$r_p99" "$r_requests" "$r_failures" "$r_srv_us" "$r_speed" "$r_sig_us" "$r_ratio")")
  cpu_rows+=("$(printf '  %-10s load: %s; openssl speed: %s' "$label" "$r_cores" "$r_cores_speed")")
  [ "$r_failures" = 0 ] || any_failures=1
done

echo
echo "tlsward bench: client certificate signing ($ncpu CPUs, $(openssl version | awk '{ print $1, $2 }'))"
echo "  POST /zones/:id/client_certificates, concurrency $concurrency, ${duration}s per CA key type,"
echo "  $ncsrs EC P-256 CSRs round robin, validity 30 days, --rate-limit 0, release build"
echo "  baseline: openssl speed -multi $multi -seconds $speed_secs (server stopped), sign/s"
echo
printf '  %-10s %9s %8s %8s %7s %8s %10s %11s %10s %7s\n' "CA key" "certs/s" "p50 ms" "p99 ms" "certs" "failures" "srv us/crt" "openssl/s" "us/sig" "ratio"
for row in "${rows[@]}"; do echo "$row"; done
echo
echo "  CPU used, in cores of $ncpu (\"other\" = the rest of the machine; high means a noisy run):"
for row in "${cpu_rows[@]}"; do echo "$row"; done
echo
echo "  ratio = certs/s / openssl sign/s; goal (issue 4): ratio >= 0.5"
echo "  srv us/crt = server CPU time per certificate (all threads); us/sig = CPU time of one"
echo "  signature in the openssl baseline. See bench/README.md."
if [ "$any_failures" -ne 0 ]; then
  say "some requests failed (see the failures column and the messages above)"
  exit 1
fi
exit "$packs_rc"
