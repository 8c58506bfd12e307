# Requests per second of measurement 5 (bench/RESULTS.md), from bench/out/workers.dat:
# 4 nginx workers under one limit, each pacing alone beside all sharing infisical_pace.
set terminal pngcairo size 800,480 font "sans,11" noenhanced
set output "bench/workers.png"
set title "4 nginx workers under a limit of 20 reads per 2 s window"
set xlabel "seconds since the first request"
set ylabel "requests received"
set grid
set key top right
plot "bench/out/workers.dat" using 1:2 with steps lw 2 title "a budget per worker (no lua_shared_dict)", \
     "" using 1:3 with steps lw 2 title "lua_shared_dict infisical_pace"
