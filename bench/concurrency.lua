--- Measurement 2: N identities with two pages each behind a server adding latency.
--   lua5.4 bench/concurrency.lua BASE N loop        a plain loop of all_tokens
--   lua5.4 bench/concurrency.lua BASE N many C      list_many at concurrency C
-- prints "wall_seconds requests"
local infisical = require "infisical"
local core = require "infisical.core"
local base, n, mode, conc = arg[1], tonumber(arg[2]), arg[3], tonumber(arg[4])

local ids = {}
for i = 1, n do ids[i] = ("b0000000-0000-4000-8000-%012d"):format(i) end
local c = assert(infisical.new{ base_url = base, token = "bench-token" })

local t0 = core.monotime()
if mode == "loop" then
  for i = 1, n do
    local tokens = assert(c:all_tokens(ids[i]))
    assert(#tokens == 150, "an identity must have 150 tokens")
  end
else
  local results, errors = c:list_many(ids, { concurrency = conc })
  for i = 1, n do
    assert(not (errors and errors[ids[i]]), tostring(errors and errors[ids[i]]))
    assert(#results[ids[i]] == 150, "an identity must have 150 tokens")
  end
end
print(("%.6f %d"):format(core.monotime() - t0, 2 * n))
