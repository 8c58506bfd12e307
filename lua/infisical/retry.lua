--- When and how long to wait before trying a failed request again.
-- Retried: HTTP 429 (waiting what `retry-after` says), 502, 503, 504, and connection
-- failures (`kind = "network"`). Never other 4xx, never timeouts (a timeout already
-- spent the caller's time budget), never TLS or decode errors.
-- @module infisical.retry

local random, min = math.random, math.min

local _M = {}

local RETRY_STATUS = { [429] = true, [502] = true, [503] = true, [504] = true }

--- Seconds to wait before attempt number `attempt + 1`, or nil to give up.
-- policy: retries, backoff (base seconds), max_backoff, max_retry_wait.
function _M.delay(policy, err, attempt)
  if attempt >= policy.retries then return nil end
  local retryable = err.kind == "network" or (err.kind == "http" and RETRY_STATUS[err.status])
  if not retryable then return nil end
  if err.retry_after then
    -- The server said when; waiting less is pointless and waiting past the cap is not ours to do.
    if err.retry_after > policy.max_retry_wait then return nil end
    return err.retry_after
  end
  -- Capped exponential backoff with "equal jitter": half fixed, half random.
  local d = min(policy.max_backoff, policy.backoff * 2 ^ attempt)
  return d / 2 + random() * d / 2
end

return _M
