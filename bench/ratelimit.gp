# Requests per second of measurement 4 (bench/RESULTS.md), from bench/out/ratelimit.dat:
# what the fake server received each second, the plain loop beside list_many.
set terminal pngcairo size 800,480 font "sans,11" noenhanced
set output "bench/ratelimit.png"
set title "requests per second under a limit of 20 reads per 2 s window"
set xlabel "seconds since the first request"
set ylabel "requests received"
set grid
set key top right
plot "bench/out/ratelimit.dat" using 1:2 with steps lw 2 title "plain loop (sleeps retry-after on 429)", \
     "" using 1:3 with steps lw 2 title "list_many, concurrency 8", \
     "" using 1:4 with steps lw 2 dt 2 title "list_many, concurrency 64"
