-- Secrets: the scenarios of specs 40-43 (hostile answers through every call, Universal
-- Auth failures, bad input, TLS failures, closed clients, the infisical-tokens CLI with
-- the token from the environment, a file, or Universal Auth) run in a child process
-- (spec/secrets_scenarios.lua). The bearer token, the Universal Auth client secret and
-- the access token it logs in with must appear in no string reachable from anything the
-- library returned or raised (error fields, tostring of every object), and in nothing
-- written to stdout or stderr.
local H = require "spec.helpers"
local fake = H.fake

local SECRETS = { H.TOKEN, "fake-client-secret", "fake-ua-token" }

local function read(path) return (assert(H.fake.read_file(path), path)) end

describe("secrets", function()
  local dump, stdout, stderr, rc

  setup(function()
    local base = os.tmpname()
    local d, o, e = base .. ".dump", base .. ".out", base .. ".err"
    local _, code = fake.run(("lua5.4 spec/secrets_scenarios.lua %s >%s 2>%s"):format(
      fake.shellquote(d), fake.shellquote(o), fake.shellquote(e)))
    rc = code
    dump, stdout, stderr = read(d), read(o), read(e)
    os.remove(base); os.remove(d); os.remove(o); os.remove(e)
  end)

  it("the scenarios ran to the end", function()
    assert.equal(0, rc, stderr)
    local n = tonumber(dump:match("\n%-%- (%d+) strings\n$"))
    assert.is_true(n ~= nil and n > 2000, "only " .. tostring(n) .. " strings collected")
    -- what must be there is there: errors of each kind the scenarios provoke
    for _, kind in ipairs{ "http", "auth", "permission", "network", "timeout", "decode", "too_large", "tls", "config" } do
      assert.is_truthy(dump:find('"infisical: ' .. kind .. ' error', 1, true), "no " .. kind .. " error seen")
    end
    assert.is_truthy(dump:find("[REDACTED]", 1, true), "no echoed secret was redacted")
    assert.is_truthy(dump:find("bad argument", 1, true))
  end)

  for _, secret in ipairs(SECRETS) do
    it("never shows " .. secret .. " in what the library returned or raised", function()
      local at = dump:find(secret, 1, true)
      assert.is_nil(at, at and dump:sub(math.max(1, at - 200), at + 60))
    end)

    it("never writes " .. secret .. " to stdout or stderr", function()
      assert.is_nil(stdout:find(secret, 1, true), stdout:sub(1, 500))
      assert.is_nil(stderr:find(secret, 1, true), stderr:sub(1, 500))
    end)
  end

  it("the library writes nothing to stdout or stderr at all", function()
    assert.equal("", stdout)
    assert.equal("", stderr)
  end)
end)
