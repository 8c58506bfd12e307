-- The real rate limiter: the backend runs in production mode, where reads are limited to 60
-- a minute per route and client address. Each spec starts from fresh counters.
local L = require "spec.live.live"

local ids = L.ids
local monotime = require("infisical.core").monotime

describe("live: the rate limiter (production mode)", function()
  before_each(function() L.reset_rate_limit() end)

  it("60 reads pass, the 61st is a 429 with retry-after; nothing is waited past max_retry_wait", function()
    local client = L.client{ retries = 3, max_retry_wait = 5 }
    for i = 1, 60 do
      local page, err = client:list_tokens(ids.page, { page_size = 1 })
      assert.is_table(page, "read " .. i .. ": " .. tostring(err))
    end
    local t0 = monotime()
    local page, err = client:list_tokens(ids.page, { page_size = 1 })
    local spent = monotime() - t0
    assert.is_nil(page)
    assert.equal(429, err.status)
    assert.equal("RateLimitExceeded", err.error)
    assert.equal("http", err.kind)
    assert.matches("^Rate limit exceeded%. Please try again in ", err.message)
    assert.is_number(err.retry_after)
    assert.is_true(err.retry_after > 5 and err.retry_after <= 60, "retry_after " .. err.retry_after)
    assert.is_true(spent < 5, "waited " .. spent .. " s for a retry-after it may not wait for")
    assert.is_nil(tostring(err):find(L.tokens.admin, 1, true))
    client:close()
  end)

  -- With a max_retry_wait shorter than the window, the client neither holds nor waits
  -- past it: the server's 429 is the answer.
  it("a walk that meets the limit raises the 429, it never ends early", function()
    local client = L.client{ max_retry_wait = 5 }
    for _ = 1, 59 do assert.is_table(client:list_tokens(ids.page, { page_size = 1 })) end
    local n = 0
    local ok, raised = pcall(function()
      for _ in client:each_token(ids.mid) do n = n + 1 end
    end)
    assert.is_false(ok)
    assert.equal(429, raised.status)
    assert.equal(100, n)      -- the first page came, the second was refused
    local tokens, err = client:all_tokens(ids.page)
    assert.is_nil(tokens)
    assert.equal(429, err.status)
    client:close()
  end)

  it("stream_many over 65 identities: 60 answered, 5 refused with 429 and retry_after", function()
    local client = L.client{ max_retry_wait = 5 }
    local list = {}
    for i = 1, 65 do list[i] = ids.page end
    local done, limited = 0, 0
    for _, tokens, err in client:stream_many(list, { concurrency = 8 }) do
      if tokens then
        done = done + 1
        assert.equal(30, #tokens)
      else
        assert.equal(429, err.status)
        assert.is_number(err.retry_after)
        limited = limited + 1
      end
    end
    assert.equal(60, done)
    assert.equal(5, limited)
    client:close()
  end)

  -- Paced (issue 12): the client reads the window from the answers' x-ratelimit-* and holds
  -- the requests past it until the window ends, instead of meeting 429s.
  it("stream_many over 65 identities, paced: every one answered after the window ends", function()
    local client = L.client{ max_retry_wait = 70 }
    local list = {}
    for i = 1, 65 do list[i] = ids.page end
    local t0, done = monotime(), 0
    for _, tokens, err in client:stream_many(list, { concurrency = 8 }) do
      assert.is_table(tokens, tostring(err))
      assert.equal(30, #tokens)
      done = done + 1
    end
    local spent = monotime() - t0
    assert.equal(65, done)
    -- the 61st read waited for the next one-minute window, and not much longer
    assert.is_true(spent > 30 and spent < 75, "took " .. spent .. " s")
    client:close()
  end)
end)
