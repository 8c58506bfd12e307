-- Bad input from the caller: every public function and option, driven with wrong types,
-- empty and huge strings, NUL/CR/LF, negative and fractional numbers, NaN, infinities and
-- nil in the middle. Each must raise a Lua error naming the argument, send nothing, and
-- leave the process (and the client) working.
local H = require "spec.helpers"
local fake = H.fake
local infisical = require "infisical"

local NAN, INF = 0 / 0, math.huge
local MB = ("i"):rep(1024 * 1024)

-- Values that are wrong for any string argument that must be an id.
local BAD_ID = { false, true, 0, 1.5, -1, NAN, INF, -INF, {}, print, coroutine.create(print),
  io.stdout, "", MB, "a\0b", "a\r\nX-Injected: 1", "a\nb", "\0" }
-- Values that are wrong for an options table.
local BAD_OPTS = { false, true, 0, "opts", print, io.stdout }
-- Values that are wrong for a paging number (offset 0..100, limit/page_size 1..100).
local BAD_PAGE = { -1, 0.5, 1.5, 101, 1e300, NAN, INF, -INF, "1", true, {}, print }

local function label(v)
  if type(v) == "string" then
    return #v > 40 and ("string of %d bytes"):format(#v) or ("%q"):format(v)
  end
  return tostring(v)
end

describe("bad input", function()
  local srv, c
  setup(function() srv = fake.start{ fixture = H.FIXTURE } end)
  teardown(function() srv:stop() end)
  before_each(function()
    srv:reset(H.state())
    c = H.client(srv)
  end)
  after_each(function()
    -- nothing was sent, and the client still works afterwards
    assert.equal(0, #H.api_requests(srv), "a request was sent")
    assert.equal(2, #assert(c:list_tokens(H.ID1, { page_size = 2 })).tokens)
  end)

  -- f(v) must raise an error string naming `name` (and never showing the token).
  local function raises(name, f, values)
    for _, v in ipairs(values) do
      local ok, err = pcall(f, v)
      assert.is_false(ok, "accepted " .. label(v) .. " for " .. name)
      assert.is_string(err, "error is not a string for " .. label(v))
      assert.is_truthy(err:find("'" .. name .. "'", 1, true) or err:find(name .. " ", 1, true),
        "error for " .. label(v) .. " does not name " .. name .. ": " .. err:sub(1, 200))
      assert.is_true(#err < 400, "error too long: " .. #err)
      assert.is_nil(err:find(H.TOKEN, 1, true))
    end
  end

  describe("identity ids", function()
    local calls = {
      list_tokens = function(v) return c:list_tokens(v) end,
      each_token = function(v) return c:each_token(v)() end,
      all_tokens = function(v) return c:all_tokens(v) end,
      list_many = function(v) return c:list_many{ H.ID1, v } end,
      stream_many = function(v) return c:stream_many{ H.ID1, v }() end,
    }
    for fname, f in pairs(calls) do
      it(fname .. " refuses every bad identity id", function()
        local name = fname:find("many") and "identity_ids[2]" or "identity_id"
        raises(name, f, BAD_ID)
        -- nil in the middle of the argument list
        if not fname:find("many") then
          raises("identity_id", function() return c[fname](c, nil, {}) end, { 1 })
        end
      end)
    end

    it("list_many/stream_many refuse a non-array, and nil in the middle of the array", function()
      for _, fname in ipairs{ "list_many", "stream_many" } do
        raises("identity_ids", function(v) return c[fname](c, v) end,
          { "x", 1, true, print, { a = H.ID1 }, { [1] = H.ID1, [3] = H.ID2 }, { [1.5] = H.ID1 } })
      end
    end)

    it("revoke_token refuses every bad token id", function()
      raises("token_id", function(v) return c:revoke_token(v) end, BAD_ID)
      raises("token_id", function() return c:revoke_token(nil, "x") end, { 1 })
    end)
  end)

  describe("options tables", function()
    local calls = {
      list_tokens = function(v) return c:list_tokens(H.ID1, v) end,
      each_token = function(v) return c:each_token(H.ID1, v)() end,
      all_tokens = function(v) return c:all_tokens(H.ID1, v) end,
      list_many = function(v) return c:list_many({ H.ID1 }, v) end,
      stream_many = function(v) return c:stream_many({ H.ID1 }, v)() end,
    }
    for fname, f in pairs(calls) do
      it(fname .. " refuses a non-table, unknown names and bad paging numbers", function()
        raises("opts", f, BAD_OPTS)
        raises("unknown option", function(v) return f{ [v] = 1 } end,
          { "limt", "pagesize", "" })
        local nums = fname == "list_tokens" and { "offset", "limit" } or { "page_size" }
        for _, k in ipairs(nums) do
          raises(k, function(v) return f{ [k] = v } end, BAD_PAGE)
        end
        raises("unknown option", function() return f{ [1] = true } end, { 1 })
      end)
    end

    it("walk filters refuse wrong types", function()
      raises("revoked", function(v) return c:all_tokens(H.ID1, { revoked = v }) end,
        { 0, "false", NAN, {} })
      raises("auth_method", function(v) return c:all_tokens(H.ID1, { auth_method = v }) end,
        { 0, "", {}, { "" }, { 1 }, NAN, print })
      raises("where", function(v) return c:all_tokens(H.ID1, { where = v }) end,
        { 0, "x", {}, true })
      raises("partial", function(v) return c:all_tokens(H.ID1, { partial = v }) end,
        { 0, "true", {} })
      raises("concurrency", function(v) return c:list_many({ H.ID1 }, { concurrency = v }) end,
        { 0, -1, 1.5, NAN, INF, "2", 1e9 })
    end)

    it("status filters refuse wrong types", function()
      raises("status", function(v) return c:all_tokens(H.ID1, { status = v }) end,
        { 0, "", "dead", {}, { "x" }, NAN })
      raises("unused_for", function(v) return c:all_tokens(H.ID1, { unused_for = v }) end,
        { -1, NAN, INF, "30d", {} })
      raises("name", function(v) return c:all_tokens(H.ID1, { name = v }) end,
        { 0, {} })
      raises("name_pattern", function(v) return c:all_tokens(H.ID1, { name_pattern = v }) end,
        { 0, {}, "[", "%" })
      raises("now", function(v) return c:all_tokens(H.ID1, { now = v }) end,
        { NAN, "now", {} })
    end)
  end)

  describe("infisical.new", function()
    local function new(k, v)
      return infisical.new{ base_url = srv.url, token = H.TOKEN, [k] = v }
    end
    local cases = {
      timeout = { 0, -1, NAN, INF, -INF, 86401, "10", true },
      connect_timeout = { 0, -1, NAN, INF, "1" },
      low_speed_time = { 0, -1, NAN, INF, "1" },
      retries = { -1, 1.5, 21, NAN, INF, "3" },
      backoff = { -1, NAN, INF, "0.5" },
      max_backoff = { -1, NAN, INF, "1" },
      max_retry_wait = { -1, NAN, INF, "1" },
      max_body = { 0, -1, 1.5, NAN, INF, 2 ^ 31, "8M" },
      max_headers = { 0, -1, 1023, 1.5, NAN, INF, "64k" },
      page_size = { 0, -1, 101, 1.5, NAN, INF, "100" },
      verify_tls = { 0, 1, "false", "", NAN },
      compress = { 0, "yes", NAN },
      ca_file = { "", 0, true, "a\0b", {} },
      ca_path = { "", 0, true, "a\0b", {} },
      proxy = { "", 0, true, "http://a\0b", {} },
      user_agent = { "", 0, true, "ua\r\nX-Injected: 1", "ua\0", {} },
      base_url = { "", 0, true, {}, "http://a\0b", "http://a\r\nb" },
      token = { 0, true, {}, "", "t\r\nX-Injected: 1", "t\0", "t\n" },
      sleep = { 0, "sleep", {} },
      clock = { 0, "clock", {} },
      client_id = { 0, "", {} },
      client_secret = { 0, "", {} },
      transport = { 0, "", "socket", {} },
    }
    for k, values in pairs(cases) do
      it("refuses bad '" .. k .. "' values", function()
        for _, v in ipairs(values) do
          local ok, a, b = pcall(new, k, v)
          if ok then
            -- a bad base_url is a config error (it may come from the environment)
            assert.is_nil(a, "accepted " .. label(v) .. " for " .. k)
            assert.equal("config", b.kind)
            assert.equal("base_url", k)
          else
            assert.is_truthy(a:find("'" .. k .. "'", 1, true),
              "error for " .. label(v) .. " does not name " .. k .. ": " .. a)
            assert.is_nil(a:find(H.TOKEN, 1, true))
          end
        end
      end)
    end

    it("refuses a non-table, unknown options and nil in the middle", function()
      raises("opts", infisical.new, BAD_OPTS)
      raises("unknown option", function(v) return infisical.new{ token = H.TOKEN, [v] = 1 } end,
        { "tiemout", "Token", "" })
      raises("unknown option", function() return infisical.new{ H.TOKEN } end, { 1 })
    end)

    it("takes a 1 MB token without crashing (it is only a header value)", function()
      local big = assert(infisical.new{ base_url = srv.url, token = MB, retries = 0 })
      local res, err = big:list_tokens(H.ID1)
      assert.is_nil(res)
      assert.is_nil(tostring(err):find(MB, 1, true))
      srv:reset(H.state())   -- that one did reach the server (as it should)
    end)
  end)

  describe("methods and module functions", function()
    it("need a client as self, and refuse a closed one", function()
      for _, m in ipairs{ "list_tokens", "each_token", "all_tokens", "list_many", "stream_many",
          "revoke_token", "info" } do
        for _, self in ipairs{ false, 1, "x", {}, infisical } do
          local ok, err = pcall(H.client(srv)[m], self, H.ID1)
          assert.is_false(ok)
          assert.matches("self", err)
        end
      end
      local closed = H.client(srv)
      closed:close()
      closed:close()
      for _, m in ipairs{ "list_tokens", "each_token", "all_tokens", "list_many", "revoke_token", "info" } do
        local ok, err = pcall(closed[m], closed, m:find("many") and { H.ID1 } or H.ID1)
        assert.is_false(ok)
        assert.matches("closed", err)
      end
    end)

    it("token_status and expires_at refuse a non-table token; token_status a non-number now", function()
      raises("token", infisical.token_status, { nil, 1, "t", true, NAN })
      raises("token", infisical.expires_at, { nil, 1, "t", true, NAN, print })
      raises("now", function(v) return infisical.token_status({}, v) end, { "now", {}, true })
    end)

    it("parse_time gives nil for anything that is not an ISO time, however odd", function()
      for _, v in ipairs{ nil, 1, NAN, {}, "", MB, "2024-13-45T99:99:99Z", "2024-02-30T00:00:00Z",
          "2024-01-01T00:00:00\0Z", "9999999999-01-01T00:00:00Z", "2024-01-01T00:00:00+99:99" } do
        assert.is_nil(infisical.parse_time(v))
      end
    end)
  end)
end)
