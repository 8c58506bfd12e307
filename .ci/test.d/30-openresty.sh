# OpenResty runs LuaJIT (the Lua 5.1 C API): the same C sources built for it must pass
# the specs too. spec/30-openresty_spec.lua (a real nginx) already runs in the main suite.

# The rock builds and installs for 5.1 against LuaJIT's headers (no liblua5.1-dev needed),
# and what it installed loads in luajit.
openresty_rock() {
  tree=build/rocks-luajit
  if luarocks --lua-version=5.1 make --deps-mode=none --tree="$tree" \
       lua-infisical-scm-1.rockspec LUA_INCDIR=/usr/include/luajit-2.1 >"$LOG/rock-luajit.build" 2>&1; then
    echo "ok 1 - luarocks --lua-version=5.1 make (LUA_INCDIR=/usr/include/luajit-2.1)"
  else
    cat "$LOG/rock-luajit.build"; echo "not ok 1 - luarocks --lua-version=5.1 make"
  fi
  if luajit -e "package.path='$tree/share/lua/5.1/?.lua;$tree/share/lua/5.1/?/init.lua;'..package.path
      package.cpath='$tree/lib/lua/5.1/?.so;'..package.cpath
      local i = require 'infisical'
      assert(require 'resty.infisical' == i)
      assert(package.searchpath('infisical.core', package.cpath):find('$tree', 1, true))
      assert(i.new{ token = 'x', base_url = 'http://127.0.0.1:1' })"; then
    echo "ok 2 - the installed rock loads in luajit"
  else
    echo "not ok 2 - the installed rock loads in luajit"
  fi
}
run_suite rock-luajit openresty_rock

# The C core and its decoder (exact numbers, memory errors), list_many's multi, token status,
# TLS and input checks, and pacing from every path (header values parse alike) on LuaJIT. Left out:
# 02-client asserts Lua 5.3 integer subtypes (math.type); 05-readme runs the README's
# first example on LuaJIT itself; 30-openresty ran already; the rest would add minutes
# for code that has no version-specific part.
run_suite luajit sh -c 'make -s luajit && busted --lua=luajit --cpath="./build/luajit/?.so" -o TAP \
  spec/01-core_spec.lua spec/11-decode_spec.lua spec/10-many_spec.lua spec/20-status_spec.lua spec/41-tls_spec.lua \
  spec/42-input_spec.lua spec/14-pacing_paths_spec.lua'
