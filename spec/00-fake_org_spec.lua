-- Specs of the fake server's organisation identity listing
-- (GET /api/v2/organizations/{orgId}/identity-memberships) and of its rate limiter, driven
-- through curl.  Run: busted --lua=lua5.4 spec/00-fake_org_spec.lua
local fake = require "spec.fake_client"
local cjson = require "cjson"

local FIXTURE = "spec/fixtures/sample.json"
local ORG = "c0000000-0000-4000-8000-000000000001"
local OTHER_ORG = "c0000000-0000-4000-8000-000000000002"
local ORG_PATH = "/api/v2/organizations/%s/identity-memberships"
local TOKENS_PATH = "/api/v1/auth/token-auth/identities/%s/tokens"

describe("fake server: organisation identities", function()
  local srv, fixture

  local function copy(t) return cjson.decode(cjson.encode(t)) end

  -- the sample fixture, its valid bearer a member of ORG, ORG with `n` generated identities
  local function reset(n, changes)
    local st = copy(fixture)
    st.access_tokens["fake-valid-token"].org_id = ORG
    st.access_tokens["fake-noperm-token"].org_id = ORG
    st.orgs = { [ORG] = { generate = n or 0 } }
    for k, v in pairs(changes or {}) do st[k] = v end
    srv:reset(st)
  end

  local function list(query, bearer, org)
    local headers = {}
    if bearer ~= false then headers.Authorization = "Bearer " .. (bearer or "fake-valid-token") end
    return srv:request{ path = ORG_PATH:format(org or ORG) .. (query and ("?" .. query) or ""),
      headers = headers }
  end

  setup(function()
    fixture = fake.load_fixture(FIXTURE)
    srv = fake.start{ fixture = FIXTURE }
  end)
  teardown(function() srv:stop() end)

  it("pages through a few thousand generated identities: 100 by default, totalCount, name order", function()
    reset(3000)
    local res = list()
    assert.equal(200, res.status)
    assert.equal(3000, res.json.totalCount)
    assert.equal(100, #res.json.identityMemberships)
    local seen, prev = {}, nil
    for offset = 0, 2999, 1000 do
      local page = list("offset=" .. offset .. "&limit=1000").json
      assert.equal(3000, page.totalCount)
      for _, m in ipairs(page.identityMemberships) do
        assert.is_nil(seen[m.identityId])
        seen[m.identityId] = true
        assert.equal(m.identityId, m.identity.id)
        assert.equal(ORG, m.orgId)
        if prev then assert.is_true(prev <= m.identity.name) end
        prev = m.identity.name
      end
    end
    local n = 0
    for _ in pairs(seen) do n = n + 1 end
    assert.equal(3000, n)
    assert.equal(0, #list("offset=3000").json.identityMemberships)
    assert.equal(0, #list("offset=99999999").json.identityMemberships)
  end)

  it("orders by name in both directions and searches names case-insensitively (ILIKE)", function()
    reset(40)
    local asc = list("limit=40").json.identityMemberships
    local desc = list("limit=40&orderBy=name&orderDirection=desc").json.identityMemberships
    assert.equal(40, #asc)
    for i = 1, 40 do assert.equal(asc[i].id, desc[41 - i].id) end
    local res = list("search=%20CI-%20").json   -- trimmed, case-insensitive
    assert.equal(4, res.totalCount)              -- ci-00003, -13, -23, -33
    for _, m in ipairs(res.identityMemberships) do assert.matches("^ci%-", m.identity.name) end
    assert.equal(40, list("search=").json.totalCount)
    -- '_' is a LIKE wildcard on the real server too
    assert.equal(4, list("search=c_-").json.totalCount)
    assert.equal(0, list("search=nobody").json.totalCount)
  end)

  it("sends authMethods and the last login in current mode, one authMethod (or null) in legacy", function()
    reset(14)
    local cur = list("limit=20").json.identityMemberships
    local kinds = {}
    for _, m in ipairs(cur) do
      assert.is_table(m.identity.authMethods)
      assert.is_nil(m.identity.authMethod)
      assert.equal(ORG, m.identity.orgId)
      kinds[#m.identity.authMethods] = true
    end
    assert.is_true(kinds[0] and kinds[1] and kinds[2])   -- none, one, two methods
    reset(14, { mode = "legacy" })
    local leg = list("limit=20")
    assert.equal(200, leg.status)
    local null_seen = false
    for _, m in ipairs(leg.json.identityMemberships) do
      assert.is_nil(m.identity.authMethods)
      assert.is_nil(m.identity.orgId)
      assert.is_nil(m.lastLoginTime)
      if m.identity.authMethod == cjson.null then null_seen = true
      else assert.is_string(m.identity.authMethod) end
    end
    assert.is_true(null_seen)
  end)

  it("lists the tokens of the token-auth identities it lists; the others are 400", function()
    reset(10)
    for _, m in ipairs(list().json.identityMemberships) do
      local res = srv:request{ path = TOKENS_PATH:format(m.identityId),
        headers = { Authorization = "Bearer fake-valid-token" } }
      local methods = m.identity.authMethods
      local token_auth = false
      for _, a in ipairs(methods) do if a == "token-auth" then token_auth = true end end
      if token_auth then
        assert.equal(200, res.status)
        assert.equal(2, #res.json.tokens)
      else
        assert.equal(400, res.status)
        assert.equal("The identity does not have Token Auth", res.json.message)
      end
    end
  end)

  it("validates like the server: offset >= 0, limit 1..20000, enums; 422 (legacy 401)", function()
    reset(3)
    assert.equal(200, list("limit=20000").status)
    local res = list("offset=-1&limit=20001&orderBy=role&orderDirection=up")
    assert.equal(422, res.status)
    assert.equal("ValidationFailure", res.json.error)
    local paths = {}
    for _, i in ipairs(res.json.message) do paths[#paths + 1] = i.path[1] .. ":" .. i.code end
    assert.same({ "offset:too_small", "limit:too_big", "orderBy:invalid_enum_value",
      "orderDirection:invalid_enum_value" }, paths)
    assert.equal(422, list("limit=abc").status)
    assert.equal(422, list("limit=0").status)
    reset(3, { mode = "legacy" })
    res = list("limit=0")
    assert.equal(401, res.status)
    assert.equal("ValidationFailure", res.json.error)
    assert.is_nil(res.json.reqId)
  end)

  it("checks the bearer, the caller's org and its read permission", function()
    reset(3)
    local res = list(nil, false)
    assert.equal(401, res.status); assert.equal("Token missing", res.json.message)
    assert.equal(401, list(nil, "fake-revoked-token").status)
    assert.equal("TokenError", list(nil, "fake-expired-token").json.error)
    res = list(nil, nil, OTHER_ORG)
    assert.equal(403, res.status)
    assert.equal("Identity is not apart of this organization", res.json.error)
    assert.equal("You are not allowed to access this resource", res.json.message)
    res = list(nil, "fake-noperm-token")
    assert.equal(403, res.status)
    assert.equal("PermissionDenied", res.json.error)
    reset(3, { mode = "legacy" })
    res = list(nil, nil, "not-a-uuid")
    assert.equal(500, res.status)
    assert.same({ statusCode = 500, error = "GetOrgIdentityPermission",
      message = "Something went wrong" }, res.json)
  end)

  it("lets a Universal Auth login given an org_id list that org", function()
    local st = copy(fixture)
    st.universal_auth["fake-client-id"].org_id = ORG
    st.orgs = { [ORG] = { generate = 5 } }
    srv:reset(st)
    local login = srv:request{ method = "POST", path = "/api/v1/auth/universal-auth/login",
      body = { clientId = "fake-client-id", clientSecret = "fake-client-secret" } }
    assert.equal(200, login.status)
    local res = list(nil, login.json.accessToken)
    assert.equal(200, res.status)
    assert.equal(5, res.json.totalCount)
  end)
end)

describe("fake server: rate limiter", function()
  local srv, fixture

  local function copy(t) return cjson.decode(cjson.encode(t)) end
  local function reset(rl, mode)
    local st = copy(fixture)
    st.access_tokens["fake-valid-token"].org_id = ORG
    st.orgs = { [ORG] = { generate = 3 } }
    st.rate_limit = rl
    st.mode = mode
    srv:reset(st)
  end
  local function get(path, bearer)
    return srv:request{ path = path, headers = bearer ~= false
      and { Authorization = "Bearer " .. (bearer or "fake-valid-token") } or {} }
  end
  local ORG_URL = ORG_PATH:format(ORG)
  local TOK_URL = TOKENS_PATH:format(fake.identity_id(1))

  setup(function()
    fixture = fake.load_fixture(FIXTURE)
    srv = fake.start{ fixture = FIXTURE }
  end)
  teardown(function() srv:stop() end)

  for _, mode in ipairs{ "current", "legacy" } do
    it("counts per route and client address, with headers on every counted answer (" .. mode .. ")", function()
      reset({ limit = 2, window = 60 }, mode)
      local a = get(ORG_URL)
      assert.equal(200, a.status)
      assert.equal("2", a.headers["x-ratelimit-limit"])
      assert.equal("1", a.headers["x-ratelimit-remaining"])
      assert.is_truthy(tonumber(a.headers["x-ratelimit-reset"]))
      -- the tokens route has its own counter
      local t = get(TOK_URL)
      assert.equal(200, t.status)
      assert.equal("1", t.headers["x-ratelimit-remaining"])
      -- a validation failure counts and carries the headers
      local v = get(ORG_URL .. "?limit=0")
      assert.equal(mode == "legacy" and 401 or 422, v.status)
      assert.equal("0", v.headers["x-ratelimit-remaining"])
      -- auth refusals are not counted and carry no headers
      local r = get(ORG_URL, false)
      assert.equal(401, r.status)
      assert.is_nil(r.headers["x-ratelimit-limit"])
      local e = get(ORG_URL, "fake-malformed-token")
      assert.equal(403, e.status)
      assert.is_nil(e.headers["x-ratelimit-limit"])
      local over = get(ORG_URL)
      assert.equal(429, over.status)
      assert.equal("RateLimitExceeded", over.json.error)
      assert.equal("0", over.headers["x-ratelimit-remaining"])
      assert.equal(over.headers["x-ratelimit-reset"], over.headers["retry-after"])
      -- the tokens route still has one read left
      assert.equal(200, get(TOK_URL).status)
      assert.equal(429, get(TOK_URL).status)
    end)
  end

  it("per_route = false: one read budget per client address for every read route", function()
    reset({ limit = 2, window = 60, per_route = false })
    assert.equal(200, get(ORG_URL).status)
    assert.equal("0", get(TOK_URL).headers["x-ratelimit-remaining"])
    assert.equal(429, get(ORG_URL).status)
    assert.equal(429, get(TOK_URL).status)
  end)

  it("limits writes (login, create, revoke) on their own counters, write_limit per window", function()
    reset({ limit = 1, window = 60, write_limit = 2 })
    local function login()
      return srv:request{ method = "POST", path = "/api/v1/auth/universal-auth/login",
        body = { clientId = "fake-client-id", clientSecret = "fake-client-secret" } }
    end
    local l1 = login()
    assert.equal(200, l1.status)
    assert.equal("2", l1.headers["x-ratelimit-limit"])
    assert.equal("1", l1.headers["x-ratelimit-remaining"])
    assert.equal(401, srv:request{ method = "POST", path = "/api/v1/auth/universal-auth/login",
      body = { clientId = "fake-client-id", clientSecret = "wrong" } }.status)
    local l3 = login()
    assert.equal(429, l3.status)
    assert.is_truthy(l3.headers["retry-after"])
    -- reads have their own budget
    assert.equal(200, get(TOK_URL).status)
    local c = srv:request{ method = "POST", path = TOKENS_PATH:format(fake.identity_id(1)),
      body = { name = "x" }, headers = { Authorization = "Bearer fake-valid-token" } }
    assert.equal(200, c.status)
    assert.equal("1", c.headers["x-ratelimit-remaining"])
  end)

  it("counts per client address: another address has its own window", function()
    reset({ limit = 1, window = 60 })
    assert.equal(200, get(ORG_URL).status)
    assert.equal(429, get(ORG_URL).status)
    -- the whole of 127/8 is loopback on Linux: a second client address
    local other = srv:request{ path = ORG_URL, headers = { Authorization = "Bearer fake-valid-token" },
      curl_args = { "--interface", "127.0.0.2" } }
    assert.equal(200, other.status, other.err)
    assert.equal("0", other.headers["x-ratelimit-remaining"])
    assert.equal(429, get(ORG_URL).status)
  end)

  it("admits exactly `limit` of a burst of concurrent requests", function()
    reset({ limit = 20, window = 60 })
    local args = { "-sS", "-Z", "--parallel-max", "50", "-w", "%{http_code}\n",
      "-H", "Authorization: Bearer fake-valid-token" }
    for _ = 1, 50 do
      args[#args + 1] = "-o"; args[#args + 1] = "/dev/null"
      args[#args + 1] = srv.url .. ORG_URL
    end
    local out, rc = fake.curl(args)
    assert.equal(0, rc)
    local n = {}
    for code in out:gmatch("%d+") do n[code] = (n[code] or 0) + 1 end
    assert.same({ ["200"] = 20, ["429"] = 30 }, n)
  end)

  it("a fixed window: the count starts again when the window ends", function()
    reset({ limit = 2, window = 1 })
    assert.equal(200, get(ORG_URL).status)
    assert.equal(200, get(ORG_URL).status)
    local over = get(ORG_URL)
    assert.equal(429, over.status)
    assert.equal("1", over.headers["retry-after"])
    fake.sleep(1.1)
    local again = get(ORG_URL)
    assert.equal(200, again.status)
    assert.equal("1", again.headers["x-ratelimit-remaining"])
  end)
end)
