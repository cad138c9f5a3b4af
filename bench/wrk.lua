-- wrk script of `make bench` (every section that puts load on a server).
--
-- The request comes from the environment, so that the API token is never on a command
-- line (`ps` would show it):
--   BENCH_TOKEN       the API token (Authorization: Bearer); optional (nginx needs none)
--   BENCH_METHOD      GET (default) or POST
--   BENCH_BODY_FILE   the exact JSON body of a POST (sent as application/json)
--   BENCH_BODY_FILES  several bodies, separated by spaces, sent round robin per thread
--   BENCH_PATHS       paths (with query), separated by spaces, sent round robin per
--                     thread instead of the URL's own path
--   BENCH_PAGES       N: every "{page}" in the path becomes a page drawn at random
--                     (uniformly, 1..N) for each request
--   BENCH_PAGE_SWEEP  T (wrk's thread count): instead, "{page}" walks the pages in order,
--                     thread t taking t, t+T, t+2T, ..., and each thread stops once every
--                     one of its pages has been answered: one pass over all N pages
--   BENCH_IDS_DIR     a directory: each thread writes there (ids-<thread>.txt) the
--                     result id of every 2xx answer, one a line (orders: bench/orders.sh
--                     checks afterwards that each of them is in the store)
-- The URL, connections, threads and duration are wrk's own arguments. A fixed request
-- (no BENCH_BODY_FILES, BENCH_PATHS or BENCH_PAGES) costs wrk no Lua call per request.
--
-- done() prints, after wrk's own report, one line that the bench scripts read:
--   {"requests":N,"non2xx":S,"errors":E,"seconds":T,"p50_ms":A,"p90_ms":B,"p99_ms":C}
-- requests = every complete answer; non2xx = those with a status outside 200-399;
-- errors = connect/read/write failures and timeouts. Latency is per request, from wrk.

local function words(s)
  local t = {}
  if s ~= nil then
    for w in string.gmatch(s, "%S+") do
      t[#t + 1] = w
    end
  end
  return t
end

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local token = os.getenv("BENCH_TOKEN")
wrk.method = os.getenv("BENCH_METHOD") or "GET"
if token ~= nil and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

local bodies = {}
for _, f in ipairs(words(os.getenv("BENCH_BODY_FILES"))) do
  bodies[#bodies + 1] = slurp(f)
end
local body_file = os.getenv("BENCH_BODY_FILE")
if body_file ~= nil and body_file ~= "" then
  wrk.body = slurp(body_file)
end
if #bodies > 0 then
  wrk.body = bodies[1]
end
if wrk.body ~= nil then
  wrk.headers["Content-Type"] = "application/json"
end

local paths = words(os.getenv("BENCH_PATHS"))
local pages = tonumber(os.getenv("BENCH_PAGES") or "")
local sweep = tonumber(os.getenv("BENCH_PAGE_SWEEP") or "")
local ids_dir = os.getenv("BENCH_IDS_DIR")
if ids_dir == "" then
  ids_dir = nil
end

-- Each thread gets a number (its ids file, its random seed).
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end

local n = 0
local ids_out = nil
local tid = 0
local sweep_share, answered = 0, 0 -- a sweeping thread's pages, and its answers so far
function init(args)
  tid = tonumber(wrk.thread:get("tid")) or 0
  if sweep ~= nil and pages ~= nil then
    sweep_share = math.floor((pages - tid) / sweep) + 1
  end
  math.randomseed(os.time() * 1000 + tid)
  if ids_dir ~= nil then
    ids_out = assert(io.open(ids_dir .. "/ids-" .. tid .. ".txt", "w"))
  end
end

-- Only scripts that vary the request define request(): wrk then asks Lua for every one.
if #paths > 0 or pages ~= nil or #bodies > 1 then
  function request()
    n = n + 1
    local path = wrk.path
    if #paths > 0 then
      path = paths[(n - 1) % #paths + 1]
    end
    if pages ~= nil and sweep ~= nil then -- past the thread's share: its pages again
      path = string.gsub(path, "{page}", tostring(tid + ((n - 1) % sweep_share) * sweep))
    elseif pages ~= nil then
      path = string.gsub(path, "{page}", tostring(math.random(1, pages)))
    end
    local body = nil
    if #bodies > 0 then
      body = bodies[(n - 1) % #bodies + 1]
    end
    return wrk.format(nil, path, nil, body)
  end
end

if sweep ~= nil and pages ~= nil then
  function response(status, headers, body)
    answered = answered + 1
    if answered >= sweep_share then
      wrk.thread:stop()
    end
  end
elseif ids_dir ~= nil then
  function response(status, headers, body)
    if status >= 200 and status < 300 then
      local id = string.match(body, '"result":{"id":"([%w%-]+)"')
      -- Every acknowledged answer gets a line: "?" when it carried no id (counted as lost).
      ids_out:write((id or "?") .. "\n")
    end
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"non2xx":%d,"errors":%d,"seconds":%.3f,"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f}\n',
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000))
end
