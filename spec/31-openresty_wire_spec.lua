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
    lua_ssl_trusted_certificate %PREFIX%/ca.pem;
    server {
        listen 127.0.0.1:%PORT%;
        location = / { return 204; }
        location = /run { content_by_lua_block { require("spec.openresty.wire").serve() } }
        # nginx's resolver is a DNS server that never answers (nginx's own resolver_timeout
        # is its default, 30 s)
        location = /run_dns {
            resolver 127.0.0.1:%DNS_PORT% ipv6=off;
            content_by_lua_block { require("spec.openresty.wire").serve() }
        }
        location ~ ^/identities/(?<identity>[A-Za-z0-9-]+)/tokens$ {
            content_by_lua_block { require("handler").serve(ngx.var.identity) }
        }
        location = /configure { content_by_lua_block {
            local h = require "handler"
            h.default_options = h.default_options or h.client_options
            h.configure(ngx.var.arg_opts and require("cjson").decode(ngx.unescape_uri(ngx.var.arg_opts))
              or h.default_options)
            ngx.say("ok")
        } }
        location = /lock { content_by_lua_block {
            local cache, key = ngx.shared.infisical_cache, "lock:tokens:" .. ngx.var.arg_id
            if ngx.var.arg_set then cache:set(key, ngx.var.arg_set, 60) end
            ngx.say(require("cjson").encode{ value = cache:get(key) or false,
              ttl = cache:get(key) and cache:ttl(key) or false })
        } }
    }
}
]]

-- A scripted upstream: conns[i] is the list of steps for the i-th connection.
local UP_PORT = nginx.free_port()   -- the example handler's INFISICAL_API_URL

-- Every upstream this file started: pid -> its command line's folder (checked at the end:
-- none may outlive the spec). Each one also watches this Lua process ($PPID of the shell)
-- and exits when it is gone.
local started = {}

local function upstream(conns, port, extra)
  local dir = fake.run("mktemp -d /tmp/lua-infisical-up.XXXXXX")
  assert(dir:match("^/tmp/lua%-infisical%-up"), dir)
  local script = { conns = conns }
  for k, v in pairs(extra or {}) do script[k] = v end
  nginx.write(dir .. "/script.json", fake.json.encode(script))
  local pid = fake.run(("python3 %s %s/script.json %s/port %s/log %s \"$PPID\" >%s/out 2>&1 </dev/null & echo $!")
    :format(fake.shellquote(ROOT .. "/spec/openresty/upstream.py"), dir, dir, dir,
      fake.shellquote(port or ""), dir))
  started[tonumber(pid)] = dir
  local port
  for _ = 1, 100 do
    port = tonumber(fake.read_file(dir .. "/port") or "")
    if port then break end
    fake.sleep(0.05)
  end
  assert(port, "the upstream did not start: " .. tostring(fake.read_file(dir .. "/out")))
  local host = script.host and script.host:find(":") and "[" .. script.host .. "]" or script.host
  return {
    port = port,
    url = (script.tls and "https" or "http") .. "://" .. (host or "127.0.0.1") .. ":" .. port,
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

-- A CA, and certificates it signed that name only IP addresses (as certificates for an
-- address are made: no DNS entry): "ip" for 127.0.0.1 and ::1, "other" for 127.0.0.2.
local function make_certs(dir)
  local cmd = ([[set -e; cd %s
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca 2>/dev/null
    for c in ip other; do
      openssl req -newkey rsa:2048 -nodes -keyout $c.key -out $c.csr -subj /CN=server-$c 2>/dev/null
    done
    printf 'subjectAltName=IP:127.0.0.1,IP:::1\n' > ip.cnf
    printf 'subjectAltName=IP:127.0.0.2\n' > other.cnf
    for c in ip other; do
      openssl x509 -req -in $c.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $c.pem -days 2 -extfile $c.cnf 2>/dev/null
    done
  ]]):format(fake.shellquote(dir)):gsub("%s+$", "")
  local out, rc = fake.run(cmd)
  assert(rc == 0, "openssl failed: " .. out)
end

describe("the wire: cosockets in nginx, and libcurl", function()
  local web, up, dns, certs

  setup(function()
    build_luajit()
    certs = fake.run("mktemp -d /tmp/lua-infisical-certs.XXXXXX")
    make_certs(certs)
    dns = upstream({}, nil, { udp = true })
    web = nginx.start{ conf = CONF:gsub("%%DNS_PORT%%", tostring(dns.port)),
      files = { ["ca.pem"] = fake.read_file(certs .. "/ca.pem") },
      env = { INFISICAL_TOKEN = "fake-valid-token",
        INFISICAL_API_URL = "http://127.0.0.1:" .. UP_PORT } }
  end)

  teardown(function()
    if web then web:stop() end
    if dns then dns.stop() end
    if certs then os.execute("rm -rf " .. fake.shellquote(certs)) end
  end)

  after_each(function()
    if up then up.stop(); up = nil end
  end)

  local function run(name, args, location)
    local q = { "/" .. (location or "run") .. "?run=" .. name, "base=" .. (up and up.url or "") }
    for k, v in pairs(args or {}) do q[#q + 1] = k .. "=" .. tostring(v) end
    local path = table.concat(q, "&"):gsub("[%[%]]", function(c) return ("%%%02X"):format(c:byte()) end)
    local r = web:get(path, { timeout = 120 })
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
      assert.is_nil(e2, e2 and e2[ID2] and tostring(e2[ID2]))
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

  describe("timeouts, proxies, trust and addresses (issue 18 §3)", function()
    it("bounds name resolution by connect_timeout, and does not retry it", function()
      -- nginx's resolver never answers: its own resolver_timeout is 30 s
      local res = run("timed", { base_url = "http://infisical.example:8080", timeout = 2,
        retries = 2, backoff = 0.01 }, "run_dns")
      assert.equal("timeout", res.err and res.err.kind, res.err and res.err.message)
      assert.matches("name resolution included", res.err.message, 1, true)
      assert.is_true(res.seconds < 3.5, ("took %.2f s"):format(res.seconds))
      res = run("timed", { base_url = "http://infisical.example:8080", timeout = 10,
        connect_timeout = 1 }, "run_dns")
      assert.equal("timeout", res.err and res.err.kind)
      assert.is_true(res.seconds < 2.5, ("took %.2f s"):format(res.seconds))
    end)

    it("bounds the TLS handshake by connect_timeout", function()
      -- the server accepts, then never says a word of TLS
      up = upstream({ { hold(12) } }, nil, { tls = { cert = certs .. "/ip.pem", key = certs .. "/ip.key" } })
      local res = run("timed", { timeout = 10, connect_timeout = 1 })
      assert.equal("timeout", res.err and res.err.kind, res.err and res.err.message)
      assert.matches("TLS handshake", res.err.message, 1, true)
      assert.is_true(res.seconds < 2.5, ("took %.2f s"):format(res.seconds))
    end)

    it("verifies an https IP address against the certificate's IP entries", function()
      local tls = { cert = certs .. "/ip.pem", key = certs .. "/ip.key" }
      up = upstream({ { READ, send(answer("v4")), hold(3) } }, nil, { tls = tls })
      assert.same({ "v4" }, run("timed", {}).ids)
      up.stop()
      up = upstream({ { READ, send(answer("v6")), hold(3) } }, nil, { tls = tls, host = "::1" })
      assert.matches("^https://%[::1%]:", up.url)
      local res = run("timed", {})
      assert.same({ "v6" }, res.ids, res.err and res.err.message)
      up.stop()
      -- signed by the trusted CA, but for another address: refused, verification on
      up = upstream({ { READ, send(answer("no")), hold(3) } }, nil,
        { tls = { cert = certs .. "/other.pem", key = certs .. "/other.key" } })
      res = run("timed", {})
      assert.equal("tls", res.err and res.err.kind)
      assert.matches("does not match IP address 127.0.0.1", res.err.message, 1, true)
      -- and the same certificate over libcurl, for comparison
      local c = assert(require("infisical").new{ base_url = up.url, token = "fake-valid-token",
        transport = "curl", retries = 0, ca_file = certs .. "/ca.pem" })
      local _, cerr = c:list_tokens("a0000000-0000-4000-8000-000000000001")
      assert.equal("tls", cerr and cerr.kind)
    end)

    it("takes a plain http IPv6 address", function()
      up = upstream({ { READ, send(answer("six")), hold(3) } }, nil, { host = "::1" })
      local res = run("timed", {})
      assert.same({ "six" }, res.ids, res.err and res.err.message)
    end)

    it("refuses a proxy in a request handler instead of blocking the worker in libcurl", function()
      -- the proxy holds every connection: through libcurl the handler would wait 3 s
      up = upstream{ { hold(5) } }
      local res = run("timed", { transport = "auto", proxy = up.url, timeout = 3, base_url = "http://127.0.0.1:1" })
      assert.equal("config", res.err and res.err.kind, res.err and res.err.message)
      assert.matches("cannot use a proxy", res.err.message, 1, true)
      assert.is_true(res.seconds < 1, ("took %.2f s"):format(res.seconds))
      assert.equal(0, #up.requests())
      res = run("timed", { transport = "cosocket", proxy = up.url })
      assert.same({ "new", "config" }, { res.at, res.err and res.err.kind })
    end)

    it("refuses ca_file and ca_path on cosockets instead of dropping them", function()
      up = upstream{ { READ, send(answer("x")), hold(3) } }
      for _, name in ipairs{ "ca_file", "ca_path" } do
        local res = run("timed", { transport = "auto", [name] = certs .. "/ca.pem" })
        assert.equal("config", res.err and res.err.kind, name)
        assert.matches("cannot use " .. name .. ": nginx verifies TLS against lua_ssl_trusted_certificate",
          res.err.message, 1, true)
        res = run("timed", { transport = "cosocket", [name] = certs .. "/ca.pem" })
        assert.same({ "new", "config" }, { res.at, res.err and res.err.kind })
      end
      assert.equal(0, #up.requests())
    end)

    it("hints at nginx's resolver when localhost cannot be resolved", function()
      local res = run("timed", { base_url = "http://localhost:1" })
      assert.equal("network", res.err and res.err.kind)
      assert.matches("use 127.0.0.1 in base_url: nginx's resolver does not read /etc/hosts",
        res.err.message, 1, true)
    end)

    it("names the transport it used in the User-Agent", function()
      up = upstream{ { READ, send(answer("u")), hold(3) } }
      run("timed", {})
      local line = up.requests()[1].line
      assert.matches(" cosocket ngx_lua/", line, 1, true)
      assert.not_matches("libcurl/", line, 1, true)
      -- one the caller set is kept
      up.stop()
      up = upstream{ { READ, send(answer("u")), hold(3) } }
      run("timed", { user_agent = "my-service/2" })
      assert.equal("ua=my-service/2", up.requests()[1].line:match("ua=.*$"))
    end)

    it("does not pool a connection whose answer had both Content-Length and chunked", function()
      local body = '{"tokens":[{"id":"a1"}]}'
      local both = ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
        .. "Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n"):format(#body, #body, body)
      up = upstream{ { READ, send(both), READ, send(answer("b1")), hold() },
        { READ, send(answer("b1")), hold() } }
      local res = run("two")
      assert.same({ "a1" }, res[1].ids)
      assert.same({ "b1" }, res[2].ids)
      local reqs = up.requests()
      assert.same({ 0, 1 }, { reqs[1].conn, reqs[2] and reqs[2].conn })
    end)
  end)

  describe("parses strictly", function()
    local TE = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    local BODY = '{"tokens":[{"id":"t1"}]}'
    local function chunked(size_line)
      return TE .. size_line .. "\r\n" .. BODY .. "\r\n0\r\n\r\n"
    end
    local function one(raw)
      if up then up.stop() end   -- one upstream per call: the previous one is done
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

    -- A GET of the handler in the background: a function that waits for its status and body.
    local function background(path)
      local dir = fake.run("mktemp -d /tmp/lua-infisical-lock.XXXXXX")
      os.execute(("curl -s -o %s/body -w '%%{http_code}' --max-time 30 %s >%s/code.tmp 2>/dev/null </dev/null && mv %s/code.tmp %s/code &")
        :format(dir, fake.shellquote(web.url .. path), dir, dir, dir))
      return function()
        local code
        for _ = 1, 300 do
          code = fake.read_file(dir .. "/code")
          if code then break end
          fake.sleep(0.05)
        end
        local body = fake.read_file(dir .. "/body")
        os.execute("rm -rf " .. fake.shellquote(dir))
        return code, body
      end
    end

    it("holds its fetch lock through 429 re-sends: no second fetch beside the first", function()
      -- issue 18 §3: the lock's worst case left out 429 re-sends and pacing holds, so a
      -- fetch answered 429 three times outlived it and a second fetch ran beside it
      local id = "a0000000-0000-4000-8000-0000000000d4"
      local opts = fake.json.encode{ timeout = 1, connect_timeout = 1, retries = 0,
        max_backoff = 0.1, max_retry_wait = 3 }
      assert.equal(200, web:get("/configure?opts=" .. opts:gsub("[^%w]", function(c)
        return ("%%%02X"):format(c:byte()) end)).status)
      local r429 = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Type: application/json\r\n"
        .. "Content-Length: 2\r\n\r\n{}"
      -- a new client (configure) first asks GET /api/status, once
      local st = '{"date":"2026-12-01T00:00:00.000Z","message":"Ok"}'
      st = ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"):format(#st, st)
      up = upstream({ { READ, send(st), READ, { sleep = 0.8 }, send(r429), READ, { sleep = 0.8 }, send(r429), READ,
        { sleep = 0.8 }, send(r429), READ, { sleep = 0.8 }, send(tokens_of(id, "first")), hold() },
        { READ, send(tokens_of(id, "second")), hold() } }, UP_PORT)
      local first = background("/identities/" .. id .. "/tokens")
      -- the fetch takes 6.2 s; the lock of the old worst case (3 pages x 1 s, + 1) lasted 4 s
      fake.sleep(5)
      local second = web:get("/identities/" .. id .. "/tokens")
      local code, body = first()
      web:get("/configure")
      assert.equal("200", code, body)
      assert.matches('"first"', body, 1, true)
      assert.equal(200, second.status, second.body)
      assert.equal("first", second.json.tokens[1].id)
      assert.equal("HIT", second.headers["x-cache"])
      local conns = {}
      for _, r in ipairs(up.requests()) do conns[#conns + 1] = r.conn end
      assert.same({ 0, 0, 0, 0, 0 }, conns)
    end)

    it("holds its fetch lock for the client's worst case and releases only its own", function()
      local id = "a0000000-0000-4000-8000-0000000000c3"
      -- the client configure put back asks GET /api/status first, once
      local st = '{"date":"2026-12-01T00:00:00.000Z","message":"Ok"}'
      st = ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"):format(#st, st)
      up = upstream({ { READ, send(st), READ, { sleep = 1 }, send(tokens_of(id, "tc")), hold() } }, UP_PORT)
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

  -- Runs last: every scripted upstream this file started is gone once stopped (issue 18
  -- §4: eight of them outlived each run, one per call of a helper that started a new
  -- one without stopping the one before).
  it("leaves no scripted upstream running", function()
    if up then up.stop(); up = nil end
    if dns then dns.stop(); dns = nil end
    local alive = {}
    for pid, dir in pairs(started) do
      for _ = 1, 40 do
        local stat = fake.read_file("/proc/" .. pid .. "/stat")
        local cmd = fake.read_file("/proc/" .. pid .. "/cmdline") or ""
        if not stat or stat:match("^%d+ %b() ([ZX])") or not cmd:find(dir, 1, true) then break end
        fake.sleep(0.05)
      end
      local cmd = fake.read_file("/proc/" .. pid .. "/cmdline") or ""
      local stat = fake.read_file("/proc/" .. pid .. "/stat") or ""
      if cmd:find(dir, 1, true) and not stat:match("^%d+ %b() ([ZX])") then
        alive[#alive + 1] = pid .. " " .. cmd:gsub("%z", " ")
      end
    end
    assert.same({}, alive)
  end)
end)
