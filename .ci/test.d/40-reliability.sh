# Reliability suites (issue 6; figures in RELIABILITY.md). Sourced by .ci/test.
#
# 1. asan: the whole spec suite against infisical.core built with ASan+UBSan, run by
#    build/asan/lua-asan (a lua5.4 linked with the sanitizers: see sanitize/lua-asan.c).
#    Any sanitizer report aborts the process, so the suite fails. RSS bounds are scaled:
#    the shadow memory and quarantine are ASan's, and ASan checks the memory itself.
#    It spends most of its ~4 minutes waiting on sockets and timeouts, so it runs in the
#    background while valgrind and the fuzzers (CPU-bound, one core each) run; its TAP
#    is counted when it ends.
# 2. reliability-valgrind: memcheck over the specs that drive the C module and are not
#    already run under valgrind (01 and 02 in .ci/test, 10 in 10-many.sh). The long run
#    is scaled down (valgrind runs ~30x slower): 2,000 calls and 300 clients take every
#    code path of the 20,000/5,000 plain run. A whole-suite valgrind run is recorded in
#    RELIABILITY.md: at 7.5 minutes on 2 cores it does not fit every CI run.
# 3. fuzz: each libFuzzer target 30 s from its committed seed corpus.
if make -s asan >"$LOG/asan-build.log" 2>&1; then
  # quarantine_size_mb: ASan keeps freed memory aside (256 MB by default) and the RSS
  # grows until that is full, whatever the code does: spec 43 alone grew 233 MB with the
  # default and 3.5 MB with 32 MB. The long-run bounds measure our growth, not the
  # quarantine's filling, so it is kept small enough to be full before they measure.
  ( env ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1:quarantine_size_mb=32 \
      UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 RSS_BOUND_FACTOR=16 \
      build/asan/lua-asan /usr/bin/busted --cpath='./build/asan/?.so' -o TAP spec \
      >"$LOG/asan.out" 2>&1
    echo $? >"$LOG/asan.rc" ) &
  ASAN_JOB=$!
else
  echo 1 >"$LOG/asan.rc"
  cp "$LOG/asan-build.log" "$LOG/asan.out"
  ASAN_JOB=
fi

run_suite reliability-valgrind env RSS_BOUND_FACTOR=16 LONGRUN_CALLS=2000 LONGRUN_CLIENTS=300 \
  valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
  --show-leak-kinds=definite --track-fds=no \
  lua5.4 /usr/bin/busted -o TAP spec/21-auth_spec.lua spec/40-hostile_spec.lua \
  spec/41-tls_spec.lua spec/42-input_spec.lua spec/43-longrun_spec.lua

run_suite fuzz sh fuzz/run.sh 30

asan_result() {
  [ -n "$ASAN_JOB" ] && wait "$ASAN_JOB"
  cat "$LOG/asan.out"
  return "$(cat "$LOG/asan.rc")"
}
run_suite asan asan_result
