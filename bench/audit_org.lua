--- Measurement 7: `infisical-tokens audit --org` under the server's rate limit, over an
-- organisation of N identities, half with Token Auth (one page of tokens each), half with
-- Universal Auth (their client secrets: one request each), issue 17. The fake server
-- limits reads to LIMIT per WINDOW seconds for the whole address (per_route = false).
--   lua5.4 bench/audit_org.lua N LIMIT WINDOW [CONCURRENCY]
-- prints "audit_org N LIMIT WINDOW conc requests n429 complete errors wall ideal ratio", then a
-- line in words. The ideal is the time the limit allows for the requests it counts:
-- ceil(requests / LIMIT) windows, the last one sent at its start.
package.path = "./?.lua;" .. package.path
local cjson = require "cjson"
local core = require "infisical.core"
local fake = require "spec.fake_client"

local n, limit, window = tonumber(arg[1]), tonumber(arg[2]), tonumber(arg[3])
local conc = tonumber(arg[4] or "8")
assert(n and limit and window, "usage: lua5.4 bench/audit_org.lua N LIMIT WINDOW [CONCURRENCY]")
local ORG = "c0000000-0000-4000-8000-0000000000b7"

local state = fake.load_fixture("spec/fixtures/sample.json")
state.access_tokens["fake-valid-token"].org_id = ORG
state.mode = "legacy"
state.identities = {}
local now = os.time()
for i = 1, n do
  local id = fake.identity_id(20000 + i)
  local ident = { org_id = ORG, name = ("id-%05d"):format(i) }
  if i % 2 == 1 then
    ident.auth_methods = { "token-auth" }
    ident.generate = 3
  else
    ident.auth_methods = { "universal-auth" }
    ident.client_secrets = {}
    for k = 1, 3 do
      ident.client_secrets[k] = { id = ("d%07d-0000-4000-8000-%012d"):format(i, k), description = "s" .. k,
        clientSecretPrefix = "ab" .. k, clientSecretNumUses = k - 1, clientSecretNumUsesLimit = 0,
        clientSecretTTL = 0, isClientSecretRevoked = false,
        identityUAId = ("e%07d-0000-4000-8000-000000000001"):format(i),
        createdAt = os.date("!%Y-%m-%dT%H:%M:%S.000Z", now - 86400 * k),
        updatedAt = os.date("!%Y-%m-%dT%H:%M:%S.000Z", now - 86400 * k) }
    end
  end
  state.identities[id] = ident
end
state.rate_limit = { limit = limit, window = window, per_route = false }

local srv = fake.start{ state = state }
local t0 = core.monotime()
local out, rc = fake.run(("INFISICAL_API_URL=%s INFISICAL_TOKEN=fake-valid-token lua5.4 bin/infisical-tokens"
  .. " audit --org %s --concurrency %d -f json 2>/dev/null"):format(srv.url, ORG, conc))
local wall = core.monotime() - t0
assert(rc == 0 or rc == 1, "audit failed: exit " .. tostring(rc) .. " " .. out)
local doc = cjson.decode(out)
local complete, errors = 0, 0
for _, r in ipairs(doc.identities) do
  if r.error then errors = errors + 1
  elseif (type(r.tokens) == "number") or type(r.clientSecrets) == "table" then complete = complete + 1 end
end
local reqs, n429 = 0, 0
for _, q in ipairs(srv:stats().requests) do
  -- the requests the limiter counts (GET /api/status has no limit)
  if q.path:find("^/api/") and q.path ~= "/api/status" then
    reqs = reqs + 1
    if q.status == 429 then n429 = n429 + 1 end
  end
end
srv:stop()
local ideal = (math.ceil((reqs - n429) / limit) - 1) * window
if ideal <= 0 then ideal = window end
print(("audit_org %d %d %g %d %d %d %d %d %.3f %.3f %.3f"):format(n, limit, window, conc, reqs, n429,
  complete, errors, wall, ideal, wall / ideal))
print(("audit --org of %d identities (half Token Auth, half Universal Auth), %d reads per %gs:"
  .. " %d requests, %d 429s, %d of %d complete, %d errors, wall %.1f s, ideal %.1f s (%.3fx)")
  :format(n, limit, window, reqs, n429, complete, #doc.identities, errors, wall, ideal, wall / ideal))
