-- `make dist` writes a source rock that installs on its own: into a fresh tree, from a
-- folder away from the checkout, with the one LuaRocks setup the docs give for Debian's
-- lua-cjson, and what it installed (the module and the command) works.
local H = require "spec.helpers"
local fake = H.fake
local run, q = fake.run, fake.shellquote

local ROOT = (run("pwd"))
local VERSION = assert(fake.read_file("lua/infisical/init.lua"):match('_VERSION = "([%d%.]+)"'))
local NAME = "lua-infisical-" .. VERSION
local ROCK = ROOT .. "/dist/" .. NAME .. "-1.src.rock"

-- The docs' lines that declare Debian's lua-cjson to LuaRocks, by Lua version.
local function config_lines()
  local lines = {}
  local files = { "README.md" }
  for f in (run("ls docs/*.md 2>/dev/null")):gmatch("[^\n]+") do files[#files + 1] = f end
  for _, f in ipairs(files) do
    for line in (fake.read_file(f) or ""):gmatch("[^\n]+") do
      local v = line:match("^mkdir %-p ~/%.luarocks && luarocks %-%-lua%-version=(%d%.%d) config rocks_provided%.lua%-cjson ")
      if v then lines[v] = line:gsub("%s+#.*$", "") end
    end
  end
  return lines
end

local function mktemp() return (assert(run("mktemp -d"))) end

describe("make dist", function()
  local out, rc, home, away
  setup(function()
    out, rc = run("make -s dist 2>&1")
    home, away = mktemp(), mktemp()
  end)
  teardown(function() run("rm -rf " .. q(home) .. " " .. q(away)) end)

  local function luarocks(home_dir, args)
    return run(("cd %s && env HOME=%s luarocks %s 2>&1"):format(q(away), q(home_dir), args))
  end

  it("writes the tarball, the release rockspec and the source rock", function()
    assert.equal(0, rc, out)
    for _, f in ipairs{ NAME .. ".tar.gz", NAME .. "-1.rockspec", NAME .. "-1.src.rock" } do
      assert.is_truthy(fake.read_file("dist/" .. f), "dist/" .. f .. " missing")
    end
    local spec = fake.read_file("dist/" .. NAME .. "-1.rockspec")
    assert.matches('version = "' .. VERSION:gsub("%.", "%%.") .. '%-1"', spec)
    assert.matches('url = "' .. NAME:gsub("[%.%-]", "%%%0") .. '%.tar%.gz"', spec)
    -- the rock holds exactly the rockspec and the tarball, as `luarocks pack` makes it
    local list = run("unzip -Z1 " .. q(ROCK))
    assert.same({ NAME .. "-1.rockspec", NAME .. ".tar.gz" }, (function()
      local t = {}
      for l in list:gmatch("[^\n]+") do t[#t + 1] = l end
      table.sort(t)
      return t
    end)())
  end)

  it("the docs give one LuaRocks setup for Debian's lua-cjson, for Lua 5.4 and 5.1", function()
    local lines = config_lines()
    assert.is_string(lines["5.4"], "no `luarocks --lua-version=5.4 config rocks_provided.lua-cjson` line in README.md or docs/")
    assert.is_string(lines["5.1"], "no `luarocks --lua-version=5.1 config rocks_provided.lua-cjson` line in docs/")
  end)

  it("without that setup LuaRocks stops at lua-cjson (why the docs give it)", function()
    local bare = mktemp()
    local o, code = luarocks(bare, "--lua-version=5.4 install --tree=" .. q(mktemp()) .. " " .. q(ROCK))
    run("rm -rf " .. q(bare))
    assert.is_not.equal(0, code)
    assert.matches("lua%-cjson", o)
  end)

  describe("installed into a fresh tree, away from the checkout", function()
    local tree, srv
    setup(function()
      tree = mktemp()
      srv = fake.start{ fixture = H.FIXTURE }
    end)
    teardown(function()
      srv:stop()
      run("rm -rf " .. q(tree))
    end)

    local function installed(cmd, env)
      local e = {}
      for k, v in pairs(env or {}) do e[#e + 1] = k .. "=" .. q(v) end
      return run(("cd %s && env -u INFISICAL_TOKEN -u INFISICAL_API_URL -u LUA_PATH -u LUA_CPATH %s %s 2>&1")
        :format(q(away), table.concat(e, " "), cmd))
    end

    it("luarocks --lua-version=5.4 install FILE.src.rock builds and installs it", function()
      local o, code = run(("cd %s && env HOME=%s sh -c %s 2>&1"):format(q(away), q(home), q(config_lines()["5.4"])))
      assert.equal(0, code, o)
      o, code = luarocks(home, "--lua-version=5.4 install --tree=" .. q(tree) .. " " .. q(ROCK))
      assert.equal(0, code, o)
      assert.matches("lua-infisical " .. VERSION .. "-1 is now installed", o, 1, true)
      assert.is_truthy(fake.read_file(tree .. "/lib/lua/5.4/infisical/core.so"))
      assert.is_truthy(fake.read_file(tree .. "/bin/infisical-tokens"))
    end)

    it("the rock carries docs/, every guide the README links to (luarocks doc) (issue 20 §3)", function()
      local dir = tree .. "/lib/luarocks/rocks-5.4/lua-infisical/" .. VERSION .. "-1"
      local links = 0
      for target in assert(fake.read_file("README.md")):gmatch("%]%((docs/[%w_%-]+%.md)[#%)]") do
        links = links + 1
        assert.equal(fake.read_file(target), fake.read_file(dir .. "/" .. target), target .. " not in the rock")
      end
      assert.is_true(links >= 3)
      -- the README's line for a --tree install: luarocks path, then the module loads
      local o, code = installed("sh -c " .. q(('eval "$(luarocks --lua-version=5.4 path --tree=%s)" && lua5.4 -e %s')
        :format(q(tree), q('io.write(package.searchpath("infisical", package.path))'))))
      assert.equal(0, code, o)
      assert.matches(tree, o, 1, true)
    end)

    it("the installed module lists tokens, loaded from the tree only", function()
      local script = ([[
        local infisical = require "infisical"
        assert(package.searchpath("infisical", package.path):find(%q, 1, true))
        assert(package.searchpath("infisical.core", package.cpath):find(%q, 1, true))
        local client = assert(infisical.new())
        local tokens = assert(client:all_tokens(%q))
        io.write(infisical._VERSION, " ", #tokens)
      ]]):format(tree, tree, H.ID1)
      local o, code = installed("lua5.4 -e " .. q(script), {
        LUA_PATH = tree .. "/share/lua/5.4/?.lua;" .. tree .. "/share/lua/5.4/?/init.lua;;",
        LUA_CPATH = tree .. "/lib/lua/5.4/?.so;;",
        INFISICAL_API_URL = srv.url, INFISICAL_TOKEN = H.TOKEN,
      })
      assert.equal(0, code, o)
      local n = #assert(H.client(srv):all_tokens(H.ID1))
      assert.equal(VERSION .. " " .. n, o)
    end)

    it("the installed infisical-tokens answers --help and lists from the server", function()
      local o, code = installed(q(tree .. "/bin/infisical-tokens") .. " --help")
      assert.equal(0, code, o)
      assert.matches("Usage: infisical%-tokens", o)
      o, code = installed(q(tree .. "/bin/infisical-tokens") .. " --version")
      assert.equal(0, code, o)
      assert.matches(VERSION, o, 1, true)
      o, code = installed(q(tree .. "/bin/infisical-tokens") .. " list " .. H.ID1 .. " --format csv",
        { INFISICAL_API_URL = srv.url, INFISICAL_TOKEN = H.TOKEN })
      assert.equal(0, code, o)
      local rows = 0
      for line in o:gmatch("[^\n]+") do
        if line:find(H.ID1, 1, true) == 1 then rows = rows + 1 end
      end
      assert.equal(#assert(H.client(srv):all_tokens(H.ID1)), rows)
      assert.not_matches(H.TOKEN, o, 1, true)
    end)

    it("the docs' LuaJIT line: --lua-version=5.1 against LuaJIT's headers, loads in luajit", function()
      local tree51 = mktemp()
      local o, code = run(("cd %s && env HOME=%s sh -c %s 2>&1"):format(q(away), q(home), q(config_lines()["5.1"])))
      assert.equal(0, code, o)
      o, code = luarocks(home, "--lua-version=5.1 install --tree=" .. q(tree51) .. " " .. q(ROCK)
        .. " LUA_INCDIR=/usr/include/luajit-2.1")
      assert.equal(0, code, o)
      o, code = installed("luajit -e " .. q(([[
        local infisical = require "infisical"
        assert(package.searchpath("infisical.core", package.cpath):find(%q, 1, true))
        local client = assert(infisical.new())
        io.write(#assert(client:all_tokens(%q)))
      ]]):format(tree51, H.ID1)), {
        LUA_PATH = tree51 .. "/share/lua/5.1/?.lua;" .. tree51 .. "/share/lua/5.1/?/init.lua;;",
        LUA_CPATH = tree51 .. "/lib/lua/5.1/?.so;;",
        INFISICAL_API_URL = srv.url, INFISICAL_TOKEN = H.TOKEN,
      })
      run("rm -rf " .. q(tree51))
      assert.equal(0, code, o)
      assert.equal(tostring(#assert(H.client(srv):all_tokens(H.ID1))), o)
    end)
  end)
end)

describe("the rockspec", function()
  it("installs every Lua module of lua/ (a module left out fails only once installed)", function()
    local spec = assert(fake.read_file("lua-infisical-scm-1.rockspec"))
    local files = run("cd lua && find infisical resty -name '*.lua' | sort")
    local missing = {}
    for f in files:gmatch("[^\n]+") do
      local mod = f:gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
      if not spec:find(('["%s"] = "lua/%s"'):format(mod, f), 1, true) then missing[#missing + 1] = f end
    end
    assert.same({}, missing)
  end)
end)
