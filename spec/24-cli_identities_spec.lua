-- `infisical-tokens identities --org ORG_ID` run as a user runs it (a child process
-- against the fake server): the three formats, both record shapes, errors and usage.
local H = require "spec.helpers"
local fake = H.fake
local cjson = require "cjson"

local ORG = H.ORG
local OTHER_ORG = H.OTHER_ORG

local cli, lines = H.cli, H.lines   -- stdout, exit status, stderr

local org_state = H.org_state

describe("infisical-tokens identities", function()
  local srv, env

  setup(function()
    srv = fake.start{ fixture = H.FIXTURE }
    env = { INFISICAL_API_URL = srv.url, INFISICAL_TOKEN = H.TOKEN }
  end)
  teardown(function() srv:stop() end)
  before_each(function() srv:reset(org_state(12)) end)

  -- the server's answer, by identity id (the control API, not the library)
  local function server_view(mode)
    local res = srv:request{ path = "/api/v2/organizations/" .. ORG .. "/identity-memberships?limit=1000",
      headers = { Authorization = "Bearer " .. H.TOKEN } }
    assert.equal(200, res.status, mode)
    local out = {}
    for _, m in ipairs(res.json.identityMemberships) do out[m.identityId] = m end
    return out, res.json.totalCount
  end

  it("prints an aligned table: id, name, auth methods, token auth, role, last login", function()
    local out, rc, err = cli({ "identities", "--org", ORG }, env)
    assert.equal(0, rc, err)
    local l = lines(out)
    assert.equal(13, #l)
    assert.matches("^IDENTITY ID%s+NAME%s+AUTH METHODS%s+TOKEN AUTH%s+ROLE%s+LAST LOGIN %(UTC%)$", l[1])
    local view = server_view()
    local rows = {}
    for i = 2, #l do
      local id, name, methods, ta = l[i]:match("^(%S+)%s+(%S+)%s+(%S+)%s+(%S+)")
      assert.is_table(view[id], l[i])
      assert.equal(view[id].identity.name, name)
      local want = #view[id].identity.authMethods > 0
        and table.concat(view[id].identity.authMethods, ",") or "none"
      assert.equal(want, methods)
      rows[name] = { methods = methods, ta = ta, line = l[i] }
    end
    assert.equal("yes", rows["svc-00006"].ta)
    assert.equal("token-auth,universal-auth", rows["svc-00006"].methods)
    assert.equal("no", rows["svc-00005"].ta)
    assert.equal("none", rows["svc-00007"].methods)
    -- the memberships route sends no lastLoginTime (neither era): unknown, not "never"
    assert.matches("%s%-$", rows["svc-00006"].line)
    assert.matches("%s%-$", rows["svc-00001"].line)
    -- the server's order: by name
    assert.matches("ci%-00003", l[2])
  end)

  it("prints JSON: one array of records of the same shape in both server shapes", function()
    for _, mode in ipairs{ "current", "legacy" } do
      srv:reset(org_state(12, { mode = mode }))
      local out, rc, err = cli({ "identities", "--org", ORG, "--format", "json" }, env)
      assert.equal(0, rc, err)
      local list = cjson.decode(out)
      assert.equal(12, #list)
      local view = server_view(mode)
      local ta = 0
      for _, r in ipairs(list) do
        local m = view[r.identityId]
        assert.is_table(m, mode)
        assert.equal(m.identity.name, r.name)
        assert.equal(m.id, r.membershipId)
        assert.equal(ORG, r.orgId)
        assert.equal("member", r.role)
        assert.is_table(r.authMethods)
        if mode == "legacy" then
          assert.same(m.identity.authMethod ~= cjson.null and { m.identity.authMethod } or {}, r.authMethods)
          assert.equal(cjson.null, r.lastLoginTime)
        else
          assert.same(m.identity.authMethods, r.authMethods)
        end
        local uses = false
        for _, a in ipairs(r.authMethods) do if a == "token-auth" then uses = true end end
        assert.equal(uses, r.usesTokenAuth)
        if uses then ta = ta + 1 end
        for _, k in ipairs{ "lastLoginAuthMethod", "lastLoginTime", "createdAt", "updatedAt" } do
          assert.is_true(r[k] ~= nil, k)        -- present, null when the server sent none
        end
      end
      assert.equal(9, ta)   -- legacy shows the first of two methods: token-auth
      -- an empty table of auth methods is a JSON array, not an object
      assert.matches('"authMethods": %[%]', out)
    end
  end)

  it("prints CSV with a header row", function()
    local out, rc, err = cli({ "identities", "--org", ORG, "--format", "csv" }, env)
    assert.equal(0, rc, err)
    local l = lines(out)
    assert.equal("identity_id,name,auth_methods,token_auth,role,last_login_auth_method,last_login_time,created_at", l[1])
    assert.equal(13, #l)
    -- CRLF line ends (fake.run drops the last "\n")
    assert.equal(12, select(2, out:gsub("\r\n", "")))
    assert.equal("\r", out:sub(-1))
    local view = server_view()
    local by_name = {}
    for i = 2, #l do
      local f = {}
      for x in (l[i] .. ","):gmatch("([^,]*),") do f[#f + 1] = x end
      assert.equal(8, #f, l[i])
      local m = view[f[1]]
      assert.equal(m.identity.name, f[2])
      assert.equal(table.concat(m.identity.authMethods, " "), f[3])
      by_name[f[2]] = f
    end
    assert.equal("true", by_name["svc-00006"][4])
    assert.equal("", by_name["svc-00006"][6])   -- not sent by the memberships route
    assert.equal("false", by_name["svc-00007"][4])
    assert.equal("", by_name["svc-00007"][3])
  end)

  it("pages through every identity, --search and --token-auth narrowing the list", function()
    srv:reset(org_state(450))
    local out, rc, err = cli({ "identities", "--org", ORG, "--format", "json", "--page-size", "200" }, env)
    assert.equal(0, rc, err)
    assert.equal(450, #cjson.decode(out))
    assert.equal(3, #H.api_requests(srv))
    out, rc = cli({ "identities", "--org", ORG, "--format", "json", "--search", "CI-" }, env)
    assert.equal(0, rc)
    local list = cjson.decode(out)
    assert.equal(45, #list)
    for _, r in ipairs(list) do assert.matches("^ci%-", r.name) end
    out, rc = cli({ "identities", "--org", ORG, "--format", "json", "--token-auth" }, env)
    assert.equal(0, rc)
    list = cjson.decode(out)
    for _, r in ipairs(list) do assert.is_true(r.usesTokenAuth) end
    -- 450: 90 Universal Auth only, 64 - 12 with no method
    assert.equal(450 - 90 - 52, #list)
  end)

  it("says so on stderr when the organisation has no identities (exit 0), not with -q", function()
    srv:reset(org_state(0))
    local out, rc, err = cli({ "identities", "--org", ORG }, env)
    assert.equal(0, rc)
    assert.equal("", out)
    assert.matches("no identities", err)
    out, rc, err = cli({ "identities", "--org", ORG, "-q" }, env)
    assert.equal(0, rc)
    assert.equal("", out)
    assert.equal("", err)
  end)

  it("leaves the header row out with --no-header; -f is --format", function()
    local out, rc = cli({ "identities", "--org", ORG, "--no-header" }, env)
    assert.equal(0, rc)
    local l = lines(out)
    assert.equal(12, #l)
    assert.matches("ci%-00003", l[1])
    out, rc = cli({ "identities", "--org", ORG, "-f", "csv", "--no-header" }, env)
    assert.equal(0, rc)
    l = lines(out)
    assert.equal(12, #l)
    assert.is_nil(out:find("identity_id", 1, true))
    out, rc = cli({ "identities", "--org", ORG, "-f", "json" }, env)
    assert.equal(0, rc)
    assert.equal(12, #cjson.decode(out))
  end)

  it("refused credentials exit 3, said once; a missing permission exits 2 with advice", function()
    for _, tok in ipairs{ "fake-revoked-token", "fake-expired-token", "garbage" } do
      local out, rc, err = cli({ "identities", "--org", ORG }, { INFISICAL_API_URL = srv.url,
        INFISICAL_TOKEN = tok })
      assert.equal(3, rc, tok)
      assert.equal("", out)
      assert.matches("refused the token in INFISICAL_TOKEN", err)
      assert.is_nil(err:find(tok, 1, true))
    end
    local out, rc, err = cli({ "identities", "--org", ORG }, { INFISICAL_API_URL = srv.url,
      INFISICAL_TOKEN = "fake-noperm-token" })
    assert.equal(2, rc)
    assert.equal("", out)
    assert.matches("PermissionDenied", err)
    assert.matches("lacks a permission", err)
  end)

  it("exits 2 with the server's refusal, printing nothing on stdout", function()
    local out, rc, err = cli({ "identities", "--org", OTHER_ORG, "--format", "json" }, env)
    assert.equal(2, rc)
    assert.equal("", out)
    assert.matches("identities %-%-org " .. OTHER_ORG:gsub("%-", "%%-") .. ": .*HTTP 403", err)
    -- a failure after the first page: nothing printed, not a short list
    srv:reset(org_state(300))
    srv:faults{ { match = "/identity-memberships", after = 1, status = 400,
      body = { statusCode = 400, error = "BadRequest", message = "boom" } } }
    out, rc, err = cli({ "identities", "--org", ORG, "--format", "csv" }, env)
    assert.equal(2, rc)
    assert.equal("", out)
    assert.matches("boom", err)
    assert.is_nil(err:find(H.TOKEN, 1, true))
  end)

  it("exits 2 on bad usage, before any request", function()
    for _, case in ipairs{
      { { "identities" }, "missing %-%-org ORG_ID" },
      { { "identities", "--org" }, "needs a value" },
      { { "identities", "--org", "" }, "missing %-%-org" },
      { { "identities", "--org", "a\tb" }, "%-%-org takes the organisation's id, a UUID" },
      { { "identities", ORG }, "unexpected argument" },
      { { "identities", "--org", ORG, "--format", "xml" }, "unknown format 'xml'" },
      { { "identities", "--org", ORG, "--page-size", "0" }, "page%-size" },
      { { "identities", "--org", ORG, "--page-size", "20001" }, "page%-size" },
      { { "identities", "--org", ORG, "--bogus" }, "unknown option '%-%-bogus'" },
      { { "identities", "--org", ORG, "--token", "x" }, "process list" },
      { { "identities", "--org", ORG, "--concurrency", "2" }, "not one of identities's %(audit takes it%)" },
    } do
      local out, rc, err = cli(case[1], env)
      assert.equal(2, rc, table.concat(case[1], " "))
      assert.equal("", out)
      assert.matches(case[2], err)
      assert.matches("see 'infisical%-tokens identities %-%-help'", err)
    end
    assert.equal(0, #H.api_requests(srv))
  end)

  it("has help, listed in the main help", function()
    local out, rc = cli{ "identities", "--help" }
    assert.equal(0, rc)
    assert.matches("Usage: infisical%-tokens identities %-%-org ORG_ID", out)
    assert.matches("Exit status", out)
    assert.matches("%-%-token%-file", out)
    out = cli{ "help", "identities" }
    assert.matches("Usage: infisical%-tokens identities", out)
    out = cli{ "--help" }
    assert.matches("identities %-%-org ORG_ID", out)
  end)
end)
