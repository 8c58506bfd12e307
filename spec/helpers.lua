--- Shared by the specs: start the fake server, make clients, build states.
local fake = require "spec.fake_client"

local H = { fake = fake }

H.TOKEN = "fake-valid-token"
-- Secrets as long as real ones (a JWT, a 64-hex-digit client secret), for the checks that
-- look for any 8-byte piece of a secret rather than the whole of it.
H.LONG_SECRETS = {
  token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzZWNyZXRzLXNwZWMiOiJ0b2tlbi1hdXRoIiwiaWF0IjoxNzAwMDAwMDAwfQ"
    .. ".Qm9ndXNTaWduYXR1cmVGb3JUaGVMdWFJbmZpc2ljYWxTcGVj",
  client_secret = "5f0c3a9e1b7d42c6a8e0f4b2d9c17e3a6b5d8f0e2c4a7b9d1f3e5c7a9b0d2f4e",
  ua_token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1bml2ZXJzYWxBdXRoIjoiYWNjZXNzLXRva2VuIn0"
    .. ".VW5pdmVyc2FsQXV0aEFjY2Vzc1Rva2VuU2lnbmF0dXJl",
}
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

--- Every string reachable from v (tables walked, metatables' __tostring applied), at
-- any depth the JSON decoder can produce (a secret deep in an error's details counts).
function H.strings(v, acc, depth, seen)
  acc, depth, seen = acc or {}, depth or 0, seen or {}
  if type(v) == "string" then acc[#acc + 1] = v
  elseif type(v) == "table" and depth < 1100 and not seen[v] then
    seen[v] = true
    local mt = getmetatable(v)
    if mt and mt.__tostring then acc[#acc + 1] = tostring(v) end
    for k, x in pairs(v) do H.strings(k, acc, depth + 1, seen); H.strings(x, acc, depth + 1, seen) end
  elseif v ~= nil and type(v) ~= "table" then acc[#acc + 1] = tostring(v) end
  return acc
end

--- The first piece of `secret` of `len` (default 8) bytes found in `s`, or nil: what
-- "no part of the secret" is checked with (redaction treats shorter pieces as harmless).
function H.secret_piece(s, secret, len)
  len = len or 8
  for i = 1, #secret - len + 1 do
    local piece = secret:sub(i, i + len - 1)
    if s:find(piece, 1, true) then return piece end
  end
  return nil
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

H.ORG = "c0000000-0000-4000-8000-000000000001"
H.OTHER_ORG = "c0000000-0000-4000-8000-000000000002"

--- The sample fixture's bearers, the valid one (and the no-permission one) members of
-- H.ORG, which has `n` generated identities.
function H.org_state(n, extra)
  local s = H.state(nil, extra)
  s.access_tokens[H.TOKEN].org_id = H.ORG
  s.access_tokens["fake-noperm-token"].org_id = H.ORG
  s.orgs = { [H.ORG] = { generate = n } }
  return s
end

--- Runs `bin/infisical-tokens` as a child process with `argv` and only the environment
-- variables in `env` among the ones it reads (the caller's INFISICAL_* are removed).
-- opts: stdin (a string, default empty), lua (the interpreter, default lua5.4), bin (the
-- script), raw (keep stdout exactly; by default one trailing newline goes, as fake.run does).
-- @return stdout, exit status, stderr
function H.cli(argv, env, opts)
  opts = opts or {}
  local shq = fake.shellquote
  local parts = { "env", "-u", "INFISICAL_TOKEN", "-u", "INFISICAL_API_URL",
    "-u", "INFISICAL_UNIVERSAL_AUTH_CLIENT_ID", "-u", "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET",
    "-u", "LUA_INIT", "-u", "LUA_INIT_5_4" }
  for k, v in pairs(env or {}) do parts[#parts + 1] = shq(k .. "=" .. v) end
  parts[#parts + 1] = (opts.lua or "lua5.4") .. " " .. (opts.bin or "bin/infisical-tokens")
  for _, a in ipairs(argv) do parts[#parts + 1] = shq(a) end
  local errf, outf, inf = os.tmpname(), os.tmpname(), os.tmpname()
  local fh = assert(io.open(inf, "wb")); fh:write(opts.stdin or ""); fh:close()
  local _, rc = fake.run(table.concat(parts, " ") .. " <" .. shq(inf) .. " >" .. shq(outf)
    .. " 2>" .. shq(errf))
  local out, err = fake.read_file(outf) or "", fake.read_file(errf) or ""
  os.remove(errf); os.remove(outf); os.remove(inf)
  if not opts.raw and out:sub(-1) == "\n" then out = out:sub(1, -2) end
  return out, rc, err
end

--- The lines of a command's output (LF or CRLF), without a last empty one.
function H.lines(s)
  local t = {}
  for l in (s .. "\n"):gmatch("(.-)\r?\n") do t[#t + 1] = l end
  if t[#t] == "" then t[#t] = nil end
  return t
end

return H
