-- list_many and stream_many against the fake server: the same answers as all_tokens per
-- identity, failures kept per identity, the concurrency limit, retries scheduled per
-- request, connection reuse, bounded memory when streaming, argument errors.
local infisical = require "infisical"
local core = require "infisical.core"
local H = require "spec.helpers"
local fake = H.fake

local function gen_id(n) return fake.identity_id(100 + n) end

--- The fixture's identities plus generated ones with the given token counts.
local function state_with(counts, extra)
  local s = H.state(nil, extra)
  for i, n in ipairs(counts) do s.identities[gen_id(i)] = { generate = n } end
  return s
end

--- What the server's answers overlapped most: a request is in flight from its arrival
-- until its answer (arrival + latency); the next request of the same identity is only
-- sent after that, so this counts transfers the client had in flight at once.
local function max_in_flight(reqs, latency)
  local ev = {}
  for _, r in ipairs(reqs) do
    ev[#ev + 1] = { r.time, 1 }
    ev[#ev + 1] = { r.time + latency, -1 }
  end
  table.sort(ev, function(a, b) if a[1] ~= b[1] then return a[1] < b[1] end return a[2] < b[2] end)
  local cur, top = 0, 0
  for _, e in ipairs(ev) do
    cur = cur + e[2]
    if cur > top then top = cur end
  end
  return top
end

--- Compares one identity's list_many result with all_tokens' answer.
local function assert_same_answer(id, tokens, err, want_tokens, want_err)
  if want_tokens then
    assert.is_table(tokens, id)
    assert.same(H.ids(want_tokens), H.ids(tokens))
    assert.same(want_tokens, tokens)
  else
    assert.is_nil(tokens, id)
  end
  if want_err then
    assert.is_true(core.is_error(err), id)
    for _, k in ipairs{ "kind", "status", "error", "message", "method", "url", "attempts",
        "identity_id", "retry_after" } do
      assert.same(want_err[k], err[k], id .. " " .. k)
    end
    assert.same(H.ids(want_err.tokens or {}), H.ids(err.tokens or {}))
  else
    assert.is_nil(err, id)
  end
end

describe("list_many", function()
  local srv
  setup(function() srv = fake.start{ fixture = H.FIXTURE } end)
  teardown(function() srv:stop() end)
  before_each(function() srv:reset(H.state()) end)

  -- 0, 1, a page boundary, two pages, the wall exactly, past it; plus the fixture's
  -- 30 tokens, 250 (truncated), no Token Auth (400) and an unknown identity (404).
  local COUNTS = { 0, 1, 20, 21, 99, 100, 101, 150, 200, 230 }
  local function all_ids()
    local ids = { H.ID1, H.ID2, H.ID3, fake.identity_id(77), "not-a-uuid" }
    for i = 1, #COUNTS do ids[#ids + 1] = gen_id(i) end
    return ids
  end

  for _, case in ipairs{
    { name = "defaults", opts = nil },
    { name = "small pages and filters", opts = { page_size = 20, revoked = false,
        where = function(t) return t.name ~= nil end } },
    { name = "partial", opts = { partial = true, page_size = 60 } },
  } do
    it("gives each identity what all_tokens gives (" .. case.name .. ")", function()
      srv:reset(state_with(COUNTS))
      local c = H.client(srv)
      local ids = all_ids()
      local results, errors = c:list_many(ids, case.opts)
      local n = 0
      for id, tokens in pairs(results) do
        n = n + 1
        -- what a caller counts: every entry is an array of tokens, never an error
        assert.is_false(core.is_error(tokens), id)
        assert.is_table(tokens, id)
      end
      for _, id in ipairs(ids) do
        local want, werr = c:all_tokens(id, case.opts)
        assert_same_answer(id, results[id], errors[id], want, werr)
        if want then n = n - 1 end
      end
      assert.equal(0, n)   -- an entry exactly for the identities all_tokens gives tokens for
      -- and the cases the comparison is about did happen
      assert.equal("truncated", errors[H.ID2].kind)
      assert.equal(400, errors[H.ID3].status)
      assert.equal(404, errors[fake.identity_id(77)].status)
      assert.is_nil(errors[gen_id(8)])
    end)
  end

  it("stream_many yields the same answers, each identity once", function()
    srv:reset(state_with(COUNTS))
    local c = H.client(srv)
    local ids = all_ids()
    local seen = {}
    for id, tokens, err in c:stream_many(ids, { concurrency = 3 }) do
      assert.is_nil(seen[id])
      seen[id] = true
      local want, werr = c:all_tokens(id)
      assert_same_answer(id, tokens, err, want, werr)
    end
    for _, id in ipairs(ids) do assert.is_true(seen[id], id) end
  end)

  it("keeps one identity's malformed answer from hiding the others", function()
    srv:reset(state_with{ 5, 5, 5, 5 })
    srv:faults{ { match = gen_id(2), status = 200, body = "{\"tokens\": [" },
      { match = gen_id(3), status = 200, body = { tokens = { { name = "no id" } } } } }
    local results, errors = H.client(srv):list_many{ gen_id(1), gen_id(2), gen_id(3), gen_id(4) }
    assert.equal(5, #results[gen_id(1)])
    assert.equal(5, #results[gen_id(4)])
    assert.same({ "decode", 200 }, { errors[gen_id(2)].kind, errors[gen_id(2)].status })
    assert.matches("invalid JSON", errors[gen_id(2)].message)
    assert.matches("token 1 has no string 'id'", errors[gen_id(3)].message)
    assert.is_nil(results[gen_id(2)])
    assert.is_nil(results[gen_id(3)])
  end)

  it("reports a mid-walk failure with the tokens got so far, like all_tokens", function()
    srv:reset(state_with{ 150 })
    srv:faults{ { match = gen_id(1), then_normal = true }, { match = gen_id(1), status = 404,
      body = { statusCode = 404, error = "NotFound", message = "gone" } } }
    local results, errors = H.client(srv):list_many({ gen_id(1) }, { page_size = 100 })
    assert.same({ "http", 404 }, { errors[gen_id(1)].kind, errors[gen_id(1)].status })
    assert.equal(100, #errors[gen_id(1)].tokens)
    assert.is_nil(results[gen_id(1)])
  end)

  it("gives every identity the token's 401/403 when the bearer is refused", function()
    srv:reset(state_with{ 3, 3 })
    for tok, status in pairs{ ["fake-revoked-token"] = 401, ["fake-expired-token"] = 403,
        ["fake-noperm-token"] = 403 } do
      local c = H.client(srv, { token = tok })
      local _, errors = c:list_many{ gen_id(1), gen_id(2) }
      for _, id in ipairs{ gen_id(1), gen_id(2) } do
        local _, want = c:all_tokens(id)
        assert_same_answer(id, nil, errors[id], nil, want)
        assert.equal(status, errors[id].status)
        H.assert_no_secret(errors[id], tok)
        H.assert_no_secret(tostring(errors[id]), tok)
      end
    end
  end)

  it("never shows the token even when the server echoes it", function()
    srv:reset(state_with{ 3, 3 })
    srv:faults{ { match = gen_id(2), status = 400, body = { error = "Echo",
      message = "you sent Bearer " .. H.TOKEN, details = { header = "Authorization: Bearer " .. H.TOKEN } } } }
    local results, errors = H.client(srv):list_many{ gen_id(1), gen_id(2) }
    assert.equal(3, #results[gen_id(1)])
    assert.matches("%[REDACTED%]", errors[gen_id(2)].message)
    assert.matches("%[REDACTED%]", errors[gen_id(2)].details.header)
    H.assert_no_secret(errors)
  end)

  it("reports transport failures per identity: refused, timeout, too large", function()
    -- a port nobody listens on: the fake server's, once stopped
    local dead = fake.start{ fixture = H.FIXTURE }
    local url = dead.url
    dead:stop()
    local c = assert(infisical.new{ base_url = url, token = H.TOKEN, retries = 1, backoff = 0.01 })
    local _, errors = c:list_many{ H.ID1, gen_id(1) }
    for _, id in ipairs{ H.ID1, gen_id(1) } do
      assert.same({ "network", 2 }, { errors[id].kind, errors[id].attempts })
      assert.same({}, errors[id].tokens)
      assert.is_number(errors[id].elapsed)
      assert.matches("gave up after 2 attempts in %d+%.%d s", tostring(errors[id]))
    end

    srv:reset(state_with{ 3, 3 })
    srv:faults{ { match = gen_id(1), delay = 3 } }
    local t0 = core.monotime()
    _, errors = H.client(srv, { timeout = 0.5 }):list_many{ gen_id(1), gen_id(2) }
    assert.equal("timeout", errors[gen_id(1)].kind)
    assert.is_nil(errors[gen_id(2)])
    assert.is_true(core.monotime() - t0 < 2.5)

    srv:reset(state_with{ 3, 80 })
    local results
    results, errors = H.client(srv, { max_body = 4096 }):list_many{ gen_id(1), gen_id(2) }
    assert.equal(3, #results[gen_id(1)])
    assert.equal("too_large", errors[gen_id(2)].kind)
  end)

  it("keeps at most `concurrency` transfers in flight (default 8)", function()
    local latency = 0.15
    local counts = {}
    for i = 1, 12 do counts[i] = 1 end
    for _, case in ipairs{ { 3, 3 }, { nil, 8 }, { 1, 1 } } do
      srv:reset(state_with(counts, { latency = latency }))
      local ids = {}
      for i = 1, #counts do ids[i] = gen_id(i) end
      local c = H.client(srv)
      local results = c:list_many(ids, { concurrency = case[1] })
      for _, id in ipairs(ids) do assert.equal(1, #results[id]) end
      local reqs = H.api_requests(srv)
      assert.equal(12, #reqs)
      assert.equal(case[2], max_in_flight(reqs, latency))
      assert.is_true(srv:stats().connections <= case[2])
    end
  end)

  -- (a 429's retry-after pauses every request of the client instead: spec/13-pacing_spec.lua)
  it("retries per request, and a retry-after wait does not hold up the others", function()
    srv:reset(state_with({ 5, 250 }, { latency = 0.05 }))
    srv:faults{ { match = gen_id(1), status = 503, headers = { ["retry-after"] = "1" },
      body = { statusCode = 503, error = "Service Unavailable", message = "try again in 1 seconds" } } }
    local c = H.client(srv)
    local results, errors = c:list_many({ gen_id(1), gen_id(2) }, { page_size = 20, partial = true })
    assert.equal(5, #results[gen_id(1)])
    assert.is_nil(errors[gen_id(1)])
    local first, retried, others = nil, nil, {}
    for _, r in ipairs(H.api_requests(srv)) do
      if r.path:find(gen_id(1), 1, true) then
        if first then retried = r.time else first = r.time end
      else
        others[#others + 1] = r.time
      end
    end
    assert.is_true(retried - first >= 1)
    -- identity 2's pages kept coming while identity 1 waited
    local during = 0
    for _, t in ipairs(others) do if t > first and t < retried then during = during + 1 end end
    assert.is_true(during >= 5, "requests during the wait: " .. during)
  end)

  it("retries 5xx and dropped connections, and says how many attempts failed", function()
    srv:reset(state_with{ 5, 5, 5 })
    srv:faults{ { match = gen_id(1), status = 503, body = "", ["repeat"] = 2 },
      { match = gen_id(2), close = true },
      { match = gen_id(3), status = 502, body = "", ["repeat"] = 5 } }
    local results, errors = H.client(srv, { retries = 2 }):list_many{ gen_id(1), gen_id(2), gen_id(3) }
    assert.equal(5, #results[gen_id(1)])
    assert.equal(5, #results[gen_id(2)])
    assert.same({ 502, 3 }, { errors[gen_id(3)].status, errors[gen_id(3)].attempts })
    local per = {}
    for _, r in ipairs(H.api_requests(srv)) do
      local k = r.path:match("identities/([^/]+)/")
      per[k] = (per[k] or 0) + 1
    end
    assert.same({ [gen_id(1)] = 3, [gen_id(2)] = 2, [gen_id(3)] = 3 }, per)
  end)

  it("reuses its connections across pages, identities and calls", function()
    local counts = {}
    for i = 1, 16 do counts[i] = 30 end
    srv:reset(state_with(counts))
    local ids = {}
    for i = 1, #counts do ids[i] = gen_id(i) end
    local c = H.client(srv)
    c:list_many(ids, { concurrency = 4, page_size = 10 })
    c:list_many(ids, { concurrency = 4, page_size = 10 })
    assert.equal(2 * 16 * 4, #H.api_requests(srv))
    assert.is_true(srv:stats().connections <= 4, "connections: " .. srv:stats().connections)
  end)

  it("with Universal Auth: logs in once for all identities, and once again when refused", function()
    local CID, CSECRET, UA_TOKEN = "fake-client-id", "fake-client-secret", "fake-ua-token"
    srv:reset(state_with{ 3, 3, 3, 3 })
    local ids = { gen_id(1), gen_id(2), gen_id(3), gen_id(4) }
    local c = assert(infisical.new{ base_url = srv.url, client_id = CID, client_secret = CSECRET })
    local function count(reqs)
      local logins, lists = 0, 0
      for _, r in ipairs(reqs) do
        if r.path:find("login", 1, true) then logins = logins + 1 else lists = lists + 1 end
      end
      return logins, lists
    end
    local results, errors = c:list_many(ids, { concurrency = 4 })
    assert.is_nil(errors)
    for _, id in ipairs(ids) do assert.equal(3, #results[id]) end
    assert.same({ 1, 4 }, { count(H.api_requests(srv)) })
    -- the token is revoked: every request in flight is refused, one login serves them all
    local s = state_with{ 3, 3, 3, 3 }
    s.access_tokens[UA_TOKEN] = { state = "revoked" }
    srv:reset(s)
    results, errors = c:list_many(ids, { concurrency = 4 })
    assert.is_nil(errors)
    for _, id in ipairs(ids) do assert.equal(3, #results[id]) end
    local refused = 0
    for _, r in ipairs(H.api_requests(srv)) do if r.status == 401 then refused = refused + 1 end end
    -- the four go out at once with the revoked token: all four are refused, and each is
    -- sent again with the one new token
    assert.equal(4, refused)
    assert.same({ 1, 4 + refused }, { count(H.api_requests(srv)) })
    H.assert_no_secret(c, CSECRET)
  end)

  it("collapses repeated ids and accepts an empty list", function()
    srv:reset(state_with{ 2 })
    local results, errors = H.client(srv):list_many{ gen_id(1), gen_id(1), gen_id(1) }
    assert.equal(2, #results[gen_id(1)])
    assert.is_nil(errors)
    assert.equal(1, #H.api_requests(srv))
    results, errors = H.client(srv):list_many{}
    assert.same({}, results)
    assert.is_nil(errors)
  end)

  it("raises for bad arguments before sending anything", function()
    local c = H.client(srv)
    local function raises(pattern, ...)
      local args = table.pack(...)
      assert.error_matches(function() c:list_many(table.unpack(args, 1, args.n)) end, pattern)
      assert.error_matches(function() c:stream_many(table.unpack(args, 1, args.n)) end, pattern)
    end
    raises("bad argument 'identity_ids' %(array of identity ids expected, got string%)", H.ID1)
    raises("bad argument 'identity_ids' %(must be an array", { H.ID1, x = H.ID1 })
    raises("bad argument 'identity_ids%[2%]' %(non%-empty string expected, got number%)", { H.ID1, 7 })
    raises("bad argument 'identity_ids%[1%]' %(empty string%)", { "" })
    raises("bad argument 'identity_ids%[1%]' %(longer than 256 bytes%)", { ("x"):rep(257) })
    raises("bad argument 'identity_ids%[1%]' %(contains a NUL byte%)", { "a\0b" })
    raises("unknown option 'concurency'", { H.ID1 }, { concurency = 2 })
    raises("bad argument 'concurrency'", { H.ID1 }, { concurrency = 0 })
    raises("bad argument 'concurrency'", { H.ID1 }, { concurrency = 257 })
    raises("bad argument 'concurrency'", { H.ID1 }, { concurrency = 1.5 })
    raises("bad argument 'page_size'", { H.ID1 }, { page_size = 101 })
    raises("bad argument 'revoked'", { H.ID1 }, { revoked = "no" })
    raises("bad argument 'opts'", { H.ID1 }, "fast")
    assert.error_matches(function() c.list_many({}, { H.ID1 }) end, "bad self")
    assert.equal(0, #H.api_requests(srv))
    c:close()
    assert.error_matches(function() c:list_many{ H.ID1 } end, "client is closed")
  end)

  it("streams with memory for the identities in progress only", function()
    local counts = {}
    for i = 1, 40 do counts[i] = 3 end
    srv:reset(state_with(counts))
    local ids = {}
    for i = 1, #counts do ids[i] = gen_id(i) end
    local c = H.client(srv)
    local iter, _, _, run = c:stream_many(ids, { concurrency = 4 })
    local yielded = setmetatable({}, { __mode = "v" })
    local n, max_held = 0, 0
    for id, tokens in iter do
      n = n + 1
      assert.equal(3, #tokens)
      yielded[#yielded + 1] = tokens
      local held = run.active + (#run.ready - run.rhead + 1)
      if held > max_held then max_held = held end
      -- identities start only as earlier ones are taken: never all of them at once
      if n == 1 then assert.is_true(#H.api_requests(srv) <= 8) end
      local jobs = 0
      for _ in pairs(run.jobs) do jobs = jobs + 1 end
      assert.is_true(jobs <= 4)
    end
    assert.equal(40, n)
    assert.is_true(max_held <= 4, "held " .. max_held)
    -- nothing keeps the yielded token arrays alive once the caller dropped them
    collectgarbage()
    collectgarbage()
    assert.is_nil(next(yielded))
  end)

  it("stops the transfers of a stream left early, and the client goes on", function()
    local counts = {}
    for i = 1, 20 do counts[i] = 2 end
    srv:reset(state_with(counts, { latency = 0.05 }))
    local ids = {}
    for i = 1, #counts do ids[i] = gen_id(i) end
    local c = H.client(srv)
    local iter, _, _, run = c:stream_many(ids, { concurrency = 4 })
    local id = iter()
    assert.is_string(id)
    -- another call runs beside it on transfers of its own; the first stream goes on
    local results = c:list_many({ gen_id(1), gen_id(2) })
    assert.equal(2, #results[gen_id(2)])
    local n = 1
    for _, tokens in iter do n = n + 1; assert.equal(2, #tokens) end
    assert.equal(20, n)
    -- a stream closed early (what leaving a generic for does on Lua 5.4) says so if read again
    iter, _, _, run = c:stream_many(ids, { concurrency = 4 })
    assert.is_string((iter()))
    run:close()   -- on Lua 5.1/LuaJIT what leaving the loop does on 5.4
    run:close()
    assert.error_matches(function() iter() end, "stream closed")
    assert.is_true(run.abandoned)
    assert.equal(0, c.transport:current():multi():running())
    -- a stream on a Multi of its own (another run held the kept one) closes it
    local a = select(4, c:stream_many(ids, { concurrency = 4 }))
    local b_iter, _, _, b = c:stream_many(ids, { concurrency = 4 })
    assert.is_true(b.own)
    assert.is_string((b_iter()))
    b:close()
    assert.matches("closed", tostring(b.engine))
    a:close()
    if _VERSION >= "Lua 5.4" then
      -- leaving a generic for closes the stream (its fourth value)
      local load54 = load([[
        local c, ids = ...
        for id in c:stream_many(ids, { concurrency = 4 }) do break end
        return c.transport:current():multi():running()
      ]])
      assert.equal(0, load54(c, ids))
    end
    assert.equal(20, (function() local k = 0
      for _, t in pairs((c:list_many(ids))) do k = k + 1; assert.equal(2, #t) end
      return k end)())
  end)

  it("gives the same answers over a transport without a multi engine", function()
    srv:reset(state_with{ 0, 5, 120 })
    local c = H.client(srv)
    local real = c.transport
    c.transport = setmetatable({}, { __index = function(_, k)
      if k == "multi" or k == "current" then return nil end
      return function(_, ...) return real[k](real, ...) end
    end })
    local ids = { gen_id(1), gen_id(2), gen_id(3), H.ID3 }
    local results, errors = c:list_many(ids, { concurrency = 3 })
    c.transport = real
    for _, id in ipairs(ids) do
      local want, werr = c:all_tokens(id)
      assert_same_answer(id, results[id], errors[id], want, werr)
    end
  end)
  it("closing the client mid-stream frees the transfers; the stream then says so", function()
    local counts = {}
    for i = 1, 10 do counts[i] = 2 end
    srv:reset(state_with(counts, { latency = 0.2 }))
    local ids = {}
    for i = 1, #counts do ids[i] = gen_id(i) end
    local c = H.client(srv)
    local iter = c:stream_many(ids, { concurrency = 4 })
    assert.is_string((iter()))
    c:close()
    c:close()
    assert.error_matches(function() iter() end, "client is closed")
  end)
end)

describe("runs on one client", function()
  local srv
  setup(function() srv = fake.start{ fixture = H.FIXTURE } end)
  teardown(function() srv:stop() end)

  local function ids_of(from, to)
    local t = {}
    for i = from, to do t[#t + 1] = gen_id(i) end
    return t
  end

  --- Every identity has exactly its own tokens, as all_tokens gives them.
  local function assert_own(c, ids, results, errors)
    assert.is_nil(errors)
    for _, id in ipairs(ids) do
      assert.is_table(results[id], id)
      assert.same(H.ids((c:all_tokens(id))), H.ids(results[id]), id)
      for _, t in ipairs(results[id]) do assert.equal(id, t.identityId, id) end
    end
  end

  it("a where filter that calls list_many on the same client loses nothing", function()
    srv:reset(state_with({ 3, 4, 5, 6, 7, 8 }, { latency = 0.02 }))
    local c = H.client(srv)
    local outer, inner = ids_of(1, 4), ids_of(5, 6)
    local calls, got = 0, {}
    local results, errors = c:list_many(outer, { concurrency = 2, page_size = 2,
      where = function()
        calls = calls + 1
        if calls == 1 or calls == 5 then got[#got + 1] = { c:list_many(inner, { concurrency = 2 }) } end
        return true
      end })
    assert.equal(2, #got)
    assert_own(c, outer, results, errors)
    for _, r in ipairs(got) do assert_own(c, inner, r[1], r[2]) end
    -- and the client goes on: the next call reuses the connections of the first
    srv:reset(state_with{ 3, 4 })
    assert_own(c, ids_of(1, 2), c:list_many(ids_of(1, 2)))
  end)

  it("runs interleaved by coroutines keep their identities apart", function()
    srv:reset(state_with({ 3, 4, 5, 6, 7, 8 }, { latency = 0.01 }))
    local c = H.client(srv)
    local sets = { ids_of(1, 3), ids_of(4, 6), { gen_id(2), gen_id(5) } }
    local cos, out = {}, {}
    for i, ids in ipairs(sets) do
      cos[i] = coroutine.create(function()
        return c:list_many(ids, { concurrency = 2, page_size = 2,
          where = function() coroutine.yield(); return true end })
      end)
    end
    local live, yields = #cos, 0
    while live > 0 do
      for i, co in ipairs(cos) do
        if coroutine.status(co) == "suspended" then
          local r = table.pack(coroutine.resume(co))
          assert(r[1], tostring(r[2]))
          if coroutine.status(co) == "dead" then
            out[i], live = { r[2], r[3] }, live - 1
          else
            yields = yields + 1
          end
        end
      end
    end
    assert.is_true(yields >= 30)
    for i, ids in ipairs(sets) do assert_own(c, ids, out[i][1], out[i][2]) end
  end)

  it("two streams advanced in turn, and list_many inside a stream loop, each get their own", function()
    srv:reset(state_with({ 3, 4, 5, 6, 7, 8 }, { latency = 0.01 }))
    local c = H.client(srv)
    local a_ids, b_ids = ids_of(1, 3), ids_of(4, 6)
    local a = c:stream_many(a_ids, { concurrency = 2, page_size = 2 })
    local b = c:stream_many(b_ids, { concurrency = 2, page_size = 2 })
    local ra, rb, inner = {}, {}, nil
    while true do
      local ida, ta, ea = a()
      local idb, tb, eb = b()
      if ida then assert.is_nil(ea); ra[ida] = ta end
      if idb then assert.is_nil(eb); rb[idb] = tb end
      if not inner then inner = { c:list_many(ids_of(1, 2)) } end
      if not ida and not idb then break end
    end
    assert_own(c, a_ids, ra, nil)
    assert_own(c, b_ids, rb, nil)
    assert_own(c, ids_of(1, 2), inner[1], inner[2])
    -- a where filter of a stream that starts another stream on the client
    local nested = {}
    for id, tokens, err in c:stream_many(a_ids, { where = function()
        if not next(nested) then
          for id2, t2 in c:stream_many(b_ids) do nested[id2] = t2 end
        end
        return true
      end }) do
      assert.is_nil(err)
      ra[id] = tokens
    end
    assert_own(c, a_ids, ra, nil)
    assert_own(c, b_ids, nested, nil)
  end)

  it("a run a filter's error left unfinished lets go of the kept Multi once collected", function()
    srv:reset(state_with({ 3, 4, 5 }, { latency = 0.02 }))
    local c = H.client(srv)
    assert.error_matches(function()
      c:list_many(ids_of(1, 3), { where = function() error("filter failed") end })
    end, "filter failed")
    -- meanwhile a new run is correct on a Multi of its own, or on the kept one once the
    -- dropped run is collected (its leftover transfers dropped)
    assert_own(c, ids_of(1, 3), c:list_many(ids_of(1, 3)))
    collectgarbage()
    collectgarbage()
    local iter, _, _, run = c:stream_many(ids_of(1, 3))
    assert.is_false(run.own)
    local got = {}
    for id, tokens in iter do got[id] = tokens end
    assert_own(c, ids_of(1, 3), got, nil)
  end)

  it("with Universal Auth, a run on transfers of its own sends the token of the login", function()
    srv:reset(state_with{ 3, 4, 5, 6 })
    local c = assert(infisical.new{ base_url = srv.url, client_id = "fake-client-id",
      client_secret = "fake-client-secret" })
    -- both streams are made before the first login; the second has a Multi of its own
    local a = c:stream_many(ids_of(1, 2))
    local b = c:stream_many(ids_of(3, 4))
    local ra, rb = {}, {}
    for id, tokens, err in a do assert.is_nil(err); ra[id] = tokens end
    for id, tokens, err in b do assert.is_nil(err); rb[id] = tokens end
    assert_own(c, ids_of(1, 2), ra, nil)
    assert_own(c, ids_of(3, 4), rb, nil)
    local logins = 0
    for _, r in ipairs(H.api_requests(srv)) do
      if r.path:find("login", 1, true) then logins = logins + 1 end
    end
    assert.equal(1, logins)
  end)

  it("closing the client inside a stream loop leaves it quietly", function()
    srv:reset(state_with{ 2, 2, 2 })
    local c = H.client(srv)
    local n = 0
    for _ in c:stream_many(ids_of(1, 3)) do
      n = n + 1
      c:close()
      break
    end
    assert.equal(1, n)
    if _VERSION >= "Lua 5.4" then
      -- the body's own error is the one that propagates
      local body_error = load([[
        local c, ids = ...
        for id in c:stream_many(ids) do c:close(); error({ mine = true }) end
      ]])
      local ok, e = pcall(body_error, H.client(srv), ids_of(1, 3))
      assert.is_false(ok)
      assert.same({ mine = true }, e)
      ok, e = pcall(load([[
        local c, ids = ...
        for id in c:stream_many(ids) do error("body failed") end
      ]]), H.client(srv), ids_of(1, 3))
      assert.is_false(ok)
      assert.matches("body failed", e)
    end
  end)
end)

describe("infisical.core multi", function()
  it("runs transfers, hands out every result once, and is safe to close twice", function()
    local srv = fake.start{ fixture = H.FIXTURE }
    local m = core.multi{ token = H.TOKEN }
    assert.matches("^infisical.Multi %(", tostring(m))
    for i = 1, 3 do m:add(i, "GET", srv:tokens_url(H.ID1, "limit=" .. i)) end
    assert.same({ 3, 0 }, { m:running() })
    local function drain(n)
      local got = {}
      while #got < n do
        m:wait(5)
        while true do
          local tag, status, body = m:next()
          if not tag then break end
          assert.equal(200, status)
          got[#got + 1] = tag
          assert.equal(tag, #core.decode(body).tokens)
        end
      end
      table.sort(got)
      return got
    end
    assert.same({ 1, 2, 3 }, drain(3))
    assert.is_nil(m:next())
    assert.same({ 0, 0 }, { m:running() })
    assert.equal(3, m:info().new_connections)   -- three at once over HTTP/1.1
    for i = 4, 6 do m:add(i, "GET", srv:tokens_url(H.ID1, "limit=" .. i)) end
    assert.same({ 4, 5, 6 }, drain(3))
    assert.equal(3, m:info().new_connections)   -- and kept for the next ones
    -- a transfer left running is freed by close
    m:add(9, "GET", srv:tokens_url(H.ID1))
    m:close()
    m:close()
    assert.matches("closed", tostring(m))
    assert.error_matches(function() m:add(1, "GET", srv.url) end, "multi is closed")
    assert.error_matches(function() core.multi{ token = H.TOKEN }:add(1, "PUT", srv.url) end, "method")
    assert.error_matches(function() core.multi{ token = H.TOKEN }:add(1, "GET", "http://x/a b") end, "url")
    srv:stop()
  end)
end)

describe("infisical.core multi's check of idle connections (issue 19)", function()
  it("reuses kept connections after the numbers of closed ones went to files", function()
    -- Three connections to a first server, which then goes away; the multi records the
    -- three sockets. The next transfer goes to a second server: libcurl drops the dead
    -- connections (at most once a second), and the files opened after it take their
    -- numbers. Every later batch must reuse the one kept connection: polling a recorded
    -- number that is now a regular file (always readable) made every batch take new ones.
    local old = fake.start{ fixture = H.FIXTURE }
    local m = core.multi{ token = H.TOKEN }
    local function batch(srv, n)
      for i = 1, n do m:add(i, "GET", srv:tokens_url(H.ID1, "limit=1")) end
      local got = 0
      while got < n do
        m:wait(5)
        while true do
          local tag, status = m:next()
          if not tag then break end
          assert.equal(200, status)
          got = got + 1
        end
      end
    end
    batch(old, 3)
    assert.equal(3, m:info().new_connections)
    old:stop()
    core.sleep(1.1)
    local srv = fake.start{ fixture = H.FIXTURE }
    batch(srv, 1)
    local files = {}
    for i = 1, 8 do files[i] = assert(io.open("spec/10-many_spec.lua")) end
    local before = m:info().new_connections
    for _ = 1, 5 do batch(srv, 1) end
    local opened = m:info().new_connections - before
    for _, f in ipairs(files) do f:close() end
    m:close()
    srv:stop()
    assert.equal(0, opened, "new connections over 5 batches of one transfer")
  end)
end)

describe("list_many over TLS", function()
  local dir, srv
  setup(function()
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir))
    local out, rc = fake.run("cd " .. dir .. " && openssl req -x509 -newkey ec"
      .. " -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem -out cert.pem -days 2"
      .. " -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>&1")
    assert(rc == 0, "openssl failed: " .. out)
    srv = fake.start{ fixture = H.FIXTURE, tls = { cert = dir .. "/cert.pem", key = dir .. "/key.pem" } }
  end)
  teardown(function()
    srv:stop()
    os.execute("rm -rf " .. dir)
  end)

  it("verifies the server and reuses its TLS connections across calls", function()
    local counts = {}
    for i = 1, 12 do counts[i] = 25 end
    srv:reset(state_with(counts))
    local ids = {}
    for i = 1, #counts do ids[i] = gen_id(i) end
    local c = H.client(srv, { ca_file = dir .. "/cert.pem" })
    for _ = 1, 2 do
      local results, errors = c:list_many(ids, { concurrency = 3, page_size = 10 })
      assert.is_nil(errors)
      for _, id in ipairs(ids) do assert.equal(25, #results[id]) end
    end
    assert.equal(2 * 12 * 3, #H.api_requests(srv))
    assert.is_true(srv:stats().connections <= 3, "connections: " .. srv:stats().connections)
  end)

  it("keeps verification on: an unknown certificate fails every identity with kind tls", function()
    srv:reset(state_with{ 2, 2 })
    local _, errors = H.client(srv):list_many{ gen_id(1), gen_id(2) }
    for _, id in ipairs{ gen_id(1), gen_id(2) } do assert.equal("tls", errors[id].kind) end
    assert.equal(0, #H.api_requests(srv))
    local results = H.client(srv, { verify_tls = false }):list_many{ gen_id(1), gen_id(2) }
    assert.equal(2, #results[gen_id(2)])
  end)
end)
