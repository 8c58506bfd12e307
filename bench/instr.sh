#!/bin/sh
# `make bench-instr` (also step 0 of `make bench`): instructions per page, counted by
# callgrind (exact, unlike times on a shared machine), for this checkout and for a baseline
# commit built in a temporary git worktree under build/ (never committed), side by side:
#   list_tokens   client:list_tokens(id, { limit = 100 }) of the recorded 100-token page
#   decode        core.parse_tokens of the same bytes (the decoder alone, no transport)
#   list_many     one identity of list_many (two pages: 100 + 50 tokens, concurrency 8)
# Each figure is (instructions of a run of N+1 minus those of a run of 1) / N, so start-up,
# module loading and the first connection are left out (bench/instr.lua).
# Prints "instr WORKLOAD SIDE PER_UNIT" lines (bench/report.lua reads them) to stdout.
#   BASELINE=<commit> (default below: the last commit before the 1.0 round, issue 19)
#   N=400 N_MANY=100 make bench-instr   (pages, identities per count; more averages the
#   garbage collector's cycles better: ±1.5 % at 400)
set -eu
cd "$(dirname "$0")/.."
BASELINE=${BASELINE:-fd11393}
N=${N:-400}
N_MANY=${N_MANY:-100}
OUT=bench/out
mkdir -p "$OUT"

# The baseline's module, from its own sources (a detached worktree, rebuilt when missing).
BASEDIR=build/baseline-$BASELINE
if [ ! -f "$BASEDIR/build/lua5.4/infisical/core.so" ]; then
  git worktree remove --force "$BASEDIR" 2>/dev/null || rm -rf "$BASEDIR"
  git worktree prune
  git worktree add --detach "$BASEDIR" "$BASELINE" >&2
  make -C "$BASEDIR" >&2
fi

NGX_PREFIX=$(pwd)/$OUT/nginx-instr
. bench/nginx.sh

# instructions of one callgrind run: count DIR WORKLOAD WHERE RUNS
count() {
  f=$OUT/callgrind.instr.out
  LUA_PATH="./$1/lua/?.lua;./$1/lua/?/init.lua;./bench/?.lua;;" LUA_CPATH="./$1/build/lua5.4/?.so;;" \
    valgrind --tool=callgrind --callgrind-out-file="$f" lua5.4 bench/instr.lua "$2" "$3" "$4" 2>/dev/null
  sed -n 's/^summary: *//p' "$f"
}
per() {  # per DIR WORKLOAD WHERE RUNS
  one=$(count "$1" "$2" "$3" 1)
  many=$(count "$1" "$2" "$3" $(($4 + 1)))
  echo $(((many - one) / $4))
}
for side in baseline now; do
  dir=.; [ "$side" = baseline ] && dir=$BASEDIR
  echo "instr list_tokens $side $(per "$dir" list_tokens "$URL" "$N")"
  echo "instr decode $side $(per "$dir" decode bench/fixtures/page100.json "$N")"
  echo "instr list_many $side $(per "$dir" list_many "$BASE_LAT0" "$N_MANY")"
  echo "   instructions: $side done" >&2
done
echo "instr_baseline $(git rev-parse --short "$BASELINE") $(git log -1 --format=%s "$BASELINE" | cut -c1-60)"
