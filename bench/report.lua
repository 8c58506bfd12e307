--- Turns bench/out/raw.txt into the tables of bench/RESULTS.md (printed and written to
-- bench/out/results.md) and bench/out/concurrency.dat for gnuplot.
-- `-` as the file reads stdin (make bench-instr: only the instruction counts).
local raw, out = arg[1], arg[2]
local info, page, conc, mem, rl, nw = {}, {}, {}, {}, {}, {}
local instr, instr_order, pairs_, conns = {}, {}, {}, {}
local order = {}
for line in (raw == "-" and io.lines() or io.lines(raw)) do
  local k, rest = line:match("^(%S+) (.*)$")
  if k == "page" then
    local peer, n, cpu, wall = rest:match("^(%S+) (%d+) (%S+) (%S+)$")
    n, cpu, wall = tonumber(n), tonumber(cpu), tonumber(wall)
    local p = page[peer]
    if not p then p = { n = n }; page[peer] = p; order[#order + 1] = peer end
    -- best run, CPU and wall each: noise on a shared machine only ever adds time
    p.cpu = math.min(p.cpu or math.huge, cpu / n)
    p.wall = math.min(p.wall or math.huge, wall / n)
    p.runs = (p.runs or 0) + 1
  elseif k == "instr" then
    local what, side, n = rest:match("^(%S+) (%S+) (%d+)$")
    if not instr[what] then instr[what] = {}; instr_order[#instr_order + 1] = what end
    instr[what][side] = tonumber(n)
  elseif k == "pair" then
    local r, peer, n, cpu, wall = rest:match("^(%d+) (%S+) (%d+) (%S+) (%S+)$")
    r = tonumber(r)
    pairs_[r] = pairs_[r] or {}
    pairs_[r][peer] = { cpu = tonumber(cpu) / tonumber(n), wall = tonumber(wall) / tonumber(n) }
  elseif k == "conns" then
    local b, ids, new = rest:match("^batch (%d+) identities (%d+) new_connections (%d+)$")
    conns[#conns + 1] = { b = tonumber(b), ids = tonumber(ids), new = tonumber(new) }
  elseif k == "conc" then
    local mode, c, wall, reqs = rest:match("^(%S+) (%d+) (%S+) (%d+)$")
    conc[#conc + 1] = { mode = mode, c = tonumber(c), wall = tonumber(wall), reqs = tonumber(reqs) }
  elseif k == "rl" then
    local name, n, lim, win, reqs, n429, done, wall, ideal = rest:match(
      "^(%S+) (%d+) (%d+) (%S+) (%d+) (%d+) (%d+) (%S+) (%S+)$")
    rl[#rl + 1] = { name = name, n = tonumber(n), limit = tonumber(lim), window = tonumber(win),
      reqs = tonumber(reqs), n429 = tonumber(n429), done = tonumber(done), wall = tonumber(wall),
      ideal = tonumber(ideal) }
  elseif k == "nw" then
    local w, mode, n, lim, win, reqs, n429, done, wall, ideal = rest:match(
      "^(%d+) (%S+) (%d+) (%d+) (%S+) (%d+) (%d+) (%d+) (%S+) (%S+)$")
    nw[#nw + 1] = { workers = tonumber(w), mode = mode, n = tonumber(n), limit = tonumber(lim),
      window = tonumber(win), reqs = tonumber(reqs), n429 = tonumber(n429), done = tonumber(done),
      wall = tonumber(wall), ideal = tonumber(ideal) }
  elseif k == "mem" then
    local n, peak, before, toks = rest:match("^(%d+) (%d+) (%d+) (%d+)$")
    mem[#mem + 1] = { n = tonumber(n), peak = tonumber(peak), before = tonumber(before), tokens = tonumber(toks) }
  else
    info[k] = rest
  end
end

local lines = {}
local function say(fmt, ...) lines[#lines + 1] = fmt:format(...) end
local us = function(s) return s * 1e6 end

local function median(t)
  table.sort(t)
  local n = #t
  if n == 0 then return nil end
  return n % 2 == 1 and t[(n + 1) / 2] or (t[n / 2] + t[n / 2 + 1]) / 2
end

-- Step 0: instructions (callgrind) per unit, this checkout beside the baseline commit.
local INSTR_WHAT = {
  list_tokens = "`list_tokens`, one 100-token page (fetch + decode)",
  decode = "decoder alone (`core.parse_tokens` of the page's bytes)",
  list_many = "`list_many`, one identity (two pages, 150 tokens, concurrency 8)",
}
local function instr_section()
  if #instr_order == 0 then return end
  say("### 0. Instructions per page (callgrind), against the baseline `%s`", info.instr_baseline or "?")
  say("")
  say("| workload | baseline | now | now vs baseline |")
  say("|---|---:|---:|---:|")
  for _, what in ipairs(instr_order) do
    local r = instr[what]
    say("| %s | %.3f M | %.3f M | %.3fx |", INSTR_WHAT[what] or what, (r.baseline or 0) / 1e6,
      (r.now or 0) / 1e6, (r.now or 0) / (r.baseline or 1))
  end
  say("")
  local lt = instr.list_tokens
  if lt and lt.now then
    say("- list_tokens at 1.58 M instructions a page or fewer (issue 19): %s (%.3f M)",
      lt.now <= 1.58e6 and "met" or "NOT met", lt.now / 1e6)
    say("")
  end
end

-- Step 1b: the floor and lua-infisical timed in pairs, the ratio of each pair.
local function pair_section()
  local cpu, wall = {}, {}
  for _, p in ipairs(pairs_) do
    if p.floor and p["lua-infisical"] then
      cpu[#cpu + 1] = p["lua-infisical"].cpu / p.floor.cpu
      wall[#wall + 1] = p["lua-infisical"].wall / p.floor.wall
    end
  end
  if #cpu == 0 then return end
  local lo_c, hi_c = math.min(table.unpack(cpu)), math.max(table.unpack(cpu))
  local lo_w, hi_w = math.min(table.unpack(wall)), math.max(table.unpack(wall))
  say("### 1b. Paired timing against the libcurl floor (%d pairs, floor then lua-infisical)", #cpu)
  say("")
  say("| ratio lua-infisical / floor | median | lowest | highest |")
  say("|---|---:|---:|---:|")
  say("| CPU | %.2fx | %.2fx | %.2fx |", median(cpu), lo_c, hi_c)
  say("| wall | %.2fx | %.2fx | %.2fx |", median(wall), lo_w, hi_w)
  say("")
  say("- paired ratio at 2.5x or less (issue 19, median wall): %s (%.2fx; CPU %.2fx)",
    median(wall) <= 2.5 and "met" or "NOT met", median(wall), median(cpu))
  say("")
end

if info.cpu then
  say("Machine: %s, %s RAM; %s", info.cpu, info.ram, info.os)
  say("Versions: %s", info.versions)
  say("Date: %s", info.date)
  say("")
end
instr_section()
pair_section()
if page.floor and page["lua-infisical"] then
say("### 1. Per page: fetch + decode of a recorded 100-token page (%s bytes), nginx on loopback", info.page_bytes)
say("")
say("| peer | pages x runs | CPU µs/page | wall µs/page | CPU vs floor | wall vs floor | CPU vs lua-infisical | wall vs lua-infisical |")
say("|---|---:|---:|---:|---:|---:|---:|---:|")
local floor, li = page.floor, page["lua-infisical"]
for _, peer in ipairs(order) do
  local p = page[peer]
  say("| %s | %d x %d | %.0f | %.0f | %.2fx | %.2fx | %.2fx | %.2fx |", peer, p.n, p.runs,
    us(p.cpu), us(p.wall), p.cpu / floor.cpu, p.wall / floor.wall, p.cpu / li.cpu, p.wall / li.wall)
end
say("")
say("### 2. Concurrency: identities with two pages each, every answer 50 ms late")
say("")
say("| how | concurrency | requests | wall s | speed-up vs loop |")
say("|---|---:|---:|---:|---:|")
local loop
for _, r in ipairs(conc) do if r.mode == "loop" then loop = r end end
local dat = assert(io.open(out .. "/concurrency.dat", "w"))
dat:write("# concurrency wall_s speedup loop_wall_s\n")
for _, r in ipairs(conc) do
  say("| %s | %d | %d | %.2f | %.1fx |", r.mode == "loop" and "loop of all_tokens" or "list_many",
    r.c, r.reqs, r.wall, loop.wall / r.wall)
  if r.mode == "many" then
    dat:write(("%d %.4f %.3f %.4f\n"):format(r.c, r.wall, loop.wall / r.wall, loop.wall))
  end
end
dat:close()
say("")
say("### 3. Memory: peak RSS of stream_many (concurrency 8, two pages per identity)")
say("")
say("| identities | tokens seen | RSS before kB | peak RSS kB | peak vs smallest |")
say("|---:|---:|---:|---:|---:|")
for _, m in ipairs(mem) do
  say("| %d | %d | %d | %d | %.2fx |", m.n, m.tokens, m.before, m.peak, m.peak / mem[1].peak)
end
if #rl > 0 then
  say("")
  say("### 4. Rate limit: %d identities of one page, %d reads per %g s window per address",
    rl[1].n, rl[1].limit, rl[1].window)
  say("")
  say("| how | requests | 429s | identities completed | wall s | ideal s | wall vs ideal |")
  say("|---|---:|---:|---:|---:|---:|---:|")
  for _, r in ipairs(rl) do
    local how = r.name == "loop" and "plain loop, sleeps retry-after on 429"
      or ("list_many, concurrency %s, retries = 0"):format(r.name:match("%d+"))
    say("| %s | %d | %d | %d | %.2f | %d | %.2fx |", how, r.reqs, r.n429, r.done, r.wall,
      r.ideal, r.wall / r.ideal)
  end
end
if #nw > 0 then
  say("")
  say("### 5. nginx workers: %d identities of one page, %d reads per %g s window per address, list_many at concurrency 4 in every worker",
    nw[1].n, nw[1].limit, nw[1].window)
  say("")
  say("| workers | budget | requests | 429s | identities completed | wall s | ideal s |")
  say("|---:|---|---:|---:|---:|---:|---:|")
  for _, r in ipairs(nw) do
    say("| %d | %s | %d | %d | %d | %.2f | %d |", r.workers,
      r.mode == "shared" and "lua_shared_dict infisical_pace" or "per worker", r.reqs, r.n429,
      r.done, r.wall, r.ideal)
  end
end
if #conns > 0 then
  say("")
  say("### 6. Connections per batch: list_many over 8 identities, then 11 times over 2 (keep-alive 1 s)")
  say("")
  local row, later = {}, 0
  for i, c in ipairs(conns) do
    row[#row + 1] = tostring(c.new)
    if i > 1 then later = later + c.new end
  end
  say("New connections per batch: %s (after the first: %d for %d batches of 4 requests).",
    table.concat(row, ", "), later, #conns - 1)
end
say("")
say("### Floors (goals are higher)")
say("")
local worst_peer, worst = nil, 0
for _, peer in ipairs(order) do
  if peer ~= "floor" and peer ~= "lua-infisical" then
    local r = math.min(page[peer].cpu / li.cpu, page[peer].wall / li.wall)
    if worst_peer == nil or r < worst then worst_peer, worst = peer, r end
  end
end
local c32
for _, r in ipairs(conc) do if r.mode == "many" and r.c == 32 then c32 = r end end
local function yes(b) return b and "met" or "NOT met" end
say("- lua-infisical faster than every Lua peer: %s (closest: %s, %.2fx lua-infisical's time)",
  yes(worst > 1), worst_peer, worst)
say("- within 3x the libcurl floor: %s (CPU %.2fx, wall %.2fx)", yes(li.cpu / floor.cpu <= 3 and li.wall / floor.wall <= 3),
  li.cpu / floor.cpu, li.wall / floor.wall)
say("- list_many at concurrency 32 at least 20x the loop: %s (%.1fx)", yes(loop.wall / c32.wall >= 20), loop.wall / c32.wall)
say("- streaming memory flat (%d identities within 1.5x of %d): %s (%.2fx)", mem[#mem].n, mem[1].n,
  yes(mem[#mem].peak / mem[1].peak <= 1.5), mem[#mem].peak / mem[1].peak)

for _, r in ipairs(rl) do
  local c = tonumber(r.name:match("^many(%d+)$"))
  if c then
    say("- rate limit, concurrency %d: every identity, at most %d 429s, within 1.25x of the ideal: %s (%d/%d, %d 429s, %.2fx)",
      c, c, yes(r.done == r.n and r.n429 <= c and r.wall <= 1.25 * r.ideal), r.done, r.n, r.n429,
      r.wall / r.ideal)
  end
end

for _, r in ipairs(nw) do
  if r.mode == "shared" then
    say("- %d nginx workers sharing infisical_pace: every identity, at most 4 429s (one worker's concurrency): %s (%d/%d, %d 429s)",
      r.workers, yes(r.done == r.n and r.n429 <= 4), r.done, r.n, r.n429)
  end
end
end

local text = table.concat(lines, "\n") .. "\n"
io.write(text)
local f = assert(io.open(out .. "/results.md", "w"))
f:write(text)
f:close()
