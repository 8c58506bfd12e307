--- The README's first command runs this: list an identity's tokens.
-- With INFISICAL_TOKEN set it asks the real server ($INFISICAL_API_URL, default
-- https://us.infisical.com) about $INFISICAL_IDENTITY_ID (or the first argument).
-- Without it, it starts the bundled fake server with sample data and says so: the sample
-- tokens are dated relative to today (some active, some expired, used up or revoked), and
-- their identities belong to an organisation, listed after the tokens.
--
--   lua5.4 examples/demo.lua            -- list, then stop the fake server
--   lua5.4 examples/demo.lua --serve    -- keep it running: try infisical-tokens against it
local DEMO_ORG = "c0000000-0000-4000-8000-000000000001"

if os.getenv("INFISICAL_TOKEN") and arg[1] ~= "--serve" then
  arg = { [0] = "examples/list_tokens.lua", arg[1] or os.getenv("INFISICAL_IDENTITY_ID") }
  dofile("examples/list_tokens.lua")
  return
end

local serve = arg[1] == "--serve"
local fake = require "spec.fake_client"
local cjson = require "cjson"

-- The sample data, made fresh: served as it looked on 2024-06-27 at noon
-- (relative_to moves every date by the time since then), and its identities get names
-- and an organisation, with a few generated identities beside them.
local f = assert(io.open("spec/fixtures/sample.json", "rb"))
local state = cjson.decode(f:read("*a"))
f:close()
state.relative_to = "2024-06-27T12:00:00Z"
state.access_tokens["fake-valid-token"].org_id = DEMO_ORG
local names = { "deploy-bot", "ci-runner", "ua-service" }
for i, name in ipairs(names) do
  local ident = state.identities[fake.identity_id(i)]
  ident.org_id, ident.name = DEMO_ORG, name
end
state.identities[fake.identity_id(2)].generate = 30
state.orgs = { [DEMO_ORG] = { generate = 4 } }

local srv = fake.start{ state = state }
local env = { INFISICAL_API_URL = srv.url, INFISICAL_TOKEN = "fake-valid-token" }

if serve then
  print("The bundled fake server serves the sample data at " .. srv.url .. "; in another shell:")
  print()
  print(("  export INFISICAL_API_URL=%s INFISICAL_TOKEN=%s"):format(env.INFISICAL_API_URL, env.INFISICAL_TOKEN))
  print("  lua5.4 bin/infisical-tokens list " .. fake.identity_id(1))
  print("  lua5.4 bin/infisical-tokens identities --org " .. DEMO_ORG)
  print("  lua5.4 bin/infisical-tokens audit --org " .. DEMO_ORG)
  print()
  print("Press Enter (or end the input) to stop it.")
  io.stdout:flush()
  io.read("*l")
  srv:stop()
  return
end

print("INFISICAL_TOKEN is not set: listing sample data from the bundled fake server at " .. srv.url)
print("(sample tokens dated relative to today)")
print()
-- The examples read their configuration from the environment; hand it over.
local real_getenv = os.getenv
os.getenv = function(k) return env[k] or real_getenv(k) end
arg = { [0] = "examples/list_tokens.lua", fake.identity_id(1) }
local ok, err = pcall(dofile, "examples/list_tokens.lua")
if ok then
  -- the organisation the sample identities belong to
  ok, err = pcall(function()
    local infisical = require "infisical"
    local client = assert(infisical.new())
    print()
    print("Organisation " .. DEMO_ORG .. ":")
    local n = 0
    for m in client:each_identity(DEMO_ORG) do
      n = n + 1
      print(("  %-36s  %-12s  %s"):format(m.identity.id, m.identity.name,
        table.concat(infisical.auth_methods(m), ",")))
    end
    print(("%d identities (try the command on them: make demo-serve)"):format(n))
    client:close()
  end)
end
os.getenv = real_getenv
srv:stop()
if not ok then error(err, 0) end
