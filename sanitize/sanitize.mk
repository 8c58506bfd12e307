# Sanitizer and fuzzing builds (included by the Makefile). Everything goes to its own
# build folder, so the normal build/lua5.4/infisical/core.so is never replaced.
#   make asan   -> build/asan/lua-asan (interpreter) + build/asan/infisical/core.so
#   make fuzz   -> build/fuzz/fuzz_response, build/fuzz/fuzz_request
SAN_CC ?= clang
SAN_FLAGS = -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
SAN_LUA_INC ?= /usr/include/lua5.4

.PHONY: asan fuzz

asan: build/asan/lua-asan build/asan/infisical/core.so

build/asan/lua-asan: sanitize/lua-asan.c
	@mkdir -p $(dir $@)
	$(SAN_CC) $(SAN_FLAGS) -I$(SAN_LUA_INC) $< -o $@ -llua5.4 -lm

build/asan/infisical/core.so: $(SRC) $(HDR)
	@mkdir -p $(dir $@)
	$(SAN_CC) $(WARN) $(SAN_FLAGS) -fPIC -shared -I$(SAN_LUA_INC) $(CURL_INC) $(SRC) -o $@ -lcurl

FUZZERS = build/fuzz/fuzz_response build/fuzz/fuzz_request
fuzz: $(FUZZERS)

build/fuzz/%: fuzz/%.c fuzz/harness.h $(SRC) $(HDR)
	@mkdir -p $(dir $@)
	$(SAN_CC) $(WARN) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	  -I$(SAN_LUA_INC) $(CURL_INC) -Isrc $< $(SRC) -o $@ -llua5.4 -lcurl -lm
