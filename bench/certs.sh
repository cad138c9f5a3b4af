#!/usr/bin/env bash
# The client-certificate signing section of `make bench` (issue 13's signing row); also
# runs alone:
#   bash bench/certs.sh
# For each CA key type in BENCH_KEYS (default rsa: RSA-2048, the issue's row; ec: ECDSA
# P-256): a fresh store, `tlsward serve --no-worker --client-ca-key TYPE`, a zone, one
# signing first (it creates the account's client CA: key generation is not timed; the
# certificate's signature algorithm must match the key type), then wrk -t2 -c8 POSTs
# /zones/:id/client_certificates with BENCH_CSRS EC P-256 CSRs round robin for
# BENCH_DURATION s (every request makes a new certificate and a new row in the store):
# certs/s, latency, server CPU per certificate. Then, with the server stopped,
# `openssl speed -multi 2 -seconds BENCH_SPEED_SECS rsa2048` (or ecdsap256): what OpenSSL
# alone signs per second on this machine. ratio = certs/s / sign/s (goal >= 0.5). Then
# `openssl speed ecdsap256`, for the CSR's signature the server verifies: with the CA's
# signature, the cryptographic floor of a certificate, printed beside the server's CPU.
# Last, the signing floor (bench/sign_floor.c): with as many threads as wrk has
# connections, nothing but the CSR's verification, the CA's signature over a TBS of the
# warm-up leaf's size and a group-committed durable append of a stored certificate's size,
# in the server's data directory: what this machine and disk allow any server that
# answers after an fsync, at this concurrency. Then the same without the fdatasync.
#
# Knobs (environment):
#   BENCH_KEYS         CA key types, space separated (default "rsa")
#   BENCH_CONCURRENCY  wrk connections, i.e. requests in flight (default 8)
#   BENCH_DURATION     seconds of load per key type (default 5)
#   BENCH_SPEED_SECS   seconds of `openssl speed` (default 5)
#   BENCH_MULTI        processes for `openssl speed -multi` (default 2)
#   BENCH_CSRS         distinct CSRs sent round robin (default 4)
#   BENCH_WRK_THREADS  wrk threads (default 2)
#   BENCH_PERF         1: perf profile of the server during each signing load
#   BUILD, BENCH_SKIP_BUILD, BENCH_KEEP_TMP as in bench/run.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
keys=${BENCH_KEYS:-rsa}
concurrency=${BENCH_CONCURRENCY:-8}
duration=${BENCH_DURATION:-5}
speed_secs=${BENCH_SPEED_SECS:-5}
multi=${BENCH_MULTI:-2}
ncsrs=${BENCH_CSRS:-4}
threads=${BENCH_WRK_THREADS:-2}
for v in concurrency duration speed_secs multi ncsrs threads; do
  [[ ${!v} =~ ^[1-9][0-9]{0,3}$ ]] || { say "$v: expected a positive integer, got '${!v}'"; exit 1; }
done
if [ "$duration" -gt 60 ] || [ "$speed_secs" -gt 60 ] || [ "$ncsrs" -gt 64 ]; then
  say "BENCH_DURATION and BENCH_SPEED_SECS: at most 60; BENCH_CSRS: at most 64"
  exit 1
fi
for tool in node openssl curl wrk; do
  command -v "$tool" >/dev/null || { say "'$tool' is required (scripts/deps.sh installs it)"; exit 1; }
done
for mode in $keys; do
  case $mode in rsa | ec) ;; *) say "unknown key type '$mode' (expected rsa or ec)"; exit 1 ;; esac
done

build_release
floor_bin=$root/$build/sign_floor
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  cmake --build "$build" --target sign_floor >"$tmp/build-floor.log" 2>&1 || {
    cat "$tmp/build-floor.log" >&2; say "building bench/sign_floor.c failed"; exit 1; }
fi
[ -x "$floor_bin" ] || { say "no $floor_bin (cmake --build $build --target sign_floor)"; exit 1; }

# --- CSRs (EC P-256 client keys; each signing still makes a new certificate) -------------
say "generating $ncsrs CSRs"
body_files=()
for i in $(seq 1 "$ncsrs"); do
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$tmp/client$i.key" -subj "/CN=bench-client-$i/O=tlsward bench" \
    -out "$tmp/client$i.csr" 2>/dev/null
  node -e 'const fs = require("fs"); fs.writeFileSync(process.argv[2], JSON.stringify({ csr: fs.readFileSync(process.argv[1], "utf8"), validity_days: 30 }));' \
    "$tmp/client$i.csr" "$tmp/body$i.json"
  body_files+=("$tmp/body$i.json")
done

# --- one key type: server, zone, warm-up, load, stop, openssl speed ----------------------
# Sets r_rate r_p50 r_p99 r_ok r_bad r_speed r_ratio r_alg r_sig_us r_srv_us r_cores
# r_cores_speed.
any_failures=0
run_one() {
  local mode=$1 data=$tmp/data-$1 log=$tmp/server-$1.log speed_alg speed_pat
  case $mode in
    rsa) speed_alg=rsa2048 speed_pat='^rsa 2048 bits ' ;;
    ec) speed_alg=ecdsap256 speed_pat='ecdsa \(nistp256\)' ;;
  esac
  # shellcheck disable=SC2034 # bench_tenant sets them all; account and zones go unused here
  local token account zone zones
  bench_tenant "$data" "$log" "$mode.bench.example" --no-worker --client-ca-key "$mode" || return 1
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
  wait_idle "$server_pid"

  say "$mode: signing, wrk -t$threads -c$concurrency, ${duration}s (CA signs with $r_alg)"
  BENCH_TOKEN=$token BENCH_METHOD=POST BENCH_BODY_FILES="${body_files[*]}" BENCH_PERF_PID=$server_pid \
    wrk_run "sign-$mode" "$threads" "$concurrency" "$duration" "$url" "$server_pid"
  r_rate=$w_rate r_p50=$w_p50 r_p99=$w_p99 r_ok=$w_ok r_bad=$w_bad r_srv_us=$w_us r_cores=$w_cores
  stop_server
  # What the store said of its group commits as it closed (the warm-up's one write aside, all
  # of the load): how long a request waited for its commit, how long a commit took.
  r_commits=$(sed -n 's/.*store: group commit: \(.*\)/\1/p' "$log" | tail -n 1)
  r_wait_us=$(sed -n 's/.*a write waited \([0-9]*\) us.*/\1/p' <<<"$r_commits")

  # Baseline with the server stopped: OpenSSL alone, $multi processes. With -multi the
  # summary line sums all processes; sign/s is the next-to-last column.
  say "$mode: openssl speed -multi $multi -seconds $speed_secs $speed_alg"
  local ossl0=0 ossl1=0 t0 t1 busy0 busy1 tot0 tot1
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
  r_ratio=$(awk -v a="$r_rate" -v b="$r_speed" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
  # CPU time of one signature in the baseline ($multi processes, each on its own CPU).
  r_sig_us=$(awk -v m="$multi" -v b="$r_speed" 'BEGIN { printf "%.0f", m / b * 1e6 }')
  csr_verify_floor
  signing_floor "$mode" "$data"
}

# The signing floor of this machine at this concurrency (bench/sign_floor.c), in the
# server's data directory (the same file system as its store), with the server stopped:
# TBS and record sizes from the warm-up's certificate and answer. Sets r_floor (certs/s
# with fdatasync), r_floor_ratio, r_floor_fsync_us, r_floor_share (the server's rate as a
# share of it), r_nosync, r_nosync_ratio.
signing_floor() {
  local mode=$1 dir=$2 tbs record
  tbs=$(openssl x509 -in "$tmp/warm-$mode.pem" -outform DER | wc -c)
  record=$(wc -c <"$tmp/warm-$mode.json")
  # Run in the foreground of this script (run_child), so that a signal stops it at once.
  local args=(-f "$dir/sign-floor.log" -t "$concurrency" -s "$duration" -k "$mode" -b "$tbs" -r "$record")
  floor_field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" "$tmp/floor-$mode.txt"; }
  run_child "$floor_bin" "${args[@]}" >"$tmp/floor-$mode.txt" || {
    say "$mode: sign_floor failed"; r_floor=-; return 0; }
  r_floor=$(floor_field certs_per_s) r_floor_fsync_us=$(floor_field fsync_us)
  r_floor_per=$(floor_field per_fsync) r_floor_cpu=$(floor_field cpu_us)
  if run_child "$floor_bin" "${args[@]}" -n >"$tmp/floor-$mode.txt"; then
    r_nosync=$(floor_field certs_per_s) r_nosync_cpu=$(floor_field cpu_us)
  else
    say "$mode: sign_floor -n failed"
    r_nosync=- r_nosync_cpu=-
  fi
  r_floor_ratio=$(awk -v a="$r_floor" -v b="$r_speed" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
  r_nosync_ratio=-
  [ "$r_nosync" = - ] ||
    r_nosync_ratio=$(awk -v a="$r_nosync" -v b="$r_speed" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
  r_floor_share=$(awk -v a="$r_rate" -v b="$r_floor" 'BEGIN { printf "%.0f", (b > 0 ? 100 * a / b : 0) }')
}

# The other signature every certificate needs: the CSR's own ECDSA P-256 signature, which
# the server verifies (proof that the client holds the key). With the CA's signature it is
# the cryptographic floor of one certificate: the CPU no implementation can avoid. Sets
# r_verify_us r_floor_us r_best (the ratio a server doing nothing else would reach) and
# r_beyond_us (server CPU per certificate beyond the floor).
csr_verify_floor() {
  run_child openssl speed -multi "$multi" -seconds "$speed_secs" ecdsap256 >"$tmp/speed-verify.txt" 2>/dev/null
  local verify
  verify=$(grep -E 'ecdsa \(nistp256\)' "$tmp/speed-verify.txt" | tail -n 1 | awk '{ print $NF }')
  if ! [[ $verify =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
    r_verify_us=- r_floor_us=- r_best=- r_beyond_us=-
    return 0
  fi
  r_verify_us=$(awk -v m="$multi" -v v="$verify" 'BEGIN { printf "%.0f", m / v * 1e6 }')
  r_floor_us=$((r_sig_us + r_verify_us))
  r_best=$(awk -v s="$r_sig_us" -v f="$r_floor_us" 'BEGIN { printf "%.2f", s / f }')
  r_beyond_us=$(awk -v u="$r_srv_us" -v f="$r_floor_us" 'BEGIN { printf "%.0f", u - f }')
}

rows=()
cpu_rows=()
floor_rows=()
signing_rows=()
commit_rows=()
for mode in $keys; do
  run_one "$mode"
  case $mode in rsa) label=rsa2048 ;; ec) label=ecdsap256 ;; esac
  rows+=("$(printf '  %-10s %9s %8s %8s %7s %8s %10s %11.1f %10s %7s' \
    "$label" "$r_rate" "$r_p50" "$r_p99" "$r_ok" "$r_bad" "$r_srv_us" "$r_speed" "$r_sig_us" "$r_ratio")")
  cpu_rows+=("$(printf '  %-10s load: %s; openssl speed: %s' "$label" "$r_cores" "$r_cores_speed")")
  commit_rows+=("$(printf '  %-10s %s' "$label" "${r_commits:-(not logged)}")")
  # Little's law: with $concurrency requests in flight, each spending at least its mean
  # wait for a commit, no more than concurrency / wait can be answered per second, however
  # little CPU the rest takes: the bound durability on this disk sets at this load.
  if [[ ${r_wait_us:-} =~ ^[1-9][0-9]*$ ]]; then
    commit_rows+=("$(awk -v c="$concurrency" -v w="$r_wait_us" -v o="$r_speed" -v l="$label" \
      'BEGIN { b = c / (w / 1e6); printf "  %-10s bound by the commit wait alone: %d in flight / %.2f ms = %.0f certs/s = %.2f x openssl", l, c, w / 1000, b, (o > 0 ? b / o : 0) }')")
  fi
  floor_rows+=("$(printf '  %-10s CA signature %s us + CSR verify %s us = %s us: best ratio %s; server CPU beyond it %s us' \
    "$label" "$r_sig_us" "$r_verify_us" "$r_floor_us" "$r_best" "$r_beyond_us")")
  if [ "${r_floor:-}" != - ]; then
    signing_rows+=("$(printf '  %-10s durable: %s certs/s = %s x openssl (%s us CPU per cert; %s certs per fdatasync of %s us); tlsward reached %s%% of it' \
      "$label" "$r_floor" "$r_floor_ratio" "$r_floor_cpu" "$r_floor_per" "$r_floor_fsync_us" "$r_floor_share")")
    signing_rows+=("$(printf '  %-10s without fdatasync: %s certs/s = %s x openssl (%s us CPU per cert)' \
      "$label" "$r_nosync" "$r_nosync_ratio" "$r_nosync_cpu")")
  fi
  [ "$mode" != rsa ] || summary_put sign_ratio "$r_ratio"
done

echo
echo "tlsward bench: client certificate signing ($ncpu CPUs, $(openssl version | awk '{ print $1, $2 }'))"
echo "  POST /zones/:id/client_certificates, wrk -t$threads -c$concurrency, ${duration}s per CA key type,"
echo "  $ncsrs EC P-256 CSRs round robin, validity 30 days, serve --no-worker --rate-limit 0, release build"
echo "  baseline: openssl speed -multi $multi -seconds $speed_secs (server stopped), sign/s"
echo
printf '  %-10s %9s %8s %8s %7s %8s %10s %11s %10s %7s\n' "CA key" "certs/s" "p50 ms" "p99 ms" "certs" "failed" "srv us/crt" "openssl/s" "us/sig" "ratio"
for row in "${rows[@]}"; do echo "$row"; done
echo
echo "  CPU used, in cores of $ncpu (\"other\" = the rest of the machine; high means a noisy run):"
for row in "${cpu_rows[@]}"; do echo "$row"; done
echo
echo "  ratio = certs/s / openssl sign/s; goal: >= 0.5 (RSA-2048). srv us/crt = server CPU per"
echo "  certificate (all threads); us/sig = CPU time of one signature in the openssl baseline."
echo
echo "  Group commit (the store's own figures; each certificate is answered after its commit):"
for row in "${commit_rows[@]}"; do echo "$row"; done
echo
echo "  The cryptographic floor of one certificate (openssl speed -multi $multi, same run): what a"
echo "  server doing nothing but the two signatures would spend, and the ratio it would reach:"
for row in "${floor_rows[@]}"; do echo "$row"; done
echo
echo "  The signing floor (bench/sign_floor.c, server stopped, $concurrency threads as wrk's connections,"
echo "  in its data directory): only the CSR's verification, the CA's signature and a group-committed"
echo "  fdatasync'd append of the stored bytes; no HTTP, JSON, X.509 building or database:"
for row in "${signing_rows[@]}"; do echo "$row"; done
print_profiles
[ -n "${BENCH_SUMMARY:-}" ] || summary_line
if [ "$any_failures" -ne 0 ]; then
  say "some requests failed (see the failed column and the messages above)"
  exit 1
fi
