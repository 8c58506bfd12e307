-- `infisical-tokens audit --org ORG_ID` run as a user runs it (a child process against the
-- fake server): every Token Auth identity of the organisation audited, the others listed
-- as skipped with their auth methods, in the three formats and both record shapes; errors,
-- the number of requests, and the progress line on a terminal.
local H = require "spec.helpers"
local fake = H.fake
local cjson = require "cjson"

local ORG = H.ORG
local OTHER_ORG = H.OTHER_ORG
local NOW = "2024-06-01T12:00:00Z"
local shq = fake.shellquote

local function esc(s) return (s:gsub("%p", "%%%0")) end

-- Runs the command; returns stdout, exit status, stderr. `stdin`: one line for its input.
local function cli(argv, env, stdin)
  return H.cli(argv, env, { stdin = stdin and stdin .. "\n" })
end
local lines = H.lines

local org_state = H.org_state

describe("infisical-tokens audit --org", function()
  local srv, env

  setup(function()
    srv = fake.start{ fixture = H.FIXTURE }
    env = { INFISICAL_API_URL = srv.url, INFISICAL_TOKEN = H.TOKEN }
  end)
  teardown(function() srv:stop() end)
  before_each(function() srv:reset(org_state(12)) end)

  -- the server's view of the organisation, by identity id (the control API, not the library)
  local function server_view()
    local res = srv:request{ path = "/api/v2/organizations/" .. ORG .. "/identity-memberships?limit=5000",
      headers = { Authorization = "Bearer " .. H.TOKEN } }
    assert.equal(200, res.status)
    local out, n, nua = {}, 0, 0
    for _, m in ipairs(res.json.identityMemberships) do
      local methods = m.identity.authMethods
      if methods == nil then   -- late-2024 shape: one method or null
        methods = m.identity.authMethod ~= cjson.null and { m.identity.authMethod } or {}
      end
      local ta, ua = false, false
      for _, x in ipairs(methods) do
        if x == "token-auth" then ta = true end
        if x == "universal-auth" then ua = true end
      end
      out[m.identityId] = { name = m.identity.name, methods = methods, token_auth = ta, ua = ua }
      if ta then n = n + 1 end
      if ua then nua = nua + 1 end
    end
    return out, n, #res.json.identityMemberships, nua
  end

  -- the number of token-auth tokens the server holds for identity `id`
  local function server_tokens(id)
    local n = 0
    for _, t in ipairs(srv:state().identities[id].tokens) do
      if (t.authMethod or "token-auth") == "token-auth" then n = n + 1 end
    end
    return n
  end

  it("audits every Token Auth identity and lists the others as skipped, in both shapes (JSON)", function()
    for _, mode in ipairs{ "current", "legacy" } do
      srv:reset(org_state(12, { mode = mode }))
      local view, n_ta, n_all = server_view()
      assert.equal(12, n_all)
      assert.equal(9, n_ta)   -- 5 and 10: Universal Auth only; 7: no method
      local out, rc, err = cli({ "audit", "--org", ORG, "--format", "json", "--now", NOW }, env)
      assert.is_true(rc == 0 or rc == 1, err)
      local doc = cjson.decode(out)
      assert.equal(ORG, doc.org)
      assert.equal(12, #doc.identities)
      assert.equal(1, doc.identitiesSkipped)   -- 7: no method (5 and 10: client secrets)
      assert.equal(0, doc.identitiesWithErrors)
      assert.equal(doc.identitiesWithFindings > 0 and 1 or 0, rc)
      local seen, skipped = {}, 0
      for _, r in ipairs(doc.identities) do
        local v = view[r.identityId]
        assert.is_table(v, mode)
        assert.is_nil(seen[r.identityId])
        seen[r.identityId] = true
        assert.equal(v.name, r.name)
        assert.same(v.methods, r.authMethods)
        assert.equal(#v.methods == 0, r.skipped)
        local ua = false
        for _, m in ipairs(v.methods) do if m == "universal-auth" then ua = true end end
        if r.skipped then
          skipped = skipped + 1
          assert.is_nil(r.tokens)
          assert.is_nil(r.error)
          assert.is_nil(r.clientSecrets)
        elseif v.token_auth then
          assert.equal(server_tokens(r.identityId), r.tokens, mode)
          assert.is_table(r.counts)
        else
          assert.is_nil(r.tokens)
        end
        -- a Universal Auth identity's client secrets are audited too
        if not r.skipped then
          if ua then assert.is_table(r.clientSecrets) else assert.equal(cjson.null, r.clientSecrets) end
        end
      end
      assert.equal(1, skipped)
      -- legacy shows only the first of two methods; current shows both
      local both = 0
      for _, r in ipairs(doc.identities) do if #r.authMethods == 2 then both = both + 1 end end
      assert.equal(mode == "current" and 4 or 0, both, mode)   -- 3, 6, 9, 12
      assert.matches('"authMethods": %[%]', out)   -- an empty list is an array
      if mode == "legacy" then
        assert.equal("", err)
      else   -- a 2026 server records no use: said once on stderr, nulls in the JSON
        assert.matches("^infisical%-tokens: NEVER%-USED and NEAR%-LIMIT: n/a: this server does not record token use", err)
        assert.equal(1, select(2, err:gsub("\n", "")))
      end
    end
  end)

  it("prints a table with a NAME column, the skipped identities' auth methods and a summary", function()
    local view = server_view()
    local out, rc, err = cli({ "audit", "--org", ORG, "--now", NOW }, env)
    assert.is_true(rc == 0 or rc == 1, err)
    local l = lines(out)
    assert.matches("^IDENTITY%s+NAME%s+TOKENS%s+ACTIVE%s+EXPIRED%s+EXHAUSTED%s+REVOKED%s+NEVER%-USED%s+"
      .. "NEAR%-LIMIT%s+EXPIRING<7D%s+SECRETS%s+SECRET FINDINGS%s+RESULT$", l[1])
    assert.equal(1 + 12 + 2, #l)   -- header, rows, blank line, summary
    local skipped = {}
    for i = 2, 13 do
      local id, name, rest = l[i]:match("^(%S+)%s+(%S+)%s+(.*)$")
      local v = view[id]
      assert.is_table(v, l[i])
      assert.equal(v.name, name)
      if v.token_auth then
        assert.matches("^%d+%s", rest)
        assert.matches("%s(%a+)$", rest)
      elseif v.ua then
        -- Universal Auth only: no token columns, its client secrets counted
        assert.matches("^%-%s+%-%s+%-%s+%-%s+%-%s+%-%s+%-%s+%-%s+%d+%s+.-%s(%a+)$", rest)
      else
        skipped[name] = rest:match("(skipped: .*)$")
        assert.is_string(skipped[name], l[i])
      end
    end
    assert.is_nil(skipped["svc-00005"])
    assert.is_nil(skipped["svc-00010"])
    assert.equal("skipped: no auth method", skipped["svc-00007"])
    assert.equal("", l[14])
    assert.matches("^11 identities audited at 2024%-06%-01T12:00:00Z: %d+ with findings, 0 with errors; "
      .. "1 skipped %(no Token Auth or Universal Auth%) in organisation " .. esc(ORG) .. "$", l[15])
    -- --no-header: rows only
    out = cli({ "audit", "--org", ORG, "--now", NOW, "--no-header" }, env)
    assert.equal(12, #lines(out))
  end)

  it("prints CSV: the usual eleven columns, then name, auth_methods and skipped", function()
    local view = server_view()
    local out, rc, err = cli({ "audit", "--org", ORG, "--format", "csv", "--now", NOW }, env)
    assert.is_true(rc == 0 or rc == 1, err)
    local l = lines(out)
    assert.equal("identity_id,tokens,active,expired,exhausted,revoked,never_used,near_limit,"
      .. "expiring_soon,truncated,error,name,auth_methods,skipped,client_secrets,secrets_active,"
      .. "secrets_expired,secrets_exhausted,secrets_never_expire,secrets_unused,secrets_too_old,"
      .. "secrets_near_limit,secrets_expired_not_revoked", l[1])
    assert.equal(13, #l)
    local nskip = 0
    for i = 2, #l do
      local f = {}
      for x in (l[i] .. ","):gmatch("([^,]*),") do f[#f + 1] = x end
      assert.equal(23, #f, l[i])
      local v = view[f[1]]
      assert.equal(v.name, f[12])
      assert.equal(table.concat(v.methods, " "), f[13])
      if v.token_auth then
        assert.equal("false", f[14])
        assert.equal(tostring(server_tokens(f[1])), f[2])
      elseif v.ua then
        assert.equal("false", f[14])
        for c = 2, 11 do assert.equal("", f[c]) end
      else
        nskip = nskip + 1
        assert.equal("true", f[14])
        for c = 2, 11 do assert.equal("", f[c]) end
      end
      -- the client secrets' columns: filled for a Universal Auth identity only
      if v.ua then assert.matches("^%d+$", f[15]) else assert.equal("", f[15]) end
    end
    assert.equal(1, nskip)
  end)

  it("sends one request per page of identities, per Token Auth identity and per Universal Auth one, none for the skipped", function()
    srv:reset(org_state(2500))
    local view, n_ta, n_all, n_ua = server_view()
    srv:reset(org_state(2500))   -- fresh statistics
    local out, rc, err = cli({ "audit", "--org", ORG, "--format", "json", "--concurrency", "16" }, env)
    assert.is_true(rc == 0 or rc == 1, err)
    local doc = cjson.decode(out)
    assert.equal(2500, #doc.identities)
    local none = 0
    for _, v in pairs(view) do if #v.methods == 0 then none = none + 1 end end
    assert.equal(none, doc.identitiesSkipped)
    assert.equal(2500, n_all)
    assert.equal(0, doc.identitiesWithErrors)
    local reqs = H.api_requests(srv)
    local pages, per_identity, statuses, secrets_reqs = 0, {}, 0, {}
    for _, r in ipairs(reqs) do
      if r.path:find("/identity-memberships", 1, true) then
        pages = pages + 1
      elseif r.path == "/api/status" then
        statuses = statuses + 1   -- the server's token rules, asked once
      elseif r.path:find("/client-secrets", 1, true) then
        local id = r.path:match("/identities/([^/]+)/client%-secrets$")
        assert.is_true(view[id].ua, id)
        secrets_reqs[id] = (secrets_reqs[id] or 0) + 1
      else
        local id = r.path:match("/identities/([^/]+)/tokens")
        assert.is_string(id, r.path)
        assert.is_true(view[id].token_auth, id)   -- never a skipped identity
        per_identity[id] = (per_identity[id] or 0) + 1
      end
    end
    assert.equal(3, pages)   -- 1000 a page
    local n = 0
    for _, c in pairs(per_identity) do n = n + 1; assert.equal(1, c) end
    assert.equal(n_ta, n)
    assert.equal(1, statuses)
    local m = 0
    for _, c in pairs(secrets_reqs) do m = m + 1; assert.equal(1, c) end
    assert.equal(n_ua, m)
    assert.equal(3 + n_ta + n_ua + 1, #reqs)
  end)

  it("an organisation without identities: an empty report, exit 0", function()
    srv:reset(org_state(0))
    local out, rc, err = cli({ "audit", "--org", ORG, "--format", "json" }, env)
    assert.equal(0, rc, err)
    local doc = cjson.decode(out)
    assert.equal(0, doc.identitiesSkipped)
    assert.matches('"identities": %[%]', out)
    out, rc = cli({ "audit", "--org", ORG, "--now", NOW }, env)
    assert.equal(0, rc)
    assert.matches("0 identities audited at .*; 0 skipped", out)
  end)

  it("an unknown organisation or a missing permission: exit 2, nothing on stdout", function()
    for _, fmt in ipairs{ "table", "json", "csv" } do
      local out, rc, err = cli({ "audit", "--org", OTHER_ORG, "--format", fmt }, env)
      assert.equal(2, rc)
      assert.equal("", out)
      assert.matches("^infisical%-tokens: audit %-%-org " .. esc(OTHER_ORG) .. ": .*HTTP 403", err)
      assert.is_nil(err:find("audited", 1, true))
      assert.equal(1, #H.api_requests(srv))   -- no identity fetched
      srv:reset(org_state(12))
    end
    local out, rc, err = cli({ "audit", "--org", ORG }, { INFISICAL_API_URL = srv.url,
      INFISICAL_TOKEN = "fake-noperm-token" })
    assert.equal(2, rc)
    assert.equal("", out)
    assert.matches("PermissionDenied", err)
    assert.matches("lacks a permission", err)
    assert.equal(1, #H.api_requests(srv))
  end)

  it("refused credentials: exit 3, said once, one request, nothing on stdout", function()
    for _, tok in ipairs{ "fake-revoked-token", "fake-expired-token", "garbage" } do
      srv:reset(org_state(12))
      local out, rc, err = cli({ "audit", "--org", ORG, "--format", "csv" }, { INFISICAL_API_URL = srv.url,
        INFISICAL_TOKEN = tok })
      assert.equal(3, rc, tok)
      assert.equal("", out)
      local _, n = err:gsub("refused the token in INFISICAL_TOKEN", "")
      assert.equal(1, n, err)
      assert.is_nil(err:find(tok, 1, true))
      assert.equal(1, #H.api_requests(srv))
    end
  end)

  it("credentials refused in the middle of the audit: exit 3, the rest not tried (no storm)", function()
    srv:reset(org_state(40))
    local view, n_ta = server_view()
    assert.equal(28, n_ta)
    srv:reset(org_state(40))
    -- the token is revoked as the third token request arrives
    srv:faults{ { match = "/tokens", after = 2, token = { bearer = H.TOKEN, state = "revoked" },
      then_normal = true } }
    local out, rc, err = cli({ "audit", "--org", ORG, "--format", "json", "--concurrency", "8" }, env)
    assert.equal(3, rc, err)
    local doc = cjson.decode(out)
    assert.equal(40, #doc.identities)
    assert.equal(4, doc.identitiesSkipped)   -- 7, 14, 21, 28: no method
    local ok, refused, not_tried = 0, 0, 0
    for _, r in ipairs(doc.identities) do
      assert.equal(#view[r.identityId].methods == 0, r.skipped)
      if r.error then
        if r.error.kind == "auth" then refused = refused + 1
        else
          assert.equal("not_tried", r.error.kind)
          not_tried = not_tried + 1
        end
      elseif not r.skipped then ok = ok + 1 end
    end
    assert.equal(36, ok + refused + not_tried)
    assert.is_true(refused >= 1)
    assert.is_true(not_tried > 0)
    assert.equal(36 - ok, doc.identitiesWithErrors)
    assert.matches("stopped at the refused credentials: " .. not_tried .. " more identities not tried", err)
    local _, n = err:gsub("the server refused the token", "")
    assert.equal(1, n, err)
    assert.is_nil(err:find("not tried: the server", 1, true))   -- one line, not one per identity
    -- at most the requests already in flight when the refusal came back
    local reqs = #H.api_requests(srv)
    assert.is_true(reqs <= 1 + ok + refused + 8, reqs)
    assert.is_true(reqs < 1 + n_ta, reqs)
  end)

  it("a failure after the first page of identities: nothing printed, no token fetched", function()
    srv:reset(org_state(2500))
    srv:faults{ { match = "/identity-memberships", after = 1, status = 400,
      body = { statusCode = 400, error = "BadRequest", message = "boom" } } }
    local out, rc, err = cli({ "audit", "--org", ORG, "--format", "json" }, env)
    assert.equal(2, rc)
    assert.equal("", out)
    assert.matches("boom", err)
    assert.is_nil(err:find("audited", 1, true))
    assert.is_nil(err:find(H.TOKEN, 1, true))
    assert.equal(2, #H.api_requests(srv))
  end)

  it("refuses --org beside identity ids, '-' or --from-file, and a bad --org, before any request", function()
    local f = os.tmpname()
    local fh = io.open(f, "w"); fh:write(H.ID1, "\n"); fh:close()
    for _, case in ipairs{
      { { "audit", "--org", ORG, H.ID1 }, "give identity ids %('%-', %-%-from%-file%) or %-%-org, not both" },
      { { "audit", "--org", ORG, "-" }, "not both", H.ID1 },
      { { "audit", "--org", ORG, "--from-file", f }, "not both" },
      { { "audit", "--org", "" }, "%-%-org needs the organisation's id" },
      { { "audit", "--org", "a\nb" }, "%-%-org takes the organisation's id, a UUID" },
      { { "audit", "--org", "my-org" }, "%-%-org takes the organisation's id, a UUID .* not 'my%-org'; nothing was sent" },
      { { "audit", "--org" }, "needs a value" },
      { { "audit" }, "missing IDENTITY_ID .*%-%-org ORG_ID" },
    } do
      local out, rc, err = cli(case[1], env, case[3])
      assert.equal(2, rc, table.concat(case[1], " "))
      assert.equal("", out)
      assert.matches(case[2], err)
      assert.matches("see 'infisical%-tokens audit %-%-help'", err)
    end
    os.remove(f)
    assert.equal(0, #H.api_requests(srv))
  end)

  it("shows identities done, the server's pauses and the time left on a terminal only", function()
    srv:reset(org_state(8, { latency = 0.3 }))
    -- the first page of identities is refused by the rate limit: the library waits 1 s
    local function fault()
      srv:faults{ { match = "/identity-memberships", status = 429,
        headers = { ["retry-after"] = "1", ["x-ratelimit-limit"] = "1", ["x-ratelimit-remaining"] = "0",
          ["x-ratelimit-reset"] = "1" },
        body = { statusCode = 429, error = "RateLimitExceeded",
          message = "Rate limit exceeded. Please try again in 1 seconds" } } }
    end
    fault()
    local argv = { "audit", "--org", ORG, "--concurrency", "1", "--format", "json" }
    local out, rc, err = cli(argv, env)
    assert.is_true(rc == 0 or rc == 1, err)
    assert.equal(8, #cjson.decode(out).identities)
    assert.is_nil(err:find("audit: ", 1, true))   -- not a terminal: no progress line
    fault()
    local log = os.tmpname()
    local parts = { "lua5.4", "bin/infisical-tokens" }
    for _, a in ipairs(argv) do parts[#parts + 1] = a end
    fake.run("INFISICAL_API_URL=" .. srv.url .. " INFISICAL_TOKEN=" .. H.TOKEN
      .. " script -qec " .. shq(table.concat(parts, " ") .. " >/dev/null") .. " " .. shq(log) .. " >/dev/null")
    local tty = fake.read_file(log) or ""
    os.remove(log)
    -- 6 Token Auth identities, 0.3 s each: lines with an estimate, then the last without
    assert.matches("\raudit: %d/6 identities, paused 1x for the server %(1s%), about %d+s left", tty)
    assert.matches("\raudit: 6/6 identities, paused 1x for the server %(1s%)\27%[K\r\27%[K", tty)
    -- the report itself went to stdout (/dev/null here): nothing but progress lines on the terminal
    assert.is_nil(tty:find("identities audited", 1, true))
  end)

  it("counts a 429 met by the concurrent token requests once in the progress line", function()
    srv:reset(org_state(8, { latency = 0.3 }))
    -- the third token request is refused with retry-after 1 while others are in flight:
    -- the whole pool pauses once
    srv:faults{ { match = "/tokens", after = 2, status = 429,
      headers = { ["retry-after"] = "1", ["x-ratelimit-limit"] = "100", ["x-ratelimit-remaining"] = "0",
        ["x-ratelimit-reset"] = "1" },
      body = { statusCode = 429, error = "RateLimitExceeded",
        message = "Rate limit exceeded. Please try again in 1 seconds" } } }
    local log = os.tmpname()
    fake.run("INFISICAL_API_URL=" .. srv.url .. " INFISICAL_TOKEN=" .. H.TOKEN
      .. " script -qec " .. shq("lua5.4 bin/infisical-tokens audit --org " .. ORG
        .. " --concurrency 4 -f json >/dev/null") .. " " .. shq(log) .. " >/dev/null")
    local tty = fake.read_file(log) or ""
    os.remove(log)
    assert.matches("\raudit: 6/6 identities, paused 1x for the server %(1s%)\27%[K\r\27%[K", tty)
  end)

  it("shows the identities read while a later page of them is slow, then clears it", function()
    srv:reset(org_state(2500))
    -- the second page is slow: the line says how many were read while it is awaited
    srv:faults{ { match = "/identity-memberships", after = 1, delay = 1.2, then_normal = true } }
    local log = os.tmpname()
    fake.run("INFISICAL_API_URL=" .. srv.url .. " INFISICAL_TOKEN=" .. H.TOKEN
      .. " script -qec " .. shq("lua5.4 bin/infisical-tokens audit --org " .. ORG .. " -f json >/dev/null")
      .. " " .. shq(log) .. " >/dev/null")
    local tty = fake.read_file(log) or ""
    os.remove(log)
    assert.matches("\raudit: reading the organisation's identities: 2000", tty, 1, true)
    assert.is_nil(tty:find("identities: 1000", 1, true))   -- within the first second
    assert.is_nil(tty:find("identities: 2500", 1, true))   -- the last page waits for nothing
    -- cleared before the audit's own line (or the end)
    assert.matches("identities: 2000\r\27[K", tty, 1, true)
  end)

  it("words the progress line: pauses and refusals only when there were some, no estimate at the end", function()
    local audit = require "infisical.cli.audit_report"
    assert.equal("audit: 0/300 identities", audit.progress_line{ done = 0, total = 300, elapsed = 2 })
    assert.equal("audit: 100/300 identities, about 1m30s left",
      audit.progress_line{ done = 100, total = 300, elapsed = 45 })
    assert.equal("audit: 120/300 identities, paused 2x for the server (31s), 1 refused by the rate limit,"
      .. " about 2h10m left", audit.progress_line{ done = 120, total = 300, elapsed = 5200,
      pauses = 2, waited = 31, limited = 1 })
    assert.equal("audit: 300/300 identities", audit.progress_line{ done = 300, total = 300, elapsed = 99 })
  end)

  it("has help, and the main help mentions --org", function()
    local out, rc = cli{ "audit", "--help" }
    assert.equal(0, rc)
    assert.matches("infisical%-tokens audit %-%-org ORG_ID", out)
    assert.matches("skipped", out)
    out = cli{ "--help" }
    assert.matches("audit %-%-org ORG_ID", out)
  end)
end)
