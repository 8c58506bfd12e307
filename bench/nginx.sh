# Sourced by bench/run.sh and bench/instr.sh: starts the bench's nginx (bench/nginx.conf.in)
# under $NGX_PREFIX with every answer $LAT ms late on the slow port, stops it on exit, and
# sets the base URLs: BASE_PAGE (the recorded page at once), BASE_LAT0 (two pages per
# identity), BASE_SLOW (the same, $LAT ms late), BASE_IDLE (keep-alive 1 s).
mkdir -p "$NGX_PREFIX/tmp"
set -- $(python3 -c '
import socket
ss = [socket.socket() for _ in range(4)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
sed -e "s|@PREFIX@|$NGX_PREFIX|g" -e "s|@ROOT@|$(pwd)/bench/fixtures|g" -e "s|@LAT@|${LAT:-50}|g" \
  -e "s|@PORT_PAGE@|$1|g" -e "s|@PORT_LAT0@|$2|g" -e "s|@PORT_SLOW@|$3|g" -e "s|@PORT_IDLE@|$4|g" \
  bench/nginx.conf.in > "$NGX_PREFIX/nginx.conf"
nginx -p "$NGX_PREFIX" -c "$NGX_PREFIX/nginx.conf" -e "$NGX_PREFIX/error.log"
trap 'kill "$(cat "$NGX_PREFIX/nginx.pid")" 2>/dev/null || true' EXIT INT TERM
BASE_PAGE=http://127.0.0.1:$1
BASE_LAT0=http://127.0.0.1:$2
BASE_SLOW=http://127.0.0.1:$3
BASE_IDLE=http://127.0.0.1:$4
BENCH_ID=9a3c5e1f-2b4d-4e6f-8a1b-3c5d7e9f1a2b
URL="$BASE_PAGE/api/v1/auth/token-auth/identities/$BENCH_ID/tokens?offset=0&limit=100"
for _ in 1 2 3 4 5 6 7 8 9 10; do
  curl -sf -o /dev/null "$URL" && break
  sleep 0.2
done
