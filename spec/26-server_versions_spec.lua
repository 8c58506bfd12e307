-- What depends on the server's era (issue 16): the token-lifetime ceiling of 2026 servers
-- (GET /api/status), their refusals, their silence about use, token by id, newer auth
-- method names; each run against the fake's current mode (the 2026 server, from upstream's
-- source) and its legacy mode (the late-2024 server of the recordings).
local H = require "spec.helpers"
local fake = H.fake
local infisical = require "infisical"
local cjson = require "cjson"

local DAY = 86400
local CEILING = 7776000
local LEGACY_FROM = 1777852800          -- 2026-05-04T00:00:00Z
local I = H.ID1

local function iso(t) return os.date("!%Y-%m-%dT%H:%M:%S.000Z", t) end

local function rec(over)
  local r = fake.token_record(over)
  for k, v in pairs(r) do if v == fake.null then r[k] = nil end end
  return r
end

describe("the token-lifetime ceiling, pure", function()
  it("a TTL-0 record dies at the legacy enforcement date plus the ceiling, whenever issued", function()
    local t = rec{ accessTokenTTL = 0, createdAt = "2025-01-01T00:00:00.000Z" }
    assert.same({ nil, "never" }, { infisical.expires_at(t) })
    assert.equal(LEGACY_FROM + CEILING, infisical.expires_at(t, CEILING))
    assert.equal(LEGACY_FROM + CEILING, infisical.expires_at(t, { max_token_ttl = CEILING }))
    assert.equal("active", infisical.token_status(t, LEGACY_FROM + CEILING, CEILING))
    assert.equal("expired", infisical.token_status(t, LEGACY_FROM + CEILING + 1, CEILING))
    assert.equal("active", infisical.token_status(t, LEGACY_FROM + CEILING + 1))    -- no ceiling
    -- a server without the field: a view without max_token_ttl keeps "never"
    assert.same({ nil, "never" }, { infisical.expires_at(t, { counts_uses = true }) })
  end)

  it("a record with a TTL keeps its own expiry (the server signed it with that exp)", function()
    local t = rec{ accessTokenTTL = 3600, accessTokenMaxTTL = 0, createdAt = "2026-11-01T00:00:00.000Z" }
    local created = infisical.parse_time(t.createdAt)
    assert.equal(created + 3600, infisical.expires_at(t, CEILING))
    -- periodic: no max TTL, the (capped) TTL from the last renewal
    local p = rec{ accessTokenTTL = 600, accessTokenMaxTTL = 60, accessTokenPeriod = 600,
      createdAt = "2026-11-01T00:00:00.000Z" }
    assert.equal(created + 600, infisical.expires_at(p, CEILING))
  end)

  it("raises on a server argument of the wrong type, naming it", function()
    assert.error_matches(function() infisical.expires_at(rec{}, "90d") end, "bad argument 'server'")
    assert.error_matches(function() infisical.token_status(rec{}, 0, "90d") end, "bad argument 'server'")
  end)
end)

describe("the refusals of 2026 servers (src/response.c classify)", function()
  local core = require "infisical.core"
  -- the messages of identity-access-token-fns.ts revocationDenyReasonToMessage and
  -- identity-access-token-service.ts (commit 0b118066c4a2), with the hint each gets
  for _, case in ipairs{
    { "Failed to authorize: token has been revoked", "was revoked: use a new token" },
    { "Failed to authorize: identity tokens have been revoked", "issued before a revocation" },
    { "Failed to authorize: client secret has been revoked", "client secret" },
    { "Failed to authorize: auth method has been revoked", "auth method" },
    { "Failed to authorize: Identity is not a member of the organization", "no longer an active member" },
    { "Failed to authorize: Identity organization membership is inactive", "no longer an active member" },
    { "Failed to authorize: token usage limit reached", "used up" },
    { "Failed to authorize: token revoked or usage limit reached", "was revoked" },
    { "Identity access token exceeded max age, please re-authenticate", "token-lifetime ceiling" },
    { "Cannot renew: identity access token has reached its max TTL", "token-lifetime ceiling" },
  } do
    it(case[1], function()
      local _, err = core.parse(401, cjson.encode{ reqId = "req-abc", statusCode = 401,
        error = "UnauthorizedError", message = case[1] }, {}, "GET", "http://h/x")
      assert.same({ "auth", 401, "req-abc" }, { err.kind, err.status, err.req_id })
      assert.matches(case[2], err.hint, 1, true)
      assert.matches(case[2], tostring(err), 1, true)
    end)
  end
end)

describe("server versions against the fake", function()
  local srv
  local now = os.time()
  -- a record of each kind: TTL 0 and 120 days old, a normal one, a fresh TTL-0 one
  local function records()
    return {
      rec{ id = "d0000000-0000-4000-8000-000000000001", identityId = I, name = "old-ttl0",
        accessTokenTTL = 0, accessTokenMaxTTL = 0, createdAt = iso(now - 120 * DAY), updatedAt = iso(now - 120 * DAY) },
      rec{ id = "d0000000-0000-4000-8000-000000000002", identityId = I, name = "fresh",
        accessTokenTTL = 3600, createdAt = iso(now - 60), updatedAt = iso(now - 60) },
    }
  end

  setup(function() srv = fake.start{ fixture = H.FIXTURE } end)
  teardown(function() srv:stop() end)

  for _, mode in ipairs{ "current", "legacy" } do
    describe(mode, function()
      before_each(function()
        srv:reset(H.state({ [I] = { tokens = records() } }, { mode = mode }))
      end)

      it("learns the ceiling once per client from /api/status, without credentials", function()
        local c = H.client(srv)
        local sv = assert(c:server_info())
        if mode == "current" then
          assert.same({ CEILING, false, "server" }, { sv.max_token_ttl, sv.counts_uses, sv.source })
        else
          assert.same({ nil, true, "server" }, { sv.max_token_ttl, sv.counts_uses, sv.source })
        end
        assert.equal(sv, c:server_info())
        c:all_tokens(I, { status = "active" })
        c:all_tokens(I, { status = "expired" })
        local statuses = 0
        for _, r in ipairs(H.api_requests(srv)) do
          if r.path == "/api/status" then
            statuses = statuses + 1
            assert.is_nil(r.headers.authorization)
          end
        end
        assert.equal(1, statuses)
      end)

      it("a TTL-0 token 120 days old: expired where the server enforces a ceiling", function()
        local c = H.client(srv)
        local function names(st)
          local out = {}
          for _, t in ipairs(assert(c:all_tokens(I, { status = st }))) do out[#out + 1] = t.name end
          table.sort(out)
          return out
        end
        if mode == "current" then
          assert.same({ "old-ttl0" }, names("expired"))
          assert.same({ "fresh" }, names("active"))
        else
          assert.same({}, names("expired"))
          assert.same({ "fresh", "old-ttl0" }, names("active"))
        end
        -- list_many and stream_many take it too
        local res = c:list_many({ I }, { status = "expired" })
        assert.equal(mode == "current" and 1 or 0, #res[I])
      end)

      it("the max_token_ttl option sets the ceiling by hand, or turns it off, without a request", function()
        local off = H.client(srv, { max_token_ttl = false })
        assert.equal(0, #assert(off:all_tokens(I, { status = "expired" })))
        local hand = H.client(srv, { max_token_ttl = 30 * DAY })
        assert.equal(1, #assert(hand:all_tokens(I, { status = "expired" })))
        for _, r in ipairs(H.api_requests(srv)) do assert.are_not.equal("/api/status", r.path) end
        assert.error_matches(function() H.client(srv, { max_token_ttl = 0 }) end, "bad argument 'max_token_ttl'")
        assert.error_matches(function() H.client(srv, { max_token_ttl = "90d" }) end, "bad argument 'max_token_ttl'")
      end)

      it("a failure of /api/status is the walk's error, never a status without the ceiling", function()
        srv:faults{ { match = "/api/status", status = 503, body = { message = "down" }, ["repeat"] = 10 } }
        local c = H.client(srv, { retries = 0 })
        local got, err = c:all_tokens(I, { status = "active" })
        assert.is_nil(got)
        assert.equal(503, err.status)
        assert.has_error(function() for _ in c:each_token(I, { status = "active" }) do end end)
        local res, errs = c:list_many({ I }, { status = "active" })
        errs = errs or {}   -- nil when every identity succeeded
        assert.is_nil(res[I])
        assert.equal(503, errs[I].status)
        local n = 0
        for id, toks, e in c:stream_many({ I }, { status = "active" }) do
          n = n + 1
          assert.equal(I, id); assert.is_nil(toks); assert.equal(503, e.status)
        end
        assert.equal(1, n)
        srv:clear_faults()
        -- a walk without a status filter asks nothing
        assert.equal(2, #assert(c:all_tokens(I)))
      end)

      it("use: the late-2024 server writes it, a 2026 one does not; unused_for says so", function()
        local st = H.state({ [I] = { tokens = records() } }, { mode = mode, usage_write_delay = 0 })
        local bearer = "era-token"
        st.access_tokens[bearer] = { token_id = "d0000000-0000-4000-8000-000000000002", identity_id = I }
        srv:reset(st)
        local user = H.client(srv, { token = bearer })
        assert(user:list_tokens(I))
        local fresh
        for _, t in ipairs(assert(H.client(srv):all_tokens(I))) do if t.name == "fresh" then fresh = t end end
        local c = H.client(srv)
        local got, err = c:all_tokens(I, { unused_for = 0, now = os.time() + 10 })
        if mode == "current" then
          assert.equal(0, fresh.accessTokenNumUses)
          assert.is_nil(fresh.accessTokenLastUsedAt)
          assert.is_nil(got)
          assert.equal("unsupported", err.kind)
          assert.matches("does not record token use", tostring(err), 1, true)
        else
          assert.equal(1, fresh.accessTokenNumUses)
          assert.is_string(fresh.accessTokenLastUsedAt)
          assert.equal(2, #got)
        end
      end)

      it("refusals: kind auth with a hint in the user's terms, in each era's words", function()
        for _, case in ipairs{
          { "fake-revoked-token", "the access token was revoked" },
          { "fake-expired-token", "the access token has expired" },
        } do
          local _, err = H.client(srv, { token = case[1] }):list_tokens(I)
          assert.equal("auth", err.kind)
          assert.matches(case[2], err.hint, 1, true)
          if mode == "current" then assert.matches("^req%-", err.req_id) else assert.is_nil(err.req_id) end
        end
        -- used up
        local st = H.state({ [I] = { tokens = records() } }, { mode = mode })
        st.access_tokens["era-used"] = { state = "used_up" }
        srv:reset(st)
        local _, err = H.client(srv, { token = "era-used" }):list_tokens(I)
        assert.equal("auth", err.kind)
        assert.matches("used up", err.hint, 1, true)
        if mode == "current" then
          assert.equal("Failed to authorize: token usage limit reached", err.message)
          -- a legacy JWT past the enforcement date plus the ceiling
          st.access_tokens["era-legacy"] = { legacy = true }
          st.legacy_enforced_at = 0
          srv:reset(st)
          _, err = H.client(srv, { token = "era-legacy" }):list_tokens(I)
          assert.same({ "auth", 401 }, { err.kind, err.status })
          assert.matches("token-lifetime ceiling", err.hint, 1, true)
        end
      end)

      it("a token created now: its record holds the computed TTL (never 0) on a 2026 server", function()
        local st = H.state({ [I] = { tokens = {}, token_ttl = 0, token_max_ttl = 0 } }, { mode = mode })
        srv:reset(st)
        local res = srv:request{ method = "POST", path = "/api/v1/auth/token-auth/identities/" .. I .. "/tokens",
          body = { name = "new" }, headers = { Authorization = "Bearer " .. H.TOKEN } }
        assert.equal(200, res.status)
        local t = assert(H.client(srv):all_tokens(I))[1]
        if mode == "current" then
          assert.equal(CEILING, t.accessTokenTTL)
          assert.equal(CEILING, res.json.expiresIn)
        else
          assert.equal(0, t.accessTokenTTL)
        end
        assert.equal("active", infisical.token_status(t, nil, assert(H.client(srv):server_info())))
      end)

      it("get_token: the record by id on a 2026 server; the late-2024 one has no such route", function()
        local c = H.client(srv)
        local t, err = c:get_token("d0000000-0000-4000-8000-000000000002")
        if mode == "current" then
          assert.is_nil(err)
          assert.equal("fresh", t.name)
          local _, e2 = c:get_token("d0000000-0000-4000-8000-0000000000ff")
          assert.same({ "http", 404, "NotFound" }, { e2.kind, e2.status, e2.error })
        else
          assert.is_nil(t)
          assert.same({ "http", 404 }, { err.kind, err.status })
        end
        assert.error_matches(function() c:get_token("") end, "bad argument 'token_id'")
        assert.error_matches(function() c:get_token(7) end, "bad argument 'token_id'")
      end)

      it("another organisation's identity: 404 on a 2026 server", function()
        local st = H.org_state(3, { mode = mode })
        local other = "a1000000-0000-4000-8000-000000000001"
        st.identities[other] = { org_id = "another-org", tokens = {} }
        srv:reset(st)
        local _, err = H.client(srv):list_tokens(other)
        if mode == "current" then
          assert.same({ "http", 404, "NotFound" }, { err.kind, err.status, err.error })
        else
          assert.is_nil(err)   -- the late-2024 fake checks no organisation here (as recorded)
        end
      end)

      it("newer and unknown auth method names are never an error", function()
        local methods = { "jwt-auth", "ldap-auth", "alicloud-auth", "oci-auth", "tls-cert-auth",
          "spiffe-auth", "some-auth-of-2027", "token-auth" }
        local st = H.org_state(0, { mode = mode })
        local ids = {}
        for i, m in ipairs(methods) do
          local id = ("a2000000-0000-4000-8000-%012d"):format(i)
          ids[#ids + 1] = id
          st.identities[id] = { org_id = H.ORG, name = "m-" .. i,
            auth_methods = mode == "current" and { m, "token-auth" } or { m } }
        end
        srv:reset(st)
        local c = H.client(srv)
        local seen = 0
        for m in c:each_identity(H.ORG) do
          seen = seen + 1
          local ms = infisical.auth_methods(m)
          assert.is_true(#ms >= 1)
          assert.equal(mode == "current" or m.identity.name == "m-8", infisical.uses_token_auth(m), m.identity.name)
        end
        assert.equal(#methods, seen)
        local out, rc, err = H.cli({ "audit", "--org", H.ORG, "--format", "json" },
          { INFISICAL_API_URL = srv.url, INFISICAL_TOKEN = H.TOKEN })
        assert.is_true(rc == 0 or rc == 1, err)
        local doc = cjson.decode(out)
        assert.equal(0, doc.identitiesWithErrors)
        assert.equal(#methods, #doc.identities)
      end)

      it("unknown error names pass through as kind http with their status", function()
        for _, case in ipairs{ { 410, "Gone" }, { 403, "PermissionBoundaryError" }, { 403, "PolicyViolationError" },
            { 422, "ValidationFailure" } } do
          srv:faults{ { match = "/tokens", status = case[1], body = { reqId = "req-x1", statusCode = case[1],
            error = case[2], message = "nope", details = { missingPermissions = {} } } } }
          local _, err = H.client(srv, { retries = 0 }):list_tokens(I)
          assert.same({ "http", case[1], case[2], "req-x1" }, { err.kind, err.status, err.error, err.req_id })
          assert.is_table(err.details)
        end
      end)

      it("the command: list and audit use the ceiling; the audit is honest about use", function()
        local env = { INFISICAL_API_URL = srv.url, INFISICAL_TOKEN = H.TOKEN }
        local out, rc, err = H.cli({ "list", I, "--format", "json" }, env)
        assert.equal(0, rc, err)
        local by = {}
        for _, t in ipairs(cjson.decode(out)) do by[t.name] = t end
        assert.equal(mode == "current" and "expired" or "active", by["old-ttl0"].status)
        out = H.cli({ "list", I }, env)
        if mode == "current" then
          assert.matches("not recorded", out, 1, true)
        else
          assert.is_nil(out:find("not recorded", 1, true))
        end
        out, rc, err = H.cli({ "audit", I, "--format", "json" }, env)
        local doc = cjson.decode(out)
        local r = doc.identities[1]
        if mode == "current" then
          assert.is_false(r.useRecorded)
          assert.equal(cjson.null, r.neverUsed)
          assert.matches("does not record token use", err, 1, true)
          assert.equal(1, r.counts.expired)
        else
          assert.is_true(r.useRecorded)
          assert.equal(0, r.counts.expired)
          assert.equal("", err)
        end
        out = H.cli({ "audit", I }, env)
        assert.equal(mode == "current", out:find("n/a", 1, true) ~= nil)
      end)
    end)
  end
end)
