-- test/bench/bench.lua — the wrk script of every scenario of scripts/bench.
-- Configured by the environment, so that one script serves them all:
--
--   BENCH_MODE    fixed (default): BENCH_METHOD BENCH_PATH with BENCH_BODY
--                 create: POST /organization/ {"name": BENCH_PREFIX .. n};
--                         the new ids are appended to BENCH_IDS_OUT
--                 rename: PUT /organization/{id} {"name": BENCH_PREFIX .. n},
--                         the ids of BENCH_IDS taken in turn
--                 delete: DELETE /organization/{id}, each id of BENCH_IDS
--                         once; the run ends when they are all answered
--   BENCH_TOKEN   sent as Authorization: Bearer <token> when set
--   BENCH_COUNT   end the run after this many answers (0: run for the duration)
--   BENCH_DELAY_MS  wait this long before each request (a light probe, not a
--                 load: the latency recorded excludes the wait)
--   BENCH_LABEL   the scenario's name in the result line
--
-- done() prints one line "BENCH_RESULT {json}": requests, duration, req/s,
-- errors (answers >= 400 apart from socket errors) and latency percentiles
-- in microseconds. wrk must run it with one thread (-t1). A run that ends
-- early (BENCH_COUNT, or delete's last id) is timed from the thread's start
-- to its last answer, and ends wrk at once: wrk's main thread would sleep
-- out the -d given, so it gets the SIGINT that wrk takes as "stop now".

local ffi = require("ffi")
ffi.cdef [[
   typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
   int clock_gettime(int clock, bench_timespec *ts);
   int getpid(void);
   int tgkill(int tgid, int tid, int sig);
]]
local ts = ffi.new("bench_timespec")
local function now_us()
   ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
   return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end

local env = os.getenv
local mode = env("BENCH_MODE") or "fixed"
local token = env("BENCH_TOKEN") or ""
local prefix = env("BENCH_PREFIX") or "bench"
local count = tonumber(env("BENCH_COUNT") or "0") or 0
local label = env("BENCH_LABEL") or mode
local delay_ms = tonumber(env("BENCH_DELAY_MS") or "0") or 0

local ids = {}
local issued = 0
local ids_out = nil

-- read back by done() through thread:get (it runs in wrk's main Lua state)
started_us, last_us, answered, ended_early = 0, 0, 0, false

local function read_ids(path)
   local f = path and io.open(path, "r")
   if not f then
      return
   end
   for line in f:lines() do
      if #line > 0 then
         ids[#ids + 1] = line
      end
   end
   f:close()
end

local threads = {}
function setup(thread)
   threads[#threads + 1] = thread
end

function init(args)
   started_us = now_us()
   wrk.headers["Content-Type"] = "application/json"
   if token ~= "" then
      wrk.headers["Authorization"] = "Bearer " .. token
   end
   if mode == "fixed" then
      wrk.method = env("BENCH_METHOD") or "GET"
      wrk.path = env("BENCH_PATH") or wrk.path
      local body = env("BENCH_BODY")
      if body and body ~= "" then
         wrk.body = body
      else
         wrk.headers["Content-Type"] = nil
      end
   elseif mode == "rename" or mode == "delete" then
      read_ids(env("BENCH_IDS"))
      if #ids == 0 then
         io.stderr:write("bench.lua: no ids in BENCH_IDS\n")
         os.exit(1)
      end
      if mode == "delete" and (count == 0 or count > #ids) then
         count = #ids
      end
   elseif mode == "create" then
      local path = env("BENCH_IDS_OUT")
      if path and path ~= "" then
         ids_out = io.open(path, "a")
      end
   end
end

-- fixed: no request() at all, so that wrk builds the request once (init's
-- settings) instead of calling into Lua for every one
local function dynamic_request()
   issued = issued + 1
   if mode == "create" then
      local body = string.format('{"name":"%s%d"}', prefix, issued)
      return wrk.format("POST", "/organization/", nil, body)
   elseif mode == "rename" then
      local id = ids[(issued - 1) % #ids + 1]
      local body = string.format('{"name":"%s%d"}', prefix, issued)
      return wrk.format("PUT", "/organization/" .. id, nil, body)
   end
   -- delete: a connection past the last id is parked by delay() below;
   -- should one get here all the same, it asks for an id already asked for
   local id = ids[(issued - 1) % #ids + 1]
   wrk.headers["Content-Type"] = nil
   return wrk.format("DELETE", "/organization/" .. id)
end

if mode ~= "fixed" then
   request = dynamic_request
end

function response(status, headers, body)
   answered = answered + 1
   last_us = now_us()
   if ids_out and status == 201 then
      local id = string.match(body, '"id":"(%x+)"')
      if id then
         ids_out:write(id, "\n")
         ids_out:flush()
      end
   end
   if count > 0 and answered >= count and not ended_early then
      ended_early = true
      wrk.thread:stop()
      local pid = ffi.C.getpid()
      ffi.C.tgkill(pid, pid, 2) -- SIGINT to the main thread (its tid is the pid)
   end
end

if mode == "fixed" and count == 0 then
   response = nil -- wrk is faster without a response() to call
end

if delay_ms > 0 then
   function delay()
      return delay_ms
   end
elseif mode == "delete" then
   -- each id once: a connection with none left waits for the run to end
   function delay()
      return issued >= #ids and 3600000 or 0
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   local secs = summary.duration / 1e6
   local t = threads[1]
   if t and t:get("ended_early") then
      secs = (t:get("last_us") - t:get("started_us")) / 1e6
   end
   local p = function(q)
      return latency:percentile(q)
   end
   io.write(string.format(
      'BENCH_RESULT {"label":"%s","requests":%d,"duration_s":%.3f,"rps":%.1f,' ..
      '"errors":{"status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d},' ..
      '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f}}\n',
      label, summary.requests, secs, secs > 0 and summary.requests / secs or 0,
      e.status, e.connect, e.read, e.write, e.timeout,
      p(50), p(90), p(99), p(99.9), latency.max, latency.mean))
end
