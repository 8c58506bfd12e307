-- Every error kind the real backend can be made to give, as the library reports it:
-- refused credentials (kind "auth"), refused permission (kind "permission"), the rest
-- (kind "http", with the server's status, error and message).
local L = require "spec.live.live"

local ids = L.ids

-- the token is never in what the caller sees
local function clean(err, token)
  assert.is_nil(tostring(err):find(token, 1, true))
  for k, v in pairs(err) do
    if type(v) == "string" then assert.is_nil(v:find(token, 1, true), "token in err." .. k) end
  end
end

-- list_tokens with a given bearer; returns the error (the call must fail)
local function refused(token, identity)
  local client = L.client{ token = token }
  local page, err = client:list_tokens(identity or ids.page)
  client:close()
  assert.is_nil(page)
  assert.is_table(err)
  clean(err, token)
  return err
end

-- tokens of one identity, as the admin sees them
local function names_of(identity)
  local client = L.client()
  local page = assert(client:list_tokens(identity, { page_size = 100 }))
  client:close()
  return L.names(page.tokens)
end

describe("live: errors", function()
  before_each(function()
    -- short-TTL tokens were made during seeding with a 1 s lifetime: make sure it is over
    local wait = L.seed.seeded_at + 2.5 - os.time()
    if wait > 0 then L.sleep(wait) end
    L.reset_rate_limit()
  end)

  it("a malformed (non-JWT) token: 403 TokenError, kind auth", function()
    local err = refused("not-a-jwt-at-all")
    assert.equal(403, err.status)
    assert.equal("TokenError", err.error)
    assert.equal("auth", err.kind)
    assert.matches("malformed", tostring(err))
  end)

  it("a revoked token: 401 'No identity access token found', kind auth", function()
    local err = refused(L.tokens.admin_revoked)
    assert.equal(401, err.status)
    assert.equal("UnauthorizedError", err.error)
    assert.equal("No identity access token found", err.message)
    assert.equal("auth", err.kind)
    assert.matches("revoked", tostring(err))
  end)

  it("a token past its max TTL (the JWT expired): 403 TokenError, kind auth", function()
    local err = refused(L.tokens.max_a)
    assert.equal(403, err.status)
    assert.equal("TokenError", err.error)
    assert.equal("Your token has expired. Please re-authenticate.", err.message)
    assert.equal("auth", err.kind)
    assert.matches("expired", tostring(err))
  end)

  it("a token past its TTL: 401, then deleted (401 'No identity access token found', gone from the listing)", function()
    local listed = false
    for _, name in ipairs(names_of(ids.shortttl)) do listed = listed or name == "ttl-a" end
    assert.is_true(listed)
    local err = refused(L.tokens.ttl_a)
    assert.equal(401, err.status)
    assert.equal("Failed to renew MI access token due to TTL expiration", err.message)
    assert.equal("auth", err.kind)
    assert.matches("expired", tostring(err))
    local again = refused(L.tokens.ttl_a)
    assert.equal(401, again.status)
    assert.equal("No identity access token found", again.message)
    assert.equal("auth", again.kind)
    for _, name in ipairs(names_of(ids.shortttl)) do assert.not_equal("ttl-a", name) end
  end)

  it("a used-up token: two uses work, the third is 401 and deletes it", function()
    local client = L.client{ token = L.tokens.ul_a }
    assert.is_table(client:list_tokens(ids.page, { page_size = 1 }))
    assert.is_table(client:list_tokens(ids.page, { page_size = 1 }))
    local page, err = client:list_tokens(ids.page, { page_size = 1 })
    assert.is_nil(page)
    assert.equal(401, err.status)
    assert.equal("Unable to renew because access token number of uses limit reached", err.message)
    assert.equal("auth", err.kind)
    assert.matches("used up", tostring(err))
    clean(err, L.tokens.ul_a)
    local _, again = client:list_tokens(ids.page, { page_size = 1 })
    assert.equal(401, again.status)
    assert.equal("No identity access token found", again.message)
    client:close()
    for _, name in ipairs(names_of(ids.uselimit)) do assert.not_equal("ul-a", name) end
  end)

  it("no permission to read identities: 403 PermissionDenied, kind permission, no details", function()
    local err = refused(L.tokens.np)
    assert.equal(403, err.status)
    assert.equal("PermissionDenied", err.error)
    assert.equal("You are not allowed to read on identity", err.message)
    assert.equal("permission", err.kind)
    assert.is_nil(err.details)
  end)

  it("an unknown identity: 404 NotFound, kind http", function()
    local unknown = "00000000-0000-4000-8000-000000000000"
    local err = refused(L.tokens.admin, unknown)
    assert.equal(404, err.status)
    assert.equal("NotFound", err.error)
    assert.equal("Failed to find identity with ID " .. unknown, err.message)
    assert.equal("http", err.kind)
  end)

  it("a malformed identity id: 500 FindOne, and the message says the id is probably malformed", function()
    local err = refused(L.tokens.admin, "not-a-uuid")
    assert.equal(500, err.status)
    assert.equal("FindOne", err.error)
    assert.equal("http", err.kind)
    assert.matches("malformed", tostring(err))
  end)

  it("an identity without Token Auth: 400 BadRequest", function()
    local err = refused(L.tokens.admin, ids.noauth)
    assert.equal(400, err.status)
    assert.equal("BadRequest", err.error)
    assert.equal("The identity does not have Token Auth", err.message)
    assert.equal("http", err.kind)
    -- a Universal Auth identity has no Token Auth either (one auth method per identity)
    assert.equal(400, refused(L.tokens.admin, ids.ua_plain).status)
  end)

  it("the walk and list_many raise or return the same kinds", function()
    local client = L.client{ token = L.tokens.np }
    local ok, raised = pcall(function() for _ in client:each_token(ids.page) do end end)
    assert.is_false(ok)
    assert.equal("permission", raised.kind)
    local _, errors = client:list_many({ ids.page, ids.mid })
    errors = errors or {}   -- nil when every identity succeeded
    assert.equal("permission", errors[ids.page].kind)
    assert.equal("permission", errors[ids.mid].kind)
    client:close()
    local bad = L.client{ token = L.tokens.admin_revoked }
    local tokens, err = bad:all_tokens(ids.page)
    assert.is_nil(tokens)
    assert.equal("auth", err.kind)
    bad:close()
  end)

  it("the command: a refused permission exits 2 and says so", function()
    local _, err, rc = L.cli({ "list", ids.page }, { INFISICAL_API_URL = L.base, INFISICAL_TOKEN = L.tokens.np })
    assert.equal(2, rc)
    assert.matches("not allowed", err)
    assert.is_nil(err:find(L.tokens.np, 1, true))
  end)
end)
