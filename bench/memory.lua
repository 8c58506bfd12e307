--- Measurement 3: peak RSS of stream_many over N identities (two pages each).
--   lua5.4 bench/memory.lua BASE N   ->   prints "peak_rss_kb rss_before_kb tokens"
local infisical = require "infisical"
local base, n = arg[1], tonumber(arg[2])

local function status_kb(field)
  for line in io.lines("/proc/self/status") do
    local v = line:match("^" .. field .. ":%s+(%d+)")
    if v then return tonumber(v) end
  end
end

local ids = {}
for i = 1, n do ids[i] = ("c0000000-0000-4000-8000-%012d"):format(i) end
local c = assert(infisical.new{ base_url = base, token = "bench-token" })
local before = status_kb("VmRSS")
local total = 0
for _, tokens, err in c:stream_many(ids, { concurrency = 8 }) do
  assert(tokens, tostring(err))
  total = total + #tokens      -- an audit would look at them here, then let them go
end
assert(total == 150 * n)
print(("%d %d %d"):format(status_kb("VmHWM"), before, total))
