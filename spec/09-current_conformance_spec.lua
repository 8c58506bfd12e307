-- The fake server's current mode against the table of a 2026 server's answers written from
-- upstream's source (spec/fixtures/current-conformance.lua names the file and commit of each
-- row), as spec/06 replays the late-2024 recordings against the legacy mode. A fake that
-- drifts from what the source says fails here.
--
-- Run: busted --lua=lua5.4 spec/09-current_conformance_spec.lua
local fake = require "spec.fake_client"

local ROWS = dofile("spec/fixtures/current-conformance.lua")

local ORG, OTHER_ORG = "c0000000-0000-4000-8000-0000000000aa", "c0000000-0000-4000-8000-0000000000bb"
local IDS = {
  IDENT = "e0000000-0000-4000-8000-000000000001",
  NO_TA = "e0000000-0000-4000-8000-000000000002",
  OTHER = "e0000000-0000-4000-8000-000000000003",
  TOKEN = "f0000000-0000-4000-8000-000000000001",
  OTHER_TOKEN = "f0000000-0000-4000-8000-000000000003",
}

local BEARERS = {
  valid = "cur-valid", revoked = "cur-revoked", used_up = "cur-used-up", legacy = "cur-legacy",
  expired = "cur-expired", garbage = "not-a-jwt", noperm = "cur-noperm",
}

local function state()
  local function tok(id, ident, name)
    return fake.token_record{ id = id, identityId = ident, name = name, updatedAt = fake.ts(60) }
  end
  return {
    mode = "current",
    legacy_enforced_at = 0,   -- the legacy bearer's grace ended long ago
    access_tokens = {
      [BEARERS.valid] = { org_id = ORG },
      [BEARERS.revoked] = { state = "revoked", org_id = ORG },
      [BEARERS.used_up] = { state = "used_up", org_id = ORG },
      [BEARERS.legacy] = { legacy = true, org_id = ORG },
      [BEARERS.expired] = { state = "expired", org_id = ORG },
      [BEARERS.noperm] = { can_read = false, org_id = ORG },
    },
    identities = {
      [IDS.IDENT] = { org_id = ORG, auth_methods = { "token-auth" },
        tokens = { tok(IDS.TOKEN, IDS.IDENT, "one") } },
      [IDS.NO_TA] = { org_id = ORG, auth_methods = { "universal-auth" } },
      [IDS.OTHER] = { org_id = OTHER_ORG, auth_methods = { "token-auth" },
        tokens = { tok(IDS.OTHER_TOKEN, IDS.OTHER, "theirs") } },
    },
  }
end

local function subst(s)
  return (s:gsub("%u[%u_]+", function(k) return IDS[k] end))
end

describe("the fake's current mode against the 2026 server's source", function()
  local srv
  setup(function() srv = fake.start{} end)
  teardown(function() srv:stop() end)
  before_each(function() srv:reset(state()) end)

  it("has a row for every era-dependent answer the library reads", function()
    assert.is_true(#ROWS >= 15)
    for _, r in ipairs(ROWS) do assert.is_string(r.source, r.name) end
  end)

  for _, row in ipairs(ROWS) do
    it(row.name .. " (" .. row.source .. ")", function()
      local headers = {}
      if row.bearer then headers.Authorization = "Bearer " .. BEARERS[row.bearer] end
      local res = srv:request{ method = row.method or "GET", path = subst(row.path), headers = headers,
        body = row.body }
      local e = row.expect
      assert.equal(e.status, res.status, res.body)
      if e.status >= 400 then
        assert.is_table(res.json, res.body)
        assert.equal(e.status, res.json.statusCode)
        assert.equal(e.error, res.json.error)
        if e.issues then
          assert.is_table(res.json.message)
          assert.is_string(res.json.message[1].code)
          assert.is_table(res.json.message[1].path)
        else
          assert.equal(subst(e.message), res.json.message)
        end
        if e.req_id then assert.matches("^req%-%w+$", res.json.reqId) end
        if e.details then assert.is_not_nil(res.json.details) end
        assert.matches("^application/json", res.headers["content-type"])
      end
      for _, f in ipairs(row.fields or {}) do
        assert.is_not_nil(res.json and res.json[f], f)
      end
      for h, present in pairs(e.headers or {}) do
        assert.equal(present, res.headers[h] ~= nil, h)
      end
    end)
  end
end)
