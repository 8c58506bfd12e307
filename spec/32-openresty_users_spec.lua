-- What OpenResty users expect: the module under the name `resty.infisical`, and an error
-- naming this library's option when a lua-resty-http option is passed.
local fake = require "spec.fake_client"

describe("for OpenResty users", function()
  it("require 'resty.infisical' is require 'infisical', from the installed rock too", function()
    assert.equal(require "infisical", require "resty.infisical")
    local tree = fake.run("mktemp -d /tmp/lua-infisical-rock.XXXXXX")
    assert(tree:match("^/tmp/lua%-infisical%-rock"), tree)
    local log, rc = fake.run("luarocks --lua-version=5.4 make --deps-mode=none --tree="
      .. fake.shellquote(tree) .. " lua-infisical-scm-1.rockspec 2>&1")
    local out, rc2 = fake.run("cd / && lua5.4 -e " .. fake.shellquote(([[
      package.path = %q .. "/share/lua/5.4/?.lua;" .. %q .. "/share/lua/5.4/?/init.lua;" .. package.path
      package.cpath = %q .. "/lib/lua/5.4/?.so;" .. package.cpath
      local r = require "resty.infisical"
      assert(package.searchpath("resty.infisical", package.path):find(%q, 1, true))
      assert(r == require "infisical" and type(r.new) == "function")
      io.write("ok")]]):format(tree, tree, tree, tree)) .. " 2>&1")
    fake.run("rm -rf " .. fake.shellquote(tree))
    assert.equal(0, rc, log)
    assert.same({ 0, "ok" }, { rc2, out })
  end)

  local infisical = require "infisical"
  local function new_error(opts)
    opts.token, opts.base_url = "x", "http://127.0.0.1:1"
    local ok, err = pcall(infisical.new, opts)
    assert.is_false(ok)
    return err
  end

  it("names verify_tls when given lua-resty-http's ssl_verify", function()
    assert.matches("unknown option 'ssl_verify' (use verify_tls = true or false)",
      new_error{ ssl_verify = false }, 1, true)
  end)

  it("names timeout for read_timeout and send_timeout, in seconds", function()
    assert.matches("unknown option 'read_timeout' (use timeout, in seconds, for the whole request)",
      new_error{ read_timeout = 5000 }, 1, true)
    assert.matches("unknown option 'send_timeout' (use timeout",
      new_error{ send_timeout = 5000 }, 1, true)
  end)

  it("points pooling options to nginx.conf", function()
    assert.matches("lua_socket_keepalive_timeout", new_error{ keepalive_timeout = 60000 }, 1, true)
    assert.matches("lua_socket_pool_size", new_error{ keepalive_pool = 10 }, 1, true)
  end)

  it("refuses a connect_timeout in milliseconds, saying so", function()
    local err = new_error{ connect_timeout = 5000 }
    assert.matches("bad argument 'connect_timeout'", err, 1, true)
    assert.matches("seconds, not milliseconds as in lua-resty-http", err, 1, true)
    assert.matches("seconds, not milliseconds", new_error{ timeout = 100000 }, 1, true)
    -- seconds still work
    assert.is_table((infisical.new{ token = "x", base_url = "http://127.0.0.1:1", connect_timeout = 999 }))
  end)

  it("git ignores what running the example leaves (logs/, tmp/)", function()
    for _, path in ipairs{ "examples/openresty/logs/error.log", "examples/openresty/logs/nginx.pid",
        "examples/openresty/tmp/client_body/0000000001" } do
      local out, rc = fake.run("git check-ignore -q " .. fake.shellquote(path) .. " 2>&1")
      assert.equal(0, rc, path .. " is not ignored " .. out)
    end
    -- and the example itself is not
    local _, rc = fake.run("git check-ignore -q examples/openresty/handler.lua")
    assert.equal(1, rc)
  end)

  it("says nothing extra for a plain unknown option", function()
    assert.matches("unknown option 'colour'$", new_error{ colour = 1 })
  end)
end)
