-- The Lua layer against the fake server: new, list_tokens, each_token, all_tokens,
-- paging, filters, errors, retries and secrets.
local infisical = require "infisical"
local core = require "infisical.core"
local H = require "spec.helpers"
local fake = H.fake

local function lua_with_env(env, code)
  local parts = {}
  for k, v in pairs(env) do parts[#parts + 1] = k .. "=" .. fake.shellquote(v) end
  local cmd = "env -u INFISICAL_API_URL -u INFISICAL_TOKEN " .. table.concat(parts, " ")
    .. " lua5.4 -e " .. fake.shellquote(
      "package.path='./lua/?.lua;./lua/?/init.lua;'..package.path;"
      .. "package.cpath='./build/lua5.4/?.so;'..package.cpath;" .. code)
  return fake.run(cmd .. " 2>&1")
end

describe("infisical.new", function()
  it("accepts a base URL with or without a trailing / or /api", function()
    for _, u in ipairs{ "https://eu.infisical.com", "https://eu.infisical.com/",
        "https://eu.infisical.com/api", "https://eu.infisical.com/api/" } do
      local c = assert(infisical.new{ base_url = u, token = "t" })
      assert.equal("https://eu.infisical.com", c.base_url)
    end
  end)

  it("returns a config error for a bad base URL or no token at all", function()
    local c, err = infisical.new{ base_url = "ftp://x", token = "t" }
    assert.is_nil(c)
    assert.equal("config", err.kind)
    local out = lua_with_env({}, [[
      local c, err = require("infisical").new{}
      print(c, err.kind, tostring(err))]])
    assert.matches("nil\tconfig\t.*INFISICAL_TOKEN", out)
  end)

  it("defaults to $INFISICAL_API_URL and $INFISICAL_TOKEN, else us.infisical.com", function()
    local out = lua_with_env({ INFISICAL_TOKEN = "envtok", INFISICAL_API_URL = "http://127.0.0.1:9/api" },
      [[print(require("infisical").new().base_url)]])
    assert.equal("http://127.0.0.1:9", out)
    out = lua_with_env({ INFISICAL_TOKEN = "envtok" }, [[print(require("infisical").new().base_url)]])
    assert.equal("https://us.infisical.com", out)
  end)

  it("trims the environment's values and never raises for them (issue 20 §1)", function()
    -- a token, an address and a Universal Auth pair with the CR/LF of `$(cat file)`
    local out = lua_with_env({ INFISICAL_TOKEN = "envtok\r\n", INFISICAL_API_URL = " http://127.0.0.1:9/api/v1\n" },
      [[local c = require("infisical").new(); print(c.base_url, require("infisical.secrets").get(c, "token"))]])
    assert.equal("http://127.0.0.1:9\tenvtok", out)
    out = lua_with_env({ INFISICAL_UNIVERSAL_AUTH_CLIENT_ID = "cid\r\n", INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET = "\tsec\n" },
      [[local c, err = require("infisical").new(); print(c ~= nil, err)]])
    assert.equal("true\tnil", out)
    -- whitespace only is no value; a control character inside is a config error, not a raise
    out = lua_with_env({ INFISICAL_TOKEN = " \r\n" },
      [[local c, err = require("infisical").new(); print(c, err.kind)]])
    assert.equal("nil\tconfig", out)
    out = lua_with_env({ INFISICAL_TOKEN = "env\ntok-secret-part" },
      [[local ok, c, err = pcall(require("infisical").new); print(ok, c, err.kind, tostring(err))]])
    assert.matches("^true\tnil\tconfig\t.*INFISICAL_TOKEN holds a control character", out)
    assert.not_matches("secret%-part", out)
    -- an option given by the program is still a programmer error
    assert.error_matches(function() infisical.new{ token = "a\nb" } end, "'token'")
  end)

  it("takes every wait and timeout in seconds and catches milliseconds (issue 20 §2)", function()
    for _, name in ipairs{ "timeout", "connect_timeout", "low_speed_time", "backoff", "max_backoff", "max_retry_wait" } do
      local ok, msg = pcall(infisical.new, { token = "t", [name] = 3000 })
      assert.is_false(ok, name)
      assert.matches("bad argument '" .. name .. "' (number of seconds", msg, 1, true)
      assert.matches("(seconds, not milliseconds as in lua-resty-http)", msg, 1, true)
      assert(infisical.new{ token = "t", [name] = 999 }, name)
    end
  end)

  it("describes a credential-like value given where an option goes, never echoes it (issue 20 §1)", function()
    local tok = ("eyJhbGciOiJIUzI1NiJ9."):rep(8)
    for _, opts in ipairs{ { token = "t", transport = tok }, { token = "t", timeout = tok },
        { token = "t", retries = tok }, { token = "t", [tok] = 1 } } do
      local ok, msg = pcall(infisical.new, opts)
      assert.is_false(ok)
      assert.not_matches("eyJ", msg)
    end
    local _, msg = pcall(infisical.new, { token = "t", transport = tok })
    assert.matches(("got a %d-byte value"):format(#tok), msg, 1, true)
    _, msg = pcall(infisical.new, { token = "t", transport = "cosockets" })
    assert.matches('got "cosockets"', msg, 1, true)
  end)

  it("raises for unknown or mistyped options, naming them", function()
    assert.error_matches(function() infisical.new{ token = "t", tiemout = 1 } end, "unknown option 'tiemout'")
    assert.error_matches(function() infisical.new{ token = "t", timeout = "1" } end, "'timeout'")
    assert.error_matches(function() infisical.new{ token = "t", retries = -1 } end, "'retries'")
    assert.error_matches(function() infisical.new{ token = "t", verify_tls = 0 } end, "'verify_tls'")
    assert.error_matches(function() infisical.new{ token = "t", max_body = 1.5 } end, "'max_body'")
    assert.error_matches(function() infisical.new("t") end, "'opts'")
  end)

  it("refuses a token with CR or LF without showing it", function()
    local ok, err = pcall(infisical.new, { token = "s3cr3t\r\nX-Injected: 1" })
    assert.is_false(ok)
    assert.matches("'token'", err)
    assert.not_matches("s3cr3t", err)
  end)

  it("keeps the token out of the client table and tostring", function()
    local c = assert(infisical.new{ token = "very-secret-token", base_url = "http://127.0.0.1:9" })
    assert.equal("infisical.Client (http://127.0.0.1:9)", tostring(c))
    H.assert_no_secret(c, "very-secret-token")
    H.assert_no_secret(tostring(c.transport), "very-secret-token")
  end)
end)

describe("client", function()
  local srv
  setup(function() srv = fake.start{ fixture = H.FIXTURE } end)
  teardown(function() srv:stop() end)
  before_each(function() srv:reset(H.state()) end)

  describe("list_tokens", function()
    it("returns one page as native tables", function()
      local c = H.client(srv)
      local page = assert(c:list_tokens(H.ID1, { offset = 2, page_size = 5 }))
      assert.equal(5, #page.tokens)
      local t = page.tokens[1]
      assert.is_string(t.id)
      assert.equal("integer", math.type(t.accessTokenTTL))
      local unknown = 0
      for _, tok in ipairs(assert(c:list_tokens(H.ID1, { page_size = 100 })).tokens) do
        if tok.scopeOrgId then unknown = unknown + 1 end
      end
      assert.equal(1, unknown)   -- a field the API page does not list is kept
      local r = H.api_requests(srv)[1]
      assert.same({ offset = "2", limit = "5" }, r.query)
      assert.equal("/api/v1/auth/token-auth/identities/" .. H.ID1 .. "/tokens", r.path)
    end)

    it("gives JSON null as an absent field", function()
      local page = assert(H.client(srv):list_tokens(H.ID1, { page_size = 100 }))
      local absent = 0
      for _, t in ipairs(page.tokens) do
        if t.accessTokenLastUsedAt == nil then absent = absent + 1 end
        for _, v in pairs(t) do assert.is_not.equal("userdata", type(v)) end
      end
      assert.is_true(absent > 0)
    end)

    it("asks for the client's page_size when no limit is given, as the walks do", function()
      local page = assert(H.client(srv):list_tokens(H.ID1))
      assert.equal(26, #page.tokens)   -- one page of 100 holds them all
      page = assert(H.client(srv, { page_size = 7 }):list_tokens(H.ID1, { offset = 3 }))
      assert.equal(7, #page.tokens)
      local reqs = H.api_requests(srv)
      assert.same({ { offset = "0", limit = "100" }, { offset = "3", limit = "7" } },
        { reqs[1].query, reqs[2].query })
    end)

    it("raises for bad arguments before sending anything", function()
      local c = H.client(srv)
      assert.error_matches(function() c:list_tokens() end, "'identity_id'")
      assert.error_matches(function() c:list_tokens("") end, "'identity_id'")
      assert.error_matches(function() c:list_tokens(H.ID1, { offset = 101 }) end, "'offset'")
      assert.error_matches(function() c:list_tokens(H.ID1, { offset = -1 }) end, "'offset'")
      assert.error_matches(function() c:list_tokens(H.ID1, { offset = 0.5 }) end, "'offset'")
      assert.error_matches(function() c:list_tokens(H.ID1, { page_size = 0 }) end, "'page_size'")
      assert.error_matches(function() c:list_tokens(H.ID1, { page_size = 101 }) end, "'page_size'")
      assert.error_matches(function() c:list_tokens(H.ID1, { page_size = "5" }) end, "'page_size'")
      -- one name per concept (issue 20 §2): the walks' page_size, never the server's `limit`
      assert.error_matches(function() c:list_tokens(H.ID1, { limit = 5 }) end,
        "unknown option 'limit' (use page_size", nil, true)
      assert.error_matches(function() c:list_tokens(H.ID1, { page = 1 }) end, "unknown option 'page'")
      assert.error_matches(function() c.list_tokens(H.ID1) end, "client expected")
      assert.equal(0, #H.api_requests(srv))
    end)

    it("escapes a hostile identity id so it stays one path segment", function()
      local _, err = H.client(srv):list_tokens("../../x?y")
      assert.equal(404, err.status)
      local r = H.api_requests(srv)[1]
      assert.equal("/api/v1/auth/token-auth/identities/%2E%2E%2F%2E%2E%2Fx%3Fy/tokens", r.path)
    end)

    it("raises when the client is closed; close is safe twice", function()
      local c = H.client(srv)
      c:close()
      c:close()
      assert.matches("closed", tostring(c))
      assert.error_matches(function() c:list_tokens(H.ID1) end, "client is closed")
    end)
  end)

  describe("proxies", function()
    it("uses the proxy named by the usual environment variables", function()
      local out = lua_with_env({ http_proxy = srv.url, INFISICAL_TOKEN = H.TOKEN },
        [[local c = require("infisical").new{ base_url = "http://infisical.example.invalid", retries = 0 }
          local p, err = c:list_tokens("x") print(err and err.status)]])
      assert.equal("404", out)
      local seen = false
      for _, q in ipairs(srv:stats().requests) do
        if q.path:find("infisical.example.invalid", 1, true) then seen = true end
      end
      assert.is_true(seen, "the request did not go through the proxy")
    end)

    it("uses the proxy option", function()
      local c = H.client(srv, { base_url = "http://infisical.example.invalid", proxy = srv.url, retries = 0 })
      local _, err = c:list_tokens("x")
      assert.equal(404, err.status)
      local seen = false
      for _, q in ipairs(srv:stats().requests) do
        if q.path:find("infisical.example.invalid", 1, true) then seen = true end
      end
      assert.is_true(seen)
    end)
  end)

  describe("errors", function()
    local function err_of(opts, id)
      local c = H.client(srv, opts)
      local page, err = c:list_tokens(id or H.ID1)
      assert.is_nil(page)
      H.assert_no_secret(err, opts and opts.token or H.TOKEN)
      H.assert_no_secret(tostring(err), opts and opts.token or H.TOKEN)
      return err
    end

    it("reports each documented server error with its fields", function()
      local e = err_of({ token = "fake-revoked-token" })
      assert.same({ "auth", 401, "UnauthorizedError" }, { e.kind, e.status, e.error })
      assert.matches("^req%-", e.req_id)
      assert.matches("the access token was revoked", tostring(e), 1, true)
      e = err_of({ token = "fake-expired-token" })
      assert.same({ "auth", 403, "TokenError", "Your token has expired. Please re-authenticate." },
        { e.kind, e.status, e.error, e.message })
      assert.matches("the access token has expired", tostring(e), 1, true)
      e = err_of({ token = "fake-noperm-token" })
      assert.same({ "permission", 403, "PermissionDenied" }, { e.kind, e.status, e.error })
      assert.is_table(e.details)
      e = err_of(nil, H.ID3)
      assert.same({ 400, "BadRequest", "The identity does not have Token Auth" }, { e.status, e.error, e.message })
      e = err_of(nil, fake.identity_id(77))
      assert.same({ 404, "NotFound" }, { e.status, e.error })
      assert.matches("infisical: http error %(GET .*%): HTTP 404 NotFound: Failed to find identity", tostring(e))
    end)

    it("keeps a validation answer's issues", function()
      srv:faults{ { status = 422, body = { reqId = "req-v", statusCode = 422, error = "ValidationFailure",
        message = { { code = "too_big", maximum = 100, path = { "offset" },
          message = "Number must be less than or equal to 100" } } } } }
      local e = err_of()
      assert.equal("ValidationFailure", e.error)
      assert.equal("offset: Number must be less than or equal to 100", e.message)
      assert.equal("too_big", e.issues[1].code)
    end)

    it("handles the late-2024 server's answers", function()
      srv:reset(H.state(nil, { mode = "legacy" }))
      local page = assert(H.client(srv):list_tokens(H.ID1, { page_size = 3 }))
      assert.is_nil(page.tokens[1].authMethod)
      local e = err_of(nil, "not-a-uuid")
      assert.same({ 500, "FindOne" }, { e.status, e.error })
      assert.is_nil(e.req_id)
    end)

    it("reports a proxy's HTML page briefly, with its status", function()
      srv:faults{ { status = 502, headers = { ["Content-Type"] = "text/html" },
        body = "<html><body>" .. ("Bad Gateway "):rep(300) .. "</body></html>" } }
      local e = err_of({ retries = 0 })
      assert.equal(502, e.status)
      assert.matches("^unexpected text/html response of %d+ bytes$", e.message)
    end)

    it("never shows the token even when the server echoes it", function()
      srv:faults{ { status = 400, body = { error = "Echo", message = "you sent Bearer " .. H.TOKEN,
        details = { header = "Authorization: Bearer " .. H.TOKEN } } } }
      local e = err_of()
      assert.matches("%[REDACTED%]", e.message)
      assert.matches("%[REDACTED%]", e.details.header)
    end)

    it("never shows a piece of the token cut by the 512-byte cap", function()
      local T = H.LONG_SECRETS.token
      for _, k in ipairs{ 8, 9, 40, #T - 1 } do
        srv:faults{ { status = 400, body = { error = "Echo", message = ("m"):rep(512 - k) .. T } } }
        local e = err_of({ token = T, retries = 0 })
        assert.is_true(#e.message <= 515)
        assert.is_nil(H.secret_piece(e.message, T), e.message:sub(-40))
      end
    end)

    it("redacts the token however deep in details the server put it (down to the decoder's limit)", function()
      local T = H.LONG_SECRETS.token
      srv:faults{ { status = 400, body = '{"message":"m","details":' .. ("["):rep(990) .. '"' .. T .. '"'
        .. ("]"):rep(990) .. ',"x":{"' .. T .. '":1}}' } }
      local e = err_of({ token = T, retries = 0 })
      local d = e.details
      for _ = 1, 989 do d = d[1] end
      assert.same({ "[REDACTED]" }, d)
      for _, s in ipairs(H.strings(e)) do assert.is_nil(H.secret_piece(s, T), s) end
    end)

    it("leaves a token shorter than 8 bytes unredacted: replacing it would mangle every word", function()
      srv:faults{ { status = 400, body = { error = "Echo", message = "http://tt.example/t?t=t" } } }
      local _, e = H.client(srv, { token = "t", retries = 0 }):list_tokens(H.ID1)
      assert.equal("http://tt.example/t?t=t", e.message)
      assert.matches("/identities/", e.url, 1, true)
    end)

    it("reports bad JSON with status 200 as kind decode", function()
      srv:faults{ { status = 200, body = "{\"tokens\": [" } }
      local e = err_of()
      assert.equal("decode", e.kind)
      assert.equal(200, e.status)
    end)
  end)

  describe("retries", function()
    local function recording_client(opts)
      local waits = {}
      local o = { sleep = function(s) waits[#waits + 1] = s end }
      for k, v in pairs(opts or {}) do o[k] = v end
      return H.client(srv, o), waits
    end

    it("retries 502, 503 and 504 with growing, capped, jittered backoff", function()
      srv:faults{ { status = 502, body = "" }, { status = 503, body = "" }, { status = 504, body = "" } }
      local c, waits = recording_client{ retries = 3, backoff = 1, max_backoff = 3 }
      assert(c:list_tokens(H.ID1, { page_size = 1 }))
      assert.equal(3, #waits)
      assert.is_true(waits[1] >= 0.5 and waits[1] <= 1)
      assert.is_true(waits[2] >= 1 and waits[2] <= 2)
      assert.is_true(waits[3] >= 1.5 and waits[3] <= 3)
      assert.equal(4, #H.api_requests(srv))
    end)

    it("waits what retry-after says on 429", function()
      srv:reset(H.state(nil, { rate_limit = { limit = 1, window = 60 } }))
      srv:faults{ { status = 429, headers = { ["retry-after"] = "2" },
        body = { statusCode = 429, error = "RateLimitExceeded", message = "Rate limit exceeded. Please try again in 2 seconds" } } }
      local c, waits = recording_client()
      assert(c:list_tokens(H.ID1, { page_size = 1 }))
      assert.same({ 2 }, waits)
    end)

    it("gives up on 429 when retry-after is past max_retry_wait", function()
      srv:reset(H.state(nil, { rate_limit = { limit = 1, window = 600 } }))
      local c, waits = recording_client{ max_retry_wait = 5 }
      assert(c:list_tokens(H.ID1, { page_size = 1 }))
      local page, err = c:list_tokens(H.ID1, { page_size = 1 })
      assert.is_nil(page)
      assert.same({ 429, "RateLimitExceeded" }, { err.status, err.error })
      assert.is_true(err.retry_after > 5)
      assert.same({}, waits)
    end)

    it("retries a dropped connection", function()
      srv:faults{ { close = true } }
      local c, waits = recording_client()
      assert(c:list_tokens(H.ID1, { page_size = 1 }))
      assert.equal(1, #waits)
    end)

    it("never retries other 4xx, and retries = 0 turns retries off", function()
      local c, waits = recording_client()
      assert.is_nil((c:list_tokens(fake.identity_id(55))))
      assert.same({}, waits)
      srv:faults{ { status = 503, body = "" } }
      c, waits = recording_client{ retries = 0 }
      local _, err = c:list_tokens(H.ID1)
      assert.equal(503, err.status)
      assert.same({}, waits)
    end)

    it("returns the last error when retries run out, saying how many attempts", function()
      srv:faults{ { status = 503, body = "", ["repeat"] = 3 } }
      local c, waits = recording_client{ retries = 2 }
      local _, err = c:list_tokens(H.ID1)
      assert.equal(503, err.status)
      assert.equal(3, err.attempts)
      assert.equal(2, #waits)
      assert.matches("%(gave up after 3 attempts in %d+%.%d s%)$", tostring(err))
    end)

    it("with the server down, says how many attempts over how long", function()
      local dead = fake.start{ fixture = H.FIXTURE }
      local url = dead.url
      dead:stop()
      local c = assert(infisical.new{ base_url = url, token = H.TOKEN, retries = 3,
        backoff = 0.2, max_backoff = 0.4 })
      local t0 = core.monotime()
      local _, err = c:list_tokens(H.ID1)
      local took = core.monotime() - t0
      assert.same({ "network", 7, 4 }, { err.kind, err.curl_code, err.attempts })
      assert.is_true(err.elapsed > 0.3 and err.elapsed <= took, tostring(err.elapsed))
      assert.matches(("gave up after 4 attempts in %.1f s"):format(err.elapsed), tostring(err), 1, true)
      -- infisical.is_error tells the library's errors from anything else
      assert.is_true(infisical.is_error(err))
      assert.is_false(infisical.is_error({ kind = "network" }))
      assert.is_false(infisical.is_error("network"))
      -- one attempt says nothing more
      _, err = assert(infisical.new{ base_url = url, token = H.TOKEN, retries = 0 }):list_tokens(H.ID1)
      assert.is_nil(err.attempts)
      assert.is_nil(err.elapsed)
      assert.not_matches("gave up", tostring(err))
    end)
  end)

  describe("walks", function()
    it("collects every token over several pages, in server order, on one connection", function()
      local c = H.client(srv)
      local all = assert(c:all_tokens(H.ID1, { page_size = 7 }))
      assert.equal(26, #all)   -- the fixture's token-auth tokens (current servers list no others)
      local one = assert(c:list_tokens(H.ID1, { page_size = 100 })).tokens
      assert.same(H.ids(one), H.ids(all))
      local reqs = H.api_requests(srv)
      assert.equal(4 + 1, #reqs)   -- 3 full pages of 7, 1 short page, then the check
      assert.equal(1, srv:stats().connections)
    end)

    it("each_token yields the same tokens as all_tokens", function()
      local c = H.client(srv)
      local seen = {}
      for t in c:each_token(H.ID1, { page_size = 4 }) do seen[#seen + 1] = t.id end
      assert.same(H.ids(assert(c:all_tokens(H.ID1))), seen)
    end)

    local function identity(n)
      srv:reset(H.state{ [H.ID1] = { token_auth = true, tokens = H.records(H.ID1, n) } })
    end

    it("ends on a short page and never asks past offset 100", function()
      identity(150)
      local c = H.client(srv)
      assert.equal(150, #assert(c:all_tokens(H.ID1, { page_size = 30 })))
      for _, r in ipairs(H.api_requests(srv)) do
        assert.is_true(tonumber(r.query.offset) <= 100)
        assert.is_true(tonumber(r.query.limit) <= 100)
      end
    end)

    it("reports the 200-token wall as kind truncated with the tokens it got", function()
      identity(200)
      local c = H.client(srv)
      local tokens, err = c:all_tokens(H.ID1)
      assert.is_nil(tokens)
      assert.equal("truncated", err.kind)
      assert.equal(200, #err.tokens)
      assert.matches("200", tostring(err))
      identity(250)
      tokens, err = c:all_tokens(H.ID1, { page_size = 30 })
      assert.is_nil(tokens)
      assert.equal(200, #err.tokens)
    end)

    it("returns the tokens and the truncated error with partial = true", function()
      identity(250)
      local tokens, err = H.client(srv):all_tokens(H.ID1, { partial = true })
      assert.equal(200, #tokens)
      assert.equal("truncated", err.kind)
    end)

    it("each_token raises truncated after yielding what it could", function()
      identity(201)
      local n = 0
      local ok, err = pcall(function()
        for _ in H.client(srv):each_token(H.ID1) do n = n + 1 end
      end)
      assert.is_false(ok)
      assert.equal("truncated", err.kind)
      assert.equal(200, n)
      n = 0
      for _ in H.client(srv):each_token(H.ID1, { partial = true }) do n = n + 1 end
      assert.equal(200, n)
    end)

    it("each_token with partial = true says the listing was cut: its second value (issue 20 §2)", function()
      identity(201)
      local iter, listing = H.client(srv):each_token(H.ID1, { partial = true })
      assert.same({ truncated = false }, listing)
      local n = 0
      for _ in iter, listing do n = n + 1 end
      assert.equal(200, n)
      assert.is_true(listing.truncated)
      assert.equal("truncated", listing.err.kind)
      -- "200 or more": the wall is reached with exactly 200 too, and cannot tell them apart
      assert.matches("has 200 or more tokens", tostring(listing.err), 1, true)
      identity(150)
      iter, listing = H.client(srv):each_token(H.ID1, { partial = true })
      n = 0
      for _ in iter, listing do n = n + 1 end
      assert.equal(150, n)
      assert.same({ truncated = false }, listing)
    end)

    it("never yields a token twice when rows shift between pages", function()
      identity(120)
      srv:reset(H.state({ [H.ID1] = { token_auth = true, tokens = H.records(H.ID1, 120) } }, { churn = true }))
      local tokens = assert(H.client(srv):all_tokens(H.ID1, { page_size = 10 }))
      local seen = {}
      for _, t in ipairs(tokens) do
        assert.is_nil(seen[t.id])
        seen[t.id] = true
      end
      assert.is_true(#tokens >= 100)
    end)

    it("raises a mid-walk failure from each_token instead of ending", function()
      srv:faults{ { then_normal = true }, { status = 500, body = { error = "InternalServerError",
        message = "Something went wrong", statusCode = 500 } } }
      local n = 0
      local ok, err = pcall(function()
        for _ in H.client(srv, { retries = 0 }):each_token(H.ID1, { page_size = 10 }) do n = n + 1 end
      end)
      assert.is_false(ok)
      assert.equal(10, n)
      assert.equal(500, err.status)
      assert.is_true(require("infisical.core").is_error(err))
    end)

    it("all_tokens returns nil and the error, with the tokens got so far", function()
      srv:faults{ { then_normal = true }, { status = 404, body = { error = "NotFound", message = "gone" } } }
      local tokens, err = H.client(srv):all_tokens(H.ID1, { page_size = 10 })
      assert.is_nil(tokens)
      assert.equal(404, err.status)
      assert.equal(10, #err.tokens)
    end)

    it("two walks interleaved in coroutines stay independent", function()
      local c = H.client(srv)
      local a = coroutine.wrap(function() for t in c:each_token(H.ID1, { page_size = 3 }) do coroutine.yield(t.id) end end)
      local b = coroutine.wrap(function() for t in c:each_token(H.ID1, { page_size = 5 }) do coroutine.yield(t.id) end end)
      local ia, ib = {}, {}
      for _ = 1, 26 do ia[#ia + 1] = a(); ib[#ib + 1] = b() end
      assert.same(ia, ib)
      assert.same(H.ids(assert(c:all_tokens(H.ID1))), ia)
    end)

    it("raises for bad walk options before sending anything", function()
      local c = H.client(srv)
      assert.error_matches(function() c:all_tokens(H.ID1, { page_size = 0 }) end, "'page_size'")
      assert.error_matches(function() c:each_token(H.ID1, { page_size = 101 }) end, "'page_size'")
      assert.error_matches(function() c:all_tokens(H.ID1, { revoked = 1 }) end, "'revoked'")
      assert.error_matches(function() c:all_tokens(H.ID1, { auth_method = {} }) end, "'auth_method'")
      assert.error_matches(function() c:all_tokens(H.ID1, { where = true }) end, "'where'")
      assert.error_matches(function() c:all_tokens(H.ID1, { offset = 1 }) end, "unknown option 'offset'")
      assert.error_matches(function() c:each_token(nil) end, "'identity_id'")
      assert.equal(0, #H.api_requests(srv))
    end)
  end)

  describe("filters", function()
    it("filters by revocation", function()
      local c = H.client(srv)
      local all = assert(c:all_tokens(H.ID1))
      local revoked = assert(c:all_tokens(H.ID1, { revoked = true }))
      local live = assert(c:all_tokens(H.ID1, { revoked = false }))
      assert.is_true(#revoked > 0 and #live > 0)
      assert.equal(#all, #revoked + #live)
      for _, t in ipairs(revoked) do assert.is_true(t.isAccessTokenRevoked) end
      for _, t in ipairs(live) do assert.is_false(t.isAccessTokenRevoked) end
    end)

    it("filters by auth method, a string or a list", function()
      srv:reset(H.state(nil, { all_auth_methods = true }))
      local c = H.client(srv)
      local all = assert(c:all_tokens(H.ID1))
      local ta = assert(c:all_tokens(H.ID1, { auth_method = "token-auth" }))
      local ua = assert(c:all_tokens(H.ID1, { auth_method = { "universal-auth" } }))
      local both = assert(c:all_tokens(H.ID1, { auth_method = { "universal-auth", "token-auth" } }))
      assert.is_true(#ua > 0)
      assert.equal(#all, #ta + #ua)
      assert.equal(#all, #both)
      for _, t in ipairs(ua) do assert.equal("universal-auth", t.authMethod) end
    end)

    it("counts a token without authMethod (late-2024 servers) as token-auth", function()
      srv:reset(H.state(nil, { mode = "legacy" }))
      local c = H.client(srv)
      local all = assert(c:all_tokens(H.ID1))
      assert.equal(#all, #assert(c:all_tokens(H.ID1, { auth_method = "token-auth" })))
      assert.equal(0, #assert(c:all_tokens(H.ID1, { auth_method = "universal-auth" })))
    end)

    it("applies a where predicate together with the other filters", function()
      local c = H.client(srv)
      local got = assert(c:all_tokens(H.ID1, { revoked = false,
        where = function(t) return t.accessTokenLastUsedAt == nil end }))
      assert.is_true(#got > 0)
      for _, t in ipairs(got) do
        assert.is_false(t.isAccessTokenRevoked)
        assert.is_nil(t.accessTokenLastUsedAt)
      end
    end)
  end)
end)

describe("the public surface", function()
  -- What docs/api.md documents (and `defaults`, which examples/openresty reads), nothing
  -- else: internal modules reach each other's internals through `require`.
  local function keys(t)
    local out = {}
    for k in pairs(t) do out[#out + 1] = tostring(k) end
    table.sort(out)
    return out
  end

  it("require 'infisical' exposes only documented names", function()
    assert.same({ "_VERSION", "auth_methods", "client_secret_expires_at", "client_secret_status",
      "defaults", "expires_at", "is_error", "new", "parse_time", "token_status", "uses_token_auth" },
      keys(infisical))
  end)

  it("a client exposes only its documented methods and plain fields", function()
    for _, opts in ipairs{ { token = "t" }, { client_id = "id", client_secret = "s" } } do
      opts.base_url = "http://127.0.0.1:9"
      local c = assert(infisical.new(opts))
      local mt = getmetatable(c)
      assert.same({ "__close", "__index", "__name", "__tostring" }, keys(mt))
      assert.same({ "all_tokens", "close", "each_identity", "each_token", "get_token", "info",
        "list_client_secrets", "list_identities", "list_many", "list_many_client_secrets", "list_tokens",
        "revoke_client_secret", "revoke_token", "server_info", "stream_many",
        "stream_many_client_secrets" }, keys(mt.__index))
      assert.same({ "base_url", "clock", "opts", "sleep", "transport" }, keys(c))
      c:close()
    end
  end)
end)

describe("infisical.attempt (what an attempt's outcome means, for every driver)", function()
  local attempt = require "infisical.attempt"
  local base = "http://127.0.0.1:9"
  local function net() return core.error{ kind = "network", message = "connection reset", curl_code = 56 } end

  it("done, wait then repeat, and give up with attempts and elapsed", function()
    local c = assert(infisical.new{ base_url = base, token = "t", retries = 2, backoff = 0 })
    local a = attempt.new(c, "GET")
    a:sending(nil)
    assert.same({ "done", 42 }, { a:outcome(200, "{}", {}, function() return 42 end, base) })
    for _ = 1, 2 do
      local action, wait = a:outcome(nil, net())
      assert.equal("wait", action)
      assert.equal(0, wait)
    end
    local action, err = a:outcome(nil, net())
    assert.equal("fail", action)
    assert.equal(3, err.attempts)
    assert.is_number(err.elapsed)
    assert.matches("gave up after 3 attempts", err.message)
    c:close()
  end)

  it("log in again once for a refused token, only for a client that logs in by itself", function()
    local refused = function() return core.error{ kind = "auth", status = 401, message = "no" } end
    local ua = assert(infisical.new{ base_url = base, client_id = "id", client_secret = "s", retries = 0 })
    local a = attempt.new(ua, "GET")
    assert.equal("login", (a:outcome(nil, refused())))
    assert.equal("fail", (a:outcome(nil, refused())))
    assert.equal("fail", (attempt.new(ua, "POST", { relogin = false }):outcome(nil, refused())))
    local plain = assert(infisical.new{ base_url = base, token = "t", retries = 0 })
    assert.equal("fail", (attempt.new(plain, "GET"):outcome(nil, refused())))
  end)

  it("a revocation's 'already revoked' after an attempt that may have been carried out is done", function()
    local c = assert(infisical.new{ base_url = base, token = "t", retries = 1, backoff = 0 })
    local gone = function()
      return core.error{ kind = "http", status = 404, message = "Token has already been revoked" }
    end
    local a = attempt.new(c, "POST", { revoke = true })
    a:sending(nil)
    assert.equal("wait", (a:outcome(nil, core.error{ kind = "http", status = 502, message = "bad gateway" })))
    assert.same({ "done", true, "already_revoked_on_retry" }, { a:outcome(nil, gone()) })
    local action, err = attempt.new(c, "POST", { revoke = true }):outcome(nil, gone())
    assert.equal("fail", action)
    assert.equal("already_revoked", err.kind)
  end)

  it("redacts the client's secrets from every failure it judges", function()
    local secret = "s3cr3t-token-of-many-bytes"
    local c = assert(infisical.new{ base_url = base, token = secret, retries = 0 })
    local _, err = attempt.new(c, "GET"):outcome(nil,
      core.error{ kind = "http", status = 400, message = "bad token " .. secret })
    assert.is_nil(err.message:find(secret, 1, true))
    assert.matches("[REDACTED]", err.message, 1, true)
  end)
end)
