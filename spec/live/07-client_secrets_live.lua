-- Universal Auth client secrets against the real backend (issue 17): the identity
-- `ua_secrets` was seeded (spec/live/seed.mjs) with a secret of every kind: "live suite"
-- and "never-expires" (TTL 0, no limit), "short-ttl" (2 s: expired, not revoked, by now),
-- "use-limit" (1 use, spent by one login: exhausted, not revoked) and "revoked".
local L = require "spec.live.live"
local infisical = L.infisical
local fake = L.fake
local cjson = require "cjson"

local ids = L.ids
local SID = L.ua.ua_secrets.secret_ids

local function by_description(list)
  local out = {}
  for _, s in ipairs(list) do out[s.description] = s end
  return out
end

local function sorted_keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end

describe("live: Universal Auth client secrets", function()
  before_each(function() L.reset_rate_limit() end)

  it("lists the secrets not revoked, and their status is the login's", function()
    local client = L.client()
    local list = assert(client:list_client_secrets(ids.ua_secrets))
    local d = by_description(list)
    assert.same({ "live suite", "never-expires", "short-ttl", "use-limit" }, sorted_keys(d))
    assert.is_nil(d.revoked)
    assert.equal(SID.never, d["never-expires"].id)
    assert.equal("active", infisical.client_secret_status(d["never-expires"]))
    assert.equal("expired", infisical.client_secret_status(d["short-ttl"]))
    assert.equal("exhausted", infisical.client_secret_status(d["use-limit"]))
    assert.same({ 1, 1, false }, { d["use-limit"].clientSecretNumUses,
      d["use-limit"].clientSecretNumUsesLimit, d["use-limit"].isClientSecretRevoked })
    assert.equal(4, #d["never-expires"].clientSecretPrefix)
    assert.same({ nil, "never" }, { infisical.client_secret_expires_at(d["never-expires"]) })
    assert.is_number(infisical.client_secret_expires_at(d["short-ttl"]))
    -- the secret itself is never in an answer
    for _, s in ipairs(list) do assert.is_nil(s.clientSecret); assert.is_nil(s.clientSecretHash) end
    client:close()
  end)

  it("an identity without Universal Auth: 400 'does not have universal auth' (both Token Auth and none)", function()
    local client = L.client()
    for _, who in ipairs{ "page", "noauth" } do
      local list, err = client:list_client_secrets(ids[who])
      assert.is_nil(list, who)
      assert.same({ "http", 400 }, { err.kind, err.status }, who .. ": " .. tostring(err))
      assert.matches("does not have universal auth", err.message, 1, true)
      assert.is_string(err.hint)
    end
    client:close()
  end)

  it("the fake server (legacy mode) answers the same: record fields and the refusal", function()
    local client = L.client()
    local real = assert(client:list_client_secrets(ids.ua_secrets))
    local _, real_err = client:list_client_secrets(ids.noauth)
    client:close()
    local s = fake.load_fixture("spec/fixtures/sample.json")
    s.mode = "legacy"
    local ua_id = fake.identity_id(3)
    s.identities[ua_id].client_secrets = { real[1] }
    local srv = fake.start{ state = s }
    local c = assert(infisical.new{ base_url = srv.url, token = "fake-valid-token", retries = 0 })
    local mine = assert(c:list_client_secrets(ua_id))
    assert.same(sorted_keys(real[1]), sorted_keys(mine[1]))
    local _, fake_err = c:list_client_secrets(fake.identity_id(1))
    assert.same({ real_err.status, real_err.error, real_err.message },
      { fake_err.status, fake_err.error, fake_err.message })
    c:close()
    srv:stop()
  end)

  it("infisical-tokens secrets and audit read them; revoke-secret revokes one", function()
    local env = { INFISICAL_API_URL = L.base, INFISICAL_TOKEN = L.tokens.admin }
    local out, err, rc = L.cli({ "secrets", ids.ua_secrets, "-f", "json" }, env)
    assert.equal(0, rc, err)
    local rows = cjson.decode(out)
    assert.equal(4, #rows)
    out, err, rc = L.cli({ "audit", ids.ua_secrets, "-f", "json" }, env)
    assert.equal(1, rc, err)   -- findings: two never expire, one expired
    local doc = cjson.decode(out)
    local cs = doc.identities[1].clientSecrets
    assert.equal(4, cs.total)
    assert.equal(2, #cs.neverExpires)
    assert.same({ SID.short }, cs.expired)
    assert.equal(1, cs.counts.exhausted)
    -- a dry run, then the revocation; the secret leaves the listing
    out, err, rc = L.cli({ "revoke-secret", ids.ua_secrets, SID.never }, env)
    assert.equal(0, rc, err)
    assert.equal("would revoke " .. SID.never, out)
    out, err, rc = L.cli({ "revoke-secret", ids.ua_secrets, SID.never, "--yes" }, env)
    assert.equal(0, rc, err)
    assert.equal("revoked " .. SID.never, out)
    local client = L.client()
    local d = by_description(assert(client:list_client_secrets(ids.ua_secrets)))
    assert.is_nil(d["never-expires"])
    -- revoking it again is no error (the server marks it again) and returns the record
    local rec = assert(client:revoke_client_secret(ids.ua_secrets, SID.never))
    assert.same({ SID.never, true }, { rec.id, rec.isClientSecretRevoked })
    client:close()
  end)
end)
