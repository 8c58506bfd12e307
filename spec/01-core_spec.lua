-- The C module infisical.core on its own: request building, decoding, sessions, errors.
local core = require "infisical.core"
local H = require "spec.helpers"
local cjson = require "cjson"

describe("infisical.core request building", function()
  it("escapes the identity id as exactly one path segment", function()
    local url = core.tokens_url("http://h", "../../x?y#z/w", 0, 100)
    assert.equal("http://h/api/v1/auth/token-auth/identities/%2E%2E%2F%2E%2E%2Fx%3Fy%23z%2Fw/tokens?offset=0&limit=100", url)
    assert.equal("a-b_c~1%20%25", core.escape_segment("a-b_c~1 %"))
  end)

  it("escapes every byte of an identity id by length (what ids are valid is options.lua's check)", function()
    local base = "http://h/api/v1/auth/token-auth/identities/"
    assert.equal(base .. "a%00b%0D%0A/tokens?offset=0&limit=1", core.tokens_url("http://h", "a\0b\r\n", 0, 1))
    assert.equal(base .. ("x"):rep(300) .. "/tokens?offset=0&limit=1", core.tokens_url("http://h", ("x"):rep(300), 0, 1))
  end)

  it("sends offset and limit as plain integers", function()
    assert.matches("%?offset=100&limit=1$", core.tokens_url("http://h", "id", 100.0, 1.0))
  end)

  it("raises naming the argument for a bad identity id, offset or limit", function()
    for _, case in ipairs{
      { { "http://h", nil, 0, 1 }, "identity_id" }, { { "http://h", 7, 0, 1 }, "identity_id" },
      -- offset and limit have no default here: the caller (a walk, list_tokens) gives them
      { { "http://h", "id" }, "offset" }, { { "http://h", "id", 0 }, "limit" },
      { { "http://h", "id", -1 }, "offset" }, { { "http://h", "id", 101 }, "offset" },
      { { "http://h", "id", 1.5 }, "offset" }, { { "http://h", "id", 0 / 0 }, "offset" },
      { { "http://h", "id", 0, 0 }, "limit" }, { { "http://h", "id", 0, 101 }, "limit" },
      { { "http://h", "id", 0, math.huge }, "limit" }, { { "http://h", "id", "1" }, "offset" },
    } do
      local ok, err = pcall(core.tokens_url, table.unpack(case[1], 1, 4))
      assert.is_false(ok)
      assert.matches(case[2], err, 1, true)
    end
  end)

  it("builds the request headers and refuses CR/LF in the token without echoing it", function()
    local h = core.request_headers("tok", "ua/1")
    assert.same({ "Authorization: Bearer tok", "Accept: application/json", "User-Agent: ua/1" }, h)
    local ok, err = pcall(core.request_headers, "secret\r\nX-Evil: 1", "ua")
    assert.is_false(ok)
    assert.not_matches("secret", err)
  end)

  it("checks the user agent over its whole length: a NUL does not end the check", function()
    for _, ua in ipairs{ "ua\0\r\nX-Injected: 1", "ua\r\nX-Injected: 1", "ua\0", "ua\tx" } do
      assert.error_matches(function() core.request_headers("tok", ua) end, "user agent must not contain", 1, true)
    end
    -- the same rule for a session's user_agent option
    assert.error_matches(function() core.session{ token = "t", user_agent = "ua\0\r\nX: 1" } end, "user_agent")
    assert.error_matches(function() core.session{ token = "t", user_agent = "ua\tx" } end, "user_agent")
  end)
end)

describe("infisical.core decoding", function()
  it("turns JSON null into absent fields and whole numbers into integers", function()
    local v = core.decode('{"a":2592000,"b":null,"c":[{"x":null,"y":1.5}],"d":-0}')
    assert.is_nil(v.b)
    assert.is_nil(v.c[1].x)
    assert.equal(1.5, v.c[1].y)
    assert.equal(2592000, v.a)
    if math.type then
      assert.equal("integer", math.type(v.a))
      assert.equal("integer", math.type(v.d))
      assert.equal("float", math.type(v.c[1].y))
    end
    -- 1e400 would read as inf (a TTL of inf means "never expires"): refused instead
    assert.same({ nil, "number out of range" }, { core.decode('{"e":1e400}') })
    for _, s in pairs(v) do assert.is_not.equal("userdata", type(s)) end
  end)

  it("does not change the host's global cjson settings", function()
    local before = cjson.decode_invalid_numbers()
    core.decode("[1]")
    assert.equal(before, cjson.decode_invalid_numbers())
    -- the private instance rejects NaN/Infinity/hex even when the global one accepts them
    cjson.decode_invalid_numbers(true)
    assert.is_nil((core.decode("NaN")))
    assert.is_nil((core.decode("[0x10]")))
  end)

  it("returns nil and a message for bad JSON", function()
    for _, s in ipairs{ "", "[1,2", "{", "nul", ("["):rep(2000) .. ("]"):rep(2000) } do
      local v, err = core.decode(s)
      assert.is_nil(v)
      assert.is_string(err)
    end
  end)

  it("parses a page and keeps unknown fields", function()
    local page = assert(core.parse_tokens(200,
      '{"tokens":[{"id":"t1","accessTokenTTL":60,"scopeOrgId":"o","name":null}]}', {}))
    assert.equal("t1", page.tokens[1].id)
    assert.equal("o", page.tokens[1].scopeOrgId)
    assert.is_nil(page.tokens[1].name)
  end)

  it("rejects answers of the wrong shape with kind 'decode'", function()
    for _, body in ipairs{ "", "[]", '"x"', "{}", '{"tokens":5}', '{"tokens":[5]}',
        '{"tokens":[{"name":"no id"}]}', "<html></html>" } do
      local page, err = core.parse_tokens(200, body, {}, "GET", "http://h/x")
      assert.is_nil(page)
      assert.equal("decode", err.kind)
      assert.equal(200, err.status)
      assert.is_true(core.is_error(err))
    end
  end)

  it("turns error answers into errors with the server's fields", function()
    local _, err = core.parse_tokens(403,
      '{"reqId":"req-9","statusCode":403,"message":"You are not allowed to read on identity","error":"PermissionDenied","details":[{"action":"read"}]}',
      { ["content-type"] = "application/json" }, "GET", "http://h/x")
    assert.equal("permission", err.kind)
    assert.equal(403, err.status)
    assert.equal("PermissionDenied", err.error)
    assert.equal("req-9", err.req_id)
    assert.equal("read", err.details[1].action)
    assert.equal("infisical: permission error (GET http://h/x): HTTP 403 PermissionDenied: You are not allowed to read on identity [req-9];"
      .. " the token's identity is not allowed to do this: give it a role with this permission on identities", tostring(err))
    _, err = core.parse_tokens(404, '{"statusCode":404,"message":"Failed to find identity","error":"NotFound"}',
      {}, "GET", "http://h/x")
    assert.equal("infisical: http error (GET http://h/x): HTTP 404 NotFound: Failed to find identity", tostring(err))
    assert.is_nil(err.hint)
  end)

  -- The answers recorded from a real server (../shared/real-exchanges/real.txt), by what the
  -- caller must do about them.
  it("sorts refusals by what the caller must do: auth, permission, http", function()
    local function parse(status, e, message, url)
      local _, err = core.parse(status, cjson.encode{ statusCode = status, error = e, message = message },
        { ["content-type"] = "application/json" }, "GET", url or "http://h/x")
      return err
    end
    for _, c in ipairs{
      { 401, "UnauthorizedError", "Token missing", "auth", "no access token was sent" },
      { 403, "TokenError", "jwt must be provided", "auth", "malformed" },
      { 403, "TokenError", "The provided access token is malformed. Please use a valid token or generate a new one and try again.", "auth", "malformed" },
      { 401, "UnauthorizedError", "No identity access token found", "auth", "revoked, or no longer exists" },
      { 403, "TokenError", "Your token has expired. Please re-authenticate.", "auth", "expired" },
      { 401, "UnauthorizedError", "Failed to renew MI access token due to TTL expiration", "auth", "expired" },
      { 401, "UnauthorizedError", "Unable to renew because access token number of uses limit reached", "auth", "used up" },
      { 401, "UnauthorizedError", "something new", "auth", "refused the access token" },
      { 403, "PermissionDenied", "You are not allowed to read on identity", "permission", "not allowed" },
      { 403, "ForbiddenError", "You are not allowed to access this resource from the current IP address", "permission", "IP address" },
      { 500, "FindOne", "Something went wrong", "http", "identity id is probably malformed" },
      { 404, "NotFound", "Failed to find identity with ID x", "http", nil },
      { 400, "BadRequest", "The identity does not have Token Auth", "http", nil },
      { 500, "InternalServerError", "Something went wrong", "http", nil },
      -- late-2024 servers answer validation failures with 401: not a refused token
      { 401, "ValidationFailure", { { path = { "offset" }, message = "Number must be less than or equal to 100" } }, "http", nil },
      -- a 403 from something else (a proxy): nothing to say about it
      { 403, nil, "Forbidden", "http", nil },
    } do
      local err = parse(c[1], c[2], c[3])
      assert.equal(c[4], err.kind, c[2] and c[3])
      assert.equal(c[1], err.status)
      assert.equal(c[2], err.error)
      if type(c[3]) == "string" then assert.equal(c[3], err.message) end
      if c[5] then
        assert.matches(c[5], err.hint, 1, true)
        assert.equal("; " .. err.hint, tostring(err):sub(-#err.hint - 2))   -- the line ends with it
      else
        assert.is_nil(err.hint)
      end
    end
    -- a proxy's HTML 401 is still a refusal of the credentials
    local _, err = core.parse(401, "<html>401</html>", { ["content-type"] = "text/html" }, "GET", "http://h/x")
    assert.equal("auth", err.kind)
  end)

  it("keeps the 422 issues array and makes message a sentence", function()
    local _, err = core.parse_tokens(422, cjson.encode{ reqId = "r", statusCode = 422,
      error = "ValidationFailure", message = {
        { code = "too_big", maximum = 100, path = { "offset" }, message = "Number must be less than or equal to 100" },
        { code = "too_small", minimum = 1, path = { "limit" }, message = "Number must be greater than or equal to 1" } } }, {})
    assert.equal(2, #err.issues)
    assert.equal("too_big", err.issues[1].code)
    assert.equal("offset: Number must be less than or equal to 100; limit: Number must be greater than or equal to 1", err.message)
  end)

  it("reads retry-after as seconds or as an HTTP date", function()
    local _, err = core.parse_tokens(429, '{"message":"slow down"}', { ["retry-after"] = "7" })
    assert.equal(7, err.retry_after)
    local date = os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + 30)
    _, err = core.parse_tokens(503, "", { ["retry-after"] = date })
    assert.is_true(err.retry_after >= 28 and err.retry_after <= 31)
    -- only decimal seconds: C's strtod would also read hex, exponents and trailing junk
    for v, want in pairs{ ["0"] = 0, ["60"] = 60, ["1.5"] = 2, [" 12 "] = 12, ["007"] = 7 } do
      _, err = core.parse_tokens(429, "", { ["retry-after"] = v })
      assert.equal(want, err.retry_after, v)
    end
    for _, v in ipairs{ "0x3C", "0X3c", "6e1", "1e2", "60abc", "60 s", "-1", "+5", "1.", ".5", "",
        "1,5", "1e999", "99999999999999999999", "inf", "nan", "0x", "3C" } do
      _, err = core.parse_tokens(429, "", { ["retry-after"] = v })
      assert.is_nil(err.retry_after, v)
    end
  end)

  it("gives a short error for a proxy's HTML page, not the page", function()
    local page = "<html>" .. ("x"):rep(5000) .. "</html>"
    local _, err = core.parse_tokens(502, page, { ["content-type"] = "text/html" })
    assert.equal(502, err.status)
    assert.equal("unexpected text/html response of 5013 bytes", err.message)
    assert.is_true(#tostring(err) < 200)
  end)

  it("caps a huge server message and keeps the error on one line", function()
    local _, err = core.parse_tokens(500, cjson.encode{ message = ("a\n"):rep(5000), error = "E" }, {})
    assert.is_true(#err.message <= 515)
    assert.not_matches("\n", tostring(err))
  end)

  it("checks a page against the limit it is given, and reads the error's method and url over their whole length", function()
    local body = cjson.encode{ tokens = { { id = "a" }, { id = "b" }, { id = "c" } } }
    -- the limit is passed as a value: a NUL in the URL cannot hide it, and neither can a
    -- URL without limit= (issue 13 §4: the check read it back out of the URL text)
    for _, url in ipairs{ "http://h/x?o=\0&limit=2", "http://h/x?offset=0", "http://h/x" } do
      local _, err = core.parse_tokens(200, body, {}, "GET", url, nil, nil, 2)
      assert.equal("decode", err and err.kind)
      assert.matches("3 tokens for a page of 2", err.message)
      assert.equal(url, err.url)
    end
    assert.equal(3, #assert(core.parse_tokens(200, body, {}, "GET", "http://h/x", nil, nil, 3)).tokens)
    -- without a limit, no page may be longer than the API's largest (100)
    local rows = {}
    for i = 1, 101 do rows[i] = { id = "t" .. i } end
    local _, err = core.parse_tokens(200, cjson.encode{ tokens = rows }, {})
    assert.matches("101 tokens for a page of 100", err.message)
    rows[101] = nil
    assert.equal(100, #assert(core.parse_tokens(200, cjson.encode{ tokens = rows }, {})).tokens)
    for _, bad in ipairs{ 0, 101, 1.5, "2" } do
      assert.error_matches(function() core.parse_tokens(200, body, {}, "GET", "u", nil, nil, bad) end, "limit")
    end
    _, err = core.parse(404, "{}", {}, "GET", "http://h/a\0b")
    assert.equal("http://h/a\0b", err.url)
    -- a header value holding a NUL is no value: "60\0junk" read as Retry-After 60
    _, err = core.parse(429, "{}", { ["retry-after"] = "60\0junk" })
    assert.is_nil(err.retry_after)
    _, err = core.parse(429, "{}", { ["retry-after"] = "60" })
    assert.equal(60, err.retry_after)
  end)

  it("reports a 3xx as an http error, never following it", function()
    local _, err = core.parse(301, "", { location = "http://elsewhere/" })
    assert.equal("http", err.kind)
    assert.equal(301, err.status)
    assert.matches("not followed", err.message)
  end)
end)

describe("infisical.core error objects", function()
  it("concatenate with strings and each other, as their tostring", function()
    local e = core.error{ kind = "http", status = 404, message = "not found" }
    local text = tostring(e)
    assert.equal("failed: " .. text, "failed: " .. e)
    assert.equal(text .. "!", e .. "!")
    assert.equal(text .. " / " .. text, e .. " / " .. e)
    assert.equal(text .. text, e .. e)
    assert.equal("1" .. text, 1 .. e)
    assert.equal(text .. "nil", e .. nil)
    assert.equal("a" .. text .. "b", "a" .. e .. "b")
  end)
end)

describe("infisical.core sessions", function()
  local srv
  setup(function() srv = H.fake.start{ fixture = H.FIXTURE } end)
  teardown(function() srv:stop() end)

  local function url(q) return srv:tokens_url(H.ID1, q or "offset=0&limit=5") end

  it("performs a request with the session's headers", function()
    local s = core.session{ token = H.TOKEN, user_agent = "spec-agent/1" }
    local status, body, headers = s:perform("GET", url())
    assert.equal(200, status)
    assert.equal(5, #core.decode(body).tokens)
    assert.matches("application/json", headers["content-type"])
    local r = H.api_requests(srv)
    r = r[#r]
    assert.equal("spec-agent/1", r.headers["user-agent"])
    assert.equal("application/json", r.headers["accept"])
    assert.matches("^Bearer %x+$", r.headers["authorization"])
    s:close()
  end)

  it("an extra header replaces the session's own of that name; one with no value leaves it out", function()
    local s = core.session{ token = H.TOKEN }
    local last = function() local r = H.api_requests(srv); return r[#r].headers end
    assert.equal(401, (s:perform("GET", url(), { "Authorization:", "X-Extra: 1" })))   -- no token: refused
    assert.is_nil(last().authorization)          -- what a Universal Auth login sends
    assert.equal("1", last()["x-extra"])
    assert.equal("application/json", last().accept)
    assert.equal(401, (s:perform("GET", url(), { "authorization:  \t" })))   -- any case, blanks
    assert.is_nil(last().authorization)
    s:perform("GET", url(), { "ACCEPT: text/plain" })
    assert.equal("text/plain", last().accept)
    -- the session's own list is untouched by a request's extras
    assert.equal(200, (s:perform("GET", url())))
    assert.matches("^Bearer %x+$", last().authorization)
    assert.equal("application/json", last().accept)
    -- the same in libcurl's multi interface (list_many)
    local m = core.multi{ token = H.TOKEN }
    m:add(1, "GET", url(), { "Authorization:" })
    local tag, status
    repeat m:wait(5); tag, status = m:next() until tag
    assert.same({ 1, 401 }, { tag, status })
    assert.is_nil(last().authorization)
    m:close()
    s:close()
  end)

  it("reuses one connection for successive calls", function()
    srv:reset(H.state())
    local s = core.session{ token = H.TOKEN }
    for _ = 1, 5 do assert.equal(200, (s:perform("GET", url()))) end
    assert.equal(1, srv:stats().connections)
    s:close()
  end)

  it("can be closed twice, raises when used closed, and says so in tostring", function()
    local s = core.session{ token = H.TOKEN }
    s:close()
    s:close()
    assert.matches("closed", tostring(s))
    assert.error_matches(function() s:perform("GET", url()) end, "session is closed")
  end)

  it("is closed by <close> on Lua 5.4", function()
    if not _VERSION:find("5.4") then return end
    local f = assert(load([[
      local core, url = ...
      local s <close> = core.session{ token = "t" }
      return s
    ]]))
    local s = f(core, url())
    assert.matches("closed", tostring(s))
  end)

  it("checks options and refuses CR/LF in the token", function()
    assert.error_matches(function() core.session{ timeout = -1 } end, "timeout")
    assert.error_matches(function() core.session{ verify_tls = "no" } end, "verify_tls")
    assert.error_matches(function() core.session{ max_body = 0 } end, "max_body")
    local ok, err = pcall(core.session, { token = "abc\r\nX: y" })
    assert.is_false(ok)
    assert.matches("CR, LF", err)
    assert.not_matches("abc", err)
  end)

  it("caps the body at max_body with kind too_large", function()
    local s = core.session{ token = H.TOKEN, max_body = 1000 }
    local ok, err = s:perform("GET", url("offset=0&limit=50"))
    assert.is_nil(ok)
    assert.equal("too_large", err.kind)
    -- and the session is still usable afterwards
    s:close()
  end)

  it("maps a refused connection to kind network", function()
    local s = core.session{ token = "t", connect_timeout = 2 }
    local ok, err = s:perform("GET", "http://127.0.0.1:1/x")
    assert.is_nil(ok)
    assert.equal("network", err.kind)
    assert.equal("GET", err.method)
    assert.matches("^infisical: network error", tostring(err))
  end)

  it("hands a 2xx JSON object or array over decoded when asked (json), anything else as the text", function()
    local s = core.session{ token = H.TOKEN }
    local status, page, headers = s:perform("GET", url(), nil, nil, true)
    assert.equal(200, status)
    assert.is_table(page)
    assert.equal(5, #page.tokens)
    assert.matches("application/json", headers["content-type"])
    -- what the parsers make of it is what they make of the text
    local _, text = s:perform("GET", url())
    assert.same(core.parse_tokens(200, text, headers, "GET", url(), nil, nil, 5),
      core.parse_tokens(200, page, headers, "GET", url(), nil, nil, 5))
    assert.same(core.parse(200, text, headers), core.parse(200, page, headers))
    -- not decoded: an error status, text that is not JSON, JSON that is not an object or
    -- array (a string would read as the text), an empty body
    local cases = {
      { status = 404, body = '{"message":"nope"}' }, { status = 200, body = "not json" },
      { status = 200, body = '"just a string"' }, { status = 200, body = "42" }, { status = 200, body = "" },
    }
    for _, c in ipairs(cases) do
      srv:faults{ { status = c.status, body = c.body, headers = { ["Content-Type"] = "application/json" } } }
      local st, body = s:perform("GET", url(), nil, nil, true)
      assert.equal(c.status, st, c.body)
      assert.equal(c.body, body)
      srv:clear_faults()
    end
    -- the parser's own word for text the transport would not decode
    local _, err = core.parse_tokens(200, "not json", {}, "GET", url())
    assert.equal("decode", err.kind)
    -- the same from libcurl's multi (list_many): next(true) decodes, next() never does
    local m = core.multi{ token = H.TOKEN }
    local function one(json)
      m:add(7, "GET", url())
      local tag, st, body
      repeat m:wait(5); tag, st, body = m:next(json) until tag
      return st, body
    end
    local st, mpage = one(true)
    assert.equal(200, st)
    assert.same(page, mpage)
    assert.equal(text, select(2, one(false)))
    for _, c in ipairs(cases) do
      srv:faults{ { status = c.status, body = c.body, headers = { ["Content-Type"] = "application/json" } } }
      local mst, body = one(true)
      assert.equal(c.status, mst, c.body)
      assert.equal(c.body, body)
      srv:clear_faults()
    end
    m:close()
    s:close()
  end)

  it("maps a slow answer past the timeout to kind timeout", function()
    srv:faults{ { delay = 3, status = 200, body = { tokens = {} } } }
    local s = core.session{ token = H.TOKEN, timeout = 0.5 }
    local t0 = core.monotime()
    local ok, err = s:perform("GET", url())
    assert.is_nil(ok)
    assert.equal("timeout", err.kind)
    assert.is_true(core.monotime() - t0 < 2.5)
    srv:clear_faults()
  end)

  it("does not follow redirects", function()
    srv:faults{ { status = 302, headers = { Location = "http://127.0.0.1:1/stolen" }, body = "" } }
    local s = core.session{ token = H.TOKEN }
    local status, _, headers = s:perform("GET", url())
    assert.equal(302, status)
    assert.equal("http://127.0.0.1:1/stolen", headers.location)
  end)

  it("refuses non-HTTP URLs", function()
    local s = core.session{ token = "t" }
    local ok, err = s:perform("GET", "file:///etc/passwd")
    assert.is_nil(ok)
    assert.equal("network", err.kind)
  end)

  it("validates perform's arguments", function()
    local s = core.session{ token = "t" }
    assert.error_matches(function() s:perform("DELETE", url()) end, "method")
    assert.error_matches(function() s:perform("GET", "http://x/a b") end, "url")
    assert.error_matches(function() s:perform("GET", url(), { "X-Bad: a\r\nY: b" }) end, "headers")
    assert.error_matches(function() s:perform("GET", url(), { 5 }) end, "headers")
    -- the whole string, not up to a NUL
    assert.error_matches(function() s:perform("GET\0X", url()) end, "method")
    assert.error_matches(function() s:perform("POST\0", url()) end, "method")
    assert.error_matches(function() s:perform("GET", url() .. "\0x") end, "url")
    assert.error_matches(function() s:perform("GET", url(), { "X-A: 1\0\r\nX-B: 2" }) end, "headers")
  end)

  it("survives being collected without close", function()
    for _ = 1, 50 do core.session{ token = "t" } end
    collectgarbage()
    collectgarbage()
  end)
end)
