-- client:list_identities, client:each_identity and infisical.uses_token_auth against the
-- fake server's GET /api/v2/organizations/{orgId}/identity-memberships, in the current
-- and the late-2024 (legacy) shapes: paging over totalCount, search, errors, retries,
-- redaction and argument checks.
local infisical = require "infisical"
local H = require "spec.helpers"
local fake = H.fake

local ORG = H.ORG
local OTHER_ORG = H.OTHER_ORG

local org_state = H.org_state

local function collect(client, org, opts)
  local out = {}
  for m in client:each_identity(org, opts) do out[#out + 1] = m end
  return out
end

describe("organisation identities", function()
  local srv

  setup(function() srv = fake.start{ fixture = H.FIXTURE } end)
  teardown(function() srv:stop() end)
  before_each(function() srv:reset(org_state(250)) end)

  describe("list_identities", function()
    it("returns one page as the server sent it, with totalCount", function()
      local c = H.client(srv)
      local page = assert(c:list_identities(ORG))
      assert.equal(250, page.totalCount)
      assert.equal(100, #page.identityMemberships)   -- the server's default limit
      page = assert(c:list_identities(ORG, { offset = 240, page_size = 20 }))
      assert.equal(10, #page.identityMemberships)
      local m = page.identityMemberships[1]
      assert.is_string(m.identityId)
      assert.equal(m.identityId, m.identity.id)
      assert.is_table(m.identity.authMethods)
      assert.same({}, m.metadata)            -- unknown fields are kept
      local reqs = H.api_requests(srv)
      assert.same({ offset = "240", limit = "20" }, reqs[#reqs].query)
    end)

    it("sends search, orderBy and orderDirection; the server filters and orders", function()
      local c = H.client(srv)
      local page = assert(c:list_identities(ORG, { search = "CI-", page_size = 100 }))
      assert.equal(25, page.totalCount)      -- ci-00003, ci-00013, ... ci-00243
      for _, m in ipairs(page.identityMemberships) do assert.matches("^ci%-", m.identity.name) end
      local desc = assert(c:list_identities(ORG, { order_by = "name", order_direction = "desc", page_size = 1 }))
      assert.equal("svc-00250", desc.identityMemberships[1].identity.name)
      local reqs = H.api_requests(srv)
      assert.same({ offset = "0", limit = "1", orderBy = "name", orderDirection = "desc" },
        reqs[#reqs].query)
      -- a search with characters a URL must escape reaches the server intact
      srv:reset(org_state(0, { identities = {
        [fake.identity_id(7)] = { org_id = ORG, name = "a&b=c d/é", auth_methods = { "token-auth" } },
        [fake.identity_id(8)] = { org_id = ORG, name = "other", auth_methods = { "token-auth" } },
      } }))
      page = assert(c:list_identities(ORG, { search = "&b=c d/é" }))
      assert.equal(1, page.totalCount)
      assert.equal(fake.identity_id(7), page.identityMemberships[1].identityId)
    end)

    it("escapes the org id into one path segment", function()
      local c = H.client(srv)
      local page, err = c:list_identities("../../v1/x?y")
      assert.is_nil(page)
      assert.equal(403, err.status)
      local reqs = H.api_requests(srv)
      assert.equal("/api/v2/organizations/%2E%2E%2F%2E%2E%2Fv1%2Fx%3Fy/identity-memberships",
        reqs[#reqs].path)
    end)
  end)

  describe("each_identity", function()
    it("walks every page until totalCount, each identity once", function()
      local c = H.client(srv)
      local all = collect(c, ORG, { page_size = 60 })
      assert.equal(250, #all)
      local seen = {}
      for _, m in ipairs(all) do
        assert.is_nil(seen[m.identityId]); seen[m.identityId] = true
      end
      -- 250 = 60 * 4 + 10: five requests, the last one short
      local reqs = H.api_requests(srv)
      assert.equal(5, #reqs)
      assert.same({ offset = "240", limit = "60" }, reqs[5].query)
    end)

    it("stops at totalCount without asking for an empty page", function()
      srv:reset(org_state(120))
      local c = H.client(srv)
      assert.equal(120, #collect(c, ORG, { page_size = 60 }))
      assert.equal(2, #H.api_requests(srv))
    end)

    it("walks a few thousand identities", function()
      srv:reset(org_state(3000))
      local c = H.client(srv)
      local n, ta = 0, 0
      for m in c:each_identity(ORG, { page_size = 1000 }) do
        n = n + 1
        if infisical.uses_token_auth(m) then ta = ta + 1 end
      end
      assert.equal(3000, n)
      -- every 5th is Universal Auth only, every 7th (not 5th) has no method
      assert.equal(3000 - 600 - (428 - 85), ta)
      assert.equal(3, #H.api_requests(srv))
    end)

    it("filters on Token Auth, and passes the search on", function()
      local c = H.client(srv)
      local ta = collect(c, ORG, { token_auth = true })
      local other = collect(c, ORG, { token_auth = false })
      assert.equal(250, #ta + #other)
      for _, m in ipairs(ta) do assert.is_true(infisical.uses_token_auth(m)) end
      for _, m in ipairs(other) do assert.is_false(infisical.uses_token_auth(m)) end
      assert.equal(25, #collect(c, ORG, { search = "ci-" }))
      -- list_identities takes token_auth too (issue 20 §2): that page, filtered alike
      local page = assert(c:list_identities(ORG, { page_size = 250, token_auth = true }))
      assert.equal(#ta, #page.identityMemberships)
      assert.equal(250, page.totalCount)
      local rest = assert(c:list_identities(ORG, { page_size = 250, token_auth = false }))
      assert.equal(#other, #rest.identityMemberships)
      -- each_identity's second value: the listing, with the server's total
      local iter, listing = c:each_identity(ORG, { page_size = 100 })
      for _ in iter, listing do end
      assert.same({ truncated = false, total = 250 }, listing)
    end)

    it("never repeats an identity when rows shift between pages", function()
      -- the first page is served, then the same page again (as if rows moved down)
      local c = H.client(srv)
      local first = assert(c:list_identities(ORG, { page_size = 50 }))
      srv:faults{ { match = "/identity-memberships", after = 1, status = 200,
        body = { identityMemberships = first.identityMemberships, totalCount = 250 } } }
      local all = collect(c, ORG, { page_size = 50 })
      local seen, n = {}, 0
      for _, m in ipairs(all) do
        assert.is_nil(seen[m.id]); seen[m.id] = true; n = n + 1
      end
      assert.equal(200, n)    -- 50 rows of the repeated page were dropped
    end)

    it("goes on after a short page while totalCount says there is more (issue 18 §2)", function()
      -- a server that gives fewer rows than asked for (a capped page size)
      local c = H.client(srv)
      local first = assert(c:list_identities(ORG, { page_size = 20 }))
      srv:faults{ { match = "/identity-memberships", status = 200,
        body = { identityMemberships = first.identityMemberships, totalCount = 250 } } }
      local all = collect(c, ORG, { page_size = 60 })
      local seen = {}
      for _, m in ipairs(all) do assert.is_nil(seen[m.id]); seen[m.id] = true end
      assert.equal(250, #all)
      local reqs = H.api_requests(srv)
      assert.same({ offset = "20", limit = "60" }, reqs[3].query)   -- after the list_identities and the short page
    end)

    it("fails, saying so, at an empty page before totalCount", function()
      local c = H.client(srv, { retries = 0 })
      srv:faults{ { match = "/identity-memberships", after = 1, status = 200,
        body = { identityMemberships = {}, totalCount = 250 } } }
      local n = 0
      local ok, err = pcall(function()
        for _ in c:each_identity(ORG, { page_size = 100 }) do n = n + 1 end
      end)
      assert.is_false(ok)
      assert.equal(100, n)
      assert.equal("decode", err.kind)
      assert.matches("identities page at offset 100 is empty but the server's totalCount says 250",
        tostring(err), 1, true)
    end)

    it("raises the error object mid-walk, never ending quietly", function()
      local c = H.client(srv, { retries = 0 })
      srv:faults{ { match = "/identity-memberships", after = 1, status = 500,
        body = { statusCode = 500, error = "InternalServerError", message = "Something went wrong" } } }
      local n = 0
      local ok, err = pcall(function()
        for _ in c:each_identity(ORG, { page_size = 100 }) do n = n + 1 end
      end)
      assert.is_false(ok)
      assert.equal(100, n)
      assert.equal(500, err.status)
      assert.equal("http", err.kind)
    end)
  end)

  it("works with a Universal Auth client (logs in first)", function()
    local s = org_state(30)
    s.universal_auth["fake-client-id"].org_id = ORG
    srv:reset(s)
    local c = assert(infisical.new{ base_url = srv.url, client_id = "fake-client-id",
      client_secret = "fake-client-secret" })
    assert.equal(30, #collect(c, ORG))
    local reqs = H.api_requests(srv)
    assert.equal("/api/v1/auth/universal-auth/login", reqs[1].path)
    assert.equal(2, #reqs)
  end)

  describe("both shapes", function()
    -- identity-org-router's response schema names no lastLogin fields: the serializer drops them
    it("current: authMethods (a list); no lastLoginAuthMethod, no lastLoginTime", function()
      local c = H.client(srv)
      local page = assert(c:list_identities(ORG, { page_size = 14, search = "svc-0000" }))
      local by_name = {}
      for _, m in ipairs(page.identityMemberships) do by_name[m.identity.name] = m end
      assert.same({ "token-auth" }, by_name["svc-00001"].identity.authMethods)
      assert.same({ "token-auth", "universal-auth" }, by_name["svc-00006"].identity.authMethods)
      assert.is_nil(by_name["svc-00006"].lastLoginAuthMethod)
      assert.is_nil(by_name["svc-00006"].lastLoginTime)
      assert.same({}, by_name["svc-00007"].identity.authMethods)
      assert.is_true(infisical.uses_token_auth(by_name["svc-00006"]))
      assert.is_false(infisical.uses_token_auth(by_name["svc-00005"]))
      assert.is_false(infisical.uses_token_auth(by_name["svc-00007"]))
    end)

    it("legacy: one authMethod, or none (null)", function()
      srv:reset(org_state(14, { mode = "legacy" }))
      local c = H.client(srv)
      local page = assert(c:list_identities(ORG))
      local by_name = {}
      for _, m in ipairs(page.identityMemberships) do
        by_name[m.identity.name] = m
        assert.is_nil(m.identity.authMethods)
      end
      assert.equal("token-auth", by_name["svc-00006"].identity.authMethod)
      assert.is_nil(by_name["svc-00007"].identity.authMethod)   -- JSON null
      assert.equal("universal-auth", by_name["svc-00005"].identity.authMethod)
      assert.is_true(infisical.uses_token_auth(by_name["svc-00006"]))
      assert.is_false(infisical.uses_token_auth(by_name["svc-00005"]))
      assert.is_false(infisical.uses_token_auth(by_name["svc-00007"]))
      assert.same({ "token-auth" }, infisical.auth_methods(by_name["svc-00006"]))
      assert.same({}, infisical.auth_methods(by_name["svc-00007"]))
    end)

    it("uses_token_auth takes a membership or an identity record", function()
      assert.is_true(infisical.uses_token_auth{ authMethods = { "universal-auth", "token-auth" } })
      assert.is_true(infisical.uses_token_auth{ authMethod = "token-auth" })
      assert.is_true(infisical.uses_token_auth{ identity = { authMethod = "token-auth" } })
      assert.is_false(infisical.uses_token_auth{ identity = { authMethods = {} } })
      assert.is_false(infisical.uses_token_auth{ identity = { authMethod = "universal-auth" } })
      assert.is_false(infisical.uses_token_auth{})
      -- the list wins over a stray single field
      assert.is_false(infisical.uses_token_auth{ authMethods = { "oidc-auth" }, authMethod = "token-auth" })
      assert.has_error(function() infisical.uses_token_auth(nil) end,
        "infisical: uses_token_auth: bad argument 'identity' (table expected, got nil)")
      assert.has_error(function() infisical.auth_methods("x") end,
        "infisical: auth_methods: bad argument 'identity' (table expected, got string)")
    end)

    it("the identities that use Token Auth have listable tokens", function()
      srv:reset(org_state(20))
      local c = H.client(srv)
      local n = 0
      for m in c:each_identity(ORG, { token_auth = true }) do
        local tokens = assert(c:all_tokens(m.identityId))
        assert.equal(2, #tokens)
        n = n + 1
      end
      assert.is_true(n > 10)
      for m in c:each_identity(ORG, { token_auth = false }) do
        if infisical.auth_methods(m)[1] then
          local tokens, err = c:all_tokens(m.identityId)
          assert.is_nil(tokens)
          assert.equal(400, err.status)
        end
      end
    end)
  end)

  describe("errors", function()
    local function err_of(opts, org, copts)
      local c = H.client(srv, copts)
      local page, err = c:list_identities(org or ORG, opts)
      assert.is_nil(page)
      assert.is_table(err)
      return err
    end

    it("401 without a valid token, 403 TokenError for a malformed one: kind auth", function()
      local e = err_of(nil, nil, { token = "fake-revoked-token" })
      assert.same({ "auth", 401 }, { e.kind, e.status })
      assert.equal("Failed to authorize: token has been revoked", e.message)
      e = err_of(nil, nil, { token = "fake-malformed-token" })
      assert.same({ "auth", 403, "TokenError" }, { e.kind, e.status, e.error })
    end)

    it("403 for an org the token's identity is not in (kind http, with a hint), and without read permission (kind permission)", function()
      local e = err_of(nil, OTHER_ORG)
      assert.same({ "http", 403, "Identity is not apart of this organization" }, { e.kind, e.status, e.error })
      assert.equal("You are not allowed to access this resource", e.message)
      assert.matches("not a member of organisation " .. OTHER_ORG:gsub("%-", "%%-"), e.hint)
      assert.matches("check the organisation id", tostring(e))
      e = err_of(nil, nil, { token = "fake-noperm-token" })
      assert.same({ "permission", 403, "PermissionDenied" }, { e.kind, e.status, e.error })
    end)

    it("legacy: 500 for a malformed org id, with a hint", function()
      srv:reset(org_state(3, { mode = "legacy" }))
      local e = err_of(nil, "not-a-uuid", { retries = 0 })
      assert.same({ "http", 500, "GetOrgIdentityPermission" }, { e.kind, e.status, e.error })
      assert.is_nil(e.req_id)
      assert.matches("organisation id is probably malformed", e.hint)
    end)

    it("404 from a server without the route (an older build, or a wrong base URL)", function()
      srv:faults{ { match = "/identity-memberships", status = 404, body = { statusCode = 404,
        error = "Not Found", message = "Route GET:/api/v2/organizations/x/identity-memberships not found" } } }
      local e = err_of()
      assert.equal(404, e.status)
      assert.equal("http", e.kind)
      assert.matches("not found", e.message)
    end)

    it("validation failures: 422 (legacy 401) with the issues", function()
      -- the library never sends out-of-range paging; a server with a lower limit would answer so
      srv:faults{ { match = "/identity-memberships", status = 422, body = { statusCode = 422,
        error = "ValidationFailure", reqId = "req-1", message = { { code = "too_big", maximum = 50,
        path = { "limit" }, message = "Number must be less than or equal to 50" } } } } }
      local e = err_of({ page_size = 100 })
      assert.same({ 422, "ValidationFailure" }, { e.status, e.error })
      assert.equal("limit: Number must be less than or equal to 50", e.message)
      assert.equal("too_big", e.issues[1].code)
      srv:reset(org_state(3, { mode = "legacy" }))
      srv:faults{ { match = "/identity-memberships", status = 401, body = { statusCode = 401,
        error = "ValidationFailure", message = { { code = "too_big", maximum = 50,
        path = { "limit" }, message = "Number must be less than or equal to 50" } } } } }
      e = err_of({ page_size = 100 })
      assert.same({ 401, "ValidationFailure" }, { e.status, e.error })
      assert.equal("too_big", e.issues[1].code)
    end)

    it("retries 5xx and 429 through the client's request path, waiting what retry-after says", function()
      srv:reset(org_state(30, { rate_limit = { limit = 1, window = 60 } }))
      srv:faults{ { match = "/identity-memberships", status = 503, body = "" } }
      local waits = {}
      local c = H.client(srv, { retries = 2, sleep = function(s) waits[#waits + 1] = s end })
      assert(c:list_identities(ORG))          -- a 503, then the one read of the window
      assert.equal(1, #waits)
      local page, err = c:list_identities(ORG)
      assert.is_nil(page)
      assert.same({ 429, "RateLimitExceeded" }, { err.status, err.error })
      -- (the sleep does not sleep, so the window never ends:) the headers said the window
      -- was spent, so the request waits for its end first; its first 429 pauses it without
      -- using up a retry (issue 12), up to max_retry_wait in all; then 2 retries
      assert.equal(4, err.attempts)
      assert.equal(5, #waits)
      for i = 2, 5 do assert.is_true(waits[i] >= 55 and waits[i] <= 60, tostring(waits[i])) end
    end)

    it("reports malformed pages as kind decode", function()
      local cases = {
        { "{}", "no 'identityMemberships' array" },
        { '{"identityMemberships":{"a":1},"totalCount":1}', "is not an array" },
        { '{"identityMemberships":[{"id":"x"}],"totalCount":1}', "has no 'identity' object" },
        { '{"identityMemberships":[{"identity":{"name":"n"}}],"totalCount":1}', "no string 'identity.id'" },
        { '{"identityMemberships":[],"totalCount":"5"}', "'totalCount' is not a count" },
        { '{"identityMemberships":[{"identity":{"id":"a"}},{"identity":{"id":"b"}}],"totalCount":2}',
          "server sent 2 identities for a page of 1" },
      }
      for _, case in ipairs(cases) do
        srv:faults{ { match = "/identity-memberships", status = 200,
          headers = { ["Content-Type"] = "application/json" }, body = case[1] } }
        local e = err_of({ page_size = 1 })
        assert.equal("decode", e.kind, case[1])
        assert.matches(case[2], e.message, 1, true)
      end
    end)

    it("never shows the token even when the server echoes it", function()
      srv:faults{ { match = "/identity-memberships", status = 400, body = { error = "Echo",
        message = "you sent Bearer " .. H.TOKEN } } }
      local e = err_of()
      assert.matches("%[REDACTED%]", e.message)
      assert.is_nil(tostring(e):find(H.TOKEN, 1, true))
    end)
  end)

  describe("argument checks", function()
    local c
    before_each(function() c = H.client(srv) end)

    it("raise naming org_id", function()
      for _, case in ipairs{
        { nil, "non%-empty string expected, got nil" }, { 42, "non%-empty string expected, got number" },
        { "", "empty string" }, { ("x"):rep(257), "longer than 256 bytes" },
        { "a\nb", "contains a control character" }, { "a\0b", "contains a control character" },
      } do
        assert.has_error(function() c:list_identities(case[1]) end)
        local ok, msg = pcall(c.list_identities, c, case[1])
        assert.is_false(ok)
        assert.matches("^infisical: list_identities: bad argument 'org_id' %(" .. case[2], msg)
        ok, msg = pcall(c.each_identity, c, case[1])
        assert.matches("^infisical: each_identity: bad argument 'org_id'", msg)
      end
      -- the error points at the caller's line, not the library's
      local ok, msg = pcall(function() c:list_identities("") end)
      assert.is_false(ok)
      assert.matches("12%-identities_spec%.lua:%d+: infisical: list_identities", msg)
    end)

    it("raise naming the paging argument out of range", function()
      for _, case in ipairs{
        { { page_size = 0 }, "page_size" }, { { page_size = 20001 }, "page_size" }, { { page_size = 1.5 }, "page_size" },
        { { offset = -1 }, "offset" }, { { offset = "0" }, "offset" },
        { { order_direction = "up" }, "order_direction" }, { { order_by = "role" }, "order_by" },
        { { search = 5 }, "search" }, { { search = "a\rb" }, "search" },
      } do
        local ok, msg = pcall(c.list_identities, c, ORG, case[1])
        assert.is_false(ok)
        assert.matches("bad argument '" .. case[2] .. "'", msg, 1, true)
      end
      -- one name per concept (issue 20 §2): page_size in every call, never the server's limit
      for _, f in ipairs{ c.list_identities, c.each_identity } do
        local ok, msg = pcall(f, c, ORG, { limit = 5 })
        assert.is_false(ok)
        assert.matches("unknown option 'limit' (use page_size", msg, 1, true)
      end
      assert.error_matches(function() c:list_identities(ORG, { token_auth = "yes" }) end, "'token_auth'")
      for _, case in ipairs{ { { page_size = 0 }, "page_size" }, { { page_size = 20001 }, "page_size" },
          { { token_auth = "yes" }, "token_auth" } } do
        local ok, msg = pcall(c.each_identity, c, ORG, case[1])
        assert.is_false(ok)
        assert.matches("bad argument '" .. case[2] .. "'", msg, 1, true)
      end
      assert.equal(0, #H.api_requests(srv))
    end)

    it("raise on a bad self or a closed client", function()
      assert.has_error(function() c.list_identities({}, ORG) end)
      c:close()
      assert.has_error(function() c:list_identities(ORG) end, "infisical: client is closed")
    end)
  end)
end)
