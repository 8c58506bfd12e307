# lua-infisical. `make` builds the C module for Lua 5.4 into build/; `make test` runs every test.
LUA_VERSION ?= 5.4
LUA ?= lua$(LUA_VERSION)
LUA_INC ?= /usr/include/lua$(LUA_VERSION)
# Debian keeps curl/curl.h in the multiarch folder.
CURL_INC ?= $(shell pkg-config --cflags-only-I libcurl 2>/dev/null) -I/usr/include/$(shell gcc -print-multiarch 2>/dev/null)
CC ?= gcc
CFLAGS ?= -O2 -g
WARN = -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wshadow -Wno-unused-parameter
BUILD ?= build/lua$(LUA_VERSION)
SRC = $(wildcard src/*.c)
HDR = $(wildcard src/*.h)
BUSTED ?= busted --lua=$(LUA)

.PHONY: all test test-real deps demo demo-serve clean rock luajit bench bench-instr dist doc docs-cli docs-api

all: $(BUILD)/infisical/core.so

$(BUILD)/infisical/core.so: $(SRC) $(HDR)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) -fPIC -shared -I$(LUA_INC) $(CURL_INC) $(SRC) -o $@ -lcurl

# The same sources for LuaJIT/OpenResty (Lua 5.1 API). Never link liblua/libluajit.
luajit:
	$(MAKE) LUA_VERSION=5.1 LUA=luajit LUA_INC=/usr/include/luajit-2.1 BUILD=build/luajit

deps:
	sh .ci/deps

test: all
	sh .ci/test

# The live suite alone: a real Infisical backend, built and started from
# INFISICAL_BACKEND_SRC (a checkout's backend/ folder or a .tar.gz of it). See spec/live/run.sh.
test-real: all
	bash spec/live/run.sh

# Speed and memory side by side on this machine (bench/RESULTS.md); never part of `make test`.
bench: all
	sh .ci/deps bench
	sh bench/run.sh

# Only bench's step 0: instructions per page (callgrind) beside the baseline commit's,
# built in a git worktree under build/ (bench/instr.sh; about a minute).
bench-instr: all
	sh bench/instr.sh | lua5.4 bench/report.lua - bench/out

# Run from the checkout: the modules come from lua/ and build/.
RUN_ENV = LUA_PATH="./lua/?.lua;./lua/?/init.lua;./?.lua;;" LUA_CPATH="./$(BUILD)/?.so;;"

demo: all
	@$(RUN_ENV) $(LUA) examples/demo.lua

# the demo's fake server, kept running to try infisical-tokens on (Enter stops it)
demo-serve: all
	@$(RUN_ENV) $(LUA) examples/demo.lua --serve

# Builds and installs the checkout into build/rocks (what CI does first).
rock:
	luarocks --lua-version=$(LUA_VERSION) make --deps-mode=none --tree=build/rocks lua-infisical-scm-1.rockspec

# The HTML API reference, from the doc comments (config.ld), in build/doc/. LDoc's
# warnings fail it, and so does anything else it prints besides its two progress lines.
doc:
	@rm -rf build/doc; mkdir -p build
	@ldoc --fatalwarnings --testing . >build/ldoc.log 2>&1; rc=$$?; \
	 if [ $$rc -ne 0 ] || grep -v -e '^reading configuration from config.ld$$' -e '^output written to ' build/ldoc.log >/dev/null; then \
	   cat build/ldoc.log; echo "make doc: LDoc warned (above)" >&2; exit 1; fi
	@echo "API reference: build/doc/index.html"

# docs/cli.md's reference part is help.lua's texts; a spec fails when it is stale.
docs-cli:
	@$(LUA) .ci/docs-cli.lua

docs-api:
	@$(LUA) .ci/docs-api.lua

# Release files in dist/: the tarball, its rockspec and the .src.rock (docs/releasing.md).
dist:
	sh .ci/dist

clean:
	rm -rf build dist

# make asan, make fuzz: see sanitize/sanitize.mk
include sanitize/sanitize.mk
