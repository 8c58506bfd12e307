--- When and how long to wait before trying a failed request again.
-- Retried: HTTP 429 (waiting what `retry-after` says), 502, 503, 504, and connection
-- failures (`kind = "network"`). Never other 4xx, never timeouts (a timeout already
-- spent the caller's time budget), never TLS or decode errors.
-- @module infisical.retry

local random, min, type, find = math.random, math.min, type, string.find

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
  return _M.backoff(policy, attempt)
end

--- Capped exponential backoff with "equal jitter": half fixed, half random.
function _M.backoff(policy, attempt)
  local d = min(policy.max_backoff, policy.backoff * 2 ^ attempt)
  return d / 2 + random() * d / 2
end

--- The final error of a call that was retried says so: `attempts` (how many were made),
-- `elapsed` (seconds from the first one to giving up) and both in the message, where
-- libcurl's own "after 0 ms" speaks only of the last attempt.
function _M.give_up(err, attempts, started, now)
  if attempts < 2 then return err end
  local elapsed = now - started
  err.attempts, err.elapsed = attempts, elapsed
  err.message = ("%s (gave up after %d attempts in %.1f s)"):format(
    type(err.message) == "string" and err.message or err.kind, attempts, elapsed)
  return err
end

-- libcurl codes for a connection that was never made: nothing was sent.
local NOT_SENT = { [5] = true, [6] = true, [7] = true }  -- resolve proxy, resolve host, connect

--- Whether a failed attempt may have been carried out by the server, its answer lost:
-- a gateway's 502/503/504 or a connection lost after it was made. Not a 429 (the rate
-- limit is checked before the handler) nor a connection that was never made.
function _M.maybe_carried_out(err)
  if err.kind == "http" then return err.status ~= 429 end
  if err.kind ~= "network" then return false end
  if err.curl_code then return not NOT_SENT[err.curl_code] end
  -- the cosocket transport: "connecting to host:port: ..."
  return not (type(err.message) == "string" and find(err.message, "^connecting to "))
end

return _M
