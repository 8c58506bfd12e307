-- The library against behaviours of the real server that the fake now reproduces
-- (issue 9 §3, recorded in spec/fixtures/real-exchanges/):
-- * the server deletes a token's row when it is presented past its TTL or at its use
--   limit, so tokens vanish from the listing, also between two pages of a walk;
-- * use counts and accessTokenLastUsedAt are written about a minute after the use, and
--   that write moves the token to the front: statuses derived from a listing lag.
local H = require "spec.helpers"
local fake = H.fake

local ID1 = H.ID1

-- Identities with n records each; each record has a bearer "bearer-<id>" that the spec can
-- present (records never expire by time: TTL 0).
local function state(counts, extra)
  local identities, bearers = {}, { [H.TOKEN] = { state = "valid" } }
  for i, n in ipairs(counts) do
    local id = fake.identity_id(i)
    local recs = H.records(id, n, { accessTokenTTL = 0 })
    identities[id] = { tokens = recs }
    for _, r in ipairs(recs) do bearers["bearer-" .. r.id] = { token_id = r.id } end
  end
  local s = { access_tokens = bearers, identities = identities }
  for k, v in pairs(extra or {}) do s[k] = v end
  return s
end

local function ids_of(recs)
  local out = {}
  for i, r in ipairs(recs) do out[i] = r.id end
  return out
end

-- Every record id of identity `id` in the state, newest first (the listing's order).
local function listed_ids(srv, id)
  local out = {}
  for _, t in ipairs(H.client(srv):all_tokens(id)) do out[#out + 1] = t.id end
  return out
end

-- Fails on a repeated id; -> set of ids
local function assert_unique(tokens)
  local seen = {}
  for _, t in ipairs(tokens) do
    assert.is_nil(seen[t.id], "token returned twice: " .. t.id)
    seen[t.id] = true
  end
  return seen
end

-- Present a bearer to the server, as another program using that token would.
local function present(srv, bearer)
  return srv:request{ path = "/api/v1/auth/token-auth/identities/" .. ID1 .. "/tokens?limit=1",
    headers = { Authorization = "Bearer " .. bearer } }
end

describe("tokens deleted by the server between two pages of a walk", function()
  local srv

  setup(function() srv = fake.start{ state = state{ 150 } } end)
  teardown(function() srv:stop() end)

  it("each_token: a used-up token presented mid-walk is deleted; no failure, no duplicate", function()
    for _, mode in ipairs{ "current", "legacy" } do
      srv:reset(state({ 150 }, { mode = mode }))
      local before = listed_ids(srv, ID1)
      assert.equal(150, #before)
      local victim = before[10]               -- on the first page
      srv:token{ token_id = victim, state = "used_up" }
      local c = H.client(srv)
      local got, n = {}, 0
      for t in c:each_token(ID1, { page_size = 50 }) do
        n = n + 1
        got[n] = t
        if n == 50 then                       -- first page read: the token is used once more
          local res = present(srv, "bearer-" .. victim)
          assert.equal(401, res.status)
          -- a 2026 server refuses it too, in its words, and deletes nothing (its record stays)
          assert.equal(mode == "legacy" and "Unable to renew because access token number of uses limit reached"
            or "Failed to authorize: token usage limit reached", res.json.message)
        end
      end
      local seen = assert_unique(got)
      assert.is_true(seen[victim])            -- it was on the page already read
      -- the rows below it moved up one place: the token that crossed into the page
      -- already read is the only one the walk can miss
      local missing = {}
      for _, id in ipairs(before) do if not seen[id] then missing[#missing + 1] = id end end
      assert.is_true(#missing <= 1, "missed: " .. table.concat(missing, " "))
      assert.equal(mode == "legacy" and 149 or 150, #listed_ids(srv, ID1))
      assert.equal(401, present(srv, "bearer-" .. victim).status)   -- and refused for good
    end
  end)

  it("all_tokens: a token deleted before the second page is simply absent", function()
    srv:reset(state{ 150 })
    local before = listed_ids(srv, ID1)
    local victim = before[120]                -- on the second page
    -- as the second page request arrives, the token is presented past its TTL and deleted
    srv:faults{ { match = "/tokens", after = 1, then_normal = true,
      token = { token_id = victim, state = "deleted" } } }
    local tokens, err = H.client(srv):all_tokens(ID1, { page_size = 100 })
    assert.is_nil(err)
    local seen = assert_unique(tokens)
    assert.equal(149, #tokens)
    assert.is_nil(seen[victim])
    for _, id in ipairs(before) do
      if id ~= victim then assert.is_true(seen[id], "lost " .. id) end
    end
  end)

  it("list_many: deletions in the middle of concurrent walks", function()
    srv:reset(state{ 150, 150, 150 })
    local ids = { fake.identity_id(1), fake.identity_id(2), fake.identity_id(3) }
    local victims = {}
    for i, id in ipairs(ids) do victims[i] = listed_ids(srv, id)[5 + i] end
    local faults = {}
    for i, v in ipairs(victims) do
      faults[i] = { match = "/tokens", after = 2 + i, then_normal = true,
        token = { token_id = v, state = "deleted" } }
    end
    srv:faults(faults)
    local results, errors = H.client(srv):list_many(ids, { concurrency = 3, page_size = 40 })
    assert.is_nil(errors)
    for _, id in ipairs(ids) do
      local list = assert(results[id])
      assert_unique(list)
      assert.is_true(#list >= 148 and #list <= 150, id .. ": " .. #list)
    end
    assert.equal(0, srv:stats().faults_pending)
  end)
end)

describe("late use counts", function()
  local srv

  setup(function() srv = fake.start{ state = state{ 3 } } end)
  teardown(function() srv:stop() end)

  it("a status derived from a listing lags behind the uses the server has counted", function()
    -- the late-2024 server (a 2026 one writes no use at all: spec/26)
    local s = state({ 3 }, { usage_write_delay = 0.5, mode = "legacy" })
    local limited = s.identities[ID1].tokens[3]       -- the oldest: last in the listing
    limited.accessTokenNumUsesLimit = 2
    srv:reset(s)
    local bearer = "bearer-" .. limited.id
    assert.equal(200, present(srv, bearer).status)
    assert.equal(200, present(srv, bearer).status)   -- the last use it is allowed
    local c = H.client(srv)
    -- the listing does not know yet: still active, never used, in its old place
    local page = assert(c:list_tokens(ID1))
    assert.equal(limited.id, page.tokens[3].id)
    assert.equal(0, page.tokens[3].accessTokenNumUses)
    assert.is_nil(page.tokens[3].accessTokenLastUsedAt)   -- JSON null
    assert.same({}, ids_of(assert(c:all_tokens(ID1, { status = "exhausted" }))))
    local exact = "^" .. (limited.name:gsub("%-", "%%-")) .. "$"
    assert.equal(1, #assert(c:all_tokens(ID1, { status = "active", name_pattern = exact })))
    -- once the server writes the count, the token is exhausted and first in the listing
    fake.sleep(0.6)
    page = assert(c:list_tokens(ID1))
    assert.equal(limited.id, page.tokens[1].id)
    assert.equal(2, page.tokens[1].accessTokenNumUses)
    assert.is_string(page.tokens[1].accessTokenLastUsedAt)
    assert.same({ limited.id }, ids_of(assert(c:all_tokens(ID1, { status = "exhausted" }))))
    -- presented once more, the server deletes it: it leaves the listing altogether
    assert.equal(401, present(srv, bearer).status)
    assert.same({}, ids_of(assert(c:all_tokens(ID1, { status = "exhausted" }))))
    assert.equal(2, #assert(c:all_tokens(ID1)))
  end)

  it("the client's own calls are counted late too, and move its token to the front", function()
    local s = state({ 3 }, { usage_write_delay = 0.3, mode = "legacy" })
    local own = s.identities[ID1].tokens[2]
    srv:reset(s)
    local c = H.client(srv, { token = "bearer-" .. own.id })
    assert.equal(own.id, assert(c:list_tokens(ID1)).tokens[2].id)
    assert.equal(own.id, assert(c:list_tokens(ID1)).tokens[2].id)
    fake.sleep(0.4)
    local first = assert(c:list_tokens(ID1)).tokens[1]
    assert.equal(own.id, first.id)
    assert.equal(2, first.accessTokenNumUses)   -- the two calls before the write
  end)
end)
