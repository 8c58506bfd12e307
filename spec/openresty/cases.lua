--- Client behaviour cases that must come out the same on every transport. Each case's
-- `run(infisical, ctx)` uses only the public API and returns plain data (errors made
-- into tables by `summary`), so it can run in the busted process (libcurl) and inside
-- nginx, in a request handler (cosockets, or libcurl when forced), whose JSON answer
-- 30-openresty_spec.lua then checks with the same `check`.
--
-- ctx: { base = fake server URL, transport = "curl" | "cosocket" | nil }.
-- `setup(srv)` (busted side) prepares the fake server; `check(res, srv, where)` asserts.

local M = {}

-- luassert on the busted side only (checks); inside nginx `assert` is Lua's own.
local lua_assert = assert
local assert = setmetatable({}, {
  __index = function(_, k) return require("luassert")[k] end,
  __call = function(_, ...) return lua_assert(...) end,
})

M.TOKEN = "fake-valid-token"
M.ID1 = "a0000000-0000-4000-8000-000000000001"   -- 30 records, 26 token-auth, 21 not revoked
M.ID2 = "a0000000-0000-4000-8000-000000000002"   -- 250 generated: past the 200-token wall
M.ID3 = "a0000000-0000-4000-8000-000000000003"   -- no Token Auth

--- An error object as plain data (what JSON can carry).
function M.summary(err)
  if err == nil then return nil end
  if type(err) ~= "table" then return { raised = tostring(err) } end
  return { kind = err.kind, status = err.status, error = err.error, message = err.message,
    retry_after = err.retry_after, attempts = err.attempts, text = tostring(err),
    ntokens = err.tokens and #err.tokens or nil }
end

local function client(infisical, ctx, opts)
  local o = { base_url = ctx.base, token = ctx.token or M.TOKEN, transport = ctx.transport,
    backoff = 0.01, max_backoff = 0.05, timeout = 10, verify_tls = ctx.verify_tls }
  for k, v in pairs(opts or {}) do o[k] = v end
  return assert(infisical.new(o))
end

local function ids(tokens)
  local t = {}
  for i, tok in ipairs(tokens or {}) do t[i] = tok.id end
  return t
end

M.list = {}
local function case(name, c)
  c.name = name
  M.list[#M.list + 1] = c
  M[name] = c
end

case("one_page", {
  auto = true,
  run = function(infisical, ctx)
    local page, err = client(infisical, ctx):list_tokens(M.ID1, { page_size = 5 })
    if not page then return { err = M.summary(err) } end
    local t = page.tokens[1]
    return { n = #page.tokens, id = t.id, uses = t.accessTokenNumUses, uses_type = type(t.accessTokenNumUses),
      renewed_is_nil = t.accessTokenLastRenewedAt == nil, revoked = t.isAccessTokenRevoked,
      unknown_kept = t.scopeOrgId }
  end,
  check = function(res)
    assert.same({ n = 5, id = "b0000000-0000-4000-8000-000000000001", uses = 3, uses_type = "number",
      renewed_is_nil = true, revoked = false, unknown_kept = "d0000000-0000-4000-8000-000000000001" }, res)
  end,
})

case("transport_used", {
  auto = true,
  run = function(infisical, ctx)
    local c = client(infisical, ctx)
    local page, err = c:list_tokens(M.ID1, { page_size = 1 })
    local info = c:info()
    return { n = page and #page.tokens, err = M.summary(err), transport = info.transport,
      new_connections = info.new_connections }
  end,
  check = function(res, _, where, transport)
    assert.equal(1, res.n)
    -- the curl transport's info has no name; the picker adds it
    local want = (where == "nginx" and transport ~= "curl") and "cosocket"
      or (transport == "auto" and "curl" or nil)
    assert.equal(want, res.transport)
    assert.is_number(res.new_connections)
  end,
})

case("each_token_pages", {
  run = function(infisical, ctx)
    local out = {}
    for tok in client(infisical, ctx):each_token(M.ID1, { page_size = 7 }) do out[#out + 1] = tok.id end
    return { ids = out }
  end,
  check = function(res, srv)
    assert.equal(26, #res.ids)
    local seen = {}
    for _, id in ipairs(res.ids) do assert.is_nil(seen[id]); seen[id] = true end
    assert.equal(4, #require("spec.helpers").api_requests(srv))   -- 7+7+7+5
  end,
})

case("filters", {
  run = function(infisical, ctx)
    local tokens, err = client(infisical, ctx):all_tokens(M.ID1, { revoked = false })
    return { ids = ids(tokens), err = M.summary(err) }
  end,
  check = function(res)
    assert.is_nil(res.err)
    assert.equal(21, #res.ids)
  end,
})

case("wall", {
  run = function(infisical, ctx)
    local c = client(infisical, ctx)
    local none, err = c:all_tokens(M.ID2)
    local some, perr = c:all_tokens(M.ID2, { partial = true })
    return { none = none == nil, err = M.summary(err), n = some and #some, perr = M.summary(perr) }
  end,
  check = function(res)
    assert.is_true(res.none)
    assert.equal("truncated", res.err.kind)
    assert.equal(200, res.err.ntokens)
    assert.equal(200, res.n)
    assert.equal("truncated", res.perr.kind)
  end,
})

case("http_errors", {
  auto = true,
  run = function(infisical, ctx)
    local out = {}
    local _, e1 = client(infisical, ctx):list_tokens("a0000000-0000-4000-8000-000000000777")
    local _, e2 = client(infisical, ctx, { token = "fake-expired-token" }):list_tokens(M.ID1)
    local _, e3 = client(infisical, ctx, { token = "fake-revoked-token" }):list_tokens(M.ID1)
    local _, e4 = client(infisical, ctx):list_tokens(M.ID3)
    out.notfound, out.expired, out.revoked, out.notokenauth = M.summary(e1), M.summary(e2),
      M.summary(e3), M.summary(e4)
    return out
  end,
  check = function(res)
    assert.same({ "http", 404, "NotFound" }, { res.notfound.kind, res.notfound.status, res.notfound.error })
    assert.same({ "auth", 403, "TokenError" }, { res.expired.kind, res.expired.status, res.expired.error })
    assert.same({ "auth", 401, "UnauthorizedError" }, { res.revoked.kind, res.revoked.status, res.revoked.error })
    assert.matches("; the access token was revoked", res.revoked.text, 1, true)
    assert.same({ "http", 400, "BadRequest" }, { res.notokenauth.kind, res.notokenauth.status, res.notokenauth.error })
    assert.matches("^infisical: http error %(GET http://127%.0%.0%.1:%d+/api/v1/auth/token%-auth/identities/", res.notfound.text)
  end,
})

case("retry_then_ok", {
  setup = function(srv)
    srv:faults{ { status = 503, body = "busy" }, { status = 502, body = "" } }
  end,
  run = function(infisical, ctx)
    local page, err = client(infisical, ctx):list_tokens(M.ID1, { page_size = 3 })
    return { n = page and #page.tokens, err = M.summary(err) }
  end,
  check = function(res, srv)
    assert.same({ n = 3 }, res)
    assert.equal(3, #require("spec.helpers").api_requests(srv))
  end,
})

case("retry_after_429", {
  auto = true,
  setup = function(srv)
    srv:faults{ { status = 429, headers = { ["Retry-After"] = "1" },
      body = { statusCode = 429, error = "RateLimitExceeded", message = "Rate limit exceeded. Please try again in 1 seconds" } } }
  end,
  run = function(infisical, ctx)
    local clock = ngx and ngx.now or os.time
    if ngx then ngx.update_time() end
    local t0 = clock()
    local page, err = client(infisical, ctx):list_tokens(M.ID1, { page_size = 2 })
    if ngx then ngx.update_time() end
    return { n = page and #page.tokens, err = M.summary(err), waited = clock() - t0 }
  end,
  check = function(res)
    assert.equal(2, res.n)
    assert.is_true(res.waited >= 0.9, "waited " .. tostring(res.waited))
  end,
})

case("no_retry_past_cap", {
  setup = function(srv)
    srv:faults{ { status = 429, headers = { ["Retry-After"] = "120" },
      body = { statusCode = 429, error = "RateLimitExceeded", message = "Rate limit exceeded" } } }
  end,
  run = function(infisical, ctx)
    local _, err = client(infisical, ctx, { max_retry_wait = 5 }):list_tokens(M.ID1)
    return { err = M.summary(err) }
  end,
  check = function(res)
    assert.same({ "http", 429, "RateLimitExceeded", 120 },
      { res.err.kind, res.err.status, res.err.error, res.err.retry_after })
  end,
})

case("timeout", {
  setup = function(srv) srv:faults{ { hostile = "hold", seconds = 5 } } end,
  run = function(infisical, ctx)
    local _, err = client(infisical, ctx, { timeout = 1, retries = 0 }):list_tokens(M.ID1)
    return { err = M.summary(err) }
  end,
  check = function(res) assert.equal("timeout", res.err.kind) end,
})

case("too_large", {
  run = function(infisical, ctx)
    local _, err = client(infisical, ctx, { max_body = 2000 }):list_tokens(M.ID1, { page_size = 50 })
    return { err = M.summary(err) }
  end,
  check = function(res) assert.equal("too_large", res.err.kind) end,
})

case("decode_error", {
  setup = function(srv) srv:faults{ { status = 200, body = "<html>not json</html>" } } end,
  run = function(infisical, ctx)
    local _, err = client(infisical, ctx):list_tokens(M.ID1)
    return { err = M.summary(err) }
  end,
  check = function(res) assert.same({ "decode", 200 }, { res.err.kind, res.err.status }) end,
})

case("proxy_html_502", {
  setup = function(srv)
    srv:faults{ { status = 502, body = "<html>Bad Gateway</html>", headers = { ["Content-Type"] = "text/html" }, ["repeat"] = 10 } }
  end,
  run = function(infisical, ctx)
    local _, err = client(infisical, ctx, { retries = 1 }):list_tokens(M.ID1)
    return { err = M.summary(err) }
  end,
  check = function(res)
    assert.same({ "http", 502, 2 }, { res.err.kind, res.err.status, res.err.attempts })
    assert.matches("text/html", res.err.message)
  end,
})

-- A chunked answer, written by hand: the cosocket transport decodes chunks itself.
local CHUNKED_BODY = '{"tokens":[{"id":"c1","name":"chunky"},{"id":"c2"}]}'
case("chunked", {
  setup = function(srv)
    local a, b = CHUNKED_BODY:sub(1, 20), CHUNKED_BODY:sub(21)
    srv:faults{ { raw = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
      .. ("%x\r\n%s\r\n%X;ext=1\r\n%s\r\n0\r\nX-Trailer: t\r\n\r\n"):format(#a, a, #b, b) } }
  end,
  run = function(infisical, ctx)
    local page, err = client(infisical, ctx):list_tokens(M.ID1)
    return { ids = page and ids(page.tokens), err = M.summary(err) }
  end,
  check = function(res) assert.same({ ids = { "c1", "c2" } }, res) end,
})

case("cut_body", {
  setup = function(srv)
    srv:faults{ { raw = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"tokens\":[" } }
  end,
  run = function(infisical, ctx)
    local _, err = client(infisical, ctx, { retries = 0 }):list_tokens(M.ID1)
    return { err = M.summary(err) }
  end,
  check = function(res) assert.equal("network", res.err.kind) end,
})

case("token_redacted", {
  setup = function(srv)
    srv:faults{ { status = 400, body = { statusCode = 400, error = "BadRequest",
      message = "bad header Authorization: Bearer " .. M.TOKEN } } }
  end,
  run = function(infisical, ctx)
    local c = client(infisical, ctx)
    local _, err = c:list_tokens(M.ID1)
    return { err = M.summary(err), client_text = tostring(c) }
  end,
  check = function(res)
    assert.equal("http", res.err.kind)
    assert.not_matches(M.TOKEN, res.err.message, 1, true)
    assert.not_matches(M.TOKEN, res.err.text, 1, true)
    assert.matches("[REDACTED]", res.err.message, 1, true)
    assert.not_matches(M.TOKEN, res.client_text, 1, true)
  end,
})

-- issue 10 §2 on every transport: the token echoed across the 512-byte cut of a message,
-- deep inside details, and (cosocket) quoted in part by the transport's own message about
-- an unrequested Content-Encoding. Not one 8-byte piece of it may come back.
M.LONG_TOKEN = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJvcGVucmVzdHktY2FzZSI6InJlZGFjdGlvbiJ9"
  .. ".T3BlblJlc3R5UmVkYWN0aW9uQ2FzZVNpZ25hdHVyZQ"
local CUTS = { 7, 8, 9, 40, #M.LONG_TOKEN - 1 }
local function all_strings(v, acc, seen)
  if type(v) == "string" then acc[#acc + 1] = v
  elseif type(v) == "table" and not seen[v] then
    seen[v] = true
    if getmetatable(v) then acc[#acc + 1] = tostring(v) end
    for k, x in pairs(v) do all_strings(k, acc, seen); all_strings(x, acc, seen) end
  end
  return acc
end
case("secret_cut_and_deep", {
  setup = function(srv)
    local T, faults = M.LONG_TOKEN, {}
    for _, k in ipairs(CUTS) do
      local pad = ("m"):rep(512 - k)
      faults[#faults + 1] = { status = 400, body = { error = "BadRequest", message = pad .. T .. " tail" } }
      faults[#faults + 1] = { status = 400, body = { error = pad .. T, reqId = pad .. T, message = "m" } }
    end
    faults[#faults + 1] = { status = 400, body = '{"message":"m","details":' .. ("["):rep(990) .. '"' .. T
      .. '"' .. ("]"):rep(990) .. ',"k":{"' .. T .. '":1}}' }
    faults[#faults + 1] = { raw = "HTTP/1.1 200 OK\r\nContent-Encoding: " .. T
      .. "\r\nContent-Length: 13\r\n\r\n{\"tokens\":[]}" }
    for _, f in ipairs(faults) do f.match = M.ID1 end
    srv:faults(faults)
  end,
  run = function(infisical, ctx)
    local c = client(infisical, ctx, { token = M.LONG_TOKEN, retries = 0 })
    local out = {}
    for i = 1, 2 * #CUTS + 2 do
      local _, err = c:list_tokens(M.ID1)
      out[i] = { kind = err and err.kind, strings = all_strings(err, {}, {}) }
    end
    return out
  end,
  check = function(res)
    local T = M.LONG_TOKEN
    assert.equal(2 * #CUTS + 2, #res)
    for i, r in ipairs(res) do
      assert.is_string(r.kind, "call " .. i .. " did not fail")
      for _, s in ipairs(r.strings) do
        for j = 1, #T - 7 do
          local piece = T:sub(j, j + 7)
          assert(not s:find(piece, 1, true), ("call %d shows %q of the token: %s"):format(i, piece, s:sub(1, 600)))
        end
      end
    end
    -- the shapes did reach the redaction
    assert.matches("[REDACTED]", table.concat(res[2 * #CUTS - 1].strings, " "), 1, true)
  end,
})

case("list_many", {
  auto = true,
  run = function(infisical, ctx)
    local c = client(infisical, ctx)
    local list = { M.ID1, M.ID2, M.ID3, "a0000000-0000-4000-8000-000000000777", M.ID1 }
    local res, errs = c:list_many(list, { revoked = false, partial = true, concurrency = 3 })
    errs = errs or {}   -- nil when every identity succeeded
    local out = {}
    for _, id in ipairs(list) do
      local r = res[id]
      out[id] = { n = r and #r or 0, err = M.summary(errs[id]) }
    end
    return out
  end,
  check = function(res)
    assert.same({ 21, nil }, { res[M.ID1].n, res[M.ID1].err })
    assert.equal("truncated", res[M.ID2].err.kind)
    assert.is_true(res[M.ID2].n > 100)
    assert.same({ "http", 400 }, { res[M.ID3].err.kind, res[M.ID3].err.status })
    assert.same({ "http", 404 }, { res["a0000000-0000-4000-8000-000000000777"].err.kind,
      res["a0000000-0000-4000-8000-000000000777"].err.status })
  end,
})

-- Issue 12: under the fake's limiter (20 reads per 2 s window, one budget per address),
-- list_many paces to it on every transport (inside nginx the budget is the worker's).
M.PACE_N, M.PACE_CONCURRENCY = 50, 16
case("list_many_paced", {
  setup = function(srv)
    local H = require "spec.helpers"
    local identities = {}
    for i = 1, M.PACE_N do identities[("a0000000-0000-4000-8000-%012d"):format(5000 + i)] = { generate = 2 } end
    srv:reset(H.state(identities, { rate_limit = { limit = 20, window = 2, per_route = false } }))
  end,
  run = function(infisical, ctx)
    local list = {}
    for i = 1, M.PACE_N do list[i] = ("a0000000-0000-4000-8000-%012d"):format(5000 + i) end
    local res, errs = client(infisical, ctx, { retries = 0 }):list_many(list,
      { concurrency = M.PACE_CONCURRENCY })
    errs = errs or {}   -- nil when every identity succeeded
    local done, failed = 0, {}
    for _, id in ipairs(list) do
      if res[id] and #res[id] == 2 then done = done + 1 end
      if errs[id] then failed[#failed + 1] = M.summary(errs[id]) end
    end
    return { done = done, failed = failed }
  end,
  check = function(res, srv)
    assert.same({ done = M.PACE_N, failed = {} }, res)
    local n429 = 0
    for _, r in ipairs(require("spec.helpers").api_requests(srv)) do
      if r.status == 429 then n429 = n429 + 1 end
    end
    assert.is_true(n429 <= M.PACE_CONCURRENCY, "429s: " .. n429)
  end,
})

case("stream_many", {
  run = function(infisical, ctx)
    local got = {}
    for id, tokens, err in client(infisical, ctx):stream_many({ M.ID1, M.ID3 }, { revoked = false }) do
      got[id] = { n = tokens and #tokens, err = M.summary(err) }
    end
    return got
  end,
  check = function(res)
    assert.equal(21, res[M.ID1].n)
    assert.same({ "http", 400 }, { res[M.ID3].err.kind, res[M.ID3].err.status })
  end,
})

-- Runs on one client that overlap (a where filter that calls list_many; two runs whose
-- filters yield, interleaved by coroutines) each get their own identities' tokens.
case("many_side_by_side", {
  run = function(infisical, ctx)
    local c = client(infisical, ctx)
    local function count(results, errors)
      local out = {}
      for id, tokens in pairs(results) do
        local foreign = 0
        for _, t in ipairs(tokens) do if t.identityId ~= id then foreign = foreign + 1 end end
        out[id] = { n = #tokens, foreign = foreign }
      end
      for id, err in pairs(errors or {}) do out[id] = out[id] or {}; out[id].err = err.kind end
      return out
    end
    local inner
    local outer = count(c:list_many({ M.ID1, M.ID2 }, { partial = true, page_size = 50,
      where = function()
        if not inner then inner = count(c:list_many({ M.ID1 }, { page_size = 10 })) end
        return true
      end }))
    local cos, res = {}, {}
    for i, ids in ipairs{ { M.ID1 }, { M.ID2 } } do
      cos[i] = coroutine.create(function()
        return count(c:list_many(ids, { partial = true, page_size = 20,
          where = function() coroutine.yield(); return true end }))
      end)
    end
    local live, yields = 2, 0
    while live > 0 do
      for i, co in ipairs(cos) do
        if coroutine.status(co) == "suspended" then
          local ok, r = coroutine.resume(co)
          if not ok then error(r, 0) end
          if coroutine.status(co) == "dead" then res[i], live = r, live - 1 else yields = yields + 1 end
        end
      end
    end
    return { outer = outer, inner = inner, co1 = res[1], co2 = res[2], yields = yields }
  end,
  check = function(res)
    for _, k in ipairs{ "outer", "inner", "co1" } do
      assert.same({ n = 26, foreign = 0 }, res[k][M.ID1], k)
    end
    for _, k in ipairs{ "outer", "co2" } do
      assert.same({ n = 200, foreign = 0, err = "truncated" }, res[k][M.ID2], k)
    end
    assert.is_nil(res.inner[M.ID2])
    assert.is_nil(res.co1[M.ID2])
    assert.is_nil(res.co2[M.ID1])
    assert.is_true(res.yields >= 200)
  end,
})

-- POST requests: a Universal Auth login (JSON body) and a revocation (empty body).
case("universal_auth", {
  run = function(infisical, ctx)
    local c = assert(infisical.new{ base_url = ctx.base, transport = ctx.transport,
      client_id = "fake-client-id", client_secret = "fake-client-secret", verify_tls = ctx.verify_tls })
    local page, err = c:list_tokens(M.ID1, { page_size = 2 })
    local bad = assert(infisical.new{ base_url = ctx.base, transport = ctx.transport, retries = 0,
      client_id = "fake-client-id", client_secret = "wrong" })
    local _, err2 = bad:list_tokens(M.ID1)
    return { n = page and #page.tokens, err = M.summary(err), bad = M.summary(err2) }
  end,
  check = function(res, srv)
    assert.equal(2, res.n)
    assert.same({ "auth", 401 }, { res.bad.kind, res.bad.status })
    assert.matches("; Universal Auth credentials refused", res.bad.text, 1, true)
    local logins = 0
    for _, r in ipairs(require("spec.helpers").api_requests(srv)) do
      if r.path:find("/universal%-auth/login$") then
        logins = logins + 1
        assert.equal("POST", r.method)
        assert.equal("fake-client-id", r.body.clientId)
      end
    end
    assert.equal(2, logins)
  end,
})

case("revoke", {
  run = function(infisical, ctx)
    local c = client(infisical, ctx)
    local ok, err = c:revoke_token("b0000000-0000-4000-8000-000000000002")
    local again, err2 = c:revoke_token("b0000000-0000-4000-8000-000000000002")
    return { ok = ok, err = M.summary(err), again = again, err2 = M.summary(err2) }
  end,
  check = function(res)
    assert.is_true(res.ok)
    assert.is_nil(res.again)
    assert.same({ "already_revoked", 404 }, { res.err2.kind, res.err2.status })
  end,
})

-- Universal Auth after the server refused the client's token (issue 9 §1): the real
-- server checks any bearer a login carries, so a login must carry none; the client logs
-- in again once and repeats the request, and requests in flight share that one login.
local CID, CSECRET = "fake-client-id", "fake-client-secret"

local function ua_client(infisical, ctx, opts)
  local o = { base_url = ctx.base, client_id = CID, client_secret = CSECRET,
    transport = ctx.transport, backoff = 0.01, max_backoff = 0.05, timeout = 10,
    verify_tls = ctx.verify_tls }
  for k, v in pairs(opts or {}) do o[k] = v end
  return assert(infisical.new(o))
end

-- Busted side: the logins the server saw (each must have carried no bearer and
-- succeeded), and the statuses of the other API requests, in order.
local function ua_requests(srv)
  local logins, statuses = 0, {}
  for _, r in ipairs(require("spec.helpers").api_requests(srv)) do
    if r.path:find("/universal%-auth/login$") then
      logins = logins + 1
      assert.is_nil(r.headers.authorization, "a login carried a bearer")
      assert.equal(200, r.status)
    else
      statuses[#statuses + 1] = r.status
    end
  end
  return logins, statuses
end

-- The server changes the UA client's token as the (after + 1)-th request matching
-- `match` arrives; that request then gets the real server's answer to it.
local function refuse_at(srv, match, after, state)
  srv:faults{ { match = match, after = after, then_normal = true,
    token = { client_id = CID, state = state } } }
end

-- (the fake's current mode: a 2026 server refuses a JWT past its exp with 403 TokenError;
-- the late-2024 server's 401 "...due to TTL expiration" is spec/00's legacy case)
for _, refusal in ipairs{ { "revoked", 401 }, { "deleted", 401 }, { "expired", 403 },
    { "ttl_expired", 403 }, { "used_up", 401 }, { "malformed", 403 } } do
  case("ua_" .. refusal[1] .. "_between_calls", {
    setup = function(srv) refuse_at(srv, "/tokens", 1, refusal[1]) end,
    run = function(infisical, ctx)
      local c = ua_client(infisical, ctx)
      local out = {}
      for i = 1, 3 do
        local page, err = c:list_tokens(M.ID1, { page_size = 2 })
        out[i] = { n = page and #page.tokens, err = M.summary(err) }
      end
      return out
    end,
    check = function(res, srv)
      for i = 1, 3 do assert.same({ n = 2 }, res[i]) end
      local logins, statuses = ua_requests(srv)
      assert.equal(2, logins)
      assert.same({ 200, refusal[2], 200, 200 }, statuses)
    end,
  })
end

case("ua_revoked_mid_walk", {
  setup = function(srv)
    -- the third page of the ID1 walk; the second of the ID2 walk (matched apart by id)
    srv:faults{
      { match = M.ID1, after = 2, then_normal = true, token = { client_id = CID, state = "revoked" } },
      { match = M.ID2, after = 1, then_normal = true, token = { client_id = CID, state = "deleted" } },
    }
  end,
  run = function(infisical, ctx)
    local c = ua_client(infisical, ctx)
    local walked = {}
    for tok in c:each_token(M.ID1, { page_size = 7 }) do walked[#walked + 1] = tok.id end
    local all, err = c:all_tokens(M.ID2, { page_size = 50, partial = true })
    return { walked = walked, n = all and #all, err = M.summary(err) }
  end,
  check = function(res, srv)
    assert.equal(26, #res.walked)
    local seen = {}
    for _, id in ipairs(res.walked) do assert.is_nil(seen[id]); seen[id] = true end
    assert.equal(200, res.n)
    assert.equal("truncated", res.err.kind)
    local logins, statuses = ua_requests(srv)
    assert.equal(3, logins)   -- the first, then one per refusal
    assert.same({ 200, 200, 401, 200, 200, 200, 401, 200, 200, 200 }, statuses)
  end,
})

local IN_FLIGHT = {}
for i = 1, 4 do IN_FLIGHT[i] = ("a0000000-0000-4000-8000-%012d"):format(520 + i) end

case("ua_revoked_in_flight", {
  auto = true,
  setup = function(srv)
    local H = require "spec.helpers"
    local idents = {}
    for _, id in ipairs(IN_FLIGHT) do idents[id] = { tokens = H.records(id, 3) } end
    -- a slow server: the four requests are all in flight when the first one arrives
    srv:reset(H.state(idents, { latency = 0.3 }))
    refuse_at(srv, "/tokens", 0, "revoked")
  end,
  run = function(infisical, ctx)
    local c = ua_client(infisical, ctx)
    local res, errs = c:list_many(IN_FLIGHT, { concurrency = 4 })
    errs = errs or {}   -- nil when every identity succeeded
    local out = { errors = {}, n = {} }
    for _, id in ipairs(IN_FLIGHT) do
      out.n[#out.n + 1] = type(res[id]) == "table" and not errs[id] and #res[id] or -1
      if errs[id] then out.errors[#out.errors + 1] = M.summary(errs[id]) end
    end
    return out
  end,
  check = function(res, srv, where, transport)
    assert.same({}, res.errors)
    assert.same({ 3, 3, 3, 3 }, res.n)
    local logins, statuses = ua_requests(srv)
    assert.equal(2, logins)   -- one new login for every request refused in flight
    local refused = 0
    for _, st in ipairs(statuses) do if st == 401 then refused = refused + 1 end end
    assert.equal(4 + refused, #statuses)
    -- libcurl's multi and light threads send all four at once: all four are refused
    if transport ~= "curl" or where == "lua" then assert.equal(4, refused) end
  end,
})

case("ua_revoke_token", {
  setup = function(srv) refuse_at(srv, "/revoke", 0, "revoked") end,
  run = function(infisical, ctx)
    local c = ua_client(infisical, ctx)
    local ok, err = c:revoke_token("b0000000-0000-4000-8000-000000000002")
    return { ok = ok, err = M.summary(err) }
  end,
  check = function(res, srv)
    assert.same({ ok = true }, res)
    local logins, statuses = ua_requests(srv)
    assert.equal(2, logins)
    assert.same({ 401, 200 }, statuses)
  end,
})

-- issue 10 §9: two light threads of one worker share a client. Both find the token due
-- (no login yet) and must not both log in; then the token is refused while both have a
-- request in flight, and the refusal one of them sees late must not throw away the token
-- the other just got. Without light threads (plain Lua, libcurl in nginx) the calls run one
-- after the other, and the same count holds.
case("ua_two_threads", {
  auto = true,
  setup = function(srv)
    srv:faults{
      { match = "login", delay = 0.3, then_normal = true, ["repeat"] = 5 },
      -- the first request of the second round revokes the token and is answered 1 s
      -- later, after the other one's refusal and the login it caused
      { match = "/tokens", after = 2, then_normal = true, delay = 1,
        token = { client_id = CID, state = "revoked" } },
    }
  end,
  run = function(infisical, ctx)
    local c = ua_client(infisical, ctx)
    local function one()
      local page, err = c:list_tokens(M.ID1, { page_size = 2 })
      return { n = page and #page.tokens, err = M.summary(err) }
    end
    local threads = ngx and ngx.get_phase and ngx.get_phase() == "content"
    local function both()
      if not threads then return { one(), one() } end
      local t1, t2 = ngx.thread.spawn(one), ngx.thread.spawn(one)
      local _, a = ngx.thread.wait(t1)
      local _, b = ngx.thread.wait(t2)
      return { a, b }
    end
    return { first = both(), second = both() }
  end,
  check = function(res, srv, where, transport)
    assert.same({ { n = 2 }, { n = 2 } }, res.first)
    assert.same({ { n = 2 }, { n = 2 } }, res.second)
    ua_requests(srv)
    local seen = {}
    for _, r in ipairs(require("spec.helpers").api_requests(srv)) do
      seen[#seen + 1] = r.path:find("/login$") and "login" or ("%d"):format(r.status)
    end
    seen = table.concat(seen, " ")
    if where == "nginx" and transport ~= "curl" then
      -- both refused in flight; one login, before and after
      assert.equal("login 200 200 401 401 login 200 200", seen)
    else
      assert.equal("login 200 200 401 login 200 200", seen)
    end
  end,
})

-- A light thread killed in the middle of its login (ngx.thread.kill, or its request
-- ended): inside nginx the login runs in a timer of its own (infisical.auth), so it goes
-- on and the next caller gets its answer: one login, never a wait for an answer that
-- never comes.
case("ua_login_thread_killed", {
  auto = true,
  setup = function(srv)
    srv:faults{ { match = "login", delay = 1, then_normal = true, ["repeat"] = 3 } }
  end,
  run = function(infisical, ctx)
    local c = ua_client(infisical, ctx)
    local clock = ngx and ngx.now or os.time
    if ngx then ngx.update_time() end
    local t0 = clock()
    local threads = ngx and ngx.get_phase and ngx.get_phase() == "content" and ctx.transport ~= "curl"
    if threads then
      local t = ngx.thread.spawn(function() return c:list_tokens(M.ID1, { page_size = 2 }) end)
      ngx.sleep(0.2)   -- its login is on its way (the server holds logins 1 s)
      ngx.thread.kill(t)
    end
    local page, err = c:list_tokens(M.ID1, { page_size = 2 })
    if ngx then ngx.update_time() end
    return { n = page and #page.tokens, err = M.summary(err), waited = clock() - t0,
      threads = threads or false }
  end,
  check = function(res, srv)
    assert.equal(2, res.n, res.err and res.err.text)
    assert.is_true(res.waited < 4, "waited " .. res.waited .. " s")
    local logins = ua_requests(srv)
    assert.equal(1, logins)
  end,
})

-- A refused login ends a list_many run (issue 18 §2, issue 16 §2): one login for the whole
-- run, every identity gets that refusal, on every engine (libcurl's multi, light threads).
case("ua_refused_many", {
  auto = true,
  run = function(infisical, ctx)
    local c = ua_client(infisical, ctx, { client_secret = "wrong" })
    local list = {}
    for i = 1, 12 do list[i] = ("a0000000-0000-4000-8000-%012d"):format(700 + i) end
    local res, errs = c:list_many(list, { concurrency = 4 })
    errs = errs or {}   -- nil when every identity succeeded
    local kinds = {}
    for _, id in ipairs(list) do
      kinds[#kinds + 1] = res[id] == nil and errs[id] and errs[id].kind or "?"
    end
    return { kinds = table.concat(kinds, " ") }
  end,
  check = function(res, srv)
    assert.equal(("auth "):rep(12):sub(1, -2), res.kinds)
    local logins = 0
    for _, r in ipairs(require("spec.helpers").api_requests(srv)) do
      assert.truthy(r.path:find("/universal%-auth/login$"), "a request other than the login: " .. r.path)
      logins = logins + 1
      assert.equal(401, r.status)
    end
    assert.equal(1, logins)
  end,
})

-- Hostile answers (see spec/40-hostile_spec.lua, which runs them through libcurl only).
local function hostile(name, faults, opts, kind, pattern)
  case(name, {
    setup = function(srv)
      for _, f in ipairs(faults) do f.match = M.ID1 end
      srv:faults(faults)
    end,
    run = function(infisical, ctx)
      local o = { retries = 0, timeout = 2 }
      for k, v in pairs(opts or {}) do o[k] = v end
      local c = client(infisical, ctx, o)
      local _, err = c:list_tokens(M.ID1)
      -- the connection after a bad answer must be clean (or replaced)
      local page, err2 = c:list_tokens(M.ID2, { page_size = 3 })
      return { err = M.summary(err), after = page and #page.tokens, err2 = M.summary(err2) }
    end,
    check = function(res)
      assert.equal(kind, res.err.kind, res.err.text)
      if pattern then assert.matches(pattern, res.err.message) end
      assert.equal(3, res.after, res.err2 and res.err2.text)
    end,
  })
end
local TE = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
hostile("endless_body", { { hostile = "endless", chunk = ("x"):rep(16384), seconds = 5 } },
  { max_body = 256 * 1024 }, "too_large", "max_body")
hostile("slow_endless_body", { { hostile = "endless", chunk = "1", interval = 0.2, seconds = 5 } },
  { timeout = 1 }, "timeout")
hostile("headers_then_silence", { { hostile = "hold", seconds = 4,
  raw = "HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n" } }, { timeout = 1 }, "timeout")
hostile("short_content_length", { { raw = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{"tokens":[]}' } },
  nil, "decode")
hostile("huge_content_length", { { raw = "HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\n{" } },
  nil, "too_large")
hostile("negative_content_length", { { raw = 'HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n{"tokens":[]}' } },
  nil, "network")
hostile("bad_chunk_size", { { raw = TE .. 'zz\r\n{"tokens":[]}\r\n0\r\n\r\n' } }, nil, "network")
hostile("chunk_longer_than_said", { { raw = TE .. '5\r\n{"tokens":[]}\r\n0\r\n\r\n' } }, nil, "network")
hostile("endless_chunk_size", { { raw = TE .. 'ffffffffffffffffffff\r\n{}' } }, nil, "network")
hostile("cut_chunk", { { raw = TE .. '100\r\n{"tokens":[]}' } }, nil, "network")
-- twice: a kept-alive connection that dies before answering is replayed once on a new
-- one (curl does the same), and that one must fail too
hostile("closed_at_once", { { close = true, ["repeat"] = 2 } }, nil, "network")
hostile("not_http", { { raw = "SSH-2.0-OpenSSH_9.2\r\n\r\n" } }, nil, "network")
hostile("huge_header", { { hostile = "huge_header", size = 60 * 1024 } }, { max_headers = 16 * 1024 },
  "too_large")
hostile("many_headers", { { hostile = "many_headers", count = 10000 } }, nil, "too_large", "headers")
hostile("fake_gzip", { { raw = "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 13\r\n\r\n"
  .. '{"tokens":[]}' } }, nil, "decode")

--- Runs a case by name inside nginx (a content handler) and prints its JSON result.
function M.serve()
  local cjson = require "cjson.safe"
  local c = M[ngx.var.arg_case]
  if type(c) ~= "table" or not c.run then
    ngx.status = 404
    return ngx.say("no such case")
  end
  local transport = ngx.var.arg_transport
  if transport == "auto" then transport = nil end
  local ok, res = pcall(c.run, require "infisical", { base = ngx.var.arg_base, transport = transport,
    verify_tls = ngx.var.arg_verify ~= "0" })
  ngx.header["Content-Type"] = "application/json"
  ngx.say(cjson.encode{ ok = ok, result = ok and res or tostring(res) })
end

return M
