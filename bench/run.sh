#!/bin/sh
# `make bench`: the measurements of bench/RESULTS.md, side by side on this machine.
# Starts its own nginx on 127.0.0.1 (Debian's, with the Lua module for the latency), runs
# every peer, prints the tables and writes bench/out/results.md and the plots (bench/*.png).
# Sizes can be lowered for a quick look: PAGES=500 SLOW_PAGES=100 IDS=50 MEM_IDS=500 RL_IDS=60 NW_IDS=40 make bench
# Step 0, the instructions per page against the baseline commit (callgrind), runs alone
# as `make bench-instr` (bench/instr.sh); step 1b, the paired timing against the floor,
# is PAIRS pairs of PAIR_PAGES pages each (floor, lua-infisical, floor, ...); step 6 counts
# list_many's new connections per batch (bench/conns.lua).
set -eu
cd "$(dirname "$0")/.."
PAGES=${PAGES:-5000}            # pages per fast peer (each run)
SLOW_PAGES=${SLOW_PAGES:-500}   # pages for the peers that cost milliseconds a page
REPEAT=${REPEAT:-3}             # runs per peer; the best one counts (noise only adds time)
IDS=${IDS:-500}
MEM_IDS=${MEM_IDS:-5000}
RL_IDS=${RL_IDS:-300}           # identities of the rate-limit run (measurement 4)
RL_LIMIT=${RL_LIMIT:-20}        # reads per window the fake server allows one address
RL_WINDOW=${RL_WINDOW:-2}
NW_IDS=${NW_IDS:-120}           # identities of the nginx workers run (measurement 5)
LAT=${LAT:-50}
PAIRS=${PAIRS:-10}
PAIR_PAGES=${PAIR_PAGES:-1000}
OUT=bench/out
BUILD=build/lua5.4
export LUA_PATH="./lua/?.lua;./lua/?/init.lua;./?.lua;;"
export LUA_CPATH="./$BUILD/?.so;;"

cc -O2 -Wall -Wextra -o "$OUT/floor" bench/floor.c $(pkg-config --cflags --libs libcurl)

NGX_PREFIX=$(pwd)/$OUT/nginx
. bench/nginx.sh

RAW=$OUT/raw.txt
: > "$RAW"
{
  echo "date $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "cpu $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs"
  echo "ram $(free -g | awk '/^Mem:/ {print $2}') GB"
  echo "os $(. /etc/os-release; echo "$PRETTY_NAME"), Linux $(uname -r)"
  echo "versions $(lua5.4 -v 2>&1 | cut -d' ' -f1-2), libcurl $(curl-config --version 2>/dev/null | cut -d' ' -f2 || true), $(nginx -v 2>&1 | cut -d' ' -f3), lua-cjson $(dpkg-query -W -f='${Version}' lua-cjson), lua-socket $(dpkg-query -W -f='${Version}' lua-socket), lua-dkjson $(dpkg-query -W -f='${Version}' lua-dkjson)"
  echo "page_bytes $(wc -c < bench/fixtures/page100.json)"
} >> "$RAW"

echo "0. instructions per page (callgrind), this checkout and the baseline" >&2
sh bench/instr.sh >> "$RAW"

echo "1. per page: fetch + decode of the recorded 100-token page, $REPEAT runs each, best counts" >&2
for r in $(seq "$REPEAT"); do
  echo "page floor $PAGES $("$OUT/floor" "$URL" "$PAGES" | cut -d' ' -f1-2)" >> "$RAW"
  for peer in lua-infisical luasocket+cjson; do
    echo "page $peer $PAGES $(lua5.4 bench/peer.lua "$peer" "$URL" "$PAGES")" >> "$RAW"
  done
  for peer in luasocket+dkjson curl+cjson; do
    echo "page $peer $SLOW_PAGES $(lua5.4 bench/peer.lua "$peer" "$URL" "$SLOW_PAGES")" >> "$RAW"
  done
  echo "   run $r done" >&2
done

echo "1b. paired timing: $PAIRS pairs of $PAIR_PAGES pages, floor then lua-infisical" >&2
for r in $(seq "$PAIRS"); do
  echo "pair $r floor $PAIR_PAGES $("$OUT/floor" "$URL" "$PAIR_PAGES" | cut -d' ' -f1-2)" >> "$RAW"
  echo "pair $r lua-infisical $PAIR_PAGES $(lua5.4 bench/peer.lua lua-infisical "$URL" "$PAIR_PAGES")" >> "$RAW"
done

echo "2. concurrency: $IDS identities x 2 pages, ${LAT} ms per answer" >&2
SLOW="$BASE_SLOW"
echo "conc loop 1 $(lua5.4 bench/concurrency.lua "$SLOW" "$IDS" loop)" >> "$RAW"
for c in 1 8 32 64; do
  echo "conc many $c $(lua5.4 bench/concurrency.lua "$SLOW" "$IDS" many "$c")" >> "$RAW"
  echo "   concurrency $c done" >&2
done

echo "3. memory: peak RSS of stream_many" >&2
SMALL=$((MEM_IDS / 100))
for n in "$SMALL" "$MEM_IDS"; do
  echo "mem $n $(lua5.4 bench/memory.lua "$BASE_LAT0" "$n")" >> "$RAW"
done

echo "4. rate limit: $RL_IDS identities, $RL_LIMIT reads per $RL_WINDOW s (the fake server)" >&2
lua5.4 bench/ratelimit.lua "$RL_IDS" "$RL_LIMIT" "$RL_WINDOW" "$OUT/ratelimit.dat" >> "$RAW"

echo "5. nginx workers: $NW_IDS identities, $RL_LIMIT reads per $RL_WINDOW s, 1-4 workers" >&2
make -s luajit
lua5.4 bench/workers.lua "$NW_IDS" "$RL_LIMIT" "$RL_WINDOW" "$OUT/workers.dat" >> "$RAW"

echo "6. connections per batch: list_many of 2 identities 11 times after one of 8 and a pause past the keep-alive" >&2
lua5.4 bench/conns.lua "$BASE_IDLE" 12 idle | sed 's/^/conns /' >> "$RAW"

echo "7. audit --org under the rate limit: $RL_IDS identities, half Token Auth, half Universal Auth (client secrets)" >&2
lua5.4 bench/audit_org.lua "$RL_IDS" "$RL_LIMIT" "$RL_WINDOW" 8 | tee "$OUT/audit_org.txt" | sed -n 2p >&2

lua5.4 bench/report.lua "$RAW" "$OUT"
gnuplot bench/concurrency.gp && echo "wrote bench/concurrency.png" >&2
gnuplot bench/ratelimit.gp && echo "wrote bench/ratelimit.png" >&2
gnuplot bench/workers.gp && echo "wrote bench/workers.png" >&2
