-- wrk script of `make bench` (bench/pg.sh): one fixed request, then one JSON line.
--
-- The request comes from the environment, so that the API token is never on a command
-- line (`ps` would show it):
--   BENCH_TOKEN      the API token (Authorization: Bearer)
--   BENCH_METHOD     GET (default) or POST
--   BENCH_BODY_FILE  the exact JSON body of a POST (sent as application/json)
-- The URL, connections, threads and duration are wrk's own arguments.
--
-- done() prints, after wrk's own report, one line that bench/pg.sh reads:
--   {"requests":N,"non2xx":S,"errors":E,"seconds":T,"p50_ms":A,"p99_ms":B}
-- requests = every complete answer; non2xx = those with a status outside 200-399;
-- errors = connect/read/write failures and timeouts. Latency is per request, from wrk.

local token = os.getenv("BENCH_TOKEN")
if token == nil or token == "" then
  error("BENCH_TOKEN is not set")
end
wrk.method = os.getenv("BENCH_METHOD") or "GET"
wrk.headers["Authorization"] = "Bearer " .. token

local body_file = os.getenv("BENCH_BODY_FILE")
if body_file ~= nil and body_file ~= "" then
  local f = assert(io.open(body_file, "rb"))
  wrk.body = f:read("*a")
  f:close()
  wrk.headers["Content-Type"] = "application/json"
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"non2xx":%d,"errors":%d,"seconds":%.3f,"p50_ms":%.3f,"p99_ms":%.3f}\n',
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
