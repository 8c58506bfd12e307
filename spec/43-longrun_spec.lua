-- Long runs: 20,000 calls in one process (successes, HTTP errors, dropped connections,
-- bad JSON) and 5,000 clients created, used once and dropped. Resident memory and open
-- file descriptors must stay flat. Also: walks interleaved in coroutines over two
-- clients, and clients used after close().
local H = require "spec.helpers"
local fake = H.fake
local infisical = require "infisical"

local CALLS = tonumber(os.getenv("LONGRUN_CALLS")) or 20000
local CLIENTS = tonumber(os.getenv("LONGRUN_CLIENTS")) or 5000
-- Growth allowed between a warmed-up process and the end of the run. A leak of even
-- 100 bytes per call would be 2 MB over 20,000 calls.
local RSS_BOUND_KB = 1536
-- Clients: a leaked easy handle is tens of kB, so 4,500 of them would be far above this;
-- the allocator's own fragmentation over 4,500 handles measured about 1 MB.
local CLIENT_RSS_BOUND_KB = 3072
-- Under valgrind or ASan the RSS is the tool's as much as ours: those suites scale it.
local RSS_FACTOR = tonumber(os.getenv("RSS_BOUND_FACTOR")) or 1
RSS_BOUND_KB, CLIENT_RSS_BOUND_KB = RSS_BOUND_KB * RSS_FACTOR, CLIENT_RSS_BOUND_KB * RSS_FACTOR
local MISSING = fake.identity_id(999)   -- the fake answers 404 for it

local function rss_kb()
  collectgarbage()
  collectgarbage()
  local f = assert(io.open("/proc/self/status"))
  local s = f:read("*a")
  f:close()
  return tonumber(s:match("VmRSS:%s*(%d+)"))
end

local function fd_count()
  local p = assert(io.popen("ls /proc/" .. (fake.run("echo $PPID")) .. "/fd | wc -l"))
  local n = tonumber(p:read("*a"))
  p:close()
  return n
end

describe("long run", function()
  local srv
  setup(function() srv = fake.start{ fixture = H.FIXTURE } end)
  teardown(function() srv:stop() end)
  before_each(function() srv:reset(H.state()) end)

  local CLOSE_ID, BAD_ID = fake.identity_id(997), fake.identity_id(998)

  -- Faults bound to two identities' paths, set once: the loop sends no control calls.
  local function mixed_faults()
    srv:faults{
      { match = "/" .. CLOSE_ID .. "/", close = true, ["repeat"] = 10 * CALLS },
      { match = "/" .. BAD_ID .. "/", status = 200, body = '{"tokens":[{"id":', ["repeat"] = 10 * CALLS },
    }
  end

  -- the i-th call of the mix: a page, a 400, a 404, a dropped connection, bad JSON
  local function mixed_call(c, i)
    local k = i % 10
    local id = (k == 3 and H.ID3) or (k == 5 and MISSING) or (k == 7 and CLOSE_ID)
      or (k == 9 and BAD_ID) or H.ID1
    local res, err = c:list_tokens(id, { page_size = 5 })
    if k == 3 or k == 5 or k == 7 or k == 9 then
      assert(res == nil and err.kind == ((k == 7 and "network") or (k == 9 and "decode") or "http"),
        "call " .. i .. ": " .. tostring(err))
    else
      assert(res and #res.tokens == 5, "call " .. i .. ": " .. tostring(err))
    end
  end

  it(CALLS .. " mixed calls on one client: memory and descriptors stay flat", function()
    local c = H.client(srv, { retries = 0 })
    mixed_faults()
    for i = 1, 1000 do mixed_call(c, i) end     -- warm up: buffers, caches, the GC's pace
    local rss0, fd0 = rss_kb(), fd_count()
    for i = 1001, CALLS do mixed_call(c, i) end
    local rss1, fd1 = rss_kb(), fd_count()
    print(("# %d calls: RSS %d kB -> %d kB (%+d kB), fds %d -> %d"):format(CALLS, rss0, rss1,
      rss1 - rss0, fd0, fd1))
    assert.is_true(rss1 - rss0 < RSS_BOUND_KB, ("RSS grew by %d kB"):format(rss1 - rss0))
    assert.is_true(fd1 <= fd0 + 1, ("fds %d -> %d"):format(fd0, fd1))
    local st = srv:stats()
    assert.is_true(st.api_requests >= CALLS)
    srv:clear_faults()
    c:close()
  end)

  it(CLIENTS .. " clients created, used once and dropped: memory and descriptors stay flat", function()
    local function one(i)
      local c = H.client(srv, { retries = 0 })
      assert(c:list_tokens(H.ID1, { page_size = 1 }))
      if i % 2 == 0 then c:close() end   -- the other half is left to the garbage collector
    end
    for i = 1, 500 do one(i) end
    local rss0, fd0 = rss_kb(), fd_count()
    for i = 501, CLIENTS do
      one(i)
      if i % 500 == 0 then collectgarbage() end
    end
    local rss1, fd1 = rss_kb(), fd_count()
    print(("# %d clients: RSS %d kB -> %d kB (%+d kB), fds %d -> %d"):format(CLIENTS, rss0, rss1,
      rss1 - rss0, fd0, fd1))
    assert.is_true(rss1 - rss0 < CLIENT_RSS_BOUND_KB, ("RSS grew by %d kB"):format(rss1 - rss0))
    assert.is_true(fd1 <= fd0 + 1, ("fds %d -> %d"):format(fd0, fd1))
    -- every dropped client's connection was closed, none left open at the server
    fake.sleep(0.2)
    assert.is_true(srv:stats().open_connections <= 1)
  end)

  it("two walks on two clients interleaved in coroutines stay independent", function()
    local c1, c2 = H.client(srv), H.client(srv)
    local function walker(c, size)
      return coroutine.wrap(function()
        for t in c:each_token(H.ID2, { page_size = size, partial = true }) do coroutine.yield(t.id) end
        coroutine.yield(nil)
      end)
    end
    local a, b, d = walker(c1, 7), walker(c2, 100), walker(c1, 33)
    local ia, ib, id = {}, {}, {}
    for _ = 1, 200 do
      ia[#ia + 1] = a(); ib[#ib + 1] = b(); id[#id + 1] = d()
    end
    assert.equal(200, #ia)
    assert.same(ia, ib)
    assert.same(ia, id)
  end)

  it("a client used after close() raises, never crashes, and frees its connection", function()
    local c = H.client(srv)
    local w = c:each_token(H.ID1, { page_size = 5 })
    assert.is_string(w().id)
    c:close()
    -- the four tokens already fetched are still given; the next page is refused
    for _ = 1, 4 do assert.is_string(w().id) end
    assert.error_matches(function() w() end, "closed")
    assert.error_matches(function() c:list_tokens(H.ID1) end, "closed")
    assert.error_matches(function() c:all_tokens(H.ID1) end, "closed")
    assert.error_matches(function() c:info() end, "closed")
    c:close()
    assert.matches("closed", tostring(c))
    fake.sleep(0.2)
    assert.equal(0, srv:stats().open_connections)
  end)

  it("a closed core session refuses every method", function()
    local core = require "infisical.core"
    local s = core.session{ token = H.TOKEN }
    s:close()
    s:close()
    assert.error_matches(function() s:perform("GET", srv.url) end, "closed")
    assert.error_matches(function() s:set_token("x") end, "closed")
    assert.error_matches(function() s:info() end, "closed")
    assert.matches("closed", tostring(s))
    s = nil
    collectgarbage()
    assert.is_truthy(infisical)
  end)
end)
