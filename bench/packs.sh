#!/usr/bin/env bash
# The certificate-pack section of `make bench` (issue 5); also runs alone:
#   bash bench/packs.sh
# In one zone of a fresh store: orders a real pack (the template) and BENCH_ORDERS more one
# after another, timing order->active in auto DCV mode; then, for each size in
# BENCH_PACK_SIZES, stops the server, seeds the zone up to that many packs straight into
# SQLite (bench/seed-packs.sql: copies of the template), restarts it and measures with
# bench/load.mjs GET one pack and a list page (per_page=50, a page in the middle), then
# nginx serving the exact same response bodies as static files, with the same load
# generator at the same concurrency (the server stopped meanwhile). Prints one table with
# the issue-5 goals next to the figures. See bench/README.md.
#
# Knobs (environment):
#   BENCH_PACK_SIZES        packs in the zone per round, ascending (default "1000 100000")
#   BENCH_PACK_CONCURRENCY  requests in flight (default 32)
#   BENCH_PACK_DURATION     seconds of load per measurement (default 5)
#   BENCH_PER_PAGE          per_page of the list (default 50)
#   BENCH_PACK_SERIAL_DURATION  seconds of the extra list measurement at concurrency 1
#                           (latency without queueing; default 3, 0 = skip)
#   BENCH_ORDERS            packs ordered one after another for order->active (default 20)
#   BENCH_ORDER_IDLE        seconds the server idles first, so that its worker fills the
#                           RSA key pool (default 3)
#   BENCH_ORDER_POLL_MS     GET poll interval while waiting for active (default 5)
#   BENCH_NGINX_WORKERS     nginx worker_processes (default auto: one per CPU)
#   BUILD                   build directory of the release binary (default build)
#   BENCH_SKIP_BUILD        1: do not run `make build` (run.sh has just done it)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
sizes=${BENCH_PACK_SIZES:-1000 100000}
concurrency=${BENCH_PACK_CONCURRENCY:-32}
duration=${BENCH_PACK_DURATION:-5}
per_page=${BENCH_PER_PAGE:-50}
serial_duration=${BENCH_PACK_SERIAL_DURATION:-3}
norders=${BENCH_ORDERS:-20}
order_idle=${BENCH_ORDER_IDLE:-3}
poll_ms=${BENCH_ORDER_POLL_MS:-5}
nginx_workers=${BENCH_NGINX_WORKERS:-auto}
zone_name=bench.example
# Issue 5's goals.
goal_get_ratio=0.5 # GET pack >= 0.5 x nginx requests/s
goal_list_p99=5    # list p99 < 5 ms ...
goal_list_at=100000 # ... at 100,000 packs
goal_order_ms=300  # order->active median < 300 ms

for tool in node curl sqlite3; do
  command -v "$tool" >/dev/null || { say "'$tool' is required (scripts/deps.sh installs it)"; exit 1; }
done
prev=0
for n in $sizes; do
  if ! [[ $n =~ ^[0-9]+$ ]] || [ "$n" -le "$prev" ]; then
    say "BENCH_PACK_SIZES must be ascending positive integers"
    exit 1
  fi
  prev=$n
done
[ "$prev" -le 100000 ] || { say "BENCH_PACK_SIZES: at most 100000 (the largest advanced quota)"; exit 1; }
if ! [[ $norders =~ ^[0-9]+$ ]] || [ "$norders" -gt 48 ]; then
  say "BENCH_ORDERS: 0 to 48 (the default quota of 50)"
  exit 1
fi

# nginx: the baseline. Only the benchmark needs it, so it is installed here (not by
# scripts/deps.sh), and only when missing and running as root.
nginx_bin=$(command -v nginx || true)
[ -n "$nginx_bin" ] || [ ! -x /usr/sbin/nginx ] || nginx_bin=/usr/sbin/nginx
if [ -z "$nginx_bin" ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    say "nginx is required for the baseline (apt-get install nginx, as root)"
    exit 1
  fi
  say "installing nginx (apt-get; Debian may also enable its nginx service)"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends nginx >"$tmp/apt.log" 2>&1; then
    apt-get update -qq >>"$tmp/apt.log" 2>&1 || true
    apt-get install -y -qq --no-install-recommends nginx >>"$tmp/apt.log" 2>&1 || {
      cat "$tmp/apt.log" >&2; say "could not install nginx"; exit 1; }
  fi
  nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
fi
nginx_version=$("$nginx_bin" -v 2>&1 | sed -n 's|.*nginx/\([^ ]*\).*|\1|p')

build_release

data=$tmp/data
db=$data/tlsward.db
"$bin" init --data "$data" --json >"$tmp/creds.json" 2>"$tmp/init.log" || {
  cat "$tmp/init.log" >&2; say "init failed"; exit 1; }
token=$(json "$tmp/creds.json" j.token)
account=$(json "$tmp/creds.json" j.account_id)
auth=(-H "Authorization: Bearer $token")

# api_get URL FILE: GET into FILE; fails unless HTTP 200 with "success":true.
api_get() {
  local code
  code=$(curl -sS -o "$2" -w '%{http_code}' "${auth[@]}" "$1") || return 1
  if [ "$code" != 200 ] || ! json "$2" 'j.success === true ? 1 : undefined' >/dev/null; then
    head -c 500 "$2" >&2; echo >&2
    say "GET $1: HTTP $code"
    return 1
  fi
}

# --- fresh store: zone, template pack, order->active ------------------------------------
start_server "$data" "$tmp/server-orders.log"
curl -sS -o "$tmp/zone.json" "${auth[@]}" -H 'Content-Type: application/json' \
  -d "{\"name\":\"$zone_name\",\"account\":{\"id\":\"$account\"}}" "$base/zones"
zone=$(json "$tmp/zone.json" 'j.success === true ? j.result.id : undefined') || {
  cat "$tmp/zone.json" >&2; echo >&2; say "zone creation failed"; exit 1; }
packs_url=$base/zones/$zone/ssl/certificate_packs

# The template: one real advanced pack, issued by the worker; the seeded packs copy it.
say "ordering the template pack and waiting for it to be active"
curl -sS -o "$tmp/template-order.json" "${auth[@]}" -H 'Content-Type: application/json' \
  -d "{\"certificate_authority\":\"google\",\"hosts\":[\"$zone_name\",\"*.$zone_name\"],\"type\":\"advanced\",\"validation_method\":\"txt\",\"validity_days\":90}" \
  "$packs_url/order"
template=$(json "$tmp/template-order.json" 'j.success === true ? j.result.id : undefined') || {
  cat "$tmp/template-order.json" >&2; echo >&2; say "ordering the template pack failed"; exit 1; }
for _ in $(seq 1 600); do
  api_get "$packs_url/$template" "$tmp/template.json"
  [ "$(json "$tmp/template.json" j.result.status)" = active ] && break
  sleep 0.05
done
[ "$(json "$tmp/template.json" j.result.status)" = active ] || { say "the template pack never became active"; exit 1; }

# The worker refills its RSA key pool (one key at a time) only when it has nothing else to
# do: let it idle first, so that the first orders find pooled keys.
pool_size=$(sed -n 's/^#define RSA_POOL_SIZE \([0-9][0-9]*\).*/\1/p' "$root/src/cli/app_open.c" 2>/dev/null | head -n 1)
o_median=- o_max=- o_min=- o_list=
if [ "$norders" -gt 0 ]; then
  say "order->active: idling ${order_idle}s (RSA key pool refill), then $norders orders one after another"
  sleep "$order_idle"
  run_child node "$root/bench/orders.mjs" --base "$base" --token="$token" --zone "$zone" \
    --zone-name "$zone_name" --count "$norders" --poll-ms "$poll_ms" --timeout 10 \
    >"$tmp/orders.json" || { say "order->active failed; last server log lines:"; tail -n 5 "$tmp/server-orders.log" >&2; exit 1; }
  o_median=$(json "$tmp/orders.json" j.median_ms)
  o_max=$(json "$tmp/orders.json" j.max_ms)
  o_min=$(json "$tmp/orders.json" j.min_ms)
  o_list=$(json "$tmp/orders.json" 'j.latencies_ms.map((x) => Math.round(x)).join(" ")')
fi
stop_server
# The zone may hold as many advanced packs as the largest size.
"$bin" zone quota --data "$data" "$zone" --advanced 100000 >/dev/null 2>"$tmp/quota.log" || {
  cat "$tmp/quota.log" >&2; say "zone quota failed"; exit 1; }

# --- nginx ------------------------------------------------------------------------------
# free_port: a loopback port nobody listens on right now.
free_port() { node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'; }
# start_nginx DIR: serves DIR/www on a free port (nginx_port), foreground master (no
# daemon), pid, logs and temp files in DIR, no access log, keep-alive on.
start_nginx() {
  local dir=$1 user_line=
  [ "$(id -u)" -ne 0 ] || user_line="user $(id -un) $(id -gn);" # workers may read $tmp
  for _ in 1 2 3; do # the free port may be taken before nginx binds it
    nginx_port=$(free_port)
    cat >"$dir/nginx.conf" <<EOF
$user_line
daemon off;
master_process on;
worker_processes $nginx_workers;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 65s;
  keepalive_requests 1000000;
  default_type application/json;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  server {
    listen 127.0.0.1:$nginx_port;
    root $dir/www;
  }
}
EOF
    "$nginx_bin" -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" 2>>"$dir/stderr.log" &
    nginx_pid=$!
    for _ in $(seq 1 100); do
      curl -s -o /dev/null "http://127.0.0.1:$nginx_port/pack.json" && return 0
      kill -0 "$nginx_pid" 2>/dev/null || break
      sleep 0.05
    done
    stop_nginx
  done
  cat "$dir/error.log" "$dir/stderr.log" >&2 2>/dev/null || true
  say "nginx did not start"
  return 1
}

# --- one load measurement ---------------------------------------------------------------
# measure NAME URL LABEL CONCURRENCY SECONDS PID...: load.mjs (GET) against URL; the PIDs
# are the server's processes (LABEL names them in the CPU line), whose CPU time is counted. Sets m_rate m_p50 m_p99 m_requests m_failures m_us (server CPU
# per request) m_cores.
measure() {
  local name=$1 url=$2 label=$3 conc=$4 secs=$5
  shift 5
  local rc=0 srv0 srv1 busy0 busy1 tot0 tot1
  srv0=$(proc_ticks "$@")
  read -r busy0 tot0 < <(sys_ticks)
  run_child node "$root/bench/load.mjs" --method GET --url "$url" --token="$token" \
    --concurrency "$conc" --duration "$secs" --max-failures 100 \
    >"$tmp/load-$name.json" || rc=$?
  srv1=$(proc_ticks "$@" || echo "$srv0")
  read -r busy1 tot1 < <(sys_ticks)
  if [ "$rc" -ne 0 ] || ! [ -s "$tmp/load-$name.json" ]; then
    say "$name: load generator failed (exit $rc)"
    return 1
  fi
  m_requests=$(json "$tmp/load-$name.json" j.requests)
  m_failures=$(json "$tmp/load-$name.json" j.failures)
  m_rate=$(json "$tmp/load-$name.json" j.rate)
  m_p50=$(json "$tmp/load-$name.json" j.p50_ms) || m_p50=-
  m_p99=$(json "$tmp/load-$name.json" j.p99_ms) || m_p99=-
  local client_cpu
  secs=$(json "$tmp/load-$name.json" j.seconds)
  client_cpu=$(json "$tmp/load-$name.json" j.cpu_s)
  m_us=$(awk -v t=$((srv1 - srv0)) -v hz="$hz" -v n="$m_requests" 'BEGIN { if (n > 0) printf "%.0f", t / hz / n * 1e6; else print "-" }')
  m_cores=$(cores_split $((srv1 - srv0)) "$client_cpu" $((busy1 - busy0)) $((tot1 - tot0)) "$secs" "$label")
  [ "$m_failures" = 0 ] || any_failures=1
}

# --- one size: seed, restart, measure tlsward, stop, measure nginx -----------------------
rows=()
notes=()
nginx_nworkers='?'
any_failures=0
goals_missed=()
run_size() {
  local size=$1 have need
  have=$(sqlite3 "$db" "SELECT count(*) FROM packs WHERE zone_id = '$zone'")
  need=$((size - have))
  if [ "$need" -gt 0 ]; then
    say "$size packs: seeding $need packs into SQLite (copies of $template)"
    local t0 t1
    t0=$(date +%s%N)
    sqlite3 -bail -cmd ".parameter set \$count $need" -cmd ".parameter set \$template '$template'" \
      "$db" <"$root/bench/seed-packs.sql" >"$tmp/seed.log" 2>&1 || {
      cat "$tmp/seed.log" >&2; say "seeding failed"; return 1; }
    t1=$(date +%s%N)
    seed_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
  else
    seed_s=0
  fi
  local db_mb
  db_mb=$(du -m "$db" | awk '{ print $1 }')

  start_server "$data" "$tmp/server-$size.log"
  local srv_start_ms=$start_ms
  packs_url=$base/zones/$zone/ssl/certificate_packs
  local pages=$(((size + per_page - 1) / per_page))
  local page=$(((pages + 1) / 2))
  local list_url="$packs_url?per_page=$per_page&page=$page"
  # The exact bodies nginx will serve; the GET target is the first pack of that page.
  api_get "$list_url" "$tmp/list-$size.json"
  local total pack
  total=$(json "$tmp/list-$size.json" j.result_info.total_count)
  [ "$total" = "$size" ] || { say "the zone lists $total packs, expected $size"; return 1; }
  pack=$(json "$tmp/list-$size.json" j.result[0].id)
  api_get "$packs_url/$pack" "$tmp/pack-$size.json"
  local pack_bytes list_bytes
  pack_bytes=$(wc -c <"$tmp/pack-$size.json")
  list_bytes=$(wc -c <"$tmp/list-$size.json")

  say "$size packs: tlsward GET pack, concurrency $concurrency, ${duration}s"
  measure "get-$size" "$packs_url/$pack" server "$concurrency" "$duration" "$server_pid"
  local g_rate=$m_rate g_p50=$m_p50 g_p99=$m_p99 g_us=$m_us g_cores=$m_cores
  say "$size packs: tlsward list page $page of $pages, concurrency $concurrency, ${duration}s"
  measure "list-$size" "$list_url" server "$concurrency" "$duration" "$server_pid"
  local l_rate=$m_rate l_p50=$m_p50 l_p99=$m_p99 l_us=$m_us l_cores=$m_cores
  local s_rate=- s_p50=- s_p99=- s_us=-
  if [ "$serial_duration" != 0 ]; then
    say "$size packs: tlsward list page $page, one request at a time, ${serial_duration}s"
    measure "list1-$size" "$list_url" server 1 "$serial_duration" "$server_pid"
    s_rate=$m_rate s_p50=$m_p50 s_p99=$m_p99 s_us=$m_us
  fi
  local rss_mb
  rss_mb=$(awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$server_pid/status")
  stop_server

  local ngx=$tmp/nginx-$size
  mkdir -p "$ngx/www"
  cp "$tmp/pack-$size.json" "$ngx/www/pack.json"
  cp "$tmp/list-$size.json" "$ngx/www/list.json"
  start_nginx "$ngx"
  local ngx_pids workers
  mapfile -t workers < <(pgrep -P "$nginx_pid")
  ngx_pids=("$nginx_pid" "${workers[@]}")
  nginx_nworkers=$((${#ngx_pids[@]} - 1))
  say "$size packs: nginx ($nginx_nworkers workers) GET pack body, then list body"
  measure "nginx-get-$size" "http://127.0.0.1:$nginx_port/pack.json" nginx "$concurrency" "$duration" "${ngx_pids[@]}"
  local ng_rate=$m_rate ng_p99=$m_p99 ng_us=$m_us ng_cores=$m_cores
  measure "nginx-list-$size" "http://127.0.0.1:$nginx_port/list.json" nginx "$concurrency" "$duration" "${ngx_pids[@]}"
  local nl_rate=$m_rate nl_p99=$m_p99 nl_us=$m_us nl_cores=$m_cores
  local ns_rate=- ns_p99=- ns_us=-
  if [ "$serial_duration" != 0 ]; then
    measure "nginx-list1-$size" "http://127.0.0.1:$nginx_port/list.json" nginx 1 "$serial_duration" "${ngx_pids[@]}"
    ns_rate=$m_rate ns_p99=$m_p99 ns_us=$m_us
  fi
  stop_nginx

  local g_ratio l_ratio g_goal l_goal
  g_ratio=$(awk -v a="$g_rate" -v b="$ng_rate" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
  l_ratio=$(awk -v a="$l_rate" -v b="$nl_rate" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
  if awk -v r="$g_ratio" -v g="$goal_get_ratio" 'BEGIN { exit !(r >= g) }'; then
    g_goal="ratio >= $goal_get_ratio: met"
  else
    g_goal="ratio >= $goal_get_ratio: MISSED"
    goals_missed+=("GET pack at $size packs: ratio $g_ratio")
  fi
  if [ "$size" -eq "$goal_list_at" ]; then
    if awk -v p="$l_p99" -v g="$goal_list_p99" 'BEGIN { exit !(p < g) }'; then
      l_goal="p99 < $goal_list_p99 ms: met"
    else
      l_goal="p99 < $goal_list_p99 ms: MISSED"
      goals_missed+=("list at $size packs: p99 $l_p99 ms")
    fi
  else
    l_goal="(p99 goal at $goal_list_at)"
  fi
  rows+=("$(printf '  %7s %-14s %8.1f %7s %8s %8s %9.1f %9s %8s %6s  %s' \
    "$size" "GET pack" "$g_rate" "$g_p50" "$g_p99" "$g_us" "$ng_rate" "$ng_p99" "$ng_us" "$g_ratio" "$g_goal")")
  rows+=("$(printf '  %7s %-14s %8.1f %7s %8s %8s %9.1f %9s %8s %6s  %s' \
    "$size" "list p$page" "$l_rate" "$l_p50" "$l_p99" "$l_us" "$nl_rate" "$nl_p99" "$nl_us" "$l_ratio" "$l_goal")")
  if [ "$serial_duration" != 0 ]; then
    local s_ratio
    s_ratio=$(awk -v a="$s_rate" -v b="$ns_rate" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
    rows+=("$(printf '  %7s %-14s %8.1f %7s %8s %8s %9.1f %9s %8s %6s  %s' \
      "$size" "list p$page c1" "$s_rate" "$s_p50" "$s_p99" "$s_us" "$ns_rate" "$ns_p99" "$ns_us" "$s_ratio" "(concurrency 1: latency alone)")")
  fi
  notes+=("$(printf '  %7s packs: seeded in %ss, store %s MB, server start %s ms, server RSS %s MB after the loads;' \
    "$size" "$seed_s" "$db_mb" "$srv_start_ms" "$rss_mb")")
  notes+=("$(printf '  %7s        bodies: pack %s B, list %s B (%s per page)' "" "$pack_bytes" "$list_bytes" "$per_page")")
  notes+=("$(printf '  %7s        CPU cores, GET:  %s | %s' "" "$g_cores" "$ng_cores")")
  notes+=("$(printf '  %7s        CPU cores, list: %s | %s' "" "$l_cores" "$nl_cores")")
}

for size in $sizes; do
  run_size "$size"
done

# --- the table --------------------------------------------------------------------------
o_goal=-
if [ "$norders" -gt 0 ]; then
  if awk -v m="$o_median" -v g="$goal_order_ms" 'BEGIN { exit !(m < g) }'; then
    o_goal="median < $goal_order_ms ms: met"
  else
    o_goal="median < $goal_order_ms ms: MISSED"
    goals_missed+=("order->active median $o_median ms")
  fi
fi
echo
echo "tlsward bench: certificate packs ($ncpu CPUs, SQLite $(sqlite3 --version | awk '{ print $1 }'), nginx $nginx_version)"
echo "  one zone; GET /zones/:id/ssl/certificate_packs/:id (a pack of the listed page) and"
echo "  GET .../certificate_packs?per_page=$per_page&page=P (the middle page), concurrency $concurrency,"
echo "  ${duration}s each, --rate-limit 0, release build; packs seeded in SQLite as copies of a real"
echo "  issued pack (2 certificates each). Baseline: nginx ($nginx_nworkers workers) serving the same"
echo "  bytes as static files, same load generator and concurrency, tlsward stopped."
echo
printf '  %7s %-14s %8s %7s %8s %8s %9s %9s %8s %6s  %s\n' \
  "packs" "request" "req/s" "p50 ms" "p99 ms" "us/req" "nginx/s" "ngx p99" "ngx us" "ratio" "goal (issue 5)"
for row in "${rows[@]}"; do echo "$row"; done
echo
if [ "$norders" -gt 0 ]; then
  printf '  order -> active (auto DCV, %s orders one after another, polled every %s ms):\n' "$norders" "$poll_ms"
  printf '    median %s ms, min %s ms, max %s ms   goal: %s\n' "$o_median" "$o_min" "$o_max" "$o_goal"
  printf '    each (ms): %s\n' "$o_list"
  printf '    RSA key pool: %s keys, full at the first order (the server idled %ss first); after each\n' "${pool_size:-?}" "$order_idle"
  printf '    pack the idle worker starts a pool key, which the next order waits for (bench/README.md).\n'
  echo
fi
for n in "${notes[@]}"; do echo "$n"; done
echo
echo "  req/s, p50/p99: tlsward; us/req: server CPU per request (all threads); nginx/s, ngx p99,"
echo "  ngx us: nginx's (master + workers); ratio = req/s / nginx/s. The load generator (one Node"
echo "  process) shares the CPUs: see \"client\" in the CPU lines. See bench/README.md."
if [ "${#goals_missed[@]}" -gt 0 ]; then
  missed=$(printf '%s; ' "${goals_missed[@]}")
  echo "  goals missed: ${missed%; }"
fi
if [ "$any_failures" -ne 0 ]; then
  say "some requests failed (see the messages above)"
  exit 1
fi
