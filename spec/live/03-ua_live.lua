-- Universal Auth against the real backend: login, refused credentials, and recovery once
-- the server refuses the client's access token. The identities `ua` (access tokens good for
-- 2 uses) and `ua_many` (2 uses) make the server refuse a token after its uses, and delete
-- it, as a revoked, expired or used-up token is refused in production. Logins are counted by
-- the server itself (the client secret's clientSecretNumUses).
local L = require "spec.live.live"

local ids = L.ids

local function ua_client(name, opts)
  opts = opts or {}
  opts.client_id, opts.client_secret = L.ua[name].client_id, L.ua[name].client_secret
  return L.client(opts)
end

describe("live: Universal Auth", function()
  before_each(function() L.reset_rate_limit() end)

  it("logs in on first use and lists", function()
    local before = L.ua_logins("ua_plain")
    local client = ua_client("ua_plain")
    local page = assert(client:list_tokens(ids.page, { page_size = 100 }))
    assert.equal(30, #page.tokens)
    assert.equal(30, #assert(client:all_tokens(ids.page)))
    client:close()
    assert.equal(before + 1, L.ua_logins("ua_plain"))
  end)

  it("a wrong secret: 401 Invalid credentials, kind auth, err.login, never the secret", function()
    local client = L.client{ client_id = L.ua.ua_plain.client_id, client_secret = "wrong-secret-value" }
    local page, err = client:list_tokens(ids.page)
    assert.is_nil(page)
    assert.equal(401, err.status)
    assert.matches("^Invalid credentials", err.message)
    assert.equal("auth", err.kind)
    assert.is_true(err.login)
    assert.matches("secret", tostring(err))
    assert.is_nil(tostring(err):find("wrong-secret-value", 1, true))
    client:close()
  end)

  it("an unknown client id: 404 NotFound, err.login, and the message names the client id", function()
    local client = L.client{ client_id = "00000000-0000-4000-8000-000000000000", client_secret = "x-secret-x" }
    local page, err = client:list_tokens(ids.page)
    assert.is_nil(page)
    assert.equal(404, err.status)
    assert.equal("NotFound", err.error)
    assert.is_true(err.login)
    assert.matches("client id", tostring(err):lower())
    client:close()
  end)

  it("list_tokens: a used-up token is replaced by one new login, every call succeeds", function()
    local before = L.ua_logins("ua")
    local client = ua_client("ua")
    -- uses: 1, 2 (token A); refused, login, 1, 2 (token B); refused, login, 1 (token C)
    for i = 1, 5 do
      local page, err = client:list_tokens(ids.page, { page_size = 1 })
      assert.is_table(page, "call " .. i .. ": " .. tostring(err))
    end
    client:close()
    assert.equal(before + 3, L.ua_logins("ua"))
  end)

  it("each_token and all_tokens: the token is refused in the middle of a walk, the walk goes on", function()
    local before = L.ua_logins("ua")
    local client = ua_client("ua")
    assert.is_table(client:list_tokens(ids.page, { page_size = 1 }))   -- one use left
    local n = 0
    for _ in client:each_token(ids.mid) do n = n + 1 end           -- page 2 is refused once
    assert.equal(150, n)
    -- token B has one use left after page 2: all_tokens' second page is refused again
    local all = assert(client:all_tokens(ids.mid))
    assert.equal(150, #all)
    client:close()
    assert.equal(before + 3, L.ua_logins("ua"))
  end)

  it("revoke_token: recovers the same way", function()
    local client = ua_client("ua")
    assert.is_table(client:list_tokens(ids.page, { page_size = 1 }))
    assert.is_table(client:list_tokens(ids.page, { page_size = 1 }))   -- token used up
    local before = L.ua_logins("ua")
    assert.is_true(client:revoke_token(L.seed.named_token_ids["mid-3"]))
    assert.equal(before + 1, L.ua_logins("ua"))
    client:close()
  end)

  it("list_many: requests in flight all refused, one new login for all of them", function()
    local client = ua_client("ua_many")
    assert.is_table(client:list_tokens(ids.page, { page_size = 1 }))
    assert.is_table(client:list_tokens(ids.page, { page_size = 1 }))   -- token used up
    local before = L.ua_logins("ua_many")
    -- three first pages in flight with the used-up token; the fresh token has 2 uses, so
    -- list only two identities of one page each
    local results, errors = client:list_many({ ids.page, ids.shortmax }, { concurrency = 8 })
    errors = errors or {}   -- nil when every identity succeeded
    assert.is_nil(errors[ids.page])
    assert.is_nil(errors[ids.shortmax])
    assert.equal(30, #results[ids.page])
    assert.equal(2, #results[ids.shortmax])
    assert.equal(before + 1, L.ua_logins("ua_many"))
    client:close()
  end)

  it("the command logs in with INFISICAL_UNIVERSAL_AUTH_* and recovers too", function()
    local env = { INFISICAL_API_URL = L.base, INFISICAL_UNIVERSAL_AUTH_CLIENT_ID = L.ua.ua.client_id,
      INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET = L.ua.ua.client_secret }
    local before = L.ua_logins("ua")
    -- four pages one after the other with a 2-use token: one refusal, one new login
    local out, err, rc = L.cli({ "list", ids.page, "--page-size", "10", "--format", "csv" }, env)
    assert.equal(0, rc, err)
    local lines = 0
    for _ in out:gmatch("[^\n]+") do lines = lines + 1 end
    assert.equal(1 + 30, lines)
    assert.is_nil((out .. err):find(L.ua.ua.client_secret, 1, true))
    assert.equal(before + 2, L.ua_logins("ua"))
  end)
end)
