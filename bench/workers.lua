--- Measurement 5: nginx workers under one rate limit (issue 18 §2). The fake server
-- (spec/fake_server.py) limits reads to LIMIT per WINDOW seconds for the whole address;
-- an nginx of W workers (spec/openresty/workers.lua) lists N identities of one page, each
-- worker its share with `list_many` at concurrency 4 from its own timer, all at once:
--   alone    no `lua_shared_dict infisical_pace`: each worker paces to its own budget
--   shared   the example's `lua_shared_dict infisical_pace 1m;`: one budget for all
--   lua5.4 bench/workers.lua N LIMIT WINDOW DAT_FILE
-- prints one line per run: "nw WORKERS MODE N LIMIT WINDOW requests n429 completed wall ideal"
-- (for bench/report.lua), and writes the requests per second of the 4-worker runs (as the
-- fake server logged them) to DAT_FILE. Needs `make luajit` (nginx loads that build).
package.path = "./?.lua;" .. package.path
local fake = require "spec.fake_client"
local workers = require "spec.openresty.workers"

local n, limit, window, dat = tonumber(arg[1]), tonumber(arg[2]), tonumber(arg[3]), arg[4]
local FIXTURE = "spec/fixtures/sample.json"
local CONC = 4

local ids, identities = {}, {}
for i = 1, n do
  ids[i] = fake.identity_id(20000 + i)
  identities[ids[i]] = { generate = 1 }
end
local state = fake.load_fixture(FIXTURE)
state.identities = identities
state.rate_limit = { limit = limit, window = window, per_route = false }

local srv = fake.start{ fixture = FIXTURE }
local runs = { { 1, false }, { 2, false }, { 2, true }, { 4, false }, { 4, true } }
local per_second, cols, longest = {}, {}, 0
for _, run in ipairs(runs) do
  local nw, shared = run[1], run[2]
  local w = workers.start{ workers = nw, shared = shared }
  srv:reset(state)
  local ok, res = pcall(w.run, w, { base = srv.url, ids = ids, concurrency = CONC, timeout = 600 })
  w:stop()
  assert(ok, res)
  local done = 0
  for _, r in ipairs(res) do done = done + r.done end
  local reqs, n429, first, last = 0, 0, nil, nil
  local log = srv:stats().requests
  for _, q in ipairs(log) do
    if q.path:find("^/api/") then
      reqs = reqs + 1
      if q.status == 429 then n429 = n429 + 1 end
      if not first or q.time < first then first = q.time end
      if not last or q.time > last then last = q.time end
    end
  end
  local mode = shared and "shared" or "alone"
  if nw == 4 then
    local secs = {}
    for _, q in ipairs(log) do
      if q.path:find("^/api/") then
        local s = math.floor(q.time - first)
        secs[s] = (secs[s] or 0) + 1
        if s > longest then longest = s end
      end
    end
    per_second[#per_second + 1] = secs
    cols[#cols + 1] = mode
  end
  local ideal = math.ceil(n / limit) * window
  -- wall: first request to last request the server saw (the job's start and end are
  -- the workers' timers, not this process's)
  print(("nw %d %s %d %d %g %d %d %d %.3f %d"):format(nw, mode, n, limit, window, reqs, n429, done,
    (last or 0) - (first or 0), ideal))
end
srv:stop()

local f = assert(io.open(dat, "w"))
f:write("# second " .. table.concat(cols, " ") .. " (requests the fake server received in that second, 4 workers)\n")
for s = 0, longest do
  f:write(("%d %d %d\n"):format(s, per_second[1][s] or 0, per_second[2][s] or 0))
end
f:close()
