-- lua-infisical inside nginx (LuaJIT, cosockets, light threads) against the real backend:
-- listing, the wall, list_many, error kinds, and Universal Auth recovery on the cosocket
-- transport (spec/live/resty_cases.lua runs the scenarios in the worker).
local L = require "spec.live.live"
local nginx = require "spec.openresty.nginx"

local ids = L.ids

local function conf(prefix_env)
  -- the first line names our backend: spec/live/run.sh stops this nginx by it if we die
  return "# live suite: " .. L.base .. "\n" .. nginx.main_context("%PREFIX%") .. prefix_env .. [[
events { worker_connections 256; }
http {
    access_log off;
]] .. nginx.temp_paths("%PREFIX%") .. [[
    lua_package_path "%ROOT%/lua/?.lua;%ROOT%/lua/?/init.lua;%ROOT%/?.lua;;";
    lua_package_cpath "%ROOT%/build/luajit/?.so;;";
    server {
        listen 127.0.0.1:%PORT%;
        location = / { return 204; }
        location = /case { content_by_lua_block { require("spec.live.resty_cases").serve() } }
    }
}
]]
end

describe("live: in nginx (cosocket transport)", function()
  local web

  setup(function()
    local out, rc = L.run("cd " .. L.shq(nginx.ROOT) .. " && make -s luajit 2>&1")
    assert(rc == 0, "make luajit failed: " .. out)
    local env = {
      LIVE_BASE = L.base, LIVE_ADMIN = L.tokens.admin, LIVE_NP = L.tokens.np,
      LIVE_REVOKED = L.tokens.admin_revoked,
      LIVE_UA_ID = L.ua.ua.client_id, LIVE_UA_SECRET = L.ua.ua.client_secret,
      LIVE_UA_MANY_ID = L.ua.ua_many.client_id, LIVE_UA_MANY_SECRET = L.ua.ua_many.client_secret,
    }
    local lines = {}
    for k in pairs(env) do lines[#lines + 1] = "env " .. k .. ";" end
    web = nginx.start{ conf = conf(table.concat(lines, "\n") .. "\n"), env = env }
  end)
  teardown(function() if web then web:stop() end end)
  before_each(function() L.reset_rate_limit() end)

  local function case(name)
    local q = ("/case?name=%s&page=%s&mid=%s&wall=%s&noauth=%s&shortmax=%s"):format(name, ids.page,
      ids.mid, ids.wall, ids.noauth, ids.shortmax)
    local res = web:get(q, { timeout = 60 })
    assert.equal(200, res.status, res.body .. web:error_log())
    assert.is_nil(res.json.raised, res.json.raised)
    return res.json
  end

  it("lists a page, meets the wall, and runs list_many on light threads", function()
    local r = case("listing")
    assert.equal("cosocket", r.transport)
    assert.equal(30, r.page)
    assert.equal("truncated", r.wall_kind)
    assert.equal(200, r.wall_n)
    assert.equal(30, r.many_page)
    assert.equal(150, r.many_mid)
    assert.equal(400, r.many_noauth_status)
  end)

  it("reports the same error kinds", function()
    local r = case("errors")
    assert.equal("permission", r.np_kind)
    assert.equal(403, r.np_status)
    assert.equal("auth", r.revoked_kind)
    assert.equal(401, r.revoked_status)
    assert.equal(500, r.findone_status)
    assert.matches("malformed", r.findone_text)
  end)

  it("Universal Auth: a refused token is replaced by one login, calls and the walk go on", function()
    local before = L.ua_logins("ua")
    local r = case("ua")
    assert.equal("cosocket", r.transport)
    assert.equal(5, r.ok, r.err)
    assert.equal(150, r.walk, r.walk_err)
    -- 5 calls: logins A, B (call 3), C (call 5); the walk: page 2 refused, login D
    assert.equal(before + 4, L.ua_logins("ua"))
    assert.is_nil(web:error_log():find(L.ua.ua.client_secret, 1, true))
  end)

  it("Universal Auth: list_many's requests in flight are refused together, one login", function()
    local before = L.ua_logins("ua_many")
    local r = case("ua_many")
    assert.equal(2, r.ok)
    assert.equal(30, r.page, require("cjson").encode(r.errors))
    assert.equal(2, r.shortmax)
    assert.equal(before + 2, L.ua_logins("ua_many"))   -- the first login and one more
  end)
end)
