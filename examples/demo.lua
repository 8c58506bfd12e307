--- The README's first command runs this: list an identity's tokens.
-- With INFISICAL_TOKEN set it asks the real server ($INFISICAL_API_URL, default
-- https://us.infisical.com) about $INFISICAL_IDENTITY_ID (or the first argument).
-- Without it, it starts the bundled fake server with sample data and says so.
local fake
if not os.getenv("INFISICAL_TOKEN") then
  fake = require "spec.fake_client"
  local srv = fake.start{ fixture = "spec/fixtures/sample.json" }
  print("INFISICAL_TOKEN is not set: listing sample data from the bundled fake server at " .. srv.url)
  print()
  -- The examples read their configuration from the environment; hand it over.
  local real_getenv = os.getenv
  local env = { INFISICAL_API_URL = srv.url, INFISICAL_TOKEN = "fake-valid-token" }
  os.getenv = function(k) return env[k] or real_getenv(k) end
  arg = { [0] = "examples/list_tokens.lua", fake.identity_id(1) }
  local ok, err = pcall(dofile, "examples/list_tokens.lua")
  os.getenv = real_getenv
  srv:stop()
  if not ok then error(err, 0) end
else
  arg = { [0] = "examples/list_tokens.lua", arg[1] or os.getenv("INFISICAL_IDENTITY_ID") }
  dofile("examples/list_tokens.lua")
end
