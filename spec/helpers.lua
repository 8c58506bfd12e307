--- Shared by the specs: start the fake server, make clients, build states.
local fake = require "spec.fake_client"

local H = { fake = fake }

H.TOKEN = "fake-valid-token"
H.ID1 = fake.identity_id(1)   -- 30 tokens in the sample fixture
H.ID2 = fake.identity_id(2)   -- 250 generated tokens (past the 200-token wall)
H.ID3 = fake.identity_id(3)   -- no Token Auth
H.FIXTURE = "spec/fixtures/sample.json"

--- A state with the sample fixture's bearers and the given identities.
-- identities: { [id] = { tokens = {...} } or { generate = N } }
function H.state(identities, extra)
  local s = fake.load_fixture(H.FIXTURE)
  if identities then s.identities = identities end
  for k, v in pairs(extra or {}) do s[k] = v end
  return s
end

--- n token records for identity `id`, newest first (distinct updatedAt).
function H.records(id, n, over)
  local t = {}
  for i = 1, n do
    local r = fake.token_record{ identityId = id, updatedAt = fake.ts(i * 60),
      name = ("tok-%03d"):format(i) }
    for k, v in pairs(over or {}) do r[k] = v end
    t[i] = r
  end
  return t
end

--- A client of the fake server, with fast retries by default.
function H.client(srv, opts)
  local infisical = require "infisical"
  local o = { base_url = srv.url, token = H.TOKEN, backoff = 0.01, max_backoff = 0.05,
    timeout = 10 }
  for k, v in pairs(opts or {}) do o[k] = v end
  return assert(infisical.new(o))
end

--- The API requests the fake server saw (control requests left out).
function H.api_requests(srv)
  local out = {}
  for _, r in ipairs(srv:stats().requests) do
    if r.path:find("^/api/") then out[#out + 1] = r end
  end
  return out
end

--- Every string reachable from v (tables walked, metatables' __tostring applied).
function H.strings(v, acc, depth)
  acc, depth = acc or {}, depth or 0
  if type(v) == "string" then acc[#acc + 1] = v
  elseif type(v) == "table" and depth < 10 then
    local mt = getmetatable(v)
    if mt and mt.__tostring then acc[#acc + 1] = tostring(v) end
    for k, x in pairs(v) do H.strings(k, acc, depth + 1); H.strings(x, acc, depth + 1) end
  elseif v ~= nil then acc[#acc + 1] = tostring(v) end
  return acc
end

--- Asserts the secret appears nowhere in v.
function H.assert_no_secret(v, secret)
  secret = secret or H.TOKEN
  for _, s in ipairs(H.strings(v)) do
    assert(not s:find(secret, 1, true), "secret found in: " .. s:sub(1, 200))
  end
end

function H.ids(tokens)
  local t = {}
  for i, tok in ipairs(tokens) do t[i] = tok.id end
  return t
end

--- Standard base64 (RFC 4648, with padding), in plain Lua 5.1-5.4 so the specs need no
-- LuaSocket: the fake server's raw_b64 fault takes bytes a JSON string cannot carry.
function H.b64(s)
  local A = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local q = {}
    for j = 1, 4 do
      local k = math.floor(n / 64 ^ (4 - j)) % 64
      q[j] = A:sub(k + 1, k + 1)
    end
    if not b then q[3] = "=" end
    if not c then q[4] = "=" end
    out[#out + 1] = table.concat(q)
  end
  return table.concat(out)
end

return H
