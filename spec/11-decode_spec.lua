-- src/jsondec.c, the decoder behind core.decode/parse/parse_tokens: the same values
-- lua-cjson gives once made native (null -> absent, whole numbers -> integers), for
-- recorded pages and for generated documents; and the refusals.
local core = require "infisical.core"
local cjson = require("cjson").new()

-- A whole number past 2^53 as cjson gives it (a double): the decoder reads the digits
-- exactly instead, so the integer it gives only rounds to the same double.
local WHOLE_PAST_2_53 = {}

--- What the decoder promises: cjson's value with nulls dropped and whole numbers as integers.
local function native(v)
  if v == cjson.null then return nil end
  if type(v) == "number" and math.type and math.type(v) == "float" and v == math.floor(v)
      and v >= math.mininteger and v < -(math.mininteger + 0.0) then
    if math.abs(v) >= 2 ^ 53 then return setmetatable({ v = v }, WHOLE_PAST_2_53) end
    return math.tointeger(v)
  end
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = native(x) end
  return out
end

--- Deep equality that also tells integers from floats.
local function same(a, b, path)
  path = path or "$"
  if getmetatable(a) == WHOLE_PAST_2_53 then
    if math.type(b) == "integer" and b + 0.0 == a.v then return true end
    return false, path .. ": " .. tostring(a.v) .. " vs " .. tostring(b)
  end
  if type(a) ~= type(b) then return false, path .. ": " .. type(a) .. " vs " .. type(b) end
  if type(a) == "number" and math.type and math.type(a) ~= math.type(b) then
    return false, path .. ": " .. math.type(a) .. " vs " .. math.type(b)
  end
  if type(a) ~= "table" then
    if a == b then return true end
    return false, path .. ": " .. tostring(a) .. " vs " .. tostring(b)
  end
  for k, v in pairs(a) do
    local ok, why = same(v, b[k], path .. "." .. tostring(k))
    if not ok then return false, why end
  end
  for k in pairs(b) do
    if a[k] == nil then return false, path .. "." .. tostring(k) .. " missing" end
  end
  return true
end

local function check(text)
  local want = native(cjson.decode(text))
  local got, err = core.decode(text)
  assert(err == nil, err)
  local ok, why = same(want, got)
  assert(ok, why)
end

local function read(path) return (assert(require("spec.fake_client").read_file(path), path)) end

describe("infisical.core JSON decoding", function()
  it("gives what cjson gives, made native, for recorded pages", function()
    for _, p in ipairs{ "bench/fixtures/page100.json", "bench/fixtures/page50.json" } do
      check(read(p))
      local page = assert(core.parse_tokens(200, read(p), {}))
      assert.equal(p:find("100") and 100 or 50, #page.tokens)
      assert.is_nil(page.tokens[1].accessTokenLastRenewedAt)
      if math.type then assert.equal("integer", math.type(page.tokens[1].accessTokenTTL)) end
    end
    check(cjson.encode(cjson.decode(read("spec/fixtures/sample.json"))))
  end)

  it("gives what cjson gives for generated documents", function()
    math.randomseed(20261129)
    local words = { "", "a", "tok\"en", "back\\slash", "line\nfeed", "tab\t", "ünïcødé", "€",
      "\u{1F600}", "/slash/", "ctl\1\31", ("x"):rep(300), "accessTokenTTL", "name" }
    local function gen(depth)
      local r = math.random(depth > 4 and 6 or 9)
      if r == 1 then return cjson.null
      elseif r == 2 then return math.random() < 0.5
      elseif r == 3 then return math.random(-1e9, 1e9)
      elseif r == 4 then return (math.random() - 0.5) * 10 ^ math.random(-20, 20)
      elseif r == 5 or r == 6 then return words[math.random(#words)]
      elseif r == 7 then
        local t = {}
        for i = 1, math.random(0, 6) do t[i] = gen(depth + 1) end
        return t
      else
        local t = {}
        for _ = 1, math.random(0, 8) do t[words[math.random(#words)] .. math.random(3)] = gen(depth + 1) end
        return t
      end
    end
    for _ = 1, 400 do
      local doc = { v = gen(0), list = { gen(1), gen(1), gen(1) } }
      check(cjson.encode(doc))
    end
  end)

  it("decodes escapes and surrogate pairs to UTF-8", function()
    assert.equal("a\"b\\c/d\b\f\n\r\t", core.decode([["a\"b\\c\/d\b\f\n\r\t"]]))
    assert.equal("é€\u{1F600}", core.decode([["\u00e9\u20AC\ud83d\ude00"]]))
    assert.equal("a\0b", core.decode([["a\u0000b"]]))
  end)

  it("keeps the sizes it guessed from earlier objects from leaking between them", function()
    local v = assert(core.decode('[{"a":1,"b":2,"c":3},{"d":4},{},{"a":null,"e":[1,2,3,4,5]},[[],[1]]]'))
    assert.same({ { a = 1, b = 2, c = 3 }, { d = 4 }, {}, { e = { 1, 2, 3, 4, 5 } }, { {}, { 1 } } }, v)
  end)

  it("keeps its memory proportional to the input: a big object's size is no hint for {} (issue 10 §1)", function()
    -- One object of 20,000 repeats of "k":1 (one key), then 200 empty objects at the same
    -- depth: each {} was made with room for 20,000 members (~0.8 MB each, 160 MB in all).
    local body = "[{" .. ('"k":1,'):rep(19999) .. '"k":1}' .. (",{}"):rep(200) .. "]"
    local arrays = "[[" .. ("1,"):rep(19999) .. "1]" .. (",[]"):rep(200) .. "]"   -- the same for arrays
    for _, b in ipairs{ body, arrays } do
      collectgarbage(); collectgarbage()
      local before = collectgarbage("count")
      local v = assert(core.decode(b))
      collectgarbage(); collectgarbage()
      local grown = (collectgarbage("count") - before) * 1024
      assert.equal(201, #v)
      -- what the decoded value holds, in bytes per input byte (a Lua table is ~56 bytes)
      assert.is_true(grown < 64 * #b, ("%.0f bytes kept for a %d-byte text"):format(grown, #b))
      v = nil
    end
  end)

  it("returns a memory error while decoding as nil, err, never raises it (issue 10 §1)", function()
    -- A child process with its address space capped a little above what it needs before
    -- decoding; the text then needs ~200 MB (3 million empty objects).
    local lua = jit and "luajit" or "lua5.4"
    local cpath = jit and "./build/luajit/?.so" or "./build/lua5.4/?.so"
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write([[
package.cpath = arg[1] .. ";" .. package.cpath
local core = require "infisical.core"
local body = "[" .. ("{},"):rep(3000000) .. "{}]"
local page_body = '{"tokens":[],"x":' .. body .. '}'
if arg[2] == "size" then
  local s = io.open("/proc/self/status"):read("*a")
  return print(s:match("VmSize:%s*(%d+)"))
end
local ok, v, err = pcall(core.decode, body)
print("decode", tostring(ok), tostring(v), tostring(err))
local ok2, page, perr = pcall(core.parse_tokens, 200, page_body, {})
print("parse", tostring(ok2), tostring(page), type(perr) == "table" and perr.kind or "-", tostring(perr))
]])
    f:close()
    local fake = require "spec.fake_client"
    local base = tonumber((fake.run(("%s %s '%s' size"):format(lua, script, cpath))))
    assert.is_number(base)
    local out, rc = fake.run(("(ulimit -v %d; %s %s '%s' 2>&1)"):format(base + 64 * 1024, lua, script, cpath))
    os.remove(script)
    assert.equal(0, rc, out)
    assert.matches("decode\ttrue\tnil\tnot enough memory to decode the JSON text", out, 1, true)
    assert.matches("parse\ttrue\tnil\ttoo_large\t", out, 1, true)
    assert.matches("not enough memory to decode the response body (9000022 bytes)", out, 1, true)
  end)

  it("lets a repeated key's null remove the earlier value, and leaves holes for nulls in arrays", function()
    assert.same({ b = 2 }, core.decode('{"a":1,"b":2,"a":null}'))
    local v = core.decode("[1,null,3]")
    assert.equal(1, v[1]); assert.is_nil(v[2]); assert.equal(3, v[3])
  end)

  it("reads numbers as the JSON grammar says, exactly for integers", function()
    assert.equal(9007199254740993, core.decode("9007199254740993"))   -- past 2^53: exact
    assert.equal(-9223372036854775807 - 1, core.decode("-9223372036854775808"))
    assert.equal(1.5e300, core.decode("1.5e300"))
    assert.equal(0.25, core.decode("2.5E-1"))
    if math.type then
      assert.equal("integer", math.type(core.decode("1e3")))
      assert.equal("float", math.type(core.decode("1e19")))
    end
    for _, bad in ipairs{ "01", "+1", ".5", "1.", "1e", "-", "0x10", "NaN", "Infinity", "-Infinity", "1e400" } do
      assert.is_nil((core.decode(bad)), bad)
    end
    assert.same({ nil, "number out of range" }, { core.decode("[-1e400]") })
  end)

  it("reads a whole number that fits 64 bits exactly, and any other as a float (issue 10 §6)", function()
    if not math.type then
      -- Lua 5.1/LuaJIT have no integers: every number is the nearest double, as with lua-cjson
      assert.equal(1234567890123456789, core.decode("1234567890123456789"))
      assert.equal(2 ^ 63, core.decode("9223372036854775808"))
      assert.equal(100, core.decode("1e2"))
      return
    end
    local cases = {
      { "1234567890123456789", 1234567890123456789 },
      { "-1234567890123456789", -1234567890123456789 },
      { "9007199254740993", 9007199254740993 },         -- 2^53 + 1
      { "9007199254740993.0", 9007199254740993 },
      { "9223372036854775807", math.maxinteger },       -- 2^63 - 1
      { "-9223372036854775808", math.mininteger },      -- -2^63
      { "9.223372036854775807e18", math.maxinteger },
      { "12345678901234567890e-1", 1234567890123456789 },
      { "10000000000000000000000e-4", 1000000000000000000 },
      { "1e18", 1000000000000000000 },
      { "1e2", 100 }, { "1E2", 100 }, { "1.0e2", 100 }, { "100e-2", 1 }, { "1E+2", 100 },
      { "2592000.0", 2592000 }, { "0.0", 0 }, { "-0.0", 0 }, { "0e400", 0 },
    }
    for _, c in ipairs(cases) do
      local v = core.decode(c[1])
      assert.equal("integer", math.type(v), c[1])
      assert.equal(c[2], v, c[1])
    end
    local floats = {
      { "9223372036854775808", 2 ^ 63 },                 -- 2^63: past the integers
      { "-9223372036854775809", -(2 ^ 63) },
      { "9.223372036854775808e18", 2 ^ 63 },
      { "1e19", 1e19 }, { "150e-2", 1.5 }, { "1.00000000000000000000000001", 1.0 },
      { "1e-400", 0.0 }, { "123456789012345678901234567890", 1.2345678901234568e29 },
    }
    for _, c in ipairs(floats) do
      local v = core.decode(c[1])
      assert.equal("float", math.type(v), c[1])
      assert.equal(c[2], v, c[1])
    end
    -- the same inside a page, where ids and counters live
    local page = assert(core.parse_tokens(200, '{"tokens":[{"id":"a","n":1234567890123456789}]}', {}))
    assert.equal(1234567890123456789, page.tokens[1].n)
  end)

  it("reads a number of any length: 128 characters and more give the nearest double, or an exact integer (issue 20 §1)", function()
    local cases = {
      { ("1"):rep(200), tonumber(("1"):rep(200)) },
      { "0." .. ("1"):rep(200), tonumber("0." .. ("1"):rep(200)) },
      { "-" .. ("9"):rep(130) .. "e-100", tonumber("-" .. ("9"):rep(130) .. "e-100") },
      { "123." .. ("0"):rep(150) .. "1", 123.0 },
      { "1." .. ("2"):rep(300) .. "e2", tonumber("1." .. ("2"):rep(300) .. "e2") },
    }
    for _, c in ipairs(cases) do
      local v, err = core.decode(c[1])
      assert.is_nil(err, c[1])
      assert.equal(c[2], v, c[1])
      assert.equal(c[2], (cjson.decode(c[1])), c[1])    -- what lua-cjson gives
      if math.type then assert.equal("float", math.type(v), c[1]) end
    end
    -- a whole number that fits stays exact, however many characters it is written with
    local long_ints = {
      { "1" .. ("0"):rep(150) .. "e-150", 1 },
      { "-1" .. ("0"):rep(17) .. "." .. ("0"):rep(150), -100000000000000000 },
      { "1234567890123456789." .. ("0"):rep(200), 1234567890123456789 },
    }
    for _, c in ipairs(long_ints) do
      local v = core.decode(c[1])
      assert.equal(c[2], v, c[1]:sub(1, 40))
      if math.type then assert.equal("integer", math.type(v), c[1]:sub(1, 40)) end
    end
    -- one long number is one field of one token, never the whole page's failure
    local long = "0." .. ("5"):rep(500)
    local page = assert(core.parse_tokens(200, '{"tokens":[{"id":"a","accessTokenNumUses":' .. long
      .. '},{"id":"b","accessTokenNumUses":2}]}', {}))
    assert.equal(tonumber(long), page.tokens[1].accessTokenNumUses)
    assert.equal(2, page.tokens[2].accessTokenNumUses)
    -- still out of range when it is: a finite number is required
    assert.same({ nil, "number out of range" }, { core.decode(("9"):rep(400)) })
  end)

  it("gives every object its own keys and values when the same keys and values repeat (the decoder's caches)", function()
    -- keys whose cache slots collide (accessTokenLastUsedAt, authMethod, isAccessTokenRevoked
    -- share one), values repeated under one key (every token's identityId), a value that
    -- changes under the same key, and the same keys one level down
    local rows, want = {}, {}
    for i = 1, 30 do
      local method = i % 3 == 0 and "universal-auth" or "token-auth"
      rows[i] = ('{"id":"t%d","accessTokenLastUsedAt":%s,"authMethod":"%s","isAccessTokenRevoked":%s,'
        .. '"identityId":"same-id","name":"%s","nested":{"id":"n%d","authMethod":"%s","name":""}}')
        :format(i, i % 2 == 0 and '"2024-05-01T11:57:53.000Z"' or "null", method, tostring(i % 5 == 0),
          i % 4 == 0 and "" or "x", i, method)
      want[i] = { id = "t" .. i, accessTokenLastUsedAt = i % 2 == 0 and "2024-05-01T11:57:53.000Z" or nil,
        authMethod = method, isAccessTokenRevoked = i % 5 == 0, identityId = "same-id",
        name = i % 4 == 0 and "" or "x", nested = { id = "n" .. i, authMethod = method, name = "" } }
    end
    assert.same({ tokens = want }, core.decode('{"tokens":[' .. table.concat(rows, ",") .. "]}"))
  end)

  it("lets a repeated key's null remove the earlier value while its cache slot changes (more keys than slots)", function()
    -- 100 distinct keys put keys out of the decoder's 64-slot cache; "k1" is set, pushed
    -- out and read again before its null: the null must still remove it, at any depth
    local parts = { '"k1":1' }
    for i = 2, 100 do parts[#parts + 1] = ('"k%d":%d'):format(i, i) end
    local body = "{" .. table.concat(parts, ",") .. ',"k1":null}'
    local v = core.decode(body)
    assert.is_nil(v.k1)
    assert.equal(100, v.k100)
    local outer = core.decode('{"k1":1,"child":' .. body .. ',"k1":null,"k2":null}')
    assert.is_nil(outer.k1); assert.is_nil(outer.k2)
    assert.is_nil(outer.child.k1); assert.equal(2, outer.child.k2)
    -- a key that took a neighbour's slot (its own held a colliding key of an earlier
    -- object: accessTokenLastUsedAt and authMethod collide), pushed out by a child's many
    -- keys, then read again into its own slot, which its object never set
    local many = {}
    for i = 1, 1000 do many[i] = ('"c%d":%d'):format(i, i) end
    local moved = core.decode('[{"accessTokenLastUsedAt":0},{"authMethod":"token-auth","child":{'
      .. table.concat(many, ",") .. '},"authMethod":null}]')
    assert.is_nil(moved[2].authMethod)
    assert.equal(1000, moved[2].child.c1000)
    -- the same after a first object filled the cache
    local two = core.decode("[" .. body .. "," .. body .. "]")
    assert.is_nil(two[2].k1); assert.equal(99, two[2].k99)
  end)

  it("takes each member's key from the object before it only when the bytes are that key (the shape prediction)", function()
    -- every object below is read after one whose member i had another key, a key that is
    -- a prefix of it or has it as a prefix, the same key escaped, or the same key twice
    local objs = {
      '{"id":"a","identityId":"x","name":"n","names":1}',
      '{"id":"b","identityId":"x","name":"n","names":2}',               -- the same shape
      '{"identityId":"y","id":"c","names":3,"name":"m"}',               -- members swapped
      '{"i":"d","identity":"z","nam":"o","namesX":4}',                  -- prefixes, longer keys
      [[{"\u0069d":"e","identity\"Id":"q","na\u006de":"p","names":5}]], -- escaped / quoted keys
      '{"id":"f","id":null,"name":"r","name":"s"}',                     -- repeats: null removes
      '{"id":"g","id":null,"name":"r","name":"s"}',                     -- the same, predicted
      '{"id":"h"}', '{}', '{"id":"i","identityId":"x","name":"n","names":6,"extra":true}',
    }
    local text = "[" .. table.concat(objs, ",") .. "]"
    check(text)
    local v = core.decode(text)
    assert.same({ id = "e", ['identity"Id'] = "q", name = "p", names = 5 }, v[5])
    assert.same({ name = "s" }, v[6]); assert.same({ name = "s" }, v[7])
    -- many objects of a few shapes with random changes, as cjson reads them
    math.randomseed(20261203)
    local keys = { "id", "identityId", "name", "names", "na", "accessTokenTTL", "authMethod", [[a\"b]] }
    for _ = 1, 200 do
      local rows = {}
      for r = 1, math.random(1, 12) do
        local parts = {}
        for m = 1, math.random(0, 7) do
          local k = keys[(m + (math.random() < 0.2 and math.random(0, 7) or 0)) % #keys + 1]
          local val = math.random() < 0.15 and "null" or ('"%s%d"'):format((k:gsub('[\\"]', "")), r)
          parts[#parts + 1] = ('"%s":%s'):format(k, val)
        end
        rows[r] = "{" .. table.concat(parts, ",") .. "}"
      end
      check("[" .. table.concat(rows, ",") .. "]")
    end
  end)

  it("refuses bad text with a message saying where", function()
    local cases = {
      { "", "end of the text" }, { "[1,2", "expected ',' or ']'" }, { '{"a" 1}', "expected ':' at byte 6" },
      { "{1:2}", "expected a string key" }, { "[1,]", "unexpected character at byte 4" },
      { '"abc', "unterminated string" }, { [["a\qb"]], "invalid escape" }, { [["\ud83d"]], "invalid escape" },
      { [["\ude00"]], "invalid escape" }, { [["\u12G4"]], "invalid escape" }, { "tru", "unexpected character" },
      { "[1] x", "after the JSON value" }, { "null", "JSON null" }, { "{}\0{}", "NUL byte" },
      { ("["):rep(1001) .. ("]"):rep(1001), "nested too deeply" },
    }
    for _, c in ipairs(cases) do
      local v, err = core.decode(c[1])
      assert.is_nil(v, c[1])
      assert.is_truthy(err:find(c[2], 1, true), c[1] .. " -> " .. tostring(err))
    end
    assert.is_table(core.decode(("["):rep(1000) .. ("]"):rep(1000)))
  end)

  it("leaves the stack as it found it, whatever the outcome", function()
    -- many calls in a loop: a leaked stack slot per call would overflow the C stack
    for i = 1, 20000 do
      core.decode(i % 2 == 0 and '{"a":[1,2,{"b":"c"}]}' or '{"a":[1,2,{"b":"c"}')
    end
  end)

  it("gives one line for an error whose fields are long", function()
    local e = core.error{ kind = "http", status = 500, method = "GET", url = "http://x/" .. ("u"):rep(5000),
      message = ("m\n"):rep(800), req_id = "r" }
    local s = tostring(e)
    assert.is_nil(s:find("\n"))
    assert.equal(#"infisical: http error (GET ) : HTTP 500: [r]" + #e.url + 1600, #s)
  end)
end)
