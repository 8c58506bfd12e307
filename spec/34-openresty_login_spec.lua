-- The Universal Auth login shared by the light threads of an nginx worker (issue 18 §1),
-- inside a real nginx: a request that ends while its login is on its way must neither
-- crash the worker (the login lived in that request's coroutine, and a waiting request
-- read it after nginx freed it: SIGSEGV) nor wedge the other requests (a client abort);
-- a login answered 429 must not let a second login through.
local fake = require "spec.fake_client"
local H = require "spec.helpers"
local nginx = require "spec.openresty.nginx"

local ROOT = nginx.ROOT
local LOGIN = "/api/v1/auth/universal-auth/login"

-- Per-worker clients (one per `round`, so each round logs in afresh), as an application
-- keeps one client per worker.
local CONF = nginx.main_context("%PREFIX%") .. [[
env INFISICAL_API_URL;
events { worker_connections 256; }
http {
]] .. nginx.temp_paths("%PREFIX%") .. [[
    access_log off;
    lua_package_path "%ROOT%/lua/?.lua;%ROOT%/lua/?/init.lua;%ROOT%/?.lua;;";
    lua_package_cpath "%ROOT%/build/luajit/?.so;;";
    init_by_lua_block {
        local infisical = require "infisical"
        local clients = {}
        function _G.round_client()
            local key = ngx.var.arg_round
            local c = clients[key]
            if not c then
                c = assert(infisical.new{ base_url = ngx.var.arg_base, client_id = "fake-client-id",
                    client_secret = "fake-client-secret", retries = 0, timeout = tonumber(ngx.var.arg_timeout) or 10,
                    backoff = 0.01 })
                clients[key] = c
            end
            return c
        end
        -- init_by_lua: no timer, no light thread: the login is made right here (libcurl)
        do
            local c = assert(infisical.new{ base_url = os.getenv("INFISICAL_API_URL"),
                client_id = "fake-client-id", client_secret = "fake-client-secret" })
            local page, err = c:list_tokens("]] .. H.ID1 .. [[", { page_size = 1 })
            package.loaded.init_login = { n = page and #page.tokens, err = err and tostring(err),
                transport = c:info().transport }
            c:close()
        end
        function _G.list_once()
            local page, err = round_client():list_tokens("]] .. H.ID1 .. [[", { page_size = 2 })
            return { n = page and #page.tokens, err = err and tostring(err) }
        end
    }
    server {
        listen 127.0.0.1:%PORT%;
        location = / { return 204; }
        location = /pid { content_by_lua_block { ngx.say(ngx.worker.pid()) } }
        location = /init { content_by_lua_block { ngx.say(require("cjson").encode(package.loaded.init_login)) } }
        # A: starts the login in a light thread and ends the request 0.3 s later
        location = /a { content_by_lua_block {
            ngx.thread.spawn(list_once)
            ngx.sleep(0.3)
            ngx.exit(200)
        } }
        # the login in the request's own thread; the client goes away (curl --max-time)
        location = /abort {
            lua_check_client_abort on;
            content_by_lua_block { ngx.say(require("cjson").encode(list_once())) }
        }
        location = /b { content_by_lua_block { ngx.say(require("cjson").encode(list_once())) } }
    }
}
]]

describe("OpenResty: the login shared by a worker's requests", function()
  local srv, web

  setup(function()
    local out, rc = fake.run("cd " .. fake.shellquote(ROOT) .. " && make -s luajit 2>&1")
    assert(rc == 0, "make luajit failed: " .. out)
    srv = fake.start{ fixture = H.FIXTURE }
    web = nginx.start{ conf = CONF, env = { INFISICAL_API_URL = srv.url } }
  end)

  local pids = {}   -- the worker pids seen: a worker wedged in a loop ignores the stop

  teardown(function()
    if web then web:stop() end
    for pid in pairs(pids) do
      local cmd = fake.read_file("/proc/" .. pid .. "/cmdline") or ""
      if cmd:find("nginx: worker", 1, true) then os.execute("kill -9 " .. pid .. " 2>/dev/null") end
    end
    if srv then srv:stop() end
  end)

  before_each(function()
    srv:reset_fixture(H.FIXTURE)
    srv:clear_faults()
  end)

  local function login_statuses()
    local t = {}
    for _, r in ipairs(H.api_requests(srv)) do
      if r.path == LOGIN then t[#t + 1] = r.status end
    end
    return t
  end

  -- Runs shell lines at once (each a background curl) and waits for all; -> outputs.
  local function at_once(lines)
    local dir = fake.run("mktemp -d /tmp/lua-infisical-login.XXXXXX")
    local script = {}
    for i, l in ipairs(lines) do
      script[#script + 1] = ("( %s ) > %s/%d.out 2>/dev/null &"):format(l, dir, i)
    end
    script[#script + 1] = "wait"
    fake.run("{ " .. table.concat(script, "\n") .. "\n}")
    local outs = {}
    for i = 1, #lines do outs[i] = fake.read_file(dir .. "/" .. i .. ".out") or "" end
    os.execute("rm -rf " .. fake.shellquote(dir))
    return outs
  end

  local function url(path, round, extra)
    return fake.shellquote(("%s%s?round=%s&base=%s%s"):format(web.url, path, round, srv.url, extra or ""))
  end

  local function worker_pid()
    local r = web:get("/pid")
    assert.equal(200, r.status, r.body)
    pids[tonumber(r.body)] = true
    return r.body
  end

  local function assert_no_worker_died(pid)
    local log = web:error_log()
    assert.is_nil(log:find("exited on signal", 1, true), "a worker died:\n" .. log:sub(-2000))
    assert.equal(pid, worker_pid(), "the worker was replaced")
  end

  it("logs in where no timer can run (init_by_lua): the caller's own blocking login", function()
    local r = web:get("/init")
    assert.equal(200, r.status, r.body)
    assert.same({ n = 1, transport = "curl" }, r.json)
  end)

  it("a request that ends while its login is held never kills the worker (many rounds)", function()
    local pid = worker_pid()
    -- every login is held 2 s; A ends 0.3 s in, B waits for A's login
    srv:faults{ { match = "login", delay = 2, then_normal = true, ["repeat"] = 1000 } }
    local rounds, batch = tonumber(os.getenv("LOGIN_ROUNDS")) or 32, 4
    for first = 1, rounds, batch do
      local lines = {}
      for r = first, first + batch - 1 do
        lines[#lines + 1] = "curl -s --max-time 20 " .. url("/a", r)
        lines[#lines + 1] = "sleep 0.1; curl -s --max-time 20 " .. url("/b", r)
      end
      -- other requests meanwhile: they reuse the memory nginx freed with request A (the
      -- old code read A's freed coroutine state, garbage once reused: SIGSEGV)
      local pad = {}
      for h = 1, 8 do pad[h] = ("-H 'X-Pad-%d: %s'"):format(h, ("x"):rep(400)) end
      lines[#lines + 1] = ("sleep 0.35; for i in $(seq 30); do curl -s -o /dev/null %s %s/pid?pad=%s; done")
        :format(table.concat(pad, " "), web.url, ("x"):rep(1000))
      local outs = at_once(lines)
      for i = 2, 2 * batch, 2 do
        local ok, res = pcall(fake.json.decode, outs[i])
        -- the old code's worker died (SIGSEGV) or spun forever reading freed state
        assert.is_true(ok, "request B got no answer (worker crashed or wedged): " .. outs[i])
        assert.equal(2, res.n, res.err)
      end
    end
    assert_no_worker_died(pid)
    -- one login per round: B waited for A's, which went on after A's request ended
    assert.equal(rounds, #login_statuses())
  end)

  it("a login whose client went away does not wedge the others: they share it", function()
    local pid = worker_pid()
    srv:faults{ { match = "login", delay = 2, then_normal = true, ["repeat"] = 5 } }
    local outs = at_once{
      "curl -s --max-time 0.3 " .. url("/abort", "abort"),
      "sleep 0.6; curl -s --max-time 30 " .. url("/b", "abort"),
    }
    local res = fake.json.decode(outs[2])
    assert.equal(2, res.n, res.err)
    -- the aborted request's login served B; with the old code B waited out the dead
    -- login's whole deadline (10 s), then logged in itself
    assert.same({ 200 }, login_statuses())
    assert_no_worker_died(pid)
  end)

  it("a login answered 429 lets no second login through", function()
    local pid = worker_pid()
    srv:faults{ { match = "login", status = 429, headers = { ["retry-after"] = "3" },
      body = { statusCode = 429, error = "RateLimitExceeded",
        message = "Rate limit exceeded. Please try again in 3 seconds" } } }
    -- timeout 2: the old code's waiters gave up after (retries + 1) * timeout = 2 s
    local outs = at_once{
      "curl -s --max-time 30 " .. url("/b", "429", "&timeout=2"),
      "sleep 0.3; curl -s --max-time 30 " .. url("/b", "429", "&timeout=2"),
    }
    for i = 1, 2 do
      local res = fake.json.decode(outs[i])
      assert.equal(2, res.n, res.err)
    end
    assert.same({ 429, 200 }, login_statuses())
    assert_no_worker_died(pid)
  end)
end)
