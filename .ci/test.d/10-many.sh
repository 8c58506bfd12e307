# list_many's C side (infisical.Multi: pooled handles, abort, close with transfers in
# flight) and the JSON decoder (src/jsondec.c) under valgrind memcheck, like the core's
# specs in .ci/test.
run_suite many-valgrind valgrind --quiet --error-exitcode=99 --leak-check=full \
  --errors-for-leak-kinds=definite --show-leak-kinds=definite --track-fds=no \
  lua5.4 /usr/bin/busted -o TAP spec/10-many_spec.lua spec/11-decode_spec.lua
