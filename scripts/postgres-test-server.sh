#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests, apart from any system cluster.
#
#   bash scripts/postgres-test-server.sh start   # install Debian's postgresql if need be,
#                                                # initdb, start, create annotator_test
#   bash scripts/postgres-test-server.sh url     # the SQLAlchemy URL of annotator_test
#   bash scripts/postgres-test-server.sh stop
#
# Data in ${PGTEST_DIR:-/tmp/mer-annotator-pg}/data, log in .../postgres.log; listens on
# 127.0.0.1:${PGTEST_PORT:-55432} only, unix socket in the data dir, trust auth (local and
# 127.0.0.1 only). Run as root (CI), the server runs as the `postgres` system user that the
# Debian package creates, since postgres refuses to run as root. Safe to run twice, also at
# once (a lock serialises callers). `start` prints "started" or "already running".
#
# Exit codes: 0 ok; 3 PostgreSQL is not installed and cannot be installed here (no root or
# sudo, or apt-get failed); 1 anything else.
set -euo pipefail

PGTEST_DIR="${PGTEST_DIR:-/tmp/mer-annotator-pg}"
PGTEST_PORT="${PGTEST_PORT:-55432}"
PGTEST_DB="annotator_test"
PGTEST_TIMEOUT="${PGTEST_TIMEOUT:-60}" # seconds for pg_ctl start/stop and readiness waits
DATA="$PGTEST_DIR/data"
LOG="$PGTEST_DIR/postgres.log"
LOCK="$PGTEST_DIR.lock"
EXIT_UNAVAILABLE=3

die() {
  echo "postgres-test-server: error: $*" >&2
  exit 1
}
say() { echo "postgres-test-server: $*" >&2; }

is_root() { [ "$(id -u)" -eq 0 ]; }

pg_bindir() {
  # The newest Debian PostgreSQL whose bin/ has initdb; empty when none is installed.
  local d
  for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/initdb" ]; then echo "$d"; fi
  done | sort -t/ -k4,4V | tail -n 1
}

install_postgres() {
  local sudo=""
  if ! is_root; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo="sudo -n"
    else
      echo "postgres-test-server: PostgreSQL is not installed (no initdb in" \
        "/usr/lib/postgresql/*/bin) and cannot be installed: not root and no password-less" \
        "sudo. Install it with: sudo apt-get install -y postgresql" >&2
      exit "$EXIT_UNAVAILABLE"
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "postgres-test-server: PostgreSQL is not installed and this is not a Debian/Ubuntu" \
      "system (no apt-get); install PostgreSQL server binaries under /usr/lib/postgresql" >&2
    exit "$EXIT_UNAVAILABLE"
  fi
  say "installing Debian package: postgresql"
  export DEBIAN_FRONTEND=noninteractive
  # apt-get waits for the dpkg lock on its own; bound that wait too.
  if ! $sudo timeout 600 apt-get -o DPkg::Lock::Timeout=120 update -qq >&2 ||
    ! $sudo timeout 600 apt-get -o DPkg::Lock::Timeout=120 install -y -qq \
      --no-install-recommends postgresql >&2; then
    echo "postgres-test-server: PostgreSQL is not installed and 'apt-get install postgresql'" \
      "failed (no network or no package source?)" >&2
    exit "$EXIT_UNAVAILABLE"
  fi
}

# The user the server runs as: `postgres` when we are root, ourselves otherwise.
RUN_AS=""
as_server_user() {
  # Run from / so a cwd the server user cannot enter (/root, a private checkout) does not
  # make initdb or pg_ctl fail; close the lock fd so the server does not inherit (and hold) it.
  if [ -z "$RUN_AS" ]; then
    (cd / && "$@" 9>&-)
  elif command -v runuser >/dev/null 2>&1 || [ -x /usr/sbin/runuser ]; then
    (cd / && "$(command -v runuser || echo /usr/sbin/runuser)" -u "$RUN_AS" -- "$@" 9>&-)
  else
    (cd / && su -s /bin/bash "$RUN_AS" -c "$(printf '%q ' "$@")" 9>&-)
  fi
}

setup_user() {
  if is_root; then
    id -u postgres >/dev/null 2>&1 ||
      die "running as root but there is no 'postgres' system user (Debian's postgresql package creates it)"
    RUN_AS=postgres
  fi
}

take_lock() {
  # Serialise concurrent start/stop calls; give up after a bounded wait.
  mkdir -p "$(dirname "$LOCK")"
  if command -v flock >/dev/null 2>&1; then
    if [ ! -e "$LOCK" ] || [ -w "$LOCK" ]; then exec 9>>"$LOCK"; else exec 9<"$LOCK"; fi
    flock -w "$((PGTEST_TIMEOUT * 2))" 9 || die "another start/stop holds $LOCK for too long"
  fi
}

running() {
  # pg_ctl status: 0 when a server runs with this data dir (stale pid files do not count).
  [ -f "$DATA/PG_VERSION" ] && as_server_user "$BIN/pg_ctl" status -D "$DATA" >/dev/null 2>&1
}

wait_ready() {
  local i
  for ((i = 0; i < PGTEST_TIMEOUT * 4; i++)); do
    "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PGTEST_PORT" -U postgres -d postgres && return 0
    sleep 0.25
  done
  return 1
}

show_log() {
  if [ -f "$LOG" ]; then
    echo "--- last lines of $LOG ---" >&2
    tail -n 30 "$LOG" >&2 || true
  fi
}

init_cluster() {
  mkdir -p "$PGTEST_DIR"
  local major
  major="$(basename "$(dirname "$BIN")")"
  if [ -f "$DATA/PG_VERSION" ] && [ "$(cat "$DATA/PG_VERSION")" != "$major" ]; then
    say "data dir is from another PostgreSQL major version; recreating it"
    rm -rf "$DATA"
  fi
  if [ ! -f "$DATA/PG_VERSION" ]; then
    rm -rf "$DATA" # a half-made dir from an interrupted initdb
  fi
  if [ -n "$RUN_AS" ]; then
    chown "$RUN_AS": "$PGTEST_DIR"
    [ -d "$DATA" ] && chown -R "$RUN_AS": "$DATA"
    [ -f "$LOG" ] && chown "$RUN_AS": "$LOG"
    as_server_user test -w "$PGTEST_DIR" ||
      die "user $RUN_AS cannot write $PGTEST_DIR (is a parent folder private?); set PGTEST_DIR"
  fi
  if [ ! -f "$DATA/PG_VERSION" ]; then
    say "initdb $DATA"
    as_server_user "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --no-locale -E UTF8 \
      --no-sync >"$PGTEST_DIR/initdb.log" 2>&1 || {
      cat "$PGTEST_DIR/initdb.log" >&2
      die "initdb failed"
    }
    echo "include_if_exists = 'test-server.conf'" | as_server_user tee -a "$DATA/postgresql.conf" >/dev/null
  fi
  # Rewritten on every start so PGTEST_PORT changes take effect.
  as_server_user tee "$DATA/pg_hba.conf" >/dev/null <<EOF
# written by scripts/postgres-test-server.sh: trust, but only over the unix socket and 127.0.0.1
local all all trust
host  all all 127.0.0.1/32 trust
EOF
  as_server_user tee "$DATA/test-server.conf" >/dev/null <<EOF
# written by scripts/postgres-test-server.sh
listen_addresses = '127.0.0.1'
port = $PGTEST_PORT
unix_socket_directories = '$DATA'
max_connections = 200
# a throwaway cluster: durability is not needed, speed is
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
}

create_db() {
  local exists
  exists="$("$BIN/psql" -X -h 127.0.0.1 -p "$PGTEST_PORT" -U postgres -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$PGTEST_DB'")"
  if [ "$exists" != "1" ]; then
    "$BIN/psql" -X -q -h 127.0.0.1 -p "$PGTEST_PORT" -U postgres -d postgres \
      -c "CREATE DATABASE $PGTEST_DB" >&2
  fi
}

cmd_start() {
  BIN="$(pg_bindir)"
  if [ -z "$BIN" ]; then
    install_postgres
    BIN="$(pg_bindir)"
    [ -n "$BIN" ] || { echo "postgres-test-server: installed postgresql but found no initdb" \
      "in /usr/lib/postgresql/*/bin" >&2; exit "$EXIT_UNAVAILABLE"; }
  fi
  setup_user
  take_lock
  if running; then
    wait_ready || die "a server runs on $DATA but 127.0.0.1:$PGTEST_PORT does not answer" \
      "(started with another PGTEST_PORT? run: $0 stop)"
    create_db
    echo "already running"
    return 0
  fi
  if "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PGTEST_PORT"; then
    die "port $PGTEST_PORT on 127.0.0.1 is taken by another server; set PGTEST_PORT"
  fi
  init_cluster
  [ -n "$RUN_AS" ] && touch "$LOG" && chown "$RUN_AS": "$LOG"
  say "starting PostgreSQL $(basename "$(dirname "$BIN")") on 127.0.0.1:$PGTEST_PORT"
  if ! as_server_user "$BIN/pg_ctl" start -D "$DATA" -l "$LOG" -w -t "$PGTEST_TIMEOUT" >&2; then
    show_log
    die "pg_ctl start failed"
  fi
  wait_ready || {
    show_log
    die "server started but 127.0.0.1:$PGTEST_PORT does not answer"
  }
  create_db
  echo "started"
}

cmd_stop() {
  BIN="$(pg_bindir)"
  if [ -z "$BIN" ] || [ ! -f "$DATA/PG_VERSION" ]; then
    say "not running (no cluster in $DATA)"
    return 0
  fi
  setup_user
  take_lock
  if ! running; then
    say "not running"
    return 0
  fi
  as_server_user "$BIN/pg_ctl" stop -D "$DATA" -m fast -w -t "$PGTEST_TIMEOUT" >&2 || {
    show_log
    die "pg_ctl stop failed"
  }
}

cmd_url() {
  echo "postgresql+psycopg://postgres@127.0.0.1:$PGTEST_PORT/$PGTEST_DB"
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
url) cmd_url ;;
*)
  echo "usage: $0 start|stop|url" >&2
  exit 2
  ;;
esac
