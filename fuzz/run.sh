#!/bin/sh
# Runs every libFuzzer target for a bounded time from its committed seed corpus and
# prints one TAP line per target: "ok" only when the run ended without a crash, a
# sanitizer report, a leak or a timeout. New inputs go to a temporary copy of the
# corpus; a crashing input is kept in build/fuzz/ (the path is printed).
#   sh fuzz/run.sh [SECONDS_PER_TARGET]    (default 30)
set -u
cd "$(dirname "$0")/.."
SECS=${1:-30}
make -s fuzz >/dev/null || { echo "not ok 1 - make fuzz failed"; exit 1; }
n=0
fail=0
for t in fuzz_response fuzz_request; do
  n=$((n + 1))
  work=$(mktemp -d)
  cp fuzz/corpus/$t/* "$work"/
  log=build/fuzz/$t.log
  ./build/fuzz/$t -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -detect_leaks=1 \
    -dict=fuzz/json.dict -print_final_stats=1 -artifact_prefix=build/fuzz/$t- \
    "$work" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  cov=$(grep -E '^#[0-9]+' "$log" | tail -1 | sed -n 's/.*cov: \([0-9]*\) ft: \([0-9]*\) corp: \([0-9]*\).*/\1 edges, \2 features, corpus \3/p')
  seeds=$(ls fuzz/corpus/$t | wc -l)
  if [ "$rc" -eq 0 ] && ! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$log"; then
    echo "ok $n - $t: $runs runs in ${SECS}s from $seeds seeds, $cov"
  else
    echo "not ok $n - $t: exit $rc after $runs runs (log: $log)"
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -20 | sed 's/^/# /'
    fail=1
  fi
  rm -rf "$work"
done
echo "1..$n"
exit $fail
