-- The library and the command against the real backend: listing, paging, the 200-token
-- wall, filters, list_many, revocation. Seeded by spec/live/seed.mjs.
local L = require "spec.live.live"
local cjson = require "cjson"

local ids = L.ids

local function unique_ids(tokens)
  local seen, n = {}, 0
  for _, t in ipairs(tokens) do
    assert.is_nil(seen[t.id], "token " .. tostring(t.id) .. " listed twice")
    seen[t.id] = true
    n = n + 1
  end
  return n
end

describe("live: listing", function()
  local client
  before_each(function()
    L.reset_rate_limit()
    client = L.client()
  end)
  after_each(function() client:close() end)

  it("one page: every token of a 30-token identity, as the late-2024 server sends them", function()
    local page = assert(client:list_tokens(ids.page, { page_size = 100 }))
    assert.equal(30, #page.tokens)
    assert.equal(30, unique_ids(page.tokens))
    assert.equal(5, L.count(page.tokens, function(t) return t.isAccessTokenRevoked == true end))
    for _, t in ipairs(page.tokens) do
      assert.equal(ids.page, t.identityId)
      assert.is_string(t.createdAt)
      assert.is_string(t.updatedAt)
      assert.equal(2592000, t.accessTokenTTL)
      -- this build sends no authMethod and no accessTokenPeriod
      assert.is_nil(t.authMethod)
      assert.is_nil(t.accessTokenPeriod)
    end
    -- a full page, then a short one
    local first = assert(client:list_tokens(ids.page, { page_size = 20 }))
    assert.equal(20, #first.tokens)
    local rest = assert(client:list_tokens(ids.page, { offset = 20, page_size = 100 }))
    assert.equal(10, #rest.tokens)
  end)

  it("each_token and all_tokens walk two pages of 150 tokens, each once", function()
    local all = assert(client:all_tokens(ids.mid))
    assert.equal(150, #all)
    assert.equal(150, unique_ids(all))
    local n = 0
    for t in client:each_token(ids.mid, { page_size = 40 }) do
      n = n + 1
      assert.equal(ids.mid, t.identityId)
    end
    assert.equal(150, n)
  end)

  it("the 200-token wall: 205 tokens, 200 reachable, reported as truncated", function()
    local tokens, err = client:all_tokens(ids.wall)
    assert.is_nil(tokens)
    assert.equal("truncated", err.kind)
    assert.equal(200, #err.tokens)
    assert.equal(200, unique_ids(err.tokens))
    local part, perr = client:all_tokens(ids.wall, { partial = true })
    assert.equal(200, #part)
    assert.equal("truncated", perr.kind)
    local n = 0
    local ok, raised = pcall(function()
      for _ in client:each_token(ids.wall) do n = n + 1 end
    end)
    assert.is_false(ok)
    assert.equal("truncated", raised.kind)
    assert.equal(200, n)
  end)

  it("filters: revoked, status, name, auth_method, where", function()
    local live = assert(client:all_tokens(ids.page, { revoked = false }))
    assert.equal(25, #live)
    local revoked = assert(client:all_tokens(ids.page, { status = "revoked" }))
    assert.same({ "ci-1", "ci-2", "ci-3", "ci-4", "ci-5" }, L.names(revoked))
    local ci = assert(client:all_tokens(ids.page, { name_pattern = "^ci%-" }))
    assert.equal(10, #ci)
    local active_deploy = assert(client:all_tokens(ids.page, { status = "active", name_pattern = "^deploy%-" }))
    assert.equal(10, #active_deploy)
    -- late-2024 tokens carry no authMethod: they count as token-auth
    assert.equal(30, #assert(client:all_tokens(ids.page, { auth_method = "token-auth" })))
    assert.equal(0, #assert(client:all_tokens(ids.page, { auth_method = "universal-auth" })))
    local svc = assert(client:all_tokens(ids.page, { where = function(t) return t.name:find("^svc%-") ~= nil end }))
    assert.equal(10, #svc)
    -- never used, created seconds ago: not unused for an hour yet
    assert.equal(0, #assert(client:all_tokens(ids.page, { unused_for = 3600 })))
    assert.equal(30, #assert(client:all_tokens(ids.page, { unused_for = 0 })))
  end)

  it("list_many: several identities at once, each answer or error its own", function()
    local unknown = "00000000-0000-4000-8000-000000000000"
    local list = { ids.page, ids.mid, ids.wall, ids.noauth, unknown }
    local results, errors = client:list_many(list, { concurrency = 4 })
    errors = errors or {}   -- nil when every identity succeeded
    assert.equal(30, #results[ids.page])
    assert.equal(150, #results[ids.mid])
    assert.equal(150, unique_ids(results[ids.mid]))
    assert.is_nil(errors[ids.page])
    assert.equal("truncated", errors[ids.wall].kind)
    assert.equal(200, #errors[ids.wall].tokens)
    assert.equal(400, errors[ids.noauth].status)
    assert.equal("BadRequest", errors[ids.noauth].error)
    assert.equal(404, errors[unknown].status)
    assert.equal("NotFound", errors[unknown].error)
    -- with partial, the wall's tokens sit in results beside its error
    local pres, perrs = client:list_many({ ids.wall, ids.page }, { partial = true })
    perrs = perrs or {}   -- nil when every identity succeeded
    assert.equal(200, #pres[ids.wall])
    assert.equal("truncated", perrs[ids.wall].kind)
    assert.equal(30, #pres[ids.page])
    -- filters apply to every identity: no wall token is revoked
    local rres, rerrs = client:list_many({ ids.wall, ids.page }, { partial = true, revoked = true })
    rerrs = rerrs or {}   -- nil when every identity succeeded
    assert.equal(0, #rres[ids.wall])
    assert.equal("truncated", rerrs[ids.wall].kind)
    assert.equal(5, #rres[ids.page])
  end)

  it("revoke_token: the token shows as revoked; a second revoke is already_revoked", function()
    local id = L.seed.named_token_ids["mid-1"]
    assert.is_true(client:revoke_token(id))
    local after = assert(client:all_tokens(ids.mid, { where = function(t) return t.id == id end }))
    assert.equal(1, #after)
    assert.is_true(after[1].isAccessTokenRevoked)
    local ok, err = client:revoke_token(id)
    assert.is_nil(ok)
    assert.equal("already_revoked", err.kind)
    assert.equal(404, err.status)
    local ok2, err2 = client:revoke_token("00000000-0000-4000-8000-000000000000")
    assert.is_nil(ok2)
    assert.equal("already_revoked", err2.kind)
  end)
end)

describe("live: the infisical-tokens command", function()
  local env
  before_each(function()
    L.reset_rate_limit()
    env = { INFISICAL_API_URL = L.base .. "/api", INFISICAL_TOKEN = L.tokens.admin_cli }
  end)

  it("list --format json prints every token of an identity; exit 0", function()
    local out, err, rc = L.cli({ "list", ids.mid, "--format", "json" }, env)
    assert.equal(0, rc, err)
    local doc = cjson.decode(out)
    assert.equal(150, #doc)
    assert.is_string(doc[1].status)
  end)

  it("list at the wall prints the 200 reachable tokens and exits 1", function()
    local out, err, rc = L.cli({ "list", ids.wall, "--format", "csv" }, env)
    assert.equal(1, rc, err)
    local lines = 0
    for _ in out:gmatch("[^\n]+") do lines = lines + 1 end
    assert.equal(201, lines)            -- the header and 200 tokens
    assert.matches("200", err)
  end)

  it("list --name and --revoked filter on the real server's records", function()
    local out, err, rc = L.cli({ "list", ids.page, "--revoked", "--name", "ci-*", "--format", "json" }, env)
    assert.equal(0, rc, err)
    assert.equal(5, #cjson.decode(out))
  end)

  it("audit reports never-used tokens as findings (exit 1) and an unreadable identity (exit 2)", function()
    local out, err, rc = L.cli({ "audit", ids.page, "--format", "json" }, env)
    assert.equal(1, rc, err)
    assert.is_truthy(out:find(ids.page, 1, true))
    local _, err2, rc2 = L.cli({ "audit", ids.page, ids.noauth }, env)
    assert.equal(2, rc2)
    assert.matches("Token Auth", err2)
  end)

  it("revoke --yes revokes; a second revoke says already revoked (exit 1)", function()
    local id = L.seed.named_token_ids["mid-2"]
    local out, err, rc = L.cli({ "revoke", id, "--yes" }, env)
    assert.equal(0, rc, err)
    assert.is_truthy(out:find("revoked " .. id, 1, true))
    local out2, err2, rc2 = L.cli({ "revoke", id, "--yes" }, env)
    assert.equal(1, rc2, err2)
    assert.is_truthy((out2 .. err2):find("already revoked " .. id, 1, true))
  end)

  it("a refused token: exit 3 (get a new token), the server's reason, never the token", function()
    local _, err, rc = L.cli({ "list", ids.page }, { INFISICAL_API_URL = L.base, INFISICAL_TOKEN = L.tokens.admin_revoked })
    assert.equal(3, rc)
    assert.is_truthy(err:find("No identity access token found", 1, true))
    assert.is_nil(err:find(L.tokens.admin_revoked, 1, true))
  end)
end)
