# shellcheck shell=bash
# Shared by the benchmark scripts (bench/run.sh and the section scripts): sourced after
# `set -euo pipefail` with the repository root as the working directory. Sets root, build,
# bin, tmp (a temporary directory removed on exit), hz, ncpu, and the exit/signal traps that
# stop whatever the script started (the child being waited for, the server, nginx). Also
# the load helper (wrk_run, over bench/wrk.lua), wait_idle and the summary figures.

root=$PWD
build=${BUILD:-build}
bin=$root/$build/tlsward

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tlsward-bench.XXXXXX")
server_pid=
child_pid=
nginx_pid=
perf_pid= # BENCH_PERF=1: the perf record running beside a wrk run
# Long-running children run in the background and are waited for, so that a signal to
# this script runs the traps at once instead of after the child has finished.
run_child() {
  "$@" &
  child_pid=$!
  local rc=0
  wait "$child_pid" || rc=$?
  child_pid=
  return "$rc"
}
stop_child() {
  if [ -n "$child_pid" ]; then
    local kids
    kids=$(pgrep -P "$child_pid" || true) # openssl speed -multi forks its workers
    # shellcheck disable=SC2086 # a list of pids
    kill -TERM "$child_pid" $kids 2>/dev/null || true
    wait "$child_pid" 2>/dev/null || true
    child_pid=
  fi
}
# stop_pid PID [TENTHS]: SIGTERM, then up to TENTHS tenths of a second (default 50) for it
# to exit, then SIGKILL; reaps it. Nothing when PID is empty.
stop_pid() {
  local pid=$1 tenths=${2:-50}
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 "$tenths"); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
# SIGTERM, then up to 10 s for in-flight requests to finish, then SIGKILL.
stop_server() {
  if [ -n "$server_pid" ]; then
    stop_pid "$server_pid" 100
    server_pid=
  fi
}
# nginx's master (started in the foreground with `daemon off`): SIGTERM is its fast
# shutdown and takes the workers with it; SIGKILL both after 5 s.
stop_nginx() {
  if [ -n "$nginx_pid" ]; then
    local kids
    kids=$(pgrep -P "$nginx_pid" || true)
    kill -TERM "$nginx_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$nginx_pid" 2>/dev/null || break
      sleep 0.1
    done
    # shellcheck disable=SC2086 # a list of pids
    kill -KILL "$nginx_pid" $kids 2>/dev/null || true
    wait "$nginx_pid" 2>/dev/null || true
    nginx_pid=
  fi
}
cleanup() {
  stop_child
  if [ -n "$perf_pid" ]; then
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
  fi
  stop_server
  stop_nginx
  if [ "${BENCH_KEEP_TMP:-0}" = 1 ]; then
    say "kept $tmp (BENCH_KEEP_TMP=1)"
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say() { printf 'bench: %s\n' "$*" >&2; }
# Busy and total jiffies of the whole machine (busy = all but idle and iowait).
sys_ticks() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t; exit }' /proc/stat; }
# utime + stime of processes (all their threads), in clock ticks, summed; fails (and
# prints nothing) when one of them is gone.
proc_ticks() {
  local files=() p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || return 1
    files+=("/proc/$p/stat")
  done
  awk '{ t += $14 + $15 } END { print t + 0 }' "${files[@]}"
}
# children_cpu VAR: CPU seconds (user + system) of this script's finished children, from
# `times` (run in this shell, not in a subshell, which would report its own children).
children_cpu() {
  times >"$tmp/times"
  printf -v "$1" '%s' "$(awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] } print t }' "$tmp/times")"
}
hz=$(getconf CLK_TCK)
ncpu=$(nproc)

# cores_split SRV_TICKS CLIENT_CPU_S BUSY_TICKS TOTAL_TICKS SECONDS [SERVER_LABEL]: average
# cores used by the server, by the load generator and by everything else on the machine
# over a window (BUSY/TOTAL from two sys_ticks readings, SRV_TICKS from two proc_ticks).
cores_split() {
  awk -v s="$1" -v c="$2" -v b="$3" -v t="$4" -v secs="$5" -v label="${6:-server}" -v hz="$hz" -v ncpu="$ncpu" \
    'BEGIN { busy = (t > 0 ? ncpu * b / t : 0); srv = s / hz / secs; cli = c / secs; other = busy - srv - cli; if (other < 0) other = 0;
             printf "%s %.2f, client %.2f, other %.2f", label, srv, cli, other }'
}

# json FILE EXPR: print a field of a JSON document (EXPR is JavaScript over `j`).
json() { node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); const v = ('"$2"'); if (v === undefined || v === null) process.exit(1); console.log(v);' "$1"; }

# build_release: `make build` unless BENCH_SKIP_BUILD=1 (run.sh has just built it).
build_release() {
  if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    say "building the release binary ($build, RelWithDebInfo)"
    if ! make -s --no-print-directory build >"$tmp/build.log" 2>&1; then
      cat "$tmp/build.log" >&2
      say "build failed"
      return 1
    fi
  fi
  [ -x "$bin" ] || { say "no binary at $bin"; return 1; }
}

# start_server DATA LOG [ARGS...]: `tlsward serve` on a free loopback port with no rate
# limit; sets server_pid, port, base (the API's base URL) and start_ms (from exec to the
# "listening" log line, polled every 10 ms).
# shellcheck disable=SC2034 # start_ms and base are for the caller
start_server() {
  local data=$1 log=$2
  shift 2
  local t0 t1
  t0=$(date +%s%N)
  "$bin" serve --data "$data" --listen 127.0.0.1:0 --rate-limit 0 --dcv-mode auto "$@" 2>"$log" &
  server_pid=$!
  port=
  for _ in $(seq 1 1000); do
    port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$log" | head -n 1)
    [ -n "$port" ] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    sleep 0.01
  done
  t1=$(date +%s%N)
  if [ -z "$port" ]; then
    cat "$log" >&2
    say "server did not start"
    return 1
  fi
  start_ms=$(((t1 - t0) / 1000000))
  base=http://127.0.0.1:$port/client/v4
}

# bench_tenant DATA LOG ZONES [ARGS...]: the set-up every section starts from. A fresh store
# in DATA (`tlsward init`), `tlsward serve` on it (start_server DATA LOG ARGS...) and, through
# the API, one zone per name in ZONES (space separated) in init's account. Sets token and
# account (init's credentials), zones (the zone ids, in ZONES' order) and zone (the first),
# besides start_server's variables. Returns 1 with the reason on stderr.
# shellcheck disable=SC2034 # token, account, zones and zone are for the caller
bench_tenant() {
  local data=$1 log=$2 names=$3 name tag
  shift 3
  tag=$(basename "$data")
  "$bin" init --data "$data" --json >"$tmp/creds-$tag.json" 2>"$tmp/init-$tag.log" || {
    cat "$tmp/init-$tag.log" >&2; say "init failed"; return 1; }
  token=$(json "$tmp/creds-$tag.json" j.token)
  account=$(json "$tmp/creds-$tag.json" j.account_id)
  start_server "$data" "$log" "$@" || return 1
  zones=()
  for name in $names; do
    curl -sS -o "$tmp/zone-$name.json" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      -d "{\"name\":\"$name\",\"account\":{\"id\":\"$account\"}}" "$base/zones" || true
    zones+=("$(json "$tmp/zone-$name.json" 'j.success === true ? j.result.id : undefined')") || {
      cat "$tmp/zone-$name.json" >&2; echo >&2; say "creating zone $name failed"; return 1; }
  done
  zone=${zones[0]:-}
}

# free_port: a loopback TCP port nobody listens on right now.
free_port() { node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'; }

# wait_idle PID...: waits (at most BENCH_IDLE_MAX s, default 15) until the processes use
# no more than one clock tick per 0.25 s twice in a row, so that what a server does right
# after it starts (the worker filling its RSA key pool) is not counted in the next load.
wait_idle() {
  local prev cur quiet=0 max=${BENCH_IDLE_MAX:-15}
  prev=$(proc_ticks "$@") || return 0
  for _ in $(seq 1 $((max * 4))); do
    sleep 0.25
    cur=$(proc_ticks "$@") || return 0
    if [ $((cur - prev)) -le 1 ]; then
      quiet=$((quiet + 1))
      [ "$quiet" -lt 2 ] || return 0
    else
      quiet=0
    fi
    prev=$cur
  done
  say "the server was still busy after ${max}s; measuring anyway"
}

# wrk_run NAME THREADS CONNECTIONS SECONDS URL PID...: one bounded wrk run (bench/wrk.lua;
# the request comes from the BENCH_* variables the caller sets, see wrk.lua) while the
# CPU time of PID... (the server's processes) is read from /proc before and after. Sets
#   w_ok (2xx/3xx answers), w_rate (w_ok per second), w_bad (other answers and socket
#   errors), w_p50 w_p90 w_p99 (ms), w_us (server CPU µs per w_ok answer), w_cores (CPU
#   split over the run: server, wrk, the rest of the machine).
# Fails when wrk fails or prints no result line; failed requests only set any_failures=1.
# shellcheck disable=SC2034 # the w_* results and any_failures are for the caller
wrk_run() {
  local name=$1 threads=$2 conns=$3 secs=$4 url=$5 rc=0
  shift 5
  local srv0 srv1 busy0 busy1 tot0 tot1 cli0 cli1
  # BENCH_PERF=1 and BENCH_PERF_PID set by the caller: a system-wide perf profile over the
  # run (system-wide: threads the server starts after perf attaches are counted too).
  # perf starts disabled and is enabled through its control FIFO; its answer on the ack
  # FIFO comes once it really records (its set-up takes ~1 s on a busy machine, which a
  # plain `perf record -- sleep` would cut off the start of the run).
  local ctl='' ack='' reply=''
  if [ "${BENCH_PERF:-0}" = 1 ] && [ -n "${BENCH_PERF_PID:-}" ] && command -v perf >/dev/null; then
    rm -f "$tmp/perf-ctl" "$tmp/perf-ack"
    mkfifo "$tmp/perf-ctl" "$tmp/perf-ack"
    perf record -q -a -g -F 499 -D -1 --control "fifo:$tmp/perf-ctl,$tmp/perf-ack" \
      -o "$tmp/perf-$name.data" >"$tmp/perf-$name.log" 2>&1 &
    perf_pid=$!
    exec {ctl}<>"$tmp/perf-ctl" {ack}<>"$tmp/perf-ack" # read-write: never blocks
    echo enable >&"$ctl"
    read -t 30 -r reply <&"$ack" || say "$name: perf did not start recording within 30 s"
  fi
  srv0=$(proc_ticks "$@")
  children_cpu cli0
  read -r busy0 tot0 < <(sys_ticks)
  run_child wrk -t "$threads" -c "$conns" -d "${secs}s" --timeout 30s --latency \
    -s "$root/bench/wrk.lua" "$url" >"$tmp/wrk-$name.out" 2>&1 || rc=$?
  read -r busy1 tot1 < <(sys_ticks)
  children_cpu cli1
  srv1=$(proc_ticks "$@" || echo "$srv0")
  if [ -n "$perf_pid" ]; then
    echo disable >&"$ctl"
    read -t 10 -r reply <&"$ack" || true
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" || true
    perf_pid=
    exec {ctl}>&- {ack}>&-
    perf_top "$name" "$BENCH_PERF_PID"
  fi
  local line
  line=$(grep '^{"requests"' "$tmp/wrk-$name.out" | tail -n 1 || true)
  if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
    cat "$tmp/wrk-$name.out" >&2
    say "$name: wrk failed (exit $rc)"
    return 1
  fi
  local w_secs
  read -r w_ok w_bad w_secs w_p50 w_p90 w_p99 < <(node -e '
    const x = JSON.parse(process.argv[1]);
    console.log(x.requests - x.non2xx, x.non2xx + x.errors, x.seconds,
      x.p50_ms.toFixed(2), x.p90_ms.toFixed(2), x.p99_ms.toFixed(2));' "$line")
  w_rate=$(awk -v n="$w_ok" -v s="$w_secs" 'BEGIN { printf "%.1f", (s > 0 ? n / s : 0) }')
  w_us=$(awk -v t=$((srv1 - srv0)) -v hz="$hz" -v n="$w_ok" 'BEGIN { if (n > 0) printf "%.0f", t / hz / n * 1e6; else print "-" }')
  w_cores=$(cores_split $((srv1 - srv0)) "$(awk -v a="$cli0" -v b="$cli1" 'BEGIN { print b - a }')" \
    $((busy1 - busy0)) $((tot1 - tot0)) "$w_secs" "${WRK_LABEL:-server}")
  w_cores=${w_cores/client/wrk}
  if [ "$w_bad" != 0 ]; then
    any_failures=1
    say "$name: $w_bad requests failed; wrk's report:"
    cat "$tmp/wrk-$name.out" >&2
  fi
}

# perf_top NAME PID: the profile of PID in $tmp/perf-NAME.data (self time as a share of
# that process's samples, all its threads) into $tmp/perf-NAME.txt: first the share of each
# library (summed from the symbol list: symbols of stripped libraries, libcrypto's
# assembly or jansson, show as many small addresses), then the symbols of 1.5 % and more.
# print_profiles prints them all.
perf_top() {
  perf report -i "$tmp/perf-$1.data" --pid "$2" --no-children --stdio --sort dso,sym -g none \
    --percentage relative 2>/dev/null | grep -v '^#' | grep -v '^ *$' >"$tmp/perf-$1.syms" || true
  {
    printf '  perf profile of %s (pid %s, all its threads; self time, share of its samples):\n' "$1" "$2"
    printf '    by library:'
    awk '{ sub(/%/, "", $1); s[$2] += $1 } END { for (d in s) printf "%.1f %s\n", s[d], d }' "$tmp/perf-$1.syms" |
      sort -rn | head -n 8 | awk '{ printf " %s %s%%", $2, $1 } END { print "" }'
    awk '{ p = $1; sub(/%/, "", p); if (p + 0 >= 1.5) print "  " $0 }' "$tmp/perf-$1.syms" | head -n 15
  } >"$tmp/perf-$1.txt"
  rm -f "$tmp/perf-$1.data" "$tmp/perf-$1.syms"
}
print_profiles() {
  local f
  for f in "$tmp"/perf-*.txt; do
    [ -e "$f" ] || continue
    echo
    cat "$f"
  done
}

# median / p90 of the numbers on stdin, one a line (nearest rank for p90), "-" if none.
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# --- the summary line ----------------------------------------------------------------------
# Each section records its headline figures with summary_put KEY VALUE in $BENCH_SUMMARY
# (bench/run.sh sets it for all sections; a section run alone uses its own file and prints
# the line itself). summary_line prints the one line of bench/README.md, "-" where a
# section did not run. Keys: get_ratio, list_p99_<packs> (one per size), orders_ratio,
# sign_ratio, rss_mb, rss_at, o2a_p90, start_ms, exit_ms.
summary_file=${BENCH_SUMMARY:-$tmp/summary}
summary_put() { printf '%s %s\n' "$1" "$2" >>"$summary_file"; }
summary_line() {
  touch "$summary_file"
  awk '
    function k(n) { return n % 1000 == 0 ? n / 1000 "k" : n }
    function v(key) { return (key in val) ? val[key] : "-" }
    { if (!($1 in val) && $1 ~ /^list_p99_/) sizes[++ns] = substr($1, 10); val[$1] = $2 }
    END {
      lists = ""
      for (i = 1; i <= ns; i++) lists = lists " " k(sizes[i]) " " val["list_p99_" sizes[i]] " ms"
      if (lists == "") lists = " -"
      rss_at = ("rss_at" in val) ? k(val["rss_at"]) : ""
      printf "summary: get %s×nginx (≥0.5) · list p99%s (<5) · orders %s×sqlite (≥1) · sign %s×openssl (≥0.5) · rss%s %s MB (≤64) · order→active p90 %s ms (<100) · start %s ms exit %s ms\n",
        v("get_ratio"), lists, v("orders_ratio"), v("sign_ratio"), rss_at, v("rss_mb"), v("o2a_p90"), v("start_ms"), v("exit_ms")
    }' "$summary_file"
}
