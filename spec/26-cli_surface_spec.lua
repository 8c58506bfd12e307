-- The command's 1.0 surface (issue 20): one base-URL rule for the library and the command,
-- --name as a shell glob, no server value ever ending in an internal error or a Lua
-- source position (a fuzz-ish sweep of odd values of every JSON type through list, audit
-- and identities in every format), credentials never echoed, global options before the
-- subcommand and the other tools' aliases, empty input as nothing to do, --org checked
-- locally, --now taking a date, one time format in CSV and JSON, the bare command's help
-- on stderr, the rows after --revoke-matching --yes, the table on a terminal, "200 or
-- more". Child processes against the fake server, as in spec/22-cli_spec.lua.
local H = require "spec.helpers"
local fake = H.fake
local cjson = require "cjson"
local infisical = require "infisical"

local NOW = "2024-06-01T12:00:00Z"
local ID1, ID2 = H.ID1, H.ID2
local ORG = H.ORG
local shq = fake.shellquote

local function cli(argv, env, opts)
  local o = { raw = true }
  for k, v in pairs(opts or {}) do o[k] = v end
  local out, rc, err = H.cli(argv, env, o)
  return (out:gsub("\r?\n$", "")), rc, err
end

local function merge(a, b)
  local t = {}
  for k, v in pairs(a) do t[k] = v end
  for k, v in pairs(b or {}) do t[k] = v end
  return t
end

local function names(out)
  local got = {}
  for _, t in ipairs(cjson.decode(out)) do got[#got + 1] = t.name end
  table.sort(got)
  return got
end

-- Nothing a bug would print: a Lua source position, a traceback, "unexpected error".
local function assert_clean(text, what)
  assert.is_nil(text:find("%.lua:%d+"), what .. ": " .. text)
  assert.is_nil(text:find("traceback", 1, true), what .. ": " .. text)
  assert.is_nil(text:find("unexpected error", 1, true), what .. ": " .. text)
  assert.is_nil(text:find("internal error", 1, true), what .. ": " .. text)
end

-- The late-2024 server (it records token use), as spec/04's transcripts: use counts and
-- last use are shown.
local LEGACY = { mode = "legacy" }

local RFC3339 = "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$"

describe("infisical-tokens, the 1.0 surface", function()
  local srv, env

  setup(function()
    srv = fake.start{ fixture = H.FIXTURE }
    srv:reset_fixture(H.FIXTURE, LEGACY)
    env = { INFISICAL_API_URL = srv.url, INFISICAL_TOKEN = H.TOKEN }
  end)
  teardown(function() srv:stop() end)
  before_each(function() srv:reset_fixture(H.FIXTURE, LEGACY) end)

  describe("one base-URL rule for the library and the command", function()
    local ENDINGS = { "", "/", "/api", "/api/", "/api/v1", "/api/v1/" }

    it("the library takes the server's address with or without /, /api, /api/v1 (never doubled)", function()
      for _, e in ipairs(ENDINGS) do
        srv:reset_fixture(H.FIXTURE, LEGACY)
        local c = H.client(srv, { base_url = srv.url .. e })
        assert.equal(srv.url, c.base_url, e)
        local page, err = c:list_tokens(ID1)
        assert.truthy(page, e .. ": " .. tostring(err))
        for _, r in ipairs(H.api_requests(srv)) do
          assert.matches("^/api/v1/auth/token%-auth/identities/", r.path, 1, false, e)
        end
        c:close()
      end
      -- INFISICAL_API_URL as the README's script sets it
      local out = fake.run("env INFISICAL_TOKEN=t INFISICAL_API_URL=" .. shq(srv.url .. "/api/v1")
        .. " lua5.4 -e " .. shq('package.path="./lua/?.lua;./lua/?/init.lua;"..package.path;'
        .. 'package.cpath="./build/lua5.4/?.so;"..package.cpath;'
        .. 'print(require("infisical").new().base_url)') .. " 2>&1")
      assert.equal(srv.url, out)
    end)

    it("the library refuses any other path as a config error naming the setting (nil, err)", function()
      for _, e in ipairs{ "/foo", "/api/v2", "/api/v1/auth/token-auth", "/infisical/api" } do
        local c, err = infisical.new{ base_url = "https://eu.infisical.com" .. e, token = "t" }
        assert.is_nil(c, e)
        assert.equal("config", err.kind, e)
        assert.matches("base_url must be the server's address", tostring(err), 1, false, e)
      end
      local out = fake.run("env INFISICAL_TOKEN=t INFISICAL_API_URL=https://x.example/api/v2"
        .. " lua5.4 -e " .. shq('package.path="./lua/?.lua;./lua/?/init.lua;"..package.path;'
        .. 'package.cpath="./build/lua5.4/?.so;"..package.cpath;'
        .. 'local c, e = require("infisical").new(); print(c, e.kind, tostring(e))') .. " 2>&1")
      assert.matches("^nil\tconfig\t.*INFISICAL_API_URL must be the server's address", out)
      -- user name and password in the URL: refused, and not echoed
      local c, err = infisical.new{ base_url = "https://user:s3cretpw@x.example/api", token = "t" }
      assert.is_nil(c)
      assert.equal("config", err.kind)
      assert.is_nil(tostring(err):find("s3cretpw", 1, true))
    end)

    it("the command takes the same endings, and refuses the same paths (exit 2, no request)", function()
      for _, e in ipairs(ENDINGS) do
        srv:reset_fixture(H.FIXTURE, LEGACY)
        local out, rc, err = cli({ "list", ID1, "-f", "json" }, merge(env, { INFISICAL_API_URL = srv.url .. e }))
        assert.equal(0, rc, e .. ": " .. err)
        assert.equal(26, #cjson.decode(out))
      end
      srv:reset_fixture(H.FIXTURE, LEGACY)
      for _, c in ipairs{
        { { "list", ID1, "--api-url", srv.url .. "/api/v2" }, "%-%-api%-url must be the server's address.* not '/api/v2'" },
        { { "list", ID1, "--domain", srv.url .. "/foo" }, "%-%-domain must be the server's address.* not '/foo'" },
      } do
        local out, rc, err = cli(c[1], env)
        assert.equal(2, rc)
        assert.equal("", out)
        assert.matches(c[2], err)
      end
      local _, rc, err = cli({ "list", ID1 }, merge(env, { INFISICAL_API_URL = srv.url .. "/foo" }))
      assert.equal(2, rc)
      assert.matches("INFISICAL_API_URL must be the server's address", err)
      assert.equal(0, #H.api_requests(srv))
    end)
  end)

  describe("--name is a shell glob", function()
    local function list(glob, more)
      local argv = { "list", ID1, "-f", "json", "--name", glob }
      for _, a in ipairs(more or {}) do argv[#argv + 1] = a end
      local out, rc, err = cli(argv, env)
      assert.equal(0, rc, glob .. ": " .. err)
      assert_clean(err, glob)
      return names(out), err
    end

    it("* ? and [...] as in sh, matched against the whole name", function()
      -- the sample's names: token-NN, a few missing (deleted or unnamed)
      assert.same({ "token-11", "token-12", "token-13", "token-15", "token-16", "token-17",
        "token-18", "token-19" }, list("token-1*"))
      assert.same({ "token-01", "token-02", "token-03", "token-04", "token-06", "token-07",
        "token-08", "token-09" }, list("token-0?"))
      assert.same({ "token-23", "token-24", "token-25" }, list("*-2[3-5]"))
      assert.same({ "token-29" }, list("*[!0-1]9"))
      assert.same({ "token-29" }, list("*[^0-1]9"))
      assert.same({}, list("token"))          -- the whole name, not a part of it
      assert.same({}, list("oken-1*"))
    end)

    it("Lua pattern characters are plain text: 't%' and '[' match nothing, no error", function()
      for _, g in ipairs{ "t%", "[", "token-%d", "(", "token.01" } do
        assert.same({}, list(g))
      end
    end)

    it("a dry run of --revoke-matching picks only the glob's tokens", function()
      local _, err = list("token-1*", { "--revoke-matching" })
      local n = 0
      for id in err:gmatch("would revoke (%S+)") do
        n = n + 1
        assert.matches("^b0000000%-0000%-4000%-8000%-00000000001%d$", id)
      end
      -- token-16 is revoked already
      assert.equal(7, n)
      assert.matches("dry run: 7 token", err)
    end)
  end)

  describe("no server value ends in an internal error or a Lua source position", function()
    local function base(i)
      return fake.token_record{ id = ("e1000000-0000-4000-8000-%012d"):format(i), name = "t-" .. i,
        identityId = ID1, createdAt = "2024-05-01T00:00:00.000Z", accessTokenLastUsedAt = "2024-05-02T00:00:00.000Z" }
    end
    local LONG = ("x"):rep(300)
    local VALUES = { 2.5, -1, 0, 1e308, -1e308, 9007199254740993, "12", "2.5", "", "x\27[2J",
      "2024-13-45T99:99:99Z", true, false, cjson.null, {}, { a = 1 }, { "a", 2 }, LONG }
    local FIELDS = { "id", "name", "accessTokenNumUses", "accessTokenNumUsesLimit", "accessTokenTTL",
      "accessTokenMaxTTL", "accessTokenPeriod", "createdAt", "updatedAt", "accessTokenLastUsedAt",
      "accessTokenLastRenewedAt", "isAccessTokenRevoked", "authMethod", "identityId" }
    -- one page per field: every odd value in it, one token each
    local function token_faults()
      local faults, serial = {}, 0
      for _, f in ipairs(FIELDS) do
        local page = {}
        for _, v in ipairs(VALUES) do
          serial = serial + 1
          local r = base(serial)
          r[f] = v
          page[#page + 1] = r
        end
        faults[#faults + 1] = { match = "/tokens", status = 200, body = { tokens = page } }
      end
      return faults
    end
    local function ident_ids(n)
      local t = {}
      for i = 1, n do t[i] = ("a1000000-0000-4000-8000-%012d"):format(i) end
      return t
    end

    local function check(argv, what, lua)
      local out, rc, err = cli(argv, env, { lua = lua })
      assert.is_true(rc == 0 or rc == 1 or rc == 2, what .. ": exit " .. tostring(rc) .. ": " .. err)
      assert_clean(out, what)
      assert_clean(err, what)
      assert.is_nil(out:gsub("\r\n", "\n"):find("[%z\1-\8\11-\31\127]"), what)
      return out, rc, err
    end

    it("list and audit, every format, odd values of every type in every field of a token (lua5.4 and luajit)", function()
      local built, brc = fake.run("make -s luajit 2>&1")
      assert.equal(0, brc, built)
      local ids = ident_ids(#FIELDS)
      for _, lua in ipairs{ "lua5.4", "luajit" } do
        for _, sub in ipairs{ "list", "audit" } do
          for _, fmt in ipairs{ "table", "json", "csv" } do
            srv:reset_fixture(H.FIXTURE, LEGACY)
            srv:faults(token_faults())
            local argv = { sub, "--now", NOW, "-f", fmt, "--page-size", "100" }
            for _, id in ipairs(ids) do argv[#argv + 1] = id end
            local out = check(argv, lua .. " " .. sub .. " " .. fmt, lua)
            if fmt == "json" and out ~= "" then assert.truthy(pcall(cjson.decode, out)) end
          end
        end
      end
    end)

    it("one identity a page at a time (all_tokens), the table", function()
      for _, f in ipairs{ "accessTokenNumUses", "accessTokenNumUsesLimit", "createdAt", "name" } do
        for _, v in ipairs(VALUES) do
          srv:reset_fixture(H.FIXTURE, LEGACY)
          local r = base(1)
          r[f] = v
          srv:faults{ { match = "/tokens", status = 200, body = { tokens = { r } } } }
          check({ "list", ID1, "--now", NOW }, "list " .. f .. "=" .. tostring(v))
        end
      end
    end)

    it("the crashes the review found: a float use count, a string use limit", function()
      local r = base(1)
      r.accessTokenNumUses = 2.5
      srv:faults{ { match = "/tokens", status = 200, body = { tokens = { r } } } }
      local out, rc = check({ "list", ID1, "--now", NOW }, "float uses")
      assert.equal(0, rc)
      assert.matches("  2%.5  ", out)
      r = base(2)
      r.accessTokenNumUsesLimit = "50"
      r.accessTokenNumUses = 49
      srv:faults{ { match = "/tokens", status = 200, body = { tokens = { r } } } }
      local _, rc2 = check({ "audit", ID1, "--now", NOW }, "string limit")
      assert.is_true(rc2 == 0 or rc2 == 1)
    end)

    it("identities and audit --org, every format, odd values in every field of a membership", function()
      local MFIELDS = { "id", "role", "orgId", "createdAt", "updatedAt", "lastLoginTime",
        "lastLoginAuthMethod", "identity.name", "identity.authMethods", "identity.authMethod" }
      local rows, n = {}, 0
      for _, f in ipairs(MFIELDS) do
        for _, v in ipairs(VALUES) do
          n = n + 1
          local iid = ("a2000000-0000-4000-8000-%012d"):format(n)
          local m = { id = "m-" .. n, role = "member", orgId = ORG, createdAt = "2024-01-01T00:00:00.000Z",
            identity = { id = iid, name = "svc-" .. n, authMethods = { "token-auth" } } }
          local top, inner = f:match("^(%w+)%.(%w+)$")
          if top then m[top][inner] = v else m[f] = v end
          rows[#rows + 1] = m
        end
      end
      local body = { identityMemberships = rows, totalCount = #rows }
      for _, argv in ipairs{ { "identities", "--org", ORG }, { "audit", "--org", ORG, "--now", NOW } } do
        for _, fmt in ipairs{ "table", "json", "csv" } do
          srv:reset(H.org_state(0, LEGACY))
          srv:faults{ { match = "/identity-memberships", status = 200, body = body } }
          local a = { "-f", fmt }
          for _, x in ipairs(argv) do a[#a + 1] = x end
          check(a, table.concat(argv, " ") .. " " .. fmt)
        end
      end
    end)

    it("an identity under two memberships is audited once (audit --org)", function()
      local m = { id = "m1", role = "member", orgId = ORG, createdAt = "2024-01-01T00:00:00.000Z",
        identity = { id = ID1, name = "svc-one", authMethods = { "token-auth" } } }
      local m2 = { id = "m2", role = "admin", orgId = ORG, createdAt = "2024-01-01T00:00:00.000Z",
        identity = { id = ID1, name = "svc-one", authMethods = { "token-auth" } } }
      srv:reset(H.org_state(0, LEGACY))
      srv:faults{ { match = "/identity-memberships", status = 200,
        body = { identityMemberships = { m, m2 }, totalCount = 2 } } }
      local out, rc, err = check({ "audit", "--org", ORG, "--now", NOW, "-f", "json" }, "two memberships")
      assert.equal(1, rc, err)   -- the sample identity has findings
      local doc = cjson.decode(out)
      assert.equal(1, #doc.identities)
      assert.equal(ID1, doc.identities[1].identityId)
      assert.equal(26, doc.identities[1].tokens)
    end)
  end)

  describe("credentials given where a file name or a value goes", function()
    it("are described by their length, never echoed", function()
      local jwt, secret = H.LONG_SECRETS.token, H.LONG_SECRETS.client_secret
      for _, argv in ipairs{
        { "list", ID1, "--token-file", jwt },
        { "list", ID1, "--token-file", secret },
        { "list", ID1, "--from-file", jwt },
        { "list", ID1, "--now", jwt },
        { "list", ID1, "--format", jwt },
        { "list", ID1, "--status", secret },
        { "list", ID1, "--page-size", jwt },
        { "list", jwt },
        { "identities", "--org", jwt },
        { "audit", "--org", secret },
        { jwt, "list" },
        { "list", ID1, "--" .. secret },
        { "list", ID1, "--api-url", srv.url .. "/" .. jwt },
      } do
        local out, rc, err = cli(argv, { INFISICAL_API_URL = srv.url })
        local what = table.concat(argv, " "):sub(1, 60)
        assert.equal(2, rc, what)
        assert.is_nil(H.secret_piece(out .. err, jwt, 12), what .. ": " .. err)
        assert.is_nil(H.secret_piece(out .. err, secret, 12), what .. ": " .. err)
      end
      local _, _, err = cli({ "list", ID1, "--token-file", jwt }, { INFISICAL_API_URL = srv.url })
      assert.matches("cannot read %-%-token%-file a %d+%-byte value: No such file", err)
      assert.equal(0, #H.api_requests(srv))
    end)
  end)

  describe("global options, aliases", function()
    it("options come before the subcommand too, as gh, kubectl and aws take them", function()
      local want = cli({ "list", ID1, "--now", NOW, "-f", "csv" }, env)
      for _, argv in ipairs{
        { "-q", "list", ID1, "--now", NOW, "-f", "csv" },
        { "--now", NOW, "list", ID1, "-f", "csv" },
        { "-f", "csv", "--now=" .. NOW, "list", ID1 },
        { "-o", "csv", "list", ID1, "--now", NOW },
        { "--api-url", srv.url, "--silent", "list", ID1, "--now", NOW, "--output", "csv" },
        { "-qfcsv", "list", ID1, "--now", NOW },
      } do
        local out, rc, err = cli(argv, env)
        assert.equal(0, rc, table.concat(argv, " ") .. ": " .. err)
        assert.equal(want, out, table.concat(argv, " "))
      end
      -- -q before the subcommand silences it
      local _, rc, err = cli({ "-q", "revoke", "b0000000-0000-4000-8000-000000000001" }, env)
      assert.equal(0, rc)
      assert.equal("", err)
      -- options and no subcommand: a usage error
      local out
      out, rc, err = cli({ "-q" }, env)
      assert.equal(2, rc)
      assert.matches("missing command", err)
    end)

    it("--silent is -q, -o/--output is --format", function()
      local _, rc, err = cli({ "revoke", "b0000000-0000-4000-8000-000000000001", "--silent" }, env)
      assert.equal(0, rc)
      assert.equal("", err)
      local out = cli({ "list", ID1, "-o", "json" }, env)
      assert.equal(26, #cjson.decode(out))
      out = cli({ "audit", ID1, "--output=json", "--now", NOW }, env)
      assert.equal(ID1, cjson.decode(out).identities[1].identityId)
    end)
  end)

  describe("input and checks before any request", function()
    it("no ids from standard input or a file is nothing to do: exit 0, no request", function()
      local f = os.tmpname()
      local fh = assert(io.open(f, "w")); fh:write("# nothing here\n\n"); fh:close()
      for _, c in ipairs{
        { { "list", "-" }, "" }, { { "audit", "-", "-f", "json" }, "" },
        { { "revoke", "-", "--yes" }, "" }, { { "list", "--from-file", f }, "" },
        { { "audit", "--from-file", "-" }, "  \n# x\n" },
      } do
        local out, rc, err = cli(c[1], env, { stdin = c[2] })
        assert.equal(0, rc, table.concat(c[1], " ") .. ": " .. err)
        assert.equal("", out)
        assert.matches("nothing to do", err)
      end
      os.remove(f)
      assert.equal(0, #H.api_requests(srv))
      -- no ids at all is still a usage error
      local _, rc = cli({ "list" }, env)
      assert.equal(2, rc)
    end)

    it("--org must be a UUID: exit 2, no request", function()
      for _, argv in ipairs{ { "identities", "--org", "my-org" }, { "audit", "--org", "../x" } } do
        local out, rc, err = cli(argv, env)
        assert.equal(2, rc)
        assert.equal("", out)
        assert.matches("%-%-org takes the organisation's id, a UUID", err)
      end
      assert.equal(0, #H.api_requests(srv))
    end)

    it("--now takes a date (its midnight UTC), a time without seconds, and RFC 3339", function()
      local at_midnight = cli({ "list", ID1, "-f", "csv", "--now", "2024-06-01T00:00:00Z" }, env)
      local out, rc, err = cli({ "list", ID1, "-f", "csv", "--now", "2024-06-01" }, env)
      assert.equal(0, rc, err)
      assert.equal(at_midnight, out)
      out = cli({ "list", ID1, "-f", "csv", "--now", "2024-06-01T00:00Z" }, env)
      assert.equal(at_midnight, out)
      out = cli({ "list", ID1, "-f", "csv", "--now", "2024-06-01T02:00:00+02:00" }, env)
      assert.equal(at_midnight, out)
      _, rc, err = cli({ "list", ID1, "--now", "2024-13-01" }, env)
      assert.equal(2, rc)
      assert.matches("%-%-now takes a date or time", err)
    end)
  end)

  describe("output", function()
    it("the bare command prints its help on stderr, exit 2", function()
      local out, rc, err = cli({}, env)
      assert.equal(2, rc)
      assert.equal("", out)
      assert.matches("^Usage: infisical%-tokens", err)
      -- asked for, it is on stdout
      out, rc = cli({ "--help" }, env)
      assert.equal(0, rc)
      assert.matches("^Usage: infisical%-tokens", out)
    end)

    it("CSV and JSON write every time as RFC 3339 UTC (list and identities)", function()
      local out = cli({ "list", ID1, "-f", "csv", "--now", NOW }, env)
      local n = 0
      for line in (out .. "\r\n"):gmatch("(.-)\r\n") do
        n = n + 1
        if n > 1 then
          local f = {}
          for x in (line .. ","):gmatch("([^,]*),") do f[#f + 1] = x end
          for _, k in ipairs{ 5, 8, 9 } do
            if f[k] ~= "" then assert.matches(RFC3339, f[k], 1, false, line) end
          end
        end
      end
      assert.equal(27, n)
      for _, t in ipairs(cjson.decode((cli({ "list", ID1, "-f", "json", "--now", NOW }, env)))) do
        for _, k in ipairs{ "createdAt", "updatedAt", "expiresAt", "accessTokenLastUsedAt", "accessTokenLastRenewedAt" } do
          if t[k] ~= cjson.null then assert.matches(RFC3339, t[k], 1, false, k) end
        end
      end
      srv:reset(H.org_state(12, LEGACY))
      for _, m in ipairs(cjson.decode((cli({ "identities", "--org", ORG, "-f", "json" }, env)))) do
        for _, k in ipairs{ "createdAt", "updatedAt", "lastLoginTime" } do
          if m[k] ~= cjson.null then assert.matches(RFC3339, m[k], 1, false, k) end
        end
      end
    end)

    it("the table's dates hold no blank: every row has the same number of fields", function()
      local out = cli({ "list", ID1, "--now", NOW, "--no-header" }, env)
      local counts = {}
      for line in (out .. "\n"):gmatch("(.-)\n") do
        local k = 0
        for _ in line:gmatch("%S+") do k = k + 1 end
        counts[k] = true
      end
      assert.same({ [8] = true }, counts)
    end)

    it("after --revoke-matching --yes the rows show the new status", function()
      local out, rc, err = cli({ "list", ID1, "-f", "json", "--now", NOW, "--name", "token-0[1-3]",
        "--revoke-matching", "--yes" }, env)
      assert.equal(0, rc, err)
      local doc = cjson.decode(out)
      assert.equal(3, #doc)
      for _, t in ipairs(doc) do
        assert.equal("revoked", t.status, t.name)
        assert.is_true(t.isAccessTokenRevoked)
      end
    end)

    it("\"200 or more\" wherever the wall is reported", function()
      local _, rc, err = cli({ "list", ID2, "-f", "json" }, env)
      assert.equal(1, rc)
      assert.matches("200 or more tokens", err)
      assert.is_nil(err:find("truncated", 1, true))
      local out = cli({ "audit", ID2, "--now", NOW }, env)
      assert.matches("200 or more", out)
      local help = cli({ "list", "--help" }, env) .. cli({ "audit", "--help" }, env) .. cli({ "--help" }, env)
      assert.is_nil(help:find("more than the 200", 1, true))
      assert.is_nil(help:find("cut at the\n?%s*200", 1, false))
    end)

    it("the table fits a terminal's width; a pipe gets every column", function()
      local function on_tty(argv, columns)
        local log = os.tmpname()
        local parts = { "env", "COLUMNS=" .. columns, "INFISICAL_API_URL=" .. srv.url,
          "INFISICAL_TOKEN=" .. H.TOKEN, "lua5.4", "bin/infisical-tokens" }
        for _, a in ipairs(argv) do parts[#parts + 1] = shq(a) end
        fake.run("script -qec " .. shq(table.concat(parts, " ") .. " 2>/dev/null") .. " " .. shq(log) .. " >/dev/null")
        local text = fake.read_file(log) or ""
        os.remove(log)
        return text
      end
      local function widest(text)
        local w = 0
        for line in text:gmatch("[^\r\n]+") do
          if not line:find("^Script ") then w = math.max(w, utf8.len(line) or #line) end
        end
        return w
      end
      local piped = cli({ "list", ID1, "--now", NOW }, env)
      assert.is_true(widest(piped) > 120)
      local tty = on_tty({ "list", ID1, "--now", NOW }, 80)
      assert.matches("TOKEN ID", tty)
      assert.matches("b0000000%-0000%-4000%-8000%-000000000001", tty)   -- ids are never cut
      assert.is_true(widest(tty) <= 80, tty)
      tty = on_tty({ "list", ID1, "--now", NOW }, 200)
      assert.equal(widest(piped), widest(tty))
      tty = on_tty({ "audit", ID1, ID2, "--now", NOW }, 90)
      assert.is_true(widest(tty) <= 90, tty)
      assert.matches("200 or more", tty)
      srv:reset(H.org_state(12, LEGACY))
      tty = on_tty({ "identities", "--org", ORG }, 80)
      assert.is_true(widest(tty) <= 80, tty)
      assert.matches("IDENTITY ID", tty)
      assert.is_true(widest(cli({ "identities", "--org", ORG }, env)) > 80)
    end)
  end)
end)
