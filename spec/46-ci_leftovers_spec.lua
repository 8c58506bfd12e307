-- .ci/run ends with .ci/test-leftovers: the suite's total stays the last line, and a
-- process the suite left running (found by the marks it inherited, never by its name)
-- is named, stopped and counted as a failure in that line (issue 18 §4).
local fake = require "spec.fake_client"

local SCRIPT = ".ci/test-leftovers"

local function alive(pid)
  local stat = fake.read_file("/proc/" .. pid .. "/stat")
  return stat ~= nil and not stat:match("^%d+ %b() [ZX]")
end

-- Runs the wrapper around a shell command: output lines, exit status.
local function wrap(cmd)
  local out, rc = fake.run("bash " .. SCRIPT .. " sh -c " .. fake.shellquote(cmd) .. " 2>&1")
  local lines = {}
  for l in (out .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = l end
  while lines[#lines] == "" do lines[#lines] = nil end
  return lines, rc, out
end

describe(".ci/test-leftovers", function()
  it("passes the total through when nothing is left, as the last line", function()
    local lines, rc = wrap('echo "ok 1 - a"; echo "tests: 3 passed, 0 failed"; echo after')
    assert.equal("tests: 3 passed, 0 failed", lines[#lines])
    assert.equal("after", lines[#lines - 1])
    assert.equal(0, rc)
  end)

  it("counts a command failing without a failed test", function()
    local lines, rc = wrap('echo "tests: 2 passed, 0 failed"; exit 3')
    assert.equal("tests: 2 passed, 1 failed", lines[#lines])
    assert.is_not.equal(0, rc)
    lines = wrap("echo nothing")
    assert.equal("tests: 0 passed, 1 failed", lines[#lines])
  end)

  it("names, stops and counts what the run left running, and only that", function()
    -- not started by the run: left alone, whatever its name
    local other = tonumber((fake.run("sleep 300 >/dev/null 2>&1 </dev/null & echo $!")))
    local pidfile = os.tmpname()
    -- one keeps the inherited descriptor, one only the environment (closed descriptors,
    -- as Python's subprocess leaves them)
    local lines, rc, out = wrap(("sleep 301 >/dev/null 2>&1 </dev/null & echo $! > %s; "
      .. "sleep 302 >/dev/null 2>&1 </dev/null 9<&- & echo $! >> %s; "
      .. 'echo "ok 1"; echo "tests: 1 passed, 0 failed"'):format(pidfile, pidfile))
    local pids = {}
    for p in (fake.read_file(pidfile) or ""):gmatch("%d+") do pids[#pids + 1] = tonumber(p) end
    os.remove(pidfile)
    local other_alive = alive(other)
    os.execute("kill " .. other .. " 2>/dev/null")
    assert.equal(2, #pids)
    assert.equal("tests: 1 passed, 2 failed", lines[#lines])
    assert.is_not.equal(0, rc)
    for _, pid in ipairs(pids) do
      assert.matches("left running by the tests: pid " .. pid .. " (sleep)", out, 1, true)
      assert.is_false(alive(pid), "pid " .. pid .. " still runs")
    end
    assert.not_matches("pid " .. other .. " ", out, 1, true)
    assert.is_true(other_alive)
  end)
end)
