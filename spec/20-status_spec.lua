-- Token lifecycle: parse_time, expires_at, token_status and the status/unused_for/name
-- filters (pure functions, then through each_token/all_tokens against the fake server).
local H = require "spec.helpers"
local fake = H.fake
local infisical = require "infisical"

local DAY = 86400

local function rec(over)
  local r = fake.token_record(over)
  -- fake.null fields are what the C decoder turns into absent fields
  for k, v in pairs(r) do if v == fake.null then r[k] = nil end end
  return r
end

describe("parse_time", function()
  local parse_time = infisical.parse_time

  it("reads Infisical's timestamps as UTC epoch seconds", function()
    assert.equal(0, parse_time("1970-01-01T00:00:00.000Z"))
    assert.equal(1699335116, parse_time("2023-11-07T05:31:56.000Z"))
    assert.equal(1699335116, parse_time("2023-11-07T05:31:56Z"))
    assert.equal(1699335116.5, parse_time("2023-11-07T05:31:56.500Z"))
    assert.equal(1717239600, parse_time("2024-06-01T11:00:00.000Z"))
  end)

  it("agrees with os.date('!...') over leap years and centuries", function()
    for _, t in ipairs{ 951782400, 951868800, 4107542400, 1709164800, 1735689599, 0, 86399 } do
      local iso = os.date("!%Y-%m-%dT%H:%M:%S.000Z", t)
      assert.equal(t, parse_time(iso), iso)
    end
    -- before the epoch
    assert.equal(-86400, parse_time("1969-12-31T00:00:00Z"))
  end)

  it("applies numeric offsets", function()
    assert.equal(1699335116, parse_time("2023-11-07T07:31:56.000+02:00"))
    assert.equal(1699335116, parse_time("2023-11-07T00:01:56-0530"))
  end)

  it("does not depend on the TZ environment variable", function()
    local cmd = "TZ=America/New_York lua5.4 -e 'package.path=\"lua/?.lua;lua/?/init.lua;\"..package.path;"
      .. " print(require(\"infisical.status\").parse_time(\"2024-06-01T11:00:00.000Z\"))'"
    local out = fake.run(cmd)
    assert.equal("1717239600", out)
  end)

  it("gives nil for what is not a timestamp", function()
    for _, v in ipairs{ "", "2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z", "2023-02-29T00:00:00Z",
      "2024-06-01", "2024-06-01T25:00:00Z", "2024-06-01T11:00:00.000X", "yesterday",
      "2024-06-01T11:00:00+25:00", ("9"):rep(100) } do
      assert.is_nil(parse_time(v), v)
    end
    assert.is_nil(parse_time(nil))
    assert.is_nil(parse_time(12))
    assert.equal(1709164800, parse_time("2024-02-29T00:00:00Z"))
  end)
end)

describe("expires_at", function()
  local expires_at = infisical.expires_at
  local created = "2024-05-01T00:00:00.000Z"
  local c = 1714521600

  it("counts the TTL from creation when never renewed", function()
    assert.equal(c + 3600, expires_at(rec{ createdAt = created, accessTokenTTL = 3600 }))
  end)

  it("counts the TTL from the last renewal", function()
    local t = rec{ createdAt = created, accessTokenTTL = 3600,
      accessTokenLastRenewedAt = "2024-05-02T00:00:00.000Z" }
    assert.equal(c + DAY + 3600, expires_at(t))
  end)

  it("never goes past the max TTL from creation", function()
    local t = rec{ createdAt = created, accessTokenTTL = 10 * DAY, accessTokenMaxTTL = 5 * DAY,
      accessTokenLastRenewedAt = "2024-05-04T00:00:00.000Z" }
    assert.equal(c + 5 * DAY, expires_at(t))
    -- a max TTL of 0 is no cap; periodic tokens have no max TTL either
    t.accessTokenMaxTTL = 0
    assert.equal(c + 13 * DAY, expires_at(t))
    t.accessTokenMaxTTL, t.accessTokenPeriod = 5 * DAY, 3600
    assert.equal(c + 13 * DAY, expires_at(t))
  end)

  it("TTL 0 never expires, even with a max TTL", function()
    local exp, why = expires_at(rec{ createdAt = created, accessTokenTTL = 0, accessTokenMaxTTL = 60 })
    assert.is_nil(exp)
    assert.equal("never", why)
  end)

  it("unknown TTL or timestamps give nil, 'unknown'", function()
    local exp, why = expires_at(rec{ createdAt = "not a date" })
    assert.is_nil(exp); assert.equal("unknown", why)
    exp, why = expires_at(rec{ accessTokenLastRenewedAt = "garbage" })
    assert.is_nil(exp); assert.equal("unknown", why)
    local t = rec{}
    t.accessTokenTTL = nil
    exp, why = expires_at(t)
    assert.is_nil(exp); assert.equal("unknown", why)
  end)
end)

describe("token_status", function()
  local token_status = infisical.token_status
  local c = 1714521600   -- 2024-05-01T00:00:00Z
  local function t(over)
    local base = { createdAt = "2024-05-01T00:00:00.000Z", accessTokenTTL = 3600 }
    for k, v in pairs(over or {}) do base[k] = v end
    return rec(base)
  end

  it("active until the expiry instant, expired strictly after (the server's `>`)", function()
    assert.equal("active", token_status(t(), c + 3599))
    assert.equal("active", token_status(t(), c + 3600))
    assert.equal("expired", token_status(t(), c + 3601))
  end)

  it("revoked comes first, then the use limit, then expiry", function()
    assert.equal("revoked", token_status(t{ isAccessTokenRevoked = true }, c))
    assert.equal("revoked", token_status(t{ isAccessTokenRevoked = true, accessTokenNumUses = 5,
      accessTokenNumUsesLimit = 5 }, c + 10 * DAY))
    assert.equal("exhausted", token_status(t{ accessTokenNumUses = 5, accessTokenNumUsesLimit = 5 }, c + 10 * DAY))
  end)

  it("use limit: reached at uses >= limit; a limit of 0 is unlimited", function()
    assert.equal("active", token_status(t{ accessTokenNumUses = 4, accessTokenNumUsesLimit = 5 }, c))
    assert.equal("exhausted", token_status(t{ accessTokenNumUses = 5, accessTokenNumUsesLimit = 5 }, c))
    assert.equal("exhausted", token_status(t{ accessTokenNumUses = 7, accessTokenNumUsesLimit = 5 }, c))
    assert.equal("active", token_status(t{ accessTokenNumUses = 1000000, accessTokenNumUsesLimit = 0 }, c))
  end)

  it("TTL 0 is active forever; unknown timestamps are never expired", function()
    assert.equal("active", token_status(t{ accessTokenTTL = 0 }, c + 1000 * DAY))
    assert.equal("active", token_status(t{ createdAt = "???" }, c + 1000 * DAY))
    local r = t{}
    r.createdAt = nil
    assert.equal("active", token_status(r, c + 1000 * DAY))
  end)

  it("defaults `now` to the current time", function()
    local now = os.time()
    local iso = os.date("!%Y-%m-%dT%H:%M:%S.000Z", now - 100)
    assert.equal("active", token_status(rec{ createdAt = iso, accessTokenTTL = 3600 }))
    assert.equal("expired", token_status(rec{ createdAt = iso, accessTokenTTL = 10 }))
  end)

  it("raises on a wrong argument, naming it", function()
    assert.error_matches(function() token_status("x") end, "bad argument 'token'")
    assert.error_matches(function() token_status({}, "now") end, "bad argument 'now'")
  end)
end)

describe("status, unused_for and name filters", function()
  local srv
  local NOW = 1717243200   -- 2024-06-01T12:00:00Z
  local ID = H.ID1

  setup(function() srv = fake.start{ fixture = H.FIXTURE } end)
  teardown(function() srv:stop() end)

  local function ids(tokens)
    local out = {}
    for i, t in ipairs(tokens) do out[i] = t.id:sub(-3) end
    table.sort(out)
    return out
  end

  it("status picks tokens by derived status (one or a list)", function()
    local c = H.client(srv)
    local all = assert(c:all_tokens(ID))
    local by = { revoked = {}, expired = {}, exhausted = {}, active = {} }
    for _, t in ipairs(all) do table.insert(by[infisical.token_status(t, NOW)], t) end
    local revoked = assert(c:all_tokens(ID, { status = "revoked", now = NOW }))
    assert.same({ "004", "009", "016", "023", "029" }, ids(revoked))
    for s, list in pairs(by) do
      assert.same(ids(list), ids(assert(c:all_tokens(ID, { status = s, now = NOW }))), s)
    end
    assert.is_true(#by.active > 10)
    -- a month later every TTL of 30 days has run out: all but revoked and exhausted
    local later = assert(c:all_tokens(ID, { status = "expired", now = NOW + 31 * DAY }))
    assert.equal(#by.active, #later)
    local both = assert(c:all_tokens(ID, { status = { "expired", "revoked", "exhausted" }, now = NOW + 31 * DAY }))
    assert.equal(#all, #both)
  end)

  it("status sees exhausted tokens", function()
    local I = fake.identity_id(7)
    local toks = {
      fake.token_record{ id = "x-1", identityId = I, accessTokenNumUses = 5, accessTokenNumUsesLimit = 5 },
      fake.token_record{ id = "x-2", identityId = I, accessTokenNumUses = 4, accessTokenNumUsesLimit = 5 },
      fake.token_record{ id = "x-3", identityId = I, accessTokenNumUses = 9, accessTokenNumUsesLimit = 0 },
      fake.token_record{ id = "x-4", identityId = I, accessTokenTTL = 0 },
    }
    srv:reset(H.state{ [I] = { tokens = toks } })
    local c = H.client(srv)
    local function st(s) local out = {} for i, t in ipairs(assert(c:all_tokens(I, { status = s, now = NOW }))) do out[i] = t.id end table.sort(out) return out end
    assert.same({ "x-1" }, st("exhausted"))
    assert.same({ "x-4" }, st("active"))       -- TTL 0 outlives the others (created 2024-01-01)
    assert.same({ "x-2", "x-3" }, st("expired"))
    srv:reset_fixture(H.FIXTURE)
  end)

  -- the late-2024 server writes use; a 2026 one does not (spec/09: unused_for refuses there)
  it("unused_for: last use, or creation when never used, at least that long ago (late-2024)", function()
    srv:reset_fixture(H.FIXTURE, { mode = "legacy" })
    local c = H.client(srv)
    -- never used: 003 (created 05-28), 008 (05-28), 017 (05-28), 025 (05-30)
    local got = assert(c:all_tokens(ID, { unused_for = 3 * DAY, now = NOW }))
    for _, t in ipairs(got) do
      local last = infisical.parse_time(t.accessTokenLastUsedAt or t.createdAt)
      assert.is_true(last <= NOW - 3 * DAY, t.id)
    end
    assert.same({ "003", "008", "017" }, ids(got))
    local recent = assert(c:all_tokens(ID, { unused_for = 0, now = NOW }))
    assert.equal(26, #recent)
    srv:reset_fixture(H.FIXTURE)
  end)

  it("name_pattern is a Lua pattern; tokens without a name never match", function()
    local c = H.client(srv)
    assert.same({ "011", "012", "013", "015", "016", "017", "018", "019" },
      ids(assert(c:all_tokens(ID, { name_pattern = "^token%-1" }))) )
    -- through each_token, combined with another filter
    local seen = {}
    for t in c:each_token(ID, { name_pattern = "%-0%d$", status = "revoked", now = NOW }) do seen[#seen + 1] = t end
    assert.same({ "004", "009" }, ids(seen))
    assert.same({}, assert(c:all_tokens(ID, { name_pattern = "^$" })))
  end)

  it("name is found as written, no pattern: 't%', 'token-1*' (issue 20 §1)", function()
    local c = H.client(srv)
    assert.same({ "011", "012", "013", "015", "016", "017", "018", "019" },
      ids(assert(c:all_tokens(ID, { name = "token-1" }))))
    -- pattern characters are plain text: nothing is named so, nothing matches, nothing raises
    for _, text in ipairs{ "t%", "token-1*", "[", "token%-1", "(x" } do
      assert.same({}, assert(c:all_tokens(ID, { name = text })), text)
    end
    assert.error_matches(function() c:all_tokens(ID, { name = "" }) end, "bad argument 'name'")
    assert.error_matches(function() c:all_tokens(ID, { name = 5 }) end, "bad argument 'name'")
  end)

  it("bad filter values raise before any request, naming the option", function()
    local c = H.client(srv)
    srv:reset_fixture(H.FIXTURE)
    assert.error_matches(function() c:all_tokens(ID, { status = "dead" }) end, "bad argument 'status'")
    assert.error_matches(function() c:all_tokens(ID, { status = {} }) end, "bad argument 'status'")
    assert.error_matches(function() c:all_tokens(ID, { unused_for = -1 }) end, "bad argument 'unused_for'")
    assert.error_matches(function() c:all_tokens(ID, { name_pattern = "[" }) end, "bad argument 'name_pattern' %(malformed pattern")
    -- errors Lua's matcher only meets past the first item, on a name that gets that far
    for _, pat in ipairs{ "t%", "tok[a", "x%f", "x%fa", "x%b", "x%ba", "to(k", "t.)k", "(t)%2",
        "%1(t)", "(t%1)", "t%0", "()%2", "x[%", "^(", ("()"):rep(33) } do
      for _, f in ipairs{ "all_tokens", "each_token", "list_many" } do
        local arg = f == "list_many" and { ID } or ID
        assert.error_matches(function() c[f](c, arg, { name_pattern = pat }) end,
          "bad argument 'name_pattern' %(malformed pattern", nil, pat)
      end
    end
    -- and the well-formed ones a name filter uses pass
    for _, pat in ipairs{ "^token%-1", "%-0%d$", "^$", "[%]]", "[]]", "[^%a]", "%bxy", "%f[%w]tok",
        "(t)(o)%2", "()t", "t%%", "[a-z]+", "x-", "^", "$", "", ")b", "a]" } do
      assert.is_table(c:all_tokens(ID, { name_pattern = pat }), pat)
    end
    assert.error_matches(function() c:each_token(ID, { now = "today" }) end, "bad argument 'now'")
    assert.equal(18, #H.api_requests(srv))   -- only the well-formed patterns sent anything
  end)
end)
