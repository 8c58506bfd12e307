-- lua-infisical inside a real nginx (Debian's nginx + libnginx-mod-http-lua, LuaJIT):
-- the example handler, errors, non-blocking, connection reuse, init_by_lua, and the
-- transport-independent behaviour cases (spec/openresty/cases.lua) on every transport.
local fake = require "spec.fake_client"
local H = require "spec.helpers"
local nginx = require "spec.openresty.nginx"
local cases = require "spec.openresty.cases"

local ROOT = nginx.ROOT
local TOKEN = H.TOKEN

-- The LuaJIT build of the C core is what nginx loads; make it (a no-op when up to date).
local function build_luajit()
  local out, rc = fake.run("cd " .. fake.shellquote(ROOT) .. " && make -s luajit 2>&1")
  assert(rc == 0, "make luajit failed: " .. out)
end

-- One CA and a server certificate for 127.0.0.1, and a second CA that did not sign it.
local function make_certs(dir)
  local cmd = ([[set -e; cd %s
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca 2>/dev/null
    openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 2 -subj /CN=other-ca 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:127.0.0.1\n' > ext.cnf
    openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile ext.cnf 2>/dev/null
  ]]):format(fake.shellquote(dir)):gsub("%s+$", "")
  local out, rc = fake.run(cmd)
  assert(rc == 0, "openssl failed: " .. out)
end

-- The example's nginx.conf, made to run here: our port and build, the repository's Lua
-- code first, one worker, and test locations next to the example's own.
local function example_conf(certs)
  local conf = assert(fake.read_file(ROOT .. "/examples/openresty/nginx.conf"))
  local function sub(pattern, repl)
    local n
    conf, n = conf:gsub(pattern, function() return repl end)
    assert(n == 1, "examples/openresty/nginx.conf: no single match for " .. pattern)
  end
  sub("worker_processes auto;", "worker_processes 1;")
  sub("error_log logs/error.log notice;", "error_log logs/error.log info;")
  sub('lua_package_path "%$prefix/', 'lua_package_path "%ROOT%/lua/?.lua;%ROOT%/lua/?/init.lua;%ROOT%/?.lua;$prefix/')
  sub('lua_package_cpath "[^"]*";', 'lua_package_cpath "%ROOT%/build/luajit/?.so;;";')
  sub("lua_ssl_trusted_certificate [^;]*;", "lua_ssl_trusted_certificate " .. certs .. "/ca.pem;")
  sub("listen 127.0.0.1:8080;", "listen 127.0.0.1:%PORT%;")
  -- init_by_lua: a client made and used right there, so through libcurl.
  sub('require "handler"\n', [[require "handler"
        local infisical = require "infisical"
        -- one retry (the fake server answers 503 first): ngx.sleep does not exist here
        local c = assert(infisical.new{ base_url = os.getenv("INFISICAL_API_URL"), retries = 1,
          backoff = 0.01 })
        local page, err = c:list_tokens("]] .. H.ID1 .. [[", { page_size = 4 })
        package.loaded.init_result = { n = page and #page.tokens, err = err and tostring(err),
          transport = c:info().transport, phase = ngx.get_phase() }
        c:close()
]])
  sub("        location ~ ", [[
        location = / { return 204; }
        location = /init { content_by_lua_block {
            ngx.say(require("cjson").encode(package.loaded.init_result))
        } }
        location = /case { content_by_lua_block { require("spec.openresty.cases").serve() } }
        location = /configure { content_by_lua_block {
            -- the example's client options, replaced (or put back with no argument)
            local h = require "handler"
            h.default_options = h.default_options or h.client_options
            h.configure(ngx.var.arg_opts and require("cjson").decode(ngx.unescape_uri(ngx.var.arg_opts))
              or h.default_options)
            ngx.say("ok")
        } }
        location = /many { content_by_lua_block {
            local infisical = require "infisical"
            local c = assert(infisical.new{ base_url = ngx.var.arg_base })
            local ids = {}
            for i = 401, 410 do ids[#ids + 1] = ("a0000000-0000-4000-8000-%012d"):format(i) end
            local res, errs = c:list_many(ids, { concurrency = 10 })
            errs = errs or {}   -- nil when every identity succeeded
            local out = { identities = 0, tokens = 0, errors = 0, transport = c:info().transport }
            for _, id in ipairs(ids) do
                if errs[id] then out.errors = out.errors + 1 end
                if res[id] then out.identities = out.identities + 1; out.tokens = out.tokens + #res[id] end
            end
            ngx.say(require("cjson").encode(out))
        } }
        location = /timer { content_by_lua_block {
            -- a client made here, used from a timer: the picker must see the timer phase
            local infisical = require "infisical"
            local c = assert(infisical.new{ base_url = ngx.var.arg_base })
            local box = {}
            assert(ngx.timer.at(0, function()
                local page, err = c:list_tokens("]] .. H.ID1 .. [[", { page_size = 2 })
                box.done, box.n, box.err = true, page and #page.tokens, err and tostring(err)
                box.transport, box.phase = c:info().transport, ngx.get_phase()
            end))
            for _ = 1, 500 do
                if box.done then break end
                ngx.sleep(0.01)
            end
            ngx.say(require("cjson").encode(box))
        } }
        location = /case_untrusted {
            lua_ssl_trusted_certificate ]] .. certs .. [[/other.pem;
            content_by_lua_block { require("spec.openresty.cases").serve() }
        }

        location ~ ]])
  return conf
end

local function iso(t) return os.date("!%Y-%m-%dT%H:%M:%S.000Z", t) end

-- n token records that are active now (created an hour ago, 30-day TTL, no use limit).
local function active_records(id, n)
  local now = os.time()
  local t = H.records(id, n)
  for i, r in ipairs(t) do
    r.createdAt, r.updatedAt = iso(now - 3600), iso(now - 60 * i)
  end
  return t
end

-- n identities of 3 active tokens each, for the concurrency and reuse checks.
local function many_identities(n, first)
  local idents = {}
  for i = 1, n do
    local id = fake.identity_id(first + i)
    idents[id] = { tokens = active_records(id, 3) }
  end
  return idents
end

-- n requests to nginx at the same time (one curl process each); -> results, seconds.
local function concurrent(base, paths)
  local dir = fake.run("mktemp -d /tmp/lua-infisical-burst.XXXXXX")
  local script = { "t0=$(date +%s.%N)" }
  for i, p in ipairs(paths) do
    script[#script + 1] = ("curl -s -o %s/%d.body -w '%%{http_code}' --max-time 30 %s > %s/%d.code &")
      :format(dir, i, fake.shellquote(base .. p), dir, i)
  end
  script[#script + 1] = "wait"
  script[#script + 1] = [[echo "$t0 $(date +%s.%N)"]]
  local out = fake.run("{ " .. table.concat(script, "\n") .. "\n}")
  local t0, t1 = out:match("([%d.]+) ([%d.]+)%s*$")
  local res = {}
  for i = 1, #paths do
    res[i] = { status = tonumber(fake.read_file(dir .. "/" .. i .. ".code")),
      body = fake.read_file(dir .. "/" .. i .. ".body") }
    local ok, v = pcall(fake.json.decode, res[i].body or "")
    if ok then res[i].json = v end
  end
  os.execute("rm -rf " .. fake.shellquote(dir))
  return res, tonumber(t1) - tonumber(t0)
end

describe("OpenResty", function()
  local srv, tls_srv, tls_srv2, web, certs

  setup(function()
    build_luajit()
    certs = fake.run("mktemp -d /tmp/lua-infisical-certs.XXXXXX")
    make_certs(certs)
    srv = fake.start{ fixture = H.FIXTURE }
    srv:faults{ { status = 503, body = "busy", match = H.ID1 } }   -- for init_by_lua's retry
    tls_srv = fake.start{ fixture = H.FIXTURE, tls = { cert = certs .. "/srv.pem", key = certs .. "/srv.key" } }
    -- its own server: a connection verified and pooled by another test would be reused
    tls_srv2 = fake.start{ fixture = H.FIXTURE, tls = { cert = certs .. "/srv.pem", key = certs .. "/srv.key" } }
    -- the example's resolver line, made from this host's /etc/resolv.conf as its docs say
    local resolver, rc = fake.run("sh " .. fake.shellquote(ROOT .. "/examples/openresty/resolver.sh"))
    assert(rc == 0, "resolver.sh: " .. resolver)
    web = nginx.start{
      conf = example_conf(certs),
      files = { ["handler.lua"] = assert(fake.read_file(ROOT .. "/examples/openresty/handler.lua")),
        ["conf/resolver.conf"] = resolver .. "\n" },
      env = { INFISICAL_TOKEN = TOKEN, INFISICAL_API_URL = srv.url },
    }
  end)

  teardown(function()
    if web then web:stop() end
    if srv then srv:stop() end
    if tls_srv then tls_srv:stop() end
    if tls_srv2 then tls_srv2:stop() end
    if certs then os.execute("rm -rf " .. fake.shellquote(certs)) end
  end)

  before_each(function()
    srv:reset_fixture(H.FIXTURE)
    srv:clear_faults()
  end)

  local function assert_no_token_in_log()
    local log = web:error_log()
    assert.is_nil(log:find(TOKEN, 1, true), "the token is in nginx's error log")
  end

  describe("the example handler", function()
    it("serves an identity's active client secrets beside its tokens (issue 17)", function()
      local now = os.time()
      local function sec(n, over)
        local r = { id = ("d0000000-0000-4000-8000-%012d"):format(n), description = "s" .. n,
          clientSecretPrefix = "ab" .. n, clientSecretNumUses = 0, clientSecretNumUsesLimit = 0,
          clientSecretTTL = 0, isClientSecretRevoked = false,
          identityUAId = "e0000000-0000-4000-8000-000000000001",
          createdAt = iso(now - 3600), updatedAt = iso(now - 3600) }
        for k, v in pairs(over or {}) do r[k] = v end
        return r
      end
      local s = H.state()
      s.identities[H.ID3].client_secrets = { sec(1), sec(2, { clientSecretTTL = 60 }),
        sec(3, { clientSecretNumUses = 2, clientSecretNumUsesLimit = 2 }), sec(4, { clientSecretTTL = 86400 }) }
      srv:reset(s)
      local r = web:get("/identities/" .. H.ID3 .. "/client-secrets")
      assert.equal(200, r.status, r.body)
      assert.equal(H.ID3, r.json.identity_id)
      local got = {}
      for i, c in ipairs(r.json.client_secrets) do got[i] = c.id end
      assert.same({ sec(1).id, sec(4).id }, got)   -- expired and used-up ones left out
      assert.equal("MISS", r.headers["x-cache"])
      assert.equal("HIT", web:get("/identities/" .. H.ID3 .. "/client-secrets").headers["x-cache"])
      -- cached apart from the tokens: the tokens route of the same identity is its own answer
      local t = web:get("/identities/" .. H.ID3 .. "/tokens")
      assert.equal(400, t.status)
      assert.equal("MISS", t.headers["x-cache"])
      -- an identity without Universal Auth: the server's 400, as for the tokens route
      local n = web:get("/identities/" .. H.ID1 .. "/client-secrets")
      assert.equal(400, n.status)
      assert.equal("http", n.json.error)
      assert.matches("universal auth", n.json.message, 1, true)
      assert_no_token_in_log()
    end)

    it("serves an identity's active tokens as JSON", function()
      local id, now = fake.identity_id(50), os.time()
      local tokens = active_records(id, 3)
      local function add(over)
        local r = active_records(id, 1)[1]
        for k, v in pairs(over) do r[k] = v end
        tokens[#tokens + 1] = r
      end
      add{ isAccessTokenRevoked = true }
      add{ createdAt = iso(now - 40 * 86400) }                          -- TTL of 30 days passed
      add{ accessTokenNumUses = 10, accessTokenNumUsesLimit = 10 }       -- used up
      add{ authMethod = "universal-auth" }                               -- not listed by current servers
      srv:reset(H.state({ [id] = { tokens = tokens } }))

      local r = web:get("/identities/" .. id .. "/tokens")
      assert.equal(200, r.status, r.body)
      assert.equal("application/json", r.headers["content-type"])
      assert.equal(id, r.json.identity_id)
      local got = {}
      for i, t in ipairs(r.json.tokens) do got[i] = t.id; assert.equal(id, t.identityId) end
      assert.same({ tokens[1].id, tokens[2].id, tokens[3].id }, got)
      assert.equal("MISS", r.headers["x-cache"])
      local again = web:get("/identities/" .. id .. "/tokens")
      assert.equal("HIT", again.headers["x-cache"])
      assert.same(r.json, again.json)
      -- one token request; and, the first time the worker's client derives a status, the
      -- server's token rules (GET /api/status, no credentials)
      local token_reqs, status_reqs = 0, 0
      for _, q in ipairs(H.api_requests(srv)) do
        if q.path == "/api/status" then
          status_reqs = status_reqs + 1
          assert.is_nil(q.headers.authorization)
        else
          token_reqs = token_reqs + 1
        end
      end
      assert.equal(1, token_reqs)
      assert.is_true(status_reqs <= 1)
    end)

    it("passes every variable lua-infisical reads to nginx's workers (env lines)", function()
      -- nginx empties its workers' environment but for the variables `env` names
      local conf = assert(fake.read_file(ROOT .. "/examples/openresty/nginx.conf"))
      local src = assert(fake.read_file(ROOT .. "/lua/infisical/init.lua"))
      local names = {}
      for name in src:gmatch('getenv%("(INFISICAL_[%w_]+)"%)') do names[name] = true end
      for name in src:gmatch('nonempty_env%("(INFISICAL_[%w_]+)"%)') do names[name] = true end
      assert.is_not_nil(names.INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET)
      for name in pairs(names) do
        assert.matches("\nenv " .. name .. ";", conf, 1, true)
      end
    end)

    it("answers 400 for an id that is not a UUID, without calling Infisical", function()
      srv:reset(H.state({}))
      for _, bad in ipairs{ "abc", "a0000000-0000-4000-8000-00000000000g",
          "a0000000-0000-4000-8000-0000000000001", "--------" } do
        local r = web:get("/identities/" .. bad .. "/tokens")
        assert.equal(400, r.status, bad)
        assert.equal("bad_request", r.json and r.json.error)
      end
      assert.equal(0, #H.api_requests(srv))
    end)

    it("sends Retry-After with a 429, also from the cache", function()
      local id = fake.identity_id(920)
      srv:faults{ { status = 429, ["repeat"] = 5, headers = { ["Retry-After"] = "9" },
        body = { statusCode = 429, error = "TooManyRequests", message = "slow down" } } }
      local r = web:get("/identities/" .. id .. "/tokens")
      assert.equal(429, r.status, r.body)
      assert.equal("9", r.headers["retry-after"])
      local again = web:get("/identities/" .. id .. "/tokens")
      assert.same({ 429, "HIT" }, { again.status, again.headers["x-cache"] })
      local n = tonumber(again.headers["retry-after"])
      assert.is_true(n ~= nil and n >= 1 and n <= 9, tostring(again.headers["retry-after"]))
    end)

    it("logs a configuration error at ERR and does not show it to the caller", function()
      local id = fake.identity_id(921)
      -- a per-client CA file: refused in a request handler (nginx takes its own)
      local opts = fake.json.encode{ timeout = 5, ca_file = "/etc/secret-path/ca.pem" }
      assert.equal(200, web:get("/configure?opts=" .. opts:gsub("[^%w]", function(c)
        return ("%%%02X"):format(c:byte()) end)).status)
      local r = web:get("/identities/" .. id .. "/tokens")
      web:get("/configure")
      assert.equal(500, r.status, r.body)
      assert.equal("config", r.json and r.json.error)
      assert.not_matches("secret-path", r.body, 1, true)
      assert.not_matches("ca_file", r.body, 1, true)
      assert.matches("%[error%][^\n]*infisical: configuration: [^\n]*ca_file", web:error_log())
    end)

    it("turns Infisical's errors into HTTP errors without the token", function()
      local id = fake.identity_id(900)   -- unknown: Infisical says 404
      local r = web:get("/identities/" .. id .. "/tokens")
      assert.equal(404, r.status)
      assert.same({ "http", 404 }, { r.json.error, r.json.status })
      assert.matches("Failed to find identity", r.json.message)

      -- a server that echoes the bearer back, then fails over and over
      srv:faults{ { status = 500, ["repeat"] = 10, body = { statusCode = 500,
        error = "InternalServerError", message = "boom for Bearer " .. TOKEN } } }
      r = web:get("/identities/" .. fake.identity_id(901) .. "/tokens")
      assert.equal(502, r.status)
      assert.same({ "http", 500 }, { r.json.error, r.json.status })
      assert.is_nil(r.body:find(TOKEN, 1, true))
      assert.matches("[REDACTED]", r.json.message, 1, true)
      assert.matches("infisical: http error", web:error_log(), 1, true)
      assert_no_token_in_log()

      -- an identity this service's token may not read: 403, not "the API failed"
      srv:clear_faults()
      srv:faults{ { status = 403, body = { statusCode = 403, error = "PermissionDenied",
        message = "You are not allowed to read on identity" } } }
      r = web:get("/identities/" .. fake.identity_id(902) .. "/tokens")
      assert.equal(403, r.status)
      assert.same({ "permission", 403 }, { r.json.error, r.json.status })
      -- this service's own credentials refused: its problem (502), logged as an error
      srv:faults{ { status = 401, body = { statusCode = 401, error = "UnauthorizedError",
        message = "No identity access token found" } } }
      r = web:get("/identities/" .. fake.identity_id(903) .. "/tokens")
      assert.equal(502, r.status)
      assert.same({ "auth", 401 }, { r.json.error, r.json.status })
      assert.matches("%[error%][^\n]*infisical: auth error", web:error_log())
    end)

    it("keeps every piece of the token out of its answer, cache and log when it is echoed across the cut", function()
      -- issue 10 §9: with the token across the 512-byte cut of the message, all but its
      -- last byte went into the answer, into the cache for 5 s and into the error log.
      local function no_piece(where, text)
        local piece = H.secret_piece(text, TOKEN)
        assert.is_nil(piece, piece and (where .. " shows " .. piece))
      end
      local log_before = #web:error_log()
      for n, k in ipairs{ #TOKEN - 1, 9, 8 } do
        local pad = ("x"):rep(512 - k)
        srv:faults{ { status = 500, ["repeat"] = 10, body = { statusCode = 500, error = "InternalServerError",
          message = pad .. TOKEN .. " and more", reqId = pad .. TOKEN } } }
        local path = "/identities/" .. fake.identity_id(910 + n) .. "/tokens"
        local r = web:get(path)
        assert.equal(502, r.status)
        assert.equal("MISS", r.headers["x-cache"])
        no_piece("the answer", r.body)
        -- the cached answer (ERROR_TTL 5 s) is the same clean body
        local again = web:get(path)
        assert.equal("HIT", again.headers["x-cache"])
        no_piece("the cached answer", again.body)
        srv:clear_faults()
      end
      no_piece("the error log", web:error_log():sub(log_before + 1))
      assert.matches("infisical: http error", web:error_log():sub(log_before + 1), 1, true)
    end)

    it("does not block the worker: 20 requests of 1 s each finish together", function()
      srv:reset(H.state(many_identities(20, 100), { latency = 1.0 }))
      local paths = {}
      for i = 1, 20 do paths[i] = "/identities/" .. fake.identity_id(100 + i) .. "/tokens" end
      local res, seconds = concurrent(web.url, paths)
      for i = 1, 20 do
        assert.equal(200, res[i].status, res[i].body)
        assert.equal(3, #res[i].json.tokens)
      end
      assert.equal(20, #H.api_requests(srv))
      -- Serial (a blocking transport) would take 20 s; cosockets overlap all twenty.
      assert.is_true(seconds < 6, ("20 requests took %.2f s"):format(seconds))
      print(("# 20 concurrent 1-second requests through one nginx worker: %.2f s"):format(seconds))
    end)

    it("answers a burst for one identity with one API call", function()
      -- an identity no earlier test put in the cache
      local id = fake.identity_id(300)
      srv:reset(H.state({ [id] = { tokens = active_records(id, 3) } }, { latency = 0.5 }))
      local paths = {}
      for i = 1, 20 do paths[i] = "/identities/" .. id .. "/tokens" end
      local res = concurrent(web.url, paths)
      for i = 1, 20 do
        assert.equal(200, res[i].status, res[i].body)
        assert.equal(3, #res[i].json.tokens)
      end
      assert.equal(1, #H.api_requests(srv))
    end)

    it("reuses its connections to Infisical across requests", function()
      -- identities 101-120 may still be in the cache: 5 others
      srv:reset(H.state(many_identities(5, 200)))
      for i = 1, 5 do
        local r = web:get("/identities/" .. fake.identity_id(200 + i) .. "/tokens")
        assert.equal(200, r.status, r.body)
      end
      local reqs = H.api_requests(srv)
      assert.equal(5, #reqs)
      for i = 2, 5 do assert.equal(reqs[1].connection, reqs[i].connection) end
      assert.is_true(srv:stats().connections <= 1)
    end)
  end)

  describe("the example's resolver.sh", function()
    local function resolver_line(resolv_conf)
      local path = os.tmpname()
      nginx.write(path, resolv_conf)
      local out, rc = fake.run("sh " .. fake.shellquote(ROOT .. "/examples/openresty/resolver.sh")
        .. " " .. fake.shellquote(path) .. " 2>&1")
      os.remove(path)
      return out, rc
    end

    it("writes nginx's resolver line from the host's nameservers", function()
      assert.same({ "resolver 192.0.2.53 [2001:db8::53] ipv6=off valid=300s;", 0 },
        { resolver_line("# systemd\nsearch example.org\nnameserver 192.0.2.53\nnameserver 2001:db8::53\noptions edns0\n") })
      -- this host's own: the file nginx above runs with
      local host = {}
      for line in (fake.read_file("/etc/resolv.conf") or ""):gmatch("[^\n]+") do
        local ns = line:match("^nameserver%s+([%x.:]+)")
        if ns then host[#host + 1] = ns:find(":") and "[" .. ns .. "]" or ns end
      end
      local line = fake.run("sh " .. fake.shellquote(ROOT .. "/examples/openresty/resolver.sh"))
      assert.equal("resolver " .. table.concat(host, " ") .. " ipv6=off valid=300s;", line)
    end)

    it("fails, saying why, without a nameserver", function()
      local out, rc = resolver_line("search example.org\n")
      assert.equal(1, rc)
      assert.matches("no nameserver line", out, 1, true)
    end)
  end)

  it("loads in init_by_lua and lists there through libcurl, retrying with a blocking sleep", function()
    local r = web:get("/init")
    assert.equal(200, r.status, r.body)
    assert.same({ n = 4, transport = "curl", phase = "init" }, r.json)
  end)

  it("runs list_many's identities at once on light threads", function()
    srv:reset(H.state(many_identities(10, 400), { latency = 1.0 }))
    local r = web:get("/many?base=" .. srv.url)
    assert.equal(200, r.status, r.body)
    assert.same({ identities = 10, tokens = 30, errors = 0, transport = "cosocket" }, r.json)
    -- all ten requests reached the server before the first answer (1 s) came back
    local first, last
    for _, q in ipairs(H.api_requests(srv)) do
      first, last = math.min(first or q.time, q.time), math.max(last or q.time, q.time)
    end
    assert.equal(10, #H.api_requests(srv))
    assert.is_true(last - first < 0.9, ("requests spread over %.2f s"):format(last - first))
  end)

  it("uses cosockets from an ngx.timer callback", function()
    local r = web:get("/timer?base=" .. srv.url)
    assert.equal(200, r.status, r.body)
    assert.same({ done = true, n = 2, transport = "cosocket", phase = "timer" }, r.json)
  end)

  describe("TLS through cosockets", function()
    local function run(path, server, verify)
      local r = web:get(("%s?case=one_page&transport=cosocket&base=%s&verify=%s"):format(path, server.url, verify))
      assert.equal(200, r.status, r.body)
      assert.is_true(r.json.ok, r.json.result)
      return r.json.result
    end

    it("verifies the server against lua_ssl_trusted_certificate", function()
      cases.one_page.check(run("/case", tls_srv, 1))
    end)

    it("refuses a server signed by another CA with a tls error", function()
      local res = run("/case_untrusted", tls_srv2, 1)
      assert.equal("tls", res.err.kind)
      assert.matches("TLS handshake with 127.0.0.1:%d+: ", res.err.message)
      assert.equal(0, #H.api_requests(tls_srv2))
    end)

    it("talks to it all the same with verify_tls = false", function()
      cases.one_page.check(run("/case_untrusted", tls_srv2, 0))
    end)
  end)

  -- Every behaviour case: here through libcurl, in nginx through cosockets (picked
  -- automatically and forced) and through libcurl (forced).
  describe("behaviour cases", function()
    for _, c in ipairs(cases.list) do
      it(c.name .. " (libcurl, plain Lua)", function()
        if c.setup then c.setup(srv) end
        c.check(c.run(require "infisical", { base = srv.url, transport = "curl" }), srv, "lua", "curl")
      end)
      if c.auto then
        it(c.name .. " (auto, plain Lua)", function()
          if c.setup then c.setup(srv) end
          c.check(c.run(require "infisical", { base = srv.url }), srv, "lua", "auto")
        end)
      end
      -- "auto" (the transport picked in a handler) only where the case is about picking
      -- or waiting; the forced cosocket runs cover the rest of the same code.
      for _, transport in ipairs(c.auto and { "auto", "cosocket", "curl" } or { "cosocket", "curl" }) do
        it(("%s (%s, in nginx)"):format(c.name, transport), function()
          if c.setup then c.setup(srv) end
          local r = web:get(("/case?case=%s&transport=%s&base=%s"):format(c.name, transport, srv.url))
          assert.equal(200, r.status, r.body)
          assert.is_true(r.json.ok, tostring(r.json.result))
          c.check(r.json.result, srv, "nginx", transport)
        end)
      end
    end
    it("never wrote the token to nginx's error log", assert_no_token_in_log)
  end)
end)
