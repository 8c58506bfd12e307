-- Specs of the fake Infisical server itself (spec/fake_server.py), driven
-- through curl via spec/fake_client.lua.  Run: busted --lua=lua5.4 spec/00-fake_server_spec.lua
local fake = require "spec.fake_client"
local cjson = require "cjson"

local FIXTURE = "spec/fixtures/sample.json"
local ID1, ID2, ID3 = fake.identity_id(1), fake.identity_id(2), fake.identity_id(3)
local MISSING = fake.identity_id(42)
local TOKENS_PATH = "/api/v1/auth/token-auth/identities/%s/tokens"
local MALFORMED = "The provided access token is malformed. Please use a valid token or generate"
  .. " a new one and try again."

local function copy(t)
  return cjson.decode(cjson.encode(t))
end

describe("fake Infisical server", function()
  local srv, fixture

  local function reset(changes)
    local st = copy(fixture)
    for k, v in pairs(changes or {}) do st[k] = v end
    srv:reset(st)
  end

  -- GET the token list; query is a raw query string (or nil)
  local function list(id, query, bearer, extra)
    local opts = extra or {}
    opts.path = string.format(TOKENS_PATH, id) .. (query and ("?" .. query) or "")
    opts.headers = opts.headers or {}
    if bearer ~= false then
      opts.headers.Authorization = "Bearer " .. (bearer or "fake-valid-token")
    end
    return srv:request(opts)
  end

  local function post(path, body, bearer, headers)
    headers = headers or {}
    if bearer then headers.Authorization = "Bearer " .. bearer end
    return srv:request{ method = "POST", path = path, body = body, headers = headers }
  end

  local function assert_error(res, status, err, message)
    assert.equal(status, res.status)
    assert.is_table(res.json, "body is not JSON: " .. tostring(res.body))
    assert.equal(status, res.json.statusCode)
    assert.equal(err, res.json.error)
    if message ~= nil then assert.same(message, res.json.message) end
    assert.equal("application/json; charset=utf-8", res.headers["content-type"])
  end

  local function ids(res)
    local out = {}
    for i, t in ipairs(res.json.tokens) do out[i] = t.id end
    return out
  end

  setup(function()
    fixture = fake.load_fixture(FIXTURE)
    srv = fake.start{ fixture = FIXTURE }
  end)

  teardown(function()
    if srv then srv:stop() end
  end)

  before_each(function()
    reset()
  end)

  it("listens on 127.0.0.1 and reports its port", function()
    assert.is_number(srv.port)
    assert.equal("http://127.0.0.1:" .. srv.port, srv.url)
    assert.is_true(srv:alive())
  end)

  describe("authentication", function()
    it("401 Token missing without Authorization, with a reqId", function()
      local res = list(ID1, nil, false)
      assert_error(res, 401, "UnauthorizedError", "Token missing")
      assert.matches("^req%-", res.json.reqId)
    end)

    it("401 for a revoked bearer, in each era's words", function()
      assert_error(list(ID1, nil, "fake-revoked-token"), 401, "UnauthorizedError",
        "Failed to authorize: token has been revoked")
      reset{ mode = "legacy" }
      assert_error(list(ID1, nil, "fake-revoked-token"), 401, "UnauthorizedError",
        "No identity access token found")
    end)

    -- recorded: real.txt "garbage token", "empty bearer", "basic auth scheme"
    it("403 TokenError for bearers that are not its JWTs: garbage, empty, another scheme", function()
      assert_error(list(ID1, nil, "no-such-token"), 403, "TokenError", MALFORMED)
      assert_error(list(ID1, nil, false, { headers = { Authorization = "Bearer " } }), 403,
        "TokenError", "jwt must be provided")
      assert_error(list(ID1, nil, false, { headers = { Authorization = "Basic abc" } }), 403,
        "TokenError", MALFORMED)
    end)

    it("403 TokenError for expired and malformed bearers", function()
      assert_error(list(ID1, nil, "fake-expired-token"), 403, "TokenError",
        "Your token has expired. Please re-authenticate.")
      assert_error(list(ID1, nil, "fake-malformed-token"), 403, "TokenError")
    end)

    it("403 PermissionDenied with empty details without read permission", function()
      local res = list(ID1, nil, "fake-noperm-token")
      assert_error(res, 403, "PermissionDenied", "You are not allowed to read on identity")
      assert.same({}, res.json.details)
      assert.matches('"details":%[%]', res.body)
    end)
  end)

  describe("identity errors", function()
    it("404 for an unknown identity, also for non-uuid ids in current mode", function()
      assert_error(list(MISSING), 404, "NotFound", "Failed to find identity with ID " .. MISSING)
      assert_error(list("not-a-uuid"), 404, "NotFound", "Failed to find identity with ID not-a-uuid")
    end)

    it("400 for an identity without Token Auth", function()
      assert_error(list(ID3), 400, "BadRequest", "The identity does not have Token Auth")
    end)

    it("404 Fastify-style for unknown routes", function()
      local res = srv:request{ path = "/api/v1/nope?x=1" }
      assert.equal(404, res.status)
      assert.same({ message = "Route GET:/api/v1/nope?x=1 not found", error = "Not Found",
        statusCode = 404 }, res.json)
      res = srv:request{ method = "DELETE", path = string.format(TOKENS_PATH, ID1) }
      assert.equal(404, res.status)
      assert.equal("Not Found", res.json.error)
    end)
  end)

  describe("listing", function()
    it("returns 20 tokens by default, updatedAt descending, only token-auth", function()
      local res = list(ID1)
      assert.equal(200, res.status)
      assert.equal("application/json; charset=utf-8", res.headers["content-type"])
      assert.equal(20, #res.json.tokens)
      for i, t in ipairs(res.json.tokens) do
        assert.equal("token-auth", t.authMethod)
        assert.equal(0, t.accessTokenPeriod)
        if i > 1 then assert.is_true(res.json.tokens[i - 1].updatedAt >= t.updatedAt) end
      end
      -- current servers register @fastify/etag too: a strong base64 SHA-1 of the body
      assert.matches('^"[%w+/]+=*"$', res.headers.etag)
      assert.is_nil(res.headers["x-ratelimit-limit"])
    end)

    it("lists every non-universal-auth token, revoked ones included, with nulls and extra fields", function()
      local res = list(ID1, "limit=100")
      assert.equal(26, #res.json.tokens)
      local revoked, never_used, null_names, extra = 0, 0, 0, 0
      for _, t in ipairs(res.json.tokens) do
        if t.isAccessTokenRevoked then revoked = revoked + 1 end
        if t.accessTokenLastUsedAt == fake.null then never_used = never_used + 1 end
        if t.name == fake.null then null_names = null_names + 1 end
        if t.scopeOrgId then extra = extra + 1 end
      end
      assert.equal(5, revoked)
      assert.equal(4, never_used)
      assert.equal(4, null_names)
      assert.equal(1, extra)
      assert.matches('"accessTokenLastUsedAt":null', res.body)
    end)

    it("lists universal-auth tokens too in all_auth_methods mode", function()
      reset{ all_auth_methods = true }
      local res = list(ID1, "limit=100")
      local ua = 0
      for _, t in ipairs(res.json.tokens) do
        if t.authMethod == "universal-auth" then ua = ua + 1 end
      end
      assert.equal(30, #res.json.tokens)
      assert.equal(4, ua)
    end)

    it("pages with offset/limit consistently with the full list", function()
      local all = ids(list(ID1, "limit=100"))
      local a, b = ids(list(ID1, "offset=0&limit=10")), ids(list(ID1, "offset=10&limit=10"))
      for i = 1, 10 do
        assert.equal(all[i], a[i]); assert.equal(all[10 + i], b[i])
      end
      local last = list(ID1, "offset=20&limit=10")
      assert.equal(6, #last.json.tokens)
      assert.equal(0, #list(ID1, "offset=30&limit=10").json.tokens)
      assert.matches('^{"tokens":%[%]}$', list(ID1, "offset=30").body)
    end)

    it("breaks updatedAt ties deterministically", function()
      local a, b = ids(list(ID1, "limit=100")), ids(list(ID1, "limit=100"))
      assert.same(a, b)
    end)

    it("caps offset at 100: only 200 of 250 tokens are reachable", function()
      local seen, n = {}, 0
      for _, q in ipairs{ "offset=0&limit=100", "offset=100&limit=100" } do
        local res = list(ID2, q)
        assert.equal(100, #res.json.tokens)
        for _, t in ipairs(res.json.tokens) do
          if not seen[t.id] then n = n + 1 end
          seen[t.id] = true
        end
      end
      assert.equal(200, n)
      local res = list(ID2, "offset=101&limit=100")
      assert_error(res, 422, "ValidationFailure")
      assert.same({ { code = "too_big", maximum = 100, type = "number", inclusive = true,
        exact = false, message = "Number must be less than or equal to 100",
        path = { "offset" } } }, res.json.message)
      -- zod key order kept
      assert.matches('{"code":"too_big","maximum":100,"type":"number","inclusive":true,'
        .. '"exact":false,"message":"Number must be less than or equal to 100","path":%["offset"%]}',
        res.body)
    end)

    it("generates deterministic records for 'generate'", function()
      local t = list(ID2, "limit=7").json.tokens
      assert.equal("gen-1", t[1].name)
      assert.equal(fake.null, t[7].name)
      assert.equal(ID2, t[1].identityId)
      local again = list(ID2, "limit=7").json.tokens
      assert.equal(t[1].id, again[1].id)
      assert.matches("^%x+%-%x+%-4%x+%-%x+%-%x+$", t[1].id)
    end)
  end)

  describe("query validation", function()
    local function same_page(q1, q2)
      assert.same(ids(list(ID2, q1)), ids(list(ID2, q2)))
    end

    it("parses like JavaScript Number()", function()
      same_page("offset=&limit=5", "offset=0&limit=5")
      same_page("offset=1e1&limit=5", "offset=10&limit=5")
      same_page("offset=%205%20&limit=5", "offset=5&limit=5")
      same_page("offset=0x10&limit=5", "offset=16&limit=5")
      same_page("offset=1e2&limit=3", "offset=100&limit=3")
      assert.equal(100, #list(ID2, "limit=1e2").json.tokens)
    end)

    it("truncates fractional values", function()
      same_page("offset=2.9&limit=5.7", "offset=2&limit=5")
      assert.equal(5, #list(ID2, "limit=5.7").json.tokens)
    end)

    it("422 invalid_type for NaN", function()
      local res = list(ID1, "offset=abc")
      assert_error(res, 422, "ValidationFailure", { { code = "invalid_type", expected = "number",
        received = "nan", path = { "offset" }, message = "Expected number, received nan" } })
    end)

    it("422 too_small for limit 0 and negative offsets, issues in schema order", function()
      local res = list(ID1, "limit=0&offset=-1")
      assert_error(res, 422, "ValidationFailure")
      assert.equal(2, #res.json.message)
      assert.equal("too_small", res.json.message[1].code)
      assert.same({ "offset" }, res.json.message[1].path)
      assert.equal(0, res.json.message[1].minimum)
      assert.equal("Number must be greater than or equal to 0", res.json.message[1].message)
      assert.same({ "limit" }, res.json.message[2].path)
      assert.equal(1, res.json.message[2].minimum)
      assert.equal("too_big", list(ID1, "limit=100.5").json.message[1].code)
    end)

    it("runs authentication, then validation, then the handler", function()
      assert.equal(401, list(ID1, "offset=abc", "fake-revoked-token").status)
      assert.equal(403, list(ID1, "offset=abc", "fake-expired-token").status)
      assert.equal(422, list(ID1, "offset=abc", "fake-noperm-token").status)
      assert.equal(422, list(MISSING, "offset=abc").status)
      assert.equal(422, list(ID3, "limit=0").status)
    end)
  end)

  describe("rate limiting", function()
    it("answers 429 with retry headers past the limit, after auth and before validation", function()
      reset{ rate_limit = { limit = 2, window = 60 } }
      assert.equal(200, list(ID1).status)
      -- unauthenticated requests are not counted
      assert.equal(401, list(ID1, nil, false).status)
      assert.equal(422, list(ID1, "offset=abc").status)
      local res = list(ID1, "offset=abc")
      assert_error(res, 429, "RateLimitExceeded")
      assert.matches("^Rate limit exceeded%. Please try again in %d+ seconds$", res.json.message)
      local n = tonumber(res.headers["retry-after"])
      assert.is_true(n >= 1 and n <= 60)
      assert.equal("2", res.headers["x-ratelimit-limit"])
      assert.equal("0", res.headers["x-ratelimit-remaining"])
      assert.is_truthy(res.headers["x-ratelimit-reset"])
      assert.equal(401, list(ID1, nil, false).status)
    end)

    it("resets after the window", function()
      reset{ rate_limit = { limit = 1, window = 1 } }
      assert.equal(200, list(ID1).status)
      assert.equal(429, list(ID1).status)
      fake.sleep(1.1)
      assert.equal(200, list(ID1).status)
    end)
  end)

  describe("legacy mode", function()
    before_each(function() reset{ mode = "legacy" } end)

    it("strips authMethod and accessTokenPeriod and sends an etag; 304 on If-None-Match", function()
      local res = list(ID1, "limit=5")
      assert.equal(200, res.status)
      for _, t in ipairs(res.json.tokens) do
        assert.is_nil(t.authMethod); assert.is_nil(t.accessTokenPeriod)
        assert.is_string(t.id)
      end
      local etag = res.headers.etag
      assert.matches('^"[%w+/]+=*"$', etag)   -- strong, as recorded
      local again = list(ID1, "limit=5", nil, { headers = { ["If-None-Match"] = etag } })
      assert.equal(304, again.status)
      assert.equal("", again.body)
      assert.equal(etag, again.headers.etag)
      assert.equal("0", again.headers["content-length"])
      assert.equal("application/json; charset=utf-8", again.headers["content-type"])
      assert.equal(200, list(ID1, "limit=5", nil, { headers = { ["If-None-Match"] = 'W/"x"' } }).status)
    end)

    it("answers validation failures with 401 and no reqId", function()
      local res = list(ID1, "offset=101")
      assert_error(res, 401, "ValidationFailure")
      assert.equal("too_big", res.json.message[1].code)
      assert.is_nil(res.json.reqId)
      assert.is_nil(list(ID1, nil, false).json.reqId)
    end)

    it("500 FindOne for a non-uuid identity, 404 for an unknown uuid", function()
      local res = list("not-a-uuid")
      assert.equal(500, res.status)
      assert.same({ statusCode = 500, error = "FindOne", message = "Something went wrong" }, res.json)
      assert_error(list(MISSING), 404, "NotFound")
    end)

    it("sends x-ratelimit headers on every answer and a minute-style 429 message", function()
      reset{ mode = "legacy", rate_limit = { limit = 2, window = 60 } }
      local res = list(ID1)
      assert.equal("2", res.headers["x-ratelimit-limit"])
      assert.equal("1", res.headers["x-ratelimit-remaining"])
      assert.equal("0", list(ID1, "offset=abc").headers["x-ratelimit-remaining"])
      res = list(ID1)
      assert_error(res, 429, "RateLimitExceeded", "Rate limit exceeded. Please try again in 1 minute")
      assert.is_truthy(res.headers["retry-after"])
    end)

    it("create answers without tokenData", function()
      local res = post(string.format(TOKENS_PATH, ID1), { name = "x" }, "fake-valid-token")
      assert.equal(200, res.status)
      assert.is_string(res.json.accessToken)
      assert.is_nil(res.json.tokenData)
    end)
  end)

  describe("churn", function()
    it("moves the oldest token to the front after each page", function()
      reset{ churn = true }
      local first = list(ID1, "limit=100").json.tokens
      local oldest = first[#first]
      local now = list(ID1, "limit=100").json.tokens
      assert.equal(oldest.id, now[1].id)
      assert.is_true(now[1].updatedAt > first[1].updatedAt)
      assert.equal(#first, #now)
    end)

    it("makes a token reappear on a later page", function()
      reset{ churn = true }
      local p1 = ids(list(ID1, "offset=0&limit=13"))
      local p2 = ids(list(ID1, "offset=13&limit=13"))
      -- token at position 13 of page 1 shifted to position 14 = first of page 2
      assert.equal(p1[13], p2[1])
    end)
  end)

  describe("sibling calls", function()
    local LOGIN = "/api/v1/auth/universal-auth/login"

    it("logs in with universal auth and the token then lists", function()
      local res = post(LOGIN, { clientId = "fake-client-id", clientSecret = "fake-client-secret" })
      assert.equal(200, res.status)
      assert.equal("Bearer", res.json.tokenType)
      assert.equal(7200, res.json.expiresIn)
      assert.equal(2592000, res.json.accessTokenMaxTTL)
      assert.equal(200, list(ID1, nil, res.json.accessToken).status)
      assert_error(post(LOGIN, { clientId = "fake-client-id", clientSecret = "wrong" }), 401,
        "UnauthorizedError", "Invalid credentials")
      local bad = post(LOGIN, { clientId = "fake-client-id" })
      assert_error(bad, 422, "ValidationFailure")
      assert.same({ "clientSecret" }, bad.json.message[1].path)
    end)

    it("revokes a token once, then 404; the revoked token moves to the front", function()
      local tid = "b0000000-0000-4000-8000-000000000030"
      local path = "/api/v1/auth/token-auth/tokens/" .. tid .. "/revoke"
      assert_error(post(path, nil, nil), 401, "UnauthorizedError", "Token missing")
      local res = post(path, nil, "fake-valid-token")
      assert.equal(200, res.status)
      assert.same({ message = "Successfully revoked access token" }, res.json)
      assert_error(post(path, nil, "fake-valid-token"), 404, "NotFound",
        "Token with ID " .. tid .. " not found or already revoked")
      local first = list(ID1, "limit=1").json.tokens[1]
      assert.equal(tid, first.id)
      assert.is_true(first.isAccessTokenRevoked)
      local st = srv:state()
      local found
      for _, t in ipairs(st.identities[ID1].tokens) do if t.id == tid then found = t end end
      assert.is_true(found.isAccessTokenRevoked)
    end)

    -- recorded: real.txt "revoke json empty body" (Fastify's parse error reaches the
    -- server's error handler, which answers 500 for errors it does not know)
    it("answers 500 to an empty JSON body with content-type application/json", function()
      local res = post("/api/v1/auth/token-auth/tokens/x/revoke", "", "fake-valid-token",
        { ["Content-Type"] = "application/json" })
      assert_error(res, 500, "InternalServerError", "Something went wrong")
    end)

    it("creates a token whose access token is a valid bearer; revoking it kills the bearer", function()
      local res = post(string.format(TOKENS_PATH, ID1), { name = "fresh" }, "fake-valid-token")
      assert.equal(200, res.status)
      assert.equal("Bearer", res.json.tokenType)
      assert.equal("fresh", res.json.tokenData.name)
      assert.equal("token-auth", res.json.tokenData.authMethod)
      local bearer, tid = res.json.accessToken, res.json.tokenData.id
      local top = list(ID1, "limit=1", bearer)
      assert.equal(200, top.status)
      assert.equal(tid, top.json.tokens[1].id)
      assert.equal(200, post("/api/v1/auth/token-auth/tokens/" .. tid .. "/revoke", nil, bearer).status)
      assert_error(list(ID1, nil, bearer), 401, "UnauthorizedError", "Failed to authorize: token has been revoked")
      assert_error(post(string.format(TOKENS_PATH, ID3), {}, "fake-valid-token"), 400, "BadRequest")
      assert_error(post(string.format(TOKENS_PATH, MISSING), {}, "fake-valid-token"), 404, "NotFound")
    end)

    it("hides freshly created tokens for replica_lag seconds", function()
      reset{ replica_lag = 0.6 }
      local res = post(string.format(TOKENS_PATH, ID1), { name = "lagging" }, "fake-valid-token")
      local tid = res.json.tokenData.id
      assert.are_not.equal(tid, list(ID1, "limit=1").json.tokens[1].id)
      fake.sleep(0.7)
      assert.equal(tid, list(ID1, "limit=1").json.tokens[1].id)
    end)

    it("renews tokens; expired tokens get 403 TokenError", function()
      local res = post("/api/v1/auth/token/renew", { accessToken = "fake-valid-token" })
      assert.equal(200, res.status)
      assert.equal("fake-valid-token", res.json.accessToken)
      assert.equal("Bearer", res.json.tokenType)
      assert_error(post("/api/v1/auth/token/renew", { accessToken = "fake-expired-token" }), 403,
        "TokenError", "Your token has expired. Please re-authenticate.")
      assert_error(post("/api/v1/auth/token/renew", {}), 422, "ValidationFailure")
    end)
  end)

  describe("access tokens as the real server treats them", function()
    local LOGIN = "/api/v1/auth/universal-auth/login"
    local CREDS = { clientId = "fake-client-id", clientSecret = "fake-client-secret" }

    local function login(bearer)
      return post(LOGIN, CREDS, bearer)
    end

    -- a token created through the API (it has a record in ID1's listing)
    local function created(name)
      local res = post(string.format(TOKENS_PATH, ID1), { name = name or "t" }, "fake-valid-token")
      assert.equal(200, res.status)
      if res.json.tokenData then return res.json.accessToken, res.json.tokenData.id end
      -- late 2024: no tokenData; the new token is the first of the listing
      return res.json.accessToken, list(ID1, "limit=1").json.tokens[1].id
    end

    local function listed(tid)
      for _, t in ipairs(list(ID1, "limit=100").json.tokens) do
        if t.id == tid then return t end
      end
    end

    it("every login issues a new token; the old one stays valid", function()
      local a, b = login(), login()
      assert.equal(200, a.status); assert.equal(200, b.status)
      assert.equal("fake-ua-token", a.json.accessToken)   -- the fixture's first token
      assert.are_not.equal(a.json.accessToken, b.json.accessToken)
      assert.equal(200, list(ID1, nil, a.json.accessToken).status)
      assert.equal(200, list(ID1, nil, b.json.accessToken).status)
    end)

    -- the bug of issue 9 section 1: the login is refused for the bearer it carries
    it("late-2024: " .. "checks a bearer sent to the login: revoked or deleted 401, expired or malformed 403", function()
      reset{ mode = "legacy" }
      assert_error(login("fake-revoked-token"), 401, "UnauthorizedError", "No identity access token found")
      assert_error(login("fake-expired-token"), 403, "TokenError", "Your token has expired. Please re-authenticate.")
      assert_error(login("garbage"), 403, "TokenError", MALFORMED)
      local bearer = login().json.accessToken
      srv:token{ client_id = "fake-client-id", state = "deleted" }
      assert_error(login(bearer), 401, "UnauthorizedError", "No identity access token found")
      -- a valid bearer does not stop a login
      assert.equal(200, login("fake-valid-token").status)
      assert.equal(200, login().status)
    end)

    it("unknown client id 404, wrong secret 401, form-encoded body accepted", function()
      assert_error(post(LOGIN, { clientId = "nobody", clientSecret = "x" }), 404, "NotFound",
        "No identity with specified client ID was found")
      assert_error(post(LOGIN, { clientId = "fake-client-id", clientSecret = "x" }), 401,
        "UnauthorizedError", "Invalid credentials")
      local res = post(LOGIN, "clientId=fake-client-id&clientSecret=fake-client-secret", nil,
        { ["Content-Type"] = "application/x-www-form-urlencoded" })
      assert.equal(200, res.status)
      assert.equal("Bearer", res.json.tokenType)
    end)

    it("late-2024: " .. "control: revokes, deletes or expires the token of a UA client's latest login", function()
      reset{ mode = "legacy" }
      local cases = {
        { "revoked", 401, "No identity access token found", 401, "No identity access token found" },
        { "deleted", 401, "No identity access token found", 401, "No identity access token found" },
        { "expired", 403, "Your token has expired. Please re-authenticate.", 403,
          "Your token has expired. Please re-authenticate." },
        { "ttl_expired", 401, "Failed to renew MI access token due to TTL expiration", 401,
          "No identity access token found" },
        { "used_up", 401, "Unable to renew because access token number of uses limit reached", 401,
          "No identity access token found" },
      }
      for _, c in ipairs(cases) do
        reset{ mode = "legacy" }
        local bearer = login().json.accessToken
        assert.equal(200, list(ID1, nil, bearer).status)
        local out = srv:token{ client_id = "fake-client-id", state = c[1] }
        assert.is_true(out.ok)
        local first = list(ID1, nil, bearer)
        assert_error(first, c[2], first.json.error, c[3])
        assert_error(list(ID1, nil, bearer), c[4], list(ID1, nil, bearer).json.error, c[5])
        -- a fresh login works again
        assert.equal(200, list(ID1, nil, login().json.accessToken).status)
      end
      assert.has_error(function() srv:token{ client_id = "never-logged-in", state = "revoked" } end)
      assert.has_error(function() srv:token{ bearer = "fake-valid-token", state = "bogus" } end)
    end)

    it("late-2024: " .. "a token at its use limit is refused once, deleted, and vanishes from the listing", function()
      reset{ mode = "legacy" }
      local bearer, tid = created("limited")
      srv:token{ token_id = tid, uses_limit = 2 }
      assert.equal(200, list(ID1, "limit=1", bearer).status)
      assert.equal(200, list(ID1, "limit=1", bearer).status)
      assert.is_table(listed(tid))
      assert_error(list(ID1, nil, bearer), 401, "UnauthorizedError",
        "Unable to renew because access token number of uses limit reached")
      assert.is_nil(listed(tid))
      assert_error(list(ID1, nil, bearer), 401, "UnauthorizedError", "No identity access token found")
    end)

    it("late-2024: " .. "a token past its TTL is refused with 401 and deleted; past its max TTL 403, kept", function()
      reset{ mode = "legacy" }
      local bearer, tid = created("ttl")
      srv:token{ token_id = tid, state = "ttl_expired" }
      assert_error(list(ID1, nil, bearer), 401, "UnauthorizedError",
        "Failed to renew MI access token due to TTL expiration")
      assert.is_nil(listed(tid))
      local b2, t2 = created("maxttl")
      srv:token{ token_id = t2, state = "expired" }
      assert_error(list(ID1, nil, b2), 403, "TokenError", "Your token has expired. Please re-authenticate.")
      assert.is_table(listed(t2))
      -- by the clock too: a login whose expiresIn is 1 s
      local st = copy(fixture)
      st.universal_auth["fake-client-id"].expires_in = 1
      st.mode = "legacy"
      srv:reset(st)
      local b3 = login().json.accessToken
      assert.equal(200, list(ID1, nil, b3).status)
      fake.sleep(1.1)
      assert_error(list(ID1, nil, b3), 401, "UnauthorizedError",
        "Failed to renew MI access token due to TTL expiration")
    end)

    it("late-2024: writes use counts and accessTokenLastUsedAt late, moving the token to the front", function()
      reset{ usage_write_delay = 1.5, mode = "legacy" }
      local bearer, tid = created("used")
      local _, newer = created("newer")      -- now first
      assert.equal(200, list(ID1, "limit=1", bearer).status)
      assert.equal(200, list(ID1, "limit=1", bearer).status)
      local t = listed(tid)
      assert.equal(0, t.accessTokenNumUses)
      assert.equal(fake.null, t.accessTokenLastUsedAt)
      assert.equal(newer, list(ID1, "limit=1").json.tokens[1].id)
      fake.sleep(1.6)
      t = listed(tid)
      assert.equal(2, t.accessTokenNumUses)
      assert.is_string(t.accessTokenLastUsedAt)
      assert.equal(tid, list(ID1, "limit=1").json.tokens[1].id)
      -- the default is the real server's minute
      reset()
      assert.equal(60, srv:state().usage_write_delay)
    end)

    it("late-2024: " .. "a fault can change a token as the Nth matching request arrives", function()
      reset{ mode = "legacy" }
      local bearer = login().json.accessToken
      srv:faults{ { match = "/tokens", after = 1, then_normal = true,
        token = { client_id = "fake-client-id", state = "revoked" } } }
      assert.equal(200, list(ID1, nil, bearer).status)
      assert_error(list(ID1, nil, bearer), 401, "UnauthorizedError", "No identity access token found")
      assert.equal(0, srv:stats().faults_pending)
    end)

    it("legacy: PermissionDenied without details, create without a body is 401 ValidationFailure", function()
      reset{ mode = "legacy" }
      local res = list(ID1, nil, "fake-noperm-token")
      assert_error(res, 403, "PermissionDenied", "You are not allowed to read on identity")
      assert.is_nil(res.json.details)
      res = post(string.format(TOKENS_PATH, ID1), nil, "fake-valid-token")
      assert_error(res, 401, "ValidationFailure", { { code = "invalid_type", expected = "object",
        received = "null", path = {}, message = "Expected object, received null" } })
    end)

    it("checks the bearer on unknown routes too, and etags errors", function()
      local res = srv:request{ path = "/api/v1/nope", headers = { Authorization = "Bearer junk" } }
      assert_error(res, 403, "TokenError", MALFORMED)
      assert.matches('^"[%w+/]+=*"$', res.headers.etag)
    end)
  end)

  describe("faults", function()
    it("answers with a queued status and JSON body, then normally", function()
      srv:faults{ { status = 503, body = { message = "down" }, headers = { ["x-fault"] = "1" } } }
      local res = list(ID1)
      assert.equal(503, res.status)
      assert.same({ message = "down" }, res.json)
      assert.equal("1", res.headers["x-fault"])
      assert.equal("application/json; charset=utf-8", res.headers["content-type"])
      assert.equal(200, list(ID1).status)
    end)

    it("sends string bodies as they are, in FIFO order, with repeat", function()
      srv:faults{
        { status = 502, body = "<html><body>Bad Gateway</body></html>",
          headers = { ["Content-Type"] = "text/html" } },
        { status = 504, ["repeat"] = 2 },
      }
      local res = list(ID1)
      assert.equal(502, res.status)
      assert.equal("text/html", res.headers["content-type"])
      assert.equal("<html><body>Bad Gateway</body></html>", res.body)
      res = list(ID1)
      assert.equal(504, res.status)
      assert.equal("", res.body)
      assert.equal(504, list(ID1).status)
      assert.equal(200, list(ID1).status)
    end)

    it("applies faults only to matching paths", function()
      srv:faults{ { status = 500, match = "/revoke" } }
      assert.equal(200, list(ID1).status)
      assert.equal(1, srv:stats().faults_pending)
      assert.equal(500, post("/api/v1/auth/token-auth/tokens/x/revoke", nil, "fake-valid-token").status)
      assert.equal(0, srv:stats().faults_pending)
    end)

    it("closes the connection without an answer", function()
      srv:faults{ { close = true } }
      local res = list(ID1)
      assert.equal(52, res.rc) -- curl: empty reply from server
      assert.equal(200, list(ID1).status)
    end)

    it("can carry the request out, then answer as the fault says (the answer is lost)", function()
      local path = "/api/v1/auth/token-auth/tokens/b0000000-0000-4000-8000-000000000001/revoke"
      for _, f in ipairs{ { status = 502 }, { close = true } } do
        reset()
        f.match, f.carry_out = "/revoke", true
        srv:faults{ f }
        local res = post(path, nil, "fake-valid-token")
        if f.close then assert.equal(52, res.rc) else assert.equal(502, res.status) end
        assert_error(post(path, nil, "fake-valid-token"), 404, "NotFound")
      end
    end)

    it("writes raw bytes then closes", function()
      srv:faults{ { raw = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Raw: yes\r\n\r\nhello" } }
      local res = list(ID1)
      assert.equal(200, res.status)
      assert.equal("hello", res.body)
      assert.equal("yes", res.headers["x-raw"])
      srv:faults{ { raw = "garbage\r\n\r\n" } }
      assert.are_not.equal(0, list(ID1).rc)
    end)

    it("delays, trickles, and can delay then answer normally", function()
      srv:faults{ { delay = 0.4, then_normal = true } }
      local res = list(ID1, "limit=1")
      assert.equal(200, res.status)
      assert.is_true(res.time >= 0.4)
      srv:faults{ { status = 200, body = "0123456789", trickle = 0.05 } }
      res = list(ID1)
      assert.equal("0123456789", res.body)
      assert.is_true(res.time >= 0.45)
      srv:faults{ { status = 500, delay = 2 } }
      res = list(ID1, nil, nil, { timeout = 0.5 })
      assert.equal(28, res.rc) -- curl: operation timed out
    end)

    it("applies state latency to every API answer", function()
      reset{ latency = 0.3 }
      assert.is_true(list(ID1, nil, false).time >= 0.3)
    end)

    it("a reset clears the queue", function()
      srv:faults{ { status = 500 } }
      reset()
      assert.equal(200, list(ID1).status)
    end)
  end)

  describe("stats", function()
    local function sha8(s)
      local out = fake.run("printf %s " .. fake.shellquote(s) .. " | sha256sum")
      return out:sub(1, 8)
    end

    it("records requests with redacted authorization and parsed query", function()
      list(ID1, "offset=3&limit=2")
      post("/api/v1/auth/token/renew", { accessToken = "fake-valid-token" })
      local st = srv:stats()
      assert.equal(2, st.api_requests)
      local r = st.requests[1]
      assert.equal("GET", r.method)
      assert.equal(string.format(TOKENS_PATH, ID1), r.path)
      assert.same({ offset = "3", limit = "2" }, r.query)
      assert.equal("Bearer " .. sha8("fake-valid-token"), r.headers.authorization)
      assert.equal(200, r.status)
      assert.is_string(r.headers["user-agent"])
      local raw = cjson.encode(st)
      assert.is_nil(raw:find("fake-valid-token", 1, true))
      assert.equal("<sha256 " .. sha8("fake-valid-token") .. ">", st.requests[2].body.accessToken)
    end)

    it("counts TCP connections: one curl reusing a connection for two URLs", function()
      local u = srv.url .. string.format(TOKENS_PATH, ID1)
      local out, rc = fake.curl{ "-sS", "--max-time", "10", "-H", "Authorization: Bearer fake-valid-token",
        "-o", "/dev/null", "-o", "/dev/null", "-w", "%{http_code} ", u .. "?limit=1", u .. "?limit=2" }
      assert.equal(0, rc)
      assert.equal("200 200 ", out)
      local st = srv:stats()
      assert.equal(2, st.api_requests)
      assert.equal(1, st.connections)
      assert.equal(st.requests[1].connection, st.requests[2].connection)
      list(ID1)
      st = srv:stats()
      assert.equal(2, st.connections)
      assert.are_not.equal(st.requests[1].connection, st.requests[3].connection)
      assert.is_true(st.connections_all >= 3) -- control connections too
    end)

    it("counts a connection closed by the client after Connection: close", function()
      local u = srv.url .. string.format(TOKENS_PATH, ID1)
      fake.curl{ "-sS", "-H", "Connection: close", "-o", "/dev/null", "-o", "/dev/null",
        u .. "?limit=1", u .. "?limit=2" }
      assert.equal(2, srv:stats().connections)
    end)
  end)

  describe("process control", function()
    it("starts from a state table and shuts down on POST /_fake/shutdown", function()
      local s2 = fake.start{ state = { access_tokens = { t = {} },
        identities = { [ID1] = { tokens = { fake.token_record{ name = fake.null } } } } } }
      local res = s2:request{ path = string.format(TOKENS_PATH, ID1),
        headers = { Authorization = "Bearer t" } }
      assert.equal(200, res.status)
      assert.equal(1, #res.json.tokens)
      assert.equal(fake.null, res.json.tokens[1].name)
      s2:request{ method = "POST", path = "/_fake/shutdown" }
      local gone = false
      for _ = 1, 40 do
        if not s2:alive() then gone = true; break end
        fake.sleep(0.05)
      end
      assert.is_true(gone)
      s2:stop()
    end)

    it("fails clearly when the server cannot start", function()
      assert.has_error(function() fake.start{ fixture = "/nonexistent.json", timeout = 3 } end)
    end)
  end)

  describe("TLS", function()
    local dir, tls_srv

    setup(function()
      dir = os.tmpname()
      os.remove(dir)
      assert(os.execute("mkdir -p " .. dir))
      local _, rc = fake.run("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1"
        .. " -addext subjectAltName=IP:127.0.0.1 -keyout " .. dir .. "/key.pem -out " .. dir
        .. "/cert.pem 2>/dev/null")
      assert.equal(0, rc)
      tls_srv = fake.start{ fixture = FIXTURE, tls = { cert = dir .. "/cert.pem", key = dir .. "/key.pem" } }
    end)

    teardown(function()
      if tls_srv then tls_srv:stop() end
      os.execute("rm -rf " .. dir)
    end)

    it("serves https with the self-signed certificate", function()
      assert.matches("^https://127%.0%.0%.1:%d+$", tls_srv.url)
      local res = tls_srv:request{ path = string.format(TOKENS_PATH, ID1),
        headers = { Authorization = "Bearer fake-valid-token" } }
      assert.equal(200, res.status)
      assert.equal(20, #res.json.tokens)
      local out, rc = fake.curl{ "-sS", "--cacert", dir .. "/cert.pem", "-o", "/dev/null",
        "-w", "%{http_code}", tls_srv.url .. string.format(TOKENS_PATH, ID1) }
      assert.equal(0, rc)
      assert.equal("401", out)
      assert.is_true(tls_srv:stats().connections >= 2)
    end)

    it("rejects plain HTTP and unverified clients", function()
      local _, rc = fake.curl{ "-sS", "--max-time", "5", "http://127.0.0.1:" .. tls_srv.port .. "/api" }
      assert.are_not.equal(0, rc)
      _, rc = fake.curl{ "-sS", "--max-time", "5", tls_srv.url .. "/api" }
      assert.equal(60, rc) -- curl: peer certificate cannot be authenticated
      assert.equal(200, tls_srv:request{ path = "/_fake/stats" }.status)
    end)
  end)
end)
