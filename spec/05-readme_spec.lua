-- Every ```lua block of README.md runs against the fake server, so the README stays true.
local H = require "spec.helpers"

local function lua_blocks(path)
  local text = assert(io.open(path)):read("*a")
  local blocks = {}
  for code in text:gmatch("```lua\n(.-)\n```") do blocks[#blocks + 1] = code end
  return blocks
end

describe("README.md", function()
  local srv
  setup(function() srv = H.fake.start{ fixture = H.FIXTURE } end)
  teardown(function() srv:stop() end)

  local blocks = lua_blocks("README.md")

  it("has Lua examples", function()
    assert.is_true(#blocks >= 1)
  end)

  for i, code in ipairs(blocks) do
    it("example " .. i .. " runs", function()
      srv:reset(H.state())
      local env = { INFISICAL_API_URL = srv.url .. "/api", INFISICAL_TOKEN = H.TOKEN,
        INFISICAL_IDENTITY_ID = H.ID1 }
      local client = H.client(srv)
      local sandbox = setmetatable({
        identity_id = H.ID1,
        id = H.ID1,                                   -- the names the short examples use
        client = client,
        infisical = require "infisical",
        t = assert(client:list_tokens(H.ID1, { limit = 1 })).tokens[1],
        print = function() end,
        os = setmetatable({ getenv = function(k) return env[k] end }, { __index = os }),
      }, { __index = _G })
      local chunk = assert(load(code, "README example " .. i, "t", sandbox))
      local before = #H.api_requests(srv)
      chunk()
      assert.is_true(#H.api_requests(srv) > before, "the example made no API call")
    end)
  end
end)
