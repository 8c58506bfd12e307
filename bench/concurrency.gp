# The concurrency curve of bench/RESULTS.md (measurement 2), from bench/out/concurrency.dat.
set terminal pngcairo size 800,480 font "sans,11" noenhanced
set output "bench/concurrency.png"
set title "list_many: 500 identities x 2 pages, 50 ms per answer"
set xlabel "concurrency (transfers in flight)"
set ylabel "wall time (s), log scale"
set logscale xy
set xtics (1, 8, 32, 64)
set grid
set key top right
stats "bench/out/concurrency.dat" using 4 nooutput
loop = STATS_max
plot "bench/out/concurrency.dat" using 1:2 with linespoints lw 2 pt 7 title "list_many", \
     "" using 1:2:(sprintf("%.1fx", $3)) with labels offset 0,1.2 notitle, \
     loop with lines dt 2 lw 2 title sprintf("plain loop of all_tokens (%.1f s)", loop)
