-- The fake server (legacy mode) against the real server's recorded answers.
--
-- spec/fixtures/real-exchanges/real.txt and real-429.txt are copies of what a late-2024
-- Infisical backend answered (see their README).  This spec parses them, replays every
-- recorded request against the fake server in legacy mode, in the recorded order, with the
-- fake's state set up so each scenario is the same one (a revoked bearer for "revoked
-- token", ...), and compares what a client reads: the status, `error`, `message`, the
-- presence and form of the headers a client looks at, and for error answers the etag
-- itself (a SHA-1 of the body, so the body byte for byte).  The expectations come only from
-- the recordings: a fake that drifts from the real server fails here.
--
-- Run: busted --lua=lua5.4 spec/06-conformance_spec.lua
local fake = require "spec.fake_client"
local cjson = require "cjson"

local DIR = "spec/fixtures/real-exchanges/"

-- The recorded server's ids, used as they are in the fake's state.
local IDENT = "e51e5070-35c8-4ef3-946d-915c0b53f87b"       -- has Token Auth
local NO_TA = "b4124487-878b-402b-b12e-32a3881bb476"       -- no Token Auth
local LIVE_TOKEN = "d3842432-e212-415c-8c90-16fb52b4111f"  -- revoked by "revoke live"
local UA_CLIENT = "7bd4ffc6-1bb0-4021-9386-fb76cc293c47"
local UA_SECRET = "conformance-secret"

-- Bearers of the fake's state.
local VALID, REVOKED, EXPIRED, NOPERM = "conf-valid", "conf-revoked", "conf-expired", "conf-noperm"
local GARBAGE = "this-is-not-a-jwt"

-- Which bearer stands for `<tok>` and which secret for `<s>` in each recorded request,
-- where it is not the valid bearer and the right secret.
local SCENARIOS = {
  ["garbage token"] = { tok = GARBAGE },
  ["bad token + bad offset"] = { tok = GARBAGE },
  ["revoked token"] = { tok = REVOKED },
  ["expired token"] = { tok = EXPIRED },
  ["no permission"] = { tok = NOPERM },
  ["revoke no permission"] = { tok = NOPERM },
  ["ua wrong secret"] = { secret = "not-the-secret" },
  ["ua unknown id"] = { secret = "not-the-secret" },
}

-- The headers a client reads; each must be there in the fake's answer exactly when it is
-- there in the recording.
local READ_HEADERS = { "content-type", "etag", "content-encoding", "retry-after",
  "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset" }

local function state(extra)
  local tokens = {}
  for i = 1, 24 do
    tokens[i] = fake.token_record{ identityId = IDENT, updatedAt = fake.ts(i * 60),
      name = "rec-" .. i }
  end
  tokens[#tokens + 1] = fake.token_record{ id = LIVE_TOKEN, identityId = IDENT,
    updatedAt = fake.ts(3600), name = "to-revoke" }
  local s = {
    mode = "legacy",
    access_tokens = {
      [VALID] = { state = "valid" },
      [REVOKED] = { state = "revoked" },
      [EXPIRED] = { state = "expired" },
      [NOPERM] = { state = "valid", can_read = false, can_write = false },
    },
    universal_auth = { [UA_CLIENT] = { secret = UA_SECRET, expires_in = 3600 } },
    identities = {
      [IDENT] = { tokens = tokens },
      [NO_TA] = { token_auth = false, tokens = {} },
    },
  }
  for k, v in pairs(extra or {}) do s[k] = v end
  return s
end

---------------------------------------------------------------------------
-- the recordings

-- A response as recorded: "HTTP/1.1 N Reason", header lines, a blank line, the body.
local function parse_response(lines, i)
  local res = { headers = {} }
  res.status = tonumber(lines[i]:match("^HTTP/1%.1 (%d+)"))
  i = i + 1
  while lines[i] and lines[i] ~= "" and not lines[i]:match("^{") do
    local k, v = lines[i]:match("^([^:]+):%s?(.*)$")
    assert(k, "bad header line in recording: " .. lines[i])
    res.headers[k:lower()] = v
    i = i + 1
  end
  local body = {}
  while lines[i] do
    if lines[i] ~= "" then body[#body + 1] = lines[i] end
    i = i + 1
  end
  res.body = table.concat(body, "\n")
  if res.body ~= "" then res.json = cjson.decode(res.body) end
  return res
end

-- -> list of { name, curl (the request line or nil), response (parsed) or wout (the
--    output of curl -w) }
local function parse_recording(path)
  local text = assert(fake.read_file(path), "cannot read " .. path)
  local blocks, cur = {}, nil
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    line = line:gsub("\r$", "")
    local name = line:match("^=====%s?(.*)$")
    if name then
      cur = { name = name, lines = {} }
      blocks[#blocks + 1] = cur
    else
      if not cur then  -- a recording of one answer, without a "=====" line
        cur = { name = path:match("([^/]+)$"), lines = {} }
        blocks[1] = cur
      end
      cur.lines[#cur.lines + 1] = line
    end
  end
  for _, b in ipairs(blocks) do
    local lines = b.lines
    local i = 1
    if lines[i] and lines[i]:match("^curl ") then
      b.curl = lines[i]
      i = i + 1
    end
    if lines[i] and lines[i]:match("^HTTP/") then
      b.response = parse_response(lines, i)
    else
      b.wout = lines[i]
    end
  end
  return blocks
end

-- The request of a recorded curl line:
--   curl [-X M] URL [-H name: value]... [-d data] [-o /dev/null] [-w format]
local function parse_curl(line, scenario)
  line = line:gsub("<tok>", scenario.tok or VALID):gsub("<s>", scenario.secret or UA_SECRET)
  local rest = line:match("^curl (.*)$")
  local parts, pos = {}, 1
  -- options start with " -X ", " -H ", " -d ", " -o ", " -w "; values may hold spaces
  local first = rest:find(" %-[XHdow] ") or (#rest + 1)
  local head = rest:sub(1, first - 1)
  pos = first
  while pos <= #rest do
    local opt = rest:sub(pos + 2, pos + 2)
    local nxt = rest:find(" %-[XHdow] ", pos + 1) or (#rest + 1)
    parts[#parts + 1] = { opt, rest:sub(pos + 4, nxt - 1) }
    pos = nxt
  end
  local req = { headers = {} }
  local url
  -- the head is "URL" or "-X M URL"
  local m, u = head:match("^%-X (%S+) (%S+)$")
  if m then req.method, url = m, u else url = head end
  for _, p in ipairs(parts) do
    local opt, val = p[1], p[2]
    if opt == "X" then
      local mm, uu = val:match("^(%S+) (%S+)$")
      req.method, url = mm, uu
    elseif opt == "H" then
      local k, v = val:match("^([^:]+):%s?(.*)$")
      req.headers[k] = v
    elseif opt == "d" then
      req.body = val
    elseif opt == "w" then
      req.wformat = val
    end
  end
  req.path = assert(url:match("^https?://[^/]+(/.*)$"), "no URL in " .. line)
  if req.body then
    req.method = req.method or "POST"
    local has_ct = false
    for k in pairs(req.headers) do if k:lower() == "content-type" then has_ct = true end end
    -- what curl -d sends without a content-type of its own
    if not has_ct then req.headers["Content-Type"] = "application/x-www-form-urlencoded" end
  end
  req.method = req.method or "GET"
  return req
end

---------------------------------------------------------------------------

local function describe_diff(name, what, expected, got)
  return string.format("%s: %s differs: real %s, fake %s", name, what,
    type(expected) == "table" and cjson.encode(expected) or tostring(expected),
    type(got) == "table" and cjson.encode(got) or tostring(got))
end

local function sorted_keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end

-- Compare one fake answer with the recorded one; -> list of differences.
local function compare(name, rec, got, fake_etags)
  local diffs = {}
  local function check(what, expected, actual)
    if type(expected) == "table" or type(actual) == "table" then
      if cjson.encode(expected) ~= cjson.encode(actual) then
        diffs[#diffs + 1] = describe_diff(name, what, expected, actual)
      end
    elseif expected ~= actual then
      diffs[#diffs + 1] = describe_diff(name, what, expected, actual)
    end
  end
  check("status", rec.status, got.status)
  if rec.json and type(rec.json) == "table" then
    check("error", rec.json.error, got.json and got.json.error)
    if rec.status ~= 200 then
      check("message", rec.json.message, got.json and got.json.message)
      check("body keys", sorted_keys(rec.json), got.json and sorted_keys(got.json))
    else
      check("body keys", sorted_keys(rec.json), got.json and sorted_keys(got.json))
      if rec.json.tokens and rec.json.tokens[1] and got.json and got.json.tokens then
        check("token record keys", sorted_keys(rec.json.tokens[1]),
          got.json.tokens[1] and sorted_keys(got.json.tokens[1]))
      end
    end
  else
    check("body", rec.body, got.body)
  end
  for _, h in ipairs(READ_HEADERS) do
    check("presence of header " .. h, rec.headers[h] ~= nil, got.headers[h] ~= nil)
  end
  check("content-type", rec.headers["content-type"], got.headers["content-type"])
  local etag = got.headers.etag
  if rec.headers.etag then
    -- a strong tag: quoted base64 of a SHA-1
    check("etag form", true, etag ~= nil and etag:match('^"[%w+/]+=*"$') ~= nil
      and #etag == 30)
    if rec.status == 304 then
      -- the tag of the answer it stands for: the fake's own, from the same request
      check("304 etag", fake_etags[rec.headers.etag] or "(no matching fake answer)", etag)
      check("304 content-length", "0", got.headers["content-length"])
    elseif rec.status >= 400 then
      -- same body byte for byte (no reqId, same key order, same ids)
      check("etag (body bytes)", rec.headers.etag, etag)
    end
  end
  return diffs
end

describe("fake server (legacy mode) against the recorded real exchanges", function()
  local srv

  setup(function()
    srv = fake.start{ state = state() }
  end)

  teardown(function()
    if srv then srv:stop() end
  end)

  it("parses the recordings and has a scenario only for recorded requests", function()
    local names = {}
    for _, b in ipairs(parse_recording(DIR .. "real.txt")) do
      assert.is_string(b.curl, b.name)
      assert.is_true(b.response ~= nil or b.wout ~= nil, b.name)
      names[b.name] = true
    end
    for name in pairs(SCENARIOS) do
      assert.is_true(names[name], "scenario for an unrecorded request: " .. name)
    end
    assert.is_true(#parse_recording(DIR .. "real.txt") >= 30)
  end)

  it("answers every request of real.txt as the real server did", function()
    srv:reset(state())
    local blocks = parse_recording(DIR .. "real.txt")
    local diffs, fake_etags, replayed = {}, {}, 0
    for _, b in ipairs(blocks) do
      local req = parse_curl(b.curl, SCENARIOS[b.name] or {})
      -- an If-None-Match holds a tag the real server gave: use the fake's for that answer
      for k, v in pairs(req.headers) do
        if k:lower() == "if-none-match" then req.headers[k] = fake_etags[v] or v end
      end
      local got = srv:request{ method = req.method, path = req.path, headers = req.headers,
        body = req.body }
      assert.equal(0, got.rc, b.name .. ": curl failed: " .. tostring(got.err))
      replayed = replayed + 1
      if b.response then
        local recorded = b.response.headers.etag
        if recorded and got.headers.etag and not fake_etags[recorded] then
          fake_etags[recorded] = got.headers.etag
        end
        for _, d in ipairs(compare(b.name, b.response, got, fake_etags)) do diffs[#diffs + 1] = d end
      else
        -- only curl -w output was recorded: the status, or the content-encoding
        local code = req.wformat and req.wformat:find("%{http_code}", 1, true) and tonumber(b.wout)
        if code then
          if code ~= got.status then
            diffs[#diffs + 1] = describe_diff(b.name, "status", code, got.status)
          end
        else
          local enc = b.wout:match("content%-encoding=(%S*)")
          assert.is_string(enc, b.name .. ": unknown -w output " .. b.wout)
          local genc = got.headers["content-encoding"] or ""
          if enc ~= genc then
            diffs[#diffs + 1] = describe_diff(b.name, "content-encoding", enc, genc)
          end
          assert.equal(200, got.status, b.name)
        end
      end
    end
    assert.equal(#blocks, replayed)
    assert.same({}, diffs)
  end)

  -- real-429.txt holds the answer only (headers as recorded: the rate-limit ones and
  -- content-type): the 61st read in a minute of a production-mode server.
  it("answers the 61st read of a minute as real-429.txt", function()
    local blocks = parse_recording(DIR .. "real-429.txt")
    assert.equal(1, #blocks)
    local rec = blocks[1].response
    assert.equal(429, rec.status)
    srv:reset(state{ rate_limit = { limit = tonumber(rec.headers["x-ratelimit-limit"]), window = 60 } })
    local path = "/api/v1/auth/token-auth/identities/" .. IDENT .. "/tokens?limit=1"
    local auth = { Authorization = "Bearer " .. VALID }
    -- one curl run makes the allowed reads (a fresh process per read would take seconds)
    local urls, args = {}, { "-sS", "-w", "%{http_code} ",
      "-H", "Authorization: Bearer " .. VALID }
    for i = 1, tonumber(rec.headers["x-ratelimit-limit"]) do
      urls[i] = srv.url .. path
      args[#args + 1] = "-o"; args[#args + 1] = "/dev/null"
    end
    for _, u in ipairs(urls) do args[#args + 1] = u end
    local out, rc = fake.curl(args)
    assert.equal(0, rc)
    assert.is_nil(out:find("429", 1, true), "a read within the limit was refused: " .. out)
    local got = srv:request{ path = path, headers = auth }
    assert.equal(rec.status, got.status)
    assert.equal(rec.json.error, got.json.error)
    assert.equal(rec.json.message, got.json.message)
    assert.equal(rec.headers["content-type"], got.headers["content-type"])
    assert.equal(rec.headers["x-ratelimit-limit"], got.headers["x-ratelimit-limit"])
    assert.equal(rec.headers["x-ratelimit-remaining"], got.headers["x-ratelimit-remaining"])
    -- seconds to the end of the window: the recording was made about a second into it
    for _, h in ipairs{ "x-ratelimit-reset", "retry-after" } do
      local want, have = tonumber(rec.headers[h]), tonumber(got.headers[h])
      assert.is_number(have, h)
      assert.is_true(math.abs(want - have) <= 3, h .. ": real " .. want .. ", fake " .. have)
    end
    assert.equal(got.headers["x-ratelimit-reset"], got.headers["retry-after"])
  end)
end)
