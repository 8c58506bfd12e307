--- Measurement 4: an audit under the server's rate limit (issue 12). The fake server
-- (spec/fake_server.py) limits reads to LIMIT per WINDOW seconds for the whole address,
-- as Infisical Cloud does (200 a minute, here scaled down to keep the run short); N
-- identities of one page each are listed by
--   loop     a plain loop over the raw transport that sleeps what retry-after says on a
--            429 and asks again (what a caller writes without the library's pacing)
--   many C   list_many at concurrency C with the library's pacing (retries = 0: a 429
--            must not lose an identity)
--   lua5.4 bench/ratelimit.lua N LIMIT WINDOW DAT_FILE
-- prints one line per run: "rl NAME N LIMIT WINDOW requests n429 completed wall ideal" (for
-- bench/report.lua), and writes the
-- requests per second of each run (as the fake server logged them) to DAT_FILE.
package.path = "./?.lua;" .. package.path
local infisical = require "infisical"
local core = require "infisical.core"
local fake = require "spec.fake_client"

local n, limit, window, dat = tonumber(arg[1]), tonumber(arg[2]), tonumber(arg[3]), arg[4]
local FIXTURE = "spec/fixtures/sample.json"

local ids, identities = {}, {}
for i = 1, n do
  ids[i] = fake.identity_id(10000 + i)
  identities[ids[i]] = { generate = 3 }
end
local state = fake.load_fixture(FIXTURE)
state.identities = identities
state.rate_limit = { limit = limit, window = window, per_route = false }
local token = "fake-valid-token"

local srv = fake.start{ fixture = FIXTURE }

local function plain_loop(c)
  local transport, done = c.transport, 0
  for i = 1, n do
    local url = core.tokens_url(c.base_url, ids[i], 0, 100)
    while true do
      local status, _, headers = transport:request("GET", url)
      if status == 200 then done = done + 1; break end
      if status ~= 429 then break end
      core.sleep(tonumber(headers["retry-after"]) or 1)
    end
  end
  return done
end

local runs = {
  { name = "loop", run = plain_loop },
  { name = "many8", conc = 8 },
  { name = "many64", conc = 64 },
}
local per_second = {}
local longest = 0
for r, run in ipairs(runs) do
  srv:reset(state)
  local c = assert(infisical.new{ base_url = srv.url, token = token, retries = 0 })
  local t0 = core.monotime()
  local done
  if run.run then
    done = run.run(c)
  else
    local results, errors = c:list_many(ids, { concurrency = run.conc })
    done = 0
    for i = 1, n do
      if results[ids[i]] and not (errors and errors[ids[i]]) then done = done + 1 end
    end
  end
  local wall = core.monotime() - t0
  local reqs, n429, first = 0, 0, nil
  local log = srv:stats().requests
  for _, q in ipairs(log) do
    if q.path:find("^/api/") then
      reqs = reqs + 1
      if q.status == 429 then n429 = n429 + 1 end
      if not first or q.time < first then first = q.time end
    end
  end
  local secs = {}
  for _, q in ipairs(log) do
    if q.path:find("^/api/") then
      local s = math.floor(q.time - first)
      secs[s] = (secs[s] or 0) + 1
      if s > longest then longest = s end
    end
  end
  per_second[r] = secs
  local ideal = math.ceil(n / limit) * window
  print(("rl %s %d %d %g %d %d %d %.3f %d"):format(run.name, n, limit, window, reqs, n429, done,
    wall, ideal))
  c:close()
end
srv:stop()

local f = assert(io.open(dat, "w"))
f:write("# second loop many8 many64 (requests the fake server received in that second)\n")
for s = 0, longest do
  f:write(("%d %d %d %d\n"):format(s, per_second[1][s] or 0, per_second[2][s] or 0,
    per_second[3][s] or 0))
end
f:close()
