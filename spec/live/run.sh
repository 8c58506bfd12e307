#!/bin/bash
# The live suite: lua-infisical against a REAL Infisical backend, built and started here.
#
#   INFISICAL_BACKEND_SRC=/path/to/infisical/backend bash spec/live/run.sh   (or make test-real)
#   ... bash spec/live/run.sh --serve    starts and seeds, then waits (for writing specs)
#
# INFISICAL_BACKEND_SRC is Infisical's backend/ folder (a checkout's) or a .tar.gz holding it.
# This script copies it into build/live/backend (npm install and native modules cached there
# between runs), starts a private PostgreSQL 15 and Redis on 127.0.0.1 and the backend in
# production mode (its rate limiter on), seeds an organisation, identities and a few hundred
# tokens through the API (spec/live/seed.mjs), then runs spec/live/*_live.lua with busted
# (TAP). Everything it starts runs in its own process group and is stopped on exit.
# Needs: node 20 + npm, PostgreSQL 15's server binaries, redis-server, python3, busted.
set -u
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
W=$ROOT/build/live
LOGS=$W/logs
mkdir -p "$W" "$LOGS"
T0=$(date +%s)

say() { echo "# live: $* ($(( $(date +%s) - T0 )) s)"; }
# fail WHAT: one failing TAP line naming the step, the tail of its log, exit 1
fail() {
  echo "not ok 1 - live suite setup: $1"
  [ -n "${2:-}" ] && [ -f "$2" ] && tail -n 40 "$2" | sed 's/^/#   /'
  exit 1
}

SRC=${INFISICAL_BACKEND_SRC:-}
[ -n "$SRC" ] || fail "INFISICAL_BACKEND_SRC is not set (an Infisical checkout's backend/ folder, or a .tar.gz of it)"
[ -e "$SRC" ] || fail "INFISICAL_BACKEND_SRC=$SRC does not exist"
SRC=$(readlink -f "$SRC")

PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
for tool in node npm python3 redis-server busted "$PGBIN/initdb" "$PGBIN/pg_ctl"; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool not found (node 20, npm, PostgreSQL 15, redis-server, busted)"
done

# ---------------------------------------------------------------------------------------
# Everything started below is recorded here and stopped by cleanup, whatever happens.
PIDS=""
PGDATA=""
BASE=""
RUNDIR=$(mktemp -d /tmp/lua-infisical-live.XXXXXX)
chmod 755 "$RUNDIR"
cleanup() {
  for pid in $PIDS; do kill -TERM -- "-$pid" 2>/dev/null; done
  # an nginx of spec/live/06 daemonizes out of our process groups: if a spec run died before
  # stopping it, it is found by the line naming our backend in its nginx.conf (ours alone)
  if [ -n "${BASE:-}" ]; then
    for p in $(pgrep -f '^nginx: master process' 2>/dev/null); do
      prefix=$(tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | sed -n 's/^nginx: master process.* -p \([^ ]*\).*/\1/p')
      if [ -n "$prefix" ] && grep -qx "# live suite: $BASE" "$prefix/conf/nginx.conf" 2>/dev/null; then
        kill -QUIT "$p" 2>/dev/null
        case $prefix in /tmp/lua-infisical-nginx.*) sleep 1; rm -rf "$prefix" ;; esac
      fi
    done
  fi
  if [ -n "$PGDATA" ] && [ -f "$PGDATA/postmaster.pid" ]; then
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate -w -t 20 stop >/dev/null 2>&1
  fi
  for pid in $PIDS; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$pid" 2>/dev/null
  done
  rm -rf "$RUNDIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# start NAME DIR COMMAND...: runs COMMAND in DIR, in a process group of its own (setsid
# execs in place: a background job of a script is no group leader), output to its log
start() {
  name=$1; dir=$2; shift 2
  (cd "$dir" && exec setsid "$@") >"$LOGS/$name.log" 2>&1 </dev/null &
  PIDS="$PIDS $!"
  LAST_PID=$!
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# PostgreSQL refuses to run as root: as root, its tools run as the `postgres` user.
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || fail "running as root but there is no 'postgres' user to run PostgreSQL as"
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi

# ---------------------------------------------------------------------------------------
# 1. The backend's source in build/live/backend, its node modules cached beside it.
BK=$W/backend
say "backend source: $SRC"
# A folder is copied afresh every run (a checkout changes; its src/ is a few MB); a tarball
# only when its checksum changed. node_modules stays, keyed by package-lock.json.
if [ -d "$SRC" ]; then
  [ -f "$SRC/package.json" ] && [ -f "$SRC/src/main.ts" ] || fail "$SRC is not Infisical's backend/ folder (no package.json and src/main.ts)"
  stamp="dir"
else
  stamp="tar $(sha256sum "$SRC" | cut -d' ' -f1)"
fi
if [ "$stamp" = dir ] || [ "$(cat "$BK/.src-stamp" 2>/dev/null)" != "$stamp" ]; then
  mkdir -p "$BK"
  find "$BK" -mindepth 1 -maxdepth 1 ! -name node_modules ! -name .npm-stamp -exec rm -rf {} +
  if [ -d "$SRC" ]; then
    (cd "$SRC" && tar --exclude=./node_modules -cf - .) | (cd "$BK" && tar -xf -) || fail "copying $SRC"
  else
    x=$W/extract
    rm -rf "$x" && mkdir -p "$x"
    tar -xzf "$SRC" -C "$x" || fail "extracting $SRC"
    main=$(find "$x" -maxdepth 4 -path '*/src/main.ts' | head -n 1)
    [ -n "$main" ] || fail "$SRC holds no backend folder (no src/main.ts)"
    top=$(dirname "$(dirname "$main")")
    (cd "$top" && tar --exclude=./node_modules -cf - .) | (cd "$BK" && tar -xf -) || fail "copying the backend"
    rm -rf "$x"
  fi
  echo "$stamp" >"$BK/.src-stamp"
fi

npm_stamp="$(sha256sum "$BK/package-lock.json" | cut -d' ' -f1) node $(node --version)"
if [ ! -d "$BK/node_modules" ] || [ "$(cat "$BK/.npm-stamp" 2>/dev/null)" != "$npm_stamp" ]; then
  rm -f "$BK/.npm-stamp"
  say "npm ci (node modules are cached in build/live/backend/node_modules after this)"
  # --include=dev: tsx and knex's TypeScript loader are dev dependencies, and a NODE_ENV of
  # production in the caller's environment would leave them out
  (cd "$BK" && timeout 1800 npm ci --ignore-scripts --include=dev --no-audit --no-fund) >"$LOGS/npm-ci.log" 2>&1 \
    || fail "npm ci in $BK (from the npm registry; a cold cache takes up to 20 minutes)" "$LOGS/npm-ci.log"
  say "building bcrypt and argon2 from source"
  nodedir=/usr
  [ -f /usr/include/node/node.h ] || nodedir=$(dirname "$(dirname "$(command -v node)")")
  (cd "$BK" && timeout 900 npm rebuild bcrypt argon2 --build-from-source --nodedir="$nodedir") >"$LOGS/npm-rebuild.log" 2>&1 \
    || fail "npm rebuild bcrypt argon2" "$LOGS/npm-rebuild.log"
  echo "$npm_stamp" >"$BK/.npm-stamp"
else
  say "node modules cached"
fi

# ---------------------------------------------------------------------------------------
# 2. PostgreSQL and Redis, private, on 127.0.0.1. The data folder is under /tmp: the
#    postgres user may not be able to enter build/ (a checkout in root's home).
PGPORT=$(free_port)
REDISPORT=$(free_port)
PGDATA=$RUNDIR/pg
mkdir -p "$PGDATA"
[ "$(id -u)" = 0 ] && chown postgres "$PGDATA"
chmod 700 "$PGDATA"
say "PostgreSQL on 127.0.0.1:$PGPORT, Redis on 127.0.0.1:$REDISPORT"
as_pg "$PGBIN/initdb" -D "$PGDATA" -A trust -U postgres --no-sync >"$LOGS/initdb.log" 2>&1 \
  || { PGDATA=""; fail "initdb" "$LOGS/initdb.log"; }
as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -w -t 60 -l "$PGDATA/server.log" \
  -o "-p $PGPORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PGDATA -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
  start >"$LOGS/pg_ctl.log" 2>&1 || { cp "$PGDATA/server.log" "$LOGS/postgres.log" 2>/dev/null; fail "starting PostgreSQL" "$LOGS/postgres.log"; }
as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -q -c "create database infisical" >"$LOGS/psql.log" 2>&1 \
  || fail "create database" "$LOGS/psql.log"

start redis "$RUNDIR" redis-server --port "$REDISPORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$RUNDIR"
for _ in $(seq 1 50); do
  redis-cli -p "$REDISPORT" ping >/dev/null 2>&1 && break
  sleep 0.1
done
redis-cli -p "$REDISPORT" ping >/dev/null 2>&1 || fail "starting redis-server" "$LOGS/redis.log"

# ---------------------------------------------------------------------------------------
# 3. Migrations, then the backend in production mode (reads limited to 60 a minute).
export DB_CONNECTION_URI="postgres://postgres@127.0.0.1:$PGPORT/infisical"
export REDIS_URL="redis://127.0.0.1:$REDISPORT"
export ENCRYPTION_KEY=$(openssl rand -hex 16)
export AUTH_SECRET=$(openssl rand -base64 32)
BKPORT=$(free_port)
CLOSED=$(free_port)   # nothing listens here: licence server and telemetry go nowhere
export PORT=$BKPORT HOST=127.0.0.1 SITE_URL="http://127.0.0.1:$BKPORT" TELEMETRY_ENABLED=false
export LICENSE_SERVER_URL="http://127.0.0.1:$CLOSED" POSTHOG_HOST="http://127.0.0.1:$CLOSED"
export NODE_ENV=production
say "migrations"
(cd "$BK" && timeout 600 node --import tsx "$ROOT/spec/live/migrate.mjs") >"$LOGS/migrations.log" 2>&1 \
  || fail "migrations" "$LOGS/migrations.log"

say "starting the backend on 127.0.0.1:$BKPORT"
start backend "$BK" node --import tsx ./src/main.ts
BACKEND_PID=$LAST_PID
BASE=http://127.0.0.1:$BKPORT
ready=""
for _ in $(seq 1 360); do
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/api/status")" = 200 ]; then ready=1; break; fi
  kill -0 "$BACKEND_PID" 2>/dev/null || fail "the backend exited while starting" "$LOGS/backend.log"
  sleep 0.5
done
[ -n "$ready" ] || fail "the backend did not answer GET /api/status with 200 within 180 s" "$LOGS/backend.log"
say "backend up"

# ---------------------------------------------------------------------------------------
# 4. Seed through the API, then the specs (TAP on stdout).
SEED=$W/seed.json
rm -f "$SEED"
(cd "$BK" && timeout 300 node --import tsx "$ROOT/spec/live/seed.mjs" "$BASE" "$SEED") >"$LOGS/seed.log" 2>&1 \
  || fail "seeding through the API" "$LOGS/seed.log"
say "$(tail -n 1 "$LOGS/seed.log")"

[ -f "$ROOT/build/lua5.4/infisical/core.so" ] || make -s -C "$ROOT" >"$LOGS/make.log" 2>&1 || fail "make" "$LOGS/make.log"

export LIVE_SEED=$SEED LIVE_BASE=$BASE LIVE_REDIS_PORT=$REDISPORT LIVE_CLOSED_PORT=$CLOSED
# the library must not pick these up from the caller's environment
unset INFISICAL_TOKEN INFISICAL_API_URL INFISICAL_UNIVERSAL_AUTH_CLIENT_ID INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET
if [ "${1:-}" = --serve ]; then
  # development: keep everything up; `. build/live/env.sh` in another shell, then run busted
  env | grep -E '^(LIVE_|DB_CONNECTION_URI|REDIS_URL)' | sed 's/^/export /' >"$W/env.sh"
  say "serving: . build/live/env.sh; busted --lua=lua5.4 --pattern=_live spec/live (Ctrl-C or kill $$ ends it)"
  wait "$BACKEND_PID"
  exit 0
fi
RC=0
busted --lua=lua5.4 -o TAP --pattern=_live spec/live || RC=1
say "specs done"

# 5. A stopped server: the backend goes away, the library and the command say so.
kill -TERM -- "-$BACKEND_PID" 2>/dev/null
for _ in $(seq 1 40); do kill -0 "$BACKEND_PID" 2>/dev/null || break; sleep 0.25; done
kill -KILL -- "-$BACKEND_PID" 2>/dev/null
busted --lua=lua5.4 -o TAP --pattern=_stopped spec/live || RC=1
say "finished"
exit $RC
