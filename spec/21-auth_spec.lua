-- Universal Auth (login on first use, before expiry, after a refused token; the secret
-- never leaks) and revoke_token, against the fake server.
local H = require "spec.helpers"
local fake = H.fake
local infisical = require "infisical"

local CID, CSECRET, UA_TOKEN = "fake-client-id", "fake-client-secret", "fake-ua-token"
local LOGIN = "/api/v1/auth/universal-auth/login"

describe("Universal Auth", function()
  local srv

  setup(function() srv = fake.start{ fixture = H.FIXTURE } end)
  teardown(function() srv:stop() end)
  before_each(function() srv:reset_fixture(H.FIXTURE) end)

  local function ua_client(opts)
    local o = { base_url = srv.url, client_id = CID, client_secret = CSECRET, backoff = 0.01,
      max_backoff = 0.02 }
    for k, v in pairs(opts or {}) do o[k] = v end
    return assert(infisical.new(o))
  end

  local function calls()
    local out = {}
    for i, r in ipairs(H.api_requests(srv)) do
      out[i] = r.method .. " " .. (r.path == LOGIN and "login" or "list") .. " " .. string.format("%d", r.status or 0)
    end
    return out
  end

  local function with_ua_state(changes)
    local s = H.state()
    for k, v in pairs(changes) do s.universal_auth[CID][k] = v end
    return s
  end

  it("logs in on first use, not before, and sends the token it got", function()
    local c = ua_client()
    assert.same({}, calls())
    assert.equal(26, #assert(c:all_tokens(H.ID1)))   -- token-auth tokens of the fixture
    local reqs = H.api_requests(srv)
    assert.same({ "POST login 200", "GET list 200" }, calls())
    assert.same({ clientId = CID, clientSecret = "<sha256 " .. reqs[1].body.clientSecret:match("<sha256 (%x+)>") .. ">" },
      reqs[1].body)
    assert.equal("application/json", reqs[1].headers["content-type"])
    local expect = fake.run("printf %s " .. UA_TOKEN .. " | sha256sum"):sub(1, 8)
    assert.equal("Bearer " .. expect, reqs[2].headers.authorization)
    -- one login serves the next calls
    assert(c:list_tokens(H.ID1))
    assert.same({ "POST login 200", "GET list 200", "GET list 200" }, calls())
  end)

  it("client:info()'s new_connections counts the call's login (issue 20 §3)", function()
    local c = ua_client()
    assert(c:list_tokens(H.ID1))   -- the login opened the connection; the listing reused it
    assert.same({ "POST login 200", "GET list 200" }, calls())
    assert.equal(1, c:info().new_connections)
    assert(c:list_tokens(H.ID1))
    assert.equal(0, c:info().new_connections)
    -- a plain-token client counts alike
    local t = assert(infisical.new{ base_url = srv.url, token = H.TOKEN })
    assert(t:list_tokens(H.ID1))
    assert.equal(1, t:info().new_connections)
    -- a retry on a new connection is the call's too: the server drops the first one
    srv:faults{ { close = true } }
    local r = assert(infisical.new{ base_url = srv.url, token = H.TOKEN, backoff = 0.01 })
    assert(r:list_tokens(H.ID1))
    assert.equal(2, r:info().new_connections)
  end)

  it("logs in again shortly before expiresIn runs out (a tenth of it, at most a minute)", function()
    srv:reset(with_ua_state{ expires_in = 100 })
    local now = 1000
    local c = ua_client{ clock = function() return now end }
    assert(c:list_tokens(H.ID1))
    now = 1089                         -- 11 s left: still fine
    assert(c:list_tokens(H.ID1))
    assert.equal(1, #(function() local n = {} for _, x in ipairs(calls()) do if x:find("login") then n[#n + 1] = x end end return n end)())
    now = 1090                         -- 10 s left: log in first
    assert(c:list_tokens(H.ID1))
    assert.same({ "POST login 200", "GET list 200", "GET list 200", "POST login 200", "GET list 200" }, calls())
    -- a long-lived token: one minute of margin
    srv:reset(with_ua_state{ expires_in = 7200 })
    now = 0
    c = ua_client{ clock = function() return now end }
    assert(c:list_tokens(H.ID1))
    now = 7139; assert(c:list_tokens(H.ID1))
    now = 7140; assert(c:list_tokens(H.ID1))
    assert.same({ "POST login 200", "GET list 200", "GET list 200", "POST login 200", "GET list 200" }, calls())
  end)

  it("expiresIn 0 never expires by time", function()
    srv:reset(with_ua_state{ expires_in = 0 })
    local now = 0
    local c = ua_client{ clock = function() return now end }
    assert(c:list_tokens(H.ID1))
    now = 1e9
    assert(c:list_tokens(H.ID1))
    assert.same({ "POST login 200", "GET list 200", "GET list 200" }, calls())
  end)

  for _, case in ipairs{ { "revoked", "401" }, { "expired", "403" } } do
    it("logs in again once when the server refuses the token (" .. case[1] .. ": " .. case[2] .. ")", function()
      local c = ua_client()
      assert(c:list_tokens(H.ID1))
      local s = H.state()
      s.access_tokens[UA_TOKEN] = { state = case[1] }
      srv:reset(s)
      local page = assert(c:list_tokens(H.ID1))
      assert.equal(26, #page.tokens)   -- one page of page_size (100)
      assert.same({ "GET list " .. case[2], "POST login 200", "GET list 200" }, calls())
    end)
  end

  it("a login carries no bearer, so a refused token is recovered from with one login", function()
    local c = ua_client()
    assert(c:list_tokens(H.ID1))
    srv:token{ client_id = CID, state = "revoked" }
    assert(c:list_tokens(H.ID1))
    assert(c:list_tokens(H.ID1))
    assert.same({ "POST login 200", "GET list 200", "GET list 401", "POST login 200", "GET list 200",
      "GET list 200" }, calls())
    for _, r in ipairs(H.api_requests(srv)) do
      if r.path == LOGIN then assert.is_nil(r.headers.authorization) end
    end
  end)

  it("a refused re-login shows neither the old token nor the secret", function()
    local c = ua_client()
    assert(c:list_tokens(H.ID1))
    srv:token{ client_id = CID, state = "deleted" }
    srv:faults{ { match = "login", status = 401, body = { statusCode = 401, error = "UnauthorizedError",
      message = "Invalid credentials for " .. CSECRET .. " with Bearer " .. UA_TOKEN } } }
    local page, err = c:list_tokens(H.ID1)
    assert.is_nil(page)
    assert.same({ "auth", 401, true }, { err.kind, err.status, err.login })
    assert.matches("[REDACTED]", err.message, 1, true)
    for _, s in ipairs(H.strings(err)) do
      assert.is_nil(s:find(CSECRET, 1, true), s)
      assert.is_nil(s:find(UA_TOKEN, 1, true), s)
    end
    assert.same({ "POST login 200", "GET list 200", "GET list 401", "POST login 401" }, calls())
  end)

  it("a second refusal is the answer: no loop", function()
    local c = ua_client()
    assert(c:list_tokens(H.ID1))
    srv:reset_fixture(H.FIXTURE)
    srv:faults{ { match = "/tokens", status = 401, ["repeat"] = 5,
      body = { statusCode = 401, error = "UnauthorizedError", message = "No identity access token found" } } }
    local page, err = c:list_tokens(H.ID1)
    assert.is_nil(page)
    assert.equal(401, err.status)
    assert.same({ "GET list 401", "POST login 200", "GET list 401" }, calls())
  end)

  it("a client with a plain token never logs in, even after a 401", function()
    local c = H.client(srv, { token = "fake-revoked-token" })
    local _, err = c:list_tokens(H.ID1)
    assert.equal(401, err.status)
    assert.same({ "GET list 401" }, calls())
  end)

  it("bad credentials: nil and an error saying what to check, no retries", function()
    local c = ua_client{ client_secret = "wrong" }
    local page, err = c:list_tokens(H.ID1)
    assert.is_nil(page)
    assert.equal("auth", err.kind)
    assert.equal(401, err.status)
    assert.equal("Invalid credentials", err.message)   -- the server's, as sent
    assert.is_true(err.login)
    assert.matches("; Universal Auth credentials refused: check the client id and secret", tostring(err), 1, true)
    assert.same({ "POST login 401" }, calls())
  end)

  it("a refused login says which credential to check (kind auth), never the secret", function()
    for _, c in ipairs{
      { 404, "NotFound", "No identity with specified client ID was found", "no identity has this Universal Auth client id" },
      { 401, "UnauthorizedError", "Access denied due to expired client secret", "client secret has expired" },
      { 401, "UnauthorizedError", "Access denied due to client secret usage limit reached", "client secret is used up" },
      { 401, "UnauthorizedError", "Invalid credentials " .. CSECRET, "check the client id and secret" },
    } do
      srv:reset_fixture(H.FIXTURE)
      srv:faults{ { match = "login", status = c[1], body = { statusCode = c[1], error = c[2], message = c[3] } } }
      local _, err = ua_client():list_tokens(H.ID1)
      assert.same({ "auth", c[1], c[2], true }, { err.kind, err.status, err.error, err.login })
      assert.matches(c[4], err.hint, 1, true)
      assert.equal("; " .. err.hint, tostring(err):sub(-#err.hint - 2))
      for _, s in ipairs(H.strings(err)) do assert.is_nil(s:find(CSECRET, 1, true), s) end
      assert.same({ "POST login " .. c[1] }, calls())   -- not retried
    end
  end)

  it("login failures that are retryable are retried", function()
    srv:faults{ { match = "login", status = 503, body = "busy" } }
    local c = ua_client()
    assert(c:list_tokens(H.ID1))
    assert.same({ "POST login 503", "POST login 200", "GET list 200" }, calls())
  end)

  it("a login answer without a token is a decode error", function()
    srv:faults{ { match = "login", status = 200, body = { expiresIn = 10 } } }
    local _, err = ua_client():list_tokens(H.ID1)
    assert.equal("decode", err.kind)
    assert.matches("accessToken", err.message)
  end)

  it("never shows the client secret or the token: client, tostring, errors", function()
    srv:faults{ { match = "login", status = 400,
      body = { statusCode = 400, error = "BadRequest", message = "echo " .. CSECRET .. " " .. CID } } }
    local c = ua_client()
    local _, err = c:list_tokens(H.ID1)
    assert.equal(400, err.status)
    assert.matches("[REDACTED]", err.message, 1, true)
    for _, s in ipairs(H.strings(err)) do assert.is_nil(s:find(CSECRET, 1, true)) end
    -- after a good login the token is redacted from errors too
    srv:faults{ { match = "/tokens", status = 404,
      body = { statusCode = 404, error = "NotFound", message = "echo " .. UA_TOKEN .. " " .. CSECRET } } }
    _, err = c:list_tokens(H.ID1)
    assert.equal(404, err.status)
    for _, s in ipairs(H.strings(err)) do
      assert.is_nil(s:find(CSECRET, 1, true))
      assert.is_nil(s:find(UA_TOKEN, 1, true))
    end
    for _, s in ipairs(H.strings(c)) do
      assert.is_nil(s:find(CSECRET, 1, true), s)
      assert.is_nil(s:find(UA_TOKEN, 1, true), s)
    end
    assert.is_nil(tostring(c):find(CSECRET, 1, true))
    assert.is_nil(c.opts.client_secret)
  end)

  it("http.ensure_token logs in for requests sent outside http.request", function()
    local ensure_token = require("infisical.http").ensure_token
    local c = ua_client()
    assert.is_true(ensure_token(c))
    assert.same({ "POST login 200" }, calls())
    assert.is_true(ensure_token(c))
    assert.same({ "POST login 200" }, calls())
    -- plain-token clients: nothing to do
    assert.is_true(ensure_token(H.client(srv)))
  end)

  it("reads INFISICAL_UNIVERSAL_AUTH_CLIENT_ID/SECRET when no token is given", function()
    local script = ([[
      package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
      package.cpath = "build/lua5.4/?.so;" .. package.cpath
      local c = assert(require("infisical").new{ base_url = %q })
      local page = assert(c:list_tokens(%q))
      io.write(#page.tokens)
    ]]):format(srv.url, H.ID1)
    local f = os.tmpname()
    local fh = assert(io.open(f, "w")); fh:write(script); fh:close()
    local out = fake.run("env -u INFISICAL_TOKEN INFISICAL_UNIVERSAL_AUTH_CLIENT_ID=" .. CID
      .. " INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET=" .. CSECRET .. " lua5.4 " .. f .. " 2>&1")
    assert.equal("26", out)
    assert.same({ "POST login 200", "GET list 200" }, calls())
    -- INFISICAL_TOKEN wins over the pair
    srv:reset_fixture(H.FIXTURE)
    out = fake.run("INFISICAL_TOKEN=fake-valid-token INFISICAL_UNIVERSAL_AUTH_CLIENT_ID=" .. CID
      .. " INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET=" .. CSECRET .. " lua5.4 " .. f .. " 2>&1")
    assert.equal("26", out)
    assert.same({ "GET list 200" }, calls())
    os.remove(f)
  end)

  it("says what to set when credentials are missing or half given", function()
    local c, err = infisical.new{ base_url = srv.url, client_id = CID }
    if os.getenv("INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET") == nil then
      assert.is_nil(c)
      assert.equal("config", err.kind)
      assert.matches("INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET", err.message)
    end
    assert.error_matches(function()
      infisical.new{ base_url = srv.url, token = "t", client_id = CID, client_secret = CSECRET }
    end, "not both")
    assert.error_matches(function() infisical.new{ client_id = 1 } end, "bad argument 'client_id'")
  end)
end)

describe("revoke_token", function()
  local srv
  local TID = "b0000000-0000-4000-8000-000000000001"

  setup(function() srv = fake.start{ fixture = H.FIXTURE } end)
  teardown(function() srv:stop() end)
  before_each(function() srv:reset_fixture(H.FIXTURE) end)

  local function record(id)
    for _, t in ipairs(srv:state().identities[H.ID1].tokens) do
      if t.id == id then return t end
    end
  end

  it("revokes on the server and returns true", function()
    local c = H.client(srv)
    assert.is_false(record(TID).isAccessTokenRevoked)
    assert.is_true(c:revoke_token(TID))
    assert.is_true(record(TID).isAccessTokenRevoked)
    local reqs = H.api_requests(srv)
    assert.equal("POST", reqs[1].method)
    assert.equal("/api/v1/auth/token-auth/tokens/" .. TID .. "/revoke", reqs[1].path)
  end)

  it("a second revoke is kind 'already_revoked', distinct from other errors", function()
    local c = H.client(srv)
    assert.is_true(c:revoke_token(TID))
    local ok, err = c:revoke_token(TID)
    assert.is_nil(ok)
    assert.equal("already_revoked", err.kind)
    assert.equal(404, err.status)
    assert.matches("already revoked", tostring(err))
    -- other failures keep their kind
    local _, err2 = H.client(srv, { token = "fake-noperm-token" }):revoke_token("b0000000-0000-4000-8000-000000000002")
    assert.equal("permission", err2.kind)
    assert.equal(403, err2.status)
  end)

  it("a 404 on a retry after a lost answer is success: the lost attempt revoked it", function()
    for _, f in ipairs{ { status = 502, body = "" }, { status = 504, body = "" }, { close = true } } do
      srv:reset_fixture(H.FIXTURE)
      f.match, f.carry_out = "/revoke", true
      srv:faults{ f }
      local ok, note = H.client(srv):revoke_token(TID)
      assert.is_true(ok)
      assert.equal("already_revoked_on_retry", note)
      assert.is_true(record(TID).isAccessTokenRevoked)
      assert.equal(2, #H.api_requests(srv))
    end
    -- a 429 was refused before the handler ran: the 404 after it is an earlier revoke's
    srv:reset_fixture(H.FIXTURE)
    local c = H.client(srv)
    assert.is_true(c:revoke_token(TID))
    srv:faults{ { match = "/revoke", status = 429, headers = { ["retry-after"] = "0" },
      body = { statusCode = 429, error = "RateLimitExceeded", message = "Please try again in 0 seconds" } } }
    local ok, err = c:revoke_token(TID)
    assert.is_nil(ok)
    assert.same({ "already_revoked", 404, 2 }, { err.kind, err.status, err.attempts })
    -- so is a connection that was never made (nothing was sent)
    local dead = fake.start{ fixture = H.FIXTURE }
    local url = dead.url
    dead:stop()
    ok, err = assert(infisical.new{ base_url = url, token = H.TOKEN, retries = 1, backoff = 0.01 })
      :revoke_token(TID)
    assert.is_nil(ok)
    assert.same({ "network", 7 }, { err.kind, err.curl_code })
    assert.is_false(require("infisical.retry").maybe_carried_out(err))
  end)

  it("escapes the id into one path segment", function()
    local c = H.client(srv)
    local _, err = c:revoke_token("a/b?c")
    assert.equal("already_revoked", err.kind)   -- the fake server: no such token
    assert.equal("/api/v1/auth/token-auth/tokens/a%2Fb%3Fc/revoke", H.api_requests(srv)[1].path)
  end)

  it("raises on a bad id, naming the argument", function()
    local c = H.client(srv)
    assert.error_matches(function() c:revoke_token(nil) end, "bad argument 'token_id'")
    assert.error_matches(function() c:revoke_token("") end, "bad argument 'token_id'")
    assert.equal(0, #H.api_requests(srv))
  end)

  it("works with Universal Auth too", function()
    local c = assert(infisical.new{ base_url = srv.url, client_id = CID, client_secret = CSECRET })
    assert.is_true(c:revoke_token(TID))
    assert.is_true(record(TID).isAccessTokenRevoked)
  end)
end)
