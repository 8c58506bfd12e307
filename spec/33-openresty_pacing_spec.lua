-- Pacing inside a real nginx (issue 18 §2): several workers share one budget through
-- `lua_shared_dict infisical_pace` (without it each worker paces alone), light threads'
-- blocking calls wait their turn and ask again after a wait, and a light thread killed
-- between its send and its answer leaks no pacing state.
local fake = require "spec.fake_client"
local H = require "spec.helpers"
local nginx = require "spec.openresty.nginx"
local workers = require "spec.openresty.workers"

local ROOT = nginx.ROOT

local function build_luajit()
  local out, rc = fake.run("cd " .. fake.shellquote(ROOT) .. " && make -s luajit 2>&1")
  assert(rc == 0, "make luajit failed: " .. out)
end

local function gen_id(n) return fake.identity_id(7000 + n) end

local function state_of(n, extra)
  local ids, identities = {}, {}
  for i = 1, n do
    ids[i] = gen_id(i)
    identities[ids[i]] = { generate = 1 }
  end
  return H.state(identities, extra), ids
end

local function tally(srv)
  local by = {}
  for _, r in ipairs(H.api_requests(srv)) do by[r.status] = (by[r.status] or 0) + 1 end
  return by
end

describe("pacing inside nginx", function()
  local srv, four, four_alone, one
  setup(function()
    build_luajit()
    srv = fake.start{ fixture = H.FIXTURE }
    four = workers.start{ workers = 4, shared = true }
    four_alone = workers.start{ workers = 4, shared = false }
    one = workers.start{ workers = 1, shared = false }
  end)
  teardown(function()
    for _, w in ipairs{ four, four_alone, one } do if w then w:stop() end end
    if srv then srv:stop() end
  end)

  local LIMIT, WINDOW, N, CONC = 20, 2, 80, 4

  it("4 workers with lua_shared_dict infisical_pace stay within one limit: no 429 beyond one worker's concurrency", function()
    local st, ids = state_of(N, { rate_limit = { limit = LIMIT, window = WINDOW, per_route = false } })
    srv:reset(st)
    local res = four:run{ base = srv.url, ids = ids, concurrency = CONC }
    local done, pids = 0, {}
    for _, r in ipairs(res) do done = done + r.done; pids[r.pid] = true end
    local by = tally(srv)
    print(("\n  [pacing] 4 workers, shared budget: %d reads, %d 429s"):format(by[200] or 0, by[429] or 0))
    assert.equal(N, done)
    assert.equal(N, by[200])
    local npids = 0
    for _ in pairs(pids) do npids = npids + 1 end
    assert.equal(4, npids)
    assert.is_true((by[429] or 0) <= CONC, "429s: " .. tostring(by[429]))
  end)

  it("4 workers without the dict pace alone: every identity completes all the same", function()
    local st, ids = state_of(N, { rate_limit = { limit = LIMIT, window = WINDOW, per_route = false } })
    srv:reset(st)
    local res = four_alone:run{ base = srv.url, ids = ids, concurrency = CONC }
    local done = 0
    for _, r in ipairs(res) do done = done + r.done end
    local by = tally(srv)
    print(("\n  [pacing] 4 workers, a budget each: %d reads, %d 429s"):format(by[200] or 0, by[429] or 0))
    assert.equal(N, done)
  end)

  for _, case in ipairs{ { "one worker, no dict", function() return one end },
                         { "4 workers, shared dict", function() return four end } } do
    it(("light threads' blocking calls wait their turn (%s): 8 threads under 3 per 3 s"):format(case[1]), function()
      local st, ids = state_of(8, { rate_limit = { limit = 3, window = 3, per_route = false } })
      srv:reset(st)
      local out = case[2]():lua(([[
        require("infisical.pace").reset()
        local infisical = require "infisical"
        local c = assert(infisical.new{ base_url = %q, token = "fake-valid-token", retries = 0 })
        local ids, threads, got = %s, {}, {}
        for i, id in ipairs(ids) do
          threads[i] = ngx.thread.spawn(function()
            local page, err = c:list_tokens(id)
            return page and #page.tokens or tostring(err)
          end)
        end
        for i = 1, #threads do local _, v = ngx.thread.wait(threads[i]); got[i] = v end
        return got
      ]]):format(srv.url, "{" .. ("%q,"):rep(#ids):format(table.unpack(ids)) .. "}"))
      assert.same({ 1, 1, 1, 1, 1, 1, 1, 1 }, out)
      local by = tally(srv)
      assert.equal(8, by[200])
      assert.is_true((by[429] or 0) <= 1, "429s: " .. tostring(by[429]))
    end)

    it(("a light thread killed between send and answer leaks nothing (%s)"):format(case[1]), function()
      local st, ids = state_of(16)
      srv:reset(st)
      srv:faults{ { match = ids[16], delay = 3, then_normal = true },
        { match = "/revoke", delay = 3, status = 404, body = { statusCode = 404, message = "gone" } } }
      local list = {}
      for i = 1, 15 do list[i] = ids[i] end
      local out = case[2]():lua(([[
        local pace = require "infisical.pace"
        pace.reset()
        local infisical = require "infisical"
        local c = assert(infisical.new{ base_url = %q, token = "fake-valid-token", timeout = 8 })
        local r = ngx.thread.spawn(function() return c:list_tokens(%q) end)
        local w = ngx.thread.spawn(function() return c:revoke_token("b0000000-0000-4000-8000-000000000001") end)
        ngx.sleep(0.3)
        local function probing(m) return pace.state and pace.state(c, m).probing end
        local before = { probing("GET"), probing("POST") }
        ngx.thread.kill(r)
        ngx.thread.kill(w)
        r, w = nil, nil
        collectgarbage(); collectgarbage()
        local after = { probing("GET"), probing("POST") }
        ngx.update_time()
        t0 = ngx.now()
        local res, errs = c:list_many(%s, { concurrency = 8 })
        ngx.update_time()
        local done = 0
        for _, v in pairs(res) do done = done + 1 end
        return { before = before, after = after, wall = ngx.now() - t0, done = done }
      ]]):format(srv.url, ids[16], "{" .. ("%q,"):rep(#list):format(table.unpack(list)) .. "}"))
      assert.equal(15, out.done)
      -- not waiting for the lost answer (up to timeout = 8 s)
      assert.is_true(out.wall < 4, ("list_many after the kill took %.2f s"):format(out.wall))
      assert.same({ true, true }, { out.before[1] or false, out.before[2] or false })
      assert.same({ false, false }, out.after)
    end)
  end
end)
