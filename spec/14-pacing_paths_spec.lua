-- Pacing that holds from every path (issue 18 §2), outside nginx (spec/33 runs the nginx
-- side): a 429 without x-ratelimit-* headers answered late still pauses the client,
-- max_rate spaces retries and 429 re-sends, a request whose coroutine is abandoned
-- between its send and its answer leaks no pacing state, bad header values never poison
-- the budget, and a server without a limiter (self-hosted) is not held.
local H = require "spec.helpers"
local fake = H.fake
local core = require "infisical.core"
local pace = require "infisical.pace"

local function gen_id(n) return fake.identity_id(5000 + n) end

local function state_of(n, tokens, extra)
  local ids, identities = {}, {}
  for i = 1, n do
    ids[i] = gen_id(i)
    identities[ids[i]] = { generate = tokens or 1 }
  end
  return H.state(identities, extra), ids
end

local function by_time(reqs)
  table.sort(reqs, function(a, b) return a.time < b.time end)
  return reqs
end

local function assert_all_done(ids, results, errors, tokens)
  assert.is_nil(errors and next(errors), "list_many's errors is nil when none failed")
  errors = errors or {}
  for _, id in ipairs(ids) do
    assert.is_nil(errors[id], id .. ": " .. tostring(errors[id]))
    assert.equal(tokens, #results[id], id)
  end
end

local CLOUD_429 = { statusCode = 429, error = "RateLimitExceeded",
  message = "Rate limit exceeded. Please try again in 2 seconds" }

describe("pacing from every path", function()
  local srv
  setup(function() srv = fake.start{ fixture = H.FIXTURE } end)
  teardown(function() srv:stop() end)

  it("a proxy's 429 (retry-after only) answered after later answers still pauses every request", function()
    local st, ids = state_of(40)
    srv:reset(st)
    -- the 11th request is held 0.4 s, then refused by "a proxy": no x-ratelimit-* headers;
    -- the requests sent after it are answered first
    srv:faults{ { match = "/tokens", after = 10, delay = 0.4, status = 429,
      headers = { ["retry-after"] = "2" }, body = CLOUD_429 } }
    local c = H.client(srv, { retries = 0 })
    local results, errors = c:list_many(ids, { concurrency = 8 })
    errors = errors or {}   -- nil when every identity succeeded
    assert_all_done(ids, results, errors, 1)
    local reqs = by_time(H.api_requests(srv))
    local answered
    for _, r in ipairs(reqs) do if r.status == 429 then answered = r.time + 0.4 end end
    assert.is_number(answered)
    local during = 0
    for _, r in ipairs(reqs) do
      if r.time > answered + 0.1 and r.time < answered + 1.9 then during = during + 1 end
    end
    assert.equal(0, during)
    assert.equal(1, pace.paused(c).n)
  end)

  -- sent 0.2 s apart: arrivals are as far apart, give or take a connection's set-up (a
  -- send that is not spaced comes within milliseconds)
  local function assert_spaced(reqs)
    for i = 2, #reqs do
      local gap = reqs[i].time - reqs[i - 1].time
      assert.is_true(gap >= 0.12, ("request %d came %.3f s after the one before"):format(i, gap))
    end
    local span = reqs[#reqs].time - reqs[1].time
    assert.is_true(span >= 0.2 * (#reqs - 1) - 0.05, ("%d requests over %.3f s"):format(#reqs, span))
  end

  it("max_rate spaces retries and 429 re-sends, blocking and in list_many", function()
    local st, ids = state_of(3)
    srv:reset(st)
    srv:faults{
      { match = ids[1], status = 503, ["repeat"] = 2, body = "busy" },
      { match = ids[1], status = 429, headers = { ["retry-after"] = "0" }, body = CLOUD_429 },
    }
    local c = H.client(srv, { max_rate = 300, backoff = 0.001, max_backoff = 0.002 })  -- 0.2 s apart
    assert(c:list_tokens(ids[1]))
    local reqs = by_time(H.api_requests(srv))
    assert.equal(4, #reqs)
    assert_spaced(reqs)
    srv:reset(st)
    srv:faults{ { match = "/tokens", status = 503, ["repeat"] = 3, body = "busy" } }
    local results, errors = c:list_many(ids, { concurrency = 3 })
    errors = errors or {}   -- nil when every identity succeeded
    assert_all_done(ids, results, errors, 1)
    reqs = by_time(H.api_requests(srv))
    assert.equal(6, #reqs)
    assert_spaced(reqs)
  end)

  it("a request whose coroutine is abandoned between send and answer leaves nothing in flight", function()
    local st, ids = state_of(16)
    srv:reset(st)
    local c = H.client(srv, { timeout = 8 })
    local real = c.transport
    -- a transport whose request never comes back: the coroutine is left suspended there
    c.transport = setmetatable({ request = function() coroutine.yield("flying") end },
      { __index = real })
    local co = coroutine.create(function() return c:list_tokens(ids[1]) end)
    assert.same({ true, "flying" }, { coroutine.resume(co) })
    local function probing(m) return pace.state and pace.state(c, m).probing end
    if pace.state then assert.is_true(probing("GET")) end   -- the first request: the others wait for it
    local wco = coroutine.create(function() return c:revoke_token(ids[1]) end)
    coroutine.resume(wco)
    if pace.state then assert.is_true(probing("POST")) end
    co, wco = nil, nil
    collectgarbage(); collectgarbage()
    c.transport = real
    -- the next run does not wait for the lost answer (up to timeout = 8 s)
    local t0 = core.monotime()
    local results, errors = c:list_many(ids, { concurrency = 8 })
    errors = errors or {}   -- nil when every identity succeeded
    assert_all_done(ids, results, errors, 1)
    local wall = core.monotime() - t0
    assert.is_true(wall < 4, ("%.2f s"):format(wall))
    assert.is_false(probing("GET"))
    assert.is_false(probing("POST"))
  end)

  describe("bad rate-limit header values never poison the budget", function()
    local function fresh() return { opts = { timeout = 10, max_retry_wait = 60 } } end

    -- A client whose window (limit 10, reset in 5 s) is spent, then one answer with
    -- `bad` headers: the window still holds the next request, about 5 s.
    local function spent_then(bad)
      local cl = fresh()
      local seq = pace.sent(cl, "GET")
      pace.observe(cl, "GET", { ["x-ratelimit-limit"] = "10", ["x-ratelimit-remaining"] = "9",
        ["x-ratelimit-reset"] = "5" }, seq)
      for _ = 1, 8 do pace.observe(cl, "GET", nil, pace.sent(cl, "GET")) end
      local last = pace.sent(cl, "GET")
      local h = { ["x-ratelimit-limit"] = "10", ["x-ratelimit-remaining"] = "0", ["x-ratelimit-reset"] = "5" }
      for k, v in pairs(bad) do h[k] = v end
      pace.observe(cl, "GET", h, last)
      return pace.hold(cl, "GET")
    end

    local cases = {
      { "reset nan", { ["x-ratelimit-reset"] = "nan" } },
      { "reset inf", { ["x-ratelimit-reset"] = "inf" } },
      { "reset 1e999", { ["x-ratelimit-reset"] = "1e999" } },
      { "reset -5", { ["x-ratelimit-reset"] = "-5" } },
      { "reset huge", { ["x-ratelimit-reset"] = "99999999999" } },
      { "reset hex", { ["x-ratelimit-reset"] = "0x10" } },
      { "reset repeated", { ["x-ratelimit-reset"] = "4, 5" } },
      { "remaining nan", { ["x-ratelimit-remaining"] = "nan" } },
      { "remaining -3", { ["x-ratelimit-remaining"] = "-3" } },
      { "remaining huge", { ["x-ratelimit-remaining"] = "1e300" } },
      { "remaining repeated", { ["x-ratelimit-remaining"] = "0, 0" } },
      { "limit nan", { ["x-ratelimit-limit"] = "nan" } },
      { "limit inf", { ["x-ratelimit-limit"] = "inf" } },
      { "limit 0", { ["x-ratelimit-limit"] = "0" } },
      { "limit repeated", { ["x-ratelimit-limit"] = "10, 10" } },
    }
    for _, case in ipairs(cases) do
      it(case[1], function()
        local w = spent_then(case[2])
        assert.is_true(w == w and w > 4 and w <= 5.01, ("held %s s"):format(tostring(w)))
      end)
    end

    it("read_headers: the careful value of each", function()
      local function rh(t) return { pace.read_headers(t) } end
      assert.same({ 3, 7, 10 }, rh{ ["x-ratelimit-remaining"] = "5, 3", ["x-ratelimit-reset"] = "2, 7",
        ["x-ratelimit-limit"] = "10, 20" })
      assert.same({}, rh{ ["x-ratelimit-remaining"] = "nan", ["x-ratelimit-reset"] = "inf",
        ["x-ratelimit-limit"] = "-1" })
      assert.same({ 10, 1.5, 10 }, rh{ ["x-ratelimit-remaining"] = "99999999999", ["x-ratelimit-reset"] = " 1.5 ",
        ["x-ratelimit-limit"] = "10" })
    end)

    it("a 429 with retry-after nan, inf, -1 or a far date waits within max_retry_wait", function()
      for _, v in ipairs{ "nan", "inf", "-1", "1e999", "Wed, 21 Oct 2099 07:28:00 GMT" } do
        local st = state_of(1)
        srv:reset(st)
        srv:faults{ { match = "/tokens", status = 429, headers = { ["retry-after"] = v },
          body = { statusCode = 429, error = "RateLimitExceeded", message = "slow down" } } }
        local waits = {}
        local c = H.client(srv, { max_retry_wait = 5, sleep = function(s) waits[#waits + 1] = s end })
        local page, err = c:list_tokens(gen_id(1))
        local total = 0
        for _, s in ipairs(waits) do
          assert.is_true(s == s and s >= 0 and s <= 5, v .. ": slept " .. tostring(s))
          total = total + s
        end
        assert.is_true(total <= 5.01, v .. ": " .. total)
        assert.is_true(page ~= nil or err.status == 429, v .. ": " .. tostring(err))
      end
    end)

    it("a server that says nan for ever is not probed one request at a time for ever", function()
      local cl = fresh()
      pace.observe(cl, "GET", { ["x-ratelimit-reset"] = "nan", ["x-ratelimit-remaining"] = "nan" },
        pace.sent(cl, "GET"))
      pace.sent(cl, "GET")
      assert.equal(0, pace.hold(cl, "GET"))
    end)
  end)

  describe("a server without a limiter (self-hosted current servers)", function()
    it("is not held: after the first answer, concurrency requests at once, no pause, no sleep", function()
      local st, ids = state_of(24, 1, { latency = 0.3 })
      srv:reset(st)
      local sleeps = {}
      local c = H.client(srv, { sleep = function(s) sleeps[#sleeps + 1] = s; core.sleep(s) end })
      local results, errors = c:list_many(ids, { concurrency = 8 })
      errors = errors or {}   -- nil when every identity succeeded
      assert_all_done(ids, results, errors, 1)
      local reqs = by_time(H.api_requests(srv))
      assert.equal(24, #reqs)
      -- the first alone (its answer says the server does not count), then 8 at once
      local together = 0
      for i = 2, #reqs do
        if reqs[i].time - reqs[2].time < 0.15 then together = together + 1 end
      end
      assert.equal(8, together)
      assert.same({ n = 0, seconds = 0 }, pace.paused(c))
      -- a blocking walk: no sleep at all
      for i = 1, 5 do assert(c:all_tokens(ids[i])) end
      assert.same({}, sleeps)
    end)

    it("understands Cloud's 429 message without a retry-after header", function()
      local st = state_of(1)
      srv:reset(st)
      srv:faults{ { match = "/tokens", status = 429, body = CLOUD_429 } }
      local waits = {}
      local c = H.client(srv, { sleep = function(s) waits[#waits + 1] = s end })
      assert(c:list_tokens(gen_id(1)))
      assert.same({ 2 }, waits)
    end)
  end)
end)
