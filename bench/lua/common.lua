-- Shared by the benchmark's wrk scripts: per-thread status counts and one JSON line of
-- results (prefixed BENCH_RESULT) that bench/wrk.py reads.

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("thread_id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

statuses = {}

-- wrk decides whether to parse answers for Lua when it loads the script, before init()
-- sees the arguments, so the switch is an environment variable. Only for small answers:
-- with response() defined, wrk hands every body to Lua.
if os.getenv("BENCH_COUNT_STATUSES") == "1" then
   function response(status, headers, body)
      statuses[status] = (statuses[status] or 0) + 1
   end
end

function read_lines(path)
   local list = {}
   for line in io.lines(path) do
      if line ~= "" then table.insert(list, line) end
   end
   assert(#list > 0, "no lines in " .. path)
   return list
end

function read_file(path)
   local f = assert(io.open(path, "rb"))
   local data = f:read("*a")
   f:close()
   return data
end

function done(summary, latency, requests)
   local counts = {}
   for _, thread in ipairs(threads) do
      local theirs = thread:get("statuses") or {}
      for status, n in pairs(theirs) do
         counts[status] = (counts[status] or 0) + n
      end
   end
   local parts = {}
   for status, n in pairs(counts) do
      table.insert(parts, string.format('"%d": %d', status, n))
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"latency_us": {"mean": %.1f, "p50": %d, "p99": %d, "max": %d}, ' ..
      '"statuses": {%s}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency:percentile(50), latency:percentile(99), latency.max,
      table.concat(parts, ", ")))
end
