#!/usr/bin/env bash
# The ACME section of `make bench` (issue 11); also runs alone:
#   bash bench/acme.sh
# Starts Pebble (Debian `pebble`, the ACME test CA; PEBBLE_VA_NOSLEEP=1 removes its random
# validation sleeps; its 5 % nonce rejection stays on, as a real CA's nonces expire too)
# with a TLS certificate generated here, and dnsmasq answering 127.0.0.1 for every name
# under bench.test (Pebble's VA resolves the names it validates through it: -dnsserver).
# Then, in the same run and against the same Pebble:
#   lego     (Debian `lego` 4.9) issues BENCH_ACME_CERTS certificates one after another over
#            http-01 (its own challenge server on Pebble's httpPort), each for a new name;
#   tlsward  orders BENCH_ACME_CERTS packs (an ECDSA and an RSA certificate each) in auto
#            DCV mode with --acme-directory pointing at Pebble and --http-challenge-listen on
#            Pebble's httpPort, timing order -> active (bench/orders.mjs).
# Prints the median seconds per lego certificate and per tlsward pack, and their ratio
# (goal, issue 11: tlsward <= 0.3 x lego). The tlsward half needs the ACME client: a binary
# without --acme-directory skips it with a message (see measure_tlsward).
#
# Knobs (environment):
#   BENCH_ACME_CERTS   certificates issued by each side (default 5)
#   BUILD              build directory of the release binary (default build)
#   BENCH_SKIP_BUILD   1: do not run `make build` (run.sh has just done it)
#   BENCH_KEEP_TMP     1: keep the temporary directory (Pebble's and lego's files, logs)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
ncerts=${BENCH_ACME_CERTS:-5}
pebble_pid=
dns_pid=

for tool in pebble lego dnsmasq openssl node curl; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] ||
    { say "acme: '$tool' is required (scripts/deps.sh installs it)"; exit 1; }
done
dnsmasq_bin=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)

acme_cleanup() {
  stop_pid "$pebble_pid"
  stop_pid "$dns_pid"
  cleanup
}
trap acme_cleanup EXIT

# A free port on 127.0.0.1 (bound, then released): tcp or udp.
free_port() {
  node -e '
    const kind = process.argv[1];
    const done = (port, close) => { console.log(port); close(); };
    if (kind === "udp") {
      const s = require("dgram").createSocket("udp4");
      s.bind(0, "127.0.0.1", () => done(s.address().port, () => s.close()));
    } else {
      const s = require("net").createServer();
      s.listen(0, "127.0.0.1", () => done(s.address().port, () => s.close()));
    }' "$1"
}

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) printf "%.2f", a[(NR + 1) / 2]; else printf "%.2f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

build_release

# --- Pebble's TLS certificate: a CA and a localhost / 127.0.0.1 leaf ----------------------
pdir=$tmp/pebble
mkdir -p "$pdir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=tlsward bench Pebble CA" -keyout "$pdir/ca.key" -out "$pdir/ca.pem" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
  -keyout "$pdir/key.pem" -out "$pdir/leaf.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$pdir/leaf.ext"
openssl x509 -req -in "$pdir/leaf.csr" -CA "$pdir/ca.pem" -CAkey "$pdir/ca.key" -CAcreateserial \
  -days 2 -extfile "$pdir/leaf.ext" -out "$pdir/cert.pem" 2>/dev/null

# --- dnsmasq: every name under bench.test is 127.0.0.1 ------------------------------------
dns_port=$(free_port udp)
printf '%s\n' listen-address=127.0.0.1 bind-interfaces no-resolv no-hosts \
  address=/bench.test/127.0.0.1 local=/test/ "pid-file=$tmp/dnsmasq.pid" >"$tmp/dnsmasq.conf"
"$dnsmasq_bin" --keep-in-foreground --conf-file="$tmp/dnsmasq.conf" --port="$dns_port" \
  >"$tmp/dnsmasq.log" 2>&1 &
dns_pid=$!

# --- Pebble -------------------------------------------------------------------------------
acme_port=$(free_port tcp)
mgmt_port=$(free_port tcp)
http_port=$(free_port tcp) # where Pebble's VA fetches http-01 challenges
cat >"$pdir/pebble.json" <<EOF
{"pebble": {"listenAddress": "127.0.0.1:$acme_port", "managementListenAddress": "127.0.0.1:$mgmt_port",
  "certificate": "$pdir/cert.pem", "privateKey": "$pdir/key.pem", "httpPort": $http_port,
  "tlsPort": $(free_port tcp), "ocspResponderURL": "", "externalAccountBindingRequired": false}}
EOF
PEBBLE_VA_NOSLEEP=1 pebble -config "$pdir/pebble.json" -strict=false -dnsserver "127.0.0.1:$dns_port" \
  >"$tmp/pebble.log" 2>&1 &
pebble_pid=$!
directory=https://127.0.0.1:$acme_port/dir
for _ in $(seq 1 200); do
  curl -sf --cacert "$pdir/ca.pem" -o /dev/null "$directory" && break
  kill -0 "$pebble_pid" 2>/dev/null || { cat "$tmp/pebble.log" >&2; say "acme: Pebble did not start"; exit 1; }
  sleep 0.05
done
curl -sf --cacert "$pdir/ca.pem" -o /dev/null "$directory" || { say "acme: Pebble does not answer at $directory"; exit 1; }

# --- lego: one certificate per run, each for a new name -----------------------------------
say "acme: lego issues $ncerts certificates over http-01 from Pebble ($directory)"
: >"$tmp/lego.times"
for i in $(seq 1 "$ncerts"); do
  t0=$(date +%s.%N)
  LEGO_CA_CERTIFICATES=$pdir/ca.pem run_child lego --server "$directory" --accept-tos \
    --email "bench@bench.test" --path "$tmp/lego" --key-type ec256 \
    --domains "lego$i.bench.test" --http --http.port "127.0.0.1:$http_port" run \
    >"$tmp/lego-$i.log" 2>&1 || { tail -n 5 "$tmp/lego-$i.log" >&2; say "acme: lego failed"; exit 1; }
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }' >>"$tmp/lego.times"
done
lego_median=$(median <"$tmp/lego.times")

# --- tlsward ------------------------------------------------------------------------------
# >>> measure_tlsward: tlsward's side of the comparison (order -> active through ACME).
# It needs the ACME client (--acme-directory); until the binary has it, it says so and the
# table shows "-". Sets tls_median (seconds per pack: an ECDSA and an RSA certificate).
tls_median=-
measure_tlsward() {
  if ! "$bin" serve --help | grep -q -- '--acme-directory'; then
    say "acme: skipping tlsward's side: this binary has no --acme-directory (ACME client not built in yet)"
    return 0
  fi
  local data=$tmp/data log=$tmp/server.log
  "$bin" init --data "$data" --json >"$tmp/creds.json" 2>"$tmp/init.log" ||
    { cat "$tmp/init.log" >&2; say "acme: init failed"; return 1; }
  local token account
  token=$(json "$tmp/creds.json" j.token)
  account=$(json "$tmp/creds.json" j.account_id)
  # Auto mode: tlsward answers each challenge at once; Pebble's VA fetches the key
  # authorization from tlsward's own responder, listening on Pebble's httpPort.
  start_server "$data" "$log" --acme-directory "lets_encrypt=$directory" \
    --acme-ca-file "$pdir/ca.pem" --http-challenge-listen "127.0.0.1:$http_port"
  local zone_name=tlsward.bench.test
  curl -sS -o "$tmp/zone.json" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d "{\"name\":\"$zone_name\",\"account\":{\"id\":\"$account\"}}" "$base/zones"
  local zone
  zone=$(json "$tmp/zone.json" 'j.success === true ? j.result.id : undefined') ||
    { cat "$tmp/zone.json" >&2; say "acme: zone creation failed"; return 1; }
  run_child node "$root/bench/orders.mjs" --base "$base" --token="$token" --zone "$zone" \
    --zone-name "$zone_name" --count "$ncerts" --poll-ms 20 --timeout 120 \
    --ca lets_encrypt --method http >"$tmp/orders.json" ||
    { say "acme: tlsward's orders failed; last server log lines:"; tail -n 5 "$log" >&2; return 1; }
  stop_server
  tls_median=$(json "$tmp/orders.json" '(j.median_ms / 1000).toFixed(2)')
}
# <<< measure_tlsward
measure_tlsward

ratio=-
[ "$tls_median" = - ] || ratio=$(awk -v a="$tls_median" -v b="$lego_median" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
echo
echo "tlsward bench: ACME issuance against Pebble ($(dpkg-query -W -f='pebble ${Version}' pebble 2>/dev/null || echo pebble), PEBBLE_VA_NOSLEEP=1), http-01"
echo "  $ncerts issuances per side, one after another, each for new names"
echo
printf '  %-34s %10s   %s\n' "side" "median s" "each (s)"
printf '  %-34s %10s   %s\n' "lego 4.9 (one ECDSA certificate)" "$lego_median" "$(tr '\n' ' ' <"$tmp/lego.times")"
if [ "$tls_median" = - ]; then
  printf '  %-34s %10s   %s\n' "tlsward (ECDSA + RSA pack)" "-" "skipped: no ACME client in this binary"
else
  printf '  %-34s %10s   %s\n' "tlsward (ECDSA + RSA pack)" "$tls_median" "$(json "$tmp/orders.json" 'j.latencies_ms.map((x) => (x / 1000).toFixed(2)).join(" ")')"
fi
echo
echo "  ratio = tlsward median per pack / lego median per certificate: $ratio; goal (issue 11): <= 0.3"
