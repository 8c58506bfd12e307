rockspec_format = "3.0"
package = "lua-infisical"
-- The repository's head. A release rockspec (lua-infisical-X.Y.Z-1.rockspec, whose
-- source is the release tarball) and its .src.rock are written by `make dist`, from this
-- file: see docs/releasing.md.
version = "scm-1"
source = {
   url = "git+https://github.com/lua-infisical/lua-infisical.git",
   branch = "main",
}
description = {
   summary = "List Infisical machine-identity tokens from Lua (libcurl C core, native tables)",
   detailed = [[
A C module binds Infisical's token-listing call with libcurl and returns native Lua
tables; a Lua layer adds paging iterators, filters, retries and clear errors.
Works with Lua 5.1 to 5.4 and LuaJIT.]],
   homepage = "https://github.com/lua-infisical/lua-infisical",
   license = "MIT",
   labels = { "infisical", "secrets", "curl", "openresty" },
}
dependencies = {
   "lua >= 5.1",
   "lua-cjson",
}
external_dependencies = {
   -- Only the library is looked up: on Debian and Ubuntu curl/curl.h sits in the
   -- multiarch folder (/usr/include/x86_64-linux-gnu), where LuaRocks does not look for
   -- headers, while the C compiler finds it on its own. Set CURL_INCDIR if yours does not.
   CURL = { library = "curl" },
}
build = {
   type = "builtin",
   modules = {
      ["infisical.core"] = {
         sources = {
            "src/core.c", "src/config.c", "src/errors.c", "src/request.c",
            "src/response.c", "src/session.c", "src/xfer.c", "src/multi.c", "src/jsondec.c",
         },
         defines = { "_POSIX_C_SOURCE=200809L" },
         libraries = { "curl" },
         incdirs = { "$(CURL_INCDIR)" },
         libdirs = { "$(CURL_LIBDIR)" },
      },
      ["infisical"] = "lua/infisical/init.lua",
      ["resty.infisical"] = "lua/resty/infisical.lua",
      ["infisical.options"] = "lua/infisical/options.lua",
      ["infisical.filters"] = "lua/infisical/filters.lua",
      ["infisical.walk"] = "lua/infisical/walk.lua",
      ["infisical.retry"] = "lua/infisical/retry.lua",
      ["infisical.pace"] = "lua/infisical/pace.lua",
      ["infisical.attempt"] = "lua/infisical/attempt.lua",
      ["infisical.http"] = "lua/infisical/http.lua",
      ["infisical.secrets"] = "lua/infisical/secrets.lua",
      ["infisical.many"] = "lua/infisical/many.lua",
      ["infisical.identities"] = "lua/infisical/identities.lua",
      ["infisical.client_secrets"] = "lua/infisical/client_secrets.lua",
      ["infisical.transport.curl"] = "lua/infisical/transport/curl.lua",
      ["infisical.transport.cosocket"] = "lua/infisical/transport/cosocket.lua",
      ["infisical.transport.auto"] = "lua/infisical/transport/auto.lua",
      ["infisical.transport.cosocket_engine"] = "lua/infisical/transport/cosocket_engine.lua",
      ["infisical.transport.serial"] = "lua/infisical/transport/serial.lua",
      ["infisical.server"] = "lua/infisical/server.lua",
      ["infisical.status"] = "lua/infisical/status.lua",
      ["infisical.auth"] = "lua/infisical/auth.lua",
      ["infisical.redact"] = "lua/infisical/redact.lua",
      ["infisical.cli"] = "lua/infisical/cli.lua",
      ["infisical.cli.args"] = "lua/infisical/cli/args.lua",
      ["infisical.cli.audit"] = "lua/infisical/cli/audit.lua",
      ["infisical.cli.audit_report"] = "lua/infisical/cli/audit_report.lua",
      ["infisical.cli.common"] = "lua/infisical/cli/common.lua",
      ["infisical.cli.help"] = "lua/infisical/cli/help.lua",
      ["infisical.cli.identities"] = "lua/infisical/cli/identities.lua",
      ["infisical.cli.ids"] = "lua/infisical/cli/ids.lua",
      ["infisical.cli.list"] = "lua/infisical/cli/list.lua",
      ["infisical.cli.output"] = "lua/infisical/cli/output.lua",
      ["infisical.cli.revoke"] = "lua/infisical/cli/revoke.lua",
      ["infisical.cli.revoke_secret"] = "lua/infisical/cli/revoke_secret.lua",
      ["infisical.cli.secrets"] = "lua/infisical/cli/secrets.lua",
   },
   -- The guides the README links to (docs/api.md, docs/cli.md, ...), installed beside it
   -- (`luarocks doc lua-infisical` opens the folder).
   copy_directories = { "docs" },
   install = {
      -- LuaRocks wraps it in a launcher that runs it with the tree's Lua and paths.
      bin = { ["infisical-tokens"] = "bin/infisical-tokens" },
   },
}
test = {
   type = "command",
   command = "make test",
}
