-- The cosocket transport's wire handling inside a real nginx, against a scripted
-- upstream (spec/openresty/upstream.py) that controls one kept-alive connection over
-- time: body memory for one-byte chunks, the replay of a GET on a closed pooled
-- connection, pooling after an answer with extra bytes, and the parser's edges.
local fake = require "spec.fake_client"
local nginx = require "spec.openresty.nginx"

local ROOT = nginx.ROOT

local function build_luajit()
  local out, rc = fake.run("cd " .. fake.shellquote(ROOT) .. " && make -s luajit 2>&1")
  assert(rc == 0, "make luajit failed: " .. out)
end

-- Also the example handler (examples/openresty/handler.lua), its client pointed at the
-- scripted upstream's port, with locations to look at and move its fetch lock.
local CONF = nginx.main_context("%PREFIX%") .. [[
env INFISICAL_TOKEN;
env INFISICAL_API_URL;
events { worker_connections 256; }
http {
]] .. nginx.temp_paths("%PREFIX%") .. [[
    access_log off;
    lua_package_path "%ROOT%/lua/?.lua;%ROOT%/lua/?/init.lua;%ROOT%/?.lua;%ROOT%/examples/openresty/?.lua;;";
    lua_package_cpath "%ROOT%/build/luajit/?.so;;";
    lua_shared_dict infisical_cache 1m;
    server {
        listen 127.0.0.1:%PORT%;
        location = / { return 204; }
        location = /run { content_by_lua_block { require("spec.openresty.wire").serve() } }
        location ~ ^/identities/(?<identity>[A-Za-z0-9-]+)/tokens$ {
            content_by_lua_block { require("handler").serve(ngx.var.identity) }
        }
        location = /lock { content_by_lua_block {
            local cache, key = ngx.shared.infisical_cache, "lock:" .. ngx.var.arg_id
            if ngx.var.arg_set then cache:set(key, ngx.var.arg_set, 60) end
            ngx.say(require("cjson").encode{ value = cache:get(key) or false,
              ttl = cache:get(key) and cache:ttl(key) or false })
        } }
    }
}
]]

-- A scripted upstream: conns[i] is the list of steps for the i-th connection.
local UP_PORT = nginx.free_port()   -- the example handler's INFISICAL_API_URL

local function upstream(conns, port)
  local dir = fake.run("mktemp -d /tmp/lua-infisical-up.XXXXXX")
  assert(dir:match("^/tmp/lua%-infisical%-up"), dir)
  nginx.write(dir .. "/script.json", fake.json.encode{ conns = conns })
  local pid = fake.run(("python3 %s %s/script.json %s/port %s/log %s >%s/out 2>&1 </dev/null & echo $!")
    :format(fake.shellquote(ROOT .. "/spec/openresty/upstream.py"), dir, dir, dir, port or "", dir))
  local port
  for _ = 1, 100 do
    port = tonumber(fake.read_file(dir .. "/port") or "")
    if port then break end
    fake.sleep(0.05)
  end
  assert(port, "the upstream did not start: " .. tostring(fake.read_file(dir .. "/out")))
  return {
    url = "http://127.0.0.1:" .. port,
    --- The requests it read: { {conn = n, line = "GET /..."}, ... }.
    requests = function()
      local t = {}
      for n, line in (fake.read_file(dir .. "/log") or ""):gmatch("(%d+) ([^\n]*)\n") do
        t[#t + 1] = { conn = tonumber(n), line = line }
      end
      return t
    end,
    stop = function()
      os.execute("kill " .. tonumber(pid) .. " 2>/dev/null")
      os.execute("rm -rf " .. fake.shellquote(dir))
    end,
  }
end

-- A complete 200 answer holding tokens with these ids.
local function answer(...)
  local items = {}
  for i, id in ipairs{ ... } do items[i] = ('{"id":"%s"}'):format(id) end
  local body = '{"tokens":[' .. table.concat(items, ",") .. "]}"
  return ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s")
    :format(#body, body)
end

local READ = { read = true }
local function send(s) return { send = s } end
local function hold(s) return { hold = s or 10 } end

describe("the wire: cosockets in nginx, and libcurl", function()
  local web, up

  setup(function()
    build_luajit()
    web = nginx.start{ conf = CONF, env = { INFISICAL_TOKEN = "fake-valid-token",
      INFISICAL_API_URL = "http://127.0.0.1:" .. UP_PORT } }
  end)

  teardown(function()
    if web then web:stop() end
  end)

  after_each(function()
    if up then up.stop(); up = nil end
  end)

  local function run(name, args)
    local q = { "/run?run=" .. name, "base=" .. up.url }
    for k, v in pairs(args or {}) do q[#q + 1] = k .. "=" .. tostring(v) end
    local r = web:get(table.concat(q, "&"), { timeout = 120 })
    assert.equal(200, r.status, r.body)
    assert.is_true(r.json.ok, tostring(r.json.result))
    return r.json.result
  end

  -- Runs first, in a fresh worker: the peak is measured from the worker's own RSS.
  it("keeps a body of one-byte chunks within a small multiple of max_body", function()
    local size = 4 * 1024 * 1024
    up = upstream{ { READ, { ones = { prefix = '{"tokens":[', fill = " \t\n ", count = size,
      suffix = "]}" } }, hold(30) } }
    local res = run("memory", { max_body = size + 64 })
    assert.same({ n = 0 }, { n = res.n, err = res.err })
    local mib = 1024
    print(("# %g MiB body as one-byte chunks: worker peak +%.1f MiB, RSS +%.1f MiB and Lua heap +%.1f MiB after")
      :format(size / 1048576, res.peak_kb / mib, res.rss_after_kb / mib, res.lua_after_kb / mib))
    -- the body itself, its final copy and the joined pieces: a few times its size (3x
    -- measured), not the 25 times a string and a table entry per chunk cost
    assert.is_true(res.peak_kb < 5 * size / 1024, ("peak +%.0f kB"):format(res.peak_kb))
    -- and the worker has its memory back once the answer is gone
    assert.is_true(res.lua_after_kb < size / 1024, ("Lua heap +%.0f kB after"):format(res.lua_after_kb))
    assert.is_true(res.rss_after_kb < size / 1024, ("RSS +%.0f kB after"):format(res.rss_after_kb))
  end)

  describe("the replay of a GET on a kept-alive connection that closed", function()
    it("happens when nothing of the answer came", function()
      up = upstream{ { READ, send(answer("a1")), READ, { close = true } },
        { READ, send(answer("b1")), hold() } }
      local res = run("two")
      assert.same({ "a1" }, res[1].ids)
      assert.same({ "b1" }, res[2].ids, res[2].err and res[2].err.message)
      assert.equal(3, #up.requests())
    end)

    it("does not happen after part of the headers arrived", function()
      up = upstream{ { READ, send(answer("a1")), READ, send("HTTP/1.1 200 OK\r\nContent-Le"), { close = true } },
        { READ, send(answer("b1")), hold() } }
      local res = run("two")
      assert.same({ "a1" }, res[1].ids)
      assert.equal("network", res[2].err and res[2].err.kind)
      assert.equal(2, #up.requests())
    end)

    it("stays within the request's timeout", function()
      -- the pooled connection stays silent for most of the timeout, then closes; the
      -- replay's connection never answers
      up = upstream{ { READ, send(answer("a1")), READ, { sleep = 0.8 }, { close = true } },
        { READ, hold() } }
      local res = run("two", { timeout = 1 })
      assert.same({ "a1" }, res[1].ids)
      assert.equal("timeout", res[2].err and res[2].err.kind)
      assert.is_true(res[2].seconds < 1.3, ("the request took %.2f s"):format(res[2].seconds))
    end)
  end)

  describe("a pooled connection", function()
    -- The first answer is complete; a second one, for nobody, follows a few ms later on
    -- the same connection, before the next request. That request must not take it as its
    -- answer: nginx closes a pooled connection that turns readable while idle, and the
    -- transport keeps a connection only after an answer framed exactly. (Bytes that
    -- arrive after the next request went out cannot be told from its answer: the example
    -- handler checks the tokens' identity, below.)
    local script = { { READ, send(answer("a1")), { sleep = 0.005 }, send(answer("stale")), hold() },
      { READ, send(answer("b1")), hold() } }

    it("is not reused when bytes arrived after the answer (cosocket)", function()
      up = upstream(script)
      local res = run("two", { gap = 0.05 })
      assert.same({ "a1" }, res[1].ids)
      assert.same({ "b1" }, res[2].ids, res[2].err and res[2].err.message)
      local reqs = up.requests()
      assert.same({ 0, 1 }, { reqs[1].conn, reqs[2] and reqs[2].conn })
    end)

    it("is not reused when bytes arrived after the answer (libcurl, one run)", function()
      up = upstream(script)
      local c = assert(require("infisical").new{ base_url = up.url, token = "fake-valid-token",
        transport = "curl", retries = 0, timeout = 5 })
      local p1 = assert(c:list_tokens("a0000000-0000-4000-8000-000000000001"))
      fake.sleep(0.05)
      local p2, err = c:list_tokens("a0000000-0000-4000-8000-000000000002")
      assert.equal("a1", p1.tokens[1].id)
      assert.is_nil(err, err and tostring(err))
      assert.equal("b1", p2.tokens[1].id)
      c:close()
    end)

    it("is not reused when bytes arrived after the answer (libcurl's multi, list_many)", function()
      up = upstream(script)
      local c = assert(require("infisical").new{ base_url = up.url, token = "fake-valid-token",
        transport = "curl", retries = 0, timeout = 5 })
      local ID1, ID2 = "a0000000-0000-4000-8000-000000000001", "a0000000-0000-4000-8000-000000000002"
      local r1 = c:list_many{ ID1 }
      fake.sleep(0.05)
      local r2, e2 = c:list_many{ ID2 }
      assert.equal("a1", r1[ID1][1].id)
      assert.is_nil(e2[ID2], e2[ID2] and tostring(e2[ID2]))
      assert.equal("b1", r2[ID2][1].id)
      c:close()
    end)

    it("is not kept when more than the answer came with it", function()
      up = upstream{ { READ, send(answer("a1") .. answer("stale")), hold() },
        { READ, send(answer("b1")), hold() } }
      local res = run("two")
      assert.same({ "a1" }, res[1].ids)
      assert.same({ "b1" }, res[2].ids, res[2].err and res[2].err.message)
    end)
  end)

  describe("parses strictly", function()
    local TE = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    local BODY = '{"tokens":[{"id":"t1"}]}'
    local function chunked(size_line)
      return TE .. size_line .. "\r\n" .. BODY .. "\r\n0\r\n\r\n"
    end
    local function one(raw)
      up = upstream{ { READ, send(raw), hold(3) } }
      return run("one", { timeout = 2 })
    end

    it("a chunk size: hex digits, then nothing or an extension", function()
      local hex = ("%x"):format(#BODY)
      assert.same({ "t1" }, one(chunked(hex)).ids)
      assert.same({ "t1" }, one(chunked(hex .. " ;ext=1")).ids)
      assert.same({ "t1" }, one(chunked(("0"):rep(40) .. hex)).ids)   -- leading zeros
      for _, bad in ipairs{ "0x" .. hex, hex .. " zzzz", " " .. hex, "", "+" .. hex } do
        local res = one(chunked(bad))
        assert.equal("network", res.err and res.err.kind, bad)
        assert.matches("malformed chunk size", res.err.message, 1, true)
      end
    end)

    it("a status below 100 is not an informational answer", function()
      local res = one("HTTP/1.1 099 Odd\r\n\r\n" .. answer("t1"))
      assert.equal("network", res.err and res.err.kind)
      assert.matches("malformed HTTP status line", res.err.message, 1, true)
      assert.same({ "t1" }, one("HTTP/1.1 100 Continue\r\n\r\n" .. answer("t1")).ids)
    end)

    it("a bare CR inside a header value does not start another header", function()
      local body = '{"tokens":[{"id":"t1"}]}'
      local res = one("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
        .. #body .. "\r\nX-Note: a\rContent-Encoding: gzip\r\n\r\n" .. body)
      assert.equal("network", res.err and res.err.kind)
      assert.matches("malformed HTTP header line", res.err.message, 1, true)
    end)
  end)

  describe("the example handler", function()
    local IDA = "a0000000-0000-4000-8000-0000000000a1"
    local IDB = "a0000000-0000-4000-8000-0000000000b2"
    local function tokens_of(id, ...)
      local items = {}
      for i, tid in ipairs{ ... } do items[i] = ('{"id":"%s","identityId":"%s"}'):format(tid, id) end
      local body = '{"tokens":[' .. table.concat(items, ",") .. "]}"
      return ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s")
        :format(#body, body)
    end

    it("answers [] for an identity without tokens", function()
      local id = "a0000000-0000-4000-8000-0000000000e1"
      -- the worker's client asks the server's token rules first (GET /api/status), once:
      -- this is the first request of the example's client in this file
      local status = '{"date":"2026-12-01T00:00:00.000Z","message":"Ok"}'
      status = ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s")
        :format(#status, status)
      up = upstream({ { READ, send(status), READ, send(tokens_of(id)), hold() } }, UP_PORT)
      local r = web:get("/identities/" .. id .. "/tokens")
      assert.equal(200, r.status, r.body)
      assert.matches('"tokens":[]', r.body, 1, true)
      assert.equal(id, r.json.identity_id)
    end)

    it("never serves nor caches another identity's tokens", function()
      -- the pooled connection's second answer is the first one again (a server, proxy
      -- or connection mix-up): identity B must not get identity A's tokens
      up = upstream({ { READ, send(tokens_of(IDA, "ta")), READ, send(tokens_of(IDA, "ta")), hold() },
        { READ, send(tokens_of(IDB, "tb")), hold() } }, UP_PORT)
      local a = web:get("/identities/" .. IDA .. "/tokens")
      assert.equal(200, a.status, a.body)
      assert.equal("ta", a.json.tokens[1].id)
      local b = web:get("/identities/" .. IDB .. "/tokens")
      assert.equal(502, b.status, b.body)
      assert.not_matches('"ta"', b.body, 1, true)
      assert.matches("another identity", web:error_log(), 1, true)
    end)

    it("holds its fetch lock for the client's worst case and releases only its own", function()
      local id = "a0000000-0000-4000-8000-0000000000c3"
      up = upstream({ { READ, { sleep = 1 }, send(tokens_of(id, "tc")), hold() } }, UP_PORT)
      local dir = fake.run("mktemp -d /tmp/lua-infisical-lock.XXXXXX")
      os.execute(("curl -s -o %s/body -w '%%{http_code}' --max-time 20 %s >%s/code.tmp 2>/dev/null </dev/null && mv %s/code.tmp %s/code &")
        :format(dir, fake.shellquote(web.url .. "/identities/" .. id .. "/tokens"), dir, dir, dir))
      fake.sleep(0.4)
      local during = web:get("/lock?id=" .. id).json
      -- three attempts of 10 s at the least (timeout x attempts), not 15 s
      assert.is_true(during.ttl >= 30, "lock TTL " .. tostring(during.ttl))
      -- the lock expired and another request took it: ours must leave it alone
      web:get("/lock?id=" .. id .. "&set=someone-else")
      local code
      for _ = 1, 100 do
        code = fake.read_file(dir .. "/code")
        if code then break end
        fake.sleep(0.05)
      end
      os.execute("rm -rf " .. fake.shellquote(dir))
      assert.equal("200", code)
      assert.equal("someone-else", web:get("/lock?id=" .. id).json.value)
    end)
  end)
end)
