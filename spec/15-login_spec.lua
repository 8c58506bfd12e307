-- Logins that respect current servers' lockout (issue 16 §2) and a failed login that ends
-- a list_many/stream_many run (issue 18 §2): one refused login per client, whatever the
-- number of identities or requests in flight; a lock contention 429 waited out; a locked
-- method called locked; the login's sends and re-sends paced. The fake server's current
-- mode answers logins as upstream's identity-ua-service.ts (spec/fake/api.py).
local H = require "spec.helpers"
local fake = H.fake
local infisical = require "infisical"

local CID, CSECRET = "fake-client-id", "fake-client-secret"
local LOGIN = "/api/v1/auth/universal-auth/login"
local LOCKED = "This identity auth method is temporarily locked, please try again later"

describe("logins", function()
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

  local function logins()
    local n, statuses = 0, {}
    for _, r in ipairs(H.api_requests(srv)) do
      if r.path == LOGIN then n = n + 1; statuses[#statuses + 1] = r.status end
    end
    return n, statuses
  end

  local function ids(n)
    local t = {}
    for i = 1, n do t[i] = fake.identity_id(600 + i) end
    return t
  end

  -- the three engines list_many runs on outside nginx: libcurl's multi, and the serial
  -- engine of a transport without one (the cosocket engine: the ua_refused_many case of spec/openresty/cases.lua, inside nginx)
  local function serial_transport(c)
    local real = c.transport
    c.transport = setmetatable({}, { __index = function(_, k)
      if k == "multi" or k == "current" then return nil end
      return function(_, ...) return real[k](real, ...) end
    end })
    return real
  end

  for _, engine in ipairs{ "multi", "serial" } do
    describe("(" .. engine .. " engine)", function()
      local function client(opts)
        local c = ua_client(opts)
        if engine == "serial" then serial_transport(c) end
        return c
      end

      it("a refused login is sent once for 40 identities: every one gets that refusal", function()
        local c = client{ client_secret = "wrong" }
        local list = ids(40)
        local res, errs = c:list_many(list, { concurrency = 8 })
        errs = errs or {}   -- nil when every identity succeeded
        for _, id in ipairs(list) do
          assert.is_nil(res[id])
          assert.same({ "auth", 401, true }, { errs[id].kind, errs[id].status, errs[id].login })
          assert.matches("check the client id and secret", errs[id].hint, 1, true)
        end
        assert.same({ 1, { 401 } }, { logins() })
        assert.equal(1, #H.api_requests(srv))   -- and no other request
        -- the stream the same, and the client sends no other login in that run or later
        local n = 0
        for _, _, err in c:stream_many(list, { concurrency = 8 }) do
          n = n + 1
          assert.equal("auth", err.kind)
        end
        assert.equal(40, n)
        assert.equal(1, (logins()))
      end)

      it("an unreachable server is tried once for the whole run, not once per identity", function()
        local sleeps = 0
        -- port 1: nobody listens (connection refused at once)
        local c = client{ base_url = "http://127.0.0.1:1", retries = 2, connect_timeout = 2,
          sleep = function() sleeps = sleeps + 1 end }
        local n = 0
        for _, _, err in c:stream_many(ids(20), { concurrency = 4 }) do
          n = n + 1
          assert.equal("network", err.kind)
          assert.equal(3, err.attempts)   -- the one login's attempts
        end
        assert.equal(20, n)
        -- the one login's two retries waited; 20 logins would have waited 40 times
        assert.equal(2, sleeps)
      end)
    end)
  end

  it("current servers: a client never pushes an identity into lockout by itself", function()
    local c = ua_client{ client_secret = "wrong" }
    for _ = 1, 5 do
      local _, err = c:list_tokens(H.ID1)
      assert.same({ "auth", 401, "Invalid credentials" }, { err.kind, err.status, err.message })
    end
    local _, errs = c:list_many(ids(10), { concurrency = 4 })
    errs = errs or {}   -- nil when every identity succeeded
    for _, err in pairs(errs) do assert.equal("auth", err.kind) end
    assert.same({ 1, { 401 } }, { logins() })
    -- the method is not locked: the right secret logs in
    assert(ua_client():list_tokens(H.ID1))
  end)

  -- both eras: late-2024 servers (legacy mode) have no lockout, but a refused login is
  -- sent once all the same; an unknown client id is 404 there, 401 on current servers
  for _, mode in ipairs{ "current", "legacy" } do
    it(("%s servers: an unknown client id is refused once for the whole run, kind auth"):format(mode), function()
      srv:reset(H.state(nil, { mode = mode }))
      local c = ua_client{ client_id = "nobody" }
      local _, errs = c:list_many(ids(10), { concurrency = 4 })
      errs = errs or {}   -- nil when every identity succeeded
      local n = 0
      for _, err in pairs(errs) do
        n = n + 1
        assert.same({ "auth", mode == "legacy" and 404 or 401 }, { err.kind, err.status })
      end
      assert.equal(10, n)
      local _, err = c:list_tokens(H.ID1)
      assert.equal("auth", err.kind)
      assert.same({ 1, { mode == "legacy" and 404 or 401 } }, { logins() })
    end)
  end

  it("an unknown client id on current servers is 401 Invalid credentials, kind auth", function()
    local _, err = ua_client{ client_id = "nobody" }:list_tokens(H.ID1)
    assert.same({ "auth", 401 }, { err.kind, err.status })
    assert.matches("check the client id and secret", tostring(err), 1, true)
  end)

  local function lock_out()
    for _ = 1, 3 do
      srv:request{ method = "POST", path = LOGIN, body = { clientId = CID, clientSecret = "x" } }
    end
  end

  it("a locked method is kind auth with a hint that it is locked and when to try again", function()
    lock_out()
    local c = ua_client()
    local _, err = c:list_tokens(H.ID1)
    assert.same({ "auth", 401, LOCKED, true }, { err.kind, err.status, err.message, err.locked })
    assert.matches("temporarily locked", err.hint, 1, true)
    assert.matches("300 s", err.hint, 1, true)
    assert.matches("; " .. err.hint, tostring(err), 1, true)
    local _, err2 = c:list_tokens(H.ID1)   -- not sent again
    assert.equal("auth", err2.kind)
    assert.equal(4, (logins()))
  end)

  it("the command exits 3 with the locked hint", function()
    lock_out()
    local out, rc, err = H.cli({ "list", H.ID1 }, { INFISICAL_API_URL = srv.url,
      INFISICAL_UNIVERSAL_AUTH_CLIENT_ID = CID, INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET = CSECRET })
    assert.equal(3, rc, out .. err)
    assert.matches("temporarily locked", err, 1, true)
    assert.matches("try again when the lockout ends", err, 1, true)
    assert.is_nil(err:find(CSECRET, 1, true))
  end)

  it("a lock contention 429 is waited out and repeated, without using up a retry", function()
    local s = H.state()
    s.universal_auth[CID].lock_contention = 2
    srv:reset(s)
    local c = ua_client{ client_secret = "wrong", retries = 0 }
    local _, err = c:list_tokens(H.ID1)
    assert.same({ "auth", 401 }, { err.kind, err.status })
    assert.matches("^Invalid credentials", err.message)
    assert.same({ 3, { 429, 429, 401 } }, { logins() })
  end)

  it("lock contention is waited out at most max_retry_wait", function()
    local s = H.state()
    s.universal_auth[CID].lock_contention = 100
    srv:reset(s)
    local c = ua_client{ client_secret = "wrong", retries = 0, max_retry_wait = 0.6 }
    local _, err = c:list_tokens(H.ID1)
    assert.same({ "http", 429 }, { err.kind, err.status })
    local n = logins()
    assert.is_true(n >= 2 and n <= 4, n .. " logins")
  end)

  it("every send of a login asks the budget: max_rate spaces the re-sends too", function()
    srv:faults{ { match = "login", status = 503, body = "busy", ["repeat"] = 2 } }
    local waits = {}
    local c = ua_client{ max_rate = 30, sleep = function(s)
      -- the logins sent so far when the wait is asked for
      waits[#waits + 1] = { (logins()), s }
    end }
    assert(c:list_tokens(H.ID1))
    assert.same({ 3, { 503, 503, 200 } }, { logins() })
    -- after the first and after the second login: a wait of max_rate's 2 s spacing
    for n = 1, 2 do
      local spaced = false
      for _, w in ipairs(waits) do
        if w[1] == n and w[2] > 1.5 then spaced = true end
      end
      assert.is_true(spaced, "no max_rate wait after login " .. n)
    end
  end)
end)
