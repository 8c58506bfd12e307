-- Run by spec/live/run.sh after it stopped the backend: the library and the command
-- report a server that is gone as a network failure, promptly.
local L = require "spec.live.live"

describe("live: a stopped server", function()
  it("list_tokens: kind network after the retries, never a hang", function()
    local client = L.client{ retries = 1, backoff = 0.1, connect_timeout = 5 }
    local page, err = client:list_tokens(L.ids.page)
    assert.is_nil(page)
    assert.equal("network", err.kind)
    assert.equal(2, err.attempts)
    client:close()
  end)

  it("list_many: every identity gets the network error", function()
    local client = L.client{ retries = 0 }
    local _, errors = client:list_many({ L.ids.page, L.ids.mid })
    errors = errors or {}   -- nil when every identity succeeded
    assert.equal("network", errors[L.ids.page].kind)
    assert.equal("network", errors[L.ids.mid].kind)
    client:close()
  end)

  it("the command exits 2 naming the server", function()
    local _, err, rc = L.cli({ "list", L.ids.page }, { INFISICAL_API_URL = L.base, INFISICAL_TOKEN = L.tokens.admin })
    assert.equal(2, rc)
    assert.is_truthy(err:find(L.base, 1, true) or err:find("127.0.0.1", 1, true))
    assert.is_nil(err:find(L.tokens.admin, 1, true))
  end)
end)
