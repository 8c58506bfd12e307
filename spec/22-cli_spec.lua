-- infisical-tokens run as a user runs it: a child process (lua5.4 bin/infisical-tokens)
-- against the fake server; every subcommand, format and exit status.
local H = require "spec.helpers"
local fake = H.fake
local cjson = require "cjson"
local infisical = require "infisical"

local NOW = "2024-06-01T12:00:00Z"
local NOW_T = 1717243200
local ID1, ID2, ID3 = H.ID1, H.ID2, H.ID3
local shq = fake.shellquote

local function esc(s) return (s:gsub("%p", "%%%0")) end

local cli, lines = H.cli, H.lines   -- stdout, exit status, stderr

-- RFC 4180 reader (quoted fields may hold commas, quotes and newlines).
local function parse_csv(s)
  local rows, row, field, i, n, quoted = {}, {}, {}, 1, #s, false
  while i <= n do
    local c = s:sub(i, i)
    if quoted then
      if c == '"' then
        if s:sub(i + 1, i + 1) == '"' then field[#field + 1] = '"'; i = i + 1 else quoted = false end
      else field[#field + 1] = c end
    elseif c == '"' then quoted = true
    elseif c == "," then row[#row + 1] = table.concat(field); field = {}
    elseif c == "\r" and s:sub(i + 1, i + 1) == "\n" then
      row[#row + 1] = table.concat(field); field = {}; rows[#rows + 1] = row; row = {}; i = i + 1
    else field[#field + 1] = c end
    i = i + 1
  end
  if #field > 0 or #row > 0 then row[#row + 1] = table.concat(field); rows[#rows + 1] = row end
  return rows
end

local function nonull(t)
  for k, v in pairs(t) do if v == cjson.null then t[k] = nil end end
  return t
end

describe("infisical-tokens", function()
  local srv, env

  setup(function()
    srv = fake.start{ fixture = H.FIXTURE }
    env = { INFISICAL_API_URL = srv.url, INFISICAL_TOKEN = H.TOKEN }
  end)
  teardown(function() srv:stop() end)
  before_each(function() srv:reset_fixture(H.FIXTURE) end)

  -- the server's view of identity ID1's token-auth tokens, by id
  local function server_tokens(id)
    local out = {}
    for _, t in ipairs(srv:state().identities[id or ID1].tokens) do
      if (t.authMethod or "token-auth") == "token-auth" then out[t.id] = nonull(t) end
    end
    return out
  end

  describe("help and usage", function()
    it("prints help for the command and each subcommand, exit 0", function()
      for _, sub in ipairs{ "list", "audit", "revoke" } do
        local out, rc = cli{ sub, "--help" }
        assert.equal(0, rc)
        assert.matches("Usage: infisical%-tokens " .. sub, out)
        assert.matches("Exit status", out)
        assert.matches("%-%-token%-file", out)
      end
      local out, rc = cli{ "--help" }
      assert.equal(0, rc)
      assert.matches("Commands:", out)
      out, rc = cli{ "--version" }
      assert.equal(0, rc)
      assert.equal("infisical-tokens (lua-infisical " .. infisical._VERSION .. ")", out)
    end)

    it("exits 2 with a helpful message on bad usage, before any request", function()
      local cases = {
        { {}, "Usage:" },
        { { "frobnicate" }, "unknown command 'frobnicate'" },
        { { "list", ID1, "--bogus" }, "unknown option '%-%-bogus'" },
        { { "list" }, "missing IDENTITY_ID" },
        { { "audit" }, "missing IDENTITY_ID" },
        { { "revoke" }, "missing TOKEN_ID" },
        { { "list", ID1, "--status", "dead" }, "unknown status 'dead'" },
        { { "list", ID1, "--format", "xml" }, "unknown format 'xml'" },
        { { "list", ID1, "--revoked", "--active" }, "exclude each other" },
        { { "list", ID1, "--unused-for", "soon" }, "duration" },
        { { "list", ID1, "--page-size", "500" }, "page%-size" },
        { { "list", ID1, "--page-size", "0" }, "page%-size" },
        { { "audit", ID1, "--page-size", "101" }, "page%-size" },
        { { "list", ID1, "--timeout", "0" }, "%-%-timeout" },
        { { "list", ID1, "--timeout", "86401" }, "%-%-timeout" },
        { { "list", ID1, "--now", "yesterday" }, "%-%-now takes a date or time like 2024%-06%-01" },
        { { "list", ID1, "--yes" }, "%-%-revoke%-matching" },
        { { "audit", ID1, "--concurrency", "0" }, "concurrency" },
        { { "list", ID1, "--page-size" }, "needs a value" },
      }
      for _, c in ipairs(cases) do
        local out, rc, err = cli(c[1], env)
        assert.equal(2, rc, table.concat(c[1], " "))
        assert.matches(c[2], out .. err, 1, false)
      end
      assert.equal(0, #H.api_requests(srv))
    end)

    it("refuses a token on the command line, saying why and what to do instead", function()
      for _, flag in ipairs{ "--token", "--token=" .. H.TOKEN } do
        local out, rc, err = cli({ "list", ID1, flag, H.TOKEN }, { INFISICAL_API_URL = srv.url })
        assert.equal(2, rc)
        assert.equal("", out)
        assert.matches("process list", err)
        assert.matches("INFISICAL_TOKEN", err)
        assert.matches("%-%-token%-file", err)
      end
      local _, rc, err = cli({ "list", ID1, "--client-secret", "x" }, env)
      assert.equal(2, rc)
      assert.matches("INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET", err)
    end)

    it("without credentials says what to set", function()
      local out, rc, err = cli({ "list", ID1 }, { INFISICAL_API_URL = srv.url })
      assert.equal(2, rc)
      assert.equal("", out)
      assert.matches("no credentials: set INFISICAL_TOKEN, or use %-%-token%-file FILE, or set"
        .. " INFISICAL_UNIVERSAL_AUTH_CLIENT_ID and INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET", err)
    end)
  end)

  describe("list", function()
    it("table: aligned, every token once, derived status and expiry", function()
      local out, rc, err = cli({ "list", ID1, "--now", NOW, "--page-size", "7" }, env)
      assert.equal(0, rc, err)
      local ls = lines(out)
      local want = server_tokens()
      local n = 0
      for _ in pairs(want) do n = n + 1 end
      assert.equal(n + 1, #ls)
      local head = ls[1]
      local scol, ecol = head:find("STATUS", 1, true), head:find("EXPIRES", 1, true)
      local seen = {}
      for i = 2, #ls do
        -- the table's columns are the same for one identity or several: IDENTITY first
        local ident, id = ls[i]:match("^(%S+)%s+(%S+)")
        assert.equal(ID1, ident)
        assert.is_nil(seen[id]); seen[id] = true
        local t = assert(want[id], id)
        assert.equal(infisical.token_status(t, NOW_T), ls[i]:sub(scol):match("^(%S+)"))
        assert.equal(os.date("!%Y-%m-%dT%H:%MZ", infisical.expires_at(t)), ls[i]:sub(ecol, ecol + 16))
      end
      assert.matches("^" .. esc(ID1) .. "  b0000000%-0000%-4000%-8000%-000000000006  token%-06  exhausted",
        out:match("[^\n]*000006[^\n]*"))
    end)

    it("json: one document; records as the server sent them (times in RFC 3339 UTC) plus status and expiresAt", function()
      local out, rc = cli({ "list", ID1, "--format", "json", "--now", NOW }, env)
      assert.equal(0, rc)
      local doc = cjson.decode(out)
      local want = server_tokens()
      local n = 0
      for _, t in ipairs(doc) do
        n = n + 1
        local st, exp = t.status, t.expiresAt
        t.status, t.expiresAt = nil, nil
        local w = want[t.id]
        assert.equal(infisical.token_status(w, NOW_T), st)
        assert.equal(os.date("!%Y-%m-%dT%H:%M:%SZ", infisical.expires_at(w)), exp)
        -- the server's timestamps in the command's one time form
        for _, k in ipairs{ "createdAt", "updatedAt", "accessTokenLastUsedAt", "accessTokenLastRenewedAt" } do
          if w[k] ~= nil then w[k] = os.date("!%Y-%m-%dT%H:%M:%SZ", infisical.parse_time(w[k])) end
        end
        assert.same(w, nonull(t))
      end
      local m = 0
      for _ in pairs(want) do m = m + 1 end
      assert.equal(m, n)
      -- jq reads it too
      local f = os.tmpname()
      local fh = io.open(f, "w"); fh:write(out); fh:close()
      local count = fake.run("jq length " .. f)
      os.remove(f)
      assert.equal(tostring(m), count)
    end)

    it("json: nulls stay null, an empty result is []", function()
      local out, rc = cli({ "list", ID1, "--format", "json", "--status", "exhausted", "--now", NOW }, env)
      assert.equal(0, rc)
      local doc = cjson.decode(out)
      assert.equal(1, #doc)
      assert.equal(cjson.null, doc[1].accessTokenLastRenewedAt)
      out, rc = cli({ "list", ID1, "--format", "json", "--name", "^nothing$" }, env)
      assert.equal(0, rc)
      assert.equal("[]", out)
    end)

    it("csv: header row, proper quoting", function()
      local odd = 'a,"quoted"\nline'
      srv:reset(H.state{ [ID1] = { tokens = {
        fake.token_record{ id = "t-1", identityId = ID1, name = odd },
        fake.token_record{ id = "t-2", identityId = ID1, name = fake.null, accessTokenNumUsesLimit = 5 },
      } } })
      local out, rc = cli({ "list", ID1, "--format", "csv", "--now", NOW }, env)
      assert.equal(0, rc)
      local rows = parse_csv(out .. "\r\n")
      assert.same({ "identity_id", "id", "name", "status", "expires_at", "uses", "uses_limit",
        "last_used_at", "created_at", "auth_method", "revoked" }, rows[1])
      assert.equal(3, #rows)
      local by = {}
      for i = 2, 3 do by[rows[i][2]] = rows[i] end
      assert.equal(odd, by["t-1"][3])
      assert.equal("", by["t-2"][3])
      assert.equal("5", by["t-2"][7])
      assert.equal("expired", by["t-1"][4])   -- created 2024-01-01, 30-day TTL
      assert.equal("2024-01-31T00:00:00Z", by["t-1"][5])
    end)

    it("filters: --status, --revoked, --active, --unused-for, --name, --auth-method", function()
      srv:reset_fixture(H.FIXTURE, { mode = "legacy" })   -- a server that records use
      local function ids(argv)
        local a = { "list", ID1, "--format", "json", "--now", NOW }
        for _, x in ipairs(argv) do a[#a + 1] = x end
        local out, rc, err = cli(a, env)
        assert.equal(0, rc, err)
        local got = {}
        for i, t in ipairs(cjson.decode(out)) do got[i] = t.id:sub(-2) end
        table.sort(got)
        return got
      end
      assert.same({ "06" }, ids{ "--status", "exhausted" })
      assert.same({ "04", "06", "09", "16", "23", "29" }, ids{ "--status", "revoked,exhausted" })
      assert.same({ "04", "09", "16", "23", "29" }, ids{ "--revoked" })
      assert.equal(20, #ids{ "--active" })
      assert.same({ "03", "08", "17" }, ids{ "--unused-for", "3d" })
      assert.same({ "03", "08", "17", "25" }, ids{ "--unused-for", "36h", "--active", "--name", "token*" })
      assert.same({ "01", "02", "03", "04" }, ids{ "--name", "token-0[1-4]" })
      local s = H.state(nil, { all_auth_methods = true })
      srv:reset(s)
      assert.same({ "05", "14", "22", "27" }, ids{ "--auth-method", "universal-auth" })
    end)

    it("several identities: de-duplicated, exit 1 at the 200-token wall, 2 on errors", function()
      local out, rc, err = cli({ "list", ID1, ID2, ID1, "--format", "json" }, env)
      assert.equal(1, rc)
      assert.matches(esc(ID2) .. ": 200 or more tokens", err)
      local doc = cjson.decode(out)
      local per, seen = {}, {}
      for _, t in ipairs(doc) do
        assert.is_nil(seen[t.id]); seen[t.id] = true
        per[t.identityId] = (per[t.identityId] or 0) + 1
      end
      assert.equal(200, per[ID2])
      assert.equal(26, per[ID1])
      -- the table gets an IDENTITY column
      out, rc = cli({ "list", ID1, ID2 }, env)
      assert.equal(1, rc)
      assert.matches("^IDENTITY%s+TOKEN ID", out)
      out, rc, err = cli({ "list", ID1, ID3 }, env)
      assert.equal(2, rc)
      assert.matches(esc(ID3) .. ": http error .*HTTP 400 BadRequest: The identity does not have Token Auth", err)
      assert.matches("token%-01", out)   -- what could be read is still printed
    end)

    it("--token-file: the token is read from a file and never printed", function()
      local f = os.tmpname()
      local fh = io.open(f, "w"); fh:write("  fake-revoked-token \n"); fh:close()
      local out, rc, err = cli({ "list", ID1, "--token-file", f }, { INFISICAL_API_URL = srv.url })
      assert.equal(3, rc)   -- credentials refused
      assert.matches("HTTP 401", err)
      assert.is_nil((out .. err):find("fake-revoked-token", 1, true))
      fh = io.open(f, "w"); fh:write(H.TOKEN .. "\n"); fh:close()
      out, rc = cli({ "list", ID1, "--token-file", f, "--format", "json" }, { INFISICAL_API_URL = srv.url })
      assert.equal(0, rc)
      assert.equal(26, #cjson.decode(out))
      os.remove(f)
      _, rc, err = cli({ "list", ID1, "--token-file", "/nonexistent/token" }, { INFISICAL_API_URL = srv.url })
      assert.equal(2, rc)
      assert.matches("cannot read %-%-token%-file", err)
    end)

    it("--revoke-matching prints what it would revoke; with --yes it revokes", function()
      local out, rc, err = cli({ "list", ID1, "--status", "exhausted", "--now", NOW, "--revoke-matching" }, env)
      assert.equal(0, rc)
      assert.matches("token%-06", out)
      assert.matches("would revoke b0000000%-0000%-4000%-8000%-000000000006 %(token%-06%)", err)
      assert.matches("pass %-%-yes", err)
      assert.is_false(server_tokens()["b0000000-0000-4000-8000-000000000006"].isAccessTokenRevoked)
      out, rc, err = cli({ "list", ID1, "--status", "exhausted", "--now", NOW, "--revoke-matching", "--yes",
        "--format", "json" }, env)
      assert.equal(0, rc, err)
      assert.equal(1, #cjson.decode(out))      -- stdout stays one JSON document
      assert.matches("revoked b0000000%-0000%-4000%-8000%-000000000006", err)
      local after = server_tokens()
      assert.is_true(after["b0000000-0000-4000-8000-000000000006"].isAccessTokenRevoked)
      local revoked = 0
      for _, t in pairs(after) do if t.isAccessTokenRevoked then revoked = revoked + 1 end end
      assert.equal(6, revoked)   -- the fixture's 5 and this one
    end)
  end)

  describe("revoke", function()
    local T1, T4 = "b0000000-0000-4000-8000-000000000001", "b0000000-0000-4000-8000-000000000004"

    it("without --yes only prints, exit 0, no request", function()
      local out, rc, err = cli({ "revoke", T1, T4 }, env)
      assert.equal(0, rc)
      assert.equal("would revoke " .. T1 .. "\nwould revoke " .. T4, out)
      assert.matches("dry run", err)
      assert.equal(0, #H.api_requests(srv))
      assert.is_false(server_tokens()[T1].isAccessTokenRevoked)
    end)

    it("with --yes revokes on the server; already revoked is exit 1; errors exit 2", function()
      local out, rc = cli({ "revoke", T1, "--yes" }, env)
      assert.equal(0, rc)
      assert.equal("revoked " .. T1, out)
      assert.is_true(server_tokens()[T1].isAccessTokenRevoked)
      out, rc = cli({ "revoke", T1, T4, "--yes" }, env)
      assert.equal(1, rc)
      assert.equal("already revoked " .. T1 .. "\nalready revoked " .. T4, out)
      local err
      out, rc, err = cli({ "revoke", "b0000000-0000-4000-8000-000000000002", "--yes" },
        { INFISICAL_API_URL = srv.url, INFISICAL_TOKEN = "fake-noperm-token" })
      assert.equal(2, rc)
      assert.matches("HTTP 403 PermissionDenied", err)
      assert.is_false(server_tokens()["b0000000-0000-4000-8000-000000000002"].isAccessTokenRevoked)
    end)
  end)

  describe("audit", function()
    it("table: a row per identity and a summary line; findings exit 1", function()
      srv:reset_fixture(H.FIXTURE, { mode = "legacy" })   -- a server that records use
      local out, rc = cli({ "audit", ID1, "--now", NOW }, env)
      assert.equal(1, rc)
      local ls = lines(out)
      assert.matches("^IDENTITY%s+TOKENS%s+ACTIVE%s+EXPIRED%s+EXHAUSTED%s+REVOKED%s+NEVER%-USED%s+NEAR%-LIMIT%s+EXPIRING<7D%s+SECRETS%s+SECRET FINDINGS%s+RESULT$", ls[1])
      -- no Universal Auth: SECRETS and SECRET FINDINGS are "-"
      assert.matches("^" .. esc(ID1) .. "%s+26%s+20%s+0%s+1%s+5%s+4%s+1%s+0%s+%-%s+%-%s+findings$", ls[2])
      assert.equal("1 identity audited at 2024-06-01T12:00:00Z: 1 with findings, 0 with errors", ls[4])
    end)

    it("json: counts and findings agree with token_status over the server's records", function()
      srv:reset_fixture(H.FIXTURE, { mode = "legacy" })   -- a server that records use
      local out, rc = cli({ "audit", ID1, ID2, "--format", "json", "--now", "2024-06-24T12:00:00Z" }, env)
      assert.equal(1, rc)
      local doc = cjson.decode(out)
      assert.equal("2024-06-24T12:00:00Z", doc.now)
      assert.equal(2, #doc.identities)
      local a = doc.identities[1]
      assert.equal(ID1, a.identityId)
      local now = infisical.parse_time(doc.now)
      local counts = { active = 0, expired = 0, exhausted = 0, revoked = 0 }
      local soon, never, near = {}, {}, {}
      for id, t in pairs(server_tokens()) do
        local st = infisical.token_status(t, now)
        counts[st] = counts[st] + 1
        if st == "active" then
          if infisical.expires_at(t) - now <= 7 * 86400 then soon[#soon + 1] = id end
          if not t.accessTokenLastUsedAt then never[#never + 1] = id end
          local lim = t.accessTokenNumUsesLimit
          if lim > 0 and t.accessTokenNumUses >= 0.9 * lim then near[#near + 1] = id end
        end
      end
      table.sort(soon); table.sort(never); table.sort(near)
      table.sort(a.expiringSoon); table.sort(a.neverUsed); table.sort(a.nearLimit)
      assert.same(counts, a.counts)
      assert.same(soon, a.expiringSoon)
      assert.same(never, a.neverUsed)
      assert.same(near, a.nearLimit)
      assert.is_true(#soon > 0)
      assert.equal(#soon + #never + #near, a.findings)
      assert.is_false(a.truncated)
      local b = doc.identities[2]
      assert.equal(ID2, b.identityId)
      assert.is_true(b.truncated)
      assert.equal(200, b.tokens)
      assert.equal(2, doc.identitiesWithFindings)
      assert.equal(0, doc.identitiesWithErrors)
    end)

    it("exit 0 when clean, 2 when an identity cannot be read (even with findings)", function()
      local I = fake.identity_id(9)
      srv:reset(H.state{ [I] = { tokens = {
        fake.token_record{ identityId = I, accessTokenTTL = 0, accessTokenNumUses = 3,
          accessTokenLastUsedAt = "2024-05-31T00:00:00.000Z" },
        fake.token_record{ identityId = I, isAccessTokenRevoked = true },
      } }, [ID3] = { token_auth = false, auth_methods = {} } })   -- neither Token Auth nor Universal Auth
      local out, rc = cli({ "audit", I, "--now", NOW }, env)
      assert.equal(0, rc, out)
      -- a 2026 server records no use: NEVER-USED and NEAR-LIMIT cannot be told
      assert.matches("%s1%s+0%s+0%s+1%s+n/a%s+n/a%s+0%s+%-%s+%-%s+ok\n", out)
      local err
      out, rc, err = cli({ "audit", I, ID3, "--format", "csv" }, env)
      assert.equal(2, rc)
      local rows = parse_csv(out .. "\r\n")
      assert.equal(3, #rows)
      assert.equal("identity_id", rows[1][1])
      assert.equal(ID3, rows[3][1])
      assert.matches("The identity does not have Token Auth", rows[3][11])
      assert.matches("audit " .. esc(ID3), err)
    end)

    it("--from-file reads ids (comments, blanks, duplicates) and runs them together", function()
      local f = os.tmpname()
      local fh = io.open(f, "w")
      fh:write("# identities to check\n", ID1, "\n\n  ", ID2, "  # the big one\n", ID1, "\n")
      fh:close()
      local out, rc = cli({ "audit", "--from-file", f, "--format", "json", "--concurrency", "2" }, env)
      os.remove(f)
      assert.equal(1, rc)
      local doc = cjson.decode(out)
      assert.equal(2, #doc.identities)
      assert.equal(ID1, doc.identities[1].identityId)
      assert.equal(ID2, doc.identities[2].identityId)
      _, rc = cli({ "audit", "--from-file", "/nonexistent" }, env)
      assert.equal(2, rc)
    end)

    it("shows a progress line on a terminal's stderr when the run is long, never in a pipe", function()
      srv:reset(H.state(nil, { latency = 0.4 }))
      local argv = { "audit", ID1, ID2, "--concurrency", "1", "--format", "json" }
      local _, rc, err = cli(argv, env)
      assert.equal(1, rc)
      assert.is_nil(err:find("audit: ", 1, true))
      -- script(1) gives the command a terminal; its stdout and stderr both land in the file
      local log = os.tmpname()
      local parts = { "lua5.4", "bin/infisical-tokens" }
      for _, a in ipairs(argv) do parts[#parts + 1] = a end
      fake.run("INFISICAL_API_URL=" .. srv.url .. " INFISICAL_TOKEN=" .. H.TOKEN
        .. " script -qec " .. shq(table.concat(parts, " ") .. " >/dev/null") .. " " .. shq(log) .. " >/dev/null")
      local out = fake.read_file(log) or ""
      os.remove(log)
      -- the first identity (one page) is done within the first second: no line yet
      assert.is_nil(out:find("audit: 1/2", 1, true))
      assert.matches("\raudit: 2/2 identities\r\27[K", out, 1, true)
    end)

    it("logs in with the Universal Auth pair from the environment; the secret is never printed", function()
      srv:reset_fixture(H.FIXTURE, { mode = "legacy" })   -- a server that records use
      local out, rc, err = cli({ "audit", ID1, "--format", "json", "--now", NOW }, { INFISICAL_API_URL = srv.url,
        INFISICAL_UNIVERSAL_AUTH_CLIENT_ID = "fake-client-id",
        INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET = "fake-client-secret" })
      assert.equal(1, rc, err)
      assert.equal(26, cjson.decode(out).identities[1].tokens)
      local reqs = H.api_requests(srv)
      -- /api/status (no credentials needed, none sent) may come first; then the login
      if reqs[1].path == "/api/status" then
        assert.is_nil(reqs[1].headers.authorization)
        table.remove(reqs, 1)
      end
      assert.equal("/api/v1/auth/universal-auth/login", reqs[1].path)
      assert.is_nil((out .. err):find("fake-client-secret", 1, true))
      _, rc, err = cli({ "audit", ID1 }, { INFISICAL_API_URL = srv.url,
        INFISICAL_UNIVERSAL_AUTH_CLIENT_ID = "fake-client-id",
        INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET = "wrong-secret" })
      assert.equal(3, rc)   -- credentials refused
      assert.matches("check the client id and secret", err)
      assert.is_nil(err:find("wrong-secret", 1, true))
    end)
  end)

  it("is installed by the rockspec and runs from the installed tree", function()
    local tree = os.tmpname()
    os.remove(tree)
    local log, rc = fake.run("luarocks --lua-version=5.4 make --deps-mode=none --tree=" .. shq(tree)
      .. " lua-infisical-scm-1.rockspec 2>&1")
    assert.equal(0, rc, log)
    -- a tree outside LuaRocks' configuration: its paths come from `luarocks path`, as for users
    local out
    out, rc = fake.run("cd / && eval \"$(luarocks --lua-version=5.4 path --tree=" .. shq(tree) .. ")\" && "
      .. "INFISICAL_API_URL=" .. srv.url .. " INFISICAL_TOKEN=" .. H.TOKEN .. " "
      .. shq(tree .. "/bin/infisical-tokens") .. " list " .. ID1 .. " --format json 2>&1")
    fake.run("rm -rf " .. shq(tree))
    assert.equal(0, rc, out)
    assert.equal(26, #cjson.decode(out))
  end)
end)
