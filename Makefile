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

.PHONY: all test test-real deps demo clean rock luajit bench

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

# Run from the checkout: the modules come from lua/ and build/.
RUN_ENV = LUA_PATH="./lua/?.lua;./lua/?/init.lua;./?.lua;;" LUA_CPATH="./$(BUILD)/?.so;;"

demo: all
	@$(RUN_ENV) $(LUA) examples/demo.lua

rock:
	luarocks --lua-version=$(LUA_VERSION) make --deps-mode=none --tree=build/rocks lua-infisical-0.1.0-1.rockspec

clean:
	rm -rf build

# make asan, make fuzz: see sanitize/sanitize.mk
include sanitize/sanitize.mk
