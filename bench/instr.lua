--- The workloads whose instructions bench/instr.sh counts under callgrind. Each does one
-- warm-up (checked) and then N more of the same, so that (count at N=301 minus count at
-- N=1) / 300 is the cost of one, the start-up and the first connection left out.
--   lua5.4 bench/instr.lua list_tokens URL N   client:list_tokens(id, { page_size = 100 })
--   lua5.4 bench/instr.lua decode FILE N       core.parse_tokens of the page's bytes alone
--   lua5.4 bench/instr.lua list_many BASE N    list_many of N more identities (two pages
--                                              each, concurrency 8) after a warm-up of one
-- Runs unchanged against the baseline commit's modules (only calls both have).
local what, where, n = arg[1], arg[2], tonumber(arg[3])
local infisical = require "infisical"
local core = require "infisical.core"

if what == "list_tokens" then
  local base, id = where:match("^(.-)/api/v1/auth/token%-auth/identities/([^/]+)/tokens")
  local c = assert(infisical.new{ base_url = base, token = "bench-token", retries = 0 })
  assert(#assert(c:list_tokens(id, { page_size = 100 })).tokens == 100)
  for _ = 2, n do c:list_tokens(id, { page_size = 100 }) end
elseif what == "decode" then
  local f = assert(io.open(where, "rb"))
  local body = f:read("a")
  f:close()
  local headers = { ["content-type"] = "application/json" }
  assert(#assert(core.parse_tokens(200, body, headers)).tokens == 100)
  for _ = 2, n do core.parse_tokens(200, body, headers) end
elseif what == "list_many" then
  local c = assert(infisical.new{ base_url = where, token = "bench-token", retries = 0 })
  local function run(first, last)
    local ids = {}
    for i = first, last do ids[#ids + 1] = ("d0000000-0000-4000-8000-%012d"):format(i) end
    local results, errors = c:list_many(ids, { concurrency = 8 })
    for _, id in ipairs(ids) do
      assert(not (errors and errors[id]), tostring(errors and errors[id]))
      assert(#results[id] == 150, "an identity must have 150 tokens")
    end
  end
  run(1, 1)
  if n > 1 then run(2, n) end
else
  error("unknown workload " .. tostring(what))
end
