-- What the live specs share: the seed (spec/live/seed.mjs wrote it; spec/live/run.sh names
-- it in LIVE_SEED), clients of the real server, the rate limiter's counters, the command.
local cjson = require "cjson"
local fake = require "spec.fake_client"
local infisical = require "infisical"

local L = {}

local function need(name)
  local v = os.getenv(name)
  assert(v and v ~= "", name .. " is not set: run the live suite with spec/live/run.sh (make test-real)")
  return v
end

L.seed = cjson.decode((assert(fake.read_file(need("LIVE_SEED")), "cannot read LIVE_SEED")))
L.base = need("LIVE_BASE")
L.ids = L.seed.ids
L.tokens = L.seed.tokens
L.ua = L.seed.ua
L.redis_port = need("LIVE_REDIS_PORT")
L.closed_port = need("LIVE_CLOSED_PORT")
L.shq = fake.shellquote

--- The backend runs in production mode: 60 reads a minute per route and client address.
-- Specs that are not about the limiter start from fresh counters (they live in our private
-- Redis under the @fastify/rate-limit prefix).
function L.reset_rate_limit()
  local p = L.shq(L.redis_port)
  local out, rc = fake.run("redis-cli -p " .. p .. " --scan --pattern 'fastify-rate-limit-*'"
    .. " | xargs -r redis-cli -p " .. p .. " del")
  assert(rc == 0, "resetting the rate limiter's counters failed: " .. out)
end

--- A client of the real server (retries off unless asked: a refusal is the answer).
function L.client(opts)
  opts = opts or {}
  local o = { base_url = L.base, retries = 0, timeout = 30 }
  for k, v in pairs(opts) do o[k] = v end
  if o.token == nil and o.client_id == nil then o.token = L.tokens.admin end
  if o.token == false then o.token = nil end
  return assert(infisical.new(o))
end

--- The real server as a fake_client server object: raw requests through curl.
local probe = fake.start{ state = {} }
L.Server = getmetatable(probe)
probe:stop()
L.real = setmetatable({ url = L.base }, L.Server)

function L.names(tokens)
  local out = {}
  for i, t in ipairs(tokens) do out[i] = t.name end
  table.sort(out)
  return out
end

function L.count(tokens, pred)
  local n = 0
  for _, t in ipairs(tokens) do if pred(t) then n = n + 1 end end
  return n
end

--- Runs bin/infisical-tokens with the given environment; returns stdout, stderr, status.
function L.cli(args, env)
  local parts = {}
  for k, v in pairs(env or {}) do parts[#parts + 1] = k .. "=" .. L.shq(v) end
  parts[#parts + 1] = "lua5.4 bin/infisical-tokens"
  for _, a in ipairs(args) do parts[#parts + 1] = L.shq(a) end
  local errf = os.tmpname()
  local out, rc = fake.run("env -u INFISICAL_TOKEN " .. table.concat(parts, " ") .. " 2>" .. L.shq(errf))
  local err = fake.read_file(errf) or ""
  os.remove(errf)
  return out, err, rc
end

--- The number of logins made with a Universal Auth identity's client secret, as the server
-- counts them (clientSecretNumUses).
function L.ua_logins(name)
  local res = L.real:request{ path = "/api/v1/auth/universal-auth/identities/" .. L.ids[name]
    .. "/client-secrets", headers = { authorization = "Bearer " .. L.tokens.admin,
    ["x-forwarded-for"] = "10.250.0." .. math.random(1, 250) } }
  assert(res.status == 200, "reading client secrets: HTTP " .. res.status .. " " .. res.body)
  for _, s in ipairs(res.json.clientSecretData) do
    if s.id == L.ua[name].client_secret_id then return s.clientSecretNumUses end
  end
  error("client secret of " .. name .. " not found")
end

L.sleep = fake.sleep
L.run = fake.run
L.fake = fake
L.infisical = infisical

return L
