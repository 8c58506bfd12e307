-- The fake server (spec/fake_server.py, legacy mode) checked against the real backend on
-- every run: the same requests go to both, in the same order, and the answers must agree on
-- the status, the body's `error` and `message`, and the headers a client reads
-- (content-type, etag's presence, retry-after's presence, x-ratelimit-limit and -remaining,
-- x-ratelimit-reset's presence). The fake is seeded with the real server's own ids, bearers
-- and token records, so every request is byte for byte the same on both.
local L = require "spec.live.live"
local cjson = require "cjson"

local ids, tk, ua = L.ids, L.tokens, L.ua
local UNKNOWN = "00000000-0000-4000-8000-000000000000"

local function bearer(t) return { authorization = "Bearer " .. t } end
local function list_path(id, q) return "/api/v1/auth/token-auth/identities/" .. id .. "/tokens" .. (q or "") end
local function revoke_path(id) return "/api/v1/auth/token-auth/tokens/" .. id .. "/revoke" end
local LOGIN = "/api/v1/auth/universal-auth/login"

-- The requests, in order (some change state on both: revoke, create, a TTL-expired or
-- used-up token deleted when presented). `etag_of` sends If-None-Match with the etag the
-- same server gave to the named earlier request.
local function requests()
  local mid4 = L.seed.named_token_ids["mid-4"]
  return {
    { "list ok", path = list_path(ids.page, "?offset=0&limit=1"), headers = bearer(tk.admin_compare) },
    { "list no query", path = list_path(ids.page), headers = bearer(tk.admin_compare) },
    { "no auth header", path = list_path(ids.page) },
    { "empty bearer", path = list_path(ids.page), headers = { authorization = "Bearer " } },
    { "basic auth scheme", path = list_path(ids.page), headers = { authorization = "Basic abc" } },
    { "garbage token", path = list_path(ids.page), headers = bearer("garbage") },
    { "revoked token", path = list_path(ids.page), headers = bearer(tk.admin_revoked) },
    { "token past its max TTL", path = list_path(ids.page), headers = bearer(tk.max_b) },
    { "token past its TTL", path = list_path(ids.page), headers = bearer(tk.ttl_b) },
    { "token past its TTL, again (deleted)", path = list_path(ids.page), headers = bearer(tk.ttl_b) },
    { "used-up token", path = list_path(ids.page), headers = bearer(tk.ul_b) },
    { "used-up token, again (deleted)", path = list_path(ids.page), headers = bearer(tk.ul_b) },
    { "no permission", path = list_path(ids.page), headers = bearer(tk.np) },
    { "unknown identity", path = list_path(UNKNOWN), headers = bearer(tk.admin_compare) },
    { "malformed identity", path = list_path("not-a-uuid"), headers = bearer(tk.admin_compare) },
    { "no token auth", path = list_path(ids.noauth), headers = bearer(tk.admin_compare) },
    { "offset=101", path = list_path(ids.page, "?offset=101"), headers = bearer(tk.admin_compare) },
    { "limit=0", path = list_path(ids.page, "?limit=0"), headers = bearer(tk.admin_compare) },
    { "limit=101&offset=-1", path = list_path(ids.page, "?limit=101&offset=-1"), headers = bearer(tk.admin_compare) },
    { "offset=abc", path = list_path(ids.page, "?offset=abc"), headers = bearer(tk.admin_compare) },
    { "offset=1.5", path = list_path(ids.page, "?offset=1.5&limit=1"), headers = bearer(tk.admin_compare) },
    { "limit= (empty)", path = list_path(ids.page, "?limit="), headers = bearer(tk.admin_compare) },
    { "unknown id + bad offset", path = list_path(UNKNOWN, "?offset=999"), headers = bearer(tk.admin_compare) },
    { "bad token + bad offset", path = list_path(ids.page, "?offset=999"), headers = bearer("garbage") },
    { "if-none-match etag", path = list_path(ids.page, "?offset=0&limit=1"), headers = bearer(tk.admin_compare),
      etag_of = "list ok" },
    { "create token", method = "POST", path = list_path(ids.wall), headers = bearer(tk.admin_compare),
      body = { name = "compare-created" } },
    { "create no body", method = "POST", path = list_path(ids.wall), headers = bearer(tk.admin_compare) },
    { "revoke live", method = "POST", path = revoke_path(mid4), headers = bearer(tk.admin_compare) },
    { "revoke again", method = "POST", path = revoke_path(mid4), headers = bearer(tk.admin_compare) },
    { "revoke json empty body", method = "POST", path = revoke_path(mid4),
      headers = { authorization = "Bearer " .. tk.admin_compare, ["content-type"] = "application/json" } },
    { "revoke unknown", method = "POST", path = revoke_path(UNKNOWN), headers = bearer(tk.admin_compare) },
    { "revoke with a revoked token", method = "POST", path = revoke_path(UNKNOWN), headers = bearer(tk.admin_revoked) },
    { "ua login ok", method = "POST", path = LOGIN,
      body = { clientId = ua.ua_plain.client_id, clientSecret = ua.ua_plain.client_secret } },
    { "ua wrong secret", method = "POST", path = LOGIN, body = { clientId = ua.ua_plain.client_id, clientSecret = "wrong" } },
    { "ua unknown id", method = "POST", path = LOGIN, body = { clientId = UNKNOWN, clientSecret = "wrong" } },
    { "ua missing secret", method = "POST", path = LOGIN, body = { clientId = ua.ua_plain.client_id } },
    { "ua form body", method = "POST", path = LOGIN, body = "clientId=" .. ua.ua_plain.client_id .. "&clientSecret=x",
      headers = { ["content-type"] = "application/x-www-form-urlencoded" } },
    { "ua login with a revoked bearer", method = "POST", path = LOGIN, headers = bearer(tk.admin_revoked),
      body = { clientId = ua.ua_plain.client_id, clientSecret = ua.ua_plain.client_secret } },
    { "ua login with a malformed bearer", method = "POST", path = LOGIN, headers = bearer("garbage"),
      body = { clientId = ua.ua_plain.client_id, clientSecret = ua.ua_plain.client_secret } },
    { "unknown route", path = "/api/v1/auth/token-auth/nothing", headers = bearer(tk.admin_compare) },
    { "wrong method", method = "DELETE", path = list_path(ids.page), headers = bearer(tk.admin_compare) },
  }
end

-- the fake's state: the real server's ids, bearers and records
local function fake_state()
  local admin = L.client()
  local page = assert(admin:list_tokens(ids.page, { page_size = 100 }))
  local mid4 = assert(admin:all_tokens(ids.mid, { where = function(t) return t.id == L.seed.named_token_ids["mid-4"] end }))
  admin:close()
  assert.equal(1, #mid4)
  local function records(list)
    -- the fake's records must carry what the real ones carry, JSON nulls included
    local out = {}
    for i, t in ipairs(list) do
      local r = {}
      for k, v in pairs(t) do r[k] = v end
      for _, k in ipairs({ "accessTokenLastUsedAt", "accessTokenLastRenewedAt", "identityUAClientSecretId", "name" }) do
        if r[k] == nil then r[k] = cjson.null end
      end
      out[i] = r
    end
    return out
  end
  return {
    mode = "legacy",
    rate_limit = { limit = 60, window = 60 },
    identities = {
      [ids.page] = { tokens = records(page.tokens) },
      [ids.mid] = { tokens = records(mid4) },
      [ids.wall] = { tokens = {} },
      [ids.noauth] = { token_auth = false, tokens = {} },
    },
    access_tokens = {
      [tk.admin_compare] = { state = "valid", identity_id = ids.admin },
      [tk.admin_revoked] = { state = "revoked", identity_id = ids.admin },
      [tk.max_b] = { state = "expired", identity_id = ids.shortmax },
      [tk.ttl_b] = { state = "ttl_expired", identity_id = ids.shortttl },
      [tk.ul_b] = { state = "used_up", identity_id = ids.uselimit },
      [tk.np] = { state = "valid", can_read = false, can_write = false, identity_id = ids.noperm },
    },
    universal_auth = {
      [ua.ua_plain.client_id] = { secret = ua.ua_plain.client_secret, identity_id = ids.ua_plain },
    },
  }
end

local function send(srv, req, etags)
  local headers = {}
  for k, v in pairs(req.headers or {}) do headers[k] = v end
  if req.etag_of then headers["if-none-match"] = assert(etags[req.etag_of], "no etag from " .. req.etag_of) end
  local res = srv:request{ method = req.method, path = req.path, headers = headers, body = req.body }
  assert(res.rc == 0, "curl failed: " .. tostring(res.err))
  etags[req[1]] = res.headers.etag
  return res
end

-- what a client reads of an answer
local function view(res)
  local h = res.headers
  local j = type(res.json) == "table" and res.json or {}
  return {
    status = res.status,
    error = j.error,
    message = j.message,
    ["content-type"] = h["content-type"],
    etag = h.etag ~= nil,
    ["retry-after"] = h["retry-after"] ~= nil,
    ["x-ratelimit-limit"] = h["x-ratelimit-limit"],
    ["x-ratelimit-remaining"] = h["x-ratelimit-remaining"],
    ["x-ratelimit-reset"] = h["x-ratelimit-reset"] ~= nil,
  }
end

local function differences(real, fake)
  local out = {}
  for _, k in ipairs({ "status", "error", "message", "content-type", "etag", "retry-after",
                       "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset" }) do
    local a, b = real[k], fake[k]
    local same = a == b
    if not same and type(a) == "table" and type(b) == "table" then same = cjson.encode(a) == cjson.encode(b) end
    if not same then
      out[#out + 1] = ("%s: real %s, fake %s"):format(k,
        type(a) == "table" and cjson.encode(a) or tostring(a), type(b) == "table" and cjson.encode(b) or tostring(b))
    end
  end
  return out
end

describe("live: the fake server answers like the real one", function()
  local fake_srv
  local real_etags, fake_etags = {}, {}

  setup(function()
    L.reset_rate_limit()
    local state = fake_state()
    fake_srv = L.fake.start{ state = state }
    -- the reads above counted on the real server: start both from fresh counters
    L.reset_rate_limit()
  end)
  teardown(function() if fake_srv then fake_srv:stop() end end)

  for _, req in ipairs(requests()) do
    it("same answer: " .. req[1], function()
      local real = view(send(L.real, req, real_etags))
      local fake = view(send(fake_srv, req, fake_etags))
      local diff = differences(real, fake)
      assert(#diff == 0, req[1] .. ": the fake differs from the real server:\n  " .. table.concat(diff, "\n  "))
    end)
  end

  it("same answer: the 61st read of a minute (429, retry-after, x-ratelimit-*)", function()
    L.reset_rate_limit()
    fake_srv:reset(fake_state())
    L.reset_rate_limit()
    local req = { "read", path = list_path(ids.page, "?limit=1"), headers = bearer(tk.admin_compare) }
    local function until_429(srv)
      for i = 1, 70 do
        local res = send(srv, req, {})
        if res.status ~= 200 then return res, i end
      end
      error("no 429 after 70 reads")
    end
    local real, nreal = until_429(L.real)
    local fake, nfake = until_429(fake_srv)
    assert.equal(61, nreal)
    assert.equal(nreal, nfake)
    local diff = differences(view(real), view(fake))
    -- the seconds left in the window depend on when each server's window began
    assert(#diff == 0, "the fake's 429 differs from the real server's:\n  " .. table.concat(diff, "\n  "))
    local ra_real, ra_fake = tonumber(real.headers["retry-after"]), tonumber(fake.headers["retry-after"])
    assert.is_true(ra_real >= 1 and ra_real <= 60)
    assert.is_true(ra_fake >= 1 and ra_fake <= 60)
  end)
end)
