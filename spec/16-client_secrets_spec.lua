-- Universal Auth client secrets (issue 17): list_client_secrets, revoke_client_secret,
-- client_secret_status and client_secret_expires_at against the fake server in both eras.
local H = require "spec.helpers"
local fake = H.fake
local infisical = require "infisical"

local UA = H.ID3                                   -- the sample's Universal Auth identity
local NOW = 1717243200                             -- 2024-06-01T12:00:00Z
local function iso(t) return os.date("!%Y-%m-%dT%H:%M:%S.000Z", t) end

local function secret(over)
  local s = { id = "d0000000-0000-4000-8000-000000000001", description = "ci",
    clientSecretPrefix = "ab12", clientSecretNumUses = 0, clientSecretNumUsesLimit = 0,
    clientSecretTTL = 0, isClientSecretRevoked = false,
    identityUAId = "e0000000-0000-4000-8000-000000000001",
    createdAt = iso(NOW - 10 * 86400), updatedAt = iso(NOW - 10 * 86400) }
  for k, v in pairs(over or {}) do s[k] = v end
  return s
end

-- The sample's identities, with client secrets of every kind on the UA one.
local SECRETS = {
  secret{ id = "d0000000-0000-4000-8000-000000000001", description = "never" },
  secret{ id = "d0000000-0000-4000-8000-000000000002", description = "used-up",
    clientSecretNumUses = 3, clientSecretNumUsesLimit = 3 },
  secret{ id = "d0000000-0000-4000-8000-000000000003", description = "expired",
    clientSecretTTL = 86400 },
  secret{ id = "d0000000-0000-4000-8000-000000000004", description = "revoked",
    isClientSecretRevoked = true },
  secret{ id = "d0000000-0000-4000-8000-000000000005", description = "active-ttl",
    clientSecretNumUses = 1, clientSecretTTL = 86400 * 3650, clientSecretNumUsesLimit = 10 },
}

local function ua_state(mode)
  local s = H.state()
  s.mode = mode
  s.identities[UA].client_secrets = SECRETS
  return s
end

describe("client_secret_status and client_secret_expires_at", function()
  it("derive the status as the login decides it: revoked, then the TTL, then the use limit", function()
    assert.equal("active", infisical.client_secret_status(SECRETS[1], NOW))
    assert.equal("exhausted", infisical.client_secret_status(SECRETS[2], NOW))
    assert.equal("expired", infisical.client_secret_status(SECRETS[3], NOW))
    assert.equal("revoked", infisical.client_secret_status(SECRETS[4], NOW))
    assert.equal("active", infisical.client_secret_status(SECRETS[5], NOW))
    -- expired and used up: the login refuses it for its TTL first
    assert.equal("expired", infisical.client_secret_status(secret{ clientSecretTTL = 60,
      clientSecretNumUses = 2, clientSecretNumUsesLimit = 2 }, NOW))
    -- the instant the TTL ends it is still accepted (currentDate > expirationTime)
    local s = secret{ clientSecretTTL = 86400, createdAt = iso(NOW - 86400) }
    assert.equal("active", infisical.client_secret_status(s, NOW))
    assert.equal("expired", infisical.client_secret_status(s, NOW + 1))
  end)

  it("expires_at: createdAt + TTL; never for TTL 0; unknown when it cannot tell", function()
    assert.equal(NOW - 9 * 86400, infisical.client_secret_expires_at(SECRETS[3]))
    assert.same({ nil, "never" }, { infisical.client_secret_expires_at(SECRETS[1]) })
    assert.same({ nil, "unknown" }, { infisical.client_secret_expires_at(secret{ clientSecretTTL = 60,
      createdAt = "yesterday" }) })
    assert.same({ nil, "unknown" }, { infisical.client_secret_expires_at(secret{ clientSecretTTL = "x" }) })
    -- an unknown expiry is never "expired"
    assert.equal("active", infisical.client_secret_status(secret{ clientSecretTTL = 60, createdAt = "?" }, NOW))
  end)

  it("raise naming the argument", function()
    assert.has_error(function() infisical.client_secret_status("x") end,
      "infisical: client_secret_status: bad argument 'secret' (table expected, got string)")
    assert.has_error(function() infisical.client_secret_status({}, "now") end,
      "infisical: client_secret_status: bad argument 'now' (number expected, got string)")
    assert.has_error(function() infisical.client_secret_expires_at(nil) end,
      "infisical: client_secret_expires_at: bad argument 'secret' (table expected, got nil)")
  end)
end)

for _, mode in ipairs{ "legacy", "current" } do
  describe("list_client_secrets and revoke_client_secret (" .. mode .. " server)", function()
    local srv, c
    setup(function() srv = fake.start{ state = ua_state(mode) } end)
    teardown(function() srv:stop() end)
    before_each(function()
      srv:reset(ua_state(mode))
      c = H.client(srv)
    end)

    it("lists the identity's client secrets not revoked, as the server sends them, in one request", function()
      local list = assert(c:list_client_secrets(UA))
      assert.same({ "never", "used-up", "expired", "active-ttl" }, (function()
        local d = {}
        for i, s in ipairs(list) do d[i] = s.description end
        return d
      end)())
      assert.equal(1, #H.api_requests(srv))
      assert.equal("/api/v1/auth/universal-auth/identities/" .. UA .. "/client-secrets",
        H.api_requests(srv)[1].path)
      local s = list[2]
      assert.same({ "d0000000-0000-4000-8000-000000000002", "ab12", 3, 3, 0, false },
        { s.id, s.clientSecretPrefix, s.clientSecretNumUses, s.clientSecretNumUsesLimit,
          s.clientSecretTTL, s.isClientSecretRevoked })
      assert.is_string(s.createdAt)
      assert.is_nil(s.clientSecretHash)
    end)

    it("filters: status, unused, older_than, where", function()
      local function d(list)
        local out = {}
        for i, s in ipairs(assert(list)) do out[i] = s.description end
        return out
      end
      assert.same({ "never", "active-ttl" }, d(c:list_client_secrets(UA, { status = "active", now = NOW })))
      assert.same({ "used-up", "expired" }, d(c:list_client_secrets(UA, { status = { "exhausted", "expired" }, now = NOW })))
      assert.same({ "never", "expired" }, d(c:list_client_secrets(UA, { unused = true })))
      assert.same({ "used-up", "active-ttl" }, d(c:list_client_secrets(UA, { unused = false })))
      assert.same({}, d(c:list_client_secrets(UA, { older_than = 11 * 86400, now = NOW })))
      assert.equal(4, #d(c:list_client_secrets(UA, { older_than = 9 * 86400, now = NOW })))
      assert.same({ "never" }, d(c:list_client_secrets(UA, { where = function(s) return s.description == "never" end })))
    end)

    it("an identity without Universal Auth: 400 with a hint; an unknown one: 404 with a hint", function()
      local list, err = c:list_client_secrets(H.ID1)
      assert.is_nil(list)
      assert.same({ "http", 400 }, { err.kind, err.status })
      assert.matches("does not have universal auth", err.message, 1, true)
      assert.matches("does not use Universal Auth", err.hint, 1, true)
      assert.matches("does not use Universal Auth", tostring(err), 1, true)
      list, err = c:list_client_secrets(fake.identity_id(77))
      assert.is_nil(list)
      assert.same({ "http", 404 }, { err.kind, err.status })
      assert.matches(fake.identity_id(77), err.hint, 1, true)
    end)

    it("no read permission: kind permission; a refused token: kind auth", function()
      local np = H.client(srv, { token = "fake-noperm-token" })
      local _, err = np:list_client_secrets(UA)
      assert.equal("permission", err.kind)
      local rv = H.client(srv, { token = "fake-revoked-token" })
      _, err = rv:list_client_secrets(UA)
      assert.equal("auth", err.kind)
    end)

    it("revokes a client secret: its record comes back revoked and it leaves the listing", function()
      local rec = assert(c:revoke_client_secret(UA, SECRETS[1].id))
      assert.same({ SECRETS[1].id, true }, { rec.id, rec.isClientSecretRevoked })
      assert.equal("revoked", infisical.client_secret_status(rec))
      assert.equal(3, #assert(c:list_client_secrets(UA)))
      -- twice is no error: the server marks it revoked again
      rec = assert(c:revoke_client_secret(UA, SECRETS[1].id))
      assert.is_true(rec.isClientSecretRevoked)
      local reqs = H.api_requests(srv)
      assert.equal("POST", reqs[1].method)
      assert.equal("/api/v1/auth/universal-auth/identities/" .. UA .. "/client-secrets/"
        .. SECRETS[1].id .. "/revoke", reqs[1].path)
    end)

    it("an unknown client secret: " .. (mode == "legacy" and "500 (late 2024)" or "404"), function()
      local rec, err = c:revoke_client_secret(UA, "d0000000-0000-4000-8000-0000000000ff")
      assert.is_nil(rec)
      assert.equal("http", err.kind)
      if mode == "legacy" then
        assert.equal(500, err.status)
      else
        assert.equal(404, err.status)
      end
    end)

    it("a lost answer: the retry revokes again and succeeds", function()
      srv:faults{ { carry_out = true, status = 502, match = "/revoke" } }
      local rec = assert(c:revoke_client_secret(UA, SECRETS[5].id))
      assert.is_true(rec.isClientSecretRevoked)
      assert.equal(2, #H.api_requests(srv))
    end)

    it("raises on bad arguments, naming them", function()
      assert.has_error(function() c:list_client_secrets(nil) end)
      assert.has_error(function() c:list_client_secrets(UA, { status = "dead" }) end)
      assert.has_error(function() c:list_client_secrets(UA, { page_size = 10 }) end,
        "infisical: list_client_secrets: unknown option 'page_size'")
      assert.has_error(function() c:list_client_secrets(UA, { unused = "yes" }) end)
      assert.has_error(function() c:revoke_client_secret(UA, nil) end,
        "infisical: revoke_client_secret: bad argument 'client_secret_id' (non-empty string of at most 256 bytes expected, got nil)")
      assert.has_error(function() c:revoke_client_secret(UA, "a\nb") end)
    end)

    it("never shows the bearer token in what it returns or raises", function()
      local list = assert(c:list_client_secrets(UA))
      H.assert_no_secret(list, H.TOKEN)
      local _, err = c:list_client_secrets(H.ID1)
      H.assert_no_secret(err, H.TOKEN)
      H.assert_no_secret(tostring(err), H.TOKEN)
    end)
  end)
end

describe("client secrets over Universal Auth and in organisations", function()
  local srv
  setup(function() srv = fake.start{ state = H.org_state(20) } end)
  teardown(function() srv:stop() end)

  it("generated Universal Auth identities hold secrets of every kind", function()
    local c = H.client(srv)
    local kinds, n = {}, 0
    for m in c:each_identity(H.ORG) do
      local methods = table.concat(infisical.auth_methods(m), ",")
      if methods:find("universal-auth", 1, true) then
        local list = assert(c:list_client_secrets(m.identity.id))
        for _, s in ipairs(list) do
          n = n + 1
          kinds[infisical.client_secret_status(s)] = true
        end
      else
        local _, err = c:list_client_secrets(m.identity.id)
        assert.equal(400, err.status)
      end
    end
    assert.is_true(n >= 8)
    assert.is_true(kinds.active and kinds.expired and kinds.exhausted or false)
  end)

  it("a Universal Auth client reads them with its own login", function()
    local s = ua_state("current")
    srv:reset(s)
    local c = assert(infisical.new{ base_url = srv.url, client_id = "fake-client-id",
      client_secret = "fake-client-secret" })
    assert.equal(4, #assert(c:list_client_secrets(UA)))
  end)
end)

describe("list_many_client_secrets and stream_many_client_secrets", function()
  local srv
  setup(function() srv = fake.start{ state = H.org_state(30) } end)
  teardown(function() srv:stop() end)

  it("read many identities' client secrets at once, each answer or error its own", function()
    srv:reset(H.org_state(30))
    local c = H.client(srv)
    local ua, other = {}, nil
    for m in c:each_identity(H.ORG) do
      local methods = table.concat(infisical.auth_methods(m), ",")
      if methods:find("universal-auth", 1, true) then ua[#ua + 1] = m.identity.id
      elseif not other then other = m.identity.id end
    end
    assert.is_true(#ua >= 10)
    local ids = { other }
    for _, id in ipairs(ua) do ids[#ids + 1] = id end
    local before = #H.api_requests(srv)
    local results, errors = c:list_many_client_secrets(ids, { concurrency = 4 })
    assert.equal(#ids, #H.api_requests(srv) - before)   -- one request per identity
    assert.same({ "http", 400 }, { errors[other].kind, errors[other].status })
    assert.is_nil(results[other])
    for _, id in ipairs(ua) do
      assert.same(assert(c:list_client_secrets(id)), results[id])
      assert.is_nil(errors[id])
    end
    -- filters, and no errors table when none failed
    local active, none = c:list_many_client_secrets(ua, { status = "active" })
    assert.is_nil(none)
    for _, id in ipairs(ua) do
      for _, s in ipairs(active[id]) do assert.equal("active", infisical.client_secret_status(s)) end
    end
    -- the stream gives the same, as each identity completes
    local n = 0
    for id, list, err in c:stream_many_client_secrets(ua, { concurrency = 3 }) do
      n = n + 1
      assert.is_nil(err)
      assert.same(results[id], list)
    end
    assert.equal(#ua, n)
    assert.has_error(function() c:list_many_client_secrets(ua, { page_size = 10 }) end,
      "infisical: list_many_client_secrets: unknown option 'page_size'")
  end)

  it("paces under the server's rate limit: every identity answered, no 429 beyond the concurrency", function()
    local s = H.org_state(40)
    s.rate_limit = { limit = 10, window = 1, per_route = false }
    srv:reset(s)
    local c = H.client(srv, { retries = 0 })
    local ids = {}
    for m in c:each_identity(H.ORG) do
      if table.concat(infisical.auth_methods(m), ","):find("universal-auth", 1, true) then
        ids[#ids + 1] = m.identity.id
      end
    end
    local results, errors = c:list_many_client_secrets(ids, { concurrency = 4 })
    assert.is_nil(errors)
    for _, id in ipairs(ids) do assert.is_table(results[id]) end
    local n429 = 0
    for _, q in ipairs(H.api_requests(srv)) do if q.status == 429 then n429 = n429 + 1 end end
    assert.is_true(n429 <= 4, n429)
  end)
end)
