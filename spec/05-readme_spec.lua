-- Every ```lua block of README.md and docs/*.md runs against the fake server, so the docs
-- stay true. The README's first example runs as written: as a script, on Lua 5.4 and on
-- LuaJIT, with nothing but the environment it names.
local H = require "spec.helpers"
local fake = H.fake
local q = fake.shellquote

local function lua_blocks(path)
  local text = assert(fake.read_file(path))
  local blocks = {}
  for code in text:gmatch("```lua\n(.-)\n```") do blocks[#blocks + 1] = code end
  return blocks
end

local function doc_files()
  local files = { "README.md" }
  for f in (fake.run("ls docs/*.md")):gmatch("[^\n]+") do files[#files + 1] = f end
  return files
end

describe("README.md's first example, as a script", function()
  local srv, script
  setup(function()
    srv = fake.start{ fixture = H.FIXTURE }
    script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write(lua_blocks("README.md")[1])
    f:close()
  end)
  teardown(function()
    srv:stop()
    os.remove(script)
  end)

  -- runs the script with only the variables given (none of the caller's INFISICAL_*)
  local function run(lua, cpath, env)
    local e = {}
    for k, v in pairs(env) do e[#e + 1] = k .. "=" .. q(v) end
    return fake.run(("env -u INFISICAL_TOKEN -u INFISICAL_API_URL -u INFISICAL_IDENTITY_ID "
      .. "-u INFISICAL_UNIVERSAL_AUTH_CLIENT_ID -u INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET "
      .. "LUA_PATH='./lua/?.lua;./lua/?/init.lua;;' LUA_CPATH=%s %s %s %s 2>&1")
      :format(q(cpath), table.concat(e, " "), lua, q(script)))
  end

  local function lists_every_token(lua, cpath)
    local out, rc = run(lua, cpath, { INFISICAL_API_URL = srv.url, INFISICAL_TOKEN = H.TOKEN,
      INFISICAL_IDENTITY_ID = H.ID1 })
    assert.equal(0, rc, out)
    local tokens = assert(H.client(srv):all_tokens(H.ID1))
    local infisical = require "infisical"
    for _, t in ipairs(tokens) do
      assert.matches(t.id:gsub("%-", "%%-") .. "\t[^\t]+\t" .. infisical.token_status(t) .. "\t", out)
    end
    assert.matches("\n" .. #tokens .. " tokens$", out)
  end

  it("lists every token with its status on Lua 5.4", function()
    lists_every_token("lua5.4", "./build/lua5.4/?.so;;")
  end)

  it("lists every token with its status on LuaJIT (no math.type there)", function()
    local out, rc = fake.run("make -s luajit 2>&1")
    assert.equal(0, rc, out)
    lists_every_token("luajit", "./build/luajit/?.so;;")
  end)

  it("says when the server lists only 200 of an identity's tokens", function()
    local out, rc = run("lua5.4", "./build/lua5.4/?.so;;", { INFISICAL_API_URL = srv.url,
      INFISICAL_TOKEN = H.TOKEN, INFISICAL_IDENTITY_ID = H.ID2 })
    assert.equal(0, rc, out)
    assert.matches("\n200 tokens %(more exist", out)
  end)

  for _, case in ipairs{
    { "no INFISICAL_TOKEN", {}, "INFISICAL_TOKEN" },
    { "an empty INFISICAL_TOKEN", { INFISICAL_TOKEN = "" }, "INFISICAL_TOKEN" },
    { "no INFISICAL_IDENTITY_ID", { INFISICAL_TOKEN = H.TOKEN }, "set INFISICAL_IDENTITY_ID" },
  } do
    it("with " .. case[1] .. ": a message and status 2, not a traceback", function()
      local env = { INFISICAL_API_URL = srv.url }
      for k, v in pairs(case[2]) do env[k] = v end
      local out, rc = run("lua5.4", "./build/lua5.4/?.so;;", env)
      assert.equal(2, rc, out)
      assert.matches(case[3], out, 1, true)
      assert.not_matches("traceback", out, 1, true)
    end)
  end

  it("an unknown identity: the server's message and status 1", function()
    local out, rc = run("lua5.4", "./build/lua5.4/?.so;;", { INFISICAL_API_URL = srv.url,
      INFISICAL_TOKEN = H.TOKEN, INFISICAL_IDENTITY_ID = H.ID3 })
    assert.equal(1, rc, out)
    assert.matches("HTTP 400", out, 1, true)
    assert.not_matches(H.TOKEN, out, 1, true)
  end)
end)

for _, path in ipairs(doc_files()) do
  describe(path, function()
    local srv
    setup(function() srv = H.fake.start{ fixture = H.FIXTURE } end)
    teardown(function() srv:stop() end)

    local blocks = lua_blocks(path)
    if path == "README.md" then
      it("has Lua examples", function()
        assert.is_true(#blocks >= 1)
      end)
    end

    for i, code in ipairs(blocks) do
      -- the README's first example runs as a script (above): it calls os.exit
      if not (path == "README.md" and i == 1) then
        it("example " .. i .. " runs", function()
          -- the examples' data is a late-2024 server's, which records use (api.md says
          -- which examples need that)
          srv:reset(H.state(nil, { mode = "legacy" }))
          local env = { INFISICAL_API_URL = srv.url .. "/api", INFISICAL_TOKEN = H.TOKEN,
            INFISICAL_IDENTITY_ID = H.ID1 }
          local client = H.client(srv)
          local sandbox = setmetatable({
            identity_id = H.ID1,
            id = H.ID1,                                   -- the names the short examples use
            client = client,
            infisical = require "infisical",
            t = assert(client:list_tokens(H.ID1, { page_size = 1 })).tokens[1],
            print = function() end,
            os = setmetatable({ getenv = function(k) return env[k] end }, { __index = os }),
          }, { __index = _G })
          local chunk = assert(load(code, path .. " example " .. i, "t", sandbox))
          local before = #H.api_requests(srv)
          chunk()
          assert.is_true(#H.api_requests(srv) > before, "the example made no API call")
        end)
      end
    end
  end)
end
