-- Every script in examples/ runs against the fake server, as a user would run it.
local H = require "spec.helpers"
local fake = H.fake

local ENV = 'LUA_PATH="./lua/?.lua;./lua/?/init.lua;./?.lua;;" LUA_CPATH="./build/lua5.4/?.so;;"'

local function run(env, script, args)
  local e = {}
  for k, v in pairs(env) do e[#e + 1] = k .. "=" .. fake.shellquote(v) end
  local q = {}
  for i, a in ipairs(args or {}) do q[i] = fake.shellquote(a) end
  return fake.run(("env -u INFISICAL_TOKEN -u INFISICAL_API_URL %s %s lua5.4 %s %s 2>&1")
    :format(ENV, table.concat(e, " "), script, table.concat(q, " ")))
end

describe("examples", function()
  local srv, env
  setup(function()
    srv = fake.start{ fixture = H.FIXTURE }
    env = { INFISICAL_API_URL = srv.url .. "/api", INFISICAL_TOKEN = H.TOKEN }
  end)
  teardown(function() srv:stop() end)

  it("list_tokens.lua prints every token as an aligned table", function()
    local out, rc = run(env, "examples/list_tokens.lua", { H.ID1 })
    assert.equal(0, rc)
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.matches("^ID%s+NAME%s+STATUS%s+USES%s+LAST USED%s+CREATED$", lines[1])
    assert.equal("26 tokens", lines[#lines])
    assert.equal(26 + 2, #lines)
    -- each row's status is the derived one (a 5/5-uses token is exhausted, not "live")
    local infisical = require "infisical"
    local want = {}
    for _, t in ipairs(assert(H.client(srv):all_tokens(H.ID1))) do
      want[t.id] = infisical.token_status(t)
    end
    local col = lines[1]:find("STATUS", 1, true)
    local seen = {}
    for i = 2, #lines - 1 do
      local id = lines[i]:match("^(%S+)")
      local status = lines[i]:sub(col):match("^(%a+)")
      assert.equal(want[id], status, "status of " .. id)
      seen[status] = true
    end
    assert.is_true(seen.exhausted and seen.revoked and true or false,
      "the sample has exhausted and revoked tokens")
  end)

  it("list_tokens.lua says when the 200-token wall was hit", function()
    local out, rc = run(env, "examples/list_tokens.lua", { H.ID2 })
    assert.equal(0, rc)
    assert.matches("200 tokens %(the API lists at most 200: more exist%)", out)
  end)

  it("list_tokens.lua fails with the error and status 1", function()
    local out, rc = run(env, "examples/list_tokens.lua", { H.ID3 })
    assert.equal(1, rc)
    assert.matches("HTTP 400 BadRequest: The identity does not have Token Auth", out)
    assert.not_matches(H.TOKEN, out)
  end)

  it("audit.lua reports revoked, never used and near-limit tokens, exit 1 on findings", function()
    local out, rc = run(env, "examples/audit.lua", { H.ID1 })
    assert.equal(1, rc)
    local client = H.client(srv)
    local tokens = assert(client:all_tokens(H.ID1))
    local revoked, unused, near = 0, 0, 0
    for _, t in ipairs(tokens) do
      if t.isAccessTokenRevoked then revoked = revoked + 1
      else
        if not t.accessTokenLastUsedAt then unused = unused + 1 end
        local l = t.accessTokenNumUsesLimit or 0
        if l > 0 and t.accessTokenNumUses >= 0.9 * l then near = near + 1 end
      end
    end
    assert.is_true(revoked > 0 and unused > 0 and near > 0)
    assert.matches("revoked:%s+" .. revoked .. " ", out)
    assert.matches("never used:%s+" .. unused .. " ", out)
    assert.matches("near use limit:%s+" .. near .. " ", out)
  end)

  it("audit.lua exits 2 when an identity fails, and still reports the others", function()
    local out, rc = run(env, "examples/audit.lua", { H.ID3, H.ID1 })
    assert.equal(2, rc)
    assert.matches(H.ID3 .. ": ERROR", out, 1, true)
    assert.matches(H.ID1 .. ": 26 tokens", out, 1, true)
  end)

  it("audit.lua and list_tokens.lua say what to set when there is no token", function()
    local out, rc = run({}, "examples/audit.lua", { H.ID1 })
    assert.equal(2, rc)
    assert.matches("INFISICAL_TOKEN", out)
  end)

  it("demo.lua lists the bundled sample data when no token is set, saying so", function()
    local out, rc = run({}, "examples/demo.lua", {})
    assert.equal(0, rc)
    assert.matches("INFISICAL_TOKEN is not set: listing sample data from the bundled fake server", out)
    assert.matches("26 tokens", out)
  end)

  it("demo.lua's sample is dated relative to today: active and expired tokens, and an organisation (issue 20 §3)", function()
    local out, rc = run({}, "examples/demo.lua", {})
    assert.equal(0, rc)
    local count = {}
    local recent = 0
    for status, created in out:gmatch("\n%x+%-[%x%-]+%s+%S+%s+(%a+)%s+%S+%s+%S+%s+(%d%d%d%d%-%d%d%-%d%d)T") do
      count[status] = (count[status] or 0) + 1
      -- every creation date within the last 35 days, not in 2024
      local y, m, d = created:match("(%d+)-(%d+)-(%d+)")
      local age = os.time() - os.time{ year = tonumber(y), month = tonumber(m), day = tonumber(d), hour = 12 }
      if age < 35 * 86400 then recent = recent + 1 end
    end
    assert.is_true((count.active or 0) >= 5, out)
    assert.is_true((count.expired or 0) >= 3, out)
    assert.is_true((count.revoked or 0) >= 1 and (count.exhausted or 0) >= 1, out)
    assert.equal(26, recent)
    assert.is_nil(out:find("2024-", 1, true))
    assert.matches("Organisation c0000000%-0000%-4000%-8000%-000000000001:", out)
    assert.matches("deploy%-bot%s+token%-auth", out)
    assert.matches("ua%-service%s+universal%-auth", out)
    assert.matches("7 identities", out)
  end)

  it("make demo-serve keeps the demo's server running for infisical-tokens identities --org and audit --org", function()
    local dir = os.tmpname()
    os.remove(dir)
    local script = ([[
set -e
d=%s; mkdir -p $d; mkfifo $d/in
env -u INFISICAL_TOKEN -u INFISICAL_API_URL make -s demo-serve < $d/in > $d/out 2>&1 &
pid=$!
exec 3>$d/in
for i in $(seq 100); do grep -q "export INFISICAL" $d/out && break; sleep 0.1; done
eval "$(grep -o 'export INFISICAL.*' $d/out)"
lua5.4 bin/infisical-tokens identities --org c0000000-0000-4000-8000-000000000001 -f csv > $d/ids || echo "ids rc=$?" >> $d/ids
lua5.4 bin/infisical-tokens audit --org c0000000-0000-4000-8000-000000000001 > $d/audit 2>/dev/null || echo "audit rc=$?" >> $d/audit
exec 3>&-
wait $pid
cat $d/out; echo ==; cat $d/ids; echo ==; cat $d/audit
rm -rf $d
]]):format(fake.shellquote(dir))
    local out, rc = fake.run("sh -c " .. fake.shellquote(script))
    assert.equal(0, rc, out)
    local served, ids, audit = out:match("^(.-)\n==\n(.-)\n==\n(.*)$")
    assert.matches("export INFISICAL_API_URL=http://127.0.0.1:%d+ INFISICAL_TOKEN=fake%-valid%-token", served)
    assert.matches("deploy-bot", ids, 1, true)
    assert.matches("ua-service", ids, 1, true)
    assert.is_nil(ids:find("rc=", 1, true))
    -- ua-service (Universal Auth) is audited for its client secrets, not skipped
    assert.matches("7 identities audited", audit, 1, true)
    assert.matches("0 skipped", audit, 1, true)
    -- the server stopped with the demo (Enter ends it): its port no longer answers
    local url = served:match("INFISICAL_API_URL=(%S+)")
    local _, crc = fake.curl{ "-s", "-o", "/dev/null", "--max-time", "2", url .. "/api/status" }
    assert.are_not.equal(0, crc)
  end)
end)
