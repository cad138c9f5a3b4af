#!/usr/bin/env bash
# The certificate-pack section of `make bench` (issue 13's GET, list, RSS, order->active and
# start/exit rows); also runs alone:
#   bash bench/packs.sh
# In one zone of a fresh store, with `tlsward serve` as a user runs it (worker on, auto DCV):
#   1. orders a real pack (the template), then BENCH_ORDERS more one after another, timing
#      order->active (bench/orders.mjs): p50 and p90;
#   2. for each size in BENCH_PACK_SIZES: stops the server, seeds the zone up to that many
#      packs straight into SQLite (bench/seed-packs.sql: copies of the template), restarts
#      it, waits until it is idle, and lists per_page=50 at a random page per request
#      (wrk -t2 -c8, bench/wrk.lua): p50, p90, p99, server CPU per request;
#   3. at the largest size: the server's VmRSS and VmHWM right after the list load; then GET
#      one pack, keep-alive, wrk -t2 -c32, in BENCH_GET_ROUNDS alternating rounds against
#      tlsward and against nginx serving the same body bytes (both up, one loaded at a
#      time): medians of req/s, p99 and server CPU per request, and the ratio;
#   4. with the server stopped: cold start (spawn -> first 200 from /healthz) and SIGTERM
#      exit of that store, BENCH_START_RUNS times (bench/startstop.mjs): medians.
# Prints its tables; records the headline figures for the summary line (bench/lib.sh). No
# time is asserted. See bench/README.md.
#
# Knobs (environment):
#   BENCH_PACK_SIZES       packs in the zone per list round, ascending (default "10000 100000")
#   BENCH_PER_PAGE         per_page of the list (default 50)
#   BENCH_LIST_DURATION    seconds of list load per size (default 5)
#   BENCH_LIST_WARMUP      before the measured load: "sweep" (default) lists every page once,
#                          in order, with the same connections (its figures are printed as
#                          the first pass: every pack rendered, none cached yet); N: N
#                          seconds of the random load instead; 0: none. The measured figures
#                          are then the steady state, with the rendered-pack cache filled
#                          as far as it holds the zone
#   BENCH_LIST_CONNECTIONS wrk connections of the list load (default 8)
#   BENCH_GET_ROUNDS       alternating GET rounds per side (default 3)
#   BENCH_GET_DURATION     seconds per GET round (default 5)
#   BENCH_GET_CONNECTIONS  wrk connections of the GET load (default 32)
#   BENCH_WRK_THREADS      wrk threads (default 2)
#   BENCH_ORDERS           packs ordered one after another for order->active (default 20)
#   BENCH_ORDER_IDLE       seconds the server idles first (RSA key pool refill; default 3)
#   BENCH_ORDER_POLL_MS    GET poll interval while waiting for active (default 5)
#   BENCH_START_RUNS       cold starts and SIGTERM exits timed (default 5; 0 = skip)
#   BENCH_NGINX_WORKERS    nginx worker_processes (default auto: one per CPU)
#   BENCH_PERF             1: perf profile of each list load and of the first GET round
#   BUILD                  build directory of the release binary (default build)
#   BENCH_SKIP_BUILD       1: do not run `make build` (run.sh has just done it)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
sizes=${BENCH_PACK_SIZES:-10000 100000}
per_page=${BENCH_PER_PAGE:-50}
list_secs=${BENCH_LIST_DURATION:-5}
list_warmup=${BENCH_LIST_WARMUP:-sweep}
list_conns=${BENCH_LIST_CONNECTIONS:-8}
get_rounds=${BENCH_GET_ROUNDS:-3}
get_secs=${BENCH_GET_DURATION:-5}
get_conns=${BENCH_GET_CONNECTIONS:-32}
threads=${BENCH_WRK_THREADS:-2}
norders=${BENCH_ORDERS:-20}
order_idle=${BENCH_ORDER_IDLE:-3}
poll_ms=${BENCH_ORDER_POLL_MS:-5}
start_runs=${BENCH_START_RUNS:-5}
nginx_workers=${BENCH_NGINX_WORKERS:-auto}
zone_name=bench.example

for tool in node curl sqlite3 wrk; do
  command -v "$tool" >/dev/null || { say "'$tool' is required (scripts/deps.sh installs it)"; exit 1; }
done
[[ $list_warmup =~ ^([0-9]{1,2}|sweep)$ ]] || { say "BENCH_LIST_WARMUP: sweep, or 0 to 99 seconds"; exit 1; }
for v in per_page list_secs list_conns get_rounds get_secs get_conns threads; do
  [[ ${!v} =~ ^[1-9][0-9]{0,3}$ ]] || { say "$v: expected a positive integer, got '${!v}'"; exit 1; }
done
if [ "$list_secs" -gt 60 ] || [ "$get_secs" -gt 60 ]; then say "load durations: at most 60 s"; exit 1; fi
[ "$get_rounds" -le 10 ] || { say "BENCH_GET_ROUNDS: at most 10"; exit 1; }
if ! [[ $start_runs =~ ^[0-9]{1,2}$ ]] || [ "$start_runs" -gt 50 ]; then say "BENCH_START_RUNS: 0 to 50"; exit 1; fi
prev=0
for n in $sizes; do
  if ! [[ $n =~ ^[0-9]+$ ]] || [ "$n" -le "$prev" ]; then
    say "BENCH_PACK_SIZES must be ascending positive integers"
    exit 1
  fi
  prev=$n
done
[ "$prev" -gt 0 ] || { say "BENCH_PACK_SIZES is empty"; exit 1; }
[ "$prev" -le 100000 ] || { say "BENCH_PACK_SIZES: at most 100000 (the largest advanced quota)"; exit 1; }
largest=$prev
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
# --- 1. fresh store: zone, template pack, order->active -------------------------------------
bench_tenant "$data" "$tmp/server-orders.log" "$zone_name" || exit 1
auth=(-H "Authorization: Bearer $token")
export BENCH_TOKEN=$token # bench/wrk.lua reads it (never on a command line)

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

packs_path=/client/v4/zones/$zone/ssl/certificate_packs

# The template: one real advanced pack, issued by the worker; the seeded packs copy it.
say "ordering the template pack and waiting for it to be active"
curl -sS -o "$tmp/template-order.json" "${auth[@]}" -H 'Content-Type: application/json' \
  -d "{\"certificate_authority\":\"google\",\"hosts\":[\"$zone_name\",\"*.$zone_name\"],\"type\":\"advanced\",\"validation_method\":\"txt\",\"validity_days\":90}" \
  "$base/zones/$zone/ssl/certificate_packs/order"
template=$(json "$tmp/template-order.json" 'j.success === true ? j.result.id : undefined') || {
  cat "$tmp/template-order.json" >&2; echo >&2; say "ordering the template pack failed"; exit 1; }
for _ in $(seq 1 600); do
  api_get "$base/zones/$zone/ssl/certificate_packs/$template" "$tmp/template.json"
  [ "$(json "$tmp/template.json" j.result.status)" = active ] && break
  sleep 0.05
done
[ "$(json "$tmp/template.json" j.result.status)" = active ] || { say "the template pack never became active"; exit 1; }

# The worker refills its RSA key pool (one key at a time) only when it has nothing else to
# do: let it idle first (at least BENCH_ORDER_IDLE s, then until its CPU time stops moving,
# i.e. the pool is full), so that the orders find pooled keys as after any quiet spell.
pool_size=$(sed -n 's/^#define RSA_POOL_DEFAULT \([0-9][0-9]*\).*/\1/p' "$root/src/cli/app_open.c" 2>/dev/null | head -n 1)
o_p50=- o_p90=- o_max=- o_min=- o_list=
if [ "$norders" -gt 0 ]; then
  say "order->active: idling ${order_idle}s and until the RSA key pool is full, then $norders orders one after another"
  sleep "$order_idle"
  BENCH_IDLE_MAX=30 wait_idle "$server_pid"
  run_child node "$root/bench/orders.mjs" --base "$base" --token="$token" --zone "$zone" \
    --zone-name "$zone_name" --count "$norders" --poll-ms "$poll_ms" --timeout 10 \
    >"$tmp/orders.json" || { say "order->active failed; last server log lines:"; tail -n 5 "$tmp/server-orders.log" >&2; exit 1; }
  o_p50=$(json "$tmp/orders.json" j.median_ms)
  o_p90=$(json "$tmp/orders.json" j.p90_ms)
  o_max=$(json "$tmp/orders.json" j.max_ms)
  o_min=$(json "$tmp/orders.json" j.min_ms)
  o_list=$(json "$tmp/orders.json" 'j.latencies_ms.map((x) => Math.round(x)).join(" ")')
  summary_put o2a_p90 "$(printf '%.0f' "$o_p90")"
fi
stop_server
# The zone may hold as many advanced packs as the largest size.
"$bin" zone quota --data "$data" "$zone" --advanced 100000 >/dev/null 2>"$tmp/quota.log" || {
  cat "$tmp/quota.log" >&2; say "zone quota failed"; exit 1; }

# --- nginx ----------------------------------------------------------------------------------
# start_nginx DIR: serves DIR/www on a free port (nginx_port), foreground master (no
# daemon), pid, logs and temp files in DIR, no access log, keep-alive on. The answer's
# headers are made as close to tlsward's as nginx allows: Content-Type application/json,
# an X-Request-Id of the same length, no ETag, Last-Modified or Accept-Ranges (nginx still
# sends "Server: nginx" and "Connection: keep-alive").
start_nginx() {
  local dir=$1 user_line=
  [ "$(id -u)" -ne 0 ] || user_line="user $(id -un) $(id -gn);" # workers may read $tmp
  for _ in 1 2 3; do # the free port may be taken before nginx binds it
    nginx_port=$(free_port)
    cat >"$dir/nginx.conf" <<NGINX
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
  server_tokens off;
  etag off;
  max_ranges 0;
  types { }
  default_type application/json;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  server {
    listen 127.0.0.1:$nginx_port;
    root $dir/www;
    add_header X-Request-Id 0123456789abcdef0123456789abcdef;
    add_header Last-Modified "";
  }
}
NGINX
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

# --- 2. one size: seed, restart, list load (and at the largest size RSS, GET rounds) --------
any_failures=0
list_rows=()
first_rows=() # the sweep before each list load: the first pass over every page
notes=()
get_rows=()
rss_kb=- hwm_kb=-
g_ratio=- g_tls=- g_ngx=- g_tls_p99=- g_ngx_p99=- g_tls_us=- g_ngx_us=- nginx_nworkers='?'
row() { printf '  %7s %6s %8s %9s %8s %8s %8s %8s  %s' "$@"; }
run_size() {
  local size=$1 have need seed_s=0
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
  fi
  local db_mb
  db_mb=$(du -m "$db" | awk '{ print $1 }')

  start_server "$data" "$tmp/server-$size.log"
  wait_idle "$server_pid"
  local pages=$(((size + per_page - 1) / per_page))
  local mid=$(((pages + 1) / 2))
  # The page count and the body GET serves: the first pack of the middle page.
  api_get "$base/zones/$zone/ssl/certificate_packs?per_page=$per_page&page=$mid" "$tmp/list-$size.json"
  local total pack
  total=$(json "$tmp/list-$size.json" j.result_info.total_count)
  [ "$total" = "$size" ] || { say "the zone lists $total packs, expected $size"; return 1; }
  pack=$(json "$tmp/list-$size.json" j.result[0].id)

  say "$size packs: list per_page=$per_page, random page of $pages, wrk -t$threads -c$list_conns, ${list_secs}s"
  if [ "$list_warmup" = sweep ]; then # bounded: wrk stops at 60 s even if the pass is not over
    BENCH_PATHS="$packs_path?per_page=$per_page&page={page}" BENCH_PAGES=$pages BENCH_PAGE_SWEEP=$threads \
      wrk_run "list-sweep-$size" "$threads" "$list_conns" 60 "$base/zones" "$server_pid"
    first_rows+=("$(row "$size" "$pages" "$w_ok" "$w_rate" "$w_p50" "$w_p90" "$w_p99" "$w_us" "")")
  elif [ "$list_warmup" -gt 0 ]; then
    BENCH_PATHS="$packs_path?per_page=$per_page&page={page}" BENCH_PAGES=$pages \
      wrk_run "list-warmup-$size" "$threads" "$list_conns" "$list_warmup" "$base/zones" "$server_pid"
  fi
  BENCH_PATHS="$packs_path?per_page=$per_page&page={page}" BENCH_PAGES=$pages BENCH_PERF_PID=$server_pid \
    wrk_run "list-$size" "$threads" "$list_conns" "$list_secs" "$base/zones" "$server_pid"
  list_rows+=("$(row "$size" "$pages" "$w_ok" "$w_rate" "$w_p50" "$w_p90" "$w_p99" "$w_us" "")")
  notes+=("$(printf '  %7s packs: seeded in %ss, store %s MB; list load CPU cores: %s' "$size" "$seed_s" "$db_mb" "$w_cores")")
  summary_put "list_p99_$size" "$(printf '%.1f' "$w_p99")"

  if [ "$size" -eq "$largest" ]; then
    rss_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$server_pid/status")
    hwm_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$server_pid/status")
    summary_put rss_mb "$(awk -v k="$rss_kb" 'BEGIN { printf "%.0f", k / 1024 }')"
    summary_put rss_at "$size"
    get_rounds_at "$size" "$pack"
  fi
  stop_server
}

# get_rounds_at SIZE PACK: GET one pack, alternating tlsward and nginx (same bytes).
get_rounds_at() {
  local size=$1 pack=$2 url=$base/zones/$zone/ssl/certificate_packs/$2
  local ngx=$tmp/nginx
  mkdir -p "$ngx/www"
  api_get "$url" "$ngx/www/pack.json"
  cp "$ngx/www/pack.json" "$tmp/pack-body.json"
  start_nginx "$ngx"
  local workers ngx_pids
  mapfile -t workers < <(pgrep -P "$nginx_pid")
  ngx_pids=("$nginx_pid" "${workers[@]}")
  nginx_nworkers=$((${#ngx_pids[@]} - 1))
  cmp -s <(curl -sS "http://127.0.0.1:$nginx_port/pack.json") "$tmp/pack-body.json" || {
    say "nginx does not serve the pack's bytes"; return 1; }
  curl -sS -D "$tmp/headers-tlsward.txt" -o /dev/null "${auth[@]}" "$url"
  curl -sS -D "$tmp/headers-nginx.txt" -o /dev/null "http://127.0.0.1:$nginx_port/pack.json"
  pack_bytes=$(wc -c <"$tmp/pack-body.json")
  local r
  : >"$tmp/get-tlsward" && : >"$tmp/get-nginx"
  for r in $(seq 1 "$get_rounds"); do
    say "$size packs: GET pack round $r/$get_rounds: tlsward, then nginx ($nginx_nworkers workers), wrk -t$threads -c$get_conns, ${get_secs}s each"
    local profiled=
    [ "$r" != 1 ] || profiled=$server_pid # BENCH_PERF=1: the first round only
    BENCH_PERF_PID=$profiled WRK_LABEL=tlsward wrk_run "get-tlsward-$r" "$threads" "$get_conns" "$get_secs" "$url" "$server_pid"
    echo "$w_rate $w_p99 $w_us" >>"$tmp/get-tlsward"
    get_rows+=("$(printf '    %5s %-8s %9s %8s %8s %8s %8s  %s' "$r" tlsward "$w_rate" "$w_p50" "$w_p90" "$w_p99" "$w_us" "$w_cores")")
    WRK_LABEL=nginx wrk_run "get-nginx-$r" "$threads" "$get_conns" "$get_secs" "http://127.0.0.1:$nginx_port/pack.json" "${ngx_pids[@]}"
    echo "$w_rate $w_p99 $w_us" >>"$tmp/get-nginx"
    get_rows+=("$(printf '    %5s %-8s %9s %8s %8s %8s %8s  %s' "$r" nginx "$w_rate" "$w_p50" "$w_p90" "$w_p99" "$w_us" "$w_cores")")
  done
  stop_nginx
  # col FILE N FORMAT: the median of column N of FILE, printed with FORMAT.
  # shellcheck disable=SC2059 # the format is the argument
  col() { printf "$3" "$(awk -v n="$2" '{ print $n }' "$1" | median)"; }
  g_tls=$(col "$tmp/get-tlsward" 1 %.1f)
  g_ngx=$(col "$tmp/get-nginx" 1 %.1f)
  g_tls_p99=$(col "$tmp/get-tlsward" 2 %.2f)
  g_ngx_p99=$(col "$tmp/get-nginx" 2 %.2f)
  g_tls_us=$(col "$tmp/get-tlsward" 3 %.0f)
  g_ngx_us=$(col "$tmp/get-nginx" 3 %.0f)
  g_ratio=$(awk -v a="$g_tls" -v b="$g_ngx" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
  summary_put get_ratio "$g_ratio"
}

for size in $sizes; do
  run_size "$size"
done

# --- 4. cold start and SIGTERM exit ---------------------------------------------------------
s_med=- e_med=- s_list=- e_list=-
if [ "$start_runs" -gt 0 ]; then
  say "cold start and SIGTERM exit with $largest packs, $start_runs times"
  run_child node "$root/bench/startstop.mjs" --bin "$bin" --data "$data" --runs "$start_runs" \
    >"$tmp/startstop.json" || { say "start/exit timing failed"; exit 1; }
  s_med=$(json "$tmp/startstop.json" j.start_median_ms)
  e_med=$(json "$tmp/startstop.json" j.exit_median_ms)
  s_list=$(json "$tmp/startstop.json" 'j.start_ms.join(" ")')
  e_list=$(json "$tmp/startstop.json" 'j.exit_ms.join(" ")')
  summary_put start_ms "$(printf '%.0f' "$s_med")"
  summary_put exit_ms "$(printf '%.0f' "$e_med")"
fi

# --- the tables -----------------------------------------------------------------------------
echo
echo "tlsward bench: certificate packs ($ncpu CPUs, SQLite $(sqlite3 --version | awk '{ print $1 }'), nginx $nginx_version, $(wrk --version 2>&1 | head -n 1 | awk '{ print $1, $2 }'))"
echo "  one zone, packs seeded in SQLite as copies of a real issued pack (2 certificates each);"
echo "  tlsward serve --rate-limit 0 --dcv-mode auto (worker on), release build, idle before each load."
echo
echo "  GET one pack ($largest packs in the zone, ${pack_bytes:-?} B body), keep-alive, wrk -t$threads -c$get_conns,"
echo "  $get_rounds alternating rounds of ${get_secs}s; nginx ($nginx_nworkers workers) serves the same bytes:"
printf '    %5s %-8s %9s %8s %8s %8s %8s  %s\n' round server "req/s" "p50 ms" "p90 ms" "p99 ms" "us/req" "CPU cores"
for r in "${get_rows[@]}"; do echo "$r"; done
printf '    median: tlsward %s req/s, p99 %s ms, %s us/req; nginx %s req/s, p99 %s ms, %s us/req\n' \
  "$g_tls" "$g_tls_p99" "$g_tls_us" "$g_ngx" "$g_ngx_p99" "$g_ngx_us"
printf '    ratio tlsward/nginx req/s: %s   goal: >= 0.5 (stretch 0.8)\n' "$g_ratio"
echo
echo "  list per_page=$per_page, a random page per request, wrk -t$threads -c$list_conns, ${list_secs}s per size:"
printf '  %7s %6s %8s %9s %8s %8s %8s %8s  %s\n' packs pages answers "req/s" "p50 ms" "p90 ms" "p99 ms" "us/req" ""
for r in "${list_rows[@]}"; do echo "$r"; done
echo "    goal: p99 < 5 ms at 10,000 and at 100,000 packs"
if [ "${#first_rows[@]}" -gt 0 ]; then
  echo "  first pass before each load (every page once, in order, same connections; each pack"
  echo "  rendered for the first time since the server started):"
  for r in "${first_rows[@]}"; do echo "$r"; done
fi
for n in "${notes[@]}"; do echo "$n"; done
echo
printf '  RSS of tlsward serve with %s packs after the list load: VmRSS %s MB, VmHWM %s MB   goal: <= 64 MB\n' \
  "$largest" "$(awk -v k="$rss_kb" 'BEGIN { printf "%.1f", k / 1024 }')" "$(awk -v k="$hwm_kb" 'BEGIN { printf "%.1f", k / 1024 }')"
if [ "$norders" -gt 0 ]; then
  printf '  order -> active (auto DCV, %s orders one after another, polled every %s ms; RSA key pool %s):\n' "$norders" "$poll_ms" "${pool_size:-?}"
  printf '    p50 %.1f ms, p90 %.1f ms, min %.1f ms, max %.1f ms   goal: p90 < 100 ms\n' "$o_p50" "$o_p90" "$o_min" "$o_max"
  printf '    each (ms): %s\n' "$o_list"
fi
if [ "$start_runs" -gt 0 ]; then
  printf '  cold start (spawn -> first 200 from /healthz, %s packs): median %s ms (each: %s)\n' "$largest" "$s_med" "$s_list"
  printf '  SIGTERM exit (idle server -> process gone): median %s ms (each: %s)\n' "$e_med" "$e_list"
fi
echo "  us/req: server CPU per answer (all threads; nginx: master + workers), from /proc/PID/stat."
print_profiles
[ -n "${BENCH_SUMMARY:-}" ] || summary_line
if [ "$any_failures" -ne 0 ]; then
  say "some requests failed (see the messages above)"
  exit 1
fi
