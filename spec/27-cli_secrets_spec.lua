-- infisical-tokens secrets and revoke-secret (issue 17), run as a user runs them.
local H = require "spec.helpers"
local fake = H.fake
local cjson = require "cjson"

local NOW = "2024-06-01T12:00:00Z"
local NOW_T = 1717243200
local UA = H.ID3
local cli, lines = H.cli, H.lines
local function iso(t) return os.date("!%Y-%m-%dT%H:%M:%S.000Z", t) end

local function secret(n, over)
  local s = { id = ("d0000000-0000-4000-8000-%012d"):format(n), description = "s" .. n,
    clientSecretPrefix = ("p%03d"):format(n), clientSecretNumUses = 0, clientSecretNumUsesLimit = 0,
    clientSecretTTL = 0, isClientSecretRevoked = false,
    identityUAId = "e0000000-0000-4000-8000-000000000001",
    createdAt = iso(NOW_T - n * 86400), updatedAt = iso(NOW_T - n * 86400) }
  for k, v in pairs(over or {}) do s[k] = v end
  return s
end

local SECRETS = {
  secret(1, { description = "never", clientSecretNumUses = 4 }),
  secret(2, { description = "used up", clientSecretNumUses = 3, clientSecretNumUsesLimit = 3 }),
  secret(3, { description = "short", clientSecretTTL = 86400 }),
  secret(40, { description = "", clientSecretTTL = 86400 * 365, clientSecretNumUsesLimit = 10 }),
}

describe("infisical-tokens secrets", function()
  local srv, env
  local function state()
    local s = H.state()
    s.mode = "legacy"
    s.identities[UA].client_secrets = SECRETS
    return s
  end
  setup(function()
    srv = fake.start{ state = state() }
    env = { INFISICAL_API_URL = srv.url, INFISICAL_TOKEN = H.TOKEN }
  end)
  teardown(function() srv:stop() end)
  before_each(function() srv:reset(state()) end)

  it("prints one row per client secret with its status, uses and TTL", function()
    local out, rc, err = cli({ "secrets", UA, "--now", NOW }, env)
    assert.equal(0, rc, err)
    local l = lines(out)
    assert.matches("^IDENTITY%s+SECRET ID%s+DESCRIPTION%s+PREFIX%s+STATUS%s+USES%s+TTL%s+CREATED %(UTC%)$", l[1])
    assert.equal(5, #l)
    assert.matches("never%s+p001%s+active%s+4%s+never%s+2024%-05%-31T12:00Z$", l[2])
    assert.matches("used up%s+p002%s+exhausted%s+3/3%s+never", l[3])
    assert.matches("short%s+p003%s+expired%s+0%s+1d", l[4])
    assert.matches("%-%s+p040%s+active%s+0/10%s+365d", l[5])
    -- awk sees the same number of fields on every row but the description's own
    for i = 2, #l do assert.is_nil(l[i]:find("\t")) end
  end)

  it("filters by status, use and age", function()
    local out, rc = cli({ "secrets", UA, "--now", NOW, "-s", "expired,exhausted", "-f", "csv", "--no-header" }, env)
    assert.equal(0, rc)
    local l = lines(out)
    assert.equal(2, #l)
    assert.matches(",p002,exhausted,3,3,0,,", l[1], 1, true)
    assert.matches(",p003,expired,0,0,86400,2024-05-30T12:00:00Z,2024-05-29T12:00:00Z,false", l[2], 1, true)
    out = cli({ "secrets", UA, "--now", NOW, "--active", "-f", "csv", "--no-header" }, env)
    assert.equal(2, #lines(out))
    out = cli({ "secrets", UA, "--now", NOW, "--unused", "-f", "csv", "--no-header" }, env)
    assert.equal(2, #lines(out))
    out = cli({ "secrets", UA, "--now", NOW, "--older-than", "30d", "-f", "csv", "--no-header" }, env)
    assert.equal(1, #lines(out))
    assert.matches(",p040,", out, 1, true)
    local _, urc, uerr = cli({ "secrets", UA, "-s", "dead" }, env)
    assert.equal(2, urc)
    assert.matches("unknown status 'dead'", uerr, 1, true)
    _, urc, uerr = cli({ "secrets", UA, "--older-than", "soon" }, env)
    assert.equal(2, urc)
    assert.matches("--older-than takes a duration", uerr, 1, true)
  end)

  it("json: the server's records with identityId, status and expiresAt", function()
    local out, rc = cli({ "secrets", UA, "--now", NOW, "-o", "json" }, env)
    assert.equal(0, rc)
    local list = cjson.decode(out)
    assert.equal(4, #list)
    assert.same({ UA, "expired", "2024-05-30T12:00:00Z", "p003" },
      { list[3].identityId, list[3].status, list[3].expiresAt, list[3].clientSecretPrefix })
    assert.equal(cjson.null, list[1].expiresAt)
    assert.equal("2024-05-31T12:00:00Z", list[1].createdAt)
  end)

  it("an identity without Universal Auth is an error with the hint; the others are still listed", function()
    local out, rc, err = cli({ "secrets", H.ID1, UA, "-f", "csv", "--no-header" }, env)
    assert.equal(2, rc)
    assert.matches("does not use Universal Auth", err, 1, true)
    assert.equal(4, #lines(out))
  end)

  it("ids from standard input; none is nothing to do", function()
    local out, rc = cli({ "secrets", "-", "-f", "csv", "--no-header" }, env, { stdin = UA .. "\n" })
    assert.equal(0, rc)
    assert.equal(4, #lines(out))
    local _, erc = cli({ "secrets", "-" }, env, { stdin = "# none\n" })
    assert.equal(0, erc)
    assert.equal(0, #H.api_requests(srv) - 1)
  end)

  it("refused credentials: exit 3", function()
    local _, rc = cli({ "secrets", UA }, { INFISICAL_API_URL = srv.url, INFISICAL_TOKEN = "fake-revoked-token" })
    assert.equal(3, rc)
  end)

  it("is in the main help and has its own", function()
    local out = cli({ "--help" }, {})
    assert.matches("secrets IDENTITY_ID...", out, 1, true)
    assert.matches("revoke-secret IDENTITY_ID SECRET_ID...", out, 1, true)
    out = cli({ "secrets", "--help" }, {})
    assert.matches("^Usage: infisical%-tokens secrets", out)
    out = cli({ "help", "revoke-secret" }, {})
    assert.matches("^Usage: infisical%-tokens revoke%-secret", out)
  end)
end)

describe("infisical-tokens revoke-secret", function()
  local srv, env
  local function state()
    local s = H.state()
    s.identities[UA].client_secrets = { secret(1), secret(2) }
    return s
  end
  setup(function()
    srv = fake.start{ state = state() }
    env = { INFISICAL_API_URL = srv.url, INFISICAL_TOKEN = H.TOKEN }
  end)
  teardown(function() srv:stop() end)
  before_each(function() srv:reset(state()) end)

  it("is a dry run without --yes: no request", function()
    local out, rc, err = cli({ "revoke-secret", UA, secret(1).id }, env)
    assert.equal(0, rc)
    assert.equal("would revoke " .. secret(1).id, out)
    assert.matches("dry run: 1 client secret(s) would be revoked", err, 1, true)
    assert.equal(0, #H.api_requests(srv))
  end)

  it("revokes with --yes; the secret leaves the listing", function()
    local out, rc = cli({ "revoke-secret", UA, secret(1).id, "--yes" }, env)
    assert.equal(0, rc)
    assert.equal("revoked " .. secret(1).id, out)
    local list = cli({ "secrets", UA, "-f", "csv", "--no-header" }, env)
    assert.equal(1, #lines(list))
    assert.matches(secret(2).id, list, 1, true)
  end)

  it("an unknown secret is reported, the others still revoked: exit 2", function()
    local out, rc, err = cli({ "revoke-secret", UA, "d0000000-0000-4000-8000-0000000000ff", secret(2).id, "--yes" }, env)
    assert.equal(2, rc)
    assert.matches("revoke d0000000%-0000%-4000%-8000%-0000000000ff: ", err)
    assert.equal("revoked " .. secret(2).id, out)
  end)

  it("checks its arguments before any request", function()
    local _, rc, err = cli({ "revoke-secret" }, env)
    assert.equal(2, rc)
    assert.matches("missing IDENTITY_ID", err, 1, true)
    _, rc, err = cli({ "revoke-secret", UA }, env)
    assert.equal(2, rc)
    assert.matches("missing SECRET_ID", err, 1, true)
    _, rc, err = cli({ "revoke-secret", "nope", secret(1).id }, env)
    assert.equal(2, rc)
    assert.matches("IDENTITY_ID 'nope' is not a UUID", err, 1, true)
    _, rc = cli({ "revoke-secret", UA, "nope", "--yes" }, env)
    assert.equal(2, rc)
    assert.equal(0, #H.api_requests(srv))
  end)
end)
